/*
 * queue_int - what the spool's files share (queue.c, qdisk.c, qindex.c,
 * qsched.c, qhold.c); not for other modules: they use queue.h. The
 * interface and guarantees are in queue.h, the on-disk format and the
 * durability argument in docs/queue.md.
 *
 * Layout under the spool directory:
 *   seg/NNNNNNNN    append-only segments: every committed message is one
 *                   record (ID, envelope, content, END trailer; qseg.h)
 *   state/ID        the envelope as it is now, once it changed after commit
 *                   (delivery results, hold, release): overrides the copy in
 *                   the segment; replaced atomically (temp, fsync, rename,
 *                   fsync directory)
 *   dead/ID         empty marker: the entry is finished (delivered or deleted)
 *   corrupt/        records and envelopes that did not parse, kept for a person
 *   tmp/            unlinked scratch files (large messages being received)
 *   audit.log       hold, release, delete and flush, one JSON object a line
 *   owner.lock      flock()ed by the process that writes segments
 *   lock            flock()ed around every change to state/ and dead/
 *
 * Group commit: queue_msg_commit() only queues the message. At the end of the
 * loop turn the turn's commits go to the sync thread as one batch; it
 * appends their records to the current segment and makes them durable with
 * one fdatasync() (plus one directory fsync when it has just started a new
 * segment), then wakes the loop through a pipe, and the loop indexes the
 * entries and runs the callbacks (core/workq does the handing over).
 * Commits arriving while a batch syncs form the next batch. The index (hash
 * by ID, heap by next attempt) and the counters belong to the loop thread
 * alone; the sync thread only touches the batch it was handed and the writer
 * segment.
 *
 * A segment is removed once every entry in it is dead and it is no longer
 * the one being written; its entries' state/ and dead/ files go after it.
 *
 * One writer: the process that holds owner.lock (`relayguard serve`, or a
 * command run while no server runs) is the only one that changes the spool;
 * the others (status) open it shared and only read. `relayguard hold` and
 * `queue` beside a running server ask it through the control API
 * (admin/ctlapi), so no process follows another's changes.
 */
#ifndef RG_QUEUE_QUEUE_INT_H
#define RG_QUEUE_QUEUE_INT_H

#include "queue/queue.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/htab.h"
#include "core/workq.h"
#include "queue/qseg.h"

#include <event2/event.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#define QUEUE_SPILL_AT (256u * 1024) /* content kept in memory up to this */

#define QUEUE_SEG_MAX_DEFAULT (64u * 1024 * 1024)

#define QUEUE_BATCH_DEFAULT 256

struct queue_entry {
	char id[QUEUE_ID_MAX];
	uint32_t seg;
	uint64_t rec_off;
	uint32_t id_len, env_len;
	uint64_t data_len;
	uint64_t arrival_ms, next_attempt_ms;
	unsigned attempts;
	bool held, handed, dead, has_state;
	size_t heap_pos; /* SIZE_MAX: not in the heap */
};

struct queue_seg {
	uint32_t num;
	int fd; /* read-only; -1 until needed */
	uint64_t live;
	struct queue_seg *next;
};

struct queue_msg {
	struct queue *q;
	char id[QUEUE_ID_MAX];
	char *mem;
	size_t mem_len, mem_cap;
	int spill_fd;
	uint64_t size; /* written (memory or spill file); the prefix not counted */
	char *pre;     /* queue_msg_prepend(): goes before the content */
	size_t pre_len;
	bool write_failed;
	/* set at commit */
	struct buf env;
	queue_commit_cb cb;
	void *arg;
	uint64_t arrival_ms, next_attempt_ms;
	bool held;
	int status;
	uint32_t seg;
	uint64_t off;
	struct qseg_rec rec;
	struct queue_msg *next; /* a batch, in queue_batch_write() */
	struct workq_job wq;    /* the turn's list, then the sync thread's */
	unsigned batch_syncs;   /* the first of a batch: the syncs it took */
};

struct queue {
	char dir[PATH_MAX - 64];
	struct event_base *base;
	struct event *ev_kick;
	struct workq *sync; /* the sync thread (core/workq) */
	struct queue_opts opts;
	bool owner;
	int owner_fd;
	/* index (loop thread) */
	struct htab index; /* of queue_entry by id */
	struct queue_entry **heap;
	size_t heap_len, heap_cap;
	struct queue_seg *segs;
	uint32_t gc_below; /* segments below this number are fully indexed */
	uint64_t id_last_ms;
	unsigned id_seq;
	struct workq_job *turn_head, *turn_tail; /* this loop turn's commits */
	char err[256];                           /* queue_error() */
	uint64_t commits, syncs;
	/* the sync thread's (or, without a loop, the caller's) */
	uint32_t wseg; /* the segment being written */
	int wfd, seg_dir_fd;
	uint64_t woff;
	bool wnew;
};

static inline uint64_t queue_now(const struct queue *q)
{
	return q->opts.now_ms ? q->opts.now_ms() : (uint64_t)clock_realtime_ms();
}

/* queue.c */
void queue_set_error(struct queue *q, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
struct queue_entry *queue_live(struct queue *q, const char *id);

/* qdisk.c: the spool on disk and recovery */
int qdisk_path(const struct queue *q, char *out, size_t size, const char *sub, const char *name);
bool qdisk_id_valid(const char *id);
int qdisk_lock(struct queue *q);
void qdisk_unlock(int fd);
int qdisk_seg_fd(struct queue *q, struct queue_seg *s);
void qdisk_gc(struct queue *q);
void qdisk_id_seen(struct queue *q, const char *id);
int qdisk_audit(struct queue *q, const char *action, const char *id, const char *reason,
                const char *actor);
void qdisk_quarantine(struct queue *q, const char *path, const char *id, const char *what,
                      const char *why);
int qdisk_read_env(struct queue *q, struct queue_entry *e, struct queue_envelope *env);
bool qdisk_dead(struct queue *q, const char *id);
int qdisk_write_state(struct queue *q, struct queue_entry *e, const struct queue_envelope *env);
int qdisk_spill_open(struct queue *q);
void qdisk_mark_dead(struct queue *q, const char *id);
int qdisk_scan_segments(struct queue *q, char *err, size_t errlen);
void qdisk_each_file(struct queue *q, const char *sub,
                     void (*fn)(struct queue *q, const char *sub, const char *name));
void qdisk_remove_file(struct queue *q, const char *sub, const char *name);
void qdisk_recover_dead(struct queue *q, const char *sub, const char *name);
void qdisk_recover_state(struct queue *q, const char *sub, const char *name);
int qdisk_mkdirs(const char *dir, char *err, size_t errlen);

/* qindex.c: the index */
struct queue_entry *qindex_find(const struct queue *q, const char *id);
void qindex_insert(struct queue *q, struct queue_entry *e);
void qindex_remove(struct queue *q, struct queue_entry *e);
/* Iteration over the index: pos starts at 0; NULL at the end. The entry
 * returned may be removed, none inserted, while iterating. */
struct queue_entry *qindex_next(const struct queue *q, size_t *pos);
struct queue_seg *qindex_seg(struct queue *q, uint32_t num);
void qindex_summary(struct queue_entry *e, const struct queue_envelope *env);
void qindex_kill(struct queue *q, struct queue_entry *e);

/* qsched.c: the scheduler */
void qsched_remove(struct queue *q, struct queue_entry *e);
void qsched_update(struct queue *q, struct queue_entry *e);

#endif
