/*
 * fuzz_rspamd_reply - libFuzzer target for the reader of rspamd's /checkv2
 * JSON reply (src/gateway/scan.c): whatever answers on rspamd's port, the
 * result is a known action or an error, and the texts that may reach an
 * SMTP reply are one bounded line of printable ASCII.
 */
#include "gateway/scan.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_text(const char *s)
{
	size_t n = strnlen(s, SCAN_TEXT_MAX);
	if (n == SCAN_TEXT_MAX)
		__builtin_trap();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scan_result r;
	int rc = scan_parse_reply((const char *)data, size, &r);
	if (rc == 0) {
		if (r.status != SCAN_DONE || (unsigned)r.action > SCAN_REJECT)
			__builtin_trap();
		fuzz_check_text(r.message);
		fuzz_check_text(r.subject);
	} else if (rc != -1 || r.status != SCAN_ERROR || !r.error[0]) {
		__builtin_trap();
	}
	(void)scan_result_label(&r);
	return 0;
}
