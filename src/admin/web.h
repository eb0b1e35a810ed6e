/*
 * web - the HTTP side of `relayguard serve` (libmicrohttpd), run inside the
 * gateway's libevent loop: MHD in epoll mode without threads, its one epoll
 * descriptor watched by libevent, so handlers see the same engine, store and
 * queue as the SMTP and policy code with no locks.
 *
 *   GET  /metrics, /healthz          no login (bind it wisely)
 *   GET  /login, POST /login         the login form (admin accounts of the user store)
 *   GET  /, /blocks, /account?id=, /listings, /holds, /audit   the admin page
 *   POST /resume, /logout, /holds/ID/release|delete             its buttons
 *   /api/status, /api/blocks, POST /api/unblock, /api/holds,
 *   POST /api/holds/ID/release|delete                           ../shared/CLI.md "HTTP"
 *   POST /api/control   one control API request (admin/ctlapi.h), as on control.sock
 *
 * Every change (resume, release, delete, /api/control) is a request of the
 * control API, dispatched in this process through the same table as the
 * control socket's. In policy-only mode the holds pages and API wait for
 * Postfix's programs (postqueue, postsuper): those requests go to the server's
 * worker (admin/ctlasync) through the control API's defer hook, the connection
 * waits suspended, and the loop goes on answering Postfix meanwhile.
 *
 * Everything but /metrics, /healthz and /login needs a session cookie
 * (HttpOnly, SameSite=Strict, Secure under TLS) and, for a POST, the
 * session's CSRF token; /api/ also takes "Authorization: Bearer TOKEN".
 * Without it the answer is 401 (the login form for a page), never the data.
 * Logins go through the policy engine as AUTH_OK / AUTH_FAIL events, so the
 * brute-force rules of SMTP AUTH (per-IP lockout, per-account lockout for
 * unknown IPs) hold here too. docs/web.md has the rest.
 */
#ifndef RG_ADMIN_WEB_H
#define RG_ADMIN_WEB_H

#include "core/hostport.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ctlapi_state;
struct event_base;
struct metrics;
struct pol_config;
struct pol_engine;
struct queue;
struct series;
struct store;
struct web;

struct web_options {
	const struct hostport *addr;
	const char *tls_cert, *tls_key; /* PEM files; NULL or "": plain HTTP (loopback only) */
	const char *api_token;          /* NULL or "": no bearer token accepted */
	const char *users_file;         /* the user store; admins may log in */
	const char *monitor_state;      /* relayguard monitor's state file */
	int64_t session_idle_ms, session_max_ms;
	/* never locked out by address (their accounts still are): the gateway's
	 * trusted_networks (NULL: none) and always loopback */
	const struct prefix_set *trusted;
	/* proxies whose X-Forwarded-For names the client (NULL: none) */
	const struct prefix_set *trusted_proxy;
};

/* What the pages show and act on; all may be NULL but metrics' users. The web keeps
 * the pointers: they must outlive it. */
struct web_context {
	struct metrics *metrics;
	struct pol_engine *engine;
	struct store *store;
	const struct pol_config *policy;
	struct series *series;
	struct queue *queue; /* NULL: the hold queue is shown as unavailable */
	/* /healthz: 0 when everything it depends on works, else -1 with what does
	 * not in why (503). NULL: always 200. */
	int (*health)(void *arg, char *why, size_t whylen);
	void *health_arg;
	/* The server's control API (admin/ctlapi): every change the pages and /api/ make
	 * goes through it. NULL: one on engine, store and queue above. */
	struct ctlapi_state *ctl;
};

struct web *web_new(struct event_base *base, const struct web_options *opt,
                    const struct web_context *ctx, char *err, size_t errlen);
void web_free(struct web *w);
/* Reads the users file again now (a reload request). */
void web_users_reload(struct web *w);
/* The port it listens on (useful when it was asked for port 0). */
unsigned web_port(const struct web *w);

/* For the defer hook of ctx.ctl (admin/ctlapi.h): called while the web
 * dispatches a control request, it names that request (a ticket below 2^62)
 * and makes its connection wait for web_ctl_answer(). 0 outside the web's
 * dispatch: the hook then refuses the request. */
uint64_t web_ctl_defer(struct web *w);
/* The answer (taken) to the request of ticket; the page or API answer is made
 * with it. Dropped when that connection is gone (or w is NULL). */
void web_ctl_answer(struct web *w, uint64_t ticket, json_t *reply);

/* Reads a bearer token file (first line, trimmed) into out. 0, or -1 with err. */
int web_read_token_file(const char *path, char *out, size_t size, char *err, size_t errlen);

#endif
