/*
 * trace - the Received-chain walk; see trace.h and docs/trace.md.
 *
 * The walk follows SpamAssassin's trusted_networks logic (Received.pm), with
 * the trust decided by networks only, as CLI.md asks: authentication does not
 * make a hop trusted, it is reported for the origin hop so the admin can look
 * up the account in the log by the hop's queue id.
 */
#include "forensics/trace.h"

#include "forensics/logline.h"

#include "core/buf.h"
#include "core/str.h"

#include <string.h>

bool trace_ip_trusted(const struct addr *a, const struct prefix_set *trusted)
{
	if (addr_is_private(a))
		return true;
	return trusted && prefix_set_lookup(trusted, a, NULL, NULL);
}

static bool trace_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Copies with control characters replaced; truncates by design. */
static void trace_copy(char *dst, size_t size, const char *p, size_t len)
{
	logspan_copy((struct logspan){p, len}, dst, size); /* control bytes as '?' */
}

/* Appends " word" (or "word" first) to dst if it fits whole. */
static void trace_append_word(char *dst, size_t size, const char *p, size_t len)
{
	size_t have = strlen(dst);
	size_t need = (have ? 1 : 0) + len;
	if (have + need + 1 > size)
		return;
	if (have)
		dst[have++] = ' ';
	trace_copy(dst + have, size - have, p, len);
}

/* Removes (comments) from v into out (bounded, truncates). */
static void trace_strip_comments(const char *v, size_t len, char *out, size_t size)
{
	size_t o = 0, depth = 0;
	for (size_t i = 0; i < len && o + 1 < size; i++) {
		char c = v[i];
		if (c == '\\' && i + 1 < len && depth > 0) {
			i++;
			continue;
		}
		if (c == '(') {
			depth++;
			continue;
		}
		if (c == ')' && depth > 0) {
			depth--;
			if (depth == 0)
				out[o++] = ' ';
			continue;
		}
		if (depth == 0)
			out[o++] = (unsigned char)c < 32 ? ' ' : c;
	}
	out[o] = '\0';
}

int trace_authres_parse(const char *v, size_t len, struct trace_authres *out)
{
	char text[2048];
	memset(out, 0, sizeof *out);
	trace_strip_comments(v, len, text, sizeof text);
	size_t tl = strlen(text), i = 0;
	int piece = 0;
	while (i <= tl) {
		size_t start = i;
		while (i < tl && text[i] != ';')
			i++;
		size_t end = i++;
		/* Words of this piece. */
		size_t p = start;
		bool first = true;
		struct trace_authres_result *res = NULL;
		while (p < end) {
			while (p < end && trace_is_space(text[p]))
				p++;
			size_t ws = p;
			while (p < end && !trace_is_space(text[p]))
				p++;
			if (p == ws)
				break;
			const char *w = text + ws;
			size_t wl = p - ws;
			if (piece == 0) {
				if (first)
					trace_copy(out->authserv_id, sizeof out->authserv_id, w,
					           wl);
			} else if (first) {
				const char *eq = memchr(w, '=', wl);
				if (!eq || out->nresults >= TRACE_AUTHRES_RESULTS)
					break;
				res = &out->results[out->nresults++];
				size_t ml = (size_t)(eq - w);
				const char *slash = memchr(w, '/', ml);
				if (slash)
					ml = (size_t)(slash - w);
				trace_copy(res->method, sizeof res->method, w, ml);
				str_lower(res->method);
				trace_copy(res->result, sizeof res->result, eq + 1,
				           wl - (size_t)(eq - w) - 1);
				str_lower(res->result);
			} else if (res) {
				trace_append_word(res->detail, sizeof res->detail, w, wl);
			}
			first = false;
		}
		piece++;
	}
	return out->authserv_id[0] ? 0 : -1;
}

static void trace_walk(struct trace *t, const struct prefix_set *trusted)
{
	bool believed = true;
	t->origin = -1;
	t->origin_local = false;
	for (size_t i = 0; i < t->nhops; i++) {
		struct trace_hop *h = &t->hops[i];
		h->believed = believed;
		h->trusted = false;
		if (!h->parsed)
			continue;
		if (!h->r.has_ip) {
			h->trusted = believed && h->r.local;
			continue;
		}
		bool ok = trace_ip_trusted(&h->r.ip, trusted);
		if (believed && !ok) {
			t->origin = (int)i;
			believed = false;
			continue;
		}
		h->trusted = believed && ok;
	}
	if (t->origin >= 0)
		return;
	/* Every hop trusted: the earliest hop's client, or its local submitter. */
	for (size_t i = t->nhops; i > 0; i--) {
		struct trace_hop *h = &t->hops[i - 1];
		if (!h->parsed)
			continue;
		if (h->r.has_ip) {
			t->origin = (int)(i - 1);
			return;
		}
		if (h->r.local) {
			t->origin = (int)(i - 1);
			t->origin_local = true;
			return;
		}
	}
}

static void trace_field(struct trace *t, const struct msg_field *f, const char *v, size_t vl)
{
	if (msg_field_is(f, "Received")) {
		t->nreceived++;
		if (t->nhops >= TRACE_HOPS_MAX)
			return;
		struct trace_hop *h = &t->hops[t->nhops++];
		h->parsed = received_parse(v, vl, &h->r) == 0;
		trace_copy(h->raw, sizeof h->raw, v, vl);
	} else if (msg_field_is(f, "Message-ID") && !t->has_message_id) {
		trace_copy(t->message_id, sizeof t->message_id, v, vl);
		t->has_message_id = vl > 0;
	} else if (msg_field_is(f, "X-Originating-IP") && !t->has_x_originating_ip) {
		struct addr a;
		if (received_parse_ip(v, vl, &a) == 0 &&
		    addr_format(&a, t->x_originating_ip, sizeof t->x_originating_ip) == 0)
			t->has_x_originating_ip = true;
	} else if (msg_field_is(f, "Authentication-Results") && t->nauthres < TRACE_AUTHRES_MAX) {
		if (trace_authres_parse(v, vl, &t->authres[t->nauthres]) == 0)
			t->nauthres++;
	}
}

int trace_run(const char *msg, size_t len, const struct prefix_set *trusted, struct trace *out)
{
	struct msg_reader r;
	struct msg_field f;
	struct buf value;
	int rc, status = -1;

	memset(out, 0, sizeof *out);
	out->origin = -1;
	buf_init(&value, MSG_FIELD_MAX);
	msg_reader_init(&r, msg, len);
	while ((rc = msg_next(&r, &f)) == 1) {
		/* MSG_FIELD_MAX bounds the raw field, so the unfolded value always fits. */
		if (msg_unfold(&f, &value) < 0)
			goto fail;
		trace_field(out, &f, buf_cstr(&value), value.len);
	}
	out->malformed_lines = r.malformed;
	if (rc < 0) {
		out->error = r.error;
		goto fail;
	}
	trace_walk(out, trusted);
	status = 0;
fail:
	buf_free(&value);
	return status;
}
