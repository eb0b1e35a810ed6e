/*
 * logline - the envelope of one mail-log line: its time, the host, the
 * syslog tag (program and pid) and where the message text starts.
 *
 * Recognised heads (RFC 3164, RFC 5424-ish rsyslog, Exim and Dovecot files):
 *   [<pri>]Mar  3 02:14:07 host prog/sub[pid]: text      classic syslog, no year
 *   [<pri>]2026-05-16T16:13:25.137663+02:00 host prog[pid]: text   RFC 3339
 *          (fraction optional, "Z", "+hh:mm" or journalctl's "+hhmm")
 *   Mar  3 02:14:07 prog: text                           no host (Dovecot's own file)
 *   2016-03-25 15:06:04 [+0100] [[pid]] text            Exim mainlog, Dovecot's
 *          own file with a dated log_timestamp (no host, no tag)
 * A classic stamp has no year: logyear_resolve() infers it (see below).
 *
 * Zero-copy and pure: every span points into the caller's line; nothing is
 * allocated, nothing read past len.
 */
#ifndef RG_FORENSICS_LOGLINE_H
#define RG_FORENSICS_LOGLINE_H

#include "core/addr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

struct logspan {
	const char *p; /* never NULL after a parse; may be empty */
	size_t len;
};

enum logline_time {
	LOGLINE_TIME_SYSLOG = 1, /* month, day and time of day; the year is unknown */
	LOGLINE_TIME_FULL,       /* epoch_ms is exact (a zone-less Exim stamp is read as UTC) */
};

struct logline {
	enum logline_time time_kind;
	int64_t epoch_ms;    /* LOGLINE_TIME_FULL */
	unsigned mon, day;   /* LOGLINE_TIME_SYSLOG: 1..12, 1..31 */
	int64_t tod_ms;      /* LOGLINE_TIME_SYSLOG: milliseconds into the day */
	bool bare;           /* "YYYY-MM-DD hh:mm:ss" head: no host, no tag (Exim, Dovecot) */
	struct logspan host; /* empty when the line has none */
	struct logspan tag;  /* program, without "[pid]" and ":"; empty when none */
	long pid;            /* -1 when none */
	struct logspan msg;  /* the text after "tag: " (or after the stamp when bare) */
};

/* 0 with *out filled, -1 when the line has no recognisable time stamp. */
int logline_parse(const char *p, size_t len, struct logline *out);

/*
 * The head (stamp, host and the spaces after them) of the last line that had a
 * host, and what parsing it gave. A log has many lines a second from one host,
 * so the next line usually starts with the same bytes: then only its tag is
 * read. The result is the same as logline_parse's, byte for byte.
 */
#define LOGLINE_MEMO_MAX 48
struct logline_memo {
	size_t len; /* bytes of head; 0: nothing remembered */
	char head[LOGLINE_MEMO_MAX];
	struct logline l; /* the fields as they were when the tag was about to be read */
	size_t host_off;  /* where the host starts (l.host.p is not used) */
};

void logline_memo_init(struct logline_memo *m);
/* logline_parse, with m remembering the head for the next line. */
int logline_parse_memo(const char *p, size_t len, struct logline *out, struct logline_memo *m);

/* The last path component of the tag: "smtpd" of "postfix-smo/submission/smtpd". */
struct logspan logline_daemon(const struct logline *l);

/*
 * Year inference for classic stamps. Start from a reference time (the file's
 * modification time: its last line is not newer) or a year the user gave.
 * The first stamp whose month is after the reference month belongs to the
 * year before; afterwards the year goes up whenever the month falls back by
 * more than half a year (December to January).
 */
struct logyear {
	int year;
	unsigned ref_mon;  /* 0: no reference month (the year was given) */
	unsigned last_mon; /* 0 before the first stamp */
	/* the day number of the last date resolved (c_mon 0: none yet) */
	int c_year;
	unsigned c_mon, c_day;
	int64_t c_days;
};

void logyear_init(struct logyear *y, int year, unsigned ref_mon);
/* The reference from an epoch time (for example a file's mtime). */
void logyear_init_from_ms(struct logyear *y, int64_t ref_ms);
/* Epoch milliseconds of the line (classic stamps read as UTC). */
int64_t logyear_resolve(struct logyear *y, const struct logline *l);

/* Helpers shared by the log parsers (all bounded by the span). */
/* The w (8, 4 or 2) bytes at p as a number, for the compares below. */
static inline uint64_t logspan_word(const char *p, size_t w)
{
	uint64_t v8;
	uint32_t v4;
	uint16_t v2;
	if (w == 8) {
		__builtin_memcpy(&v8, p, 8);
		return v8;
	}
	if (w == 4) {
		__builtin_memcpy(&v4, p, 4);
		return v4;
	}
	__builtin_memcpy(&v2, p, 2);
	return v2;
}

/* Whether a[0..n) equals b[0..n). Inline: with a constant n (a literal's length)
 * it folds to two word compares (the first and the last w bytes, overlapping)
 * instead of a memcmp call. */
static inline bool logspan_memeq(const char *a, const char *b, size_t n)
{
	if (n >= 2 && n <= 16) {
		size_t w = n >= 8 ? 8 : n >= 4 ? 4 : 2;
		return ((logspan_word(a, w) ^ logspan_word(b, w)) |
		        (logspan_word(a + n - w, w) ^ logspan_word(b + n - w, w))) == 0;
	}
	if (n == 1)
		return a[0] == b[0];
	if (n > 16)
		return logspan_word(a, 8) == logspan_word(b, 8) &&
		       __builtin_memcmp(a + 8, b + 8, n - 8) == 0;
	return true; /* n == 0 */
}

/* Inline: with a literal the length folds to a constant (these run per line). */
static inline bool logspan_eq(struct logspan s, const char *lit)
{
	size_t n = __builtin_strlen(lit);
	return s.len == n && logspan_memeq(s.p, lit, n);
}

static inline bool logspan_starts(struct logspan s, const char *lit)
{
	size_t n = __builtin_strlen(lit);
	return s.len >= n && logspan_memeq(s.p, lit, n);
}

/* Position of lit in s at or after from, or -1. Inline for the same reason: the
 * needles are short literals found a few dozen bytes on, where memmem's set-up
 * costs more than the search. Sixteen places are tried at once for the first
 * two bytes of the needle (no branch per byte), while 17 bytes of s are left;
 * the rest byte by byte. */
static inline long logspan_find(struct logspan s, size_t from, const char *lit)
{
	size_t n = __builtin_strlen(lit);
	if (from > s.len || n == 0 || s.len - from < n)
		return -1;
	const char *q = s.p + from, *end = s.p + (s.len - n), *stop = s.p + s.len;
#ifdef __SSE2__
	if (n >= 2) {
		__m128i c0 = _mm_set1_epi8(lit[0]), c1 = _mm_set1_epi8(lit[1]);
		while (stop - q >= 17) {
			__m128i a = _mm_loadu_si128((const __m128i *)(const void *)q);
			__m128i b = _mm_loadu_si128((const __m128i *)(const void *)(q + 1));
			unsigned hit = (unsigned)_mm_movemask_epi8(
			    _mm_and_si128(_mm_cmpeq_epi8(a, c0), _mm_cmpeq_epi8(b, c1)));
			for (; hit; hit &= hit - 1) {
				const char *c = q + __builtin_ctz(hit);
				if (c > end)
					return -1;
				if (logspan_memeq(c, lit, n))
					return (long)(c - s.p);
			}
			q += 16;
		}
	}
#endif
	for (; q <= end; q++)
		if (*q == lit[0] && logspan_memeq(q, lit, n))
			return (long)(q - s.p);
	return -1;
}

/* Sub-span [from, to) of s (clamped). */
struct logspan logspan_sub(struct logspan s, size_t from, size_t to);
/* Parses a run of decimal digits at the start of s (at most 18); -1 if none. */
int logspan_u64(struct logspan s, uint64_t *out, size_t *used);
/* Copies into a NUL-terminated buffer, cut to fit, control bytes replaced. */
void logspan_copy(struct logspan s, char *out, size_t size);
/* "name[1.2.3.4]" or "name[1.2.3.4]:port": the address in the last brackets. 0 or -1. */
int logspan_bracket_addr(struct logspan s, struct logspan *name, struct addr *out);

#endif
