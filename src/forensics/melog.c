/*
 * melog - MailEnable SMTP activity log lines (see melog.h).
 */
#include "forensics/melog.h"

#include "forensics/srvfield.h"

#include <string.h>

int melog_parse(const char *p, size_t len, struct melog_line *out)
{
	memset(out, 0, sizeof *out);
	out->id.p = out->cmd.p = out->arg.p = out->reply.p = out->account.p = p;
	/* MM/DD/YY hh:mm:ss */
	if (len < 18 || p[2] != '/' || p[5] != '/' || p[8] != ' ' || p[11] != ':' || p[14] != ':' ||
	    p[17] != '\t')
		return -1;
	int mo = srvfield_digits(p, 2), d = srvfield_digits(p + 3, 2),
	    y = srvfield_digits(p + 6, 2), h = srvfield_digits(p + 9, 2),
	    mi = srvfield_digits(p + 12, 2), s = srvfield_digits(p + 15, 2);
	if (mo < 0 || d < 0 || y < 0 || h < 0 || mi < 0 || s < 0)
		return -1;
	int64_t t = srvfield_epoch(2000 + y, mo, d, h, mi, s, 0);
	if (t < 0)
		return -1;
	out->time_ms = t;
	struct logspan col[11];
	size_t n = 0, b = 18;
	for (size_t i = 18; i <= len && n < 11; i++) {
		if (i == len || p[i] == '\t') {
			col[n++] = (struct logspan){p + b, i - b};
			b = i + 1;
		}
	}
	if (n < 6)
		return -1;
	if (logspan_eq(col[0], "SMTP-IN"))
		out->inbound = true;
	else if (!logspan_eq(col[0], "SMTP-OU"))
		return -1;
	out->id = col[1];
	if (out->id.len > 4 && memcmp(out->id.p + out->id.len - 4, ".MAI", 4) == 0)
		out->id.len -= 4;
	out->has_ip = srvfield_ip(col[3], &out->ip) == 0;
	out->cmd = col[4];
	out->arg = col[5];
	if (n > 6)
		out->reply = col[6];
	if (n > 9)
		out->account = srvfield_trim(col[9]);
	return 0;
}

struct logspan melog_addr(struct logspan arg)
{
	const char *c = memchr(arg.p, ':', arg.len);
	if (!c)
		return (struct logspan){arg.p, 0};
	struct logspan a = srvfield_trim(logspan_sub(arg, (size_t)(c - arg.p) + 1, arg.len));
	if (a.len && a.p[0] == '<') {
		const char *e = memchr(a.p, '>', a.len);
		return e ? logspan_sub(a, 1, (size_t)(e - a.p)) : logspan_sub(a, 1, a.len);
	}
	size_t e = 0;
	while (e < a.len && a.p[e] != ' ')
		e++;
	return logspan_sub(a, 0, e);
}
