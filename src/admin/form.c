/*
 * form - urlencoded form bodies; see form.h.
 */
#include "admin/form.h"

#include "core/str.h"

#include <stdbool.h>
#include <string.h>

/* Decodes p[0..n) into out; -1 on a bad escape, a forbidden byte or no room. */
static int form_decode(const char *p, size_t n, char *out, size_t outsize)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			if (n - i < 3)
				return -1;
			int hi = str_hex_value(p[i + 1]), lo = str_hex_value(p[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		}
		if (c == 0 || (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f)
			return -1;
		if (o + 1 >= outsize)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

int form_get(const char *body, size_t len, const char *key, char *out, size_t outsize)
{
	size_t klen = strlen(key);
	size_t i = 0;
	if (outsize == 0)
		return -1;
	while (i < len) {
		size_t end = i;
		while (end < len && body[end] != '&')
			end++;
		const char *eq = memchr(body + i, '=', end - i);
		size_t nlen = eq ? (size_t)(eq - (body + i)) : end - i;
		if (nlen == klen && memcmp(body + i, key, klen) == 0) {
			const char *v = eq ? eq + 1 : body + end;
			return form_decode(v, (size_t)(body + end - v), out, outsize) == 0 ? 1 : -1;
		}
		i = end + 1;
	}
	return 0;
}

int form_encode(const char *s, char *out, size_t outsize)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		             (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
		if (o + (plain ? 1 : 3) >= outsize)
			return -1;
		if (plain) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (o >= outsize)
		return -1;
	out[o] = '\0';
	return 0;
}
