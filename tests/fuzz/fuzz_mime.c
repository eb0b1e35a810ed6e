/*
 * fuzz_mime - MIME walking and DSN parsing of one message, then the whole
 * bounce analysis on it. Any input must give an answer, never a crash.
 */
#include "forensics/bounce.h"
#include "forensics/dsn.h"
#include "forensics/mime.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_mime_part(void *ctx, const struct mime_part *p)
{
	struct dsn_report *d = ctx;
	if (mime_ctype_is(p->ctype, "message", "delivery-status") ||
	    mime_ctype_is(p->ctype, "message", "global-delivery-status"))
		(void)dsn_parse(p->body, p->len, d);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dsn_report *d = calloc(1, sizeof *d);
	struct bounce_result *r = malloc(sizeof *r);
	if (d && r) {
		(void)mime_walk((const char *)data, size, fuzz_mime_part, d);
		(void)dsn_parse((const char *)data, size, d);
		(void)bounce_analyze((const char *)data, size, r);
	}
	free(d);
	free(r);
	return 0;
}
