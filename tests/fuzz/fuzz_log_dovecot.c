/*
 * fuzz_log_dovecot - libFuzzer target for the Dovecot line parser: any
 * bytes as the text after "dovecot: "; spans stay inside the input.
 */
#include "forensics/dovelog.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *p = malloc(size ? size : 1);
	if (!p)
		return 0;
	if (size)
		memcpy(p, data, size);
	struct logspan m = {p, size};
	struct dovelog_rec r;
	(void)dovelog_is_dovecot(m);
	(void)dovelog_parse(m, &r);
	const struct logspan spans[] = {r.service, r.user, r.rcpt};
	for (size_t i = 0; i < sizeof spans / sizeof spans[0]; i++)
		if (spans[i].p < p || spans[i].p + spans[i].len > p + size)
			abort();
	if (r.kind == DOVELOG_AUTH_FAIL && (r.attempts == 0 || r.attempts > 1000))
		abort();
	free(p);
	return 0;
}
