/*
 * smtp_sasl - the server side of SASL PLAIN (RFC 4616) and LOGIN
 * (draft-murchison-sasl-login) as used by SMTP AUTH (RFC 4954): a strict
 * base64 decoder and the PLAIN message split. No I/O, no allocation.
 *
 * The decoder accepts only canonical RFC 4648 base64: the standard alphabet,
 * padding to a multiple of four, no whitespace, zero pad bits (Exim
 * CVE-2018-6789 was a base64 length bug: the output size is checked before
 * every write). "=" alone is the empty response of RFC 4954 §4.
 */
#ifndef RG_SMTP_SASL_H
#define RG_SMTP_SASL_H

#include <stddef.h>

#define SMTP_SASL_RESPONSE_MAX 12288 /* RFC 4954 §4, Postfix smtpd_sasl_response_limit */
#define SMTP_SASL_FIELD_MAX 512      /* authzid, authcid and password each */

struct smtp_sasl_plain {
	char authzid[SMTP_SASL_FIELD_MAX + 1];
	char authcid[SMTP_SASL_FIELD_MAX + 1];
	char passwd[SMTP_SASL_FIELD_MAX + 1];
};

/* Decodes in[0..len) into out (NUL-terminated, at most size-1 bytes).
 * 0 and *outlen, or -1 on bad base64 or when out is too small. */
int smtp_sasl_base64_decode(const char *in, size_t len, char *out, size_t size, size_t *outlen);

/* Splits "authzid NUL authcid NUL passwd": authcid and passwd non-empty,
 * no further NUL, each field within SMTP_SASL_FIELD_MAX. 0 or -1. */
int smtp_sasl_plain_parse(const char *msg, size_t len, struct smtp_sasl_plain *out);

/* Overwrites secrets so they do not linger on the stack. */
void smtp_sasl_wipe(void *p, size_t n);

#endif
