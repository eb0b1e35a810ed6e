/*
 * enginetest - a policy engine for the unit tests that need one as it comes:
 * the default configuration (on the heap: it is large), a memory store and
 * the engine over both. enginetest_free() takes all three down.
 */
#ifndef RG_TESTS_ENGINETEST_H
#define RG_TESTS_ENGINETEST_H

#include "policy/config.h"
#include "policy/engine.h"
#include "policy/store.h"

#include <stdlib.h>

static inline struct pol_engine *enginetest_new(struct pol_config **cfg, struct store **st)
{
	char err[256];
	*cfg = calloc(1, sizeof **cfg);
	assert_non_null(*cfg);
	assert_int_equal(pol_config_defaults(*cfg, err, sizeof err), 0);
	*st = store_mem_new();
	assert_non_null(*st);
	struct pol_engine *e = pol_engine_new(*cfg, *st);
	assert_non_null(e);
	return e;
}

static inline void enginetest_free(struct pol_engine *e, struct pol_config *cfg, struct store *st)
{
	pol_engine_free(e);
	st->close(st);
	free(cfg);
}

#endif
