/*
 * web_int - what web.c (HTTP plumbing, logins, /api/) and webui.c (the HTML
 * pages) share. Not for other modules: they use web.h.
 */
#ifndef RG_ADMIN_WEB_INT_H
#define RG_ADMIN_WEB_INT_H

#include "admin/ctlapi.h"
#include "admin/session.h"
#include "admin/weblock.h"
#include "admin/web.h"
#include "auth/userdb.h"
#include "core/addr.h"
#include "core/buf.h"
#include "core/workq.h"
#include "dnsbl/catalog.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define WEB_BODY_MAX (64 * 1024)
#define WEB_PAGE_MAX (4 * 1024 * 1024)

struct event;
struct metric;

struct web {
	struct event_base *base;
	struct MHD_Daemon *d;
	struct event *io, *timer;
	struct web_context ctx;
	struct ctlapi_state *ctl; /* ctx.ctl, or ctl_own made from ctx */
	struct ctlapi_state ctl_own;
	bool tls;
	char api_token[256];
	char users_file[512];
	char monitor_state[600];
	struct sessions sessions;
	struct userdb users;
	bool users_loaded;
	struct timespec users_mtime;
	off_t users_size;
	struct bl_catalog catalog;
	json_t *listed_prev; /* "TARGET ZONE" keys set in the listings gauge */
	struct metric *m_requests, *m_logins, *m_auth_failures, *m_blocks, *m_listed;
	struct metric *m_queue, *m_queue_oldest, *m_queue_bytes;
	char *tls_cert_pem, *tls_key_pem;
	struct web_req *delayed; /* suspended connections, resumed by their timers */
	struct web_req *job;     /* the login whose password the thread checks */
	struct workq *login_wq;  /* that thread (core/workq); NULL: checks run in the loop */
	/* control API requests that wait for Postfix's programs (web_ctl_defer) */
	struct web_req *ctl_current; /* the request in ctlapi_dispatch now */
	uint64_t ctl_seq;            /* the last ticket given */
	const struct prefix_set *trusted, *trusted_proxy;
	struct weblock lock; /* web-login lockouts by address, never SMTP blocks */
};

struct web_req {
	struct web *w;
	struct MHD_Connection *conn;
	const char *url, *method;
	bool post;
	struct buf body;
	bool body_too_big;
	const struct session *sess; /* logged in by cookie */
	bool bearer;                /* or by the API token */
	char ip_text[ADDR_STRLEN];
	bool has_ip;
	struct addr ip; /* the client: the peer, or what a trusted proxy says */
	char set_cookie[2][256];
	char location[512];
	/* A failed login's answer waits delay_ms (the engine's failure delay) with the
	 * connection suspended; the loop goes on meanwhile. */
	uint32_t delay_ms;
	bool suspended, in_job;
	struct web_req *next_delayed, *prev_delayed;
	struct event *delay_ev;
	unsigned pending_status;
	const char *pending_type;
	char *pending_body;
	size_t pending_len;
	/* a login being checked on the password thread */
	struct workq_job login_job;
	char login_user[USERDB_NAME_MAX + 1];
	char login_pw[1024];
	enum userdb_verdict login_verdict;
	/* A control request that waits for Postfix's programs on the worker
	 * (web_ctl_defer): the connection is suspended meanwhile, and once the
	 * answer is here the handler runs again from the start. Every answer
	 * web_control got is kept, in order, and given again to the same call of
	 * the run after, so nothing is done twice. */
	uint64_t ctl_ticket; /* of the request waiting, 0 none */
	bool ctl_waiting;
	bool ctl_lost;       /* an answer could not be kept: wait no more */
	bool counted;        /* in the request metric already */
	json_t *ctl_replies; /* the answers so far (NULL: none kept) */
	size_t ctl_next;     /* the next of them to give in this run */
};

/* Sends a response with the security headers, the request's cookies and location;
 * after r->delay_ms when that is set. */
enum MHD_Result web_reply(struct web_req *r, unsigned status, const char *type, const char *body,
                          size_t len);
/* Sets cookie slot (0 or 1) of the response: HttpOnly, SameSite=Strict, Secure under
 * TLS; max_age -1 for a cookie that ends with the browser session. */
void web_cookie(struct web_req *r, size_t slot, const char *name, const char *value,
                const char *path, long max_age);
/* A value of the form body (POST) or query string (GET); "" when absent or bad.
 * 1 found, 0 absent, -1 bad or too long. */
int web_param(struct web_req *r, const char *name, char *out, size_t size);
/* The POST carries the session's CSRF token (form field "csrf" or X-CSRF-Token). */
bool web_csrf_ok(struct web_req *r);

/* A key of the monitor's state ("TARGET ZONE") split into target (copied) and zone
 * (pointing into target). 0, or -1 when it is not of that form. */
int web_listing_key(const char *key, char *target, size_t size, const char **zone);

/* webui.c */
enum MHD_Result webui_login_page(struct web_req *r, unsigned status, const char *message);
enum MHD_Result webui_handle(struct web_req *r);

/* A change through the control API (the same table as control.sock), made by the
 * request's user ("web:NAME", "web:api-token"): type with reason and payload (taken;
 * may be NULL). The answer (the caller frees it), or NULL when the request waits
 * for Postfix's programs on the worker: r's connection is then suspended and the
 * handler must return MHD_YES at once; it runs again with the answer. */
json_t *web_control(struct web_req *r, const char *type, const char *reason, json_t *payload);
/* Policy-only mode: held mail is in Postfix's hold queue (admin/pfhold), read
 * and changed through the control API's postfix_holds, release and delete. */
bool web_postfix_holds(const struct web *w);
/* {"holds": [...]} from our queue or Postfix's, or NULL: r->ctl_waiting (return
 * MHD_YES at once, as after web_control), or it cannot be read, with the HTTP
 * status (503: too busy, try again) and what in err. */
json_t *web_holds_doc(struct web_req *r, unsigned *status, char *err, size_t errlen);
/* A queue ID of ours, or in that mode a Postfix one. */
bool web_hold_id_ok(const struct web *w, const char *id);

#endif
