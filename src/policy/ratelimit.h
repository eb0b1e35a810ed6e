/*
 * ratelimit - the rate arithmetic of the policy engine, pure: no store, no clock.
 *
 * The EWMA follows Exim's ratelimit ACL condition (spec "Rate limiting
 * incoming messages"): with i the time since the last update, p the period
 * and a = exp(-i/p),
 *
 *     rate = (1 - a) * count / (i/p) + a * rate
 *
 * and when the result is below count it becomes count, so the first event
 * after a long silence counts fully. The limit m is both the rate per p and
 * the largest burst; a rate at the limit counts as over it (a limit of 0
 * blocks everything). Modes: leaky (the default) does not store the new rate
 * while over, so it measures what got through and retries do not prolong a
 * block; strict always stores it, so it measures attempts; readonly never
 * stores.
 *
 * Distinct counters (per_rcpt/unique= in Exim) are a fixed-size Bloom filter
 * discarded at the end of each window, counting insertions that were new;
 * it is blocked (all probes of a value in one 64-byte line) for speed.
 * A small exact set of 32-bit hashes serves the low daily counts (client IPs,
 * networks, envelope senders per account) and saturates rather than grows.
 */
#ifndef RG_POLICY_RATELIMIT_H
#define RG_POLICY_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ratelimit_mode { RATELIMIT_LEAKY = 0, RATELIMIT_STRICT, RATELIMIT_READONLY };

struct ratelimit_ewma {
	double rate;     /* events per period */
	int64_t last_ms; /* time of the last stored update; 0 = never */
};

/* The rate an event of weight count at now_ms would give, without storing it. */
double ratelimit_ewma_peek(const struct ratelimit_ewma *s, double count, int64_t now_ms,
                           int64_t period_ms);
/* Checks and updates by mode; true when the new rate is at or above limit.
 * *rate_out (may be NULL) gets the new rate whether or not it was stored. */
bool ratelimit_ewma_hit(struct ratelimit_ewma *s, double count, double limit, int64_t period_ms,
                        enum ratelimit_mode mode, int64_t now_ms, double *rate_out);
/* The stored rate decayed to now_ms without adding an event (for display). */
double ratelimit_ewma_decayed(const struct ratelimit_ewma *s, int64_t now_ms, int64_t period_ms);

/* A value that decays exponentially with time constant tau_ms (counts of
 * sent and rejected recipients, auth failures). */
struct ratelimit_decay {
	double value;
	int64_t last_ms;
};
void ratelimit_decay_add(struct ratelimit_decay *d, double n, int64_t now_ms, int64_t tau_ms);
double ratelimit_decay_value(const struct ratelimit_decay *d, int64_t now_ms, int64_t tau_ms);

/* A Bloom filter's state; its bits live beside it (nwords 64-bit words, a
 * power of two), so records can size each filter to its limit. */
struct ratelimit_bloom {
	int64_t window_start_ms;
	uint32_t count; /* insertions that were new in this window */
	uint32_t nbits; /* a power of two >= 64 */
};
/* Empties the filter; nwords a power of two. 0 or -1. */
int ratelimit_bloom_init(struct ratelimit_bloom *b, uint64_t *bits, size_t nwords);
/* Adds a value (hashed); starts a new window when period_ms has passed.
 * Returns the distinct count in the window after the insertion. */
uint32_t ratelimit_bloom_add(struct ratelimit_bloom *b, uint64_t *bits, size_t nwords,
                             const void *data, size_t len, int64_t now_ms, int64_t period_ms);
/* The same with the value's ratelimit_hash() already computed. */
uint32_t ratelimit_bloom_add_hash(struct ratelimit_bloom *b, uint64_t *bits, size_t nwords,
                                  uint64_t h, int64_t now_ms, int64_t period_ms);
/* Asks the CPU to start loading the cache line an add of hash h will touch,
 * so that a caller with several values overlaps their memory misses. */
void ratelimit_bloom_prefetch(const struct ratelimit_bloom *b, const uint64_t *bits, size_t nwords,
                              uint64_t h);
/* The count the next add would start from (0 if the window ran out). */
uint32_t ratelimit_bloom_count(const struct ratelimit_bloom *b, int64_t now_ms, int64_t period_ms);

#define RATELIMIT_SET_MAX 32
struct ratelimit_set {
	uint32_t h[RATELIMIT_SET_MAX];
	uint32_t n;     /* distinct values seen; may pass RATELIMIT_SET_MAX */
	int64_t window; /* window number (now / period) the set belongs to */
};
/* Adds a hash in window number win (a new window empties the set); returns the count. */
uint32_t ratelimit_set_add(struct ratelimit_set *s, uint32_t hash, int64_t win);
uint32_t ratelimit_set_count(const struct ratelimit_set *s, int64_t win);

/* Eight bytes at a time through a 64-bit multiply, then the murmur3
 * finaliser (not FNV-1a, not core/hash: its values are kept in the engine's
 * records in the store, the sets' hashes and the Bloom filters' bits, so it
 * must not change). */
uint64_t ratelimit_hash(const void *data, size_t len);

#endif
