/*
 * passwd - Argon2id hashing and verification through libsodium; see passwd.h.
 */
#include "auth/passwd.h"

#include "core/str.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_bool passwd_ready;

int passwd_init(void)
{
	if (atomic_load(&passwd_ready))
		return 0;
	if (sodium_init() < 0) /* thread-safe, and idempotent */
		return -1;
	atomic_store(&passwd_ready, true);
	return 0;
}

struct passwd_level {
	const char *name;
	unsigned long long opslimit;
	size_t memlimit;
};

static const struct passwd_level passwd_levels[] = {
    {"min", 1, 8192},
    {"interactive", 2, 64u * 1024 * 1024},
    {"default", 3, 128u * 1024 * 1024},
    {"moderate", 3, 256u * 1024 * 1024},
    {"sensitive", 4, 1024u * 1024 * 1024},
};

static int passwd_cost_check(const struct passwd_cost *c)
{
	return c->opslimit >= crypto_pwhash_argon2id_OPSLIMIT_MIN && c->opslimit <= 64 &&
	               c->memlimit >= crypto_pwhash_argon2id_MEMLIMIT_MIN &&
	               c->memlimit <= (size_t)4096 * 1024 * 1024 && c->memlimit % 1024 == 0
	           ? 0
	           : -1;
}

int passwd_cost_parse(const char *s, struct passwd_cost *out, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof passwd_levels / sizeof passwd_levels[0]; i++) {
		if (str_ieq(s, passwd_levels[i].name)) {
			out->opslimit = passwd_levels[i].opslimit;
			out->memlimit = passwd_levels[i].memlimit;
			return 0;
		}
	}
	/* "t=N,m=SIZE" */
	char copy[64];
	char *fields[3];
	if (str_copy(copy, sizeof copy, s) < 0 || str_split(copy, ",", fields, 2) != 2 ||
	    strncmp(fields[0], "t=", 2) != 0 || strncmp(fields[1], "m=", 2) != 0)
		goto bad;
	uint64_t t, m;
	if (str_to_u64(fields[0] + 2, strlen(fields[0] + 2), 1, 64, &t) < 0 ||
	    str_to_size(fields[1] + 2, &m) < 0 || m > SIZE_MAX)
		goto bad;
	struct passwd_cost c = {.opslimit = t, .memlimit = (size_t)m};
	if (passwd_cost_check(&c) < 0) {
		str_format_trunc(err, errlen,
		                 "argon2 cost '%s' out of range (t 1..64, m 8K..4G in whole KiB)",
		                 s);
		return -1;
	}
	*out = c;
	return 0;
bad:
	str_format_trunc(err, errlen,
	                 "argon2 cost '%s': expected min, interactive, default, moderate, "
	                 "sensitive or t=N,m=SIZE",
	                 s);
	return -1;
}

int passwd_cost_from_env(struct passwd_cost *out, char *err, size_t errlen)
{
	const char *env = getenv("RELAYGUARD_ARGON2");
	return passwd_cost_parse(env && *env ? env : "default", out, err, errlen);
}

int passwd_hash(const struct passwd_cost *cost, const char *pw, size_t pwlen, char *out,
                size_t outsize)
{
	char tmp[crypto_pwhash_STRBYTES];
	if (passwd_init() < 0 || pwlen > PASSWD_PLAIN_MAX || passwd_cost_check(cost) < 0 ||
	    outsize < sizeof tmp)
		return -1;
	if (crypto_pwhash_str_alg(tmp, pw, pwlen, cost->opslimit, cost->memlimit,
	                          crypto_pwhash_ALG_ARGON2ID13) != 0)
		return -1;
	return str_copy(out, outsize, tmp);
}

int passwd_verify_check(const char *hash, size_t pwlen)
{
	if (pwlen > PASSWD_PLAIN_MAX)
		return -1;
	if (strnlen(hash, crypto_pwhash_STRBYTES) >= crypto_pwhash_STRBYTES ||
	    strcmp(passwd_algorithm(hash), "unknown") == 0)
		return -1;
	/* The cost is read from the hash: a stored hash with absurd parameters would
	 * let whoever can write the user file stall every AUTH; refuse it instead. */
	struct passwd_cost c;
	if (passwd_cost_of_hash(hash, &c) < 0 || passwd_cost_check(&c) < 0)
		return -1;
	return 0;
}

enum passwd_result passwd_verify(const char *hash, const char *pw, size_t pwlen)
{
	if (passwd_init() < 0 || passwd_verify_check(hash, pwlen) < 0)
		return PASSWD_ERROR;
	if (crypto_pwhash_str_verify(hash, pw, pwlen) == 0)
		return PASSWD_OK;
	return PASSWD_MISMATCH;
}

/* One dummy hash, made from a random password nobody knows, for the last cost
 * asked for (a process uses one or two). The lock makes reading and replacing
 * it safe from any thread; the hash itself is made outside it. */
static pthread_mutex_t passwd_dummy_lock = PTHREAD_MUTEX_INITIALIZER;
static char passwd_dummy[crypto_pwhash_STRBYTES];
static struct passwd_cost passwd_dummy_cost;

/* Copies the dummy hash for cost into out when there is one. true if copied. */
static bool passwd_dummy_get(const struct passwd_cost *cost, char *out, size_t outsize)
{
	bool ok = false;
	pthread_mutex_lock(&passwd_dummy_lock);
	if (passwd_dummy[0] && passwd_dummy_cost.opslimit == cost->opslimit &&
	    passwd_dummy_cost.memlimit == cost->memlimit)
		ok = str_copy(out, outsize, passwd_dummy) == 0;
	pthread_mutex_unlock(&passwd_dummy_lock);
	return ok;
}

bool passwd_dummy_ready(const struct passwd_cost *cost)
{
	char h[crypto_pwhash_STRBYTES];
	bool ready = passwd_dummy_get(cost, h, sizeof h);
	sodium_memzero(h, sizeof h);
	return ready;
}

int passwd_dummy_hash(const struct passwd_cost *cost, char *out, size_t outsize)
{
	if (passwd_init() < 0 || outsize < crypto_pwhash_STRBYTES)
		return -1;
	if (passwd_dummy_get(cost, out, outsize))
		return 0;
	unsigned char secret[32];
	char made[crypto_pwhash_STRBYTES];
	randombytes_buf(secret, sizeof secret);
	int rc = passwd_hash(cost, (const char *)secret, sizeof secret, made, sizeof made);
	sodium_memzero(secret, sizeof secret);
	if (rc < 0)
		return -1;
	pthread_mutex_lock(&passwd_dummy_lock);
	memcpy(passwd_dummy, made, sizeof passwd_dummy);
	passwd_dummy_cost = *cost;
	pthread_mutex_unlock(&passwd_dummy_lock);
	return str_copy(out, outsize, made);
}

int passwd_dummy_prepare(const struct passwd_cost *cost)
{
	char h[crypto_pwhash_STRBYTES];
	return passwd_dummy_hash(cost, h, sizeof h);
}

enum passwd_result passwd_verify_dummy(const struct passwd_cost *cost, const char *pw, size_t pwlen)
{
	char h[crypto_pwhash_STRBYTES];
	if (passwd_dummy_hash(cost, h, sizeof h) < 0)
		return PASSWD_ERROR;
	enum passwd_result r = passwd_verify(h, pw, pwlen);
	return r == PASSWD_ERROR ? PASSWD_ERROR : PASSWD_MISMATCH;
}

bool passwd_needs_rehash(const char *hash, const struct passwd_cost *cost)
{
	if (passwd_init() < 0 || strcmp(passwd_algorithm(hash), "argon2id") != 0)
		return true;
	return crypto_pwhash_str_needs_rehash(hash, cost->opslimit, cost->memlimit) != 0;
}

/* Reads the decimal number after "key=" in the parameter field "m=65536,t=2,p=1". */
static int passwd_param(const char *params, size_t len, char key, uint64_t *out)
{
	size_t i = 0;
	while (i < len) {
		size_t end = i;
		while (end < len && params[end] != ',')
			end++;
		if (end - i > 2 && params[i] == key && params[i + 1] == '=')
			return str_to_u64(params + i + 2, end - i - 2, 0, UINT64_MAX, out);
		i = end + 1;
	}
	return -1;
}

int passwd_cost_of_hash(const char *hash, struct passwd_cost *out)
{
	/* "$argon2id$v=19$m=65536,t=2,p=1$..." */
	const char *p = strchr(hash + (hash[0] == '$'), '$');
	if (!p || strncmp(p, "$v=", 3) != 0)
		return -1;
	p = strchr(p + 1, '$');
	if (!p)
		return -1;
	p++;
	const char *end = strchr(p, '$');
	if (!end)
		return -1;
	uint64_t m, t;
	if (passwd_param(p, (size_t)(end - p), 'm', &m) < 0 ||
	    passwd_param(p, (size_t)(end - p), 't', &t) < 0 || m > SIZE_MAX / 1024)
		return -1;
	out->opslimit = t;
	out->memlimit = (size_t)m * 1024;
	return 0;
}

const char *passwd_algorithm(const char *hash)
{
	if (strncmp(hash, "$argon2id$", 10) == 0)
		return "argon2id";
	if (strncmp(hash, "$argon2i$", 9) == 0)
		return "argon2i";
	return "unknown";
}

bool passwd_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	if (alen != blen)
		return false;
	if (alen == 0)
		return true;
	return sodium_memcmp(a, b, alen) == 0;
}

void passwd_wipe(void *p, size_t len)
{
	if (p && len)
		sodium_memzero(p, len);
}
