/*
 * Unit tests for src/forensics/brules.c (the bounce rules file: parser,
 * patterns, priorities, the built-in file) and for what bounce.c reads with
 * them: legacy charsets and RFC 2047 words (mime.c, iconv), DSN fields folded
 * without indentation (dsn.c), and a bounce forwarded inside another bounce.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "forensics/bounce.h"
#include "forensics/brules.h"
#include "forensics/mime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_builtin_parses(void **state)
{
	const struct brules *r = brules_builtin();
	assert_non_null(r);
	size_t lists = 0, reasons = 0, errors = 0, providers = 0;
	for (size_t i = 0; i < r->count; i++) {
		lists += r->rules[i].kind == BRULES_LIST;
		reasons += r->rules[i].kind == BRULES_REASON;
		errors += r->rules[i].kind == BRULES_ERROR;
		providers += r->rules[i].kind == BRULES_PROVIDER;
	}
	assert_true(lists >= 40);
	assert_true(reasons >= 30);
	assert_int_equal(errors, 1);
	assert_true(providers >= 10);
	assert_int_equal(r->list_priority, 60);
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *text;
		const char *err; /* substring of the message, "" = parses */
	} cases[] = {
	    {"[reason blocked]\nmatch = no ptr\n", ""},
	    {"# only a comment\n\n", ""},
	    {"list_priority = 70\n[list x.example]\nname = X\nmatch = x.example\n", ""},
	    {"[reason blocked]\nmatch = no ptr\nbogus = 1\n", "t:3: unknown key"},
	    {"[reason]\nmatch = x\n", "t:1: bad or missing section argument"},
	    {"[thing x]\n", "t:1: unknown section kind"},
	    {"[reason Blocked!]\nmatch = x\n", "bad or missing section argument"},
	    {"[reason blocked]\nmatch = a||b\n", "bad pattern"},
	    {"[reason blocked]\nmatch = {host}\n", "bad pattern"},
	    {"[reason blocked]\nmatch = *\n", "bad pattern"},
	    {"[reason blocked]\npriority = 5000\nmatch = x\n", "priority must be"},
	    {"[reason blocked]\nstage = lunch\n", "unknown stage"},
	    {"[reason blocked]\ndetail = x\n", "t:1: a [reason] needs"},
	    {"[list z.example]\nmatch = z.example\n", "needs name and match"},
	    {"[provider p]\nname = P\n", "needs name and host"},
	    {"[error]\n", "an [error] needs match"},
	    {"match = x\n", "key outside a section"},
	    {"[reason blocked]\nno equals sign\n", "expected key = value"},
	    {"[reason blocked]\nstatus = 5.7.1||5.7.2\n", "empty alternative"},
	    {"[reason blocked\n", "bad section header"},
	    {"[list a.example]\nname = A\nname = B\nmatch = a\n", "key given twice"},
	    {"[list a.example]\nname = A\ndnsbl = maybe\nmatch = a\n", "dnsbl must be"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct brules r;
		char err[256] = "";
		int rc = brules_load_string(&r, cases[i].text, strlen(cases[i].text), "t", err,
		                            sizeof err);
		if (cases[i].err[0] == '\0') {
			if (rc != 0)
				print_error("case %zu: %s\n", i, err);
			assert_int_equal(rc, 0);
			brules_free(&r);
		} else {
			if (rc == 0 || !strstr(err, cases[i].err))
				print_error("case %zu: rc=%d err=%s\n", i, rc, err);
			assert_int_equal(rc, -1);
			assert_non_null(strstr(err, cases[i].err));
			assert_null(r.rules);
		}
	}
}

static void test_patterns(void **state)
{
	static const struct {
		const char *pat, *text;
		bool match;
	} cases[] = {
	    {"no ptr", " 550 no ptr record ", true},
	    {"client host * blocked", " client host [192.0.2.1] was blocked ", true},
	    {"client host * blocked", " blocked client host ", false},
	    {"client host * blocked", " client host blocked ", true},
	    {"a|b|c", " only c here ", true},
	    {"a * b * c", " c b a ", false},
	    {"ip {ip} listed", " ip 192.0.2.10 listed ", true},
	    {"ip {ip} listed", " ip 192.0.2 listed ", false},
	    {"[{ip}]", " host [2001:db8::25] said ", true},
	    {"{ip} is", " x1.2.3.4 is ", false},
	    {"{ip} is", " 10.0.0.1 is ", true},
	    {" rbl ", " in rbl now ", true},
	    {" rbl ", " in uribl now ", false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		bool m = brules_pattern_matches(cases[i].pat, cases[i].text, strlen(cases[i].text));
		if (m != cases[i].match)
			print_error("case %zu: %s ~ %s\n", i, cases[i].pat, cases[i].text);
		assert_int_equal(m, cases[i].match);
	}
}

/* The highest priority wins, the earlier section on a tie; conditions hold. */
static void test_priorities(void **state)
{
	static const char rules[] =
	    "[reason policy]\npriority = 10\nstatus = 5.7.*\n"
	    "[reason user_unknown]\npriority = 80\nmatch = unknown\n"
	    "[reason mailbox_full]\npriority = 80\nmatch = unknown\n"
	    "[reason blocked]\npriority = 90\nmatch = unknown\nunless = user\n"
	    "[reason rate_limited]\npriority = 95\nreply = 421\nhost = example.net\n"
	    "[reason expired]\npriority = 99\nstage = data\nrequire = late|slow\nrequire = very\n";
	struct brules r;
	char err[128];
	assert_int_equal(brules_load_string(&r, rules, strlen(rules), "p", err, sizeof err), 0);
	struct bounce_result out;
	struct bounce_facts f = {.status = NULL,
	                         .remote_mta = "mx.example.org",
	                         .recipient = "bob@example.org",
	                         .stage = BRULES_STAGE_RCPT};
	const char *t1 = "550 5.1.1 unknown user";
	bounce_classify_rules(&r, t1, strlen(t1), &f, &out);
	assert_string_equal(out.reason, "user_unknown");
	assert_int_equal(out.reason_priority, 80);
	const char *t2 = "550 5.7.1 host unknown";
	bounce_classify_rules(&r, t2, strlen(t2), &f, &out);
	assert_string_equal(out.reason, "blocked");
	assert_true(out.blocked);
	const char *t3 = "550 5.7.1 go away";
	bounce_classify_rules(&r, t3, strlen(t3), &f, &out);
	assert_string_equal(out.reason, "policy");
	assert_false(out.blocked);
	const char *t4 = "421 4.7.0 host unknown";
	bounce_classify_rules(&r, t4, strlen(t4), &f, &out);
	assert_string_equal(out.reason, "blocked"); /* host condition not met */
	f.remote_mta = "mx1.example.net";
	bounce_classify_rules(&r, t4, strlen(t4), &f, &out);
	assert_string_equal(out.reason, "rate_limited");
	const char *t5 = "450 very slow";
	bounce_classify_rules(&r, t5, strlen(t5), &f, &out);
	assert_string_equal(out.reason, "undefined");
	f.stage = BRULES_STAGE_DATA;
	bounce_classify_rules(&r, t5, strlen(t5), &f, &out);
	assert_string_equal(out.reason, "expired");
	const char *t6 = "450 slow";
	bounce_classify_rules(&r, t6, strlen(t6), &f, &out);
	assert_string_equal(out.reason, "undefined"); /* every require must hold */
	brules_free(&r);
}

/* A phrase is added without code: the same text, two rule files. */
static void test_phrase_added_by_data(void **state)
{
	const char *t = "550 5.7.0 Zugang verweigert: Absender-Server gesperrt";
	struct bounce_result out;
	bounce_classify(t, strlen(t), NULL, &out);
	assert_false(out.blocked);
	size_t n = strlen(brules_builtin_text());
	const char extra[] =
	    "\n[reason blocked]\ndetail = German: sender IP barred\npriority = 80\n"
	    "match = absender-server * gesperrt\n";
	char *text = malloc(n + sizeof extra);
	assert_non_null(text);
	memcpy(text, brules_builtin_text(), n);
	memcpy(text + n, extra, sizeof extra);
	struct brules r;
	char err[256];
	assert_int_equal(brules_load_string(&r, text, strlen(text), "x", err, sizeof err), 0);
	bounce_classify_rules(&r, t, strlen(t), NULL, &out);
	assert_true(out.blocked);
	assert_string_equal(out.reason_detail, "German: sender IP barred");
	brules_free(&r);
	free(text);
}

static const struct {
	const char *charset, *in, *utf8;
} charset_cases[] = {
    {"ISO-2022-JP", "\x1b$BG[?.$G$-$^$;$s$G$7$?\x1b(B",
     "\xe9\x85\x8d\xe4\xbf\xa1\xe3\x81\xa7\xe3\x81\x8d\xe3\x81\xbe\xe3\x81\x9b\xe3\x82\x93\xe3\x81"
     "\xa7\xe3\x81\x97\xe3\x81\x9f"},
    {"Shift_JIS", "\x94z\x90M\x83G\x83\x89\x81[",
     "\xe9\x85\x8d\xe4\xbf\xa1\xe3\x82\xa8\xe3\x83\xa9\xe3\x83\xbc"},
    {"EUC-JP", "\xc7\xdb\xbf\xae\xa5\xa8\xa5\xe9\xa1\xbc",
     "\xe9\x85\x8d\xe4\xbf\xa1\xe3\x82\xa8\xe3\x83\xa9\xe3\x83\xbc"},
    {"KOI8-R",
     "\xf3\xcf\xcf\xc2\xdd\xc5\xce\xc9\xc5 \xce\xc5 \xc4\xcf\xd3\xd4\xc1\xd7\xcc\xc5\xce\xcf",
     "\xd0\xa1\xd0\xbe\xd0\xbe\xd0\xb1\xd1\x89\xd0\xb5\xd0\xbd\xd0\xb8\xd0\xb5 \xd0\xbd\xd0\xb5 "
     "\xd0\xb4\xd0\xbe\xd1\x81\xd1\x82\xd0\xb0\xd0\xb2\xd0\xbb\xd0\xb5\xd0\xbd\xd0\xbe"},
    {"windows-1251",
     "\xd1\xee\xee\xe1\xf9\xe5\xed\xe8\xe5 \xed\xe5 \xe4\xee\xf1\xf2\xe0\xe2\xeb\xe5\xed\xee",
     "\xd0\xa1\xd0\xbe\xd0\xbe\xd0\xb1\xd1\x89\xd0\xb5\xd0\xbd\xd0\xb8\xd0\xb5 \xd0\xbd\xd0\xb5 "
     "\xd0\xb4\xd0\xbe\xd1\x81\xd1\x82\xd0\xb0\xd0\xb2\xd0\xbb\xd0\xb5\xd0\xbd\xd0\xbe"},
    {"GB2312", "\xcd\xcb\xd0\xc5", "\xe9\x80\x80\xe4\xbf\xa1"},
    {"GBK", "\xcd\xcb\xd0\xc5", "\xe9\x80\x80\xe4\xbf\xa1"},
    {"Big5", "\xb0h\xabH", "\xe9\x80\x80\xe4\xbf\xa1"},
    {"ISO-8859-2",
     "Doru\xe8"
     "en\xed selhalo",
     "Doru\xc4\x8d"
     "en\xc3\xad selhalo"},
    {"windows-1252", "Zustellung fehlgeschlagen \x96 Empf\xe4nger",
     "Zustellung fehlgeschlagen \xe2\x80\x93 Empf\xc3\xa4nger"},
    {"iso-8859-1", "Empf\xe4nger unbekannt", "Empf\xc3\xa4nger unbekannt"},
};

static void test_charsets(void **state)
{
	for (size_t i = 0; i < sizeof charset_cases / sizeof charset_cases[0]; i++) {
		struct buf b;
		buf_init(&b, 4096);
		int rc = mime_to_utf8(charset_cases[i].charset, charset_cases[i].in,
		                      strlen(charset_cases[i].in), &b);
		if (rc != 0 || strcmp(buf_cstr(&b), charset_cases[i].utf8) != 0)
			print_error("case %zu (%s): rc=%d\n", i, charset_cases[i].charset, rc);
		assert_int_equal(rc, 0);
		assert_string_equal(buf_cstr(&b), charset_cases[i].utf8);
		buf_free(&b);
	}
	struct buf b;
	buf_init(&b, 64);
	assert_int_equal(mime_to_utf8("x-no-such-charset", "abc", 3, &b), -1);
	assert_int_equal(mime_to_utf8("us-ascii", "abc", 3, &b), 0);
	assert_string_equal(buf_cstr(&b), "abc");
	buf_reset(&b);
	/* An invalid byte becomes '?', the rest is kept. */
	assert_int_equal(mime_to_utf8("EUC-JP",
	                              "a\xff"
	                              "b",
	                              3, &b),
	                 0);
	assert_string_equal(buf_cstr(&b), "a?b");
	buf_free(&b);
}

static void test_encoded_words(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"=?ISO-2022-JP?B?GyRCR1s/LiUoJWkhPBsoQg==?=",
	     "\xe9\x85\x8d\xe4\xbf\xa1\xe3\x82\xa8\xe3\x83\xa9\xe3\x83\xbc"},
	    {"Undeliverable: =?utf-8?Q?caf=C3=A9?= =?utf-8?Q?_menu?= today",
	     "Undeliverable: caf\xc3\xa9 menu today"},
	    {"=?koi8-r?B?88/Pwt3FzsnF?=",
	     "\xd0\xa1\xd0\xbe\xd0\xbe\xd0\xb1\xd1\x89\xd0\xb5\xd0\xbd\xd0\xb8\xd0\xb5"},
	    {"plain text", "plain text"},
	    {"=?bogus?X?abc?= stays", "=?bogus?X?abc?= stays"},
	    {"=?no-such-cs?Q?abc?= stays", "=?no-such-cs?Q?abc?= stays"},
	    {"=?utf-8?Q?unterminated", "=?utf-8?Q?unterminated"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b;
		buf_init(&b, 1024);
		assert_int_equal(mime_decode_words(cases[i].in, strlen(cases[i].in), &b), 0);
		if (strcmp(buf_cstr(&b), cases[i].out) != 0)
			print_error("case %zu: %s\n", i, buf_cstr(&b));
		assert_string_equal(buf_cstr(&b), cases[i].out);
		buf_free(&b);
	}
}

/* A Diagnostic-Code continued on a line that is not indented. */
static void test_dsn_unindented_fold(void **state)
{
	static const char msg[] =
	    "From: MAILER-DAEMON@mail.example.com (Mail Delivery System)\n"
	    "Subject: Undelivered Mail Returned to Sender\n"
	    "MIME-Version: 1.0\n"
	    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n"
	    "--B\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
	    "--B\nContent-Type: message/delivery-status\n\n"
	    "Reporting-MTA: dns; mail.example.com\n\n"
	    "Final-Recipient: rfc822; bob@example.net\n"
	    "Action: failed\n"
	    "Status: 5.7.1\n"
	    "Remote-MTA: dns; mx.example.net\n"
	    "Diagnostic-Code: smtp; 554 5.7.1 Service unavailable; Client host [203.0.113.5]\n"
	    "blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/203.0.113.5\n"
	    "Last-Attempt-Date: Sun, 6 Dec 2026 04:00:00 +0000\n"
	    "--B--\n";
	struct bounce_result r;
	assert_int_equal(bounce_analyze(msg, sizeof msg - 1, &r), 0);
	assert_true(r.is_bounce);
	assert_string_equal(r.recipient, "bob@example.net");
	assert_non_null(strstr(r.diagnostic, "blocked using zen.spamhaus.org"));
	assert_true(r.blocked);
	assert_int_equal(r.nlists, 1);
	assert_string_equal(r.lists[0].id, "zen.spamhaus.org");
	assert_string_equal(r.listed_ip, "203.0.113.5");
}

/* A Postfix bounce written in ISO-2022-JP, forwarded inside another bounce. */
static void test_forwarded_iso2022jp(void **state)
{
	static const char msg[] =
	    "From: MAILER-DAEMON@relay.example.org (Mail Delivery System)\n"
	    "Subject: Undelivered Mail Returned to Sender\n"
	    "MIME-Version: 1.0\n"
	    "Content-Type: multipart/mixed; boundary=\"OUT\"\n\n"
	    "--OUT\nContent-Type: text/plain\n\n"
	    "This is the mail system at host relay.example.org.\n"
	    "A delivery report for your message came back to us; it is attached.\n\n"
	    "--OUT\nContent-Type: message/rfc822\n\n"
	    "From: MAILER-DAEMON@mx.example.jp (Mail Delivery System)\n"
	    "Subject: =?ISO-2022-JP?B?GyRCR1s/LiUoJWkhPBsoQg==?=\n"
	    "MIME-Version: 1.0\n"
	    "Content-Type: text/plain; charset=ISO-2022-JP\n\n"
	    "<bob@example.jp>: host mx.example.jp[192.0.2.9] said: 554 5.7.1 Client host\n"
	    "    rejected: cannot find your hostname, [203.0.113.5] (in reply to RCPT TO\n"
	    "    command)\n\n"
	    "\x1b$BG[?.$G$-$^$;$s$G$7$?!#\x1b(B\n"
	    "--OUT--\n";
	struct bounce_result r;
	assert_int_equal(bounce_analyze(msg, sizeof msg - 1, &r), 0);
	assert_true(r.is_bounce);
	assert_true(r.forwarded);
	assert_string_equal(r.recipient, "bob@example.jp");
	assert_string_equal(r.remote_mta, "mx.example.jp");
	assert_string_equal(r.status, "5.7.1");
	assert_true(r.blocked);
	assert_string_equal(r.reason, "blocked");
	assert_string_equal(r.listed_ip, "203.0.113.5");
	assert_int_equal(r.stage, BRULES_STAGE_RCPT);
	assert_string_equal(r.subject, "Undelivered Mail Returned to Sender");
}

/* The session stage decides a bare refusal at connect time. */
static void test_connect_refusal(void **state)
{
	static const char msg[] =
	    "From: MAILER-DAEMON@mail.example.com (Mail Delivery System)\n"
	    "Subject: Undelivered Mail Returned to Sender\n\n"
	    "<ann@example.org>: host mx.example.org[192.0.2.8] refused to talk to me: 554\n"
	    "    mx.example.org\n";
	struct bounce_result r;
	assert_int_equal(bounce_analyze(msg, sizeof msg - 1, &r), 0);
	assert_true(r.is_bounce);
	assert_int_equal(r.stage, BRULES_STAGE_CONNECT);
	assert_true(r.blocked);
	assert_string_equal(r.reason, "blocked");
	static const char user[] =
	    "From: MAILER-DAEMON@mail.example.com (Mail Delivery System)\n"
	    "Subject: Undelivered Mail Returned to Sender\n\n"
	    "<ann@example.org>: host mx.example.org[192.0.2.8] said: 550 5.1.1 <ann@example.org>:\n"
	    "    Recipient address rejected: User unknown (in reply to RCPT TO command)\n";
	assert_int_equal(bounce_analyze(user, sizeof user - 1, &r), 0);
	assert_false(r.blocked);
	assert_string_equal(r.reason, "user_unknown");
	assert_int_equal(r.stage, BRULES_STAGE_RCPT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_builtin_parses),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_patterns),
	    cmocka_unit_test(test_priorities),
	    cmocka_unit_test(test_phrase_added_by_data),
	    cmocka_unit_test(test_charsets),
	    cmocka_unit_test(test_encoded_words),
	    cmocka_unit_test(test_dsn_unindented_fold),
	    cmocka_unit_test(test_forwarded_iso2022jp),
	    cmocka_unit_test(test_connect_refusal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
