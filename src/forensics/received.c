/*
 * received - Received header parser; see received.h and docs/received.md.
 *
 * RFC 5321 4.4: Stamp = From-domain By-domain Opt-info [CFWS] ";" date-time,
 * Opt-info = [Via] [With] [ID] [For]. Real headers bend this everywhere, so
 * the value is cut into words and comments, the keywords (from, by, via,
 * with, id, for) switch clauses, and the comments of the from clause are read
 * as TCP-info in each vendor's style:
 *
 *   Postfix/Sendmail  from HELO (rdns [ip]) / from HELO ([ip]) / (ident@rdns [ip])
 *   Exim              from rdns ([ip] helo=HELO) / from [ip] (helo=HELO) / [ip]:port
 *   qmail, qpsmtpd    from rdns (HELO name) (ip) / (user@ip) with the SMTP AUTH patch
 *   Exchange          from host (ip) by host (ip) with Microsoft SMTP Server ...
 *
 * An address inside a comment (what the server saw on the socket) wins over a
 * literal in the from word (what the client said in HELO), except in the
 * Exim form where the from word is the server's own text.
 *
 * Authentication markers are believed only where each MTA writes them, never
 * in text a client chose (its HELO, its recipient address), so a client
 * cannot make trace name an account (issue 16):
 *
 *   "(Authenticated sender: X)" (Postfix, Exchange), "(authenticated ...)"
 *   (Sendmail), "(AUTH: MECH X, ...)" (Courier): a comment of the from
 *   clause after its TCP-info comment, and the last thing before "by";
 *   "auth=yes user=X" (OpenSMTPD), "A=mech:X" (Exim configurations): after
 *   "by" and before "for", where only the receiving server writes;
 *   the "with" protocol (ESMTPA...): its first value, after "by".
 * "for" is the last clause: keywords after it are the recipient's text.
 */
#include "forensics/received.h"

#include "forensics/logline.h"

#include "core/log.h"
#include "core/str.h"
#include "forensics/date.h"

#include <string.h>

enum received_clause {
	RECEIVED_NONE,
	RECEIVED_FROM,
	RECEIVED_BY,
	RECEIVED_VIA,
	RECEIVED_WITH,
	RECEIVED_ID,
	RECEIVED_FOR,
};

struct received_tok {
	bool comment; /* p/len is the text inside the parentheses */
	const char *p;
	size_t len;
};

/* What the parse collected before the fields are decided. */
struct received_state {
	enum received_clause clause;
	bool expect_value;
	bool with_extend;
	unsigned with_words;
	const char *from_word;
	size_t from_word_len;
	char helo[RECEIVED_HOST_MAX]; /* from "helo=" (Exim) or "(HELO x)" (qmail) */
	char rdns[RECEIVED_HOST_MAX]; /* the name before [ip] in a comment */
	bool comment_ip_set;
	struct addr comment_ip;
	bool comment_auth;
	char comment_user[RECEIVED_USER_MAX];
	unsigned from_comments; /* comments seen in the from clause */
	bool pending_auth;      /* an auth comment that counts if "by" comes next */
	char pending_user[RECEIVED_USER_MAX];
	int auth_eq; /* OpenSMTPD "auth=yes" 1, "auth=no" -1, absent 0 */
	char user_eq[RECEIVED_USER_MAX];
	char remote_user[RECEIVED_USER_MAX]; /* qmail (user@ip) */
};

#define RECEIVED_COMMENT_WORDS 32

static bool received_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Copies len bytes of p into dst (always NUL-terminated), truncating by design and
 * turning control characters into '?', so the result is safe to print. */
static void received_copy(char *dst, size_t size, const char *p, size_t len)
{
	logspan_copy((struct logspan){p, len}, dst, size); /* control bytes as '?' */
}

/* A host name as written, without the root dot ("mail.example.com." in Gmail's). */
static void received_copy_host(char *dst, size_t size, const char *p, size_t len)
{
	while (len > 1 && p[len - 1] == '.')
		len--;
	received_copy(dst, size, p, len);
}

/* Skips a balanced comment starting at s[*pos] == '('; *pos ends after the ')'.
 * Returns the end of its content. An unterminated comment runs to the end. */
static size_t received_skip_comment(const char *s, size_t len, size_t *pos)
{
	size_t depth = 0, i = *pos;
	while (i < len) {
		char c = s[i];
		if (c == '\\' && i + 1 < len) {
			i += 2;
			continue;
		}
		if (c == '(')
			depth++;
		else if (c == ')' && --depth == 0) {
			*pos = i + 1;
			return i;
		}
		i++;
	}
	*pos = len;
	return len;
}

static bool received_next_tok(const char *s, size_t len, size_t *pos, struct received_tok *t)
{
	for (;;) {
		while (*pos < len && received_is_space(s[*pos]))
			(*pos)++;
		if (*pos >= len)
			return false;
		if (s[*pos] == ')') { /* stray close: skip */
			(*pos)++;
			continue;
		}
		break;
	}
	if (s[*pos] == '(') {
		size_t start = *pos + 1;
		size_t end = received_skip_comment(s, len, pos);
		t->comment = true;
		t->p = s + start;
		t->len = end - start;
		return true;
	}
	size_t start = *pos;
	while (*pos < len && !received_is_space(s[*pos]) && s[*pos] != '(' && s[*pos] != ')')
		(*pos)++;
	t->comment = false;
	t->p = s + start;
	t->len = *pos - start;
	return true;
}

/* Offset of the last ';' outside comments, or len if there is none. */
static size_t received_date_split(const char *s, size_t len)
{
	size_t last = len, i = 0;
	while (i < len) {
		if (s[i] == '(') {
			(void)received_skip_comment(s, len, &i);
			continue;
		}
		if (s[i] == ';')
			last = i;
		i++;
	}
	return last;
}

int received_parse_ip(const char *s, size_t len, struct addr *out)
{
	if (len >= 2 && s[0] == '[') {
		/* "[ip]" optionally followed by ":port" (Exim's log-style rcvhost). */
		const char *close = memchr(s, ']', len);
		if (!close)
			return -1;
		size_t rest = len - (size_t)(close - s) - 1;
		if (rest > 0) {
			uint64_t port;
			if (close[1] != ':' || str_to_u64(close + 2, rest - 1, 0, 65535, &port) < 0)
				return -1;
		}
		len = (size_t)(close - s) - 1;
		s++;
	}
	if (str_iprefix(s, len, "IPv6:")) {
		s += 5;
		len -= 5;
		if (len == 0 || !memchr(s, ':', len))
			return -1;
	}
	if (len == 0 || s[0] == '[' || addr_parse(s, len, out) < 0)
		return -1;
	addr_unmap(out);
	return 0;
}

bool received_proto_is_auth(const char *p, size_t len)
{
	static const char *const extra[] = {"ASMTP", "HTTPU", "HTTPSU", "MAPI"};
	for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
		if (str_ieq_n(p, len, extra[i]))
			return true;
	if (str_iprefix(p, len, "UTF8")) {
		p += 4;
		len -= 4;
	}
	if (len > 0 && (p[0] == 'E' || p[0] == 'e')) {
		p++;
		len--;
	}
	if (!str_iprefix(p, len, "SMTP") && !str_iprefix(p, len, "LMTP"))
		return false;
	p += 4;
	len -= 4;
	if (len > 0 && (p[0] == 'S' || p[0] == 's')) {
		p++;
		len--;
	}
	return len == 1 && (p[0] == 'A' || p[0] == 'a');
}

struct received_word {
	const char *p;
	size_t len;
};

/* Splits a comment's text into words at white space; nested parentheses, trailing
 * commas and semicolons are trimmed off each word. Returns the count. */
static size_t received_words(const char *p, size_t len, struct received_word *w, size_t max)
{
	size_t n = 0, i = 0;
	while (i < len && n < max) {
		while (i < len && received_is_space(p[i]))
			i++;
		size_t start = i;
		while (i < len && !received_is_space(p[i]))
			i++;
		const char *wp = p + start;
		size_t wl = i - start;
		while (wl > 0 && wp[0] == '(') {
			wp++;
			wl--;
		}
		while (wl > 0 && (wp[wl - 1] == ')' || wp[wl - 1] == ',' || wp[wl - 1] == ';'))
			wl--;
		if (wl > 0) {
			w[n].p = wp;
			w[n].len = wl;
			n++;
		}
	}
	return n;
}

static bool received_word_is(const struct received_word *w, const char *s)
{
	return str_ieq_n(w->p, w->len, s);
}

/* "A=dovecot_login:sam" (Exim's log notation, which some configurations copy
 * into the header), "auth=yes", "user=sam" (OpenSMTPD's received-auth). */
static void received_word_auth(struct received_state *st, const char *p, size_t len)
{
	/* Only the receiving server's part: from and for carry the client's words. */
	if (st->clause != RECEIVED_BY && st->clause != RECEIVED_VIA &&
	    st->clause != RECEIVED_WITH && st->clause != RECEIVED_ID)
		return;
	if (len > 2 && p[0] == 'A' && p[1] == '=') {
		const char *colon = memchr(p, ':', len);
		st->comment_auth = true;
		if (colon && (size_t)(colon - p) + 1 < len)
			received_copy(st->comment_user, sizeof st->comment_user, colon + 1,
			              len - (size_t)(colon - p) - 1);
	} else if (str_ieq_n(p, len, "auth=yes")) {
		st->auth_eq = 1;
	} else if (str_ieq_n(p, len, "auth=no")) {
		st->auth_eq = -1;
	} else if (len > 5 && str_iprefix(p, len, "user=")) {
		received_copy(st->user_eq, sizeof st->user_eq, p + 5, len - 5);
	}
}

/* Reads the TCP-info of a from-clause comment: addresses, HELO, reverse DNS. */
static void received_tcp_info(struct received_state *st, const struct received_word *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct addr a;
		if (str_iprefix(w[i].p, w[i].len, "helo=")) {
			received_copy_host(st->helo, sizeof st->helo, w[i].p + 5, w[i].len - 5);
		} else if ((received_word_is(&w[i], "HELO") || received_word_is(&w[i], "EHLO")) &&
		           i + 1 < n) {
			received_copy_host(st->helo, sizeof st->helo, w[i + 1].p, w[i + 1].len);
			i++;
		} else if (w[i].p[0] == '[' && received_parse_ip(w[i].p, w[i].len, &a) == 0) {
			if (st->comment_ip_set)
				continue;
			st->comment_ip = a;
			st->comment_ip_set = true;
			if (i > 0 && !memchr(w[i - 1].p, '=', w[i - 1].len) &&
			    !received_word_is(&w[i - 1], "HELO")) {
				/* "rdns [ip]" or Sendmail's "ident@rdns [ip]". */
				const char *h = w[i - 1].p;
				size_t hl = w[i - 1].len;
				const char *at = memchr(h, '@', hl);
				if (at) {
					hl -= (size_t)(at - h) + 1;
					h = at + 1;
				}
				received_copy_host(st->rdns, sizeof st->rdns, h, hl);
			}
		} else if (received_parse_ip(w[i].p, w[i].len, &a) == 0) {
			if (!st->comment_ip_set) { /* qmail "(203.0.113.5)", Exchange
				                      "(2001:db8::5)" */
				st->comment_ip = a;
				st->comment_ip_set = true;
			}
		} else {
			const char *at = NULL;
			for (size_t k = w[i].len; k > 0; k--)
				if (w[i].p[k - 1] == '@') {
					at = w[i].p + k - 1;
					break;
				}
			size_t after = at ? w[i].len - (size_t)(at - w[i].p) - 1 : 0;
			if (at && after > 0 && !st->comment_ip_set &&
			    received_parse_ip(at + 1, after, &a) == 0) {
				/* qmail with the SMTP AUTH patch: "(user@ip)". */
				st->comment_ip = a;
				st->comment_ip_set = true;
				received_copy(st->remote_user, sizeof st->remote_user, w[i].p,
				              (size_t)(at - w[i].p));
			}
		}
	}
}

static void received_comment(struct received_state *st, struct received *out, const char *p,
                             size_t len)
{
	struct received_word w[RECEIVED_COMMENT_WORDS];
	size_t n = received_words(p, len, w, RECEIVED_COMMENT_WORDS);
	st->pending_auth = false;
	if (n == 0)
		return;
	/* An auth comment counts only in the from clause after the TCP-info comment,
	 * and only if "by" follows it (received_parse commits it there). */
	bool placed = st->clause == RECEIVED_FROM && st->from_comments > 0;
	const struct received_word *user = NULL;
	bool auth = false;
	if (n >= 2 && received_word_is(&w[0], "Authenticated") &&
	    received_word_is(&w[1], "sender:")) {
		/* Postfix smtpd_sasl_authenticated_header, also Exchange and others. */
		auth = n <= 3;
		user = n == 3 ? &w[2] : NULL;
	} else if (received_word_is(&w[0], "authenticated")) {
		/* Sendmail "(authenticated bits=0)", "(authenticated as sam)". */
		auth = true;
		if (n >= 3 && (received_word_is(&w[1], "as") || received_word_is(&w[1], "user")))
			user = &w[2];
	} else if (received_word_is(&w[0], "AUTH:")) {
		/* Courier "(AUTH: LOGIN sam, TLS: ...)". */
		auth = true;
		user = n >= 3 ? &w[2] : NULL;
	}
	if (auth && placed) {
		st->pending_auth = true;
		st->pending_user[0] = '\0';
		if (user)
			received_copy(st->pending_user, sizeof st->pending_user, user->p,
			              user->len);
	}
	if (st->clause == RECEIVED_FROM)
		st->from_comments++;
	for (size_t i = 0; i < n; i++) {
		received_word_auth(st, w[i].p, w[i].len);
		/* qmail "(qmail 123 invoked by uid 1001)", Postfix "(Postfix, from userid 1001)".
		 */
		if (i + 2 < n &&
		    ((received_word_is(&w[i], "by") && received_word_is(&w[i + 1], "uid")) ||
		     (received_word_is(&w[i], "from") && received_word_is(&w[i + 1], "userid")))) {
			uint64_t uid;
			out->local = true;
			if (str_to_u64(w[i + 2].p, w[i + 2].len, 0, UINT32_MAX, &uid) == 0)
				received_copy(out->local_uid, sizeof out->local_uid, w[i + 2].p,
				              w[i + 2].len);
		}
	}
	if (st->clause == RECEIVED_FROM)
		received_tcp_info(st, w, n);
}

static enum received_clause received_keyword(const char *p, size_t len)
{
	if (str_ieq_n(p, len, "from"))
		return RECEIVED_FROM;
	if (str_ieq_n(p, len, "by"))
		return RECEIVED_BY;
	if (str_ieq_n(p, len, "via"))
		return RECEIVED_VIA;
	if (str_ieq_n(p, len, "with"))
		return RECEIVED_WITH;
	if (str_ieq_n(p, len, "id"))
		return RECEIVED_ID;
	if (str_ieq_n(p, len, "for"))
		return RECEIVED_FOR;
	return RECEIVED_NONE;
}

static bool received_is_alpha_word(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return false;
	}
	return len > 0;
}

static void received_value(struct received_state *st, struct received *out, const char *p,
                           size_t len)
{
	switch (st->clause) {
	case RECEIVED_FROM:
		if (!st->from_word) {
			st->from_word = p;
			st->from_word_len = len;
		}
		break;
	case RECEIVED_BY:
		if (!out->has_by) {
			received_copy_host(out->by_host, sizeof out->by_host, p, len);
			out->has_by = true;
		}
		break;
	case RECEIVED_WITH:
		if (out->with[0] == '\0') {
			received_copy(out->with, sizeof out->with, p, len);
			st->with_extend = received_is_alpha_word(p, len);
			st->with_words = 1;
		}
		break;
	case RECEIVED_ID:
		if (out->id[0] == '\0')
			received_copy(out->id, sizeof out->id, p, len);
		break;
	case RECEIVED_FOR:
		if (out->for_addr[0] == '\0') {
			if (len >= 2 && p[0] == '<' && p[len - 1] == '>') {
				p++;
				len -= 2;
			} else if (len >= 1 && p[0] == '<') {
				p++;
				len--;
			}
			received_copy(out->for_addr, sizeof out->for_addr, p, len);
		}
		break;
	case RECEIVED_VIA:
	case RECEIVED_NONE:
		break;
	}
}

/* Exchange writes "with Microsoft SMTP Server": plain words right after the
 * protocol, before any comment or keyword, belong to it. */
static void received_with_more(struct received_state *st, struct received *out, const char *p,
                               size_t len)
{
	if (!st->with_extend || st->with_words >= 4 || !received_is_alpha_word(p, len)) {
		st->with_extend = false;
		return;
	}
	size_t have = strlen(out->with);
	if (have + 1 + len + 1 > sizeof out->with) {
		st->with_extend = false;
		return;
	}
	out->with[have] = ' ';
	received_copy(out->with + have + 1, sizeof out->with - have - 1, p, len);
	st->with_words++;
}

static void received_finish(struct received_state *st, struct received *out)
{
	struct addr a;
	bool from_is_ip =
	    st->from_word && received_parse_ip(st->from_word, st->from_word_len, &a) == 0;
	if (st->helo[0]) {
		/* Exim/qmail: the from word is the server's own name for the client. */
		received_copy(out->from_host, sizeof out->from_host, st->helo, strlen(st->helo));
		if (st->from_word && !from_is_ip)
			received_copy_host(out->from_rdns, sizeof out->from_rdns, st->from_word,
			                   st->from_word_len);
	} else {
		if (st->from_word)
			received_copy_host(out->from_host, sizeof out->from_host, st->from_word,
			                   st->from_word_len);
		received_copy(out->from_rdns, sizeof out->from_rdns, st->rdns, strlen(st->rdns));
	}
	if (str_ieq(out->from_rdns, "unknown"))
		out->from_rdns[0] = '\0';
	if (st->comment_ip_set) {
		out->ip = st->comment_ip;
		out->has_ip = true;
	} else if (from_is_ip) {
		out->ip = a;
		out->has_ip = true;
	}
	if (out->has_ip && addr_format(&out->ip, out->from_ip, sizeof out->from_ip) < 0) {
		out->has_ip = false;
		out->from_ip[0] = '\0';
	}
	if (out->with[0]) {
		const char *sp = strchr(out->with, ' ');
		size_t wl = sp ? (size_t)(sp - out->with) : strlen(out->with);
		if (received_proto_is_auth(out->with, wl))
			out->authenticated = true;
		if (str_ieq_n(out->with, wl, "local"))
			out->local = true; /* Exim "with local" */
	}
	if (st->comment_auth || st->auth_eq > 0)
		out->authenticated = true;
	if (st->auth_eq < 0 && !received_proto_is_auth(out->with, strlen(out->with)))
		out->authenticated = false;
	if (out->authenticated) {
		const char *user = st->comment_user[0] ? st->comment_user
		                   : st->user_eq[0]    ? st->user_eq
		                                       : st->remote_user;
		received_copy(out->auth_user, sizeof out->auth_user, user, strlen(user));
	}
}

static void received_date(struct received *out, const char *p, size_t len)
{
	while (len > 0 && received_is_space(p[0])) {
		p++;
		len--;
	}
	while (len > 0 && received_is_space(p[len - 1]))
		len--;
	received_copy(out->date_raw, sizeof out->date_raw, p, len);
	if (date_parse_rfc5322(p, len, &out->date_ms) == 0)
		out->has_date = true;
}

int received_parse(const char *v, size_t len, struct received *out)
{
	struct received_state st;
	memset(out, 0, sizeof *out);
	memset(&st, 0, sizeof st);
	if (!v)
		return -1;
	size_t semi = received_date_split(v, len);
	if (semi < len)
		received_date(out, v + semi + 1, len - semi - 1);

	size_t pos = 0;
	struct received_tok t;
	while (received_next_tok(v, semi, &pos, &t)) {
		if (t.comment) {
			st.with_extend = false;
			received_comment(&st, out, t.p, t.len);
			continue;
		}
		received_word_auth(&st, t.p, t.len);
		/* Nothing after "for" is a keyword: it is the recipient's text. */
		enum received_clause k =
		    st.clause == RECEIVED_FOR ? RECEIVED_NONE : received_keyword(t.p, t.len);
		if (k == RECEIVED_BY && st.clause == RECEIVED_FROM && st.pending_auth) {
			st.comment_auth = true;
			if (str_copy(st.comment_user, sizeof st.comment_user, st.pending_user) != 0)
				panic("received_parse: st.comment_user does not fit");
		}
		st.pending_auth = false;
		if (k != RECEIVED_NONE) {
			st.clause = k;
			st.expect_value = true;
			if (k == RECEIVED_FROM)
				out->has_from = true;
			st.with_extend = false;
			continue;
		}
		if (st.expect_value) {
			received_value(&st, out, t.p, t.len);
			st.expect_value = false;
		} else if (st.clause == RECEIVED_WITH) {
			received_with_more(&st, out, t.p, t.len);
		}
	}
	received_finish(&st, out);
	return out->has_from || out->has_by || out->local ? 0 : -1;
}
