/*
 * catalog - the curated list of DNS blocklists and allow-lists.
 *
 * The catalogue is data (data/dnsbl.conf), not code: lists come and go, and a
 * dead list that wildcards "listed" for the whole Internet must be refused by
 * name. Each zone records what its answer codes mean, which codes are the
 * list's error answers (Spamhaus 127.255.255.252-255: "query via public
 * resolver", never a listing), whether it needs a key, where to delist.
 * Format: docs/catalogue.md.
 */
#ifndef RG_DNSBL_CATALOG_H
#define RG_DNSBL_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum bl_type { BL_TYPE_IP, BL_TYPE_DOMAIN, BL_TYPE_ANY /* ad hoc --zone: both */ };
enum bl_role { BL_ROLE_BLOCK, BL_ROLE_ALLOW };
enum bl_status { BL_STATUS_ACTIVE, BL_STATUS_NEEDS_KEY, BL_STATUS_PAID, BL_STATUS_DEAD };
enum bl_selftest { BL_SELFTEST_FULL, BL_SELFTEST_NEGATIVE, BL_SELFTEST_NONE };

#define BL_ZONE_MAX 254
#define BL_MEANING_MAX 96
#define BL_MAX_CODES 40
#define BL_MAX_ERRORS 12

struct bl_code {
	uint32_t lo, hi; /* IPv4 answer range, host order (127.0.0.2 = 0x7f000002) */
	char meaning[BL_MEANING_MAX];
};

struct bl_zone {
	char zone[BL_ZONE_MAX]; /* lower case, no trailing dot; "*.sorbs.net" patterns for dead lists */
	char name[80];
	enum bl_type type;
	enum bl_role role;
	enum bl_status status;
	enum bl_selftest selftest;  /* IPv4 and domain test points */
	enum bl_selftest selftest6; /* IPv6 test points: many lists lack them, so "negative" */
	bool ipv6;        /* publishes IPv6 data */
	bool is_default;  /* queried when no zone is named */
	bool bits;        /* codes are bit values of the last octet (SURBL, URIBL) */
	bool strict;      /* answers other than the listed codes are errors, not listings */
	bool catalogued;  /* false for an ad hoc --zone */
	char reason[240]; /* dead: what happened; needs-key/paid: how to get access */
	char delist[200]; /* URL; %IP% / %TARGET% replaced */
	int ncodes;
	struct bl_code codes[BL_MAX_CODES];
	int nerrors;
	struct bl_code errors[BL_MAX_ERRORS];
};

struct bl_catalog {
	struct bl_zone *zones;
	size_t nzones;
};

/* Loads a catalogue; on error nothing is kept and err says "file:line: what". */
int bl_catalog_load_file(struct bl_catalog *c, const char *path, char *err, size_t errlen);
int bl_catalog_load_string(struct bl_catalog *c, const char *text, const char *name, char *err,
			   size_t errlen);
void bl_catalog_free(struct bl_catalog *c);
/* The zone by name (case-insensitive, a trailing dot ignored); "*.x" entries match any
 * name below x. NULL when absent. */
const struct bl_zone *bl_catalog_find(const struct bl_catalog *c, const char *zone);
/* Fills z for a zone named on the command line that is not in the catalogue: both target
 * kinds, full self-test, any 127/8 answer other than 127.0.0.1 is a listing. */
int bl_zone_adhoc(struct bl_zone *z, const char *zone);
/* Normalises a zone name (lower case, trailing dot removed) and checks its syntax. */
int bl_zone_normalise(const char *in, char *out, size_t size);
/* Writes the delist URL for target into out ("" when the zone has none). */
void bl_zone_delist(const struct bl_zone *z, const char *target, char *out, size_t size);
const char *bl_status_name(enum bl_status s);

#endif
