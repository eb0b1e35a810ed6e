/*
 * logline - time stamp, host and tag of a mail-log line (see logline.h).
 * One left-to-right walk; the common case (a classic or RFC 3339 stamp, a
 * host, "prog[pid]: ") costs a few dozen byte compares, a 32-byte SSE2 step
 * per token and no library call.
 */
#include "forensics/logline.h"

#include "core/clock.h"

#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

static bool logline_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* n digits at p (caller checked the length); -1 when one is not a digit. */
static int logline_num(const char *p, size_t n, unsigned *out)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!logline_digit(p[i]))
			return -1;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	*out = v;
	return 0;
}

static unsigned logline_month(const char *p)
{
	/* Switch on the first letter, then compare the other two. */
	char b = p[1], c = p[2];
	switch (p[0]) {
	case 'J':
		return b == 'a' && c == 'n' ? 1 : b != 'u' ? 0 : c == 'n' ? 6 : c == 'l' ? 7 : 0;
	case 'F':
		return b == 'e' && c == 'b' ? 2 : 0;
	case 'M':
		return b != 'a' ? 0 : c == 'r' ? 3 : c == 'y' ? 5 : 0;
	case 'A':
		return b == 'p' && c == 'r' ? 4 : b == 'u' && c == 'g' ? 8 : 0;
	case 'S':
		return b == 'e' && c == 'p' ? 9 : 0;
	case 'O':
		return b == 'c' && c == 't' ? 10 : 0;
	case 'N':
		return b == 'o' && c == 'v' ? 11 : 0;
	case 'D':
		return b == 'e' && c == 'c' ? 12 : 0;
	default:
		return 0;
	}
}

/* "hh:mm:ss" at p[0..8) plus an optional ".fraction"; ms of day into *tod. Returns bytes used or 0.
 */
static size_t logline_clock(const char *p, size_t len, int64_t *tod)
{
	unsigned h, m, s;
	if (len < 8 || p[2] != ':' || p[5] != ':' || logline_num(p, 2, &h) ||
	    logline_num(p + 3, 2, &m) || logline_num(p + 6, 2, &s) || h > 23 || m > 59 || s > 60)
		return 0;
	size_t i = 8;
	unsigned ms = 0, nd = 0;
	if (i < len && (p[i] == '.' || p[i] == ',')) {
		i++;
		while (i < len && logline_digit(p[i])) {
			if (nd < 3) {
				ms = ms * 10 + (unsigned)(p[i] - '0');
				nd++;
			}
			i++;
		}
		if (nd == 0)
			return 0;
		for (; nd < 3; nd++)
			ms *= 10;
	}
	*tod = ((int64_t)h * 3600 + m * 60 + s) * 1000 + ms;
	return i;
}

/* "YYYY-MM-DD" + sep + clock; the date's day number into *days. Returns bytes used or 0. */
static size_t logline_date(const char *p, size_t len, int64_t *days, int64_t *tod)
{
	unsigned y, mo, d;
	if (len < 19 || p[4] != '-' || p[7] != '-' || logline_num(p, 4, &y) ||
	    logline_num(p + 5, 2, &mo) || logline_num(p + 8, 2, &d) || mo < 1 || mo > 12 || d < 1 ||
	    d > 31)
		return 0;
	size_t used = logline_clock(p + 11, len - 11, tod);
	if (used == 0)
		return 0;
	*days = clock_days_from_civil(y, mo, d);
	return 11 + used;
}

/* "Z", "+hh:mm", "+hhmm" or "+hh"; offset in ms into *off. Returns bytes used or 0. */
static size_t logline_zone(const char *p, size_t len, int64_t *off)
{
	unsigned h, m = 0;
	size_t i;
	if (len >= 1 && (p[0] == 'Z' || p[0] == 'z')) {
		*off = 0;
		return 1;
	}
	if (len < 3 || (p[0] != '+' && p[0] != '-') || logline_num(p + 1, 2, &h))
		return 0;
	i = 3;
	if (len >= 6 && p[3] == ':' && logline_num(p + 4, 2, &m) == 0)
		i = 6;
	else if (len >= 5 && logline_num(p + 3, 2, &m) == 0)
		i = 5;
	if (h > 23 || m > 59)
		return 0;
	*off = ((int64_t)h * 60 + m) * 60000 * (p[0] == '-' ? -1 : 1);
	return i;
}

/* Bytes logline_tag stops at: the token's end and what it looks for inside. */
static const unsigned char logline_tok_stop[256] = {[' '] = 1, [':'] = 1, ['('] = 1};

#ifdef __SSE2__
/* Bit k set when byte k of the 32 bytes in a, b is c. */
static uint32_t logline_mask32(__m128i a, __m128i b, char c)
{
	__m128i r = _mm_set1_epi8(c);
	return (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(a, r)) |
	       ((uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(b, r)) << 16);
}
#endif

/*
 * The digits before the ']' at q, read eight bytes at once: when p[q-8..q) lies
 * after i and holds at most seven of them (a pid), *d becomes where they start
 * and *pid their value, as the byte loop in logline_tag would give, and the
 * result is true. False leaves both to that loop.
 */
static bool logline_pid8(const char *p, size_t i, size_t q, size_t *d, long *pid)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (q < i + 8)
		return false;
	uint64_t w;
	memcpy(&w, p + q - 8, 8); /* byte 7 is p[q - 1] */
	/* a byte is a digit when its high nibble is 3 and its low one at most 9 */
	uint64_t x =
	    ((w & 0xf0f0f0f0f0f0f0f0ULL) ^ 0x3030303030303030ULL) |
	    (((w & 0x0f0f0f0f0f0f0f0fULL) + 0x0606060606060606ULL) & 0x1010101010101010ULL);
	uint64_t nondigit =
	    (((x & 0x7f7f7f7f7f7f7f7fULL) + 0x7f7f7f7f7f7f7f7fULL) | x) & 0x8080808080808080ULL;
	if (nondigit == 0)
		return false;                                  /* eight digits or more: the loop */
	unsigned nd = (unsigned)__builtin_clzll(nondigit) / 8; /* digits right before q */
	*d = q - nd;
	*pid = 0;
	if (nd == 0)
		return true;
	/* the digits as eight characters with leading '0's, then pairs, quads, all */
	unsigned drop = 8 * (8 - nd);
	uint64_t v = (w >> drop << drop) | (0x3030303030303030ULL >> (64 - drop));
	v -= 0x3030303030303030ULL;
	v = (v * 10 + (v >> 8)) & 0x00ff00ff00ff00ffULL;
	v = (v * 100 + (v >> 16)) & 0x0000ffff0000ffffULL;
	v = (v * 10000 + (v >> 32)) & 0xffffffffULL;
	*pid = (long)v;
	return true;
#else
	(void)p;
	(void)i;
	(void)q;
	(void)d;
	(void)pid;
	return false;
#endif
}

/* Tag "prog[pid]:" or "prog:" (also "kernel:[uptime]") at p[i..]; fills the tag and
 * pid and returns where the message starts, or i when there is no tag there. The
 * end of the token (the next space, or len) goes into *tok_end either way. */
static size_t logline_tag(const char *p, size_t len, size_t i, struct logline *out, size_t *tok_end)
{
	/* One walk over the token p[i..e): its end, its first ':' and its first '('. */
	size_t e = i, colon = len, paren = len;
#ifdef __SSE2__
	/* 32 bytes a step: one pair of 16-byte compares per byte looked for gives all
	 * three positions without a branch per byte (a host or "postfix/smtpd[pid]:"
	 * ends in the first step). The last bytes of a line take the walk below. */
	while (len - e >= 32) {
		const __m128i *v = (const __m128i *)(const void *)(p + e);
		__m128i a = _mm_loadu_si128(v), b = _mm_loadu_si128(v + 1);
		uint32_t sp = logline_mask32(a, b, ' ');
		uint32_t below = sp ? (1u << __builtin_ctz(sp)) - 1 : UINT32_MAX;
		uint32_t co = logline_mask32(a, b, ':') & below;
		uint32_t pa = logline_mask32(a, b, '(') & below;
		if (co && colon == len)
			colon = e + (unsigned)__builtin_ctz(co);
		if (pa && paren == len)
			paren = e + (unsigned)__builtin_ctz(pa);
		if (sp) {
			e += (unsigned)__builtin_ctz(sp);
			goto scanned;
		}
		e += 32;
	}
#endif
	for (;;) {
		while (e < len && !logline_tok_stop[(unsigned char)p[e]])
			e++;
		if (e >= len || p[e] == ' ')
			break;
		if (p[e] == ':') {
			if (colon == len)
				colon = e;
		} else if (paren == len) {
			paren = e;
		}
		e++;
	}
#ifdef __SSE2__
scanned:
#endif
	*tok_end = e;
	size_t k = i;
	if (e > i && p[e - 1] == ':') {
		k = e - 1; /* "prog:" or "prog[pid]:" */
	} else {
		/* "kernel:[123.4]": a colon inside the token */
		if (colon == len)
			return i;
		k = colon;
	}
	size_t name_end = k;
	if (k > i && p[k - 1] == ']') {
		size_t d = k - 1;
		long pid = 0, mul = 1;
		if (!logline_pid8(p, i, k - 1, &d, &pid)) {
			while (d > i && logline_digit(p[d - 1]) && k - d < 12) {
				pid += (p[d - 1] - '0') * mul;
				mul *= 10;
				d--;
			}
		}
		if (d > i && d < k - 1 && p[d - 1] == '[') {
			out->pid = pid;
			name_end = d - 1;
		} else {
			/* relayguard's stderr form "relayguard[info]:": a word, no pid */
			const char *o = memchr(p + i, '[', k - 1 - i);
			if (!o || o == p + i)
				return i;
			name_end = (size_t)(o - p);
		}
	}
	/* "lda(user)<..>:" is Dovecot's own file, not a tag */
	if (name_end == i || p[i] == '[' || paren < name_end)
		return i;
	out->tag.p = p + i;
	out->tag.len = name_end - i;
	k++;
	if (k < len && p[k] == ' ')
		k++;
	return k;
}

/* logline_parse; *host_end is where the tag is read from (0: the line has no
 * host, or is bare), and *pid0 the pid before the tag is read. */
static int logline_parse_at(const char *p, size_t len, struct logline *out, size_t *host_end,
                            long *pid0)
{
	size_t i = 0, used;
	int64_t days, tod, off;
	out->pid = -1;
	out->bare = false;
	out->host.p = out->tag.p = p;
	out->host.len = out->tag.len = 0;
	if (len > 0 && p[0] == '<') { /* syslog priority */
		size_t k = 1;
		while (k < len && k < 5 && logline_digit(p[k]))
			k++;
		if (k < len && p[k] == '>' && k > 1)
			i = k + 1;
	}
	const char *s = p + i;
	size_t n = len - i;
	if (n >= 15 && s[3] == ' ' && (out->mon = logline_month(s)) != 0) {
		size_t j = 4;
		unsigned d;
		if (s[j] == ' ')
			j++;
		if (logline_digit(s[j]) && logline_digit(s[j + 1]) && s[j + 2] == ' ') {
			d = (unsigned)(s[j] - '0') * 10 + (unsigned)(s[j + 1] - '0');
			j += 3;
		} else if (logline_digit(s[j]) && s[j + 1] == ' ') {
			d = (unsigned)(s[j] - '0');
			j += 2;
		} else {
			return -1;
		}
		if (d < 1 || d > 31 || (used = logline_clock(s + j, n - j, &out->tod_ms)) == 0)
			return -1;
		out->day = d;
		out->time_kind = LOGLINE_TIME_SYSLOG;
		i += j + used;
	} else if (n >= 19 && s[4] == '-' && (s[10] == 'T' || s[10] == 't' || s[10] == ' ') &&
	           (used = logline_date(s, n, &days, &tod)) != 0) {
		size_t z = used;
		off = 0;
		if (s[10] != ' ') {
			size_t zl = logline_zone(s + z, n - z, &off);
			if (zl == 0)
				return -1;
			z += zl;
		} else {
			out->bare = true;
			/* Exim's log_timezone: " +0100" */
			size_t zl;
			if (z + 1 < n && s[z] == ' ' && (s[z + 1] == '+' || s[z + 1] == '-') &&
			    (zl = logline_zone(s + z + 1, n - z - 1, &off)) >= 5)
				z += 1 + zl;
		}
		out->epoch_ms = (days * 86400000 + tod) - off;
		out->time_kind = LOGLINE_TIME_FULL;
		i += z;
	} else {
		return -1;
	}
	if (i < len && p[i] != ' ')
		return -1;
	while (i < len && p[i] == ' ')
		i++;
	if (out->bare) {
		/* Exim "[pid] " after the stamp */
		if (i < len && p[i] == '[') {
			size_t k = i + 1;
			long pid = 0;
			while (k < len && logline_digit(p[k]) && k - i < 12)
				pid = pid * 10 + (p[k++] - '0');
			if (k > i + 1 && k + 1 < len && p[k] == ']' && p[k + 1] == ' ') {
				out->pid = pid;
				i = k + 2;
			}
		}
		out->msg.p = p + i;
		out->msg.len = len - i;
		return 0;
	}
	/* host, then tag; a first token that is itself a tag means no host */
	size_t he;
	size_t m = logline_tag(p, len, i, out, &he);
	if (m == i) {
		out->host.p = p + i;
		out->host.len = he - i;
		i = he;
		while (i < len && p[i] == ' ')
			i++;
		*host_end = i;
		*pid0 = out->pid;
		m = logline_tag(p, len, i, out, &he);
	}
	out->msg.p = p + m;
	out->msg.len = len - m;
	return 0;
}

int logline_parse(const char *p, size_t len, struct logline *out)
{
	size_t he = 0;
	long pid0;
	return logline_parse_at(p, len, out, &he, &pid0);
}

void logline_memo_init(struct logline_memo *m)
{
	m->len = 0;
}

/* Whether p starts with the n bytes of head (n <= LOGLINE_MEMO_MAX <= len). */
static bool logline_head_eq(const char *p, size_t len, const char *head, size_t n)
{
#ifdef __SSE2__
	if (n <= 32 && len >= 32) {
		const __m128i *a = (const __m128i *)(const void *)p;
		const __m128i *b = (const __m128i *)(const void *)head;
		uint32_t eq = (uint32_t)_mm_movemask_epi8(
		                  _mm_cmpeq_epi8(_mm_loadu_si128(a), _mm_loadu_si128(b))) |
		              ((uint32_t)_mm_movemask_epi8(
		                   _mm_cmpeq_epi8(_mm_loadu_si128(a + 1), _mm_loadu_si128(b + 1)))
		               << 16);
		uint32_t want = n == 32 ? UINT32_MAX : (1u << n) - 1;
		return (eq & want) == want;
	}
#endif
	(void)len;
	return memcmp(p, head, n) == 0;
}

int logline_parse_memo(const char *p, size_t len, struct logline *out, struct logline_memo *m)
{
	/* The head decides the stamp, the host and that the host is no tag: every
	 * byte those reads look at lies inside it. What follows is read as
	 * logline_parse reads it. */
	if (m->len && len >= m->len && logline_head_eq(p, len, m->head, m->len)) {
		*out = m->l;
		out->host.p = p + m->host_off;
		out->tag.p = out->msg.p = p;
		size_t i = m->len, he;
		while (i < len && p[i] == ' ') /* this line may have more spaces */
			i++;
		size_t k = logline_tag(p, len, i, out, &he);
		out->msg.p = p + k;
		out->msg.len = len - k;
		return 0;
	}
	size_t he = 0;
	long pid0 = -1;
	int r = logline_parse_at(p, len, out, &he, &pid0);
	/* only a head with a host and a space after it: else the next line's host
	 * may go on */
	if (r != 0 || he == 0 || he > LOGLINE_MEMO_MAX || out->host.len == 0 || p[he - 1] != ' ') {
		m->len = 0;
		return r;
	}
	/* what the parse had before it read the tag: the tag and pid are set only
	 * when one is found, so a line without a tag has the defaults */
	m->l = *out;
	m->host_off = (size_t)(out->host.p - p);
	m->l.tag.len = 0;
	m->l.pid = pid0;
	m->l.msg.len = 0;
	memcpy(m->head, p, he);
	m->len = he;
	return 0;
}

struct logspan logline_daemon(const struct logline *l)
{
	struct logspan d = l->tag;
	const char *slash = d.len ? memrchr(d.p, '/', d.len) : NULL;
	if (slash) {
		d.len -= (size_t)(slash + 1 - d.p);
		d.p = slash + 1;
	}
	return d;
}

/* ---- year inference ---- */

void logyear_init(struct logyear *y, int year, unsigned ref_mon)
{
	y->year = year;
	y->ref_mon = ref_mon;
	y->last_mon = 0;
	y->c_year = 0;
	y->c_mon = y->c_day = 0;
	y->c_days = 0;
}

void logyear_init_from_ms(struct logyear *y, int64_t ref_ms)
{
	/* civil_from_days (Howard Hinnant), for the year and month of ref_ms */
	int64_t z = (ref_ms >= 0 ? ref_ms / 86400000 : (ref_ms - 86399999) / 86400000) + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	int64_t yr = (int64_t)yoe + era * 400 + (m <= 2);
	logyear_init(y, (int)yr, m);
}

int64_t logyear_resolve(struct logyear *y, const struct logline *l)
{
	if (l->time_kind == LOGLINE_TIME_FULL)
		return l->epoch_ms;
	if (y->last_mon == 0) {
		if (y->ref_mon && l->mon > y->ref_mon)
			y->year--;
	} else if (l->mon + 6 < y->last_mon) {
		y->year++;
	}
	y->last_mon = l->mon;
	/* a log is mostly one day after another: keep the last day's number */
	if (y->c_mon == 0 || l->mon != y->c_mon || l->day != y->c_day || y->year != y->c_year) {
		y->c_days = clock_days_from_civil(y->year, l->mon, l->day);
		y->c_year = y->year;
		y->c_mon = l->mon;
		y->c_day = l->day;
	}
	return y->c_days * 86400000 + l->tod_ms;
}

/* ---- span helpers ---- */

struct logspan logspan_sub(struct logspan s, size_t from, size_t to)
{
	if (to > s.len)
		to = s.len;
	if (from > to)
		from = to;
	struct logspan r = {s.p + from, to - from};
	return r;
}

int logspan_u64(struct logspan s, uint64_t *out, size_t *used)
{
	uint64_t v = 0;
	size_t i = 0;
	while (i < s.len && i < 18 && logline_digit(s.p[i]))
		v = v * 10 + (uint64_t)(s.p[i++] - '0');
	if (i == 0)
		return -1;
	*out = v;
	if (used)
		*used = i;
	return 0;
}

void logspan_copy(struct logspan s, char *out, size_t size)
{
	if (size == 0)
		return;
	size_t n = s.len < size - 1 ? s.len : size - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s.p[i];
		out[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	out[n] = '\0';
}

/* Dotted quad without a copy or inet_pton (the common case, once per client line).
 * Strict like inet_pton: four parts 0..255, no leading zeros. 0 or -1. */
static int logline_ipv4(const char *a, size_t n, struct addr *out)
{
	uint8_t b[4];
	size_t i = 0;
	for (int part = 0; part < 4; part++) {
		unsigned v = 0;
		size_t d = 0;
		while (i < n && logline_digit(a[i]) && d < 4) {
			v = v * 10 + (unsigned)(a[i] - '0');
			i++;
			d++;
		}
		if (d == 0 || d > 3 || v > 255 || (d > 1 && a[i - d] == '0'))
			return -1;
		b[part] = (uint8_t)v;
		if (part < 3) {
			if (i >= n || a[i] != '.')
				return -1;
			i++;
		}
	}
	if (i != n)
		return -1;
	memset(out, 0, sizeof *out);
	out->family = 4;
	memcpy(out->bytes, b, 4);
	return 0;
}

int logspan_bracket_addr(struct logspan s, struct logspan *name, struct addr *out)
{
	size_t e = s.len;
	/* drop ":port" */
	while (e > 0 && logline_digit(s.p[e - 1]))
		e--;
	if (e < s.len && e > 0 && s.p[e - 1] == ':')
		e--;
	else
		e = s.len;
	if (e < 3 || s.p[e - 1] != ']')
		return -1;
	const char *open = memrchr(s.p, '[', e - 1);
	if (!open)
		return -1;
	const char *a = open + 1;
	size_t alen = (size_t)(s.p + e - 1 - a);
	if (alen > 5 && (memcmp(a, "IPv6:", 5) == 0 || memcmp(a, "ipv6:", 5) == 0)) {
		a += 5;
		alen -= 5;
	}
	if (logline_ipv4(a, alen, out) != 0) {
		if (addr_parse(a, alen, out) != 0)
			return -1;
		addr_unmap(out);
	}
	if (name) {
		name->p = s.p;
		name->len = (size_t)(open - s.p);
	}
	return 0;
}
