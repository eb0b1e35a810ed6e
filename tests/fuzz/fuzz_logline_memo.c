/*
 * fuzz_logline_memo - libFuzzer target for logline_parse_memo: the input is a
 * run of log lines, read one after the other with one memo, as logscan reads
 * them. Each line must parse exactly as logline_parse parses it alone (same
 * result, same fields, the same spans at the same offsets), and nothing may be
 * read past a line (each is copied to a buffer of its exact size for ASan).
 */
#include "forensics/logline.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_same_span(const char *p, struct logspan a, struct logspan b)
{
	if (a.len != b.len || (a.len && a.p - p != b.p - p))
		abort();
}

static void fuzz_same(const char *p, const struct logline *a, const struct logline *b)
{
	if (a->time_kind != b->time_kind || a->bare != b->bare || a->pid != b->pid)
		abort();
	if (a->time_kind == LOGLINE_TIME_FULL && a->epoch_ms != b->epoch_ms)
		abort();
	if (a->time_kind == LOGLINE_TIME_SYSLOG &&
	    (a->mon != b->mon || a->day != b->day || a->tod_ms != b->tod_ms))
		abort();
	fuzz_same_span(p, a->host, b->host);
	fuzz_same_span(p, a->tag, b->tag);
	fuzz_same_span(p, a->msg, b->msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct logline_memo memo;
	logline_memo_init(&memo);
	size_t i = 0;
	while (i <= size) {
		const uint8_t *nl = memchr(data + i, '\n', size - i);
		size_t n = nl ? (size_t)(nl - (data + i)) : size - i;
		char *p = malloc(n ? n : 1);
		if (!p)
			return 0;
		if (n)
			memcpy(p, data + i, n);
		struct logline a, b;
		int ra = logline_parse(p, n, &a);
		int rb = logline_parse_memo(p, n, &b, &memo);
		if (ra != rb)
			abort();
		if (ra == 0)
			fuzz_same(p, &a, &b);
		free(p);
		i += n + 1;
	}
	return 0;
}
