/*
 * Unit tests for src/forensics/pflog.c: the Postfix lines logscan uses, in
 * the forms real logs have them (samples from fail2ban's and
 * postfix_exporter's test logs and the Postfix format strings), short and
 * long queue IDs, and lines that must stay "other".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "forensics/logline.h"
#include "forensics/pflog.h"
#include "logtest.h"

#include <stdio.h>
#include <string.h>

/* Parses a whole syslog line. */
static enum pflog_kind line(const char *s, struct pflog_rec *r)
{
	struct logline l;
	assert_int_equal(logline_parse(s, strlen(s), &l), 0);
	return pflog_parse(logline_daemon(&l), l.msg, r);
}

static void test_client(void **state)
{
	struct pflog_rec r;
	assert_int_equal(
	    line("Mar 4 09:00:40 email postfix/submission/smtpd[9526]: 19689215A5: "
	         "client=x.example[192.0.2.5], sasl_method=LOGIN, sasl_username=jsmith",
	         &r),
	    PFLOG_CLIENT);
	assert_span(r.qid, "19689215A5");
	assert_span(r.client, "x.example");
	assert_true(r.has_ip);
	assert_ip(&r.ip, "192.0.2.5");
	assert_span(r.sasl_method, "LOGIN");
	assert_span(r.sasl_user, "jsmith");
	/* no SASL; a port; a long queue ID */
	assert_int_equal(line("Feb 24 16:42:00 letterman postfix/smtpd[24906]: 3Pt2mN2VXxznjll: "
	                      "client=xxx[2001:db8::5]:4321",
	                      &r),
	                 PFLOG_CLIENT);
	assert_span(r.qid, "3Pt2mN2VXxznjll");
	assert_ip(&r.ip, "2001:db8::5");
	assert_int_equal(r.sasl_user.len, 0);
	/* later fields after the user */
	assert_int_equal(line("Oct 30 13:19:26 gw postfix/smtpd[1]: EB4B2C19E2: client=x[1.2.3.4], "
	                      "sasl_method=PLAIN, sasl_username=user@domain, sasl_sender=s@d",
	                      &r),
	                 PFLOG_CLIENT);
	assert_span(r.sasl_user, "user@domain");
}

static void test_sasl_failures(void **state)
{
	struct pflog_rec r;
	assert_int_equal(line("Nov  4 09:11:01 mail postfix/smtpd[1234]: warning: unknown"
	                      "[192.0.2.152]: SASL LOGIN authentication failed: (reason "
	                      "unavailable), sasl_username=admin",
	                      &r),
	                 PFLOG_SASL_FAIL);
	assert_ip(&r.ip, "192.0.2.152");
	assert_span(r.sasl_method, "LOGIN");
	assert_span(r.sasl_user, "admin");
	assert_span(r.text, "(reason unavailable)");
	/* before Postfix 3.9: no user; a port; mixed case; empty reason */
	assert_int_equal(line("Aug  4 16:47:52 mail3 postfix/smtpd[31152]: warning: unknown"
	                      "[192.0.2.237]:55729: SASL LOGIN authentication failed: "
	                      "authentication failure",
	                      &r),
	                 PFLOG_SASL_FAIL);
	assert_ip(&r.ip, "192.0.2.237");
	assert_int_equal(r.sasl_user.len, 0);
	assert_int_equal(line("Aug 3 15:30:49 ksusha postfix/smtpd[17041]: warning: mail.example"
	                      "[198.51.100.74]: SASL Plain authentication failed:",
	                      &r),
	                 PFLOG_SASL_FAIL);
	assert_span(r.sasl_method, "Plain");
	assert_span(r.text, "");
	assert_int_equal(
	    line("Feb  3 08:29:28 mail postfix/smtpd[21022]: warning: unknown[1.1.1.1]: "
	         "SASL LOGIN authentication failed: Connection lost to authentication "
	         "server",
	         &r),
	    PFLOG_SASL_FAIL);
	assert_span(r.text, "Connection lost to authentication server");
	/* other warnings are not failures */
	assert_int_equal(line("Sep 19 12:10:58 h postfix/smtpd[14059]: warning: Message delivery "
	                      "request rate limit exceeded: 334 from spam.example[192.0.2.227] for "
	                      "service submission",
	                      &r),
	                 PFLOG_OTHER);
}

static void test_reject(void **state)
{
	struct pflog_rec r;
	assert_int_equal(
	    line("Jul 12 07:47:48 saturn postfix/smtpd[8738]: NOQUEUE: reject: RCPT "
	         "from 1-2-3-4-example.com[1.2.3.4]: 554 5.7.1 <smtp@example.com>: Relay "
	         "access denied; from=<john@example.com> to=<smtp@example.org> "
	         "proto=SMTP helo=<198.51.100.17>",
	         &r),
	    PFLOG_REJECT);
	assert_int_equal(r.qid.len, 0);
	assert_span(r.stage, "RCPT");
	assert_ip(&r.ip, "1.2.3.4");
	assert_int_equal(r.code, 554);
	assert_span(r.sender, "john@example.com");
	assert_span(r.rcpt, "smtp@example.org");
	assert_span(r.text, "554 5.7.1 <smtp@example.com>: Relay access denied");
	/* with a queue ID, a null sender, and Postfix 3.10's SASL fields */
	assert_int_equal(
	    line("Mar 11 23:27:54 server postfix-smo/submission/smtpd[22427]: "
	         "44JCRG5tYPzCqt2: reject: BDAT from s.example[192.0.2.109]: 550 5.5.3 "
	         "<DATA>: Data command rejected: Multi-recipient bounce; from=<> "
	         "to=<some@example.com> proto=ESMTP helo=<domain.tld> "
	         "sasl_method=PLAIN sasl_username=bob",
	         &r),
	    PFLOG_REJECT);
	assert_span(r.qid, "44JCRG5tYPzCqt2");
	assert_span(r.stage, "BDAT");
	assert_span(r.sender, "");
	assert_span(r.sasl_user, "bob");
	/* a warning is not a refusal */
	assert_int_equal(line("Jul 12 07:47:48 s postfix/smtpd[1]: NOQUEUE: reject_warning: RCPT "
	                      "from x[1.2.3.4]: 554 5.7.1 no; from=<a> to=<b> proto=SMTP",
	                      &r),
	                 PFLOG_OTHER);
}

static void test_queue_and_delivery(void **state)
{
	struct pflog_rec r;
	assert_int_equal(
	    line("2026-05-16T16:13:25.140503+02:00 mail postfix/qmgr[2267]: 21957407BE: "
	         "from=<fatlum@u8.example>, size=507, nrcpt=1 (queue active)",
	         &r),
	    PFLOG_QUEUED);
	assert_span(r.sender, "fatlum@u8.example");
	assert_int_equal(r.size, 507);
	assert_int_equal(r.nrcpt, 1);
	assert_int_equal(line("Apr 10 14:50:16 mail postfix/qmgr[3663]: BACE842E72: "
	                      "from=<noreply@domain.com>, status=expired, returned to sender",
	                      &r),
	                 PFLOG_EXPIRED);
	assert_int_equal(line("May 16 16:13:26 mail postfix/qmgr[2267]: 21957407BE: removed", &r),
	                 PFLOG_REMOVED);
	assert_int_equal(
	    line("Dec 29 03:03:48 mail postfix/smtp[8492]: 732BB407C3: "
	         "to=<redacted@domain.com>, relay=mail.domain.com[1.1.1.1]:25, delay=582, "
	         "delays=563/16/1.7/0.81, dsn=5.0.0, status=bounced (host "
	         "mail.domain.com[1.1.1.1] said: 554 DT:SPM 163)",
	         &r),
	    PFLOG_DELIVERY);
	assert_span(r.rcpt, "redacted@domain.com");
	assert_span(r.relay, "mail.domain.com[1.1.1.1]:25");
	assert_true(r.has_relay_ip);
	assert_ip(&r.relay_ip, "1.1.1.1");
	assert_span(r.dsn, "5.0.0");
	assert_int_equal(r.status, PFLOG_ST_BOUNCED);
	assert_span(r.text, "host mail.domain.com[1.1.1.1] said: 554 DT:SPM 163");
	assert_int_equal(line("Apr  7 15:35:20 123-mail postfix/virtual[20235]: 199041033BE: "
	                      "to=<me@domain.fr>, orig_to=<alias@domain.fr>, relay=virtual, "
	                      "delay=0.08, delays=0.08/0/0/0, dsn=2.0.0, status=sent (delivered to "
	                      "maildir)",
	                      &r),
	                 PFLOG_DELIVERY);
	assert_span(r.orig_rcpt, "alias@domain.fr");
	assert_span(r.relay, "virtual");
	assert_false(r.has_relay_ip);
	assert_int_equal(r.status, PFLOG_ST_SENT);
	assert_int_equal(line("Dec 29 02:54:12 mail postfix/lmtp[7648]: 732BB407C3: to=<a@b>, "
	                      "relay=none, delay=6.2, delays=0.1/0/5.2/0.87, dsn=4.4.1, "
	                      "status=deferred (connect failed)",
	                      &r),
	                 PFLOG_DELIVERY);
	assert_int_equal(r.status, PFLOG_ST_DEFERRED);
	/* Postfix 3.11 adds tls= before dsn= */
	assert_int_equal(
	    line("Dec 29 02:54:12 m postfix/smtp[7]: 732BB407C3: to=<a@b>, relay=x[192.0.2.9]:25, "
	         "delay=1, delays=0/0/0/1, tls=required, dsn=2.0.0, status=sent (ok)",
	         &r),
	    PFLOG_DELIVERY);
	assert_span(r.dsn, "2.0.0");
}

static void test_pickup_bounce_header(void **state)
{
	struct pflog_rec r;
	assert_int_equal(line("Mar  3 02:14:07 h postfix/pickup[99]: 9162E604FF: uid=33 "
	                      "from=<www-data@web.example>",
	                      &r),
	                 PFLOG_PICKUP);
	assert_int_equal(r.uid, 33);
	assert_span(r.sender, "www-data@web.example");
	assert_int_equal(line("Dec 29 03:03:48 mail postfix/bounce[9321]: 732BB407C3: sender "
	                      "non-delivery notification: 5DE184083C",
	                      &r),
	                 PFLOG_NOTIFY);
	assert_span(r.qid, "732BB407C3");
	assert_span(r.new_qid, "5DE184083C");
	assert_int_equal(line("Dec 29 03:03:48 h postfix/cleanup[7]: 732BB407C3: info: header "
	                      "Auto-Submitted: auto-replied from local; from=<a@b> to=<c@d>",
	                      &r),
	                 PFLOG_AUTO_HEADER);
	assert_int_equal(line("Dec 29 03:03:48 h postfix/cleanup[7]: 732BB407C3: info: header "
	                      "auto-submitted: no from local; from=<a@b> to=<c@d>",
	                      &r),
	                 PFLOG_OTHER);
	assert_int_equal(line("Dec 29 03:03:48 h postfix/cleanup[7]: 732BB407C3: "
	                      "message-id=<x@y>",
	                      &r),
	                 PFLOG_OTHER);
}

static void test_other_lines(void **state)
{
	struct pflog_rec r;
	const char *other[] = {
	    "Mar 4 09:00:39 e postfix/submission/smtpd[9526]: connect from x[192.0.2.1]",
	    "Feb 10 13:26:34 srv postfix/smtpd[123]: disconnect from unknown[192.0.2.1] helo=1 "
	    "auth=0/1 quit=1 commands=2/3",
	    "Feb 18 09:48:04 x postfix/smtpd[50903]: lost connection after AUTH from "
	    "unknown[192.0.2.23]",
	    "Feb 18 09:48:04 x postfix/anvil[1]: statistics: max connection rate 1/60s",
	    "Feb 18 09:48:04 x postfix/postscreen[1]: CONNECT from [192.0.2.1]:1234 to "
	    "[192.0.2.2]:25",
	    "Feb 18 09:48:04 x postfix/qmgr[1]: ABCDEF12345: from=<a@b>, size=x, nrcpt=1",
	    "Feb 18 09:48:04 x postfix/smtp[1]: ABCDEF12345: to=<a@b>, relay=x, no status",
	    "Feb 18 09:48:04 x postfix/smtpd[1]: ABC: client=x[1.2.3.4]", /* ID too short */
	    "Feb 18 09:48:04 x postfix/pickup[1]: ABCDEF12345: uid=x from=<a>",
	    "Feb 18 09:48:04 x postfix/bounce[1]: ABCDEF12345: sender non-delivery notification: "
	    "ab-cd",
	};
	for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
		assert_int_equal(line(other[i], &r), PFLOG_OTHER);
	assert_true(pflog_is_delivery_daemon((struct logspan){"lmtp", 4}));
	assert_false(pflog_is_delivery_daemon((struct logspan){"smtpd", 5}));
	assert_string_equal(pflog_kind_name(PFLOG_DELIVERY), "delivery");
	assert_string_equal(pflog_kind_name((enum pflog_kind)99), "?");
}

/* Queue IDs of every length around the 16 bytes read at once, up to the
 * longest accepted (PFLOG_QID_MAX), and bytes that end an ID early. */
static void test_qid_lengths(void **state)
{
	const char *alnum = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
	for (size_t n = 1; n <= PFLOG_QID_MAX + 2; n++) {
		char s[256];
		struct pflog_rec r;
		int w = snprintf(s, sizeof s, "Mar  4 09:00:40 h postfix/qmgr[1]: %.*s: removed",
		                 (int)n, alnum);
		assert_true(w > 0 && (size_t)w < sizeof s);
		enum pflog_kind k = line(s, &r);
		if (n >= 5 && n <= PFLOG_QID_MAX) {
			assert_int_equal(k, PFLOG_REMOVED);
			assert_int_equal(r.qid.len, n);
		} else {
			assert_int_equal(k, PFLOG_OTHER);
		}
	}
	/* a byte that is no letter or digit (high bit, '@', '[', '`', '{', '/')
	 * inside the first 16 ends the ID there: no ": " follows, so no record */
	static const char stops[] = {'\xc1', '@', '[', '`', '{', '/', ':'};
	for (size_t k = 0; k < sizeof stops; k++) {
		char s[128];
		struct pflog_rec r;
		(void)snprintf(s, sizeof s,
		               "Mar  4 09:00:40 h postfix/qmgr[1]: ABCDEF%cGHIJ: removed",
		               stops[k]);
		assert_int_equal(line(s, &r), PFLOG_OTHER);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_qid_lengths),        cmocka_unit_test(test_client),
	    cmocka_unit_test(test_sasl_failures),      cmocka_unit_test(test_reject),
	    cmocka_unit_test(test_queue_and_delivery), cmocka_unit_test(test_pickup_bounce_header),
	    cmocka_unit_test(test_other_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
