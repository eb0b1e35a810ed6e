/*
 * Unit tests for src/core/hash: the published FNV-1a test vectors (64 and
 * 32 bits), the case-folding and continuing forms.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/hash.h"

#include <string.h>

static void test_fnv1a64_vectors(void **state)
{
	assert_true(hash_fnv1a64_str("") == 0xcbf29ce484222325ULL);
	assert_true(hash_fnv1a64_str("a") == 0xaf63dc4c8601ec8cULL);
	assert_true(hash_fnv1a64_str("foobar") == 0x85944171f73967e8ULL);
	assert_true(hash_fnv1a64("", 0) == 0xcbf29ce484222325ULL);
	assert_true(hash_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cULL);
	assert_true(hash_fnv1a64("foobar", 6) == 0x85944171f73967e8ULL);
	/* bytes, not a string: a NUL inside counts */
	assert_true(hash_fnv1a64("a\0b", 3) != hash_fnv1a64("a", 1));
}

static void test_fnv1a64_add(void **state)
{
	uint64_t h = hash_fnv1a64_add(HASH_FNV1A64_BASIS, "foo", 3);
	assert_true(hash_fnv1a64_add(h, "bar", 3) == hash_fnv1a64_str("foobar"));
	assert_true(hash_fnv1a64_str_add(h, "bar") == hash_fnv1a64_str("foobar"));
	assert_true(hash_fnv1a64_add(HASH_FNV1A64_BASIS ^ 1, "a", 1) != hash_fnv1a64("a", 1));
}

static void test_fnv1a64_lower(void **state)
{
	assert_true(hash_fnv1a64_str_lower("") == 0xcbf29ce484222325ULL);
	assert_true(hash_fnv1a64_str_lower("A") == 0xaf63dc4c8601ec8cULL);
	assert_true(hash_fnv1a64_str_lower("FooBAR") == 0x85944171f73967e8ULL);
	assert_true(hash_fnv1a64_str_lower("Alice@Example.ORG") ==
	            hash_fnv1a64_str("alice@example.org"));
	/* only ASCII letters fold: '@' and '[' (next to 'A' and 'Z') stay */
	assert_true(hash_fnv1a64_str_lower("@[") == hash_fnv1a64_str("@["));
	assert_true(hash_fnv1a64_str_lower("\xc3\x89") == hash_fnv1a64_str("\xc3\x89"));
}

static void test_fnv1a32_vectors(void **state)
{
	assert_true(hash_fnv1a32("", 0) == 0x811c9dc5u);
	assert_true(hash_fnv1a32("a", 1) == 0xe40c292cu);
	assert_true(hash_fnv1a32("foobar", 6) == 0xbf9cf968u);
	uint32_t h = HASH_FNV1A32_BASIS;
	for (const char *p = "foobar"; *p; p++)
		h = hash_fnv1a32_byte(h, (unsigned char)*p);
	assert_true(h == 0xbf9cf968u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fnv1a64_vectors),
	    cmocka_unit_test(test_fnv1a64_add),
	    cmocka_unit_test(test_fnv1a64_lower),
	    cmocka_unit_test(test_fnv1a32_vectors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
