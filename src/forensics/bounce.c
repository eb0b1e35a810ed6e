/*
 * bounce - bounce detection, field extraction and classification; see bounce.h.
 *
 * The classifier is data: data/bounce-rules.conf (forensics/brules), compiled
 * into the binary and replaceable with `bounce --rules FILE`. The receiver's
 * text is normalised (lower case, white space collapsed, SMTP multi-line
 * prefixes such as "550-5.7.1 " removed) and matched against the [error],
 * [list] and [reason] sections; the reason with the highest priority wins.
 * Code here only reads the bounce: MIME, the DSN fields, the text formats of
 * the MTAs, the session stage, the addresses and the zone after "blocked
 * using". To support a new receiver, add a section; see docs/bounce.md.
 *
 * Texts and their meaning: shared/reference/dnsbl.md section 4b.
 */
#include "forensics/bounce.h"

#include "core/buf.h"
#include "core/log.h"
#include "core/mailaddr.h"
#include "core/str.h"
#include "forensics/brules.h"
#include "forensics/dsn.h"
#include "forensics/mime.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const char *const bounce_zone_lead[] = {
    "blocked using ", "black list at ", "blacklist at ", "listed in ",
    "listed at ",     "listed on ",     "rbl on ",       "blacklisted by ",
};

/* ---- small text helpers ---- */

static const char *bounce_find(const char *hay, size_t hlen, const char *needle)
{
	size_t n = strlen(needle);
	if (n == 0 || n > hlen)
		return NULL;
	return memmem(hay, hlen, needle, n);
}

/* Case-insensitive search in text that is not lower-cased. */
static const char *bounce_ifind(const char *hay, size_t hlen, const char *needle)
{
	size_t n = strlen(needle);
	if (n == 0 || n > hlen)
		return NULL;
	for (size_t i = 0; i + n <= hlen; i++)
		if (tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[0]) &&
		    str_ieq_n(hay + i, n, needle))
			return hay + i;
	return NULL;
}

static bool bounce_isdigit(char c)
{
	return c >= '0' && c <= '9';
}

/* "DDD" reply code at s (class 2, 4 or 5). */
static bool bounce_is_reply_code(const char *s, size_t n)
{
	return n >= 3 && (s[0] == '2' || s[0] == '4' || s[0] == '5') && bounce_isdigit(s[1]) &&
	       bounce_isdigit(s[2]);
}

/* Length of an enhanced status code "X.Y.Z" at s, 0 if none. */
static size_t bounce_status_len(const char *s, size_t n)
{
	if (n < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return 0;
	size_t i = 2, d = 0;
	while (i < n && bounce_isdigit(s[i]) && d < 3) {
		i++;
		d++;
	}
	if (d == 0 || i >= n || s[i] != '.')
		return 0;
	i++;
	d = 0;
	while (i < n && bounce_isdigit(s[i]) && d < 3) {
		i++;
		d++;
	}
	if (d == 0 || (i < n && (bounce_isdigit(s[i]) || s[i] == '.')))
		return 0;
	return i;
}

/* Lower-cases text into out, collapsing white space and dropping the reply-code
 * prefixes of multi-line SMTP replies so a phrase split over lines still matches. */
/* Appends the n bytes of tmp; at out's limit, as many as fit one by one.
 * false when one did not fit (nothing more is to be appended). */
static bool bounce_flush(struct buf *out, const char *tmp, size_t n)
{
	if (buf_append(out, tmp, n) == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (buf_append_char(out, tmp[i]) != 0)
			return false;
	return true;
}

static void bounce_normalise(const char *s, size_t n, struct buf *out)
{
	/* bytes go out through tmp, not one buf_append_char call each */
	char tmp[256] = "";
	size_t tn = 0;
	bool empty = out->len == 0;
	char last = empty ? '\0' : out->data[out->len - 1];
	bool seen_code = false;
	size_t i = 0;
	while (i < n) {
		bool at_word = empty || last == ' ';
		if (at_word && bounce_is_reply_code(s + i, n - i) &&
		    (i + 3 == n || s[i + 3] == '-' || (s[i + 3] == ' ' && seen_code)) &&
		    (i == 0 || !bounce_isdigit(s[i - 1]))) {
			size_t k = i + 4 > n ? n : i + 4;
			size_t sl = bounce_status_len(s + k, n - k);
			if (sl && k + sl < n && (s[k + sl] == ' ' || s[k + sl] == '-'))
				k += sl + 1;
			seen_code = true;
			i = k;
			continue;
		}
		if (at_word && bounce_is_reply_code(s + i, n - i) && i + 3 < n && s[i + 3] == ' ')
			seen_code = true;
		char c = s[i];
		bool space = c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\0';
		if (!space || !at_word) {
			last = space ? ' ' : (char)tolower((unsigned char)c);
			empty = false;
			tmp[tn++] = last;
			if (tn == sizeof tmp) {
				if (!bounce_flush(out, tmp, tn))
					return;
				tn = 0;
			}
		}
		i++;
	}
	(void)bounce_flush(out, tmp, tn);
}

int bounce_find_status(const char *text, size_t len, char *out, size_t size)
{
	for (size_t i = 0; i < len; i++) {
		if (i > 0 && (bounce_isdigit(text[i - 1]) || text[i - 1] == '.'))
			continue;
		size_t sl = bounce_status_len(text + i, len - i);
		if (sl)
			return str_copy_n(out, size, text + i, sl);
	}
	return -1;
}

static bool bounce_ip_char(char c)
{
	return bounce_isdigit(c) || c == '.' || c == ':' || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

/* Tries text[i, i+n) as an address; on success formats it to out. */
static int bounce_try_ip(const char *s, size_t n, char *out, size_t size)
{
	struct addr a;
	while (n && (s[n - 1] == '.' || s[n - 1] == ':'))
		n--;
	if (n < 7 || addr_parse(s, n, &a) != 0)
		return -1;
	addr_unmap(&a);
	return addr_format(&a, out, size);
}

int bounce_find_ip(const char *text, size_t len, char *out, size_t size)
{
	/* Bracketed first: "[203.0.113.5]", Gmail's "[203.0.113.5 15]". */
	for (size_t i = 0; i < len; i++) {
		if (text[i] != '[')
			continue;
		size_t k = i + 1;
		while (k < len && k - i < 48 && bounce_ip_char(text[k]))
			k++;
		if (k > i + 1 && bounce_try_ip(text + i + 1, k - i - 1, out, size) == 0)
			return 0;
	}
	/* Then a bare address not glued to a word. */
	for (size_t i = 0; i < len; i++) {
		if (!bounce_isdigit(text[i]) && !(text[i] >= 'a' && text[i] <= 'f') &&
		    !(text[i] >= 'A' && text[i] <= 'F'))
			continue;
		if (i > 0 && (bounce_ip_char(text[i - 1]) || isalpha((unsigned char)text[i - 1]) ||
		              text[i - 1] == '_' || text[i - 1] == '-'))
			continue;
		size_t k = i;
		while (k < len && k - i < 48 && bounce_ip_char(text[k]))
			k++;
		if (k < len &&
		    (isalpha((unsigned char)text[k]) || text[k] == '_' || text[k] == '-'))
			continue;
		if (bounce_try_ip(text + i, k - i, out, size) == 0)
			return 0;
	}
	return -1;
}

/* ---- classification ---- */

static bool bounce_has_list(const struct bounce_result *r, const char *id)
{
	for (size_t i = 0; i < r->nlists; i++)
		if (strcmp(r->lists[i].id, id) == 0)
			return true;
	return false;
}

/* Expands %IP% in a delisting template. */
static void bounce_expand(const char *tmpl, const char *ip, char *out, size_t size)
{
	struct buf b;
	buf_init(&b, size - 1);
	const char *p = tmpl;
	while (p && *p) {
		const char *m = strstr(p, "%IP%");
		size_t n = m ? (size_t)(m - p) : strlen(p);
		if (buf_append(&b, p, n) != 0)
			break;
		if (!m)
			break;
		if (buf_append_str(&b, ip) != 0)
			break;
		p = m + 4;
	}
	if (str_copy(out, size, buf_cstr(&b)) != 0) {
		/* truncated: the templates are far below the field size */
	}
	buf_free(&b);
}

static void bounce_add(struct bounce_result *r, const char *id, const char *name,
                       const char *delist, bool front)
{
	if (r->nlists >= BOUNCE_MAX_LISTS || bounce_has_list(r, id))
		return;
	size_t at = r->nlists;
	if (front) {
		memmove(&r->lists[1], &r->lists[0], r->nlists * sizeof r->lists[0]);
		at = 0;
	}
	struct bounce_list *l = &r->lists[at];
	memset(l, 0, sizeof *l);
	if (str_copy(l->id, sizeof l->id, id) != 0 ||
	    str_copy(l->name, sizeof l->name, name) != 0) {
		/* ids and names come from the table or a zone capped below the field size */
	}
	if (delist)
		bounce_expand(delist, r->listed_ip, l->delist, sizeof l->delist);
	r->nlists++;
}

static bool bounce_zone_char(char c)
{
	return (c >= 'a' && c <= 'z') || bounce_isdigit(c) || c == '.' || c == '-' || c == '_';
}

/* A DNS zone after one of bounce_zone_lead[]: at least two labels, alphabetic TLD. */
static bool bounce_generic_zone(const char *t, size_t n, char *zone, size_t size)
{
	for (size_t k = 0; k < sizeof bounce_zone_lead / sizeof bounce_zone_lead[0]; k++) {
		const char *p = t;
		size_t left = n;
		const char *m;
		while ((m = bounce_find(p, left, bounce_zone_lead[k])) != NULL) {
			size_t s = (size_t)(m - t) + strlen(bounce_zone_lead[k]);
			size_t e = s;
			while (e < n && e - s < 120 && bounce_zone_char(t[e]))
				e++;
			while (e > s && (t[e - 1] == '.' || t[e - 1] == '-'))
				e--;
			const char *dot = e > s ? memrchr(t + s, '.', e - s) : NULL;
			bool ok = dot && dot > t + s && (size_t)(t + e - dot) >= 3;
			for (const char *q = dot ? dot + 1 : t + e; ok && q < t + e; q++)
				if (*q < 'a' || *q > 'z')
					ok = false;
			if (ok && str_copy_n(zone, size, t + s, e - s) == 0)
				return true;
			p = t + s;
			left = n - s;
		}
	}
	return false;
}

/* The 3-digit reply code the text starts with, "" if none. */
static void bounce_reply_code(const char *t, size_t n, char *out, size_t size)
{
	size_t i = 0;
	while (i < n && (t[i] == ' ' || t[i] == '\t' || t[i] == '\r' || t[i] == '\n'))
		i++;
	out[0] = '\0';
	if (n - i >= 3 && (t[i] == '4' || t[i] == '5') && bounce_is_reply_code(t + i, n - i) &&
	    (n - i == 3 || t[i + 3] == ' ' || t[i + 3] == '-')) {
		if (str_copy_n(out, size, t + i, 3) != 0)
			out[0] = '\0';
	}
}

/* Lower-case copy of s into dst (truncated to the field). */
static void bounce_lower_copy(char *dst, size_t size, const char *s)
{
	if (!s || str_copy(dst, size, s) != 0) {
		if (!s)
			dst[0] = '\0';
		/* else: cut, still a usable prefix */
	}
	str_lower(dst);
}

static void bounce_set_reason(struct bounce_result *out, const char *reason, const char *detail,
                              int priority)
{
	if (str_copy(out->reason, sizeof out->reason, reason) != 0 ||
	    str_copy(out->reason_detail, sizeof out->reason_detail, detail ? detail : "") != 0) {
		/* class names and details are capped by the rules parser below the fields */
	}
	out->reason_priority = priority;
}

void bounce_classify_rules(const struct brules *rules, const char *text, size_t len,
                           const struct bounce_facts *facts, struct bounce_result *out)
{
	struct buf norm;
	char family[BOUNCE_MAX_LISTS][32];
	size_t nfam = 0;
	bool dnsbl = false;
	char status[16], reply[8], host[256], domain[256];
	uint64_t *bits = NULL;

	out->blocked = false;
	out->receiver_error = false;
	out->nlists = 0;
	out->listed_ip[0] = '\0';
	bounce_set_reason(out, "undefined", "", -1);
	buf_init(&norm, BOUNCE_MAX_TEXT + 2);
	if (buf_append_char(&norm, ' ') != 0)
		goto done;
	bounce_normalise(text, len, &norm);
	if (norm.len && norm.data[norm.len - 1] != ' ' && buf_append_char(&norm, ' ') != 0)
		goto done;
	if (!rules)
		goto done;

	if (facts && facts->status && facts->status[0])
		bounce_lower_copy(status, sizeof status, facts->status);
	else if (bounce_find_status(text, len, status, sizeof status) != 0)
		status[0] = '\0';
	bounce_reply_code(text, len, reply, sizeof reply);
	bounce_lower_copy(host, sizeof host, facts ? facts->remote_mta : NULL);
	bounce_lower_copy(domain, sizeof domain, facts ? mailaddr_domain(facts->recipient) : NULL);
	bits = malloc(BRULES_BIGRAM_WORDS * sizeof *bits);
	if (bits)
		brules_bigrams(buf_cstr(&norm), norm.len, bits);
	struct brules_input in = {
	    .text = buf_cstr(&norm),
	    .len = norm.len,
	    .status = status,
	    .reply = reply,
	    .host = host,
	    .domain = domain,
	    .stage = facts ? facts->stage : BRULES_STAGE_UNKNOWN,
	    .bigrams = bits,
	};

	for (size_t i = 0; i < rules->count; i++)
		if (rules->rules[i].kind == BRULES_ERROR &&
		    brules_rule_matches(&rules->rules[i], &in)) {
			out->receiver_error = true;
			bounce_set_reason(out, "system_error",
			                  "the receiver's own DNSBL lookup failed (not a listing)",
			                  100);
			goto done;
		}
	if (bounce_find_ip(text, len, out->listed_ip, sizeof out->listed_ip) != 0)
		out->listed_ip[0] = '\0';

	for (size_t i = 0; i < rules->count; i++) {
		const struct brules_rule *ru = &rules->rules[i];
		if (ru->kind != BRULES_LIST || !brules_rule_matches(ru, &in))
			continue;
		const char *fam = ru->family ? ru->family : ru->id;
		bool dup = false;
		for (size_t f = 0; f < nfam; f++)
			if (strcmp(family[f], fam) == 0)
				dup = true;
		if (dup || nfam >= BOUNCE_MAX_LISTS)
			continue;
		if (str_copy(family[nfam], sizeof family[nfam], fam) != 0)
			continue;
		nfam++;
		bounce_add(out, ru->id, ru->name, ru->delist, false);
		dnsbl = dnsbl || ru->dnsbl;
	}
	if (out->nlists == 0) {
		char zone[128];
		if (bounce_generic_zone(in.text, in.len, zone, sizeof zone)) {
			bounce_add(out, zone, zone, NULL, false);
			dnsbl = true;
		}
	}
	if (out->nlists)
		bounce_set_reason(out, "blocked", "a blocklist or provider block is named",
		                  rules->list_priority);
	for (size_t k = 0; k < rules->nreasons; k++) {
		const struct brules_rule *ru = &rules->rules[rules->by_priority[k]];
		if (ru->priority <= out->reason_priority)
			break; /* sorted: nothing after this can win */
		if (brules_rule_matches(ru, &in)) {
			bounce_set_reason(out, ru->id, ru->name, ru->priority);
			break;
		}
	}
	out->blocked = strcmp(out->reason, "blocked") == 0;
	if (out->blocked && !dnsbl) {
		for (size_t i = 0; i < rules->count; i++) {
			const struct brules_rule *ru = &rules->rules[i];
			if (ru->kind == BRULES_PROVIDER &&
			    (brules_host_matches(ru, host) ||
			     (!host[0] && brules_host_matches(ru, domain)))) {
				bounce_add(out, ru->id, ru->name, ru->delist, true);
				break;
			}
		}
	}
done:
	if (!out->blocked) {
		out->listed_ip[0] = '\0';
		out->nlists = 0;
	}
	free(bits);
	buf_free(&norm);
}

void bounce_classify(const char *text, size_t len, const char *remote_mta,
                     struct bounce_result *out)
{
	struct bounce_facts f = {.status = NULL,
	                         .remote_mta = remote_mta,
	                         .recipient = NULL,
	                         .stage = BRULES_STAGE_UNKNOWN};
	bounce_classify_rules(brules_builtin(), text, len, &f, out);
}

/* ---- message analysis ---- */

struct bounce_walk {
	struct dsn_report *dsn;
	bool have_dsn;
	bool report;     /* saw a delivery-status part */
	struct buf text; /* first text/plain part (or text/html without tags), UTF-8 */
	bool text_is_html;
	struct buf inner; /* the first attached message (message/rfc822) */
};

/* Crude tag stripper for HTML-only NDRs: drops <...>, keeps text, decodes a few entities. */
static void bounce_html_to_text(const char *p, size_t n, struct buf *out)
{
	static const struct {
		const char *ent;
		char c;
	} ents[] = {{"&nbsp;", ' '}, {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}};
	bool in_tag = false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (in_tag) {
			if (c == '>') {
				in_tag = false;
				if (buf_append_char(out, ' ') != 0)
					return;
			}
			continue;
		}
		if (c == '<') {
			in_tag = true;
			continue;
		}
		if (c == '&') {
			bool done = false;
			for (size_t e = 0; e < sizeof ents / sizeof ents[0]; e++) {
				size_t el = strlen(ents[e].ent);
				if (n - i >= el && str_ieq_n(p + i, el, ents[e].ent)) {
					if (buf_append_char(out, ents[e].c) != 0)
						return;
					i += el - 1;
					done = true;
					break;
				}
			}
			if (done)
				continue;
		}
		if (buf_append_char(out, c) != 0)
			return;
	}
}

/* Appends a text part to the walk's text in UTF-8 (its charset converted). */
static int bounce_take_text(struct bounce_walk *w, const struct mime_part *part)
{
	size_t n = part->len > w->text.max ? w->text.max : part->len;
	if (mime_to_utf8(part->ctype->charset, part->body, n, &w->text) == 0)
		return 0;
	if (w->text.len == 0 && buf_append(&w->text, part->body, n) != 0)
		return -1; /* unknown charset: the ASCII in it is still worth reading */
	return 0;
}

static int bounce_walk_part(void *ctx, const struct mime_part *part)
{
	struct bounce_walk *w = ctx;
	const struct mime_ctype *ct = part->ctype;
	if (mime_ctype_is(ct, "message", "delivery-status") ||
	    mime_ctype_is(ct, "message", "global-delivery-status")) {
		w->report = true;
		if (!w->have_dsn && dsn_parse(part->body, part->len, w->dsn) == 0)
			w->have_dsn = true;
		return 0;
	}
	if (mime_ctype_is(ct, "message", "rfc822") || mime_ctype_is(ct, "message", "global")) {
		if (w->inner.len == 0 && buf_append(&w->inner, part->body, part->len) != 0)
			buf_reset(&w->inner); /* too big to be a bounce worth reading */
		return 0;
	}
	if (mime_ctype_is(ct, "text", "plain") && (w->text.len == 0 || w->text_is_html)) {
		buf_reset(&w->text);
		w->text_is_html = false;
		return bounce_take_text(w, part);
	}
	if (mime_ctype_is(ct, "text", "html") && w->text.len == 0) {
		w->text_is_html = true;
		struct buf u;
		buf_init(&u, w->text.max);
		size_t n = part->len > u.max ? u.max : part->len;
		if (mime_to_utf8(ct->charset, part->body, n, &u) == 0)
			bounce_html_to_text(buf_cstr(&u), u.len, &w->text);
		else
			bounce_html_to_text(part->body, part->len, &w->text);
		buf_free(&u);
	}
	return 0;
}

static const char *const bounce_subjects[] = {
    "undelivered mail returned to sender",
    "mail delivery failed",
    "delivery status notification (failure)",
    "delivery status notification (delay)",
    "undeliverable:",
    "undeliverable mail",
    "returned mail:",
    "failure notice",
    "mail delivery failure",
    "delivery failure",
    "delivery has failed",
    "non-delivery",
    "nondeliverable",
    "message not delivered",
    "mail system error - returned mail",
    "warning: could not send message",
};

static const char *const bounce_body_markers[] = {
    "this is the qmail-send program",
    "this message was created automatically by mail delivery software",
    "----- transcript of session follows -----",
    "this is the mail system at host",
    "delivery has failed to these recipients",
    "your message couldn't be delivered",
    "your message wasn't delivered",
    "the following message to <",
    "i'm sorry to have to inform you that your message could not",
    "remote server returned '",
    "delivery to the following recipient failed permanently",
    "delivery to the following recipients failed",
};

static bool bounce_any_ifind(const char *t, size_t n, const char *const *words, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (bounce_ifind(t, n, words[i]))
			return true;
	return false;
}

/* Copies the paragraph starting at p (lines trimmed and joined by one space, up to
 * an empty line) into dst. */
static void bounce_paragraph(const char *p, const char *end, char *dst, size_t size)
{
	struct buf b;
	buf_init(&b, size - 1);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *s = p;
		while (s < le && (*s == ' ' || *s == '\t'))
			s++;
		const char *e = le;
		while (e > s && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e == s && b.len)
			break;
		if (e > s) {
			if (b.len && buf_append_char(&b, ' ') != 0)
				break;
			if (buf_append(&b, s, (size_t)(e - s)) != 0) {
				if (buf_append(&b, s, b.max - b.len) != 0)
					break; /* keep what fit */
				break;
			}
		}
		p = nl ? nl + 1 : end;
	}
	if (str_copy(dst, size, buf_cstr(&b)) != 0) {
		/* cannot happen: b is bounded below size */
	}
	buf_free(&b);
}

/* Copies the rest of the line at p. */
static void bounce_rest_of_line(const char *p, const char *end, char *dst, size_t size)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	const char *e = nl ? nl : end;
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	while (e > p && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (str_copy_n(dst, size, p, (size_t)(e - p)) != 0) {
		/* truncated to the field */
	}
}

static const char *bounce_next_line(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	return nl ? nl + 1 : end;
}

static const char *bounce_line_start(const char *base, const char *p)
{
	while (p > base && p[-1] != '\n')
		p--;
	return p;
}

/* First "local@domain" in [p, end), angle brackets optional. */
static int bounce_find_address(const char *p, const char *end, char *dst, size_t size)
{
	if (p >= end) /* the line after a marker may begin past the region's end */
		return -1;
	const char *at = memchr(p, '@', (size_t)(end - p));
	while (at) {
		const char *s = at, *e = at + 1;
		while (s > p && !strchr(" \t\r\n<>\"'():;,[]", s[-1]))
			s--;
		while (e < end && !strchr(" \t\r\n<>\"'():;,[]", *e))
			e++;
		if (s < at && e > at + 1 && memchr(at, '.', (size_t)(e - at)))
			return str_copy_n(dst, size, s, (size_t)(e - s));
		at = at + 1 < end ? memchr(at + 1, '@', (size_t)(end - at - 1)) : NULL;
	}
	return -1;
}

/* Host name after "host " in the line at p ("host mx.example.net [203.0.113.9]"). */
static void bounce_host_after(const char *p, const char *end, char *dst, size_t size)
{
	size_t n = 0;
	while (p + n < end && !strchr(" \t\r\n[]:;", p[n]))
		n++;
	while (n && p[n - 1] == '.')
		n--;
	if (n && str_copy_n(dst, size, p, n) != 0)
		dst[0] = '\0';
}

/* Fills recipient, remote_mta and diagnostic from a plain-text bounce body. */
static void bounce_from_text(const char *t, size_t n, struct bounce_result *r)
{
	const char *end = t + n, *m;

	if ((m = bounce_ifind(t, n, "remote host said:"))) {
		/* qmail: "<bob@example.net>:\n203.0.113.9 does not like ...\nRemote host said: ..."
		 */
		bounce_paragraph(m + strlen("remote host said:"), end, r->diagnostic,
		                 sizeof r->diagnostic);
		/* qmail ends the remote's words with its own "Giving up on IP." line. */
		char *gu = strstr(r->diagnostic, " Giving up on ");
		if (gu)
			*gu = '\0';
		const char *q = bounce_ifind(t, (size_t)(m - t), "qmail-send program");
		const char *from = q ? q : t;
		if (!r->recipient[0])
			(void)bounce_find_address(bounce_next_line(from, end), m, r->recipient,
			                          sizeof r->recipient);
		const char *c = bounce_ifind(t, n, "connected to ");
		if (c && !r->remote_mta[0])
			bounce_host_after(c + strlen("connected to "), end, r->remote_mta,
			                  sizeof r->remote_mta);
		return;
	}
	if ((m = bounce_ifind(t, n, "smtp error from remote mail"))) {
		/* Exim: the reply follows on the next (indented) lines. */
		const char *ls = bounce_line_start(t, m);
		const char *nx = bounce_next_line(m, end);
		bounce_paragraph(nx, end, r->diagnostic, sizeof r->diagnostic);
		if (!r->diagnostic[0])
			bounce_rest_of_line(m, end, r->diagnostic, sizeof r->diagnostic);
		const char *h = bounce_ifind(t, (size_t)(ls - t), "host ");
		const char *last = NULL;
		while (h) {
			last = h;
			size_t off = (size_t)(h - t) + 5;
			h = bounce_ifind(t + off, (size_t)(ls - t) - off, "host ");
		}
		if (last && !r->remote_mta[0])
			bounce_host_after(last + 5, end, r->remote_mta, sizeof r->remote_mta);
		const char *f = bounce_ifind(t, (size_t)(ls - t), "failed:");
		if (!r->recipient[0])
			(void)bounce_find_address(f ? f : t, ls, r->recipient, sizeof r->recipient);
		return;
	}
	if ((m = bounce_ifind(t, n, "remote server returned '"))) {
		/* Exchange: Remote Server returned '550 5.7.606 ...' */
		const char *s = m + strlen("remote server returned '");
		const char *q = memchr(s, '\'', (size_t)(end - s));
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *e = q && (!nl || q < nl) ? q : (nl ? nl : end);
		if (str_copy_n(r->diagnostic, sizeof r->diagnostic, s, (size_t)(e - s)) != 0) {
			/* truncated */
		}
		if (!r->recipient[0])
			(void)bounce_find_address(t, m, r->recipient, sizeof r->recipient);
		return;
	}
	if ((m = bounce_ifind(t, n, "\n<<< "))) {
		/* Sendmail transcript: the remote's replies are the "<<< " lines. */
		struct buf b;
		buf_init(&b, sizeof r->diagnostic - 1);
		const char *p = m + 1;
		while (p < end) {
			const char *le = memchr(p, '\n', (size_t)(end - p));
			if (!le)
				le = end;
			if (le - p > 4 && memcmp(p, "<<< ", 4) == 0) {
				const char *e = le;
				while (e > p + 4 && (e[-1] == '\r' || e[-1] == ' '))
					e--;
				if ((b.len && buf_append_char(&b, ' ') != 0) ||
				    buf_append(&b, p + 4, (size_t)(e - p - 4)) != 0)
					break;
			}
			p = le < end ? le + 1 : end;
		}
		if (str_copy(r->diagnostic, sizeof r->diagnostic, buf_cstr(&b)) != 0) {
			/* bounded above */
		}
		buf_free(&b);
		const char *w = bounce_ifind(t, n, "while talking to ");
		if (w && !r->remote_mta[0])
			bounce_host_after(w + strlen("while talking to "), end, r->remote_mta,
			                  sizeof r->remote_mta);
		const char *fa = bounce_ifind(t, n, "following addresses had");
		const char *rc = bounce_ifind(t, n, "rcpt to:");
		if (fa && !r->recipient[0])
			(void)bounce_find_address(bounce_next_line(fa, end), end, r->recipient,
			                          sizeof r->recipient);
		if (rc && !r->recipient[0])
			(void)bounce_find_address(rc, end, r->recipient, sizeof r->recipient);
		return;
	}
	size_t said = strlen(" said: ");
	if (!(m = bounce_ifind(t, n, " said: ")) &&
	    (m = bounce_ifind(t, n, " refused to talk to me: ")))
		said = strlen(" refused to talk to me: "); /* Postfix: refused at the greeting */
	if (m) {
		/* Postfix human text: "<bob@x>: host mx.x[203.0.113.9] said: 550 ..." */
		const char *ls = bounce_line_start(t, m);
		bounce_paragraph(m + said, end, r->diagnostic, sizeof r->diagnostic);
		const char *h = bounce_ifind(ls, (size_t)(m - ls), "host ");
		if (h && !r->remote_mta[0])
			bounce_host_after(h + 5, end, r->remote_mta, sizeof r->remote_mta);
		if (!r->recipient[0])
			(void)bounce_find_address(ls, m, r->recipient, sizeof r->recipient);
		return;
	}
	/* Anything else: the first line that starts with a 4xx/5xx reply. */
	for (const char *p = t; p < end; p = bounce_next_line(p, end)) {
		const char *s = p;
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		if (end - s >= 4 && (s[0] == '4' || s[0] == '5') &&
		    bounce_is_reply_code(s, (size_t)(end - s)) && (s[3] == ' ' || s[3] == '-')) {
			bounce_paragraph(s, end, r->diagnostic, sizeof r->diagnostic);
			break;
		}
	}
	if (!r->recipient[0]) {
		const char *p = bounce_ifind(t, n, "following recipient");
		if (!p)
			p = bounce_ifind(t, n, "your message to ");
		if (p)
			(void)bounce_find_address(p, end, r->recipient, sizeof r->recipient);
	}
}

/* The recipient block the bounce is about: first failed, else first delayed, else first. */
static const struct dsn_recipient *bounce_pick(const struct dsn_report *d, bool *all_ok)
{
	const struct dsn_recipient *delayed = NULL;
	*all_ok = true;
	for (size_t i = 0; i < d->nrcpt; i++) {
		const char *a = d->rcpt[i].action;
		if (strcmp(a, "failed") == 0)
			return *all_ok = false, &d->rcpt[i];
		if (strcmp(a, "delayed") == 0 && !delayed)
			delayed = &d->rcpt[i];
		if (strcmp(a, "delivered") != 0 && strcmp(a, "relayed") != 0 &&
		    strcmp(a, "expanded") != 0)
			*all_ok = false;
	}
	if (delayed) {
		*all_ok = false;
		return delayed;
	}
	return &d->rcpt[0];
}

static bool bounce_null_sender(const struct mime_headers *h)
{
	const char *rp = mime_headers_get(h, "Return-Path");
	if (!rp)
		return false;
	while (*rp == ' ')
		rp++;
	return strncmp(rp, "<>", 2) == 0;
}

static bool bounce_daemon_from(const char *from)
{
	if (!from)
		return false;
	size_t n = strlen(from);
	return bounce_ifind(from, n, "mailer-daemon") || bounce_ifind(from, n, "postmaster@") ||
	       bounce_ifind(from, n, "mail delivery system") ||
	       bounce_ifind(from, n, "mail delivery subsystem") ||
	       bounce_ifind(from, n, "microsoftexchange");
}

/* Words that tell when in the session the receiver refused. */
static const struct {
	const char *mark;
	enum brules_stage stage;
} bounce_stage_marks[] = {
    {"refused to talk to me", BRULES_STAGE_CONNECT},
    {"after initial connection", BRULES_STAGE_CONNECT},
    {"greeting failed", BRULES_STAGE_CONNECT},
    {"in reply to greeting", BRULES_STAGE_CONNECT},
    {"in reply to helo", BRULES_STAGE_HELO},
    {"in reply to ehlo", BRULES_STAGE_HELO},
    {"after helo", BRULES_STAGE_HELO},
    {"after ehlo", BRULES_STAGE_HELO},
    {"in reply to mail from", BRULES_STAGE_MAIL},
    {"after mail from", BRULES_STAGE_MAIL},
    {"sender was rejected", BRULES_STAGE_MAIL},
    {"in reply to rcpt to", BRULES_STAGE_RCPT},
    {"after rcpt to", BRULES_STAGE_RCPT},
    {"after pipelined rcpt to", BRULES_STAGE_RCPT},
    {"does not like recipient", BRULES_STAGE_RCPT},
    {"in reply to end of data", BRULES_STAGE_DATA},
    {"in reply to data", BRULES_STAGE_DATA},
    {"after end of data", BRULES_STAGE_DATA},
    {"after data", BRULES_STAGE_DATA},
    {"after sending data block", BRULES_STAGE_DATA},
    {"failed after i sent the message", BRULES_STAGE_DATA},
};

#define BOUNCE_STAGE_SCAN 16384 /* bytes of text searched for the stage */

/* The stage of the first marker in the text. */
static enum brules_stage bounce_stage(const char *t, size_t n)
{
	struct buf norm;
	enum brules_stage st = BRULES_STAGE_UNKNOWN;
	const char *best = NULL;
	buf_init(&norm, BOUNCE_STAGE_SCAN);
	bounce_normalise(t, n > BOUNCE_STAGE_SCAN ? BOUNCE_STAGE_SCAN : n, &norm);
	const char *s = buf_cstr(&norm);
	for (size_t i = 0; i < sizeof bounce_stage_marks / sizeof bounce_stage_marks[0]; i++) {
		const char *m = bounce_find(s, norm.len, bounce_stage_marks[i].mark);
		if (m && (!best || m < best)) {
			best = m;
			st = bounce_stage_marks[i].stage;
		}
	}
	buf_free(&norm);
	return st;
}

/* Replaces a field's RFC 2047 encoded words by their UTF-8 text. */
static void bounce_decode_field(char *field, size_t size)
{
	if (!strstr(field, "=?"))
		return;
	struct buf b;
	buf_init(&b, size - 1);
	if (mime_decode_words(field, strlen(field), &b) == 0 || b.len) {
		if (str_copy(field, size, buf_cstr(&b)) != 0) {
			/* bounded by size - 1 */
		}
	}
	buf_free(&b);
}

#define BOUNCE_MAX_NESTING 3 /* bounces inside bounces read */

static int bounce_analyze_depth(const struct brules *rules, const char *msg, size_t len,
                                struct bounce_result *out, int depth)
{
	struct mime_headers h;
	struct mime_ctype ct;
	struct bounce_walk w;
	size_t body;
	int rc = -1;

	memset(out, 0, sizeof *out);
	mime_headers_init(&h);
	memset(&w, 0, sizeof w);
	buf_init(&w.text, BOUNCE_MAX_TEXT);
	buf_init(&w.inner, MIME_MAX_DECODED);
	w.dsn = calloc(1, sizeof *w.dsn);
	if (!w.dsn)
		goto out;
	if (mime_headers_parse(msg, len, &h, &body) != 0)
		goto out;
	const char *subject = mime_headers_get(&h, "Subject");
	const char *from = mime_headers_get(&h, "From");
	if (subject && str_copy(out->subject, sizeof out->subject, subject) != 0) {
		/* long subjects are cut, they are only shown */
	}
	bounce_decode_field(out->subject, sizeof out->subject);
	mime_ctype_parse(mime_headers_get(&h, "Content-Type"), &ct);
	int wrc = mime_walk(msg, len, bounce_walk_part, &w);
	if (wrc != 0)
		goto out;

	const char *text = buf_cstr(&w.text);
	size_t tlen = w.text.len;
	bool report = w.report || (mime_ctype_is(&ct, "multipart", "report") &&
	                           strcmp(ct.report_type, "delivery-status") == 0);
	bool subj =
	    out->subject[0] && bounce_any_ifind(out->subject, strlen(out->subject), bounce_subjects,
	                                        sizeof bounce_subjects / sizeof bounce_subjects[0]);
	bool marker = bounce_any_ifind(text, tlen, bounce_body_markers,
	                               sizeof bounce_body_markers / sizeof bounce_body_markers[0]);
	out->is_bounce =
	    report || subj || marker || bounce_null_sender(&h) || bounce_daemon_from(from);

	bool from_dsn = false;
	if (w.have_dsn) {
		bool all_ok;
		const struct dsn_recipient *r = bounce_pick(w.dsn, &all_ok);
		if (all_ok)
			out->is_bounce = false; /* a success notification, not a bounce */
		/* the fields of struct bounce_result are those of struct dsn_recipient */
		if (str_copy(out->recipient, sizeof out->recipient,
		             r->final_recipient[0] ? r->final_recipient : r->original_recipient) !=
		        0 ||
		    str_copy(out->status, sizeof out->status, r->status) != 0 ||
		    str_copy(out->remote_mta, sizeof out->remote_mta, r->remote_mta) != 0 ||
		    str_copy(out->diagnostic, sizeof out->diagnostic, r->diagnostic) != 0)
			panic("bounce_analyze_depth: a DSN field larger than the result's");
		from_dsn = r->diagnostic[0] != '\0';
	}
	if (!out->is_bounce) {
		rc = 0;
		goto out;
	}
	if (!from_dsn) {
		/* Keep what the DSN gave (recipient, MTA) and read the rest from the text. */
		bounce_from_text(text, tlen, out);
	}
	if (!out->diagnostic[0] && w.inner.len && depth < BOUNCE_MAX_NESTING) {
		/* Nothing said here: a bounce forwarded inside this one says it. */
		struct bounce_result *in = calloc(1, sizeof *in);
		if (!in)
			goto out;
		if (bounce_analyze_depth(rules, buf_cstr(&w.inner), w.inner.len, in, depth + 1) ==
		        0 &&
		    in->is_bounce && (in->diagnostic[0] || in->recipient[0])) {
			memcpy(in->subject, out->subject, sizeof in->subject);
			*out = *in;
			out->forwarded = true;
			free(in);
			rc = 0;
			goto out;
		}
		free(in);
	}
	if (!out->recipient[0]) {
		const char *xf = mime_headers_get(&h, "X-Failed-Recipients");
		if (xf)
			(void)bounce_find_address(xf, xf + strlen(xf), out->recipient,
			                          sizeof out->recipient);
	}
	bounce_decode_field(out->diagnostic, sizeof out->diagnostic);
	if (!out->status[0] && bounce_find_status(out->diagnostic, strlen(out->diagnostic),
	                                          out->status, sizeof out->status) != 0) {
		/* No enhanced code: the reply code's class, as RFC 3463 X.0.0. */
		const char *d = out->diagnostic;
		if (bounce_is_reply_code(d, strlen(d)) && d[0] != '2' &&
		    (d[3] == ' ' || d[3] == '-')) {
			if (str_format(out->status, sizeof out->status, "%c.0.0", d[0]) != 0)
				panic("bounce_analyze_depth: out->status does not fit");
		} else
			out->status[0] = '\0';
	}

	out->stage = bounce_stage(text, tlen);
	if (out->stage == BRULES_STAGE_UNKNOWN)
		out->stage = bounce_stage(out->diagnostic, strlen(out->diagnostic));
	struct bounce_facts f = {.status = out->status,
	                         .remote_mta = out->remote_mta,
	                         .recipient = out->recipient,
	                         .stage = out->stage};
	bounce_classify_rules(rules, out->diagnostic, strlen(out->diagnostic), &f, out);
	if (out->reason_priority <= BOUNCE_WEAK_PRIORITY && !out->receiver_error && tlen) {
		/* The diagnostic said little: the human-readable text may say more. */
		struct bounce_result *alt = malloc(sizeof *alt);
		if (!alt)
			goto out;
		memcpy(alt, out, sizeof *alt);
		bounce_classify_rules(rules, text, tlen, &f, alt);
		if (alt->reason_priority > out->reason_priority)
			memcpy(out, alt, sizeof *out);
		free(alt);
	}
	rc = 0;
out:
	if (rc != 0)
		memset(out, 0, sizeof *out);
	free(w.dsn);
	buf_free(&w.text);
	buf_free(&w.inner);
	mime_headers_free(&h);
	return rc;
}

int bounce_analyze_rules(const struct brules *rules, const char *msg, size_t len,
                         struct bounce_result *out)
{
	return bounce_analyze_depth(rules, msg, len, out, 0);
}

int bounce_analyze(const char *msg, size_t len, struct bounce_result *out)
{
	return bounce_analyze_depth(brules_builtin(), msg, len, out, 0);
}
