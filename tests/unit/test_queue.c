/*
 * Unit tests for src/queue: commit, load, content, put, done; group commit
 * (many commits in one loop turn share one sync); hold, release, delete and
 * their audit records; one writer (a shared opener only reads); flush;
 * recovery with planted torn records, debris and corrupt envelopes; the
 * envelope text format; queue IDs unique and sortable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/log.h"
#include "queue/qenv.h"
#include "queue/qseg.h"
#include "queue/queue.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct fixture {
	char dir[64];
};

static uint64_t test_now = 1800000000000ULL;
static uint64_t test_clock(void)
{
	return test_now;
}

static const struct queue_opts test_opts = {.fsync = false, .now_ms = test_clock};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	if (!f)
		return -1;
	snprintf(f->dir, sizeof f->dir, "/tmp/rg-queue-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	log_set_level(LOG_LEVEL_ERROR + 0);
	*state = f;
	return 0;
}

static int rm_tree(const char *p)
{
	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
	return system(cmd);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	(void)rm_tree(f->dir);
	free(f);
	return 0;
}

static struct queue_rcpt test_rcpts[2];

static void test_env(struct queue_envelope *env, const char *hold)
{
	memset(env, 0, sizeof *env);
	memset(test_rcpts, 0, sizeof test_rcpts);
	snprintf(env->sender, sizeof env->sender, "alice@corp.test");
	snprintf(env->client_ip, sizeof env->client_ip, "192.0.2.7");
	snprintf(env->protocol, sizeof env->protocol, "ESMTPSA");
	snprintf(env->auth_user, sizeof env->auth_user, "alice");
	snprintf(env->hold_reason, sizeof env->hold_reason, "%s", hold ? hold : "");
	env->sender_verified = true;
	snprintf(test_rcpts[0].addr, sizeof test_rcpts[0].addr, "bob@example.net");
	snprintf(test_rcpts[1].addr, sizeof test_rcpts[1].addr, "carol@example.org");
	test_rcpts[1].notify = QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY;
	env->nrcpt = 2;
	env->rcpt = test_rcpts;
}

struct result {
	int calls, status;
	char id[QUEUE_ID_MAX];
};

static void on_commit(void *arg, int status, const char *id)
{
	struct result *r = arg;
	r->calls++;
	r->status = status;
	snprintf(r->id, sizeof r->id, "%s", id);
}

/* Commits one message synchronously (no loop); returns its ID in id. */
static void commit_one(struct queue *q, const char *body, const char *hold, char *id)
{
	struct queue_envelope env;
	struct result r = {0};
	test_env(&env, hold);
	struct queue_msg *m = queue_msg_new(q);
	assert_non_null(m);
	assert_int_equal(queue_msg_write(m, body, strlen(body)), 0);
	queue_msg_commit(m, &env, on_commit, &r);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, 0);
	snprintf(id, QUEUE_ID_MAX, "%s", r.id);
}

static void read_content(struct queue *q, const char *id, char *out, size_t size)
{
	int fd = queue_entry_open_content(q, id);
	assert_true(fd >= 0);
	ssize_t n = read(fd, out, size - 1);
	assert_true(n >= 0);
	out[n] = '\0';
	close(fd);
}

static void test_commit_sync(void **state)
{
	struct fixture *f = *state;
	struct queue *q;
	char err[256], id[QUEUE_ID_MAX], body[64];
	assert_int_equal(queue_open(&q, f->dir, NULL, &test_opts, err, sizeof err), 0);
	commit_one(q, "Subject: hi\r\n\r\nhello\r\n", NULL, id);
	assert_int_equal(strlen(id), 16);

	struct queue_envelope env;
	assert_int_equal(queue_entry_load(q, id, &env), 0);
	assert_string_equal(env.id, id);
	assert_string_equal(env.sender, "alice@corp.test");
	assert_int_equal(env.nrcpt, 2);
	assert_string_equal(env.rcpt[1].addr, "carol@example.org");
	assert_int_equal(env.rcpt[1].notify, QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY);
	assert_int_equal(env.size, 22);
	assert_int_equal(env.arrival_ms, test_now);
	assert_true(env.sender_verified);
	queue_envelope_free(&env);
	read_content(q, id, body, sizeof body);
	assert_string_equal(body, "Subject: hi\r\n\r\nhello\r\n");

	struct queue_stats st;
	queue_stats(q, &st);
	assert_int_equal(st.active, 1);
	assert_int_equal(st.held, 0);
	assert_int_equal(st.bytes, 22);
	assert_int_equal(st.commits, 1);
	queue_close(q);

	/* Reopened: the same entry. */
	assert_int_equal(queue_open(&q, f->dir, NULL, &test_opts, err, sizeof err), 0);
	read_content(q, id, body, sizeof body);
	assert_string_equal(body, "Subject: hi\r\n\r\nhello\r\n");
	queue_stats(q, &st);
	assert_int_equal(st.active, 1);
	queue_close(q);
}

static void test_abort_and_bad_commit(void **state)
{
	struct fixture *f = *state;
	struct queue *q;
	char err[256];
	assert_int_equal(queue_open(&q, f->dir, NULL, &test_opts, err, sizeof err), 0);
	struct queue_msg *m = queue_msg_new(q);
	assert_int_equal(queue_msg_write(m, "x", 1), 0);
	queue_msg_abort(m);

	/* No recipients: refused, nothing queued. */
	struct queue_envelope env;
	struct result r = {0};
	test_env(&env, NULL);
	env.nrcpt = 0;
	m = queue_msg_new(q);
	queue_msg_commit(m, &env, on_commit, &r);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, -1);
	struct queue_stats st;
	queue_stats(q, &st);
	assert_int_equal(st.active, 0);
	queue_close(q);
}

static void test_large_message(void **state)
{
	struct fixture *f = *state;
	struct queue *q;
	char err[256];
	assert_int_equal(queue_open(&q, f->dir, NULL, &test_opts, err, sizeof err), 0);
	size_t total = 3 * 1024 * 1024 + 17;
	char *big = malloc(total);
	assert_non_null(big);
	for (size_t i = 0; i < total; i++)
		big[i] = (char)('a' + i % 26);
	struct queue_msg *m = queue_msg_new(q);
	for (size_t off = 0; off < total; off += 100000) {
		size_t n = total - off < 100000 ? total - off : 100000;
		assert_int_equal(queue_msg_write(m, big + off, n), 0);
	}
	struct queue_envelope env;
	struct result r = {0};
	test_env(&env, NULL);
	queue_msg_commit(m, &env, on_commit, &r);
	assert_int_equal(r.status, 0);
	queue_close(q);
	assert_int_equal(queue_open(&q, f->dir, NULL, &test_opts, err, sizeof err), 0);
	int fd = queue_entry_open_content(q, r.id);
	assert_true(fd >= 0);
	char *back = malloc(total + 1);
	size_t got = 0;
	ssize_t k;
	while ((k = read(fd, back + got, total + 1 - got)) > 0)
		got += (size_t)k;
	close(fd);
	assert_int_equal(got, total);
	assert_memory_equal(back, big, total);
	free(back);
	free(big);
	queue_close(q);
}

/* queue_msg_prepend(): the prefix goes before the content, in memory and
 * spilled, and counts in the size; reopened, the entry is the same bytes. */
static void test_prepend(void **state)
{
	struct fixture *f = *state;
	struct queue *q;
	char err[256];
	assert_int_equal(queue_open(&q, f->dir, NULL, &test_opts, err, sizeof err), 0);
	const size_t sizes[] = {22, 3 * 1024 * 1024 + 5}; /* in memory, spilled */
	char ids[2][QUEUE_ID_MAX];
	char *want[2];
	for (int t = 0; t < 2; t++) {
		size_t n = sizes[t];
		char *body = malloc(n);
		assert_non_null(body);
		for (size_t i = 0; i < n; i++)
			body[i] = (char)('a' + i % 26);
		struct queue_msg *m = queue_msg_new(q);
		for (size_t off = 0; off < n; off += 65536)
			assert_int_equal(
			    queue_msg_write(m, body + off, n - off < 65536 ? n - off : 65536), 0);
		assert_int_equal(queue_msg_prepend(m, "B: 2\r\n", 6), 0);
		assert_int_equal(queue_msg_prepend(m, "A: 1\r\n", 6), 0); /* in front of B */
		struct queue_envelope env;
		struct result r = {0};
		test_env(&env, NULL);
		queue_msg_commit(m, &env, on_commit, &r);
		assert_int_equal(r.status, 0);
		snprintf(ids[t], sizeof ids[t], "%s", r.id);
		want[t] = malloc(n + 12);
		memcpy(want[t], "A: 1\r\nB: 2\r\n", 12);
		memcpy(want[t] + 12, body, n);
		free(body);
	}
	struct queue_msg *m = queue_msg_new(q); /* past the cap: refused */
	char *huge = calloc(1, QUEUE_PREPEND_MAX + 1);
	assert_int_equal(queue_msg_prepend(m, huge, QUEUE_PREPEND_MAX + 1), -1);
	free(huge);
	queue_msg_abort(m);
	queue_close(q);
	assert_int_equal(queue_open(&q, f->dir, NULL, &test_opts, err, sizeof err), 0);
	for (int t = 0; t < 2; t++) {
		size_t total = sizes[t] + 12;
		struct queue_envelope env;
		assert_int_equal(queue_entry_load(q, ids[t], &env), 0);
		assert_int_equal(env.size, total);
		queue_envelope_free(&env);
		int fd = queue_entry_open_content(q, ids[t]);
		assert_true(fd >= 0);
		char *back = malloc(total + 1);
		size_t got = 0;
		ssize_t k;
		while ((k = read(fd, back + got, total + 1 - got)) > 0)
			got += (size_t)k;
		close(fd);
		assert_int_equal(got, total);
		assert_memory_equal(back, want[t], total);
		free(back);
		free(want[t]);
	}
	queue_close(q);
}


/* queue_msg_read and queue_msg_prepend (the content scanner's X-Spam), in
 * memory and spilled to disk: the committed content is the header, then
 * every byte written before it. */
static void test_read_prepend(void **state)
{
	struct fixture *f = *state;
	struct queue *q;
	char err[256];
	assert_int_equal(queue_open(&q, f->dir, NULL, &test_opts, err, sizeof err), 0);
	static const size_t sizes[] = {10, 200 * 1024, 700 * 1024 + 3};
	static const char hdr[] = "X-Spam: Yes\r\n";
	size_t hl = sizeof hdr - 1;
	for (size_t t = 0; t < 3; t++) {
		size_t total = sizes[t];
		char *big = malloc(total), *back = malloc(total + hl + 1);
		assert_non_null(big);
		assert_non_null(back);
		for (size_t i = 0; i < total; i++)
			big[i] = (char)('a' + (i * 7) % 26);
		struct queue_msg *m = queue_msg_new(q);
		for (size_t off = 0; off < total; off += 65000)
			assert_int_equal(
			    queue_msg_write(m, big + off, total - off < 65000 ? total - off : 65000), 0);
		assert_int_equal(queue_msg_size(m), total);
		size_t got = 0;
		assert_int_equal(queue_msg_read(m, 0, back, total + 5, &got), 0);
		assert_int_equal(got, total);
		assert_memory_equal(back, big, total);
		assert_int_equal(queue_msg_read(m, total - 3, back, 10, &got), 0);
		assert_int_equal(got, 3);
		assert_int_equal(queue_msg_read(m, total + 1, back, 10, &got), -1);
		/* the prefix is kept apart: the content's size is unchanged */
		assert_int_equal(queue_msg_prepend(m, hdr, hl), 0);
		assert_int_equal(queue_msg_size(m), total);
		struct queue_envelope env;
		struct result r = {0};
		test_env(&env, NULL);
		queue_msg_commit(m, &env, on_commit, &r);
		assert_int_equal(r.status, 0);
		int fd = queue_entry_open_content(q, r.id);
		assert_true(fd >= 0);
		got = 0;
		ssize_t k;
		while ((k = read(fd, back + got, total + hl + 1 - got)) > 0)
			got += (size_t)k;
		close(fd);
		assert_int_equal(got, total + hl);
		assert_memory_equal(back, hdr, hl);
		assert_memory_equal(back + hl, big, total);
		free(back);
		free(big);
	}
	queue_close(q);
}

struct loop_test {
	struct event_base *base;
	struct queue *q;
	struct result r[50];
};

static void test_group_commit(void **state)
{
	struct fixture *f = *state;
	struct loop_test t = {0};
	char err[256];
	struct queue_opts o = {.fsync = true, .now_ms = test_clock};
	t.base = event_base_new();
	assert_int_equal(queue_open(&t.q, f->dir, t.base, &o, err, sizeof err), 0);
	/* 50 sessions finish DATA in the same loop turn. */
	struct queue_envelope env;
	test_env(&env, NULL);
	for (int i = 0; i < 50; i++) {
		struct queue_msg *m = queue_msg_new(t.q);
		char body[64];
		snprintf(body, sizeof body, "Subject: %d\r\n\r\nbody %d\r\n", i, i);
		assert_int_equal(queue_msg_write(m, body, strlen(body)), 0);
		queue_msg_commit(m, &env, on_commit, &t.r[i]);
		assert_int_equal(t.r[i].calls, 0); /* never before the sync */
	}
	while (t.r[49].calls == 0)
		assert_true(event_base_loop(t.base, EVLOOP_ONCE) >= 0);
	struct queue_stats st;
	queue_stats(t.q, &st);
	assert_int_equal(st.commits, 50);
	/* One fdatasync for the batch and one fsync of seg/ for the new segment. */
	assert_true(st.syncs <= 2);
	assert_int_equal(st.active, 50);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(t.r[i].calls, 1);
		assert_int_equal(t.r[i].status, 0);
		if (i)
			assert_true(strcmp(t.r[i - 1].id, t.r[i].id) < 0);
	}
	/* A second turn: one more sync, no new segment. */
	struct result r = {0};
	struct queue_msg *m = queue_msg_new(t.q);
	assert_int_equal(queue_msg_write(m, "x\r\n", 3), 0);
	queue_msg_commit(m, &env, on_commit, &r);
	while (r.calls == 0)
		assert_true(event_base_loop(t.base, EVLOOP_ONCE) >= 0);
	struct queue_stats st2;
	queue_stats(t.q, &st2);
	assert_int_equal(st2.syncs, st.syncs + 1);
	/* A commit still in flight at close gets its callback. */
	struct result last = {0};
	m = queue_msg_new(t.q);
	queue_msg_commit(m, &env, on_commit, &last);
	queue_close(t.q);
	assert_int_equal(last.calls, 1);
	assert_int_equal(last.status, 0);
	event_base_free(t.base);
	/* All 52 survive a reopen. */
	assert_int_equal(queue_open(&t.q, f->dir, NULL, &test_opts, err, sizeof err), 0);
	queue_stats(t.q, &st);
	assert_int_equal(st.active, 52);
	queue_close(t.q);
}

static void test_delivery(void **state)
{
	struct fixture *f = *state;
	struct queue *q;
	char err[256], a[QUEUE_ID_MAX], b[QUEUE_ID_MAX], id[QUEUE_ID_MAX];
	assert_int_equal(queue_open(&q, f->dir, NULL, &test_opts, err, sizeof err), 0);
	commit_one(q, "one\r\n", NULL, a);
	test_now += 5;
	commit_one(q, "two\r\n", NULL, b);
	assert_true(strcmp(a, b) < 0);

	assert_int_equal(queue_next_due(q, test_now, id), 1);
	assert_string_equal(id, a);
	assert_int_equal(queue_next_due(q, test_now, id), 1);
	assert_string_equal(id, b);
	assert_int_equal(queue_next_due(q, test_now, id), 0); /* both handed out */

	/* a: one recipient sent, the other deferred for a minute. */
	struct queue_envelope env;
	assert_int_equal(queue_entry_load(q, a, &env), 0);
	env.rcpt[0].status = QUEUE_RCPT_SENT;
	env.rcpt[1].attempts = 1;
	snprintf(env.rcpt[1].last_reply, sizeof env.rcpt[1].last_reply, "451 4.7.1 try later");
	env.attempts = 1;
	env.next_attempt_ms = test_now + 60000;
	assert_int_equal(queue_entry_put(q, &env), 0);
	queue_envelope_free(&env);
	assert_int_equal(queue_entry_done(q, b), 0);

	assert_int_equal(queue_next_due(q, test_now, id), 0);
	assert_int_equal(queue_next_due(q, test_now + 60000, id), 1);
	assert_string_equal(id, a);
	struct queue_stats st;
	queue_stats(q, &st);
	assert_int_equal(st.active, 1);
	assert_int_equal(st.deferred, 1);
	queue_close(q);

	/* After a restart the put survived and b stays done. */
	assert_int_equal(queue_open(&q, f->dir, NULL, &test_opts, err, sizeof err), 0);
	assert_int_equal(queue_entry_load(q, a, &env), 0);
	assert_int_equal(env.rcpt[0].status, QUEUE_RCPT_SENT);
	assert_string_equal(env.rcpt[1].last_reply, "451 4.7.1 try later");
	assert_int_equal(env.attempts, 1);
	queue_envelope_free(&env);
	assert_int_equal(queue_entry_load(q, b, &env), -1);
	assert_int_equal(queue_next_due(q, test_now, id), 0);
	assert_int_equal(queue_next_due(q, test_now + 60000, id), 1);
	assert_int_equal(queue_entry_done(q, a), 0);
	queue_stats(q, &st);
	assert_int_equal(st.active, 0);
	queue_close(q);
	/* Everything done: the segments and markers are collected. */
	assert_int_equal(queue_open(&q, f->dir, NULL, &test_opts, err, sizeof err), 0);
	queue_close(q);
	char p[128];
	snprintf(p, sizeof p, "%s/dead", f->dir);
	DIR *d = opendir(p);
	assert_non_null(d);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	assert_int_equal(n, 0);
}

static int count_lines(const char *path)
{
	FILE *fp = fopen(path, "r");
	int n = 0, c;
	if (!fp)
		return 0;
	while ((c = fgetc(fp)) != EOF)
		n += c == '\n';
	fclose(fp);
	return n;
}

struct listed {
	int n;
	char ids[8][QUEUE_ID_MAX];
};

static int on_list(void *arg, const struct queue_envelope *env)
{
	struct listed *l = arg;
	if (l->n < 8)
		snprintf(l->ids[l->n], QUEUE_ID_MAX, "%s", env->id);
	l->n++;
	return 0;
}

static void test_hold(void **state)
{
	struct fixture *f = *state;
	struct queue *q;
	char err[256], a[QUEUE_ID_MAX], b[QUEUE_ID_MAX], id[QUEUE_ID_MAX], audit[128];
	snprintf(audit, sizeof audit, "%s/audit.log", f->dir);
	assert_int_equal(queue_open(&q, f->dir, NULL, &test_opts, err, sizeof err), 0);
	commit_one(q, "held at commit\r\n", "null sender to 40 recipients", a);
	commit_one(q, "active\r\n", NULL, b);
	struct queue_stats st;
	queue_stats(q, &st);
	assert_int_equal(st.held, 1);
	assert_int_equal(st.active, 1);
	assert_int_equal(queue_next_due(q, test_now, id), 1);
	assert_string_equal(id, b); /* a is held: never handed out */
	assert_int_equal(queue_next_due(q, test_now, id), 0);
	struct queue_envelope env;
	assert_int_equal(queue_entry_load(q, b, &env), 0);
	assert_int_equal(queue_entry_put(q, &env), 0);
	queue_envelope_free(&env);

	assert_int_equal(queue_hold(q, b, "account sam blocked", "admin"), 0);
	assert_int_equal(queue_hold(q, b, "again", "admin"), -1);
	assert_non_null(strstr(queue_error(q), "already held"));
	assert_int_equal(queue_next_due(q, test_now, id), 0);

	struct listed l = {0};
	assert_int_equal(queue_list(q, true, on_list, &l), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.ids[0], a);
	assert_string_equal(l.ids[1], b);

	assert_int_equal(queue_release(q, a, "checked: a real bounce", "admin"), 0);
	assert_int_equal(queue_release(q, a, "", "admin"), -1);
	assert_non_null(strstr(queue_error(q), "not held"));
	assert_int_equal(queue_next_due(q, test_now, id), 1);
	assert_string_equal(id, a);
	assert_int_equal(queue_delete(q, b, "spam", "admin"), 0);
	assert_int_equal(queue_delete(q, b, "spam", "admin"), -1);
	assert_int_equal(queue_hold(q, "0123456789ABCDEF", "x", "admin"), -1);
	assert_int_equal(queue_hold(q, "../../etc/passwd", "x", "admin"), -1);
	queue_stats(q, &st);
	assert_int_equal(st.held, 0);
	assert_int_equal(st.active, 1);
	assert_int_equal(count_lines(audit), 3);
	queue_close(q);

	FILE *fp = fopen(audit, "r");
	char line[1024];
	assert_non_null(fgets(line, sizeof line, fp));
	assert_non_null(strstr(line, "\"action\":\"hold\""));
	assert_non_null(strstr(line, "\"actor\":\"admin\""));
	assert_non_null(strstr(line, "\"reason\":\"account sam blocked\""));
	assert_non_null(strstr(line, b));
	assert_non_null(strstr(line, "\"time\":\""));
	fclose(fp);

	/* State survives a restart: a released, b deleted. */
	assert_int_equal(queue_open(&q, f->dir, NULL, &test_opts, err, sizeof err), 0);
	queue_stats(q, &st);
	assert_int_equal(st.held, 0);
	assert_int_equal(st.active, 1);
	assert_int_equal(queue_entry_load(q, b, &env), -1);
	queue_close(q);
}

/* One writer: a second owner is refused; a shared opener (status) reads but
 * changes nothing, so the server never has to follow another process. */
static void test_one_writer(void **state)
{
	struct fixture *f = *state;
	struct queue *srv, *tool;
	char err[256], a[QUEUE_ID_MAX], id[QUEUE_ID_MAX];
	assert_int_equal(queue_open(&srv, f->dir, NULL, &test_opts, err, sizeof err), 0);
	commit_one(srv, "x\r\n", NULL, a);
	assert_int_equal(queue_open(&tool, f->dir, NULL, &test_opts, err, sizeof err), -1);
	assert_non_null(strstr(err, "in use"));
	struct queue_opts so = test_opts;
	so.shared = true;
	assert_int_equal(queue_open(&tool, f->dir, NULL, &so, err, sizeof err), 0);
	assert_null(queue_msg_new(tool));
	struct queue_envelope env;
	assert_int_equal(queue_entry_load(tool, a, &env), 0);
	queue_envelope_free(&env);
	assert_int_equal(queue_hold(tool, a, "looks like spam", "ops"), -1);
	assert_non_null(strstr(queue_error(tool), "another process owns the spool"));
	assert_int_equal(queue_release(tool, a, "", "ops"), -1);
	assert_int_equal(queue_delete(tool, a, "", "ops"), -1);
	assert_int_equal(queue_flush(tool, NULL, "ops"), -1);
	/* nothing changed on disk: the server still hands it out */
	assert_int_equal(queue_next_due(srv, test_now, id), 1);
	assert_string_equal(id, a);
	queue_close(tool);
	queue_close(srv);
}

/* flush: deferred entries become due now, durably, with an audit record;
 * held ones and unknown IDs are refused. */
static void test_flush(void **state)
{
	struct fixture *f = *state;
	struct queue *q;
	char err[256], a[QUEUE_ID_MAX], b[QUEUE_ID_MAX], h[QUEUE_ID_MAX], id[QUEUE_ID_MAX];
	assert_int_equal(queue_open(&q, f->dir, NULL, &test_opts, err, sizeof err), 0);
	commit_one(q, "a\r\n", NULL, a);
	commit_one(q, "b\r\n", NULL, b);
	commit_one(q, "h\r\n", "held for a person", h);
	for (int i = 0; i < 2; i++) {
		struct queue_envelope env;
		assert_int_equal(queue_next_due(q, test_now, id), 1);
		assert_int_equal(queue_entry_load(q, id, &env), 0);
		env.attempts = 1;
		env.next_attempt_ms = test_now + 3600000;
		assert_int_equal(queue_entry_put(q, &env), 0);
		queue_envelope_free(&env);
	}
	assert_int_equal(queue_next_due(q, test_now, id), 0);
	assert_int_equal(queue_flush(q, h, "ops"), -1);
	assert_non_null(strstr(queue_error(q), "held"));
	assert_int_equal(queue_flush(q, "0123456789ABCDEF", "ops"), -1);
	assert_non_null(strstr(queue_error(q), "no such entry"));
	assert_int_equal(queue_flush(q, "../x", "ops"), -1);
	assert_int_equal(queue_flush(q, a, "ops"), 1);
	assert_int_equal(queue_next_due(q, test_now, id), 1);
	assert_string_equal(id, a);
	assert_int_equal(queue_next_due(q, test_now, id), 0);
	assert_int_equal(queue_flush(q, NULL, "ops"), 1); /* b; a is handed out */
	queue_close(q);
	/* durable: after a restart both are due now */
	assert_int_equal(queue_open(&q, f->dir, NULL, &test_opts, err, sizeof err), 0);
	assert_int_equal(queue_next_due(q, test_now, id), 1);
	assert_int_equal(queue_next_due(q, test_now, id), 1);
	assert_int_equal(queue_next_due(q, test_now, id), 0);
	queue_close(q);
	char p[600], line[2048];
	snprintf(p, sizeof p, "%s/audit.log", f->dir);
	FILE *fp = fopen(p, "r");
	assert_non_null(fp);
	int flushes = 0;
	while (fgets(line, sizeof line, fp))
		flushes += strstr(line, "\"action\":\"flush\"") != NULL;
	fclose(fp);
	assert_int_equal(flushes, 2);
}

static void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

static void test_recovery(void **state)
{
	struct fixture *f = *state;
	struct queue *q;
	char err[256], a[QUEUE_ID_MAX], b[QUEUE_ID_MAX], seg[128], p[160];
	assert_int_equal(queue_open(&q, f->dir, NULL, &test_opts, err, sizeof err), 0);
	commit_one(q, "first\r\n", NULL, a);
	commit_one(q, "second\r\n", NULL, b);
	queue_close(q);
	snprintf(seg, sizeof seg, "%s/seg/00000001", f->dir);
	off_t full = file_size(seg);
	assert_true(full > 0);

	/* A crash in the middle of appending b: its record torn at every
	 * length; a stays, b goes, the tail is cut. */
	int fd = open(seg, O_RDONLY);
	char *all = malloc((size_t)full);
	assert_int_equal(read(fd, all, (size_t)full), full);
	close(fd);
	struct qseg_rec r;
	char id[QUEUE_ID_MAX];
	fd = open(seg, O_RDONLY);
	assert_int_equal(
	    qseg_read(fd, QSEG_MAGIC_LEN, (uint64_t)full, &r, id, sizeof id, NULL, err, sizeof err),
	    0);
	close(fd);
	off_t b_off = (off_t)(QSEG_MAGIC_LEN + qseg_rec_len(&r));
	for (off_t cut = b_off; cut < full; cut += 7) {
		write_file(seg, all, (size_t)cut);
		assert_int_equal(queue_open(&q, f->dir, NULL, &test_opts, err, sizeof err), 0);
		struct queue_stats st;
		queue_stats(q, &st);
		assert_int_equal(st.active, 1);
		struct queue_envelope env;
		assert_int_equal(queue_entry_load(q, a, &env), 0);
		queue_envelope_free(&env);
		assert_int_equal(queue_entry_load(q, b, &env), -1);
		queue_close(q);
		assert_true(file_size(seg) <= b_off);
	}
	/* A flipped byte in a's content: a is not mail any more; b (intact
	 * after it) is kept and the bad bytes copied to corrupt/. */
	all[b_off - 12] ^= 0x20;
	write_file(seg, all, (size_t)full);
	assert_int_equal(queue_open(&q, f->dir, NULL, &test_opts, err, sizeof err), 0);
	struct queue_envelope env;
	assert_int_equal(queue_entry_load(q, a, &env), -1);
	assert_int_equal(queue_entry_load(q, b, &env), 0);
	queue_envelope_free(&env);
	queue_close(q);
	free(all);
	snprintf(p, sizeof p, "%s/corrupt", f->dir);
	DIR *d = opendir(p);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	assert_true(n >= 1);

	/* Debris: an interrupted state update, an orphan marker, a scratch
	 * file, an empty segment; and a corrupt state envelope, which is
	 * quarantined while the entry falls back to its committed envelope. */
	snprintf(p, sizeof p, "%s/state/.%s.tmp.abcdef", f->dir, b);
	write_file(p, "rgq-envelope 1\nid", 17);
	snprintf(p, sizeof p, "%s/dead/0000000000000001", f->dir);
	write_file(p, "", 0);
	snprintf(p, sizeof p, "%s/tmp/spill.x", f->dir);
	write_file(p, "junk", 4);
	snprintf(p, sizeof p, "%s/seg/00000009", f->dir);
	write_file(p, "RGQ", 3);
	snprintf(p, sizeof p, "%s/state/%s", f->dir, b);
	write_file(p, "rgq-envelope 1\nid \\x0A\nend\n", 27);
	assert_int_equal(queue_open(&q, f->dir, NULL, &test_opts, err, sizeof err), 0);
	assert_int_equal(queue_entry_load(q, b, &env), 0);
	assert_string_equal(env.sender, "alice@corp.test");
	queue_envelope_free(&env);
	queue_close(q);
	assert_int_equal(access(p, F_OK), -1);
	snprintf(p, sizeof p, "%s/state/.%s.tmp.abcdef", f->dir, b);
	assert_int_equal(access(p, F_OK), -1);
	snprintf(p, sizeof p, "%s/dead/0000000000000001", f->dir);
	assert_int_equal(access(p, F_OK), -1);
	snprintf(p, sizeof p, "%s/tmp/spill.x", f->dir);
	assert_int_equal(access(p, F_OK), -1);
	snprintf(p, sizeof p, "%s/seg/00000009", f->dir);
	assert_int_equal(access(p, F_OK), -1);
}

static void test_envelope_format(void **state)
{
	struct queue_envelope env, back;
	char err[128];
	struct buf b;
	test_env(&env, "line\r\nbreak \\ and \x7f");
	snprintf(env.id, sizeof env.id, "0123456789ABCDEF");
	snprintf(env.client_helo, sizeof env.client_helo, "evil\nrcpt root@x");
	buf_init(&b, QENV_TEXT_MAX);
	assert_int_equal(qenv_format(&env, &b), 0);
	assert_null(strstr(b.data, "evil\n"));
	assert_int_equal(qenv_parse(b.data, b.len, &back, err, sizeof err), 0);
	assert_string_equal(back.hold_reason, env.hold_reason);
	assert_string_equal(back.client_helo, env.client_helo);
	assert_int_equal(back.nrcpt, 2);
	assert_int_equal(back.rcpt[1].notify, env.rcpt[1].notify);
	qenv_free(&back);

	static const char *const bad[] = {
	    "",
	    "rgq-envelope 2\nid A\nend\n",
	    "rgq-envelope 1\nid A\n",
	    "rgq-envelope 1\nid A\nend",
	    "rgq-envelope 1\nid A\nid B\nend\n",
	    "rgq-envelope 1\nid A\nbogus 1\nend\n",
	    "rgq-envelope 1\nid A\nr.notify 1\nend\n",
	    "rgq-envelope 1\nid A\nsize -1\nend\n",
	    "rgq-envelope 1\nid A\nsize 99999999999999999999\nend\n",
	    "rgq-envelope 1\nid A\nsender a\\x00b\nend\n",
	    "rgq-envelope 1\nid A\nsender a\\x4\nend\n",
	    "rgq-envelope 1\nid A\nsender a\\q\nend\n",
	    "rgq-envelope 1\nid A\nsender a\tb\nend\n",
	    "rgq-envelope 1\nid A\nsmtputf8 2\nend\n",
	    "rgq-envelope 1\nid A\nrcpt b@c\nr.status lost\nend\n",
	    "rgq-envelope 1\nid A\nrcpt \nend\n",
	    "rgq-envelope 1\nid A\nend\nid B\n",
	    "rgq-envelope 1\nid 01234567890123456789012345678901234567\nend\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(qenv_parse(bad[i], strlen(bad[i]), &back, err, sizeof err), -1);
		assert_true(err[0] != '\0');
		assert_null(back.rcpt);
	}
	/* Too many recipients. */
	buf_reset(&b);
	assert_int_equal(buf_append_str(&b, "rgq-envelope 1\nid A\n"), 0);
	for (int i = 0; i <= QUEUE_RCPT_MAX; i++)
		assert_int_equal(buf_printf(&b, "rcpt u%d@x\n", i), 0);
	assert_int_equal(buf_append_str(&b, "end\n"), 0);
	assert_int_equal(qenv_parse(b.data, b.len, &back, err, sizeof err), -1);
	assert_non_null(strstr(err, "too many"));
	buf_free(&b);
}

static void test_ids(void **state)
{
	struct fixture *f = *state;
	struct queue *q;
	char err[256], prev[QUEUE_ID_MAX] = "";
	assert_int_equal(queue_open(&q, f->dir, NULL, &test_opts, err, sizeof err), 0);
	/* Many in the same millisecond, then the clock going back: still
	 * unique and increasing. */
	for (int i = 0; i < 70000; i++) {
		if (i == 60000)
			test_now -= 1000;
		struct queue_msg *m = queue_msg_new(q);
		const char *id = queue_msg_id(m);
		assert_int_equal(strlen(id), 16);
		assert_true(strcmp(prev, id) < 0);
		snprintf(prev, sizeof prev, "%s", id);
		queue_msg_abort(m);
	}
	char a[QUEUE_ID_MAX];
	commit_one(q, "x\r\n", NULL, a);
	queue_close(q);
	/* After a restart with the clock behind: still after the last one. */
	test_now -= 5000;
	assert_int_equal(queue_open(&q, f->dir, NULL, &test_opts, err, sizeof err), 0);
	struct queue_msg *m = queue_msg_new(q);
	assert_true(strcmp(a, queue_msg_id(m)) < 0);
	queue_msg_abort(m);
	queue_close(q);
	test_now += 10000;
}

/* Disk full in the middle of a batch: the sessions get -1, nothing of the
 * batch stays, and the next commit goes to a fresh segment. RLIMIT_FSIZE
 * makes writes past a size fail (EFBIG) like a full disk. */
static void test_write_failure(void **state)
{
	struct fixture *f = *state;
	struct queue *q;
	char err[256], a[QUEUE_ID_MAX], b[QUEUE_ID_MAX], seg[128];
	assert_int_equal(queue_open(&q, f->dir, NULL, &test_opts, err, sizeof err), 0);
	commit_one(q, "before\r\n", NULL, a);
	snprintf(seg, sizeof seg, "%s/seg/00000001", f->dir);
	off_t size = file_size(seg);
	struct rlimit old, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)size + 100;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	struct queue_envelope env;
	struct result r = {0};
	test_env(&env, NULL);
	struct queue_msg *m = queue_msg_new(q);
	char body[4000];
	memset(body, 'q', sizeof body);
	assert_int_equal(queue_msg_write(m, body, sizeof body), 0);
	queue_msg_commit(m, &env, on_commit, &r);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, -1);
	assert_int_equal(file_size(seg), size); /* taken back */
	commit_one(q, "after\r\n", NULL, b);
	queue_close(q);
	assert_int_equal(queue_open(&q, f->dir, NULL, &test_opts, err, sizeof err), 0);
	struct queue_stats st;
	queue_stats(q, &st);
	assert_int_equal(st.active, 2);
	assert_int_equal(queue_entry_load(q, r.id, &env), -1);
	assert_int_equal(queue_entry_load(q, b, &env), 0);
	queue_envelope_free(&env);
	queue_close(q);
	snprintf(seg, sizeof seg, "%s/seg/00000002", f->dir);
	assert_true(file_size(seg) > 0);
}

/* fdatasync fails (the fsyncgate case): the batch is refused, taken back,
 * and the next batch goes to a fresh segment, not to a file whose dirty
 * pages the kernel may have dropped. */
static int failing_sync(int fd)
{
	(void)fd;
	errno = EIO;
	return -1;
}

static void test_sync_failure(void **state)
{
	struct fixture *f = *state;
	struct queue *q;
	char err[256], a[QUEUE_ID_MAX], seg[128];
	struct queue_opts o = {.fsync = true, .now_ms = test_clock};
	assert_int_equal(queue_open(&q, f->dir, NULL, &o, err, sizeof err), 0);
	commit_one(q, "kept\r\n", NULL, a);
	queue_close(q);
	o.datasync = failing_sync;
	assert_int_equal(queue_open(&q, f->dir, NULL, &o, err, sizeof err), 0);
	struct queue_envelope env;
	struct result r = {0};
	test_env(&env, NULL);
	struct queue_msg *m = queue_msg_new(q);
	assert_int_equal(queue_msg_write(m, "lost\r\n", 6), 0);
	queue_msg_commit(m, &env, on_commit, &r);
	assert_int_equal(r.status, -1);
	struct queue_stats st;
	queue_stats(q, &st);
	assert_int_equal(st.active, 1);
	assert_int_equal(st.commits, 0);
	queue_close(q);
	o.datasync = NULL;
	assert_int_equal(queue_open(&q, f->dir, NULL, &o, err, sizeof err), 0);
	queue_stats(q, &st);
	assert_int_equal(st.active, 1);
	assert_int_equal(queue_entry_load(q, r.id, &env), -1);
	queue_close(q);
	snprintf(seg, sizeof seg, "%s/seg/00000002", f->dir);
	assert_int_equal(file_size(seg), -1); /* taken back to its magic, then collected */
}

/* ---- kill -9 while committing ---- */

struct crash_child {
	struct event_base *base;
	struct queue *q;
	int ack_fd;
	struct queue_envelope env;
};

static void crash_next(struct crash_child *c);

static void crash_on_commit(void *arg, int status, const char *id)
{
	struct crash_child *c = arg;
	if (status == 0) {
		char line[QUEUE_ID_MAX + 1];
		int n = snprintf(line, sizeof line, "%s\n", id);
		if (write(c->ack_fd, line, (size_t)n) != n)
			_exit(3);
	}
	crash_next(c);
}

static void crash_next(struct crash_child *c)
{
	struct queue_msg *m = queue_msg_new(c->q);
	if (!m)
		_exit(4);
	/* The content names the ID, so the parent can check it. */
	char body[3000];
	int n = snprintf(body, sizeof body, "Subject: %s\r\n\r\n", queue_msg_id(m));
	memset(body + n, 'z', sizeof body - (size_t)n);
	for (int i = 0; i < 3; i++)
		if (queue_msg_write(m, body, sizeof body) < 0)
			_exit(5);
	queue_msg_commit(m, &c->env, crash_on_commit, c);
}

static void crash_child_run(const char *dir, int ack_fd)
{
	struct crash_child c = {.ack_fd = ack_fd};
	char err[256];
	struct queue_opts o = {.fsync = false, .seg_max = 200000};
	c.base = event_base_new();
	if (queue_open(&c.q, dir, c.base, &o, err, sizeof err) < 0)
		_exit(2);
	test_env(&c.env, NULL);
	for (int i = 0; i < 10; i++)
		crash_next(&c);
	event_base_dispatch(c.base);
	_exit(0);
}

static int crash_check_one(void *arg, const struct queue_envelope *env)
{
	struct queue *q = arg;
	char want[64], got[64];
	snprintf(want, sizeof want, "Subject: %s\r\n", env->id);
	int fd = queue_entry_open_content(q, env->id);
	assert_true(fd >= 0);
	ssize_t n = read(fd, got, strlen(want));
	close(fd);
	assert_int_equal(n, (ssize_t)strlen(want));
	assert_memory_equal(got, want, strlen(want));
	assert_int_equal(env->size, 9000);
	return 0;
}

static void test_kill9(void **state)
{
	struct fixture *f = *state;
	char err[256];
	size_t acked_total = 0;
	for (int round = 0; round < 6; round++) {
		int p[2];
		assert_int_equal(pipe(p), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			crash_child_run(f->dir, p[1]);
		}
		close(p[1]);
		usleep(30000 + 25000 * (useconds_t)round);
		kill(pid, SIGKILL);
		int st;
		waitpid(pid, &st, 0);
		assert_true(WIFSIGNALED(st));
		/* Every ID the child was told is durable. */
		FILE *fp = fdopen(p[0], "r");
		char line[64];
		struct queue *q;
		assert_int_equal(queue_open(&q, f->dir, NULL, &test_opts, err, sizeof err), 0);
		size_t acked = 0;
		while (fgets(line, sizeof line, fp)) {
			line[strcspn(line, "\n")] = '\0';
			struct queue_envelope env;
			assert_int_equal(queue_entry_load(q, line, &env), 0);
			queue_envelope_free(&env);
			acked++;
		}
		fclose(fp);
		/* Nothing half-queued: every entry there is complete. */
		assert_int_equal(queue_list(q, false, crash_check_one, q), 0);
		struct queue_stats qs;
		queue_stats(q, &qs);
		assert_true(qs.active >= acked_total + acked);
		acked_total = qs.active;
		queue_close(q);
	}
	assert_true(acked_total > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_commit_sync, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_abort_and_bad_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_large_message, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_prepend, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prepend, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delivery, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_one_writer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flush, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recovery, setup, teardown),
	    cmocka_unit_test(test_envelope_format),
	    cmocka_unit_test_setup_teardown(test_ids, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kill9, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_failure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sync_failure, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
