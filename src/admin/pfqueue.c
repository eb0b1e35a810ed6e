/*
 * pfqueue - the parser of `postqueue -j`; see pfqueue.h.
 */
#include "admin/pfqueue.h"

#include "core/log.h"
#include "core/str.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

bool pfqueue_id_ok(const char *id)
{
	size_t n = strlen(id);
	if (n < 6 || n >= PFQUEUE_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
			return false;
	}
	return true;
}

/* A string member, or "" when absent; -1 when present and not a string, or too long. */
static int pfqueue_str(json_t *o, const char *key, char *dst, size_t size)
{
	json_t *v = json_object_get(o, key);
	dst[0] = '\0';
	if (!v)
		return 0;
	if (!json_is_string(v) || json_string_length(v) >= size ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return -1;
	return str_copy(dst, size, json_string_value(v));
}

/* One line's object into m (its rcpt array given); -1 when it is not a message. */
static int pfqueue_msg_of(json_t *o, struct pfqueue_msg *m)
{
	unsigned kept = 0;
	if (!json_is_object(o) ||
	    pfqueue_str(o, "queue_name", m->queue_name, sizeof m->queue_name) ||
	    pfqueue_str(o, "queue_id", m->queue_id, sizeof m->queue_id) ||
	    pfqueue_str(o, "sender", m->sender, sizeof m->sender) || !m->queue_name[0] ||
	    !pfqueue_id_ok(m->queue_id))
		return -1;
	json_t *t = json_object_get(o, "arrival_time"), *sz = json_object_get(o, "message_size");
	if ((t && !json_is_integer(t)) || (sz && !json_is_integer(sz)) ||
	    (sz && json_integer_value(sz) < 0))
		return -1;
	m->arrival_time = t ? (int64_t)json_integer_value(t) : 0;
	m->message_size = sz ? (uint64_t)json_integer_value(sz) : 0;
	json_t *rc = json_object_get(o, "recipients");
	if (rc && !json_is_array(rc))
		return -1;
	m->nrcpt = 0;
	size_t i;
	json_t *r;
	json_array_foreach(rc, i, r)
	{
		char addr[PFQUEUE_ADDR_MAX];
		if (!json_is_object(r) || pfqueue_str(r, "address", addr, sizeof addr) != 0)
			return -1;
		m->nrcpt++;
		if (kept < PFQUEUE_RCPTS_MAX)
			if (str_copy(m->rcpt[kept++], sizeof m->rcpt[0], addr) != 0)
				panic("pfqueue_msg_of: m->rcpt[kept++] does not fit");
	}
	m->nkept = kept;
	return 0;
}

int pfqueue_parse(const char *data, size_t len, pfqueue_fn fn, void *arg, size_t *bad)
{
	struct pfqueue_msg *m = calloc(1, sizeof *m);
	char(*rcpt)[PFQUEUE_ADDR_MAX] = calloc(PFQUEUE_RCPTS_MAX, PFQUEUE_ADDR_MAX);
	size_t nbad = 0;
	int rc = 0;
	if (!m || !rcpt) {
		free(m);
		free(rcpt);
		return -1;
	}
	size_t off = 0;
	while (off < len && rc == 0) {
		const char *line = data + off;
		const char *nl = memchr(line, '\n', len - off);
		size_t n = nl ? (size_t)(nl - line) : len - off;
		off += n + (nl ? 1 : 0);
		if (n == 0 || (n == 1 && line[0] == '\r'))
			continue;
		json_error_t e;
		json_t *o = json_loadb(line, n, JSON_REJECT_DUPLICATES, &e);
		memset(m, 0, sizeof *m);
		m->rcpt = rcpt;
		if (!o || pfqueue_msg_of(o, m) != 0)
			nbad++;
		else
			rc = fn(arg, m);
		json_decref(o);
	}
	free(rcpt);
	free(m);
	if (bad)
		*bad = nbad;
	return rc;
}
