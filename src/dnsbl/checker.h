/*
 * checker - asks every zone about every target, queries in flight in a paced window.
 *
 * Phase one probes each zone's RFC 5782 test points (127.0.0.2 must be
 * listed, 127.0.0.1 must not; "test" and "invalid" for domain lists). A zone
 * that fails gets selftest_failed (or the list's error) for every target and
 * is not asked again. Phase two sends one A query per (target, zone), at most
 * `concurrency` outstanding, and a TXT query for each listing. The in-flight
 * window starts at CHK_WINDOW_START and is paced to the answers (AIMD: +1 per
 * answer, halved when the resolver resends or times out). Used by
 * `check`, `monitor` and, later, the gateway's inbound scoring.
 */
#ifndef RG_DNSBL_CHECKER_H
#define RG_DNSBL_CHECKER_H

#include "core/addr.h"
#include "dnsbl/catalog.h"
#include "dnsbl/verdict.h"

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct dns;

struct chk_target {
	bool is_ip;
	struct addr addr;  /* is_ip */
	char name[256];    /* the target as printed: canonical IP or normalised domain */
};

struct chk_targets {
	struct chk_target *v;
	size_t n, cap;
};

/* Adds a target: an IP, a CIDR range (expanded; refused above max_addresses) or a
 * domain. 0, or -1 with err saying why. */
int chk_targets_add(struct chk_targets *t, const char *arg, uint64_t max_addresses, char *err,
		    size_t errlen);
void chk_targets_free(struct chk_targets *t);

struct chk_result {
	size_t target; /* index into the targets */
	size_t zone;   /* index into the zones */
	struct bl_verdict v;
	char txt[512];
};

/* A single-threaded DNSBL server (rbldnsd) overflows its socket when more than
 * about 150 queries arrive in one burst, and each lost answer costs a retry. */
#define CHK_DEFAULT_CONCURRENCY 128
#define CHK_WINDOW_START 64
#define CHK_WINDOW_MIN 8

struct chk_options {
	unsigned concurrency; /* queries in flight at most; 0: CHK_DEFAULT_CONCURRENCY */
	bool no_selftest;
	bool no_txt;
};

struct chk_stats {
	unsigned long queries;
	unsigned long skipped; /* (target, zone) pairs that do not apply: IPv6 on an IPv4-only list */
};

/* Runs the loop until every answer is in. Results are ordered by target, then zone.
 * The caller frees *results. 0, or -1 (out of memory). */
int chk_run(struct event_base *base, struct dns *dns, const struct bl_zone *zones, size_t nzones,
	    const struct chk_targets *targets, const struct chk_options *opt,
	    struct chk_result **results, size_t *nresults, struct chk_stats *stats);

#endif
