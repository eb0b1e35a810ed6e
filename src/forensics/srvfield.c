/*
 * srvfield - span helpers of the Windows servers' log parsers (see srvfield.h).
 */
#include "forensics/srvfield.h"

#include "core/clock.h"

#include <string.h>

struct logspan srvfield_trim(struct logspan s)
{
	while (s.len && (s.p[0] == ' ' || s.p[0] == '\t')) {
		s.p++;
		s.len--;
	}
	while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
		s.len--;
	return s;
}

struct logspan srvfield_unangle(struct logspan s)
{
	s = srvfield_trim(s);
	if (s.len >= 2 && s.p[0] == '<' && s.p[s.len - 1] == '>') {
		s.p++;
		s.len -= 2;
	}
	return s;
}

int srvfield_ip(struct logspan s, struct addr *out)
{
	s = srvfield_trim(s);
	if (s.len && s.p[0] == '[') {
		const char *e = memchr(s.p, ']', s.len);
		if (!e)
			return -1;
		s = logspan_sub(s, 1, (size_t)(e - s.p));
	} else {
		/* "a.b.c.d:port": one colon only (an IPv6 address has more) */
		const char *c = memchr(s.p, ':', s.len);
		if (c && !memchr(c + 1, ':', s.len - (size_t)(c + 1 - s.p)))
			s.len = (size_t)(c - s.p);
	}
	/* "fe80::1%3": the zone is not part of the address */
	const char *pct = memchr(s.p, '%', s.len);
	if (pct)
		s.len = (size_t)(pct - s.p);
	if (s.len == 0 || s.len > 45)
		return -1;
	return addr_parse(s.p, s.len, out);
}

uint64_t srvfield_u64(struct logspan s)
{
	uint64_t v = 0;
	s = srvfield_trim(s);
	if (logspan_u64(s, &v, NULL) != 0)
		return 0;
	return v;
}

int64_t srvfield_epoch(int y, int mo, int d, int h, int mi, int sec, int ms)
{
	if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 ||
	    mi < 0 || mi > 59 || sec < 0 || sec > 60 || ms < 0 || ms > 999)
		return -1;
	int64_t days = clock_days_from_civil(y, (unsigned)mo, (unsigned)d);
	return ((days * 24 + h) * 60 + mi) * 60000LL + sec * 1000LL + ms;
}

int srvfield_digits(const char *p, size_t n)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

bool srvfield_istarts(struct logspan s, const char *lit)
{
	size_t n = strlen(lit);
	if (s.len < n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char a = s.p[i], b = lit[i];
		if (a >= 'A' && a <= 'Z')
			a = (char)(a - 'A' + 'a');
		if (b >= 'A' && b <= 'Z')
			b = (char)(b - 'A' + 'a');
		if (a != b)
			return false;
	}
	return true;
}
