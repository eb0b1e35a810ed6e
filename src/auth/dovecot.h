/*
 * dovecot - a client of Dovecot's authentication protocol (version 1), the
 * one Dovecot's auth-client socket speaks to its login processes and to
 * Postfix (smtpd_sasl_type = dovecot). Lets the gateway check a password
 * against whatever passdb Dovecot has (docs/users.md).
 *
 * The protocol is lines ending in LF, fields split by TAB, values
 * tab-escaped with \001 (\0010 NUL, \0011 \001, \001t TAB, \001r CR, \001n
 * and \001l LF). Both sides start with VERSION; the client adds CPID, the
 * server SPID, CUID, COOKIE, one MECH per mechanism and DONE. Then:
 *
 *     C: AUTH <id> PLAIN service=smtp secured no-penalty nologin rip=IP resp=BASE64
 *     S: OK <id> user=NAME ...          right password: NAME is Dovecot's name
 *     S: FAIL <id> [user=] [code=] [temp] ...
 *     S: CONT <id> DATA                 the server wants the response again
 *
 * FAIL with "temp" or code=temp_fail is Dovecot's own temporary failure (its
 * passdb is down): never a wrong password. Dovecot does not tell an unknown
 * user from a wrong password: both are FAIL.
 *
 * The parser (dovecot_reply_parse) is pure and has a fuzz target. The client
 * (dovecot_auth_plain) blocks, so it runs on an authpool worker: one
 * connection per worker thread, kept between checks (Dovecot refuses a second
 * connection with a CPID it has, so the CPID is the thread's id, unique on the
 * system), every wait bounded by one deadline for the whole check (a timerfd,
 * so no clock is read). Any error closes the connection; the next check
 * connects again.
 */
#ifndef RG_AUTH_DOVECOT_H
#define RG_AUTH_DOVECOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DOVECOT_LINE_MAX 16384 /* Dovecot's AUTH_CLIENT_MAX_LINE_LENGTH */
#define DOVECOT_NAME_MAX 320
#define DOVECOT_VERSION_MAJOR 1

enum dovecot_kind {
	DOVECOT_R_OTHER = 0, /* SPID, CUID, COOKIE, anything new: ignored */
	DOVECOT_R_VERSION,
	DOVECOT_R_MECH,
	DOVECOT_R_DONE,
	DOVECOT_R_OK,
	DOVECOT_R_FAIL,
	DOVECOT_R_CONT,
};

struct dovecot_reply {
	enum dovecot_kind kind;
	unsigned long id;                /* OK, FAIL, CONT: the request's id */
	unsigned long major;             /* VERSION */
	unsigned long minor;             /* VERSION */
	char mech[32];                   /* MECH: the mechanism's name */
	bool has_user;                   /* OK, FAIL: a user= field came */
	char user[DOVECOT_NAME_MAX + 1]; /* its value, unescaped */
	bool temp;                       /* FAIL: "temp" or code=temp_fail */
	bool disabled;                   /* FAIL: code=user_disabled */
	char code[32];                   /* FAIL: code=, unescaped ("" if none) */
	char reason[200];                /* FAIL: reason=, unescaped, for the log */
};

/* Parses one server line (without its LF). 0, or -1 when the line is not a
 * well-formed known reply (bad id, VERSION without numbers, a user name with
 * NUL or control characters or too long). Unknown commands are
 * DOVECOT_R_OTHER, unknown fields are ignored. */
int dovecot_reply_parse(const char *line, size_t len, struct dovecot_reply *out);

/* Tab-unescapes in[0..len) into out (NUL-terminated). -1 when it does not
 * fit or would hold a NUL. */
int dovecot_unescape(const char *in, size_t len, char *out, size_t outsize);

enum dovecot_result {
	DOVECOT_OK = 0,   /* right password; canon holds Dovecot's user name */
	DOVECOT_FAIL,     /* wrong password or unknown user */
	DOVECOT_DISABLED, /* Dovecot says the account is disabled */
	DOVECOT_TEMP,     /* no answer: socket missing, refused, timeout, protocol error, temp */
};

/* Checks user's password through the auth-client socket at path, the whole
 * exchange within timeout_ms. service is Dovecot's service name (smtp), rip
 * the client's address ("" if none). why gets a reason for the log on
 * anything but DOVECOT_OK. Blocking: for worker threads. */
enum dovecot_result dovecot_auth_plain(const char *path, const char *service, uint64_t timeout_ms,
                                       const char *user, const char *pw, size_t pwlen,
                                       const char *rip, char *canon, size_t canonsize, char *why,
                                       size_t whylen);

/* Closes the calling thread's connection (a worker calls it before it ends). */
void dovecot_thread_end(void);

#endif
