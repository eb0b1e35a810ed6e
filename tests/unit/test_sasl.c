/*
 * Unit tests for src/smtp/sasl.c: strict base64 (canonical only, bounded
 * output) and the SASL PLAIN split (RFC 4616).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "smtp/sasl.h"

#include <string.h>

static int dec(const char *in, char *out, size_t size, size_t *n)
{
	return smtp_sasl_base64_decode(in, strlen(in), out, size, n);
}

static void test_base64_good(void **state)
{
	char out[64];
	size_t n;
	assert_int_equal(dec("", out, sizeof out, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(dec("=", out, sizeof out, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(dec("Zg==", out, sizeof out, &n), 0);
	assert_string_equal(out, "f");
	assert_int_equal(dec("Zm8=", out, sizeof out, &n), 0);
	assert_string_equal(out, "fo");
	assert_int_equal(dec("Zm9vYmFy", out, sizeof out, &n), 0);
	assert_string_equal(out, "foobar");
	assert_int_equal(dec("AHNhbQBzZWNyZXQ=", out, sizeof out, &n), 0);
	assert_int_equal(n, 11);
	assert_memory_equal(out, "\0sam\0secret", 11);
}

static void test_base64_bad(void **state)
{
	static const char *const bad[] = {"Zg",   "Zg=",    "Z===",  "Zg==Zg==", "Zh==", "Zm9=",
	                                  "Zm 9", "Zm9v\n", "Zm9v!", "=Zg=",     "Zg=a", "===="};
	char out[64];
	size_t n;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(dec(bad[i], out, sizeof out, &n), -1);
}

static void test_base64_bounds(void **state)
{
	char out[7];
	size_t n;
	assert_int_equal(dec("Zm9vYmFy", out, sizeof out, &n), 0); /* 6 + NUL */
	assert_int_equal(dec("Zm9vYmFyZg==", out, sizeof out, &n), -1);
	assert_int_equal(dec("Zg==", out, 1, &n), -1);
	assert_int_equal(dec("Zg==", out, 0, &n), -1);
}

static void test_plain(void **state)
{
	struct smtp_sasl_plain p;
	assert_int_equal(smtp_sasl_plain_parse("\0sam\0secret", 11, &p), 0);
	assert_string_equal(p.authzid, "");
	assert_string_equal(p.authcid, "sam");
	assert_string_equal(p.passwd, "secret");
	assert_int_equal(smtp_sasl_plain_parse("boss\0sam\0pw", 11, &p), 0);
	assert_string_equal(p.authzid, "boss");
	assert_int_equal(smtp_sasl_plain_parse("\0sam\0", 5, &p), -1);   /* empty password */
	assert_int_equal(smtp_sasl_plain_parse("\0\0pw", 4, &p), -1);    /* empty user */
	assert_int_equal(smtp_sasl_plain_parse("sam\0pw", 6, &p), -1);   /* one NUL */
	assert_int_equal(smtp_sasl_plain_parse("\0a\0b\0c", 6, &p), -1); /* three */
	char big[SMTP_SASL_FIELD_MAX + 10];
	memset(big, 'x', sizeof big);
	big[0] = '\0';
	big[2] = '\0';
	assert_int_equal(smtp_sasl_plain_parse(big, sizeof big, &p), -1);
	assert_string_equal(p.passwd, "");
}

static void test_wipe(void **state)
{
	char s[8] = "secret";
	smtp_sasl_wipe(s, sizeof s);
	for (size_t i = 0; i < sizeof s; i++)
		assert_int_equal(s[i], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_base64_good),   cmocka_unit_test(test_base64_bad),
	    cmocka_unit_test(test_base64_bounds), cmocka_unit_test(test_plain),
	    cmocka_unit_test(test_wipe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
