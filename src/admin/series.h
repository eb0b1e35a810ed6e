/*
 * series - what the admin page charts and lists per account, kept by the
 * serving process: messages per hour (hourly buckets over the last 7 days),
 * the last client IPs and the last verdicts other than allow of each sending identity, and the
 * same hourly buckets for all traffic together.
 *
 * It sits beside the policy engine, not in it: the policy service reports
 * each decision here (series_record) and nothing here decides anything. It
 * lives in memory, bounded: at most SERIES_IDENTS identities; when full, the
 * one least recently seen makes room. A restart starts the charts afresh (the
 * engine's own counters and blocks are in the state store and survive).
 * Time is the caller's (ms), so tests step it.
 */
#ifndef RG_ADMIN_SERIES_H
#define RG_ADMIN_SERIES_H

#include <stddef.h>
#include <stdint.h>

#define SERIES_HOURS (7 * 24)
#define SERIES_IDENTS 1024
#define SERIES_IPS 8
#define SERIES_VERDICTS 12
#define SERIES_IDENT_MAX 280
#define SERIES_TEXT_MAX 160

struct series;

struct series_ip {
	char ip[64];
	int64_t last_ms;
	uint32_t count;
};

struct series_verdict {
	int64_t time_ms;
	char action[12]; /* allow, warn, defer, hold, block */
	char rule[48];
	char reason[SERIES_TEXT_MAX];
};

struct series *series_new(void);
void series_free(struct series *s);

/* One decision on identity ("user:sam@example.com", "ip:192.0.2.7"): messages is the
 * number of messages it counted (0 for a check that counted nothing). Only verdicts
 * other than "allow" are kept as verdicts. ip may be "" or NULL. 0, or -1 when an
 * argument is unusable (empty identity). */
int series_record(struct series *s, int64_t now_ms, const char *identity, const char *ip,
                  uint32_t messages, const char *action, const char *rule, const char *reason);

/* Messages per hour of identity (NULL: all traffic) for the n hours up to and including
 * the one holding now_ms, oldest first, into out[n] (n <= SERIES_HOURS; zeros for an
 * identity never seen). Returns the total. */
uint64_t series_hours(const struct series *s, const char *identity, int64_t now_ms, uint32_t *out,
                      size_t n);
/* Copies the client IPs (most recent first) and verdicts (newest first) of identity;
 * counts through *nips and *nverdicts (0 when unknown). */
void series_details(const struct series *s, const char *identity, struct series_ip *ips,
                    size_t *nips, struct series_verdict *verdicts, size_t *nverdicts);
/* Identities known, most recently seen first, at most max of them, into names (each
 * SERIES_IDENT_MAX). Returns the count. */
size_t series_identities(const struct series *s, char (*names)[SERIES_IDENT_MAX], size_t max);

#endif
