/*
 * ctlasync - a worker thread for slow control API requests (core/workq); see
 * ctlasync.h.
 */
#include "admin/ctlasync.h"

#include "admin/ctlapi.h"
#include "core/str.h"
#include "core/workq.h"

#include <stdlib.h>

#define CTLASYNC_MAX 32 /* requests out at once */

struct ctlasync_job {
	struct workq_job wq;
	json_t *req, *reply;
	uint64_t ticket;
};

struct ctlasync {
	struct ctlapi_state *worker;
	ctlasync_answer_fn answer;
	void *arg;
	struct workq *wq;
};

static void ctlasync_run(void *arg, struct workq_job *first, unsigned n)
{
	struct ctlasync *a = arg;
	(void)n;
	for (struct workq_job *w = first; w; w = w->next) {
		struct ctlasync_job *j = WORKQ_OWNER(w, struct ctlasync_job, wq);
		j->reply = ctlapi_dispatch(a->worker, j->req);
	}
}

static void ctlasync_drop(void *arg, struct workq_job *w)
{
	(void)arg;
	struct ctlasync_job *j = WORKQ_OWNER(w, struct ctlasync_job, wq);
	json_decref(j->req);
	json_decref(j->reply);
	free(j);
}

/* On the loop: the answer (taken by the caller's function). */
static void ctlasync_done(void *arg, struct workq_job *w)
{
	struct ctlasync *a = arg;
	struct ctlasync_job *j = WORKQ_OWNER(w, struct ctlasync_job, wq);
	json_t *reply = j->reply;
	j->reply = NULL;
	a->answer(a->arg, j->ticket, reply);
	ctlasync_drop(a, w);
}

struct ctlasync *ctlasync_new(struct event_base *base, struct ctlapi_state *worker,
                              ctlasync_answer_fn answer, void *arg, char *err, size_t errlen)
{
	struct ctlasync *a = calloc(1, sizeof *a);
	if (!a) {
		str_format_trunc(err, errlen, "out of memory");
		return NULL;
	}
	a->worker = worker;
	a->answer = answer;
	a->arg = arg;
	static const struct workq_ops ops = {
	    .run = ctlasync_run, .done = ctlasync_done, .drop = ctlasync_drop};
	struct workq_conf c = {
	    .name = "control worker", .threads = 1, .max_pending = CTLASYNC_MAX, .batch_max = 1};
	a->wq = workq_new(base, &c, &ops, a, err, errlen);
	if (!a->wq) {
		free(a);
		return NULL;
	}
	return a;
}

int ctlasync_submit(struct ctlasync *a, json_t *req, uint64_t ticket)
{
	struct ctlasync_job *j = calloc(1, sizeof *j);
	if (!j)
		return -1;
	j->req = json_incref(req);
	j->ticket = ticket;
	if (workq_submit(a->wq, &j->wq) != 0) {
		ctlasync_drop(a, &j->wq);
		return -1;
	}
	return 0;
}

void ctlasync_free(struct ctlasync *a)
{
	if (!a)
		return;
	workq_free(a->wq);
	free(a);
}
