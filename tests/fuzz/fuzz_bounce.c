/*
 * fuzz_bounce - classification of arbitrary rejection text. The first line
 * of the input (up to 255 bytes) is used as the remote MTA name.
 */
#include "forensics/bounce.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char host[256] = "";
	const char *text = (const char *)data;
	const char *nl = memchr(data, '\n', size);
	if (nl && (size_t)(nl - text) < sizeof host) {
		memcpy(host, text, (size_t)(nl - text));
		host[nl - text] = '\0';
		size -= (size_t)(nl - text) + 1;
		text = nl + 1;
	}
	struct bounce_result r;
	char buf[64];
	memset(&r, 0, sizeof r);
	bounce_classify(text, size, host, &r);
	(void)bounce_find_ip(text, size, buf, sizeof buf);
	(void)bounce_find_status(text, size, buf, sizeof buf);
	return 0;
}
