/*
 * passwd - password hashing and verification: Argon2id through libsodium.
 *
 * Hashes are libsodium's encoded strings ("$argon2id$v=19$m=...,t=...,p=1$
 * salt$hash"), the same format Dovecot's ARGON2ID scheme stores, so a user
 * file can be shared with it. Verification is constant time inside
 * libsodium; passwd_verify_dummy() spends the same time on an unknown user
 * so that the answer time does not say whether an account exists.
 *
 * Thread-safe: the dummy hash is one static behind a lock, and the rest works
 * on the caller's buffers (the gateway verifies on worker threads).
 *
 * Cost levels (see docs/users.md):
 *   min          t=1, m=8 KiB     tests only
 *   interactive  t=2, m=64 MiB    libsodium INTERACTIVE, Dovecot's floor
 *   default      t=3, m=128 MiB   the default: between INTERACTIVE and MODERATE
 *   moderate     t=3, m=256 MiB   libsodium MODERATE
 *   sensitive    t=4, m=1 GiB     libsodium SENSITIVE
 * or "t=N,m=SIZE" (SIZE as in str_to_size, e.g. "t=3,m=64M").
 * The environment variable RELAYGUARD_ARGON2 names the level when the
 * caller did not choose one.
 */
#ifndef RG_AUTH_PASSWD_H
#define RG_AUTH_PASSWD_H

#include <stdbool.h>
#include <stddef.h>

#define PASSWD_HASH_MAX 128   /* crypto_pwhash_STRBYTES */
#define PASSWD_PLAIN_MAX 1024 /* longer passwords are refused, not truncated */

struct passwd_cost {
	unsigned long long opslimit; /* argon2 t (passes) */
	size_t memlimit;             /* bytes; argon2 m is memlimit / 1024 KiB */
};

enum passwd_result {
	PASSWD_OK = 0,
	PASSWD_MISMATCH = 1,
	PASSWD_ERROR = -1, /* not a hash we understand, or out of memory */
};

/* Initialises libsodium once (later calls are free). 0 or -1. */
int passwd_init(void);
/* Parses a level name or "t=N,m=SIZE" into out. 0, or -1 with a reason in err. */
int passwd_cost_parse(const char *s, struct passwd_cost *out, char *err, size_t errlen);
/* The level named by RELAYGUARD_ARGON2, else "default". 0, or -1 when the
 * variable is set to something passwd_cost_parse refuses (reason in err). */
int passwd_cost_from_env(struct passwd_cost *out, char *err, size_t errlen);
/* Hashes pw (pwlen bytes, at most PASSWD_PLAIN_MAX) into out (PASSWD_HASH_MAX bytes). 0 or -1. */
int passwd_hash(const struct passwd_cost *cost, const char *pw, size_t pwlen, char *out,
                size_t outsize) __attribute__((warn_unused_result));
/* Checks pw against an encoded hash, in constant time. */
enum passwd_result passwd_verify(const char *hash, const char *pw, size_t pwlen);
/* The checks passwd_verify() makes before it hashes (password length, the
 * hash's form and cost): -1 when it would answer PASSWD_ERROR without hashing,
 * 0 when it would hash. Costs nothing. */
int passwd_verify_check(const char *hash, size_t pwlen);
/* Makes the dummy hash for cost now (one hash's time), so the first unknown
 * user does not pay for it; a gateway calls this when it loads the users. 0 or -1. */
int passwd_dummy_prepare(const struct passwd_cost *cost) __attribute__((warn_unused_result));
/* Copies the dummy hash for cost into out (PASSWD_HASH_MAX bytes), making it
 * first if the cost changed (one hash's time): passwd_verify() of out then
 * spends what passwd_verify_dummy() would. 0 or -1. */
int passwd_dummy_hash(const struct passwd_cost *cost, char *out, size_t outsize)
    __attribute__((warn_unused_result));
/* true when the dummy hash for cost is made (passwd_verify_dummy will not make it). */
bool passwd_dummy_ready(const struct passwd_cost *cost);
/* Spends the time of one passwd_verify() against a hash of the given cost
 * and always answers PASSWD_MISMATCH (PASSWD_ERROR if it could not). */
enum passwd_result passwd_verify_dummy(const struct passwd_cost *cost, const char *pw,
                                       size_t pwlen);
/* true when hash was made with other parameters than cost (or is not argon2id). */
bool passwd_needs_rehash(const char *hash, const struct passwd_cost *cost);
/* Reads t and m back from an encoded argon2 hash. 0 or -1. */
int passwd_cost_of_hash(const char *hash, struct passwd_cost *out);
/* "argon2id", "argon2i" or "unknown": the algorithm of an encoded hash. */
const char *passwd_algorithm(const char *hash);
/* Constant-time equality of two byte strings of possibly different lengths
 * (the lengths themselves are not secret). */
bool passwd_equal(const void *a, size_t alen, const void *b, size_t blen);
/* Wipes a buffer that held a password so it does not linger in memory. */
void passwd_wipe(void *p, size_t len);

#endif
