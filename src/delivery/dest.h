/*
 * dest - destinations of outgoing mail and the limits on connections to them.
 *
 * A destination is where a group of recipients goes: a recipient domain (MX
 * lookup), the relayhost, or the relay for local domains; together with the
 * source address the connection is bound to. Messages to one destination
 * share connections (a connection is reused for the next message waiting
 * for the same destination) and never hold more than `concurrency` of them
 * open at once; the whole gateway never more than `max_connections`.
 *
 * When every host of a destination failed (refused, timed out, 4xx greeting),
 * it is "dead" for a while: messages waiting for it are deferred at once
 * instead of each trying every host again (Postfix's dead destination).
 *
 * Pure bookkeeping (no sockets, no clock: times are given); the worker keeps
 * its own queues of jobs and connections in the `user` pointers.
 */
#ifndef RG_DELIVERY_DEST_H
#define RG_DELIVERY_DEST_H

#include "core/htab.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEST_KEY_MAX 384

struct dest {
	char key[DEST_KEY_MAX]; /* "example.com|" or "[10.0.0.5]:25|192.0.2.9" */
	unsigned active;        /* connections open or opening */
	unsigned idle;          /* of them, waiting for a message */
	uint64_t waiting;       /* jobs waiting for a connection */
	uint64_t dead_until_ms; /* 0: alive */
	char dead_reason[256];
	void *user; /* the worker's per-destination state */
};

struct dest_table {
	struct htab index;        /* of struct dest by key */
	unsigned active;          /* connections over all destinations */
	unsigned concurrency;     /* per destination */
	unsigned max_connections; /* all together */
};

/* 0 or -1 (no memory). */
int dest_table_init(struct dest_table *t, unsigned concurrency, unsigned max_connections);
/* free_user (may be NULL) is called for every destination's user pointer. */
void dest_table_free(struct dest_table *t, void (*free_user)(void *));
struct dest *dest_find(struct dest_table *t, const char *key);
/* Finds or adds; NULL when out of memory or key too long. */
struct dest *dest_get(struct dest_table *t, const char *key);
/* Removes a destination with no connections and nothing waiting; returns its user. */
void *dest_remove(struct dest_table *t, struct dest *d);
/* Iteration: pos starts at 0; NULL at the end. The destination returned may
 * be removed while iterating, none added. */
struct dest *dest_next(const struct dest_table *t, size_t *pos);
size_t dest_count(const struct dest_table *t);

/* May a new connection to d be opened now? */
bool dest_may_open(const struct dest_table *t, const struct dest *d);
void dest_opened(struct dest_table *t, struct dest *d);
void dest_closed(struct dest_table *t, struct dest *d);

/* Every host failed: dead until now_ms + for_ms. */
void dest_mark_dead(struct dest *d, uint64_t now_ms, uint64_t for_ms, const char *reason);
bool dest_is_dead(struct dest *d, uint64_t now_ms);

#endif
