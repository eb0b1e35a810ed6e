/*
 * fuzz_smtp_data - libFuzzer target for the DATA/BDAT body machine
 * (smtp/data.c), the SMTP smuggling boundary.
 *
 * The first byte picks the mode, the size limit and the feed size; the rest
 * is the body. Checks beyond "no crash": feeding in pieces gives the same
 * end, content and verdict as feeding at once; in DATA mode the end is only
 * ever right after "<CRLF>.<CRLF>" (the input start counts as after a CRLF);
 * content never holds a bare CR or LF when the verdict is OK; content is
 * never longer than the input.
 */
#include "smtp/data.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_run {
	char *out;
	size_t outlen;
	size_t used;
	bool done;
	enum smtp_data_result result;
};

static void fz_run(enum smtp_data_mode mode, uint64_t max, const char *in, size_t len, size_t step,
                   struct fz_run *r)
{
	struct smtp_data d;
	smtp_data_init(&d, mode, max);
	r->outlen = 0;
	size_t pos = 0;
	while (pos < len && !smtp_data_done(&d)) {
		size_t n = len - pos < step ? len - pos : step;
		char tmp[16];
		size_t ol = 0;
		size_t k = smtp_data_feed(&d, in + pos, n, tmp, sizeof tmp, &ol);
		if (r->outlen + ol > len)
			abort();
		memcpy(r->out + r->outlen, tmp, ol);
		r->outlen += ol;
		pos += k;
		if (k == 0 && ol == 0)
			abort(); /* no progress */
	}
	if (mode == SMTP_DATA_MODE_BDAT)
		smtp_data_finish(&d);
	r->used = pos;
	r->done = smtp_data_done(&d);
	r->result = smtp_data_result(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t sel = data[0];
	enum smtp_data_mode mode = sel & 1 ? SMTP_DATA_MODE_BDAT : SMTP_DATA_MODE_DATA;
	uint64_t max = sel & 2 ? 64 : 0;
	size_t step = (size_t)(sel >> 2) + 1;
	const char *in = (const char *)data + 1;
	size_t len = size - 1;
	struct fz_run a, b;
	a.out = malloc(len + 1);
	b.out = malloc(len + 1);
	if (!a.out || !b.out)
		abort();
	fz_run(mode, max, in, len, len ? len : 1, &a);
	fz_run(mode, max, in, len, step, &b);
	if (a.done != b.done || a.used != b.used || a.result != b.result || a.outlen != b.outlen ||
	    memcmp(a.out, b.out, a.outlen) != 0)
		abort();
	if (a.done) {
		/* "\r\n" + in[0..used) ends in "\r\n.\r\n" */
		if (a.used < 3 || memcmp(in + a.used - 3, ".\r\n", 3) != 0)
			abort();
		if (a.used > 3 && (a.used < 5 || memcmp(in + a.used - 5, "\r\n", 2) != 0))
			abort();
	}
	if (a.result == SMTP_DATA_OK) {
		for (size_t i = 0; i < a.outlen; i++) {
			if (a.out[i] == '\n' && (i == 0 || a.out[i - 1] != '\r'))
				abort();
			if (a.out[i] == '\r' && (i + 1 >= a.outlen || a.out[i + 1] != '\n') &&
			    (a.done || mode == SMTP_DATA_MODE_BDAT))
				abort();
		}
	}
	free(a.out);
	free(b.out);
	return 0;
}
