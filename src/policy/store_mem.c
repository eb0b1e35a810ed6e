/*
 * store_mem - the in-memory state store: two hash tables (core/htab: records,
 * blocks) and an audit array, behind one mutex so that update()
 * is atomic between threads. Nothing survives the process.
 *
 * Each entry is one allocation: its key, padded to 16 bytes, then the value
 * (aligned for the engine's structs), so the key compare and the record's
 * header share cache lines.
 *
 * update() hands the callback the stored bytes in place (their buffer is at
 * least as large as the record), so a check-and-commit costs no copy; a new
 * record is built in a scratch buffer of STORE_REC_MAX bytes and copied once.
 */
#include "policy/store.h"

#include "policy/ratelimit.h"

#include "core/grow.h"
#include "core/htab.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* One allocation per key: this header, the key padded to 16 bytes, then cap
 * bytes of value (16-aligned: malloc's alignment, a 32-byte header). */
struct store_mem_ent {
	size_t klen, len, cap;
	int64_t expires_ms; /* put_exp(): swept by expire(); 0 = never */
	char key[];
};

struct store_mem_table {
	struct htab idx;  /* of store_mem_ent by key; its max: most live keys, 0 = no limit */
	int64_t next_exp; /* no live entry expires before this (INT64_MAX: none expires) */
};

struct store_mem {
	struct store base; /* first: the interface */
	pthread_mutex_t lock;
	struct store_mem_table recs, blocks;
	/* blocks.idx's count, also readable without the lock: the engine asks
	 * for it on every event (no block at all: no block lookups) */
	atomic_size_t nblocks;
	struct store_audit *audit;
	size_t n_audit, cap_audit;
	_Alignas(16) unsigned char scratch[STORE_REC_MAX];
};

static struct store_mem *store_mem_of(struct store *s)
{
	return (struct store_mem *)s;
}

static int store_mem_table_init(struct store_mem_table *t, size_t n, size_t max)
{
	htab_init(&t->idx, max);
	t->next_exp = INT64_MAX;
	return htab_reserve(&t->idx, n);
}

static void store_mem_table_free(struct store_mem_table *t)
{
	size_t pos = 0;
	for (struct store_mem_ent *e; (e = htab_next(&t->idx, &pos));)
		free(e);
	htab_free(&t->idx);
}

/* A key with its length and hash, each computed once per call. */
struct store_mem_key {
	const char *p;
	size_t len;
	uint64_t h;
};

static struct store_mem_key store_mem_key(const char *key)
{
	size_t n = strlen(key);
	return (struct store_mem_key){key, n, ratelimit_hash(key, n)};
}

static size_t store_mem_koff(size_t klen)
{
	return (klen + 1 + 15) & ~(size_t)15;
}

static unsigned char *store_mem_val(struct store_mem_ent *e)
{
	return (unsigned char *)e->key + store_mem_koff(e->klen);
}

/* Bytes from an entry's start loaded ahead at a lookup: the header and key
 * (about 64) and the value's first 512, as many as the engine reads first. */
#define STORE_MEM_PREFETCH 576

static bool store_mem_eq(const void *item, const void *key)
{
	const struct store_mem_ent *e = item;
	const struct store_mem_key *k = key;
	/* The hashes matched: almost surely the one. Start loading the header,
	 * the key and the value's first lines before the first read of the
	 * header waits for its own line, so the misses overlap (a prefetch past
	 * the allocation's end is harmless: it never faults). */
	const char *p = (const char *)e;
	for (size_t o = 0; o < STORE_MEM_PREFETCH; o += 64)
		__builtin_prefetch(p + o);
	return e->klen == k->len && memcmp(e->key, k->p, k->len) == 0;
}

/* The entry of key, or NULL. */
static struct store_mem_ent *store_mem_find(struct store_mem_table *t,
                                            const struct store_mem_key *k)
{
	return htab_find(&t->idx, k->h, store_mem_eq, k);
}

/* The header and key, then cap bytes of value. */
static struct store_mem_ent *store_mem_ent_alloc(const char *key, size_t klen, size_t cap)
{
	struct store_mem_ent *e = malloc(sizeof *e + store_mem_koff(klen) + cap);
	if (e) {
		e->klen = klen;
		e->len = 0;
		e->cap = cap;
		e->expires_ms = 0;
		memcpy(e->key, key, klen + 1);
	}
	return e;
}

/* Inserts key with a copy of val (len bytes, buffer of at least len); expires_ms > 0
 * sets the entry's expiry, 0 keeps it. 0 or -1. */
static int store_mem_insert(struct store_mem_table *t, const struct store_mem_key *key,
                            const void *val, size_t len, int64_t expires_ms)
{
	struct store_mem_ent *e = store_mem_find(t, key);
	if (expires_ms > 0 && expires_ms < t->next_exp)
		t->next_exp = expires_ms;
	if (e) {
		if (expires_ms > 0)
			e->expires_ms = expires_ms;
		if (len > e->cap) {
			size_t cap = (len + 15) & ~(size_t)15;
			struct store_mem_ent *n = store_mem_ent_alloc(key->p, e->klen, cap);
			if (!n)
				return -1;
			n->expires_ms = e->expires_ms;
			(void)htab_replace(&t->idx, key->h, e, n);
			free(e);
			e = n;
		}
		memcpy(store_mem_val(e), val, len);
		e->len = len;
		return 0;
	}
	if (htab_full(&t->idx))
		return -1; /* full: the caller sees a store error, memory stays bounded */
	size_t cap = len ? (len + 15) & ~(size_t)15 : 16;
	e = store_mem_ent_alloc(key->p, key->len, cap);
	if (!e)
		return -1;
	memcpy(store_mem_val(e), val, len);
	e->len = len;
	e->expires_ms = expires_ms;
	if (htab_insert(&t->idx, key->h, e) != 0) {
		free(e);
		return -1;
	}
	return 0;
}

/* Takes the entry of key out; 1, or 0 when there was none. */
static int store_mem_remove(struct store_mem_table *t, const struct store_mem_key *k)
{
	struct store_mem_ent *e = store_mem_find(t, k);
	if (!e)
		return 0;
	(void)htab_remove(&t->idx, k->h, e);
	free(e);
	return 1;
}

static int store_mem_get(struct store *s, const char *key, void *out, size_t cap, size_t *len)
{
	struct store_mem *m = store_mem_of(s);
	int rc = 0;
	pthread_mutex_lock(&m->lock);
	struct store_mem_key k = store_mem_key(key);
	struct store_mem_ent *e = store_mem_find(&m->recs, &k);
	if (e) {
		*len = e->len;
		if (e->len > cap) {
			rc = -1;
		} else {
			memcpy(out, store_mem_val(e), e->len);
			rc = 1;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int store_mem_put_exp(struct store *s, const char *key, const void *rec, size_t len,
                             int64_t expires_ms)
{
	struct store_mem *m = store_mem_of(s);
	struct store_mem_key k = store_mem_key(key);
	if (len > STORE_REC_MAX || k.len >= STORE_KEY_MAX || expires_ms < 0)
		return -1;
	if (expires_ms > 0 && key[0] == '\0')
		return -1;
	pthread_mutex_lock(&m->lock);
	int rc = store_mem_insert(&m->recs, &k, rec, len, expires_ms);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int store_mem_put(struct store *s, const char *key, const void *rec, size_t len)
{
	return store_mem_put_exp(s, key, rec, len, 0); /* 0: no expiry (kept if it had one) */
}

static long store_mem_expire(struct store *s, int64_t now_ms)
{
	struct store_mem *m = store_mem_of(s);
	long n = 0;
	pthread_mutex_lock(&m->lock);
	/* Nothing expires yet: no walk over the table (called once a minute per
	 * event stream, with records that mostly never expire). */
	if (now_ms < m->recs.next_exp) {
		pthread_mutex_unlock(&m->lock);
		return 0;
	}
	int64_t next = INT64_MAX;
	size_t pos = 0;
	for (struct store_mem_ent *e; (e = htab_next(&m->recs.idx, &pos));) {
		if (e->expires_ms <= 0)
			continue;
		if (e->expires_ms <= now_ms) {
			htab_remove_at(&m->recs.idx, pos);
			free(e);
			n++;
		} else if (e->expires_ms < next) {
			next = e->expires_ms;
		}
	}
	m->recs.next_exp = next;
	pthread_mutex_unlock(&m->lock);
	return n;
}

static int store_mem_del(struct store *s, const char *key)
{
	struct store_mem *m = store_mem_of(s);
	pthread_mutex_lock(&m->lock);
	struct store_mem_key k = store_mem_key(key);
	int rc = store_mem_remove(&m->recs, &k);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static long store_mem_del_prefix(struct store *s, const char *prefix)
{
	struct store_mem *m = store_mem_of(s);
	size_t plen = strlen(prefix);
	long n = 0;
	pthread_mutex_lock(&m->lock);
	size_t pos = 0;
	for (struct store_mem_ent *e; (e = htab_next(&m->recs.idx, &pos));)
		if (strncmp(e->key, prefix, plen) == 0) {
			htab_remove_at(&m->recs.idx, pos);
			free(e);
			n++;
		}
	pthread_mutex_unlock(&m->lock);
	return n;
}

/* expires_ms > 0: the record's expiry becomes at least that (update_exp). */
static int store_mem_update_any(struct store *s, const char *key, store_update_fn fn, void *ctx,
                                int64_t expires_ms)
{
	struct store_mem *m = store_mem_of(s);
	struct store_mem_key k = store_mem_key(key);
	if (k.len >= STORE_KEY_MAX)
		return -1;
	pthread_mutex_lock(&m->lock);
	int rc;
	struct store_mem_ent *e = store_mem_find(&m->recs, &k);
	if (e) {
		size_t len = e->len;
		rc = fn(ctx, store_mem_val(e), &len, e->cap);
		if (rc == STORE_COMMIT) {
			if (len > e->cap) {
				rc = -1; /* the callback broke its contract */
			} else {
				e->len = len;
				if (expires_ms > e->expires_ms) {
					e->expires_ms = expires_ms;
					if (expires_ms < m->recs.next_exp)
						m->recs.next_exp = expires_ms;
				}
			}
		}
	} else {
		size_t len = 0;
		rc = fn(ctx, m->scratch, &len, sizeof m->scratch);
		if (rc == STORE_COMMIT &&
		    (len > sizeof m->scratch ||
		     store_mem_insert(&m->recs, &k, m->scratch, len, expires_ms) != 0))
			rc = -1;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int store_mem_update(struct store *s, const char *key, store_update_fn fn, void *ctx)
{
	return store_mem_update_any(s, key, fn, ctx, 0);
}

static int store_mem_update_exp(struct store *s, const char *key, store_update_fn fn, void *ctx,
                                int64_t expires_ms)
{
	return store_mem_update_any(s, key, fn, ctx, expires_ms > 0 ? expires_ms : 0);
}

static int store_mem_block_put(struct store *s, const struct store_block *b)
{
	struct store_mem *m = store_mem_of(s);
	if (memchr(b->identity, '\0', sizeof b->identity) == NULL || b->identity[0] == '\0')
		return -1;
	struct store_mem_key k = store_mem_key(b->identity);
	pthread_mutex_lock(&m->lock);
	int rc = store_mem_insert(&m->blocks, &k, b, sizeof *b, 0);
	atomic_store_explicit(&m->nblocks, htab_count(&m->blocks.idx), memory_order_relaxed);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int store_mem_block_get(struct store *s, const char *identity, struct store_block *out)
{
	struct store_mem *m = store_mem_of(s);
	pthread_mutex_lock(&m->lock);
	if (htab_count(&m->blocks.idx) == 0) {
		pthread_mutex_unlock(&m->lock);
		return 0;
	}
	struct store_mem_key k = store_mem_key(identity);
	struct store_mem_ent *e = store_mem_find(&m->blocks, &k);
	if (e)
		memcpy(out, store_mem_val(e), sizeof *out);
	pthread_mutex_unlock(&m->lock);
	return e ? 1 : 0;
}

static int store_mem_block_del(struct store *s, const char *identity)
{
	struct store_mem *m = store_mem_of(s);
	pthread_mutex_lock(&m->lock);
	struct store_mem_key k = store_mem_key(identity);
	int rc = store_mem_remove(&m->blocks, &k);
	atomic_store_explicit(&m->nblocks, htab_count(&m->blocks.idx), memory_order_relaxed);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int store_mem_block_iter(struct store *s, store_block_fn fn, void *ctx)
{
	struct store_mem *m = store_mem_of(s);
	int rc = 0;
	pthread_mutex_lock(&m->lock);
	size_t pos = 0;
	for (struct store_mem_ent *e; rc == 0 && (e = htab_next(&m->blocks.idx, &pos));)
		rc = fn(ctx, (const struct store_block *)store_mem_val(e));
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static size_t store_mem_block_count(struct store *s)
{
	struct store_mem *m = store_mem_of(s);
	return atomic_load_explicit(&m->nblocks, memory_order_relaxed);
}

static int store_mem_audit_append(struct store *s, const struct store_audit *a)
{
	struct store_mem *m = store_mem_of(s);
	pthread_mutex_lock(&m->lock);
	int rc = grow_array(&m->audit, &m->cap_audit, m->n_audit + 1, sizeof *m->audit);
	if (rc == 0)
		m->audit[m->n_audit++] = *a;
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int store_mem_audit_iter(struct store *s, store_audit_fn fn, void *ctx)
{
	struct store_mem *m = store_mem_of(s);
	int rc = 0;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n_audit && rc == 0; i++)
		rc = fn(ctx, &m->audit[i]);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static void store_mem_close(struct store *s)
{
	struct store_mem *m = store_mem_of(s);
	if (!m)
		return;
	store_mem_table_free(&m->recs);
	store_mem_table_free(&m->blocks);
	free(m->audit);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

struct store *store_mem_new(void)
{
	return store_mem_new_capped(0);
}

size_t store_mem_count(struct store *s)
{
	struct store_mem *m = store_mem_of(s);
	pthread_mutex_lock(&m->lock);
	size_t n = htab_count(&m->recs.idx);
	pthread_mutex_unlock(&m->lock);
	return n;
}

struct store *store_mem_new_capped(size_t max_records)
{
	struct store_mem *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	if (store_mem_table_init(&m->recs, 500, max_records) != 0 ||
	    store_mem_table_init(&m->blocks, 30, 0) != 0) {
		htab_free(&m->recs.idx);
		htab_free(&m->blocks.idx);
		free(m);
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	m->base = (struct store){
	    .get = store_mem_get,
	    .put = store_mem_put,
	    .del = store_mem_del,
	    .del_prefix = store_mem_del_prefix,
	    .update = store_mem_update,
	    .put_exp = store_mem_put_exp,
	    .expire = store_mem_expire,
	    .update_exp = store_mem_update_exp,
	    .block_put = store_mem_block_put,
	    .block_get = store_mem_block_get,
	    .block_del = store_mem_block_del,
	    .block_iter = store_mem_block_iter,
	    .block_count = store_mem_block_count,
	    .audit_append = store_mem_audit_append,
	    .audit_iter = store_mem_audit_iter,
	    .close = store_mem_close,
	    .name = "memory",
	};
	return &m->base;
}
