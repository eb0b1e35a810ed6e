/*
 * store_redis - the shared state store: several gateway nodes on one Redis
 * (hiredis, synchronous, one connection per store handle behind a mutex).
 *
 * Keys, all under a configurable prefix P (default "relayguard:"):
 *   P r:KEY      an engine record: an 8-byte write tag, then the engine's bytes
 *   P blocks     a hash: identity -> 8-byte header + struct store_block
 *   P audit      a list, oldest first: 8-byte header + struct store_audit
 * The header is the LMDB store's ('R' 'G', type byte, version, 32-bit size),
 * so a foreign or truncated value is skipped, never trusted.
 *
 * Check-and-commit across nodes (update()): optimistic concurrency with a
 * Lua compare-and-set. We GET the record, run the engine's callback on it
 * locally, then EVAL a script that writes the new value only if the record's
 * write tag is still the one we read (every write stores a fresh random tag);
 * when another node wrote in between, the script refuses and we read and run
 * the callback again (store.h: callbacks may run more than once). Why not
 * MULTI/WATCH: it does the same, but needs a connection of its own per
 * transaction (WATCH is connection state) and three more round trips; why
 * not the whole decision in Lua: the engine is C, and must stay one engine
 * for every store. docs/policy.md has the argument in full.
 *
 * A connection failure (refused, reset, timed out) makes the call return -1
 * and store_redis_up() false until a later call reconnects; a Redis error
 * reply is -1 with the connection still up. The caller (gateway/gwstore.c)
 * falls back to local state on the former.
 */
#include "policy/store.h"

#include "core/log.h"
#include "core/str.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define STORE_REDIS_TAG 8
#define STORE_REDIS_RETRIES 64

/* KEYS[1] the record; ARGV[1] the tag we read ("" = absent), ARGV[2] the new
 * value, ARGV[3] (optional) a TTL in ms: without it the record keeps its TTL. */
static const char store_redis_cas[] = "local cur = redis.call('GET', KEYS[1])\n"
                                      "local tag = ''\n"
                                      "if cur then tag = string.sub(cur, 1, 8) end\n"
                                      "if tag ~= ARGV[1] then return 0 end\n"
                                      "if ARGV[3] then\n"
                                      "redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])\n"
                                      "else\n"
                                      "redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')\n"
                                      "end\n"
                                      "return 1\n";

struct store_redis {
	struct store base;
	pthread_mutex_t lock;
	redisContext *ctx;
	bool up;
	struct store_redis_options opt;
	char host[256], unix_path[256], prefix[64];
	char blocks_key[80], audit_key[80];
	char err[200];
	/* the newest event time expire() was given: put_exp's TTL counts from it */
	int64_t clock_ms;
};

static struct store_redis *store_redis_of(struct store *s)
{
	return (struct store_redis *)s;
}

static void store_redis_drop(struct store_redis *r)
{
	if (r->ctx)
		redisFree(r->ctx);
	r->ctx = NULL;
	r->up = false;
}

static int store_redis_connect(struct store_redis *r)
{
	int ms = r->opt.timeout_ms > 0 ? r->opt.timeout_ms : 500;
	int port = r->opt.port > 0 ? r->opt.port : 6379;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	store_redis_drop(r);
	r->ctx = r->unix_path[0] ? redisConnectUnixWithTimeout(r->unix_path, tv)
	                         : redisConnectWithTimeout(r->host, port, tv);
	if (!r->ctx || r->ctx->err) {
		str_format_trunc(r->err, sizeof r->err, "redis %s: %s",
		                 r->unix_path[0] ? r->unix_path : r->host,
		                 r->ctx ? r->ctx->errstr : "out of memory");
		store_redis_drop(r);
		return -1;
	}
	/* hiredis makes its socket without close-on-exec; alert programs must not
	 * inherit it. */
	if (fcntl(r->ctx->fd, F_SETFD, FD_CLOEXEC) != 0 ||
	    redisSetTimeout(r->ctx, tv) != REDIS_OK) {
		str_copy_trunc(r->err, sizeof r->err, "redis: cannot set the timeout");
		store_redis_drop(r);
		return -1;
	}
	r->up = true;
	return 0;
}

/* One command (argv form, binary-safe). The reply, or NULL: a connection failure
 * (the connection is dropped, up becomes false) or no memory. */
static redisReply *store_redis_cmd(struct store_redis *r, int argc, const char **argv,
                                   const size_t *lens)
{
	if (!r->ctx && store_redis_connect(r) != 0)
		return NULL;
	redisReply *rep = redisCommandArgv(r->ctx, argc, argv, lens);
	if (!rep) {
		str_format_trunc(r->err, sizeof r->err, "redis: %s", r->ctx->errstr);
		store_redis_drop(r);
		return NULL;
	}
	if (rep->type == REDIS_REPLY_ERROR)
		str_format_trunc(r->err, sizeof r->err, "redis: %s", rep->str);
	return rep;
}

static int store_redis_key(struct store_redis *r, char *out, size_t size, const char *key)
{
	if (key[0] == '\0' || strlen(key) >= STORE_KEY_MAX)
		return -1;
	return str_format(out, size, "%sr:%s", r->prefix, key);
}

static int store_redis_decode(const redisReply *v, char type, void *payload, uint32_t size)
{
	if (v->type != REDIS_REPLY_STRING)
		return -1;
	return store_value_decode(v->str, v->len, type, payload, size);
}

/* GET of a record: 1 with the value (tag stripped) in out and *len set, 2 when
 * a value is there but does not fit or is foreign (*len set when it has a tag),
 * 0 absent, -1 error. tag/taglen receive the stored write tag, which the
 * compare-and-set must quote back. */
static int store_redis_read(struct store_redis *r, const char *rkey, unsigned char *tag,
                            size_t *taglen, void *out, size_t cap, size_t *len)
{
	const char *argv[] = {"GET", rkey};
	size_t lens[] = {3, strlen(rkey)};
	redisReply *rep = store_redis_cmd(r, 2, argv, lens);
	int rc;
	*taglen = 0;
	if (!rep)
		return -1;
	if (rep->type == REDIS_REPLY_NIL) {
		rc = 0;
	} else if (rep->type != REDIS_REPLY_STRING) {
		rc = -1;
	} else if (rep->len < STORE_REDIS_TAG) {
		memcpy(tag, rep->str, rep->len);
		*taglen = rep->len;
		rc = 2;
	} else {
		memcpy(tag, rep->str, STORE_REDIS_TAG);
		*taglen = STORE_REDIS_TAG;
		*len = rep->len - STORE_REDIS_TAG;
		if (*len > cap) {
			rc = 2;
		} else {
			memcpy(out, rep->str + STORE_REDIS_TAG, *len);
			rc = 1;
		}
	}
	freeReplyObject(rep);
	return rc;
}

static int store_redis_get(struct store *s, const char *key, void *out, size_t cap, size_t *len)
{
	struct store_redis *r = store_redis_of(s);
	char rkey[STORE_KEY_MAX + 80];
	unsigned char tag[STORE_REDIS_TAG];
	size_t taglen;
	if (store_redis_key(r, rkey, sizeof rkey, key) != 0)
		return -1;
	pthread_mutex_lock(&r->lock);
	int rc = store_redis_read(r, rkey, tag, &taglen, out, cap, len);
	pthread_mutex_unlock(&r->lock);
	/* a value shorter than a write tag was not written by a store (another
	 * program, a person, a damaged value): absent, as update() starts such a
	 * record afresh; the old -1 was a store error (the engine failed open) */
	if (rc == 2 && taglen < STORE_REDIS_TAG)
		return 0;
	return rc == 2 ? -1 : rc;
}

static int store_redis_del_key(struct store_redis *r, const char *cmd, const char *k1,
                               const char *k2);

/* SET of the record rkey (store_redis_key) with a fresh write tag. ttl_ms > 0:
 * SET ... PX ttl (an expiring record); 0: KEEPTTL (a record keeps the expiry
 * it has, if any). Caller holds the lock. */
static int store_redis_set(struct store_redis *r, const char *rkey, const void *rec, size_t len,
                           int64_t ttl_ms)
{
	char ttl[24];
	unsigned char *val;
	if (len > STORE_REC_MAX || str_format(ttl, sizeof ttl, "%lld", (long long)ttl_ms) != 0)
		return -1;
	val = malloc(len + STORE_REDIS_TAG);
	if (!val)
		return -1;
	randombytes_buf(val, STORE_REDIS_TAG);
	memcpy(val + STORE_REDIS_TAG, rec, len);
	const char *argv[] = {"SET", rkey, (const char *)val, ttl_ms > 0 ? "PX" : "KEEPTTL", ttl};
	size_t lens[] = {3, strlen(rkey), len + STORE_REDIS_TAG, ttl_ms > 0 ? 2 : 7, strlen(ttl)};
	redisReply *rep = store_redis_cmd(r, ttl_ms > 0 ? 5 : 4, argv, lens);
	free(val);
	int rc = rep && rep->type == REDIS_REPLY_STATUS ? 0 : -1;
	freeReplyObject(rep);
	return rc;
}

static int store_redis_put(struct store *s, const char *key, const void *rec, size_t len)
{
	struct store_redis *r = store_redis_of(s);
	char rkey[STORE_KEY_MAX + 80];
	if (store_redis_key(r, rkey, sizeof rkey, key) != 0)
		return -1;
	pthread_mutex_lock(&r->lock);
	int rc = store_redis_set(r, rkey, rec, len, 0);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* Redis expires the record itself. Its TTL is counted from the newest event
 * time the engine's sweep passed to expire(), not from Redis's clock, so a
 * replay of old logs keeps records exactly as long as the memory and LMDB
 * stores do. A record already past its time is deleted (readers would take
 * it for absent anyway); before any sweep has said the time, it is kept
 * without a TTL (the engine sweeps before its first expiring write). */
static int store_redis_put_exp(struct store *s, const char *key, const void *rec, size_t len,
                               int64_t expires_ms)
{
	struct store_redis *r = store_redis_of(s);
	char rkey[STORE_KEY_MAX + 80];
	int rc;
	if (expires_ms < 0 || store_redis_key(r, rkey, sizeof rkey, key) != 0)
		return -1;
	pthread_mutex_lock(&r->lock);
	if (r->clock_ms > 0 && expires_ms > 0 && expires_ms <= r->clock_ms)
		rc = store_redis_del_key(r, "DEL", rkey, NULL) < 0 ? -1 : 0;
	else
		rc = store_redis_set(r, rkey, rec, len,
		                     r->clock_ms > 0 && expires_ms > 0 ? expires_ms - r->clock_ms
		                                                       : 0);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* Nothing to sweep (Redis does): remembers the time for put_exp. */
static long store_redis_expire(struct store *s, int64_t now_ms)
{
	struct store_redis *r = store_redis_of(s);
	pthread_mutex_lock(&r->lock);
	if (now_ms > r->clock_ms)
		r->clock_ms = now_ms;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/* DEL of one key: 1, 0 or -1. Caller holds the lock. */
static int store_redis_del_key(struct store_redis *r, const char *cmd, const char *k1,
                               const char *k2)
{
	const char *argv[] = {cmd, k1, k2};
	size_t lens[] = {strlen(cmd), strlen(k1), k2 ? strlen(k2) : 0};
	redisReply *rep = store_redis_cmd(r, k2 ? 3 : 2, argv, lens);
	int rc = !rep || rep->type != REDIS_REPLY_INTEGER ? -1 : rep->integer > 0 ? 1 : 0;
	freeReplyObject(rep);
	return rc;
}

static int store_redis_del(struct store *s, const char *key)
{
	struct store_redis *r = store_redis_of(s);
	char rkey[STORE_KEY_MAX + 80];
	if (key[0] == '\0')
		return 0;
	if (store_redis_key(r, rkey, sizeof rkey, key) != 0)
		return -1;
	pthread_mutex_lock(&r->lock);
	int rc = store_redis_del_key(r, "DEL", rkey, NULL);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* Glob-escapes s for SCAN MATCH. 0 or -1 when it does not fit. */
static int store_redis_glob(char *out, size_t size, const char *s)
{
	size_t n = 0;
	for (; *s; s++) {
		if (n + 3 > size)
			return -1;
		if (strchr("*?[]\\", *s))
			out[n++] = '\\';
		out[n++] = *s;
	}
	out[n] = '\0';
	return 0;
}

static long store_redis_del_prefix(struct store *s, const char *prefix)
{
	struct store_redis *r = store_redis_of(s);
	char raw[STORE_KEY_MAX + 80], pat[2 * (STORE_KEY_MAX + 80) + 2];
	char cursor[32] = "0";
	long n = 0;
	if (strlen(prefix) >= STORE_KEY_MAX ||
	    str_format(raw, sizeof raw, "%sr:%s", r->prefix, prefix) != 0 ||
	    store_redis_glob(pat, sizeof pat - 1, raw) != 0)
		return -1;
	if (str_append(pat, sizeof pat, "*") != 0)
		panic("store_redis_del_prefix: pat does not fit");
	pthread_mutex_lock(&r->lock);
	do {
		const char *argv[] = {"SCAN", cursor, "MATCH", pat, "COUNT", "1000"};
		size_t lens[] = {4, strlen(cursor), 5, strlen(pat), 5, 4};
		redisReply *rep = store_redis_cmd(r, 6, argv, lens);
		if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
		    rep->element[0]->type != REDIS_REPLY_STRING ||
		    rep->element[1]->type != REDIS_REPLY_ARRAY ||
		    str_copy(cursor, sizeof cursor, rep->element[0]->str) != 0) {
			freeReplyObject(rep);
			n = -1;
			break;
		}
		redisReply *keys = rep->element[1];
		for (size_t i = 0; i < keys->elements && n >= 0; i++) {
			if (keys->element[i]->type != REDIS_REPLY_STRING)
				continue;
			int d = store_redis_del_key(r, "DEL", keys->element[i]->str, NULL);
			n = d < 0 ? -1 : n + d;
		}
		freeReplyObject(rep);
	} while (n >= 0 && strcmp(cursor, "0") != 0);
	pthread_mutex_unlock(&r->lock);
	return n;
}

/* One compare-and-set: 1 written, 0 someone else wrote first, -1 error. Caller holds the lock. */
static int store_redis_cas_write(struct store_redis *r, const char *rkey, const unsigned char *tag,
                                 size_t taglen, const unsigned char *rec, size_t len,
                                 int64_t ttl_ms)
{
	char ttl[24];
	if (str_format(ttl, sizeof ttl, "%lld", (long long)ttl_ms) != 0)
		return -1;
	unsigned char *val = malloc(len + STORE_REDIS_TAG);
	if (!val)
		return -1;
	randombytes_buf(val, STORE_REDIS_TAG);
	memcpy(val + STORE_REDIS_TAG, rec, len);
	const char *argv[] = {
	    "EVAL", store_redis_cas, "1", rkey, (const char *)tag, (const char *)val, ttl};
	size_t lens[] = {4,      sizeof store_redis_cas - 1, 1,          strlen(rkey),
	                 taglen, len + STORE_REDIS_TAG,      strlen(ttl)};
	redisReply *rep = store_redis_cmd(r, ttl_ms > 0 ? 7 : 6, argv, lens);
	free(val);
	int rc = rep && rep->type == REDIS_REPLY_INTEGER ? (int)rep->integer : -1;
	freeReplyObject(rep);
	return rc;
}

/* expires_ms > 0: the record gets a TTL counted, as put_exp's, from the newest
 * time expire() was given (before any, from expires_ms itself: none). */
static int store_redis_update_any(struct store *s, const char *key, store_update_fn fn, void *ctx,
                                  int64_t expires_ms)
{
	struct store_redis *r = store_redis_of(s);
	char rkey[STORE_KEY_MAX + 80];
	_Alignas(16) unsigned char buf[STORE_REC_MAX];
	unsigned char tag[STORE_REDIS_TAG];
	size_t taglen;
	if (store_redis_key(r, rkey, sizeof rkey, key) != 0)
		return -1;
	int out = -1;
	pthread_mutex_lock(&r->lock);
	for (int attempt = 0; attempt < STORE_REDIS_RETRIES; attempt++) {
		size_t len = 0;
		int got = store_redis_read(r, rkey, tag, &taglen, buf, sizeof buf, &len);
		if (got < 0)
			break;
		if (got != 1)
			len = 0; /* absent, or foreign: start afresh */
		int rc = fn(ctx, buf, &len, sizeof buf);
		if (rc != STORE_COMMIT || len > sizeof buf) {
			out = rc == STORE_COMMIT ? -1 : rc;
			break;
		}
		int64_t ttl = 0;
		if (expires_ms > 0 && r->clock_ms > 0)
			ttl = expires_ms > r->clock_ms ? expires_ms - r->clock_ms : 1;
		rc = store_redis_cas_write(r, rkey, tag, taglen, buf, len, ttl);
		if (rc != 0) {
			out = rc == 1 ? STORE_COMMIT : -1;
			break;
		}
		/* another node wrote first: read again and decide again */
	}
	pthread_mutex_unlock(&r->lock);
	return out;
}

static int store_redis_update(struct store *s, const char *key, store_update_fn fn, void *ctx)
{
	return store_redis_update_any(s, key, fn, ctx, 0);
}

static int store_redis_update_exp(struct store *s, const char *key, store_update_fn fn, void *ctx,
                                  int64_t expires_ms)
{
	return store_redis_update_any(s, key, fn, ctx, expires_ms > 0 ? expires_ms : 0);
}

static int store_redis_block_put(struct store *s, const struct store_block *b)
{
	struct store_redis *r = store_redis_of(s);
	unsigned char buf[8 + sizeof *b];
	size_t n = strnlen(b->identity, sizeof b->identity);
	if (n == 0 || n == sizeof b->identity || n >= STORE_KEY_MAX)
		return -1;
	store_value_encode(buf, 'B', b, sizeof *b);
	const char *argv[] = {"HSET", r->blocks_key, b->identity, (const char *)buf};
	size_t lens[] = {4, strlen(r->blocks_key), n, sizeof buf};
	pthread_mutex_lock(&r->lock);
	redisReply *rep = store_redis_cmd(r, 4, argv, lens);
	pthread_mutex_unlock(&r->lock);
	int rc = rep && rep->type == REDIS_REPLY_INTEGER ? 0 : -1;
	freeReplyObject(rep);
	return rc;
}

static int store_redis_block_get(struct store *s, const char *identity, struct store_block *out)
{
	struct store_redis *r = store_redis_of(s);
	if (identity[0] == '\0' || strlen(identity) >= STORE_KEY_MAX)
		return 0;
	const char *argv[] = {"HGET", r->blocks_key, identity};
	size_t lens[] = {4, strlen(r->blocks_key), strlen(identity)};
	pthread_mutex_lock(&r->lock);
	redisReply *rep = store_redis_cmd(r, 3, argv, lens);
	pthread_mutex_unlock(&r->lock);
	int rc;
	if (!rep || rep->type == REDIS_REPLY_ERROR)
		rc = -1;
	else if (rep->type == REDIS_REPLY_NIL)
		rc = 0;
	else
		rc = store_redis_decode(rep, 'B', out, sizeof *out) == 0 ? 1 : 0;
	freeReplyObject(rep);
	return rc;
}

static int store_redis_block_del(struct store *s, const char *identity)
{
	struct store_redis *r = store_redis_of(s);
	if (identity[0] == '\0' || strlen(identity) >= STORE_KEY_MAX)
		return identity[0] == '\0' ? 0 : -1;
	pthread_mutex_lock(&r->lock);
	int rc = store_redis_del_key(r, "HDEL", r->blocks_key, identity);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* Fetches the whole reply of a read command, under the lock. */
static redisReply *store_redis_fetch(struct store_redis *r, int argc, const char **argv)
{
	size_t lens[8];
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	pthread_mutex_lock(&r->lock);
	redisReply *rep = store_redis_cmd(r, argc, argv, lens);
	pthread_mutex_unlock(&r->lock);
	if (rep && rep->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(rep);
		rep = NULL;
	}
	return rep;
}

static int store_redis_block_iter(struct store *s, store_block_fn fn, void *ctx)
{
	struct store_redis *r = store_redis_of(s);
	char cursor[32] = "0";
	struct store_block b;
	int out = 0;
	/* HSCAN in pages: the callback runs without the lock, on our copy. */
	do {
		const char *argv[] = {"HSCAN", r->blocks_key, cursor, "COUNT", "500"};
		redisReply *rep = store_redis_fetch(r, 5, argv);
		if (!rep || rep->elements != 2 || rep->element[0]->type != REDIS_REPLY_STRING ||
		    rep->element[1]->type != REDIS_REPLY_ARRAY ||
		    str_copy(cursor, sizeof cursor, rep->element[0]->str) != 0) {
			freeReplyObject(rep);
			return -1;
		}
		redisReply *kv = rep->element[1];
		for (size_t i = 1; i < kv->elements && out == 0; i += 2)
			if (store_redis_decode(kv->element[i], 'B', &b, sizeof b) == 0)
				out = fn(ctx, &b);
		freeReplyObject(rep);
	} while (out == 0 && strcmp(cursor, "0") != 0);
	return out;
}

static size_t store_redis_block_count(struct store *s)
{
	struct store_redis *r = store_redis_of(s);
	const char *argv[] = {"HLEN", r->blocks_key};
	size_t lens[] = {4, strlen(r->blocks_key)};
	pthread_mutex_lock(&r->lock);
	redisReply *rep = store_redis_cmd(r, 2, argv, lens);
	pthread_mutex_unlock(&r->lock);
	/* Unknown counts as "maybe some": the caller then looks the block up and
	 * sees the error there, rather than deciding "no blocks". */
	size_t n = rep && rep->type == REDIS_REPLY_INTEGER ? (size_t)rep->integer : 1;
	freeReplyObject(rep);
	return n;
}

static int store_redis_audit_append(struct store *s, const struct store_audit *a)
{
	struct store_redis *r = store_redis_of(s);
	unsigned char buf[8 + sizeof *a];
	store_value_encode(buf, 'A', a, sizeof *a);
	const char *argv[] = {"RPUSH", r->audit_key, (const char *)buf};
	size_t lens[] = {5, strlen(r->audit_key), sizeof buf};
	pthread_mutex_lock(&r->lock);
	redisReply *rep = store_redis_cmd(r, 3, argv, lens);
	pthread_mutex_unlock(&r->lock);
	int rc = rep && rep->type == REDIS_REPLY_INTEGER ? 0 : -1;
	freeReplyObject(rep);
	return rc;
}

static int store_redis_audit_iter(struct store *s, store_audit_fn fn, void *ctx)
{
	struct store_redis *r = store_redis_of(s);
	struct store_audit a;
	int out = 0;
	for (long start = 0; out == 0; start += 500) {
		char from[24], to[24];
		if (str_format(from, sizeof from, "%ld", start) != 0)
			panic("store_redis_audit_iter: from does not fit");
		if (str_format(to, sizeof to, "%ld", start + 499) != 0)
			panic("store_redis_audit_iter: to does not fit");
		const char *argv[] = {"LRANGE", r->audit_key, from, to};
		redisReply *rep = store_redis_fetch(r, 4, argv);
		if (!rep)
			return -1;
		size_t n = rep->elements;
		for (size_t i = 0; i < n && out == 0; i++)
			if (rep->element[i]->type == REDIS_REPLY_STRING &&
			    store_audit_decode(rep->element[i]->str, rep->element[i]->len, &a) == 0)
				out = fn(ctx, &a);
		freeReplyObject(rep);
		if (n < 500)
			break;
	}
	return out;
}

static void store_redis_close(struct store *s)
{
	struct store_redis *r = store_redis_of(s);
	if (!r)
		return;
	store_redis_drop(r);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

bool store_redis_up(struct store *s)
{
	struct store_redis *r = store_redis_of(s);
	pthread_mutex_lock(&r->lock);
	bool up = r->up;
	pthread_mutex_unlock(&r->lock);
	return up;
}

int store_redis_ping(struct store *s, char *err, size_t errlen)
{
	struct store_redis *r = store_redis_of(s);
	const char *argv[] = {"PING"};
	size_t lens[] = {4};
	pthread_mutex_lock(&r->lock);
	redisReply *rep = store_redis_cmd(r, 1, argv, lens);
	int rc = rep && rep->type == REDIS_REPLY_STATUS ? 0 : -1;
	if (rc != 0 && err)
		str_copy_trunc(err, errlen, r->err);
	pthread_mutex_unlock(&r->lock);
	freeReplyObject(rep);
	return rc;
}

struct store *store_redis_open(const struct store_redis_options *o, char *err, size_t errlen)
{
	struct store_redis *r = calloc(1, sizeof *r);
	if (!r) {
		str_copy_trunc(err, errlen, "out of memory");
		return NULL;
	}
	if (sodium_init() < 0) {
		str_copy_trunc(err, errlen, "libsodium cannot start");
		free(r);
		return NULL;
	}
	r->opt = *o;
	const char *prefix = o->prefix ? o->prefix : "relayguard:";
	if (str_copy(r->host, sizeof r->host, o->host ? o->host : "127.0.0.1") != 0 ||
	    str_copy(r->unix_path, sizeof r->unix_path, o->unix_path ? o->unix_path : "") != 0 ||
	    str_copy(r->prefix, sizeof r->prefix, prefix) != 0) {
		str_copy_trunc(err, errlen, "redis: address or key prefix too long");
		free(r);
		return NULL;
	}
	r->opt.host = r->opt.unix_path = r->opt.prefix = NULL;
	if (str_format(r->blocks_key, sizeof r->blocks_key, "%sblocks", r->prefix) != 0)
		panic("store_redis_open: the prefix is shorter than 64 bytes");
	if (str_format(r->audit_key, sizeof r->audit_key, "%saudit", r->prefix) != 0)
		panic("store_redis_open: the prefix is shorter than 64 bytes");
	pthread_mutex_init(&r->lock, NULL);
	r->base = (struct store){
	    .get = store_redis_get,
	    .put = store_redis_put,
	    .del = store_redis_del,
	    .del_prefix = store_redis_del_prefix,
	    .update = store_redis_update,
	    .put_exp = store_redis_put_exp,
	    .expire = store_redis_expire,
	    .update_exp = store_redis_update_exp,
	    .block_put = store_redis_block_put,
	    .block_get = store_redis_block_get,
	    .block_del = store_redis_block_del,
	    .block_iter = store_redis_block_iter,
	    .block_count = store_redis_block_count,
	    .audit_append = store_redis_audit_append,
	    .audit_iter = store_redis_audit_iter,
	    .close = store_redis_close,
	    .name = "redis",
	};
	/* A node that starts while Redis is down still starts (on its local
	 * state, through gwstore): only a missing option is fatal here. */
	if (store_redis_connect(r) != 0 && o->require_connection) {
		str_copy_trunc(err, errlen, r->err);
		store_redis_close(&r->base);
		return NULL;
	}
	return &r->base;
}
