/*
 * pfhold - Postfix's hold queue for the policy's holds; see pfhold.h.
 */
#include "admin/pfhold.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/fsutil.h"
#include "core/grow.h"
#include "core/log.h"
#include "core/spawn.h"
#include "core/str.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PFHOLD_OUT_MAX (64u << 20)             /* postqueue -j of a large queue */
#define PFHOLD_MATCH_MS (15 * 60 * 1000)       /* a record without queue ID: arrival this near */
#define PFHOLD_PENDING_MS (24 * 3600 * 1000LL) /* ... and forgotten after a day unmatched */
#define PFHOLD_TIME_MAX (INT64_C(1) << 62)     /* ms: differences with now fit an int64 */
#define PFHOLD_AT_MAX (INT64_MAX / 1000)       /* s: postqueue's arrival_time in ms fits */

struct pfhold {
	struct pfhold_conf conf;
	pthread_mutex_t lock;
	struct pfhold_rec *recs;
	size_t n, cap;
	size_t pending; /* records without a queue ID: only they learn one */
};

/* ---- the record store ---- */

static json_t *pfhold_rec_json(const struct pfhold_rec *r)
{
	json_t *rc = json_array();
	for (unsigned i = 0; i < r->nrcpt && rc; i++)
		json_array_append_new(rc, json_string(r->rcpt[i]));
	return json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:I}", "queue_id",
	                 r->queue_id, "instance", r->instance, "sender", r->sender, "recipients",
	                 rc ? rc : json_array(), "user", r->user, "client_ip", r->client_ip,
	                 "identity", r->identity, "rule", r->rule, "reason", r->reason, "time_ms",
	                 (json_int_t)r->time_ms);
}

static void pfhold_get(json_t *o, const char *key, char *dst, size_t size)
{
	const char *v = json_string_value(json_object_get(o, key));
	if (str_copy(dst, size, v ? v : "") != 0)
		dst[0] = '\0';
}

static int pfhold_rec_of(json_t *o, struct pfhold_rec *r)
{
	memset(r, 0, sizeof *r);
	if (!json_is_object(o))
		return -1;
	pfhold_get(o, "queue_id", r->queue_id, sizeof r->queue_id);
	pfhold_get(o, "instance", r->instance, sizeof r->instance);
	pfhold_get(o, "sender", r->sender, sizeof r->sender);
	pfhold_get(o, "user", r->user, sizeof r->user);
	pfhold_get(o, "client_ip", r->client_ip, sizeof r->client_ip);
	pfhold_get(o, "identity", r->identity, sizeof r->identity);
	pfhold_get(o, "rule", r->rule, sizeof r->rule);
	pfhold_get(o, "reason", r->reason, sizeof r->reason);
	r->time_ms = (int64_t)json_integer_value(json_object_get(o, "time_ms"));
	/* the file may have been damaged or edited: a time before the epoch or
	 * past PFHOLD_TIME_MAX is no record (now and arrival times are
	 * subtracted from it: one near INT64_MIN overflowed) */
	if (r->time_ms < 0 || r->time_ms > PFHOLD_TIME_MAX)
		return -1;
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(o, "recipients"), i, v)
	{
		if (r->nrcpt < PFHOLD_RCPTS && json_is_string(v) &&
		    str_copy(r->rcpt[r->nrcpt], sizeof r->rcpt[0], json_string_value(v)) == 0)
			r->nrcpt++;
	}
	if (r->queue_id[0] && !pfqueue_id_ok(r->queue_id))
		return -1;
	return r->queue_id[0] || r->instance[0] ? 0 : -1;
}

/* With the lock held: after every change of the records. */
static int pfhold_save(struct pfhold *p)
{
	char err[600];
	p->pending = 0;
	for (size_t i = 0; i < p->n; i++)
		p->pending += p->recs[i].queue_id[0] == '\0';
	json_t *arr = json_array();
	for (size_t i = 0; i < p->n && arr; i++)
		if (json_array_append_new(arr, pfhold_rec_json(&p->recs[i])) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	json_t *doc = arr ? json_pack("{s:o}", "holds", arr) : NULL;
	char *text = doc ? json_dumps(doc, JSON_INDENT(1)) : NULL;
	json_decref(doc);
	int rc = text ? fsutil_write_atomic(p->conf.store_path, text, strlen(text), 0600, err,
	                                    sizeof err)
	              : -1;
	if (rc != 0)
		log_error("postfix holds: cannot write %s: %s", p->conf.store_path,
		          text ? err : "out of memory");
	free(text);
	return rc;
}

static int pfhold_append(struct pfhold *p, const struct pfhold_rec *r)
{
	if (p->n == PFHOLD_MAX) {
		log_warn("postfix holds: %d records kept; forgetting the oldest (queue_id=%s)",
		         PFHOLD_MAX, p->recs[0].queue_id[0] ? p->recs[0].queue_id : "-");
		memmove(p->recs, p->recs + 1, (p->n - 1) * sizeof *p->recs);
		p->n--;
	}
	if (grow_array(&p->recs, &p->cap, p->n + 1, sizeof *p->recs) != 0)
		return -1;
	p->recs[p->n++] = *r;
	return 0;
}

static void pfhold_remove(struct pfhold *p, size_t i)
{
	memmove(p->recs + i, p->recs + i + 1, (p->n - i - 1) * sizeof *p->recs);
	p->n--;
}

struct pfhold *pfhold_open(const struct pfhold_conf *conf, char *err, size_t errlen)
{
	struct pfhold *p = calloc(1, sizeof *p);
	if (!p) {
		str_format_trunc(err, errlen, "out of memory");
		return NULL;
	}
	p->conf = *conf;
	pthread_mutex_init(&p->lock, NULL);
	if (access(conf->store_path, F_OK) != 0)
		return p;
	json_error_t je;
	json_t *doc = json_load_file(conf->store_path, 0, &je);
	json_t *arr = json_object_get(doc, "holds");
	if (!json_is_array(arr)) {
		str_format_trunc(err, errlen, "%s:%d: %s", conf->store_path, je.line,
		                 doc ? "expected {\"holds\": [...]}" : je.text);
		json_decref(doc);
		pfhold_free(p);
		return NULL;
	}
	size_t i, bad = 0;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		struct pfhold_rec r;
		if (pfhold_rec_of(v, &r) != 0)
			bad++;
		else if (pfhold_append(p, &r) != 0) {
			str_format_trunc(err, errlen, "out of memory");
			json_decref(doc);
			pfhold_free(p);
			return NULL;
		}
	}
	json_decref(doc);
	if (bad)
		log_warn("postfix holds: %s: %zu records not understood, skipped", conf->store_path,
		         bad);
	for (size_t k = 0; k < p->n; k++)
		p->pending += p->recs[k].queue_id[0] == '\0';
	return p;
}

void pfhold_free(struct pfhold *p)
{
	if (!p)
		return;
	pthread_mutex_destroy(&p->lock);
	free(p->recs);
	free(p);
}

size_t pfhold_count(struct pfhold *p)
{
	pthread_mutex_lock(&p->lock);
	size_t n = p->n;
	pthread_mutex_unlock(&p->lock);
	return n;
}

static void pfhold_add_rcpts(struct pfhold_rec *to, const struct pfhold_rec *from)
{
	for (unsigned i = 0; i < from->nrcpt; i++) {
		bool have = false;
		for (unsigned k = 0; k < to->nrcpt && !have; k++)
			have = str_ieq(to->rcpt[k], from->rcpt[i]);
		if (!have && to->nrcpt < PFHOLD_RCPTS)
			if (str_copy(to->rcpt[to->nrcpt++], sizeof to->rcpt[0], from->rcpt[i]) != 0)
				panic("pfhold_add_rcpts: to->rcpt[to->nrcpt++] does not fit");
	}
}

void pfhold_note(struct pfhold *p, const struct pfhold_rec *r, bool held)
{
	if (!p || (!held && (!r->queue_id[0] || !r->instance[0])))
		return;
	if (r->queue_id[0] && !pfqueue_id_ok(r->queue_id))
		return; /* not a queue ID Postfix makes: nothing to act on later */
	pthread_mutex_lock(&p->lock);
	if (!held && p->pending == 0) { /* the policy's hot path: nothing to learn */
		pthread_mutex_unlock(&p->lock);
		return;
	}
	struct pfhold_rec *same = NULL;
	for (size_t i = p->n; i-- > 0 && !same;) {
		struct pfhold_rec *x = &p->recs[i];
		if ((r->instance[0] && strcmp(x->instance, r->instance) == 0) ||
		    (r->queue_id[0] && strcmp(x->queue_id, r->queue_id) == 0))
			same = x;
	}
	bool changed = false;
	if (same) {
		if (!same->queue_id[0] && r->queue_id[0]) {
			if (str_copy(same->queue_id, sizeof same->queue_id, r->queue_id) != 0)
				panic("pfhold_note: same->queue_id does not fit");
			changed = true;
		}
		if (held) {
			unsigned before = same->nrcpt;
			pfhold_add_rcpts(same, r);
			changed = changed || same->nrcpt != before;
		}
	} else if (held) {
		if (pfhold_append(p, r) != 0)
			log_error("postfix holds: out of memory; queue_id=%s not recorded",
			          r->queue_id[0] ? r->queue_id : "-");
		else
			changed = true;
	}
	if (changed)
		(void)pfhold_save(p);
	pthread_mutex_unlock(&p->lock);
}

/* ---- Postfix's tools ---- */

#define PFHOLD_ARGS 24

/* cmd's words, then -c DIR, then the extra arguments; argv points into words. */
static int pfhold_argv(const struct pfhold *p, const char *cmd, char *words, size_t wsize,
                       char **argv, const char *a1, const char *a2, char *err, size_t errlen)
{
	if (str_copy(words, wsize, cmd) != 0) {
		str_format_trunc(err, errlen, "command too long: %.60s", cmd);
		return -1;
	}
	int n = spawn_split(words, argv, PFHOLD_ARGS - 5);
	if (n < 0) {
		str_format_trunc(err, errlen, "command empty or too many words: %.60s", cmd);
		return -1;
	}
	if (p->conf.config_dir[0]) {
		argv[n++] = (char *)"-c";
		argv[n++] = (char *)p->conf.config_dir;
	}
	argv[n++] = (char *)a1;
	if (a2)
		argv[n++] = (char *)a2;
	argv[n] = NULL;
	return 0;
}

struct pfhold_msgs {
	json_t *all; /* {queue_id: message as JSON} */
};

static int pfhold_msg_cb(void *arg, const struct pfqueue_msg *m)
{
	struct pfhold_msgs *c = arg;
	json_t *rc = json_array();
	for (unsigned i = 0; i < m->nkept && rc; i++)
		json_array_append_new(rc, json_string(m->rcpt[i]));
	json_t *o = rc ? json_pack("{s:s, s:I, s:I, s:s, s:o, s:I}", "queue_name", m->queue_name,
	                           "arrival_time", (json_int_t)m->arrival_time, "message_size",
	                           (json_int_t)m->message_size, "sender", m->sender, "recipients",
	                           rc, "rcpt_count", (json_int_t)m->nrcpt)
	               : NULL;
	return o && json_object_set_new(c->all, m->queue_id, o) == 0 ? 0 : 1;
}

/* postqueue -j as {queue_id: message}; NULL with err. Runs without the lock. */
static json_t *pfhold_queue(struct pfhold *p, char *err, size_t errlen)
{
	char words[600], why[300], etext[300];
	char *argv[PFHOLD_ARGS];
	if (pfhold_argv(p, p->conf.postqueue, words, sizeof words, argv, "-j", NULL, err, errlen) !=
	    0)
		return NULL;
	struct buf out;
	buf_init(&out, PFHOLD_OUT_MAX);
	if (spawn_run(argv, &out, etext, sizeof etext, p->conf.timeout_ms, why, sizeof why) != 0) {
		str_format_trunc(err, errlen, "reading Postfix's queue: %s", why);
		buf_free(&out);
		return NULL;
	}
	struct pfhold_msgs c = {json_object()};
	size_t bad = 0;
	int rc = c.all ? pfqueue_parse(buf_cstr(&out), out.len, pfhold_msg_cb, &c, &bad) : -1;
	buf_free(&out);
	if (rc != 0) {
		json_decref(c.all);
		str_format_trunc(err, errlen, "out of memory reading Postfix's queue");
		return NULL;
	}
	if (bad)
		log_warn("postfix holds: %zu lines of postqueue -j not understood", bad);
	return c.all;
}

static bool pfhold_rcpts_in(const struct pfhold_rec *r, json_t *msg)
{
	json_t *rc = json_object_get(msg, "recipients");
	for (unsigned i = 0; i < r->nrcpt; i++) {
		bool found = false;
		size_t k;
		json_t *v;
		json_array_foreach(rc, k, v) found =
		    found || str_ieq(json_string_value(v), r->rcpt[i]);
		if (!found)
			return false;
	}
	return true;
}

/* Gives records without queue ID the held message they stand for, drops the
 * records of messages no longer held; with the lock held. */
static void pfhold_match(struct pfhold *p, json_t *all, int64_t now_ms)
{
	bool changed = false;
	for (size_t i = 0; i < p->n;) {
		struct pfhold_rec *r = &p->recs[i];
		if (!r->queue_id[0]) {
			const char *id;
			json_t *m;
			json_object_foreach(all, id, m)
			{
				const char *qn =
				    json_string_value(json_object_get(m, "queue_name"));
				int64_t at =
				    (int64_t)json_integer_value(json_object_get(m, "arrival_time"));
				bool taken = false;
				for (size_t k = 0; k < p->n && !taken; k++)
					taken = strcmp(p->recs[k].queue_id, id) == 0;
				if (!taken && qn && strcmp(qn, "hold") == 0 &&
				    str_ieq(json_string_value(json_object_get(m, "sender")),
				            r->sender) &&
				    pfhold_rcpts_in(r, m) && at >= 0 && at <= PFHOLD_AT_MAX &&
				    llabs(at * 1000 - r->time_ms) <= PFHOLD_MATCH_MS) {
					if (str_copy(r->queue_id, sizeof r->queue_id, id) != 0)
						continue;
					changed = true;
					break;
				}
			}
		}
		json_t *m = r->queue_id[0] ? json_object_get(all, r->queue_id) : NULL;
		const char *qn = json_string_value(json_object_get(m, "queue_name"));
		bool gone = r->queue_id[0] ? !qn || strcmp(qn, "hold") != 0
		                           : now_ms - r->time_ms > PFHOLD_PENDING_MS;
		if (gone) {
			log_info("postfix holds: queue_id=%s identity=%s is no longer held (%s); "
			         "record dropped",
			         r->queue_id[0] ? r->queue_id : "-", r->identity,
			         qn ? qn : "not in the queue");
			pfhold_remove(p, i);
			changed = true;
			continue;
		}
		i++;
	}
	if (changed)
		(void)pfhold_save(p);
}

static json_t *pfhold_entry(const struct pfhold_rec *r, json_t *m)
{
	char t[40], pt[40];
	int64_t at = (int64_t)json_integer_value(json_object_get(m, "arrival_time"));
	json_t *arrival =
	    at > 0 && at <= PFHOLD_AT_MAX && clock_format_rfc3339(at * 1000, t, sizeof t) == 0
	        ? json_string(t)
	        : json_null();
	json_t *policy_time =
	    clock_format_rfc3339(r->time_ms, pt, sizeof pt) == 0 ? json_string(pt) : json_null();
	json_t *o =
	    json_pack("{s:s, s:o, s:O, s:O, s:O, s:s, s:s, s:O, s:b, s:s, s:s, s:s, s:s, s:o, s:s}",
	              "id", r->queue_id, "arrival", arrival, "sender", json_object_get(m, "sender"),
	              "recipients", json_object_get(m, "recipients"), "rcpt_count",
	              json_object_get(m, "rcpt_count"), "client_ip", r->client_ip, "auth_user",
	              r->user, "size", json_object_get(m, "message_size"), "held", 1, "reason",
	              r->reason[0] ? r->reason : r->rule, "identity", r->identity, "rule", r->rule,
	              "instance", r->instance, "policy_time", policy_time, "queue", "postfix");
	return o;
}

json_t *pfhold_list(struct pfhold *p, int64_t now_ms, char *err, size_t errlen)
{
	json_t *all = pfhold_queue(p, err, errlen);
	if (!all)
		return NULL;
	json_t *arr = json_array();
	pthread_mutex_lock(&p->lock);
	pfhold_match(p, all, now_ms);
	for (size_t i = 0; i < p->n && arr; i++) {
		json_t *m = json_object_get(all, p->recs[i].queue_id);
		if (m)
			json_array_append_new(arr, pfhold_entry(&p->recs[i], m));
	}
	pthread_mutex_unlock(&p->lock);
	json_decref(all);
	if (!arr) {
		str_format_trunc(err, errlen, "out of memory");
		return NULL;
	}
	return json_pack("{s:o, s:s}", "holds", arr, "queue", "postfix");
}

static void pfhold_audit(struct pfhold *p, const char *action, const char *id,
                         const struct pfhold_rec *r, const char *actor, const char *reason,
                         int64_t now_ms)
{
	char when[40];
	if (!p->conf.audit_path[0] || clock_format_rfc3339(now_ms, when, sizeof when))
		return;
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "time", when, "actor", actor,
	                      "action", action, "id", id, "reason", reason, "queue", "postfix",
	                      "identity", r->identity);
	char *line = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	json_decref(o);
	int fd =
	    line ? open(p->conf.audit_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600) : -1;
	bool ok = fd >= 0 && write(fd, line, strlen(line)) == (ssize_t)strlen(line) &&
	          write(fd, "\n", 1) == 1 && fdatasync(fd) == 0;
	if (fd >= 0)
		close(fd);
	if (!ok)
		log_error("postfix holds: queue_id=%s: audit record not written to %s: %s", id,
		          p->conf.audit_path, strerror(errno));
	free(line);
}

static ssize_t pfhold_find(struct pfhold *p, const char *id)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->recs[i].queue_id, id) == 0)
			return (ssize_t)i;
	return -1;
}

enum pfhold_result pfhold_change(struct pfhold *p, bool release, const char *id, const char *actor,
                                 const char *reason, int64_t now_ms, char *err, size_t errlen)
{
	if (!id || !pfqueue_id_ok(id)) {
		str_format_trunc(err, errlen, "'%.40s' is not a Postfix queue ID", id ? id : "");
		return PFHOLD_BAD_ID;
	}
	/* The queue as it is now: is it ours, and still held? */
	json_t *all = pfhold_queue(p, err, errlen);
	if (!all)
		return PFHOLD_FAILED;
	pthread_mutex_lock(&p->lock);
	pfhold_match(p, all, now_ms);
	ssize_t i = pfhold_find(p, id);
	bool ours = i >= 0;
	struct pfhold_rec r;
	if (ours)
		r = p->recs[i];
	pthread_mutex_unlock(&p->lock);
	json_t *m = json_object_get(all, id);
	const char *qn = json_string_value(json_object_get(m, "queue_name"));
	bool held = qn && strcmp(qn, "hold") == 0;
	json_decref(all);
	if (!ours) {
		str_format_trunc(err, errlen, "%s: no message the policy held has this queue ID%s",
		                 id,
		                 held ? " (it is in Postfix's hold queue for another reason)" : "");
		return PFHOLD_NOT_OURS;
	}
	if (!held) { /* cannot be: pfhold_match dropped it */
		str_format_trunc(err, errlen, "%s: not in Postfix's hold queue", id);
		return PFHOLD_NOT_HELD;
	}
	char words[600], why[300], etext[300];
	char *argv[PFHOLD_ARGS];
	if (pfhold_argv(p, p->conf.postsuper, words, sizeof words, argv, release ? "-H" : "-d", id,
	                err, errlen) != 0)
		return PFHOLD_FAILED;
	struct buf out;
	buf_init(&out, 64 * 1024);
	int rc = spawn_run(argv, &out, etext, sizeof etext, p->conf.timeout_ms, why, sizeof why);
	buf_free(&out);
	if (rc != 0) {
		str_format_trunc(err, errlen, "%s: %s", id, why);
		return PFHOLD_FAILED;
	}
	/* postsuper -H moves it to the deferred queue: delivery would wait for the
	 * next queue run (queue_run_delay); postqueue -i asks for it now. */
	if (release) {
		buf_init(&out, 64 * 1024);
		if (pfhold_argv(p, p->conf.postqueue, words, sizeof words, argv, "-i", id, err,
		                errlen) != 0 ||
		    spawn_run(argv, &out, etext, sizeof etext, p->conf.timeout_ms, why,
		              sizeof why) != 0)
			log_warn("postfix holds: queue_id=%s released, but not scheduled now (%s): "
			         "Postfix delivers it at its next queue run",
			         id, why);
		buf_free(&out);
	}
	pthread_mutex_lock(&p->lock);
	i = pfhold_find(p, id);
	if (i >= 0) {
		pfhold_remove(p, (size_t)i);
		(void)pfhold_save(p);
	}
	pthread_mutex_unlock(&p->lock);
	const char *action = release ? "release" : "delete";
	pfhold_audit(p, action, id, &r, actor, reason, now_ms);
	char qi[STR_LOG_VALUE_MAX], qr[STR_LOG_VALUE_MAX];
	log_info("postfix holds: queue_id=%s %s by %s (identity=%s): %s", id,
	         release ? "released into Postfix's delivery" : "deleted from Postfix's queue",
	         actor, str_log_value(qi, sizeof qi, r.identity),
	         str_log_value(qr, sizeof qr, *reason ? reason : "(no reason given)"));
	return PFHOLD_DONE;
}
