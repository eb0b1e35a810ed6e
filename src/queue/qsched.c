/*
 * qsched - the scheduler: a heap of the active entries by (next attempt, ID),
 * queue_next_due() for the delivery workers, and queue_flush() (retry now).
 * Held, dead and handed-out entries are out of the heap. Loop thread only.
 */
#include "queue/queue_int.h"

#include "core/clock.h"
#include "core/fsutil.h"
#include "core/grow.h"
#include "core/log.h"
#include "core/str.h"
#include "queue/qenv.h"
#include "queue/qseg.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static bool qsched_less(const struct queue_entry *a, const struct queue_entry *b)
{
	if (a->next_attempt_ms != b->next_attempt_ms)
		return a->next_attempt_ms < b->next_attempt_ms;
	return strcmp(a->id, b->id) < 0;
}

static void qsched_set(struct queue *q, size_t i, struct queue_entry *e)
{
	q->heap[i] = e;
	e->heap_pos = i;
}

static void qsched_up(struct queue *q, size_t i)
{
	struct queue_entry *e = q->heap[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!qsched_less(e, q->heap[p]))
			break;
		qsched_set(q, i, q->heap[p]);
		i = p;
	}
	qsched_set(q, i, e);
}

static void qsched_down(struct queue *q, size_t i)
{
	struct queue_entry *e = q->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= q->heap_len)
			break;
		if (c + 1 < q->heap_len && qsched_less(q->heap[c + 1], q->heap[c]))
			c++;
		if (!qsched_less(q->heap[c], e))
			break;
		qsched_set(q, i, q->heap[c]);
		i = c;
	}
	qsched_set(q, i, e);
}

void qsched_remove(struct queue *q, struct queue_entry *e)
{
	if (e->heap_pos == SIZE_MAX)
		return;
	size_t i = e->heap_pos;
	e->heap_pos = SIZE_MAX;
	q->heap_len--;
	if (i == q->heap_len)
		return;
	struct queue_entry *m = q->heap[q->heap_len];
	qsched_set(q, i, m);
	qsched_down(q, i);
	qsched_up(q, m->heap_pos);
}

/* Puts e in the heap, or moves it, or takes it out, as its state says. */
void qsched_update(struct queue *q, struct queue_entry *e)
{
	bool want = !e->dead && !e->held && !e->handed;
	if (!want) {
		qsched_remove(q, e);
		return;
	}
	if (e->heap_pos != SIZE_MAX) {
		qsched_up(q, e->heap_pos);
		qsched_down(q, e->heap_pos);
		return;
	}
	grow_xarray(&q->heap, &q->heap_cap, q->heap_len + 1, sizeof *q->heap);
	qsched_set(q, q->heap_len, e);
	q->heap_len++;
	qsched_up(q, e->heap_pos);
}

int queue_next_due(struct queue *q, uint64_t now_ms, char id[QUEUE_ID_MAX])
{
	if (q->heap_len == 0 || q->heap[0]->next_attempt_ms > now_ms)
		return 0;
	struct queue_entry *e = q->heap[0];
	e->handed = true;
	qsched_remove(q, e);
	if (str_copy(id, QUEUE_ID_MAX, e->id) != 0)
		panic("queue_next_due: id does not fit");
	return 1;
}

/* Makes e due now, durably (its state file says next attempt 0). 0 or -1. */
static int qsched_flush_one(struct queue *q, struct queue_entry *e)
{
	int lk = qdisk_lock(q);
	if (lk < 0) {
		queue_set_error(q, e->id, "cannot lock the spool");
		return -1;
	}
	struct queue_envelope env;
	int rc = -1;
	if (qdisk_read_env(q, e, &env) < 0) {
		queue_set_error(q, e->id, "envelope unreadable");
	} else {
		env.next_attempt_ms = 0;
		if (qdisk_write_state(q, e, &env) < 0) {
			queue_set_error(q, e->id, "envelope not saved");
		} else {
			qindex_summary(e, &env);
			rc = 0;
		}
		qenv_free(&env);
	}
	qdisk_unlock(lk);
	qsched_update(q, e);
	return rc;
}

int queue_flush(struct queue *q, const char *id, const char *actor)
{
	q->err[0] = '\0';
	if (id && !qdisk_id_valid(id)) {
		queue_set_error(q, "queue", "not a queue ID: %.40s", id);
		return -1;
	}
	if (!q->owner) {
		queue_set_error(q, id ? id : "queue",
		                "cannot flush: another process owns the spool");
		return -1;
	}
	if (!actor || !*actor)
		actor = "unknown";
	struct queue_entry *one = id ? queue_live(q, id) : NULL;
	if (id && !one)
		return -1;
	if (one && one->held) {
		queue_set_error(q, id, "held: release it instead");
		return -1;
	}
	int n = 0;
	size_t pos = 0;
	for (struct queue_entry *e; (e = qindex_next(q, &pos));) {
		if (one ? e != one : e->dead || e->held || e->handed || e->next_attempt_ms == 0)
			continue;
		if (e->handed) /* being delivered right now */
			continue;
		if (qsched_flush_one(q, e) < 0)
			return -1;
		log_info("%s: flush by %s: due now", e->id, actor);
		(void)qdisk_audit(q, "flush", e->id, "", actor);
		n++;
	}
	return n;
}
