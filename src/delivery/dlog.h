/*
 * dlog - the delivery log lines: one per message event and one per
 * recipient per attempt, "key=value" in a fixed key order (docs/delivery.md
 * lists every key), so relayguard logscan and any admin's awk can read them.
 *
 * A value with a space, '"', '\\' or '=' (or an empty one where quoting is
 * asked) is written in double quotes with '"' and '\\' escaped; bytes that
 * are not printable ASCII become \xHH (str_sanitize), so a hostile reply
 * text cannot forge a second line or another key.
 *
 * dlog_next() reads such a line back, one key=value at a time; it is what
 * logscan uses, and it is fuzzed.
 */
#ifndef RG_DELIVERY_DLOG_H
#define RG_DELIVERY_DLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DLOG_LINE_MAX 2048
#define DLOG_KEY_MAX 32
#define DLOG_VALUE_MAX 1024

struct dlog {
	char line[DLOG_LINE_MAX];
	size_t len;
	bool cut; /* something did not fit */
};

/* Starts "delivery id=ID event=EVENT". */
void dlog_begin(struct dlog *l, const char *id, const char *event);
void dlog_str(struct dlog *l, const char *key, const char *value);
/* An address in angle brackets: from=<a@b>, from=<> for the null sender. */
void dlog_addr(struct dlog *l, const char *key, const char *addr);
void dlog_u64(struct dlog *l, const char *key, uint64_t v);
/* Seconds with two decimals: delay=1.25 */
void dlog_secs(struct dlog *l, const char *key, uint64_t ms);

/* Reads the next key=value from *p (advanced past it). 1 one read, 0 end of
 * line, -1 malformed (an unterminated quote, a key too long, no '='). Words
 * without '=' before the first key (the "delivery" tag) come back with an
 * empty key. */
int dlog_next(const char **p, const char *end, char *key, size_t ksize, char *value, size_t vsize);

#endif
