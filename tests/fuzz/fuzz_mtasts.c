/*
 * fuzz_mtasts - libFuzzer target for the MTA-STS parsers (src/delivery/
 * mtasts.c): the same bytes as a _mta-sts TXT answer and as a policy file
 * from a hostile HTTPS server; a policy that parses has bounded, lower-case
 * mx patterns and every one of them matches itself.
 */
#include "delivery/mtasts.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	char id[MTASTS_ID_MAX], err[120];
	int rc = mtasts_parse_txt(p, size, id, err, sizeof err);
	if (rc == 1 && (strnlen(id, MTASTS_ID_MAX) == MTASTS_ID_MAX || !id[0]))
		__builtin_trap();
	static struct mtasts_policy pol;
	if (mtasts_parse_policy(p, size, &pol, err, sizeof err) == 0) {
		if (pol.nmx > MTASTS_MX_MAX || pol.max_age > MTASTS_MAX_AGE)
			__builtin_trap();
		for (unsigned i = 0; i < pol.nmx; i++) {
			size_t n = strnlen(pol.mx[i], MTASTS_NAME_MAX);
			if (n == 0 || n == MTASTS_NAME_MAX)
				__builtin_trap();
			for (size_t k = 0; k < n; k++)
				if (pol.mx[i][k] >= 'A' && pol.mx[i][k] <= 'Z')
					__builtin_trap();
			if (pol.mx[i][0] != '*' && !mtasts_mx_match(&pol, pol.mx[i]))
				__builtin_trap();
		}
	}
	return 0;
}
