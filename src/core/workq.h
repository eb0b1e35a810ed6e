/*
 * workq - the one way work leaves the event loop for a thread and comes
 * back: a FIFO of jobs, worker threads that run them, and a wake-up of the
 * loop (a pipe watched by libevent) that hands each finished job back on the
 * loop's thread. The password checks (gateway/authpool), the control API's
 * requests that wait for Postfix's programs (admin/ctlasync), the spool's
 * group commit (queue) and the firewall's ban commands (gateway/nftban) run
 * on it.
 *
 * A job is the caller's own struct with a struct workq_job inside (no
 * allocation here). It is in exactly one place at a time: queued, in a
 * worker's hands, on the done list, or back with the caller. One mutex
 * guards the lists, the counters and each job's state; a worker writes one
 * byte to the pipe when the done list stops being empty, and the loop drains
 * the pipe before it empties the list, so no wake-up is lost and the pipe
 * never fills.
 *
 * Rules the users rely on:
 *  - jobs run in the order submitted (with several workers, they start in
 *    that order); a worker takes up to batch_max queued jobs at once and
 *    runs them as one batch (the spool's commits share one fsync);
 *  - done() runs on the loop, once per job, in the order the jobs finished,
 *    one job at a time with the lock released, so it may submit or cancel
 *    other jobs; a job cancelled while it ran is handed back too, with
 *    cancelled set;
 *  - without done (and then without a loop), a worker hands each job to
 *    drop() as soon as it has run (fire and forget: nftban);
 *  - workers block every signal: signals stay with the loop's thread;
 *  - workq_free() stops the workers after their current batch. With drain
 *    set they first run every queued job and every finished job goes to
 *    done() (the spool: each commit's callback runs exactly once); without
 *    it, the jobs not run and the finished ones not handed back go to drop().
 */
#ifndef RG_CORE_WORKQ_H
#define RG_CORE_WORKQ_H

#include "core/attr.h"

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct workq;

struct workq_job {
	struct workq_job *next, *prev; /* workq's; next chains a batch in run() */
	unsigned char state;           /* workq's */
	bool cancelled;                /* read-only for the caller, in done() */
};

/* The caller's struct around a struct workq_job: WORKQ_OWNER(j, struct x, wq). */
#define WORKQ_OWNER(j, type, member) ((type *)(void *)((char *)(j)-offsetof(type, member)))

struct workq_ops {
	/* On a worker, without the lock: the jobs of one batch, first and its
	 * next pointers (n jobs, the last one's next NULL). Only this worker
	 * touches them until they come back. */
	void (*run)(void *arg, struct workq_job *first, unsigned n);
	/* On the loop: a finished job, back with the caller. NULL: fire and forget. */
	void (*done)(void *arg, struct workq_job *j);
	/* Takes back a job that is not handed to done (see workq_free); also, with
	 * no done, each job once it has run. Required, unless drain is set and
	 * done is not NULL (then every job comes back through done). */
	void (*drop)(void *arg, struct workq_job *j);
	/* On each worker as it ends (a thread's own connections). May be NULL. */
	void (*thread_end)(void *arg);
};

struct workq_conf {
	const char *name;     /* in error messages: "auth workers" */
	unsigned threads;     /* 1 to WORKQ_THREADS_MAX */
	unsigned max_pending; /* jobs submitted and not back yet, at most; 0: no limit */
	unsigned batch_max;   /* jobs one run() takes at most; 0: 1 */
	bool drain;           /* see workq_free */
};

#define WORKQ_THREADS_MAX 64

/* base: the loop done() runs on (NULL only when ops->done is NULL). NULL with
 * err when the threads, the pipe or the event cannot be set up. */
struct workq *workq_new(struct event_base *base, const struct workq_conf *c,
                        const struct workq_ops *ops, void *arg, char *err, size_t errlen);

/* Queues a job: 0, or -1 (nothing queued) when max_pending jobs are out
 * already or the queue is stopping. */
RG_WUR int workq_submit(struct workq *q, struct workq_job *j);

/* Queues the chain first, first->next, ... (NULL-terminated) with one
 * wake-up. Ignores max_pending; -1 (nothing queued) only when stopping. */
RG_WUR int workq_submit_chain(struct workq *q, struct workq_job *first);

/* A queued job is taken out and back with the caller: true. A job running or
 * finished is marked cancelled and still comes back through done(): false. */
bool workq_cancel(struct workq *q, struct workq_job *j);

/* Jobs submitted and not back with the caller yet. */
unsigned workq_pending(struct workq *q);

/* Stops and joins the workers (see the rules above) and frees q. NULL is fine. */
void workq_free(struct workq *q);

#endif
