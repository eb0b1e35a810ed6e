/*
 * Unit tests for src/admin/metrics: registration rules, updates, and the
 * exact Prometheus text rendering.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "admin/metrics.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void test_register_rules(void **state)
{
	struct metrics *m = metrics_new();
	assert_non_null(metrics_register(m, METRIC_COUNTER, "rg_a_total", "a", NULL, NULL, 0));
	assert_null(metrics_register(m, METRIC_COUNTER, "rg_a_total", "dup", NULL, NULL, 0));
	assert_null(metrics_register(m, METRIC_COUNTER, "1bad", "x", NULL, NULL, 0));
	assert_null(metrics_register(m, METRIC_COUNTER, "bad-name", "x", NULL, NULL, 0));
	assert_null(metrics_register(m, METRIC_COUNTER, "rg_b", "x", "le", NULL, 0));
	assert_null(metrics_register(m, METRIC_COUNTER, "rg_b", "x", "__x", NULL, 0));
	assert_null(metrics_register(m, METRIC_COUNTER, "rg_b", "x", "a,b,c,d,e", NULL, 0));
	assert_null(metrics_register(m, METRIC_HISTOGRAM, "rg_h", "x", NULL, NULL, 0));
	static const double unsorted[] = {1, 0.5};
	assert_null(metrics_register(m, METRIC_HISTOGRAM, "rg_h", "x", NULL, unsorted, 2));
	struct metric *c =
	    metrics_register(m, METRIC_COUNTER, "rg_c_total", "c", "reason", NULL, 0);
	assert_non_null(c);
	assert_int_equal(metric_add(c, (const char *[]){"x"}, -1), -1);
	assert_int_equal(metric_add(c, (const char *[]){"x"}, NAN), -1);
	assert_int_equal(metric_set(c, (const char *[]){"x"}, 1), -1);
	assert_int_equal(metric_observe(c, (const char *[]){"x"}, 1), -1);
	char v[16];
	for (int i = 0; i < METRICS_MAX_SERIES; i++) {
		snprintf(v, sizeof v, "%d", i);
		assert_int_equal(metric_add(c, (const char *[]){v}, 1), 0);
	}
	assert_int_equal(metric_add(c, (const char *[]){"one too many"}, 1), -1);
	assert_int_equal(metric_add(c, (const char *[]){"7"}, 2), 0);
	assert_true(metric_get(c, (const char *[]){"7"}) == 3);
	assert_true(metric_get(c, (const char *[]){"nope"}) == 0);
	metrics_free(m);
}

static void test_render(void **state)
{
	struct metrics *m = metrics_new();
	struct metric *rcv =
	    metrics_register(m, METRIC_COUNTER, "relayguard_messages_received_total",
	                     "Messages accepted into the queue.", "listener", NULL, 0);
	struct metric *q = metrics_register(m, METRIC_GAUGE, "relayguard_queue_messages",
	                                    "Messages in the queue.", NULL, NULL, 0);
	static const double b[] = {0.005, 0.1, 1};
	struct metric *lat = metrics_register(m, METRIC_HISTOGRAM, "relayguard_commit_seconds",
	                                      "Time to make a message durable.", NULL, b, 3);
	struct metric *lst =
	    metrics_register(m, METRIC_GAUGE, "relayguard_dnsbl_listed",
	                     "1 when the IP is listed on the zone.", "ip,zone", NULL, 0);
	assert_int_equal(metric_add(rcv, (const char *[]){"submission"}, 3), 0);
	assert_int_equal(metric_add(rcv, (const char *[]){"relay"}, 1), 0);
	assert_int_equal(metric_set(q, NULL, 12), 0);
	assert_int_equal(metric_observe(lat, NULL, 0.002), 0);
	assert_int_equal(metric_observe(lat, NULL, 0.05), 0);
	assert_int_equal(metric_observe(lat, NULL, 3), 0);
	assert_int_equal(metric_set(lst, (const char *[]){"203.0.113.5", "a\"b\\c\nd"}, 1), 0);
	struct buf out;
	buf_init(&out, 1 << 16);
	assert_int_equal(metrics_render(m, &out), 0);
	assert_string_equal(
	    buf_cstr(&out),
	    "# HELP relayguard_messages_received_total Messages accepted into the queue.\n"
	    "# TYPE relayguard_messages_received_total counter\n"
	    "relayguard_messages_received_total{listener=\"submission\"} 3\n"
	    "relayguard_messages_received_total{listener=\"relay\"} 1\n"
	    "# HELP relayguard_queue_messages Messages in the queue.\n"
	    "# TYPE relayguard_queue_messages gauge\n"
	    "relayguard_queue_messages 12\n"
	    "# HELP relayguard_commit_seconds Time to make a message durable.\n"
	    "# TYPE relayguard_commit_seconds histogram\n"
	    "relayguard_commit_seconds_bucket{le=\"0.005\"} 1\n"
	    "relayguard_commit_seconds_bucket{le=\"0.1\"} 2\n"
	    "relayguard_commit_seconds_bucket{le=\"1\"} 2\n"
	    "relayguard_commit_seconds_bucket{le=\"+Inf\"} 3\n"
	    "relayguard_commit_seconds_sum 3.052\n"
	    "relayguard_commit_seconds_count 3\n"
	    "# HELP relayguard_dnsbl_listed 1 when the IP is listed on the zone.\n"
	    "# TYPE relayguard_dnsbl_listed gauge\n"
	    "relayguard_dnsbl_listed{ip=\"203.0.113.5\",zone=\"a\\\"b\\\\c\\nd\"} 1\n");
	buf_free(&out);
	buf_init(&out, 64);
	assert_int_equal(metrics_render(m, &out), -1);
	buf_free(&out);
	metrics_free(m);
}

static void test_empty_series(void **state)
{
	struct metrics *m = metrics_new();
	static const double b[] = {1};
	metrics_register(m, METRIC_COUNTER, "rg_plain_total", "no labels", NULL, NULL, 0);
	metrics_register(m, METRIC_COUNTER, "rg_labelled_total", "labels", "x", NULL, 0);
	metrics_register(m, METRIC_HISTOGRAM, "rg_h_seconds", "h", NULL, b, 1);
	struct buf out;
	buf_init(&out, 4096);
	assert_int_equal(metrics_render(m, &out), 0);
	assert_string_equal(buf_cstr(&out), "# HELP rg_plain_total no labels\n"
	                                    "# TYPE rg_plain_total counter\n"
	                                    "rg_plain_total 0\n"
	                                    "# HELP rg_labelled_total labels\n"
	                                    "# TYPE rg_labelled_total counter\n"
	                                    "# HELP rg_h_seconds h\n"
	                                    "# TYPE rg_h_seconds histogram\n"
	                                    "rg_h_seconds_bucket{le=\"1\"} 0\n"
	                                    "rg_h_seconds_bucket{le=\"+Inf\"} 0\n"
	                                    "rg_h_seconds_sum 0\n"
	                                    "rg_h_seconds_count 0\n");
	buf_free(&out);
	metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_register_rules),
	    cmocka_unit_test(test_render),
	    cmocka_unit_test(test_empty_series),
	};
	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
