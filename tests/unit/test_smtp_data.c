/*
 * Unit tests for src/smtp/data.c: dot-unstuffing, the only end of data
 * (<CRLF>.<CRLF>), every SMTP smuggling vector of reliability.md §2.2 kept
 * as content and flagged, BDAT pass-through, size limits, and an exhaustive
 * comparison with a reference over every short input from {CR, LF, '.', 'a'}.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "smtp/data.h"

#include <stdio.h>
#include <string.h>

struct run {
	char out[4096];
	size_t outlen;
	size_t used;
	bool done;
	enum smtp_data_result result;
};

/* Feeds in[0..len) in pieces of step bytes (0: all at once). */
static void run_data(enum smtp_data_mode mode, uint64_t max, const char *in, size_t len,
                     size_t step, struct run *r)
{
	struct smtp_data d;
	smtp_data_init(&d, mode, max);
	memset(r, 0, sizeof *r);
	size_t pos = 0;
	while (pos < len && !smtp_data_done(&d)) {
		size_t n = step && len - pos > step ? step : len - pos;
		char tmp[64];
		size_t outlen = 0;
		size_t k = smtp_data_feed(&d, in + pos, n, tmp, sizeof tmp, &outlen);
		assert_true(r->outlen + outlen <= sizeof r->out);
		memcpy(r->out + r->outlen, tmp, outlen);
		r->outlen += outlen;
		pos += k;
		if (k == 0)
			assert_true(outlen > 0 || smtp_data_done(&d));
	}
	if (mode == SMTP_DATA_MODE_BDAT)
		smtp_data_finish(&d);
	r->used = pos;
	r->done = smtp_data_done(&d);
	r->result = smtp_data_result(&d);
}

static void test_plain_message(void **state)
{
	const char *in = "Subject: hi\r\n\r\nbody\r\n..dot\r\n.\r\nMAIL FROM:<x@y>\r\n";
	struct run r;
	run_data(SMTP_DATA_MODE_DATA, 0, in, strlen(in), 0, &r);
	assert_true(r.done);
	assert_int_equal(r.result, SMTP_DATA_OK);
	assert_int_equal(r.used, strlen("Subject: hi\r\n\r\nbody\r\n..dot\r\n.\r\n"));
	assert_int_equal(r.outlen, strlen("Subject: hi\r\n\r\nbody\r\n.dot\r\n"));
	assert_memory_equal(r.out, "Subject: hi\r\n\r\nbody\r\n.dot\r\n", r.outlen);
}

static void test_empty_message(void **state)
{
	struct run r;
	run_data(SMTP_DATA_MODE_DATA, 0, ".\r\n", 3, 0, &r);
	assert_true(r.done);
	assert_int_equal(r.outlen, 0);
	assert_int_equal(r.result, SMTP_DATA_OK);
}

static void test_dot_lines(void **state)
{
	const char *in = ".a\r\n..\r\n...\r\n. \r\n.\r\n";
	struct run r;
	run_data(SMTP_DATA_MODE_DATA, 0, in, strlen(in), 1, &r);
	assert_true(r.done);
	assert_int_equal(r.result, SMTP_DATA_OK);
	const char *want = "a\r\n.\r\n..\r\n \r\n";
	assert_int_equal(r.outlen, strlen(want));
	assert_memory_equal(r.out, want, r.outlen);
}

/* reliability.md §2.2: none of these ends the data; each is flagged. */
static void test_smuggling_vectors(void **state)
{
	static const char *const eod[] = {"\n.\n",         "\n.\r",       "\r.\n",        "\r.\r",
	                                  "\n.\r\n",       "\r.\r\n",     "\r\n.\n",      "\r\n.\r",
	                                  "\r\n\x00.\r\n", "\r\n.\r\r\n", "\r\r\n.\r\r\n"};
	for (size_t i = 0; i < sizeof eod / sizeof eod[0]; i++) {
		char in[256];
		size_t len = 0;
		const char *head = "Subject: a\r\n\r\nbody";
		memcpy(in, head, strlen(head));
		len += strlen(head);
		size_t el = strlen(eod[i]);
		if (i == 8)
			el = 6; /* the NUL one */
		memcpy(in + len, eod[i], el);
		len += el;
		const char *smug = "mail FROM:<a@b>\r\nrcpt TO:<c@d>\r\ndata\r\nsmuggled\r\n";
		memcpy(in + len, smug, strlen(smug));
		len += strlen(smug);
		for (size_t step = 0; step <= 3; step++) {
			struct run r;
			run_data(SMTP_DATA_MODE_DATA, 0, in, len, step, &r);
			if (i == 8) {
				/* CRLF NUL . CRLF: the NUL line is content, no bare
				 * newline; the end is not there either. */
				assert_false(r.done);
				continue;
			}
			assert_false(r.done);
			assert_int_equal(r.used, len);
			assert_int_equal(r.result, SMTP_DATA_BARE_NEWLINE);
		}
	}
}

static void test_bare_lf_in_header(void **state)
{
	const char *in = "Subject: a\nBcc: x\r\n\r\nbody\r\n.\r\n";
	struct run r;
	run_data(SMTP_DATA_MODE_DATA, 0, in, strlen(in), 0, &r);
	assert_true(r.done);
	assert_int_equal(r.result, SMTP_DATA_BARE_NEWLINE);
}

static void test_too_big(void **state)
{
	const char *in = "0123456789\r\n.\r\n";
	struct run r;
	run_data(SMTP_DATA_MODE_DATA, 12, in, strlen(in), 0, &r);
	assert_true(r.done);
	assert_int_equal(r.result, SMTP_DATA_OK);
	run_data(SMTP_DATA_MODE_DATA, 11, in, strlen(in), 0, &r);
	assert_true(r.done);
	assert_int_equal(r.result, SMTP_DATA_TOO_BIG);
	assert_int_equal(r.used, strlen(in));
	assert_int_not_equal(smtp_data_reply(SMTP_DATA_TOO_BIG)[0], '2');
}

static void test_bdat(void **state)
{
	const char *in = "a\r\n.\r\nb\r\n";
	struct run r;
	run_data(SMTP_DATA_MODE_BDAT, 0, in, strlen(in), 0, &r);
	assert_false(r.done);
	assert_int_equal(r.result, SMTP_DATA_OK);
	assert_int_equal(r.outlen, strlen(in));
	assert_memory_equal(r.out, in, r.outlen);
	run_data(SMTP_DATA_MODE_BDAT, 0, "a\nb", 3, 0, &r);
	assert_int_equal(r.result, SMTP_DATA_BARE_NEWLINE);
	run_data(SMTP_DATA_MODE_BDAT, 0, "a\rb", 3, 0, &r);
	assert_int_equal(r.result, SMTP_DATA_BARE_NEWLINE);
	run_data(SMTP_DATA_MODE_BDAT, 0, "a\r", 2, 0, &r);
	assert_int_equal(r.result, SMTP_DATA_BARE_NEWLINE);
}

static void test_bdat_cr_across_chunks(void **state)
{
	struct smtp_data d;
	smtp_data_init(&d, SMTP_DATA_MODE_BDAT, 0);
	char out[16];
	size_t n;
	assert_int_equal(smtp_data_feed(&d, "ab\r", 3, out, sizeof out, &n), 3);
	assert_int_equal(smtp_data_feed(&d, "\ncd\r\n", 5, out, sizeof out, &n), 5);
	smtp_data_finish(&d);
	assert_int_equal(smtp_data_result(&d), SMTP_DATA_OK);
	assert_int_equal(d.size, 8);
}

/* The reference: the end is the first "\r\n.\r\n" of "\r\n" + input; the
 * content before it, split at CRLF, loses one leading dot per line; the
 * input is bad when it has a CR not followed by LF or an LF not preceded by CR
 * before that end. */
static void reference(const char *in, size_t len, bool *done, size_t *used, bool *bad, char *out,
                      size_t *outlen)
{
	char buf[64];
	buf[0] = '\r';
	buf[1] = '\n';
	memcpy(buf + 2, in, len);
	size_t blen = len + 2;
	*done = false;
	size_t end = blen;
	for (size_t i = 0; i + 5 <= blen; i++)
		if (memcmp(buf + i, "\r\n.\r\n", 5) == 0) {
			*done = true;
			end = i + 2; /* content keeps its final CRLF */
			*used = i + 5 - 2;
			break;
		}
	if (!*done)
		*used = len;
	*bad = false;
	size_t cend = *done ? end : blen;
	for (size_t i = 2; i < cend; i++) {
		if (buf[i] == '\r' && i + 1 < blen && buf[i + 1] != '\n')
			*bad = true;
		if (buf[i] == '\n' && buf[i - 1] != '\r')
			*bad = true;
	}
	*outlen = 0;
	bool bol = true;
	for (size_t i = 2; i < cend; i++) {
		if (bol && buf[i] == '.') {
			bol = false;
			continue;
		}
		out[(*outlen)++] = buf[i];
		bol = buf[i] == '\n' && buf[i - 1] == '\r';
	}
}

static void test_exhaustive(void **state)
{
	static const char alpha[] = {'\r', '\n', '.', 'a'};
	char in[8];
	unsigned long checked = 0;
	for (size_t len = 1; len <= 7; len++) {
		size_t total = 1;
		for (size_t k = 0; k < len; k++)
			total *= 4;
		for (size_t code = 0; code < total; code++) {
			size_t c = code;
			for (size_t k = 0; k < len; k++) {
				in[k] = alpha[c % 4];
				c /= 4;
			}
			bool done, bad;
			size_t used, outlen;
			char out[64];
			reference(in, len, &done, &used, &bad, out, &outlen);
			for (size_t step = 0; step <= 1; step++) {
				struct run r;
				run_data(SMTP_DATA_MODE_DATA, 0, in, len, step, &r);
				if (r.done != done || r.used != used) {
					char msg[80];
					snprintf(msg, sizeof msg, "len %zu code %zu", len, code);
					fail_msg("%s: done %d/%d used %zu/%zu", msg, r.done, done,
					         r.used, used);
				}
				if (done) {
					assert_int_equal(r.result == SMTP_DATA_BARE_NEWLINE, bad);
					if (!bad) {
						assert_int_equal(r.outlen, outlen);
						assert_memory_equal(r.out, out, outlen);
					}
				}
				checked++;
			}
		}
	}
	assert_true(checked > 40000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_message),
	    cmocka_unit_test(test_empty_message),
	    cmocka_unit_test(test_dot_lines),
	    cmocka_unit_test(test_smuggling_vectors),
	    cmocka_unit_test(test_bare_lf_in_header),
	    cmocka_unit_test(test_too_big),
	    cmocka_unit_test(test_bdat),
	    cmocka_unit_test(test_bdat_cr_across_chunks),
	    cmocka_unit_test(test_exhaustive),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
