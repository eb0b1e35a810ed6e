/*
 * fuzz_smtp_reply - libFuzzer target for relaytest's SMTP reply reader
 * (relaytest_reply_parse) and the host name it takes from a greeting.
 *
 * Replies are parsed one after another from the input, as the client does
 * from its receive buffer. Checks: progress is always made on a complete
 * reply, codes are 200..599, the kept text is NUL-terminated.
 */
#include "smtp/relaytest.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	size_t pos = 0;
	while (pos < size) {
		struct relaytest_reply r;
		size_t used = 0;
		int rc = relaytest_reply_parse(buf + pos, size - pos, &r, &used);
		if (rc != 1)
			break;
		if (used == 0 || used > size - pos || r.code < 200 || r.code > 599 ||
		    r.lines == 0 || r.lines > RELAYTEST_LINES_MAX ||
		    strnlen(r.text, sizeof r.text) >= sizeof r.text)
			abort();
		char name[RELAYTEST_NAME_MAX];
		if (relaytest_reply_hostname(&r, name, sizeof name) == 0 &&
		    !relaytest_name_ok(name))
			abort();
		pos += used;
	}
	free(buf);
	return 0;
}
