/*
 * smtp_session - the server side of one ESMTP session; see session.h.
 *
 * Shape (OpenSMTPD smtp_session.c, curl smtp_state()): one state enum, one
 * function that changes it (smtp_session_set_state), one command table
 * (smtp_session_commands[]) saying in which states a verb is allowed and
 * which handler runs. Input is kept in one bounded buffer; every complete
 * line is checked (length, CRLF only, no NUL) before any handler sees it.
 * Replies are appended to one bounded output buffer in command order.
 */
#include "smtp/session.h"

#include "core/log.h"
#include "core/str.h"
#include "core/version.h"
#include "smtp/sasl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SMTP_SESSION_OUT_SLACK 16384 /* above the high-water mark: room for one reply */

enum smtp_session_auth_step {
	SMTP_SESSION_AUTH_STEP_NONE,
	SMTP_SESSION_AUTH_STEP_PLAIN,      /* 334 sent, waiting for the PLAIN response */
	SMTP_SESSION_AUTH_STEP_LOGIN_USER, /* 334 Username: sent */
	SMTP_SESSION_AUTH_STEP_LOGIN_PASS, /* 334 Password: sent */
};

struct smtp_session {
	struct smtp_session_config cfg;
	struct smtp_session_ops ops;
	void *arg;
	char hostname[256];
	bool has_ip;
	struct addr ip;
	char rdns[256];

	enum smtp_session_state state;
	enum smtp_session_pending pending;
	bool processing;  /* inside smtp_session_process: completions do not recurse */
	unsigned replies; /* replies written during this feed (tarpit pacing) */

	struct buf in, out;
	bool skip_line; /* dropping the rest of an over-long line */

	bool esmtp; /* EHLO, not HELO */
	char helo[SMTP_SESSION_HELO_MAX + 1];
	bool tls;
	char auth_user[SMTP_SESSION_USER_MAX + 1];
	char auth_candidate[SMTP_SESSION_USER_MAX + 1];
	enum smtp_session_auth_step auth_step;
	char auth_login_user[SMTP_SASL_FIELD_MAX + 1];

	unsigned errors, junk, auth_failures, rcpts, rcpts_over;
	size_t tls_discarded;
	const char *last_error;

	bool has_mail;
	struct smtp_address mail;
	struct smtp_address cand; /* the RCPT waiting for reply_policy */
	char first_rcpt[SMTP_ADDRESS_PATH_MAX + 1];

	/* DATA / BDAT */
	struct smtp_data data;
	bool data_open;   /* data_start succeeded: data_end or data_abort owed */
	bool data_failed; /* data_chunk failed: 451 at the end */
	uint64_t bdat_remaining;
	bool bdat_last;
	bool bdat_discard;                   /* reading a refused chunk to keep in step */
	const char *bdat_reply;              /* the refusal, sent once the chunk is read */
	enum smtp_session_state bdat_return; /* state after a discarded chunk */
};

static const char *const smtp_session_state_names[SMTP_SESSION_STATE_COUNT] = {
    "connected", "ready", "mail", "rcpt", "data", "bdat", "bdat_next", "auth", "tls", "closed",
};

const char *smtp_session_state_name(enum smtp_session_state st)
{
	if ((unsigned)st >= SMTP_SESSION_STATE_COUNT)
		panic("smtp_session: state %d", (int)st);
	return smtp_session_state_names[st];
}

void smtp_session_config_defaults(struct smtp_session_config *c)
{
	memset(c, 0, sizeof *c);
	c->role = SMTP_SESSION_ROLE_RELAY;
	c->hostname = "localhost";
	c->auth_requires_tls = true;
	c->smtputf8 = true;
	c->chunking = true;
	c->dsn = true;
	c->line_limit = 2048;
	c->message_size_limit = 10240000;
	c->recipient_limit = 1000;
	c->recipient_overshoot = 1000;
	c->soft_error_limit = 10;
	c->hard_error_limit = 20;
	c->junk_command_limit = 100;
	c->auth_failure_limit = 3;
	c->input_limit = 65536;
	c->output_highwater = 32768;
}

static void smtp_session_set_state(struct smtp_session *s, enum smtp_session_state to,
                                   const char *why)
{
	enum smtp_session_state from = s->state;
	/* closed is final: nothing is read or answered after it */
	if ((unsigned)to >= SMTP_SESSION_STATE_COUNT ||
	    (from == SMTP_SESSION_CLOSED && to != SMTP_SESSION_CLOSED))
		panic("smtp_session: state %s to %d (%s)", smtp_session_state_name(from), (int)to,
		      why);
	if (from == to)
		return;
	s->state = to;
	if (s->ops.state_change)
		s->ops.state_change(s->arg, s, from, to, why);
}

static void smtp_session_close(struct smtp_session *s, const char *why)
{
	smtp_session_set_state(s, SMTP_SESSION_CLOSED, why);
	s->pending = SMTP_SESSION_PENDING_NONE;
}

/* One reply line (or several, each already ending in CRLF but the last). */
__attribute__((format(printf, 2, 3))) static void smtp_session_reply(struct smtp_session *s,
                                                                     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t before = s->out.len;
	int rc = buf_vprintf(&s->out, fmt, ap);
	va_end(ap);
	if (rc != 0 || buf_append(&s->out, "\r\n", 2) != 0) {
		/* The client does not read its replies: give up on it. */
		s->out.len = before;
		smtp_session_close(s, "output_overflow");
		return;
	}
	s->replies++;
}

static void smtp_session_refusal(struct smtp_session *s, const char *why, const char *reply)
{
	smtp_session_reply(s, "%s", reply);
	s->last_error = why;
	if (s->ops.reject)
		s->ops.reject(s->arg, s, why, reply);
}

/* "421 4.7.0 HOST text" and the end of the session. */
static void smtp_session_closing(struct smtp_session *s, const char *why, const char *text)
{
	char r[SMTP_SESSION_REPLY_MAX];
	str_format_trunc(r, sizeof r, "421 4.7.0 %s %s", s->hostname, text);
	smtp_session_refusal(s, why, r);
	smtp_session_close(s, why);
}

static void smtp_session_check_errors(struct smtp_session *s)
{
	if (s->state != SMTP_SESSION_CLOSED && s->cfg.hard_error_limit &&
	    s->errors >= s->cfg.hard_error_limit) {
		smtp_session_closing(s, "too_many_errors", "Error: too many errors");
	}
}

/* A 4xx/5xx reply to a client mistake: counted toward the error limits. */
static void smtp_session_error(struct smtp_session *s, const char *why, const char *reply)
{
	smtp_session_refusal(s, why, reply);
	s->errors++;
	smtp_session_check_errors(s);
}

/* A complete "4xx/5xx x.y.z text" reply from a caller, or NULL. */
static bool smtp_session_reply_valid(const char *r)
{
	if (!r || strlen(r) < 4 || strlen(r) > SMTP_SESSION_REPLY_MAX - 2)
		return false;
	if ((r[0] != '4' && r[0] != '5') || r[1] < '0' || r[1] > '9' || r[2] < '0' || r[2] > '9' ||
	    r[3] != ' ')
		return false;
	for (const char *p = r; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			return false;
	return true;
}

/* Ends the mail transaction (RFC 5321 §4.1.1.5); the open message, if any,
 * is discarded. */
static void smtp_session_reset_transaction(struct smtp_session *s, const char *why)
{
	bool had = s->has_mail || s->data_open;
	if (s->data_open && s->ops.data_abort)
		s->ops.data_abort(s->arg, s, why);
	s->data_open = false;
	s->data_failed = false;
	s->has_mail = false;
	s->rcpts = 0;
	s->rcpts_over = 0;
	s->first_rcpt[0] = '\0';
	if (had && s->ops.reset)
		s->ops.reset(s->arg, s);
	if (s->state == SMTP_SESSION_MAIL || s->state == SMTP_SESSION_RCPT ||
	    s->state == SMTP_SESSION_DATA || s->state == SMTP_SESSION_BDAT ||
	    s->state == SMTP_SESSION_BDAT_NEXT)
		smtp_session_set_state(s, SMTP_SESSION_READY, why);
}

/* ---- commands ---- */

#define ST(x) (1u << SMTP_SESSION_##x)
#define ST_GREETED (ST(READY) | ST(MAIL) | ST(RCPT))
#define ST_ANY (ST(CONNECTED) | ST_GREETED)

struct smtp_session_command {
	const char *verb;
	void (*handler)(struct smtp_session *s, const char *arg, size_t len);
	unsigned states; /* where it is allowed; elsewhere wrong_state() answers */
	bool junk;       /* counts toward junk_command_limit */
};

static void smtp_session_wrong_state(struct smtp_session *s, const char *verb)
{
	const char *r = "503 5.5.1 Error: bad sequence of commands";
	if (s->state == SMTP_SESSION_BDAT_NEXT)
		r = "503 5.5.1 Error: BDAT expected";
	else if (s->state == SMTP_SESSION_CONNECTED)
		r = "503 5.5.1 Error: send HELO/EHLO first";
	else if (strcmp(verb, "MAIL") == 0)
		r = "503 5.5.1 Error: nested MAIL command";
	else if (strcmp(verb, "RCPT") == 0)
		r = "503 5.5.1 Error: need MAIL command";
	else if (strcmp(verb, "DATA") == 0)
		r = s->state == SMTP_SESSION_MAIL ? "554 5.5.1 Error: no valid recipients"
		                                  : "503 5.5.1 Error: need RCPT command";
	else if (strcmp(verb, "STARTTLS") == 0 || strcmp(verb, "AUTH") == 0)
		r = "503 5.5.1 Error: MAIL transaction in progress";
	smtp_session_error(s, "bad_sequence", r);
}

static bool smtp_session_no_arg(struct smtp_session *s, size_t len, const char *syntax)
{
	if (len == 0)
		return true;
	smtp_session_error(s, "syntax", syntax);
	return false;
}

static void smtp_session_ehlo_reply(struct smtp_session *s)
{
	char size[40];
	const char *ext[12];
	int n = 0;
	ext[n++] = "PIPELINING";
	if (s->cfg.message_size_limit) {
		if (str_format(size, sizeof size, "SIZE %llu",
		               (unsigned long long)s->cfg.message_size_limit) != 0)
			panic("smtp_session_ehlo_reply: size does not fit");
	} else {
		if (str_copy(size, sizeof size, "SIZE") != 0)
			panic("smtp_session_ehlo_reply: size does not fit");
	}
	ext[n++] = size;
	if (s->cfg.tls_available && !s->tls)
		ext[n++] = "STARTTLS";
	if (s->cfg.auth_enabled && !s->auth_user[0] && (s->tls || !s->cfg.auth_requires_tls))
		ext[n++] = "AUTH PLAIN LOGIN";
	ext[n++] = "ENHANCEDSTATUSCODES";
	ext[n++] = "8BITMIME";
	if (s->cfg.dsn)
		ext[n++] = "DSN";
	if (s->cfg.smtputf8)
		ext[n++] = "SMTPUTF8";
	if (s->cfg.chunking)
		ext[n++] = "CHUNKING";
	smtp_session_reply(s, "250-%s", s->hostname);
	for (int i = 0; i < n; i++)
		smtp_session_reply(s, "250%c%s", i + 1 == n ? ' ' : '-', ext[i]);
}

static void smtp_session_helo_common(struct smtp_session *s, const char *arg, size_t len,
                                     bool esmtp)
{
	if (len == 0) {
		smtp_session_error(s, "syntax",
		                   esmtp ? "501 5.5.4 Syntax: EHLO hostname"
		                         : "501 5.5.4 Syntax: HELO hostname");
		return;
	}
	if (len > SMTP_SESSION_HELO_MAX) {
		smtp_session_error(s, "helo_too_long", "501 5.5.4 Error: hostname too long");
		return;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)arg[i];
		if (c < 0x20 || c >= 0x7f) {
			smtp_session_error(s, "helo_syntax",
			                   "501 5.5.2 Error: invalid character in hostname");
			return;
		}
	}
	smtp_session_reset_transaction(s, esmtp ? "ehlo" : "helo");
	if (str_copy_n(s->helo, sizeof s->helo, arg, len) != 0)
		panic("smtp_session_helo: the length was checked above");
	s->esmtp = esmtp;
	smtp_session_set_state(s, SMTP_SESSION_READY, esmtp ? "ehlo" : "helo");
	if (esmtp)
		smtp_session_ehlo_reply(s);
	else
		smtp_session_reply(s, "250 %s", s->hostname);
}

static void smtp_session_cmd_ehlo(struct smtp_session *s, const char *arg, size_t len)
{
	smtp_session_helo_common(s, arg, len, true);
}

static void smtp_session_cmd_helo(struct smtp_session *s, const char *arg, size_t len)
{
	smtp_session_helo_common(s, arg, len, false);
}

/* Marks what the session waits for, then runs the action (which may complete
 * at once, from inside the callback). */
static void smtp_session_begin(struct smtp_session *s, enum smtp_session_pending p)
{
	s->pending = p;
}

static void smtp_session_cmd_mail(struct smtp_session *s, const char *arg, size_t len)
{
	if (len < 5 || !str_iprefix(arg, len, "FROM:")) {
		smtp_session_error(s, "syntax", "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	if (s->cfg.tls_required && !s->tls) {
		smtp_session_error(s, "tls_required",
		                   "530 5.7.0 Must issue a STARTTLS command first");
		return;
	}
	if (s->cfg.role == SMTP_SESSION_ROLE_SUBMISSION && !s->auth_user[0]) {
		smtp_session_error(s, "auth_required", "530 5.7.0 Authentication required");
		return;
	}
	enum smtp_address_status st =
	    smtp_address_parse(arg + 5, len - 5, SMTP_ADDRESS_MAIL, 0, &s->mail);
	if (st != SMTP_ADDRESS_OK) {
		smtp_session_error(s, smtp_address_status_name(st),
		                   smtp_address_reply(st, SMTP_ADDRESS_MAIL));
		return;
	}
	const struct smtp_address *m = &s->mail;
	if (!s->esmtp && m->nparams > 0) {
		smtp_session_error(s, "param_after_helo",
		                   "555 5.5.4 Error: MAIL parameters need EHLO");
		return;
	}
	if (m->smtputf8 && !s->cfg.smtputf8) {
		smtp_session_error(s, "smtputf8", "555 5.5.4 Error: SMTPUTF8 not supported");
		return;
	}
	if (!s->cfg.dsn &&
	    (m->ret != SMTP_ADDRESS_RET_NONE || smtp_address_param_get(m, "ENVID") != NULL)) {
		smtp_session_error(s, "dsn", "555 5.5.4 Error: DSN not supported");
		return;
	}
	if (m->body == SMTP_ADDRESS_BODY_BINARYMIME) {
		smtp_session_error(s, "binarymime",
		                   "555 5.5.4 Error: BODY=BINARYMIME not supported");
		return;
	}
	if (m->has_size && s->cfg.message_size_limit && m->size > s->cfg.message_size_limit) {
		smtp_session_error(s, "size", "552 5.3.4 Error: message size exceeds fixed limit");
		return;
	}
	smtp_session_begin(s, SMTP_SESSION_PENDING_MAIL);
	if (s->ops.mail)
		s->ops.mail(s->arg, s, &s->mail);
	else
		smtp_session_reply_policy(s, NULL);
}

static void smtp_session_cmd_rcpt(struct smtp_session *s, const char *arg, size_t len)
{
	if (len < 3 || !str_iprefix(arg, len, "TO:")) {
		smtp_session_error(s, "syntax", "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	if (s->cfg.recipient_limit && s->rcpts >= s->cfg.recipient_limit) {
		smtp_session_refusal(s, "too_many_recipients",
		                     "452 4.5.3 Error: too many recipients");
		if (++s->rcpts_over > s->cfg.recipient_overshoot) {
			s->errors++;
			smtp_session_check_errors(s);
		}
		return;
	}
	unsigned opts = s->mail.smtputf8 ? SMTP_ADDRESS_OPT_SMTPUTF8 : 0;
	enum smtp_address_status st =
	    smtp_address_parse(arg + 3, len - 3, SMTP_ADDRESS_RCPT, opts, &s->cand);
	if (st != SMTP_ADDRESS_OK) {
		smtp_session_error(s, smtp_address_status_name(st),
		                   smtp_address_reply(st, SMTP_ADDRESS_RCPT));
		return;
	}
	if (!s->esmtp && s->cand.nparams > 0) {
		smtp_session_error(s, "param_after_helo",
		                   "555 5.5.4 Error: RCPT parameters need EHLO");
		return;
	}
	if (!s->cfg.dsn &&
	    (s->cand.notify != 0 || smtp_address_param_get(&s->cand, "ORCPT") != NULL)) {
		smtp_session_error(s, "dsn", "555 5.5.4 Error: DSN not supported");
		return;
	}
	/* DESIGN.md invariant 1: the relay decision, exactly. An inbound
	 * listener accepts local domains only, whoever the client is. */
	struct relay_client client = {
	    .auth_user = s->cfg.role == SMTP_SESSION_ROLE_INBOUND ? NULL : s->auth_user,
	    .has_ip = s->has_ip,
	    .ip = s->ip,
	};
	struct relay_decision d;
	if (relay_decide(s->cfg.relay, &client, &s->cand, &d) != 0)
		d.verdict = RELAY_REJECT;
	if (d.verdict == RELAY_ACCEPT_RELAY && s->cfg.role == SMTP_SESSION_ROLE_INBOUND) {
		char a[SMTP_ADDRESS_PATH_MAX + 1];
		smtp_address_format(&s->cand, a, sizeof a);
		d.verdict = RELAY_REJECT;
		d.reason = RELAY_REASON_DENIED;
		str_format_trunc(d.reply, sizeof d.reply, "554 5.7.1 <%s>: Relay access denied", a);
	}
	if (d.verdict == RELAY_REJECT) {
		smtp_session_error(s, relay_reason_name(d.reason),
		                   d.reply[0] ? d.reply : "554 5.7.1 Relay access denied");
		return;
	}
	smtp_session_begin(s, SMTP_SESSION_PENDING_RCPT);
	if (s->ops.rcpt)
		s->ops.rcpt(s->arg, s, &s->cand, &d);
	else
		smtp_session_reply_policy(s, NULL);
}

static void smtp_session_data_open(struct smtp_session *s, enum smtp_data_mode mode)
{
	smtp_data_init(&s->data, mode, s->cfg.message_size_limit);
	s->data_failed = false;
	s->data_open = true;
}

static bool smtp_session_data_start(struct smtp_session *s)
{
	if (s->ops.data_start && s->ops.data_start(s->arg, s) != 0) {
		smtp_session_error(s, "queue_open", "451 4.3.0 Error: queue file write error");
		return false;
	}
	return true;
}

static void smtp_session_cmd_data(struct smtp_session *s, const char *arg, size_t len)
{
	if (!smtp_session_no_arg(s, len, "501 5.5.4 Syntax: DATA"))
		return;
	if (!smtp_session_data_start(s))
		return;
	smtp_session_data_open(s, SMTP_DATA_MODE_DATA);
	smtp_session_set_state(s, SMTP_SESSION_DATA, "data");
	smtp_session_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

/* A bare newline or an oversize body so far: the transaction is refused
 * (true), the message dropped. */
static bool smtp_session_content_refused(struct smtp_session *s)
{
	enum smtp_data_result r = smtp_data_result(&s->data);
	if (r == SMTP_DATA_OK)
		return false;
	const char *why = smtp_data_result_name(r);
	smtp_session_reset_transaction(s, why);
	smtp_session_error(s, why, smtp_data_reply(r));
	return true;
}

/* The whole message is in (DATA end or BDAT LAST): refuse it or commit it. */
static void smtp_session_message_end(struct smtp_session *s)
{
	if (smtp_session_content_refused(s))
		return;
	if (s->data_failed || !s->ops.data_end) {
		/* No queue, or it failed: never 250 (DESIGN.md invariant 2). */
		smtp_session_reset_transaction(s, s->data_failed ? "queue_write" : "no_queue");
		smtp_session_refusal(s, s->data_failed ? "queue_write" : "no_queue",
		                     "451 4.3.0 Error: queue file write error");
		return;
	}
	smtp_session_begin(s, SMTP_SESSION_PENDING_DATA);
	s->ops.data_end(s->arg, s);
}

static void smtp_session_content(struct smtp_session *s, const char *p, size_t n)
{
	if (n == 0 || s->data_failed || !s->ops.data_chunk)
		return;
	if (s->ops.data_chunk(s->arg, s, p, n) != 0)
		s->data_failed = true;
}

/* Runs the body machine over up to max input bytes; returns bytes used. */
static size_t smtp_session_body(struct smtp_session *s, size_t max)
{
	char out[SMTP_SESSION_CHUNK];
	size_t used = 0;
	while (used < max && !smtp_data_done(&s->data)) {
		size_t outlen = 0;
		size_t k = smtp_data_feed(&s->data, s->in.data + used, max - used, out, sizeof out,
		                          &outlen);
		smtp_session_content(s, out, outlen);
		used += k;
		if (k == 0 && outlen == 0)
			break;
	}
	buf_consume(&s->in, used);
	return used;
}

static bool smtp_session_data_input(struct smtp_session *s)
{
	if (s->in.len == 0)
		return false;
	smtp_session_body(s, s->in.len);
	if (smtp_data_done(&s->data))
		smtp_session_message_end(s);
	return true;
}

/* "BDAT count [LAST]". 0, or -1 on bad syntax. */
static int smtp_session_bdat_parse(const char *arg, size_t len, uint64_t *size, bool *last)
{
	size_t i = 0;
	while (i < len && arg[i] >= '0' && arg[i] <= '9')
		i++;
	if (i == 0 || i > 19 || str_to_u64(arg, i, 0, UINT64_MAX, size) != 0)
		return -1;
	*last = false;
	if (i == len)
		return 0;
	size_t j = i;
	while (j < len && arg[j] == ' ')
		j++;
	if (j == i || !str_ieq_n(arg + j, len - j, "LAST"))
		return -1;
	*last = true;
	return 0;
}

static void smtp_session_bdat_refuse(struct smtp_session *s, uint64_t size, const char *reply)
{
	s->bdat_discard = true;
	s->bdat_reply = reply;
	s->bdat_remaining = size;
	s->bdat_return = s->state;
	smtp_session_set_state(s, SMTP_SESSION_BDAT, "bdat_discard");
}

static void smtp_session_bdat_chunk_end(struct smtp_session *s);

static void smtp_session_cmd_bdat(struct smtp_session *s, const char *arg, size_t len)
{
	uint64_t size;
	bool last;
	if (smtp_session_bdat_parse(arg, len, &size, &last) != 0) {
		/* Where the chunk ends is unknown: the rest of the stream cannot
		 * be told apart from commands. */
		smtp_session_reply(s, "501 5.5.4 Syntax: BDAT count [LAST]");
		smtp_session_reply(s, "421 4.5.0 %s Error: closing, BDAT out of sync", s->hostname);
		s->last_error = "bdat_syntax";
		smtp_session_close(s, "bdat_syntax");
		return;
	}
	if (!s->cfg.chunking) {
		smtp_session_bdat_refuse(s, size, "502 5.5.1 Error: CHUNKING not offered");
	} else if (s->state == SMTP_SESSION_CONNECTED) {
		smtp_session_bdat_refuse(s, size, "503 5.5.1 Error: send HELO/EHLO first");
	} else if (s->state == SMTP_SESSION_READY) {
		smtp_session_bdat_refuse(s, size, "503 5.5.1 Error: need MAIL command");
	} else if (s->state == SMTP_SESSION_MAIL) {
		smtp_session_bdat_refuse(s, size, "554 5.5.1 Error: no valid recipients");
	} else {
		if (s->state == SMTP_SESSION_RCPT) {
			if (s->ops.data_start && s->ops.data_start(s->arg, s) != 0) {
				smtp_session_bdat_refuse(s, size,
				                         "451 4.3.0 Error: queue file write error");
				return;
			}
			smtp_session_data_open(s, SMTP_DATA_MODE_BDAT);
		} else if (s->state != SMTP_SESSION_BDAT_NEXT) { /* the table allows no other */
			panic("smtp_session: BDAT in state %s", smtp_session_state_name(s->state));
		}
		s->bdat_discard = false;
		s->bdat_remaining = size;
		s->bdat_last = last;
		smtp_session_set_state(s, SMTP_SESSION_BDAT, "bdat");
	}
	if (size == 0)
		smtp_session_bdat_chunk_end(s);
}

static void smtp_session_bdat_chunk_end(struct smtp_session *s)
{
	if (s->bdat_discard) {
		s->bdat_discard = false;
		smtp_session_set_state(s, s->bdat_return, "bdat_discarded");
		smtp_session_error(s, "bdat_refused", s->bdat_reply);
		return;
	}
	if (s->bdat_last) {
		smtp_data_finish(&s->data);
		smtp_session_message_end(s);
		return;
	}
	/* RFC 3030 §2: after a failed chunk the client sends no more; a BDAT
	 * that comes anyway is refused and read past. */
	if (smtp_session_content_refused(s))
		return;
	smtp_session_set_state(s, SMTP_SESSION_BDAT_NEXT, "bdat_chunk");
	smtp_session_reply(s, "250 2.0.0 Ok: %llu octets received",
	                   (unsigned long long)s->data.size);
}

static bool smtp_session_bdat_input(struct smtp_session *s)
{
	if (s->bdat_remaining > 0 && s->in.len == 0)
		return false;
	size_t take = s->in.len < s->bdat_remaining ? s->in.len : (size_t)s->bdat_remaining;
	if (s->bdat_discard)
		buf_consume(&s->in, take);
	else
		take = smtp_session_body(s, take);
	s->bdat_remaining -= take;
	if (s->bdat_remaining == 0)
		smtp_session_bdat_chunk_end(s);
	return true;
}

static void smtp_session_cmd_rset(struct smtp_session *s, const char *arg, size_t len)
{
	if (!smtp_session_no_arg(s, len, "501 5.5.4 Syntax: RSET"))
		return;
	smtp_session_reset_transaction(s, "rset");
	smtp_session_reply(s, "250 2.0.0 Ok");
}

static void smtp_session_cmd_noop(struct smtp_session *s, const char *arg, size_t len)
{
	smtp_session_reply(s, "250 2.0.0 Ok");
}

static void smtp_session_cmd_quit(struct smtp_session *s, const char *arg, size_t len)
{
	smtp_session_reset_transaction(s, "quit");
	smtp_session_reply(s, "221 2.0.0 Bye");
	smtp_session_close(s, "quit");
}

static void smtp_session_cmd_vrfy(struct smtp_session *s, const char *arg, size_t len)
{
	smtp_session_reply(s, "502 5.5.1 Error: VRFY and EXPN are disabled");
}

static void smtp_session_cmd_help(struct smtp_session *s, const char *arg, size_t len)
{
	smtp_session_reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT "
	                      "STARTTLS AUTH; see RFC 5321");
}

static void smtp_session_cmd_http(struct smtp_session *s, const char *arg, size_t len)
{
	smtp_session_reply(s, "521 5.5.1 %s Error: this is an SMTP server, not HTTP", s->hostname);
	s->last_error = "http";
	smtp_session_close(s, "http_command");
}

static void smtp_session_cmd_starttls(struct smtp_session *s, const char *arg, size_t len)
{
	if (!smtp_session_no_arg(s, len, "501 5.5.4 Syntax: STARTTLS"))
		return;
	if (s->tls) {
		smtp_session_error(s, "tls_active", "554 5.5.1 Error: TLS already active");
		return;
	}
	if (!s->cfg.tls_available) {
		smtp_session_error(s, "tls_unavailable", "454 4.7.0 TLS not available");
		return;
	}
	smtp_session_reply(s, "220 2.0.0 Ready to start TLS");
	smtp_session_set_state(s, SMTP_SESSION_TLS, "starttls");
	smtp_session_begin(s, SMTP_SESSION_PENDING_TLS);
	/* Pipelined plaintext after STARTTLS is an injection (CVE-2011-0411):
	 * dropped by the line reader once this command is consumed. */
	if (s->ops.start_tls)
		s->ops.start_tls(s->arg, s);
	else
		smtp_session_close(s, "no_tls");
}

/* ---- AUTH (RFC 4954) ---- */

static void smtp_session_auth_done(struct smtp_session *s)
{
	s->auth_step = SMTP_SESSION_AUTH_STEP_NONE;
	smtp_sasl_wipe(s->auth_login_user, sizeof s->auth_login_user);
	if (s->state == SMTP_SESSION_AUTH)
		smtp_session_set_state(s, SMTP_SESSION_READY, "auth_end");
}

static void smtp_session_auth_call(struct smtp_session *s, const char *mech, const char *authzid,
                                   const char *user, const char *pass)
{
	smtp_session_auth_done(s);
	if (str_copy(s->auth_candidate, sizeof s->auth_candidate, user) != 0) {
		smtp_session_error(s, "auth_syntax", "501 5.5.2 Error: user name too long");
		return;
	}
	smtp_session_begin(s, SMTP_SESSION_PENDING_AUTH);
	if (s->ops.auth)
		s->ops.auth(s->arg, s, mech, authzid, user, pass);
	else
		smtp_session_reply_auth(s, SMTP_SESSION_AUTH_TEMP);
}

/* A decoded SASL response for the current step. */
static void smtp_session_auth_response(struct smtp_session *s, const char *msg, size_t n)
{
	if (s->auth_step == SMTP_SESSION_AUTH_STEP_PLAIN) {
		struct smtp_sasl_plain p;
		if (smtp_sasl_plain_parse(msg, n, &p) != 0) {
			smtp_session_auth_done(s);
			smtp_session_error(s, "auth_syntax",
			                   "501 5.5.2 Error: malformed SASL PLAIN response");
			return;
		}
		smtp_session_auth_call(s, "PLAIN", p.authzid, p.authcid, p.passwd);
		smtp_sasl_wipe(&p, sizeof p);
	} else if (s->auth_step == SMTP_SESSION_AUTH_STEP_LOGIN_USER) {
		if (n == 0 || n > SMTP_SASL_FIELD_MAX || memchr(msg, '\0', n)) {
			smtp_session_auth_done(s);
			smtp_session_error(s, "auth_syntax", "501 5.5.2 Error: bad user name");
			return;
		}
		if (str_copy_n(s->auth_login_user, sizeof s->auth_login_user, msg, n) != 0)
			panic("smtp_session_auth_response: s->auth_login_user does not fit");
		s->auth_step = SMTP_SESSION_AUTH_STEP_LOGIN_PASS;
		smtp_session_set_state(s, SMTP_SESSION_AUTH, "auth_login");
		smtp_session_reply(s, "334 UGFzc3dvcmQ6"); /* "Password:" */
	} else if (s->auth_step == SMTP_SESSION_AUTH_STEP_LOGIN_PASS) {
		char pass[SMTP_SASL_FIELD_MAX + 1];
		char user[SMTP_SASL_FIELD_MAX + 1];
		if (n > SMTP_SASL_FIELD_MAX || memchr(msg, '\0', n)) {
			smtp_session_auth_done(s);
			smtp_session_error(s, "auth_syntax", "501 5.5.2 Error: bad password");
			return;
		}
		if (str_copy_n(pass, sizeof pass, msg, n) != 0)
			panic("smtp_session_auth_response: pass does not fit");
		if (str_copy(user, sizeof user, s->auth_login_user) != 0)
			panic("smtp_session_auth_response: user does not fit");
		smtp_session_auth_call(s, "LOGIN", "", user, pass);
		smtp_sasl_wipe(pass, sizeof pass);
		smtp_sasl_wipe(user, sizeof user);
	}
}

/* One base64 line from the client (initial response or after a 334). */
static void smtp_session_auth_line(struct smtp_session *s, const char *line, size_t len)
{
	if (len == 1 && line[0] == '*') {
		smtp_session_auth_done(s);
		smtp_session_error(s, "auth_cancelled", "501 5.7.0 Authentication aborted");
		return;
	}
	if (len > SMTP_SASL_RESPONSE_MAX) {
		smtp_session_auth_done(s);
		smtp_session_error(s, "auth_too_long",
		                   "500 5.5.6 Error: authentication exchange line is too long");
		return;
	}
	char dec[SMTP_SASL_RESPONSE_MAX];
	size_t n = 0;
	if (smtp_sasl_base64_decode(line, len, dec, sizeof dec, &n) != 0) {
		smtp_session_auth_done(s);
		smtp_session_error(s, "auth_base64", "501 5.5.2 Error: invalid base64 data");
		return;
	}
	smtp_session_auth_response(s, dec, n);
	smtp_sasl_wipe(dec, sizeof dec);
}

static void smtp_session_cmd_auth(struct smtp_session *s, const char *arg, size_t len)
{
	if (!s->cfg.auth_enabled) {
		smtp_session_error(s, "auth_disabled",
		                   "503 5.5.1 Error: authentication not enabled");
		return;
	}
	if (s->cfg.auth_requires_tls && !s->tls) {
		/* The credentials, if any came inline, are not even decoded. */
		smtp_session_error(s, "auth_needs_tls",
		                   "530 5.7.0 Must issue a STARTTLS command first");
		return;
	}
	if (s->auth_user[0]) {
		smtp_session_error(s, "auth_again", "503 5.5.1 Error: already authenticated");
		return;
	}
	size_t m = 0;
	while (m < len && arg[m] != ' ')
		m++;
	size_t r = m;
	while (r < len && arg[r] == ' ')
		r++;
	const char *resp = arg + r;
	size_t rlen = len - r;
	if (str_ieq_n(arg, m, "PLAIN")) {
		s->auth_step = SMTP_SESSION_AUTH_STEP_PLAIN;
		if (rlen == 0) {
			smtp_session_set_state(s, SMTP_SESSION_AUTH, "auth_plain");
			smtp_session_reply(s, "334 ");
			return;
		}
	} else if (str_ieq_n(arg, m, "LOGIN")) {
		s->auth_step = SMTP_SESSION_AUTH_STEP_LOGIN_USER;
		if (rlen == 0) {
			smtp_session_set_state(s, SMTP_SESSION_AUTH, "auth_login");
			smtp_session_reply(s, "334 VXNlcm5hbWU6"); /* "Username:" */
			return;
		}
	} else {
		smtp_session_error(s, "auth_mech",
		                   m ? "504 5.5.4 Error: unsupported authentication mechanism"
		                     : "501 5.5.4 Syntax: AUTH mechanism");
		return;
	}
	smtp_session_auth_line(s, resp, rlen);
}

static const struct smtp_session_command smtp_session_commands[] = {
    {"EHLO", smtp_session_cmd_ehlo, ST_ANY, false},
    {"HELO", smtp_session_cmd_helo, ST_ANY, false},
    {"MAIL", smtp_session_cmd_mail, ST(READY), false},
    {"RCPT", smtp_session_cmd_rcpt, ST(MAIL) | ST(RCPT), false},
    {"DATA", smtp_session_cmd_data, ST(RCPT), false},
    {"BDAT", smtp_session_cmd_bdat, ST_ANY | ST(BDAT_NEXT), false},
    {"RSET", smtp_session_cmd_rset, ST_ANY | ST(BDAT_NEXT), true},
    {"NOOP", smtp_session_cmd_noop, ST_ANY | ST(BDAT_NEXT), true},
    {"QUIT", smtp_session_cmd_quit, ST_ANY | ST(BDAT_NEXT), false},
    {"VRFY", smtp_session_cmd_vrfy, ST_ANY, true},
    {"EXPN", smtp_session_cmd_vrfy, ST_ANY, true},
    {"HELP", smtp_session_cmd_help, ST_ANY, true},
    {"STARTTLS", smtp_session_cmd_starttls, ST(READY), false},
    {"AUTH", smtp_session_cmd_auth, ST(READY), false},
    {"GET", smtp_session_cmd_http, ST_ANY | ST(BDAT_NEXT), false},
    {"POST", smtp_session_cmd_http, ST_ANY | ST(BDAT_NEXT), false},
    {"HEAD", smtp_session_cmd_http, ST_ANY | ST(BDAT_NEXT), false},
    {"CONNECT", smtp_session_cmd_http, ST_ANY | ST(BDAT_NEXT), false},
};

static void smtp_session_command(struct smtp_session *s, const char *line, size_t len)
{
	size_t v = 0;
	while (v < len && line[v] != ' ')
		v++;
	size_t a = v;
	while (a < len && line[a] == ' ')
		a++;
	size_t alen = len - a;
	while (alen > 0 && (line[a + alen - 1] == ' ' || line[a + alen - 1] == '\t'))
		alen--;
	const struct smtp_session_command *c = NULL;
	for (size_t i = 0; i < sizeof smtp_session_commands / sizeof smtp_session_commands[0]; i++)
		if (str_ieq_n(line, v, smtp_session_commands[i].verb)) {
			c = &smtp_session_commands[i];
			break;
		}
	if (!c) {
		smtp_session_error(s, "unknown_command", "500 5.5.2 Error: command not recognized");
		return;
	}
	if (c->junk && s->cfg.junk_command_limit && ++s->junk > s->cfg.junk_command_limit) {
		smtp_session_closing(s, "too_many_junk_commands", "Error: too many junk commands");
		return;
	}
	if (!(c->states & (1u << s->state))) {
		smtp_session_wrong_state(s, c->verb);
		return;
	}
	c->handler(s, line + a, alen);
}

static void smtp_session_line_too_long(struct smtp_session *s)
{
	if (s->state == SMTP_SESSION_AUTH) {
		smtp_session_auth_done(s);
		smtp_session_error(s, "auth_too_long",
		                   "500 5.5.6 Error: authentication exchange line is too long");
	} else {
		smtp_session_error(s, "line_too_long", "500 5.5.0 Error: line too long");
	}
}

/* The next complete line: checks, then the command or the SASL response.
 * false when there is no complete line yet. */
static bool smtp_session_line_input(struct smtp_session *s)
{
	if (s->in.len == 0)
		return false;
	size_t limit =
	    s->state == SMTP_SESSION_AUTH ? SMTP_SASL_RESPONSE_MAX + 2 : s->cfg.line_limit;
	char *lf = memchr(s->in.data, '\n', s->in.len);
	if (!lf) {
		if (s->in.len <= limit)
			return false;
		buf_reset(&s->in);
		if (!s->skip_line) {
			s->skip_line = true;
			smtp_session_line_too_long(s);
		}
		return true;
	}
	size_t n = (size_t)(lf - s->in.data) + 1;
	if (s->skip_line) {
		buf_consume(&s->in, n);
		s->skip_line = false;
		return true;
	}
	const char *line = s->in.data;
	size_t len = n - 1;
	const char *why = NULL, *reply = NULL;
	if (n > limit) {
		buf_consume(&s->in, n);
		smtp_session_line_too_long(s);
		return true;
	} else if (len == 0 || line[len - 1] != '\r') {
		why = "bare_lf";
		reply = "500 5.5.2 Error: bare <LF> received";
	} else if (memchr(line, '\r', len - 1)) {
		why = "bare_cr";
		reply = "500 5.5.2 Error: bare <CR> received";
	} else if (memchr(line, '\0', len - 1)) {
		why = "nul";
		reply = "500 5.5.2 Error: NUL character received";
	}
	if (why) {
		buf_consume(&s->in, n);
		if (s->state == SMTP_SESSION_AUTH)
			smtp_session_auth_done(s);
		smtp_session_error(s, why, reply);
		return true;
	}
	len--;
	if (s->state == SMTP_SESSION_AUTH)
		smtp_session_auth_line(s, line, len);
	else
		smtp_session_command(s, line, len);
	/* Handlers never touch s->in: the line is still at its start. */
	buf_consume(&s->in, n);
	if (s->state == SMTP_SESSION_TLS) {
		s->tls_discarded += s->in.len;
		buf_reset(&s->in);
	}
	return true;
}

static void smtp_session_process(struct smtp_session *s)
{
	if (s->processing)
		return;
	s->processing = true;
	while (s->state != SMTP_SESSION_CLOSED && s->pending == SMTP_SESSION_PENDING_NONE &&
	       s->out.len < s->cfg.output_highwater) {
		if (s->replies > 0 && smtp_session_tarpit(s))
			break; /* one reply per feed: the caller delays each */
		bool progress;
		if (s->state == SMTP_SESSION_DATA)
			progress = smtp_session_data_input(s);
		else if (s->state == SMTP_SESSION_BDAT)
			progress = smtp_session_bdat_input(s);
		else if (s->state == SMTP_SESSION_TLS)
			progress = false;
		else
			progress = smtp_session_line_input(s);
		if (!progress)
			break;
	}
	s->processing = false;
}

/* ---- public ---- */

struct smtp_session *smtp_session_new(const struct smtp_session_config *cfg,
                                      const struct smtp_session_ops *ops, void *arg,
                                      const struct addr *client_ip, const char *client_rdns)
{
	if (!cfg || !cfg->relay || cfg->line_limit < 512)
		return NULL;
	struct smtp_session *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->cfg = *cfg;
	if (ops)
		s->ops = *ops;
	s->arg = arg;
	if (str_copy(s->hostname, sizeof s->hostname,
	             cfg->hostname ? cfg->hostname : "localhost") != 0) {
		free(s);
		return NULL;
	}
	s->cfg.hostname = s->hostname;
	if (client_ip) {
		s->has_ip = true;
		s->ip = *client_ip;
	}
	if (client_rdns)
		if (str_copy(s->rdns, sizeof s->rdns, client_rdns) != 0)
			s->rdns[0] = '\0';
	/* The input must hold one whole command or SASL line. */
	size_t need = (cfg->line_limit > SMTP_SASL_RESPONSE_MAX + 2 ? cfg->line_limit
	                                                            : SMTP_SASL_RESPONSE_MAX + 2) +
	              1;
	if (s->cfg.input_limit < need)
		s->cfg.input_limit = need;
	if (s->cfg.output_highwater < 1024)
		s->cfg.output_highwater = 1024;
	buf_init(&s->in, s->cfg.input_limit);
	buf_init(&s->out, s->cfg.output_highwater + SMTP_SESSION_OUT_SLACK);
	s->tls = cfg->tls_wrapper;
	s->state = SMTP_SESSION_CONNECTED;
	smtp_session_reply(s, "220 %s ESMTP relayguard (%s)", s->hostname, rg_version());
	return s;
}

void smtp_session_free(struct smtp_session *s)
{
	if (!s)
		return;
	if (s->data_open && s->ops.data_abort)
		s->ops.data_abort(s->arg, s, "disconnect");
	buf_free(&s->in);
	buf_free(&s->out);
	smtp_sasl_wipe(s, sizeof *s);
	free(s);
}

size_t smtp_session_feed(struct smtp_session *s, const char *data, size_t len)
{
	if (s->state == SMTP_SESSION_CLOSED)
		return len;
	size_t take = 0;
	if (len > 0) {
		/* Lines are consumed by moving a read offset; the rest moves back
		 * once per read, here. */
		buf_compact(&s->in);
		size_t room = s->cfg.input_limit - s->in.len;
		take = len < room ? len : room;
		if (take > 0 && buf_append(&s->in, data, take) != 0)
			take = 0;
	}
	s->replies = 0;
	smtp_session_process(s);
	return take;
}

struct buf *smtp_session_output(struct smtp_session *s)
{
	return &s->out;
}

int smtp_session_tls_started(struct smtp_session *s)
{
	if (s->pending != SMTP_SESSION_PENDING_TLS)
		return -1;
	s->pending = SMTP_SESSION_PENDING_NONE;
	/* RFC 3207 §4.2: forget everything learnt before the handshake. */
	s->tls = true;
	s->tls_discarded += s->in.len;
	buf_reset(&s->in);
	s->helo[0] = '\0';
	s->esmtp = false;
	s->auth_user[0] = '\0';
	smtp_session_set_state(s, SMTP_SESSION_CONNECTED, "tls_started");
	smtp_session_process(s);
	return 0;
}

int smtp_session_auth_rename(struct smtp_session *s, const char *name)
{
	if (s->pending != SMTP_SESSION_PENDING_AUTH || !name[0])
		return -1;
	return str_copy(s->auth_candidate, sizeof s->auth_candidate, name);
}

int smtp_session_reply_auth(struct smtp_session *s, enum smtp_session_auth_result r)
{
	if (s->pending != SMTP_SESSION_PENDING_AUTH)
		return -1;
	s->pending = SMTP_SESSION_PENDING_NONE;
	switch (r) {
	case SMTP_SESSION_AUTH_OK:
		if (str_copy(s->auth_user, sizeof s->auth_user, s->auth_candidate) != 0)
			panic("smtp_session_reply_auth: s->auth_user does not fit");
		smtp_session_reply(s, "235 2.7.0 Authentication successful");
		break;
	case SMTP_SESSION_AUTH_FAIL:
		s->auth_failures++;
		smtp_session_error(s, "auth_failed", "535 5.7.8 Error: authentication failed");
		if (s->state != SMTP_SESSION_CLOSED && s->cfg.auth_failure_limit &&
		    s->auth_failures >= s->cfg.auth_failure_limit) {
			smtp_session_closing(s, "too_many_auth_failures",
			                     "Error: too many failed authentications");
		}
		break;
	case SMTP_SESSION_AUTH_TEMP:
		smtp_session_refusal(s, "auth_temp", "454 4.7.0 Temporary authentication failure");
		break;
	default:
		panic("smtp_session: auth result %d", (int)r);
	}
	smtp_sasl_wipe(s->auth_candidate, sizeof s->auth_candidate);
	smtp_session_process(s);
	return 0;
}

int smtp_session_reply_policy(struct smtp_session *s, const char *reply)
{
	bool mail = s->pending == SMTP_SESSION_PENDING_MAIL;
	if (!mail && s->pending != SMTP_SESSION_PENDING_RCPT)
		return -1;
	s->pending = SMTP_SESSION_PENDING_NONE;
	if (!reply) {
		if (mail) {
			s->has_mail = true;
			s->rcpts = 0;
			s->rcpts_over = 0;
			s->first_rcpt[0] = '\0';
			smtp_session_set_state(s, SMTP_SESSION_MAIL, "mail");
			smtp_session_reply(s, "250 2.1.0 Ok");
		} else {
			if (s->rcpts == 0)
				smtp_address_format(&s->cand, s->first_rcpt, sizeof s->first_rcpt);
			s->rcpts++;
			smtp_session_set_state(s, SMTP_SESSION_RCPT, "rcpt");
			smtp_session_reply(s, "250 2.1.5 Ok");
		}
	} else {
		if (mail)
			s->has_mail = false;
		smtp_session_error(s, "policy",
		                   smtp_session_reply_valid(reply)
		                       ? reply
		                       : "451 4.3.0 Error: temporary policy failure");
	}
	smtp_session_process(s);
	return 0;
}

int smtp_session_reply_data(struct smtp_session *s, bool ok, const char *text)
{
	if (s->pending != SMTP_SESSION_PENDING_DATA)
		return -1;
	s->pending = SMTP_SESSION_PENDING_NONE;
	s->data_open = false; /* the caller committed or dropped it */
	if (ok) {
		smtp_session_reply(s, "250 2.0.0 Ok: queued as %s", text ? text : "");
		s->junk = 0; /* Postfix: reset after a delivered message */
	} else {
		smtp_session_reply(s, "%s",
		                   smtp_session_reply_valid(text)
		                       ? text
		                       : "451 4.3.0 Error: queue file write error");
		s->last_error = "queue_refused";
	}
	smtp_session_reset_transaction(s, ok ? "queued" : "not_queued");
	smtp_session_process(s);
	return 0;
}

const char *smtp_session_protocol(const struct smtp_session *s)
{
	bool utf8 = s->has_mail && s->mail.smtputf8;
	bool a = s->auth_user[0] != '\0';
	if (!s->esmtp)
		return "SMTP";
	if (utf8)
		return s->tls ? (a ? "UTF8SMTPSA" : "UTF8SMTPS") : (a ? "UTF8SMTPA" : "UTF8SMTP");
	return s->tls ? (a ? "ESMTPSA" : "ESMTPS") : (a ? "ESMTPA" : "ESMTP");
}

/* A token safe inside a Received header: only letters, digits and ".-[]:"
 * from the client, anything else becomes '_', so no comment, clause or
 * "key=value" auth marker can be forged through a HELO or a host name
 * ("EHLO A=dovecot_login:ceo" stays one harmless word). Issue 16. */
static void smtp_received_token(char *dst, size_t size, const char *src, bool user)
{
	size_t n = 0;
	for (; src && *src && n + 1 < size; src++) {
		char c = *src;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ':' || c == '[' ||
		          c == ']';
		/* an account name is ours (the user store's), not the client's text, and
		 * sits where only the server writes; it keeps its @, + and _ */
		if (user)
			ok = ok || c == '@' || c == '+' || c == '_';
		dst[n++] = ok ? c : '_';
	}
	dst[n] = '\0';
	if (n == 0)
		if (str_copy(dst, size, "unknown") != 0)
			panic("smtp_received_token: dst does not fit");
}

/* The for clause only for a plain recipient: a quoted local part (or any byte
 * outside ASCII atext) is left out, it could carry a comment or a keyword. */
static bool smtp_received_rcpt_ok(const char *rcpt)
{
	if (!rcpt || !rcpt[0] || rcpt[0] == '"')
		return false;
	for (const char *p = rcpt; *p; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || strchr(".-_+=@[]:!#$%&'*/?^`{|}~", c) != NULL;
		if (!ok)
			return false;
	}
	return true;
}

int smtp_received_format(const struct smtp_received_info *in, struct buf *out)
{
	char helo[SMTP_SESSION_HELO_MAX + 1], rdns[256], user[SMTP_SESSION_USER_MAX + 1], host[256];
	smtp_received_token(helo, sizeof helo, in->helo, false);
	smtp_received_token(rdns, sizeof rdns, in->rdns, false);
	smtp_received_token(host, sizeof host, in->hostname, false);
	int rc = buf_printf(out, "Received: from %s (%s", helo, rdns);
	if (rc == 0 && in->ip && in->ip[0])
		rc = buf_printf(out, " [%s%s]", in->ipv6 ? "IPv6:" : "", in->ip);
	if (rc == 0)
		rc = buf_append_str(out, ")\r\n");
	if (rc == 0 && in->auth_user && in->auth_user[0]) {
		smtp_received_token(user, sizeof user, in->auth_user, true);
		rc = buf_printf(out, "\t(Authenticated sender: %s)\r\n", user);
	}
	if (rc == 0)
		rc = buf_printf(out, "\tby %s (relayguard) with %s id %s", host,
		                in->protocol ? in->protocol : "SMTP",
		                in->queue_id ? in->queue_id : "unknown");
	if (rc == 0 && smtp_received_rcpt_ok(in->rcpt) && strlen(in->rcpt) <= SMTP_ADDRESS_PATH_MAX)
		rc = buf_printf(out, "\r\n\tfor <%s>", in->rcpt);
	if (rc == 0)
		rc = buf_printf(out, "; %s\r\n", in->date ? in->date : "");
	return rc == 0 ? 0 : -1;
}

int smtp_session_received(const struct smtp_session *s, const char *queue_id, const char *date,
                          struct buf *out)
{
	char ip[ADDR_STRLEN] = "";
	if (s->has_ip && addr_format(&s->ip, ip, sizeof ip) != 0)
		ip[0] = '\0';
	struct smtp_received_info in = {
	    .helo = s->helo,
	    .rdns = s->rdns,
	    .ip = ip,
	    .ipv6 = s->has_ip && s->ip.family == 6,
	    .auth_user = s->auth_user,
	    .hostname = s->hostname,
	    .protocol = smtp_session_protocol(s),
	    .queue_id = queue_id,
	    .rcpt = s->rcpts == 1 ? s->first_rcpt : NULL,
	    .date = date,
	};
	return smtp_received_format(&in, out);
}

void smtp_session_set_rdns(struct smtp_session *s, const char *name)
{
	if (str_copy(s->rdns, sizeof s->rdns, name ? name : "") != 0)
		s->rdns[0] = '\0';
}

enum smtp_session_state smtp_session_state(const struct smtp_session *s)
{
	return s->state;
}

enum smtp_session_pending smtp_session_pending(const struct smtp_session *s)
{
	return s->pending;
}

bool smtp_session_should_close(const struct smtp_session *s)
{
	return s->state == SMTP_SESSION_CLOSED;
}

bool smtp_session_tarpit(const struct smtp_session *s)
{
	return s->cfg.soft_error_limit && s->errors > s->cfg.soft_error_limit;
}

bool smtp_session_tls_active(const struct smtp_session *s)
{
	return s->tls;
}

const char *smtp_session_auth_user(const struct smtp_session *s)
{
	return s->auth_user[0] ? s->auth_user : NULL;
}

const char *smtp_session_helo(const struct smtp_session *s)
{
	return s->helo;
}

const struct smtp_address *smtp_session_mail_from(const struct smtp_session *s)
{
	return s->has_mail ? &s->mail : NULL;
}

unsigned smtp_session_rcpt_count(const struct smtp_session *s)
{
	return s->rcpts;
}

unsigned smtp_session_error_count(const struct smtp_session *s)
{
	return s->errors;
}

size_t smtp_session_tls_discarded(const struct smtp_session *s)
{
	return s->tls_discarded;
}

const char *smtp_session_last_error(const struct smtp_session *s)
{
	return s->last_error ? s->last_error : "";
}
