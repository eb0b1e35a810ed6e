/*
 * blockalert - first block at once, then one digest per interval; see blockalert.h.
 */
#include "admin/blockalert.h"

#include "core/clock.h"
#include "core/str.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct blockalert_item {
	struct pol_verdict v;
	char client_ip[64];
	int64_t time_ms;
};

struct blockalert {
	int64_t interval_ms;
	char node[256];
	bool sent_any;
	int64_t last_sent_ms;
	struct blockalert_item items[BLOCKALERT_LIST_MAX];
	unsigned n_items;   /* listed */
	unsigned n_pending; /* counted, listed or not */
	int64_t first_pending_ms;
};

struct blockalert *blockalert_new(int64_t interval_ms, const char *node)
{
	struct blockalert *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	b->interval_ms = interval_ms > 0 ? interval_ms : 60000;
	str_copy_trunc(b->node, sizeof b->node, node ? node : "");
	return b;
}

void blockalert_free(struct blockalert *b)
{
	free(b);
}

unsigned blockalert_pending(const struct blockalert *b)
{
	return b->n_pending;
}

static json_t *blockalert_time(int64_t ms)
{
	char t[40];
	if (clock_format_rfc3339(ms, t, sizeof t) != 0)
		return json_null();
	return json_string(t);
}

static json_t *blockalert_item_json(const struct blockalert_item *it)
{
	json_t *reasons = json_array();
	for (uint32_t i = 0; i < it->v.n_reasons; i++)
		json_array_append_new(reasons, json_string(it->v.reasons[i]));
	return json_pack(
	    "{s:s, s:s, s:i, s:o, s:o, s:o, s:o}", "identity", it->v.identity, "rule", it->v.rule,
	    "score", it->v.score, "created", blockalert_time(it->time_ms), "expires",
	    it->v.block_expires_ms ? blockalert_time(it->v.block_expires_ms) : json_null(),
	    "client_ip", it->client_ip[0] ? json_string(it->client_ip) : json_null(), "reasons",
	    reasons);
}

/* The alert for items[0..n_items) and n_pending in all; resets the pending list. */
static char *blockalert_emit(struct blockalert *b, const char *event, int64_t now_ms)
{
	json_t *blocks = json_array();
	for (unsigned i = 0; i < b->n_items; i++)
		json_array_append_new(blocks, blockalert_item_json(&b->items[i]));
	json_t *doc =
	    json_pack("{s:s, s:o, s:s, s:i, s:i, s:o}", "event", event, "time",
	              blockalert_time(now_ms), "node", b->node, "count", (int)b->n_pending,
	              "omitted", (int)(b->n_pending - b->n_items), "blocks", blocks);
	if (doc && strcmp(event, "block_digest") == 0)
		json_object_set_new(doc, "since", blockalert_time(b->first_pending_ms));
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	b->n_items = b->n_pending = 0;
	b->sent_any = true;
	b->last_sent_ms = now_ms;
	return text;
}

char *blockalert_add(struct blockalert *b, const struct pol_verdict *v, const char *client_ip,
                     int64_t now_ms)
{
	if (b->n_pending == 0)
		b->first_pending_ms = now_ms;
	if (b->n_items < BLOCKALERT_LIST_MAX) {
		struct blockalert_item *it = &b->items[b->n_items++];
		it->v = *v;
		it->time_ms = now_ms;
		str_copy_trunc(it->client_ip, sizeof it->client_ip, client_ip ? client_ip : "");
	}
	if (b->n_pending < UINT32_MAX)
		b->n_pending++;
	/* The first block after a quiet interval is told at once. */
	if (b->n_pending == 1 && (!b->sent_any || now_ms - b->last_sent_ms >= b->interval_ms))
		return blockalert_emit(b, "block", now_ms);
	return NULL;
}

char *blockalert_due(struct blockalert *b, int64_t now_ms)
{
	if (b->n_pending == 0 || (b->sent_any && now_ms - b->last_sent_ms < b->interval_ms))
		return NULL;
	return blockalert_emit(b, "block_digest", now_ms);
}
