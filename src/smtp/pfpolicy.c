/*
 * pfpolicy - Postfix policy delegation protocol; see pfpolicy.h.
 */
#include "smtp/pfpolicy.h"

#include "core/hash.h"
#include "core/htab.h"
#include "core/log.h"
#include "core/str.h"

#include <stdlib.h>
#include <string.h>

void pfp_parser_init(struct pfp_parser *p)
{
	memset(p, 0, sizeof *p);
}

const char *pfp_state_name(enum pfp_state s)
{
	static const char *const names[] = {"UNKNOWN", "CONNECT", "EHLO",           "HELO", "MAIL",
	                                    "RCPT",    "DATA",    "END-OF-MESSAGE", "VRFY", "ETRN"};
	if ((unsigned)s >= sizeof names / sizeof names[0])
		panic("pfpolicy: state %d", (int)s);
	return names[s];
}

static enum pfp_state pfp_state_parse(const char *v)
{
	for (int s = PFP_STATE_CONNECT; s <= PFP_STATE_ETRN; s++)
		if (strcasecmp(v, pfp_state_name((enum pfp_state)s)) == 0)
			return (enum pfp_state)s;
	return PFP_STATE_UNKNOWN;
}

struct pfp_string_attr {
	const char *name;
	size_t offset;
	size_t size;
};

#define PFP_STR(field)                                                                             \
	{                                                                                          \
#field, offsetof(struct pfp_request, field),                                       \
		    sizeof(((struct pfp_request *)0)->field)                                       \
	}
static const struct pfp_string_attr pfp_strings[] = {
    PFP_STR(request),
    PFP_STR(protocol_state),
    PFP_STR(protocol_name),
    PFP_STR(helo_name),
    PFP_STR(queue_id),
    PFP_STR(sender),
    PFP_STR(recipient),
    PFP_STR(client_name),
    PFP_STR(reverse_client_name),
    PFP_STR(instance),
    PFP_STR(sasl_method),
    PFP_STR(sasl_username),
    PFP_STR(sasl_sender),
    PFP_STR(encryption_protocol),
    PFP_STR(encryption_cipher),
    PFP_STR(server_address),
};

static int pfp_fail(struct pfp_parser *p, const char *what)
{
	str_copy_trunc(p->error, sizeof p->error, what);
	p->failed = true;
	return -1;
}

/* One "name=value" line (without its newline). */
static int pfp_attr(struct pfp_parser *p, const char *line, size_t len)
{
	const char *eq = memchr(line, '=', len);
	if (!eq || eq == line)
		return pfp_fail(p, "attribute line without name=value");
	size_t nlen = (size_t)(eq - line);
	for (size_t i = 0; i < nlen; i++) {
		char c = line[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return pfp_fail(p, "bad attribute name");
	}
	const char *v = eq + 1;
	size_t vlen = len - nlen - 1;
	if (memchr(v, '\0', vlen))
		return pfp_fail(p, "NUL byte in an attribute value");
	if (++p->req.attrs > PFP_ATTRS_MAX)
		return pfp_fail(p, "too many attributes");
	struct pfp_request *r = &p->req;
	for (size_t i = 0; i < sizeof pfp_strings / sizeof pfp_strings[0]; i++) {
		const struct pfp_string_attr *a = &pfp_strings[i];
		if (strlen(a->name) != nlen || memcmp(a->name, line, nlen) != 0)
			continue;
		/* A value too long for its field is cut: Postfix never sends such, a
		 * hostile peer gets nothing out of it. */
		str_copy_n_trunc((char *)r + a->offset, a->size, v, vlen);
		if (strcmp(a->name, "protocol_state") == 0)
			r->state = pfp_state_parse(r->protocol_state);
		return 0;
	}
	if (str_ieq_n(line, nlen, "client_address")) {
		r->has_client_address = vlen > 0 && addr_parse(v, vlen, &r->client_address) == 0;
		if (r->has_client_address)
			addr_unmap(&r->client_address);
	} else if (str_ieq_n(line, nlen, "recipient_count")) {
		if (vlen && str_to_u64(v, vlen, 0, UINT32_MAX, &r->recipient_count) != 0)
			return pfp_fail(p, "bad recipient_count");
	} else if (str_ieq_n(line, nlen, "size")) {
		if (vlen && str_to_u64(v, vlen, 0, UINT64_MAX, &r->size) != 0)
			return pfp_fail(p, "bad size");
	}
	return 0; /* unknown attributes are ignored, as the protocol asks */
}

enum pfp_status pfp_parser_feed(struct pfp_parser *p, const char *data, size_t len, size_t *used)
{
	size_t i = 0;
	*used = 0;
	if (p->failed)
		return PFP_ERROR;
	while (i < len) {
		const char *nl = memchr(data + i, '\n', len - i);
		size_t chunk = nl ? (size_t)(nl - (data + i)) : len - i;
		p->bytes += chunk + (nl ? 1 : 0);
		if (p->bytes > PFP_REQUEST_MAX) {
			*used = i + chunk;
			pfp_fail(p, "request too long");
			return PFP_ERROR;
		}
		if (!p->overlong) {
			if (p->linelen + chunk > PFP_LINE_MAX) {
				p->overlong = true;
			} else {
				memcpy(p->line + p->linelen, data + i, chunk);
				p->linelen += chunk;
			}
		}
		i += chunk;
		if (!nl)
			break;
		i++; /* the newline */
		size_t ll = p->linelen;
		if (ll > 0 && p->line[ll - 1] == '\r')
			ll--; /* tolerate CRLF */
		bool overlong = p->overlong;
		p->linelen = 0;
		p->overlong = false;
		if (overlong) {
			*used = i;
			pfp_fail(p, "attribute line too long");
			return PFP_ERROR;
		}
		if (ll == 0) {
			*used = i;
			if (p->req.attrs == 0) {
				pfp_fail(p, "empty request");
				return PFP_ERROR;
			}
			if (strcmp(p->req.request, "smtpd_access_policy") != 0) {
				pfp_fail(p, "not a smtpd_access_policy request");
				return PFP_ERROR;
			}
			p->bytes = 0;
			return PFP_REQUEST;
		}
		if (pfp_attr(p, p->line, ll) != 0) {
			*used = i;
			return PFP_ERROR;
		}
	}
	*used = len;
	return PFP_MORE;
}

const char *pfp_action_name(enum pfp_action a)
{
	switch (a) {
	case PFP_DUNNO:
		return "DUNNO";
	case PFP_OK:
		return "OK";
	case PFP_DEFER:
		return "DEFER";
	case PFP_REJECT:
		return "REJECT";
	case PFP_HOLD:
		return "HOLD";
	case PFP_WARN:
		return "WARN";
	case PFP_PREPEND:
		return "PREPEND";
	}
	return "DUNNO";
}

int pfp_format_reply(struct buf *out, enum pfp_action action, const char *text)
{
	char clean[512];
	str_copy_trunc(clean, sizeof clean, text ? text : "");
	for (char *c = clean; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = ' ';
	char *t = str_trim(clean);
	if (action == PFP_DUNNO || action == PFP_OK || (*t == '\0' && action != PFP_PREPEND))
		return buf_printf(out, "action=%s%s%s\n\n", pfp_action_name(action), *t ? " " : "",
		                  t);
	if (action == PFP_PREPEND && *t == '\0')
		return buf_printf(out, "action=DUNNO\n\n");
	return buf_printf(out, "action=%s %s\n\n", pfp_action_name(action), t);
}

/* ---- the instance table ---- */

#define PFP_NONE UINT32_MAX

struct pfp_instances {
	struct pfp_instance *e;
	struct htab index; /* of the entries in use by id */
	uint32_t max;
	uint32_t free_head; /* chained through free_next */
	uint32_t oldest, newest;
	int64_t ttl_ms;
	uint64_t evicted;
};

struct pfp_instances *pfp_instances_new(size_t max, int64_t ttl_ms)
{
	if (max < 1 || max > (1u << 24))
		return NULL;
	struct pfp_instances *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->max = (uint32_t)max;
	t->ttl_ms = ttl_ms;
	htab_init(&t->index, max);
	t->e = calloc(max, sizeof *t->e);
	if (!t->e || htab_reserve(&t->index, max) != 0) {
		pfp_instances_free(t);
		return NULL;
	}
	for (uint32_t i = 0; i < t->max; i++)
		t->e[i].free_next = i + 1 < t->max ? i + 1 : PFP_NONE;
	t->free_head = 0;
	t->oldest = t->newest = PFP_NONE;
	return t;
}

void pfp_instances_free(struct pfp_instances *t)
{
	if (!t)
		return;
	free(t->e);
	htab_free(&t->index);
	free(t);
}

static void pfp_inst_unlink(struct pfp_instances *t, uint32_t i)
{
	struct pfp_instance *x = &t->e[i];
	if (x->prev != PFP_NONE)
		t->e[x->prev].next = x->next;
	else
		t->oldest = x->next;
	if (x->next != PFP_NONE)
		t->e[x->next].prev = x->prev;
	else
		t->newest = x->prev;
}

static void pfp_inst_append(struct pfp_instances *t, uint32_t i)
{
	struct pfp_instance *x = &t->e[i];
	x->prev = t->newest;
	x->next = PFP_NONE;
	if (t->newest != PFP_NONE)
		t->e[t->newest].next = i;
	else
		t->oldest = i;
	t->newest = i;
}

/* Takes entry i out of the index and the age list, onto the free list. */
static void pfp_inst_drop(struct pfp_instances *t, uint32_t i)
{
	(void)htab_remove(&t->index, t->e[i].hash, &t->e[i]);
	pfp_inst_unlink(t, i);
	t->e[i].id[0] = '\0';
	t->e[i].free_next = t->free_head;
	t->free_head = i;
}

static bool pfp_inst_eq(const void *item, const void *key)
{
	return strcmp(((const struct pfp_instance *)item)->id, key) == 0;
}

struct pfp_instance *pfp_instances_get(struct pfp_instances *t, const char *id, int64_t now_ms,
                                       bool *created)
{
	*created = false;
	size_t n = strnlen(id, PFP_INSTANCE_MAX);
	if (n == 0 || n >= PFP_INSTANCE_MAX)
		return NULL;
	while (t->oldest != PFP_NONE && now_ms - t->e[t->oldest].last_ms >= t->ttl_ms)
		pfp_inst_drop(t, t->oldest);
	uint64_t h = hash_fnv1a64(id, n);
	struct pfp_instance *f = htab_find(&t->index, h, pfp_inst_eq, id);
	if (f) {
		uint32_t i = (uint32_t)(f - t->e);
		pfp_inst_unlink(t, i);
		pfp_inst_append(t, i);
		if (now_ms > f->last_ms)
			f->last_ms = now_ms;
		return f;
	}
	if (t->free_head == PFP_NONE) {
		pfp_inst_drop(t, t->oldest);
		t->evicted++;
	}
	uint32_t i = t->free_head;
	struct pfp_instance *x = &t->e[i];
	uint32_t free_next = x->free_next;
	memset(x, 0, sizeof *x);
	memcpy(x->id, id, n + 1);
	x->hash = h;
	x->first_ms = x->last_ms = now_ms;
	if (htab_insert(&t->index, h, x) != 0) {
		x->free_next = free_next;
		return NULL; /* cannot happen: the slots are reserved and one is free */
	}
	t->free_head = free_next;
	pfp_inst_append(t, i);
	*created = true;
	return x;
}

size_t pfp_instances_count(const struct pfp_instances *t)
{
	return htab_count(&t->index);
}

uint64_t pfp_instances_evicted(const struct pfp_instances *t)
{
	return t->evicted;
}
