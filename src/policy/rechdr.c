/*
 * rechdr - the policy store records' header; see rechdr.h.
 */
#include "policy/rechdr.h"

#include <string.h>

void rechdr_set(struct rechdr *h, const char *magic, uint32_t version, size_t size)
{
	memcpy(h->magic, magic, sizeof h->magic);
	h->version = version;
	h->size = size;
}

bool rechdr_ok(const void *rec, size_t len, const char *magic, uint32_t version, size_t size)
{
	if (len != size || len < sizeof(struct rechdr))
		return false;
	struct rechdr h;
	memcpy(&h, rec, sizeof h);
	return memcmp(h.magic, magic, sizeof h.magic) == 0 && h.version == version &&
	       h.size == size;
}
