/*
 * mtasts - the MTA-STS record and policy parsers and the mx matcher.
 */
#include "delivery/mtasts.h"

#include "core/dname.h"
#include "core/log.h"
#include "core/str.h"

#include <string.h>
#include <strings.h>

static int mtasts_fail(char *err, size_t errlen, const char *why)
{
	if (err && errlen)
		str_copy_trunc(err, errlen, why);
	return -1;
}

const char *mtasts_mode_name(enum mtasts_mode m)
{
	switch (m) {
	case MTASTS_NONE:
		return "none";
	case MTASTS_TESTING:
		return "testing";
	case MTASTS_ENFORCE:
		return "enforce";
	}
	panic("mtasts: mode %d", (int)m);
}

static bool mtasts_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* One record "v=STSv1; id=ID; ext=..." (RFC 8461 §3.1). 0 or -1. */
static int mtasts_txt_record(const char *p, size_t len, char id[MTASTS_ID_MAX], char *err,
                             size_t errlen)
{
	bool have_id = false, first = true;
	size_t i = 0;
	while (i < len) {
		while (i < len && (p[i] == ' ' || p[i] == '\t'))
			i++;
		if (i == len)
			break;
		size_t k = i;
		while (k < len && p[k] != '=' && p[k] != ';')
			k++;
		if (k == len || p[k] != '=' || k == i)
			return mtasts_fail(err, errlen, "TXT: a field without '='");
		size_t v = k + 1, e = v;
		while (e < len && p[e] != ';')
			e++;
		size_t ve = e;
		while (ve > v && (p[ve - 1] == ' ' || p[ve - 1] == '\t'))
			ve--;
		if (first) {
			if (k - i != 1 || p[i] != 'v' || ve - v != 5 ||
			    memcmp(p + v, "STSv1", 5) != 0)
				return mtasts_fail(err, errlen, "TXT: v=STSv1 must come first");
			first = false;
		} else if (k - i == 2 && memcmp(p + i, "id", 2) == 0) {
			if (have_id || ve == v || ve - v > MTASTS_ID_MAX - 1)
				return mtasts_fail(err, errlen, "TXT: bad or repeated id");
			for (size_t c = v; c < ve; c++)
				if (!mtasts_alnum(p[c]))
					return mtasts_fail(err, errlen,
					                   "TXT: id is not alphanumeric");
			memcpy(id, p + v, ve - v);
			id[ve - v] = '\0';
			have_id = true;
		}
		i = e < len ? e + 1 : e;
	}
	return have_id ? 0 : mtasts_fail(err, errlen, "TXT: no id");
}

int mtasts_parse_txt(const char *p, size_t len, char id[MTASTS_ID_MAX], char *err, size_t errlen)
{
	int found = 0;
	size_t i = 0;
	id[0] = '\0';
	while (i <= len) {
		/* records are joined by " | " */
		size_t e = i;
		while (e < len && !(e + 3 <= len && memcmp(p + e, " | ", 3) == 0))
			e++;
		if (e - i >= 7 && memcmp(p + i, "v=STSv1", 7) == 0 &&
		    (e - i == 7 || p[i + 7] == ';' || p[i + 7] == ' ' || p[i + 7] == '\t')) {
			if (found)
				return mtasts_fail(err, errlen,
				                   "TXT: more than one v=STSv1 record");
			if (mtasts_txt_record(p + i, e - i, id, err, errlen) != 0)
				return -1;
			found = 1;
		}
		if (e >= len)
			break;
		i = e + 3;
	}
	return found;
}

/* A host name, optionally "*." first (RFC 8461 §3.2 mx patterns), lower-cased
 * into out; the one DNS name check (core/dname) says whether it is one. */
static int mtasts_pattern(const char *p, size_t n, char out[MTASTS_NAME_MAX])
{
	unsigned flags = DNAME_ROOT_DOT | DNAME_WILDCARD | DNAME_UNDERSCORE | DNAME_EDGE_HYPHEN;
	return dname_check(p, n, flags, out, MTASTS_NAME_MAX) == DNAME_OK ? 0 : -1;
}

int mtasts_parse_policy(const char *p, size_t len, struct mtasts_policy *out, char *err,
                        size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (len > MTASTS_POLICY_MAX)
		return mtasts_fail(err, errlen, "policy larger than 64 KiB");
	bool have_version = false, have_mode = false, have_age = false;
	size_t i = 0;
	while (i < len) {
		size_t e = i;
		while (e < len && p[e] != '\n')
			e++;
		size_t le = e;
		if (le > i && p[le - 1] == '\r')
			le--;
		if (le > i) {
			size_t c = i;
			while (c < le && p[c] != ':')
				c++;
			if (c == le || c == i)
				return mtasts_fail(err, errlen, "policy: a line without 'key:'");
			for (size_t k = i; k < c; k++)
				if (!mtasts_alnum(p[k]) && p[k] != '_' && p[k] != '-' &&
				    p[k] != '.')
					return mtasts_fail(err, errlen, "policy: bad key");
			size_t v = c + 1, ve = le;
			while (v < ve && (p[v] == ' ' || p[v] == '\t'))
				v++;
			while (ve > v && (p[ve - 1] == ' ' || p[ve - 1] == '\t'))
				ve--;
			size_t kl = c - i, vl = ve - v;
			const char *k = p + i, *val = p + v;
			if (kl == 7 && memcmp(k, "version", 7) == 0) {
				if (have_version || vl != 5 || memcmp(val, "STSv1", 5) != 0)
					return mtasts_fail(err, errlen,
					                   "policy: version is not STSv1");
				have_version = true;
			} else if (kl == 4 && memcmp(k, "mode", 4) == 0) {
				if (have_mode)
					return mtasts_fail(err, errlen, "policy: mode twice");
				if (vl == 7 && memcmp(val, "enforce", 7) == 0)
					out->mode = MTASTS_ENFORCE;
				else if (vl == 7 && memcmp(val, "testing", 7) == 0)
					out->mode = MTASTS_TESTING;
				else if (vl == 4 && memcmp(val, "none", 4) == 0)
					out->mode = MTASTS_NONE;
				else
					return mtasts_fail(err, errlen, "policy: unknown mode");
				have_mode = true;
			} else if (kl == 7 && memcmp(k, "max_age", 7) == 0) {
				uint64_t a;
				if (have_age || str_to_u64(val, vl, 0, MTASTS_MAX_AGE, &a) != 0)
					return mtasts_fail(err, errlen, "policy: bad max_age");
				out->max_age = (uint32_t)a;
				have_age = true;
			} else if (kl == 2 && memcmp(k, "mx", 2) == 0) {
				char pat[MTASTS_NAME_MAX];
				if (mtasts_pattern(val, vl, pat) != 0)
					return mtasts_fail(err, errlen, "policy: bad mx pattern");
				if (out->nmx < MTASTS_MX_MAX)
					memcpy(out->mx[out->nmx++], pat, strlen(pat) + 1);
			}
			/* other keys: ignored (extensions) */
		}
		i = e < len ? e + 1 : e;
	}
	if (!have_version || !have_mode || !have_age)
		return mtasts_fail(err, errlen, "policy: version, mode or max_age missing");
	if (out->mode != MTASTS_NONE && out->nmx == 0)
		return mtasts_fail(err, errlen, "policy: no mx");
	return 0;
}

bool mtasts_mx_match(const struct mtasts_policy *p, const char *host)
{
	size_t n = strlen(host);
	if (n > 0 && host[n - 1] == '.')
		n--;
	for (unsigned i = 0; i < p->nmx; i++) {
		const char *pat = p->mx[i];
		size_t pl = strlen(pat);
		if (pl > 2 && pat[0] == '*' && pat[1] == '.') {
			/* one label, then the rest equal */
			const char *dot = memchr(host, '.', n);
			if (dot && dot > host && (size_t)(host + n - dot) == pl - 1 &&
			    strncasecmp(dot, pat + 1, pl - 1) == 0)
				return true;
		} else if (pl == n && strncasecmp(host, pat, n) == 0) {
			return true;
		}
	}
	return false;
}
