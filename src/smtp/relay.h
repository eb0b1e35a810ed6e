/*
 * relay - the relay decision for one RCPT TO (DESIGN.md invariant 1).
 *
 * Pure: a parsed recipient (smtp/address.h), who the client is (authenticated
 * user, client IP) and the gateway's policy (local domains, trusted networks,
 * our own addresses) in; ACCEPT_LOCAL, ACCEPT_RELAY or REJECT with a reason
 * and the SMTP reply out. No sockets, no clock, no logging, no allocation.
 *
 * The rules, in order (docs/relay.md explains each):
 *  1. The recipient must be usable: not <>, has a domain (except <postmaster>),
 *     the domain is not empty and has no all-numeric top label (a bare IP).
 *  2. Sender-specified routing from a client that is neither authenticated nor
 *     in a trusted network is refused, even to a local domain (Postfix
 *     allow_untrusted_routing=no): a '%', '!' or '@' in the local part (quoted
 *     or not) and any source route.
 *  3. A local domain (case-insensitive, trailing dot ignored, exact match) or
 *     an address literal of one of our own addresses is ACCEPT_LOCAL.
 *  4. Anything else is ACCEPT_RELAY for an authenticated or trusted client,
 *     and REJECT ("554 5.7.1 <rcpt>: Relay access denied") for everyone else.
 */
#ifndef RG_SMTP_RELAY_H
#define RG_SMTP_RELAY_H

#include "core/addr.h"
#include "smtp/address.h"

#include <stdbool.h>
#include <stddef.h>

#define RELAY_DOMAINS_MAX 64
#define RELAY_REPLY_MAX 512

/* A small set of local domains, stored lower case without a trailing dot. */
struct relay_domains {
	size_t count;
	char names[RELAY_DOMAINS_MAX][SMTP_ADDRESS_DOMAIN_MAX + 1];
};

struct relay_policy {
	struct relay_domains domains;
	const struct prefix_set *trusted_networks; /* may be NULL: none */
	const struct prefix_set *local_addresses;  /* our IPs, for user@[ip]; may be NULL */
};

struct relay_client {
	const char *auth_user; /* NULL (or "") when not authenticated */
	bool has_ip;
	struct addr ip;
};

enum relay_verdict {
	RELAY_ACCEPT_LOCAL,
	RELAY_ACCEPT_RELAY,
	RELAY_REJECT,
};

enum relay_reason {
	RELAY_REASON_LOCAL_DOMAIN,    /* accept: recipient domain is ours */
	RELAY_REASON_LOCAL_LITERAL,   /* accept: user@[one of our addresses] */
	RELAY_REASON_POSTMASTER,      /* accept: <postmaster> without a domain */
	RELAY_REASON_AUTHENTICATED,   /* relay: client authenticated */
	RELAY_REASON_TRUSTED_NETWORK, /* relay: client IP in trusted networks */
	RELAY_REASON_DENIED,          /* reject: foreign domain, untrusted client */
	RELAY_REASON_FOREIGN_LITERAL, /* reject: user@[IP that is not ours] */
	RELAY_REASON_PERCENT_HACK,    /* reject: '%' in the local part */
	RELAY_REASON_BANG_PATH,       /* reject: '!' in the local part */
	RELAY_REASON_QUOTED_ROUTING,  /* reject: '@' inside a quoted local part */
	RELAY_REASON_SOURCE_ROUTE,    /* reject: <@a:user@b> */
	RELAY_REASON_NULL_RECIPIENT,  /* reject: <> */
	RELAY_REASON_UNQUALIFIED,     /* reject: no domain */
	RELAY_REASON_EMPTY_DOMAIN,    /* reject: domain empty (or only dots) */
	RELAY_REASON_NUMERIC_DOMAIN,  /* reject: user@1.2.3.4 without brackets */
};

struct relay_decision {
	enum relay_verdict verdict;
	enum relay_reason reason;
	char reply[RELAY_REPLY_MAX]; /* "250 2.1.5 Ok" or "554 5.7.1 <x@y>: ..." */
};

void relay_domains_init(struct relay_domains *d);
/* Adds a domain (lower-cased, one trailing dot removed, syntax checked).
 * 0; -1 when the name is not a domain or the set is full. */
int relay_domains_add(struct relay_domains *d, const char *name, size_t len);
/* Exact, case-insensitive match; a trailing dot on name is ignored. */
bool relay_domains_contains(const struct relay_domains *d, const char *name, size_t len);

/* Decides one recipient. Returns 0 (out filled), or -1 on a NULL argument
 * (out then says REJECT so a careless caller still fails closed). */
int relay_decide(const struct relay_policy *policy, const struct relay_client *client,
                 const struct smtp_address *rcpt, struct relay_decision *out);

const char *relay_verdict_name(enum relay_verdict v);
const char *relay_reason_name(enum relay_reason r);

#endif
