/*
 * dns - c-ares on libevent, plus a fake backend for tests; see dns.h.
 *
 * c-ares tells us which sockets it wants watched (sock_state_cb); we keep one
 * libevent event per socket and one timer for c-ares' next timeout. Every
 * callback path ends in dns_rearm(), which reschedules that timer.
 *
 * c-ares retries a query only after its fixed per-try timeout (2 s by default),
 * so one answer lost in a burst stalls a whole check. On top of it we keep a
 * round-trip estimate from answered queries (smoothed RTT + 4 x variance, as TCP
 * and unbound do; Karn's rule: no samples from resent queries) and, when a query
 * is unanswered after that long, send a copy of it ourselves, backing off twice
 * each time. The first real answer of any copy wins; the original's own outcome
 * (its c-ares timeout included) still ends the request, so the overall deadline
 * is unchanged.
 */
#include "net/dns.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"

#include <ares.h>
#include <arpa/nameser.h>
#include <event2/event.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define DNS_RTO_MIN_MS 50.0
#define DNS_RTO_INIT_MS 300.0
#define DNS_MAX_RESENDS 3

struct dns_sock {
	struct dns_sock *next;
	ares_socket_t fd;
	struct event *ev;
	struct dns *d;
};

struct dns_fake_entry {
	struct dns_fake_entry *next;
	char name[DNS_NAME_MAX];
	enum dns_type type;
	struct dns_result res;
};

struct dns_req {
	struct dns_req *next, *prev;
	struct dns *d;
	enum dns_type type;
	dns_callback cb;
	void *arg;
	struct event *ev; /* fake backend: delivery event; c-ares: resend timer */
	const struct dns_result *fake;
	char name[DNS_NAME_MAX];
	double sent_ms;       /* when the original was sent (monotonic) */
	unsigned outstanding; /* c-ares queries of this request not yet called back */
	unsigned resends;
	bool delivered;
};

/* One c-ares query of a request: the original or a resent copy. */
struct dns_try {
	struct dns_req *r;
	bool original;
};

struct dns {
	struct event_base *base;
	bool fake;
	ares_channel channel;
	struct event *timer;
	struct dns_sock *socks;
	struct dns_req *reqs; /* in flight */
	unsigned pending;
	bool freeing;
	struct dns_fake_entry *table;
	unsigned long fake_queries;
	int timeout_ms; /* c-ares per-try timeout: the resend interval's cap */
	bool have_rtt;
	double srtt, rttvar;  /* ms */
	unsigned long resent; /* copies sent by us */
};

static int dns_lib_refs;

const char *dns_status_name(enum dns_status s)
{
	switch (s) {
	case DNS_OK:
		return "ok";
	case DNS_NODATA:
		return "nodata";
	case DNS_NXDOMAIN:
		return "nxdomain";
	case DNS_SERVFAIL:
		return "servfail";
	case DNS_REFUSED:
		return "refused";
	case DNS_TIMEOUT:
		return "timeout";
	case DNS_BADRESP:
		return "bad response";
	case DNS_ERROR:
		return "error";
	case DNS_CANCELLED:
		return "cancelled";
	}
	return "error";
}

const char *dns_type_name(enum dns_type t)
{
	switch (t) {
	case DNS_T_A:
		return "A";
	case DNS_T_AAAA:
		return "AAAA";
	case DNS_T_TXT:
		return "TXT";
	case DNS_T_MX:
		return "MX";
	case DNS_T_PTR:
		return "PTR";
	}
	return "?";
}

static enum dns_status dns_map_status(int st)
{
	switch (st) {
	case ARES_SUCCESS:
		return DNS_OK;
	case ARES_ENODATA:
		return DNS_NODATA;
	case ARES_ENOTFOUND:
		return DNS_NXDOMAIN;
	case ARES_ESERVFAIL:
		return DNS_SERVFAIL;
	case ARES_EREFUSED:
		return DNS_REFUSED;
	case ARES_ETIMEOUT:
		return DNS_TIMEOUT;
	case ARES_EBADRESP:
	case ARES_EFORMERR:
		return DNS_BADRESP;
	case ARES_EDESTRUCTION:
	case ARES_ECANCELLED:
		return DNS_CANCELLED;
	default:
		return DNS_ERROR;
	}
}

static void dns_parse_addrs(enum dns_type type, const unsigned char *abuf, int alen,
			    struct dns_result *out)
{
	if (type == DNS_T_A) {
		struct ares_addrttl at[DNS_MAX_ADDRS];
		int n = DNS_MAX_ADDRS;
		int st = ares_parse_a_reply(abuf, alen, NULL, at, &n);
		if (st != ARES_SUCCESS) {
			out->status = st == ARES_ENODATA ? DNS_NODATA : DNS_BADRESP;
			return;
		}
		for (int i = 0; i < n && i < DNS_MAX_ADDRS; i++) {
			out->addrs[i].family = 4;
			memcpy(out->addrs[i].bytes, &at[i].ipaddr, 4);
			if (i == 0 || (uint32_t)at[i].ttl < out->ttl)
				out->ttl = at[i].ttl < 0 ? 0 : (uint32_t)at[i].ttl;
		}
		out->naddrs = n < DNS_MAX_ADDRS ? n : DNS_MAX_ADDRS;
	} else {
		struct ares_addr6ttl at[DNS_MAX_ADDRS];
		int n = DNS_MAX_ADDRS;
		int st = ares_parse_aaaa_reply(abuf, alen, NULL, at, &n);
		if (st != ARES_SUCCESS) {
			out->status = st == ARES_ENODATA ? DNS_NODATA : DNS_BADRESP;
			return;
		}
		for (int i = 0; i < n && i < DNS_MAX_ADDRS; i++) {
			out->addrs[i].family = 6;
			memcpy(out->addrs[i].bytes, &at[i].ip6addr, 16);
			if (i == 0 || (uint32_t)at[i].ttl < out->ttl)
				out->ttl = at[i].ttl < 0 ? 0 : (uint32_t)at[i].ttl;
		}
		out->naddrs = n < DNS_MAX_ADDRS ? n : DNS_MAX_ADDRS;
	}
	if (out->naddrs == 0)
		out->status = DNS_NODATA;
}

static void dns_parse_txt(const unsigned char *abuf, int alen, struct dns_result *out)
{
	struct ares_txt_ext *txt = NULL;
	int st = ares_parse_txt_reply_ext(abuf, alen, &txt);
	if (st != ARES_SUCCESS) {
		out->status = st == ARES_ENODATA ? DNS_NODATA : DNS_BADRESP;
		return;
	}
	size_t o = 0;
	for (struct ares_txt_ext *t = txt; t; t = t->next) {
		if (t->record_start && o > 0 && o + 3 < sizeof out->txt) {
			memcpy(out->txt + o, " | ", 3);
			o += 3;
		}
		/* Unprintable bytes in a TXT record are replaced, never passed on. */
		for (size_t i = 0; i < t->length && o + 1 < sizeof out->txt; i++) {
			unsigned char c = t->txt[i];
			out->txt[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
		}
	}
	out->txt[o] = '\0';
	ares_free_data(txt);
	if (o == 0)
		out->status = DNS_NODATA;
}

static void dns_parse_mx(const unsigned char *abuf, int alen, struct dns_result *out)
{
	struct ares_mx_reply *mx = NULL;
	int st = ares_parse_mx_reply(abuf, alen, &mx);
	if (st != ARES_SUCCESS) {
		out->status = st == ARES_ENODATA ? DNS_NODATA : DNS_BADRESP;
		return;
	}
	for (struct ares_mx_reply *m = mx; m && out->nmx < DNS_MAX_MX; m = m->next) {
		struct dns_mx *o = &out->mx[out->nmx];
		if (str_copy(o->host, sizeof o->host, m->host) != 0)
			continue;
		o->pref = m->priority;
		out->nmx++;
	}
	ares_free_data(mx);
	if (out->nmx == 0)
		out->status = DNS_NODATA;
}

static void dns_parse_ptr(const unsigned char *abuf, int alen, struct dns_result *out)
{
	struct hostent *he = NULL;
	int st = ares_parse_ptr_reply(abuf, alen, NULL, 0, AF_INET, &he);
	if (st != ARES_SUCCESS) {
		out->status = st == ARES_ENODATA ? DNS_NODATA : DNS_BADRESP;
		return;
	}
	if (!he->h_name || str_copy(out->ptr, sizeof out->ptr, he->h_name) != 0)
		out->status = DNS_BADRESP;
	ares_free_hostent(he);
}

void dns_parse(enum dns_type type, int ares_status, const unsigned char *abuf, int alen,
	       struct dns_result *out)
{
	memset(out, 0, sizeof *out);
	out->type = type;
	out->status = dns_map_status(ares_status);
	if (ares_status == ARES_ECONNREFUSED)
		str_copy_trunc(out->error, sizeof out->error,
		               "no answer: every server refused the query or could not be reached");
	else if (out->status == DNS_ERROR)
		str_copy_trunc(out->error, sizeof out->error, ares_strerror(ares_status));
	if (out->status != DNS_OK)
		return;
	if (!abuf || alen <= 0) {
		out->status = DNS_BADRESP;
		return;
	}
	switch (type) {
	case DNS_T_A:
	case DNS_T_AAAA:
		dns_parse_addrs(type, abuf, alen, out);
		break;
	case DNS_T_TXT:
		dns_parse_txt(abuf, alen, out);
		break;
	case DNS_T_MX:
		dns_parse_mx(abuf, alen, out);
		break;
	case DNS_T_PTR:
		dns_parse_ptr(abuf, alen, out);
		break;
	default:
		out->status = DNS_ERROR;
	}
}

/* ---- request bookkeeping ---- */

static struct dns_req *dns_req_new(struct dns *d, enum dns_type type, dns_callback cb, void *arg)
{
	struct dns_req *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->d = d;
	r->type = type;
	r->cb = cb;
	r->arg = arg;
	r->next = d->reqs;
	if (d->reqs)
		d->reqs->prev = r;
	d->reqs = r;
	d->pending++;
	return r;
}

/* Delivers the result once; the request is freed when no c-ares query of it is
 * left (later copies' callbacks only count down). */
static void dns_req_done(struct dns_req *r, const struct dns_result *res)
{
	struct dns *d = r->d;
	if (r->prev)
		r->prev->next = r->next;
	else
		d->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	d->pending--;
	if (r->ev)
		event_free(r->ev);
	r->ev = NULL;
	r->delivered = true;
	dns_callback cb = r->cb;
	void *arg = r->arg;
	if (r->outstanding == 0)
	free(r);
	cb(arg, res);
}

/* ---- c-ares backend ---- */

/* Round trips are latency measurements: the uncached monotonic clock (under a
 * fake clock it reads 0, every RTT is 0 and the RTO sits at its floor). */
static double dns_now_ms(void)
{
	return (double)clock_elapsed_us() / 1000.0;
}

/* How long to wait for an answer before sending a copy. */
static double dns_rto(const struct dns *d)
{
	double rto = d->have_rtt ? d->srtt + 4.0 * d->rttvar : DNS_RTO_INIT_MS;
	if (rto < DNS_RTO_MIN_MS)
		rto = DNS_RTO_MIN_MS;
	if (rto > d->timeout_ms)
		rto = d->timeout_ms;
	return rto;
}

static void dns_arm_ms(struct event *ev, double ms)
{
	long us = (long)(ms * 1000.0);
	struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
	evtimer_add(ev, &tv);
}

static void dns_rtt_sample(struct dns *d, double ms)
{
	if (!d->have_rtt) {
		d->srtt = ms;
		d->rttvar = ms / 2.0;
		d->have_rtt = true;
		return;
	}
	double dev = d->srtt > ms ? d->srtt - ms : ms - d->srtt;
	d->rttvar = 0.75 * d->rttvar + 0.25 * dev;
	d->srtt = 0.875 * d->srtt + 0.125 * ms;
}

static void dns_ares_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen);

/* Sends one c-ares query for r. May call back (and so deliver r) at once. */
static void dns_send_try(struct dns_req *r, bool original)
{
	struct dns_try *t = malloc(sizeof *t);
	if (!t)
		fatal("dns: out of memory");
	t->r = r;
	t->original = original;
	r->outstanding++;
	ares_query(r->d->channel, r->name, C_IN, (int)r->type, dns_ares_cb, t);
}

static void dns_rearm(struct dns *d);

/* The resend timer: the wait is RTO << resends, measured from the last send;
 * the RTO is read afresh, so answers that came in meanwhile shorten it. */
static void dns_on_resend(evutil_socket_t fd, short what, void *arg)
{
	struct dns_req *r = arg;
	struct dns *d = r->d;
	if (r->delivered || d->freeing || r->resends >= DNS_MAX_RESENDS)
		return;
	double wait = dns_rto(d) * (double)(1u << r->resends);
	double left = r->sent_ms + wait - dns_now_ms();
	if (left > 0.5) {
		dns_arm_ms(r->ev, left);
		return;
	}
	r->resends++;
	d->resent++;
	r->sent_ms = dns_now_ms();
	if (r->resends < DNS_MAX_RESENDS) {
		double next = dns_rto(d) * (double)(1u << r->resends);
		dns_arm_ms(r->ev, next);
	}
	dns_send_try(r, false);
	dns_rearm(d);
}

static void dns_rearm(struct dns *d)
{
	if (d->fake || d->freeing)
		return;
	struct timeval tv, *tvp = ares_timeout(d->channel, NULL, &tv);
	if (tvp)
		evtimer_add(d->timer, tvp);
	else
		evtimer_del(d->timer);
}

static void dns_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct dns *d = arg;
	ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_rearm(d);
}

static void dns_on_sock(evutil_socket_t fd, short what, void *arg)
{
	struct dns_sock *s = arg;
	struct dns *d = s->d;
	ares_process_fd(d->channel, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
			(what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	dns_rearm(d);
}

static void dns_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns *d = data;
	struct dns_sock **pp = &d->socks, *s;
	for (s = *pp; s; pp = &s->next, s = s->next)
		if (s->fd == fd)
			break;
	if (!readable && !writable) {
		if (s) {
			event_free(s->ev);
			*pp = s->next;
			free(s);
		}
		return;
	}
	if (!s) {
		s = calloc(1, sizeof *s);
		if (!s)
			fatal("dns: out of memory");
		s->fd = fd;
		s->d = d;
		s->next = d->socks;
		d->socks = s;
	} else {
		event_free(s->ev);
	}
	short what = EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);
	s->ev = event_new(d->base, fd, what, dns_on_sock, s);
	if (!s->ev || event_add(s->ev, NULL) != 0)
		fatal("dns: cannot watch a resolver socket");
}

struct dns *dns_new(struct event_base *base, const struct dns_options *opt, char *err,
		    size_t errlen)
{
	if (dns_lib_refs++ == 0 && ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
		dns_lib_refs--;
		str_format_trunc(err, errlen, "cannot initialise c-ares");
		return NULL;
	}
	struct dns *d = calloc(1, sizeof *d);
	if (!d) {
		str_format_trunc(err, errlen, "out of memory");
		goto fail;
	}
	d->base = base;
	struct ares_options ao;
	memset(&ao, 0, sizeof ao);
	ao.sock_state_cb = dns_sock_state;
	ao.sock_state_cb_data = d;
	ao.timeout = opt && opt->timeout_ms > 0 ? opt->timeout_ms : 2000;
	d->timeout_ms = ao.timeout;
	ao.tries = opt && opt->tries > 0 ? opt->tries : 2;
	ao.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
	/* Hundreds of queries go out at once; a nearby server answers them in a burst
	 * that overflows the default receive buffer (~200 KiB), and every dropped
	 * answer becomes a timeout. The kernel caps this at net.core.rmem_max. */
	ao.socket_receive_buffer_size = 1 << 20;
	int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS |
		   ARES_OPT_SOCK_RCVBUF;
	int st = ares_init_options(&d->channel, &ao, mask);
	if (st != ARES_SUCCESS) {
		str_format_trunc(err, errlen, "cannot start the resolver: %s", ares_strerror(st));
		free(d);
		goto fail;
	}
	if (opt && opt->servers && *opt->servers) {
		st = ares_set_servers_ports_csv(d->channel, opt->servers);
		if (st != ARES_SUCCESS) {
			str_format_trunc(err, errlen, "bad resolver address '%s': %s", opt->servers,
			                 ares_strerror(st));
			ares_destroy(d->channel);
			free(d);
			goto fail;
		}
	}
	d->timer = evtimer_new(base, dns_on_timer, d);
	if (!d->timer) {
		str_format_trunc(err, errlen, "out of memory");
		ares_destroy(d->channel);
		free(d);
		goto fail;
	}
	return d;
fail:
	if (--dns_lib_refs == 0)
		ares_library_cleanup();
	return NULL;
}

static void dns_ares_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_try *t = arg;
	struct dns_req *r = t->r;
	bool original = t->original;
	free(t);
	r->outstanding--;
	if (r->delivered) {
		if (r->outstanding == 0)
			free(r);
		return;
	}
	/* A copy timing out while others may still be answered: keep waiting. */
	if (status == ARES_ETIMEOUT && !original && r->outstanding > 0)
		return;
	if (original && r->resends == 0 && abuf && alen > 0 && timeouts == 0)
		dns_rtt_sample(r->d, dns_now_ms() - r->sent_ms);
	struct dns_result *res = malloc(sizeof *res);
	if (!res)
		fatal("dns: out of memory");
	dns_parse(r->type, status, abuf, alen, res);
	dns_req_done(r, res);
	free(res);
}

/* ---- fake backend ---- */

struct dns *dns_new_fake(struct event_base *base)
{
	struct dns *d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	d->base = base;
	d->fake = true;
	return d;
}

int dns_fake_add(struct dns *d, const char *name, enum dns_type type, const struct dns_result *r)
{
	struct dns_fake_entry *e = calloc(1, sizeof *e);
	if (!e)
		return -1;
	if (str_copy(e->name, sizeof e->name, name) != 0) {
		free(e);
		return -1;
	}
	e->type = type;
	e->res = *r;
	e->res.type = type;
	e->next = d->table;
	d->table = e;
	return 0;
}

unsigned long dns_fake_queries(const struct dns *d)
{
	return d->fake_queries;
}

static void dns_fake_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct dns_req *r = arg;
	struct dns_result res;
	if (r->fake) {
		res = *r->fake;
	} else {
		memset(&res, 0, sizeof res);
		res.type = r->type;
		res.status = DNS_NXDOMAIN;
	}
	dns_req_done(r, &res);
}

/* ---- common ---- */

int dns_query(struct dns *d, const char *name, enum dns_type type, dns_callback cb, void *arg)
{
	if (d->freeing || strlen(name) >= DNS_NAME_MAX)
		return -1;
	struct dns_req *r = dns_req_new(d, type, cb, arg);
	if (!r)
		return -1;
	if (d->fake) {
		d->fake_queries++;
		for (struct dns_fake_entry *e = d->table; e; e = e->next)
			if (e->type == type && strcasecmp(e->name, name) == 0) {
				r->fake = &e->res;
				break;
			}
		static const struct timeval zero = {0, 0};
		r->ev = evtimer_new(d->base, dns_fake_deliver, r);
		if (!r->ev || evtimer_add(r->ev, &zero) != 0)
			fatal("dns: out of memory");
		return 0;
	}
	if (str_copy(r->name, sizeof r->name, name) != 0)
		panic("dns_query: the name's length was checked at the top");
	r->ev = evtimer_new(d->base, dns_on_resend, r);
	if (!r->ev)
		fatal("dns: out of memory");
	r->sent_ms = dns_now_ms();
	double rto = dns_rto(d);
	dns_arm_ms(r->ev, rto);
	dns_send_try(r, true);
	dns_rearm(d);
	return 0;
}

unsigned dns_pending(const struct dns *d)
{
	return d->pending;
}

unsigned long dns_resent(const struct dns *d)
{
	return d->resent;
}

void dns_free(struct dns *d)
{
	if (!d)
		return;
	d->freeing = true;
	if (d->fake) {
		struct dns_result res;
		memset(&res, 0, sizeof res);
		res.status = DNS_CANCELLED;
		while (d->reqs) {
			res.type = d->reqs->type;
			dns_req_done(d->reqs, &res);
		}
		while (d->table) {
			struct dns_fake_entry *e = d->table;
			d->table = e->next;
			free(e);
		}
		free(d);
		return;
	}
	/* ares_destroy calls every pending callback with ARES_EDESTRUCTION. */
	ares_destroy(d->channel);
	while (d->socks) {
		struct dns_sock *s = d->socks;
		d->socks = s->next;
		event_free(s->ev);
		free(s);
	}
	event_free(d->timer);
	free(d);
	if (--dns_lib_refs == 0)
		ares_library_cleanup();
}
