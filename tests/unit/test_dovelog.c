/*
 * Unit tests for src/forensics/dovelog.c: logins, failed logins in the
 * wordings of several Dovecot versions (samples from fail2ban's test logs),
 * Pigeonhole vacation replies, and lines that are not counted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "forensics/dovelog.h"
#include "logtest.h"

#include <string.h>

static enum dovelog_kind msg(const char *s, struct dovelog_rec *r)
{
	return dovelog_parse((struct logspan){s, strlen(s)}, r);
}

static void test_login(void **state)
{
	struct dovelog_rec r;
	char ip[ADDR_STRLEN];
	assert_int_equal(msg("imap-login: Login: user=<mail@domain.example>, method=PLAIN, "
	                     "rip=192.0.2.1, lip=127.0.0.1, mpid=4101, TLS, session=<EfteYmQc>",
	                     &r),
	                 DOVELOG_LOGIN);
	assert_span(r.service, "imap-login");
	assert_span(r.user, "mail@domain.example");
	assert_true(r.has_ip);
	assert_int_equal(addr_format(&r.ip, ip, sizeof ip), 0);
	assert_string_equal(ip, "192.0.2.1");
	assert_int_equal(msg("pop3-login: Info: Login: user=<u>, method=PLAIN, rip=2001:db8::7, "
	                     "lip=::1",
	                     &r),
	                 DOVELOG_LOGIN);
	assert_int_equal(r.ip.family, 6);
	assert_true(dovelog_is_dovecot((struct logspan){"imap-login: x", 13}));
	assert_false(dovelog_is_dovecot((struct logspan){"postfix/smtpd: x", 16}));
}

static void test_failures(void **state)
{
	struct dovelog_rec r;
	assert_int_equal(msg("imap-login: Disconnected (auth failed, 2 attempts): "
	                     "user=<username.bob>, method=PLAIN, rip=49.176.98.87, "
	                     "lip=113.212.99.194, TLS",
	                     &r),
	                 DOVELOG_AUTH_FAIL);
	assert_span(r.user, "username.bob");
	assert_int_equal(r.attempts, 2);
	assert_true(r.has_ip);
	assert_int_equal(msg("pop3-login: Aborted login (auth failed, 1 attempts in 17 secs): "
	                     "user=<test>, method=PLAIN, rip=192.51.100.13, lip=203.0.113.17, "
	                     "session=<YADINsQCDs5BH8Pg>",
	                     &r),
	                 DOVELOG_AUTH_FAIL);
	assert_int_equal(r.attempts, 1);
	assert_int_equal(
	    msg("imap-login: Login aborted: Connection closed (auth failed, 3 attempts "
	        "in 16 secs) (auth_failed): user=<test>, method=PLAIN, "
	        "rip=192.0.2.241, lip=203.0.113.104, TLS, session=<9ZHq02g3J8S60fan>",
	        &r),
	    DOVELOG_AUTH_FAIL);
	assert_int_equal(r.attempts, 3);
	assert_span(r.user, "test");
	assert_int_equal(msg("submission-login: Client has quit the connection (auth failed, 1 "
	                     "attempts in 2 secs): user=<user1>, method=LOGIN, rip=192.0.2.133, "
	                     "lip=0.0.0.0",
	                     &r),
	                 DOVELOG_AUTH_FAIL);
	assert_int_equal(msg("pop3-login: Info: Aborted login (auth failed, 1 attempts in 2 secs): "
	                     "user=<grace>, method=PLAIN, rip=212.9.180.3",
	                     &r),
	                 DOVELOG_AUTH_FAIL);
	assert_span(r.user, "grace");
	/* no user given */
	assert_int_equal(msg("imap-login: Disconnected (auth failed, 1 attempts): method=PLAIN, "
	                     "rip=192.0.2.9",
	                     &r),
	                 DOVELOG_AUTH_FAIL);
	assert_int_equal(r.user.len, 0);
	/* the auth process's passdb lines (logscan counts an attempt once) */
	assert_int_equal(msg("auth-worker(304): pam(username,1.2.3.4): pam_authenticate() failed: "
	                     "Authentication failure (password mismatch?)",
	                     &r),
	                 DOVELOG_PASSDB_FAIL);
	assert_span(r.user, "username");
	assert_true(r.has_ip);
	assert_int_equal(msg("auth: passwd-file(username,1.2.3.4): unknown user", &r),
	                 DOVELOG_PASSDB_FAIL);
	assert_int_equal(msg("auth: sql(a@b.example,192.0.2.7,<AbCd>): Password mismatch", &r),
	                 DOVELOG_PASSDB_FAIL);
	assert_span(r.user, "a@b.example");
	assert_int_equal(msg("auth: ldap(a,192.0.2.7)<77><AbCd>: Password mismatch", &r),
	                 DOVELOG_PASSDB_FAIL);
	/* Dovecot 2.4: user and IP in the process's parentheses */
	assert_int_equal(
	    msg("auth-worker(jose,192.0.2.8)<14><8oN/86a>: request [393]: unix_user: "
	        "pam_authenticate() failed: Authentication failure (Password mismatch?)",
	        &r),
	    DOVELOG_PASSDB_FAIL);
	assert_span(r.user, "jose");
	/* PAM's own line: the rhost after ruser, even when ruser says "rhost=" */
	assert_int_equal(msg("auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 "
	                     "euid=0 tty=dovecot ruser=rhost=1.2.3.4 rhost=192.0.2.9  user=root",
	                     &r),
	                 DOVELOG_PASSDB_FAIL);
	assert_span(r.user, "root");
	char want[ADDR_STRLEN];
	assert_int_equal(addr_format(&r.ip, want, sizeof want), 0);
	assert_string_equal(want, "192.0.2.9");
	/* a password in the clear where that is disabled */
	assert_int_equal(msg("pop3-login: Aborted login (tried to use disabled plaintext auth): "
	                     "rip=190.210.136.21, lip=113.212.99.193",
	                     &r),
	                 DOVELOG_AUTH_FAIL);
	assert_int_equal(r.attempts, 1);
	assert_true(r.has_ip);
	/* outages and other passdb talk are not failures */
	assert_int_equal(msg("auth-worker(304): sql(a,1.2.3.4): Connection lost", &r),
	                 DOVELOG_OTHER);
	assert_int_equal(msg("auth: passwd-file(a,not-an-ip): unknown user", &r), DOVELOG_OTHER);
	assert_int_equal(msg("auth: Debug: client in: AUTH 1 PLAIN service=imap", &r),
	                 DOVELOG_OTHER);
}

static void test_vacation(void **state)
{
	struct dovelog_rec r;
	assert_int_equal(
	    msg("lda(bob@example.com)<4242><AbCdEf>: sieve: msgid=<x@y>: sent vacation "
	        "response to <probe@z.example>",
	        &r),
	    DOVELOG_VACATION);
	assert_span(r.user, "bob@example.com");
	assert_span(r.rcpt, "probe@z.example");
	assert_int_equal(msg("lmtp(carol)<1><s>: Info: sieve: msgid=<x@y>: sent vacation response "
	                     "to <a@b.example>",
	                     &r),
	                 DOVELOG_VACATION);
	assert_span(r.user, "carol");
	assert_int_equal(msg("lda(bob): sieve: msgid=<x@y>: stored mail into mailbox 'INBOX'", &r),
	                 DOVELOG_OTHER);
	assert_int_equal(msg("lda(bob", &r), DOVELOG_OTHER);
	assert_int_equal(msg("", &r), DOVELOG_OTHER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_login),
	    cmocka_unit_test(test_failures),
	    cmocka_unit_test(test_vacation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
