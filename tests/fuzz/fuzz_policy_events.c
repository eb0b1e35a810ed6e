/*
 * fuzz_policy_events - libFuzzer target for the .events line parser and the
 * engine: every line that parses is evaluated against a memory store, so
 * hostile events (and hostile orders of events) must never crash the engine.
 * One engine per input; times are clamped only by the parser's own bounds.
 */
#include "fuzz_policy.h"
#include "policy/config.h"
#include "policy/engine.h"
#include "policy/event.h"
#include "policy/store.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pol_config fuzz_cfg;
static int fuzz_ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	if (!fuzz_ready) {
		if (pol_config_defaults(&fuzz_cfg, err, sizeof err) != 0)
			abort();
		fuzz_ready = 1;
	}
	/* an exact-size copy so ASan sees any read past the end */
	char *p = malloc(size ? size : 1);
	if (!p)
		return 0;
	if (size)
		memcpy(p, data, size);
	struct store *st = store_mem_new();
	struct pol_engine *e = st ? pol_engine_new(&fuzz_cfg, st) : NULL;
	static struct pol_event ev;
	size_t i = 0;
	unsigned lines = 0;
	while (e && i < size && lines < 2000) {
		const char *nl = memchr(p + i, '\n', size - i);
		size_t len = nl ? (size_t)(nl - (p + i)) : size - i;
		int rc = pol_event_parse(p + i, len, &ev, err, sizeof err);
		i += len + 1;
		lines++;
		if (rc != 1)
			continue;
		fuzz_policy_evaluate(e, &ev);
	}
	pol_engine_free(e);
	if (st)
		st->close(st);
	free(p);
	return 0;
}
