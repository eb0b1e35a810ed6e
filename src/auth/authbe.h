/*
 * authbe - the password backends of SMTP AUTH and the order they are asked
 * in: [auth] backends = file, dovecot, ldap (docs/users.md).
 *
 *   file     the users file (userdb): the account's stored name
 *   dovecot  Dovecot's auth-client socket (auth/dovecot.h): Dovecot's name
 *   ldap     LDAP search and simple bind (auth/ldapauth.h): name_attr's value
 *
 * The rule: the backends are asked in the configured order until one knows
 * the user; that one's answer is final (right password, wrong password,
 * account disabled), and the name it gives is the account's identity. Only
 * "no such user" passes to the next (file: no account; ldap: no entry
 * matches). Dovecot cannot say "no such user" (its FAIL is the same for an
 * unknown user and a wrong password), so its FAIL is final too: dovecot goes
 * last unless the backends after it have none of its users. A backend that
 * cannot answer (down, timed out, misconfigured) ends the chain with
 * USERDB_UNAVAILABLE (454 4.7.0, not counted as a failed login): the later
 * backends are not asked, so which backend decides never depends on which
 * ones are up. Unknown to all: USERDB_UNKNOWN.
 *
 * authbe_check() blocks (Argon2, sockets): it runs on authpool workers,
 * reading only the request, which holds copies of everything it needs.
 */
#ifndef RG_AUTH_AUTHBE_H
#define RG_AUTH_AUTHBE_H

#include "auth/userdb.h"

#include <stdbool.h>
#include <stdint.h>

#define AUTHBE_MAX 3

enum authbe_kind {
	AUTHBE_FILE = 0,
	AUTHBE_DOVECOT,
	AUTHBE_LDAP,
};

/* [auth] options of the gateway (gwconf's table fills the text fields). */
struct authbe_config {
	char backends[64];
	uint64_t timeout_ms;
	char dovecot_socket[108];
	char dovecot_service[32];
	char ldap_uri[512];
	bool ldap_starttls;
	char ldap_ca_file[256];
	char ldap_base[512];
	char ldap_filter[512];
	char ldap_bind_dn[512];
	char ldap_bind_password[256];
	char ldap_name_attr[64];
	/* from backends, by authbe_config_finish */
	enum authbe_kind order[AUTHBE_MAX];
	int n;
};

/* Parses backends into order and checks that each backend named has what it
 * needs (dovecot: a socket; ldap: a URI, base and filter; StartTLS only on
 * ldap://). 0, or -1 with a reason in err. */
int authbe_config_finish(struct authbe_config *c, char *err, size_t errlen);
/* true when k is one of c's backends. */
bool authbe_uses(const struct authbe_config *c, enum authbe_kind k);
const char *authbe_kind_name(enum authbe_kind k);

/* One check: everything a worker needs, copied. */
struct authbe_request {
	struct authbe_config conf;
	struct userdb_cred cr;               /* the users file's lookup (on the loop) */
	char file_name[USERDB_NAME_MAX + 1]; /* the account's stored name when cr.known */
	char user[USERDB_NAME_MAX + 1];      /* the login name as the client gave it */
	char pw[PASSWD_PLAIN_MAX];
	size_t pwlen;
	char rip[64]; /* the client's address, for Dovecot's log ("" if none) */
};

struct authbe_result {
	enum userdb_verdict verdict;
	enum authbe_kind backend;       /* the one that decided (or was asked last) */
	char name[USERDB_NAME_MAX + 1]; /* USERDB_OK: the account's name (the identity) */
	char why[256];                  /* otherwise: for the log */
};

/* Asks the backends of req->conf in order (see the rule above). */
void authbe_check(const struct authbe_request *req, struct authbe_result *out);
/* Closes what the calling thread kept open between checks (its Dovecot connection). */
void authbe_thread_end(void);

#endif
