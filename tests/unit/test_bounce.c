/*
 * Unit tests for src/forensics/bounce.c and mailbox.c: the classification
 * table (one case per receiver text in dnsbl.md 4b), IP and status
 * extraction, whole-message analysis, mbox splitting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "forensics/bounce.h"
#include "forensics/mailbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct classify_case {
	const char *text;
	const char *remote_mta;
	bool blocked;
	bool receiver_error;
	const char *ids; /* comma-separated, "" for none */
	const char *ip;  /* "" for none */
};

static const struct classify_case classify_cases[] = {
    {"554 5.7.1 Service unavailable; Client host [203.0.113.5] blocked using zen.spamhaus.org; "
     "https://www.spamhaus.org/query/ip/203.0.113.5",
     NULL, true, false, "zen.spamhaus.org", "203.0.113.5"},
    {"554 5.7.1 Service unavailable; Client host [203.0.113.5] blocked using "
     "abcdefghijklmnopqrstuvwxyz.zen.dq.spamhaus.net",
     NULL, true, false, "zen.spamhaus.org", "203.0.113.5"},
    {"554 5.7.1 Service unavailable; Client host [203.0.113.5] blocked using sbl.spamhaus.org; "
     "https://www.spamhaus.org/sbl/query/SBLCSS",
     NULL, true, false, "sbl.spamhaus.org", "203.0.113.5"},
    {"554 5.7.1 Service unavailable; Client host [203.0.113.5] blocked using xbl.spamhaus.org",
     NULL, true, false, "xbl.spamhaus.org", "203.0.113.5"},
    {"554 5.7.1 Service unavailable; Client host [203.0.113.5] blocked using pbl.spamhaus.org",
     NULL, true, false, "pbl.spamhaus.org", "203.0.113.5"},
    {"554 5.7.1 Sender address [u@example.com] blocked using dbl.spamhaus.org", NULL, true, false,
     "dbl.spamhaus.org", ""},
    {"550 5.7.1 Service unavailable, Client host [203.0.113.5] blocked using Spamhaus. To "
     "request removal from this list see https://www.spamhaus.org/query/ip/203.0.113.5 "
     "(AS16012611)",
     "example-com.mail.protection.outlook.com", true, false, "zen.spamhaus.org", "203.0.113.5"},
    {"554 5.7.1 Service unavailable; Client host [203.0.113.5] blocked using bl.spamcop.net; "
     "Blocked - see https://www.spamcop.net/bl.shtml?203.0.113.5",
     NULL, true, false, "bl.spamcop.net", "203.0.113.5"},
    {"550 Rejected because 203.0.113.5 is in a black list at b.barracudacentral.org", NULL, true,
     false, "b.barracudacentral.org", "203.0.113.5"},
    {"554-Service unavailable; Client host [203.0.113.5] blocked using\r\n554-Barracuda "
     "Reputation;\r\n554 http://www.barracudanetworks.com/reputation/?r=1&ip=203.0.113.5",
     NULL, true, false, "b.barracudacentral.org", "203.0.113.5"},
    {"550 5.7.1 Service unavailable; Client host [203.0.113.5] blocked using "
     "dnsbl-2.uceprotect.net",
     NULL, true, false, "dnsbl-2.uceprotect.net", "203.0.113.5"},
    {"550 5.7.606 Access denied, banned sending IP [203.0.113.5]. To request removal from this "
     "list please visit https://sender.office.com/ and follow the directions. (AS16012609)",
     NULL, true, false, "microsoft", "203.0.113.5"},
    {"550 5.7.511 Access denied, banned sender[203.0.113.5]. To request removal from this list "
     "please forward this message to delist@messaging.microsoft.com",
     NULL, true, false, "microsoft", "203.0.113.5"},
    {"550 SC-001 (BAY004-MC4F27) Unfortunately, messages from 203.0.113.5 weren't sent. Please "
     "contact your Internet service provider since part of their network is on our block list.",
     NULL, true, false, "microsoft", "203.0.113.5"},
    {"421-4.7.0 [203.0.113.5 15] Our system has detected an unusual rate of\n421-4.7.0 "
     "unsolicited mail originating from your IP address. - gsmtp",
     "gmail-smtp-in.l.google.com", true, false, "gmail", "203.0.113.5"},
    {"550-5.7.1 [203.0.113.5] Our system has detected that this message is\n550-5.7.1 likely "
     "unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been "
     "blocked.",
     NULL, false, false, "", ""}, /* a verdict on the message (UnsolicitedMessageError) */
    {"421-4.7.0 IP not in whitelist for RCPT domain, closing connection.", NULL, true, false,
     "gmail", ""},
    {"421 4.7.0 [TSS04] Messages from 203.0.113.5 temporarily deferred due to unexpected volume "
     "or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
     NULL, true, false, "yahoo", "203.0.113.5"},
    {"554 5.7.9 Message not accepted for policy reasons.  See "
     "https://postmaster.yahooinc.com/error-codes",
     NULL, true, false, "yahoo", ""},
    {"553 5.7.1 [BL21] Connections will not be accepted from 203.0.113.5, because the ip is in "
     "Spamhaus's list; see http://postmaster.yahoo.com/550-bl23.html",
     NULL, true, false, "zen.spamhaus.org", "203.0.113.5"},
    {"550 5.7.0 Blocked - see https://ipcheck.proofpoint.com/?ip=203.0.113.5",
     "mx01.mail.icloud.com", true, false, "apple,proofpoint", "203.0.113.5"},
    {"553 5.3.0 flpd575 DNSBL:RBL 521< 203.0.113.5 >_is_blocked.For assistance forward this "
     "error to abuse_rbl@abuse-att.net",
     NULL, true, false, "att", "203.0.113.5"},
    {"554 5.7.1 comcast 203.0.113.5 Comcast block for spam. Please see "
     "http://postmaster.comcast.net/smtp-error-codes.php#BL000000",
     NULL, true, false, "comcast", "203.0.113.5"},
    {"554 Blocked - see https://ipcheck.proofpoint.com/?ip=203.0.113.5", NULL, true, false,
     "proofpoint", "203.0.113.5"},
    {"550 csi.mimecast.org Poor Reputation Sender. - "
     "https://community.mimecast.com/docs/DOC-1369#550",
     NULL, true, false, "mimecast", ""},
    {"554 p3plibsmtp03-07.prod.phx3.secureserver.net CMGW IB103. Connection refused. 203.0.113.5 "
     "has a poor reputation on Cloudmark Sender Intelligence (CSI).",
     NULL, true, false, "cloudmark", "203.0.113.5"},
    {"550 mwinf5c04 ME Adresse IP source bloquee pour incident de spam. Client host blocked for "
     "spamming issues. OFR006_102 Ref http://csi.cloudmark.com/reset-request/?ip=203.0.113.5",
     NULL, true, false, "orange,cloudmark", "203.0.113.5"},
    {"550 <u@example.de>: IP address is block listed", "mx00.emig.gmx.net", true, false, "gmx", ""},
    {"550 <u@example.de>: IP address is block listed", "mx-ha03.web.de", true, false, "web.de", ""},
    {"550 spam message rejected. Please visit http://help.mail.ru/notspam-support/id?c=x", NULL,
     true, false, "mailru", ""},
    {"554 5.7.1 [1] Client host [2001:db8::5] blocked by spam statistics", NULL, true, false,
     "yandex", "2001:db8::5"},
    {"550 5.7.1 Service unavailable; client [203.0.113.5] blocked using rbl.example.org.", NULL,
     true, false, "rbl.example.org", "203.0.113.5"},
    /* Blocked, but no list can be named. */
    {"550 5.7.1 Your IP is on our local blacklist", NULL, true, false, "", ""},
    {"550 5.7.1 Your IP is on our local blacklist", "mx1.hotmail.com", true, false, "microsoft",
     ""},
    /* Receiver errors. */
    {"554 5.7.1 Service unavailable; Client host [203.0.113.5] blocked using zen.spamhaus.org; "
     "Error: open resolver; https://check.spamhaus.org/returnc/pub/198.51.100.53/",
     NULL, false, true, "", ""},
    {"554 5.7.1 Sender address [u@example.com] blocked using dbl.spamhaus.org; Error: open "
     "resolver",
     NULL, false, true, "", ""},
    {"554 5.7.1 blocked using zen.spamhaus.org; answer 127.255.255.254", NULL, false, true, "", ""},
    /* Not blocked. */
    {"550 5.1.1 <u@example.net>: Recipient address rejected: User unknown", NULL, false, false, "",
     ""},
    {"552 5.2.2 Mailbox full", NULL, false, false, "", ""},
    {"550 5.2.1 The email account that you tried to reach is disabled (blocked by admin).",
     "gmail-smtp-in.l.google.com", false, false, "", ""},
    {"554 rejected due to spam URL in content", NULL, false, false, "", ""},
    {"550 5.7.1 Message content rejected, blocked by content filter", NULL, false, false, "", ""},
    {"", NULL, false, false, "", ""},
    /* IP refusals that name no list: the provider comes from the host. */
    {"554 IP=203.0.113.5 - A problem occurred. (Ask your postmaster for help or to contact "
     "tosa@rx.t-online.de to clarify.) (BL)",
     "mx00.t-online.de", true, false, "t-online", "203.0.113.5"},
    {"450 4.7.1 Client host rejected: cannot find your reverse hostname, [203.0.113.5]", NULL, true,
     false, "", "203.0.113.5"},
    {"554 5.7.1 Your IP address looks like a dynamic/residential address. Please use the smtp "
     "server of your ISP",
     "mx.gmx.net", true, false, "gmx", ""},
    {"550 5.1.1 User unknown; rejecting. Mailbox unavailable: 203.0.113.5 tried to deliver to a "
     "nonexistent recipient",
     NULL, false, false, "", ""},
};

static void test_classify_table(void **state)
{
	for (size_t i = 0; i < sizeof classify_cases / sizeof classify_cases[0]; i++) {
		const struct classify_case *c = &classify_cases[i];
		struct bounce_result r;
		char ids[512] = "";
		memset(&r, 0, sizeof r);
		bounce_classify(c->text, strlen(c->text), c->remote_mta, &r);
		for (size_t k = 0; k < r.nlists; k++) {
			if (k)
				strncat(ids, ",", sizeof ids - strlen(ids) - 1);
			strncat(ids, r.lists[k].id, sizeof ids - strlen(ids) - 1);
		}
		if (r.blocked != c->blocked || r.receiver_error != c->receiver_error ||
		    strcmp(ids, c->ids) != 0 || strcmp(r.listed_ip, c->ip) != 0)
			print_error("case %zu: \"%s\": blocked=%d error=%d ids=%s ip=%s\n", i,
			            c->text, r.blocked, r.receiver_error, ids, r.listed_ip);
		assert_int_equal(r.blocked, c->blocked);
		assert_int_equal(r.receiver_error, c->receiver_error);
		assert_string_equal(ids, c->ids);
		assert_string_equal(r.listed_ip, c->ip);
	}
}

static void test_classify_delist(void **state)
{
	struct bounce_result r;
	const char t[] = "554 Blocked - see https://ipcheck.proofpoint.com/?ip=203.0.113.5";
	memset(&r, 0, sizeof r);
	bounce_classify(t, strlen(t), NULL, &r);
	assert_int_equal(r.nlists, 1);
	assert_string_equal(r.lists[0].name, "Proofpoint Dynamic Reputation");
	assert_string_equal(r.lists[0].delist, "https://ipcheck.proofpoint.com/?ip=203.0.113.5");
	const char z[] = "Client host [203.0.113.5] blocked using rbl.example.org";
	bounce_classify(z, strlen(z), NULL, &r);
	assert_string_equal(r.lists[0].id, "rbl.example.org");
	assert_string_equal(r.lists[0].delist, "");
	const char s[] =
	    "550 5.7.511 Access denied, banned sender[203.0.113.5]. To request removal "
	    "from this list please forward this message to "
	    "delist@messaging.microsoft.com";
	bounce_classify(s, strlen(s), NULL, &r);
	assert_string_equal(r.lists[0].delist, "mailto:delist@messaging.microsoft.com");
}

static void test_find_ip_status(void **state)
{
	char ip[ADDR_STRLEN], st[16];
	const char *t = "421 4.7.0 [TSS04] Messages from 203.0.113.5 deferred - 4.16.55.1";
	assert_int_equal(bounce_find_ip(t, strlen(t), ip, sizeof ip), 0);
	assert_string_equal(ip, "203.0.113.5");
	assert_int_equal(bounce_find_status(t, strlen(t), st, sizeof st), 0);
	assert_string_equal(st, "4.7.0");
	t = "host mx.example.net[198.51.100.9] said [2001:DB8:0:0::1]";
	assert_int_equal(bounce_find_ip(t, strlen(t), ip, sizeof ip), 0);
	assert_string_equal(ip, "198.51.100.9");
	t = "[2001:DB8:0:0::1]";
	assert_int_equal(bounce_find_ip(t, strlen(t), ip, sizeof ip), 0);
	assert_string_equal(ip, "2001:db8::1");
	t = "ip=198.51.100.7&r=1";
	assert_int_equal(bounce_find_ip(t, strlen(t), ip, sizeof ip), 0);
	assert_string_equal(ip, "198.51.100.7");
	t = "version 1.2.3.4.5 and 999.1.1.1 and v1.2.3.4";
	assert_int_equal(bounce_find_ip(t, strlen(t), ip, sizeof ip), -1);
	t = "550 5.7.1 no; 10.5.7.1 is not a status";
	assert_int_equal(bounce_find_status(t, strlen(t), st, sizeof st), 0);
	assert_string_equal(st, "5.7.1");
	t = "code 5.7.1234 and 6.1.1";
	assert_int_equal(bounce_find_status(t, strlen(t), st, sizeof st), -1);
	assert_int_equal(bounce_find_status("", 0, st, sizeof st), -1);
}

static const char dsn_msg[] =
    "Return-Path: <>\n"
    "From: MAILER-DAEMON@mail.example.com (Mail Delivery System)\n"
    "Subject: Undelivered Mail Returned to Sender\n"
    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n"
    "\n"
    "--B\n"
    "Content-Type: text/plain\n"
    "\n"
    "<bob@example.net>: host mx.example.net[198.51.100.25] said: 554 5.7.1\n"
    "--B\n"
    "Content-Type: message/delivery-status\n"
    "\n"
    "Reporting-MTA: dns; mail.example.com\n"
    "\n"
    "Final-Recipient: rfc822; ok@example.net\n"
    "Action: delivered\n"
    "Status: 2.0.0\n"
    "\n"
    "Final-Recipient: rfc822; bob@example.net\n"
    "Action: failed\n"
    "Status: 5.7.1\n"
    "Remote-MTA: dns; mx.example.net\n"
    "Diagnostic-Code: smtp; 554 5.7.1 Service unavailable; Client host [203.0.113.5]\n"
    "    blocked using bl.spamcop.net\n"
    "--B--\n";

static void test_analyze_dsn(void **state)
{
	struct bounce_result r;
	assert_int_equal(bounce_analyze(dsn_msg, strlen(dsn_msg), &r), 0);
	assert_true(r.is_bounce);
	assert_true(r.blocked);
	assert_false(r.receiver_error);
	assert_string_equal(r.recipient, "bob@example.net");
	assert_string_equal(r.status, "5.7.1");
	assert_string_equal(r.remote_mta, "mx.example.net");
	assert_string_equal(r.diagnostic, "554 5.7.1 Service unavailable; Client host "
	                                  "[203.0.113.5] blocked using bl.spamcop.net");
	assert_string_equal(r.listed_ip, "203.0.113.5");
	assert_string_equal(r.subject, "Undelivered Mail Returned to Sender");
	assert_int_equal(r.nlists, 1);
	assert_string_equal(r.lists[0].id, "bl.spamcop.net");
	assert_string_equal(r.lists[0].delist, "https://www.spamcop.net/bl.shtml?203.0.113.5");
}

static void test_analyze_plain(void **state)
{
	const char qmail[] = "From: MAILER-DAEMON@mail.example.com\n"
	                     "Subject: failure notice\n"
	                     "\n"
	                     "Hi. This is the qmail-send program at mail.example.com.\n"
	                     "I'm afraid I wasn't able to deliver your message.\n"
	                     "\n"
	                     "<bea@example.net>:\n"
	                     "Connected to 198.51.100.46 but sender was rejected.\n"
	                     "Remote host said: 553 sorry, your IP 203.0.113.5 is listed at\n"
	                     " all.s5h.net\n"
	                     "\n"
	                     "--- Below this line is a copy of the message.\n";
	struct bounce_result r;
	assert_int_equal(bounce_analyze(qmail, strlen(qmail), &r), 0);
	assert_true(r.is_bounce);
	assert_true(r.blocked);
	assert_string_equal(r.recipient, "bea@example.net");
	assert_string_equal(r.remote_mta, "198.51.100.46");
	assert_string_equal(r.diagnostic,
	                    "553 sorry, your IP 203.0.113.5 is listed at all.s5h.net");
	assert_string_equal(r.status, "5.0.0");
	assert_string_equal(r.lists[0].id, "all.s5h.net");

	const char exim[] =
	    "From: Mail Delivery System <Mailer-Daemon@mail.example.com>\n"
	    "Subject: Mail delivery failed: returning message to sender\n"
	    "\n"
	    "This message was created automatically by mail delivery software.\n"
	    "\n"
	    "A message that you sent could not be delivered. The following "
	    "address(es) failed:\n"
	    "\n"
	    "  cid@example.org\n"
	    "    host mx.example.org [198.51.100.47]\n"
	    "    SMTP error from remote mail server after RCPT TO:<cid@example.org>:\n"
	    "    550 5.1.1 <cid@example.org>: Recipient address rejected: User unknown\n";
	assert_int_equal(bounce_analyze(exim, strlen(exim), &r), 0);
	assert_true(r.is_bounce);
	assert_false(r.blocked);
	assert_int_equal(r.nlists, 0);
	assert_string_equal(r.recipient, "cid@example.org");
	assert_string_equal(r.remote_mta, "mx.example.org");
	assert_string_equal(r.status, "5.1.1");
	assert_string_equal(r.listed_ip, "");
}

static void test_analyze_not_bounce(void **state)
{
	const char m[] = "From: ann@example.com\nSubject: hi\n\nClient host [203.0.113.5] blocked "
	                 "using zen.spamhaus.org\n";
	struct bounce_result r;
	assert_int_equal(bounce_analyze(m, strlen(m), &r), 0);
	assert_false(r.is_bounce);
	assert_false(r.blocked);
	assert_int_equal(r.nlists, 0);
	assert_int_equal(bounce_analyze("", 0, &r), 0);
	assert_false(r.is_bounce);
	/* Garbage with NULs and a bounce subject: a bounce we cannot read, no crash. */
	const char g[] = "Subject: Undeliverable: x\n\n\0\0\xff--\n<<< \n";
	assert_int_equal(bounce_analyze(g, sizeof g - 1, &r), 0);
	assert_true(r.is_bounce);
	assert_false(r.blocked);
}

struct mbox_log {
	char src[8][32];
	char body[8][128];
	size_t idx[8];
	int n;
};

static int mbox_cb(void *ctx, const struct mailbox_msg *m)
{
	struct mbox_log *l = ctx;
	if (l->n >= 8)
		return 7;
	snprintf(l->src[l->n], sizeof l->src[0], "%s", m->source);
	snprintf(l->body[l->n], sizeof l->body[0], "%.*s", (int)m->len, m->data);
	l->idx[l->n] = m->index;
	l->n++;
	return 0;
}

static void test_mbox_split(void **state)
{
	const char mb[] = "From a@example.com Mon Nov 23 09:00:00 2026\n"
	                  "Subject: one\n"
	                  "\n"
	                  "body one\n"
	                  "From here on it is body, not a separator\n"
	                  ">From quoted\n"
	                  ">>From twice\n"
	                  "\n"
	                  "From b@example.com Mon Nov 23 09:00:01 2026\r\n"
	                  "Subject: two\r\n"
	                  "\r\n"
	                  "body two\r\n"
	                  "\r\n"
	                  "From c@example.com Mon Nov 23 09:00:02 2026\n"
	                  "Subject: three";
	struct mbox_log l;
	struct mailbox_stats st = {0, 0};
	memset(&l, 0, sizeof l);
	assert_true(mailbox_is_mbox(mb, strlen(mb)));
	assert_false(mailbox_is_mbox("Subject: x\n", 11));
	assert_int_equal(mailbox_split_mbox(mb, strlen(mb), "x.mbox", mbox_cb, &l, &st), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(st.messages, 3);
	assert_string_equal(l.src[0], "mbox:1");
	assert_string_equal(l.src[2], "mbox:3");
	assert_int_equal(l.idx[1], 2);
	assert_string_equal(l.body[0],
	                    "Subject: one\n\nbody one\nFrom here on it is body, not a separator\n"
	                    "From quoted\n>From twice\n");
	assert_string_equal(l.body[1], "Subject: two\r\n\r\nbody two\r\n");
	assert_string_equal(l.body[2], "Subject: three");
	/* The callback's value stops the split. */
	l.n = 8;
	assert_int_equal(mailbox_split_mbox(mb, strlen(mb), "x.mbox", mbox_cb, &l, NULL), 7);
	/* Nothing that starts an mbox gives nothing. */
	memset(&l, 0, sizeof l);
	assert_int_equal(mailbox_split_mbox("junk\n", 5, "x", mbox_cb, &l, NULL), 0);
	assert_int_equal(l.n, 0);
}

static void test_mailbox_errors(void **state)
{
	struct mbox_log l;
	char err[256];
	struct mailbox_stats st = {0, 0};
	memset(&l, 0, sizeof l);
	assert_int_equal(mailbox_foreach("/nonexistent/x.eml", mbox_cb, &l, &st, err, sizeof err),
	                 -1);
	assert_string_equal(err, "/nonexistent/x.eml: No such file or directory");
	assert_int_equal(mailbox_foreach("/", mbox_cb, &l, &st, err, sizeof err), -1);
	assert_string_equal(err, "/: a directory but not a Maildir (no cur/ or new/)");
	assert_int_equal(l.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_classify_table), cmocka_unit_test(test_classify_delist),
	    cmocka_unit_test(test_find_ip_status), cmocka_unit_test(test_analyze_dsn),
	    cmocka_unit_test(test_analyze_plain),  cmocka_unit_test(test_analyze_not_bounce),
	    cmocka_unit_test(test_mbox_split),     cmocka_unit_test(test_mailbox_errors),
	};
	return cmocka_run_group_tests_name("bounce", tests, NULL, NULL);
}
