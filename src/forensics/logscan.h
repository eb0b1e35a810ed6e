/*
 * logscan - mail and firewall logs in, policy-engine events and verdicts,
 * and named suspects out (relayguard logscan and replay).
 *
 * Lines go in one at a time (logscan_line), from any mix of Postfix,
 * Exim, Dovecot and netfilter logs (docs/logscan.md maps each line to its
 * event). The scanner joins a message's lines by queue ID (qtrack), turns
 * them into struct pol_event with the line's own time, and runs them through
 * the policy engine (memory store, so nothing persists). Every verdict that
 * is not "allow" goes to the caller's callback (replay) and into the
 * per-account and per-IP tallies that become suspects at the end.
 *
 * Pure apart from the engine's memory store: no I/O, no wall clock.
 * Memory: the queue-ID table (live messages), one record per account and
 * per IP that did something suspicious, and the engine's store.
 */
#ifndef RG_FORENSICS_LOGSCAN_H
#define RG_FORENSICS_LOGSCAN_H

#include "core/addr.h"
#include "forensics/logline.h"
#include "policy/config.h"
#include "policy/engine.h"
#include "policy/event.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum logscan_format {
	LOGSCAN_AUTO = 0,
	LOGSCAN_POSTFIX,
	LOGSCAN_EXIM,
	LOGSCAN_DOVECOT,
	LOGSCAN_NETFILTER,
	LOGSCAN_RELAYGUARD, /* relayguard's own delivery log (docs/delivery.md) */
};
#define LOGSCAN_FORMATS 6

/* 0 or -1 for "auto", "postfix", "exim", "dovecot", "netfilter", "relayguard". */
int logscan_format_parse(const char *s, enum logscan_format *out);

/* A verdict that is not allow: the event, the verdict, where the line was. */
typedef void (*logscan_verdict_fn)(void *ctx, const struct pol_event *ev,
                                   const struct pol_verdict *v, const char *source,
                                   uint64_t line_no);

struct logscan_opts {
	enum logscan_format format;
	int year;                       /* classic stamps: 0 = infer from each input's time */
	int64_t since_ms, until_ms;     /* 0 = open */
	const struct prefix_set *local; /* the organisation's networks; NULL = private ranges */
	const struct pol_config *cfg;   /* NULL = defaults */
	logscan_verdict_fn on_verdict;  /* NULL = none */
	void *ctx;
	size_t max_messages; /* live queue IDs kept; 0 = 4 million */
	size_t max_records;  /* the engine's memory store (replay); 0 = LOGSCAN_RECORDS_MAX */
	/* suspect thresholds (0 = defaults) */
	uint64_t min_direct_attempts; /* netfilter SMTP attempts of one host (10) */
	uint64_t min_relayed;         /* unauthenticated relayed messages of one IP (3) */
	uint64_t min_backscatter;     /* bounces to remote addresses (20) */
};

enum logscan_kind {
	LOGSCAN_COMPROMISED_ACCOUNT = 0,
	LOGSCAN_OPEN_RELAY_ABUSE,
	LOGSCAN_DIRECT_SMTP,
	LOGSCAN_BRUTE_FORCE,
	LOGSCAN_AUTOREPLY_FLOOD,
	LOGSCAN_BACKSCATTER,
};

const char *logscan_kind_name(enum logscan_kind k);

#define LOGSCAN_EVIDENCE_MAX 10
#define LOGSCAN_EVIDENCE_LEN 160
#define LOGSCAN_LIST_MAX 8

/* brute_force: what the log shows, whatever the policy would have done: an
 * account that logged in from the IP after failures from it. */
struct logscan_login {
	char account[POL_USER_MAX];
	int64_t first_ms;         /* its first login from the IP after a failure */
	uint64_t failures_before; /* failures from the IP before that login */
	uint64_t messages_after;  /* messages the account sent from then on (any IP) */
};

struct logscan_suspect {
	enum logscan_kind kind;
	char account[POL_USER_MAX]; /* compromised_account, autoreply_flood */
	bool has_ip;
	struct addr ip; /* brute_force, open_relay_abuse: client; direct_smtp: host */
	double score;   /* 0..1 */
	int64_t first_ms, last_ms, blocked_ms; /* 0 = unknown / never */
	uint64_t count;                        /* failures, attempts, messages */
	uint64_t count2;  /* accounts tried, destinations, recipients, refused */
	bool count2_more; /* count2 is a lower bound */
	uint32_t n_evidence;
	char evidence[LOGSCAN_EVIDENCE_MAX][LOGSCAN_EVIDENCE_LEN];
	uint32_t n_names; /* brute_force: accounts that then logged in */
	char names[LOGSCAN_LIST_MAX][POL_USER_MAX];
	/* brute_force: the facts of those logins (names[i] is logins[i].account) */
	struct logscan_login logins[LOGSCAN_LIST_MAX];
	uint32_t n_logins;
	uint64_t logins_more; /* accounts beyond LOGSCAN_LIST_MAX */
	/* brute_force: what the replayed policy would have done (policy_rule empty:
	 * nothing); its time is blocked_ms */
	enum pol_action policy_action;
	char policy_rule[48];
	uint32_t n_ips; /* compromised_account: login IPs; backscatter: whose mail caused it */
	struct addr ips[LOGSCAN_LIST_MAX];
	uint64_t n_ips_total;
	char todo[400]; /* what to do next, one sentence or two */
};

/* The engine's records a replay keeps at most (~2.4 KB each: ~600 MB); an
 * identity past it is not counted (stats store_errors), like the scanner's
 * own tables drop what is past their caps. */
#define LOGSCAN_RECORDS_MAX (256u << 10)

struct logscan_stats {
	uint64_t lines, parsed, unparsed, too_long;
	uint64_t by_format[LOGSCAN_FORMATS]; /* parsed lines per enum logscan_format (0: unused) */
	uint64_t messages;                   /* MAIL events */
	uint64_t events;                     /* events given to the engine */
	uint64_t verdicts;                   /* of them, not allow */
	uint64_t out_of_order;               /* lines older than the one before (time held) */
	uint64_t outside;                    /* lines outside --since/--until */
	uint64_t store_errors;
	uint64_t queue_ids_peak, queue_ids_dropped, unmatched;
	int64_t first_ms, last_ms;
};

struct logscan;

/* NULL with err set when the options are wrong or memory is short. */
struct logscan *logscan_new(const struct logscan_opts *o, char *err, size_t errlen);
void logscan_free(struct logscan *s);

/* Starts an input: its name (for replay's "file:line") and a reference time for
 * the year of classic stamps (its mtime; 0 = unknown, use the given year or the
 * last one seen). */
void logscan_begin(struct logscan *s, const char *name, int64_t ref_ms);
/* One line, without its newline. 0, or -1 when the engine's store failed. */
int logscan_line(struct logscan *s, const char *p, size_t len);
/* Which reader a parsed line (l from logline_parse of p, len) is for, and the text
 * it reads in *msg (an Exim line under syslog: l becomes its inner line).
 * LOGSCAN_AUTO: none. Shared with the live log follower (forensics/authline). */
enum logscan_format logscan_line_format(const char *p, size_t len, struct logline *l,
                                        struct logspan *msg);
/* Counts a line that was too long to read. */
void logscan_line_too_long(struct logscan *s);

/* After the last line: the suspects, most urgent first (owned by s, valid until
 * logscan_free). 0 or -1 (no memory). */
int logscan_finish(struct logscan *s, const struct logscan_suspect **out, size_t *n);
const struct logscan_stats *logscan_stats(const struct logscan *s);

/* Epoch ms of "2026-11-02", "2026-11-02T10:00:00Z" or an RFC 3339 time. 0 or -1. */
int logscan_parse_time(const char *s, int64_t *out_ms);

#endif
