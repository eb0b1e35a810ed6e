/*
 * hash - the one hash function family of relayguard: FNV-1a (Fowler, Noll,
 * Vo), for the in-memory tables (queue index, user index, destination table,
 * score cache, recipient sets, logscan's tallies). Not for anything an
 * attacker must not be able to collide on purpose: every table using it
 * probes or chains, so a collision costs time, never correctness.
 *
 * 64-bit: over bytes, over a NUL-terminated string, and over a string with
 * ASCII letters folded to lower case (user names). The _add forms continue
 * from a running value, so a caller can mix a prefix (a zone number) in
 * first or keep another starting value.
 *
 * 32-bit: static inline, for logscan's hot path (a 32-bit hash is stored in
 * its slots; the compiler must see the loop to keep the bench figure).
 */
#ifndef RG_CORE_HASH_H
#define RG_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV1A64_BASIS 0xcbf29ce484222325ULL
#define HASH_FNV1A64_PRIME 0x100000001b3ULL
#define HASH_FNV1A32_BASIS 0x811c9dc5u
#define HASH_FNV1A32_PRIME 0x01000193u

/* FNV-1a 64 of n bytes, continuing from h (HASH_FNV1A64_BASIS to start). */
uint64_t hash_fnv1a64_add(uint64_t h, const void *p, size_t n);
/* The same over the bytes of s up to its NUL. */
uint64_t hash_fnv1a64_str_add(uint64_t h, const char *s);
/* FNV-1a 64 of n bytes / of a string. */
uint64_t hash_fnv1a64(const void *p, size_t n);
uint64_t hash_fnv1a64_str(const char *s);
/* FNV-1a 64 of s with 'A'-'Z' read as 'a'-'z': equal for names that compare
 * equal ignoring ASCII case. */
uint64_t hash_fnv1a64_str_lower(const char *s);

/* One byte into a running FNV-1a 32 value. */
static inline uint32_t hash_fnv1a32_byte(uint32_t h, unsigned char c)
{
	return (h ^ c) * HASH_FNV1A32_PRIME;
}

/* FNV-1a 32 of n bytes. */
static inline uint32_t hash_fnv1a32(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint32_t h = HASH_FNV1A32_BASIS;
	for (size_t i = 0; i < n; i++)
		h = hash_fnv1a32_byte(h, b[i]);
	return h;
}

#endif
