/*
 * gwstore: the Redis failover of a gateway node. Redis answers: blocks go to
 * Redis and to local state. Redis dies: the node says so and decides on local
 * state (a block made then is kept). Redis comes back: the block made
 * meanwhile is copied to Redis and the node uses shared state again. Virtual
 * time (core/clock) steps over the retry interval; redis-server is started
 * by the test on a free loopback port, and the test is skipped, saying so,
 * when it is not installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "admin/metrics.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"
#include "gateway/gwconf.h"
#include "gateway/gwhealth.h"
#include "gateway/gwstore.h"
#include "policy/store.h"
#include "redis_server.h"

#include <stdlib.h>
#include <string.h>

static void block(struct store_block *b, const char *ident, const char *reason)
{
	memset(b, 0, sizeof *b);
	assert_int_equal(str_copy(b->identity, sizeof b->identity, ident), 0);
	(void)store_block_kind_of(ident, &b->kind);
	assert_int_equal(str_copy(b->reason, sizeof b->reason, reason), 0);
}

static int bump(void *ctx, unsigned char *rec, size_t *len, size_t cap)
{
	uint32_t v = 0;
	if (*len == sizeof v)
		memcpy(&v, rec, sizeof v);
	v++;
	memcpy(rec, &v, sizeof v);
	*len = sizeof v;
	return STORE_COMMIT;
}

static void test_failover(void **state)
{
	char dir[] = "/tmp/rg-gwstore-XXXXXX", err[256], cmd[128];
	int port = redis_server_start();
	if (port == 0) {
		fprintf(stderr, "# redis-server is not installed: skipped\n");
		skip();
	}
	assert_true(port > 0);
	assert_non_null(mkdtemp(dir));
	clock_fake_set(1000000, 1000);
	log_open("test", false, false, LOG_LEVEL_ERROR);

	struct store_redis_options o = {.port = port, .timeout_ms = 300};
	struct store *redis = store_redis_open(&o, err, sizeof err);
	struct store *local = store_lmdb_open(dir, 64 << 20, err, sizeof err);
	struct metrics *m = metrics_new();
	assert_non_null(redis);
	assert_non_null(local);
	struct store *s = gwstore_failover_new(redis, local, "Redis (test)", m);
	assert_non_null(s);
	assert_false(gwstore_fallback(s));

	/* Redis answers: shared state, mirrored locally. */
	struct store_block b, got;
	block(&b, "user:sam@example.org", "node A");
	assert_int_equal(s->block_put(s, &b), 0);
	assert_int_equal(redis->block_get(redis, "user:sam@example.org", &got), 1);
	assert_int_equal(local->block_get(local, "user:sam@example.org", &got), 1);
	assert_int_equal(s->update(s, "I:x", bump, NULL), STORE_COMMIT);

	/* Redis dies: the next call falls back, and says so. */
	redis_server_stop();
	assert_int_equal(s->block_get(s, "user:sam@example.org", &got), 1);
	assert_true(gwstore_fallback(s));
	struct buf out;
	buf_init(&out, 1 << 16);
	assert_int_equal(metrics_render(m, &out), 0);
	assert_non_null(strstr((const char *)out.data, "relayguard_state_store_fallback 1"));
	assert_non_null(strstr((const char *)out.data, "relayguard_state_store_failovers_total 1"));
	buf_free(&out);
	/* Decisions go on locally: counters, a new block, an unblock. */
	assert_int_equal(s->update(s, "I:x", bump, NULL), STORE_COMMIT);
	block(&b, "ip:198.51.100.9", "made during the outage");
	assert_int_equal(s->block_put(s, &b), 0);
	assert_int_equal(s->block_del(s, "user:sam@example.org"), 1);
	struct store_audit a;
	memset(&a, 0, sizeof a);
	assert_int_equal(str_copy(a.action, sizeof a.action, "block"), 0);
	assert_int_equal(s->audit_append(s, &a), 0);

	/* Redis is back: not retried before the interval, then copied and used. */
	assert_int_equal(redis_server_start_on(port), port);
	assert_int_equal(s->block_get(s, "ip:198.51.100.9", &got), 1);
	assert_true(gwstore_fallback(s));
	clock_fake_advance(6000);
	assert_int_equal(s->block_get(s, "ip:198.51.100.9", &got), 1);
	assert_false(gwstore_fallback(s));
	/* the new Redis started empty: it got what was made meanwhile */
	assert_int_equal(redis->block_get(redis, "ip:198.51.100.9", &got), 1);
	assert_string_equal(got.reason, "made during the outage");
	assert_int_equal(redis->block_get(redis, "user:sam@example.org", &got), 0);

	s->close(s);
	metrics_free(m);
	redis_server_stop();
	assert_int_equal(str_format(cmd, sizeof cmd, "rm -rf %s", dir), 0);
	assert_int_equal(system(cmd), 0);
	clock_use_system();
}

static void test_config(void **state)
{
	char path[] = "/tmp/rg-gwconf-XXXXXX", err[512];
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char conf[] = "[gateway]\nstate_store = redis\nredis = 127.0.0.1:6400\n"
	                    "redis_prefix = mail1:\nredis_timeout = 200ms\n";
	assert_int_equal(write(fd, conf, sizeof conf - 1), (ssize_t)(sizeof conf - 1));
	close(fd);
	struct gw_config *c = malloc(sizeof *c);
	assert_non_null(c);
	assert_int_equal(gwconf_load(c, path, err, sizeof err), 0);
	assert_string_equal(c->state_store, "redis");
	assert_string_equal(c->redis_addr.text, "127.0.0.1:6400");
	assert_string_equal(c->redis_prefix, "mail1:");
	assert_int_equal(c->redis_timeout_ms, 200);
	gwconf_free(c);
	fd = open(path, O_WRONLY | O_TRUNC);
	const char bad[] = "[gateway]\nstate_store = etcd\n";
	assert_int_equal(write(fd, bad, sizeof bad - 1), (ssize_t)(sizeof bad - 1));
	close(fd);
	assert_int_equal(gwconf_load(c, path, err, sizeof err), -1);
	assert_non_null(strstr(err, "state_store"));
	free(c);
	unlink(path);
}

/* /healthz reads a key of the store: a value there too large to read back
 * (written by someone else, damaged) is the store answering, not a failure;
 * the old check called the node unhealthy for it. */
static void test_health_foreign_value(void **state)
{
	(void)state;
	struct store *st = store_mem_new();
	assert_non_null(st);
	struct gwhealth *h = gwhealth_new(st, NULL, NULL, NULL);
	assert_non_null(h);
	char why[200], big[200];
	assert_int_equal(gwhealth_check(h, why, sizeof why), 0);
	memset(big, 'x', sizeof big);
	assert_int_equal(st->put(st, "healthz", big, sizeof big), 0);
	assert_int_equal(gwhealth_check(h, why, sizeof why), 0);
	gwhealth_free(h);
	st->close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_failover),
	    cmocka_unit_test(test_health_foreign_value),
	    cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
