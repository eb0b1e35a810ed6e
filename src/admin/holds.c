/*
 * holds - listing, releasing and deleting held messages; see holds.h.
 */
#include "admin/holds.h"

#include "core/clock.h"
#include "core/str.h"
#include "queue/qenv.h"

#include <string.h>

json_t *holds_json(const struct queue_envelope *env)
{
	char t[40];
	json_t *arrival =
	    env->arrival_ms && clock_format_rfc3339((int64_t)env->arrival_ms, t, sizeof t) == 0
	        ? json_string(t)
	        : json_null();
	json_t *rc = json_array();
	for (unsigned i = 0; i < env->nrcpt; i++)
		json_array_append_new(rc, json_string(env->rcpt[i].addr));
	return json_pack("{s:s, s:o, s:s, s:o, s:I, s:s, s:s, s:I, s:b, s:s}", "id", env->id,
	                 "arrival", arrival, "sender", env->sender, "recipients", rc, "rcpt_count",
	                 (json_int_t)env->nrcpt, "client_ip", env->client_ip, "auth_user",
	                 env->auth_user, "size", (json_int_t)env->size, "held",
	                 env->hold_reason[0] != '\0', "reason", env->hold_reason);
}

static json_t *holds_time(uint64_t ms)
{
	char t[40];
	if (!ms || clock_format_rfc3339((int64_t)ms, t, sizeof t) < 0)
		return json_null();
	return json_string(t);
}

json_t *holds_json_full(const struct queue_envelope *env)
{
	json_t *o = holds_json(env);
	json_t *rcpts = json_array();
	if (!o || !rcpts) {
		json_decref(o);
		json_decref(rcpts);
		return NULL;
	}
	const char *last = "";
	for (unsigned i = 0; i < env->nrcpt; i++) {
		const struct queue_rcpt *r = &env->rcpt[i];
		if (r->status == QUEUE_RCPT_PENDING && r->last_reply[0])
			last = r->last_reply;
		json_array_append_new(rcpts, json_pack("{s:s, s:s, s:I, s:s}", "address", r->addr,
		                                       "status", qenv_status_name(r->status),
		                                       "attempts", (json_int_t)r->attempts,
		                                       "last_reply", r->last_reply));
	}
	json_object_set_new(o, "rcpts", rcpts);
	json_object_set_new(o, "client_helo", json_string(env->client_helo));
	json_object_set_new(o, "protocol", json_string(env->protocol));
	json_object_set_new(o, "listener", json_string(env->listener));
	json_object_set_new(o, "sender_verified", json_boolean(env->sender_verified));
	json_object_set_new(o, "attempts", json_integer((json_int_t)env->attempts));
	json_object_set_new(o, "next_attempt", holds_time(env->next_attempt_ms));
	json_object_set_new(o, "last_reply", json_string(last));
	return o;
}

struct holds_ctx {
	const char *user, *ip;
	json_t *arr;
};

/* Held for user:NAME by the policy without AUTH (a trusted relay's sender,
 * docs/deploy-smarthost.md): the hold reason ends in "[user:NAME]". */
static bool holds_for_user(const struct queue_envelope *env, const char *user)
{
	size_t n = strlen(env->hold_reason), u = strlen(user);
	const char *end = env->hold_reason + n;
	return n >= u + 7 && end[-1] == ']' && strncmp(end - u - 7, "[user:", 6) == 0 &&
	       str_ieq_n(end - u - 1, u, user);
}

static int holds_list_cb(void *arg, const struct queue_envelope *env)
{
	struct holds_ctx *c = arg;
	if (c->user && !str_ieq(env->auth_user, c->user) && !holds_for_user(env, c->user))
		return 0;
	if (c->ip && strcmp(env->client_ip, c->ip) != 0)
		return 0;
	json_t *j = holds_json(env);
	return j && json_array_append_new(c->arr, j) == 0 ? 0 : 1;
}

json_t *holds_list(struct queue *q, const char *auth_user, const char *client_ip)
{
	struct holds_ctx c = {.user = auth_user, .ip = client_ip, .arr = json_array()};
	if (!c.arr || queue_list(q, true, holds_list_cb, &c) != 0) {
		json_decref(c.arr);
		return NULL;
	}
	return json_pack("{s:o}", "holds", c.arr);
}

bool holds_id_ok(const char *id)
{
	size_t n = strlen(id);
	return n >= 16 && n < QUEUE_ID_MAX && strspn(id, "0123456789ABCDEF") == n;
}
