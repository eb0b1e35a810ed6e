/*
 * str - bounded string helpers and strict number parsing; see str.h.
 */
#include "core/str.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The copy itself; the public names differ only in what the caller must do
 * with the -1. */
static int str_copy_n_any(char *dst, size_t size, const char *src, size_t len)
{
	if (size == 0)
		return -1;
	size_t n = len < size - 1 ? len : size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return n == len ? 0 : -1;
}

static int str_append_any(char *dst, size_t size, const char *src)
{
	size_t have = strnlen(dst, size);
	if (have >= size)
		return -1;
	return str_copy_n_any(dst + have, size - have, src, strlen(src));
}

int str_copy_n(char *dst, size_t size, const char *src, size_t len)
{
	return str_copy_n_any(dst, size, src, len);
}

int str_copy(char *dst, size_t size, const char *src)
{
	return str_copy_n_any(dst, size, src, strlen(src));
}

int str_append(char *dst, size_t size, const char *src)
{
	return str_append_any(dst, size, src);
}

int str_format(char *dst, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(dst, size, fmt, ap);
	va_end(ap);
	return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

void str_copy_n_trunc(char *dst, size_t size, const char *src, size_t len)
{
	str_copy_n_any(dst, size, src, len);
}

void str_copy_trunc(char *dst, size_t size, const char *src)
{
	str_copy_n_any(dst, size, src, strlen(src));
}

void str_append_trunc(char *dst, size_t size, const char *src)
{
	str_append_any(dst, size, src);
}

void str_format_trunc(char *dst, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(dst, size, fmt, ap);
	va_end(ap);
}

int str_to_u64(const char *s, size_t len, uint64_t min, uint64_t max, uint64_t *out)
{
	if (len == 0 || len > 20)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int str_to_ll(const char *s, long long min, long long max, long long *out)
{
	bool neg = false;
	if (*s == '-') {
		neg = true;
		s++;
	} else if (*s == '+') {
		s++;
	}
	uint64_t u;
	if (str_to_u64(s, strlen(s), 0, (uint64_t)INT64_MAX + (neg ? 1 : 0), &u) != 0)
		return -1;
	long long v = neg ? (long long)(0 - u) : (long long)u;
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int str_to_duration_ms(const char *s, uint64_t default_unit_ms, uint64_t *out_ms)
{
	size_t len = strlen(s);
	size_t n = 0;
	while (n < len && s[n] >= '0' && s[n] <= '9')
		n++;
	uint64_t v;
	if (str_to_u64(s, n, 0, UINT64_MAX, &v) != 0)
		return -1;
	const char *u = s + n;
	uint64_t mul;
	if (*u == '\0')
		mul = default_unit_ms;
	else if (strcmp(u, "ms") == 0)
		mul = 1;
	else if (strcmp(u, "s") == 0)
		mul = 1000;
	else if (strcmp(u, "m") == 0)
		mul = 60000;
	else if (strcmp(u, "h") == 0)
		mul = 3600000;
	else if (strcmp(u, "d") == 0)
		mul = 86400000;
	else if (strcmp(u, "w") == 0)
		mul = 7 * 86400000ULL;
	else
		return -1;
	if (mul && v > UINT64_MAX / mul)
		return -1;
	*out_ms = v * mul;
	return 0;
}

int str_to_size(const char *s, uint64_t *out)
{
	size_t len = strlen(s);
	uint64_t mul = 1;
	if (len > 0) {
		switch (s[len - 1]) {
		case 'k':
		case 'K':
			mul = 1024;
			len--;
			break;
		case 'm':
		case 'M':
			mul = 1024 * 1024;
			len--;
			break;
		case 'g':
		case 'G':
			mul = 1024 * 1024 * 1024;
			len--;
			break;
		default:
			break;
		}
	}
	uint64_t v;
	if (str_to_u64(s, len, 0, UINT64_MAX / mul, &v) != 0)
		return -1;
	*out = v * mul;
	return 0;
}

int str_to_bool(const char *s, bool *out)
{
	if (str_ieq(s, "yes") || str_ieq(s, "true") || str_ieq(s, "on") || strcmp(s, "1") == 0) {
		*out = true;
		return 0;
	}
	if (str_ieq(s, "no") || str_ieq(s, "false") || str_ieq(s, "off") || strcmp(s, "0") == 0) {
		*out = false;
		return 0;
	}
	return -1;
}

bool str_ieq(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

bool str_ieq_n(const char *a, size_t alen, const char *b)
{
	return strlen(b) == alen && strncasecmp(a, b, alen) == 0;
}

bool str_iprefix(const char *s, size_t len, const char *prefix)
{
	size_t pl = strlen(prefix);
	return len >= pl && strncasecmp(s, prefix, pl) == 0;
}

bool str_line_next(const char *text, size_t len, size_t *pos, const char **line, size_t *llen)
{
	if (*pos >= len)
		return false;
	const char *s = text + *pos;
	const char *nl = memchr(s, '\n', len - *pos);
	size_t n = nl ? (size_t)(nl - s) : len - *pos;
	*pos += n + (nl ? 1 : 0);
	if (n > 0 && s[n - 1] == '\r')
		n--;
	*line = s;
	*llen = n;
	return true;
}

void str_lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

char *str_trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 &&
	       (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

int str_split(char *s, const char *seps, char **fields, int max)
{
	int n = 0;
	char *p = s;
	for (;;) {
		p += strspn(p, seps);
		if (*p == '\0')
			break;
		if (n == max)
			return -1;
		fields[n++] = p;
		p += strcspn(p, seps);
		if (*p == '\0')
			break;
		*p++ = '\0';
	}
	return n;
}

void str_sanitize(char *dst, size_t size, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	if (size == 0)
		return;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (o + 1 >= size)
				break;
			dst[o++] = (char)c;
		} else {
			if (o + 4 >= size)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	dst[o] = '\0';
}

const char *str_log_value(char *dst, size_t size, const char *src)
{
	char clean[STR_LOG_VALUE_IN];
	if (size == 0)
		return dst;
	str_sanitize(clean, sizeof clean, src ? src : "", src ? strlen(src) : 0);
	bool quote = clean[0] != '\0' && strpbrk(clean, " \"\\=") != NULL;
	if (!quote || size < 3) {
		str_copy_n_trunc(dst, size, clean, quote ? 0 : strlen(clean));
		return dst;
	}
	size_t o = 0;
	dst[o++] = '"';
	for (const char *c = clean; *c; c++) {
		size_t need = (*c == '"' || *c == '\\') ? 2 : 1;
		if (o + need + 2 > size) /* the closing quote and the NUL */
			break;
		if (need == 2)
			dst[o++] = '\\';
		dst[o++] = *c;
	}
	dst[o++] = '"';
	dst[o] = '\0';
	return dst;
}

int str_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int str_base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}
