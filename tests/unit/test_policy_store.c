/*
 * One test suite for every state-store backend: each test runs against the
 * memory store, against LMDB (in a fresh temporary directory) and against
 * Redis (a redis-server this test starts on a free loopback port; each test
 * under its own key prefix), plus the LMDB-only promise that a block survives
 * a restart and the Redis-only promises: two nodes share blocks and never
 * both slip under a limit, and a dead Redis is reported, not hidden.
 * Without redis-server installed the Redis tests are skipped, saying so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/addr.h"
#include "core/str.h"
#include "policy/config.h"
#include "policy/engine.h"
#include "policy/store.h"
#include "redis_server.h"
#include <hiredis/hiredis.h>
#include <lmdb.h>
#include <sys/stat.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct backend {
	const char *name;
	char dir[64];
	struct store *st;
};

static int setup_mem(void **state)
{
	struct backend *b = calloc(1, sizeof *b);
	if (!b)
		return -1;
	b->name = "memory";
	b->st = store_mem_new();
	*state = b;
	return b->st ? 0 : -1;
}

static int setup_lmdb(void **state)
{
	char err[256];
	struct backend *b = calloc(1, sizeof *b);
	if (!b)
		return -1;
	b->name = "lmdb";
	assert_int_equal(str_copy(b->dir, sizeof b->dir, "/tmp/rg-policy-store-XXXXXX"), 0);
	if (!mkdtemp(b->dir))
		return -1;
	b->st = store_lmdb_open(b->dir, 64 << 20, err, sizeof err);
	*state = b;
	return b->st ? 0 : -1;
}

static int redis_port;
static unsigned redis_tests;

static int setup_redis(void **state)
{
	char err[256], prefix[32];
	struct backend *b = calloc(1, sizeof *b);
	if (!b)
		return -1;
	b->name = "redis";
	*state = b;
	if (redis_port <= 0)
		return 0; /* the test skips */
	assert_int_equal(str_format(prefix, sizeof prefix, "t%u:", ++redis_tests), 0);
	struct store_redis_options o = {
	    .port = redis_port, .prefix = prefix, .require_connection = true};
	b->st = store_redis_open(&o, err, sizeof err);
	if (!b->st)
		fprintf(stderr, "redis store: %s\n", err);
	return b->st ? 0 : -1;
}

static int group_setup(void **state)
{
	redis_port = redis_server_start();
	if (redis_port == 0)
		fprintf(stderr, "# redis-server is not installed: the Redis store tests are "
		                "skipped (apt-get install redis-server)\n");
	else if (redis_port < 0)
		fprintf(stderr, "# redis-server would not start\n");
	return redis_port < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
	redis_server_stop();
	return 0;
}

static struct store *backend_store(void **state)
{
	struct backend *b = *state;
	if (!b->st && strcmp(b->name, "redis") == 0)
		skip();
	return b->st;
}

static int teardown(void **state)
{
	struct backend *b = *state;
	if (b->st)
		b->st->close(b->st);
	if (b->dir[0]) {
		char cmd[128];
		assert_int_equal(str_format(cmd, sizeof cmd, "rm -rf %s", b->dir), 0);
		if (system(cmd) != 0)
			return -1;
	}
	free(b);
	return 0;
}

static void test_records(void **state)
{
	struct store *s = backend_store(state);
	char out[64];
	size_t len = 0;
	assert_int_equal(s->get(s, "I:a", out, sizeof out, &len), 0);
	assert_int_equal(s->put(s, "I:a", "hello", 5), 0);
	assert_int_equal(s->get(s, "I:a", out, sizeof out, &len), 1);
	assert_int_equal(len, 5);
	assert_memory_equal(out, "hello", 5);
	assert_int_equal(s->get(s, "I:a", out, 2, &len), -1); /* does not fit */
	assert_int_equal(s->put(s, "I:b", "x", 1), 0);
	assert_int_equal(s->put(s, "A:c", "y", 1), 0);
	assert_int_equal(s->del(s, "I:b"), 1);
	assert_int_equal(s->del(s, "I:b"), 0);
	assert_int_equal(s->put(s, "I:b", "x", 1), 0);
	assert_int_equal(s->del_prefix(s, "I:"), 2);
	assert_int_equal(s->get(s, "A:c", out, sizeof out, &len), 1);
	/* many keys: growth and rehash of the memory table */
	char key[32];
	for (int i = 0; i < 5000; i++) {
		assert_int_equal(str_format(key, sizeof key, "K:%d", i), 0);
		assert_int_equal(s->put(s, key, &i, sizeof i), 0);
	}
	for (int i = 0; i < 5000; i += 7) {
		int v;
		assert_int_equal(str_format(key, sizeof key, "K:%d", i), 0);
		assert_int_equal(s->get(s, key, &v, sizeof v, &len), 1);
		assert_int_equal(v, i);
	}
	char big[STORE_REC_MAX + 1];
	memset(big, 0, sizeof big);
	assert_int_equal(s->put(s, "I:big", big, sizeof big), -1);
}

static int add_cb(void *ctx, unsigned char *rec, size_t *len, size_t cap)
{
	int *mode = ctx;
	uint64_t v = 0;
	if (*mode == 2)
		return -1;
	if (*len == sizeof v)
		memcpy(&v, rec, sizeof v);
	if (*mode == 0)
		return STORE_KEEP;
	v++;
	memcpy(rec, &v, sizeof v);
	*len = sizeof v;
	return STORE_COMMIT;
}

static void test_update(void **state)
{
	struct store *s = backend_store(state);
	int commit = 1, keep = 0, fail = 2;
	uint64_t v;
	size_t len;
	for (int i = 0; i < 10; i++)
		assert_int_equal(s->update(s, "I:n", add_cb, &commit), STORE_COMMIT);
	assert_int_equal(s->update(s, "I:n", add_cb, &keep), STORE_KEEP);
	assert_int_equal(s->update(s, "I:n", add_cb, &fail), -1);
	assert_int_equal(s->get(s, "I:n", &v, sizeof v, &len), 1);
	assert_int_equal(v, 10);
	assert_int_equal(s->update(s, "I:none", add_cb, &keep), STORE_KEEP);
	assert_int_equal(s->get(s, "I:none", &v, sizeof v, &len), 0);
}

/* Expiring records: swept by time (the caller's), refreshed by a new put_exp,
 * kept by update(), and plain records never swept. */
static void test_expiring(void **state)
{
	struct store *s = ((struct backend *)*state)->st;
	char out[16];
	size_t len;
	int commit = 1;
	assert_int_equal(s->put(s, "I:keep", "k", 1), 0);
	assert_int_equal(s->put_exp(s, "M:a", "aaa", 3, 1000), 0);
	assert_int_equal(s->put_exp(s, "M:b", "bbb", 3, 2000), 0);
	assert_int_equal(s->put_exp(s, "M:c", "ccc", 3, 1500), 0);
	assert_int_equal(s->put_exp(s, "M:c", "CCC", 3, 5000), 0); /* refreshed */
	assert_int_equal(s->update(s, "M:b", add_cb, &commit), STORE_COMMIT);
	assert_int_equal(s->expire(s, 999), 0);
	assert_int_equal(s->get(s, "M:a", out, sizeof out, &len), 1); /* until swept */
	assert_int_equal(s->expire(s, 1000), 1);
	assert_int_equal(s->get(s, "M:a", out, sizeof out, &len), 0);
	assert_int_equal(s->expire(s, 2500), 1); /* b, kept its expiry through update */
	assert_int_equal(s->get(s, "M:b", out, sizeof out, &len), 0);
	assert_int_equal(s->get(s, "M:c", out, sizeof out, &len), 1);
	assert_memory_equal(out, "CCC", 3);
	assert_int_equal(s->del(s, "M:c"), 1);
	assert_int_equal(s->put_exp(s, "M:c", "c2", 2, 6000), 0);
	assert_int_equal(s->expire(s, 5500), 0);
	assert_int_equal(s->get(s, "M:c", out, sizeof out, &len), 1);
	assert_int_equal(s->expire(s, INT64_MAX), 1);
	assert_int_equal(s->get(s, "I:keep", out, sizeof out, &len), 1);
	assert_int_equal(s->put_exp(s, "", "x", 1, 10), -1);
	char many[16];
	for (int i = 0; i < 3000; i++) {
		assert_int_equal(str_format(many, sizeof many, "M:%d", i), 0);
		assert_int_equal(s->put_exp(s, many, &i, sizeof i, 10000 + i), 0);
	}
	assert_int_equal(s->expire(s, 10000 + 1499), 1500);
	assert_int_equal(s->expire(s, 20000), 1500);
}

static int list_cb(void *ctx, const struct store_block *b)
{
	unsigned *n = ctx;
	(*n)++;
	return strcmp(b->identity, "ip:192.0.2.1") == 0 ? 0 : 0;
}

static int stop_cb(void *ctx, const struct store_block *b)
{
	return 7;
}

static void test_blocks(void **state)
{
	struct store *s = backend_store(state);
	struct store_block b, got;
	memset(&b, 0, sizeof b);
	assert_int_equal(s->block_count(s), 0);
	assert_int_equal(s->block_get(s, "user:a@b", &got), 0);
	assert_int_equal(str_copy(b.identity, sizeof b.identity, "user:a@b"), 0);
	b.kind = STORE_BLOCK_USER;
	assert_int_equal(str_copy(b.rule, sizeof b.rule, "compromise"), 0);
	assert_int_equal(str_copy(b.reason, sizeof b.reason, "score 120"), 0);
	b.n_evidence = 1;
	assert_int_equal(str_copy(b.evidence[0], sizeof b.evidence[0], "active 24 of 24 h"), 0);
	b.created_ms = 1000;
	b.expires_ms = 5000;
	b.offences = 2;
	assert_int_equal(s->block_put(s, &b), 0);
	assert_int_equal(str_copy(b.identity, sizeof b.identity, "ip:192.0.2.1"), 0);
	b.kind = STORE_BLOCK_IP;
	assert_int_equal(s->block_put(s, &b), 0);
	assert_int_equal(s->block_count(s), 2);
	assert_int_equal(s->block_get(s, "user:a@b", &got), 1);
	assert_string_equal(got.reason, "score 120");
	assert_string_equal(got.evidence[0], "active 24 of 24 h");
	assert_int_equal(got.expires_ms, 5000);
	assert_int_equal(got.offences, 2);
	unsigned n = 0;
	assert_int_equal(s->block_iter(s, list_cb, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(s->block_iter(s, stop_cb, NULL), 7);
	assert_int_equal(s->block_del(s, "user:a@b"), 1);
	assert_int_equal(s->block_del(s, "user:a@b"), 0);
	assert_int_equal(s->block_count(s), 1);
	memset(&b, 0, sizeof b);
	assert_int_equal(s->block_put(s, &b), -1); /* no identity */
	enum store_block_kind k;
	assert_int_equal(store_block_kind_of("cidr:10.0.0.0/8", &k), 0);
	assert_int_equal(k, STORE_BLOCK_CIDR);
	assert_int_equal(store_block_kind_of("cidr:", &k), -1);
	assert_int_equal(store_block_kind_of("host:x", &k), -1);
}

struct seen {
	int64_t t[16];
	unsigned n;
};

static int audit_cb(void *ctx, const struct store_audit *a)
{
	struct seen *s = ctx;
	if (s->n < 16)
		s->t[s->n++] = a->time_ms;
	return 0;
}

static void test_audit(void **state)
{
	struct store *s = backend_store(state);
	struct store_audit a;
	memset(&a, 0, sizeof a);
	for (int i = 0; i < 300; i++) {
		a.time_ms = i;
		assert_int_equal(str_copy(a.action, sizeof a.action, i % 2 ? "unblock" : "block"),
		                 0);
		assert_int_equal(str_copy(a.actor, sizeof a.actor, "ops"), 0);
		assert_int_equal(s->audit_append(s, &a), 0);
	}
	struct seen seen = {{0}, 0};
	assert_int_equal(s->audit_iter(s, audit_cb, &seen), 0);
	assert_int_equal(seen.n, 16);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(seen.t[i], i); /* oldest first */
}

static void test_lmdb_restart(void **state)
{
	struct backend *b = *state;
	char err[256];
	struct store_block blk, got;
	struct store_audit a;
	memset(&blk, 0, sizeof blk);
	memset(&a, 0, sizeof a);
	assert_int_equal(str_copy(blk.identity, sizeof blk.identity, "user:sam@example.org"), 0);
	assert_int_equal(str_copy(blk.reason, sizeof blk.reason, "hijacked"), 0);
	assert_int_equal(b->st->block_put(b->st, &blk), 0);
	assert_int_equal(b->st->audit_append(b->st, &a), 0);
	assert_int_equal(b->st->put(b->st, "I:x", "abc", 3), 0);
	b->st->close(b->st);
	b->st = store_lmdb_open(b->dir, 64 << 20, err, sizeof err);
	assert_non_null(b->st);
	assert_int_equal(b->st->block_get(b->st, "user:sam@example.org", &got), 1);
	assert_string_equal(got.reason, "hijacked");
	struct seen seen = {{0}, 0};
	assert_int_equal(b->st->audit_iter(b->st, audit_cb, &seen), 0);
	assert_int_equal(seen.n, 1);
	char out[8];
	size_t len;
	assert_int_equal(b->st->get(b->st, "I:x", out, sizeof out, &len), 1);
	assert_int_equal(len, 3);
}

/* Two nodes: two store handles on one Redis, two threads each. */
struct node_ctx {
	struct store *st;
	int n;
};

static void *node_run(void *arg)
{
	struct node_ctx *c = arg;
	int commit = 1;
	for (int i = 0; i < c->n; i++)
		if (c->st->update(c->st, "I:shared", add_cb, &commit) != STORE_COMMIT)
			return (void *)1;
	return NULL;
}

static void test_redis_two_nodes(void **state)
{
	struct store *a = backend_store(state);
	char err[256], prefix[32];
	/* the other node: the same Redis and key prefix as this test's store */
	assert_int_equal(str_format(prefix, sizeof prefix, "t%u:", redis_tests), 0);
	struct store_redis_options o = {
	    .port = redis_port, .prefix = prefix, .require_connection = true};
	struct store_block blk, got;
	struct store *b = store_redis_open(&o, err, sizeof err);
	assert_non_null(b);
	memset(&blk, 0, sizeof blk);
	assert_int_equal(str_copy(blk.identity, sizeof blk.identity, "user:sam@example.org"), 0);
	assert_int_equal(str_copy(blk.reason, sizeof blk.reason, "blocked at node A"), 0);
	assert_int_equal(a->block_put(a, &blk), 0);
	assert_int_equal(b->block_get(b, "user:sam@example.org", &got), 1);
	assert_string_equal(got.reason, "blocked at node A");
	assert_int_equal(b->block_del(b, "user:sam@example.org"), 1);
	assert_int_equal(a->block_get(a, "user:sam@example.org", &got), 0);

	struct node_ctx c[4] = {{a, 300}, {a, 300}, {b, 300}, {b, 300}};
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, node_run, &c[i]), 0);
	for (int i = 0; i < 4; i++) {
		void *res;
		assert_int_equal(pthread_join(t[i], &res), 0);
		assert_null(res);
	}
	uint64_t v;
	size_t len;
	assert_int_equal(a->get(a, "I:shared", &v, sizeof v, &len), 1);
	assert_int_equal(v, 1200); /* no update lost between the nodes */
	b->close(b);
}

/* PTTL of this test's record key in ms (-2 absent, -1 no TTL). */
static long long redis_pttl(const char *key)
{
	char full[128];
	assert_int_equal(str_format(full, sizeof full, "t%u:r:%s", redis_tests, key), 0);
	redisContext *c = redisConnect("127.0.0.1", redis_port);
	assert_non_null(c);
	assert_int_equal(c->err, 0);
	redisReply *rep = redisCommand(c, "PTTL %s", full);
	assert_non_null(rep);
	assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
	long long v = rep->integer;
	freeReplyObject(rep);
	redisFree(c);
	return v;
}

/* Expiring records on Redis: Redis removes them itself, with a TTL counted
 * from the event time the sweep gave (not Redis's clock); put() and update()
 * keep the TTL; a record already past its time is not written. */
static void test_redis_expiring(void **state)
{
	struct store *s = backend_store(state);
	char out[16];
	size_t len;
	int commit = 1;
	assert_non_null(s->put_exp);
	assert_non_null(s->expire);
	assert_int_equal(s->expire(s, 1000000), 0); /* the engine's time: Redis sweeps */
	assert_int_equal(s->put_exp(s, "M:a", "aaa", 3, 1000000 + 60000), 0);
	long long t = redis_pttl("M:a");
	assert_true(t > 55000 && t <= 60000);
	assert_int_equal(s->update(s, "M:a", add_cb, &commit), STORE_COMMIT);
	t = redis_pttl("M:a");
	assert_true(t > 55000 && t <= 60000); /* kept through the compare-and-set */
	assert_int_equal(s->put(s, "M:a", "AAA", 3), 0);
	assert_true(redis_pttl("M:a") > 55000);
	assert_int_equal(s->put(s, "I:keep", "k", 1), 0);
	assert_int_equal(redis_pttl("I:keep"), -1); /* plain records never expire */
	assert_int_equal(s->put_exp(s, "M:old", "o", 1, 999999), 0); /* already past */
	assert_int_equal(s->get(s, "M:old", out, sizeof out, &len), 0);
	assert_int_equal(s->put_exp(s, "M:b", "bb", 2, 1000000 + 50), 0);
	for (int i = 0; i < 100 && redis_pttl("M:b") != -2; i++)
		usleep(10000);
	assert_int_equal(s->get(s, "M:b", out, sizeof out, &len), 0); /* Redis removed it */
	assert_int_equal(s->get(s, "M:a", out, sizeof out, &len), 1);
	assert_int_equal(s->put_exp(s, "", "x", 1, 10), -1);
}

/* A record value shorter than the store's write tag (another program or a
 * person wrote it, a damaged value) is absent to get(), as it is to update():
 * the old get() said -1, a store error, and the engine failed open on it. */
static void test_redis_foreign_value(void **state)
{
	struct store *s = backend_store(state);
	char full[128], out[64];
	size_t len = 0;
	int commit = 1;
	assert_int_equal(str_format(full, sizeof full, "t%u:r:S:x@example.org", redis_tests), 0);
	redisContext *c = redisConnect("127.0.0.1", redis_port);
	assert_non_null(c);
	assert_int_equal(c->err, 0);
	redisReply *rep = redisCommand(c, "SET %s %s", full, "abc");
	assert_non_null(rep);
	freeReplyObject(rep);
	redisFree(c);
	assert_int_equal(s->get(s, "S:x@example.org", out, sizeof out, &len), 0);
	assert_int_equal(s->update(s, "S:x@example.org", add_cb, &commit), STORE_COMMIT);
	assert_int_equal(s->get(s, "S:x@example.org", out, sizeof out, &len), 1);
}

static void test_redis_down(void **state)
{
	(void)backend_store(state);
	char err[256];
	int port = redis_server_free_port();
	struct store_redis_options o = {.port = port, .timeout_ms = 200};
	struct store *s = store_redis_open(&o, err, sizeof err);
	assert_non_null(s); /* opens; connects later */
	assert_false(store_redis_up(s));
	char out[8];
	size_t len;
	int commit = 1;
	struct store_block b;
	assert_int_equal(s->get(s, "I:a", out, sizeof out, &len), -1);
	assert_int_equal(s->update(s, "I:a", add_cb, &commit), -1);
	assert_int_equal(s->block_get(s, "user:a@b", &b), -1);
	assert_int_equal(store_redis_ping(s, err, sizeof err), -1);
	assert_false(store_redis_up(s));
	assert_non_null(strstr(err, "refused"));
	s->close(s);
	o.require_connection = true;
	assert_null(store_redis_open(&o, err, sizeof err));
}

#define BOTH(fn)                                                                                   \
	{#fn "_memory", fn, setup_mem, teardown, NULL},                                            \
	{                                                                                          \
#fn "_lmdb", fn, setup_lmdb, teardown, NULL                                        \
	}

#define REDIS(fn)                                                                                  \
	{                                                                                          \
#fn "_redis", fn, setup_redis, teardown, NULL                                      \
	}

/* ---- identity records expire (issue 16 item 2) ---- */

#define T0 1700000000000LL
#define DAY 86400000LL

static void engine_auth_fail(struct pol_engine *e, int64_t t, const char *user, const char *ip)
{
	struct pol_event ev;
	struct pol_verdict v;
	pol_event_init(&ev, POL_EV_AUTH_FAIL, t);
	assert_int_equal(str_copy(ev.user, sizeof ev.user, user), 0);
	assert_int_equal(addr_parse(ip, strlen(ip), &ev.ip), 0);
	ev.has_ip = true;
	assert_int_equal(pol_engine_evaluate(e, &ev, &v), 0);
}

/* An engine with the default configuration on s; *ttl its records' life. */
static struct pol_engine *engine_on(struct store *s, struct pol_config *cfg, int64_t *ttl)
{
	char err[128];
	assert_int_equal(pol_config_defaults(cfg, err, sizeof err), 0);
	struct pol_engine *e = pol_engine_new(cfg, s);
	assert_non_null(e);
	*ttl = pol_engine_rec_ttl(cfg);
	return e;
}

static int rec_present(struct store *s, const char *key)
{
	static unsigned char buf[STORE_REC_MAX];
	size_t len;
	return s->get(s, key, buf, sizeof buf, &len);
}

/* Every identity the engine counts leaves a record ("I:", "A:"): it must
 * carry the engine's longest window as its expiry and go in the sweep once
 * that long passed without an event (event time, not the wall clock), while
 * an identity still seen keeps its record. */
static void test_identity_records_expire(void **state)
{
	struct store *s = backend_store(state);
	struct pol_config cfg;
	int64_t ttl;
	struct pol_engine *e = engine_on(s, &cfg, &ttl);
	assert_true(ttl >= 30 * DAY && ttl <= 400 * DAY);
	engine_auth_fail(e, T0, "gone@example.org", "192.0.2.1");
	engine_auth_fail(e, T0, "kept@example.org", "192.0.2.2");
	assert_int_equal(rec_present(s, "I:user:gone@example.org"), 1);
	assert_int_equal(rec_present(s, "A:ip:192.0.2.1"), 1);
	/* kept is seen again half-way */
	engine_auth_fail(e, T0 + ttl / 2, "kept@example.org", "192.0.2.2");
	/* just past gone's window (and the backends' rounding): swept */
	int64_t later = T0 + ttl + 2 * 3600000LL;
	engine_auth_fail(e, later, "other@example.org", "192.0.2.9");
	engine_auth_fail(e, later + 120000, "other@example.org", "192.0.2.9");
	assert_int_equal(rec_present(s, "I:user:gone@example.org"), 0);
	assert_int_equal(rec_present(s, "A:ip:192.0.2.1"), 0);
	assert_int_equal(rec_present(s, "I:user:kept@example.org"), 1);
	assert_int_equal(rec_present(s, "I:user:other@example.org"), 1);
	/* and kept goes too once its own window passed */
	engine_auth_fail(e, T0 + ttl / 2 + ttl + 2 * 3600000LL, "other@example.org", "192.0.2.9");
	assert_int_equal(rec_present(s, "I:user:kept@example.org"), 0);
	pol_engine_free(e);
}

/* On Redis the same records get a TTL (SET PX in the compare-and-set) of
 * the longest window; Redis removes them itself. */
static long long redis_pttl(const char *key);
static void test_redis_identity_ttl(void **state)
{
	struct store *s = backend_store(state);
	struct pol_config cfg;
	int64_t ttl;
	struct pol_engine *e = engine_on(s, &cfg, &ttl);
	engine_auth_fail(e, T0, "u@example.org", "192.0.2.1");
	long long t = redis_pttl("I:user:u@example.org");
	assert_true(t > ttl - 60000 && t <= ttl);
	t = redis_pttl("A:ip:192.0.2.1");
	assert_true(t > ttl - 60000 && t <= ttl);
	/* a later event pushes it out again, counted from the engine's time */
	engine_auth_fail(e, T0 + DAY, "u@example.org", "192.0.2.1");
	t = redis_pttl("I:user:u@example.org");
	assert_true(t > ttl - 60000 && t <= ttl);
	pol_engine_free(e);
}

/* The LMDB sweep is incremental: at most STORE_EXPIRE_BATCH per call. */
static void test_lmdb_sweep_batch(void **state)
{
	struct store *s = backend_store(state);
	char key[32];
	for (int i = 0; i < STORE_EXPIRE_BATCH + 100; i++) {
		assert_int_equal(str_format(key, sizeof key, "M:%d", i), 0);
		assert_int_equal(s->put_exp(s, key, "x", 1, 1000), 0);
	}
	assert_int_equal(s->expire(s, 2000), STORE_EXPIRE_BATCH);
	assert_int_equal(s->expire(s, 2000), 100);
	assert_int_equal(s->expire(s, 2000), 0);
}

/* update_exp never shortens an expiry, and the record goes in the sweep. */
static void test_update_exp(void **state)
{
	struct store *s = backend_store(state);
	int commit = 1;
	assert_non_null(s->update_exp);
	assert_int_equal(s->update_exp(s, "I:x", add_cb, &commit, 10 * DAY), STORE_COMMIT);
	assert_int_equal(s->update_exp(s, "I:x", add_cb, &commit, 5 * DAY), STORE_COMMIT);
	assert_int_equal(s->expire(s, 9 * DAY), 0);
	assert_int_equal(rec_present(s, "I:x"), 1);
	assert_int_equal(s->expire(s, 11 * DAY), 1);
	assert_int_equal(rec_present(s, "I:x"), 0);
	/* a plain update() keeps a record without expiry */
	assert_int_equal(s->update(s, "I:y", add_cb, &commit), STORE_COMMIT);
	assert_int_equal(s->expire(s, INT64_MAX), 0);
	assert_int_equal(rec_present(s, "I:y"), 1);
}

/* LMDB reports how full its map is, and a full map fails (-1), it does not
 * pretend; after a sweep the space is used again. */
static void test_lmdb_usage_and_full(void **state)
{
	struct backend *b = *state;
	char err[256], key[32];
	b->st->close(b->st);
	b->st = NULL;
	char cmd[128];
	assert_int_equal(str_format(cmd, sizeof cmd, "rm -f %s/*.mdb", b->dir), 0);
	assert_int_equal(system(cmd), 0);
	b->st = store_lmdb_open(b->dir, 256 << 10, err, sizeof err);
	assert_non_null(b->st);
	struct store *s = b->st;
	int pm0 = store_usage_permille(s);
	assert_true(pm0 >= 0 && pm0 < 300);
	static unsigned char rec[2400];
	memset(rec, 'r', sizeof rec);
	int i, rc = 0;
	for (i = 0; i < 1000 && rc == 0; i++) {
		assert_int_equal(str_format(key, sizeof key, "I:user:%d", i), 0);
		rc = s->put_exp(s, key, rec, sizeof rec, 1000 + i);
	}
	assert_int_equal(rc, -1); /* full, and says so */
	assert_true(i > 10 && i < 1000);
	assert_true(store_usage_permille(s) >= 800);
	assert_true(s->expire(s, 1000 + i / 2) > 0);
	assert_true(store_usage_permille(s) < 800);
	rc = s->put_exp(s, "I:user:new", rec, sizeof rec, 5000);
	assert_int_equal(rc, 0);
	struct store *m = store_mem_new();
	assert_int_equal(store_usage_permille(m), -1); /* no limit known */
	m->close(m);
}

/* Blocks and the audit trail live in environments synced on every commit
 * (the counters' one is not), and a store made before that (blocks and audit
 * in the counters' environment) is moved over when opened. */
static void test_lmdb_durable_and_migrated(void **state)
{
	struct backend *b = *state;
	char err[256];
	assert_true(store_lmdb_durable(b->st));
	struct store *m = store_mem_new();
	assert_false(store_lmdb_durable(m));
	m->close(m);
	b->st->close(b->st);
	b->st = NULL;
	/* the old layout, written by hand: "block" and "audit" next to "rec" */
	char old[128];
	assert_int_equal(str_format(old, sizeof old, "%s/old", b->dir), 0);
	assert_int_equal(mkdir(old, 0700), 0);
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi bd, ad;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, old, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "block", MDB_CREATE, &bd), 0);
	assert_int_equal(mdb_dbi_open(txn, "audit", MDB_CREATE, &ad), 0);
	struct store_block blk = {.identity = "user:old@example.org",
	                          .kind = STORE_BLOCK_USER,
	                          .rule = "manual",
	                          .reason = "from before"};
	static unsigned char val[8 + sizeof(struct store_block)];
	store_value_encode(val, 'B', &blk, sizeof blk);
	MDB_val k = {strlen(blk.identity), blk.identity}, v = {sizeof val, val};
	assert_int_equal(mdb_put(txn, bd, &k, &v, 0), 0);
	unsigned char aval[8 + STORE_AUDIT_V1_SIZE], seq[8] = {0};
	struct store_audit a = {.time_ms = 5,
	                        .actor = "admin",
	                        .action = "block",
	                        .identity = "user:old@example.org",
	                        .reason = "from before"};
	store_value_encode(aval, 'A', &a, (uint32_t)STORE_AUDIT_V1_SIZE); /* the old size */
	MDB_val ak = {8, seq}, av = {sizeof aval, aval};
	assert_int_equal(mdb_put(txn, ad, &ak, &av, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	struct store *s = store_lmdb_open(old, 64 << 20, err, sizeof err);
	assert_non_null(s);
	struct store_block got;
	assert_int_equal(s->block_get(s, "user:old@example.org", &got), 1);
	assert_string_equal(got.reason, "from before");
	struct seen al = {0};
	assert_int_equal(s->audit_iter(s, audit_cb, &al), 0);
	assert_int_equal(al.n, 1); /* the old-size record reads back */
	assert_int_equal(al.t[0], 5);
	assert_true(store_lmdb_durable(s));
	s->close(s);
	b->st = store_lmdb_open(b->dir, 64 << 20, err, sizeof err);
	assert_non_null(b->st);
}

/* The memory store a replay uses is capped: a log with ever new identities
 * fills it to the cap and no further (new ones are store errors, the engine
 * says so), while the identities already there are still counted. */
static void test_mem_capped(void **state)
{
	struct store *s = store_mem_new_capped(100);
	assert_non_null(s);
	struct pol_config cfg;
	int64_t ttl;
	struct pol_engine *e = engine_on(s, &cfg, &ttl);
	char user[64];
	int errors = 0;
	for (int i = 0; i < 1000; i++) {
		struct pol_event ev;
		struct pol_verdict v;
		pol_event_init(&ev, POL_EV_AUTH_FAIL, T0 + i);
		assert_int_equal(str_format(user, sizeof user, "u%d@example.org", i), 0);
		assert_int_equal(str_copy(ev.user, sizeof ev.user, user), 0);
		if (pol_engine_evaluate(e, &ev, &v) != 0) {
			errors++;
			assert_string_equal(v.rule, "store_error");
		}
	}
	assert_true(store_mem_count(s) <= 100);
	assert_true(errors >= 900);
	int commit = 1;
	assert_int_equal(s->update(s, "I:user:u0@example.org", add_cb, &commit), STORE_COMMIT);
	assert_int_equal(s->update(s, "I:brand-new", add_cb, &commit), -1);
	pol_engine_free(e);
	s->close(s);
}

/* A block or audit record with a kind out of range, too much evidence or a
 * string without its NUL (a damaged file, a Redis shared with others) does not
 * decode: the old code handed it on, and store_block_kind_name() panicked on
 * the kind (the status page) or strings were read past their fields. */
static void test_decode_refuses_damaged(void **state)
{
	static unsigned char val[8 + sizeof(struct store_block)];
	static struct store_block blk, got;
	memset(&blk, 0, sizeof blk);
	str_copy_trunc(blk.identity, sizeof blk.identity, "user:a@example.org");
	str_copy_trunc(blk.rule, sizeof blk.rule, "manual");
	blk.kind = STORE_BLOCK_USER;
	store_value_encode(val, 'B', &blk, sizeof blk);
	assert_int_equal(store_value_decode(val, sizeof val, 'B', &got, sizeof got), 0);
	assert_string_equal(got.rule, "manual");
	blk.kind = (enum store_block_kind)99;
	store_value_encode(val, 'B', &blk, sizeof blk);
	assert_int_equal(store_value_decode(val, sizeof val, 'B', &got, sizeof got), -1);
	blk.kind = STORE_BLOCK_IP;
	blk.n_evidence = STORE_EVIDENCE_MAX + 1;
	store_value_encode(val, 'B', &blk, sizeof blk);
	assert_int_equal(store_value_decode(val, sizeof val, 'B', &got, sizeof got), -1);
	blk.n_evidence = 1;
	memset(blk.evidence[0], 'e', sizeof blk.evidence[0]);
	store_value_encode(val, 'B', &blk, sizeof blk);
	assert_int_equal(store_value_decode(val, sizeof val, 'B', &got, sizeof got), -1);
	blk.n_evidence = 0;
	memset(blk.rule, 'r', sizeof blk.rule);
	store_value_encode(val, 'B', &blk, sizeof blk);
	assert_int_equal(store_value_decode(val, sizeof val, 'B', &got, sizeof got), -1);
	/* times before the epoch (formatted on the status page and by the CLI:
	 * one near INT64_MIN overflowed) */
	str_copy_trunc(blk.rule, sizeof blk.rule, "manual");
	blk.created_ms = INT64_MIN;
	store_value_encode(val, 'B', &blk, sizeof blk);
	assert_int_equal(store_value_decode(val, sizeof val, 'B', &got, sizeof got), -1);
	blk.created_ms = 1;
	blk.expires_ms = -5;
	store_value_encode(val, 'B', &blk, sizeof blk);
	assert_int_equal(store_value_decode(val, sizeof val, 'B', &got, sizeof got), -1);
	blk.expires_ms = 0;
	store_value_encode(val, 'B', &blk, sizeof blk);
	assert_int_equal(store_value_decode(val, sizeof val, 'B', &got, sizeof got), 0);

	static unsigned char aval[8 + sizeof(struct store_audit)];
	static struct store_audit a, ag;
	memset(&a, 0, sizeof a);
	str_copy_trunc(a.actor, sizeof a.actor, "admin");
	str_copy_trunc(a.action, sizeof a.action, "block");
	str_copy_trunc(a.identity, sizeof a.identity, "ip:192.0.2.1");
	store_value_encode(aval, 'A', &a, sizeof a);
	assert_int_equal(store_audit_decode(aval, sizeof aval, &ag), 0);
	memset(a.rule, 'r', sizeof a.rule);
	store_value_encode(aval, 'A', &a, sizeof a);
	assert_int_equal(store_audit_decode(aval, sizeof aval, &ag), -1);
	memset(a.rule, 0, sizeof a.rule);
	memset(a.action, 'x', sizeof a.action);
	store_value_encode(aval, 'A', &a, sizeof a);
	assert_int_equal(store_audit_decode(aval, sizeof aval, &ag), -1);
	str_copy_trunc(a.action, sizeof a.action, "block");
	a.time_ms = INT64_MIN;
	store_value_encode(aval, 'A', &a, sizeof a);
	assert_int_equal(store_audit_decode(aval, sizeof aval, &ag), -1);
	a.time_ms = 0;
	a.expires_ms = INT64_MIN;
	store_value_encode(aval, 'A', &a, sizeof a);
	assert_int_equal(store_audit_decode(aval, sizeof aval, &ag), -1);
	a.expires_ms = 0;
	store_value_encode(aval, 'A', &a, sizeof a);
	assert_int_equal(store_audit_decode(aval, sizeof aval, &ag), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decode_refuses_damaged),
	    BOTH(test_records),
	    REDIS(test_records),
	    BOTH(test_update),
	    REDIS(test_update),
	    BOTH(test_expiring),
	    REDIS(test_redis_expiring),
	    BOTH(test_blocks),
	    REDIS(test_blocks),
	    BOTH(test_audit),
	    REDIS(test_audit),
	    cmocka_unit_test_setup_teardown(test_lmdb_restart, setup_lmdb, teardown),
	    REDIS(test_redis_two_nodes),
	    REDIS(test_redis_down),
	    REDIS(test_redis_foreign_value),
	    BOTH(test_identity_records_expire),
	    REDIS(test_redis_identity_ttl),
	    BOTH(test_update_exp),
	    cmocka_unit_test_setup_teardown(test_lmdb_sweep_batch, setup_lmdb, teardown),
	    cmocka_unit_test_setup_teardown(test_lmdb_usage_and_full, setup_lmdb, teardown),
	    cmocka_unit_test_setup_teardown(test_lmdb_durable_and_migrated, setup_lmdb, teardown),
	    cmocka_unit_test(test_mem_capped),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
