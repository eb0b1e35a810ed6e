/*
 * Fuzz target: the admin page's urlencoded form parser (admin/form) on
 * hostile bodies, and HTML escaping of whatever it decodes: a decoded value
 * never holds a NUL or control character, never overruns its buffer, and its
 * escaped form holds no raw '<', '>', '"' or '\''; form_encode round-trips.
 */
#include "admin/form.h"
#include "admin/html.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = {"csrf", "user", "password", "identity", "reason", ""};
	const char *body = (const char *)data;
	for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
		char out[64];
		int rc = form_get(body, size, keys[k], out, sizeof out);
		if (rc == 1) {
			size_t n = strlen(out);
			if (n >= sizeof out)
				__builtin_trap();
			for (size_t i = 0; i < n; i++)
				if ((unsigned char)out[i] < 0x20 && out[i] != '\t' &&
				    out[i] != '\r' && out[i] != '\n')
					__builtin_trap();
			struct buf b;
			buf_init(&b, 1024);
			if (html_text(&b, out) == 0 && strpbrk(buf_cstr(&b), "<>\"'"))
				__builtin_trap();
			buf_free(&b);
			/* what form_encode writes, form_get reads back unchanged */
			char enc[200] = "k=";
			if (form_encode(out, enc + 2, sizeof enc - 2) == 0) {
				char back[64];
				if (form_get(enc, strlen(enc), "k", back, sizeof back) != 1 ||
				    strcmp(back, out) != 0)
					__builtin_trap();
			}
		} else if (rc != 0 && rc != -1) {
			__builtin_trap();
		}
	}
	return 0;
}
