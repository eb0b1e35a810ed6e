/*
 * Unit tests for src/smtp/session.c: exact dialogues through the pure state
 * machine (curl's tests/data style): commands, extensions, pipelining, async
 * completions, limits, relay decision, STARTTLS injection, AUTH PLAIN/LOGIN,
 * BDAT, smuggling (one message or a refusal, never two), the Received header.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/version.h"
#include "core/str.h"
#include "forensics/received.h"
#include "smtp/sasl.h"
#include "smtp/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fake {
	struct relay_policy policy;
	struct prefix_set *trusted;
	struct smtp_session_config cfg;
	struct smtp_session_ops ops;
	struct smtp_session *s;
	struct buf out; /* all replies so far */
	struct buf msg; /* content of the open message */
	int messages;   /* committed */
	char last_msg[4096];
	size_t last_len;
	int aborted;
	bool async; /* leave MAIL/RCPT/AUTH/DATA pending */
	const char *mail_reply;
	int tls_calls;
	char auth_user[64];
	char auth_mech[16];
};

static void f_start_tls(void *arg, struct smtp_session *s)
{
	struct fake *f = arg;
	f->tls_calls++;
}

static void f_auth(void *arg, struct smtp_session *s, const char *mech, const char *authzid,
                   const char *user, const char *pw)
{
	struct fake *f = arg;
	snprintf(f->auth_user, sizeof f->auth_user, "%s", user);
	snprintf(f->auth_mech, sizeof f->auth_mech, "%s", mech);
	if (f->async)
		return;
	bool ok = strcmp(user, "sam") == 0 && strcmp(pw, "secret") == 0 && authzid[0] == '\0';
	smtp_session_reply_auth(s, ok ? SMTP_SESSION_AUTH_OK : SMTP_SESSION_AUTH_FAIL);
}

static void f_mail(void *arg, struct smtp_session *s, const struct smtp_address *from)
{
	struct fake *f = arg;
	if (!f->async)
		smtp_session_reply_policy(s, f->mail_reply);
}

static void f_rcpt(void *arg, struct smtp_session *s, const struct smtp_address *rcpt,
                   const struct relay_decision *d)
{
	struct fake *f = arg;
	if (!f->async)
		smtp_session_reply_policy(s, NULL);
}

static int f_data_start(void *arg, struct smtp_session *s)
{
	struct fake *f = arg;
	buf_reset(&f->msg);
	return 0;
}

static int f_data_chunk(void *arg, struct smtp_session *s, const char *p, size_t n)
{
	struct fake *f = arg;
	return buf_append(&f->msg, p, n);
}

static void f_data_end(void *arg, struct smtp_session *s)
{
	struct fake *f = arg;
	f->messages++;
	f->last_len = f->msg.len < sizeof f->last_msg ? f->msg.len : sizeof f->last_msg - 1;
	memcpy(f->last_msg, buf_cstr(&f->msg), f->last_len);
	f->last_msg[f->last_len] = '\0';
	if (!f->async)
		smtp_session_reply_data(s, true, "ABCDEF0123456789");
}

static void f_data_abort(void *arg, struct smtp_session *s, const char *why)
{
	struct fake *f = arg;
	f->aborted++;
}

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof *f);
	relay_domains_init(&f->policy.domains);
	if (relay_domains_add(&f->policy.domains, "local.test", 10) != 0)
		return -1;
	f->trusted = prefix_set_new();
	char err[64];
	if (prefix_set_add_list(f->trusted, "10.0.0.0/8", err, sizeof err) != 0)
		return -1;
	f->policy.trusted_networks = f->trusted;
	smtp_session_config_defaults(&f->cfg);
	f->cfg.hostname = "mx.local.test";
	f->cfg.relay = &f->policy;
	f->ops = (struct smtp_session_ops){
	    .start_tls = f_start_tls,
	    .auth = f_auth,
	    .mail = f_mail,
	    .rcpt = f_rcpt,
	    .data_start = f_data_start,
	    .data_chunk = f_data_chunk,
	    .data_end = f_data_end,
	    .data_abort = f_data_abort,
	};
	buf_init(&f->out, 1 << 20);
	buf_init(&f->msg, 1 << 20);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;
	smtp_session_free(f->s);
	prefix_set_free(f->trusted);
	buf_free(&f->out);
	buf_free(&f->msg);
	free(f);
	return 0;
}

/* Starts a session from ip ("" for none) and eats the greeting. */
static void start(struct fake *f, const char *ip)
{
	struct addr a;
	if (ip[0])
		assert_int_equal(addr_parse(ip, strlen(ip), &a), 0);
	f->s = smtp_session_new(&f->cfg, &f->ops, f, ip[0] ? &a : NULL, "client.example");
	assert_non_null(f->s);
	struct buf *o = smtp_session_output(f->s);
	char want[200];
	snprintf(want, sizeof want, "220 mx.local.test ESMTP relayguard (%s)\r\n", rg_version());
	assert_string_equal(buf_cstr(o), want);
	buf_reset(o);
}

/* Feeds bytes; returns every reply they produced (static buffer). */
static const char *feedn(struct fake *f, const char *in, size_t len)
{
	static char last[65536];
	size_t took = smtp_session_feed(f->s, in, len);
	assert_int_equal(took, len);
	struct buf *o = smtp_session_output(f->s);
	size_t n = o->len < sizeof last - 1 ? o->len : sizeof last - 1;
	memcpy(last, buf_cstr(o), n);
	last[n] = '\0';
	assert_int_equal(buf_append(&f->out, o->data ? o->data : "", o->len), 0);
	buf_reset(o);
	return last;
}

static const char *feed(struct fake *f, const char *in)
{
	return feedn(f, in, strlen(in));
}

/* The reply codes in order, e.g. "250 250 354". */
static const char *codes(const char *replies)
{
	static char c[4096];
	size_t n = 0;
	const char *p = replies;
	while (*p && n + 5 < sizeof c) {
		const char *eol = strstr(p, "\r\n");
		if (!eol)
			break;
		if (eol - p >= 4 && p[3] == ' ') {
			memcpy(c + n, p, 3);
			n += 3;
			c[n++] = ' ';
		}
		p = eol + 2;
	}
	if (n)
		n--;
	c[n] = '\0';
	return c;
}

static void test_ehlo_extensions(void **state)
{
	struct fake *f = *state;
	f->cfg.tls_available = true;
	f->cfg.auth_enabled = true;
	start(f, "203.0.113.9");
	const char *r = feed(f, "EHLO client.example\r\n");
	assert_non_null(strstr(r, "250-mx.local.test\r\n"));
	assert_non_null(strstr(r, "250-PIPELINING\r\n"));
	assert_non_null(strstr(r, "250-SIZE 10240000\r\n"));
	assert_non_null(strstr(r, "250-STARTTLS\r\n"));
	assert_non_null(strstr(r, "250-ENHANCEDSTATUSCODES\r\n"));
	assert_non_null(strstr(r, "250-8BITMIME\r\n"));
	assert_non_null(strstr(r, "250-DSN\r\n"));
	assert_non_null(strstr(r, "250-SMTPUTF8\r\n"));
	assert_non_null(strstr(r, "250 CHUNKING\r\n"));
	assert_null(strstr(r, "AUTH")); /* not before TLS */
	assert_string_equal(feed(f, "HELO x\r\n"), "250 mx.local.test\r\n");
	assert_string_equal(codes(feed(f, "EHLO\r\n")), "501");
}

static void test_transaction(void **state)
{
	struct fake *f = *state;
	start(f, "203.0.113.9");
	assert_string_equal(codes(feed(f, "EHLO c\r\n")), "250");
	assert_string_equal(feed(f, "MAIL FROM:<a@remote.test> SIZE=100 BODY=8BITMIME\r\n"),
	                    "250 2.1.0 Ok\r\n");
	assert_string_equal(feed(f, "RCPT TO:<bob@local.test>\r\n"), "250 2.1.5 Ok\r\n");
	assert_string_equal(feed(f, "DATA\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
	assert_int_equal(smtp_session_state(f->s), SMTP_SESSION_DATA);
	assert_string_equal(feed(f, "Subject: x\r\n\r\n..hi\r\n.\r\n"),
	                    "250 2.0.0 Ok: queued as ABCDEF0123456789\r\n");
	assert_int_equal(f->messages, 1);
	assert_string_equal(f->last_msg, "Subject: x\r\n\r\n.hi\r\n");
	assert_int_equal(smtp_session_state(f->s), SMTP_SESSION_READY);
	assert_string_equal(feed(f, "QUIT\r\n"), "221 2.0.0 Bye\r\n");
	assert_true(smtp_session_should_close(f->s));
}

static void test_pipelining(void **state)
{
	struct fake *f = *state;
	start(f, "10.1.1.1");
	const char *r = feed(f, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@far.test>\r\n"
	                        "RCPT TO:<y@far.test>\r\nDATA\r\nhello\r\n.\r\nNOOP\r\nQUIT\r\n");
	assert_string_equal(codes(r), "250 250 250 250 354 250 250 221");
	assert_int_equal(f->messages, 1);
	assert_string_equal(f->last_msg, "hello\r\n");
}

static void test_async_completion(void **state)
{
	struct fake *f = *state;
	f->async = true;
	start(f, "10.1.1.1");
	assert_string_equal(
	    codes(feed(f, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@far.test>\r\n")), "250");
	assert_int_equal(smtp_session_pending(f->s), SMTP_SESSION_PENDING_MAIL);
	assert_int_equal(smtp_session_reply_auth(f->s, SMTP_SESSION_AUTH_OK), -1);
	assert_int_equal(smtp_session_reply_policy(f->s, NULL), 0);
	assert_int_equal(smtp_session_pending(f->s), SMTP_SESSION_PENDING_RCPT);
	assert_int_equal(smtp_session_reply_policy(f->s, "550 5.7.1 blocked by policy"), 0);
	assert_string_equal(codes(feed(f, "")), "250 550");
	assert_int_equal(smtp_session_state(f->s), SMTP_SESSION_MAIL);
	/* A bad reply from the caller becomes a 451. */
	feed(f, "RCPT TO:<z@far.test>\r\n");
	assert_int_equal(smtp_session_reply_policy(f->s, "250 oops"), 0);
	assert_string_equal(feed(f, ""), "451 4.3.0 Error: temporary policy failure\r\n");
	feed(f, "RCPT TO:<z@far.test>\r\n");
	smtp_session_reply_policy(f->s, NULL);
	assert_string_equal(codes(feed(f, "DATA\r\nx\r\n.\r\nNOOP\r\n")), "250 354");
	assert_int_equal(smtp_session_pending(f->s), SMTP_SESSION_PENDING_DATA);
	assert_int_equal(
	    smtp_session_reply_data(f->s, false, "452 4.3.1 Insufficient system storage"), 0);
	assert_string_equal(codes(feed(f, "")), "452 250");
}

static void test_input_limit_while_pending(void **state)
{
	struct fake *f = *state;
	f->async = true;
	f->cfg.input_limit = 100; /* raised to a whole SASL line */
	start(f, "10.1.1.1");
	feed(f, "EHLO c\r\nMAIL FROM:<a@b.test>\r\n");
	static char big[100000];
	memset(big, 'N', sizeof big);
	size_t took = smtp_session_feed(f->s, big, sizeof big);
	assert_true(took < sizeof big);
	assert_true(took > 0);
}

static void test_smuggling(void **state)
{
	static const char *const eod[] = {"\n.\n",   "\n.\r",   "\r.\n",   "\r.\r",      "\n.\r\n",
	                                  "\r.\r\n", "\r\n.\n", "\r\n.\r", "\r\n.\r\r\n"};
	for (size_t i = 0; i < sizeof eod / sizeof eod[0]; i++) {
		struct fake *f = *state;
		start(f, "10.1.1.1");
		char in[1024];
		snprintf(
		    in, sizeof in,
		    "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@far.test>\r\nDATA\r\n"
		    "Subject: one\r\n\r\nbody%smail FROM:<evil@b.test>\r\nrcpt TO:<v@far.test>\r\n"
		    "data\r\nSubject: two\r\n\r\nsmuggled\r\n.\r\nQUIT\r\n",
		    eod[i]);
		const char *r = feed(f, in);
		assert_string_equal(codes(r), "250 250 250 354 550 221");
		assert_int_equal(f->messages, 0);
		assert_int_equal(f->aborted, 1);
		smtp_session_free(f->s);
		f->s = NULL;
		f->aborted = 0;
	}
}

static void test_bare_newlines_in_commands(void **state)
{
	struct fake *f = *state;
	start(f, "10.1.1.1");
	assert_string_equal(feed(f, "EHLO c\n"), "500 5.5.2 Error: bare <LF> received\r\n");
	assert_string_equal(feed(f, "EHLO c\rMAIL FROM:<a@b>\r\n"),
	                    "500 5.5.2 Error: bare <CR> received\r\n");
	assert_string_equal(feedn(f, "NOOP\0x\r\n", 8),
	                    "500 5.5.2 Error: NUL character received\r\n");
	assert_int_equal(smtp_session_state(f->s), SMTP_SESSION_CONNECTED);
}

static void test_line_too_long(void **state)
{
	struct fake *f = *state;
	start(f, "10.1.1.1");
	static char line[5000];
	memset(line, 'a', sizeof line);
	assert_string_equal(feedn(f, line, sizeof line), "500 5.5.0 Error: line too long\r\n");
	assert_string_equal(feed(f, "aaaa\r\n"), ""); /* the rest of that line */
	assert_string_equal(codes(feed(f, "NOOP\r\n")), "250");
	memcpy(line + 2100, "\r\n", 2);
	assert_string_equal(codes(feedn(f, line, 2102)), "500");
}

static void test_sequence_errors(void **state)
{
	struct fake *f = *state;
	start(f, "10.1.1.1");
	assert_string_equal(feed(f, "MAIL FROM:<a@b.test>\r\n"),
	                    "503 5.5.1 Error: send HELO/EHLO first\r\n");
	feed(f, "EHLO c\r\n");
	assert_string_equal(feed(f, "RCPT TO:<a@b.test>\r\n"),
	                    "503 5.5.1 Error: need MAIL command\r\n");
	assert_string_equal(feed(f, "DATA\r\n"), "503 5.5.1 Error: need RCPT command\r\n");
	feed(f, "MAIL FROM:<a@b.test>\r\n");
	assert_string_equal(feed(f, "MAIL FROM:<a@b.test>\r\n"),
	                    "503 5.5.1 Error: nested MAIL command\r\n");
	assert_string_equal(feed(f, "DATA\r\n"), "554 5.5.1 Error: no valid recipients\r\n");
	assert_string_equal(feed(f, "FOO\r\n"), "500 5.5.2 Error: command not recognized\r\n");
	assert_string_equal(codes(feed(f, "VRFY root\r\nEXPN x\r\nHELP\r\nRSET\r\n")),
	                    "502 502 214 250");
	assert_string_equal(codes(feed(f, "MAIL TO:<a@b>\r\nMAIL FROM:<a@@b>\r\n")), "501 501");
	assert_string_equal(codes(feed(f, "MAIL FROM:<a@b.test> FOO=1\r\n")), "555");
	assert_string_equal(codes(feed(f, "GET / HTTP/1.0\r\n")), "521");
	assert_true(smtp_session_should_close(f->s));
}

static void test_hard_error_limit(void **state)
{
	struct fake *f = *state;
	f->cfg.hard_error_limit = 3;
	f->cfg.soft_error_limit = 0;
	start(f, "10.1.1.1");
	assert_string_equal(codes(feed(f, "A\r\nB\r\nC\r\nD\r\n")), "500 500 500 421");
	assert_true(smtp_session_should_close(f->s));
	assert_string_equal(feed(f, "NOOP\r\n"), "");
}

static void test_tarpit(void **state)
{
	struct fake *f = *state;
	f->cfg.soft_error_limit = 1;
	start(f, "10.1.1.1");
	assert_string_equal(codes(feed(f, "A\r\nB\r\nC\r\nD\r\n")), "500 500");
	assert_true(smtp_session_tarpit(f->s));
	assert_string_equal(codes(feed(f, "")), "500");
	assert_string_equal(codes(feed(f, "")), "500");
	assert_string_equal(codes(feed(f, "")), "");
}

static void test_junk_limit(void **state)
{
	struct fake *f = *state;
	f->cfg.junk_command_limit = 2;
	start(f, "10.1.1.1");
	assert_string_equal(codes(feed(f, "NOOP\r\nNOOP\r\nNOOP\r\n")), "250 250 421");
	assert_true(smtp_session_should_close(f->s));
}

static void test_recipient_limit(void **state)
{
	struct fake *f = *state;
	f->cfg.recipient_limit = 2;
	start(f, "10.1.1.1");
	assert_string_equal(codes(feed(f, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<a@x.test>\r\n"
	                                  "RCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\n")),
	                    "250 250 250 250 452");
	assert_int_equal(smtp_session_rcpt_count(f->s), 2);
	assert_string_equal(feed(f, "RCPT TO:<d@x.test>\r\n"),
	                    "452 4.5.3 Error: too many recipients\r\n");
}

static void test_size_limits(void **state)
{
	struct fake *f = *state;
	f->cfg.message_size_limit = 20;
	start(f, "10.1.1.1");
	feed(f, "EHLO c\r\n");
	assert_string_equal(feed(f, "MAIL FROM:<a@b.test> SIZE=21\r\n"),
	                    "552 5.3.4 Error: message size exceeds fixed limit\r\n");
	const char *r = feed(f, "MAIL FROM:<a@b.test> SIZE=20\r\nRCPT TO:<x@y.test>\r\nDATA\r\n"
	                        "0123456789012345678901234567890\r\n.\r\n");
	assert_string_equal(codes(r), "250 250 354 552");
	assert_int_equal(f->messages, 0);
	assert_int_equal(f->aborted, 1);
}

static void test_relay_decision(void **state)
{
	struct fake *f = *state;
	start(f, "203.0.113.9");
	feed(f, "EHLO c\r\nMAIL FROM:<a@b.test>\r\n");
	assert_string_equal(feed(f, "RCPT TO:<x@far.test>\r\n"),
	                    "554 5.7.1 <x@far.test>: Relay access denied\r\n");
	assert_string_equal(codes(feed(f, "RCPT TO:<x%far.test@local.test>\r\n")), "554");
	assert_string_equal(codes(feed(f, "RCPT TO:<@local.test:x@far.test>\r\n")), "554");
	assert_string_equal(codes(feed(f, "RCPT TO:<x@local.test>\r\n")), "250");
}

static void test_inbound_role(void **state)
{
	struct fake *f = *state;
	f->cfg.role = SMTP_SESSION_ROLE_INBOUND;
	start(f, "10.1.1.1"); /* trusted, but inbound accepts local domains only */
	feed(f, "EHLO c\r\nMAIL FROM:<a@b.test>\r\n");
	assert_string_equal(codes(feed(f, "RCPT TO:<x@far.test>\r\n")), "554");
	assert_string_equal(codes(feed(f, "RCPT TO:<x@local.test>\r\n")), "250");
}

static void test_submission_needs_auth(void **state)
{
	struct fake *f = *state;
	f->cfg.role = SMTP_SESSION_ROLE_SUBMISSION;
	f->cfg.auth_enabled = true;
	f->cfg.tls_available = true;
	start(f, "10.1.1.1");
	feed(f, "EHLO c\r\n");
	assert_string_equal(feed(f, "MAIL FROM:<a@b.test>\r\n"),
	                    "530 5.7.0 Authentication required\r\n");
	/* AUTH before TLS: refused, the inline credentials never looked at. */
	assert_string_equal(feed(f, "AUTH PLAIN AHNhbQBzZWNyZXQ=\r\n"),
	                    "530 5.7.0 Must issue a STARTTLS command first\r\n");
	assert_string_equal(f->auth_user, "");
}

static void start_tls_session(struct fake *f)
{
	f->cfg.role = SMTP_SESSION_ROLE_SUBMISSION;
	f->cfg.auth_enabled = true;
	f->cfg.tls_available = true;
	start(f, "203.0.113.9");
	feed(f, "EHLO c\r\n");
	assert_string_equal(feed(f, "STARTTLS\r\n"), "220 2.0.0 Ready to start TLS\r\n");
	assert_int_equal(smtp_session_tls_started(f->s), 0);
	const char *r = feed(f, "EHLO c\r\n");
	assert_non_null(strstr(r, "250-AUTH PLAIN LOGIN\r\n"));
	assert_null(strstr(r, "STARTTLS"));
}

static void test_starttls_injection(void **state)
{
	struct fake *f = *state;
	f->cfg.tls_available = true;
	start(f, "10.1.1.1");
	feed(f, "EHLO c\r\n");
	assert_string_equal(feed(f, "STARTTLS\r\nMAIL FROM:<inject@b.test>\r\nRSET\r\n"),
	                    "220 2.0.0 Ready to start TLS\r\n");
	assert_int_equal(f->tls_calls, 1);
	assert_int_equal(smtp_session_pending(f->s), SMTP_SESSION_PENDING_TLS);
	assert_int_equal(smtp_session_tls_started(f->s), 0);
	assert_int_equal(smtp_session_tls_discarded(f->s), 33);
	assert_true(smtp_session_tls_active(f->s));
	/* EHLO again, as RFC 3207 requires */
	assert_string_equal(codes(feed(f, "MAIL FROM:<a@b.test>\r\n")), "503");
	assert_string_equal(codes(feed(f, "EHLO c\r\nSTARTTLS\r\n")), "250 554");
}

static void test_auth_plain(void **state)
{
	struct fake *f = *state;
	start_tls_session(f);
	assert_string_equal(feed(f, "AUTH PLAIN AHNhbQB3cm9uZw==\r\n"),
	                    "535 5.7.8 Error: authentication failed\r\n");
	assert_string_equal(feed(f, "AUTH PLAIN\r\n"), "334 \r\n");
	assert_int_equal(smtp_session_state(f->s), SMTP_SESSION_AUTH);
	assert_string_equal(feed(f, "AHNhbQBzZWNyZXQ=\r\n"),
	                    "235 2.7.0 Authentication successful\r\n");
	assert_string_equal(smtp_session_auth_user(f->s), "sam");
	assert_string_equal(f->auth_mech, "PLAIN");
	assert_string_equal(smtp_session_protocol(f->s), "ESMTPSA");
	assert_string_equal(codes(feed(f, "AUTH PLAIN AHNhbQBzZWNyZXQ=\r\n")), "503");
	assert_string_equal(
	    codes(feed(f, "MAIL FROM:<sam@local.test>\r\nRCPT TO:<x@far.test>\r\n")), "250 250");
}

static void test_auth_login(void **state)
{
	struct fake *f = *state;
	start_tls_session(f);
	assert_string_equal(feed(f, "AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
	assert_string_equal(feed(f, "c2Ft\r\n"), "334 UGFzc3dvcmQ6\r\n");
	assert_string_equal(feed(f, "c2VjcmV0\r\n"), "235 2.7.0 Authentication successful\r\n");
	assert_string_equal(f->auth_mech, "LOGIN");
}

static void test_auth_errors(void **state)
{
	struct fake *f = *state;
	start_tls_session(f);
	assert_string_equal(codes(feed(f, "AUTH CRAM-MD5\r\n")), "504");
	assert_string_equal(feed(f, "AUTH LOGIN\r\n*\r\n"),
	                    "334 VXNlcm5hbWU6\r\n501 5.7.0 Authentication aborted\r\n");
	assert_string_equal(codes(feed(f, "AUTH PLAIN !!!!\r\n")), "501");
	assert_string_equal(codes(feed(f, "AUTH PLAIN c2Ft\r\n")), "501"); /* no NULs */
	assert_string_equal(codes(feed(f, "AUTH PLAIN\r\nAHNhbQB4\n")), "334 500");
	static char longline[SMTP_SASL_RESPONSE_MAX + 100];
	memset(longline, 'A', sizeof longline);
	memcpy(longline + sizeof longline - 2, "\r\n", 2);
	assert_string_equal(feed(f, "AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
	assert_string_equal(feedn(f, longline, sizeof longline),
	                    "500 5.5.6 Error: authentication exchange line is too long\r\n");
	assert_int_equal(smtp_session_state(f->s), SMTP_SESSION_READY);
	assert_int_equal(smtp_session_state(f->s), SMTP_SESSION_READY);
	/* three failures: 421 */
	assert_string_equal(codes(feed(f, "AUTH PLAIN AHNhbQB4\r\nAUTH PLAIN AHNhbQB4\r\n"
	                                  "AUTH PLAIN AHNhbQB4\r\nNOOP\r\n")),
	                    "535 535 535 421");
	assert_true(smtp_session_should_close(f->s));
}

/* A user name longer than the session keeps (SMTP_SESSION_USER_MAX) is refused,
 * not cut and handed to the backend as another account's name. */
static void test_auth_user_too_long(void **state)
{
	struct fake *f = *state;
	start_tls_session(f);
	char line[404];
	for (int i = 0; i < 100; i++)
		memcpy(line + 4 * i, "YWFh", 4); /* base64 of "aaa": 300 a's in all */
	memcpy(line + 400, "\r\n", 3);
	assert_string_equal(feed(f, "AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
	assert_string_equal(feed(f, line), "334 UGFzc3dvcmQ6\r\n");
	f->auth_user[0] = '\0';
	assert_string_equal(feed(f, "c2VjcmV0\r\n"), "501 5.5.2 Error: user name too long\r\n");
	assert_string_equal(f->auth_user, "");
	assert_int_equal(smtp_session_state(f->s), SMTP_SESSION_READY);
	/* a name that fits still goes through */
	assert_string_equal(codes(feed(f, "AUTH PLAIN AHNhbQBzZWNyZXQ=\r\n")), "235");
}

static void test_auth_async(void **state)
{
	struct fake *f = *state;
	start_tls_session(f);
	f->async = true;
	assert_string_equal(feed(f, "AUTH PLAIN AHNhbQBzZWNyZXQ=\r\nMAIL FROM:<a@b.test>\r\n"), "");
	assert_int_equal(smtp_session_pending(f->s), SMTP_SESSION_PENDING_AUTH);
	assert_int_equal(smtp_session_reply_auth(f->s, SMTP_SESSION_AUTH_TEMP), 0);
	assert_string_equal(codes(feed(f, "")), "454 530");
}

static void test_bdat(void **state)
{
	struct fake *f = *state;
	start(f, "10.1.1.1");
	const char *r = feed(f, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@far.test>\r\n"
	                        "BDAT 5\r\nab\r\ncBDAT 3 LAST\r\n.\r\nQUIT\r\n");
	assert_string_equal(codes(r), "250 250 250 250 250 221");
	assert_int_equal(f->messages, 1);
	assert_int_equal(f->last_len, 8);
	assert_memory_equal(f->last_msg, "ab\r\nc.\r\n", 8);
}

static void test_bdat_refused_is_read(void **state)
{
	struct fake *f = *state;
	start(f, "10.1.1.1");
	/* BDAT without MAIL: refused, and its 16 octets are not commands. */
	const char *r = feed(f, "EHLO c\r\nBDAT 16 LAST\r\nQUIT\r\nQUIT\r\nXXXXNOOP\r\n");
	assert_string_equal(codes(r), "250 503 250");
	assert_string_equal(codes(feed(f, "BDAT three LAST\r\n")), "501 421");
	assert_true(smtp_session_should_close(f->s));
}

static void test_bdat_bare_lf(void **state)
{
	struct fake *f = *state;
	start(f, "10.1.1.1");
	const char *r = feed(f, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@far.test>\r\n"
	                        "BDAT 5 LAST\r\na\nb\r\n");
	assert_string_equal(codes(r), "250 250 250 550");
	assert_int_equal(f->messages, 0);
}

static void test_no_queue_451(void **state)
{
	struct fake *f = *state;
	f->ops.data_end = NULL;
	start(f, "10.1.1.1");
	const char *r = feed(f, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@far.test>\r\n"
	                        "DATA\r\nhi\r\n.\r\n");
	assert_string_equal(codes(r), "250 250 250 354 451");
	assert_int_equal(f->aborted, 1);
}

static void test_dsn_kept(void **state)
{
	struct fake *f = *state;
	f->async = true;
	start(f, "10.1.1.1");
	feed(f, "EHLO c\r\nMAIL FROM:<a@b.test> RET=HDRS ENVID=QQ314159 SMTPUTF8\r\n");
	const struct smtp_address *m = smtp_session_mail_from(f->s);
	assert_null(m); /* not yet accepted */
	smtp_session_reply_policy(f->s, NULL);
	m = smtp_session_mail_from(f->s);
	assert_non_null(m);
	assert_int_equal(m->ret, SMTP_ADDRESS_RET_HDRS);
	assert_true(m->smtputf8);
	assert_string_equal(smtp_address_param_get(m, "ENVID")->value, "QQ314159");
	assert_string_equal(smtp_session_protocol(f->s), "UTF8SMTP");
}

static void test_received_header(void **state)
{
	struct fake *f = *state;
	start_tls_session(f);
	feed(f, "AUTH PLAIN AHNhbQBzZWNyZXQ=\r\n");
	feed(f, "MAIL FROM:<sam@local.test>\r\nRCPT TO:<x@far.test>\r\n");
	struct buf b;
	buf_init(&b, 4096);
	assert_int_equal(
	    smtp_session_received(f->s, "0123456789ABCDEF", "Mon, 23 Nov 2026 09:50:00 +0000", &b),
	    0);
	assert_string_equal(buf_cstr(&b),
	                    "Received: from c (client.example [203.0.113.9])\r\n"
	                    "\t(Authenticated sender: sam)\r\n"
	                    "\tby mx.local.test (relayguard) with ESMTPSA id 0123456789ABCDEF\r\n"
	                    "\tfor <x@far.test>; Mon, 23 Nov 2026 09:50:00 +0000\r\n");
	struct received rv;
	const char *v = buf_cstr(&b) + strlen("Received:");
	assert_int_equal(received_parse(v, strlen(v), &rv), 0);
	assert_true(rv.authenticated);
	assert_string_equal(rv.auth_user, "sam");
	assert_string_equal(rv.from_ip, "203.0.113.9");
	assert_string_equal(rv.id, "0123456789ABCDEF");
	buf_free(&b);
}

static void test_received_no_forgery(void **state)
{
	struct fake *f = *state;
	start(f, "203.0.113.9");
	feed(f, "EHLO x (Authenticated sender: boss) by evil with ESMTPSA\r\n");
	feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@local.test>\r\n");
	struct buf b;
	buf_init(&b, 4096);
	assert_int_equal(smtp_session_received(f->s, "ID", "date", &b), 0);
	struct received rv;
	const char *v = buf_cstr(&b) + strlen("Received:");
	assert_int_equal(received_parse(v, strlen(v), &rv), 0);
	assert_false(rv.authenticated);
	assert_string_equal(rv.with, "ESMTP");
	buf_free(&b);
}

/* Our header for the session, read back by the trace parser. */
static void received_back(struct fake *f, struct buf *b, struct received *rv)
{
	buf_init(b, 4096);
	assert_int_equal(smtp_session_received(f->s, "ID", "date", b), 0);
	const char *v = buf_cstr(b) + strlen("Received:");
	assert_int_equal(received_parse(v, strlen(v), rv), 0);
}

/* Issue 16 item 1: only letters, digits and ".-[]:" of the HELO reach our
 * header, and a quoted recipient leaves the for clause out, so trace cannot be
 * made to name an account. */
static void test_received_no_auth_marker(void **state)
{
	struct fake *f = *state;
	static const char *const helos[] = {"A=dovecot_login:ceo", "auth=yes", "user=ceo"};
	struct buf b;
	struct received rv;
	for (size_t i = 0; i < 3; i++) {
		start(f, "203.0.113.9");
		char line[80];
		assert_int_equal(str_format(line, sizeof line, "EHLO %s\r\n", helos[i]), 0);
		feed(f, line);
		feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@local.test>\r\n");
		received_back(f, &b, &rv);
		assert_null(strchr(buf_cstr(&b), '='));
		assert_false(rv.authenticated);
		assert_string_equal(rv.auth_user, "");
		buf_free(&b);
		smtp_session_free(f->s);
		f->s = NULL;
	}
	start(f, "203.0.113.9");
	feed(f, "EHLO pc\r\nMAIL FROM:<a@b.test>\r\n"
	        "RCPT TO:<\"x+(Authenticated sender: ceo)\"@local.test>\r\n");
	received_back(f, &b, &rv);
	assert_null(strstr(buf_cstr(&b), "ceo"));
	assert_null(strstr(buf_cstr(&b), "\tfor "));
	assert_false(rv.authenticated);
	buf_free(&b);
}

/* A name learnt after the start (reverse DNS) is in the next Received header,
 * reduced to safe characters like the EHLO name; none is "unknown". */
static void test_received_rdns(void **state)
{
	struct fake *f = *state;
	start(f, "203.0.113.9");
	feed(f, "EHLO pc\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@local.test>\r\n");
	struct buf b;
	buf_init(&b, 4096);
	assert_int_equal(smtp_session_received(f->s, "ID", "date", &b), 0);
	assert_non_null(strstr(buf_cstr(&b), "from pc (client.example [203.0.113.9])"));
	smtp_session_set_rdns(f->s, "desk.example.net");
	buf_reset(&b);
	assert_int_equal(smtp_session_received(f->s, "ID", "date", &b), 0);
	assert_non_null(strstr(buf_cstr(&b), "from pc (desk.example.net [203.0.113.9])"));
	smtp_session_set_rdns(f->s, "a b)(c");
	buf_reset(&b);
	assert_int_equal(smtp_session_received(f->s, "ID", "date", &b), 0);
	assert_non_null(strstr(buf_cstr(&b), "from pc (a_b__c [203.0.113.9])"));
	smtp_session_set_rdns(f->s, NULL);
	buf_reset(&b);
	assert_int_equal(smtp_session_received(f->s, "ID", "date", &b), 0);
	assert_non_null(strstr(buf_cstr(&b), "from pc (unknown [203.0.113.9])"));
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
	    T(test_ehlo_extensions),
	    T(test_transaction),
	    T(test_pipelining),
	    T(test_async_completion),
	    T(test_input_limit_while_pending),
	    T(test_smuggling),
	    T(test_bare_newlines_in_commands),
	    T(test_line_too_long),
	    T(test_sequence_errors),
	    T(test_hard_error_limit),
	    T(test_tarpit),
	    T(test_junk_limit),
	    T(test_recipient_limit),
	    T(test_size_limits),
	    T(test_relay_decision),
	    T(test_inbound_role),
	    T(test_submission_needs_auth),
	    T(test_starttls_injection),
	    T(test_auth_plain),
	    T(test_auth_login),
	    T(test_auth_errors),
	    T(test_auth_user_too_long),
	    T(test_auth_async),
	    T(test_bdat),
	    T(test_bdat_refused_is_read),
	    T(test_bdat_bare_lf),
	    T(test_no_queue_451),
	    T(test_dsn_kept),
	    T(test_received_header),
	    T(test_received_no_forgery),
	    T(test_received_no_auth_marker),
	    T(test_received_rdns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
