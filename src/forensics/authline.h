/*
 * authline - one mail-log line in, the login it reports out: a failed or a
 * successful authentication, its account and client IP. For the live log
 * follower ([follow] files, gateway/follow.c), which feeds them to the
 * policy engine as the gateway's own AUTH does.
 *
 * The same readers and the same line forms as logscan (docs/logscan.md):
 *   Postfix  smtpd "SASL M authentication failed" (not "Connection lost to
 *            authentication server" nor "Invalid authentication mechanism":
 *            no password was tried) and "client=..., sasl_username=U" (a login);
 *   Dovecot  login processes' "(auth failed, N attempts ...)" (N failures) and
 *            "Login:", the auth process's passdb failures and PAM's line (each
 *            one failure, taken off the N of the login line that follows, so
 *            one attempt is one failure);
 *   Exim     "authenticator failed" and "<=" lines with A=authenticator:U.
 * The account is lowercased (logscan's identity of an account).
 *
 * Memory: a fixed table of recent Dovecot passdb failures per IP (the
 * discount above); no allocation. Pure: no I/O, no clock.
 */
#ifndef RG_FORENSICS_AUTHLINE_H
#define RG_FORENSICS_AUTHLINE_H

#include "core/addr.h"
#include "core/htab.h"
#include "policy/event.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum authline_kind {
	AUTHLINE_NONE = 0,
	AUTHLINE_FAIL,
	AUTHLINE_OK,
};

struct authline_rec {
	enum authline_kind kind;
	uint32_t count;          /* AUTHLINE_FAIL: failures the line stands for (1..10) */
	char user[POL_USER_MAX]; /* "" when the line names none */
	bool has_ip;
	struct addr ip;
	const char *source; /* "postfix", "dovecot" or "exim" */
};

#define AUTHLINE_PENDING 256

struct authline_pending {
	struct addr ip;
	uint32_t n; /* passdb failures its login line has not repeated yet */
	bool used;
};

/* The IPs with passdb failures pending, at most AUTHLINE_PENDING: a new one
 * takes the place of the one that came longest ago (a lost discount counts
 * one attempt twice at worst). */
struct authline {
	struct authline_pending pending[AUTHLINE_PENDING];
	size_t next;       /* the place the next new IP takes */
	struct htab index; /* of the used places, by IP */
};

/* Allocates nothing (the index grows on the first failure): cannot fail. */
void authline_init(struct authline *a);
void authline_free(struct authline *a);
/* One line without its newline (a CR before it is ignored). Fills *out and
 * returns its kind; AUTHLINE_NONE for every line that reports no login (and a
 * login line whose failures were all counted from the passdb lines before). */
enum authline_kind authline_read(struct authline *a, const char *p, size_t len,
                                 struct authline_rec *out);
const char *authline_kind_name(enum authline_kind k);

#endif
