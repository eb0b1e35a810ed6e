/*
 * Unit tests for src/gateway/authpool and the two halves of userdb_verify
 * (userdb_lookup on the loop, userdb_check on a worker): the same verdicts as
 * userdb_verify, copies that outlive the store, results delivered on the
 * loop, cancellation of queued and running checks, the bounded queue, and
 * tear-down with checks in flight (ASan sees the leaks and the use after free).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/passwd.h"
#include "auth/userdb.h"
#include "core/clock.h"
#include "gateway/authpool.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *PW = "orchid-lantern-basalt-93";

struct store {
	struct userdb db;
	struct passwd_cost min;
};

static void store_init(struct store *s)
{
	char err[128], hash[PASSWD_HASH_MAX];
	assert_int_equal(passwd_init(), 0);
	assert_int_equal(passwd_cost_parse("min", &s->min, err, sizeof err), 0);
	assert_int_equal(userdb_init(&s->db, "/nonexistent/users"), 0);
	assert_int_equal(passwd_hash(&s->min, PW, strlen(PW), hash, sizeof hash), 0);
	assert_int_equal(userdb_add(&s->db, "sam", hash, 0, err, sizeof err), 0);
	assert_int_equal(userdb_add(&s->db, "off", hash, USERDB_FLAG_DISABLED, err, sizeof err), 0);
	assert_int_equal(userdb_prepare(&s->db), 0);
}

/* lookup + check gives what userdb_verify gives, and needs nothing of the
 * store afterwards. */
static void test_lookup_check(void **state)
{
	struct store s;
	store_init(&s);
	static const struct {
		const char *user, *pw;
		enum userdb_verdict v;
	} cases[] = {
	    {"sam", "orchid-lantern-basalt-93", USERDB_OK},
	    {"SAM", "orchid-lantern-basalt-93", USERDB_OK},
	    {"sam", "wrong", USERDB_BAD},
	    {"nobody", "orchid-lantern-basalt-93", USERDB_UNKNOWN},
	    {NULL, "x", USERDB_UNKNOWN},
	    {"off", "orchid-lantern-basalt-93", USERDB_DISABLED},
	    {"off", "wrong", USERDB_BAD},
	};
	struct userdb_cred cr[sizeof cases / sizeof cases[0]];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(
		    userdb_verify(&s.db, cases[i].user, cases[i].pw, strlen(cases[i].pw)),
		    cases[i].v);
		assert_int_equal(userdb_lookup(&s.db, cases[i].user, &cr[i]), 0);
		assert_true(userdb_cred_usable(&cr[i], strlen(cases[i].pw)));
	}
	/* the store goes (a reload): the copies still answer */
	userdb_free(&s.db);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		assert_int_equal(userdb_check(&cr[i], cases[i].pw, strlen(cases[i].pw)),
		                 cases[i].v);
	/* an unusable stored hash and an overlong password: an error, found without hashing */
	struct userdb_cred bad = cr[0];
	bad.hash[3] = 'X'; /* "$arXon2id$...": not a hash passwd_verify takes */
	assert_false(userdb_cred_usable(&bad, strlen(PW)));
	assert_int_equal(userdb_check(&bad, PW, strlen(PW)), USERDB_ERROR);
	static char big[PASSWD_PLAIN_MAX + 2];
	memset(big, 'a', sizeof big - 1);
	assert_false(userdb_cred_usable(&cr[0], strlen(big)));
	assert_int_equal(userdb_check(&cr[0], big, strlen(big)), USERDB_ERROR);
	/* no account: the check is the dummy one, at the configured cost (main
	 * sets RELAYGUARD_ARGON2=min) */
	assert_false(cr[3].known);
	assert_true(cr[3].dummy_cost.opslimit == s.min.opslimit &&
	            cr[3].dummy_cost.memlimit == s.min.memlimit);
	assert_true(passwd_dummy_ready(&s.min)); /* userdb_prepare made it */
	char dummy[PASSWD_HASH_MAX];
	assert_int_equal(passwd_dummy_hash(&s.min, dummy, sizeof dummy), 0);
	assert_int_equal(passwd_verify(dummy, PW, strlen(PW)), PASSWD_MISMATCH);
	assert_int_equal(passwd_verify_dummy(&s.min, PW, strlen(PW)), PASSWD_MISMATCH);
}

struct answer {
	int calls;
	enum userdb_verdict v;
	int *total;
};

static void on_done(void *arg, const struct authbe_result *r)
{
	struct answer *a = arg;
	a->calls++;
	a->v = r->verdict;
	(*a->total)++;
}

/* A check against the users file only (backends = file). */
static struct authpool_job *submit(struct authpool *p, const struct userdb_cred *cr, const char *pw,
                                   size_t pwlen, authpool_done_fn done, void *arg)
{
	static struct authbe_request req;
	memset(&req, 0, sizeof req);
	req.conf.order[0] = AUTHBE_FILE;
	req.conf.n = 1;
	req.cr = *cr;
	memcpy(req.pw, pw, pwlen < sizeof req.pw ? pwlen : sizeof req.pw);
	req.pwlen = pwlen;
	return authpool_submit(p, &req, done, arg);
}

/* Runs the loop until *total reaches n (or 20 s: a failure). */
static void run_until(struct event_base *base, const int *total, int n)
{
	clock_use_system();
	clock_update();
	int64_t end = clock_monotonic_ms() + 20000;
	while (*total < n) {
		struct timeval tv = {0, 20000};
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
		clock_update();
		if (clock_monotonic_ms() > end)
			fail_msg("only %d of %d answers", *total, n);
	}
}

static void test_pool_answers(void **state)
{
	struct store s;
	store_init(&s);
	struct event_base *base = event_base_new();
	assert_non_null(base);
	char err[128];
	struct authpool *p = authpool_new(base, 3, 16, err, sizeof err);
	assert_non_null(p);
	int total = 0;
	struct answer a[8];
	const char *users[8] = {"sam", "sam", "nobody", "off", "off", NULL, "Sam", "x"};
	const char *pws[8] = {PW, "wrong", PW, PW, "wrong", PW, PW, PW};
	enum userdb_verdict want[8] = {USERDB_OK,  USERDB_BAD,     USERDB_UNKNOWN, USERDB_DISABLED,
	                               USERDB_BAD, USERDB_UNKNOWN, USERDB_OK,      USERDB_UNKNOWN};
	for (int i = 0; i < 8; i++) {
		struct userdb_cred cr;
		memset(&a[i], 0, sizeof a[i]);
		a[i].total = &total;
		assert_int_equal(userdb_lookup(&s.db, users[i], &cr), 0);
		assert_non_null(submit(p, &cr, pws[i], strlen(pws[i]), on_done, &a[i]));
	}
	userdb_free(&s.db); /* a reload while the checks run */
	run_until(base, &total, 8);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(a[i].calls, 1);
		assert_int_equal(a[i].v, want[i]);
	}
	assert_int_equal(authpool_pending(p), 0);
	authpool_free(p);
	event_base_free(base);
}

/* One worker busy with a slow check; cancelled jobs (queued, running) never
 * answer, the others do, in order. */
static void test_pool_cancel(void **state)
{
	struct store s;
	store_init(&s);
	char err[128], slow_hash[PASSWD_HASH_MAX];
	struct passwd_cost slow;
	assert_int_equal(passwd_cost_parse("t=2,m=16M", &slow, err, sizeof err), 0);
	assert_int_equal(passwd_hash(&slow, PW, strlen(PW), slow_hash, sizeof slow_hash), 0);
	struct userdb_cred slow_cr = {.known = true};
	assert_int_equal(passwd_verify_check(slow_hash, strlen(PW)), 0);
	memcpy(slow_cr.hash, slow_hash, sizeof slow_cr.hash);
	struct userdb_cred cr;
	assert_int_equal(userdb_lookup(&s.db, "sam", &cr), 0);

	struct event_base *base = event_base_new();
	assert_non_null(base);
	struct authpool *p = authpool_new(base, 1, 8, err, sizeof err);
	assert_non_null(p);
	int total = 0;
	struct answer running = {.total = &total}, queued = {.total = &total},
	              last = {.total = &total};
	struct authpool_job *jr = submit(p, &slow_cr, PW, strlen(PW), on_done, &running);
	struct authpool_job *jq = submit(p, &cr, PW, strlen(PW), on_done, &queued);
	assert_non_null(submit(p, &cr, "wrong", 5, on_done, &last));
	assert_non_null(jr);
	assert_non_null(jq);
	assert_int_equal(authpool_pending(p), 3);
	authpool_cancel(p, jq); /* most likely still queued: freed at once */
	authpool_cancel(p, jr); /* most likely running: dropped when it ends */
	run_until(base, &total, 1);
	assert_int_equal(last.calls, 1);
	assert_int_equal(last.v, USERDB_BAD);
	assert_int_equal(running.calls, 0);
	assert_int_equal(queued.calls, 0);
	assert_int_equal(authpool_pending(p), 0);
	userdb_free(&s.db);
	authpool_free(p);
	event_base_free(base);
}

/* The queue bound refuses rather than waits; freeing the pool with checks
 * queued and running calls nobody back and leaks nothing. */
static void test_pool_full_and_free(void **state)
{
	struct store s;
	store_init(&s);
	char err[128];
	struct userdb_cred cr;
	assert_int_equal(userdb_lookup(&s.db, "sam", &cr), 0);
	struct event_base *base = event_base_new();
	assert_non_null(base);
	assert_null(authpool_new(base, 0, 8, err, sizeof err));
	assert_null(authpool_new(base, AUTHPOOL_WORKERS_MAX + 1, 8, err, sizeof err));
	struct authpool *p = authpool_new(base, 1, 2, err, sizeof err);
	assert_non_null(p);
	int total = 0;
	struct answer a = {.total = &total};
	assert_non_null(submit(p, &cr, PW, strlen(PW), on_done, &a));
	assert_non_null(submit(p, &cr, PW, strlen(PW), on_done, &a));
	assert_null(submit(p, &cr, PW, strlen(PW), on_done, &a));
	static char big[PASSWD_PLAIN_MAX + 2];
	memset(big, 'a', sizeof big - 1);
	assert_int_equal(authpool_pending(p), 2);
	authpool_free(p); /* the loop never ran: nobody is called */
	assert_int_equal(total, 0);
	p = authpool_new(base, 1, 2, err, sizeof err);
	assert_non_null(p);
	assert_null(submit(p, &cr, big, strlen(big), on_done, &a));
	assert_int_equal(authpool_pending(p), 0);
	authpool_free(p);
	userdb_free(&s.db);
	event_base_free(base);
}

/* A check without a callback, run for its side effect: the dummy hash of a
 * new cost is made on the worker. */
static void test_pool_prepare(void **state)
{
	struct store s;
	store_init(&s);
	char err[128];
	struct userdb_cred nobody = {.known = false}, cr;
	assert_int_equal(passwd_cost_parse("t=1,m=16K", &nobody.dummy_cost, err, sizeof err), 0);
	assert_false(passwd_dummy_ready(&nobody.dummy_cost));
	assert_int_equal(userdb_lookup(&s.db, "sam", &cr), 0);
	struct event_base *base = event_base_new();
	assert_non_null(base);
	struct authpool *p = authpool_new(base, 1, 4, err, sizeof err);
	assert_non_null(p);
	int total = 0;
	struct answer a = {.total = &total};
	assert_non_null(submit(p, &nobody, "", 0, NULL, NULL));
	assert_non_null(submit(p, &cr, PW, strlen(PW), on_done, &a));
	run_until(base, &total, 1); /* one worker, in order: the first one is done too */
	assert_int_equal(a.v, USERDB_OK);
	assert_true(passwd_dummy_ready(&nobody.dummy_cost));
	assert_int_equal(authpool_pending(p), 0);
	authpool_free(p);
	userdb_free(&s.db);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lookup_check), cmocka_unit_test(test_pool_answers),
	    cmocka_unit_test(test_pool_cancel),  cmocka_unit_test(test_pool_full_and_free),
	    cmocka_unit_test(test_pool_prepare),
	};
	/* the configured cost is the unknown-user check's: keep it cheap here */
	if (setenv("RELAYGUARD_ARGON2", "min", 1) != 0)
		return 1;
	return cmocka_run_group_tests_name("authpool", tests, NULL, NULL);
}
