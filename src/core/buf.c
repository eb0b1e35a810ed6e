/*
 * buf - bounded growable buffer; see buf.h.
 */
#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
	b->skip = 0;
}

void buf_free(struct buf *b)
{
	free(b->data ? b->data - b->skip : NULL);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->skip = 0;
}

/* Back to the start of the allocation, keeping nothing. */
static void buf_rewind(struct buf *b)
{
	if (b->data) {
		b->data -= b->skip;
		b->cap += b->skip;
	}
	b->skip = 0;
}

void buf_reset(struct buf *b)
{
	buf_rewind(b);
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void buf_compact(struct buf *b)
{
	if (b->skip == 0 || !b->data)
		return;
	char *base = b->data - b->skip;
	memmove(base, b->data, b->len + 1);
	b->data = base;
	b->cap += b->skip;
	b->skip = 0;
}

/* Makes room for need more bytes plus the NUL. */
static int buf_reserve(struct buf *b, size_t need)
{
	if (need > b->max || b->len > b->max - need)
		return -1;
	size_t want = b->len + need + 1;
	if (want <= b->cap)
		return 0;
	buf_compact(b);
	if (want <= b->cap)
		return 0;
	size_t ncap = b->cap ? b->cap : 64;
	while (ncap < want)
		ncap *= 2;
	if (ncap > b->max + 1)
		ncap = b->max + 1;
	char *p = realloc(b->data, ncap);
	if (!p)
		return -1;
	b->data = p;
	b->cap = ncap;
	return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) != 0)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_append_char(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return -1;
	if (buf_reserve(b, (size_t)n) != 0)
		return -1;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	/* No memmove per line: pipelined short commands would copy the rest of a
	 * 64 KiB buffer for every one of them (quadratic). The NUL after the
	 * data stays where it was. */
	b->data += n;
	b->skip += n;
	b->cap -= n;
	b->len -= n;
}

const char *buf_cstr(const struct buf *b)
{
	return b->data ? b->data : "";
}
