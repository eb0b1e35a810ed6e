/*
 * qenv - envelope text format: writer and defensive parser (qenv.h,
 * docs/queue.md). The fields are described by two tables so the writer and
 * the parser cannot disagree about names, types or sizes.
 */
#include "queue/qenv.h"

#include "core/grow.h"
#include "core/log.h"
#include "core/str.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum qenv_type { QENV_STR, QENV_U64, QENV_UINT, QENV_BOOL, QENV_STATUS };

struct qenv_field {
	const char *name;
	enum qenv_type type;
	size_t off;
	size_t size; /* QENV_STR: the buffer size */
};

#define QENV_F(n, t, f)                                                                            \
	{                                                                                          \
		n, t, offsetof(struct queue_envelope, f), sizeof(((struct queue_envelope *)0)->f)  \
	}
#define QENV_R(n, t, f)                                                                            \
	{                                                                                          \
		n, t, offsetof(struct queue_rcpt, f), sizeof(((struct queue_rcpt *)0)->f)          \
	}

static const struct qenv_field qenv_fields[] = {
    QENV_F("id", QENV_STR, id),
    QENV_F("arrival", QENV_U64, arrival_ms),
    QENV_F("sender", QENV_STR, sender),
    QENV_F("client_ip", QENV_STR, client_ip),
    QENV_F("client_helo", QENV_STR, client_helo),
    QENV_F("auth_user", QENV_STR, auth_user),
    QENV_F("protocol", QENV_STR, protocol),
    QENV_F("listener", QENV_STR, listener),
    QENV_F("sender_verified", QENV_BOOL, sender_verified),
    QENV_F("envid", QENV_STR, envid),
    QENV_F("ret", QENV_STR, ret),
    QENV_F("body", QENV_STR, body),
    QENV_F("smtputf8", QENV_BOOL, smtputf8),
    QENV_F("size", QENV_U64, size),
    QENV_F("hold_reason", QENV_STR, hold_reason),
    QENV_F("next_attempt", QENV_U64, next_attempt_ms),
    QENV_F("attempts", QENV_UINT, attempts),
};
#define QENV_NFIELDS (sizeof qenv_fields / sizeof qenv_fields[0])

/* "rcpt ADDR" starts a recipient; these follow it. */
static const struct qenv_field qenv_rfields[] = {
    QENV_R("r.orcpt", QENV_STR, orcpt),      QENV_R("r.notify", QENV_UINT, notify),
    QENV_R("r.status", QENV_STATUS, status), QENV_R("r.attempts", QENV_UINT, attempts),
    QENV_R("r.reply", QENV_STR, last_reply),
};
#define QENV_NRFIELDS (sizeof qenv_rfields / sizeof qenv_rfields[0])

static const char *const qenv_status_names[] = {"pending", "sent", "failed"};

const char *qenv_status_name(enum queue_rcpt_status s)
{
	if ((unsigned)s >= sizeof qenv_status_names / sizeof qenv_status_names[0])
		panic("queue: recipient status %d", (int)s);
	return qenv_status_names[s];
}

static int qenv_put_escaped(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '\\') {
			if (buf_append_char(out, (char)*p) < 0)
				return -1;
		} else {
			char e[4] = {'\\', 'x', hex[*p >> 4], hex[*p & 15]};
			if (buf_append(out, e, 4) < 0)
				return -1;
		}
	}
	return 0;
}

static int qenv_put_field(struct buf *out, const struct qenv_field *f, const void *base)
{
	const char *p = (const char *)base + f->off;
	if (buf_append_str(out, f->name) < 0 || buf_append_char(out, ' ') < 0)
		return -1;
	switch (f->type) {
	case QENV_STR:
		if (qenv_put_escaped(out, p) < 0)
			return -1;
		break;
	case QENV_U64:
		if (buf_printf(out, "%" PRIu64, *(const uint64_t *)(const void *)p) < 0)
			return -1;
		break;
	case QENV_UINT:
		if (buf_printf(out, "%u", *(const unsigned *)(const void *)p) < 0)
			return -1;
		break;
	case QENV_BOOL:
		if (buf_append_char(out, *(const bool *)(const void *)p ? '1' : '0') < 0)
			return -1;
		break;
	case QENV_STATUS:
		if (buf_append_str(out, qenv_status_name(
		                            *(const enum queue_rcpt_status *)(const void *)p)) < 0)
			return -1;
		break;
	default:
		panic("qenv: field %s has type %d", f->name, (int)f->type);
	}
	return buf_append_char(out, '\n');
}

int qenv_format(const struct queue_envelope *env, struct buf *out)
{
	if (buf_printf(out, "rgq-envelope %d\n", QENV_VERSION) < 0)
		return -1;
	for (size_t i = 0; i < QENV_NFIELDS; i++)
		if (qenv_put_field(out, &qenv_fields[i], env) < 0)
			return -1;
	for (unsigned r = 0; r < env->nrcpt; r++) {
		if (buf_append_str(out, "rcpt ") < 0 ||
		    qenv_put_escaped(out, env->rcpt[r].addr) < 0 || buf_append_char(out, '\n') < 0)
			return -1;
		for (size_t i = 0; i < QENV_NRFIELDS; i++)
			if (qenv_put_field(out, &qenv_rfields[i], &env->rcpt[r]) < 0)
				return -1;
	}
	return buf_append_str(out, "end\n");
}

/* Upper-case only: the writer emits nothing else, so nothing else is valid. */
static int qenv_hexval(char c)
{
	static const char digits[] = "0123456789ABCDEF";
	const char *p = c ? strchr(digits, c) : NULL;
	return p ? (int)(p - digits) : -1;
}

/* Unescapes v[0..n) into dst (size bytes with the NUL). 0 or -1. */
static int qenv_unescape(const char *v, size_t n, char *dst, size_t size)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c == '\\') {
			if (i + 3 >= n || v[i + 1] != 'x')
				return -1;
			int hi = qenv_hexval(v[i + 2]), lo = qenv_hexval(v[i + 3]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (unsigned char)(hi * 16 + lo);
			if (c == 0)
				return -1;
			i += 3;
		} else if (c < 0x20 || c >= 0x7f) {
			return -1;
		}
		if (o + 1 >= size)
			return -1;
		dst[o++] = (char)c;
	}
	dst[o] = '\0';
	return 0;
}

static int qenv_set_field(const struct qenv_field *f, void *base, const char *v, size_t n)
{
	char *p = (char *)base + f->off;
	uint64_t u;
	switch (f->type) {
	case QENV_STR:
		return qenv_unescape(v, n, p, f->size);
	case QENV_U64:
		if (str_to_u64(v, n, 0, UINT64_MAX, &u) < 0)
			return -1;
		*(uint64_t *)(void *)p = u;
		return 0;
	case QENV_UINT:
		if (str_to_u64(v, n, 0, UINT32_MAX, &u) < 0)
			return -1;
		*(unsigned *)(void *)p = (unsigned)u;
		return 0;
	case QENV_BOOL:
		if (n != 1 || (v[0] != '0' && v[0] != '1'))
			return -1;
		*(bool *)(void *)p = v[0] == '1';
		return 0;
	case QENV_STATUS:
		for (size_t i = 0; i < sizeof qenv_status_names / sizeof qenv_status_names[0]; i++)
			if (strlen(qenv_status_names[i]) == n &&
			    memcmp(qenv_status_names[i], v, n) == 0) {
				*(enum queue_rcpt_status *)(void *)p = (enum queue_rcpt_status)i;
				return 0;
			}
		return -1;
	}
	panic("qenv: field %s has type %d", f->name, (int)f->type);
}

static const struct qenv_field *qenv_lookup(const struct qenv_field *t, size_t nt, const char *k,
                                            size_t kn, size_t *idx)
{
	for (size_t i = 0; i < nt; i++)
		if (strlen(t[i].name) == kn && memcmp(t[i].name, k, kn) == 0) {
			*idx = i;
			return &t[i];
		}
	return NULL;
}

void qenv_free(struct queue_envelope *env)
{
	free(env->rcpt);
	env->rcpt = NULL;
	env->nrcpt = 0;
}

int qenv_parse(const char *p, size_t n, struct queue_envelope *env, char *err, size_t errlen)
{
	memset(env, 0, sizeof *env);
	unsigned line = 0;
	size_t cap = 0;
	bool seen[QENV_NFIELDS] = {false}, rseen[QENV_NRFIELDS] = {false}, ended = false;
	const char *what = "";
	size_t pos = 0;
	if (n > QENV_TEXT_MAX) {
		what = "envelope too large";
		goto fail;
	}
	while (pos < n) {
		const char *nl = memchr(p + pos, '\n', n - pos);
		line++;
		if (!nl) {
			what = "last line not terminated";
			goto fail;
		}
		const char *l = p + pos;
		size_t ll = (size_t)(nl - l);
		pos += ll + 1;
		if (ended) {
			what = "data after end";
			goto fail;
		}
		const char *sp = memchr(l, ' ', ll);
		size_t kn = sp ? (size_t)(sp - l) : ll;
		const char *v = sp ? sp + 1 : l + ll;
		size_t vn = sp ? ll - kn - 1 : 0;
		if (line == 1) {
			if (kn != 12 || memcmp(l, "rgq-envelope", 12) != 0) {
				what = "not an envelope (no rgq-envelope line)";
				goto fail;
			}
			if (vn != 1 || v[0] != '0' + QENV_VERSION) {
				what = "unsupported envelope version";
				goto fail;
			}
			continue;
		}
		if (kn == 3 && memcmp(l, "end", 3) == 0 && !sp) {
			ended = true;
			continue;
		}
		if (kn == 4 && memcmp(l, "rcpt", 4) == 0) {
			if (env->nrcpt >= QUEUE_RCPT_MAX) {
				what = "too many recipients";
				goto fail;
			}
			grow_xarray_max(&env->rcpt, &cap, env->nrcpt + 1, sizeof *env->rcpt,
			                QUEUE_RCPT_MAX);
			struct queue_rcpt *r = &env->rcpt[env->nrcpt++];
			memset(r, 0, sizeof *r);
			memset(rseen, 0, sizeof rseen);
			if (vn == 0 || qenv_unescape(v, vn, r->addr, sizeof r->addr) < 0) {
				what = "bad rcpt address";
				goto fail;
			}
			continue;
		}
		size_t idx;
		const struct qenv_field *f = qenv_lookup(qenv_fields, QENV_NFIELDS, l, kn, &idx);
		if (f) {
			if (seen[idx]) {
				what = "repeated key";
				goto fail;
			}
			seen[idx] = true;
			if (qenv_set_field(f, env, v, vn) < 0) {
				what = "bad value";
				goto fail;
			}
			continue;
		}
		f = qenv_lookup(qenv_rfields, QENV_NRFIELDS, l, kn, &idx);
		if (f) {
			if (env->nrcpt == 0) {
				what = "recipient field before any rcpt";
				goto fail;
			}
			if (rseen[idx]) {
				what = "repeated recipient key";
				goto fail;
			}
			rseen[idx] = true;
			if (qenv_set_field(f, &env->rcpt[env->nrcpt - 1], v, vn) < 0) {
				what = "bad recipient value";
				goto fail;
			}
			continue;
		}
		what = "unknown key";
		goto fail;
	}
	if (line == 0) {
		what = "empty";
		goto fail;
	}
	if (!ended) {
		what = "no end line (truncated)";
		goto fail;
	}
	if (!seen[0] || env->id[0] == '\0') {
		what = "no id";
		line = 0;
		goto fail;
	}
	return 0;
fail:
	qenv_free(env);
	memset(env, 0, sizeof *env);
	if (line)
		str_format_trunc(err, errlen, "line %u: %s", line, what);
	else
		str_format_trunc(err, errlen, "%s", what);
	return -1;
}

void qenv_copy(struct queue_envelope *dst, const struct queue_envelope *src)
{
	*dst = *src;
	dst->rcpt = NULL;
	if (src->nrcpt) {
		dst->rcpt = xmalloc((unsigned long)src->nrcpt * sizeof *src->rcpt);
		memcpy(dst->rcpt, src->rcpt, (size_t)src->nrcpt * sizeof *src->rcpt);
	}
}
