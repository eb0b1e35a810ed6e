/*
 * dns - asynchronous DNS lookups (A, AAAA, TXT, MX, PTR) on a libevent loop.
 *
 * Two backends behind one interface: c-ares talking to real servers, and a
 * fake table for tests (answers are delivered on the next loop turn, so code
 * under test sees the same asynchrony). Callers get one callback per query
 * with a parsed, bounded result; nothing in a DNS answer can overrun it.
 *
 * Statuses keep apart what a blocklist checker must never confuse: an
 * NXDOMAIN (not listed) is not a timeout, SERVFAIL or REFUSED (unknown).
 */
#ifndef RG_NET_DNS_H
#define RG_NET_DNS_H

#include "core/addr.h"

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct dns;

enum dns_type { DNS_T_A = 1, DNS_T_PTR = 12, DNS_T_MX = 15, DNS_T_TXT = 16, DNS_T_AAAA = 28 };

enum dns_status {
	DNS_OK,       /* NOERROR with answers of the asked type */
	DNS_NODATA,   /* NOERROR, the name exists, no records of that type */
	DNS_NXDOMAIN, /* the name does not exist */
	DNS_SERVFAIL,
	DNS_REFUSED,
	DNS_TIMEOUT,
	DNS_BADRESP,  /* an answer we could not parse */
	DNS_ERROR,    /* anything else: no server reachable, bad name, out of memory */
	DNS_CANCELLED /* the resolver was freed before the answer came */
};

#define DNS_MAX_ADDRS 16
#define DNS_MAX_MX 16
#define DNS_TXT_MAX 1024
#define DNS_NAME_MAX 256

struct dns_mx {
	uint16_t pref;
	char host[DNS_NAME_MAX];
};

struct dns_result {
	enum dns_status status;
	enum dns_type type;
	uint32_t ttl; /* smallest TTL of the answer records */
	int naddrs;   /* A / AAAA */
	struct addr addrs[DNS_MAX_ADDRS];
	char txt[DNS_TXT_MAX]; /* TXT: strings of one record joined, records joined by " | " */
	int nmx;
	struct dns_mx mx[DNS_MAX_MX];
	char ptr[DNS_NAME_MAX];
	char error[80]; /* DNS_ERROR: what the resolver library said */
};

typedef void (*dns_callback)(void *arg, const struct dns_result *res);

struct dns_options {
	const char *servers; /* "127.0.0.1:5353,[::1]:53"; NULL: /etc/resolv.conf */
	int timeout_ms;      /* per try; 0: 2000 */
	int tries;           /* 0: 2 */
};

struct dns *dns_new(struct event_base *base, const struct dns_options *opt, char *err,
		    size_t errlen);
/* A resolver that answers from a table (dns_fake_add) and NXDOMAIN otherwise. */
struct dns *dns_new_fake(struct event_base *base);
/* Fake backend only: the answer for name/type (copied). 0 or -1. */
int dns_fake_add(struct dns *d, const char *name, enum dns_type type, const struct dns_result *r);
/* Fake backend only: how many queries were asked so far. */
unsigned long dns_fake_queries(const struct dns *d);
/* Frees the resolver; pending queries get DNS_CANCELLED callbacks first. */
void dns_free(struct dns *d);

/* Starts a query; cb is called exactly once, never from within dns_query. 0 or -1. */
int dns_query(struct dns *d, const char *name, enum dns_type type, dns_callback cb, void *arg);
/* Queries started and not yet answered. */
unsigned dns_pending(const struct dns *d);
/* Copies of unanswered queries sent after the measured round trip (c-ares
 * backend; see dns.c). */
unsigned long dns_resent(const struct dns *d);

/* Turns a raw answer (c-ares status code and packet) into a result. Pure; the fuzz
 * target calls it with arbitrary bytes. */
void dns_parse(enum dns_type type, int ares_status, const unsigned char *abuf, int alen,
	       struct dns_result *out);
const char *dns_status_name(enum dns_status s);
const char *dns_type_name(enum dns_type t);

#endif
