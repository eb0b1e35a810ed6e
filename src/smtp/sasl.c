/*
 * smtp_sasl - strict base64 and the SASL PLAIN split; see sasl.h.
 */
#include "smtp/sasl.h"

#include "core/str.h"

#include <stdbool.h>
#include <string.h>

int smtp_sasl_base64_decode(const char *in, size_t len, char *out, size_t size, size_t *outlen)
{
	*outlen = 0;
	if (size == 0)
		return -1;
	out[0] = '\0';
	if (len == 1 && in[0] == '=')
		return 0; /* RFC 4954: "=" is an empty response */
	if (len % 4 != 0)
		return -1;
	size_t n = 0;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + k];
			if (c == '=') {
				/* Only at the end, only in the last two positions,
				 * and "x=y=" is not allowed. */
				if (i + 4 != len || k < 2)
					return -1;
				pad++;
				v[k] = 0;
			} else {
				if (pad > 0)
					return -1;
				v[k] = str_base64_value(c);
				if (v[k] < 0)
					return -1;
			}
		}
		unsigned long w = ((unsigned long)v[0] << 18) | ((unsigned long)v[1] << 12) |
		                  ((unsigned long)v[2] << 6) | (unsigned long)v[3];
		size_t bytes = (size_t)(3 - pad);
		/* Canonical: the bits below the last output byte are zero. */
		if ((pad == 1 && (w & 0xff) != 0) || (pad == 2 && (w & 0xffff) != 0))
			return -1;
		if (n + bytes >= size)
			return -1;
		out[n++] = (char)((w >> 16) & 0xff);
		if (bytes > 1)
			out[n++] = (char)((w >> 8) & 0xff);
		if (bytes > 2)
			out[n++] = (char)(w & 0xff);
	}
	out[n] = '\0';
	*outlen = n;
	return 0;
}

int smtp_sasl_plain_parse(const char *msg, size_t len, struct smtp_sasl_plain *out)
{
	memset(out, 0, sizeof *out);
	const char *field[3];
	size_t flen[3];
	size_t start = 0;
	int nf = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || msg[i] == '\0') {
			if (nf == 3)
				return -1; /* a third NUL */
			field[nf] = msg + start;
			flen[nf] = i - start;
			nf++;
			start = i + 1;
		}
	}
	if (nf != 3 || flen[1] == 0 || flen[2] == 0)
		return -1;
	char *dst[3] = {out->authzid, out->authcid, out->passwd};
	for (int k = 0; k < 3; k++) {
		if (flen[k] > SMTP_SASL_FIELD_MAX) {
			smtp_sasl_wipe(out, sizeof *out);
			return -1;
		}
		memcpy(dst[k], field[k], flen[k]);
		dst[k][flen[k]] = '\0';
	}
	return 0;
}

void smtp_sasl_wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;
	while (n--)
		*v++ = 0;
}
