/*
 * userdb - the store of accounts that may authenticate (SMTP AUTH, admin).
 *
 * A text file, default ./var/users, mode 0600, one account a line:
 *
 *     user:hash[:flags]
 *
 * user is "local" or "local@domain" (RFC 5321 dot-atom local part, domain
 * stored in lower case; no ':' or control characters), hash an Argon2id
 * string from passwd_hash(), flags a comma list of "admin" and "disabled".
 * Blank lines and lines starting with '#' are skipped (and not kept on save).
 * See docs/users.md.
 *
 * Loading is all or nothing: a bad line gives "file:line: what" and the
 * store in memory stays as it was (DESIGN.md invariant 5). Saving replaces
 * the file atomically (fsutil_write_atomic). Names compare ASCII
 * case-insensitively, so "Sam" and "sam" are one account.
 *
 * userdb_verify() is what the SMTP AUTH handler calls. It costs one Argon2
 * verification whether or not the account exists, and the caller must answer
 * USERDB_BAD, USERDB_UNKNOWN and USERDB_DISABLED alike to the client (535),
 * keeping the difference for its log. It is userdb_lookup() (cheap, on the
 * thread that owns the store) then userdb_check() (the Argon2 work, on any
 * thread: it reads only the copy the lookup made, so the store may be
 * reloaded meanwhile).
 */
#ifndef RG_AUTH_USERDB_H
#define RG_AUTH_USERDB_H

#include "auth/passwd.h"
#include "core/buf.h"
#include "core/str.h"

#include "core/htab.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#define USERDB_DEFAULT_PATH "var/users"
#define USERDB_LOCAL_MAX 64
#define USERDB_NAME_MAX STR_USER_MAX /* not local + @ + domain (320): one size */
#define USERDB_LINE_MAX 1024
#define USERDB_FILE_MAX (64u * 1024 * 1024)

enum userdb_flag {
	USERDB_FLAG_ADMIN = 1u << 0,
	USERDB_FLAG_DISABLED = 1u << 1,
};

enum userdb_verdict {
	USERDB_OK = 0,
	USERDB_BAD,      /* wrong password */
	USERDB_UNKNOWN,  /* no such account (the time spent was the same) */
	USERDB_DISABLED, /* right password, account disabled */
	USERDB_ERROR,    /* stored hash unusable, out of memory */
	/* a backend (auth/authbe.h) could not answer: 454, not a failed login */
	USERDB_UNAVAILABLE,
};

struct userdb_entry {
	char name[USERDB_NAME_MAX + 1];
	char hash[PASSWD_HASH_MAX];
	unsigned flags;
};

struct userdb {
	char path[PATH_MAX];
	struct userdb_entry *users;
	size_t count;
	size_t cap;
	struct htab index;                   /* of users by name, case-folded */
	const struct userdb_entry *index_of; /* the users array the index points into */
	unsigned file_mode; /* permission bits of the file when loaded, 0 if none */
};

/* Empty store bound to path (NULL: USERDB_DEFAULT_PATH). 0, or -1 if path is too long. */
int userdb_init(struct userdb *db, const char *path);
void userdb_free(struct userdb *db);

/* Checks a user name and writes its stored form (domain lower-cased) to out.
 * 0, or -1 with a reason in err. */
int userdb_name_normalize(const char *name, size_t len, char *out, size_t outsize, char *err,
                          size_t errlen);
/* Parses a whole user file held in memory (pure: no I/O, no hashing; the
 * fuzz target calls it). On success the accounts replace db's; on failure db
 * is unchanged and err says "fname:line: what". 0 or -1. */
int userdb_parse(struct userdb *db, const char *data, size_t len, const char *fname, char *err,
                 size_t errlen);
/* Reads db->path. A missing file is an empty store. 0 or -1 (err). */
int userdb_load(struct userdb *db, char *err, size_t errlen) __attribute__((warn_unused_result));
/* The file contents for db. 0, or -1 if out's maximum was reached. */
int userdb_format(const struct userdb *db, struct buf *out);
/* Writes db->path atomically with mode 0600, creating its directory (0700)
 * when missing. 0 or -1 (err). */
int userdb_save(const struct userdb *db, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Exclusive advisory lock for a load-modify-save cycle, on the directory of
 * path (created 0700 if missing). Returns an fd for userdb_unlock, or -1 (err). */
int userdb_lock(const char *path, char *err, size_t errlen);
void userdb_unlock(int fd);

/* The account with this name (any case), or NULL. */
struct userdb_entry *userdb_find(const struct userdb *db, const char *name);
/* Adds an account; name is normalised, hash must look like an Argon2 string.
 * 0, or -1 (bad name, bad hash, exists) with a reason in err. */
int userdb_add(struct userdb *db, const char *name, const char *hash, unsigned flags, char *err,
               size_t errlen);
/* Removes an account. 0, or -1 if there is none. */
int userdb_remove(struct userdb *db, const char *name);

/* "admin,disabled" ("" for none). 0 or -1 if it did not fit. */
int userdb_flags_format(unsigned flags, char *out, size_t size);
/* Parses a flag list. 0, or -1 with the unknown flag in err. */
int userdb_flags_parse(const char *s, size_t len, unsigned *out, char *err, size_t errlen);

/* Checks a password for an account, in about the same time whatever the answer. */
/* The cost of the unknown-user check: the configured cost new hashes get
 * (RELAYGUARD_ARGON2's, else the default), never one account's (a cheap first
 * hash would make unknown names cheap to try and tell apart). 0 or -1. */
int userdb_dummy_cost(const struct userdb *db, struct passwd_cost *cost);
/* Prepares the unknown-user path (the dummy hash at the configured cost) so the first unknown login
 * costs no more than a known one. 0 or -1. */
int userdb_prepare(const struct userdb *db) __attribute__((warn_unused_result));
enum userdb_verdict userdb_verify(const struct userdb *db, const char *user, const char *pw,
                                  size_t pwlen);

/* What userdb_check() needs of an account, copied out of the store. */
struct userdb_cred {
	bool known;                    /* false: no such account */
	unsigned flags;                /* the account's, when known */
	char hash[PASSWD_HASH_MAX];    /* the stored hash, when known */
	struct passwd_cost dummy_cost; /* when not: the cost of the dummy check */
};
/* The first half of userdb_verify: finds user (NULL: nobody) and copies its
 * hash and flags, or for no account the cost of the dummy check (no hashing
 * here). 0, or -1: the verdict is USERDB_ERROR. */
int userdb_lookup(const struct userdb *db, const char *user, struct userdb_cred *out)
    __attribute__((warn_unused_result));
/* The second half: the Argon2 verification of pw against cr (for no account,
 * passwd_verify_dummy at cr's cost), the verdict userdb_verify would give.
 * Touches no store: safe on any thread. */
enum userdb_verdict userdb_check(const struct userdb_cred *cr, const char *pw, size_t pwlen);
/* false when userdb_check() would answer USERDB_ERROR whatever the password
 * (a password over PASSWD_PLAIN_MAX, a stored hash it refuses). Costs nothing. */
bool userdb_cred_usable(const struct userdb_cred *cr, size_t pwlen);
const char *userdb_verdict_name(enum userdb_verdict v);

#endif
