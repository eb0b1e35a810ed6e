/*
 * fuzz_dkim - libFuzzer target for the DKIM signer: the header/body split as
 * the message streams in uneven pieces, relaxed canonicalisation of headers
 * and body, the From domain, the signed header list and the signature field.
 * Checks: streaming in pieces gives the same field as one piece; every
 * canonical header line is "lower-case-name:value" without CR, LF or runs of
 * white space; the field's lines are folded.
 */
#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"
#include "forensics/msg.h"
#include "smtp/dkim.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dkim_key *fuzz_key(void)
{
	static struct dkim_key *k;
	if (k)
		return k;
	char path[64], err[256];
	struct buf txt;
	buf_init(&txt, 4096);
	if (str_format(path, sizeof path, "/tmp/fuzz-dkim-%d.pem", (int)getpid()) != 0)
		panic("fuzz_key: path does not fit");
	(void)unlink(path);
	if (dkim_keygen(DKIM_ALG_ED25519_SHA256, 0, path, &txt, err, sizeof err) != 0 ||
	    dkim_key_load(&k, "fuzz.test", "sel", path, err, sizeof err) != 0)
		__builtin_trap();
	(void)unlink(path);
	buf_free(&txt);
	return k;
}

static void fuzz_sign(const char *p, size_t size, size_t step, struct buf *out)
{
	struct dkim_signer *s = dkim_signer_new();
	char err[256], dom[256];
	int rc = 0;
	for (size_t i = 0; i < size && rc == 0; i += step)
		rc = dkim_signer_update(s, p + i, size - i < step ? size - i : step);
	dkim_signer_from_domain(s, dom, sizeof dom);
	if (rc == 0 && dkim_signer_finish(s, fuzz_key(), 1, out, err, sizeof err) == 0) {
		const char *f = buf_cstr(out);
		for (const char *q = f; (q = strchr(q, '\n')); q++)
			if (q[-1] != '\r' || (q[1] != '\0' && q[1] != '\t'))
				__builtin_trap();
	}
	dkim_signer_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct msg_reader r;
	struct msg_field f;
	struct buf c;
	buf_init(&c, 2 * MSG_FIELD_MAX);
	msg_reader_init(&r, p, size);
	while (msg_next(&r, &f) == 1) {
		buf_reset(&c);
		if (dkim_canon_header(f.name, f.name_len, f.value, f.value_len, &c) != 0)
			continue;
		const char *colon = memchr(c.data, ':', c.len);
		if (!colon || c.len < 2 || memcmp(c.data + c.len - 2, "\r\n", 2) != 0)
			__builtin_trap();
		for (size_t i = 0; i + 2 < c.len; i++)
			if (c.data[i] == '\r' || c.data[i] == '\n' || c.data[i] == '\t' ||
			    (c.data[i] == ' ' && (c.data[i + 1] == ' ' || c.data[i + 1] == '\r')) ||
			    (c.data + i < colon && c.data[i] >= 'A' && c.data[i] <= 'Z'))
				__builtin_trap();
	}
	buf_free(&c);

	struct buf a, b;
	buf_init(&a, DKIM_SIG_MAX);
	buf_init(&b, DKIM_SIG_MAX);
	fuzz_sign(p, size, size ? size : 1, &a);
	fuzz_sign(p, size, 1 + (size % 7), &b);
	/* Ed25519 is deterministic: same bytes, same field */
	if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0))
		__builtin_trap();
	buf_free(&a);
	buf_free(&b);
	return 0;
}
