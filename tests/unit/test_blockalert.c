/*
 * blockalert: a flood of blocks is one alert at once plus one digest per
 * interval, in virtual time (core/clock's fake clock; nothing sleeps).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "admin/blockalert.h"
#include "core/clock.h"
#include "core/str.h"
#include "gateway/gwalert.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define T0 1793577600000LL /* 2026-11-02T00:00:00Z */

static struct pol_verdict verdict(int i)
{
	struct pol_verdict v;
	memset(&v, 0, sizeof v);
	v.action = POL_BLOCK;
	v.block_created = true;
	v.score = 90 + i;
	assert_int_equal(str_format(v.identity, sizeof v.identity, "user:u%d@example.org", i), 0);
	assert_int_equal(str_copy(v.rule, sizeof v.rule, "compromise"), 0);
	assert_int_equal(str_copy(v.reasons[0], sizeof v.reasons[0], "logins from 37 IPs"), 0);
	assert_int_equal(str_copy(v.reasons[1], sizeof v.reasons[1], "active 24 of 24 h"), 0);
	v.n_reasons = 2;
	v.block_expires_ms = clock_realtime_ms() + 3600000;
	return v;
}

static json_t *parse(char *text)
{
	assert_non_null(text);
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);
	free(text);
	assert_non_null(j);
	return j;
}

static const char *str(json_t *j, const char *k)
{
	return json_string_value(json_object_get(j, k));
}

static long long num(json_t *j, const char *k)
{
	return json_integer_value(json_object_get(j, k));
}

static void test_flood_is_one_alert_then_digests(void **state)
{
	clock_fake_set(T0, 1000);
	struct blockalert *b = blockalert_new(60000, "mx1.example.org");
	assert_non_null(b);

	/* the first block: at once, with its evidence */
	struct pol_verdict v = verdict(0);
	json_t *j = parse(blockalert_add(b, &v, "198.51.100.7", clock_realtime_ms()));
	assert_string_equal(str(j, "event"), "block");
	assert_string_equal(str(j, "node"), "mx1.example.org");
	assert_string_equal(str(j, "time"), "2026-11-02T00:00:00Z");
	assert_int_equal(num(j, "count"), 1);
	json_t *b0 = json_array_get(json_object_get(j, "blocks"), 0);
	assert_string_equal(str(b0, "identity"), "user:u0@example.org");
	assert_string_equal(str(b0, "client_ip"), "198.51.100.7");
	assert_string_equal(str(b0, "expires"), "2026-11-02T01:00:00Z");
	assert_string_equal(json_string_value(json_array_get(json_object_get(b0, "reasons"), 1)),
	                    "active 24 of 24 h");
	json_decref(j);

	/* 300 more within the minute: nothing now */
	for (int i = 1; i <= 300; i++) {
		clock_fake_advance(100);
		v = verdict(i);
		assert_null(blockalert_add(b, &v, NULL, clock_realtime_ms()));
		assert_null(blockalert_due(b, clock_realtime_ms()));
	}
	assert_int_equal(blockalert_pending(b), 300);
	/* one digest a minute after the first alert, listing 20 of them */
	clock_fake_set(T0 + 59999, 0);
	assert_null(blockalert_due(b, clock_realtime_ms()));
	clock_fake_advance(1);
	j = parse(blockalert_due(b, clock_realtime_ms()));
	assert_string_equal(str(j, "event"), "block_digest");
	assert_int_equal(num(j, "count"), 300);
	assert_int_equal(num(j, "omitted"), 280);
	assert_int_equal(json_array_size(json_object_get(j, "blocks")), BLOCKALERT_LIST_MAX);
	assert_string_equal(str(j, "since"), "2026-11-02T00:00:00.100Z");
	json_decref(j);
	assert_int_equal(blockalert_pending(b), 0);
	assert_null(blockalert_due(b, clock_realtime_ms() + 120000)); /* nothing left */

	/* a block 30 s after the digest waits for the next one */
	clock_fake_advance(30000);
	v = verdict(400);
	assert_null(blockalert_add(b, &v, NULL, clock_realtime_ms()));
	clock_fake_advance(29999);
	assert_null(blockalert_due(b, clock_realtime_ms()));
	clock_fake_advance(1);
	j = parse(blockalert_due(b, clock_realtime_ms()));
	assert_string_equal(str(j, "event"), "block_digest");
	assert_int_equal(num(j, "count"), 1);
	assert_int_equal(num(j, "omitted"), 0);
	json_decref(j);

	/* after a quiet interval the next block is told at once again */
	clock_fake_advance(5 * 60000);
	v = verdict(500);
	j = parse(blockalert_add(b, &v, NULL, clock_realtime_ms()));
	assert_string_equal(str(j, "event"), "block");
	assert_true(json_is_null(
	    json_object_get(json_array_get(json_object_get(j, "blocks"), 0), "client_ip")));
	json_decref(j);
	blockalert_free(b);
	clock_use_system();
}

/* The alert as mail (gwalert_mail_render): RFC 5322 headers, CRLF only,
 * every block and reason in the body, control characters never in it. */
static void test_alert_as_mail(void **state)
{
	clock_fake_set(T0, 1000);
	struct blockalert *b = blockalert_new(60000, "mx1.example.org");
	struct pol_verdict v = verdict(1);
	assert_int_equal(str_copy(v.reasons[1], sizeof v.reasons[1], "evil\r\nBcc: x@y"), 0);
	char *json = blockalert_add(b, &v, "198.51.100.7", T0);
	assert_non_null(json);
	const char to[2][320] = {"admin@example.org", "ops@example.org"};
	char *m = gwalert_mail_render(json, "postmaster@mx1.example.org", to, 2, T0, "ABC.alert1");
	assert_non_null(m);
	const char *want[] = {
	    "Date: Mon, 02 Nov 2026 00:00:00 +0000\r\n",
	    "From: relayguard <postmaster@mx1.example.org>\r\n",
	    "To: <admin@example.org>,\r\n    <ops@example.org>\r\n",
	    "Subject: relayguard: 1 block\r\n",
	    "Message-ID: <ABC.alert1@mx1.example.org>\r\n",
	    "Auto-Submitted: auto-generated\r\n",
	    "\r\n\r\nrelayguard on mx1.example.org blocked 1 sender:\r\n",
	    "\r\nuser:u1@example.org\r\n  rule: compromise, score 91\r\n",
	    "  client IP: 198.51.100.7\r\n",
	    "  - logins from 37 IPs\r\n",
	    "  - evil??Bcc: x@y\r\n",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		if (!strstr(m, want[i]))
			fail_msg("missing \"%s\" in:\n%s", want[i], m);
	assert_int_equal(strncmp(m, "Date: ", 6), 0);
	for (const char *p = m; *p; p++)
		if (*p == '\n')
			assert_true(p > m && p[-1] == '\r');
		else if (*p == '\r')
			assert_int_equal(p[1], '\n');
	free(m);
	free(json);
	/* A digest: the count in the subject. */
	for (int i = 2; i < 5; i++) {
		v = verdict(i);
		assert_null(blockalert_add(b, &v, NULL, T0 + 1000 * i));
	}
	json = blockalert_due(b, T0 + 60000);
	assert_non_null(json);
	m = gwalert_mail_render(json, "a@b", to, 1, T0 + 60000, "X");
	assert_non_null(m);
	assert_non_null(strstr(m, "Subject: relayguard: 3 blocks\r\n"));
	assert_non_null(strstr(m, "To: <admin@example.org>\r\n"));
	assert_non_null(strstr(m, "user:u4@example.org"));
	free(m);
	free(json);
	/* Not JSON, or nobody to tell: nothing. */
	assert_null(gwalert_mail_render("{", "a@b", to, 1, T0, "X"));
	assert_null(gwalert_mail_render("{}", "a@b", to, 0, T0, "X"));
	blockalert_free(b);
	clock_use_system();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_flood_is_one_alert_then_digests),
	    cmocka_unit_test(test_alert_as_mail),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
