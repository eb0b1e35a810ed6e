/*
 * store - helpers shared by the store backends: identity kinds.
 */
#include "policy/store.h"

#include <string.h>

static const char *const store_kind_names[] = {"user", "ip", "cidr", "domain"};

const char *store_block_kind_name(enum store_block_kind k)
{
	if ((unsigned)k < sizeof store_kind_names / sizeof store_kind_names[0])
		return store_kind_names[k];
	return "?";
}

int store_block_kind_of(const char *identity, enum store_block_kind *out)
{
	for (unsigned k = 0; k < sizeof store_kind_names / sizeof store_kind_names[0]; k++) {
		size_t n = strlen(store_kind_names[k]);
		if (strncmp(identity, store_kind_names[k], n) == 0 && identity[n] == ':' &&
		    identity[n + 1] != '\0') {
			*out = (enum store_block_kind)k;
			return 0;
		}
	}
	return -1;
}
