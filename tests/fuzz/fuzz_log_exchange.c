/*
 * fuzz_log_exchange - libFuzzer target for the exchange log reader: the input as one
 * line for the stateless parser, then split at newlines and fed line by line
 * through srvlog (the file's format, its header and its sessions carried from
 * line to line); every span of every record stays inside the input or the
 * reader's own buffer.
 */
#include "forensics/exlog.h"
#include "forensics/srvlog.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(const char *p, size_t n, const struct srvlog *v, const struct srvlog_rec *r)
{
	const struct logspan spans[] = {r->id, r->user, r->sender, r->rcpt};
	for (size_t i = 0; i < sizeof spans / sizeof spans[0]; i++) {
		const struct logspan s = spans[i];
		bool in_line = s.p >= p && s.p + s.len <= p + n;
		bool in_buf = v && s.p >= v->buf && s.p + s.len <= v->buf + sizeof v->buf;
		if (!in_line && !in_buf)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *p = malloc(size ? size : 1);
	if (!p)
		return 0;
	if (size)
		memcpy(p, data, size);
	struct srvlog_rec r;
	struct logspan cols[EXLOG_COLS_MAX];
	size_t nc = exlog_split(p, size, cols, EXLOG_COLS_MAX);
	for (size_t i = 0; i < nc; i++)
		if (cols[i].p < p || cols[i].p + cols[i].len > p + size)
			abort();
	int col[EXF_COUNT];
	exlog_fields((struct logspan){p, size}, col);
	(void)exlog_time((struct logspan){p, size});
	static struct srvlog v;
	static bool ready;
	if (!ready && srvlog_init(&v) != 0) {
		free(p);
		return 0;
	}
	ready = true;
	srvlog_begin(&v);
	size_t b = 0;
	for (size_t i = 0; i <= size; i++) {
		if (i < size && p[i] != '\n')
			continue;
		size_t n = i - b;
		char *line = malloc(n ? n : 1); /* exact size: a read past it is caught */
		if (!line)
			break;
		memcpy(line, p + b, n);
		if (srvlog_line(&v, line, n, &r) == 0)
			fuzz_check(line, n, &v, &r);
		free(line);
		b = i + 1;
	}
	free(p);
	return 0;
}
