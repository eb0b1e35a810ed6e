/*
 * fuzz_canon - libFuzzer target for the canonical forms of domains, accounts
 * and identities (policy/canon.c), which take what SMTP clients, Postfix and
 * logs send.
 *
 * The first byte picks the function ('d' domain, 'u' account, anything else
 * identity); the rest is the input. Checks beyond "no crash": a result is
 * NUL-terminated within its buffer, has no ASCII upper case, a domain is all
 * ASCII (A-labels), failure leaves "", and the form is a fixed point: the
 * canonical form of a canonical form is itself.
 */
#include "policy/canon.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_canon_check(const char *out, size_t size, bool ascii)
{
	size_t n = strnlen(out, size);
	if (n >= size)
		abort();
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)out[i];
		if ((c >= 'A' && c <= 'Z') || (ascii && c >= 0x80))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 2048)
		return 0;
	char *in = malloc(size); /* NUL-terminated copy of data[1..] */
	if (!in)
		return 0;
	memcpy(in, data + 1, size - 1);
	in[size - 1] = '\0';
	char out[320], again[320];
	int rc;
	switch (data[0]) {
	case 'd':
		rc = canon_domain(in, strlen(in), out, sizeof out);
		if (rc == 0) {
			fuzz_canon_check(out, sizeof out, out[0] != '[');
			if (canon_domain(out, strlen(out), again, sizeof again) != 0 ||
			    strcmp(out, again) != 0)
				abort();
		}
		break;
	case 'u':
		rc = canon_user(in, out, sizeof out);
		if (rc == 0) {
			fuzz_canon_check(out, sizeof out, false);
			if (canon_user(out, again, sizeof again) != 0 || strcmp(out, again) != 0)
				abort();
		}
		break;
	default:
		rc = canon_identity(in, out, sizeof out);
		if (rc == 0 && canon_identity(out, again, sizeof again) == 0 &&
		    strcmp(out, again) != 0)
			abort();
		break;
	}
	if (rc != 0 && out[0] != '\0')
		abort();
	canon_user_key(in, out, sizeof out);
	if (strnlen(out, sizeof out) >= sizeof out)
		abort();
	free(in);
	return 0;
}
