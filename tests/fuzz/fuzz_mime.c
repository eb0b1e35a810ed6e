/*
 * fuzz_mime - MIME walking and DSN parsing of one message, then the whole
 * bounce analysis on it, then RFC 2047 decoding of it and its conversion to
 * UTF-8 from a charset named by its first bytes. Any input must give an
 * answer, never a crash.
 */
#include "forensics/bounce.h"
#include "forensics/dsn.h"
#include "forensics/mime.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
		static const char *const charsets[] = {"ISO-2022-JP", "Shift_JIS",    "EUC-JP",
		                                       "KOI8-R",      "windows-1251", "GB2312",
		                                       "Big5",        "iso-8859-1",   "utf-8"};
		struct buf b;
		buf_init(&b, 1 << 16);
		(void)mime_decode_words((const char *)data, size, &b);
		buf_reset(&b);
		const char *cs =
		    charsets[size ? data[0] % (sizeof charsets / sizeof charsets[0]) : 0];
		(void)mime_to_utf8(cs, (const char *)data, size, &b);
		buf_free(&b);
	}
	free(d);
	free(r);
	return 0;
}
