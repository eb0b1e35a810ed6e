/*
 * dest - destination table and connection limits; see dest.h.
 */
#include "delivery/dest.h"

#include "core/hash.h"
#include "core/str.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a from the starting value this table has always used (the standard
 * basis without its last digit): the bucket order decides which waiting
 * destination deliver_kick_waiting() gives a free connection first, so the
 * values stay what they were. */
#define DEST_HASH_START 1469598103934665603ULL

static size_t dest_hash(const char *s, size_t n)
{
	return (size_t)(hash_fnv1a64_str_add(DEST_HASH_START, s) % n);
}

int dest_table_init(struct dest_table *t, unsigned concurrency, unsigned max_connections)
{
	memset(t, 0, sizeof *t);
	t->nbuckets = 1024;
	t->buckets = calloc(t->nbuckets, sizeof *t->buckets);
	t->concurrency = concurrency ? concurrency : 1;
	t->max_connections = max_connections ? max_connections : 1;
	return t->buckets ? 0 : -1;
}

void dest_table_free(struct dest_table *t, void (*free_user)(void *))
{
	for (size_t i = 0; t->buckets && i < t->nbuckets; i++) {
		struct dest *d = t->buckets[i];
		while (d) {
			struct dest *n = d->next;
			if (free_user && d->user)
				free_user(d->user);
			free(d);
			d = n;
		}
	}
	free(t->buckets);
	t->buckets = NULL;
	t->count = 0;
}

struct dest *dest_find(struct dest_table *t, const char *key)
{
	for (struct dest *d = t->buckets[dest_hash(key, t->nbuckets)]; d; d = d->next)
		if (strcmp(d->key, key) == 0)
			return d;
	return NULL;
}

struct dest *dest_get(struct dest_table *t, const char *key)
{
	struct dest *d = dest_find(t, key);
	if (d)
		return d;
	d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	if (str_copy(d->key, sizeof d->key, key) != 0) {
		free(d);
		return NULL;
	}
	size_t b = dest_hash(key, t->nbuckets);
	d->next = t->buckets[b];
	t->buckets[b] = d;
	t->count++;
	return d;
}

void *dest_remove(struct dest_table *t, struct dest *d)
{
	if (d->active || d->waiting)
		return NULL;
	struct dest **pp = &t->buckets[dest_hash(d->key, t->nbuckets)];
	while (*pp && *pp != d)
		pp = &(*pp)->next;
	if (!*pp)
		return NULL;
	*pp = d->next;
	void *u = d->user;
	free(d);
	t->count--;
	return u;
}

bool dest_may_open(const struct dest_table *t, const struct dest *d)
{
	return d->active < t->concurrency && t->active < t->max_connections;
}

void dest_opened(struct dest_table *t, struct dest *d)
{
	d->active++;
	t->active++;
}

void dest_closed(struct dest_table *t, struct dest *d)
{
	if (d->active)
		d->active--;
	if (t->active)
		t->active--;
}

void dest_mark_dead(struct dest *d, uint64_t now_ms, uint64_t for_ms, const char *reason)
{
	d->dead_until_ms = now_ms + for_ms;
	if (str_copy(d->dead_reason, sizeof d->dead_reason, reason) != 0) {
		/* cut */
	}
}

bool dest_is_dead(struct dest *d, uint64_t now_ms)
{
	if (d->dead_until_ms && now_ms >= d->dead_until_ms)
		d->dead_until_ms = 0;
	return d->dead_until_ms != 0;
}
