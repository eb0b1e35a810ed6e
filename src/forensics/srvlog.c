/*
 * srvlog - the Windows mail servers' logs to records (see srvlog.h).
 */
#include "forensics/srvlog.h"

#include "core/str.h"
#include "forensics/exlog.h"
#include "forensics/kerlog.h"
#include "forensics/melog.h"
#include "forensics/srvfield.h"

#include <stdlib.h>
#include <string.h>

int srvlog_init(struct srvlog *v)
{
	memset(v, 0, sizeof *v);
	v->sess = calloc(SRVLOG_SESSIONS, sizeof *v->sess);
	v->auth = calloc(SRVLOG_SESSIONS, sizeof *v->auth);
	if (!v->sess || !v->auth) {
		srvlog_free(v);
		return -1;
	}
	return 0;
}

void srvlog_free(struct srvlog *v)
{
	free(v->sess);
	free(v->auth);
	v->sess = v->auth = NULL;
}

void srvlog_file_init(struct srvlog_file *f)
{
	memset(f, 0, sizeof *f);
	f->format = SRVLOG_NONE;
}

bool srvlog_may_start(const char *p, size_t len)
{
	if (len >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB &&
	    (unsigned char)p[2] == 0xBF)
		return true;
	if (len == 0)
		return false;
	return p[0] == '#' || p[0] == '[' || (len > 2 && p[0] >= '0' && p[0] <= '9' && p[2] == '/');
}

/* ---- a ring of sessions, newest searched first ---- */

static struct srvlog_session *srv_find(struct srvlog_session *ring, size_t n, size_t next,
                                       struct logspan key)
{
	for (size_t k = 0; k < n; k++) {
		struct srvlog_session *x =
		    &ring[(next + SRVLOG_SESSIONS - 1 - k) % SRVLOG_SESSIONS];
		if (strlen(x->key) == key.len && memcmp(x->key, key.p, key.len) == 0)
			return x;
	}
	return NULL;
}

static struct srvlog_session *srv_put(struct srvlog_session *ring, size_t *n, size_t *next,
                                      struct logspan key)
{
	struct srvlog_session *x = srv_find(ring, *n, *next, key);
	if (x)
		return x;
	x = &ring[*next];
	*next = (*next + 1) % SRVLOG_SESSIONS;
	if (*n < SRVLOG_SESSIONS)
		(*n)++;
	memset(x, 0, sizeof *x);
	logspan_copy(key, x->key, sizeof x->key);
	return x;
}

/* ---- Exchange ---- */

static struct logspan srv_col(const struct srvlog_file *v, const struct logspan *c, size_t n,
                              enum exlog_field f)
{
	int i = v->ex_col[f];
	if (i < 0 || (size_t)i >= n)
		return (struct logspan){c[0].p, 0};
	return srvfield_trim(c[i]);
}

static int srv_ex_header(struct srvlog_file *v, struct logspan m)
{
	if (logspan_starts(m, "#Fields:")) {
		exlog_fields(srvfield_trim(logspan_sub(m, 8, m.len)), v->ex_col);
		v->ex_ncols = 1;
		v->ex_protocol = v->ex_col[EXF_EVENT_ID] < 0 && v->ex_col[EXF_SESSION_ID] >= 0;
		v->format = SRVLOG_EXCHANGE;
	} else if (logspan_starts(m, "#Software: Microsoft Exchange") ||
	           logspan_starts(m, "#Log-type: Message Tracking Log") ||
	           logspan_starts(m, "#Log-type: SMTP Receive Protocol Log")) {
		v->format = SRVLOG_EXCHANGE;
	}
	return v->format == SRVLOG_EXCHANGE ? 0 : -1;
}

static void srv_ex_protocol(struct srvlog *sv, const struct srvlog_file *v, const struct logspan *c,
                            size_t n, struct srvlog_rec *out)
{
	struct logspan ev = srv_col(v, c, n, EXF_EVENT), data = srv_col(v, c, n, EXF_DATA);
	struct logspan ctx = srv_col(v, c, n, EXF_CONTEXT);
	out->has_ip = srvfield_ip(srv_col(v, c, n, EXF_REMOTE_ENDPOINT), &out->ip) == 0;
	if (logspan_eq(ev, "*") && logspan_eq(ctx, "authenticated") && data.len) {
		out->kind = SRVLOG_AUTH_OK;
		out->user = data;
		struct srvlog_session *x = srv_put(sv->auth, &sv->n_auth, &sv->next_auth,
		                                   srv_col(v, c, n, EXF_SESSION_ID));
		logspan_copy(data, x->user, sizeof x->user);
		x->seen_ms = out->time_ms;
	} else if (logspan_eq(ev, ">") && logspan_starts(data, "535")) {
		out->kind = SRVLOG_AUTH_FAIL;
	} else if (logspan_eq(ev, ">") && logspan_starts(data, "550") &&
	           logspan_find(data, 0, "nable to relay") > 0) {
		/* "550 5.7.1 Unable to relay", 2013 on "550 5.7.54 SMTP; Unable to relay
		 * recipient in non-accepted domain" */
		out->kind = out->has_ip ? SRVLOG_REJECT : SRVLOG_OTHER;
	}
}

static void srv_ex_tracking(struct srvlog *sv, const struct srvlog_file *v, const struct logspan *c,
                            size_t n, struct srvlog_rec *out)
{
	struct logspan ev = srv_col(v, c, n, EXF_EVENT_ID), src = srv_col(v, c, n, EXF_SOURCE);
	out->id = srv_col(v, c, n, EXF_INTERNAL_ID);
	if (out->id.len == 0)
		return;
	out->rcpt = srv_col(v, c, n, EXF_RECIPIENT);
	out->rcpt_sep = ';';
	out->nrcpt = (uint32_t)srvfield_u64(srv_col(v, c, n, EXF_RECIPIENT_COUNT));
	if (out->nrcpt == 0 && out->rcpt.len) {
		out->nrcpt = 1;
		for (size_t i = 0; i < out->rcpt.len; i++)
			out->nrcpt += out->rcpt.p[i] == ';';
	}
	if (logspan_eq(ev, "RECEIVE") || logspan_eq(ev, "DSN")) {
		out->kind = SRVLOG_RECEIVED;
		out->size = srvfield_u64(srv_col(v, c, n, EXF_TOTAL_BYTES));
		out->sender = srvfield_unangle(srv_col(v, c, n, EXF_RETURN_PATH));
		struct logspan from = srvfield_unangle(srv_col(v, c, n, EXF_SENDER));
		if (logspan_eq(ev, "DSN")) {
			out->generated = true;
			out->sender.len = 0;
			return;
		}
		if (logspan_eq(src, "SMTP")) {
			struct logspan ip = srv_col(v, c, n, EXF_ORIGINAL_CLIENT_IP);
			out->has_ip = srvfield_ip(ip, &out->ip) == 0 ||
			              srvfield_ip(srv_col(v, c, n, EXF_CLIENT_IP), &out->ip) == 0;
			/* source-context "SESSION;time;n": the session that authenticated */
			struct logspan sc = srv_col(v, c, n, EXF_SOURCE_CONTEXT);
			const char *semi = memchr(sc.p, ';', sc.len);
			if (semi && sv->n_auth) {
				struct srvlog_session *x =
				    srv_find(sv->auth, sv->n_auth, sv->next_auth,
				             logspan_sub(sc, 0, (size_t)(semi - sc.p)));
				if (x) {
					size_t ul = strlen(x->user);
					memcpy(sv->buf, x->user, ul);
					out->user = (struct logspan){sv->buf, ul};
				}
			}
			return;
		}
		/* a mailbox submitted it (STOREDRIVER: Outlook, OWA; MAILBOXRULE: an
		 * Inbox rule): the mailbox is the sender */
		out->generated = true;
		out->user = from;
		struct logspan subj = srv_col(v, c, n, EXF_SUBJECT);
		out->autoreply = logspan_eq(src, "MAILBOXRULE") || out->sender.len == 0 ||
		                 srvfield_istarts(subj, "Automatic reply:");
		return;
	}
	if (logspan_eq(ev, "SEND") || logspan_eq(ev, "FAIL")) {
		out->kind = SRVLOG_SENT;
		out->failed = logspan_eq(ev, "FAIL");
		out->has_ip = srvfield_ip(srv_col(v, c, n, EXF_SERVER_IP), &out->ip) == 0;
		out->remote = !out->failed && logspan_eq(src, "SMTP") && out->has_ip;
	}
}

static int srv_exchange(struct srvlog *sv, struct srvlog_file *v, const char *p, size_t len,
                        struct srvlog_rec *out)
{
	struct logspan m = {p, len};
	if (len && p[0] == '#')
		return srv_ex_header(v, m);
	if (!v->ex_ncols || v->ex_col[EXF_DATE_TIME] < 0)
		return 0; /* no "#Fields:" yet: nothing can be read */
	struct logspan c[EXLOG_COLS_MAX];
	size_t n = exlog_split(p, len, c, EXLOG_COLS_MAX);
	int64_t t = exlog_time(srv_col(v, c, n, EXF_DATE_TIME));
	if (t < 0)
		return 0;
	out->time_ms = t;
	if (v->ex_protocol)
		srv_ex_protocol(sv, v, c, n, out);
	else
		srv_ex_tracking(sv, v, c, n, out);
	return 0;
}

/* ---- MailEnable ---- */

static bool srv_reply(struct logspan r, char c)
{
	return r.len && r.p[0] == c;
}

static void srv_mailenable(struct srvlog *v, const struct melog_line *l, struct srvlog_rec *out)
{
	out->time_ms = l->time_ms;
	out->has_ip = l->has_ip;
	out->ip = l->ip;
	if (l->inbound && logspan_eq(l->cmd, "AUTH")) {
		if (logspan_starts(l->reply, "235")) {
			out->kind = l->account.len ? SRVLOG_AUTH_OK : SRVLOG_OTHER;
			out->user = l->account;
		} else if (logspan_starts(l->reply, "535")) {
			out->kind = SRVLOG_AUTH_FAIL;
			out->user = l->account;
		}
		return;
	}
	if (logspan_eq(l->cmd, "MAIL")) {
		struct srvlog_session *x = srv_put(v->sess, &v->n_sess, &v->next_sess, l->id);
		x->has_ip = l->has_ip;
		x->ip = l->ip;
		logspan_copy(l->account, x->user, sizeof x->user);
		logspan_copy(melog_addr(l->arg), x->sender, sizeof x->sender);
		x->nrcpt = 0;
		x->rcpt[0] = '\0';
		x->seen_ms = l->time_ms;
		if (!l->inbound && x->sender[0] == '\0') {
			/* a message MailEnable made (a DSN, an auto-response) going out */
			out->kind = SRVLOG_RECEIVED;
			out->id = l->id;
			out->generated = true;
			out->has_ip = false;
			out->nrcpt = 1;
		}
		return;
	}
	if (logspan_eq(l->cmd, "RCPT")) {
		struct logspan a = melog_addr(l->arg);
		if (!l->inbound) {
			out->kind = SRVLOG_SENT;
			out->id = l->id;
			out->rcpt = a;
			out->nrcpt = 1;
			out->remote = l->has_ip;
			out->failed = srv_reply(l->reply, '4') || srv_reply(l->reply, '5');
			return;
		}
		struct srvlog_session *x = srv_find(v->sess, v->n_sess, v->next_sess, l->id);
		if (x && srv_reply(l->reply, '2')) {
			if (x->nrcpt++ == 0)
				logspan_copy(a, x->rcpt, sizeof x->rcpt);
		} else if (srv_reply(l->reply, '5') && l->has_ip) {
			/* refused: relay denied, unknown user */
			out->kind = SRVLOG_REJECT;
			out->rcpt = a;
			out->nrcpt = 1;
			if (x) {
				size_t sl = strlen(x->sender);
				memcpy(v->buf, x->sender, sl);
				out->sender = (struct logspan){v->buf, sl};
			}
		}
		return;
	}
	if (l->inbound && logspan_eq(l->cmd, "DATA") && logspan_starts(l->reply, "354")) {
		struct srvlog_session *x = srv_find(v->sess, v->n_sess, v->next_sess, l->id);
		if (!x || x->nrcpt == 0)
			return;
		/* the joined session's fields, copied where the record can point */
		size_t ul = strlen(x->user), sl = strlen(x->sender), rl = strlen(x->rcpt);
		if (ul + sl + rl > sizeof v->buf)
			return;
		memcpy(v->buf, x->user, ul);
		memcpy(v->buf + ul, x->sender, sl);
		memcpy(v->buf + ul + sl, x->rcpt, rl);
		out->kind = SRVLOG_RECEIVED;
		out->id = l->id;
		out->user = (struct logspan){v->buf, ul};
		out->sender = (struct logspan){v->buf + ul, sl};
		out->rcpt = (struct logspan){v->buf + ul + sl, rl};
		out->nrcpt = x->nrcpt;
		out->has_ip = x->has_ip;
		out->ip = x->ip;
	}
}

int srvlog_line(struct srvlog *v, struct srvlog_file *f, const char *p, size_t len,
                struct srvlog_rec *out)
{
	memset(out, 0, sizeof *out);
	out->id.p = out->user.p = out->sender.p = out->rcpt.p = p;
	if (len >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB &&
	    (unsigned char)p[2] == 0xBF) {
		p += 3;
		len -= 3;
		out->id.p = out->user.p = out->sender.p = out->rcpt.p = p;
	}
	if (f->format == SRVLOG_EXCHANGE || (f->format == SRVLOG_NONE && len && p[0] == '#'))
		return srv_exchange(v, f, p, len, out);
	if (f->format == SRVLOG_NONE || f->format == SRVLOG_KERIO) {
		if (kerlog_parse(p, len, out) == 0) {
			f->format = SRVLOG_KERIO;
			return 0;
		}
		if (f->format == SRVLOG_KERIO)
			return -1;
	}
	struct melog_line l;
	if (melog_parse(p, len, &l) != 0)
		return -1;
	f->format = SRVLOG_MAILENABLE;
	srv_mailenable(v, &l, out);
	return 0;
}
