/*
 * dest - destination table and connection limits; see dest.h.
 */
#include "delivery/dest.h"

#include "core/hash.h"
#include "core/htab.h"
#include "core/str.h"

#include <stdlib.h>
#include <string.h>

static uint64_t dest_hash(const char *key)
{
	return hash_fnv1a64_str(key);
}

static bool dest_eq(const void *item, const void *key)
{
	return strcmp(((const struct dest *)item)->key, key) == 0;
}

int dest_table_init(struct dest_table *t, unsigned concurrency, unsigned max_connections)
{
	memset(t, 0, sizeof *t);
	htab_init(&t->index, 0);
	t->concurrency = concurrency ? concurrency : 1;
	t->max_connections = max_connections ? max_connections : 1;
	return htab_reserve(&t->index, 64);
}

void dest_table_free(struct dest_table *t, void (*free_user)(void *))
{
	size_t pos = 0;
	for (struct dest *d; (d = htab_next(&t->index, &pos));) {
		if (free_user && d->user)
			free_user(d->user);
		free(d);
	}
	htab_free(&t->index);
}

struct dest *dest_find(struct dest_table *t, const char *key)
{
	return htab_find(&t->index, dest_hash(key), dest_eq, key);
}

struct dest *dest_get(struct dest_table *t, const char *key)
{
	struct dest *d = dest_find(t, key);
	if (d)
		return d;
	d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	if (str_copy(d->key, sizeof d->key, key) != 0 ||
	    htab_insert(&t->index, dest_hash(key), d) != 0) {
		free(d);
		return NULL;
	}
	return d;
}

void *dest_remove(struct dest_table *t, struct dest *d)
{
	if (d->active || d->waiting)
		return NULL;
	if (!htab_remove(&t->index, dest_hash(d->key), d))
		return NULL;
	void *u = d->user;
	free(d);
	return u;
}

struct dest *dest_next(const struct dest_table *t, size_t *pos)
{
	return htab_next(&t->index, pos);
}

size_t dest_count(const struct dest_table *t)
{
	return htab_count(&t->index);
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
