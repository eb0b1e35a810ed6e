/*
 * fuzz_logscan - libFuzzer target for the whole log scanner: the input is a
 * log of any format mix (Postfix, Exim, Dovecot, netfilter, the Windows
 * servers' logs, junk), split
 * into lines; every line goes through the parsers, the queue-ID table and
 * the policy engine, then the suspects are built. Never a crash, a leak or
 * a read past a line.
 */
#include "forensics/logscan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct logscan_opts o;
	char err[128];
	memset(&o, 0, sizeof o);
	o.year = 2026;
	o.max_messages = 64;
	struct logscan *s = logscan_new(&o, err, sizeof err);
	if (!s)
		return 0;
	logscan_begin(s, "fuzz", 0);
	size_t i = 0;
	while (i < size) {
		const uint8_t *nl = memchr(data + i, '\n', size - i);
		size_t n = nl ? (size_t)(nl - (data + i)) : size - i;
		char *line = malloc(n ? n : 1); /* each line exact-size for ASan */
		if (!line)
			break;
		memcpy(line, data + i, n);
		int64_t t; /* --merge's read-ahead of the line's time */
		(void)logscan_line_time(s, line, n, &t);
		(void)logscan_line(s, line, n);
		free(line);
		i += n + 1;
	}
	const struct logscan_suspect *sus;
	size_t ns;
	if (logscan_finish(s, &sus, &ns) == 0)
		for (size_t k = 0; k < ns; k++)
			if (sus[k].n_evidence > LOGSCAN_EVIDENCE_MAX ||
			    sus[k].n_ips > LOGSCAN_LIST_MAX)
				abort();
	(void)logscan_stats(s);
	logscan_free(s);
	return 0;
}
