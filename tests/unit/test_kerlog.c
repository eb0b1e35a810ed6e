/*
 * Unit tests for src/forensics/kerlog.c: Kerio Connect security.log and
 * mail.log lines in the forms of Kerio's administrator's guide and GFI's
 * knowledge base (tests/data/kerio/README.md), and malformed lines (a clean
 * -1 or OTHER, never a span outside the line).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "forensics/kerlog.h"
#include "logtest.h"

#include <stdlib.h>
#include <string.h>

static int parse(const char *s, struct srvlog_rec *r)
{
	return kerlog_parse(s, strlen(s), r);
}

static void test_security(void **state)
{
	struct srvlog_rec r;
	assert_int_equal(
	    parse("[17/Nov/2023 11:31:07] Failed SMTP login from 192.0.2.7 with SASL method LOGIN.",
	          &r),
	    0);
	assert_int_equal(r.kind, SRVLOG_AUTH_FAIL);
	assert_true(r.has_ip);
	assert_ip(&r.ip, "192.0.2.7");
	assert_int_equal(r.user.len, 0);
	/* 2023-11-17T11:31:07Z */
	assert_int_equal(r.time_ms, 1700220667000LL);

	assert_int_equal(parse("[13/Apr/2004 17:35:49] Failed IMAP login from 192.168.36.139, "
	                       "missing parameter in AUTHENTICATE header",
	                       &r),
	                 0);
	assert_int_equal(r.kind, SRVLOG_AUTH_FAIL);
	assert_ip(&r.ip, "192.168.36.139");

	/* a host name: a failure without an IP */
	assert_int_equal(parse("[17/Nov/2023 11:31:07] Failed SMTP login from "
	                       "suspiciousdomain1.com with SASL method LOGIN.",
	                       &r),
	                 0);
	assert_int_equal(r.kind, SRVLOG_AUTH_FAIL);
	assert_false(r.has_ip);

	assert_int_equal(parse("[17/Nov/2023 11:31:00] SMTP: User user1@example.com doesn't exist. "
	                       "Attempt from IP address 203.0.113.5.",
	                       &r),
	                 0);
	assert_int_equal(r.kind, SRVLOG_AUTH_FAIL);
	assert_span(r.user, "user1@example.com");
	assert_ip(&r.ip, "203.0.113.5");

	assert_int_equal(parse("[17/Nov/2023 11:31:08] SMTP: AntiHammering - IP address 192.0.2.7 "
	                       "will be blocked for 5 minutes, too many failed logins from this "
	                       "IP address.",
	                       &r),
	                 0);
	assert_int_equal(r.kind, SRVLOG_OTHER);
}

/* The lines of fail2ban's test log for its kerio filter
 * (fail2ban/tests/files/logs/kerio): the ones logscan has an event for. */
static void test_fail2ban_lines(void **state)
{
	struct srvlog_rec r;
	assert_int_equal(parse("[18/May/2017 07:25:15] Failed SMTP login from 212.92.127.112 with "
	                       "SASL method CRAM-MD5.",
	                       &r),
	                 0);
	assert_int_equal(r.kind, SRVLOG_AUTH_FAIL);
	assert_ip(&r.ip, "212.92.127.112");
	assert_int_equal(parse("[17/May/2017 19:43:42] SMTP: User printer@verinion.com doesn't "
	                       "exist. Attempt from IP address 185.140.108.26.",
	                       &r),
	                 0);
	assert_int_equal(r.kind, SRVLOG_AUTH_FAIL);
	assert_span(r.user, "printer@verinion.com");
	assert_ip(&r.ip, "185.140.108.26");
	assert_int_equal(
	    parse("[17/May/2017 19:45:27] Administration login into Web Administration "
	          "from 170.178.167.136 failed: IP address not allowed",
	          &r),
	    0);
	assert_int_equal(r.kind, SRVLOG_AUTH_FAIL);
	assert_ip(&r.ip, "170.178.167.136");
	assert_int_equal(parse("[30/Dec/2013 05:27:59] Relay attempt from IP address 64.31.59.75, "
	                       "mail from <smtp2001soho@yahoo.com> to <reply-abuse@bol.com.br> "
	                       "rejected",
	                       &r),
	                 0);
	assert_int_equal(r.kind, SRVLOG_REJECT);
	assert_ip(&r.ip, "64.31.59.75");
	assert_span(r.sender, "smtp2001soho@yahoo.com");
	assert_span(r.rcpt, "reply-abuse@bol.com.br");
	assert_int_equal(parse("[17/Jun/2011 17:00:45] Attempt to deliver to unknown recipient "
	                       "<advertise@aplawrence.com>, from <bekytnabvnvyx@aapug.org>, IP "
	                       "address 200.90.149.178",
	                       &r),
	                 0);
	assert_int_equal(r.kind, SRVLOG_REJECT);
	assert_ip(&r.ip, "200.90.149.178");
	assert_span(r.rcpt, "advertise@aplawrence.com");
	assert_span(r.sender, "bekytnabvnvyx@aapug.org");
	/* lines fail2ban matches that are no login and no refused recipient */
	assert_int_equal(parse("[18/Jan/2014 06:41:25] SMTP Spam attack detected from "
	                       "202.169.236.195, client closed connection before SMTP greeting",
	                       &r),
	                 0);
	assert_int_equal(r.kind, SRVLOG_OTHER);
}

static void test_mail(void **state)
{
	struct srvlog_rec r;
	assert_int_equal(parse("[30/Nov/2005 17:57:14] Recv: Queue-ID: 438dd9ea-00000000, "
	                       "Service: SMTP, From: <jwayne@company.com>, To: "
	                       "<jwayne@company.com>, Size: 1229, User: jwayne@company.com, "
	                       "Sender-Host: 195.39.55.2, SSL: yes",
	                       &r),
	                 0);
	assert_int_equal(r.kind, SRVLOG_RECEIVED);
	assert_span(r.id, "438dd9ea-00000000");
	assert_span(r.sender, "jwayne@company.com");
	assert_span(r.user, "jwayne@company.com");
	assert_ip(&r.ip, "195.39.55.2");
	assert_int_equal(r.size, 1229);
	assert_int_equal(r.nrcpt, 1);
	assert_false(r.generated);

	/* several recipients in To:, no User: (not authenticated) */
	assert_int_equal(parse("[02/Dec/2026 20:00:00] Recv: Queue-ID: 6929f3a5-00000010, "
	                       "Service: SMTP, From: <x@bad.example>, To: <a@far1.example>, "
	                       "<b@far2.example>, Size: 1800, Sender-Host: 203.0.113.150, SSL: no",
	                       &r),
	                 0);
	assert_int_equal(r.nrcpt, 2);
	assert_int_equal(r.user.len, 0);
	assert_int_equal(r.size, 1800);

	/* a DSN the server made: the empty From, no account */
	assert_int_equal(parse("[30/Nov/2005 15:31:40] Recv: Queue-ID: 438db7cc-00000000, "
	                       "Service: DSN, From: <>, To: <x@example.com>, Size: 1650, "
	                       "Report: failed",
	                       &r),
	                 0);
	assert_true(r.generated);
	assert_false(r.autoreply);
	assert_int_equal(r.sender.len, 0);

	/* a null-sender message naming an account: its automatic reply */
	assert_int_equal(
	    parse("[03/Dec/2026 09:00:03] Recv: Queue-ID: 6929f3a5-00000099, From: <>, "
	          "To: <probe1@forged1.example>, Size: 812, User: bob@corp.example",
	          &r),
	    0);
	assert_true(r.generated);
	assert_true(r.autoreply);
	assert_span(r.user, "bob@corp.example");

	assert_int_equal(parse("[30/Nov/2005 17:57:15] Sent: Queue-ID: 438dd9ea-00000000, "
	                       "Recipient: <wsmith@company.com>, Result: delivered, Status: 2.0.0",
	                       &r),
	                 0);
	assert_int_equal(r.kind, SRVLOG_SENT);
	assert_span(r.rcpt, "wsmith@company.com");
	assert_false(r.remote);
	assert_false(r.failed);

	assert_int_equal(parse("[02/Dec/2026 14:00:02] Sent: Queue-ID: 6929f3a5-00000011, "
	                       "Recipient: <v1@target1.example>, Result: failed, Status: 5.1.1, "
	                       "Remote-Host: 192.0.2.40",
	                       &r),
	                 0);
	assert_true(r.remote);
	assert_true(r.failed);
	assert_ip(&r.ip, "192.0.2.40");
}

static void test_malformed(void **state)
{
	struct srvlog_rec r;
	const char *notkerio[] = {
	    "",
	    "[",
	    "[17/Nov/2023 11:31:07",
	    "[32/Nov/2023 11:31:07] Failed SMTP login from 192.0.2.7",
	    "[17/Xyz/2023 11:31:07] Failed SMTP login from 192.0.2.7",
	    "[17/Nov/2023 24:31:07] x",
	    "[17/Nov/20x3 11:31:07] x",
	    "Nov 17 11:31:07 host postfix/smtpd[1]: connect",
	};
	for (size_t i = 0; i < sizeof notkerio / sizeof notkerio[0]; i++)
		assert_int_equal(parse(notkerio[i], &r), -1);
	const char *other[] = {
	    "[17/Nov/2023 11:31:07] Failed SMTP login from",
	    "[17/Nov/2023 11:31:07] Failed SMTP login from ",
	    "[17/Nov/2023 11:31:07] Recv: ",
	    "[17/Nov/2023 11:31:07] Recv: Queue-ID: ",
	    "[17/Nov/2023 11:31:07] Sent: Recipient: <a>",
	    "[17/Nov/2023 11:31:07] SMTP: User  doesn't exist. Attempt from IP address ",
	    "[17/Nov/2023 11:31:07] doesn't exist. Attempt from IP address 1.2.3.4 SMTP: User x",
	};
	for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
		size_t n = strlen(other[i]);
		char *copy = malloc(n + 1); /* exact size: ASan sees any read past it */
		assert_non_null(copy);
		memcpy(copy, other[i], n + 1);
		assert_int_equal(kerlog_parse(copy, n, &r), 0);
		assert_false(r.has_ip && r.kind == SRVLOG_RECEIVED && r.id.len == 0);
		free(copy);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_security),
	    cmocka_unit_test(test_fail2ban_lines),
	    cmocka_unit_test(test_mail),
	    cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
