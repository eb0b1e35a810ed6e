/*
 * engine - the policy engine: an event and the state store in, a verdict
 * with its reasons out. Pure: the time is the event's, there are no sockets,
 * no clock calls and no logging here (STYLE rule 6), so live traffic and a
 * replay of the same events decide the same thing (DESIGN invariant 6).
 *
 * Identity of a sender: the authenticated user, else the client IP (IPv6 per
 * /64 by default), else the envelope sender's domain. A MAIL flagged
 * POL_F_RELAYED (a trusted relay identified by sender) is decided for its
 * sender and counted on the relay's ip: identity as well, whose limits are
 * [limits] times [identity] relay_limit_factor and which is never blocked
 * automatically (only by a person). Nothing is exempt
 * because of its network. Blocks hold mail rather than drop it (invariant 3):
 * a block is a 5xx at MAIL for that identity, so the client keeps the mail,
 * and "hold" accepts into the hold queue. docs/policy.md has every rule.
 */
#ifndef RG_POLICY_ENGINE_H
#define RG_POLICY_ENGINE_H

#include "policy/config.h"
#include "policy/event.h"
#include "policy/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pol_action {
	POL_ALLOW = 0,
	POL_WARN,  /* accept; tell the admin */
	POL_DEFER, /* 4xx */
	POL_HOLD,  /* accept into the hold queue */
	POL_BLOCK, /* 5xx at MAIL/RCPT for this identity */
};

#define POL_REASONS_MAX 8
#define POL_REASON_LEN 120

struct pol_verdict {
	enum pol_action action;
	char rule[48];
	char identity[POL_IDENT_MAX];
	/* the identity the action is about when it is not identity: the block met
	 * (ip:, cidr:, domain:), or the trusted relay whose own limit fired; "" = identity */
	char about[POL_IDENT_MAX];
	uint32_t n_reasons;
	char reasons[POL_REASONS_MAX][POL_REASON_LEN]; /* only [0, n_reasons) are set */
	uint32_t delay_ms; /* the SMTP layer waits this long before answering */
	int score;
	bool block_created;
	int64_t block_expires_ms; /* of the block created or met; 0 = until lifted */
};

struct pol_engine;

/* The engine keeps pointers to both: they must outlive it. NULL on no memory
 * or when the store cannot be read. */
struct pol_engine *pol_engine_new(const struct pol_config *cfg, struct store *store);
/* How long an identity's record lives after its last event: the longest
 * window of cfg (its records carry that expiry and are swept). */
int64_t pol_engine_rec_ttl(const struct pol_config *cfg);
void pol_engine_free(struct pol_engine *e);

/* Decides on one event and updates the store. 0, or -1 when the store failed
 * (out then says allow with rule "store_error": fail open, the caller logs). */
int pol_engine_evaluate(struct pol_engine *e, const struct pol_event *ev, struct pol_verdict *out);

/* A person's block / unblock (POL_EV_BLOCK / POL_EV_UNBLOCK do the same).
 * expires_ms 0 = until lifted. Unblock lifts the block and resets the
 * identity's counters and score. 0, 1 (unblock: there was no block), -1. */
int pol_engine_block(struct pol_engine *e, const char *identity, const char *actor,
                     const char *reason, int64_t now_ms, int64_t expires_ms);
int pol_engine_unblock(struct pol_engine *e, const char *identity, const char *actor,
                       const char *reason, int64_t now_ms);
/* The canonical form of an identity a person typed: "user:"/"domain:" lower
 * case, "ip:" as the engine keys it (IPv6 per prefix), "cidr:" with host bits
 * cleared. 0 or -1 (not an identity). */
int pol_engine_normalize(const struct pol_engine *e, const char *in, char *out, size_t size);
/* Rereads range blocks from the store (another node may have added some). */
int pol_engine_reload(struct pol_engine *e);
/* Only the blocks: BLOCK when the event's identity, IP, range or sender domain is
 * blocked, ALLOW otherwise; counts nothing. For requests that come before the message
 * is known (a Postfix RCPT check when counting happens at end of message). 0, or -1
 * on a store error (verdict allow). */
int pol_engine_check_blocks(struct pol_engine *e, const struct pol_event *ev,
                            struct pol_verdict *out);

/* What the engine has counted for an identity, as at now_ms: each limit's
 * rate (the EWMA decayed to now; for the distinct counters their count in the
 * window), messages today, recipients tried (decaying over [signals]
 * rejected_time), distinct client IPs today, automatic blocks so far. */
struct pol_counters {
	double limit[POL_LIM_N]; /* by enum pol_limit_id */
	uint32_t messages_today;
	double recipients;
	uint32_t ips_today;
	uint32_t offences;
};
/* 1 with *out filled, 0 when the identity has no record (or is not one), -1 on a
 * store error. The identity is normalised as pol_engine_normalize does. */
int pol_engine_counters(struct pol_engine *e, const char *identity, int64_t now_ms,
                        struct pol_counters *out);

/* The identity an event is decided for ("" when it has none). */
void pol_engine_identity(const struct pol_engine *e, const struct pol_event *ev, char *out,
                         size_t size);

const char *pol_action_name(enum pol_action a);
/* For the rule modules (inmem.c): raise v to action a with rule (never lowers it),
 * and add a reason (at most POL_REASONS_MAX, each cut to POL_REASON_LEN). */
void pol_verdict_escalate(struct pol_verdict *v, enum pol_action a, const char *rule);
void pol_verdict_reason(struct pol_verdict *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "hold user:a@b rule=compromise score=80 block=T+3600: reason; reason"; times
 * relative to base_ms. 0, or -1 when cut. */
int pol_verdict_format(const struct pol_verdict *v, int64_t base_ms, char *out, size_t size);

#endif
