/*
 * kv - the one "key=value" line codec. The delivery log writes its lines
 * with it; logscan (forensics/rglog), the replay event reader
 * (policy/event) and the fuzz target read them with it.
 *
 * A line is tokens separated by spaces or tabs, ending at the end of the
 * buffer or at a CR/LF. A token is KEY=VALUE or a bare WORD (no '='). A
 * VALUE is a run of non-blank bytes, or a double-quoted string in which
 * \" and \\ stand for '"' and '\'. After a closing quote comes a blank or
 * the end: anything else is malformed.
 *
 * The writer quotes a value holding a space, '"', '\' or '=' (and turns
 * bytes that are not printable ASCII into \xHH, see str_log_value), so a
 * hostile value cannot forge a second key or a second line.
 *
 * The reader is zero-copy: a pair is spans into the line; kv_unquote()
 * copies a value with its escapes undone.
 */
#ifndef RG_CORE_KV_H
#define RG_CORE_KV_H

#include <stdbool.h>
#include <stddef.h>

#include "core/attr.h"

enum kv_tok {
	KV_BAD = -1, /* an unterminated quote, junk after a quote, a token "=x" */
	KV_END = 0,  /* no more tokens on this line */
	KV_PAIR = 1, /* key=value */
	KV_WORD = 2, /* a bare word: val/vlen hold it, klen is 0 */
};

struct kv_pair {
	const char *key;
	size_t klen;
	const char *val; /* inside the quotes when quoted; escapes not undone */
	size_t vlen;
	bool quoted;
	bool escaped; /* a backslash inside the quotes: kv_unquote() to read it */
};

/* The next token at *p (advanced past it; not advanced on KV_BAD/KV_END). */
enum kv_tok kv_next(const char **p, const char *end, struct kv_pair *out);

/* The pair's key is exactly `key`. */
bool kv_key_is(const struct kv_pair *pr, const char *key);

/* The value with its escapes undone, NUL-terminated. 0, or -1 when it does
 * not fit (dst then holds as much as fitted). */
int kv_unquote(const struct kv_pair *pr, char *dst, size_t size) RG_WUR;

/* The writer: appends to a caller's buffer, always NUL-terminated; `cut`
 * tells that something did not fit (the line is still well-formed up to
 * the last whole token). */
struct kv_line {
	char *buf;
	size_t size;
	size_t len;
	bool cut;
};

void kv_line_init(struct kv_line *l, char *buf, size_t size);
/* A bare word (the line's tag), separated by a space unless first. */
void kv_word(struct kv_line *l, const char *word);
/* " key=value", the value quoted and sanitised as above. */
void kv_put(struct kv_line *l, const char *key, const char *value);

#endif
