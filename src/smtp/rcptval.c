/*
 * rcptval - recipient validation: static list, callout cache, callout probe
 * (rcptval.h).
 */
#include "smtp/rcptval.h"

#include "core/dname.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/htab.h"
#include "core/log.h"
#include "core/mailaddr.h"
#include "core/str.h"
#include "smtp/address.h"
#include "smtp/relaytest.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RCPTVAL_ADDR_MAX 256

/* ---- a set of lower-case strings (core/htab of strdup'd keys) ---- */

struct rcptval_set {
	struct htab t;
};

static bool rcptval_str_eq(const void *item, const void *key)
{
	return strcmp(item, key) == 0;
}

static bool rcptval_set_has(const struct rcptval_set *t, const char *k)
{
	return htab_find(&t->t, hash_fnv1a64_str(k), rcptval_str_eq, k) != NULL;
}

static int rcptval_set_add(struct rcptval_set *t, const char *k)
{
	if (rcptval_set_has(t, k))
		return 0;
	char *d = strdup(k);
	if (!d)
		return -1;
	if (htab_insert(&t->t, hash_fnv1a64_str(k), d) != 0) {
		free(d);
		return -1;
	}
	return 0;
}

static size_t rcptval_set_count(const struct rcptval_set *t)
{
	return htab_count(&t->t);
}

static void rcptval_set_free(struct rcptval_set *t)
{
	size_t pos = 0;
	for (char *k; (k = htab_next(&t->t, &pos));)
		free(k);
	htab_free(&t->t);
}

/* ---- the callout cache ---- */

struct rcptval_entry {
	int code;
	int64_t at_ms, expires_ms;
	char addr[]; /* lower case */
};

static bool rcptval_entry_eq(const void *item, const void *key)
{
	return strcmp(((const struct rcptval_entry *)item)->addr, key) == 0;
}

struct rcptval {
	struct rcptval_options opt;
	char host[RELAYTEST_NAME_MAX], port[16], helo[RELAYTEST_NAME_MAX];
	struct rcptval_set domains, users;
	struct htab cache;            /* of rcptval_entry by addr, at most cache_max */
	struct rcptval_probe *probes; /* callouts under way */
};

static void rcptval_probe_end(struct rcptval_probe *p, enum rcptval_result r, int code,
                              const char *text);

static const char *const rcptval_names[] = {"ok", "unknown", "not_local", "callout", "tempfail"};

const char *rcptval_result_name(enum rcptval_result r)
{
	if ((unsigned)r >= sizeof rcptval_names / sizeof rcptval_names[0])
		panic("rcptval: result %d", (int)r);
	return rcptval_names[r];
}

void rcptval_options_default(struct rcptval_options *o)
{
	memset(o, 0, sizeof *o);
	o->positive_ttl_ms = 7 * 86400000ULL;
	o->negative_ttl_ms = 3 * 3600000ULL;
	o->cache_max = 65536;
	o->callout_host = "127.0.0.1";
	o->callout_port = "25";
	o->helo = "relayguard.invalid";
	o->timeout_ms = 10000;
}

/* Walks a list: entries separated by commas, blanks or newlines; # to the end
 * of the line is a comment. fn gets each entry lower-cased. */
static int rcptval_each(const char *list, int (*fn)(struct rcptval *, const char *, char *, size_t),
                        struct rcptval *v, char *err, size_t errlen)
{
	const char *p = list;
	while (*p) {
		if (*p == '#') {
			while (*p && *p != '\n')
				p++;
			continue;
		}
		if (*p == ',' || *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
			p++;
			continue;
		}
		const char *s = p;
		while (*p && *p != ',' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' &&
		       *p != '#')
			p++;
		char item[RCPTVAL_ADDR_MAX];
		if (str_copy_n(item, sizeof item, s, (size_t)(p - s)) != 0) {
			str_format_trunc(err, errlen, "entry too long: %.40s...", s);
			return -1;
		}
		str_lower(item);
		if (fn(v, item, err, errlen) != 0)
			return -1;
	}
	return 0;
}

static bool rcptval_domain_ok(const char *d)
{
	return dname_check(d, strlen(d), 0, NULL, 0) == DNAME_OK;
}

static int rcptval_add_domain(struct rcptval *v, const char *d, char *err, size_t errlen)
{
	if (!rcptval_domain_ok(d)) {
		str_format_trunc(err, errlen, "bad domain: %s", d);
		return -1;
	}
	return rcptval_set_add(&v->domains, d);
}

static int rcptval_add_user(struct rcptval *v, const char *a, char *err, size_t errlen)
{
	/* "@domain": every user of the domain; else one mailbox, checked as
	 * smtp/address checks any. */
	struct smtp_address m;
	const char *dom = a + 1;
	if (a[0] != '@') {
		if (smtp_address_mailbox(a, strlen(a), SMTP_ADDRESS_OPT_SMTPUTF8, &m) !=
		    SMTP_ADDRESS_OK) {
			str_format_trunc(err, errlen,
			                 "bad address (want user@domain or @domain): %s", a);
			return -1;
		}
		dom = m.domain;
	}
	if (!rcptval_domain_ok(dom)) {
		str_format_trunc(err, errlen, "bad address (want user@domain or @domain): %s", a);
		return -1;
	}
	if (!rcptval_set_has(&v->domains, dom)) {
		str_format_trunc(err, errlen, "%s: %s is not a local domain", a, dom);
		return -1;
	}
	return rcptval_set_add(&v->users, a);
}

struct rcptval *rcptval_new(const char *domains, const struct rcptval_options *o, char *err,
                            size_t errlen)
{
	struct rcptval *v = calloc(1, sizeof *v);
	if (!v) {
		str_copy_trunc(err, errlen, "out of memory");
		return NULL;
	}
	if (o)
		v->opt = *o;
	else
		rcptval_options_default(&v->opt);
	if (v->opt.cache_max < 16)
		v->opt.cache_max = 16;
	if (str_copy(v->host, sizeof v->host, v->opt.callout_host ? v->opt.callout_host : "") !=
	    0) {
		str_copy_trunc(err, errlen, "callout host, port or HELO name too long");
		free(v);
		return NULL;
	}
	if (str_copy(v->port, sizeof v->port, v->opt.callout_port ? v->opt.callout_port : "25") !=
	    0) {
		str_copy_trunc(err, errlen, "callout host, port or HELO name too long");
		free(v);
		return NULL;
	}
	if (str_copy(v->helo, sizeof v->helo, v->opt.helo ? v->opt.helo : "relayguard.invalid") !=
	    0) {
		str_copy_trunc(err, errlen, "callout host, port or HELO name too long");
		free(v);
		return NULL;
	}
	v->opt.callout_host = v->host;
	v->opt.callout_port = v->port;
	v->opt.helo = v->helo;
	htab_init(&v->cache, v->opt.cache_max);
	if (rcptval_each(domains ? domains : "", rcptval_add_domain, v, err, errlen) != 0)
		goto fail;
	if (rcptval_set_count(&v->domains) == 0) {
		str_copy_trunc(err, errlen, "no local domains");
		goto fail;
	}
	return v;
fail:
	rcptval_free(v);
	return NULL;
}

void rcptval_free(struct rcptval *v)
{
	if (!v)
		return;
	while (v->probes)
		rcptval_probe_end(v->probes, RCPTVAL_TEMPFAIL, 0, "callout: shutting down");
	rcptval_set_free(&v->domains);
	rcptval_set_free(&v->users);
	size_t pos = 0;
	for (struct rcptval_entry *e; (e = htab_next(&v->cache, &pos));)
		free(e);
	htab_free(&v->cache);
	free(v);
}

int rcptval_add_list(struct rcptval *v, const char *list, char *err, size_t errlen)
{
	return rcptval_each(list, rcptval_add_user, v, err, errlen);
}

int rcptval_add_file(struct rcptval *v, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		str_format_trunc(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	char line[1024];
	unsigned lineno = 0;
	int rc = 0;
	while (rc == 0 && fgets(line, sizeof line, f)) {
		lineno++;
		char why[200];
		if (rcptval_add_list(v, line, why, sizeof why) != 0) {
			str_format_trunc(err, errlen, "%s:%u: %s", path, lineno, why);
			rc = -1;
		}
	}
	fclose(f);
	return rc;
}

static struct rcptval_entry *rcptval_cache_find(struct rcptval *v, const char *addr)
{
	return htab_find(&v->cache, hash_fnv1a64_str(addr), rcptval_entry_eq, addr);
}

/* Drops expired entries (all of them when that frees nothing: a cache, not a store). */
static void rcptval_cache_clean(struct rcptval *v, int64_t now_ms)
{
	size_t pos = 0;
	for (struct rcptval_entry *e; (e = htab_next(&v->cache, &pos));)
		if (e->expires_ms <= now_ms) {
			htab_remove_at(&v->cache, pos);
			free(e);
		}
	if (!htab_full(&v->cache))
		return;
	pos = 0;
	for (struct rcptval_entry *e; (e = htab_next(&v->cache, &pos));)
		free(e);
	htab_free(&v->cache);
}

void rcptval_cache_put(struct rcptval *v, const char *addr, int code, int64_t now_ms)
{
	if (code < 200 || (code >= 400 && code < 500) || code >= 600)
		return;
	char key[RCPTVAL_ADDR_MAX];
	if (str_copy(key, sizeof key, addr) != 0)
		return;
	str_lower(key);
	struct rcptval_entry *e = rcptval_cache_find(v, key);
	if (!e) {
		if (htab_full(&v->cache))
			rcptval_cache_clean(v, now_ms);
		size_t n = strlen(key) + 1;
		e = malloc(sizeof *e + n);
		if (!e)
			return;
		memcpy(e->addr, key, n);
		if (htab_insert(&v->cache, hash_fnv1a64_str(key), e) != 0) {
			free(e);
			return;
		}
	}
	e->code = code;
	e->at_ms = now_ms;
	e->expires_ms =
	    now_ms + (int64_t)(code < 300 ? v->opt.positive_ttl_ms : v->opt.negative_ttl_ms);
}

size_t rcptval_cache_size(const struct rcptval *v)
{
	return htab_count(&v->cache);
}

enum rcptval_result rcptval_check(struct rcptval *v, const char *addr, int64_t now_ms, char *why,
                                  size_t whylen)
{
	char key[RCPTVAL_ADDR_MAX], any[RCPTVAL_ADDR_MAX];
	str_copy_trunc(why, whylen, "");
	if (str_copy(key, sizeof key, addr) != 0) {
		str_copy_trunc(why, whylen, "address too long");
		return RCPTVAL_UNKNOWN;
	}
	str_lower(key);
	const char *at = mailaddr_at(key);
	if (!at || !rcptval_set_has(&v->domains, at + 1))
		return RCPTVAL_NOT_LOCAL;
	if (rcptval_set_has(&v->users, key)) {
		str_copy_trunc(why, whylen, "static list");
		return RCPTVAL_OK;
	}
	if (str_copy(any, sizeof any, at) != 0)
		panic("rcptval_check: any does not fit");
	if (rcptval_set_has(&v->users, any)) {
		str_format_trunc(why, whylen, "static list (%s)", any);
		return RCPTVAL_OK;
	}
	if (!v->opt.callout) {
		str_copy_trunc(why, whylen, "not in the static list");
		return RCPTVAL_UNKNOWN;
	}
	struct rcptval_entry *e = rcptval_cache_find(v, key);
	if (e && e->expires_ms > now_ms) {
		str_format_trunc(why, whylen, "callout cache: %d, %lld s ago", e->code,
		                 (long long)((now_ms - e->at_ms) / 1000));
		return e->code < 300 ? RCPTVAL_OK : RCPTVAL_UNKNOWN;
	}
	str_copy_trunc(why, whylen, "not cached");
	return RCPTVAL_CALLOUT;
}

/* ---- the callout probe ---- */

enum rcptval_step { RV_GREETING = 0, RV_EHLO, RV_MAIL, RV_RCPT, RV_QUIT };

struct rcptval_probe {
	struct rcptval *v;
	struct rcptval_probe *next, **prevp; /* in v->probes */
	struct bufferevent *bev;
	struct event *timer;
	enum rcptval_step step;
	char addr[RCPTVAL_ADDR_MAX];
	rcptval_callback cb;
	void *arg;
	int code;
	char text[RELAYTEST_TEXT_MAX];
	bool answered;
};

/* Takes p off v->probes. */
static void rcptval_probe_unlink(struct rcptval_probe *p)
{
	*p->prevp = p->next;
	if (p->next)
		p->next->prevp = p->prevp;
}

static void rcptval_probe_end(struct rcptval_probe *p, enum rcptval_result r, int code,
                              const char *text)
{
	rcptval_probe_unlink(p);
	if (!p->answered) {
		p->answered = true;
		if (code)
			rcptval_cache_put(p->v, p->addr, code, clock_monotonic_ms());
		p->cb(p->arg, r, code, text);
	}
	if (p->bev)
		bufferevent_free(p->bev);
	if (p->timer)
		event_free(p->timer);
	free(p);
}

static void rcptval_send(struct rcptval_probe *p, const char *line)
{
	(void)bufferevent_write(p->bev, line, strlen(line));
	(void)bufferevent_write(p->bev, "\r\n", 2);
}

static void rcptval_on_read(struct bufferevent *bev, void *arg)
{
	struct rcptval_probe *p = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	for (;;) {
		size_t len = evbuffer_get_length(in);
		if (len == 0)
			return;
		if (len > RELAYTEST_INPUT_MAX) {
			rcptval_probe_end(p, RCPTVAL_TEMPFAIL, 0, "callout: reply too long");
			return;
		}
		const char *data = (const char *)evbuffer_pullup(in, (ssize_t)len);
		struct relaytest_reply r;
		size_t used = 0;
		int rc = relaytest_reply_parse(data, len, &r, &used);
		if (rc == 0)
			return;
		if (rc < 0) {
			rcptval_probe_end(p, RCPTVAL_TEMPFAIL, 0, "callout: malformed reply");
			return;
		}
		(void)evbuffer_drain(in, used);
		char line[RCPTVAL_ADDR_MAX + 16];
		switch (p->step) {
		case RV_GREETING:
			if (r.code != 220) {
				rcptval_probe_end(p, RCPTVAL_TEMPFAIL, 0, r.text);
				return;
			}
			if (str_format(line, sizeof line, "EHLO %s", p->v->helo) != 0) {
				rcptval_probe_end(p, RCPTVAL_TEMPFAIL, 0, "EHLO name too long");
				return;
			}
			rcptval_send(p, line);
			p->step = RV_EHLO;
			break;
		case RV_EHLO:
			if (r.code != 250) {
				rcptval_probe_end(p, RCPTVAL_TEMPFAIL, 0, r.text);
				return;
			}
			rcptval_send(p, "MAIL FROM:<>");
			p->step = RV_MAIL;
			break;
		case RV_MAIL:
			if (r.code != 250) {
				rcptval_probe_end(p, RCPTVAL_TEMPFAIL, 0, r.text);
				return;
			}
			if (str_format(line, sizeof line, "RCPT TO:<%s>", p->addr) != 0)
				panic("rcptval_on_read: line does not fit");
			rcptval_send(p, line);
			p->step = RV_RCPT;
			break;
		case RV_RCPT:
			p->code = r.code;
			str_copy_trunc(p->text, sizeof p->text, r.text);
			rcptval_send(p, "QUIT");
			p->step = RV_QUIT;
			if (r.code >= 200 && r.code < 300)
				rcptval_probe_end(p, RCPTVAL_OK, r.code, r.text);
			else if (r.code >= 500)
				rcptval_probe_end(p, RCPTVAL_UNKNOWN, r.code, r.text);
			else
				rcptval_probe_end(p, RCPTVAL_TEMPFAIL, 0, r.text);
			return;
		case RV_QUIT:
			return;
		}
	}
}

static void rcptval_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct rcptval_probe *p = arg;
	if (what & BEV_EVENT_CONNECTED)
		return;
	rcptval_probe_end(p, RCPTVAL_TEMPFAIL, 0, "callout: connection failed or closed");
}

static void rcptval_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	rcptval_probe_end(arg, RCPTVAL_TEMPFAIL, 0, "callout: timeout");
}

int rcptval_callout(struct rcptval *v, struct event_base *base, const char *addr,
                    rcptval_callback cb, void *arg)
{
	struct sockaddr_storage ss;
	int sslen = sizeof ss;
	char hp[RELAYTEST_NAME_MAX + 24];
	if (strchr(v->host, ':')) {
		if (str_format(hp, sizeof hp, "[%s]:%s", v->host, v->port) != 0)
			panic("rcptval_callout: hp does not fit");
	} else {
		if (str_format(hp, sizeof hp, "%s:%s", v->host, v->port) != 0)
			panic("rcptval_callout: hp does not fit");
	}
	if (evutil_parse_sockaddr_port(hp, (struct sockaddr *)&ss, &sslen) != 0)
		return -1;
	for (const char *c = addr; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == '<' || *c == '>')
			return -1; /* nothing that could break the probe's command line */
	struct rcptval_probe *p = calloc(1, sizeof *p);
	if (!p)
		return -1;
	p->v = v;
	p->cb = cb;
	p->arg = arg;
	if (str_copy(p->addr, sizeof p->addr, addr) != 0)
		goto fail;
	p->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	p->timer = evtimer_new(base, rcptval_on_timeout, p);
	if (!p->bev || !p->timer)
		goto fail;
	bufferevent_setcb(p->bev, rcptval_on_read, NULL, rcptval_on_event, p);
	(void)bufferevent_enable(p->bev, EV_READ | EV_WRITE);
	struct timeval tv = {v->opt.timeout_ms / 1000, (v->opt.timeout_ms % 1000) * 1000};
	if (evtimer_add(p->timer, &tv) != 0)
		goto fail;
	p->next = v->probes;
	p->prevp = &v->probes;
	if (v->probes)
		v->probes->prevp = &p->next;
	v->probes = p;
	/* a failed connect is reported through rcptval_on_event, from the loop */
	if (bufferevent_socket_connect(p->bev, (struct sockaddr *)&ss, sslen) != 0) {
		rcptval_probe_unlink(p);
		goto fail;
	}
	return 0;
fail:
	if (p->bev)
		bufferevent_free(p->bev);
	if (p->timer)
		event_free(p->timer);
	free(p);
	return -1;
}
