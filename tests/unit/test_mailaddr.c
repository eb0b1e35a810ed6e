/*
 * Unit tests for src/core/mailaddr: the split of "local@domain".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/mailaddr.h"

#include <string.h>

static void split(const char *s, const char *local, const char *domain, bool has_at)
{
	struct mailaddr m;
	mailaddr_split(s, strlen(s), &m);
	assert_int_equal(m.has_at, has_at);
	assert_int_equal(m.local_len, strlen(local));
	assert_memory_equal(m.local, local, m.local_len);
	assert_int_equal(m.domain_len, strlen(domain));
	assert_memory_equal(m.domain, domain, m.domain_len);
	assert_string_equal(mailaddr_domain(s), domain);
	assert_int_equal(mailaddr_local_len(s), strlen(local));
	assert_int_equal(mailaddr_at(s) != NULL, has_at);
}

static void test_mailaddr_plain(void **state)
{
	(void)state;
	split("user@example.com", "user", "example.com", true);
	split("a.b+tag@sub.example.org", "a.b+tag", "sub.example.org", true);
	/* the last '@' separates: a domain never holds one */
	split("a@b@example.com", "a@b", "example.com", true);
}

static void test_mailaddr_missing_parts(void **state)
{
	(void)state;
	split("postmaster", "postmaster", "", false);
	split("", "", "", false);
	split("@example.com", "", "example.com", true); /* empty local part */
	split("user@", "user", "", true);               /* empty domain */
	split("@", "", "", true);
	assert_null(mailaddr_at(NULL));
	assert_string_equal(mailaddr_domain(NULL), "");
	assert_int_equal(mailaddr_local_len(NULL), 0);
}

static void test_mailaddr_quoted(void **state)
{
	(void)state;
	split("\"a@b\"@example.com", "\"a@b\"", "example.com", true);
	/* an '@' inside the quotes never separates */
	split("\"a@b\"", "\"a@b\"", "", false);
	/* a quoted quote and a quoted backslash do not end the string */
	split("\"x\\\"@y\"@example.com", "\"x\\\"@y\"", "example.com", true);
	split("\"x\\\\\"@example.com", "\"x\\\\\"", "example.com", true);
	/* unclosed: not a quoted string, so the last '@' as for any other */
	split("\"a@b", "\"a", "b", true);
}

static void test_mailaddr_length_bounded(void **state)
{
	(void)state;
	/* only len bytes are read: the '@' beyond them is not seen */
	const char s[] = "user@example.com";
	assert_null(mailaddr_at_n(s, 4));
	assert_ptr_equal(mailaddr_at_n(s, 5), s + 4);
	struct mailaddr m;
	mailaddr_split(s, 8, &m);
	assert_true(m.has_at);
	assert_int_equal(m.domain_len, 3);
	assert_memory_equal(m.domain, "exa", 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mailaddr_plain),
	    cmocka_unit_test(test_mailaddr_missing_parts),
	    cmocka_unit_test(test_mailaddr_quoted),
	    cmocka_unit_test(test_mailaddr_length_bounded),
	};
	return cmocka_run_group_tests_name("mailaddr", tests, NULL, NULL);
}
