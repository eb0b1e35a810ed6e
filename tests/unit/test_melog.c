/*
 * Unit tests for src/forensics/melog.c and the MailEnable part of srvlog.c:
 * SMTP activity log lines as in MailEnable KB ME020170 and the public pastes
 * of tests/data/mailenable/README.md (there shown with spaces for tabs), a
 * session's lines joined into one message, and malformed lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "forensics/melog.h"
#include "forensics/srvlog.h"
#include "srvlogtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID "40B24E176E7A4DA0BA22B600D60839BF.MAI"
#define IN "05/24/17 16:04:36\tSMTP-IN\t" ID "\t880\t60.51.110.142\t"

static void test_line(void **state)
{
	struct melog_line l;
	const char *s = IN "AUTH\t{blank}\t235 Authenticated\t19\t42\tsaifullah@iniaga.com";
	assert_int_equal(melog_parse(s, strlen(s), &l), 0);
	assert_true(l.inbound);
	assert_span(l.id, "40B24E176E7A4DA0BA22B600D60839BF"); /* ".MAI" is not part of it */
	assert_span(l.cmd, "AUTH");
	assert_span(l.reply, "235 Authenticated");
	assert_span(l.account, "saifullah@iniaga.com");
	assert_ip(&l.ip, "60.51.110.142");
	/* 2017-05-24T16:04:36Z */
	assert_int_equal(l.time_ms, 1495641876000LL);

	s = "04/22/11 13:15:51\tSMTP-OU\tD3C89D8432AF41.MAI\t208\t192.0.2.40\tRCPT\t"
	    "RCPT TO:<bolmasov@gmail.com>\t250 OK\t10\t20\t";
	assert_int_equal(melog_parse(s, strlen(s), &l), 0);
	assert_false(l.inbound);
	assert_span(melog_addr(l.arg), "bolmasov@gmail.com");
	assert_int_equal(l.account.len, 0);

	assert_span(melog_addr((struct logspan){"MAIL FROM: <a@b.example> SIZE=12", 32}),
	            "a@b.example");
	assert_span(melog_addr((struct logspan){"MAIL FROM:<>", 12}), "");
	assert_span(melog_addr((struct logspan){"RCPT TO:c@d", 11}), "c@d");
	assert_span(melog_addr((struct logspan){"QUIT", 4}), "");
}

static void test_session(void **state)
{
	struct srvlog v;
	struct srvlog_rec r;
	assert_int_equal(srvlog_init(&v), 0);
	srvlog_file_init(&F);
	assert_int_equal(feed(&v, IN "AUTH\tAUTH LOGIN\t334 VXNlcm5hbWU6\t18\t12\t", &r), 0);
	assert_int_equal(r.kind, SRVLOG_OTHER);
	assert_int_equal(F.format, SRVLOG_MAILENABLE);
	assert_int_equal(
	    feed(&v, IN "AUTH\t{blank}\t535 Invalid Username or Password\t40\t12\tadmin@iniaga.com",
	         &r),
	    0);
	assert_int_equal(r.kind, SRVLOG_AUTH_FAIL);
	assert_span(r.user, "admin@iniaga.com");
	assert_ip(&r.ip, "60.51.110.142");
	assert_int_equal(
	    feed(&v, IN "AUTH\t{blank}\t235 Authenticated\t19\t42\tsaifullah@iniaga.com", &r), 0);
	assert_int_equal(r.kind, SRVLOG_AUTH_OK);
	assert_span(r.user, "saifullah@iniaga.com");
	assert_int_equal(feed(&v,
	                      IN "MAIL\tMAIL FROM: <saifullah@iniaga.com>\t250 Requested mail "
	                         "action okay, completed\t43\t35\tsaifullah@iniaga.com",
	                      &r),
	                 0);
	assert_int_equal(feed(&v,
	                      IN "RCPT\tRCPT TO: <saifullahghazy@gmail.com>\t250 Requested mail "
	                         "action okay, completed\t43\t37\tsaifullah@iniaga.com",
	                      &r),
	                 0);
	assert_int_equal(feed(&v,
	                      IN "RCPT\tRCPT TO: <nobody@example.com>\t550 Requested action not "
	                         "taken\t43\t37\tsaifullah@iniaga.com",
	                      &r),
	                 0);
	assert_int_equal(feed(&v,
	                      IN "RCPT\tRCPT TO: <support@247livesupport.biz>\t250 Requested mail "
	                         "action okay, completed\t43\t39\tsaifullah@iniaga.com",
	                      &r),
	                 0);
	assert_int_equal(r.kind, SRVLOG_OTHER);
	assert_int_equal(feed(&v,
	                      IN "DATA\tDATA\t354 Start mail input; end with "
	                         "<CRLF>.<CRLF>\t46\t6\tsaifullah@iniaga.com",
	                      &r),
	                 0);
	assert_int_equal(r.kind, SRVLOG_RECEIVED);
	assert_span(r.id, "40B24E176E7A4DA0BA22B600D60839BF");
	assert_span(r.user, "saifullah@iniaga.com");
	assert_span(r.sender, "saifullah@iniaga.com");
	assert_span(r.rcpt, "saifullahghazy@gmail.com");
	assert_int_equal(r.nrcpt, 2); /* the refused one is not counted */
	assert_ip(&r.ip, "60.51.110.142");
	assert_false(r.generated);

	/* MailEnable delivering a message it made itself (null sender) */
	const char *ou = "05/24/17 16:05:00\tSMTP-OU\tAAAA.MAI\t900\t192.0.2.40\t";
	char buf[256];
	(void)snprintf(buf, sizeof buf, "%sMAIL\tMAIL FROM:<>\t250 Ok\t1\t1\t", ou);
	assert_int_equal(feed(&v, buf, &r), 0);
	assert_int_equal(r.kind, SRVLOG_RECEIVED);
	assert_true(r.generated);
	assert_int_equal(r.sender.len, 0);
	(void)snprintf(buf, sizeof buf, "%sRCPT\tRCPT TO:<x@forged.example>\t550 no\t1\t1\t", ou);
	assert_int_equal(feed(&v, buf, &r), 0);
	assert_int_equal(r.kind, SRVLOG_SENT);
	assert_true(r.remote);
	assert_true(r.failed);
	assert_span(r.rcpt, "x@forged.example");
	srvlog_free(&v);
}

static void test_malformed(void **state)
{
	struct melog_line l;
	const char *bad[] = {
	    "",
	    "05/24/17 16:04:36",
	    "05/24/17 16:04:36\t",
	    "05/24/17 16:04:36\tSMTP-IN\tX\t1\t2",
	    "05/24/17 16:04:36\tPOP3-IN\tX\t1\t2\t3\t4\t5",
	    "13/24/17 16:04:36\tSMTP-IN\tX\t1\t2\t3\t4\t5",
	    "05/24/17 16:04:3x\tSMTP-IN\tX\t1\t2\t3\t4\t5",
	    "05-24-17 16:04:36\tSMTP-IN\tX\t1\t2\t3\t4\t5",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t n = strlen(bad[i]);
		char *copy = malloc(n + 1);
		assert_non_null(copy);
		memcpy(copy, bad[i], n + 1);
		assert_int_equal(melog_parse(copy, n, &l), -1);
		free(copy);
	}
	/* a DATA with no MAIL before it, an AUTH with no account: no record */
	struct srvlog v;
	struct srvlog_rec r;
	assert_int_equal(srvlog_init(&v), 0);
	srvlog_file_init(&F);
	assert_int_equal(feed(&v, IN "DATA\tDATA\t354 go\t1\t1\t", &r), 0);
	assert_int_equal(r.kind, SRVLOG_OTHER);
	assert_int_equal(feed(&v, IN "AUTH\t{blank}\t235 Authenticated\t1\t1\t", &r), 0);
	assert_int_equal(r.kind, SRVLOG_OTHER);
	assert_int_equal(feed(&v, IN "RCPT\t\t\t\t\t", &r), 0);
	/* once the file is MailEnable's, another line is not read as one */
	assert_int_equal(feed(&v, "Nov  2 10:00:00 mx postfix/smtpd[1]: connect", &r), -1);
	srvlog_free(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_line),
	    cmocka_unit_test(test_session),
	    cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
