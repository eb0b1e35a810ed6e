/*
 * logscan - log lines to engine events to suspects (see logscan.h; the line
 * to event mapping is in docs/logscan.md).
 *
 * Hot path: a Postfix line costs logline_parse (stamp, host, tag), a switch
 * on the daemon, and for the few lines that matter one queue-ID lookup.
 * Lines nobody needs (message-id, connect, TLS) stop after the first bytes
 * of the message. One struct pol_event is reused: only its scalar fields
 * are reset per event, never the 2 KB of recipient slots.
 */
#include "forensics/logscan.h"

#include "core/clock.h"
#include "core/grow.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/str.h"
#include "forensics/dovelog.h"
#include "forensics/eximlog.h"
#include "forensics/exlog.h"
#include "forensics/firewall.h"
#include "forensics/kerlog.h"
#include "forensics/logline.h"
#include "forensics/melog.h"
#include "forensics/nflog.h"
#include "forensics/pflog.h"
#include "forensics/qtrack.h"
#include "forensics/rglog.h"
#include "forensics/srvlog.h"
#include "policy/canon.h"
#include "policy/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LS_USERS_MAX (4u << 20)
#define LS_IPS_MAX (1u << 20)
#define LS_USER_IPS 64
#define LS_TRIED_MAX 4096
#define LS_DOMAINS_MAX (1u << 20)
#define LS_HOUR_MS 3600000LL
#define LS_NAMES_CHUNK (64u << 10)

static const char *const logscan_kind_names[] = {
    "compromised_account", "open_relay_abuse", "direct_smtp",
    "brute_force",         "autoreply_flood",  "backscatter",
};

const char *logscan_kind_name(enum logscan_kind k)
{
	return (unsigned)k < 6 ? logscan_kind_names[k] : "?";
}

int logscan_format_parse(const char *s, enum logscan_format *out)
{
	static const char *const names[] = {"auto",     "postfix",    "exim",
	                                    "dovecot",  "netfilter",  "relayguard",
	                                    "exchange", "mailenable", "kerio"};
	for (int i = 0; i < LOGSCAN_FORMATS; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (enum logscan_format)i;
			return 0;
		}
	return -1;
}

/* ---- per-account and per-IP tallies ---- */

struct ls_user {
	char *name;
	size_t name_len;
	uint32_t hash;
	struct addr last_ip; /* of the last login given to the engine */
	int64_t last_auth_ms;
	bool failed_since;   /* a failed login of this user since then */
	uint64_t fails_seen; /* s->fails_total at its last login */
	uint64_t msgs, auto_msgs, refused, null_defers;
	int64_t first_bad_ms, blocked_ms, last_bad_ms, guessed_ms;
	int max_score;
	enum pol_action max_action; /* of the compromise rule */
	uint32_t n_reasons;
	char (*reasons)[POL_REASON_LEN]; /* of the highest-scoring verdict */
	struct addr *ips;                /* distinct login IPs, at most LS_USER_IPS */
	uint32_t n_ips;
	uint64_t n_ips_more;
	int64_t auto_hour;
	uint32_t auto_hour_n, auto_peak;
	int64_t first_auto_ms, last_auto_ms;
};

/* A login from an IP that had failed logins before it (the facts). */
struct ls_login {
	uint32_t uid;
	int64_t first_ms;
	uint64_t fails_before;
	uint64_t msgs_at; /* the account's message count then */
};

struct ls_ip {
	struct addr ip;
	bool used;
	uint64_t fails;
	int64_t first_fail_ms, last_fail_ms, lockout_ms;
	enum pol_action lockout_action;
	uint32_t passdb_pending; /* Dovecot passdb failures its login process will repeat */
	struct ls_login *logins; /* at most LOGSCAN_LIST_MAX, allocated on the first */
	uint32_t n_logins;
	uint64_t logins_more;
	uint32_t *tried;   /* user ids tried from this IP */
	uint16_t *tried_n; /* failures of each */
	uint32_t n_tried, cap_tried;
	bool tried_more;
	uint32_t succ[LOGSCAN_LIST_MAX];
	uint32_t n_succ;
	uint64_t relayed, relay_rcpts;
	int64_t first_relay_ms, last_relay_ms;
	uint64_t scatter;
};

/* A slot of the user index: enough to reject a mismatch without touching users[]. */
struct ls_uslot {
	uint32_t hash, idx;
	const char *name;
	size_t len;
};

/* One input: what its lines need of the lines before them in the same file. */
struct ls_input {
	const char *name;
	uint64_t line_no;
	struct logyear year;
	struct logyear peek_year; /* logscan_line_time's, which reads ahead */
	struct srvlog_file f;
};

struct logscan {
	struct logscan_opts o;
	struct pol_config cfg;
	struct store *store;
	struct pol_engine *engine;
	struct prefix_set *own_local;
	const struct prefix_set *local;
	struct qtrack q;
	struct nflog_agg fw;
	/* the inputs (logscan_begin), each with its name, line count, year of
	 * classic stamps and format (srvlog); cur is the one lines come from */
	struct ls_input *in;
	size_t n_in, cap_in, cur;
	bool year_set;
	struct logline_memo head; /* the last line's stamp and host */
	struct srvlog srv;        /* the Windows servers' logs: sessions across files */
	struct logscan_stats st;
	uint64_t fails_total; /* failed logins seen (any IP) */
	int64_t now;
	int64_t line_ms; /* the current line's own stamp (now never runs backwards; this may) */
	struct pol_event ev;
	struct pol_verdict v;
	/* interned users: index 0 unused */
	struct ls_user *users;
	uint32_t n_users;
	size_t cap_users;
	struct ls_uslot *uidx; /* open addressing over users; idx 0 = empty */
	uint32_t uidx_cap;
	/* the users' names, packed in chunks (each starts with a pointer to the one
	 * before): a lookup compares against a few pages, not one line of a
	 * scattered heap per name */
	char *names;
	size_t names_used;
	/* IPs */
	struct ls_ip *ips;
	size_t n_ips, cap_ips;
	/* backscatter */
	uint64_t scatter_msgs, scatter_dlv, scatter_failed;
	int64_t scatter_first, scatter_last;
	uint64_t *domains;
	size_t n_domains, cap_domains;
	/* results */
	struct logscan_suspect *sus;
	size_t n_sus;
};

/* n bytes for a user's name, from the current chunk of names; NULL on no memory. */
static char *ls_name_alloc(struct logscan *s, size_t n)
{
	const size_t head = sizeof(char *);
	if (!s->names || s->names_used + n > LS_NAMES_CHUNK) {
		char *c = malloc(LS_NAMES_CHUNK);
		if (!c)
			return NULL;
		memcpy(c, &s->names, head);
		s->names = c;
		s->names_used = head;
	}
	char *p = s->names + s->names_used;
	s->names_used += n;
	return p;
}

static uint32_t ls_hash(const void *p, size_t n)
{
	uint32_t h = hash_fnv1a32(p, n);
	return h ? h : 1;
}

static int ls_uidx_grow(struct logscan *s)
{
	uint32_t ncap = s->uidx_cap ? s->uidx_cap * 2 : 1024;
	struct ls_uslot *n = calloc(ncap, sizeof *n);
	if (!n)
		return -1;
	for (uint32_t i = 1; i < s->n_users; i++) {
		uint32_t k = s->users[i].hash & (ncap - 1);
		while (n[k].idx)
			k = (k + 1) & (ncap - 1);
		n[k] =
		    (struct ls_uslot){s->users[i].hash, i, s->users[i].name, s->users[i].name_len};
	}
	free(s->uidx);
	s->uidx = n;
	s->uidx_cap = ncap;
	return 0;
}

static char ls_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* The index of a user name (lower-cased, cut to POL_USER_MAX - 1), created when
 * new; 0 when full. No copy unless the name is new. */
static uint32_t ls_user_id(struct logscan *s, struct logspan name)
{
	size_t n = name.len < POL_USER_MAX - 1 ? name.len : POL_USER_MAX - 1;
	if (n == 0)
		return 0;
	char canon[POL_USER_MAX], raw[POL_USER_MAX];
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)name.p[i] >= 0x80) {
			/* an IDN: the engine's canonical name (A-labels), as the gateway keys it */
			logspan_copy((struct logspan){name.p, n}, raw, sizeof raw);
			if (canon_user(raw, canon, sizeof canon) == 0) {
				name = (struct logspan){canon, strlen(canon)};
				n = name.len;
			}
			break;
		}
	}
	uint32_t h = HASH_FNV1A32_BASIS;
	for (size_t i = 0; i < n; i++)
		h = hash_fnv1a32_byte(h, (unsigned char)ls_lower(name.p[i]));
	h = h ? h : 1;
	if (s->uidx_cap == 0 && ls_uidx_grow(s) != 0)
		return 0;
	uint32_t k = h & (s->uidx_cap - 1);
	while (s->uidx[k].idx) {
		const struct ls_uslot *u = &s->uidx[k];
		if (u->hash == h && u->len == n) {
			size_t i = 0;
			while (i < n && u->name[i] == ls_lower(name.p[i]))
				i++;
			if (i == n)
				return u->idx;
		}
		k = (k + 1) & (s->uidx_cap - 1);
	}
	if (s->n_users >= LS_USERS_MAX)
		return 0;
	/* users[0] is no one: the first user goes to users[1] */
	if (grow_array(&s->users, &s->cap_users, s->n_users ? s->n_users + 1 : 2,
	               sizeof *s->users) != 0)
		return 0;
	if (s->n_users == 0)
		s->n_users = 1;
	struct ls_user *u = &s->users[s->n_users];
	memset(u, 0, sizeof *u);
	u->name = ls_name_alloc(s, n + 1);
	if (!u->name)
		return 0;
	logspan_copy((struct logspan){name.p, n}, u->name, n + 1);
	str_lower(u->name);
	u->name_len = n;
	u->hash = h;
	s->uidx[k] = (struct ls_uslot){h, s->n_users, u->name, n};
	s->n_users++;
	if ((uint64_t)s->n_users * 10 > (uint64_t)s->uidx_cap * 7 && ls_uidx_grow(s) != 0)
		return 0;
	return s->n_users - 1;
}

static int ls_ips_grow(struct logscan *s)
{
	size_t ncap = s->cap_ips ? s->cap_ips * 2 : 1024;
	struct ls_ip *n = calloc(ncap, sizeof *n);
	if (!n)
		return -1;
	for (size_t i = 0; i < s->cap_ips; i++) {
		if (!s->ips[i].used)
			continue;
		size_t k = ls_hash(&s->ips[i].ip, sizeof s->ips[i].ip) & (ncap - 1);
		while (n[k].used)
			k = (k + 1) & (ncap - 1);
		n[k] = s->ips[i];
	}
	free(s->ips);
	s->ips = n;
	s->cap_ips = ncap;
	return 0;
}

/* The tally of an IP; created when create is true (NULL when full or absent). */
static struct ls_ip *ls_ip(struct logscan *s, const struct addr *ip, bool create)
{
	struct addr key;
	memset(&key, 0, sizeof key);
	key.family = ip->family;
	memcpy(key.bytes, ip->bytes, ip->family == 4 ? 4 : 16);
	if (s->cap_ips == 0) {
		if (!create || ls_ips_grow(s) != 0)
			return NULL;
	}
	size_t k = ls_hash(&key, sizeof key) & (s->cap_ips - 1);
	while (s->ips[k].used) {
		if (memcmp(&s->ips[k].ip, &key, sizeof key) == 0)
			return &s->ips[k];
		k = (k + 1) & (s->cap_ips - 1);
	}
	if (!create || s->n_ips >= LS_IPS_MAX)
		return NULL;
	if ((s->n_ips + 1) * 10 > s->cap_ips * 7) {
		if (ls_ips_grow(s) != 0)
			return NULL;
		return ls_ip(s, &key, true);
	}
	memset(&s->ips[k], 0, sizeof s->ips[k]);
	s->ips[k].used = true;
	s->ips[k].ip = key;
	s->n_ips++;
	return &s->ips[k];
}

static bool ls_local(const struct logscan *s, const struct addr *ip)
{
	return prefix_set_lookup(s->local, ip, NULL, NULL);
}

/* ---- events ---- */

static void ls_ev(struct logscan *s, enum pol_event_type type)
{
	struct pol_event *e = &s->ev;
	e->type = type;
	e->time_ms = s->now;
	e->user[0] = '\0';
	e->has_ip = false;
	e->sender[0] = '\0';
	e->rcpt_count = 0;
	e->n_rcpt = 0;
	e->size = 0;
	e->fingerprint = 0;
	e->flags = 0;
	e->ident[0] = e->actor[0] = e->reason[0] = '\0';
	e->expires_s = 0;
}

static void ls_ev_user(struct logscan *s, uint32_t uid)
{
	if (uid)
		if (str_copy(s->ev.user, sizeof s->ev.user, s->users[uid].name) != 0)
			panic("ls_ev_user: user names are cut to POL_USER_MAX - 1 when first seen");
}

static void ls_ev_ip(struct logscan *s, const struct addr *ip)
{
	s->ev.has_ip = true;
	s->ev.ip = *ip;
}

static void ls_ev_rcpt(struct logscan *s, struct logspan r, enum pol_delivery res)
{
	struct pol_event *e = &s->ev;
	if (e->n_rcpt < POL_RCPT_MAX) {
		logspan_copy(r, e->rcpt[e->n_rcpt], sizeof e->rcpt[0]);
		e->result[e->n_rcpt] = res;
		e->n_rcpt++;
	}
	e->rcpt_count++;
}

static void ls_tally(struct logscan *s, uint32_t uid)
{
	const struct pol_verdict *v = &s->v;
	const struct pol_event *e = &s->ev;
	bool compromise = strcmp(v->rule, "compromise") == 0;
	if (e->type == POL_EV_MAIL && v->action >= POL_DEFER && uid)
		s->users[uid].refused++;
	if (strcmp(v->rule, "auth_ip_lockout") == 0 && e->has_ip) {
		struct ls_ip *ip = ls_ip(s, &e->ip, true);
		if (ip && ip->lockout_ms == 0) {
			ip->lockout_ms = e->time_ms;
			ip->lockout_action = v->action;
		}
	}
	if (!uid)
		return;
	struct ls_user *u = &s->users[uid];
	if (strcmp(v->rule, "rate_null_hour") == 0)
		u->null_defers++;
	if (!compromise)
		return;
	if (u->first_bad_ms == 0)
		u->first_bad_ms = e->time_ms;
	u->last_bad_ms = e->time_ms;
	if (v->action > u->max_action)
		u->max_action = v->action;
	if (v->block_created && u->blocked_ms == 0)
		u->blocked_ms = e->time_ms;
	if (v->score > u->max_score || !u->reasons) {
		if (!u->reasons)
			u->reasons = calloc(POL_REASONS_MAX, POL_REASON_LEN);
		if (u->reasons) {
			u->max_score = v->score > u->max_score ? v->score : u->max_score;
			u->n_reasons = 0;
			for (uint32_t i = 0; i < v->n_reasons; i++) {
				/* the rate-limit reason is about this minute, not the account */
				if (strncmp(v->reasons[i], "user:", 5) == 0)
					continue;
				memcpy(u->reasons[u->n_reasons++], v->reasons[i], POL_REASON_LEN);
			}
		}
	}
}

/* Runs the event in s->ev through the engine. 0 or -1 (store error). */
static int ls_eval(struct logscan *s, uint32_t uid)
{
	s->st.events++;
	int rc = pol_engine_evaluate(s->engine, &s->ev, &s->v);
	if (rc != 0) {
		s->st.store_errors++;
		return -1;
	}
	if (s->v.action == POL_ALLOW)
		return 0;
	s->st.verdicts++;
	if (s->o.on_verdict)
		s->o.on_verdict(s->o.ctx, &s->ev, &s->v, s->in[s->cur].name, s->in[s->cur].line_no);
	ls_tally(s, uid);
	return 0;
}

static void ls_login_ip(struct logscan *s, uint32_t uid, const struct addr *ip)
{
	struct ls_user *u = &s->users[uid];
	for (uint32_t i = 0; i < u->n_ips; i++)
		if (addr_equal(&u->ips[i], ip))
			return;
	if (!u->ips) {
		u->ips = calloc(LS_USER_IPS, sizeof *u->ips);
		if (!u->ips)
			return;
	}
	if (u->n_ips < LS_USER_IPS)
		u->ips[u->n_ips++] = *ip;
	else
		u->n_ips_more++;
}

/* The facts: uid logged in from t, an IP with failures before this login. */
static void ls_login_fact(struct logscan *s, struct ls_ip *t, uint32_t uid)
{
	for (uint32_t i = 0; i < t->n_logins; i++)
		if (t->logins[i].uid == uid)
			return;
	if (!t->logins) {
		t->logins = calloc(LOGSCAN_LIST_MAX, sizeof *t->logins);
		if (!t->logins)
			return;
	}
	if (t->n_logins < LOGSCAN_LIST_MAX)
		t->logins[t->n_logins++] =
		    (struct ls_login){uid, s->line_ms, t->fails, s->users[uid].msgs};
	else
		t->logins_more++;
}

static int ls_auth_ok(struct logscan *s, uint32_t uid, const struct addr *ip)
{
	struct ls_user *u = &s->users[uid];
	/* Another login from the IP of the last one, within the hour, no failure in
	 * between: the engine would learn nothing new (the IP is known already). */
	bool same = ip && u->last_auth_ms && !u->failed_since && addr_equal(ip, &u->last_ip) &&
	            s->now - u->last_auth_ms < LS_HOUR_MS;
	/* The facts: a login from an IP with failures before it. Looked up only
	 * when a failure was logged since this account's last login, or the
	 * engine hears of this one (the common repeated login costs nothing). */
	struct ls_ip *t = NULL;
	if (ip && s->n_ips && (!same || u->fails_seen != s->fails_total)) {
		t = ls_ip(s, ip, false);
		if (t && t->fails)
			ls_login_fact(s, t, uid);
	}
	u->fails_seen = s->fails_total;
	if (same)
		return 0;
	u->failed_since = false;
	u->last_auth_ms = s->now;
	if (ip)
		u->last_ip = *ip;
	if (ip) {
		ls_login_ip(s, uid, ip);
		uint32_t k = 0;
		while (t && k < t->n_tried && t->tried[k] != uid)
			k++;
		/* a login after a brute force from this IP (whether or not the failures
		 * named this account: Postfix before 3.9 names none), or after enough
		 * failures of this account to guess its password (a typo or two is not
		 * that) */
		if (t && (t->lockout_ms ||
		          (k < t->n_tried && t->tried_n[k] >= (uint64_t)s->cfg.guessed_failures))) {
			bool seen = false;
			for (uint32_t i = 0; i < t->n_succ; i++)
				seen |= t->succ[i] == uid;
			if (!seen && t->n_succ < LOGSCAN_LIST_MAX)
				t->succ[t->n_succ++] = uid;
			if (s->users[uid].guessed_ms == 0)
				s->users[uid].guessed_ms = s->line_ms;
		}
	}
	ls_ev(s, POL_EV_AUTH_OK);
	ls_ev_user(s, uid);
	if (ip)
		ls_ev_ip(s, ip);
	return ls_eval(s, uid);
}

static int ls_auth_fail(struct logscan *s, uint32_t uid, const struct addr *ip)
{
	if (uid)
		s->users[uid].failed_since = true;
	s->fails_total++;
	if (ip) {
		struct ls_ip *t = ls_ip(s, ip, true);
		if (t) {
			/* the facts keep the lines' own times */
			if (t->fails == 0 || s->line_ms < t->first_fail_ms)
				t->first_fail_ms = s->line_ms;
			t->fails++;
			if (s->line_ms > t->last_fail_ms)
				t->last_fail_ms = s->line_ms;
			uint32_t k = 0;
			while (uid && k < t->n_tried && t->tried[k] != uid)
				k++;
			if (uid && k == t->n_tried) {
				/* tried and tried_n grow together: cap_tried counts for both */
				size_t c1 = t->cap_tried, c2 = t->cap_tried, need = t->n_tried + 1;
				if (grow_array_max(&t->tried, &c1, need, sizeof *t->tried,
				                   LS_TRIED_MAX) == 0 &&
				    grow_array_max(&t->tried_n, &c2, need, sizeof *t->tried_n,
				                   LS_TRIED_MAX) == 0)
					t->cap_tried = (uint32_t)c2;
				if (t->n_tried < t->cap_tried) {
					t->tried[t->n_tried] = uid;
					t->tried_n[t->n_tried++] = 0;
				} else {
					t->tried_more = true;
				}
			}
			if (uid && k < t->n_tried && t->tried_n[k] < UINT16_MAX)
				t->tried_n[k]++;
		}
	}
	ls_ev(s, POL_EV_AUTH_FAIL);
	ls_ev_user(s, uid);
	if (ip)
		ls_ev_ip(s, ip);
	return ls_eval(s, uid);
}

static void ls_count_auto(struct logscan *s, uint32_t uid)
{
	struct ls_user *u = &s->users[uid];
	int64_t hour = s->now / LS_HOUR_MS;
	u->auto_msgs++;
	if (u->first_auto_ms == 0)
		u->first_auto_ms = s->now;
	u->last_auto_ms = s->now;
	if (hour != u->auto_hour) {
		u->auto_hour = hour;
		u->auto_hour_n = 0;
	}
	if (++u->auto_hour_n > u->auto_peak)
		u->auto_peak = u->auto_hour_n;
}

/* The MAIL event of a tracked message. */
static int ls_mail(struct logscan *s, struct qtrack_msg *m, struct logspan sender, uint64_t size,
                   uint64_t nrcpt, struct logspan rcpt)
{
	m->flags |= QTRACK_QUEUED;
	if (sender.len == 0)
		m->flags |= QTRACK_NULL;
	ls_ev(s, POL_EV_MAIL);
	ls_ev_user(s, m->user);
	if (m->flags & QTRACK_IP)
		ls_ev_ip(s, &m->ip);
	logspan_copy(sender, s->ev.sender, sizeof s->ev.sender);
	if (rcpt.len)
		ls_ev_rcpt(s, rcpt, POL_DLV_OK);
	s->ev.rcpt_count = nrcpt > UINT32_MAX ? UINT32_MAX : nrcpt ? (uint32_t)nrcpt : 1;
	s->ev.size = size;
	if (sender.len == 0)
		s->ev.flags |= POL_F_NULL_SENDER;
	if (m->flags & QTRACK_AUTO)
		s->ev.flags |= POL_F_AUTO_SUBMITTED;
	s->st.messages++;
	if (m->user) {
		s->users[m->user].msgs++;
		if (m->flags & QTRACK_AUTO)
			ls_count_auto(s, m->user);
	}
	return ls_eval(s, m->user);
}

static void ls_domain(struct logscan *s, struct logspan rcpt)
{
	const char *at = NULL;
	for (size_t i = rcpt.len; i > 0; i--)
		if (rcpt.p[i - 1] == '@') {
			at = rcpt.p + i;
			break;
		}
	if (!at)
		return;
	size_t n = (size_t)(rcpt.p + rcpt.len - at);
	char d[256];
	if (n >= sizeof d)
		n = sizeof d - 1;
	for (size_t i = 0; i < n; i++)
		d[i] = (char)(at[i] >= 'A' && at[i] <= 'Z' ? at[i] - 'A' + 'a' : at[i]);
	uint64_t h = ls_hash(d, n) | ((uint64_t)ls_hash(d, n / 2 + 1) << 32) | 1;
	if ((s->n_domains + 1) * 10 > s->cap_domains * 7) {
		if (s->cap_domains >= LS_DOMAINS_MAX)
			return;
		size_t nc = s->cap_domains ? s->cap_domains * 2 : 1024;
		uint64_t *nd = calloc(nc, sizeof *nd);
		if (!nd)
			return;
		for (size_t i = 0; i < s->cap_domains; i++) {
			if (!s->domains[i])
				continue;
			size_t k = (size_t)s->domains[i] & (nc - 1);
			while (nd[k])
				k = (k + 1) & (nc - 1);
			nd[k] = s->domains[i];
		}
		free(s->domains);
		s->domains = nd;
		s->cap_domains = nc;
	}
	size_t k = (size_t)h & (s->cap_domains - 1);
	while (s->domains[k]) {
		if (s->domains[k] == h)
			return;
		k = (k + 1) & (s->cap_domains - 1);
	}
	s->domains[k] = h;
	s->n_domains++;
}

/* A delivery attempt of a tracked message to a remote server: relay and backscatter. */
static void ls_remote(struct logscan *s, struct qtrack_msg *m, struct logspan rcpt, bool forwarded,
                      bool failed)
{
	if ((m->flags & (QTRACK_CLIENT | QTRACK_AUTH | QTRACK_LOCALNET | QTRACK_BOUNCE |
	                 QTRACK_PICKUP)) == QTRACK_CLIENT &&
	    (m->flags & QTRACK_IP) && !forwarded) {
		struct ls_ip *t = ls_ip(s, &m->ip, true);
		if (t) {
			if (!(m->flags & QTRACK_RELAYED)) {
				m->flags |= QTRACK_RELAYED;
				t->relayed++;
				if (t->first_relay_ms == 0)
					t->first_relay_ms = s->now;
				t->last_relay_ms = s->now;
			}
			t->relay_rcpts++;
		}
	}
	bool bounce = (m->flags & QTRACK_BOUNCE) ||
	              ((m->flags & QTRACK_NULL) && !(m->flags & (QTRACK_CLIENT | QTRACK_PICKUP)));
	if (!bounce)
		return;
	s->scatter_dlv++;
	if (failed)
		s->scatter_failed++;
	ls_domain(s, rcpt);
	if (m->flags & QTRACK_SCATTER)
		return;
	m->flags |= QTRACK_SCATTER;
	s->scatter_msgs++;
	if (s->scatter_first == 0)
		s->scatter_first = s->now;
	s->scatter_last = s->now;
	if ((m->flags & QTRACK_IP) && !ls_local(s, &m->ip)) {
		struct ls_ip *t = ls_ip(s, &m->ip, true);
		if (t)
			t->scatter++;
	}
}

/* A failed delivery: feedback for the sender's identity. */
static int ls_bounced(struct logscan *s, struct qtrack_msg *m, struct logspan rcpt, bool unknown)
{
	if (!(m->flags & (QTRACK_IP)) && !m->user)
		return 0;
	ls_ev(s, POL_EV_DELIVERY);
	ls_ev_user(s, m->user);
	if (m->flags & QTRACK_IP)
		ls_ev_ip(s, &m->ip);
	ls_ev_rcpt(s, rcpt, unknown ? POL_DLV_UNKNOWN_USER : POL_DLV_BOUNCED);
	return ls_eval(s, m->user);
}

static bool ls_unknown_user(struct logspan dsn, struct logspan text)
{
	return logspan_eq(dsn, "5.1.1") || logspan_find(text, 0, "nknown user") >= 0 ||
	       logspan_find(text, 0, "ser unknown") >= 0 ||
	       logspan_find(text, 0, "o such user") >= 0;
}

static struct qtrack_msg *ls_track(struct logscan *s, struct logspan id, bool *created)
{
	struct qtrack_msg *m = qtrack_put(&s->q, id.p, id.len, s->now, created);
	if (s->q.peak > s->st.queue_ids_peak)
		s->st.queue_ids_peak = s->q.peak;
	s->st.queue_ids_dropped = s->q.dropped;
	return m;
}

static void ls_set_client(struct logscan *s, struct qtrack_msg *m, const struct addr *ip,
                          uint32_t uid)
{
	m->flags |= QTRACK_CLIENT;
	if (ip) {
		m->flags |= QTRACK_IP;
		m->ip = *ip;
		if (ls_local(s, ip))
			m->flags |= QTRACK_LOCALNET;
	}
	if (uid) {
		m->flags |= QTRACK_AUTH;
		m->user = uid;
	}
}

/* The bounce the MTA made of orig (NULL: not tracked) is tracked as bounce_id,
 * decided for the identity whose message caused it. */
static void ls_bounce_of(struct logscan *s, const struct qtrack_msg *orig, struct logspan bounce_id)
{
	bool created;
	struct qtrack_msg o;
	memset(&o, 0, sizeof o);
	if (orig)
		o = *orig; /* a copy: the put below may move entries */
	struct qtrack_msg *b = ls_track(s, bounce_id, &created);
	if (!b)
		return;
	b->flags |= QTRACK_BOUNCE | QTRACK_NULL;
	b->user = o.user;
	if (o.flags & QTRACK_IP) {
		b->flags |= QTRACK_IP;
		b->ip = o.ip;
	}
}

/* ---- Postfix ---- */

static int ls_postfix(struct logscan *s, struct logspan daemon, const struct pflog_rec *r)
{
	bool created;
	struct qtrack_msg *m;
	uint32_t uid;
	switch (r->kind) {
	case PFLOG_CLIENT:
		uid = ls_user_id(s, r->sasl_user);
		if (uid && r->has_ip && ls_auth_ok(s, uid, &r->ip) != 0)
			return -1;
		m = ls_track(s, r->qid, &created);
		if (m)
			ls_set_client(s, m, r->has_ip ? &r->ip : NULL, uid);
		return 0;
	case PFLOG_SASL_FAIL:
		if (logspan_starts(r->text, "Connection lost to authentication server") ||
		    logspan_starts(r->text, "Invalid authentication mechanism"))
			return 0;
		return ls_auth_fail(s, ls_user_id(s, r->sasl_user), &r->ip);
	case PFLOG_REJECT:
		if (!logspan_eq(r->stage, "RCPT"))
			return 0;
		uid = ls_user_id(s, r->sasl_user);
		ls_ev(s, POL_EV_RCPT_REJECT);
		ls_ev_user(s, uid);
		if (r->has_ip)
			ls_ev_ip(s, &r->ip);
		logspan_copy(r->sender, s->ev.sender, sizeof s->ev.sender);
		ls_ev_rcpt(s, r->rcpt, POL_DLV_BOUNCED);
		return ls_eval(s, uid);
	case PFLOG_AUTO_HEADER:
		if ((m = qtrack_get(&s->q, r->qid.p, r->qid.len)) != NULL)
			m->flags |= QTRACK_AUTO;
		return 0;
	case PFLOG_PICKUP:
		m = ls_track(s, r->qid, &created);
		if (m)
			m->flags |= QTRACK_PICKUP;
		return 0;
	case PFLOG_QUEUED:
		m = ls_track(s, r->qid, &created);
		if (!m || (m->flags & QTRACK_QUEUED))
			return 0;
		if (created) {
			/* its first lines were before this log: do not count a retry as new mail */
			m->flags |= QTRACK_QUEUED;
			s->st.unmatched++;
			return 0;
		}
		return ls_mail(s, m, r->sender, r->size, r->nrcpt, (struct logspan){r->qid.p, 0});
	case PFLOG_DELIVERY:
		if ((m = qtrack_get(&s->q, r->qid.p, r->qid.len)) == NULL)
			return 0;
		if (logspan_eq(daemon, "smtp") &&
		    (r->has_relay_ip ? !ls_local(s, &r->relay_ip) : logspan_eq(r->relay, "none")))
			ls_remote(s, m, r->rcpt, r->orig_rcpt.len > 0,
			          r->status == PFLOG_ST_DEFERRED || r->status == PFLOG_ST_BOUNCED);
		if (r->status == PFLOG_ST_BOUNCED)
			return ls_bounced(s, m, r->rcpt, ls_unknown_user(r->dsn, r->text));
		return 0;
	case PFLOG_NOTIFY: {
		ls_bounce_of(s, qtrack_get(&s->q, r->qid.p, r->qid.len), r->new_qid);
		return 0;
	}
	case PFLOG_REMOVED:
		if ((m = qtrack_get(&s->q, r->qid.p, r->qid.len)) != NULL)
			qtrack_del(&s->q, m);
		return 0;
	default:
		return 0;
	}
}

/* ---- Exim ---- */

static int ls_exim(struct logscan *s, const struct eximlog_rec *r)
{
	bool created;
	struct qtrack_msg *m;
	uint32_t uid;
	switch (r->kind) {
	case EXIMLOG_ARRIVAL:
		uid = ls_user_id(s, r->user);
		if (uid && r->has_ip && ls_auth_ok(s, uid, &r->ip) != 0)
			return -1;
		m = ls_track(s, r->id, &created);
		if (!m)
			return 0;
		if (r->has_ip) {
			ls_set_client(s, m, &r->ip, uid);
		} else {
			m->flags |= QTRACK_PICKUP;
		}
		if (r->sender.len == 0 && r->orig_id.len) {
			struct qtrack_msg *o = qtrack_get(&s->q, r->orig_id.p, r->orig_id.len);
			m->flags = QTRACK_BOUNCE | QTRACK_NULL;
			if (o) {
				m->user = o->user;
				m->ip = o->ip;
				m->flags |= o->flags & QTRACK_IP;
			}
		}
		return ls_mail(s, m, r->sender, r->size, r->nrcpt, r->rcpt);
	case EXIMLOG_DELIVERY:
	case EXIMLOG_BOUNCED:
	case EXIMLOG_DEFERRED: {
		if ((m = qtrack_get(&s->q, r->id.p, r->id.len)) == NULL)
			return 0;
		bool remote =
		    r->has_ip ? !ls_local(s, &r->ip) : logspan_find(r->transport, 0, "remote") >= 0;
		if (remote)
			ls_remote(s, m, r->rcpt, false, r->kind != EXIMLOG_DELIVERY);
		if (r->kind == EXIMLOG_BOUNCED)
			return ls_bounced(s, m, r->rcpt, ls_unknown_user(r->text, r->text));
		return 0;
	}
	case EXIMLOG_COMPLETED:
		if ((m = qtrack_get(&s->q, r->id.p, r->id.len)) != NULL)
			qtrack_del(&s->q, m);
		return 0;
	case EXIMLOG_AUTH_FAIL:
		return ls_auth_fail(s, ls_user_id(s, r->user), r->has_ip ? &r->ip : NULL);
	case EXIMLOG_REJECT:
		ls_ev(s, POL_EV_RCPT_REJECT);
		if (r->has_ip)
			ls_ev_ip(s, &r->ip);
		logspan_copy(r->sender, s->ev.sender, sizeof s->ev.sender);
		ls_ev_rcpt(s, r->rcpt, POL_DLV_BOUNCED);
		return ls_eval(s, 0);
	default:
		return 0;
	}
}

/* ---- Dovecot ---- */

static int ls_dovecot(struct logscan *s, struct logspan msg, const struct dovelog_rec *r)
{
	uint32_t uid;
	switch (r->kind) {
	case DOVELOG_LOGIN:
		uid = ls_user_id(s, r->user);
		if (!uid)
			return 0;
		return ls_auth_ok(s, uid, r->has_ip ? &r->ip : NULL);
	case DOVELOG_AUTH_FAIL: {
		uid = ls_user_id(s, r->user);
		uint32_t n = r->attempts;
		/* the auth process's lines of these attempts were counted already */
		struct ls_ip *t = r->has_ip && s->n_ips ? ls_ip(s, &r->ip, false) : NULL;
		if (t && t->passdb_pending) {
			uint32_t k = t->passdb_pending < n ? t->passdb_pending : n;
			t->passdb_pending -= k;
			n -= k;
		}
		for (uint32_t i = 0; i < n && i < 10; i++)
			if (ls_auth_fail(s, uid, r->has_ip ? &r->ip : NULL) != 0)
				return -1;
		return 0;
	}
	case DOVELOG_PASSDB_FAIL: {
		/* counted once: the login process's "auth failed, N attempts" line,
		 * when it comes, takes these off its N */
		uid = ls_user_id(s, r->user);
		if (ls_auth_fail(s, uid, &r->ip) != 0)
			return -1;
		struct ls_ip *t = ls_ip(s, &r->ip, false);
		if (t && t->passdb_pending < 1000)
			t->passdb_pending++;
		return 0;
	}
	case DOVELOG_VACATION: {
		uid = ls_user_id(s, r->user);
		if (!uid)
			return 0;
		struct qtrack_msg tmp;
		memset(&tmp, 0, sizeof tmp);
		tmp.user = uid;
		tmp.flags = QTRACK_AUTO | QTRACK_PICKUP;
		return ls_mail(s, &tmp, (struct logspan){msg.p, 0}, 0, 1, r->rcpt);
	}
	default:
		return 0;
	}
}

/* ---- relayguard's own delivery log ---- */

static int ls_relayguard(struct logscan *s, const struct rglog_rec *r)
{
	bool created;
	struct qtrack_msg *m = ls_track(s, r->id, &created);
	if (!m)
		return 0;
	switch (r->kind) {
	case RGLOG_RCPT:
		if (created || !(m->flags & QTRACK_CLIENT)) {
			uint32_t uid = ls_user_id(s, r->user);
			ls_set_client(s, m, r->has_client ? &r->client : NULL, uid);
			if (!r->has_client)
				m->flags = (uint16_t)((m->flags & ~QTRACK_CLIENT) | QTRACK_PICKUP);
		}
		if (r->has_relay_ip ? !ls_local(s, &r->relay_ip) : logspan_eq(r->relay, "none"))
			ls_remote(s, m, r->rcpt, false, !logspan_eq(r->status, "sent"));
		if (logspan_eq(r->status, "bounced"))
			return ls_bounced(s, m, r->rcpt, ls_unknown_user(r->dsn, r->reply));
		return 0;
	case RGLOG_MESSAGE: {
		int rc = 0;
		if (!(m->flags & QTRACK_QUEUED) && r->attempt <= 1)
			rc =
			    ls_mail(s, m, r->from, r->size, r->nrcpt, (struct logspan){r->id.p, 0});
		if (r->done)
			qtrack_del(&s->q, m);
		return rc;
	}
	case RGLOG_DSN: {
		if (!logspan_eq(r->status, "queued"))
			return 0;
		ls_bounce_of(s, m, r->dsn_id);
		return 0;
	}
	default:
		return 0;
	}
}

/* ---- the Windows servers of the articles (srvlog.h) ---- */

/* Whether a line of time t is inside --since/--until (counted when not); the
 * first and last times seen. */
static inline bool ls_time_in(struct logscan *s, int64_t t)
{
	if ((s->o.since_ms && t < s->o.since_ms) || (s->o.until_ms && t >= s->o.until_ms)) {
		s->st.outside++;
		return false;
	}
	if (s->st.first_ms == 0 || t < s->st.first_ms)
		s->st.first_ms = t;
	if (t > s->st.last_ms)
		s->st.last_ms = t;
	return true;
}

static bool ls_want(const struct logscan *s, enum logscan_format f)
{
	return s->o.format == LOGSCAN_AUTO || s->o.format == f;
}

static int ls_srv_received(struct logscan *s, const struct srvlog_rec *r)
{
	bool created;
	uint32_t uid = ls_user_id(s, r->user);
	/* an authenticated submission is a login too (as Postfix's client= line) */
	if (uid && r->has_ip && !r->generated && ls_auth_ok(s, uid, &r->ip) != 0)
		return -1;
	struct qtrack_msg *m = ls_track(s, r->id, &created);
	if (!m || (m->flags & QTRACK_QUEUED))
		return 0;
	if (!r->generated) {
		ls_set_client(s, m, r->has_ip ? &r->ip : NULL, uid);
	} else if (r->autoreply && uid) {
		m->flags |= QTRACK_PICKUP | QTRACK_AUTO;
		m->user = uid;
	} else if (uid) {
		m->flags |= QTRACK_PICKUP;
		m->user = uid;
	}
	struct logspan first = r->rcpt;
	const char *sep = r->rcpt_sep ? memchr(first.p, r->rcpt_sep, first.len) : NULL;
	if (sep)
		first.len = (size_t)(sep - first.p);
	if (r->rcpt_sep == ',')
		first = (struct logspan){first.p, 0}; /* "<a>" forms: the count is enough */
	return ls_mail(s, m, r->sender, r->size, r->nrcpt, first);
}

static int ls_srv_sent(struct logscan *s, const struct srvlog_rec *r)
{
	struct qtrack_msg *m = qtrack_get(&s->q, r->id.p, r->id.len);
	if (!m)
		return 0;
	bool remote = r->remote && !(r->has_ip && ls_local(s, &r->ip));
	size_t i = 0;
	while (i <= r->rcpt.len) {
		size_t e = i;
		while (e < r->rcpt.len && (!r->rcpt_sep || r->rcpt.p[e] != r->rcpt_sep))
			e++;
		struct logspan one = logspan_sub(r->rcpt, i, e);
		if (one.len) {
			if (remote)
				ls_remote(s, m, one, false, r->failed);
			if (r->failed && ls_bounced(s, m, one, false) != 0)
				return -1;
			m = qtrack_get(&s->q, r->id.p, r->id.len); /* ls_remote keeps it */
			if (!m)
				return 0;
		}
		i = e + 1;
	}
	return 0;
}

/* A line of a file that is (or may be) one of these servers' logs. 0 (read),
 * -1 (the engine's store failed) or 1 (not such a line: nothing counted). */
static int ls_srv_line(struct logscan *s, const char *p, size_t len)
{
	struct srvlog_rec r;
	struct srvlog_file *f_in = &s->in[s->cur].f;
	if (srvlog_line(&s->srv, f_in, p, len, &r) != 0)
		return 1;
	/* MailEnable's message file names (a GUID and ".MAI") are longer than a
	 * queue ID: their last bytes tell them apart */
	if (r.id.len > QTRACK_ID_MAX)
		r.id = logspan_sub(r.id, r.id.len - QTRACK_ID_MAX, r.id.len);
	enum logscan_format f = f_in->format == SRVLOG_EXCHANGE     ? LOGSCAN_EXCHANGE
	                        : f_in->format == SRVLOG_MAILENABLE ? LOGSCAN_MAILENABLE
	                                                            : LOGSCAN_KERIO;
	if (!ls_want(s, f)) {
		s->st.unparsed++;
		return 0;
	}
	s->st.parsed++;
	s->st.by_format[f]++;
	if (r.kind == SRVLOG_OTHER)
		return 0;
	int64_t t = r.time_ms;
	if (!ls_time_in(s, t))
		return 0;
	s->line_ms = t;
	if (t < s->now)
		s->st.out_of_order++;
	else
		s->now = t;
	switch (r.kind) {
	case SRVLOG_AUTH_OK: {
		uint32_t uid = ls_user_id(s, r.user);
		return uid ? ls_auth_ok(s, uid, r.has_ip ? &r.ip : NULL) : 0;
	}
	case SRVLOG_AUTH_FAIL:
		return ls_auth_fail(s, ls_user_id(s, r.user), r.has_ip ? &r.ip : NULL);
	case SRVLOG_RECEIVED:
		return ls_srv_received(s, &r);
	case SRVLOG_SENT:
		return ls_srv_sent(s, &r);
	case SRVLOG_REJECT:
		ls_ev(s, POL_EV_RCPT_REJECT);
		ls_ev_ip(s, &r.ip);
		logspan_copy(r.sender, s->ev.sender, sizeof s->ev.sender);
		ls_ev_rcpt(s, r.rcpt, POL_DLV_BOUNCED);
		return ls_eval(s, 0);
	default:
		return 0;
	}
}

/* ---- dispatch ---- */

static void ls_netfilter(struct logscan *s, const struct nflog_line *nl, int64_t when)
{
	/* outbound only (OUT= set), and not the mail servers' own connections */
	if (nl->out.len > 0 && nflog_is_smtp_attempt(nl) &&
	    !nflog_prefix_is(nl, FIREWALL_PREFIX_MAILSRV))
		(void)nflog_agg_add(&s->fw, nl, when);
}

static bool ls_is_dovecot_tag(struct logspan t)
{
	return logspan_eq(t, "dovecot") || logspan_eq(t, "imap-login") ||
	       logspan_eq(t, "pop3-login") || logspan_eq(t, "submission-login") ||
	       logspan_eq(t, "managesieve-login") || logspan_eq(t, "dovecot-auth");
}

enum logscan_format logscan_line_format(const char *p, size_t len, struct logline *l,
                                        struct logspan *msg)
{
	enum logscan_format f = LOGSCAN_AUTO;
	struct logspan tag = l->tag;
	*msg = l->msg;
	if (l->bare) {
		if (dovelog_is_dovecot(*msg))
			f = LOGSCAN_DOVECOT;
		else
			f = LOGSCAN_EXIM;
	} else if (tag.len >= 7 && logspan_memeq(tag.p, "postfix", 7)) {
		f = LOGSCAN_POSTFIX;
	} else if (tag.len && memchr(tag.p, '/', tag.len) &&
	           pflog_is_delivery_daemon(logline_daemon(l))) {
		f = LOGSCAN_POSTFIX;
	} else if (ls_is_dovecot_tag(tag)) {
		f = LOGSCAN_DOVECOT;
		if (!logspan_eq(tag, "dovecot")) { /* Dovecot's own file: the service is the tag */
			msg->p = tag.p;
			msg->len = (size_t)(l->msg.p + l->msg.len - tag.p);
		}
	} else if (logspan_eq(tag, "auth") && logspan_starts(*msg, "pam_unix(dovecot:auth): ")) {
		/* PAM's own line for Dovecot (syslog tag "auth") */
		f = LOGSCAN_DOVECOT;
		msg->p = tag.p;
		msg->len = (size_t)(l->msg.p + l->msg.len - tag.p);
	} else if (logspan_eq(tag, "kernel")) {
		f = LOGSCAN_NETFILTER;
	} else if (logspan_eq(tag, "relayguard")) {
		f = LOGSCAN_RELAYGUARD;
	} else if (tag.len >= 4 && logspan_memeq(tag.p, "exim", 4)) {
		f = LOGSCAN_EXIM;
		struct logline inner;
		if (logline_parse(msg->p, msg->len, &inner) == 0 && inner.bare) {
			*msg = inner.msg;
			*l = inner;
		}
	} else if (tag.len == 0 && l->host.len && !memchr(l->host.p, ':', l->host.len)) {
		/* "Jan 29 09:33:58 lda(u)<1><s>: sieve: ..." (Dovecot's own file) */
		struct logspan rest = {l->host.p, (size_t)(p + len - l->host.p)};
		if (dovelog_is_dovecot(rest)) {
			f = LOGSCAN_DOVECOT;
			*msg = rest;
		}
	}
	return f;
}

int logscan_line(struct logscan *s, const char *p, size_t len)
{
	struct logline l;
	enum logscan_format f;
	struct ls_input *in = &s->in[s->cur];
	s->st.lines++;
	in->line_no++;
	if (len > 0 && p[len - 1] == '\r')
		len--;
	/* a file of the Windows servers' formats; a line that is not of it goes on
	 * below (a file's format is not a promise about every line) */
	if (in->f.format != SRVLOG_NONE) {
		int rc = ls_srv_line(s, p, len);
		if (rc <= 0)
			return rc;
	}
	if (logline_parse_memo(p, len, &l, &s->head) != 0) {
		/* dmesg: "[123.456] PREFIX IN=..." has no wall-clock time */
		struct nflog_line nl;
		if (ls_want(s, LOGSCAN_NETFILTER) && len > 0 && p[0] == '[' &&
		    nflog_parse(p, len, &nl) == NFLOG_OK) {
			ls_netfilter(s, &nl, 0);
			s->st.parsed++;
			s->st.by_format[LOGSCAN_NETFILTER]++;
			return 0;
		}
		if (in->f.format == SRVLOG_NONE && srvlog_may_start(p, len)) {
			int rc = ls_srv_line(s, p, len);
			if (rc <= 0)
				return rc;
		}
		s->st.unparsed++;
		return 0;
	}
	struct logspan msg;
	if (!l.bare && l.tag.len >= 7 && logspan_memeq(l.tag.p, "postfix", 7)) {
		f = LOGSCAN_POSTFIX; /* nearly every line: logscan_line_format's first case, inline
		                      */
		msg = l.msg;
	} else {
		f = logscan_line_format(p, len, &l, &msg);
	}
	if (f == LOGSCAN_AUTO || !ls_want(s, f)) {
		s->st.unparsed++;
		return 0;
	}
	/* Parse the message first: most lines say nothing logscan needs, and those
	 * end here without a time computed. */
	union {
		struct pflog_rec pf;
		struct eximlog_rec ex;
		struct dovelog_rec dv;
		struct nflog_line nf;
		struct rglog_rec rg;
	} r;
	struct logspan daemon = logline_daemon(&l);
	bool useful;
	switch (f) {
	case LOGSCAN_POSTFIX:
		useful = pflog_parse(daemon, msg, &r.pf) != PFLOG_OTHER;
		break;
	case LOGSCAN_EXIM:
		useful = eximlog_parse(msg, &r.ex) != EXIMLOG_OTHER;
		break;
	case LOGSCAN_DOVECOT:
		useful = dovelog_parse(msg, &r.dv) != DOVELOG_OTHER;
		break;
	case LOGSCAN_RELAYGUARD:
		useful = rglog_parse(msg, &r.rg) != RGLOG_OTHER;
		break;
	default:
		if (nflog_parse(p, len, &r.nf) != NFLOG_OK) {
			s->st.unparsed++;
			return 0;
		}
		useful = true;
		break;
	}
	s->st.parsed++;
	s->st.by_format[f]++;
	if (!useful)
		return 0;
	int64_t t = logyear_resolve(&in->year, &l);
	if (!ls_time_in(s, t))
		return 0;
	if (f == LOGSCAN_NETFILTER) {
		ls_netfilter(s, &r.nf, t);
		return 0;
	}
	s->line_ms = t;
	if (t < s->now)
		s->st.out_of_order++; /* the engine keeps the newest time */
	else
		s->now = t;
	switch (f) {
	case LOGSCAN_POSTFIX:
		return ls_postfix(s, daemon, &r.pf);
	case LOGSCAN_EXIM:
		return ls_exim(s, &r.ex);
	case LOGSCAN_RELAYGUARD:
		return ls_relayguard(s, &r.rg);
	default:
		return ls_dovecot(s, msg, &r.dv);
	}
}

void logscan_line_too_long(struct logscan *s)
{
	s->st.lines++;
	s->in[s->cur].line_no++;
	s->st.too_long++;
	s->st.unparsed++;
}

void logscan_begin(struct logscan *s, const char *name, int64_t ref_ms)
{
	/* a new input; the first call takes over the "-" set up by logscan_new */
	if (s->n_in > 1 || s->in[0].line_no || s->year_set) {
		if (grow_array(&s->in, &s->cap_in, s->n_in + 1, sizeof *s->in) != 0)
			return; /* lines go on being counted to the input before */
		s->in[s->n_in] = s->in[s->n_in - 1]; /* the year carries on */
		s->cur = s->n_in++;
	}
	struct ls_input *in = &s->in[s->cur];
	in->name = name;
	in->line_no = 0;
	srvlog_file_init(&in->f);
	if (s->o.year) {
		if (!s->year_set)
			logyear_init(&in->year, s->o.year, 0);
	} else if (ref_ms) {
		logyear_init_from_ms(&in->year, ref_ms);
	}
	in->peek_year = in->year;
	s->year_set = true;
}

int logscan_line_time(struct logscan *s, const char *p, size_t len, int64_t *ms)
{
	struct ls_input *in = &s->in[s->cur];
	if (len >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB &&
	    (unsigned char)p[2] == 0xBF) {
		p += 3;
		len -= 3;
	}
	if (len > 0 && p[len - 1] == '\r')
		len--;
	if (len == 0 || p[0] == '#')
		return -1;
	size_t used;
	struct melog_line ml;
	struct logline l;
	const char *comma = len > 19 && p[10] == 'T' ? memchr(p, ',', len) : NULL;
	if (comma && (*ms = exlog_time((struct logspan){p, (size_t)(comma - p)})) >= 0)
		return 0; /* Exchange: date-time is the first field */
	if (kerlog_stamp(p, len, ms, &used) == 0)
		return 0;
	if (melog_parse(p, len, &ml) == 0) {
		*ms = ml.time_ms;
		return 0;
	}
	if (logline_parse(p, len, &l) == 0) {
		*ms = logyear_resolve(&in->peek_year, &l);
		return 0;
	}
	return -1;
}

int logscan_select(struct logscan *s, size_t input)
{
	if (input >= s->n_in)
		return -1;
	s->cur = input;
	return 0;
}

/* ---- setup ---- */

struct logscan *logscan_new(const struct logscan_opts *o, char *err, size_t errlen)
{
	struct logscan *s = calloc(1, sizeof *s);
	if (!s) {
		str_copy_trunc(err, errlen, "out of memory");
		return NULL;
	}
	s->o = *o;
	if (!s->o.min_direct_attempts)
		s->o.min_direct_attempts = 10;
	if (!s->o.min_relayed)
		s->o.min_relayed = 3;
	if (!s->o.min_backscatter)
		s->o.min_backscatter = 20;
	if (o->cfg)
		s->cfg = *o->cfg;
	else if (pol_config_defaults(&s->cfg, err, errlen) != 0)
		goto fail;
	if (!o->local) {
		s->own_local = prefix_set_new();
		if (!s->own_local ||
		    prefix_set_add_list(s->own_local,
		                        "127.0.0.0/8 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 "
		                        "100.64.0.0/10 169.254.0.0/16 ::1/128 fc00::/7 fe80::/10",
		                        err, errlen) != 0)
			goto fail;
		s->local = s->own_local;
	} else {
		s->local = o->local;
	}
	s->store = store_mem_new_capped(o->max_records ? o->max_records : LOGSCAN_RECORDS_MAX);
	if (!s->store)
		goto nomem;
	s->engine = pol_engine_new(&s->cfg, s->store);
	if (!s->engine)
		goto nomem;
	if (qtrack_init(&s->q, o->max_messages ? o->max_messages : (4u << 20)) != 0)
		goto nomem;
	if (nflog_agg_init(&s->fw, 1u << 16, FIREWALL_PREFIX_BLOCK) != 0)
		goto nomem;
	if (srvlog_init(&s->srv) != 0)
		goto nomem;
	memset(&s->ev, 0, sizeof s->ev);
	s->in = calloc(4, sizeof *s->in);
	if (!s->in)
		goto nomem;
	s->cap_in = 4;
	s->n_in = 1;
	s->in[0].name = "-";
	srvlog_file_init(&s->in[0].f);
	logyear_init(&s->in[0].year, o->year ? o->year : 1970, 0);
	return s;
nomem:
	str_copy_trunc(err, errlen, "out of memory");
fail:
	logscan_free(s);
	return NULL;
}

void logscan_free(struct logscan *s)
{
	if (!s)
		return;
	if (s->engine)
		pol_engine_free(s->engine);
	if (s->store)
		s->store->close(s->store);
	prefix_set_free(s->own_local);
	srvlog_free(&s->srv);
	free(s->in);
	qtrack_free(&s->q);
	if (s->fw.hosts || s->fw.index)
		nflog_agg_free(&s->fw);
	for (uint32_t i = 1; i < s->n_users; i++) {
		free(s->users[i].reasons);
		free(s->users[i].ips);
	}
	free(s->users);
	free(s->uidx);
	while (s->names) {
		char *prev;
		memcpy(&prev, s->names, sizeof prev);
		free(s->names);
		s->names = prev;
	}
	for (size_t i = 0; i < s->cap_ips; i++)
		if (s->ips[i].used) {
			free(s->ips[i].tried);
			free(s->ips[i].tried_n);
			free(s->ips[i].logins);
		}
	free(s->ips);
	free(s->domains);
	free(s->sus);
	free(s);
}

const struct logscan_stats *logscan_stats(const struct logscan *s)
{
	return &s->st;
}

/* ---- suspects ---- */

static void ls_evidence(struct logscan_suspect *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void ls_evidence(struct logscan_suspect *x, const char *fmt, ...)
{
	if (x->n_evidence >= LOGSCAN_EVIDENCE_MAX)
		return;
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(x->evidence[x->n_evidence], LOGSCAN_EVIDENCE_LEN, fmt, ap);
	va_end(ap);
	x->n_evidence++;
}

static struct logscan_suspect *ls_suspect(struct logscan *s, size_t *cap, enum logscan_kind k)
{
	if (grow_array(&s->sus, cap, s->n_sus + 1, sizeof *s->sus) != 0)
		return NULL;
	struct logscan_suspect *x = &s->sus[s->n_sus++];
	memset(x, 0, sizeof *x);
	x->kind = k;
	return x;
}

static void ls_ipstr(const struct addr *a, char *out, size_t n)
{
	if (addr_format(a, out, n) != 0)
		str_copy_trunc(out, n, "?");
}

static int ls_suspect_cmp(const void *pa, const void *pb)
{
	const struct logscan_suspect *a = pa, *b = pb;
	/* a guessed password (a brute force with a real login) comes first of all */
	bool ga = a->kind == LOGSCAN_BRUTE_FORCE && a->n_logins > 0;
	bool gb = b->kind == LOGSCAN_BRUTE_FORCE && b->n_logins > 0;
	if (ga != gb)
		return ga ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	int c = strcmp(a->account, b->account);
	if (c)
		return c;
	return addr_compare(&a->ip, &b->ip);
}

static int ls_users_suspects(struct logscan *s, size_t *cap)
{
	long long null_limit = s->cfg.limits.max[POL_LIM_NULL_HOUR];
	for (uint32_t i = 1; i < s->n_users; i++) {
		struct ls_user *u = &s->users[i];
		if (u->max_action >= POL_HOLD) {
			struct logscan_suspect *x = ls_suspect(s, cap, LOGSCAN_COMPROMISED_ACCOUNT);
			if (!x)
				return -1;
			if (str_copy(x->account, sizeof x->account, u->name) != 0)
				panic("ls_suspects: user names are cut to POL_USER_MAX - 1 when "
				      "first seen");
			x->score = u->max_score >= 100 ? 1.0 : u->max_score / 100.0;
			x->first_ms = u->first_bad_ms;
			if (u->guessed_ms && u->guessed_ms < x->first_ms)
				x->first_ms = u->guessed_ms;
			x->last_ms = u->last_bad_ms;
			x->blocked_ms = u->blocked_ms;
			x->count = u->msgs;
			x->count2 = u->refused;
			for (uint32_t k = 0; k < u->n_reasons; k++)
				ls_evidence(x, "%s", u->reasons[k]);
			ls_evidence(x, "%llu messages sent, %llu refused or held by the policy",
			            (unsigned long long)u->msgs, (unsigned long long)u->refused);
			for (uint32_t k = 0; k < u->n_ips && k < LOGSCAN_LIST_MAX; k++)
				x->ips[x->n_ips++] = u->ips[k];
			x->n_ips_total = u->n_ips + u->n_ips_more;
			str_format_trunc(
			    x->todo, sizeof x->todo,
			    "change the password of %s and end its sessions; check the "
			    "devices that use it and its forwarding rules; then resume "
			    "it (relayguard unblock user:%s)",
			    u->name, u->name);
		}
		if (u->auto_msgs && (u->null_defers > 0 ||
		                     (null_limit > 0 && u->auto_peak >= (uint64_t)null_limit))) {
			struct logscan_suspect *x = ls_suspect(s, cap, LOGSCAN_AUTOREPLY_FLOOD);
			if (!x)
				return -1;
			if (str_copy(x->account, sizeof x->account, u->name) != 0)
				panic("ls_suspects: user names are cut to POL_USER_MAX - 1 when "
				      "first seen");
			x->count = u->auto_msgs;
			x->count2 = u->null_defers;
			x->first_ms = u->first_auto_ms;
			x->last_ms = u->last_auto_ms;
			x->score = 0.5;
			ls_evidence(x, "%llu automatic replies, up to %u in one hour (limit %lld)",
			            (unsigned long long)u->auto_msgs, u->auto_peak, null_limit);
			if (u->null_defers)
				ls_evidence(x, "%llu of them deferred by the policy",
				            (unsigned long long)u->null_defers);
			str_format_trunc(
			    x->todo, sizeof x->todo,
			    "limit the auto-reply of %s: at most one reply per sender "
			    "and period (Sieve vacation :days), none to lists, bulk or "
			    "auto-submitted mail; turn it off if it answers spam",
			    u->name);
		}
	}
	return 0;
}

static int ls_ips_suspects(struct logscan *s, size_t *cap)
{
	char ip[ADDR_STRLEN], t1[40], t2[40];
	for (size_t i = 0; i < s->cap_ips; i++) {
		struct ls_ip *t = &s->ips[i];
		if (!t->used)
			continue;
		ls_ipstr(&t->ip, ip, sizeof ip);
		/* locked out by the engine's rate of failures, or a password guessed */
		if (t->lockout_ms || t->n_succ) {
			struct logscan_suspect *x = ls_suspect(s, cap, LOGSCAN_BRUTE_FORCE);
			if (!x)
				return -1;
			x->has_ip = true;
			x->ip = t->ip;
			x->count = t->fails;
			x->count2 = t->n_tried;
			x->count2_more = t->tried_more;
			x->first_ms = t->first_fail_ms;
			x->last_ms = t->last_fail_ms;
			x->blocked_ms = t->lockout_ms;
			x->score = 0.6;
			(void)clock_format_rfc3339(t->first_fail_ms, t1, sizeof t1);
			(void)clock_format_rfc3339(t->last_fail_ms, t2, sizeof t2);
			ls_evidence(x, "%llu failed logins from %s, %s to %s",
			            (unsigned long long)t->fails, ip, t1, t2);
			if (t->n_tried)
				ls_evidence(x, "%s%u account%s tried",
				            t->tried_more ? "more than " : "", t->n_tried,
				            t->n_tried == 1 ? "" : "s");
			if (t->lockout_ms) {
				(void)clock_format_rfc3339(t->lockout_ms, t1, sizeof t1);
				ls_evidence(x, "locked out by the policy at %s", t1);
			}
			/* the facts: every account that logged in from it after failures */
			char names[300] = "";
			for (uint32_t k = 0; k < t->n_logins; k++) {
				const struct ls_login *g = &t->logins[k];
				const struct ls_user *u = &s->users[g->uid];
				struct logscan_login *o = &x->logins[x->n_logins++];
				if (str_copy(o->account, sizeof o->account, u->name) != 0)
					panic("ls_suspects: user names are cut to POL_USER_MAX - 1 "
					      "when first seen");
				o->first_ms = g->first_ms;
				o->failures_before = g->fails_before;
				o->messages_after = u->msgs - g->msgs_at;
				if (str_copy(x->names[x->n_names++], sizeof x->names[0], u->name) !=
				    0)
					panic("ls_suspects: user names are cut to POL_USER_MAX - 1 "
					      "when first seen");
				if (k)
					str_append_trunc(names, sizeof names, ", ");
				str_append_trunc(names, sizeof names, u->name);
				(void)clock_format_rfc3339(g->first_ms, t1, sizeof t1);
				ls_evidence(x,
				            "logged in as %s at %s after %llu failures from %s; "
				            "%llu messages sent from then on",
				            u->name, t1, (unsigned long long)g->fails_before, ip,
				            (unsigned long long)o->messages_after);
			}
			x->logins_more = t->logins_more;
			/* what the replay would have done, apart */
			if (t->lockout_ms) {
				x->policy_action = t->lockout_action;
				if (str_copy(x->policy_rule, sizeof x->policy_rule,
				             "auth_ip_lockout") != 0)
					panic("ls_ips_suspects: x->policy_rule does not fit");
			}
			if (t->n_logins) {
				x->score = 1.0;
				ls_evidence(x, "the password of %s%s was guessed", names,
				            t->logins_more ? " and more" : "");
				str_format_trunc(x->todo, sizeof x->todo,
				                 "change the password of %s%s now and end its "
				                 "sessions; block %s at the firewall",
				                 names, t->logins_more ? " (and the others)" : "",
				                 ip);
			} else {
				str_format_trunc(
				    x->todo, sizeof x->todo,
				    "block %s at the firewall (no login from it succeeded)", ip);
			}
		}
		if (t->relayed >= s->o.min_relayed) {
			struct logscan_suspect *x = ls_suspect(s, cap, LOGSCAN_OPEN_RELAY_ABUSE);
			if (!x)
				return -1;
			x->has_ip = true;
			x->ip = t->ip;
			x->count = t->relayed;
			x->count2 = t->relay_rcpts;
			x->first_ms = t->first_relay_ms;
			x->last_ms = t->last_relay_ms;
			x->score = 1.0;
			ls_evidence(x,
			            "%llu messages from %s relayed to %llu remote recipients "
			            "without authentication",
			            (unsigned long long)t->relayed, ip,
			            (unsigned long long)t->relay_rcpts);
			ls_evidence(x, "%s is not in the local networks", ip);
			str_format_trunc(
			    x->todo, sizeof x->todo,
			    "close the open relay: relay only for authenticated users and "
			    "your own networks (Postfix: check mynetworks and "
			    "smtpd_relay_restrictions = permit_mynetworks, "
			    "permit_sasl_authenticated, reject_unauth_destination); "
			    "block %s; then run relayguard relaytest",
			    ip);
		}
	}
	return 0;
}

static int ls_fw_suspects(struct logscan *s, size_t *cap)
{
	char ip[ADDR_STRLEN];
	for (size_t i = 0; i < s->fw.n; i++) {
		const struct nflog_host *h = &s->fw.hosts[i];
		if (h->attempts < s->o.min_direct_attempts)
			continue;
		struct logscan_suspect *x = ls_suspect(s, cap, LOGSCAN_DIRECT_SMTP);
		if (!x)
			return -1;
		x->has_ip = true;
		x->ip = h->src;
		x->count = h->attempts;
		x->count2 = h->n_dst;
		x->count2_more = h->dst_overflow;
		x->first_ms = h->first_ms;
		x->last_ms = h->last_ms;
		x->score = 1.0;
		ls_ipstr(&h->src, ip, sizeof ip);
		ls_evidence(x, "%llu outbound SMTP connection attempts from %s to %s%zu servers",
		            (unsigned long long)h->attempts, ip,
		            h->dst_overflow ? "more than " : "", h->n_dst);
		if (h->blocked)
			ls_evidence(x, "%llu of them dropped by the firewall",
			            (unsigned long long)h->blocked);
		str_format_trunc(x->todo, sizeof x->todo,
		                 "disinfect the machine at %s: it sends mail straight to the "
		                 "Internet, bypassing the mail server (find it in the DHCP leases "
		                 "or the switch, take it off the network, clean or reinstall it)",
		                 ip);
	}
	return 0;
}

static int ls_scatter_suspect(struct logscan *s, size_t *cap)
{
	if (s->scatter_msgs < s->o.min_backscatter)
		return 0;
	struct logscan_suspect *x = ls_suspect(s, cap, LOGSCAN_BACKSCATTER);
	if (!x)
		return -1;
	x->count = s->scatter_msgs;
	x->count2 = s->n_domains;
	x->first_ms = s->scatter_first;
	x->last_ms = s->scatter_last;
	x->score = 0.7;
	ls_evidence(x, "%llu bounces sent to remote addresses at %zu domains",
	            (unsigned long long)s->scatter_msgs, s->n_domains);
	if (s->scatter_dlv)
		ls_evidence(
		    x, "%llu%% of their delivery attempts deferred or refused (forged senders)",
		    (unsigned long long)(100 * s->scatter_failed / s->scatter_dlv));
	/* the IPs whose mail caused the most bounces */
	uint64_t total = 0;
	for (size_t i = 0; i < s->cap_ips; i++)
		if (s->ips[i].used)
			total += s->ips[i].scatter;
	for (uint32_t n = 0; n < LOGSCAN_LIST_MAX; n++) {
		struct ls_ip *best = NULL;
		for (size_t i = 0; i < s->cap_ips; i++) {
			struct ls_ip *t = &s->ips[i];
			bool taken = false;
			for (uint32_t k = 0; k < x->n_ips; k++)
				taken |= addr_equal(&x->ips[k], &t->ip);
			if (t->used && t->scatter && !taken &&
			    (!best || t->scatter > best->scatter ||
			     (t->scatter == best->scatter && addr_compare(&t->ip, &best->ip) < 0)))
				best = t;
		}
		if (!best)
			break;
		x->ips[x->n_ips++] = best->ip;
	}
	x->n_ips_total = x->n_ips;
	if (x->n_ips) {
		char ip[ADDR_STRLEN];
		ls_ipstr(&x->ips[0], ip, sizeof ip);
		ls_evidence(x, "%llu of them caused by mail from outside; most from %s",
		            (unsigned long long)total, ip);
	}
	str_copy_trunc(x->todo, sizeof x->todo,
	               "reject mail for unknown recipients during the SMTP dialogue instead of "
	               "accepting and bouncing it (Postfix: smtpd_reject_unlisted_recipient, "
	               "relay_recipient_maps; Exim: verify = recipient); never bounce spam");
	return 0;
}

int logscan_finish(struct logscan *s, const struct logscan_suspect **out, size_t *n)
{
	size_t cap = 0;
	free(s->sus);
	s->sus = NULL;
	s->n_sus = 0;
	if (ls_users_suspects(s, &cap) != 0 || ls_ips_suspects(s, &cap) != 0 ||
	    ls_fw_suspects(s, &cap) != 0 || ls_scatter_suspect(s, &cap) != 0)
		return -1;
	if (s->n_sus > 1)
		qsort(s->sus, s->n_sus, sizeof *s->sus, ls_suspect_cmp);
	s->st.queue_ids_peak = s->q.peak;
	s->st.queue_ids_dropped = s->q.dropped;
	*out = s->sus;
	*n = s->n_sus;
	return 0;
}

int logscan_parse_time(const char *t, int64_t *out_ms)
{
	size_t n = strlen(t);
	if (n == 10) {
		char tmp[32];
		if (str_format(tmp, sizeof tmp, "%sT00:00:00Z", t) != 0)
			return -1;
		return clock_parse_rfc3339(tmp, out_ms);
	}
	return clock_parse_rfc3339(t, out_ms);
}
