/*
 * engine - rate limits, compromise signals, brute-force lockout and blocks.
 *
 * State per identity lives in one store record "I:<identity>" (struct
 * pol_rec), updated by one check-and-commit per event, so concurrent
 * sessions of one identity see each other's counts. Failed logins per client
 * IP live in "A:<ip>" (struct pol_iprec). Blocks and the audit trail are the
 * store's block and audit lists.
 *
 * Record format: a 16-byte header (magic "PREC"/"PIPR", format version,
 * struct size) and the struct in host byte order. A record whose header
 * does not match, or whose times or rates could not have been written by
 * this code (pol_rec_ok: a damaged file, a shared Redis), is treated as absent
 * (counting starts afresh), never trusted, so a foreign, older or damaged
 * record cannot break the engine.
 */
#include "policy/engine.h"

#include "core/addr.h"
#include "core/log.h"
#include "core/mailaddr.h"
#include "core/str.h"
#include "policy/canon.h"
#include "policy/inmem.h"
#include "policy/ratelimit.h"
#include "policy/rechdr.h"
#include "policy/rekey.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

#define POL_HOUR_MS 3600000LL
#define POL_DAY_MS 86400000LL
#define POL_REC_VERSION 1
#define POL_OK_IPS 8
#define POL_FPS 4
#define POL_RCPT_WORDS 128 /* 8192 bits: ~0.2% false positives at 500 */
#define POL_DOM_WORDS 32   /* 2048 bits */

struct pol_rec {
	struct rechdr hdr;
	struct ratelimit_ewma lim[POL_LIM_N];
	struct ratelimit_bloom uniq_rcpt, uniq_dom;
	uint64_t uniq_rcpt_bits[POL_RCPT_WORDS], uniq_dom_bits[POL_DOM_WORDS];
	/* volume against the baseline */
	struct ratelimit_ewma vol_hour; /* strict, 1 h */
	int64_t day;                    /* day number of day_msgs */
	uint32_t day_msgs;
	uint32_t days_seen;
	double baseline; /* messages per day, slow EWMA */
	/* active hours: bit i = mail in hour (hour - i) */
	int64_t hour;
	uint32_t hour_mask;
	/* recipients */
	struct ratelimit_decay rcpt_total, rcpt_bad;
	/* distinct per day */
	struct ratelimit_set ips, nets, senders;
	struct {
		uint64_t fp;
		uint32_t rcpts;
		int64_t day;
	} fps[POL_FPS];
	/* logins */
	struct ratelimit_ewma auth_fail;
	uint32_t fails_since_ok;
	struct addr last_fail_ip;
	struct {
		struct addr ip;
		int64_t last_ms;
	} ok_ips[POL_OK_IPS];
	int64_t guessed_until;
	uint32_t guessed_fails;
	struct addr guessed_ip;
	uint32_t offences;                  /* automatic blocks so far */
	struct ratelimit_ewma spam_hour;    /* scanned messages at or over [signals] spam_score */
	struct ratelimit_ewma foreign_hour; /* a trusted relay: senders outside the local domains */
};

struct pol_iprec {
	struct rechdr hdr;
	struct ratelimit_ewma fail;
	uint32_t fails;
	uint32_t lockouts;
	struct ratelimit_set users;
};

struct pol_engine {
	const struct pol_config *cfg;
	struct store *store;
	struct prefix_set *ranges; /* cidr blocks */
	size_t n_ranges;
	int64_t next_sweep_ms; /* expiring records are swept at most once a minute (event time) */
	int64_t rec_ttl_ms;    /* an identity record lives this long after its last event */
};

static const char *const pol_action_names[] = {"allow", "warn", "defer", "hold", "block"};

const char *pol_action_name(enum pol_action a)
{
	if ((unsigned)a >= sizeof pol_action_names / sizeof pol_action_names[0])
		panic("policy: action %d", (int)a);
	return pol_action_names[a];
}

/* ---- verdict helpers ---- */

void pol_verdict_reason(struct pol_verdict *v, const char *fmt, ...)
{
	if (v->n_reasons >= POL_REASONS_MAX)
		return;
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(v->reasons[v->n_reasons], POL_REASON_LEN, fmt, ap);
	va_end(ap);
	v->n_reasons++;
}
#define pol_reason pol_verdict_reason

static void pol_escalate(struct pol_verdict *v, enum pol_action a, const char *rule)
{
	if (a > v->action) {
		v->action = a;
		if (str_copy(v->rule, sizeof v->rule, rule) != 0)
			panic("pol_escalate: rule names are at most 47 bytes");
	}
}

void pol_verdict_escalate(struct pol_verdict *v, enum pol_action a, const char *rule)
{
	pol_escalate(v, a, rule);
}

int pol_verdict_format(const struct pol_verdict *v, int64_t base_ms, char *out, size_t size)
{
	int rc =
	    str_format(out, size, "%s %s rule=%s score=%d", pol_action_name(v->action),
	               v->identity[0] ? v->identity : "-", v->rule[0] ? v->rule : "-", v->score);
	char tmp[64];
	if (v->delay_ms) {
		if (str_format(tmp, sizeof tmp, " delay=%u", v->delay_ms) != 0)
			panic("pol_verdict_format: tmp does not fit");
		rc |= str_append(out, size, tmp);
	}
	if (v->block_created || v->action == POL_BLOCK) {
		if (v->block_expires_ms) {
			if (str_format(tmp, sizeof tmp, " %s=T+%lld",
			               v->block_created ? "new_block" : "until",
			               (long long)((v->block_expires_ms - base_ms) / 1000)) != 0)
				panic("pol_verdict_format: tmp does not fit");
		} else {
			if (str_format(tmp, sizeof tmp, " %s=manual",
			               v->block_created ? "new_block" : "until") != 0)
				panic("pol_verdict_format: tmp does not fit");
		}
		rc |= str_append(out, size, tmp);
	}
	for (uint32_t i = 0; i < v->n_reasons; i++) {
		rc |= str_append(out, size, i ? "; " : ": ");
		rc |= str_append(out, size, v->reasons[i]);
	}
	return rc ? -1 : 0;
}

/* a then b into out, bounded; the hot paths build keys with this, not printf. 0 or -1. */
static int pol_join(char *out, size_t size, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la + lb >= size) {
		if (size)
			out[0] = '\0';
		return -1;
	}
	memcpy(out, a, la);
	memcpy(out + la, b, lb + 1);
	return 0;
}

/* Dotted quad without printf. */
static void pol_ipv4_text(const struct addr *a, char *out)
{
	char *p = out;
	for (int i = 0; i < 4; i++) {
		unsigned v = a->bytes[i];
		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
		*p++ = i < 3 ? '.' : '\0';
	}
}

/* ---- identities ---- */

static void pol_mask_ip(const struct pol_engine *e, const struct addr *in, struct addr *out)
{
	*out = *in;
	if (out->family == 6)
		addr_mask(out, (unsigned)e->cfg->ipv6_prefix);
}

static void pol_ip_ident(const struct pol_engine *e, const struct addr *ip, char *out, size_t size)
{
	struct addr m;
	char a[ADDR_STRLEN];
	pol_mask_ip(e, ip, &m);
	if (m.family == 4) {
		pol_ipv4_text(&m, a);
		(void)pol_join(out, size, "ip:", a);
		return;
	}
	if (addr_format(&m, a, sizeof a) != 0)
		if (str_copy(a, sizeof a, "?") != 0)
			panic("pol_ip_ident: a does not fit");
	if (m.family == 6 && e->cfg->ipv6_prefix < 128) {
		if (str_format(out, size, "ip:%s/%lld", a, e->cfg->ipv6_prefix) != 0)
			panic("pol_ip_ident: out does not fit");
	} else {
		if (str_format(out, size, "ip:%s", a) != 0)
			panic("pol_ip_ident: out does not fit");
	}
}

/* One event's names in their canonical forms (canon.h), each worked out once
 * an event and only when needed: the account's (its identity, the failed
 * logins' accounts), the sender's (the senders an account used) and the
 * sender's domain (its blocks). The sender is most often the account itself. */
struct pol_names {
	const struct pol_event *ev;
	char user[POL_USER_MAX]; /* canon_user_key of ev->user; "" without one */
	int user_rc;             /* its answer: 0 canonical, -1 folded */
	const char *sender;      /* canon_user_key of ev->sender (user or sbuf); NULL: not yet */
	int sender_rc;
	const char *dom; /* canon_domain_key of ev->sender's domain; NULL: not yet */
	bool have_ip;    /* ip holds pol_ip_ident of ev->ip */
	char ip[POL_IDENT_MAX];
	char sbuf[POL_MAILADDR_MAX];
	char dbuf[POL_IDENT_MAX];
};

static void pol_names_init(struct pol_names *n, const struct pol_event *ev)
{
	n->ev = ev;
	n->user[0] = '\0';
	n->user_rc = -1;
	n->sender = NULL;
	n->dom = NULL;
	n->have_ip = false;
	if (ev->user[0])
		n->user_rc = canon_user_key(ev->user, n->user, sizeof n->user);
}

static const char *pol_names_sender(struct pol_names *n)
{
	if (!n->sender) {
		if (n->ev->user[0] && strcmp(n->ev->sender, n->ev->user) == 0) {
			n->sender = n->user;
			n->sender_rc = n->user_rc;
		} else {
			n->sender_rc = canon_user_key(n->ev->sender, n->sbuf, sizeof n->sbuf);
			n->sender = n->sbuf;
		}
	}
	return n->sender;
}

/* "" for a sender without a domain */
static const char *pol_names_domain(struct pol_names *n)
{
	if (!n->dom) {
		const char *d = mailaddr_domain(n->ev->sender);
		const char *s = pol_names_sender(n);
		const char *cd = mailaddr_domain(s);
		if (!d[0])
			n->dom = "";
		else if (n->sender_rc == 0 && cd[0]) /* the canonical address's domain is the one */
			n->dom = cd;
		else {
			(void)canon_domain_key(d, n->dbuf, sizeof n->dbuf);
			n->dom = n->dbuf;
		}
	}
	return n->dom;
}

/* the "ip:" identity of ev->ip (has_ip) */
static const char *pol_names_ip(const struct pol_engine *e, struct pol_names *n)
{
	if (!n->have_ip) {
		pol_ip_ident(e, &n->ev->ip, n->ip, sizeof n->ip);
		n->have_ip = true;
	}
	return n->ip;
}

static void pol_identity(const struct pol_engine *e, struct pol_names *n, char *out, size_t size)
{
	const struct pol_event *ev = n->ev;
	out[0] = '\0';
	if (ev->user[0]) {
		(void)pol_join(out, size, "user:", n->user);
	} else if (ev->has_ip) {
		if (str_copy(out, size, pol_names_ip(e, n)) != 0)
			out[0] = '\0'; /* no identity rather than a cut one, as pol_join */
	} else if (ev->type != POL_EV_BLOCK && ev->type != POL_EV_UNBLOCK &&
	           mailaddr_domain(ev->sender)[0]) {
		(void)pol_join(out, size, "domain:", pol_names_domain(n));
	}
}

void pol_engine_identity(const struct pol_engine *e, const struct pol_event *ev, char *out,
                         size_t size)
{
	struct pol_names n;
	pol_names_init(&n, ev);
	pol_identity(e, &n, out, size);
}

/* ---- records ---- */

static void pol_rec_init(struct pol_rec *r)
{
	memset(r, 0, sizeof *r);
	rechdr_set(&r->hdr, "PREC", POL_REC_VERSION, sizeof *r);
	(void)ratelimit_bloom_init(&r->uniq_rcpt, r->uniq_rcpt_bits, POL_RCPT_WORDS);
	(void)ratelimit_bloom_init(&r->uniq_dom, r->uniq_dom_bits, POL_DOM_WORDS);
}

/* The fields of a record (its header matched) that a damaged value could
 * turn into harm, as this code writes them: times, day and hour numbers
 * below RECHDR_TIME_LIMIT (their differences with the event time are taken),
 * rates finite and not negative. The rest is safe whatever it holds: counts
 * saturate (the sets' n is clamped to what they hold, pol_backoff's loop ends
 * at its maximum), a Bloom filter's nbits is clamped to its bits, hashes,
 * bits, the hour mask and the sets' and fingerprints' day numbers are only
 * compared, addresses compared by family first or formatted as what they
 * are. */
static bool pol_rec_ok_limits(const struct pol_rec *r)
{
	/* what the day tick and the limits read, near the header and at the
	 * start of the counters; without branches: this runs on every message */
	uint64_t t = (uint64_t)r->uniq_rcpt.window_start_ms |
	             (uint64_t)r->uniq_dom.window_start_ms | (uint64_t)r->vol_hour.last_ms |
	             (uint64_t)r->day | (uint64_t)r->hour;
	unsigned bad = rechdr_rate_bad(r->vol_hour.rate) | rechdr_rate_bad(r->baseline);
	for (int i = 0; i < POL_LIM_N; i++) {
		t |= (uint64_t)r->lim[i].last_ms;
		bad |= rechdr_rate_bad(r->lim[i].rate);
	}
	return !bad && rechdr_times_ok(t);
}

/* What a message's signals read after the limits (pol_mail_cb checks them
 * then, when their lines, prefetched, have come in). */
static bool pol_rec_ok_signals(const struct pol_rec *r)
{
	uint64_t t = (uint64_t)r->rcpt_total.last_ms | (uint64_t)r->rcpt_bad.last_ms |
	             (uint64_t)r->guessed_until | (uint64_t)r->spam_hour.last_ms |
	             (uint64_t)r->foreign_hour.last_ms;
	unsigned bad = rechdr_rate_bad(r->rcpt_total.value) | rechdr_rate_bad(r->rcpt_bad.value) |
	               rechdr_rate_bad(r->spam_hour.rate) | rechdr_rate_bad(r->foreign_hour.rate);
	return !bad && rechdr_times_ok(t);
}

/* What logins read (a message never does: pol_mail_cb leaves it to them). */
static bool pol_rec_ok_logins(const struct pol_rec *r)
{
	uint64_t t = (uint64_t)r->auth_fail.last_ms;
	for (int i = 0; i < POL_OK_IPS; i++)
		t |= (uint64_t)r->ok_ips[i].last_ms;
	return !rechdr_rate_bad(r->auth_fail.rate) && rechdr_times_ok(t);
}

static bool pol_rec_ok(const struct pol_rec *r)
{
	return pol_rec_ok_limits(r) && pol_rec_ok_signals(r) && pol_rec_ok_logins(r);
}

/* The record in rec with a header of ours, or fresh when absent or foreign;
 * its fields are not checked yet (pol_rec_check). NULL if it cannot fit. */
static struct pol_rec *pol_rec_open_unchecked(unsigned char *rec, size_t *len, size_t cap)
{
	if (cap < sizeof(struct pol_rec) || ((uintptr_t)rec % _Alignof(struct pol_rec)) != 0)
		return NULL;
	struct pol_rec *r = (struct pol_rec *)rec;
	if (!rechdr_ok(rec, *len, "PREC", POL_REC_VERSION, sizeof *r))
		pol_rec_init(r);
	*len = sizeof *r;
	return r;
}

/* A record whose fields are damaged is absent too: counting starts afresh. */
static void pol_rec_check(struct pol_rec *r)
{
	if (!pol_rec_ok(r))
		pol_rec_init(r);
}

/* The record in rec, made valid (fresh when absent, foreign or damaged); NULL if it cannot fit. */
static struct pol_rec *pol_rec_open(unsigned char *rec, size_t *len, size_t cap)
{
	struct pol_rec *r = pol_rec_open_unchecked(rec, len, cap);
	if (r)
		pol_rec_check(r);
	return r;
}

/* Forgets counters and score, keeps the baseline, known IPs and offences. */
static void pol_rec_reset(struct pol_rec *r)
{
	struct pol_rec keep = *r;
	pol_rec_init(r);
	r->day = keep.day;
	r->day_msgs = keep.day_msgs;
	r->days_seen = keep.days_seen;
	r->baseline = keep.baseline;
	memcpy(r->ok_ips, keep.ok_ips, sizeof r->ok_ips);
	r->offences = keep.offences;
}

static bool pol_known_ip(const struct pol_engine *e, const struct pol_rec *r, const struct addr *ip,
                         int64_t now)
{
	for (int i = 0; i < POL_OK_IPS; i++)
		if (r->ok_ips[i].last_ms && addr_equal(&r->ok_ips[i].ip, ip) &&
		    now - r->ok_ips[i].last_ms < (int64_t)e->cfg->known_ip_ms)
			return true;
	return false;
}

static void pol_remember_ip(struct pol_rec *r, const struct addr *ip, int64_t now)
{
	int slot = 0;
	for (int i = 0; i < POL_OK_IPS; i++) {
		if (r->ok_ips[i].last_ms && addr_equal(&r->ok_ips[i].ip, ip)) {
			slot = i;
			break;
		}
		if (r->ok_ips[i].last_ms < r->ok_ips[slot].last_ms)
			slot = i;
	}
	r->ok_ips[slot].ip = *ip;
	r->ok_ips[slot].last_ms = now ? now : 1;
}

static uint32_t pol_addr_hash(const struct addr *a, unsigned prefix)
{
	struct addr m = *a;
	if (prefix)
		addr_mask(&m, prefix);
	return (uint32_t)ratelimit_hash(&m, sizeof m);
}

static int64_t pol_floor_div(int64_t a, int64_t b)
{
	return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* Day roll-over of the volume baseline and the hour mask, before counting. */
static void pol_rec_tick(const struct pol_engine *e, struct pol_rec *r, int64_t now)
{
	int64_t day = pol_floor_div(now, POL_DAY_MS);
	if (r->day == 0 && r->day_msgs == 0 && r->days_seen == 0) {
		r->day = day;
	} else if (day > r->day) {
		double a = exp(-(double)POL_DAY_MS / (double)e->cfg->baseline_ms);
		r->baseline = a * r->baseline + (1 - a) * r->day_msgs;
		int64_t gap = day - r->day - 1; /* silent days count as zero */
		if (gap > 0)
			r->baseline *= gap > 3650 ? 0 : pow(a, (double)gap);
		r->days_seen += (uint32_t)(day - r->day > 100000 ? 100000 : day - r->day);
		r->day = day;
		r->day_msgs = 0;
	}
	int64_t hour = pol_floor_div(now, POL_HOUR_MS);
	if (hour > r->hour) {
		int64_t shift = hour - r->hour;
		r->hour_mask = shift >= 32 ? 0 : r->hour_mask << shift;
		r->hour = hour;
	}
}

/* ---- compromise signals ---- */

static bool pol_role_name(const struct pol_engine *e, const char *user, char *name, size_t size)
{
	size_t n = mailaddr_local_len(user);
	const char *p = e->cfg->role_names;
	while (*p) {
		const char *q = p;
		while (*q && *q != ',')
			q++;
		if ((size_t)(q - p) == n && n > 0 && strncasecmp(p, user, n) == 0) {
			if (str_copy_n(name, size, user, n) != 0)
				return false;
			return true;
		}
		p = *q ? q + 1 : q;
	}
	return false;
}

static int pol_signals(const struct pol_engine *e, const struct pol_rec *r, const char *user,
                       int64_t now, struct pol_verdict *v)
{
	const struct pol_config *c = e->cfg;
	int score = 0;
	char tmp[ADDR_STRLEN];

	double hour_rate = ratelimit_ewma_decayed(&r->vol_hour, now, POL_HOUR_MS);
	double base_hour = r->baseline / 8.0; /* a working day */
	if (base_hour < (double)c->volume_floor_hour)
		base_hour = (double)c->volume_floor_hour;
	if (c->volume_weight && hour_rate >= (double)c->volume_factor * base_hour) {
		score += (int)c->volume_weight;
		pol_reason(v, "%.0f messages in 1 h (baseline %.0f a day)", hour_rate, r->baseline);
	}
	int active = __builtin_popcount(r->hour_mask & 0xffffffu);
	if (c->active_weight && active >= c->active_hours) {
		score += (int)c->active_weight;
		pol_reason(v, "active %d of 24 h", active);
	}
	double total = ratelimit_decay_value(&r->rcpt_total, now, (int64_t)c->rejected_tau_ms);
	double bad = ratelimit_decay_value(&r->rcpt_bad, now, (int64_t)c->rejected_tau_ms);
	if (c->rejected_weight && total >= (double)c->rejected_min && total > 0) {
		double pct = 100.0 * bad / total;
		if (pct > 100)
			pct = 100;
		if (pct >= (double)c->rejected_pct) {
			score += (int)c->rejected_weight;
			pol_reason(v, "%.0f%% recipients rejected", pct);
		}
	}
	int64_t day = pol_floor_div(now, POL_DAY_MS);
	uint32_t ips = ratelimit_set_count(&r->ips, day);
	if (c->ips_weight && ips >= (uint64_t)c->ips_max) {
		score += (int)c->ips_weight;
		pol_reason(v, "logins from %u IPs", ips);
	}
	uint32_t nets = ratelimit_set_count(&r->nets, day);
	if (c->nets_weight && nets >= (uint64_t)c->nets_max) {
		score += (int)c->nets_weight;
		pol_reason(v, "logins from %u networks", nets);
	}
	if (c->guessed_weight && r->guessed_until > now) {
		score += (int)c->guessed_weight;
		if (addr_format(&r->guessed_ip, tmp, sizeof tmp) != 0)
			if (str_copy(tmp, sizeof tmp, "?") != 0)
				panic("pol_signals: tmp does not fit");
		pol_reason(v, "login success after %u failures from %s", r->guessed_fails, tmp);
	}
	uint32_t senders = ratelimit_set_count(&r->senders, day);
	if (c->senders_weight && senders >= (uint64_t)c->senders_max) {
		score += (int)c->senders_weight;
		pol_reason(v, "%u envelope senders", senders);
	}
	uint32_t fp_max = 0;
	for (int i = 0; i < POL_FPS; i++)
		if (r->fps[i].fp && r->fps[i].day == day && r->fps[i].rcpts > fp_max)
			fp_max = r->fps[i].rcpts;
	if (c->fingerprint_weight && fp_max >= (uint64_t)c->fingerprint_rcpts) {
		score += (int)c->fingerprint_weight;
		pol_reason(v, "same body to %u recipients", fp_max);
	}
	/* no exp() for the identities that never sent spam (nearly all) */
	double spam =
	    r->spam_hour.last_ms ? ratelimit_ewma_decayed(&r->spam_hour, now, POL_HOUR_MS) : 0;
	/* the EWMA of n messages close together is a little under n: round */
	if (c->spam_weight && spam + 0.5 >= (double)c->spam_max) {
		score += (int)c->spam_weight * (spam + 0.5 >= 2.0 * (double)c->spam_max ? 2 : 1);
		pol_reason(v, "%.0f spam messages in 1 h (scan score %lld or more)", spam,
		           c->spam_score);
	}
	char role[64];
	if (score > 0 && c->role_weight && user[0] && pol_role_name(e, user, role, sizeof role)) {
		score += (int)c->role_weight;
		pol_reason(v, "role account name '%s'", role);
	}
	return score;
}

/* ---- blocks ---- */

/* b: the block a "block" record is about (its rule, expiry and offences go
 * into the trail, so the blocks can be rebuilt from it); NULL otherwise. */
static int pol_audit_block(struct pol_engine *e, int64_t now, const char *actor, const char *action,
                           const char *identity, const char *reason, const struct store_block *b)
{
	struct store_audit a;
	memset(&a, 0, sizeof a);
	if (b) {
		if (str_copy(a.rule, sizeof a.rule, b->rule) != 0)
			panic("pol_audit_block: a.rule does not fit");
		a.expires_ms = b->expires_ms;
		a.offences = b->offences;
	}
	a.time_ms = now;
	if (str_copy(a.actor, sizeof a.actor, actor) != 0)
		return -1;
	if (str_copy(a.action, sizeof a.action, action) != 0)
		panic("pol_audit_block: a.action does not fit");
	if (str_copy(a.identity, sizeof a.identity, identity) != 0)
		return -1;
	str_sanitize(a.reason, sizeof a.reason, reason, strlen(reason));
	return e->store->audit_append(e->store, &a);
}

static int pol_audit(struct pol_engine *e, int64_t now, const char *actor, const char *action,
                     const char *identity, const char *reason)
{
	return pol_audit_block(e, now, actor, action, identity, reason, NULL);
}

static int pol_ranges_add(void *ctx, const struct store_block *b)
{
	struct pol_engine *e = ctx;
	struct cidr c;
	if (b->kind != STORE_BLOCK_CIDR)
		return 0;
	const char *s = b->identity + 5;
	if (cidr_parse(s, strnlen(s, sizeof b->identity - 5), &c) != 0)
		return 0;
	if (prefix_set_add(e->ranges, &c, NULL) != 0)
		return -1;
	e->n_ranges++;
	return 0;
}

int pol_engine_reload(struct pol_engine *e)
{
	struct prefix_set *n = prefix_set_new();
	if (!n)
		return -1;
	prefix_set_free(e->ranges);
	e->ranges = n;
	e->n_ranges = 0;
	return e->store->block_iter(e->store, pol_ranges_add, e) == 0 ? 0 : -1;
}

/* 1 with *b filled when identity is blocked at now (expired blocks are lifted
 * here, with an audit record), 0 when not, -1 on a store error. */
static int pol_block_active(struct pol_engine *e, const char *identity, int64_t now,
                            struct store_block *b)
{
	int rc = e->store->block_get(e->store, identity, b);
	if (rc != 1)
		return rc;
	if (b->expires_ms == 0 || now < b->expires_ms)
		return 1;
	if (e->store->block_del(e->store, identity) < 0)
		return -1;
	if (pol_audit(e, now, "engine", "expire", identity, b->reason) != 0)
		return -1;
	if (b->kind == STORE_BLOCK_CIDR && pol_engine_reload(e) != 0)
		return -1;
	return 0;
}

static int pol_range_block(struct pol_engine *e, const struct addr *ip, int64_t now,
                           struct store_block *b)
{
	struct cidr m;
	char ident[POL_IDENT_MAX], s[CIDR_STRLEN];
	if (e->n_ranges == 0 || !prefix_set_lookup(e->ranges, ip, NULL, &m))
		return 0;
	if (cidr_format(&m, s, sizeof s) != 0)
		return 0;
	if (str_format(ident, sizeof ident, "cidr:%s", s) != 0)
		panic("pol_range_block: ident does not fit");
	return pol_block_active(e, ident, now, b);
}

/* Any block that applies to the event: its identity, its IP or range, its
 * sender's domain. With_user false skips the user (logins stay possible). */
static int pol_blocked(struct pol_engine *e, struct pol_names *n, const char *identity,
                       bool with_user, struct store_block *b)
{
	const struct pol_event *ev = n->ev;
	int rc;
	char ident[POL_IDENT_MAX];
	if (e->store->block_count(e->store) == 0)
		return 0;
	if (identity[0] && (with_user || strncmp(identity, "user:", 5) != 0)) {
		if ((rc = pol_block_active(e, identity, ev->time_ms, b)) != 0)
			return rc;
	}
	if (ev->has_ip) {
		const char *ip = pol_names_ip(e, n);
		if (strcmp(ip, identity) != 0 &&
		    (rc = pol_block_active(e, ip, ev->time_ms, b)) != 0)
			return rc;
		if ((rc = pol_range_block(e, &ev->ip, ev->time_ms, b)) != 0)
			return rc;
	}
	const char *dom = pol_names_domain(n);
	if (dom[0]) {
		(void)pol_join(ident, sizeof ident, "domain:", dom);
		if (strcmp(ident, identity) != 0 &&
		    (rc = pol_block_active(e, ident, ev->time_ms, b)) != 0)
			return rc;
	}
	return 0;
}

static void pol_verdict_blocked(struct pol_verdict *v, const struct store_block *b)
{
	char rule[48];
	str_format_trunc(rule, sizeof rule, "block:%s", b->rule);
	pol_escalate(v, POL_BLOCK, rule);
	v->block_expires_ms = b->expires_ms;
	if (strcmp(b->identity, v->identity) != 0 &&
	    str_copy(v->about, sizeof v->about, b->identity) != 0)
		panic("pol_verdict_blocked: identities are POL_IDENT_MAX");
	pol_reason(v, "%s is blocked: %s", b->identity, b->reason);
}

static int pol_block_create(struct pol_engine *e, const char *identity, const char *rule,
                            const char *reason, const struct pol_verdict *evidence, int64_t now,
                            int64_t expires_ms, uint32_t offences, const char *actor)
{
	struct store_block b;
	memset(&b, 0, sizeof b);
	if (str_copy(b.identity, sizeof b.identity, identity) != 0 ||
	    store_block_kind_of(identity, &b.kind) != 0)
		return -1;
	if (b.kind == STORE_BLOCK_CIDR) {
		struct cidr c;
		char s[CIDR_STRLEN];
		if (cidr_parse(identity + 5, strlen(identity + 5), &c) != 0 ||
		    cidr_format(&c, s, sizeof s) != 0)
			return -1;
		if (str_format(b.identity, sizeof b.identity, "cidr:%s", s) != 0)
			panic("pol_block_create: b.identity does not fit");
	}
	if (str_copy(b.rule, sizeof b.rule, rule) != 0)
		return -1;
	str_sanitize(b.reason, sizeof b.reason, reason, strlen(reason));
	if (evidence)
		for (uint32_t i = 0; i < evidence->n_reasons && i < STORE_EVIDENCE_MAX; i++)
			str_copy_trunc(b.evidence[b.n_evidence++], sizeof b.evidence[0],
			               evidence->reasons[i]);
	b.created_ms = now;
	b.expires_ms = expires_ms;
	b.offences = offences;
	if (e->store->block_put(e->store, &b) != 0)
		return -1;
	if (pol_audit_block(e, now, actor, "block", b.identity, b.reason, &b) != 0)
		return -1;
	if (b.kind == STORE_BLOCK_CIDR)
		return pol_engine_reload(e);
	return 0;
}

/* base * 2^offences, at most max. */
static int64_t pol_backoff(uint64_t base, uint64_t max, uint32_t offences)
{
	uint64_t d = base;
	for (uint32_t i = 0; i < offences && d < max; i++)
		d *= 2;
	return (int64_t)(d < max ? d : max);
}

/* ---- per-event updates (store callbacks) ---- */

struct pol_mail_ctx {
	struct pol_engine *e;
	const struct pol_event *ev;
	struct pol_verdict *v;
	struct pol_names *names;
	struct pol_limits lim;
	int over; /* limit that fired, or -1 */
	char over_reason[POL_REASON_LEN];
	int score;
	bool block;
	uint32_t offences;
	uint32_t n_reasons; /* the verdict's reasons before the callback */
	bool relay;         /* the trusted relay's record: limits only, no score, no block */
	double foreign;     /* relay: its foreign-sender rate after this message */
};

static const char *const pol_limit_units[POL_LIM_N] = {
    "messages",
    "messages",
    "messages",
    "recipients",
    "recipients",
    "bytes",
    "distinct recipients",
    "recipient domains",
    "null-sender or auto-submitted messages",
};

/* The part of a message (POL_PART_*) each limit counts. */
static const uint32_t pol_limit_part[POL_LIM_N] = {
    [POL_LIM_MSG_MINUTE] = POL_PART_MSG,       [POL_LIM_MSG_HOUR] = POL_PART_MSG,
    [POL_LIM_MSG_DAY] = POL_PART_MSG,          [POL_LIM_RCPT_HOUR] = POL_PART_RCPTS,
    [POL_LIM_RCPT_DAY] = POL_PART_RCPTS,       [POL_LIM_BYTES_HOUR] = POL_PART_SIZE,
    [POL_LIM_UNIQ_RCPT_HOUR] = POL_PART_RCPTS, [POL_LIM_UNIQ_DOMAIN_HOUR] = POL_PART_RCPTS,
    [POL_LIM_NULL_HOUR] = POL_PART_MSG,
};

static int pol_mail_cb(void *ctx, unsigned char *rec, size_t *len, size_t cap)
{
	struct pol_mail_ctx *m = ctx;
	const struct pol_event *ev = m->ev;
	const struct pol_config *c = m->e->cfg;
	int64_t now = ev->time_ms;
	struct pol_rec *r = pol_rec_open_unchecked(rec, len, cap);
	if (!r)
		return -1;
	/* The Redis store may run this again when another node wrote the record
	 * in between (store.h): every output starts afresh. */
	m->over = -1;
	m->block = false;
	m->v->n_reasons = m->n_reasons;
	/* The recipients' and domains' Bloom blocks are lines of the record far
	 * from the counters: hash them now and start those loads, so the misses
	 * overlap with the work on the counters instead of queueing after it. */
	uint64_t rh[POL_RCPT_MAX], dh[POL_RCPT_MAX];
	/* A message told in parts (event.h POL_PART_*): each limit counts and
	 * checks only with the part it measures. */
	uint32_t parts = ev->parts ? ev->parts : POL_PART_ALL;
	bool p_msg = parts & POL_PART_MSG, p_rcpt = parts & POL_PART_RCPTS;
	uint32_t nh = !p_rcpt ? 0 : ev->n_rcpt < POL_RCPT_MAX ? ev->n_rcpt : POL_RCPT_MAX;
	bool want_r = m->lim.max[POL_LIM_UNIQ_RCPT_HOUR] > 0,
	     want_d = m->lim.max[POL_LIM_UNIQ_DOMAIN_HOUR] > 0;
	for (uint32_t k = 0; k < nh; k++) {
		if (want_r) {
			rh[k] = ratelimit_hash(ev->rcpt[k], strlen(ev->rcpt[k]));
			ratelimit_bloom_prefetch(&r->uniq_rcpt, r->uniq_rcpt_bits, POL_RCPT_WORDS,
			                         rh[k]);
		}
		if (want_d) {
			const char *d = mailaddr_domain(ev->rcpt[k]);
			dh[k] = ratelimit_hash(d, strlen(d));
			ratelimit_bloom_prefetch(&r->uniq_dom, r->uniq_dom_bits, POL_DOM_WORDS,
			                         dh[k]);
		}
	}
	/* The counters after the Bloom bits (volume, day, sets of IPs and senders,
	 * fingerprints, logins) are read below: their lines too. */
	for (const char *p = (const char *)&r->vol_hour; p < (const char *)(r + 1); p += 64)
		__builtin_prefetch(p, 1);
	/* checked once the loads are under way (the prefetches are safe on any
	 * bytes: a Bloom filter's nbits is clamped to its bits); the signals'
	 * fields after the limits, the logins' by the logins */
	if (!pol_rec_ok_limits(r))
		pol_rec_init(r);
	pol_rec_tick(m->e, r, now);

	/* Rate limits: each window on its own, Exim semantics. */
	enum ratelimit_mode mode = m->lim.strict ? RATELIMIT_STRICT : RATELIMIT_LEAKY;
	uint32_t rcpts = !p_rcpt ? 0 : ev->rcpt_count ? ev->rcpt_count : 1;
	double worst = 0;
	for (int i = 0; i < POL_LIM_N; i++) {
		long long max = m->lim.max[i];
		if (max <= 0 || !(parts & pol_limit_part[i]))
			continue;
		double count, rate;
		bool over;
		int64_t period = pol_config_limit_period_ms((enum pol_limit_id)i);
		if (i == POL_LIM_UNIQ_RCPT_HOUR || i == POL_LIM_UNIQ_DOMAIN_HOUR) {
			bool is_rcpt = i == POL_LIM_UNIQ_RCPT_HOUR;
			struct ratelimit_bloom *b = is_rcpt ? &r->uniq_rcpt : &r->uniq_dom;
			uint64_t *bits = is_rcpt ? r->uniq_rcpt_bits : r->uniq_dom_bits;
			size_t nwords = is_rcpt ? POL_RCPT_WORDS : POL_DOM_WORDS;
			uint32_t n = ratelimit_bloom_count(b, now, period);
			for (uint32_t k = 0; k < nh; k++)
				n = ratelimit_bloom_add_hash(b, bits, nwords,
				                             is_rcpt ? rh[k] : dh[k], now, period);
			rate = n;
			over = n > (uint64_t)max;
		} else if (i == POL_LIM_NULL_HOUR) {
			if (!(ev->flags & (POL_F_NULL_SENDER | POL_F_AUTO_SUBMITTED)))
				continue;
			over = ratelimit_ewma_hit(&r->lim[i], 1.0, (double)max, period, mode, now,
			                          &rate);
		} else {
			count = i <= POL_LIM_MSG_DAY      ? 1.0
			        : i == POL_LIM_BYTES_HOUR ? (double)ev->size
			                                  : (double)rcpts;
			over = ratelimit_ewma_hit(&r->lim[i], count, (double)max, period, mode, now,
			                          &rate);
		}
		if (over && rate / (double)max > worst) {
			worst = rate / (double)max;
			m->over = i;
			str_format_trunc(m->over_reason, sizeof m->over_reason,
			                 "%.0f %s in %s (limit %lld)", rate, pol_limit_units[i],
			                 period == 60000         ? "1 min"
			                 : period == POL_HOUR_MS ? "1 h"
			                                         : "1 day",
			                 max);
		}
	}

	if (!pol_rec_ok_signals(r)) {
		/* damaged: decide again on a fresh record (every output above
		 * starts afresh, as when Redis runs this again) */
		pol_rec_init(r);
		return pol_mail_cb(ctx, rec, len, cap);
	}
	if (m->relay) {
		/* a trusted relay: the sum of its senders against its limits; its
		 * senders are scored on their own identities, never the relay */
		m->foreign = 0;
		if (ev->flags & POL_F_FOREIGN_SENDER)
			(void)ratelimit_ewma_hit(&r->foreign_hour, 1.0, 1e300, POL_HOUR_MS,
			                         RATELIMIT_STRICT, now, &m->foreign);
		return STORE_COMMIT;
	}
	/* Behaviour, counted whether or not a limit fired (attempts matter here). */
	if (p_msg) {
		(void)ratelimit_ewma_hit(&r->vol_hour, 1.0, 1e300, POL_HOUR_MS, RATELIMIT_STRICT,
		                         now, NULL);
		if (r->day_msgs < UINT32_MAX)
			r->day_msgs++;
		r->hour_mask |= 1u;
	}
	if (rcpts)
		ratelimit_decay_add(&r->rcpt_total, rcpts, now, (int64_t)c->rejected_tau_ms);
	int64_t day = pol_floor_div(now, POL_DAY_MS);
	if (ev->has_ip && p_msg) {
		(void)ratelimit_set_add(&r->ips, pol_addr_hash(&ev->ip, 0), day);
		(void)ratelimit_set_add(&r->nets,
		                        pol_addr_hash(&ev->ip, ev->ip.family == 4 ? 16 : 32), day);
	}
	if (ev->sender[0] && ev->user[0] && p_msg) {
		const char *cs = pol_names_sender(m->names); /* one sender however it is spelt */
		(void)ratelimit_set_add(&r->senders, (uint32_t)ratelimit_hash(cs, strlen(cs)), day);
	}
	if (ev->fingerprint && rcpts) {
		int slot = -1, low = 0;
		for (int i = 0; i < POL_FPS; i++) {
			if (r->fps[i].fp == ev->fingerprint && r->fps[i].day == day) {
				slot = i;
				break;
			}
			if (r->fps[i].day != day || r->fps[i].rcpts < r->fps[low].rcpts)
				low = i;
		}
		if (slot < 0) {
			slot = low;
			r->fps[slot].fp = ev->fingerprint;
			r->fps[slot].day = day;
			r->fps[slot].rcpts = 0;
		}
		r->fps[slot].rcpts = r->fps[slot].rcpts > UINT32_MAX - rcpts
		                         ? UINT32_MAX
		                         : r->fps[slot].rcpts + rcpts;
	}

	if (p_msg && ev->scanned && (int64_t)ev->scan_score >= (int64_t)c->spam_score * 100)
		(void)ratelimit_ewma_hit(&r->spam_hour, 1.0, 1e300, POL_HOUR_MS, RATELIMIT_STRICT,
		                         now, NULL);
	m->score = pol_signals(m->e, r, ev->user, now, m->v);
	if (m->score >= c->score_block) {
		m->block = true;
		m->offences = r->offences;
		if (r->offences < UINT32_MAX)
			r->offences++;
		pol_rec_reset(r); /* the evidence goes into the block */
	}
	return STORE_COMMIT;
}

/* reason becomes the verdict's first reason (what a 4xx says). */
static void pol_reason_first(struct pol_verdict *v, const char *reason)
{
	if (v->n_reasons < POL_REASONS_MAX) {
		memmove(v->reasons[1], v->reasons[0], v->n_reasons * sizeof v->reasons[0]);
		v->n_reasons++;
	} else {
		memmove(v->reasons[1], v->reasons[0], (POL_REASONS_MAX - 1) * sizeof v->reasons[0]);
	}
	str_copy_trunc(v->reasons[0], sizeof v->reasons[0], reason);
}

/* A trusted relay identified by sender (POL_F_RELAYED): the message counts on
 * the relay's ip: identity too, against [limits] times relay_limit_factor
 * (the sum over its senders). Limits only: the relay is never scored nor
 * blocked automatically, so one sender's spray cannot stop its colleagues. A
 * sender outside the local domains is a signal of its own (an infected
 * desktop, an open relay inside): logged, and past relay_foreign_hour held. */
static int pol_relay(struct pol_engine *e, struct pol_names *n, struct pol_verdict *v)
{
	const struct pol_event *ev = n->ev;
	const struct pol_config *c = e->cfg;
	char ident[POL_IDENT_MAX], key[STORE_KEY_MAX];
	pol_ip_ident(e, &ev->ip, ident, sizeof ident);
	struct pol_mail_ctx m = {.e = e,
	                         .ev = ev,
	                         .v = v,
	                         .names = n,
	                         .over = -1,
	                         .n_reasons = v->n_reasons,
	                         .relay = true};
	m.lim = c->limits;
	long long f = c->relay_limit_factor > 0 ? c->relay_limit_factor : 1;
	for (int i = 0; i < POL_LIM_N; i++)
		if (m.lim.max[i] > 0)
			m.lim.max[i] = m.lim.max[i] > LLONG_MAX / f ? LLONG_MAX : m.lim.max[i] * f;
	/* distinct recipients and domains are a sender's pattern; summed over a
	 * whole organisation they say nothing (and would fill the Bloom bits) */
	m.lim.max[POL_LIM_UNIQ_RCPT_HOUR] = m.lim.max[POL_LIM_UNIQ_DOMAIN_HOUR] = 0;
	if (pol_join(key, sizeof key, "I:", ident) != 0)
		return -1;
	if (store_update_exp(e->store, key, pol_mail_cb, &m, ev->time_ms + e->rec_ttl_ms) < 0)
		return -1;
	bool is_relay = strcmp(ident, v->identity) == 0;
	if (m.over >= 0) {
		char rule[48], reason[POL_REASON_LEN];
		if (str_format(rule, sizeof rule, "relay_rate_%s", pol_config_limit_name(m.over)) !=
		    0)
			panic("pol_relay: rule does not fit");
		pol_escalate(v, POL_DEFER, rule);
		if (strcmp(v->rule, rule) == 0) {
			str_format_trunc(reason, sizeof reason, "trusted relay %s: %s", ident,
			                 m.over_reason);
			pol_reason_first(v, reason);
			if (!is_relay && str_copy(v->about, sizeof v->about, ident) != 0)
				panic("pol_relay: identities are POL_IDENT_MAX");
		}
	}
	if (ev->flags & POL_F_FOREIGN_SENDER) {
		bool over = c->relay_foreign_hour > 0 && m.foreign > (double)c->relay_foreign_hour;
		pol_escalate(v, over ? POL_HOLD : POL_WARN, "relay_foreign_sender");
		pol_reason(v, "sender %s outside the local domains through trusted relay %s",
		           ev->sender[0] ? ev->sender : "<>", ident);
		if (over)
			pol_reason(v, "%.0f such messages in 1 h (limit %lld)", m.foreign,
			           c->relay_foreign_hour);
		if (over && !is_relay && strcmp(v->rule, "relay_foreign_sender") == 0 &&
		    str_copy(v->about, sizeof v->about, ident) != 0)
			panic("pol_relay: identities are POL_IDENT_MAX");
	}
	return 0;
}

static int pol_mail(struct pol_engine *e, struct pol_names *n, struct pol_verdict *v)
{
	const struct pol_event *ev = n->ev;
	struct store_block b;
	int rc = pol_blocked(e, n, v->identity, true, &b);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		pol_verdict_blocked(v, &b);
		return 0;
	}
	if (!v->identity[0])
		return 0;
	bool relayed = (ev->flags & POL_F_RELAYED) && ev->has_ip;
	if (relayed && strncmp(v->identity, "user:", 5) != 0)
		return pol_relay(e, n, v); /* no sender of its own: the relay alone */
	struct pol_mail_ctx m = {
	    .e = e, .ev = ev, .v = v, .names = n, .over = -1, .n_reasons = v->n_reasons};
	pol_config_limits_for(e->cfg, strncmp(v->identity, "user:", 5) == 0 ? v->identity + 5 : "",
	                      &m.lim);
	char key[STORE_KEY_MAX];
	if (pol_join(key, sizeof key, "I:", v->identity) != 0)
		return -1;
	if (store_update_exp(e->store, key, pol_mail_cb, &m, ev->time_ms + e->rec_ttl_ms) < 0)
		return -1;
	const struct pol_config *c = e->cfg;
	v->score = m.score;
	if (m.over >= 0) {
		char rule[48];
		if (str_format(rule, sizeof rule, "rate_%s", pol_config_limit_name(m.over)) != 0)
			panic("pol_mail: rule does not fit");
		pol_escalate(v, POL_DEFER, rule);
		/* the limit's reason first: it is what the 4xx says */
		pol_reason_first(v, m.over_reason);
	}
	uint32_t msg_rcpts = ev->rcpts_before + ev->rcpt_count;
	if ((ev->flags & POL_F_NULL_SENDER) && msg_rcpts > 1 &&
	    (!ev->parts || (ev->parts & POL_PART_RCPTS))) {
		/* a bounce goes to one address; more is backscatter or abuse (MIMEDefang) */
		pol_escalate(v, POL_HOLD, "null_sender_rcpts");
		pol_reason(v, "null sender to %u recipients", msg_rcpts);
	}
	if (m.score >= c->score_warn)
		pol_escalate(v, POL_WARN, "compromise");
	if (m.score >= c->score_hold) {
		pol_escalate(v, POL_HOLD, "compromise");
	}
	if (m.block) {
		int64_t exp_ms = 0;
		if ((long long)m.offences < c->auto_blocks_max)
			exp_ms = ev->time_ms +
			         pol_backoff(c->block_base_ms, c->block_max_ms, m.offences);
		char reason[POL_TEXT_MAX];
		str_format_trunc(reason, sizeof reason, "compromise score %d (offence %u)", m.score,
		                 m.offences + 1);
		if (pol_block_create(e, v->identity, "compromise", reason, v, ev->time_ms, exp_ms,
		                     m.offences, "engine") != 0)
			return -1;
		pol_escalate(v, POL_BLOCK, "compromise");
		v->block_created = true;
		v->block_expires_ms = exp_ms;
	}
	return relayed ? pol_relay(e, n, v) : 0;
}

struct pol_auth_ctx {
	struct pol_engine *e;
	const struct pol_event *ev;
	struct addr ip; /* masked */
	bool fail;
	bool locked; /* account lockout applies to this IP */
	double rate; /* account failures per period */
	uint32_t fails;
};

static int pol_auth_user_cb(void *ctx, unsigned char *rec, size_t *len, size_t cap)
{
	struct pol_auth_ctx *a = ctx;
	const struct pol_config *c = a->e->cfg;
	int64_t now = a->ev->time_ms;
	struct pol_rec *r = pol_rec_open(rec, len, cap);
	if (!r)
		return -1;
	pol_rec_tick(a->e, r, now);
	bool known = a->ev->has_ip && pol_known_ip(a->e, r, &a->ip, now);
	a->rate = ratelimit_ewma_decayed(&r->auth_fail, now, (int64_t)c->account_period_ms);
	/* A lockout for the account holds only for IPs it has not logged in from. */
	a->locked = !known && a->rate >= (double)c->account_failures;
	if (a->fail) {
		(void)ratelimit_ewma_hit(&r->auth_fail, 1.0, (double)c->account_failures,
		                         (int64_t)c->account_period_ms, RATELIMIT_STRICT, now,
		                         &a->rate);
		if (r->fails_since_ok < UINT32_MAX)
			r->fails_since_ok++;
		if (a->ev->has_ip)
			r->last_fail_ip = a->ev->ip;
		a->fails = r->fails_since_ok;
		return STORE_COMMIT;
	}
	a->fails = r->fails_since_ok;
	if (!known && r->fails_since_ok >= (uint64_t)c->guessed_failures) {
		r->guessed_until = now + (int64_t)c->guessed_ms;
		r->guessed_fails = r->fails_since_ok;
		if (a->ev->has_ip)
			r->guessed_ip = a->ev->ip;
		else
			memset(&r->guessed_ip, 0, sizeof r->guessed_ip);
	}
	if (a->locked)
		return STORE_COMMIT; /* refused: the IP does not become known */
	r->fails_since_ok = 0;
	if (a->ev->has_ip) {
		int64_t day = pol_floor_div(now, POL_DAY_MS);
		pol_remember_ip(r, &a->ip, now);
		(void)ratelimit_set_add(&r->ips, pol_addr_hash(&a->ev->ip, 0), day);
		(void)ratelimit_set_add(
		    &r->nets, pol_addr_hash(&a->ev->ip, a->ev->ip.family == 4 ? 16 : 32), day);
	}
	return STORE_COMMIT;
}

struct pol_ip_ctx {
	struct pol_engine *e;
	const struct pol_event *ev;
	const char *cuser; /* ev->user's canonical form */
	bool lockout;
	uint32_t fails, lockouts, users;
	double rate;
};

static int pol_auth_ip_cb(void *ctx, unsigned char *rec, size_t *len, size_t cap)
{
	struct pol_ip_ctx *a = ctx;
	const struct pol_config *c = a->e->cfg;
	int64_t now = a->ev->time_ms;
	if (cap < sizeof(struct pol_iprec) || ((uintptr_t)rec % _Alignof(struct pol_iprec)) != 0)
		return -1;
	struct pol_iprec *r = (struct pol_iprec *)rec;
	/* a damaged failure rate is absent too (its time is subtracted from the
	 * event's; a NaN rate never reaches the lockout); fails and lockouts
	 * saturate, and the delay and backoff loops end at their maximum */
	if (!rechdr_ok(rec, *len, "PIPR", POL_REC_VERSION, sizeof *r) ||
	    !rechdr_ewma_ok(&r->fail)) {
		memset(r, 0, sizeof *r);
		rechdr_set(&r->hdr, "PIPR", POL_REC_VERSION, sizeof *r);
	}
	*len = sizeof *r;
	/* failures since the last quiet period decide the delay */
	if (ratelimit_ewma_decayed(&r->fail, now, (int64_t)c->ip_period_ms) < 0.5)
		r->fails = 0;
	a->lockout = ratelimit_ewma_hit(&r->fail, 1.0, (double)c->ip_failures,
	                                (int64_t)c->ip_period_ms, RATELIMIT_STRICT, now, &a->rate);
	if (r->fails < UINT32_MAX)
		r->fails++;
	if (a->ev->user[0]) {
		const char *cu = a->cuser; /* one account however it is spelt */
		a->users = ratelimit_set_add(&r->users, (uint32_t)ratelimit_hash(cu, strlen(cu)),
		                             pol_floor_div(now, POL_DAY_MS));
	}
	a->fails = r->fails;
	a->lockouts = r->lockouts;
	if (a->lockout) {
		if (r->lockouts < UINT32_MAX)
			r->lockouts++;
		r->fail.rate = 0; /* the block takes over; start afresh after it */
		r->fails = 0;
	}
	return STORE_COMMIT;
}

static int pol_auth(struct pol_engine *e, struct pol_names *n, struct pol_verdict *v, bool fail)
{
	const struct pol_event *ev = n->ev;
	const struct pol_config *c = e->cfg;
	struct store_block b;
	char key[STORE_KEY_MAX];
	int rc = pol_blocked(e, n, v->identity, false, &b);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		pol_verdict_blocked(v, &b);
		return 0;
	}
	const char *ipident = ev->has_ip ? pol_names_ip(e, n) : "";
	if (fail && ev->has_ip) {
		struct pol_ip_ctx a = {.e = e, .ev = ev, .cuser = n->user};
		if (pol_join(key, sizeof key, "A:", ipident) != 0)
			return -1;
		if (store_update_exp(e->store, key, pol_auth_ip_cb, &a,
		                     ev->time_ms + e->rec_ttl_ms) < 0)
			return -1;
		uint32_t shift = a.fails > 1 ? a.fails - 1 : 0;
		uint64_t d = c->delay_base_ms;
		/* at most 64 doublings: a delay of 0 ([auth] delay = 0) never
		 * reaches the maximum, and fails may be up to UINT32_MAX */
		for (uint32_t i = 0; i < shift && i < 64 && d < c->delay_max_ms; i++)
			d *= 2;
		v->delay_ms = (uint32_t)(d < c->delay_max_ms ? d : c->delay_max_ms);
		if (a.lockout) {
			int64_t exp_ms = ev->time_ms +
			                 pol_backoff(c->ip_lockout_ms, 30 * POL_DAY_MS, a.lockouts);
			pol_reason(v, "%.0f failed logins in %llu min from %s", a.rate,
			           (unsigned long long)(c->ip_period_ms / 60000), ipident + 3);
			if (a.users > 1)
				pol_reason(v, "%u accounts tried", a.users);
			char reason[POL_TEXT_MAX];
			str_format_trunc(reason, sizeof reason, "failed logins (lockout %u)",
			                 a.lockouts + 1);
			if (pol_block_create(e, ipident, "auth_ip_lockout", reason, v, ev->time_ms,
			                     exp_ms, a.lockouts, "engine") != 0)
				return -1;
			if (str_copy(v->identity, sizeof v->identity, ipident) != 0)
				panic("pol_auth: ipident is POL_IDENT_MAX");
			pol_escalate(v, POL_BLOCK, "auth_ip_lockout");
			v->block_created = true;
			v->block_expires_ms = exp_ms;
			return 0;
		}
	}
	if (!ev->user[0])
		return 0;
	struct pol_auth_ctx a = {.e = e, .ev = ev, .fail = fail};
	if (ev->has_ip)
		pol_mask_ip(e, &ev->ip, &a.ip);
	if (pol_join(key, sizeof key, "I:", v->identity) != 0)
		return -1;
	if (store_update_exp(e->store, key, pol_auth_user_cb, &a, ev->time_ms + e->rec_ttl_ms) < 0)
		return -1;
	if (a.locked) {
		pol_escalate(v, POL_DEFER, "auth_account_lockout");
		pol_reason(v, "%.0f failed logins in %llu min for %s; %s is not a known IP", a.rate,
		           (unsigned long long)(c->account_period_ms / 60000), ev->user,
		           ipident[0] ? ipident + 3 : "client");
		if (v->delay_ms < c->delay_max_ms)
			v->delay_ms = (uint32_t)c->delay_max_ms;
	}
	return 0;
}

struct pol_feedback_ctx {
	struct pol_engine *e;
	int64_t now;
	double total, bad;
};

static int pol_feedback_cb(void *ctx, unsigned char *rec, size_t *len, size_t cap)
{
	struct pol_feedback_ctx *f = ctx;
	int64_t tau = (int64_t)f->e->cfg->rejected_tau_ms;
	struct pol_rec *r = pol_rec_open(rec, len, cap);
	if (!r)
		return -1;
	ratelimit_decay_add(&r->rcpt_total, f->total, f->now, tau);
	ratelimit_decay_add(&r->rcpt_bad, f->bad, f->now, tau);
	return STORE_COMMIT;
}

/* RCPT rejected at SMTP time: a recipient tried and refused. Delivery bounces
 * and unknown users: recipients already counted at MAIL, now known bad. */
static int pol_feedback(struct pol_engine *e, const struct pol_event *ev, struct pol_verdict *v)
{
	struct pol_feedback_ctx f = {.e = e, .now = ev->time_ms};
	if (ev->type == POL_EV_RCPT_REJECT) {
		f.total = f.bad = ev->rcpt_count ? ev->rcpt_count : 1;
	} else {
		for (uint32_t i = 0; i < ev->n_rcpt; i++)
			if (ev->result[i] == POL_DLV_BOUNCED ||
			    ev->result[i] == POL_DLV_UNKNOWN_USER)
				f.bad++;
	}
	if (f.bad == 0 || !v->identity[0])
		return 0;
	char key[STORE_KEY_MAX];
	if (pol_join(key, sizeof key, "I:", v->identity) != 0)
		return -1;
	return store_update_exp(e->store, key, pol_feedback_cb, &f, ev->time_ms + e->rec_ttl_ms) < 0
	           ? -1
	           : 0;
}

/* ---- a person's block and unblock ---- */

static int pol_unblock_cb(void *ctx, unsigned char *rec, size_t *len, size_t cap)
{
	struct pol_rec *r = pol_rec_open(rec, len, cap);
	(void)ctx;
	if (!r)
		return -1;
	pol_rec_reset(r);
	return STORE_COMMIT;
}

int pol_engine_normalize(const struct pol_engine *e, const char *in, char *out, size_t size)
{
	enum store_block_kind k;
	if (store_block_kind_of(in, &k) != 0)
		return -1;
	const char *v = strchr(in, ':') + 1;
	size_t vlen = strlen(v);
	switch (k) {
	case STORE_BLOCK_USER:
	case STORE_BLOCK_DOMAIN:
		return canon_identity(in, out, size);
	case STORE_BLOCK_IP: {
		struct addr a;
		const char *slash = memchr(v, '/', vlen);
		if (addr_parse(v, slash ? (size_t)(slash - v) : vlen, &a) != 0)
			return -1;
		addr_unmap(&a);
		pol_ip_ident(e, &a, out, size);
		return 0;
	}
	case STORE_BLOCK_CIDR: {
		struct cidr c;
		char cs[CIDR_STRLEN];
		if (cidr_parse(v, vlen, &c) != 0 || cidr_format(&c, cs, sizeof cs) != 0)
			return -1;
		return pol_join(out, size, "cidr:", cs);
	}
	}
	return -1;
}

int pol_engine_block(struct pol_engine *e, const char *identity, const char *actor,
                     const char *reason, int64_t now_ms, int64_t expires_ms)
{
	struct store_block old;
	char ident[POL_IDENT_MAX];
	uint32_t offences = 0;
	if (pol_engine_normalize(e, identity, ident, sizeof ident) != 0)
		return -1;
	if (e->store->block_get(e->store, ident, &old) == 1)
		offences = old.offences;
	return pol_block_create(e, ident, "manual", reason && reason[0] ? reason : "manual block",
	                        NULL, now_ms, expires_ms, offences,
	                        actor && actor[0] ? actor : "admin");
}

int pol_engine_unblock(struct pol_engine *e, const char *identity, const char *actor,
                       const char *reason, int64_t now_ms)
{
	enum store_block_kind k;
	char ident[POL_IDENT_MAX], key[STORE_KEY_MAX];
	if (pol_engine_normalize(e, identity, ident, sizeof ident) != 0 ||
	    store_block_kind_of(ident, &k) != 0)
		return -1;
	int rc = e->store->block_del(e->store, ident);
	if (rc < 0)
		return -1;
	if (pol_audit(e, now_ms, actor && actor[0] ? actor : "admin", "unblock", ident,
	              reason && reason[0] ? reason : "unblock") != 0)
		return -1;
	/* counters and score start afresh: the same evidence must not block again */
	if (pol_join(key, sizeof key, "I:", ident) != 0)
		return -1;
	if (e->store->update(e->store, key, pol_unblock_cb, NULL) < 0)
		return -1;
	if (k == STORE_BLOCK_IP) {
		if (pol_join(key, sizeof key, "A:", ident) != 0 || e->store->del(e->store, key) < 0)
			return -1;
	}
	if (k == STORE_BLOCK_CIDR && pol_engine_reload(e) != 0)
		return -1;
	return rc == 1 ? 0 : 1;
}

/* ---- the entry point ---- */

/* A verdict with nothing decided, field by field: the strings are read up to
 * their NUL and the reason texts (1 KB) only up to n_reasons, so neither is
 * zeroed whole (this runs once per event; the two identities alone are 560
 * bytes). */
static void pol_verdict_clear(struct pol_verdict *v)
{
	v->action = POL_ALLOW;
	v->rule[0] = '\0';
	v->identity[0] = '\0';
	v->about[0] = '\0';
	v->n_reasons = 0;
	v->delay_ms = 0;
	v->score = 0;
	v->block_created = false;
	v->block_expires_ms = 0;
}

int pol_engine_evaluate(struct pol_engine *e, const struct pol_event *ev, struct pol_verdict *out)
{
	pol_verdict_clear(out);
	int rc = 0;
	switch (ev->type) {
	case POL_EV_BLOCK:
	case POL_EV_UNBLOCK:
		str_copy_trunc(out->identity, sizeof out->identity, ev->ident);
		(void)pol_engine_normalize(e, ev->ident, out->identity, sizeof out->identity);
		if (ev->type == POL_EV_BLOCK) {
			int64_t exp_ms = ev->expires_s ? ev->time_ms + ev->expires_s * 1000 : 0;
			rc = pol_engine_block(e, ev->ident, ev->actor, ev->reason, ev->time_ms,
			                      exp_ms);
			if (rc == 0) {
				pol_escalate(out, POL_BLOCK, "manual");
				out->block_created = true;
				out->block_expires_ms = exp_ms;
				pol_reason(out, "blocked by %s",
				           ev->actor[0] ? ev->actor : "admin");
			}
		} else {
			rc = pol_engine_unblock(e, ev->ident, ev->actor, ev->reason, ev->time_ms);
			if (rc >= 0) {
				if (str_copy(out->rule, sizeof out->rule, "unblock") != 0)
					panic("pol_engine_evaluate: out->rule does not fit");
				pol_reason(out,
				           rc == 0 ? "unblocked by %s" : "no block; reset by %s",
				           ev->actor[0] ? ev->actor : "admin");
				rc = 0;
			}
		}
		if (rc != 0) {
			memset(out, 0, sizeof *out);
			str_copy_trunc(out->identity, sizeof out->identity, ev->ident);
			if (str_copy(out->rule, sizeof out->rule, "bad_identity") != 0)
				panic("pol_engine_evaluate: out->rule does not fit");
			return 0;
		}
		return 0;
	default:
		break;
	}
	struct pol_names names;
	pol_names_init(&names, ev);
	pol_identity(e, &names, out->identity, sizeof out->identity);
	/* Every record expires (identity records after rec_ttl_ms without an
	 * event): sweep once a minute of event time, sooner while a sweep
	 * stopped at its batch (the sweep is incremental). */
	if (e->store->expire && ev->time_ms >= e->next_sweep_ms) {
		long n = e->store->expire(e->store, ev->time_ms);
		if (n < 0)
			rc = -1;
		e->next_sweep_ms = n >= STORE_EXPIRE_BATCH ? ev->time_ms : ev->time_ms + 60000;
	}
	switch (rc ? -1 : (int)ev->type) {
	case POL_EV_AUTH_OK:
		rc = pol_auth(e, &names, out, false);
		break;
	case POL_EV_AUTH_FAIL:
		rc = pol_auth(e, &names, out, true);
		break;
	case POL_EV_MAIL:
		rc = pol_mail(e, &names, out);
		if (rc == 0 && out->action <= POL_WARN &&
		    (!ev->parts || (ev->parts & (POL_PART_MSG | POL_PART_RCPTS))))
			rc = inmem_check(e->store, e->cfg, ev, out);
		break;
	case POL_EV_INBOUND:
		rc = inmem_record(e->store, e->cfg, ev, out);
		break;
	case POL_EV_RCPT_REJECT:
	case POL_EV_DELIVERY:
		rc = pol_feedback(e, ev, out);
		break;
	case -1: /* the sweep failed */
		break;
	default: /* block and unblock were answered above */
		panic("policy: event type %d", (int)ev->type);
	}
	if (rc != 0) {
		/* fail open: a store outage must not stop the organisation's mail */
		char ident[POL_IDENT_MAX];
		memcpy(ident, out->identity, sizeof ident);
		memset(out, 0, sizeof *out);
		memcpy(out->identity, ident, sizeof ident);
		if (str_copy(out->rule, sizeof out->rule, "store_error") != 0)
			panic("pol_engine_evaluate: out->rule does not fit");
		return -1;
	}
	return 0;
}

int pol_engine_check_blocks(struct pol_engine *e, const struct pol_event *ev,
                            struct pol_verdict *out)
{
	memset(out, 0, sizeof *out);
	struct pol_names names;
	pol_names_init(&names, ev);
	pol_identity(e, &names, out->identity, sizeof out->identity);
	struct store_block b;
	int rc = pol_blocked(e, &names, out->identity, true, &b);
	if (rc < 0) {
		if (str_copy(out->rule, sizeof out->rule, "store_error") != 0)
			panic("pol_engine_check_blocks: out->rule does not fit");
		return -1;
	}
	if (rc == 1)
		pol_verdict_blocked(out, &b);
	return 0;
}

int pol_engine_counters(struct pol_engine *e, const char *identity, int64_t now_ms,
                        struct pol_counters *out)
{
	memset(out, 0, sizeof *out);
	char ident[POL_IDENT_MAX], key[STORE_KEY_MAX];
	if (pol_engine_normalize(e, identity, ident, sizeof ident) != 0 ||
	    pol_join(key, sizeof key, "I:", ident) != 0)
		return 0;
	struct pol_rec *r = malloc(sizeof *r);
	if (!r)
		return -1;
	size_t len = 0;
	int rc = e->store->get(e->store, key, r, sizeof *r, &len);
	if (rc == 1 &&
	    (!rechdr_ok((const unsigned char *)r, len, "PREC", POL_REC_VERSION, sizeof *r) ||
	     !pol_rec_ok(r)))
		rc = 0;
	if (rc != 1) {
		free(r);
		return rc < 0 ? -1 : 0;
	}
	for (int i = 0; i < POL_LIM_N; i++) {
		int64_t period = pol_config_limit_period_ms((enum pol_limit_id)i);
		if (i == POL_LIM_UNIQ_RCPT_HOUR)
			out->limit[i] = ratelimit_bloom_count(&r->uniq_rcpt, now_ms, period);
		else if (i == POL_LIM_UNIQ_DOMAIN_HOUR)
			out->limit[i] = ratelimit_bloom_count(&r->uniq_dom, now_ms, period);
		else
			out->limit[i] = ratelimit_ewma_decayed(&r->lim[i], now_ms, period);
	}
	int64_t day = pol_floor_div(now_ms, POL_DAY_MS);
	out->messages_today = r->day == day ? r->day_msgs : 0;
	out->recipients =
	    ratelimit_decay_value(&r->rcpt_total, now_ms, (int64_t)e->cfg->rejected_tau_ms);
	out->ips_today = ratelimit_set_count(&r->ips, day);
	out->offences = r->offences;
	free(r);
	return 1;
}

/* The longest window an identity record counts over: after that long without
 * an event its counters say nothing any more, so the record expires. */
int64_t pol_engine_rec_ttl(const struct pol_config *cfg)
{
	uint64_t t = POL_DAY_MS * 2; /* the per-day counters */
	const uint64_t w[] = {cfg->baseline_ms,       cfg->rejected_tau_ms, cfg->guessed_ms,
	                      cfg->block_max_ms,      cfg->ip_period_ms,    cfg->ip_lockout_ms,
	                      cfg->account_period_ms, cfg->known_ip_ms};
	for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
		if (w[i] > t)
			t = w[i];
	for (int id = 0; id < POL_LIM_N; id++)
		if ((uint64_t)pol_config_limit_period_ms((enum pol_limit_id)id) > t)
			t = (uint64_t)pol_config_limit_period_ms((enum pol_limit_id)id);
	return (int64_t)t;
}

struct pol_engine *pol_engine_new(const struct pol_config *cfg, struct store *store)
{
	struct pol_engine *e = calloc(1, sizeof *e);
	if (!e)
		return NULL;
	e->cfg = cfg;
	e->store = store;
	e->rec_ttl_ms = pol_engine_rec_ttl(cfg);
	/* blocks under an old spelling to their canonical identity first (rekey.h) */
	if (rekey_blocks(store) < 0 || pol_engine_reload(e) != 0) {
		pol_engine_free(e);
		return NULL;
	}
	return e;
}

void pol_engine_free(struct pol_engine *e)
{
	if (!e)
		return;
	prefix_set_free(e->ranges);
	free(e);
}
