/*
 * dname - the one check of a DNS name, for every place a domain is read:
 * envelope and user-name domains, DNSBL zones and the domains checked
 * against them, recipient-validation domains, MTA-STS policy domains, and
 * the canonical identities (policy/canon, which adds IDN on top).
 *
 * A name is labels separated by '.': each label 1 to 63 octets of ASCII
 * letters, digits and '-', not starting or ending with '-'; the whole at
 * most 253 octets. The flags loosen or tighten that where a caller's
 * names differ (DNS owner names with '_', a zone wildcard, a host that
 * must not be an IP address). The check writes the name lower-cased, so a
 * caller compares names with memcmp.
 */
#ifndef RG_CORE_DNAME_H
#define RG_CORE_DNAME_H

#include <stddef.h>

#define DNAME_MAX 253

enum {
	DNAME_UNDERSCORE = 0x01,  /* '_' in a label (_mta-sts, _dmarc, some zones) */
	DNAME_ROOT_DOT = 0x02,    /* one trailing '.' (the root) accepted, not copied */
	DNAME_NEED_DOT = 0x04,    /* two labels at least */
	DNAME_NEED_LETTER = 0x08, /* a letter somewhere (so not an IPv4 address) */
	DNAME_WILDCARD = 0x10,    /* "*." as the first label */
	DNAME_EDGE_HYPHEN = 0x20, /* '-' first or last in a label (DNSBL zones in use) */
	DNAME_UTF8 = 0x40,        /* bytes >= 0x80 are label characters (RFC 6531 envelopes; the
	                           * caller checked the UTF-8) */
};

enum dname_err {
	DNAME_OK = 0,
	DNAME_E_EMPTY,      /* nothing, or only the root dot */
	DNAME_E_LABEL,      /* an empty label ("a..b", ".a") */
	DNAME_E_LABEL_LONG, /* a label over 63 octets */
	DNAME_E_LONG,       /* over 253 octets (or over the caller's buffer) */
	DNAME_E_HYPHEN,     /* a label starting or ending with '-' */
	DNAME_E_CHAR,       /* a character other than a letter, a digit, '-' (or '_') */
	DNAME_E_DOT,        /* one label where two were needed */
	DNAME_E_LETTER,     /* no letter where one was needed */
};

/* Checks the len bytes at in; writes the name lower-cased (without a root
 * dot) into out[size] when out is not NULL (size must hold it and a NUL).
 * DNAME_OK or the first fault; out is "" on a fault. */
enum dname_err dname_check(const char *in, size_t len, unsigned flags, char *out, size_t size);

/* The length of the name at s when it is already in the form dname_check()
 * writes with DNAME_UNDERSCORE | DNAME_EDGE_HYPHEN: lower-case letters,
 * digits, '-' and '_', labels of 1 to 63 octets, DNAME_MAX in all. The name
 * ends at a NUL or after max bytes, whichever comes first. 0 when it is not
 * in that form: the caller then takes dname_check(), which folds case and
 * says what is wrong. One pass, no copy: the fast path of the canonical
 * identities (policy/canon), where nearly every name is already canonical. */
size_t dname_canonical_len(const char *s, size_t max);

/* The fault in words, for error messages: "an empty label", ... */
const char *dname_strerror(enum dname_err e);

#endif
