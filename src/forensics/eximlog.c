/*
 * eximlog - Exim main log lines (see eximlog.h). Lines are walked as
 * space-separated tokens; a value in double quotes (T="a subject") is one
 * token even with spaces in it, and H= takes the name, "(helo)" and "[ip]"
 * tokens that follow it.
 */
#include "forensics/eximlog.h"

#include <string.h>

static bool eximlog_idchar(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

bool eximlog_is_id(struct logspan s)
{
	if (s.len != 16 && s.len != 23)
		return false;
	size_t d2 = s.len == 16 ? 13 : 18;
	for (size_t i = 0; i < s.len; i++) {
		bool dash = i == 6 || i == d2;
		if (dash ? s.p[i] != '-' : !eximlog_idchar(s.p[i]))
			return false;
	}
	return true;
}

/* The next token at or after *i: quoted values stay whole. Empty at the end. */
static struct logspan eximlog_token(struct logspan m, size_t *i)
{
	size_t b = *i;
	while (b < m.len && m.p[b] == ' ')
		b++;
	size_t e = b;
	bool quoted = false;
	while (e < m.len) {
		char c = m.p[e];
		if (c == '"' && (e == b || m.p[e - 1] != '\\'))
			quoted = !quoted;
		else if (c == ' ' && !quoted)
			break;
		e++;
	}
	*i = e;
	return logspan_sub(m, b, e);
}

static bool eximlog_key(struct logspan t, const char *key, struct logspan *val)
{
	size_t n = strlen(key);
	if (t.len < n || memcmp(t.p, key, n) != 0)
		return false;
	*val = logspan_sub(t, n, t.len);
	return true;
}

/* "[ip]" or "[ip]:port" (a ':' after it ends the fields: "[ip]: reason") */
static bool eximlog_ip(struct logspan t, struct addr *out)
{
	if (t.len && t.p[t.len - 1] == ':')
		t.len--;
	if (t.len < 3 || t.p[0] != '[')
		return false;
	return logspan_bracket_addr(t, NULL, out) == 0;
}

/* H=: first is the value of "H=" itself; the following "(helo)" and "[ip]" tokens
 * are taken too. Moves *i past what it used. */
static void eximlog_host(struct logspan m, size_t *i, struct logspan first, struct eximlog_rec *out)
{
	if (eximlog_ip(first, &out->ip)) {
		out->has_ip = true;
		return;
	}
	if (first.len && first.p[0] != '(')
		out->host = first;
	bool in_paren = first.len && first.p[0] == '(' && first.p[first.len - 1] != ')';
	for (int n = 0; n < 6; n++) {
		size_t save = *i;
		struct logspan t = eximlog_token(m, i);
		if (t.len == 0) {
			*i = save;
			return;
		}
		if (in_paren) {
			if (t.p[t.len - 1] == ')')
				in_paren = false;
			continue;
		}
		if (t.p[0] == '(') {
			in_paren = t.p[t.len - 1] != ')';
			continue;
		}
		if (eximlog_ip(t, &out->ip)) {
			out->has_ip = true;
			return;
		}
		*i = save;
		return;
	}
}

static void eximlog_fields(struct logspan m, size_t i, struct eximlog_rec *out, bool arrival)
{
	struct logspan t, v;
	while (i < m.len) {
		t = eximlog_token(m, &i);
		if (t.len == 0)
			break;
		if (eximlog_key(t, "H=", &v)) {
			eximlog_host(m, &i, v, out);
		} else if (eximlog_key(t, "P=", &v)) {
			out->proto = v;
		} else if (eximlog_key(t, "A=", &v)) {
			out->auth = v;
			const char *c = memchr(v.p, ':', v.len);
			if (c)
				out->user = logspan_sub(v, (size_t)(c - v.p) + 1, v.len);
		} else if (eximlog_key(t, "U=", &v)) {
			out->local_user = v;
		} else if (eximlog_key(t, "R=", &v)) {
			if (arrival)
				out->orig_id = v;
			else
				out->router = v;
		} else if (eximlog_key(t, "T=", &v)) {
			if (!arrival)
				out->transport = v.len && v.p[v.len - 1] == ':'
				                     ? logspan_sub(v, 0, v.len - 1)
				                     : v;
		} else if (eximlog_key(t, "S=", &v)) {
			(void)logspan_u64(v, &out->size, NULL);
		} else if (arrival && logspan_eq(t, "for")) {
			while (i < m.len) {
				struct logspan r = eximlog_token(m, &i);
				if (r.len == 0)
					break;
				if (out->nrcpt == 0)
					out->rcpt = r;
				if (out->nrcpt < UINT32_MAX)
					out->nrcpt++;
			}
		}
	}
}

static enum eximlog_kind eximlog_auth_fail(struct logspan m, long at, struct eximlog_rec *out)
{
	size_t i = (size_t)at + 26; /* " authenticator failed for " */
	out->auth = logspan_sub(m, 0, (size_t)at);
	bool in_paren = false;
	for (int n = 0; n < 8 && i < m.len; n++) {
		struct logspan t = eximlog_token(m, &i);
		if (t.len == 0)
			break;
		if (in_paren || t.p[0] == '(') {
			in_paren = t.p[t.len - 1] != ')' && t.p[t.len - 1] != ':';
			continue;
		}
		struct logspan tt = t;
		if (tt.len && tt.p[tt.len - 1] == ':')
			tt.len--;
		if (eximlog_ip(tt, &out->ip)) {
			out->has_ip = true;
			break;
		}
		if (n == 0)
			out->host = tt;
	}
	long s = logspan_find(m, (size_t)at, "(set_id=");
	if (s >= 0) {
		size_t b = (size_t)s + 8, e = b;
		while (e < m.len && m.p[e] != ')')
			e++;
		out->user = logspan_sub(m, b, e);
	}
	long c = logspan_find(m, (size_t)at, ": 5");
	if (c < 0)
		c = logspan_find(m, (size_t)at, ": 4");
	if (c >= 0)
		out->text = logspan_sub(m, (size_t)c + 2, m.len);
	return out->kind = EXIMLOG_AUTH_FAIL;
}

static enum eximlog_kind eximlog_reject(struct logspan m, long at, struct eximlog_rec *out)
{
	size_t i = 0;
	while (i < (size_t)at) {
		struct logspan t = eximlog_token(m, &i), v;
		if (t.len == 0)
			break;
		if (eximlog_key(t, "H=", &v))
			eximlog_host(m, &i, v, out);
		else if (eximlog_key(t, "F=<", &v) && v.len && v.p[v.len - 1] == '>')
			out->sender = logspan_sub(v, 0, v.len - 1);
	}
	size_t b = (size_t)at + 15, e; /* " rejected RCPT " */
	if (b < m.len && m.p[b] == '<')
		b++;
	e = b;
	while (e < m.len && m.p[e] != '>' && m.p[e] != ':' && m.p[e] != ' ')
		e++;
	out->rcpt = logspan_sub(m, b, e);
	long c = logspan_find(m, e, ": ");
	if (c >= 0)
		out->text = logspan_sub(m, (size_t)c + 2, m.len);
	return out->kind = EXIMLOG_REJECT;
}

enum eximlog_kind eximlog_parse(struct logspan m, struct eximlog_rec *out)
{
	memset(out, 0, sizeof *out);
	out->id.p = out->sender.p = out->rcpt.p = out->host.p = m.p;
	out->proto.p = out->auth.p = out->user.p = out->local_user.p = m.p;
	out->router.p = out->transport.p = out->orig_id.p = out->text.p = m.p;
	out->kind = EXIMLOG_OTHER;
	size_t i = 0;
	struct logspan id = eximlog_token(m, &i);
	if (!eximlog_is_id(id)) {
		long a = logspan_find(m, 0, " authenticator failed for ");
		if (a > 0)
			return eximlog_auth_fail(m, a, out);
		long r = logspan_find(m, 0, " rejected RCPT ");
		if (r > 0 && logspan_starts(m, "H="))
			return eximlog_reject(m, r, out);
		return EXIMLOG_OTHER;
	}
	out->id = id;
	struct logspan flag = eximlog_token(m, &i);
	if (logspan_eq(flag, "Completed"))
		return out->kind = EXIMLOG_COMPLETED;
	if (flag.len != 2)
		return EXIMLOG_OTHER;
	if (logspan_eq(flag, "<=")) {
		struct logspan s = eximlog_token(m, &i);
		if (s.len == 0)
			return EXIMLOG_OTHER;
		if (!logspan_eq(s, "<>"))
			out->sender = s;
		eximlog_fields(m, i, out, true);
		return out->kind = EXIMLOG_ARRIVAL;
	}
	enum eximlog_kind k;
	if (logspan_eq(flag, "=>") || logspan_eq(flag, "->") || logspan_eq(flag, ">>") ||
	    logspan_eq(flag, "*>"))
		k = EXIMLOG_DELIVERY;
	else if (logspan_eq(flag, "**"))
		k = EXIMLOG_BOUNCED;
	else if (logspan_eq(flag, "=="))
		k = EXIMLOG_DEFERRED;
	else
		return EXIMLOG_OTHER;
	struct logspan r = eximlog_token(m, &i);
	if (r.len == 0)
		return EXIMLOG_OTHER;
	if (r.p[r.len - 1] == ':') /* "** addr: reason" with no router */
		r.len--;
	out->rcpt = r;
	eximlog_fields(m, i, out, false);
	long c = logspan_find(m, i > m.len ? m.len : (size_t)(r.p + r.len - m.p), ": ");
	if (c >= 0 && k != EXIMLOG_DELIVERY)
		out->text = logspan_sub(m, (size_t)c + 2, m.len);
	return out->kind = k;
}
