/*
 * smtp_address - the argument of MAIL FROM: and RCPT TO: (RFC 5321 §4.1.2,
 * §4.1.1.2, §4.1.1.3), strictly parsed into fixed, bounded fields.
 *
 * In:  the bytes after "MAIL FROM:" or "RCPT TO:" (pointer, length; no CRLF),
 *      for example "<user@example.com> SIZE=1000 BODY=8BITMIME".
 * Out: local part (as sent and unquoted), domain, flags saying which unusual
 *      forms were used (quoted local part, source route, address literal,
 *      trailing dot, UTF-8), and the ESMTP parameters (RFC 1870 SIZE,
 *      RFC 6152 BODY, RFC 6531 SMTPUTF8, RFC 3461 RET/ENVID/NOTIFY/ORCPT,
 *      RFC 4954 AUTH) as a key/value list plus their decoded meaning.
 *
 * The parser never allocates and never reads past len. It accepts only what
 * RFC 5321 allows, except: one or more spaces before the '<' (common and
 * harmless), a trailing dot on the domain (flagged and removed, like
 * Postfix), and, with SMTP_ADDRESS_OPT_BARE, a path without angle brackets.
 * Source routes are parsed, recorded and flagged, then ignored for delivery
 * as §3.3 and Appendix C say; the relay decision (relay.h) refuses them from
 * untrusted clients. Every error has an SMTP reply (smtp_address_reply()).
 */
#ifndef RG_SMTP_ADDRESS_H
#define RG_SMTP_ADDRESS_H

#include "core/addr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SMTP_ADDRESS_LOCAL_MAX 64   /* RFC 5321 §4.5.3.1.1, octets as sent */
#define SMTP_ADDRESS_DOMAIN_MAX 255 /* §4.5.3.1.2 */
#define SMTP_ADDRESS_PATH_MAX 256   /* §4.5.3.1.3, including the angle brackets */
#define SMTP_ADDRESS_ROUTE_MAX 255  /* the "@a,@b" part of a source route */
#define SMTP_ADDRESS_PARAMS_MAX 12
#define SMTP_ADDRESS_KEY_MAX 32
#define SMTP_ADDRESS_VALUE_MAX 512 /* ORCPT: RFC 3461 §4.2 allows 500 */

enum smtp_address_kind {
	SMTP_ADDRESS_MAIL, /* MAIL FROM: the null path <> is allowed */
	SMTP_ADDRESS_RCPT, /* RCPT TO: <postmaster> without a domain is allowed */
};

/* Options (a bit set) given by the caller. */
#define SMTP_ADDRESS_OPT_BARE 0x01     /* accept user@domain without <> (lenient) */
#define SMTP_ADDRESS_OPT_SMTPUTF8 0x02 /* the transaction's MAIL had SMTPUTF8 (for RCPT) */
#define SMTP_ADDRESS_OPT_UNKNOWN 0x04  /* keep unknown ESMTP parameters instead of 555 */

/* Flags (a bit set) saying what the path looked like. */
#define SMTP_ADDRESS_F_NULL 0x001         /* <> */
#define SMTP_ADDRESS_F_QUOTED 0x002       /* local part was a quoted string */
#define SMTP_ADDRESS_F_SOURCE_ROUTE 0x004 /* <@a,@b:user@c>; route recorded, then ignored */
#define SMTP_ADDRESS_F_LITERAL 0x008      /* domain is [IPv4] or [IPv6:...] */
#define SMTP_ADDRESS_F_TRAILING_DOT 0x010 /* domain ended in '.', removed */
#define SMTP_ADDRESS_F_UTF8 0x020         /* non-ASCII in local part or domain */
#define SMTP_ADDRESS_F_BARE 0x040         /* no angle brackets (OPT_BARE) */
#define SMTP_ADDRESS_F_NO_DOMAIN 0x080    /* <postmaster> (RCPT only) */

enum smtp_address_status {
	SMTP_ADDRESS_OK = 0,
	SMTP_ADDRESS_E_EMPTY,           /* no argument at all */
	SMTP_ADDRESS_E_BRACKETS,        /* missing '<' or '>' */
	SMTP_ADDRESS_E_BAD_CHAR,        /* control character, NUL, DEL, bad UTF-8 */
	SMTP_ADDRESS_E_NULL_PATH,       /* <> where it is not allowed (RCPT) */
	SMTP_ADDRESS_E_LOCAL_SYNTAX,    /* local part is not a dot-string or quoted string */
	SMTP_ADDRESS_E_LOCAL_TOO_LONG,  /* more than 64 octets */
	SMTP_ADDRESS_E_UNQUALIFIED,     /* no @domain (and not RCPT <postmaster>) */
	SMTP_ADDRESS_E_DOMAIN_SYNTAX,   /* not LDH labels */
	SMTP_ADDRESS_E_DOMAIN_TOO_LONG, /* domain > 255 or a label > 63 */
	SMTP_ADDRESS_E_LITERAL,         /* bad or unsupported address literal */
	SMTP_ADDRESS_E_ROUTE_SYNTAX,    /* bad source route */
	SMTP_ADDRESS_E_PATH_TOO_LONG,   /* path > 256 octets */
	SMTP_ADDRESS_E_UTF8,            /* non-ASCII address without SMTPUTF8 */
	SMTP_ADDRESS_E_PARAM_SYNTAX,    /* junk after the path, bad keyword */
	SMTP_ADDRESS_E_PARAM_UNKNOWN,   /* parameter not recognised here */
	SMTP_ADDRESS_E_PARAM_DUPLICATE, /* the same parameter twice */
	SMTP_ADDRESS_E_PARAM_VALUE,     /* bad value (xtext, number, keyword) */
	SMTP_ADDRESS_E_PARAM_TOO_MANY,  /* more than SMTP_ADDRESS_PARAMS_MAX */
	SMTP_ADDRESS_E_PARAM_TOO_LONG,  /* key or value too long */
};

enum smtp_address_body {
	SMTP_ADDRESS_BODY_NONE,
	SMTP_ADDRESS_BODY_7BIT,
	SMTP_ADDRESS_BODY_8BITMIME,
	SMTP_ADDRESS_BODY_BINARYMIME
};
enum smtp_address_ret { SMTP_ADDRESS_RET_NONE, SMTP_ADDRESS_RET_FULL, SMTP_ADDRESS_RET_HDRS };

#define SMTP_ADDRESS_NOTIFY_NEVER 0x1
#define SMTP_ADDRESS_NOTIFY_SUCCESS 0x2
#define SMTP_ADDRESS_NOTIFY_FAILURE 0x4
#define SMTP_ADDRESS_NOTIFY_DELAY 0x8

struct smtp_address_param {
	char key[SMTP_ADDRESS_KEY_MAX + 1];     /* upper case */
	char value[SMTP_ADDRESS_VALUE_MAX + 1]; /* as sent (xtext still encoded) */
	bool has_value;
};

struct smtp_address {
	unsigned flags; /* SMTP_ADDRESS_F_* */
	/* Local part as sent (with quotes and backslashes) and its content. */
	char local_raw[SMTP_ADDRESS_LOCAL_MAX + 1];
	char local[SMTP_ADDRESS_LOCAL_MAX + 1];
	/* Domain as sent, without the trailing dot; a literal keeps its brackets. */
	char domain[SMTP_ADDRESS_DOMAIN_MAX + 1];
	struct addr literal;                    /* valid when F_LITERAL */
	char route[SMTP_ADDRESS_ROUTE_MAX + 1]; /* "@a,@b" when F_SOURCE_ROUTE */

	size_t nparams;
	struct smtp_address_param params[SMTP_ADDRESS_PARAMS_MAX];
	/* Decoded meaning of the known parameters. */
	bool has_size;
	uint64_t size;
	enum smtp_address_body body;
	bool smtputf8;
	enum smtp_address_ret ret;
	unsigned notify; /* SMTP_ADDRESS_NOTIFY_*, 0 when absent */
	/* ENVID, AUTH and ORCPT: smtp_address_param_get() (no pointers inside, so
	 * the struct may be copied). */

	/* Where parsing stopped on error (byte offset), for logs. */
	size_t error_offset;
};

/* Parses arg[0..len). Returns SMTP_ADDRESS_OK or an error; out is always
 * initialised (cleared on entry). */
enum smtp_address_status smtp_address_parse(const char *arg, size_t len,
                                            enum smtp_address_kind kind, unsigned opts,
                                            struct smtp_address *out);

/* A bare mailbox "local@domain" as a configuration file or a DNS record
 * writes it: no angle brackets, no source route, no spaces, no parameters,
 * a domain required; otherwise what smtp_address_parse() accepts in MAIL
 * FROM (opts: SMTP_ADDRESS_OPT_SMTPUTF8 allows UTF-8). The one check of an
 * address that is not an SMTP command argument. SMTP_ADDRESS_OK or the first
 * fault (smtp_address_status_name()); out as for smtp_address_parse(). */
enum smtp_address_status smtp_address_mailbox(const char *s, size_t len, unsigned opts,
                                              struct smtp_address *out);

/* The SMTP reply for an error, e.g. "501 5.1.3 Bad recipient address syntax". */
const char *smtp_address_reply(enum smtp_address_status st, enum smtp_address_kind kind);
/* A short name for logs, e.g. "local_syntax". */
const char *smtp_address_status_name(enum smtp_address_status st);

/* Writes "local_raw@domain" (or "" for <>, or "postmaster"). 0, or -1 when it
 * did not fit (out then holds a truncated string). */
int smtp_address_format(const struct smtp_address *a, char *out, size_t size);

/* The parameter with this key (case-insensitive), or NULL. */
const struct smtp_address_param *smtp_address_param_get(const struct smtp_address *a,
                                                        const char *key);

/* RFC 3461 §4 xtext: 0 when s[0..len) is valid xtext; decodes into out (NUL-
 * terminated, may be NULL to only validate) and returns -1 on bad syntax or
 * when out is too small. */
int smtp_address_xtext_decode(const char *s, size_t len, char *out, size_t size);

#endif
