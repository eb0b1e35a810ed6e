/*
 * blocks - the block list, one block with its history, and unblock: the one
 * code path behind `relayguard block|unblock`, the web page's Blocks page and
 * Resume button, and /api/blocks and /api/unblock (../shared/CLI.md).
 *
 * The JSON of a block (CLI.md "block list --json"):
 *   {"identity", "kind", "rule", "reason", "evidence": [...], "created",
 *    "expires" (null = until a person lifts it), "offences"}
 */
#ifndef RG_ADMIN_BLOCKS_H
#define RG_ADMIN_BLOCKS_H

#include "policy/engine.h"
#include "policy/store.h"

#include <jansson.h>
#include <stdint.h>

/* What a person typed to the store's form: "sam@example.com" -> "user:sam@example.com",
 * "192.0.2.7" -> "ip:192.0.2.7", "198.51.100.0/24" -> "cidr:...", prefixed forms as they
 * are. 0, or -1 when it is no identity. */
int blocks_identity(const char *in, char *out, size_t size);
/* The canonical identity (blocks_identity, then the engine's normal form). 0 or -1. */
int blocks_normalize(const struct pol_engine *e, const char *in, char *out, size_t size);

json_t *blocks_json(const struct store_block *b);
/* {"blocks": [...]} in the store's order, or NULL on a store error. */
json_t *blocks_list(struct store *st);
/* The audit trail, oldest first: [{"time", "actor", "action", "identity", "reason"}];
 * only identity's records when it is not NULL. NULL on a store error. */
json_t *blocks_audit(struct store *st, const char *identity);

enum blocks_unblock_result {
	BLOCKS_BAD_IDENTITY = -2,
	BLOCKS_STORE_ERROR = -1,
	BLOCKS_LIFTED = 0,
	BLOCKS_NOT_BLOCKED = 1, /* nothing to lift; its counters were reset all the same */
};
/* Lifts the block of in (any form blocks_identity takes) with an audit record, and resets
 * its counters and score; the canonical identity goes to norm. */
enum blocks_unblock_result blocks_unblock(struct pol_engine *e, const char *in, const char *actor,
                                          const char *reason, int64_t now_ms, char *norm,
                                          size_t normsize);
/* Blocks in (any form blocks_identity takes) with an audit record; expires_ms 0 = until
 * a person lifts it. The canonical identity goes to norm. 0, BLOCKS_BAD_IDENTITY or
 * BLOCKS_STORE_ERROR. */
int blocks_block(struct pol_engine *e, const char *in, const char *actor, const char *reason,
                 int64_t now_ms, int64_t expires_ms, char *norm, size_t normsize);
/* {"identity", "result": "unblocked" | "not blocked; counters reset"} */
json_t *blocks_unblock_json(const char *norm, enum blocks_unblock_result r);

#endif
