/*
 * htab - the one open-addressing hash table of relayguard, an index over
 * entries the caller owns: each slot holds a 64-bit hash (core/hash) and a
 * pointer to the caller's entry, so every module keeps its own entry struct
 * (queue entries, destinations, cached DNS answers, users) and the table
 * only finds it.
 *
 * Linear probing over a power-of-two array of slots; a lookup compares the
 * stored hash first and calls the caller's equality function only when the
 * hashes are equal. Deleting leaves a tombstone (turned back into an empty
 * slot when nothing follows it), which the next insert on that probe path
 * reuses; the table rehashes when live entries and tombstones reach 3/4 of
 * the slots: to twice the size when the live ones alone pass half of them,
 * else in place (tombstones dropped). An optional maximum bounds the number
 * of live entries (and so the slots: at most 4 * max rounded up to a power
 * of two), for the tables that cap their memory: inserting into a full
 * table fails, the caller evicts first.
 *
 * Iteration visits slots in order; removing the entry just visited (or any
 * other) during an iteration is safe, inserting is not (it may rehash).
 * Not thread-safe; no hashing of its own (no defence against chosen
 * collisions: they cost time, never correctness).
 */
#ifndef RG_CORE_HTAB_H
#define RG_CORE_HTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct htab_slot {
	uint64_t hash;
	void *item; /* NULL: empty; htab's tombstone: deleted */
};

struct htab {
	struct htab_slot *slot;
	size_t cap;  /* slots, a power of two; 0 until the first insert */
	size_t n;    /* live entries */
	size_t used; /* live entries + tombstones */
	size_t max;  /* most live entries; 0: no limit */
};

/* Does item (an entry in the table) have the key the caller passed? */
typedef bool (*htab_eq_fn)(const void *item, const void *key);

/* An empty table holding at most max entries (0: no limit); allocates nothing. */
void htab_init(struct htab *t, size_t max);
/* Frees the slots (not the entries); the table is empty and usable again. */
void htab_free(struct htab *t);
/* Makes room for n live entries without a rehash. 0 or -1 (no memory). */
int htab_reserve(struct htab *t, size_t n);

/* The entry with this hash for which eq(entry, key) is true, or NULL. */
void *htab_find(const struct htab *t, uint64_t hash, htab_eq_fn eq, const void *key);
/* Adds item (not NULL) under hash; the caller made sure its key is not there
 * yet. 0, or -1 when out of memory or the table holds max entries. */
int htab_insert(struct htab *t, uint64_t hash, void *item);
/* Takes item (the pointer itself, found under hash) out. true when it was in. */
bool htab_remove(struct htab *t, uint64_t hash, const void *item);

/* Puts item where old (found under hash) was: for an entry that moved. true
 * when old was in. */
bool htab_replace(struct htab *t, uint64_t hash, const void *old, void *item);

/* Iteration: pos starts at 0; returns the next entry, NULL at the end. */
void *htab_next(const struct htab *t, size_t *pos);
/* Takes out the entry the last htab_next(t, &pos) returned. */
void htab_remove_at(struct htab *t, size_t pos);

static inline size_t htab_count(const struct htab *t)
{
	return t->n;
}

static inline bool htab_full(const struct htab *t)
{
	return t->max && t->n >= t->max;
}

#endif
