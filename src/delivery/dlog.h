/*
 * dlog - the delivery log lines: one per message event and one per
 * recipient per attempt, "key=value" in a fixed key order (docs/delivery.md
 * lists every key), so relayguard logscan and any admin's awk can read them.
 *
 * The line is written with the one key=value codec (core/kv.h): a value
 * with a space, '"', '\\' or '=' is quoted, bytes that are not printable
 * ASCII become \xHH, so a hostile reply text cannot forge a second line or
 * another key. logscan reads the lines back with the same codec
 * (forensics/rglog.c).
 */
#ifndef RG_DELIVERY_DLOG_H
#define RG_DELIVERY_DLOG_H

#include "core/kv.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DLOG_LINE_MAX 2048
#define DLOG_VALUE_MAX 1024

struct dlog {
	char line[DLOG_LINE_MAX];
	struct kv_line kv; /* kv.cut: something did not fit */
};

/* Starts "delivery id=ID event=EVENT". */
void dlog_begin(struct dlog *l, const char *id, const char *event);
void dlog_str(struct dlog *l, const char *key, const char *value);
/* An address in angle brackets: from=<a@b>, from=<> for the null sender. */
void dlog_addr(struct dlog *l, const char *key, const char *addr);
void dlog_u64(struct dlog *l, const char *key, uint64_t v);
/* Seconds with two decimals: delay=1.25 */
void dlog_secs(struct dlog *l, const char *key, uint64_t ms);

#endif
