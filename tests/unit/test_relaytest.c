/*
 * Unit tests for the pure parts of src/smtp/relaytest.c: the reply reader,
 * host names from greetings, the test table and its templates, targets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "smtp/address.h"
#include "smtp/relaytest.h"

#include <stdlib.h>
#include <string.h>

static int parse(const char *s, struct relaytest_reply *r, size_t *used)
{
	return relaytest_reply_parse(s, strlen(s), r, used);
}

static void test_reply_single_multi(void **state)
{
	struct relaytest_reply r;
	size_t used;
	assert_int_equal(parse("250 2.1.5 Ok\r\n", &r, &used), 1);
	assert_int_equal(r.code, 250);
	assert_int_equal(r.lines, 1);
	assert_int_equal(used, 14);
	assert_string_equal(r.text, "250 2.1.5 Ok");
	const char *ehlo = "250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n221 x\r\n";
	assert_int_equal(parse(ehlo, &r, &used), 1);
	assert_int_equal(r.lines, 3);
	assert_string_equal(r.text, "250 mx.example");
	assert_string_equal(ehlo + used, "221 x\r\n");
	/* bare LF and code-only lines */
	assert_int_equal(parse("421\n", &r, &used), 1);
	assert_int_equal(r.code, 421);
	assert_string_equal(r.text, "421 ");
}

static void test_reply_incomplete_and_bad(void **state)
{
	struct relaytest_reply r;
	size_t used;
	assert_int_equal(parse("", &r, &used), 0);
	assert_int_equal(parse("250 Ok", &r, &used), 0);
	assert_int_equal(parse("250-a\r\n", &r, &used), 0);
	assert_int_equal(parse("250-a\r\n250 b", &r, &used), 0);
	assert_int_equal(parse("250-a\r\n251 b\r\n", &r, &used), -1);
	assert_int_equal(parse("25\r\n", &r, &used), -1);
	assert_int_equal(parse("abc def\r\n", &r, &used), -1);
	assert_int_equal(parse("150 x\r\n", &r, &used), -1);
	assert_int_equal(parse("650 x\r\n", &r, &used), -1);
	assert_int_equal(parse("250xOk\r\n", &r, &used), -1);
	/* control bytes are escaped in the kept text */
	assert_int_equal(relaytest_reply_parse("250 a\x1b[31mb\r\n", 13, &r, &used), 1);
	assert_string_equal(r.text, "250 a\\x1b[31mb");
	/* line length is bounded: with and without a newline */
	size_t n = RELAYTEST_LINE_MAX + 10;
	char *big = malloc(n + 1);
	assert_non_null(big);
	memset(big, 'a', n);
	memcpy(big, "250 ", 4);
	big[n] = '\0';
	assert_int_equal(relaytest_reply_parse(big, n, &r, &used), -1);
	big[n - 1] = '\n';
	assert_int_equal(relaytest_reply_parse(big, n, &r, &used), -1);
	/* a long but legal line keeps a truncated text */
	big[600] = '\n';
	assert_int_equal(relaytest_reply_parse(big, 601, &r, &used), 1);
	assert_int_equal(strlen(r.text), RELAYTEST_TEXT_MAX - 1);
	free(big);
	/* line count is bounded */
	size_t lines = RELAYTEST_LINES_MAX + 1;
	char *many = malloc(lines * 6 + 1);
	assert_non_null(many);
	for (size_t i = 0; i < lines; i++)
		memcpy(many + i * 6, i + 1 == lines ? "250 x\n" : "250-x\n", 6);
	assert_int_equal(relaytest_reply_parse(many, lines * 6, &r, &used), -1);
	assert_int_equal(relaytest_reply_parse(many + 6, (lines - 1) * 6, &r, &used), 1);
	assert_int_equal(r.lines, RELAYTEST_LINES_MAX);
	free(many);
}

static void test_hostname(void **state)
{
	struct relaytest_reply r;
	size_t used;
	char name[RELAYTEST_NAME_MAX];
	assert_int_equal(parse("220 mail.example.com ESMTP Postfix\r\n", &r, &used), 1);
	assert_int_equal(relaytest_reply_hostname(&r, name, sizeof name), 0);
	assert_string_equal(name, "mail.example.com");
	assert_int_equal(parse("220 mx.example.com.\r\n", &r, &used), 1);
	assert_int_equal(relaytest_reply_hostname(&r, name, sizeof name), 0);
	assert_string_equal(name, "mx.example.com");
	assert_int_equal(parse("220 <evil>\r\n", &r, &used), 1);
	assert_int_equal(relaytest_reply_hostname(&r, name, sizeof name), -1);
	assert_int_equal(parse("220\r\n", &r, &used), 1);
	assert_int_equal(relaytest_reply_hostname(&r, name, sizeof name), -1);
	assert_int_equal(parse("220 -x.example\r\n", &r, &used), 1);
	assert_int_equal(relaytest_reply_hostname(&r, name, sizeof name), -1);
	assert_int_equal(parse("220 a>b\r\n", &r, &used), 1);
	assert_int_equal(relaytest_reply_hostname(&r, name, sizeof name), 0);
	assert_string_equal(name, "a");
}

static void test_cases_table(void **state)
{
	size_t n;
	const struct relaytest_case *c = relaytest_cases_get(&n);
	assert_true(n >= 16 && n <= RELAYTEST_CASES_MAX);
	/* nmap's 16, in order */
	assert_string_equal(c[0].mail_from, "<>");
	assert_string_equal(c[4].rcpt_to, "<relaytest%{D}@[{I}]>");
	assert_string_equal(c[11].rcpt_to, "<@[{I}]:relaytest@{D}>");
	assert_string_equal(c[15].rcpt_to, "<{D}!relaytest@{S}>");
	struct relaytest_vars v = {"from.example", "to.example", "mx.ours.example",
	                           "IPv6:2001:db8::25"};
	for (size_t i = 0; i < n; i++) {
		char m[RELAYTEST_PATH_MAX], r[RELAYTEST_PATH_MAX];
		assert_non_null(c[i].name);
		assert_non_null(c[i].trick);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(c[i].name, c[j].name);
		assert_int_equal(relaytest_expand(c[i].mail_from, &v, m, sizeof m), 0);
		assert_int_equal(relaytest_expand(c[i].rcpt_to, &v, r, sizeof r), 0);
		assert_null(strchr(m, '{'));
		assert_null(strchr(r, '{'));
		/* Every sender is a syntactically valid path: the tests probe
		 * relaying, not the server's sender syntax checks. */
		struct smtp_address a;
		assert_int_equal(smtp_address_parse(m, strlen(m), SMTP_ADDRESS_MAIL, 0, &a),
		                 SMTP_ADDRESS_OK);
	}
	char out[64];
	assert_int_equal(relaytest_expand("<a@{U}>", &v, out, sizeof out), 0);
	assert_string_equal(out, "<a@TO.EXAMPLE>");
	assert_int_equal(relaytest_expand("<a@{X}>", &v, out, sizeof out), -1);
	assert_int_equal(relaytest_expand("<a@{D}>", &v, out, 8), -1);
	assert_int_equal(relaytest_expand("{", &v, out, sizeof out), 0);
	assert_string_equal(out, "{");
}

static void test_target(void **state)
{
	char h[64], p[8];
	assert_int_equal(relaytest_target_parse("mx.example", "25", h, sizeof h, p, sizeof p), 0);
	assert_string_equal(h, "mx.example");
	assert_string_equal(p, "25");
	assert_int_equal(relaytest_target_parse("127.0.0.1:2525", "25", h, sizeof h, p, sizeof p),
	                 0);
	assert_string_equal(h, "127.0.0.1");
	assert_string_equal(p, "2525");
	assert_int_equal(relaytest_target_parse("[::1]:587", "25", h, sizeof h, p, sizeof p), 0);
	assert_string_equal(h, "::1");
	assert_string_equal(p, "587");
	assert_int_equal(relaytest_target_parse("[2001:db8::1]", "25", h, sizeof h, p, sizeof p),
	                 0);
	assert_string_equal(p, "25");
	assert_int_equal(relaytest_target_parse("2001:db8::1", "25", h, sizeof h, p, sizeof p), 0);
	assert_string_equal(h, "2001:db8::1");
	assert_string_equal(p, "25");
	const char *bad[] = {"",           "[::1",    "[]:25", "[::1]x", "host:",     "host:0",
	                     "host:65536", "host:2x", ":25",   "[::1]:", "[[::1]]:25"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(relaytest_target_parse(bad[i], "25", h, sizeof h, p, sizeof p),
		                 -1);
	assert_true(relaytest_name_ok("mx.example"));
	assert_true(relaytest_name_ok("[IPv6:::1]"));
	assert_true(relaytest_name_ok("[127.0.0.1]"));
	assert_false(relaytest_name_ok(""));
	assert_false(relaytest_name_ok("a b"));
	assert_false(relaytest_name_ok("a\r\nRCPT"));
	assert_false(relaytest_name_ok("[x y]"));
	assert_false(relaytest_name_ok("a_b"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reply_single_multi),
	    cmocka_unit_test(test_reply_incomplete_and_bad),
	    cmocka_unit_test(test_hostname),
	    cmocka_unit_test(test_cases_table),
	    cmocka_unit_test(test_target),
	};
	return cmocka_run_group_tests_name("relaytest", tests, NULL, NULL);
}
