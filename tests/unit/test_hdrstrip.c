/*
 * Unit tests for src/smtp/hdrstrip.c: the named field and its continuation
 * lines go, in any case and at any chunking; other fields, look-alike names,
 * the body and a message without a header section stay byte for byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "smtp/hdrstrip.h"

#include <string.h>

static int emit(void *arg, const char *p, size_t n)
{
	return buf_append(arg, p, n) < 0 ? -1 : 0;
}

/* in through a stripper of name in chunks of step bytes; the output. */
static void run(const char *name, const char *in, size_t step, struct buf *out, unsigned *removed)
{
	struct hdrstrip s;
	assert_int_equal(hdrstrip_init(&s, name), 0);
	size_t n = strlen(in);
	for (size_t i = 0; i < n; i += step)
		assert_int_equal(hdrstrip_feed(&s, in + i, n - i < step ? n - i : step, emit, out),
		                 0);
	assert_int_equal(hdrstrip_finish(&s, emit, out), 0);
	if (removed)
		*removed = s.removed;
}

static void check(const char *name, const char *in, const char *want, unsigned want_removed)
{
	for (size_t step = 1; step <= strlen(in) + 1; step++) {
		struct buf out;
		unsigned removed = 0;
		buf_init(&out, 1 << 16);
		run(name, in, step, &out, &removed);
		assert_int_equal(out.len, strlen(want));
		assert_memory_equal(out.data, want, out.len);
		assert_int_equal(removed, want_removed);
		buf_free(&out);
	}
}

static void test_removes_field_and_continuations(void **state)
{
	(void)state;
	check("X-Authenticated-User",
	      "From: <a@corp.test>\r\nx-authenticated-user: sam@corp.test\r\n\tmore\r\n"
	      "Subject: hi\r\nX-AUTHENTICATED-USER:bob@corp.test\r\n\r\n"
	      "X-Authenticated-User: in the body stays\r\n",
	      "From: <a@corp.test>\r\nSubject: hi\r\n\r\n"
	      "X-Authenticated-User: in the body stays\r\n",
	      2);
}

static void test_keeps_lookalikes(void **state)
{
	(void)state;
	const char *in = "X-Authenticated-User-Id: 7\r\nX-Authenticated-Use: 8\r\n"
	                 "X-Authenticated-User : spaced\r\nno colon line\r\n"
	                 "X-Authenticated-Userx: 9\r\n\r\nbody\r\n";
	check("X-Authenticated-User", in, in, 0);
}

static void test_last_field_and_no_body(void **state)
{
	(void)state;
	check("X-A", "Subject: s\r\nX-A: 1\r\n continued\r\n\r\n", "Subject: s\r\n\r\n", 1);
	check("X-A", "Subject: s\r\nX-A: 1", "Subject: s\r\n", 1);
	check("X-A", "X-", "X-", 0);
	check("X-A", "\r\nX-A: 1\r\n", "\r\nX-A: 1\r\n", 0);
	check("X-A", "", "", 0);
}

static void test_bad_names(void **state)
{
	(void)state;
	struct hdrstrip s;
	assert_int_equal(hdrstrip_init(&s, ""), -1);
	assert_int_equal(hdrstrip_init(&s, "X-A:"), -1);
	assert_int_equal(hdrstrip_init(&s, "X A"), -1);
	char longname[HDRSTRIP_NAME_MAX + 1];
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	assert_int_equal(hdrstrip_init(&s, longname), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_removes_field_and_continuations),
	    cmocka_unit_test(test_keeps_lookalikes),
	    cmocka_unit_test(test_last_field_and_no_body),
	    cmocka_unit_test(test_bad_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
