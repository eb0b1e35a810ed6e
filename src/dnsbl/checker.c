/*
 * checker - parallel DNSBL lookups with RFC 5782 self-tests; see checker.h.
 */
#include "dnsbl/checker.h"

#include "core/grow.h"
#include "core/log.h"
#include "core/str.h"
#include "net/dns.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

int chk_targets_add(struct chk_targets *t, const char *arg, uint64_t max_addresses, char *err,
		    size_t errlen)
{
	struct cidr c;
	size_t len = strlen(arg);
	char name[256];
	bool is_ip = cidr_parse(arg, len, &c) == 0;
	if (!is_ip && bl_domain_normalise(arg, name, sizeof name) != 0) {
		str_format_trunc(err, errlen,
		                 "'%.80s' is not an IP address, CIDR range or domain name", arg);
		return -1;
	}
	uint64_t count = is_ip ? cidr_size(&c) : 1;
	if (is_ip && memchr(arg, '/', len) == NULL)
		count = 1;
	if (count > max_addresses) {
		str_format_trunc(err, errlen,
		                 "range %.80s has %llu addresses, more than the limit of %llu "
		                 "(raise it with --max-range)",
		                 arg, (unsigned long long)count, (unsigned long long)max_addresses);
		return -1;
	}
	if (grow_array(&t->v, &t->cap, t->n + (size_t)count, sizeof *t->v) != 0) {
		str_format_trunc(err, errlen, "out of memory");
		return -1;
	}
	for (uint64_t i = 0; i < count; i++) {
		struct chk_target *e = &t->v[t->n++];
		memset(e, 0, sizeof *e);
		e->is_ip = is_ip;
		if (is_ip) {
			cidr_nth(&c, i, &e->addr);
			addr_format(&e->addr, e->name, sizeof e->name);
		} else {
			memcpy(e->name, name, sizeof name);
		}
	}
	return 0;
}

void chk_targets_free(struct chk_targets *t)
{
	free(t->v);
	t->v = NULL;
	t->n = t->cap = 0;
}

enum chk_job_kind { CHK_POS, CHK_NEG, CHK_QUERY, CHK_TXT };
/* Self-tests vouch for one kind of target each: IPv4 test points (127.0.0.2 and
 * 127.0.0.1), IPv6 ones (::ffff:7f00:2 and ::ffff:7f00:1), domain ones (test and
 * invalid). */
enum { CHK_KIND_IP4 = 0, CHK_KIND_IP6 = 1, CHK_KIND_DOMAIN = 2, CHK_KINDS = 3 };

struct chk_job {
	enum chk_job_kind kind;
	size_t zone;
	int tkind;     /* self-tests: which kind of target they vouch for */
	size_t result; /* queries and TXT: index into results */
};

struct chk_zone_state {
	bool failed[CHK_KINDS];
	struct bl_verdict fail[CHK_KINDS];
};

static int chk_kind(const struct chk_target *t)
{
	if (!t->is_ip)
		return CHK_KIND_DOMAIN;
	return t->addr.family == 4 ? CHK_KIND_IP4 : CHK_KIND_IP6;
}

struct chk_ctx {
	struct event_base *base;
	struct dns *dns;
	const struct bl_zone *zones;
	size_t nzones;
	const struct chk_targets *targets;
	const struct chk_options *opt;
	struct chk_zone_state *zs;
	struct chk_job *jobs;
	size_t njobs, capjobs, next;
	unsigned inflight;
	unsigned window;           /* paced in-flight limit, <= the concurrency option */
	unsigned long seen_resent; /* dns_resent() at the last answer */
	unsigned recover;          /* answers to come before the window may halve again */
	bool selftest_phase;
	struct chk_result *res;
	size_t nres;
	struct chk_stats *stats;
	bool oom;
};

struct chk_req {
	struct chk_ctx *ctx;
	struct chk_job job;
};

static int chk_push(struct chk_ctx *c, const struct chk_job *j)
{
	if (grow_array(&c->jobs, &c->capjobs, c->njobs + 1, sizeof *c->jobs) != 0)
		return -1;
	c->jobs[c->njobs++] = *j;
	return 0;
}

static bool chk_applies(const struct bl_zone *z, const struct chk_target *t)
{
	if (t->is_ip)
		return z->type != BL_TYPE_DOMAIN && (t->addr.family == 4 || z->ipv6);
	return z->type != BL_TYPE_IP;
}

static void chk_pump(struct chk_ctx *c);

static void chk_selftest_done(struct chk_ctx *c, const struct chk_job *j,
			      const struct dns_result *r)
{
	const struct bl_zone *z = &c->zones[j->zone];
	struct bl_verdict v;
	bl_classify(z, r, &v);
	struct chk_zone_state *s = &c->zs[j->zone];
	if (s->failed[j->tkind] || v.outcome == BL_DNS_ERROR)
		return; /* a lost probe proves nothing; the queries will say for themselves */
	static const char *const points[CHK_KINDS][2] = {
	    {"127.0.0.1", "127.0.0.2"}, {"::ffff:127.0.0.1", "::ffff:127.0.0.2"}, {"invalid", "test"}};
	const char *point = points[j->tkind][j->kind == CHK_POS];
	struct bl_verdict *f = &s->fail[j->tkind];
	memset(f, 0, sizeof *f);
	if (v.outcome == BL_LIST_ERROR || v.outcome == BL_BAD_ANSWER) {
		*f = v;
		s->failed[j->tkind] = true;
	} else if (j->kind == CHK_POS && v.outcome != BL_LISTED) {
		f->outcome = BL_SELFTEST_FAILED;
		str_format_trunc(
		    f->error, sizeof f->error,
		    "self-test failed: %s is not listed (RFC 5782 test point); the list "
		    "refuses this resolver, or the zone is empty or gone",
		    point);
		s->failed[j->tkind] = true;
	} else if (j->kind == CHK_NEG && v.outcome == BL_LISTED) {
		f->outcome = BL_SELFTEST_FAILED;
		str_format_trunc(
		    f->error, sizeof f->error,
		    "self-test failed: %s is listed (RFC 5782 negative test point); the zone "
		    "answers 'listed' for everything (dead or wildcarded list)",
		    point);
		s->failed[j->tkind] = true;
	}
	if (s->failed[j->tkind])
		log_info("zone=%s point=%s %s", z->zone, point, f->error);
}

/* Paces the window to the rate answers come back (AIMD): one more query per
 * answer up to the concurrency option, half as many when the resolver had to
 * resend a query or one timed out (a burst overflowed a buffer on the way). */
static void chk_pace(struct chk_ctx *c, const struct dns_result *r)
{
	unsigned limit = c->opt->concurrency ? c->opt->concurrency : CHK_DEFAULT_CONCURRENCY;
	unsigned long resent = dns_resent(c->dns);
	bool loss = resent != c->seen_resent || r->status == DNS_TIMEOUT;
	c->seen_resent = resent;
	if (c->recover > 0)
		c->recover--;
	if (loss && c->recover == 0) {
		/* Once per window of answers (about once per round trip): the losses of
		 * one burst are one signal, not one halving each. */
		c->window = c->window / 2 > CHK_WINDOW_MIN ? c->window / 2 : CHK_WINDOW_MIN;
		c->recover = c->window;
	} else if (!loss && c->window < limit) {
		c->window++;
	}
	if (c->window > limit)
		c->window = limit;
}

static void chk_on_answer(void *arg, const struct dns_result *r)
{
	struct chk_req *q = arg;
	struct chk_ctx *c = q->ctx;
	struct chk_job *j = &q->job;
	c->inflight--;
	chk_pace(c, r);
	if (j->kind == CHK_POS || j->kind == CHK_NEG) {
		chk_selftest_done(c, j, r);
	} else if (j->kind == CHK_QUERY) {
		struct chk_result *res = &c->res[j->result];
		bl_classify(&c->zones[res->zone], r, &res->v);
		if (res->v.outcome == BL_LISTED && !c->opt->no_txt) {
			struct chk_job t = {.kind = CHK_TXT, .zone = res->zone, .result = j->result};
			if (chk_push(c, &t) != 0)
				c->oom = true;
		}
	} else if (r->status == DNS_OK) {
		str_copy_trunc(c->res[j->result].txt, sizeof c->res[j->result].txt, r->txt);
	}
	free(q);
	chk_pump(c);
}

static int chk_qname(const struct chk_ctx *c, const struct chk_job *j, char *name, size_t size)
{
	const struct bl_zone *z = &c->zones[j->zone];
	if (j->kind == CHK_POS || j->kind == CHK_NEG) {
		if (j->tkind == CHK_KIND_DOMAIN)
			return str_format(name, size, "%s.%s", j->kind == CHK_POS ? "test" : "invalid",
					  z->zone);
		struct addr a;
		memset(&a, 0, sizeof a);
		if (j->tkind == CHK_KIND_IP4) {
			a.family = 4;
			a.bytes[0] = 127;
			a.bytes[3] = j->kind == CHK_POS ? 2 : 1;
		} else {
			a.family = 6;
			a.bytes[10] = a.bytes[11] = 0xff;
			a.bytes[12] = 127;
			a.bytes[15] = j->kind == CHK_POS ? 2 : 1;
		}
		return bl_qname_ip(&a, z->zone, name, size);
	}
	const struct chk_target *t = &c->targets->v[c->res[j->result].target];
	if (t->is_ip)
		return bl_qname_ip(&t->addr, z->zone, name, size);
	return bl_qname_domain(t->name, z->zone, name, size);
}

/* Phase two: one result per applicable (target, zone) pair. */
static void chk_plan_queries(struct chk_ctx *c)
{
	for (size_t ti = 0; ti < c->targets->n; ti++) {
		const struct chk_target *t = &c->targets->v[ti];
		for (size_t zi = 0; zi < c->nzones; zi++) {
			if (!chk_applies(&c->zones[zi], t)) {
				c->stats->skipped++;
				continue;
			}
			struct chk_result *r = &c->res[c->nres];
			memset(r, 0, sizeof *r);
			r->target = ti;
			r->zone = zi;
			int kind = chk_kind(t);
			if (c->zs[zi].failed[kind]) {
				r->v = c->zs[zi].fail[kind];
			} else {
				struct chk_job j = {.kind = CHK_QUERY, .zone = zi, .result = c->nres};
				if (chk_push(c, &j) != 0) {
					c->oom = true;
					return;
				}
			}
			c->nres++;
		}
	}
}

static void chk_pump(struct chk_ctx *c)
{
	for (;;) {
		while (!c->oom && c->next < c->njobs && c->inflight < c->window) {
			struct chk_req *q = malloc(sizeof *q);
			if (!q) {
				c->oom = true;
				break;
			}
			q->ctx = c;
			q->job = c->jobs[c->next++];
			char name[DNS_NAME_MAX];
			if (chk_qname(c, &q->job, name, sizeof name) != 0) {
				/* A name too long for DNS: report it, do not send it. */
				if (q->job.kind == CHK_QUERY) {
					struct bl_verdict *v = &c->res[q->job.result].v;
					v->outcome = BL_DNS_ERROR;
					str_copy_trunc(v->error, sizeof v->error,
					               "query name too long");
				}
				free(q);
				continue;
			}
			enum dns_type type = q->job.kind == CHK_TXT ? DNS_T_TXT : DNS_T_A;
			c->inflight++;
			c->stats->queries++;
			if (dns_query(c->dns, name, type, chk_on_answer, q) != 0) {
				c->inflight--;
				if (q->job.kind == CHK_QUERY) {
					struct bl_verdict *v = &c->res[q->job.result].v;
					v->outcome = BL_DNS_ERROR;
					str_copy_trunc(v->error, sizeof v->error,
					               "cannot send the query");
				}
				free(q);
			}
		}
		if (c->inflight > 0)
			return;
		if (c->selftest_phase && !c->oom) {
			c->selftest_phase = false;
			chk_plan_queries(c);
			continue;
		}
		event_base_loopbreak(c->base);
		return;
	}
}

int chk_run(struct event_base *base, struct dns *dns, const struct bl_zone *zones, size_t nzones,
	    const struct chk_targets *targets, const struct chk_options *opt,
	    struct chk_result **results, size_t *nresults, struct chk_stats *stats)
{
	struct chk_ctx c;
	memset(&c, 0, sizeof c);
	memset(stats, 0, sizeof *stats);
	c.base = base;
	c.dns = dns;
	c.zones = zones;
	c.nzones = nzones;
	c.targets = targets;
	c.opt = opt;
	c.stats = stats;
	c.selftest_phase = true;
	unsigned limit = opt->concurrency ? opt->concurrency : CHK_DEFAULT_CONCURRENCY;
	c.window = limit < CHK_WINDOW_START ? limit : CHK_WINDOW_START;
	c.seen_resent = dns_resent(dns);
	c.zs = calloc(nzones ? nzones : 1, sizeof *c.zs);
	size_t maxres = targets->n * nzones;
	c.res = calloc(maxres ? maxres : 1, sizeof *c.res);
	if (!c.zs || !c.res)
		goto fail;
	/* Self-tests for each zone and each kind of target it will be asked about. */
	for (size_t zi = 0; zi < nzones && !opt->no_selftest; zi++) {
		const struct bl_zone *z = &zones[zi];
		bool need[CHK_KINDS] = {false, false, false};
		for (size_t ti = 0; ti < targets->n; ti++)
			if (chk_applies(z, &targets->v[ti]))
				need[chk_kind(&targets->v[ti])] = true;
		for (int k = 0; k < CHK_KINDS; k++) {
			enum bl_selftest mode = k == CHK_KIND_IP6 ? z->selftest6 : z->selftest;
			if (!need[k] || mode == BL_SELFTEST_NONE)
				continue;
			struct chk_job j = {.kind = CHK_NEG, .zone = zi, .tkind = k};
			if (chk_push(&c, &j) != 0)
				goto fail;
			if (mode == BL_SELFTEST_FULL) {
				j.kind = CHK_POS;
				if (chk_push(&c, &j) != 0)
					goto fail;
			}
		}
	}
	chk_pump(&c);
	if (c.inflight > 0 || c.next < c.njobs)
		event_base_dispatch(base);
	if (c.oom)
		goto fail;
	free(c.zs);
	free(c.jobs);
	*results = c.res;
	*nresults = c.nres;
	return 0;
fail:
	free(c.zs);
	free(c.jobs);
	free(c.res);
	return -1;
}
