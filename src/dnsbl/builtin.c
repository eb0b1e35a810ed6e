/*
 * builtin - the catalogue shipped inside the binary (data/dnsbl.conf), so
 * `relayguard check` works from any directory. --zones FILE replaces it.
 */
#include "dnsbl/builtin.h"

__asm__(".section .rodata\n"
	".global bl_builtin_text\n"
	".type bl_builtin_text, @object\n"
	"bl_builtin_text:\n"
	".incbin \"data/dnsbl.conf\"\n"
	".byte 0\n"
	".previous\n");

extern const char bl_builtin_text[];

const char *bl_builtin_catalog(void)
{
	return bl_builtin_text;
}
