/*
 * logread - mmap or zlib line reader (see logread.h).
 */
#include "forensics/logread.h"

#include "core/str.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define LOGREAD_BLOCK (4u << 20)

/* zlib on a copy of fd (gzclose closes it): gzip or, transparently, plain. */
static int logread_gz(struct logread *r, int fd, const char *name, char *err, size_t errlen)
{
	int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (d < 0 || (r->gz = gzdopen(d, "rb")) == NULL) {
		if (d >= 0)
			close(d);
		str_format_trunc(err, errlen, "%s: cannot read", name);
		return -1;
	}
	(void)gzbuffer(r->gz, LOGREAD_BLOCK);
	return 0;
}

int logread_open(struct logread *r, const char *path, char *err, size_t errlen)
{
	struct stat st;
	memset(r, 0, sizeof *r);
	r->fd = -1;
	if (strcmp(path, "-") == 0)
		return logread_gz(r, 0, "standard input", err, errlen);
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0 || fstat(r->fd, &st) != 0) {
		str_format_trunc(err, errlen, "%s: %s", path, strerror(errno));
		logread_close(r);
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		str_format_trunc(err, errlen, "%s: is a directory", path);
		logread_close(r);
		return -1;
	}
	r->mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
	unsigned char magic[2] = {0, 0};
	if (S_ISREG(st.st_mode) &&
	    (pread(r->fd, magic, 2, 0) != 2 || magic[0] != 0x1f || magic[1] != 0x8b)) {
		(void)posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		return 0; /* plain file: read() straight into the block */
	}
	if (logread_gz(r, r->fd, path, err, errlen) != 0) {
		logread_close(r);
		return -1;
	}
	return 0;
}

void logread_close(struct logread *r)
{
	if (r->gz)
		(void)gzclose(r->gz);
	if (r->fd >= 0)
		(void)close(r->fd);
	r->gz = NULL;
	r->fd = -1;
}

/* Lines of p[0..len); the tail without a newline is left when keep_tail. Returns the
 * bytes used, or (size_t)-1 when fn stopped. */
static size_t logread_lines(const char *p, size_t len, bool keep_tail, logread_line_fn fn,
                            logread_long_fn too_long, void *ctx, bool *cut)
{
	size_t i = 0;
	*cut = false;
#ifdef __SSE2__
	/* The newlines of 64 bytes at a time as a bit mask, each line then a bit:
	 * no library call and no mispredicted loop exit per line. What is left
	 * (under 64 bytes) takes memchr below, from i, where no newline was
	 * skipped. */
	const __m128i nlv = _mm_set1_epi8('\n');
	for (size_t j = 0; len - j >= 64; j += 64) {
		const __m128i *v = (const __m128i *)(const void *)(p + j);
		uint64_t m =
		    (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(v), nlv)) |
		    (uint64_t)(uint16_t)_mm_movemask_epi8(
		        _mm_cmpeq_epi8(_mm_loadu_si128(v + 1), nlv))
		        << 16 |
		    (uint64_t)(uint16_t)_mm_movemask_epi8(
		        _mm_cmpeq_epi8(_mm_loadu_si128(v + 2), nlv))
		        << 32 |
		    (uint64_t)(uint16_t)_mm_movemask_epi8(
		        _mm_cmpeq_epi8(_mm_loadu_si128(v + 3), nlv))
		        << 48;
		for (; m; m &= m - 1) {
			size_t nl = j + (size_t)__builtin_ctzll(m), n = nl - i;
			if (n > LOGREAD_LINE_MAX) {
				if (too_long)
					too_long(ctx);
			} else if (fn(ctx, p + i, n) != 0) {
				return (size_t)-1;
			}
			i = nl + 1;
		}
	}
#endif
	while (i < len) {
		const char *nl = memchr(p + i, '\n', len - i);
		if (!nl) {
			if (keep_tail && len - i <= LOGREAD_LINE_MAX)
				return i;
			*cut = keep_tail; /* the rest of this line is still to come */
			nl = p + len;
		}
		size_t n = (size_t)(nl - (p + i));
		if (n > LOGREAD_LINE_MAX) {
			if (too_long)
				too_long(ctx);
		} else if (fn(ctx, p + i, n) != 0) {
			return (size_t)-1;
		}
		i += n + 1;
	}
	return len;
}

int logread_each(struct logread *r, logread_line_fn fn, logread_long_fn too_long, void *ctx,
                 char *err, size_t errlen)
{
	if (!r->gz && r->fd < 0)
		return 0;
	size_t cap = LOGREAD_BLOCK + LOGREAD_LINE_MAX + 1, have = 0;
	char *buf = malloc(cap);
	bool skipping = false; /* inside a line that was too long */
	if (!buf) {
		str_copy_trunc(err, errlen, "out of memory");
		return -1;
	}
	for (;;) {
		long got;
		if (r->gz) {
			got = gzread(r->gz, buf + have, (unsigned)(cap - have));
			if (got < 0) {
				int zerr;
				const char *m = gzerror(r->gz, &zerr);
				str_format_trunc(err, errlen, "read error: %s", m ? m : "?");
				free(buf);
				return -1;
			}
		} else {
			do
				got = read(r->fd, buf + have, cap - have);
			while (got < 0 && errno == EINTR);
			if (got < 0) {
				str_format_trunc(err, errlen, "read error: %s", strerror(errno));
				free(buf);
				return -1;
			}
		}
		r->bytes += (uint64_t)got;
		size_t len = have + (size_t)got;
		bool eof = got == 0;
		size_t start = 0;
		if (skipping) {
			const char *nl = memchr(buf, '\n', len);
			if (!nl) {
				have = 0;
				if (eof)
					break;
				continue;
			}
			start = (size_t)(nl - buf) + 1;
			skipping = false;
		}
		bool cut;
		size_t used =
		    logread_lines(buf + start, len - start, !eof, fn, too_long, ctx, &cut);
		if (used == (size_t)-1) {
			free(buf);
			return -2;
		}
		skipping = cut;
		used += start;
		have = len - used;
		if (eof)
			break;
		if (have > 0)
			memmove(buf, buf + used, have);
	}
	free(buf);
	return 0;
}
