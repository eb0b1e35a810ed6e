/*
 * ctlasync - control API requests that wait for another program (Postfix's
 * postqueue and postsuper, admin/pfhold) run on a worker thread of their own,
 * so the server's loop goes on answering Postfix's policy requests meanwhile.
 * The worker dispatches through the same table (ctlapi_dispatch) on a state
 * that has only what those requests touch (the pfhold store, which has its
 * lock); the answer comes back to the loop through a pipe and is handed to
 * the caller's answer function there.
 */
#ifndef RG_ADMIN_CTLASYNC_H
#define RG_ADMIN_CTLASYNC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct ctlapi_state;
struct ctlasync;

/* Called on the loop's thread with the answer (taken) of the request submitted
 * with ticket. */
typedef void (*ctlasync_answer_fn)(void *arg, uint64_t ticket, json_t *reply);

/* worker: the state the worker dispatches on (kept, not copied; it must have no
 * defer hook). NULL with err. */
struct ctlasync *ctlasync_new(struct event_base *base, struct ctlapi_state *worker,
                              ctlasync_answer_fn answer, void *arg, char *err, size_t errlen);
/* Queues req (a reference is taken). 0, or -1 when too many wait already. */
int ctlasync_submit(struct ctlasync *a, json_t *req, uint64_t ticket);
/* Waits for the request running, drops those waiting. */
void ctlasync_free(struct ctlasync *a);

#endif
