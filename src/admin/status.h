/*
 * status - the document of `relayguard status --json` and GET /api/status:
 *
 *   {"time", "blocks": {"active", "by_kind": {"user", "ip", "cidr", "domain"},
 *                       "by_rule": {RULE: N}},
 *    "queue": null | {"active", "deferred", "held", "bytes", "oldest"},
 *    "holds": null | {"count"},
 *    "limits": {"msg_minute", "msg_hour", ..., "strict"},
 *    "overrides": {"domains", "users"},
 *    "auth": {"ip_failures", "ip_period_s", "ip_lockout_s", "account_failures",
 *             "account_period_s"}}
 *
 * queue and holds are null when this build or process has no queue.
 */
#ifndef RG_ADMIN_STATUS_H
#define RG_ADMIN_STATUS_H

#include "policy/config.h"
#include "policy/store.h"

#include <jansson.h>
#include <stdint.h>

struct queue_stats;

/* NULL on a store error. qs may be NULL (no queue). */
json_t *status_json(struct store *st, const struct pol_config *pc, const struct queue_stats *qs,
                    int64_t now_ms);

#endif
