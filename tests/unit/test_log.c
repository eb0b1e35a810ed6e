/*
 * Unit tests for src/core/log: the journal's <N> priority prefixes when
 * stderr is the stream JOURNAL_STREAM names, plain stamped lines otherwise,
 * and the gateway's one log destination ([gateway] log, syslog = yes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/log.h"
#include "core/str.h"
#include "gateway/gwconf.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Runs the log calls with stderr on a fresh file; returns what was written. */
static void log_capture(const char *journal_stream, bool match, char *out, size_t outlen)
{
	char path[] = "/tmp/rg-test-log-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	fflush(stderr);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	struct stat st;
	assert_int_equal(fstat(2, &st), 0);
	char js[64];
	if (journal_stream) {
		assert_int_equal(str_copy(js, sizeof js, journal_stream), 0);
	} else {
		assert_int_equal(str_format(js, sizeof js, "%llu:%llu",
		                            (unsigned long long)st.st_dev,
		                            (unsigned long long)st.st_ino + (match ? 0 : 1)),
		                 0);
	}
	setenv("JOURNAL_STREAM", js, 1);
	log_open("rgtest", true, false, LOG_LEVEL_DEBUG);
	log_error("e %d", 1);
	log_warn("w");
	log_info("i");
	log_debug("d");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	unsetenv("JOURNAL_STREAM");
	log_open("rgtest", true, false, LOG_LEVEL_INFO);
	ssize_t n = pread(fd, out, outlen - 1, 0);
	close(fd);
	assert_true(n > 0);
	out[n] = '\0';
}

static void test_journal_prefixes(void **state)
{
	char out[1024];
	log_capture(NULL, true, out, sizeof out);
	assert_string_equal(out, "<3>rgtest[error]: e 1\n"
	                         "<4>rgtest[warning]: w\n"
	                         "<6>rgtest[info]: i\n"
	                         "<7>rgtest[debug]: d\n");
}

static void test_not_the_journal(void **state)
{
	char out[1024];
	/* JOURNAL_STREAM from a parent whose stderr was the journal; ours is a file. */
	log_capture(NULL, false, out, sizeof out);
	assert_null(strstr(out, "<3>"));
	assert_non_null(strstr(out, " rgtest[error]: e 1\n"));
	assert_non_null(strstr(out, " rgtest[warning]: w\n"));
	log_capture("garbage", false, out, sizeof out);
	assert_null(strstr(out, "<4>"));
	assert_non_null(strstr(out, " rgtest[warning]: w\n"));
}

static int load(const char *text, struct gw_config *c, char *err, size_t errlen)
{
	char path[] = "/tmp/rg-test-logconf-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	int rc = gwconf_load(c, path, err, errlen);
	unlink(path);
	return rc;
}

static void test_one_destination(void **state)
{
	static struct gw_config c;
	char err[512];
	assert_int_equal(load("[gateway]\n", &c, err, sizeof err), 0);
	assert_string_equal(c.log_dest, "stderr");
	assert_false(c.syslog);
	gwconf_free(&c);
	assert_int_equal(load("[gateway]\nlog = syslog\n", &c, err, sizeof err), 0);
	assert_true(c.syslog);
	gwconf_free(&c);
	/* the older name */
	assert_int_equal(load("[gateway]\nsyslog = yes\n", &c, err, sizeof err), 0);
	assert_string_equal(c.log_dest, "syslog");
	assert_true(c.syslog);
	gwconf_free(&c);
	assert_int_equal(load("[gateway]\nsyslog = yes\nlog = syslog\n", &c, err, sizeof err), 0);
	gwconf_free(&c);
	assert_int_equal(load("[gateway]\nsyslog = yes\nlog = stderr\n", &c, err, sizeof err), -1);
	assert_non_null(strstr(err, "disagree"));
	assert_int_equal(load("[gateway]\nlog = both\n", &c, err, sizeof err), -1);
	assert_non_null(strstr(err, "expected stderr or syslog"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_journal_prefixes),
	    cmocka_unit_test(test_not_the_journal),
	    cmocka_unit_test(test_one_destination),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
