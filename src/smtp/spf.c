/*
 * spf - RFC 7208 evaluation on net/dns.h (spf.h says why not libspf2).
 *
 * A check is a stack of frames, one per record being evaluated (the sender's
 * domain, then one per include). Each frame walks its terms; a term that needs
 * DNS starts one query and the check waits in a state naming what it waits
 * for; the answer resumes the walk. One query at a time per check: SPF is
 * sequential by definition (the first matching term wins) and the limits
 * keep it short.
 */
#include "smtp/spf.h"

#include "core/dname.h"
#include "core/log.h"
#include "core/mailaddr.h"
#include "core/str.h"
#include "net/dns.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SPF_DEPTH_MAX (SPF_LOOKUP_LIMIT + 2)
#define SPF_MX_MAX 10

/* ---- record parsing (pure) ---- */

bool spf_is_record(const char *txt, size_t len)
{
	return len >= 6 && strncasecmp(txt, "v=spf1", 6) == 0 && (len == 6 || txt[6] == ' ');
}

static int spf_fail(char *err, size_t errlen, const char *what, const char *p, size_t n)
{
	char shown[64];
	str_sanitize(shown, sizeof shown, p, n);
	str_format_trunc(err, errlen, "%s: %s", what, shown);
	return -1;
}

/* A domain-spec: macro-string characters only (visible ASCII but '%' must start
 * a macro, checked at expansion). */
static bool spf_spec_ok(const char *p, size_t n)
{
	if (n == 0 || n >= SPF_SPEC_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] <= ' ' || p[i] > '~')
			return false;
	return true;
}

/* A prefix length: digits without a leading zero (but "0"), at most max. */
static int spf_prefix(const char *p, size_t n, int max, int *out)
{
	uint64_t v;
	if (n == 0 || n > 3 || (p[0] == '0' && n > 1) ||
	    str_to_u64(p, n, 0, (uint64_t)max, &v) != 0)
		return -1;
	*out = (int)v;
	return 0;
}

/* "/24", "//64", "/24//64" at the end of [p, p+n): strips them, sets c4 and c6. */
static int spf_dual_cidr(const char *p, size_t *n, int *c4, int *c6)
{
	size_t end = *n;
	*c4 = 32;
	*c6 = 128;
	for (size_t i = 0; i + 1 < end; i++)
		if (p[i] == '/' && p[i + 1] == '/') {
			if (spf_prefix(p + i + 2, end - i - 2, 128, c6) != 0)
				return -1;
			end = i;
			break;
		}
	for (size_t i = end; i > 0; i--)
		if (p[i - 1] == '/') {
			if (spf_prefix(p + i, end - i, 32, c4) != 0)
				return -1;
			end = i - 1;
			break;
		}
	*n = end;
	return 0;
}

static int spf_term_parse(const char *p, size_t n, struct spf_record *r, char *err, size_t errlen)
{
	enum pol_spf q = POL_SPF_PASS;
	const char *t = p;
	size_t tn = n;
	/* modifiers: name=value, the name made of letters, digits, - _ . */
	size_t eq = 0;
	while (eq < n &&
	       (((p[eq] | 0x20) >= 'a' && (p[eq] | 0x20) <= 'z') ||
	        (p[eq] >= '0' && p[eq] <= '9') || p[eq] == '-' || p[eq] == '_' || p[eq] == '.'))
		eq++;
	if (eq > 0 && eq < n && p[eq] == '=') {
		if (str_ieq_n(p, eq, "redirect")) {
			if (r->has_redirect)
				return spf_fail(err, errlen, "two redirect modifiers", p, n);
			if (!spf_spec_ok(p + eq + 1, n - eq - 1))
				return spf_fail(err, errlen, "bad redirect", p, n);
			r->has_redirect = true;
			if (str_copy_n(r->redirect, sizeof r->redirect, p + eq + 1, n - eq - 1) !=
			    0)
				panic("spf_parse: spf_spec_ok() checked the length");
		} else if (str_ieq_n(p, eq, "exp")) {
			if (!spf_spec_ok(p + eq + 1, n - eq - 1))
				return spf_fail(err, errlen, "bad exp", p, n);
		} else if (!((p[0] | 0x20) >= 'a' && (p[0] | 0x20) <= 'z')) {
			return spf_fail(err, errlen, "bad modifier", p, n);
		} /* unknown modifiers are ignored (section 6) */
		return 0;
	}
	switch (t[0]) {
	case '+':
		q = POL_SPF_PASS;
		break;
	case '-':
		q = POL_SPF_FAIL;
		break;
	case '~':
		q = POL_SPF_SOFTFAIL;
		break;
	case '?':
		q = POL_SPF_NEUTRAL;
		break;
	default:
		q = POL_SPF_UNKNOWN;
	}
	if (q != POL_SPF_UNKNOWN) {
		t++;
		tn--;
	} else {
		q = POL_SPF_PASS;
	}
	size_t nl = 0;
	while (nl < tn && ((t[nl] | 0x20) >= 'a' && (t[nl] | 0x20) <= 'z') && nl < 8)
		nl++;
	if (r->nterms == SPF_TERMS_MAX)
		return spf_fail(err, errlen, "too many terms", p, n);
	struct spf_term *m = &r->terms[r->nterms];
	memset(m, 0, sizeof *m);
	m->qualifier = q;
	m->cidr4 = 32;
	m->cidr6 = 128;
	const char *arg = t + nl;
	size_t an = tn - nl;
	static const struct {
		const char *name;
		enum spf_mech mech;
	} names[] = {
	    {"all", SPF_M_ALL}, {"include", SPF_M_INCLUDE}, {"a", SPF_M_A},
	    {"mx", SPF_M_MX},   {"ptr", SPF_M_PTR},         {"ip4", SPF_M_IP4},
	    {"ip6", SPF_M_IP6}, {"exists", SPF_M_EXISTS},
	};
	size_t k;
	/* ip4 and ip6 end in a digit: take the name up to the ':' */
	if (nl == 2 && an > 0 && (arg[0] == '4' || arg[0] == '6') && str_ieq_n(t, 2, "ip")) {
		nl = 3;
		arg = t + 3;
		an = tn - 3;
	}
	for (k = 0; k < sizeof names / sizeof names[0]; k++)
		if (str_ieq_n(t, nl, names[k].name))
			break;
	if (k == sizeof names / sizeof names[0])
		return spf_fail(err, errlen, "unknown mechanism", p, n);
	m->mech = names[k].mech;
	switch (m->mech) {
	case SPF_M_ALL:
		if (an != 0)
			return spf_fail(err, errlen, "junk after all", p, n);
		break;
	case SPF_M_INCLUDE:
	case SPF_M_EXISTS:
		if (an < 2 || arg[0] != ':' || !spf_spec_ok(arg + 1, an - 1))
			return spf_fail(err, errlen, "needs :domain", p, n);
		if (str_copy_n(m->spec, sizeof m->spec, arg + 1, an - 1) != 0)
			panic("spf_parse: spf_spec_ok() checked the length");
		break;
	case SPF_M_A:
	case SPF_M_MX:
	case SPF_M_PTR: {
		size_t dn = an;
		if (m->mech != SPF_M_PTR && spf_dual_cidr(arg, &dn, &m->cidr4, &m->cidr6) != 0)
			return spf_fail(err, errlen, "bad prefix length", p, n);
		if (dn > 0) {
			if (arg[0] != ':' || !spf_spec_ok(arg + 1, dn - 1))
				return spf_fail(err, errlen, "bad domain", p, n);
			if (str_copy_n(m->spec, sizeof m->spec, arg + 1, dn - 1) != 0)
				panic("spf_parse: spf_spec_ok() checked the length");
		}
		break;
	}
	case SPF_M_IP4:
	case SPF_M_IP6: {
		if (an < 2 || arg[0] != ':')
			return spf_fail(err, errlen, "needs :address", p, n);
		const char *a = arg + 1;
		size_t al = an - 1;
		if (cidr_parse(a, al, &m->net) != 0 ||
		    m->net.addr.family != (m->mech == SPF_M_IP4 ? 4 : 6))
			return spf_fail(err, errlen, "bad address", p, n);
		const char *slash = memchr(a, '/', al);
		if (slash && (slash + 1 == a + al || (slash[1] == '0' && slash + 2 < a + al)))
			return spf_fail(err, errlen, "bad prefix length", p, n);
		break;
	}
	}
	r->nterms++;
	return 0;
}

int spf_record_parse(const char *txt, size_t len, struct spf_record *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (err && errlen)
		err[0] = '\0';
	if (!spf_is_record(txt, len))
		return spf_fail(err, errlen, "not an SPF record", txt, len);
	size_t i = 6;
	while (i < len) {
		while (i < len && txt[i] == ' ')
			i++;
		size_t s = i;
		while (i < len && txt[i] != ' ')
			i++;
		if (i > s && spf_term_parse(txt + s, i - s, out, err, errlen) != 0)
			return -1;
	}
	return 0;
}

/* ---- macros (pure) ---- */

static int spf_append(char *out, size_t size, size_t *n, const char *s, size_t len, bool url)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool plain = !url || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		             (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
		if (plain) {
			if (*n + 1 >= size)
				return -1;
			out[(*n)++] = (char)c;
		} else {
			if (*n + 3 >= size)
				return -1;
			static const char hex[] = "0123456789ABCDEF";
			out[(*n)++] = '%';
			out[(*n)++] = hex[c >> 4];
			out[(*n)++] = hex[c & 15];
		}
	}
	out[*n] = '\0';
	return 0;
}

static void spf_ip_macro(const struct addr *ip, bool v, char *out, size_t size)
{
	if (v) {
		if (str_copy(out, size, ip->family == 4 ? "in-addr" : "ip6") != 0)
			panic("spf_ip_macro: out does not fit");
		return;
	}
	if (ip->family == 4) {
		if (str_format(out, size, "%u.%u.%u.%u", ip->bytes[0], ip->bytes[1], ip->bytes[2],
		               ip->bytes[3]) != 0)
			panic("spf_ip_macro: out does not fit");
		return;
	}
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	for (int i = 0; i < 16 && n + 4 < size; i++) {
		out[n++] = hex[ip->bytes[i] >> 4];
		out[n++] = '.';
		out[n++] = hex[ip->bytes[i] & 15];
		out[n++] = i < 15 ? '.' : '\0';
	}
	if (size)
		out[n < size ? n : size - 1] = '\0';
}

/* One %{...} body (letter, digits, r, delimiters) applied to value. */
static int spf_macro_one(const char *body, size_t blen, const struct spf_macro_ctx *m, char *out,
                         size_t size, size_t *n)
{
	char val[512];
	char letter = body[0];
	bool url = letter >= 'A' && letter <= 'Z';
	const char *at = mailaddr_at(m->sender);
	switch (letter | 0x20) {
	case 's':
		if (str_copy(val, sizeof val, m->sender) != 0)
			panic("spf_macro_one: sender, domain and helo are shorter than val");
		break;
	case 'l':
		if (str_copy_n(val, sizeof val, m->sender,
		               at ? (size_t)(at - m->sender) : strlen(m->sender)) != 0)
			panic("spf_macro_one: sender, domain and helo are shorter than val");
		break;
	case 'o':
		if (str_copy(val, sizeof val, at ? at + 1 : m->sender) != 0)
			panic("spf_macro_one: sender, domain and helo are shorter than val");
		break;
	case 'd':
		if (str_copy(val, sizeof val, m->domain) != 0)
			panic("spf_macro_one: sender, domain and helo are shorter than val");
		break;
	case 'i':
		spf_ip_macro(&m->ip, false, val, sizeof val);
		break;
	case 'v':
		spf_ip_macro(&m->ip, true, val, sizeof val);
		break;
	case 'h':
		if (str_copy(val, sizeof val, m->helo && m->helo[0] ? m->helo : "unknown") != 0)
			panic("spf_macro_one: sender, domain and helo are shorter than val");
		break;
	case 'p':
		if (str_copy(val, sizeof val, "unknown") != 0)
			panic("spf_macro_one: val does not fit"); /* section 7.3: allowed, and ptr
			                                             is discouraged */
		break;
	default:
		return -1; /* c, r, t only in exp=, which we do not expand */
	}
	size_t i = 1;
	unsigned keep = 0;
	bool digits = false;
	while (i < blen && body[i] >= '0' && body[i] <= '9') {
		keep = keep * 10 + (unsigned)(body[i] - '0');
		if (keep > 128)
			return -1;
		digits = true;
		i++;
	}
	if (digits && keep == 0)
		return -1;
	bool rev = false;
	if (i < blen && (body[i] | 0x20) == 'r') {
		rev = true;
		i++;
	}
	char delims[8] = "";
	size_t nd = 0;
	for (; i < blen; i++) {
		if (!strchr(".-+,/_=", body[i]) || nd + 1 >= sizeof delims)
			return -1;
		delims[nd++] = body[i];
	}
	if (nd == 0)
		delims[nd++] = '.';
	delims[nd] = '\0';
	/* split into parts */
	const char *parts[128];
	size_t plen[128], np = 0;
	const char *p = val, *e = val + strlen(val);
	while (np < 128) {
		const char *q = p;
		while (q < e && !strchr(delims, *q))
			q++;
		parts[np] = p;
		plen[np++] = (size_t)(q - p);
		if (q >= e)
			break;
		p = q + 1;
	}
	if (rev)
		for (size_t a = 0, b = np - 1; a < b; a++, b--) {
			const char *tp = parts[a];
			parts[a] = parts[b];
			parts[b] = tp;
			size_t tl = plen[a];
			plen[a] = plen[b];
			plen[b] = tl;
		}
	size_t first = digits && keep < np ? np - keep : 0;
	for (size_t k = first; k < np; k++) {
		if (k > first && spf_append(out, size, n, ".", 1, false) != 0)
			return -1;
		if (spf_append(out, size, n, parts[k], plen[k], url) != 0)
			return -1;
	}
	return 0;
}

int spf_macro_expand(const char *spec, const struct spf_macro_ctx *m, char *out, size_t size)
{
	char buf[2048]; /* expanded in full, then cut to a domain name */
	size_t n = 0;
	buf[0] = '\0';
	for (const char *p = spec; *p;) {
		if (*p != '%') {
			if (*p <= ' ' || *p > '~' ||
			    spf_append(buf, sizeof buf, &n, p, 1, false) != 0)
				return -1;
			p++;
			continue;
		}
		char c = p[1];
		if (c == '%' || c == '_' || c == '-') {
			const char *lit = c == '%' ? "%" : c == '_' ? " " : "%20";
			if (spf_append(buf, sizeof buf, &n, lit, strlen(lit), false) != 0)
				return -1;
			p += 2;
			continue;
		}
		if (c != '{')
			return -1;
		const char *close = strchr(p + 2, '}');
		if (!close || close == p + 2)
			return -1;
		if (spf_macro_one(p + 2, (size_t)(close - p - 2), m, buf, sizeof buf, &n) != 0)
			return -1;
		p = close + 1;
	}
	if (n > 0 && buf[n - 1] == '.')
		buf[--n] = '\0';
	/* a domain longer than 253: drop labels on the left (section 7.3) */
	const char *d = buf;
	while (n > 253) {
		const char *dot = strchr(d, '.');
		if (!dot)
			return -1;
		n -= (size_t)(dot - d) + 1;
		d = dot + 1;
	}
	if (n == 0 || str_copy(out, size, d) != 0)
		return -1;
	return 0;
}

/* ---- evaluation ---- */

enum spf_wait {
	SPF_W_NONE = 0,
	SPF_W_TXT,    /* the frame's record */
	SPF_W_ADDR,   /* a, exists */
	SPF_W_MX,     /* mx: the exchanger list */
	SPF_W_MX_ADDR /* mx: one exchanger's addresses */
};

struct spf_frame {
	char domain[256];
	struct spf_record rec;
	unsigned term;
	bool redirected; /* this frame followed a redirect: no record is a permerror */
};

struct spf_check {
	struct event_base *base;
	struct dns *dns;
	spf_callback cb;
	void *arg;
	bool cancelled, done;
	struct addr ip;
	char sender[POL_MAILADDR_MAX + 16];
	char helo[256];
	struct spf_answer ans;
	unsigned depth;
	struct spf_frame *frames[SPF_DEPTH_MAX];
	enum spf_wait wait;
	unsigned voids;
	/* mx in progress */
	int nmx, mx_i;
	char mx[SPF_MX_MAX][DNS_NAME_MAX];
	struct event *ev; /* delivers a result decided without DNS */
};

static void spf_run(struct spf_check *c);

static void spf_free(struct spf_check *c)
{
	for (unsigned i = 0; i < c->depth; i++)
		free(c->frames[i]);
	if (c->ev)
		event_free(c->ev);
	free(c);
}

static void spf_deliver(struct spf_check *c)
{
	if (!c->cancelled)
		c->cb(c->arg, &c->ans);
	spf_free(c);
}

static void spf_deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	spf_deliver(arg);
}

/* The whole check ends with r. Delivered now when called from a DNS callback
 * (from_dns), else on the next loop turn. */
static void spf_finish(struct spf_check *c, enum pol_spf r, bool from_dns, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void spf_finish(struct spf_check *c, enum pol_spf r, bool from_dns, const char *fmt, ...)
{
	va_list ap;
	c->ans.result = r;
	va_start(ap, fmt);
	(void)vsnprintf(c->ans.reason, sizeof c->ans.reason, fmt, ap);
	va_end(ap);
	c->done = true;
	if (from_dns) {
		spf_deliver(c);
		return;
	}
	struct timeval zero = {0, 0};
	c->ev = evtimer_new(c->base, spf_deliver_cb, c);
	if (!c->ev || evtimer_add(c->ev, &zero) != 0)
		spf_deliver(c); /* no memory: better now than never */
}

static struct spf_frame *spf_top(struct spf_check *c)
{
	return c->frames[c->depth - 1];
}

static void spf_dns_cb(void *arg, const struct dns_result *res);

static bool spf_query(struct spf_check *c, const char *name, enum dns_type t, enum spf_wait w)
{
	c->wait = w;
	if (dns_query(c->dns, name, t, spf_dns_cb, c) != 0) {
		c->wait = SPF_W_NONE;
		return false;
	}
	return true;
}

static bool spf_push(struct spf_check *c, const char *domain, bool redirected)
{
	if (c->depth == SPF_DEPTH_MAX)
		return false;
	struct spf_frame *f = calloc(1, sizeof *f);
	if (!f)
		return false;
	if (str_copy(f->domain, sizeof f->domain, domain) != 0) {
		free(f);
		return false;
	}
	f->redirected = redirected;
	c->frames[c->depth++] = f;
	return true;
}

static bool spf_count_lookup(struct spf_check *c)
{
	return ++c->ans.lookups <= SPF_LOOKUP_LIMIT;
}

static const char *spf_mech_name(enum spf_mech m)
{
	static const char *const n[] = {"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"};
	if ((unsigned)m >= sizeof n / sizeof n[0])
		panic("spf: mechanism %d", (int)m);
	return n[m];
}

static char spf_qual_char(enum pol_spf q)
{
	return q == POL_SPF_FAIL       ? '-'
	       : q == POL_SPF_SOFTFAIL ? '~'
	       : q == POL_SPF_NEUTRAL  ? '?'
	                               : '+';
}

/* The current frame's record ended with r (or matched): pops it and resumes the
 * includer, or finishes the check. */
static void spf_frame_result(struct spf_check *c, enum pol_spf r, bool from_dns)
{
	if (c->depth == 1) {
		struct spf_frame *f = spf_top(c);
		if (f->term < f->rec.nterms) {
			const struct spf_term *t = &f->rec.terms[f->term];
			spf_finish(c, r, from_dns, "matched %c%s%s%s in %s",
			           spf_qual_char(t->qualifier), spf_mech_name(t->mech),
			           t->spec[0] ? ":" : "", t->spec, f->domain);
		} else {
			spf_finish(c, r, from_dns, "no term matched in %s (default neutral)",
			           f->domain);
		}
		return;
	}
	struct spf_frame *inner = spf_top(c);
	char dom[256];
	if (str_copy(dom, sizeof dom, inner->domain) != 0)
		panic("spf_frame_result: dom does not fit");
	free(inner);
	c->depth--;
	struct spf_frame *f = spf_top(c);
	const struct spf_term *t = &f->rec.terms[f->term];
	switch (r) {
	case POL_SPF_PASS:
		spf_frame_result(c, t->qualifier, from_dns);
		return;
	case POL_SPF_TEMPERROR:
		spf_finish(c, POL_SPF_TEMPERROR, from_dns, "include:%s: DNS error", dom);
		return;
	case POL_SPF_PERMERROR:
	case POL_SPF_NONE:
	case POL_SPF_UNKNOWN:
		spf_finish(c, POL_SPF_PERMERROR, from_dns, "include:%s: %s", dom,
		           r == POL_SPF_PERMERROR ? "permanent error" : "no SPF record");
		return;
	default:
		f->term++; /* fail, softfail, neutral: no match, go on */
		c->wait = SPF_W_NONE;
		spf_run(c);
		return;
	}
}

static bool spf_addr_match(const struct spf_check *c, const struct addr *a, int c4, int c6)
{
	if (a->family != c->ip.family)
		return false;
	struct cidr net = {.addr = *a, .prefix = (uint8_t)(a->family == 4 ? c4 : c6)};
	addr_mask(&net.addr, net.prefix);
	return cidr_contains(&net, &c->ip);
}

/* Void lookups (NXDOMAIN, no data) beyond the limit are a permerror. */
static bool spf_void(struct spf_check *c, const struct dns_result *res)
{
	if (res->status == DNS_NXDOMAIN || res->status == DNS_NODATA ||
	    (res->status == DNS_OK && res->naddrs == 0 && res->nmx == 0))
		return ++c->voids > SPF_VOID_LIMIT;
	return false;
}

static bool spf_dns_error(const struct dns_result *res)
{
	return res->status != DNS_OK && res->status != DNS_NXDOMAIN && res->status != DNS_NODATA;
}

static void spf_on_txt(struct spf_check *c, const struct dns_result *res)
{
	struct spf_frame *f = spf_top(c);
	char err[128];
	if (spf_dns_error(res)) {
		spf_finish(c, POL_SPF_TEMPERROR, true, "%s: TXT lookup %s", f->domain,
		           dns_status_name(res->status));
		return;
	}
	/* records are joined by " | " (net/dns.h); pick the v=spf1 ones */
	const char *rec = NULL;
	size_t rlen = 0;
	int found = 0;
	const char *p = res->status == DNS_OK ? res->txt : "";
	const char *end = p + strlen(p);
	while (p < end) {
		const char *sep = strstr(p, " | ");
		const char *e = sep ? sep : end;
		if (spf_is_record(p, (size_t)(e - p))) {
			found++;
			rec = p;
			rlen = (size_t)(e - p);
		}
		p = sep ? sep + 3 : end;
	}
	if (found == 0) {
		if (c->depth == 1 && !f->redirected)
			spf_finish(c, POL_SPF_NONE, true, "%s has no SPF record", f->domain);
		else if (c->depth == 1)
			spf_finish(c, POL_SPF_PERMERROR, true, "redirect to %s: no SPF record",
			           f->domain);
		else
			spf_frame_result(c, POL_SPF_NONE, true);
		return;
	}
	if (found > 1) {
		spf_finish(c, POL_SPF_PERMERROR, true, "%s has %d SPF records", f->domain, found);
		return;
	}
	if (spf_record_parse(rec, rlen, &f->rec, err, sizeof err) != 0) {
		spf_finish(c, POL_SPF_PERMERROR, true, "%s: %s", f->domain, err);
		return;
	}
	f->term = 0;
	c->wait = SPF_W_NONE;
	spf_run(c);
}

static void spf_next_mx(struct spf_check *c)
{
	while (c->mx_i < c->nmx) {
		if (spf_query(c, c->mx[c->mx_i], c->ip.family == 4 ? DNS_T_A : DNS_T_AAAA,
		              SPF_W_MX_ADDR))
			return;
		spf_finish(c, POL_SPF_TEMPERROR, true, "cannot start a DNS query");
		return;
	}
	/* no exchanger matched */
	spf_top(c)->term++;
	c->wait = SPF_W_NONE;
	spf_run(c);
}

static void spf_dns_cb(void *arg, const struct dns_result *res)
{
	struct spf_check *c = arg;
	enum spf_wait w = c->wait;
	c->wait = SPF_W_NONE;
	if (c->cancelled) {
		spf_free(c);
		return;
	}
	if (w == SPF_W_TXT) {
		spf_on_txt(c, res);
		return;
	}
	struct spf_frame *f = spf_top(c);
	const struct spf_term *t = &f->rec.terms[f->term];
	if (spf_dns_error(res) && !(w == SPF_W_MX_ADDR)) {
		spf_finish(c, POL_SPF_TEMPERROR, true, "%s in %s: DNS %s", spf_mech_name(t->mech),
		           f->domain, dns_status_name(res->status));
		return;
	}
	if (w != SPF_W_MX_ADDR && spf_void(c, res)) {
		spf_finish(c, POL_SPF_PERMERROR, true, "more than %d void lookups", SPF_VOID_LIMIT);
		return;
	}
	switch (w) {
	case SPF_W_ADDR: {
		bool match = false;
		if (res->status == DNS_OK) {
			if (t->mech == SPF_M_EXISTS)
				match = res->naddrs > 0;
			else
				for (int i = 0; i < res->naddrs && !match; i++)
					match =
					    spf_addr_match(c, &res->addrs[i], t->cidr4, t->cidr6);
		}
		if (match) {
			spf_frame_result(c, t->qualifier, true);
			return;
		}
		f->term++;
		spf_run(c);
		return;
	}
	case SPF_W_MX:
		if (res->status == DNS_OK && res->nmx > SPF_MX_MAX) {
			spf_finish(c, POL_SPF_PERMERROR, true, "mx in %s: more than %d exchangers",
			           f->domain, SPF_MX_MAX);
			return;
		}
		c->nmx = res->status == DNS_OK ? res->nmx : 0;
		for (int i = 0; i < c->nmx; i++)
			if (str_copy(c->mx[i], sizeof c->mx[i], res->mx[i].host) != 0)
				panic("spf_dns_cb: c->mx[i] does not fit");
		c->mx_i = 0;
		spf_next_mx(c);
		return;
	case SPF_W_MX_ADDR:
		if (res->status == DNS_OK)
			for (int i = 0; i < res->naddrs; i++)
				if (spf_addr_match(c, &res->addrs[i], t->cidr4, t->cidr6)) {
					spf_frame_result(c, t->qualifier, true);
					return;
				}
		if (spf_dns_error(res)) {
			spf_finish(c, POL_SPF_TEMPERROR, true, "mx %s: DNS %s", c->mx[c->mx_i],
			           dns_status_name(res->status));
			return;
		}
		c->mx_i++;
		spf_next_mx(c);
		return;
	default:
		return;
	}
}

/* Walks the current frame from its term until a DNS wait, a match or the end. */
static void spf_run(struct spf_check *c)
{
	char name[256];
	for (;;) {
		struct spf_frame *f = spf_top(c);
		struct spf_macro_ctx mc = {
		    .sender = c->sender, .domain = f->domain, .helo = c->helo, .ip = c->ip};
		if (f->term >= f->rec.nterms) {
			if (!f->rec.has_redirect) {
				spf_frame_result(c, POL_SPF_NEUTRAL, true);
				return;
			}
			if (!spf_count_lookup(c)) {
				spf_finish(c, POL_SPF_PERMERROR, true, "more than %d DNS lookups",
				           SPF_LOOKUP_LIMIT);
				return;
			}
			if (spf_macro_expand(f->rec.redirect, &mc, name, sizeof name) != 0) {
				spf_finish(c, POL_SPF_PERMERROR, true, "%s: bad redirect",
				           f->domain);
				return;
			}
			/* the frame becomes the target's; its result is the frame's */
			if (str_copy(f->domain, sizeof f->domain, name) != 0) {
				spf_finish(c, POL_SPF_PERMERROR, true,
				           "%s: redirect target too long", f->domain);
				return;
			}
			memset(&f->rec, 0, sizeof f->rec);
			f->term = 0;
			f->redirected = true;
			if (!spf_query(c, name, DNS_T_TXT, SPF_W_TXT))
				spf_finish(c, POL_SPF_TEMPERROR, true, "cannot start a DNS query");
			return;
		}
		const struct spf_term *t = &f->rec.terms[f->term];
		switch (t->mech) {
		case SPF_M_ALL:
			spf_frame_result(c, t->qualifier, true);
			return;
		case SPF_M_IP4:
		case SPF_M_IP6:
			if (cidr_contains(&t->net, &c->ip)) {
				spf_frame_result(c, t->qualifier, true);
				return;
			}
			f->term++;
			continue;
		case SPF_M_PTR:
			/* "ptr" SHOULD NOT be published (section 5.5); it counts as a lookup and,
			 * without a validated name, does not match */
			if (!spf_count_lookup(c)) {
				spf_finish(c, POL_SPF_PERMERROR, true, "more than %d DNS lookups",
				           SPF_LOOKUP_LIMIT);
				return;
			}
			f->term++;
			continue;
		default:
			break;
		}
		if (!spf_count_lookup(c)) {
			spf_finish(c, POL_SPF_PERMERROR, true, "more than %d DNS lookups",
			           SPF_LOOKUP_LIMIT);
			return;
		}
		if (spf_macro_expand(t->spec[0] ? t->spec : "%{d}", &mc, name, sizeof name) != 0) {
			spf_finish(c, POL_SPF_PERMERROR, true, "%s in %s: bad domain-spec",
			           spf_mech_name(t->mech), f->domain);
			return;
		}
		bool ok;
		switch (t->mech) {
		case SPF_M_INCLUDE:
			if (!spf_push(c, name, false)) {
				spf_finish(c, POL_SPF_PERMERROR, true, "includes nested too deep");
				return;
			}
			ok = spf_query(c, name, DNS_T_TXT, SPF_W_TXT);
			break;
		case SPF_M_A:
			ok = spf_query(c, name, c->ip.family == 4 ? DNS_T_A : DNS_T_AAAA,
			               SPF_W_ADDR);
			break;
		case SPF_M_EXISTS:
			ok = spf_query(c, name, DNS_T_A, SPF_W_ADDR);
			break;
		case SPF_M_MX:
			ok = spf_query(c, name, DNS_T_MX, SPF_W_MX);
			break;
		default: /* all, ip4, ip6 and ptr were answered above */
			panic("spf: mechanism %s needs no query", spf_mech_name(t->mech));
		}
		if (!ok)
			spf_finish(c, POL_SPF_TEMPERROR, true, "cannot start a DNS query");
		return;
	}
}

struct spf_check *spf_check_start(struct event_base *base, struct dns *dns, const struct addr *ip,
                                  const char *sender, const char *helo, spf_callback cb, void *arg)
{
	struct spf_check *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->base = base;
	c->dns = dns;
	c->cb = cb;
	c->arg = arg;
	c->ip = *ip;
	addr_unmap(&c->ip);
	if (str_copy(c->helo, sizeof c->helo, helo ? helo : "") != 0)
		c->helo[0] = '\0';
	const char *at = sender ? mailaddr_at(sender) : NULL;
	const char *domain;
	if (sender && sender[0] && at && at[1]) {
		if ((at == sender ? str_format(c->sender, sizeof c->sender, "postmaster%s", sender)
		                  : str_copy(c->sender, sizeof c->sender, sender)) != 0) {
			spf_finish(c, POL_SPF_NONE, false, "sender address too long");
			return c;
		}
		domain = mailaddr_domain(c->sender);
	} else {
		if (str_format(c->sender, sizeof c->sender, "postmaster@%s", c->helo) != 0)
			panic("spf_check_start: c->sender does not fit");
		domain = c->helo;
	}
	if (str_copy(c->ans.domain, sizeof c->ans.domain, domain) != 0) {
		spf_finish(c, POL_SPF_NONE, false, "no usable domain to check");
		return c;
	}
	str_lower(c->ans.domain);
	/* Two labels at least; '_' and edge hyphens are in the DNS, so not malformed here. */
	bool bad =
	    dname_check(domain, strlen(domain),
	                DNAME_NEED_DOT | DNAME_UNDERSCORE | DNAME_ROOT_DOT | DNAME_EDGE_HYPHEN,
	                NULL, 0) != DNAME_OK;
	if (bad) {
		/* section 4.3: a malformed domain is "none" */
		spf_finish(c, POL_SPF_NONE, false, "no usable domain to check");
		return c;
	}
	if (!spf_push(c, c->ans.domain, false) ||
	    !spf_query(c, c->ans.domain, DNS_T_TXT, SPF_W_TXT)) {
		spf_finish(c, POL_SPF_TEMPERROR, false, "cannot start a DNS query");
		return c;
	}
	return c;
}

void spf_check_cancel(struct spf_check *c)
{
	c->cancelled = true;
	if (c->done && c->ev) {
		/* a result waits on the loop: drop it now */
		spf_free(c);
	}
}
