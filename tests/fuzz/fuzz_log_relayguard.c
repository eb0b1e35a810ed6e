/*
 * fuzz_log_relayguard - libFuzzer target for relayguard's delivery log line
 * parser: any bytes after the prefix; spans stay inside the input.
 */
#include "forensics/rglog.h"

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
	struct rglog_rec r;
	(void)rglog_parse((struct logspan){p, size}, &r);
	const struct logspan spans[] = {r.id,  r.rcpt,  r.from,  r.user,   r.status,
	                                r.dsn, r.reply, r.relay, r.dsn_id, r.to};
	for (size_t i = 0; i < sizeof spans / sizeof spans[0]; i++)
		if (spans[i].p < p || spans[i].p + spans[i].len > p + size)
			abort();
	free(p);
	return 0;
}
