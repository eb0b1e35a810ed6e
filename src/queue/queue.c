/*
 * queue - the spool's public face (queue.h): open and close, receiving with
 * group commit (the sync thread), and the delivery side's load, put and done.
 * The on-disk format and recovery are in qdisk.c, the in-memory index in
 * qindex.c, the scheduler in qsched.c, the hold operations in qhold.c; what
 * they share is queue_int.h.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

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
	if (str_format(out, QUEUE_ID_MAX, "%012" PRIX64 "%04X", ms & UINT64_C(0xffffffffffff),
	               q->id_seq) != 0)
		panic("queue_id_new: 16 hex digits fit QUEUE_ID_MAX");
}

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
	free(m->pre);
	buf_free(&m->env);
	free(m);
}

/* Moves the content kept in memory to a scratch file. 0 or -1. */
static int queue_msg_spill(struct queue_msg *m)
{
	m->spill_fd = qdisk_spill_open(m->q);
	if (m->spill_fd < 0 ||
	    (m->mem_len && qseg_pwrite_all(m->spill_fd, m->mem, m->mem_len, 0) < 0))
		return -1;
	free(m->mem);
	m->mem = NULL;
	m->mem_len = m->mem_cap = 0;
	return 0;
}

int queue_msg_write(struct queue_msg *m, const void *p, size_t n)
{
	if (m->write_failed)
		return -1;
	if (n == 0)
		return 0;
	if (m->spill_fd < 0 && m->mem_len + n <= QUEUE_SPILL_AT) {
		size_t need = m->mem_len + n;
		/* 4096 first: a message comes in many small writes */
		grow_xarray_max(&m->mem, &m->mem_cap, need > 4096 ? need : 4096, 1, QUEUE_SPILL_AT);
		memcpy(m->mem + m->mem_len, p, n);
		m->mem_len += n;
		m->size += n;
		return 0;
	}
	if (m->spill_fd < 0 && queue_msg_spill(m) != 0)
		goto fail;
	if (qseg_pwrite_all(m->spill_fd, p, n, m->size) < 0)
		goto fail;
	m->size += n;
	return 0;
fail:
	log_error("%s: content not written: %s/tmp: %s", m->id, m->q->dir, strerror(errno));
	m->write_failed = true;
	return -1;
}

uint64_t queue_msg_size(const struct queue_msg *m)
{
	return m->size;
}

int queue_msg_read(const struct queue_msg *m, uint64_t off, void *p, size_t n, size_t *got)
{
	*got = 0;
	if (m->write_failed || off > m->size)
		return -1;
	if (n > m->size - off)
		n = (size_t)(m->size - off);
	if (m->spill_fd < 0) {
		memcpy(p, m->mem + off, n);
		*got = n;
		return 0;
	}
	while (*got < n) {
		ssize_t g = pread(m->spill_fd, (char *)p + *got, n - *got, (off_t)(off + *got));
		if (g < 0 && errno == EINTR)
			continue;
		if (g <= 0)
			return -1;
		*got += (size_t)g;
	}
	return 0;
}

int queue_msg_prepend(struct queue_msg *m, const void *p, size_t n)
{
	if (m->write_failed || n > QUEUE_PREPEND_MAX - m->pre_len)
		return -1;
	char *g = xrealloc(NULL, m->pre_len + n);
	memcpy(g, p, n);
	if (m->pre_len)
		memcpy(g + n, m->pre, m->pre_len);
	free(m->pre);
	m->pre = g;
	m->pre_len += n;
	return 0;
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
	    qdisk_path(q, p, sizeof p, "seg", name) < 0)
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
	r->data_len = m->pre_len + m->size;
	uint64_t off = q->woff, pos = off + QSEG_HDR_LEN;
	uint32_t crc = qseg_crc(0, m->id, r->id_len);
	crc = qseg_crc(crc, m->env.data, m->env.len);
	struct iovec iov[4] = {{m->id, r->id_len},
	                       {m->env.data, m->env.len},
	                       {m->pre, m->pre_len},
	                       {m->mem, m->mem_len}};
	size_t want = r->id_len + m->env.len + m->pre_len + m->mem_len;
	ssize_t k = pwritev(q->wfd, iov, 4, (off_t)pos);
	if (k != (ssize_t)want) {
		/* Short or failed: redo it the plain way, which retries. */
		if (qseg_pwrite_all(q->wfd, m->id, r->id_len, pos) < 0 ||
		    qseg_pwrite_all(q->wfd, m->env.data, m->env.len, pos + r->id_len) < 0 ||
		    (m->pre_len && qseg_pwrite_all(q->wfd, m->pre, m->pre_len,
		                                   pos + r->id_len + m->env.len) < 0) ||
		    (m->mem_len && qseg_pwrite_all(q->wfd, m->mem, m->mem_len,
		                                   pos + r->id_len + m->env.len + m->pre_len) < 0))
			return -1;
	}
	crc = qseg_crc(crc, m->pre, m->pre_len);
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
				qdisk_mark_dead(q, m->id);
		close(q->wfd);
		q->wfd = -1;
	}
	return syncs;
}

static void queue_finish(struct queue *q, struct queue_msg *m)
{
	if (m->status == 0) {
		struct queue_entry *e = xcalloc(1, sizeof *e);
		if (str_copy(e->id, sizeof e->id, m->id) != 0)
			panic("queue_finish: e->id does not fit");
		e->seg = m->seg;
		e->rec_off = m->off;
		e->id_len = m->rec.id_len;
		e->env_len = m->rec.env_len;
		e->data_len = m->rec.data_len;
		e->arrival_ms = m->arrival_ms;
		e->next_attempt_ms = m->next_attempt_ms;
		e->held = m->held;
		e->heap_pos = SIZE_MAX;
		qindex_insert(q, e);
		qindex_seg(q, e->seg)->live++;
		if (m->seg > q->gc_below)
			q->gc_below = m->seg;
		qsched_update(q, e);
		log_info("%s: queued size=%" PRIu64 "%s", m->id, m->size, m->held ? " held" : "");
	}
	if (m->cb)
		m->cb(m->arg, m->status, m->id);
	queue_msg_free(m);
}

/* On the sync thread: one batch of the turns' commits, made durable together. */
static void queue_sync_run(void *arg, struct workq_job *first, unsigned n)
{
	struct queue *q = arg;
	(void)n;
	for (struct workq_job *j = first; j; j = j->next) {
		struct queue_msg *m = WORKQ_OWNER(j, struct queue_msg, wq);
		m->next = j->next ? WORKQ_OWNER(j->next, struct queue_msg, wq) : NULL;
	}
	struct queue_msg *batch = WORKQ_OWNER(first, struct queue_msg, wq);
	batch->batch_syncs = queue_batch_write(q, batch);
}

/* On the loop, a message at a time: count it, index the entry, run its callback. */
static void queue_sync_done(void *arg, struct workq_job *j)
{
	struct queue *q = arg;
	struct queue_msg *m = WORKQ_OWNER(j, struct queue_msg, wq);
	q->syncs += m->batch_syncs;
	q->commits += m->status == 0;
	queue_finish(q, m);
}

/* End of the loop turn: this turn's commits go to the sync thread together. */
static void queue_on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct queue *q = arg;
	(void)fd;
	(void)what;
	if (!q->turn_head)
		return;
	if (workq_submit_chain(q->sync, q->turn_head) != 0)
		panic("queue: a commit after the sync thread stopped");
	q->turn_head = q->turn_tail = NULL;
}

void queue_msg_commit(struct queue_msg *m, const struct queue_envelope *env, queue_commit_cb cb,
                      void *arg)
{
	struct queue *q = m->q;
	m->cb = cb;
	m->arg = arg;
	struct queue_envelope e = *env; /* shallow: recipients only read */
	if (str_copy(e.id, sizeof e.id, m->id) != 0)
		panic("queue_msg_commit: e.id does not fit");
	e.arrival_ms = queue_now(q);
	e.size = m->pre_len + m->size;
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
	m->wq.next = NULL;
	if (q->turn_tail)
		q->turn_tail->next = &m->wq;
	else
		q->turn_head = &m->wq;
	q->turn_tail = &m->wq;
	event_active(q->ev_kick, EV_TIMEOUT, 0);
}

int queue_open(struct queue **qp, const char *dir, struct event_base *base,
               const struct queue_opts *opts, char *err, size_t errlen)
{
	*qp = NULL;
	struct queue *q = xcalloc(1, sizeof *q);
	htab_init(&q->index, 0);
	q->opts.fsync = true;
	if (opts)
		q->opts = *opts;
	if (!q->opts.batch_max)
		q->opts.batch_max = QUEUE_BATCH_DEFAULT;
	if (!q->opts.seg_max)
		q->opts.seg_max = QUEUE_SEG_MAX_DEFAULT;
	q->base = base;
	q->owner_fd = q->wfd = q->seg_dir_fd = -1;
	static const char *const subs[] = {"seg", "state", "dead", "tmp", "corrupt"};
	char p[PATH_MAX];
	if (str_copy(q->dir, sizeof q->dir, dir) < 0 || dir[0] == '\0') {
		str_format_trunc(err, errlen, "%s: spool directory name too long", dir);
		goto fail;
	}
	for (size_t n = strlen(q->dir); n > 1 && q->dir[n - 1] == '/'; n--)
		q->dir[n - 1] = '\0';
	dir = q->dir;
	if (qdisk_mkdirs(dir, err, errlen) < 0)
		goto fail;
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
		if (qdisk_path(q, p, sizeof p, subs[i], NULL) < 0 ||
		    (mkdir(p, 0700) < 0 && errno != EEXIST)) {
			str_format_trunc(err, errlen, "%s: %s", p, strerror(errno));
			goto fail;
		}
	if (qdisk_path(q, p, sizeof p, "owner.lock", NULL) < 0 ||
	    (q->owner_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		str_format_trunc(err, errlen, "%s: %s", p, strerror(errno));
		goto fail;
	}
	if (!q->opts.shared && flock(q->owner_fd, LOCK_EX | LOCK_NB) == 0) {
		q->owner = true;
	} else if (base || !q->opts.shared) {
		str_format_trunc(err, errlen, "%s: the spool is in use by another process", dir);
		goto fail;
	}
	if (qdisk_path(q, p, sizeof p, "seg", NULL) < 0 ||
	    (q->seg_dir_fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		str_format_trunc(err, errlen, "%s: %s", p, strerror(errno));
		goto fail;
	}
	if (q->owner && q->opts.fsync) {
		/* The directories themselves, once: a spool created just now must
		 * not vanish in a power loss after its first 250. */
		char self[PATH_MAX];
		if (str_format(self, sizeof self, "%s/", dir) < 0 || fsutil_fsync_dir(self) < 0 ||
		    fsutil_fsync_dir(dir) < 0) {
			str_format_trunc(err, errlen, "%s: fsync: %s", dir, strerror(errno));
			goto fail;
		}
	}
	if (q->owner)
		qdisk_each_file(q, "tmp", qdisk_remove_file);
	if (qdisk_scan_segments(q, err, errlen) < 0)
		goto fail;
	qdisk_each_file(q, "dead", qdisk_recover_dead);
	qdisk_each_file(q, "state", qdisk_recover_state);
	size_t pos = 0;
	for (struct queue_entry *e; (e = qindex_next(q, &pos));)
		qsched_update(q, e);
	q->gc_below = q->wseg + 1;
	qdisk_gc(q);
	if (base) {
		q->ev_kick = event_new(base, -1, 0, queue_on_kick, q);
		if (!q->ev_kick) {
			str_format_trunc(err, errlen, "cannot set up the commit event");
			goto fail;
		}
		/* Drained at close: every commit is written and its callback runs. */
		static const struct workq_ops ops = {.run = queue_sync_run,
		                                     .done = queue_sync_done};
		struct workq_conf c = {.name = "queue sync thread",
		                       .threads = 1,
		                       .batch_max = q->opts.batch_max,
		                       .drain = true};
		q->sync = workq_new(base, &c, &ops, q, err, errlen);
		if (!q->sync)
			goto fail;
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
	if (q->sync) {
		queue_on_kick(-1, 0, q);
		workq_free(q->sync); /* every callback runs exactly once */
	}
	if (q->ev_kick)
		event_free(q->ev_kick);
	if (q->wfd >= 0)
		close(q->wfd);
	if (q->seg_dir_fd >= 0)
		close(q->seg_dir_fd);
	if (q->owner_fd >= 0)
		close(q->owner_fd);
	size_t pos = 0;
	for (struct queue_entry *e; (e = qindex_next(q, &pos));)
		free(e);
	htab_free(&q->index);
	free(q->heap);
	for (struct queue_seg *s = q->segs, *nx; s; s = nx) {
		nx = s->next;
		if (s->fd >= 0)
			close(s->fd);
		free(s);
	}
	free(q);
}

void queue_stats(const struct queue *q, struct queue_stats *out)
{
	memset(out, 0, sizeof *out);
	size_t pos = 0;
	for (const struct queue_entry *e; (e = qindex_next(q, &pos));) {
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
	out->commits = q->commits;
	out->syncs = q->syncs;
}

void queue_set_error(struct queue *q, const char *id, const char *fmt, ...)
{
	va_list ap;
	char what[200];
	va_start(ap, fmt);
	(void)vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	str_format_trunc(q->err, sizeof q->err, "%s: %s", id, what);
	log_info("%s: %s", id, what);
}

const char *queue_error(const struct queue *q)
{
	return q->err;
}

struct queue_entry *queue_live(struct queue *q, const char *id)
{
	struct queue_entry *e = id ? qindex_find(q, id) : NULL;
	if (!e || e->dead) {
		queue_set_error(q, id && qdisk_id_valid(id) ? id : "queue", "no such entry");
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
	return qdisk_read_env(q, e, env);
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
	int in = qdisk_seg_fd(q, qindex_seg(q, e->seg));
	int out = qdisk_spill_open(q);
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
	int lk = qdisk_lock(q);
	if (lk < 0)
		return -1;
	int rc = 0;
	if (qdisk_dead(q, e->id)) {
		qdisk_unlock(lk);
		qindex_kill(q, e);
		log_info("%s: deleted by another process while being delivered", e->id);
		qdisk_gc(q);
		return 0;
	}
	struct queue_envelope w = *env, disk;
	if (qdisk_read_env(q, e, &disk) == 0) {
		/* What the queue set at commit stays; a hold set meanwhile (by
		 * `relayguard hold`) wins over the caller's copy. */
		w.arrival_ms = disk.arrival_ms;
		w.size = disk.size;
		if (disk.hold_reason[0])
			str_copy_trunc(w.hold_reason, sizeof w.hold_reason, disk.hold_reason);
		qenv_free(&disk);
	}
	if (w.nrcpt > QUEUE_RCPT_MAX || (w.nrcpt && !w.rcpt) || qdisk_write_state(q, e, &w) < 0)
		rc = -1;
	qdisk_unlock(lk);
	e->handed = false;
	if (rc == 0)
		qindex_summary(e, &w);
	qsched_update(q, e);
	return rc;
}

int queue_entry_done(struct queue *q, const char *id)
{
	struct queue_entry *e = id ? qindex_find(q, id) : NULL;
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
	int fd = qdisk_path(q, p, sizeof p, "dead", e->id) < 0
	             ? -1
	             : open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("%s: cannot mark done: %s: %s", e->id, p, strerror(errno));
		return -1;
	}
	close(fd);
	qindex_kill(q, e);
	log_info("%s: removed", e->id);
	qdisk_gc(q);
	return 0;
}
