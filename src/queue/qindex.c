/*
 * qindex - the in-memory index of the spool: entries by queue ID (a chained
 * hash table), the segments with their live counts, and an entry's summary
 * (arrival, next attempt, held) as the scheduler sees it. Loop thread only.
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

static size_t qindex_hash(const char *id)
{
	return (size_t)hash_fnv1a64_str(id);
}

struct queue_entry *qindex_find(const struct queue *q, const char *id)
{
	if (!q->nbuckets)
		return NULL;
	for (struct queue_entry *e = q->buckets[qindex_hash(id) & (q->nbuckets - 1)]; e;
	     e = e->hnext)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

void qindex_insert(struct queue *q, struct queue_entry *e)
{
	if (q->nentries + 1 > q->nbuckets) {
		size_t nb = q->nbuckets ? q->nbuckets * 2 : 1024;
		struct queue_entry **b = xcalloc(nb, sizeof *b);
		for (size_t i = 0; i < q->nbuckets; i++)
			for (struct queue_entry *x = q->buckets[i], *nx; x; x = nx) {
				nx = x->hnext;
				size_t h = qindex_hash(x->id) & (nb - 1);
				x->hnext = b[h];
				b[h] = x;
			}
		free(q->buckets);
		q->buckets = b;
		q->nbuckets = nb;
	}
	size_t h = qindex_hash(e->id) & (q->nbuckets - 1);
	e->hnext = q->buckets[h];
	q->buckets[h] = e;
	q->nentries++;
}

void qindex_remove(struct queue *q, struct queue_entry *e)
{
	struct queue_entry **pp = &q->buckets[qindex_hash(e->id) & (q->nbuckets - 1)];
	for (; *pp; pp = &(*pp)->hnext)
		if (*pp == e) {
			*pp = e->hnext;
			q->nentries--;
			return;
		}
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
