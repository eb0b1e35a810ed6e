/*
 * Unit tests for src/forensics/eximlog.c: arrivals with and without
 * authentication, deliveries, bounces, deferrals, authenticator failures and
 * rejected recipients, in the forms of the Exim spec and real main logs
 * (samples from fail2ban's test logs and public pastes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "forensics/eximlog.h"
#include "forensics/logline.h"
#include "logtest.h"

#include <string.h>

static enum eximlog_kind line(const char *s, struct eximlog_rec *r)
{
	struct logline l;
	assert_int_equal(logline_parse(s, strlen(s), &l), 0);
	assert_true(l.bare);
	return eximlog_parse(l.msg, r);
}

static void test_arrival(void **state)
{
	struct eximlog_rec r;
	assert_int_equal(
	    line("2016-03-25 15:06:04 1ajLoq-0001wC-Pk <= email@buy.example H=mail.buy.example "
	         "(buy.example) [124.217.254.72]:39926 P=esmtpa A=dovecot_login:email@buy.example "
	         "S=964 id=f0876b3d@buy.example T=\"Copy of: Support Enquiry for you\" for "
	         "0129.alexng@gmail.example other@x.example",
	         &r),
	    EXIMLOG_ARRIVAL);
	assert_span(r.id, "1ajLoq-0001wC-Pk");
	assert_span(r.sender, "email@buy.example");
	assert_span(r.host, "mail.buy.example");
	assert_true(r.has_ip);
	assert_ip(&r.ip, "124.217.254.72");
	assert_span(r.proto, "esmtpa");
	assert_span(r.auth, "dovecot_login:email@buy.example");
	assert_span(r.user, "email@buy.example");
	assert_int_equal(r.size, 964);
	assert_int_equal(r.nrcpt, 2);
	assert_span(r.rcpt, "0129.alexng@gmail.example");
	/* new 23-character IDs, unverified HELO only, X= before A= */
	assert_int_equal(line("2024-01-03 16:51:07 16VDhn-000000001bo-D342 <= h@e.example "
	                      "H=(HazelEvans) [86.171.166.17]:51329 P=esmtpsa "
	                      "X=TLSv1.2:ECDHE-RSA-AES256-GCM-SHA384:256 CV=no "
	                      "A=dovecot_login:h@e.example S=380437",
	                      &r),
	                 EXIMLOG_ARRIVAL);
	assert_span(r.id, "16VDhn-000000001bo-D342");
	assert_int_equal(r.host.len, 0);
	assert_ip(&r.ip, "86.171.166.17");
	assert_span(r.user, "h@e.example");
	assert_int_equal(r.nrcpt, 0);
	/* a bounce: null sender, R= names the message that bounced */
	assert_int_equal(line("2024-01-03 16:51:08 1cOKoC-001Xz6-Af <= <> R=1ajLoq-0001wC-Pk "
	                      "U=Debian-exim P=local S=2000",
	                      &r),
	                 EXIMLOG_ARRIVAL);
	assert_span(r.sender, "");
	assert_span(r.orig_id, "1ajLoq-0001wC-Pk");
	assert_span(r.local_user, "Debian-exim");
	assert_false(r.has_ip);
}

static void test_deliveries(void **state)
{
	struct eximlog_rec r;
	assert_int_equal(
	    line("2016-03-25 15:06:10 1ajLoq-0001wC-Pk => 0129.alexng@gmail.example "
	         "R=dkim_lookuphost T=dkim_remote_smtp H=gmail-smtp-in.l.google.example "
	         "[74.125.200.27] X=TLSv1.2:ECDHE:128 CV=yes C=\"250 2.0.0 OK\"",
	         &r),
	    EXIMLOG_DELIVERY);
	assert_span(r.rcpt, "0129.alexng@gmail.example");
	assert_span(r.router, "dkim_lookuphost");
	assert_span(r.transport, "dkim_remote_smtp");
	assert_ip(&r.ip, "74.125.200.27");
	assert_int_equal(line("2016-03-25 15:06:10 1ajLoq-0001wC-Pk -> b@x.example R=r T=t", &r),
	                 EXIMLOG_DELIVERY);
	assert_int_equal(line("2002-12-19 16:20:23 16aiQz-0002Q5-00 == marvin@endrest.example "
	                      "R=dnslookup T=smtp defer (146): Connection refused",
	                      &r),
	                 EXIMLOG_DEFERRED);
	assert_span(r.rcpt, "marvin@endrest.example");
	assert_span(r.text, "Connection refused");
	assert_int_equal(line("2002-12-19 16:20:23 16aiQz-0002Q5-00 ** nobody@x.example "
	                      "R=dnslookup T=remote_smtp H=mx.x.example [192.0.2.4]: SMTP error "
	                      "from remote mail server after RCPT TO:<nobody@x.example>: 550 5.1.1 "
	                      "User unknown",
	                      &r),
	                 EXIMLOG_BOUNCED);
	assert_span(r.rcpt, "nobody@x.example");
	assert_ip(&r.ip, "192.0.2.4");
	assert_true(logspan_find(r.text, 0, "User unknown") >= 0);
	assert_int_equal(line("2002-12-19 16:20:23 16aiQz-0002Q5-00 ** bad@x.example: Unrouteable "
	                      "address",
	                      &r),
	                 EXIMLOG_BOUNCED);
	assert_span(r.rcpt, "bad@x.example");
	assert_int_equal(line("2016-03-25 15:06:10 1ajLoq-0001wC-Pk Completed", &r),
	                 EXIMLOG_COMPLETED);
}

static void test_auth_fail_and_reject(void **state)
{
	struct eximlog_rec r;
	assert_int_equal(line("2013-01-04 17:03:46 login authenticator failed for rrcs.example "
	                      "([192.168.2.33]) [24.106.174.74]: 535 Incorrect authentication data "
	                      "(set_id=brian)",
	                      &r),
	                 EXIMLOG_AUTH_FAIL);
	assert_span(r.auth, "login");
	assert_span(r.host, "rrcs.example");
	assert_ip(&r.ip, "24.106.174.74");
	assert_span(r.user, "brian");
	assert_int_equal(line("2024-03-21 19:26:06 dovecot_login authenticator failed for (User) "
	                      "[194.169.175.1]:21298 I=[22.33.44.55]:465 Ci=30416: 535 Incorrect "
	                      "authentication data (set_id=uaf589@example.com)",
	                      &r),
	                 EXIMLOG_AUTH_FAIL);
	assert_ip(&r.ip, "194.169.175.1");
	assert_span(r.user, "uaf589@example.com");
	assert_int_equal(
	    line("2013-06-10 18:33:32 [10099] H=(yakult.example) [202.132.70.178]:3755 "
	         "I=[1.2.3.4]:25 F=<menacedsj04@list.example> rejected RCPT "
	         "dir@ml3.example: relay not permitted",
	         &r),
	    EXIMLOG_REJECT);
	assert_ip(&r.ip, "202.132.70.178");
	assert_span(r.sender, "menacedsj04@list.example");
	assert_span(r.rcpt, "dir@ml3.example");
	assert_span(r.text, "relay not permitted");
}

static void test_other(void **state)
{
	struct eximlog_rec r;
	const char *other[] = {
	    "2016-03-25 15:06:04 Start queue run: pid=123",
	    "2016-03-25 15:06:04 1ajLoq-0001wC-Pk H=x [1.2.3.4] Warning: something",
	    "2016-03-25 15:06:04 1ajLoq-0001wC-P <= a@b", /* 15 characters: not an ID */
	    "2016-03-25 15:06:04 1ajLoq-0001wC-Pk <=",
	    "2016-03-25 15:06:04 1ajLoq-0001wC-Pk ** ",
	    "2016-03-25 15:06:04 rejected RCPT <x>",
	};
	for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
		assert_int_equal(line(other[i], &r), EXIMLOG_OTHER);
	assert_true(eximlog_is_id((struct logspan){"1ajLoq-0001wC-Pk", 16}));
	assert_false(eximlog_is_id((struct logspan){"1ajLoq-0001wCxPk", 16}));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_arrival),
	    cmocka_unit_test(test_deliveries),
	    cmocka_unit_test(test_auth_fail_and_reject),
	    cmocka_unit_test(test_other),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
