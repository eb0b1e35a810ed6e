/*
 * status - the document of `relayguard status --json` and GET /api/status:
 *
 *   {"time", "blocks": {"active", "by_kind": {"user", "ip", "cidr", "domain"},
 *                       "by_rule": {RULE: N}},
 *    "queue": null | {"active", "deferred", "held", "bytes", "oldest"},
 *    "holds": null | {"count", "by_reason": {RULE: N}},
 *    "limits": {"msg_minute", "msg_hour", ..., "strict"},
 *    "overrides": {"domains", "users"},
 *    "auth": {"ip_failures", "ip_period_s", "ip_lockout_s", "account_failures",
 *             "account_period_s"}}
 *
 * queue and holds are null when this build or process has no queue.
 * holds.by_reason (added by status_add_holds) counts the held messages by the
 * rule that held them: the policy rule of "policy RULE: why" (autoreply_repeat,
 * notify_unverified, forward_spam, ...), "dsn_unverified" for a DSN held by
 * delivery, "manual" for `relayguard hold` and anything else.
 */
#ifndef RG_ADMIN_STATUS_H
#define RG_ADMIN_STATUS_H

#include "policy/config.h"
#include "policy/store.h"

#include <jansson.h>
#include <stdint.h>

struct queue;
struct queue_stats;

/* NULL on a store error. qs may be NULL (no queue). */
json_t *status_json(struct store *st, const struct pol_config *pc, const struct queue_stats *qs,
                    int64_t now_ms);
/* Adds holds.by_reason from the held entries of q to a status_json document
 * with a queue. 0, or -1 (queue or memory error). */
int status_add_holds(json_t *doc, struct queue *q);
/* The rule a hold reason names, for grouping (see above). */
void status_hold_rule(const char *reason, char *rule, size_t size);

#endif
