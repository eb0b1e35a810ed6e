/*
 * store_mem - the in-memory state store: two open-addressing hash tables
 * (records, blocks) and an audit array, behind one mutex so that update()
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

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct store_mem_slot {
	char *key; /* NULL = empty; STORE_MEM_TOMB = deleted; else the allocation */
	uint64_t hash;
	void *val; /* inside the allocation, after the key */
	size_t len, cap, klen;
	int64_t expires_ms; /* put_exp(): swept by expire(); 0 = never */
};

struct store_mem_table {
	struct store_mem_slot *slots;
	size_t size; /* power of two */
	size_t used; /* live + tombstones */
	size_t live;
	size_t max;       /* most live keys; 0 = no limit (a new key past it fails) */
	int64_t next_exp; /* no live slot expires before this (INT64_MAX: none expires) */
};

struct store_mem {
	struct store base; /* first: the interface */
	pthread_mutex_t lock;
	struct store_mem_table recs, blocks;
	struct store_audit *audit;
	size_t n_audit, cap_audit;
	_Alignas(16) unsigned char scratch[STORE_REC_MAX];
};

static char store_mem_tomb_byte;
#define STORE_MEM_TOMB (&store_mem_tomb_byte)

static struct store_mem *store_mem_of(struct store *s)
{
	return (struct store_mem *)s;
}

static int store_mem_table_init(struct store_mem_table *t, size_t size)
{
	t->slots = calloc(size, sizeof *t->slots);
	if (!t->slots)
		return -1;
	t->size = size;
	t->used = t->live = 0;
	t->next_exp = INT64_MAX;
	return 0;
}

static void store_mem_table_free(struct store_mem_table *t)
{
	for (size_t i = 0; i < t->size; i++) {
		if (t->slots[i].key && t->slots[i].key != STORE_MEM_TOMB)
			free(t->slots[i].key);
	}
	free(t->slots);
	t->slots = NULL;
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

/* The slot holding key, or NULL. */
static struct store_mem_slot *store_mem_find(struct store_mem_table *t,
                                             const struct store_mem_key *k)
{
	size_t mask = t->size - 1;
	for (size_t i = k->h & mask;; i = (i + 1) & mask) {
		struct store_mem_slot *sl = &t->slots[i];
		if (!sl->key)
			return NULL;
		if (sl->hash == k->h && sl->key != STORE_MEM_TOMB && sl->klen == k->len) {
			/* Almost surely the one: start loading the value's first lines
			 * while the key compare waits for its own. */
			const char *v = sl->val;
			for (size_t o = 0; o < sl->cap && o < 512; o += 64)
				__builtin_prefetch(v + o);
			if (memcmp(sl->key, k->p, k->len) == 0)
				return sl;
		}
	}
}

static size_t store_mem_koff(size_t klen)
{
	return (klen + 1 + 15) & ~(size_t)15;
}

/* The key, padded, then cap bytes of value; returns the allocation (= the key). */
static char *store_mem_block_alloc(const char *key, size_t klen, size_t cap)
{
	char *p = malloc(store_mem_koff(klen) + cap);
	if (p)
		memcpy(p, key, klen + 1);
	return p;
}

static int store_mem_grow(struct store_mem_table *t)
{
	struct store_mem_table n;
	size_t size = t->live * 4 > t->size ? t->size * 2 : t->size; /* else only rehash */
	if (store_mem_table_init(&n, size) != 0)
		return -1;
	n.next_exp = t->next_exp;
	for (size_t i = 0; i < t->size; i++) {
		struct store_mem_slot *sl = &t->slots[i];
		if (!sl->key || sl->key == STORE_MEM_TOMB)
			continue;
		size_t j = sl->hash & (n.size - 1);
		while (n.slots[j].key)
			j = (j + 1) & (n.size - 1);
		n.slots[j] = *sl;
		n.used++;
		n.live++;
	}
	free(t->slots);
	*t = n;
	return 0;
}

/* Inserts key with a copy of val (len bytes, buffer of at least len); expires_ms > 0
 * sets the slot's expiry, 0 keeps it. 0 or -1. */
static int store_mem_insert(struct store_mem_table *t, const struct store_mem_key *key,
                            const void *val, size_t len, int64_t expires_ms)
{
	struct store_mem_slot *sl = store_mem_find(t, key);
	if (expires_ms > 0 && expires_ms < t->next_exp)
		t->next_exp = expires_ms;
	if (sl) {
		if (expires_ms > 0)
			sl->expires_ms = expires_ms;
		if (len > sl->cap) {
			size_t cap = (len + 15) & ~(size_t)15;
			char *p = store_mem_block_alloc(key->p, sl->klen, cap);
			if (!p)
				return -1;
			free(sl->key);
			sl->key = p;
			sl->val = p + store_mem_koff(sl->klen);
			sl->cap = cap;
		}
		memcpy(sl->val, val, len);
		sl->len = len;
		return 0;
	}
	if (t->max && t->live >= t->max)
		return -1; /* full: the caller sees a store error, memory stays bounded */
	if ((t->used + 1) * 4 > t->size * 3 && store_mem_grow(t) != 0)
		return -1;
	size_t klen = key->len;
	uint64_t h = key->h;
	size_t cap = len ? (len + 15) & ~(size_t)15 : 16;
	char *k = store_mem_block_alloc(key->p, klen, cap);
	if (!k)
		return -1;
	char *v = k + store_mem_koff(klen);
	memcpy(v, val, len);
	size_t mask = t->size - 1;
	size_t i = h & mask;
	while (t->slots[i].key && t->slots[i].key != STORE_MEM_TOMB)
		i = (i + 1) & mask;
	if (!t->slots[i].key)
		t->used++;
	t->slots[i] = (struct store_mem_slot){k, h, v, len, cap, klen, expires_ms};
	t->live++;
	return 0;
}

static void store_mem_remove(struct store_mem_table *t, struct store_mem_slot *sl)
{
	free(sl->key);
	sl->key = STORE_MEM_TOMB;
	sl->val = NULL;
	sl->len = sl->cap = 0;
	t->live--;
}

static int store_mem_get(struct store *s, const char *key, void *out, size_t cap, size_t *len)
{
	struct store_mem *m = store_mem_of(s);
	int rc = 0;
	pthread_mutex_lock(&m->lock);
	struct store_mem_key k = store_mem_key(key);
	struct store_mem_slot *sl = store_mem_find(&m->recs, &k);
	if (sl) {
		*len = sl->len;
		if (sl->len > cap) {
			rc = -1;
		} else {
			memcpy(out, sl->val, sl->len);
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
	for (size_t i = 0; i < m->recs.size; i++) {
		struct store_mem_slot *sl = &m->recs.slots[i];
		if (!sl->key || sl->key == STORE_MEM_TOMB || sl->expires_ms <= 0)
			continue;
		if (sl->expires_ms <= now_ms) {
			store_mem_remove(&m->recs, sl);
			n++;
		} else if (sl->expires_ms < next) {
			next = sl->expires_ms;
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
	struct store_mem_slot *sl = store_mem_find(&m->recs, &k);
	if (sl)
		store_mem_remove(&m->recs, sl);
	pthread_mutex_unlock(&m->lock);
	return sl ? 1 : 0;
}

static long store_mem_del_prefix(struct store *s, const char *prefix)
{
	struct store_mem *m = store_mem_of(s);
	size_t plen = strlen(prefix);
	long n = 0;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->recs.size; i++) {
		struct store_mem_slot *sl = &m->recs.slots[i];
		if (sl->key && sl->key != STORE_MEM_TOMB && strncmp(sl->key, prefix, plen) == 0) {
			store_mem_remove(&m->recs, sl);
			n++;
		}
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
	struct store_mem_slot *sl = store_mem_find(&m->recs, &k);
	if (sl) {
		size_t len = sl->len;
		rc = fn(ctx, sl->val, &len, sl->cap);
		if (rc == STORE_COMMIT) {
			if (len > sl->cap) {
				rc = -1; /* the callback broke its contract */
			} else {
				sl->len = len;
				if (expires_ms > sl->expires_ms) {
					sl->expires_ms = expires_ms;
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
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int store_mem_block_get(struct store *s, const char *identity, struct store_block *out)
{
	struct store_mem *m = store_mem_of(s);
	pthread_mutex_lock(&m->lock);
	if (m->blocks.live == 0) {
		pthread_mutex_unlock(&m->lock);
		return 0;
	}
	struct store_mem_key k = store_mem_key(identity);
	struct store_mem_slot *sl = store_mem_find(&m->blocks, &k);
	if (sl)
		memcpy(out, sl->val, sizeof *out);
	pthread_mutex_unlock(&m->lock);
	return sl ? 1 : 0;
}

static int store_mem_block_del(struct store *s, const char *identity)
{
	struct store_mem *m = store_mem_of(s);
	pthread_mutex_lock(&m->lock);
	struct store_mem_key k = store_mem_key(identity);
	struct store_mem_slot *sl = store_mem_find(&m->blocks, &k);
	if (sl)
		store_mem_remove(&m->blocks, sl);
	pthread_mutex_unlock(&m->lock);
	return sl ? 1 : 0;
}

static int store_mem_block_iter(struct store *s, store_block_fn fn, void *ctx)
{
	struct store_mem *m = store_mem_of(s);
	int rc = 0;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->blocks.size && rc == 0; i++) {
		struct store_mem_slot *sl = &m->blocks.slots[i];
		if (sl->key && sl->key != STORE_MEM_TOMB)
			rc = fn(ctx, sl->val);
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static size_t store_mem_block_count(struct store *s)
{
	struct store_mem *m = store_mem_of(s);
	pthread_mutex_lock(&m->lock);
	size_t n = m->blocks.live;
	pthread_mutex_unlock(&m->lock);
	return n;
}

static int store_mem_audit_append(struct store *s, const struct store_audit *a)
{
	struct store_mem *m = store_mem_of(s);
	int rc = 0;
	pthread_mutex_lock(&m->lock);
	if (m->n_audit == m->cap_audit) {
		size_t ncap = m->cap_audit ? m->cap_audit * 2 : 16;
		struct store_audit *p = realloc(m->audit, ncap * sizeof *p);
		if (!p)
			rc = -1;
		else {
			m->audit = p;
			m->cap_audit = ncap;
		}
	}
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
	size_t n = m->recs.live;
	pthread_mutex_unlock(&m->lock);
	return n;
}

struct store *store_mem_new_capped(size_t max_records)
{
	struct store_mem *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	if (store_mem_table_init(&m->recs, 1024) != 0 ||
	    store_mem_table_init(&m->blocks, 64) != 0) {
		free(m->recs.slots);
		free(m);
		return NULL;
	}
	m->recs.max = max_records;
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
