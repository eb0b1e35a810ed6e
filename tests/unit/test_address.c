/*
 * Unit tests for src/smtp/address.c: RFC 5321 paths and ESMTP parameters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/str.h"
#include "smtp/address.h"

#include <string.h>

static enum smtp_address_status parse(const char *s, enum smtp_address_kind k, unsigned opts,
                                      struct smtp_address *a)
{
	return smtp_address_parse(s, strlen(s), k, opts, a);
}

#define MAIL SMTP_ADDRESS_MAIL
#define RCPT SMTP_ADDRESS_RCPT

static void test_simple(void **state)
{
	struct smtp_address a;
	assert_int_equal(parse("<user@example.com>", RCPT, 0, &a), SMTP_ADDRESS_OK);
	assert_string_equal(a.local, "user");
	assert_string_equal(a.local_raw, "user");
	assert_string_equal(a.domain, "example.com");
	assert_int_equal(a.flags, 0);
	assert_int_equal(a.nparams, 0);
	assert_int_equal(parse("<first.last+tag@sub.Example-1.COM>", RCPT, 0, &a), SMTP_ADDRESS_OK);
	assert_string_equal(a.local, "first.last+tag");
	assert_string_equal(a.domain, "sub.Example-1.COM");
	/* one or more spaces before '<' are tolerated */
	assert_int_equal(parse("  <u@x.y>", MAIL, 0, &a), SMTP_ADDRESS_OK);
	char out[64];
	assert_int_equal(smtp_address_format(&a, out, sizeof out), 0);
	assert_string_equal(out, "u@x.y");
	assert_int_equal(smtp_address_format(&a, out, 3), -1);
}

static void test_brackets_and_null(void **state)
{
	struct smtp_address a;
	assert_int_equal(parse("user@example.com", RCPT, 0, &a), SMTP_ADDRESS_E_BRACKETS);
	assert_int_equal(parse("user@example.com", RCPT, SMTP_ADDRESS_OPT_BARE, &a),
	                 SMTP_ADDRESS_OK);
	assert_true(a.flags & SMTP_ADDRESS_F_BARE);
	assert_int_equal(parse("user@example.com SIZE=10", MAIL, SMTP_ADDRESS_OPT_BARE, &a),
	                 SMTP_ADDRESS_OK);
	assert_int_equal(a.size, 10);
	assert_int_equal(parse("<user@example.com", RCPT, 0, &a), SMTP_ADDRESS_E_DOMAIN_SYNTAX);
	assert_int_equal(parse("<user", RCPT, 0, &a), SMTP_ADDRESS_E_BRACKETS);
	assert_int_equal(parse("", RCPT, 0, &a), SMTP_ADDRESS_E_EMPTY);
	assert_int_equal(parse("   ", RCPT, 0, &a), SMTP_ADDRESS_E_EMPTY);
	assert_int_equal(smtp_address_parse(NULL, 0, RCPT, 0, &a), SMTP_ADDRESS_E_EMPTY);
	assert_int_equal(parse("<>", MAIL, 0, &a), SMTP_ADDRESS_OK);
	assert_true(a.flags & SMTP_ADDRESS_F_NULL);
	char out[8];
	assert_int_equal(smtp_address_format(&a, out, sizeof out), 0);
	assert_string_equal(out, "");
	assert_int_equal(parse("<> BODY=8BITMIME", MAIL, 0, &a), SMTP_ADDRESS_OK);
	assert_int_equal(a.body, SMTP_ADDRESS_BODY_8BITMIME);
	assert_int_equal(parse("<>", RCPT, 0, &a), SMTP_ADDRESS_E_NULL_PATH);
	assert_string_equal(smtp_address_reply(SMTP_ADDRESS_E_NULL_PATH, RCPT),
	                    "501 5.1.3 Null recipient address not allowed");
	assert_int_equal(parse("<u@x.y>junk", RCPT, 0, &a), SMTP_ADDRESS_E_PARAM_SYNTAX);
	assert_int_equal(parse("<<u@x.y>>", RCPT, 0, &a), SMTP_ADDRESS_E_LOCAL_SYNTAX);
}

static void test_postmaster_unqualified(void **state)
{
	struct smtp_address a;
	assert_int_equal(parse("<Postmaster>", RCPT, 0, &a), SMTP_ADDRESS_OK);
	assert_true(a.flags & SMTP_ADDRESS_F_NO_DOMAIN);
	char out[32];
	assert_int_equal(smtp_address_format(&a, out, sizeof out), 0);
	assert_string_equal(out, "Postmaster");
	assert_int_equal(parse("<postmaster>", MAIL, 0, &a), SMTP_ADDRESS_E_UNQUALIFIED);
	assert_int_equal(parse("<relaytest>", RCPT, 0, &a), SMTP_ADDRESS_E_UNQUALIFIED);
	assert_int_equal(parse("<\"postmaster\">", RCPT, 0, &a), SMTP_ADDRESS_E_UNQUALIFIED);
	assert_string_equal(smtp_address_reply(SMTP_ADDRESS_E_UNQUALIFIED, RCPT),
	                    "553 5.1.3 Recipient address rejected: need fully-qualified address");
	assert_int_equal(parse("<user@>", RCPT, 0, &a), SMTP_ADDRESS_E_DOMAIN_SYNTAX);
}

static void test_local_part(void **state)
{
	struct smtp_address a;
	assert_int_equal(parse("<.user@x.y>", RCPT, 0, &a), SMTP_ADDRESS_E_LOCAL_SYNTAX);
	assert_int_equal(parse("<user.@x.y>", RCPT, 0, &a), SMTP_ADDRESS_E_LOCAL_SYNTAX);
	assert_int_equal(parse("<us..er@x.y>", RCPT, 0, &a), SMTP_ADDRESS_E_LOCAL_SYNTAX);
	assert_int_equal(parse("<us er@x.y>", RCPT, 0, &a), SMTP_ADDRESS_E_LOCAL_SYNTAX);
	assert_int_equal(parse("<us(er@x.y>", RCPT, 0, &a), SMTP_ADDRESS_E_LOCAL_SYNTAX);
	/* percent and bang are atext: parsed, the relay decision refuses them */
	assert_int_equal(parse("<user%foreign.example@x.y>", RCPT, 0, &a), SMTP_ADDRESS_OK);
	assert_string_equal(a.local, "user%foreign.example");
	assert_int_equal(parse("<foreign!user@x.y>", RCPT, 0, &a), SMTP_ADDRESS_OK);
	/* double @ is not an address */
	assert_int_equal(parse("<u@foreign.example@x.y>", RCPT, 0, &a),
	                 SMTP_ADDRESS_E_DOMAIN_SYNTAX);
	char l64[80], p[120];
	memset(l64, 'a', 64);
	l64[64] = '\0';
	assert_int_equal(str_format(p, sizeof p, "<%s@x.y>", l64), 0);
	assert_int_equal(parse(p, RCPT, 0, &a), SMTP_ADDRESS_OK);
	assert_int_equal(strlen(a.local), 64);
	l64[64] = 'a';
	l64[65] = '\0';
	assert_int_equal(str_format(p, sizeof p, "<%s@x.y>", l64), 0);
	assert_int_equal(parse(p, RCPT, 0, &a), SMTP_ADDRESS_E_LOCAL_TOO_LONG);
	assert_string_equal(smtp_address_reply(SMTP_ADDRESS_E_LOCAL_TOO_LONG, RCPT),
	                    "553 5.1.3 Recipient address rejected: local part too long");
	assert_string_equal(smtp_address_status_name(SMTP_ADDRESS_E_LOCAL_TOO_LONG),
	                    "local_too_long");
}

static void test_quoted(void **state)
{
	struct smtp_address a;
	assert_int_equal(parse("<\"john doe\"@x.y>", RCPT, 0, &a), SMTP_ADDRESS_OK);
	assert_true(a.flags & SMTP_ADDRESS_F_QUOTED);
	assert_string_equal(a.local, "john doe");
	assert_string_equal(a.local_raw, "\"john doe\"");
	assert_int_equal(parse("<\"relaytest@foreign.example\"@x.y>", RCPT, 0, &a),
	                 SMTP_ADDRESS_OK);
	assert_string_equal(a.local, "relaytest@foreign.example");
	assert_int_equal(parse("<\"a\\\"b\\\\c\"@x.y>", RCPT, 0, &a), SMTP_ADDRESS_OK);
	assert_string_equal(a.local, "a\"b\\c");
	assert_int_equal(parse("<\"\"@x.y>", RCPT, 0, &a), SMTP_ADDRESS_OK);
	assert_string_equal(a.local, "");
	assert_int_equal(parse("<\"unterminated@x.y>", RCPT, 0, &a), SMTP_ADDRESS_E_LOCAL_SYNTAX);
	assert_int_equal(parse("<\"a\\", RCPT, 0, &a), SMTP_ADDRESS_E_LOCAL_SYNTAX);
	assert_int_equal(parse("<\"a\"b@x.y>", RCPT, 0, &a), SMTP_ADDRESS_E_LOCAL_SYNTAX);
	/* quoted form without a domain: nmap test 7 */
	assert_int_equal(parse("<\"relaytest@foreign.example\">", RCPT, 0, &a),
	                 SMTP_ADDRESS_E_UNQUALIFIED);
}

static void test_control_chars(void **state)
{
	struct smtp_address a;
	assert_int_equal(parse("<u@x.y>\r\nRCPT TO:<v@z>", RCPT, 0, &a), SMTP_ADDRESS_E_BAD_CHAR);
	assert_int_equal(a.error_offset, 7);
	assert_int_equal(smtp_address_parse("<u\0@x.y>", 8, RCPT, 0, &a), SMTP_ADDRESS_E_BAD_CHAR);
	assert_int_equal(parse("<\"a\tb\"@x.y>", RCPT, 0, &a), SMTP_ADDRESS_E_BAD_CHAR);
	assert_int_equal(parse("<u@x.y>\x7f", RCPT, 0, &a), SMTP_ADDRESS_E_BAD_CHAR);
	assert_string_equal(smtp_address_reply(SMTP_ADDRESS_E_BAD_CHAR, MAIL),
	                    "501 5.1.7 Bad sender address syntax: invalid character");
}

static void test_domain(void **state)
{
	struct smtp_address a;
	assert_int_equal(parse("<u@-x.y>", RCPT, 0, &a), SMTP_ADDRESS_E_DOMAIN_SYNTAX);
	assert_int_equal(parse("<u@x-.y>", RCPT, 0, &a), SMTP_ADDRESS_E_DOMAIN_SYNTAX);
	assert_int_equal(parse("<u@x..y>", RCPT, 0, &a), SMTP_ADDRESS_E_DOMAIN_SYNTAX);
	assert_int_equal(parse("<u@.x.y>", RCPT, 0, &a), SMTP_ADDRESS_E_DOMAIN_SYNTAX);
	assert_int_equal(parse("<u@x_y.z>", RCPT, 0, &a), SMTP_ADDRESS_E_DOMAIN_SYNTAX);
	assert_int_equal(parse("<u@x.y.>", RCPT, 0, &a), SMTP_ADDRESS_OK);
	assert_true(a.flags & SMTP_ADDRESS_F_TRAILING_DOT);
	assert_string_equal(a.domain, "x.y");
	assert_int_equal(parse("<u@x.y..>", RCPT, 0, &a), SMTP_ADDRESS_E_DOMAIN_SYNTAX);
	assert_int_equal(parse("<u@localhost>", RCPT, 0, &a), SMTP_ADDRESS_OK);
	assert_string_equal(smtp_address_reply(SMTP_ADDRESS_E_DOMAIN_SYNTAX, RCPT),
	                    "501 5.1.2 Bad recipient domain syntax");
	/* label of 63 is fine, 64 is not */
	char p[600], l[70];
	memset(l, 'b', 63);
	l[63] = '\0';
	assert_int_equal(str_format(p, sizeof p, "<u@%s.com>", l), 0);
	assert_int_equal(parse(p, RCPT, 0, &a), SMTP_ADDRESS_OK);
	memset(l, 'b', 64);
	l[64] = '\0';
	assert_int_equal(str_format(p, sizeof p, "<u@%s.com>", l), 0);
	assert_int_equal(parse(p, RCPT, 0, &a), SMTP_ADDRESS_E_DOMAIN_TOO_LONG);
	/* path of 256 ok, 257 too long; a domain over 255 is too long by itself */
	char d[300];
	size_t n = 0;
	while (n + 2 <= 250) {
		d[n++] = 'c';
		d[n++] = '.';
	}
	d[n++] = 'c';
	d[n++] = 'c';
	d[n] = '\0';
	assert_int_equal(strlen(d), 252);
	assert_int_equal(str_format(p, sizeof p, "<u@%s>", d), 0);
	assert_int_equal(strlen(p), 256);
	assert_int_equal(parse(p, RCPT, 0, &a), SMTP_ADDRESS_OK);
	assert_int_equal(strlen(a.domain), 252);
	assert_int_equal(str_format(p, sizeof p, "<uu@%s>", d), 0);
	assert_int_equal(parse(p, RCPT, 0, &a), SMTP_ADDRESS_E_PATH_TOO_LONG);
	assert_int_equal(str_format(p, sizeof p, "<u@cccc%s>", d), 0);
	assert_int_equal(parse(p, RCPT, 0, &a), SMTP_ADDRESS_E_DOMAIN_TOO_LONG);
	assert_string_equal(smtp_address_reply(SMTP_ADDRESS_E_PATH_TOO_LONG, RCPT),
	                    "553 5.1.3 Recipient address too long");
}

static void test_literals(void **state)
{
	struct smtp_address a;
	assert_int_equal(parse("<u@[198.51.100.1]>", RCPT, 0, &a), SMTP_ADDRESS_OK);
	assert_true(a.flags & SMTP_ADDRESS_F_LITERAL);
	assert_string_equal(a.domain, "[198.51.100.1]");
	assert_int_equal(a.literal.family, 4);
	assert_int_equal(a.literal.bytes[0], 198);
	assert_int_equal(parse("<u@[IPv6:2001:db8::1]>", RCPT, 0, &a), SMTP_ADDRESS_OK);
	assert_int_equal(a.literal.family, 6);
	assert_int_equal(parse("<u@[ipv6:::1]>", RCPT, 0, &a), SMTP_ADDRESS_OK);
	assert_int_equal(parse("<u@[2001:db8::1]>", RCPT, 0, &a), SMTP_ADDRESS_E_LITERAL);
	assert_int_equal(parse("<u@[IPv6:1.2.3.4]>", RCPT, 0, &a), SMTP_ADDRESS_E_LITERAL);
	assert_int_equal(parse("<u@[1.2.3]>", RCPT, 0, &a), SMTP_ADDRESS_E_LITERAL);
	assert_int_equal(parse("<u@[1.2.3.256]>", RCPT, 0, &a), SMTP_ADDRESS_E_LITERAL);
	assert_int_equal(parse("<u@[x-tag:stuff]>", RCPT, 0, &a), SMTP_ADDRESS_E_LITERAL);
	assert_int_equal(parse("<u@[]>", RCPT, 0, &a), SMTP_ADDRESS_E_LITERAL);
	assert_int_equal(parse("<u@[1.2.3.4>", RCPT, 0, &a), SMTP_ADDRESS_E_LITERAL);
	assert_int_equal(parse("<u@[1.2.3.4].>", RCPT, 0, &a), SMTP_ADDRESS_E_LITERAL);
	assert_int_equal(parse("<u@[[1.2.3.4]]>", RCPT, 0, &a), SMTP_ADDRESS_E_LITERAL);
	/* a bare numeric domain parses; the relay decision refuses it */
	assert_int_equal(parse("<u@198.51.100.1>", RCPT, 0, &a), SMTP_ADDRESS_OK);
	assert_false(a.flags & SMTP_ADDRESS_F_LITERAL);
}

static void test_source_route(void **state)
{
	struct smtp_address a;
	assert_int_equal(parse("<@a.example,@[192.0.2.1]:user@c.example>", RCPT, 0, &a),
	                 SMTP_ADDRESS_OK);
	assert_true(a.flags & SMTP_ADDRESS_F_SOURCE_ROUTE);
	assert_string_equal(a.route, "@a.example,@[192.0.2.1]");
	assert_string_equal(a.local, "user");
	assert_string_equal(a.domain, "c.example");
	assert_int_equal(parse("<@local.example:user@foreign.example>", MAIL, 0, &a),
	                 SMTP_ADDRESS_OK);
	assert_int_equal(parse("<@a.example>", RCPT, 0, &a), SMTP_ADDRESS_E_ROUTE_SYNTAX);
	assert_int_equal(parse("<@a.example,b.example:u@c>", RCPT, 0, &a),
	                 SMTP_ADDRESS_E_ROUTE_SYNTAX);
	assert_int_equal(parse("<@:u@c>", RCPT, 0, &a), SMTP_ADDRESS_E_ROUTE_SYNTAX);
	assert_int_equal(parse("<@a.example:>", RCPT, 0, &a), SMTP_ADDRESS_E_LOCAL_SYNTAX);
	assert_int_equal(parse("<@a.example:postmaster>", RCPT, 0, &a), SMTP_ADDRESS_E_UNQUALIFIED);
}

static void test_utf8(void **state)
{
	struct smtp_address a;
	const char *u = "<j\xc3\xb6rg@b\xc3\xbc"
	                "cher.example>";
	assert_int_equal(parse(u, RCPT, 0, &a), SMTP_ADDRESS_E_UTF8);
	assert_string_equal(smtp_address_reply(SMTP_ADDRESS_E_UTF8, RCPT),
	                    "553 5.6.7 Non-ASCII address requires SMTPUTF8");
	assert_int_equal(parse(u, RCPT, SMTP_ADDRESS_OPT_SMTPUTF8, &a), SMTP_ADDRESS_OK);
	assert_true(a.flags & SMTP_ADDRESS_F_UTF8);
	assert_string_equal(a.local, "j\xc3\xb6rg");
	char m[100];
	assert_int_equal(str_format(m, sizeof m, "%s SMTPUTF8", u), 0);
	assert_int_equal(parse(m, MAIL, 0, &a), SMTP_ADDRESS_OK);
	assert_true(a.smtputf8);
	assert_int_equal(parse(m, RCPT, 0, &a), SMTP_ADDRESS_E_PARAM_UNKNOWN);
	/* malformed UTF-8: overlong, lone continuation, surrogate, truncated */
	assert_int_equal(parse("<\xc0\xafu@x.y> SMTPUTF8", MAIL, 0, &a), SMTP_ADDRESS_E_BAD_CHAR);
	assert_int_equal(parse("<\x80u@x.y> SMTPUTF8", MAIL, 0, &a), SMTP_ADDRESS_E_BAD_CHAR);
	assert_int_equal(parse("<\xed\xa0\x80@x.y> SMTPUTF8", MAIL, 0, &a),
	                 SMTP_ADDRESS_E_BAD_CHAR);
	assert_int_equal(parse("<u@x.\xe2\x82>", RCPT, SMTP_ADDRESS_OPT_SMTPUTF8, &a),
	                 SMTP_ADDRESS_E_BAD_CHAR);
	assert_int_equal(parse("<\"\xe2\x82\xac\"@x.y>", RCPT, SMTP_ADDRESS_OPT_SMTPUTF8, &a),
	                 SMTP_ADDRESS_OK);
	assert_true(a.flags & SMTP_ADDRESS_F_QUOTED);
}

static void test_params(void **state)
{
	struct smtp_address a;
	assert_int_equal(parse("<u@x.y> SIZE=12345 BODY=8bitmime RET=HDRS ENVID=QQ+2B1 "
	                       "AUTH=<> SMTPUTF8",
	                       MAIL, 0, &a),
	                 SMTP_ADDRESS_OK);
	assert_int_equal(a.nparams, 6);
	assert_true(a.has_size);
	assert_int_equal(a.size, 12345);
	assert_int_equal(a.body, SMTP_ADDRESS_BODY_8BITMIME);
	assert_int_equal(a.ret, SMTP_ADDRESS_RET_HDRS);
	assert_true(a.smtputf8);
	const struct smtp_address_param *p = smtp_address_param_get(&a, "envid");
	assert_non_null(p);
	assert_string_equal(p->value, "QQ+2B1");
	assert_null(smtp_address_param_get(&a, "NOTIFY"));
	assert_int_equal(parse("<u@x.y> size=10", MAIL, 0, &a), SMTP_ADDRESS_OK);
	assert_string_equal(a.params[0].key, "SIZE");
	assert_int_equal(parse("<u@x.y> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;u+40x.y", RCPT, 0, &a),
	                 SMTP_ADDRESS_OK);
	assert_int_equal(a.notify, SMTP_ADDRESS_NOTIFY_SUCCESS | SMTP_ADDRESS_NOTIFY_FAILURE);
	assert_int_equal(parse("<u@x.y> NOTIFY=NEVER", RCPT, 0, &a), SMTP_ADDRESS_OK);
	assert_int_equal(parse("<u@x.y> NOTIFY=NEVER,DELAY", RCPT, 0, &a),
	                 SMTP_ADDRESS_E_PARAM_VALUE);
	assert_int_equal(parse("<u@x.y> NOTIFY=DELAY,DELAY", RCPT, 0, &a),
	                 SMTP_ADDRESS_E_PARAM_VALUE);
	assert_int_equal(parse("<u@x.y> NOTIFY=", RCPT, 0, &a), SMTP_ADDRESS_E_PARAM_SYNTAX);
	assert_int_equal(parse("<u@x.y> NOTIFY=SUCCESS,", RCPT, 0, &a), SMTP_ADDRESS_E_PARAM_VALUE);
	assert_int_equal(parse("<u@x.y> ORCPT=rfc822", RCPT, 0, &a), SMTP_ADDRESS_E_PARAM_VALUE);
	assert_int_equal(parse("<u@x.y> ORCPT=;u@x", RCPT, 0, &a), SMTP_ADDRESS_E_PARAM_VALUE);
	assert_int_equal(parse("<u@x.y> ORCPT=rfc822;u+4", RCPT, 0, &a),
	                 SMTP_ADDRESS_E_PARAM_VALUE);
	/* verbs: NOTIFY is RCPT's, SIZE is MAIL's */
	assert_int_equal(parse("<u@x.y> NOTIFY=NEVER", MAIL, 0, &a), SMTP_ADDRESS_E_PARAM_UNKNOWN);
	assert_int_equal(parse("<u@x.y> SIZE=1", RCPT, 0, &a), SMTP_ADDRESS_E_PARAM_UNKNOWN);
	assert_string_equal(smtp_address_reply(SMTP_ADDRESS_E_PARAM_UNKNOWN, MAIL),
	                    "555 5.5.4 Unsupported parameter");
	/* values */
	assert_int_equal(parse("<u@x.y> SIZE=abc", MAIL, 0, &a), SMTP_ADDRESS_E_PARAM_VALUE);
	assert_int_equal(parse("<u@x.y> SIZE", MAIL, 0, &a), SMTP_ADDRESS_E_PARAM_VALUE);
	assert_int_equal(parse("<u@x.y> SIZE=99999999999999999999999", MAIL, 0, &a),
	                 SMTP_ADDRESS_E_PARAM_VALUE);
	assert_int_equal(parse("<u@x.y> BODY=9BIT", MAIL, 0, &a), SMTP_ADDRESS_E_PARAM_VALUE);
	assert_int_equal(parse("<u@x.y> RET=ALL", MAIL, 0, &a), SMTP_ADDRESS_E_PARAM_VALUE);
	assert_int_equal(parse("<u@x.y> SMTPUTF8=yes", MAIL, 0, &a), SMTP_ADDRESS_E_PARAM_VALUE);
	assert_int_equal(parse("<u@x.y> ENVID=a+zz", MAIL, 0, &a), SMTP_ADDRESS_E_PARAM_VALUE);
	assert_int_equal(parse("<u@x.y> ENVID=a+2b", MAIL, 0, &a), SMTP_ADDRESS_E_PARAM_VALUE);
	assert_int_equal(parse("<u@x.y> AUTH=a==", MAIL, 0, &a), SMTP_ADDRESS_E_PARAM_VALUE);
	/* syntax */
	assert_int_equal(parse("<u@x.y> SIZE=1 SIZE=2", MAIL, 0, &a),
	                 SMTP_ADDRESS_E_PARAM_DUPLICATE);
	assert_int_equal(parse("<u@x.y> -X=1", MAIL, 0, &a), SMTP_ADDRESS_E_PARAM_SYNTAX);
	assert_int_equal(parse("<u@x.y> =1", MAIL, 0, &a), SMTP_ADDRESS_E_PARAM_SYNTAX);
	assert_int_equal(parse("<u@x.y> X-FOO=1", MAIL, 0, &a), SMTP_ADDRESS_E_PARAM_UNKNOWN);
	assert_int_equal(parse("<u@x.y> X-FOO=1 X-BAR", MAIL, SMTP_ADDRESS_OPT_UNKNOWN, &a),
	                 SMTP_ADDRESS_OK);
	assert_int_equal(a.nparams, 2);
	assert_false(a.params[1].has_value);
	assert_int_equal(parse("<u@x.y>   SIZE=1   ", MAIL, 0, &a), SMTP_ADDRESS_OK);
	assert_int_equal(parse("<u@x.y> A=1 B=1 C=1 D=1 E=1 F=1 G=1 H=1 I=1 J=1 K=1 L=1 M=1", MAIL,
	                       SMTP_ADDRESS_OPT_UNKNOWN, &a),
	                 SMTP_ADDRESS_E_PARAM_TOO_MANY);
	char big[700];
	memset(big, 0, sizeof big);
	memcpy(big, "<u@x.y> X=", 10);
	memset(big + 10, 'v', 513);
	assert_int_equal(parse(big, MAIL, SMTP_ADDRESS_OPT_UNKNOWN, &a),
	                 SMTP_ADDRESS_E_PARAM_TOO_LONG);
	memcpy(big, "<u@x.y> ", 8);
	memset(big + 8, 'K', 40);
	big[48] = '\0';
	assert_int_equal(parse(big, MAIL, SMTP_ADDRESS_OPT_UNKNOWN, &a),
	                 SMTP_ADDRESS_E_PARAM_TOO_LONG);
}

static void test_xtext(void **state)
{
	char out[16];
	assert_int_equal(smtp_address_xtext_decode("a+2Bb", 5, out, sizeof out), 0);
	assert_string_equal(out, "a+b");
	assert_int_equal(smtp_address_xtext_decode("a+2", 3, out, sizeof out), -1);
	assert_int_equal(smtp_address_xtext_decode("a+", 2, out, sizeof out), -1);
	assert_int_equal(smtp_address_xtext_decode("a=b", 3, out, sizeof out), -1);
	assert_int_equal(smtp_address_xtext_decode("a b", 3, NULL, 0), -1);
	assert_int_equal(smtp_address_xtext_decode("abcd", 4, out, 4), -1);
	assert_int_equal(smtp_address_xtext_decode("abc", 3, out, 4), 0);
	assert_int_equal(smtp_address_xtext_decode("", 0, out, sizeof out), 0);
	assert_string_equal(out, "");
}

static void test_replies_all_defined(void **state)
{
	for (int st = 0; st <= SMTP_ADDRESS_E_PARAM_TOO_LONG; st++) {
		const char *m = smtp_address_reply((enum smtp_address_status)st, MAIL);
		const char *r = smtp_address_reply((enum smtp_address_status)st, RCPT);
		assert_true(strlen(m) > 10 && strlen(r) > 10);
		assert_true(m[0] == (st == 0 ? '2' : '5'));
		assert_true(r[0] == (st == 0 ? '2' : '5'));
		assert_string_not_equal(smtp_address_status_name((enum smtp_address_status)st),
		                        "unknown");
	}
}

static enum smtp_address_status mailbox(const char *s, unsigned opts)
{
	struct smtp_address a;
	return smtp_address_mailbox(s, strlen(s), opts, &a);
}

/* The bare mailbox of a configuration file: what MAIL FROM takes, without
 * brackets, route, spaces or parameters. */
static void test_mailbox(void **state)
{
	(void)state;
	struct smtp_address a;
	assert_int_equal(smtp_address_mailbox("Joe@Example.COM", 15, 0, &a), SMTP_ADDRESS_OK);
	assert_string_equal(a.local, "Joe");
	assert_string_equal(a.domain, "Example.COM");
	assert_int_equal(mailbox("\"a b\"@example.com", 0), SMTP_ADDRESS_OK);
	assert_int_equal(mailbox("a@[192.0.2.1]", 0), SMTP_ADDRESS_OK);
	assert_int_equal(mailbox("<a@example.com>", 0), SMTP_ADDRESS_E_BRACKETS);
	assert_int_equal(mailbox("<>", 0), SMTP_ADDRESS_E_BRACKETS);
	assert_int_equal(mailbox("a@example.com SIZE=10", 0), SMTP_ADDRESS_E_PARAM_SYNTAX);
	assert_int_equal(mailbox(" a@example.com", 0), SMTP_ADDRESS_E_PARAM_SYNTAX);
	assert_int_equal(mailbox("a@example.com ", 0), SMTP_ADDRESS_E_PARAM_SYNTAX);
	assert_int_equal(mailbox("a@example.com x", 0), SMTP_ADDRESS_E_PARAM_UNKNOWN);
	assert_int_equal(mailbox("@r.example:a@example.com", 0), SMTP_ADDRESS_E_ROUTE_SYNTAX);
	assert_int_equal(mailbox("example.com", 0), SMTP_ADDRESS_E_UNQUALIFIED);
	assert_int_equal(mailbox("postmaster", 0), SMTP_ADDRESS_E_UNQUALIFIED);
	assert_int_equal(mailbox("a@b@example.com", 0), SMTP_ADDRESS_E_DOMAIN_SYNTAX);
	assert_int_equal(mailbox("@example.com", 0), SMTP_ADDRESS_E_ROUTE_SYNTAX);
	assert_int_equal(mailbox("a@", 0), SMTP_ADDRESS_E_DOMAIN_SYNTAX);
	assert_int_equal(mailbox("a@-x.example", 0), SMTP_ADDRESS_E_DOMAIN_SYNTAX);
	assert_int_equal(mailbox("j\xc3\xb6rg@example.com", 0), SMTP_ADDRESS_E_UTF8);
	assert_int_equal(mailbox("j\xc3\xb6rg@example.com", SMTP_ADDRESS_OPT_SMTPUTF8),
	                 SMTP_ADDRESS_OK);
	assert_int_equal(mailbox("", 0), SMTP_ADDRESS_E_EMPTY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_simple),
	    cmocka_unit_test(test_brackets_and_null),
	    cmocka_unit_test(test_postmaster_unqualified),
	    cmocka_unit_test(test_local_part),
	    cmocka_unit_test(test_quoted),
	    cmocka_unit_test(test_control_chars),
	    cmocka_unit_test(test_domain),
	    cmocka_unit_test(test_literals),
	    cmocka_unit_test(test_source_route),
	    cmocka_unit_test(test_utf8),
	    cmocka_unit_test(test_params),
	    cmocka_unit_test(test_xtext),
	    cmocka_unit_test(test_replies_all_defined),
	    cmocka_unit_test(test_mailbox),
	};
	return cmocka_run_group_tests_name("address", tests, NULL, NULL);
}
