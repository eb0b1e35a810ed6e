/*
 * fuzz_dovecot - libFuzzer target for the Dovecot authentication protocol
 * reply parser (src/auth/dovecot.c): whatever the auth socket sends, each
 * line parses or is refused; a parsed OK or FAIL holds a user name that is
 * NUL-terminated, within its bound and free of control characters (it
 * becomes the SMTP identity), and a temporary failure is never taken for a
 * wrong password. Input: lines split at LF, as the client reads them.
 */
#include "auth/dovecot.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_reply(const struct dovecot_reply *r)
{
	if ((unsigned)r->kind > DOVECOT_R_CONT)
		__builtin_trap();
	size_t n = strnlen(r->user, sizeof r->user);
	if (n == sizeof r->user || (!r->has_user && n))
		__builtin_trap();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)r->user[i] < 0x20 || r->user[i] == 0x7f)
			__builtin_trap();
	if (r->kind != DOVECOT_R_FAIL && (r->temp || r->disabled))
		__builtin_trap();
	if (strcmp(r->code, "temp_fail") == 0 && !r->temp)
		__builtin_trap();
	if (strnlen(r->reason, sizeof r->reason) == sizeof r->reason ||
	    strnlen(r->mech, sizeof r->mech) == sizeof r->mech ||
	    strnlen(r->code, sizeof r->code) == sizeof r->code)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	while (p <= end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);
		struct dovecot_reply r;
		if (dovecot_reply_parse(p, len, &r) == 0)
			fuzz_check_reply(&r);
		char out[64];
		(void)dovecot_unescape(p, len, out, sizeof out);
		if (!nl)
			break;
		p = nl + 1;
	}
	return 0;
}
