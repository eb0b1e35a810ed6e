/*
 * kerlog - Kerio Connect security.log and mail.log lines (see kerlog.h).
 * mail.log's fields are "Key: value" joined by ", " (a value may itself hold
 * ", <": To: lists); a field starts where a known key follows ", ".
 */
#include "forensics/kerlog.h"

#include "forensics/srvfield.h"

#include <string.h>

static int kerlog_month(const char *p)
{
	static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	for (int i = 0; i < 12; i++)
		if (memcmp(p, names + 3 * i, 3) == 0)
			return i + 1;
	return -1;
}

int kerlog_stamp(const char *p, size_t len, int64_t *ms, size_t *used)
{
	/* [dd/Mon/yyyy hh:mm:ss] */
	if (len < 23 || p[0] != '[' || p[3] != '/' || p[7] != '/' || p[12] != ' ' || p[15] != ':' ||
	    p[18] != ':' || p[21] != ']')
		return -1;
	int d = srvfield_digits(p + 1, 2), mo = kerlog_month(p + 4), y = srvfield_digits(p + 8, 4);
	int h = srvfield_digits(p + 13, 2), mi = srvfield_digits(p + 16, 2),
	    s = srvfield_digits(p + 19, 2);
	int64_t t = srvfield_epoch(y, mo, d, h, mi, s, 0);
	if (d < 0 || y < 0 || h < 0 || mi < 0 || s < 0 || t < 0)
		return -1;
	*ms = t;
	*used = p[22] == ' ' ? 23 : 22;
	return 0;
}

static const char *const kerlog_keys[] = {
    "Queue-ID: ", "Service: ",     "From: ",   "To: ",        "Size: ",
    "User: ",     "Sender-Host: ", "SSL: ",    "Recipient: ", "Result: ",
    "Status: ",   "Remote-Host: ", "Report: ", "Msg-Id: ",    "Subject: ",
};
#define KERLOG_NKEYS (sizeof kerlog_keys / sizeof kerlog_keys[0])

/* Index of the key s starts with, or -1. */
static int kerlog_key(struct logspan s)
{
	for (size_t k = 0; k < KERLOG_NKEYS; k++) {
		size_t n = strlen(kerlog_keys[k]);
		if (s.len >= n && memcmp(s.p, kerlog_keys[k], n) == 0)
			return (int)k;
	}
	return -1;
}

/* The "Key: value" fields of m, each value into vals[key index]. */
static void kerlog_fields(struct logspan m, struct logspan vals[KERLOG_NKEYS])
{
	for (size_t k = 0; k < KERLOG_NKEYS; k++)
		vals[k] = (struct logspan){m.p, 0};
	int cur = -1;
	size_t vstart = 0;
	for (size_t i = 0; i <= m.len; i++) {
		if (i == m.len) {
			if (cur >= 0)
				vals[cur] = srvfield_trim(logspan_sub(m, vstart, m.len));
			break;
		}
		/* a field starts at the line's start or after "," (and spaces) */
		if (i != 0 && m.p[i - 1] != ',')
			continue;
		size_t j = i;
		while (j < m.len && m.p[j] == ' ')
			j++;
		int k = kerlog_key(logspan_sub(m, j, m.len));
		if (k < 0)
			continue;
		if (cur >= 0)
			vals[cur] = srvfield_trim(logspan_sub(m, vstart, i ? i - 1 : 0));
		cur = k;
		vstart = j + strlen(kerlog_keys[k]);
		i = vstart - 1;
	}
}

/* "Failed SMTP login from X..." */
static void kerlog_failed_login(struct logspan m, struct srvlog_rec *out)
{
	long f = logspan_find(m, 0, " login from ");
	if (f < 0)
		return;
	size_t b = (size_t)f + 12, e = b;
	while (e < m.len && m.p[e] != ' ' && m.p[e] != ',')
		e++;
	struct logspan who = logspan_sub(m, b, e);
	if (who.len && who.p[who.len - 1] == '.')
		who.len--;
	out->kind = SRVLOG_AUTH_FAIL;
	out->has_ip = srvfield_ip(who, &out->ip) == 0;
}

/* "SMTP: User U doesn't exist. Attempt from IP address X." */
static void kerlog_no_user(struct logspan m, struct srvlog_rec *out)
{
	long u = logspan_find(m, 0, ": User ");
	long d = logspan_find(m, 0, " doesn't exist. Attempt from IP address ");
	if (u < 0 || d < 0 || d < u)
		return;
	out->user = logspan_sub(m, (size_t)u + 7, (size_t)d);
	struct logspan ip = logspan_sub(m, (size_t)d + 40, m.len);
	if (ip.len && ip.p[ip.len - 1] == '.')
		ip.len--;
	out->kind = SRVLOG_AUTH_FAIL;
	out->has_ip = srvfield_ip(ip, &out->ip) == 0;
}

/* The address after lit in m (up to ",", " " or the end; a final "." dropped). */
static bool kerlog_ip_after(struct logspan m, const char *lit, struct addr *ip)
{
	long f = logspan_find(m, 0, lit);
	if (f < 0)
		return false;
	size_t b = (size_t)f + strlen(lit), e = b;
	while (e < m.len && m.p[e] != ',' && m.p[e] != ' ')
		e++;
	struct logspan s = logspan_sub(m, b, e);
	if (s.len && s.p[s.len - 1] == '.')
		s.len--;
	return srvfield_ip(s, ip) == 0;
}

/* The <address> after lit in m; empty when none. */
static struct logspan kerlog_angle_after(struct logspan m, const char *lit)
{
	long f = logspan_find(m, 0, lit);
	if (f < 0)
		return (struct logspan){m.p, 0};
	size_t b = (size_t)f + strlen(lit), e = b;
	while (e < m.len && m.p[e] != '>')
		e++;
	return logspan_sub(m, b, e);
}

/* "Relay attempt from IP address X, mail from <S> to <R> rejected" and
 * "Attempt to deliver to unknown recipient <R>, from <S>, IP address X" */
static void kerlog_reject(struct logspan m, struct srvlog_rec *out)
{
	if (logspan_starts(m, "Relay attempt from IP address ")) {
		out->has_ip = kerlog_ip_after(m, "Relay attempt from IP address ", &out->ip);
		out->sender = kerlog_angle_after(m, ", mail from <");
		out->rcpt = kerlog_angle_after(m, "> to <");
	} else {
		out->has_ip = kerlog_ip_after(m, ", IP address ", &out->ip);
		out->rcpt = kerlog_angle_after(m, "unknown recipient <");
		out->sender = kerlog_angle_after(m, ", from <");
	}
	out->nrcpt = out->rcpt.len ? 1 : 0;
	if (out->has_ip)
		out->kind = SRVLOG_REJECT;
}

int kerlog_parse(const char *p, size_t len, struct srvlog_rec *out)
{
	memset(out, 0, sizeof *out);
	out->id.p = out->user.p = out->sender.p = out->rcpt.p = p;
	size_t used;
	if (kerlog_stamp(p, len, &out->time_ms, &used) != 0)
		return -1;
	struct logspan m = {p + used, len - used};
	if (logspan_starts(m, "Recv: ") || logspan_starts(m, "Sent: ")) {
		bool recv = m.p[0] == 'R';
		struct logspan v[KERLOG_NKEYS];
		kerlog_fields(logspan_sub(m, 6, m.len), v);
		if (v[0].len == 0)
			return 0; /* no Queue-ID */
		out->id = v[0];
		if (recv) {
			struct logspan svc = v[1];
			out->kind = SRVLOG_RECEIVED;
			out->sender = srvfield_unangle(v[2]);
			out->rcpt = v[3];
			out->rcpt_sep = ',';
			for (size_t i = 0; i < v[3].len; i++)
				out->nrcpt += v[3].p[i] == '@';
			out->size = srvfield_u64(v[4]);
			out->user = v[5];
			out->has_ip = srvfield_ip(v[6], &out->ip) == 0;
			/* SMTP and HTTP (webmail) are submissions; DSN, List and the
			 * rest the server made itself */
			out->generated = !(logspan_eq(svc, "SMTP") || logspan_eq(svc, "HTTP"));
			out->autoreply = out->sender.len == 0 && out->user.len > 0;
		} else {
			out->kind = SRVLOG_SENT;
			out->rcpt = srvfield_unangle(v[8]);
			out->nrcpt = 1;
			struct logspan result = v[9], status = v[10];
			out->has_ip = srvfield_ip(v[11], &out->ip) == 0;
			out->remote = logspan_eq(result, "relayed") || out->has_ip;
			out->failed = (status.len && (status.p[0] == '4' || status.p[0] == '5')) ||
			              logspan_eq(result, "failed") ||
			              logspan_eq(result, "deferred");
		}
		return 0;
	}
	if (logspan_starts(m, "Failed ") && logspan_find(m, 0, " login from ") > 0)
		kerlog_failed_login(m, out);
	else if (logspan_find(m, 0, " doesn't exist. Attempt from IP address ") > 0)
		kerlog_no_user(m, out);
	else if (logspan_starts(m, "Administration login into ") &&
	         logspan_find(m, 0, " failed") > 0) {
		out->has_ip = kerlog_ip_after(m, " from ", &out->ip);
		out->kind = SRVLOG_AUTH_FAIL;
	} else if (logspan_starts(m, "Relay attempt from IP address ") ||
	           logspan_starts(m, "Attempt to deliver to unknown recipient "))
		kerlog_reject(m, out);
	return 0;
}
