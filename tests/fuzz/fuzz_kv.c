/*
 * fuzz_kv - libFuzzer target for the one key=value codec (core/kv): any
 * line reads without overrun and always makes progress; any value written
 * and read back comes back whole (or cut, and said so); the delivery log's
 * writer (dlog) on top of it keeps every line readable to its end.
 */
#include "core/kv.h"
#include "delivery/dlog.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct kv_pair pr;
	char v[DLOG_VALUE_MAX];
	for (int i = 0; i < 10000; i++) {
		const char *before = p;
		enum kv_tok t = kv_next(&p, end, &pr);
		if (t == KV_END || t == KV_BAD) {
			if (p != before)
				abort();
			break;
		}
		if (p <= before || p > end || pr.val < before || pr.val + pr.vlen > end)
			abort();
		if (t == KV_PAIR && (pr.klen == 0 || pr.key < before || pr.key + pr.klen > p))
			abort();
		/* 0 or -1 (did not fit): either way v is a string within its size */
		int fit = kv_unquote(&pr, v, sizeof v);
		if ((fit != 0 && fit != -1) || strlen(v) >= sizeof v)
			abort();
	}
	/* round trip: the input as one value */
	char val[600];
	size_t n = size < sizeof val - 1 ? size : sizeof val - 1;
	memcpy(val, data, n);
	val[n] = '\0';
	struct dlog l;
	dlog_begin(&l, "ID", "x");
	dlog_str(&l, "k", val);
	dlog_str(&l, "k2", val);
	dlog_str(&l, "k3", val);
	const char *q = l.line, *qend = l.line + strlen(l.line);
	int words = 0, pairs = 0;
	enum kv_tok t;
	while ((t = kv_next(&q, qend, &pr)) == KV_PAIR || t == KV_WORD) {
		if (t == KV_WORD)
			words++;
		else
			pairs++;
	}
	if (t != KV_END || words != 1)
		abort();
	if (!l.kv.cut && pairs != 5) /* id, event, k, k2, k3 */
		abort();
	return 0;
}
