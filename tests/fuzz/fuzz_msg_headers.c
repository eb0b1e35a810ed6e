/*
 * fuzz_msg_headers - libFuzzer target for the one RFC 5322 header reader (in
 * each of its modes: trace's, MIME's, DSN groups') and, through trace_run()
 * and mime_headers_parse(), everything that reads a whole message's header
 * section: every Received, Message-ID, X-Originating-IP and
 * Authentication-Results field and the walk. The modes must agree: MIME's
 * fields are the first of trace's, all of them when no line is skipped.
 */
#include "core/buf.h"
#include "forensics/mime.h"
#include "forensics/msg.h"
#include "forensics/trace.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct msg_reader r;
	struct msg_field f;
	struct buf v;
	int rc;

	buf_init(&v, MSG_FIELD_MAX);
	msg_reader_init(&r, p, size);
	while ((rc = msg_next(&r, &f)) == 1) {
		/* A field lies inside the input and its name has no colon. */
		if (f.name < p || f.value + f.value_len > p + size || f.name_len == 0 ||
		    memchr(f.name, ':', f.name_len) != NULL)
			__builtin_trap();
		if (msg_unfold(&f, &v) < 0)
			__builtin_trap(); /* a field always fits MSG_FIELD_MAX */
		if (v.len != strlen(buf_cstr(&v)))
			__builtin_trap(); /* unfolding removes every NUL */
	}
	if (rc == 0 && msg_body_offset(&r) > size)
		__builtin_trap();

	/* MIME's mode: its fields are trace's first ones, the same bytes. */
	struct msg_reader all, mime;
	struct msg_field fa, fm;
	int ra, rm;
	msg_reader_init(&all, p, size);
	msg_reader_init_opts(&mime, p, size, MSG_NONFIELD_ENDS);
	while ((rm = msg_next(&mime, &fm)) == 1) {
		if ((ra = msg_next(&all, &fa)) != 1 || fa.name != fm.name ||
		    fa.value_len != fm.value_len)
			__builtin_trap();
		if (msg_unfold_opts(&fm, MSG_UNFOLD_MIME, &v) < 0)
			__builtin_trap();
	}
	ra = msg_next(&all, &fa);
	if (rm == 0 && ra == 0 && all.malformed == 0 &&
	    msg_body_offset(&all) != msg_body_offset(&mime))
		__builtin_trap(); /* nothing skipped: the same section */
	if (rm == 0 && ra == 1 && !mime.nonfield_end)
		__builtin_trap(); /* trace reads on only past a line MIME stopped at */
	buf_free(&v);

	struct mime_headers h;
	size_t off;
	mime_headers_init(&h);
	if (mime_headers_parse(p, size, &h, &off) == 0 && off > size)
		__builtin_trap();
	mime_headers_free(&h);

	static struct trace t; /* large: kept out of the stack */
	(void)trace_run(p, size, NULL, &t);
	if (t.origin >= (int)t.nhops)
		__builtin_trap();
	return 0;
}
