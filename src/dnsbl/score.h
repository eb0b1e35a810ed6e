/*
 * score - weighted DNSBL scoring of connecting clients, Postfix postscreen
 * style (postscreen_dnsbl_sites, _threshold, _allowlist_threshold, _ttl).
 *
 * A site is "zone[=filter][*weight]": the filter restricts which answers
 * count ("127.0.0.[2..11]", "127.0.[2..15].[0;1]"), the weight (default 1,
 * negative for allow-lists) is added once per site whose zone answered with
 * a matching listing. Unlike postscreen, answers go through the catalogue
 * first: a list's error code (Spamhaus 127.255.255.254) or an answer outside
 * 127.0.0.0/8 never counts, whatever the filter says, and is reported.
 * Answers are cached per (zone, client) for their TTL, clamped.
 */
#ifndef RG_DNSBL_SCORE_H
#define RG_DNSBL_SCORE_H

#include "core/addr.h"
#include "dnsbl/catalog.h"
#include "dnsbl/verdict.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dns;
struct event_base;

#define SCORE_MAX_SITES 32
#define SCORE_FILTER_RANGES 8

struct score_octet {
	int n; /* 0: any value */
	uint8_t lo[SCORE_FILTER_RANGES], hi[SCORE_FILTER_RANGES];
};

struct score_site {
	char zone[BL_ZONE_MAX];
	bool has_filter;
	struct score_octet filter[4];
	int weight;
};

/* Parses a list of sites separated by spaces, tabs, commas or newlines. Returns the
 * number of sites, or -1 with err naming the bad one. */
int score_sites_parse(const char *spec, struct score_site *sites, size_t max, char *err,
                      size_t errlen);
/* Does answer (an IPv4 address) pass the site's filter? */
bool score_site_matches(const struct score_site *s, const struct addr *answer);

struct score_options {
	int threshold;           /* score >= threshold: reject (postscreen's default, 1) */
	bool allowlist;          /* allow-listing on (postscreen_dnsbl_allowlist_threshold set) */
	int allowlist_threshold; /* with allowlist: score <= this is allow-listed */
	uint32_t min_ttl_s;      /* cache answers at least this long (default 60) */
	uint32_t max_ttl_s;      /* and at most this long (default 3600) */
	size_t cache_max;        /* entries (default 65536) */
};

enum score_decision { SCORE_PASS, SCORE_REJECT, SCORE_ALLOWLIST };

struct score_hit {
	const char *zone; /* points into the scorer's sites */
	int weight;
	char codes[64]; /* "127.0.0.2,127.0.0.4" */
};

struct score_result {
	struct addr client;
	int score;
	enum score_decision decision;
	int nhits;
	struct score_hit hits[SCORE_MAX_SITES];
	int nerrors;
	char errors[SCORE_MAX_SITES][160]; /* "zen.spamhaus.org: list error 127.255.255.254: ..." */
	unsigned cached;                   /* zones answered from the cache */
	unsigned queried;                  /* zones asked over DNS */
	char reply[256]; /* for SCORE_REJECT: "550 5.7.1 ... blocked using ZONE" */
};

typedef void (*score_callback)(void *arg, const struct score_result *res);

struct scorer;

void score_options_default(struct score_options *o);
/* catalog may be NULL (every zone taken as an ad hoc list). The scorer keeps pointers
 * to base and dns; the catalogue's zones and the sites are copied. A defunct zone is
 * refused (NULL, err says why). */
struct scorer *scorer_new(struct event_base *base, struct dns *dns,
                          const struct bl_catalog *catalog, const struct score_site *sites,
                          size_t nsites, const struct score_options *opt, char *err, size_t errlen);
void scorer_free(struct scorer *s);
/* Scores one client. The callback runs once, from the event loop (also on a full cache
 * hit). 0, or -1 (out of memory). */
int scorer_score(struct scorer *s, const struct addr *client, score_callback cb, void *arg);
size_t scorer_cache_size(const struct scorer *s);
const char *score_decision_name(enum score_decision d);

#endif
