/*
 * authpool - password checks on worker threads (core/workq); see authpool.h.
 *
 * A job is the request's copy and its result around a struct workq_job; the
 * queue's rules (one place at a time, done on the loop, cancelled jobs back
 * marked) are core/workq's. The password is wiped as soon as the check ends
 * and again when the job is freed, whoever frees it.
 */
#include "gateway/authpool.h"

#include "core/str.h"
#include "core/workq.h"

#include <stdlib.h>

struct authpool_job {
	struct workq_job wq;
	struct authbe_request req;
	struct authbe_result res;
	authpool_done_fn done;
	void *arg;
};

struct authpool {
	struct workq *wq;
};

static void authpool_job_free(struct authpool_job *j)
{
	passwd_wipe(&j->req, sizeof j->req);
	free(j);
}

/* On a worker: only this thread touches the job's request and result now. */
static void authpool_run(void *arg, struct workq_job *first, unsigned n)
{
	(void)arg;
	(void)n;
	for (struct workq_job *w = first; w; w = w->next) {
		struct authpool_job *j = WORKQ_OWNER(w, struct authpool_job, wq);
		authbe_check(&j->req, &j->res);
		passwd_wipe(&j->req, sizeof j->req);
	}
}

/* On the loop. */
static void authpool_done(void *arg, struct workq_job *w)
{
	(void)arg;
	struct authpool_job *j = WORKQ_OWNER(w, struct authpool_job, wq);
	if (!w->cancelled && j->done)
		j->done(j->arg, &j->res);
	authpool_job_free(j);
}

static void authpool_drop(void *arg, struct workq_job *w)
{
	(void)arg;
	authpool_job_free(WORKQ_OWNER(w, struct authpool_job, wq));
}

static void authpool_thread_end(void *arg)
{
	(void)arg;
	authbe_thread_end(); /* its Dovecot connection */
}

void authpool_free(struct authpool *p)
{
	if (!p)
		return;
	workq_free(p->wq);
	free(p);
}

struct authpool *authpool_new(struct event_base *base, unsigned workers, unsigned queue_max,
                              char *err, size_t errlen)
{
	if (workers < 1 || workers > AUTHPOOL_WORKERS_MAX || queue_max < 1) {
		str_format_trunc(err, errlen, "auth workers %u, queue %u: out of range", workers,
		                 queue_max);
		return NULL;
	}
	if (passwd_init() != 0) { /* before any thread: libsodium's one-time set-up */
		str_format_trunc(err, errlen, "cannot initialise libsodium");
		return NULL;
	}
	struct authpool *p = calloc(1, sizeof *p);
	if (!p) {
		str_format_trunc(err, errlen, "out of memory");
		return NULL;
	}
	static const struct workq_ops ops = {.run = authpool_run,
	                                     .done = authpool_done,
	                                     .drop = authpool_drop,
	                                     .thread_end = authpool_thread_end};
	struct workq_conf c = {
	    .name = "auth workers", .threads = workers, .max_pending = queue_max, .batch_max = 1};
	p->wq = workq_new(base, &c, &ops, p, err, errlen);
	if (!p->wq) {
		free(p);
		return NULL;
	}
	return p;
}

struct authpool_job *authpool_submit(struct authpool *p, const struct authbe_request *req,
                                     authpool_done_fn done, void *arg)
{
	if (req->pwlen > sizeof req->pw)
		return NULL;
	struct authpool_job *j = calloc(1, sizeof *j);
	if (!j)
		return NULL;
	j->req = *req;
	j->done = done;
	j->arg = arg;
	if (workq_submit(p->wq, &j->wq) != 0) {
		authpool_job_free(j);
		return NULL;
	}
	return j;
}

void authpool_cancel(struct authpool *p, struct authpool_job *j)
{
	if (j && workq_cancel(p->wq, &j->wq))
		authpool_job_free(j); /* never started */
}

unsigned authpool_pending(struct authpool *p)
{
	return workq_pending(p->wq);
}
