/*
 * dsn - RFC 3464 / RFC 6533 delivery-status fields; see dsn.h.
 *
 * The body is a series of header blocks separated by empty lines. The first
 * is per-message (Reporting-MTA, Arrival-Date); every later block that names
 * a recipient or carries Action/Status is per-recipient. Unknown fields are
 * extensions and ignored.
 */
#include "forensics/dsn.h"

#include "core/str.h"
#include "forensics/mime.h"

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

int dsn_parse(const char *p, size_t len, struct dsn_report *out)
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
		if (mime_headers_parse(p + off, len - off, &h, &body) != 0) {
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
