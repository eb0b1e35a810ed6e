/*
 * fuzz_log_exchange - libFuzzer target for the exchange log reader: the input as one
 * line for the stateless parser, then line by line through srvlog
 * (fuzz_srvlog.h).
 */
#include "forensics/exlog.h"
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
	struct logspan cols[EXLOG_COLS_MAX];
	size_t nc = exlog_split(p, size, cols, EXLOG_COLS_MAX);
	for (size_t i = 0; i < nc; i++)
		if (cols[i].p < p || cols[i].p + cols[i].len > p + size)
			abort();
	int col[EXF_COUNT];
	exlog_fields((struct logspan){p, size}, col);
	(void)exlog_time((struct logspan){p, size});
	fuzz_srvlog_lines(p, size);
	free(p);
	return 0;
}
