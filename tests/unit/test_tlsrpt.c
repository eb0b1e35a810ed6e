/*
 * Unit tests for src/gateway/tlsrpt: the RFC 8460 §4 report of one day per
 * policy domain (fields, counts, distinct failures), the one-minute write
 * delay, and a change of day that writes the old day and starts afresh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/clock.h"
#include "core/str.h"
#include "gateway/tlsrpt.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DAY0 1796515200000LL /* 2026-12-06T00:00:00Z */

static json_t *load(const char *dir, const char *day, const char *domain)
{
	char p[512];
	json_error_t je;
	assert_int_equal(str_format(p, sizeof p, "%s/tls-rpt/%s/%s.json", dir, day, domain), 0);
	return json_load_file(p, 0, &je);
}

static void test_report(void **state)
{
	char dir[] = "/tmp/rg-tlsrpt-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct mtasts_policy p;
	const char *text = "version: STSv1\nmode: enforce\nmx: mx.example.net\nmax_age: 600\n";
	assert_int_equal(mtasts_parse_policy(text, strlen(text), &p, NULL, 0), 0);
	clock_fake_set(DAY0 + 3600000, 1);
	struct tlsrpt *t = tlsrpt_new(dir, "gw.example.org", "postmaster@gw.example.org");
	assert_non_null(t);
	int64_t now = DAY0 + 3600000;
	tlsrpt_success(t, "example.net", &p, now); /* first write at once */
	json_t *r = load(dir, "2026-12-06", "example.net");
	assert_non_null(r);
	json_decref(r);
	tlsrpt_success(t, "example.net", &p, now + 1000);
	tlsrpt_failure(t, "example.net", &p, "validation-failure", "evil.example.net", "192.0.2.9",
	               now + 2000);
	tlsrpt_failure(t, "example.net", &p, "validation-failure", "evil.example.net", "192.0.2.9",
	               now + 3000);
	tlsrpt_failure(t, "example.net", &p, "certificate-host-mismatch", "mx.example.net",
	               "192.0.2.10", now + 4000);
	/* within the minute: the file still has the first count */
	r = load(dir, "2026-12-06", "example.net");
	json_t *sum = json_object_get(json_array_get(json_object_get(r, "policies"), 0), "summary");
	assert_int_equal(json_integer_value(json_object_get(sum, "total-successful-session-count")),
	                 1);
	json_decref(r);
	assert_int_equal(tlsrpt_flush(t, now + 61000, false), 0);
	r = load(dir, "2026-12-06", "example.net");
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "organization-name")),
	                    "gw.example.org");
	json_t *dr = json_object_get(r, "date-range");
	assert_string_equal(json_string_value(json_object_get(dr, "start-datetime")),
	                    "2026-12-06T00:00:00Z");
	assert_string_equal(json_string_value(json_object_get(dr, "end-datetime")),
	                    "2026-12-06T23:59:59Z");
	json_t *pol = json_array_get(json_object_get(r, "policies"), 0);
	json_t *po = json_object_get(pol, "policy");
	assert_string_equal(json_string_value(json_object_get(po, "policy-type")), "sts");
	assert_string_equal(json_string_value(json_object_get(po, "policy-domain")), "example.net");
	assert_int_equal(json_array_size(json_object_get(po, "policy-string")), 4);
	sum = json_object_get(pol, "summary");
	assert_int_equal(json_integer_value(json_object_get(sum, "total-successful-session-count")),
	                 2);
	assert_int_equal(json_integer_value(json_object_get(sum, "total-failure-session-count")),
	                 3);
	json_t *fd = json_object_get(pol, "failure-details");
	assert_int_equal(json_array_size(fd), 2);
	json_t *f0 = json_array_get(fd, 0);
	assert_string_equal(json_string_value(json_object_get(f0, "result-type")),
	                    "validation-failure");
	assert_int_equal(json_integer_value(json_object_get(f0, "failed-session-count")), 2);
	assert_string_equal(json_string_value(json_object_get(f0, "receiving-ip")), "192.0.2.9");
	json_decref(r);
	/* the next day: a new file, the old one keeps its day */
	tlsrpt_success(t, "example.net", &p, DAY0 + 86400000 + 5);
	tlsrpt_free(t);
	r = load(dir, "2026-12-07", "example.net");
	sum = json_object_get(json_array_get(json_object_get(r, "policies"), 0), "summary");
	assert_int_equal(json_integer_value(json_object_get(sum, "total-successful-session-count")),
	                 1);
	assert_int_equal(json_integer_value(json_object_get(sum, "total-failure-session-count")),
	                 0);
	json_decref(r);
	r = load(dir, "2026-12-06", "example.net");
	sum = json_object_get(json_array_get(json_object_get(r, "policies"), 0), "summary");
	assert_int_equal(json_integer_value(json_object_get(sum, "total-failure-session-count")),
	                 3);
	json_decref(r);
	char cmd[128];
	assert_int_equal(str_format(cmd, sizeof cmd, "rm -rf %s", dir), 0);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_report),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
