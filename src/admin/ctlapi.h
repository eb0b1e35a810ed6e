/*
 * ctlapi - the one control API of a running `relayguard serve`: every change
 * of its state (block, unblock, limit override, hold, release, delete, queue
 * flush, users reload, reload) is a typed request, dispatched through one
 * table of request types and answered in one vocabulary. The CLI sends the
 * requests over the control socket (admin/control); the web page calls
 * ctlapi_dispatch() in the same process with the same table; a CLI command
 * that finds no server running opens the state itself and dispatches through
 * the same functions, so there is exactly one code path per change.
 *
 * A request is a JSON object:
 *   {"request_id": ANY, "type": "block", "actor": "ops", "reason": "...",
 *    ...payload of the type (table in ctlapi.c, docs/queue.md, docs/policy.md)}
 * "id" is a queue ID in the queue requests' payload and answers.
 * ("cmd" is accepted for "type": the first clients spoke it.)
 * The answer echoes request_id and is one of
 *   {"request_id": ..., "ok": true, "type": T, ...what was done}
 *   {"request_id": ..., "ok": false, "code": CODE, "error": "what"}
 * with CODE one of bad_request, unknown_type, not_found, conflict,
 * unavailable, failed (ctlapi_code_name; HTTP status in ctlapi_http_status).
 */
#ifndef RG_ADMIN_CTLAPI_H
#define RG_ADMIN_CTLAPI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pfhold;
struct pol_config;
struct pol_engine;
struct queue;
struct store;

enum ctlapi_code {
	CTLAPI_OK,
	CTLAPI_BAD_REQUEST,  /* a field is missing or malformed */
	CTLAPI_UNKNOWN_TYPE, /* no such request type */
	CTLAPI_NOT_FOUND,    /* no such queue entry */
	CTLAPI_CONFLICT,     /* not held, already held */
	CTLAPI_UNAVAILABLE,  /* this process has no engine, queue or server for it */
	CTLAPI_FAILED,       /* the store or the spool could not be written */
};

/* What the handlers act on. Every pointer may be NULL: the request types that
 * need it then answer "unavailable". The hooks are the running server's. */
struct ctlapi_state {
	struct pol_engine *engine;
	struct store *store;
	struct pol_config *policy; /* the engine's configuration: limit overrides */
	struct queue *queue;
	/* true while a change cannot reach every node (Redis down) */
	bool (*store_degraded)(struct store *st);
	void (*wake_delivery)(void *arg); /* after a flush or release */
	void *wake_arg;
	/* reload (users_only: the users files only); 0, or -1 with err */
	int (*reload)(void *arg, bool users_only, char *err, size_t errlen);
	void *reload_arg;
	const char *via; /* "server" in the server, NULL offline: put in every answer */
	/* Policy-only mode with Postfix's hold queue (admin/pfhold.h): postfix_holds
	 * lists it, release and delete of a Postfix queue ID act on it. */
	struct pfhold *pfhold;
	/* Those wait for Postfix's programs: with this hook they are handed to it
	 * (a reference taken; 0, or -1 when it cannot take more) and ctlapi_dispatch
	 * returns NULL, the answer coming later from a dispatch on a state without
	 * the hook (admin/ctlasync). NULL: they run in the caller. */
	int (*defer)(void *arg, json_t *req);
	void *defer_arg;
	bool on_worker; /* dispatching on a worker thread: the loop's clock is read, not set */
};

/* The answer to req (an object; the caller frees it), or NULL when s->defer took
 * the request. */
json_t *ctlapi_dispatch(struct ctlapi_state *s, json_t *req);

/* A request with its type and the common fields; the payload is added by the
 * caller. actor and reason may be NULL. */
json_t *ctlapi_request(const char *type, const char *actor, const char *reason);

const char *ctlapi_code_name(enum ctlapi_code code);
/* The code of an answer (CTLAPI_OK for ok: true, CTLAPI_FAILED when unknown). */
enum ctlapi_code ctlapi_reply_code(const json_t *reply);
/* 200, 400, 404, 409, 503 or 500 for an answer. */
int ctlapi_http_status(const json_t *reply);

/* Takes the answer's envelope (ok, type, request_id, via, code) off, leaving what
 * was done (or "error"): the documents of /api/ and the CLI's --json. */
void ctlapi_strip(json_t *reply);

/* The request types, in table order (for help texts and tests). */
size_t ctlapi_ntypes(void);
const char *ctlapi_type_name(size_t i);

#endif
