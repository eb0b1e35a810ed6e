/*
 * fuzz_received_roundtrip - the Received header the gateway writes
 * (smtp_received_format) read back by trace (trace_run, received_parse).
 *
 * The input is a flags byte, then HELO, reverse DNS, recipient, account and
 * host name separated by NUL bytes. Whatever a client sends as HELO or
 * recipient (and whatever DNS says), the header must read back as
 * unauthenticated when no account is given, with our protocol and queue id;
 * with an account it must read back as authenticated. A trap otherwise:
 * that would be trace naming an account the client chose (issue 16).
 */
#include "core/buf.h"
#include "forensics/received.h"
#include "forensics/trace.h"
#include "smtp/session.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FIELDS 5

static void fuzz_check(const char *hdr, size_t len, bool auth, const char *proto)
{
	const char *v = memchr(hdr, ':', len);
	if (!v)
		__builtin_trap();
	v++;
	size_t vl = len - (size_t)(v - hdr);
	struct received r;
	if (received_parse(v, vl, &r) != 0)
		__builtin_trap();
	if (r.authenticated != auth || (!auth && r.auth_user[0]))
		__builtin_trap();
	if (strcmp(r.with, proto) != 0 || strcmp(r.id, "0123456789ABCDEF") != 0)
		__builtin_trap();
	/* only printable ASCII and the folding */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)hdr[i];
		if ((c < 32 && c != '\r' && c != '\n' && c != '\t') || c >= 127)
			__builtin_trap();
	}
	/* trace over a message with that header on top, the client untrusted */
	struct buf msg;
	buf_init(&msg, 1 << 16);
	if (buf_append(&msg, hdr, len) != 0 ||
	    buf_append_str(&msg, "Subject: x\r\n\r\nbody\r\n") != 0) {
		buf_free(&msg);
		return;
	}
	struct trace *t = calloc(1, sizeof *t);
	if (t && trace_run(msg.data, msg.len, NULL, t) == 0 && t->nhops == 1) {
		if (t->hops[0].r.authenticated != auth)
			__builtin_trap();
	}
	free(t);
	buf_free(&msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	const char *p = (const char *)data + 1;
	size_t left = size - 1;
	char f[FIELDS][512];
	for (int i = 0; i < FIELDS; i++) {
		const char *nul = memchr(p, '\0', left);
		size_t n = nul ? (size_t)(nul - p) : left;
		size_t k = n < sizeof f[i] - 1 ? n : sizeof f[i] - 1;
		memcpy(f[i], p, k);
		f[i][k] = '\0';
		p += nul ? n + 1 : n;
		left -= nul ? n + 1 : n;
	}
	static const char *const protos[] = {"SMTP", "ESMTP", "ESMTPS", "UTF8SMTP"};
	static const char *const aprotos[] = {"ESMTPA", "ESMTPSA", "UTF8SMTPA", "UTF8SMTPSA"};
	struct smtp_received_info in = {
	    .helo = f[0],
	    .rdns = f[1],
	    .ip = (flags & 1) ? "2001:db8::1" : "203.0.113.9",
	    .ipv6 = (flags & 1) != 0,
	    .auth_user = NULL,
	    .hostname = f[4][0] ? f[4] : "mx.example",
	    .protocol = protos[(flags >> 1) & 3],
	    .queue_id = "0123456789ABCDEF",
	    .rcpt = (flags & 8) ? NULL : f[2],
	    .date = "Mon, 23 Nov 2026 09:50:00 +0000",
	};
	struct buf out;
	buf_init(&out, 1 << 14);
	if (smtp_received_format(&in, &out) == 0)
		fuzz_check(out.data, out.len, false, in.protocol);
	if (f[3][0]) {
		buf_reset(&out);
		in.auth_user = f[3];
		in.protocol = aprotos[(flags >> 1) & 3];
		if (smtp_received_format(&in, &out) == 0)
			fuzz_check(out.data, out.len, true, in.protocol);
	}
	buf_free(&out);
	return 0;
}
