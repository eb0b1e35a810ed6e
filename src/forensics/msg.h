/*
 * msg - the one RFC 5322 header-section reader: trace, bounce (through
 * mime_headers_parse, for the message, its MIME parts and DSN field groups),
 * the SMTP server's hop count and DKIM read header fields with it.
 *
 * Given the bytes of a message it yields the header fields in order, each as
 * a name and a raw (still folded) value pointing into the message, and stops
 * at the empty line that ends the section. Lines may end in CRLF or LF. An
 * mbox "From " separator as the first line is skipped. A line of white space
 * only is folding white space (RFC 5322 4.2, obs-FWS), as Postfix and
 * Python's email package read it: it continues the field above. Absurd
 * inputs are refused with explicit caps: the whole header section, one
 * field, and the field count.
 *
 * Options (flags of msg_reader_init_opts), the callers' needs:
 * - default (trace, smtpd): a line that is not a field (no colon, bad name,
 *   a continuation with nothing to continue) is skipped and counted, and the
 *   fields after it are read: a forensic reader wants every field there is.
 * - MSG_NONFIELD_ENDS (MIME entities, bounce): such a line ends the section
 *   and the body starts with it, as MTAs and mail readers show the message.
 * - MSG_WSP_LINE_ENDS (DSN field groups, RFC 3464 2.1): a line of white space
 *   only ends the section like an empty one.
 * The fields before the first non-field line are the same whatever the flags.
 *
 * Nothing is allocated; msg_unfold() writes into a caller's bounded buf.
 */
#ifndef RG_FORENSICS_MSG_H
#define RG_FORENSICS_MSG_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>

#define MSG_HEADER_MAX (1024 * 1024) /* bytes of the whole header section */
#define MSG_FIELD_MAX (64 * 1024)    /* bytes of one field, folded */
#define MSG_FIELDS_MAX 10000         /* fields in one header section */
#define MSG_NAME_MAX 256             /* bytes of a field name */

enum msg_error {
	MSG_ERR_NONE = 0,
	MSG_ERR_HEADER_TOO_LARGE, /* no blank line within MSG_HEADER_MAX bytes */
	MSG_ERR_FIELD_TOO_LARGE,
	MSG_ERR_TOO_MANY_FIELDS,
};

#define MSG_NONFIELD_ENDS 0x1u /* a line that is not a field ends the section */
#define MSG_WSP_LINE_ENDS 0x2u /* a line of white space only ends the section */

struct msg_reader {
	const char *p;
	unsigned flags; /* MSG_NONFIELD_ENDS, MSG_WSP_LINE_ENDS */
	size_t len;
	size_t pos;         /* start of the next line */
	unsigned fields;    /* fields returned so far */
	unsigned malformed; /* lines skipped as not a field */
	bool mbox_from;     /* an mbox "From " line was skipped */
	bool done;          /* the end of the header section was reached */
	bool blank_line;    /* ... and it was a blank line (not the end of the input) */
	bool nonfield_end;  /* ... and it was a line that is not a field (MSG_NONFIELD_ENDS) */
	enum msg_error error;
};

struct msg_field {
	const char *name; /* points into the message; not NUL-terminated */
	size_t name_len;
	const char *value; /* raw value after the colon, folding line ends included */
	size_t value_len;
};

void msg_reader_init(struct msg_reader *r, const char *p, size_t len);
/* The same, with MSG_* flags. */
void msg_reader_init_opts(struct msg_reader *r, const char *p, size_t len, unsigned flags);
/* 1 with *f set, 0 at the end of the header section, -1 on an input past a cap
 * (r->error says which; the reader then stays at -1). */
int msg_next(struct msg_reader *r, struct msg_field *f);
/* Offset of the body (just after the blank line, or at the line that is not a
 * field with MSG_NONFIELD_ENDS), or len if there is none. Valid once msg_next()
 * returned 0. */
size_t msg_body_offset(const struct msg_reader *r);
/* Case-insensitive test of the field name. */
bool msg_field_is(const struct msg_field *f, const char *name);
/* Replaces out's content with the unfolded value: line ends removed, leading and
 * trailing white space trimmed, control characters (NUL included) turned into
 * spaces. 0, or -1 if it did not fit out's max (out then holds a prefix). */
int msg_unfold(const struct msg_field *f, struct buf *out);
/* msg_unfold's flags: MSG_UNFOLD_MIME keeps what a MIME value needs (bounce
 * texts in legacy charsets such as ISO-2022-JP carry escape bytes): each line
 * break with the white space after it becomes one space, other bytes are kept
 * but NUL (a space) and CR (dropped). Leading and trailing white space are
 * trimmed alike. */
#define MSG_UNFOLD_MIME 0x1u
int msg_unfold_opts(const struct msg_field *f, unsigned flags, struct buf *out);
const char *msg_error_str(enum msg_error e);

#endif
