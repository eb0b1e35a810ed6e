/*
 * pflog - Postfix log messages (see pflog.h). Each daemon's lines are told
 * apart by their first bytes, so a line logscan does not need (message-id,
 * connect, TLS, statistics) costs a queue-ID scan and a compare or two.
 */
#include "forensics/pflog.h"

#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

static const char *const pflog_kind_names[] = {
    "other",  "client",   "sasl_fail", "reject",  "auto_header", "pickup",
    "queued", "delivery", "notify",    "removed", "expired",
};

const char *pflog_kind_name(enum pflog_kind k)
{
	return (unsigned)k < sizeof pflog_kind_names / sizeof pflog_kind_names[0]
	           ? pflog_kind_names[k]
	           : "?";
}

/* Letters and digits: one table load per byte of a queue ID. */
static const unsigned char pflog_alnum_tab[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
    ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1,
    ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1,
    ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
    ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1,
    ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static bool pflog_alnum(char c)
{
	return pflog_alnum_tab[(unsigned char)c] != 0;
}

/* How many letters and digits p[0..n) starts with, counted up to PFLOG_QID_MAX + 1.
 * Every line's first word goes through here: 16 bytes are classified at once
 * (one branch, not one per byte) when the line has them. */
static size_t pflog_alnum_run(const char *p, size_t n)
{
	size_t i = 0;
#ifdef __SSE2__
	if (n >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		/* signed compares: bytes from 0x80 up are negative, never in range;
		 * OR 0x20 turns exactly the capitals into small letters */
		__m128i dig = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
		                            _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
		__m128i low = _mm_or_si128(v, _mm_set1_epi8(0x20));
		__m128i let = _mm_and_si128(_mm_cmpgt_epi8(low, _mm_set1_epi8('a' - 1)),
		                            _mm_cmplt_epi8(low, _mm_set1_epi8('z' + 1)));
		unsigned other = ~(unsigned)_mm_movemask_epi8(_mm_or_si128(dig, let)) & 0xffffu;
		if (other)
			return (size_t)__builtin_ctz(other);
		i = 16;
	}
#endif
	while (i < n && i <= PFLOG_QID_MAX && pflog_alnum(p[i]))
		i++;
	return i;
}

/* "QID: " at the start of m: the ID into *qid, returns the offset after ": " or 0. */
size_t pflog_qid(struct logspan m, struct logspan *qid)
{
	size_t i = pflog_alnum_run(m.p, m.len);
	if (i < 5 || i > PFLOG_QID_MAX || i + 1 >= m.len || m.p[i] != ':' || m.p[i + 1] != ' ')
		return 0;
	qid->p = m.p;
	qid->len = i;
	return i + 2;
}

/* The offset after "QID: ": qi when pflog_maybe found it already (out->qid is set
 * then), else read here. */
static size_t pflog_qid_of(struct logspan m, size_t qi, struct pflog_rec *out)
{
	return qi ? qi : pflog_qid(m, &out->qid);
}

/* "<addr>" at s[*i]: the address without brackets; *i moves past '>'. -1 if not there. */
static int pflog_angle(struct logspan s, size_t *i, struct logspan *out)
{
	if (*i >= s.len || s.p[*i] != '<')
		return -1;
	const char *e = memchr(s.p + *i + 1, '>', s.len - *i - 1);
	if (!e)
		return -1;
	out->p = s.p + *i + 1;
	out->len = (size_t)(e - out->p);
	*i = (size_t)(e - s.p) + 1;
	return 0;
}

/* The value of "key" (", key=" or " key=" style) up to ',', ' ' or a NUL byte. */
static bool pflog_value(struct logspan s, size_t from, const char *key, struct logspan *out)
{
	long k = logspan_find(s, from, key);
	if (k < 0)
		return false;
	size_t b = (size_t)k + strlen(key), e = b;
	while (e < s.len && s.p[e] != ',' && s.p[e] != ' ' && s.p[e] != '\0')
		e++;
	*out = logspan_sub(s, b, e);
	return true;
}

static void pflog_sasl(struct logspan s, size_t from, struct pflog_rec *out)
{
	(void)pflog_value(s, from, "sasl_method=", &out->sasl_method);
	(void)pflog_value(s, from, "sasl_username=", &out->sasl_user);
}

bool pflog_is_delivery_daemon(struct logspan d)
{
	/* by length first: one or two compares instead of eleven */
	switch (d.len) {
	case 4:
		return logspan_eq(d, "smtp") || logspan_eq(d, "lmtp") || logspan_eq(d, "pipe");
	case 5:
		return logspan_eq(d, "local") || logspan_eq(d, "error") || logspan_eq(d, "retry") ||
		       logspan_eq(d, "relay");
	case 7:
		return logspan_eq(d, "virtual") || logspan_eq(d, "discard");
	case 11:
		return logspan_eq(d, "smtp-amavis");
	case 12:
		return logspan_eq(d, "lmtp-dovecot");
	default:
		return false;
	}
}

/* warning: NAME[IP][:PORT]: SASL M authentication failed: WHY[, sasl_username=U] */
static enum pflog_kind pflog_sasl_fail(struct logspan m, struct pflog_rec *out)
{
	long k = logspan_find(m, 9, ": SASL ");
	if (k < 0)
		return PFLOG_OTHER;
	if (logspan_bracket_addr(logspan_sub(m, 9, (size_t)k), &out->client, &out->ip) != 0)
		return PFLOG_OTHER;
	size_t mb = (size_t)k + 7;
	long f = logspan_find(m, mb, " authentication failed");
	if (f < 0)
		return PFLOG_OTHER;
	out->has_ip = true;
	out->sasl_method = logspan_sub(m, mb, (size_t)f);
	size_t r = (size_t)f + 22;
	if (r < m.len && m.p[r] == ':')
		r++;
	while (r < m.len && m.p[r] == ' ')
		r++;
	long u = logspan_find(m, r, ", sasl_username=");
	if (u >= 0) {
		out->text = logspan_sub(m, r, (size_t)u);
		out->sasl_user = logspan_sub(m, (size_t)u + 16, m.len);
	} else {
		out->text = logspan_sub(m, r, m.len);
	}
	return out->kind = PFLOG_SASL_FAIL;
}

/* reject: STAGE from NAME[IP]: CODE TEXT; from=<S> to=<R> proto=P helo=<H> */
static enum pflog_kind pflog_reject(struct logspan m, size_t i, struct pflog_rec *out)
{
	long f = logspan_find(m, i, " from ");
	if (f < 0)
		return PFLOG_OTHER;
	out->stage = logspan_sub(m, i, (size_t)f);
	size_t a = (size_t)f + 6;
	long c = logspan_find(m, a, ": ");
	if (c < 0)
		return PFLOG_OTHER;
	if (logspan_bracket_addr(logspan_sub(m, a, (size_t)c), &out->client, &out->ip) == 0)
		out->has_ip = true;
	size_t t = (size_t)c + 2;
	uint64_t code = 0;
	size_t used = 0;
	if (logspan_u64(logspan_sub(m, t, m.len), &code, &used) == 0 && used == 3)
		out->code = (unsigned)code;
	long semi = logspan_find(m, t, "; from=<");
	out->text = logspan_sub(m, t, semi >= 0 ? (size_t)semi : m.len);
	if (semi >= 0) {
		size_t k = (size_t)semi + 7;
		if (pflog_angle(m, &k, &out->sender) == 0 && k + 4 < m.len &&
		    memcmp(m.p + k, " to=", 4) == 0) {
			k += 4;
			(void)pflog_angle(m, &k, &out->rcpt);
		}
		pflog_sasl(m, k, out);
	}
	return out->kind = PFLOG_REJECT;
}

static enum pflog_kind pflog_smtpd(struct logspan m, size_t qi, struct pflog_rec *out)
{
	size_t i;
	if (m.len > 9 && m.p[0] == 'w' && logspan_starts(m, "warning: "))
		return pflog_sasl_fail(m, out);
	if (logspan_starts(m, "NOQUEUE: ")) {
		i = 9;
	} else if ((i = pflog_qid_of(m, qi, out)) == 0) {
		return PFLOG_OTHER;
	}
	struct logspan r = logspan_sub(m, i, m.len);
	if (logspan_starts(r, "client=")) {
		size_t b = i + 7, e = b;
		for (;;) { /* to the first ", " */
			const char *c = memchr(m.p + e, ',', m.len - e);
			if (!c) {
				e = m.len;
				break;
			}
			e = (size_t)(c - m.p);
			if (e + 1 < m.len && m.p[e + 1] == ' ')
				break;
			e++;
		}
		if (logspan_bracket_addr(logspan_sub(m, b, e), &out->client, &out->ip) == 0)
			out->has_ip = true;
		if (e < m.len)
			pflog_sasl(m, e, out);
		return out->kind = PFLOG_CLIENT;
	}
	if (logspan_starts(r, "reject: "))
		return pflog_reject(m, i + 8, out);
	return PFLOG_OTHER;
}

static bool pflog_ieq_prefix(struct logspan s, size_t at, const char *lit)
{
	size_t n = strlen(lit);
	if (at + n > s.len)
		return false;
	for (size_t k = 0; k < n; k++) {
		char c = s.p[at + k];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != lit[k])
			return false;
	}
	return true;
}

/* cleanup: "QID: info: header Auto-Submitted: auto-replied from ..." */
static enum pflog_kind pflog_cleanup(struct logspan m, size_t qi, struct pflog_rec *out)
{
	size_t i = pflog_qid_of(m, qi, out);
	if (i == 0 || i >= m.len || m.p[i] == 'm') /* message-id= */
		return PFLOG_OTHER;
	long h = logspan_find(m, i, ": header ");
	if (h < 0 || (size_t)h > i + 16)
		return PFLOG_OTHER;
	size_t v = (size_t)h + 9;
	if (!pflog_ieq_prefix(m, v, "auto-submitted:"))
		return PFLOG_OTHER;
	v += 15;
	while (v < m.len && m.p[v] == ' ')
		v++;
	if (pflog_ieq_prefix(m, v, "no") &&
	    (v + 2 == m.len || m.p[v + 2] == ' ' || m.p[v + 2] == ';'))
		return PFLOG_OTHER;
	return out->kind = PFLOG_AUTO_HEADER;
}

static enum pflog_kind pflog_qmgr(struct logspan m, size_t qi, struct pflog_rec *out)
{
	size_t i = pflog_qid_of(m, qi, out);
	if (i == 0)
		return PFLOG_OTHER;
	struct logspan r = logspan_sub(m, i, m.len);
	if (logspan_eq(r, "removed"))
		return out->kind = PFLOG_REMOVED;
	if (!logspan_starts(r, "from=<"))
		return PFLOG_OTHER;
	size_t k = i + 5;
	if (pflog_angle(m, &k, &out->sender) != 0)
		return PFLOG_OTHER;
	struct logspan rest = logspan_sub(m, k, m.len);
	if (logspan_starts(rest, ", size=")) {
		size_t used;
		struct logspan v = logspan_sub(m, k + 7, m.len);
		if (logspan_u64(v, &out->size, &used) != 0)
			return PFLOG_OTHER;
		k += 7 + used;
		rest = logspan_sub(m, k, m.len);
		if (logspan_starts(rest, ", nrcpt=") &&
		    logspan_u64(logspan_sub(m, k + 8, m.len), &out->nrcpt, NULL) == 0)
			return out->kind = PFLOG_QUEUED;
		return PFLOG_OTHER;
	}
	if (logspan_starts(rest, ", status=expired"))
		return out->kind = PFLOG_EXPIRED;
	return PFLOG_OTHER;
}

static enum pflog_kind pflog_delivery(struct logspan m, size_t qi, struct pflog_rec *out)
{
	size_t i = pflog_qid_of(m, qi, out);
	if (i == 0 || i + 4 > m.len || memcmp(m.p + i, "to=<", 4) != 0)
		return PFLOG_OTHER;
	size_t k = i + 3;
	if (pflog_angle(m, &k, &out->rcpt) != 0)
		return PFLOG_OTHER;
	struct logspan rest = logspan_sub(m, k, m.len);
	if (logspan_starts(rest, ", orig_to=<")) {
		k += 10;
		if (pflog_angle(m, &k, &out->orig_rcpt) != 0)
			return PFLOG_OTHER;
		rest = logspan_sub(m, k, m.len);
	}
	if (logspan_starts(rest, ", relay=")) {
		size_t b = k + 8;
		const char *c = b < m.len ? memchr(m.p + b, ',', m.len - b) : NULL;
		size_t e = c ? (size_t)(c - m.p) : m.len > b ? m.len : b;
		out->relay = logspan_sub(m, b, e);
		if (logspan_bracket_addr(out->relay, NULL, &out->relay_ip) == 0)
			out->has_relay_ip = true;
		k = e;
	}
	/* dsn= comes right before status=: find it first, then status= after it */
	long d = logspan_find(m, k, ", dsn=");
	long s = logspan_find(m, d >= 0 ? (size_t)d : k, ", status=");
	if (s < 0)
		return PFLOG_OTHER;
	if (d >= 0)
		out->dsn = logspan_sub(m, (size_t)d + 6, (size_t)s);
	size_t b = (size_t)s + 9, e = b;
	while (e < m.len && m.p[e] != ' ')
		e++;
	struct logspan st = logspan_sub(m, b, e);
	out->status = logspan_eq(st, "sent")       ? PFLOG_ST_SENT
	              : logspan_eq(st, "deferred") ? PFLOG_ST_DEFERRED
	              : logspan_eq(st, "bounced")  ? PFLOG_ST_BOUNCED
	                                           : PFLOG_ST_OTHER;
	if (e + 1 < m.len && m.p[e + 1] == '(')
		out->text = logspan_sub(m, e + 2, m.p[m.len - 1] == ')' ? m.len - 1 : m.len);
	return out->kind = PFLOG_DELIVERY;
}

static enum pflog_kind pflog_pickup(struct logspan m, size_t qi, struct pflog_rec *out)
{
	size_t i = pflog_qid_of(m, qi, out), used;
	uint64_t uid;
	if (i == 0 || !logspan_starts(logspan_sub(m, i, m.len), "uid=") ||
	    logspan_u64(logspan_sub(m, i + 4, m.len), &uid, &used) != 0)
		return PFLOG_OTHER;
	size_t k = i + 4 + used;
	if (!logspan_starts(logspan_sub(m, k, m.len), " from=<"))
		return PFLOG_OTHER;
	k += 6;
	if (pflog_angle(m, &k, &out->sender) != 0)
		return PFLOG_OTHER;
	out->uid = (long)uid;
	return out->kind = PFLOG_PICKUP;
}

/* bounce: "QID: sender non-delivery notification: NEWQID" */
static enum pflog_kind pflog_bounce(struct logspan m, size_t qi, struct pflog_rec *out)
{
	size_t i = pflog_qid_of(m, qi, out);
	if (i == 0)
		return PFLOG_OTHER;
	long n = logspan_find(m, i, " notification: ");
	if (n < 0)
		return PFLOG_OTHER;
	struct logspan rest = logspan_sub(m, (size_t)n + 15, m.len);
	struct logspan nq;
	if (rest.len < 5 || rest.len > PFLOG_QID_MAX)
		return PFLOG_OTHER;
	for (size_t k = 0; k < rest.len; k++)
		if (!pflog_alnum(rest.p[k]))
			return PFLOG_OTHER;
	nq = rest;
	out->new_qid = nq;
	out->text = logspan_sub(m, i, (size_t)n);
	return out->kind = PFLOG_NOTIFY;
}

/* Whether a line of this daemon may be one logscan uses, from its first bytes:
 * most lines (connect, TLS, message-id, disconnect) end here, before the
 * record is even cleared. The queue ID found on the way goes into *q and the
 * offset after it into *qi (0 when not looked for). */
static bool pflog_maybe(struct logspan daemon, struct logspan m, struct logspan *q, size_t *qi)
{
	size_t i;
	*qi = 0;
	if (daemon.p[0] == 's' && logspan_eq(daemon, "smtpd") && (m.p[0] == 'w' || m.p[0] == 'N'))
		return true; /* warning: ..., NOQUEUE: ... */
	if ((i = pflog_qid(m, q)) == 0 || i >= m.len)
		return false;
	*qi = i;
	switch (m.p[i]) {
	case 'c': /* client= */
	case 'r': /* reject:, removed */
	case 'f': /* from= */
	case 't': /* to= */
	case 'u': /* uid= */
	case 's': /* sender ... notification */
	case 'p': /* postmaster ... notification */
	case 'i': /* info: header */
	case 'w': /* warning: header */
	case 'h': /* hold: header */
		return true;
	default:
		return false;
	}
}

enum pflog_kind pflog_parse(struct logspan daemon, struct logspan msg, struct pflog_rec *out)
{
	struct logspan q;
	size_t qi;
	out->kind = PFLOG_OTHER;
	if (daemon.len == 0 || msg.len < 7 || !pflog_maybe(daemon, msg, &q, &qi))
		return PFLOG_OTHER;
	/* Field by field: a memset of the whole record cost a rep stos per useful
	 * line. Every field of struct pflog_rec is set here. */
	struct logspan none = {msg.p, 0};
	out->kind = PFLOG_OTHER;
	out->qid = qi ? q : none;
	out->client = out->sasl_method = out->sasl_user = none;
	out->has_ip = false;
	memset(&out->ip, 0, sizeof out->ip);
	out->sender = out->rcpt = out->orig_rcpt = out->relay = none;
	out->has_relay_ip = false;
	memset(&out->relay_ip, 0, sizeof out->relay_ip);
	out->dsn = out->text = out->stage = out->new_qid = none;
	out->status = PFLOG_ST_NONE;
	out->code = 0;
	out->size = out->nrcpt = 0;
	out->uid = -1;
	switch (daemon.p[0]) {
	case 's':
		if (logspan_eq(daemon, "smtpd"))
			return pflog_smtpd(msg, qi, out);
		break;
	case 'c':
		if (logspan_eq(daemon, "cleanup"))
			return pflog_cleanup(msg, qi, out);
		break;
	case 'q':
		if (logspan_eq(daemon, "qmgr") || logspan_eq(daemon, "nqmgr"))
			return pflog_qmgr(msg, qi, out);
		break;
	case 'p':
		if (logspan_eq(daemon, "pickup"))
			return pflog_pickup(msg, qi, out);
		break;
	case 'b':
		if (logspan_eq(daemon, "bounce"))
			return pflog_bounce(msg, qi, out);
		break;
	default:
		break;
	}
	if (pflog_is_delivery_daemon(daemon))
		return pflog_delivery(msg, qi, out);
	return PFLOG_OTHER;
}
