/*
 * Fuzz target: the control API's dispatch (admin/ctlapi) on hostile request
 * lines, as the control socket and /api/control hand them over: any JSON
 * value with any fields. Every answer is an object with "ok", and a refused
 * one has a known "code" and an "error"; the engine and its configuration
 * stay usable (blocks, unblocks and limits go to an in-memory store).
 */
#include "admin/ctlapi.h"
#include "policy/config.h"
#include "policy/engine.h"
#include "policy/store.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_reload(void *arg, bool users_only, char *err, size_t errlen)
{
	return users_only ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pol_config *pc;
	static struct store *st;
	static struct pol_engine *e;
	char err[256];
	if (!pc) {
		pc = malloc(sizeof *pc);
		if (!pc || pol_config_defaults(pc, err, sizeof err) != 0)
			__builtin_trap();
		st = store_mem_new();
		e = pol_engine_new(pc, st);
	}
	json_error_t je;
	json_t *req = json_loadb((const char *)data, size, JSON_DECODE_ANY, &je);
	if (!req)
		return 0;
	struct ctlapi_state s = {
	    .engine = e, .store = st, .policy = pc, .reload = fuzz_reload, .via = "server"};
	json_t *reply = ctlapi_dispatch(&s, req);
	if (!json_is_object(reply) || !json_is_boolean(json_object_get(reply, "ok")))
		__builtin_trap();
	if (!json_is_true(json_object_get(reply, "ok"))) {
		const char *code = json_string_value(json_object_get(reply, "code"));
		enum ctlapi_code c = ctlapi_reply_code(reply);
		if (!code || strcmp(code, ctlapi_code_name(c)) != 0 || c == CTLAPI_OK ||
		    !json_is_string(json_object_get(reply, "error")))
			__builtin_trap();
	}
	if (ctlapi_http_status(reply) < 200)
		__builtin_trap();
	json_decref(reply);
	json_decref(req);
	return 0;
}
