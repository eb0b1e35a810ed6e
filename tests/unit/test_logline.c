/*
 * Unit tests for src/forensics/logline.c: time stamps (classic, RFC 3339 with
 * and without fraction and colon, Exim's), host and tag forms, the year of
 * classic stamps across the turn of the year, and the span helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/clock.h"
#include "forensics/logline.h"
#include "logtest.h"

#include <string.h>

static int parse(const char *s, struct logline *l)
{
	return logline_parse(s, strlen(s), l);
}

static int64_t at(const char *rfc3339)
{
	int64_t ms;
	assert_int_equal(clock_parse_rfc3339(rfc3339, &ms), 0);
	return ms;
}

static void test_classic(void **state)
{
	struct logline l;
	assert_int_equal(parse("Mar  7 02:09:33 server postfix/submission/smtpd[9526]: connect "
	                       "from x[192.0.2.1]",
	                       &l),
	                 0);
	assert_int_equal(l.time_kind, LOGLINE_TIME_SYSLOG);
	assert_int_equal(l.mon, 3);
	assert_int_equal(l.day, 7);
	assert_int_equal(l.tod_ms, (2 * 3600 + 9 * 60 + 33) * 1000);
	assert_span(l.host, "server");
	assert_span(l.tag, "postfix/submission/smtpd");
	assert_int_equal(l.pid, 9526);
	assert_span(l.msg, "connect from x[192.0.2.1]");
	assert_span(logline_daemon(&l), "smtpd");
	/* one-digit day without padding, Postfix's own zero-padded file */
	assert_int_equal(parse("Aug 3 15:30:49 ksusha postfix/smtpd[17041]: x", &l), 0);
	assert_int_equal(l.day, 3);
	assert_int_equal(parse("Mar 02 10:00:00 mail postfix/qmgr[1]: x", &l), 0);
	assert_int_equal(l.day, 2);
	/* priority, tag without pid */
	assert_int_equal(parse("<22>Dec 31 23:59:59 mx dovecot: imap-login: Login: user=<a>", &l),
	                 0);
	assert_span(l.tag, "dovecot");
	assert_int_equal(l.pid, -1);
	assert_span(l.msg, "imap-login: Login: user=<a>");
}

static void test_rfc3339(void **state)
{
	struct logline l;
	assert_int_equal(parse("2026-05-16T16:13:25.137663+02:00 mail postfix/smtpd[2312]: "
	                       "21957407BE: client=localhost[127.0.0.1]",
	                       &l),
	                 0);
	assert_int_equal(l.time_kind, LOGLINE_TIME_FULL);
	assert_int_equal(l.epoch_ms, at("2026-05-16T14:13:25.137Z"));
	assert_span(l.msg, "21957407BE: client=localhost[127.0.0.1]");
	assert_int_equal(parse("2024-02-16T22:06:02+01:00 h prog: x", &l), 0);
	assert_int_equal(l.epoch_ms, at("2024-02-16T21:06:02Z"));
	assert_int_equal(parse("2024-02-16T22:06:02Z h prog: x", &l), 0);
	assert_int_equal(l.epoch_ms, at("2024-02-16T22:06:02Z"));
	/* journalctl -o short-iso: no colon in the offset */
	assert_int_equal(parse("2024-02-16T22:06:02-0130 h prog[1]: x", &l), 0);
	assert_int_equal(l.epoch_ms, at("2024-02-16T23:36:02Z"));
	/* the kernel, its tag glued to the uptime */
	assert_int_equal(parse("<5>2016-05-05T23:12:09.649085-05:00 quaff kernel:[27198521.247185] "
	                       "Firewall: IN=venet0",
	                       &l),
	                 0);
	assert_span(l.tag, "kernel");
	assert_span(l.msg, "[27198521.247185] Firewall: IN=venet0");
}

static void test_bare_exim_and_dovecot(void **state)
{
	struct logline l;
	assert_int_equal(parse("2016-03-25 15:06:04 1ajLoq-0001wC-Pk <= a@b H=x [1.2.3.4]", &l), 0);
	assert_true(l.bare);
	assert_int_equal(l.epoch_ms, at("2016-03-25T15:06:04Z"));
	assert_span(l.msg, "1ajLoq-0001wC-Pk <= a@b H=x [1.2.3.4]");
	assert_int_equal(l.host.len, 0);
	/* log_timezone and +pid */
	assert_int_equal(parse("2013-06-10 18:33:32 +0100 [10099] H=(y) [202.132.70.178]:3755", &l),
	                 0);
	assert_int_equal(l.epoch_ms, at("2013-06-10T17:33:32Z"));
	assert_int_equal(l.pid, 10099);
	assert_span(l.msg, "H=(y) [202.132.70.178]:3755");
	/* Dovecot's own file: no host, the service is the tag */
	assert_int_equal(parse("Jan 29 09:33:58 pop3-login: Info: Aborted login", &l), 0);
	assert_int_equal(l.host.len, 0);
	assert_span(l.tag, "pop3-login");
	assert_span(l.msg, "Info: Aborted login");
}

static void test_refused(void **state)
{
	struct logline l;
	const char *bad[] = {"",
	                     "hello world",
	                     "Foo  3 02:14:07 h p: x",
	                     "Mar 32 02:14:07 h p: x",
	                     "Mar  3 24:14:07 h p: x",
	                     "Mar  3 02:14",
	                     "2026-13-01T00:00:00Z h p: x",
	                     "2026-01-01T00:00:00 h p: x",
	                     "2026-01-01X00:00:00Z h",
	                     "Mar  3 02:14:07x h p: x"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(parse(bad[i], &l), -1);
	/* a stamp and a host, but no tag: the text is the rest */
	assert_int_equal(parse("Mar  3 02:14:07 host just words", &l), 0);
	assert_int_equal(l.tag.len, 0);
	assert_span(l.host, "host");
	assert_span(l.msg, "just words");
}

static void test_year_turn(void **state)
{
	struct logline l;
	struct logyear y;
	/* the file was last written in January 2027: December lines are 2026 */
	logyear_init_from_ms(&y, at("2027-01-01T12:00:00Z"));
	assert_int_equal(y.year, 2027);
	assert_int_equal(parse("Dec 30 23:00:00 h p: x", &l), 0);
	assert_int_equal(logyear_resolve(&y, &l), at("2026-12-30T23:00:00Z"));
	assert_int_equal(parse("Dec 31 23:59:59 h p: x", &l), 0);
	assert_int_equal(logyear_resolve(&y, &l), at("2026-12-31T23:59:59Z"));
	assert_int_equal(parse("Jan  1 00:00:01 h p: x", &l), 0);
	assert_int_equal(logyear_resolve(&y, &l), at("2027-01-01T00:00:01Z"));
	/* a given year is the year of the first line */
	logyear_init(&y, 2026, 0);
	assert_int_equal(parse("Dec 31 10:00:00 h p: x", &l), 0);
	assert_int_equal(logyear_resolve(&y, &l), at("2026-12-31T10:00:00Z"));
	assert_int_equal(parse("Feb  1 10:00:00 h p: x", &l), 0);
	assert_int_equal(logyear_resolve(&y, &l), at("2027-02-01T10:00:00Z"));
	/* a month or two back is disorder, not a new year */
	assert_int_equal(parse("Jan 20 10:00:00 h p: x", &l), 0);
	assert_int_equal(logyear_resolve(&y, &l), at("2027-01-20T10:00:00Z"));
	/* RFC 3339 lines carry their year */
	assert_int_equal(parse("2020-06-01T00:00:00Z h p: x", &l), 0);
	assert_int_equal(logyear_resolve(&y, &l), at("2020-06-01T00:00:00Z"));
}

static void test_spans(void **state)
{
	struct logspan s = {"client=x[192.0.2.1]:25, b", 25};
	struct addr a;
	struct logspan name;
	char buf[8];
	uint64_t v;
	size_t used;
	assert_true(logspan_starts(s, "client="));
	assert_false(logspan_eq(s, "client="));
	assert_int_equal(logspan_find(s, 0, ", b"), 22);
	assert_int_equal(logspan_find(s, 23, ", b"), -1);
	assert_int_equal(logspan_find(s, 99, "x"), -1);
	assert_int_equal(logspan_bracket_addr(logspan_sub(s, 7, 22), &name, &a), 0);
	assert_span(name, "x");
	assert_int_equal(a.family, 4);
	assert_int_equal(
	    logspan_bracket_addr((struct logspan){"h[IPv6:2001:db8::1]", 19}, NULL, &a), 0);
	assert_int_equal(a.family, 6);
	assert_int_equal(logspan_bracket_addr((struct logspan){"h[nope]", 7}, NULL, &a), -1);
	assert_int_equal(logspan_bracket_addr((struct logspan){"]", 1}, NULL, &a), -1);
	assert_int_equal(logspan_u64((struct logspan){"123x", 4}, &v, &used), 0);
	assert_int_equal(v, 123);
	assert_int_equal(used, 3);
	assert_int_equal(logspan_u64((struct logspan){"x", 1}, &v, &used), -1);
	logspan_copy((struct logspan){"a\tb\x01long", 9}, buf, sizeof buf);
	assert_string_equal(buf, "a?b?lon");
}

/* logspan_find against a plain search, for needles at every place of spans
 * long enough for the 16-byte steps, and near or across their end. */
static long naive_find(struct logspan s, size_t from, const char *lit)
{
	size_t n = strlen(lit);
	for (size_t i = from; n && i + n <= s.len; i++)
		if (memcmp(s.p + i, lit, n) == 0)
			return (long)i;
	return -1;
}

static void test_find(void **state)
{
	static const char *const needles[] = {", dsn=", ", status=", ": ", "x", "ab", "zz"};
	char buf[80];
	for (size_t len = 0; len <= 60; len++) {
		for (size_t at = 0; at + 2 <= len + 2; at++) {
			memset(buf, 'a',
			       sizeof buf); /* 'a's around: "ab" is found only where put */
			for (size_t k = 0; k < sizeof needles / sizeof needles[0]; k++) {
				const char *lit = needles[k];
				size_t n = strlen(lit);
				memset(buf, '.', len);
				if (at + n <= len + 1 && at < len)
					memcpy(buf + at, lit, at + n <= len ? n : len - at);
				struct logspan s = {buf, len};
				for (size_t from = 0; from <= len + 1; from += 7)
					assert_int_equal(logspan_find(s, from, lit),
					                 naive_find(s, from, lit));
			}
		}
	}
}

/* Both parses of one line agree on everything, spans by their offsets. */
static void assert_same(const char *p, const struct logline *a, const struct logline *b)
{
	assert_int_equal(a->time_kind, b->time_kind);
	assert_int_equal(a->bare, b->bare);
	assert_int_equal(a->pid, b->pid);
	if (a->time_kind == LOGLINE_TIME_FULL) {
		assert_int_equal(a->epoch_ms, b->epoch_ms);
	} else {
		assert_int_equal(a->mon, b->mon);
		assert_int_equal(a->day, b->day);
		assert_int_equal(a->tod_ms, b->tod_ms);
	}
	const struct logspan sa[] = {a->host, a->tag, a->msg}, sb[] = {b->host, b->tag, b->msg};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(sa[i].len, sb[i].len);
		if (sa[i].len)
			assert_int_equal(sa[i].p - p, sb[i].p - p);
	}
}

static void test_memo(void **state)
{
	/* runs of lines with one head, heads that change, and the forms whose head
	 * is not remembered (no host, Exim's bare stamp, no stamp at all) */
	static const char *const lines[] = {
	    "Nov  2 00:00:00 mx1 postfix/smtpd[49130]: connect from a[198.51.100.3]",
	    "Nov  2 00:00:00 mx1 postfix/smtpd[49130]: 0000000D06: client=a[198.51.100.3]",
	    "Nov  2 00:00:00 mx1 postfix/cleanup[49131]: 0000000D06: message-id=<x@y>",
	    "Nov  2 00:00:00 mx1 kernel: [123.4] OUT IN=eth0",
	    "Nov  2 00:00:00 mx1 kernel:[123.4] OUT IN=eth0",
	    "Nov  2 00:00:00 mx1 relayguard[info]: started",
	    "Nov  2 00:00:00 mx1 notag",
	    "Nov  2 00:00:00 mx1 ",
	    "Nov  2 00:00:00 mx1",
	    "Nov  2 00:00:00 mx1   postfix/qmgr[500]: 0000000D06: removed",
	    "Nov  2 00:00:01 mx1 postfix/qmgr[500]: 0000000D06: removed",
	    "Nov  2 00:00:01 mx2 postfix/qmgr[500]: 0000000D06: removed",
	    "Nov  2 00:00:01 mx2 [12]: a host that looks like a pid",
	    "Nov  2 00:00:01 mx2 [12]: again",
	    "Nov  2 00:00:01 mx2 lda(u)<1><s>: not a tag",
	    "Nov  2 00:00:01 dovecot: no host",
	    "Nov  2 00:00:01 dovecot: no host again",
	    "<22>Nov  2 00:00:01 mx2 p[1]: with a priority",
	    "<22>Nov  2 00:00:01 mx2 p[2]: with a priority",
	    "2026-11-02T00:00:01.123456+01:00 mx3 postfix/smtp[7]: 0000000D06: to=<a@b>",
	    "2026-11-02T00:00:01.123456+01:00 mx3 postfix/smtp[7]: x",
	    "2026-11-02T00:00:01.123456789+01:00 a-host-name-long-enough-to-pass-the-memo p[1]: x",
	    "2026-11-02T00:00:01.123456789+01:00 a-host-name-long-enough-to-pass-the-memo p[1]: y",
	    "2016-03-25 15:06:04 +0100 [123] 1aZ8XY-0001Ab-Cd <= a@b.example",
	    "2016-03-25 15:06:04 +0100 [123] 1aZ8XY-0001Ab-Cd => c@d.example",
	    "garbage",
	    "Nov  2 00:00:01 mx2 p[3]: after garbage",
	};
	struct logline_memo m;
	logline_memo_init(&m);
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		const char *p = lines[i];
		struct logline a, b;
		int ra = logline_parse(p, strlen(p), &a);
		int rb = logline_parse_memo(p, strlen(p), &b, &m);
		assert_int_equal(ra, rb);
		if (ra == 0)
			assert_same(p, &a, &b);
	}
	/* a head is remembered after a line with a host, and not after one without */
	assert_int_equal(
	    logline_parse_memo("Nov  2 00:00:00 mx1 p[1]: x", 27, &(struct logline){0}, &m), 0);
	assert_int_equal(m.len, 20);
	assert_int_equal(logline_parse_memo("Nov  2 00:00:00 p: x", 20, &(struct logline){0}, &m),
	                 0);
	assert_int_equal(m.len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_classic),
	    cmocka_unit_test(test_rfc3339),
	    cmocka_unit_test(test_bare_exim_and_dovecot),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_year_turn),
	    cmocka_unit_test(test_spans),
	    cmocka_unit_test(test_memo),
	    cmocka_unit_test(test_find),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
