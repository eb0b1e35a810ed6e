/*
 * smtp_client - the client side of an SMTP session as a pure state machine:
 * reply bytes in, commands out (RFC 5321, with RFC 3207 STARTTLS, RFC 4954
 * AUTH PLAIN, RFC 2920 PIPELINING, RFC 1870 SIZE, RFC 3461 DSN parameters,
 * RFC 6152 8BITMIME, RFC 6531 SMTPUTF8). No sockets, no clock, no logging:
 * the delivery worker owns the connection, the timers and TLS, and feeds
 * whatever the server sent through smtpc_input().
 *
 *     smtpc_init(c, opts)
 *     loop: smtpc_input(c, bytes, len, &used, &ev)   one reply at a time
 *           send c->out to the server and empty it (smtpc_out_take)
 *           ev SMTPC_EV_TLS    start the handshake, then smtpc_tls_done(c)
 *           ev SMTPC_EV_READY  smtpc_mail(c, msg) or smtpc_quit(c)
 *           ev SMTPC_EV_DATA   smtpc_data(c, p, n)... then smtpc_data_end(c)
 *           ev SMTPC_EV_DONE   smtpc_result(c, i) is final for every recipient
 *           ev SMTPC_EV_CLOSED close; smtpc_error(c) says why when it failed
 *
 * Recipients' results: 2xx accepted (after DATA, the reply to the final dot),
 * 4xx try again later, 5xx final. When the session breaks in the middle of a
 * transaction (421, a malformed reply, smtpc_abort() on a timeout or a lost
 * connection), every recipient without a final answer gets that error, and
 * the event is SMTPC_EV_DONE with smtpc_usable() false.
 *
 * Content is dot-stuffed and every line end sent as CRLF: a bare CR or LF in
 * the queued content becomes CRLF, so nothing we send can end the DATA early
 * or smuggle a second message (CVE-2023-51764 and relatives).
 */
#ifndef RG_SMTP_CLIENT_H
#define RG_SMTP_CLIENT_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SMTPC_RCPT_MAX 1000
#define SMTPC_REPLY_MAX 256      /* a reply kept as one line: "550 5.1.1 <a@b>: unknown" */
#define SMTPC_OUT_MAX (1u << 20) /* pending output; the worker drains it after every call */

enum smtpc_tls {
	SMTPC_TLS_NONE,    /* never STARTTLS */
	SMTPC_TLS_MAY,     /* STARTTLS when offered, else plain text */
	SMTPC_TLS_ENCRYPT, /* STARTTLS or no delivery (4.7.4); verification is the caller's */
};

/* Extensions the server announced in its EHLO reply. */
#define SMTPC_EXT_PIPELINING 0x001u
#define SMTPC_EXT_STARTTLS 0x002u
#define SMTPC_EXT_AUTH_PLAIN 0x004u
#define SMTPC_EXT_SIZE 0x008u
#define SMTPC_EXT_8BITMIME 0x010u
#define SMTPC_EXT_SMTPUTF8 0x020u
#define SMTPC_EXT_DSN 0x040u
#define SMTPC_EXT_ENHANCEDSTATUSCODES 0x080u
#define SMTPC_EXT_CHUNKING 0x100u
#define SMTPC_EXT_AUTH 0x200u /* AUTH with any mechanism */

struct smtpc_options {
	const char *helo_name; /* our name in EHLO/HELO */
	enum smtpc_tls tls;
	const char *auth_user; /* NULL or "": no AUTH */
	const char *auth_pass;
	bool auth_plaintext; /* allow AUTH on a connection without TLS (tests only) */
	bool no_pipelining;  /* do not pipeline even when offered */
};

/* DSN NOTIFY bits, the same values as the queue's. */
#define SMTPC_NOTIFY_NEVER 1u
#define SMTPC_NOTIFY_SUCCESS 2u
#define SMTPC_NOTIFY_FAILURE 4u
#define SMTPC_NOTIFY_DELAY 8u

/* One message to send; the strings must live until SMTPC_EV_DONE. */
struct smtpc_msg {
	const char *sender; /* "" for the null sender */
	size_t nrcpt;
	const char *const *rcpt;
	const char *const *orcpt; /* per recipient, "" or NULL for none; NULL array: none */
	const unsigned *notify;   /* per recipient SMTPC_NOTIFY_* bits; NULL: none */
	uint64_t size;            /* content octets, for SIZE= */
	const char *body;         /* "", "7BIT", "8BITMIME" */
	bool smtputf8;
	const char *envid; /* DSN ENVID (xtext already), "" or NULL */
	const char *ret;   /* "FULL", "HDRS", "" or NULL */
};

struct smtpc_result {
	int code; /* 0: no answer yet */
	char text[SMTPC_REPLY_MAX];
};

enum smtpc_event {
	SMTPC_EV_NONE,
	SMTPC_EV_TLS,
	SMTPC_EV_READY,
	SMTPC_EV_DATA,
	SMTPC_EV_DONE,
	SMTPC_EV_CLOSED,
};

enum smtpc_state {
	SMTPC_S_GREETING,
	SMTPC_S_EHLO,
	SMTPC_S_HELO,
	SMTPC_S_STARTTLS,
	SMTPC_S_TLS, /* waiting for the caller's handshake */
	SMTPC_S_AUTH,
	SMTPC_S_READY,
	SMTPC_S_TX,   /* RSET/MAIL/RCPT/DATA in flight */
	SMTPC_S_DATA, /* the caller is sending content */
	SMTPC_S_DOT,  /* waiting for the reply to the final dot */
	SMTPC_S_QUIT,
	SMTPC_S_CLOSED,
};

enum smtpc_cmd {
	SMTPC_C_EHLO,
	SMTPC_C_HELO,
	SMTPC_C_STARTTLS,
	SMTPC_C_AUTH,
	SMTPC_C_RSET,
	SMTPC_C_MAIL,
	SMTPC_C_RCPT,
	SMTPC_C_DATA,
	SMTPC_C_DOT,
	SMTPC_C_QUIT,
};

struct smtpc_pending {
	uint8_t cmd;  /* enum smtpc_cmd */
	uint32_t idx; /* RCPT: the recipient */
};

struct smtpc {
	struct smtpc_options opt;
	enum smtpc_state state;
	struct buf out; /* commands and content to send */
	/* what the server said about itself */
	unsigned ext;
	uint64_t size_max; /* SIZE value, 0: none announced */
	bool tls_active;
	bool authenticated;
	bool tried_tls;
	/* replies we wait for, in order */
	struct smtpc_pending *pend;
	size_t pend_head, pend_len, pend_cap;
	/* the transaction */
	const struct smtpc_msg *msg;
	struct smtpc_result *res; /* msg->nrcpt of them */
	struct smtpc_result mail_reply;
	size_t rcpt_sent;     /* RCPT commands written */
	size_t rcpt_answered; /* RCPT replies read */
	size_t rcpt_ok;       /* 2xx among them */
	bool mail_ok;
	bool mail_answered;
	bool data_sent;
	bool need_rset;   /* the server may still hold a transaction of ours */
	bool discard_dot; /* a 354 came with no recipient accepted: send "." and ignore */
	/* dot-stuffing state */
	bool bol;
	bool cr;
	/* why the session failed; code 0 when it did not */
	struct smtpc_result error;
	uint64_t messages; /* transactions finished on this connection */
};

/* 0, or -1 on no memory. */
int smtpc_init(struct smtpc *c, const struct smtpc_options *opt);
void smtpc_free(struct smtpc *c);

/* Reads one reply from data[0..len): 1 consumed (*used bytes, *ev what to do
 * now), 0 incomplete (read more), -1 malformed or unexpected (the session is
 * over). A reply that ends the session (421, a refused greeting, a failed
 * required STARTTLS) returns 1. Whenever the session ends, smtpc_error()
 * says why and *ev is SMTPC_EV_DONE when a transaction was in flight (its
 * results filled, smtpc_usable() false), else SMTPC_EV_CLOSED. */
int smtpc_input(struct smtpc *c, const char *data, size_t len, size_t *used, enum smtpc_event *ev);
/* The TLS handshake after STARTTLS succeeded: EHLO again. */
void smtpc_tls_done(struct smtpc *c);
/* Starts a transaction (state READY). 0, or -1 when the message cannot go to
 * this server at all (too big for its SIZE, SMTPUTF8 not offered, too many
 * recipients): then every result is set and no command was sent. */
int smtpc_mail(struct smtpc *c, const struct smtpc_msg *m);
/* Content, in pieces (state DATA). 0, or -1 when the output buffer is full
 * (the caller drains c->out more often). */
int smtpc_data(struct smtpc *c, const void *p, size_t n);
int smtpc_data_end(struct smtpc *c);
/* QUIT (state READY); the answer ends the session with SMTPC_EV_CLOSED. */
void smtpc_quit(struct smtpc *c);
/* The connection broke, or a timer ran out: code/text become the result of
 * every recipient still without an answer, and of the session. Returns
 * SMTPC_EV_DONE when a transaction was in flight, else SMTPC_EV_CLOSED. */
enum smtpc_event smtpc_abort(struct smtpc *c, int code, const char *text);

const struct smtpc_result *smtpc_result(const struct smtpc *c, size_t i);
const struct smtpc_result *smtpc_error(const struct smtpc *c);
/* true while another message may go over this connection. */
bool smtpc_usable(const struct smtpc *c);
const char *smtpc_state_name(enum smtpc_state s);

/* The enhanced status code (RFC 3463) of a reply kept as text ("550 5.1.1
 * ..."), or one made from the basic code ("5.0.0"). 0 or -1. */
int smtpc_status_code(const struct smtpc_result *r, char *out, size_t size);

#endif
