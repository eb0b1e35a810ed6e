/*
 * holds - the hold queue as the admin sees it: the JSON of queue entries behind
 * the web page's Holds section, /api/holds, `relayguard hold` and `queue list`.
 * Changes go through the control API (admin/ctlapi).
 *
 * JSON of a held message:
 *   {"id", "arrival", "sender", "recipients": [...], "rcpt_count", "client_ip",
 *    "auth_user", "size", "held", "reason"}; "arrival" is null when unknown.
 */
#ifndef RG_ADMIN_HOLDS_H
#define RG_ADMIN_HOLDS_H

#include "queue/queue.h"

#include <jansson.h>

json_t *holds_json(const struct queue_envelope *env);
/* holds_json and the rest of the envelope: "client_helo", "protocol", "listener",
 * "sender_verified", "attempts", "next_attempt" (null: due now), "last_reply" (the
 * latest answer of the next hop for a pending recipient, "" when none), and
 * "rcpts": [{"address", "status", "attempts", "last_reply"}]. */
json_t *holds_json_full(const struct queue_envelope *env);
/* {"holds": [...]} in arrival order; only those of auth_user, or of client_ip, when
 * given (NULL: all). NULL on a queue error. */
json_t *holds_list(struct queue *q, const char *auth_user, const char *client_ip);

/* A queue ID as the queue makes them: 16 to 31 upper-case hex digits. */
bool holds_id_ok(const char *id);

#endif
