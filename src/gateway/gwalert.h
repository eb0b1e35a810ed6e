/*
 * gwalert - serve's alerts on the blocks the engine creates: grouped by
 * admin/blockalert (the first at once, then one digest per [alert]
 * block_digest), delivered by admin/alert (every [alert] exec and webhook)
 * on worker threads (core/workq; programs started with posix_spawn, seeing only
 * stdin, stdout and stderr), so a slow program or webhook never stalls the
 * policy service. At most GWALERT_CHILDREN deliveries run at once; the result of
 * each is logged and counted (relayguard_block_alerts_total{result}).
 *
 * With [alert] mail_to, each alert (and digest) also becomes a plain-text
 * message from [alert] mail_from to those addresses, committed into the
 * gateway's own durable queue (sender verified), which delivery then sends
 * like any other message (counted as result "queued" or "failed").
 */
#ifndef RG_GATEWAY_GWALERT_H
#define RG_GATEWAY_GWALERT_H

#include "gateway/gwconf.h"
#include "policy/engine.h"
#include "queue/queue.h"

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct metrics;
struct queue;
struct gwalert;

#define GWALERT_CHILDREN 4

/* NULL when no alert is configured (nothing to do) or on no memory (err set).
 * queue: where [alert] mail_to messages go (NULL: mail_to is ignored, logged). */
struct gwalert *gwalert_new(struct event_base *base, const struct gw_config *c,
                            struct metrics *metrics, struct queue *queue, char *err, size_t errlen);
/* A block the engine just created (v->block_created). */
void gwalert_block(struct gwalert *a, const struct pol_verdict *v, const char *client_ip);
/* The state store is permille/1000 full, at or past alert_permille: one JSON
 * object {"type":"state_store_usage","node","store","used_percent",
 * "alert_percent","time_ms"} to every exec and webhook (not mail_to: a
 * full store is for whoever watches the node). */
void gwalert_store_usage(struct gwalert *a, const char *store, int permille, int alert_permille);
/* The alert JSON (admin/blockalert.h) as an RFC 5322 message with CRLF line
 * ends: Date (now_ms, UTC), From, To (every address), Subject "relayguard: N
 * block(s)", Message-ID <msgid_local@node>, Auto-Submitted: auto-generated, and a
 * plain-text body listing each block. NULL on bad JSON or no memory; the
 * caller frees it. Pure (no I/O, no clock). */
char *gwalert_mail_render(const char *json, const char *from, const char (*to)[320], int nto,
                          int64_t now_ms, const char *msgid_local);
/* Commits text (a whole RFC 5322 message, CRLF line ends) into m's queue
 * from from (sender verified, protocol LOCAL, the listener name given) to
 * the nto addresses of to (1..GW_ALERTS_MAX): the path every message the
 * gateway writes itself takes (alert mail, TLS-RPT reports). Takes m: on -1
 * (bad arguments, queue write error) m is aborted and cb is not called;
 * on 0, cb runs once with the commit's result. */
int gwalert_queue_text(struct queue_msg *m, const char *from, const char (*to)[320], int nto,
                       const char *listener, const char *text, queue_commit_cb cb, void *arg);
/* Sends what is pending at once (on a clean stop), waits for deliveries, frees. */
void gwalert_free(struct gwalert *a);

#endif
