/*
 * gwstore - the state store of one gateway node, as [gateway] state_store says:
 *
 *   lmdb   (default) the embedded store under state_dir/policy: one machine.
 *   redis  several nodes share counters and blocks through one Redis; a user
 *          blocked through node A is refused at node B.
 *
 * With redis the node also keeps its LMDB store as local state, and the
 * store handed to the engine is a failover wrapper:
 *   - while Redis answers, every call goes to Redis; blocks and audit records
 *     are also written to LMDB, and Redis's blocks are mirrored into LMDB
 *     (every 30 s, on the engine's reload), so local state is a recent copy;
 *   - when a call cannot reach Redis (refused, reset, timed out), the node
 *     says so (an error in the log; relayguard_state_store_fallback 1 and
 *     relayguard_state_store_failovers_total on /metrics) and decides on its
 *     local state from then on: it neither fails open silently nor refuses
 *     mail because the shared state is gone;
 *   - every 5 s it tries Redis again; when Redis is back, the blocks created or
 *     lifted and the audit records written meanwhile are copied to Redis, the
 *     node says so and goes back to the shared state.
 * Counters kept locally during an outage stay local: limits are per node
 * until Redis is back. The wrapper is for one thread (serve's event loop).
 */
#ifndef RG_GATEWAY_GWSTORE_H
#define RG_GATEWAY_GWSTORE_H

#include "gateway/gwconf.h"
#include "policy/store.h"

#include <stdbool.h>

struct metrics;

/* Opens the node's store. metrics may be NULL. With require_shared (the CLI's
 * block and unblock), a Redis that does not answer is an error rather than a
 * fallback: a person's unblock must reach every node. NULL with err set. */
struct store *gwstore_open(const struct gw_config *c, struct metrics *metrics, bool require_shared,
                           char *err, size_t errlen);
/* True while a redis store decides on local state. */
bool gwstore_fallback(struct store *s);

/* The failover wrapper itself, over any primary that is a redis store (tests). */
struct store *gwstore_failover_new(struct store *redis, struct store *local, const char *what,
                                   struct metrics *metrics);

#endif
