/*
 * Unit tests for src/core/htab: insert, find, delete, growth, iteration
 * (with removal), collisions under a hash that sends every key to one slot,
 * tombstone reuse and the maximum number of entries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/hash.h"
#include "core/htab.h"

#include <stdio.h>
#include <string.h>

struct item {
	char key[16];
	int seen;
};

#define NITEMS 1000
static struct item items[NITEMS];

static bool item_eq(const void *item, const void *key)
{
	return strcmp(((const struct item *)item)->key, key) == 0;
}

static uint64_t item_hash(const char *key)
{
	return hash_fnv1a64_str(key);
}

static int setup(void **state)
{
	(void)state;
	for (int i = 0; i < NITEMS; i++) {
		(void)snprintf(items[i].key, sizeof items[i].key, "k%d", i);
		items[i].seen = 0;
	}
	return 0;
}

static void test_insert_find_delete(void **state)
{
	(void)state;
	struct htab t;
	htab_init(&t, 0);
	assert_null(htab_find(&t, item_hash("k1"), item_eq, "k1"));
	assert_false(htab_remove(&t, item_hash("k1"), &items[1]));
	for (int i = 0; i < 10; i++)
		assert_int_equal(htab_insert(&t, item_hash(items[i].key), &items[i]), 0);
	assert_int_equal(htab_count(&t), 10);
	for (int i = 0; i < 10; i++)
		assert_ptr_equal(htab_find(&t, item_hash(items[i].key), item_eq, items[i].key),
		                 &items[i]);
	assert_null(htab_find(&t, item_hash("k10"), item_eq, "k10"));
	assert_true(htab_remove(&t, item_hash("k3"), &items[3]));
	assert_false(htab_remove(&t, item_hash("k3"), &items[3]));
	assert_null(htab_find(&t, item_hash("k3"), item_eq, "k3"));
	assert_int_equal(htab_count(&t), 9);
	for (int i = 0; i < 10; i++)
		if (i != 3)
			assert_ptr_equal(
			    htab_find(&t, item_hash(items[i].key), item_eq, items[i].key),
			    &items[i]);
	assert_int_equal(htab_insert(&t, 1, NULL), -1);
	/* an entry that moved: the new pointer found, the old one gone */
	assert_true(htab_replace(&t, item_hash("k4"), &items[4], &items[20]));
	assert_ptr_equal(htab_find(&t, item_hash("k4"), item_eq, "k20"), &items[20]);
	assert_false(htab_replace(&t, item_hash("k4"), &items[4], &items[21]));
	assert_true(htab_remove(&t, item_hash("k4"), &items[20]));
	assert_int_equal(htab_count(&t), 8);
	htab_free(&t);
	assert_int_equal(htab_count(&t), 0);
	assert_null(htab_find(&t, item_hash("k1"), item_eq, "k1"));
}

static void test_grow(void **state)
{
	(void)state;
	struct htab t;
	htab_init(&t, 0);
	size_t cap = 0;
	int grew = 0;
	for (int i = 0; i < NITEMS; i++) {
		assert_int_equal(htab_insert(&t, item_hash(items[i].key), &items[i]), 0);
		if (t.cap != cap) {
			grew++;
			cap = t.cap;
		}
		assert_true(t.used * 4 <= t.cap * 3);
	}
	assert_true(grew >= 6); /* 16 .. 2048 */
	assert_true((t.cap & (t.cap - 1)) == 0);
	for (int i = 0; i < NITEMS; i++)
		assert_ptr_equal(htab_find(&t, item_hash(items[i].key), item_eq, items[i].key),
		                 &items[i]);
	htab_free(&t);

	/* reserve: no rehash while filling up to the reserved count */
	htab_init(&t, 0);
	assert_int_equal(htab_reserve(&t, 500), 0);
	cap = t.cap;
	for (int i = 0; i < 500; i++)
		assert_int_equal(htab_insert(&t, item_hash(items[i].key), &items[i]), 0);
	assert_int_equal(t.cap, cap);
	htab_free(&t);
}

static void test_iterate(void **state)
{
	(void)state;
	struct htab t;
	htab_init(&t, 0);
	size_t pos = 0;
	assert_null(htab_next(&t, &pos));
	for (int i = 0; i < 100; i++)
		assert_int_equal(htab_insert(&t, item_hash(items[i].key), &items[i]), 0);
	pos = 0;
	struct item *it;
	int n = 0;
	while ((it = htab_next(&t, &pos))) {
		it->seen++;
		n++;
	}
	assert_int_equal(n, 100);
	for (int i = 0; i < 100; i++)
		assert_int_equal(items[i].seen, 1);

	/* removing while iterating: every even one, each visited once */
	pos = 0;
	n = 0;
	while ((it = htab_next(&t, &pos))) {
		it->seen++;
		n++;
		int k = (int)(it - items);
		if (k % 2 == 0)
			htab_remove_at(&t, pos);
		else if (k % 3 == 0) /* and by pointer, one we visit now */
			assert_true(htab_remove(&t, item_hash(it->key), it));
	}
	assert_int_equal(n, 100);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(items[i].seen, 2);
		struct item *f = htab_find(&t, item_hash(items[i].key), item_eq, items[i].key);
		if (i % 2 == 0 || i % 3 == 0)
			assert_null(f);
		else
			assert_ptr_equal(f, &items[i]);
	}
	assert_int_equal(htab_count(&t), 33);
	htab_free(&t);
}

/* Every key under one hash: one probe chain, the keys told apart by eq. */
static void test_collisions(void **state)
{
	(void)state;
	struct htab t;
	htab_init(&t, 0);
	for (int i = 0; i < 200; i++)
		assert_int_equal(htab_insert(&t, 42, &items[i]), 0);
	for (int i = 0; i < 200; i++)
		assert_ptr_equal(htab_find(&t, 42, item_eq, items[i].key), &items[i]);
	assert_null(htab_find(&t, 42, item_eq, "k200"));
	/* hashes that differ only above the mask land in the same chain too */
	assert_int_equal(htab_insert(&t, 42 + ((uint64_t)1 << 40), &items[200]), 0);
	assert_null(htab_find(&t, 42, item_eq, "k200"));
	assert_ptr_equal(htab_find(&t, 42 + ((uint64_t)1 << 40), item_eq, "k200"), &items[200]);
	/* deleting from the middle of the chain keeps the ones after it findable */
	for (int i = 0; i < 200; i += 2)
		assert_true(htab_remove(&t, 42, &items[i]));
	for (int i = 0; i < 200; i++) {
		void *f = htab_find(&t, 42, item_eq, items[i].key);
		if (i % 2)
			assert_ptr_equal(f, &items[i]);
		else
			assert_null(f);
	}
	assert_ptr_equal(htab_find(&t, 42 + ((uint64_t)1 << 40), item_eq, "k200"), &items[200]);
	htab_free(&t);
}

/* Deleted slots are taken again: churn of insert/delete over a few live keys
 * neither grows the table nor leaves the tombstones to pile up. */
static void test_tombstone_reuse(void **state)
{
	(void)state;
	struct htab t;
	htab_init(&t, 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(htab_insert(&t, 7, &items[i]), 0);
	size_t cap = t.cap, used = t.used;
	/* a tombstone in the middle of the chain: the next insert takes it */
	assert_true(htab_remove(&t, 7, &items[3]));
	assert_int_equal(t.used, used);
	assert_int_equal(htab_insert(&t, 7, &items[8]), 0);
	assert_int_equal(t.used, used);
	assert_int_equal(t.slot[(7 + 3) & (cap - 1)].item, &items[8]);
	/* the end of a chain becomes empty again, with the tombstones before it */
	assert_true(htab_remove(&t, 7, &items[6]));
	assert_true(htab_remove(&t, 7, &items[7]));
	assert_int_equal(t.used, used - 2);
	assert_null(t.slot[(7 + 6) & (cap - 1)].item);
	/* churn */
	for (int r = 0; r < 10000; r++) {
		struct item *it = &items[100 + r % 800];
		uint64_t h = item_hash(it->key);
		assert_int_equal(htab_insert(&t, h, it), 0);
		assert_ptr_equal(htab_find(&t, h, item_eq, it->key), it);
		assert_true(htab_remove(&t, h, it));
	}
	assert_int_equal(t.cap, cap);
	assert_int_equal(htab_count(&t), 6);
	for (int i = 0; i < 6; i++)
		assert_non_null(htab_find(&t, 7, item_eq, items[i == 3 ? 8 : i].key));
	htab_free(&t);
}

/* A table with a maximum refuses the entry past it; its slots stay bounded
 * however much goes through it. */
static void test_capacity_cap(void **state)
{
	(void)state;
	struct htab t;
	htab_init(&t, 50);
	for (int i = 0; i < 50; i++)
		assert_int_equal(htab_insert(&t, item_hash(items[i].key), &items[i]), 0);
	assert_true(htab_full(&t));
	assert_int_equal(htab_insert(&t, item_hash("k50"), &items[50]), -1);
	assert_null(htab_find(&t, item_hash("k50"), item_eq, "k50"));
	assert_int_equal(htab_count(&t), 50);
	/* evict the oldest, then there is room: a FIFO cache over all items */
	for (int i = 50; i < NITEMS; i++) {
		struct item *old = &items[i - 50];
		assert_true(htab_remove(&t, item_hash(old->key), old));
		assert_false(htab_full(&t));
		assert_int_equal(htab_insert(&t, item_hash(items[i].key), &items[i]), 0);
		assert_true(t.cap <= 256);
	}
	for (int i = 0; i < NITEMS; i++) {
		void *f = htab_find(&t, item_hash(items[i].key), item_eq, items[i].key);
		if (i >= NITEMS - 50)
			assert_ptr_equal(f, &items[i]);
		else
			assert_null(f);
	}
	htab_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_insert_find_delete, setup),
	    cmocka_unit_test_setup(test_grow, setup),
	    cmocka_unit_test_setup(test_iterate, setup),
	    cmocka_unit_test_setup(test_collisions, setup),
	    cmocka_unit_test_setup(test_tombstone_reuse, setup),
	    cmocka_unit_test_setup(test_capacity_cap, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
