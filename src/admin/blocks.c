/*
 * blocks - listing, history and unblock shared by the CLI and the web; see blocks.h.
 */
#include "admin/blocks.h"

#include "core/addr.h"
#include "core/clock.h"
#include "core/str.h"

#include <string.h>

int blocks_identity(const char *in, char *out, size_t size)
{
	enum store_block_kind k;
	if (store_block_kind_of(in, &k) == 0)
		return str_copy(out, size, in);
	size_t len = strlen(in);
	struct cidr c;
	if (memchr(in, '/', len) && cidr_parse(in, len, &c) == 0)
		return str_format(out, size, "cidr:%s", in);
	struct addr a;
	if (addr_parse(in, len, &a) == 0)
		return str_format(out, size, "ip:%s", in);
	if (len == 0 || strpbrk(in, " \t\r\n:"))
		return -1;
	return str_format(out, size, "user:%s", in);
}

int blocks_normalize(const struct pol_engine *e, const char *in, char *out, size_t size)
{
	char ident[POL_IDENT_MAX];
	if (blocks_identity(in, ident, sizeof ident) != 0)
		return -1;
	return pol_engine_normalize(e, ident, out, size);
}

json_t *blocks_json(const struct store_block *b)
{
	char created[40], expires[40];
	clock_format_rfc3339(b->created_ms, created, sizeof created);
	clock_format_rfc3339(b->expires_ms, expires, sizeof expires);
	json_t *ev = json_array();
	for (uint32_t i = 0; i < b->n_evidence && i < STORE_EVIDENCE_MAX; i++)
		json_array_append_new(ev, json_string(b->evidence[i]));
	json_t *o =
	    json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:I}", "identity", b->identity, "kind",
	              store_block_kind_name(b->kind), "rule", b->rule, "reason", b->reason,
	              "evidence", ev, "created", created, "offences", (json_int_t)b->offences);
	if (o)
		json_object_set_new(o, "expires",
		                    b->expires_ms ? json_string(expires) : json_null());
	return o;
}

static int blocks_list_cb(void *ctx, const struct store_block *b)
{
	json_t *j = blocks_json(b);
	return j && json_array_append_new(ctx, j) == 0 ? 0 : -1;
}

json_t *blocks_list(struct store *st)
{
	json_t *arr = json_array();
	if (!arr || st->block_iter(st, blocks_list_cb, arr) != 0) {
		json_decref(arr);
		return NULL;
	}
	return json_pack("{s:o}", "blocks", arr);
}

struct blocks_audit_ctx {
	const char *identity;
	json_t *arr;
};

static int blocks_audit_cb(void *ctx, const struct store_audit *a)
{
	struct blocks_audit_ctx *c = ctx;
	if (c->identity && strcmp(a->identity, c->identity) != 0)
		return 0;
	char t[40];
	clock_format_rfc3339(a->time_ms, t, sizeof t);
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "time", t, "actor", a->actor, "action",
	                      a->action, "identity", a->identity, "reason", a->reason);
	return j && json_array_append_new(c->arr, j) == 0 ? 0 : -1;
}

json_t *blocks_audit(struct store *st, const char *identity)
{
	struct blocks_audit_ctx c = {.identity = identity, .arr = json_array()};
	if (!c.arr || st->audit_iter(st, blocks_audit_cb, &c) != 0) {
		json_decref(c.arr);
		return NULL;
	}
	return c.arr;
}

enum blocks_unblock_result blocks_unblock(struct pol_engine *e, const char *in, const char *actor,
                                          const char *reason, int64_t now_ms, char *norm,
                                          size_t normsize)
{
	char ident[POL_IDENT_MAX];
	if (blocks_identity(in, ident, sizeof ident) != 0 ||
	    pol_engine_normalize(e, ident, norm, normsize) != 0)
		return BLOCKS_BAD_IDENTITY;
	int r = pol_engine_unblock(e, ident, actor, reason, now_ms);
	if (r < 0)
		return BLOCKS_STORE_ERROR;
	return r == 0 ? BLOCKS_LIFTED : BLOCKS_NOT_BLOCKED;
}

int blocks_block(struct pol_engine *e, const char *in, const char *actor, const char *reason,
                 int64_t now_ms, int64_t expires_ms, char *norm, size_t normsize)
{
	char ident[POL_IDENT_MAX];
	if (blocks_identity(in, ident, sizeof ident) != 0 ||
	    pol_engine_normalize(e, ident, norm, normsize) != 0)
		return BLOCKS_BAD_IDENTITY;
	return pol_engine_block(e, norm, actor, reason, now_ms, expires_ms) == 0
	           ? 0
	           : BLOCKS_STORE_ERROR;
}

json_t *blocks_unblock_json(const char *norm, enum blocks_unblock_result r)
{
	return json_pack("{s:s, s:s}", "identity", norm, "result",
	                 r == BLOCKS_LIFTED ? "unblocked" : "not blocked; counters reset");
}
