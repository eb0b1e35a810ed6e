/*
 * event - event helpers and the line parser of the text form (event.h).
 * The parser works on (pointer, length) and copies into bounded fields.
 */
#include "policy/event.h"

#include "core/kv.h"
#include "core/log.h"
#include "core/mailaddr.h"
#include "core/str.h"

#include <string.h>

/* The longest value a field takes (a subject, an address) with room. */
#define POL_EVENT_VALUE_MAX 1024

static const char *const pol_event_names[] = {
    "AUTH_OK", "AUTH_FAIL", "MAIL", "RCPT_REJECT", "DELIVERY", "BLOCK", "UNBLOCK", "INBOUND",
};

static const char *const pol_spf_names[] = {
    "unknown", "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror",
};

static const struct {
	const char *name;
	uint32_t flag;
} pol_event_flags[] = {
    {"auto_submitted", POL_F_AUTO_SUBMITTED},
    {"null_sender", POL_F_NULL_SENDER},
    {"auto_reply", POL_F_AUTO_REPLY},
    {"notify", POL_F_NOTIFY},
    {"list", POL_F_LIST},
    {"bulk", POL_F_BULK},
    {"spam", POL_F_SPAM},
    {"listed", POL_F_LISTED},
    {"inbound", POL_F_INBOUND},
    {"relayed", POL_F_RELAYED},
    {"foreign_sender", POL_F_FOREIGN_SENDER},
};

static const char *const pol_event_results[] = {"ok", "deferred", "bounced", "unknown_user"};

void pol_event_init(struct pol_event *ev, enum pol_event_type type, int64_t time_ms)
{
	memset(ev, 0, sizeof *ev);
	ev->type = type;
	ev->time_ms = time_ms;
}

void pol_event_add_rcpt(struct pol_event *ev, const char *addr, enum pol_delivery result)
{
	if (ev->n_rcpt < POL_RCPT_MAX) {
		str_copy_trunc(ev->rcpt[ev->n_rcpt], sizeof ev->rcpt[0], addr);
		ev->result[ev->n_rcpt] = result;
		ev->n_rcpt++;
	}
	if (ev->rcpt_count < UINT32_MAX)
		ev->rcpt_count++;
}

const char *pol_event_type_name(enum pol_event_type t)
{
	if ((unsigned)t >= sizeof pol_event_names / sizeof pol_event_names[0])
		panic("policy: event type %d", (int)t);
	return pol_event_names[t];
}

const char *pol_spf_name(enum pol_spf r)
{
	if ((unsigned)r >= sizeof pol_spf_names / sizeof pol_spf_names[0])
		panic("policy: spf result %d", (int)r);
	return pol_spf_names[r];
}

int pol_spf_parse(const char *s, size_t len, enum pol_spf *out)
{
	for (size_t i = 0; i < sizeof pol_spf_names / sizeof pol_spf_names[0]; i++)
		if (str_ieq_n(s, len, pol_spf_names[i])) {
			*out = (enum pol_spf)i;
			return 0;
		}
	return -1;
}

static int pol_event_fail(char *err, size_t errlen, const char *what, const char *p, size_t n)
{
	char shown[64];
	str_sanitize(shown, sizeof shown, p, n);
	str_format_trunc(err, errlen, "%s: %s", what, shown);
	return -1;
}

static bool pol_event_key(const char *k, size_t klen, const char *name)
{
	return klen == strlen(name) && memcmp(k, name, klen) == 0;
}

/* "-12.34" to -1234: at most two decimals, |score| < 100000. 0 or -1. */
static int pol_event_scan_score(const char *v, size_t vlen, int32_t *out)
{
	bool neg = vlen > 0 && v[0] == '-';
	size_t i = neg, dot = vlen;
	for (size_t k = i; k < vlen; k++)
		if (v[k] == '.') {
			dot = k;
			break;
		}
	uint64_t whole, frac = 0;
	if (str_to_u64(v + i, dot - i, 0, 99999, &whole) != 0)
		return -1;
	if (dot < vlen) {
		size_t fl = vlen - dot - 1;
		if (fl == 0 || fl > 2 || str_to_u64(v + dot + 1, fl, 0, 99, &frac) != 0)
			return -1;
		if (fl == 1)
			frac *= 10;
	}
	int32_t s = (int32_t)(whole * 100 + frac);
	*out = neg ? -s : s;
	return 0;
}

static int pol_event_field(struct pol_event *ev, const char *k, size_t klen, const char *v,
                           size_t vlen, uint32_t *unassigned_from, enum pol_delivery *cur_result,
                           int64_t *count_given, char *err, size_t errlen)
{
	if (pol_event_key(k, klen, "user")) {
		if (str_copy_n(ev->user, sizeof ev->user, v, vlen) != 0)
			return pol_event_fail(err, errlen, "user too long", v, vlen);
		str_lower(ev->user);
	} else if (pol_event_key(k, klen, "ip")) {
		if (addr_parse(v, vlen, &ev->ip) != 0)
			return pol_event_fail(err, errlen, "bad ip", v, vlen);
		addr_unmap(&ev->ip);
		ev->has_ip = true;
	} else if (pol_event_key(k, klen, "from")) {
		if (vlen == 2 && v[0] == '<' && v[1] == '>') {
			ev->sender[0] = '\0';
			ev->flags |= POL_F_NULL_SENDER;
		} else if (str_copy_n(ev->sender, sizeof ev->sender, v, vlen) != 0) {
			return pol_event_fail(err, errlen, "sender too long", v, vlen);
		}
		str_lower(ev->sender);
	} else if (pol_event_key(k, klen, "rcpt")) {
		char a[POL_MAILADDR_MAX];
		if (str_copy_n(a, sizeof a, v, vlen) != 0)
			return pol_event_fail(err, errlen, "recipient too long", v, vlen);
		str_lower(a);
		pol_event_add_rcpt(ev, a, *cur_result);
	} else if (pol_event_key(k, klen, "rcpts")) {
		uint64_t n;
		if (str_to_u64(v, vlen, 0, 1000000, &n) != 0)
			return pol_event_fail(err, errlen, "bad rcpts", v, vlen);
		*count_given = (int64_t)n;
	} else if (pol_event_key(k, klen, "parts")) {
		static const char *const names[] = {"msg", "rcpts", "size"};
		size_t i = 0;
		while (i < vlen) {
			size_t j = i, f;
			while (j < vlen && v[j] != ',')
				j++;
			for (f = 0; f < 3 && !pol_event_key(v + i, j - i, names[f]); f++)
				;
			if (f == 3)
				return pol_event_fail(err, errlen, "unknown part", v + i, j - i);
			ev->parts |= 1u << f;
			i = j + 1;
		}
	} else if (pol_event_key(k, klen, "rcpts_before")) {
		uint64_t n;
		if (str_to_u64(v, vlen, 0, 1000000, &n) != 0)
			return pol_event_fail(err, errlen, "bad rcpts_before", v, vlen);
		ev->rcpts_before = (uint32_t)n;
	} else if (pol_event_key(k, klen, "size")) {
		if (str_to_u64(v, vlen, 0, UINT64_MAX / 2, &ev->size) != 0)
			return pol_event_fail(err, errlen, "bad size", v, vlen);
	} else if (pol_event_key(k, klen, "fp")) {
		uint64_t h = 0;
		if (vlen == 0 || vlen > 16)
			return pol_event_fail(err, errlen, "bad fp", v, vlen);
		for (size_t i = 0; i < vlen; i++) {
			char c = v[i];
			unsigned d;
			if (c >= '0' && c <= '9')
				d = (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				d = (unsigned)(c - 'a' + 10);
			else if (c >= 'A' && c <= 'F')
				d = (unsigned)(c - 'A' + 10);
			else
				return pol_event_fail(err, errlen, "bad fp", v, vlen);
			h = h << 4 | d;
		}
		ev->fingerprint = h;
	} else if (pol_event_key(k, klen, "flags")) {
		size_t i = 0;
		while (i < vlen) {
			size_t j = i;
			while (j < vlen && v[j] != ',')
				j++;
			size_t f, nf = sizeof pol_event_flags / sizeof pol_event_flags[0];
			for (f = 0; f < nf; f++)
				if (pol_event_key(v + i, j - i, pol_event_flags[f].name))
					break;
			if (f < nf)
				ev->flags |= pol_event_flags[f].flag;
			else if (j > i)
				return pol_event_fail(err, errlen, "unknown flag", v + i, j - i);
			i = j + 1;
		}
	} else if (pol_event_key(k, klen, "result")) {
		size_t r;
		for (r = 0; r < sizeof pol_event_results / sizeof pol_event_results[0]; r++)
			if (pol_event_key(v, vlen, pol_event_results[r]))
				break;
		if (r == sizeof pol_event_results / sizeof pol_event_results[0])
			return pol_event_fail(err, errlen, "unknown result", v, vlen);
		*cur_result = (enum pol_delivery)r;
		for (uint32_t i = *unassigned_from; i < ev->n_rcpt; i++)
			ev->result[i] = *cur_result;
		*unassigned_from = ev->n_rcpt;
	} else if (pol_event_key(k, klen, "ident")) {
		if (str_copy_n(ev->ident, sizeof ev->ident, v, vlen) != 0)
			return pol_event_fail(err, errlen, "ident too long", v, vlen);
	} else if (pol_event_key(k, klen, "actor")) {
		if (str_copy_n(ev->actor, sizeof ev->actor, v, vlen) != 0)
			return pol_event_fail(err, errlen, "actor too long", v, vlen);
	} else if (pol_event_key(k, klen, "reason")) {
		str_copy_n_trunc(ev->reason, sizeof ev->reason, v, vlen); /* cut, fine */
	} else if (pol_event_key(k, klen, "expires")) {
		uint64_t s;
		if (str_to_u64(v, vlen, 0, 100LL * 365 * 86400, &s) != 0)
			return pol_event_fail(err, errlen, "bad expires", v, vlen);
		ev->expires_s = (int64_t)s;
	} else if (pol_event_key(k, klen, "msgid") || pol_event_key(k, klen, "irt")) {
		char *dst = k[0] == 'm' ? ev->message_id : ev->in_reply_to;
		if (vlen >= 2 && v[0] == '<' && v[vlen - 1] == '>') {
			v++;
			vlen -= 2;
		}
		if (str_copy_n(dst, POL_MSGID_MAX, v, vlen) != 0)
			return pol_event_fail(err, errlen, "message id too long", v, vlen);
	} else if (pol_event_key(k, klen, "hfrom")) {
		if (str_copy_n(ev->hfrom, sizeof ev->hfrom, v, vlen) != 0)
			return pol_event_fail(err, errlen, "hfrom too long", v, vlen);
		str_lower(ev->hfrom);
	} else if (pol_event_key(k, klen, "score")) {
		bool neg = vlen > 0 && v[0] == '-';
		uint64_t n;
		if (str_to_u64(v + neg, vlen - neg, 0, 100000, &n) != 0)
			return pol_event_fail(err, errlen, "bad score", v, vlen);
		ev->dnsbl_score = neg ? -(int)n : (int)n;
	} else if (pol_event_key(k, klen, "scan")) {
		if (pol_event_scan_score(v, vlen, &ev->scan_score) != 0)
			return pol_event_fail(err, errlen, "bad scan score", v, vlen);
		ev->scanned = true;
	} else if (pol_event_key(k, klen, "lists")) {
		if (str_copy_n(ev->lists, sizeof ev->lists, v, vlen) != 0)
			return pol_event_fail(err, errlen, "lists too long", v, vlen);
	} else if (pol_event_key(k, klen, "spf")) {
		if (pol_spf_parse(v, vlen, &ev->spf) != 0)
			return pol_event_fail(err, errlen, "unknown spf result", v, vlen);
	} else {
		return pol_event_fail(err, errlen, "unknown key", k, klen);
	}
	return 0;
}

int pol_event_parse(const char *line, size_t len, struct pol_event *ev, char *err, size_t errlen)
{
	size_t i = 0;
	if (err && errlen)
		err[0] = '\0';
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	while (len > i && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
	                   line[len - 1] == '\t'))
		len--;
	if (i == len || line[i] == '#')
		return 0;
	if (len - i < 3 || line[i] != 'T' || line[i + 1] != '+')
		return pol_event_fail(err, errlen, "expected T+SECONDS", line + i, len - i);
	i += 2;
	size_t s = i;
	while (i < len && line[i] != ' ' && line[i] != '\t')
		i++;
	uint64_t secs;
	if (str_to_u64(line + s, i - s, 0, 100ULL * 365 * 86400, &secs) != 0)
		return pol_event_fail(err, errlen, "bad seconds", line + s, i - s);
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	s = i;
	while (i < len && line[i] != ' ' && line[i] != '\t')
		i++;
	size_t t;
	for (t = 0; t < sizeof pol_event_names / sizeof pol_event_names[0]; t++)
		if (pol_event_key(line + s, i - s, pol_event_names[t]))
			break;
	if (t == sizeof pol_event_names / sizeof pol_event_names[0])
		return pol_event_fail(err, errlen, "unknown event type", line + s, i - s);
	pol_event_init(ev, (enum pol_event_type)t, POL_EVENT_EPOCH_MS + (int64_t)secs * 1000);

	uint32_t unassigned_from = 0;
	enum pol_delivery cur_result = POL_DLV_OK;
	int64_t count_given = -1;
	const char *p = line + i, *end = line + len;
	for (;;) {
		const char *at = p;
		struct kv_pair pr;
		enum kv_tok tok = kv_next(&p, end, &pr);
		if (tok == KV_END) {
			while (p < end && (*p == ' ' || *p == '\t'))
				p++;
			if (p < end) /* a CR or LF inside the line */
				return pol_event_fail(err, errlen, "line break inside the line", p,
				                      (size_t)(end - p));
			break;
		}
		if (tok == KV_WORD)
			return pol_event_fail(err, errlen, "expected key=value", pr.val, pr.vlen);
		if (tok == KV_BAD)
			return pol_event_fail(err, errlen, "malformed key=value (a quote?)", at,
			                      (size_t)(end - at));
		const char *v = pr.val;
		size_t vlen = pr.vlen;
		char unq[POL_EVENT_VALUE_MAX];
		if (pr.escaped) {
			if (kv_unquote(&pr, unq, sizeof unq) != 0)
				return pol_event_fail(err, errlen, "value too long", pr.val,
				                      pr.vlen);
			v = unq;
			vlen = strlen(unq);
		}
		if (pol_event_field(ev, pr.key, pr.klen, v, vlen, &unassigned_from, &cur_result,
		                    &count_given, err, errlen) != 0)
			return -1;
	}
	if (count_given >= 0) {
		if ((uint64_t)count_given < ev->n_rcpt)
			return pol_event_fail(err, errlen, "rcpts= below the rcpt= given", line,
			                      len);
		ev->rcpt_count = (uint32_t)count_given;
	}
	return 1;
}
