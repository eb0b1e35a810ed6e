/*
 * htab - open-addressing index of the caller's entries; see htab.h.
 */
#include "core/htab.h"

#include <stdlib.h>
#include <string.h>

#define HTAB_MIN_CAP 16

static char htab_tomb_byte;
#define HTAB_TOMB ((void *)&htab_tomb_byte)

void htab_init(struct htab *t, size_t max)
{
	memset(t, 0, sizeof *t);
	t->max = max;
}

void htab_free(struct htab *t)
{
	free(t->slot);
	t->slot = NULL;
	t->cap = t->n = t->used = 0;
}

/* Moves the live entries into cap fresh slots. 0 or -1 (no memory). */
static int htab_rehash(struct htab *t, size_t cap)
{
	struct htab_slot *s = calloc(cap, sizeof *s);
	if (!s)
		return -1;
	size_t mask = cap - 1;
	for (size_t i = 0; i < t->cap; i++) {
		void *item = t->slot[i].item;
		if (!item || item == HTAB_TOMB)
			continue;
		size_t j = (size_t)t->slot[i].hash & mask;
		while (s[j].item)
			j = (j + 1) & mask;
		s[j] = t->slot[i];
	}
	free(t->slot);
	t->slot = s;
	t->cap = cap;
	t->used = t->n;
	return 0;
}

int htab_reserve(struct htab *t, size_t n)
{
	size_t cap = HTAB_MIN_CAP;
	while (cap < (n + 1) * 2) {
		if (cap > SIZE_MAX / 4 / sizeof(struct htab_slot))
			return -1;
		cap *= 2;
	}
	return cap > t->cap ? htab_rehash(t, cap) : 0;
}

void *htab_find(const struct htab *t, uint64_t hash, htab_eq_fn eq, const void *key)
{
	if (!t->cap)
		return NULL;
	size_t mask = t->cap - 1;
	for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
		const struct htab_slot *s = &t->slot[i];
		if (!s->item)
			return NULL;
		if (s->hash == hash && s->item != HTAB_TOMB && eq(s->item, key))
			return s->item;
	}
}

int htab_insert(struct htab *t, uint64_t hash, void *item)
{
	if (!item || htab_full(t))
		return -1;
	if ((t->used + 1) * 4 > t->cap * 3) {
		size_t cap = t->cap ? t->cap : HTAB_MIN_CAP;
		if ((t->n + 1) * 2 > cap) {
			if (cap > SIZE_MAX / 4 / sizeof(struct htab_slot))
				return -1;
			cap *= 2;
		}
		if (htab_rehash(t, cap) != 0)
			return -1;
	}
	size_t mask = t->cap - 1, i = (size_t)hash & mask;
	while (t->slot[i].item && t->slot[i].item != HTAB_TOMB)
		i = (i + 1) & mask;
	if (!t->slot[i].item)
		t->used++;
	t->slot[i].hash = hash;
	t->slot[i].item = item;
	t->n++;
	return 0;
}

/* Tombstones slot i; when the slot after it is empty, no probe path runs
 * through i, so it and the tombstones right before it become empty. */
static void htab_clear_slot(struct htab *t, size_t i)
{
	size_t mask = t->cap - 1;
	t->slot[i].item = HTAB_TOMB;
	t->n--;
	if (t->slot[(i + 1) & mask].item)
		return;
	while (t->slot[i].item == HTAB_TOMB) {
		t->slot[i].item = NULL;
		t->used--;
		i = (i - 1) & mask;
	}
}

bool htab_remove(struct htab *t, uint64_t hash, const void *item)
{
	if (!t->cap || !item)
		return false;
	size_t mask = t->cap - 1;
	for (size_t i = (size_t)hash & mask; t->slot[i].item; i = (i + 1) & mask)
		if (t->slot[i].item == item) {
			htab_clear_slot(t, i);
			return true;
		}
	return false;
}

bool htab_replace(struct htab *t, uint64_t hash, const void *old, void *item)
{
	if (!t->cap || !old || !item)
		return false;
	size_t mask = t->cap - 1;
	for (size_t i = (size_t)hash & mask; t->slot[i].item; i = (i + 1) & mask)
		if (t->slot[i].item == old) {
			t->slot[i].item = item;
			return true;
		}
	return false;
}

void *htab_next(const struct htab *t, size_t *pos)
{
	while (*pos < t->cap) {
		void *item = t->slot[(*pos)++].item;
		if (item && item != HTAB_TOMB)
			return item;
	}
	return NULL;
}

void htab_remove_at(struct htab *t, size_t pos)
{
	if (pos == 0 || pos > t->cap)
		return;
	void *item = t->slot[pos - 1].item;
	if (item && item != HTAB_TOMB)
		htab_clear_slot(t, pos - 1);
}
