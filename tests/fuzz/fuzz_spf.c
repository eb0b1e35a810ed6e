/*
 * fuzz_spf - libFuzzer target for the SPF record parser and the macro
 * expander (src/smtp/spf.c): a TXT record from a hostile DNS server, and
 * every domain-spec in it expanded with a fixed sender, domain and client.
 */
#include "core/str.h"
#include "smtp/spf.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct spf_record r;
	char err[128], out[256];
	const char *p = (const char *)data;
	struct spf_macro_ctx m = {.sender = "strong-bad@email.example.com",
	                          .domain = "email.example.com",
	                          .helo = "mx.example.org"};
	m.ip.family = (size & 1) ? 4 : 6;
	m.ip.bytes[0] = 192;
	m.ip.bytes[15] = 7;
	if (spf_record_parse(p, size, &r, err, sizeof err) == 0) {
		if (r.nterms > SPF_TERMS_MAX)
			__builtin_trap();
		for (unsigned i = 0; i < r.nterms; i++) {
			if (strnlen(r.terms[i].spec, SPF_SPEC_MAX) == SPF_SPEC_MAX)
				__builtin_trap();
			if (r.terms[i].spec[0] &&
			    spf_macro_expand(r.terms[i].spec, &m, out, sizeof out) == 0 &&
			    strlen(out) > 253)
				__builtin_trap();
		}
		if (r.has_redirect)
			(void)spf_macro_expand(r.redirect, &m, out, sizeof out);
	} else if (strnlen(err, sizeof err) == sizeof err) {
		__builtin_trap();
	}
	char spec[512];
	size_t n = size < sizeof spec - 1 ? size : sizeof spec - 1;
	memcpy(spec, p, n);
	spec[n] = '\0';
	if (spf_macro_expand(spec, &m, out, sizeof out) == 0 &&
	    (out[0] == '\0' || strlen(out) > 253))
		__builtin_trap();
	return 0;
}
