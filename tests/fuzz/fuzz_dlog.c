/*
 * fuzz_dlog - libFuzzer target for the delivery log reader (dlog_next) and
 * writer: any line reads without overrun and always makes progress; any
 * value written and read back comes back sanitised and whole (or cut).
 */
#include "delivery/dlog.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	char k[DLOG_KEY_MAX], v[DLOG_VALUE_MAX];
	for (int i = 0; i < 10000; i++) {
		const char *before = p;
		int rc = dlog_next(&p, end, k, sizeof k, v, sizeof v);
		if (rc != 1)
			break;
		if (p <= before || p > end || strlen(k) >= sizeof k || strlen(v) >= sizeof v)
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
	const char *q = l.line, *qend = l.line + strlen(l.line);
	int keys = 0;
	while (dlog_next(&q, qend, k, sizeof k, v, sizeof v) == 1)
		keys++;
	if (!l.cut && keys != 4) /* the tag, id, event, k */
		abort();
	return 0;
}
