/*
 * dname - DNS name check; see dname.h.
 */
#include "core/dname.h"

#include <stdbool.h>

static enum dname_err dname_fail(enum dname_err e, char *out, size_t size)
{
	if (out && size)
		out[0] = '\0';
	return e;
}

/* What an ASCII byte is in a name: itself lower-cased for a letter or a
 * digit, '-', '.', '_' and '*' as themselves, 0 for anything else. */
static const char dname_map[128] = "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
                                   "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
                                   "\0\0\0\0\0\0\0\0\0\0*\0\0-.\0"
                                   "0123456789\0\0\0\0\0\0"
                                   "\0abcdefghijklmno"
                                   "pqrstuvwxyz\0\0\0\0_"
                                   "\0abcdefghijklmno"
                                   "pqrstuvwxyz\0\0\0\0";

enum dname_err dname_check(const char *in, size_t len, unsigned flags, char *out, size_t size)
{
	if ((flags & DNAME_ROOT_DOT) && len > 1 && in[len - 1] == '.' && in[len - 2] != '.')
		len--;
	if (len == 0 || (len == 1 && in[0] == '.' && (flags & DNAME_ROOT_DOT)))
		return dname_fail(DNAME_E_EMPTY, out, size);
	if (len > DNAME_MAX || (out && len >= size))
		return dname_fail(DNAME_E_LONG, out, size);
	size_t label = 0, labels = 1;
	bool letter = false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		unsigned char m = c < 0x80               ? (unsigned char)dname_map[c]
		                  : (flags & DNAME_UTF8) ? c
		                                         : 0;
		/* the common byte first: a letter, a digit (or a UTF-8 byte allowed) */
		if (m >= 'a' || (m >= '0' && m <= '9')) {
			letter |= m >= 'a';
			if (++label > 63)
				return dname_fail(DNAME_E_LABEL_LONG, out, size);
		} else if (m == '.') {
			if (label == 0)
				return dname_fail(DNAME_E_LABEL, out, size);
			if (in[i - 1] == '-' && !(flags & DNAME_EDGE_HYPHEN))
				return dname_fail(DNAME_E_HYPHEN, out, size);
			label = 0;
			labels++;
		} else if (m == '-' || (m == '_' && (flags & DNAME_UNDERSCORE)) ||
		           (m == '*' && i == 0 && (flags & DNAME_WILDCARD) && len > 2 &&
		            in[1] == '.')) {
			if (m == '-' && label == 0 && !(flags & DNAME_EDGE_HYPHEN))
				return dname_fail(DNAME_E_HYPHEN, out, size);
			if (++label > 63)
				return dname_fail(DNAME_E_LABEL_LONG, out, size);
		} else {
			return dname_fail(DNAME_E_CHAR, out, size);
		}
		if (out)
			out[i] = (char)m;
	}
	if (label == 0)
		return dname_fail(DNAME_E_LABEL, out, size);
	if (in[len - 1] == '-' && !(flags & DNAME_EDGE_HYPHEN))
		return dname_fail(DNAME_E_HYPHEN, out, size);
	if ((flags & DNAME_NEED_DOT) && labels < 2)
		return dname_fail(DNAME_E_DOT, out, size);
	if ((flags & DNAME_NEED_LETTER) && !letter)
		return dname_fail(DNAME_E_LETTER, out, size);
	if (out)
		out[len] = '\0';
	return DNAME_OK;
}

/* A byte of a name in canonical form: 1 for a-z, 0-9, '-' and '_', 2 for '.',
 * 0 for anything else (upper case, controls, bytes >= 0x80 among it). */
static const char dname_lower_class[256] = "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
                                           "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
                                           "\0\0\0\0\0\0\0\0\0\0\0\0\0\1\2\0"
                                           "\1\1\1\1\1\1\1\1\1\1\0\0\0\0\0\0"
                                           "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
                                           "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1"
                                           "\0\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1"
                                           "\1\1\1\1\1\1\1\1\1\1\1\0\0\0\0\0";

size_t dname_canonical_len(const char *s, size_t max)
{
	size_t i = 0, start = 0; /* start: the current label's first byte */
	for (;;) {
		while (i < max && dname_lower_class[(unsigned char)s[i]] == 1)
			i++;
		if (i == max || s[i] == '\0')
			break;
		if (dname_lower_class[(unsigned char)s[i]] != 2 || i == start || i - start > 63)
			return 0;
		start = ++i;
	}
	return i > start && i - start <= 63 && i <= DNAME_MAX ? i : 0;
}

const char *dname_strerror(enum dname_err e)
{
	switch (e) {
	case DNAME_OK:
		return "a good name";
	case DNAME_E_EMPTY:
		return "an empty name";
	case DNAME_E_LABEL:
		return "an empty label";
	case DNAME_E_LABEL_LONG:
		return "a label longer than 63";
	case DNAME_E_LONG:
		return "a name longer than 253";
	case DNAME_E_HYPHEN:
		return "a label starting or ending with '-'";
	case DNAME_E_CHAR:
		return "a character other than a letter, a digit, '-' or '.'";
	case DNAME_E_DOT:
		return "a single label";
	case DNAME_E_LETTER:
		return "no letter";
	}
	return "?";
}
