/*
 * rcptval - recipient validation at RCPT time for the local domains of the
 * inbound listener: reject unknown users with 550 5.1.1 during the SMTP
 * dialogue instead of accepting and bouncing later (backscatter).
 *
 * Two sources, either or both:
 *   a static list  addresses ("alice@example.org") and catch-alls
 *                  ("@example.org": every user of that domain), from a string
 *                  or a file (one per line, # comments);
 *   a callout      an RCPT probe to the internal mail server (EHLO, MAIL
 *                  FROM:<>, RCPT TO:<addr>, QUIT; never DATA), as Postfix's
 *                  reject_unverified_recipient does. Answers are cached:
 *                  250 for positive_ttl, 5xx for negative_ttl; a 4xx or a
 *                  failed connection is not cached and gives a 451 (the client
 *                  retries; nothing is accepted that might bounce).
 *
 * The list, the cache and the decision are pure (time passed in); only
 * rcptval_callout() does I/O, on a libevent loop.
 */
#ifndef RG_SMTP_RCPTVAL_H
#define RG_SMTP_RCPTVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

enum rcptval_result {
	RCPTVAL_OK = 0,    /* a known user: accept */
	RCPTVAL_UNKNOWN,   /* 550 5.1.1 */
	RCPTVAL_NOT_LOCAL, /* not a local domain: the relay rules decide */
	RCPTVAL_CALLOUT,   /* not in the list and not cached: ask the internal server */
	RCPTVAL_TEMPFAIL,  /* 451 4.4.3: the callout could not say */
};

struct rcptval_options {
	uint64_t positive_ttl_ms; /* default 7 d */
	uint64_t negative_ttl_ms; /* default 3 h */
	size_t cache_max;         /* entries, default 65536 */
	bool callout;             /* ask the internal server for addresses the list does not know */
	const char *callout_host; /* "127.0.0.1" */
	const char *callout_port; /* "25" */
	const char *helo;         /* our name in the probe */
	int timeout_ms;           /* whole probe, default 10000 */
};

struct rcptval;

void rcptval_options_default(struct rcptval_options *o);
/* domains: the local domains, separated by commas, spaces or newlines. NULL on
 * no memory or an empty domain list (err says why). */
struct rcptval *rcptval_new(const char *domains, const struct rcptval_options *o, char *err,
                            size_t errlen);
/* Callouts still under way are answered RCPTVAL_TEMPFAIL (code 0) first. */
void rcptval_free(struct rcptval *v);
/* Adds addresses or "@domain" catch-alls from a list (commas, spaces, newlines,
 * # comments to the end of the line). 0, or -1 naming the bad entry. */
int rcptval_add_list(struct rcptval *v, const char *list, char *err, size_t errlen);
int rcptval_add_file(struct rcptval *v, const char *path, char *err, size_t errlen);

/* The decision for one address at now_ms (case-insensitive). why gets a short
 * reason for logs ("static list", "callout cache: 550 ... 2 h ago"). */
enum rcptval_result rcptval_check(struct rcptval *v, const char *addr, int64_t now_ms, char *why,
                                  size_t whylen);
/* Records a callout answer (code 250, 550, ...) in the cache. 4xx and 0 (no
 * answer) are not cached. */
void rcptval_cache_put(struct rcptval *v, const char *addr, int code, int64_t now_ms);
size_t rcptval_cache_size(const struct rcptval *v);

typedef void (*rcptval_callback)(void *arg, enum rcptval_result r, int code, const char *text);
/* Probes the internal server for addr; the answer is cached (at
 * clock_monotonic_ms() when it came: pass the same clock to rcptval_check)
 * and handed to cb, exactly once, from the loop (or from rcptval_free). 0, or
 * -1 (cb will not run). */
int rcptval_callout(struct rcptval *v, struct event_base *base, const char *addr,
                    rcptval_callback cb, void *arg);

const char *rcptval_result_name(enum rcptval_result r);

#endif
