/*
 * authline - a mail-log line in, the login it reports out; see authline.h.
 */
#include "forensics/authline.h"

#include "core/hash.h"
#include "core/str.h"
#include "forensics/dovelog.h"
#include "forensics/eximlog.h"
#include "forensics/logline.h"
#include "forensics/logscan.h"
#include "forensics/pflog.h"

#include <string.h>

void authline_init(struct authline *a)
{
	memset(a, 0, sizeof *a);
	htab_init(&a->index, AUTHLINE_PENDING);
}

void authline_free(struct authline *a)
{
	htab_free(&a->index);
}

const char *authline_kind_name(enum authline_kind k)
{
	switch (k) {
	case AUTHLINE_FAIL:
		return "fail";
	case AUTHLINE_OK:
		return "ok";
	default:
		return "none";
	}
}

static uint64_t authline_hash(const struct addr *ip)
{
	return hash_fnv1a64(ip->bytes, ip->family == 4 ? 4 : 16);
}

static bool authline_ip_eq(const void *item, const void *key)
{
	return addr_equal(&((const struct authline_pending *)item)->ip, key);
}

/* The pending count of ip; with take, a new one (0) when it has none, else NULL. */
static uint32_t *authline_pending(struct authline *a, const struct addr *ip, bool take)
{
	uint64_t h = authline_hash(ip);
	struct authline_pending *p = htab_find(&a->index, h, authline_ip_eq, ip);
	if (p || !take)
		return p ? &p->n : NULL;
	p = &a->pending[a->next];
	if (p->used)
		(void)htab_remove(&a->index, authline_hash(&p->ip), p);
	p->ip = *ip;
	p->n = 0;
	p->used = htab_insert(&a->index, h, p) == 0;
	if (!p->used)
		return NULL; /* out of memory: not discounted, as for an IP pushed out */
	a->next = (a->next + 1) % AUTHLINE_PENDING;
	return &p->n;
}

static enum authline_kind authline_set(struct authline_rec *out, enum authline_kind k,
                                       struct logspan user, bool has_ip, const struct addr *ip,
                                       uint32_t count, const char *source)
{
	out->kind = k;
	out->count = count;
	logspan_copy(user, out->user, sizeof out->user);
	str_lower(out->user);
	out->has_ip = has_ip;
	if (has_ip)
		out->ip = *ip;
	out->source = source;
	return k;
}

static enum authline_kind authline_postfix(struct logspan daemon, struct logspan msg,
                                           struct authline_rec *out)
{
	struct pflog_rec r;
	switch (pflog_parse(daemon, msg, &r)) {
	case PFLOG_CLIENT:
		if (r.sasl_user.len == 0 || !r.has_ip)
			return AUTHLINE_NONE;
		return authline_set(out, AUTHLINE_OK, r.sasl_user, true, &r.ip, 1, "postfix");
	case PFLOG_SASL_FAIL:
		/* no password was tried */
		if (logspan_starts(r.text, "Connection lost to authentication server") ||
		    logspan_starts(r.text, "Invalid authentication mechanism"))
			return AUTHLINE_NONE;
		return authline_set(out, AUTHLINE_FAIL, r.sasl_user, r.has_ip, &r.ip, 1, "postfix");
	default:
		return AUTHLINE_NONE;
	}
}

static enum authline_kind authline_exim(struct logspan msg, struct authline_rec *out)
{
	struct eximlog_rec r;
	switch (eximlog_parse(msg, &r)) {
	case EXIMLOG_ARRIVAL:
		if (r.user.len == 0 || !r.has_ip)
			return AUTHLINE_NONE;
		return authline_set(out, AUTHLINE_OK, r.user, true, &r.ip, 1, "exim");
	case EXIMLOG_AUTH_FAIL:
		return authline_set(out, AUTHLINE_FAIL, r.user, r.has_ip, &r.ip, 1, "exim");
	default:
		return AUTHLINE_NONE;
	}
}

static enum authline_kind authline_dovecot(struct authline *a, struct logspan msg,
                                           struct authline_rec *out)
{
	struct dovelog_rec r;
	uint32_t *pend, n;
	switch (dovelog_parse(msg, &r)) {
	case DOVELOG_LOGIN:
		if (r.user.len == 0)
			return AUTHLINE_NONE;
		return authline_set(out, AUTHLINE_OK, r.user, r.has_ip, &r.ip, 1, "dovecot");
	case DOVELOG_AUTH_FAIL:
		/* the auth process's lines of these attempts were counted already */
		n = r.attempts;
		pend = r.has_ip ? authline_pending(a, &r.ip, false) : NULL;
		if (pend) {
			uint32_t k = *pend < n ? *pend : n;
			*pend -= k;
			n -= k;
		}
		if (n == 0)
			return AUTHLINE_NONE;
		return authline_set(out, AUTHLINE_FAIL, r.user, r.has_ip, &r.ip, n < 10 ? n : 10,
		                    "dovecot");
	case DOVELOG_PASSDB_FAIL:
		if (r.has_ip && (pend = authline_pending(a, &r.ip, true)) != NULL && *pend < 1000)
			(*pend)++;
		return authline_set(out, AUTHLINE_FAIL, r.user, r.has_ip, &r.ip, 1, "dovecot");
	default:
		return AUTHLINE_NONE;
	}
}

enum authline_kind authline_read(struct authline *a, const char *p, size_t len,
                                 struct authline_rec *out)
{
	struct logline l;
	struct logspan msg;
	memset(out, 0, sizeof *out);
	if (len > 0 && p[len - 1] == '\r')
		len--;
	if (logline_parse(p, len, &l) != 0)
		return AUTHLINE_NONE;
	switch (logscan_line_format(p, len, &l, &msg)) {
	case LOGSCAN_POSTFIX:
		return authline_postfix(logline_daemon(&l), msg, out);
	case LOGSCAN_EXIM:
		return authline_exim(msg, out);
	case LOGSCAN_DOVECOT:
		return authline_dovecot(a, msg, out);
	default:
		return AUTHLINE_NONE;
	}
}
