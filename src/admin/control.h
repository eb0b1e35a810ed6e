/*
 * control - the control socket of a running `relayguard serve`: a Unix-domain
 * socket (state_dir/control.sock; no access for group or others) on
 * which the admin commands talk to the running server instead of opening
 * the state store behind its back. One JSON object per line each way:
 *
 *   {"request_id": 7, "type": "block", "identity": "user:sam@example.org",
 *    "actor": "ops", "reason": "password guessed"}
 *   reply: {"request_id": 7, "ok": true, ...} or {..., "ok": false, "code", "error"}
 *
 * The requests and their answers are the control API's (admin/ctlapi.h). The
 * transport is generic: each request line is parsed and handed to the
 * caller's handler (ctlapi_dispatch in serve), which returns the reply. Requests longer
 * than CONTROL_LINE_MAX close the connection. The client side is one blocking
 * call with a time limit, for the CLI.
 */
#ifndef RG_ADMIN_CONTROL_H
#define RG_ADMIN_CONTROL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define CONTROL_LINE_MAX 8192
#define CONTROL_REPLY_MAX (64u << 20) /* a queue listing may be long */

struct event_base;
struct control;

/* The reply to req (a JSON object); NULL means {"ok": false, "error": "internal error"}. */
typedef json_t *(*control_handler_fn)(void *ctx, json_t *req);

/* Listens on path (a stale socket there is replaced). NULL with err set. */
struct control *control_new(struct event_base *base, const char *path, control_handler_fn fn,
                            void *ctx, char *err, size_t errlen);
/* A handler that answers later (a request that waits for another program)
 * calls this and returns NULL: the ticket names the connection, whose further
 * requests wait meanwhile. 0 outside a handler. */
uint64_t control_defer(struct control *c);
/* The answer (taken) to a deferred request; dropped when its client is gone. */
void control_answer(struct control *c, uint64_t ticket, json_t *reply);

/* Stops listening, closes connections and removes the socket. */
void control_free(struct control *c);

/* Sends req to the server on path and waits for its reply (at most timeout_ms).
 * 0 with *reply set (the caller frees it), 1 when no server runs there (no
 * socket, or nobody listening), -1 on another error (err says why). */
int control_call(const char *path, json_t *req, int timeout_ms, json_t **reply, char *err,
                 size_t errlen);

#endif
