/*
 * msg - RFC 5322 header-section reader; see msg.h.
 *
 * RFC 5322 2.2: a field is a name of printable ASCII other than ':', a colon,
 * and a body; 2.2.3: a CRLF followed by white space is folding. 4.5 (obsolete
 * syntax) allows white space between the name and the colon, which we accept.
 * Everything is found with memchr over (pointer, length): NULs in the input
 * are data, not terminators.
 */
#include "forensics/msg.h"

#include "core/str.h"

#include <string.h>

void msg_reader_init_opts(struct msg_reader *r, const char *p, size_t len, unsigned flags)
{
	memset(r, 0, sizeof *r);
	r->p = p;
	r->len = p ? len : 0;
	r->flags = flags;
}

void msg_reader_init(struct msg_reader *r, const char *p, size_t len)
{
	msg_reader_init_opts(r, p, len, 0);
}

/* End of the line starting at pos (before CR LF or LF) and the start of the next. */
static void msg_line(const struct msg_reader *r, size_t pos, size_t *end, size_t *next)
{
	const char *lf = memchr(r->p + pos, '\n', r->len - pos);
	if (!lf) {
		*end = r->len;
		*next = r->len;
		return;
	}
	*end = (size_t)(lf - r->p);
	*next = *end + 1;
	if (*end > pos && r->p[*end - 1] == '\r')
		(*end)--;
}

static bool msg_is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* [pos, end) is white space only (MSG_WSP_LINE_ENDS). */
static bool msg_wsp_only(const struct msg_reader *r, size_t pos, size_t end)
{
	if (!(r->flags & MSG_WSP_LINE_ENDS))
		return false;
	for (size_t i = pos; i < end; i++)
		if (!msg_is_wsp(r->p[i]))
			return false;
	return true;
}

/* Length of the field name at the start of [pos, end) up to its colon; 0 if none. */
static size_t msg_name(const struct msg_reader *r, size_t pos, size_t end, size_t *colon)
{
	size_t i = pos;
	while (i < end && i - pos <= MSG_NAME_MAX) {
		unsigned char c = (unsigned char)r->p[i];
		if (c == ':' || c < 33 || c > 126)
			break;
		i++;
	}
	size_t name_len = i - pos;
	if (name_len == 0 || name_len > MSG_NAME_MAX)
		return 0;
	while (i < end && msg_is_wsp(r->p[i]))
		i++;
	if (i >= end || r->p[i] != ':')
		return 0;
	*colon = i;
	return name_len;
}

static int msg_fail(struct msg_reader *r, enum msg_error e)
{
	r->error = e;
	return -1;
}

int msg_next(struct msg_reader *r, struct msg_field *f)
{
	if (r->error != MSG_ERR_NONE)
		return -1;
	while (!r->done) {
		if (r->pos >= r->len) {
			r->done = true;
			break;
		}
		if (r->pos > MSG_HEADER_MAX)
			return msg_fail(r, MSG_ERR_HEADER_TOO_LARGE);
		size_t start = r->pos, end, next;
		msg_line(r, start, &end, &next);
		if (end > MSG_HEADER_MAX)
			return msg_fail(r, MSG_ERR_HEADER_TOO_LARGE);
		if (end == start || msg_wsp_only(r, start, end)) {
			r->pos = next;
			r->done = true;
			r->blank_line = true;
			break;
		}
		if (start == 0 && end - start >= 5 && memcmp(r->p, "From ", 5) == 0) {
			r->mbox_from = true;
			r->pos = next;
			continue;
		}
		size_t colon = 0, name_len = 0;
		if (!msg_is_wsp(r->p[start]))
			name_len = msg_name(r, start, end, &colon);
		if (name_len == 0) {
			/* Not a field, or a continuation with no field before it. */
			r->malformed++;
			if (r->flags & MSG_NONFIELD_ENDS) {
				r->done = true;
				r->nonfield_end = true;
				break; /* the body starts with this line */
			}
			r->pos = next;
			continue;
		}
		/* Take the continuation lines. */
		size_t vend = end;
		while (next < r->len && msg_is_wsp(r->p[next])) {
			if (next - start > MSG_FIELD_MAX)
				return msg_fail(r, MSG_ERR_FIELD_TOO_LARGE);
			size_t cend, cnext;
			msg_line(r, next, &cend, &cnext);
			if (msg_wsp_only(r, next, cend))
				break; /* it ends the section: the next msg_next() sees it */
			vend = cend;
			next = cnext;
		}
		if (vend - start > MSG_FIELD_MAX)
			return msg_fail(r, MSG_ERR_FIELD_TOO_LARGE);
		if (next > MSG_HEADER_MAX + 1)
			return msg_fail(r, MSG_ERR_HEADER_TOO_LARGE);
		if (r->fields >= MSG_FIELDS_MAX)
			return msg_fail(r, MSG_ERR_TOO_MANY_FIELDS);
		r->fields++;
		r->pos = next;
		f->name = r->p + start;
		f->name_len = name_len;
		f->value = r->p + colon + 1;
		f->value_len = vend - (colon + 1);
		return 1;
	}
	return 0;
}

size_t msg_body_offset(const struct msg_reader *r)
{
	return r->done ? r->pos : r->len;
}

bool msg_field_is(const struct msg_field *f, const char *name)
{
	return str_ieq_n(f->name, f->name_len, name);
}

int msg_unfold(const struct msg_field *f, struct buf *out)
{
	return msg_unfold_opts(f, 0, out);
}

int msg_unfold_opts(const struct msg_field *f, unsigned flags, struct buf *out)
{
	const char *v = f->value;
	size_t n = f->value_len;
	buf_reset(out);
	while (n > 0 && (msg_is_wsp(v[0]) || v[0] == '\r' || v[0] == '\n')) {
		v++;
		n--;
	}
	while (n > 0 && (msg_is_wsp(v[n - 1]) || v[n - 1] == '\r' || v[n - 1] == '\n'))
		n--;
	/* Append runs of plain bytes at once. Line ends vanish (MIME: a line break
	 * and the indentation after it become one space); other control bytes
	 * become spaces (MIME: only NUL does). */
	bool mime = flags & MSG_UNFOLD_MIME;
	size_t run = 0;
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = i < n ? (unsigned char)v[i] : 0;
		bool plain =
		    i < n && (mime ? c != 0 && c != '\r' && c != '\n' : c >= 32 && c != 127);
		if (plain) {
			run++;
			continue;
		}
		if (run > 0 && buf_append(out, v + i - run, run) < 0)
			return -1;
		run = 0;
		if (i == n)
			break;
		if (c == '\r' || (c == '\n' && !mime))
			continue;
		if (c == '\n')
			while (i + 1 < n && msg_is_wsp(v[i + 1]))
				i++;
		if (buf_append_char(out, ' ') < 0)
			return -1;
	}
	/* An empty buf has no data yet; make buf_cstr() and data agree. */
	if (out->data == NULL && buf_append(out, "", 0) < 0)
		return -1;
	return 0;
}

const char *msg_error_str(enum msg_error e)
{
	switch (e) {
	case MSG_ERR_NONE:
		return "no error";
	case MSG_ERR_HEADER_TOO_LARGE:
		return "header section too large";
	case MSG_ERR_FIELD_TOO_LARGE:
		return "header field too large";
	case MSG_ERR_TOO_MANY_FIELDS:
		return "too many header fields";
	}
	return "unknown error";
}
