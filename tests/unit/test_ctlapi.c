/*
 * Unit tests for src/admin/ctlapi: the one table of request types and its
 * dispatch: every type is found by name, request_id is echoed, the answers
 * speak one vocabulary (codes, HTTP statuses), a type whose state this
 * process lacks is "unavailable", and each handler changes what it names
 * (blocks and limits in the engine, holds and flushes in the spool).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "admin/ctlapi.h"
#include "core/clock.h"
#include "policy/config.h"
#include "policy/engine.h"
#include "policy/store.h"
#include "queue/queue.h"
#include "enginetest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fx {
	char dir[64];
	struct pol_config *pc;
	struct store *st;
	struct pol_engine *e;
	struct queue *q;
	struct ctlapi_state s;
	int reloads, wakes;
	bool reload_fails;
};

static int fx_reload(void *arg, bool users_only, char *err, size_t errlen)
{
	struct fx *f = arg;
	f->reloads++;
	if (f->reload_fails) {
		snprintf(err, errlen, "users file: no such file");
		return -1;
	}
	return 0;
}

static void fx_wake(void *arg)
{
	((struct fx *)arg)->wakes++;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	char err[256];
	snprintf(f->dir, sizeof f->dir, "/tmp/rg-ctlapi-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->e = enginetest_new(&f->pc, &f->st);
	struct queue_opts qo = {.fsync = false};
	assert_int_equal(queue_open(&f->q, f->dir, NULL, &qo, err, sizeof err), 0);
	f->s = (struct ctlapi_state){.engine = f->e,
	                             .store = f->st,
	                             .policy = f->pc,
	                             .queue = f->q,
	                             .wake_delivery = fx_wake,
	                             .wake_arg = f,
	                             .reload = fx_reload,
	                             .reload_arg = f,
	                             .via = "server"};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	queue_close(f->q);
	enginetest_free(f->e, f->pc, f->st);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Dispatches the JSON text; the answer. */
static json_t *ask(struct ctlapi_state *s, const char *text)
{
	json_error_t e;
	json_t *req = json_loads(text, 0, &e);
	assert_non_null(req);
	json_t *reply = ctlapi_dispatch(s, req);
	json_decref(req);
	assert_non_null(reply);
	return reply;
}

static const char *str(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v ? v : "";
}

static void expect(struct ctlapi_state *s, const char *text, enum ctlapi_code code, int http)
{
	json_t *r = ask(s, text);
	assert_int_equal(ctlapi_reply_code(r), code);
	assert_int_equal(ctlapi_http_status(r), http);
	if (code != CTLAPI_OK) {
		assert_string_equal(str(r, "code"), ctlapi_code_name(code));
		assert_true(json_is_false(json_object_get(r, "ok")));
		assert_true(strlen(str(r, "error")) > 0);
	}
	json_decref(r);
}

static void test_table(void **state)
{
	(void)state;
	static const char *const want[] = {
	    "ping",   "block", "unblock",    "resume",       "limit",  "hold",          "release",
	    "delete", "flush", "queue_list", "users_reload", "reload", "postfix_holds", "counters"};
	assert_int_equal(ctlapi_ntypes(), sizeof want / sizeof want[0]);
	for (size_t i = 0; i < ctlapi_ntypes(); i++)
		assert_string_equal(ctlapi_type_name(i), want[i]);
	assert_null(ctlapi_type_name(ctlapi_ntypes()));
	assert_string_equal(ctlapi_code_name(CTLAPI_NOT_FOUND), "not_found");
	/* every code has a name (one out of range is a bug: panic) */
	for (int c = CTLAPI_OK; c <= CTLAPI_FAILED; c++)
		assert_true(ctlapi_code_name((enum ctlapi_code)c)[0] != '\0');
}

static void test_envelope(void **state)
{
	struct fx *f = *state;
	json_t *r = ask(&f->s, "{\"type\": \"ping\", \"request_id\": \"abc\"}");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(str(r, "type"), "ping");
	assert_string_equal(str(r, "request_id"), "abc");
	assert_string_equal(str(r, "via"), "server");
	assert_string_equal(str(r, "store"), "memory");
	ctlapi_strip(r);
	assert_null(json_object_get(r, "ok"));
	assert_null(json_object_get(r, "request_id"));
	assert_non_null(json_object_get(r, "pid"));
	json_decref(r);
	/* the first clients' "cmd" */
	expect(&f->s, "{\"cmd\": \"ping\"}", CTLAPI_OK, 200);
	expect(&f->s, "{}", CTLAPI_BAD_REQUEST, 400);
	expect(&f->s, "[1]", CTLAPI_BAD_REQUEST, 400);
	expect(&f->s, "{\"type\": \"explode\"}", CTLAPI_UNKNOWN_TYPE, 400);
	expect(&f->s, "{\"type\": \"ping\", \"actor\": 7}", CTLAPI_BAD_REQUEST, 400);
	json_t *req = ctlapi_request("ping", "ops", NULL);
	assert_string_equal(str(req, "type"), "ping");
	assert_string_equal(str(req, "actor"), "ops");
	assert_null(json_object_get(req, "reason"));
	assert_true(json_is_integer(json_object_get(req, "request_id")));
	json_decref(req);
}

static void test_unavailable(void **state)
{
	struct fx *f = *state;
	struct ctlapi_state none = {0};
	for (size_t i = 1; i < ctlapi_ntypes(); i++) {
		char text[128];
		snprintf(text, sizeof text, "{\"type\": \"%s\", \"id\": \"x\"}",
		         ctlapi_type_name(i));
		expect(&none, text, CTLAPI_UNAVAILABLE, 503);
	}
	/* offline: the store and spool, but no server for limits and reloads */
	struct ctlapi_state off = f->s;
	off.policy = NULL;
	off.reload = NULL;
	expect(&off, "{\"type\": \"limit\"}", CTLAPI_UNAVAILABLE, 503);
	expect(&off, "{\"type\": \"reload\"}", CTLAPI_UNAVAILABLE, 503);
	/* Postfix's hold queue only in policy-only mode; without it a Postfix queue
	 * ID is one of our spool's, and not found there */
	expect(&off, "{\"type\": \"postfix_holds\"}", CTLAPI_UNAVAILABLE, 503);
	expect(&off, "{\"type\": \"release\", \"id\": \"4F2A51C0A3B\"}", CTLAPI_BAD_REQUEST, 400);
	expect(&off, "{\"type\": \"block\", \"identity\": \"eve@corp.test\"}", CTLAPI_OK, 200);
}

static void test_blocks_and_limits(void **state)
{
	struct fx *f = *state;
	json_t *r = ask(&f->s, "{\"type\": \"block\", \"identity\": \"SAM@corp.test\", "
	                       "\"actor\": \"ops\", \"reason\": \"guessed\"}");
	assert_string_equal(str(r, "identity"), "user:sam@corp.test");
	assert_string_equal(str(r, "result"), "blocked");
	json_decref(r);
	struct store_block b;
	assert_int_equal(f->st->block_get(f->st, "user:sam@corp.test", &b), 1);
	assert_string_equal(b.reason, "guessed");
	r = ask(&f->s, "{\"type\": \"unblock\", \"identity\": \"sam@corp.test\"}");
	assert_string_equal(str(r, "result"), "unblocked");
	json_decref(r);
	r = ask(&f->s, "{\"type\": \"unblock\", \"identity\": \"sam@corp.test\"}");
	assert_string_equal(str(r, "result"), "not blocked; counters reset");
	json_decref(r);
	expect(&f->s, "{\"type\": \"block\", \"identity\": \"a b\"}", CTLAPI_BAD_REQUEST, 400);
	expect(&f->s, "{\"type\": \"block\"}", CTLAPI_BAD_REQUEST, 400);
	/* limits: checked first, a bad one changes nothing */
	expect(&f->s,
	       "{\"type\": \"limit\", \"target\": \"user:sam@corp.test\", \"limit\": \"msg_hour\", "
	       "\"value\": 3}",
	       CTLAPI_OK, 200);
	struct pol_limits lim;
	pol_config_limits_for(f->pc, "sam@corp.test", &lim);
	assert_int_equal(lim.max[POL_LIM_MSG_HOUR], 3);
	expect(&f->s,
	       "{\"type\": \"limit\", \"target\": \"user:sam@corp.test\", \"limit\": \"msg_hour\", "
	       "\"value\": \"many\"}",
	       CTLAPI_BAD_REQUEST, 400);
	expect(&f->s,
	       "{\"type\": \"limit\", \"target\": \"host:x\", \"limit\": \"msg_hour\", "
	       "\"value\": \"1\"}",
	       CTLAPI_BAD_REQUEST, 400);
	pol_config_limits_for(f->pc, "sam@corp.test", &lim);
	assert_int_equal(lim.max[POL_LIM_MSG_HOUR], 3);
	expect(&f->s,
	       "{\"type\": \"limit\", \"target\": \"limits\", \"limit\": \"msg_day\", "
	       "\"value\": \"7\"}",
	       CTLAPI_OK, 200);
	assert_int_equal(f->pc->limits.max[POL_LIM_MSG_DAY], 7);
}

static void on_commit(void *arg, int status, const char *id)
{
	if (status == 0)
		snprintf(arg, QUEUE_ID_MAX, "%s", id);
}

static void commit(struct queue *q, char *id)
{
	struct queue_rcpt rc = {.addr = "bob@example.net"};
	struct queue_envelope env = {.sender = "alice@corp.test", .nrcpt = 1, .rcpt = &rc};
	struct queue_msg *m = queue_msg_new(q);
	assert_non_null(m);
	assert_int_equal(queue_msg_write(m, "x\r\n", 3), 0);
	queue_msg_commit(m, &env, on_commit, id);
	assert_true(id[0]);
}

static void test_queue(void **state)
{
	struct fx *f = *state;
	char a[QUEUE_ID_MAX] = "", b[QUEUE_ID_MAX] = "", text[256], id[QUEUE_ID_MAX];
	commit(f->q, a);
	commit(f->q, b);
	/* b deferred */
	assert_int_equal(queue_next_due(f->q, UINT64_MAX / 2, id), 1);
	assert_int_equal(queue_next_due(f->q, UINT64_MAX / 2, id), 1);
	struct queue_envelope env;
	assert_int_equal(queue_entry_load(f->q, b, &env), 0);
	env.attempts = 1;
	env.next_attempt_ms = UINT64_MAX / 2;
	snprintf(env.rcpt[0].last_reply, sizeof env.rcpt[0].last_reply, "451 4.2.0 later");
	assert_int_equal(queue_entry_put(f->q, &env), 0);
	queue_envelope_free(&env);
	env = (struct queue_envelope){0};
	assert_int_equal(queue_entry_load(f->q, a, &env), 0);
	assert_int_equal(queue_entry_put(f->q, &env), 0);
	queue_envelope_free(&env);

	json_t *r = ask(&f->s, "{\"type\": \"queue_list\"}");
	assert_int_equal(json_array_size(json_object_get(r, "active")), 1);
	json_t *d = json_array_get(json_object_get(r, "deferred"), 0);
	assert_string_equal(str(d, "id"), b);
	assert_string_equal(str(d, "last_reply"), "451 4.2.0 later");
	assert_true(json_is_string(json_object_get(d, "next_attempt")));
	json_decref(r);

	snprintf(text, sizeof text, "{\"type\": \"hold\", \"id\": \"%s\", \"reason\": \"why\"}", a);
	expect(&f->s, text, CTLAPI_OK, 200);
	expect(&f->s, text, CTLAPI_CONFLICT, 409); /* already held */
	snprintf(text, sizeof text, "{\"type\": \"flush\", \"id\": \"%s\"}", a);
	expect(&f->s, text, CTLAPI_FAILED, 500); /* held: release it instead */
	snprintf(text, sizeof text, "{\"type\": \"release\", \"id\": \"%s\"}", a);
	int wakes = f->wakes;
	expect(&f->s, text, CTLAPI_OK, 200);
	assert_int_equal(f->wakes, wakes + 1);
	expect(&f->s, text, CTLAPI_CONFLICT, 409); /* not held */
	expect(&f->s, "{\"type\": \"release\", \"id\": \"../etc\"}", CTLAPI_BAD_REQUEST, 400);
	expect(&f->s, "{\"type\": \"release\", \"id\": \"0123456789ABCDEF\"}", CTLAPI_NOT_FOUND,
	       404);
	r = ask(&f->s, "{\"type\": \"flush\"}");
	assert_int_equal(json_integer_value(json_object_get(r, "count")), 1); /* b */
	assert_int_equal(f->wakes, wakes + 2);
	json_decref(r);
	expect(&f->s, "{\"type\": \"delete\", \"all_deferred\": true, \"id\": \"x\"}",
	       CTLAPI_BAD_REQUEST, 400);
	r = ask(&f->s, "{\"type\": \"delete\", \"all_deferred\": true, \"actor\": \"ops\"}");
	assert_int_equal(json_integer_value(json_object_get(r, "count")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(r, "ids"), 0)), b);
	json_decref(r);
	snprintf(text, sizeof text, "{\"type\": \"delete\", \"id\": \"%s\"}", b);
	expect(&f->s, text, CTLAPI_NOT_FOUND, 404);
}

/* A message the policy held for who (gateway/smtpd.c: "policy RULE: ... [WHO]"). */
static void commit_held(struct queue *q, const char *who, char *id)
{
	struct queue_rcpt rc = {.addr = "bob@example.net"};
	struct queue_envelope env = {.sender = "alice@corp.test", .nrcpt = 1, .rcpt = &rc};
	snprintf(env.hold_reason, sizeof env.hold_reason, "policy block:manual: blocked [%s]", who);
	struct queue_msg *m = queue_msg_new(q);
	assert_non_null(m);
	assert_int_equal(queue_msg_write(m, "x\r\n", 3), 0);
	queue_msg_commit(m, &env, on_commit, id);
	assert_true(id[0]);
}

static bool held(struct queue *q, const char *id)
{
	struct queue_envelope env;
	assert_int_equal(queue_entry_load(q, id, &env), 0);
	bool h = env.hold_reason[0] != '\0';
	queue_envelope_free(&env);
	return h;
}

/* Each resume kind lifts its block and releases the mail held for exactly
 * that identity (a longer identity ending the same is another one). */
static void test_resume(void **state)
{
	struct fx *f = *state;
	char s1[QUEUE_ID_MAX] = "", s2[QUEUE_ID_MAX] = "", r1[QUEUE_ID_MAX] = "",
	     g1[QUEUE_ID_MAX] = "", o1[QUEUE_ID_MAX] = "";
	commit_held(f->q, "user:sam@corp.test", s1);
	commit_held(f->q, "user:sam@corp.test", s2);
	commit_held(f->q, "ip:10.0.0.5", r1);
	commit_held(f->q, "cidr:10.0.0.0/24", g1);
	commit_held(f->q, "user:xsam@corp.test", o1);
	expect(&f->s, "{\"type\": \"block\", \"identity\": \"sam@corp.test\"}", CTLAPI_OK, 200);
	expect(&f->s, "{\"type\": \"block\", \"identity\": \"10.0.0.5\"}", CTLAPI_OK, 200);
	/* the kind must fit the identity; a bad kind changes nothing */
	expect(&f->s,
	       "{\"type\": \"resume\", \"kind\": \"relay\", \"identity\": \"sam@corp.test\"}",
	       CTLAPI_BAD_REQUEST, 400);
	expect(&f->s, "{\"type\": \"resume\", \"kind\": \"all\", \"identity\": \"10.0.0.5\"}",
	       CTLAPI_BAD_REQUEST, 400);
	expect(&f->s, "{\"type\": \"resume\", \"kind\": \"sender\"}", CTLAPI_BAD_REQUEST, 400);
	assert_true(held(f->q, s1) && held(f->q, r1));

	int wakes = f->wakes;
	json_t *r = ask(&f->s, "{\"type\": \"resume\", \"kind\": \"relay\", \"identity\": "
	                       "\"10.0.0.5\", \"actor\": \"ops\", \"reason\": \"cleaned\"}");
	assert_string_equal(str(r, "identity"), "ip:10.0.0.5");
	assert_string_equal(str(r, "result"), "resumed");
	assert_int_equal(json_integer_value(json_object_get(r, "released")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(r, "ids"), 0)), r1);
	json_decref(r);
	assert_int_equal(f->wakes, wakes + 1);
	assert_false(held(f->q, r1));
	assert_true(held(f->q, s1) && held(f->q, s2) && held(f->q, g1) && held(f->q, o1));
	struct store_block b;
	assert_int_equal(f->st->block_get(f->st, "ip:10.0.0.5", &b), 0);
	assert_int_equal(f->st->block_get(f->st, "user:sam@corp.test", &b), 1);

	r = ask(&f->s, "{\"type\": \"resume\", \"kind\": \"sender\", \"identity\": "
	               "\"user:sam@corp.test\"}");
	assert_int_equal(json_integer_value(json_object_get(r, "released")), 2);
	json_decref(r);
	assert_false(held(f->q, s1) || held(f->q, s2));
	assert_true(held(f->q, g1) && held(f->q, o1));
	assert_int_equal(f->st->block_get(f->st, "user:sam@corp.test", &b), 0);

	/* no block: still releases what it held, and says so */
	r = ask(&f->s, "{\"type\": \"resume\", \"kind\": \"range\", \"identity\": "
	               "\"10.0.0.9/24\"}");
	assert_string_equal(str(r, "identity"), "cidr:10.0.0.0/24");
	assert_string_equal(str(r, "result"), "not blocked; counters reset");
	assert_int_equal(json_integer_value(json_object_get(r, "released")), 1);
	json_decref(r);
	assert_true(held(f->q, o1));
}

static void test_reload(void **state)
{
	struct fx *f = *state;
	expect(&f->s, "{\"type\": \"users_reload\"}", CTLAPI_OK, 200);
	expect(&f->s, "{\"type\": \"reload\"}", CTLAPI_OK, 200);
	assert_int_equal(f->reloads, 2);
	f->reload_fails = true;
	json_t *r = ask(&f->s, "{\"type\": \"reload\"}");
	assert_string_equal(str(r, "code"), "failed");
	assert_string_equal(str(r, "error"), "users file: no such file");
	json_decref(r);
}

/* counters: what the engine counted for an identity, any spelling of it. */
static void test_counters(void **state)
{
	struct fx *f = *state;
	json_t *r = ask(&f->s, "{\"type\": \"counters\", \"identity\": \"eve@corp.test\"}");
	assert_int_equal(ctlapi_reply_code(r), CTLAPI_OK);
	assert_true(json_is_false(json_object_get(r, "found")));
	json_decref(r);
	expect(&f->s, "{\"type\": \"counters\", \"identity\": \"\"}", CTLAPI_BAD_REQUEST, 400);
	expect(&f->s, "{\"type\": \"counters\"}", CTLAPI_BAD_REQUEST, 400);
	struct pol_event ev;
	struct pol_verdict v;
	for (int i = 0; i < 2; i++) {
		pol_event_init(&ev, POL_EV_MAIL, clock_realtime_ms());
		assert_int_equal(str_copy(ev.user, sizeof ev.user, "eve@corp.test"), 0);
		pol_event_add_rcpt(&ev, "a@example.net", POL_DLV_OK);
		pol_event_add_rcpt(&ev, "b@example.net", POL_DLV_OK);
		ev.size = 1000;
		assert_int_equal(pol_engine_evaluate(f->e, &ev, &v), 0);
	}
	r = ask(&f->s, "{\"type\": \"counters\", \"identity\": \"user:eve@corp.test\"}");
	assert_int_equal(ctlapi_reply_code(r), CTLAPI_OK);
	assert_true(json_is_true(json_object_get(r, "found")));
	assert_string_equal(str(r, "identity"), "user:eve@corp.test");
	assert_int_equal(json_integer_value(json_object_get(r, "messages_today")), 2);
	json_t *lim = json_object_get(r, "limits");
	assert_int_equal((int)json_real_value(json_object_get(lim, "uniq_rcpt_hour")), 2);
	double rh = json_real_value(json_object_get(lim, "rcpt_hour"));
	assert_true(rh > 3.9 && rh <= 4.0);
	json_decref(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test_setup_teardown(test_envelope, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unavailable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_blocks_and_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_counters, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
