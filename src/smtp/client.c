/*
 * smtp_client - the SMTP client state machine; see client.h.
 *
 * Replies are framed by relaytest_reply_parse() (bounded lines, same code on
 * every line); the text kept per recipient is every line of the reply joined
 * by spaces and sanitised, so it can go into a log line or a DSN as is.
 * Commands whose replies we wait for sit in a FIFO (pend): with PIPELINING
 * a whole RSET/MAIL/RCPT.../DATA group is written at once (RFC 2920 §3.1),
 * without it the next command goes out when the previous one is answered.
 */
#include "smtp/client.h"

#include "core/log.h"
#include "core/str.h"
#include "smtp/relaytest.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static const char *const smtpc_state_names[] = {
    "greeting", "ehlo", "helo", "starttls", "tls",  "auth",
    "ready",    "tx",   "data", "dot",      "quit", "closed",
};

const char *smtpc_state_name(enum smtpc_state s)
{
	if ((size_t)s >= sizeof smtpc_state_names / sizeof smtpc_state_names[0])
		panic("smtpc: state %d", (int)s);
	return smtpc_state_names[s];
}

/* The one place the state changes (STYLE rule 8). */
static void smtpc_set_state(struct smtpc *c, enum smtpc_state s)
{
	if ((size_t)s >= sizeof smtpc_state_names / sizeof smtpc_state_names[0])
		panic("smtpc: state %d", (int)s);
	c->state = s;
}

int smtpc_init(struct smtpc *c, const struct smtpc_options *opt)
{
	memset(c, 0, sizeof *c);
	c->opt = *opt;
	buf_init(&c->out, SMTPC_OUT_MAX);
	c->pend_cap = 16;
	c->pend = calloc(c->pend_cap, sizeof *c->pend);
	if (!c->pend)
		return -1;
	smtpc_set_state(c, SMTPC_S_GREETING);
	return 0;
}

void smtpc_free(struct smtpc *c)
{
	buf_free(&c->out);
	free(c->pend);
	free(c->res);
	c->pend = NULL;
	c->res = NULL;
}

/* ---- the FIFO of commands waiting for replies ---- */

static int smtpc_pend_push(struct smtpc *c, enum smtpc_cmd cmd, size_t idx)
{
	if (c->pend_len == c->pend_cap) {
		size_t ncap = c->pend_cap * 2;
		struct smtpc_pending *n = calloc(ncap, sizeof *n);
		if (!n)
			return -1;
		for (size_t i = 0; i < c->pend_len; i++)
			n[i] = c->pend[(c->pend_head + i) % c->pend_cap];
		free(c->pend);
		c->pend = n;
		c->pend_cap = ncap;
		c->pend_head = 0;
	}
	struct smtpc_pending *p = &c->pend[(c->pend_head + c->pend_len) % c->pend_cap];
	p->cmd = (uint8_t)cmd;
	p->idx = (uint32_t)idx;
	c->pend_len++;
	return 0;
}

static int smtpc_pend_pop(struct smtpc *c, struct smtpc_pending *out)
{
	if (c->pend_len == 0)
		return -1;
	*out = c->pend[c->pend_head];
	c->pend_head = (c->pend_head + 1) % c->pend_cap;
	c->pend_len--;
	return 0;
}

/* Writes a command line and waits for its reply. */
static int smtpc_cmd(struct smtpc *c, enum smtpc_cmd cmd, size_t idx, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int smtpc_cmd(struct smtpc *c, enum smtpc_cmd cmd, size_t idx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = buf_vprintf(&c->out, fmt, ap);
	va_end(ap);
	if (rc != 0 || buf_append(&c->out, "\r\n", 2) != 0)
		return -1;
	return smtpc_pend_push(c, cmd, idx);
}

/* ---- replies ---- */

/* Every line of the reply joined by one space, sanitised: "550 5.1.1 text more". */
static void smtpc_reply_text(const char *data, size_t used, int code, struct smtpc_result *r)
{
	r->code = code;
	size_t o = 0;
	int n = snprintf(r->text, sizeof r->text, "%d", code);
	o = n > 0 ? (size_t)n : 0;
	size_t pos = 0;
	while (pos < used && o + 2 < sizeof r->text) {
		const char *nl = memchr(data + pos, '\n', used - pos);
		size_t end = nl ? (size_t)(nl - data) : used;
		size_t llen = end - pos;
		if (llen > 0 && data[pos + llen - 1] == '\r')
			llen--;
		if (llen > 4) {
			r->text[o++] = ' ';
			char tmp[SMTPC_REPLY_MAX];
			str_sanitize(tmp, sizeof tmp, data + pos + 4, llen - 4);
			size_t tl = strlen(tmp);
			if (tl > sizeof r->text - 1 - o)
				tl = sizeof r->text - 1 - o;
			memcpy(r->text + o, tmp, tl);
			o += tl;
		}
		pos = end + 1;
	}
	r->text[o] = '\0';
}

static void smtpc_result_set(struct smtpc_result *r, int code, const char *text)
{
	r->code = code;
	if (str_copy(r->text, sizeof r->text, text) != 0) {
		/* cut: keep what fitted */
	}
}

/* One EHLO line (after "250-" or "250 ") into the extension set. */
static void smtpc_ehlo_line(struct smtpc *c, const char *p, size_t n)
{
	size_t kw = 0;
	while (kw < n && p[kw] != ' ' && p[kw] != '=')
		kw++;
	const char *arg = kw < n ? p + kw + 1 : p + n;
	size_t alen = kw < n ? n - kw - 1 : 0;
	static const struct {
		const char *name;
		unsigned bit;
	} exts[] = {
	    {"PIPELINING", SMTPC_EXT_PIPELINING},
	    {"STARTTLS", SMTPC_EXT_STARTTLS},
	    {"SIZE", SMTPC_EXT_SIZE},
	    {"8BITMIME", SMTPC_EXT_8BITMIME},
	    {"SMTPUTF8", SMTPC_EXT_SMTPUTF8},
	    {"DSN", SMTPC_EXT_DSN},
	    {"ENHANCEDSTATUSCODES", SMTPC_EXT_ENHANCEDSTATUSCODES},
	    {"CHUNKING", SMTPC_EXT_CHUNKING},
	    {"AUTH", SMTPC_EXT_AUTH},
	};
	for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
		if (strlen(exts[i].name) != kw || !str_iprefix(p, kw, exts[i].name))
			continue;
		c->ext |= exts[i].bit;
		if (exts[i].bit == SMTPC_EXT_SIZE) {
			uint64_t v = 0;
			if (alen > 0 && str_to_u64(arg, alen, 0, UINT64_MAX, &v) == 0)
				c->size_max = v;
		} else if (exts[i].bit == SMTPC_EXT_AUTH) {
			/* mechanisms separated by spaces */
			size_t s = 0;
			while (s < alen) {
				size_t e = s;
				while (e < alen && arg[e] != ' ')
					e++;
				if (e - s == 5 && str_iprefix(arg + s, 5, "PLAIN"))
					c->ext |= SMTPC_EXT_AUTH_PLAIN;
				s = e + 1;
			}
		}
	}
}

static void smtpc_ehlo_parse(struct smtpc *c, const char *data, size_t used)
{
	c->ext = 0;
	c->size_max = 0;
	size_t pos = 0;
	bool first = true;
	while (pos < used) {
		const char *nl = memchr(data + pos, '\n', used - pos);
		size_t end = nl ? (size_t)(nl - data) : used;
		size_t llen = end - pos;
		if (llen > 0 && data[pos + llen - 1] == '\r')
			llen--;
		/* the first line is the server's name, not an extension */
		if (!first && llen > 4)
			smtpc_ehlo_line(c, data + pos + 4, llen - 4);
		first = false;
		pos = end + 1;
	}
}

/* ---- session set-up ---- */

static int smtpc_send_ehlo(struct smtpc *c)
{
	smtpc_set_state(c, SMTPC_S_EHLO);
	return smtpc_cmd(c, SMTPC_C_EHLO, 0, "EHLO %s", c->opt.helo_name);
}

static enum smtpc_event smtpc_fail(struct smtpc *c, int code, const char *text);

static int smtpc_send_auth(struct smtpc *c)
{
	const char *u = c->opt.auth_user, *p = c->opt.auth_pass ? c->opt.auth_pass : "";
	size_t ul = strlen(u), pl = strlen(p);
	if (ul > 255 || pl > 255)
		return -1;
	unsigned char raw[520];
	raw[0] = '\0';
	memcpy(raw + 1, u, ul);
	raw[1 + ul] = '\0';
	memcpy(raw + 2 + ul, p, pl);
	char b64[720];
	int n = EVP_EncodeBlock((unsigned char *)b64, raw, (int)(2 + ul + pl));
	if (n < 0)
		return -1;
	b64[n] = '\0';
	smtpc_set_state(c, SMTPC_S_AUTH);
	int rc = smtpc_cmd(c, SMTPC_C_AUTH, 0, "AUTH PLAIN %s", b64);
	OPENSSL_cleanse(raw, sizeof raw);
	OPENSSL_cleanse(b64, sizeof b64);
	return rc;
}

/* After EHLO/HELO (and TLS): STARTTLS, AUTH or ready. */
static enum smtpc_event smtpc_after_hello(struct smtpc *c)
{
	if (!c->tls_active && c->opt.tls != SMTPC_TLS_NONE && !c->tried_tls) {
		if (c->ext & SMTPC_EXT_STARTTLS) {
			c->tried_tls = true;
			smtpc_set_state(c, SMTPC_S_STARTTLS);
			if (smtpc_cmd(c, SMTPC_C_STARTTLS, 0, "STARTTLS") != 0)
				return smtpc_fail(c, 451, "451 4.3.0 out of memory");
			return SMTPC_EV_NONE;
		}
		if (c->opt.tls == SMTPC_TLS_ENCRYPT)
			return smtpc_fail(c, 450,
			                  "450 4.7.4 TLS is required but the server does not offer "
			                  "STARTTLS");
	}
	if (c->opt.auth_user && c->opt.auth_user[0] && !c->authenticated) {
		if (!c->tls_active && !c->opt.auth_plaintext)
			return smtpc_fail(c, 450,
			                  "450 4.7.0 AUTH needs TLS and the connection is not "
			                  "encrypted");
		if (!(c->ext & SMTPC_EXT_AUTH_PLAIN))
			return smtpc_fail(
			    c, 450,
			    "450 4.7.0 AUTH is configured but the server offers no AUTH "
			    "PLAIN");
		if (smtpc_send_auth(c) != 0)
			return smtpc_fail(c, 450, "450 4.7.0 AUTH user or password too long");
		return SMTPC_EV_NONE;
	}
	smtpc_set_state(c, SMTPC_S_READY);
	return SMTPC_EV_READY;
}

/* ---- transactions ---- */

static bool smtpc_pipelining(const struct smtpc *c)
{
	return (c->ext & SMTPC_EXT_PIPELINING) && !c->opt.no_pipelining;
}

static int smtpc_send_mail(struct smtpc *c)
{
	const struct smtpc_msg *m = c->msg;
	char params[700] = "";
	size_t o = 0;
#define SMTPC_PARAM(...)                                                                           \
	do {                                                                                       \
		int k_ = snprintf(params + o, sizeof params - o, __VA_ARGS__);                     \
		if (k_ < 0 || (size_t)k_ >= sizeof params - o)                                     \
			return -1;                                                                 \
		o += (size_t)k_;                                                                   \
	} while (0)
	if (c->ext & SMTPC_EXT_SIZE)
		SMTPC_PARAM(" SIZE=%llu", (unsigned long long)m->size);
	if ((c->ext & SMTPC_EXT_8BITMIME) && m->body && m->body[0] &&
	    (str_ieq(m->body, "8BITMIME") || str_ieq(m->body, "7BIT")))
		SMTPC_PARAM(" BODY=%s", m->body);
	if (m->smtputf8)
		SMTPC_PARAM(" SMTPUTF8");
	if (c->ext & SMTPC_EXT_DSN) {
		if (m->ret && m->ret[0])
			SMTPC_PARAM(" RET=%s", m->ret);
		if (m->envid && m->envid[0])
			SMTPC_PARAM(" ENVID=%s", m->envid);
	}
	return smtpc_cmd(c, SMTPC_C_MAIL, 0, "MAIL FROM:<%s>%s", m->sender, params);
}

static int smtpc_send_rcpt(struct smtpc *c, size_t i)
{
	const struct smtpc_msg *m = c->msg;
	char params[700] = "";
	size_t o = 0;
	if ((c->ext & SMTPC_EXT_DSN) && m->notify && m->notify[i]) {
		unsigned n = m->notify[i];
		if (n & SMTPC_NOTIFY_NEVER)
			SMTPC_PARAM(" NOTIFY=NEVER");
		else
			SMTPC_PARAM(
			    " NOTIFY=%s%s%s%s%s", (n & SMTPC_NOTIFY_SUCCESS) ? "SUCCESS" : "",
			    (n & SMTPC_NOTIFY_SUCCESS) && (n & 12u) ? "," : "",
			    (n & SMTPC_NOTIFY_FAILURE) ? "FAILURE" : "",
			    (n & SMTPC_NOTIFY_FAILURE) && (n & SMTPC_NOTIFY_DELAY) ? "," : "",
			    (n & SMTPC_NOTIFY_DELAY) ? "DELAY" : "");
	}
	if ((c->ext & SMTPC_EXT_DSN) && m->orcpt && m->orcpt[i] && m->orcpt[i][0])
		SMTPC_PARAM(" ORCPT=%s", m->orcpt[i]);
#undef SMTPC_PARAM
	c->rcpt_sent++;
	return smtpc_cmd(c, SMTPC_C_RCPT, i, "RCPT TO:<%s>%s", m->rcpt[i], params);
}

int smtpc_mail(struct smtpc *c, const struct smtpc_msg *m)
{
	free(c->res);
	c->res = NULL;
	c->msg = m;
	c->rcpt_sent = c->rcpt_answered = c->rcpt_ok = 0;
	c->mail_ok = c->mail_answered = c->data_sent = c->discard_dot = false;
	memset(&c->mail_reply, 0, sizeof c->mail_reply);
	c->res = calloc(m->nrcpt ? m->nrcpt : 1, sizeof *c->res);
	if (!c->res)
		return -1;
	const char *why = NULL;
	int code = 0;
	if (m->nrcpt == 0 || m->nrcpt > SMTPC_RCPT_MAX) {
		code = 554;
		why = "554 5.5.3 no recipients or too many recipients";
	} else if (c->size_max && m->size > c->size_max) {
		code = 552;
		why = "552 5.3.4 message too big for the server's SIZE limit";
	} else if (m->smtputf8 && !(c->ext & SMTPC_EXT_SMTPUTF8)) {
		code = 550;
		why = "550 5.6.7 the server does not support SMTPUTF8";
	}
	if (why) {
		for (size_t i = 0; i < m->nrcpt; i++)
			smtpc_result_set(&c->res[i], code, why);
		return -1;
	}
	smtpc_set_state(c, SMTPC_S_TX);
	if (c->need_rset && smtpc_cmd(c, SMTPC_C_RSET, 0, "RSET") != 0)
		return -1;
	c->need_rset = false;
	if (!smtpc_pipelining(c) && c->pend_len > 0)
		return 0; /* MAIL after the RSET is answered */
	if (smtpc_send_mail(c) != 0)
		return -1;
	c->need_rset = true;
	if (!smtpc_pipelining(c))
		return 0;
	for (size_t i = 0; i < m->nrcpt; i++)
		if (smtpc_send_rcpt(c, i) != 0)
			return -1;
	c->data_sent = true;
	return smtpc_cmd(c, SMTPC_C_DATA, 0, "DATA");
}

/* The transaction is over: every recipient has its final result. */
static enum smtpc_event smtpc_tx_finish(struct smtpc *c)
{
	c->messages++;
	c->msg = NULL;
	smtpc_set_state(c, SMTPC_S_READY);
	return SMTPC_EV_DONE;
}

/* The session is over. Recipients still without a final answer get r. */
static enum smtpc_event smtpc_fail(struct smtpc *c, int code, const char *text)
{
	bool in_tx = c->msg && (c->state == SMTPC_S_TX || c->state == SMTPC_S_DATA ||
	                        c->state == SMTPC_S_DOT);
	smtpc_result_set(&c->error, code, text);
	if (in_tx) {
		/* After the dot only its reply is final; before it a 2xx to RCPT is not. */
		for (size_t i = 0; i < c->msg->nrcpt; i++)
			if (c->res[i].code == 0 || c->res[i].code / 100 == 2)
				c->res[i] = c->error;
		c->messages++;
		c->msg = NULL;
	}
	c->pend_len = 0;
	smtpc_set_state(c, SMTPC_S_CLOSED);
	return in_tx ? SMTPC_EV_DONE : SMTPC_EV_CLOSED;
}

enum smtpc_event smtpc_abort(struct smtpc *c, int code, const char *text)
{
	if (c->state == SMTPC_S_CLOSED)
		return SMTPC_EV_CLOSED;
	return smtpc_fail(c, code, text);
}

static enum smtpc_event smtpc_oom(struct smtpc *c)
{
	return smtpc_fail(c, 451, "451 4.3.0 local error: out of memory or output full");
}

/* A reply within a transaction. */
static enum smtpc_event smtpc_tx_reply(struct smtpc *c, const struct smtpc_pending *p,
                                       const struct smtpc_result *r)
{
	const struct smtpc_msg *m = c->msg;
	bool pipe = smtpc_pipelining(c);
	bool ok = r->code / 100 == 2;
	switch ((enum smtpc_cmd)p->cmd) {
	case SMTPC_C_RSET:
		if (!pipe && smtpc_send_mail(c) != 0)
			return smtpc_oom(c);
		c->need_rset = true;
		return SMTPC_EV_NONE;
	case SMTPC_C_MAIL:
		c->mail_answered = true;
		c->mail_ok = ok;
		c->mail_reply = *r;
		if (!ok) {
			for (size_t i = 0; i < m->nrcpt; i++)
				c->res[i] = *r;
			c->need_rset = false; /* no transaction was opened */
			return pipe ? SMTPC_EV_NONE : smtpc_tx_finish(c);
		}
		if (!pipe && smtpc_send_rcpt(c, 0) != 0)
			return smtpc_oom(c);
		return SMTPC_EV_NONE;
	case SMTPC_C_RCPT:
		c->rcpt_answered++;
		if (p->idx < m->nrcpt && c->mail_ok) {
			c->res[p->idx] = *r;
			if (ok)
				c->rcpt_ok++;
		}
		if (pipe)
			return SMTPC_EV_NONE;
		if (c->rcpt_sent < m->nrcpt) {
			if (smtpc_send_rcpt(c, c->rcpt_sent) != 0)
				return smtpc_oom(c);
			return SMTPC_EV_NONE;
		}
		if (c->rcpt_ok == 0)
			return smtpc_tx_finish(c); /* need_rset stays: MAIL was accepted */
		c->data_sent = true;
		if (smtpc_cmd(c, SMTPC_C_DATA, 0, "DATA") != 0)
			return smtpc_oom(c);
		return SMTPC_EV_NONE;
	case SMTPC_C_DATA:
		if (r->code == 354) {
			if (!c->mail_ok || c->rcpt_ok == 0) {
				/* RFC 2920 §3.1: nobody to deliver to, end the data at once */
				c->discard_dot = true;
				smtpc_set_state(c, SMTPC_S_DOT);
				if (buf_append(&c->out, ".\r\n", 3) != 0 ||
				    smtpc_pend_push(c, SMTPC_C_DOT, 0) != 0)
					return smtpc_oom(c);
				return SMTPC_EV_NONE;
			}
			c->bol = true;
			c->cr = false;
			smtpc_set_state(c, SMTPC_S_DATA);
			return SMTPC_EV_DATA;
		}
		if (c->mail_ok)
			for (size_t i = 0; i < m->nrcpt; i++)
				if (c->res[i].code / 100 == 2)
					c->res[i] = *r;
		return smtpc_tx_finish(c);
	case SMTPC_C_DOT:
		if (!c->discard_dot) {
			for (size_t i = 0; i < m->nrcpt; i++)
				if (c->res[i].code / 100 == 2)
					c->res[i] = *r;
			c->need_rset = !ok;
		}
		return smtpc_tx_finish(c);
	default: /* smtpc_reply() answers the others itself */
		panic("smtpc: transaction reply for command %u", (unsigned)p->cmd);
	}
}

int smtpc_input(struct smtpc *c, const char *data, size_t len, size_t *used, enum smtpc_event *ev)
{
	*used = 0;
	*ev = SMTPC_EV_NONE;
	if (c->state == SMTPC_S_CLOSED) {
		*ev = SMTPC_EV_CLOSED;
		return -1;
	}
	struct relaytest_reply rr;
	size_t u = 0;
	int rc = relaytest_reply_parse(data, len, &rr, &u);
	if (rc == 0)
		return 0;
	if (rc < 0) {
		*ev = smtpc_fail(c, 451, "451 4.5.0 malformed reply from the server");
		return -1;
	}
	*used = u;
	struct smtpc_result r;
	smtpc_reply_text(data, u, rr.code, &r);
	if (c->state == SMTPC_S_GREETING) {
		if (r.code != 220) {
			*ev = smtpc_fail(c, r.code, r.text);
			return 1;
		}
		*ev = smtpc_send_ehlo(c) == 0 ? SMTPC_EV_NONE : smtpc_oom(c);
		return 1;
	}
	struct smtpc_pending p;
	if (smtpc_pend_pop(c, &p) != 0) {
		*ev = smtpc_fail(c, 451, "451 4.5.0 reply to no command");
		return -1;
	}
	if (r.code == 421 && p.cmd != SMTPC_C_QUIT) {
		*ev = smtpc_fail(c, r.code, r.text);
		return 1;
	}
	bool ok = r.code / 100 == 2;
	switch ((enum smtpc_cmd)p.cmd) {
	case SMTPC_C_EHLO:
		if (ok) {
			smtpc_ehlo_parse(c, data, u);
			*ev = smtpc_after_hello(c);
		} else if (r.code / 100 == 5) {
			/* RFC 5321 §3.2: a server without EHLO; try HELO */
			smtpc_set_state(c, SMTPC_S_HELO);
			*ev = smtpc_cmd(c, SMTPC_C_HELO, 0, "HELO %s", c->opt.helo_name) == 0
			          ? SMTPC_EV_NONE
			          : smtpc_oom(c);
		} else {
			*ev = smtpc_fail(c, r.code, r.text);
		}
		return 1;
	case SMTPC_C_HELO:
		c->ext = 0;
		*ev = ok ? smtpc_after_hello(c) : smtpc_fail(c, r.code, r.text);
		return 1;
	case SMTPC_C_STARTTLS:
		if (r.code == 220) {
			if (u < len) {
				/* CVE-2011-0411 the other way round: plain text injected
				 * after the reply would be read as if it came over TLS. */
				*ev = smtpc_fail(
				    c, 451, "451 4.7.0 data after the STARTTLS reply, not trusted");
				return 1;
			}
			smtpc_set_state(c, SMTPC_S_TLS);
			*ev = SMTPC_EV_TLS;
		} else if (c->opt.tls == SMTPC_TLS_ENCRYPT) {
			char t[SMTPC_REPLY_MAX];
			str_format_trunc(t, sizeof t,
			                 "450 4.7.4 TLS is required and STARTTLS failed: %s",
			                 r.text);
			*ev = smtpc_fail(c, 450, t);
		} else {
			*ev = smtpc_after_hello(c);
		}
		return 1;
	case SMTPC_C_AUTH:
		if (r.code == 235) {
			c->authenticated = true;
			smtpc_set_state(c, SMTPC_S_READY);
			*ev = SMTPC_EV_READY;
		} else {
			/* A wrong password is our configuration, not the recipient's
			 * fault: defer, never bounce. */
			char t[SMTPC_REPLY_MAX];
			str_format_trunc(t, sizeof t, "454 4.7.0 AUTH failed: %s", r.text);
			*ev = smtpc_fail(c, 454, t);
		}
		return 1;
	case SMTPC_C_QUIT:
		smtpc_set_state(c, SMTPC_S_CLOSED);
		*ev = SMTPC_EV_CLOSED;
		return 1;
	default:
		if (!c->msg) {
			*ev = smtpc_fail(c, 451, "451 4.5.0 reply out of order");
			return -1;
		}
		*ev = smtpc_tx_reply(c, &p, &r);
		return 1;
	}
}

void smtpc_tls_done(struct smtpc *c)
{
	c->tls_active = true;
	c->ext = 0;
	if (smtpc_send_ehlo(c) != 0)
		(void)smtpc_oom(c);
}

/* Dot-stuffing and line ends: spans of ordinary bytes are copied as they
 * are; a '.' at the start of a line is doubled; CR LF, bare CR and bare LF
 * all become CR LF. */
int smtpc_data(struct smtpc *c, const void *data, size_t n)
{
	if (c->state != SMTPC_S_DATA)
		return -1;
	const char *p = data;
	size_t i = 0;
	while (i < n) {
		if (c->cr) {
			c->cr = false;
			if (buf_append(&c->out, "\r\n", 2) != 0)
				return -1;
			c->bol = true;
			if (p[i] == '\n') {
				i++;
				continue;
			}
		}
		if (c->bol && p[i] == '.') {
			if (buf_append(&c->out, "..", 2) != 0)
				return -1;
			c->bol = false;
			i++;
			continue;
		}
		size_t s = i;
		while (i < n && p[i] != '\r' && p[i] != '\n')
			i++;
		if (i > s) {
			if (buf_append(&c->out, p + s, i - s) != 0)
				return -1;
			c->bol = false;
		}
		if (i < n) {
			if (p[i] == '\r') {
				c->cr = true;
			} else {
				if (buf_append(&c->out, "\r\n", 2) != 0)
					return -1;
				c->bol = true;
			}
			i++;
		}
	}
	return 0;
}

int smtpc_data_end(struct smtpc *c)
{
	if (c->state != SMTPC_S_DATA)
		return -1;
	if (c->cr) {
		c->cr = false;
		c->bol = true;
		if (buf_append(&c->out, "\r\n", 2) != 0)
			return -1;
	}
	if (!c->bol && buf_append(&c->out, "\r\n", 2) != 0)
		return -1;
	if (buf_append(&c->out, ".\r\n", 3) != 0 || smtpc_pend_push(c, SMTPC_C_DOT, 0) != 0)
		return -1;
	smtpc_set_state(c, SMTPC_S_DOT);
	return 0;
}

void smtpc_quit(struct smtpc *c)
{
	if (c->state == SMTPC_S_CLOSED)
		return;
	smtpc_set_state(c, SMTPC_S_QUIT);
	if (smtpc_cmd(c, SMTPC_C_QUIT, 0, "QUIT") != 0)
		smtpc_set_state(c, SMTPC_S_CLOSED);
}

const struct smtpc_result *smtpc_result(const struct smtpc *c, size_t i)
{
	return c->res ? &c->res[i] : NULL;
}

const struct smtpc_result *smtpc_error(const struct smtpc *c)
{
	return &c->error;
}

bool smtpc_usable(const struct smtpc *c)
{
	return c->state == SMTPC_S_READY;
}

int smtpc_status_code(const struct smtpc_result *r, char *out, size_t size)
{
	const char *t = r->text;
	if (strlen(t) > 4 && (t[4] == '2' || t[4] == '4' || t[4] == '5') && t[5] == '.' &&
	    t[4] == t[0]) {
		size_t n = 4;
		int dots = 0;
		while (t[n] && t[n] != ' ' && n < 4 + 11) {
			if (t[n] == '.')
				dots++;
			else if (t[n] < '0' || t[n] > '9')
				break;
			n++;
		}
		if (dots == 2 && (t[n] == ' ' || t[n] == '\0') && t[n - 1] != '.')
			return str_copy_n(out, size, t + 4, n - 4);
	}
	if (r->code < 200 || r->code > 599)
		return -1;
	return str_format(out, size, "%d.0.0", r->code / 100);
}
