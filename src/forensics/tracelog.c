/*
 * tracelog - a traced message's sessions in Postfix's and relayguard's logs;
 * see tracelog.h.
 *
 * Postfix lines are read with pflog (its parser of the lines logscan uses) and
 * pflog_qid for the "QID: message-id=<...>" line of cleanup (log_adhoc.c and
 * cleanup_message.c write it once per message); relayguard's with rglog.
 */
#include "forensics/tracelog.h"

#include "core/str.h"
#include "forensics/pflog.h"
#include "forensics/rglog.h"

#include <string.h>

const char *tracelog_source_name(enum tracelog_source s)
{
	return s == TRACELOG_POSTFIX ? "postfix" : s == TRACELOG_RELAYGUARD ? "relayguard" : "?";
}

/* p[0, n) without surrounding white space and one pair of angle brackets. */
static void tracelog_bare_id(const char **p, size_t *n)
{
	while (*n && (**p == ' ' || **p == '\t')) {
		(*p)++;
		(*n)--;
	}
	while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
		(*n)--;
	if (*n >= 2 && (*p)[0] == '<' && (*p)[*n - 1] == '>') {
		(*p)++;
		*n -= 2;
	}
}

int tracelog_init(struct tracelog *tl, const struct trace *t)
{
	memset(tl, 0, sizeof *tl);
	for (size_t i = 0; i < t->nhops; i++) {
		const struct received *r = &t->hops[i].r;
		size_t n = strlen(r->id);
		if (!t->hops[i].parsed || n == 0 || n >= TRACELOG_QID_MAX)
			continue;
		struct tracelog_target *g = &tl->targets[tl->ntargets++];
		memcpy(g->id, r->id, n + 1);
		g->len = n;
		g->hop = (int)i;
		g->has_date = r->has_date;
		g->date_ms = r->date_ms;
	}
	if (t->has_message_id) {
		const char *p = t->message_id;
		size_t n = strlen(p);
		tracelog_bare_id(&p, &n);
		if (n > 0 && n < sizeof tl->message_id) {
			memcpy(tl->message_id, p, n);
			tl->message_id[n] = '\0';
			tl->message_id_len = n;
		}
	}
	return tl->ntargets || tl->message_id_len ? 0 : -1;
}

void tracelog_pass(struct tracelog *tl, int pass)
{
	tl->pass = pass;
}

void tracelog_file(struct tracelog *tl, unsigned file, int64_t mtime_ms)
{
	tl->file = file;
	tl->line_no = 0;
	if (mtime_ms > 0)
		logyear_init_from_ms(&tl->year, mtime_ms);
	else
		logyear_init(&tl->year, 0, 0);
	logline_memo_init(&tl->memo);
}

static int64_t tracelog_abs(int64_t v)
{
	return v < 0 ? -v : v;
}

/* The hop whose queue id is qid (and whose date, if any, is near t), or -1. */
static int tracelog_target(const struct tracelog *tl, struct logspan qid, int64_t t)
{
	for (size_t i = 0; i < tl->ntargets; i++) {
		const struct tracelog_target *g = &tl->targets[i];
		if (g->len != qid.len || memcmp(g->id, qid.p, qid.len) != 0)
			continue;
		if (g->has_date && tracelog_abs(t - g->date_ms) > TRACELOG_DATE_SLACK_MS)
			continue; /* a short Postfix queue id used again another day */
		return g->hop;
	}
	return -1;
}

static bool tracelog_is_message_id(const struct tracelog *tl, struct logspan v)
{
	const char *p = v.p;
	size_t n = v.len;
	tracelog_bare_id(&p, &n);
	return tl->message_id_len && n == tl->message_id_len && memcmp(p, tl->message_id, n) == 0;
}

static struct tracelog_session *tracelog_find(struct tracelog *tl, enum tracelog_source src,
                                              struct logspan qid)
{
	for (size_t i = 0; i < tl->nsessions; i++) {
		struct tracelog_session *s = &tl->sessions[i];
		if (s->source == src && strlen(s->queue_id) == qid.len &&
		    memcmp(s->queue_id, qid.p, qid.len) == 0)
			return s;
	}
	return NULL;
}

/* Pass 1: qid matched (by, hop) at time t. */
static void tracelog_match(struct tracelog *tl, enum tracelog_source src, struct logspan qid,
                           unsigned by, int hop, int64_t t)
{
	if (qid.len == 0 || qid.len >= TRACELOG_QID_MAX)
		return;
	struct tracelog_session *s = tracelog_find(tl, src, qid);
	if (!s) {
		if (tl->nsessions >= TRACELOG_SESSIONS_MAX) {
			tl->sessions_dropped++;
			return;
		}
		s = &tl->sessions[tl->nsessions++];
		memset(s, 0, sizeof *s);
		s->source = src;
		logspan_copy(qid, s->queue_id, sizeof s->queue_id);
		s->hop = -1;
		s->uid = -1;
		s->match_ms = t;
		s->file = tl->file;
		s->line = tl->line_no;
	}
	s->matched_by |= by;
	if (hop >= 0 && s->hop < 0)
		s->hop = hop;
}

/* A session of (src, qid) whose lines may be at time t (pass 2). */
static struct tracelog_session *tracelog_of(struct tracelog *tl, enum tracelog_source src,
                                            struct logspan qid, int64_t t)
{
	if (qid.len == 0)
		return NULL;
	struct tracelog_session *s = tracelog_find(tl, src, qid);
	if (!s || tracelog_abs(t - s->match_ms) > TRACELOG_QUEUE_MS)
		return NULL;
	return s;
}

static void tracelog_copy(struct logspan v, char *out, size_t size)
{
	logspan_copy(v, out, size);
}

static void tracelog_time(struct tracelog_session *s, int64_t t, bool client_line)
{
	if (client_line || !s->has_time) {
		s->time_ms = t;
		s->has_time = true;
	}
}

static void tracelog_rcpt(struct tracelog_session *s, struct logspan addr, struct logspan status,
                          struct logspan relay)
{
	struct tracelog_rcpt *r = NULL;
	for (size_t i = 0; i < s->nrcpts && !r; i++)
		if (strlen(s->rcpts[i].addr) == addr.len &&
		    memcmp(s->rcpts[i].addr, addr.p, addr.len) == 0)
			r = &s->rcpts[i];
	if (!r) {
		if (s->nrcpts >= TRACELOG_RCPTS_MAX)
			return;
		r = &s->rcpts[s->nrcpts++];
		tracelog_copy(addr, r->addr, sizeof r->addr);
	}
	tracelog_copy(status, r->status, sizeof r->status);
	tracelog_copy(relay, r->relay, sizeof r->relay);
}

static const char *tracelog_pf_status(enum pflog_status st)
{
	switch (st) {
	case PFLOG_ST_SENT:
		return "sent";
	case PFLOG_ST_DEFERRED:
		return "deferred";
	case PFLOG_ST_BOUNCED:
		return "bounced";
	default:
		return "other";
	}
}

/* "message-id=<...>" after "QID: " of a cleanup line: the value, or empty. */
static struct logspan tracelog_pf_msgid(struct logspan daemon, struct logspan msg, size_t after)
{
	struct logspan rest = logspan_sub(msg, after, msg.len);
	if (!logspan_eq(daemon, "cleanup") || !logspan_starts(rest, "message-id="))
		return logspan_sub(msg, 0, 0);
	return logspan_sub(rest, 11, rest.len);
}

/* Pass 3: a message of (src, qid) from ip (if has_ip) by user at time t. */
static void tracelog_related(struct tracelog *tl, enum tracelog_source src, struct logspan qid,
                             const struct addr *ip, struct logspan user, struct logspan sender,
                             int64_t t)
{
	for (size_t i = 0; i < tl->nsessions; i++) {
		struct tracelog_session *s = &tl->sessions[i];
		if (!s->has_time || tracelog_abs(t - s->time_ms) > TRACELOG_WINDOW_MS)
			continue;
		if (s->source == src && strlen(s->queue_id) == qid.len &&
		    memcmp(s->queue_id, qid.p, qid.len) == 0)
			continue; /* the session itself */
		bool same_ip = ip && s->has_ip && addr_equal(ip, &s->ip);
		bool same_user =
		    user.len && s->auth_user[0] && str_ieq_n(user.p, user.len, s->auth_user);
		if (!same_ip && !same_user)
			continue;
		s->related_total++;
		if (s->nrelated >= TRACELOG_RELATED_MAX)
			continue;
		struct tracelog_related *r = &s->related[s->nrelated++];
		memset(r, 0, sizeof *r);
		r->source = src;
		tracelog_copy(qid, r->queue_id, sizeof r->queue_id);
		r->time_ms = t;
		if (ip) {
			r->has_ip = true;
			r->ip = *ip;
		}
		tracelog_copy(user, r->user, sizeof r->user);
		tracelog_copy(sender, r->sender, sizeof r->sender);
		r->same_ip = same_ip;
		r->same_user = same_user;
	}
}

static void tracelog_postfix(struct tracelog *tl, const struct logline *l, int64_t t)
{
	struct logspan daemon = logline_daemon(l), qid, none = {l->msg.p, 0};
	size_t after = pflog_qid(l->msg, &qid);
	if (after == 0)
		return;
	if (tl->pass == 1) {
		int hop = tracelog_target(tl, qid, t);
		if (hop >= 0)
			tracelog_match(tl, TRACELOG_POSTFIX, qid, TRACELOG_BY_QUEUE_ID, hop, t);
		struct logspan mid = tracelog_pf_msgid(daemon, l->msg, after);
		if (mid.len && tracelog_is_message_id(tl, mid))
			tracelog_match(tl, TRACELOG_POSTFIX, qid, TRACELOG_BY_MESSAGE_ID, -1, t);
		return;
	}
	struct pflog_rec r;
	if (tl->pass == 3) {
		if (pflog_parse(daemon, l->msg, &r) == PFLOG_CLIENT)
			tracelog_related(tl, TRACELOG_POSTFIX, r.qid, r.has_ip ? &r.ip : NULL,
			                 r.sasl_user, none, t);
		return;
	}
	struct tracelog_session *s = tracelog_of(tl, TRACELOG_POSTFIX, qid, t);
	if (!s)
		return;
	enum pflog_kind k = pflog_parse(daemon, l->msg, &r);
	tracelog_time(s, t, k == PFLOG_CLIENT || k == PFLOG_PICKUP);
	switch (k) {
	case PFLOG_CLIENT:
		tracelog_copy(r.client, s->client_host, sizeof s->client_host);
		s->has_ip = r.has_ip;
		if (r.has_ip)
			s->ip = r.ip;
		tracelog_copy(r.sasl_user, s->auth_user, sizeof s->auth_user);
		tracelog_copy(r.sasl_method, s->auth_method, sizeof s->auth_method);
		break;
	case PFLOG_PICKUP:
		s->local = true;
		s->uid = r.uid;
		tracelog_copy(r.sender, s->sender, sizeof s->sender);
		s->has_sender = true;
		break;
	case PFLOG_QUEUED:
		tracelog_copy(r.sender, s->sender, sizeof s->sender);
		s->has_sender = true;
		s->size = r.size;
		s->nrcpt = r.nrcpt;
		break;
	case PFLOG_DELIVERY: {
		const char *st = tracelog_pf_status(r.status);
		tracelog_rcpt(s, r.rcpt, (struct logspan){st, strlen(st)}, r.relay);
		break;
	}
	default: {
		struct logspan mid = tracelog_pf_msgid(daemon, l->msg, after);
		if (mid.len)
			tracelog_copy(mid, s->message_id, sizeof s->message_id);
		break;
	}
	}
}

static void tracelog_relayguard(struct tracelog *tl, const struct logline *l, int64_t t)
{
	struct rglog_smtpd sm;
	if (rglog_parse_smtpd(l->msg, &sm) == 0) {
		bool queued = logspan_eq(sm.event, "queued");
		if (tl->pass == 1) {
			int hop = tracelog_target(tl, sm.qid, t);
			if (hop >= 0)
				tracelog_match(tl, TRACELOG_RELAYGUARD, sm.qid,
				               TRACELOG_BY_QUEUE_ID, hop, t);
		} else if (tl->pass == 2) {
			struct tracelog_session *s =
			    tracelog_of(tl, TRACELOG_RELAYGUARD, sm.qid, t);
			if (!s)
				return;
			tracelog_time(s, t, queued);
			if (!queued)
				return;
			s->has_ip = sm.has_client;
			if (sm.has_client)
				s->ip = sm.client;
			tracelog_copy(sm.user, s->auth_user, sizeof s->auth_user);
			tracelog_copy(sm.from, s->sender, sizeof s->sender);
			s->has_sender = true;
			tracelog_copy(sm.sid, s->session_id, sizeof s->session_id);
			s->nrcpt = sm.nrcpt;
			s->size = sm.size;
		} else if (queued) {
			tracelog_related(tl, TRACELOG_RELAYGUARD, sm.qid,
			                 sm.has_client ? &sm.client : NULL, sm.user, sm.from, t);
		} else if (logspan_eq(sm.event, "auth") && logspan_eq(sm.value, "ok")) {
			/* The mechanism, from the session's AUTH line (before its queue id). */
			for (size_t i = 0; i < tl->nsessions; i++) {
				struct tracelog_session *s = &tl->sessions[i];
				if (s->source == TRACELOG_RELAYGUARD && s->session_id[0] &&
				    strlen(s->session_id) == sm.sid.len &&
				    memcmp(s->session_id, sm.sid.p, sm.sid.len) == 0)
					tracelog_copy(sm.mech, s->auth_method,
					              sizeof s->auth_method);
			}
		}
		return;
	}
	struct rglog_rec r;
	enum rglog_kind k = rglog_parse(l->msg, &r);
	if (k == RGLOG_OTHER)
		return;
	if (tl->pass == 1) {
		int hop = tracelog_target(tl, r.id, t);
		if (hop >= 0)
			tracelog_match(tl, TRACELOG_RELAYGUARD, r.id, TRACELOG_BY_QUEUE_ID, hop, t);
		return;
	}
	if (tl->pass != 2)
		return;
	struct tracelog_session *s = tracelog_of(tl, TRACELOG_RELAYGUARD, r.id, t);
	if (!s)
		return;
	tracelog_time(s, t, false);
	if (k == RGLOG_RCPT)
		tracelog_rcpt(s, r.rcpt, r.status, r.relay);
}

void tracelog_line(struct tracelog *tl, const char *p, size_t len)
{
	struct logline l;
	tl->line_no++;
	if (tl->pass == 1)
		tl->lines++;
	if (len > 0 && p[len - 1] == '\r')
		len--;
	if (logline_parse_memo(p, len, &l, &tl->memo) != 0)
		return;
	enum tracelog_source src;
	if (l.tag.len >= 7 && memcmp(l.tag.p, "postfix", 7) == 0)
		src = TRACELOG_POSTFIX;
	else if (logspan_eq(l.tag, "relayguard"))
		src = TRACELOG_RELAYGUARD;
	else
		return;
	if (tl->pass == 1)
		tl->mail_lines++;
	int64_t t = logyear_resolve(&tl->year, &l);
	if (src == TRACELOG_POSTFIX)
		tracelog_postfix(tl, &l, t);
	else
		tracelog_relayguard(tl, &l, t);
}
