/*
 * rekey - see rekey.h.
 */
#include "policy/rekey.h"

#include "core/grow.h"
#include "core/log.h"
#include "core/str.h"
#include "policy/canon.h"

#include <stdlib.h>
#include <string.h>

#define REKEY_MAX 100000 /* old spellings moved in one pass (more: next open) */

struct rekey_list {
	char (*ids)[POL_IDENT_MAX];
	size_t n, cap;
	int err;
};

static int rekey_collect(void *ctx, const struct store_block *b)
{
	struct rekey_list *l = ctx;
	char c[POL_IDENT_MAX];
	if (b->kind != STORE_BLOCK_USER && b->kind != STORE_BLOCK_DOMAIN)
		return 0;
	if (canon_identity(b->identity, c, sizeof c) != 0 || strcmp(c, b->identity) == 0)
		return 0;
	if (l->n == REKEY_MAX)
		return 0;
	if (grow_array(&l->ids, &l->cap, l->n + 1, sizeof *l->ids) != 0) {
		l->err = 1;
		return 1;
	}
	if (str_copy(l->ids[l->n++], POL_IDENT_MAX, b->identity) != 0)
		panic("rekey_collect: l->ids[l->n++] does not fit");
	return 0;
}

static int rekey_audit(struct store *st, const char *action, const char *identity,
                       const char *reason, const struct store_block *b)
{
	struct store_audit a;
	memset(&a, 0, sizeof a);
	a.time_ms = b->created_ms;
	if (str_copy(a.actor, sizeof a.actor, "engine") != 0)
		panic("rekey_audit: a.actor does not fit");
	if (str_copy(a.action, sizeof a.action, action) != 0)
		panic("rekey_audit: a.action does not fit");
	if (str_copy(a.identity, sizeof a.identity, identity) != 0)
		return -1;
	str_sanitize(a.reason, sizeof a.reason, reason, strlen(reason));
	if (strcmp(action, "block") == 0) {
		if (str_copy(a.rule, sizeof a.rule, b->rule) != 0)
			panic("rekey_audit: a.rule does not fit");
		a.expires_ms = b->expires_ms;
		a.offences = b->offences;
	}
	return st->audit_append(st, &a);
}

/* Moves the block of old to its canonical key. 1 moved, 0 gone meanwhile, -1. */
static int rekey_one(struct store *st, const char *old)
{
	struct store_block b, have;
	char c[POL_IDENT_MAX], why[POL_TEXT_MAX];
	int rc = st->block_get(st, old, &b);
	if (rc != 1)
		return rc;
	if (canon_identity(old, c, sizeof c) != 0)
		return 0;
	rc = st->block_get(st, c, &have);
	if (rc < 0)
		return -1;
	if (rc == 1) { /* both spellings blocked: one block, the longer */
		bool keep =
		    have.expires_ms == 0 || (b.expires_ms != 0 && have.expires_ms >= b.expires_ms);
		uint32_t off = have.offences > b.offences ? have.offences : b.offences;
		if (keep)
			b = have;
		b.offences = off;
	}
	if (str_copy(b.identity, sizeof b.identity, c) != 0)
		return -1;
	if (st->block_put(st, &b) != 0)
		return -1;
	if (st->block_del(st, old) < 0)
		return -1;
	str_format_trunc(why, sizeof why, "renamed to its canonical form %s", c);
	if (rekey_audit(st, "unblock", old, why, &b) != 0)
		return -1;
	str_format_trunc(why, sizeof why, "%s (was %s)", b.reason, old);
	if (rekey_audit(st, "block", c, why, &b) != 0)
		return -1;
	return 1;
}

long rekey_blocks(struct store *st)
{
	if (st->block_count(st) == 0)
		return 0;
	struct rekey_list l = {0};
	long moved = 0;
	if (st->block_iter(st, rekey_collect, &l) < 0 || l.err) {
		free(l.ids);
		return -1;
	}
	for (size_t i = 0; i < l.n; i++) {
		int rc = rekey_one(st, l.ids[i]);
		if (rc < 0) {
			moved = -1;
			break;
		}
		moved += rc;
	}
	free(l.ids);
	return moved;
}
