/*
 * policyd - Postfix policy service on libevent; see policyd.h.
 */
#include "gateway/policyd.h"

#include "admin/metrics.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"
#include "gateway/relayid.h"
#include "net/acceptpause.h"
#include "smtp/pfpolicy.h"

#include <errno.h>
#include <sys/stat.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#define POLICYD_ACCEPT_PAUSE_MS 100 /* listener off after accept ran out of descriptors */

struct policyd_conn {
	struct policyd_conn *next, *prev;
	struct policyd *p;
	struct bufferevent *bev;
	struct pfp_parser parser;
	char peer[64];
	unsigned long requests;
	bool paused; /* reading stopped: too many replies not yet read */
};

struct policyd {
	struct event_base *base;
	struct evconnlistener *listener;
	struct acceptpause *pause; /* accept out of descriptors: pause, not spin */
	struct pol_engine *engine;
	struct policyd_options opt;
	struct policyd_conn *conns;
	unsigned nconns;
	char unix_path[108];
	struct prefix_set *own_allow; /* the loopback default when opt.allow is NULL */
	struct pfp_instances *instances; /* count_at = instance: what each message counted */
	/* opt.conf's local_domains as parsed (identity by sender), and their text */
	struct relay_domains domains;
	char domains_src[sizeof((struct gw_config *)0)->local_domains];
	bool domains_read;
	struct metric *m_requests, *m_decisions, *m_errors, *m_latency, *m_refused, *m_paused;
};

static void policyd_conn_free(struct policyd_conn *c)
{
	struct policyd *p = c->p;
	if (c->prev)
		c->prev->next = c->next;
	else
		p->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	p->nconns--;
	bufferevent_free(c->bev);
	free(c);
}

static enum pfp_action policyd_action(enum pol_action a)
{
	switch (a) {
	case POL_ALLOW:
		return PFP_DUNNO;
	case POL_WARN:
		return PFP_WARN;
	case POL_DEFER:
		return PFP_DEFER;
	case POL_HOLD:
		return PFP_HOLD;
	case POL_BLOCK:
		return PFP_REJECT;
	}
	return PFP_DUNNO;
}

/* opt.conf's local domains, read again when a reload changed them (one that
 * does not parse keeps the ones before, said once). */
static const struct relay_domains *policyd_local_domains(struct policyd *p)
{
	const struct gw_config *g = p->opt.conf;
	if (p->domains_read && strcmp(p->domains_src, g->local_domains) == 0)
		return &p->domains;
	char err[512];
	struct relay_domains fresh;
	if (relayid_domains(g->local_domains, g->source, &fresh, err, sizeof err) == 0)
		p->domains = fresh;
	else
		log_error("policyd: %s; identity by sender keeps the local domains before", err);
	if (str_copy(p->domains_src, sizeof p->domains_src, g->local_domains) != 0)
		panic("policyd: domains_src is as large as local_domains");
	p->domains_read = true;
	return &p->domains;
}

/* Postfix's request in, the engine's event out: without sasl_username, from
 * the organisation's server identified by sender (relayid.h), the user is the
 * envelope sender of a local domain and the client the trusted relay above it. */
static void policyd_event(struct policyd *p, const struct pfp_request *r, struct pol_event *ev)
{
	pol_event_init(ev, POL_EV_MAIL, clock_realtime_ms());
	if (str_copy(ev->user, sizeof ev->user, r->sasl_username) != 0)
		panic("policyd_event: ev->user does not fit");
	ev->has_ip = r->has_client_address;
	ev->ip = r->client_address;
	if (str_copy(ev->sender, sizeof ev->sender, r->sender) != 0)
		ev->sender[0] = '\0'; /* no address is this long (RFC 5321: 254 at most) */
	if (r->sender[0] == '\0')
		ev->flags |= POL_F_NULL_SENDER;
	if (r->recipient[0])
		pol_event_add_rcpt(ev, r->recipient, POL_DLV_OK);
	ev->size = r->size;
	if (r->state == PFP_STATE_END_OF_MESSAGE && r->recipient_count > 0)
		ev->rcpt_count = (uint32_t)r->recipient_count;
	else if (ev->rcpt_count == 0)
		ev->rcpt_count = 1;
	if (!ev->user[0] && r->has_client_address && p->opt.conf &&
	    relayid_by_sender(p->opt.conf, &r->client_address, p->opt.identify_sender))
		relayid_event(p->engine, policyd_local_domains(p), r->sender, false, ev);
}

/* Whether the request counts, and what of its message (policyd.h "What is
 * counted where"): ev's parts, recipients and size are set to that part;
 * *inst is the message's entry when the instance table tracks it. */
static bool policyd_plan(struct policyd *p, const struct pfp_request *r, struct pol_event *ev,
                         struct pfp_instance **inst)
{
	bool rcpt = r->state == PFP_STATE_RCPT, eom = r->state == PFP_STATE_END_OF_MESSAGE;
	*inst = NULL;
	if (p->opt.count_at_rcpt)
		return eom || rcpt;
	if (p->opt.count_at_eom || (!rcpt && !eom))
		return eom;
	bool created;
	struct pfp_instance *in =
	    pfp_instances_get(p->instances, r->instance, ev->time_ms, &created);
	if (!in)
		return eom; /* no instance (not Postfix?): the message at its end, as before */
	*inst = in;
	ev->rcpts_before = in->rcpts;
	if (rcpt) {
		/* one recipient; at the first request the message itself too, with the
		 * size the client declared (MAIL FROM SIZE=): all a Postfix that asks
		 * only at RCPT can tell. END-OF-MESSAGE adds what that was short. */
		ev->parts = POL_PART_RCPTS;
		if (!in->msg_counted)
			ev->parts |= POL_PART_MSG | (r->size ? POL_PART_SIZE : 0);
		else
			ev->size = 0;
		ev->rcpt_count = 1;
		return true;
	}
	if (in->eom_counted)
		return false; /* END-OF-MESSAGE told twice: checked, not counted again */
	if (!in->msg_counted) {
		ev->parts = POL_PART_ALL; /* no RCPT request came: all of it now */
		return true;
	}
	/* the recipients came at RCPT: the size beyond what was declared there, and
	 * recipients that passed without a request (recipient_count is of the
	 * accepted ones), counted by number */
	ev->parts = 0;
	ev->n_rcpt = 0;
	ev->rcpt_count = 0;
	ev->size = r->size > in->bytes ? r->size - in->bytes : 0;
	if (ev->size)
		ev->parts |= POL_PART_SIZE;
	if (r->recipient_count > in->rcpts && r->recipient_count - in->rcpts < UINT32_MAX) {
		ev->parts |= POL_PART_RCPTS;
		ev->rcpt_count = (uint32_t)(r->recipient_count - in->rcpts);
	}
	if (!ev->parts)
		in->eom_counted = true; /* nothing new: a check of the blocks */
	return ev->parts != 0;
}

/* The instance's record of what got through: a refused request (DEFER,
 * REJECT) passes nothing of its message on, so the next one counts it; a held
 * one (HOLD) goes on, into Postfix's hold queue. */
static void policyd_counted(struct pfp_instance *in, const struct pfp_request *r,
                            const struct pol_event *ev, const struct pol_verdict *v)
{
	if (v->action == POL_DEFER || v->action == POL_BLOCK)
		return;
	if (ev->parts & POL_PART_MSG)
		in->msg_counted = true;
	if ((ev->parts & POL_PART_RCPTS) && in->rcpts < UINT32_MAX - ev->rcpt_count)
		in->rcpts += ev->rcpt_count;
	if (ev->parts & POL_PART_SIZE)
		in->bytes += ev->size;
	if (r->state == PFP_STATE_END_OF_MESSAGE)
		in->eom_counted = true;
}

static void policyd_answer(struct policyd_conn *c, const struct pfp_request *r)
{
	struct policyd *p = c->p;
	clock_update();
	struct pol_event ev;
	policyd_event(p, r, &ev);
	struct pfp_instance *inst;
	bool count = policyd_plan(p, r, &ev, &inst);
	struct pol_verdict v;
	int64_t t0 = clock_elapsed_us();
	int rc = count ? pol_engine_evaluate(p->engine, &ev, &v)
		       : pol_engine_check_blocks(p->engine, &ev, &v);
	/* As the gateway: a block met by mail from a trusted relay holds it (in
	 * Postfix's hold queue) rather than refusing it, which would have the
	 * internal server bounce it to its own user. */
	if (v.action == POL_BLOCK && (ev.flags & POL_F_RELAYED))
		v.action = POL_HOLD;
	if (count && inst && rc == 0)
		policyd_counted(inst, r, &ev, &v);
	if (p->m_latency)
		metric_observe(p->m_latency, NULL, (double)(clock_elapsed_us() - t0) / 1e6);
	/* counted: a message was (its first part, or all of it) */
	if (p->opt.observe)
		p->opt.observe(p->opt.observe_arg, &ev, &v,
		               count && (ev.parts == 0 || (ev.parts & POL_PART_MSG)));
	if (rc != 0) {
		/* The store failed: say so loudly, and let Postfix go on (DUNNO) rather
		 * than stop the organisation's mail. */
		char qu[STR_LOG_VALUE_MAX];
		log_error("policyd client=%s user=%s state=%s: policy store error; answering DUNNO",
		          r->has_client_address ? c->peer : "-",
		          str_log_value(qu, sizeof qu, r->sasl_username), pfp_state_name(r->state));
		if (p->m_errors)
			metric_add(p->m_errors, NULL, 1);
	}
	char text[POL_REASON_LEN + 80] = "";
	if (v.action != POL_ALLOW)
		str_format_trunc(text, sizeof text, "relayguard %s: %s", v.rule,
		                 v.n_reasons ? v.reasons[0] : pol_action_name(v.action));
	struct buf out;
	buf_init(&out, 1024);
	if (pfp_format_reply(&out, policyd_action(v.action), text) != 0 ||
	    bufferevent_write(c->bev, out.data, out.len) != 0)
		log_error("policyd client=%s: cannot queue the reply", c->peer);
	buf_free(&out);
	if (p->opt.on_hold && (v.action == POL_HOLD || (r->queue_id[0] && r->instance[0])))
		p->opt.on_hold(p->opt.on_hold_arg, r, &v, v.action == POL_HOLD);
	if (p->m_requests)
		metric_add(p->m_requests, (const char *[]){pfp_state_name(r->state)}, 1);
	if (p->m_decisions)
		metric_add(p->m_decisions, (const char *[]){pol_action_name(v.action)}, 1);
	if (v.action != POL_ALLOW) {
		char ip[ADDR_STRLEN] = "-";
		if (r->has_client_address)
			addr_format(&r->client_address, ip, sizeof ip);
		if (v.block_created && p->opt.on_block)
			p->opt.on_block(p->opt.on_block_ctx, &v, r->has_client_address ? ip : "");
		/* every request value is the client's text: quoted (docs/delivery.md "Log
		 * lines"), so a CR/LF or a " key=value" in it cannot forge a line or a key */
		char qq[STR_LOG_VALUE_MAX], qu[STR_LOG_VALUE_MAX], qs[STR_LOG_VALUE_MAX],
		    qi[STR_LOG_VALUE_MAX], qr[STR_LOG_VALUE_MAX], sender[STR_LOG_VALUE_IN];
		str_format_trunc(sender, sizeof sender, "<%s>", r->sender);
		log_info("policyd queue_id=%s client=%s user=%s sender=%s state=%s action=%s "
		         "rule=%s identity=%s reason=%s",
		         str_log_value(qq, sizeof qq, r->queue_id[0] ? r->queue_id : "-"), ip,
		         str_log_value(qu, sizeof qu, r->sasl_username),
		         str_log_value(qs, sizeof qs, sender), pfp_state_name(r->state),
		         pol_action_name(v.action), v.rule,
		         str_log_value(qi, sizeof qi, v.identity),
		         str_log_value(qr, sizeof qr, v.n_reasons ? v.reasons[0] : ""));
	}
	c->requests++;
}

/* Backpressure: a client that sends requests and never reads the replies
 * would grow our output without bound. Past the high-water mark reading stops;
 * policyd_on_write resumes it when half is sent. */
static bool policyd_pause(struct policyd_conn *c)
{
	struct policyd *p = c->p;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) < p->opt.output_highwater)
		return false;
	if (!c->paused) {
		c->paused = true;
		bufferevent_disable(c->bev, EV_READ);
		bufferevent_setwatermark(c->bev, EV_WRITE, p->opt.output_highwater / 2, 0);
		log_debug("policyd client=%s: %zu bytes of replies unread; reading paused", c->peer,
		          evbuffer_get_length(bufferevent_get_output(c->bev)));
		if (p->m_paused)
			metric_add(p->m_paused, NULL, 1);
	}
	return true;
}

static void policyd_on_read(struct bufferevent *bev, void *arg);

static void policyd_on_write(struct bufferevent *bev, void *arg)
{
	struct policyd_conn *c = arg;
	if (!c->paused)
		return;
	c->paused = false;
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	bufferevent_enable(bev, EV_READ);
	policyd_on_read(bev, c); /* requests already read wait in the input */
}

static void policyd_on_read(struct bufferevent *bev, void *arg)
{
	struct policyd_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	for (;;) {
		if (policyd_pause(c))
			return;
		size_t avail = evbuffer_get_length(in);
		if (avail == 0)
			return;
		struct evbuffer_iovec vec;
		if (evbuffer_peek(in, -1, NULL, &vec, 1) < 1)
			return;
		size_t used = 0;
		enum pfp_status st = pfp_parser_feed(&c->parser, vec.iov_base, vec.iov_len, &used);
		evbuffer_drain(in, used);
		if (st == PFP_ERROR) {
			log_warn("policyd client=%s: bad request (%s); closing", c->peer,
				 c->parser.error);
			policyd_conn_free(c);
			return;
		}
		if (st == PFP_REQUEST) {
			policyd_answer(c, &c->parser.req);
			pfp_parser_init(&c->parser);
		}
	}
}

static void policyd_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct policyd_conn *c = arg;
	if (what & BEV_EVENT_TIMEOUT)
		log_debug("policyd client=%s: idle, closing after %lu requests", c->peer, c->requests);
	else if (what & BEV_EVENT_ERROR)
		log_debug("policyd client=%s: %s", c->peer, strerror(EVUTIL_SOCKET_ERROR()));
	policyd_conn_free(c);
}

static void policyd_on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			      int salen, void *arg)
{
	struct policyd *p = arg;
	if (p->nconns >= p->opt.max_connections) {
		log_warn("policyd: %u connections already; refusing one more (raise [policyd] "
			 "max_connections)",
			 p->nconns);
		evutil_closesocket(fd);
		return;
	}
	struct addr a;
	bool has_addr = addr_from_sockaddr(sa, &a) == 0;
	if (has_addr)
		addr_unmap(&a);
	if (has_addr && !prefix_set_lookup(p->opt.allow, &a, NULL, NULL)) {
		/* only Postfix may ask: any other client could block any account */
		char ip[ADDR_STRLEN] = "?";
		addr_format(&a, ip, sizeof ip);
		log_warn("policyd client=%s: not in [policyd] allow; connection refused", ip);
		if (p->m_refused)
			metric_add(p->m_refused, NULL, 1);
		evutil_closesocket(fd);
		return;
	}
	struct policyd_conn *c = calloc(1, sizeof *c);
	if (!c) {
		evutil_closesocket(fd);
		return;
	}
	c->p = p;
	c->bev = bufferevent_socket_new(p->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		evutil_closesocket(fd);
		free(c);
		return;
	}
	if (has_addr)
		addr_format(&a, c->peer, sizeof c->peer);
	else if (str_copy(c->peer, sizeof c->peer, "local") != 0)
		panic("policyd_on_accept: c->peer does not fit");
	pfp_parser_init(&c->parser);
	c->next = p->conns;
	if (p->conns)
		p->conns->prev = c;
	p->conns = c;
	p->nconns++;
	struct timeval idle = {p->opt.idle_timeout_s > 0 ? p->opt.idle_timeout_s : 600, 0};
	bufferevent_set_timeouts(c->bev, &idle, NULL);
	bufferevent_setcb(c->bev, policyd_on_read, policyd_on_write, policyd_on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void policyd_on_accept_error(struct evconnlistener *l, void *arg)
{
	struct policyd *p = arg;
	acceptpause_error(p->pause);
}

struct policyd *policyd_new(struct event_base *base, const struct hostport *addr,
			    struct pol_engine *engine, const struct policyd_options *opt,
			    struct metrics *metrics, char *err, size_t errlen)
{
	struct policyd *p = calloc(1, sizeof *p);
	if (!p) {
		str_format_trunc(err, errlen, "out of memory");
		return NULL;
	}
	p->base = base;
	p->engine = engine;
	p->opt = *opt;
	if (!p->opt.max_connections)
		p->opt.max_connections = 500;
	if (!p->opt.output_highwater)
		p->opt.output_highwater = 64 * 1024;
	if (!p->opt.instances_max)
		p->opt.instances_max = 16384;
	if (p->opt.instance_ttl_ms <= 0)
		p->opt.instance_ttl_ms = 3600 * 1000;
	if (!p->opt.count_at_rcpt && !p->opt.count_at_eom &&
	    !(p->instances = pfp_instances_new(p->opt.instances_max, p->opt.instance_ttl_ms))) {
		free(p);
		str_format_trunc(err, errlen, "out of memory");
		return NULL;
	}
	if (!p->opt.allow) {
		p->own_allow = prefix_set_new();
		char e[64];
		if (!p->own_allow ||
		    prefix_set_add_list(p->own_allow, "127.0.0.0/8, ::1", e, sizeof e) != 0) {
			prefix_set_free(p->own_allow);
			pfp_instances_free(p->instances);
			free(p);
			str_format_trunc(err, errlen, "out of memory");
			return NULL;
		}
		p->opt.allow = p->own_allow;
	}
	if (addr->ss.ss_family == AF_UNIX) {
		const struct sockaddr_un *un = (const struct sockaddr_un *)&addr->ss;
		if (str_copy(p->unix_path, sizeof p->unix_path, un->sun_path) != 0)
			panic("policyd_new: p->unix_path does not fit");
		unlink(p->unix_path); /* a stale socket from a previous run */
	}
	p->listener = evconnlistener_new_bind(
	    base, policyd_on_accept, p, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    128, (const struct sockaddr *)&addr->ss, (int)addr->len);
	if (!p->listener) {
		str_format_trunc(err, errlen, "policy service: cannot listen on %s: %s", addr->text,
		                 strerror(errno));
		prefix_set_free(p->own_allow);
		pfp_instances_free(p->instances);
		free(p);
		return NULL;
	}
	/* Postfix's chroot: its own socket, its group, no one else */
	if (p->unix_path[0] &&
	    (((p->opt.socket_uid >= 0 || p->opt.socket_gid >= 0) &&
	      chown(p->unix_path, (uid_t)p->opt.socket_uid, (gid_t)p->opt.socket_gid) != 0) ||
	     (p->opt.socket_mode >= 0 && chmod(p->unix_path, (mode_t)p->opt.socket_mode) != 0))) {
		str_format_trunc(err, errlen,
		                 "policy service: %s: cannot set its owner or mode: %s", addr->text,
		                 strerror(errno));
		evconnlistener_free(p->listener);
		unlink(p->unix_path);
		prefix_set_free(p->own_allow);
		pfp_instances_free(p->instances);
		free(p);
		return NULL;
	}
	p->pause = acceptpause_new(base, "policyd", POLICYD_ACCEPT_PAUSE_MS);
	if (!p->pause || acceptpause_add(p->pause, p->listener) != 0) {
		str_format_trunc(err, errlen, "out of memory");
		policyd_free(p);
		return NULL;
	}
	evconnlistener_set_error_cb(p->listener, policyd_on_accept_error);
	if (metrics) {
		p->m_requests = metrics_register(metrics, METRIC_COUNTER,
						 "relayguard_policy_requests_total",
						 "Postfix policy requests answered, by protocol state.",
						 "state", NULL, 0);
		p->m_decisions = metrics_register(metrics, METRIC_COUNTER,
						  "relayguard_policy_decisions_total",
						  "Policy decisions, by action.", "action", NULL, 0);
		p->m_refused = metrics_register(
		    metrics, METRIC_COUNTER, "relayguard_policy_connections_refused_total",
		    "Policy service connections from outside [policyd] allow.", NULL, NULL, 0);
		p->m_paused = metrics_register(
		    metrics, METRIC_COUNTER, "relayguard_policy_reads_paused_total",
		    "Times a policy client's unread replies passed the high-water mark and reading "
		    "stopped.",
		    NULL, NULL, 0);
		p->m_errors = metrics_register(metrics, METRIC_COUNTER,
					       "relayguard_policy_store_errors_total",
					       "Requests answered DUNNO because the state store failed.",
					       NULL, NULL, 0);
		static const double lat[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
					     0.01,   0.025,   0.05,   0.1,   0.25,   1};
		p->m_latency = metrics_register(metrics, METRIC_HISTOGRAM,
						"relayguard_policy_decision_seconds",
						"Time the policy engine took per request.", NULL, lat,
						sizeof lat / sizeof lat[0]);
	}
	log_info("policyd listening on %s (%s)", addr->text,
	         p->opt.count_at_rcpt  ? "counting each RCPT as a message"
	         : p->opt.count_at_eom ? "counting at END-OF-MESSAGE"
	                               : "counting each message once by its instance");
	return p;
}

void policyd_free(struct policyd *p)
{
	if (!p)
		return;
	while (p->conns)
		policyd_conn_free(p->conns);
	evconnlistener_free(p->listener);
	acceptpause_free(p->pause);
	if (p->unix_path[0])
		unlink(p->unix_path);
	prefix_set_free(p->own_allow);
	pfp_instances_free(p->instances);
	free(p);
}

unsigned policyd_connections(const struct policyd *p)
{
	return p->nconns;
}
