/*
 * gwalert - serve's alerts on the blocks the engine creates: grouped by
 * admin/blockalert (the first at once, then one digest per [alert]
 * block_digest), delivered by admin/alert (every [alert] exec and webhook)
 * in a child process, so a slow program or webhook never stalls the policy
 * service. At most GWALERT_CHILDREN deliveries run at once; the result of
 * each is logged and counted (relayguard_block_alerts_total{result}).
 */
#ifndef RG_GATEWAY_GWALERT_H
#define RG_GATEWAY_GWALERT_H

#include "gateway/gwconf.h"
#include "policy/engine.h"

struct event_base;
struct metrics;
struct gwalert;

#define GWALERT_CHILDREN 4

/* NULL when no alert is configured (nothing to do) or on no memory (err set). */
struct gwalert *gwalert_new(struct event_base *base, const struct gw_config *c,
                            struct metrics *metrics, char *err, size_t errlen);
/* A block the engine just created (v->block_created). */
void gwalert_block(struct gwalert *a, const struct pol_verdict *v, const char *client_ip);
/* Sends what is pending at once (on a clean stop), waits for deliveries, frees. */
void gwalert_free(struct gwalert *a);

#endif
