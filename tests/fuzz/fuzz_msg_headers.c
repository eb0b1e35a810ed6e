/*
 * fuzz_msg_headers - libFuzzer target for the RFC 5322 header reader and,
 * through trace_run(), everything that reads a whole message: every Received,
 * Message-ID, X-Originating-IP and Authentication-Results field and the walk.
 */
#include "core/buf.h"
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
	buf_free(&v);

	static struct trace t; /* large: kept out of the stack */
	(void)trace_run(p, size, NULL, &t);
	if (t.origin >= (int)t.nhops)
		__builtin_trap();
	return 0;
}
