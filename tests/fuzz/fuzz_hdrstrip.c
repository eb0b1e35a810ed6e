/*
 * fuzz_hdrstrip - libFuzzer target for the streaming header-field remover:
 * the first byte picks the chunk size, the rest is the message. The output
 * never grows, is the same at every chunking, and never holds a line of the
 * header section that starts with the removed name and a colon.
 */
#include "core/buf.h"
#include "smtp/hdrstrip.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_emit(void *arg, const char *p, size_t n)
{
	return buf_append(arg, p, n) < 0 ? -1 : 0;
}

static void fuzz_run(const char *p, size_t n, size_t step, struct buf *out)
{
	struct hdrstrip s;
	if (hdrstrip_init(&s, "X-Auth") != 0)
		__builtin_trap();
	for (size_t i = 0; i < n; i += step)
		if (hdrstrip_feed(&s, p + i, n - i < step ? n - i : step, fuzz_emit, out) != 0)
			__builtin_trap();
	if (hdrstrip_finish(&s, fuzz_emit, out) != 0)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 65536)
		return 0;
	size_t step = (size_t)data[0] % 16 + 1;
	const char *p = (const char *)data + 1;
	size_t n = size - 1;
	struct buf a, b;
	buf_init(&a, 1 << 17);
	buf_init(&b, 1 << 17);
	fuzz_run(p, n, step, &a);
	fuzz_run(p, n, n ? n : 1, &b);
	if (a.len > n || a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0))
		__builtin_trap();
	/* in the output's header section no line is the removed field */
	size_t i = 0;
	while (i < a.len) {
		const char *line = (const char *)a.data + i;
		const char *nl = memchr(line, '\n', a.len - i);
		size_t len = nl ? (size_t)(nl - line) + 1 : a.len - i;
		if (line[0] == '\r' || line[0] == '\n')
			break;
		if (len >= 7 && strncasecmp(line, "X-Auth:", 7) == 0)
			__builtin_trap();
		i += len;
	}
	buf_free(&a);
	buf_free(&b);
	return 0;
}
