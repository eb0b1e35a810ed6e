/*
 * strength - the password strength policy for accounts that may send mail.
 *
 * Hijacked accounts with guessed passwords ("sam"/"sam1", "test", "root",
 * "abuse", "sales") are the first reason mail servers land on blocklists,
 * so relayguard refuses to store such a password at all. A refusal comes
 * with one human reason ("password contains the user name", "password is in
 * the list of common passwords", ...). The rules are in docs/users.md:
 * minimum length, not the user name (or a part of it, reversed, or with
 * digits swapped in), not a common password (data/common-passwords.txt,
 * compiled in by auth/pwlist, compared in lower case, also with leetspeak undone and
 * with digits and symbols stripped from both ends), enough variety
 * (not "aaaaaaaaaaaa", not "1234567890", not only digits, not one kind of
 * character unless long).
 *
 * The common-password set is process-wide and loaded once.
 */
#ifndef RG_AUTH_STRENGTH_H
#define RG_AUTH_STRENGTH_H

#include <stdbool.h>
#include <stddef.h>

#define STRENGTH_MIN_LENGTH_DEFAULT 10
#define STRENGTH_MIN_LENGTH_MAX 128
#define STRENGTH_COMMON_FILE "data/common-passwords.txt"

struct strength_policy {
	size_t min_length; /* in characters (UTF-8 code points) */
};

void strength_policy_init(struct strength_policy *p);

/* Adds the lines of another common-password file to the set (one password a line,
 * '#' comments and blank lines skipped, compared in lower case). 0, or -1 with
 * "file:line: what" or "file: strerror" in err. */
int strength_common_load(const char *path, char *err, size_t errlen);
/* The shipped list (data/common-passwords.txt) is compiled in and always
 * active. This adds the file named by $RELAYGUARD_COMMON_PASSWORDS, if set,
 * once per process: 0 (its name, or "", in used), -1 on a read or format
 * error (reason in err). Later calls return the first answer. */
int strength_common_load_default(char *used, size_t usedsize, char *err, size_t errlen);
/* Whether pw (any case) is in the set, built-in core included. */
bool strength_is_common(const char *pw, size_t len);
size_t strength_common_count(void);
/* Drops the loaded set (tests; leak checkers). */
void strength_common_free(void);

/* 0 when pw is acceptable for user; -1 when refused, with the reason in
 * reason ("password contains the user name"). user may be NULL. */
int strength_check(const struct strength_policy *p, const char *user, const char *pw, size_t pwlen,
                   char *reason, size_t reasonlen);

#endif
