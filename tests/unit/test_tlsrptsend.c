/*
 * Unit tests for src/gateway/tlsrptsend: the _smtp._tls record parser
 * (RFC 8460 §3), when a day's report is due, and the report message of
 * §5.3 (headers, and the gzip attachment that gives the JSON back).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/tlsrptsend.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define DAY0 1796515200000LL /* 2026-12-06T00:00:00Z */

static int parse(const char *s, struct tlsrpt_record *r)
{
	char err[160];
	return tlsrpt_record_parse(s, strlen(s), r, err, sizeof err);
}

static void test_record_good(void **state)
{
	struct tlsrpt_record r;
	assert_int_equal(parse("v=TLSRPTv1; rua=mailto:tls@example.net", &r), 0);
	assert_int_equal(r.nmailto, 1);
	assert_string_equal(r.mailto[0], "tls@example.net");
	assert_int_equal(r.nhttps, 0);
	assert_int_equal(parse("v=TLSRPTv1;rua=mailto:a%2Bx@example.net?subject=hi , "
	                       "https://rpt.example.net/v1,mailto:b@example.org;ext=1;",
	                       &r),
	                 0);
	assert_int_equal(r.nmailto, 2);
	assert_string_equal(r.mailto[0], "a+x@example.net");
	assert_string_equal(r.mailto[1], "b@example.org");
	assert_int_equal(r.nhttps, 1);
	assert_string_equal(r.https[0], "https://rpt.example.net/v1");
	/* other TXT records beside it are ignored */
	assert_int_equal(parse("v=spf1 -all | v=TLSRPTv1; rua=https://r.example/x", &r), 0);
	assert_int_equal(r.nmailto, 0);
	assert_int_equal(r.nhttps, 1);
	/* an unknown scheme is skipped when another URI is usable */
	assert_int_equal(parse("v=TLSRPTv1; rua=ftp://x.example/, mailto:t@example.net", &r), 0);
	assert_int_equal(r.nmailto, 1);
}

static void test_record_bad(void **state)
{
	struct tlsrpt_record r;
	const char *bad[] = {
	    "",
	    "v=spf1 -all",
	    "v=TLSRPTv1",                                                 /* no rua */
	    "v=TLSRPTv1;",                                                /* no rua */
	    "v=TLSRPTv2; rua=mailto:a@b.example",                         /* another version */
	    "v=TLSRPTv1x; rua=mailto:a@b.example",                        /* not the version tag */
	    "V=TLSRPTv1; rua=mailto:a@b.example",                         /* case-sensitive */
	    "v=TLSRPTv1 rua=mailto:a@b.example",                          /* no ';' */
	    "v=TLSRPTv1; rua=mailto:a@b.example; rua=mailto:c@d.example", /* two rua */
	    "v=TLSRPTv1; rua=mailto:ab.example",                          /* no @ */
	    "v=TLSRPTv1; rua=mailto:a@b@c.example",                       /* two @ */
	    "v=TLSRPTv1; rua=mailto:@b.example",                          /* no local part */
	    "v=TLSRPTv1; rua=mailto:a..b@b.example",                      /* not a dot-string */
	    "v=TLSRPTv1; rua=mailto:a@b..example",                        /* an empty label */
	    "v=TLSRPTv1; rua=mailto:a@-b.example",                        /* a label's hyphen */
	    "v=TLSRPTv1; rua=mailto:a%zz@b.example",                      /* bad escape */
	    "v=TLSRPTv1; rua=mailto:a%0d@b.example",                      /* a line break */
	    "v=TLSRPTv1; rua=mailto:a@b.example mailto:c@d.example",      /* no ',' */
	    "v=TLSRPTv1; rua=mailto:a@b.example,",                        /* an empty URI */
	    "v=TLSRPTv1; rua=ftp://x.example/",                           /* nothing usable */
	    "v=TLSRPTv1; rua=nocolon",                                    /* not a URI */
	    "v=TLSRPTv1; rua=mailto:a@b.example; bad field",              /* not name=value */
	    "v=TLSRPTv1; rua=mailto:a@b.example; _x=1",                   /* name starts badly */
	    "v=TLSRPTv1; rua=mailto:a@b.example; x=",                     /* empty value */
	    "v=TLSRPTv1; rua=mailto:a@b.example | v=TLSRPTv1; rua=mailto:c@d.example", /* two */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (parse(bad[i], &r) == 0)
			fail_msg("accepted: %s", bad[i]);
	}
	/* a NUL inside is not a record */
	char err[80];
	assert_int_equal(
	    tlsrpt_record_parse("v=TLSRPTv1; rua=mailto:a@b.ex\0ample", 35, &r, err, sizeof err),
	    -1);
}

static void test_due(void **state)
{
	assert_false(tlsrpt_report_due("2026-12-06", DAY0 + 3600000));
	assert_false(tlsrpt_report_due("2026-12-06", DAY0 + 86400000)); /* the grace */
	assert_true(tlsrpt_report_due("2026-12-06", DAY0 + 86400000 + 120000));
	assert_true(tlsrpt_report_due("2026-12-05", DAY0 + 120000));
	assert_false(tlsrpt_report_due("2026-12-07", DAY0));
	assert_false(tlsrpt_report_due(".", DAY0));
	assert_false(tlsrpt_report_due("2026-13-01", DAY0));
	assert_false(tlsrpt_report_due("2026-12-5x", DAY0));
	assert_false(tlsrpt_report_due("2026-12-055", DAY0));
}

/* The base64 body of the attachment, gunzipped. */
static char *attachment(const char *mail)
{
	const char *p = strstr(mail, "Content-Transfer-Encoding: base64\r\n\r\n");
	assert_non_null(p);
	p += strlen("Content-Transfer-Encoding: base64\r\n\r\n");
	const char *e = strstr(p, "\r\n\r\n--");
	assert_non_null(e);
	char *b64 = calloc(1, (size_t)(e - p) + 1);
	size_t n = 0;
	for (const char *q = p; q < e; q++)
		if (*q != '\r' && *q != '\n')
			b64[n++] = *q;
	unsigned char *gz = calloc(1, n);
	int gzlen = EVP_DecodeBlock(gz, (unsigned char *)b64, (int)n);
	assert_true(gzlen > 0);
	while (n > 0 && b64[n - 1] == '=') { /* EVP_DecodeBlock counts the padding */
		gzlen--;
		n--;
	}
	free(b64);
	char *out = calloc(1, 65536);
	z_stream z;
	memset(&z, 0, sizeof z);
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = gz;
	z.avail_in = (uInt)gzlen;
	z.next_out = (Bytef *)out;
	z.avail_out = 65535;
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	inflateEnd(&z);
	free(gz);
	return out;
}

static void test_render(void **state)
{
	const char *json = "{\"report-id\": \"2026-12-06_example.net@gw.example.org\"}";
	char *m = tlsrpt_mail_render(json, strlen(json), "example.net", "gw.example.org",
	                             "2026-12-06_example.net@gw.example.org", 1796515200,
	                             1796601599, "tlsrpt@gw.example.org", "tls@example.net",
	                             DAY0 + 86400000, "Q1.tlsrpt1");
	assert_non_null(m);
	const char *want[] = {
	    "\r\nSubject: Report Domain: example.net Submitter: gw.example.org Report-ID: "
	    "<2026-12-06_example.net@gw.example.org>\r\n",
	    "\r\nTLS-Report-Domain: example.net\r\n",
	    "\r\nTLS-Report-Submitter: gw.example.org\r\n",
	    "\r\nFrom: <tlsrpt@gw.example.org>\r\nTo: <tls@example.net>\r\n",
	    "Content-Type: multipart/report; report-type=\"tlsrpt\";",
	    "Content-Type: application/tlsrpt+gzip;",
	    "filename=\"gw.example.org!example.net!1796515200!1796601599.json.gz\"",
	    "Date: Mon, 07 Dec 2026 00:00:00 +0000\r\n",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		if (!strstr(m, want[i]))
			fail_msg("missing: %s", want[i]);
	for (const char *p = m; *p; p++) /* CRLF only, lines within 998 */
		if (*p == '\n')
			assert_true(p > m && p[-1] == '\r');
	char *back = attachment(m);
	assert_string_equal(back, json);
	free(back);
	free(m);
	/* a line break in a header field: no message */
	assert_null(tlsrpt_mail_render(json, strlen(json), "example.net\r\nBcc: x@y", "gw", "id", 0,
	                               1, "a@b", "c@d", DAY0, "q"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_record_good),
	    cmocka_unit_test(test_record_bad),
	    cmocka_unit_test(test_due),
	    cmocka_unit_test(test_render),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
