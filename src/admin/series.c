/*
 * series - hourly message counts, client IPs and verdicts per identity; see series.h.
 */
#include "admin/series.h"

#include "core/hash.h"
#include "core/htab.h"
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

/* What finding an identity and choosing one to evict read, apart from the
 * entries themselves (several KB each). */
struct series_key {
	bool used;
	uint64_t hash;
	int64_t last_ms;
};

struct series_ident {
	char name[SERIES_IDENT_MAX];
	struct series_hist hist;
	size_t nips;
	struct series_ip ips[SERIES_IPS]; /* most recent first */
	size_t nverdicts, vhead;          /* ring; vhead is the next slot */
	struct series_verdict verdicts[SERIES_VERDICTS];
};

struct series {
	struct series_hist all;
	struct series_key keys[SERIES_IDENTS]; /* keys[i] is idents[i]'s */
	/* the entries by (used, last_ms, index), least first: the root is the
	 * one to evict, the first unused or the least recently seen (the lowest
	 * index among equals), as a scan of them all would choose */
	uint16_t heap[SERIES_IDENTS];
	uint16_t pos[SERIES_IDENTS];  /* an entry's place in heap */
	struct series_ident idents[SERIES_IDENTS];
	struct htab index; /* of the used idents by name */
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
	for (size_t i = 0; i < SERIES_IDENTS; i++)
		s->heap[i] = s->pos[i] = (uint16_t)i; /* all unused, by index: a heap */
	htab_init(&s->index, SERIES_IDENTS);
	if (htab_reserve(&s->index, SERIES_IDENTS) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

static bool series_before(const struct series *s, size_t a, size_t b)
{
	const struct series_key *x = &s->keys[a], *y = &s->keys[b];
	if (x->used != y->used)
		return !x->used;
	if (x->last_ms != y->last_ms)
		return x->last_ms < y->last_ms;
	return a < b;
}

static void series_heap_set(struct series *s, size_t at, size_t entry)
{
	s->heap[at] = (uint16_t)entry;
	s->pos[entry] = (uint16_t)at;
}

/* entry's key changed: back into its place */
static void series_heap_fix(struct series *s, size_t entry)
{
	size_t at = s->pos[entry];
	while (at > 0 && series_before(s, entry, s->heap[(at - 1) / 2])) {
		series_heap_set(s, at, s->heap[(at - 1) / 2]);
		at = (at - 1) / 2;
	}
	for (;;) {
		size_t c = 2 * at + 1;
		if (c >= SERIES_IDENTS)
			break;
		if (c + 1 < SERIES_IDENTS && series_before(s, s->heap[c + 1], s->heap[c]))
			c++;
		if (!series_before(s, s->heap[c], entry))
			break;
		series_heap_set(s, at, s->heap[c]);
		at = c;
	}
	series_heap_set(s, at, entry);
}

void series_free(struct series *s)
{
	if (s)
		htab_free(&s->index);
	free(s);
}

static bool series_ident_eq(const void *item, const void *key)
{
	return strcmp(((const struct series_ident *)item)->name, key) == 0;
}

static const struct series_ident *series_find(const struct series *s, const char *identity)
{
	return htab_find(&s->index, hash_fnv1a64_str(identity), series_ident_eq, identity);
}

/* The entry of identity, made (evicting the least recently seen) when absent;
 * NULL when the name does not fit. */
static struct series_ident *series_get(struct series *s, const char *identity, int64_t now_ms)
{
	struct series_ident *id = (struct series_ident *)series_find(s, identity);
	if (id)
		return id;
	if (strlen(identity) >= SERIES_IDENT_MAX)
		return NULL;
	size_t v = s->heap[0];
	struct series_ident *victim = &s->idents[v];
	if (s->keys[v].used)
		(void)htab_remove(&s->index, s->keys[v].hash, victim);
	memset(victim, 0, sizeof *victim);
	if (str_copy(victim->name, sizeof victim->name, identity) != 0)
		panic("series: %zu-byte name checked to fit did not", strlen(identity));
	s->keys[v].used = true;
	s->keys[v].hash = hash_fnv1a64_str(identity);
	s->keys[v].last_ms = now_ms;
	if (htab_insert(&s->index, s->keys[v].hash, victim) != 0)
		panic("series: the index reserved for every entry is full");
	series_heap_fix(s, v);
	victim->hist.newest = -1;
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
	if (!id)
		return -1;
	struct series_key *key = &s->keys[id - s->idents];
	if (now_ms > key->last_ms) {
		key->last_ms = now_ms;
		series_heap_fix(s, (size_t)(id - s->idents));
	}
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
	size_t order[SERIES_IDENTS];
	size_t n = 0;
	for (size_t i = 0; i < SERIES_IDENTS; i++) {
		if (!s->keys[i].used)
			continue;
		/* insertion sort on last_ms, newest first; few entries in practice */
		size_t k = n++;
		while (k > 0 && s->keys[order[k - 1]].last_ms < s->keys[i].last_ms) {
			order[k] = order[k - 1];
			k--;
		}
		order[k] = i;
	}
	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++)
		if (str_copy(names[i], SERIES_IDENT_MAX, s->idents[order[i]].name) != 0)
			panic("series_identities: names[i] does not fit");
	return n;
}
