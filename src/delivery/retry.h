/*
 * retry - when to try a deferred message again, and when to give up.
 *
 * Pure. The schedule is Postfix's: the first retry minimal_backoff after the
 * first failure, the gap doubling with every attempt up to maximal_backoff,
 * and a message that has been in the queue longer than the lifetime is
 * returned (5.4.7 "delivery time expired") instead of tried again.
 * Defaults: 300 s, 4000 s, 5 days (postconf minimal_backoff_time,
 * maximal_backoff_time, maximal_queue_lifetime).
 */
#ifndef RG_DELIVERY_RETRY_H
#define RG_DELIVERY_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#define RETRY_MIN_BACKOFF_MS (300ull * 1000)
#define RETRY_MAX_BACKOFF_MS (4000ull * 1000)
#define RETRY_LIFETIME_MS (5ull * 24 * 3600 * 1000)

struct retry_policy {
	uint64_t min_backoff_ms;
	uint64_t max_backoff_ms;
	uint64_t lifetime_ms;
};

void retry_policy_default(struct retry_policy *p);
/* The gap after the attempts-th failed attempt (attempts >= 1). */
uint64_t retry_backoff_ms(const struct retry_policy *p, unsigned attempts);
/* The time of the next attempt after a deferral at now_ms. */
uint64_t retry_next_ms(const struct retry_policy *p, unsigned attempts, uint64_t now_ms);
/* true when a message that arrived at arrival_ms must not be tried again. */
bool retry_expired(const struct retry_policy *p, uint64_t arrival_ms, uint64_t now_ms);

#endif
