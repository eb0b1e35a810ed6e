/*
 * Unit tests for src/core/workq: jobs run in order and come back on the
 * loop's thread, batches of at most batch_max, the bound on jobs out,
 * cancelling a queued and a running job, fire-and-forget without a loop,
 * free with drain (every job back through done) and without (the rest
 * dropped), and several workers (ASan sees leaks and use after free).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/workq.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NJOBS 200

struct job {
	struct workq_job wq;
	int n;
	bool ran, back;
	unsigned batch; /* the size of the batch it ran in */
	pthread_t runner;
};

struct fix {
	struct event_base *base;
	pthread_t loop_thread;
	pthread_mutex_t gate_lock; /* a running batch waits while gate is closed */
	pthread_cond_t gate_cv;
	bool gate_closed, entered;
	int order[NJOBS * 2];
	atomic_int ran_order_n;
	int ran_order[NJOBS * 2];
	int nback, ndropped;
	unsigned max_batch;
	atomic_int running, most_running;
	bool bad_thread; /* something ran on the wrong thread, or a batch miscounted */
};

static struct fix F;

static void fix_init(void)
{
	memset(&F, 0, sizeof F);
	F.base = event_base_new();
	assert_non_null(F.base);
	F.loop_thread = pthread_self();
	pthread_mutex_init(&F.gate_lock, NULL);
	pthread_cond_init(&F.gate_cv, NULL);
}

static void fix_end(void)
{
	event_base_free(F.base);
	pthread_mutex_destroy(&F.gate_lock);
	pthread_cond_destroy(&F.gate_cv);
}

static void gate(bool closed)
{
	pthread_mutex_lock(&F.gate_lock);
	F.gate_closed = closed;
	pthread_cond_broadcast(&F.gate_cv);
	pthread_mutex_unlock(&F.gate_lock);
}

/* Until a batch has entered run() (and waits at the gate). */
static void wait_entered(void)
{
	for (int i = 0; i < 5000; i++) {
		pthread_mutex_lock(&F.gate_lock);
		bool e = F.entered;
		pthread_mutex_unlock(&F.gate_lock);
		if (e)
			return;
		usleep(1000);
	}
	fail_msg("no batch started");
}

static void run(void *arg, struct workq_job *first, unsigned n)
{
	(void)arg;
	int now = atomic_fetch_add(&F.running, 1) + 1;
	int most = atomic_load(&F.most_running);
	while (now > most && !atomic_compare_exchange_weak(&F.most_running, &most, now))
		;
	if (pthread_equal(pthread_self(), F.loop_thread))
		F.bad_thread = true;
	pthread_mutex_lock(&F.gate_lock);
	F.entered = true;
	while (F.gate_closed)
		pthread_cond_wait(&F.gate_cv, &F.gate_lock);
	pthread_mutex_unlock(&F.gate_lock);
	unsigned seen = 0;
	for (struct workq_job *w = first; w; w = w->next) {
		struct job *j = WORKQ_OWNER(w, struct job, wq);
		j->ran = true;
		j->batch = n;
		j->runner = pthread_self();
		F.ran_order[atomic_fetch_add(&F.ran_order_n, 1)] = j->n;
		seen++;
	}
	if (seen != n) /* no cmocka assert off the main thread */
		F.bad_thread = true;
	atomic_fetch_sub(&F.running, 1);
}

static void done(void *arg, struct workq_job *w)
{
	(void)arg;
	struct job *j = WORKQ_OWNER(w, struct job, wq);
	if (!pthread_equal(pthread_self(), F.loop_thread))
		F.bad_thread = true;
	j->back = true;
	if (j->batch > F.max_batch)
		F.max_batch = j->batch;
	F.order[F.nback++] = j->n;
}

static void drop(void *arg, struct workq_job *w)
{
	(void)arg;
	struct job *j = WORKQ_OWNER(w, struct job, wq);
	j->back = true;
	F.ndropped++;
}

static const struct workq_ops OPS = {.run = run, .done = done, .drop = drop};

/* Runs the loop until want jobs are back (or 10 s). */
static void loop_until(int want)
{
	for (int i = 0; i < 10000 && F.nback < want; i++) {
		event_base_loop(F.base, EVLOOP_NONBLOCK);
		if (F.nback < want)
			usleep(1000);
	}
	assert_int_equal(F.nback, want);
}

static struct workq *mk(unsigned threads, unsigned max_pending, unsigned batch_max, bool drain)
{
	char err[128];
	struct workq_conf c = {.name = "test workers",
	                       .threads = threads,
	                       .max_pending = max_pending,
	                       .batch_max = batch_max,
	                       .drain = drain};
	struct workq *q = workq_new(F.base, &c, &OPS, NULL, err, sizeof err);
	assert_non_null(q);
	return q;
}

/* One worker: every job runs once, in order, and comes back on the loop in order. */
static void test_order_and_thread(void **state)
{
	(void)state;
	fix_init();
	struct workq *q = mk(1, 0, 1, false);
	static struct job jobs[NJOBS];
	for (int i = 0; i < NJOBS; i++) {
		jobs[i] = (struct job){.n = i};
		assert_int_equal(workq_submit(q, &jobs[i].wq), 0);
	}
	loop_until(NJOBS);
	for (int i = 0; i < NJOBS; i++) {
		assert_int_equal(F.order[i], i);
		assert_true(jobs[i].ran && jobs[i].back);
		assert_int_equal(jobs[i].batch, 1);
	}
	assert_false(F.bad_thread);
	assert_int_equal(workq_pending(q), 0);
	workq_free(q);
	assert_int_equal(F.ndropped, 0);
	fix_end();
}

/* A chain submitted while the worker is busy runs in batches of at most
 * batch_max, in order. */
static void test_batches(void **state)
{
	(void)state;
	fix_init();
	struct workq *q = mk(1, 0, 16, false);
	static struct job first, jobs[100];
	first = (struct job){.n = -1};
	gate(true);
	assert_int_equal(workq_submit(q, &first.wq), 0);
	wait_entered();
	for (int i = 0; i < 100; i++) {
		jobs[i] = (struct job){.n = i};
		jobs[i].wq.next = i + 1 < 100 ? &jobs[i + 1].wq : NULL;
	}
	assert_int_equal(workq_submit_chain(q, &jobs[0].wq), 0);
	assert_int_equal(workq_pending(q), 101);
	gate(false);
	loop_until(101);
	assert_int_equal(F.max_batch, 16);
	for (int i = 0; i < 100; i++)
		assert_int_equal(F.order[i + 1], i);
	workq_free(q);
	fix_end();
}

/* max_pending bounds the jobs out, counting those done and not yet taken by the loop. */
static void test_bound(void **state)
{
	(void)state;
	fix_init();
	struct workq *q = mk(1, 3, 1, false);
	static struct job jobs[5];
	for (int i = 0; i < 5; i++)
		jobs[i] = (struct job){.n = i};
	for (int i = 0; i < 3; i++)
		assert_int_equal(workq_submit(q, &jobs[i].wq), 0);
	assert_int_equal(workq_submit(q, &jobs[3].wq), -1);
	/* all three run, none taken back yet: still full */
	for (int i = 0; i < 2000 && atomic_load(&F.ran_order_n) < 3; i++)
		usleep(1000);
	assert_int_equal(workq_submit(q, &jobs[3].wq), -1);
	loop_until(3);
	assert_int_equal(workq_submit(q, &jobs[3].wq), 0);
	loop_until(4);
	workq_free(q);
	fix_end();
}

/* A queued job cancelled is back at once and never runs; a running one runs
 * to the end and comes back marked cancelled. */
static void test_cancel(void **state)
{
	(void)state;
	fix_init();
	struct workq *q = mk(1, 0, 1, false);
	static struct job a, b, c;
	a = (struct job){.n = 0};
	b = (struct job){.n = 1};
	c = (struct job){.n = 2};
	gate(true);
	assert_int_equal(workq_submit(q, &a.wq), 0);
	wait_entered();
	assert_int_equal(workq_submit(q, &b.wq), 0);
	assert_int_equal(workq_submit(q, &c.wq), 0);
	assert_true(workq_cancel(q, &b.wq));  /* queued */
	assert_false(workq_cancel(q, &a.wq)); /* running */
	assert_int_equal(workq_pending(q), 2);
	gate(false);
	loop_until(2);
	assert_false(b.ran);
	assert_true(a.back && a.wq.cancelled);
	assert_true(c.back && !c.wq.cancelled);
	assert_int_equal(F.order[0], 0);
	assert_int_equal(F.order[1], 2);
	workq_free(q);
	fix_end();
}

/* Without drain, free stops after the running batch; the jobs queued and
 * those finished and not taken back are dropped, none lost, none twice. */
static void test_free_drops(void **state)
{
	(void)state;
	fix_init();
	struct workq *q = mk(1, 0, 1, false);
	static struct job jobs[10];
	gate(true);
	for (int i = 0; i < 10; i++) {
		jobs[i] = (struct job){.n = i};
		assert_int_equal(workq_submit(q, &jobs[i].wq), 0);
	}
	wait_entered();
	gate(false);
	workq_free(q); /* the loop never ran: nothing came back through done */
	assert_int_equal(F.nback, 0);
	int ran = 0;
	for (int i = 0; i < 10; i++) {
		assert_true(jobs[i].back);
		ran += jobs[i].ran;
	}
	assert_true(ran >= 1);
	assert_int_equal(F.ndropped, 10);
	fix_end();
}

/* With drain, free runs every queued job and hands each back through done. */
static void test_free_drains(void **state)
{
	(void)state;
	fix_init();
	struct workq *q = mk(1, 0, 4, true);
	static struct job jobs[50];
	gate(true);
	for (int i = 0; i < 50; i++) {
		jobs[i] = (struct job){.n = i};
		assert_int_equal(workq_submit(q, &jobs[i].wq), 0);
	}
	wait_entered();
	gate(false);
	workq_free(q);
	assert_int_equal(F.nback, 50);
	assert_int_equal(F.ndropped, 0);
	for (int i = 0; i < 50; i++) {
		assert_true(jobs[i].ran);
		assert_int_equal(F.order[i], i);
	}
	fix_end();
}

/* Several workers run at the same time; every job still comes back once. */
static void test_threads(void **state)
{
	(void)state;
	fix_init();
	struct workq *q = mk(4, 0, 1, false);
	static struct job jobs[NJOBS];
	gate(true);
	for (int i = 0; i < NJOBS; i++) {
		jobs[i] = (struct job){.n = i};
		assert_int_equal(workq_submit(q, &jobs[i].wq), 0);
	}
	for (int i = 0; i < 5000 && atomic_load(&F.running) < 4; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&F.most_running), 4);
	gate(false);
	loop_until(NJOBS);
	static bool seen[NJOBS];
	for (int i = 0; i < NJOBS; i++) {
		assert_false(seen[F.order[i]]);
		seen[F.order[i]] = true;
	}
	assert_false(F.bad_thread);
	workq_free(q);
	fix_end();
}

/* No loop, no done: each job is dropped by the worker once it has run. */
static void test_fire_and_forget(void **state)
{
	(void)state;
	fix_init();
	char err[128];
	struct workq_conf c = {.name = "ff", .threads = 1, .max_pending = 8};
	struct workq_ops ops = {.run = run, .drop = drop};
	struct workq *q = workq_new(NULL, &c, &ops, NULL, err, sizeof err);
	assert_non_null(q);
	static struct job jobs[8];
	for (int i = 0; i < 8; i++) {
		jobs[i] = (struct job){.n = i};
		assert_int_equal(workq_submit(q, &jobs[i].wq), 0);
	}
	for (int i = 0; i < 5000 && workq_pending(q) > 0; i++)
		usleep(1000);
	assert_int_equal(workq_pending(q), 0);
	assert_int_equal(F.ndropped, 8);
	for (int i = 0; i < 8; i++)
		assert_true(jobs[i].ran && jobs[i].back);
	workq_free(q);
	fix_end();
}

/* What workq_new refuses. */
static void test_refused(void **state)
{
	(void)state;
	fix_init();
	char err[128];
	struct workq_conf c = {.name = "auth workers", .threads = 0};
	assert_null(workq_new(F.base, &c, &OPS, NULL, err, sizeof err));
	assert_non_null(strstr(err, "auth workers"));
	c.threads = WORKQ_THREADS_MAX + 1;
	assert_null(workq_new(F.base, &c, &OPS, NULL, err, sizeof err));
	c.threads = 1;
	assert_null(workq_new(NULL, &c, &OPS, NULL, err, sizeof err)); /* done needs a loop */
	struct workq_ops nodrop = {.run = run, .done = done};
	assert_null(workq_new(F.base, &c, &nodrop, NULL, err, sizeof err));
	c.drain = true;
	struct workq *q = workq_new(F.base, &c, &nodrop, NULL, err, sizeof err);
	assert_non_null(q);
	workq_free(q);
	workq_free(NULL);
	fix_end();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order_and_thread),
	    cmocka_unit_test(test_batches),
	    cmocka_unit_test(test_bound),
	    cmocka_unit_test(test_cancel),
	    cmocka_unit_test(test_free_drops),
	    cmocka_unit_test(test_free_drains),
	    cmocka_unit_test(test_threads),
	    cmocka_unit_test(test_fire_and_forget),
	    cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
