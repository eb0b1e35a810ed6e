/*
 * deliver - the delivery workers of `relayguard serve`, in the event loop.
 *
 * Every poll_interval the queue is asked for due entries (queue_next_due).
 * The pending recipients of an entry are grouped by destination: the local
 * relay for local domains, else the relayhost, else the recipient domain
 * (MX lookup, src/delivery/mx.h), each with the source address it must leave
 * from (per sender domain, per listener, or the default). A destination has
 * at most destination_concurrency connections; a connection that finished a
 * message takes the next one waiting for the same destination (reuse), and
 * waits idle_timeout for one before it says QUIT.
 *
 * A connection walks the destination's addresses in MX order until one
 * greets, speaks EHLO (STARTTLS per the destination's TLS level, AUTH for
 * the relayhost) and takes the transaction; when none does, every message
 * waiting for that destination is deferred with the last error and the
 * destination rests for dead_time.
 *
 * Per recipient: 2xx sent, 5xx failed, 4xx pending with the next attempt
 * after an exponential backoff (delivery/retry.h); past queue_lifetime the
 * pending ones fail with 4.4.7. Failures produce a DSN only for verified
 * senders; the others are held and counted (delivery/dsngen.h). Every
 * attempt is one log line per recipient and one per message (docs/delivery.md)
 * and one DELIVERY event for the policy engine.
 */
#ifndef RG_GATEWAY_DELIVER_H
#define RG_GATEWAY_DELIVER_H

#include "gateway/gwconf.h"

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct queue;
struct dns;
struct pol_engine;
struct metrics;
struct deliver;

/* All pointers must outlive the worker; engine and metrics may be NULL.
 * NULL with err on failure (TLS context, bad options). */
struct deliver *deliver_new(struct event_base *base, struct queue *q, struct dns *dns,
                            struct pol_engine *engine, struct metrics *metrics,
                            const struct gw_config *c, char *err, size_t errlen);
/* Stops: open connections are closed; messages in flight stay in the queue
 * as they were saved last (a recipient delivered since is delivered again:
 * at least once, never lost). */
void deliver_free(struct deliver *d);
/* Looks for due entries now rather than at the next poll (a flush or release). */
void deliver_wake(struct deliver *d);

struct deliver_stats {
	uint64_t sent, deferred, bounced, expired;
	uint64_t dsn_sent, dsn_held, dsn_none;
	uint64_t connections, reused;
	unsigned active_messages, open_connections;
};
void deliver_stats(const struct deliver *d, struct deliver_stats *out);

#endif
