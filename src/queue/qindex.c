/*
 * qindex - the in-memory index of the spool: entries by queue ID (core/htab),
 * the segments with their live counts, and an entry's summary (arrival, next
 * attempt, held) as the scheduler sees it. Loop thread only.
 */
#include "queue/queue_int.h"

#include "core/clock.h"
#include "core/fsutil.h"
#include "core/hash.h"
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

static uint64_t qindex_hash(const char *id)
{
	return hash_fnv1a64_str(id);
}

static bool qindex_eq(const void *item, const void *key)
{
	return strcmp(((const struct queue_entry *)item)->id, key) == 0;
}

struct queue_entry *qindex_find(const struct queue *q, const char *id)
{
	return htab_find(&q->index, qindex_hash(id), qindex_eq, id);
}

void qindex_insert(struct queue *q, struct queue_entry *e)
{
	if (htab_insert(&q->index, qindex_hash(e->id), e) != 0)
		fatal("queue: index: out of memory");
}

void qindex_remove(struct queue *q, struct queue_entry *e)
{
	(void)htab_remove(&q->index, qindex_hash(e->id), e);
}

struct queue_entry *qindex_next(const struct queue *q, size_t *pos)
{
	return htab_next(&q->index, pos);
}

struct queue_seg *qindex_seg(struct queue *q, uint32_t num)
{
	struct queue_seg **pp = &q->segs;
	for (; *pp && (*pp)->num < num; pp = &(*pp)->next)
		;
	if (*pp && (*pp)->num == num)
		return *pp;
	struct queue_seg *s = xcalloc(1, sizeof *s);
	s->num = num;
	s->fd = -1;
	s->next = *pp;
	*pp = s;
	return s;
}

void qindex_summary(struct queue_entry *e, const struct queue_envelope *env)
{
	e->arrival_ms = env->arrival_ms;
	e->next_attempt_ms = env->next_attempt_ms;
	e->attempts = env->attempts;
	e->held = env->hold_reason[0] != '\0';
}

void qindex_kill(struct queue *q, struct queue_entry *e)
{
	if (e->dead)
		return;
	e->dead = true;
	e->handed = false;
	qsched_remove(q, e);
	struct queue_seg *s = qindex_seg(q, e->seg);
	if (s->live > 0)
		s->live--;
}
