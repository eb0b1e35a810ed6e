/*
 * Unit tests for src/gateway/scan: rspamd's /checkv2 JSON reply (the fields
 * the gateway acts on, hostile and broken replies), the metric labels, and
 * the client against a closed port (the message passes: an error result).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/scan.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int parse(const char *json, struct scan_result *r)
{
	return scan_parse_reply(json, strlen(json), r);
}

static void test_reply_reject(void **state)
{
	struct scan_result r;
	assert_int_equal(
	    parse(
	        "{\"is_skipped\":true,\"score\":15.0,\"required_score\":15.0,\"action\":\"reject\","
	        "\"symbols\":{\"GTUBE\":{\"name\":\"GTUBE\",\"score\":0.0}},"
	        "\"messages\":{\"smtp_message\":\"Gtube pattern\"},\"message-id\":\"undef\"}",
	        &r),
	    0);
	assert_int_equal(r.status, SCAN_DONE);
	assert_int_equal(r.action, SCAN_REJECT);
	assert_true(r.score == 15.0 && r.required_score == 15.0);
	assert_string_equal(r.message, "Gtube pattern");
	assert_string_equal(scan_result_label(&r), "reject");
}

static void test_reply_actions(void **state)
{
	static const struct {
		const char *name, *label;
		enum scan_action a;
	} t[] = {
	    {"no action", "no_action", SCAN_NO_ACTION},
	    {"greylist", "greylist", SCAN_GREYLIST},
	    {"add header", "add_header", SCAN_ADD_HEADER},
	    {"rewrite subject", "rewrite_subject", SCAN_REWRITE_SUBJECT},
	    {"soft reject", "soft_reject", SCAN_SOFT_REJECT},
	    {"reject", "reject", SCAN_REJECT},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		char json[200];
		struct scan_result r;
		snprintf(json, sizeof json, "{\"action\":\"%s\",\"score\":-1.5}", t[i].name);
		assert_int_equal(parse(json, &r), 0);
		assert_int_equal(r.action, t[i].a);
		assert_true(r.score == -1.5);
		assert_string_equal(scan_result_label(&r), t[i].label);
		assert_string_equal(scan_action_name(r.action), t[i].name);
		assert_string_equal(r.message, "");
	}
	struct scan_result r;
	assert_int_equal(parse("{\"action\":\"rewrite subject\",\"score\":7,"
	                       "\"subject\":\"***SPAM*** hello\"}",
	                       &r),
	                 0);
	assert_string_equal(r.subject, "***SPAM*** hello");
}

static void test_reply_bad(void **state)
{
	static const char *const bad[] = {
	    "",
	    "not json",
	    "[]",
	    "{}",
	    "{\"action\":\"reject\"}",
	    "{\"score\":3}",
	    "{\"action\":\"discard\",\"score\":3}",
	    "{\"action\":7,\"score\":3}",
	    "{\"action\":\"reject\",\"score\":\"15\"}",
	    "{\"action\":\"reject\",\"score\":15,\"action\":\"no action\"}",
	    "{\"action\":\"reject\",\"score\":15",
	    /* scores no X-Spam-Score header holds (1e300 is 301 digits as %.2f) */
	    "{\"action\":\"add header\",\"score\":1e300,\"required_score\":15}",
	    "{\"action\":\"add header\",\"score\":6,\"required_score\":-1e300}",
	    "{\"action\":\"rewrite subject\",\"score\":1000001}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct scan_result r;
		assert_int_equal(parse(bad[i], &r), -1);
		assert_int_equal(r.status, SCAN_ERROR);
		assert_true(r.error[0] != '\0');
		assert_string_equal(scan_result_label(&r), "error");
	}
}

/* A message from rspamd reaches the SMTP reply: one line, printable ASCII. */
static void test_reply_message_sanitised(void **state)
{
	struct scan_result r;
	assert_int_equal(parse("{\"action\":\"reject\",\"score\":20,\"messages\":{\"smtp_message\":"
	                       "\"spam\\r\\n250 ok\\u00e9\"}}",
	                       &r),
	                 0);
	assert_null(strchr(r.message, '\r'));
	assert_null(strchr(r.message, '\n'));
	for (const char *p = r.message; *p; p++)
		assert_true(*p >= 0x20 && *p < 0x7f);
	assert_true(strncmp(r.message, "spam  250 ok", 12) == 0);
	/* a long one is cut to fit */
	char json[1200] = "{\"action\":\"reject\",\"score\":20,\"messages\":{\"smtp_message\":\"";
	size_t n = strlen(json);
	memset(json + n, 'x', 1000);
	memcpy(json + n + 1000, "\"}}", 4);
	assert_int_equal(parse(json, &r), 0);
	assert_int_equal(strlen(r.message), SCAN_TEXT_MAX - 1);
}

static void on_result(void *arg, const struct scan_result *r)
{
	*(struct scan_result *)arg = *r;
}

/* rspamd down: the callback says error (from the loop, not from scan_start). */
static void test_client_refused(void **state)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	socklen_t sl = sizeof sa;
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd); /* nothing listens there now */
	struct event_base *base = event_base_new();
	struct scan *s = scan_new(base, "127.0.0.1", ntohs(sa.sin_port), 2000);
	assert_non_null(s);
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, "Subject: x\r\n\r\nhi\r\n", 18);
	const char *rcpt[] = {"a@example.net", "b@example.net"};
	struct scan_meta m = {.queue_id = "Q1",
	                      .sender = "s@example.org",
	                      .rcpt = rcpt,
	                      .nrcpt = 2,
	                      .ip = "192.0.2.1",
	                      .user = "s",
	                      .helo = "pc"};
	struct scan_result r = {.status = SCAN_DONE, .action = SCAN_REJECT};
	struct scan_req *q = scan_start(s, &m, b, on_result, &r);
	assert_non_null(q);
	assert_int_equal(r.action, SCAN_REJECT); /* not called yet */
	event_base_dispatch(base);
	assert_int_equal(r.status, SCAN_ERROR);
	assert_string_equal(scan_result_label(&r), "error");
	/* a cancelled request never calls back; scan_free cancels the rest */
	r.status = SCAN_DONE;
	q = scan_start(s, &m, b, on_result, &r);
	assert_non_null(q);
	scan_cancel(q);
	assert_non_null(scan_start(s, &m, b, on_result, &r));
	scan_free(s);
	event_base_dispatch(base);
	assert_int_equal(r.status, SCAN_DONE);
	evbuffer_free(b);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reply_reject),   cmocka_unit_test(test_reply_actions),
	    cmocka_unit_test(test_reply_bad),      cmocka_unit_test(test_reply_message_sanitised),
	    cmocka_unit_test(test_client_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
