/*
 * fuzz_log_exim - libFuzzer target for the Exim main log parser: any bytes
 * as the text after the stamp, and as a whole line; spans stay inside.
 */
#include "forensics/eximlog.h"
#include "forensics/logline.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(const char *p, size_t n, const struct eximlog_rec *r)
{
	const struct logspan spans[] = {r->id,     r->sender,    r->rcpt,    r->host,
	                                r->proto,  r->auth,      r->user,    r->local_user,
	                                r->router, r->transport, r->orig_id, r->text};
	for (size_t i = 0; i < sizeof spans / sizeof spans[0]; i++)
		if (spans[i].p < p || spans[i].p + spans[i].len > p + n)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *p = malloc(size ? size : 1);
	if (!p)
		return 0;
	if (size)
		memcpy(p, data, size);
	struct eximlog_rec r;
	(void)eximlog_parse((struct logspan){p, size}, &r);
	fuzz_check(p, size, &r);
	struct logline l;
	if (logline_parse(p, size, &l) == 0) {
		(void)eximlog_parse(l.msg, &r);
		fuzz_check(p, size, &r);
	}
	(void)eximlog_is_id((struct logspan){p, size});
	free(p);
	return 0;
}
