/*
 * dlog - delivery log lines; see dlog.h. The codec is core/kv.
 */
#include "delivery/dlog.h"

#include "core/log.h"
#include "core/str.h"

void dlog_begin(struct dlog *l, const char *id, const char *event)
{
	kv_line_init(&l->kv, l->line, sizeof l->line);
	kv_word(&l->kv, "delivery");
	dlog_str(l, "id", id);
	dlog_str(l, "event", event);
}

void dlog_str(struct dlog *l, const char *key, const char *value)
{
	kv_put(&l->kv, key, value);
}

void dlog_addr(struct dlog *l, const char *key, const char *addr)
{
	char tmp[DLOG_VALUE_MAX];
	if (str_format(tmp, sizeof tmp, "<%s>", addr ? addr : "") != 0)
		l->kv.cut = true;
	dlog_str(l, key, tmp);
}

void dlog_u64(struct dlog *l, const char *key, uint64_t v)
{
	char tmp[24];
	if (str_format(tmp, sizeof tmp, "%llu", (unsigned long long)v) != 0)
		panic("dlog_u64: tmp does not fit");
	dlog_str(l, key, tmp);
}

void dlog_secs(struct dlog *l, const char *key, uint64_t ms)
{
	char tmp[32];
	if (str_format(tmp, sizeof tmp, "%llu.%02llu", (unsigned long long)(ms / 1000),
	               (unsigned long long)(ms % 1000 / 10)) != 0)
		panic("dlog_secs: tmp does not fit");
	dlog_str(l, key, tmp);
}
