/*
 * Unit tests for src/delivery/mtasts: the _mta-sts TXT record, the policy
 * file (RFC 8461 §3.1, §3.2) with its strictness, and mx pattern matching
 * (§4.1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "delivery/mtasts.h"

#include <string.h>

static int txt(const char *s, char *id)
{
	char err[120];
	return mtasts_parse_txt(s, strlen(s), id, err, sizeof err);
}

static void test_txt(void **state)
{
	char id[MTASTS_ID_MAX];
	assert_int_equal(txt("v=STSv1; id=20160831085700Z;", id), 1);
	assert_string_equal(id, "20160831085700Z");
	assert_int_equal(txt("v=STSv1;id=abc", id), 1);
	assert_string_equal(id, "abc");
	assert_int_equal(txt("v=spf1 -all | v=STSv1; id=x1; ext=ok", id), 1);
	assert_string_equal(id, "x1");
	assert_int_equal(txt("v=spf1 -all", id), 0);
	assert_int_equal(txt("", id), 0);
	assert_int_equal(txt("v=STSv10; id=1", id), 0); /* another version: not ours */
	static const char *const bad[] = {
	    "v=STSv1",                                       /* no id */
	    "v=STSv1; id=",                                  /* empty id */
	    "v=STSv1; id=a-b",                               /* not alphanumeric */
	    "v=STSv1; id=123456789012345678901234567890123", /* 33 characters */
	    "v=STSv1; id=1; id=2",                           /* twice */
	    "v=STSv1; id=1 | v=STSv1; id=2",                 /* two records */
	    "v=STSv1; junk; id=1",                           /* a field without = */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(txt(bad[i], id), -1);
}

static int policy(const char *s, struct mtasts_policy *p)
{
	char err[120];
	return mtasts_parse_policy(s, strlen(s), p, err, sizeof err);
}

static void test_policy(void **state)
{
	struct mtasts_policy p;
	assert_int_equal(policy("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
	                        "mx: *.example.net\r\nmx: backupmx.example.com.\r\n"
	                        "max_age: 604800\r\n",
	                        &p),
	                 0);
	assert_int_equal(p.mode, MTASTS_ENFORCE);
	assert_int_equal(p.max_age, 604800);
	assert_int_equal(p.nmx, 3);
	assert_string_equal(p.mx[1], "*.example.net");
	assert_string_equal(p.mx[2], "backupmx.example.com");
	/* LF only, any order, extra whitespace, unknown keys ignored */
	assert_int_equal(policy("max_age:86400\nmx:  MX.Example.ORG  \nmode: testing\n"
	                        "version: STSv1\nfuture_key: whatever\n",
	                        &p),
	                 0);
	assert_int_equal(p.mode, MTASTS_TESTING);
	assert_string_equal(p.mx[0], "mx.example.org");
	assert_int_equal(policy("version: STSv1\nmode: none\nmax_age: 0\n", &p), 0);
	assert_int_equal(p.mode, MTASTS_NONE);
	static const char *const bad[] = {
	    "",
	    "version: STSv1\nmode: enforce\nmx: a.example\n", /* no max_age */
	    "mode: enforce\nmx: a.example\nmax_age: 1\n",     /* no version */
	    "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n",
	    "version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n",
	    "version: STSv1\nmode: enforce\nmax_age: 1\n", /* no mx */
	    "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n",
	    "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n",
	    "version: STSv1\nmode: enforce\nmode: none\nmx: a.example\nmax_age: 1\n",
	    "version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n",
	    "version: STSv1\nmode: enforce\nmx: *\nmax_age: 1\n",
	    "version: STSv1\nmode: enforce\nmx: a.*.example\nmax_age: 1\n",
	    "version: STSv1\nmode: enforce\nmx: a example\nmax_age: 1\n",
	    "version: STSv1\nmode enforce\nmx: a.example\nmax_age: 1\n", /* no colon */
	    "<html>version: STSv1</html>",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(policy(bad[i], &p), -1);
}

static void test_mx_match(void **state)
{
	struct mtasts_policy p;
	assert_int_equal(policy("version: STSv1\nmode: enforce\nmx: mail.example.com\n"
	                        "mx: *.example.net\nmax_age: 60\n",
	                        &p),
	                 0);
	assert_true(mtasts_mx_match(&p, "mail.example.com"));
	assert_true(mtasts_mx_match(&p, "MAIL.Example.com."));
	assert_true(mtasts_mx_match(&p, "mx1.example.net"));
	assert_false(mtasts_mx_match(&p, "a.b.example.net")); /* one label only */
	assert_false(mtasts_mx_match(&p, "example.net"));
	assert_false(mtasts_mx_match(&p, "evil.example.com"));
	assert_false(mtasts_mx_match(&p, "mail.example.com.evil.test"));
	assert_false(mtasts_mx_match(&p, "xmail.example.com"));
	assert_false(mtasts_mx_match(&p, ""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_txt),
	    cmocka_unit_test(test_policy),
	    cmocka_unit_test(test_mx_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
