/*
 * Unit tests for src/forensics/exlog.c and the Exchange part of srvlog.c:
 * CSV quoting, the "#Fields:" header of Exchange 2010 and 2016 (column order
 * differs), UTC times, the SMTP Receive protocol log's logins and 535s, the
 * join of a tracking log's source-context to the session that authenticated,
 * and malformed lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "forensics/exlog.h"
#include "forensics/srvlog.h"
#include "srvlogtest.h"

#include <stdlib.h>
#include <string.h>

#define F2010                                                                                      \
	"date-time,client-ip,client-hostname,server-ip,server-hostname,source-context,"            \
	"connector-id,source,event-id,internal-message-id,message-id,recipient-address,"           \
	"recipient-status,total-bytes,recipient-count,related-recipient-address,reference,"        \
	"message-subject,sender-address,return-path,message-info,directionality,tenant-id,"        \
	"original-client-ip,original-server-ip,custom-data"
#define F2016                                                                                      \
	"date-time,client-ip,client-hostname,server-ip,server-hostname,source-context,"            \
	"connector-id,source,event-id,internal-message-id,message-id,network-message-id,"          \
	"recipient-address,recipient-status,total-bytes,recipient-count,"                          \
	"related-recipient-address,reference,message-subject,sender-address,return-path,"          \
	"message-info,directionality,tenant-id,original-client-ip,original-server-ip,"             \
	"custom-data,transport-traffic-type,log-id,schema-version"
#define FRECV                                                                                      \
	"date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,"        \
	"event,data,context"

static void test_split_and_fields(void **state)
{
	struct logspan c[8];
	const char *s = "a,\"b, \"\"c\"\"\",,\"\",d";
	size_t n = exlog_split(s, strlen(s), c, 8);
	assert_int_equal(n, 5);
	assert_span(c[0], "a");
	assert_span(c[1], "b, \"\"c\"\"");
	assert_span(c[2], "");
	assert_span(c[3], "");
	assert_span(c[4], "d");
	/* an unterminated quote runs to the end; a trailing comma is one more column */
	s = "x,\"open, still";
	assert_int_equal(exlog_split(s, strlen(s), c, 8), 2);
	assert_span(c[1], "open, still");
	assert_int_equal(exlog_split("x,", 2, c, 8), 2);
	assert_int_equal(exlog_split("a,b,c,d,e,f,g,h,i,j", 19, c, 8), 8);

	int col[EXF_COUNT];
	exlog_fields((struct logspan){F2010, strlen(F2010)}, col);
	assert_int_equal(col[EXF_DATE_TIME], 0);
	assert_int_equal(col[EXF_RECIPIENT], 11);
	assert_int_equal(col[EXF_SENDER], 18);
	assert_int_equal(col[EXF_SESSION_ID], -1);
	exlog_fields((struct logspan){F2016, strlen(F2016)}, col);
	assert_int_equal(col[EXF_RECIPIENT], 12); /* network-message-id before it */
	assert_int_equal(col[EXF_SENDER], 19);
	assert_int_equal(col[EXF_ORIGINAL_CLIENT_IP], 24);
	exlog_fields((struct logspan){FRECV, strlen(FRECV)}, col);
	assert_int_equal(col[EXF_SESSION_ID], 2);
	assert_int_equal(col[EXF_EVENT], 6);
	assert_int_equal(col[EXF_EVENT_ID], -1);

	assert_int_equal(exlog_time((struct logspan){"2016-04-05T00:00:02.052Z", 24}),
	                 1459814402052LL);
	assert_int_equal(exlog_time((struct logspan){"2016-04-05T00:00:02Z", 20}), 1459814402000LL);
	assert_int_equal(exlog_time((struct logspan){"2016-04-05 00:00:02", 19}), -1);
	assert_int_equal(exlog_time((struct logspan){"2016-13-05T00:00:02Z", 20}), -1);
	assert_int_equal(exlog_time((struct logspan){"2016-04-05T0", 12}), -1);
}

static void test_protocol_then_tracking(void **state)
{
	struct srvlog v;
	struct srvlog_rec r;
	assert_int_equal(srvlog_init(&v), 0);
	srvlog_file_init(&F);
	assert_int_equal(feed(&v, "\xEF\xBB\xBF#Software: Microsoft Exchange Server", &r), 0);
	assert_int_equal(F.format, SRVLOG_EXCHANGE);
	assert_int_equal(feed(&v, "#Log-type: SMTP Receive Protocol Log", &r), 0);
	assert_int_equal(feed(&v, "#Fields: " FRECV, &r), 0);
	assert_true(F.ex_protocol);
	assert_int_equal(
	    feed(&v,
	         "2019-01-25T00:03:58.478Z,TAIL-EXCH-1\\Internet Mail,08D675E58CA1DA38,"
	         "0,10.0.0.6:25,185.234.217.220:61061,+,,",
	         &r),
	    0);
	assert_int_equal(r.kind, SRVLOG_OTHER);
	assert_int_equal(
	    feed(&v,
	         "2019-01-25T00:03:59.000Z,TAIL-EXCH-1\\Internet Mail,08D675E58CA1DA38,"
	         "5,10.0.0.6:25,185.234.217.220:61061,>,535 5.7.3 Authentication "
	         "unsuccessful,",
	         &r),
	    0);
	assert_int_equal(r.kind, SRVLOG_AUTH_FAIL);
	assert_ip(&r.ip, "185.234.217.220");
	assert_int_equal(feed(&v,
	                      "2013-10-15T12:32:43.200Z,EX\\Client,08D06729BA48D0CA,7,10.0.0.6:587,"
	                      "[2001:db8::7]:50123,*,CWLAB\\_svcacct,authenticated",
	                      &r),
	                 0);
	assert_int_equal(r.kind, SRVLOG_AUTH_OK);
	assert_span(r.user, "CWLAB\\_svcacct");
	assert_ip(&r.ip, "2001:db8::7");

	/* the next file: the tracking log names that session in source-context */
	srvlog_file_init(&F);
	assert_int_equal(feed(&v, "#Fields: " F2010, &r), 0);
	assert_false(F.ex_protocol);
	assert_int_equal(feed(&v,
	                      "2013-10-15T12:32:44.000Z,2001:db8::7,client,10.0.0.6,EX,"
	                      "08D06729BA48D0CA;2013-10-15T12:32:43.248Z;1,EX\\Client,SMTP,RECEIVE,"
	                      "77,<m@x>,a@far.example;b@far.example,,1200,2,,,\"Hi, there\","
	                      "svc@cwlab.com,svc@cwlab.com,,Originating,,,,",
	                      &r),
	                 0);
	assert_int_equal(r.kind, SRVLOG_RECEIVED);
	assert_span(r.id, "77");
	assert_span(r.user, "CWLAB\\_svcacct");
	assert_span(r.sender, "svc@cwlab.com");
	assert_int_equal(r.nrcpt, 2);
	assert_int_equal(r.size, 1200);
	assert_ip(&r.ip, "2001:db8::7");
	assert_false(r.generated);

	assert_int_equal(feed(&v,
	                      "2013-10-15T12:32:45.000Z,,,192.0.2.40,mx,x,Internet,SMTP,SEND,77,"
	                      "<m@x>,a@far.example;b@far.example,250 OK;250 OK,1200,2,,,Hi,"
	                      "svc@cwlab.com,svc@cwlab.com,,Originating,,,,",
	                      &r),
	                 0);
	assert_int_equal(r.kind, SRVLOG_SENT);
	assert_true(r.remote);
	assert_span(r.rcpt, "a@far.example;b@far.example");
	assert_int_equal(r.rcpt_sep, ';');

	/* an out-of-office reply: submitted by the mailbox, null return path */
	assert_int_equal(feed(&v,
	                      "2013-10-15T12:40:00.000Z,,,10.0.0.6,EX,\"MDB:1, Mailbox:2\",,"
	                      "STOREDRIVER,RECEIVE,78,<r@x>,probe@forged.example,,900,1,,,"
	                      "Automatic reply: hello,bob@cwlab.com,<>,,Originating,,,,",
	                      &r),
	                 0);
	assert_int_equal(r.kind, SRVLOG_RECEIVED);
	assert_true(r.generated);
	assert_true(r.autoreply);
	assert_span(r.user, "bob@cwlab.com");
	assert_int_equal(r.sender.len, 0);

	assert_int_equal(
	    feed(&v,
	         "2013-10-15T12:41:00.000Z,,,10.0.0.6,,,,DSN,DSN,79,<d@x>,"
	         "x@forged.example,,900,1,,,Undeliverable,postmaster@cwlab.com,<>,,,,,,",
	         &r),
	    0);
	assert_true(r.generated);
	assert_false(r.autoreply);
	assert_int_equal(feed(&v,
	                      "2013-10-15T12:42:00.000Z,,,10.0.0.6,,,,SMTP,FAIL,77,<m@x>,"
	                      "a@far.example,550 5.1.1 not found,1200,1,,,Hi,svc@cwlab.com,"
	                      "svc@cwlab.com,,Originating,,,,",
	                      &r),
	                 0);
	assert_int_equal(r.kind, SRVLOG_SENT);
	assert_true(r.failed);
	assert_false(r.remote);
	srvlog_free(&v);
}

static void test_malformed(void **state)
{
	struct srvlog v;
	struct srvlog_rec r;
	assert_int_equal(srvlog_init(&v), 0);
	srvlog_file_init(&F);
	/* data before any #Fields: is read as nothing */
	assert_int_equal(feed(&v, "#Software: Microsoft Exchange Server", &r), 0);
	assert_int_equal(feed(&v, "2013-10-15T12:42:00.000Z,,,,", &r), 0);
	assert_int_equal(r.kind, SRVLOG_OTHER);
	const char *bad[] = {
	    "#Fields:",
	    "#Fields: ,,,,,",
	    "#Fields: " F2010,
	    "",
	    ",",
	    "not a time,1,2,3,4,5,6,7,RECEIVE,1",
	    "2013-10-15T12:42:00.000Z",
	    "2013-10-15T12:42:00.000Z,,,,,,,SMTP,RECEIVE,,",
	    "2013-10-15T12:42:00.000Z,\"",
	    "2013-10-15T12:42:00.000Z,,,,,,,SMTP,SEND,5,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t n = strlen(bad[i]);
		char *copy = malloc(n ? n : 1);
		assert_non_null(copy);
		memcpy(copy, bad[i], n);
		assert_int_equal(srvlog_line(&v, &F, copy, n, &r), 0);
		assert_true(r.kind == SRVLOG_OTHER || r.kind == SRVLOG_SENT);
		free(copy);
	}
	/* a file that is not Exchange's: not taken for it */
	srvlog_file_init(&F);
	assert_int_equal(feed(&v, "#Software: Microsoft Internet Information Services 10.0", &r),
	                 -1);
	assert_int_equal(F.format, SRVLOG_NONE);
	srvlog_free(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_split_and_fields),
	    cmocka_unit_test(test_protocol_then_tracking),
	    cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
