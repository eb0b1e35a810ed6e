/*
 * gwstore - a gateway node's state store and the Redis failover; see gwstore.h.
 */
#include "gateway/gwstore.h"

#include "admin/metrics.h"
#include "core/clock.h"
#include "core/grow.h"
#include "core/log.h"
#include "core/str.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#define GWS_RETRY_MS 5000
#define GWS_MIRROR_MS 30000
#define GWS_JOURNAL_MAX 512

struct gwstore {
	struct store base;
	struct store *redis, *local;
	char what[160]; /* "Redis at 127.0.0.1:6379" */
	bool on_local;
	int64_t down_since_ms, retry_at_ms, mirror_at_ms;
	/* block changes and audit records made on local state, for Redis */
	char (*idents)[POL_IDENT_MAX];
	size_t n_idents;
	struct store_audit *audits;
	size_t n_audits;
	bool journal_full;
	struct metric *m_fallback, *m_failovers;
};

static struct gwstore *gws_of(struct store *s)
{
	return (struct gwstore *)s;
}

static void gws_fall_back(struct gwstore *g)
{
	char err[200] = "";
	(void)store_redis_ping(g->redis, err, sizeof err);
	clock_update();
	g->on_local = true;
	g->down_since_ms = clock_monotonic_ms();
	g->retry_at_ms = g->down_since_ms + GWS_RETRY_MS;
	log_error(
	    "state store: %s does not answer (%s); deciding on this node's local state "
	    "until it is back: limits are per node, blocks made here are copied to Redis later",
	    g->what, err[0] ? err : "connection lost");
	if (g->m_fallback)
		metric_set(g->m_fallback, NULL, 1);
	if (g->m_failovers)
		metric_add(g->m_failovers, NULL, 1);
}

/* Copies what changed on local state to Redis. 0, or -1 when Redis failed again. */
static int gws_replay(struct gwstore *g, size_t *blocks, size_t *audits)
{
	struct store_block b;
	*blocks = *audits = 0;
	for (size_t i = 0; i < g->n_idents; i++) {
		int rc = g->local->block_get(g->local, g->idents[i], &b);
		if (rc < 0)
			continue;
		rc = rc == 1 ? g->redis->block_put(g->redis, &b)
		             : g->redis->block_del(g->redis, g->idents[i]);
		if (rc < 0)
			return -1;
		(*blocks)++;
	}
	for (size_t i = 0; i < g->n_audits; i++) {
		if (g->redis->audit_append(g->redis, &g->audits[i]) != 0)
			return -1;
		(*audits)++;
	}
	return 0;
}

/* The store to use now: Redis, or local state while Redis is away (tried
 * again every GWS_RETRY_MS). */
static struct store *gws_pick(struct gwstore *g)
{
	if (!g->on_local)
		return g->redis;
	clock_update();
	int64_t now = clock_monotonic_ms();
	if (now < g->retry_at_ms)
		return g->local;
	g->retry_at_ms = now + GWS_RETRY_MS;
	if (store_redis_ping(g->redis, NULL, 0) != 0)
		return g->local;
	size_t nb, na;
	if (gws_replay(g, &nb, &na) != 0) {
		log_warn("state store: %s answered, then failed again while copying local changes",
		         g->what);
		return g->local;
	}
	log_info("state store: %s is back after %lld s; copied %zu block change%s and %zu audit "
	         "record%s made meanwhile%s; deciding on shared state again",
	         g->what, (long long)((now - g->down_since_ms) / 1000), nb, nb == 1 ? "" : "s", na,
	         na == 1 ? "" : "s",
	         g->journal_full ? " (more were made than kept: see relayguard block audit on each "
	                           "node)"
	                         : "");
	g->on_local = false;
	g->n_idents = g->n_audits = 0;
	g->journal_full = false;
	g->mirror_at_ms = 0;
	if (g->m_fallback)
		metric_set(g->m_fallback, NULL, 0);
	return g->redis;
}

/* After a call on Redis: true when it failed for want of Redis, and the caller
 * should make it again on local state (which it now is). */
static bool gws_lost(struct gwstore *g, struct store *used, bool failed)
{
	if (used != g->redis || !failed || store_redis_up(g->redis))
		return false;
	gws_fall_back(g);
	return true;
}

static void gws_journal_ident(struct gwstore *g, const char *identity)
{
	for (size_t i = 0; i < g->n_idents; i++)
		if (strcmp(g->idents[i], identity) == 0)
			return;
	if (g->n_idents == GWS_JOURNAL_MAX) {
		g->journal_full = true;
		return;
	}
	if (str_copy(g->idents[g->n_idents++], POL_IDENT_MAX, identity) != 0)
		panic("gws_journal_ident: g->idents[g->n_idents++] does not fit");
}

static int gws_get(struct store *s, const char *key, void *out, size_t cap, size_t *len)
{
	struct gwstore *g = gws_of(s);
	struct store *u = gws_pick(g);
	int rc = u->get(u, key, out, cap, len);
	if (gws_lost(g, u, rc < 0))
		rc = g->local->get(g->local, key, out, cap, len);
	return rc;
}

static int gws_put(struct store *s, const char *key, const void *rec, size_t len)
{
	struct gwstore *g = gws_of(s);
	struct store *u = gws_pick(g);
	int rc = u->put(u, key, rec, len);
	if (gws_lost(g, u, rc < 0))
		rc = g->local->put(g->local, key, rec, len);
	return rc;
}

static int gws_put_exp(struct store *s, const char *key, const void *rec, size_t len,
                       int64_t expires_ms)
{
	struct gwstore *g = gws_of(s);
	struct store *u = gws_pick(g);
	int rc = store_put_exp(u, key, rec, len, expires_ms);
	if (gws_lost(g, u, rc < 0))
		rc = store_put_exp(g->local, key, rec, len, expires_ms);
	return rc;
}

/* Both stores: Redis learns the time (it expires records itself), the local
 * one sweeps what was written on it during an outage. */
static long gws_expire(struct store *s, int64_t now_ms)
{
	struct gwstore *g = gws_of(s);
	long n = 0, m = 0;
	if (g->redis->expire && !g->on_local)
		n = g->redis->expire(g->redis, now_ms);
	if (g->local->expire)
		m = g->local->expire(g->local, now_ms);
	if (n < 0 || m < 0)
		return -1;
	return n + m;
}

static int gws_del(struct store *s, const char *key)
{
	struct gwstore *g = gws_of(s);
	struct store *u = gws_pick(g);
	int rc = u->del(u, key);
	if (gws_lost(g, u, rc < 0))
		rc = g->local->del(g->local, key);
	return rc;
}

static long gws_del_prefix(struct store *s, const char *prefix)
{
	struct gwstore *g = gws_of(s);
	struct store *u = gws_pick(g);
	long rc = u->del_prefix(u, prefix);
	if (gws_lost(g, u, rc < 0))
		rc = g->local->del_prefix(g->local, prefix);
	return rc;
}

static int gws_update(struct store *s, const char *key, store_update_fn fn, void *ctx)
{
	struct gwstore *g = gws_of(s);
	struct store *u = gws_pick(g);
	int rc = u->update(u, key, fn, ctx);
	if (gws_lost(g, u, rc < 0))
		rc = g->local->update(g->local, key, fn, ctx);
	return rc;
}

static int gws_update_exp(struct store *s, const char *key, store_update_fn fn, void *ctx,
                          int64_t expires_ms)
{
	struct gwstore *g = gws_of(s);
	struct store *u = gws_pick(g);
	int rc = store_update_exp(u, key, fn, ctx, expires_ms);
	if (gws_lost(g, u, rc < 0))
		rc = store_update_exp(g->local, key, fn, ctx, expires_ms);
	return rc;
}

/* The local store's use (Redis has its own maxmemory). */
static int gws_usage(struct store *s, uint64_t *used, uint64_t *cap)
{
	struct gwstore *g = gws_of(s);
	return g->local->usage ? g->local->usage(g->local, used, cap) : -1;
}

static int gws_block_put(struct store *s, const struct store_block *b)
{
	struct gwstore *g = gws_of(s);
	struct store *u = gws_pick(g);
	int rc = u->block_put(u, b);
	if (gws_lost(g, u, rc < 0))
		u = g->local, rc = u->block_put(u, b);
	if (rc != 0)
		return rc;
	if (u == g->local)
		gws_journal_ident(g, b->identity);
	else if (g->local->block_put(g->local, b) != 0)
		log_warn("state store: block of %s is in Redis but not in local state",
		         b->identity);
	return 0;
}

static int gws_block_get(struct store *s, const char *identity, struct store_block *out)
{
	struct gwstore *g = gws_of(s);
	struct store *u = gws_pick(g);
	int rc = u->block_get(u, identity, out);
	if (gws_lost(g, u, rc < 0))
		rc = g->local->block_get(g->local, identity, out);
	return rc;
}

static int gws_block_del(struct store *s, const char *identity)
{
	struct gwstore *g = gws_of(s);
	struct store *u = gws_pick(g);
	int rc = u->block_del(u, identity);
	if (gws_lost(g, u, rc < 0))
		u = g->local, rc = u->block_del(u, identity);
	if (rc < 0)
		return rc;
	if (u == g->local)
		gws_journal_ident(g, identity);
	else
		(void)g->local->block_del(g->local, identity);
	return rc;
}

/* Mirror of Redis's blocks into local state: the identities seen in Redis. */
struct gws_mirror {
	struct gwstore *g;
	char (*seen)[POL_IDENT_MAX];
	size_t n, cap;
	int failed;
};

static int gws_mirror_put(void *ctx, const struct store_block *b)
{
	struct gws_mirror *m = ctx;
	struct store_block cur;
	if (grow_array(&m->seen, &m->cap, m->n + 1, sizeof *m->seen) != 0)
		return -1;
	if (str_copy(m->seen[m->n++], POL_IDENT_MAX, b->identity) != 0)
		panic("gws_mirror_put: m->seen[m->n++] does not fit");
	struct store *l = m->g->local;
	if (l->block_get(l, b->identity, &cur) != 1 || memcmp(&cur, b, sizeof cur) != 0)
		m->failed |= l->block_put(l, b) != 0;
	return 0;
}

static int gws_mirror_stale(void *ctx, const struct store_block *b)
{
	struct gws_mirror *m = ctx;
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->seen[i], b->identity) == 0)
			return 0;
	/* lifted elsewhere: remember it, delete after the walk */
	if (m->n == m->cap)
		return 0;
	if (str_copy(m->seen[m->n++], POL_IDENT_MAX, b->identity) != 0)
		panic("gws_mirror_stale: m->seen[m->n++] does not fit");
	return 0;
}

static void gws_mirror(struct gwstore *g)
{
	struct gws_mirror m = {.g = g};
	if (g->redis->block_iter(g->redis, gws_mirror_put, &m) == 0) {
		size_t shared = m.n;
		/* room for 256 stale ones (or what is spare); without it fewer go */
		m.failed |=
		    grow_array_max(&m.seen, &m.cap, m.n + 256, sizeof *m.seen, m.n + 256) != 0;
		if (g->local->block_iter(g->local, gws_mirror_stale, &m) == 0)
			for (size_t i = shared; i < m.n; i++)
				(void)g->local->block_del(g->local, m.seen[i]);
	}
	if (m.failed)
		log_warn("state store: cannot copy Redis's blocks into local state");
	free(m.seen);
}

static int gws_block_iter(struct store *s, store_block_fn fn, void *ctx)
{
	struct gwstore *g = gws_of(s);
	struct store *u = gws_pick(g);
	if (u == g->redis) {
		int64_t now = clock_monotonic_ms();
		if (now >= g->mirror_at_ms) {
			g->mirror_at_ms = now + GWS_MIRROR_MS;
			gws_mirror(g);
		}
	}
	int rc = u->block_iter(u, fn, ctx);
	if (gws_lost(g, u, rc < 0))
		rc = g->local->block_iter(g->local, fn, ctx);
	return rc;
}

static size_t gws_block_count(struct store *s)
{
	struct gwstore *g = gws_of(s);
	struct store *u = gws_pick(g);
	size_t n = u->block_count(u);
	if (gws_lost(g, u, !store_redis_up(g->redis)))
		n = g->local->block_count(g->local);
	return n;
}

static int gws_audit_append(struct store *s, const struct store_audit *a)
{
	struct gwstore *g = gws_of(s);
	struct store *u = gws_pick(g);
	int rc = u->audit_append(u, a);
	if (gws_lost(g, u, rc < 0))
		u = g->local, rc = u->audit_append(u, a);
	if (rc != 0)
		return rc;
	if (u == g->redis) {
		(void)g->local->audit_append(g->local, a);
	} else if (g->n_audits < GWS_JOURNAL_MAX) {
		g->audits[g->n_audits++] = *a;
	} else {
		g->journal_full = true;
	}
	return 0;
}

static int gws_audit_iter(struct store *s, store_audit_fn fn, void *ctx)
{
	struct gwstore *g = gws_of(s);
	struct store *u = gws_pick(g);
	int rc = u->audit_iter(u, fn, ctx);
	if (gws_lost(g, u, rc < 0))
		rc = g->local->audit_iter(g->local, fn, ctx);
	return rc;
}

static void gws_close(struct store *s)
{
	struct gwstore *g = gws_of(s);
	if (!g)
		return;
	if (g->on_local && (g->n_idents || g->n_audits))
		log_warn("state store: stopping while %s is away; %zu block changes made here are "
		         "in local state only",
		         g->what, g->n_idents);
	g->redis->close(g->redis);
	g->local->close(g->local);
	free(g->idents);
	free(g->audits);
	free(g);
}

bool gwstore_fallback(struct store *s)
{
	return s && s->close == gws_close && gws_of(s)->on_local;
}

struct store *gwstore_failover_new(struct store *redis, struct store *local, const char *what,
                                   struct metrics *metrics)
{
	struct gwstore *g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	g->idents = calloc(GWS_JOURNAL_MAX, sizeof *g->idents);
	g->audits = calloc(GWS_JOURNAL_MAX, sizeof *g->audits);
	if (!g->idents || !g->audits) {
		free(g->idents);
		free(g->audits);
		free(g);
		return NULL;
	}
	g->redis = redis;
	g->local = local;
	str_copy_trunc(g->what, sizeof g->what, what);
	if (metrics) {
		g->m_fallback = metrics_register(
		    metrics, METRIC_GAUGE, "relayguard_state_store_fallback",
		    "1 while Redis does not answer and this node decides on its local state.", NULL,
		    NULL, 0);
		g->m_failovers = metrics_register(
		    metrics, METRIC_COUNTER, "relayguard_state_store_failovers_total",
		    "Times this node lost Redis and fell back to its local state.", NULL, NULL, 0);
		if (g->m_fallback)
			metric_set(g->m_fallback, NULL, 0);
	}
	g->base = (struct store){
	    .get = gws_get,
	    .put = gws_put,
	    .put_exp = gws_put_exp,
	    .expire = gws_expire,
	    .del = gws_del,
	    .del_prefix = gws_del_prefix,
	    .update = gws_update,
	    .update_exp = gws_update_exp,
	    .usage = gws_usage,
	    .block_put = gws_block_put,
	    .block_get = gws_block_get,
	    .block_del = gws_block_del,
	    .block_iter = gws_block_iter,
	    .block_count = gws_block_count,
	    .audit_append = gws_audit_append,
	    .audit_iter = gws_audit_iter,
	    .close = gws_close,
	    .name = "redis",
	};
	if (!store_redis_up(redis))
		gws_fall_back(g);
	return &g->base;
}

static int gws_mkdir(const char *path)
{
	return mkdir(path, 0750) == 0 || errno == EEXIST ? 0 : -1;
}

struct store *gwstore_open(const struct gw_config *c, struct metrics *metrics, bool require_shared,
                           char *err, size_t errlen)
{
	char dir[600];
	if (str_format(dir, sizeof dir, "%s/policy", c->state_dir) != 0 ||
	    gws_mkdir(c->state_dir) != 0 || gws_mkdir(dir) != 0) {
		str_format_trunc(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return NULL;
	}
	if (strcmp(c->state_store, "redis") != 0)
		return store_lmdb_open(dir, (size_t)c->state_map_size, err, errlen);

	char host[INET6_ADDRSTRLEN] = "", what[160];
	struct store_redis_options o = {.prefix = c->redis_prefix,
	                                .timeout_ms = (int)c->redis_timeout_ms,
	                                .require_connection = require_shared};
	const struct sockaddr_storage *ss = &c->redis_addr.ss;
	if (ss->ss_family == AF_UNIX) {
		o.unix_path = ((const struct sockaddr_un *)ss)->sun_path;
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		o.port = ntohs(in->sin_port);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		o.port = ntohs(in6->sin6_port);
	}
	o.host = host;
	str_format_trunc(what, sizeof what, "Redis at %s", c->redis_addr.text);
	char e[256];
	struct store *redis = store_redis_open(&o, e, sizeof e);
	if (!redis) {
		str_format_trunc(err, errlen, "%s: %s", what, e);
		return NULL;
	}
	if (require_shared)
		return redis;
	struct store *local = store_lmdb_open(dir, (size_t)c->state_map_size, err, errlen);
	if (!local) {
		redis->close(redis);
		return NULL;
	}
	struct store *s = gwstore_failover_new(redis, local, what, metrics);
	if (!s) {
		redis->close(redis);
		local->close(local);
		str_format_trunc(err, errlen, "out of memory");
	}
	return s;
}
