/*
 * scan - rspamd's /checkv2 over libevent's HTTP client, one connection per
 * message (rspamd answers one request per connection quickly; a pool would
 * only save a loopback handshake).
 *
 * Every request owns a timer (the whole exchange) and a finishing event:
 * the HTTP callback and the timer only record the result and activate the
 * finishing event, which frees the connection outside libevent's HTTP code
 * and then calls the caller back. So the callback never runs inside
 * scan_start(), and a cancelled request is simply freed.
 */
#include "gateway/scan.h"

#include "core/log.h"
#include "core/str.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#define SCAN_REPLY_MAX (1024 * 1024) /* rspamd's JSON reply, symbols included */

struct scan {
	struct event_base *base;
	char host[64];
	unsigned port;
	uint64_t timeout_ms;
	LIST_HEAD(, scan_req) reqs; /* running, for scan_free */
};

struct scan_req {
	struct scan *s;
	LIST_ENTRY(scan_req) link;
	struct evhttp_connection *conn;
	struct event *timer, *fin;
	bool finished; /* the result is in res; fin is active */
	struct scan_result res;
	scan_cb cb;
	void *arg;
};

static const char *const scan_action_names[] = {
    "no action", "greylist", "add header", "rewrite subject", "soft reject", "reject",
};
static const char *const scan_action_labels[] = {
    "no_action", "greylist", "add_header", "rewrite_subject", "soft_reject", "reject",
};

const char *scan_action_name(enum scan_action a)
{
	if ((unsigned)a >= sizeof scan_action_names / sizeof scan_action_names[0])
		panic("scan: action %d", (int)a);
	return scan_action_names[a];
}

const char *scan_result_label(const struct scan_result *r)
{
	if (r->status == SCAN_TIMEOUT)
		return "timeout";
	if (r->status != SCAN_DONE)
		return "error";
	return (unsigned)r->action < 6 ? scan_action_labels[r->action] : "error";
}

/* ---- the reply ---- */

static int scan_fail(struct scan_result *out, const char *why)
{
	out->status = SCAN_ERROR;
	str_copy_trunc(out->error, sizeof out->error, why);
	return -1;
}

/* A JSON string as one line of printable ASCII (it may reach an SMTP reply). */
static void scan_text(char *out, size_t size, const json_t *v)
{
	out[0] = '\0';
	if (!json_is_string(v))
		return;
	const char *s = json_string_value(v);
	size_t n = json_string_length(v), k = 0;
	for (size_t i = 0; i < n && k + 1 < size; i++) {
		unsigned char ch = (unsigned char)s[i];
		out[k++] = ch >= 0x20 && ch < 0x7f ? (char)ch : ' ';
	}
	out[k] = '\0';
}

int scan_parse_reply(const char *p, size_t len, struct scan_result *out)
{
	memset(out, 0, sizeof *out);
	json_error_t je;
	json_t *root = json_loadb(p, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return scan_fail(out, "reply is not JSON");
	int rc = -1;
	const json_t *action = json_object_get(root, "action");
	const json_t *score = json_object_get(root, "score");
	if (!json_is_object(root) || !json_is_string(action) || !json_is_number(score)) {
		scan_fail(out, "reply has no action and score");
		goto done;
	}
	const char *a = json_string_value(action);
	size_t i;
	for (i = 0; i < 6; i++)
		if (strcmp(a, scan_action_names[i]) == 0)
			break;
	if (i == 6) {
		scan_fail(out, "unknown action in reply");
		goto done;
	}
	out->action = (enum scan_action)i;
	out->score = json_number_value(score);
	const json_t *req = json_object_get(root, "required_score");
	if (json_is_number(req))
		out->required_score = json_number_value(req);
	/* rspamd's scores are small; one that is not (1e300 prints as 301 digits
	 * in X-Spam-Score) is no verdict to act on. */
	if (!(out->score >= -SCAN_SCORE_MAX && out->score <= SCAN_SCORE_MAX) ||
	    !(out->required_score >= -SCAN_SCORE_MAX && out->required_score <= SCAN_SCORE_MAX)) {
		scan_fail(out, "score out of range in reply");
		goto done;
	}
	const json_t *msgs = json_object_get(root, "messages");
	if (json_is_object(msgs))
		scan_text(out->message, sizeof out->message, json_object_get(msgs, "smtp_message"));
	scan_text(out->subject, sizeof out->subject, json_object_get(root, "subject"));
	out->status = SCAN_DONE;
	rc = 0;
done:
	json_decref(root);
	return rc;
}

/* ---- requests ---- */

static void scan_req_free(struct scan_req *r)
{
	LIST_REMOVE(r, link);
	if (r->conn)
		evhttp_connection_free(r->conn); /* frees a pending request, no callback */
	if (r->timer)
		event_free(r->timer);
	if (r->fin)
		event_free(r->fin);
	free(r);
}

static void scan_finish(struct scan_req *r)
{
	if (r->finished)
		return;
	r->finished = true;
	evtimer_del(r->timer);
	event_active(r->fin, EV_TIMEOUT, 0);
}

static void scan_on_fin(evutil_socket_t fd, short what, void *arg)
{
	struct scan_req *r = arg;
	struct scan_result res = r->res;
	scan_cb cb = r->cb;
	void *cb_arg = r->arg;
	(void)fd;
	(void)what;
	scan_req_free(r);
	cb(cb_arg, &res);
}

static void scan_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct scan_req *r = arg;
	(void)fd;
	(void)what;
	r->res.status = SCAN_TIMEOUT;
	str_format_trunc(r->res.error, sizeof r->res.error, "no reply within %llu ms",
	                 (unsigned long long)r->s->timeout_ms);
	scan_finish(r);
}

static void scan_on_error(enum evhttp_request_error e, void *arg)
{
	struct scan_req *r = arg;
	if (r->finished)
		return;
	r->res.status = e == EVREQ_HTTP_TIMEOUT ? SCAN_TIMEOUT : SCAN_ERROR;
	str_copy_trunc(r->res.error, sizeof r->res.error,
	               e == EVREQ_HTTP_TIMEOUT         ? "timed out"
	               : e == EVREQ_HTTP_EOF           ? "connection refused or closed"
	               : e == EVREQ_HTTP_DATA_TOO_LONG ? "reply too long"
	                                               : "HTTP error");
}

static void scan_on_reply(struct evhttp_request *req, void *arg)
{
	struct scan_req *r = arg;
	if (r->finished)
		return;
	int code = req ? evhttp_request_get_response_code(req) : 0;
	if (code == 0) {
		if (!r->res.error[0])
			(void)scan_fail(&r->res, "no reply (connection refused or closed)");
		r->res.status = r->res.status == SCAN_TIMEOUT ? SCAN_TIMEOUT : SCAN_ERROR;
	} else if (code != 200) {
		r->res.status = SCAN_ERROR;
		str_format_trunc(r->res.error, sizeof r->res.error, "HTTP %d", code);
	} else {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t n = evbuffer_get_length(in);
		const char *p = (const char *)evbuffer_pullup(in, (ssize_t)n);
		(void)scan_parse_reply(p ? p : "", p ? n : 0, &r->res);
	}
	scan_finish(r);
}

struct scan *scan_new(struct event_base *base, const char *host, unsigned port, uint64_t timeout_ms)
{
	struct scan *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->base = base;
	if (str_copy(s->host, sizeof s->host, host) != 0) {
		free(s);
		return NULL;
	}
	s->port = port;
	s->timeout_ms = timeout_ms;
	return s;
}

void scan_free(struct scan *s)
{
	if (!s)
		return;
	while (!LIST_EMPTY(&s->reqs))
		scan_req_free(LIST_FIRST(&s->reqs));
	free(s);
}

void scan_cancel(struct scan_req *r)
{
	if (r)
		scan_req_free(r);
}

static int scan_headers(struct evkeyvalq *h, const struct scan *s, const struct scan_meta *m)
{
	char host[80];
	if (str_format(host, sizeof host, strchr(s->host, ':') ? "[%s]:%u" : "%s:%u", s->host,
	               s->port) != 0)
		return -1;
	int rc = evhttp_add_header(h, "Host", host);
	rc |= evhttp_add_header(h, "Connection", "close");
	rc |= evhttp_add_header(h, "From", m->sender ? m->sender : "");
	for (size_t i = 0; i < m->nrcpt; i++)
		rc |= evhttp_add_header(h, "Rcpt", m->rcpt[i]);
	if (m->ip && m->ip[0])
		rc |= evhttp_add_header(h, "IP", m->ip);
	if (m->user && m->user[0])
		rc |= evhttp_add_header(h, "User", m->user);
	if (m->helo && m->helo[0])
		rc |= evhttp_add_header(h, "Helo", m->helo);
	if (m->queue_id && m->queue_id[0])
		rc |= evhttp_add_header(h, "Queue-Id", m->queue_id);
	return rc ? -1 : 0;
}

struct scan_req *scan_start(struct scan *s, const struct scan_meta *meta, struct evbuffer *content,
                            scan_cb cb, void *arg)
{
	struct scan_req *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->s = s;
	r->cb = cb;
	r->arg = arg;
	LIST_INSERT_HEAD(&s->reqs, r, link);
	r->timer = evtimer_new(s->base, scan_on_timer, r);
	r->fin = event_new(s->base, -1, 0, scan_on_fin, r);
	r->conn = evhttp_connection_base_new(s->base, NULL, s->host, (unsigned short)s->port);
	if (!r->timer || !r->fin || !r->conn)
		goto fail;
	evhttp_connection_set_retries(r->conn, 0);
	evhttp_connection_set_max_body_size(r->conn, SCAN_REPLY_MAX);
	struct timeval tv = {(time_t)(s->timeout_ms / 1000),
	                     (suseconds_t)(s->timeout_ms % 1000) * 1000};
	evhttp_connection_set_timeout_tv(r->conn, &tv);
	struct evhttp_request *req = evhttp_request_new(scan_on_reply, r);
	if (!req)
		goto fail;
	evhttp_request_set_error_cb(req, scan_on_error);
	if (scan_headers(evhttp_request_get_output_headers(req), s, meta) != 0 ||
	    evbuffer_add_buffer(evhttp_request_get_output_buffer(req), content) != 0) {
		evhttp_request_free(req);
		goto fail;
	}
	if (evhttp_make_request(r->conn, req, EVHTTP_REQ_POST, "/checkv2") != 0) {
		/* the connection owns the request now; freeing it frees both */
		r->res.status = SCAN_ERROR;
		str_copy_trunc(r->res.error, sizeof r->res.error, "cannot send the request");
		scan_finish(r);
		return r;
	}
	evtimer_add(r->timer, &tv);
	return r;
fail:
	scan_req_free(r);
	return NULL;
}
