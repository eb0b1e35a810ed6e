/*
 * Unit tests for src/forensics/mime.c and dsn.c: header unfolding, Content-Type
 * parameters, transfer decodings, multipart walking, RFC 3464 fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "forensics/dsn.h"
#include "forensics/mime.h"
#include "forensics/msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_headers_unfold(void **state)
{
	const char msg[] = "From MAILER-DAEMON Mon Nov 23 09:15:02 2026\n"
	                   "Subject: Undelivered Mail\r\n"
	                   " Returned to Sender\r\n"
	                   "X-Empty:\r\n"
	                   "Content-Type: multipart/report;\r\n"
	                   "\treport-type=delivery-status;\r\n"
	                   "\tboundary=\"b1\"\r\n"
	                   "\r\n"
	                   "body\r\n";
	struct mime_headers h;
	size_t off;
	mime_headers_init(&h);
	assert_int_equal(mime_headers_parse(msg, strlen(msg), &h, &off), 0);
	assert_int_equal(h.count, 3);
	assert_string_equal(mime_headers_get(&h, "subject"), "Undelivered Mail Returned to Sender");
	assert_string_equal(mime_headers_get(&h, "X-EMPTY"), "");
	assert_string_equal(mime_headers_get(&h, "Content-Type"),
	                    "multipart/report; report-type=delivery-status; boundary=\"b1\"");
	assert_null(mime_headers_get(&h, "To"));
	assert_string_equal(msg + off, "body\r\n");
	mime_headers_free(&h);
}

static void test_headers_no_blank_line(void **state)
{
	/* A line that is not a field ends the header section. */
	const char msg[] = "Subject: x\nthis is body text\nmore\n";
	struct mime_headers h;
	size_t off;
	mime_headers_init(&h);
	assert_int_equal(mime_headers_parse(msg, strlen(msg), &h, &off), 0);
	assert_int_equal(h.count, 1);
	assert_string_equal(msg + off, "this is body text\nmore\n");
	mime_headers_free(&h);
	/* Headers only, no body at all. */
	mime_headers_init(&h);
	assert_int_equal(mime_headers_parse("A: 1", 4, &h, &off), 0);
	assert_int_equal(off, 4);
	assert_string_equal(mime_headers_get(&h, "a"), "1");
	mime_headers_free(&h);
}

static void test_headers_caps(void **state)
{
	/* Far more fields than MIME_MAX_HEADERS, and one huge folded value. */
	size_t cap = 400 * 16 + 3 * MIME_MAX_VALUE;
	char *msg = malloc(cap);
	size_t n = 0;
	for (int i = 0; i < 400; i++)
		n += (size_t)snprintf(msg + n, cap - n, "X-F%03d: v\n", i);
	n += (size_t)snprintf(msg + n, cap - n, "X-Big: ");
	while (n + 20 < cap - 10) {
		memcpy(msg + n, "\taaaaaaaa\n aaaaaaa\n", 19);
		n += 19;
	}
	memcpy(msg + n, "\nbody", 5);
	n += 5;
	struct mime_headers h;
	size_t off;
	mime_headers_init(&h);
	assert_int_equal(mime_headers_parse(msg, n, &h, &off), 0);
	assert_int_equal(h.count, MIME_MAX_HEADERS);
	assert_int_equal(off, n - 4);
	mime_headers_free(&h);
	free(msg);
}

/* mime_headers_parse reads with forensics/msg: the fields trace sees are the
 * fields bounce sees, up to the first line that is not a field. */
static void test_headers_one_reader(void **state)
{
	const char msg[] = "Subject: one\r\n"
	                   " \t\r\n" /* white space only: folding, not the end */
	                   "Received: from a ([203.0.113.9]) by b; 1 Jan 2026 00:00 +0000\r\n"
	                   "Content-Type: text/plain;\n"
	                   "   \tcharset=iso-2022-jp\n"
	                   "X-Esc: \x1b$B\x1b(B\n"
	                   "\n"
	                   "body\n";
	struct mime_headers h;
	size_t off;
	mime_headers_init(&h);
	assert_int_equal(mime_headers_parse(msg, strlen(msg), &h, &off), 0);
	assert_int_equal(h.count, 4);
	assert_string_equal(mime_headers_get(&h, "Subject"), "one");
	assert_non_null(mime_headers_get(&h, "Received"));
	assert_string_equal(mime_headers_get(&h, "Content-Type"),
	                    "text/plain; charset=iso-2022-jp");
	assert_string_equal(mime_headers_get(&h, "X-Esc"), "\x1b$B\x1b(B"); /* bytes kept */
	assert_string_equal(msg + off, "body\n");
	/* The same fields, in order, from msg's reader as trace uses it. */
	struct msg_reader r;
	struct msg_field f;
	size_t i = 0;
	msg_reader_init(&r, msg, strlen(msg));
	while (msg_next(&r, &f) == 1) {
		assert_true(i < h.count);
		assert_true(msg_field_is(&f, h.items[i].name));
		i++;
	}
	assert_int_equal(i, h.count);
	assert_int_equal(msg_body_offset(&r), off);
	mime_headers_free(&h);

	/* A line that is not a field: bounce's body starts there, trace reads on. */
	const char junk[] = "A: 1\njunk line\nB: 2\n\nbody";
	mime_headers_init(&h);
	assert_int_equal(mime_headers_parse(junk, strlen(junk), &h, &off), 0);
	assert_int_equal(h.count, 1);
	assert_string_equal(junk + off, "junk line\nB: 2\n\nbody");
	msg_reader_init(&r, junk, strlen(junk));
	assert_int_equal(msg_next(&r, &f), 1);
	assert_true(msg_field_is(&f, "A"));
	assert_int_equal(msg_next(&r, &f), 1);
	assert_true(msg_field_is(&f, "B"));
	assert_int_equal(r.malformed, 1);
	mime_headers_free(&h);
}

/* DSN field groups end at a line of white space only too (RFC 3464 2.1). */
static void test_dsn_whitespace_separator(void **state)
{
	const char body[] = "Reporting-MTA: dns; mail.example.com\n"
	                    "  \n"
	                    "Final-Recipient: rfc822; bob@example.net\n"
	                    "Action: failed\n"
	                    "Status: 5.1.1\n";
	struct dsn_report *d = calloc(1, sizeof *d);
	assert_non_null(d);
	assert_int_equal(dsn_parse(body, strlen(body), d), 0);
	assert_string_equal(d->reporting_mta, "mail.example.com");
	assert_int_equal(d->nrcpt, 1);
	assert_string_equal(d->rcpt[0].status, "5.1.1");
	free(d);
}

static void test_ctype(void **state)
{
	struct mime_ctype ct;
	mime_ctype_parse("Multipart/Report; report-type=\"delivery-status\"; "
	                 "boundary=\"a \\\"quoted\\\" b=c;d\"",
	                 &ct);
	assert_string_equal(ct.type, "multipart");
	assert_string_equal(ct.subtype, "report");
	assert_string_equal(ct.report_type, "delivery-status");
	assert_string_equal(ct.boundary, "a \"quoted\" b=c;d");
	assert_true(mime_ctype_is(&ct, "multipart", "report"));
	assert_true(mime_ctype_is(&ct, "multipart", NULL));
	mime_ctype_parse("text/plain;charset=ISO-8859-1;format=flowed", &ct);
	assert_string_equal(ct.charset, "iso-8859-1");
	assert_string_equal(ct.boundary, "");
	mime_ctype_parse("garbage", &ct);
	assert_string_equal(ct.type, "text");
	assert_string_equal(ct.subtype, "plain");
	mime_ctype_parse(NULL, &ct);
	assert_string_equal(ct.type, "text");
	mime_ctype_parse("message/delivery-status", &ct);
	assert_true(mime_ctype_is(&ct, "message", "delivery-status"));
	mime_ctype_parse("multipart/mixed; boundary=\"unterminated", &ct);
	assert_string_equal(ct.boundary, "unterminated");
}

static void test_qp(void **state)
{
	struct buf b;
	buf_init(&b, 1024);
	const char in[] = "caf=C3=A9 soft=\r\nbreak=\nand =3D equals, bare = and =ZZ end=";
	assert_int_equal(mime_qp_decode(in, strlen(in), &b), 0);
	assert_string_equal(buf_cstr(&b), "caf\xc3\xa9 softbreakand = equals, bare = and =ZZ end");
	buf_free(&b);
	buf_init(&b, 4);
	assert_int_equal(mime_qp_decode("abcdef", 6, &b), -1);
	assert_string_equal(buf_cstr(&b), "abcd");
	buf_free(&b);
}

static void test_base64(void **state)
{
	struct buf b;
	buf_init(&b, 1024);
	const char in[] = "SGVsbG8s\r\nIHdv cmxk!!IQ==trailing";
	assert_int_equal(mime_base64_decode(in, strlen(in), &b), 0);
	assert_string_equal(buf_cstr(&b), "Hello, world!");
	buf_reset(&b);
	assert_int_equal(mime_base64_decode("YQ", 2, &b), 0);
	assert_string_equal(buf_cstr(&b), "a");
	buf_free(&b);
	buf_init(&b, 2);
	assert_int_equal(mime_base64_decode("YWJj", 4, &b), -1);
	assert_int_equal(b.len, 2);
	buf_free(&b);
}

struct walk_log {
	char types[8][160];
	char bodies[8][64];
	int depth[8];
	int n;
};

static int walk_cb(void *ctx, const struct mime_part *p)
{
	struct walk_log *l = ctx;
	if (l->n >= 8)
		return 1;
	snprintf(l->types[l->n], sizeof l->types[0], "%s/%s", p->ctype->type, p->ctype->subtype);
	snprintf(l->bodies[l->n], sizeof l->bodies[0], "%.*s", (int)p->len, p->body);
	l->depth[l->n] = p->depth;
	l->n++;
	return 0;
}

static void test_walk_nested(void **state)
{
	const char msg[] =
	    "Content-Type: multipart/report; report-type=delivery-status; boundary=outer\n"
	    "\n"
	    "preamble\n"
	    "--outer\n"
	    "Content-Type: multipart/alternative; boundary=\"outer-inner\"\n"
	    "\n"
	    "--outer-inner\n"
	    "Content-Type: text/plain\n"
	    "Content-Transfer-Encoding: quoted-printable\n"
	    "\n"
	    "hi=20there\n"
	    "--outer-inner\n"
	    "Content-Type: text/html\n"
	    "\n"
	    "<p>hi</p>\n"
	    "--outer-inner--\n"
	    "\n"
	    "--outer\n"
	    "Content-Type: message/delivery-status\n"
	    "Content-Transfer-Encoding: base64\n"
	    "\n"
	    "QWN0aW9uOiBmYWlsZWQ=\n"
	    "--outer\n"
	    "Content-Type: message/rfc822\n"
	    "\n"
	    "Content-Type: multipart/mixed; boundary=x\n"
	    "\n"
	    "--x\n"
	    "not descended\n"
	    "--outer--\n"
	    "epilogue\n";
	struct walk_log l;
	memset(&l, 0, sizeof l);
	assert_int_equal(mime_walk(msg, strlen(msg), walk_cb, &l), 0);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.types[0], "text/plain");
	assert_string_equal(l.bodies[0], "hi there");
	assert_int_equal(l.depth[0], 2);
	assert_string_equal(l.types[1], "text/html");
	assert_string_equal(l.bodies[1], "<p>hi</p>");
	assert_string_equal(l.types[2], "message/delivery-status");
	assert_string_equal(l.bodies[2], "Action: failed");
	assert_int_equal(l.depth[2], 1);
	assert_string_equal(l.types[3], "message/rfc822");
	assert_true(strncmp(l.bodies[3], "Content-Type: multipart/mixed", 29) == 0);
}

static void test_walk_hostile(void **state)
{
	/* Unterminated last part, and nesting deeper than MIME_MAX_DEPTH. */
	const char unterminated[] = "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nlast part";
	struct walk_log l;
	memset(&l, 0, sizeof l);
	assert_int_equal(mime_walk(unterminated, strlen(unterminated), walk_cb, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.bodies[0], "last part");

	char deep[4096];
	size_t n = 0;
	for (int i = 0; i < 20; i++)
		n += (size_t)snprintf(deep + n, sizeof deep - n,
		                      "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i,
		                      i);
	memset(&l, 0, sizeof l);
	assert_int_equal(mime_walk(deep, n, walk_cb, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.types[0], "multipart/mixed");
	assert_int_equal(l.depth[0], MIME_MAX_DEPTH);

	/* A callback's non-zero value stops the walk and comes back. */
	memset(&l, 0, sizeof l);
	l.n = 8;
	assert_int_equal(mime_walk("x", 1, walk_cb, &l), 1);
	assert_int_equal(mime_walk("", 0, walk_cb, &l), 1);
}

static void test_dsn_parse(void **state)
{
	const char body[] = "Reporting-MTA: dns; mail.example.com\r\n"
	                    "Arrival-Date: Mon, 23 Nov 2026 09:14:58 +0000\r\n"
	                    "\r\n"
	                    "Final-Recipient: rfc822; <bob@example.net>\r\n"
	                    "Original-Recipient: rfc822;bob@example.net\r\n"
	                    "Action: Failed\r\n"
	                    "Status: 5.7.1 (delivery not authorized)\r\n"
	                    "Remote-MTA: dns; mx.example.net\r\n"
	                    "Diagnostic-Code: smtp; 554 5.7.1 Service unavailable; Client host\r\n"
	                    "    [203.0.113.5] blocked using zen.spamhaus.org\r\n"
	                    "\r\n"
	                    "\r\n"
	                    "Final-Recipient: rfc822;carol@example.net\r\n"
	                    "Action: delayed\r\n"
	                    "Status: 4.4.1\r\n";
	struct dsn_report *d = calloc(1, sizeof *d);
	assert_int_equal(dsn_parse(body, strlen(body), d), 0);
	assert_string_equal(d->reporting_mta, "mail.example.com");
	assert_string_equal(d->arrival_date, "Mon, 23 Nov 2026 09:14:58 +0000");
	assert_int_equal(d->nrcpt, 2);
	assert_string_equal(d->rcpt[0].final_recipient, "bob@example.net");
	assert_string_equal(d->rcpt[0].original_recipient, "bob@example.net");
	assert_string_equal(d->rcpt[0].action, "failed");
	assert_string_equal(d->rcpt[0].status, "5.7.1");
	assert_string_equal(d->rcpt[0].remote_mta, "mx.example.net");
	assert_string_equal(
	    d->rcpt[0].diagnostic,
	    "554 5.7.1 Service unavailable; Client host [203.0.113.5] blocked using "
	    "zen.spamhaus.org");
	assert_string_equal(d->rcpt[1].final_recipient, "carol@example.net");
	assert_string_equal(d->rcpt[1].action, "delayed");
	assert_string_equal(d->rcpt[1].status, "4.4.1");
	assert_string_equal(d->rcpt[1].remote_mta, "");
	/* Not a DSN. */
	assert_int_equal(dsn_parse("hello\nworld\n", 12, d), -1);
	assert_int_equal(dsn_parse("", 0, d), -1);
	assert_int_equal(dsn_parse("Reporting-MTA: dns; x\n", 22, d), -1);
	free(d);
}

static void test_dsn_many_recipients(void **state)
{
	char body[8192];
	size_t n = 0;
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(body + n, sizeof body - n,
		                      "Final-Recipient: rfc822; u%d@example.net\nAction: failed\n"
		                      "Status: 5.1.1\n\n",
		                      i);
	struct dsn_report *d = calloc(1, sizeof *d);
	assert_int_equal(dsn_parse(body, n, d), 0);
	assert_int_equal(d->nrcpt, DSN_MAX_RCPT);
	assert_string_equal(d->rcpt[15].final_recipient, "u15@example.net");
	free(d);
}

static void test_dsn_strip_type(void **state)
{
	char out[64];
	dsn_strip_type("rfc822; <a@b.example>", out, sizeof out);
	assert_string_equal(out, "a@b.example");
	dsn_strip_type("smtp;550 no; really", out, sizeof out);
	assert_string_equal(out, "550 no; really");
	dsn_strip_type("550 5.1.1 user unknown; no such user", out, sizeof out);
	assert_string_equal(out, "550 5.1.1 user unknown; no such user");
	dsn_strip_type("", out, sizeof out);
	assert_string_equal(out, "");
	dsn_strip_type("dns; a-very-long-host-name.example.net", out, 8);
	assert_string_equal(out, "a-very-");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_headers_unfold),
	    cmocka_unit_test(test_headers_no_blank_line),
	    cmocka_unit_test(test_headers_caps),
	    cmocka_unit_test(test_headers_one_reader),
	    cmocka_unit_test(test_dsn_whitespace_separator),
	    cmocka_unit_test(test_ctype),
	    cmocka_unit_test(test_qp),
	    cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_walk_nested),
	    cmocka_unit_test(test_walk_hostile),
	    cmocka_unit_test(test_dsn_parse),
	    cmocka_unit_test(test_dsn_many_recipients),
	    cmocka_unit_test(test_dsn_strip_type),
	};
	return cmocka_run_group_tests_name("mime", tests, NULL, NULL);
}
