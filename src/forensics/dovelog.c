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
	                                       "dovecot-auth",
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

/* Whether the text after "DB(...): " says the password or the user was wrong
 * (not an outage: "Connection lost", "Internal error" and the like). */
static bool dovelog_passdb_no(struct logspan r)
{
	if (logspan_starts(r, "Info: "))
		r = logspan_sub(r, 6, r.len);
	if (logspan_starts(r, "unknown user") || logspan_starts(r, "Password mismatch") ||
	    logspan_starts(r, "invalid credentials"))
		return true;
	if (!logspan_starts(r, "pam_authenticate() failed: "))
		return false;
	r = logspan_sub(r, 27, r.len);
	return logspan_starts(r, "User not known") || logspan_starts(r, "Authentication failure") ||
	       logspan_starts(r, "Permission denied");
}

/* "DB(USER,IP[,...])[<..>...]: " at the start of r: fills user and ip, returns the
 * offset of the text after it, or 0. */
static size_t dovelog_passdb_head(struct logspan r, struct dovelog_rec *out)
{
	size_t e = 0;
	while (e < r.len && e < 24 &&
	       ((r.p[e] >= 'a' && r.p[e] <= 'z') || r.p[e] == '-' || r.p[e] == '_' ||
	        (r.p[e] >= '0' && r.p[e] <= '9')))
		e++;
	if (e < 2 || e >= r.len || r.p[e] != '(')
		return 0;
	size_t b = e + 1, c = b;
	while (c < r.len && r.p[c] != ',' && r.p[c] != ')')
		c++;
	if (c >= r.len || r.p[c] != ',')
		return 0;
	size_t ib = c + 1, ie = ib;
	while (ie < r.len && r.p[ie] != ',' && r.p[ie] != ')')
		ie++;
	if (ie >= r.len || addr_parse(r.p + ib, ie - ib, &out->ip) != 0)
		return 0;
	addr_unmap(&out->ip);
	out->has_ip = true;
	out->user = logspan_sub(r, b, c);
	long k = logspan_find(r, ie, ": ");
	return k < 0 ? 0 : (size_t)k + 2;
}

/* The passdb and PAM forms of DOVELOG_PASSDB_FAIL; m starts at the service. */
static enum dovelog_kind dovelog_passdb(struct logspan m, size_t i, struct dovelog_rec *out)
{
	struct logspan r = logspan_sub(m, i, m.len);
	if (logspan_starts(r, "pam_unix(dovecot:auth): authentication failure;")) {
		/* "ruser=X rhost=IP": ruser has no space, so the first " rhost=" is it */
		long h = logspan_find(r, 0, " rhost=");
		if (h < 0)
			return DOVELOG_OTHER;
		size_t b = (size_t)h + 7, e = b;
		while (e < r.len && r.p[e] != ' ')
			e++;
		if (addr_parse(r.p + b, e - b, &out->ip) != 0)
			return DOVELOG_OTHER;
		addr_unmap(&out->ip);
		out->has_ip = true;
		long u = logspan_find(r, e, " user=");
		if (u >= 0) {
			size_t ub = (size_t)u + 6, ue = ub;
			while (ue < r.len && r.p[ue] != ' ')
				ue++;
			out->user = logspan_sub(r, ub, ue);
		}
		return out->kind = DOVELOG_PASSDB_FAIL;
	}
	/* Dovecot 2.4: "auth-worker(U,IP)<..>: request [N]: DB: TEXT" */
	if (logspan_starts(r, "request [")) {
		struct logspan svc = {out->service.p, (size_t)(m.p + i - out->service.p)};
		struct dovelog_rec tmp = *out;
		size_t t = dovelog_passdb_head(svc, &tmp);
		long k = logspan_find(r, 9, "]: ");
		if (t == 0 || k < 0)
			return DOVELOG_OTHER;
		struct logspan rest = logspan_sub(r, (size_t)k + 3, r.len);
		long c = logspan_find(rest, 0, ": ");
		if (c < 0 || !dovelog_passdb_no(logspan_sub(rest, (size_t)c + 2, rest.len)))
			return DOVELOG_OTHER;
		*out = tmp;
		return out->kind = DOVELOG_PASSDB_FAIL;
	}
	size_t t = dovelog_passdb_head(r, out);
	if (t == 0 || !dovelog_passdb_no(logspan_sub(r, t, r.len))) {
		out->has_ip = false;
		out->user = logspan_sub(m, 0, 0);
		return DOVELOG_OTHER;
	}
	return out->kind = DOVELOG_PASSDB_FAIL;
}

static void dovelog_rip(struct logspan m, size_t from, struct dovelog_rec *out)
{
	struct logspan ip;
	/* ": rip=" when no user and method come before it */
	if ((dovelog_field(m, from, ", rip=", &ip) || dovelog_field(m, from, ": rip=", &ip)) &&
	    addr_parse(ip.p, ip.len, &out->ip) == 0) {
		addr_unmap(&out->ip);
		out->has_ip = true;
	}
}

enum dovelog_kind dovelog_parse(struct logspan m, struct dovelog_rec *out)
{
	memset(out, 0, sizeof *out);
	out->service.p = out->user.p = out->rcpt.p = m.p;
	out->kind = DOVELOG_OTHER;
	/* "dovecot[pid]: dovecot: auth(default): ..." (Dovecot 1.x through syslog) */
	if (logspan_starts(m, "dovecot: "))
		m = logspan_sub(m, 9, m.len);
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
		if (a < 0) {
			/* "(tried to use disabled plaintext auth)": a password sent in
			 * the clear where none is allowed (fail2ban counts it) */
			a = logspan_find(m, i, "(tried to use dis");
			if (a < 0)
				return DOVELOG_OTHER;
			out->attempts = 1;
			(void)dovelog_field(m, (size_t)a, "user=", &out->user);
			dovelog_rip(m, (size_t)a, out);
			return out->kind = DOVELOG_AUTH_FAIL;
		}
		uint64_t n = 1;
		(void)logspan_u64(logspan_sub(m, (size_t)a + 14, m.len), &n, NULL);
		out->attempts = n == 0 ? 1 : n > 1000 ? 1000 : (uint32_t)n;
		(void)dovelog_field(m, (size_t)a, "user=", &out->user);
		dovelog_rip(m, (size_t)a, out);
		return out->kind = DOVELOG_AUTH_FAIL;
	}
	if (logspan_eq(out->service, "auth") || logspan_eq(out->service, "auth-worker") ||
	    logspan_eq(out->service, "dovecot-auth"))
		return dovelog_passdb(m, i, out);
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
