/*
 * fuzz_policy.h - shared by the fuzz targets of the policy engine
 * (fuzz_policy_events, fuzz_store_records): one event evaluated against a
 * memory store, which never fails, and the verdict checked and formatted.
 */
#ifndef RG_FUZZ_POLICY_H
#define RG_FUZZ_POLICY_H

#include "policy/engine.h"
#include "policy/event.h"

#include <stdlib.h>
#include <string.h>

static void fuzz_policy_evaluate(struct pol_engine *e, const struct pol_event *ev)
{
	struct pol_verdict v;
	char out[2048];
	if (pol_engine_evaluate(e, ev, &v) != 0)
		abort(); /* the memory store never fails */
	if (v.n_reasons > POL_REASONS_MAX || memchr(v.identity, 0, sizeof v.identity) == NULL)
		abort();
	(void)pol_verdict_format(&v, POL_EVENT_EPOCH_MS, out, sizeof out);
}

#endif
