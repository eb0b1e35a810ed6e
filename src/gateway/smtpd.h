/*
 * smtpd - the SMTP listeners of `relayguard serve`: libevent connections,
 * OpenSSL bufferevents for STARTTLS and implicit TLS, around the pure
 * session machine (smtp/session.h). It supplies what the session asks for:
 *
 *  - AUTH: the users file (auth/userdb, re-read when it changes), AUTH_OK
 *    and AUTH_FAIL events to the policy engine, whose delay_ms (its [auth]
 *    delay, doubled per recent failure of the client IP up to delay_max)
 *    is waited on a timer before the 535; its defer makes a login a 454;
 *  - MAIL: the engine's blocks (554 5.7.1); RCPT: the relay decision is the
 *    session's (DESIGN.md invariant 1), refusals go to the engine as
 *    RCPT_REJECT events;
 *  - end of message: a MAIL event to the engine: defer 451, block 554,
 *    hold commits into the hold queue with the reason, delay_ms is waited;
 *    then the queue (queue/queue.h), and 250 only once it is durable. With
 *    no queue every message gets 451 (never a 250 for mail not on disk).
 *  - limits: connections in total and per client IP (421 at connect), the
 *    idle timeout (421 4.4.2), and the session's own (line, size,
 *    recipients, errors, junk commands, AUTH failures).
 *
 * Logs: one line per event, "smtpd queue_id=ID sid=SESSION client=IP ...",
 * queue_id=NOQUEUE until the message has one.
 */
#ifndef RG_GATEWAY_SMTPD_H
#define RG_GATEWAY_SMTPD_H

#include "gateway/gwconf.h"

#include <stddef.h>

struct event_base;
struct metrics;
struct pol_engine;
struct queue;
struct smtpd;

struct pol_verdict;

struct smtpd_deps {
	struct pol_engine *engine; /* may be NULL: no policy */
	struct queue *queue;       /* may be NULL: every message 451 */
	struct metrics *metrics;   /* may be NULL */
	struct dns *dns;           /* for [gateway] reverse_dns; may be NULL: no lookups */
	/* A verdict created a block (alerts); may be NULL. */
	void (*on_block)(void *ctx, const struct pol_verdict *v, const char *client_ip);
	void *on_block_ctx;
};

/* Binds every listener of c (c must outlive the server). NULL with err when a
 * listener cannot be bound or TLS cannot be set up. */
struct smtpd *smtpd_new(struct event_base *base, const struct gw_config *c,
                        const struct smtpd_deps *deps, char *err, size_t errlen);
void smtpd_free(struct smtpd *d);

/* A reload in two steps, so that nothing half-applies: prepare reads what can
 * fail (local_domains of fresh, its TLS certificate and key) and changes
 * nothing (NULL with err on failure); once the running configuration holds
 * fresh's values (same address as before), commit installs them: relay
 * domains, trusted networks, session limits for sessions from now on, the
 * TLS context for handshakes from now on (sessions in TLS keep theirs), the
 * users file. discard drops a prepared reload that is not committed. */
struct smtpd_reload;
struct smtpd_reload *smtpd_reload_prepare(struct smtpd *d, const struct gw_config *fresh, char *err,
                                          size_t errlen);
void smtpd_reload_commit(struct smtpd *d, struct smtpd_reload *r);
void smtpd_reload_discard(struct smtpd_reload *r);
/* Reads the users file again now (a reload request). 0, or -1 with err: the
 * accounts read before stay in force. */
int smtpd_users_reload(struct smtpd *d, char *err, size_t errlen);
unsigned smtpd_connections(const struct smtpd *d);

#endif
