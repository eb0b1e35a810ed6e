/*
 * smtp_address - RFC 5321 path and ESMTP parameter parser; see address.h.
 *
 * Grammar (RFC 5321 §4.1.2, RFC 6531 §3.3 for UTF-8, RFC 3461 §4 for xtext):
 *   Path        = "<" [ A-d-l ":" ] Mailbox ">"
 *   A-d-l       = At-domain *( "," At-domain )
 *   Mailbox     = Local-part "@" ( Domain / address-literal )
 *   Local-part  = Dot-string / Quoted-string
 *   Domain      = sub-domain *("." sub-domain)   (LDH labels, 1..63 octets)
 *   Mail-parameters = esmtp-param *(SP esmtp-param)
 * Every copy is bounded by the destination; the input is read only inside
 * [0, len).
 */
#include "smtp/address.h"

#include "core/dname.h"
#include "core/log.h"
#include "core/str.h"

#include <string.h>

/* A parse cursor over the argument. */
struct address_cursor {
	const unsigned char *s;
	size_t len;
	size_t pos;
};

static bool address_is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 5322 atext. */
static bool address_is_atext(unsigned char c)
{
	return address_is_alnum(c) || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* RFC 5321 qtextSMTP: %d32-33 / %d35-91 / %d93-126. */
static bool address_is_qtext(unsigned char c)
{
	return c == 32 || c == 33 || (c >= 35 && c <= 91) || (c >= 93 && c <= 126);
}

/* Length (2..4) of one well-formed UTF-8 sequence at s[0..n), 0 if there is none
 * (overlong forms, surrogates and values past U+10FFFF are refused). */
static size_t address_utf8_seq(const unsigned char *s, size_t n)
{
	if (n == 0 || s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	size_t need = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
	if (n < need)
		return 0;
	for (size_t i = 1; i < need; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if (s[0] == 0xe0 && s[1] < 0xa0)
		return 0; /* overlong */
	if (s[0] == 0xed && s[1] >= 0xa0)
		return 0; /* surrogate */
	if (s[0] == 0xf0 && s[1] < 0x90)
		return 0; /* overlong */
	if (s[0] == 0xf4 && s[1] >= 0x90)
		return 0; /* past U+10FFFF */
	return need;
}

static bool address_at(const struct address_cursor *c, char ch)
{
	return c->pos < c->len && c->s[c->pos] == (unsigned char)ch;
}

/* Appends n bytes to a NUL-terminated field of size cap; -1 when it does not fit. */
static int address_field_add(char *field, size_t *flen, size_t cap, const unsigned char *p,
                             size_t n)
{
	if (*flen + n >= cap)
		return -1;
	memcpy(field + *flen, p, n);
	*flen += n;
	field[*flen] = '\0';
	return 0;
}

/* An address literal starting at '['. Writes "[...]" into out. */
static enum smtp_address_status address_parse_literal(struct address_cursor *c, char *out,
                                                      size_t size, struct addr *lit)
{
	size_t start = c->pos;
	size_t end = start + 1;
	while (end < c->len && c->s[end] != ']' && c->s[end] != '[' && end - start < 64)
		end++;
	if (end >= c->len || c->s[end] != ']')
		return SMTP_ADDRESS_E_LITERAL;
	const char *inner = (const char *)c->s + start + 1;
	size_t ilen = end - start - 1;
	if (ilen == 0)
		return SMTP_ADDRESS_E_LITERAL;
	struct addr a;
	if (ilen > 5 && str_iprefix(inner, ilen, "IPv6:")) {
		if (addr_parse(inner + 5, ilen - 5, &a) != 0 || a.family != 6)
			return SMTP_ADDRESS_E_LITERAL;
	} else {
		/* IPv4 only: four decimal octets. A General-address-literal
		 * (tag:content) is not something we can route to. */
		for (size_t i = 0; i < ilen; i++)
			if (!((inner[i] >= '0' && inner[i] <= '9') || inner[i] == '.'))
				return SMTP_ADDRESS_E_LITERAL;
		if (addr_parse(inner, ilen, &a) != 0 || a.family != 4)
			return SMTP_ADDRESS_E_LITERAL;
	}
	if (str_copy_n(out, size, (const char *)c->s + start, end - start + 1) != 0)
		return SMTP_ADDRESS_E_LITERAL;
	*lit = a;
	c->pos = end + 1;
	return SMTP_ADDRESS_OK;
}

/* A domain (LDH labels, U-labels as UTF-8) or an address literal. Stops at the
 * first byte that cannot continue it; the caller checks what follows. */
static enum smtp_address_status address_parse_domain(struct address_cursor *c, char *out,
                                                     size_t size, unsigned *flags, struct addr *lit)
{
	if (address_at(c, '[')) {
		*flags |= SMTP_ADDRESS_F_LITERAL;
		return address_parse_literal(c, out, size, lit);
	}
	/* The run of what a domain may hold; then the one name check (core/dname)
	 * says whether its labels are right. */
	size_t start = c->pos;
	while (c->pos < c->len) {
		unsigned char ch = c->s[c->pos];
		if (address_is_alnum(ch) || ch == '-' || ch == '.') {
			c->pos++;
		} else if (ch >= 0x80) {
			size_t n = address_utf8_seq(c->s + c->pos, c->len - c->pos);
			if (n == 0)
				return SMTP_ADDRESS_E_BAD_CHAR;
			*flags |= SMTP_ADDRESS_F_UTF8;
			c->pos += n;
		} else {
			break;
		}
	}
	size_t total = c->pos - start;
	const char *d = (const char *)c->s + start;
	if (total > 1 && d[total - 1] == '.' && d[total - 2] != '.') {
		*flags |= SMTP_ADDRESS_F_TRAILING_DOT;
		total--;
	}
	switch (dname_check(d, total, DNAME_UTF8, NULL, 0)) {
	case DNAME_OK:
		break;
	case DNAME_E_LONG:
	case DNAME_E_LABEL_LONG:
		return SMTP_ADDRESS_E_DOMAIN_TOO_LONG;
	default:
		return SMTP_ADDRESS_E_DOMAIN_SYNTAX;
	}
	if (str_copy_n(out, size, (const char *)c->s + start, total) != 0)
		return SMTP_ADDRESS_E_DOMAIN_TOO_LONG;
	return SMTP_ADDRESS_OK;
}

/* "@a,@b:" before the mailbox; records "@a,@b". */
static enum smtp_address_status address_parse_route(struct address_cursor *c,
                                                    struct smtp_address *out)
{
	size_t start = c->pos;
	char dom[SMTP_ADDRESS_DOMAIN_MAX + 1];
	for (;;) {
		if (!address_at(c, '@'))
			return SMTP_ADDRESS_E_ROUTE_SYNTAX;
		c->pos++;
		unsigned f = 0;
		struct addr lit;
		enum smtp_address_status st = address_parse_domain(c, dom, sizeof dom, &f, &lit);
		if (st != SMTP_ADDRESS_OK)
			return st == SMTP_ADDRESS_E_BAD_CHAR ? st : SMTP_ADDRESS_E_ROUTE_SYNTAX;
		if (f & SMTP_ADDRESS_F_UTF8)
			out->flags |= SMTP_ADDRESS_F_UTF8;
		if (address_at(c, ','))
			c->pos++;
		else if (address_at(c, ':'))
			break;
		else
			return SMTP_ADDRESS_E_ROUTE_SYNTAX;
	}
	if (str_copy_n(out->route, sizeof out->route, (const char *)c->s + start, c->pos - start) !=
	    0)
		return SMTP_ADDRESS_E_PATH_TOO_LONG;
	c->pos++; /* ':' */
	out->flags |= SMTP_ADDRESS_F_SOURCE_ROUTE;
	return SMTP_ADDRESS_OK;
}

/* Dot-string or Quoted-string. Fills local_raw (as sent) and local (content). */
static enum smtp_address_status address_parse_local(struct address_cursor *c,
                                                    struct smtp_address *out)
{
	size_t start = c->pos;
	size_t clen = 0;
	if (address_at(c, '"')) {
		out->flags |= SMTP_ADDRESS_F_QUOTED;
		c->pos++;
		for (;;) {
			if (c->pos >= c->len)
				return SMTP_ADDRESS_E_LOCAL_SYNTAX;
			unsigned char ch = c->s[c->pos];
			if (ch == '"') {
				c->pos++;
				break;
			}
			size_t n = 1;
			const unsigned char *p = c->s + c->pos;
			if (ch == '\\') {
				if (c->pos + 1 >= c->len || c->s[c->pos + 1] < 32 ||
				    c->s[c->pos + 1] > 126)
					return SMTP_ADDRESS_E_LOCAL_SYNTAX;
				p++;
				c->pos++;
			} else if (ch >= 0x80) {
				n = address_utf8_seq(p, c->len - c->pos);
				if (n == 0)
					return SMTP_ADDRESS_E_BAD_CHAR;
				out->flags |= SMTP_ADDRESS_F_UTF8;
			} else if (!address_is_qtext(ch)) {
				return SMTP_ADDRESS_E_LOCAL_SYNTAX;
			}
			if (c->pos + n - start > SMTP_ADDRESS_LOCAL_MAX)
				return SMTP_ADDRESS_E_LOCAL_TOO_LONG;
			if (address_field_add(out->local, &clen, sizeof out->local, p, n) != 0)
				return SMTP_ADDRESS_E_LOCAL_TOO_LONG;
			c->pos += n;
		}
	} else {
		bool need_atom = true; /* at the start and after a dot */
		while (c->pos < c->len) {
			unsigned char ch = c->s[c->pos];
			size_t n = 1;
			if (ch == '.') {
				if (need_atom)
					return SMTP_ADDRESS_E_LOCAL_SYNTAX;
				need_atom = true;
			} else if (address_is_atext(ch)) {
				need_atom = false;
			} else if (ch >= 0x80) {
				n = address_utf8_seq(c->s + c->pos, c->len - c->pos);
				if (n == 0)
					return SMTP_ADDRESS_E_BAD_CHAR;
				out->flags |= SMTP_ADDRESS_F_UTF8;
				need_atom = false;
			} else {
				break;
			}
			if (c->pos + n - start > SMTP_ADDRESS_LOCAL_MAX)
				return SMTP_ADDRESS_E_LOCAL_TOO_LONG;
			if (address_field_add(out->local, &clen, sizeof out->local, c->s + c->pos,
			                      n) != 0)
				return SMTP_ADDRESS_E_LOCAL_TOO_LONG;
			c->pos += n;
		}
		if (need_atom)
			return SMTP_ADDRESS_E_LOCAL_SYNTAX; /* empty or ends in a dot */
	}
	if (c->pos - start > SMTP_ADDRESS_LOCAL_MAX)
		return SMTP_ADDRESS_E_LOCAL_TOO_LONG;
	if (str_copy_n(out->local_raw, sizeof out->local_raw, (const char *)c->s + start,
	               c->pos - start) != 0)
		return SMTP_ADDRESS_E_LOCAL_TOO_LONG;
	return SMTP_ADDRESS_OK;
}

int smtp_address_xtext_decode(const char *s, size_t len, char *out, size_t size)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		unsigned char v;
		if (ch == '+') {
			if (len - i < 3)
				return -1;
			unsigned char h = (unsigned char)s[i + 1], l = (unsigned char)s[i + 2];
			int hv = h >= '0' && h <= '9'   ? h - '0'
			         : h >= 'A' && h <= 'F' ? h - 'A' + 10
			                                : -1;
			int lv = l >= '0' && l <= '9'   ? l - '0'
			         : l >= 'A' && l <= 'F' ? l - 'A' + 10
			                                : -1;
			if (hv < 0 || lv < 0)
				return -1;
			v = (unsigned char)(hv * 16 + lv);
			i += 2;
		} else if (ch >= 33 && ch <= 126 && ch != '=') {
			v = ch;
		} else {
			return -1;
		}
		if (out) {
			if (o + 1 >= size)
				return -1;
			out[o] = (char)v;
		}
		o++;
	}
	if (out) {
		if (size == 0)
			return -1;
		out[o] = '\0';
	}
	return 0;
}

static bool address_keyword_is(const struct smtp_address_param *p, const char *key)
{
	return strcmp(p->key, key) == 0;
}

/* Checks a known parameter's value and records its meaning. */
static enum smtp_address_status address_check_param(struct smtp_address_param *p,
                                                    enum smtp_address_kind kind,
                                                    struct smtp_address *out, unsigned opts)
{
	const char *v = p->value;
	size_t vlen = strlen(v);
	bool mail = kind == SMTP_ADDRESS_MAIL;
	char tmp[SMTP_ADDRESS_VALUE_MAX + 1];
	if (address_keyword_is(p, "SIZE")) {
		if (!mail)
			return SMTP_ADDRESS_E_PARAM_UNKNOWN;
		if (!p->has_value || vlen > 20 ||
		    str_to_u64(v, vlen, 0, UINT64_MAX, &out->size) != 0)
			return SMTP_ADDRESS_E_PARAM_VALUE;
		out->has_size = true;
	} else if (address_keyword_is(p, "BODY")) {
		if (!mail)
			return SMTP_ADDRESS_E_PARAM_UNKNOWN;
		if (p->has_value && str_ieq(v, "7BIT"))
			out->body = SMTP_ADDRESS_BODY_7BIT;
		else if (p->has_value && str_ieq(v, "8BITMIME"))
			out->body = SMTP_ADDRESS_BODY_8BITMIME;
		else if (p->has_value && str_ieq(v, "BINARYMIME"))
			out->body = SMTP_ADDRESS_BODY_BINARYMIME;
		else
			return SMTP_ADDRESS_E_PARAM_VALUE;
	} else if (address_keyword_is(p, "SMTPUTF8")) {
		if (!mail)
			return SMTP_ADDRESS_E_PARAM_UNKNOWN;
		if (p->has_value)
			return SMTP_ADDRESS_E_PARAM_VALUE;
		out->smtputf8 = true;
	} else if (address_keyword_is(p, "RET")) {
		if (!mail)
			return SMTP_ADDRESS_E_PARAM_UNKNOWN;
		if (p->has_value && str_ieq(v, "FULL"))
			out->ret = SMTP_ADDRESS_RET_FULL;
		else if (p->has_value && str_ieq(v, "HDRS"))
			out->ret = SMTP_ADDRESS_RET_HDRS;
		else
			return SMTP_ADDRESS_E_PARAM_VALUE;
	} else if (address_keyword_is(p, "ENVID")) {
		if (!mail)
			return SMTP_ADDRESS_E_PARAM_UNKNOWN;
		/* RFC 3461 §4.4: at most 100 characters once decoded. */
		if (!p->has_value || smtp_address_xtext_decode(v, vlen, tmp, 101) != 0)
			return SMTP_ADDRESS_E_PARAM_VALUE;
	} else if (address_keyword_is(p, "AUTH")) {
		if (!mail)
			return SMTP_ADDRESS_E_PARAM_UNKNOWN;
		if (!p->has_value)
			return SMTP_ADDRESS_E_PARAM_VALUE;
		if (strcmp(v, "<>") != 0 && smtp_address_xtext_decode(v, vlen, NULL, 0) != 0)
			return SMTP_ADDRESS_E_PARAM_VALUE;
	} else if (address_keyword_is(p, "NOTIFY")) {
		if (mail)
			return SMTP_ADDRESS_E_PARAM_UNKNOWN;
		if (!p->has_value)
			return SMTP_ADDRESS_E_PARAM_VALUE;
		unsigned n = 0;
		size_t i = 0;
		while (i <= vlen) {
			size_t j = i;
			while (j < vlen && v[j] != ',')
				j++;
			unsigned bit = 0;
			if (str_ieq_n(v + i, j - i, "NEVER"))
				bit = SMTP_ADDRESS_NOTIFY_NEVER;
			else if (str_ieq_n(v + i, j - i, "SUCCESS"))
				bit = SMTP_ADDRESS_NOTIFY_SUCCESS;
			else if (str_ieq_n(v + i, j - i, "FAILURE"))
				bit = SMTP_ADDRESS_NOTIFY_FAILURE;
			else if (str_ieq_n(v + i, j - i, "DELAY"))
				bit = SMTP_ADDRESS_NOTIFY_DELAY;
			if (bit == 0 || (n & bit))
				return SMTP_ADDRESS_E_PARAM_VALUE;
			n |= bit;
			i = j + 1;
		}
		/* NEVER stands alone (RFC 3461 §4.1). */
		if ((n & SMTP_ADDRESS_NOTIFY_NEVER) && n != SMTP_ADDRESS_NOTIFY_NEVER)
			return SMTP_ADDRESS_E_PARAM_VALUE;
		out->notify = n;
	} else if (address_keyword_is(p, "ORCPT")) {
		if (mail)
			return SMTP_ADDRESS_E_PARAM_UNKNOWN;
		const char *semi = p->has_value ? memchr(v, ';', vlen) : NULL;
		if (!semi || semi == v || vlen > 500)
			return SMTP_ADDRESS_E_PARAM_VALUE;
		for (const char *q = v; q < semi; q++)
			if (!address_is_atext((unsigned char)*q))
				return SMTP_ADDRESS_E_PARAM_VALUE;
		size_t rest = vlen - (size_t)(semi + 1 - v);
		if (rest == 0 || smtp_address_xtext_decode(semi + 1, rest, NULL, 0) != 0)
			return SMTP_ADDRESS_E_PARAM_VALUE;
	} else if (!(opts & SMTP_ADDRESS_OPT_UNKNOWN)) {
		return SMTP_ADDRESS_E_PARAM_UNKNOWN;
	}
	return SMTP_ADDRESS_OK;
}

/* esmtp-param *(SP esmtp-param), starting after the path. */
static enum smtp_address_status address_parse_params(struct address_cursor *c,
                                                     enum smtp_address_kind kind, unsigned opts,
                                                     struct smtp_address *out)
{
	for (;;) {
		while (address_at(c, ' '))
			c->pos++;
		if (c->pos >= c->len)
			return SMTP_ADDRESS_OK;
		if (out->nparams >= SMTP_ADDRESS_PARAMS_MAX)
			return SMTP_ADDRESS_E_PARAM_TOO_MANY;
		struct smtp_address_param *p = &out->params[out->nparams];
		size_t klen = 0;
		while (c->pos < c->len && c->s[c->pos] != '=' && c->s[c->pos] != ' ') {
			unsigned char ch = c->s[c->pos];
			if (!(address_is_alnum(ch) || (ch == '-' && klen > 0)))
				return SMTP_ADDRESS_E_PARAM_SYNTAX;
			if (klen >= SMTP_ADDRESS_KEY_MAX)
				return SMTP_ADDRESS_E_PARAM_TOO_LONG;
			p->key[klen++] = (char)(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
			c->pos++;
		}
		p->key[klen] = '\0';
		if (klen == 0)
			return SMTP_ADDRESS_E_PARAM_SYNTAX;
		size_t vlen = 0;
		p->value[0] = '\0';
		if (address_at(c, '=')) {
			c->pos++;
			p->has_value = true;
			while (c->pos < c->len && c->s[c->pos] != ' ') {
				unsigned char ch = c->s[c->pos];
				/* esmtp-value = 1*(%d33-60 / %d62-126) */
				if (ch < 33 || ch > 126 || ch == '=')
					return SMTP_ADDRESS_E_PARAM_VALUE;
				if (vlen >= SMTP_ADDRESS_VALUE_MAX)
					return SMTP_ADDRESS_E_PARAM_TOO_LONG;
				p->value[vlen++] = (char)ch;
				c->pos++;
			}
			p->value[vlen] = '\0';
			if (vlen == 0)
				return SMTP_ADDRESS_E_PARAM_SYNTAX;
		}
		for (size_t i = 0; i < out->nparams; i++)
			if (strcmp(out->params[i].key, p->key) == 0)
				return SMTP_ADDRESS_E_PARAM_DUPLICATE;
		enum smtp_address_status st = address_check_param(p, kind, out, opts);
		if (st != SMTP_ADDRESS_OK)
			return st;
		out->nparams++;
	}
}

static enum smtp_address_status address_parse_all(struct address_cursor *c,
                                                  enum smtp_address_kind kind, unsigned opts,
                                                  struct smtp_address *out)
{
	for (size_t i = 0; i < c->len; i++) {
		if (c->s[i] < 0x20 || c->s[i] == 0x7f) {
			c->pos = i;
			return SMTP_ADDRESS_E_BAD_CHAR;
		}
	}
	while (address_at(c, ' '))
		c->pos++;
	if (c->pos >= c->len)
		return SMTP_ADDRESS_E_EMPTY;
	bool bare = false;
	size_t path_start = c->pos;
	if (address_at(c, '<')) {
		c->pos++;
	} else {
		if (!(opts & SMTP_ADDRESS_OPT_BARE))
			return SMTP_ADDRESS_E_BRACKETS;
		bare = true;
		out->flags |= SMTP_ADDRESS_F_BARE;
	}
	enum smtp_address_status st;
	if (!bare && address_at(c, '>')) {
		if (kind != SMTP_ADDRESS_MAIL)
			return SMTP_ADDRESS_E_NULL_PATH;
		out->flags |= SMTP_ADDRESS_F_NULL;
		c->pos++;
		return address_parse_params(c, kind, opts, out);
	}
	if (address_at(c, '@')) {
		st = address_parse_route(c, out);
		if (st != SMTP_ADDRESS_OK)
			return st;
	}
	st = address_parse_local(c, out);
	if (st != SMTP_ADDRESS_OK)
		return st;
	if (address_at(c, '@')) {
		c->pos++;
		st = address_parse_domain(c, out->domain, sizeof out->domain, &out->flags,
		                          &out->literal);
		if (st != SMTP_ADDRESS_OK)
			return st;
		bool end_ok = bare ? (c->pos >= c->len || address_at(c, ' ')) : address_at(c, '>');
		if (!end_ok)
			return (out->flags & SMTP_ADDRESS_F_LITERAL) ? SMTP_ADDRESS_E_LITERAL
			                                             : SMTP_ADDRESS_E_DOMAIN_SYNTAX;
	} else {
		bool end_ok = bare ? (c->pos >= c->len || address_at(c, ' ')) : address_at(c, '>');
		if (!end_ok)
			return c->pos >= c->len ? SMTP_ADDRESS_E_BRACKETS
			                        : SMTP_ADDRESS_E_LOCAL_SYNTAX;
		/* RFC 5321 §4.1.1.3: "<Postmaster>" without a domain, RCPT only. */
		if (kind == SMTP_ADDRESS_RCPT && !(out->flags & SMTP_ADDRESS_F_QUOTED) &&
		    !(out->flags & SMTP_ADDRESS_F_SOURCE_ROUTE) &&
		    str_ieq(out->local, "postmaster"))
			out->flags |= SMTP_ADDRESS_F_NO_DOMAIN;
		else
			return SMTP_ADDRESS_E_UNQUALIFIED;
	}
	if (!bare)
		c->pos++; /* '>' */
	size_t plen = c->pos - path_start + (bare ? 2 : 0);
	if (plen > SMTP_ADDRESS_PATH_MAX)
		return SMTP_ADDRESS_E_PATH_TOO_LONG;
	if (c->pos < c->len && !address_at(c, ' '))
		return SMTP_ADDRESS_E_PARAM_SYNTAX;
	st = address_parse_params(c, kind, opts, out);
	if (st != SMTP_ADDRESS_OK)
		return st;
	if ((out->flags & SMTP_ADDRESS_F_UTF8) && !(opts & SMTP_ADDRESS_OPT_SMTPUTF8) &&
	    !(kind == SMTP_ADDRESS_MAIL && out->smtputf8))
		return SMTP_ADDRESS_E_UTF8;
	return SMTP_ADDRESS_OK;
}

enum smtp_address_status smtp_address_parse(const char *arg, size_t len,
                                            enum smtp_address_kind kind, unsigned opts,
                                            struct smtp_address *out)
{
	memset(out, 0, sizeof *out);
	if (!arg || len == 0)
		return SMTP_ADDRESS_E_EMPTY;
	struct address_cursor c = {(const unsigned char *)arg, len, 0};
	enum smtp_address_status st = address_parse_all(&c, kind, opts, out);
	if (st != SMTP_ADDRESS_OK) {
		size_t off = c.pos;
		memset(out, 0, sizeof *out);
		out->error_offset = off;
	}
	return st;
}

enum smtp_address_status smtp_address_mailbox(const char *s, size_t len, unsigned opts,
                                              struct smtp_address *out)
{
	opts = (opts & SMTP_ADDRESS_OPT_SMTPUTF8) | SMTP_ADDRESS_OPT_BARE;
	enum smtp_address_status st = smtp_address_parse(s, len, SMTP_ADDRESS_MAIL, opts, out);
	if (st != SMTP_ADDRESS_OK)
		return st;
	/* What the SMTP argument may have around or before the mailbox. */
	if (!(out->flags & SMTP_ADDRESS_F_BARE))
		st = SMTP_ADDRESS_E_BRACKETS;
	else if (out->flags & SMTP_ADDRESS_F_SOURCE_ROUTE)
		st = SMTP_ADDRESS_E_ROUTE_SYNTAX;
	else if (out->nparams > 0 || s[0] == ' ' || s[len - 1] == ' ')
		st = SMTP_ADDRESS_E_PARAM_SYNTAX;
	if (st != SMTP_ADDRESS_OK)
		memset(out, 0, sizeof *out);
	return st;
}

const char *smtp_address_reply(enum smtp_address_status st, enum smtp_address_kind kind)
{
	bool mail = kind == SMTP_ADDRESS_MAIL;
	switch (st) {
	case SMTP_ADDRESS_OK:
		return mail ? "250 2.1.0 Ok" : "250 2.1.5 Ok";
	case SMTP_ADDRESS_E_EMPTY:
	case SMTP_ADDRESS_E_BRACKETS:
		return mail ? "501 5.5.4 Syntax: MAIL FROM:<address>"
		            : "501 5.5.4 Syntax: RCPT TO:<address>";
	case SMTP_ADDRESS_E_BAD_CHAR:
		return mail ? "501 5.1.7 Bad sender address syntax: invalid character"
		            : "501 5.1.3 Bad recipient address syntax: invalid character";
	case SMTP_ADDRESS_E_NULL_PATH:
		return "501 5.1.3 Null recipient address not allowed";
	case SMTP_ADDRESS_E_LOCAL_SYNTAX:
		return mail ? "501 5.1.7 Bad sender address syntax"
		            : "501 5.1.3 Bad recipient address syntax";
	case SMTP_ADDRESS_E_LOCAL_TOO_LONG:
		return mail ? "553 5.1.7 Sender address rejected: local part too long"
		            : "553 5.1.3 Recipient address rejected: local part too long";
	case SMTP_ADDRESS_E_UNQUALIFIED:
		return mail ? "553 5.1.7 Sender address rejected: need fully-qualified address"
		            : "553 5.1.3 Recipient address rejected: need fully-qualified address";
	case SMTP_ADDRESS_E_DOMAIN_SYNTAX:
		return mail ? "501 5.1.7 Bad sender domain syntax"
		            : "501 5.1.2 Bad recipient domain syntax";
	case SMTP_ADDRESS_E_DOMAIN_TOO_LONG:
		return mail ? "553 5.1.7 Sender domain too long"
		            : "553 5.1.2 Recipient domain too long";
	case SMTP_ADDRESS_E_LITERAL:
		return mail ? "501 5.1.7 Bad or unsupported address literal"
		            : "501 5.1.2 Bad or unsupported address literal";
	case SMTP_ADDRESS_E_ROUTE_SYNTAX:
		return mail ? "501 5.1.7 Bad source route syntax"
		            : "501 5.1.3 Bad source route syntax";
	case SMTP_ADDRESS_E_PATH_TOO_LONG:
		return mail ? "553 5.1.7 Sender address too long"
		            : "553 5.1.3 Recipient address too long";
	case SMTP_ADDRESS_E_UTF8:
		return "553 5.6.7 Non-ASCII address requires SMTPUTF8";
	case SMTP_ADDRESS_E_PARAM_SYNTAX:
		return "501 5.5.4 Bad parameter syntax";
	case SMTP_ADDRESS_E_PARAM_UNKNOWN:
		return "555 5.5.4 Unsupported parameter";
	case SMTP_ADDRESS_E_PARAM_DUPLICATE:
		return "501 5.5.4 Duplicate parameter";
	case SMTP_ADDRESS_E_PARAM_VALUE:
		return "501 5.5.4 Bad parameter value";
	case SMTP_ADDRESS_E_PARAM_TOO_MANY:
		return "501 5.5.4 Too many parameters";
	case SMTP_ADDRESS_E_PARAM_TOO_LONG:
		return "501 5.5.4 Parameter too long";
	}
	panic("smtp_address: status %d", (int)st);
}

const char *smtp_address_status_name(enum smtp_address_status st)
{
	static const char *const names[] = {
	    "ok",
	    "empty",
	    "brackets",
	    "bad_char",
	    "null_path",
	    "local_syntax",
	    "local_too_long",
	    "unqualified",
	    "domain_syntax",
	    "domain_too_long",
	    "literal",
	    "route_syntax",
	    "path_too_long",
	    "utf8",
	    "param_syntax",
	    "param_unknown",
	    "param_duplicate",
	    "param_value",
	    "param_too_many",
	    "param_too_long",
	};
	if ((size_t)st >= sizeof names / sizeof names[0])
		panic("smtp_address: status %d", (int)st);
	return names[st];
}

int smtp_address_format(const struct smtp_address *a, char *out, size_t size)
{
	if (size == 0)
		return -1;
	out[0] = '\0';
	if (a->flags & SMTP_ADDRESS_F_NULL)
		return 0;
	if (str_append(out, size, a->local_raw) != 0)
		return -1;
	if (a->flags & SMTP_ADDRESS_F_NO_DOMAIN)
		return 0;
	if (str_append(out, size, "@") != 0 || str_append(out, size, a->domain) != 0)
		return -1;
	return 0;
}

const struct smtp_address_param *smtp_address_param_get(const struct smtp_address *a,
                                                        const char *key)
{
	for (size_t i = 0; i < a->nparams && i < SMTP_ADDRESS_PARAMS_MAX; i++)
		if (str_ieq(a->params[i].key, key))
			return &a->params[i];
	return NULL;
}
