/*
 * date - RFC 5322 date-time parser; see date.h.
 *
 * Written for hostile input: every field is range-checked, the day is checked
 * against the month (and leap years), and trailing text other than comments
 * and white space makes the whole date invalid rather than half-parsed.
 */
#include "forensics/date.h"

#include "core/clock.h"
#include "core/str.h"

#include <stdbool.h>
#include <string.h>

struct date_cursor {
	const char *s;
	size_t len;
	size_t pos;
};

/* Skips white space and (nested) comments. -1 on an unterminated comment. */
static int date_skip_cfws(struct date_cursor *c)
{
	while (c->pos < c->len) {
		char ch = c->s[c->pos];
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
			c->pos++;
		} else if (ch == '(') {
			int depth = 0;
			while (c->pos < c->len) {
				ch = c->s[c->pos++];
				if (ch == '\\' && c->pos < c->len)
					c->pos++;
				else if (ch == '(' && ++depth > 32)
					return -1;
				else if (ch == ')' && --depth == 0)
					break;
			}
			if (depth != 0)
				return -1;
		} else {
			break;
		}
	}
	return 0;
}

static bool date_is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool date_is_alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* Reads 1..maxdigits digits. -1 if none. */
static int date_number(struct date_cursor *c, size_t maxdigits, uint64_t *out, size_t *ndigits)
{
	size_t start = c->pos;
	while (c->pos < c->len && date_is_digit(c->s[c->pos]) && c->pos - start < maxdigits)
		c->pos++;
	if (c->pos == start || (c->pos < c->len && date_is_digit(c->s[c->pos])))
		return -1;
	*ndigits = c->pos - start;
	return str_to_u64(c->s + start, c->pos - start, 0, UINT64_MAX, out);
}

static size_t date_word(struct date_cursor *c, const char **w)
{
	size_t start = c->pos;
	while (c->pos < c->len && date_is_alpha(c->s[c->pos]) && c->pos - start < 16)
		c->pos++;
	*w = c->s + start;
	return c->pos - start;
}

static int date_month(const char *w, size_t n)
{
	static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun",
	                                     "jul", "aug", "sep", "oct", "nov", "dec"};
	for (int i = 0; i < 12; i++)
		if (str_ieq_n(w, n, months[i]))
			return i + 1;
	return 0;
}

static bool date_leap(uint64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Offset in minutes east of UTC for an obsolete zone name; -1 if unknown. */
static int date_zone_name(const char *w, size_t n, int *minutes)
{
	static const struct {
		const char *name;
		int minutes;
	} zones[] = {
	    {"UT", 0},        {"UTC", 0},       {"GMT", 0},       {"Z", 0},
	    {"EST", -5 * 60}, {"EDT", -4 * 60}, {"CST", -6 * 60}, {"CDT", -5 * 60},
	    {"MST", -7 * 60}, {"MDT", -6 * 60}, {"PST", -8 * 60}, {"PDT", -7 * 60},
	};
	for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
		if (str_ieq_n(w, n, zones[i].name)) {
			*minutes = zones[i].minutes;
			return 0;
		}
	}
	/* RFC 5322 4.3: other military zones "SHOULD all be considered equivalent to -0000". */
	if (n == 1 && date_is_alpha(w[0]) && w[0] != 'j' && w[0] != 'J') {
		*minutes = 0;
		return 0;
	}
	return -1;
}

int date_parse_rfc5322(const char *s, size_t len, int64_t *out_ms)
{
	struct date_cursor c = {s, len, 0};
	const char *w;
	size_t n, nd;
	uint64_t day, year, hh, mm, ss = 0;

	if (!s || date_skip_cfws(&c) < 0)
		return -1;
	/* Optional day of week and comma. */
	n = date_word(&c, &w);
	if (n > 0) {
		if (n != 3 || date_skip_cfws(&c) < 0 || c.pos >= c.len || c.s[c.pos] != ',')
			return -1;
		c.pos++;
		if (date_skip_cfws(&c) < 0)
			return -1;
	}
	if (date_number(&c, 2, &day, &nd) < 0 || date_skip_cfws(&c) < 0)
		return -1;
	n = date_word(&c, &w);
	int month = date_month(w, n);
	if (month == 0 || date_skip_cfws(&c) < 0)
		return -1;
	if (date_number(&c, 4, &year, &nd) < 0 || date_skip_cfws(&c) < 0)
		return -1;
	if (nd == 2)
		year += year < 50 ? 2000 : 1900;
	else if (nd == 3)
		year += 1900;
	if (date_number(&c, 2, &hh, &nd) < 0 || date_skip_cfws(&c) < 0)
		return -1;
	if (c.pos >= c.len || c.s[c.pos] != ':')
		return -1;
	c.pos++;
	if (date_skip_cfws(&c) < 0 || date_number(&c, 2, &mm, &nd) < 0 || date_skip_cfws(&c) < 0)
		return -1;
	if (c.pos < c.len && c.s[c.pos] == ':') {
		c.pos++;
		if (date_skip_cfws(&c) < 0 || date_number(&c, 2, &ss, &nd) < 0 ||
		    date_skip_cfws(&c) < 0)
			return -1;
	}
	/* Zone. */
	int zone_min;
	if (c.pos < c.len && (c.s[c.pos] == '+' || c.s[c.pos] == '-')) {
		int sign = c.s[c.pos] == '-' ? -1 : 1;
		uint64_t z;
		c.pos++;
		if (c.len - c.pos < 4 || str_to_u64(c.s + c.pos, 4, 0, 9959, &z) < 0 ||
		    z % 100 > 59)
			return -1;
		if (c.len - c.pos > 4 && date_is_digit(c.s[c.pos + 4]))
			return -1;
		c.pos += 4;
		zone_min = sign * (int)(z / 100 * 60 + z % 100);
	} else {
		n = date_word(&c, &w);
		if (n == 0 || date_zone_name(w, n, &zone_min) < 0)
			return -1;
	}
	if (date_skip_cfws(&c) < 0 || c.pos != c.len)
		return -1;

	static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	unsigned maxday = mdays[month - 1] + (month == 2 && date_leap(year) ? 1 : 0);
	if (year < 1900 || year > 9999 || day < 1 || day > maxday || hh > 23 || mm > 59 || ss > 60)
		return -1;
	if (ss == 60)
		ss = 59; /* a leap second; the epoch has none */
	int64_t days = clock_days_from_civil((int64_t)year, (unsigned)month, (unsigned)day);
	int64_t secs = days * 86400 + (int64_t)(hh * 3600 + mm * 60 + ss) - (int64_t)zone_min * 60;
	*out_ms = secs * 1000;
	return 0;
}
