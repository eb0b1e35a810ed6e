/*
 * fuzz_address - libFuzzer target for the RFC 5321 path and ESMTP parameter
 * parser (smtp/address.c) and the relay decision fed by it.
 *
 * The first byte picks the verb and the options; the rest is the argument.
 * Checks beyond "no crash": a successful parse yields NUL-terminated fields
 * within their bounds, and formatting and the relay decision never fail on it.
 */
#include "core/addr.h"
#include "smtp/address.h"
#include "smtp/relay.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t sel = data[0];
	enum smtp_address_kind kind = (sel & 1) ? SMTP_ADDRESS_RCPT : SMTP_ADDRESS_MAIL;
	unsigned opts = (sel >> 1) & 7;
	/* A private copy so reads past the end are caught by ASan. */
	char *arg = malloc(size - 1 ? size - 1 : 1);
	if (!arg)
		return 0;
	memcpy(arg, data + 1, size - 1);
	struct smtp_address a;
	enum smtp_address_status st = smtp_address_parse(arg, size - 1, kind, opts, &a);
	if (smtp_address_reply(st, kind) == NULL)
		abort();
	if (st == SMTP_ADDRESS_OK) {
		if (strnlen(a.local, sizeof a.local) >= sizeof a.local ||
		    strnlen(a.local_raw, sizeof a.local_raw) >= sizeof a.local_raw ||
		    strnlen(a.domain, sizeof a.domain) >= sizeof a.domain ||
		    a.nparams > SMTP_ADDRESS_PARAMS_MAX)
			abort();
		if (kind == SMTP_ADDRESS_RCPT && (a.flags & SMTP_ADDRESS_F_NULL))
			abort();
		char out[SMTP_ADDRESS_PATH_MAX + 8];
		(void)smtp_address_format(&a, out, sizeof out);
		if (kind == SMTP_ADDRESS_RCPT) {
			struct relay_policy p;
			memset(&p, 0, sizeof p);
			relay_domains_init(&p.domains);
			if (relay_domains_add(&p.domains, "local.example", 13) != 0)
				abort();
			struct relay_client c = {0};
			struct relay_decision d;
			if (relay_decide(&p, &c, &a, &d) != 0)
				abort();
			/* Invariant 1: an untrusted, unauthenticated client never relays. */
			if (d.verdict == RELAY_ACCEPT_RELAY)
				abort();
			if (d.verdict == RELAY_ACCEPT_LOCAL &&
			    (memchr(a.local, '%', strlen(a.local)) ||
			     memchr(a.local, '!', strlen(a.local)) ||
			     memchr(a.local, '@', strlen(a.local)) ||
			     (a.flags & SMTP_ADDRESS_F_SOURCE_ROUTE)))
				abort();
		}
	}
	free(arg);
	return 0;
}
