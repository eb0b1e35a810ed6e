/*
 * weblock - web-login lockouts; see weblock.h.
 */
#include "admin/weblock.h"

#include <string.h>

void weblock_init(struct weblock *l, uint32_t max_failures, int64_t period_ms, int64_t lockout_ms,
                  uint64_t delay_ms, uint64_t delay_max_ms)
{
	memset(l, 0, sizeof *l);
	l->max_failures = max_failures ? max_failures : 10;
	l->period_ms = period_ms > 0 ? period_ms : 15 * 60000;
	l->lockout_ms = lockout_ms > 0 ? lockout_ms : 3600000;
	l->delay_ms = delay_ms;
	l->delay_max_ms = delay_max_ms;
}

static struct weblock_entry *weblock_find(const struct weblock *l, const struct addr *ip)
{
	for (size_t i = 0; i < WEBLOCK_SLOTS; i++)
		if (l->e[i].used && addr_equal(&l->e[i].ip, ip))
			return (struct weblock_entry *)&l->e[i];
	return NULL;
}

/* A free slot, or the one seen longest ago that is not locked (else the oldest). */
static struct weblock_entry *weblock_slot(struct weblock *l, int64_t now_ms)
{
	struct weblock_entry *old = NULL, *old_unlocked = NULL;
	for (size_t i = 0; i < WEBLOCK_SLOTS; i++) {
		struct weblock_entry *e = &l->e[i];
		if (!e->used)
			return e;
		if (!old || e->last_ms < old->last_ms)
			old = e;
		if (e->until_ms <= now_ms && (!old_unlocked || e->last_ms < old_unlocked->last_ms))
			old_unlocked = e;
	}
	return old_unlocked ? old_unlocked : old;
}

bool weblock_locked(const struct weblock *l, const struct addr *ip, int64_t now_ms)
{
	const struct weblock_entry *e = weblock_find(l, ip);
	return e && e->until_ms > now_ms;
}

bool weblock_fail(struct weblock *l, const struct addr *ip, int64_t now_ms, bool lock,
                  uint32_t *delay_ms)
{
	struct weblock_entry *e = weblock_find(l, ip);
	if (!e) {
		e = weblock_slot(l, now_ms);
		memset(e, 0, sizeof *e);
		e->used = true;
		e->ip = *ip;
	}
	if (e->failures == 0 || now_ms - e->first_ms > l->period_ms) {
		e->failures = 0;
		e->first_ms = now_ms;
	}
	e->failures++;
	e->last_ms = now_ms;
	uint64_t d = l->delay_ms;
	for (uint32_t i = 1; i < e->failures && d < l->delay_max_ms; i++)
		d *= 2;
	if (d > l->delay_max_ms)
		d = l->delay_max_ms;
	*delay_ms = (uint32_t)d;
	if (lock && e->failures > l->max_failures && e->until_ms <= now_ms) {
		e->until_ms = now_ms + l->lockout_ms;
		return true;
	}
	return false;
}

void weblock_success(struct weblock *l, const struct addr *ip)
{
	struct weblock_entry *e = weblock_find(l, ip);
	if (e)
		memset(e, 0, sizeof *e);
}
