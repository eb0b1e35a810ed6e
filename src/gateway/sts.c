/*
 * sts - the MTA-STS lookup: TXT, cache, HTTPS fetch, cache file.
 *
 * A request lives until its last callback from below (a DNS answer, the
 * HTTP reply or the finishing event): cancelling only clears its callback
 * and frees the HTTP connection, so no callback ever reaches freed memory.
 *
 * Cache file STATE_DIR/mta-sts/DOMAIN: one line "rgsts1 ID EXPIRES_MS",
 * then the policy file as fetched (parsed again when loaded; a file that
 * does not parse is ignored).
 */
#include "gateway/sts.h"

#include "core/dname.h"
#include "core/clock.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/str.h"
#include "net/dns.h"
#include "net/tls.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <fcntl.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <unistd.h>

#define STS_CACHE_MAX 1024 /* domains kept in memory */

struct sts_entry {
	struct sts_entry *next;
	char domain[MTASTS_NAME_MAX];
	char id[MTASTS_ID_MAX];
	int64_t expires_ms;
	struct mtasts_policy policy;
};

struct sts {
	struct event_base *base;
	struct dns *dns;
	SSL_CTX *ssl;
	char dir[600];
	unsigned port;
	uint64_t timeout_ms;
	struct sts_entry *cache;
	unsigned ncache;
	LIST_HEAD(, sts_req) reqs;
};

struct sts_req {
	struct sts *s;
	LIST_ENTRY(sts_req) link;
	bool linked; /* on s->reqs (sts_free detaches what DNS still holds) */
	char domain[MTASTS_NAME_MAX];
	char id[MTASTS_ID_MAX]; /* of the TXT record */
	sts_cb cb;
	void *arg;
	int pending; /* DNS answers still to come */
	struct evhttp_connection *conn;
	struct event *fin;
	struct sts_result res;
};

/* ---- the cache ---- */

static struct sts_entry *sts_cache_find(struct sts *s, const char *domain)
{
	for (struct sts_entry *e = s->cache; e; e = e->next)
		if (strcmp(e->domain, domain) == 0)
			return e;
	return NULL;
}

static int sts_path(const struct sts *s, const char *domain, char *out, size_t size)
{
	return str_format(out, size, "%s/%s", s->dir, domain);
}

/* The memory entry of domain, loaded from its file when not in memory yet. */
static struct sts_entry *sts_cache_get(struct sts *s, const char *domain)
{
	struct sts_entry *e = sts_cache_find(s, domain);
	if (e)
		return e;
	char p[900];
	if (sts_path(s, domain, p, sizeof p) != 0)
		return NULL;
	FILE *f = fopen(p, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(MTASTS_POLICY_MAX + 128);
	size_t n = buf ? fread(buf, 1, MTASTS_POLICY_MAX + 127, f) : 0;
	fclose(f);
	if (!buf)
		return NULL;
	buf[n] = '\0';
	char *nl = memchr(buf, '\n', n);
	char id[MTASTS_ID_MAX];
	long long exp;
	struct mtasts_policy pol;
	char err[100];
	char *fields[4];
	if (nl) {
		*nl = '\0';
		if (str_split(buf, " ", fields, 4) == 3 && strcmp(fields[0], "rgsts1") == 0 &&
		    str_copy(id, sizeof id, fields[1]) == 0 &&
		    str_to_ll(fields[2], 0, INT64_MAX, &exp) == 0 &&
		    mtasts_parse_policy(nl + 1, n - (size_t)(nl + 1 - buf), &pol, err,
		                        sizeof err) == 0 &&
		    (e = calloc(1, sizeof *e)) != NULL) {
			if (str_copy(e->domain, sizeof e->domain, domain) != 0)
				panic("sts_cache_get: e->domain does not fit");
			if (str_copy(e->id, sizeof e->id, id) != 0)
				panic("sts_cache_get: e->id does not fit");
			e->expires_ms = exp;
			e->policy = pol;
			e->next = s->cache;
			s->cache = e;
			s->ncache++;
		}
	}
	free(buf);
	return e;
}

static void sts_cache_put(struct sts *s, const char *domain, const char *id,
                          const struct mtasts_policy *pol, const char *text, size_t len)
{
	struct sts_entry *e = sts_cache_find(s, domain);
	if (!e) {
		if (s->ncache >= STS_CACHE_MAX || !(e = calloc(1, sizeof *e)))
			return;
		if (str_copy(e->domain, sizeof e->domain, domain) != 0)
			panic("sts_cache_put: e->domain does not fit");
		e->next = s->cache;
		s->cache = e;
		s->ncache++;
	}
	if (str_copy(e->id, sizeof e->id, id) != 0)
		panic("sts_cache_put: e->id does not fit");
	e->expires_ms = clock_realtime_ms() + (int64_t)pol->max_age * 1000;
	e->policy = *pol;
	char head[128], p[900], err[200];
	size_t hl;
	if (str_format(head, sizeof head, "rgsts1 %s %lld\n", id, (long long)e->expires_ms) != 0)
		panic("sts_cache_put: head does not fit");
	hl = strlen(head);
	char *buf = malloc(hl + len);
	if (!buf || sts_path(s, domain, p, sizeof p) != 0) {
		free(buf);
		return;
	}
	memcpy(buf, head, hl);
	memcpy(buf + hl, text, len);
	(void)mkdir(s->dir, 0700);
	if (fsutil_write_atomic(p, buf, hl + len, 0600, err, sizeof err) != 0)
		log_warn("mta-sts: %s: cache not saved: %s", domain, err);
	free(buf);
}

/* ---- requests ---- */

static void sts_req_free(struct sts_req *r)
{
	if (r->linked)
		LIST_REMOVE(r, link);
	if (r->conn)
		evhttp_connection_free(r->conn);
	if (r->fin)
		event_free(r->fin);
	free(r);
}

static void sts_on_fin(evutil_socket_t fd, short what, void *arg)
{
	struct sts_req *r = arg;
	(void)fd;
	(void)what;
	if (r->conn) {
		evhttp_connection_free(r->conn);
		r->conn = NULL;
	}
	struct sts_result res = r->res;
	sts_cb cb = r->cb;
	void *cb_arg = r->arg;
	r->cb = NULL;
	if (r->pending == 0)
		sts_req_free(r);
	if (cb)
		cb(cb_arg, &res);
}

static void sts_use_cached(struct sts_req *r, const struct sts_entry *e)
{
	r->res.has_policy = true;
	r->res.policy = e->policy;
	if (str_copy(r->res.id, sizeof r->res.id, e->id) != 0)
		panic("sts_use_cached: r->res.id does not fit");
	if (str_copy(r->res.source, sizeof r->res.source, "cache") != 0)
		panic("sts_use_cached: r->res.source does not fit");
}

/* The answer is in r->res (or comes from the cache when none): call back
 * from the finishing event. */
static void sts_finish(struct sts_req *r, const char *why)
{
	if (!r->res.has_policy) {
		const struct sts_entry *e = sts_cache_get(r->s, r->domain);
		if (e && e->expires_ms > clock_realtime_ms())
			sts_use_cached(r, e);
		else if (why)
			str_copy_trunc(r->res.why, sizeof r->res.why, why);
	}
	event_active(r->fin, EV_TIMEOUT, 0);
}

static void sts_on_http(struct evhttp_request *req, void *arg)
{
	struct sts_req *r = arg;
	if (!r->cb) {
		/* cancelled: sts_cancel freed the connection already */
		return;
	}
	int code = req ? evhttp_request_get_response_code(req) : 0;
	char why[200];
	if (code != 200) {
		str_format_trunc(why, sizeof why, "policy fetch from mta-sts.%s failed: %s",
		                 r->domain,
		                 code ? "HTTP status not 200" : "no answer or TLS error");
		if (code)
			str_format_trunc(why, sizeof why, "policy fetch from mta-sts.%s: HTTP %d",
			                 r->domain, code);
		sts_finish(r, why);
		return;
	}
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
	char err[120];
	if (!ct || strncasecmp(ct, "text/plain", 10) != 0) {
		str_format_trunc(why, sizeof why, "policy of %s is not text/plain", r->domain);
		sts_finish(r, why);
		return;
	}
	if (mtasts_parse_policy(p ? p : "", p ? n : 0, &r->res.policy, err, sizeof err) != 0) {
		str_format_trunc(why, sizeof why, "policy of %s: %s", r->domain, err);
		sts_finish(r, why);
		return;
	}
	r->res.has_policy = true;
	if (str_copy(r->res.id, sizeof r->res.id, r->id) != 0)
		panic("sts_on_http: r->res.id does not fit");
	if (str_copy(r->res.source, sizeof r->res.source, "fetched") != 0)
		panic("sts_on_http: r->res.source does not fit");
	sts_cache_put(r->s, r->domain, r->id, &r->res.policy, p ? p : "", p ? n : 0);
	log_info("mta-sts: %s: policy id=%s mode=%s max_age=%u mx=%u fetched", r->domain, r->id,
	         mtasts_mode_name(r->res.policy.mode), r->res.policy.max_age, r->res.policy.nmx);
	sts_finish(r, NULL);
}

static void sts_fetch(struct sts_req *r, const struct addr *ip)
{
	struct sts *s = r->s;
	char host[MTASTS_NAME_MAX + 8], ipt[ADDR_STRLEN];
	if (str_format(host, sizeof host, "mta-sts.%s", r->domain) != 0)
		panic("sts: the domain is at most MTASTS_NAME_MAX - 1");
	if (addr_format(ip, ipt, sizeof ipt) != 0) {
		sts_finish(r, "bad address");
		return;
	}
	SSL *ssl = SSL_new(s->ssl);
	if (!ssl) {
		sts_finish(r, "cannot create a TLS session");
		return;
	}
	if (tls_client_ssl_setup(ssl, host, host) != 0) {
		SSL_free(ssl);
		sts_finish(r, "cannot set the host name to verify");
		return;
	}
	struct bufferevent *bev =
	    bufferevent_openssl_socket_new(s->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
	                                   BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!bev) {
		SSL_free(ssl);
		sts_finish(r, "cannot create a connection");
		return;
	}
	r->conn = evhttp_connection_base_bufferevent_new(s->base, NULL, bev, ipt,
	                                                 (unsigned short)s->port);
	if (!r->conn) {
		bufferevent_free(bev);
		sts_finish(r, "cannot create an HTTP connection");
		return;
	}
	struct timeval tv = {(time_t)(s->timeout_ms / 1000),
	                     (suseconds_t)(s->timeout_ms % 1000) * 1000};
	evhttp_connection_set_timeout_tv(r->conn, &tv);
	evhttp_connection_set_retries(r->conn, 0);
	evhttp_connection_set_max_body_size(r->conn, MTASTS_POLICY_MAX);
	struct evhttp_request *req = evhttp_request_new(sts_on_http, r);
	if (!req) {
		sts_finish(r, "out of memory");
		return;
	}
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	if (evhttp_add_header(h, "Host", host) != 0 ||
	    evhttp_add_header(h, "Connection", "close") != 0) {
		evhttp_request_free(req);
		sts_finish(r, "out of memory");
		return;
	}
	/* RFC 8461 §3.3: no redirects are followed (evhttp follows none) */
	if (evhttp_make_request(r->conn, req, EVHTTP_REQ_GET, "/.well-known/mta-sts.txt") != 0)
		sts_finish(r, "cannot send the policy request");
}

/* A DNS answer came: false when the request was cancelled (and is freed
 * now if nothing else is to come). */
static bool sts_dns_answered(struct sts_req *r)
{
	r->pending--;
	if (r->cb)
		return true;
	if (r->pending == 0)
		sts_req_free(r);
	return false;
}

static void sts_on_addr(void *arg, const struct dns_result *res)
{
	struct sts_req *r = arg;
	if (!sts_dns_answered(r))
		return;
	if (res->status != DNS_OK || res->naddrs == 0) {
		char why[200];
		str_format_trunc(why, sizeof why, "mta-sts.%s: no address (%s)", r->domain,
		                 dns_status_name(res->status));
		sts_finish(r, why);
		return;
	}
	sts_fetch(r, &res->addrs[0]);
}

static void sts_on_txt(void *arg, const struct dns_result *res)
{
	struct sts_req *r = arg;
	if (!sts_dns_answered(r))
		return;
	char err[120], why[200];
	int rc = res->status == DNS_OK
	             ? mtasts_parse_txt(res->txt, strlen(res->txt), r->id, err, sizeof err)
	             : 0;
	if (rc != 1) {
		/* no record, a bad one or a DNS failure: a cached policy still holds (§5.1) */
		str_format_trunc(why, sizeof why, "_mta-sts.%s: %s", r->domain,
		                 rc < 0 ? err : dns_status_name(res->status));
		sts_finish(r, why);
		return;
	}
	const struct sts_entry *e = sts_cache_get(r->s, r->domain);
	if (e && strcmp(e->id, r->id) == 0 && e->expires_ms > clock_realtime_ms()) {
		sts_use_cached(r, e);
		sts_finish(r, NULL);
		return;
	}
	char host[MTASTS_NAME_MAX + 8];
	if (str_format(host, sizeof host, "mta-sts.%s", r->domain) != 0)
		panic("sts: the domain is at most MTASTS_NAME_MAX - 1");
	r->pending++;
	if (dns_query(r->s->dns, host, DNS_T_A, sts_on_addr, r) != 0) {
		r->pending--;
		sts_finish(r, "cannot start the DNS lookup");
	}
}

static bool sts_domain_ok(const char *d)
{
	size_t len = strlen(d);
	return len < MTASTS_NAME_MAX - 16 &&
	       dname_check(d, len, DNAME_UNDERSCORE, NULL, 0) == DNAME_OK;
}

struct sts_req *sts_lookup(struct sts *s, const char *domain, sts_cb cb, void *arg)
{
	struct sts_req *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->s = s;
	r->cb = cb;
	r->arg = arg;
	LIST_INSERT_HEAD(&s->reqs, r, link);
	r->linked = true;
	r->fin = event_new(s->base, -1, 0, sts_on_fin, r);
	if (!r->fin || str_copy(r->domain, sizeof r->domain, domain) != 0) {
		sts_req_free(r);
		return NULL;
	}
	str_lower(r->domain);
	if (!sts_domain_ok(r->domain)) {
		sts_finish(r, "not a domain name");
		return r;
	}
	char q[MTASTS_NAME_MAX + 16];
	if (str_format(q, sizeof q, "_mta-sts.%s", r->domain) != 0)
		panic("sts: the domain is at most MTASTS_NAME_MAX - 1");
	r->pending++;
	if (dns_query(s->dns, q, DNS_T_TXT, sts_on_txt, r) != 0) {
		r->pending--;
		sts_finish(r, "cannot start the DNS lookup");
	}
	return r;
}

void sts_cancel(struct sts_req *r)
{
	if (!r)
		return;
	r->cb = NULL;
	if (r->conn) {
		evhttp_connection_free(r->conn); /* no callback from it */
		r->conn = NULL;
	}
	event_del(r->fin);
	if (r->pending == 0)
		sts_req_free(r);
}

struct sts *sts_new(struct event_base *base, struct dns *dns, const char *state_dir,
                    const char *ca_file, unsigned port, uint64_t timeout_ms, char *err,
                    size_t errlen)
{
	struct sts *s = calloc(1, sizeof *s);
	if (!s) {
		str_copy_trunc(err, errlen, "out of memory");
		return NULL;
	}
	s->base = base;
	s->dns = dns;
	s->port = port;
	s->timeout_ms = timeout_ms;
	if (str_format(s->dir, sizeof s->dir, "%s/mta-sts", state_dir) != 0) {
		str_format_trunc(err, errlen, "mta-sts: state_dir too long");
		goto fail;
	}
	/* made again when a policy is saved: the state directory may come later */
	(void)mkdir(s->dir, 0700);
	const struct tls_client_opts to = {.verify = true, .ca_file = ca_file};
	char terr[400];
	s->ssl = tls_client_ctx_new(&to, terr, sizeof terr);
	if (!s->ssl) {
		str_format_trunc(err, errlen, "[delivery] mta_sts_ca_file: %s", terr);
		goto fail;
	}
	return s;
fail:
	sts_free(s);
	return NULL;
}

void sts_free(struct sts *s)
{
	if (!s)
		return;
	while (!LIST_EMPTY(&s->reqs)) {
		struct sts_req *r = LIST_FIRST(&s->reqs);
		/* DNS answers may still come (dns_free cancels them later): detach */
		r->cb = NULL;
		if (r->conn) {
			evhttp_connection_free(r->conn);
			r->conn = NULL;
		}
		event_del(r->fin);
		LIST_REMOVE(r, link);
		r->linked = false;
		if (r->pending == 0) {
			if (r->fin)
				event_free(r->fin);
			free(r);
		} else {
			r->s = NULL;
		}
	}
	while (s->cache) {
		struct sts_entry *e = s->cache;
		s->cache = e->next;
		free(e);
	}
	if (s->ssl)
		SSL_CTX_free(s->ssl);
	free(s);
}
