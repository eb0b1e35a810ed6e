/*
 * mime - just enough MIME (RFC 2045-2047, RFC 5322 header syntax) to read
 * bounces: header fields with unfolding, Content-Type and its parameters,
 * multipart walking, quoted-printable and base64 decoding.
 *
 * Every size is capped (fields, parts, depth, decoded bytes); input past a
 * cap is truncated or refused, never trusted. Parsers take (pointer, length)
 * and need no NUL terminator. Line ends may be CRLF or LF.
 */
#ifndef RG_FORENSICS_MIME_H
#define RG_FORENSICS_MIME_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>

#define MIME_MAX_HEADERS 256       /* fields kept per header section; the rest are skipped */
#define MIME_MAX_VALUE 8192        /* bytes of one unfolded field value kept */
#define MIME_MAX_DEPTH 8           /* multipart nesting */
#define MIME_MAX_PARTS 128         /* leaf parts reported per message */
#define MIME_MAX_DECODED (1 << 20) /* decoded bytes of one part */

struct mime_header {
	char *name;  /* as written, NUL-terminated */
	char *value; /* unfolded, trimmed */
};

struct mime_headers {
	struct mime_header *items;
	size_t count;
	size_t cap;
};

struct mime_ctype {
	char type[64];    /* lower case, "text" when absent */
	char subtype[64]; /* lower case, "plain" when absent */
	char boundary[128];
	char charset[64];
	char report_type[64]; /* multipart/report's report-type, lower case */
};

struct mime_part {
	const struct mime_headers *headers;
	const struct mime_ctype *ctype;
	const char *body; /* decoded (transfer encoding removed), NUL-terminated */
	size_t len;
	int depth;      /* 0 for the message itself */
	bool truncated; /* decoding stopped at MIME_MAX_DECODED */
};

/* Called for each leaf part in order; a non-zero return stops the walk and is returned. */
typedef int (*mime_part_cb)(void *ctx, const struct mime_part *part);

void mime_headers_init(struct mime_headers *h);
void mime_headers_free(struct mime_headers *h);
/* Parses the header section at the start of p with forensics/msg, the one header
 * reader (a leading mbox "From " line is skipped; a line of white space only is
 * folding white space). The section ends at an empty line or at the first line
 * that is not a field (MSG_NONFIELD_ENDS), or at a field past one of msg's caps.
 * *body_off is where the body starts. 0, or -1 when memory ran out. */
int mime_headers_parse(const char *p, size_t len, struct mime_headers *h, size_t *body_off);
/* The same with more msg flags: MSG_WSP_LINE_ENDS for DSN field groups. */
int mime_headers_parse_opts(const char *p, size_t len, unsigned flags, struct mime_headers *h,
                            size_t *body_off);
/* First field of that name (case-insensitive), or NULL. */
const char *mime_headers_get(const struct mime_headers *h, const char *name);

/* Parses a Content-Type value; NULL or malformed gives text/plain. Always fills out. */
void mime_ctype_parse(const char *value, struct mime_ctype *out);
bool mime_ctype_is(const struct mime_ctype *ct, const char *type, const char *subtype);

/* Decoders append to out. 0, or -1 when out reached its max (what fit is kept). */
int mime_qp_decode(const char *p, size_t len, struct buf *out);
int mime_base64_decode(const char *p, size_t len, struct buf *out);

/* Converts p[0, n) from charset to UTF-8, appending to out (bytes iconv cannot
 * convert become '?'). 0, or -1 when the charset is unknown to iconv or out is
 * full (what fit is kept). "us-ascii", "utf-8" and "" are copied as they are. */
int mime_to_utf8(const char *charset, const char *p, size_t n, struct buf *out);

/* Decodes RFC 2047 encoded words ("=?iso-2022-jp?B?...?=") in a header value
 * into UTF-8, appending to out; white space between two encoded words is
 * dropped, anything that does not decode is kept as written. 0, or -1 when out
 * is full. */
int mime_decode_words(const char *p, size_t n, struct buf *out);

/* Walks a whole message (headers and body), calling cb for every leaf part.
 * message/rfc822 parts are leaves (the returned original is not descended into).
 * 0, the callback's non-zero value, or -1 when memory ran out. */
int mime_walk(const char *msg, size_t len, mime_part_cb cb, void *ctx);

#endif
