/*
 * smtp_data - the DATA/BDAT body machine; see data.h.
 *
 * One byte at a time through an explicit state: this is the boundary where
 * SMTP smuggling happens, and a table of five states is easy to check by
 * eye and by exhaustive tests (tests/unit/test_smtp_session.c, fuzz_smtp_data).
 */
#include "smtp/data.h"

#include "core/log.h"

#include <string.h>

void smtp_data_init(struct smtp_data *d, enum smtp_data_mode mode, uint64_t max)
{
	memset(d, 0, sizeof *d);
	d->mode = mode;
	d->max = max;
	d->state = mode == SMTP_DATA_MODE_DATA ? SMTP_DATA_BOL : SMTP_DATA_TEXT;
}

/* Counts one content byte and writes it while the message is still good. */
static void smtp_data_emit(struct smtp_data *d, char c, char *out, size_t *outlen)
{
	d->size++;
	if (d->max != 0 && d->size > d->max)
		d->too_big = true;
	if (d->bare_newline || d->too_big)
		return;
	out[(*outlen)++] = c;
}

/* A byte inside a line (TEXT semantics), shared by several states. */
static void smtp_data_text(struct smtp_data *d, char c, char *out, size_t *outlen)
{
	if (c == '\r') {
		d->state = SMTP_DATA_CR;
		return;
	}
	if (c == '\n') {
		/* A bare LF: content, flagged, and NOT the start of a line. */
		d->bare_newline = true;
		smtp_data_emit(d, c, out, outlen);
		d->state = SMTP_DATA_TEXT;
		return;
	}
	smtp_data_emit(d, c, out, outlen);
	d->state = SMTP_DATA_TEXT;
}

static void smtp_data_byte(struct smtp_data *d, char c, char *out, size_t *outlen)
{
	switch (d->state) {
	case SMTP_DATA_BOL:
		if (c == '.')
			d->state = SMTP_DATA_DOT;
		else
			smtp_data_text(d, c, out, outlen);
		break;
	case SMTP_DATA_TEXT:
		smtp_data_text(d, c, out, outlen);
		break;
	case SMTP_DATA_CR:
		if (c == '\n') {
			smtp_data_emit(d, '\r', out, outlen);
			smtp_data_emit(d, '\n', out, outlen);
			d->state = SMTP_DATA_BOL;
		} else {
			/* The pending CR was bare; it never starts a line. */
			d->bare_newline = true;
			smtp_data_emit(d, '\r', out, outlen);
			smtp_data_text(d, c, out, outlen);
		}
		break;
	case SMTP_DATA_DOT:
		if (c == '\r') {
			d->state = SMTP_DATA_DOT_CR;
		} else {
			/* Dot-unstuffing: the leading dot goes, the rest is the line
			 * (".." gives "."; a bare LF here is flagged by text). */
			smtp_data_text(d, c, out, outlen);
		}
		break;
	case SMTP_DATA_DOT_CR:
		if (c == '\n') {
			d->state = SMTP_DATA_END;
		} else {
			/* ".<CR>x": a bare CR on a dot line, never the end. */
			d->bare_newline = true;
			smtp_data_emit(d, '\r', out, outlen);
			smtp_data_text(d, c, out, outlen);
		}
		break;
	case SMTP_DATA_END:
		break;
	}
}

/* BDAT: content passes unchanged; only the CR/LF pairing is checked. */
static void smtp_data_bdat_byte(struct smtp_data *d, char c, char *out, size_t *outlen)
{
	if (c == '\n') {
		if (d->state != SMTP_DATA_CR)
			d->bare_newline = true;
		d->state = SMTP_DATA_TEXT;
	} else {
		if (d->state == SMTP_DATA_CR)
			d->bare_newline = true;
		d->state = c == '\r' ? SMTP_DATA_CR : SMTP_DATA_TEXT;
	}
	smtp_data_emit(d, c, out, outlen);
}

size_t smtp_data_feed(struct smtp_data *d, const char *in, size_t len, char *out, size_t outcap,
                      size_t *outlen)
{
	size_t i = 0;
	*outlen = 0;
	while (i < len && *outlen + 2 <= outcap && d->state != SMTP_DATA_END) {
		if (d->mode == SMTP_DATA_MODE_DATA)
			smtp_data_byte(d, in[i], out, outlen);
		else
			smtp_data_bdat_byte(d, in[i], out, outlen);
		i++;
	}
	return i;
}

bool smtp_data_done(const struct smtp_data *d)
{
	return d->state == SMTP_DATA_END;
}

void smtp_data_finish(struct smtp_data *d)
{
	if (d->mode == SMTP_DATA_MODE_BDAT && d->state == SMTP_DATA_CR)
		d->bare_newline = true;
}

enum smtp_data_result smtp_data_result(const struct smtp_data *d)
{
	if (d->bare_newline)
		return SMTP_DATA_BARE_NEWLINE;
	if (d->too_big)
		return SMTP_DATA_TOO_BIG;
	return SMTP_DATA_OK;
}

const char *smtp_data_reply(enum smtp_data_result r)
{
	switch (r) {
	case SMTP_DATA_OK:
		return "250 2.0.0 Ok";
	case SMTP_DATA_BARE_NEWLINE:
		return "550 5.5.2 Error: bare <CR> or <LF> received in message data";
	case SMTP_DATA_TOO_BIG:
		return "552 5.3.4 Error: message file too big";
	}
	panic("smtp_data: result %d", (int)r);
}

const char *smtp_data_result_name(enum smtp_data_result r)
{
	switch (r) {
	case SMTP_DATA_OK:
		return "ok";
	case SMTP_DATA_BARE_NEWLINE:
		return "bare_newline";
	case SMTP_DATA_TOO_BIG:
		return "too_big";
	}
	panic("smtp_data: result %d", (int)r);
}

const char *smtp_data_state_name(enum smtp_data_state st)
{
	switch (st) {
	case SMTP_DATA_BOL:
		return "bol";
	case SMTP_DATA_TEXT:
		return "text";
	case SMTP_DATA_CR:
		return "cr";
	case SMTP_DATA_DOT:
		return "dot";
	case SMTP_DATA_DOT_CR:
		return "dot_cr";
	case SMTP_DATA_END:
		return "end";
	}
	panic("smtp_data: state %d", (int)st);
}
