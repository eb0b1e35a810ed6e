/*
 * Unit tests for src/smtp/client.c: exact dialogues with and without
 * PIPELINING, STARTTLS and AUTH PLAIN, per-recipient results, RSET before a
 * reused connection, 421 and aborts in the middle, dot-stuffing and line ends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "smtp/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char EHLO_PIPE[] = "250-mx.example Hello\r\n"
                                "250-PIPELINING\r\n"
                                "250-SIZE 1000\r\n"
                                "250-8BITMIME\r\n"
                                "250-DSN\r\n"
                                "250-AUTH LOGIN PLAIN\r\n"
                                "250-STARTTLS\r\n"
                                "250 ENHANCEDSTATUSCODES\r\n";

/* Feeds one server reply; returns the event. */
static enum smtpc_event feed(struct smtpc *c, const char *s)
{
	size_t used = 0;
	enum smtpc_event ev = SMTPC_EV_NONE;
	int rc = smtpc_input(c, s, strlen(s), &used, &ev);
	assert_int_equal(rc, 1);
	assert_int_equal(used, strlen(s));
	return ev;
}

/* The output so far must be exactly want; then it is emptied. */
static void expect_out(struct smtpc *c, const char *want)
{
	assert_string_equal(buf_cstr(&c->out), want);
	buf_reset(&c->out);
}

static void start(struct smtpc *c, const struct smtpc_options *o, const char *ehlo)
{
	assert_int_equal(smtpc_init(c, o), 0);
	assert_int_equal(feed(c, "220 mx.example ESMTP\r\n"), SMTPC_EV_NONE);
	expect_out(c, "EHLO gw.test\r\n");
	assert_int_equal(feed(c, ehlo), SMTPC_EV_READY);
	expect_out(c, "");
}

static const char *const rcpts3[] = {"a@x.test", "b@x.test", "c@x.test"};

static void test_pipelined(void **state)
{
	struct smtpc c;
	struct smtpc_options o = {.helo_name = "gw.test", .tls = SMTPC_TLS_NONE};
	start(&c, &o, EHLO_PIPE);
	assert_true(c.ext & SMTPC_EXT_PIPELINING);
	assert_true(c.ext & SMTPC_EXT_AUTH_PLAIN);
	assert_true(c.ext & SMTPC_EXT_DSN);
	assert_int_equal(c.size_max, 1000);
	unsigned notify[3] = {SMTPC_NOTIFY_FAILURE | SMTPC_NOTIFY_DELAY, 0, SMTPC_NOTIFY_NEVER};
	const char *orcpt[3] = {"rfc822;a@x.test", "", NULL};
	struct smtpc_msg m = {.sender = "s@gw.test",
	                      .nrcpt = 3,
	                      .rcpt = rcpts3,
	                      .size = 10,
	                      .body = "8BITMIME",
	                      .notify = notify,
	                      .orcpt = orcpt,
	                      .envid = "ID1",
	                      .ret = "HDRS"};
	assert_int_equal(smtpc_mail(&c, &m), 0);
	expect_out(&c, "MAIL FROM:<s@gw.test> SIZE=10 BODY=8BITMIME RET=HDRS ENVID=ID1\r\n"
	               "RCPT TO:<a@x.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;a@x.test\r\n"
	               "RCPT TO:<b@x.test>\r\n"
	               "RCPT TO:<c@x.test> NOTIFY=NEVER\r\n"
	               "DATA\r\n");
	assert_int_equal(feed(&c, "250 2.1.0 Ok\r\n"), SMTPC_EV_NONE);
	assert_int_equal(feed(&c, "250 2.1.5 Ok\r\n"), SMTPC_EV_NONE);
	assert_int_equal(feed(&c, "550-5.1.1 <b@x.test>: Recipient\r\n550 5.1.1 unknown\r\n"),
	                 SMTPC_EV_NONE);
	assert_int_equal(feed(&c, "451 4.3.0 try later\r\n"), SMTPC_EV_NONE);
	assert_int_equal(feed(&c, "354 go\r\n"), SMTPC_EV_DATA);
	const char *body = "Subject: x\n\n.dot\r\nbare\rcr\r";
	assert_int_equal(smtpc_data(&c, body, strlen(body)), 0);
	assert_int_equal(smtpc_data(&c, "\n.", 2), 0);
	assert_int_equal(smtpc_data_end(&c), 0);
	expect_out(&c, "Subject: x\r\n\r\n..dot\r\nbare\r\ncr\r\n..\r\n.\r\n");
	assert_int_equal(feed(&c, "250 2.0.0 Ok: queued as X\r\n"), SMTPC_EV_DONE);
	assert_int_equal(smtpc_result(&c, 0)->code, 250);
	assert_string_equal(smtpc_result(&c, 0)->text, "250 2.0.0 Ok: queued as X");
	assert_int_equal(smtpc_result(&c, 1)->code, 550);
	assert_string_equal(smtpc_result(&c, 1)->text,
	                    "550 5.1.1 <b@x.test>: Recipient 5.1.1 unknown");
	assert_int_equal(smtpc_result(&c, 2)->code, 451);
	assert_true(smtpc_usable(&c));
	/* a second message on the same connection: no RSET after a 250 */
	struct smtpc_msg m2 = {.sender = "", .nrcpt = 1, .rcpt = rcpts3, .size = 5};
	assert_int_equal(smtpc_mail(&c, &m2), 0);
	expect_out(&c, "MAIL FROM:<> SIZE=5\r\nRCPT TO:<a@x.test>\r\nDATA\r\n");
	smtpc_free(&c);
}

static void test_not_pipelined(void **state)
{
	struct smtpc c;
	struct smtpc_options o = {.helo_name = "gw.test"};
	start(&c, &o, "250-mx\r\n250 SIZE\r\n");
	struct smtpc_msg m = {.sender = "s@gw.test", .nrcpt = 2, .rcpt = rcpts3, .size = 3};
	assert_int_equal(smtpc_mail(&c, &m), 0);
	expect_out(&c, "MAIL FROM:<s@gw.test> SIZE=3\r\n");
	feed(&c, "250 ok\r\n");
	expect_out(&c, "RCPT TO:<a@x.test>\r\n");
	feed(&c, "550 no\r\n");
	expect_out(&c, "RCPT TO:<b@x.test>\r\n");
	feed(&c, "250 ok\r\n");
	expect_out(&c, "DATA\r\n");
	assert_int_equal(feed(&c, "354 go\r\n"), SMTPC_EV_DATA);
	assert_int_equal(smtpc_data(&c, "x", 1), 0);
	assert_int_equal(smtpc_data_end(&c), 0);
	expect_out(&c, "x\r\n.\r\n");
	assert_int_equal(feed(&c, "554 5.7.1 spam\r\n"), SMTPC_EV_DONE);
	assert_int_equal(smtpc_result(&c, 0)->code, 550);
	assert_int_equal(smtpc_result(&c, 1)->code, 554);
	/* the dot was refused: RSET before the next MAIL, one at a time */
	assert_int_equal(smtpc_mail(&c, &m), 0);
	expect_out(&c, "RSET\r\n");
	feed(&c, "250 ok\r\n");
	expect_out(&c, "MAIL FROM:<s@gw.test> SIZE=3\r\n");
	assert_int_equal(feed(&c, "452 4.3.1 full\r\n"), SMTPC_EV_DONE);
	assert_int_equal(smtpc_result(&c, 0)->code, 452);
	assert_int_equal(smtpc_result(&c, 1)->code, 452);
	smtpc_quit(&c);
	expect_out(&c, "QUIT\r\n");
	assert_int_equal(feed(&c, "221 bye\r\n"), SMTPC_EV_CLOSED);
	assert_int_equal(smtpc_error(&c)->code, 0);
	smtpc_free(&c);
}

static void test_starttls_auth(void **state)
{
	struct smtpc c;
	struct smtpc_options o = {
	    .helo_name = "gw.test", .tls = SMTPC_TLS_MAY, .auth_user = "user", .auth_pass = "pass"};
	assert_int_equal(smtpc_init(&c, &o), 0);
	feed(&c, "220 mx\r\n");
	expect_out(&c, "EHLO gw.test\r\n");
	assert_int_equal(feed(&c, EHLO_PIPE), SMTPC_EV_NONE);
	expect_out(&c, "STARTTLS\r\n");
	assert_int_equal(feed(&c, "220 2.0.0 go ahead\r\n"), SMTPC_EV_TLS);
	smtpc_tls_done(&c);
	expect_out(&c, "EHLO gw.test\r\n");
	assert_int_equal(feed(&c, "250-mx\r\n250 AUTH PLAIN\r\n"), SMTPC_EV_NONE);
	/* base64("\0user\0pass") */
	expect_out(&c, "AUTH PLAIN AHVzZXIAcGFzcw==\r\n");
	assert_int_equal(feed(&c, "235 2.7.0 ok\r\n"), SMTPC_EV_READY);
	assert_true(c.tls_active);
	smtpc_free(&c);

	/* a wrong password defers, it never bounces */
	/* the old AUTH= form counts too */
	assert_int_equal(smtpc_init(&c, &(struct smtpc_options){.helo_name = "gw.test",
	                                                        .auth_user = "u",
	                                                        .auth_pass = "p",
	                                                        .auth_plaintext = true}),
	                 0);
	feed(&c, "220 mx\r\n");
	buf_reset(&c.out);
	assert_int_equal(feed(&c, "250-mx\r\n250 AUTH=PLAIN\r\n"), SMTPC_EV_NONE);
	expect_out(&c, "AUTH PLAIN AHUAcA==\r\n");
	smtpc_free(&c);
	assert_int_equal(smtpc_init(&c, &(struct smtpc_options){.helo_name = "gw.test",
	                                                        .auth_user = "u",
	                                                        .auth_plaintext = true}),
	                 0);
	feed(&c, "220 mx\r\n");
	buf_reset(&c.out);
	assert_int_equal(feed(&c, "250-mx\r\n250 AUTH PLAIN\r\n"), SMTPC_EV_NONE);
	expect_out(&c, "AUTH PLAIN AHUA\r\n");
	assert_int_equal(feed(&c, "535 5.7.8 bad\r\n"), SMTPC_EV_CLOSED);
	assert_int_equal(smtpc_error(&c)->code, 454);
	smtpc_free(&c);

	/* AUTH configured, no TLS: refuse to send the password */
	assert_int_equal(
	    smtpc_init(&c, &(struct smtpc_options){.helo_name = "gw.test", .auth_user = "u"}), 0);
	feed(&c, "220 mx\r\n");
	assert_int_equal(feed(&c, "250-mx\r\n250 AUTH PLAIN\r\n"), SMTPC_EV_CLOSED);
	assert_int_equal(smtpc_error(&c)->code, 450);
	smtpc_free(&c);
}

static void test_tls_required(void **state)
{
	struct smtpc c;
	struct smtpc_options o = {.helo_name = "gw.test", .tls = SMTPC_TLS_ENCRYPT};
	assert_int_equal(smtpc_init(&c, &o), 0);
	feed(&c, "220 mx\r\n");
	assert_int_equal(feed(&c, "250 mx\r\n"), SMTPC_EV_CLOSED);
	assert_int_equal(smtpc_error(&c)->code, 450);
	assert_non_null(strstr(smtpc_error(&c)->text, "4.7.4"));
	smtpc_free(&c);

	/* STARTTLS refused */
	assert_int_equal(smtpc_init(&c, &o), 0);
	feed(&c, "220 mx\r\n");
	feed(&c, "250-mx\r\n250 STARTTLS\r\n");
	assert_int_equal(feed(&c, "454 4.7.0 no\r\n"), SMTPC_EV_CLOSED);
	assert_int_equal(smtpc_error(&c)->code, 450);
	smtpc_free(&c);

	/* opportunistic: refused STARTTLS goes on in plain text */
	o.tls = SMTPC_TLS_MAY;
	assert_int_equal(smtpc_init(&c, &o), 0);
	feed(&c, "220 mx\r\n");
	feed(&c, "250-mx\r\n250 STARTTLS\r\n");
	assert_int_equal(feed(&c, "454 4.7.0 no\r\n"), SMTPC_EV_READY);
	smtpc_free(&c);

	/* injected plain text after 220 to STARTTLS */
	assert_int_equal(smtpc_init(&c, &o), 0);
	feed(&c, "220 mx\r\n");
	feed(&c, "250-mx\r\n250 STARTTLS\r\n");
	const char inj[] = "220 go\r\n250 injected\r\n";
	size_t used;
	enum smtpc_event ev;
	assert_int_equal(smtpc_input(&c, inj, strlen(inj), &used, &ev), 1);
	assert_int_equal(ev, SMTPC_EV_CLOSED);
	assert_int_equal(smtpc_error(&c)->code, 451);
	smtpc_free(&c);
}

static void test_pipelined_rejections(void **state)
{
	struct smtpc c;
	struct smtpc_options o = {.helo_name = "gw.test"};
	start(&c, &o, "250-mx\r\n250 PIPELINING\r\n");
	struct smtpc_msg m = {.sender = "s@gw.test", .nrcpt = 2, .rcpt = rcpts3};
	/* MAIL refused: every recipient gets its reply */
	assert_int_equal(smtpc_mail(&c, &m), 0);
	buf_reset(&c.out);
	feed(&c, "553 5.7.1 sender rejected\r\n");
	feed(&c, "503 5.5.1 need MAIL\r\n");
	feed(&c, "503 5.5.1 need MAIL\r\n");
	assert_int_equal(feed(&c, "554 5.5.1 no valid recipients\r\n"), SMTPC_EV_DONE);
	assert_int_equal(smtpc_result(&c, 0)->code, 553);
	assert_int_equal(smtpc_result(&c, 1)->code, 553);
	/* every RCPT refused, yet 354: send a lone dot, keep the RCPT replies */
	assert_int_equal(smtpc_mail(&c, &m), 0);
	expect_out(&c,
	           "MAIL FROM:<s@gw.test>\r\nRCPT TO:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n");
	feed(&c, "250 ok\r\n");
	feed(&c, "550 no\r\n");
	feed(&c, "450 later\r\n");
	assert_int_equal(feed(&c, "354 go\r\n"), SMTPC_EV_NONE);
	expect_out(&c, ".\r\n");
	assert_int_equal(feed(&c, "554 no recipients\r\n"), SMTPC_EV_DONE);
	assert_int_equal(smtpc_result(&c, 0)->code, 550);
	assert_int_equal(smtpc_result(&c, 1)->code, 450);
	/* the next transaction begins with RSET, pipelined */
	assert_int_equal(smtpc_mail(&c, &m), 0);
	expect_out(&c, "RSET\r\nMAIL FROM:<s@gw.test>\r\nRCPT TO:<a@x.test>\r\nRCPT "
	               "TO:<b@x.test>\r\nDATA\r\n");
	feed(&c, "250 ok\r\n");
	feed(&c, "250 ok\r\n");
	/* 421 in the middle: everything not final gets it, connection unusable */
	assert_int_equal(feed(&c, "421 4.3.2 shutting down\r\n"), SMTPC_EV_DONE);
	assert_int_equal(smtpc_result(&c, 0)->code, 421);
	assert_int_equal(smtpc_result(&c, 1)->code, 421);
	assert_false(smtpc_usable(&c));
	smtpc_free(&c);
}

static void test_abort_and_limits(void **state)
{
	struct smtpc c;
	struct smtpc_options o = {.helo_name = "gw.test"};
	start(&c, &o, "250-mx\r\n250-PIPELINING\r\n250 SIZE 100\r\n");
	struct smtpc_msg big = {.sender = "s@gw.test", .nrcpt = 2, .rcpt = rcpts3, .size = 101};
	assert_int_equal(smtpc_mail(&c, &big), -1);
	assert_int_equal(smtpc_result(&c, 0)->code, 552);
	expect_out(&c, "");
	struct smtpc_msg utf = {
	    .sender = "s@gw.test", .nrcpt = 1, .rcpt = rcpts3, .smtputf8 = true};
	assert_int_equal(smtpc_mail(&c, &utf), -1);
	assert_int_equal(smtpc_result(&c, 0)->code, 550);
	struct smtpc_msg m = {.sender = "s@gw.test", .nrcpt = 2, .rcpt = rcpts3, .size = 1};
	assert_int_equal(smtpc_mail(&c, &m), 0);
	feed(&c, "250 ok\r\n");
	feed(&c, "250 ok\r\n");
	feed(&c, "550 no\r\n");
	assert_int_equal(feed(&c, "354 go\r\n"), SMTPC_EV_DATA);
	/* the connection drops while the data goes out */
	assert_int_equal(smtpc_abort(&c, 451, "451 4.4.2 lost connection"), SMTPC_EV_DONE);
	assert_int_equal(smtpc_result(&c, 0)->code, 451);
	assert_int_equal(smtpc_result(&c, 1)->code, 550);
	assert_false(smtpc_usable(&c));
	assert_int_equal(smtpc_abort(&c, 451, "again"), SMTPC_EV_CLOSED);
	smtpc_free(&c);

	/* refused greeting, HELO fallback, malformed reply */
	assert_int_equal(smtpc_init(&c, &o), 0);
	assert_int_equal(feed(&c, "554 5.7.1 go away\r\n"), SMTPC_EV_CLOSED);
	assert_int_equal(smtpc_error(&c)->code, 554);
	smtpc_free(&c);
	assert_int_equal(smtpc_init(&c, &o), 0);
	feed(&c, "220 old\r\n");
	buf_reset(&c.out);
	assert_int_equal(feed(&c, "502 what\r\n"), SMTPC_EV_NONE);
	expect_out(&c, "HELO gw.test\r\n");
	assert_int_equal(feed(&c, "250 old\r\n"), SMTPC_EV_READY);
	size_t used;
	enum smtpc_event ev;
	assert_int_equal(smtpc_input(&c, "25", 2, &used, &ev), 0);
	assert_int_equal(smtpc_input(&c, "hello\r\n", 7, &used, &ev), -1);
	assert_int_equal(ev, SMTPC_EV_CLOSED);
	smtpc_free(&c);
}

static void test_status_code(void **state)
{
	char s[16];
	struct smtpc_result r = {550, "550 5.1.1 <a@b>: unknown"};
	assert_int_equal(smtpc_status_code(&r, s, sizeof s), 0);
	assert_string_equal(s, "5.1.1");
	struct smtpc_result r2 = {451, "451 try later"};
	assert_int_equal(smtpc_status_code(&r2, s, sizeof s), 0);
	assert_string_equal(s, "4.0.0");
	struct smtpc_result r3 = {550, "550 4.1.1 mismatched"};
	assert_int_equal(smtpc_status_code(&r3, s, sizeof s), 0);
	assert_string_equal(s, "5.0.0");
	struct smtpc_result r4 = {250, "250 2.0.0"};
	assert_int_equal(smtpc_status_code(&r4, s, sizeof s), 0);
	assert_string_equal(s, "2.0.0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pipelined),
	    cmocka_unit_test(test_not_pipelined),
	    cmocka_unit_test(test_starttls_auth),
	    cmocka_unit_test(test_tls_required),
	    cmocka_unit_test(test_pipelined_rejections),
	    cmocka_unit_test(test_abort_and_limits),
	    cmocka_unit_test(test_status_code),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
