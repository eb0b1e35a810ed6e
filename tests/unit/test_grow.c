/*
 * Unit tests for src/core/grow: the growth sequence (doubling from
 * GROW_MIN, or what is asked when that is more), the zero and minimum
 * cases, max (clamped, refused past it), need * elem_size past a size_t
 * refused, out of memory, and that every failure leaves the pointer, the
 * capacity and the elements as they were; parallel arrays come out with
 * equal capacities; the x variants end the process.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/grow.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A request of 2^62 bytes fails in glibc (no such address space); under
 * AddressSanitizer it fails only when the allocator may return NULL. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

#define HUGE_BYTES ((size_t)1 << 62)

static void test_sequence(void **state)
{
	int *v = NULL;
	size_t n = 0, cap = 0;
	size_t caps[16], ncaps = 0;
	for (int i = 0; i < 1000; i++) {
		size_t before = cap;
		assert_int_equal(grow_array(&v, &cap, n + 1, sizeof *v), 0);
		if (cap != before) {
			assert_true(ncaps < 16);
			caps[ncaps++] = cap;
		}
		v[n++] = i;
	}
	/* 8, 16, ..., 1024: doubling from GROW_MIN */
	assert_int_equal(ncaps, 8);
	for (size_t i = 0; i < ncaps; i++)
		assert_int_equal(caps[i], (size_t)GROW_MIN << i);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(v[i], i);
	free(v);
}

static void test_need_beyond_double(void **state)
{
	char *v = NULL;
	size_t cap = 0;
	assert_int_equal(grow_array(&v, &cap, 100, 1), 0);
	assert_int_equal(cap, 100); /* what is asked, more than GROW_MIN */
	assert_int_equal(grow_array(&v, &cap, 101, 1), 0);
	assert_int_equal(cap, 200); /* doubled, more than asked */
	assert_int_equal(grow_array(&v, &cap, 1000, 1), 0);
	assert_int_equal(cap, 1000); /* asked, more than doubled */
	v[999] = 'x';
	free(v);
}

static void test_zero_and_minimum(void **state)
{
	long *v = NULL;
	size_t cap = 0;
	/* nothing asked: nothing allocated */
	assert_int_equal(grow_array(&v, &cap, 0, sizeof *v), 0);
	assert_null(v);
	assert_int_equal(cap, 0);
	assert_int_equal(grow_array(&v, &cap, 1, sizeof *v), 0);
	assert_non_null(v);
	assert_int_equal(cap, GROW_MIN);
	long *was = v;
	/* room already: no call out, no change */
	assert_int_equal(grow_array(&v, &cap, GROW_MIN, sizeof *v), 0);
	assert_ptr_equal(v, was);
	assert_int_equal(cap, GROW_MIN);
	free(v);

	/* a max below GROW_MIN is the first size */
	v = NULL;
	cap = 0;
	assert_int_equal(grow_array_max(&v, &cap, 1, sizeof *v, 3), 0);
	assert_int_equal(cap, 3);
	free(v);
}

static void test_max(void **state)
{
	short *v = NULL;
	size_t cap = 0;
	/* 8, 16, 20 (clamped), then nothing past 20 */
	assert_int_equal(grow_array_max(&v, &cap, 1, sizeof *v, 20), 0);
	assert_int_equal(cap, 8);
	assert_int_equal(grow_array_max(&v, &cap, 9, sizeof *v, 20), 0);
	assert_int_equal(cap, 16);
	assert_int_equal(grow_array_max(&v, &cap, 17, sizeof *v, 20), 0);
	assert_int_equal(cap, 20);
	for (short i = 0; i < 20; i++)
		v[i] = i;
	short *was = v;
	assert_int_equal(grow_array_max(&v, &cap, 21, sizeof *v, 20), -1);
	assert_ptr_equal(v, was);
	assert_int_equal(cap, 20);
	for (short i = 0; i < 20; i++)
		assert_int_equal(v[i], i);
	/* need above max on an empty array: nothing allocated */
	short *w = NULL;
	size_t wcap = 0;
	assert_int_equal(grow_array_max(&w, &wcap, 5, sizeof *w, 4), -1);
	assert_null(w);
	assert_int_equal(wcap, 0);
	free(v);
}

static void test_overflow_refused(void **state)
{
	uint64_t *v = NULL;
	size_t cap = 0;
	assert_int_equal(grow_array(&v, &cap, 4, sizeof *v), 0);
	v[0] = 42;
	uint64_t *was = v;
	size_t was_cap = cap;
	/* need * 8 wraps: refused before any allocation */
	assert_int_equal(grow_array(&v, &cap, SIZE_MAX / sizeof *v + 1, sizeof *v), -1);
	assert_int_equal(grow_array(&v, &cap, SIZE_MAX, sizeof *v), -1);
	assert_ptr_equal(v, was);
	assert_int_equal(cap, was_cap);
	assert_int_equal(v[0], 42);
	/* a max past what fits a size_t is what fits */
	assert_int_equal(grow_array_max(&v, &cap, SIZE_MAX / 4, sizeof *v, SIZE_MAX), -1);
	assert_ptr_equal(v, was);
	assert_int_equal(cap, was_cap);
	free(v);
}

static void test_out_of_memory(void **state)
{
	char *v = NULL;
	size_t cap = 0;
	assert_int_equal(grow_array(&v, &cap, 10, 1), 0);
	memcpy(v, "abcdefghi", 10);
	char *was = v;
	assert_int_equal(grow_array(&v, &cap, HUGE_BYTES, 1), -1);
	assert_ptr_equal(v, was);
	assert_int_equal(cap, 10);
	assert_string_equal(v, "abcdefghi");
	/* the same from nothing: still nothing */
	char *w = NULL;
	size_t wcap = 0;
	assert_int_equal(grow_array(&w, &wcap, HUGE_BYTES, 1), -1);
	assert_null(w);
	assert_int_equal(wcap, 0);
	free(v);
}

/* Two arrays indexed alike, each grown from a copy of the one capacity. */
static void test_parallel(void **state)
{
	uint32_t *a = NULL;
	uint16_t *b = NULL;
	size_t cap = 0, n = 0;
	for (uint32_t i = 0; i < 300; i++) {
		size_t ca = cap, cb = cap;
		assert_int_equal(grow_array(&a, &ca, n + 1, sizeof *a), 0);
		assert_int_equal(grow_array(&b, &cb, n + 1, sizeof *b), 0);
		assert_int_equal(ca, cb);
		cap = cb;
		a[n] = i;
		b[n++] = (uint16_t)i;
	}
	/* a pair that cannot grow: the capacity stays, both arrays stay valid */
	size_t ca = cap, cb = cap, need = SIZE_MAX / sizeof *a + 1;
	if (grow_array(&a, &ca, need, sizeof *a) == 0 && grow_array(&b, &cb, need, sizeof *b) == 0)
		cap = cb;
	assert_int_equal(cap, 512);
	assert_int_equal(ca, 512);
	assert_int_equal(cb, 512);
	for (uint32_t i = 0; i < 300; i++)
		assert_true(a[i] == i && b[i] == i);
	free(a);
	free(b);
}

/* Runs fn in a child; its wait status. */
static int grow_child(void (*fn)(void))
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fn();
		_exit(0);
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void grow_x_overflow(void)
{
	uint64_t *v = NULL;
	size_t cap = 0;
	grow_xarray(&v, &cap, SIZE_MAX / 2, sizeof *v);
}

static void grow_x_past_max(void)
{
	int *v = NULL;
	size_t cap = 0;
	grow_xarray_max(&v, &cap, 11, sizeof *v, 10);
}

static void test_x_variants(void **state)
{
	int *v = NULL;
	size_t cap = 0;
	for (int i = 0; i < 100; i++) {
		grow_xarray_max(&v, &cap, (size_t)i + 1, sizeof *v, 100);
		v[i] = i;
	}
	assert_int_equal(cap, 100); /* 8, ..., 64, then 100 (max) */
	grow_xarray(&v, &cap, 101, sizeof *v);
	assert_int_equal(cap, 200);
	assert_int_equal(v[99], 99);
	free(v);

	/* past a size_t: fatal() (exit 2); past max: a bug, panic() (abort) */
	int st = grow_child(grow_x_overflow);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 2);
	st = grow_child(grow_x_past_max);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sequence),         cmocka_unit_test(test_need_beyond_double),
	    cmocka_unit_test(test_zero_and_minimum), cmocka_unit_test(test_max),
	    cmocka_unit_test(test_overflow_refused), cmocka_unit_test(test_out_of_memory),
	    cmocka_unit_test(test_parallel),         cmocka_unit_test(test_x_variants),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
