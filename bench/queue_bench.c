/*
 * queue_bench - messages per second into the durable queue, fsync on.
 *
 * SESSIONS concurrent "sessions" in one event loop, each committing a
 * 2 KB message and, when its callback says the message is durable (the
 * moment an SMTP server may answer 250), the next one, until N messages are
 * queued. Three runs in the same process, each in a fresh spool on the same
 * disk:
 *   group     the queue as shipped: the commits of a loop turn share one
 *             fdatasync (group commit)
 *   per-msg   the same code with batch_max = 1: one fdatasync per message
 *             (the naive way)
 *   files     a file per message the textbook way: temp file, write, fsync,
 *             rename, fsync the directory, one message at a time
 * Prints msgs/s and syncs for each; the last line is "speedup: X", group
 * over per-msg.
 *
 * usage: queue_bench DIR [N] [SESSIONS]   (default 4000 messages, 20 sessions)
 */
#include "core/clock.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/str.h"
#include "queue/queue.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BENCH_MSG 2048

struct bench {
	struct event_base *base;
	struct queue *q;
	struct queue_envelope env;
	struct queue_rcpt rcpt;
	char body[BENCH_MSG];
	unsigned started, done, want, failed;
};

static void bench_next(struct bench *b);

static void bench_on_commit(void *arg, int status, const char *id)
{
	struct bench *b = arg;
	b->done++;
	if (status != 0)
		b->failed++;
	if (b->started < b->want)
		bench_next(b);
	else if (b->done == b->want)
		event_base_loopbreak(b->base);
}

static void bench_next(struct bench *b)
{
	struct queue_msg *m = queue_msg_new(b->q);
	if (!m || queue_msg_write(m, b->body, sizeof b->body) < 0)
		fatal("queue_bench: cannot write a message");
	b->started++;
	queue_msg_commit(m, &b->env, bench_on_commit, b);
}

static double bench_now(void)
{
	clock_update();
	return (double)clock_monotonic_ms() / 1000.0;
}

static double bench_queue(const char *dir, unsigned n, unsigned sessions, unsigned batch_max,
                          unsigned long long *syncs)
{
	struct bench *b = calloc(1, sizeof *b);
	char err[256];
	if (!b)
		fatal("out of memory");
	for (size_t i = 0; i < sizeof b->body; i++)
		b->body[i] = (i % 78 == 77) ? '\n' : (char)('a' + i % 26);
	if (str_copy(b->rcpt.addr, sizeof b->rcpt.addr, "bob@example.net") != 0)
		panic("bench_queue: b->rcpt.addr does not fit");
	if (str_copy(b->env.sender, sizeof b->env.sender, "alice@corp.test") != 0)
		panic("bench_queue: b->env.sender does not fit");
	b->env.nrcpt = 1;
	b->env.rcpt = &b->rcpt;
	b->want = n;
	b->base = event_base_new();
	struct queue_opts o = {.fsync = true, .batch_max = batch_max};
	if (queue_open(&b->q, dir, b->base, &o, err, sizeof err) < 0)
		fatal("queue_bench: %s", err);
	double t0 = bench_now();
	for (unsigned i = 0; i < sessions && i < n; i++)
		bench_next(b);
	event_base_dispatch(b->base);
	double dt = bench_now() - t0;
	struct queue_stats st;
	queue_stats(b->q, &st);
	*syncs = (unsigned long long)st.syncs;
	if (b->failed || st.commits != n)
		fatal("queue_bench: %u failed, %llu committed", b->failed,
		      (unsigned long long)st.commits);
	queue_close(b->q);
	event_base_free(b->base);
	free(b);
	return n / dt;
}

static double bench_files(const char *dir, unsigned n, unsigned long long *syncs)
{
	char body[BENCH_MSG], p[600], err[256];
	memset(body, 'x', sizeof body);
	double t0 = bench_now();
	for (unsigned i = 0; i < n; i++) {
		if (str_format(p, sizeof p, "%s/msg%u", dir, i) < 0 ||
		    fsutil_write_atomic(p, body, sizeof body, 0600, err, sizeof err) < 0)
			fatal("queue_bench: %s", err);
	}
	*syncs = 2ULL * n;
	return n / (bench_now() - t0);
}

static int bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

#define BENCH_ROUNDS 3

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: queue_bench DIR [N] [SESSIONS]\n");
		return 2;
	}
	log_open("queue_bench", true, false, LOG_LEVEL_WARN);
	unsigned n = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 4000;
	unsigned sessions = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 20;
	if (n == 0 || sessions == 0)
		return 2;
	char d[600];
	double g[BENCH_ROUNDS], m[BENCH_ROUNDS];
	unsigned long long gs = 0, ms = 0, fs;
	printf("%u messages of %d bytes, %u concurrent sessions, fsync on; median of %d "
	       "alternating rounds\n",
	       n, BENCH_MSG, sessions, BENCH_ROUNDS);
	/* The disk is shared: alternate the two ways so both see the same load. */
	for (int r = 0; r < BENCH_ROUNDS; r++) {
		if (str_format(d, sizeof d, "%s/group%d", argv[1], r) < 0)
			return 2;
		g[r] = bench_queue(d, n, sessions, 0, &gs);
		if (str_format(d, sizeof d, "%s/per-msg%d", argv[1], r) < 0)
			return 2;
		m[r] = bench_queue(d, n, sessions, 1, &ms);
		printf("round %d: group %.0f msgs/s, per-msg %.0f msgs/s\n", r + 1, g[r], m[r]);
	}
	qsort(g, BENCH_ROUNDS, sizeof g[0], bench_cmp);
	qsort(m, BENCH_ROUNDS, sizeof m[0], bench_cmp);
	double r1 = g[BENCH_ROUNDS / 2], r2 = m[BENCH_ROUNDS / 2];
	printf("group    %8.0f msgs/s  %6llu syncs per run (%.1f messages per sync)\n", r1, gs,
	       (double)n / (double)gs);
	printf("per-msg  %8.0f msgs/s  %6llu syncs per run (one fdatasync per message)\n", r2, ms);
	unsigned nf = n / 4 ? n / 4 : 1;
	if (str_format(d, sizeof d, "%s/files", argv[1]) < 0 || mkdir(d, 0700) < 0)
		fatal("queue_bench: %s: cannot create", d);
	double r3 = bench_files(d, nf, &fs);
	printf("files    %8.0f msgs/s  %6llu syncs for %u messages (temp, fsync, rename, fsync dir "
	       "each)\n",
	       r3, fs, nf);
	printf("speedup: %.1f\n", r1 / r2);
	return 0;
}
