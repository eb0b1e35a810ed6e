/*
 * Fuzz target: the configuration parser (inih through core/cfg with line
 * numbers) and the DNSBL catalogue on top of it. Any text must either load or
 * fail with a "name:line: what" message; nothing may crash or leak.
 */
#include "dnsbl/catalog.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	struct bl_catalog c;
	char err[512];
	if (bl_catalog_load_string(&c, text, "fuzz", err, sizeof err) == 0) {
		for (size_t i = 0; i < c.nzones; i++) {
			char url[256];
			bl_zone_delist(&c.zones[i], "192.0.2.1", url, sizeof url);
			bl_catalog_find(&c, c.zones[i].zone);
		}
		bl_catalog_free(&c);
	} else if (strncmp(err, "fuzz", 4) != 0) {
		__builtin_trap();
	}
	free(text);
	return 0;
}
