/*
 * Unit tests for the admin page's modules: admin/series (hourly buckets,
 * window, eviction, IPs and verdicts), admin/session (tokens, expiry, CSRF),
 * admin/form (urlencoded bodies), admin/html (escaping, SVG chart) and
 * admin/blocks (identities, list, audit and unblock on the memory store).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "admin/blocks.h"
#include "admin/form.h"
#include "admin/html.h"
#include "admin/series.h"
#include "admin/session.h"
#include "admin/status.h"
#include "core/str.h"
#include "enginetest.h"

#include <stdio.h>
#include <string.h>

#define H 3600000LL
#define T0 (1793577600000LL) /* 2026-11-02T00:00:00Z */

static void test_series_hours(void **state)
{
	struct series *s = series_new();
	uint32_t v[SERIES_HOURS];
	assert_int_equal(series_record(s, T0, "", "1.2.3.4", 1, "allow", "", ""), -1);
	for (int i = 0; i < 5; i++)
		assert_int_equal(
		    series_record(s, T0 + 10 * 60000, "user:a@x", "192.0.2.1", 1, "allow", "", ""),
		    0);
	series_record(s, T0 + 2 * H, "user:a@x", "192.0.2.2", 3, "hold", "compromise", "score 60");
	series_record(s, T0 + 2 * H, "user:b@x", "192.0.2.9", 1, "allow", "", "");
	/* a block check that counted nothing and allowed: no news */
	series_record(s, T0 + 2 * H, "user:c@x", "192.0.2.9", 0, "allow", "", "");
	assert_int_equal(series_hours(s, "user:a@x", T0 + 2 * H, v, 3), 8);
	assert_int_equal(v[0], 5);
	assert_int_equal(v[1], 0);
	assert_int_equal(v[2], 3);
	assert_int_equal(series_hours(s, NULL, T0 + 2 * H, v, 3), 9);
	assert_int_equal(series_hours(s, "user:c@x", T0 + 2 * H, v, 3), 0);
	/* 7 days later the first hour has left the window; the last one has not */
	assert_int_equal(
	    series_hours(s, "user:a@x", T0 + 2 * H + (SERIES_HOURS - 1) * H, v, SERIES_HOURS), 3);
	assert_int_equal(
	    series_hours(s, "user:a@x", T0 + 3 * H + (SERIES_HOURS - 1) * H, v, SERIES_HOURS), 0);
	/* a late report older than the window is dropped, not counted */
	series_record(s, T0 + 400 * H, "user:a@x", "", 1, "allow", "", "");
	series_record(s, T0, "user:a@x", "", 50, "allow", "", "");
	assert_int_equal(series_hours(s, "user:a@x", T0 + 400 * H, v, SERIES_HOURS), 1);
	struct series_ip ips[SERIES_IPS];
	struct series_verdict vs[SERIES_VERDICTS];
	size_t ni, nv;
	series_details(s, "user:a@x", ips, &ni, vs, &nv);
	assert_int_equal(ni, 2);
	assert_string_equal(ips[0].ip, "192.0.2.2");
	assert_string_equal(ips[1].ip, "192.0.2.1");
	assert_int_equal(ips[1].count, 5);
	assert_int_equal(nv, 1); /* allows are not kept as verdicts */
	assert_string_equal(vs[0].action, "hold");
	assert_string_equal(vs[0].reason, "score 60");
	char names[4][SERIES_IDENT_MAX];
	assert_int_equal(series_identities(s, names, 4), 2);
	assert_string_equal(names[0], "user:a@x");
	series_free(s);
}

static void test_series_bounds(void **state)
{
	struct series *s = series_new();
	char id[64], ip[64];
	for (int i = 0; i < SERIES_IDENTS + 10; i++) {
		snprintf(id, sizeof id, "ip:10.0.%d.%d", i / 256, i % 256);
		series_record(s, T0 + i, id, "", 1, "allow", "", "");
	}
	uint32_t v[1];
	/* the least recently seen made room */
	assert_int_equal(series_hours(s, "ip:10.0.0.0", T0 + SERIES_IDENTS + 10, v, 1), 0);
	assert_int_equal(series_hours(s, id, T0 + SERIES_IDENTS + 10, v, 1), 1);
	assert_int_equal(series_hours(s, NULL, T0 + SERIES_IDENTS + 10, v, 1), SERIES_IDENTS + 10);
	for (int i = 0; i < 30; i++) {
		snprintf(ip, sizeof ip, "192.0.2.%d", i);
		series_record(s, T0 + H + i, "user:z@x", ip, 1, "defer", "rate", "too many");
	}
	struct series_ip ips[SERIES_IPS];
	struct series_verdict vs[SERIES_VERDICTS];
	size_t ni, nv;
	series_details(s, "user:z@x", ips, &ni, vs, &nv);
	assert_int_equal(ni, SERIES_IPS);
	assert_string_equal(ips[0].ip, "192.0.2.29");
	assert_int_equal(nv, SERIES_VERDICTS);
	assert_true(vs[0].time_ms > vs[1].time_ms);
	series_free(s);
}

static void test_session(void **state)
{
	static struct sessions ss;
	session_init(&ss, 30 * 60000, 12 * H);
	const struct session *s = session_create(&ss, "boss", T0);
	char id[SESSION_TOKEN_LEN + 1], csrf[SESSION_TOKEN_LEN + 1];
	assert_int_equal(str_copy(id, sizeof id, s->id), 0);
	assert_int_equal(str_copy(csrf, sizeof csrf, s->csrf), 0);
	assert_int_equal(strlen(id), SESSION_TOKEN_LEN);
	assert_string_not_equal(id, csrf);
	assert_non_null(session_find(&ss, id, T0 + 20 * 60000));
	assert_non_null(session_find(&ss, id, T0 + 40 * 60000)); /* idle time restarts */
	assert_null(session_find(&ss, id, T0 + 80 * 60000));     /* idle too long */
	assert_null(session_find(&ss, id, T0 + 80 * 60000));
	s = session_create(&ss, "boss", T0);
	assert_int_equal(str_copy(id, sizeof id, s->id), 0);
	for (int i = 1; i < 13 * 2; i++)
		session_find(&ss, id, T0 + i * 25 * 60000);
	assert_null(session_find(&ss, id, T0 + 12 * H + 1)); /* absolute limit */
	s = session_create(&ss, "boss", T0);
	assert_true(session_csrf_ok(s, s->csrf));
	assert_false(session_csrf_ok(s, NULL));
	assert_false(session_csrf_ok(s, ""));
	assert_false(session_csrf_ok(s, id));
	assert_false(session_csrf_ok(NULL, s->csrf));
	assert_int_equal(str_copy(id, sizeof id, s->id), 0);
	id[5] ^= 1;
	assert_null(session_find(&ss, id, T0));
	assert_null(session_find(&ss, "short", T0));
	assert_null(session_find(&ss, NULL, T0));
	id[5] ^= 1;
	session_end(&ss, id);
	assert_null(session_find(&ss, id, T0));
	/* full: the oldest goes */
	const struct session *first = session_create(&ss, "a", T0);
	assert_int_equal(str_copy(id, sizeof id, first->id), 0);
	for (int i = 0; i < SESSION_MAX; i++)
		session_create(&ss, "b", T0 + 1 + i);
	assert_null(session_find(&ss, id, T0 + 100));
}

static void test_form(void **state)
{
	const char *body = "csrf=ab&user=sam%40corp.test&password=a+b%21&empty=&flag&x=%zz&y=%4";
	char out[32];
	assert_int_equal(form_get(body, strlen(body), "user", out, sizeof out), 1);
	assert_string_equal(out, "sam@corp.test");
	assert_int_equal(form_get(body, strlen(body), "password", out, sizeof out), 1);
	assert_string_equal(out, "a b!");
	assert_int_equal(form_get(body, strlen(body), "empty", out, sizeof out), 1);
	assert_string_equal(out, "");
	assert_int_equal(form_get(body, strlen(body), "flag", out, sizeof out), 1);
	assert_int_equal(form_get(body, strlen(body), "nope", out, sizeof out), 0);
	assert_int_equal(form_get(body, strlen(body), "x", out, sizeof out), -1);
	assert_int_equal(form_get(body, strlen(body), "y", out, sizeof out), -1);
	assert_int_equal(form_get("a=%00", 5, "a", out, sizeof out), -1);
	assert_int_equal(form_get("a=%1b", 5, "a", out, sizeof out), -1);
	assert_int_equal(form_get("a=123456", 8, "a", out, 4), -1);
	assert_int_equal(form_get("a=123", 8 - 3, "a", out, 4), 1);
	/* length-bounded: no NUL needed, nothing read past len */
	assert_int_equal(form_get("user=abcdef", 7, "user", out, sizeof out), 1);
	assert_string_equal(out, "ab");
	char enc[64];
	assert_int_equal(form_encode("user:sam@corp.test a/b", enc, sizeof enc), 0);
	assert_string_equal(enc, "user%3Asam%40corp.test%20a%2Fb");
	assert_int_equal(form_encode("abc", enc, 3), -1);
}

static void test_html(void **state)
{
	struct buf b;
	buf_init(&b, 1 << 16);
	assert_int_equal(html_text(&b, "<a href=\"x\">Tom & 'Jerry'</a>"), 0);
	assert_string_equal(buf_cstr(&b),
	                    "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
	buf_reset(&b);
	assert_int_equal(html_text(&b, NULL), 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(html_textf(&b, "%d<%s", 5, "b"), 0);
	assert_string_equal(buf_cstr(&b), "5&lt;b");
	buf_reset(&b);
	uint32_t v[24] = {0};
	v[23] = 12;
	v[3] = 1;
	assert_int_equal(html_bar_chart(&b, v, 24, "per <hour>", T0, H, 3), 0);
	const char *svg = buf_cstr(&b);
	assert_non_null(strstr(svg, "<svg"));
	assert_non_null(strstr(svg, "per &lt;hour&gt; (total 13, peak 12 per hour)"));
	assert_non_null(strstr(svg, ">20</text>")); /* axis rounded up to 20 */
	assert_non_null(strstr(svg, ">00:00</text>"));
	assert_non_null(strstr(svg, ">21:00</text>"));
	assert_null(strstr(svg, ">01:00</text>"));
	int bars = 0;
	for (const char *p = svg; (p = strstr(p, "class=\"bar\"")); p++)
		bars++;
	assert_int_equal(bars, 2);
	assert_non_null(strstr(svg, "</svg>"));
	/* a week at one bar per hour, labelled at midnights */
	uint32_t w[SERIES_HOURS] = {0};
	buf_reset(&b);
	assert_int_equal(html_bar_chart(&b, w, SERIES_HOURS, "week", T0 + 5 * H, H, 24), 0);
	assert_non_null(strstr(buf_cstr(&b), ">11-03</text>"));
	assert_null(strstr(buf_cstr(&b), ">11-02</text>"));
	/* a full buffer fails cleanly */
	struct buf small;
	buf_init(&small, 64);
	assert_int_equal(html_bar_chart(&small, w, SERIES_HOURS, "week", T0, H, 24), -1);
	buf_free(&small);
	buf_free(&b);
}

static void test_blocks(void **state)
{
	char out[POL_IDENT_MAX];
	assert_int_equal(blocks_identity("sam@corp.test", out, sizeof out), 0);
	assert_string_equal(out, "user:sam@corp.test");
	assert_int_equal(blocks_identity("192.0.2.7", out, sizeof out), 0);
	assert_string_equal(out, "ip:192.0.2.7");
	assert_int_equal(blocks_identity("198.51.100.0/24", out, sizeof out), 0);
	assert_string_equal(out, "cidr:198.51.100.0/24");
	assert_int_equal(blocks_identity("domain:corp.test", out, sizeof out), 0);
	assert_int_equal(blocks_identity("a b", out, sizeof out), -1);
	assert_int_equal(blocks_identity("", out, sizeof out), -1);
	struct pol_config *pc;
	struct store *st;
	struct pol_engine *e = enginetest_new(&pc, &st);
	assert_int_equal(pol_engine_block(e, "user:Sam@Corp.test", "tester", "guessed", T0, 0), 0);
	json_t *l = blocks_list(st);
	assert_int_equal(json_array_size(json_object_get(l, "blocks")), 1);
	json_t *b0 = json_array_get(json_object_get(l, "blocks"), 0);
	assert_string_equal(json_string_value(json_object_get(b0, "identity")),
	                    "user:sam@corp.test");
	assert_true(json_is_null(json_object_get(b0, "expires")));
	json_decref(l);
	json_t *s = status_json(st, pc, NULL, T0);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(s, "blocks"), "active")), 1);
	assert_true(json_is_null(json_object_get(s, "queue")));
	json_decref(s);
	char norm[POL_IDENT_MAX];
	assert_int_equal(blocks_unblock(e, "a b", "t", "r", T0, norm, sizeof norm),
	                 BLOCKS_BAD_IDENTITY);
	assert_int_equal(
	    blocks_unblock(e, "SAM@corp.test", "web:boss", "fixed", T0 + 1, norm, sizeof norm),
	    BLOCKS_LIFTED);
	assert_string_equal(norm, "user:sam@corp.test");
	assert_int_equal(
	    blocks_unblock(e, "sam@corp.test", "web:boss", "again", T0 + 2, norm, sizeof norm),
	    BLOCKS_NOT_BLOCKED);
	json_t *j = blocks_unblock_json(norm, BLOCKS_LIFTED);
	assert_string_equal(json_string_value(json_object_get(j, "result")), "unblocked");
	json_decref(j);
	json_t *a = blocks_audit(st, "user:sam@corp.test");
	assert_int_equal(json_array_size(a), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 1), "actor")),
	                    "web:boss");
	json_decref(a);
	a = blocks_audit(st, "user:nobody@corp.test");
	assert_int_equal(json_array_size(a), 0);
	json_decref(a);
	enginetest_free(e, pc, st);
}

/* holds.by_reason groups by the rule a hold reason names */
static void test_hold_rule(void **state)
{
	char r[64];
	status_hold_rule("policy autoreply_repeat: 2nd auto-reply to x@y", r, sizeof r);
	assert_string_equal(r, "autoreply_repeat");
	status_hold_rule("policy forward_spam: spam forwarded", r, sizeof r);
	assert_string_equal(r, "forward_spam");
	status_hold_rule("DSN to an unverified sender (no backscatter)", r, sizeof r);
	assert_string_equal(r, "dsn_unverified");
	status_hold_rule("held by admin", r, sizeof r);
	assert_string_equal(r, "manual");
	status_hold_rule("policy no colon here", r, sizeof r);
	assert_string_equal(r, "manual");
	status_hold_rule("policy averyveryveryverylongrulename: x", r, 8);
	assert_string_equal(r, "manual");
	status_hold_rule("", r, sizeof r);
	assert_string_equal(r, "manual");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_series_hours), cmocka_unit_test(test_series_bounds),
	    cmocka_unit_test(test_session),      cmocka_unit_test(test_form),
	    cmocka_unit_test(test_html),         cmocka_unit_test(test_blocks),
	    cmocka_unit_test(test_hold_rule),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
