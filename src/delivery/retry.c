/*
 * retry - the backoff schedule; see retry.h.
 */
#include "delivery/retry.h"

void retry_policy_default(struct retry_policy *p)
{
	p->min_backoff_ms = RETRY_MIN_BACKOFF_MS;
	p->max_backoff_ms = RETRY_MAX_BACKOFF_MS;
	p->lifetime_ms = RETRY_LIFETIME_MS;
}

uint64_t retry_backoff_ms(const struct retry_policy *p, unsigned attempts)
{
	uint64_t gap = p->min_backoff_ms ? p->min_backoff_ms : 1;
	for (unsigned i = 1; i < attempts && gap < p->max_backoff_ms; i++)
		gap *= 2;
	return gap > p->max_backoff_ms ? p->max_backoff_ms : gap;
}

uint64_t retry_next_ms(const struct retry_policy *p, unsigned attempts, uint64_t now_ms)
{
	return now_ms + retry_backoff_ms(p, attempts ? attempts : 1);
}

bool retry_expired(const struct retry_policy *p, uint64_t arrival_ms, uint64_t now_ms)
{
	return now_ms >= arrival_ms && now_ms - arrival_ms >= p->lifetime_ms;
}
