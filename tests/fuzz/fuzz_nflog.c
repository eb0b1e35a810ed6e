/*
 * fuzz_nflog - libFuzzer target for the netfilter LOG line parser and the
 * per-host counter: any bytes, never a crash, never a read past the input.
 */
#include "forensics/nflog.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy so ASan sees any read past the end. */
	char *p = malloc(size ? size : 1);
	if (!p)
		return 0;
	if (size)
		memcpy(p, data, size);
	struct nflog_line l;
	int rc = nflog_parse(p, size, &l);
	if (rc == NFLOG_OK) {
		/* Every span lies inside the input. */
		const struct nflog_span spans[] = {l.host, l.prefix, l.in, l.out, l.proto_name};
		for (size_t i = 0; i < sizeof spans / sizeof spans[0]; i++)
			if (spans[i].p < p || spans[i].p + spans[i].len > p + size)
				abort();
		int64_t ms;
		(void)nflog_time_ms(&l, 2026, &ms);
		(void)nflog_prefix_is(&l, "RG-SMTP-BLOCK ");
		struct nflog_agg a;
		if (nflog_agg_init(&a, 4, "RG-SMTP-BLOCK ") == 0) {
			if (nflog_agg_add(&a, &l, 1) == 1 && a.n == 1 &&
			    nflog_agg_find(&a, &l.src) == NULL)
				abort();
			nflog_agg_free(&a);
		}
	}
	(void)nflog_status_str(rc);
	free(p);
	return 0;
}
