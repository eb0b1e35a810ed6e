/*
 * dovelog - the Dovecot log lines logscan uses, parsed in place.
 *
 * Input: the text after "dovecot: " (syslog) or after the stamp of
 * Dovecot's own log file. Login processes log with
 * login_log_format_elements (user=<%u> method=%m rip=%r lip=%l ...):
 *
 *   imap-login: [Info: ]Login: user=<U>, method=PLAIN, rip=IP, lip=IP, ...
 *   pop3-login: [Info: ]Aborted login (auth failed, 3 attempts in 16 secs): user=<U>, ..., rip=IP,
 * ... (also "Disconnected", "Login aborted: ...", "Client has quit the connection", "Connection
 * closed", each with "(auth failed, N attempts...)") lda(U)<pid><session>: [Info: ]sieve:
 * msgid=<..>: sent vacation response to <R> (also lmtp(U)...; Pigeonhole's vacation extension)
 *
 * The auth process's own lines (auth: passwd-file(u,ip): unknown user,
 * auth-worker: pam(...) ...) repeat what the login process reports and are
 * not counted, so one failed attempt is one failure.
 */
#ifndef RG_FORENSICS_DOVELOG_H
#define RG_FORENSICS_DOVELOG_H

#include "core/addr.h"
#include "forensics/logline.h"

#include <stdbool.h>
#include <stdint.h>

enum dovelog_kind {
	DOVELOG_OTHER = 0,
	DOVELOG_LOGIN,     /* user, ip, service */
	DOVELOG_AUTH_FAIL, /* user (may be empty), ip, attempts, service */
	DOVELOG_VACATION,  /* user, rcpt: an auto-reply sent */
	/* user (may be empty), ip: the auth process's passdb said no:
	 * "auth: passwd-file(U,IP[,<S>])[<..>]: unknown user" (also sql, ldap, pam,
	 * "Password mismatch", "pam_authenticate() failed: ..."), Dovecot 2.4's
	 * "auth-worker(U,IP)<..>: request [N]: DB: ...", and PAM's own
	 * "pam_unix(dovecot:auth): authentication failure; ... rhost=IP [user=U]" */
	DOVELOG_PASSDB_FAIL,
};

struct dovelog_rec {
	enum dovelog_kind kind;
	struct logspan service; /* "imap-login", "lda", "lmtp", ... */
	struct logspan user, rcpt;
	bool has_ip;
	struct addr ip;
	uint32_t attempts;
};

/* True when the text looks like a Dovecot line (a known service token first). */
bool dovelog_is_dovecot(struct logspan msg);
/* Parses one line's text. Always fills *out; returns its kind. */
enum dovelog_kind dovelog_parse(struct logspan msg, struct dovelog_rec *out);

#endif
