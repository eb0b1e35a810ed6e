/*
 * buf - one bounded, growable byte buffer.
 *
 * Every buffer has a maximum fixed at init; an append that would pass it
 * fails (and the caller turns that into a 5xx reply or an input error) rather
 * than growing without bound. The data is always NUL-terminated so it can be
 * handed to C string functions, but may contain NULs: use len.
 */
#ifndef RG_CORE_BUF_H
#define RG_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "core/attr.h"

struct buf {
	char *data; /* NUL-terminated; NULL until the first append */
	size_t len;
	size_t cap;  /* bytes allocated from data on */
	size_t max;  /* most bytes it may ever hold, excluding the NUL */
	size_t skip; /* consumed bytes before data: the allocation starts at data - skip */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
/* 0 on success, -1 when the result would pass max or memory ran out (b unchanged). */
int buf_append(struct buf *b, const void *p, size_t n) RG_WUR;
int buf_append_str(struct buf *b, const char *s) RG_WUR;
int buf_append_char(struct buf *b, char c) RG_WUR;
int buf_printf(struct buf *b, const char *fmt, ...) RG_WUR __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) RG_WUR __attribute__((format(printf, 2, 0)));
/* Removes the first n bytes. O(1): data moves forward over them, and the
 * bytes left are moved back to the start only when an append needs the room
 * or buf_compact() asks (once per read, not once per line). */
void buf_consume(struct buf *b, size_t n);
/* Moves what is left to the start of the allocation. */
void buf_compact(struct buf *b);
/* Always a valid string, "" for an empty buffer. */
const char *buf_cstr(const struct buf *b);

#endif
