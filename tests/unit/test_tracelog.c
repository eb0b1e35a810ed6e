/*
 * Unit tests for src/forensics/tracelog.c (trace --log): which log lines are
 * the traced message's (queue id of a Received hop, near its date; Postfix's
 * message-id line), what the session says, and which other messages are the
 * same account's or address's within the hour. Also rglog_parse_smtpd.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "forensics/logline.h"
#include "forensics/rglog.h"
#include "forensics/trace.h"
#include "forensics/tracelog.h"

#include <stdlib.h>
#include <string.h>

static struct trace tr;
static struct tracelog tl;

/* Runs the three passes over lines (one file, read as of 2026-12-31). */
static void run(const char *msg, const char *const *lines)
{
	assert_int_equal(trace_run(msg, strlen(msg), NULL, &tr), 0);
	assert_int_equal(tracelog_init(&tl, &tr), 0);
	for (int pass = 1; pass <= TRACELOG_PASSES; pass++) {
		tracelog_pass(&tl, pass);
		tracelog_file(&tl, 0, 1798675200000LL); /* 2026-12-31T00:00:00Z */
		for (size_t i = 0; lines[i]; i++)
			tracelog_line(&tl, lines[i], strlen(lines[i]));
	}
}

static const char pf_msg[] = "Received: from client.test (localhost [127.0.0.1])\n"
                             "\tby mx.test (Postfix) with ESMTPSA id 4Xq1Zk2bcDz9sT\n"
                             "\tfor <bob@x.test>; Sun, 6 Dec 2026 07:00:01 +0000 (UTC)\n"
                             "Message-ID: <a1@client.test>\n"
                             "\n"
                             "body\n";

static void test_postfix_session(void **state)
{
	static const char *const lines[] = {
	    /* the same queue id three days before: another message (short ids recur) */
	    "Dec  3 07:00:01 mx postfix/smtpd[7]: 4Xq1Zk2bcDz9sT: client=old[192.0.2.99]",
	    "Dec  6 06:10:00 mx postfix/smtpd[7]: 4Xq0AAAAAAAAAA: client=a[192.0.2.10], "
	    "sasl_method=LOGIN, sasl_username=sam",
	    "Dec  6 06:50:00 mx postfix/submission/smtpd[7]: 4Xq0BBBBBBBBBB: "
	    "client=b[198.51.100.7], "
	    "sasl_method=PLAIN, sasl_username=sam",
	    "Dec  6 07:00:01 mx postfix/submission/smtpd[7]: 4Xq1Zk2bcDz9sT: "
	    "client=c.example[198.51.100.7], sasl_method=PLAIN, sasl_username=sam",
	    "Dec  6 07:00:01 mx postfix/cleanup[8]: 4Xq1Zk2bcDz9sT: message-id=<a1@client.test>",
	    "Dec  6 07:00:01 mx postfix/qmgr[9]: 4Xq1Zk2bcDz9sT: from=<sam@client.test>, "
	    "size=900, nrcpt=2 (queue active)",
	    "Dec  6 07:00:02 mx postfix/smtp[10]: 4Xq1Zk2bcDz9sT: to=<bob@x.test>, "
	    "relay=mx.x.test[203.0.113.5]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, "
	    "status=sent (250 ok)",
	    "Dec  6 07:00:02 mx postfix/smtp[10]: 4Xq1Zk2bcDz9sT: to=<eve@y.test>, "
	    "relay=mx.y.test[203.0.113.6]:25, delay=1, delays=0/0/0/1, dsn=4.7.1, "
	    "status=deferred (450 later)",
	    "Dec  6 07:00:03 mx postfix/qmgr[9]: 4Xq1Zk2bcDz9sT: removed",
	    "Dec  6 07:20:00 mx postfix/smtpd[7]: 4Xq2CCCCCCCCCC: client=d[203.0.113.50], "
	    "sasl_method=PLAIN, sasl_username=SAM",
	    "Dec  6 07:30:00 mx postfix/smtpd[7]: 4Xq2DDDDDDDDDD: client=e[203.0.113.51], "
	    "sasl_method=PLAIN, sasl_username=kim",
	    /* more than an hour after: not counted */
	    "Dec  6 08:00:02 mx postfix/smtpd[7]: 4Xq3EEEEEEEEEE: client=f[198.51.100.7]",
	    "Dec  6 08:00:02 mx relayguard[3]: info: smtpd queue_id=X sid=Y client=198.51.100.7 "
	    "queued",
	    NULL,
	};
	run(pf_msg, lines);
	assert_int_equal(tl.nsessions, 1);
	const struct tracelog_session *s = &tl.sessions[0];
	assert_int_equal(s->source, TRACELOG_POSTFIX);
	assert_string_equal(s->queue_id, "4Xq1Zk2bcDz9sT");
	assert_int_equal(s->matched_by, TRACELOG_BY_QUEUE_ID | TRACELOG_BY_MESSAGE_ID);
	assert_int_equal(s->hop, 0);
	assert_int_equal(s->line, 4);
	assert_true(s->has_time);
	assert_int_equal(s->time_ms, 1796540401000LL); /* 2026-12-06T07:00:01Z */
	assert_string_equal(s->client_host, "c.example");
	char ip[ADDR_STRLEN];
	assert_true(s->has_ip);
	assert_int_equal(addr_format(&s->ip, ip, sizeof ip), 0);
	assert_string_equal(ip, "198.51.100.7");
	assert_string_equal(s->auth_user, "sam");
	assert_string_equal(s->auth_method, "PLAIN");
	assert_string_equal(s->sender, "sam@client.test");
	assert_string_equal(s->message_id, "<a1@client.test>");
	assert_int_equal(s->nrcpt, 2);
	assert_int_equal(s->nrcpts, 2);
	assert_string_equal(s->rcpts[0].addr, "bob@x.test");
	assert_string_equal(s->rcpts[0].status, "sent");
	assert_string_equal(s->rcpts[0].relay, "mx.x.test[203.0.113.5]:25");
	assert_string_equal(s->rcpts[1].status, "deferred");
	/* sam at 06:10 (other address), sam from the same address at 06:50, SAM at
	 * 07:20 (the account, any case); not kim, nor anything past the hour */
	assert_int_equal(s->related_total, 3);
	assert_string_equal(s->related[0].queue_id, "4Xq0AAAAAAAAAA");
	assert_true(s->related[0].same_user);
	assert_false(s->related[0].same_ip);
	assert_true(s->related[1].same_user && s->related[1].same_ip);
	assert_string_equal(s->related[2].queue_id, "4Xq2CCCCCCCCCC");
	assert_int_equal(tl.lines, 13);
	assert_int_equal(tl.mail_lines, 13);
}

static void test_relayguard_session(void **state)
{
	static const char msg[] = "Received: from laptop (rdns.test [192.0.2.44])\r\n"
	                          "\t(Authenticated sender: kim)\r\n"
	                          "\tby gw.test (relayguard) with ESMTPSA id 01A24A3692560000\r\n"
	                          "\tfor <bob@x.test>; Sun, 06 Dec 2026 07:17:00 +0000\r\n"
	                          "\r\n";
	static const char *const lines[] = {
	    "2026-12-06T07:16:59.900Z relayguard[info]: smtpd queue_id=NOQUEUE sid=6B15 "
	    "client=192.0.2.44 auth=ok mech=LOGIN user=kim delay_ms=0",
	    "2026-12-06T07:17:00.140Z relayguard[info]: smtpd queue_id=01A24A3692560000 sid=6B15 "
	    "client=192.0.2.44 queued from=<kim@gw.test> nrcpt=1 size=100 proto=ESMTPSA user=kim",
	    "2026-12-06T07:17:01.000Z relayguard[info]: delivery id=01A24A3692560000 event=rcpt "
	    "rcpt=<bob@x.test> from=<kim@gw.test> user=kim client=192.0.2.44 "
	    "relay=mx.x.test[203.0.113.5]:25 tls=none attempt=1 delay=1 status=sent dsn=2.0.0 "
	    "reply=\"250 ok\"",
	    "2026-12-06T07:40:00.000Z relayguard[info]: smtpd queue_id=01A24A36A2BE0000 sid=6B16 "
	    "client=192.0.2.44 queued from=<> nrcpt=1 size=100 proto=ESMTP user=-",
	    "2026-12-06T07:41:00.000Z relayguard[info]: smtpd queue_id=01A24A36A2BF0000 sid=6B17 "
	    "client=192.0.2.45 queued from=<x@gw.test> nrcpt=1 size=100 proto=ESMTP user=-",
	    NULL,
	};
	run(msg, lines);
	assert_int_equal(tl.nsessions, 1);
	const struct tracelog_session *s = &tl.sessions[0];
	assert_int_equal(s->source, TRACELOG_RELAYGUARD);
	assert_int_equal(s->matched_by, TRACELOG_BY_QUEUE_ID);
	assert_string_equal(s->auth_user, "kim");
	assert_string_equal(s->auth_method, "LOGIN");
	assert_string_equal(s->session_id, "6B15");
	assert_string_equal(s->sender, "kim@gw.test");
	assert_int_equal(s->time_ms, 1796541420140LL);
	assert_int_equal(s->nrcpts, 1);
	assert_string_equal(s->rcpts[0].status, "sent");
	assert_int_equal(s->related_total, 1);
	assert_true(s->related[0].same_ip);
	assert_false(s->related[0].same_user);
	assert_string_equal(s->related[0].sender, "");
}

static void test_message_id_only_and_nothing(void **state)
{
	static const char msg[] = "Received: from a by b; Sun, 6 Dec 2026 07:00:00 +0000\n"
	                          "Message-ID:  <zz@q>  \n\n";
	static const char *const lines[] = {
	    "Dec  6 07:00:01 mx postfix/cleanup[8]: 4Xq1Zk2bcDz9sT: message-id=zz@q",
	    "Dec  6 07:00:01 mx postfix/cleanup[8]: 4Xq1Zk2bcDz9sU: message-id=<zz@q.other>",
	    "Dec  6 07:00:01 mx postfix/cleanup[8]: 4Xq1Zk2bcDz9sV: resent-message-id=<zz@q>",
	    NULL,
	};
	run(msg, lines);
	assert_int_equal(tl.nsessions, 1);
	assert_int_equal(tl.sessions[0].matched_by, TRACELOG_BY_MESSAGE_ID);
	assert_int_equal(tl.sessions[0].hop, -1);
	assert_string_equal(tl.sessions[0].message_id, "zz@q");
	/* Nothing to look for: no queue id, no Message-ID. */
	static const char none[] = "Received: from a by b; Sun, 6 Dec 2026 07:00:00 +0000\n\n";
	assert_int_equal(trace_run(none, strlen(none), NULL, &tr), 0);
	assert_int_equal(tracelog_init(&tl, &tr), -1);
}

static void test_rglog_smtpd(void **state)
{
	struct rglog_smtpd r;
	const char *m = "warning: smtpd queue_id=NOQUEUE sid=S1 client=- timeout=idle state=x";
	assert_int_equal(rglog_parse_smtpd((struct logspan){m, strlen(m)}, &r), 0);
	assert_int_equal(r.qid.len, 0);
	assert_false(r.has_client);
	assert_int_equal(r.event.len, 7);
	assert_memory_equal(r.event.p, "timeout", 7);
	assert_memory_equal(r.value.p, "idle", 4);
	m = "smtpd queue_id=Q sid=S client=::ffff:192.0.2.1 disconnect messages=1";
	assert_int_equal(rglog_parse_smtpd((struct logspan){m, strlen(m)}, &r), 0);
	assert_true(r.has_client && r.client.family == 4);
	assert_memory_equal(r.event.p, "disconnect", 10);
	m = "delivery id=Q event=done";
	assert_int_equal(rglog_parse_smtpd((struct logspan){m, strlen(m)}, &r), -1);
	m = "smtpd queue_id=Q client=1.2.3.4 queued";
	assert_int_equal(rglog_parse_smtpd((struct logspan){m, strlen(m)}, &r), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_postfix_session),
	    cmocka_unit_test(test_relayguard_session),
	    cmocka_unit_test(test_message_id_only_and_nothing),
	    cmocka_unit_test(test_rglog_smtpd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
