/*
 * Unit tests for src/forensics/qtrack.c: put, get, delete with backward
 * shift (no entry lost behind a hole), growth, the bound on live entries and
 * the expiry of stale ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "forensics/qtrack.h"

#include <stdio.h>
#include <string.h>

static void id(char *out, size_t size, unsigned i)
{
	(void)snprintf(out, size, "%010X", i * 2654435761u);
}

static void test_put_get_del(void **state)
{
	struct qtrack t;
	bool created;
	char k[32];
	assert_int_equal(qtrack_init(&t, 1u << 20), 0);
	for (unsigned i = 0; i < 50000; i++) {
		id(k, sizeof k, i);
		struct qtrack_msg *m = qtrack_put(&t, k, strlen(k), i, &created);
		assert_non_null(m);
		assert_true(created);
		m->user = i;
	}
	assert_int_equal(t.n, 50000);
	/* delete every third, then every one left is still found */
	for (unsigned i = 0; i < 50000; i += 3) {
		id(k, sizeof k, i);
		struct qtrack_msg *m = qtrack_get(&t, k, strlen(k));
		assert_non_null(m);
		qtrack_del(&t, m);
	}
	for (unsigned i = 0; i < 50000; i++) {
		id(k, sizeof k, i);
		struct qtrack_msg *m = qtrack_get(&t, k, strlen(k));
		if (i % 3 == 0) {
			assert_null(m);
		} else {
			assert_non_null(m);
			assert_int_equal(m->user, i);
		}
	}
	id(k, sizeof k, 1);
	assert_non_null(qtrack_put(&t, k, strlen(k), 0, &created));
	assert_false(created);
	/* IDs that cannot be one */
	assert_null(qtrack_put(&t, "", 0, 0, &created));
	assert_null(qtrack_get(&t, "123456789012345678901234", 24));
	assert_true(t.peak >= 50000);
	qtrack_free(&t);
}

static void test_bounded(void **state)
{
	struct qtrack t;
	bool created;
	char k[32];
	assert_int_equal(qtrack_init(&t, 100), 0);
	for (unsigned i = 0; i < 100; i++) {
		id(k, sizeof k, i);
		assert_non_null(qtrack_put(&t, k, strlen(k), 1000, &created));
	}
	/* full, nothing stale: the next one is not tracked */
	id(k, sizeof k, 100);
	assert_null(qtrack_put(&t, k, strlen(k), 2000, &created));
	assert_int_equal(t.dropped, 1);
	/* a queue lifetime later the old ones make room */
	assert_non_null(qtrack_put(&t, k, strlen(k), 1000 + QTRACK_STALE_MS + 1, &created));
	assert_int_equal(t.n, 1);
	assert_int_equal(qtrack_expire(&t, INT64_MAX), 1);
	assert_int_equal(t.n, 0);
	qtrack_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_put_get_del),
	    cmocka_unit_test(test_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
