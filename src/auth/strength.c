/*
 * strength - the password strength policy; see strength.h and docs/users.md.
 */
#include "auth/strength.h"

#include "auth/passwd.h"
#include "auth/pwlist.h"
#include "core/buf.h"
#include "core/hash.h"
#include "core/htab.h"
#include "core/log.h"
#include "core/mailaddr.h"
#include "core/str.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STRENGTH_WORK_MAX (PASSWD_PLAIN_MAX + 1)
#define STRENGTH_ENTRY_MAX 256
#define STRENGTH_FILE_MAX (64u * 1024 * 1024)

struct strength_set {
	struct htab words; /* of NUL-terminated lower-case strings */
	bool builtin_done;
	bool default_tried;
	int default_rc;
	char default_used[PATH_MAX];
	char default_err[512];
};

static struct strength_set strength_common;

void strength_policy_init(struct strength_policy *p)
{
	p->min_length = STRENGTH_MIN_LENGTH_DEFAULT;
}

struct strength_key {
	const char *s;
	size_t len;
};

static bool strength_word_eq(const void *item, const void *key)
{
	const struct strength_key *k = key;
	return strlen(item) == k->len && memcmp(item, k->s, k->len) == 0;
}

static bool strength_set_has(const struct strength_set *set, const char *s, size_t len)
{
	struct strength_key k = {s, len};
	return htab_find(&set->words, hash_fnv1a64(s, len), strength_word_eq, &k) != NULL;
}

/* Adds a lower-case string of len bytes (no NUL inside). */
static void strength_set_add(struct strength_set *set, const char *s, size_t len)
{
	if (strength_set_has(set, s, len))
		return;
	char *copy = xmalloc(len + 1);
	memcpy(copy, s, len);
	copy[len] = '\0';
	if (htab_insert(&set->words, hash_fnv1a64(s, len), copy) != 0)
		fatal("strength: out of memory");
}

static void strength_lower_n(char *dst, const char *src, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
	}
	dst[len] = '\0';
}

/* Adds the passwords in text (one a line, '#' comments, blank lines). */
static int strength_common_add_text(const char *text, size_t len, const char *name, char *err,
                                    size_t errlen)
{
	char low[STRENGTH_ENTRY_MAX + 1];
	size_t pos = 0;
	unsigned long lineno = 0;
	const char *line;
	size_t llen;
	while (str_line_next(text, len, &pos, &line, &llen)) {
		lineno++;
		if (llen == 0 || line[0] == '#')
			continue;
		if (llen > STRENGTH_ENTRY_MAX) {
			str_format_trunc(err, errlen, "%s:%lu: line longer than %d bytes", name,
			                 lineno, STRENGTH_ENTRY_MAX);
			return -1;
		}
		if (memchr(line, '\0', llen)) {
			str_format_trunc(err, errlen, "%s:%lu: NUL byte", name, lineno);
			return -1;
		}
		strength_lower_n(low, line, llen);
		strength_set_add(&strength_common, low, llen);
	}
	return 0;
}

/* The list compiled into the binary; loaded on first use. */
static void strength_builtin_load(void)
{
	if (strength_common.builtin_done)
		return;
	strength_common.builtin_done = true;
	char err[256];
	if (strength_common_add_text(pwlist_text(), pwlist_len(), "(built-in list)", err,
	                             sizeof err) < 0)
		panic("%s", err); /* the build embedded a broken data/common-passwords.txt */
}

int strength_common_load(const char *path, char *err, size_t errlen)
{
	strength_builtin_load();
	FILE *f = fopen(path, "re");
	if (!f) {
		str_format_trunc(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	struct buf b;
	buf_init(&b, STRENGTH_FILE_MAX);
	char chunk[8192];
	size_t n;
	int rc = 0;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (buf_append(&b, chunk, n) < 0) {
			str_format_trunc(err, errlen, "%s: larger than %u bytes", path,
			                 STRENGTH_FILE_MAX);
			rc = -1;
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		str_format_trunc(err, errlen, "%s: read error", path);
		rc = -1;
	}
	fclose(f);
	if (rc == 0)
		rc = strength_common_add_text(buf_cstr(&b), b.len, path, err, errlen);
	buf_free(&b);
	return rc;
}

int strength_common_load_default(char *used, size_t usedsize, char *err, size_t errlen)
{
	struct strength_set *set = &strength_common;
	if (!set->default_tried) {
		set->default_tried = true;
		set->default_rc = 0;
		strength_builtin_load();
		const char *env = getenv("RELAYGUARD_COMMON_PASSWORDS");
		if (env && *env) {
			set->default_rc =
			    strength_common_load(env, set->default_err, sizeof set->default_err);
			if (str_copy(set->default_used, sizeof set->default_used, env) != 0) {
				set->default_rc = -1;
				str_copy_trunc(set->default_err, sizeof set->default_err,
				               "RELAYGUARD_COMMON_PASSWORDS: path too long");
			}
		}
	}
	if (used && usedsize)
		str_copy_trunc(used, usedsize, set->default_used);
	if (set->default_rc < 0)
		str_copy_trunc(err, errlen, set->default_err);
	return set->default_rc;
}

bool strength_is_common(const char *pw, size_t len)
{
	char low[STRENGTH_WORK_MAX];
	if (len >= sizeof low)
		return false;
	strength_builtin_load();
	strength_lower_n(low, pw, len);
	bool r = strength_set_has(&strength_common, low, len);
	passwd_wipe(low, sizeof low);
	return r;
}

size_t strength_common_count(void)
{
	strength_builtin_load();
	return htab_count(&strength_common.words);
}

void strength_common_free(void)
{
	size_t pos = 0;
	for (char *w; (w = htab_next(&strength_common.words, &pos));)
		free(w);
	htab_free(&strength_common.words);
	memset(&strength_common, 0, sizeof strength_common);
}

/* --- the checks ---------------------------------------------------------- */

static bool strength_contains(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
	if (nlen == 0 || nlen > hlen)
		return false;
	return memmem(hay, hlen, needle, nlen) != NULL;
}

/* Leetspeak undone, so "p@ssw0rd" and "s4les" compare as words. */
static void strength_unleet(char *dst, const char *src, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = src[i];
		switch (c) {
		case '@':
		case '4':
			c = 'a';
			break;
		case '0':
			c = 'o';
			break;
		case '1':
		case '!':
			c = 'i';
			break;
		case '3':
			c = 'e';
			break;
		case '$':
		case '5':
			c = 's';
			break;
		case '7':
		case '+':
			c = 't';
			break;
		case '8':
			c = 'b';
			break;
		case '9':
			c = 'g';
			break;
		default:
			break;
		}
		dst[i] = c;
	}
	dst[len] = '\0';
}

static bool strength_is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

/* The word inside decorations: digits and symbols stripped from both ends. */
static void strength_core(const char *s, size_t len, size_t *start, size_t *clen)
{
	size_t a = 0, b = len;
	while (a < b && !strength_is_alpha((unsigned char)s[a]))
		a++;
	while (b > a && !strength_is_alpha((unsigned char)s[b - 1]))
		b--;
	*start = a;
	*clen = b - a;
}

static size_t strength_chars(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

static const char *const strength_walks[] = {
    "abcdefghijklmnopqrstuvwxyz",
    "1234567890",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "qwertzuiop",
    "azertyuiop",
    "yxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "qazwsxedcrfvtgbyhnujmikolp",
    "!@#$%^&*()",
    "zaq1xsw2cde3vfr4bgt5nhy6mju7",
};

/* A keyboard or alphabet walk, forwards or backwards, possibly wrapping once
 * round the same row: "qwertyuiop", "0987654321", "zyxwvutsrq". */
static bool strength_is_walk(const char *low, size_t len)
{
	if (len < 4)
		return false;
	for (size_t w = 0; w < sizeof strength_walks / sizeof strength_walks[0]; w++) {
		const char *row = strength_walks[w];
		size_t rlen = strlen(row);
		for (int dir = 0; dir < 2; dir++) {
			bool all = true;
			for (size_t i = 1; i < len && all; i++) {
				const char *p = memchr(row, low[i - 1], rlen);
				if (!p) {
					all = false;
					break;
				}
				size_t k = (size_t)(p - row);
				size_t next = dir == 0 ? (k + 1) % rlen : (k + rlen - 1) % rlen;
				all = row[next] == low[i];
			}
			if (all)
				return true;
		}
	}
	return false;
}

static bool strength_is_repeat(const char *s, size_t len)
{
	for (size_t unit = 1; unit <= len / 2; unit++) {
		if (len % unit != 0)
			continue;
		bool rep = true;
		for (size_t i = unit; i < len && rep; i++)
			rep = s[i] == s[i - unit];
		if (rep)
			return true;
	}
	return false;
}

static size_t strength_distinct(const char *s, size_t len)
{
	unsigned char seen[256] = {0};
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		if (!seen[(unsigned char)s[i]]++)
			n++;
	return n;
}

/* The name checks: the whole name, its local part, the parts of the local part
 * split at . _ - +, each reversed, and the first label of the domain. */
static const char *strength_check_user(const char *user, const char *low, const char *unleet,
                                       size_t len)
{
	char name[512];
	if (!user || !*user || str_copy(name, sizeof name, user) < 0)
		return NULL;
	str_lower(name);
	size_t nlen = strlen(name);
	struct mailaddr ma;
	mailaddr_split(name, nlen, &ma);
	size_t llen = ma.local_len;

	if ((len == nlen && memcmp(low, name, len) == 0) ||
	    (len == llen && memcmp(low, name, llen) == 0))
		return "password is the user name";
	/* A one- or two-letter name is inside too many good passwords to refuse them. */
	if (llen >= 3 &&
	    (strength_contains(low, len, name, llen) || strength_contains(unleet, len, name, llen)))
		return "password contains the user name";
	char rev[512];
	for (size_t i = 0; i < llen; i++)
		rev[i] = name[llen - 1 - i];
	rev[llen] = '\0';
	if (llen >= 3 &&
	    (strength_contains(low, len, rev, llen) || strength_contains(unleet, len, rev, llen)))
		return "password contains the user name reversed";
	size_t i = 0;
	while (i < llen) {
		size_t j = i;
		while (j < llen && !strchr("._-+", name[j]))
			j++;
		if (j - i >= 3 && j - i < llen &&
		    (strength_contains(low, len, name + i, j - i) ||
		     strength_contains(unleet, len, name + i, j - i)))
			return "password contains part of the user name";
		i = j + 1;
	}
	if (ma.has_at) {
		const char *dom = ma.domain;
		const char *dot = strchr(dom, '.');
		size_t dlen = dot ? (size_t)(dot - dom) : strlen(dom);
		if (dlen >= 4 && (strength_contains(low, len, dom, dlen) ||
		                  strength_contains(unleet, len, dom, dlen)))
			return "password contains the domain name";
	}
	return NULL;
}

static const char *strength_check_common(const char *low, const char *unleet, size_t len)
{
	const struct strength_set *set = &strength_common;
	if (strength_set_has(set, low, len))
		return "password is in the list of common passwords";
	if (strength_set_has(set, unleet, len))
		return "password is a common password with letters swapped for digits or symbols";
	size_t start, clen;
	strength_core(low, len, &start, &clen);
	if (clen >= 4 && clen < len &&
	    (strength_set_has(set, low + start, clen) ||
	     strength_set_has(set, unleet + start, clen)))
		return "password is a common password with digits or symbols added";
	return NULL;
}

static const char *strength_check_variety(const char *pw, const char *low, size_t len,
                                          size_t nchars)
{
	bool lower = false, upper = false, digit = false, other = false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)pw[i];
		if (c >= 'a' && c <= 'z')
			lower = true;
		else if (c >= 'A' && c <= 'Z')
			upper = true;
		else if (c >= '0' && c <= '9')
			digit = true;
		else
			other = true;
	}
	if (strength_distinct(low, len) < 5)
		return "password uses too few different characters";
	if (strength_is_repeat(low, len))
		return "password repeats a short pattern";
	if (strength_is_walk(low, len))
		return "password is a sequence or a keyboard walk";
	if (digit && !lower && !upper && !other && nchars < 16)
		return "password is only digits (use letters too, or at least 16 digits)";
	int classes = lower + upper + digit + other;
	if (classes == 1 && nchars < 12)
		return "password uses only one kind of character and is shorter than 12 characters";
	return NULL;
}

int strength_check(const struct strength_policy *p, const char *user, const char *pw, size_t pwlen,
                   char *reason, size_t reasonlen)
{
	char low[STRENGTH_WORK_MAX];
	char unleet[STRENGTH_WORK_MAX];
	const char *why = NULL;
	char whybuf[128];

	strength_builtin_load();
	if (pwlen == 0) {
		why = "password is empty";
		goto out;
	}
	if (pwlen > PASSWD_PLAIN_MAX) {
		why = "password is longer than 1024 bytes";
		goto out;
	}
	for (size_t i = 0; i < pwlen; i++) {
		unsigned char c = (unsigned char)pw[i];
		if (c < 0x20 || c == 0x7f) {
			why = "password contains control characters";
			goto out;
		}
	}
	size_t nchars = strength_chars(pw, pwlen);
	size_t min = p && p->min_length ? p->min_length : STRENGTH_MIN_LENGTH_DEFAULT;
	if (nchars < min) {
		str_format_trunc(whybuf, sizeof whybuf, "password is shorter than %zu characters",
		                 min);
		why = whybuf;
		goto out;
	}
	strength_lower_n(low, pw, pwlen);
	strength_unleet(unleet, low, pwlen);
	why = strength_check_user(user, low, unleet, pwlen);
	if (!why)
		why = strength_check_common(low, unleet, pwlen);
	if (!why)
		why = strength_check_variety(pw, low, pwlen, nchars);
out:
	passwd_wipe(low, sizeof low);
	passwd_wipe(unleet, sizeof unleet);
	if (!why)
		return 0;
	str_copy_trunc(reason, reasonlen, why);
	return -1;
}
