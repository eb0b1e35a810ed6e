/*
 * str - bounded string helpers and strict number parsing.
 *
 * The banned-function list (scripts/banned) forbids strcpy, strcat, sprintf,
 * atoi and bare strtol on input; these are what to use instead. Every parser
 * takes the whole field and refuses trailing junk, signs where none belong,
 * and out-of-range values.
 */
#ifndef RG_CORE_STR_H
#define RG_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/attr.h"

/* The longest user name anywhere: an AUTH name, an account in the user store,
 * the policy's user. One size, so a name is never cut in one place and kept
 * whole in another (an RFC 5321 mailbox, 254 octets, fits). */
#define STR_USER_MAX 255

/* Copies at most size-1 bytes and NUL-terminates. Returns 0, or -1 if src did not fit
 * (dst then holds the truncated prefix). The caller must decide what a -1
 * means: an error path, or panic() where the sizes make it impossible. */
int str_copy(char *dst, size_t size, const char *src) RG_WUR;
/* Same with an explicit source length (src need not be NUL-terminated). */
int str_copy_n(char *dst, size_t size, const char *src, size_t len) RG_WUR;
/* Appends src to the string in dst; -1 if it did not fit. */
int str_append(char *dst, size_t size, const char *src) RG_WUR;
/* snprintf that reports truncation as -1. */
int str_format(char *dst, size_t size, const char *fmt, ...) RG_WUR
    __attribute__((format(printf, 3, 4)));

/* The same four where truncation is fine here: the caller has decided (display
 * text, a log message, an error string for a user). dst holds the prefix that
 * fit, NUL-terminated (nothing is written when size is 0). Never for a path,
 * key, address, id or protocol line: a cut one of those is a wrong answer,
 * not a short one. */
void str_copy_trunc(char *dst, size_t size, const char *src);
void str_copy_n_trunc(char *dst, size_t size, const char *src, size_t len);
void str_append_trunc(char *dst, size_t size, const char *src);
void str_format_trunc(char *dst, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Decimal unsigned integer of exactly len bytes, in [min, max]. 0 or -1. */
int str_to_u64(const char *s, size_t len, uint64_t min, uint64_t max, uint64_t *out) RG_WUR;
/* NUL-terminated decimal signed integer in [min, max]. 0 or -1. */
int str_to_ll(const char *s, long long min, long long max, long long *out) RG_WUR;
/* "30s", "5m", "2h", "7d", "250ms", or a bare number of default_unit_ms. */
int str_to_duration_ms(const char *s, uint64_t default_unit_ms, uint64_t *out_ms) RG_WUR;
/* "1024", "512k", "10M", "1G" (powers of 1024). */
int str_to_size(const char *s, uint64_t *out) RG_WUR;
/* yes/no, true/false, on/off, 1/0. */
int str_to_bool(const char *s, bool *out) RG_WUR;

bool str_ieq(const char *a, const char *b);
bool str_ieq_n(const char *a, size_t alen, const char *b);
/* ASCII case-insensitive prefix test. */
bool str_iprefix(const char *s, size_t len, const char *prefix);
/* Lower-cases ASCII in place. */
void str_lower(char *s);

/* The next line of text[0..len) from *pos: *line and *llen without its LF
 * nor a CR before it; *pos moves past the LF. false when *pos is at the end.
 * The one line splitter of the files relayguard reads whole (users file,
 * common-password list, bounce rules). */
bool str_line_next(const char *text, size_t len, size_t *pos, const char **line, size_t *llen);
/* Trims ASCII space and tab both ends, in place; returns s moved past leading space. */
char *str_trim(char *s);
/* Splits s in place at any of the separator chars, skipping empty fields.
 * Returns the number of fields (at most max); -1 if there were more than max. */
int str_split(char *s, const char *seps, char **fields, int max);
/* Escapes for a log line: printable ASCII as is, the rest as \xHH; never longer than size-1. */
void str_sanitize(char *dst, size_t size, const char *src, size_t len);
/* Room for any str_log_value() of a value up to STR_LOG_VALUE_IN bytes. */
#define STR_LOG_VALUE_IN 1024
#define STR_LOG_VALUE_MAX (2 * STR_LOG_VALUE_IN + 3)
/* A value from outside, as every key=value log line writes it (docs/delivery.md
 * "Log lines"): str_sanitize()d, then, if it has a space, '"', '\\' or '=', in
 * double quotes with '"' and '\\' escaped; so no CR/LF starts a forged line and
 * no "key=value" inside it reads as another key. NULL is "". Truncated (the
 * quotes stay balanced) to size-1. Returns dst. */
const char *str_log_value(char *dst, size_t size, const char *src);
/* Value 0..63 of a base64 character (RFC 4648 alphabet), or -1. */
int str_base64_value(unsigned char c);
/* Value 0..15 of a hex digit (either case), or -1. */
int str_hex_value(char c);

#endif
