/*
 * form - application/x-www-form-urlencoded bodies (the admin page's POSTs,
 * WHATWG URL standard "application/x-www-form-urlencoded parsing"): '&'
 * separated name=value pairs, '+' for space, %XX escapes. Untrusted input:
 * bounded, never trusted to be well formed (tests/fuzz/fuzz_form.c).
 */
#ifndef RG_ADMIN_FORM_H
#define RG_ADMIN_FORM_H

#include <stddef.h>

/* Finds the first pair named key in body (len bytes, no NUL needed) and writes its
 * decoded value, NUL-terminated, to out. 1 found, 0 absent, -1 when the value is
 * longer than outsize - 1, holds a NUL or control character other than tab, CR and LF,
 * or a bad %-escape. */
int form_get(const char *body, size_t len, const char *key, char *out, size_t outsize);
/* Percent-encodes s for a URL query value into out. 0, or -1 when it does not fit. */
int form_encode(const char *s, char *out, size_t outsize);

#endif
