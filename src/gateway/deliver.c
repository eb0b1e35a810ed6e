/*
 * deliver - delivery workers on the event loop; see deliver.h.
 *
 * Ownership: a dmsg is one queue entry handed out by queue_next_due(); it is
 * split into djobs, one per destination, each waiting in its ddest's FIFO
 * until a dconn takes it. A dconn belongs to one ddest; it owns its
 * bufferevent (plain, or an OpenSSL filter over the plain one after
 * STARTTLS) and the SMTP client state (smtp/client.h). When the last job of
 * a dmsg is done the envelope is saved (queue_entry_put) or removed
 * (queue_entry_done, after the DSN, if any, is durable).
 */
#include "gateway/deliver.h"

#include "admin/metrics.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/mailaddr.h"
#include "core/str.h"
#include "delivery/dest.h"
#include "delivery/dlog.h"
#include "delivery/dsngen.h"
#include "delivery/mx.h"
#include "delivery/retry.h"
#include "gateway/sts.h"
#include "gateway/tlsrpt.h"
#include "gateway/tlsrptsend.h"
#include "net/dns.h"
#include "net/tls.h"
#include "policy/engine.h"
#include "queue/queue.h"
#include "smtp/client.h"
#include "smtp/relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DELIVER_CHUNK 65536
#define DELIVER_HIGH_WATER (256 * 1024)
#define DELIVER_HEADER_MAX (256 * 1024)
#define DELIVER_FULL_MAX (10 * 1024 * 1024)

struct dmsg;
struct ddest;
struct dconn;

struct djob {
	struct djob *next;
	struct dmsg *m;
	struct ddest *dd;
	size_t n;
	size_t *idx; /* recipients of m->env */
	const char **rcpt;
	const char **orcpt;
	unsigned *notify;
	struct smtpc_msg sm;
};

struct dmsg {
	struct deliver *d;
	struct queue_envelope env;
	unsigned jobs_left;
	uint64_t start_ms;
	/* per recipient, this attempt */
	uint8_t *touched;   /* got a result this time */
	char (*relay)[300]; /* who answered, for logs and the DSN */
	struct djob **jobs; /* all of them (the message owns them) */
	size_t njobs;
	bool dsn_pending; /* a DSN commit will call back */
	struct dmsg *prev, *next;
};

struct ddest {
	struct deliver *d;
	struct dest *dest;
	char name[256]; /* domain or host to resolve */
	bool no_mx;
	bool literal;
	struct addr lit;
	unsigned port;
	enum gw_dtls tls;
	bool auth;      /* the relayhost's credentials */
	bool mx_domain; /* name is the recipients' domain (MTA-STS applies) */
	char source[64];
	struct djob *head, *tail;
	struct dconn *idle;
	unsigned opening; /* connections not yet READY */
};

struct dconn {
	struct dconn *prev, *next; /* every connection, for shutdown */
	struct deliver *d;
	struct ddest *dd;
	struct dconn *next_idle;
	struct mx_query *mxq;
	struct mx_result mx;
	int target;
	struct bufferevent *bev;
	bool tls_off; /* opportunistic TLS failed on this host: plain text once */
	bool ready_once;
	bool counted_opening;
	struct smtpc c;
	bool c_init;
	struct djob *job;
	int content_fd;
	bool content_done;
	struct event *idle_timer;
	struct smtpc_result last_err;
	char relay[300]; /* host[ip]:port */
	unsigned msgs;
	bool dead;
	struct sts_req *stsq; /* the MTA-STS lookup before the MX lookup */
	enum mtasts_mode sts_mode;
	bool sts_enforce; /* an enforce policy: TLS with a verified name, or nothing */
	struct mtasts_policy sts_policy;
};

struct deliver {
	struct event_base *base;
	struct queue *q;
	struct dns *dns;
	struct pol_engine *engine;
	const struct gw_config *c;
	const struct gw_delivery *o;
	struct relay_domains local;
	struct retry_policy retry;
	struct dest_table dests;
	SSL_CTX *ssl;
	struct event *tick;
	unsigned active;
	bool stopping;
	uint64_t waiting; /* jobs in every destination's FIFO */
	struct dmsg *msgs;
	struct dconn *conns;
	char auth_user[256], auth_pass[256];
	struct deliver_stats st;
	struct metric *m_rcpt, *m_dsn, *m_conn;
	struct sts *sts;                /* [delivery] mta_sts; NULL: off */
	struct tlsrpt *tlsrpt;          /* our TLS results under those policies */
	struct tlsrptsend *tlsrpt_send; /* [delivery] tlsrpt_send: the reports to the rua */
};

static uint64_t deliver_now(void)
{
	return (uint64_t)clock_realtime_ms();
}

/* ---- results ---- */

static void deliver_count(struct deliver *d, const char *what)
{
	if (d->m_rcpt) {
		const char *v[1] = {what};
		(void)metric_add(d->m_rcpt, v, 1);
	}
}

static bool deliver_unknown_user(const struct smtpc_result *r)
{
	char st[16];
	if (r->code / 100 != 5)
		return false;
	if (smtpc_status_code(r, st, sizeof st) == 0 &&
	    (strcmp(st, "5.1.1") == 0 || strcmp(st, "5.1.0") == 0))
		return true;
	/* no enhanced code: the usual words */
	return strcasestr(r->text, "user unknown") || strcasestr(r->text, "no such user") ||
	       strcasestr(r->text, "unknown user") || strcasestr(r->text, "does not exist");
}

/* One recipient's result of this attempt into the envelope, and its log line. */
static void deliver_rcpt_result(struct dmsg *m, size_t i, const struct smtpc_result *r,
                                const char *relay, const char *tls)
{
	struct deliver *d = m->d;
	struct queue_rcpt *rc = &m->env.rcpt[i];
	rc->attempts++;
	str_copy_trunc(rc->last_reply, sizeof rc->last_reply, r->text);
	const char *status;
	if (r->code / 100 == 2) {
		rc->status = QUEUE_RCPT_SENT;
		status = "sent";
		d->st.sent++;
	} else if (r->code / 100 == 5) {
		rc->status = QUEUE_RCPT_FAILED;
		status = "bounced";
		d->st.bounced++;
	} else {
		rc->status = QUEUE_RCPT_PENDING;
		status = "deferred";
		d->st.deferred++;
	}
	deliver_count(d, status);
	m->touched[i] = 1;
	str_copy_trunc(m->relay[i], sizeof m->relay[i], relay ? relay : "");
	char dsn[16];
	if (smtpc_status_code(r, dsn, sizeof dsn) != 0)
		if (str_copy(dsn, sizeof dsn, "4.0.0") != 0)
			panic("deliver_rcpt_result: dsn does not fit");
	struct dlog l;
	dlog_begin(&l, m->env.id, "rcpt");
	dlog_addr(&l, "rcpt", rc->addr);
	dlog_addr(&l, "from", m->env.sender);
	dlog_str(&l, "user", m->env.auth_user);
	dlog_str(&l, "client", m->env.client_ip);
	dlog_str(&l, "relay", relay && relay[0] ? relay : "none");
	dlog_str(&l, "tls", tls ? tls : "none");
	dlog_u64(&l, "attempt", rc->attempts);
	dlog_secs(&l, "delay", deliver_now() - m->env.arrival_ms);
	dlog_str(&l, "status", status);
	dlog_str(&l, "dsn", dsn);
	dlog_str(&l, "reply", r->text);
	log_info("%s", l.line);
}

static void deliver_msg_finish(struct dmsg *m);
static void deliver_msg_free(struct dmsg *m);

/* A job is over: its results are in (from the connection, or one error). */
static void deliver_job_done(struct djob *j, const struct smtpc *c, const struct smtpc_result *err,
                             const char *relay, const char *tls)
{
	struct dmsg *m = j->m;
	if (m->d->stopping) {
		/* shutting down: the entry stays as it was saved last */
		if (--m->jobs_left == 0)
			deliver_msg_free(m);
		return;
	}
	for (size_t k = 0; k < j->n; k++) {
		const struct smtpc_result *r = c ? smtpc_result(c, k) : err;
		struct smtpc_result fallback = {451, "451 4.3.0 no result"};
		if (!r || r->code == 0)
			r = &fallback;
		deliver_rcpt_result(m, j->idx[k], r, relay, tls);
	}
	if (--m->jobs_left == 0)
		deliver_msg_finish(m);
}

/* The saved last reply of a recipient as a client result (code from its
 * first three digits; 0 when it is not an SMTP reply). */
static void deliver_reply_of(const struct queue_rcpt *qr, struct smtpc_result *r)
{
	const char *t = qr->last_reply;
	r->code = 0;
	if (t[0] >= '2' && t[0] <= '5' && t[1] >= '0' && t[1] <= '9' && t[2] >= '0' && t[2] <= '9')
		r->code = (t[0] - '0') * 100 + (t[1] - '0') * 10 + (t[2] - '0');
	str_copy_trunc(r->text, sizeof r->text, t);
}

/* ---- DSN ---- */

/* Reads the original (its header, or all of it) for the DSN. */
static int deliver_read_original(struct deliver *d, const char *id, bool full, struct buf *out)
{
	int fd = queue_entry_open_content(d->q, id);
	if (fd < 0)
		return -1;
	char tmp[DELIVER_CHUNK];
	int rc = 0;
	for (;;) {
		ssize_t n = read(fd, tmp, sizeof tmp);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -1;
			break;
		}
		if (n == 0)
			break;
		if (buf_append(out, tmp, (size_t)n) != 0)
			break; /* enough: the header is in, or the message is cut */
		if (!full && dsngen_header_len(out->data, out->len) < out->len)
			break;
	}
	close(fd);
	return rc;
}

static void deliver_msg_close(struct dmsg *m, bool all_final);

static void deliver_dsn_committed(void *arg, int status, const char *id)
{
	struct dmsg *m = arg;
	m->dsn_pending = false;
	if (m->d->stopping) {
		deliver_msg_free(m);
		return;
	}
	struct dlog l;
	dlog_begin(&l, m->env.id, "dsn");
	dlog_str(&l, "dsn_id", status == 0 ? id : "");
	dlog_addr(&l, "to", m->env.sender);
	dlog_str(&l, "status", status != 0 ? "error" : m->env.sender_verified ? "queued" : "held");
	if (!m->env.sender_verified)
		dlog_str(&l, "reason", "sender not verified: no backscatter");
	log_info("%s", l.line);
	/* The original goes only once its DSN is durable (or could not be made:
	 * then it stays and is tried again, which makes the DSN again). */
	deliver_msg_close(m, status == 0);
}

/* Builds and commits the DSN for the recipients that failed this attempt.
 * 1 when one is on its way (deliver_dsn_committed finishes the message),
 * 0 when none is needed. */
static int deliver_dsn(struct dmsg *m)
{
	struct deliver *d = m->d;
	struct queue_envelope *e = &m->env;
	size_t n = 0;
	enum dsngen_decision dec = DSNGEN_NONE;
	struct dsngen_rcpt *rr = calloc(e->nrcpt, sizeof *rr);
	char(*status)[16] = calloc(e->nrcpt, sizeof *status);
	if (!rr || !status) {
		free(rr);
		free(status);
		return 0;
	}
	for (unsigned i = 0; i < e->nrcpt; i++) {
		if (!m->touched[i] || e->rcpt[i].status != QUEUE_RCPT_FAILED)
			continue;
		enum dsngen_decision one =
		    dsngen_decide(e->sender_verified, e->sender, e->rcpt[i].notify);
		if (one == DSNGEN_NONE) {
			d->st.dsn_none++;
			continue;
		}
		dec = one;
		struct smtpc_result r;
		deliver_reply_of(&e->rcpt[i], &r);
		if (strncmp(r.text, "4.4.7 ", 6) == 0) {
			if (str_copy(status[i], sizeof status[i], "4.4.7") != 0)
				panic("deliver_dsn: status[i] does not fit");
		} else if (smtpc_status_code(&r, status[i], sizeof status[i]) != 0)
			if (str_copy(status[i], sizeof status[i], "5.0.0") != 0)
				panic("deliver_dsn: status[i] does not fit");
		/* the host name part of "host[ip]:port" */
		char *br = strchr(m->relay[i], '[');
		if (br)
			*br = '\0';
		rr[n++] = (struct dsngen_rcpt){.addr = e->rcpt[i].addr,
		                               .orcpt = e->rcpt[i].orcpt,
		                               .action = "failed",
		                               .status = status[i],
		                               .remote_mta = m->relay[i],
		                               .diagnostic = e->rcpt[i].last_reply,
		                               .last_attempt_ms = deliver_now()};
	}
	int rc = 0;
	if (n > 0) {
		struct buf orig, out;
		bool full = strcmp(e->ret, "FULL") == 0;
		buf_init(&orig, full ? DELIVER_FULL_MAX : DELIVER_HEADER_MAX);
		buf_init(&out, DELIVER_FULL_MAX + 65536);
		struct dsngen_msg dm = {.reporting_mta = d->c->hostname,
		                        .queue_id = e->id,
		                        .envid = e->envid,
		                        .sender = e->sender,
		                        .arrival_ms = e->arrival_ms,
		                        .now_ms = deliver_now(),
		                        .nrcpt = n,
		                        .rcpt = rr,
		                        .full = full};
		struct queue_msg *qm = NULL;
		if (deliver_read_original(d, e->id, full, &orig) == 0) {
			dm.original = buf_cstr(&orig);
			dm.original_len = orig.len;
		} else {
			dm.original = "";
		}
		if (dsngen_build(&dm, &out) == 0 && (qm = queue_msg_new(d->q)) != NULL) {
			char hdr[600];
			if (str_format(hdr, sizeof hdr, "Received: by %s (relayguard) id %s\r\n",
			               d->c->hostname, queue_msg_id(qm)) != 0)
				panic("deliver_dsn: hdr does not fit");
			if (queue_msg_write(qm, hdr, strlen(hdr)) != 0 ||
			    queue_msg_write(qm, out.data, out.len) != 0) {
				queue_msg_abort(qm);
				qm = NULL;
			}
		}
		if (qm) {
			struct queue_envelope de = {0};
			struct queue_rcpt to = {0};
			if (str_copy(to.addr, sizeof to.addr, e->sender) != 0)
				panic("deliver_dsn: to.addr does not fit");
			de.nrcpt = 1;
			de.rcpt = &to;
			if (str_copy(de.protocol, sizeof de.protocol, "local") != 0)
				panic("deliver_dsn: de.protocol does not fit");
			if (str_copy(de.listener, sizeof de.listener, "dsn") != 0)
				panic("deliver_dsn: de.listener does not fit");
			if (dec == DSNGEN_HOLD) {
				str_copy_trunc(de.hold_reason, sizeof de.hold_reason,
				               "DSN to an unverified sender (no backscatter)");
				d->st.dsn_held++;
			} else {
				d->st.dsn_sent++;
			}
			if (d->m_dsn) {
				const char *v[1] = {dsngen_decision_name(dec)};
				(void)metric_add(d->m_dsn, v, 1);
			}
			m->dsn_pending = true;
			queue_msg_commit(qm, &de, deliver_dsn_committed, m);
			rc = 1;
		} else {
			log_error(
			    "%s: cannot build or queue the DSN to <%s>; the message stays queued",
			    e->id, e->sender);
		}
		buf_free(&orig);
		buf_free(&out);
	}
	free(rr);
	free(status);
	return rc;
}

/* ---- messages ---- */

static void deliver_job_free(struct djob *j)
{
	free(j->idx);
	free(j->rcpt);
	free(j->orcpt);
	free(j->notify);
	free(j);
}

static void deliver_msg_free(struct dmsg *m)
{
	for (size_t i = 0; i < m->njobs; i++)
		deliver_job_free(m->jobs[i]);
	free(m->jobs);
	if (m->prev)
		m->prev->next = m->next;
	else if (m->d->msgs == m)
		m->d->msgs = m->next;
	if (m->next)
		m->next->prev = m->prev;
	queue_envelope_free(&m->env);
	free(m->touched);
	free(m->relay);
	m->d->active--;
	free(m);
}

/* The policy engine hears about every recipient of this attempt. */
static void deliver_policy_event(struct dmsg *m)
{
	struct deliver *d = m->d;
	if (!d->engine)
		return;
	struct pol_event *ev = calloc(1, sizeof *ev);
	if (!ev)
		return;
	pol_event_init(ev, POL_EV_DELIVERY, (int64_t)deliver_now());
	if (str_copy(ev->user, sizeof ev->user, m->env.auth_user) != 0) {
		free(ev);
		return;
	}
	if (str_copy(ev->sender, sizeof ev->sender, m->env.sender) != 0) {
		free(ev);
		return;
	}
	if (m->env.client_ip[0] &&
	    addr_parse(m->env.client_ip, strlen(m->env.client_ip), &ev->ip) == 0)
		ev->has_ip = true;
	for (unsigned i = 0; i < m->env.nrcpt; i++) {
		if (!m->touched[i])
			continue;
		const struct queue_rcpt *r = &m->env.rcpt[i];
		struct smtpc_result sr;
		deliver_reply_of(r, &sr);
		enum pol_delivery res = r->status == QUEUE_RCPT_SENT      ? POL_DLV_OK
		                        : r->status == QUEUE_RCPT_PENDING ? POL_DLV_DEFERRED
		                        : deliver_unknown_user(&sr)       ? POL_DLV_UNKNOWN_USER
		                                                          : POL_DLV_BOUNCED;
		pol_event_add_rcpt(ev, r->addr, res);
	}
	struct pol_verdict v;
	if (pol_engine_evaluate(d->engine, ev, &v) != 0)
		log_error("%s: policy store error on the delivery event", m->env.id);
	else if (v.action != POL_ALLOW) {
		char line[1024];
		pol_verdict_format(&v, (int64_t)deliver_now(), line, sizeof line);
		log_warn("%s: delivery results: %s", m->env.id, line);
	}
	free(ev);
}

/* Saves the envelope: done when every recipient is final, else deferred. */
static void deliver_msg_close(struct dmsg *m, bool dsn_ok)
{
	struct deliver *d = m->d;
	struct queue_envelope *e = &m->env;
	unsigned sent = 0, failed = 0, pending = 0;
	for (unsigned i = 0; i < e->nrcpt; i++) {
		if (e->rcpt[i].status == QUEUE_RCPT_SENT)
			sent++;
		else if (e->rcpt[i].status == QUEUE_RCPT_FAILED)
			failed++;
		else
			pending++;
	}
	struct dlog l;
	dlog_begin(&l, e->id, pending ? "deferred" : "done");
	dlog_addr(&l, "from", e->sender);
	dlog_u64(&l, "size", e->size);
	dlog_u64(&l, "nrcpt", e->nrcpt);
	dlog_u64(&l, "sent", sent);
	dlog_u64(&l, "bounced", failed);
	dlog_u64(&l, "deferred", pending);
	dlog_u64(&l, "attempt", e->attempts + 1);
	if (pending == 0 && dsn_ok) {
		if (queue_entry_done(d->q, e->id) != 0)
			log_error("%s: cannot remove the delivered entry: %s", e->id,
			          queue_error(d->q));
		log_info("%s", l.line);
	} else {
		e->attempts++;
		uint64_t now = deliver_now();
		e->next_attempt_ms = retry_next_ms(&d->retry, e->attempts, now);
		char when[40];
		clock_format_rfc3339((int64_t)e->next_attempt_ms, when, sizeof when);
		dlog_str(&l, "next", when);
		if (queue_entry_put(d->q, e) != 0)
			log_error("%s: cannot save the delivery state: %s", e->id,
			          queue_error(d->q));
		log_info("%s", l.line);
	}
	deliver_msg_free(m);
}

static void deliver_msg_finish(struct dmsg *m)
{
	struct deliver *d = m->d;
	struct queue_envelope *e = &m->env;
	uint64_t now = deliver_now();
	/* Past the lifetime, what is still pending fails now (4.4.7). */
	if (retry_expired(&d->retry, e->arrival_ms, now)) {
		for (unsigned i = 0; i < e->nrcpt; i++) {
			struct queue_rcpt *r = &e->rcpt[i];
			if (r->status != QUEUE_RCPT_PENDING)
				continue;
			char why[QUEUE_REASON_MAX];
			str_format_trunc(why, sizeof why, "4.4.7 delivery time expired; last: %s",
			                 r->last_reply[0] ? r->last_reply : "no attempt");
			str_copy_trunc(r->last_reply, sizeof r->last_reply, why);
			r->status = QUEUE_RCPT_FAILED;
			m->touched[i] = 1;
			d->st.expired++;
			deliver_count(d, "expired");
			struct dlog l;
			dlog_begin(&l, e->id, "rcpt");
			dlog_addr(&l, "rcpt", r->addr);
			dlog_addr(&l, "from", e->sender);
			dlog_str(&l, "user", e->auth_user);
			dlog_str(&l, "client", e->client_ip);
			dlog_str(&l, "relay", "none");
			dlog_str(&l, "tls", "none");
			dlog_u64(&l, "attempt", r->attempts);
			dlog_secs(&l, "delay", now - e->arrival_ms);
			dlog_str(&l, "status", "expired");
			dlog_str(&l, "dsn", "4.4.7");
			dlog_str(&l, "reply", why);
			log_info("%s", l.line);
		}
	}
	deliver_policy_event(m);
	if (deliver_dsn(m) == 1)
		return; /* deliver_dsn_committed closes it */
	deliver_msg_close(m, true);
}

/* ---- destinations and connections ---- */

static void deliver_dest_kick(struct ddest *dd);
static void deliver_conn_free(struct dconn *cn);
static void deliver_bev_read(struct bufferevent *bev, void *arg);
static void deliver_bev_write(struct bufferevent *bev, void *arg);
static void deliver_bev_event(struct bufferevent *bev, short what, void *arg);
static void deliver_conn_connect(struct dconn *cn);

static struct djob *deliver_dest_pop(struct ddest *dd)
{
	struct djob *j = dd->head;
	if (j) {
		dd->head = j->next;
		if (!dd->head)
			dd->tail = NULL;
		j->next = NULL;
		dd->dest->waiting--;
		dd->d->waiting--;
	}
	return j;
}

/* Every job waiting for dd gets r (the destination is unreachable now). */
static void deliver_dest_fail_all(struct ddest *dd, const struct smtpc_result *r)
{
	struct djob *j;
	while ((j = deliver_dest_pop(dd)) != NULL) {
		/* the job list of the message owns j; unlink from the FIFO only */
		deliver_job_done(j, NULL, r, "", "none");
	}
}

static const char *deliver_conn_tls(const struct dconn *cn)
{
	if (!cn->c_init || !cn->c.tls_active || !cn->bev)
		return "none";
	SSL *ssl = bufferevent_openssl_get_ssl(cn->bev);
	return ssl ? SSL_get_version(ssl) : "none";
}

static void deliver_conn_flush(struct dconn *cn)
{
	if (cn->c.out.len && cn->bev) {
		if (bufferevent_write(cn->bev, cn->c.out.data, cn->c.out.len) != 0)
			log_error("delivery: %s: cannot queue output", cn->relay);
		buf_reset(&cn->c.out);
	}
}

/* Sends content while the output is below the high-water mark. */
static void deliver_conn_pump(struct dconn *cn)
{
	if (!cn->job || cn->content_done || cn->c.state != SMTPC_S_DATA)
		return;
	struct evbuffer *out = bufferevent_get_output(cn->bev);
	char tmp[DELIVER_CHUNK];
	while (evbuffer_get_length(out) < DELIVER_HIGH_WATER) {
		ssize_t n = read(cn->content_fd, tmp, sizeof tmp);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_error("%s: reading the content: %s", cn->job->m->env.id,
			          strerror(errno));
			/* cannot finish the data: drop the connection, the message is deferred */
			struct smtpc_result r = {451, "451 4.3.0 local error reading the queue"};
			enum smtpc_event ev = smtpc_abort(&cn->c, r.code, r.text);
			if (ev == SMTPC_EV_DONE) {
				struct djob *j = cn->job;
				cn->job = NULL;
				deliver_job_done(j, &cn->c, NULL, cn->relay, deliver_conn_tls(cn));
			}
			cn->dead = true;
			return;
		}
		if (n == 0) {
			cn->content_done = true;
			close(cn->content_fd);
			cn->content_fd = -1;
			if (smtpc_data_end(&cn->c) != 0)
				cn->dead = true;
			deliver_conn_flush(cn);
			return;
		}
		if (smtpc_data(&cn->c, tmp, (size_t)n) != 0) {
			cn->dead = true;
			return;
		}
		deliver_conn_flush(cn);
	}
}

static void deliver_job_start(struct dconn *cn, struct djob *j)
{
	cn->job = j;
	cn->content_done = false;
	if (smtpc_mail(&cn->c, &j->sm) != 0) {
		/* refused before sending (SIZE, SMTPUTF8): results are set */
		if (cn->c.state == SMTPC_S_READY) {
			cn->job = NULL;
			deliver_job_done(j, &cn->c, NULL, cn->relay, deliver_conn_tls(cn));
			return;
		}
		cn->dead = true;
		return;
	}
	deliver_conn_flush(cn);
}

static void deliver_idle_expired(evutil_socket_t fd, short what, void *arg)
{
	struct dconn *cn = arg;
	struct ddest *dd = cn->dd;
	struct dconn **pp = &dd->idle;
	while (*pp && *pp != cn)
		pp = &(*pp)->next_idle;
	if (*pp)
		*pp = cn->next_idle;
	dd->dest->idle--;
	smtpc_quit(&cn->c);
	deliver_conn_flush(cn);
}

/* READY: the next job for this destination, or wait idle for one. */
static void deliver_conn_next(struct dconn *cn)
{
	struct ddest *dd = cn->dd;
	while (!cn->dead && smtpc_usable(&cn->c)) {
		struct djob *j = deliver_dest_pop(dd);
		if (!j)
			break;
		if (cn->msgs++ > 0)
			cn->d->st.reused++;
		deliver_job_start(cn, j);
		if (cn->job)
			return;
	}
	if (cn->dead || !smtpc_usable(&cn->c))
		return;
	/* idle: wait a little for the next message to the same place */
	if (cn->d->o->idle_timeout_ms == 0) {
		smtpc_quit(&cn->c);
		deliver_conn_flush(cn);
		return;
	}
	cn->next_idle = dd->idle;
	dd->idle = cn;
	dd->dest->idle++;
	struct timeval tv = {(time_t)(cn->d->o->idle_timeout_ms / 1000),
	                     (suseconds_t)(cn->d->o->idle_timeout_ms % 1000 * 1000)};
	evtimer_add(cn->idle_timer, &tv);
}

/* This host did not work out (before any transaction): the next one. */
static void deliver_conn_next_target(struct dconn *cn, const struct smtpc_result *why)
{
	cn->last_err = *why;
	struct dlog l;
	dlog_begin(&l, "-", "host");
	dlog_str(&l, "relay", cn->relay[0] ? cn->relay : cn->dd->name);
	dlog_str(&l, "status", "failed");
	dlog_str(&l, "reply", why->text);
	log_info("%s", l.line);
	if (cn->bev) {
		bufferevent_free(cn->bev);
		cn->bev = NULL;
	}
	if (cn->c_init) {
		smtpc_free(&cn->c);
		cn->c_init = false;
	}
	cn->target++;
	if (cn->target < cn->mx.n) {
		deliver_conn_connect(cn);
		return;
	}
	/* Every host failed: the destination rests, its waiting mail is deferred
	 * (or bounced when the last word was a 5xx). */
	struct ddest *dd = cn->dd;
	if (cn->last_err.code / 100 != 5)
		dest_mark_dead(dd->dest, deliver_now(), cn->d->o->dead_time_ms, cn->last_err.text);
	cn->dead = true;
	deliver_dest_fail_all(dd, &cn->last_err);
}

static void deliver_conn_opening_done(struct dconn *cn)
{
	if (cn->counted_opening) {
		cn->counted_opening = false;
		cn->dd->opening--;
	}
}

/* Runs the SMTP client over what came in. */
static void deliver_conn_input(struct dconn *cn)
{
	struct evbuffer *in = bufferevent_get_input(cn->bev);
	while (!cn->dead && cn->bev) {
		size_t len = evbuffer_get_length(in);
		if (len == 0)
			break;
		size_t look = len < 70000 ? len : 70000;
		const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)look);
		size_t used = 0;
		enum smtpc_event ev;
		int rc = smtpc_input(&cn->c, p, look, &used, &ev);
		if (rc == 0)
			break;
		if (used)
			evbuffer_drain(in, used);
		deliver_conn_flush(cn);
		switch (ev) {
		case SMTPC_EV_TLS: {
			SSL *ssl = SSL_new(cn->d->ssl);
			if (!ssl) {
				cn->dead = true;
				return;
			}
			const char *host = cn->mx.t[cn->target].host;
			bool verify = cn->dd->tls == GW_DTLS_VERIFY || cn->sts_enforce;
			if (tls_client_ssl_setup(ssl, host, verify ? host : NULL) != 0) {
				SSL_free(ssl);
				cn->dead = true;
				return;
			}
			struct bufferevent *tb = bufferevent_openssl_filter_new(
			    cn->d->base, cn->bev, ssl, BUFFEREVENT_SSL_CONNECTING,
			    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
			if (!tb) {
				SSL_free(ssl);
				cn->dead = true;
				return;
			}
			cn->bev = tb;
			bufferevent_setcb(tb, deliver_bev_read, deliver_bev_write,
			                  deliver_bev_event, cn);
			struct timeval tv = {
			    (time_t)(cn->d->o->command_timeout_ms / 1000),
			    (suseconds_t)(cn->d->o->command_timeout_ms % 1000 * 1000)};
			bufferevent_set_timeouts(tb, &tv, &tv);
			bufferevent_enable(tb, EV_READ | EV_WRITE);
			return;
		}
		case SMTPC_EV_READY:
			deliver_conn_opening_done(cn);
			cn->ready_once = true;
			deliver_conn_next(cn);
			break;
		case SMTPC_EV_DATA:
			cn->content_fd = queue_entry_open_content(cn->d->q, cn->job->m->env.id);
			if (cn->content_fd < 0) {
				struct smtpc_result r = {451,
				                         "451 4.3.0 local error opening the queue"};
				enum smtpc_event e2 = smtpc_abort(&cn->c, r.code, r.text);
				if (e2 == SMTPC_EV_DONE) {
					struct djob *j = cn->job;
					cn->job = NULL;
					deliver_job_done(j, &cn->c, NULL, cn->relay,
					                 deliver_conn_tls(cn));
				}
				cn->dead = true;
				return;
			}
			deliver_conn_pump(cn);
			break;
		case SMTPC_EV_DONE: {
			struct djob *j = cn->job;
			cn->job = NULL;
			if (cn->content_fd >= 0) {
				close(cn->content_fd);
				cn->content_fd = -1;
			}
			if (j)
				deliver_job_done(j, &cn->c, NULL, cn->relay, deliver_conn_tls(cn));
			if (smtpc_usable(&cn->c))
				deliver_conn_next(cn);
			else
				cn->dead = true;
			break;
		}
		case SMTPC_EV_CLOSED:
			if (!cn->ready_once && smtpc_error(&cn->c)->code) {
				/* refused greeting, EHLO, TLS or AUTH: the next host */
				struct smtpc_result why = *smtpc_error(&cn->c);
				deliver_conn_next_target(cn, &why);
				return;
			}
			cn->dead = true;
			return;
		case SMTPC_EV_NONE:
			break;
		default:
			panic("deliver: client event %d", (int)ev);
		}
		if (rc < 0)
			cn->dead = true;
	}
}

static void deliver_conn_reap(struct dconn *cn)
{
	if (cn->dead)
		deliver_conn_free(cn);
}

static void deliver_bev_read(struct bufferevent *bev, void *arg)
{
	struct dconn *cn = arg;
	deliver_conn_input(cn);
	deliver_conn_reap(cn);
}

static void deliver_bev_write(struct bufferevent *bev, void *arg)
{
	struct dconn *cn = arg;
	deliver_conn_pump(cn);
	if (cn->c_init && cn->c.state == SMTPC_S_CLOSED && !cn->job)
		cn->dead = true;
	deliver_conn_reap(cn);
}

/* A TLS handshake under an MTA-STS policy failed: the TLS-RPT result. */
static void deliver_sts_tls_failed(struct dconn *cn, struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	char ip[ADDR_STRLEN];
	addr_format(&cn->mx.t[cn->target].addr, ip, sizeof ip);
	tlsrpt_failure(cn->d->tlsrpt, cn->dd->name, &cn->sts_policy,
	               vr == X509_V_ERR_HOSTNAME_MISMATCH  ? "certificate-host-mismatch"
	               : vr == X509_V_ERR_CERT_HAS_EXPIRED ? "certificate-expired"
	               : vr != X509_V_OK                   ? "certificate-not-trusted"
	                                                   : "validation-failure",
	               cn->mx.t[cn->target].host, ip, clock_realtime_ms());
}

static void deliver_bev_event(struct bufferevent *bev, short what, void *arg)
{
	struct dconn *cn = arg;
	if (what & BEV_EVENT_CONNECTED) {
		struct timeval rt = {(time_t)(cn->d->o->command_timeout_ms / 1000),
		                     (suseconds_t)(cn->d->o->command_timeout_ms % 1000 * 1000)};
		bufferevent_set_timeouts(bev, &rt, &rt);
		if (cn->c_init && cn->c.state == SMTPC_S_TLS) {
			if (cn->sts_mode != MTASTS_NONE)
				tlsrpt_success(cn->d->tlsrpt, cn->dd->name, &cn->sts_policy,
				               clock_realtime_ms());
			smtpc_tls_done(&cn->c);
			deliver_conn_flush(cn);
		}
		return;
	}
	char why[200];
	const char *stage = cn->c_init ? smtpc_state_name(cn->c.state) : "connect";
	if (what & BEV_EVENT_TIMEOUT)
		str_format_trunc(why, sizeof why, "timeout in state %s", stage);
	else if (what & BEV_EVENT_EOF)
		str_format_trunc(why, sizeof why, "lost connection in state %s", stage);
	else {
		unsigned long e = bufferevent_get_openssl_error(bev);
		int se = EVUTIL_SOCKET_ERROR();
		if (e) {
			char eb[120];
			ERR_error_string_n(e, eb, sizeof eb);
			str_format_trunc(why, sizeof why, "TLS error in state %s: %s", stage, eb);
		} else {
			str_format_trunc(why, sizeof why, "%s in state %s",
			                 se ? evutil_socket_error_to_string(se) : "error", stage);
		}
	}
	if (cn->c_init && cn->c.state == SMTPC_S_TLS && cn->sts_mode != MTASTS_NONE)
		deliver_sts_tls_failed(cn, bev);
	struct smtpc_result r = {0};
	r.code = 451;
	str_format_trunc(r.text, sizeof r.text, "451 4.4.2 %s: %s", cn->relay, why);
	if (cn->c_init && cn->c.state == SMTPC_S_TLS && cn->dd->tls == GW_DTLS_MAY &&
	    !cn->tls_off) {
		/* opportunistic TLS that fails: the same host in plain text, once */
		cn->tls_off = true;
		cn->target--;
		deliver_conn_next_target(cn, &r);
		deliver_conn_reap(cn);
		return;
	}
	if (!cn->ready_once && !cn->job) {
		deliver_conn_next_target(cn, &r);
		deliver_conn_reap(cn);
		return;
	}
	if (cn->job) {
		enum smtpc_event ev = smtpc_abort(&cn->c, r.code, r.text);
		struct djob *j = cn->job;
		cn->job = NULL;
		if (ev == SMTPC_EV_DONE)
			deliver_job_done(j, &cn->c, NULL, cn->relay, deliver_conn_tls(cn));
		else
			deliver_job_done(j, NULL, &r, cn->relay, deliver_conn_tls(cn));
	} else if (cn->dd->idle) {
		/* an idle connection the server closed: forget it */
		struct dconn **pp = &cn->dd->idle;
		while (*pp && *pp != cn)
			pp = &(*pp)->next_idle;
		if (*pp) {
			*pp = cn->next_idle;
			cn->dd->dest->idle--;
			evtimer_del(cn->idle_timer);
		}
	}
	cn->dead = true;
	deliver_conn_reap(cn);
}

/* Binds (when asked) and connects to the current target. */
static void deliver_conn_connect(struct dconn *cn)
{
	struct deliver *d = cn->d;
	struct ddest *dd = cn->dd;
	const struct mx_target *t = &cn->mx.t[cn->target];
	char ip[ADDR_STRLEN];
	addr_format(&t->addr, ip, sizeof ip);
	str_format_trunc(cn->relay, sizeof cn->relay, "%s[%s]:%u", t->host, ip, dd->port);
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	socklen_t sl;
	if (t->addr.family == 4) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)dd->port);
		memcpy(&s4->sin_addr, t->addr.bytes, 4);
		sl = sizeof *s4;
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)dd->port);
		memcpy(&s6->sin6_addr, t->addr.bytes, 16);
		sl = sizeof *s6;
	}
	struct smtpc_result err = {451, ""};
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		str_format_trunc(err.text, sizeof err.text, "451 4.4.0 socket: %s",
		                 strerror(errno));
		deliver_conn_next_target(cn, &err);
		return;
	}
	/* Replies and pipelined commands are small: never wait for Nagle. */
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (dd->source[0]) {
		struct addr src;
		struct sockaddr_storage bs;
		memset(&bs, 0, sizeof bs);
		socklen_t bl = 0;
		if (addr_parse(dd->source, strlen(dd->source), &src) == 0 &&
		    src.family == t->addr.family) {
			if (src.family == 4) {
				struct sockaddr_in *b4 = (struct sockaddr_in *)&bs;
				b4->sin_family = AF_INET;
				memcpy(&b4->sin_addr, src.bytes, 4);
				bl = sizeof *b4;
			} else {
				struct sockaddr_in6 *b6 = (struct sockaddr_in6 *)&bs;
				b6->sin6_family = AF_INET6;
				memcpy(&b6->sin6_addr, src.bytes, 16);
				bl = sizeof *b6;
			}
			if (bind(fd, (struct sockaddr *)&bs, bl) != 0) {
				str_format_trunc(err.text, sizeof err.text,
				                 "451 4.4.0 bind to %s: %s", dd->source,
				                 strerror(errno));
				close(fd);
				deliver_conn_next_target(cn, &err);
				return;
			}
		}
	}
	cn->bev =
	    bufferevent_socket_new(d->base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!cn->bev) {
		close(fd);
		str_copy_trunc(err.text, sizeof err.text, "451 4.3.0 out of memory");
		deliver_conn_next_target(cn, &err);
		return;
	}
	bool auth = dd->auth && d->auth_user[0];
	struct smtpc_options so = {
	    .helo_name = d->c->hostname,
	    .tls = cn->sts_enforce                          ? SMTPC_TLS_ENCRYPT
	           : cn->tls_off || dd->tls == GW_DTLS_NONE ? SMTPC_TLS_NONE
	           : dd->tls == GW_DTLS_MAY                 ? SMTPC_TLS_MAY
	                                                    : SMTPC_TLS_ENCRYPT,
	    .auth_user = auth ? d->auth_user : NULL,
	    .auth_pass = auth ? d->auth_pass : NULL,
	};
	if (smtpc_init(&cn->c, &so) != 0) {
		str_copy_trunc(err.text, sizeof err.text, "451 4.3.0 out of memory");
		deliver_conn_next_target(cn, &err);
		return;
	}
	cn->c_init = true;
	bufferevent_setcb(cn->bev, deliver_bev_read, deliver_bev_write, deliver_bev_event, cn);
	struct timeval ct = {(time_t)(d->o->connect_timeout_ms / 1000),
	                     (suseconds_t)(d->o->connect_timeout_ms % 1000 * 1000)};
	struct timeval rt = {(time_t)(d->o->command_timeout_ms / 1000),
	                     (suseconds_t)(d->o->command_timeout_ms % 1000 * 1000)};
	bufferevent_set_timeouts(cn->bev, &rt, &ct);
	bufferevent_setwatermark(cn->bev, EV_WRITE, DELIVER_HIGH_WATER / 4, 0);
	bufferevent_enable(cn->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(cn->bev, (struct sockaddr *)&ss, (int)sl) != 0) {
		str_format_trunc(err.text, sizeof err.text, "451 4.4.1 connect to %s: %s",
		                 cn->relay, strerror(errno));
		deliver_conn_next_target(cn, &err);
		return;
	}
	/* after the connect the write timeout is the command timeout */
	d->st.connections++;
}

/* ---- is the next hop this machine? ---- */

struct deliver_self {
	const struct gw_config *c;
	unsigned port;
};

static bool deliver_on_interface(const struct addr *a)
{
	struct ifaddrs *list, *i;
	bool found = false;
	if (getifaddrs(&list) != 0)
		return false;
	for (i = list; i && !found; i = i->ifa_next) {
		struct addr ia;
		if (i->ifa_addr && addr_from_sockaddr(i->ifa_addr, &ia) == 0)
			found = addr_equal(&ia, a);
	}
	freeifaddrs(list);
	return found;
}

/* One of our own listeners at a:port: a listener on that address, or a
 * wildcard one and a is loopback or on one of the host's interfaces. */
static bool deliver_is_self(void *arg, const struct addr *a)
{
	const struct deliver_self *ds = arg;
	static const uint8_t v6_loop[16] = {[15] = 1};
	bool loop = (a->family == 4 && a->bytes[0] == 127) ||
	            (a->family == 6 && memcmp(a->bytes, v6_loop, 16) == 0);
	for (int l = 0; l < ds->c->nlisteners; l++) {
		const struct gw_listener *gl = &ds->c->listeners[l];
		for (int k = 0; k < gl->naddrs; k++) {
			const struct hostport *hp = &gl->addrs[k];
			struct addr la;
			if (hp->ss.ss_family == AF_UNIX ||
			    addr_from_sockaddr((const struct sockaddr *)&hp->ss, &la) != 0)
				continue;
			unsigned port =
			    ntohs(hp->ss.ss_family == AF_INET
			              ? ((const struct sockaddr_in *)&hp->ss)->sin_port
			              : ((const struct sockaddr_in6 *)&hp->ss)->sin6_port);
			if (port != ds->port)
				continue;
			static const uint8_t zero[16];
			bool wild =
			    hp->wildcard || memcmp(la.bytes, zero, la.family == 4 ? 4 : 16) == 0;
			if (wild ? loop || deliver_on_interface(a) : addr_equal(&la, a))
				return true;
		}
	}
	return false;
}

/* Drops the hosts that are this machine (and those after them); 0 when the
 * best one is: the destination is deferred, with a log line saying so. */
static int deliver_conn_cut_self(struct dconn *cn)
{
	struct deliver_self ds = {cn->d->c, cn->dd->port};
	int self_at;
	if (mx_cut_self(&cn->mx, deliver_is_self, &ds, &self_at) > 0)
		return 0;
	char ip[ADDR_STRLEN], relay[DNS_NAME_MAX + ADDR_STRLEN + 16];
	struct smtpc_result r = {451, ""};
	addr_format(&cn->mx.t[0].addr, ip, sizeof ip);
	if (str_format(relay, sizeof relay, "%s[%s]:%u", cn->mx.t[0].host, ip, cn->dd->port) != 0)
		panic("deliver_conn_cut_self: relay does not fit");
	str_format_trunc(r.text, sizeof r.text,
	                 "451 4.4.6 mail for %s loops back to myself (%s is this host)",
	                 cn->dd->name, relay);
	struct dlog l;
	dlog_begin(&l, "-", "loop");
	dlog_str(&l, "domain", cn->dd->name);
	dlog_str(&l, "relay", relay);
	dlog_str(&l, "status", "deferred");
	dlog_str(&l, "reply", r.text + 4);
	log_error("%s", l.line);
	dest_mark_dead(cn->dd->dest, deliver_now(), cn->d->o->dead_time_ms, r.text);
	cn->dead = true;
	deliver_dest_fail_all(cn->dd, &r);
	deliver_conn_free(cn);
	return -1;
}

/* ---- MTA-STS (RFC 8461, gateway/sts.h) ---- */

static void deliver_sts_log(const struct dconn *cn, const char *relay, const char *status,
                            const char *why)
{
	struct dlog l;
	dlog_begin(&l, "-", "mta-sts");
	dlog_str(&l, "domain", cn->dd->name);
	dlog_str(&l, "mode", mtasts_mode_name(cn->sts_mode));
	if (relay)
		dlog_str(&l, "relay", relay);
	dlog_str(&l, "status", status);
	dlog_str(&l, "reply", why);
	log_info("%s", l.line);
}

/* Drops (enforce) or only logs (testing) the MX hosts the policy does not
 * name. 0: go on; -1: nothing is left, the destination's mail is deferred
 * and cn freed. */
static int deliver_sts_filter(struct dconn *cn)
{
	int k = 0;
	for (int i = 0; i < cn->mx.n; i++) {
		const struct mx_target *t = &cn->mx.t[i];
		if (mtasts_mx_match(&cn->sts_policy, t->host)) {
			cn->mx.t[k++] = *t;
			continue;
		}
		deliver_sts_log(cn, t->host, cn->sts_enforce ? "skipped" : "mismatch",
		                "MX host not in the domain's MTA-STS policy");
		char ip[ADDR_STRLEN];
		addr_format(&t->addr, ip, sizeof ip);
		tlsrpt_failure(cn->d->tlsrpt, cn->dd->name, &cn->sts_policy, "validation-failure",
		               t->host, ip, clock_realtime_ms());
		if (!cn->sts_enforce)
			cn->mx.t[k++] = *t;
	}
	cn->mx.n = k;
	if (k > 0)
		return 0;
	struct smtpc_result r = {0};
	r.code = 451;
	str_format_trunc(r.text, sizeof r.text,
	                 "451 4.7.5 no MX host of %s matches its MTA-STS policy (enforce)",
	                 cn->dd->name);
	cn->dead = true;
	deliver_dest_fail_all(cn->dd, &r);
	deliver_conn_free(cn);
	return -1;
}

static void deliver_conn_resolve(struct dconn *cn);

static void deliver_conn_on_sts(void *arg, const struct sts_result *r)
{
	struct dconn *cn = arg;
	cn->stsq = NULL;
	if (r->has_policy && r->policy.mode != MTASTS_NONE) {
		cn->sts_mode = r->policy.mode;
		cn->sts_policy = r->policy;
		cn->sts_enforce = r->policy.mode == MTASTS_ENFORCE;
	} else if (!r->has_policy && r->why[0] && log_get_level() >= LOG_LEVEL_DEBUG) {
		log_debug("mta-sts: %s: no policy: %s", cn->dd->name, r->why);
	}
	deliver_conn_resolve(cn);
}

static void deliver_conn_on_mx(void *arg, const struct mx_result *res)
{
	struct dconn *cn = arg;
	cn->mxq = NULL;
	cn->mx = *res;
	if (res->status != MX_OK) {
		struct smtpc_result r = {0};
		r.code = res->status == MX_TEMP ? 451 : 550;
		str_format_trunc(r.text, sizeof r.text, "%d %s", r.code, res->error);
		struct dlog l;
		dlog_begin(&l, "-", "dns");
		dlog_str(&l, "domain", cn->dd->name);
		dlog_str(&l, "status", mx_status_name(res->status));
		dlog_str(&l, "reply", res->error);
		log_info("%s", l.line);
		if (res->status == MX_TEMP)
			dest_mark_dead(cn->dd->dest, deliver_now(), cn->d->o->dead_time_ms, r.text);
		cn->dead = true;
		deliver_dest_fail_all(cn->dd, &r);
		deliver_conn_free(cn);
		return;
	}
	if (cn->sts_mode != MTASTS_NONE && deliver_sts_filter(cn) != 0)
		return;
	cn->target = 0;
	if (deliver_conn_cut_self(cn) != 0)
		return;
	deliver_conn_connect(cn);
	deliver_conn_reap(cn);
}

static void deliver_conn_open(struct ddest *dd)
{
	struct deliver *d = dd->d;
	struct dconn *cn = calloc(1, sizeof *cn);
	if (!cn)
		return;
	cn->d = d;
	cn->dd = dd;
	cn->content_fd = -1;
	cn->next = d->conns;
	if (d->conns)
		d->conns->prev = cn;
	d->conns = cn;
	cn->idle_timer = evtimer_new(d->base, deliver_idle_expired, cn);
	if (!cn->idle_timer) {
		d->conns = cn->next;
		if (d->conns)
			d->conns->prev = NULL;
		free(cn);
		return;
	}
	dest_opened(&d->dests, dd->dest);
	dd->opening++;
	cn->counted_opening = true;
	if (dd->literal) {
		cn->mx.status = MX_OK;
		cn->mx.n = 1;
		if (str_copy(cn->mx.t[0].host, sizeof cn->mx.t[0].host, dd->name) != 0)
			panic("deliver_conn_open: cn->mx.t[0].host does not fit");
		cn->mx.t[0].addr = dd->lit;
		if (deliver_conn_cut_self(cn) != 0)
			return;
		deliver_conn_connect(cn);
		deliver_conn_reap(cn);
		return;
	}
	if (d->sts && dd->mx_domain) {
		cn->stsq = sts_lookup(d->sts, dd->name, deliver_conn_on_sts, cn);
		if (cn->stsq)
			return;
	}
	deliver_conn_resolve(cn);
}

/* The MX lookup of cn's destination. */
static void deliver_conn_resolve(struct dconn *cn)
{
	struct deliver *d = cn->d;
	struct ddest *dd = cn->dd;
	enum mx_family fam = strcmp(d->o->address_family, "ipv6-first") == 0
	                         ? MX_FAMILY_ANY_V6_FIRST
	                     : strcmp(d->o->address_family, "ipv4") == 0 ? MX_FAMILY_V4
	                     : strcmp(d->o->address_family, "ipv6") == 0 ? MX_FAMILY_V6
	                                                                 : MX_FAMILY_ANY_V4_FIRST;
	struct mx_options mo = {.family = fam};
	cn->mxq = mx_resolve(d->dns, dd->name, dd->no_mx, &mo, deliver_conn_on_mx, cn);
	if (!cn->mxq) {
		struct smtpc_result r = {451, "451 4.3.0 cannot start the DNS lookup"};
		cn->dead = true;
		deliver_dest_fail_all(dd, &r);
		deliver_conn_free(cn);
	}
}

static void deliver_conn_free(struct dconn *cn)
{
	struct ddest *dd = cn->dd;
	struct deliver *d = cn->d;
	if (cn->mxq)
		mx_cancel(cn->mxq);
	sts_cancel(cn->stsq);
	if (cn->job) {
		struct smtpc_result r = {451, "451 4.3.0 connection closed"};
		struct djob *j = cn->job;
		cn->job = NULL;
		enum smtpc_event ev =
		    cn->c_init ? smtpc_abort(&cn->c, r.code, r.text) : SMTPC_EV_CLOSED;
		if (ev == SMTPC_EV_DONE)
			deliver_job_done(j, &cn->c, NULL, cn->relay, "none");
		else
			deliver_job_done(j, NULL, &r, cn->relay, "none");
	}
	if (cn->content_fd >= 0)
		close(cn->content_fd);
	if (cn->bev)
		bufferevent_free(cn->bev);
	if (cn->c_init)
		smtpc_free(&cn->c);
	/* still in the idle list? */
	struct dconn **pp = &dd->idle;
	while (*pp && *pp != cn)
		pp = &(*pp)->next_idle;
	if (*pp) {
		*pp = cn->next_idle;
		dd->dest->idle--;
	}
	event_free(cn->idle_timer);
	deliver_conn_opening_done(cn);
	dest_closed(&d->dests, dd->dest);
	if (cn->prev)
		cn->prev->next = cn->next;
	else
		d->conns = cn->next;
	if (cn->next)
		cn->next->prev = cn->prev;
	free(cn);
	/* a slot is free: someone may be waiting */
	if (!d->stopping)
		deliver_dest_kick(dd);
}

/* Starts connections for what waits at dd, within the limits. */
static void deliver_dest_kick(struct ddest *dd)
{
	struct deliver *d = dd->d;
	if (dd->head && dest_is_dead(dd->dest, deliver_now())) {
		struct smtpc_result r = {451, ""};
		str_copy_trunc(r.text, sizeof r.text, dd->dest->dead_reason);
		if (r.text[0] == '5')
			r.code = 550;
		deliver_dest_fail_all(dd, &r);
		return;
	}
	while (dd->head && dd->idle) {
		struct dconn *cn = dd->idle;
		dd->idle = cn->next_idle;
		dd->dest->idle--;
		evtimer_del(cn->idle_timer);
		deliver_conn_next(cn);
		if (cn->dead) {
			deliver_conn_free(cn);
			return;
		}
	}
	while (dd->head && dd->dest->waiting > dd->opening && dest_may_open(&d->dests, dd->dest))
		deliver_conn_open(dd);
}

/* ---- routing ---- */

/* Where recipient rcpt of env goes: fills dd's identity and the key. */
/* -1: the domain is too long to be one (or to key a destination by). */
static int deliver_route(struct deliver *d, const struct queue_envelope *env, const char *rcpt,
                         struct ddest *dd, char *key, size_t ksize)
{
	const struct gw_delivery *o = d->o;
	const char *dom = mailaddr_domain(rcpt);
	memset(dd, 0, sizeof *dd);
	const struct gw_nexthop *hop = NULL;
	if (o->local.set && relay_domains_contains(&d->local, dom, strlen(dom)))
		hop = &o->local;
	else if (o->relay.set) {
		hop = &o->relay;
		dd->auth = true;
	}
	if (hop) {
		if (str_copy(dd->name, sizeof dd->name, hop->host) != 0)
			panic("deliver_route: dd->name does not fit");
		dd->no_mx = hop->no_mx;
		dd->literal = hop->literal;
		dd->lit = hop->addr;
		dd->port = hop->port;
		dd->tls = hop == &o->relay ? o->relayhost_tls_level : gw_delivery_tls(o, hop->host);
	} else {
		if (str_copy(dd->name, sizeof dd->name, dom) != 0)
			return -1;
		str_lower(dd->name);
		dd->mx_domain = true;
		dd->port = (unsigned)o->smtp_port;
		dd->tls = gw_delivery_tls(o, dd->name);
		size_t l = strlen(dom);
		if (l > 2 && dom[0] == '[' && dom[l - 1] == ']') {
			const char *in = dom + 1;
			size_t il = l - 2;
			if (il > 5 && strncasecmp(in, "IPv6:", 5) == 0) {
				in += 5;
				il -= 5;
			}
			if (addr_parse(in, il, &dd->lit) == 0) {
				dd->literal = dd->no_mx = true;
				dd->mx_domain = false;
				if (str_copy_n(dd->name, sizeof dd->name, in, il) != 0)
					panic("deliver_route: dd->name does not fit");
			}
		}
	}
	/* the source address: per sender domain, per listener, the default */
	const char *sdom = mailaddr_domain(env->sender);
	const char *src = o->source_address;
	for (int i = 0; i < d->c->nlisteners; i++)
		if (strcmp(d->c->listeners[i].name, env->listener) == 0 &&
		    d->c->listeners[i].source_address[0])
			src = d->c->listeners[i].source_address;
	for (int i = 0; i < o->nsource; i++)
		if (str_ieq(o->source_map[i].domain, sdom))
			src = o->source_map[i].addr;
	if (str_copy(dd->source, sizeof dd->source, src) != 0)
		panic("deliver_route: dd->source does not fit");
	return str_format(key, ksize, "%s%s%s|%u|%s|%d", dd->no_mx ? "[" : "", dd->name,
	                  dd->no_mx ? "]" : "", dd->port, dd->source, dd->auth);
}

/* The worker's state for a destination, created on first use. */
static struct ddest *deliver_ddest(struct deliver *d, const struct ddest *proto, const char *key)
{
	struct dest *de = dest_get(&d->dests, key);
	if (!de)
		return NULL;
	if (!de->user) {
		struct ddest *dd = malloc(sizeof *dd);
		if (!dd)
			return NULL;
		*dd = *proto;
		dd->d = d;
		dd->dest = de;
		de->user = dd;
	}
	return de->user;
}

static int deliver_job_add(struct djob *j, struct dmsg *m, size_t i)
{
	const struct queue_rcpt *r = &m->env.rcpt[i];
	j->idx[j->n] = i;
	j->rcpt[j->n] = r->addr;
	j->orcpt[j->n] = r->orcpt;
	j->notify[j->n] = r->notify;
	j->n++;
	return 0;
}

static struct djob *deliver_job_new(struct dmsg *m, struct ddest *dd)
{
	size_t cap = m->env.nrcpt;
	struct djob *j = calloc(1, sizeof *j);
	if (!j)
		return NULL;
	j->idx = calloc(cap, sizeof *j->idx);
	j->rcpt = calloc(cap, sizeof *j->rcpt);
	j->orcpt = calloc(cap, sizeof *j->orcpt);
	j->notify = calloc(cap, sizeof *j->notify);
	if (!j->idx || !j->rcpt || !j->orcpt || !j->notify) {
		free(j->idx);
		free(j->rcpt);
		free(j->orcpt);
		free(j->notify);
		free(j);
		return NULL;
	}
	j->m = m;
	j->dd = dd;
	return j;
}

/* One due entry: load, split by destination, queue the jobs. */
static void deliver_msg_start(struct deliver *d, const char *id)
{
	struct dmsg *m = calloc(1, sizeof *m);
	if (!m)
		return;
	m->d = d;
	d->active++;
	m->next = d->msgs;
	if (d->msgs)
		d->msgs->prev = m;
	d->msgs = m;
	if (queue_entry_load(d->q, id, &m->env) != 0) {
		log_error("%s: cannot load the envelope: %s", id, queue_error(d->q));
		deliver_msg_free(m);
		return;
	}
	m->start_ms = deliver_now();
	m->touched = calloc(m->env.nrcpt ? m->env.nrcpt : 1, 1);
	m->relay = calloc(m->env.nrcpt ? m->env.nrcpt : 1, sizeof *m->relay);
	if (!m->touched || !m->relay) {
		queue_entry_put(d->q, &m->env);
		deliver_msg_free(m);
		return;
	}
	m->jobs = calloc(m->env.nrcpt ? m->env.nrcpt : 1, sizeof *m->jobs);
	if (!m->jobs) {
		queue_entry_put(d->q, &m->env);
		deliver_msg_free(m);
		return;
	}
	for (unsigned i = 0; i < m->env.nrcpt; i++) {
		if (m->env.rcpt[i].status != QUEUE_RCPT_PENDING)
			continue;
		struct ddest proto;
		char key[DEST_KEY_MAX];
		if (deliver_route(d, &m->env, m->env.rcpt[i].addr, &proto, key, sizeof key) != 0) {
			struct smtpc_result r = {554,
			                         "554 5.1.2 the recipient's domain is too long"};
			deliver_rcpt_result(m, i, &r, "", "");
			continue;
		}
		struct ddest *dd = deliver_ddest(d, &proto, key);
		struct djob *j = NULL;
		for (size_t k = 0; k < m->njobs && !j; k++)
			if (m->jobs[k]->dd == dd)
				j = m->jobs[k];
		if (!j && dd && (j = deliver_job_new(m, dd)) != NULL)
			m->jobs[m->njobs++] = j;
		if (!j) {
			log_error("%s: out of memory routing <%s>", m->env.id, m->env.rcpt[i].addr);
			continue;
		}
		deliver_job_add(j, m, i);
	}
	m->jobs_left = (unsigned)m->njobs;
	if (m->njobs == 0) {
		/* nothing pending (or nothing routable): close it as it is */
		deliver_msg_finish(m);
		return;
	}
	for (size_t x = 0; x < m->njobs; x++) {
		struct djob *j = m->jobs[x];
		j->sm = (struct smtpc_msg){.sender = m->env.sender,
		                           .nrcpt = j->n,
		                           .rcpt = j->rcpt,
		                           .orcpt = j->orcpt,
		                           .notify = j->notify,
		                           .size = m->env.size,
		                           .body = m->env.body,
		                           .smtputf8 = m->env.smtputf8,
		                           .envid = m->env.envid,
		                           .ret = m->env.ret};
		struct ddest *dd = j->dd;
		if (dd->tail)
			dd->tail->next = j;
		else
			dd->head = j;
		dd->tail = j;
		dd->dest->waiting++;
		d->waiting++;
	}
	/* Kick after queueing all, from a copy: a kick may finish and free the
	 * message (a dead destination fails its jobs at once). */
	size_t nd = m->njobs;
	struct ddest **dds = malloc(nd * sizeof *dds);
	if (!dds)
		return; /* the tick kicks them */
	for (size_t x = 0; x < nd; x++)
		dds[x] = m->jobs[x]->dd;
	for (size_t x = 0; x < nd; x++)
		deliver_dest_kick(dds[x]);
	free(dds);
}

/* Jobs wait for a slot another destination holds (max_connections): when
 * every slot is taken, idle connections give theirs up; then every waiting
 * destination that may open one does. */
static void deliver_kick_waiting(struct deliver *d)
{
	if (d->dests.active >= d->dests.max_connections) {
		size_t pos = 0;
		for (struct dest *de; (de = dest_next(&d->dests, &pos));) {
			struct ddest *dd = de->user;
			while (dd && !de->waiting && dd->idle) {
				struct dconn *cn = dd->idle;
				evtimer_del(cn->idle_timer);
				deliver_idle_expired(-1, 0, cn);
			}
		}
	}
	size_t pos = 0;
	for (struct dest *de; d->waiting > 0 && (de = dest_next(&d->dests, &pos));)
		if (de->waiting && de->user && dest_may_open(&d->dests, de))
			deliver_dest_kick(de->user);
}

static void deliver_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct deliver *d = arg;
	clock_update();
	uint64_t now = deliver_now();
	char id[QUEUE_ID_MAX];
	while (d->active < (unsigned)d->o->max_active && queue_next_due(d->q, now, id) == 1)
		deliver_msg_start(d, id);
	/* Jobs may wait for a slot another destination freed (max_connections),
	 * or for a destination to come back from the dead: look at them. */
	if (d->waiting > 0)
		deliver_kick_waiting(d);
	if (d->m_conn)
		(void)metric_set(d->m_conn, NULL, d->dests.active);
	if (d->tlsrpt) {
		int64_t wall = clock_realtime_ms();
		/* the day's last counts reach the file, then due reports are sent */
		(void)tlsrpt_flush(d->tlsrpt, wall, false);
		tlsrptsend_tick(d->tlsrpt_send, wall);
	}
}

void deliver_wake(struct deliver *d)
{
	if (d && d->tick)
		event_active(d->tick, EV_TIMEOUT, 0);
}

static void deliver_ddest_free(void *p)
{
	free(p);
}

struct deliver *deliver_new(struct event_base *base, struct queue *q, struct dns *dns,
                            struct pol_engine *engine, struct metrics *metrics,
                            const struct gw_config *c, char *err, size_t errlen)
{
	struct deliver *d = calloc(1, sizeof *d);
	if (!d) {
		str_format_trunc(err, errlen, "out of memory");
		return NULL;
	}
	d->base = base;
	d->q = q;
	d->dns = dns;
	d->engine = engine;
	d->c = c;
	d->o = &c->delivery;
	d->retry =
	    (struct retry_policy){d->o->min_backoff_ms, d->o->max_backoff_ms, d->o->lifetime_ms};
	relay_domains_init(&d->local);
	char tmp[sizeof c->local_domains];
	char *f[RELAY_DOMAINS_MAX];
	if (str_copy(tmp, sizeof tmp, c->local_domains) != 0)
		panic("deliver_new: tmp does not fit");
	int n = str_split(tmp, " ,\t", f, RELAY_DOMAINS_MAX);
	for (int i = 0; i < n; i++)
		if (relay_domains_add(&d->local, f[i], strlen(f[i])) != 0)
			log_warn("delivery: local domain '%s' ignored", f[i]);
	if (d->o->relayhost_auth[0]) {
		const char *colon = strchr(d->o->relayhost_auth, ':');
		if (str_copy_n(d->auth_user, sizeof d->auth_user, d->o->relayhost_auth,
		               (size_t)(colon - d->o->relayhost_auth)) != 0) {
			str_copy_trunc(err, errlen,
			               "[delivery] relayhost_auth: user name too long");
			goto fail;
		}
		if (str_copy(d->auth_pass, sizeof d->auth_pass, colon + 1) != 0) {
			str_copy_trunc(err, errlen, "[delivery] relayhost_auth: password too long");
			goto fail;
		}
	}
	if (dest_table_init(&d->dests, (unsigned)d->o->concurrency,
	                    (unsigned)d->o->max_connections) != 0) {
		str_format_trunc(err, errlen, "out of memory");
		free(d);
		return NULL;
	}
	/* opportunistic by default; verification is chosen per connection */
	const struct tls_client_opts to = {
	    .verify = false, .ca_file = d->o->tls_ca_file, .partial_wildcards = true};
	char terr[400];
	d->ssl = tls_client_ctx_new(&to, terr, sizeof terr);
	if (!d->ssl) {
		str_format_trunc(err, errlen, "[delivery] tls_ca_file: %s", terr);
		goto fail;
	}
	if (metrics) {
		d->m_rcpt = metrics_register(
		    metrics, METRIC_COUNTER, "relayguard_delivery_recipients_total",
		    "Recipient delivery attempts, by result.", "status", NULL, 0);
		d->m_dsn = metrics_register(metrics, METRIC_COUNTER, "relayguard_dsn_total",
		                            "Delivery status notifications: send (to a verified "
		                            "sender) or hold (backscatter prevented).",
		                            "decision", NULL, 0);
		d->m_conn =
		    metrics_register(metrics, METRIC_GAUGE, "relayguard_delivery_connections",
		                     "Outgoing SMTP connections open.", NULL, NULL, 0);
	}
	if (d->o->mta_sts && !d->o->relay.set) {
		d->sts =
		    sts_new(base, dns, c->state_dir, d->o->mta_sts_ca_file,
		            (unsigned)d->o->mta_sts_port, d->o->mta_sts_timeout_ms, err, errlen);
		if (!d->sts)
			goto fail;
		char contact[320];
		if (str_format(contact, sizeof contact, "postmaster@%s", c->hostname) != 0)
			panic("deliver_new: contact does not fit");
		d->tlsrpt = tlsrpt_new(c->state_dir, c->hostname, contact);
		if (!d->tlsrpt) {
			str_format_trunc(err, errlen, "out of memory");
			goto fail;
		}
		if (d->o->tlsrpt_send &&
		    !(d->tlsrpt_send = tlsrptsend_new(dns, d->q, c->state_dir, c->hostname,
		                                      d->o->tlsrpt_from))) {
			str_format_trunc(err, errlen, "out of memory");
			goto fail;
		}
	}
	d->tick = event_new(base, -1, EV_PERSIST, deliver_on_tick, d);
	struct timeval tv = {(time_t)(d->o->poll_ms / 1000),
	                     (suseconds_t)(d->o->poll_ms % 1000 * 1000)};
	if (!d->tick || event_add(d->tick, &tv) != 0) {
		str_format_trunc(err, errlen, "cannot start the delivery timer");
		goto fail;
	}
	log_info("delivery: started (%s%s, tls %s, concurrency %lld per destination, %lld in all)",
	         d->o->relay.set ? "relayhost " : "MX lookups",
	         d->o->relay.set ? d->o->relay.text : "", gw_dtls_name(d->o->tls_level),
	         d->o->concurrency, d->o->max_connections);
	return d;
fail:
	deliver_free(d);
	return NULL;
}

void deliver_free(struct deliver *d)
{
	if (!d)
		return;
	if (d->tick)
		event_free(d->tick);
	d->stopping = true;
	while (d->conns)
		deliver_conn_free(d->conns);
	/* messages still waiting for a connection; one whose DSN commit is on
	 * its way is left to that callback */
	struct dmsg *m = d->msgs;
	while (m) {
		struct dmsg *n = m->next;
		if (!m->dsn_pending)
			deliver_msg_free(m);
		m = n;
	}
	dest_table_free(&d->dests, deliver_ddest_free);
	if (d->ssl)
		SSL_CTX_free(d->ssl);
	sts_free(d->sts);
	tlsrptsend_free(d->tlsrpt_send);
	tlsrpt_free(d->tlsrpt);
	free(d);
}

void deliver_stats(const struct deliver *d, struct deliver_stats *out)
{
	*out = d->st;
	out->active_messages = d->active;
	out->open_connections = d->dests.active;
}
