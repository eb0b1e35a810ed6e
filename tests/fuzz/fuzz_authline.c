/*
 * fuzz_authline - libFuzzer target for the live log follow's line reader
 * (forensics/authline): any bytes, split at newlines, one reader for all of
 * them (so the Dovecot passdb discount carries over). A failure stands for
 * 1..10 attempts, the account is a lowercase C string within its bound.
 */
#include "forensics/authline.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct authline a;
	char *p = malloc(size ? size : 1);
	if (!p)
		return 0;
	if (size)
		memcpy(p, data, size);
	authline_init(&a);
	size_t at = 0;
	while (at <= size) {
		const char *nl = memchr(p + at, '\n', size - at);
		size_t n = nl ? (size_t)(nl - (p + at)) : size - at;
		/* the line alone in a buffer of its own: a read past it is caught */
		char *line = malloc(n ? n : 1);
		if (!line)
			break;
		memcpy(line, p + at, n);
		struct authline_rec r;
		enum authline_kind k = authline_read(&a, line, n, &r);
		if (k != r.kind || (k == AUTHLINE_FAIL && (r.count < 1 || r.count > 10)))
			abort();
		if (memchr(r.user, '\0', sizeof r.user) == NULL)
			abort();
		for (const char *u = r.user; *u; u++)
			if (*u >= 'A' && *u <= 'Z')
				abort();
		if (k != AUTHLINE_NONE && !r.source)
			abort();
		free(line);
		at += n + 1;
	}
	authline_free(&a);
	free(p);
	return 0;
}
