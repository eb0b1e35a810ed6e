/*
 * ctlapi - the request table and its handlers; see ctlapi.h.
 */
#include "admin/ctlapi.h"

#include "admin/blocks.h"
#include "admin/holds.h"
#include "admin/pfhold.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"
#include "policy/canon.h"
#include "policy/config.h"
#include "policy/engine.h"
#include "policy/store.h"
#include "queue/queue.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What a handler sees: the request's common fields, already checked. */
struct ctlapi_req {
	json_t *json;
	const char *actor;  /* never NULL */
	const char *reason; /* never NULL, may be "" */
	int64_t now_ms;
};

/* An answer: ok with the handler's fields, or an error. */
static json_t *ctlapi_fail(enum ctlapi_code code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static json_t *ctlapi_fail(enum ctlapi_code code, const char *fmt, ...)
{
	char msg[300];
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return json_pack("{s:b, s:s, s:s}", "ok", 0, "code", ctlapi_code_name(code), "error", msg);
}

static const char *ctlapi_str(const struct ctlapi_req *r, const char *key)
{
	return json_string_value(json_object_get(r->json, key));
}

static json_t *ctlapi_queue_fail(struct ctlapi_state *s);

/* ---- policy state ---- */

static json_t *ctlapi_bad_identity(const char *in)
{
	return ctlapi_fail(CTLAPI_BAD_REQUEST,
	                   "'%.100s' is not an identity: give an account, an IP, a CIDR range or "
	                   "domain:NAME",
	                   in ? in : "");
}

static json_t *ctlapi_ping(struct ctlapi_state *s, const struct ctlapi_req *r)
{
	(void)r;
	return json_pack("{s:i, s:s, s:b, s:b}", "pid", (int)getpid(), "store",
	                 s->store ? s->store->name : "none", "fallback",
	                 s->store && s->store_degraded && s->store_degraded(s->store),
	                 "postfix_queue", s->pfhold != NULL);
}

/* A block or unblock must reach every node: refused while Redis is down. */
static json_t *ctlapi_check_store(struct ctlapi_state *s)
{
	if (s->store_degraded && s->store_degraded(s->store))
		return ctlapi_fail(CTLAPI_UNAVAILABLE,
		                   "Redis does not answer: a change of blocks or limits must reach "
		                   "every node; try again when it is back");
	return NULL;
}

static json_t *ctlapi_block(struct ctlapi_state *s, const struct ctlapi_req *r)
{
	json_t *refused = ctlapi_check_store(s);
	if (refused)
		return refused;
	const char *in = ctlapi_str(r, "identity");
	json_int_t in_ms = json_integer_value(json_object_get(r->json, "expires_in_ms"));
	char norm[POL_IDENT_MAX];
	int rc =
	    in ? blocks_block(s->engine, in, r->actor, *r->reason ? r->reason : NULL, r->now_ms,
	                      in_ms > 0 ? r->now_ms + (int64_t)in_ms : 0, norm, sizeof norm)
	       : BLOCKS_BAD_IDENTITY;
	if (rc == BLOCKS_BAD_IDENTITY)
		return ctlapi_bad_identity(in);
	if (rc < 0)
		return ctlapi_fail(CTLAPI_FAILED, "cannot write the block");
	log_info("control: %s blocked %s: %s", r->actor, norm,
	         *r->reason ? r->reason : "(no reason given)");
	return json_pack("{s:s, s:s}", "identity", norm, "result", "blocked");
}

static json_t *ctlapi_unblock(struct ctlapi_state *s, const struct ctlapi_req *r)
{
	json_t *refused = ctlapi_check_store(s);
	if (refused)
		return refused;
	const char *in = ctlapi_str(r, "identity");
	char norm[POL_IDENT_MAX];
	enum blocks_unblock_result res =
	    in ? blocks_unblock(s->engine, in, r->actor, *r->reason ? r->reason : NULL, r->now_ms,
	                        norm, sizeof norm)
	       : BLOCKS_BAD_IDENTITY;
	if (res == BLOCKS_BAD_IDENTITY)
		return ctlapi_bad_identity(in);
	if (res == BLOCKS_STORE_ERROR)
		return ctlapi_fail(CTLAPI_FAILED, "cannot lift the block");
	log_info("control: %s unblocked %s: %s", r->actor, norm,
	         *r->reason ? r->reason : "(no reason given)");
	return blocks_unblock_json(norm, res);
}

/* The three resume actions of the trusted-relay deployment (vqNow's "remove
 * the block", "re-authorise the trusted IP relay", "lift the range
 * exclusion"), each named by its kind. */
static const struct ctlapi_resume_kind {
	const char *kind, *prefix, *what;
} ctlapi_resume_kinds[] = {
    {"sender", "user:", "a sender (account or address)"},
    {"relay", "ip:", "a trusted relay (an IP address)"},
    {"range", "cidr:", "a range (CIDR)"},
};

struct ctlapi_held {
	const char *tag; /* " [IDENTITY]" */
	json_t *ids;
};

/* Held by the policy for exactly this identity: "policy RULE: ... [IDENTITY]"
 * (gateway/smtpd.c smtpd_hold_reason). */
static int ctlapi_held_cb(void *arg, const struct queue_envelope *env)
{
	struct ctlapi_held *h = arg;
	size_t n = strlen(env->hold_reason), t = strlen(h->tag);
	if (strncmp(env->hold_reason, "policy ", 7) != 0 || n < t ||
	    strcmp(env->hold_reason + n - t, h->tag) != 0)
		return 0;
	return json_array_append_new(h->ids, json_string(env->id)) == 0 ? 0 : 1;
}

/* {"kind": "sender" | "relay" | "range", "identity": ...}: lifts that block,
 * resets its counters, and releases the mail the policy held for that
 * identity and no other (a sender's held mail stays held when its relay is
 * re-authorised, and the other way round). Audited: the unblock in the
 * store's trail, each release in the spool's. */
static json_t *ctlapi_resume(struct ctlapi_state *s, const struct ctlapi_req *r)
{
	json_t *refused = ctlapi_check_store(s);
	if (refused)
		return refused;
	const char *kind = ctlapi_str(r, "kind"), *in = ctlapi_str(r, "identity");
	const struct ctlapi_resume_kind *k = NULL;
	for (size_t i = 0; kind && i < sizeof ctlapi_resume_kinds / sizeof ctlapi_resume_kinds[0];
	     i++)
		if (strcmp(kind, ctlapi_resume_kinds[i].kind) == 0)
			k = &ctlapi_resume_kinds[i];
	if (!k)
		return ctlapi_fail(CTLAPI_BAD_REQUEST, "kind: expected sender, relay or range");
	char norm[POL_IDENT_MAX], tag[POL_IDENT_MAX + 4], why[POL_TEXT_MAX];
	if (!in || blocks_normalize(s->engine, in, norm, sizeof norm) != 0)
		return ctlapi_bad_identity(in);
	if (strncmp(norm, k->prefix, strlen(k->prefix)) != 0)
		return ctlapi_fail(CTLAPI_BAD_REQUEST, "resume %s: '%.100s' is not %s", k->kind, in,
		                   k->what);
	str_format_trunc(why, sizeof why, "resume %s%s%s", k->kind, *r->reason ? ": " : "",
	                 r->reason);
	enum blocks_unblock_result res =
	    blocks_unblock(s->engine, in, r->actor, why, r->now_ms, norm, sizeof norm);
	if (res == BLOCKS_BAD_IDENTITY)
		return ctlapi_bad_identity(in);
	if (res == BLOCKS_STORE_ERROR)
		return ctlapi_fail(CTLAPI_FAILED, "cannot lift the block");
	struct ctlapi_held h = {tag, json_array()};
	if (!h.ids || str_format(tag, sizeof tag, " [%s]", norm) != 0) {
		json_decref(h.ids);
		return ctlapi_fail(CTLAPI_FAILED, "out of memory");
	}
	if (s->queue && queue_list(s->queue, true, ctlapi_held_cb, &h) != 0) {
		json_decref(h.ids);
		return ctlapi_fail(CTLAPI_FAILED, "%s lifted, but the hold queue cannot be read",
		                   norm);
	}
	size_t i;
	json_t *v;
	json_array_foreach(h.ids, i, v)
	{
		if (queue_release(s->queue, json_string_value(v), why, r->actor) != 0) {
			json_decref(h.ids);
			return ctlapi_queue_fail(s);
		}
	}
	if (json_array_size(h.ids) && s->wake_delivery)
		s->wake_delivery(s->wake_arg);
	log_info("control: %s resumed %s %s (%zu held messages released): %s", r->actor, k->kind,
	         norm, json_array_size(h.ids), *r->reason ? r->reason : "(no reason given)");
	return json_pack("{s:s, s:s, s:s, s:I, s:o}", "identity", norm, "kind", k->kind, "result",
	                 res == BLOCKS_LIFTED ? "resumed" : "not blocked; counters reset",
	                 "released", (json_int_t)json_array_size(h.ids), "ids", h.ids);
}

/* {"target": "user:NAME" | "domain:NAME" | "limits", "limit": "msg_hour",
 * "value": "5"}: the running engine's limits, until the next reload or
 * restart (the configuration file stays what it is). */
static json_t *ctlapi_limit(struct ctlapi_state *s, const struct ctlapi_req *r)
{
	json_t *refused = ctlapi_check_store(s);
	if (refused)
		return refused;
	const char *target = ctlapi_str(r, "target"), *limit = ctlapi_str(r, "limit");
	const char *value = ctlapi_str(r, "value");
	char section[POL_NAME_MAX + 8], err[200], num[32];
	const json_t *v = json_object_get(r->json, "value");
	if (!value && json_is_integer(v) &&
	    str_format(num, sizeof num, "%lld", (long long)json_integer_value(v)) == 0)
		value = num;
	if (!target || !limit || !value)
		return ctlapi_fail(CTLAPI_BAD_REQUEST, "a limit needs target, limit and value");
	char ctarget[POL_IDENT_MAX]; /* user:/domain: in their canonical form (canon.h) */
	if (canon_identity(target, ctarget, sizeof ctarget) != 0)
		return ctlapi_fail(CTLAPI_BAD_REQUEST, "target: not a user name or domain: %s",
		                   target);
	target = ctarget;
	if (strcmp(target, "limits") == 0) {
		if (str_copy(section, sizeof section, "limits") != 0)
			panic("ctlapi_limit: section does not fit");
	} else if ((strncmp(target, "user:", 5) != 0 || !target[5]) &&
	           (strncmp(target, "domain:", 7) != 0 || !target[7]))
		return ctlapi_fail(CTLAPI_BAD_REQUEST,
		                   "target: expected user:NAME, domain:NAME or limits");
	else if (str_format(section, sizeof section, "%.*s %s", target[0] == 'u' ? 4 : 6, target,
	                    strchr(target, ':') + 1) != 0)
		return ctlapi_fail(CTLAPI_BAD_REQUEST, "target name too long");
	/* Checked on a copy first: a bad value changes nothing. */
	struct pol_config *trial = malloc(sizeof *trial);
	if (!trial)
		return ctlapi_fail(CTLAPI_FAILED, "out of memory");
	*trial = *s->policy;
	int bad = pol_config_set(trial, section, limit, value, err, sizeof err);
	if (!bad)
		*s->policy = *trial;
	free(trial);
	if (bad)
		return ctlapi_fail(CTLAPI_BAD_REQUEST, "%s", err);
	struct store_audit a = {.time_ms = r->now_ms};
	if (str_copy(a.actor, sizeof a.actor, r->actor) != 0)
		return ctlapi_fail(CTLAPI_BAD_REQUEST, "actor too long");
	if (str_copy(a.action, sizeof a.action, "limit") != 0)
		panic("ctlapi_limit: a.action does not fit");
	if (str_copy(a.identity, sizeof a.identity, target) != 0)
		return ctlapi_fail(CTLAPI_BAD_REQUEST, "identity too long");
	str_format_trunc(a.reason, sizeof a.reason, "%s = %s%s%s", limit, value,
	                 *r->reason ? ": " : "", r->reason);
	if (s->store && s->store->audit_append(s->store, &a) != 0)
		log_error("control: limit %s for %s set, but its audit record was not written",
		          limit, target);
	log_info("control: %s set %s %s = %s: %s", r->actor, target, limit, value,
	         *r->reason ? r->reason : "(no reason given)");
	return json_pack("{s:s, s:s, s:s, s:s}", "target", target, "limit", limit, "value", value,
	                 "result", "set");
}

/* ---- queue ---- */

static enum ctlapi_code ctlapi_queue_code(const char *err)
{
	if (strstr(err, "no such entry"))
		return CTLAPI_NOT_FOUND;
	if (strstr(err, "not held") || strstr(err, "already held"))
		return CTLAPI_CONFLICT;
	if (strstr(err, "not a queue ID"))
		return CTLAPI_BAD_REQUEST;
	return CTLAPI_FAILED;
}

static json_t *ctlapi_queue_fail(struct ctlapi_state *s)
{
	const char *e = queue_error(s->queue);
	return ctlapi_fail(ctlapi_queue_code(e), "%s", e[0] ? e : "queue error");
}

static json_t *ctlapi_queue_done(const char *id, const char *done, const struct ctlapi_req *r)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "id", id, "result", done, "actor", r->actor,
	                 "reason", r->reason);
}

/* ---- Postfix's hold queue (policy-only mode, admin/pfhold) ---- */

/* A release or delete that goes to Postfix: an ID that is not one of our own
 * queue's while Postfix's hold queue is ours to act on. */
static bool ctlapi_is_postfix(const struct ctlapi_state *s, json_t *req)
{
	const char *id = json_string_value(json_object_get(req, "id"));
	return s->pfhold && id && !holds_id_ok(id);
}

static json_t *ctlapi_postfix_holds(struct ctlapi_state *s, const struct ctlapi_req *r)
{
	char err[400];
	json_t *doc = pfhold_list(s->pfhold, r->now_ms, err, sizeof err);
	return doc ? doc : ctlapi_fail(CTLAPI_FAILED, "%s", err);
}

static json_t *ctlapi_postfix_change(struct ctlapi_state *s, const struct ctlapi_req *r,
                                     bool release)
{
	char err[400];
	const char *id = ctlapi_str(r, "id");
	switch (pfhold_change(s->pfhold, release, id, r->actor, r->reason, r->now_ms, err,
	                      sizeof err)) {
	case PFHOLD_DONE:
		return json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", id, "result",
		                 release ? "released" : "deleted", "actor", r->actor, "reason",
		                 r->reason, "queue", "postfix");
	case PFHOLD_NOT_OURS:
		return ctlapi_fail(CTLAPI_NOT_FOUND, "%s", err);
	case PFHOLD_NOT_HELD:
		return ctlapi_fail(CTLAPI_CONFLICT, "%s", err);
	case PFHOLD_BAD_ID:
		return ctlapi_fail(CTLAPI_BAD_REQUEST, "%s", err);
	case PFHOLD_FAILED:
		return ctlapi_fail(CTLAPI_FAILED, "%s", err);
	}
	panic("ctlapi: pfhold result out of range");
}

static json_t *ctlapi_hold(struct ctlapi_state *s, const struct ctlapi_req *r)
{
	const char *id = ctlapi_str(r, "id");
	if (queue_hold(s->queue, id, r->reason, r->actor) != 0)
		return ctlapi_queue_fail(s);
	return ctlapi_queue_done(id, "held", r);
}

static json_t *ctlapi_release(struct ctlapi_state *s, const struct ctlapi_req *r)
{
	if (ctlapi_is_postfix(s, r->json))
		return ctlapi_postfix_change(s, r, true);
	const char *id = ctlapi_str(r, "id");
	if (queue_release(s->queue, id, r->reason, r->actor) != 0)
		return ctlapi_queue_fail(s);
	if (s->wake_delivery)
		s->wake_delivery(s->wake_arg);
	return ctlapi_queue_done(id, "released", r);
}

struct ctlapi_ids {
	json_t *ids;
};

static int ctlapi_deferred_cb(void *arg, const struct queue_envelope *env)
{
	struct ctlapi_ids *c = arg;
	if (!env->hold_reason[0] && env->attempts > 0)
		return json_array_append_new(c->ids, json_string(env->id)) == 0 ? 0 : 1;
	return 0;
}

/* {"id": QUEUE_ID} or {"all_deferred": true} */
static json_t *ctlapi_delete(struct ctlapi_state *s, const struct ctlapi_req *r)
{
	if (ctlapi_is_postfix(s, r->json))
		return ctlapi_postfix_change(s, r, false);
	const char *id = ctlapi_str(r, "id");
	if (!json_is_true(json_object_get(r->json, "all_deferred"))) {
		if (queue_delete(s->queue, id, r->reason, r->actor) != 0)
			return ctlapi_queue_fail(s);
		return ctlapi_queue_done(id, "deleted", r);
	}
	if (id)
		return ctlapi_fail(CTLAPI_BAD_REQUEST, "id or all_deferred, not both");
	struct ctlapi_ids c = {json_array()};
	if (!c.ids || queue_list(s->queue, false, ctlapi_deferred_cb, &c) != 0) {
		json_decref(c.ids);
		return ctlapi_fail(CTLAPI_FAILED, "cannot read the queue");
	}
	size_t i;
	json_t *v;
	json_array_foreach(c.ids, i, v)
	{
		if (queue_delete(s->queue, json_string_value(v), r->reason, r->actor) != 0) {
			json_decref(c.ids);
			return ctlapi_queue_fail(s);
		}
	}
	return json_pack("{s:s, s:I, s:o, s:s, s:s}", "result", "deleted", "count",
	                 (json_int_t)json_array_size(c.ids), "ids", c.ids, "actor", r->actor,
	                 "reason", r->reason);
}

/* {"id": QUEUE_ID} or nothing: every deferred entry. */
static json_t *ctlapi_flush(struct ctlapi_state *s, const struct ctlapi_req *r)
{
	const char *id = ctlapi_str(r, "id");
	int n = queue_flush(s->queue, id, r->actor);
	if (n < 0)
		return ctlapi_queue_fail(s);
	if (s->wake_delivery)
		s->wake_delivery(s->wake_arg);
	return json_pack("{s:s, s:i, s:s}", "result", "flushed", "count", n, "actor", r->actor);
}

struct ctlapi_list {
	json_t *active, *deferred, *held;
};

static int ctlapi_list_cb(void *arg, const struct queue_envelope *env)
{
	struct ctlapi_list *l = arg;
	json_t *j = holds_json_full(env);
	json_t *to = env->hold_reason[0] ? l->held : env->attempts > 0 ? l->deferred : l->active;
	return j && json_array_append_new(to, j) == 0 ? 0 : 1;
}

static json_t *ctlapi_queue_list(struct ctlapi_state *s, const struct ctlapi_req *r)
{
	(void)r;
	struct ctlapi_list l = {json_array(), json_array(), json_array()};
	json_t *doc = json_pack("{s:o, s:o, s:o}", "active", l.active, "deferred", l.deferred,
	                        "held", l.held);
	if (!doc || queue_list(s->queue, false, ctlapi_list_cb, &l) != 0) {
		json_decref(doc);
		return ctlapi_fail(CTLAPI_FAILED, "cannot read the queue");
	}
	return doc;
}

/* ---- configuration ---- */

static json_t *ctlapi_reload_as(struct ctlapi_state *s, bool users_only)
{
	char err[300] = "";
	if (s->reload(s->reload_arg, users_only, err, sizeof err) != 0)
		return ctlapi_fail(CTLAPI_FAILED, "%s", err[0] ? err : "reload failed");
	return json_pack("{s:s}", "result", "reloaded");
}

static json_t *ctlapi_users_reload(struct ctlapi_state *s, const struct ctlapi_req *r)
{
	(void)r;
	return ctlapi_reload_as(s, true);
}

static json_t *ctlapi_reload(struct ctlapi_state *s, const struct ctlapi_req *r)
{
	(void)r;
	return ctlapi_reload_as(s, false);
}

/* {"identity": ID}: what the engine has counted for it (policy/engine.h
 * pol_engine_counters): each limit's current rate, messages today, recipients. */
static json_t *ctlapi_counters(struct ctlapi_state *s, const struct ctlapi_req *r)
{
	const char *in = ctlapi_str(r, "identity");
	char norm[POL_IDENT_MAX];
	if (!in || blocks_normalize(s->engine, in, norm, sizeof norm) != 0)
		return ctlapi_bad_identity(in);
	struct pol_counters pc;
	int rc = pol_engine_counters(s->engine, norm, r->now_ms, &pc);
	if (rc < 0)
		return ctlapi_fail(CTLAPI_FAILED, "cannot read the state store");
	json_t *lim = json_object();
	for (int i = 0; i < POL_LIM_N && lim; i++)
		(void)json_object_set_new(lim, pol_config_limit_name((enum pol_limit_id)i),
		                          json_real(pc.limit[i]));
	return json_pack("{s:s, s:b, s:o*, s:I, s:f, s:I, s:I}", "identity", norm, "found", rc == 1,
	                 "limits", lim, "messages_today", (json_int_t)pc.messages_today,
	                 "recipients", pc.recipients, "ips_today", (json_int_t)pc.ips_today,
	                 "offences", (json_int_t)pc.offences);
}

/* ---- the table ---- */

enum {
	NEED_ENGINE = 1,  /* engine and store */
	NEED_QUEUE = 2,   /* the spool */
	NEED_SERVER = 4,  /* a running server (its configuration in memory, its hooks) */
	CHANGES = 8,      /* a change: logged with its actor */
	NEED_PFHOLD = 16, /* Postfix's hold queue (policy-only mode) */
	SLOW = 32,        /* waits for Postfix's programs: deferred when it can be */
	MAY_POSTFIX = 64, /* NEED_QUEUE | SLOW instead when its id is Postfix's */
};

static const struct ctlapi_type {
	const char *name;
	json_t *(*fn)(struct ctlapi_state *s, const struct ctlapi_req *r);
	unsigned flags;
} ctlapi_types[] = {
    {"ping", ctlapi_ping, 0},
    {"block", ctlapi_block, NEED_ENGINE | CHANGES},
    {"unblock", ctlapi_unblock, NEED_ENGINE | CHANGES},
    {"resume", ctlapi_resume, NEED_ENGINE | CHANGES},
    {"limit", ctlapi_limit, NEED_ENGINE | NEED_SERVER | CHANGES},
    {"hold", ctlapi_hold, NEED_QUEUE | CHANGES},
    {"release", ctlapi_release, NEED_QUEUE | CHANGES | MAY_POSTFIX},
    {"delete", ctlapi_delete, NEED_QUEUE | CHANGES | MAY_POSTFIX},
    {"flush", ctlapi_flush, NEED_QUEUE | CHANGES},
    {"queue_list", ctlapi_queue_list, NEED_QUEUE},
    {"users_reload", ctlapi_users_reload, NEED_SERVER | CHANGES},
    {"reload", ctlapi_reload, NEED_SERVER | CHANGES},
    {"postfix_holds", ctlapi_postfix_holds, NEED_PFHOLD | SLOW},
    {"counters", ctlapi_counters, NEED_ENGINE},
};
#define CTLAPI_NTYPES (sizeof ctlapi_types / sizeof ctlapi_types[0])

size_t ctlapi_ntypes(void)
{
	return CTLAPI_NTYPES;
}

const char *ctlapi_type_name(size_t i)
{
	return i < CTLAPI_NTYPES ? ctlapi_types[i].name : NULL;
}

static json_t *ctlapi_run(struct ctlapi_state *s, json_t *req, const char **type, bool *deferred)
{
	*type = json_string_value(json_object_get(req, "type"));
	if (!*type)
		*type = json_string_value(json_object_get(req, "cmd"));
	if (!*type)
		return ctlapi_fail(CTLAPI_BAD_REQUEST, "no type");
	const struct ctlapi_type *t = NULL;
	for (size_t i = 0; i < CTLAPI_NTYPES && !t; i++)
		if (strcmp(ctlapi_types[i].name, *type) == 0)
			t = &ctlapi_types[i];
	if (!t) {
		char names[256] = "";
		for (size_t i = 0; i < CTLAPI_NTYPES; i++)
			if ((i && str_append(names, sizeof names, ", ") != 0) ||
			    str_append(names, sizeof names, ctlapi_types[i].name) != 0)
				break;
		return ctlapi_fail(CTLAPI_UNKNOWN_TYPE, "unknown type (%s)", names);
	}
	unsigned flags = t->flags;
	if ((flags & MAY_POSTFIX) && ctlapi_is_postfix(s, req))
		flags = (flags & ~(unsigned)NEED_QUEUE) | SLOW;
	if ((flags & NEED_PFHOLD) && !s->pfhold)
		return ctlapi_fail(CTLAPI_UNAVAILABLE,
		                   "%s: Postfix's hold queue is not in use here ([policyd] "
		                   "postfix_queue)",
		                   t->name);
	if ((flags & NEED_ENGINE) && (!s->engine || !s->store))
		return ctlapi_fail(CTLAPI_UNAVAILABLE, "%s: no state store here", t->name);
	if ((flags & NEED_QUEUE) && !s->queue)
		return ctlapi_fail(CTLAPI_UNAVAILABLE, "%s: no spool here", t->name);
	if ((t->flags & NEED_SERVER) && (!s->reload || !s->policy))
		return ctlapi_fail(CTLAPI_UNAVAILABLE,
		                   "%s: only a running relayguard serve can do this", t->name);
	const json_t *actor = json_object_get(req, "actor"),
	             *reason = json_object_get(req, "reason");
	if ((actor && !json_is_string(actor)) ||
	    (reason && !json_is_string(reason) && !json_is_null(reason)))
		return ctlapi_fail(CTLAPI_BAD_REQUEST, "actor and reason are strings");
	if ((flags & SLOW) && s->defer) {
		*deferred = true;
		return s->defer(s->defer_arg, req) == 0
		           ? NULL
		           : ctlapi_fail(CTLAPI_UNAVAILABLE,
		                         "%s: too many requests wait for Postfix; try again",
		                         t->name);
	}
	struct ctlapi_req r = {
	    .json = req, .actor = json_string_value(actor), .reason = json_string_value(reason)};
	if (!r.actor || !*r.actor)
		r.actor = "admin";
	if (!r.reason)
		r.reason = "";
	if (!s->on_worker)
		clock_update();
	r.now_ms = clock_realtime_ms();
	return t->fn(s, &r);
}

json_t *ctlapi_dispatch(struct ctlapi_state *s, json_t *req)
{
	const char *type = NULL;
	bool deferred = false;
	json_t *reply = json_is_object(req)
	                    ? ctlapi_run(s, req, &type, &deferred)
	                    : ctlapi_fail(CTLAPI_BAD_REQUEST, "expected a JSON object");
	if (!reply && deferred)
		return NULL;
	if (!reply)
		reply = ctlapi_fail(CTLAPI_FAILED, "out of memory");
	if (!json_object_get(reply, "ok")) {
		(void)json_object_set_new(reply, "ok", json_true());
		(void)json_object_set_new(reply, "type", json_string(type));
	}
	json_t *rid = json_is_object(req) ? json_object_get(req, "request_id") : NULL;
	if (rid)
		(void)json_object_set(reply, "request_id", rid);
	if (s->via)
		(void)json_object_set_new(reply, "via", json_string(s->via));
	return reply;
}

json_t *ctlapi_request(const char *type, const char *actor, const char *reason)
{
	static json_int_t seq;
	return json_pack("{s:I, s:s, s:s*, s:s*}", "request_id",
	                 (json_int_t)getpid() * 1000 + ++seq, "type", type, "actor", actor,
	                 "reason", reason);
}

void ctlapi_strip(json_t *reply)
{
	static const char *const keys[] = {"ok", "type", "request_id", "via", "code"};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		(void)json_object_del(reply, keys[i]);
}

static const char *const ctlapi_codes[] = {"ok",       "bad_request", "unknown_type", "not_found",
                                           "conflict", "unavailable", "failed"};

const char *ctlapi_code_name(enum ctlapi_code code)
{
	if ((size_t)code >= sizeof ctlapi_codes / sizeof ctlapi_codes[0])
		panic("ctlapi: code %d", (int)code);
	return ctlapi_codes[code];
}

enum ctlapi_code ctlapi_reply_code(const json_t *reply)
{
	if (json_is_true(json_object_get(reply, "ok")))
		return CTLAPI_OK;
	const char *c = json_string_value(json_object_get(reply, "code"));
	for (size_t i = 0; c && i < sizeof ctlapi_codes / sizeof ctlapi_codes[0]; i++)
		if (strcmp(ctlapi_codes[i], c) == 0)
			return (enum ctlapi_code)i;
	return CTLAPI_FAILED;
}

int ctlapi_http_status(const json_t *reply)
{
	switch (ctlapi_reply_code(reply)) {
	case CTLAPI_OK:
		return 200;
	case CTLAPI_BAD_REQUEST:
	case CTLAPI_UNKNOWN_TYPE:
		return 400;
	case CTLAPI_NOT_FOUND:
		return 404;
	case CTLAPI_CONFLICT:
		return 409;
	case CTLAPI_UNAVAILABLE:
		return 503;
	case CTLAPI_FAILED:
		return 500;
	}
	panic("ctlapi: code out of range");
}
