/*
 * gwalert - grouping on the loop, delivery on a thread; see gwalert.h.
 */
#include "gateway/gwalert.h"

#include "admin/alert.h"
#include "admin/blockalert.h"
#include "admin/metrics.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"
#include "core/workq.h"
#include "queue/queue.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One delivery, on a worker, with its own copy of what it needs (a reload
 * may change the configuration while it runs). */
struct gwalert_job {
	struct workq_job wq;
	int failed;
	char *json;
	int nexecs, nwebhooks;
	char execs[GW_ALERTS_MAX][512];
	char webhooks[GW_ALERTS_MAX][512];
	char ca[512];
	int exec_timeout_ms, webhook_timeout_ms, webhook_retries;
};

struct gwalert {
	const struct gw_config *c;
	struct event_base *base;
	struct blockalert *ba;
	struct event *tick;
	struct workq *wq; /* GWALERT_CHILDREN workers, started with the first delivery */
	struct metric *m_alerts;
	struct queue *queue; /* for [alert] mail_to; NULL: none */
	unsigned mail_seq;
};

static void gwalert_count(struct gwalert *a, const char *result)
{
	if (a->m_alerts)
		metric_add(a->m_alerts, (const char *[]){result}, 1);
}

#define GWALERT_MAIL_MAX (256 * 1024)
#define GWALERT_REASON_MAX 900 /* keeps every body line under 998 octets */

/* s with control characters replaced, cut at max octets. */
static int gwalert_put_text(struct buf *b, const char *s, size_t max)
{
	int rc = 0;
	for (size_t i = 0; s && s[i] && i < max && rc == 0; i++) {
		unsigned char ch = (unsigned char)s[i];
		rc = buf_append_char(b, ch < 0x20 || ch == 0x7f ? '?' : (char)ch);
	}
	return rc;
}

static const char *gwalert_jstr(const json_t *o, const char *key, const char *dflt)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v ? v : dflt;
}

static int gwalert_put_block(struct buf *b, const json_t *blk)
{
	int rc = buf_append_str(b, "\r\n");
	rc = rc || gwalert_put_text(b, gwalert_jstr(blk, "identity", "?"), GWALERT_REASON_MAX);
	rc = rc || buf_printf(b, "\r\n  rule: ");
	rc = rc || gwalert_put_text(b, gwalert_jstr(blk, "rule", "?"), 64);
	rc = rc || buf_printf(b, ", score %" PRId64 "\r\n  blocked: ",
	                      (int64_t)json_integer_value(json_object_get(blk, "score")));
	rc = rc || gwalert_put_text(b, gwalert_jstr(blk, "created", "?"), 64);
	rc = rc || buf_append_str(b, ", until: ");
	rc = rc || gwalert_put_text(b, gwalert_jstr(blk, "expires", "resumed by a person"), 64);
	const char *ip = gwalert_jstr(blk, "client_ip", NULL);
	if (ip) {
		rc = rc || buf_append_str(b, "\r\n  client IP: ");
		rc = rc || gwalert_put_text(b, ip, 64);
	}
	rc = rc || buf_append_str(b, "\r\n");
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(blk, "reasons"), i, r)
	{
		rc = rc || buf_append_str(b, "  - ");
		rc = rc || gwalert_put_text(b, json_string_value(r), GWALERT_REASON_MAX);
		rc = rc || buf_append_str(b, "\r\n");
	}
	return rc;
}

char *gwalert_mail_render(const char *json, const char *from, const char (*to)[320], int nto,
                          int64_t now_ms, const char *msgid_local)
{
	json_t *root = json_loads(json, 0, NULL);
	if (!json_is_object(root) || nto < 1) {
		json_decref(root);
		return NULL;
	}
	const char *node = gwalert_jstr(root, "node", "localhost");
	int64_t count = (int64_t)json_integer_value(json_object_get(root, "count"));
	int64_t omitted = (int64_t)json_integer_value(json_object_get(root, "omitted"));
	const char *since = gwalert_jstr(root, "since", NULL);
	char date[64];
	if (clock_format_rfc5322(now_ms, true, date, sizeof date) != 0) {
		json_decref(root);
		return NULL;
	}
	struct buf b;
	buf_init(&b, GWALERT_MAIL_MAX);
	int rc = buf_printf(&b, "Date: %s\r\nFrom: relayguard <%s>\r\nTo: ", date, from);
	for (int i = 0; i < nto; i++)
		rc = rc || buf_printf(&b, "%s<%s>", i ? ",\r\n    " : "", to[i]);
	rc = rc || buf_printf(&b,
	                      "\r\nSubject: relayguard: %" PRId64 " block%s\r\n"
	                      "Message-ID: <%s@",
	                      count, count == 1 ? "" : "s", msgid_local);
	rc = rc || gwalert_put_text(&b, node, 200);
	rc = rc || buf_append_str(&b, ">\r\nAuto-Submitted: auto-generated\r\n"
	                              "MIME-Version: 1.0\r\n"
	                              "Content-Type: text/plain; charset=utf-8\r\n"
	                              "Content-Transfer-Encoding: 8bit\r\n\r\nrelayguard on ");
	rc = rc || gwalert_put_text(&b, node, 200);
	rc = rc || buf_printf(&b, " blocked %" PRId64 " sender%s", count, count == 1 ? "" : "s");
	if (since) {
		rc = rc || buf_append_str(&b, " since ");
		rc = rc || gwalert_put_text(&b, since, 64);
	}
	rc = rc || buf_append_str(&b, ":\r\n");
	size_t i;
	json_t *blk;
	json_array_foreach(json_object_get(root, "blocks"), i, blk) rc =
	    rc || gwalert_put_block(&b, blk);
	if (omitted > 0)
		rc = rc || buf_printf(&b, "\r\n%" PRId64 " more block%s not listed here.\r\n",
		                      omitted, omitted == 1 ? " is" : "s are");
	rc = rc || buf_append_str(&b, "\r\nSee them with `relayguard block list` or on the admin "
	                              "web page; resume an\r\naccount there once it is safe.\r\n");
	json_decref(root);
	if (rc != 0) {
		buf_free(&b);
		return NULL;
	}
	return b.data; /* NUL-terminated, owned by the caller now */
}

static void gwalert_on_queued(void *arg, int status, const char *id)
{
	struct gwalert *a = arg;
	if (status == 0)
		log_info("alert: queue_id=%s block alert mail queued for %d address(es)", id,
		         a->c->nalert_mail_to);
	else
		log_error("alert: a block alert mail could not be queued");
	gwalert_count(a, status == 0 ? "queued" : "failed");
}

/* The alert as a message into the gateway's own queue. */
static void gwalert_mail(struct gwalert *a, const char *json)
{
	const struct gw_config *c = a->c;
	if (!a->queue || c->nalert_mail_to == 0)
		return;
	struct queue_msg *m = queue_msg_new(a->queue);
	if (!m) {
		gwalert_count(a, "failed");
		return;
	}
	char local[64];
	if (str_format(local, sizeof local, "%s.alert%u", queue_msg_id(m), ++a->mail_seq) != 0)
		panic("gwalert_send_any: a queue ID and a number fit local");
	char *text = gwalert_mail_render(json, c->alert_mail_from, c->alert_mail_to,
	                                 c->nalert_mail_to, clock_realtime_ms(), local);
	if (gwalert_queue_text(m, c->alert_mail_from, c->alert_mail_to, c->nalert_mail_to, "alert",
	                       text, gwalert_on_queued, a) != 0) {
		log_error("alert: a block alert mail could not be written to the queue");
		gwalert_count(a, "failed");
	}
	free(text);
}

int gwalert_queue_text(struct queue_msg *m, const char *from, const char (*to)[320], int nto,
                       const char *listener, const char *text, queue_commit_cb cb, void *arg)
{
	struct queue_rcpt rcpt[GW_ALERTS_MAX];
	memset(rcpt, 0, sizeof rcpt);
	struct queue_envelope env = {.sender_verified = true, .nrcpt = (unsigned)nto, .rcpt = rcpt};
	int rc = text && nto > 0 && nto <= GW_ALERTS_MAX ? 0 : -1;
	rc = rc || str_copy(env.sender, sizeof env.sender, from);
	rc = rc || str_copy(env.protocol, sizeof env.protocol, "LOCAL");
	rc = rc || str_copy(env.listener, sizeof env.listener, listener);
	for (int i = 0; i < nto && rc == 0; i++)
		rc = str_copy(rcpt[i].addr, sizeof rcpt[i].addr, to[i]);
	rc = rc || queue_msg_write(m, text, strlen(text));
	if (rc != 0) {
		queue_msg_abort(m);
		return -1;
	}
	queue_msg_commit(m, &env, cb, arg);
	return 0;
}

/* On a worker: every exec (posix_spawn) and webhook of one alert. */
static void gwalert_deliver_one(struct gwalert_job *j)
{
	char err[256];
	for (int i = 0; i < j->nexecs; i++) {
		struct alert_exec x = {.command = j->execs[i], .timeout_ms = j->exec_timeout_ms};
		if (alert_run_exec(&x, j->json, err, sizeof err) != 0) {
			log_error("alert: exec \"%s\" failed: %s", j->execs[i], err);
			j->failed++;
		}
	}
	for (int i = 0; i < j->nwebhooks; i++) {
		struct alert_webhook w = {.url = j->webhooks[i],
		                          .timeout_ms = j->webhook_timeout_ms,
		                          .retries = j->webhook_retries,
		                          .ca_file = j->ca[0] ? j->ca : NULL};
		if (alert_post_webhook(&w, j->json, err, sizeof err) != 0) {
			log_error("alert: webhook %s failed: %s", j->webhooks[i], err);
			j->failed++;
		}
	}
}

static void gwalert_deliver(void *arg, struct workq_job *first, unsigned n)
{
	(void)arg;
	(void)n;
	for (struct workq_job *w = first; w; w = w->next)
		gwalert_deliver_one(WORKQ_OWNER(w, struct gwalert_job, wq));
}

static void gwalert_job_free(void *arg, struct workq_job *w)
{
	(void)arg;
	struct gwalert_job *j = WORKQ_OWNER(w, struct gwalert_job, wq);
	free(j->json);
	free(j);
}

/* On the loop: the result of one delivery, logged and counted. */
static void gwalert_job_done(void *arg, struct workq_job *w)
{
	struct gwalert *a = arg;
	struct gwalert_job *j = WORKQ_OWNER(w, struct gwalert_job, wq);
	if (j->failed)
		log_error("alert: a block alert was not delivered everywhere (see above)");
	gwalert_count(a, j->failed ? "failed" : "sent");
	gwalert_job_free(a, w);
}

/* Queues the mail (a block alert), hands json (freed here) to a delivery thread. */
static void gwalert_send_any(struct gwalert *a, char *json, bool mail)
{
	if (!json)
		return;
	if (mail)
		gwalert_mail(a, json);
	const struct gw_config *c = a->c;
	if (c->nalert_execs == 0 && c->nalert_webhooks == 0) {
		free(json);
		return;
	}
	if (!a->wq) {
		/* Drained at free: a delivery under way or waiting ends, and is counted. */
		static const struct workq_ops ops = {
		    .run = gwalert_deliver, .done = gwalert_job_done, .drop = gwalert_job_free};
		struct workq_conf wc = {.name = "alert workers",
		                        .threads = GWALERT_CHILDREN,
		                        .max_pending = GWALERT_CHILDREN,
		                        .batch_max = 1,
		                        .drain = true};
		char err[200];
		a->wq = workq_new(a->base, &wc, &ops, a, err, sizeof err);
		if (!a->wq) {
			log_error("alert: %s", err);
			gwalert_count(a, "failed");
			free(json);
			return;
		}
	}
	struct gwalert_job *j = calloc(1, sizeof *j);
	if (!j) {
		log_error("alert: out of memory");
		gwalert_count(a, "failed");
		free(json);
		return;
	}
	j->json = json;
	j->nexecs = c->nalert_execs;
	j->nwebhooks = c->nalert_webhooks;
	memcpy(j->execs, c->alert_execs, sizeof j->execs);
	memcpy(j->webhooks, c->alert_webhooks, sizeof j->webhooks);
	if (str_copy(j->ca, sizeof j->ca, c->alert_webhook_ca) != 0)
		panic("gwalert_send_any: j->ca does not fit");
	j->exec_timeout_ms = (int)c->alert_exec_timeout_ms;
	j->webhook_timeout_ms = (int)c->alert_webhook_timeout_ms;
	j->webhook_retries = (int)c->alert_webhook_retries;
	if (workq_submit(a->wq, &j->wq) != 0) {
		log_error("alert: %d block alerts are still being delivered; dropping one",
		          GWALERT_CHILDREN);
		gwalert_count(a, "dropped");
		gwalert_job_free(a, &j->wq);
	}
}

static void gwalert_send(struct gwalert *a, char *json)
{
	gwalert_send_any(a, json, true);
}

void gwalert_store_usage(struct gwalert *a, const char *store, int permille, int alert_permille)
{
	if (!a)
		return;
	clock_update();
	json_t *o = json_pack("{s:s, s:s, s:s, s:f, s:f, s:I}", "type", "state_store_usage", "node",
	                      a->c->hostname, "store", store, "used_percent", permille / 10.0,
	                      "alert_percent", alert_permille / 10.0, "time_ms",
	                      (json_int_t)clock_realtime_ms());
	char *json = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	gwalert_send_any(a, json, false);
}

static void gwalert_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct gwalert *a = arg;
	clock_update();
	gwalert_send(a, blockalert_due(a->ba, clock_realtime_ms()));
}

void gwalert_block(struct gwalert *a, const struct pol_verdict *v, const char *client_ip)
{
	if (!a)
		return;
	clock_update();
	char *json = blockalert_add(a->ba, v, client_ip, clock_realtime_ms());
	if (!json)
		log_info("alert: block of %s goes into the next digest (%u waiting)", v->identity,
		         blockalert_pending(a->ba));
	gwalert_send(a, json);
}

struct gwalert *gwalert_new(struct event_base *base, const struct gw_config *c,
                            struct metrics *metrics, struct queue *queue, char *err, size_t errlen)
{
	if (c->nalert_execs == 0 && c->nalert_webhooks == 0 && (c->nalert_mail_to == 0 || !queue)) {
		if (c->nalert_mail_to)
			log_warn("alert: mail_to is set but there is no queue; no alert mail");
		return NULL;
	}
	struct gwalert *a = calloc(1, sizeof *a);
	if (!a)
		goto nomem;
	a->c = c;
	a->base = base;
	a->queue = queue;
	a->ba = blockalert_new((int64_t)c->alert_digest_ms, c->hostname);
	a->tick = event_new(base, -1, EV_PERSIST, gwalert_on_tick, a);
	struct timeval one = {1, 0};
	if (!a->ba || !a->tick || event_add(a->tick, &one) != 0)
		goto nomem;
	if (metrics)
		a->m_alerts =
		    metrics_register(metrics, METRIC_COUNTER, "relayguard_block_alerts_total",
		                     "Alerts on blocks, by result (sent, queued, failed, dropped).",
		                     "result", NULL, 0);
	log_info("alert: blocks are told to %d program(s), %d webhook(s) and %d mail address(es); "
	         "the first at once, then one digest every %llu s",
	         c->nalert_execs, c->nalert_webhooks, queue ? c->nalert_mail_to : 0,
	         (unsigned long long)(c->alert_digest_ms / 1000));
	return a;
nomem:
	str_format_trunc(err, errlen, "out of memory");
	gwalert_free(a);
	return NULL;
}

void gwalert_free(struct gwalert *a)
{
	if (!a)
		return;
	if (a->ba && blockalert_pending(a->ba)) {
		/* stopping: the digest goes now rather than never */
		clock_update();
		gwalert_send(
		    a, blockalert_due(a->ba, clock_realtime_ms() + (int64_t)a->c->alert_digest_ms));
	}
	workq_free(a->wq); /* waits for the deliveries under way and waiting */
	if (a->tick)
		event_free(a->tick);
	blockalert_free(a->ba);
	free(a);
}
