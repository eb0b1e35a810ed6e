/*
 * Fuzz target: the postscreen-style DNSBL site list parser and filter matcher.
 */
#include "dnsbl/score.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	static struct score_site sites[SCORE_MAX_SITES];
	char err[256];
	int n = score_sites_parse(text, sites, SCORE_MAX_SITES, err, sizeof err);
	if (n > SCORE_MAX_SITES)
		__builtin_trap();
	for (int i = 0; i < n; i++) {
		struct addr a = {.family = 4};
		memcpy(a.bytes, data + (size >= 4 ? size - 4 : 0), size >= 4 ? 4 : 0);
		score_site_matches(&sites[i], &a);
		if (sites[i].weight < -1000 || sites[i].weight > 1000)
			__builtin_trap();
	}
	free(text);
	return 0;
}
