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

#include "core/str.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct store_lmdb {
	struct store base;
	MDB_env *env;
	MDB_dbi rec, block, audit, meta, expk, exp;
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

static int store_lmdb_write(struct store_lmdb *l, MDB_dbi dbi, MDB_val *k, MDB_val *v, bool sync)
{
	MDB_txn *txn;
	if (mdb_txn_begin(l->env, NULL, 0, &txn) != 0)
		return -1;
	if (mdb_put(txn, dbi, k, v, 0) != 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	if (mdb_txn_commit(txn) != 0)
		return -1;
	if (sync && mdb_env_sync(l->env, 1) != 0)
		return -1;
	return 0;
}

static int store_lmdb_put(struct store *s, const char *key, const void *rec, size_t len)
{
	struct store_lmdb *l = store_lmdb_of(s);
	if (key[0] == '\0' || strlen(key) >= STORE_KEY_MAX || len > STORE_REC_MAX)
		return -1;
	MDB_val k = store_lmdb_key(key), v = {len, (void *)rec};
	return store_lmdb_write(l, l->rec, &k, &v, false);
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

static int store_lmdb_put_exp(struct store *s, const char *key, const void *rec, size_t len,
                              int64_t expires_ms)
{
	struct store_lmdb *l = store_lmdb_of(s);
	unsigned char ik[8 + STORE_KEY_MAX], when[8];
	size_t klen = strlen(key);
	MDB_txn *txn;
	if (klen == 0 || klen >= STORE_KEY_MAX || len > STORE_REC_MAX || expires_ms <= 0)
		return -1;
	if (mdb_txn_begin(l->env, NULL, 0, &txn) != 0)
		return -1;
	MDB_val k = store_lmdb_key(key), v = {len, (void *)rec}, old, ek, ev = {0, ""};
	/* the time index keeps one entry per key: drop the previous one */
	int rc = mdb_get(txn, l->expk, &k, &old);
	if (rc == 0 && old.mv_size == 8) {
		memcpy(ik, old.mv_data, 8);
		memcpy(ik + 8, key, klen);
		ek = (MDB_val){8 + klen, ik};
		rc = mdb_del(txn, l->exp, &ek, NULL);
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto fail;
	store_lmdb_be64(when, expires_ms);
	memcpy(ik, when, 8);
	memcpy(ik + 8, key, klen);
	ek = (MDB_val){8 + klen, ik};
	MDB_val wv = {8, when};
	if (mdb_put(txn, l->rec, &k, &v, 0) != 0 || mdb_put(txn, l->expk, &k, &wv, 0) != 0 ||
	    mdb_put(txn, l->exp, &ek, &ev, 0) != 0)
		goto fail;
	return mdb_txn_commit(txn) == 0 ? 0 : -1;
fail:
	mdb_txn_abort(txn);
	return -1;
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
	while (rc == 0 && k.mv_size > 8 && store_lmdb_unbe64(k.mv_data) <= now_ms) {
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
	return mdb_txn_commit(txn) == 0 ? n : -1;
}

static int store_lmdb_delete(struct store_lmdb *l, MDB_dbi dbi, const char *key, bool sync)
{
	MDB_txn *txn;
	if (key[0] == '\0' || strlen(key) >= STORE_KEY_MAX)
		return key[0] == '\0' ? 0 : -1;
	if (mdb_txn_begin(l->env, NULL, 0, &txn) != 0)
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
	if (mdb_txn_commit(txn) != 0)
		return -1;
	if (sync && mdb_env_sync(l->env, 1) != 0)
		return -1;
	return 1;
}

static int store_lmdb_del(struct store *s, const char *key)
{
	return store_lmdb_delete(store_lmdb_of(s), store_lmdb_of(s)->rec, key, false);
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

static int store_lmdb_update(struct store *s, const char *key, store_update_fn fn, void *ctx)
{
	struct store_lmdb *l = store_lmdb_of(s);
	_Alignas(16) unsigned char buf[STORE_REC_MAX];
	MDB_txn *txn;
	if (key[0] == '\0' || strlen(key) >= STORE_KEY_MAX)
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
	return mdb_txn_commit(txn) == 0 ? STORE_COMMIT : -1;
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
	return store_lmdb_write(l, l->block, &k, &v, true);
}

static int store_lmdb_block_get(struct store *s, const char *identity, struct store_block *out)
{
	struct store_lmdb *l = store_lmdb_of(s);
	MDB_txn *txn;
	if (identity[0] == '\0' || strlen(identity) >= STORE_KEY_MAX)
		return 0;
	if (mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn) != 0)
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
	return store_lmdb_delete(store_lmdb_of(s), store_lmdb_of(s)->block, identity, true);
}

/* Walks dbi, decoding values of the given type and size into tmp. */
static int store_lmdb_walk(struct store_lmdb *l, MDB_dbi dbi, char type, void *tmp, uint32_t size,
                           int (*each)(void *ctx, const void *item), void *ctx)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	if (mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn) != 0)
		return -1;
	if (mdb_cursor_open(txn, dbi, &cur) != 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	MDB_val k, v;
	int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST), out = 0;
	while (rc == 0) {
		if (store_lmdb_decode(&v, type, tmp, size) == 0) {
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
	return store_lmdb_walk(store_lmdb_of(s), store_lmdb_of(s)->block, 'B', &b, sizeof b,
	                       store_lmdb_each_block, &it);
}

static size_t store_lmdb_block_count(struct store *s)
{
	struct store_lmdb *l = store_lmdb_of(s);
	MDB_txn *txn;
	MDB_stat st;
	if (mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn) != 0)
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
	if (mdb_txn_begin(l->env, NULL, 0, &txn) != 0)
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
	if (mdb_txn_commit(txn) != 0)
		return -1;
	return mdb_env_sync(l->env, 1) == 0 ? 0 : -1;
fail:
	mdb_txn_abort(txn);
	return -1;
}

static int store_lmdb_audit_iter(struct store *s, store_audit_fn fn, void *ctx)
{
	struct store_audit a;
	struct store_lmdb_iter it = {.afn = fn, .ctx = ctx};
	return store_lmdb_walk(store_lmdb_of(s), store_lmdb_of(s)->audit, 'A', &a, sizeof a,
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
	free(l);
}

struct store *store_lmdb_open(const char *path, size_t map_bytes, char *err, size_t errlen)
{
	struct store_lmdb *l = calloc(1, sizeof *l);
	MDB_txn *txn = NULL;
	int rc;
	if (!l) {
		(void)str_copy(err, errlen, "out of memory");
		return NULL;
	}
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		(void)str_format(err, errlen, "%s: %s", path, strerror(errno));
		free(l);
		return NULL;
	}
	if ((rc = mdb_env_create(&l->env)) != 0)
		goto fail;
	if ((rc = mdb_env_set_maxdbs(l->env, 8)) != 0)
		goto fail;
	if ((rc = mdb_env_set_mapsize(l->env, map_bytes ? map_bytes : (size_t)1 << 30)) != 0)
		goto fail;
	if ((rc = mdb_env_open(l->env, path, MDB_NOSYNC | MDB_NOTLS | MDB_WRITEMAP | MDB_MAPASYNC, 0600)) != 0)
		goto fail;
	/* LMDB opens its data file without close-on-exec: alert programs must
	 * not inherit it. */
	mdb_filehandle_t dfd;
	if ((rc = mdb_env_get_fd(l->env, &dfd)) != 0)
		goto fail;
	if (fcntl(dfd, F_SETFD, FD_CLOEXEC) != 0) {
		rc = errno;
		goto fail;
	}
	if ((rc = mdb_txn_begin(l->env, NULL, 0, &txn)) != 0)
		goto fail;
	if ((rc = mdb_dbi_open(txn, "rec", MDB_CREATE, &l->rec)) != 0 ||
	    (rc = mdb_dbi_open(txn, "block", MDB_CREATE, &l->block)) != 0 ||
	    (rc = mdb_dbi_open(txn, "audit", MDB_CREATE, &l->audit)) != 0 ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &l->meta)) != 0 ||
	    (rc = mdb_dbi_open(txn, "expk", MDB_CREATE, &l->expk)) != 0 ||
	    (rc = mdb_dbi_open(txn, "exp", MDB_CREATE, &l->exp)) != 0)
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
		(void)str_format(err, errlen, "%s: unknown store version", path);
		mdb_txn_abort(txn);
		mdb_env_close(l->env);
		free(l);
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
	(void)str_format(err, errlen, "%s: %s", path, mdb_strerror(rc));
	if (txn)
		mdb_txn_abort(txn);
	if (l->env)
		mdb_env_close(l->env);
	free(l);
	return NULL;
}
