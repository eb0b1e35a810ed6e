/*
 * store - helpers shared by the store backends: identity kinds, the value
 * header of blocks and audit records.
 */
#include "policy/store.h"

#include "core/log.h"

#include <string.h>

static const char *const store_kind_names[] = {"user", "ip", "cidr", "domain"};

const char *store_block_kind_name(enum store_block_kind k)
{
	if ((unsigned)k >= sizeof store_kind_names / sizeof store_kind_names[0])
		panic("store: block kind %d", (int)k);
	return store_kind_names[k];
}

int store_block_kind_of(const char *identity, enum store_block_kind *out)
{
	for (unsigned k = 0; k < sizeof store_kind_names / sizeof store_kind_names[0]; k++) {
		size_t n = strlen(store_kind_names[k]);
		if (strncmp(identity, store_kind_names[k], n) == 0 && identity[n] == ':' &&
		    identity[n + 1] != '\0') {
			*out = (enum store_block_kind)k;
			return 0;
		}
	}
	return -1;
}

#define STORE_VALUE_VERSION 1

void store_value_encode(unsigned char *out, char type, const void *payload, uint32_t size)
{
	out[0] = 'R';
	out[1] = 'G';
	out[2] = (unsigned char)type;
	out[3] = STORE_VALUE_VERSION;
	memcpy(out + 4, &size, 4);
	memcpy(out + STORE_VALUE_HDR, payload, size);
}

#define STORE_HAS_NUL(field) (memchr((field), '\0', sizeof(field)) != NULL)

/* A block or audit record is what this code wrote, or is refused (-1): a
 * damaged store file or a Redis shared with others may hold any bytes, and the
 * strings are read as such, the kind names a table (store_block_kind_name()
 * panics on one out of range), the times are never before the epoch (they
 * are formatted and subtracted: one near INT64_MIN overflowed). */
static int store_value_check(char type, const void *payload, uint32_t size)
{
	if (type == 'B' && size == sizeof(struct store_block)) {
		const struct store_block *b = payload;
		if ((unsigned)b->kind >= sizeof store_kind_names / sizeof store_kind_names[0] ||
		    b->n_evidence > STORE_EVIDENCE_MAX || !STORE_HAS_NUL(b->identity) ||
		    !STORE_HAS_NUL(b->rule) || !STORE_HAS_NUL(b->reason) || b->created_ms < 0 ||
		    b->expires_ms < 0)
			return -1;
		for (uint32_t i = 0; i < b->n_evidence; i++)
			if (!STORE_HAS_NUL(b->evidence[i]))
				return -1;
	} else if (type == 'A' && size >= STORE_AUDIT_V1_SIZE) {
		const struct store_audit *a = payload;
		if (!STORE_HAS_NUL(a->actor) || !STORE_HAS_NUL(a->action) ||
		    !STORE_HAS_NUL(a->identity) || !STORE_HAS_NUL(a->reason) || a->time_ms < 0 ||
		    (size == sizeof *a && (!STORE_HAS_NUL(a->rule) || a->expires_ms < 0)))
			return -1;
	}
	return 0;
}

int store_value_decode(const void *data, size_t len, char type, void *payload, uint32_t size)
{
	const unsigned char *p = data;
	uint32_t got;
	if (len != (size_t)size + STORE_VALUE_HDR || p[0] != 'R' || p[1] != 'G' ||
	    p[2] != (unsigned char)type || p[3] != STORE_VALUE_VERSION)
		return -1;
	memcpy(&got, p + 4, 4);
	if (got != size)
		return -1;
	memcpy(payload, p + STORE_VALUE_HDR, size);
	return store_value_check(type, payload, size);
}

int store_audit_decode(const void *data, size_t len, struct store_audit *out)
{
	if (store_value_decode(data, len, 'A', out, sizeof *out) == 0)
		return 0;
	memset(out, 0, sizeof *out);
	return store_value_decode(data, len, 'A', out, STORE_AUDIT_V1_SIZE);
}

int store_put_exp(struct store *s, const char *key, const void *rec, size_t len, int64_t expires_ms)
{
	if (s->put_exp)
		return s->put_exp(s, key, rec, len, expires_ms);
	return s->put(s, key, rec, len);
}

int store_update_exp(struct store *s, const char *key, store_update_fn fn, void *ctx,
                     int64_t expires_ms)
{
	if (s->update_exp)
		return s->update_exp(s, key, fn, ctx, expires_ms);
	return s->update(s, key, fn, ctx);
}

int store_usage_permille(struct store *s)
{
	uint64_t used = 0, cap = 0;
	if (!s->usage || s->usage(s, &used, &cap) != 0 || cap == 0)
		return -1;
	if (used >= cap)
		return 1000;
	return (int)(used * 1000 / cap);
}
