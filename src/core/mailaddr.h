/*
 * mailaddr - the one split of a mailbox "local@domain" into its two parts.
 *
 * Every module that needs the domain of an address, or its local part, asks
 * here instead of searching for an '@' itself. The separator is the last '@'
 * (a domain never holds one), except that an '@' inside a quoted local part
 * (RFC 5321 §4.1.2 Quoted-string, which smtp/address accepts: "a@b"@example.com)
 * never separates: "\"a@b\"" alone has no domain.
 *
 * This is a split, not a check: smtp/address.h is the one validator of
 * addresses, core/dname.h the one of domain names.
 */
#ifndef RG_CORE_MAILADDR_H
#define RG_CORE_MAILADDR_H

#include <stdbool.h>
#include <stddef.h>

struct mailaddr {
	const char *local; /* the bytes before the separator (the whole input without one) */
	size_t local_len;
	const char *domain; /* the bytes after the separator; "" (not NULL) without one */
	size_t domain_len;
	bool has_at; /* there was a separating '@' */
};

/* The separating '@' in s[0..len), or NULL when there is none. */
const char *mailaddr_at_n(const char *s, size_t len);
/* The same for a NUL-terminated string. */
const char *mailaddr_at(const char *s);
/* Splits s[0..len). Pointers point into s; nothing is copied. */
void mailaddr_split(const char *s, size_t len, struct mailaddr *out);
/* The domain of a NUL-terminated address, or "" when it has no '@'. */
const char *mailaddr_domain(const char *s);
/* The length of the local part of a NUL-terminated address (all of it
 * without an '@'). */
size_t mailaddr_local_len(const char *s);

#endif
