/*
 * mx - MX ordering and resolution; see mx.h.
 */
#include "delivery/mx.h"

#include "core/log.h"
#include "core/str.h"

#include <stdlib.h>
#include <string.h>

const char *mx_status_name(enum mx_status s)
{
	static const char *const names[] = {"ok", "null-mx", "temporary", "permanent"};
	if ((size_t)s >= sizeof names / sizeof names[0])
		panic("mx: status %d", (int)s);
	return names[s];
}

static bool mx_is_root(const char *h)
{
	return h[0] == '\0' || (h[0] == '.' && h[1] == '\0');
}

int mx_order(const struct dns_mx *in, int n, mx_random_fn rnd, void *rarg, struct mx_host *out)
{
	struct dns_mx tmp[DNS_MAX_MX];
	int m = 0;
	bool null_mx = false;
	for (int i = 0; i < n && i < DNS_MAX_MX; i++) {
		if (mx_is_root(in[i].host)) {
			null_mx = null_mx || in[i].pref == 0;
			continue;
		}
		tmp[m++] = in[i];
	}
	if (m == 0)
		return null_mx ? -1 : 0;
	/* Shuffle first (Fisher-Yates), then a stable sort by preference: equal
	 * preferences end up in random order (RFC 5321 §5.1). */
	for (int i = m - 1; i > 0; i--) {
		uint32_t r = rnd ? rnd(rarg) : (uint32_t)random();
		int j = (int)(r % (uint32_t)(i + 1));
		struct dns_mx t = tmp[i];
		tmp[i] = tmp[j];
		tmp[j] = t;
	}
	for (int i = 1; i < m; i++) {
		struct dns_mx t = tmp[i];
		int j = i - 1;
		while (j >= 0 && tmp[j].pref > t.pref) {
			tmp[j + 1] = tmp[j];
			j--;
		}
		tmp[j + 1] = t;
	}
	int k = 0;
	for (int i = 0; i < m && k < MX_HOSTS_MAX; i++) {
		/* the same host twice (two names for one preference list) once */
		bool dup = false;
		for (int j = 0; j < k; j++)
			dup = dup || str_ieq(out[j].name, tmp[i].host);
		if (dup)
			continue;
		out[k].pref = tmp[i].pref;
		if (str_copy(out[k].name, sizeof out[k].name, tmp[i].host) != 0)
			continue;
		/* names from DNS have no trailing dot from c-ares, but be sure */
		size_t l = strlen(out[k].name);
		if (l > 1 && out[k].name[l - 1] == '.')
			out[k].name[l - 1] = '\0';
		k++;
	}
	return k;
}

/* ---- resolution ---- */

struct mx_sub {
	struct mx_query *q;
	int host;
	enum dns_type type;
};

struct mx_query {
	struct dns *dns;
	struct mx_options opt;
	mx_callback cb;
	void *arg;
	bool cancelled;
	int pending;
	char domain[DNS_NAME_MAX];
	int nhosts;
	struct mx_host hosts[MX_HOSTS_MAX];
	struct mx_sub subs[MX_HOSTS_MAX * 2];
	/* per host: what A and AAAA gave */
	struct dns_result *v4, *v6;
	bool temp; /* some lookup failed temporarily */
	char temp_why[120];
	struct mx_result res;
};

static void mx_finish(struct mx_query *q)
{
	if (!q->cancelled)
		q->cb(q->arg, &q->res);
	free(q->v4);
	free(q->v6);
	free(q);
}

static void mx_add_addrs(struct mx_query *q, int h, const struct dns_result *r)
{
	if (!r || r->status != DNS_OK)
		return;
	for (int i = 0; i < r->naddrs && q->res.n < MX_TARGETS_MAX; i++) {
		struct mx_target *t = &q->res.t[q->res.n++];
		if (str_copy(t->host, sizeof t->host, q->hosts[h].name) != 0)
			panic("mx_add_addrs: t->host does not fit");
		t->pref = q->hosts[h].pref;
		t->addr = r->addrs[i];
	}
}

static void mx_build(struct mx_query *q)
{
	bool v6first = q->opt.family == MX_FAMILY_ANY_V6_FIRST || q->opt.family == MX_FAMILY_V6;
	for (int h = 0; h < q->nhosts; h++) {
		mx_add_addrs(q, h, v6first ? &q->v6[h] : &q->v4[h]);
		mx_add_addrs(q, h, v6first ? &q->v4[h] : &q->v6[h]);
	}
	if (q->res.n > 0) {
		q->res.status = MX_OK;
	} else if (q->temp) {
		q->res.status = MX_TEMP;
		str_format_trunc(q->res.error, sizeof q->res.error,
		                 "4.4.3 cannot find the address of a mail host for %s: %s",
		                 q->domain, q->temp_why);
	} else {
		q->res.status = MX_PERM;
		str_format_trunc(q->res.error, sizeof q->res.error,
		                 "5.4.4 no mail host of %s has an address", q->domain);
	}
	mx_finish(q);
}

static bool mx_temp_status(enum dns_status s)
{
	return s != DNS_OK && s != DNS_NODATA && s != DNS_NXDOMAIN;
}

static void mx_on_addr(void *arg, const struct dns_result *r)
{
	struct mx_sub *s = arg;
	struct mx_query *q = s->q;
	struct dns_result *slot = s->type == DNS_T_A ? &q->v4[s->host] : &q->v6[s->host];
	*slot = *r;
	if (mx_temp_status(r->status) && !q->temp) {
		q->temp = true;
		str_format_trunc(q->temp_why, sizeof q->temp_why, "%s/%s %s",
		                 q->hosts[s->host].name, dns_type_name(s->type),
		                 dns_status_name(r->status));
	}
	if (--q->pending == 0)
		mx_build(q);
}

/* Starts A/AAAA queries for every host; returns how many started (-1: no
 * memory). The last answer builds the result. */
static int mx_lookup_hosts(struct mx_query *q)
{
	q->v4 = calloc((size_t)q->nhosts, sizeof *q->v4);
	q->v6 = calloc((size_t)q->nhosts, sizeof *q->v6);
	if (!q->v4 || !q->v6)
		return -1;
	bool want4 = q->opt.family != MX_FAMILY_V6, want6 = q->opt.family != MX_FAMILY_V4;
	int ns = 0;
	for (int h = 0; h < q->nhosts; h++) {
		for (int k = 0; k < 2; k++) {
			enum dns_type t = k == 0 ? DNS_T_A : DNS_T_AAAA;
			if ((t == DNS_T_A && !want4) || (t == DNS_T_AAAA && !want6))
				continue;
			struct mx_sub *s = &q->subs[ns++];
			s->q = q;
			s->host = h;
			s->type = t;
			q->pending++;
			if (dns_query(q->dns, q->hosts[h].name, t, mx_on_addr, s) != 0) {
				q->pending--;
				q->temp = true;
				str_format_trunc(q->temp_why, sizeof q->temp_why,
				                 "%s: query failed", q->hosts[h].name);
			}
		}
	}
	return q->pending;
}

static void mx_on_mx(void *arg, const struct dns_result *r)
{
	struct mx_query *q = arg;
	q->pending--;
	if (q->cancelled) {
		mx_finish(q);
		return;
	}
	switch (r->status) {
	case DNS_OK: {
		int n = mx_order(r->mx, r->nmx, q->opt.rnd, q->opt.rarg, q->hosts);
		if (n < 0) {
			q->res.status = MX_NULL;
			str_format_trunc(q->res.error, sizeof q->res.error,
			                 "5.1.10 %s does not accept mail (null MX)", q->domain);
			mx_finish(q);
			return;
		}
		if (n == 0) {
			q->res.status = MX_PERM;
			str_format_trunc(q->res.error, sizeof q->res.error,
			                 "5.4.4 %s has no usable MX host", q->domain);
			mx_finish(q);
			return;
		}
		q->nhosts = n;
		break;
	}
	case DNS_NODATA:
		/* implicit MX: the domain itself (RFC 5321 §5.1) */
		q->nhosts = 1;
		q->hosts[0].pref = 0;
		if (str_copy(q->hosts[0].name, sizeof q->hosts[0].name, q->domain) != 0)
			panic("mx_on_mx: q->hosts[0].name does not fit");
		break;
	case DNS_NXDOMAIN:
		q->res.status = MX_PERM;
		str_format_trunc(q->res.error, sizeof q->res.error,
		                 "5.1.2 domain %s does not exist", q->domain);
		mx_finish(q);
		return;
	default:
		q->res.status = MX_TEMP;
		str_format_trunc(q->res.error, sizeof q->res.error, "4.4.3 MX lookup of %s: %s",
		                 q->domain, dns_status_name(r->status));
		mx_finish(q);
		return;
	}
	int started = mx_lookup_hosts(q);
	if (started < 0) {
		q->res.status = MX_TEMP;
		str_copy_trunc(q->res.error, sizeof q->res.error, "4.3.0 out of memory");
		mx_finish(q);
	} else if (started == 0) {
		mx_build(q); /* no query could start; we are in a DNS callback already */
	}
}

struct mx_query *mx_resolve(struct dns *d, const char *domain, bool no_mx,
                            const struct mx_options *opt, mx_callback cb, void *arg)
{
	struct mx_query *q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	q->dns = d;
	if (opt)
		q->opt = *opt;
	q->cb = cb;
	q->arg = arg;
	if (str_copy(q->domain, sizeof q->domain, domain) != 0) {
		free(q);
		return NULL;
	}
	size_t l = strlen(q->domain);
	if (l > 1 && q->domain[l - 1] == '.')
		q->domain[l - 1] = '\0';
	if (no_mx) {
		q->nhosts = 1;
		if (str_copy(q->hosts[0].name, sizeof q->hosts[0].name, q->domain) != 0)
			panic("mx_resolve: q->hosts[0].name does not fit");
		if (mx_lookup_hosts(q) <= 0)
			goto fail;
		return q;
	}
	if (dns_query(d, q->domain, DNS_T_MX, mx_on_mx, q) != 0)
		goto fail;
	q->pending = 1;
	return q;
fail:
	if (q->pending > 0) {
		/* answers are on their way: let them free it */
		q->cancelled = true;
		return NULL;
	}
	free(q->v4);
	free(q->v6);
	free(q);
	return NULL;
}

void mx_cancel(struct mx_query *q)
{
	if (q)
		q->cancelled = true;
}

int mx_cut_self(struct mx_result *r, mx_self_fn is_self, void *arg, int *self_at)
{
	int first = -1;
	for (int i = 0; i < r->n; i++)
		if (is_self(arg, &r->t[i].addr) && (first < 0 || r->t[i].pref < r->t[first].pref))
			first = i;
	if (self_at)
		*self_at = first;
	if (first < 0)
		return r->n;
	uint16_t cut = r->t[first].pref;
	int n = 0;
	for (int i = 0; i < r->n; i++)
		if (r->t[i].pref < cut)
			r->t[n++] = r->t[i];
	if (n == 0)
		r->t[0] = r->t[first]; /* kept for the caller's log line */
	r->n = n;
	return n;
}
