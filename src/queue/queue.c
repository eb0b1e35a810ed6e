/*
 * queue - the durable spool; interface and guarantees in queue.h, on-disk
 * format and the durability argument in docs/queue.md.
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
 *   audit.log       hold, release and delete, one JSON object a line
 *   owner.lock      flock()ed by the process that writes segments
 *   lock            flock()ed around every change to state/ and dead/
 *
 * Group commit: queue_msg_commit() only queues the message. At the end of the
 * loop turn the turn's commits go to the sync thread as one batch; it
 * appends their records to the current segment and makes them durable with
 * one fdatasync() (plus one directory fsync when it has just started a new
 * segment), then wakes the loop through a pipe, and the loop indexes the
 * entries and runs the callbacks. Commits arriving while a batch syncs form
 * the next batch. The index (hash by ID, heap by next attempt) belongs to the
 * loop thread alone; the sync thread only touches the batch it was handed,
 * the writer segment and the counters, under q->mu.
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
#include "queue/queue.h"

#include "core/clock.h"
#include "core/fsutil.h"
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

#define QUEUE_SPILL_AT (256u * 1024) /* content kept in memory up to this */
#define QUEUE_SEG_MAX_DEFAULT (64u * 1024 * 1024)
#define QUEUE_BATCH_DEFAULT 256

struct queue_entry {
	char id[QUEUE_ID_MAX];
	struct queue_entry *hnext;
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
	uint64_t size;
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
	struct queue_msg *next;
};

struct queue {
	char dir[PATH_MAX - 64];
	struct event_base *base;
	struct event *ev_pipe, *ev_kick;
	int pipe_fd[2];
	struct queue_opts opts;
	bool owner;
	int owner_fd;
	/* index (loop thread) */
	struct queue_entry **buckets;
	size_t nbuckets, nentries;
	struct queue_entry **heap;
	size_t heap_len, heap_cap;
	struct queue_seg *segs;
	uint32_t gc_below; /* segments below this number are fully indexed */
	uint64_t id_last_ms;
	unsigned id_seq;
	struct queue_msg *turn_head, *turn_tail; /* this loop turn's commits */
	char err[256];                           /* queue_error() */
	/* shared with the sync thread, under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thr;
	bool thr_started, stop;
	struct queue_msg *pend_head, *pend_tail, *done_head, *done_tail;
	uint64_t commits, syncs;
	uint32_t wseg; /* the segment being written */
	/* the sync thread's (or, without a loop, the caller's) */
	int wfd, seg_dir_fd;
	uint64_t woff;
	bool wnew;
};

/* ---- small helpers ---- */

static uint64_t queue_now(const struct queue *q)
{
	return q->opts.now_ms ? q->opts.now_ms() : (uint64_t)clock_realtime_ms();
}

static int queue_path(const struct queue *q, char *out, size_t size, const char *sub,
                      const char *name)
{
	if (name)
		return str_format(out, size, "%s/%s/%s", q->dir, sub, name);
	return str_format(out, size, "%s/%s", q->dir, sub);
}

static bool queue_id_valid(const char *id)
{
	size_t n = strlen(id);
	if (n < 16 || n >= QUEUE_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'A' && id[i] <= 'F')))
			return false;
	return true;
}

static int queue_lock(struct queue *q)
{
	char p[PATH_MAX];
	if (queue_path(q, p, sizeof p, "lock", NULL) < 0)
		return -1;
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("queue: %s: %s", p, strerror(errno));
		return -1;
	}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			log_error("queue: lock %s: %s", p, strerror(errno));
			close(fd);
			return -1;
		}
	}
	return fd;
}

static void queue_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

/* ---- index: hash by ID ---- */

static size_t queue_hash(const char *id)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ULL;
	return (size_t)h;
}

static struct queue_entry *queue_find(const struct queue *q, const char *id)
{
	if (!q->nbuckets)
		return NULL;
	for (struct queue_entry *e = q->buckets[queue_hash(id) & (q->nbuckets - 1)]; e;
	     e = e->hnext)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

static void queue_hash_insert(struct queue *q, struct queue_entry *e)
{
	if (q->nentries + 1 > q->nbuckets) {
		size_t nb = q->nbuckets ? q->nbuckets * 2 : 1024;
		struct queue_entry **b = xcalloc(nb, sizeof *b);
		for (size_t i = 0; i < q->nbuckets; i++)
			for (struct queue_entry *x = q->buckets[i], *nx; x; x = nx) {
				nx = x->hnext;
				size_t h = queue_hash(x->id) & (nb - 1);
				x->hnext = b[h];
				b[h] = x;
			}
		free(q->buckets);
		q->buckets = b;
		q->nbuckets = nb;
	}
	size_t h = queue_hash(e->id) & (q->nbuckets - 1);
	e->hnext = q->buckets[h];
	q->buckets[h] = e;
	q->nentries++;
}

static void queue_hash_remove(struct queue *q, struct queue_entry *e)
{
	struct queue_entry **pp = &q->buckets[queue_hash(e->id) & (q->nbuckets - 1)];
	for (; *pp; pp = &(*pp)->hnext)
		if (*pp == e) {
			*pp = e->hnext;
			q->nentries--;
			return;
		}
}

/* ---- index: heap by (next attempt, ID) ---- */

static bool queue_heap_less(const struct queue_entry *a, const struct queue_entry *b)
{
	if (a->next_attempt_ms != b->next_attempt_ms)
		return a->next_attempt_ms < b->next_attempt_ms;
	return strcmp(a->id, b->id) < 0;
}

static void queue_heap_set(struct queue *q, size_t i, struct queue_entry *e)
{
	q->heap[i] = e;
	e->heap_pos = i;
}

static void queue_heap_up(struct queue *q, size_t i)
{
	struct queue_entry *e = q->heap[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!queue_heap_less(e, q->heap[p]))
			break;
		queue_heap_set(q, i, q->heap[p]);
		i = p;
	}
	queue_heap_set(q, i, e);
}

static void queue_heap_down(struct queue *q, size_t i)
{
	struct queue_entry *e = q->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= q->heap_len)
			break;
		if (c + 1 < q->heap_len && queue_heap_less(q->heap[c + 1], q->heap[c]))
			c++;
		if (!queue_heap_less(q->heap[c], e))
			break;
		queue_heap_set(q, i, q->heap[c]);
		i = c;
	}
	queue_heap_set(q, i, e);
}

static void queue_heap_remove(struct queue *q, struct queue_entry *e)
{
	if (e->heap_pos == SIZE_MAX)
		return;
	size_t i = e->heap_pos;
	e->heap_pos = SIZE_MAX;
	q->heap_len--;
	if (i == q->heap_len)
		return;
	struct queue_entry *m = q->heap[q->heap_len];
	queue_heap_set(q, i, m);
	queue_heap_down(q, i);
	queue_heap_up(q, m->heap_pos);
}

/* Puts e in the heap, or moves it, or takes it out, as its state says. */
static void queue_heap_update(struct queue *q, struct queue_entry *e)
{
	bool want = !e->dead && !e->held && !e->handed;
	if (!want) {
		queue_heap_remove(q, e);
		return;
	}
	if (e->heap_pos != SIZE_MAX) {
		queue_heap_up(q, e->heap_pos);
		queue_heap_down(q, e->heap_pos);
		return;
	}
	if (q->heap_len == q->heap_cap) {
		q->heap_cap = q->heap_cap ? q->heap_cap * 2 : 1024;
		q->heap = xrealloc(q->heap, q->heap_cap * sizeof *q->heap);
	}
	queue_heap_set(q, q->heap_len, e);
	q->heap_len++;
	queue_heap_up(q, e->heap_pos);
}

/* ---- segments ---- */

static struct queue_seg *queue_seg_get(struct queue *q, uint32_t num)
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

static int queue_seg_fd(struct queue *q, struct queue_seg *s)
{
	if (s->fd >= 0)
		return s->fd;
	char name[16], p[PATH_MAX];
	if (str_format(name, sizeof name, "%08" PRIX32, s->num) < 0 ||
	    queue_path(q, p, sizeof p, "seg", name) < 0)
		return -1;
	s->fd = open(p, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0)
		log_error("queue: %s: %s", p, strerror(errno));
	return s->fd;
}

static void queue_entry_set_summary(struct queue_entry *e, const struct queue_envelope *env)
{
	e->arrival_ms = env->arrival_ms;
	e->next_attempt_ms = env->next_attempt_ms;
	e->attempts = env->attempts;
	e->held = env->hold_reason[0] != '\0';
}

static void queue_entry_kill(struct queue *q, struct queue_entry *e)
{
	if (e->dead)
		return;
	e->dead = true;
	e->handed = false;
	queue_heap_remove(q, e);
	struct queue_seg *s = queue_seg_get(q, e->seg);
	if (s->live > 0)
		s->live--;
}

/* Removes every segment that holds no live entry and is fully indexed; then
 * the state/ and dead/ files of its entries (after the segment is gone for
 * good, so a crash in between never brings a finished entry back). */
static void queue_gc(struct queue *q)
{
	if (!q->owner)
		return;
	for (struct queue_seg **pp = &q->segs; *pp;) {
		struct queue_seg *s = *pp;
		if (s->live > 0 || s->num >= q->gc_below) {
			pp = &s->next;
			continue;
		}
		char name[16], p[PATH_MAX];
		if (str_format(name, sizeof name, "%08" PRIX32, s->num) < 0 ||
		    queue_path(q, p, sizeof p, "seg", name) < 0)
			return;
		if (unlink(p) < 0 && errno != ENOENT) {
			log_error("queue: remove %s: %s", p, strerror(errno));
			return;
		}
		if (q->seg_dir_fd >= 0 && q->opts.fsync && fsync(q->seg_dir_fd) < 0)
			log_error("queue: fsync %s/seg: %s", q->dir, strerror(errno));
		log_debug("queue: segment %s removed", name);
		for (size_t i = 0; i < q->nbuckets; i++)
			for (struct queue_entry *e = q->buckets[i], *nx; e; e = nx) {
				nx = e->hnext;
				if (e->seg != s->num)
					continue;
				char f[PATH_MAX];
				if (queue_path(q, f, sizeof f, "dead", e->id) == 0)
					(void)unlink(f);
				if (e->has_state && queue_path(q, f, sizeof f, "state", e->id) == 0)
					(void)unlink(f);
				queue_heap_remove(q, e);
				queue_hash_remove(q, e);
				free(e);
			}
		if (s->fd >= 0)
			close(s->fd);
		*pp = s->next;
		free(s);
	}
}

/* ---- IDs ---- */

/* 12 hex digits of milliseconds and 4 of sequence: sortable by arrival,
 * unique as long as the clock does not go back past the last ID issued. */
static void queue_new_id(struct queue *q, char out[QUEUE_ID_MAX])
{
	uint64_t ms = queue_now(q);
	if (ms < q->id_last_ms)
		ms = q->id_last_ms;
	if (ms == q->id_last_ms) {
		if (++q->id_seq > 0xffff) {
			ms++;
			q->id_seq = 0;
		}
	} else {
		q->id_seq = 0;
	}
	q->id_last_ms = ms;
	(void)str_format(out, QUEUE_ID_MAX, "%012" PRIX64 "%04X", ms & UINT64_C(0xffffffffffff),
	                 q->id_seq);
}

static void queue_id_seen(struct queue *q, const char *id)
{
	uint64_t ms = 0;
	unsigned seq = 0;
	for (int i = 0; i < 12; i++)
		ms = ms * 16 + (uint64_t)(id[i] <= '9' ? id[i] - '0' : id[i] - 'A' + 10);
	for (int i = 12; i < 16; i++)
		seq = seq * 16 + (unsigned)(id[i] <= '9' ? id[i] - '0' : id[i] - 'A' + 10);
	if (ms > q->id_last_ms || (ms == q->id_last_ms && seq > q->id_seq)) {
		q->id_last_ms = ms;
		q->id_seq = seq;
	}
}

/* ---- audit log ---- */

static int queue_audit(struct queue *q, const char *action, const char *id, const char *reason,
                       const char *actor)
{
	char p[PATH_MAX], when[40];
	if (queue_path(q, p, sizeof p, "audit.log", NULL) < 0 ||
	    clock_format_rfc3339((int64_t)queue_now(q), when, sizeof when) < 0)
		return -1;
	json_t *o =
	    json_pack("{s:s, s:s, s:s, s:s, s:s}", "time", when, "actor", actor ? actor : "",
	              "action", action, "id", id, "reason", reason ? reason : "");
	char *line = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	json_decref(o);
	if (!line)
		return -1;
	size_t n = strlen(line);
	line[n] = '\n'; /* json_dumps leaves room: replace the NUL, write n + 1 */
	int rc = -1;
	int fd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0) {
		rc = write(fd, line, n + 1) == (ssize_t)(n + 1) ? 0 : -1;
		if (rc == 0 && q->opts.fsync && fdatasync(fd) < 0)
			rc = -1;
		/* The first line created the file: its directory entry too. */
		struct stat st;
		if (rc == 0 && q->opts.fsync && fstat(fd, &st) == 0 &&
		    (uint64_t)st.st_size == n + 1 && fsutil_fsync_dir(p) < 0)
			rc = -1;
		close(fd);
	}
	if (rc < 0)
		log_error("%s: audit record not written: %s: %s", id, p, strerror(errno));
	free(line);
	return rc;
}

/* ---- reading envelopes ---- */

static int queue_read_file(const char *path, struct buf *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	char chunk[16384];
	for (;;) {
		ssize_t k = read(fd, chunk, sizeof chunk);
		if (k < 0 && errno == EINTR)
			continue;
		bool full = k > 0 && buf_append(out, chunk, (size_t)k) < 0;
		if (k < 0 || full) {
			int saved = full ? EFBIG : errno;
			close(fd);
			errno = saved;
			return -1;
		}
		if (k == 0)
			break;
	}
	close(fd);
	return 0;
}

/* Moves a file that did not parse to corrupt/, where a person can look. */
static void queue_quarantine(struct queue *q, const char *path, const char *id, const char *what,
                             const char *why)
{
	char dst[PATH_MAX], name[QUEUE_ID_MAX + 48];
	if (str_format(name, sizeof name, "%s.%s.%" PRIu64, id, what, queue_now(q)) < 0 ||
	    queue_path(q, dst, sizeof dst, "corrupt", name) < 0)
		return;
	if (rename(path, dst) < 0)
		log_error("%s: corrupt %s not quarantined: %s: %s", id, what, path,
		          strerror(errno));
	else
		log_error("%s: corrupt %s quarantined as %s: %s", id, what, dst, why);
}

static int queue_read_seg_env(struct queue *q, const struct queue_entry *e,
                              struct queue_envelope *env)
{
	struct queue_seg *s = queue_seg_get(q, e->seg);
	int fd = queue_seg_fd(q, s);
	char err[128];
	if (fd < 0)
		return -1;
	char *t = xmalloc(e->env_len + 1UL);
	ssize_t k = pread(fd, t, e->env_len, (off_t)(e->rec_off + QSEG_HDR_LEN + e->id_len));
	int rc = -1;
	if (k != (ssize_t)e->env_len)
		log_error("%s: envelope unreadable: %s", e->id,
		          k < 0 ? strerror(errno) : "short read");
	else if (qenv_parse(t, e->env_len, env, err, sizeof err) < 0)
		log_error("%s: envelope in segment %08" PRIX32 " does not parse: %s", e->id, e->seg,
		          err);
	else
		rc = 0;
	free(t);
	return rc;
}

/* The envelope of e as it is on disk now: state/ID when there is one (a
 * corrupt one is quarantined), else the copy in the segment. 0 or -1. */
static int queue_read_env(struct queue *q, struct queue_entry *e, struct queue_envelope *env)
{
	char p[PATH_MAX], err[128];
	if (queue_path(q, p, sizeof p, "state", e->id) < 0)
		return -1;
	struct buf b;
	buf_init(&b, QENV_TEXT_MAX);
	int got = queue_read_file(p, &b);
	if (got < 0 && errno != ENOENT && errno != EFBIG) {
		log_error("%s: %s: %s", e->id, p, strerror(errno));
		buf_free(&b);
		return -1;
	}
	if (got < 0 && errno == EFBIG) {
		buf_free(&b);
		queue_quarantine(q, p, e->id, "state", "larger than any envelope");
	} else if (got == 0) {
		int rc = qenv_parse(b.data ? b.data : "", b.len, env, err, sizeof err);
		buf_free(&b);
		if (rc == 0 && strcmp(env->id, e->id) == 0) {
			e->has_state = true;
			return 0;
		}
		if (rc == 0) {
			qenv_free(env);
			(void)str_copy(err, sizeof err, "ID in the file is another");
		}
		queue_quarantine(q, p, e->id, "state", err);
	} else {
		buf_free(&b);
	}
	e->has_state = false;
	return queue_read_seg_env(q, e, env);
}

static bool queue_dead_on_disk(struct queue *q, const char *id)
{
	char p[PATH_MAX];
	return queue_path(q, p, sizeof p, "dead", id) == 0 && access(p, F_OK) == 0;
}

/* Writes state/ID atomically (fsync'ed, directory too). 0 or -1. */
static int queue_write_state(struct queue *q, struct queue_entry *e,
                             const struct queue_envelope *env)
{
	char p[PATH_MAX], err[256];
	struct buf b;
	buf_init(&b, QENV_TEXT_MAX);
	int rc = -1;
	if (queue_path(q, p, sizeof p, "state", e->id) < 0 || qenv_format(env, &b) < 0)
		log_error("%s: envelope too large to save", e->id);
	else if (fsutil_write_atomic(p, b.data, b.len, 0600, err, sizeof err) < 0)
		log_error("%s: envelope not saved: %s", e->id, err);
	else
		rc = 0;
	buf_free(&b);
	if (rc == 0)
		e->has_state = true;
	return rc;
}

/* ---- receiving ---- */

struct queue_msg *queue_msg_new(struct queue *q)
{
	if (!q->owner) {
		log_error("queue: %s: another process owns the spool: cannot receive", q->dir);
		return NULL;
	}
	struct queue_msg *m = xcalloc(1, sizeof *m);
	m->q = q;
	m->spill_fd = -1;
	queue_new_id(q, m->id);
	buf_init(&m->env, QENV_TEXT_MAX);
	return m;
}

const char *queue_msg_id(const struct queue_msg *m)
{
	return m->id;
}

static void queue_msg_free(struct queue_msg *m)
{
	if (m->spill_fd >= 0)
		close(m->spill_fd);
	free(m->mem);
	buf_free(&m->env);
	free(m);
}

/* An unlinked scratch file in tmp/ for content too large to keep in memory. */
static int queue_spill_open(struct queue *q)
{
	char p[PATH_MAX];
	if (queue_path(q, p, sizeof p, "tmp", NULL) < 0)
		return -1;
	int fd = open(p, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	if (queue_path(q, p, sizeof p, "tmp", "spill.XXXXXX") < 0)
		return -1;
	fd = mkostemp(p, O_CLOEXEC);
	if (fd >= 0)
		(void)unlink(p);
	return fd;
}

int queue_msg_write(struct queue_msg *m, const void *p, size_t n)
{
	if (m->write_failed)
		return -1;
	if (n == 0)
		return 0;
	if (m->spill_fd < 0 && m->mem_len + n <= QUEUE_SPILL_AT) {
		if (m->mem_len + n > m->mem_cap) {
			size_t cap = m->mem_cap ? m->mem_cap : 4096;
			while (cap < m->mem_len + n)
				cap *= 2;
			m->mem = xrealloc(m->mem, cap);
			m->mem_cap = cap;
		}
		memcpy(m->mem + m->mem_len, p, n);
		m->mem_len += n;
		m->size += n;
		return 0;
	}
	if (m->spill_fd < 0) {
		m->spill_fd = queue_spill_open(m->q);
		if (m->spill_fd < 0 ||
		    (m->mem_len && qseg_pwrite_all(m->spill_fd, m->mem, m->mem_len, 0) < 0))
			goto fail;
		free(m->mem);
		m->mem = NULL;
		m->mem_len = m->mem_cap = 0;
	}
	if (qseg_pwrite_all(m->spill_fd, p, n, m->size) < 0)
		goto fail;
	m->size += n;
	return 0;
fail:
	log_error("%s: content not written: %s/tmp: %s", m->id, m->q->dir, strerror(errno));
	m->write_failed = true;
	return -1;
}

void queue_msg_abort(struct queue_msg *m)
{
	if (m)
		queue_msg_free(m);
}

/* Starts a new writer segment (the old one is only closed). 0 or -1. */
static int queue_seg_rotate(struct queue *q)
{
	if (q->wfd >= 0) {
		close(q->wfd);
		q->wfd = -1;
	}
	char name[16], p[PATH_MAX];
	uint32_t num = q->wseg + 1;
	if (str_format(name, sizeof name, "%08" PRIX32, num) < 0 ||
	    queue_path(q, p, sizeof p, "seg", name) < 0)
		return -1;
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("queue: create %s: %s", p, strerror(errno));
		return -1;
	}
	if (qseg_pwrite_all(fd, QSEG_MAGIC, QSEG_MAGIC_LEN, 0) < 0) {
		log_error("queue: write %s: %s", p, strerror(errno));
		close(fd);
		(void)unlink(p);
		return -1;
	}
	q->wfd = fd;
	q->wseg = num;
	q->woff = QSEG_MAGIC_LEN;
	q->wnew = true;
	return 0;
}

/* Appends one record: body first, then the trailer, the header last, so the
 * CRC of spilled content is known when the header is written. 0 or -1. */
static int queue_rec_append(struct queue *q, struct queue_msg *m)
{
	struct qseg_rec *r = &m->rec;
	r->id_len = (uint32_t)strlen(m->id);
	r->env_len = (uint32_t)m->env.len;
	r->data_len = m->size;
	uint64_t off = q->woff, pos = off + QSEG_HDR_LEN;
	uint32_t crc = qseg_crc(0, m->id, r->id_len);
	crc = qseg_crc(crc, m->env.data, m->env.len);
	struct iovec iov[3] = {{m->id, r->id_len}, {m->env.data, m->env.len}, {m->mem, m->mem_len}};
	size_t want = r->id_len + m->env.len + m->mem_len;
	ssize_t k = pwritev(q->wfd, iov, 3, (off_t)pos);
	if (k != (ssize_t)want) {
		/* Short or failed: redo it the plain way, which retries. */
		if (qseg_pwrite_all(q->wfd, m->id, r->id_len, pos) < 0 ||
		    qseg_pwrite_all(q->wfd, m->env.data, m->env.len, pos + r->id_len) < 0 ||
		    (m->mem_len &&
		     qseg_pwrite_all(q->wfd, m->mem, m->mem_len, pos + r->id_len + m->env.len) < 0))
			return -1;
	}
	crc = qseg_crc(crc, m->mem, m->mem_len);
	pos += want;
	if (m->spill_fd >= 0) {
		char chunk[65536];
		for (uint64_t s = 0; s < m->size;) {
			size_t n =
			    m->size - s > sizeof chunk ? sizeof chunk : (size_t)(m->size - s);
			ssize_t g = pread(m->spill_fd, chunk, n, (off_t)s);
			if (g < 0 && errno == EINTR)
				continue;
			if (g <= 0) {
				if (g == 0)
					errno = EIO;
				return -1;
			}
			if (qseg_pwrite_all(q->wfd, chunk, (size_t)g, pos) < 0)
				return -1;
			crc = qseg_crc(crc, chunk, (size_t)g);
			pos += (uint64_t)g;
			s += (uint64_t)g;
		}
	}
	r->body_crc = crc;
	unsigned char hdr[QSEG_HDR_LEN], tr[QSEG_TRAILER_LEN];
	qseg_trailer_make(tr, crc);
	qseg_header_make(hdr, r);
	if (qseg_pwrite_all(q->wfd, tr, sizeof tr, pos) < 0 ||
	    qseg_pwrite_all(q->wfd, hdr, sizeof hdr, off) < 0)
		return -1;
	m->seg = q->wseg;
	m->off = off;
	q->woff = pos + QSEG_TRAILER_LEN;
	return 0;
}

static void queue_mark_dead_file(struct queue *q, const char *id)
{
	char p[PATH_MAX];
	if (queue_path(q, p, sizeof p, "dead", id) < 0)
		return;
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
}

/* Writes a batch and makes it durable. Runs in the sync thread (or in the
 * caller without a loop). Sets each message's status; returns the syncs. */
static unsigned queue_batch_write(struct queue *q, struct queue_msg *batch)
{
	unsigned syncs = 0;
	bool any = false;
	int rc = 0;
	const char *what = "write";
	if (q->wfd < 0 || q->woff >= q->opts.seg_max) {
		if (queue_seg_rotate(q) < 0) {
			for (struct queue_msg *m = batch; m; m = m->next)
				m->status = -1;
			return 0;
		}
	}
	uint64_t start = q->woff;
	for (struct queue_msg *m = batch; m; m = m->next) {
		if (m->status < 0)
			continue;
		if (queue_rec_append(q, m) < 0) {
			rc = -1;
			break;
		}
		any = true;
	}
	if (rc == 0 && any && q->opts.fsync) {
		if ((q->opts.datasync ? q->opts.datasync(q->wfd) : fdatasync(q->wfd)) < 0) {
			rc = -1;
			what = "fdatasync";
		} else {
			syncs++;
		}
		if (rc == 0 && q->wnew) {
			if (fsync(q->seg_dir_fd) < 0) {
				rc = -1;
				what = "fsync of seg/";
			} else {
				syncs++;
			}
		}
	}
	if (rc == 0 && any)
		q->wnew = false;
	if (rc < 0) {
		int saved = errno;
		unsigned n = 0;
		for (struct queue_msg *m = batch; m; m = m->next)
			if (m->status == 0) {
				n++;
				m->status = -1;
			}
		for (struct queue_msg *m = batch; m; m = m->next)
			log_error("%s: not queued: segment %08" PRIX32 ": %s: %s", m->id, q->wseg,
			          what, strerror(saved));
		log_error("queue: segment %08" PRIX32 ": %s failed: %u messages not queued",
		          q->wseg, what, n);
		/* Take the records back; if that fails too, mark them dead so a
		 * restart does not deliver what the clients were told was not
		 * queued. The next batch goes to a fresh segment either way. */
		if (ftruncate(q->wfd, (off_t)start) < 0)
			for (struct queue_msg *m = batch; m; m = m->next)
				queue_mark_dead_file(q, m->id);
		close(q->wfd);
		q->wfd = -1;
	}
	return syncs;
}

static void queue_finish(struct queue *q, struct queue_msg *m)
{
	if (m->status == 0) {
		struct queue_entry *e = xcalloc(1, sizeof *e);
		(void)str_copy(e->id, sizeof e->id, m->id);
		e->seg = m->seg;
		e->rec_off = m->off;
		e->id_len = m->rec.id_len;
		e->env_len = m->rec.env_len;
		e->data_len = m->rec.data_len;
		e->arrival_ms = m->arrival_ms;
		e->next_attempt_ms = m->next_attempt_ms;
		e->held = m->held;
		e->heap_pos = SIZE_MAX;
		queue_hash_insert(q, e);
		queue_seg_get(q, e->seg)->live++;
		if (m->seg > q->gc_below)
			q->gc_below = m->seg;
		queue_heap_update(q, e);
		log_info("%s: queued size=%" PRIu64 "%s", m->id, m->size, m->held ? " held" : "");
	}
	if (m->cb)
		m->cb(m->arg, m->status, m->id);
	queue_msg_free(m);
}

static void *queue_sync_main(void *arg)
{
	struct queue *q = arg;
	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (!q->pend_head && !q->stop)
			pthread_cond_wait(&q->cv, &q->mu);
		if (!q->pend_head)
			break;
		struct queue_msg *batch = q->pend_head, *last = batch;
		for (unsigned n = 1; n < q->opts.batch_max && last->next; n++)
			last = last->next;
		q->pend_head = last->next;
		if (!q->pend_head)
			q->pend_tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&q->mu);
		unsigned syncs = queue_batch_write(q, batch);
		pthread_mutex_lock(&q->mu);
		q->syncs += syncs;
		for (struct queue_msg *m = batch; m; m = m->next)
			q->commits += m->status == 0;
		if (q->done_tail)
			q->done_tail->next = batch;
		else
			q->done_head = batch;
		q->done_tail = last;
		pthread_mutex_unlock(&q->mu);
		ssize_t w;
		do
			w = write(q->pipe_fd[1], "x", 1);
		while (w < 0 && errno == EINTR);
		pthread_mutex_lock(&q->mu);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

/* The loop side of the pipe: index the durable entries, run the callbacks. */
static void queue_on_done(evutil_socket_t fd, short what, void *arg)
{
	struct queue *q = arg;
	char drain[256];
	while (read(fd, drain, sizeof drain) > 0)
		;
	pthread_mutex_lock(&q->mu);
	struct queue_msg *m = q->done_head;
	q->done_head = q->done_tail = NULL;
	pthread_mutex_unlock(&q->mu);
	while (m) {
		struct queue_msg *nx = m->next;
		queue_finish(q, m);
		m = nx;
	}
}

/* End of the loop turn: this turn's commits go to the sync thread together. */
static void queue_on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct queue *q = arg;
	if (!q->turn_head)
		return;
	pthread_mutex_lock(&q->mu);
	if (q->pend_tail)
		q->pend_tail->next = q->turn_head;
	else
		q->pend_head = q->turn_head;
	q->pend_tail = q->turn_tail;
	q->turn_head = q->turn_tail = NULL;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

void queue_msg_commit(struct queue_msg *m, const struct queue_envelope *env, queue_commit_cb cb,
                      void *arg)
{
	struct queue *q = m->q;
	m->cb = cb;
	m->arg = arg;
	struct queue_envelope e = *env; /* shallow: recipients only read */
	(void)str_copy(e.id, sizeof e.id, m->id);
	e.arrival_ms = queue_now(q);
	e.size = m->size;
	m->arrival_ms = e.arrival_ms;
	m->next_attempt_ms = e.next_attempt_ms;
	m->held = e.hold_reason[0] != '\0';
	if (m->write_failed) {
		m->status = -1;
	} else if (env->nrcpt == 0 || env->nrcpt > QUEUE_RCPT_MAX || !env->rcpt) {
		log_error("%s: not queued: %u recipients", m->id, env->nrcpt);
		m->status = -1;
	} else if (qenv_format(&e, &m->env) < 0) {
		log_error("%s: not queued: envelope too large", m->id);
		m->status = -1;
	}
	if (!q->base) {
		if (m->status == 0) {
			unsigned syncs = queue_batch_write(q, m);
			q->syncs += syncs;
			q->commits += m->status == 0;
		}
		queue_finish(q, m);
		return;
	}
	m->next = NULL;
	if (q->turn_tail)
		q->turn_tail->next = m;
	else
		q->turn_head = m;
	q->turn_tail = m;
	event_active(q->ev_kick, EV_TIMEOUT, 0);
}

/* ---- recovery ---- */

/* Copies len bytes at off of fd into corrupt/NAME for a person to look at. */
static void queue_copy_to_corrupt(struct queue *q, int fd, uint64_t off, uint64_t len,
                                  const char *name)
{
	char p[PATH_MAX];
	if (!q->owner || queue_path(q, p, sizeof p, "corrupt", name) < 0)
		return;
	/* O_EXCL: copied once, not again at every start. */
	int out = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0 && errno == EEXIST)
		return;
	if (out < 0 || qseg_copy(fd, off, out, 0, len) < 0 || (q->opts.fsync && fsync(out) < 0))
		log_error("queue: %s: %s", p, strerror(errno));
	if (out >= 0)
		close(out);
}

static void queue_index_record(struct queue *q, struct queue_seg *s, uint64_t off,
                               const struct qseg_rec *r, const char *id, const struct buf *text)
{
	struct queue_envelope env;
	char err[128], name[QUEUE_ID_MAX + 48];
	if (!queue_id_valid(id)) {
		(void)str_copy(err, sizeof err, "bad queue ID");
	} else if (qenv_parse(text->data ? text->data : "", text->len, &env, err, sizeof err) ==
	           0) {
		if (strcmp(env.id, id) == 0 && env.nrcpt > 0)
			goto good;
		(void)str_copy(err, sizeof err,
		               env.nrcpt ? "ID differs from the record's" : "no recipients");
		qenv_free(&env);
	}
	if (str_format(name, sizeof name, "seg-%08" PRIX32 "-%" PRIu64 ".record", s->num, off) == 0)
		queue_copy_to_corrupt(q, s->fd, off, qseg_rec_len(r), name);
	log_error("%s: envelope corrupt (segment %08" PRIX32 " offset %" PRIu64
	          "): %s; not queued%s",
	          queue_id_valid(id) ? id : "queue", s->num, off, err,
	          q->owner ? ", record copied to corrupt/" : "");
	return;
good:
	if (queue_find(q, id)) {
		log_error("%s: second record in segment %08" PRIX32 " ignored", id, s->num);
		qenv_free(&env);
		return;
	}
	struct queue_entry *e = xcalloc(1, sizeof *e);
	(void)str_copy(e->id, sizeof e->id, id);
	e->seg = s->num;
	e->rec_off = off;
	e->id_len = r->id_len;
	e->env_len = r->env_len;
	e->data_len = r->data_len;
	e->heap_pos = SIZE_MAX;
	queue_entry_set_summary(e, &env);
	qenv_free(&env);
	queue_hash_insert(q, e);
	s->live++;
	queue_id_seen(q, id);
}

/* The offset of the next intact record after off, 0 when there is none. */
static uint64_t queue_next_record(int fd, uint64_t off, uint64_t size)
{
	char chunk[65536];
	for (uint64_t base = off; base < size;) {
		ssize_t k = pread(fd, chunk, sizeof chunk, (off_t)base);
		if (k <= 3)
			return 0;
		for (ssize_t i = 0; i + 3 < k; i++) {
			if (memcmp(chunk + i, "RGQR", 4) != 0)
				continue;
			struct qseg_rec r;
			char id[QUEUE_ID_MAX], err[64];
			if (qseg_read(fd, base + (uint64_t)i, size, &r, id, sizeof id, NULL, err,
			              sizeof err) == 0)
				return base + (uint64_t)i;
		}
		base += (uint64_t)k - 3;
	}
	return 0;
}

static void queue_scan_segment(struct queue *q, uint32_t num, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char magic[QSEG_MAGIC_LEN];
	if (fd < 0 || fstat(fd, &st) < 0) {
		log_error("queue: %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	uint64_t size = (uint64_t)st.st_size;
	if (size < QSEG_MAGIC_LEN || pread(fd, magic, sizeof magic, 0) != (ssize_t)sizeof magic ||
	    memcmp(magic, QSEG_MAGIC, QSEG_MAGIC_LEN) != 0) {
		close(fd);
		if (size < QSEG_MAGIC_LEN && q->owner) {
			log_warn("queue: %s: empty segment (creation interrupted) removed", path);
			(void)unlink(path);
		} else if (q->owner) {
			queue_quarantine(q, path, "segment", "segment", "not a segment file");
		}
		return;
	}
	struct queue_seg *s = queue_seg_get(q, num);
	s->fd = fd;
	struct buf text;
	buf_init(&text, QSEG_ENV_MAX);
	uint64_t off = QSEG_MAGIC_LEN;
	while (off < size) {
		struct qseg_rec r;
		char id[QUEUE_ID_MAX], err[128];
		buf_reset(&text);
		if (qseg_read(fd, off, size, &r, id, sizeof id, &text, err, sizeof err) == 0) {
			queue_index_record(q, s, off, &r, id, &text);
			off += qseg_rec_len(&r);
			continue;
		}
		uint64_t next = queue_next_record(fd, off + 1, size);
		if (next == 0) {
			/* A torn append: the crash came before its sync, so no client
			 * was told it was queued. */
			if (!q->owner) {
				/* Maybe being appended by the owner right now. */
				log_debug("%s: incomplete record at the end of segment %08" PRIX32,
				          id[0] ? id : "queue", num);
				break;
			}
			log_warn("%s: partial entry removed (segment %08" PRIX32 " offset %" PRIu64
			         ": %s)",
			         id[0] ? id : "queue", num, off, err);
			if (truncate(path, (off_t)off) < 0)
				log_error("queue: truncate %s: %s", path, strerror(errno));
			break;
		}
		char name[64];
		if (str_format(name, sizeof name, "seg-%08" PRIX32 "-%" PRIu64 ".bad", num, off) ==
		    0)
			queue_copy_to_corrupt(q, fd, off, next - off, name);
		log_error("%s: corrupt bytes %" PRIu64 "-%" PRIu64 " in segment %08" PRIX32
		          " skipped (%s)%s",
		          id[0] ? id : "queue", off, next, num, err,
		          q->owner ? ", copied to corrupt/" : "");
		off = next;
	}
	buf_free(&text);
}

static int queue_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int queue_scan_segments(struct queue *q, char *err, size_t errlen)
{
	char p[PATH_MAX];
	if (queue_path(q, p, sizeof p, "seg", NULL) < 0)
		return -1;
	DIR *d = opendir(p);
	if (!d) {
		(void)str_format(err, errlen, "%s: %s", p, strerror(errno));
		return -1;
	}
	uint32_t *nums = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		uint64_t v = 0;
		size_t len = strlen(de->d_name);
		bool ok = len == 8;
		for (size_t i = 0; ok && i < len; i++) {
			char c = de->d_name[i];
			if (c >= '0' && c <= '9')
				v = v * 16 + (uint64_t)(c - '0');
			else if (c >= 'A' && c <= 'F')
				v = v * 16 + (uint64_t)(c - 'A' + 10);
			else
				ok = false;
		}
		if (!ok || v == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			nums = xrealloc(nums, cap * sizeof *nums);
		}
		nums[n++] = (uint32_t)v;
	}
	closedir(d);
	if (n)
		qsort(nums, n, sizeof *nums, queue_cmp_u32);
	for (size_t i = 0; i < n; i++) {
		char name[16], f[PATH_MAX];
		if (str_format(name, sizeof name, "%08" PRIX32, nums[i]) < 0 ||
		    queue_path(q, f, sizeof f, "seg", name) < 0)
			continue;
		queue_scan_segment(q, nums[i], f);
		if (nums[i] > q->wseg)
			q->wseg = nums[i];
	}
	free(nums);
	return 0;
}

/* Calls fn for every name in DIR/sub that is not "." or "..". */
static void queue_each_file(struct queue *q, const char *sub,
                            void (*fn)(struct queue *q, const char *sub, const char *name))
{
	char p[PATH_MAX];
	if (queue_path(q, p, sizeof p, sub, NULL) < 0)
		return;
	DIR *d = opendir(p);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, ".."))
			fn(q, sub, de->d_name);
	closedir(d);
}

static void queue_remove_file(struct queue *q, const char *sub, const char *name)
{
	char p[PATH_MAX];
	if (q->owner && queue_path(q, p, sizeof p, sub, name) == 0 && unlink(p) < 0)
		log_error("queue: remove %s: %s", p, strerror(errno));
}

static void queue_recover_dead(struct queue *q, const char *sub, const char *name)
{
	struct queue_entry *e = queue_find(q, name);
	if (e)
		queue_entry_kill(q, e);
	else
		queue_remove_file(q, sub, name); /* its segment is gone already */
}

static void queue_recover_state(struct queue *q, const char *sub, const char *name)
{
	struct queue_entry *e = queue_find(q, name);
	if (name[0] == '.' || !e) {
		/* A replacement interrupted before its rename, or an entry whose
		 * segment is gone. */
		if (name[0] == '.')
			log_warn("queue: %s/%s: interrupted envelope update removed", sub, name);
		queue_remove_file(q, sub, name);
		return;
	}
	e->has_state = true;
	if (e->dead)
		return;
	struct queue_envelope env;
	if (queue_read_env(q, e, &env) == 0) {
		queue_entry_set_summary(e, &env);
		qenv_free(&env);
	}
}

static int queue_mkdirs(const char *dir, char *err, size_t errlen)
{
	char p[PATH_MAX];
	if (str_copy(p, sizeof p, dir) < 0) {
		(void)str_format(err, errlen, "%s: name too long", dir);
		return -1;
	}
	for (char *s = p + 1;; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, 0700) < 0 && errno != EEXIST) {
				(void)str_format(err, errlen, "%s: %s", p, strerror(errno));
				return -1;
			}
			*s = c;
			if (c == '\0')
				break;
		}
	}
	return 0;
}

int queue_open(struct queue **qp, const char *dir, struct event_base *base,
               const struct queue_opts *opts, char *err, size_t errlen)
{
	*qp = NULL;
	struct queue *q = xcalloc(1, sizeof *q);
	q->opts.fsync = true;
	if (opts)
		q->opts = *opts;
	if (!q->opts.batch_max)
		q->opts.batch_max = QUEUE_BATCH_DEFAULT;
	if (!q->opts.seg_max)
		q->opts.seg_max = QUEUE_SEG_MAX_DEFAULT;
	q->base = base;
	q->owner_fd = q->wfd = q->seg_dir_fd = -1;
	q->pipe_fd[0] = q->pipe_fd[1] = -1;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	static const char *const subs[] = {"seg", "state", "dead", "tmp", "corrupt"};
	char p[PATH_MAX];
	if (str_copy(q->dir, sizeof q->dir, dir) < 0 || dir[0] == '\0') {
		(void)str_format(err, errlen, "%s: spool directory name too long", dir);
		goto fail;
	}
	for (size_t n = strlen(q->dir); n > 1 && q->dir[n - 1] == '/'; n--)
		q->dir[n - 1] = '\0';
	dir = q->dir;
	if (queue_mkdirs(dir, err, errlen) < 0)
		goto fail;
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
		if (queue_path(q, p, sizeof p, subs[i], NULL) < 0 ||
		    (mkdir(p, 0700) < 0 && errno != EEXIST)) {
			(void)str_format(err, errlen, "%s: %s", p, strerror(errno));
			goto fail;
		}
	if (queue_path(q, p, sizeof p, "owner.lock", NULL) < 0 ||
	    (q->owner_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		(void)str_format(err, errlen, "%s: %s", p, strerror(errno));
		goto fail;
	}
	if (!q->opts.shared && flock(q->owner_fd, LOCK_EX | LOCK_NB) == 0) {
		q->owner = true;
	} else if (base || !q->opts.shared) {
		(void)str_format(err, errlen, "%s: the spool is in use by another process", dir);
		goto fail;
	}
	if (queue_path(q, p, sizeof p, "seg", NULL) < 0 ||
	    (q->seg_dir_fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		(void)str_format(err, errlen, "%s: %s", p, strerror(errno));
		goto fail;
	}
	if (q->owner && q->opts.fsync) {
		/* The directories themselves, once: a spool created just now must
		 * not vanish in a power loss after its first 250. */
		char self[PATH_MAX];
		if (str_format(self, sizeof self, "%s/", dir) < 0 || fsutil_fsync_dir(self) < 0 ||
		    fsutil_fsync_dir(dir) < 0) {
			(void)str_format(err, errlen, "%s: fsync: %s", dir, strerror(errno));
			goto fail;
		}
	}
	if (q->owner)
		queue_each_file(q, "tmp", queue_remove_file);
	if (queue_scan_segments(q, err, errlen) < 0)
		goto fail;
	queue_each_file(q, "dead", queue_recover_dead);
	queue_each_file(q, "state", queue_recover_state);
	for (size_t i = 0; i < q->nbuckets; i++)
		for (struct queue_entry *e = q->buckets[i]; e; e = e->hnext)
			queue_heap_update(q, e);
	q->gc_below = q->wseg + 1;
	queue_gc(q);
	if (base) {
		if (pipe2(q->pipe_fd, O_NONBLOCK | O_CLOEXEC) < 0) {
			(void)str_format(err, errlen, "pipe: %s", strerror(errno));
			goto fail;
		}
		q->ev_pipe = event_new(base, q->pipe_fd[0], EV_READ | EV_PERSIST, queue_on_done, q);
		q->ev_kick = event_new(base, -1, 0, queue_on_kick, q);
		if (!q->ev_pipe || !q->ev_kick || event_add(q->ev_pipe, NULL) < 0) {
			(void)str_format(err, errlen, "cannot set up the commit events");
			goto fail;
		}
		if (pthread_create(&q->thr, NULL, queue_sync_main, q) != 0) {
			(void)str_format(err, errlen, "cannot start the sync thread");
			goto fail;
		}
		q->thr_started = true;
	}
	if (!q->opts.fsync && q->owner)
		log_warn("queue: %s: fsync is off: a crash or power loss can lose mail "
		         "(tests and benches only)",
		         dir);
	struct queue_stats qs;
	queue_stats(q, &qs);
	log_info("queue: %s: %" PRIu64 " active, %" PRIu64 " held%s", dir, qs.active, qs.held,
	         q->owner ? "" : " (shared)");
	*qp = q;
	return 0;
fail:
	queue_close(q);
	return -1;
}

void queue_close(struct queue *q)
{
	if (!q)
		return;
	if (q->thr_started) {
		queue_on_kick(-1, 0, q);
		pthread_mutex_lock(&q->mu);
		q->stop = true;
		pthread_cond_signal(&q->cv);
		pthread_mutex_unlock(&q->mu);
		pthread_join(q->thr, NULL);
		queue_on_done(q->pipe_fd[0], 0, q); /* every callback runs exactly once */
	}
	if (q->ev_pipe)
		event_free(q->ev_pipe);
	if (q->ev_kick)
		event_free(q->ev_kick);
	for (int i = 0; i < 2; i++)
		if (q->pipe_fd[i] >= 0)
			close(q->pipe_fd[i]);
	if (q->wfd >= 0)
		close(q->wfd);
	if (q->seg_dir_fd >= 0)
		close(q->seg_dir_fd);
	if (q->owner_fd >= 0)
		close(q->owner_fd);
	for (size_t i = 0; i < q->nbuckets; i++)
		for (struct queue_entry *e = q->buckets[i], *nx; e; e = nx) {
			nx = e->hnext;
			free(e);
		}
	free(q->buckets);
	free(q->heap);
	for (struct queue_seg *s = q->segs, *nx; s; s = nx) {
		nx = s->next;
		if (s->fd >= 0)
			close(s->fd);
		free(s);
	}
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q);
}

void queue_stats(const struct queue *q, struct queue_stats *out)
{
	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < q->nbuckets; i++)
		for (const struct queue_entry *e = q->buckets[i]; e; e = e->hnext) {
			if (e->dead)
				continue;
			if (e->held)
				out->held++;
			else
				out->active++;
			if (!e->held && e->attempts > 0)
				out->deferred++;
			out->bytes += e->data_len;
			if (!out->oldest_arrival_ms || e->arrival_ms < out->oldest_arrival_ms)
				out->oldest_arrival_ms = e->arrival_ms;
		}
	pthread_mutex_t *mu = (pthread_mutex_t *)&q->mu;
	pthread_mutex_lock(mu);
	out->commits = q->commits;
	out->syncs = q->syncs;
	pthread_mutex_unlock(mu);
}

/* ---- delivery ---- */

static void queue_set_error(struct queue *q, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void queue_set_error(struct queue *q, const char *id, const char *fmt, ...)
{
	va_list ap;
	char what[200];
	va_start(ap, fmt);
	(void)vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	(void)str_format(q->err, sizeof q->err, "%s: %s", id, what);
	log_info("%s: %s", id, what);
}

const char *queue_error(const struct queue *q)
{
	return q->err;
}

int queue_next_due(struct queue *q, uint64_t now_ms, char id[QUEUE_ID_MAX])
{
	if (q->heap_len == 0 || q->heap[0]->next_attempt_ms > now_ms)
		return 0;
	struct queue_entry *e = q->heap[0];
	e->handed = true;
	queue_heap_remove(q, e);
	(void)str_copy(id, QUEUE_ID_MAX, e->id);
	return 1;
}

static struct queue_entry *queue_live(struct queue *q, const char *id)
{
	struct queue_entry *e = id ? queue_find(q, id) : NULL;
	if (!e || e->dead) {
		queue_set_error(q, id && queue_id_valid(id) ? id : "queue", "no such entry");
		return NULL;
	}
	return e;
}

int queue_entry_load(struct queue *q, const char *id, struct queue_envelope *env)
{
	memset(env, 0, sizeof *env);
	struct queue_entry *e = queue_live(q, id);
	if (!e)
		return -1;
	return queue_read_env(q, e, env);
}

void queue_envelope_free(struct queue_envelope *env)
{
	qenv_free(env);
}

int queue_entry_open_content(struct queue *q, const char *id)
{
	struct queue_entry *e = queue_live(q, id);
	if (!e)
		return -1;
	int in = queue_seg_fd(q, queue_seg_get(q, e->seg));
	int out = queue_spill_open(q);
	if (in < 0 || out < 0 ||
	    qseg_copy(in, e->rec_off + QSEG_HDR_LEN + e->id_len + e->env_len, out, 0, e->data_len) <
	        0 ||
	    lseek(out, 0, SEEK_SET) < 0) {
		log_error("%s: content unreadable: %s", e->id, strerror(errno));
		if (out >= 0)
			close(out);
		return -1;
	}
	return out;
}

int queue_entry_put(struct queue *q, const struct queue_envelope *env)
{
	struct queue_entry *e = queue_live(q, env->id);
	if (!e)
		return -1;
	int lk = queue_lock(q);
	if (lk < 0)
		return -1;
	int rc = 0;
	if (queue_dead_on_disk(q, e->id)) {
		queue_unlock(lk);
		queue_entry_kill(q, e);
		log_info("%s: deleted by another process while being delivered", e->id);
		queue_gc(q);
		return 0;
	}
	struct queue_envelope w = *env, disk;
	if (queue_read_env(q, e, &disk) == 0) {
		/* What the queue set at commit stays; a hold set meanwhile (by
		 * `relayguard hold`) wins over the caller's copy. */
		w.arrival_ms = disk.arrival_ms;
		w.size = disk.size;
		if (disk.hold_reason[0])
			(void)str_copy(w.hold_reason, sizeof w.hold_reason, disk.hold_reason);
		qenv_free(&disk);
	}
	if (w.nrcpt > QUEUE_RCPT_MAX || (w.nrcpt && !w.rcpt) || queue_write_state(q, e, &w) < 0)
		rc = -1;
	queue_unlock(lk);
	e->handed = false;
	if (rc == 0)
		queue_entry_set_summary(e, &w);
	queue_heap_update(q, e);
	return rc;
}

int queue_entry_done(struct queue *q, const char *id)
{
	struct queue_entry *e = id ? queue_find(q, id) : NULL;
	if (!e) {
		/* Deleted by a person while it was being delivered, and collected. */
		log_info("%s: done, but already removed", id ? id : "queue");
		return 0;
	}
	if (e->dead)
		return 0;
	char p[PATH_MAX];
	/* No fsync: a crash before the marker is on disk means one more
	 * delivery, never a loss (Postfix does not sync its DONE marks either). */
	int fd = queue_path(q, p, sizeof p, "dead", e->id) < 0
	             ? -1
	             : open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("%s: cannot mark done: %s: %s", e->id, p, strerror(errno));
		return -1;
	}
	close(fd);
	queue_entry_kill(q, e);
	log_info("%s: removed", e->id);
	queue_gc(q);
	return 0;
}

/* ---- hold queue ---- */

enum queue_op { QUEUE_OP_HOLD, QUEUE_OP_RELEASE, QUEUE_OP_DELETE };

static int queue_hold_op(struct queue *q, enum queue_op op, const char *id, const char *reason,
                         const char *actor)
{
	static const char *const names[] = {"hold", "release", "delete"};
	q->err[0] = '\0';
	if (!id || !queue_id_valid(id)) {
		queue_set_error(q, "queue", "not a queue ID: %.40s", id ? id : "");
		return -1;
	}
	if (!q->owner) {
		queue_set_error(q, id, "cannot %s: another process owns the spool", names[op]);
		return -1;
	}
	if (!actor || !*actor)
		actor = "unknown";
	if (!reason)
		reason = "";
	struct queue_entry *e = queue_live(q, id);
	if (!e)
		return -1;
	int lk = queue_lock(q);
	if (lk < 0) {
		queue_set_error(q, id, "cannot lock the spool");
		return -1;
	}
	int rc = -1;
	struct queue_envelope env;
	if (queue_dead_on_disk(q, id)) {
		queue_entry_kill(q, e);
		queue_set_error(q, id, "no such entry");
	} else if (op == QUEUE_OP_DELETE) {
		char p[PATH_MAX];
		int fd = queue_path(q, p, sizeof p, "dead", id) < 0
		             ? -1
		             : open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0 || (q->opts.fsync && (fsync(fd) < 0 || fsutil_fsync_dir(p) < 0)))
			queue_set_error(q, id, "cannot delete: %s", strerror(errno));
		else
			rc = 0;
		if (fd >= 0)
			close(fd);
	} else if (queue_read_env(q, e, &env) < 0) {
		queue_set_error(q, id, "envelope unreadable");
	} else {
		bool held = env.hold_reason[0] != '\0';
		if (op == QUEUE_OP_HOLD && held) {
			queue_set_error(q, id, "already held: %s", env.hold_reason);
		} else if (op == QUEUE_OP_RELEASE && !held) {
			queue_set_error(q, id, "not held");
		} else {
			if (op == QUEUE_OP_HOLD) {
				char r[QUEUE_REASON_MAX];
				if (*reason)
					str_sanitize(r, sizeof r, reason, strlen(reason));
				else
					(void)str_format(r, sizeof r, "held by %.200s", actor);
				(void)str_copy(env.hold_reason, sizeof env.hold_reason, r);
			} else {
				env.hold_reason[0] = '\0';
				env.next_attempt_ms = 0; /* released: due now */
			}
			if (queue_write_state(q, e, &env) < 0)
				queue_set_error(q, id, "envelope not saved");
			else
				rc = 0;
			if (rc == 0)
				queue_entry_set_summary(e, &env);
		}
		qenv_free(&env);
	}
	queue_unlock(lk);
	if (rc < 0)
		return -1;
	if (op == QUEUE_OP_DELETE) {
		queue_entry_kill(q, e);
		queue_gc(q);
	} else {
		queue_heap_update(q, e);
	}
	log_info("%s: %s by %s: %s", id, names[op], actor, *reason ? reason : "(no reason given)");
	(void)queue_audit(q, names[op], id, reason, actor);
	return 0;
}

int queue_hold(struct queue *q, const char *id, const char *reason, const char *actor)
{
	return queue_hold_op(q, QUEUE_OP_HOLD, id, reason, actor);
}

int queue_release(struct queue *q, const char *id, const char *reason, const char *actor)
{
	return queue_hold_op(q, QUEUE_OP_RELEASE, id, reason, actor);
}

int queue_delete(struct queue *q, const char *id, const char *reason, const char *actor)
{
	return queue_hold_op(q, QUEUE_OP_DELETE, id, reason, actor);
}

/* ---- flush ---- */

/* Makes e due now, durably (its state file says next attempt 0). 0 or -1. */
static int queue_flush_one(struct queue *q, struct queue_entry *e)
{
	int lk = queue_lock(q);
	if (lk < 0) {
		queue_set_error(q, e->id, "cannot lock the spool");
		return -1;
	}
	struct queue_envelope env;
	int rc = -1;
	if (queue_read_env(q, e, &env) < 0) {
		queue_set_error(q, e->id, "envelope unreadable");
	} else {
		env.next_attempt_ms = 0;
		if (queue_write_state(q, e, &env) < 0) {
			queue_set_error(q, e->id, "envelope not saved");
		} else {
			queue_entry_set_summary(e, &env);
			rc = 0;
		}
		qenv_free(&env);
	}
	queue_unlock(lk);
	queue_heap_update(q, e);
	return rc;
}

int queue_flush(struct queue *q, const char *id, const char *actor)
{
	q->err[0] = '\0';
	if (id && !queue_id_valid(id)) {
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
	for (size_t i = 0; i < q->nbuckets; i++)
		for (struct queue_entry *e = q->buckets[i]; e; e = e->hnext) {
			if (one ? e != one
			        : e->dead || e->held || e->handed || e->next_attempt_ms == 0)
				continue;
			if (e->handed) /* being delivered right now */
				continue;
			if (queue_flush_one(q, e) < 0)
				return -1;
			log_info("%s: flush by %s: due now", e->id, actor);
			(void)queue_audit(q, "flush", e->id, "", actor);
			n++;
		}
	return n;
}

/* ---- listing ---- */

static int queue_cmp_entry(const void *a, const void *b)
{
	const struct queue_entry *x = *(const struct queue_entry *const *)a;
	const struct queue_entry *y = *(const struct queue_entry *const *)b;
	return strcmp(x->id, y->id);
}

int queue_list(struct queue *q, bool only_held, queue_list_fn fn, void *arg)
{
	struct queue_entry **v = NULL;
	size_t n = 0;
	if (q->nentries)
		v = xmalloc(q->nentries * sizeof *v);
	for (size_t i = 0; i < q->nbuckets; i++)
		for (struct queue_entry *e = q->buckets[i]; e; e = e->hnext)
			if (!e->dead)
				v[n++] = e;
	if (n)
		qsort(v, n, sizeof *v, queue_cmp_entry);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		struct queue_envelope env;
		if (queue_read_env(q, v[i], &env) < 0) {
			rc = -1;
			continue;
		}
		int stop = only_held && !env.hold_reason[0] ? 0 : fn(arg, &env);
		qenv_free(&env);
		if (stop)
			break;
	}
	free(v);
	return rc;
}
