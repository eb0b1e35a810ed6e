/*
 * received - parse one Received header value (RFC 5321 4.4 trace fields) into
 * who connected (HELO, reverse DNS, IP), who received (by), how (with), the
 * queue id, the envelope recipient, the date, and whether the client had
 * authenticated (RFC 3848 "with ...A" protocols and the vendor comments).
 *
 * Styles understood (docs/received.md has one example of each): Postfix,
 * Sendmail, Exim, Exchange, Gmail, qmail/qpsmtpd, OpenSMTPD, Courier and
 * relayguard's own. Pure function over (pointer, length): fixed-size fields,
 * longer values are truncated, nothing is allocated.
 */
#ifndef RG_FORENSICS_RECEIVED_H
#define RG_FORENSICS_RECEIVED_H

#include "core/addr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RECEIVED_HOST_MAX 256
#define RECEIVED_WITH_MAX 64
#define RECEIVED_ID_MAX 128
#define RECEIVED_FOR_MAX 256
#define RECEIVED_USER_MAX 128
#define RECEIVED_DATE_MAX 64

struct received {
	bool has_from;                     /* a "from" clause was present */
	bool has_by;                       /* a "by" clause was present */
	char from_host[RECEIVED_HOST_MAX]; /* the HELO/EHLO name, "" if unknown */
	char from_rdns[RECEIVED_HOST_MAX]; /* verified reverse DNS name, "" if unknown */
	bool has_ip;                       /* from_ip and ip are valid */
	struct addr ip;                    /* the client address (IPv4-mapped unmapped) */
	char from_ip[ADDR_STRLEN];         /* canonical text of ip */
	char by_host[RECEIVED_HOST_MAX];   /* the receiving host */
	char with[RECEIVED_WITH_MAX];      /* protocol as written: "ESMTPSA", "esmtpsa" */
	char id[RECEIVED_ID_MAX];          /* queue id */
	char for_addr[RECEIVED_FOR_MAX];   /* envelope recipient, angle brackets removed */
	bool has_date;                     /* date_ms is valid */
	int64_t date_ms;                   /* the date after the last ';' */
	char date_raw[RECEIVED_DATE_MAX];  /* that text as written (truncated) */
	bool authenticated;                /* the client authenticated (SMTP AUTH) */
	char auth_user[RECEIVED_USER_MAX]; /* the account, "" if the header does not say */
	bool local;                        /* local submission: no network client */
	char local_uid[24];                /* "1001" for "from userid 1001"/"invoked by uid" */
};

/* Parses one unfolded (or folded: CR/LF count as white space) Received value.
 * 0 when it had a from or by clause; -1 when it is not a Received value at all
 * (out is still filled with what could be read). */
int received_parse(const char *v, size_t len, struct received *out);
/* true for the RFC 3848 / RFC 6531 "authenticated" protocol names (ESMTPA, ESMTPSA,
 * LMTPA, LMTPSA, UTF8SMTPA, UTF8SMTPSA, ...) and a few de-facto ones (SMTPSA, ASMTP,
 * HTTPU, HTTPSU, mapi). Case-insensitive. */
bool received_proto_is_auth(const char *proto, size_t len);
/* Parses an address as it appears in trace fields: "192.0.2.1", "[192.0.2.1]",
 * "[IPv6:2001:db8::1]", "IPv6:2001:db8::1", "[192.0.2.1]:25" (Exim with ports).
 * IPv4-mapped IPv6 becomes IPv4. 0 or -1. */
int received_parse_ip(const char *s, size_t len, struct addr *out);

#endif
