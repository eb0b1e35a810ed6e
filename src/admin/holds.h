/*
 * holds - the hold queue as the admin sees it: the one code path behind the
 * web page's Holds section, /api/holds and `relayguard hold list`.
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
/* {"holds": [...]} in arrival order; only those of auth_user, or of client_ip, when
 * given (NULL: all). NULL on a queue error. */
json_t *holds_list(struct queue *q, const char *auth_user, const char *client_ip);

enum holds_op { HOLDS_RELEASE, HOLDS_DELETE };
/* Releases or deletes held message id with an audit record. 0, or -1 with the queue's
 * reason in err ("ID: no such entry", "ID: not held"). */
int holds_act(struct queue *q, const char *id, enum holds_op op, const char *reason,
              const char *actor, char *err, size_t errlen);
/* A queue ID as the queue makes them: 16 to 31 upper-case hex digits. */
bool holds_id_ok(const char *id);

#endif
