/*
 * series - hourly message counts, client IPs and verdicts per identity; see series.h.
 */
#include "admin/series.h"

#include "core/hash.h"
#include "core/log.h"
#include "core/str.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SERIES_HOUR_MS 3600000LL

struct series_hist {
	int64_t newest; /* absolute hour of the newest bucket; -1 before the first */
	uint32_t count[SERIES_HOURS];
};

struct series_ident {
	bool used;
	uint64_t hash;
	int64_t last_ms;
	char name[SERIES_IDENT_MAX];
	struct series_hist hist;
	size_t nips;
	struct series_ip ips[SERIES_IPS]; /* most recent first */
	size_t nverdicts, vhead;          /* ring; vhead is the next slot */
	struct series_verdict verdicts[SERIES_VERDICTS];
};

struct series {
	struct series_hist all;
	struct series_ident idents[SERIES_IDENTS];
};

static int64_t series_hour(int64_t ms)
{
	return ms >= 0 ? ms / SERIES_HOUR_MS : (ms - SERIES_HOUR_MS + 1) / SERIES_HOUR_MS;
}

static size_t series_slot(int64_t hour)
{
	int64_t m = hour % SERIES_HOURS;
	return (size_t)(m < 0 ? m + SERIES_HOURS : m);
}

static void series_hist_add(struct series_hist *h, int64_t now_ms, uint32_t n)
{
	int64_t hour = series_hour(now_ms);
	if (h->newest < 0 || hour - h->newest >= SERIES_HOURS) {
		memset(h->count, 0, sizeof h->count);
		h->newest = hour;
	} else if (hour > h->newest) {
		for (int64_t k = h->newest + 1; k <= hour; k++)
			h->count[series_slot(k)] = 0;
		h->newest = hour;
	} else if (h->newest - hour >= SERIES_HOURS) {
		return; /* older than the window */
	}
	uint32_t *c = &h->count[series_slot(hour)];
	*c = *c > UINT32_MAX - n ? UINT32_MAX : *c + n;
}

static uint64_t series_hist_read(const struct series_hist *h, int64_t now_ms, uint32_t *out,
                                 size_t n)
{
	uint64_t total = 0;
	int64_t hour = series_hour(now_ms);
	for (size_t i = 0; i < n; i++) {
		int64_t k = hour - (int64_t)(n - 1 - i);
		uint32_t v = 0;
		if (h->newest >= 0 && k <= h->newest && h->newest - k < SERIES_HOURS)
			v = h->count[series_slot(k)];
		out[i] = v;
		total += v;
	}
	return total;
}

struct series *series_new(void)
{
	struct series *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->all.newest = -1;
	return s;
}

void series_free(struct series *s)
{
	free(s);
}

static const struct series_ident *series_find(const struct series *s, const char *identity)
{
	uint64_t h = hash_fnv1a64_str(identity);
	for (size_t i = 0; i < SERIES_IDENTS; i++)
		if (s->idents[i].used && s->idents[i].hash == h &&
		    strcmp(s->idents[i].name, identity) == 0)
			return &s->idents[i];
	return NULL;
}

/* The entry of identity, made (evicting the least recently seen) when absent. */
static struct series_ident *series_get(struct series *s, const char *identity, int64_t now_ms)
{
	struct series_ident *id = (struct series_ident *)series_find(s, identity);
	if (id)
		return id;
	struct series_ident *victim = &s->idents[0];
	for (size_t i = 0; i < SERIES_IDENTS; i++) {
		if (!s->idents[i].used) {
			victim = &s->idents[i];
			break;
		}
		if (s->idents[i].last_ms < victim->last_ms)
			victim = &s->idents[i];
	}
	memset(victim, 0, sizeof *victim);
	victim->used = true;
	victim->hash = hash_fnv1a64_str(identity);
	victim->hist.newest = -1;
	victim->last_ms = now_ms;
	if (str_copy(victim->name, sizeof victim->name, identity) != 0)
		panic("series_get: identity longer than POL_IDENT_MAX"); /* SERIES_IDENT_MAX */
	return victim;
}

static void series_note_ip(struct series_ident *id, const char *ip, int64_t now_ms)
{
	size_t i = 0;
	while (i < id->nips && strcmp(id->ips[i].ip, ip) != 0)
		i++;
	struct series_ip cur = {.count = 0};
	if (i < id->nips) {
		cur = id->ips[i];
	} else {
		if (id->nips < SERIES_IPS)
			id->nips++;
		i = id->nips - 1; /* the oldest makes room */
		if (str_copy(cur.ip, sizeof cur.ip, ip) != 0)
			return;
	}
	memmove(&id->ips[1], &id->ips[0], i * sizeof id->ips[0]);
	cur.last_ms = now_ms;
	if (cur.count < UINT32_MAX)
		cur.count++;
	id->ips[0] = cur;
}

int series_record(struct series *s, int64_t now_ms, const char *identity, const char *ip,
                  uint32_t messages, const char *action, const char *rule, const char *reason)
{
	if (!identity || !identity[0])
		return -1;
	bool allow = !action || strcmp(action, "allow") == 0;
	if (messages == 0 && allow)
		return 0; /* a block check that found nothing: no news */
	struct series_ident *id = series_get(s, identity, now_ms);
	if (now_ms > id->last_ms)
		id->last_ms = now_ms;
	if (messages) {
		series_hist_add(&id->hist, now_ms, messages);
		series_hist_add(&s->all, now_ms, messages);
	}
	if (ip && ip[0])
		series_note_ip(id, ip, now_ms);
	if (allow)
		return 0;
	struct series_verdict *v = &id->verdicts[id->vhead];
	memset(v, 0, sizeof *v);
	v->time_ms = now_ms;
	if (str_copy(v->action, sizeof v->action, action ? action : "allow") != 0)
		panic("series_record: v->action does not fit");
	if (str_copy(v->rule, sizeof v->rule, rule ? rule : "") != 0)
		panic("series_record: v->rule does not fit");
	str_copy_trunc(v->reason, sizeof v->reason, reason ? reason : "");
	id->vhead = (id->vhead + 1) % SERIES_VERDICTS;
	if (id->nverdicts < SERIES_VERDICTS)
		id->nverdicts++;
	return 0;
}

uint64_t series_hours(const struct series *s, const char *identity, int64_t now_ms, uint32_t *out,
                      size_t n)
{
	if (n > SERIES_HOURS)
		n = SERIES_HOURS;
	static const struct series_hist none = {.newest = -1};
	const struct series_hist *h = &s->all;
	if (identity) {
		const struct series_ident *id = series_find(s, identity);
		h = id ? &id->hist : &none;
	}
	return series_hist_read(h, now_ms, out, n);
}

void series_details(const struct series *s, const char *identity, struct series_ip *ips,
                    size_t *nips, struct series_verdict *verdicts, size_t *nverdicts)
{
	const struct series_ident *id = series_find(s, identity);
	*nips = *nverdicts = 0;
	if (!id)
		return;
	*nips = id->nips;
	memcpy(ips, id->ips, id->nips * sizeof *ips);
	for (size_t i = 0; i < id->nverdicts; i++)
		verdicts[i] = id->verdicts[(id->vhead + SERIES_VERDICTS - 1 - i) % SERIES_VERDICTS];
	*nverdicts = id->nverdicts;
}

size_t series_identities(const struct series *s, char (*names)[SERIES_IDENT_MAX], size_t max)
{
	const struct series_ident *order[SERIES_IDENTS];
	size_t n = 0;
	for (size_t i = 0; i < SERIES_IDENTS; i++) {
		if (!s->idents[i].used)
			continue;
		/* insertion sort on last_ms, newest first; few entries in practice */
		size_t k = n++;
		while (k > 0 && order[k - 1]->last_ms < s->idents[i].last_ms) {
			order[k] = order[k - 1];
			k--;
		}
		order[k] = &s->idents[i];
	}
	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++)
		if (str_copy(names[i], SERIES_IDENT_MAX, order[i]->name) != 0)
			panic("series_identities: names[i] does not fit");
	return n;
}
