/*
 * dlog - delivery log lines; see dlog.h.
 */
#include "delivery/dlog.h"

#include "core/str.h"

#include <stdio.h>
#include <string.h>

static void dlog_raw(struct dlog *l, const char *s, size_t n)
{
	if (l->len + n >= sizeof l->line) {
		l->cut = true;
		n = sizeof l->line - 1 - l->len;
	}
	memcpy(l->line + l->len, s, n);
	l->len += n;
	l->line[l->len] = '\0';
}

void dlog_begin(struct dlog *l, const char *id, const char *event)
{
	l->len = 0;
	l->cut = false;
	l->line[0] = '\0';
	dlog_raw(l, "delivery", 8);
	dlog_str(l, "id", id);
	dlog_str(l, "event", event);
}

void dlog_str(struct dlog *l, const char *key, const char *value)
{
	char q[STR_LOG_VALUE_MAX];
	str_log_value(q, sizeof q, value);
	dlog_raw(l, " ", 1);
	dlog_raw(l, key, strlen(key));
	dlog_raw(l, "=", 1);
	dlog_raw(l, q, strlen(q));
}

void dlog_addr(struct dlog *l, const char *key, const char *addr)
{
	char tmp[DLOG_VALUE_MAX];
	if (str_format(tmp, sizeof tmp, "<%s>", addr ? addr : "") != 0)
		l->cut = true;
	dlog_str(l, key, tmp);
}

void dlog_u64(struct dlog *l, const char *key, uint64_t v)
{
	char tmp[24];
	str_format(tmp, sizeof tmp, "%llu", (unsigned long long)v);
	dlog_str(l, key, tmp);
}

void dlog_secs(struct dlog *l, const char *key, uint64_t ms)
{
	char tmp[32];
	str_format(tmp, sizeof tmp, "%llu.%02llu", (unsigned long long)(ms / 1000),
	           (unsigned long long)(ms % 1000 / 10));
	dlog_str(l, key, tmp);
}

int dlog_next(const char **pp, const char *end, char *key, size_t ksize, char *value, size_t vsize)
{
	const char *p = *pp;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p >= end || *p == '\n' || *p == '\r')
		return 0;
	const char *k = p;
	while (p < end && *p != '=' && *p != ' ' && *p != '\t' && *p != '\n')
		p++;
	size_t klen = (size_t)(p - k);
	if (p >= end || *p != '=') {
		/* a bare word: the tag */
		if (ksize == 0 || str_copy_n(value, vsize, k, klen) != 0)
			return -1;
		key[0] = '\0';
		*pp = p;
		return 1;
	}
	if (klen == 0 || klen >= ksize || klen >= DLOG_KEY_MAX)
		return -1;
	memcpy(key, k, klen);
	key[klen] = '\0';
	p++; /* '=' */
	size_t o = 0;
	if (p < end && *p == '"') {
		p++;
		for (;;) {
			if (p >= end || *p == '\n')
				return -1;
			char c = *p++;
			if (c == '"')
				break;
			if (c == '\\') {
				if (p >= end)
					return -1;
				c = *p++;
			}
			if (o + 1 >= vsize)
				return -1;
			value[o++] = c;
		}
	} else {
		while (p < end && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
			if (o + 1 >= vsize)
				return -1;
			value[o++] = *p++;
		}
	}
	value[o] = '\0';
	*pp = p;
	return 1;
}
