/*
 * spf - Sender Policy Framework (RFC 7208) check of the envelope sender,
 * asynchronous over net/dns.h.
 *
 * Why not libspf2: its resolver backend (SPF_dns_resolv) calls res_query()
 * on the system resolver, blocking, with no way to name the server, so it
 * can neither run inside the gateway's event loop nor be pointed at a test
 * DNS server on loopback (the integration tests run rbldnsd and fakes
 * there). This module does its own evaluation on the project's c-ares
 * layer; tests/unit/test_spf.c replays the same records through libspf2's
 * static-zone backend and requires the same results.
 *
 * Pure parts (fuzzed by tests/fuzz/fuzz_spf.c): spf_record_parse() reads one
 * "v=spf1 ..." record into terms; spf_macro_expand() expands a domain-spec.
 * spf_check() evaluates: mechanisms all, include, a, mx, ptr, ip4, ip6,
 * exists; modifiers redirect (exp= is read and ignored: we do not reject
 * with the domain's text); the limits of section 4.6.4 (10 DNS-querying
 * terms, 10 MX names, 2 void lookups) and results none, neutral, pass,
 * fail, softfail, temperror, permerror.
 */
#ifndef RG_SMTP_SPF_H
#define RG_SMTP_SPF_H

#include "core/addr.h"
#include "policy/event.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dns;
struct event_base;

#define SPF_TERMS_MAX 40
#define SPF_SPEC_MAX 256
#define SPF_LOOKUP_LIMIT 10
#define SPF_VOID_LIMIT 2

enum spf_mech {
	SPF_M_ALL = 0,
	SPF_M_INCLUDE,
	SPF_M_A,
	SPF_M_MX,
	SPF_M_PTR,
	SPF_M_IP4,
	SPF_M_IP6,
	SPF_M_EXISTS,
};

struct spf_term {
	enum spf_mech mech;
	enum pol_spf qualifier;  /* PASS, FAIL, SOFTFAIL, NEUTRAL */
	char spec[SPF_SPEC_MAX]; /* domain-spec, unexpanded; "" = the current domain */
	struct cidr net;         /* ip4, ip6 */
	int cidr4, cidr6;        /* a, mx: prefix lengths (32 and 128 when absent) */
};

struct spf_record {
	unsigned nterms;
	struct spf_term terms[SPF_TERMS_MAX];
	bool has_redirect;
	char redirect[SPF_SPEC_MAX];
};

/* Is this TXT string an SPF record ("v=spf1" then a space or the end)? */
bool spf_is_record(const char *txt, size_t len);
/* Parses one record. 0, or -1 with err saying why (a permerror). */
int spf_record_parse(const char *txt, size_t len, struct spf_record *out, char *err, size_t errlen);

struct spf_macro_ctx {
	const char *sender; /* local@domain, never empty (postmaster@helo for <>) */
	const char *domain; /* the current domain */
	const char *helo;
	struct addr ip;
};
/* Expands a domain-spec's macros (section 7) into out; a result longer than 253
 * characters loses labels on the left. 0, or -1 on a bad macro (a permerror). */
int spf_macro_expand(const char *spec, const struct spf_macro_ctx *m, char *out, size_t size);

struct spf_answer {
	enum pol_spf result;
	char domain[256]; /* the sender domain checked */
	char reason[200]; /* "matched -all in example.com", "no SPF record", ... */
	unsigned lookups; /* DNS-querying terms evaluated */
};

typedef void (*spf_callback)(void *arg, const struct spf_answer *a);

struct spf_check;

/* Starts a check of sender (envelope address, "" for the null sender: then the
 * HELO name is checked) for client ip. cb runs exactly once, from the event
 * loop, never from within spf_check_start, unless the check is cancelled
 * first. NULL on no memory. */
struct spf_check *spf_check_start(struct event_base *base, struct dns *dns, const struct addr *ip,
                                  const char *sender, const char *helo, spf_callback cb, void *arg);
/* Before the callback ran: it will not run; the check frees itself (now, or
 * when its query returns). */
void spf_check_cancel(struct spf_check *c);

#endif
