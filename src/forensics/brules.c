/*
 * brules - bounce classification rules: parser and matcher; see brules.h.
 *
 * The file is line based: "# comment", "[kind argument]" opens a section,
 * "key = value" fills it (a value in double quotes keeps its spaces). Patterns
 * are lower-cased when loaded; the text they are matched against is lower
 * case already. A pattern is a list of alternatives separated by '|'; each
 * alternative is a list of segments separated by '*' (any gap), found left to
 * right; a segment is literal text, where "{ip}" stands for an address.
 */
#include "forensics/brules.h"

#include "core/grow.h"
#include "core/str.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__asm__(".section .rodata\n"
        ".global brules_builtin_data\n"
        ".type brules_builtin_data, @object\n"
        "brules_builtin_data:\n"
        ".incbin \"data/bounce-rules.conf\"\n"
        ".byte 0\n"
        ".previous\n");

extern const char brules_builtin_data[];

#define BRULES_MAX_FILE (4 << 20)

static const char *const brules_stage_names[] = {NULL, "connect", "helo", "mail", "rcpt", "data"};

const char *brules_stage_name(enum brules_stage s)
{
	if ((size_t)s >= sizeof brules_stage_names / sizeof brules_stage_names[0])
		return NULL;
	return brules_stage_names[s];
}

static void brules_rule_free(struct brules_rule *ru)
{
	char **lists[] = {ru->match,      ru->require, ru->unless, ru->status,
	                  ru->not_status, ru->reply,   ru->host};
	size_t counts[] = {ru->nmatch,      ru->nrequire, ru->nunless, ru->nstatus,
	                   ru->nnot_status, ru->nreply,   ru->nhost};
	for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++) {
		for (size_t i = 0; i < counts[l]; i++)
			free(lists[l][i]);
		free(lists[l]);
	}
	free(ru->id);
	free(ru->name);
	free(ru->family);
	free(ru->delist);
	memset(ru, 0, sizeof *ru);
}

void brules_free(struct brules *r)
{
	for (size_t i = 0; i < r->count; i++)
		brules_rule_free(&r->rules[i]);
	free(r->rules);
	free(r->by_priority);
	r->rules = NULL;
	r->by_priority = NULL;
	r->count = 0;
	r->nreasons = 0;
}

/* Orders the [reason] sections by priority (stable: file order on a tie). */
static int brules_order(struct brules *r)
{
	size_t n = 0;
	for (size_t i = 0; i < r->count; i++)
		n += r->rules[i].kind == BRULES_REASON;
	r->by_priority = malloc((n ? n : 1) * sizeof *r->by_priority);
	if (!r->by_priority)
		return -1;
	r->nreasons = 0;
	for (size_t i = 0; i < r->count; i++) {
		if (r->rules[i].kind != BRULES_REASON)
			continue;
		size_t k = r->nreasons++;
		while (k > 0 && r->rules[r->by_priority[k - 1]].priority < r->rules[i].priority) {
			r->by_priority[k] = r->by_priority[k - 1];
			k--;
		}
		r->by_priority[k] = i;
	}
	return 0;
}

static char *brules_strdup(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static int brules_push(char ***list, size_t *n, size_t *cap, const char *v, size_t len, bool lower)
{
	if (*n >= BRULES_MAX_PATTERNS || grow_array(list, cap, *n + 1, sizeof **list) != 0)
		return -1;
	char *s = brules_strdup(v, len);
	if (!s)
		return -1;
	if (lower)
		for (char *q = s; *q; q++)
			*q = (char)tolower((unsigned char)*q);
	(*list)[(*n)++] = s;
	return 0;
}

/* A pattern's alternatives must not be empty and "{" only opens "{ip}". */
static bool brules_pattern_ok(const char *p)
{
	const char *alt = p;
	for (;;) {
		const char *bar = strchr(alt, '|');
		size_t n = bar ? (size_t)(bar - alt) : strlen(alt);
		bool lit = false;
		for (size_t i = 0; i < n; i++) {
			if (alt[i] == '{') {
				if (n - i < 4 || memcmp(alt + i, "{ip}", 4) != 0)
					return false;
				i += 3;
				lit = true;
			} else if (alt[i] != '*') {
				lit = true;
			}
		}
		if (!lit)
			return false;
		if (!bar)
			return true;
		alt = bar + 1;
	}
}

struct brules_parser {
	struct brules *r;
	size_t cap;
	/* the capacities of the last section's lists (only it takes keys) */
	struct {
		size_t match, require, unless, status, not_status, reply, host;
	} lcap;
	const char *name;
	int line;
	char *err;
	size_t errlen;
};

static int brules_fail(struct brules_parser *p, const char *what, const char *arg)
{
	if (str_format(p->err, p->errlen, "%s:%d: %s%s%s", p->name, p->line, what, arg ? ": " : "",
	               arg ? arg : "") != 0) {
		/* the message is cut at the caller's buffer */
	}
	return -1;
}

static bool brules_class_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
		      *s == '.' || *s == '-'))
			return false;
	return true;
}

static int brules_section(struct brules_parser *p, const char *s, size_t n)
{
	char head[BRULES_MAX_TEXT];
	if (n < 2 || s[n - 1] != ']' || str_copy_n(head, sizeof head, s + 1, n - 2) != 0)
		return brules_fail(p, "bad section header", NULL);
	char *h = str_trim(head);
	char *arg = strchr(h, ' ');
	if (arg) {
		*arg++ = '\0';
		arg = str_trim(arg);
	}
	struct brules_rule ru;
	memset(&ru, 0, sizeof ru);
	ru.line = p->line;
	if (strcmp(h, "list") == 0)
		ru.kind = BRULES_LIST;
	else if (strcmp(h, "error") == 0)
		ru.kind = BRULES_ERROR;
	else if (strcmp(h, "provider") == 0)
		ru.kind = BRULES_PROVIDER;
	else if (strcmp(h, "reason") == 0)
		ru.kind = BRULES_REASON;
	else
		return brules_fail(p, "unknown section kind", h);
	if (ru.kind == BRULES_ERROR ? arg && *arg : !arg || !brules_class_ok(arg))
		return brules_fail(p, "bad or missing section argument", arg ? arg : h);
	if (p->r->count >= BRULES_MAX_RULES)
		return brules_fail(p, "too many sections", NULL);
	if (grow_array(&p->r->rules, &p->cap, p->r->count + 1, sizeof *p->r->rules) != 0)
		return brules_fail(p, "out of memory", NULL);
	ru.id = brules_strdup(arg ? arg : "receiver_error", strlen(arg ? arg : "receiver_error"));
	if (!ru.id)
		return brules_fail(p, "out of memory", NULL);
	ru.priority = 50;
	p->r->rules[p->r->count++] = ru;
	memset(&p->lcap, 0, sizeof p->lcap);
	return 0;
}

static int brules_set_str(struct brules_parser *p, char **dst, const char *v, size_t n)
{
	if (*dst)
		return brules_fail(p, "key given twice", NULL);
	*dst = brules_strdup(v, n);
	return *dst ? 0 : brules_fail(p, "out of memory", NULL);
}

static int brules_stages(struct brules_parser *p, struct brules_rule *ru, const char *v)
{
	char tmp[BRULES_MAX_TEXT];
	char *f[8];
	if (str_copy(tmp, sizeof tmp, v) != 0)
		return brules_fail(p, "stage list too long", NULL);
	int nf = str_split(tmp, " ,", f, 8);
	if (nf <= 0)
		return brules_fail(p, "empty stage list", NULL);
	for (int i = 0; i < nf; i++) {
		bool ok = false;
		for (size_t s = 1; s < sizeof brules_stage_names / sizeof brules_stage_names[0];
		     s++)
			if (strcmp(f[i], brules_stage_names[s]) == 0) {
				ru->stages |= 1u << s;
				ok = true;
			}
		if (!ok)
			return brules_fail(p, "unknown stage", f[i]);
	}
	return 0;
}

static int brules_key(struct brules_parser *p, const char *key, const char *v, size_t vn)
{
	if (p->r->count == 0) {
		if (strcmp(key, "list_priority") == 0) {
			long long x;
			char tmp[32];
			if (str_copy_n(tmp, sizeof tmp, v, vn) != 0 ||
			    str_to_ll(tmp, 0, 1000, &x) != 0)
				return brules_fail(p, "list_priority must be 0..1000", NULL);
			p->r->list_priority = (int)x;
			return 0;
		}
		return brules_fail(p, "key outside a section", key);
	}
	struct brules_rule *ru = &p->r->rules[p->r->count - 1];
	enum brules_kind k = ru->kind;
	bool is_list = k == BRULES_LIST, is_reason = k == BRULES_REASON;
	bool is_prov = k == BRULES_PROVIDER;
	char ***list = NULL;
	size_t *cnt = NULL, *cap = NULL;
	bool pattern = false;

	if ((strcmp(key, "name") == 0 && (is_list || is_prov)) ||
	    (strcmp(key, "detail") == 0 && is_reason))
		return brules_set_str(p, &ru->name, v, vn);
	if (strcmp(key, "family") == 0 && is_list)
		return brules_set_str(p, &ru->family, v, vn);
	if (strcmp(key, "delist") == 0 && (is_list || is_prov))
		return brules_set_str(p, &ru->delist, v, vn);
	if (strcmp(key, "dnsbl") == 0 && is_list) {
		char tmp[8];
		if (str_copy_n(tmp, sizeof tmp, v, vn) != 0 || str_to_bool(tmp, &ru->dnsbl) != 0)
			return brules_fail(p, "dnsbl must be yes or no", NULL);
		return 0;
	}
	if (strcmp(key, "priority") == 0 && is_reason) {
		long long x;
		char tmp[32];
		if (str_copy_n(tmp, sizeof tmp, v, vn) != 0 || str_to_ll(tmp, 0, 1000, &x) != 0)
			return brules_fail(p, "priority must be 0..1000", NULL);
		ru->priority = (int)x;
		return 0;
	}
	if (strcmp(key, "stage") == 0 && is_reason) {
		char tmp[BRULES_MAX_TEXT];
		if (str_copy_n(tmp, sizeof tmp, v, vn) != 0)
			return brules_fail(p, "value too long", NULL);
		return brules_stages(p, ru, tmp);
	}
	if (strcmp(key, "match") == 0 && !is_prov) {
		list = &ru->match, cnt = &ru->nmatch, cap = &p->lcap.match, pattern = true;
	} else if (strcmp(key, "require") == 0 && !is_prov) {
		list = &ru->require, cnt = &ru->nrequire, cap = &p->lcap.require, pattern = true;
	} else if (strcmp(key, "unless") == 0 && !is_prov) {
		list = &ru->unless, cnt = &ru->nunless, cap = &p->lcap.unless, pattern = true;
	} else if (strcmp(key, "status") == 0 && is_reason) {
		list = &ru->status, cnt = &ru->nstatus, cap = &p->lcap.status;
	} else if (strcmp(key, "not_status") == 0 && is_reason) {
		list = &ru->not_status, cnt = &ru->nnot_status, cap = &p->lcap.not_status;
	} else if (strcmp(key, "reply") == 0 && is_reason) {
		list = &ru->reply, cnt = &ru->nreply, cap = &p->lcap.reply;
	} else if (strcmp(key, "host") == 0 && (is_reason || is_prov)) {
		list = &ru->host, cnt = &ru->nhost, cap = &p->lcap.host;
	} else {
		return brules_fail(p, "unknown key for this section", key);
	}
	if (vn == 0)
		return brules_fail(p, "empty value", key);
	if (pattern) {
		/* An alternative in double quotes keeps its spaces: drop the quotes. */
		char tmp[BRULES_MAX_TEXT];
		size_t tn = 0;
		size_t i = 0;
		while (i <= vn) {
			const char *bar = memchr(v + i, '|', vn - i);
			size_t e = bar ? (size_t)(bar - v) : vn;
			size_t a = i, b = e;
			if (b - a >= 2 && v[a] == '"' && v[b - 1] == '"')
				a++, b--;
			if (tn && tn < sizeof tmp)
				tmp[tn++] = '|';
			if (tn + (b - a) >= sizeof tmp)
				return brules_fail(p, "value too long", key);
			memcpy(tmp + tn, v + a, b - a);
			tn += b - a;
			i = e + 1;
		}
		if (brules_push(list, cnt, cap, tmp, tn, true) != 0)
			return brules_fail(p, "too many values or out of memory", key);
		if (!brules_pattern_ok((*list)[*cnt - 1]))
			return brules_fail(p, "bad pattern (empty alternative or '{' not in {ip})",
			                   NULL);
		return 0;
	}
	/* Globs and host names: '|' separates alternatives, kept one per entry. */
	while (vn) {
		const char *bar = memchr(v, '|', vn);
		size_t n = bar ? (size_t)(bar - v) : vn;
		while (n && v[0] == ' ')
			v++, n--, vn--;
		size_t t = n;
		while (t && v[t - 1] == ' ')
			t--;
		if (t == 0)
			return brules_fail(p, "empty alternative", key);
		if (brules_push(list, cnt, cap, v, t, true) != 0)
			return brules_fail(p, "too many values or out of memory", key);
		if (!bar)
			break;
		vn -= n + 1;
		v = bar + 1;
	}
	return 0;
}

static int brules_check(struct brules_parser *p, const struct brules_rule *ru)
{
	p->line = ru->line;
	switch (ru->kind) {
	case BRULES_LIST:
		if (!ru->name || !ru->nmatch)
			return brules_fail(p, "a [list] needs name and match", ru->id);
		break;
	case BRULES_ERROR:
		if (!ru->nmatch)
			return brules_fail(p, "an [error] needs match", NULL);
		break;
	case BRULES_PROVIDER:
		if (!ru->name || !ru->nhost)
			return brules_fail(p, "a [provider] needs name and host", ru->id);
		break;
	case BRULES_REASON:
		if (!ru->nmatch && !ru->nstatus && !ru->nreply && !ru->nhost && !ru->nrequire)
			return brules_fail(
			    p, "a [reason] needs match, require, status, reply or host", ru->id);
		break;
	}
	return 0;
}

int brules_load_string(struct brules *r, const char *text, size_t len, const char *name, char *err,
                       size_t errlen)
{
	struct brules_parser p = {
	    .r = r, .cap = 0, .name = name, .line = 0, .err = err, .errlen = errlen};
	size_t i = 0;
	memset(r, 0, sizeof *r);
	r->list_priority = 60;
	const char *s;
	size_t n;
	while (str_line_next(text, len, &i, &s, &n)) {
		p.line++;
		while (n && (s[0] == ' ' || s[0] == '\t'))
			s++, n--;
		while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
			n--;
		if (n == 0 || s[0] == '#')
			continue;
		if (memchr(s, '\0', n)) {
			brules_fail(&p, "NUL byte", NULL);
			goto fail;
		}
		if (s[0] == '[') {
			if (brules_section(&p, s, n) != 0)
				goto fail;
			continue;
		}
		const char *eq = memchr(s, '=', n);
		if (!eq) {
			brules_fail(&p, "expected key = value", NULL);
			goto fail;
		}
		size_t kn = (size_t)(eq - s);
		while (kn && (s[kn - 1] == ' ' || s[kn - 1] == '\t'))
			kn--;
		char key[32];
		if (kn == 0 || str_copy_n(key, sizeof key, s, kn) != 0) {
			brules_fail(&p, "bad key", NULL);
			goto fail;
		}
		const char *v = eq + 1;
		size_t vn = n - (size_t)(v - s);
		while (vn && (v[0] == ' ' || v[0] == '\t'))
			v++, vn--;
		if (vn >= 2 && v[0] == '"' && v[vn - 1] == '"') {
			v++;
			vn -= 2;
		}
		if (vn >= BRULES_MAX_TEXT) {
			brules_fail(&p, "value too long", key);
			goto fail;
		}
		if (brules_key(&p, key, v, vn) != 0)
			goto fail;
	}
	for (size_t k = 0; k < r->count; k++)
		if (brules_check(&p, &r->rules[k]) != 0)
			goto fail;
	if (brules_order(r) != 0) {
		brules_fail(&p, "out of memory", NULL);
		goto fail;
	}
	return 0;
fail:
	brules_free(r);
	return -1;
}

int brules_load_file(struct brules *r, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		if (str_format(err, errlen, "%s: %s", path, strerror(errno)) != 0) {
			/* cut */
		}
		return -1;
	}
	char *data = malloc(BRULES_MAX_FILE);
	size_t n = data ? fread(data, 1, BRULES_MAX_FILE, f) : 0;
	bool toolong = data && n == BRULES_MAX_FILE;
	bool bad = !data || ferror(f);
	fclose(f);
	int rc = -1;
	if (bad) {
		if (str_format(err, errlen, "%s: cannot read", path) != 0) {
			/* cut */
		}
	} else if (toolong) {
		if (str_format(err, errlen, "%s: larger than %d bytes", path, BRULES_MAX_FILE) !=
		    0) {
			/* cut */
		}
	} else {
		rc = brules_load_string(r, data, n, path, err, errlen);
	}
	free(data);
	return rc;
}

const char *brules_builtin_text(void)
{
	return brules_builtin_data;
}

const struct brules *brules_builtin(void)
{
	static struct brules rules;
	static int state; /* 0 not loaded, 1 loaded, -1 broken */
	if (state == 0) {
		char err[256];
		state = brules_load_string(&rules, brules_builtin_data, strlen(brules_builtin_data),
		                           "bounce-rules.conf", err, sizeof err) == 0
		            ? 1
		            : -1;
	}
	return state == 1 ? &rules : NULL;
}

/* ---- matching ---- */

static bool brules_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool brules_hex(char c)
{
	return brules_digit(c) || (c >= 'a' && c <= 'f');
}

/* Length of an IPv4 or IPv6 address at t[i] (not glued to a preceding one), 0 if none. */
static size_t brules_ip_len(const char *t, size_t n, size_t i)
{
	if (i > 0 && (brules_hex(t[i - 1]) || (t[i - 1] >= 'g' && t[i - 1] <= 'z') ||
	              t[i - 1] == '.' || t[i - 1] == ':' || t[i - 1] == '_' || t[i - 1] == '-'))
		return 0;
	size_t k = i, dots = 0, colons = 0, digits = 0;
	bool hexalpha = false;
	while (k < n && k - i < 45 && (brules_hex(t[k]) || t[k] == '.' || t[k] == ':')) {
		if (t[k] == '.')
			dots++;
		else if (t[k] == ':')
			colons++;
		else if (!brules_digit(t[k]))
			hexalpha = true;
		else
			digits++;
		k++;
	}
	while (k > i && (t[k - 1] == '.' || t[k - 1] == ':')) {
		if (t[k - 1] == '.')
			dots--;
		else
			colons--;
		k--;
	}
	if (k < n && ((t[k] >= 'g' && t[k] <= 'z') || t[k] == '_' || t[k] == '-'))
		return 0; /* glued to a word */
	if (colons == 0 && dots == 3 && !hexalpha && digits >= 4 && brules_digit(t[i]))
		return k - i;
	if (colons >= 2 && dots == 0)
		return k - i;
	return 0;
}

/* Matches segment seg[0, sn) contiguously at t[i]; end offset or (size_t)-1. */
static size_t brules_seg_at(const char *seg, size_t sn, const char *t, size_t n, size_t i)
{
	size_t s = 0;
	while (s < sn) {
		if (sn - s >= 4 && memcmp(seg + s, "{ip}", 4) == 0) {
			size_t l = brules_ip_len(t, n, i);
			if (!l)
				return (size_t)-1;
			i += l;
			s += 4;
			continue;
		}
		const char *br = memchr(seg + s, '{', sn - s);
		size_t ln = br ? (size_t)(br - (seg + s)) : sn - s;
		if (n - i < ln || memcmp(t + i, seg + s, ln) != 0)
			return (size_t)-1;
		i += ln;
		s += ln;
	}
	return i;
}

void brules_bigrams(const char *text, size_t len, uint64_t *bits)
{
	memset(bits, 0, BRULES_BIGRAM_WORDS * sizeof *bits);
	for (size_t i = 0; i + 1 < len; i++) {
		unsigned v =
		    ((unsigned char)text[i] & 63u) << 6 | ((unsigned char)text[i + 1] & 63u);
		bits[v >> 6] |= (uint64_t)1 << (v & 63);
	}
}

/* Are all byte pairs of the literal s[0, n) in the text? */
static bool brules_bigrams_hold(const char *s, size_t n, const uint64_t *bits)
{
	for (size_t i = 0; bits && i + 1 < n; i++) {
		unsigned v = ((unsigned char)s[i] & 63u) << 6 | ((unsigned char)s[i + 1] & 63u);
		if (!(bits[v >> 6] & ((uint64_t)1 << (v & 63))))
			return false;
	}
	return true;
}

/* Leftmost match of seg in t from pos; sets *end; start offset or (size_t)-1. */
static size_t brules_seg_find(const char *seg, size_t sn, const char *t, size_t n, size_t pos,
                              size_t *end, const uint64_t *bits)
{
	const char *br = memchr(seg, '{', sn);
	size_t lead = br ? (size_t)(br - seg) : sn;
	if (!brules_bigrams_hold(seg, lead, bits))
		return (size_t)-1;
	while (pos <= n) {
		size_t cand = pos;
		if (lead) {
			const char *m = memmem(t + pos, n - pos, seg, lead);
			if (!m)
				return (size_t)-1;
			cand = (size_t)(m - t);
		} else {
			while (cand < n && !brules_hex(t[cand]))
				cand++;
			if (cand >= n)
				return (size_t)-1;
		}
		size_t e = brules_seg_at(seg, sn, t, n, cand);
		if (e != (size_t)-1) {
			*end = e;
			return cand;
		}
		pos = cand + 1;
	}
	return (size_t)-1;
}

static bool brules_alt_matches(const char *a, size_t an, const char *t, size_t n,
                               const uint64_t *bits)
{
	size_t pos = 0;
	size_t i = 0;
	while (i < an) {
		const char *st = memchr(a + i, '*', an - i);
		size_t sn = st ? (size_t)(st - (a + i)) : an - i;
		if (sn) {
			size_t end;
			/* "a * b" also matches "a b": the spaces around '*' may be one. */
			size_t from = pos && a[i] == ' ' && t[pos - 1] == ' ' ? pos - 1 : pos;
			if (brules_seg_find(a + i, sn, t, n, from, &end, bits) == (size_t)-1)
				return false;
			pos = end;
		}
		i += sn + 1;
	}
	return true;
}

/* The end of a literal in a pattern: the string's, an alternative's, a gap's, a {ip}'s. */
static bool brules_meta(char c)
{
	return c == '\0' || c == '|' || c == '*' || c == '{';
}

bool brules_pattern_matches(const char *pat, const char *text, size_t len)
{
	return brules_pattern_matches_bits(pat, text, len, NULL);
}

bool brules_pattern_matches_bits(const char *pat, const char *text, size_t len,
                                 const uint64_t *bits)
{
	const char *a = pat;
	for (;;) {
		/* The byte pairs of the alternative's leading literal first (what
		 * brules_seg_find checks first): most alternatives end there, and
		 * then without a look for its '*' and '{'. */
		const char *q = a;
		bool dead = false;
		while (bits && !brules_meta(q[0]) && !brules_meta(q[1])) {
			unsigned v = ((unsigned char)q[0] & 63u) << 6 | ((unsigned char)q[1] & 63u);
			if (!(bits[v >> 6] & ((uint64_t)1 << (v & 63)))) {
				dead = true;
				break;
			}
			q++;
		}
		const char *bar = strchr(q, '|');
		size_t an = bar ? (size_t)(bar - a) : strlen(a);
		if (!dead && an && brules_alt_matches(a, an, text, len, bits))
			return true;
		if (!bar)
			return false;
		a = bar + 1;
	}
}

static bool brules_any_glob(char *const *globs, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (fnmatch(globs[i], s, 0) == 0)
			return true;
	return false;
}

static bool brules_any_sub(char *const *subs, size_t n, const char *s)
{
	for (size_t i = 0; s && *s && i < n; i++)
		if (strstr(s, subs[i]))
			return true;
	return false;
}

bool brules_rule_matches(const struct brules_rule *ru, const struct brules_input *in)
{
	if (ru->stages && !(ru->stages & (1u << in->stage)))
		return false;
	if (ru->nstatus && !(in->status[0] && brules_any_glob(ru->status, ru->nstatus, in->status)))
		return false;
	if (ru->nnot_status && in->status[0] &&
	    brules_any_glob(ru->not_status, ru->nnot_status, in->status))
		return false;
	if (ru->nreply && !(in->reply[0] && brules_any_glob(ru->reply, ru->nreply, in->reply)))
		return false;
	if (ru->kind == BRULES_REASON && ru->nhost &&
	    !brules_any_sub(ru->host, ru->nhost, in->host) &&
	    !brules_any_sub(ru->host, ru->nhost, in->domain))
		return false;
	if (ru->nmatch) {
		bool any = false;
		for (size_t i = 0; i < ru->nmatch && !any; i++)
			any = brules_pattern_matches_bits(ru->match[i], in->text, in->len,
			                                  in->bigrams);
		if (!any)
			return false;
	}
	for (size_t i = 0; i < ru->nrequire; i++)
		if (!brules_pattern_matches_bits(ru->require[i], in->text, in->len, in->bigrams))
			return false;
	for (size_t i = 0; i < ru->nunless; i++)
		if (brules_pattern_matches_bits(ru->unless[i], in->text, in->len, in->bigrams))
			return false;
	return true;
}

bool brules_host_matches(const struct brules_rule *ru, const char *host)
{
	return brules_any_sub(ru->host, ru->nhost, host);
}
