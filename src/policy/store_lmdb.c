/*
 * store_lmdb - the embedded, persistent state store (LMDB).
 *
 * One environment (a directory) with four named databases:
 *   rec    engine records: key = the record key, value = the engine's bytes
 *   block  key = identity, value = STORE_LMDB header + struct store_block
 *   audit  key = 8-byte big-endian sequence number, value = header +
 *          struct store_audit (so a cursor walks it oldest first)
 *   meta   "version" = "1"
 *   expk   expiring records (put_exp): key = the record key, value = its
 *          expiry, 8 bytes big-endian ms
 *   exp    the same, ordered by time: key = 8-byte big-endian expiry then
 *          the record key, empty value; expire() walks it from the start
 * The header is 8 bytes: 'R' 'G', a type byte ('B' block, 'A' audit), the
 * format version (1), then the payload size as a 32-bit host-order integer;
 * a value whose header or size does not match is skipped as foreign. The
 * payload is the struct in host byte order: like the LMDB file itself, the
 * store does not move between architectures.
 *
 * Counters are written with MDB_NOSYNC (losing the last second of counters
 * in a crash is harmless); a block or audit write syncs before it returns,
 * so a block survives a restart. update() runs in one write transaction,
 * which LMDB serialises between threads and processes: check-and-commit.
 */
#include "policy/store.h"

#include "core/log.h"
#include "core/str.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct store_lmdb {
	struct store base;
	MDB_env *env;  /* counters: fast, not synced */
	MDB_env *benv; /* blocks: every commit synced */
	MDB_env *aenv; /* the audit trail: every commit synced */
	MDB_dbi rec, meta, expk, exp;
	MDB_dbi block, audit; /* in benv, aenv */
};

static struct store_lmdb *store_lmdb_of(struct store *s)
{
	return (struct store_lmdb *)s;
}

static int store_lmdb_decode(const MDB_val *v, char type, void *payload, uint32_t size)
{
	return store_value_decode(v->mv_data, v->mv_size, type, payload, size);
}

static MDB_val store_lmdb_key(const char *key)
{
	MDB_val k = {strlen(key), (void *)key};
	return k;
}

static int store_lmdb_get(struct store *s, const char *key, void *out, size_t cap, size_t *len)
{
	struct store_lmdb *l = store_lmdb_of(s);
	MDB_txn *txn;
	if (key[0] == '\0' || strlen(key) >= STORE_KEY_MAX)
		return -1;
	if (mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn) != 0)
		return -1;
	MDB_val k = store_lmdb_key(key), v;
	int rc = mdb_get(txn, l->rec, &k, &v);
	if (rc == MDB_NOTFOUND) {
		rc = 0;
	} else if (rc != 0) {
		rc = -1;
	} else {
		*len = v.mv_size;
		if (v.mv_size > cap) {
			rc = -1;
		} else {
			memcpy(out, v.mv_data, v.mv_size);
			rc = 1;
		}
	}
	mdb_txn_abort(txn);
	return rc;
}

/* One put in its own transaction on env (benv and aenv sync on commit). */
static int store_lmdb_write(MDB_env *env, MDB_dbi dbi, MDB_val *k, MDB_val *v)
{
	MDB_txn *txn;
	if (mdb_txn_begin(env, NULL, 0, &txn) != 0)
		return -1;
	if (mdb_put(txn, dbi, k, v, 0) != 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	return mdb_txn_commit(txn) == 0 ? 0 : -1;
}

static int store_lmdb_put(struct store *s, const char *key, const void *rec, size_t len)
{
	struct store_lmdb *l = store_lmdb_of(s);
	if (key[0] == '\0' || strlen(key) >= STORE_KEY_MAX || len > STORE_REC_MAX)
		return -1;
	MDB_val k = store_lmdb_key(key), v = {len, (void *)rec};
	return store_lmdb_write(l->env, l->rec, &k, &v);
}

static void store_lmdb_be64(unsigned char *out, int64_t v)
{
	uint64_t u = (uint64_t)v;
	for (int i = 7; i >= 0; i--) {
		out[i] = (unsigned char)u;
		u >>= 8;
	}
}

static int64_t store_lmdb_unbe64(const unsigned char *p)
{
	uint64_t u = 0;
	for (int i = 0; i < 8; i++)
		u = u << 8 | p[i];
	return (int64_t)u;
}

/* Sets key's expiry in the two indexes (expk, exp) inside txn, dropping its
 * previous entry. 0 or an LMDB error. */
static int store_lmdb_index_exp(struct store_lmdb *l, MDB_txn *txn, const char *key, size_t klen,
                                int64_t expires_ms)
{
	unsigned char ik[8 + STORE_KEY_MAX], when[8];
	MDB_val k = {klen, (void *)key}, old, ek, ev = {0, ""};
	/* the time index keeps one entry per key: drop the previous one */
	int rc = mdb_get(txn, l->expk, &k, &old);
	if (rc == 0 && old.mv_size == 8) {
		memcpy(ik, old.mv_data, 8);
		memcpy(ik + 8, key, klen);
		ek = (MDB_val){8 + klen, ik};
		rc = mdb_del(txn, l->exp, &ek, NULL);
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	store_lmdb_be64(when, expires_ms);
	memcpy(ik, when, 8);
	memcpy(ik + 8, key, klen);
	ek = (MDB_val){8 + klen, ik};
	MDB_val wv = {8, when};
	if ((rc = mdb_put(txn, l->expk, &k, &wv, 0)) != 0)
		return rc;
	return mdb_put(txn, l->exp, &ek, &ev, 0);
}

static int store_lmdb_put_exp(struct store *s, const char *key, const void *rec, size_t len,
                              int64_t expires_ms)
{
	struct store_lmdb *l = store_lmdb_of(s);
	size_t klen = strlen(key);
	MDB_txn *txn;
	if (klen == 0 || klen >= STORE_KEY_MAX || len > STORE_REC_MAX || expires_ms <= 0)
		return -1;
	if (mdb_txn_begin(l->env, NULL, 0, &txn) != 0)
		return -1;
	MDB_val k = store_lmdb_key(key), v = {len, (void *)rec};
	if (store_lmdb_index_exp(l, txn, key, klen, expires_ms) != 0 ||
	    mdb_put(txn, l->rec, &k, &v, 0) != 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	return mdb_txn_commit(txn) == 0 ? 0 : -1;
}

/* Writes meta "swept" = t: a small commit (see store_lmdb_expire). */
static int store_lmdb_touch(struct store_lmdb *l, int64_t t)
{
	unsigned char when[8];
	store_lmdb_be64(when, t);
	MDB_val k = {5, "swept"}, v = {8, when};
	return store_lmdb_write(l->env, l->meta, &k, &v);
}

static long store_lmdb_expire(struct store *s, int64_t now_ms)
{
	struct store_lmdb *l = store_lmdb_of(s);
	MDB_txn *txn;
	MDB_cursor *cur;
	long n = 0;
	if (mdb_txn_begin(l->env, NULL, 0, &txn) != 0)
		return -1;
	if (mdb_cursor_open(txn, l->exp, &cur) != 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	MDB_val k, v;
	int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0 && n < STORE_EXPIRE_BATCH && k.mv_size > 8 &&
	       store_lmdb_unbe64(k.mv_data) <= now_ms) {
		MDB_val rk = {k.mv_size - 8, (unsigned char *)k.mv_data + 8};
		int d1 = mdb_del(txn, l->rec, &rk, NULL), d2 = mdb_del(txn, l->expk, &rk, NULL);
		if ((d1 != 0 && d1 != MDB_NOTFOUND) || (d2 != 0 && d2 != MDB_NOTFOUND) ||
		    mdb_cursor_del(cur, 0) != 0) {
			rc = -1;
			break;
		}
		if (d1 == 0)
			n++;
		rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
		if (rc == MDB_NOTFOUND || rc == EINVAL)
			break;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND && rc != EINVAL) {
		mdb_txn_abort(txn);
		return -1;
	}
	if (mdb_txn_commit(txn) != 0)
		return -1;
	/* LMDB reuses the pages a transaction freed only two transactions
	 * later: a store that filled up would stay full after the sweep (every
	 * failed write aborts, so the next one is the same transaction again).
	 * One small write moves it on. */
	if (n > 0 && store_lmdb_touch(l, now_ms) != 0)
		return -1;
	return n;
}

static int store_lmdb_delete(MDB_env *env, MDB_dbi dbi, const char *key)
{
	MDB_txn *txn;
	if (key[0] == '\0' || strlen(key) >= STORE_KEY_MAX)
		return key[0] == '\0' ? 0 : -1;
	if (mdb_txn_begin(env, NULL, 0, &txn) != 0)
		return -1;
	MDB_val k = store_lmdb_key(key);
	int rc = mdb_del(txn, dbi, &k, NULL);
	if (rc == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return 0;
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	return mdb_txn_commit(txn) == 0 ? 1 : -1;
}

static int store_lmdb_del(struct store *s, const char *key)
{
	return store_lmdb_delete(store_lmdb_of(s)->env, store_lmdb_of(s)->rec, key);
}

static long store_lmdb_del_prefix(struct store *s, const char *prefix)
{
	struct store_lmdb *l = store_lmdb_of(s);
	MDB_txn *txn;
	MDB_cursor *cur;
	size_t plen = strlen(prefix);
	long n = 0;
	if (mdb_txn_begin(l->env, NULL, 0, &txn) != 0)
		return -1;
	if (mdb_cursor_open(txn, l->rec, &cur) != 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	MDB_val k = {plen, (void *)prefix}, v;
	int rc = plen ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)
	              : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0 && k.mv_size >= plen && memcmp(k.mv_data, prefix, plen) == 0) {
		if (mdb_cursor_del(cur, 0) != 0) {
			rc = -1;
			break;
		}
		n++;
		rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
		if (rc == MDB_NOTFOUND || rc == EINVAL)
			break;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND && rc != EINVAL) {
		mdb_txn_abort(txn);
		return -1;
	}
	if (mdb_txn_commit(txn) != 0)
		return -1;
	return n;
}

/* The expiry update_exp() writes: expires_ms rounded up to the next grain,
 * plus one grain, so an identity's index entries are rewritten at most once
 * per grain of event time rather than on every event. */
#define STORE_LMDB_EXP_GRAIN (15 * 60 * 1000LL)

static int store_lmdb_update_any(struct store *s, const char *key, store_update_fn fn, void *ctx,
                                 int64_t expires_ms)
{
	struct store_lmdb *l = store_lmdb_of(s);
	_Alignas(16) unsigned char buf[STORE_REC_MAX];
	MDB_txn *txn;
	size_t klen = strlen(key);
	if (klen == 0 || klen >= STORE_KEY_MAX)
		return -1;
	if (mdb_txn_begin(l->env, NULL, 0, &txn) != 0)
		return -1;
	MDB_val k = store_lmdb_key(key), v;
	size_t len = 0;
	int rc = mdb_get(txn, l->rec, &k, &v);
	if (rc == 0) {
		if (v.mv_size <= sizeof buf) {
			memcpy(buf, v.mv_data, v.mv_size);
			len = v.mv_size;
		} /* else: foreign, start afresh */
	} else if (rc != MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return -1;
	}
	rc = fn(ctx, buf, &len, sizeof buf);
	if (rc != STORE_COMMIT || len > sizeof buf) {
		mdb_txn_abort(txn);
		return rc == STORE_COMMIT ? -1 : rc;
	}
	v.mv_size = len;
	v.mv_data = buf;
	if (mdb_put(txn, l->rec, &k, &v, 0) != 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	if (expires_ms > 0) {
		MDB_val old;
		int g = mdb_get(txn, l->expk, &k, &old);
		if (g != 0 && g != MDB_NOTFOUND) {
			mdb_txn_abort(txn);
			return -1;
		}
		if (g == MDB_NOTFOUND || old.mv_size != 8 ||
		    store_lmdb_unbe64(old.mv_data) < expires_ms) {
			int64_t when =
			    (expires_ms / STORE_LMDB_EXP_GRAIN + 2) * STORE_LMDB_EXP_GRAIN;
			if (store_lmdb_index_exp(l, txn, key, klen, when) != 0) {
				mdb_txn_abort(txn);
				return -1;
			}
		}
	}
	return mdb_txn_commit(txn) == 0 ? STORE_COMMIT : -1;
}

static int store_lmdb_update(struct store *s, const char *key, store_update_fn fn, void *ctx)
{
	return store_lmdb_update_any(s, key, fn, ctx, 0);
}

static int store_lmdb_update_exp(struct store *s, const char *key, store_update_fn fn, void *ctx,
                                 int64_t expires_ms)
{
	return store_lmdb_update_any(s, key, fn, ctx, expires_ms > 0 ? expires_ms : 0);
}

/* Pages in use: the map's high-water mark less the free list. */
static int store_lmdb_usage(struct store *s, uint64_t *used, uint64_t *cap)
{
	struct store_lmdb *l = store_lmdb_of(s);
	MDB_envinfo info;
	MDB_stat st;
	MDB_txn *txn;
	MDB_cursor *cur;
	if (mdb_env_info(l->env, &info) != 0 || mdb_env_stat(l->env, &st) != 0)
		return -1;
	if (mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn) != 0)
		return -1;
	uint64_t pages = (uint64_t)info.me_last_pgno + 1, free_pages = 0;
	if (mdb_cursor_open(txn, 0, &cur) == 0) { /* dbi 0: LMDB's free list */
		MDB_val k, v;
		int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		while (rc == 0) {
			if (v.mv_size >= sizeof(size_t)) {
				size_t cnt;
				memcpy(&cnt, v.mv_data, sizeof cnt);
				free_pages += cnt;
			}
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		}
		mdb_cursor_close(cur);
	}
	mdb_txn_abort(txn);
	if (free_pages > pages)
		free_pages = pages;
	*used = (pages - free_pages) * st.ms_psize;
	*cap = info.me_mapsize;
	return 0;
}

static int store_lmdb_block_put(struct store *s, const struct store_block *b)
{
	struct store_lmdb *l = store_lmdb_of(s);
	unsigned char buf[8 + sizeof *b];
	size_t n = strnlen(b->identity, sizeof b->identity);
	if (n == 0 || n == sizeof b->identity || n >= STORE_KEY_MAX)
		return -1;
	store_value_encode(buf, 'B', b, sizeof *b);
	MDB_val k = {n, (void *)b->identity}, v = {sizeof buf, buf};
	return store_lmdb_write(l->benv, l->block, &k, &v);
}

static int store_lmdb_block_get(struct store *s, const char *identity, struct store_block *out)
{
	struct store_lmdb *l = store_lmdb_of(s);
	MDB_txn *txn;
	if (identity[0] == '\0' || strlen(identity) >= STORE_KEY_MAX)
		return 0;
	if (mdb_txn_begin(l->benv, NULL, MDB_RDONLY, &txn) != 0)
		return -1;
	MDB_val k = store_lmdb_key(identity), v;
	int rc = mdb_get(txn, l->block, &k, &v);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	else if (rc != 0)
		rc = -1;
	else
		rc = store_lmdb_decode(&v, 'B', out, sizeof *out) == 0 ? 1 : 0;
	mdb_txn_abort(txn);
	return rc;
}

static int store_lmdb_block_del(struct store *s, const char *identity)
{
	return store_lmdb_delete(store_lmdb_of(s)->benv, store_lmdb_of(s)->block, identity);
}

/* Walks dbi, decoding values of the given type and size into tmp. */
static int store_lmdb_walk(MDB_env *env, MDB_dbi dbi, char type, void *tmp, uint32_t size,
                           int (*each)(void *ctx, const void *item), void *ctx)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	if (mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0)
		return -1;
	if (mdb_cursor_open(txn, dbi, &cur) != 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	MDB_val k, v;
	int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST), out = 0;
	while (rc == 0) {
		if ((type == 'A' ? store_audit_decode(v.mv_data, v.mv_size, tmp)
		                 : store_lmdb_decode(&v, type, tmp, size)) == 0) {
			out = each(ctx, tmp);
			if (out != 0)
				break;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		out = -1;
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return out;
}

struct store_lmdb_iter {
	store_block_fn bfn;
	store_audit_fn afn;
	void *ctx;
};

static int store_lmdb_each_block(void *ctx, const void *item)
{
	struct store_lmdb_iter *it = ctx;
	return it->bfn(it->ctx, item);
}

static int store_lmdb_each_audit(void *ctx, const void *item)
{
	struct store_lmdb_iter *it = ctx;
	return it->afn(it->ctx, item);
}

static int store_lmdb_block_iter(struct store *s, store_block_fn fn, void *ctx)
{
	struct store_block b;
	struct store_lmdb_iter it = {.bfn = fn, .ctx = ctx};
	return store_lmdb_walk(store_lmdb_of(s)->benv, store_lmdb_of(s)->block, 'B', &b, sizeof b,
	                       store_lmdb_each_block, &it);
}

static size_t store_lmdb_block_count(struct store *s)
{
	struct store_lmdb *l = store_lmdb_of(s);
	MDB_txn *txn;
	MDB_stat st;
	if (mdb_txn_begin(l->benv, NULL, MDB_RDONLY, &txn) != 0)
		return 0;
	size_t n = mdb_stat(txn, l->block, &st) == 0 ? st.ms_entries : 0;
	mdb_txn_abort(txn);
	return n;
}

static int store_lmdb_audit_append(struct store *s, const struct store_audit *a)
{
	struct store_lmdb *l = store_lmdb_of(s);
	unsigned char buf[8 + sizeof *a];
	unsigned char key[8];
	uint64_t seq = 0;
	MDB_txn *txn;
	MDB_cursor *cur;
	store_value_encode(buf, 'A', a, sizeof *a);
	if (mdb_txn_begin(l->aenv, NULL, 0, &txn) != 0)
		return -1;
	if (mdb_cursor_open(txn, l->audit, &cur) != 0)
		goto fail;
	MDB_val k, v;
	if (mdb_cursor_get(cur, &k, &v, MDB_LAST) == 0 && k.mv_size == 8) {
		const unsigned char *p = k.mv_data;
		for (int i = 0; i < 8; i++)
			seq = seq << 8 | p[i];
		seq++;
	}
	mdb_cursor_close(cur);
	for (int i = 7; i >= 0; i--) {
		key[i] = (unsigned char)seq;
		seq >>= 8;
	}
	k.mv_size = 8;
	k.mv_data = key;
	v.mv_size = sizeof buf;
	v.mv_data = buf;
	if (mdb_put(txn, l->audit, &k, &v, 0) != 0)
		goto fail;
	return mdb_txn_commit(txn) == 0 ? 0 : -1; /* synced: aenv has no NOSYNC */
fail:
	mdb_txn_abort(txn);
	return -1;
}

static int store_lmdb_audit_iter(struct store *s, store_audit_fn fn, void *ctx)
{
	struct store_audit a;
	struct store_lmdb_iter it = {.afn = fn, .ctx = ctx};
	return store_lmdb_walk(store_lmdb_of(s)->aenv, store_lmdb_of(s)->audit, 'A', &a, sizeof a,
	                       store_lmdb_each_audit, &it);
}

static void store_lmdb_close(struct store *s)
{
	struct store_lmdb *l = store_lmdb_of(s);
	if (!l)
		return;
	if (l->env) {
		(void)mdb_env_sync(l->env, 1);
		mdb_env_close(l->env);
	}
	if (l->benv)
		mdb_env_close(l->benv);
	if (l->aenv)
		mdb_env_close(l->aenv);
	free(l);
}

#define STORE_LMDB_COUNTER_FLAGS (MDB_NOSYNC | MDB_NOTLS | MDB_WRITEMAP | MDB_MAPASYNC)

/* Opens the synced environment path/name holding one database, name. 0 or an
 * LMDB error (errno values for the directory). */

/* LMDB opens its data file without close-on-exec: alert programs must not
 * inherit it. 0 or an errno. */
static int store_lmdb_cloexec(MDB_env *env)
{
	mdb_filehandle_t fd;
	int rc = mdb_env_get_fd(env, &fd);
	if (rc != 0)
		return rc;
	return fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 ? errno : 0;
}

static int store_lmdb_open_synced(const char *path, const char *name, size_t map_bytes,
                                  MDB_env **env, MDB_dbi *dbi)
{
	char dir[600];
	MDB_txn *txn;
	int rc;
	if (str_format(dir, sizeof dir, "%s/%s", path, name) != 0)
		return ENAMETOOLONG;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return errno;
	if ((rc = mdb_env_create(env)) != 0)
		return rc;
	/* No NOSYNC, no WRITEMAP: every commit is on disk before it returns,
	 * and a crash cannot tear what an earlier commit wrote. */
	/* never below 64 MiB: a small counters map must leave room for blocks */
	if (map_bytes < ((size_t)64 << 20))
		map_bytes = (size_t)64 << 20;
	if ((rc = mdb_env_set_maxdbs(*env, 2)) != 0 ||
	    (rc = mdb_env_set_mapsize(*env, map_bytes)) != 0 ||
	    (rc = mdb_env_open(*env, dir, MDB_NOTLS, 0600)) != 0 ||
	    (rc = store_lmdb_cloexec(*env)) != 0 ||
	    (rc = mdb_txn_begin(*env, NULL, 0, &txn)) != 0) {
		mdb_env_close(*env);
		*env = NULL;
		return rc;
	}
	if ((rc = mdb_dbi_open(txn, name, MDB_CREATE, dbi)) != 0)
		mdb_txn_abort(txn);
	else
		rc = mdb_txn_commit(txn);
	if (rc != 0) {
		mdb_env_close(*env);
		*env = NULL;
	}
	return rc;
}

/* Stores made before blocks and audit had their own environments kept them
 * in the counters' one: moved over (once, when the new one is empty). */
static int store_lmdb_migrate(MDB_txn *txn, const char *name, MDB_env *to, MDB_dbi to_dbi)
{
	MDB_dbi old;
	MDB_cursor *cur;
	MDB_txn *tt;
	MDB_stat st;
	int rc = mdb_dbi_open(txn, name, 0, &old);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if ((rc = mdb_txn_begin(to, NULL, 0, &tt)) != 0)
		return rc;
	if ((rc = mdb_stat(tt, to_dbi, &st)) != 0 || st.ms_entries > 0 ||
	    (rc = mdb_cursor_open(txn, old, &cur)) != 0) {
		mdb_txn_abort(tt);
		return rc;
	}
	MDB_val k, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if ((rc = mdb_put(tt, to_dbi, &k, &v, 0)) != 0)
			break;
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND) {
		mdb_txn_abort(tt);
		return rc;
	}
	if ((rc = mdb_txn_commit(tt)) != 0)
		return rc;
	return mdb_drop(txn, old, 1);
}

struct store *store_lmdb_open(const char *path, size_t map_bytes, char *err, size_t errlen)
{
	struct store_lmdb *l = calloc(1, sizeof *l);
	MDB_txn *txn = NULL;
	const char *where = path;
	int rc;
	if (!l) {
		str_copy_trunc(err, errlen, "out of memory");
		return NULL;
	}
	if (!map_bytes)
		map_bytes = (size_t)1 << 30;
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		str_format_trunc(err, errlen, "%s: %s", path, strerror(errno));
		free(l);
		return NULL;
	}
	where = "blocks";
	if ((rc = store_lmdb_open_synced(path, "blocks", map_bytes, &l->benv, &l->block)) != 0)
		goto fail;
	where = "audit";
	if ((rc = store_lmdb_open_synced(path, "audit", map_bytes, &l->aenv, &l->audit)) != 0)
		goto fail;
	where = path;
	if ((rc = mdb_env_create(&l->env)) != 0)
		goto fail;
	if ((rc = mdb_env_set_maxdbs(l->env, 8)) != 0)
		goto fail;
	if ((rc = mdb_env_set_mapsize(l->env, map_bytes)) != 0)
		goto fail;
	if ((rc = mdb_env_open(l->env, path, STORE_LMDB_COUNTER_FLAGS, 0600)) != 0)
		goto fail;
	if ((rc = store_lmdb_cloexec(l->env)) != 0)
		goto fail;
	if ((rc = mdb_txn_begin(l->env, NULL, 0, &txn)) != 0)
		goto fail;
	if ((rc = mdb_dbi_open(txn, "rec", MDB_CREATE, &l->rec)) != 0 ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &l->meta)) != 0 ||
	    (rc = mdb_dbi_open(txn, "expk", MDB_CREATE, &l->expk)) != 0 ||
	    (rc = mdb_dbi_open(txn, "exp", MDB_CREATE, &l->exp)) != 0 ||
	    (rc = store_lmdb_migrate(txn, "block", l->benv, l->block)) != 0 ||
	    (rc = store_lmdb_migrate(txn, "audit", l->aenv, l->audit)) != 0)
		goto fail;
	MDB_val k = {7, "version"}, v;
	rc = mdb_get(txn, l->meta, &k, &v);
	if (rc == MDB_NOTFOUND) {
		v.mv_size = 1;
		v.mv_data = "1";
		if ((rc = mdb_put(txn, l->meta, &k, &v, 0)) != 0)
			goto fail;
	} else if (rc != 0) {
		goto fail;
	} else if (v.mv_size != 1 || ((const char *)v.mv_data)[0] != '1') {
		str_format_trunc(err, errlen, "%s: unknown store version", path);
		mdb_txn_abort(txn);
		store_lmdb_close(&l->base);
		return NULL;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0)
		goto fail;
	l->base = (struct store){
	    .get = store_lmdb_get,
	    .put = store_lmdb_put,
	    .del = store_lmdb_del,
	    .del_prefix = store_lmdb_del_prefix,
	    .update = store_lmdb_update,
	    .put_exp = store_lmdb_put_exp,
	    .expire = store_lmdb_expire,
	    .update_exp = store_lmdb_update_exp,
	    .usage = store_lmdb_usage,
	    .block_put = store_lmdb_block_put,
	    .block_get = store_lmdb_block_get,
	    .block_del = store_lmdb_block_del,
	    .block_iter = store_lmdb_block_iter,
	    .block_count = store_lmdb_block_count,
	    .audit_append = store_lmdb_audit_append,
	    .audit_iter = store_lmdb_audit_iter,
	    .close = store_lmdb_close,
	    .name = "lmdb",
	};
	return &l->base;
fail:
	str_format_trunc(err, errlen, "%s%s%s: %s", where == path ? "" : path,
	                 where == path ? "" : "/", where,
	                 rc > 0 && rc < 200 ? strerror(rc) : mdb_strerror(rc));
	if (txn)
		mdb_txn_abort(txn);
	store_lmdb_close(&l->base);
	return NULL;
}

bool store_lmdb_durable(struct store *s)
{
	struct store_lmdb *l = store_lmdb_of(s);
	unsigned fb, fa;
	const unsigned lossy = MDB_NOSYNC | MDB_MAPASYNC | MDB_NOMETASYNC;
	if (!s || s->close != store_lmdb_close || !l->benv || !l->aenv ||
	    mdb_env_get_flags(l->benv, &fb) != 0 || mdb_env_get_flags(l->aenv, &fa) != 0)
		return false;
	return (fb & lossy) == 0 && (fa & lossy) == 0;
}

/* ---- store verify ---- */

/* Keeps the first problem: what, then detail. */
static void store_lmdb_problem(struct store_lmdb_check *c, const char *what, const char *detail)
{
	if (!c->problem[0])
		str_format_trunc(c->problem, sizeof c->problem, "%s%s", what, detail);
}

/* Walks every database of env's main table: 0, or the LMDB error met. */
static int store_lmdb_walk_all(MDB_env *env, const char *const *names, size_t n)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < n && (rc == 0 || rc == MDB_NOTFOUND); i++) {
		MDB_dbi dbi;
		MDB_cursor *cur;
		MDB_val k, v;
		if ((rc = mdb_dbi_open(txn, names[i], 0, &dbi)) != 0)
			continue;
		if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
			break;
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
			;
		mdb_cursor_close(cur);
	}
	mdb_txn_abort(txn);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Moves path/name (a directory) or path's own data.mdb aside. 0 or -1. */
static int store_lmdb_set_aside(const char *path, const char *name, int64_t now_ms)
{
	char from[600], to[640], lock[620];
	long long t = (long long)(now_ms / 1000);
	if (name) {
		if (str_format(from, sizeof from, "%s/%s", path, name) != 0 ||
		    str_format(to, sizeof to, "%s/%s.broken-%lld", path, name, t) != 0)
			return -1;
		return rename(from, to) == 0 ? 0 : -1;
	}
	if (str_format(from, sizeof from, "%s/data.mdb", path) != 0 ||
	    str_format(to, sizeof to, "%s/data.mdb.broken-%lld", path, t) != 0 ||
	    str_format(lock, sizeof lock, "%s/lock.mdb", path) != 0)
		return -1;
	if (rename(from, to) != 0)
		return -1;
	(void)unlink(lock);
	return 0;
}

struct store_lmdb_replay {
	struct store *latest; /* identity -> its newest block record, or absent */
	struct store *blocks; /* the store being checked */
	struct store_lmdb_check *c;
	bool repair, second;
};

static int store_lmdb_replay_each(void *ctx, const struct store_audit *a)
{
	struct store_lmdb_replay *r = ctx;
	bool block = strcmp(a->action, "block") == 0;
	if (!r->second) {
		r->c->audits++;
		if (block)
			return r->latest->put(r->latest, a->identity, a, sizeof *a) == 0 ? 0 : -1;
		if (strcmp(a->action, "unblock") == 0 || strcmp(a->action, "expire") == 0)
			return r->latest->del(r->latest, a->identity) < 0 ? -1 : 0;
		return 0;
	}
	struct store_audit last;
	struct store_block b;
	size_t len;
	if (!block || r->latest->get(r->latest, a->identity, &last, sizeof last, &len) != 1 ||
	    len != sizeof last || memcmp(&last, a, sizeof last) != 0)
		return 0; /* lifted later, or not the newest block of it */
	int got = r->blocks->block_get(r->blocks, a->identity, &b);
	if (got < 0)
		return -1;
	if (got == 1)
		return 0;
	r->c->missing++;
	store_lmdb_problem(r->c, "the audit trail has a block not in the store: ", a->identity);
	if (!r->repair)
		return 0;
	memset(&b, 0, sizeof b);
	if (str_copy(b.identity, sizeof b.identity, a->identity) != 0 ||
	    store_block_kind_of(b.identity, &b.kind) != 0)
		return 0;
	if (str_copy(b.rule, sizeof b.rule, a->rule[0] ? a->rule : "rebuilt") != 0)
		panic("store_lmdb_replay_each: b.rule does not fit");
	str_copy_trunc(b.reason, sizeof b.reason, a->reason);
	b.created_ms = a->time_ms;
	b.expires_ms = a->expires_ms;
	b.offences = a->offences;
	if (r->blocks->block_put(r->blocks, &b) != 0)
		return -1;
	r->c->rebuilt++;
	return 0;
}

/* Deletes (repair) or counts the blocks that do not decode. */
static int store_lmdb_check_blocks(struct store_lmdb *l, struct store_lmdb_check *c, bool repair)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	int rc = mdb_txn_begin(l->benv, NULL, repair ? 0 : MDB_RDONLY, &txn);
	if (rc != 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, l->block, &cur)) != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	MDB_val k, v;
	struct store_block b;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		c->blocks++;
		if (store_lmdb_decode(&v, 'B', &b, sizeof b) == 0 &&
		    k.mv_size < sizeof b.identity &&
		    strnlen(b.identity, sizeof b.identity) == k.mv_size &&
		    memcmp(k.mv_data, b.identity, k.mv_size) == 0)
			continue;
		c->bad_blocks++;
		store_lmdb_problem(c, "a block value does not decode", "");
		if (repair && (rc = mdb_cursor_del(cur, 0)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return rc;
	}
	return repair ? mdb_txn_commit(txn) : (mdb_txn_abort(txn), 0);
}

int store_lmdb_verify(const char *path, size_t map_bytes, bool repair, int64_t now_ms,
                      struct store_lmdb_check *out, char *err, size_t errlen)
{
	static const char *const counter_dbs[] = {"rec", "meta", "expk", "exp"};
	memset(out, 0, sizeof *out);
	if (!map_bytes)
		map_bytes = (size_t)1 << 30;
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
		str_format_trunc(err, errlen, "%s: no state store here", path);
		return -1;
	}
	/* 1. the counters: lossy, so a broken environment is just started afresh */
	MDB_env *env = NULL;
	int rc = mdb_env_create(&env);
	if (rc == 0 && (rc = mdb_env_set_maxdbs(env, 8)) == 0 &&
	    (rc = mdb_env_set_mapsize(env, map_bytes)) == 0 &&
	    (rc = mdb_env_open(env, path, STORE_LMDB_COUNTER_FLAGS, 0600)) == 0)
		rc = store_lmdb_walk_all(env, counter_dbs, 4);
	if (env)
		mdb_env_close(env);
	if (rc != 0) {
		out->counters_broken = true;
		store_lmdb_problem(out, "counters: ", mdb_strerror(rc));
		if (repair && store_lmdb_set_aside(path, NULL, now_ms) == 0)
			out->counters_reset = true;
	}
	/* 2. the blocks environment must open and walk */
	MDB_env *probe = NULL;
	MDB_dbi dbi;
	rc = store_lmdb_open_synced(path, "blocks", map_bytes, &probe, &dbi);
	if (rc == 0) {
		static const char *const bdb[] = {"blocks"};
		rc = store_lmdb_walk_all(probe, bdb, 1);
		mdb_env_close(probe);
	}
	if (rc != 0) {
		out->blocks_broken = true;
		store_lmdb_problem(out, "blocks: ", mdb_strerror(rc));
		if (repair && store_lmdb_set_aside(path, "blocks", now_ms) == 0)
			out->blocks_reset = true;
	}
	/* 3. the audit trail must open and walk: it is what blocks are rebuilt from */
	probe = NULL;
	rc = store_lmdb_open_synced(path, "audit", map_bytes, &probe, &dbi);
	if (rc == 0) {
		static const char *const adb[] = {"audit"};
		rc = store_lmdb_walk_all(probe, adb, 1);
		mdb_env_close(probe);
	}
	if (rc != 0) {
		out->audit_broken = true;
		store_lmdb_problem(out, "audit trail: ", mdb_strerror(rc));
		return 0;
	}
	if ((out->blocks_broken && !out->blocks_reset) ||
	    (out->counters_broken && !out->counters_reset))
		return 0; /* nothing more to learn without repair */
	/* 4. open the store and hold the blocks against the trail */
	struct store *s = store_lmdb_open(path, map_bytes, err, errlen);
	if (!s)
		return -1;
	struct store_lmdb *l = store_lmdb_of(s);
	rc = store_lmdb_check_blocks(l, out, repair);
	struct store_lmdb_replay r = {store_mem_new(), s, out, repair, false};
	if (rc == 0 && r.latest) {
		rc = s->audit_iter(s, store_lmdb_replay_each, &r);
		r.second = true;
		if (rc == 0)
			rc = s->audit_iter(s, store_lmdb_replay_each, &r);
	}
	if (r.latest)
		r.latest->close(r.latest);
	s->close(s);
	if (rc != 0 || !r.latest) {
		str_format_trunc(err, errlen, "%s: cannot read the store back (%s)", path,
		                 rc > 0 ? mdb_strerror(rc) : "error");
		return -1;
	}
	return 0;
}
