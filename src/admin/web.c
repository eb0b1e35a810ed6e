/*
 * web - libmicrohttpd inside the libevent loop, logins, sessions, /api/; see web.h.
 * The HTML pages are in webui.c.
 */
#include "admin/web.h"

#include "admin/blocks.h"
#include "admin/form.h"
#include "admin/holds.h"
#include "admin/pfqueue.h"
#include "admin/metrics.h"
#include "admin/status.h"
#include "admin/web_int.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"
#include "core/version.h"
#include "dnsbl/builtin.h"
#include "policy/engine.h"
#include "queue/queue.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- responses ---- */

static void web_delay_done(evutil_socket_t fd, short what, void *arg);
static void web_schedule(struct web *w);

/* Suspends r's connection (MHD stops serving it until it is resumed). */
static void web_suspend(struct web_req *r)
{
	struct web *w = r->w;
	MHD_suspend_connection(r->conn);
	r->suspended = true;
	r->next_delayed = w->delayed;
	r->prev_delayed = NULL;
	if (w->delayed)
		w->delayed->prev_delayed = r;
	w->delayed = r;
}

static void web_delay_unlink(struct web_req *r)
{
	struct web *w = r->w;
	if (r->prev_delayed)
		r->prev_delayed->next_delayed = r->next_delayed;
	else if (w->delayed == r)
		w->delayed = r->next_delayed;
	if (r->next_delayed)
		r->next_delayed->prev_delayed = r->prev_delayed;
	r->next_delayed = r->prev_delayed = NULL;
}

/* Keeps the response, suspends the connection unless it is already, and resumes it
 * after r->delay_ms (0: at the next loop turn); the handler then sends it. */
static enum MHD_Result web_defer(struct web_req *r, unsigned status, const char *type,
                                 const char *body, size_t len)
{
	struct web *w = r->w;
	if (!r->delay_ev)
		r->delay_ev = evtimer_new(w->base, web_delay_done, r);
	free(r->pending_body);
	r->pending_body = malloc(len ? len : 1);
	if (!r->pending_body || !r->delay_ev) {
		free(r->pending_body);
		r->pending_body = NULL;
		if (!r->suspended) {
			r->delay_ms = 0;
			return web_reply(r, status, type, body, len);
		}
		log_error("web: out of memory; closing a connection");
		web_delay_unlink(r);
		r->suspended = false;
		MHD_resume_connection(r->conn);
		return MHD_NO;
	}
	memcpy(r->pending_body, body, len);
	r->pending_len = len;
	r->pending_status = status;
	r->pending_type = type; /* a string constant */
	struct timeval tv = {(time_t)(r->delay_ms / 1000),
	                     (suseconds_t)(r->delay_ms % 1000) * 1000};
	r->delay_ms = 0;
	if (!r->suspended)
		web_suspend(r);
	evtimer_add(r->delay_ev, &tv);
	return MHD_YES;
}

/* The wait is over: MHD calls the handler again, which sends the kept response. */
static void web_delay_done(evutil_socket_t fd, short what, void *arg)
{
	struct web_req *r = arg;
	struct web *w = r->w;
	web_delay_unlink(r);
	r->suspended = false;
	MHD_resume_connection(r->conn);
	MHD_run(w->d); /* may complete and free r */
	web_schedule(w);
}

enum MHD_Result web_reply(struct web_req *r, unsigned status, const char *type, const char *body,
                          size_t len)
{
	if ((r->delay_ms || r->suspended) && r->w->base)
		return web_defer(r, status, type, body, len);
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "Content-Security-Policy",
	                        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
	                        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
	if (r->w->tls)
		MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
	for (size_t i = 0; i < 2; i++)
		if (r->set_cookie[i][0])
			MHD_add_response_header(resp, "Set-Cookie", r->set_cookie[i]);
	if (r->location[0])
		MHD_add_response_header(resp, "Location", r->location);
	if (status == 401 && strncmp(r->url, "/api/", 5) == 0)
		MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"relayguard\"");
	enum MHD_Result rc = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result web_text(struct web_req *r, unsigned status, const char *text)
{
	return web_reply(r, status, "text/plain; charset=utf-8", text, strlen(text));
}

/* Sends doc (taken) as JSON. */
static enum MHD_Result web_json(struct web_req *r, unsigned status, json_t *doc)
{
	if (!doc)
		return web_text(r, 500, "out of memory\n");
	char *s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (!s)
		return web_text(r, 500, "out of memory\n");
	enum MHD_Result rc = web_reply(r, status, "application/json", s, strlen(s));
	free(s);
	return rc;
}

static enum MHD_Result web_json_error(struct web_req *r, unsigned status, const char *what)
{
	return web_json(r, status, json_pack("{s:s}", "error", what));
}

void web_cookie(struct web_req *r, size_t slot, const char *name, const char *value,
                const char *path, long max_age)
{
	char age[40] = "";
	if (max_age >= 0)
		str_format_trunc(age, sizeof age, "; Max-Age=%ld", max_age);
	if (str_format(r->set_cookie[slot], sizeof r->set_cookie[slot],
	               "%s=%s; Path=%s; HttpOnly; SameSite=Strict%s%s", name, value, path,
	               r->w->tls ? "; Secure" : "", age) != 0)
		panic("web_cookie: r->set_cookie[slot] does not fit");
}

int web_param(struct web_req *r, const char *name, char *out, size_t size)
{
	out[0] = '\0';
	if (r->post) {
		int rc = form_get(r->body.data ? r->body.data : "", r->body.len, name, out, size);
		if (rc != 1)
			out[0] = '\0';
		return rc;
	}
	const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
	if (!v)
		return 0;
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return -1;
	return str_copy(out, size, v) == 0 ? 1 : (out[0] = '\0', -1);
}

bool web_csrf_ok(struct web_req *r)
{
	if (!r->sess)
		return false;
	const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-CSRF-Token");
	if (h)
		return session_csrf_ok(r->sess, h);
	char tok[SESSION_TOKEN_LEN + 2];
	if (form_get(r->body.data ? r->body.data : "", r->body.len, "csrf", tok, sizeof tok) != 1)
		return false;
	return session_csrf_ok(r->sess, tok);
}

/* ---- the user store, re-read when the file changes ---- */

static void web_users_refresh(struct web *w)
{
	struct stat st;
	if (stat(w->users_file, &st) != 0) {
		if (w->users_loaded && errno == ENOENT) {
			userdb_free(&w->users);
			(void)userdb_init(&w->users, w->users_file);
			w->users_size = 0;
			memset(&w->users_mtime, 0, sizeof w->users_mtime);
		}
		w->users_loaded = true;
		return;
	}
	if (w->users_loaded && st.st_size == w->users_size &&
	    st.st_mtim.tv_sec == w->users_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == w->users_mtime.tv_nsec)
		return;
	struct userdb fresh;
	char err[512];
	if (userdb_init(&fresh, w->users_file) != 0 || userdb_load(&fresh, err, sizeof err) != 0) {
		log_error("web: cannot read the user store: %s; keeping the accounts read before",
		          err);
		userdb_free(&fresh);
		return;
	}
	if (userdb_prepare(&fresh) != 0)
		log_warn("web: cannot prepare the unknown-user check of %s", w->users_file);
	userdb_free(&w->users);
	w->users = fresh;
	w->users_loaded = true;
	w->users_size = st.st_size;
	w->users_mtime = st.st_mtim;
	log_info("web: read %zu accounts from %s", w->users.count, w->users_file);
}

/* ---- logins ---- */

/* Loopback (the SSH tunnel, the reverse proxy) and the trusted networks (the
 * office NAT) are never locked out by address: one guesser there would lock
 * out everyone behind it. Their accounts still are. */
static bool web_ip_exempt(const struct web *w, const struct addr *ip)
{
	struct cidr lo4, lo6;
	if ((cidr_parse("127.0.0.0/8", 11, &lo4) == 0 && cidr_contains(&lo4, ip)) ||
	    (cidr_parse("::1/128", 7, &lo6) == 0 && cidr_contains(&lo6, ip)))
		return true;
	return w->trusted && prefix_set_lookup(w->trusted, ip, NULL, NULL);
}

/* The second half of a login, in the loop once the password is checked: the
 * engine hears AUTH_OK or AUTH_FAIL (brute-force counters, lockout, delay),
 * then a session or a refusal. */
void web_users_reload(struct web *w)
{
	if (!w || w->job)
		return;     /* a login being checked re-reads a changed file itself */
	w->users_size = -1; /* read again at the next login, whatever the file's times */
	web_users_refresh(w);
}

static enum MHD_Result web_login_finish(struct web_req *r, enum userdb_verdict uv)
{
	struct web *w = r->w;
	const char *user = r->login_user;
	/* the form's user name is the client's text: quoted for the log */
	char quser[STR_LOG_VALUE_MAX];
	str_log_value(quser, sizeof quser, user);
	clock_update();
	const struct userdb_entry *ue = uv == USERDB_OK ? userdb_find(&w->users, user) : NULL;
	struct pol_verdict v;
	memset(&v, 0, sizeof v);
	if (w->ctx.engine) {
		struct pol_event ev;
		pol_event_init(&ev, uv == USERDB_OK ? POL_EV_AUTH_OK : POL_EV_AUTH_FAIL,
		               clock_realtime_ms());
		if (str_copy(ev.user, sizeof ev.user, ue ? ue->name : user) != 0)
			panic("web_login_finish: login_user is POL_USER_MAX");
		/* the account only: an address's web failures are the web's own lockout
		 * (w->lock), never an SMTP block of ip:127.0.0.1 behind a proxy */
		ev.has_ip = false;
		if (pol_engine_evaluate(w->ctx.engine, &ev, &v) != 0)
			log_error("web: policy store error on a login of %s", quser);
	}
	if (uv != USERDB_OK) {
		uint32_t delay = 0;
		bool locked = r->has_ip && weblock_fail(&w->lock, &r->ip, clock_realtime_ms(),
		                                        !web_ip_exempt(w, &r->ip), &delay);
		log_warn("web: login failed for %s from %s (%s)%s%s", quser, r->ip_text,
		         userdb_verdict_name(uv),
		         locked                  ? "; address locked out of web logins"
		         : v.action == POL_BLOCK ? "; account locked out: "
		                                 : "",
		         !locked && v.action == POL_BLOCK && v.n_reasons ? v.reasons[0] : "");
		if (w->m_auth_failures)
			metric_add(w->m_auth_failures, (const char *[]){"web"}, 1);
		if (w->m_logins)
			metric_add(w->m_logins, (const char *[]){"failed"}, 1);
		/* SMTP AUTH's failure delay, per address: 2, 4, 8, 15 s */
		r->delay_ms = delay > v.delay_ms ? delay : v.delay_ms;
		return webui_login_page(r, 401, "Wrong user name or password.");
	}
	if (v.action == POL_DEFER || v.action == POL_BLOCK) {
		log_warn("web: login of %s from %s refused by the policy: %s", quser, r->ip_text,
		         v.n_reasons ? v.reasons[0] : v.rule);
		if (w->m_logins)
			metric_add(w->m_logins, (const char *[]){"locked_out"}, 1);
		return webui_login_page(r, 429, "Too many failed logins; try again later.");
	}
	if (!ue || !(ue->flags & USERDB_FLAG_ADMIN)) {
		log_warn("web: login of %s from %s refused: not an administrator", quser,
		         r->ip_text);
		if (w->m_logins)
			metric_add(w->m_logins, (const char *[]){"not_admin"}, 1);
		return webui_login_page(r, 403,
		                        "This account is not an administrator (relayguard user add "
		                        "--admin).");
	}
	const struct session *s = session_create(&w->sessions, ue->name, clock_realtime_ms());
	if (r->has_ip)
		weblock_success(&w->lock, &r->ip);
	log_info("web: %s logged in from %s", ue->name, r->ip_text);
	if (w->m_logins)
		metric_add(w->m_logins, (const char *[]){"ok"}, 1);
	web_cookie(r, 0, "rg_session", s->id, "/", -1);
	web_cookie(r, 1, "rg_login", "", "/login", 0);
	if (str_copy(r->location, sizeof r->location, "/") != 0)
		panic("web_login_finish: r->location does not fit");
	return web_text(r, 303, "logged in\n");
}

/* The password check (Argon2id, a few hundred ms) runs on a thread of its own
 * (core/workq) so the policy service and the pages go on; only that thread
 * touches w->users while it runs (w->job is set), and one check runs at a time. */
static void web_login_run(void *arg, struct workq_job *first, unsigned n)
{
	struct web *w = arg;
	(void)n;
	struct web_req *r = WORKQ_OWNER(first, struct web_req, login_job);
	web_users_refresh(w); /* reading and preparing the store costs a hash too */
	r->login_verdict =
	    userdb_verify(&w->users, r->login_user, r->login_pw, strlen(r->login_pw));
	sodium_memzero(r->login_pw, sizeof r->login_pw);
}

/* On the loop: the verdict, answered when the connection is resumed. */
static void web_login_done(void *arg, struct workq_job *j)
{
	struct web *w = arg;
	struct web_req *r = WORKQ_OWNER(j, struct web_req, login_job);
	w->job = NULL;
	r->in_job = false;
	(void)web_login_finish(r, r->login_verdict); /* the answer waits in r; resume sends it */
}

/* web_free with a check under way or waiting: the request goes with the server. */
static void web_login_drop(void *arg, struct workq_job *j)
{
	struct web *w = arg;
	struct web_req *r = WORKQ_OWNER(j, struct web_req, login_job);
	sodium_memzero(r->login_pw, sizeof r->login_pw);
	w->job = NULL;
	r->in_job = false;
}

static enum MHD_Result web_login(struct web_req *r)
{
	struct web *w = r->w;
	char tok[SESSION_TOKEN_LEN + 2];
	const char *cookie = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, "rg_login");
	if (form_get(r->body.data ? r->body.data : "", r->body.len, "csrf", tok, sizeof tok) != 1 ||
	    !session_token_eq(cookie, tok))
		return webui_login_page(r, 403, "The form had expired; please log in again.");
	if (web_param(r, "user", r->login_user, sizeof r->login_user) != 1 || !r->login_user[0] ||
	    form_get(r->body.data, r->body.len, "password", r->login_pw, sizeof r->login_pw) != 1) {
		sodium_memzero(r->login_pw, sizeof r->login_pw);
		return webui_login_page(r, 400, "Give a user name and a password.");
	}
	clock_update();
	if (r->has_ip && !web_ip_exempt(w, &r->ip) &&
	    weblock_locked(&w->lock, &r->ip, clock_realtime_ms())) {
		char quser[STR_LOG_VALUE_MAX];
		log_warn(
		    "web: login refused for %s from %s: the address is locked out of web logins",
		    str_log_value(quser, sizeof quser, r->login_user), r->ip_text);
		sodium_memzero(r->login_pw, sizeof r->login_pw);
		if (w->m_logins)
			metric_add(w->m_logins, (const char *[]){"locked_out"}, 1);
		return webui_login_page(
		    r, 429, "Too many failed logins from your address; try again later.");
	}
	if (w->ctx.engine && r->has_ip && !web_ip_exempt(w, &r->ip)) {
		/* A locked-out address is refused before any password is checked. */
		struct pol_event ev;
		struct pol_verdict v;
		pol_event_init(&ev, POL_EV_AUTH_FAIL, clock_realtime_ms());
		ev.has_ip = true;
		ev.ip = r->ip;
		if (pol_engine_check_blocks(w->ctx.engine, &ev, &v) == 0 && v.action == POL_BLOCK) {
			char quser[STR_LOG_VALUE_MAX];
			log_warn("web: login refused for %s from %s: %s",
			         str_log_value(quser, sizeof quser, r->login_user), r->ip_text,
			         v.n_reasons ? v.reasons[0] : v.rule);
			sodium_memzero(r->login_pw, sizeof r->login_pw);
			if (w->m_logins)
				metric_add(w->m_logins, (const char *[]){"locked_out"}, 1);
			return webui_login_page(r, 429,
			                        "Too many failed logins from your address; try "
			                        "again later.");
		}
	}
	if (w->job) {
		sodium_memzero(r->login_pw, sizeof r->login_pw);
		return webui_login_page(r, 503,
		                        "Another login is being checked; try again in a "
		                        "moment.");
	}
	if (!w->login_wq) { /* no thread: check here */
		web_users_refresh(w);
		enum userdb_verdict uv =
		    userdb_verify(&w->users, r->login_user, r->login_pw, strlen(r->login_pw));
		sodium_memzero(r->login_pw, sizeof r->login_pw);
		return web_login_finish(r, uv);
	}
	w->job = r;
	r->in_job = true;
	web_suspend(r);
	if (workq_submit(w->login_wq, &r->login_job) != 0) {
		log_error("web: cannot queue the password check");
		w->job = NULL;
		r->in_job = false;
		sodium_memzero(r->login_pw, sizeof r->login_pw);
		(void)web_login_finish(r, USERDB_ERROR); /* answered when resumed */
	}
	return MHD_YES;
}

/* ---- /api/ ---- */

/* Keeps reply (taken) as r's next answer, for the run after a wait. */
static int web_ctl_keep(struct web_req *r, json_t *reply)
{
	if (!r->ctl_replies && !(r->ctl_replies = json_array())) {
		json_decref(reply);
		return -1;
	}
	return reply && json_array_append_new(r->ctl_replies, reply) == 0 ? 0 : -1;
}

json_t *web_control(struct web_req *r, const char *type, const char *reason, json_t *payload)
{
	struct web *w = r->w;
	if (r->ctl_next < json_array_size(r->ctl_replies)) { /* run again: answered before */
		json_decref(payload);
		json_t *again = json_deep_copy(json_array_get(r->ctl_replies, r->ctl_next++));
		return again ? again
		             : json_pack("{s:b, s:s, s:s}", "ok", 0, "code", "failed", "error",
		                         "out of memory");
	}
	char actor[POL_ACTOR_MAX];
	str_format_trunc(actor, sizeof actor, "web:%s", r->sess ? r->sess->user : "api-token");
	json_t *req = ctlapi_request(type, actor, reason);
	if (req && payload)
		(void)json_object_update(req, payload);
	json_decref(payload);
	r->ctl_ticket = 0;
	w->ctl_current = r;
	json_t *reply = ctlapi_dispatch(w->ctl, req);
	w->ctl_current = NULL;
	json_decref(req);
	if (!reply && r->ctl_ticket) { /* on the worker: web_ctl_answer() resumes */
		r->ctl_waiting = true;
		web_suspend(r);
		return NULL;
	}
	r->ctl_ticket = 0; /* a ticket taken, but the worker refused it */
	if (!reply)
		reply = json_pack("{s:b, s:s, s:s}", "ok", 0, "code", "failed", "error",
		                  "internal error");
	/* a later request of this run may wait: then this one's answer is given
	 * again, not asked for again */
	if (w->ctl->defer && !r->ctl_lost) {
		if (web_ctl_keep(r, json_deep_copy(reply)) == 0)
			r->ctl_next++;
		else
			r->ctl_lost = true;
	}
	return reply;
}

uint64_t web_ctl_defer(struct web *w)
{
	struct web_req *r = w->ctl_current;
	if (!r || r->ctl_lost || !w->base)
		return 0;
	if (++w->ctl_seq >= UINT64_C(1) << 62)
		w->ctl_seq = 1;
	r->ctl_ticket = w->ctl_seq;
	return r->ctl_ticket;
}

void web_ctl_answer(struct web *w, uint64_t ticket, json_t *reply)
{
	struct web_req *r = w ? w->delayed : NULL;
	while (r && !(r->ctl_waiting && r->ctl_ticket == ticket))
		r = r->next_delayed;
	if (!r) { /* the connection is gone */
		json_decref(reply);
		return;
	}
	r->ctl_waiting = false;
	r->ctl_ticket = 0;
	if (!reply)
		reply = json_pack("{s:b, s:s, s:s}", "ok", 0, "code", "failed", "error",
		                  "internal error");
	if (web_ctl_keep(r, reply) != 0)
		r->ctl_lost = true; /* the run after asks again, and is refused */
	web_delay_unlink(r);
	r->suspended = false;
	MHD_resume_connection(r->conn);
	MHD_run(w->d); /* the handler runs again; may complete and free r */
	web_schedule(w);
}

/* An answer of the control API as /api/ gives it: what was done, or the error
 * with the matching status. */
static enum MHD_Result web_control_answer(struct web_req *r, json_t *reply)
{
	int status = ctlapi_http_status(reply);
	if (status != 200) {
		const char *e = json_string_value(json_object_get(reply, "error"));
		enum MHD_Result rc = web_json_error(r, status, e ? e : "failed");
		json_decref(reply);
		return rc;
	}
	ctlapi_strip(reply);
	return web_json(r, 200, reply);
}

bool web_postfix_holds(const struct web *w)
{
	return w->ctl && w->ctl->pfhold;
}

bool web_hold_id_ok(const struct web *w, const char *id)
{
	return holds_id_ok(id) || (web_postfix_holds(w) && pfqueue_id_ok(id));
}

json_t *web_holds_doc(struct web_req *r, unsigned *status, char *err, size_t errlen)
{
	struct web *w = r->w;
	*status = 500;
	str_copy_trunc(err, errlen, "cannot read the queue");
	if (!web_postfix_holds(w))
		return w->ctx.queue ? holds_list(w->ctx.queue, NULL, NULL) : NULL;
	json_t *reply = web_control(r, "postfix_holds", NULL, NULL);
	if (!reply)
		return NULL; /* r->ctl_waiting */
	if (ctlapi_reply_code(reply) != CTLAPI_OK) {
		const char *e = json_string_value(json_object_get(reply, "error"));
		log_error("web: Postfix's hold queue: %s", e ? e : "failed");
		*status = (unsigned)ctlapi_http_status(reply);
		if (*status == 503 && e)
			str_copy_trunc(err, errlen, e);
		json_decref(reply);
		return NULL;
	}
	ctlapi_strip(reply);
	return reply;
}

/* GET /api/holds, POST /api/holds/ID/release|delete {"reason": "..."} */
static enum MHD_Result web_api_holds(struct web_req *r, const char *rest)
{
	struct web *w = r->w;
	if (!w->ctx.queue && !web_postfix_holds(w))
		return web_json_error(r, 503, "the hold queue is not available in this build");
	if (rest[0] == '\0') {
		if (r->post)
			return web_json_error(r, 405, "method not allowed");
		unsigned status;
		char err[300];
		json_t *doc = web_holds_doc(r, &status, err, sizeof err);
		if (!doc && r->ctl_waiting)
			return MHD_YES;
		return doc ? web_json(r, 200, doc) : web_json_error(r, status, err);
	}
	char id[QUEUE_ID_MAX], verb[16];
	const char *slash = strchr(rest + 1, '/');
	if (!slash || str_copy_n(id, sizeof id, rest + 1, (size_t)(slash - rest - 1)) != 0 ||
	    str_copy(verb, sizeof verb, slash + 1) != 0 || !web_hold_id_ok(w, id) ||
	    (strcmp(verb, "release") != 0 && strcmp(verb, "delete") != 0))
		return web_json_error(r, 404,
		                      "expected /api/holds/ID/release or /api/holds/ID/delete");
	if (!r->post)
		return web_json_error(r, 405, "method not allowed");
	const char *reason = NULL;
	json_t *in = NULL;
	if (r->body.len) {
		json_error_t je;
		in = json_loadb(r->body.data, r->body.len, 0, &je);
		if (!in || json_unpack(in, "{s?s}", "reason", &reason) != 0) {
			json_decref(in);
			return web_json_error(r, 400, "expected {\"reason\": \"...\"} or no body");
		}
	}
	char why[POL_TEXT_MAX];
	str_copy_trunc(why, sizeof why, reason && *reason ? reason : "from the admin API");
	json_decref(in);
	json_t *reply = web_control(r, verb, why, json_pack("{s:s}", "id", id));
	return reply ? web_control_answer(r, reply) : MHD_YES;
}

/* POST /api/control: one request of the control API, answered in its vocabulary. */
static enum MHD_Result web_api_control(struct web_req *r)
{
	json_error_t je;
	json_t *in = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, &je);
	const char *type = json_string_value(json_object_get(in, "type"));
	if (!json_is_object(in) || !type) {
		json_decref(in);
		return web_json_error(r, 400, "expected a control request {\"type\": ...}");
	}
	char t[32], why[POL_TEXT_MAX];
	if (str_copy(t, sizeof t, type) != 0) {
		json_decref(in);
		return web_json_error(r, 400, "unknown control request type");
	}
	const char *reason = json_string_value(json_object_get(in, "reason"));
	str_copy_trunc(why, sizeof why, reason ? reason : "");
	(void)json_object_del(in, "actor"); /* the session's user acts */
	(void)json_object_del(in, "type");
	(void)json_object_del(in, "reason");
	json_t *rid = json_incref(json_object_get(in, "request_id"));
	json_t *reply = web_control(r, t, why, in);
	if (!reply) { /* waits: answered in the run after */
		json_decref(rid);
		return MHD_YES;
	}
	if (rid)
		(void)json_object_set_new(reply, "request_id", rid);
	return web_json(r, ctlapi_http_status(reply), reply);
}

static enum MHD_Result web_api(struct web_req *r)
{
	struct web *w = r->w;
	const char *path = r->url + 4; /* after "/api" */
	if (r->post && !r->bearer && !web_csrf_ok(r))
		return web_json_error(r, 403, "missing or wrong CSRF token");
	if (!w->ctx.store || !w->ctx.engine)
		return web_json_error(r, 503, "no state store");
	clock_update();
	if (strcmp(path, "/status") == 0 && !r->post) {
		struct queue_stats qs, *qp = NULL;
		if (w->ctx.queue) {
			queue_stats(w->ctx.queue, &qs);
			qp = &qs;
		}
		json_t *doc = status_json(w->ctx.store, w->ctx.policy, qp, clock_realtime_ms());
		if (doc && w->ctx.queue && status_add_holds(doc, w->ctx.queue) != 0) {
			json_decref(doc);
			doc = NULL;
		}
		return doc ? web_json(r, 200, doc)
		           : web_json_error(r, 500, "cannot read the store");
	}
	if (strcmp(path, "/blocks") == 0 && !r->post) {
		json_t *doc = blocks_list(w->ctx.store);
		return doc ? web_json(r, 200, doc)
		           : web_json_error(r, 500, "cannot read the store");
	}
	if (strcmp(path, "/unblock") == 0 && r->post) {
		json_error_t je;
		json_t *in = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, &je);
		const char *ident = NULL, *reason = NULL;
		if (!in ||
		    json_unpack(in, "{s:s, s?s}", "identity", &ident, "reason", &reason) != 0) {
			json_decref(in);
			return web_json_error(
			    r, 400, "expected {\"identity\": \"...\", \"reason\": \"...\"}");
		}
		if (!reason || !*reason) {
			json_decref(in);
			return web_json_error(r, 400, "a reason is required");
		}
		char why[POL_TEXT_MAX];
		str_copy_trunc(why, sizeof why, reason);
		json_t *payload = json_pack("{s:s}", "identity", ident);
		json_decref(in);
		json_t *reply = web_control(r, "unblock", why, payload);
		return reply ? web_control_answer(r, reply) : MHD_YES;
	}
	if (strcmp(path, "/control") == 0 && r->post)
		return web_api_control(r);
	if (strncmp(path, "/holds", 6) == 0 && (path[6] == '\0' || path[6] == '/'))
		return web_api_holds(r, path + 6);
	if (strcmp(path, "/status") == 0 || strcmp(path, "/blocks") == 0 ||
	    strcmp(path, "/unblock") == 0 || strcmp(path, "/control") == 0)
		return web_json_error(r, 405, "method not allowed");
	return web_json_error(r, 404, "no such API");
}

/* ---- /metrics: the gauges read at scrape time ---- */

int web_listing_key(const char *key, char *target, size_t size, const char **zone)
{
	if (str_copy(target, size, key) != 0)
		return -1;
	char *sp = strchr(target, ' ');
	if (!sp || sp == target || !sp[1])
		return -1;
	*sp = '\0';
	*zone = sp + 1;
	return 0;
}

static int web_blocks_count_cb(void *ctx, const struct store_block *b)
{
	size_t *n = ctx;
	n[b->kind]++;
	return 0;
}

static void web_metrics_refresh(struct web *w)
{
	if (w->ctx.store && w->m_blocks) {
		size_t n[4] = {0};
		if (w->ctx.store->block_iter(w->ctx.store, web_blocks_count_cb, n) == 0)
			for (int k = 0; k < 4; k++)
				metric_set(w->m_blocks,
				           (const char *[]){
				               store_block_kind_name((enum store_block_kind)k)},
				           (double)n[k]);
	}
	if (w->ctx.queue && w->m_queue) {
		struct queue_stats qs;
		queue_stats(w->ctx.queue, &qs);
		metric_set(w->m_queue, (const char *[]){"active"}, (double)qs.active);
		metric_set(w->m_queue, (const char *[]){"deferred"}, (double)qs.deferred);
		metric_set(w->m_queue, (const char *[]){"held"}, (double)qs.held);
		metric_set(w->m_queue_bytes, NULL, (double)qs.bytes);
		int64_t age =
		    qs.oldest_arrival_ms ? clock_realtime_ms() - (int64_t)qs.oldest_arrival_ms : 0;
		metric_set(w->m_queue_oldest, NULL, age > 0 ? (double)age / 1000.0 : 0.0);
	}
	if (!w->m_listed)
		return;
	json_t *doc = json_load_file(w->monitor_state, 0, NULL);
	json_t *l = json_object_get(doc, "listings");
	json_t *now = json_object();
	const char *key;
	json_t *val;
	char t[300];
	const char *zone;
	json_object_foreach(l, key, val)
	{
		if (web_listing_key(key, t, sizeof t, &zone) == 0 &&
		    metric_set(w->m_listed, (const char *[]){t, zone}, 1) == 0)
			json_object_set_new(now, key, json_true());
	}
	json_object_foreach(w->listed_prev, key, val)
	{
		if (!json_object_get(now, key) && web_listing_key(key, t, sizeof t, &zone) == 0)
			metric_set(w->m_listed, (const char *[]){t, zone}, 0);
	}
	json_decref(w->listed_prev);
	w->listed_prev = now;
	json_decref(doc);
}

/* ---- dispatch ---- */

static void web_identify(struct web_req *r)
{
	struct web *w = r->w;
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	r->sess = NULL; /* found again when the handler runs again after a wait */
	r->bearer = false;
	if (str_copy(r->ip_text, sizeof r->ip_text, "-") != 0)
		panic("web_identify: r->ip_text does not fit");
	if (ci && ci->client_addr && addr_from_sockaddr(ci->client_addr, &r->ip) == 0) {
		r->has_ip = true;
		addr_unmap(&r->ip);
		/* Behind a trusted proxy the client is the last X-Forwarded-For entry
		 * (the one the proxy added); from anyone else the header is ignored. */
		const char *xff =
		    w->trusted_proxy && prefix_set_lookup(w->trusted_proxy, &r->ip, NULL, NULL)
		        ? MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Forwarded-For")
		        : NULL;
		if (xff) {
			const char *last = strrchr(xff, ',');
			last = last ? last + 1 : xff;
			while (*last == ' ' || *last == '\t')
				last++;
			size_t n = strcspn(last, " \t");
			struct addr a;
			if (addr_parse(last, n, &a) == 0) {
				addr_unmap(&a);
				r->ip = a;
			}
		}
		addr_format(&r->ip, r->ip_text, sizeof r->ip_text);
	}
	clock_update();
	const char *sid = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, "rg_session");
	if (sid)
		r->sess = session_find(&w->sessions, sid, clock_realtime_ms());
	if (r->sess) {
		/* The account is checked on every request, not only at login: an
		 * administrator removed, disabled or no longer admin is logged out. */
		web_users_refresh(w);
		const struct userdb_entry *ue = userdb_find(&w->users, r->sess->user);
		if (!ue || !(ue->flags & USERDB_FLAG_ADMIN) || (ue->flags & USERDB_FLAG_DISABLED)) {
			log_warn("web: session of %s ended: the account is %s", r->sess->user,
			         !ue                                ? "gone"
			         : !(ue->flags & USERDB_FLAG_ADMIN) ? "no longer an "
			                                              "administrator"
			                                            : "disabled");
			session_end(&w->sessions, r->sess->id);
			r->sess = NULL;
		}
	}
	const char *auth = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
	if (auth && w->api_token[0] && strncmp(auth, "Bearer ", 7) == 0 &&
	    strncmp(r->url, "/api/", 5) == 0)
		r->bearer = session_token_eq(auth + 7, w->api_token);
}

static enum MHD_Result web_dispatch(struct web_req *r)
{
	struct web *w = r->w;
	const char *url = r->url;
	if (strcmp(url, "/metrics") == 0 && !r->post) {
		struct buf b;
		buf_init(&b, 16 << 20);
		web_metrics_refresh(w);
		if (metrics_render(w->ctx.metrics, &b) != 0) {
			buf_free(&b);
			return web_text(r, 500, "metrics too large\n");
		}
		enum MHD_Result rc = web_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8",
		                               buf_cstr(&b), b.len);
		buf_free(&b);
		return rc;
	}
	if (strcmp(url, "/healthz") == 0 && !r->post) {
		char why[512], body[600];
		if (!w->ctx.health || w->ctx.health(w->ctx.health_arg, why, sizeof why) == 0)
			return web_text(r, 200, "ok\n");
		str_format_trunc(body, sizeof body, "unavailable: %s\n", why);
		return web_text(r, 503, body);
	}
	if (strcmp(url, "/favicon.ico") == 0)
		return web_text(r, 404, "not found\n");
	if (r->body_too_big)
		return web_text(r, 413, "request body too large\n");
	web_identify(r);
	if (strcmp(url, "/login") == 0)
		return r->post ? web_login(r) : webui_login_page(r, 200, NULL);
	if (strncmp(url, "/api/", 5) == 0) {
		if (!r->sess && !r->bearer)
			return web_json_error(r, 401,
			                      "log in, or send Authorization: Bearer TOKEN");
		return web_api(r);
	}
	if (!r->sess)
		return webui_login_page(r, 401, NULL);
	if (r->post && !web_csrf_ok(r))
		return web_text(r, 403, "missing or wrong CSRF token; reload the page\n");
	if (strcmp(url, "/logout") == 0 && r->post) {
		log_info("web: %s logged out", r->sess->user);
		session_end(&w->sessions, r->sess->id);
		r->sess = NULL;
		web_cookie(r, 0, "rg_session", "", "/", 0);
		if (str_copy(r->location, sizeof r->location, "/login") != 0)
			panic("web_dispatch: r->location does not fit");
		return web_text(r, 303, "logged out\n");
	}
	return webui_handle(r);
}

static const char *web_metric_path(const char *url)
{
	static const char *const known[] = {"/metrics", "/healthz", "/login",   "/logout",
	                                    "/",        "/blocks",  "/account", "/listings",
	                                    "/holds",   "/audit",   "/resume"};
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strcmp(url, known[i]) == 0)
			return known[i];
	return strncmp(url, "/api/", 5) == 0 ? "/api/" : "other";
}

static enum MHD_Result web_handle(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
	struct web *w = cls;
	struct web_req *r = *con_cls;
	if (!r) {
		bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
		if (!get && strcmp(method, "POST") != 0) {
			struct web_req tmp = {.w = w, .conn = conn, .url = url};
			return web_text(&tmp, 405, "method not allowed\n");
		}
		r = calloc(1, sizeof *r);
		if (!r)
			return MHD_NO;
		r->w = w;
		r->conn = conn;
		r->url = url;
		r->method = method;
		r->post = !get;
		buf_init(&r->body, WEB_BODY_MAX);
		*con_cls = r;
		return MHD_YES;
	}
	if (*upload_size) {
		if (!r->body_too_big && buf_append(&r->body, upload, *upload_size) != 0)
			r->body_too_big = true;
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->pending_body) { /* back from a delay */
		enum MHD_Result rc = web_reply(r, r->pending_status, r->pending_type,
		                               r->pending_body, r->pending_len);
		free(r->pending_body);
		r->pending_body = NULL;
		return rc;
	}
	if (w->m_requests && !r->counted)
		metric_add(w->m_requests, (const char *[]){web_metric_path(url)}, 1);
	r->counted = true;
	r->ctl_next = 0; /* again after a wait: the answers kept, from the first */
	r->location[0] = '\0';
	r->set_cookie[0][0] = r->set_cookie[1][0] = '\0';
	return web_dispatch(r);
}

static void web_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
	struct web_req *r = *con_cls;
	if (!r)
		return;
	if (r->delay_ev)
		event_free(r->delay_ev);
	web_delay_unlink(r); /* a waiting request's answer, when it comes, is dropped */
	json_decref(r->ctl_replies);
	free(r->pending_body);
	if (r->body.data)
		sodium_memzero(r->body.data, r->body.cap); /* it may have held a password */
	buf_free(&r->body);
	free(r);
	*con_cls = NULL;
}

/* ---- the event loop ---- */

static void web_schedule(struct web *w)
{
	MHD_UNSIGNED_LONG_LONG ms;
	if (MHD_get_timeout(w->d, &ms) == MHD_YES) {
		struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
		evtimer_add(w->timer, &tv);
	} else {
		evtimer_del(w->timer);
	}
}

static void web_on_io(evutil_socket_t fd, short what, void *arg)
{
	struct web *w = arg;
	MHD_run(w->d);
	web_schedule(w);
}

static char *web_slurp(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rbe");
	if (!f) {
		str_format_trunc(err, errlen, "web: cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	struct buf b;
	buf_init(&b, 1 << 20);
	char tmp[4096];
	size_t n;
	int rc = 0;
	while (rc == 0 && (n = fread(tmp, 1, sizeof tmp, f)) > 0)
		rc = buf_append(&b, tmp, n);
	fclose(f);
	if (rc != 0 || b.len == 0) {
		str_format_trunc(err, errlen, "web: %s is empty or larger than 1 MiB", path);
		buf_free(&b);
		return NULL;
	}
	return b.data; /* NUL-terminated; freed with free() */
}

int web_read_token_file(const char *path, char *out, size_t size, char *err, size_t errlen)
{
	char *text = web_slurp(path, err, errlen);
	if (!text)
		return -1;
	char *nl = strpbrk(text, "\r\n");
	if (nl)
		*nl = '\0';
	char *t = str_trim(text);
	int rc = str_copy(out, size, t);
	sodium_memzero(text, strlen(text));
	free(text);
	if (rc != 0) {
		str_format_trunc(err, errlen, "web: the token in %s is too long", path);
		return -1;
	}
	return 0;
}

struct web *web_new(struct event_base *base, const struct web_options *opt,
                    const struct web_context *ctx, char *err, size_t errlen)
{
	struct web *w = calloc(1, sizeof *w);
	if (!w) {
		str_format_trunc(err, errlen, "out of memory");
		return NULL;
	}
	w->base = base;
	w->ctx = *ctx;
	w->ctl_own =
	    (struct ctlapi_state){.engine = ctx->engine, .store = ctx->store, .queue = ctx->queue};
	w->ctl = ctx->ctl ? ctx->ctl : &w->ctl_own;
	w->trusted = opt->trusted;
	w->trusted_proxy = opt->trusted_proxy;
	{
		const struct pol_config *pc = ctx->policy;
		weblock_init(&w->lock, pc ? (uint32_t)pc->ip_failures : 0,
		             pc ? (int64_t)pc->ip_period_ms : 0,
		             pc ? (int64_t)pc->ip_lockout_ms : 0, pc ? pc->delay_base_ms : 2000,
		             pc ? pc->delay_max_ms : 15000);
	}
	const struct hostport *addr = opt->addr;
	bool tls = opt->tls_cert && opt->tls_cert[0];
	if (!tls && !hostport_is_loopback(addr)) {
		str_format_trunc(err, errlen,
		                 "web: %s is not a loopback address and no TLS certificate is set "
		                 "([web] tls_cert, tls_key)",
		                 addr->text);
		free(w);
		return NULL;
	}
	if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		str_format_trunc(
		    err, errlen,
		    "web: this libmicrohttpd has no TLS (GnuTLS); listen on loopback only");
		free(w);
		return NULL;
	}
	if (opt->api_token && opt->api_token[0]) {
		if (strlen(opt->api_token) < 16 ||
		    str_copy(w->api_token, sizeof w->api_token, opt->api_token) != 0) {
			str_format_trunc(err, errlen,
			                 "web: api_token must be 16 to 255 characters");
			free(w);
			return NULL;
		}
	}
	if (str_copy(w->users_file, sizeof w->users_file,
	             opt->users_file ? opt->users_file : USERDB_DEFAULT_PATH) != 0) {
		str_copy_trunc(err, errlen, "web: users_file path too long");
		free(w);
		return NULL;
	}
	if (str_copy(w->monitor_state, sizeof w->monitor_state,
	             opt->monitor_state ? opt->monitor_state : "") != 0) {
		str_copy_trunc(err, errlen, "web: monitor_state path too long");
		free(w);
		return NULL;
	}
	session_init(&w->sessions, opt->session_idle_ms ? opt->session_idle_ms : 30 * 60000,
	             opt->session_max_ms ? opt->session_max_ms : 12 * 3600000);
	if (userdb_init(&w->users, w->users_file) != 0) {
		str_format_trunc(err, errlen, "web: users file name too long");
		free(w);
		return NULL;
	}
	char cerr[256];
	if (bl_catalog_load_string(&w->catalog, bl_builtin_catalog(), "built-in catalogue", cerr,
	                           sizeof cerr) != 0)
		log_warn("web: %s; blocklist pages show no delisting links", cerr);
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
	if (addr->ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (tls) {
		w->tls_cert_pem = web_slurp(opt->tls_cert, err, errlen);
		w->tls_key_pem = w->tls_cert_pem ? web_slurp(opt->tls_key, err, errlen) : NULL;
		if (!w->tls_key_pem) {
			web_free(w);
			return NULL;
		}
		flags |= MHD_USE_TLS;
		w->tls = true;
		w->d = MHD_start_daemon(
		    flags, 0, NULL, NULL, web_handle, w, MHD_OPTION_SOCK_ADDR,
		    (const struct sockaddr *)&addr->ss, MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
		    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)32, MHD_OPTION_CONNECTION_TIMEOUT,
		    (unsigned)30, MHD_OPTION_NOTIFY_COMPLETED, web_completed, w,
		    MHD_OPTION_HTTPS_MEM_CERT, w->tls_cert_pem, MHD_OPTION_HTTPS_MEM_KEY,
		    w->tls_key_pem, MHD_OPTION_END);
	} else {
		w->d = MHD_start_daemon(
		    flags, 0, NULL, NULL, web_handle, w, MHD_OPTION_SOCK_ADDR,
		    (const struct sockaddr *)&addr->ss, MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
		    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)32, MHD_OPTION_CONNECTION_TIMEOUT,
		    (unsigned)30, MHD_OPTION_NOTIFY_COMPLETED, web_completed, w, MHD_OPTION_END);
	}
	if (!w->d) {
		str_format_trunc(err, errlen, "web: cannot listen on %s: %s", addr->text,
		                 strerror(errno));
		web_free(w);
		return NULL;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(w->d, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info) {
		str_format_trunc(err, errlen, "web: libmicrohttpd gave no epoll descriptor");
		web_free(w);
		return NULL;
	}
	static const struct workq_ops login_ops = {
	    .run = web_login_run, .done = web_login_done, .drop = web_login_drop};
	struct workq_conf lc = {
	    .name = "web: password checks", .threads = 1, .max_pending = 1, .batch_max = 1};
	char lerr[200];
	w->login_wq = workq_new(base, &lc, &login_ops, w, lerr, sizeof lerr);
	if (!w->login_wq)
		log_warn("%s; they run in the loop", lerr);
	w->io = event_new(base, info->epoll_fd, EV_READ | EV_PERSIST, web_on_io, w);
	w->timer = evtimer_new(base, web_on_io, w);
	if (!w->io || !w->timer || event_add(w->io, NULL) != 0) {
		str_format_trunc(err, errlen, "web: cannot watch the listener");
		web_free(w);
		return NULL;
	}
	struct metrics *m = ctx->metrics;
	if (m) {
		w->m_requests =
		    metrics_register(m, METRIC_COUNTER, "relayguard_http_requests_total",
		                     "HTTP requests answered, by path.", "path", NULL, 0);
		w->m_logins = metrics_register(m, METRIC_COUNTER, "relayguard_web_logins_total",
		                               "Admin page logins, by result.", "result", NULL, 0);
		w->m_auth_failures = metrics_register(
		    m, METRIC_COUNTER, "relayguard_auth_failures_total",
		    "Failed logins, by service (web; smtp when the SMTP server counts its own).",
		    "service", NULL, 0);
		w->m_blocks =
		    metrics_register(m, METRIC_GAUGE, "relayguard_blocks_active",
		                     "Blocks in force, by kind of identity.", "kind", NULL, 0);
		w->m_listed = metrics_register(
		    m, METRIC_GAUGE, "relayguard_blocklist_listed",
		    "1 while relayguard monitor's last round found target listed on zone.",
		    "target,zone", NULL, 0);
		if (w->m_auth_failures)
			metric_add(w->m_auth_failures, (const char *[]){"web"}, 0);
		struct metric *build = metrics_register(
		    m, METRIC_GAUGE, "relayguard_build_info",
		    "Always 1; the version label is the build's git describe.", "version", NULL, 0);
		if (build)
			metric_set(build, (const char *[]){rg_version()}, 1);
		if (ctx->queue) {
			w->m_queue = metrics_register(
			    m, METRIC_GAUGE, "relayguard_queue_messages",
			    "Messages in the spool, by state (deferred ones are also active).",
			    "state", NULL, 0);
			w->m_queue_bytes = metrics_register(
			    m, METRIC_GAUGE, "relayguard_queue_bytes",
			    "Bytes of message content in the spool.", NULL, NULL, 0);
			w->m_queue_oldest = metrics_register(
			    m, METRIC_GAUGE, "relayguard_queue_oldest_seconds",
			    "Age of the oldest message in the spool (0 when empty).", NULL, NULL,
			    0);
		}
	}
	web_schedule(w);
	log_info("web listening on %s, port %u (%s)", addr->text, web_port(w),
	         tls ? "https" : "http, loopback only");
	return w;
}

unsigned web_port(const struct web *w)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(w->d, MHD_DAEMON_INFO_BIND_PORT);
	return info ? info->port : 0;
}

void web_free(struct web *w)
{
	if (!w)
		return;
	workq_free(w->login_wq); /* a password check still running: it ends soon */
	/* libmicrohttpd must not stop with connections suspended */
	while (w->delayed) {
		struct web_req *r = w->delayed;
		web_delay_unlink(r);
		if (r->delay_ev)
			event_del(r->delay_ev);
		r->suspended = false;
		MHD_resume_connection(r->conn);
	}
	if (w->io)
		event_free(w->io);
	if (w->timer)
		event_free(w->timer);
	if (w->d)
		MHD_stop_daemon(w->d);
	userdb_free(&w->users);
	bl_catalog_free(&w->catalog);
	json_decref(w->listed_prev);
	if (w->tls_key_pem) {
		sodium_memzero(w->tls_key_pem, strlen(w->tls_key_pem));
		free(w->tls_key_pem);
	}
	free(w->tls_cert_pem);
	free(w);
}
