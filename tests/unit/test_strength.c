/*
 * Unit tests for src/auth/strength: the password strength policy.
 *
 * The accounts bots guess first (sam/sam1, test, root, abuse, sales) must be
 * refused with a clear reason; a good passphrase must pass.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/strength.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int strength_setup(void **state)
{
	char err[256];
	/* run-tests starts unit tests in the repository root */
	if (strength_common_load(STRENGTH_COMMON_FILE, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static int strength_teardown(void **state)
{
	strength_common_free();
	return 0;
}

/* Refused, and the reason contains want. */
static void refused(const char *user, const char *pw, const char *want)
{
	struct strength_policy p;
	strength_policy_init(&p);
	char why[256] = "";
	int rc = strength_check(&p, user, pw, strlen(pw), why, sizeof why);
	if (rc != -1 || !strstr(why, want))
		fail_msg("user '%s' password '%s': rc %d reason '%s', wanted '%s'", user, pw, rc,
		         why, want);
}

static void accepted(const char *user, const char *pw)
{
	struct strength_policy p;
	strength_policy_init(&p);
	char why[256] = "";
	if (strength_check(&p, user, pw, strlen(pw), why, sizeof why) != 0)
		fail_msg("user '%s' password '%s' refused: %s", user, pw, why);
}

static void test_bot_favourites(void **state)
{
	refused("sam", "sam", "shorter than 10");
	refused("sam", "sam1", "shorter than 10");
	refused("test", "test123", "shorter than 10");
	refused("root", "root", "shorter than 10");
	refused("abuse", "abuse2024", "shorter than 10");
	refused("sales", "Sales2024!", "contains the user name");
	/* long enough, still the name */
	refused("sam", "sam1234567", "contains the user name");
	refused("test", "test123456", "contains the user name");
	refused("root", "Root2024!xyz", "contains the user name");
	refused("abuse", "abuse2024!!", "contains the user name");
	refused("sam@example.com", "Sam@2024_rocks", "contains the user name");
	refused("sam@example.com", "sam@example.com", "is the user name");
	refused("samuel", "leumas-river-99", "user name reversed");
	refused("john.smith@example.com", "Smith-Family-77", "part of the user name");
	refused("info@acmewidgets.com", "acmewidgets#2024", "domain name");
	refused("sales", "s4les-team-77", "contains the user name");
}

static void test_common(void **state)
{
	refused("bob", "password123", "list of common passwords");
	refused("bob", "Password1!", "list of common passwords");
	refused("bob", "Summer2024!", "list of common passwords");
	refused("bob", "Welcome2025!", "list of common passwords");
	refused("bob", "qwertyuiop", "list of common passwords");
	refused("bob", "iloveyou123", "list of common passwords");
	refused("bob", "P@ssw0rd2024", "common password");
	refused("bob", "Dragon!!2024##", "common password with digits or symbols added");
	refused("bob", "correct horse battery staple", "list of common passwords");
	assert_true(strength_is_common("LETMEIN", 7));
	assert_false(strength_is_common("violet-canyon-tractor-47", 24));
	assert_true(strength_common_count() > 5000);
}

static void test_variety(void **state)
{
	refused("bob", "aaaaaaaaaaaa", "too few different characters");
	refused("bob", "abababababab", "too few different characters");
	refused("bob", "1234567890", "common");
	refused("bob", "0987654321", "common");
	refused("bob", "abcxyzabcxyz", "repeats a short pattern");
	refused("bob", "wxyzabcdefgh", "sequence or a keyboard walk");
	refused("bob", "8402751936", "only digits");
	refused("bob", "tractorvein", "one kind of character");
	refused("bob", "", "empty");
	refused("bob", "tab\there-long-enough", "control characters");
}

static void test_accepted(void **state)
{
	accepted("sam", "violet-canyon-tractor-47");
	accepted("sales@example.com", "Orchid lantern basalt");
	accepted("root", "Kx9#mQ2$vL7!");
	accepted(NULL, "plum tractor whistle");
	accepted("bob", "tractorveinsalt");  /* one class but 15 long */
	accepted("bob", "5829103746182930"); /* 16 digits */
	/* two-letter names are not searched inside passwords */
	accepted("al", "always-calm-river-7");
}

static void test_min_length(void **state)
{
	struct strength_policy p;
	strength_policy_init(&p);
	assert_int_equal(p.min_length, 10);
	p.min_length = 20;
	char why[128];
	const char *pw = "violet-canyon-47";
	assert_int_equal(strength_check(&p, "sam", pw, strlen(pw), why, sizeof why), -1);
	assert_string_equal(why, "password is shorter than 20 characters");
	/* length counts characters, not bytes */
	p.min_length = 10;
	const char *utf8 = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9xyz"; /* 8 chars, 13 bytes */
	assert_int_equal(strength_check(&p, "sam", utf8, strlen(utf8), why, sizeof why), -1);
	assert_non_null(strstr(why, "shorter than 10"));
	char big[1100];
	memset(big, 'x', sizeof big);
	assert_int_equal(strength_check(&p, "sam", big, sizeof big, why, sizeof why), -1);
	assert_non_null(strstr(why, "longer than 1024"));
}

static void test_common_file(void **state)
{
	char dir[] = "/tmp/rg-strength-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256], err[256];
	snprintf(path, sizeof path, "%s/list.txt", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("# comment\n\nZebraCrossing77\n", f);
	fclose(f);
	assert_int_equal(strength_common_load(path, err, sizeof err), 0);
	assert_true(strength_is_common("zebracrossing77", 15));
	refused("bob", "ZEBRACROSSING77", "list of common passwords");
	snprintf(path, sizeof path, "%s/missing.txt", dir);
	assert_int_equal(strength_common_load(path, err, sizeof err), -1);
	assert_non_null(strstr(err, "missing.txt"));
	unlink(path);
	snprintf(path, sizeof path, "%s/list.txt", dir);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bot_favourites), cmocka_unit_test(test_common),
	    cmocka_unit_test(test_variety),        cmocka_unit_test(test_accepted),
	    cmocka_unit_test(test_min_length),     cmocka_unit_test(test_common_file),
	};
	return cmocka_run_group_tests_name("strength", tests, strength_setup, strength_teardown);
}
