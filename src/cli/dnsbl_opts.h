/*
 * dnsbl_opts - what `check` and `monitor` share: the resolver and zone
 * options, choosing zones from the catalogue, running the checker, and
 * printing one result in the JSON contract.
 */
#ifndef RG_CLI_DNSBL_OPTS_H
#define RG_CLI_DNSBL_OPTS_H

#include "dnsbl/catalog.h"
#include "dnsbl/checker.h"

#include <jansson.h>
#include <stdbool.h>

struct dnsbl_opts {
	char resolver[128]; /* c-ares server list: "127.0.0.1:53" or "[::1]:53" */
	char zones_file[512];
	char **zone;
	size_t nzone, zone_cap;
	int timeout_ms;
	int tries;
	uint64_t max_range;
	struct chk_options chk;
};

void dnsbl_opts_init(struct dnsbl_opts *o);
void dnsbl_opts_free(struct dnsbl_opts *o);
/* Option letters: r resolver, z zone (adds), Z zones file, t timeout, T tries,
 * c concurrency, m max-range. Reports errors as "relayguard: CMD: ...". 0 or -1. */
int dnsbl_opts_set(struct dnsbl_opts *o, const char *cmd, int opt, const char *arg);
/* The same, with the error text in err instead of on stderr. */
int dnsbl_opts_set_err(struct dnsbl_opts *o, int opt, const char *arg, char *err, size_t errlen);

struct dnsbl_sel {
	struct bl_catalog catalog;
	struct bl_zone *zones; /* the zones to query */
	size_t nzones, zones_cap;
};

/* Loads the catalogue and picks the zones: the named ones, or the active defaults.
 * Refuses defunct lists by name. 0 or -1 (reported). */
int dnsbl_select(const struct dnsbl_opts *o, const char *cmd, struct dnsbl_sel *sel);
void dnsbl_sel_free(struct dnsbl_sel *sel);
void dnsbl_print_catalog(const struct bl_catalog *c, bool json);

/* Starts a loop and a resolver, runs the checker. 0 or -1 (reported). */
int dnsbl_run(const struct dnsbl_opts *o, const char *cmd, const struct dnsbl_sel *sel,
	      const struct chk_targets *targets, struct chk_result **res, size_t *nres,
	      struct chk_stats *st);

struct dnsbl_counts {
	unsigned long listed; /* on block lists */
	unsigned long errors;
	unsigned long clean;
	unsigned long allowlisted;
};
void dnsbl_count(const struct dnsbl_sel *sel, const struct chk_result *res, size_t n,
		 struct dnsbl_counts *c);
/* One element of "results" in CLI.md's check JSON. */
json_t *dnsbl_result_json(const struct dnsbl_sel *sel, const struct chk_targets *t,
			  const struct chk_result *r);

#endif
