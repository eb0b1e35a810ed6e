/*
 * fuzz_tlsrpt_txt - libFuzzer target for the _smtp._tls TXT parser
 * (src/gateway/tlsrptsend.c): bytes from a hostile DNS answer. A record that
 * parses keeps at least one URI, every mailto: a NUL-terminated single
 * local@domain without spaces or line breaks, and renders into a message.
 */
#include "gateway/tlsrptsend.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *p = malloc(size ? size : 1); /* a private copy: reads past the end are caught */
	if (!p)
		return 0;
	memcpy(p, data, size);
	static struct tlsrpt_record r;
	char err[160];
	if (tlsrpt_record_parse(p, size, &r, err, sizeof err) == 0) {
		if (r.nmailto + r.nhttps == 0 || r.nmailto > TLSRPT_RUA_MAX ||
		    r.nhttps > TLSRPT_RUA_MAX)
			__builtin_trap();
		for (unsigned i = 0; i < r.nmailto; i++) {
			size_t n = strnlen(r.mailto[i], TLSRPT_URI_MAX);
			const char *at = strchr(r.mailto[i], '@');
			if (n == TLSRPT_URI_MAX || !at || at == r.mailto[i] ||
			    strpbrk(r.mailto[i], " \t\r\n<>,;"))
				__builtin_trap();
			char *m =
			    tlsrpt_mail_render("{}", 2, "example.net", "gw.example.org", "id", 0, 1,
			                       "tlsrpt@gw.example.org", r.mailto[i], 0, "q");
			if (!m)
				__builtin_trap();
			free(m);
		}
		for (unsigned i = 0; i < r.nhttps; i++)
			if (strnlen(r.https[i], TLSRPT_URI_MAX) == TLSRPT_URI_MAX)
				__builtin_trap();
	}
	free(p);
	return 0;
}
