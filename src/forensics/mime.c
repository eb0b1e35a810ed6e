/*
 * mime - header fields, Content-Type, transfer decodings and multipart
 * walking for the bounce reader; see mime.h.
 *
 * RFC 5322 section 2.2.3 (unfolding), RFC 2045 (Content-Type parameters,
 * quoted-printable, base64), RFC 2046 section 5.1 (multipart boundaries).
 * Legacy charsets and RFC 2047 encoded words are converted to UTF-8 with
 * iconv(3) (mime_to_utf8, mime_decode_words) by the callers that show or
 * match the text.
 */
#include "forensics/mime.h"

#include "core/grow.h"
#include "core/str.h"
#include "forensics/msg.h"

#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>

void mime_headers_init(struct mime_headers *h)
{
	h->items = NULL;
	h->count = 0;
	h->cap = 0;
}

void mime_headers_free(struct mime_headers *h)
{
	for (size_t i = 0; i < h->count; i++) {
		free(h->items[i].name);
		free(h->items[i].value);
	}
	free(h->items);
	mime_headers_init(h);
}

/* End of the line starting at i (index of '\n' or len); *next is the start of the next line. */
static size_t mime_line_end(const char *p, size_t len, size_t i, size_t *next)
{
	const char *nl = memchr(p + i, '\n', len - i);
	size_t e = nl ? (size_t)(nl - p) : len;
	*next = nl ? e + 1 : len;
	if (e > i && p[e - 1] == '\r')
		e--;
	return e;
}

static bool mime_is_blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t')
			return false;
	return true;
}

static char *mime_strndup(const char *p, size_t n)
{
	char *s = malloc(n + 1);
	if (!s)
		return NULL;
	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* Appends the field held in v (name n) to h. 0 or -1 (memory). */
static int mime_headers_add(struct mime_headers *h, const char *name, size_t nlen, struct buf *v)
{
	if (h->count >= MIME_MAX_HEADERS)
		return 0;
	if (grow_array(&h->items, &h->cap, h->count + 1, sizeof *h->items) != 0)
		return -1;
	const char *val = buf_cstr(v);
	size_t vlen = v->len;
	while (vlen && (val[vlen - 1] == ' ' || val[vlen - 1] == '\t'))
		vlen--;
	char *nm = mime_strndup(name, nlen);
	char *vv = mime_strndup(val, vlen);
	if (!nm || !vv) {
		free(nm);
		free(vv);
		return -1;
	}
	h->items[h->count].name = nm;
	h->items[h->count].value = vv;
	h->count++;
	return 0;
}

int mime_headers_parse_opts(const char *p, size_t len, unsigned flags, struct mime_headers *h,
                            size_t *body_off)
{
	struct msg_reader r;
	struct msg_field f;
	struct buf v;
	int rc;

	buf_init(&v, MIME_MAX_VALUE);
	msg_reader_init_opts(&r, p, len, flags | MSG_NONFIELD_ENDS);
	while ((rc = msg_next(&r, &f)) == 1) {
		if (h->count >= MIME_MAX_HEADERS)
			continue; /* read on, for the body's offset */
		/* Past MIME_MAX_VALUE the value is truncated: what fit is kept. */
		(void)msg_unfold_opts(&f, MSG_UNFOLD_MIME, &v);
		if (mime_headers_add(h, f.name, f.name_len, &v) != 0) {
			buf_free(&v);
			return -1;
		}
	}
	/* Past one of msg's caps the section ends at the field that broke it. */
	*body_off = rc == 0 ? msg_body_offset(&r) : r.pos;
	buf_free(&v);
	return 0;
}

int mime_headers_parse(const char *p, size_t len, struct mime_headers *h, size_t *body_off)
{
	return mime_headers_parse_opts(p, len, 0, h, body_off);
}

const char *mime_headers_get(const struct mime_headers *h, const char *name)
{
	for (size_t i = 0; i < h->count; i++)
		if (str_ieq(h->items[i].name, name))
			return h->items[i].value;
	return NULL;
}

static bool mime_is_tspecial_or_space(char c)
{
	return (unsigned char)c <= 32 || strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

/* Copies a token of at most n bytes, lower-cased. */
static void mime_copy_lower(char *dst, size_t size, const char *src, size_t n)
{
	if (str_copy_n(dst, size, src, n) != 0) {
		/* truncated: a value this long is junk anyway, keep the prefix */
	}
	str_lower(dst);
}

/* Reads a token or quoted-string at s[*i]; writes it (unquoted) to dst. */
static void mime_param_value(const char *s, size_t *i, char *dst, size_t size)
{
	size_t o = 0, k = *i;
	if (s[k] == '"') {
		k++;
		while (s[k] && s[k] != '"') {
			if (s[k] == '\\' && s[k + 1])
				k++;
			if (o + 1 < size)
				dst[o++] = s[k];
			k++;
		}
		if (s[k] == '"')
			k++;
	} else {
		while (s[k] && s[k] != ';' && s[k] != ' ' && s[k] != '\t') {
			if (o + 1 < size)
				dst[o++] = s[k];
			k++;
		}
	}
	dst[o] = '\0';
	*i = k;
}

void mime_ctype_parse(const char *value, struct mime_ctype *out)
{
	memset(out, 0, sizeof *out);
	if (str_copy(out->type, sizeof out->type, "text") != 0 ||
	    str_copy(out->subtype, sizeof out->subtype, "plain") != 0)
		return;
	if (!value)
		return;
	const char *s = value;
	size_t i = 0;
	while (s[i] == ' ' || s[i] == '\t')
		i++;
	size_t t0 = i;
	while (s[i] && !mime_is_tspecial_or_space(s[i]))
		i++;
	size_t t1 = i;
	if (s[i] != '/' || t1 == t0)
		return; /* malformed: RFC 2045 section 5.2 default */
	i++;
	size_t s0 = i;
	while (s[i] && !mime_is_tspecial_or_space(s[i]))
		i++;
	if (i == s0)
		return;
	mime_copy_lower(out->type, sizeof out->type, s + t0, t1 - t0);
	mime_copy_lower(out->subtype, sizeof out->subtype, s + s0, i - s0);
	/* Parameters: ; name = value */
	while (s[i]) {
		while (s[i] && s[i] != ';')
			i++;
		if (!s[i])
			break;
		i++;
		while (s[i] == ' ' || s[i] == '\t')
			i++;
		size_t n0 = i;
		while (s[i] && s[i] != '=' && s[i] != ';' && !mime_is_tspecial_or_space(s[i]))
			i++;
		size_t n1 = i;
		while (s[i] == ' ' || s[i] == '\t')
			i++;
		if (s[i] != '=')
			continue;
		i++;
		while (s[i] == ' ' || s[i] == '\t')
			i++;
		char val[256];
		mime_param_value(s, &i, val, sizeof val);
		char pname[32];
		mime_copy_lower(pname, sizeof pname, s + n0, n1 - n0);
		if (strcmp(pname, "boundary") == 0) {
			if (str_copy(out->boundary, sizeof out->boundary, val) != 0)
				out->boundary[0] = '\0'; /* RFC 2046: at most 70 bytes */
		} else if (strcmp(pname, "charset") == 0) {
			mime_copy_lower(out->charset, sizeof out->charset, val, strlen(val));
		} else if (strcmp(pname, "report-type") == 0) {
			mime_copy_lower(out->report_type, sizeof out->report_type, val,
			                strlen(val));
		}
	}
}

bool mime_ctype_is(const struct mime_ctype *ct, const char *type, const char *subtype)
{
	return strcmp(ct->type, type) == 0 && (!subtype || strcmp(ct->subtype, subtype) == 0);
}

int mime_qp_decode(const char *p, size_t len, struct buf *out)
{
	size_t i = 0;
	while (i < len) {
		char c = p[i];
		if (c == '=') {
			/* Soft line break: '=' then optional blanks then CRLF or LF. */
			size_t k = i + 1;
			while (k < len && (p[k] == ' ' || p[k] == '\t'))
				k++;
			if (k < len && p[k] == '\r' && k + 1 < len && p[k + 1] == '\n') {
				i = k + 2;
				continue;
			}
			if (k < len && p[k] == '\n') {
				i = k + 1;
				continue;
			}
			if (k == len) {
				i = len;
				continue;
			}
			if (i + 2 < len && str_hex_value(p[i + 1]) >= 0 &&
			    str_hex_value(p[i + 2]) >= 0) {
				c = (char)(str_hex_value(p[i + 1]) * 16 + str_hex_value(p[i + 2]));
				if (buf_append_char(out, c) != 0)
					return -1;
				i += 3;
				continue;
			}
			/* A bare '=': RFC 2045 6.7 note (2) says keep it. */
		}
		if (buf_append_char(out, c) != 0)
			return -1;
		i++;
	}
	return 0;
}

int mime_base64_decode(const char *p, size_t len, struct buf *out)
{
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '=')
			break;
		int v = str_base64_value((unsigned char)p[i]);
		if (v < 0)
			continue; /* line breaks and junk are skipped (RFC 2045 6.8) */
		acc = ((acc << 6) | (unsigned)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (buf_append_char(out, (char)((acc >> bits) & 0xff)) != 0)
				return -1;
		}
	}
	return 0;
}

struct mime_walker {
	mime_part_cb cb;
	void *ctx;
	size_t parts;
};

static int mime_walk_entity(struct mime_walker *w, const char *p, size_t len, int depth);

/* Is the line [l, l+n) a delimiter for boundary b? 1 = part delimiter, 2 = close, 0 = no. */
static int mime_is_delimiter(const char *l, size_t n, const char *b, size_t bl)
{
	if (n < bl + 2 || l[0] != '-' || l[1] != '-' || memcmp(l + 2, b, bl) != 0)
		return 0;
	size_t k = bl + 2;
	int kind = 1;
	if (n >= k + 2 && l[k] == '-' && l[k + 1] == '-') {
		kind = 2;
		k += 2;
	}
	return mime_is_blank(l + k, n - k) ? kind : 0;
}

static int mime_walk_multipart(struct mime_walker *w, const char *p, size_t len,
                               const char *boundary, int depth)
{
	size_t bl = strlen(boundary);
	size_t i = 0, next;
	size_t part_start = 0;
	bool in_part = false;
	while (i < len) {
		size_t e = mime_line_end(p, len, i, &next);
		int kind = mime_is_delimiter(p + i, e - i, boundary, bl);
		if (kind) {
			if (in_part) {
				/* The line break before the delimiter belongs to it. */
				size_t end = i;
				if (end > part_start && p[end - 1] == '\n')
					end--;
				if (end > part_start && p[end - 1] == '\r')
					end--;
				int rc = mime_walk_entity(w, p + part_start, end - part_start,
				                          depth + 1);
				if (rc != 0)
					return rc;
			}
			if (kind == 2)
				return 0;
			in_part = true;
			part_start = next;
		}
		i = next;
	}
	if (in_part && part_start < len) /* unterminated last part: read what is there */
		return mime_walk_entity(w, p + part_start, len - part_start, depth + 1);
	return 0;
}

static int mime_walk_entity(struct mime_walker *w, const char *p, size_t len, int depth)
{
	struct mime_headers h;
	struct mime_ctype ct;
	struct buf dec;
	size_t off;
	int rc;

	mime_headers_init(&h);
	buf_init(&dec, MIME_MAX_DECODED);
	if (mime_headers_parse(p, len, &h, &off) != 0) {
		rc = -1;
		goto out;
	}
	mime_ctype_parse(mime_headers_get(&h, "Content-Type"), &ct);
	if (mime_ctype_is(&ct, "multipart", NULL) && ct.boundary[0] && depth < MIME_MAX_DEPTH) {
		rc = mime_walk_multipart(w, p + off, len - off, ct.boundary, depth);
		goto out;
	}
	if (w->parts >= MIME_MAX_PARTS) {
		rc = 0;
		goto out;
	}
	w->parts++;
	const char *cte = mime_headers_get(&h, "Content-Transfer-Encoding");
	int drc;
	if (cte && str_iprefix(cte, strlen(cte), "base64"))
		drc = mime_base64_decode(p + off, len - off, &dec);
	else if (cte && str_iprefix(cte, strlen(cte), "quoted-printable"))
		drc = mime_qp_decode(p + off, len - off, &dec);
	else {
		size_t n = len - off > MIME_MAX_DECODED ? MIME_MAX_DECODED : len - off;
		drc = buf_append(&dec, p + off, n);
		if (drc == 0 && n < len - off)
			drc = -1;
	}
	struct mime_part part = {
	    .headers = &h,
	    .ctype = &ct,
	    .body = buf_cstr(&dec),
	    .len = dec.len,
	    .depth = depth,
	    .truncated = drc != 0,
	};
	rc = w->cb(w->ctx, &part);
out:
	buf_free(&dec);
	mime_headers_free(&h);
	return rc;
}

int mime_walk(const char *msg, size_t len, mime_part_cb cb, void *ctx)
{
	struct mime_walker w = {.cb = cb, .ctx = ctx, .parts = 0};
	return mime_walk_entity(&w, msg, len, 0);
}

int mime_to_utf8(const char *charset, const char *p, size_t n, struct buf *out)
{
	if (!charset || !charset[0] || str_ieq(charset, "us-ascii") || str_ieq(charset, "utf-8") ||
	    str_ieq(charset, "utf8"))
		return buf_append(out, p, n);
	/* Common aliases iconv spells differently, and supersets worth using. */
	const char *cs = charset;
	if (str_ieq(cs, "gb2312") || str_ieq(cs, "x-gbk"))
		cs = "GBK";
	else if (str_ieq(cs, "ks_c_5601-1987"))
		cs = "CP949";
	else if (str_ieq(cs, "iso-8859-1"))
		cs = "WINDOWS-1252";
	iconv_t cd = iconv_open("UTF-8", cs);
	if (cd == (iconv_t)-1)
		return -1;
	char chunk[4096];
	char *in = (char *)p;
	size_t left = n;
	int rc = 0;
	while (left > 0) {
		char *o = chunk;
		size_t room = sizeof chunk;
		size_t r = iconv(cd, &in, &left, &o, &room);
		int e = errno;
		if (buf_append(out, chunk, sizeof chunk - room) != 0) {
			rc = -1;
			break;
		}
		if (r != (size_t)-1)
			continue;
		if (e == E2BIG)
			continue;
		if (e == EILSEQ) {
			if (buf_append_char(out, '?') != 0) {
				rc = -1;
				break;
			}
			in++;
			left--;
			continue;
		}
		break; /* EINVAL: an incomplete sequence at the end */
	}
	/* Back to the initial shift state (ISO-2022-JP): flush what is pending. */
	char *o = chunk;
	size_t room = sizeof chunk;
	if (rc == 0 && iconv(cd, NULL, NULL, &o, &room) != (size_t)-1 &&
	    buf_append(out, chunk, sizeof chunk - room) != 0)
		rc = -1;
	iconv_close(cd);
	return rc;
}

/* One encoded word's text decoded (B or Q) into dec. 0, or -1 if malformed. */
static int mime_word_decode(char enc, const char *t, size_t n, struct buf *dec)
{
	if (enc == 'b' || enc == 'B')
		return mime_base64_decode(t, n, dec);
	if (enc != 'q' && enc != 'Q')
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = t[i];
		if (c == '_')
			c = ' ';
		else if (c == '=' && i + 2 < n && str_hex_value(t[i + 1]) >= 0 &&
		         str_hex_value(t[i + 2]) >= 0) {
			c = (char)(str_hex_value(t[i + 1]) * 16 + str_hex_value(t[i + 2]));
			i += 2;
		}
		if (buf_append_char(dec, c) != 0)
			return -1;
	}
	return 0;
}

/* An encoded word at p: its length, charset, encoding and text, or 0. */
static size_t mime_word_at(const char *p, size_t n, char *cs, size_t cssize, char *enc,
                           const char **text, size_t *tlen)
{
	if (n < 8 || p[0] != '=' || p[1] != '?')
		return 0;
	const char *q1 = memchr(p + 2, '?', n - 2);
	if (!q1 || q1 + 3 >= p + n || q1[2] != '?')
		return 0;
	size_t csn = (size_t)(q1 - (p + 2));
	const char *star = memchr(p + 2, '*', csn); /* RFC 2231 language suffix */
	if (star)
		csn = (size_t)(star - (p + 2));
	if (csn == 0 || str_copy_n(cs, cssize, p + 2, csn) != 0)
		return 0;
	*enc = q1[1];
	const char *t = q1 + 3;
	for (const char *e = t; e + 1 < p + n; e++) {
		if (*e == ' ' || *e == '\t' || *e == '\r' || *e == '\n')
			return 0;
		if (e[0] == '?' && e[1] == '=') {
			*text = t;
			*tlen = (size_t)(e - t);
			return (size_t)(e + 2 - p);
		}
	}
	return 0;
}

int mime_decode_words(const char *p, size_t n, struct buf *out)
{
	struct buf dec;
	size_t i = 0;
	size_t pending_ws = 0; /* white space after an encoded word, held back */
	bool after_word = false;
	int rc = 0;

	buf_init(&dec, MIME_MAX_VALUE);
	while (i < n) {
		char cs[64], enc;
		const char *t;
		size_t tl;
		size_t wl =
		    p[i] == '=' ? mime_word_at(p + i, n - i, cs, sizeof cs, &enc, &t, &tl) : 0;
		if (wl) {
			buf_reset(&dec);
			if (mime_word_decode(enc, t, tl, &dec) == 0 &&
			    mime_to_utf8(cs, dec.data ? dec.data : "", dec.len, out) == 0) {
				pending_ws = 0;
				after_word = true;
				i += wl;
				continue;
			}
		}
		if (after_word && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n')) {
			pending_ws++;
			i++;
			continue;
		}
		if (pending_ws) {
			if (buf_append(out, p + i - pending_ws, pending_ws) != 0) {
				rc = -1;
				break;
			}
			pending_ws = 0;
		}
		after_word = false;
		if (buf_append_char(out, p[i]) != 0) {
			rc = -1;
			break;
		}
		i++;
	}
	if (rc == 0 && pending_ws && buf_append(out, p + n - pending_ws, pending_ws) != 0)
		rc = -1;
	buf_free(&dec);
	return rc;
}
