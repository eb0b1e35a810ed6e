/*
 * hash - FNV-1a; see hash.h.
 */
#include "core/hash.h"

uint64_t hash_fnv1a64_add(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * HASH_FNV1A64_PRIME;
	return h;
}

uint64_t hash_fnv1a64_str_add(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * HASH_FNV1A64_PRIME;
	return h;
}

uint64_t hash_fnv1a64(const void *p, size_t n)
{
	return hash_fnv1a64_add(HASH_FNV1A64_BASIS, p, n);
}

uint64_t hash_fnv1a64_str(const char *s)
{
	return hash_fnv1a64_str_add(HASH_FNV1A64_BASIS, s);
}

uint64_t hash_fnv1a64_str_lower(const char *s)
{
	uint64_t h = HASH_FNV1A64_BASIS;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c + ('a' - 'A'));
		h = (h ^ c) * HASH_FNV1A64_PRIME;
	}
	return h;
}
