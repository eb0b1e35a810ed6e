/*
 * qhold - the hold operations (hold, release, delete), each under the spool
 * lock with an audit record, made only by the spool's owner; and the listing
 * of entries in arrival order.
 */
#include "queue/queue_int.h"

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

enum queue_op { QUEUE_OP_HOLD, QUEUE_OP_RELEASE, QUEUE_OP_DELETE };

static int qhold_op(struct queue *q, enum queue_op op, const char *id, const char *reason,
                    const char *actor)
{
	static const char *const names[] = {"hold", "release", "delete"};
	q->err[0] = '\0';
	if (!id || !qdisk_id_valid(id)) {
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
	int lk = qdisk_lock(q);
	if (lk < 0) {
		queue_set_error(q, id, "cannot lock the spool");
		return -1;
	}
	int rc = -1;
	struct queue_envelope env;
	if (qdisk_dead(q, id)) {
		qindex_kill(q, e);
		queue_set_error(q, id, "no such entry");
	} else if (op == QUEUE_OP_DELETE) {
		char p[PATH_MAX];
		int fd = qdisk_path(q, p, sizeof p, "dead", id) < 0
		             ? -1
		             : open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0 || (q->opts.fsync && (fsync(fd) < 0 || fsutil_fsync_dir(p) < 0)))
			queue_set_error(q, id, "cannot delete: %s", strerror(errno));
		else
			rc = 0;
		if (fd >= 0)
			close(fd);
	} else if (qdisk_read_env(q, e, &env) < 0) {
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
					str_format_trunc(r, sizeof r, "held by %.200s", actor);
				str_copy_trunc(env.hold_reason, sizeof env.hold_reason, r);
			} else {
				env.hold_reason[0] = '\0';
				env.next_attempt_ms = 0; /* released: due now */
			}
			if (qdisk_write_state(q, e, &env) < 0)
				queue_set_error(q, id, "envelope not saved");
			else
				rc = 0;
			if (rc == 0)
				qindex_summary(e, &env);
		}
		qenv_free(&env);
	}
	qdisk_unlock(lk);
	if (rc < 0)
		return -1;
	if (op == QUEUE_OP_DELETE) {
		qindex_kill(q, e);
		qdisk_gc(q);
	} else {
		qsched_update(q, e);
	}
	log_info("%s: %s by %s: %s", id, names[op], actor, *reason ? reason : "(no reason given)");
	(void)qdisk_audit(q, names[op], id, reason, actor);
	return 0;
}

int queue_hold(struct queue *q, const char *id, const char *reason, const char *actor)
{
	return qhold_op(q, QUEUE_OP_HOLD, id, reason, actor);
}

int queue_release(struct queue *q, const char *id, const char *reason, const char *actor)
{
	return qhold_op(q, QUEUE_OP_RELEASE, id, reason, actor);
}

int queue_delete(struct queue *q, const char *id, const char *reason, const char *actor)
{
	return qhold_op(q, QUEUE_OP_DELETE, id, reason, actor);
}

static int qhold_cmp_entry(const void *a, const void *b)
{
	const struct queue_entry *x = *(const struct queue_entry *const *)a;
	const struct queue_entry *y = *(const struct queue_entry *const *)b;
	return strcmp(x->id, y->id);
}

int queue_list(struct queue *q, bool only_held, queue_list_fn fn, void *arg)
{
	struct queue_entry **v = NULL;
	size_t n = 0;
	if (htab_count(&q->index))
		v = xmalloc(htab_count(&q->index) * sizeof *v);
	size_t pos = 0;
	for (struct queue_entry *e; (e = qindex_next(q, &pos));)
		if (!e->dead)
			v[n++] = e;
	if (n)
		qsort(v, n, sizeof *v, qhold_cmp_entry);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		struct queue_envelope env;
		if (qdisk_read_env(q, v[i], &env) < 0) {
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
