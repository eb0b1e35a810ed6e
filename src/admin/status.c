/*
 * status - queue, holds, blocks and the limits in force; see status.h.
 */
#include "admin/status.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"
#include "queue/queue.h"

#include <string.h>

struct status_count {
	json_t *by_kind, *by_rule;
	json_int_t n;
};

static void status_inc(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	json_object_set_new(o, key, json_integer(v ? json_integer_value(v) + 1 : 1));
}

static int status_count_cb(void *ctx, const struct store_block *b)
{
	struct status_count *c = ctx;
	c->n++;
	status_inc(c->by_kind, store_block_kind_name(b->kind));
	status_inc(c->by_rule, b->rule);
	return 0;
}

json_t *status_json(struct store *st, const struct pol_config *pc, const struct queue_stats *qs,
                    int64_t now_ms)
{
	struct status_count c = {.by_kind = json_pack("{s:i, s:i, s:i, s:i}", "user", 0, "ip", 0,
	                                              "cidr", 0, "domain", 0),
	                         .by_rule = json_object()};
	if (!c.by_kind || !c.by_rule || st->block_iter(st, status_count_cb, &c) != 0) {
		json_decref(c.by_kind);
		json_decref(c.by_rule);
		return NULL;
	}
	char t[40];
	clock_format_rfc3339(now_ms, t, sizeof t);
	json_t *limits = json_object();
	for (int i = 0; i < POL_LIM_N; i++)
		json_object_set_new(limits, pol_config_limit_name((enum pol_limit_id)i),
		                    json_integer(pc->limits.max[i]));
	json_object_set_new(limits, "strict", json_boolean(pc->limits.strict));
	json_t *doc = json_pack(
	    "{s:s, s:{s:I, s:o, s:o}, s:o, s:{s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I}}", "time", t,
	    "blocks", "active", c.n, "by_kind", c.by_kind, "by_rule", c.by_rule, "limits", limits,
	    "overrides", "domains", (json_int_t)pc->n_domains, "users", (json_int_t)pc->n_users,
	    "auth", "ip_failures", (json_int_t)pc->ip_failures, "ip_period_s",
	    (json_int_t)(pc->ip_period_ms / 1000), "ip_lockout_s",
	    (json_int_t)(pc->ip_lockout_ms / 1000), "account_failures",
	    (json_int_t)pc->account_failures, "account_period_s",
	    (json_int_t)(pc->account_period_ms / 1000));
	if (!doc)
		return NULL;
	if (qs) {
		char oldest[40] = "";
		if (qs->oldest_arrival_ms)
			clock_format_rfc3339((int64_t)qs->oldest_arrival_ms, oldest, sizeof oldest);
		json_object_set_new(
		    doc, "queue",
		    json_pack("{s:I, s:I, s:I, s:I, s:s?}", "active", (json_int_t)qs->active,
		              "deferred", (json_int_t)qs->deferred, "held", (json_int_t)qs->held,
		              "bytes", (json_int_t)qs->bytes, "oldest", oldest[0] ? oldest : NULL));
		json_object_set_new(doc, "holds",
		                    json_pack("{s:I}", "count", (json_int_t)qs->held));
	} else {
		json_object_set_new(doc, "queue", json_null());
		json_object_set_new(doc, "holds", json_null());
	}
	return doc;
}

void status_hold_rule(const char *reason, char *rule, size_t size)
{
	static const char policy[] = "policy ";
	if (strncmp(reason, policy, sizeof policy - 1) == 0) {
		const char *r = reason + sizeof policy - 1;
		size_t n = strcspn(r, ": ");
		if (n > 0 && n < size && r[n] == ':') {
			memcpy(rule, r, n);
			rule[n] = '\0';
			return;
		}
	}
	if (strncmp(reason, "DSN to an unverified sender", 27) == 0) {
		if (str_copy(rule, size, "dsn_unverified") != 0)
			panic("status_hold_rule: rule does not fit");
	} else {
		if (str_copy(rule, size, "manual") != 0)
			panic("status_hold_rule: rule does not fit");
	}
}

static int status_hold_cb(void *arg, const struct queue_envelope *env)
{
	char rule[QUEUE_REASON_MAX];
	status_hold_rule(env->hold_reason, rule, sizeof rule);
	status_inc(arg, rule);
	return 0;
}

int status_add_holds(json_t *doc, struct queue *q)
{
	json_t *holds = json_object_get(doc, "holds");
	json_t *by = json_object();
	if (!json_is_object(holds) || !by || queue_list(q, true, status_hold_cb, by) != 0) {
		json_decref(by);
		return -1;
	}
	return json_object_set_new(holds, "by_reason", by);
}
