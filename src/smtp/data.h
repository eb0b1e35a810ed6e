/*
 * smtp_data - the message body machine for DATA (RFC 5321 §4.1.1.4, §4.5.2)
 * and BDAT (RFC 3030), without I/O: bytes in, message content out.
 *
 * DATA mode: the only end of data is <CRLF>.<CRLF>, where the first CRLF is
 * the end of a real line (or the DATA command itself). A line starting with a
 * dot loses that dot (".." becomes "."). A bare LF or a bare CR anywhere sets
 * bare_newline; the machine keeps reading to the real end, so the reply goes
 * to the right place, and the message must be rejected (Postfix
 * smtpd_forbid_bare_newline = reject). A bare LF or CR never starts a line,
 * so "\n.\r\n", "\r.\r\n", "\n.\n", "\r\n.\n", "\r\n.\r" are content, never
 * the end (SMTP smuggling, CVE-2023-51764/51765/51766).
 *
 * BDAT mode: the caller counts the chunk octets and feeds exactly them; the
 * content is passed through unchanged, and bare CR or LF is flagged the same
 * way (a CR ending one chunk may be completed by an LF starting the next;
 * smtp_data_finish() after the LAST chunk flags a CR left dangling).
 *
 * Content is counted as it passes; past max the machine stops producing output
 * (too_big) but still finds the end. After bare_newline it stops producing too:
 * the message is going to be refused anyway.
 */
#ifndef RG_SMTP_DATA_H
#define RG_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum smtp_data_mode { SMTP_DATA_MODE_DATA, SMTP_DATA_MODE_BDAT };

enum smtp_data_state {
	SMTP_DATA_BOL,    /* at the start of a line (after CRLF) */
	SMTP_DATA_TEXT,   /* inside a line */
	SMTP_DATA_CR,     /* a CR seen, not yet output: CRLF or bare CR */
	SMTP_DATA_DOT,    /* "." at the start of a line */
	SMTP_DATA_DOT_CR, /* ".<CR>" at the start of a line */
	SMTP_DATA_END,    /* <CRLF>.<CRLF> seen (DATA mode only) */
};

enum smtp_data_result {
	SMTP_DATA_OK,
	SMTP_DATA_BARE_NEWLINE, /* a bare CR or LF: 550 5.5.2 */
	SMTP_DATA_TOO_BIG,      /* content past max: 552 5.3.4 */
};

struct smtp_data {
	enum smtp_data_mode mode;
	enum smtp_data_state state;
	uint64_t max;  /* content limit in octets; 0: none */
	uint64_t size; /* content octets seen so far (after unstuffing) */
	bool bare_newline;
	bool too_big;
};

void smtp_data_init(struct smtp_data *d, enum smtp_data_mode mode, uint64_t max);

/* Reads in[0..len) and writes content to out[0..outcap) (outcap >= 2).
 * Returns the number of input bytes consumed; *outlen is the number of
 * content bytes written. Stops early when out is full or, in DATA mode, just
 * after the end of data (smtp_data_done() then says so). */
size_t smtp_data_feed(struct smtp_data *d, const char *in, size_t len, char *out, size_t outcap,
                      size_t *outlen);

/* True once DATA mode has seen the end of data. */
bool smtp_data_done(const struct smtp_data *d);

/* BDAT mode: call after the LAST chunk; a trailing CR is a bare CR. */
void smtp_data_finish(struct smtp_data *d);

/* What to do with the message: OK, or why it must be refused (bare newline
 * first: it is the more serious). */
enum smtp_data_result smtp_data_result(const struct smtp_data *d);

/* The SMTP reply for a refusal, e.g. "550 5.5.2 Error: bare <CR> or <LF> ...". */
const char *smtp_data_reply(enum smtp_data_result r);
const char *smtp_data_result_name(enum smtp_data_result r);
const char *smtp_data_state_name(enum smtp_data_state st);

#endif
