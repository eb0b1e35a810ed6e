/*
 * verdict - query names and answer classification for DNS lists (RFC 5782).
 *
 * Pure functions: no I/O. Six outcomes, not two, because "nobody listed you"
 * and "nobody answered" are different facts:
 *   clean            NXDOMAIN (or no A record)
 *   listed           an answer code in 127.0.0.0/8 that means a listing
 *   list_error       the list's own error code (Spamhaus 127.255.255.254:
 *                    "query via public resolver") - never a listing
 *   bad_answer       an answer outside 127.0.0.0/8: a resolver rewriting
 *                    NXDOMAIN, or a dead list's parked domain
 *   dns_error        timeout, SERVFAIL, REFUSED - never "clean"
 *   selftest_failed  the zone failed its RFC 5782 test points (127.0.0.2
 *                    missing or 127.0.0.1 listed), so its answers mean nothing
 */
#ifndef RG_DNSBL_VERDICT_H
#define RG_DNSBL_VERDICT_H

#include "core/addr.h"
#include "dnsbl/catalog.h"
#include "net/dns.h"

enum bl_outcome {
	BL_CLEAN,
	BL_LISTED,
	BL_LIST_ERROR,
	BL_BAD_ANSWER,
	BL_DNS_ERROR,
	BL_SELFTEST_FAILED,
};

#define BL_VERDICT_CODES 8

struct bl_verdict {
	enum bl_outcome outcome;
	int ncodes;
	struct addr codes[BL_VERDICT_CODES];             /* the answers, as received */
	char meanings[BL_VERDICT_CODES][BL_MEANING_MAX]; /* listed: one per listing code */
	int nmeanings;
	char error[200]; /* why, for every outcome but clean and listed */
};

const char *bl_outcome_name(enum bl_outcome o);
/* "listed", "clean" or "error" as in the JSON contract. */
const char *bl_outcome_status(enum bl_outcome o);

/* 99.2.0.192.zone, or the 32-nibble IPv6 form. 0, or -1 if it does not fit. */
int bl_qname_ip(const struct addr *a, const char *zone, char *out, size_t size);
/* domain.zone (domain lower-cased, trailing dot removed). 0 or -1. */
int bl_qname_domain(const char *domain, const char *zone, char *out, size_t size);
/* Checks a domain target's syntax and normalises it. 0 or -1. */
int bl_domain_normalise(const char *in, char *out, size_t size);

/* Classifies one answer to an A query for a listing. */
void bl_classify(const struct bl_zone *z, const struct dns_result *res, struct bl_verdict *v);

#endif
