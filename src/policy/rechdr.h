/*
 * rechdr - the 16-byte header in front of every fixed-size record the policy
 * layer keeps in the store (the engine's identity records, inmem's message,
 * sender, mark and cap records): four magic bytes naming the record type, the
 * layout's version and the struct's size, all in host byte order.
 *
 * A record is read as its struct only when all three match what this binary
 * writes; anything else (another type under the same key, an older layout, a
 * record written by another architecture, a damaged value) is treated as
 * absent, so a foreign record can never be read as ours.
 *
 * A header that matches says nothing of the fields behind it: a damaged store
 * file, or a Redis shared with other nodes and people, may hold any bytes. So
 * each record type also checks the fields that could do harm (rechdr_time_ok
 * and the others below), and one that fails is absent too.
 */
#ifndef RG_POLICY_RECHDR_H
#define RG_POLICY_RECHDR_H

#include "policy/ratelimit.h"

#include <float.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rechdr {
	char magic[4];
	uint32_t version;
	uint64_t size;
};

/* Writes the header of a record of type magic (4 bytes), layout version and
 * struct size. */
void rechdr_set(struct rechdr *h, const char *magic, uint32_t version, size_t size);

/* true when the len bytes at rec are a record of type magic, layout version
 * and struct size: len == size and the header says so. */
bool rechdr_ok(const void *rec, size_t len, const char *magic, uint32_t version, size_t size);

/* The times a record keeps (ms since the epoch, 0 for none), and its day and
 * hour numbers, lie in 0..RECHDR_TIME_MAX: the difference of two such values,
 * or of one and an event time, fits an int64 (one near INT64_MIN overflowed). */
#define RECHDR_TIME_MAX (INT64_C(1) << 62)

static inline bool rechdr_time_ok(int64_t t)
{
	return t >= 0 && t <= RECHDR_TIME_MAX;
}

/* A rate or decaying count is finite and not negative: a NaN is never at a
 * limit, so a limit would be off for as long as the record lives. */
static inline bool rechdr_rate_ok(double x)
{
	return x >= 0 && x <= DBL_MAX; /* false for NaN */
}

static inline bool rechdr_ewma_ok(const struct ratelimit_ewma *s)
{
	return rechdr_rate_ok(s->rate) && rechdr_time_ok(s->last_ms);
}

static inline bool rechdr_decay_ok(const struct ratelimit_decay *d)
{
	return rechdr_rate_ok(d->value) && rechdr_time_ok(d->last_ms);
}

#endif
