/*
 * authpool - password checks on worker threads; see authpool.h.
 *
 * One mutex guards everything shared: the FIFO of queued jobs, the done list,
 * each job's state and cancelled flag, the counters. A job is in exactly one
 * place: the queue (QUEUED), a worker's hands (RUNNING) or the done list
 * (DONE), and is freed by whoever takes it out last: authpool_cancel for a
 * queued job, the loop's done handler (or authpool_free) for the others.
 * Workers write one byte to the pipe when the done list stops being empty;
 * the loop drains it before it empties the list, so no wake-up is lost.
 */
#include "gateway/authpool.h"

#include "core/str.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum authpool_state {
	AUTHPOOL_QUEUED,
	AUTHPOOL_RUNNING,
	AUTHPOOL_DONE,
};

struct authpool_job {
	struct authpool_job *next, *prev;
	enum authpool_state state;
	bool cancelled;
	struct authbe_request req;
	struct authbe_result res;
	authpool_done_fn done;
	void *arg;
};

struct authpool_list {
	struct authpool_job *head, *tail;
};

struct authpool {
	pthread_mutex_t lock;
	pthread_cond_t wake; /* workers: a job was queued, or stop */
	struct authpool_list queue, done;
	unsigned pending, queue_max;
	bool stop;
	bool signalled; /* a byte is in the pipe for the current done list */
	int pipe[2];
	struct event *ev;
	unsigned nthreads;
	pthread_t threads[AUTHPOOL_WORKERS_MAX];
};

static void authpool_list_push(struct authpool_list *l, struct authpool_job *j)
{
	j->next = NULL;
	j->prev = l->tail;
	if (l->tail)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
}

static void authpool_list_unlink(struct authpool_list *l, struct authpool_job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		l->head = j->next;
	if (j->next)
		j->next->prev = j->prev;
	else
		l->tail = j->prev;
	j->next = j->prev = NULL;
}

static void authpool_job_free(struct authpool_job *j)
{
	passwd_wipe(&j->req, sizeof j->req);
	free(j);
}

static void *authpool_worker(void *arg)
{
	struct authpool *p = arg;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->stop && !p->queue.head)
			pthread_cond_wait(&p->wake, &p->lock);
		if (p->stop)
			break;
		struct authpool_job *j = p->queue.head;
		authpool_list_unlink(&p->queue, j);
		j->state = AUTHPOOL_RUNNING;
		pthread_mutex_unlock(&p->lock);
		/* Only this thread touches j's request and result now. */
		authbe_check(&j->req, &j->res);
		passwd_wipe(&j->req, sizeof j->req);
		pthread_mutex_lock(&p->lock);
		j->state = AUTHPOOL_DONE;
		authpool_list_push(&p->done, j);
		if (!p->signalled) {
			char c = 'j';
			ssize_t n;
			while ((n = write(p->pipe[1], &c, 1)) < 0 && errno == EINTR)
				;
			/* A full pipe (cannot happen: one byte at a time) still wakes the loop. */
			p->signalled = true;
		}
	}
	pthread_mutex_unlock(&p->lock);
	authbe_thread_end(); /* its Dovecot connection */
	return NULL;
}

/* On the loop: calls back the finished jobs, one at a time, so that a
 * callback may cancel a job still on the list. */
static void authpool_on_done(evutil_socket_t fd, short what, void *arg)
{
	struct authpool *p = arg;
	char buf[64];
	while (read(fd, buf, sizeof buf) > 0)
		;
	pthread_mutex_lock(&p->lock);
	p->signalled = false;
	for (;;) {
		struct authpool_job *j = p->done.head;
		if (!j)
			break;
		authpool_list_unlink(&p->done, j);
		p->pending--;
		bool call = !j->cancelled && j->done;
		pthread_mutex_unlock(&p->lock);
		if (call)
			j->done(j->arg, &j->res);
		authpool_job_free(j);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
}

/* Stops the workers after their current job and joins them. */
static void authpool_stop(struct authpool *p)
{
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	p->nthreads = 0;
}

void authpool_free(struct authpool *p)
{
	if (!p)
		return;
	authpool_stop(p);
	/* No worker is left: the lists are ours. */
	struct authpool_list *lists[] = {&p->queue, &p->done};
	for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
		while (lists[i]->head) {
			struct authpool_job *j = lists[i]->head;
			authpool_list_unlink(lists[i], j);
			authpool_job_free(j);
		}
	if (p->ev)
		event_free(p->ev);
	if (p->pipe[0] >= 0)
		close(p->pipe[0]);
	if (p->pipe[1] >= 0)
		close(p->pipe[1]);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
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
	p->pipe[0] = p->pipe[1] = -1;
	p->queue_max = queue_max;
	if (pthread_mutex_init(&p->lock, NULL) != 0) {
		free(p);
		str_format_trunc(err, errlen, "cannot create a mutex");
		return NULL;
	}
	if (pthread_cond_init(&p->wake, NULL) != 0) {
		pthread_mutex_destroy(&p->lock);
		free(p);
		str_format_trunc(err, errlen, "cannot create a condition variable");
		return NULL;
	}
	if (pipe2(p->pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
		str_format_trunc(err, errlen, "auth workers: pipe: %s", strerror(errno));
		goto fail;
	}
	p->ev = event_new(base, p->pipe[0], EV_READ | EV_PERSIST, authpool_on_done, p);
	if (!p->ev || event_add(p->ev, NULL) != 0) {
		str_format_trunc(err, errlen, "auth workers: cannot add the completion event");
		goto fail;
	}
	/* The workers take no signals: they stay with the loop's thread. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = 0;
	for (unsigned i = 0; i < workers && rc == 0; i++) {
		rc = pthread_create(&p->threads[i], NULL, authpool_worker, p);
		if (rc == 0)
			p->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		str_format_trunc(err, errlen, "auth workers: cannot start a thread: %s",
		                 strerror(rc));
		goto fail;
	}
	return p;
fail:
	authpool_free(p);
	return NULL;
}

struct authpool_job *authpool_submit(struct authpool *p, const struct authbe_request *req,
                                     authpool_done_fn done, void *arg)
{
	if (req->pwlen > sizeof req->pw)
		return NULL;
	pthread_mutex_lock(&p->lock);
	bool full = p->pending >= p->queue_max || p->stop;
	pthread_mutex_unlock(&p->lock);
	if (full)
		return NULL;
	struct authpool_job *j = calloc(1, sizeof *j);
	if (!j)
		return NULL;
	j->req = *req;
	j->done = done;
	j->arg = arg;
	j->state = AUTHPOOL_QUEUED;
	pthread_mutex_lock(&p->lock);
	/* Only the loop submits: pending cannot have grown since the check. */
	p->pending++;
	authpool_list_push(&p->queue, j);
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
	return j;
}

void authpool_cancel(struct authpool *p, struct authpool_job *j)
{
	if (!j)
		return;
	pthread_mutex_lock(&p->lock);
	if (j->state == AUTHPOOL_QUEUED) {
		authpool_list_unlink(&p->queue, j);
		p->pending--;
		pthread_mutex_unlock(&p->lock);
		authpool_job_free(j);
		return;
	}
	j->cancelled = true; /* running or done: discarded when the loop takes it */
	pthread_mutex_unlock(&p->lock);
}

unsigned authpool_pending(struct authpool *p)
{
	pthread_mutex_lock(&p->lock);
	unsigned n = p->pending;
	pthread_mutex_unlock(&p->lock);
	return n;
}
