/*
 * Scenario tests of the policy engine (the list), in virtual time:
 * long histories are generated in loops with the time carried in the events.
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
#include "policy/event.h"
#include "policy/ratelimit.h"
#include "policy/store.h"
#include "redis_server.h"

#include <pthread.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define T0 POL_EVENT_EPOCH_MS
#define SEC 1000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

struct fx {
	struct pol_config cfg;
	struct store *st;
	struct pol_engine *e;
};

static struct fx *fx_new(void)
{
	char err[256];
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	assert_int_equal(pol_config_defaults(&f->cfg, err, sizeof err), 0);
	f->st = store_mem_new();
	assert_non_null(f->st);
	f->e = pol_engine_new(&f->cfg, f->st);
	assert_non_null(f->e);
	return f;
}

static void fx_free(struct fx *f)
{
	pol_engine_free(f->e);
	f->st->close(f->st);
	free(f);
}

static void set_ip(struct pol_event *ev, const char *ip)
{
	assert_int_equal(addr_parse(ip, strlen(ip), &ev->ip), 0);
	ev->has_ip = true;
}

static struct pol_verdict auth(struct fx *f, int64_t t, const char *user, const char *ip, bool ok)
{
	static struct pol_event ev;
	struct pol_verdict v;
	pol_event_init(&ev, ok ? POL_EV_AUTH_OK : POL_EV_AUTH_FAIL, t);
	assert_int_equal(str_copy(ev.user, sizeof ev.user, user), 0);
	set_ip(&ev, ip);
	assert_int_equal(pol_engine_evaluate(f->e, &ev, &v), 0);
	return v;
}

/* One message to nrcpt recipients (named from seed), body fingerprint fp. */
static struct pol_verdict mail(struct fx *f, int64_t t, const char *user, const char *ip,
                               const char *from, unsigned nrcpt, unsigned seed, uint64_t fp)
{
	static struct pol_event ev;
	struct pol_verdict v;
	char a[64];
	pol_event_init(&ev, POL_EV_MAIL, t);
	assert_int_equal(str_copy(ev.user, sizeof ev.user, user), 0);
	set_ip(&ev, ip);
	assert_int_equal(str_copy(ev.sender, sizeof ev.sender, from), 0);
	for (unsigned i = 0; i < nrcpt; i++) {
		assert_int_equal(
		    str_format(a, sizeof a, "r%u.%u@d%u.example", seed, i, (seed + i) % 50), 0);
		pol_event_add_rcpt(&ev, a, POL_DLV_OK);
	}
	ev.size = 4000;
	ev.fingerprint = fp;
	assert_int_equal(pol_engine_evaluate(f->e, &ev, &v), 0);
	return v;
}

static void rcpt_reject(struct fx *f, int64_t t, const char *user, const char *ip, unsigned n)
{
	static struct pol_event ev;
	struct pol_verdict v;
	pol_event_init(&ev, POL_EV_RCPT_REJECT, t);
	assert_int_equal(str_copy(ev.user, sizeof ev.user, user), 0);
	set_ip(&ev, ip);
	ev.rcpt_count = n;
	assert_int_equal(pol_engine_evaluate(f->e, &ev, &v), 0);
}

/* Spam to a dirty list until blocked; returns the number of messages sent
 * (1-based index of the blocking one) or 0 if never blocked in max. */
static unsigned spam_run(struct fx *f, int64_t *t, const char *user, const char *ip, unsigned max,
                         struct pol_verdict *blockv)
{
	char from[80];
	for (unsigned i = 1; i <= max; i++) {
		*t += 3 * SEC;
		assert_int_equal(str_format(from, sizeof from, "x%u@spam%u.example", i, i % 9), 0);
		struct pol_verdict v = mail(f, *t, user, ip, from, 5, 7000 + i, 0xbadbeef);
		rcpt_reject(f, *t, user, ip, 3);
		if (v.action == POL_BLOCK) {
			*blockv = v;
			return i;
		}
	}
	return 0;
}

/* (a) brute force from many IPs, success from a new foreign IP, then spam. */
static void test_guessed_password_then_spam(void **state)
{
	struct fx *f = fx_new();
	int64_t t = T0 + 8 * HOUR;
	char ip[32];
	assert_int_equal(auth(f, t, "sam@example.org", "192.0.2.10", true).action, POL_ALLOW);
	for (unsigned i = 0; i < 212; i++) {
		t += 20 * SEC;
		assert_int_equal(str_format(ip, sizeof ip, "198.51.%u.%u", 100 + i % 3, 1 + i % 60),
		                 0);
		struct pol_verdict v = auth(f, t, "sam@example.org", ip, false);
		assert_true(v.delay_ms > 0);
	}
	t += MIN;
	(void)auth(f, t, "sam@example.org", "203.0.113.50", true);
	struct pol_verdict v;
	unsigned n = spam_run(f, &t, "sam@example.org", "203.0.113.50", 50, &v);
	assert_true(n >= 1 && n <= 50);
	assert_true(v.block_created);
	assert_string_equal(v.identity, "user:sam@example.org");
	bool guessed = false;
	for (unsigned i = 0; i < v.n_reasons; i++)
		if (strstr(v.reasons[i], "login success after"))
			guessed = true;
	assert_true(guessed);
	/* and it stays blocked, from any IP, while the block lasts */
	v = mail(f, t + MIN, "sam@example.org", "192.0.2.10", "sam@example.org", 1, 1, 0);
	assert_int_equal(v.action, POL_BLOCK);
	fx_free(f);
}

static uint32_t rnd(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* (b) 300 messages an hour, 9-17, Mon-Fri, 4 weeks: never blocked. */
static void test_busy_legitimate_account(void **state)
{
	struct fx *f = fx_new();
	uint32_t seed = 42;
	unsigned sent = 0, worst = POL_ALLOW;
	for (int day = 0; day < 28; day++) {
		if (day % 7 >= 5)
			continue; /* T0 is a Monday */
		int64_t t = T0 + day * DAY + 9 * HOUR;
		struct pol_verdict v = auth(f, t, "anna@example.org", "192.0.2.10", true);
		assert_int_equal(v.action, POL_ALLOW);
		for (int m = 0; m < 8 * 300; m++) {
			int64_t tm = t + m * 12 * SEC;
			v = mail(f, tm, "anna@example.org", "192.0.2.10", "anna@example.org",
			         1 + rnd(&seed) % 3, rnd(&seed), rnd(&seed));
			if (m % 100 == 0)
				rcpt_reject(f, tm, "anna@example.org", "192.0.2.10", 1);
			if (v.action > worst)
				worst = v.action;
			assert_true(v.action != POL_BLOCK && v.action != POL_HOLD &&
			            v.action != POL_DEFER);
			sent++;
		}
	}
	assert_int_equal(sent, 20 * 2400);
	assert_true(worst <= POL_WARN);
	fx_free(f);
}

/* (c) a travelling user from three IPs in a day. */
static void test_travelling_user(void **state)
{
	struct fx *f = fx_new();
	const char *ips[] = {"192.0.2.10", "198.51.100.200", "203.0.113.7"};
	int64_t t = T0 + 7 * HOUR;
	for (int d = 0; d < 3; d++) {
		for (int i = 0; i < 3; i++) {
			t += 3 * HOUR;
			/* one typo each time */
			(void)auth(f, t, "tim@example.org", ips[i], false);
			struct pol_verdict v =
			    auth(f, t + 10 * SEC, "tim@example.org", ips[i], true);
			assert_int_equal(v.action, POL_ALLOW);
			for (int m = 0; m < 20; m++) {
				v = mail(f, t + MIN * (m + 1), "tim@example.org", ips[i],
				         "tim@example.org", 2, (unsigned)(d * 100 + i * 20 + m),
				         (uint64_t)m + 1);
				assert_int_equal(v.action, POL_ALLOW);
			}
		}
	}
	fx_free(f);
}

/* (d) an attacker failing logins from foreign IPs does not stop the user. */
static void test_attacker_cannot_lock_out_user(void **state)
{
	struct fx *f = fx_new();
	int64_t t = T0 + 9 * HOUR;
	char ip[32];
	assert_int_equal(auth(f, t, "alice@example.org", "192.0.2.10", true).action, POL_ALLOW);
	bool locked_seen = false;
	for (unsigned i = 0; i < 500; i++) {
		t += 5 * SEC;
		assert_int_equal(str_format(ip, sizeof ip, "203.0.%u.%u", 113 + i % 5, 1 + i % 100),
		                 0);
		struct pol_verdict v = auth(f, t, "alice@example.org", ip, false);
		if (v.action == POL_DEFER || v.action == POL_BLOCK)
			locked_seen = true;
	}
	assert_true(locked_seen); /* the attacker is slowed down and locked out */
	struct pol_verdict v = auth(f, t + SEC, "alice@example.org", "192.0.2.10", true);
	assert_int_equal(v.action, POL_ALLOW);
	for (int m = 0; m < 10; m++) {
		v = mail(f, t + (m + 2) * SEC, "alice@example.org", "192.0.2.10",
		         "alice@example.org", 1, (unsigned)m, (uint64_t)m + 1);
		assert_int_equal(v.action, POL_ALLOW);
	}
	/* a right password from a foreign IP during the lockout is refused */
	v = auth(f, t + MIN, "alice@example.org", "203.0.113.250", true);
	assert_int_equal(v.action, POL_DEFER);
	assert_string_equal(v.rule, "auth_account_lockout");
	fx_free(f);
}

struct audit_count {
	unsigned block, unblock, expire;
};

static int count_audit(void *ctx, const struct store_audit *a)
{
	struct audit_count *c = ctx;
	if (strcmp(a->action, "block") == 0)
		c->block++;
	else if (strcmp(a->action, "unblock") == 0)
		c->unblock++;
	else if (strcmp(a->action, "expire") == 0)
		c->expire++;
	return 0;
}

/* (e) unblock resumes sending and resets the score. */
static void test_unblock_resumes(void **state)
{
	struct fx *f = fx_new();
	int64_t t = T0 + 10 * HOUR;
	struct pol_verdict v;
	assert_true(spam_run(f, &t, "bob@example.org", "192.0.2.44", 200, &v) > 0);
	assert_true(v.score >= f->cfg.score_block);
	v = mail(f, t + SEC, "bob@example.org", "192.0.2.44", "bob@example.org", 1, 1, 1);
	assert_int_equal(v.action, POL_BLOCK);
	assert_int_equal(
	    pol_engine_unblock(f->e, "user:bob@example.org", "ops", "cleaned", t + MIN), 0);
	assert_int_equal(pol_engine_unblock(f->e, "user:bob@example.org", "ops", "again", t + MIN),
	                 1);
	v = mail(f, t + 2 * MIN, "bob@example.org", "192.0.2.44", "bob@example.org", 1, 2, 2);
	assert_int_equal(v.action, POL_ALLOW);
	assert_int_equal(v.score, 0);
	struct audit_count c = {0};
	assert_int_equal(f->st->audit_iter(f->st, count_audit, &c), 0);
	assert_int_equal(c.block, 1);
	assert_int_equal(c.unblock, 2);
	fx_free(f);
}

/* (f) a repeat offender's block lasts twice as long each time. */
static void test_repeat_offender_doubles(void **state)
{
	struct fx *f = fx_new();
	int64_t t = T0 + 10 * HOUR, prev = 0;
	for (int round = 0; round < 4; round++) {
		struct pol_verdict v;
		assert_true(spam_run(f, &t, "eve@example.org", "192.0.2.66", 200, &v) > 0);
		assert_true(v.block_created);
		assert_true(v.block_expires_ms > t);
		int64_t len = v.block_expires_ms - t;
		if (round == 0)
			assert_int_equal(len, (int64_t)f->cfg.block_base_ms);
		else
			assert_int_equal(len, 2 * prev);
		prev = len;
		t = v.block_expires_ms + MIN; /* served the block */
	}
	/* after auto_blocks_max automatic blocks the next waits for a person */
	struct pol_verdict v;
	assert_true(spam_run(f, &t, "eve@example.org", "192.0.2.66", 200, &v) > 0);
	assert_int_equal(v.block_expires_ms, 0);
	struct audit_count c = {0};
	assert_int_equal(f->st->audit_iter(f->st, count_audit, &c), 0);
	assert_int_equal(c.block, 5);
	assert_int_equal(c.expire, 4);
	fx_free(f);
}

/* (g) leaky and strict as Exim documents them. */
static void test_leaky_vs_strict(void **state)
{
	struct ratelimit_ewma leaky = {0}, strict = {0};
	int64_t p = HOUR, t = T0;
	unsigned ok_leaky = 0, ok_strict = 0;
	double rate;
	for (int i = 0; i < 20; i++) {
		if (!ratelimit_ewma_hit(&leaky, 1, 10, p, RATELIMIT_LEAKY, t, NULL))
			ok_leaky++;
		if (!ratelimit_ewma_hit(&strict, 1, 10, p, RATELIMIT_STRICT, t, NULL))
			ok_strict++;
	}
	/* m is the burst too, and a rate at the limit is over it */
	assert_int_equal(ok_leaky, 9);
	assert_int_equal(ok_strict, 9);
	assert_true(leaky.rate < 10);   /* leaky stored only what got through */
	assert_true(strict.rate >= 20); /* strict counted every attempt */
	/* leaky: a little later the client is under again */
	assert_false(ratelimit_ewma_hit(&leaky, 1, 10, p, RATELIMIT_LEAKY, t + 10 * MIN, &rate));
	/* strict: still over after a quarter period; recovers after ln(20/10) periods */
	struct ratelimit_ewma s2 = strict;
	assert_true(ratelimit_ewma_hit(&s2, 1, 10, p, RATELIMIT_READONLY, t + 15 * MIN, &rate));
	s2 = strict;
	assert_false(ratelimit_ewma_hit(&s2, 1, 10, p, RATELIMIT_READONLY, t + 50 * MIN, &rate));
	/* the first event after a long silence counts fully */
	struct ratelimit_ewma q = {.rate = 0.001, .last_ms = t};
	assert_true(ratelimit_ewma_peek(&q, 5, t + 100 * p, p) == 5.0);
	/* a limit of 0 blocks */
	struct ratelimit_ewma z = {0};
	assert_true(ratelimit_ewma_hit(&z, 1, 0, p, RATELIMIT_LEAKY, t, NULL));
	/* steady sending at r per period converges to r */
	struct ratelimit_ewma st = {0};
	for (int i = 0; i < 3000; i++)
		(void)ratelimit_ewma_hit(&st, 1, 1e9, p, RATELIMIT_STRICT, t + i * 12 * SEC, &rate);
	assert_true(rate > 290 && rate < 310);
	/* distinct counting */
	struct ratelimit_bloom b;
	static uint64_t bits[128];
	assert_int_equal(ratelimit_bloom_init(&b, bits, 128), 0);
	assert_int_equal(ratelimit_bloom_init(&b, bits, 100), -1);
	uint32_t n = 0;
	for (int i = 0; i < 300; i++) {
		char s[32];
		assert_int_equal(str_format(s, sizeof s, "u%d@example.net", i % 100), 0);
		n = ratelimit_bloom_add(&b, bits, 128, s, strlen(s), t, p);
	}
	assert_true(n >= 98 && n <= 100);
	assert_int_equal(ratelimit_bloom_count(&b, t + p, p), 0);
}

/* (h) check-and-commit holds the limit exactly with interleaved sessions. */
struct race {
	const struct pol_config *cfg;
	struct store *st;
	int id;
	unsigned ok;
};

static void *race_thread(void *arg)
{
	struct race *r = arg;
	struct pol_engine *e = pol_engine_new(r->cfg, r->st);
	static __thread struct pol_event ev;
	if (!e)
		return NULL;
	for (int i = 0; i < 60; i++) {
		struct pol_verdict v;
		pol_event_init(&ev, POL_EV_MAIL, T0 + 5 * HOUR);
		assert_int_equal(str_copy(ev.user, sizeof ev.user, "carl@example.org"), 0);
		assert_int_equal(addr_parse("192.0.2.1", 9, &ev.ip), 0);
		ev.ip.bytes[3] = (uint8_t)r->id;
		ev.has_ip = true;
		pol_event_add_rcpt(&ev, "x@example.net", POL_DLV_OK);
		if (pol_engine_evaluate(e, &ev, &v) == 0 && v.action == POL_ALLOW)
			r->ok++;
	}
	pol_engine_free(e);
	return NULL;
}

/* st[0] for the interleaved sessions; thread i uses st[i] (four handles on one
 * Redis are four gateway nodes; memory and LMDB pass one store four times). */
static void race_on_nodes(struct store *const *sts)
{
	struct store *st = sts[0];
	char err[256];
	struct pol_config *cfg = malloc(sizeof *cfg);
	assert_non_null(cfg);
	assert_int_equal(pol_config_load_string(cfg, "[limits]\nmsg_minute = 0\nmsg_hour = 100\n",
	                                        "t", err, sizeof err),
	                 0);
	/* interleaved in one thread: two sessions alternate */
	struct pol_engine *e = pol_engine_new(cfg, st);
	assert_non_null(e);
	unsigned ok = 0;
	static struct pol_event ev;
	for (int i = 0; i < 150; i++) {
		struct pol_verdict v;
		pol_event_init(&ev, POL_EV_MAIL, T0 + HOUR);
		assert_int_equal(str_copy(ev.user, sizeof ev.user, "dora@example.org"), 0);
		assert_int_equal(addr_parse(i % 2 ? "192.0.2.1" : "192.0.2.2", 9, &ev.ip), 0);
		ev.has_ip = true;
		pol_event_add_rcpt(&ev, "x@example.net", POL_DLV_OK);
		assert_int_equal(pol_engine_evaluate(e, &ev, &v), 0);
		if (v.action == POL_ALLOW)
			ok++;
	}
	assert_int_equal(ok, 99);
	pol_engine_free(e);
	/* four threads, one identity */
	pthread_t th[4];
	struct race r[4];
	for (int i = 0; i < 4; i++) {
		r[i] = (struct race){cfg, sts[i], i + 1, 0};
		assert_int_equal(pthread_create(&th[i], NULL, race_thread, &r[i]), 0);
	}
	unsigned total = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		total += r[i].ok;
	}
	assert_int_equal(total, 99);
	free(cfg);
}

static void race_on(struct store *st)
{
	struct store *sts[4] = {st, st, st, st};
	race_on_nodes(sts);
}

/* Four gateway nodes on one Redis never let more than the limit through. */
static void test_check_and_commit_redis(void **state)
{
	char err[256];
	int port = redis_server_start();
	if (port == 0) {
		fprintf(stderr, "# redis-server is not installed: skipped\n");
		skip();
	}
	assert_true(port > 0);
	struct store *sts[4];
	struct store_redis_options o = {.port = port, .require_connection = true};
	for (int i = 0; i < 4; i++)
		assert_non_null(sts[i] = store_redis_open(&o, err, sizeof err));
	race_on_nodes(sts);
	for (int i = 0; i < 4; i++)
		sts[i]->close(sts[i]);
	redis_server_stop();
}

static void test_check_and_commit(void **state)
{
	struct store *st = store_mem_new();
	assert_non_null(st);
	race_on(st);
	st->close(st);
	char dir[] = "/tmp/rg-policy-race-XXXXXX", err[256];
	assert_non_null(mkdtemp(dir));
	st = store_lmdb_open(dir, 0, err, sizeof err);
	assert_non_null(st);
	race_on(st);
	st->close(st);
	char cmd[128];
	assert_int_equal(str_format(cmd, sizeof cmd, "rm -rf %s", dir), 0);
	assert_int_equal(system(cmd), 0);
}

/* A block stays a block across a restart (LMDB), ranges included. */
static void test_block_survives_restart(void **state)
{
	char dir[] = "/tmp/rg-policy-restart-XXXXXX", err[256], cmd[128];
	struct fx f;
	static struct pol_event ev;
	struct pol_verdict v;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(pol_config_defaults(&f.cfg, err, sizeof err), 0);
	for (int round = 0; round < 2; round++) {
		f.st = store_lmdb_open(dir, 64 << 20, err, sizeof err);
		assert_non_null(f.st);
		f.e = pol_engine_new(&f.cfg, f.st);
		assert_non_null(f.e);
		if (round == 0) {
			int64_t t = T0 + HOUR;
			assert_true(spam_run(&f, &t, "zed@example.org", "192.0.2.70", 200, &v) > 0);
			assert_int_equal(
			    pol_engine_block(f.e, "cidr:198.51.100.0/24", "ops", "NAT", T0, 0), 0);
		} else {
			v = mail(&f, T0 + 2 * HOUR, "zed@example.org", "192.0.2.70",
			         "zed@example.org", 1, 1, 1);
			assert_int_equal(v.action, POL_BLOCK);
			pol_event_init(&ev, POL_EV_MAIL, T0 + 2 * HOUR);
			set_ip(&ev, "198.51.100.9");
			assert_int_equal(pol_engine_evaluate(f.e, &ev, &v), 0);
			assert_int_equal(v.action, POL_BLOCK);
			assert_string_equal(v.rule, "block:manual");
		}
		pol_engine_free(f.e);
		f.st->close(f.st);
	}
	assert_int_equal(str_format(cmd, sizeof cmd, "rm -rf %s", dir), 0);
	assert_int_equal(system(cmd), 0);
}

static void test_event_parse(void **state)
{
	static struct pol_event ev;
	char err[128];
	const char *l = "T+90 MAIL user=A@Example.org ip=::ffff:192.0.2.1 from=<> rcpt=x@y "
	                "rcpt=z@w rcpts=7 size=10 fp=DEADbeef flags=auto_submitted";
	assert_int_equal(pol_event_parse(l, strlen(l), &ev, err, sizeof err), 1);
	assert_int_equal(ev.time_ms, T0 + 90 * SEC);
	assert_string_equal(ev.user, "a@example.org");
	assert_int_equal(ev.ip.family, 4);
	assert_int_equal(ev.rcpt_count, 7);
	assert_int_equal(ev.n_rcpt, 2);
	assert_int_equal(ev.fingerprint, 0xdeadbeefULL);
	assert_true(ev.flags & POL_F_NULL_SENDER);
	assert_true(ev.flags & POL_F_AUTO_SUBMITTED);
	l = "T+1 DELIVERY rcpt=a@b rcpt=c@d result=bounced rcpt=e@f result=ok";
	assert_int_equal(pol_event_parse(l, strlen(l), &ev, err, sizeof err), 1);
	assert_int_equal(ev.result[0], POL_DLV_BOUNCED);
	assert_int_equal(ev.result[1], POL_DLV_BOUNCED);
	assert_int_equal(ev.result[2], POL_DLV_OK);
	/* the content scan's score, in hundredths */
	static const struct {
		const char *v;
		int32_t want;
	} sc[] = {{"6", 600}, {"6.5", 650}, {"12.34", 1234}, {"-0.25", -25}, {"0", 0}};
	for (size_t i = 0; i < sizeof sc / sizeof sc[0]; i++) {
		char line[64];
		assert_int_equal(str_format(line, sizeof line, "T+1 MAIL user=a scan=%s", sc[i].v),
		                 0);
		assert_int_equal(pol_event_parse(line, strlen(line), &ev, err, sizeof err), 1);
		assert_true(ev.scanned);
		assert_int_equal(ev.scan_score, sc[i].want);
	}
	l = "T+1 MAIL user=a";
	assert_int_equal(pol_event_parse(l, strlen(l), &ev, err, sizeof err), 1);
	assert_false(ev.scanned);
	const char *bad_scan[] = {"T+1 MAIL scan=",      "T+1 MAIL scan=1.",  "T+1 MAIL scan=1.234",
	                          "T+1 MAIL scan=.5",    "T+1 MAIL scan=1e3", "T+1 MAIL scan=--1",
	                          "T+1 MAIL scan=100000"};
	for (size_t i = 0; i < sizeof bad_scan / sizeof bad_scan[0]; i++)
		assert_int_equal(
		    pol_event_parse(bad_scan[i], strlen(bad_scan[i]), &ev, err, sizeof err), -1);
	const char *bad[] = {"T+x MAIL",
	                     "MAIL user=a",
	                     "T+1 FOO",
	                     "T+1 MAIL user",
	                     "T+1 MAIL ip=300.1.1.1",
	                     "T+1 MAIL reason=\"open",
	                     "T+1 MAIL rcpts=1 rcpt=a rcpt=b",
	                     "T+1 MAIL fp=xyz",
	                     "T+1 MAIL zz=1"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(pol_event_parse(bad[i], strlen(bad[i]), &ev, err, sizeof err), -1);
	assert_int_equal(pol_event_parse("  # c", 5, &ev, err, sizeof err), 0);
	assert_int_equal(pol_event_parse("", 0, &ev, err, sizeof err), 0);
}

static void test_config(void **state)
{
	struct pol_config *c = malloc(sizeof *c);
	char err[256];
	struct pol_limits l;
	assert_non_null(c);
	assert_int_equal(
	    pol_config_load_string(c,
	                           "[limits]\nmsg_hour = 100\n"
	                           "[domain example.com]\nmsg_hour = 50\nstrict = yes\n"
	                           "[user vip@example.com]\nmsg_hour = 1000\n"
	                           "[signals]\nips_max = 20\n",
	                           "t", err, sizeof err),
	    0);
	pol_config_limits_for(c, "a@example.com", &l);
	assert_int_equal(l.max[POL_LIM_MSG_HOUR], 50);
	assert_true(l.strict);
	pol_config_limits_for(c, "vip@example.com", &l);
	assert_int_equal(l.max[POL_LIM_MSG_HOUR], 1000);
	assert_true(l.strict);
	pol_config_limits_for(c, "a@example.org", &l);
	assert_int_equal(l.max[POL_LIM_MSG_HOUR], 100);
	assert_int_equal(l.max[POL_LIM_MSG_DAY], 5000);
	assert_int_equal(c->ips_max, 20);
	assert_int_equal(pol_config_load_string(c, "[limits]\nbogus = 1\n", "t", err, sizeof err),
	                 -1);
	assert_int_equal(
	    pol_config_load_string(c, "[signals]\nips_max = -1\n", "t", err, sizeof err), -1);
	assert_int_equal(
	    pol_config_load_string(c, "[actions]\nscore_warn = 500\n", "t", err, sizeof err), -1);
	free(c);
}

/* A message relayed by the trusted server 10.0.0.5 for user (the envelope
 * sender of a local domain; "" for a foreign or null sender). */
static struct pol_verdict relayed(struct fx *f, int64_t t, const char *user, const char *from,
                                  unsigned nrcpt, unsigned seed, bool foreign)
{
	static struct pol_event ev;
	struct pol_verdict v;
	char a[64];
	pol_event_init(&ev, POL_EV_MAIL, t);
	assert_int_equal(str_copy(ev.user, sizeof ev.user, user), 0);
	set_ip(&ev, "10.0.0.5");
	assert_int_equal(str_copy(ev.sender, sizeof ev.sender, from), 0);
	ev.flags = POL_F_RELAYED | (foreign ? POL_F_FOREIGN_SENDER : 0);
	for (unsigned i = 0; i < nrcpt; i++) {
		assert_int_equal(
		    str_format(a, sizeof a, "r%u.%u@d%u.example", seed, i, (seed + i) % 50), 0);
		pol_event_add_rcpt(&ev, a, POL_DLV_OK);
	}
	ev.size = 4000;
	assert_int_equal(pol_engine_evaluate(f->e, &ev, &v), 0);
	return v;
}

/* Issue 15: one identity per mailbox behind the organisation's server. A
 * spraying mailbox is stopped on its own identity; its 39 colleagues and the
 * relay are not; the relay's own limits are the sum over its senders; a
 * sender outside the local domains is a signal on the relay. */
static void test_trusted_relay(void **state)
{
	(void)state;
	struct fx *f = fx_new();
	f->cfg.volume_floor_hour = 5; /* 20 messages an hour is past a mailbox's volume */
	f->cfg.score_hold = f->cfg.score_block = 30;
	struct store_block b;
	char who[64];
	int64_t t = T0 + 9 * HOUR;
	unsigned blocked_at = 0, colleague_msgs = 0;
	for (unsigned i = 1; i <= 200; i++) {
		t += 2 * SEC;
		struct pol_verdict v =
		    relayed(f, t, "spray@corp.test", "spray@corp.test", 10, i, false);
		assert_string_equal(v.identity, "user:spray@corp.test");
		if (v.action == POL_BLOCK && !blocked_at) {
			blocked_at = i;
			assert_true(v.block_created);
		}
		if (blocked_at)
			assert_int_equal(v.action, POL_BLOCK);
		if (i % 5 == 0 && colleague_msgs < 117) {
			for (int k = 0; k < 3; k++, colleague_msgs++) {
				assert_int_equal(str_format(who, sizeof who, "user%02u@corp.test",
				                            colleague_msgs % 39),
				                 0);
				v = relayed(f, t, who, who, 1, 9000 + colleague_msgs, false);
				assert_true(v.action <= POL_WARN);
			}
		}
	}
	assert_true(blocked_at > 0 && blocked_at <= 50);
	assert_int_equal(colleague_msgs, 117);
	assert_int_equal(f->st->block_get(f->st, "ip:10.0.0.5", &b), 0); /* never the relay */
	assert_int_equal(f->st->block_get(f->st, "user:spray@corp.test", &b), 1);

	/* blocking the relay by hand stops every mailbox, and says so */
	assert_int_equal(pol_engine_block(f->e, "ip:10.0.0.5", "ops", "spam", t, 0), 0);
	struct pol_verdict v =
	    relayed(f, t + SEC, "user01@corp.test", "user01@corp.test", 1, 1, false);
	assert_int_equal(v.action, POL_BLOCK);
	assert_string_equal(v.identity, "user:user01@corp.test");
	assert_string_equal(v.about, "ip:10.0.0.5");
	v = relayed(f, t + SEC, "spray@corp.test", "spray@corp.test", 1, 1, false);
	assert_string_equal(v.about, ""); /* its own block comes first */
	assert_int_equal(pol_engine_unblock(f->e, "ip:10.0.0.5", "ops", "clean", t + 2 * SEC), 0);
	fx_free(f);

	/* the relay's limits: [limits] times relay_limit_factor over all senders */
	f = fx_new();
	f->cfg.limits.max[POL_LIM_MSG_HOUR] = 50;
	f->cfg.relay_limit_factor = 2;
	t = T0 + 9 * HOUR;
	unsigned deferred = 0;
	for (unsigned i = 0; i < 120; i++) {
		assert_int_equal(str_format(who, sizeof who, "user%02u@corp.test", i % 40), 0);
		v = relayed(f, t + i * SEC, who, who, 1, i, false);
		if (v.action == POL_DEFER) {
			assert_string_equal(v.rule, "relay_rate_msg_hour");
			assert_string_equal(v.about, "ip:10.0.0.5");
			assert_non_null(strstr(v.reasons[0], "trusted relay ip:10.0.0.5"));
			deferred++;
		}
	}
	assert_true(deferred >= 15 && deferred <= 25); /* past 100 of 120 */
	assert_int_equal(f->st->block_get(f->st, "ip:10.0.0.5", &b), 0);
	fx_free(f);

	/* a foreign sender: logged (warn) on the relay, held past relay_foreign_hour */
	f = fx_new();
	f->cfg.relay_foreign_hour = 3;
	t = T0 + 9 * HOUR;
	for (unsigned i = 1; i <= 6; i++) {
		v = relayed(f, t + i * SEC, "", "x@elsewhere.example", 1, i, true);
		assert_string_equal(v.identity, "ip:10.0.0.5");
		assert_string_equal(v.rule, "relay_foreign_sender");
		assert_int_equal(v.action, i <= 3 ? POL_WARN : POL_HOLD);
		assert_non_null(strstr(v.reasons[0], "outside the local domains"));
	}
	/* the null sender (the server's own notices) counts on the relay alone */
	v = relayed(f, t + 10 * SEC, "", "", 1, 1, false);
	assert_string_equal(v.identity, "ip:10.0.0.5");
	assert_true(v.action <= POL_WARN);
	assert_int_equal(f->st->block_get(f->st, "ip:10.0.0.5", &b), 0);
	fx_free(f);
}

/* One part of a message told in parts (as the Postfix policy service does). */
static struct pol_verdict part(struct fx *f, int64_t t, const char *user, const char *ip,
                               const char *from, uint32_t parts, const char *rcpt,
                               uint32_t rcpts_before, uint64_t size)
{
	static struct pol_event ev;
	struct pol_verdict v;
	pol_event_init(&ev, POL_EV_MAIL, t);
	assert_int_equal(str_copy(ev.user, sizeof ev.user, user), 0);
	set_ip(&ev, ip);
	assert_int_equal(str_copy(ev.sender, sizeof ev.sender, from), 0);
	if (!from[0])
		ev.flags |= POL_F_NULL_SENDER;
	if (rcpt)
		pol_event_add_rcpt(&ev, rcpt, POL_DLV_OK);
	ev.parts = parts;
	ev.rcpts_before = rcpts_before;
	ev.size = size;
	assert_int_equal(pol_engine_evaluate(f->e, &ev, &v), 0);
	return v;
}

/* A message counted whole and the same message told in parts (the message
 * with its first recipient, each further recipient, the size at the end)
 * leave the same counters; a recipient limit refuses at the part that
 * crosses it; a null sender's second recipient holds. */
static void test_message_in_parts(void **state)
{
	(void)state;
	struct fx *f = fx_new();
	char a[64];
	int64_t t = T0 + 9 * HOUR;
	for (unsigned m = 0; m < 20; m++, t += 30 * SEC) {
		struct pol_verdict v =
		    mail(f, t, "whole@corp.test", "192.0.2.1", "whole@corp.test", 3, m, 0);
		assert_int_equal(v.action, POL_ALLOW);
		for (unsigned i = 0; i < 3; i++) {
			assert_int_equal(
			    str_format(a, sizeof a, "r%u.%u@d%u.example", m, i, (m + i) % 50), 0);
			v = part(f, t + i, "parts@corp.test", "192.0.2.1", "parts@corp.test",
			         i ? POL_PART_RCPTS : POL_PART_MSG | POL_PART_RCPTS, a, i, 0);
			assert_int_equal(v.action, POL_ALLOW);
		}
		v = part(f, t + 3, "parts@corp.test", "192.0.2.1", "parts@corp.test", POL_PART_SIZE,
		         NULL, 3, 4000);
		assert_int_equal(v.action, POL_ALLOW);
	}
	struct pol_counters w, p;
	assert_int_equal(pol_engine_counters(f->e, "user:whole@corp.test", t, &w), 1);
	assert_int_equal(pol_engine_counters(f->e, "user:parts@corp.test", t, &p), 1);
	assert_int_equal(w.messages_today, 20);
	assert_int_equal(p.messages_today, 20);
	assert_int_equal(p.ips_today, w.ips_today);
	for (int i = 0; i < POL_LIM_N; i++) {
		if (i == POL_LIM_MSG_MINUTE || i == POL_LIM_NULL_HOUR)
			continue;
		assert_true(w.limit[i] > 0);
		assert_true(fabs(p.limit[i] - w.limit[i]) <= 0.01 * w.limit[i]);
	}
	assert_true(w.limit[POL_LIM_RCPT_HOUR] > 50 && w.limit[POL_LIM_RCPT_HOUR] <= 60.5);
	assert_true(fabs(p.recipients - w.recipients) < 0.01 * w.recipients);
	assert_int_equal(pol_engine_counters(f->e, "user:nobody@corp.test", t, &p), 0);
	assert_int_equal(pol_engine_counters(f->e, "nobody", t, &p), 0);

	/* rcpt_hour 10: the eleventh recipient of one account is deferred at its own part */
	f->cfg.limits.max[POL_LIM_RCPT_HOUR] = 10;
	unsigned refused_at = 0;
	for (unsigned i = 0; i < 30 && !refused_at; i++) {
		assert_int_equal(str_format(a, sizeof a, "x%u@spray.example", i), 0);
		struct pol_verdict v =
		    part(f, t + i, "spray@corp.test", "192.0.2.2", "spray@corp.test",
		         i ? POL_PART_RCPTS : POL_PART_MSG | POL_PART_RCPTS, a, i, 0);
		if (v.action >= POL_DEFER) {
			refused_at = i + 1;
			assert_string_equal(v.rule, "rate_rcpt_hour");
		}
	}
	assert_int_equal(refused_at, 11); /* ten in a few ms: an EWMA a hair under 10 */
	f->cfg.limits.max[POL_LIM_RCPT_HOUR] = 1500;

	/* a null sender: one recipient passes, the second holds the message
	 * (notifications to strangers are held anyway: not that rule here) */
	f->cfg.notify_enabled = false;
	struct pol_verdict v = part(f, t, "bounce@corp.test", "192.0.2.3", "",
	                            POL_PART_MSG | POL_PART_RCPTS, "a@example.net", 0, 0);
	assert_int_equal(v.action, POL_ALLOW);
	v = part(f, t + 1, "bounce@corp.test", "192.0.2.3", "", POL_PART_RCPTS, "b@example.net", 1,
	         0);
	assert_int_equal(v.action, POL_HOLD);
	assert_string_equal(v.rule, "null_sender_rcpts");
	/* the size alone neither repeats that nor counts a message */
	v = part(f, t + 2, "bounce@corp.test", "192.0.2.3", "", POL_PART_SIZE, NULL, 2, 100);
	assert_int_equal(v.action, POL_ALLOW);
	assert_int_equal(pol_engine_counters(f->e, "user:bounce@corp.test", t + 2, &p), 1);
	assert_int_equal(p.messages_today, 1);
	fx_free(f);
}

/* The record under key, overwritten by fn, written back as it is (a damaged
 * store file or a Redis shared with others holds what it holds). */
static void damage(struct store *st, const char *key, void (*fn)(unsigned char *rec, size_t len))
{
	static _Alignas(16) unsigned char rec[STORE_REC_MAX];
	size_t len = 0;
	assert_int_equal(st->get(st, key, rec, sizeof rec, &len), 1);
	fn(rec, len);
	assert_int_equal(st->put(st, key, rec, len), 0);
}

/* The first int64 t in a record: the first time kept of an event at t. */
static unsigned char *find_time(unsigned char *rec, size_t len, int64_t t)
{
	unsigned char *at = memmem(rec, len, &t, sizeof t);
	assert_non_null(at);
	return at;
}

static void damage_time_min(unsigned char *rec, size_t len)
{
	/* the first limit's EWMA: its last update, then far before the epoch */
	int64_t bad = INT64_MIN + 1;
	memcpy(find_time(rec, len, T0), &bad, sizeof bad);
}

static void damage_spam_time(unsigned char *rec, size_t len)
{
	/* struct pol_rec ends with the EWMAs spam_hour, foreign_hour { rate, last_ms }:
	 * spam_hour's last update, far before the epoch (read after the limits) */
	int64_t bad = INT64_MIN + 1;
	assert_true(len > 32);
	memcpy(rec + len - 24, &bad, sizeof bad);
}

static void damage_rate_nan(unsigned char *rec, size_t len)
{
	/* the first limit's EWMA: { double rate; int64_t last_ms } */
	double bad = NAN;
	memcpy(find_time(rec, len, T0) - sizeof bad, &bad, sizeof bad);
}

/* An identity record whose times or rates are damaged is absent: the old code
 * subtracted a time near INT64_MIN from the event's (signed overflow, a
 * failure under UBSan), and a NaN rate is never at a limit, so the limit was
 * off for as long as the record lived. */
static void test_damaged_identity_record(void **state)
{
	(void)state;
	struct fx *f = fx_new();
	struct pol_counters pc;
	(void)mail(f, T0, "alice@example.org", "203.0.113.5", "alice@example.org", 1, 1, 0);
	damage(f->st, "I:user:alice@example.org", damage_time_min);
	/* counting starts afresh: one message today, the one after the damage */
	assert_int_equal(pol_engine_counters(f->e, "user:alice@example.org", T0, &pc), 0);
	struct pol_verdict v = mail(f, T0 + 10 * SEC, "alice@example.org", "203.0.113.5",
	                            "alice@example.org", 1, 2, 0);
	assert_int_equal(v.action, POL_ALLOW);
	assert_int_equal(pol_engine_counters(f->e, "user:alice@example.org", T0 + 10 * SEC, &pc),
	                 1);
	assert_int_equal(pc.messages_today, 1);

	/* a field checked after the limits: the message is counted again on a
	 * fresh record */
	damage(f->st, "I:user:alice@example.org", damage_spam_time);
	v = mail(f, T0 + 20 * SEC, "alice@example.org", "203.0.113.5", "alice@example.org", 1, 9,
	         0);
	assert_int_equal(v.action, POL_ALLOW);
	assert_int_equal(pol_engine_counters(f->e, "user:alice@example.org", T0 + 20 * SEC, &pc),
	                 1);
	assert_int_equal(pc.messages_today, 1);

	/* a NaN rate: the limit of 3 a minute holds again from a fresh record */
	f->cfg.limits.max[POL_LIM_MSG_MINUTE] = 3;
	(void)mail(f, T0, "bob@example.org", "203.0.113.6", "bob@example.org", 1, 3, 0);
	damage(f->st, "I:user:bob@example.org", damage_rate_nan);
	assert_int_equal(pol_engine_counters(f->e, "user:bob@example.org", T0, &pc), 0);
	bool limited = false;
	for (int i = 1; i <= 5; i++) {
		v = mail(f, T0 + i * SEC, "bob@example.org", "203.0.113.6", "bob@example.org", 1,
		         3 + i, 0);
		limited |= strcmp(v.rule, "rate_msg_minute") == 0;
	}
	assert_true(limited);
	fx_free(f);
}

static void damage_ip_fails(unsigned char *rec, size_t len)
{
	/* struct pol_iprec: header, EWMA { rate, last_ms }, uint32_t fails */
	uint32_t bad = UINT32_MAX - 1;
	memcpy(find_time(rec, len, T0) + sizeof(int64_t), &bad, sizeof bad);
}

/* A failed-login record of an IP whose failure rate's time is damaged is
 * absent (the old code overflowed subtracting it); a failure count near
 * UINT32_MAX with [auth] delay = 0 ends the delay's doubling at 64 (the old
 * code went round it four billion times, some seconds, for every failure). */
static void test_damaged_ip_record(void **state)
{
	(void)state;
	struct fx *f = fx_new();
	(void)auth(f, T0, "carol@example.org", "198.51.100.9", false);
	damage(f->st, "A:ip:198.51.100.9", damage_time_min);
	struct pol_verdict v = auth(f, T0 + SEC, "carol@example.org", "198.51.100.9", false);
	assert_int_equal(v.action, POL_ALLOW);
	assert_int_equal(v.delay_ms,
	                 f->cfg.delay_base_ms); /* the first failure of a fresh record */

	/* an account's known IP whose time is damaged: a message leaves it (it
	 * reads no login field), the next login finds the record damaged */
	(void)auth(f, T0, "erin@example.org", "198.51.100.11", true);
	damage(f->st, "I:user:erin@example.org", damage_time_min); /* ok_ips[0].last_ms */
	(void)mail(f, T0 + SEC, "erin@example.org", "198.51.100.11", "erin@example.org", 1, 5, 0);
	v = auth(f, T0 + 2 * SEC, "erin@example.org", "198.51.100.11", true);
	assert_int_equal(v.action, POL_ALLOW);
	struct pol_counters pc;
	assert_int_equal(pol_engine_counters(f->e, "user:erin@example.org", T0 + 2 * SEC, &pc), 1);
	assert_int_equal(pc.messages_today, 0); /* counting started afresh at the login */

	f->cfg.delay_base_ms = 0;
	(void)auth(f, T0, "dave@example.org", "198.51.100.10", false);
	damage(f->st, "A:ip:198.51.100.10", damage_ip_fails);
	v = auth(f, T0 + SEC, "dave@example.org", "198.51.100.10", false);
	assert_int_equal(v.delay_ms, 0);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_event_parse),
	    cmocka_unit_test(test_config),
	    cmocka_unit_test(test_guessed_password_then_spam),
	    cmocka_unit_test(test_busy_legitimate_account),
	    cmocka_unit_test(test_travelling_user),
	    cmocka_unit_test(test_attacker_cannot_lock_out_user),
	    cmocka_unit_test(test_unblock_resumes),
	    cmocka_unit_test(test_repeat_offender_doubles),
	    cmocka_unit_test(test_leaky_vs_strict),
	    cmocka_unit_test(test_check_and_commit),
	    cmocka_unit_test(test_check_and_commit_redis),
	    cmocka_unit_test(test_block_survives_restart),
	    cmocka_unit_test(test_trusted_relay),
	    cmocka_unit_test(test_message_in_parts),
	    cmocka_unit_test(test_damaged_identity_record),
	    cmocka_unit_test(test_damaged_ip_record),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
