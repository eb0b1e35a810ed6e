/*
 * dkim - DKIM signing (RFC 6376, RFC 8463); see dkim.h.
 */
#include "smtp/dkim.h"

#include "core/dname.h"
#include "core/grow.h"
#include "core/log.h"
#include "core/str.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct dkim_key {
	char domain[DKIM_DOMAIN_MAX + 1];
	char selector[DKIM_SELECTOR_MAX + 1];
	enum dkim_alg alg;
	EVP_PKEY *pkey;
};

const char *dkim_alg_name(enum dkim_alg a)
{
	return a == DKIM_ALG_ED25519_SHA256 ? "ed25519-sha256" : "rsa-sha256";
}

/* A selector or domain as DKIM's d= and s= take them (RFC 6376 §3.1, §3.5):
 * DNS labels, '_' allowed (selectors), checked by the one DNS name check. */
static bool dkim_name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	return n <= max &&
	       dname_check(s, n, DNAME_UNDERSCORE | DNAME_EDGE_HYPHEN, NULL, 0) == DNAME_OK;
}

int dkim_key_load(struct dkim_key **out, const char *domain, const char *selector, const char *path,
                  char *err, size_t errlen)
{
	*out = NULL;
	if (!dkim_name_ok(domain, DKIM_DOMAIN_MAX)) {
		str_format_trunc(err, errlen, "'%s' is not a domain name", domain);
		return -1;
	}
	if (!dkim_name_ok(selector, DKIM_SELECTOR_MAX)) {
		str_format_trunc(err, errlen, "'%s' is not a DKIM selector", selector);
		return -1;
	}
	FILE *f = fopen(path, "r");
	if (!f) {
		str_format_trunc(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	EVP_PKEY *pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!pkey) {
		str_format_trunc(err, errlen, "%s: not a PEM private key", path);
		return -1;
	}
	enum dkim_alg alg;
	if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA) {
		if (EVP_PKEY_get_bits(pkey) < 1024) {
			str_format_trunc(err, errlen,
			                 "%s: RSA key of %d bits (1024 at least; 2048 advised)",
			                 path, EVP_PKEY_get_bits(pkey));
			EVP_PKEY_free(pkey);
			return -1;
		}
		alg = DKIM_ALG_RSA_SHA256;
	} else if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519) {
		alg = DKIM_ALG_ED25519_SHA256;
	} else {
		str_format_trunc(err, errlen, "%s: neither an RSA nor an Ed25519 key", path);
		EVP_PKEY_free(pkey);
		return -1;
	}
	struct dkim_key *k = calloc(1, sizeof *k);
	if (!k) {
		EVP_PKEY_free(pkey);
		str_format_trunc(err, errlen, "out of memory");
		return -1;
	}
	if (str_copy(k->domain, sizeof k->domain, domain) != 0)
		panic("dkim_key_load: dkim_name_ok() checked the length above"); /* checked above */
	str_lower(k->domain);
	if (str_copy(k->selector, sizeof k->selector, selector) != 0)
		panic("dkim_key_load: dkim_name_ok() checked the length above");
	k->alg = alg;
	k->pkey = pkey;
	*out = k;
	return 0;
}

void dkim_key_free(struct dkim_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

enum dkim_alg dkim_key_alg(const struct dkim_key *k)
{
	return k->alg;
}

const char *dkim_key_domain(const struct dkim_key *k)
{
	return k->domain;
}

int dkim_keyring_add(struct dkim_keyring *r, struct dkim_key *k)
{
	if (grow_array(&r->keys, &r->cap, r->n + 1, sizeof *r->keys) != 0) {
		dkim_key_free(k);
		return -1;
	}
	r->keys[r->n++] = k;
	return 0;
}

const struct dkim_key *dkim_keyring_find(const struct dkim_keyring *r, const char *domain,
                                         size_t len)
{
	for (size_t i = 0; i < r->n; i++)
		if (strlen(r->keys[i]->domain) == len && str_ieq_n(domain, len, r->keys[i]->domain))
			return r->keys[i];
	return NULL;
}

void dkim_keyring_free(struct dkim_keyring *r)
{
	for (size_t i = 0; i < r->n; i++)
		dkim_key_free(r->keys[i]);
	free(r->keys);
	r->keys = NULL;
	r->n = r->cap = 0;
}

/* ---- canonicalisation ---- */

static bool dkim_wsp(char c)
{
	return c == ' ' || c == '\t';
}

int dkim_canon_header(const char *name, size_t name_len, const char *value, size_t value_len,
                      struct buf *out)
{
	while (name_len && dkim_wsp(name[name_len - 1]))
		name_len--;
	char lc[DKIM_NAME_MAX];
	if (name_len > sizeof lc)
		return -1;
	for (size_t i = 0; i < name_len; i++)
		lc[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] + 32) : name[i];
	if (buf_append(out, lc, name_len) != 0 || buf_append_char(out, ':') != 0)
		return -1;
	/* unfold (drop CR and LF), runs of WSP to one SP, none at either end */
	bool wsp = false, started = false;
	size_t i = 0;
	while (i < value_len) {
		size_t j = i;
		while (j < value_len && value[j] != ' ' && value[j] != '\t' && value[j] != '\r' &&
		       value[j] != '\n')
			j++;
		if (j > i) {
			if (wsp && started && buf_append_char(out, ' ') != 0)
				return -1;
			if (buf_append(out, value + i, j - i) != 0)
				return -1;
			started = true;
			wsp = false;
			i = j;
			continue;
		}
		if (value[i] == ' ' || value[i] == '\t')
			wsp = true;
		i++;
	}
	return buf_append(out, "\r\n", 2);
}

void dkim_body_init(struct dkim_body *b, dkim_emit_fn emit, void *arg)
{
	memset(b, 0, sizeof *b);
	b->emit = emit;
	b->arg = arg;
}

static void dkim_body_put(struct dkim_body *b, const char *p, size_t n)
{
	if (b->out_len + n > sizeof b->out) {
		b->emit(b->arg, b->out, b->out_len);
		b->out_len = 0;
		if (n > sizeof b->out) {
			b->emit(b->arg, p, n);
			return;
		}
	}
	memcpy(b->out + b->out_len, p, n);
	b->out_len += n;
}

/* Content is coming on the current line: the deferred line ends and white
 * space go out first. */
static void dkim_body_flush_pending(struct dkim_body *b)
{
	for (; b->crlfs; b->crlfs--)
		dkim_body_put(b, "\r\n", 2);
	if (b->wsp)
		dkim_body_put(b, " ", 1);
	b->wsp = false;
	b->line = true;
	b->any = true;
}

void dkim_body_update(struct dkim_body *b, const char *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		char c = p[i];
		if (b->cr) {
			b->cr = false;
			if (c == '\n') {
				b->crlfs++;
				b->wsp = false;
				b->line = false;
				i++;
				continue;
			}
			dkim_body_flush_pending(b); /* a bare CR is content */
			dkim_body_put(b, "\r", 1);
		}
		if (c == '\r') {
			b->cr = true;
			i++;
			continue;
		}
		if (c == '\n') { /* a bare LF ends a line too */
			b->crlfs++;
			b->wsp = false;
			b->line = false;
			i++;
			continue;
		}
		if (c == ' ' || c == '\t') {
			b->wsp = true;
			i++;
			continue;
		}
		/* a run of content */
		size_t j = i + 1;
		while (j < n && p[j] != '\r' && p[j] != '\n' && p[j] != ' ' && p[j] != '\t')
			j++;
		dkim_body_flush_pending(b);
		dkim_body_put(b, p + i, j - i);
		i = j;
	}
}

void dkim_body_finish(struct dkim_body *b)
{
	if (b->cr) {
		b->cr = false;
		dkim_body_flush_pending(b);
		dkim_body_put(b, "\r", 1);
	}
	/* trailing empty lines go; a non-empty body ends with one CRLF */
	if (b->any)
		dkim_body_put(b, "\r\n", 2);
	b->crlfs = 0;
	if (b->out_len)
		b->emit(b->arg, b->out, b->out_len);
	b->out_len = 0;
}

/* ---- signing ---- */

struct dkim_signer {
	struct buf hdr;
	int hs; /* header scan: 0 in a line, 1 at a line start, 2 after CR there */
	bool in_body, failed;
	EVP_MD_CTX *bh; /* body hash */
	struct dkim_body body;
};

static void dkim_signer_emit(void *arg, const char *p, size_t n)
{
	struct dkim_signer *s = arg;
	if (!EVP_DigestUpdate(s->bh, p, n))
		s->failed = true;
}

struct dkim_signer *dkim_signer_new(void)
{
	struct dkim_signer *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	buf_init(&s->hdr, DKIM_HEADER_MAX);
	s->hs = 1;
	s->bh = EVP_MD_CTX_new();
	if (!s->bh || !EVP_DigestInit_ex(s->bh, EVP_sha256(), NULL)) {
		dkim_signer_free(s);
		return NULL;
	}
	dkim_body_init(&s->body, dkim_signer_emit, s);
	return s;
}

void dkim_signer_free(struct dkim_signer *s)
{
	if (!s)
		return;
	buf_free(&s->hdr);
	EVP_MD_CTX_free(s->bh);
	free(s);
}

int dkim_signer_update(struct dkim_signer *s, const char *p, size_t n)
{
	if (s->failed)
		return -1;
	if (!s->in_body) {
		size_t i = 0;
		for (; i < n && !s->in_body; i++) {
			char c = p[i];
			if (c == '\n') {
				if (s->hs != 0)
					s->in_body = true;
				s->hs = 1;
			} else if (c == '\r') {
				s->hs = s->hs == 1 ? 2 : 0;
			} else {
				s->hs = 0;
			}
		}
		if (buf_append(&s->hdr, p, i) != 0) {
			s->failed = true;
			return -1;
		}
		p += i;
		n -= i;
	}
	if (n)
		dkim_body_update(&s->body, p, n);
	return s->failed ? -1 : 0;
}

/* The domain of the one address of a From value: comments and quoted
 * strings skipped; "" unless there is exactly one '@' outside them. */
static void dkim_from_domain(const char *v, size_t len, char *out, size_t size)
{
	out[0] = '\0';
	int depth = 0, ats = 0;
	bool quoted = false;
	size_t dom = 0;
	for (size_t i = 0; i < len; i++) {
		char c = v[i];
		if (quoted) {
			if (c == '\\')
				i++;
			else if (c == '"')
				quoted = false;
		} else if (depth > 0) {
			if (c == '\\')
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
		} else if (c == '"') {
			quoted = true;
		} else if (c == '(') {
			depth = 1;
		} else if (c == '@') {
			ats++;
			dom = i + 1;
		}
	}
	if (ats != 1)
		return;
	size_t e = dom;
	while (e < len && v[e] != '>' && v[e] != ' ' && v[e] != '\t' && v[e] != '\r' &&
	       v[e] != '\n' && v[e] != '(' && v[e] != ',' && v[e] != ';')
		e++;
	if (e == dom || e - dom >= size)
		return;
	memcpy(out, v + dom, e - dom);
	out[e - dom] = '\0';
	str_lower(out);
}

struct dkim_field {
	const char *name, *value;
	size_t name_len, value_len;
};

/*
 * The header fields in order, *nf of them; NULL when out of memory. A line
 * starting with white space continues the field before it; a line without
 * a colon (or a continuation with no field before it) is no field and is
 * skipped; the blank line ends the section. Values keep their line ends
 * (canonicalisation drops them).
 */
static struct dkim_field *dkim_fields(const struct buf *hdr, size_t *nf)
{
	const char *p = hdr->data ? hdr->data : "";
	size_t len = hdr->len, pos = 0, n = 0, cap = 32;
	bool open = false; /* v[n - 1] may take continuation lines */
	struct dkim_field *v = malloc(cap * sizeof *v);
	if (!v)
		return NULL;
	while (pos < len) {
		const char *lf = memchr(p + pos, '\n', len - pos);
		size_t end = lf ? (size_t)(lf - p) + 1 : len;
		if (p[pos] == '\n' || (p[pos] == '\r' && pos + 1 < len && p[pos + 1] == '\n'))
			break; /* the blank line */
		if (p[pos] == ' ' || p[pos] == '\t') {
			if (open)
				v[n - 1].value_len = end - (size_t)(v[n - 1].value - p);
		} else {
			const char *colon = memchr(p + pos, ':', end - pos);
			open = colon != NULL;
			if (colon) {
				if (grow_array(&v, &cap, n + 1, sizeof *v) != 0) {
					free(v);
					return NULL;
				}
				size_t nl = (size_t)(colon - (p + pos));
				while (nl && (p[pos + nl - 1] == ' ' || p[pos + nl - 1] == '\t'))
					nl--; /* "Name :" is "Name:" (RFC 5322 obsolete syntax) */
				v[n++] = (struct dkim_field){p + pos, colon + 1, nl,
				                             end - (size_t)(colon + 1 - p)};
			}
		}
		pos = end;
	}
	*nf = n;
	return v;
}

void dkim_signer_from_domain(struct dkim_signer *s, char *out, size_t size)
{
	out[0] = '\0';
	size_t n = 0, froms = 0;
	struct dkim_field *f = dkim_fields(&s->hdr, &n);
	if (!f)
		return;
	for (size_t i = 0; i < n; i++)
		if (str_ieq_n(f[i].name, f[i].name_len, "from") && ++froms == 1)
			dkim_from_domain(f[i].value, f[i].value_len, out, size);
	if (froms != 1)
		out[0] = '\0';
	free(f);
}

/* RFC 6376 §5.4.1's list, then Message-ID and the MIME fields. */
static const struct {
	const char *name;
	bool over; /* oversigned: listed once more than it occurs */
} dkim_signed[] = {
    {"from", true},
    {"reply-to", false},
    {"subject", true},
    {"date", false},
    {"to", true},
    {"cc", false},
    {"resent-date", false},
    {"resent-from", false},
    {"resent-to", false},
    {"resent-cc", false},
    {"in-reply-to", false},
    {"references", false},
    {"list-id", false},
    {"list-help", false},
    {"list-unsubscribe", false},
    {"list-subscribe", false},
    {"list-post", false},
    {"list-owner", false},
    {"list-archive", false},
    {"message-id", false},
    {"mime-version", false},
    {"content-type", false},
    {"content-transfer-encoding", false},
};

static int dkim_b64(const unsigned char *p, size_t n, struct buf *out)
{
	size_t need = 4 * ((n + 2) / 3) + 1;
	unsigned char *tmp = malloc(need);
	if (!tmp)
		return -1;
	int len = EVP_EncodeBlock(tmp, p, (int)n);
	int rc = buf_append(out, tmp, (size_t)len);
	free(tmp);
	return rc;
}

/* Appends text to the field, folding first when the line would pass 78. */
static int dkim_fold_put(struct buf *b, size_t *col, const char *p, size_t n)
{
	if (*col + n > 76 && *col > 1) {
		if (buf_append(b, "\r\n\t", 3) != 0)
			return -1;
		*col = 1;
	}
	*col += n;
	return buf_append(b, p, n);
}

static int dkim_sign_data(const struct dkim_key *k, const unsigned char *data, size_t len,
                          unsigned char *sig, size_t *siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = 0;
	if (!ctx)
		return -1;
	if (k->alg == DKIM_ALG_RSA_SHA256) {
		ok = EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
		     EVP_DigestSign(ctx, sig, siglen, data, len) == 1;
	} else {
		/* RFC 8463 §3: Ed25519 (pure) over the SHA-256 hash of the data */
		unsigned char h[32];
		unsigned hl = 0;
		ok = EVP_Digest(data, len, h, &hl, EVP_sha256(), NULL) == 1 &&
		     EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
		     EVP_DigestSign(ctx, sig, siglen, h, hl) == 1;
	}
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

int dkim_signer_finish(struct dkim_signer *s, const struct dkim_key *k, int64_t now_s,
                       struct buf *out, char *err, size_t errlen)
{
	struct dkim_field *f = NULL;
	struct buf field, hh;
	buf_init(&field, DKIM_SIG_MAX);
	buf_init(&hh, DKIM_HEADER_MAX + DKIM_SIG_MAX);
	size_t nf = 0;
	int rc = -1;
	if (s->failed) {
		str_format_trunc(err, errlen, "header section over %d bytes", DKIM_HEADER_MAX);
		goto done;
	}
	dkim_body_finish(&s->body);
	unsigned char bh[EVP_MAX_MD_SIZE];
	unsigned bhl = 0;
	if (!EVP_DigestFinal_ex(s->bh, bh, &bhl)) {
		str_format_trunc(err, errlen, "body hash failed");
		goto done;
	}
	s->failed = true; /* finished: no more updates */
	f = dkim_fields(&s->hdr, &nf);
	if (!f) {
		str_format_trunc(err, errlen, "out of memory");
		goto done;
	}
	/* the field up to b=, folded; the header hash input beside it */
	size_t col = 0;
	char tmp[512];
	if (str_format(tmp, sizeof tmp, "DKIM-Signature: v=1; a=%s; c=relaxed/relaxed;",
	               dkim_alg_name(k->alg)) != 0)
		panic("dkim_sign: the domain, selector and header names are short");
	if (dkim_fold_put(&field, &col, tmp, strlen(tmp)) != 0)
		goto full;
	if (str_format(tmp, sizeof tmp, " d=%s;", k->domain) != 0)
		panic("dkim_sign: the domain, selector and header names are short");
	if (dkim_fold_put(&field, &col, tmp, strlen(tmp)) != 0)
		goto full;
	if (str_format(tmp, sizeof tmp, " s=%s;", k->selector) != 0)
		panic("dkim_sign: the domain, selector and header names are short");
	if (dkim_fold_put(&field, &col, tmp, strlen(tmp)) != 0)
		goto full;
	if (str_format(tmp, sizeof tmp, " t=%lld;", (long long)now_s) != 0)
		panic("dkim_sign: the domain, selector and header names are short");
	if (dkim_fold_put(&field, &col, tmp, strlen(tmp)) != 0)
		goto full;
	bool first = true;
	for (size_t i = 0; i < sizeof dkim_signed / sizeof dkim_signed[0]; i++) {
		const char *name = dkim_signed[i].name;
		size_t occ[64], count = 0;
		for (size_t j = 0; j < nf; j++)
			if (str_ieq_n(f[j].name, f[j].name_len, name)) {
				if (count == sizeof occ / sizeof occ[0]) {
					str_format_trunc(err, errlen, "more than %zu %s fields",
					                 count, name);
					goto done;
				}
				occ[count++] = j;
			}
		size_t times = count + (dkim_signed[i].over ? 1 : 0);
		for (size_t t = 0; t < times; t++) {
			if (str_format(tmp, sizeof tmp, "%s%s", first ? " h=" : ":", name) != 0)
				panic("dkim_sign: the domain, selector and header names are short");
			first = false;
			if (dkim_fold_put(&field, &col, tmp, strlen(tmp)) != 0)
				goto full;
			/* instances from the bottom up; past them, nothing (§5.4.2) */
			if (t < count) {
				const struct dkim_field *g = &f[occ[count - 1 - t]];
				if (dkim_canon_header(g->name, g->name_len, g->value, g->value_len,
				                      &hh) != 0)
					goto full;
			}
		}
	}
	if (first) /* From is signed even when absent (over = true) */
		panic("dkim: no header field to sign");
	if (buf_append_char(&field, ';') != 0)
		goto full;
	col++;
	if (dkim_fold_put(&field, &col, " bh=", 4) != 0)
		goto full;
	size_t bh_at = field.len;
	if (dkim_b64(bh, bhl, &field) != 0 || buf_append_char(&field, ';') != 0)
		goto full;
	col += field.len - bh_at;
	if (dkim_fold_put(&field, &col, " b=", 3) != 0)
		goto full;
	/* the field with an empty b=, relaxed, without its CRLF, ends the input */
	const char *colon = memchr(field.data, ':', field.len);
	if (dkim_canon_header(field.data, (size_t)(colon - field.data), colon + 1,
	                      field.len - (size_t)(colon + 1 - field.data), &hh) != 0)
		goto full;
	hh.len -= 2;
	unsigned char sig[1024];
	size_t siglen = sizeof sig;
	if (dkim_sign_data(k, (const unsigned char *)hh.data, hh.len, sig, &siglen) != 0) {
		str_format_trunc(err, errlen, "signing with the %s key of %s failed",
		                 dkim_alg_name(k->alg), k->domain);
		goto done;
	}
	struct buf b64;
	buf_init(&b64, 2048);
	if (dkim_b64(sig, siglen, &b64) != 0) {
		buf_free(&b64);
		goto full;
	}
	for (size_t i = 0; i < b64.len;) {
		size_t room = col < 76 ? 76 - col : 0;
		if (room == 0) {
			if (buf_append(&field, "\r\n\t", 3) != 0) {
				buf_free(&b64);
				goto full;
			}
			col = 1;
			continue;
		}
		size_t take = b64.len - i < room ? b64.len - i : room;
		if (buf_append(&field, b64.data + i, take) != 0) {
			buf_free(&b64);
			goto full;
		}
		col += take;
		i += take;
	}
	buf_free(&b64);
	if (buf_append(&field, "\r\n", 2) != 0 || buf_append(out, field.data, field.len) != 0)
		goto full;
	rc = 0;
	goto done;
full:
	str_format_trunc(err, errlen, "signature field too large");
done:
	free(f);
	buf_free(&field);
	buf_free(&hh);
	return rc;
}

int dkim_sign_message(const struct dkim_key *k, const char *msg, size_t len, int64_t now_s,
                      struct buf *out, char *err, size_t errlen)
{
	struct dkim_signer *s = dkim_signer_new();
	if (!s) {
		str_format_trunc(err, errlen, "out of memory");
		return -1;
	}
	int rc = dkim_signer_update(s, msg, len);
	if (rc != 0)
		str_format_trunc(err, errlen, "header section over %d bytes", DKIM_HEADER_MAX);
	else
		rc = dkim_signer_finish(s, k, now_s, out, err, errlen);
	dkim_signer_free(s);
	return rc;
}

/* ---- keys for DNS ---- */

static int dkim_pkey_txt(EVP_PKEY *pkey, enum dkim_alg alg, struct buf *txt)
{
	unsigned char *der = NULL;
	size_t n = 0;
	unsigned char raw[64];
	if (alg == DKIM_ALG_ED25519_SHA256) {
		/* RFC 8463 §4: the bare 32-byte public key */
		n = sizeof raw;
		if (EVP_PKEY_get_raw_public_key(pkey, raw, &n) != 1)
			return -1;
	} else {
		int len = i2d_PUBKEY(pkey, &der); /* SubjectPublicKeyInfo, as RFC 6376 §3.6.1 */
		if (len <= 0)
			return -1;
		n = (size_t)len;
	}
	int rc = buf_printf(
	    txt, "v=DKIM1; k=%s; p=", alg == DKIM_ALG_ED25519_SHA256 ? "ed25519" : "rsa");
	if (rc == 0)
		rc = dkim_b64(der ? der : raw, n, txt);
	OPENSSL_free(der);
	return rc;
}

int dkim_key_txt(const struct dkim_key *k, struct buf *txt)
{
	return dkim_pkey_txt(k->pkey, k->alg, txt);
}

int dkim_keygen(enum dkim_alg alg, int bits, const char *path, struct buf *txt, char *err,
                size_t errlen)
{
	EVP_PKEY *pkey = alg == DKIM_ALG_ED25519_SHA256 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
	                                                : EVP_RSA_gen((unsigned)bits);
	if (!pkey) {
		str_format_trunc(err, errlen, "key generation failed");
		return -1;
	}
	int rc = -1;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		str_format_trunc(err, errlen, "%s: %s", path, strerror(errno));
		goto done;
	}
	FILE *f = fdopen(fd, "w");
	if (!f) {
		str_format_trunc(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		(void)unlink(path);
		goto done;
	}
	bool ok = PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) == 1;
	ok = fflush(f) == 0 && ok && fsync(fileno(f)) == 0;
	if (fclose(f) != 0 || !ok) {
		str_format_trunc(err, errlen, "%s: write failed", path);
		(void)unlink(path);
		goto done;
	}
	if (dkim_pkey_txt(pkey, alg, txt) != 0) {
		str_format_trunc(err, errlen, "public key encoding failed");
		goto done;
	}
	rc = 0;
done:
	EVP_PKEY_free(pkey);
	return rc;
}
