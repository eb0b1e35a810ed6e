/*
 * screen - DNSBL score, SPF and recipient list for inbound connections
 * (screen.h).
 */
#include "gateway/screen.h"

#include "core/clock.h"
#include "core/hostport.h"
#include "core/log.h"
#include "core/str.h"
#include "dnsbl/builtin.h"
#include "dnsbl/catalog.h"
#include "dnsbl/score.h"
#include "net/dns.h"
#include "smtp/rcptval.h"
#include "smtp/spf.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

struct screen {
	struct event_base *base;
	/* Connections that began under this screen and are not freed yet (a
	 * gone connection whose lookups still run counts): a retired screen (a
	 * reload put another in its place) is freed once they are all gone,
	 * from its own event, never inside one of its lookups' callbacks. */
	unsigned nconns;
	bool retired, freeing;
	struct event *reap;
	struct screen **retired_head; /* with retired: the list it is on */
	struct screen *next, **prevp;
	struct dns *dns;
	struct bl_catalog catalog;
	bool have_catalog;
	struct scorer *scorer; /* NULL: no DNSBL scoring */
	struct rcptval *rcpt;  /* NULL: no recipient list nor callout */
	bool spf;
};

struct screen_conn {
	struct screen *s;
	struct addr ip;
	unsigned pending; /* lookups whose callbacks still owe us */
	bool dead;        /* the connection is gone: the last callback frees */
	/* DNSBL */
	bool scored;
	struct score_result score;
	screen_cb mail_cb;
	void *mail_arg;
	/* SPF */
	struct spf_check *spf;
	bool spf_done;
	enum pol_spf spf_result;
	screen_cb data_cb;
	void *data_arg;
	/* RCPT callout */
	char rcpt_addr[256];
	screen_cb rcpt_cb;
	void *rcpt_arg;
	char rcpt_reply[320];
};

static void screen_on_reap(evutil_socket_t fd, short what, void *arg);

/* The recipient list and/or the callout to the internal server. */
static int screen_rcptval_new(struct screen *s, const struct gw_config *c, char *err, size_t errlen)
{
	char why[256], host[128], port[16];
	struct rcptval_options o;
	rcptval_options_default(&o);
	if (c->screen_callout[0]) {
		struct hostport hp = {0};
		if (hostport_parse(c->screen_callout, 25, &hp, why, sizeof why) != 0 ||
		    hp.wildcard || hp.ss.ss_family == AF_UNIX) {
			str_format_trunc(err, errlen, "[screen] recipient_callout: %s",
			                 hp.wildcard || hp.ss.ss_family == AF_UNIX
			                     ? "an IP address and port is needed"
			                     : why);
			return -1;
		}
		/* hp.text is "1.2.3.4:25" or "[::1]:25" */
		const char *colon = strrchr(hp.text, ':');
		const char *h = hp.text[0] == '[' ? hp.text + 1 : hp.text;
		size_t hl = (size_t)(colon - h) - (hp.text[0] == '[' ? 1 : 0);
		if (hl >= sizeof host || str_copy(port, sizeof port, colon + 1) != 0) {
			str_copy_trunc(err, errlen, "[screen] recipient_callout: too long");
			return -1;
		}
		memcpy(host, h, hl);
		host[hl] = '\0';
		o.callout = true;
		o.callout_host = host;
		o.callout_port = port;
		o.helo = c->hostname[0] ? c->hostname : "relayguard.invalid";
		o.positive_ttl_ms = c->screen_callout_positive_ttl_ms;
		o.negative_ttl_ms = c->screen_callout_negative_ttl_ms;
		o.timeout_ms = (int)c->screen_callout_timeout_ms;
	}
	s->rcpt = rcptval_new(c->local_domains, &o, why, sizeof why);
	if (!s->rcpt) {
		str_format_trunc(err, errlen, "[screen] recipients: %s", why);
		return -1;
	}
	if (c->screen_recipients[0] &&
	    rcptval_add_file(s->rcpt, c->screen_recipients, why, sizeof why) != 0) {
		str_format_trunc(err, errlen, "[screen] recipients: %s", why);
		return -1;
	}
	return 0;
}

struct screen *screen_new(struct event_base *base, const struct gw_config *c, char *err,
                          size_t errlen)
{
	err[0] = '\0';
	bool dnsbl = c->screen_dnsbl_sites[0] != '\0';
	bool any_inbound = false;
	for (int i = 0; i < c->nlisteners; i++)
		any_inbound |= c->listeners[i].role == GW_ROLE_INBOUND;
	bool callout = c->screen_callout[0] != '\0';
	if (!any_inbound || (!dnsbl && !c->screen_spf && !c->screen_recipients[0] && !callout))
		return NULL;
	struct screen *s = calloc(1, sizeof *s);
	if (!s) {
		str_copy_trunc(err, errlen, "out of memory");
		return NULL;
	}
	s->base = base;
	s->spf = c->screen_spf;
	char why[256];
	s->reap = evtimer_new(base, screen_on_reap, s);
	if (!s->reap) {
		str_copy_trunc(err, errlen, "out of memory");
		goto fail;
	}
	if (dnsbl || s->spf) {
		struct dns_options o = {.servers =
		                            c->screen_resolver[0] ? c->screen_resolver : NULL};
		s->dns = dns_new(base, &o, why, sizeof why);
		if (!s->dns) {
			str_format_trunc(err, errlen, "[screen] resolver: %s", why);
			goto fail;
		}
	}
	if (dnsbl) {
		static struct score_site sites[SCORE_MAX_SITES];
		int n = score_sites_parse(c->screen_dnsbl_sites, sites, SCORE_MAX_SITES, why,
		                          sizeof why);
		if (n <= 0) {
			str_format_trunc(err, errlen, "[screen] dnsbl_sites: %s",
			                 n < 0 ? why : "no site");
			goto fail;
		}
		struct score_options o;
		score_options_default(&o);
		o.threshold = (int)c->screen_dnsbl_threshold;
		if (c->screen_dnsbl_allowlist[0]) {
			long long v;
			if (str_to_ll(c->screen_dnsbl_allowlist, -1000, 1000, &v) != 0) {
				str_copy_trunc(err, errlen,
				               "[screen] dnsbl_allowlist_threshold: not a number");
				goto fail;
			}
			o.allowlist = true;
			o.allowlist_threshold = (int)v;
		}
		int rc =
		    c->screen_catalogue[0]
		        ? bl_catalog_load_file(&s->catalog, c->screen_catalogue, why, sizeof why)
		        : bl_catalog_load_string(&s->catalog, bl_builtin_catalog(),
		                                 "built-in catalogue", why, sizeof why);
		if (rc != 0) {
			str_format_trunc(err, errlen, "[screen] catalogue: %s", why);
			goto fail;
		}
		s->have_catalog = true;
		s->scorer =
		    scorer_new(base, s->dns, &s->catalog, sites, (size_t)n, &o, why, sizeof why);
		if (!s->scorer) {
			str_format_trunc(err, errlen, "[screen] dnsbl_sites: %s", why);
			goto fail;
		}
	}
	if (c->screen_recipients[0] || callout) {
		if (screen_rcptval_new(s, c, why, sizeof why) != 0) {
			str_copy_trunc(err, errlen, why);
			goto fail;
		}
	}
	return s;
fail:
	screen_free(s);
	return NULL;
}

void screen_free(struct screen *s)
{
	if (!s || s->freeing)
		return;
	s->freeing = true; /* the cancelled lookups below free their gone connections */
	if (s->retired) {
		*s->prevp = s->next;
		if (s->next)
			s->next->prevp = s->prevp;
	}
	if (s->reap)
		event_free(s->reap);
	if (s->dns)
		dns_free(s->dns); /* first: pending queries are cancelled into the scorer */
	scorer_free(s->scorer);
	if (s->have_catalog)
		bl_catalog_free(&s->catalog);
	rcptval_free(s->rcpt);
	free(s);
}

static void screen_on_reap(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	screen_free(arg);
}

void screen_retire(struct screen *s, struct screen **retired)
{
	if (!s)
		return;
	s->retired = true;
	s->next = *retired;
	if (s->next)
		s->next->prevp = &s->next;
	s->prevp = retired;
	*retired = s;
	if (s->nconns == 0)
		event_active(s->reap, EV_TIMEOUT, 0);
}

void screen_free_retired(struct screen **retired)
{
	while (*retired)
		screen_free(*retired); /* unlinks it */
}

/* The connection's last reference to its screen is gone. */
static void screen_conn_release(struct screen_conn *sc)
{
	struct screen *s = sc->s;
	free(sc);
	if (--s->nconns == 0 && s->retired && !s->freeing)
		event_active(s->reap, EV_TIMEOUT, 0);
}

/* One lookup came back: false when the connection is gone (sc freed here
 * once nothing else is pending). */
static bool screen_conn_back(struct screen_conn *sc)
{
	sc->pending--;
	if (!sc->dead)
		return true;
	if (sc->pending == 0)
		screen_conn_release(sc);
	return false;
}

static void screen_on_score(void *arg, const struct score_result *res)
{
	struct screen_conn *sc = arg;
	if (!screen_conn_back(sc))
		return;
	sc->score = *res;
	sc->scored = true;
	if (sc->mail_cb) {
		screen_cb cb = sc->mail_cb;
		sc->mail_cb = NULL;
		cb(sc->mail_arg, sc->score.decision == SCORE_REJECT ? sc->score.reply : NULL);
	}
}

struct screen_conn *screen_conn_new(struct screen *s, const struct addr *ip)
{
	struct screen_conn *sc = calloc(1, sizeof *sc);
	if (!sc)
		return NULL;
	sc->s = s;
	s->nconns++;
	sc->ip = *ip;
	sc->spf_done = true;
	if (s->scorer) {
		sc->pending++;
		if (scorer_score(s->scorer, ip, screen_on_score, sc) != 0) {
			sc->pending--;
			sc->scored = true; /* no memory: no score, the client goes on */
		}
	} else {
		sc->scored = true;
	}
	return sc;
}

void screen_conn_free(struct screen_conn *sc)
{
	if (!sc)
		return;
	if (sc->spf && !sc->spf_done) {
		spf_check_cancel(sc->spf); /* its callback will not come */
		sc->pending--;
	}
	if (sc->pending) {
		sc->dead = true;
		return;
	}
	screen_conn_release(sc);
}

static void screen_on_spf(void *arg, const struct spf_answer *a)
{
	struct screen_conn *sc = arg;
	sc->spf = NULL;
	if (!screen_conn_back(sc))
		return;
	sc->spf_done = true;
	sc->spf_result = a->result;
	if (sc->data_cb) {
		screen_cb cb = sc->data_cb;
		sc->data_cb = NULL;
		cb(sc->data_arg, NULL);
	}
}

void screen_conn_mail(struct screen_conn *sc, const char *sender, const char *helo, screen_cb cb,
                      void *arg)
{
	if (!sc->scored) {
		/* answered when the score comes; the SPF check starts at the next MAIL
		 * (a rejected client sends none) or now, below, when accepted */
		sc->mail_cb = cb;
		sc->mail_arg = arg;
	}
	if (sc->s->spf) {
		if (sc->spf && !sc->spf_done) {
			spf_check_cancel(sc->spf);
			sc->pending--;
		}
		sc->spf_done = false;
		sc->spf_result = POL_SPF_UNKNOWN;
		sc->pending++;
		sc->spf = spf_check_start(sc->s->base, sc->s->dns, &sc->ip, sender, helo,
		                          screen_on_spf, sc);
		if (!sc->spf) {
			sc->pending--;
			sc->spf_done = true;
			sc->spf_result = POL_SPF_TEMPERROR;
		}
	}
	if (sc->scored)
		cb(arg, sc->score.decision == SCORE_REJECT ? sc->score.reply : NULL);
}

static const char *screen_rcpt_reply(enum rcptval_result r, const char *addr, char *reply,
                                     size_t size)
{
	if (r == RCPTVAL_UNKNOWN)
		str_format_trunc(reply, size,
		                 "550 5.1.1 <%s>: Recipient address rejected: User unknown", addr);
	else if (r == RCPTVAL_TEMPFAIL)
		str_format_trunc(reply, size,
		                 "451 4.4.3 <%s>: Recipient address rejected: unverified address: "
		                 "try again later",
		                 addr);
	else
		return NULL;
	return reply;
}

static void screen_on_callout(void *arg, enum rcptval_result r, int code, const char *text)
{
	struct screen_conn *sc = arg;
	if (!screen_conn_back(sc))
		return;
	/* a 5xx is UNKNOWN; a 4xx or no answer TEMPFAIL */
	if (r != RCPTVAL_OK && r != RCPTVAL_UNKNOWN)
		r = RCPTVAL_TEMPFAIL;
	log_msg(LOG_LEVEL_INFO, "screen: callout <%s>: %s (%d %s)", sc->rcpt_addr,
	        rcptval_result_name(r), code, text ? text : "");
	screen_cb cb = sc->rcpt_cb;
	sc->rcpt_cb = NULL;
	if (cb)
		cb(sc->rcpt_arg,
		   screen_rcpt_reply(r, sc->rcpt_addr, sc->rcpt_reply, sizeof sc->rcpt_reply));
}

void screen_conn_rcpt(struct screen_conn *sc, const char *addr, screen_cb cb, void *arg)
{
	char why[128];
	if (!sc->s->rcpt) {
		cb(arg, NULL);
		return;
	}
	enum rcptval_result r =
	    rcptval_check(sc->s->rcpt, addr, clock_monotonic_ms(), why, sizeof why);
	if (r == RCPTVAL_CALLOUT) {
		if (str_copy(sc->rcpt_addr, sizeof sc->rcpt_addr, addr) == 0) {
			sc->rcpt_cb = cb;
			sc->rcpt_arg = arg;
			sc->pending++;
			if (rcptval_callout(sc->s->rcpt, sc->s->base, addr, screen_on_callout,
			                    sc) == 0)
				return;
			sc->pending--;
			sc->rcpt_cb = NULL;
		}
		r = RCPTVAL_TEMPFAIL;
	}
	cb(arg, screen_rcpt_reply(r, addr, sc->rcpt_reply, sizeof sc->rcpt_reply));
}

void screen_conn_data(struct screen_conn *sc, screen_cb cb, void *arg)
{
	if (sc->spf_done) {
		cb(arg, NULL);
		return;
	}
	sc->data_cb = cb;
	sc->data_arg = arg;
}

void screen_conn_fill(const struct screen_conn *sc, struct pol_event *ev)
{
	ev->spf = sc->spf_done ? sc->spf_result : POL_SPF_UNKNOWN;
	if (!sc->scored || sc->score.nhits == 0)
		return;
	ev->dnsbl_score = sc->score.score;
	for (int i = 0; i < sc->score.nhits; i++) {
		if (sc->score.hits[i].weight <= 0)
			continue;
		if (ev->lists[0])
			str_append_trunc(ev->lists, sizeof ev->lists, ",");
		str_append_trunc(ev->lists, sizeof ev->lists, sc->score.hits[i].zone);
	}
	if (ev->lists[0])
		ev->flags |= POL_F_LISTED;
}
