/*
 * pfhold, pfqueue and spawn: Postfix's hold queue in policy-only mode. The
 * postqueue -j parser takes what is a message and counts what is not; spawn
 * collects output, reports exit status and kills what runs too long; the
 * record store learns a queue ID from a later request of the instance or by
 * matching the held message, lists only the policy's holds, and releases
 * through postsuper -H and postqueue -i (stand-ins: sh scripts that print a
 * queue and write down their arguments).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "admin/pfhold.h"
#include "admin/pfqueue.h"
#include "core/clock.h"
#include "core/spawn.h"
#include "core/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int collect(void *arg, const struct pfqueue_msg *m)
{
	json_t *arr = arg;
	json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:s, s:i, s:i}", "name",
	                                     m->queue_name, "id", m->queue_id, "at",
	                                     (json_int_t)m->arrival_time, "sender", m->sender,
	                                     "nrcpt", (int)m->nrcpt, "kept", (int)m->nkept));
	return 0;
}

static void test_pfqueue_parse(void **state)
{
	(void)state;
	const char *in =
	    "{\"queue_name\": \"hold\", \"queue_id\": \"4F2A51C0A3B\", \"arrival_time\": "
	    "1528136456, "
	    "\"message_size\": 1234, \"forced_expire\": false, \"sender\": \"a@corp.test\", "
	    "\"recipients\": [{\"address\": \"b@example.net\"}, {\"address\": \"c@example.net\", "
	    "\"delay_reason\": \"x\"}]}\n"
	    "not json\n"
	    "{\"queue_name\": \"active\", \"queue_id\": \"../etc\"}\n"
	    "{\"queue_name\": \"deferred\", \"queue_id\": \"4bNqJx2rG9z1Hk\", \"sender\": \"\"}\r\n"
	    "{\"queue_name\": \"hold\", \"queue_id\": \"ABCDEF12\", \"recipients\": 7}";
	json_t *arr = json_array();
	size_t bad = 0;
	assert_int_equal(pfqueue_parse(in, strlen(in), collect, arr, &bad), 0);
	assert_int_equal(bad, 3);
	assert_int_equal(json_array_size(arr), 2);
	json_t *m = json_array_get(arr, 0);
	assert_string_equal(json_string_value(json_object_get(m, "name")), "hold");
	assert_string_equal(json_string_value(json_object_get(m, "id")), "4F2A51C0A3B");
	assert_int_equal(json_integer_value(json_object_get(m, "at")), 1528136456);
	assert_int_equal(json_integer_value(json_object_get(m, "nrcpt")), 2);
	m = json_array_get(arr, 1);
	assert_string_equal(json_string_value(json_object_get(m, "id")), "4bNqJx2rG9z1Hk");
	assert_string_equal(json_string_value(json_object_get(m, "sender")), "");
	json_decref(arr);
	assert_true(pfqueue_id_ok("4F2A51C0A3B"));
	assert_false(pfqueue_id_ok("4F2A5"));
	assert_false(pfqueue_id_ok("-d ALL"));
	assert_false(pfqueue_id_ok("4F2A51C0A3B;"));
}

static void test_spawn(void **state)
{
	(void)state;
	char err[300], etext[100];
	struct buf out;
	buf_init(&out, 1024);
	char *echo[] = {"/bin/echo", "hello", NULL};
	assert_int_equal(spawn_run(echo, &out, etext, sizeof etext, 5000, err, sizeof err), 0);
	assert_string_equal(buf_cstr(&out), "hello\n");
	buf_reset(&out);
	char *fail[] = {"/bin/sh", "-c", "echo nope >&2; exit 3", NULL};
	assert_int_equal(spawn_run(fail, &out, etext, sizeof etext, 5000, err, sizeof err), -1);
	assert_non_null(strstr(err, "status 3: nope"));
	char *slow[] = {"/bin/sleep", "10", NULL};
	assert_int_equal(spawn_run(slow, &out, NULL, 0, 200, err, sizeof err), -1);
	assert_non_null(strstr(err, "200 ms"));
	char *none[] = {"/nonexistent/postqueue", NULL};
	assert_int_equal(spawn_run(none, &out, NULL, 0, 1000, err, sizeof err), -1);
	buf_free(&out);
	char cmd[] = "/usr/bin/sudo  -n\t/usr/sbin/postsuper";
	char *argv[4];
	assert_int_equal(spawn_split(cmd, argv, 4), 3);
	assert_string_equal(argv[2], "/usr/sbin/postsuper");
	assert_null(argv[3]);
}

static char dir[64];

static void write_file(const char *name, const char *text)
{
	char p[128];
	assert_int_equal(str_format(p, sizeof p, "%s/%s", dir, name), 0);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *read_file(const char *name)
{
	char p[128];
	static char text[4096];
	assert_int_equal(str_format(p, sizeof p, "%s/%s", dir, name), 0);
	FILE *f = fopen(p, "r");
	if (!f)
		return NULL;
	size_t n = fread(text, 1, sizeof text - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

static struct pfhold_rec rec(const char *qid, const char *instance, const char *rcpt, int64_t t)
{
	struct pfhold_rec r;
	memset(&r, 0, sizeof r);
	assert_int_equal(str_copy(r.queue_id, sizeof r.queue_id, qid), 0);
	assert_int_equal(str_copy(r.instance, sizeof r.instance, instance), 0);
	assert_int_equal(str_copy(r.sender, sizeof r.sender, "spray@corp.test"), 0);
	assert_int_equal(str_copy(r.rcpt[0], sizeof r.rcpt[0], rcpt), 0);
	r.nrcpt = 1;
	assert_int_equal(str_copy(r.identity, sizeof r.identity, "user:spray@corp.test"), 0);
	assert_int_equal(str_copy(r.rule, sizeof r.rule, "compromise"), 0);
	r.time_ms = t;
	return r;
}

/* The configuration of a store in dir, Postfix's programs the script pf.sh. */
static void conf_in_dir(struct pfhold_conf *pc)
{
	memset(pc, 0, sizeof *pc);
	pc->timeout_ms = 5000;
	assert_int_equal(
	    str_format(pc->postqueue, sizeof pc->postqueue, "/bin/sh %s/pf.sh postqueue", dir), 0);
	assert_int_equal(
	    str_format(pc->postsuper, sizeof pc->postsuper, "/bin/sh %s/pf.sh postsuper", dir), 0);
	assert_int_equal(str_format(pc->store_path, sizeof pc->store_path, "%s/holds.json", dir),
	                 0);
	assert_int_equal(str_format(pc->audit_path, sizeof pc->audit_path, "%s/audit.log", dir), 0);
}

/* The listing's holds are the queue IDs ids, in that order. */
static void assert_holds(struct pfhold *p, int64_t now, const char *const *ids, size_t n)
{
	char err[400];
	json_t *doc = pfhold_list(p, now, err, sizeof err);
	assert_non_null(doc);
	json_t *holds = json_object_get(doc, "holds");
	assert_int_equal(json_array_size(holds), n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(
		    json_string_value(json_object_get(json_array_get(holds, i), "id")), ids[i]);
	json_decref(doc);
}

static void remove_dir(const char *const *files, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char path[128];
		assert_int_equal(str_format(path, sizeof path, "%s/%s", dir, files[i]), 0);
		unlink(path);
	}
	rmdir(dir);
}

static void test_pfhold(void **state)
{
	(void)state;
	assert_int_equal(str_copy(dir, sizeof dir, "/tmp/rg-pfhold-XXXXXX"), 0);
	assert_non_null(mkdtemp(dir));
	int64_t now = 1800000000000LL; /* the queue's arrival_time below, in ms */
	/* Postfix's queue: two held messages of the policy's, one held by someone else,
	 * one being delivered */
	char q[1024];
	assert_int_equal(
	    str_format(
	        q, sizeof q,
	        "{\"queue_name\":\"hold\",\"queue_id\":\"AAAA11111\",\"arrival_time\":%lld,"
	        "\"sender\":\"spray@corp.test\",\"recipients\":[{\"address\":\"a@x.test\"}]}\n"
	        "{\"queue_name\":\"hold\",\"queue_id\":\"BBBB22222\",\"arrival_time\":%lld,"
	        "\"sender\":\"spray@corp.test\",\"recipients\":[{\"address\":\"b@x.test\"}]}\n"
	        "{\"queue_name\":\"hold\",\"queue_id\":\"CCCC33333\",\"arrival_time\":%lld,"
	        "\"sender\":\"other@corp.test\",\"recipients\":[{\"address\":\"c@x.test\"}]}\n"
	        "{\"queue_name\":\"active\",\"queue_id\":\"DDDD44444\",\"arrival_time\":%lld,"
	        "\"sender\":\"spray@corp.test\",\"recipients\":[{\"address\":\"d@x.test\"}]}\n",
	        (long long)(now / 1000), (long long)(now / 1000), (long long)(now / 1000),
	        (long long)(now / 1000)),
	    0);
	write_file("queue.json", q);
	char script[600];
	assert_int_equal(str_format(script, sizeof script,
	                            "echo \"$*\" >> %s/args\n"
	                            "case \"$*\" in *-j*) cat %s/queue.json;; esac\n",
	                            dir, dir),
	                 0);
	write_file("pf.sh", script);
	struct pfhold_conf pc;
	conf_in_dir(&pc);
	assert_int_equal(str_copy(pc.config_dir, sizeof pc.config_dir, "/etc/postfix-out"), 0);
	char err[400];
	struct pfhold *p = pfhold_open(&pc, err, sizeof err);
	assert_non_null(p);
	/* HOLD at the first RCPT: no queue ID; the next request of the instance has it */
	struct pfhold_rec r = rec("", "inst.1", "a@x.test", now);
	pfhold_note(p, &r, true);
	r = rec("AAAA11111", "inst.1", "a@x.test", now);
	pfhold_note(p, &r, false);
	/* HOLD that never learns its queue ID: matched by sender, recipient, time */
	r = rec("", "inst.2", "b@x.test", now + 1000);
	pfhold_note(p, &r, true);
	/* a record whose message left the hold queue (DDDD44444 is active) */
	r = rec("DDDD44444", "inst.4", "d@x.test", now);
	pfhold_note(p, &r, true);
	/* a request that was not held and has no record: nothing */
	r = rec("EEEE55555", "inst.5", "e@x.test", now);
	pfhold_note(p, &r, false);
	assert_int_equal(pfhold_count(p), 3);

	const char *const both[] = {"AAAA11111", "BBBB22222"};
	assert_holds(p, now + 5000, both, 2);
	json_t *doc = pfhold_list(p, now + 5000, err, sizeof err);
	assert_non_null(doc);
	json_t *holds = json_object_get(doc, "holds");
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(holds, 1), "identity")),
	    "user:spray@corp.test");
	json_decref(doc);
	assert_int_equal(pfhold_count(p), 2); /* DDDD44444's record dropped */
	assert_non_null(strstr(read_file("args"), "postqueue -c /etc/postfix-out -j"));

	/* not ours, not a queue ID, then a release */
	assert_int_equal(pfhold_change(p, true, "CCCC33333", "ops", "x", now, err, sizeof err),
	                 PFHOLD_NOT_OURS);
	assert_int_equal(pfhold_change(p, true, "-d ALL", "ops", "x", now, err, sizeof err),
	                 PFHOLD_BAD_ID);
	assert_int_equal(
	    pfhold_change(p, true, "AAAA11111", "ops", "checked", now, err, sizeof err),
	    PFHOLD_DONE);
	const char *args = read_file("args");
	assert_non_null(strstr(args, "postsuper -c /etc/postfix-out -H AAAA11111\n"));
	assert_non_null(strstr(args, "postqueue -c /etc/postfix-out -i AAAA11111\n"));
	assert_non_null(
	    strstr(read_file("audit.log"), "\"action\":\"release\",\"id\":\"AAAA11111\""));
	assert_int_equal(pfhold_count(p), 1);
	pfhold_free(p);

	/* the records are state: BBBB22222 learned its queue ID and is still there */
	p = pfhold_open(&pc, err, sizeof err);
	assert_non_null(p);
	assert_int_equal(pfhold_count(p), 1);
	assert_non_null(strstr(read_file("holds.json"), "BBBB22222"));
	/* postsuper failing is a failure, and the record stays */
	assert_int_equal(str_copy(pc.postsuper, sizeof pc.postsuper, "/bin/false"), 0);
	pfhold_free(p);
	p = pfhold_open(&pc, err, sizeof err);
	assert_int_equal(pfhold_change(p, false, "BBBB22222", "ops", "x", now, err, sizeof err),
	                 PFHOLD_FAILED);
	assert_int_equal(pfhold_count(p), 1);
	pfhold_free(p);
	const char *const files[] = {"queue.json", "pf.sh", "args", "holds.json", "audit.log"};
	remove_dir(files, sizeof files / sizeof files[0]);
}

/* A record in the store file with a time before the epoch (a damaged or
 * edited file) is not understood and skipped: the old code kept it and, waiting
 * for its queue ID, subtracted it from the queue's arrival time (signed
 * overflow under UBSan). */
static void test_pfhold_damaged_time(void **state)
{
	(void)state;
	assert_int_equal(str_copy(dir, sizeof dir, "/tmp/rg-pfhold-XXXXXX"), 0);
	assert_non_null(mkdtemp(dir));
	int64_t now = 1800000000000LL;
	char q[400];
	assert_int_equal(
	    str_format(
	        q, sizeof q,
	        "{\"queue_name\":\"hold\",\"queue_id\":\"AAAA11111\",\"arrival_time\":%lld,"
	        "\"sender\":\"spray@corp.test\",\"recipients\":[{\"address\":\"a@x.test\"}]}\n",
	        (long long)(now / 1000)),
	    0);
	write_file("queue.json", q);
	char script[300];
	assert_int_equal(str_format(script, sizeof script,
	                            "case \"$*\" in *-j*) cat %s/queue.json;; esac\n", dir),
	                 0);
	write_file("pf.sh", script);
	/* two records waiting for their queue ID: one sound, one from before the epoch */
	write_file("holds.json",
	           "{\"holds\": ["
	           "{\"queue_id\": \"\", \"instance\": \"inst.1\", \"sender\": "
	           "\"spray@corp.test\", \"recipients\": [\"a@x.test\"], \"time_ms\": "
	           "1800000000000},"
	           "{\"queue_id\": \"\", \"instance\": \"inst.2\", \"sender\": "
	           "\"spray@corp.test\", \"recipients\": [\"a@x.test\"], \"time_ms\": "
	           "-9223372036854775807}]}\n");
	struct pfhold_conf pc;
	conf_in_dir(&pc);
	char err[400];
	struct pfhold *p = pfhold_open(&pc, err, sizeof err);
	assert_non_null(p);
	assert_int_equal(pfhold_count(p), 1); /* the damaged one skipped */
	const char *const ids[] = {"AAAA11111"};
	assert_holds(p, now + 5000, ids, 1);
	pfhold_free(p);
	const char *const files[] = {"queue.json", "pf.sh", "holds.json", "audit.log"};
	remove_dir(files, sizeof files / sizeof files[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pfqueue_parse),
	    cmocka_unit_test(test_spawn),
	    cmocka_unit_test(test_pfhold),
	    cmocka_unit_test(test_pfhold_damaged_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
