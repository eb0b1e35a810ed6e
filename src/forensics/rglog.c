/*
 * rglog - relayguard delivery log lines (see rglog.h): one walk over
 * key=value pairs, quoted values kept whole.
 */
#include "forensics/rglog.h"

#include "core/kv.h"

#include <string.h>

/* The next "key=value" at *i (the one codec, core/kv): key and value spans,
 * the value without its quotes or <>. A bare word or a malformed token ends
 * the walk. */
static bool rglog_pair(struct logspan m, size_t *i, struct logspan *k, struct logspan *v)
{
	const char *p = m.p + *i;
	struct kv_pair pr;
	if (kv_next(&p, m.p + m.len, &pr) != KV_PAIR)
		return false;
	*i = (size_t)(p - m.p);
	*k = logspan_sub(m, (size_t)(pr.key - m.p), (size_t)(pr.key - m.p) + pr.klen);
	*v = logspan_sub(m, (size_t)(pr.val - m.p), (size_t)(pr.val - m.p) + pr.vlen);
	if (v->len >= 2 && v->p[0] == '<' && v->p[v->len - 1] == '>')
		*v = logspan_sub(*v, 1, v->len - 1);
	return true;
}

/* The text after the level word of the stderr form ("info: " in syslog). */
static struct logspan rglog_strip_level(struct logspan m)
{
	static const char *const levels[] = {"info: ", "warn: ", "warning: ", "error: ", "debug: "};
	for (size_t k = 0; k < sizeof levels / sizeof levels[0]; k++)
		if (logspan_starts(m, levels[k]))
			return logspan_sub(m, strlen(levels[k]), m.len);
	return m;
}

int rglog_parse_smtpd(struct logspan m, struct rglog_smtpd *out)
{
	memset(out, 0, sizeof *out);
	struct logspan *spans[] = {&out->qid,  &out->sid,  &out->event, &out->value,
	                           &out->from, &out->user, &out->mech,  &out->proto};
	for (size_t k = 0; k < sizeof spans / sizeof spans[0]; k++)
		spans[k]->p = m.p;
	m = rglog_strip_level(m);
	if (!logspan_starts(m, "smtpd queue_id="))
		return -1;
	size_t i = 6;
	struct logspan k, v;
	if (!rglog_pair(m, &i, &k, &v) || !logspan_eq(k, "queue_id"))
		return -1;
	if (!logspan_eq(v, "NOQUEUE"))
		out->qid = v;
	if (!rglog_pair(m, &i, &k, &v) || !logspan_eq(k, "sid"))
		return -1;
	out->sid = v;
	if (!rglog_pair(m, &i, &k, &v) || !logspan_eq(k, "client"))
		return -1;
	out->has_client = v.len && addr_parse(v.p, v.len, &out->client) == 0;
	if (out->has_client)
		addr_unmap(&out->client);
	/* The event: a bare word, or the first pair. */
	while (i < m.len && m.p[i] == ' ')
		i++;
	size_t e = i;
	while (e < m.len && m.p[e] != ' ' && m.p[e] != '=')
		e++;
	if (e < m.len && m.p[e] == '=') {
		if (rglog_pair(m, &i, &k, &v)) {
			out->event = k;
			out->value = v;
		}
	} else {
		out->event = logspan_sub(m, i, e);
		i = e;
	}
	while (rglog_pair(m, &i, &k, &v)) {
		if (logspan_eq(k, "from"))
			out->from = v;
		else if (logspan_eq(k, "user"))
			out->user = logspan_eq(v, "-") ? logspan_sub(v, 0, 0) : v;
		else if (logspan_eq(k, "mech"))
			out->mech = v;
		else if (logspan_eq(k, "proto"))
			out->proto = v;
		else if (logspan_eq(k, "nrcpt"))
			(void)logspan_u64(v, &out->nrcpt, NULL);
		else if (logspan_eq(k, "size"))
			(void)logspan_u64(v, &out->size, NULL);
	}
	return 0;
}

enum rglog_kind rglog_parse(struct logspan m, struct rglog_rec *out)
{
	memset(out, 0, sizeof *out);
	struct logspan *spans[] = {&out->id,  &out->rcpt,  &out->from,  &out->user,   &out->status,
	                           &out->dsn, &out->reply, &out->relay, &out->dsn_id, &out->to};
	for (size_t k = 0; k < sizeof spans / sizeof spans[0]; k++)
		spans[k]->p = m.p;
	m = rglog_strip_level(m);
	if (!logspan_starts(m, "delivery "))
		return RGLOG_OTHER;
	size_t i = 9;
	struct logspan k, v, event = {m.p, 0};
	while (rglog_pair(m, &i, &k, &v)) {
		if (logspan_eq(k, "id"))
			out->id = v;
		else if (logspan_eq(k, "event"))
			event = v;
		else if (logspan_eq(k, "rcpt"))
			out->rcpt = v;
		else if (logspan_eq(k, "from"))
			out->from = v;
		else if (logspan_eq(k, "user"))
			out->user = v;
		else if (logspan_eq(k, "status"))
			out->status = v;
		else if (logspan_eq(k, "dsn"))
			out->dsn = v;
		else if (logspan_eq(k, "reply"))
			out->reply = v;
		else if (logspan_eq(k, "dsn_id"))
			out->dsn_id = v;
		else if (logspan_eq(k, "to"))
			out->to = v;
		else if (logspan_eq(k, "relay")) {
			out->relay = v;
			out->has_relay_ip = logspan_bracket_addr(v, NULL, &out->relay_ip) == 0;
		} else if (logspan_eq(k, "client")) {
			out->has_client = v.len && addr_parse(v.p, v.len, &out->client) == 0;
			if (out->has_client)
				addr_unmap(&out->client);
		} else if (logspan_eq(k, "attempt"))
			(void)logspan_u64(v, &out->attempt, NULL);
		else if (logspan_eq(k, "size"))
			(void)logspan_u64(v, &out->size, NULL);
		else if (logspan_eq(k, "nrcpt"))
			(void)logspan_u64(v, &out->nrcpt, NULL);
	}
	if (out->id.len == 0 || logspan_eq(out->id, "-"))
		return RGLOG_OTHER;
	if (logspan_eq(event, "rcpt") && out->rcpt.len)
		return out->kind = RGLOG_RCPT;
	if (logspan_eq(event, "done") || logspan_eq(event, "deferred")) {
		out->done = logspan_eq(event, "done");
		return out->kind = RGLOG_MESSAGE;
	}
	if (logspan_eq(event, "dsn") && out->dsn_id.len)
		return out->kind = RGLOG_DSN;
	return RGLOG_OTHER;
}
