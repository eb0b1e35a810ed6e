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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
 * hour numbers, lie in 0..RECHDR_TIME_LIMIT - 1: the difference of two such
 * values, or of one and an event time, fits an int64 (one near INT64_MIN
 * overflowed). */
#define RECHDR_TIME_LIMIT (INT64_C(1) << 62)

static inline bool rechdr_time_ok(int64_t t)
{
	return (uint64_t)t < (uint64_t)RECHDR_TIME_LIMIT; /* a negative one is above too */
}

/* Many times at once, one compare: rechdr_times_ok((uint64_t)a | (uint64_t)b
 * | ...). Values all below 2^62 have an OR below it; one negative or at or
 * above it sets bit 62 or 63. */
static inline bool rechdr_times_ok(uint64_t or_of_times)
{
	return or_of_times < (uint64_t)RECHDR_TIME_LIMIT;
}

/* A rate or decaying count is finite and not negative: a NaN is never at a
 * limit, so a limit would be off for as long as the record lives. As bits:
 * the sign clear and the exponent not all ones (this code never makes -0.0).
 * 1 when it is not (an int, to be ORed without branches), 0 when it is. */
static inline unsigned rechdr_rate_bad(double x)
{
	uint64_t u;
	memcpy(&u, &x, sizeof u);
	return u >= UINT64_C(0x7ff0000000000000);
}

static inline bool rechdr_ewma_ok(const struct ratelimit_ewma *s)
{
	return !(rechdr_rate_bad(s->rate) | ((uint64_t)s->last_ms >= (uint64_t)RECHDR_TIME_LIMIT));
}

#endif
