/*
 * canon - see canon.h.
 */
#include "policy/canon.h"

#include "core/dname.h"
#include "core/mailaddr.h"
#include "core/str.h"

#include <idn2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char canon_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* The fast path for a name already in its canonical form (nearly every name
 * the engine sees: what arrives is mostly lower case ASCII): one pass with a
 * byte table, no lower-casing copy, no second check. Whatever it does not
 * accept takes the full path below, which gives the same answer for what it
 * does accept. */

/* 1 for a byte of a canonical local part: not a control, DEL or A-Z
 * (0x80-0xff are a local part's UTF-8). */
static const char canon_local[256] = "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
                                     "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
                                     "\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1"
                                     "\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1"
                                     "\1\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
                                     "\0\0\0\0\0\0\0\0\0\0\0\1\1\1\1\1"
                                     "\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1"
                                     "\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\0"
                                     "\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1"
                                     "\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1"
                                     "\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1"
                                     "\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1"
                                     "\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1"
                                     "\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1"
                                     "\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1"
                                     "\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1";

/* The length of in when it is a user name in canonical form already (the
 * local part's bytes up to the first '@', then a canonical domain after it:
 * core/dname's fast check), else 0. A second '@' is no domain byte, so such a
 * name takes the full path, which splits at the last one. */
static size_t canon_user_is_canon(const char *in)
{
	size_t i = 0;
	while (canon_local[(unsigned char)in[i]] && in[i] != '@')
		i++;
	if (i == 0 || i > STR_USER_MAX)
		return 0;
	if (in[i] == '\0')
		return i; /* a name without a domain */
	if (in[i] != '@')
		return 0; /* a control or upper case byte */
	size_t d = dname_canonical_len(in + i + 1, CANON_DOMAIN_MAX + 1);
	if (d == 0 || in[i + 1 + d] != '\0' || i + 1 + d > STR_USER_MAX)
		return 0;
	return i + 1 + d;
}

/* One pass over an ASCII name (core/dname, the one name check): lower-cased
 * into out (len + 1 bytes), labels of letters, digits, '-' and '_', none
 * empty, none over 63 octets. 0, -1 when it is no domain, 1 when it holds a
 * non-ASCII byte (out then unfinished: the IDN path decides). */
static int canon_ascii(const char *in, size_t len, char *out)
{
	enum dname_err e = dname_check(in, len, DNAME_UNDERSCORE | DNAME_EDGE_HYPHEN, out, len + 1);
	if (e == DNAME_OK)
		return 0;
	if (e == DNAME_E_CHAR)
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)in[i] >= 0x80)
				return 1;
	return -1;
}

/* U-labels: the UTS #46 mapping (case folding among it), then the A-labels. */
static int canon_idn(const char *in, size_t len, char *out, size_t size)
{
	char tmp[4 * CANON_DOMAIN_MAX + 1];
	if (len >= sizeof tmp)
		return -1;
	memcpy(tmp, in, len);
	tmp[len] = '\0';
	uint8_t *a = NULL;
	if (idn2_lookup_u8((const uint8_t *)tmp, &a, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) !=
	        IDN2_OK ||
	    !a)
		return -1;
	size_t an = strlen((const char *)a);
	int rc = -1;
	if (an > 0 && an <= CANON_DOMAIN_MAX && an < size)
		rc = canon_ascii((const char *)a, an, out) == 0 ? 0 : -1;
	idn2_free(a);
	return rc;
}

int canon_domain(const char *in, size_t len, char *out, size_t size)
{
	if (size)
		out[0] = '\0';
	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || size == 0)
		return -1;
	if (len < size && dname_canonical_len(in, len) == len) {
		memcpy(out, in, len);
		out[len] = '\0';
		return 0;
	}
	int rc;
	if (in[0] == '[') { /* an address literal: kept, letters folded */
		if (len < 3 || in[len - 1] != ']' || len >= size)
			return -1;
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)in[i];
			if (c <= ' ' || c >= 0x7f ||
			    ((c == '[' || c == ']') && i != 0 && i != len - 1))
				return -1;
		}
		for (size_t i = 0; i < len; i++)
			out[i] = canon_lower(in[i]);
		out[len] = '\0';
		return 0;
	}
	if (len <= CANON_DOMAIN_MAX && len < size) {
		rc = canon_ascii(in, len, out);
	} else {
		/* too long for a name: unless A-labels come out shorter */
		rc = -1;
		for (size_t i = 0; i < len && rc < 0; i++)
			if ((unsigned char)in[i] >= 0x80)
				rc = 1;
	}
	if (rc == 1)
		rc = memchr(in, '\0', len) ? -1 : canon_idn(in, len, out, size);
	if (rc != 0)
		out[0] = '\0';
	return rc;
}

int canon_user(const char *in, char *out, size_t size)
{
	size_t n = canon_user_is_canon(in);
	if (n && n < size) { /* already canonical: copied as it is */
		memcpy(out, in, n + 1);
		return 0;
	}
	n = strlen(in);
	if (size)
		out[0] = '\0';
	if (n == 0 || n > STR_USER_MAX)
		return -1;
	const char *at = mailaddr_at(in);
	size_t local = at ? (size_t)(at - in) : n;
	if (local == 0 || local >= size)
		return -1;
	for (size_t i = 0; i < local; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c < ' ' || c == 0x7f) {
			out[0] = '\0';
			return -1;
		}
		out[i] = canon_lower((char)c);
	}
	out[local] = '\0';
	if (!at)
		return 0;
	if (local + 1 >= size) {
		out[0] = '\0';
		return -1;
	}
	out[local] = '@';
	if (canon_domain(at + 1, n - local - 1, out + local + 1, size - local - 1) != 0 ||
	    strlen(out) > STR_USER_MAX) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

int canon_identity(const char *in, char *out, size_t size)
{
	static const char user[] = "user:", domain[] = "domain:";
	const char *pre = NULL;
	if (strncmp(in, user, sizeof user - 1) == 0)
		pre = user;
	else if (strncmp(in, domain, sizeof domain - 1) == 0)
		pre = domain;
	if (!pre) {
		if (str_copy(out, size, in) == 0)
			return 0;
		if (size)
			out[0] = '\0';
		return -1;
	}
	size_t pn = strlen(pre);
	if (size <= pn) {
		if (size)
			out[0] = '\0';
		return -1;
	}
	memcpy(out, pre, pn);
	const char *v = in + pn;
	int rc = pre == user ? canon_user(v, out + pn, size - pn)
	                     : canon_domain(v, strlen(v), out + pn, size - pn);
	if (rc != 0)
		out[0] = '\0';
	return rc;
}

static void canon_fold(const char *in, char *out, size_t size)
{
	str_copy_trunc(out, size, in);
	str_lower(out);
}

int canon_domain_key(const char *in, char *out, size_t size)
{
	if (canon_domain(in, strlen(in), out, size) == 0)
		return 0;
	canon_fold(in, out, size);
	return -1;
}

int canon_user_key(const char *in, char *out, size_t size)
{
	if (canon_user(in, out, size) == 0)
		return 0;
	canon_fold(in, out, size);
	return -1;
}
