/*
 * canon - the canonical form of an identity: one spelling per account and
 * per domain, whoever wrote it (an SMTP client, Postfix, a person at the
 * CLI or on the web page, a log line).
 *
 *   domain   ASCII lower case; IDN U-labels turned into A-labels (IDNA2008
 *            with the UTS #46 non-transitional mapping, libidn2), so
 *            "BÜCHER.Example" is "xn--bcher-kva.example"; one trailing dot
 *            (the DNS root) removed, as the SMTP address parser removes it.
 *            An address literal ("[192.0.2.1]", "[IPv6:...]") is kept with
 *            its letters lower-cased. Refused: empty, an empty label, a
 *            label over 63 or a name over 253 octets, an ASCII character
 *            other than a letter, a digit, '-' or '_' (brackets only around
 *            a literal), bad UTF-8, what IDNA refuses.
 *   user     "local@domain": the local part with ASCII folded to lower case
 *            (for identity only: the envelope address delivered keeps its
 *            case), the domain as above; a name without '@' folded to
 *            lower case. Refused: empty, an empty local part, a control
 *            character, a bad domain, longer than STR_USER_MAX.
 *
 * The identities "user:NAME" and "domain:NAME" are these forms with their
 * prefix. The policy engine keys every record, block and limit by them,
 * so a block, unblock, limit or hold on any spelling is the same object
 * (docs/policy.md "Identities"). Pure: no I/O, no clock.
 */
#ifndef RG_POLICY_CANON_H
#define RG_POLICY_CANON_H

#include <stddef.h>

#define CANON_DOMAIN_MAX 253

/* The canonical form of the len bytes of domain in. 0, or -1 (not a domain; out ""). */
int canon_domain(const char *in, size_t len, char *out, size_t size);
/* The canonical form of a user name or address. 0, or -1 (out ""). */
int canon_user(const char *in, char *out, size_t size);
/* "user:NAME" / "domain:NAME" to their canonical form; any other identity is
 * copied as it is. 0, or -1 (a bad name, or it did not fit). */
int canon_identity(const char *in, char *out, size_t size);

/* The key forms for what arrives from outside and must be counted whatever
 * it looks like: the canonical form when there is one, else the input with
 * ASCII folded to lower case (cut to size). Never fails: 0 for a canonical
 * form, -1 for a folded one. */
int canon_domain_key(const char *in, char *out, size_t size);
int canon_user_key(const char *in, char *out, size_t size);

#endif
