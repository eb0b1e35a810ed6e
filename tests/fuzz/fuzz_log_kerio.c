/*
 * fuzz_log_kerio - libFuzzer target for the kerio log reader: the input as one
 * line for the stateless parser, then line by line through srvlog
 * (fuzz_srvlog.h).
 */
#include "forensics/kerlog.h"
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
	struct srvlog_rec r;
	(void)kerlog_parse(p, size, &r);
	fuzz_srvlog_check(p, size, NULL, &r);
	fuzz_srvlog_lines(p, size);
	free(p);
	return 0;
}
