/*
 * smtp_session - the server side of one ESMTP session (RFC 5321) as a pure
 * state machine: bytes in, reply text and actions out. No I/O, no clock, no
 * logging, so it can be driven by tests, golden dialogues (tests/data/smtp)
 * and fuzzers; `relayguard serve` wraps it with libevent, TLS and the queue.
 *
 * Extensions: PIPELINING (RFC 2920), SIZE (1870), 8BITMIME (6152),
 * ENHANCEDSTATUSCODES (2034, 3463), STARTTLS (3207), AUTH PLAIN LOGIN (4954,
 * 4616), SMTPUTF8 (6531), CHUNKING (3030), DSN (3461). docs/smtp.md has the
 * states, the command table, the limits and the smuggling policy.
 *
 * Ownership and the flow of one connection:
 *  - smtp_session_new() puts the 220 greeting in the output buffer.
 *  - The caller feeds bytes as they arrive (smtp_session_feed) and sends and
 *    consumes smtp_session_output() after every call into the session.
 *  - Actions go to the caller through struct smtp_session_ops. Some finish
 *    at once (data_start, data_chunk, data_abort, reset); the others
 *    (start_tls, auth, mail, rcpt, data_end) leave the session *pending*: it
 *    stops consuming input (feed keeps at most input_limit bytes and returns
 *    how many it took) until the caller calls the matching completion
 *    (smtp_session_tls_started, _reply_auth, _reply_policy, _reply_data),
 *    which may happen inside the callback or any time later. Replies keep
 *    the order of the commands, so pipelining works.
 *  - After smtp_session_should_close() the caller flushes the output and
 *    closes; smtp_session_tarpit() says to delay replies (soft error limit).
 * Strings given to callbacks are valid only during the call.
 */
#ifndef RG_SMTP_SESSION_H
#define RG_SMTP_SESSION_H

#include "core/addr.h"
#include "core/buf.h"
#include "core/str.h"
#include "smtp/address.h"
#include "smtp/data.h"
#include "smtp/relay.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SMTP_SESSION_HELO_MAX 255
#define SMTP_SESSION_USER_MAX STR_USER_MAX
#define SMTP_SESSION_REPLY_MAX 512
#define SMTP_SESSION_CHUNK 8192 /* body bytes per data_chunk call, at most */

enum smtp_session_role {
	SMTP_SESSION_ROLE_SUBMISSION, /* AUTH required before MAIL */
	SMTP_SESSION_ROLE_RELAY,      /* trusted networks relay; others local only */
	SMTP_SESSION_ROLE_INBOUND,    /* local domains only, for everybody */
};

enum smtp_session_state {
	SMTP_SESSION_CONNECTED, /* greeted; EHLO/HELO expected */
	SMTP_SESSION_READY,     /* after EHLO/HELO, no transaction */
	SMTP_SESSION_MAIL,      /* MAIL accepted, no recipient yet */
	SMTP_SESSION_RCPT,      /* at least one recipient */
	SMTP_SESSION_DATA,      /* after 354: reading the body */
	SMTP_SESSION_BDAT,      /* reading the octets of a BDAT chunk */
	SMTP_SESSION_BDAT_NEXT, /* between BDAT chunks: BDAT, RSET, QUIT */
	SMTP_SESSION_AUTH,      /* 334 sent, reading a SASL response line */
	SMTP_SESSION_TLS,       /* 220 to STARTTLS sent; handshake is the caller's */
	SMTP_SESSION_CLOSED,    /* 221 or 421 sent; nothing more is read */
	SMTP_SESSION_STATE_COUNT
};

/* What the session is waiting for the caller to finish. */
enum smtp_session_pending {
	SMTP_SESSION_PENDING_NONE,
	SMTP_SESSION_PENDING_TLS,
	SMTP_SESSION_PENDING_AUTH,
	SMTP_SESSION_PENDING_MAIL,
	SMTP_SESSION_PENDING_RCPT,
	SMTP_SESSION_PENDING_DATA,
};

enum smtp_session_auth_result {
	SMTP_SESSION_AUTH_OK,   /* 235 2.7.0 */
	SMTP_SESSION_AUTH_FAIL, /* 535 5.7.8 */
	SMTP_SESSION_AUTH_TEMP, /* 454 4.7.0 */
};

struct smtp_session_config {
	enum smtp_session_role role;
	const char *hostname;             /* ours: greeting, EHLO, Received */
	const struct relay_policy *relay; /* local domains, trusted networks */
	bool tls_available;               /* a certificate is loaded: offer STARTTLS */
	bool tls_wrapper;                 /* implicit TLS (port 465): TLS from the start */
	bool tls_required;                /* refuse MAIL/AUTH until TLS (530 5.7.0) */
	bool auth_enabled;                /* offer AUTH PLAIN LOGIN */
	bool auth_requires_tls;           /* no AUTH over plaintext (Postfix smtpd_tls_auth_only) */
	bool smtputf8, chunking, dsn;     /* advertise and accept these */
	size_t line_limit;                /* command line incl. CRLF; >= 512 */
	uint64_t message_size_limit;      /* SIZE and body; 0: none */
	unsigned recipient_limit;         /* per message */
	unsigned recipient_overshoot;     /* extra refused RCPTs before they count as errors */
	unsigned soft_error_limit;        /* above: smtp_session_tarpit() */
	unsigned hard_error_limit;        /* reached: 421 and close */
	unsigned junk_command_limit;      /* NOOP/RSET/VRFY/HELP past it: 421 and close */
	unsigned auth_failure_limit;      /* failed AUTHs per session: 421 and close */
	size_t input_limit;               /* unprocessed input kept while pending */
	size_t output_highwater;          /* stop reading commands above this much output */
};

struct smtp_session;

/* Callbacks; arg is the pointer given to smtp_session_new(). Any may be NULL:
 * a NULL mail or rcpt completes at once as "accepted", a NULL auth as a
 * temporary failure (454: never log anybody in by accident), a NULL start_tls
 * closes the session, a NULL data_start or data_chunk accepts, a NULL data_end
 * makes every message fail with 451 (a session without a queue must never say
 * 250). No callback may free the session. */
struct smtp_session_ops {
	/* 220 is in the output: flush it, do the handshake, then call
	 * smtp_session_tls_started() (or close on failure). */
	void (*start_tls)(void *arg, struct smtp_session *s);
	/* Verify; then smtp_session_reply_auth(). mech is "PLAIN" or "LOGIN".
	 * The strings are wiped after the call: copy what you keep. */
	void (*auth)(void *arg, struct smtp_session *s, const char *mech, const char *authzid,
	             const char *user, const char *password);
	/* Parsed, syntax and size checked. Then smtp_session_reply_policy(). */
	void (*mail)(void *arg, struct smtp_session *s, const struct smtp_address *from);
	/* Parsed and accepted by the relay decision d. Then _reply_policy(). */
	void (*rcpt)(void *arg, struct smtp_session *s, const struct smtp_address *rcpt,
	             const struct relay_decision *d);
	/* Synchronous: open the message file. -1: 451 4.3.0. */
	int (*data_start)(void *arg, struct smtp_session *s);
	/* Synchronous: content bytes, dot-unstuffed, CRLF line ends. -1: the
	 * message fails with 451 4.3.0 at its end. */
	int (*data_chunk)(void *arg, struct smtp_session *s, const char *p, size_t n);
	/* The whole message is good: commit it, then smtp_session_reply_data(). */
	void (*data_end)(void *arg, struct smtp_session *s);
	/* The message is refused (or the transaction dropped): discard it. */
	void (*data_abort)(void *arg, struct smtp_session *s, const char *why);
	/* The envelope was reset (RSET, EHLO, STARTTLS, after a message). */
	void (*reset)(void *arg, struct smtp_session *s);
	/* A 4xx/5xx reply to the client, for the caller's log and the policy
	 * engine (why: a short name such as "relay_denied", "bare_lf"). */
	void (*reject)(void *arg, struct smtp_session *s, const char *why, const char *reply);
	/* A state change, for the caller's log ("from", "to", why). */
	void (*state_change)(void *arg, struct smtp_session *s, enum smtp_session_state from,
	                     enum smtp_session_state to, const char *why);
};

/* Postfix-like defaults: line 2048, size 10240000, recipients 1000 (+1000),
 * errors 10/20, junk 100, auth failures 3, input 65536, output 32768. */
void smtp_session_config_defaults(struct smtp_session_config *c);

/* A new session; the greeting is in the output. client_ip may be NULL
 * (unknown), client_rdns NULL or "" (unknown). NULL on bad config or memory. */
struct smtp_session *smtp_session_new(const struct smtp_session_config *cfg,
                                      const struct smtp_session_ops *ops, void *arg,
                                      const struct addr *client_ip, const char *client_rdns);
/* The client's verified name, learnt after the session started (reverse DNS
 * answers come while the client talks); the next Received header shows it. */
void smtp_session_set_rdns(struct smtp_session *s, const char *name);
void smtp_session_free(struct smtp_session *s);

/* Takes what it can of data[0..len) and processes it; returns how many bytes
 * it took. Less than len only while an action is pending or the output is
 * above its high-water mark: keep the rest and feed it again later (feeding
 * len 0 just resumes processing). */
size_t smtp_session_feed(struct smtp_session *s, const char *data, size_t len);

/* Replies to send. The caller sends and then buf_consume()s or buf_reset()s. */
struct buf *smtp_session_output(struct smtp_session *s);

/* Completions. Each returns 0, or -1 when that action was not pending. */
int smtp_session_tls_started(struct smtp_session *s);
int smtp_session_reply_auth(struct smtp_session *s, enum smtp_session_auth_result r);
/* Before a successful reply_auth: the session's user becomes name (the
 * account's own name, which may differ from the login name). 0 or -1. */
int smtp_session_auth_rename(struct smtp_session *s, const char *name);
/* For MAIL and RCPT: reply NULL accepts (250); otherwise a complete 4xx/5xx
 * reply such as "550 5.7.1 Sender blocked" (anything else becomes 451 4.3.0). */
int smtp_session_reply_policy(struct smtp_session *s, const char *reply);
/* ok: "250 2.0.0 Ok: queued as <text>"; not ok: text is a 4xx/5xx reply (or
 * NULL for "451 4.3.0 Error: queue file write error"). */
int smtp_session_reply_data(struct smtp_session *s, bool ok, const char *text);

/* Builds "Received: from ...; DATE\r\n" (folded) for the current message into
 * out: call it from data_start/data_chunk/data_end. 0 or -1. */
int smtp_session_received(const struct smtp_session *s, const char *queue_id, const char *date,
                          struct buf *out);
/* What our Received header is made of (docs/received.md). Every text from
 * the client (helo, rcpt) and from DNS (rdns) is filtered: letters, digits and
 * ".-[]:" pass, the rest becomes '_'; the for clause is left out for a quoted
 * or non-ASCII recipient. NULL fields are absent. */
struct smtp_received_info {
	const char *helo;
	const char *rdns;
	const char *ip; /* canonical text, "" or NULL: none */
	bool ipv6;
	const char *auth_user; /* "" or NULL: not authenticated */
	const char *hostname;
	const char *protocol;
	const char *queue_id;
	const char *rcpt; /* NULL: no for clause */
	const char *date;
};
/* Appends the folded header to out. 0 or -1 (out full). */
int smtp_received_format(const struct smtp_received_info *in, struct buf *out);
/* RFC 3848 protocol name: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA, UTF8SMTP... */
const char *smtp_session_protocol(const struct smtp_session *s);

enum smtp_session_state smtp_session_state(const struct smtp_session *s);
enum smtp_session_pending smtp_session_pending(const struct smtp_session *s);
const char *smtp_session_state_name(enum smtp_session_state st);
bool smtp_session_should_close(const struct smtp_session *s);
bool smtp_session_tarpit(const struct smtp_session *s);
bool smtp_session_tls_active(const struct smtp_session *s);
/* NULL when not authenticated. */
const char *smtp_session_auth_user(const struct smtp_session *s);
const char *smtp_session_helo(const struct smtp_session *s);
/* The current transaction's MAIL (with its ESMTP parameters), or NULL. */
const struct smtp_address *smtp_session_mail_from(const struct smtp_session *s);
unsigned smtp_session_rcpt_count(const struct smtp_session *s);
unsigned smtp_session_error_count(const struct smtp_session *s);
/* Bytes of pipelined plaintext discarded after STARTTLS (for the log). */
size_t smtp_session_tls_discarded(const struct smtp_session *s);
/* The last 4xx/5xx reason in a few words, for the log ("bare_lf", ...). */
const char *smtp_session_last_error(const struct smtp_session *s);

#endif
