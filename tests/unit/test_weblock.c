/*
 * Unit tests for src/admin/weblock: web-login lockouts by address (issue 16
 * item 5), their own object: counted per address, locked past the limit,
 * exempt addresses counted for the delay only, bounded table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "admin/weblock.h"
#include "core/str.h"

#include <stdlib.h>
#include <string.h>

static struct addr ip_of(const char *s)
{
	struct addr a;
	assert_int_equal(addr_parse(s, strlen(s), &a), 0);
	return a;
}

static void test_weblock_limit_and_expiry(void **state)
{
	struct weblock *l = calloc(1, sizeof *l);
	weblock_init(l, 5, 60000, 3600000, 10, 50);
	struct addr a = ip_of("203.0.113.5"), b = ip_of("203.0.113.6");
	uint32_t d;
	for (int i = 0; i < 5; i++) {
		assert_false(weblock_fail(l, &a, 1000 + i, true, &d));
		assert_false(weblock_locked(l, &a, 1000 + i));
	}
	assert_int_equal(d, 50);                          /* 10, 20, 40, 50 (capped) */
	assert_true(weblock_fail(l, &a, 1010, true, &d)); /* the sixth locks */
	assert_true(weblock_locked(l, &a, 1011));
	assert_false(weblock_locked(l, &b, 1011)); /* another address is not */
	assert_false(weblock_locked(l, &a, 1010 + 3600000));
	/* failures outside the period start over */
	assert_false(weblock_fail(l, &b, 0, true, &d));
	assert_int_equal(d, 10);
	assert_false(weblock_fail(l, &b, 70000, true, &d));
	assert_int_equal(d, 10);
	/* exempt (lock false): counted for the delay, never locked */
	struct addr lo = ip_of("127.0.0.1");
	for (int i = 0; i < 20; i++)
		assert_false(weblock_fail(l, &lo, 2000 + i, false, &d));
	assert_false(weblock_locked(l, &lo, 2100));
	assert_int_equal(d, 50);
	/* success forgets */
	weblock_success(l, &b);
	assert_false(weblock_fail(l, &b, 80000, true, &d));
	assert_int_equal(d, 10);
	free(l);
}

static void test_weblock_bounded(void **state)
{
	struct weblock *l = calloc(1, sizeof *l);
	weblock_init(l, 1, 60000, 3600000, 0, 0);
	struct addr a = ip_of("198.51.100.1");
	uint32_t d;
	weblock_fail(l, &a, 0, true, &d);
	assert_true(weblock_fail(l, &a, 1, true, &d));
	/* many more addresses than slots: the table stays bounded and the locked
	 * entry is the last to give way */
	for (unsigned i = 0; i < 3 * WEBLOCK_SLOTS; i++) {
		char t[ADDR_STRLEN];
		assert_int_equal(str_format(t, sizeof t, "2001:db8::%x", i + 1), 0);
		struct addr x = ip_of(t);
		weblock_fail(l, &x, 10 + i, true, &d);
	}
	assert_true(weblock_locked(l, &a, 5000));
	free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_weblock_limit_and_expiry),
	    cmocka_unit_test(test_weblock_bounded),
	};
	return cmocka_run_group_tests_name("weblock", tests, NULL, NULL);
}
