/*
 * admin/series: finding an identity and choosing the one to evict through
 * its hash index and heap give what a scan of every entry gives (the first
 * unused, else the least recently seen, the lowest index among equals),
 * checked against such a scan over many identities, times out of order
 * among them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "admin/series.h"
#include "core/str.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define T0 (1793577600000LL) /* 2026-11-02T00:00:00Z */
#define POOL 3000

struct model {
	bool used[SERIES_IDENTS];
	int64_t last[SERIES_IDENTS];
	int who[SERIES_IDENTS]; /* the pool's index */
};

static int model_find(const struct model *m, int who)
{
	for (int i = 0; i < SERIES_IDENTS; i++)
		if (m->used[i] && m->who[i] == who)
			return i;
	return -1;
}

static void model_record(struct model *m, int who, int64_t now)
{
	int i = model_find(m, who);
	if (i < 0) {
		i = 0;
		for (int k = 0; k < SERIES_IDENTS; k++) {
			if (!m->used[k]) {
				i = k;
				break;
			}
			if (m->last[k] < m->last[i])
				i = k;
		}
		m->used[i] = true;
		m->who[i] = who;
		m->last[i] = now;
	}
	if (now > m->last[i])
		m->last[i] = now;
}

static void test_series_as_a_scan(void **state)
{
	(void)state;
	static struct model m;
	struct series *s = series_new();
	assert_non_null(s);
	uint32_t r = 7, v[SERIES_HOURS];
	char id[64];
	for (int step = 0; step < 20000; step++) {
		r = r * 1103515245u + 12345u;
		/* a few busy identities and many rare ones */
		int who = (int)((r >> 8) % (r & 0x100 ? 40u : (unsigned)POOL));
		r = r * 1103515245u + 12345u;
		int64_t now =
		    T0 + step * 100LL + (int64_t)((r >> 16) % 4000u) - 2000; /* out of order */
		snprintf(id, sizeof id, "user:u%d@example.org", who);
		assert_int_equal(series_record(s, now, id, "", 1, "allow", "", ""), 0);
		model_record(&m, who, now);
		/* which identities it holds: probe a few */
		for (int k = 0; k < 3; k++) {
			r = r * 1103515245u + 12345u;
			int probe = (int)((r >> 8) % POOL);
			snprintf(id, sizeof id, "user:u%d@example.org", probe);
			bool held = series_hours(s, id, T0 + 30 * 3600000LL, v,
			                         SERIES_HOURS > 40 ? 40 : 1) > 0;
			assert_int_equal(held, model_find(&m, probe) >= 0);
		}
	}
	static char names[SERIES_IDENTS][SERIES_IDENT_MAX];
	size_t n = series_identities(s, names, SERIES_IDENTS);
	assert_int_equal(n, SERIES_IDENTS);
	for (size_t i = 0; i < n; i++) {
		assert_true(strncmp(names[i], "user:u", 6) == 0);
		const char *at = strchr(names[i], '@');
		uint64_t who = 0;
		assert_non_null(at);
		assert_int_equal(
		    str_to_u64(names[i] + 6, (size_t)(at - names[i] - 6), 0, POOL, &who), 0);
		assert_true(model_find(&m, (int)who) >= 0);
	}
	series_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_series_as_a_scan),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
