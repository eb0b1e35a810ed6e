/*
 * Unit tests for src/auth/userdb, src/auth/passwd and src/core/fsutil:
 * the user file format, corrupt files, atomic saves, hashing round trips and
 * the verification verdicts. Argon2 runs at the "min" cost (one test uses
 * "interactive") so the suite takes about a second.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/passwd.h"
#include "auth/userdb.h"
#include "policy/event.h"
#include "smtp/session.h"
#include "core/clock.h"
#include "core/fsutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fixture {
	char dir[64];
	char path[128];
	struct passwd_cost min;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	char err[128];
	if (!f)
		return -1;
	snprintf(f->dir, sizeof f->dir, "/tmp/rg-userdb-XXXXXX");
	if (!mkdtemp(f->dir) || passwd_init() < 0 ||
	    passwd_cost_parse("min", &f->min, err, sizeof err) < 0)
		return -1;
	snprintf(f->path, sizeof f->path, "%s/users", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	DIR *d = opendir(f->dir);
	if (d) {
		struct dirent *de;
		char p[512];
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.' && (!de->d_name[1] || de->d_name[1] == '.'))
				continue;
			snprintf(p, sizeof p, "%s/%s", f->dir, de->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	size_t n = 0;
	struct dirent *de;
	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void test_passwd_round_trip(void **state)
{
	struct fixture *f = *state;
	char hash[PASSWD_HASH_MAX];
	const char *pw = "violet-canyon-tractor-47";
	assert_int_equal(passwd_hash(&f->min, pw, strlen(pw), hash, sizeof hash), 0);
	assert_string_equal(passwd_algorithm(hash), "argon2id");
	assert_int_equal(strncmp(hash, "$argon2id$v=19$m=8,t=1,p=1$", 27), 0);
	assert_int_equal(passwd_verify(hash, pw, strlen(pw)), PASSWD_OK);
	assert_int_equal(passwd_verify(hash, "violet-canyon-tractor-48", 24), PASSWD_MISMATCH);
	assert_int_equal(passwd_verify(hash, pw, strlen(pw) - 1), PASSWD_MISMATCH);
	assert_int_equal(passwd_verify("$1$abc$def", pw, strlen(pw)), PASSWD_ERROR);
	assert_int_equal(passwd_verify("plain", pw, strlen(pw)), PASSWD_ERROR);
	assert_false(passwd_needs_rehash(hash, &f->min));
	struct passwd_cost c;
	char err[256];
	assert_int_equal(passwd_cost_parse("interactive", &c, err, sizeof err), 0);
	assert_true(passwd_needs_rehash(hash, &c));
	assert_int_equal(passwd_cost_of_hash(hash, &c), 0);
	assert_int_equal(c.opslimit, 1);
	assert_int_equal(c.memlimit, 8192);
	/* two hashes of one password differ (random salt) */
	char hash2[PASSWD_HASH_MAX];
	assert_int_equal(passwd_hash(&f->min, pw, strlen(pw), hash2, sizeof hash2), 0);
	assert_string_not_equal(hash, hash2);
	assert_true(passwd_equal("abc", 3, "abc", 3));
	assert_false(passwd_equal("abc", 3, "abd", 3));
	assert_false(passwd_equal("abc", 3, "abcd", 4));
}

static void test_passwd_cost_parse(void **state)
{
	struct passwd_cost c;
	char err[256];
	assert_int_equal(passwd_cost_parse("default", &c, err, sizeof err), 0);
	assert_int_equal(c.opslimit, 3);
	assert_int_equal(c.memlimit, 128u * 1024 * 1024);
	assert_int_equal(passwd_cost_parse("MODERATE", &c, err, sizeof err), 0);
	assert_int_equal(c.memlimit, 256u * 1024 * 1024);
	assert_int_equal(passwd_cost_parse("t=2,m=19M", &c, err, sizeof err), 0);
	assert_int_equal(c.opslimit, 2);
	assert_int_equal(c.memlimit, 19u * 1024 * 1024);
	assert_int_equal(passwd_cost_parse("t=0,m=19M", &c, err, sizeof err), -1);
	assert_int_equal(passwd_cost_parse("t=2,m=1", &c, err, sizeof err), -1);
	assert_int_equal(passwd_cost_parse("fast", &c, err, sizeof err), -1);
	assert_non_null(strstr(err, "fast"));
}

static void test_passwd_interactive(void **state)
{
	/* The real floor (libsodium INTERACTIVE), once, and the unknown-user path
	 * costs about as much as a known one. */
	struct passwd_cost c;
	char err[128], hash[PASSWD_HASH_MAX];
	assert_int_equal(passwd_cost_parse("interactive", &c, err, sizeof err), 0);
	const char *pw = "orchid-lantern-basalt-93";
	assert_int_equal(passwd_hash(&c, pw, strlen(pw), hash, sizeof hash), 0);
	assert_int_equal(strncmp(hash, "$argon2id$v=19$m=65536,t=2,p=1$", 31), 0);
	struct userdb db;
	assert_int_equal(userdb_init(&db, "/nonexistent/users"), 0);
	assert_int_equal(userdb_add(&db, "sam", hash, 0, err, sizeof err), 0);
	/* the configured cost (the unknown-user check's) is the account's */
	assert_int_equal(setenv("RELAYGUARD_ARGON2", "interactive", 1), 0);
	/* prepare the dummy hash as a gateway does at load, then time both paths */
	assert_int_equal(userdb_prepare(&db), 0);
	clock_use_system();
	clock_update();
	int64_t t0 = clock_monotonic_ms();
	assert_int_equal(userdb_verify(&db, "sam", "wrong-password-here", 19), USERDB_BAD);
	clock_update();
	int64_t t1 = clock_monotonic_ms();
	assert_int_equal(userdb_verify(&db, "nobody", pw, strlen(pw)), USERDB_UNKNOWN);
	clock_update();
	int64_t t2 = clock_monotonic_ms();
	int64_t known = t1 - t0, unknown = t2 - t1;
	if (unknown * 2 < known || known * 2 < unknown)
		fail_msg("known user took %lld ms, unknown %lld ms", (long long)known,
		         (long long)unknown);
	assert_int_equal(userdb_verify(&db, "sam", pw, strlen(pw)), USERDB_OK);
	userdb_free(&db);
	assert_int_equal(unsetenv("RELAYGUARD_ARGON2"), 0);
}

static void test_names(void **state)
{
	char out[USERDB_NAME_MAX + 1], err[128];
	assert_int_equal(
	    userdb_name_normalize("Sam@Example.COM", 15, out, sizeof out, err, sizeof err), 0);
	assert_string_equal(out, "Sam@example.com");
	assert_int_equal(userdb_name_normalize("sam", 3, out, sizeof out, err, sizeof err), 0);
	assert_int_equal(
	    userdb_name_normalize("first.last+tag", 14, out, sizeof out, err, sizeof err), 0);
	static const char *const bad[] = {
	    "",      "sam:x",      "sa\nm",         "sa m",       ".sam",        "sam.",
	    "s..am", "sam@",       "@example.com",  "sam@-x.com", "sam@a..b",    "sam@exa_mple.com",
	    "#sam",  "s\xc3\xa9m", "\"sam\"@x.com", "sam@x.com-", "sam@b@x.com",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (userdb_name_normalize(bad[i], strlen(bad[i]), out, sizeof out, err,
		                          sizeof err) == 0)
			fail_msg("name '%s' accepted", bad[i]);
	char longname[80];
	memset(longname, 'a', 65);
	longname[65] = '\0';
	assert_int_equal(userdb_name_normalize(longname, 65, out, sizeof out, err, sizeof err), -1);
	/* One size for a name everywhere (AUTH keeps 255): a 64-octet local
	 * part and a long domain may not add up past it. */
	char big[400];
	memset(big, 'a', 64);
	big[64] = '@';
	size_t n = 65;
	while (n < 65 + 250) { /* labels of 49 + '.' */
		memset(big + n, 'b', 49);
		n += 49;
		big[n++] = '.';
	}
	memcpy(big + n, "org", 3);
	n += 3;
	big[n] = '\0';
	assert_true(n > STR_USER_MAX && n <= 320);
	assert_int_equal(userdb_name_normalize(big, n, out, sizeof out, err, sizeof err), -1);
	/* and one at the limit is kept whole, as the SMTP session and the
	 * policy event keep it */
	big[STR_USER_MAX - 4] = '\0';
	memcpy(big + STR_USER_MAX - 8, ".org", 4);
	big[STR_USER_MAX - 4] = '\0';
	n = strlen(big);
	if (big[n - 5] == '.') /* no empty label */
		big[n - 5] = 'c';
	assert_int_equal(userdb_name_normalize(big, n, out, sizeof out, err, sizeof err), 0);
	assert_int_equal(strlen(out), n);
	assert_true(USERDB_NAME_MAX == STR_USER_MAX && SMTP_SESSION_USER_MAX == STR_USER_MAX &&
	            POL_USER_MAX == STR_USER_MAX + 1);
}

static const char good_hash[] =
    "$argon2id$v=19$m=8,t=1,p=1$rplz5oO4WbSbDsK9g3hSjg$/goABuFf3EJ1G5kHrHxnuDQ6wzCH7wvuDSocqg5D/UU";

static void test_parse(void **state)
{
	struct userdb db;
	char err[256], data[1024];
	assert_int_equal(userdb_init(&db, "users"), 0);
	snprintf(data, sizeof data,
	         "# comment\n\nsam@Example.com:%s\nadmin:%s:admin\nold:%s:disabled,admin\n"
	         "last:%s",
	         good_hash, good_hash, good_hash, good_hash);
	assert_int_equal(userdb_parse(&db, data, strlen(data), "users", err, sizeof err), 0);
	assert_int_equal(db.count, 4);
	struct userdb_entry *e = userdb_find(&db, "SAM@example.com");
	assert_non_null(e);
	assert_string_equal(e->name, "sam@example.com");
	assert_int_equal(e->flags, 0);
	assert_int_equal(userdb_find(&db, "admin")->flags, USERDB_FLAG_ADMIN);
	assert_int_equal(userdb_find(&db, "old")->flags, USERDB_FLAG_ADMIN | USERDB_FLAG_DISABLED);
	assert_non_null(userdb_find(&db, "last"));
	assert_null(userdb_find(&db, "nobody"));

	/* each corrupt file fails with file:line: and leaves db as it was */
	struct {
		const char *text;
		const char *want;
	} bad[] = {
	    {"sam\n", "users:1: expected user:hash"},
	    {"# ok\nsam:plain\n", "users:2: password hash"},
	    {"sam:$1$abc$def\n", "users:1: password hash"},
	    {"sam:$argon2id$v=19$m=8,t=1,p=1$a$b\r\n", "users:1: carriage return"},
	    {"sam:$argon2id$v=19$m=8,t=1,p=1$a$b:root\n", "users:1: unknown flag 'root'"},
	    {"sam:$argon2id$v=19$m=8,t=1,p=1$a$b\nSAM:$argon2id$v=19$m=8,t=1,p=1$a$b\n",
	     "users:2: user SAM appears twice"},
	    {"s am:$argon2id$v=19$m=8,t=1,p=1$a$b\n", "users:1: user name"},
	    {"sam:$argon2id$nothing\n", "users:1: password hash has no readable parameters"},
	    {"sam:\n", "users:1: empty password hash"},
	    {":$argon2id$v=19$m=8,t=1,p=1$a$b\n", "users:1: user name is empty"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		if (userdb_parse(&db, bad[i].text, strlen(bad[i].text), "users", err, sizeof err) !=
		        -1 ||
		    !strstr(err, bad[i].want))
			fail_msg("case %zu: err '%s', wanted '%s'", i, err, bad[i].want);
		assert_int_equal(db.count, 4);
		assert_non_null(userdb_find(&db, "sam@example.com"));
	}
	char nul[] = "# a\0b\n";
	assert_int_equal(userdb_parse(&db, nul, sizeof nul - 1, "users", err, sizeof err), -1);
	assert_non_null(strstr(err, "users:1: NUL"));
	char longline[USERDB_LINE_MAX + 10];
	memset(longline, 'a', sizeof longline);
	assert_int_equal(userdb_parse(&db, longline, sizeof longline, "users", err, sizeof err),
	                 -1);
	assert_non_null(strstr(err, "longer than"));
	userdb_free(&db);
}

static void test_save_load(void **state)
{
	struct fixture *f = *state;
	struct userdb db, again;
	char err[512], hash[PASSWD_HASH_MAX];
	const char *pw = "violet-canyon-tractor-47";
	assert_int_equal(userdb_init(&db, f->path), 0);
	/* a missing file is an empty store */
	assert_int_equal(userdb_load(&db, err, sizeof err), 0);
	assert_int_equal(db.count, 0);
	assert_int_equal(passwd_hash(&f->min, pw, strlen(pw), hash, sizeof hash), 0);
	assert_int_equal(userdb_add(&db, "sam", hash, 0, err, sizeof err), 0);
	assert_int_equal(userdb_add(&db, "Sam", hash, 0, err, sizeof err), -1);
	assert_non_null(strstr(err, "already exists"));
	assert_int_equal(userdb_add(&db, "bad:name", hash, 0, err, sizeof err), -1);
	assert_int_equal(userdb_add(&db, "other", "nothash", 0, err, sizeof err), -1);
	for (int i = 0; i < 50; i++) {
		char name[32];
		snprintf(name, sizeof name, "user%d@example.org", i);
		assert_int_equal(
		    userdb_add(&db, name, hash, i % 2 ? USERDB_FLAG_ADMIN : 0, err, sizeof err), 0);
	}
	assert_int_equal(userdb_add(&db, "off", hash, USERDB_FLAG_DISABLED, err, sizeof err), 0);
	umask(022);
	assert_int_equal(userdb_save(&db, err, sizeof err), 0);
	struct stat st;
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* only the file itself: no temp file left behind */
	assert_int_equal(count_entries(f->dir), 1);

	assert_int_equal(userdb_init(&again, f->path), 0);
	assert_int_equal(userdb_load(&again, err, sizeof err), 0);
	assert_int_equal(again.count, 52);
	assert_int_equal(again.file_mode, 0600);
	assert_int_equal(userdb_find(&again, "user7@EXAMPLE.org")->flags, USERDB_FLAG_ADMIN);
	assert_int_equal(userdb_verify(&again, "sam", pw, strlen(pw)), USERDB_OK);
	assert_int_equal(userdb_verify(&again, "SAM", pw, strlen(pw)), USERDB_OK);
	assert_int_equal(userdb_verify(&again, "sam", "sam1", 4), USERDB_BAD);
	assert_int_equal(userdb_verify(&again, "nobody", pw, strlen(pw)), USERDB_UNKNOWN);
	assert_int_equal(userdb_verify(&again, NULL, pw, strlen(pw)), USERDB_UNKNOWN);
	assert_int_equal(userdb_verify(&again, "off", pw, strlen(pw)), USERDB_DISABLED);
	assert_int_equal(userdb_verify(&again, "off", "wrong", 5), USERDB_BAD);
	assert_string_equal(userdb_verdict_name(USERDB_DISABLED), "disabled");

	assert_int_equal(userdb_remove(&again, "user3@example.org"), 0);
	assert_int_equal(userdb_remove(&again, "user3@example.org"), -1);
	assert_null(userdb_find(&again, "user3@example.org"));
	assert_non_null(userdb_find(&again, "user4@example.org"));
	assert_int_equal(userdb_save(&again, err, sizeof err), 0);
	assert_int_equal(count_entries(f->dir), 1);

	/* a corrupt file refuses to load and changes nothing in memory */
	FILE *fp = fopen(f->path, "a");
	assert_non_null(fp);
	fputs("broken line\n", fp);
	fclose(fp);
	assert_int_equal(userdb_load(&again, err, sizeof err), -1);
	char want[256];
	snprintf(want, sizeof want, "%s:53: expected user:hash", f->path);
	assert_non_null(strstr(err, want));
	assert_int_equal(again.count, 51);
	userdb_free(&db);
	userdb_free(&again);
}

static void test_lock(void **state)
{
	struct fixture *f = *state;
	char err[256], sub[256];
	snprintf(sub, sizeof sub, "%s/var/users", f->dir);
	int fd = userdb_lock(sub, err, sizeof err);
	assert_true(fd >= 0);
	userdb_unlock(fd);
	char dir[256];
	snprintf(dir, sizeof dir, "%s/var", f->dir);
	struct stat st;
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	rmdir(dir);
}

static void test_fsutil(void **state)
{
	struct fixture *f = *state;
	char err[512], p[256];
	snprintf(p, sizeof p, "%s/data", f->dir);
	assert_int_equal(fsutil_write_atomic(p, "one\n", 4, 0640, err, sizeof err), 0);
	assert_int_equal(fsutil_write_atomic(p, "two\n", 4, 0600, err, sizeof err), 0);
	char buf[16] = "";
	FILE *fp = fopen(p, "r");
	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof buf, fp));
	fclose(fp);
	assert_string_equal(buf, "two\n");
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(count_entries(f->dir), 1);
	assert_int_equal(fsutil_fsync_dir(p), 0);
	unlink(p);
	/* a directory that does not exist: error names the path, nothing created */
	snprintf(p, sizeof p, "%s/nodir/data", f->dir);
	assert_int_equal(fsutil_write_atomic(p, "x", 1, 0600, err, sizeof err), -1);
	assert_non_null(strstr(err, "nodir/data"));
	assert_int_equal(count_entries(f->dir), 0);
	char d[64];
	assert_int_equal(fsutil_dirname("users", d, sizeof d), 0);
	assert_string_equal(d, ".");
	assert_int_equal(fsutil_dirname("/users", d, sizeof d), 0);
	assert_string_equal(d, "/");
	assert_int_equal(fsutil_dirname("var/users", d, sizeof d), 0);
	assert_string_equal(d, "var");
}

static void test_flags(void **state)
{
	unsigned flags;
	char err[128], out[64];
	assert_int_equal(userdb_flags_parse("", 0, &flags, err, sizeof err), 0);
	assert_int_equal(flags, 0);
	assert_int_equal(userdb_flags_parse("disabled,admin", 14, &flags, err, sizeof err), 0);
	assert_int_equal(userdb_flags_format(flags, out, sizeof out), 0);
	assert_string_equal(out, "admin,disabled");
	assert_int_equal(userdb_flags_parse("admin,", 6, &flags, err, sizeof err), 0);
	assert_int_equal(userdb_flags_parse("Admin", 5, &flags, err, sizeof err), -1);
}

/* An unknown name is checked at the configured cost (RELAYGUARD_ARGON2), not
 * at whatever cost the first account's hash happens to have. */
static void test_dummy_cost_is_configured(void **state)
{
	struct fixture *f = *state;
	struct userdb db;
	struct passwd_cost first, want, got;
	char err[128], hash[PASSWD_HASH_MAX];
	assert_int_equal(passwd_cost_parse("t=2,m=16K", &first, err, sizeof err), 0);
	assert_int_equal(passwd_hash(&first, "pw", 2, hash, sizeof hash), 0);
	assert_int_equal(userdb_init(&db, f->path), 0);
	assert_int_equal(userdb_add(&db, "first@example.org", hash, 0, err, sizeof err), 0);
	assert_int_equal(setenv("RELAYGUARD_ARGON2", "min", 1), 0);
	assert_int_equal(passwd_cost_from_env(&want, err, sizeof err), 0);
	assert_int_equal(userdb_dummy_cost(&db, &got), 0);
	assert_true(got.opslimit == want.opslimit && got.memlimit == want.memlimit);
	assert_false(got.opslimit == first.opslimit && got.memlimit == first.memlimit);
	struct userdb_cred cr;
	assert_int_equal(userdb_lookup(&db, "nobody@example.org", &cr), 0);
	assert_false(cr.known);
	assert_true(cr.dummy_cost.opslimit == want.opslimit &&
	            cr.dummy_cost.memlimit == want.memlimit);
	userdb_free(&db);
	assert_int_equal(unsetenv("RELAYGUARD_ARGON2"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_passwd_round_trip, setup, teardown),
	    cmocka_unit_test(test_passwd_cost_parse),
	    cmocka_unit_test(test_passwd_interactive),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fsutil, setup, teardown),
	    cmocka_unit_test(test_flags),
	    cmocka_unit_test_setup_teardown(test_dummy_cost_is_configured, setup, teardown),
	};
	return cmocka_run_group_tests_name("userdb", tests, NULL, NULL);
}
