/*
 * clock - cached wall and monotonic time, fakeable for tests; see clock.h.
 */
#include "core/clock.h"

#include "core/str.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

static bool clock_fake;
static bool clock_valid;
static int64_t clock_real;
static int64_t clock_mono;

void clock_update(void)
{
	if (clock_fake)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	clock_real = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	clock_mono = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	clock_valid = true;
}

int64_t clock_elapsed_us(void)
{
	if (clock_fake)
		return 0;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t clock_realtime_ms(void)
{
	if (!clock_valid)
		clock_update();
	return clock_real;
}

int64_t clock_monotonic_ms(void)
{
	if (!clock_valid)
		clock_update();
	return clock_mono;
}

void clock_fake_set(int64_t realtime_ms, int64_t monotonic_ms)
{
	clock_fake = true;
	clock_valid = true;
	clock_real = realtime_ms;
	clock_mono = monotonic_ms;
}

void clock_fake_advance(int64_t ms)
{
	clock_real += ms;
	clock_mono += ms;
}

void clock_use_system(void)
{
	clock_fake = false;
	clock_valid = false;
}

int64_t clock_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	/* Howard Hinnant's algorithm, public domain description. */
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

int clock_format_rfc3339(int64_t ms, char *out, size_t size)
{
	/* floor(ms / 1000) and the rest, without ms - 999 (it overflowed near INT64_MIN) */
	time_t secs = (time_t)(ms / 1000 - (ms % 1000 < 0));
	int frac = (int)(ms % 1000 < 0 ? ms % 1000 + 1000 : ms % 1000);
	struct tm tm;
	if (!gmtime_r(&secs, &tm))
		return -1;
	if (frac)
		return str_format(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
				  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
	return str_format(out, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
			  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int clock_format_rfc5322(int64_t ms, bool pad_day, char *out, size_t size)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t secs = (time_t)(ms / 1000 - (ms % 1000 < 0));
	struct tm tm;
	if (!gmtime_r(&secs, &tm))
		return -1;
	return str_format(out, size,
	                  pad_day ? "%s, %02d %s %04d %02d:%02d:%02d +0000"
	                          : "%s, %d %s %04d %02d:%02d:%02d +0000",
	                  days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
	                  tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int clock_digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int clock_parse_rfc3339(const char *s, int64_t *out_ms)
{
	int y, mo, d, h, mi, se;
	if (strlen(s) < 19)
		return -1;
	if (clock_digits(s, 4, &y) || s[4] != '-' || clock_digits(s + 5, 2, &mo) || s[7] != '-' ||
	    clock_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    clock_digits(s + 11, 2, &h) || s[13] != ':' || clock_digits(s + 14, 2, &mi) ||
	    s[16] != ':' || clock_digits(s + 17, 2, &se))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return -1;
	const char *p = s + 19;
	int ms = 0;
	if (*p == '.') {
		p++;
		int n = 0;
		while (*p >= '0' && *p <= '9') {
			if (n < 3)
				ms = ms * 10 + (*p - '0');
			n++;
			p++;
		}
		if (n == 0)
			return -1;
		for (; n < 3; n++)
			ms *= 10;
	}
	int64_t off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (clock_digits(p + 1, 2, &oh) || p[3] != ':' || clock_digits(p + 4, 2, &om) ||
		    oh > 23 || om > 59)
			return -1;
		off = (int64_t)(oh * 60 + om) * 60000;
		if (*p == '-')
			off = -off;
		p += 6;
	}
	if (*p != '\0')
		return -1;
	int64_t days = clock_days_from_civil(y, (unsigned)mo, (unsigned)d);
	*out_ms = ((days * 86400 + h * 3600 + mi * 60 + se) * 1000 + ms) - off;
	return 0;
}
