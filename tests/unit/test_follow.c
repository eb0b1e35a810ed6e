/*
 * Unit tests for the live log follow's parts: src/core/tail.c (from the end at
 * the first open, a line being written skipped, partial lines held until their
 * newline, rotation by rename read to the old file's end first, truncation
 * read again from 0, a file that appears later read from its start, too long
 * lines dropped, the read budget), src/forensics/authline.c (the line forms
 * of tests/data/authforms: failures and logins with account and IP, the
 * Dovecot passdb discount) and src/gateway/nftban.c (set names, the command).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/addr.h"
#include "core/tail.h"
#include "forensics/authline.h"
#include "gateway/nftban.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct seen {
	char text[8192]; /* every line given, each followed by '|' */
	size_t len, lines;
};

static void on_line(void *ctx, const char *p, size_t n)
{
	struct seen *s = ctx;
	assert_true(s->len + n + 1 < sizeof s->text);
	memcpy(s->text + s->len, p, n);
	s->len += n;
	s->text[s->len++] = '|';
	s->text[s->len] = '\0';
	s->lines++;
}

static char dir[64];

static void path_of(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", dir, name);
}

static void put(const char *name, const char *mode, const char *text)
{
	char p[128];
	path_of(p, sizeof p, name);
	FILE *f = fopen(p, mode);
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static long poll_all(struct tail *t, struct seen *s)
{
	char err[256];
	memset(s, 0, sizeof *s);
	long n = tail_poll(t, 1 << 20, on_line, s, err, sizeof err);
	assert_true(n >= 0);
	return n;
}

static int setup(void **state)
{
	snprintf(dir, sizeof dir, "/tmp/rg-tail-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_from_end_partial_lines(void **state)
{
	struct tail t;
	struct seen s;
	char p[128], err[256];
	put("a.log", "w", "old 1\nold 2\nhalf of a li");
	path_of(p, sizeof p, "a.log");
	assert_int_equal(tail_open(&t, p, 0, err, sizeof err), 0);
	assert_int_equal(poll_all(&t, &s), 0);
	assert_int_equal(s.lines, 0);
	/* the line being written when we started is skipped up to its newline */
	put("a.log", "a", "ne\nnew 1\nnew 2 sta");
	poll_all(&t, &s);
	assert_string_equal(s.text, "new 1|");
	put("a.log", "a", "rts here");
	poll_all(&t, &s);
	assert_int_equal(s.lines, 0);
	put("a.log", "a", "\r\n\nlast\n");
	poll_all(&t, &s);
	assert_string_equal(s.text, "new 2 starts here\r||last|");
	assert_int_equal(t.st.lines, 4);
	tail_close(&t);
}

static void test_rotation(void **state)
{
	struct tail t;
	struct seen s;
	char p[128], old[128], err[256];
	path_of(p, sizeof p, "r.log");
	path_of(old, sizeof old, "r.log.1");
	put("r.log", "w", "");
	assert_int_equal(tail_open(&t, p, 0, err, sizeof err), 0);
	poll_all(&t, &s);
	put("r.log", "a", "one\ntwo");
	poll_all(&t, &s);
	assert_string_equal(s.text, "one|");
	/* renamed away and written to once more (the writer still holds it) */
	assert_int_equal(rename(p, old), 0);
	put("r.log.1", "a", " end\nthree\n");
	poll_all(&t, &s);
	assert_string_equal(s.text, "two end|three|");
	assert_int_equal(t.st.rotations, 0);
	/* the new file: the old one is finished first, then the new from its start */
	put("r.log.1", "a", "four\nunfinished");
	put("r.log", "w", "five\nsix\n");
	poll_all(&t, &s);
	assert_string_equal(s.text, "four|unfinished|five|six|");
	assert_int_equal(t.st.rotations, 1);
	put("r.log", "a", "seven\n");
	poll_all(&t, &s);
	assert_string_equal(s.text, "seven|");
	tail_close(&t);
}

static void test_truncation(void **state)
{
	struct tail t;
	struct seen s;
	char p[128], err[256];
	path_of(p, sizeof p, "t.log");
	put("t.log", "w", "x\n");
	assert_int_equal(tail_open(&t, p, 0, err, sizeof err), 0);
	poll_all(&t, &s);
	put("t.log", "a", "a fairly long line before the truncation\n");
	poll_all(&t, &s);
	assert_int_equal(s.lines, 1);
	put("t.log", "w", "after\n"); /* copytruncate, then a new line */
	poll_all(&t, &s);
	assert_string_equal(s.text, "after|");
	assert_int_equal(t.st.truncations, 1);
	tail_close(&t);
}

static void test_appears_later_and_long_lines(void **state)
{
	struct tail t;
	struct seen s;
	char p[128], err[256];
	path_of(p, sizeof p, "late.log");
	assert_int_equal(tail_open(&t, p, 16, err, sizeof err), 0);
	assert_int_equal(poll_all(&t, &s), 0);
	assert_int_equal(t.fd, -1);
	put("late.log", "w", "first\nthis line is longer than sixteen\nok\n");
	poll_all(&t, &s);
	assert_string_equal(s.text, "first|ok|");
	assert_int_equal(t.st.too_long, 1);
	/* a long line split across polls is dropped whole */
	put("late.log", "a", "0123456789");
	poll_all(&t, &s);
	put("late.log", "a", "0123456789abc\nend\n");
	poll_all(&t, &s);
	assert_string_equal(s.text, "end|");
	assert_int_equal(t.st.too_long, 2);
	tail_close(&t);
}

static void test_budget(void **state)
{
	struct tail t;
	struct seen s;
	char p[128], err[256];
	path_of(p, sizeof p, "b.log");
	put("b.log", "w", "");
	assert_int_equal(tail_open(&t, p, 0, err, sizeof err), 0);
	poll_all(&t, &s);
	put("b.log", "a", "aaaa\nbbbb\ncccc\n");
	memset(&s, 0, sizeof s);
	assert_int_equal(tail_poll(&t, 7, on_line, &s, err, sizeof err), 7);
	assert_string_equal(s.text, "aaaa|");
	assert_int_equal(tail_poll(&t, 7, on_line, &s, err, sizeof err), 7);
	assert_int_equal(tail_poll(&t, 7, on_line, &s, err, sizeof err), 1);
	assert_string_equal(s.text, "aaaa|bbbb|cccc|");
	tail_close(&t);
}

static enum authline_kind rd(struct authline *a, const char *line, struct authline_rec *r)
{
	return authline_read(a, line, strlen(line), r);
}

static void assert_ip(const struct authline_rec *r, const char *ip)
{
	char b[ADDR_STRLEN];
	assert_true(r->has_ip);
	assert_int_equal(addr_format(&r->ip, b, sizeof b), 0);
	assert_string_equal(b, ip);
}

static void test_authline_forms(void **state)
{
	struct authline *a = malloc(sizeof *a);
	struct authline_rec r;
	assert_non_null(a);
	authline_init(a);
	assert_int_equal(rd(a,
	                    "Nov  4 09:11:01 gw postfix/smtpd[1234]: warning: unknown[192.0.2.16]: "
	                    "SASL LOGIN authentication failed: (reason unavailable), "
	                    "sasl_username=Admin",
	                    &r),
	                 AUTHLINE_FAIL);
	assert_ip(&r, "192.0.2.16");
	assert_string_equal(r.user, "admin");
	assert_string_equal(r.source, "postfix");
	assert_int_equal(r.count, 1);
	/* no password was tried */
	assert_int_equal(rd(a,
	                    "Nov  4 09:11:01 gw postfix/smtpd[1234]: warning: unknown[192.0.2.16]: "
	                    "SASL LOGIN authentication failed: Connection lost to authentication "
	                    "server",
	                    &r),
	                 AUTHLINE_NONE);
	assert_int_equal(rd(a,
	                    "Nov  4 09:12:01 gw postfix/submission/smtpd[99]: 4Tz1Bq2x: "
	                    "client=h.example[198.51.100.7], sasl_method=PLAIN, "
	                    "sasl_username=anna@example.com",
	                    &r),
	                 AUTHLINE_OK);
	assert_ip(&r, "198.51.100.7");
	assert_string_equal(r.user, "anna@example.com");
	/* a client= line without AUTH says nothing about a login */
	assert_int_equal(rd(a,
	                    "Nov  4 09:12:01 gw postfix/smtpd[99]: 4Tz1Bq2y: "
	                    "client=h.example[198.51.100.7]",
	                    &r),
	                 AUTHLINE_NONE);
	assert_int_equal(
	    rd(a,
	       "Jun 12 20:02:23 gw dovecot[996]: imap-login: Login aborted: Connection "
	       "closed (auth failed, 2 attempts in 14 secs) (auth_failed): "
	       "user=<jose>, method=PLAIN, rip=198.51.100.24, lip=192.0.2.1, TLS",
	       &r),
	    AUTHLINE_FAIL);
	assert_int_equal(r.count, 2);
	assert_string_equal(r.user, "jose");
	assert_string_equal(r.source, "dovecot");
	assert_ip(&r, "198.51.100.24");
	assert_int_equal(rd(a,
	                    "Jun 13 16:31:54 gw dovecot: imap-login: Login: user=<bob>, "
	                    "method=PLAIN, rip=198.51.100.21, lip=192.0.2.1, mpid=4242, TLS",
	                    &r),
	                 AUTHLINE_OK);
	assert_string_equal(r.user, "bob");
	/* passdb lines count at once; the login line after them only what is left */
	const char *passdb = "Jun 12 20:02:22 gw dovecot: auth: passwd-file(lee,198.51.100.50)"
	                     "<5511><pQ9rS8tU>: Password mismatch";
	assert_int_equal(rd(a, passdb, &r), AUTHLINE_FAIL);
	assert_int_equal(r.count, 1);
	assert_int_equal(rd(a, passdb, &r), AUTHLINE_FAIL);
	assert_int_equal(rd(a,
	                    "Jun 12 20:02:23 gw dovecot: imap-login: Login aborted: Connection "
	                    "closed (auth failed, 2 attempts in 14 secs) (auth_failed): "
	                    "user=<lee>, method=PLAIN, rip=198.51.100.50, lip=192.0.2.1, TLS",
	                    &r),
	                 AUTHLINE_NONE);
	assert_int_equal(rd(a,
	                    "Jun 12 20:02:24 gw dovecot: imap-login: Login aborted: Connection "
	                    "closed (auth failed, 3 attempts in 14 secs) (auth_failed): "
	                    "user=<lee>, method=PLAIN, rip=198.51.100.50, lip=192.0.2.1, TLS",
	                    &r),
	                 AUTHLINE_FAIL);
	assert_int_equal(r.count, 3);
	assert_int_equal(rd(a,
	                    "2014-12-02 03:00:23 auth_plain authenticator failed for (rom182) "
	                    "[203.0.113.65]:41556 I=[10.0.0.1]:25: 535 Incorrect authentication "
	                    "data (set_id=webmaster)",
	                    &r),
	                 AUTHLINE_FAIL);
	assert_string_equal(r.source, "exim");
	assert_string_equal(r.user, "webmaster");
	assert_ip(&r, "203.0.113.65");
	assert_int_equal(rd(a,
	                    "2016-03-18 00:34:06 [7513] 1ajLoq-0001wC-Pk <= a@example.com "
	                    "H=(x) [203.0.113.9]:4 P=esmtpa A=plain:Bob S=100",
	                    &r),
	                 AUTHLINE_OK);
	assert_string_equal(r.user, "bob");
	assert_ip(&r, "203.0.113.9");
	assert_int_equal(rd(a, "Nov  4 09:12:01 gw kernel: something else", &r), AUTHLINE_NONE);
	assert_int_equal(rd(a, "not a log line", &r), AUTHLINE_NONE);
	authline_free(a);
	free(a);
}

/* The passdb discounts of at most AUTHLINE_PENDING IPs are kept: the IP that
 * came longest ago makes room, the others keep theirs. */
static void test_authline_pending_bound(void **state)
{
	struct authline *a = malloc(sizeof *a);
	assert_non_null(a);
	authline_init(a);
	char line[300];
	struct authline_rec r;
	for (int i = 0; i <= AUTHLINE_PENDING; i++) {
		snprintf(line, sizeof line,
		         "Jun 12 20:02:22 gw dovecot: auth: passwd-file(u%d,10.0.%d.%d)"
		         "<5511><pQ9rS8tU>: Password mismatch",
		         i, i / 256, i % 256);
		assert_int_equal(rd(a, line, &r), AUTHLINE_FAIL);
	}
	assert_int_equal(htab_count(&a->index), AUTHLINE_PENDING);
	/* the first IP was pushed out: its login line counts in full */
#define LOGIN_FMT                                                                                  \
	"Jun 12 20:02:23 gw dovecot: imap-login: Login aborted: Connection "                       \
	"closed (auth failed, 1 attempts in 14 secs) (auth_failed): "                              \
	"user=<u%d>, method=PLAIN, rip=10.0.%d.%d, lip=192.0.2.1, TLS"
	snprintf(line, sizeof line, LOGIN_FMT, 0, 0, 0);
	assert_int_equal(rd(a, line, &r), AUTHLINE_FAIL);
	assert_int_equal(r.count, 1);
	/* the second and the last keep their discount */
	snprintf(line, sizeof line, LOGIN_FMT, 1, 0, 1);
	assert_int_equal(rd(a, line, &r), AUTHLINE_NONE);
	snprintf(line, sizeof line, LOGIN_FMT, AUTHLINE_PENDING, AUTHLINE_PENDING / 256,
	         AUTHLINE_PENDING % 256);
	assert_int_equal(rd(a, line, &r), AUTHLINE_NONE);
#undef LOGIN_FMT
	authline_free(a);
	free(a);
}

/* Every failure form of tests/data/authforms is read as a failure from its host. */
static void test_authline_authforms(void **state)
{
	struct authline *a = malloc(sizeof *a);
	assert_non_null(a);
	authline_init(a);
	FILE *f = fopen("tests/data/authforms/authforms.log", "r");
	assert_non_null(f);
	char line[2048], host[64] = "";
	int fails = 0;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "# fail ", 7) == 0) {
			snprintf(host, sizeof host, "%.60s", line + 7);
			continue;
		}
		if (line[0] == '#' || line[0] == '\0') {
			if (line[0] == '#')
				host[0] = '\0';
			continue;
		}
		struct authline_rec r;
		authline_free(a);
		authline_init(a); /* each form on its own: no passdb discount between forms */
		if (!host[0] || authline_read(a, line, strlen(line), &r) != AUTHLINE_FAIL)
			continue;
		char b[ADDR_STRLEN];
		assert_true(r.has_ip);
		assert_int_equal(addr_format(&r.ip, b, sizeof b), 0);
		assert_string_equal(b, host);
		fails++;
	}
	fclose(f);
	assert_true(fails >= 20);
	authline_free(a);
	free(a);
}

static void test_nftban_names(void **state)
{
	char err[200], cmd[300];
	assert_int_equal(nftban_check_set("inet relayguard_ban banned4", err, sizeof err), 0);
	assert_int_equal(nftban_check_set("ip filter x", err, sizeof err), 0);
	assert_int_equal(nftban_check_set("inet relayguard_ban", err, sizeof err), -1);
	assert_int_equal(nftban_check_set("inet t s extra", err, sizeof err), -1);
	assert_int_equal(nftban_check_set("foo t s", err, sizeof err), -1);
	assert_int_equal(nftban_check_set("inet t s;reboot", err, sizeof err), -1);
	assert_int_equal(nftban_check_set("inet t {s}", err, sizeof err), -1);
	assert_int_equal(nftban_command("sudo -n nft", "inet relayguard_ban banned6",
	                                "2001:db8::/64", 3600, cmd, sizeof cmd),
	                 0);
	assert_string_equal(
	    cmd,
	    "sudo -n nft add element inet relayguard_ban banned6 { 2001:db8::/64 timeout 3600s }");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_from_end_partial_lines, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_appears_later_and_long_lines, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_budget, setup, teardown),
	    cmocka_unit_test(test_authline_forms),
	    cmocka_unit_test(test_authline_authforms),
	    cmocka_unit_test(test_authline_pending_bound),
	    cmocka_unit_test(test_nftban_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
