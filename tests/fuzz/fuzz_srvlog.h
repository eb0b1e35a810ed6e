/*
 * fuzz_srvlog.h - shared by the fuzz targets of the Windows servers' log
 * readers (fuzz_log_exchange, fuzz_log_mailenable, fuzz_log_kerio): the input
 * split at newlines and fed line by line through srvlog (the file's format,
 * header and sessions carried from line to line), each line in a buffer of
 * its exact size; every span of every record stays inside the line or the
 * reader's own buffer.
 */
#ifndef RG_FUZZ_SRVLOG_H
#define RG_FUZZ_SRVLOG_H

#include "forensics/srvlog.h"

#include <stdlib.h>
#include <string.h>

static void fuzz_srvlog_check(const char *p, size_t n, const struct srvlog *v,
                              const struct srvlog_rec *r)
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

static void fuzz_srvlog_lines(const char *p, size_t size)
{
	static struct srvlog v;
	static bool ready;
	struct srvlog_rec r;
	if (!ready && srvlog_init(&v) != 0)
		return;
	ready = true;
	struct srvlog_file f;
	srvlog_file_init(&f);
	size_t b = 0;
	for (size_t i = 0; i <= size; i++) {
		if (i < size && p[i] != '\n')
			continue;
		size_t n = i - b;
		char *line = malloc(n ? n : 1);
		if (!line)
			return;
		memcpy(line, p + b, n);
		if (srvlog_line(&v, &f, line, n, &r) == 0)
			fuzz_srvlog_check(line, n, &v, &r);
		free(line);
		b = i + 1;
	}
}

#endif
