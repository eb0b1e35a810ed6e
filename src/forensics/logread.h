/*
 * logread - hands the lines of a log file to a callback, as fast as the
 * disk allows: the file (plain or gzip; "-" for standard input) is read in
 * 4 MiB blocks (a plain file with read(), gzip and stdin through zlib) and split
 * at the newlines found 64 bytes at a time (memchr for a block's last bytes);
 * lines are handed out in place, with no copy and no allocation per line, and
 * memory stays at one block whatever the size of the file.
 * (mmap was tried: as fast, but the whole file then shows as resident.)
 *
 * Lines are given without their newline. A line longer than LOGREAD_LINE_MAX
 * is not given: the too_long callback counts it and reading goes on.
 */
#ifndef RG_FORENSICS_LOGREAD_H
#define RG_FORENSICS_LOGREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOGREAD_LINE_MAX (64 * 1024)

/* 0 to go on, -1 to stop (logread_each then returns -2). */
typedef int (*logread_line_fn)(void *ctx, const char *p, size_t len);
typedef void (*logread_long_fn)(void *ctx);

struct logread {
	int fd;
	void *gz;         /* gzFile */
	int64_t mtime_ms; /* 0 for standard input */
	uint64_t bytes;   /* bytes of (uncompressed) input read so far */
};

/* Opens path ("-" = standard input). 0, or -1 with err set. */
int logread_open(struct logread *r, const char *path, char *err, size_t errlen);
/* Every line to fn. 0 at the end, -1 on a read error (err set), -2 when fn stopped. */
int logread_each(struct logread *r, logread_line_fn fn, logread_long_fn too_long, void *ctx,
                 char *err, size_t errlen);
void logread_close(struct logread *r);

#endif
