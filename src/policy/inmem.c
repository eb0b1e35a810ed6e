/*
 * inmem - the inbound memory (records of accepted inbound mail) and the
 * auto-reply, notification and forwarding rules that read it (inmem.h).
 *
 * Records are expiring store records (put_exp) holding a struct in host byte
 * order after a 16-byte header (magic, version, size), like the engine's: a
 * record whose header does not match is ignored, never trusted. Each record
 * also carries its own expiry, checked on every read, so a store that has
 * not swept yet (or cannot: put_exp NULL) decides the same.
 */
#include "policy/inmem.h"

#include "core/addr.h"
#include "core/log.h"
#include "core/mailaddr.h"
#include "core/str.h"
#include "policy/canon.h"
#include "policy/ratelimit.h"
#include "policy/rechdr.h"

#include <string.h>
#include <strings.h>

#define INMEM_VERSION 1
#define INMEM_HOUR_MS 3600000LL

struct inmem_msg {
	struct rechdr hdr;
	int64_t time_ms, expires_ms;
	bool has_ip;
	struct addr ip;
	int32_t score;
	uint32_t flags;
	uint32_t spf;
	char sender[POL_MAILADDR_MAX];
	char lists[POL_TEXT_MAX];
};

_Static_assert(sizeof(bool) == 1, "inmem_msg_ok reads has_ip as one byte");

struct inmem_sender {
	struct rechdr hdr;
	int64_t expires_ms;
	int64_t vouched_ms; /* last clean inbound message with SPF pass (or none, by config) */
	uint32_t messages, forged;
	struct inmem_msg last; /* the last inbound message from this sender */
};

struct inmem_mark { /* "R:": an auto-reply went out */
	struct rechdr hdr;
	int64_t sent_ms, expires_ms;
};

struct inmem_cap { /* "Y:": auto-replies of an account per hour */
	struct rechdr hdr;
	struct ratelimit_ewma rate;
};

/* key = prefix + text, cut to fit the store's key size (a long Message-ID
 * keeps its first part: enough to tell messages apart). */
static void inmem_key(char *key, const char *prefix, const char *a, const char *b)
{
	str_copy_trunc(key, STORE_KEY_MAX, prefix);
	size_t n = strlen(key);
	str_copy_n_trunc(key + n, STORE_KEY_MAX - n, a, strnlen(a, STORE_KEY_MAX - n - 1));
	if (b) {
		n = strlen(key);
		if (n + 2 < STORE_KEY_MAX) {
			key[n++] = ' ';
			key[n] = '\0';
			str_copy_n_trunc(key + n, STORE_KEY_MAX - n, b,
			                 strnlen(b, STORE_KEY_MAX - n - 1));
		}
	}
}

/* inmem_key of addresses and accounts: their canonical forms (canon.h), so
 * "Bob@Example.COM" answers the mail of "bob@example.com". */
static void inmem_akey(char *key, const char *prefix, const char *a, const char *b)
{
	char ca[POL_IDENT_MAX], cb[POL_MAILADDR_MAX];
	canon_user_key(a, ca, sizeof ca);
	if (b)
		canon_user_key(b, cb, sizeof cb);
	inmem_key(key, prefix, ca, b ? cb : NULL);
}

/* A message record as inmem_record() writes it: the store (a damaged file, a
 * Redis shared with others) may hold any bytes, and pol_spf_name() panics on
 * an spf out of range; has_ip is a bool, and a byte other than 0 or 1 read as
 * one is undefined (read here as a byte). The times are only compared, the
 * score and flags only tested, the address formatted as what it is. */
static bool inmem_msg_ok(const struct inmem_msg *m)
{
	unsigned char has_ip;
	memcpy(&has_ip, &m->has_ip, 1);
	return m->spf <= POL_SPF_PERMERROR && has_ip <= 1 &&
	       memchr(m->sender, '\0', sizeof m->sender) && memchr(m->lists, '\0', sizeof m->lists);
}

/* 1 with *out filled when key holds a live record of this kind, 0 when not, -1 on error. */
static int inmem_get(struct store *st, const char *key, const char *magic, void *out, size_t size,
                     int64_t now)
{
	size_t len = 0;
	int rc = st->get(st, key, out, size, &len);
	if (rc < 0)
		return len > size ? 0 : -1; /* too large: foreign */
	if (rc == 0 || !rechdr_ok(out, len, magic, INMEM_VERSION, size))
		return 0;
	int64_t exp = 0;
	if (memcmp(magic, "PINM", 4) == 0) {
		if (!inmem_msg_ok(out))
			return 0;
		exp = ((const struct inmem_msg *)out)->expires_ms;
	} else if (memcmp(magic, "PINS", 4) == 0) {
		if (!inmem_msg_ok(&((const struct inmem_sender *)out)->last))
			return 0;
		exp = ((const struct inmem_sender *)out)->expires_ms;
	} else if (memcmp(magic, "PARM", 4) == 0)
		exp = ((const struct inmem_mark *)out)->expires_ms;
	/* an expiry at or past RECHDR_TIME_LIMIT is damaged: it goes on to put_exp()
	 * (Redis refused a TTL that long: a store error) */
	return exp > now && rechdr_time_ok(exp) ? 1 : 0;
}

static bool inmem_forged(const struct inmem_msg *m)
{
	return m->spf == POL_SPF_FAIL || (m->flags & POL_F_LISTED);
}

static bool inmem_clean(const struct pol_config *c, const struct inmem_msg *m)
{
	if (inmem_forged(m) || (m->flags & POL_F_SPAM) || m->score >= c->forward_score)
		return false;
	return m->spf == POL_SPF_PASS || (c->notify_vouch_none && m->spf == POL_SPF_NONE);
}

/* "5 min", "3 h", "2 d": how long ago, for reasons. */
static void inmem_span(int64_t ms, char *out, size_t size)
{
	if (ms < INMEM_HOUR_MS) {
		if (str_format(out, size, "%lld min", (long long)(ms / 60000)) != 0)
			panic("inmem_span: out does not fit");
	} else if (ms < 48 * INMEM_HOUR_MS) {
		if (str_format(out, size, "%lld h", (long long)(ms / INMEM_HOUR_MS)) != 0)
			panic("inmem_span: out does not fit");
	} else {
		if (str_format(out, size, "%lld d", (long long)(ms / (24 * INMEM_HOUR_MS))) != 0)
			panic("inmem_span: out does not fit");
	}
}

/* What made m forged, for a reason: "SPF fail from 203.0.113.5". */
static void inmem_why_forged(const struct inmem_msg *m, char *out, size_t size)
{
	char ip[ADDR_STRLEN] = "an unknown client";
	if (m->has_ip && addr_format(&m->ip, ip, sizeof ip) != 0)
		if (str_copy(ip, sizeof ip, "?") != 0)
			panic("inmem_why_forged: ip does not fit");
	if (m->spf == POL_SPF_FAIL)
		str_format_trunc(out, size, "SPF fail from %s", ip);
	else
		str_format_trunc(out, size, "client %s listed on %s", ip,
		                 m->lists[0] ? m->lists : "a DNSBL");
}

/* ---- recording ---- */

struct inmem_sender_ctx {
	const struct pol_config *c;
	const struct inmem_msg *msg;
};

static int inmem_sender_cb(void *ctx, unsigned char *rec, size_t *len, size_t cap)
{
	struct inmem_sender_ctx *x = ctx;
	struct inmem_sender *s = (struct inmem_sender *)rec;
	if (cap < sizeof *s || ((uintptr_t)rec % _Alignof(struct inmem_sender)) != 0)
		return -1;
	if (!rechdr_ok(rec, *len, "PINS", INMEM_VERSION, sizeof *s) ||
	    s->expires_ms <= x->msg->time_ms) {
		memset(s, 0, sizeof *s);
		rechdr_set(&s->hdr, "PINS", INMEM_VERSION, sizeof *s);
	}
	*len = sizeof *s;
	s->last = *x->msg;
	s->expires_ms = x->msg->expires_ms;
	if (s->messages < UINT32_MAX)
		s->messages++;
	if (inmem_forged(x->msg) && s->forged < UINT32_MAX)
		s->forged++;
	if (inmem_clean(x->c, x->msg))
		s->vouched_ms = x->msg->time_ms;
	return STORE_COMMIT;
}

int inmem_record(struct store *st, const struct pol_config *c, const struct pol_event *ev,
                 struct pol_verdict *v)
{
	struct inmem_msg m;
	char key[STORE_KEY_MAX];
	memset(&m, 0, sizeof m);
	rechdr_set(&m.hdr, "PINM", INMEM_VERSION, sizeof m);
	m.time_ms = ev->time_ms;
	m.expires_ms = ev->time_ms + (int64_t)c->memory_ms;
	m.has_ip = ev->has_ip;
	if (ev->has_ip)
		m.ip = ev->ip;
	m.score = ev->dnsbl_score;
	m.flags = ev->flags;
	if (ev->lists[0])
		m.flags |= POL_F_LISTED;
	m.spf = ev->spf;
	if (str_copy(m.sender, sizeof m.sender, ev->sender) != 0)
		panic("inmem_record: m.sender does not fit");
	str_copy_trunc(m.lists, sizeof m.lists, ev->lists);

	if (str_copy(v->rule, sizeof v->rule, "inbound") != 0)
		panic("inmem_record: v->rule does not fit");
	v->score = ev->dnsbl_score;
	pol_verdict_reason(v, "from %s spf=%s", ev->sender[0] ? ev->sender : "<>",
	                   pol_spf_name(ev->spf));
	if (ev->lists[0])
		pol_verdict_reason(v, "listed on %s", ev->lists);
	if (m.flags & POL_F_SPAM)
		pol_verdict_reason(v, "spam");
	if (ev->message_id[0]) {
		inmem_key(key, "M:", ev->message_id, NULL);
		if (store_put_exp(st, key, &m, sizeof m, m.expires_ms) != 0)
			return -1;
	}
	if (ev->sender[0]) {
		struct inmem_sender_ctx x = {.c = c, .msg = &m};
		inmem_akey(key, "S:", ev->sender, NULL);
		if (st->update(st, key, inmem_sender_cb, &x) < 0)
			return -1;
		if (st->put_exp) { /* update() made it plain if it was new: give it its expiry */
			struct inmem_sender s;
			if (inmem_get(st, key, "PINS", &s, sizeof s, ev->time_ms) == 1 &&
			    st->put_exp(st, key, &s, sizeof s, s.expires_ms) != 0)
				return -1;
		}
	}
	return 0;
}

/* ---- matching addresses ---- */

bool inmem_local_matches(const char *addr, const char *names)
{
	size_t n = mailaddr_local_len(addr);
	const char *p = names;
	while (*p) {
		const char *q = p;
		while (*q && *q != ',')
			q++;
		const char *s = p, *e = q;
		while (s < e && *s == ' ')
			s++;
		while (e > s && e[-1] == ' ')
			e--;
		bool head = s<e && * s == '*', tail = e> s + head && e[-1] == '*';
		if (head)
			s++;
		if (tail)
			e--;
		size_t m = (size_t)(e - s);
		if (m > 0 && m <= n) {
			if (!head && !tail && m == n && strncasecmp(addr, s, m) == 0)
				return true;
			if (head && !tail && strncasecmp(addr + n - m, s, m) == 0)
				return true;
			if (!head && tail && strncasecmp(addr, s, m) == 0)
				return true;
			if (head && tail)
				for (size_t i = 0; i + m <= n; i++)
					if (strncasecmp(addr + i, s, m) == 0)
						return true;
		}
		p = *q ? q + 1 : q;
	}
	return false;
}

int inmem_srs_original(const char *addr, char *out, size_t size)
{
	const char *at = mailaddr_at(addr);
	if (!at || at - addr < 5 || strncasecmp(addr, "SRS", 3) != 0)
		return -1;
	const char *p = addr + 4, *end = at;
	if (addr[3] == '1') {
		/* SRS1=HHH=first-forwarder==HHH=TT=domain=local: the SRS0 part follows "==" */
		const char *dd = NULL;
		for (const char *q = p; q + 1 < end; q++)
			if (q[0] == '=' && q[1] == '=') {
				dd = q;
				break;
			}
		if (!dd)
			return -1;
		p = dd + 2;
	} else if (addr[3] == '0') {
		if (*p != '=' && *p != '+' && *p != '-')
			return -1;
		p++;
	} else {
		return -1;
	}
	/* HHH=TT=domain=local */
	const char *f[3];
	for (int i = 0; i < 3; i++) {
		const char *q = memchr(p, '=', (size_t)(end - p));
		if (!q)
			return -1;
		f[i] = p;
		p = q + 1;
	}
	const char *dom = f[2];
	size_t dlen = (size_t)(p - 1 - dom), llen = (size_t)(end - p);
	if (dlen == 0 || llen == 0 || dlen + llen + 2 > size)
		return -1;
	memcpy(out, p, llen);
	out[llen] = '@';
	memcpy(out + llen + 1, dom, dlen);
	out[llen + 1 + dlen] = '\0';
	str_lower(out);
	return 0;
}

/* ---- the auto-reply rules ---- */

static void inmem_account(const struct pol_event *ev, const struct pol_verdict *v, char *out,
                          size_t size)
{
	if (ev->user[0]) {
		if (str_copy(out, size, ev->user) != 0)
			panic("inmem_account: out does not fit");
	} else if (ev->hfrom[0]) {
		if (str_copy(out, size, ev->hfrom) != 0)
			panic("inmem_account: out does not fit");
	} else if (ev->sender[0]) {
		if (str_copy(out, size, ev->sender) != 0)
			panic("inmem_account: out does not fit");
	} else
		str_copy_trunc(out, size, v->identity);
}

/* The inbound message an outbound one answers or notifies about: the one its
 * In-Reply-To names when the memory has it, else the last one from rcpt.
 * 1 found, 0 not, -1 error; *vouched from the sender record. */
static int inmem_about(struct store *st, const struct pol_event *ev, const char *rcpt,
                       struct inmem_msg *m, struct inmem_sender *s, bool *have_sender)
{
	char key[STORE_KEY_MAX];
	int rc;
	*have_sender = false;
	inmem_akey(key, "S:", rcpt, NULL);
	if ((rc = inmem_get(st, key, "PINS", s, sizeof *s, ev->time_ms)) < 0)
		return -1;
	*have_sender = rc == 1;
	if (ev->in_reply_to[0]) {
		inmem_key(key, "M:", ev->in_reply_to, NULL);
		if ((rc = inmem_get(st, key, "PINM", m, sizeof *m, ev->time_ms)) != 0)
			return rc;
	}
	if (*have_sender) {
		*m = s->last;
		return 1;
	}
	return 0;
}

struct inmem_mark_ctx {
	const struct pol_config *c;
	int64_t now;
	bool repeat;
	int64_t sent_ms;
};

static int inmem_mark_cb(void *ctx, unsigned char *rec, size_t *len, size_t cap)
{
	struct inmem_mark_ctx *x = ctx;
	struct inmem_mark *r = (struct inmem_mark *)rec;
	x->repeat = false; /* may run again (Redis re-reads a record another node wrote) */
	if (cap < sizeof *r || ((uintptr_t)rec % _Alignof(struct inmem_mark)) != 0)
		return -1;
	/* a mark sent before the epoch is damaged (now - sent_ms is the reason's
	 * "ago": it overflowed), and absent as a foreign one */
	if (rechdr_ok(rec, *len, "PARM", INMEM_VERSION, sizeof *r) && r->expires_ms > x->now &&
	    r->sent_ms <= x->now && rechdr_time_ok(r->sent_ms)) {
		x->repeat = true;
		x->sent_ms = r->sent_ms;
		return STORE_KEEP;
	}
	memset(r, 0, sizeof *r);
	rechdr_set(&r->hdr, "PARM", INMEM_VERSION, sizeof *r);
	r->sent_ms = x->now;
	r->expires_ms = x->now + (int64_t)x->c->autoreply_period_ms;
	*len = sizeof *r;
	return STORE_COMMIT;
}

struct inmem_cap_ctx {
	const struct pol_config *c;
	int64_t now;
	bool over;
	double rate;
};

static int inmem_cap_cb(void *ctx, unsigned char *rec, size_t *len, size_t cap)
{
	struct inmem_cap_ctx *x = ctx;
	struct inmem_cap *r = (struct inmem_cap *)rec;
	if (cap < sizeof *r || ((uintptr_t)rec % _Alignof(struct inmem_cap)) != 0)
		return -1;
	/* a damaged rate is absent too (its time is subtracted from now; a NaN
	 * rate would never reach the cap) */
	if (!rechdr_ok(rec, *len, "PARC", INMEM_VERSION, sizeof *r) || !rechdr_ewma_ok(&r->rate)) {
		memset(r, 0, sizeof *r);
		rechdr_set(&r->hdr, "PARC", INMEM_VERSION, sizeof *r);
	}
	*len = sizeof *r;
	x->over = ratelimit_ewma_hit(&r->rate, 1.0, (double)x->c->autoreply_hour_max, INMEM_HOUR_MS,
	                             RATELIMIT_LEAKY, x->now, &x->rate);
	return STORE_COMMIT;
}

static int inmem_autoreply(struct store *st, const struct pol_config *c, const struct pol_event *ev,
                           struct pol_verdict *v)
{
	char account[POL_MAILADDR_MAX], key[STORE_KEY_MAX], why[POL_TEXT_MAX], ago[32];
	struct inmem_msg m;
	struct inmem_sender s;
	bool have_sender;
	const char *rule = NULL;
	inmem_account(ev, v, account, sizeof account);
	if (ev->n_rcpt == 0) {
		pol_verdict_escalate(v, POL_HOLD, "autoreply_null");
		pol_verdict_reason(v, "automatic reply to the null sender");
		return 0;
	}
	for (uint32_t i = 0; i < ev->n_rcpt && !rule; i++) {
		const char *r = ev->rcpt[i];
		if (r[0] == '\0' || strcmp(r, "<>") == 0) {
			rule = "autoreply_null";
			pol_verdict_reason(v, "automatic reply to the null sender");
		} else if (inmem_local_matches(r, c->noreply_names)) {
			rule = "autoreply_noreply";
			pol_verdict_reason(v, "automatic reply to %s, a no-reply address", r);
		} else if (inmem_local_matches(r, c->list_names)) {
			rule = "autoreply_list";
			pol_verdict_reason(v, "automatic reply to %s, a list address", r);
		} else {
			int rc = inmem_about(st, ev, r, &m, &s, &have_sender);
			if (rc < 0)
				return -1;
			if (rc == 0)
				continue;
			if (inmem_forged(&m)) {
				rule = "autoreply_forged";
				inmem_why_forged(&m, why, sizeof why);
				pol_verdict_reason(v, "automatic reply to %s, forged: %s", r, why);
			} else if (m.flags & (POL_F_LIST | POL_F_BULK)) {
				rule = "autoreply_list";
				pol_verdict_reason(
				    v, "automatic reply to %s: it sent list or bulk mail", r);
			} else if (m.flags &
			           (POL_F_AUTO_SUBMITTED | POL_F_AUTO_REPLY | POL_F_NULL_SENDER)) {
				rule = "autoreply_auto";
				pol_verdict_reason(
				    v, "automatic reply to %s: it sent automatic mail", r);
			} else if ((m.flags & POL_F_SPAM) || m.score >= c->forward_score) {
				rule = "autoreply_spam";
				pol_verdict_reason(v,
				                   "automatic reply to %s: it sent spam (score %d)",
				                   r, (int)m.score);
			}
		}
	}
	if (rule) {
		pol_verdict_escalate(v, POL_HOLD, rule);
		return 0;
	}
	for (uint32_t i = 0; i < ev->n_rcpt; i++) {
		struct inmem_mark_ctx x = {.c = c, .now = ev->time_ms};
		inmem_akey(key, "R:", account, ev->rcpt[i]);
		if (st->update(st, key, inmem_mark_cb, &x) < 0)
			return -1;
		if (x.repeat) {
			inmem_span(ev->time_ms - x.sent_ms, ago, sizeof ago);
			pol_verdict_escalate(v, POL_HOLD, "autoreply_repeat");
			pol_verdict_reason(
			    v, "%s already answered %s %s ago (one reply per %llu d)", account,
			    ev->rcpt[i], ago,
			    (unsigned long long)(c->autoreply_period_ms / (24 * INMEM_HOUR_MS)));
			return 0;
		}
		if (st->put_exp) {
			struct inmem_mark mk;
			if (inmem_get(st, key, "PARM", &mk, sizeof mk, ev->time_ms) == 1 &&
			    st->put_exp(st, key, &mk, sizeof mk, mk.expires_ms) != 0)
				return -1;
		}
	}
	if (c->autoreply_hour_max > 0) {
		struct inmem_cap_ctx x = {.c = c, .now = ev->time_ms};
		inmem_akey(key, "Y:", account, NULL);
		if (st->update(st, key, inmem_cap_cb, &x) < 0)
			return -1;
		if (x.over) {
			pol_verdict_escalate(v, POL_HOLD, "autoreply_rate");
			pol_verdict_reason(v, "%.0f automatic replies from %s in 1 h (limit %lld)",
			                   x.rate, account, c->autoreply_hour_max);
		}
	}
	return 0;
}

/* ---- notifications ---- */

static int inmem_notify(struct store *st, const struct pol_config *c, const struct pol_event *ev,
                        struct pol_verdict *v)
{
	char why[POL_TEXT_MAX];
	struct inmem_msg m;
	struct inmem_sender s;
	bool have_sender;
	for (uint32_t i = 0; i < ev->n_rcpt; i++) {
		const char *r = ev->rcpt[i];
		int rc = inmem_about(st, ev, r, &m, &s, &have_sender);
		if (rc < 0)
			return -1;
		bool vouched = have_sender && s.vouched_ms > 0 &&
		               ev->time_ms - s.vouched_ms < (int64_t)c->memory_ms;
		if (rc == 1 && inmem_forged(&m)) {
			inmem_why_forged(&m, why, sizeof why);
			pol_verdict_escalate(v, POL_HOLD, "notify_forged");
			pol_verdict_reason(v, "notification to %s, forged: %s", r, why);
			return 0;
		}
		if (!vouched) {
			pol_verdict_escalate(v, POL_HOLD, "notify_unverified");
			if (!have_sender)
				pol_verdict_reason(v, "notification to %s: no inbound mail from it",
				                   r);
			else
				pol_verdict_reason(
				    v,
				    "notification to %s: no SPF-verified mail from it "
				    "(last spf=%s)",
				    r, pol_spf_name((enum pol_spf)s.last.spf));
			return 0;
		}
	}
	return 0;
}

/* ---- forwards ---- */

static bool inmem_spam(const struct pol_config *c, const struct inmem_msg *m)
{
	return (m->flags & (POL_F_SPAM | POL_F_LISTED)) || m->score >= c->forward_score;
}

static void inmem_spam_why(const struct inmem_msg *m, char *out, size_t size)
{
	char ip[ADDR_STRLEN] = "?";
	if (m->has_ip && addr_format(&m->ip, ip, sizeof ip) != 0)
		if (str_copy(ip, sizeof ip, "?") != 0)
			panic("inmem_spam_why: ip does not fit");
	str_format_trunc(out, size, "from %s via %s, score %d%s%s%s",
	                 m->sender[0] ? m->sender : "<>", ip, (int)m->score,
	                 m->lists[0] ? ", listed on " : "", m->lists,
	                 (m->flags & POL_F_SPAM) ? ", spam" : "");
}

static int inmem_forward(struct store *st, const struct pol_config *c, const struct pol_event *ev,
                         struct pol_verdict *v)
{
	char key[STORE_KEY_MAX], orig[POL_MAILADDR_MAX], why[POL_TEXT_MAX];
	struct inmem_msg m;
	int rc;
	if (ev->message_id[0]) {
		inmem_key(key, "M:", ev->message_id, NULL);
		if ((rc = inmem_get(st, key, "PINM", &m, sizeof m, ev->time_ms)) < 0)
			return -1;
		if (rc == 1 && inmem_spam(c, &m)) {
			inmem_spam_why(&m, why, sizeof why);
			pol_verdict_escalate(v, POL_HOLD, "forward_spam");
			pol_verdict_reason(v, "forward of inbound <%s> %s", ev->message_id, why);
			return 0;
		}
	}
	if (ev->sender[0] && inmem_srs_original(ev->sender, orig, sizeof orig) == 0) {
		struct inmem_sender s;
		inmem_akey(key, "S:", orig, NULL);
		if ((rc = inmem_get(st, key, "PINS", &s, sizeof s, ev->time_ms)) < 0)
			return -1;
		if (rc == 1 && inmem_spam(c, &s.last)) {
			inmem_spam_why(&s.last, why, sizeof why);
			pol_verdict_escalate(v, POL_HOLD, "forward_spam");
			pol_verdict_reason(v, "SRS forward of inbound mail %s", why);
		}
	}
	return 0;
}

int inmem_check(struct store *st, const struct pol_config *c, const struct pol_event *ev,
                struct pol_verdict *v)
{
	if (ev->flags & POL_F_INBOUND)
		return 0; /* mail coming in: these rules are for mail going out */
	if (c->forward_enabled) {
		if (inmem_forward(st, c, ev, v) != 0)
			return -1;
		if (v->action >= POL_HOLD)
			return 0;
	}
	if (ev->flags & POL_F_AUTO_REPLY) {
		if (c->autoreply_enabled)
			return inmem_autoreply(st, c, ev, v);
		return 0;
	}
	if (c->notify_enabled && (ev->flags & (POL_F_NULL_SENDER | POL_F_NOTIFY)))
		return inmem_notify(st, c, ev, v);
	return 0;
}
