/*
 * ctlasync - a worker thread for slow control API requests; see ctlasync.h.
 */
#include "admin/ctlasync.h"

#include "admin/ctlapi.h"
#include "core/log.h"
#include "core/str.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CTLASYNC_MAX 32 /* requests waiting at once */

struct ctlasync_job {
	struct ctlasync_job *next;
	json_t *req, *reply;
	uint64_t ticket;
};

struct ctlasync {
	struct ctlapi_state *worker;
	ctlasync_answer_fn answer;
	void *arg;
	pthread_t thread;
	bool started, stop;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct ctlasync_job *todo, *done; /* todo in order (tail append), done any order */
	unsigned n;
	int pipe[2]; /* the worker writes a byte per answer */
	struct event *ev;
};

static void *ctlasync_main(void *arg)
{
	struct ctlasync *a = arg;
	pthread_mutex_lock(&a->lock);
	for (;;) {
		while (!a->todo && !a->stop)
			pthread_cond_wait(&a->cond, &a->lock);
		if (a->stop)
			break;
		struct ctlasync_job *j = a->todo;
		a->todo = j->next;
		pthread_mutex_unlock(&a->lock);
		j->reply = ctlapi_dispatch(a->worker, j->req);
		pthread_mutex_lock(&a->lock);
		j->next = a->done;
		a->done = j;
		char b = 1;
		if (write(a->pipe[1], &b, 1) != 1)
			log_error("control: cannot wake the loop for an answer");
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

static void ctlasync_on_done(evutil_socket_t fd, short what, void *arg)
{
	struct ctlasync *a = arg;
	char b[64];
	while (read(fd, b, sizeof b) > 0)
		;
	pthread_mutex_lock(&a->lock);
	struct ctlasync_job *j = a->done;
	a->done = NULL;
	pthread_mutex_unlock(&a->lock);
	while (j) {
		struct ctlasync_job *next = j->next;
		pthread_mutex_lock(&a->lock);
		a->n--;
		pthread_mutex_unlock(&a->lock);
		a->answer(a->arg, j->ticket, j->reply);
		json_decref(j->req);
		free(j);
		j = next;
	}
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
	a->pipe[0] = a->pipe[1] = -1;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	if (pipe2(a->pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		str_format_trunc(err, errlen, "pipe: %s", strerror(errno));
		goto fail;
	}
	a->ev = event_new(base, a->pipe[0], EV_READ | EV_PERSIST, ctlasync_on_done, a);
	if (!a->ev || event_add(a->ev, NULL) != 0) {
		str_format_trunc(err, errlen, "out of memory");
		goto fail;
	}
	int e = pthread_create(&a->thread, NULL, ctlasync_main, a);
	if (e != 0) {
		str_format_trunc(err, errlen, "cannot start the control worker: %s", strerror(e));
		goto fail;
	}
	a->started = true;
	return a;
fail:
	ctlasync_free(a);
	return NULL;
}

int ctlasync_submit(struct ctlasync *a, json_t *req, uint64_t ticket)
{
	struct ctlasync_job *j = calloc(1, sizeof *j);
	if (!j)
		return -1;
	j->req = json_incref(req);
	j->ticket = ticket;
	pthread_mutex_lock(&a->lock);
	if (a->n >= CTLASYNC_MAX) {
		pthread_mutex_unlock(&a->lock);
		json_decref(j->req);
		free(j);
		return -1;
	}
	a->n++;
	struct ctlasync_job **tail = &a->todo;
	while (*tail)
		tail = &(*tail)->next;
	*tail = j;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->lock);
	return 0;
}

static void ctlasync_drop(struct ctlasync_job *j)
{
	while (j) {
		struct ctlasync_job *next = j->next;
		json_decref(j->req);
		json_decref(j->reply);
		free(j);
		j = next;
	}
}

void ctlasync_free(struct ctlasync *a)
{
	if (!a)
		return;
	if (a->started) {
		pthread_mutex_lock(&a->lock);
		a->stop = true;
		pthread_cond_signal(&a->cond);
		pthread_mutex_unlock(&a->lock);
		pthread_join(a->thread, NULL);
	}
	ctlasync_drop(a->todo);
	ctlasync_drop(a->done);
	if (a->ev)
		event_free(a->ev);
	if (a->pipe[0] >= 0)
		close(a->pipe[0]);
	if (a->pipe[1] >= 0)
		close(a->pipe[1]);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
