/*
 * mtasts - MTA-STS (RFC 8461), the pure part: the _mta-sts TXT record, the
 * policy file, whether an MX host matches the policy, and the cache record
 * the gateway keeps in its state directory. No I/O here (the fetch is
 * gateway/sts.c); every parser takes (pointer, length) and is strict: a
 * policy that is not exactly right is no policy (RFC 8461 §3.2, §5).
 */
#ifndef RG_DELIVERY_MTASTS_H
#define RG_DELIVERY_MTASTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MTASTS_ID_MAX 33        /* 1-32 alphanumerics */
#define MTASTS_MX_MAX 16        /* mx patterns kept */
#define MTASTS_NAME_MAX 256     /* an mx pattern */
#define MTASTS_POLICY_MAX 65536 /* bytes of a policy file (RFC 8461 §3.3 suggests 64 KiB) */
#define MTASTS_MAX_AGE 31557600 /* one year, the RFC's limit */

enum mtasts_mode { MTASTS_NONE = 0, MTASTS_TESTING, MTASTS_ENFORCE };

struct mtasts_policy {
	enum mtasts_mode mode;
	uint32_t max_age; /* seconds */
	unsigned nmx;
	char mx[MTASTS_MX_MAX][MTASTS_NAME_MAX]; /* lower case, no trailing dot */
};

/* The TXT answer of _mta-sts.DOMAIN (records joined by " | ", net/dns.h):
 * 1 with the id when exactly one record starts with "v=STSv1" and is valid,
 * 0 when none does (the domain has no policy), -1 when it is invalid or
 * there are several (RFC 8461 §3.1: treated as no policy, err says why). */
int mtasts_parse_txt(const char *p, size_t len, char id[MTASTS_ID_MAX], char *err, size_t errlen);

/* The policy file. 0, or -1 with err saying why. */
int mtasts_parse_policy(const char *p, size_t len, struct mtasts_policy *out, char *err,
                        size_t errlen);

/* Whether host (an MX name, any case, trailing dot or not) matches one of the
 * policy's mx patterns: equal, or "*.example.com" for exactly one more label
 * on the left (RFC 8461 §4.1). */
bool mtasts_mx_match(const struct mtasts_policy *p, const char *host);

const char *mtasts_mode_name(enum mtasts_mode m);

#endif
