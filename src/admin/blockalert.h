/*
 * blockalert - groups the blocks the engine creates into alerts a person can
 * read: the first block is told at once; blocks that follow within the digest
 * interval are kept and told together, one digest per interval, however many
 * there are (a flood of 500 blocks is two messages, not 500). Pure: the time
 * is the caller's, nothing is sent here (serve hands the JSON to admin/alert
 * in a child process, so a slow webhook never stalls the policy service).
 *
 * The JSON (docs/policy.md, "Alerts on blocks"):
 *   {"event": "block" | "block_digest", "time": RFC 3339, "node": host name,
 *    "count": N,                  blocks told in this alert
 *    "omitted": M,                blocks counted but not listed (over 20)
 *    "since": RFC 3339,           digest: the first block it covers
 *    "blocks": [{"identity": "user:sam@example.org", "rule": "compromise",
 *                "score": 120, "created": RFC 3339, "expires": RFC 3339 | null,
 *                "client_ip": "198.51.100.7" | null,
 *                "reasons": ["1440 messages in 1 h (baseline 12 a day)", ...]}]}
 */
#ifndef RG_ADMIN_BLOCKALERT_H
#define RG_ADMIN_BLOCKALERT_H

#include "policy/engine.h"

#include <stdint.h>

#define BLOCKALERT_LIST_MAX 20

struct blockalert;

/* interval_ms: the digest interval (60000 is a minute). NULL on no memory. */
struct blockalert *blockalert_new(int64_t interval_ms, const char *node);
void blockalert_free(struct blockalert *b);

/* A block the engine created at now_ms (v->block_created), with the client IP
 * when known (NULL otherwise). Returns the JSON of an alert to send at once
 * (the caller frees it), or NULL when the block waits for the next digest. */
char *blockalert_add(struct blockalert *b, const struct pol_verdict *v, const char *client_ip,
                     int64_t now_ms);
/* The digest due at now_ms (the caller frees it), or NULL. */
char *blockalert_due(struct blockalert *b, int64_t now_ms);
/* Blocks waiting for the next digest. */
unsigned blockalert_pending(const struct blockalert *b);

#endif
