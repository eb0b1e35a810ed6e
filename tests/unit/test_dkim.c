/*
 * Unit tests for src/smtp/dkim.c: relaxed canonicalisation against RFC 6376
 * §3.4.5's example, streaming in any split, the signed header list, the From
 * domain, keys. Signatures are checked by independent verifiers (OpenDKIM,
 * dkimpy) in tests/integration/test_dkim.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/str.h"
#include "smtp/dkim.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void append_emit(void *arg, const char *p, size_t n)
{
	assert_int_equal(buf_append(arg, p, n), 0);
}

/* The relaxed body of s fed in pieces of step bytes. */
static void body_canon(const char *s, size_t step, struct buf *out)
{
	struct dkim_body b;
	buf_reset(out);
	dkim_body_init(&b, append_emit, out);
	size_t n = strlen(s);
	for (size_t i = 0; i < n; i += step)
		dkim_body_update(&b, s + i, n - i < step ? n - i : step);
	dkim_body_finish(&b);
	assert_int_equal(buf_append_char(out, '\0'), 0);
	out->len--;
}

/* RFC 6376 §3.4.5: the example's body, relaxed. */
static void test_body_rfc_example(void **state)
{
	struct buf out;
	buf_init(&out, 4096);
	const char *body = " C \r\nD \t E\r\n\r\n\r\n";
	for (size_t step = 1; step <= strlen(body); step++) {
		body_canon(body, step, &out);
		assert_string_equal(out.data, " C\r\nD E\r\n");
	}
	buf_free(&out);
}

static void test_body_edges(void **state)
{
	struct buf out;
	buf_init(&out, 1 << 20);
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"", ""},                                 /* empty body: nothing */
	    {"\r\n", ""},                             /* only empty lines: nothing */
	    {"\r\n\r\n\r\n", ""},                     /* */
	    {" \t \r\n\t\r\n", ""},                   /* white space only lines are empty */
	    {"a", "a\r\n"},                           /* a missing last CRLF is added */
	    {"a  b\t\tc  \r\n", "a b c\r\n"},         /* runs to one space, none at the end */
	    {"a\r\n\r\nb\r\n\r\n", "a\r\n\r\nb\r\n"}, /* inner empty lines stay */
	    {"\r\n\r\na\r\n", "\r\n\r\na\r\n"},       /* leading empty lines stay */
	    {"caf\xc3\xa9 \xff\r\n", "caf\xc3\xa9 \xff\r\n"}, /* 8-bit passes */
	    {"x\ry\r\n", "x\ry\r\n"},                         /* a bare CR is content */
	    {"x\r", "x\r\r\n"},                               /* ... also at the end */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		for (size_t step = 1; step <= strlen(cases[i].in) + 1; step++) {
			body_canon(cases[i].in, step, &out);
			assert_int_equal(out.len, strlen(cases[i].want));
			assert_memory_equal(out.data, cases[i].want, out.len);
		}
	/* many trailing empty lines, long content: the output buffer wraps */
	struct buf big;
	buf_init(&big, 1 << 20);
	for (int i = 0; i < 3000; i++)
		assert_int_equal(buf_append_str(&big, "0123456789 \t \r\n"), 0);
	for (int i = 0; i < 3000; i++)
		assert_int_equal(buf_append_str(&big, "\r\n"), 0);
	assert_int_equal(buf_append_char(&big, '\0'), 0);
	body_canon(big.data, 4093, &out);
	assert_int_equal(out.len, 3000 * 12);
	assert_memory_equal(out.data + out.len - 12, "0123456789\r\n", 12);
	buf_free(&big);
	buf_free(&out);
}

static void canon_header(const char *field, struct buf *out)
{
	const char *colon = strchr(field, ':');
	assert_non_null(colon);
	assert_int_equal(
	    dkim_canon_header(field, (size_t)(colon - field), colon + 1, strlen(colon + 1), out),
	    0);
}

/* RFC 6376 §3.4.5: the example's header fields, relaxed. */
static void test_header_rfc_example(void **state)
{
	struct buf out;
	buf_init(&out, 4096);
	canon_header("A: X\r\n", &out);
	canon_header("B : Y\t\r\n\tZ  \r\n", &out);
	assert_int_equal(out.len, strlen("a:X\r\nb:Y Z\r\n"));
	assert_memory_equal(out.data, "a:X\r\nb:Y Z\r\n", out.len);
	buf_reset(&out);
	canon_header("SUBJECT:\t  Hello,\r\n   \t world \t\r\n", &out);
	canon_header("X-Empty:", &out);
	canon_header("X-8bit: caf\xc3\xa9   ok", &out);
	const char *want = "subject:Hello, world\r\nx-empty:\r\nx-8bit:caf\xc3\xa9 ok\r\n";
	assert_int_equal(out.len, strlen(want));
	assert_memory_equal(out.data, want, out.len);
	buf_free(&out);
}

static char *tmpdir(void)
{
	static char d[64];
	assert_int_equal(str_copy(d, sizeof d, "/tmp/rg-dkim-XXXXXX"), 0);
	assert_non_null(mkdtemp(d));
	return d;
}

static struct dkim_key *make_key(const char *dir, enum dkim_alg alg, const char *domain)
{
	char path[256], err[256];
	struct buf txt;
	buf_init(&txt, 4096);
	assert_int_equal(str_format(path, sizeof path, "%s/%s.%d.pem", dir, domain, (int)alg), 0);
	assert_int_equal(dkim_keygen(alg, 1024, path, &txt, err, sizeof err), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* never over an existing file */
	assert_int_equal(dkim_keygen(alg, 1024, path, &txt, err, sizeof err), -1);
	assert_non_null(strstr(buf_cstr(&txt), alg == DKIM_ALG_RSA_SHA256
	                                           ? "v=DKIM1; k=rsa; p=MI"
	                                           : "v=DKIM1; k=ed25519; p="));
	struct dkim_key *k;
	assert_int_equal(dkim_key_load(&k, domain, "sel", path, err, sizeof err), 0);
	assert_int_equal(dkim_key_alg(k), alg);
	struct buf again;
	buf_init(&again, 4096);
	assert_int_equal(dkim_key_txt(k, &again), 0);
	assert_string_equal(buf_cstr(&again), buf_cstr(&txt));
	if (alg == DKIM_ALG_ED25519_SHA256) /* 32 bytes: 44 base64 characters */
		assert_int_equal(strlen(strstr(buf_cstr(&txt), "p=") + 2), 44);
	buf_free(&again);
	buf_free(&txt);
	(void)unlink(path);
	return k;
}

static void test_keys(void **state)
{
	char *d = tmpdir();
	char err[256], path[256];
	struct dkim_key *k = make_key(d, DKIM_ALG_RSA_SHA256, "Example.COM");
	assert_string_equal(dkim_key_domain(k), "example.com");
	struct dkim_keyring ring = {0};
	assert_int_equal(dkim_keyring_add(&ring, k), 0);
	assert_int_equal(dkim_keyring_add(&ring, make_key(d, DKIM_ALG_ED25519_SHA256, "ed.test")),
	                 0);
	assert_ptr_equal(dkim_keyring_find(&ring, "EXAMPLE.com", 11), k);
	assert_non_null(dkim_keyring_find(&ring, "ed.test", 7));
	assert_null(dkim_keyring_find(&ring, "example.co", 10));
	assert_null(dkim_keyring_find(&ring, "sub.example.com", 15));
	dkim_keyring_free(&ring);
	/* not a key, a missing file, bad names */
	assert_int_equal(str_format(path, sizeof path, "%s/junk.pem", d), 0);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("-----BEGIN PRIVATE KEY-----\nnonsense\n-----END PRIVATE KEY-----\n", f);
	fclose(f);
	struct dkim_key *bad;
	assert_int_equal(dkim_key_load(&bad, "x.test", "s", path, err, sizeof err), -1);
	assert_non_null(strstr(err, "not a PEM private key"));
	assert_int_equal(dkim_key_load(&bad, "x.test", "s", "/nonexistent/k.pem", err, sizeof err),
	                 -1);
	assert_int_equal(dkim_key_load(&bad, "x..test", "s", path, err, sizeof err), -1);
	assert_int_equal(dkim_key_load(&bad, "x.test", "s;x", path, err, sizeof err), -1);
	(void)unlink(path);
	(void)rmdir(d);
}

/* The value of tag t in the DKIM-Signature field sig, unfolded. */
static void tag(const char *sig, const char *t, char *out, size_t size)
{
	char want[16];
	assert_int_equal(str_format(want, sizeof want, " %s=", t), 0);
	const char *p = strstr(sig, want);
	if (!p) {
		assert_int_equal(str_format(want, sizeof want, "\t%s=", t), 0);
		p = strstr(sig, want);
	}
	assert_non_null(p);
	p += strlen(want);
	size_t n = 0;
	for (; *p && *p != ';' && n + 1 < size; p++)
		if (*p != '\r' && *p != '\n' && *p != '\t' && *p != ' ')
			out[n++] = *p;
	out[n] = '\0';
}

static void test_sign_fields(void **state)
{
	char *d = tmpdir();
	struct dkim_key *k = make_key(d, DKIM_ALG_ED25519_SHA256, "example.com");
	const char *msg = "Received: from x by y; Thu, 1 Jan 2026 00:00:00 +0000\r\n"
	                  "From: \"Joe (the) Sender\" <joe@Example.COM>\r\n"
	                  "To: a@x.test,\r\n\tb@y.test\r\n"
	                  "Cc: c@z.test\r\n"
	                  "Subject: hi\r\n"
	                  "X-Other: no\r\n"
	                  "Cc: d@z.test\r\n"
	                  "\r\n"
	                  "body  \r\n\r\n\r\n";
	struct dkim_signer *s = dkim_signer_new();
	assert_non_null(s);
	for (size_t i = 0; msg[i]; i++) /* byte by byte */
		assert_int_equal(dkim_signer_update(s, msg + i, 1), 0);
	char dom[256], err[256];
	dkim_signer_from_domain(s, dom, sizeof dom);
	assert_string_equal(dom, "example.com");
	struct buf sig;
	buf_init(&sig, DKIM_SIG_MAX);
	assert_int_equal(dkim_signer_finish(s, k, 1700000000, &sig, err, sizeof err), 0);
	dkim_signer_free(s);
	const char *f = buf_cstr(&sig);
	assert_true(strncmp(f, "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;", 57) ==
	            0);
	assert_true(sig.len > 2 && memcmp(f + sig.len - 2, "\r\n", 2) == 0);
	for (const char *p = f; (p = strchr(p, '\n')); p++) /* lines folded under 78 */
		assert_true(p[1] == '\0' || p[1] == '\t');
	char v[1024];
	tag(f, "d", v, sizeof v);
	assert_string_equal(v, "example.com");
	tag(f, "s", v, sizeof v);
	assert_string_equal(v, "sel");
	tag(f, "t", v, sizeof v);
	assert_string_equal(v, "1700000000");
	/* From, To, Subject oversigned; both Cc; no Received, no X-Other */
	tag(f, "h", v, sizeof v);
	assert_string_equal(v, "from:from:subject:subject:to:to:cc:cc");
	/* bh: SHA-256 of "body\r\n" */
	unsigned char h[32];
	unsigned hl;
	assert_int_equal(EVP_Digest("body\r\n", 6, h, &hl, EVP_sha256(), NULL), 1);
	unsigned char b64[64];
	EVP_EncodeBlock(b64, h, 32);
	tag(f, "bh", v, sizeof v);
	assert_string_equal(v, (char *)b64);
	tag(f, "b", v, sizeof v);
	assert_int_equal(strlen(v), 88); /* 64 bytes of Ed25519 signature */

	/* the same message in one piece gives the same field (same key, same t=) */
	struct buf one;
	buf_init(&one, DKIM_SIG_MAX);
	assert_int_equal(dkim_sign_message(k, msg, strlen(msg), 1700000000, &one, err, sizeof err),
	                 0);
	assert_string_equal(buf_cstr(&one), f);
	buf_free(&one);
	buf_free(&sig);
	dkim_key_free(k);
	(void)rmdir(d);
}

static void test_from_domain(void **state)
{
	static const struct {
		const char *hdr, *want;
	} cases[] = {
	    {"From: joe@Example.org\r\n\r\n", "example.org"},
	    {"From: Joe <joe@a.example>\r\n\r\n", "a.example"},
	    {"From: \"x@evil.test\" <joe@good.test>\r\n\r\n", "good.test"},
	    {"From: joe@good.test (not@evil.test)\r\n\r\n", "good.test"},
	    {"From: =?utf-8?q?J=C3=B6?=\r\n <jo@fold.test>\r\n\r\n", "fold.test"},
	    {"From: a@x.test, b@y.test\r\n\r\n", ""},         /* two authors */
	    {"From: a@x.test\r\nFrom: b@x.test\r\n\r\n", ""}, /* two From fields */
	    {"To: a@x.test\r\n\r\n", ""},                     /* none */
	    {"From: nobody\r\n\r\n", ""},
	    /* not fields: a continuation with nothing before it, a line without
	     * a colon; "From :" is a From field; the blank line ends the section */
	    {" x@cont.test\r\nno colon x@bad.test\r\nFrom : a@ws.test\r\n\r\nFrom: b@body.test\r\n",
	     "ws.test"},
	    {"From: a@x.test\r\n\tfolded@y.test\r\n\r\n", ""}, /* two addresses */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct dkim_signer *s = dkim_signer_new();
		assert_non_null(s);
		assert_int_equal(dkim_signer_update(s, cases[i].hdr, strlen(cases[i].hdr)), 0);
		char dom[256];
		dkim_signer_from_domain(s, dom, sizeof dom);
		assert_string_equal(dom, cases[i].want);
		dkim_signer_free(s);
	}
}

static void test_header_too_large(void **state)
{
	struct dkim_signer *s = dkim_signer_new();
	assert_non_null(s);
	char line[1024];
	memset(line, 'a', sizeof line);
	memcpy(line, "X-Long: ", 8);
	line[sizeof line - 2] = '\r';
	line[sizeof line - 1] = '\n';
	int rc = 0;
	for (int i = 0; i < 300 && rc == 0; i++)
		rc = dkim_signer_update(s, line, sizeof line);
	assert_int_equal(rc, -1);
	dkim_signer_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_body_rfc_example),   cmocka_unit_test(test_body_edges),
	    cmocka_unit_test(test_header_rfc_example), cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_sign_fields),        cmocka_unit_test(test_from_domain),
	    cmocka_unit_test(test_header_too_large),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
