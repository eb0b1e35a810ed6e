/*
 * qdisk - the spool on disk (layout in queue_int.h, format and durability in
 * docs/queue.md): paths and the lock, envelopes read from segments and
 * state/ files, atomic state writes, dead/ markers, the audit log, segment
 * collection, and recovery at open (segments scanned, torn records
 * truncated, corrupt ones quarantined, state/ and dead/ applied).
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

int qdisk_path(const struct queue *q, char *out, size_t size, const char *sub, const char *name)
{
	if (name)
		return str_format(out, size, "%s/%s/%s", q->dir, sub, name);
	return str_format(out, size, "%s/%s", q->dir, sub);
}

bool qdisk_id_valid(const char *id)
{
	size_t n = strlen(id);
	if (n < 16 || n >= QUEUE_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'A' && id[i] <= 'F')))
			return false;
	return true;
}

int qdisk_lock(struct queue *q)
{
	char p[PATH_MAX];
	if (qdisk_path(q, p, sizeof p, "lock", NULL) < 0)
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

void qdisk_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

int qdisk_seg_fd(struct queue *q, struct queue_seg *s)
{
	if (s->fd >= 0)
		return s->fd;
	char name[16], p[PATH_MAX];
	if (str_format(name, sizeof name, "%08" PRIX32, s->num) < 0 ||
	    qdisk_path(q, p, sizeof p, "seg", name) < 0)
		return -1;
	s->fd = open(p, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0)
		log_error("queue: %s: %s", p, strerror(errno));
	return s->fd;
}

/* Removes every segment that holds no live entry and is fully indexed; then
 * the state/ and dead/ files of its entries (after the segment is gone for
 * good, so a crash in between never brings a finished entry back). */
void qdisk_gc(struct queue *q)
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
		    qdisk_path(q, p, sizeof p, "seg", name) < 0)
			return;
		if (unlink(p) < 0 && errno != ENOENT) {
			log_error("queue: remove %s: %s", p, strerror(errno));
			return;
		}
		if (q->seg_dir_fd >= 0 && q->opts.fsync && fsync(q->seg_dir_fd) < 0)
			log_error("queue: fsync %s/seg: %s", q->dir, strerror(errno));
		log_debug("queue: segment %s removed", name);
		size_t pos = 0;
		for (struct queue_entry *e; (e = qindex_next(q, &pos));) {
			if (e->seg != s->num)
				continue;
			char f[PATH_MAX];
			if (qdisk_path(q, f, sizeof f, "dead", e->id) == 0)
				(void)unlink(f);
			if (e->has_state && qdisk_path(q, f, sizeof f, "state", e->id) == 0)
				(void)unlink(f);
			qsched_remove(q, e);
			qindex_remove(q, e);
			free(e);
		}
		if (s->fd >= 0)
			close(s->fd);
		*pp = s->next;
		free(s);
	}
}

void qdisk_id_seen(struct queue *q, const char *id)
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

int qdisk_audit(struct queue *q, const char *action, const char *id, const char *reason,
                const char *actor)
{
	char p[PATH_MAX], when[40];
	if (qdisk_path(q, p, sizeof p, "audit.log", NULL) < 0 ||
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

static int qdisk_read_file(const char *path, struct buf *out)
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
void qdisk_quarantine(struct queue *q, const char *path, const char *id, const char *what,
                      const char *why)
{
	char dst[PATH_MAX], name[QUEUE_ID_MAX + 48];
	if (str_format(name, sizeof name, "%s.%s.%" PRIu64, id, what, queue_now(q)) < 0 ||
	    qdisk_path(q, dst, sizeof dst, "corrupt", name) < 0)
		return;
	if (rename(path, dst) < 0)
		log_error("%s: corrupt %s not quarantined: %s: %s", id, what, path,
		          strerror(errno));
	else
		log_error("%s: corrupt %s quarantined as %s: %s", id, what, dst, why);
}

static int qdisk_read_seg_env(struct queue *q, const struct queue_entry *e,
                              struct queue_envelope *env)
{
	struct queue_seg *s = qindex_seg(q, e->seg);
	int fd = qdisk_seg_fd(q, s);
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
int qdisk_read_env(struct queue *q, struct queue_entry *e, struct queue_envelope *env)
{
	char p[PATH_MAX], err[128];
	if (qdisk_path(q, p, sizeof p, "state", e->id) < 0)
		return -1;
	struct buf b;
	buf_init(&b, QENV_TEXT_MAX);
	int got = qdisk_read_file(p, &b);
	if (got < 0 && errno != ENOENT && errno != EFBIG) {
		log_error("%s: %s: %s", e->id, p, strerror(errno));
		buf_free(&b);
		return -1;
	}
	if (got < 0 && errno == EFBIG) {
		buf_free(&b);
		qdisk_quarantine(q, p, e->id, "state", "larger than any envelope");
	} else if (got == 0) {
		int rc = qenv_parse(b.data ? b.data : "", b.len, env, err, sizeof err);
		buf_free(&b);
		if (rc == 0 && strcmp(env->id, e->id) == 0) {
			e->has_state = true;
			return 0;
		}
		if (rc == 0) {
			qenv_free(env);
			str_copy_trunc(err, sizeof err, "ID in the file is another");
		}
		qdisk_quarantine(q, p, e->id, "state", err);
	} else {
		buf_free(&b);
	}
	e->has_state = false;
	return qdisk_read_seg_env(q, e, env);
}

bool qdisk_dead(struct queue *q, const char *id)
{
	char p[PATH_MAX];
	return qdisk_path(q, p, sizeof p, "dead", id) == 0 && access(p, F_OK) == 0;
}

/* Writes state/ID atomically (fsync'ed, directory too). 0 or -1. */
int qdisk_write_state(struct queue *q, struct queue_entry *e, const struct queue_envelope *env)
{
	char p[PATH_MAX], err[256];
	struct buf b;
	buf_init(&b, QENV_TEXT_MAX);
	int rc = -1;
	if (qdisk_path(q, p, sizeof p, "state", e->id) < 0 || qenv_format(env, &b) < 0)
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

/* An unlinked scratch file in tmp/ for content too large to keep in memory. */
int qdisk_spill_open(struct queue *q)
{
	char p[PATH_MAX];
	if (qdisk_path(q, p, sizeof p, "tmp", NULL) < 0)
		return -1;
	int fd = open(p, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	if (qdisk_path(q, p, sizeof p, "tmp", "spill.XXXXXX") < 0)
		return -1;
	fd = mkostemp(p, O_CLOEXEC);
	if (fd >= 0)
		(void)unlink(p);
	return fd;
}

void qdisk_mark_dead(struct queue *q, const char *id)
{
	char p[PATH_MAX];
	if (qdisk_path(q, p, sizeof p, "dead", id) < 0)
		return;
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
}

/* Copies len bytes at off of fd into corrupt/NAME for a person to look at. */
static void qdisk_copy_to_corrupt(struct queue *q, int fd, uint64_t off, uint64_t len,
                                  const char *name)
{
	char p[PATH_MAX];
	if (!q->owner || qdisk_path(q, p, sizeof p, "corrupt", name) < 0)
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

static void qdisk_index_record(struct queue *q, struct queue_seg *s, uint64_t off,
                               const struct qseg_rec *r, const char *id, const struct buf *text)
{
	struct queue_envelope env;
	char err[128], name[QUEUE_ID_MAX + 48];
	if (!qdisk_id_valid(id)) {
		str_copy_trunc(err, sizeof err, "bad queue ID");
	} else if (qenv_parse(text->data ? text->data : "", text->len, &env, err, sizeof err) ==
	           0) {
		if (strcmp(env.id, id) == 0 && env.nrcpt > 0)
			goto good;
		str_copy_trunc(err, sizeof err,
		               env.nrcpt ? "ID differs from the record's" : "no recipients");
		qenv_free(&env);
	}
	if (str_format(name, sizeof name, "seg-%08" PRIX32 "-%" PRIu64 ".record", s->num, off) == 0)
		qdisk_copy_to_corrupt(q, s->fd, off, qseg_rec_len(r), name);
	log_error("%s: envelope corrupt (segment %08" PRIX32 " offset %" PRIu64
	          "): %s; not queued%s",
	          qdisk_id_valid(id) ? id : "queue", s->num, off, err,
	          q->owner ? ", record copied to corrupt/" : "");
	return;
good:
	if (qindex_find(q, id)) {
		log_error("%s: second record in segment %08" PRIX32 " ignored", id, s->num);
		qenv_free(&env);
		return;
	}
	struct queue_entry *e = xcalloc(1, sizeof *e);
	if (str_copy(e->id, sizeof e->id, id) != 0)
		panic("qdisk_load: qdisk_id_valid() checked the ID's length");
	e->seg = s->num;
	e->rec_off = off;
	e->id_len = r->id_len;
	e->env_len = r->env_len;
	e->data_len = r->data_len;
	e->heap_pos = SIZE_MAX;
	qindex_summary(e, &env);
	qenv_free(&env);
	qindex_insert(q, e);
	s->live++;
	qdisk_id_seen(q, id);
}

/* The offset of the next intact record after off, 0 when there is none. */
static uint64_t qdisk_next_record(int fd, uint64_t off, uint64_t size)
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

static void qdisk_scan_segment(struct queue *q, uint32_t num, const char *path)
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
			qdisk_quarantine(q, path, "segment", "segment", "not a segment file");
		}
		return;
	}
	struct queue_seg *s = qindex_seg(q, num);
	s->fd = fd;
	struct buf text;
	buf_init(&text, QSEG_ENV_MAX);
	uint64_t off = QSEG_MAGIC_LEN;
	while (off < size) {
		struct qseg_rec r;
		char id[QUEUE_ID_MAX], err[128];
		buf_reset(&text);
		if (qseg_read(fd, off, size, &r, id, sizeof id, &text, err, sizeof err) == 0) {
			qdisk_index_record(q, s, off, &r, id, &text);
			off += qseg_rec_len(&r);
			continue;
		}
		uint64_t next = qdisk_next_record(fd, off + 1, size);
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
			qdisk_copy_to_corrupt(q, fd, off, next - off, name);
		log_error("%s: corrupt bytes %" PRIu64 "-%" PRIu64 " in segment %08" PRIX32
		          " skipped (%s)%s",
		          id[0] ? id : "queue", off, next, num, err,
		          q->owner ? ", copied to corrupt/" : "");
		off = next;
	}
	buf_free(&text);
}

static int qdisk_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int qdisk_scan_segments(struct queue *q, char *err, size_t errlen)
{
	char p[PATH_MAX];
	if (qdisk_path(q, p, sizeof p, "seg", NULL) < 0)
		return -1;
	DIR *d = opendir(p);
	if (!d) {
		str_format_trunc(err, errlen, "%s: %s", p, strerror(errno));
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
		grow_xarray(&nums, &cap, n + 1, sizeof *nums);
		nums[n++] = (uint32_t)v;
	}
	closedir(d);
	if (n)
		qsort(nums, n, sizeof *nums, qdisk_cmp_u32);
	for (size_t i = 0; i < n; i++) {
		char name[16], f[PATH_MAX];
		if (str_format(name, sizeof name, "%08" PRIX32, nums[i]) < 0 ||
		    qdisk_path(q, f, sizeof f, "seg", name) < 0)
			continue;
		qdisk_scan_segment(q, nums[i], f);
		if (nums[i] > q->wseg)
			q->wseg = nums[i];
	}
	free(nums);
	return 0;
}

/* Calls fn for every name in DIR/sub that is not "." or "..". */
void qdisk_each_file(struct queue *q, const char *sub,
                     void (*fn)(struct queue *q, const char *sub, const char *name))
{
	char p[PATH_MAX];
	if (qdisk_path(q, p, sizeof p, sub, NULL) < 0)
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

void qdisk_remove_file(struct queue *q, const char *sub, const char *name)
{
	char p[PATH_MAX];
	if (q->owner && qdisk_path(q, p, sizeof p, sub, name) == 0 && unlink(p) < 0)
		log_error("queue: remove %s: %s", p, strerror(errno));
}

void qdisk_recover_dead(struct queue *q, const char *sub, const char *name)
{
	struct queue_entry *e = qindex_find(q, name);
	if (e)
		qindex_kill(q, e);
	else
		qdisk_remove_file(q, sub, name); /* its segment is gone already */
}

void qdisk_recover_state(struct queue *q, const char *sub, const char *name)
{
	struct queue_entry *e = qindex_find(q, name);
	if (name[0] == '.' || !e) {
		/* A replacement interrupted before its rename, or an entry whose
		 * segment is gone. */
		if (name[0] == '.')
			log_warn("queue: %s/%s: interrupted envelope update removed", sub, name);
		qdisk_remove_file(q, sub, name);
		return;
	}
	e->has_state = true;
	if (e->dead)
		return;
	struct queue_envelope env;
	if (qdisk_read_env(q, e, &env) == 0) {
		qindex_summary(e, &env);
		qenv_free(&env);
	}
}

int qdisk_mkdirs(const char *dir, char *err, size_t errlen)
{
	char p[PATH_MAX];
	if (str_copy(p, sizeof p, dir) < 0) {
		str_format_trunc(err, errlen, "%s: name too long", dir);
		return -1;
	}
	for (char *s = p + 1;; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, 0700) < 0 && errno != EEXIST) {
				str_format_trunc(err, errlen, "%s: %s", p, strerror(errno));
				return -1;
			}
			*s = c;
			if (c == '\0')
				break;
		}
	}
	return 0;
}
