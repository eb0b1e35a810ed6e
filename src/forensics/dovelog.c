/*
 * dovelog - Dovecot login, failed-login and vacation lines (see dovelog.h).
 */
#include "forensics/dovelog.h"

#include <string.h>

/* The first token "service:" or "service(user)...:"; its end (after ": ") or 0. */
static size_t dovelog_service(struct logspan m, struct dovelog_rec *out)
{
	size_t e = 0;
	while (e < m.len && m.p[e] != ':' && m.p[e] != ' ' && m.p[e] != '(')
		e++;
	if (e == 0 || e >= m.len)
		return 0;
	out->service = logspan_sub(m, 0, e);
	if (m.p[e] == '(') {
		size_t b = e + 1, c = b;
		while (c < m.len && m.p[c] != ')' && m.p[c] != ',')
			c++;
		if (c >= m.len)
			return 0;
		out->user = logspan_sub(m, b, c);
		while (c < m.len && m.p[c] != ':')
			c++;
		e = c;
	}
	if (e + 1 >= m.len || m.p[e] != ':' || m.p[e + 1] != ' ')
		return 0;
	e += 2;
	struct logspan r = logspan_sub(m, e, m.len);
	if (logspan_starts(r, "Info: "))
		e += 6;
	return e;
}

bool dovelog_is_dovecot(struct logspan m)
{
	static const char *const services[] = {"imap-login",
	                                       "pop3-login",
	                                       "submission-login",
	                                       "managesieve-login",
	                                       "lda",
	                                       "lmtp",
	                                       "imap",
	                                       "pop3",
	                                       "auth",
	                                       "auth-worker",
	                                       "master",
	                                       "config"};
	size_t e = 0;
	while (e < m.len && m.p[e] != ':' && m.p[e] != ' ' && m.p[e] != '(')
		e++;
	struct logspan s = logspan_sub(m, 0, e);
	for (size_t i = 0; i < sizeof services / sizeof services[0]; i++)
		if (logspan_eq(s, services[i]))
			return true;
	return false;
}

/* "key=<v>" or "key=v," after from. */
static bool dovelog_field(struct logspan m, size_t from, const char *key, struct logspan *out)
{
	long k = logspan_find(m, from, key);
	if (k < 0)
		return false;
	size_t b = (size_t)k + strlen(key), e;
	if (b < m.len && m.p[b] == '<') {
		b++;
		e = b;
		while (e < m.len && m.p[e] != '>')
			e++;
	} else {
		e = b;
		while (e < m.len && m.p[e] != ',' && m.p[e] != ' ')
			e++;
	}
	*out = logspan_sub(m, b, e);
	return true;
}

static void dovelog_rip(struct logspan m, size_t from, struct dovelog_rec *out)
{
	struct logspan ip;
	if (dovelog_field(m, from, ", rip=", &ip) && addr_parse(ip.p, ip.len, &out->ip) == 0) {
		addr_unmap(&out->ip);
		out->has_ip = true;
	}
}

enum dovelog_kind dovelog_parse(struct logspan m, struct dovelog_rec *out)
{
	memset(out, 0, sizeof *out);
	out->service.p = out->user.p = out->rcpt.p = m.p;
	out->kind = DOVELOG_OTHER;
	size_t i = dovelog_service(m, out);
	if (i == 0)
		return DOVELOG_OTHER;
	struct logspan r = logspan_sub(m, i, m.len);
	size_t sl = out->service.len;
	bool login_proc = sl > 6 && memcmp(out->service.p + sl - 6, "-login", 6) == 0;
	if (login_proc) {
		if (logspan_starts(r, "Login: ")) {
			if (!dovelog_field(m, i, "user=", &out->user))
				return DOVELOG_OTHER;
			dovelog_rip(m, i, out);
			return out->kind = DOVELOG_LOGIN;
		}
		long a = logspan_find(m, i, "(auth failed, ");
		if (a < 0)
			return DOVELOG_OTHER;
		uint64_t n = 1;
		(void)logspan_u64(logspan_sub(m, (size_t)a + 14, m.len), &n, NULL);
		out->attempts = n == 0 ? 1 : n > 1000 ? 1000 : (uint32_t)n;
		(void)dovelog_field(m, (size_t)a, "user=", &out->user);
		dovelog_rip(m, (size_t)a, out);
		return out->kind = DOVELOG_AUTH_FAIL;
	}
	if ((logspan_eq(out->service, "lda") || logspan_eq(out->service, "lmtp")) &&
	    out->user.len) {
		long v = logspan_find(m, i, "sent vacation response to <");
		if (v < 0)
			return DOVELOG_OTHER;
		size_t b = (size_t)v + 27, e = b;
		while (e < m.len && m.p[e] != '>')
			e++;
		out->rcpt = logspan_sub(m, b, e);
		return out->kind = DOVELOG_VACATION;
	}
	return DOVELOG_OTHER;
}
