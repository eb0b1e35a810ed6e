/*
 * fuzz_log_mailenable - libFuzzer target for the mailenable log reader: the input as one
 * line for the stateless parser, then line by line through srvlog
 * (fuzz_srvlog.h).
 */
#include "forensics/melog.h"
#include "fuzz_srvlog.h"

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
	struct melog_line ml;
	if (melog_parse(p, size, &ml) == 0) {
		const struct logspan s[] = {ml.id,    ml.cmd,     ml.arg,
		                            ml.reply, ml.account, melog_addr(ml.arg)};
		for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
			if (s[i].p < p || s[i].p + s[i].len > p + size)
				abort();
	}
	fuzz_srvlog_lines(p, size);
	free(p);
	return 0;
}
