/*
 * kv - "key=value" lines, written and read; see kv.h.
 */
#include "core/kv.h"

#include "core/str.h"

#include <string.h>

static bool kv_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool kv_eol(char c)
{
	return c == '\n' || c == '\r';
}

enum kv_tok kv_next(const char **pp, const char *end, struct kv_pair *out)
{
	const char *p = *pp;
	memset(out, 0, sizeof *out);
	while (p < end && kv_blank(*p))
		p++;
	if (p >= end || kv_eol(*p))
		return KV_END;
	const char *k = p;
	while (p < end && *p != '=' && !kv_blank(*p) && !kv_eol(*p))
		p++;
	if (p >= end || *p != '=') {
		out->val = k;
		out->vlen = (size_t)(p - k);
		*pp = p;
		return KV_WORD;
	}
	if (p == k)
		return KV_BAD;
	out->key = k;
	out->klen = (size_t)(p - k);
	p++; /* '=' */
	if (p < end && *p == '"') {
		const char *v = ++p;
		for (;;) {
			if (p >= end || kv_eol(*p))
				return KV_BAD;
			if (*p == '"')
				break;
			if (*p == '\\') {
				out->escaped = true;
				if (++p >= end || kv_eol(*p))
					return KV_BAD;
			}
			p++;
		}
		out->val = v;
		out->vlen = (size_t)(p - v);
		out->quoted = true;
		p++; /* the closing quote */
		if (p < end && !kv_blank(*p) && !kv_eol(*p))
			return KV_BAD;
	} else {
		out->val = p;
		while (p < end && !kv_blank(*p) && !kv_eol(*p))
			p++;
		out->vlen = (size_t)(p - out->val);
	}
	*pp = p;
	return KV_PAIR;
}

bool kv_key_is(const struct kv_pair *pr, const char *key)
{
	size_t n = strlen(key);
	return pr->klen == n && memcmp(pr->key, key, n) == 0;
}

int kv_unquote(const struct kv_pair *pr, char *dst, size_t size)
{
	if (size == 0)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < pr->vlen; i++) {
		char c = pr->val[i];
		if (pr->escaped && c == '\\' && i + 1 < pr->vlen)
			c = pr->val[++i];
		if (o + 1 >= size) {
			dst[o] = '\0';
			return -1;
		}
		dst[o++] = c;
	}
	dst[o] = '\0';
	return 0;
}

void kv_line_init(struct kv_line *l, char *buf, size_t size)
{
	l->buf = buf;
	l->size = size;
	l->len = 0;
	l->cut = false;
	if (size)
		buf[0] = '\0';
}

/* Appends the whole of parts[0..n) or nothing, so a cut line ends on a
 * whole token. */
static void kv_append(struct kv_line *l, const char *const *parts, size_t n)
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += strlen(parts[i]);
	if (l->size == 0 || l->len + total >= l->size) {
		l->cut = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		size_t m = strlen(parts[i]);
		memcpy(l->buf + l->len, parts[i], m);
		l->len += m;
	}
	l->buf[l->len] = '\0';
}

void kv_word(struct kv_line *l, const char *word)
{
	const char *parts[] = {l->len ? " " : "", word};
	kv_append(l, parts, 2);
}

void kv_put(struct kv_line *l, const char *key, const char *value)
{
	char q[STR_LOG_VALUE_MAX];
	const char *sep = l->len ? " " : "";
	size_t head = strlen(sep) + strlen(key) + 1;
	str_log_value(q, sizeof q, value);
	/* A value that does not fit is cut, still quoted whole, so the line
	 * stays readable; when not even a short value fits, the pair is left
	 * out. Both set `cut`. */
	if (l->len + head + strlen(q) >= l->size && l->len + head + 3 < l->size) {
		str_log_value(q, l->size - l->len - head, value);
		l->cut = true;
	}
	const char *parts[] = {sep, key, "=", q};
	kv_append(l, parts, 4);
}
