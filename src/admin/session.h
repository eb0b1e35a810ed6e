/*
 * session - the admin page's logins: a session is a random 256-bit id (the
 * cookie) bound to one administrator, with its own random CSRF token that
 * every POST must carry. Sessions live in memory (a restart logs everyone
 * out), at most SESSION_MAX at once (the oldest goes when full), and end
 * after idle_ms without a request or max_ms after login, whichever is first.
 * Time is the caller's. Tokens are compared in constant time.
 */
#ifndef RG_ADMIN_SESSION_H
#define RG_ADMIN_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SESSION_MAX 64
#define SESSION_TOKEN_LEN 64 /* hex characters */
#define SESSION_USER_MAX 330

struct session {
	bool used;
	char id[SESSION_TOKEN_LEN + 1];
	char csrf[SESSION_TOKEN_LEN + 1];
	char user[SESSION_USER_MAX];
	int64_t created_ms, last_ms;
};

struct sessions {
	int64_t idle_ms, max_ms;
	struct session s[SESSION_MAX];
};

void session_init(struct sessions *ss, int64_t idle_ms, int64_t max_ms);
/* A fresh random token, hex, into out (at least SESSION_TOKEN_LEN + 1 bytes). */
void session_token(char *out);
/* A new session for user. Never fails (the oldest session makes room). */
const struct session *session_create(struct sessions *ss, const char *user, int64_t now_ms);
/* The live session with this id (and its last use moved to now), or NULL. */
const struct session *session_find(struct sessions *ss, const char *id, int64_t now_ms);
/* Ends the session with this id, if any. */
void session_end(struct sessions *ss, const char *id);
/* Whether token is the session's CSRF token (constant time; NULL is never right). */
bool session_csrf_ok(const struct session *s, const char *token);
/* Constant-time equality of two tokens (false for NULL or different lengths). */
bool session_token_eq(const char *a, const char *b);

#endif
