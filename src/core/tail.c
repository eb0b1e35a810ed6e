/*
 * tail - follows a growing log file line by line; see tail.h.
 */
#include "core/tail.h"

#include "core/str.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TAIL_CHUNK 32768

int tail_open(struct tail *t, const char *path, size_t max_line, char *err, size_t errlen)
{
	memset(t, 0, sizeof *t);
	t->fd = -1;
	t->max = max_line ? max_line : TAIL_LINE_MAX_DEFAULT;
	if (str_copy(t->path, sizeof t->path, path) != 0) {
		str_format_trunc(err, errlen, "%s: path too long", path);
		return -1;
	}
	t->line = malloc(t->max);
	if (!t->line) {
		str_format_trunc(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

void tail_close(struct tail *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	free(t->line);
	t->line = NULL;
}

/* Opens the file the name points at now. 1 opened, 0 not there, -1 error. */
static int tail_reopen(struct tail *t, char *err, size_t errlen)
{
	int fd = open(t->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		str_format_trunc(err, errlen, "%s: %s", t->path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		str_format_trunc(err, errlen, "%s: %s", t->path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		str_format_trunc(err, errlen, "%s: not a regular file", t->path);
		close(fd);
		return -1;
	}
	t->fd = fd;
	t->dev = st.st_dev;
	t->ino = st.st_ino;
	t->off = 0;
	t->len = 0;
	t->skipping = false;
	if (!t->started && st.st_size > 0) {
		/* the first open: from the end, and not from the middle of a line */
		char last = '\n';
		t->off = st.st_size;
		if (pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n')
			t->skipping = true;
	}
	t->started = true;
	t->st.opens++;
	return 1;
}

static void tail_feed(struct tail *t, const char *p, size_t n, tail_line_fn fn, void *ctx)
{
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t k = nl ? (size_t)(nl - p) : n;
		if (t->skipping) {
			t->skipping = !nl;
		} else if (t->len + k > t->max) {
			t->st.too_long++;
			t->len = 0;
			t->skipping = !nl;
		} else if (nl && t->len == 0) {
			t->st.lines++;
			fn(ctx, p, k);
		} else {
			memcpy(t->line + t->len, p, k);
			t->len += k;
			if (nl) {
				t->st.lines++;
				fn(ctx, t->line, t->len);
				t->len = 0;
			}
		}
		k += nl ? 1 : 0;
		p += k;
		n -= k;
	}
}

long tail_poll(struct tail *t, size_t budget, tail_line_fn fn, void *ctx, char *err, size_t errlen)
{
	char chunk[TAIL_CHUNK];
	size_t total = 0;
	bool rotated = false; /* the name points at another file: drain this one first */
	if (budget == 0)
		budget = 1;
	/* bounded: a rotation costs one more round, two rotations wait for the next poll */
	for (int round = 0; round < 4; round++) {
		if (t->fd < 0) {
			int r = tail_reopen(t, err, errlen);
			if (r == 0)
				t->started = true; /* appears later: all of it is new */
			if (r <= 0)
				return r < 0 ? -1 : (long)total;
		}
		struct stat st;
		if (fstat(t->fd, &st) != 0) {
			str_format_trunc(err, errlen, "%s: %s", t->path, strerror(errno));
			close(t->fd);
			t->fd = -1;
			return -1;
		}
		if (st.st_size < t->off) { /* truncated (copytruncate): read it again */
			t->st.truncations++;
			t->off = 0;
			t->len = 0;
			t->skipping = false;
		}
		size_t got = 0;
		while (total < budget) {
			size_t want = budget - total < sizeof chunk ? budget - total : sizeof chunk;
			ssize_t r = pread(t->fd, chunk, want, t->off);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				str_format_trunc(err, errlen, "%s: %s", t->path, strerror(errno));
				close(t->fd);
				t->fd = -1;
				return -1;
			}
			if (r == 0)
				break;
			t->off += r;
			total += (size_t)r;
			got += (size_t)r;
			t->st.bytes += (uint64_t)r;
			tail_feed(t, chunk, (size_t)r, fn, ctx);
		}
		if (total >= budget)
			return (long)total;
		if (rotated && got == 0) {
			/* the old file is read to its end: its last line is finished */
			if (t->len > 0)
				fn(ctx, t->line, t->len);
			t->st.lines += t->len > 0;
			t->len = 0;
			close(t->fd);
			t->fd = -1;
			t->st.rotations++;
			rotated = false;
			continue;
		}
		struct stat ps;
		if (stat(t->path, &ps) != 0 || (ps.st_dev == t->dev && ps.st_ino == t->ino))
			return (
			    long)total; /* the same file, or renamed and not created again yet */
		rotated = true;
	}
	return (long)total;
}
