/*
 * score - postscreen-style weighted DNSBL scoring with a TTL cache; see score.h.
 */
#include "dnsbl/score.h"

#include "core/clock.h"
#include "core/hash.h"
#include "core/htab.h"
#include "core/str.h"
#include "net/dns.h"

#include <event2/event.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---- site syntax ---- */

/* One octet pattern: "127", "[2..11]", "[17;18]", "[2..4;7]". */
static int score_octet_parse(const char *s, size_t len, struct score_octet *o)
{
	memset(o, 0, sizeof *o);
	if (len == 0)
		return -1;
	if (s[0] != '[') {
		uint64_t v;
		if (str_to_u64(s, len, 0, 255, &v) != 0)
			return -1;
		o->n = 1;
		o->lo[0] = o->hi[0] = (uint8_t)v;
		return 0;
	}
	if (len < 3 || s[len - 1] != ']')
		return -1;
	const char *p = s + 1, *end = s + len - 1;
	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *item_end = semi ? semi : end;
		size_t ilen = (size_t)(item_end - p);
		const char *dots = NULL;
		for (const char *q = p; q + 1 < item_end; q++)
			if (q[0] == '.' && q[1] == '.') {
				dots = q;
				break;
			}
		uint64_t lo, hi;
		if (dots) {
			if (str_to_u64(p, (size_t)(dots - p), 0, 255, &lo) != 0 ||
			    str_to_u64(dots + 2, (size_t)(item_end - dots - 2), 0, 255, &hi) != 0 ||
			    hi < lo)
				return -1;
		} else {
			if (str_to_u64(p, ilen, 0, 255, &lo) != 0)
				return -1;
			hi = lo;
		}
		if (o->n == SCORE_FILTER_RANGES)
			return -1;
		o->lo[o->n] = (uint8_t)lo;
		o->hi[o->n] = (uint8_t)hi;
		o->n++;
		p = semi ? semi + 1 : end;
		if (semi && p == end)
			return -1;
	}
	return o->n ? 0 : -1;
}

static int score_site_parse(const char *s, size_t len, struct score_site *site)
{
	memset(site, 0, sizeof *site);
	site->weight = 1;
	const char *star = NULL;
	for (size_t i = len; i > 0; i--)
		if (s[i - 1] == '*') {
			star = s + i - 1;
			break;
		}
	size_t head = star ? (size_t)(star - s) : len;
	if (star) {
		char w[16];
		long long v;
		if (str_copy_n(w, sizeof w, star + 1, len - head - 1) != 0 ||
		    str_to_ll(w, -1000, 1000, &v) != 0)
			return -1;
		site->weight = (int)v;
	}
	const char *eq = memchr(s, '=', head);
	size_t zlen = eq ? (size_t)(eq - s) : head;
	char zone[BL_ZONE_MAX];
	if (str_copy_n(zone, sizeof zone, s, zlen) != 0 ||
	    bl_zone_normalise(zone, site->zone, sizeof site->zone) != 0 || site->zone[0] == '*')
		return -1;
	if (eq) {
		const char *p = eq + 1, *end = s + head;
		site->has_filter = true;
		for (int k = 0; k < 4; k++) {
			/* Octets are separated by dots outside brackets. */
			const char *q = p;
			int depth = 0;
			while (q < end && (depth || *q != '.')) {
				if (*q == '[')
					depth++;
				else if (*q == ']')
					depth--;
				q++;
			}
			if (score_octet_parse(p, (size_t)(q - p), &site->filter[k]) != 0)
				return -1;
			if (k < 3) {
				if (q >= end)
					return -1;
				p = q + 1;
			} else if (q != end) {
				return -1;
			}
		}
	}
	return 0;
}

int score_sites_parse(const char *spec, struct score_site *sites, size_t max, char *err,
                      size_t errlen)
{
	size_t n = 0;
	const char *p = spec;
	for (;;) {
		p += strspn(p, " \t\r\n,");
		size_t len = strcspn(p, " \t\r\n,");
		if (len == 0)
			break;
		char shown[80];
		str_sanitize(shown, sizeof shown, p, len);
		if (n == max) {
			str_format_trunc(err, errlen, "more than %zu DNSBL sites", max);
			return -1;
		}
		if (score_site_parse(p, len, &sites[n]) != 0) {
			str_format_trunc(
			    err, errlen,
			    "bad DNSBL site '%s': expected zone[=filter][*weight], e.g. "
			    "zen.spamhaus.org=127.0.0.[2..11]*3",
			    shown);
			return -1;
		}
		n++;
		p += len;
	}
	return (int)n;
}

bool score_site_matches(const struct score_site *s, const struct addr *answer)
{
	if (!s->has_filter)
		return true;
	if (answer->family != 4)
		return false;
	for (int k = 0; k < 4; k++) {
		const struct score_octet *o = &s->filter[k];
		bool ok = o->n == 0;
		for (int i = 0; i < o->n && !ok; i++)
			ok = answer->bytes[k] >= o->lo[i] && answer->bytes[k] <= o->hi[i];
		if (!ok)
			return false;
	}
	return true;
}

const char *score_decision_name(enum score_decision d)
{
	switch (d) {
	case SCORE_PASS:
		return "pass";
	case SCORE_REJECT:
		return "reject";
	case SCORE_ALLOWLIST:
		return "allowlist";
	}
	return "pass";
}

void score_options_default(struct score_options *o)
{
	memset(o, 0, sizeof *o);
	o->threshold = 1;
	o->allowlist = false;
	o->min_ttl_s = 60;
	o->max_ttl_s = 3600;
	o->cache_max = 65536;
}

/* ---- cache: (zone, client) -> answer, FIFO eviction ---- */

#define SCORE_CACHE_ADDRS 8

struct score_entry {
	struct score_entry *older, *newer; /* FIFO */
	unsigned zone;
	struct addr client;
	int64_t expires;
	enum dns_status status;
	int naddrs;
	struct addr addrs[SCORE_CACHE_ADDRS];
};

struct score_zone {
	struct bl_zone meta;
};

struct scorer {
	struct event_base *base;
	struct dns *dns;
	struct score_site sites[SCORE_MAX_SITES];
	size_t nsites;
	struct score_zone *zones;
	size_t nzones;
	unsigned site_zone[SCORE_MAX_SITES];
	struct score_options opt;
	struct htab cache; /* of score_entry by (zone, client), at most cache_max */
	struct score_entry *oldest, *newest;
	struct score_job *jobs; /* in flight, so scorer_free can cancel them */
};

struct score_job {
	struct score_job *next, *prev;
	struct scorer *s;
	struct addr client;
	score_callback cb;
	void *arg;
	unsigned pending;
	struct event *ev; /* delivery when every zone was cached */
	struct score_result res;
	struct dns_result *answers; /* one per zone */
};

struct score_query {
	struct score_job *job;
	unsigned zone;
};

static uint64_t score_hash(unsigned zone, const struct addr *a)
{
	return hash_fnv1a64_add(HASH_FNV1A64_BASIS ^ zone, a->bytes, addr_bits(a) / 8);
}

struct score_key {
	unsigned zone;
	const struct addr *client;
};

static bool score_eq(const void *item, const void *key)
{
	const struct score_entry *e = item;
	const struct score_key *k = key;
	return e->zone == k->zone && addr_equal(&e->client, k->client);
}

static struct score_entry *score_find(struct scorer *s, unsigned zone, const struct addr *a)
{
	struct score_key k = {zone, a};
	return htab_find(&s->cache, score_hash(zone, a), score_eq, &k);
}

static void score_unlink(struct scorer *s, struct score_entry *e)
{
	(void)htab_remove(&s->cache, score_hash(e->zone, &e->client), e);
	if (e->older)
		e->older->newer = e->newer;
	else
		s->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		s->newest = e->older;
	free(e);
}

static void score_cache_put(struct scorer *s, unsigned zone, const struct addr *a,
                            const struct dns_result *r)
{
	if (r->status != DNS_OK && r->status != DNS_NXDOMAIN && r->status != DNS_NODATA)
		return; /* failures are not remembered: the next client asks again */
	struct score_entry *e = score_find(s, zone, a);
	if (e)
		score_unlink(s, e);
	if (htab_full(&s->cache) && s->oldest)
		score_unlink(s, s->oldest);
	e = calloc(1, sizeof *e);
	if (!e)
		return;
	uint32_t ttl = r->status == DNS_OK ? r->ttl : 0;
	if (ttl < s->opt.min_ttl_s)
		ttl = s->opt.min_ttl_s;
	if (ttl > s->opt.max_ttl_s)
		ttl = s->opt.max_ttl_s;
	e->zone = zone;
	e->client = *a;
	e->expires = clock_monotonic_ms() + (int64_t)ttl * 1000;
	e->status = r->status;
	e->naddrs = r->naddrs < SCORE_CACHE_ADDRS ? r->naddrs : SCORE_CACHE_ADDRS;
	memcpy(e->addrs, r->addrs, (size_t)e->naddrs * sizeof e->addrs[0]);
	if (htab_insert(&s->cache, score_hash(zone, a), e) != 0) {
		free(e);
		return;
	}
	e->older = s->newest;
	if (s->newest)
		s->newest->newer = e;
	else
		s->oldest = e;
	s->newest = e;
}

static bool score_cache_get(struct scorer *s, unsigned zone, const struct addr *a,
                            struct dns_result *out)
{
	struct score_entry *e = score_find(s, zone, a);
	if (!e)
		return false;
	if (e->expires <= clock_monotonic_ms()) {
		score_unlink(s, e);
		return false;
	}
	memset(out, 0, sizeof *out);
	out->type = DNS_T_A;
	out->status = e->status;
	out->naddrs = e->naddrs;
	memcpy(out->addrs, e->addrs, (size_t)out->naddrs * sizeof out->addrs[0]);
	return true;
}

size_t scorer_cache_size(const struct scorer *s)
{
	return htab_count(&s->cache);
}

/* ---- scorer ---- */

struct scorer *scorer_new(struct event_base *base, struct dns *dns,
                          const struct bl_catalog *catalog, const struct score_site *sites,
                          size_t nsites, const struct score_options *opt, char *err, size_t errlen)
{
	if (nsites > SCORE_MAX_SITES) {
		str_format_trunc(err, errlen, "more than %d DNSBL sites", SCORE_MAX_SITES);
		return NULL;
	}
	struct scorer *s = calloc(1, sizeof *s);
	if (!s)
		goto oom;
	s->base = base;
	s->dns = dns;
	s->opt = *opt;
	if (s->opt.cache_max == 0)
		s->opt.cache_max = 1;
	htab_init(&s->cache, s->opt.cache_max);
	s->zones = calloc(nsites ? nsites : 1, sizeof *s->zones);
	if (!s->zones)
		goto oom;
	memcpy(s->sites, sites, nsites * sizeof *sites);
	s->nsites = nsites;
	for (size_t i = 0; i < nsites; i++) {
		size_t z;
		for (z = 0; z < s->nzones; z++)
			if (strcmp(s->zones[z].meta.zone, sites[i].zone) == 0)
				break;
		if (z == s->nzones) {
			const struct bl_zone *m =
			    catalog ? bl_catalog_find(catalog, sites[i].zone) : NULL;
			if (m && m->status == BL_STATUS_DEAD) {
				str_format_trunc(err, errlen, "%s is a defunct list: %s",
				                 sites[i].zone, m->reason);
				scorer_free(s);
				return NULL;
			}
			if (m) {
				s->zones[z].meta = *m;
				/* a "*.x" pattern never reaches here: dead */
			} else if (bl_zone_adhoc(&s->zones[z].meta, sites[i].zone) != 0) {
				str_format_trunc(err, errlen, "bad zone %s", sites[i].zone);
				scorer_free(s);
				return NULL;
			}
			s->nzones++;
		}
		s->site_zone[i] = (unsigned)z;
	}
	return s;
oom:
	str_format_trunc(err, errlen, "out of memory");
	scorer_free(s);
	return NULL;
}

static void score_job_free(struct score_job *j)
{
	struct scorer *s = j->s;
	if (j->prev)
		j->prev->next = j->next;
	else
		s->jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
	if (j->ev)
		event_free(j->ev);
	free(j->answers);
	free(j);
}

static void score_finish(struct score_job *j)
{
	struct scorer *s = j->s;
	struct score_result *r = &j->res;
	char ip[ADDR_STRLEN];
	addr_format(&j->client, ip, sizeof ip);
	/* Errors once per zone; weights once per matching site. */
	for (size_t z = 0; z < s->nzones; z++) {
		struct bl_verdict v;
		bl_classify(&s->zones[z].meta, &j->answers[z], &v);
		if (v.outcome != BL_CLEAN && v.outcome != BL_LISTED && r->nerrors < SCORE_MAX_SITES)
			str_format_trunc(r->errors[r->nerrors++], sizeof r->errors[0], "%s: %s",
			                 s->zones[z].meta.zone, v.error);
	}
	const struct score_hit *worst = NULL;
	for (size_t i = 0; i < s->nsites; i++) {
		unsigned z = s->site_zone[i];
		struct bl_verdict v;
		bl_classify(&s->zones[z].meta, &j->answers[z], &v);
		if (v.outcome != BL_LISTED)
			continue;
		char codes[64] = "";
		bool match = false;
		for (int k = 0; k < v.ncodes; k++) {
			if (!score_site_matches(&s->sites[i], &v.codes[k]))
				continue;
			char c[ADDR_STRLEN];
			addr_format(&v.codes[k], c, sizeof c);
			if (match)
				str_append_trunc(codes, sizeof codes, ",");
			str_append_trunc(codes, sizeof codes, c);
			match = true;
		}
		if (!match)
			continue;
		r->score += s->sites[i].weight;
		struct score_hit *h = &r->hits[r->nhits++];
		h->zone = s->sites[i].zone;
		h->weight = s->sites[i].weight;
		str_copy_trunc(h->codes, sizeof h->codes, codes);
		if (h->weight > 0 && (!worst || h->weight > worst->weight))
			worst = h;
	}
	if (r->score >= s->opt.threshold) {
		r->decision = SCORE_REJECT;
		const char *zone = worst ? worst->zone : "DNS blocklists";
		const struct bl_zone *m = NULL;
		for (size_t z = 0; z < s->nzones && worst; z++)
			if (strcmp(s->zones[z].meta.zone, worst->zone) == 0)
				m = &s->zones[z].meta;
		char url[200] = "";
		if (m)
			bl_zone_delist(m, ip, url, sizeof url);
		str_format_trunc(r->reply, sizeof r->reply,
		                 "550 5.7.1 Service unavailable; client [%s] blocked using %s%s%s",
		                 ip, zone, url[0] ? "; see " : "", url);
	} else if (s->opt.allowlist && r->score <= s->opt.allowlist_threshold) {
		r->decision = SCORE_ALLOWLIST;
	} else {
		r->decision = SCORE_PASS;
	}
	j->cb(j->arg, r);
	score_job_free(j);
}

static void score_on_answer(void *arg, const struct dns_result *res)
{
	struct score_query *q = arg;
	struct score_job *j = q->job;
	unsigned zone = q->zone;
	free(q);
	if (res->status != DNS_CANCELLED)
		score_cache_put(j->s, zone, &j->client, res);
	j->answers[zone] = *res;
	if (--j->pending == 0)
		score_finish(j);
}

static void score_on_cached(evutil_socket_t fd, short what, void *arg)
{
	score_finish(arg);
}

int scorer_score(struct scorer *s, const struct addr *client, score_callback cb, void *arg)
{
	struct score_job *j = calloc(1, sizeof *j);
	if (!j)
		return -1;
	j->answers = calloc(s->nzones ? s->nzones : 1, sizeof *j->answers);
	if (!j->answers) {
		free(j);
		return -1;
	}
	j->s = s;
	j->client = *client;
	addr_unmap(&j->client);
	j->cb = cb;
	j->arg = arg;
	j->res.client = j->client;
	j->next = s->jobs;
	if (s->jobs)
		s->jobs->prev = j;
	s->jobs = j;
	/* Count every query first, so an answer cannot finish the job half-way. */
	bool need[SCORE_MAX_SITES] = {false};
	for (size_t z = 0; z < s->nzones; z++) {
		if (score_cache_get(s, (unsigned)z, &j->client, &j->answers[z])) {
			j->res.cached++;
		} else {
			need[z] = true;
			j->pending++;
		}
	}
	j->res.queried = j->pending;
	if (j->pending == 0) {
		static const struct timeval zero = {0, 0};
		j->ev = evtimer_new(s->base, score_on_cached, j);
		if (!j->ev || evtimer_add(j->ev, &zero) != 0) {
			score_job_free(j);
			return -1;
		}
		return 0;
	}
	unsigned left = j->pending;
	for (size_t z = 0; z < s->nzones && left; z++) {
		if (!need[z])
			continue;
		left--;
		char name[DNS_NAME_MAX];
		struct score_query *q = malloc(sizeof *q);
		struct dns_result fail;
		memset(&fail, 0, sizeof fail);
		fail.type = DNS_T_A;
		fail.status = DNS_ERROR;
		if (!q || bl_qname_ip(&j->client, s->zones[z].meta.zone, name, sizeof name) != 0) {
			free(q);
			/* Cannot even ask: the zone is an error for this client. */
			str_copy_trunc(fail.error, sizeof fail.error, "query could not be built");
			j->answers[z] = fail;
			if (--j->pending == 0) {
				score_finish(j);
				return 0;
			}
			continue;
		}
		q->job = j;
		q->zone = (unsigned)z;
		if (dns_query(s->dns, name, DNS_T_A, score_on_answer, q) != 0) {
			free(q);
			str_copy_trunc(fail.error, sizeof fail.error, "query could not be sent");
			j->answers[z] = fail;
			if (--j->pending == 0) {
				score_finish(j);
				return 0;
			}
		}
	}
	return 0;
}

void scorer_free(struct scorer *s)
{
	if (!s)
		return;
	while (s->jobs)
		score_job_free(s->jobs); /* callers free the resolver first to cancel queries */
	while (s->oldest)
		score_unlink(s, s->oldest);
	htab_free(&s->cache);
	free(s->zones);
	free(s);
}
