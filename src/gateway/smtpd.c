/*
 * smtpd - the SMTP listeners on libevent; see smtpd.h.
 *
 * One struct smtpd_conn per client: a bufferevent (socket, or OpenSSL over
 * it after STARTTLS, or OpenSSL from the start on an implicit-TLS port), the
 * session machine, one timer for every deliberate wait (AUTH failure delay,
 * tarpit, the policy's delay_ms), and the envelope being built for the
 * queue. smtpd_conn_run() is the only place that feeds input to the session
 * and writes its replies out.
 */
#include "gateway/smtpd.h"

#include "admin/metrics.h"
#include "auth/authbe.h"
#include "auth/userdb.h"
#include "core/clock.h"
#include "core/grow.h"
#include "core/log.h"
#include "core/mailaddr.h"
#include "core/str.h"
#include "dnsbl/verdict.h"
#include "forensics/msg.h"
#include "gateway/authpool.h"
#include "gateway/relayid.h"
#include "gateway/scan.h"
#include "gateway/screen.h"
#include "net/acceptpause.h"
#include "net/dns.h"
#include "net/tls.h"
#include "policy/engine.h"
#include "policy/msgclass.h"
#include "queue/queue.h"
#include "smtp/dkim.h"
#include "smtp/hdrstrip.h"
#include "smtp/relay.h"
#include "smtp/session.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SMTPD_INPUT_HIGHWATER (256 * 1024) /* stop reading the socket above this */
#define SMTPD_OUTPUT_MAX (256 * 1024)      /* stop answering a client that does not read */
#define SMTPD_AUTH_FAIL_DELAY_MS 2000      /* without a policy engine */
#define SMTPD_TLS_HANDSHAKE_S 30
#define SMTPD_AUTH_QUEUE_MAX 1024 /* password checks waiting at once; then 454 */
#define SMTPD_ACCEPT_PAUSE_MS 100 /* listeners off after accept ran out of descriptors */

struct smtpd_listener {
	struct smtpd *d;
	const struct gw_listener *conf;
	struct evconnlistener *lev[GW_ADDRS_MAX];
	struct smtp_session_config scfg;
};

struct smtpd {
	struct event_base *base;
	const struct gw_config *c;
	struct smtpd_deps deps;
	struct smtp_session_ops ops; /* data_end NULL without a queue: 451 */
	SSL_CTX *tls;
	struct relay_policy relay;
	int nlisteners;
	struct smtpd_listener listeners[GW_LISTENERS_MAX];
	struct screen *screen;          /* inbound checks; NULL when [screen] asks for none */
	struct screen *screens_retired; /* replaced by a reload, kept while sessions use them */
	struct smtpd_conn *conns;
	unsigned nconns;
	uint64_t next_sid;
	struct userdb users;
	struct timespec users_mtime;
	bool users_loaded;
	struct authpool *auth;     /* the password checks, off the loop */
	struct dkim_keyring dkim;  /* [dkim]: signing keys by From domain */
	struct acceptpause *pause; /* accept out of descriptors: every listener pauses */
	struct metric *m_sessions, *m_connections, *m_rejects, *m_messages, *m_auth, *m_held;
	struct scan *scan; /* [scan] rspamd; NULL: off */
	struct metric *m_scan;
};

enum smtpd_wait {
	SMTPD_WAIT_NONE,
	SMTPD_WAIT_AUTH,   /* deliver auth_result when the timer fires */
	SMTPD_WAIT_TARPIT, /* the soft error limit was passed */
	SMTPD_WAIT_DATA,   /* the policy's delay_ms before the message is committed */
	SMTPD_WAIT_FLUSH,  /* closing: the TLS layer still has bytes for the socket */
};

struct smtpd_conn {
	struct smtpd_conn *next, *prev;
	struct smtpd *d;
	struct smtpd_listener *l;
	struct bufferevent *bev;
	struct smtp_session *s;
	struct event *timer;
	enum smtpd_wait wait;
	/* AUTH while its password is checked on a worker (the session allows
	 * one AUTH at a time: it reads nothing more until it is answered) */
	struct authpool_job *auth_job; /* cancelled when the connection goes */
	bool auth_checked;             /* the check ended during a wait: auth_verdict */
	enum userdb_verdict auth_verdict;
	char auth_mech[8];
	char auth_name[USERDB_NAME_MAX + 1]; /* sanitised, for the log and the policy */
	/* what the backends said (auth/authbe.h): the account's name on success
	 * (the identity from then on), which backend, and why not */
	char auth_canon[USERDB_NAME_MAX + 1];
	const char *auth_backend;
	char auth_why[256];
	enum smtp_session_auth_result auth_result;
	bool closing;       /* flushing the last replies, then free */
	bool tls_start;     /* start TLS once the 220 is flushed */
	bool tls_handshake; /* TLS handshake running */
	bool has_ip;
	struct addr ip;
	char ip_text[ADDR_STRLEN];
	char sid[24];
	char qid[QUEUE_ID_MAX];
	int64_t start_ms;
	int64_t close_deadline_ms; /* give up flushing the last replies */
	unsigned messages, rejects;
	size_t tls_discarded;
	/* the envelope of the current transaction */
	char sender[QUEUE_ADDR_MAX];
	struct queue_rcpt *rcpt;
	unsigned nrcpt;
	size_t rcpt_cap;
	uint64_t size;
	struct queue_msg *qm;
	struct dkim_signer *dkim; /* outbound listeners with [dkim] keys: hashing as it streams */
	bool commit_pending;      /* the queue has the message; its callback owes us */
	bool dead;                /* the client left while commit_pending */
	struct pol_verdict verdict;
	/* the message's header section, for the policy's header classes */
	char *hdr;
	size_t hdr_len;
	bool hdr_done;
	struct msgclass mc;
	unsigned received;       /* Received fields in the header section: the hop count */
	struct smtpd_rdns *rdns; /* the client's name, being looked up */
	struct screen_conn *sc;  /* inbound listeners: DNSBL score, SPF, recipients */
	bool screen_sync;        /* inside a screen call: its callback must not run the loop */
	/* the content scan at end of data (smtpd_scan_*) */
	struct scan_req *scan_req; /* running */
	bool scan_done;            /* scan holds this message's result, or why there is none */
	struct scan_result scan;
	/* [listener] identify_header: the internal server's field with the
	 * authenticated user, read for the policy and removed from the spool */
	bool stripping;
	struct hdrstrip strip;
};

#define SMTPD_HDR_MAX 65536 /* header bytes kept for classification */
/* RFC 5321 6.3: a message with this many Received fields is in a loop
 * (Postfix's hopcount_limit, 50): refused with 554 5.4.6. */
#define SMTPD_HOP_MAX 50

static void smtpd_conn_run(struct smtpd_conn *c);
static void smtpd_commit(struct smtpd_conn *c);
static void smtpd_auth_finish(struct smtpd_conn *c, enum userdb_verdict uv, bool unchecked);

static const char *smtpd_qid(const struct smtpd_conn *c)
{
	return c->qid[0] ? c->qid : "NOQUEUE";
}

#define smtpd_log(level, c, fmt, ...)                                                              \
	log_msg(level, "smtpd queue_id=%s sid=%s client=%s " fmt, smtpd_qid(c), (c)->sid,          \
	        (c)->has_ip ? (c)->ip_text : "-", __VA_ARGS__)

/* A value from the client (SASL name, address) as the log writes it: quoted
 * when it has a space, '"' or '=', escaped bytes (docs/delivery.md "Log lines"). */
struct smtpd_q {
	char v[STR_LOG_VALUE_MAX];
};
static const char *smtpd_q(struct smtpd_q *q, const char *v)
{
	return str_log_value(q->v, sizeof q->v, v);
}

/* An address in angle brackets, quoted as a whole when it must be. */
static const char *smtpd_qaddr(struct smtpd_q *q, const char *addr)
{
	char tmp[STR_LOG_VALUE_IN];
	str_format_trunc(tmp, sizeof tmp, "<%s>", addr ? addr : "");
	return str_log_value(q->v, sizeof q->v, tmp);
}

static void smtpd_count(struct metric *m, const char *label)
{
	if (m)
		metric_add(m, label ? (const char *[]){label} : NULL, 1);
}

/* ---- envelope ---- */

static void smtpd_envelope_reset(struct smtpd_conn *c)
{
	c->sender[0] = '\0';
	c->nrcpt = 0;
	c->size = 0;
	c->hdr_len = 0;
	c->hdr_done = false;
	msgclass_init(&c->mc);
	memset(&c->verdict, 0, sizeof c->verdict);
	c->scan_done = false;
}

static void smtpd_msg_abort(struct smtpd_conn *c)
{
	dkim_signer_free(c->dkim);
	c->dkim = NULL;
	if (c->qm) {
		queue_msg_abort(c->qm);
		c->qm = NULL;
	}
	c->qid[0] = '\0';
}

/* ---- the client's name ---- */

/*
 * Reverse DNS in the background: the PTR name of the client's IP, kept when
 * one of that name's A (or AAAA) records is the IP again (a "verified" name,
 * as Postfix has it; anyone can put any name in their PTR). Nothing waits
 * for it: the Received header written at the end of DATA names the client
 * when the answers came by then, else says "unknown".
 */
struct smtpd_rdns {
	struct smtpd_conn *c; /* NULL once the connection is gone: answers are dropped */
	struct dns *dns;
	struct addr ip;
	char name[DNS_NAME_MAX];
};

static void smtpd_rdns_done(struct smtpd_rdns *lk)
{
	if (lk->c)
		lk->c->rdns = NULL;
	free(lk);
}

/* A host name worth asking for: letters, digits, '-', '_' and dots. */
static bool smtpd_rdns_name_ok(const char *n)
{
	size_t len = strlen(n);
	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = n[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
			return false;
	}
	return true;
}

static void smtpd_rdns_on_addr(void *arg, const struct dns_result *res)
{
	struct smtpd_rdns *lk = arg;
	if (lk->c && lk->c->s) {
		bool ok = false;
		for (int i = 0; res->status == DNS_OK && i < res->naddrs && !ok; i++)
			ok = addr_equal(&res->addrs[i], &lk->ip);
		if (ok)
			smtp_session_set_rdns(lk->c->s, lk->name);
		smtpd_log(LOG_LEVEL_DEBUG, lk->c, "rdns=%s%s", lk->name,
		          ok ? "" : " (not confirmed by its address records)");
	}
	smtpd_rdns_done(lk);
}

static void smtpd_rdns_on_ptr(void *arg, const struct dns_result *res)
{
	struct smtpd_rdns *lk = arg;
	if (lk->c && res->status == DNS_OK) {
		if (str_copy(lk->name, sizeof lk->name, res->ptr) != 0)
			panic("smtpd_rdns_on_ptr: lk->name does not fit");
		size_t n = strlen(lk->name);
		if (n > 1 && lk->name[n - 1] == '.')
			lk->name[n - 1] = '\0';
		if (smtpd_rdns_name_ok(lk->name) &&
		    dns_query(lk->dns, lk->name, lk->ip.family == 6 ? DNS_T_AAAA : DNS_T_A,
		              smtpd_rdns_on_addr, lk) == 0)
			return; /* lk goes on to the address query */
	}
	smtpd_rdns_done(lk);
}

static void smtpd_rdns_start(struct smtpd_conn *c)
{
	char q[DNS_NAME_MAX];
	struct smtpd_rdns *lk = calloc(1, sizeof *lk);
	if (!lk)
		return;
	lk->c = c;
	lk->dns = c->d->deps.dns;
	lk->ip = c->ip;
	if (bl_qname_ip(&c->ip, c->ip.family == 6 ? "ip6.arpa" : "in-addr.arpa", q, sizeof q) !=
	        0 ||
	    dns_query(lk->dns, q, DNS_T_PTR, smtpd_rdns_on_ptr, lk) != 0) {
		free(lk);
		return;
	}
	c->rdns = lk;
}

/* ---- connection lifetime ---- */

static void smtpd_conn_free(struct smtpd_conn *c)
{
	struct smtpd *d = c->d;
	if (c->auth_job) {
		authpool_cancel(d->auth, c->auth_job); /* its callback will not run */
		c->auth_job = NULL;
	}
	screen_conn_free(c->sc); /* its callbacks stop here */
	c->sc = NULL;
	scan_cancel(c->scan_req); /* likewise */
	c->scan_req = NULL;
	if (c->rdns) {
		c->rdns->c = NULL; /* its query answers into nothing, then frees it */
		c->rdns = NULL;
	}
	if (c->prev)
		c->prev->next = c->next;
	else if (d->conns == c)
		d->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
	d->nconns--;
	if (d->m_sessions)
		metric_set(d->m_sessions, NULL, d->nconns);
	smtpd_log(LOG_LEVEL_INFO, c, "disconnect messages=%u rejects=%u errors=%u seconds=%.1f%s",
	          c->messages, c->rejects, c->s ? smtp_session_error_count(c->s) : 0,
	          (double)(clock_monotonic_ms() - c->start_ms) / 1000.0,
	          c->commit_pending ? " (commit still running)" : "");
	if (c->s) {
		smtp_session_free(c->s); /* aborts an open message through data_abort */
		c->s = NULL;
	}
	if (c->bev) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	if (c->timer) {
		event_free(c->timer);
		c->timer = NULL;
	}
	smtpd_msg_abort(c);
	if (c->commit_pending) {
		/* The queue calls back later: keep the struct until then. */
		c->dead = true;
		return;
	}
	free(c->rcpt);
	free(c->hdr);
	free(c);
}

static void smtpd_conn_wait(struct smtpd_conn *c, enum smtpd_wait w, uint64_t ms)
{
	c->wait = w;
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(c->timer, &tv);
}

static void smtpd_conn_on_timer(evutil_socket_t fd, short what, void *arg);
static void smtpd_conn_on_read(struct bufferevent *bev, void *arg);
static void smtpd_conn_on_write(struct bufferevent *bev, void *arg);
static void smtpd_conn_on_event(struct bufferevent *bev, short what, void *arg);

static void smtpd_conn_setup_bev(struct smtpd_conn *c)
{
	struct timeval idle = {(time_t)(c->d->c->smtp_timeout_ms / 1000),
	                       (suseconds_t)(c->d->c->smtp_timeout_ms % 1000) * 1000};
	bufferevent_set_timeouts(c->bev, &idle, &idle);
	bufferevent_setwatermark(c->bev, EV_READ, 0, SMTPD_INPUT_HIGHWATER);
	bufferevent_setcb(c->bev, smtpd_conn_on_read, smtpd_conn_on_write, smtpd_conn_on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void smtpd_conn_start_tls(struct smtpd_conn *c)
{
	c->tls_start = false;
	SSL *ssl = SSL_new(c->d->tls);
	struct bufferevent *f =
	    ssl ? bufferevent_openssl_filter_new(c->d->base, c->bev, ssl, BUFFEREVENT_SSL_ACCEPTING,
	                                         BEV_OPT_CLOSE_ON_FREE)
	        : NULL;
	if (!f) {
		if (ssl)
			SSL_free(ssl);
		smtpd_log(LOG_LEVEL_ERROR, c, "starttls=failed reason=%s", "cannot set up TLS");
		smtpd_conn_free(c);
		return;
	}
	c->bev = f;
	c->tls_handshake = true;
	bufferevent_openssl_set_allow_dirty_shutdown(f, 1);
	smtpd_conn_setup_bev(c);
	struct timeval hs = {SMTPD_TLS_HANDSHAKE_S, 0};
	bufferevent_set_timeouts(c->bev, &hs, &hs);
}

/* Frees the connection once the last reply is on the wire: with STARTTLS
 * the bytes go through the filter into the socket's own bufferevent. */
static void smtpd_conn_close(struct smtpd_conn *c)
{
	struct bufferevent *under = bufferevent_get_underlying(c->bev);
	int64_t now = clock_monotonic_ms();
	if (!c->close_deadline_ms)
		c->close_deadline_ms = now + (int64_t)c->d->c->smtp_timeout_ms;
	if (under && evbuffer_get_length(bufferevent_get_output(under)) > 0 &&
	    c->wait == SMTPD_WAIT_NONE && now < c->close_deadline_ms) {
		smtpd_conn_wait(c, SMTPD_WAIT_FLUSH, 10);
		return;
	}
	if (c->wait == SMTPD_WAIT_NONE)
		smtpd_conn_free(c);
}

/* Feeds the input to the session and writes its replies; the one loop. */
static void smtpd_conn_run(struct smtpd_conn *c)
{
	struct smtp_session *s = c->s;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	bool blocked = c->wait != SMTPD_WAIT_NONE || c->closing || c->tls_start ||
	               c->tls_handshake || c->commit_pending ||
	               evbuffer_get_length(out) > SMTPD_OUTPUT_MAX;
	while (!blocked) {
		size_t avail = evbuffer_get_length(in);
		size_t took = 0;
		if (avail > 0) {
			struct evbuffer_iovec v;
			if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
				break;
			took = smtp_session_feed(s, v.iov_base, v.iov_len);
			evbuffer_drain(in, took);
		} else {
			smtp_session_feed(s, NULL, 0);
		}
		if (smtp_session_should_close(s) || c->wait != SMTPD_WAIT_NONE ||
		    c->commit_pending || smtp_session_pending(s) != SMTP_SESSION_PENDING_NONE)
			break;
		if (smtp_session_tarpit(s) && smtp_session_output(s)->len > 0)
			break;
		if (took == 0)
			break;
	}
	if (smtp_session_pending(s) == SMTP_SESSION_PENDING_TLS && !c->tls_start &&
	    !c->tls_handshake) {
		/* Plaintext pipelined after STARTTLS is dropped, never executed. */
		c->tls_discarded = smtp_session_tls_discarded(s) + evbuffer_get_length(in);
		evbuffer_drain(in, evbuffer_get_length(in));
		c->tls_start = true;
	}
	struct buf *o = smtp_session_output(s);
	if (o->len > 0) {
		if (bufferevent_write(c->bev, o->data, o->len) != 0) {
			smtpd_conn_free(c);
			return;
		}
		buf_reset(o);
		if (!c->closing && c->wait == SMTPD_WAIT_NONE && smtp_session_tarpit(s) &&
		    !smtp_session_should_close(s) && c->d->c->error_sleep_ms > 0)
			smtpd_conn_wait(c, SMTPD_WAIT_TARPIT, c->d->c->error_sleep_ms);
	}
	if (smtp_session_should_close(s) && !c->closing) {
		c->closing = true;
		bufferevent_disable(c->bev, EV_READ);
	}
	if ((c->closing || c->tls_start) && evbuffer_get_length(out) == 0) {
		if (c->tls_start)
			smtpd_conn_start_tls(c);
		else
			smtpd_conn_close(c);
	}
}

static void smtpd_conn_on_read(struct bufferevent *bev, void *arg)
{
	smtpd_conn_run(arg);
}

static void smtpd_conn_on_write(struct bufferevent *bev, void *arg)
{
	struct smtpd_conn *c = arg;
	if (c->closing) {
		smtpd_conn_close(c);
		return;
	}
	if (c->tls_start) {
		smtpd_conn_start_tls(c);
		return;
	}
	smtpd_conn_run(c);
}

static void smtpd_conn_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct smtpd_conn *c = arg;
	if (what & BEV_EVENT_CONNECTED) {
		if (c->tls_handshake) {
			c->tls_handshake = false;
			SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
			smtpd_log(LOG_LEVEL_INFO, c,
			          "starttls=ok version=%s cipher=%s discarded=%zu",
			          ssl ? SSL_get_version(ssl) : "?",
			          ssl ? SSL_get_cipher_name(ssl) : "?", c->tls_discarded);
			smtpd_conn_setup_bev(c);
			smtp_session_tls_started(c->s);
			smtpd_conn_run(c);
		}
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (c->closing || c->tls_handshake) {
			smtpd_log(LOG_LEVEL_INFO, c, "timeout=%s",
			          c->tls_handshake ? "tls_handshake" : "write");
			smtpd_conn_free(c);
			return;
		}
		smtpd_log(LOG_LEVEL_INFO, c, "timeout=idle state=%s",
		          smtp_session_state_name(smtp_session_state(c->s)));
		char r[300];
		str_format_trunc(r, sizeof r, "421 4.4.2 %s Error: timeout exceeded\r\n",
		                 c->d->c->hostname);
		c->closing = true;
		bufferevent_disable(c->bev, EV_READ);
		if (bufferevent_write(c->bev, r, strlen(r)) != 0)
			smtpd_conn_free(c);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		unsigned long e = bufferevent_get_openssl_error(c->bev);
		if (c->tls_handshake || e) {
			char es[200] = "";
			if (e)
				ERR_error_string_n(e, es, sizeof es);
			smtpd_log(LOG_LEVEL_INFO, c, "tls=failed reason=\"%s\"",
			          es[0] ? es : "handshake failed");
		}
	}
	smtpd_conn_free(c);
}

static void smtpd_conn_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd_conn *c = arg;
	enum smtpd_wait w = c->wait;
	c->wait = SMTPD_WAIT_NONE;
	clock_update();
	switch (w) {
	case SMTPD_WAIT_FLUSH:
		smtpd_conn_close(c);
		return;
	case SMTPD_WAIT_AUTH:
		smtp_session_reply_auth(c->s, c->auth_result);
		break;
	case SMTPD_WAIT_DATA:
		smtpd_commit(c);
		break;
	case SMTPD_WAIT_TARPIT:
		if (c->auth_checked) {
			c->auth_checked = false;
			smtpd_auth_finish(c, c->auth_verdict, false);
		}
		break;
	default: /* only smtpd_conn_wait() arms the timer, never with NONE */
		panic("smtpd: timer without a wait (%d)", (int)w);
	}
	smtpd_conn_run(c);
}

/* ---- AUTH ---- */

/* Makes the unknown-user dummy hash for the cost of the accounts loaded: at
 * start-up here, while serving on a worker (a check of nobody), so that the
 * loop never hashes and the first unknown user costs what a known one does. */
static int smtpd_users_prepare(struct smtpd *d)
{
	if (!d->auth)
		return userdb_prepare(&d->users);
	struct authbe_request *req = calloc(1, sizeof *req);
	if (!req || userdb_lookup(&d->users, NULL, &req->cr) != 0) {
		free(req);
		return -1;
	}
	int rc = 0;
	if (!passwd_dummy_ready(&req->cr.dummy_cost)) {
		/* a check of nobody against the users file only */
		if (str_copy(req->conf.backends, sizeof req->conf.backends, "file") != 0)
			panic("smtpd_users_prepare: req->conf.backends does not fit");
		req->conf.order[0] = AUTHBE_FILE;
		req->conf.n = 1;
		rc = authpool_submit(d->auth, req, NULL, NULL) ? 0 : -1;
	}
	free(req);
	return rc;
}

static void smtpd_users_refresh(struct smtpd *d)
{
	struct stat st;
	bool exists = stat(d->c->users_file, &st) == 0;
	struct timespec mt = exists ? st.st_mtim : (struct timespec){0, 0};
	if (d->users_loaded && mt.tv_sec == d->users_mtime.tv_sec &&
	    mt.tv_nsec == d->users_mtime.tv_nsec)
		return;
	char err[512];
	if (userdb_load(&d->users, err, sizeof err) != 0) {
		log_error("smtpd: users file: %s (keeping the accounts loaded before)", err);
		return;
	}
	if (smtpd_users_prepare(d) != 0)
		log_warn("smtpd: cannot prepare the unknown-user check");
	d->users_mtime = mt;
	d->users_loaded = true;
	log_info("smtpd: %zu accounts loaded from %s", d->users.count, d->c->users_file);
}

int smtpd_users_reload(struct smtpd *d, char *err, size_t errlen)
{
	if (userdb_load(&d->users, err, errlen) != 0)
		return -1; /* userdb_load keeps nothing half-read: the old accounts stay */
	if (smtpd_users_prepare(d) != 0)
		log_warn("smtpd: cannot prepare the unknown-user check");
	struct stat st;
	d->users_mtime = stat(d->c->users_file, &st) == 0 ? st.st_mtim : (struct timespec){0, 0};
	d->users_loaded = true;
	log_info("smtpd: %zu accounts reloaded from %s", d->users.count, d->c->users_file);
	return 0;
}

/* A session identified by sender (relayid.h): no AUTH, a trusted client, and
 * its listener says identify = sender or the client is in [gateway]
 * identify_sender. */
static bool smtpd_by_sender(const struct smtpd_conn *c)
{
	return c->has_ip && !smtp_session_auth_user(c->s) &&
	       relayid_by_sender(c->d->c, &c->ip, c->l->conf->identify == GW_IDENTIFY_SENDER);
}

static void smtpd_policy_event(const struct smtpd_conn *c, enum pol_event_type t, const char *user,
                               struct pol_event *ev)
{
	pol_event_init(ev, t, clock_realtime_ms());
	if (str_copy(ev->user, sizeof ev->user, user ? user : "") != 0)
		panic("smtpd_policy_event: user names here are at most STR_USER_MAX");
	ev->has_ip = c->has_ip;
	ev->ip = c->ip;
	/* c->sender is formatted from the parsed path (QUEUE_ADDR_MAX): one longer
	 * than the event keeps is no address (RFC 5321: 254 at most), not a cut one */
	if (str_copy(ev->sender, sizeof ev->sender, c->sender) != 0)
		ev->sender[0] = '\0';
	if ((t == POL_EV_MAIL || t == POL_EV_RCPT_REJECT) && !ev->user[0] && smtpd_by_sender(c))
		relayid_event(c->d->deps.engine, &c->d->relay.domains, c->sender, false, ev);
}

/* Evaluates (count) or checks blocks only; returns the verdict's action. */
static enum pol_action smtpd_policy(struct smtpd_conn *c, struct pol_event *ev, bool count,
                                    struct pol_verdict *v)
{
	memset(v, 0, sizeof *v);
	struct pol_engine *e = c->d->deps.engine;
	if (!e)
		return POL_ALLOW;
	int rc = count ? pol_engine_evaluate(e, ev, v) : pol_engine_check_blocks(e, ev, v);
	if (rc != 0)
		smtpd_log(LOG_LEVEL_ERROR, c, "policy=store_error event=%s (%s)",
		          pol_event_type_name(ev->type),
		          ev->type == POL_EV_AUTH_OK || ev->type == POL_EV_AUTH_FAIL
		              ? "refused: AUTH fails closed"
		              : "allowed");
	if (v->block_created && c->d->deps.on_block)
		c->d->deps.on_block(c->d->deps.on_block_ctx, v, c->has_ip ? c->ip_text : "");
	if (v->action != POL_ALLOW) {
		struct smtpd_q qi, qr;
		smtpd_log(LOG_LEVEL_INFO, c, "policy=%s event=%s rule=%s identity=%s reason=%s",
		          pol_action_name(v->action), pol_event_type_name(ev->type), v->rule,
		          smtpd_q(&qi, v->identity),
		          smtpd_q(&qr, v->n_reasons ? v->reasons[0] : ""));
	}
	return v->action;
}

/* The AUTH once its password was checked (verdict uv): the policy event, the
 * delay, the reply. unchecked: the client's IP is blocked and the password
 * was not checked (uv is then USERDB_BAD); the engine answers block whatever
 * it was, so the reply is the 535 a checked one would get. */
static void smtpd_auth_finish(struct smtpd_conn *c, enum userdb_verdict uv, bool unchecked)
{
	struct smtpd *d = c->d;
	enum smtp_session_auth_result r = uv == USERDB_OK ? SMTP_SESSION_AUTH_OK
	                                  : uv == USERDB_ERROR || uv == USERDB_UNAVAILABLE
	                                      ? SMTP_SESSION_AUTH_TEMP
	                                      : SMTP_SESSION_AUTH_FAIL;
	/* After success the identity is the backend's name for the account. */
	const char *name =
	    r == SMTP_SESSION_AUTH_OK && c->auth_canon[0] ? c->auth_canon : c->auth_name;
	struct pol_event ev;
	struct pol_verdict v;
	smtpd_policy_event(c, r == SMTP_SESSION_AUTH_OK ? POL_EV_AUTH_OK : POL_EV_AUTH_FAIL, name,
	                   &ev);
	enum pol_action a = POL_ALLOW;
	if (uv == USERDB_UNAVAILABLE)
		memset(&v, 0, sizeof v); /* no answer is no failed login: nothing counted */
	else
		a = smtpd_policy(c, &ev, true, &v);
	if (strcmp(v.rule, "store_error") == 0 && r != SMTP_SESSION_AUTH_TEMP) {
		/* No counting means no delay, no lockout, no block: fail closed. */
		smtpd_log(LOG_LEVEL_ERROR, c, "auth=refused why=\"%s\"",
		          "the state store cannot count logins (full or failing): AUTH fails "
		          "closed with 454");
		r = SMTP_SESSION_AUTH_TEMP;
	}
	if (r == SMTP_SESSION_AUTH_OK && a == POL_DEFER)
		r = SMTP_SESSION_AUTH_TEMP;
	else if (r == SMTP_SESSION_AUTH_OK && a == POL_BLOCK)
		r = SMTP_SESSION_AUTH_FAIL;
	/* The engine's [auth] delay: doubled per recent failure of the IP. */
	uint64_t delay = v.delay_ms;
	if (r == SMTP_SESSION_AUTH_FAIL && !d->deps.engine)
		delay = SMTPD_AUTH_FAIL_DELAY_MS;
	/* why= as it always was; what the backend said after it, quoted */
	struct smtpd_q qn, qi, qw;
	smtpd_log(LOG_LEVEL_INFO, c, "auth=%s mech=%s user=%s delay_ms=%llu%s%s%s%s%s%s%s%s",
	          r == SMTP_SESSION_AUTH_OK     ? "ok"
	          : r == SMTP_SESSION_AUTH_TEMP ? "tempfail"
	                                        : "failed",
	          c->auth_mech, smtpd_q(&qn, c->auth_name), (unsigned long long)delay,
	          uv != USERDB_OK ? " why=" : "",
	          unchecked         ? "not checked (client blocked)"
	          : uv != USERDB_OK ? userdb_verdict_name(uv)
	                            : "",
	          c->auth_backend ? " backend=" : "", c->auth_backend ? c->auth_backend : "",
	          r == SMTP_SESSION_AUTH_OK ? " identity=" : "",
	          r == SMTP_SESSION_AUTH_OK ? smtpd_q(&qi, name) : "",
	          c->auth_why[0] && uv != USERDB_OK ? " detail=" : "",
	          c->auth_why[0] && uv != USERDB_OK ? smtpd_q(&qw, c->auth_why) : "");
	smtpd_count(d->m_auth, r == SMTP_SESSION_AUTH_OK ? "ok" : "failed");
	if (r == SMTP_SESSION_AUTH_OK)
		(void)smtp_session_auth_rename(c->s, name);
	if (delay == 0) {
		smtp_session_reply_auth(c->s, r);
		return;
	}
	c->auth_result = r;
	smtpd_conn_wait(c, SMTPD_WAIT_AUTH, delay);
}

/* A worker checked the password (on the loop; c still has the AUTH pending). */
static void smtpd_on_auth_checked(void *arg, const struct authbe_result *res)
{
	struct smtpd_conn *c = arg;
	enum userdb_verdict uv = res->verdict;
	c->auth_job = NULL;
	c->auth_backend = authbe_kind_name(res->backend);
	if (str_copy(c->auth_canon, sizeof c->auth_canon, res->name) != 0)
		panic("smtpd_on_auth_checked: c->auth_canon does not fit");
	str_sanitize(c->auth_why, sizeof c->auth_why, res->why, strlen(res->why));
	clock_update();
	if (c->closing) {
		/* timed out meanwhile: the 421 was the last word */
		struct smtpd_q qn;
		smtpd_log(LOG_LEVEL_INFO, c, "auth=abandoned mech=%s user=%s why=%s", c->auth_mech,
		          smtpd_q(&qn, c->auth_name), "closing");
		return;
	}
	if (c->wait != SMTPD_WAIT_NONE) {
		/* the tarpit's wait: the timer goes on from here */
		c->auth_checked = true;
		c->auth_verdict = uv;
		return;
	}
	smtpd_auth_finish(c, uv, false);
	smtpd_conn_run(c);
}

/* true when the engine's answer to this AUTH is a block whatever the
 * password. pol_auth looks for blocks on the IP, its range and the sender's
 * domain (not on the user: a blocked account may still log in, MAIL refuses
 * it) before it counts anything; pol_engine_check_blocks on the same event
 * without the user looks for exactly those. */
static bool smtpd_auth_blocked(struct smtpd_conn *c)
{
	struct pol_engine *e = c->d->deps.engine;
	if (!e)
		return false;
	struct pol_event ev;
	struct pol_verdict v;
	smtpd_policy_event(c, POL_EV_AUTH_FAIL, NULL, &ev);
	return pol_engine_check_blocks(e, &ev, &v) == 0 && v.action == POL_BLOCK;
}

static void smtpd_on_auth(void *arg, struct smtp_session *s, const char *mech, const char *authzid,
                          const char *user, const char *pw)
{
	struct smtpd_conn *c = arg;
	struct smtpd *d = c->d;
	smtpd_users_refresh(d);
	if (str_copy(c->auth_mech, sizeof c->auth_mech, mech) != 0)
		panic("smtpd_on_auth: c->auth_mech does not fit");
	str_sanitize(c->auth_name, sizeof c->auth_name, user, strlen(user));
	c->auth_canon[0] = c->auth_why[0] = '\0';
	c->auth_backend = NULL;
	if (authzid[0] && !str_ieq(authzid, user)) {
		smtpd_auth_finish(c, USERDB_BAD, false); /* no proxy authorization */
		return;
	}
	size_t pwlen = strlen(pw);
	if (smtpd_auth_blocked(c)) {
		/* The block fails it whatever the password: spare the backends' work. */
		smtpd_auth_finish(c, USERDB_BAD, true);
		return;
	}
	/* The store is read here, on the loop; the worker gets copies (of the
	 * backends' options too: a reload meanwhile changes nothing for it). */
	struct authbe_request *req = calloc(1, sizeof *req);
	if (!req || userdb_lookup(&d->users, user, &req->cr) != 0 || pwlen > sizeof req->pw ||
	    (authbe_uses(&d->c->auth, AUTHBE_FILE) && !userdb_cred_usable(&req->cr, pwlen)) ||
	    str_copy(req->user, sizeof req->user, user) != 0) {
		/* the check would refuse it at once, without hashing */
		if (req)
			passwd_wipe(req, sizeof *req);
		free(req);
		smtpd_auth_finish(c, USERDB_ERROR, false);
		return;
	}
	req->conf = d->c->auth;
	const struct userdb_entry *e = req->cr.known ? userdb_find(&d->users, user) : NULL;
	if (str_copy(req->file_name, sizeof req->file_name, e ? e->name : "") != 0)
		panic("smtpd_on_auth: req->file_name does not fit");
	memcpy(req->pw, pw, pwlen);
	req->pwlen = pwlen;
	if (str_copy(req->rip, sizeof req->rip, c->has_ip ? c->ip_text : "") != 0)
		panic("smtpd_on_auth: req->rip does not fit");
	c->auth_job = authpool_submit(d->auth, req, smtpd_on_auth_checked, c);
	passwd_wipe(req, sizeof *req);
	free(req);
	if (!c->auth_job) {
		smtpd_log(LOG_LEVEL_WARN, c,
		          "auth=tempfail mech=%s user=%s delay_ms=0 why=busy (%u checks waiting)",
		          c->auth_mech, c->auth_name, authpool_pending(d->auth));
		smtpd_count(d->m_auth, "failed");
		smtp_session_reply_auth(s, SMTP_SESSION_AUTH_TEMP);
	}
	/* else smtpd_on_auth_checked() goes on; the session reads nothing meanwhile */
}

/* ---- MAIL, RCPT ---- */

/* The inbound screen's answer to MAIL: the DNSBL reject naming the list, or go on. */
static void smtpd_on_screen_mail(void *arg, const char *reply)
{
	struct smtpd_conn *c = arg;
	if (reply) {
		c->rejects++;
		smtpd_count(c->d->m_rejects, "dnsbl");
		smtpd_log(LOG_LEVEL_INFO, c, "reject=dnsbl reply=\"%s\"", reply);
	}
	smtp_session_reply_policy(c->s, reply);
	if (!c->screen_sync)
		smtpd_conn_run(c);
}

static void smtpd_on_mail(void *arg, struct smtp_session *s, const struct smtp_address *from)
{
	struct smtpd_conn *c = arg;
	smtpd_envelope_reset(c);
	if (smtp_address_format(from, c->sender, sizeof c->sender) != 0) {
		smtp_session_reply_policy(s, "553 5.1.7 Error: sender address too long");
		return;
	}
	struct pol_event ev;
	struct pol_verdict v;
	smtpd_policy_event(c, POL_EV_MAIL, smtp_session_auth_user(s), &ev);
	if (!c->sender[0])
		ev.flags |= POL_F_NULL_SENDER;
	/* From a trusted relay identified by sender a block holds the message
	 * (at the end of data) rather than refusing it: a 5xx would have the
	 * internal server bounce it, and a person resumes it with the block. */
	if (smtpd_policy(c, &ev, false, &v) == POL_BLOCK && !(ev.flags & POL_F_RELAYED)) {
		char r[SMTP_SESSION_REPLY_MAX];
		str_format_trunc(r, sizeof r, "554 5.7.1 relayguard: %s blocked (%s)", v.identity,
		                 v.n_reasons ? v.reasons[0] : v.rule);
		smtp_session_reply_policy(s, r);
		return;
	}
	if (c->sc) {
		c->screen_sync = true;
		screen_conn_mail(c->sc, c->sender, smtp_session_helo(s), smtpd_on_screen_mail, c);
		c->screen_sync = false;
		return;
	}
	smtp_session_reply_policy(s, NULL);
}

/* The inbound screen's answer to RCPT (c->rcpt[c->nrcpt]): accept, 550 5.1.1
 * for an unknown user, 451 when the internal server could not say. */
static void smtpd_on_screen_rcpt(void *arg, const char *reply)
{
	struct smtpd_conn *c = arg;
	const char *addr = c->rcpt[c->nrcpt].addr;
	struct smtpd_q qa;
	if (!reply) {
		c->nrcpt++;
	} else if (reply[0] == '5') {
		c->rejects++;
		smtpd_count(c->d->m_rejects, "unknown_user");
		smtpd_log(LOG_LEVEL_INFO, c, "reject=unknown_user rcpt=%s", smtpd_qaddr(&qa, addr));
	} else {
		smtpd_count(c->d->m_rejects, "unverified_user");
		smtpd_log(LOG_LEVEL_INFO, c, "reject=unverified_user rcpt=%s",
		          smtpd_qaddr(&qa, addr));
	}
	smtp_session_reply_policy(c->s, reply);
	if (!c->screen_sync)
		smtpd_conn_run(c);
}

static void smtpd_on_rcpt(void *arg, struct smtp_session *s, const struct smtp_address *rcpt,
                          const struct relay_decision *dec)
{
	struct smtpd_conn *c = arg;
	if (grow_array(&c->rcpt, &c->rcpt_cap, c->nrcpt + 1, sizeof *c->rcpt) != 0) {
		smtp_session_reply_policy(s, "452 4.3.1 Error: insufficient system resources");
		return;
	}
	struct queue_rcpt *r = &c->rcpt[c->nrcpt];
	memset(r, 0, sizeof *r);
	if (smtp_address_format(rcpt, r->addr, sizeof r->addr) != 0) {
		smtp_session_reply_policy(s, "553 5.1.3 Error: recipient address too long");
		return;
	}
	const struct smtp_address_param *orcpt = smtp_address_param_get(rcpt, "ORCPT");
	if (orcpt && str_copy(r->orcpt, sizeof r->orcpt, orcpt->value) != 0) {
		smtp_session_reply_policy(s, "501 5.5.4 Error: ORCPT too long");
		return;
	}
	r->notify = rcpt->notify; /* SMTP_ADDRESS_NOTIFY_* has the QUEUE_NOTIFY_* values */
	r->status = QUEUE_RCPT_PENDING;
	if (c->sc) {
		c->screen_sync = true;
		screen_conn_rcpt(c->sc, r->addr, smtpd_on_screen_rcpt, c);
		c->screen_sync = false;
		return;
	}
	c->nrcpt++;
	smtp_session_reply_policy(s, NULL);
}

static bool smtpd_is_relay_reason(const char *why)
{
	for (int r = RELAY_REASON_DENIED; r <= RELAY_REASON_NUMERIC_DOMAIN; r++)
		if (strcmp(why, relay_reason_name((enum relay_reason)r)) == 0)
			return true;
	return false;
}

static void smtpd_on_reject(void *arg, struct smtp_session *s, const char *why, const char *reply)
{
	struct smtpd_conn *c = arg;
	c->rejects++;
	smtpd_count(c->d->m_rejects, why);
	smtpd_log(LOG_LEVEL_INFO, c, "reject=%s state=%s reply=\"%s\"", why,
	          smtp_session_state_name(smtp_session_state(s)), reply);
	if (smtpd_is_relay_reason(why)) {
		struct pol_event ev;
		struct pol_verdict v;
		smtpd_policy_event(c, POL_EV_RCPT_REJECT, smtp_session_auth_user(s), &ev);
		ev.rcpt_count = 1;
		smtpd_policy(c, &ev, true, &v);
	}
}

/* ---- the message ---- */

static int smtpd_on_data_start(void *arg, struct smtp_session *s)
{
	struct smtpd_conn *c = arg;
	struct queue *q = c->d->deps.queue;
	c->size = 0;
	c->scan_done = false; /* also after a refused DATA without RSET */
	if (!q)
		return 0; /* data_end is NULL: the session answers 451 */
	c->qm = queue_msg_new(q);
	if (!c->qm)
		return -1;
	if (str_copy(c->qid, sizeof c->qid, queue_msg_id(c->qm)) != 0)
		panic("smtpd_on_data_start: c->qid does not fit");
	if (c->d->dkim.n && c->l->conf->role != GW_ROLE_INBOUND)
		c->dkim = dkim_signer_new(); /* NULL (no memory): the message goes unsigned */
	c->stripping = c->l->conf->identify_header[0] && smtpd_by_sender(c) &&
	               hdrstrip_init(&c->strip, c->l->conf->identify_header) == 0;
	char date[64];
	(void)clock_format_rfc5322(clock_realtime_ms(), true, date, sizeof date); /* fits */
	struct buf h;
	buf_init(&h, 4096);
	int rc = smtp_session_received(s, c->qid, date, &h);
	if (rc == 0)
		rc = queue_msg_write(c->qm, h.data, h.len);
	if (rc == 0 && c->dkim)
		(void)dkim_signer_update(c->dkim, h.data, h.len); /* a Received header fits */
	buf_free(&h);
	if (rc != 0) {
		smtpd_log(LOG_LEVEL_ERROR, c, "queue=%s", "write_failed");
		smtpd_msg_abort(c);
		return -1;
	}
	return 0;
}

/* Keeps the header section (up to SMTPD_HDR_MAX) as the body streams by. */
static void smtpd_hdr_add(struct smtpd_conn *c, const char *p, size_t n)
{
	if (c->hdr_done)
		return;
	if (!c->hdr && !(c->hdr = malloc(SMTPD_HDR_MAX))) {
		c->hdr_done = true;
		return;
	}
	size_t take = n < SMTPD_HDR_MAX - c->hdr_len ? n : SMTPD_HDR_MAX - c->hdr_len;
	size_t from = c->hdr_len > 3 ? c->hdr_len - 3 : 0;
	memcpy(c->hdr + c->hdr_len, p, take);
	c->hdr_len += take;
	for (size_t i = from; i + 1 < c->hdr_len; i++)
		if (c->hdr[i] == '\n' &&
		    (c->hdr[i + 1] == '\n' ||
		     (c->hdr[i + 1] == '\r' && i + 2 < c->hdr_len && c->hdr[i + 2] == '\n'))) {
			c->hdr_len = i + 1;
			c->hdr_done = true;
			return;
		}
	if (c->hdr_len == SMTPD_HDR_MAX)
		c->hdr_done = true;
}

/* The header classes (auto-reply, notice, list, spam; Message-ID, From). */
static void smtpd_classify(struct smtpd_conn *c)
{
	struct msg_reader r;
	struct msg_field f;
	msgclass_init(&c->mc);
	c->received = 0;
	if (!c->hdr)
		return;
	msg_reader_init(&r, c->hdr, c->hdr_len);
	while (msg_next(&r, &f) == 1) {
		msgclass_field(&c->mc, f.name, f.name_len, f.value, f.value_len);
		if (f.name_len == 8 && strncasecmp(f.name, "Received", 8) == 0)
			c->received++;
	}
}

/* Message bytes to the spool (and the DKIM signer, which signs what is spooled). */
static int smtpd_spool_write(void *arg, const char *p, size_t n)
{
	struct smtpd_conn *c = arg;
	if (c->qm && queue_msg_write(c->qm, p, n) != 0) {
		smtpd_log(LOG_LEVEL_ERROR, c, "queue=%s", "write_failed");
		return -1;
	}
	if (c->dkim && dkim_signer_update(c->dkim, p, n) != 0) {
		smtpd_log(LOG_LEVEL_WARN, c, "dkim=unsigned why=\"header section over %d bytes\"",
		          DKIM_HEADER_MAX);
		dkim_signer_free(c->dkim);
		c->dkim = NULL;
	}
	return 0;
}

static int smtpd_on_data_chunk(void *arg, struct smtp_session *s, const char *p, size_t n)
{
	struct smtpd_conn *c = arg;
	c->size += n;
	smtpd_hdr_add(c, p, n);
	if (c->stripping)
		return hdrstrip_feed(&c->strip, p, n, smtpd_spool_write, c);
	return smtpd_spool_write(c, p, n);
}

static void smtpd_on_data_abort(void *arg, struct smtp_session *s, const char *why)
{
	struct smtpd_conn *c = arg;
	if (c->qm)
		smtpd_log(LOG_LEVEL_INFO, c, "message=dropped why=%s", why);
	smtpd_msg_abort(c);
}

static void smtpd_on_committed(void *arg, int status, const char *id)
{
	struct smtpd_conn *c = arg;
	c->commit_pending = false;
	if (c->dead) {
		log_info("smtpd queue_id=%s sid=%s: %s after the client left", id ? id : "NOQUEUE",
		         c->sid, status == 0 ? "queued" : "not queued");
		free(c->rcpt);
		free(c->hdr);
		free(c);
		return;
	}
	struct smtpd *d = c->d;
	const char *user = smtp_session_auth_user(c->s);
	if (status == 0 && c->l->conf->role == GW_ROLE_INBOUND) {
		/* remembered for the outbound rules: auto-replies, notices, forwards */
		struct pol_event ev;
		struct pol_verdict v;
		smtpd_policy_event(c, POL_EV_INBOUND, NULL, &ev);
		if (!c->sender[0])
			ev.flags |= POL_F_NULL_SENDER;
		for (unsigned i = 0; i < c->nrcpt; i++)
			pol_event_add_rcpt(&ev, c->rcpt[i].addr, POL_DLV_OK);
		msgclass_apply(&c->mc, &ev);
		if (c->sc)
			screen_conn_fill(c->sc, &ev);
		smtpd_policy(c, &ev, true, &v);
	}
	if (status == 0) {
		c->messages++;
		struct smtpd_q qs, qu;
		smtpd_log(LOG_LEVEL_INFO, c,
		          "queued from=%s nrcpt=%u size=%llu proto=%s user=%s%s%s",
		          smtpd_qaddr(&qs, c->sender), c->nrcpt, (unsigned long long)c->size,
		          smtp_session_protocol(c->s), smtpd_q(&qu, user ? user : "-"),
		          c->verdict.action == POL_HOLD ? " held=" : "",
		          c->verdict.action == POL_HOLD ? c->verdict.rule : "");
		smtpd_count(d->m_messages, c->verdict.action == POL_HOLD ? "held" : "queued");
		if (c->verdict.action == POL_HOLD)
			smtpd_count(d->m_held, c->verdict.rule);
		smtp_session_reply_data(c->s, true, id);
	} else {
		smtpd_log(LOG_LEVEL_ERROR, c, "queue=%s", "commit_failed");
		smtpd_count(d->m_messages, "queue_error");
		smtp_session_reply_data(c->s, false, NULL);
	}
	c->qid[0] = '\0';
	smtpd_envelope_reset(c);
	smtpd_conn_run(c);
}

/* A sender in a local domain from a trusted network counts as verified
 * (queue.h): delivery may send it a DSN (DESIGN.md invariant 4). */
static bool smtpd_sender_local_trusted(const struct smtpd_conn *c)
{
	const char *at = mailaddr_at(c->sender);
	if (!at || !c->has_ip || !c->d->c->trusted ||
	    !prefix_set_lookup(c->d->c->trusted, &c->ip, NULL, NULL))
		return false;
	return relay_domains_contains(&c->d->relay.domains, at + 1, strlen(at + 1));
}

/*
 * DKIM: the message as queued (our Received header included) is signed with
 * the key of its From header's domain, and the DKIM-Signature field goes in
 * front of it before the commit, so the queue and every retry have the
 * signed bytes. No key for that domain: unsigned. A failure to sign never
 * stops the message.
 */
static void smtpd_dkim_sign(struct smtpd_conn *c)
{
	struct dkim_signer *sg = c->dkim;
	c->dkim = NULL;
	char dom[DKIM_DOMAIN_MAX + 1], err[256];
	dkim_signer_from_domain(sg, dom, sizeof dom);
	const struct dkim_key *k = dom[0] ? dkim_keyring_find(&c->d->dkim, dom, strlen(dom)) : NULL;
	if (k) {
		struct buf sig;
		buf_init(&sig, DKIM_SIG_MAX);
		if (dkim_signer_finish(sg, k, clock_realtime_ms() / 1000, &sig, err, sizeof err) !=
		    0)
			smtpd_log(LOG_LEVEL_WARN, c, "dkim=unsigned d=%s why=\"%s\"", dom, err);
		else if (queue_msg_prepend(c->qm, sig.data, sig.len) != 0)
			smtpd_log(LOG_LEVEL_WARN, c, "dkim=unsigned d=%s why=\"%s\"", dom,
			          "queue prepend failed");
		else
			smtpd_log(LOG_LEVEL_DEBUG, c, "dkim=signed d=%s a=%s", dom,
			          dkim_alg_name(dkim_key_alg(k)));
		buf_free(&sig);
	}
	dkim_signer_free(sg);
}

/* "policy RULE: REASON [IDENTITY]": the identity the hold is about (the block
 * met, the relay whose limit fired, else the event's identity) in brackets at
 * the end, never cut, so a resume releases exactly what it names
 * (admin/ctlapi "resume"). */
static void smtpd_hold_reason(const struct pol_verdict *v, char *out, size_t size)
{
	const char *who = v->about[0] ? v->about : v->identity;
	char tag[POL_IDENT_MAX + 4] = "";
	if (who[0])
		str_format_trunc(tag, sizeof tag, " [%s]", who);
	size_t room = size > strlen(tag) ? size - strlen(tag) : 0;
	str_format_trunc(out, room, "policy %s: %s", v->rule,
	                 v->n_reasons ? v->reasons[0] : "hold");
	str_append_trunc(out, size, tag);
}

static void smtpd_commit(struct smtpd_conn *c)
{
	struct queue_envelope *env = calloc(1, sizeof *env);
	if (!env) {
		smtpd_msg_abort(c);
		smtp_session_reply_data(c->s, false, "451 4.3.0 Error: insufficient memory");
		return;
	}
	struct smtp_session *s = c->s;
	const struct smtp_address *m = smtp_session_mail_from(s);
	const char *user = smtp_session_auth_user(s);
	if (str_copy(env->sender, sizeof env->sender, c->sender) != 0)
		panic("smtpd_commit: env->sender does not fit");
	if (str_copy(env->client_ip, sizeof env->client_ip, c->has_ip ? c->ip_text : "") != 0)
		panic("smtpd_commit: env->client_ip does not fit");
	if (str_copy(env->client_helo, sizeof env->client_helo, smtp_session_helo(s)) != 0)
		panic("smtpd_commit: env->client_helo does not fit");
	if (str_copy(env->auth_user, sizeof env->auth_user, user ? user : "") != 0)
		panic("smtpd_commit: env->auth_user does not fit");
	if (str_copy(env->protocol, sizeof env->protocol, smtp_session_protocol(s)) != 0)
		panic("smtpd_commit: env->protocol does not fit");
	if (str_copy(env->listener, sizeof env->listener, c->l->conf->name) != 0)
		panic("smtpd_commit: env->listener does not fit");
	env->sender_verified = user != NULL || smtpd_sender_local_trusted(c);
	if (m) {
		const struct smtp_address_param *envid = smtp_address_param_get(m, "ENVID");
		if (envid && str_copy(env->envid, sizeof env->envid, envid->value) != 0) {
			free(env);
			smtpd_msg_abort(c);
			smtp_session_reply_data(c->s, false, "501 5.5.4 Error: ENVID too long");
			return;
		}
		if (str_copy(env->ret, sizeof env->ret,
		             m->ret == SMTP_ADDRESS_RET_FULL   ? "FULL"
		             : m->ret == SMTP_ADDRESS_RET_HDRS ? "HDRS"
		                                               : "") != 0)
			panic("smtpd_commit: env->ret does not fit");
		if (str_copy(env->body, sizeof env->body,
		             m->body == SMTP_ADDRESS_BODY_7BIT       ? "7BIT"
		             : m->body == SMTP_ADDRESS_BODY_8BITMIME ? "8BITMIME"
		                                                     : "") != 0)
			panic("smtpd_commit: env->body does not fit");
		env->smtputf8 = m->smtputf8;
	}
	if (c->verdict.action == POL_HOLD)
		smtpd_hold_reason(&c->verdict, env->hold_reason, sizeof env->hold_reason);
	env->nrcpt = c->nrcpt;
	env->rcpt = c->rcpt;
	if (c->dkim)
		smtpd_dkim_sign(c);
	struct queue_msg *qm = c->qm;
	c->qm = NULL;
	c->commit_pending = true;
	queue_msg_commit(qm, env, smtpd_on_committed, c);
	free(env);
}

static void smtpd_data_end_go(struct smtpd_conn *c);

/* The inbound screen has its SPF answer: the message goes on. */
static void smtpd_on_screen_data(void *arg, const char *reply)
{
	struct smtpd_conn *c = arg;
	smtpd_data_end_go(c);
	if (!c->screen_sync)
		smtpd_conn_run(c);
}

static void smtpd_on_data_end(void *arg, struct smtp_session *s)
{
	struct smtpd_conn *c = arg;
	if (c->stripping) {
		c->stripping = false;
		if (hdrstrip_finish(&c->strip, smtpd_spool_write, c) != 0) {
			smtpd_msg_abort(c);
			smtp_session_reply_data(s, false, NULL);
			return;
		}
		if (c->strip.removed)
			smtpd_log(LOG_LEVEL_DEBUG, c, "identify_header=removed fields=%u",
			          c->strip.removed);
	}
	if (c->sc) {
		c->screen_sync = true;
		screen_conn_data(c->sc, smtpd_on_screen_data, c);
		c->screen_sync = false;
		return;
	}
	smtpd_data_end_go(c);
}

/* ---- the content scan (gateway/scan.h, docs/delivery.md) ----
 *
 * Order: the message is scanned from the spooled, not yet committed bytes
 * (queue_msg_read), before the policy decides and before the commit, so a
 * rejected message never reaches the queue and nothing has to be taken
 * back out of it; the 250 still follows only the durable commit. */

static void smtpd_on_scanned(void *arg, const struct scan_result *r)
{
	struct smtpd_conn *c = arg;
	c->scan_req = NULL;
	c->scan_done = true;
	c->scan = *r;
	clock_update();
	if (r->status != SCAN_DONE)
		smtpd_log(LOG_LEVEL_WARN, c, "scan=%s reason=\"%s\" (passed unscanned)",
		          scan_result_label(r), r->error);
	else
		smtpd_log(LOG_LEVEL_INFO, c, "scan=%s score=%.2f required=%.2f",
		          scan_result_label(r), r->score, r->required_score);
	smtpd_count(c->d->m_scan, scan_result_label(r));
	smtpd_data_end_go(c);
	smtpd_conn_run(c);
}

/* Starts the scan of a submission or relay message: true when it runs
 * (smtpd_on_scanned goes on), false when the message goes on unscanned. */
static bool smtpd_scan_start(struct smtpd_conn *c)
{
	struct smtpd *d = c->d;
	if (!d->scan || c->scan_done || !c->qm || c->l->conf->role == GW_ROLE_INBOUND)
		return false;
	c->scan_done = true; /* whatever happens below, once per message */
	memset(&c->scan, 0, sizeof c->scan);
	c->scan.status = SCAN_ERROR;
	uint64_t size = queue_msg_size(c->qm);
	if (size > d->c->scan_max_size) {
		str_copy_trunc(c->scan.error, sizeof c->scan.error, "larger than [scan] max_size");
		smtpd_log(LOG_LEVEL_INFO, c, "scan=skipped size=%llu", (unsigned long long)size);
		smtpd_count(d->m_scan, "skipped");
		return false;
	}
	struct evbuffer *body = evbuffer_new();
	const char **rcpt = calloc(c->nrcpt ? c->nrcpt : 1, sizeof *rcpt);
	bool ok = body && rcpt;
	for (uint64_t off = 0; ok && off < size;) {
		struct evbuffer_iovec v;
		size_t want = size - off > 65536 ? 65536 : (size_t)(size - off), got = 0;
		ok = evbuffer_reserve_space(body, (ev_ssize_t)want, &v, 1) == 1 &&
		     queue_msg_read(c->qm, off, v.iov_base, want, &got) == 0 && got == want;
		v.iov_len = got;
		ok = ok && evbuffer_commit_space(body, &v, 1) == 0;
		off += got;
	}
	for (unsigned i = 0; ok && i < c->nrcpt; i++)
		rcpt[i] = c->rcpt[i].addr;
	const char *user = smtp_session_auth_user(c->s);
	struct scan_meta m = {.queue_id = c->qid,
	                      .sender = c->sender,
	                      .rcpt = rcpt,
	                      .nrcpt = c->nrcpt,
	                      .ip = c->has_ip ? c->ip_text : "",
	                      .user = user,
	                      .helo = smtp_session_helo(c->s)};
	c->scan_req = ok ? scan_start(d->scan, &m, body, smtpd_on_scanned, c) : NULL;
	if (body)
		evbuffer_free(body);
	free(rcpt);
	if (!c->scan_req) {
		smtpd_log(LOG_LEVEL_WARN, c, "scan=error reason=\"%s\" (passed unscanned)",
		          "cannot start the scan");
		smtpd_count(d->m_scan, "error");
	}
	return c->scan_req != NULL;
}

/* After the policy: rspamd's reject (550) or soft reject (451) answers the
 * DATA (true); add header and rewrite subject put X-Spam on the message. */
static bool smtpd_scan_verdict(struct smtpd_conn *c)
{
	const struct scan_result *r = &c->scan;
	if (!c->scan_done || r->status != SCAN_DONE || r->action == SCAN_NO_ACTION ||
	    r->action == SCAN_GREYLIST)
		return false;
	char reply[SMTP_SESSION_REPLY_MAX];
	if (r->action == SCAN_REJECT || r->action == SCAN_SOFT_REJECT) {
		bool soft = r->action == SCAN_SOFT_REJECT;
		str_format_trunc(reply, sizeof reply, "%s %s", soft ? "451 4.7.1" : "550 5.7.1",
		                 r->message[0] ? r->message
		                 : soft        ? "Try again later"
		                               : "Spam message rejected");
		smtpd_log(LOG_LEVEL_INFO, c, "message=%s by=rspamd score=%.2f reply=\"%s\"",
		          soft ? "deferred" : "rejected", r->score, reply);
		smtpd_msg_abort(c);
		smtpd_count(c->d->m_messages, soft ? "scan_deferred" : "scan_rejected");
		smtp_session_reply_data(c->s, false, reply);
		return true;
	}
	char h[160];
	/* scan_parse_reply() keeps the scores within SCAN_SCORE_MAX; a header that
	 * still does not fit is left off, the message goes on unmarked */
	if (str_format(h, sizeof h, "X-Spam: Yes\r\nX-Spam-Score: %.2f / %.2f\r\n", r->score,
	               r->required_score) != 0) {
		smtpd_log(LOG_LEVEL_WARN, c, "scan=error reason=\"%s\" (passed unmarked)",
		          "score too long for X-Spam-Score");
		return false;
	}
	if (queue_msg_prepend(c->qm, h, strlen(h)) != 0) {
		smtpd_log(LOG_LEVEL_ERROR, c, "queue=%s", "write_failed");
		smtpd_msg_abort(c);
		smtp_session_reply_data(c->s, false, NULL);
		return true;
	}
	return false;
}

/* [listener] identify_header on a session identified by sender: the first
 * such field's address ("user@dom", "<user@dom>", "Name <user@dom>") is the
 * identity instead of the envelope sender; believed as the internal server
 * wrote it (smtpd_by_sender: only from a trusted client), and removed from
 * the message (smtpd_on_data_chunk). No such field: the envelope sender. */
static void smtpd_header_identity(struct smtpd_conn *c, struct pol_event *ev)
{
	const char *name = c->l->conf->identify_header;
	if (!(ev->flags & POL_F_RELAYED) || !name[0] || !c->hdr)
		return;
	struct msg_reader r;
	struct msg_field f;
	struct buf v;
	char who[POL_USER_MAX] = "";
	buf_init(&v, MSG_FIELD_MAX);
	msg_reader_init(&r, c->hdr, c->hdr_len);
	while (!who[0] && msg_next(&r, &f) == 1) {
		if (!msg_field_is(&f, name) || msg_unfold(&f, &v) < 0)
			continue;
		const char *p = buf_cstr(&v), *lt = strchr(p, '<');
		if (lt)
			p = lt + 1;
		p += strspn(p, " \t");
		size_t n = strcspn(p, lt ? "> \t" : " \t;,");
		if (n > 0 && n < sizeof who && str_copy_n(who, sizeof who, p, n) == 0 &&
		    strpbrk(who, "\"()[]\\") != NULL)
			who[0] = '\0';
		buf_reset(&v);
	}
	buf_free(&v);
	if (!who[0])
		return;
	ev->user[0] = '\0';
	ev->flags &= ~POL_F_FOREIGN_SENDER;
	relayid_event(c->d->deps.engine, &c->d->relay.domains, who, true, ev);
}

static void smtpd_data_end_go(struct smtpd_conn *c)
{
	struct smtp_session *s = c->s;
	if (smtpd_scan_start(c))
		return;
	struct pol_event ev;
	smtpd_policy_event(c, POL_EV_MAIL, smtp_session_auth_user(s), &ev);
	if (!c->sender[0])
		ev.flags |= POL_F_NULL_SENDER;
	for (unsigned i = 0; i < c->nrcpt; i++)
		pol_event_add_rcpt(&ev, c->rcpt[i].addr, POL_DLV_OK);
	ev.rcpt_count = c->nrcpt;
	ev.size = c->size;
	smtpd_classify(c);
	smtpd_header_identity(c, &ev);
	if (c->received >= SMTPD_HOP_MAX) {
		smtpd_log(LOG_LEVEL_INFO, c, "reject=mail_loop received=%u limit=%u", c->received,
		          SMTPD_HOP_MAX);
		smtpd_msg_abort(c);
		smtpd_count(c->d->m_messages, "loop");
		smtp_session_reply_data(s, false, "554 5.4.6 Error: too many hops (mail loop)");
		return;
	}
	msgclass_apply(&c->mc, &ev);
	if (c->l->conf->role == GW_ROLE_INBOUND)
		ev.flags |= POL_F_INBOUND; /* the outbound rules are not for mail coming in */
	if (c->scan_done && c->scan.status == SCAN_DONE) {
		ev.scanned = true;
		ev.scan_score = (int32_t)lround(c->scan.score * 100.0);
	}
	enum pol_action a = smtpd_policy(c, &ev, true, &c->verdict);
	if (a == POL_BLOCK && (ev.flags & POL_F_RELAYED))
		a = c->verdict.action = POL_HOLD; /* smtpd_on_mail: held, not refused */
	if (smtpd_scan_verdict(c))
		return;
	if (a == POL_DEFER || a == POL_BLOCK) {
		char r[SMTP_SESSION_REPLY_MAX];
		str_format_trunc(r, sizeof r, "%s relayguard: %s",
		                 a == POL_DEFER ? "451 4.7.1" : "554 5.7.1",
		                 c->verdict.n_reasons ? c->verdict.reasons[0] : c->verdict.rule);
		smtpd_msg_abort(c);
		smtpd_count(c->d->m_messages, a == POL_DEFER ? "deferred" : "blocked");
		smtp_session_reply_data(s, false, r);
		return;
	}
	if (c->verdict.delay_ms > 0) {
		smtpd_conn_wait(c, SMTPD_WAIT_DATA, c->verdict.delay_ms);
		return;
	}
	smtpd_commit(c);
}

static void smtpd_on_reset(void *arg, struct smtp_session *s)
{
	struct smtpd_conn *c = arg;
	if (!c->commit_pending)
		smtpd_envelope_reset(c);
}

static void smtpd_on_start_tls(void *arg, struct smtp_session *s)
{
	/* smtpd_conn_run() flushes the 220 and then starts the handshake. */
}

static void smtpd_on_state(void *arg, struct smtp_session *s, enum smtp_session_state from,
                           enum smtp_session_state to, const char *why)
{
	struct smtpd_conn *c = arg;
	if (log_get_level() >= LOG_LEVEL_DEBUG)
		smtpd_log(LOG_LEVEL_DEBUG, c, "state=%s from=%s why=%s",
		          smtp_session_state_name(to), smtp_session_state_name(from), why);
}

static const struct smtp_session_ops smtpd_ops = {
    .start_tls = smtpd_on_start_tls,
    .auth = smtpd_on_auth,
    .mail = smtpd_on_mail,
    .rcpt = smtpd_on_rcpt,
    .data_start = smtpd_on_data_start,
    .data_chunk = smtpd_on_data_chunk,
    .data_end = smtpd_on_data_end,
    .data_abort = smtpd_on_data_abort,
    .reset = smtpd_on_reset,
    .reject = smtpd_on_reject,
    .state_change = smtpd_on_state,
};

/* ---- accepting ---- */

static void smtpd_refuse(evutil_socket_t fd, const char *reply)
{
	ssize_t n = send(fd, reply, strlen(reply), MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)n;
	evutil_closesocket(fd);
}

static void smtpd_on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                            int salen, void *arg)
{
	struct smtpd_listener *l = arg;
	struct smtpd *d = l->d;
	clock_update();
	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) {
		/* Replies are small and often split (a multi-line EHLO, pipelined
		 * answers): Nagle plus the client's delayed ACK would add 40 ms. */
		int one = 1;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	struct addr ip;
	bool has_ip = addr_from_sockaddr(sa, &ip) == 0;
	if (has_ip)
		addr_unmap(&ip);
	char ipt[ADDR_STRLEN] = "-";
	if (has_ip)
		addr_format(&ip, ipt, sizeof ipt);
	char r[400];
	if (d->nconns >= (unsigned)d->c->max_connections) {
		log_warn(
		    "smtpd queue_id=NOQUEUE client=%s listener=%s refused=too_many_connections "
		    "total=%u (max_connections)",
		    ipt, l->conf->name, d->nconns);
		str_format_trunc(r, sizeof r, "421 4.7.0 %s Error: too many connections\r\n",
		                 d->c->hostname);
		smtpd_refuse(fd, r);
		smtpd_count(d->m_rejects, "too_many_connections");
		return;
	}
	if (has_ip) {
		/* A client is an IPv4 address or an IPv6 network of [identity]
		 * ipv6_prefix (one host has a whole /64 to pick addresses from). */
		unsigned same = 0, pfx = (unsigned)d->c->policy.ipv6_prefix;
		struct addr net = ip, onet;
		if (net.family == 6)
			addr_mask(&net, pfx);
		for (struct smtpd_conn *o = d->conns; o; o = o->next) {
			if (!o->has_ip || o->ip.family != net.family)
				continue;
			onet = o->ip;
			if (onet.family == 6)
				addr_mask(&onet, pfx);
			if (addr_equal(&onet, &net))
				same++;
		}
		if (same >= (unsigned)d->c->max_connections_per_client) {
			log_warn("smtpd queue_id=NOQUEUE client=%s listener=%s "
			         "refused=too_many_connections_from_client count=%u "
			         "(max_connections_per_client)",
			         ipt, l->conf->name, same);
			str_format_trunc(r, sizeof r,
			                 "421 4.7.0 %s Error: too many connections from %s\r\n",
			                 d->c->hostname, ipt);
			smtpd_refuse(fd, r);
			smtpd_count(d->m_rejects, "too_many_connections_from_client");
			return;
		}
	}
	struct smtpd_conn *c = calloc(1, sizeof *c);
	if (!c) {
		evutil_closesocket(fd);
		return;
	}
	c->d = d;
	c->l = l;
	c->has_ip = has_ip;
	c->ip = ip;
	if (str_copy(c->ip_text, sizeof c->ip_text, ipt) != 0)
		panic("smtpd_on_accept: c->ip_text does not fit");
	c->start_ms = clock_monotonic_ms();
	if (str_format(c->sid, sizeof c->sid, "%010llX", (unsigned long long)d->next_sid++) != 0)
		panic("smtpd_on_accept: c->sid does not fit");
	evutil_make_socket_nonblocking(fd);
	if (l->conf->tls == GW_TLS_IMPLICIT) {
		SSL *ssl = SSL_new(d->tls);
		c->bev = ssl ? bufferevent_openssl_socket_new(d->base, fd, ssl,
		                                              BUFFEREVENT_SSL_ACCEPTING,
		                                              BEV_OPT_CLOSE_ON_FREE)
		             : NULL;
		if (!c->bev && ssl)
			SSL_free(ssl);
		if (c->bev)
			bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	} else {
		c->bev = bufferevent_socket_new(d->base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	c->timer = evtimer_new(d->base, smtpd_conn_on_timer, c);
	c->s = smtp_session_new(&l->scfg, &d->ops, c, has_ip ? &ip : NULL, NULL);
	if (!c->bev || !c->timer || !c->s) {
		log_error("smtpd client=%s: out of memory", ipt);
		if (c->bev)
			bufferevent_free(c->bev);
		else
			evutil_closesocket(fd);
		if (c->timer)
			event_free(c->timer);
		smtp_session_free(c->s);
		free(c);
		return;
	}
	c->next = d->conns;
	if (d->conns)
		d->conns->prev = c;
	d->conns = c;
	d->nconns++;
	if (d->m_sessions)
		metric_set(d->m_sessions, NULL, d->nconns);
	smtpd_count(d->m_connections, l->conf->name);
	smtpd_log(LOG_LEVEL_INFO, c, "connect listener=%s role=%s tls=%s", l->conf->name,
	          gw_role_name(l->conf->role), gw_tls_name(l->conf->tls));
	if (d->screen && has_ip && l->conf->role == GW_ROLE_INBOUND)
		c->sc = screen_conn_new(d->screen, &ip); /* NULL (no memory): unscreened */
	if (has_ip && d->c->reverse_dns && d->deps.dns)
		smtpd_rdns_start(c);
	smtpd_conn_setup_bev(c);
	smtpd_conn_run(c); /* the greeting */
}

static void smtpd_on_accept_error(struct evconnlistener *lev, void *arg)
{
	struct smtpd_listener *l = arg;
	acceptpause_error(l->d->pause);
}

/* A listening socket; "*:PORT" is one IPv6 socket that takes IPv4 too. */
static struct evconnlistener *smtpd_listen(struct smtpd_listener *l, const struct hostport *hp,
                                           char *err, size_t errlen)
{
	int fam = hp->ss.ss_family;
	evutil_socket_t fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	int one = 1, zero = 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fam == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, hp->wildcard ? &zero : &one, sizeof one);
	if (bind(fd, (const struct sockaddr *)&hp->ss, hp->len) != 0 || listen(fd, 511) != 0)
		goto fail;
	struct evconnlistener *lev = evconnlistener_new(
	    l->d->base, smtpd_on_accept, l, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (lev && acceptpause_add(l->d->pause, lev) == 0) {
		evconnlistener_set_error_cb(lev, smtpd_on_accept_error);
		return lev;
	}
	if (lev) {
		evconnlistener_free(lev); /* closes fd */
		str_format_trunc(err, errlen, "listener %s: too many addresses", l->conf->name);
		return NULL;
	}
fail:
	str_format_trunc(err, errlen, "listener %s: cannot listen on %s: %s", l->conf->name,
	                 hp->text, strerror(errno));
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void smtpd_session_config(struct smtpd *d, struct smtpd_listener *l)
{
	const struct gw_config *c = d->c;
	struct smtp_session_config *s = &l->scfg;
	smtp_session_config_defaults(s);
	s->role = l->conf->role == GW_ROLE_SUBMISSION ? SMTP_SESSION_ROLE_SUBMISSION
	          : l->conf->role == GW_ROLE_RELAY    ? SMTP_SESSION_ROLE_RELAY
	                                              : SMTP_SESSION_ROLE_INBOUND;
	s->hostname = c->hostname;
	s->relay = &d->relay;
	s->tls_available = l->conf->tls != GW_TLS_NONE && d->tls;
	s->tls_wrapper = l->conf->tls == GW_TLS_IMPLICIT;
	s->auth_enabled = l->conf->role != GW_ROLE_INBOUND;
	s->auth_requires_tls = l->conf->require_tls_for_auth;
	s->line_limit = (size_t)c->line_length_limit;
	s->message_size_limit = c->max_message_size;
	s->recipient_limit = (unsigned)c->max_recipients;
	s->soft_error_limit = (unsigned)c->soft_error_limit;
	s->hard_error_limit = (unsigned)c->hard_error_limit;
	s->junk_command_limit = (unsigned)c->junk_command_limit;
	s->auth_failure_limit = (unsigned)c->auth_failure_limit;
}

/* local_domains of c into out. */
static int smtpd_relay_policy(struct smtpd *d, char *err, size_t errlen)
{
	if (relayid_domains(d->c->local_domains, d->c->source, &d->relay.domains, err, errlen) != 0)
		return -1;
	d->relay.trusted_networks = d->c->trusted;
	d->relay.local_addresses = NULL;
	return 0;
}

/* [scan] rspamd: the scanner (a literal address, so no DNS). 0 or -1. */
static int smtpd_scan_new(struct smtpd *d, char *err, size_t errlen)
{
	const struct gw_config *c = d->c;
	if (!c->scan_rspamd[0])
		return 0;
	char host[NI_MAXHOST], port[NI_MAXSERV];
	if (getnameinfo((const struct sockaddr *)&c->scan_addr.ss, c->scan_addr.len, host,
	                sizeof host, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		str_format_trunc(err, errlen, "[scan] rspamd: %s: not an address", c->scan_rspamd);
		return -1;
	}
	uint64_t p = 0;
	if (str_to_u64(port, strlen(port), 1, 65535, &p) != 0) {
		str_format_trunc(err, errlen, "[scan] rspamd: %s: no port", c->scan_rspamd);
		return -1;
	}
	d->scan = scan_new(d->base, host, (unsigned)p, c->scan_timeout_ms);
	if (!d->scan) {
		str_format_trunc(err, errlen, "out of memory");
		return -1;
	}
	log_info("smtpd: content scan by rspamd at %s (timeout %llu ms)", c->scan_addr.text,
	         (unsigned long long)c->scan_timeout_ms);
	return 0;
}

static bool smtpd_needs_tls(const struct gw_config *c)
{
	for (int i = 0; i < c->nlisteners; i++)
		if (c->listeners[i].tls != GW_TLS_NONE)
			return true;
	return false;
}

struct smtpd_reload {
	struct relay_domains domains;
	SSL_CTX *tls; /* NULL: keep the running one */
	bool users_moved;
	struct screen *screen; /* the fresh [screen]; NULL: none asked for */
};

struct smtpd_reload *smtpd_reload_prepare(struct smtpd *d, const struct gw_config *fresh, char *err,
                                          size_t errlen)
{
	struct smtpd_reload *r = calloc(1, sizeof *r);
	if (!r) {
		str_format_trunc(err, errlen, "out of memory");
		return NULL;
	}
	if (relayid_domains(fresh->local_domains, fresh->source, &r->domains, err, errlen) != 0)
		goto fail;
	/* The certificate and key are read again even under the same names: a
	 * renewed certificate replaces the file. Without them the self-signed one
	 * made at start stays. */
	if (smtpd_needs_tls(fresh) && fresh->tls_cert[0]) {
		r->tls = tls_server_ctx_new(fresh->tls_cert, fresh->tls_key, fresh->hostname, err,
		                            errlen);
		if (!r->tls)
			goto fail;
	}
	r->users_moved = strcmp(d->c->users_file, fresh->users_file) != 0;
	/* [screen] and its catalogue are read whole: a broken catalogue file
	 * refuses the reload. */
	r->screen = screen_new(d->base, fresh, err, errlen);
	if (!r->screen && err[0])
		goto fail;
	return r;
fail:
	smtpd_reload_discard(r);
	return NULL;
}

void smtpd_reload_commit(struct smtpd *d, struct smtpd_reload *r)
{
	d->relay.domains = r->domains;
	d->relay.trusted_networks = d->c->trusted;
	if (r->tls) {
		tls_ctx_free(d->tls); /* sessions in TLS hold their own reference */
		d->tls = r->tls;
		r->tls = NULL;
	}
	for (int i = 0; i < d->nlisteners; i++) {
		d->listeners[i].conf = &d->c->listeners[i];
		smtpd_session_config(d, &d->listeners[i]); /* for sessions from now on */
	}
	if (r->users_moved) {
		userdb_free(&d->users);
		if (userdb_init(&d->users, d->c->users_file) != 0)
			log_error("smtpd: [gateway] users: path too long");
		d->users_loaded = false;
	}
	smtpd_users_refresh(d);
	/* sessions that began keep their screen; new ones get the fresh one */
	screen_retire(d->screen, &d->screens_retired);
	d->screen = r->screen;
	r->screen = NULL;
	smtpd_reload_discard(r);
}

void smtpd_reload_discard(struct smtpd_reload *r)
{
	if (!r)
		return;
	tls_ctx_free(r->tls);
	screen_free(r->screen);
	free(r);
}

struct smtpd *smtpd_new(struct event_base *base, const struct gw_config *c,
                        const struct smtpd_deps *deps, char *err, size_t errlen)
{
	struct smtpd *d = calloc(1, sizeof *d);
	if (!d) {
		str_format_trunc(err, errlen, "out of memory");
		return NULL;
	}
	d->base = base;
	d->c = c;
	if (deps)
		d->deps = *deps;
	d->screen = screen_new(base, c, err, errlen);
	if (!d->screen && err[0])
		goto fail;
	d->ops = smtpd_ops;
	if (!d->deps.queue)
		d->ops.data_end = NULL;
	d->next_sid = ((uint64_t)clock_realtime_ms() / 1000) << 12;
	if (userdb_init(&d->users, c->users_file) != 0) {
		str_format_trunc(err, errlen, "%s: [gateway] users: path too long", c->source);
		free(d);
		return NULL;
	}
	if (smtpd_relay_policy(d, err, errlen) != 0)
		goto fail;
	if (gw_dkim_keys(c, &d->dkim, err, errlen) != 0)
		goto fail;
	if (smtpd_needs_tls(c)) {
		d->tls = tls_server_ctx_new(c->tls_cert, c->tls_key, c->hostname, err, errlen);
		if (!d->tls)
			goto fail;
		if (!c->tls_cert[0])
			log_warn(
			    "smtpd: no tls_cert configured: using a self-signed certificate for %s "
			    "(clients will not trust it; set [gateway] tls_cert and tls_key)",
			    c->hostname);
	}
	if (deps && deps->metrics) {
		struct metrics *m = deps->metrics;
		d->m_sessions = metrics_register(m, METRIC_GAUGE, "relayguard_smtp_sessions",
		                                 "SMTP sessions open now.", NULL, NULL, 0);
		d->m_connections = metrics_register(
		    m, METRIC_COUNTER, "relayguard_smtp_connections_total",
		    "SMTP connections accepted, by listener.", "listener", NULL, 0);
		d->m_rejects = metrics_register(
		    m, METRIC_COUNTER, "relayguard_smtp_rejects_total",
		    "SMTP 4xx/5xx replies and refused connections, by reason.", "reason", NULL, 0);
		d->m_messages =
		    metrics_register(m, METRIC_COUNTER, "relayguard_smtp_messages_total",
		                     "Messages at end of data, by result.", "result", NULL, 0);
		d->m_auth = metrics_register(m, METRIC_COUNTER, "relayguard_smtp_auth_total",
		                             "SMTP AUTH attempts, by result.", "result", NULL, 0);
		d->m_held = metrics_register(
		    m, METRIC_COUNTER, "relayguard_messages_held_total",
		    "Messages put in the hold queue at end of data, by the policy rule.", "reason",
		    NULL, 0);
		if (c->scan_rspamd[0])
			d->m_scan = metrics_register(
			    m, METRIC_COUNTER, "relayguard_scan_total",
			    "Content scans by rspamd, by its action or why there was none.",
			    "result", NULL, 0);
	}
	if (smtpd_scan_new(d, err, errlen) != 0)
		goto fail;
	smtpd_users_refresh(d);
	d->auth = authpool_new(base, (unsigned)c->auth_workers, SMTPD_AUTH_QUEUE_MAX, err, errlen);
	if (!d->auth)
		goto fail;
	d->pause = acceptpause_new(base, "smtpd", SMTPD_ACCEPT_PAUSE_MS);
	if (!d->pause) {
		str_format_trunc(err, errlen, "out of memory");
		goto fail;
	}
	for (int i = 0; i < c->nlisteners; i++) {
		struct smtpd_listener *l = &d->listeners[i];
		l->d = d;
		l->conf = &c->listeners[i];
		d->nlisteners = i + 1;
		smtpd_session_config(d, l);
		for (int k = 0; k < l->conf->naddrs; k++) {
			l->lev[k] = smtpd_listen(l, &l->conf->addrs[k], err, errlen);
			if (!l->lev[k])
				goto fail;
			log_info("smtpd: listener %s (%s, tls %s) on %s", l->conf->name,
			         gw_role_name(l->conf->role), gw_tls_name(l->conf->tls),
			         l->conf->addrs[k].text);
		}
	}
	if (!d->deps.queue)
		log_warn("smtpd: no queue: every message will be answered 451 (not queued)");
	return d;
fail:
	smtpd_free(d);
	return NULL;
}

void smtpd_free(struct smtpd *d)
{
	if (!d)
		return;
	while (d->conns)
		smtpd_conn_free(d->conns); /* cancels their password checks */
	authpool_free(d->auth);            /* joins the workers after their current check */
	screen_free(d->screen);
	screen_free_retired(&d->screens_retired);
	scan_free(d->scan);
	for (int i = 0; i < d->nlisteners; i++)
		for (int k = 0; k < GW_ADDRS_MAX; k++)
			if (d->listeners[i].lev[k])
				evconnlistener_free(d->listeners[i].lev[k]);
	acceptpause_free(d->pause);
	tls_ctx_free(d->tls);
	userdb_free(&d->users);
	dkim_keyring_free(&d->dkim);
	free(d);
}

unsigned smtpd_connections(const struct smtpd *d)
{
	return d->nconns;
}
