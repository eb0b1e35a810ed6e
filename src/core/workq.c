/*
 * workq - jobs from the loop to worker threads and back; see workq.h.
 */
#include "core/workq.h"

#include "core/log.h"
#include "core/str.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum workq_state {
	WORKQ_OUT, /* with the caller */
	WORKQ_QUEUED,
	WORKQ_RUNNING,
	WORKQ_DONE,
};

struct workq_list {
	struct workq_job *head, *tail;
};

struct workq {
	pthread_mutex_t lock;
	pthread_cond_t wake; /* workers: a job was queued, or stop */
	struct workq_list queue, done;
	struct workq_ops ops;
	void *arg;
	unsigned pending, max_pending, batch_max;
	bool drain, stop;
	bool signalled; /* a byte is in the pipe for the current done list */
	int pipe[2];
	struct event *ev;
	unsigned nthreads;
	pthread_t threads[WORKQ_THREADS_MAX];
};

static void workq_push(struct workq_list *l, struct workq_job *j)
{
	j->next = NULL;
	j->prev = l->tail;
	if (l->tail)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
}

static void workq_unlink(struct workq_list *l, struct workq_job *j)
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

/* Under the lock: the first batch_max queued jobs, cut off as a chain. */
static struct workq_job *workq_take_batch(struct workq *q, unsigned *n)
{
	struct workq_job *first = q->queue.head, *last = first;
	first->state = WORKQ_RUNNING;
	*n = 1;
	while (*n < q->batch_max && last->next) {
		last = last->next;
		last->state = WORKQ_RUNNING;
		(*n)++;
	}
	q->queue.head = last->next;
	if (q->queue.head)
		q->queue.head->prev = NULL;
	else
		q->queue.tail = NULL;
	last->next = NULL;
	first->prev = NULL;
	return first;
}

/* Under the lock: a run batch back on the done list, and the loop woken. */
static void workq_finish(struct workq *q, struct workq_job *first)
{
	while (first) {
		struct workq_job *next = first->next;
		first->state = WORKQ_DONE;
		workq_push(&q->done, first);
		first = next;
	}
	if (!q->signalled) {
		char c = 'w';
		ssize_t w;
		while ((w = write(q->pipe[1], &c, 1)) < 0 && errno == EINTR)
			;
		if (w != 1)
			log_error("workq: cannot wake the loop: %s",
			          w < 0 ? strerror(errno) : "short write");
		q->signalled = true;
	}
}

static void *workq_worker(void *arg)
{
	struct workq *q = arg;
	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (!q->queue.head && !q->stop)
			pthread_cond_wait(&q->wake, &q->lock);
		if (!q->queue.head || (q->stop && !q->drain))
			break;
		unsigned n;
		struct workq_job *first = workq_take_batch(q, &n);
		pthread_mutex_unlock(&q->lock);
		q->ops.run(q->arg, first, n);
		if (!q->ops.done) {
			for (struct workq_job *j = first, *next; j; j = next) {
				next = j->next;
				j->state = WORKQ_OUT;
				pthread_mutex_lock(&q->lock);
				q->pending--;
				pthread_mutex_unlock(&q->lock);
				q->ops.drop(q->arg, j);
			}
			pthread_mutex_lock(&q->lock);
			continue;
		}
		pthread_mutex_lock(&q->lock);
		workq_finish(q, first);
	}
	pthread_mutex_unlock(&q->lock);
	if (q->ops.thread_end)
		q->ops.thread_end(q->arg);
	return NULL;
}

/* On the loop: the finished jobs back to the caller, one at a time with the
 * lock released (done may cancel a job still on the list). */
static void workq_on_done(evutil_socket_t fd, short what, void *arg)
{
	struct workq *q = arg;
	(void)what;
	char buf[64];
	while (read(fd, buf, sizeof buf) > 0)
		;
	pthread_mutex_lock(&q->lock);
	q->signalled = false;
	for (;;) {
		struct workq_job *j = q->done.head;
		if (!j)
			break;
		workq_unlink(&q->done, j);
		j->state = WORKQ_OUT;
		q->pending--;
		pthread_mutex_unlock(&q->lock);
		q->ops.done(q->arg, j);
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
}

struct workq *workq_new(struct event_base *base, const struct workq_conf *c,
                        const struct workq_ops *ops, void *arg, char *err, size_t errlen)
{
	const char *name = c->name ? c->name : "workers";
	if (c->threads < 1 || c->threads > WORKQ_THREADS_MAX || !ops->run || (ops->done && !base) ||
	    (!ops->drop && !(c->drain && ops->done))) {
		str_format_trunc(err, errlen, "%s: %u threads: out of range or no function to run",
		                 name, c->threads);
		return NULL;
	}
	struct workq *q = calloc(1, sizeof *q);
	if (!q) {
		str_format_trunc(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	q->ops = *ops;
	q->arg = arg;
	q->max_pending = c->max_pending;
	q->batch_max = c->batch_max ? c->batch_max : 1;
	q->drain = c->drain;
	q->pipe[0] = q->pipe[1] = -1;
	if (pthread_mutex_init(&q->lock, NULL) != 0) {
		free(q);
		str_format_trunc(err, errlen, "%s: cannot create a mutex", name);
		return NULL;
	}
	if (pthread_cond_init(&q->wake, NULL) != 0) {
		pthread_mutex_destroy(&q->lock);
		free(q);
		str_format_trunc(err, errlen, "%s: cannot create a condition variable", name);
		return NULL;
	}
	if (ops->done) {
		if (pipe2(q->pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
			str_format_trunc(err, errlen, "%s: pipe: %s", name, strerror(errno));
			goto fail;
		}
		q->ev = event_new(base, q->pipe[0], EV_READ | EV_PERSIST, workq_on_done, q);
		if (!q->ev || event_add(q->ev, NULL) != 0) {
			str_format_trunc(err, errlen, "%s: cannot add the completion event", name);
			goto fail;
		}
	}
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = 0;
	for (unsigned i = 0; i < c->threads && rc == 0; i++) {
		rc = pthread_create(&q->threads[i], NULL, workq_worker, q);
		if (rc == 0)
			q->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		str_format_trunc(err, errlen, "%s: cannot start a thread: %s", name, strerror(rc));
		goto fail;
	}
	return q;
fail:
	workq_free(q);
	return NULL;
}

int workq_submit(struct workq *q, struct workq_job *j)
{
	pthread_mutex_lock(&q->lock);
	if (q->stop || (q->max_pending && q->pending >= q->max_pending)) {
		pthread_mutex_unlock(&q->lock);
		return -1;
	}
	j->cancelled = false;
	j->state = WORKQ_QUEUED;
	q->pending++;
	workq_push(&q->queue, j);
	pthread_cond_signal(&q->wake);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

int workq_submit_chain(struct workq *q, struct workq_job *first)
{
	pthread_mutex_lock(&q->lock);
	if (q->stop) {
		pthread_mutex_unlock(&q->lock);
		return -1;
	}
	unsigned n = 0;
	while (first) {
		struct workq_job *next = first->next;
		first->cancelled = false;
		first->state = WORKQ_QUEUED;
		workq_push(&q->queue, first);
		first = next;
		n++;
	}
	q->pending += n;
	/* A batch may take them all; the other workers look for what is left. */
	if (n > q->batch_max)
		pthread_cond_broadcast(&q->wake);
	else if (n)
		pthread_cond_signal(&q->wake);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

bool workq_cancel(struct workq *q, struct workq_job *j)
{
	pthread_mutex_lock(&q->lock);
	if (j->state == WORKQ_QUEUED) {
		workq_unlink(&q->queue, j);
		j->state = WORKQ_OUT;
		q->pending--;
		pthread_mutex_unlock(&q->lock);
		return true;
	}
	if (j->state == WORKQ_OUT)
		panic("workq_cancel: the job is not in the queue");
	j->cancelled = true;
	pthread_mutex_unlock(&q->lock);
	return false;
}

unsigned workq_pending(struct workq *q)
{
	pthread_mutex_lock(&q->lock);
	unsigned n = q->pending;
	pthread_mutex_unlock(&q->lock);
	return n;
}

void workq_free(struct workq *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	pthread_cond_broadcast(&q->wake);
	pthread_mutex_unlock(&q->lock);
	for (unsigned i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	q->nthreads = 0;
	/* No worker is left: the lists are the loop's. */
	if (q->drain && q->ops.done) {
		if (q->pipe[0] >= 0)
			workq_on_done(q->pipe[0], 0, q);
	} else {
		struct workq_list *lists[] = {&q->queue, &q->done};
		for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
			while (lists[i]->head) {
				struct workq_job *j = lists[i]->head;
				workq_unlink(lists[i], j);
				j->state = WORKQ_OUT;
				q->pending--;
				q->ops.drop(q->arg, j);
			}
	}
	if (q->ev)
		event_free(q->ev);
	for (int i = 0; i < 2; i++)
		if (q->pipe[i] >= 0)
			close(q->pipe[i]);
	pthread_cond_destroy(&q->wake);
	pthread_mutex_destroy(&q->lock);
	free(q);
}
