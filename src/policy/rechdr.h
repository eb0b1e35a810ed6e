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
 */
#ifndef RG_POLICY_RECHDR_H
#define RG_POLICY_RECHDR_H

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

#endif
