/*
 * dsn - RFC 3464 / RFC 6533 delivery-status fields; see dsn.h.
 *
 * The body is a series of header blocks separated by empty lines. The first
 * is per-message (Reporting-MTA, Arrival-Date); every later block that names
 * a recipient or carries Action/Status is per-recipient. Unknown fields are
 * extensions and ignored.
 *
 * Folding is read leniently: a line that does not start a DSN field (an RFC
 * 3464 name or an X- extension) continues the field before it even when it is
 * not indented, as some MTAs write a Diagnostic-Code over several lines.
 */
#include "forensics/dsn.h"

#include "core/buf.h"
#include "core/str.h"
#include "forensics/mime.h"
#include "forensics/msg.h"

#include <ctype.h>
#include <string.h>

void dsn_strip_type(const char *value, char *dst, size_t size)
{
	const char *v = value;
	const char *semi = strchr(v, ';');
	/* A type label is one short atom ("rfc822", "dns", "smtp", "X-Unix"). */
	if (semi && semi - v <= 32) {
		bool atom = true;
		for (const char *q = v; q < semi; q++)
			if (isspace((unsigned char)*q) && q != v && q + 1 != semi)
				atom = false;
		if (atom)
			v = semi + 1;
	}
	while (*v == ' ' || *v == '\t')
		v++;
	size_t n = strlen(v);
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n >= 2 && v[0] == '<' && v[n - 1] == '>') {
		v++;
		n -= 2;
	}
	if (str_copy_n(dst, size, v, n) != 0) {
		/* truncated to the field size, by design */
	}
}

/* Status: the leading class.subject.detail token only ("5.7.1 (reason)" -> "5.7.1"). */
static void dsn_copy_status(const char *v, char *dst, size_t size)
{
	while (*v == ' ' || *v == '\t')
		v++;
	size_t n = 0;
	while (v[n] && (isdigit((unsigned char)v[n]) || v[n] == '.'))
		n++;
	if (str_copy_n(dst, size, v, n) != 0)
		dst[0] = '\0';
}

static void dsn_read_recipient(const struct mime_headers *h, struct dsn_recipient *r)
{
	const char *v;
	memset(r, 0, sizeof *r);
	if ((v = mime_headers_get(h, "Final-Recipient")))
		dsn_strip_type(v, r->final_recipient, sizeof r->final_recipient);
	if ((v = mime_headers_get(h, "Original-Recipient")))
		dsn_strip_type(v, r->original_recipient, sizeof r->original_recipient);
	if ((v = mime_headers_get(h, "Action"))) {
		dsn_strip_type(v, r->action, sizeof r->action);
		str_lower(r->action);
	}
	if ((v = mime_headers_get(h, "Status")))
		dsn_copy_status(v, r->status, sizeof r->status);
	if ((v = mime_headers_get(h, "Remote-MTA")))
		dsn_strip_type(v, r->remote_mta, sizeof r->remote_mta);
	if ((v = mime_headers_get(h, "Diagnostic-Code")))
		dsn_strip_type(v, r->diagnostic, sizeof r->diagnostic);
}

static bool dsn_is_recipient_block(const struct mime_headers *h)
{
	return mime_headers_get(h, "Final-Recipient") ||
	       mime_headers_get(h, "Original-Recipient") || mime_headers_get(h, "Action") ||
	       mime_headers_get(h, "Status");
}

static int dsn_parse_blocks(const char *p, size_t len, struct dsn_report *out);

static const char *const dsn_fields[] = {
    "original-envelope-id", "reporting-mta",    "dsn-gateway",
    "received-from-mta",    "arrival-date",     "original-recipient",
    "final-recipient",      "action",           "status",
    "remote-mta",           "diagnostic-code",  "last-attempt-date",
    "final-log-id",         "will-retry-until",
};

/* Does the line start a DSN field ("Name:" with a known name or X-)? */
static bool dsn_field_line(const char *l, size_t n)
{
	const char *colon = memchr(l, ':', n);
	if (!colon)
		return false;
	size_t k = (size_t)(colon - l);
	while (k && (l[k - 1] == ' ' || l[k - 1] == '\t'))
		k--;
	if (k >= 2 && (l[0] == 'X' || l[0] == 'x') && l[1] == '-') {
		for (size_t i = 0; i < k; i++)
			if ((unsigned char)l[i] <= ' ' || (unsigned char)l[i] > '~')
				return false;
		return true;
	}
	for (size_t i = 0; i < sizeof dsn_fields / sizeof dsn_fields[0]; i++)
		if (strlen(dsn_fields[i]) == k && str_ieq_n(l, k, dsn_fields[i]))
			return true;
	return false;
}

/* Copies p, indenting every non-empty line that neither starts a field nor is
 * indented already, so the header parser reads it as a continuation. */
static int dsn_unfold(const char *p, size_t len, struct buf *out)
{
	size_t i = 0;
	bool in_block = false;
	while (i < len) {
		const char *nl = memchr(p + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - p) + 1 : len;
		const char *l = p + i;
		size_t n = e - i;
		size_t t = n;
		while (t && (l[t - 1] == '\n' || l[t - 1] == '\r'))
			t--;
		bool blank = true;
		for (size_t k = 0; k < t; k++)
			if (l[k] != ' ' && l[k] != '\t')
				blank = false;
		if (blank) {
			in_block = false;
		} else if (l[0] != ' ' && l[0] != '\t') {
			if (dsn_field_line(l, t))
				in_block = true;
			else if (in_block && buf_append_char(out, ' ') != 0)
				return -1;
		}
		if (buf_append(out, l, n) != 0)
			return -1;
		i = e;
	}
	return 0;
}

int dsn_parse(const char *p0, size_t len0, struct dsn_report *out)
{
	struct buf unf;
	buf_init(&unf, 2 * len0 + 64);
	if (dsn_unfold(p0, len0, &unf) != 0) {
		buf_free(&unf);
		return -1;
	}
	int rc = dsn_parse_blocks(buf_cstr(&unf), unf.len, out);
	buf_free(&unf);
	return rc;
}

static int dsn_parse_blocks(const char *p, size_t len, struct dsn_report *out)
{
	size_t off = 0;
	int blocks = 0;
	/* Only what is read back is cleared: recipients are cleared as they are filled. */
	out->reporting_mta[0] = '\0';
	out->arrival_date[0] = '\0';
	out->nrcpt = 0;
	while (off < len && blocks < DSN_MAX_BLOCKS) {
		/* Skip empty lines between blocks. */
		while (off < len &&
		       (p[off] == '\r' || p[off] == '\n' || p[off] == ' ' || p[off] == '\t'))
			off++;
		if (off >= len)
			break;
		struct mime_headers h;
		size_t body;
		mime_headers_init(&h);
		/* RFC 3464 2.1: groups are separated by blank lines; a line of white
		 * space only separates them too. */
		if (mime_headers_parse_opts(p + off, len - off, MSG_WSP_LINE_ENDS, &h, &body) !=
		    0) {
			mime_headers_free(&h);
			return -1;
		}
		if (body == 0) {
			/* Not a field line: skip it so the loop always advances. */
			const char *nl = memchr(p + off, '\n', len - off);
			body = nl ? (size_t)(nl - (p + off)) + 1 : len - off;
		}
		if (dsn_is_recipient_block(&h)) {
			if (out->nrcpt < DSN_MAX_RCPT)
				dsn_read_recipient(&h, &out->rcpt[out->nrcpt++]);
		} else if (blocks == 0 || !out->reporting_mta[0]) {
			const char *v;
			if ((v = mime_headers_get(&h, "Reporting-MTA")))
				dsn_strip_type(v, out->reporting_mta, sizeof out->reporting_mta);
			if ((v = mime_headers_get(&h, "Arrival-Date")))
				dsn_strip_type(v, out->arrival_date, sizeof out->arrival_date);
		}
		mime_headers_free(&h);
		off += body;
		blocks++;
	}
	return out->nrcpt > 0 ? 0 : -1;
}
