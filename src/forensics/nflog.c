/*
 * nflog - netfilter LOG line parser and per-host SMTP attempt counter.
 * See nflog.h for the line format and the ownership of the parsed fields.
 *
 * The parser walks the line once, left to right, and never reads past len:
 *   [<pri>] [timestamp host [tag:]] [[uptime]] PREFIX IN=.. OUT=.. KEY=VAL ...
 * The prefix is everything between the header and the first "IN=x OUT=", as
 * the kernel prints the prefix glued to "IN=". Only the first SRC, DST, PROTO,
 * SPT and DPT count: ICMP errors quote the offending packet after a "[",
 * where the walk stops.
 */
#include "forensics/nflog.h"

#include "core/clock.h"
#include "core/grow.h"
#include "core/str.h"

#include <stdlib.h>
#include <string.h>

static bool nflog_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static size_t nflog_skip_spaces(const char *p, size_t len, size_t i)
{
	while (i < len && p[i] == ' ')
		i++;
	return i;
}

static size_t nflog_token_end(const char *p, size_t len, size_t i)
{
	while (i < len && p[i] != ' ')
		i++;
	return i;
}

/* Reads n digits at p[i..]; -1 if they are not all digits or past len. */
static int nflog_digits(const char *p, size_t len, size_t i, size_t n, unsigned *out)
{
	unsigned v = 0;
	if (i + n > len)
		return -1;
	for (size_t k = 0; k < n; k++) {
		if (!nflog_is_digit(p[i + k]))
			return -1;
		v = v * 10 + (unsigned)(p[i + k] - '0');
	}
	*out = v;
	return 0;
}

/* "2026-11-23T09:19:51.123456+01:00", "...Z" or journalctl's "+0100". */
static int nflog_parse_rfc3339(const char *p, size_t len, size_t *i, struct nflog_line *out)
{
	size_t s = *i, e = nflog_token_end(p, len, s);
	size_t n = e - s;
	char tmp[48];
	if (n < 19 || n > 40 || p[s + 4] != '-' || (p[s + 10] != 'T' && p[s + 10] != 't'))
		return -1;
	memcpy(tmp, p + s, n);
	tmp[n] = '\0';
	/* ISO 8601 basic offset "+hhmm" (journalctl -o short-iso): add the colon. */
	if (n >= 24 && (tmp[n - 5] == '+' || tmp[n - 5] == '-') && nflog_is_digit(tmp[n - 4]) &&
	    nflog_is_digit(tmp[n - 1]) && tmp[n - 3] != ':') {
		tmp[n + 1] = '\0';
		tmp[n] = tmp[n - 1];
		tmp[n - 1] = tmp[n - 2];
		tmp[n - 2] = ':';
	}
	if (clock_parse_rfc3339(tmp, &out->epoch_ms) != 0)
		return -1;
	out->time_kind = NFLOG_TIME_RFC3339;
	*i = e;
	return 0;
}

/* "Mar  3 02:14:07", "Mar 3 02:14:07", "Mar 03 02:14:07". */
static int nflog_parse_syslog_time(const char *p, size_t len, size_t *i, struct nflog_line *out)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	size_t s = *i;
	unsigned mon = 0, day, h, m, sec;
	if (s + 15 > len)
		return -1;
	for (unsigned k = 0; k < 12; k++) {
		if (memcmp(p + s, months + k * 3, 3) == 0) {
			mon = k + 1;
			break;
		}
	}
	if (mon == 0 || p[s + 3] != ' ')
		return -1;
	size_t j = s + 4;
	if (p[j] == ' ')
		j++;
	if (nflog_digits(p, len, j, 2, &day) == 0)
		j += 2;
	else if (nflog_digits(p, len, j, 1, &day) == 0)
		j += 1;
	else
		return -1;
	if (j >= len || p[j] != ' ')
		return -1;
	j++;
	if (nflog_digits(p, len, j, 2, &h) || j + 8 > len || p[j + 2] != ':' ||
	    nflog_digits(p, len, j + 3, 2, &m) || p[j + 5] != ':' ||
	    nflog_digits(p, len, j + 6, 2, &sec))
		return -1;
	if (day < 1 || day > 31 || h > 23 || m > 59 || sec > 60)
		return -1;
	j += 8;
	if (j < len && p[j] != ' ')
		return -1;
	out->time_kind = NFLOG_TIME_SYSLOG;
	out->mon = mon;
	out->day = day;
	out->hour = h;
	out->min = m;
	out->sec = sec;
	*i = j;
	return 0;
}

/* printk time "[  123.456789]"; leaves *i alone when p[*i] is not one. */
static void nflog_parse_uptime(const char *p, size_t len, size_t *i, struct nflog_line *out)
{
	size_t j = *i;
	uint64_t sec = 0, us = 0;
	size_t nd = 0, nf = 0;
	if (j >= len || p[j] != '[')
		return;
	j = nflog_skip_spaces(p, len, j + 1);
	while (j < len && nflog_is_digit(p[j]) && nd < 12) {
		sec = sec * 10 + (uint64_t)(p[j] - '0');
		j++;
		nd++;
	}
	if (nd == 0 || j >= len || p[j] != '.')
		return;
	j++;
	while (j < len && nflog_is_digit(p[j]) && nf < 9) {
		if (nf < 6)
			us = us * 10 + (uint64_t)(p[j] - '0');
		j++;
		nf++;
	}
	if (nf == 0 || j >= len || p[j] != ']')
		return;
	for (; nf < 6; nf++)
		us *= 10;
	out->has_uptime = true;
	out->uptime_us = sec * 1000000u + us;
	*i = j + 1;
}

/* Skips a syslog tag: "kernel:" (maybe glued to "[uptime]") or "ident[pid]:". */
static size_t nflog_skip_tag(const char *p, size_t len, size_t i)
{
	if (len - i >= 7 && memcmp(p + i, "kernel:", 7) == 0)
		return i + 7;
	size_t e = nflog_token_end(p, len, i);
	if (e - i >= 5 && p[e - 1] == ':' && p[e - 2] == ']') {
		size_t k = e - 3;
		size_t nd = 0;
		while (k > i && nflog_is_digit(p[k])) {
			k--;
			nd++;
		}
		if (nd > 0 && p[k] == '[' && k > i)
			return e;
	}
	return i;
}

/* Start of the first "IN=<name> OUT=" at or after i, or len. */
static size_t nflog_find_in(const char *p, size_t len, size_t i)
{
	for (size_t k = i; k + 8 <= len; k++) {
		if (p[k] != 'I' || p[k + 1] != 'N' || p[k + 2] != '=')
			continue;
		size_t e = nflog_token_end(p, len, k + 3);
		if (len - e >= 5 && memcmp(p + e, " OUT=", 5) == 0)
			return k;
	}
	return len;
}

static bool nflog_key_is(const char *t, size_t klen, const char *key)
{
	size_t n = strlen(key);
	return klen == n && memcmp(t, key, n) == 0;
}

static unsigned nflog_tcp_flag(const char *t, size_t n)
{
	static const struct {
		const char *name;
		unsigned bit;
	} flags[] = {
	    {"FIN", NFLOG_TCP_FIN}, {"SYN", NFLOG_TCP_SYN}, {"RST", NFLOG_TCP_RST},
	    {"PSH", NFLOG_TCP_PSH}, {"ACK", NFLOG_TCP_ACK}, {"URG", NFLOG_TCP_URG},
	    {"ECE", NFLOG_TCP_ECE}, {"CWR", NFLOG_TCP_CWR},
	};
	for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
		if (n == 3 && memcmp(t, flags[k].name, 3) == 0)
			return flags[k].bit;
	return 0;
}

static enum nflog_proto nflog_proto_of(const char *t, size_t n)
{
	if (n == 3 && memcmp(t, "TCP", 3) == 0)
		return NFLOG_PROTO_TCP;
	if (n == 3 && memcmp(t, "UDP", 3) == 0)
		return NFLOG_PROTO_UDP;
	if (n == 4 && memcmp(t, "ICMP", 4) == 0)
		return NFLOG_PROTO_ICMP;
	if (n == 6 && memcmp(t, "ICMPv6", 6) == 0)
		return NFLOG_PROTO_ICMPV6;
	return NFLOG_PROTO_OTHER;
}

/* The KEY=VALUE part, from "IN=" to the end or the first "[". */
static int nflog_parse_fields(const char *p, size_t len, size_t i, struct nflog_line *out)
{
	bool seen_in = false, seen_out = false, seen_src = false, seen_dst = false;
	bool seen_proto = false, seen_spt = false, seen_dpt = false;
	while (i < len) {
		i = nflog_skip_spaces(p, len, i);
		if (i >= len || p[i] == '[')
			break;
		size_t e = nflog_token_end(p, len, i);
		const char *t = p + i;
		size_t n = e - i;
		const char *eq = memchr(t, '=', n);
		i = e;
		if (!eq) {
			if (seen_proto && out->proto == NFLOG_PROTO_TCP)
				out->tcp_flags |= nflog_tcp_flag(t, n);
			continue;
		}
		size_t klen = (size_t)(eq - t);
		const char *v = eq + 1;
		size_t vlen = n - klen - 1;
		if (nflog_key_is(t, klen, "IN") && !seen_in) {
			out->in = (struct nflog_span){v, vlen};
			seen_in = true;
		} else if (nflog_key_is(t, klen, "OUT") && !seen_out) {
			out->out = (struct nflog_span){v, vlen};
			seen_out = true;
		} else if (nflog_key_is(t, klen, "SRC") && !seen_src) {
			if (addr_parse(v, vlen, &out->src) != 0)
				return NFLOG_MALFORMED;
			seen_src = true;
		} else if (nflog_key_is(t, klen, "DST") && !seen_dst) {
			if (addr_parse(v, vlen, &out->dst) != 0)
				return NFLOG_MALFORMED;
			seen_dst = true;
		} else if (nflog_key_is(t, klen, "PROTO") && !seen_proto) {
			if (vlen == 0)
				return NFLOG_MALFORMED;
			out->proto_name = (struct nflog_span){v, vlen};
			out->proto = nflog_proto_of(v, vlen);
			seen_proto = true;
		} else if (nflog_key_is(t, klen, "SPT") && seen_proto && !seen_spt) {
			uint64_t x;
			if (str_to_u64(v, vlen, 0, 65535, &x) != 0)
				return NFLOG_MALFORMED;
			out->spt = (uint16_t)x;
			seen_spt = true;
		} else if (nflog_key_is(t, klen, "DPT") && seen_proto && !seen_dpt) {
			uint64_t x;
			if (str_to_u64(v, vlen, 0, 65535, &x) != 0)
				return NFLOG_MALFORMED;
			out->dpt = (uint16_t)x;
			seen_dpt = true;
		} else if (nflog_key_is(t, klen, "UID") && !out->has_uid) {
			uint64_t x;
			if (str_to_u64(v, vlen, 0, UINT32_MAX, &x) != 0)
				return NFLOG_MALFORMED;
			out->uid = (uint32_t)x;
			out->has_uid = true;
		}
	}
	if (!seen_in || !seen_out || !seen_src || !seen_dst || !seen_proto)
		return NFLOG_NOT_NETFILTER;
	if (out->src.family != out->dst.family)
		return NFLOG_MALFORMED;
	out->has_ports = seen_spt && seen_dpt;
	return NFLOG_OK;
}

int nflog_parse(const char *p, size_t len, struct nflog_line *out)
{
	if (!p || !out || len > NFLOG_LINE_MAX)
		return NFLOG_NOT_NETFILTER;
	memset(out, 0, sizeof *out);
	out->host = out->prefix = out->in = out->out = out->proto_name = (struct nflog_span){p, 0};
	while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r'))
		len--;

	size_t i = 0;
	if (i < len && p[i] == '<') {
		size_t j = 1;
		while (j < len && j <= 4 && nflog_is_digit(p[j]))
			j++;
		if (j > 1 && j < len && p[j] == '>')
			i = j + 1;
	}
	if (nflog_parse_rfc3339(p, len, &i, out) == 0 ||
	    nflog_parse_syslog_time(p, len, &i, out) == 0) {
		i = nflog_skip_spaces(p, len, i);
		size_t e = nflog_token_end(p, len, i);
		/* A host name never has "=": if it does, there is no host field. */
		if (e > i && !memchr(p + i, '=', e - i)) {
			out->host = (struct nflog_span){p + i, e - i};
			i = nflog_skip_spaces(p, len, e);
		}
	}
	i = nflog_skip_tag(p, len, i);
	i = nflog_skip_spaces(p, len, i);
	nflog_parse_uptime(p, len, &i, out);
	i = nflog_skip_spaces(p, len, i);

	size_t k = nflog_find_in(p, len, i);
	if (k >= len)
		return NFLOG_NOT_NETFILTER;
	size_t ps = i, pe = k;
	while (pe > ps && p[pe - 1] == ' ')
		pe--;
	out->prefix = (struct nflog_span){p + ps, pe - ps};
	return nflog_parse_fields(p, len, k, out);
}

const char *nflog_status_str(int status)
{
	switch (status) {
	case NFLOG_OK:
		return "ok";
	case NFLOG_MALFORMED:
		return "malformed netfilter line";
	default:
		return "not a netfilter line";
	}
}

int nflog_time_ms(const struct nflog_line *l, int year, int64_t *out_ms)
{
	if (l->time_kind == NFLOG_TIME_RFC3339) {
		*out_ms = l->epoch_ms;
		return 0;
	}
	if (l->time_kind != NFLOG_TIME_SYSLOG || year < 1970 || year > 9999)
		return -1;
	int64_t days = clock_days_from_civil(year, l->mon, l->day);
	*out_ms =
	    ((days * 86400 + (int64_t)l->hour * 3600 + (int64_t)l->min * 60 + (int64_t)l->sec) *
	     1000);
	return 0;
}

bool nflog_prefix_is(const struct nflog_line *l, const char *want)
{
	size_t n = strlen(want);
	while (n > 0 && want[n - 1] == ' ')
		n--;
	while (n > 0 && *want == ' ') {
		want++;
		n--;
	}
	return l->prefix.len == n && memcmp(l->prefix.p, want, n) == 0;
}

bool nflog_is_smtp_attempt(const struct nflog_line *l)
{
	if (l->proto != NFLOG_PROTO_TCP || !l->has_ports)
		return false;
	if (l->dpt != 25 && l->dpt != 465 && l->dpt != 587)
		return false;
	if (l->tcp_flags == 0)
		return true;
	return (l->tcp_flags & NFLOG_TCP_SYN) && !(l->tcp_flags & NFLOG_TCP_ACK);
}

int nflog_agg_init(struct nflog_agg *a, size_t max_hosts, const char *block_prefix)
{
	memset(a, 0, sizeof *a);
	a->max_hosts = max_hosts;
	if (block_prefix && str_copy(a->block_prefix, sizeof a->block_prefix, block_prefix) != 0)
		return -1;
	a->index = prefix_set_new();
	return a->index ? 0 : -1;
}

void nflog_agg_free(struct nflog_agg *a)
{
	free(a->hosts);
	prefix_set_free(a->index);
	memset(a, 0, sizeof *a);
}

static struct nflog_host *nflog_agg_host(struct nflog_agg *a, const struct addr *src, int *err)
{
	void *v = NULL;
	*err = 0;
	if (prefix_set_lookup(a->index, src, &v, NULL))
		return &a->hosts[(size_t)(uintptr_t)v - 1];
	if (a->n >= a->max_hosts)
		return NULL;
	if (grow_array_max(&a->hosts, &a->cap, a->n + 1, sizeof *a->hosts, a->max_hosts) != 0) {
		*err = -1;
		return NULL;
	}
	struct cidr c = {.addr = *src, .prefix = (uint8_t)addr_bits(src)};
	if (prefix_set_add(a->index, &c, (void *)(uintptr_t)(a->n + 1)) != 0) {
		*err = -1;
		return NULL;
	}
	struct nflog_host *h = &a->hosts[a->n++];
	memset(h, 0, sizeof *h);
	h->src = *src;
	return h;
}

int nflog_agg_add(struct nflog_agg *a, const struct nflog_line *l, int64_t when_ms)
{
	if (!nflog_is_smtp_attempt(l))
		return 0;
	int err;
	struct nflog_host *h = nflog_agg_host(a, &l->src, &err);
	if (!h) {
		if (err)
			return -1;
		a->hosts_dropped++;
		return 1;
	}
	h->attempts++;
	if (a->block_prefix[0] && nflog_prefix_is(l, a->block_prefix))
		h->blocked++;
	if (when_ms != 0) {
		if (h->first_ms == 0 || when_ms < h->first_ms)
			h->first_ms = when_ms;
		if (when_ms > h->last_ms)
			h->last_ms = when_ms;
	}
	for (size_t k = 0; k < h->n_dst; k++)
		if (addr_equal(&h->dst[k], &l->dst))
			return 1;
	if (h->n_dst < NFLOG_HOST_DST_MAX)
		h->dst[h->n_dst++] = l->dst;
	else
		h->dst_overflow = true;
	return 1;
}

const struct nflog_host *nflog_agg_find(const struct nflog_agg *a, const struct addr *src)
{
	void *v = NULL;
	if (!a->index || !prefix_set_lookup(a->index, src, &v, NULL))
		return NULL;
	return &a->hosts[(size_t)(uintptr_t)v - 1];
}
