/*
 * Fuzz target: the Postfix policy protocol parser, fed in chunks whose sizes
 * come from the first byte, then each parsed request answered.
 */
#include "smtp/pfpolicy.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t step = (size_t)(data[0] % 37) + 1;
	const char *p = (const char *)data + 1;
	size_t len = size - 1, off = 0;
	static struct pfp_parser parser;
	pfp_parser_init(&parser);
	struct buf out;
	buf_init(&out, 1 << 16);
	while (off < len) {
		size_t n = len - off < step ? len - off : step;
		size_t used;
		enum pfp_status st = pfp_parser_feed(&parser, p + off, n, &used);
		if (used > n)
			__builtin_trap();
		off += used;
		if (st == PFP_ERROR)
			break;
		if (st == PFP_REQUEST) {
			if (pfp_format_reply(&out, PFP_REJECT, parser.req.sasl_username) != 0)
				buf_reset(&out);
			pfp_parser_init(&parser);
		} else if (used == 0) {
			__builtin_trap(); /* no progress */
		}
	}
	buf_free(&out);
	return 0;
}
