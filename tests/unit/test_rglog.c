/*
 * Unit tests for src/forensics/rglog.c: relayguard's delivery log lines
 * (docs/delivery.md), in the stderr and syslog forms, with quoted values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "forensics/logline.h"
#include "forensics/rglog.h"
#include "logtest.h"

#include <string.h>

static enum rglog_kind line(const char *s, struct rglog_rec *r)
{
	struct logline l;
	assert_int_equal(logline_parse(s, strlen(s), &l), 0);
	assert_span(l.tag, "relayguard");
	return rglog_parse(l.msg, r);
}

static void test_rcpt(void **state)
{
	struct rglog_rec r;
	char ip[ADDR_STRLEN];
	assert_int_equal(
	    line("2026-11-23T10:00:00Z relayguard[info]: delivery id=01A1EE565E000000 "
	         "event=rcpt rcpt=<bad@x.test> from=<sam@gw.test> user=sam "
	         "client=192.0.2.7 relay=mx1.x.test[127.0.0.2]:25 tls=TLSv1.3 attempt=1 "
	         "delay=0.21 status=bounced dsn=5.1.1 reply=\"550 5.1.1 <bad@x.test>: "
	         "said \\\"no\\\" = User unknown\"",
	         &r),
	    RGLOG_RCPT);
	assert_span(r.id, "01A1EE565E000000");
	assert_span(r.rcpt, "bad@x.test");
	assert_span(r.from, "sam@gw.test");
	assert_span(r.user, "sam");
	assert_true(r.has_client);
	assert_int_equal(addr_format(&r.client, ip, sizeof ip), 0);
	assert_string_equal(ip, "192.0.2.7");
	assert_true(r.has_relay_ip);
	assert_span(r.status, "bounced");
	assert_span(r.dsn, "5.1.1");
	assert_span(r.reply, "550 5.1.1 <bad@x.test>: said \\\"no\\\" = User unknown");
	assert_int_equal(r.attempt, 1);
}

/* A sender with '=' (SRS, BATV) is written quoted: the span is still the
 * address without its <> (the one kv codec reads both forms alike). */
static void test_quoted_address(void **state)
{
	struct rglog_rec r;
	assert_int_equal(
	    line("2026-11-23T10:00:00Z relayguard[info]: delivery id=AB12 "
	         "event=rcpt rcpt=<b@x.test> from=\"<SRS0=HHH=TT=gw.test=sam@fw.test>\" "
	         "status=sent",
	         &r),
	    RGLOG_RCPT);
	assert_span(r.from, "SRS0=HHH=TT=gw.test=sam@fw.test");
	assert_span(r.status, "sent");
	/* junk after a closing quote ends the walk: nothing after it is believed */
	assert_int_equal(line("2026-11-23T10:00:00Z relayguard[info]: delivery id=AB12 "
	                      "event=rcpt rcpt=<b@x.test> reply=\"a\"status=sent",
	                      &r),
	                 RGLOG_RCPT);
	assert_int_equal(r.status.len, 0);
}

static void test_message_and_dsn(void **state)
{
	struct rglog_rec r;
	assert_int_equal(line("Nov 23 10:00:01 gw relayguard[4242]: info: delivery id=AB12 "
	                      "event=done from=<> size=99 nrcpt=3 sent=3 bounced=0 deferred=0 "
	                      "attempt=2",
	                      &r),
	                 RGLOG_MESSAGE);
	assert_true(r.done);
	assert_span(r.from, "");
	assert_int_equal(r.size, 99);
	assert_int_equal(r.nrcpt, 3);
	assert_int_equal(r.attempt, 2);
	assert_int_equal(line("Nov 23 10:00:01 gw relayguard[4242]: info: delivery id=AB12 "
	                      "event=deferred from=<a@b> size=1 nrcpt=1 attempt=1 "
	                      "next=2026-11-23T11:00:00Z",
	                      &r),
	                 RGLOG_MESSAGE);
	assert_false(r.done);
	assert_int_equal(
	    line("Nov 23 10:00:01 gw relayguard[4242]: info: delivery id=AB12 event=dsn "
	         "dsn_id=CD34 to=<sam@gw.test> status=held reason=\"sender not "
	         "verified: no backscatter\"",
	         &r),
	    RGLOG_DSN);
	assert_span(r.dsn_id, "CD34");
	assert_span(r.status, "held");
	const char *other[] = {
	    "Nov 23 10:00:01 gw relayguard[1]: info: delivery id=- event=host relay=x[1.2.3.4]:25 "
	    "status=failed reply=\"why\"",
	    "Nov 23 10:00:01 gw relayguard[1]: info: delivery id=- event=dns domain=x "
	    "status=temporary",
	    "Nov 23 10:00:01 gw relayguard[1]: info: serve: started",
	    "Nov 23 10:00:01 gw relayguard[1]: info: delivery id=X event=rcpt reply=\"unterminated",
	    "Nov 23 10:00:01 gw relayguard[1]: delivery =x",
	};
	for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
		assert_int_equal(line(other[i], &r), RGLOG_OTHER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rcpt),
	    cmocka_unit_test(test_quoted_address),
	    cmocka_unit_test(test_message_and_dsn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
