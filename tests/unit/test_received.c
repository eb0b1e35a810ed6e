/*
 * Unit tests for src/forensics: the RFC 5322 header reader (msg), the date
 * parser, the Received parser in every vendor style, and the trace walk.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/addr.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/str.h"
#include "forensics/date.h"
#include "forensics/msg.h"
#include "forensics/received.h"
#include "forensics/trace.h"

#include <stdlib.h>
#include <string.h>

static struct received rcv;

static int parse(const char *v)
{
	return received_parse(v, strlen(v), &rcv);
}

static void date_is(const char *want)
{
	char out[40];
	assert_true(rcv.has_date);
	assert_int_equal(clock_format_rfc3339(rcv.date_ms, out, sizeof out), 0);
	assert_string_equal(out, want);
}

/* ---- msg ---- */

static void test_msg_fields(void **state)
{
	const char m[] = "From sam@example.com Mon Nov 23 09:00:00 2026\n"
	                 "Subject: hello\r\n"
	                 "\tworld\r\n"
	                 "X-Empty:\n"
	                 "not a field\n"
	                 " orphan? no, continues X-Empty\n"
	                 "Bad Name: x\n"
	                 "Received : obs-form\n"
	                 "\n"
	                 "Body: not a header\n";
	struct msg_reader r;
	struct msg_field f;
	struct buf v;
	buf_init(&v, 1024);
	msg_reader_init(&r, m, sizeof m - 1);
	assert_int_equal(msg_next(&r, &f), 1);
	assert_true(r.mbox_from);
	assert_true(msg_field_is(&f, "subject"));
	assert_int_equal(msg_unfold(&f, &v), 0);
	assert_string_equal(buf_cstr(&v), "hello world");
	assert_int_equal(msg_next(&r, &f), 1);
	assert_true(msg_field_is(&f, "X-Empty"));
	assert_int_equal(msg_unfold(&f, &v), 0);
	assert_string_equal(buf_cstr(&v), "");
	assert_int_equal(msg_next(&r, &f), 1);
	assert_true(msg_field_is(&f, "Received"));
	assert_int_equal(msg_unfold(&f, &v), 0);
	assert_string_equal(buf_cstr(&v), "obs-form");
	assert_int_equal(msg_next(&r, &f), 0);
	assert_int_equal(msg_next(&r, &f), 0);
	assert_true(r.blank_line);
	assert_int_equal(r.fields, 3);
	assert_int_equal(r.malformed, 3);
	assert_string_equal(m + msg_body_offset(&r), "Body: not a header\n");
	buf_free(&v);
}

static void test_msg_nul_and_controls(void **state)
{
	const char m[] = "A: x\0y\x01z\nB: end";
	struct msg_reader r;
	struct msg_field f;
	struct buf v;
	buf_init(&v, 64);
	msg_reader_init(&r, m, sizeof m - 1);
	assert_int_equal(msg_next(&r, &f), 1);
	assert_int_equal(msg_unfold(&f, &v), 0);
	assert_string_equal(buf_cstr(&v), "x y z");
	assert_int_equal(msg_next(&r, &f), 1);
	assert_int_equal(msg_unfold(&f, &v), 0);
	assert_string_equal(buf_cstr(&v), "end");
	assert_int_equal(msg_next(&r, &f), 0);
	assert_false(r.blank_line);
	/* The buf's max bounds the unfolded value. */
	buf_free(&v);
	buf_init(&v, 2);
	msg_reader_init(&r, m, sizeof m - 1);
	assert_int_equal(msg_next(&r, &f), 1);
	assert_int_equal(msg_unfold(&f, &v), -1);
	buf_free(&v);
	msg_reader_init(&r, NULL, 5);
	assert_int_equal(msg_next(&r, &f), 0);
}

static void test_msg_caps(void **state)
{
	size_t n = MSG_HEADER_MAX + 4096;
	char *m = malloc(n);
	assert_non_null(m);
	struct msg_reader r;
	struct msg_field f;
	/* One giant folded field. */
	memcpy(m, "X: ", 3);
	for (size_t i = 3; i < n; i++)
		m[i] = (i % 64 == 0) ? '\n' : (i % 64 == 1 ? ' ' : 'a');
	msg_reader_init(&r, m, n);
	assert_int_equal(msg_next(&r, &f), -1);
	assert_int_equal(r.error, MSG_ERR_FIELD_TOO_LARGE);
	assert_int_equal(msg_next(&r, &f), -1);
	/* Many small fields: the section cap. */
	for (size_t i = 0; i < n; i += 8)
		memcpy(m + i, i + 8 <= n ? "Xy: abc\n" : "Xy: abc\n", i + 8 <= n ? 8 : n - i);
	msg_reader_init(&r, m, n);
	int rc;
	while ((rc = msg_next(&r, &f)) == 1)
		;
	assert_int_equal(rc, -1);
	assert_true(r.error == MSG_ERR_TOO_MANY_FIELDS || r.error == MSG_ERR_HEADER_TOO_LARGE);
	/* Lines that are not fields: the section cap. */
	memset(m, 'z', n);
	for (size_t i = 99; i < n; i += 100)
		m[i] = '\n';
	msg_reader_init(&r, m, n);
	assert_int_equal(msg_next(&r, &f), -1);
	assert_int_equal(r.error, MSG_ERR_HEADER_TOO_LARGE);
	assert_string_equal(msg_error_str(r.error), "header section too large");
	free(m);
}

/* ---- date ---- */

static void test_date(void **state)
{
	int64_t ms;
	char out[40];
	struct {
		const char *in, *want;
	} ok[] = {
	    {"Mon, 23 Nov 2026 09:14:07 +0100 (CET)", "2026-11-23T08:14:07Z"},
	    {"23 Nov 2026 09:30:00 -0000", "2026-11-23T09:30:00Z"},
	    {"Fri, 28 Oct 2022 12:24:56 -0700 (PDT)", "2022-10-28T19:24:56Z"},
	    {"  Sat, 29 Feb 2020 23:59 GMT", "2020-02-29T23:59:00Z"},
	    {"1 Jan 99 00:00:00 EST", "1999-01-01T05:00:00Z"},
	    {"1 jan 26 00:00:00 z", "2026-01-01T00:00:00Z"},
	    {"31 Dec 2026 23:59:60 +0000", "2026-12-31T23:59:59Z"},
	    {"Mon , 23 Nov 2026 09 : 14 : 07 +0000 (a (nested) comment)", "2026-11-23T09:14:07Z"},
	    {"1 Mar 2026 00:30:00 +0100", "2026-02-28T23:30:00Z"},
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		assert_int_equal(date_parse_rfc5322(ok[i].in, strlen(ok[i].in), &ms), 0);
		assert_int_equal(clock_format_rfc3339(ms, out, sizeof out), 0);
		assert_string_equal(out, ok[i].want);
	}
	const char *bad[] = {
	    "",
	    "Mon, 23 Nov 2026",
	    "29 Feb 2021 00:00:00 +0000",
	    "32 Jan 2026 00:00:00 +0000",
	    "1 Foo 2026 00:00:00 +0000",
	    "1 Jan 2026 24:00:00 +0000",
	    "1 Jan 2026 00:60:00 +0000",
	    "1 Jan 2026 00:00:00 +0060",
	    "1 Jan 2026 00:00:00 +00000",
	    "1 Jan 2026 00:00:00 +0000 trailing",
	    "1 Jan 2026 00:00:00 (unterminated",
	    "1 Jan 2026 00:00:00 XYZ",
	    "Monday, 1 Jan 2026 00:00:00 +0000",
	    "123 Jan 2026 00:00:00 +0000",
	    "1 Jan 12345 00:00:00 +0000",
	    "2026-11-23T09:00:00Z",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(date_parse_rfc5322(bad[i], strlen(bad[i]), &ms), -1);
	assert_int_equal(date_parse_rfc5322(NULL, 0, &ms), -1);
}

/* ---- received: vendor styles ---- */

static void test_received_postfix(void **state)
{
	assert_int_equal(
	    parse("from mail.example.net (mail.example.net [203.0.113.5])\r\n"
	          "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\r\n"
	          "\t key-exchange X25519 server-signature RSA-PSS (2048 bits))\r\n"
	          "\t(No client certificate requested)\r\n"
	          "\tby mx.example.org (Postfix) with ESMTPS id 4Nk2mB0xYzz9sQ\r\n"
	          "\tfor <bob@example.org>; Mon, 23 Nov 2026 09:14:07 +0100 (CET)"),
	    0);
	assert_true(rcv.has_from);
	assert_true(rcv.has_by);
	assert_string_equal(rcv.from_host, "mail.example.net");
	assert_string_equal(rcv.from_rdns, "mail.example.net");
	assert_true(rcv.has_ip);
	assert_string_equal(rcv.from_ip, "203.0.113.5");
	assert_string_equal(rcv.by_host, "mx.example.org");
	assert_string_equal(rcv.with, "ESMTPS");
	assert_string_equal(rcv.id, "4Nk2mB0xYzz9sQ");
	assert_string_equal(rcv.for_addr, "bob@example.org");
	assert_string_equal(rcv.date_raw, "Mon, 23 Nov 2026 09:14:07 +0100 (CET)");
	date_is("2026-11-23T08:14:07Z");
	assert_false(rcv.authenticated);
	assert_string_equal(rcv.auth_user, "");
	assert_false(rcv.local);
}

static void test_received_postfix_auth(void **state)
{
	assert_int_equal(parse("from pc1 (unknown [203.0.113.66]) (Authenticated sender: sam) by "
	                       "mail.example.com (Postfix) with ESMTPSA id 4A3F1C2B7D for "
	                       "<victim@example.org>; Mon, 23 Nov 2026 03:12:44 +0000 (UTC)"),
	                 0);
	assert_string_equal(rcv.from_host, "pc1");
	assert_string_equal(rcv.from_rdns, "");
	assert_string_equal(rcv.from_ip, "203.0.113.66");
	assert_string_equal(rcv.with, "ESMTPSA");
	assert_true(rcv.authenticated);
	assert_string_equal(rcv.auth_user, "sam");
	assert_string_equal(rcv.id, "4A3F1C2B7D");
	/* Default Postfix: ESMTPA, no account name in the header. */
	assert_int_equal(parse("from pc1 (unknown [203.0.113.66]) by mail.example.com (Postfix) "
	                       "with ESMTPA id 4A3F1C2B7E; Mon, 23 Nov 2026 03:12:44 +0000"),
	                 0);
	assert_true(rcv.authenticated);
	assert_string_equal(rcv.auth_user, "");
	/* HELO literal different from the socket address: the socket wins. */
	assert_int_equal(parse("from [192.168.1.2] (unknown [203.0.113.67]) by mx.example.org "
	                       "(Postfix) with ESMTP id X1; Mon, 23 Nov 2026 03:12:44 +0000"),
	                 0);
	assert_string_equal(rcv.from_host, "[192.168.1.2]");
	assert_string_equal(rcv.from_ip, "203.0.113.67");
	assert_false(rcv.authenticated);
}

static void test_received_postfix_local(void **state)
{
	assert_int_equal(parse("by srvmsg01.example.com (Postfix, from userid 1001)\n"
	                       " id 9162E604FF; Sat, 16 May 2026 16:13:34 +0200 (CEST)"),
	                 0);
	assert_false(rcv.has_from);
	assert_false(rcv.has_ip);
	assert_true(rcv.local);
	assert_string_equal(rcv.local_uid, "1001");
	assert_string_equal(rcv.by_host, "srvmsg01.example.com");
	assert_string_equal(rcv.id, "9162E604FF");
	date_is("2026-05-16T14:13:34Z");
}

static void test_received_postfix_ipv6(void **state)
{
	assert_int_equal(parse("from mail6.example.net (mail6.example.net [IPv6:2001:DB8:0:0::25]) "
	                       "by mx.example.org (Postfix) with ESMTPS id 4Nk6v6Abcd; Mon, 23 Nov "
	                       "2026 13:00:01 +0000"),
	                 0);
	assert_string_equal(rcv.from_ip, "2001:db8::25");
	assert_int_equal(rcv.ip.family, 6);
	assert_string_equal(rcv.from_rdns, "mail6.example.net");
	/* IPv4-mapped addresses are printed as IPv4. */
	assert_int_equal(parse("from a (b [IPv6:::ffff:203.0.113.8]) by c with ESMTP; 1 Jan 2026 "
	                       "00:00:00 +0000"),
	                 0);
	assert_string_equal(rcv.from_ip, "203.0.113.8");
	assert_int_equal(rcv.ip.family, 4);
}

static void test_received_exim(void **state)
{
	assert_int_equal(
	    parse("from mail.example.com ([198.51.100.10] helo=smtp.example.com)\n"
	          "\tby mx.example.org with esmtps  (TLS1.3) tls TLS_AES_256_GCM_SHA384\n"
	          "\t(Exim 4.96)\n\t(envelope-from <sam@example.com>)\n"
	          "\tid 1tEaBc-000XyZ-2Q\n\tfor bob@example.org; Mon, 23 Nov 2026 "
	          "09:20:11 +0000"),
	    0);
	assert_string_equal(rcv.from_host, "smtp.example.com");
	assert_string_equal(rcv.from_rdns, "mail.example.com");
	assert_string_equal(rcv.from_ip, "198.51.100.10");
	assert_string_equal(rcv.by_host, "mx.example.org");
	assert_string_equal(rcv.with, "esmtps");
	assert_string_equal(rcv.id, "1tEaBc-000XyZ-2Q");
	assert_string_equal(rcv.for_addr, "bob@example.org");
	assert_false(rcv.authenticated);

	assert_int_equal(parse("from [203.0.113.77] (port=51234 helo=[192.168.1.20]) by "
	                       "mail.example.com with esmtpsa (TLS1.3) tls TLS_AES_256_GCM_SHA384 "
	                       "(Exim 4.96) (envelope-from <sam@example.com>) id 1tEaXy-0001Ab-1c; "
	                       "Mon, 23 Nov 2026 09:20:10 +0000"),
	                 0);
	assert_string_equal(rcv.from_host, "[192.168.1.20]");
	assert_string_equal(rcv.from_rdns, "");
	assert_string_equal(rcv.from_ip, "203.0.113.77");
	assert_string_equal(rcv.with, "esmtpsa");
	assert_true(rcv.authenticated);
	assert_string_equal(rcv.auth_user, "");

	/* Exim 3 (SA's comment), and log-style "[ip]:port" with an IPv6 address. */
	assert_int_equal(parse("from [203.0.113.26] (helo=host) by sc8-sf-list1.example.net with "
	                       "smtp (Exim 3.31-VA-mm2 #1 (Debian)) id 18t2z0-0001NX-00 for "
	                       "<x@example.net>; Thu, 14 Nov 2002 13:04:02 -0800"),
	                 0);
	assert_string_equal(rcv.from_host, "host");
	assert_string_equal(rcv.from_ip, "203.0.113.26");
	assert_string_equal(rcv.with, "smtp");
	assert_string_equal(rcv.id, "18t2z0-0001NX-00");
	assert_int_equal(parse("from h.example.net ([2001:db8:2::9]:40123 helo=h.example.net) by "
	                       "mx.example.org with esmtp (Exim 4.96) id 1abc; 1 Jan 2026 00:00 "
	                       "+0000"),
	                 0);
	assert_string_equal(rcv.from_ip, "2001:db8:2::9");
	/* Exim's A= notation, as some configurations add it. */
	assert_int_equal(parse("from [203.0.113.5] (helo=x) by mx.example.org with esmtpa "
	                       "(A=dovecot_login:sam) id 1abc; 1 Jan 2026 00:00 +0000"),
	                 0);
	assert_true(rcv.authenticated);
	assert_string_equal(rcv.auth_user, "sam");
	/* Local submission. */
	assert_int_equal(
	    parse("from sam by mail.example.com with local (Exim 4.96) "
	          "(envelope-from <sam@example.com>) id 1tEb-0002; 1 Jan 2026 00:00 +0000"),
	    0);
	assert_true(rcv.local);
	assert_false(rcv.has_ip);
}

static void test_received_sendmail(void **state)
{
	assert_int_equal(
	    parse("from gandalf ([203.0.113.31]) (authenticated bits=0) by "
	          "herald.example.org (8.12.5/8.12.5/herald) with ESMTP id "
	          "g9JLefrm028228 for <x@example.org>; Sat, 19 Oct 2002 17:40:41 -0500"),
	    0);
	assert_string_equal(rcv.from_host, "gandalf");
	assert_string_equal(rcv.from_rdns, "");
	assert_string_equal(rcv.from_ip, "203.0.113.31");
	assert_string_equal(rcv.with, "ESMTP");
	assert_string_equal(rcv.id, "g9JLefrm028228");
	assert_true(rcv.authenticated);
	assert_string_equal(rcv.auth_user, "");
	date_is("2002-10-19T22:40:41Z");

	assert_int_equal(
	    parse("from pc (ident@client.example.net [203.0.113.32] (may be forged)) "
	          "(authenticated as sam) by mx.example.org (8.15.2/8.15.2) with ESMTPSA "
	          "id 4ANF1bcd (version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256 "
	          "verify=NO); Mon, 23 Nov 2026 10:01:41 -0500"),
	    0);
	assert_string_equal(rcv.from_rdns, "client.example.net");
	assert_string_equal(rcv.from_ip, "203.0.113.32");
	assert_true(rcv.authenticated);
	assert_string_equal(rcv.auth_user, "sam");
}

static void test_received_exchange(void **state)
{
	assert_int_equal(
	    parse("from EXCH01.corp.example.com (2001:db8:10::5) by "
	          "EXCH02.corp.example.com (2001:db8:10::6) with Microsoft SMTP Server "
	          "(version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id "
	          "15.1.2507.39 via Frontend Transport; Mon, 23 Nov 2026 10:05:02 +0000"),
	    0);
	assert_string_equal(rcv.from_host, "EXCH01.corp.example.com");
	assert_string_equal(rcv.from_ip, "2001:db8:10::5");
	assert_string_equal(rcv.by_host, "EXCH02.corp.example.com");
	assert_string_equal(rcv.with, "Microsoft SMTP Server");
	assert_string_equal(rcv.id, "15.1.2507.39");
	assert_false(rcv.authenticated);
	date_is("2026-11-23T10:05:02Z");

	assert_int_equal(
	    parse("from [192.0.2.15] (203.0.113.44) by mail.example.com (198.51.100.3) "
	          "with Microsoft SMTP Server id 14.3.123.1; Mon, 23 Nov 2026 10:00:00 "
	          "+0000"),
	    0);
	assert_string_equal(rcv.from_host, "[192.0.2.15]");
	assert_string_equal(rcv.from_ip, "203.0.113.44");
	assert_string_equal(rcv.id, "14.3.123.1");

	assert_int_equal(parse("from client.example.net (client.example.net [203.0.113.45]) "
	                       "(Authenticated sender: sam@example.com) by mail.example.com with "
	                       "ESMTPSA id AB12; Mon, 23 Nov 2026 10:00:00 +0000"),
	                 0);
	assert_true(rcv.authenticated);
	assert_string_equal(rcv.auth_user, "sam@example.com");

	/* MAPI submission (Outlook): authenticated by construction, no address. */
	assert_int_equal(
	    parse("from EXCH01.corp.example.com ([fe80::1%12]) by "
	          "EXCH01.corp.example.com ([fe80::1%12]) with mapi id 15.01.2507.039; "
	          "Mon, 23 Nov 2026 10:05:01 +0000"),
	    0);
	assert_false(rcv.has_ip);
	assert_true(rcv.authenticated);
}

static void test_received_gmail(void **state)
{
	assert_int_equal(
	    parse("from localhost ([2001:db8:65a0:ab60:309e:e758:a2c9:d68c])\n"
	          "        by smtp.gmail.example.net with ESMTPSA id "
	          "de13-20020a05620a370d00b006f9ddaaf01esm3546694qkb.102.2022.10.28.12.24.56\n"
	          "        (version=TLS1_3 cipher=TLS_AES_256_GCM_SHA384 bits=256/256);\n"
	          "        Fri, 28 Oct 2022 12:24:56 -0700 (PDT)"),
	    0);
	assert_string_equal(rcv.from_host, "localhost");
	assert_string_equal(rcv.from_ip, "2001:db8:65a0:ab60:309e:e758:a2c9:d68c");
	assert_string_equal(rcv.by_host, "smtp.gmail.example.net");
	assert_string_equal(rcv.with, "ESMTPSA");
	assert_string_equal(
	    rcv.id, "de13-20020a05620a370d00b006f9ddaaf01esm3546694qkb.102.2022.10.28.12.24.56");
	assert_true(rcv.authenticated);
	date_is("2022-10-28T19:24:56Z");

	assert_int_equal(
	    parse("from mail-sor-f41.gmail.example.net (mail-sor-f41.gmail.example.net. "
	          "[198.51.100.41]) by mx.example.org with SMTPS id abc for "
	          "<bob@example.org> (Google Transport Security); Mon, 23 Nov 2026 "
	          "01:02:03 -0800 (PST)"),
	    0);
	assert_string_equal(rcv.from_rdns, "mail-sor-f41.gmail.example.net");
	assert_string_equal(rcv.from_ip, "198.51.100.41");
	assert_string_equal(rcv.with, "SMTPS");
	assert_false(rcv.authenticated);
	assert_int_equal(parse("from x ([198.51.100.42]) by smtp.gmail.example.net with SMTPSA id "
	                       "q1; Mon, 23 Nov 2026 01:02:03 -0800"),
	                 0);
	assert_true(rcv.authenticated);
}

static void test_received_qmail(void **state)
{
	assert_int_equal(parse("from unknown (HELO client.example.net) (sam@203.0.113.88)\n"
	                       "  by mail.example.com with ESMTPA; 23 Nov 2026 09:30:00 -0000"),
	                 0);
	assert_string_equal(rcv.from_host, "client.example.net");
	assert_string_equal(rcv.from_rdns, "");
	assert_string_equal(rcv.from_ip, "203.0.113.88");
	assert_string_equal(rcv.with, "ESMTPA");
	assert_true(rcv.authenticated);
	assert_string_equal(rcv.auth_user, "sam");
	date_is("2026-11-23T09:30:00Z");

	/* Without SMTP AUTH the (user@ip) part is ident, not an account. */
	assert_int_equal(parse("from host.example.net (HELO h) (ident@203.0.113.89) by "
	                       "mail.example.com with SMTP; 23 Nov 2026 09:30:00 -0000"),
	                 0);
	assert_string_equal(rcv.from_rdns, "host.example.net");
	assert_string_equal(rcv.from_ip, "203.0.113.89");
	assert_false(rcv.authenticated);
	assert_string_equal(rcv.auth_user, "");

	/* qpsmtpd (logs.md 6.1). */
	assert_int_equal(parse("from sigill.intra.example.net (HELO sigill.intra.example.net) "
	                       "(10.0.0.7) by example.net (qpsmtpd/0.94) with ESMTPA; Wed, 06 Dec "
	                       "2017 19:22:57 -0500"),
	                 0);
	assert_string_equal(rcv.from_ip, "10.0.0.7");
	assert_true(rcv.authenticated);

	assert_int_equal(parse("(qmail 23456 invoked by uid 1001); 23 Nov 2026 09:40:00 -0000"), 0);
	assert_true(rcv.local);
	assert_string_equal(rcv.local_uid, "1001");
	assert_false(rcv.has_ip);
	assert_int_equal(parse("(qmail 12345 invoked from network); 23 Nov 2026 09:30:00 -0000"),
	                 -1);
	assert_false(rcv.local);
	date_is("2026-11-23T09:30:00Z");
}

static void test_received_opensmtpd(void **state)
{
	assert_int_equal(parse("from laptop.example.net (host-203-0-113-9.example.net "
	                       "[203.0.113.9])\n\tby mail.example.com (OpenSMTPD) with ESMTPSA id "
	                       "3c1a2b4f (TLSv1.3:TLS_AES_256_GCM_SHA384:256:NO)\n\tauth=yes "
	                       "user=sam\n\tfor <carol@example.org>;\n\tMon, 23 Nov 2026 09:45:12 "
	                       "+0000 (UTC)"),
	                 0);
	assert_string_equal(rcv.from_host, "laptop.example.net");
	assert_string_equal(rcv.from_rdns, "host-203-0-113-9.example.net");
	assert_string_equal(rcv.from_ip, "203.0.113.9");
	assert_string_equal(rcv.id, "3c1a2b4f");
	assert_string_equal(rcv.for_addr, "carol@example.org");
	assert_true(rcv.authenticated);
	assert_string_equal(rcv.auth_user, "sam");

	assert_int_equal(parse("from [IPv6:2001:db8::1] (host.example.net [IPv6:2001:db8::1]) by "
	                       "mail.example.com (OpenSMTPD) with ESMTP id 0badf00d auth=no for "
	                       "<c@example.org>; Mon, 23 Nov 2026 09:45:12 +0000"),
	                 0);
	assert_string_equal(rcv.from_ip, "2001:db8::1");
	assert_false(rcv.authenticated);
}

static void test_received_courier(void **state)
{
	assert_int_equal(parse("from client.example.net (client.example.net [203.0.113.12]) (AUTH: "
	                       "LOGIN sam, TLS: TLSv1.3,256bits,TLS_AES_256_GCM_SHA384) by "
	                       "mail.example.com with ESMTPSA; Mon, 23 Nov 2026 09:00:00 +0000"),
	                 0);
	assert_true(rcv.authenticated);
	assert_string_equal(rcv.auth_user, "sam");
	assert_string_equal(rcv.from_ip, "203.0.113.12");
}

static void test_received_relayguard(void **state)
{
	/* The format the gateway writes (docs/received.md). */
	assert_int_equal(parse("from pc1.example.net (client.example.net [203.0.113.66])\r\n"
	                       "\t(Authenticated sender: sam)\r\n"
	                       "\tby mail.example.com (relayguard) with ESMTPSA id 7F3A2C91B0\r\n"
	                       "\tfor <victim@example.org>; Mon, 23 Nov 2026 09:50:00 +0000"),
	                 0);
	assert_string_equal(rcv.from_host, "pc1.example.net");
	assert_string_equal(rcv.from_rdns, "client.example.net");
	assert_string_equal(rcv.from_ip, "203.0.113.66");
	assert_string_equal(rcv.by_host, "mail.example.com");
	assert_string_equal(rcv.with, "ESMTPSA");
	assert_string_equal(rcv.id, "7F3A2C91B0");
	assert_string_equal(rcv.for_addr, "victim@example.org");
	assert_true(rcv.authenticated);
	assert_string_equal(rcv.auth_user, "sam");
	date_is("2026-11-23T09:50:00Z");
}

/* Issue 16 item 1: an auth marker in text the client chose (its HELO, its
 * recipient) never makes a hop authenticated. */
static void test_received_forged_auth(void **state)
{
	static const char *const forged[] = {
	    /* the HELO as our from word (before the fix the gateway kept = and :) */
	    "from A=dovecot_login:ceo (unknown [127.0.0.1])\r\n\tby gw.example (relayguard) with "
	    "ESMTP id 01AB; Mon, 23 Nov 2026 09:50:00 +0000",
	    "from auth=yes (unknown [127.0.0.1])\r\n\tby gw.example (relayguard) with ESMTP id "
	    "01AB; Mon, 23 Nov 2026 09:50:00 +0000",
	    "from user=ceo auth=yes (unknown [127.0.0.1]) by gw.example with ESMTP id 1; 1 Jan "
	    "2026 00:00 +0000",
	    /* a quoted local part in for: a comment there is the recipient's text */
	    "from pc (unknown [127.0.0.1])\r\n\tby gw.example (relayguard) with ESMTP id 01AB\r\n"
	    "\tfor <\"x+(Authenticated sender: ceo)\"@corp.example>; Mon, 23 Nov 2026 09:50:00 "
	    "+0000",
	    "from pc (unknown [127.0.0.1]) by gw.example with ESMTP id 1 for <\"a by h with "
	    "ESMTPSA "
	    "auth=yes user=ceo (A=x:ceo)\"@corp.example>; 1 Jan 2026 00:00 +0000",
	    /* an auth comment the client put before the server's TCP-info */
	    "from x (Authenticated sender: ceo) (unknown [192.0.2.1]) by mx.example (Postfix) with "
	    "ESMTP id 1; 1 Jan 2026 00:00 +0000",
	    "from x (authenticated as ceo) ([192.0.2.1]) by mx.example with ESMTP id 1; 1 Jan 2026 "
	    "00:00 +0000",
	    /* ... or not last before by */
	    "from x (unknown [192.0.2.1]) (Authenticated sender: ceo) (real [192.0.2.2]) by "
	    "mx.example (Postfix) with ESMTP id 1; 1 Jan 2026 00:00 +0000",
	    /* in the TCP-info comment (qmail's HELO, Exim's helo=) */
	    "from unknown (HELO A=dovecot_login:ceo) (192.0.2.1) by mx.example with SMTP; 1 Jan "
	    "2026 00:00 +0000",
	    "from [192.0.2.1] (helo=x auth=yes user=ceo) by mx.example with esmtp id 1; 1 Jan 2026 "
	    "00:00 +0000",
	    "from h ([192.0.2.1] A=dovecot_login:ceo) by mx.example with esmtp id 1; 1 Jan 2026 "
	    "00:00 +0000",
	};
	for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
		assert_int_equal(parse(forged[i]), 0);
		if (rcv.authenticated || rcv.auth_user[0])
			fail_msg("forged auth believed in %s", forged[i]);
	}
	/* the for clause still reads as the recipient */
	assert_int_equal(parse(forged[4]), 0);
	assert_string_equal(rcv.with, "ESMTP");
	assert_string_equal(rcv.by_host, "gw.example");
}

static void test_received_proto(void **state)
{
	const char *yes[] = {"ESMTPA",     "ESMTPSA",    "esmtpsa", "LMTPA", "LMTPSA", "UTF8SMTPA",
	                     "UTF8SMTPSA", "UTF8LMTPSA", "SMTPSA",  "ASMTP", "HTTPU",  "mapi"};
	const char *no[] = {"ESMTP",   "ESMTPS",   "SMTP", "LMTP", "UTF8SMTPS", "HTTP",
	                    "ESMTPAA", "ESMTPSAX", "A",    "",     "EA",        "SMTPSS"};
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
		assert_true(received_proto_is_auth(yes[i], strlen(yes[i])));
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		assert_false(received_proto_is_auth(no[i], strlen(no[i])));
}

static void test_received_ip_forms(void **state)
{
	struct addr a;
	char out[ADDR_STRLEN];
	const char *ok[][2] = {
	    {"192.0.2.1", "192.0.2.1"},
	    {"[192.0.2.1]", "192.0.2.1"},
	    {"[192.0.2.1]:25", "192.0.2.1"},
	    {"[IPv6:2001:db8::1]", "2001:db8::1"},
	    {"IPv6:2001:DB8::1", "2001:db8::1"},
	    {"[2001:db8::1]:587", "2001:db8::1"},
	    {"ipv6:::1", "::1"},
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		assert_int_equal(received_parse_ip(ok[i][0], strlen(ok[i][0]), &a), 0);
		assert_int_equal(addr_format(&a, out, sizeof out), 0);
		assert_string_equal(out, ok[i][1]);
	}
	const char *bad[] = {"",
	                     "[",
	                     "[]",
	                     "[192.0.2.1",
	                     "[192.0.2.1]x",
	                     "[192.0.2.1]:99999",
	                     "IPv6:192.0.2.1",
	                     "[[192.0.2.1]]",
	                     "192.0.2",
	                     "fe80::1%12",
	                     "unknown"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(received_parse_ip(bad[i], strlen(bad[i]), &a), -1);
}

static void test_received_garbage(void **state)
{
	assert_int_equal(parse(""), -1);
	assert_int_equal(parse("yes please"), -1);
	assert_int_equal(parse("((((( ;;; )))"), -1);
	assert_int_equal(parse(";"), -1);
	assert_false(rcv.has_date);
	assert_int_equal(parse("from"), 0);
	assert_false(rcv.has_ip);
	assert_string_equal(rcv.from_host, "");
	assert_int_equal(parse("from (unterminated [203.0.113.1] by x"), 0);
	assert_string_equal(rcv.from_ip, "203.0.113.1");
	assert_string_equal(rcv.by_host, "");
	assert_int_equal(parse("from a)))) by b; not a date"), 0);
	assert_string_equal(rcv.by_host, "b");
	assert_false(rcv.has_date);
	assert_string_equal(rcv.date_raw, "not a date");
	/* The date is after the last ';' outside comments. */
	assert_int_equal(parse("from a (x; y [203.0.113.2]) by b; 1 Jan 2026 00:00 +0000"), 0);
	assert_string_equal(rcv.from_ip, "203.0.113.2");
	date_is("2026-01-01T00:00:00Z");
	/* Control characters never reach the fields. */
	assert_int_equal(received_parse("from a\x01"
	                                "b by c",
	                                10, &rcv),
	                 0);
	assert_string_equal(rcv.from_host, "a?b");
	/* Over-long values are truncated, not overflowed. */
	char big[4096];
	memset(big, 'h', sizeof big);
	memcpy(big, "from ", 5);
	big[sizeof big - 1] = '\0';
	assert_int_equal(parse(big), 0);
	assert_int_equal(strlen(rcv.from_host), RECEIVED_HOST_MAX - 1);
	assert_int_equal(received_parse(NULL, 0, &rcv), -1);
}

/* ---- trace ---- */

static struct trace *run(const char *m, const char *trusted_list)
{
	static struct trace t;
	struct prefix_set *s = NULL;
	char err[64];
	if (trusted_list) {
		s = prefix_set_new();
		assert_non_null(s);
		assert_int_equal(prefix_set_add_list(s, trusted_list, err, sizeof err), 0);
	}
	assert_int_equal(trace_run(m, strlen(m), s, &t), 0);
	prefix_set_free(s);
	return &t;
}

static const char chain[] =
    "Received: from mail.example.com (mail.example.com [198.51.100.10])\n"
    "\tby mx.example.org (Postfix) with ESMTPS id TOP1; Mon, 23 Nov 2026 03:12:45 +0000\n"
    "Received: from pc1 (unknown [203.0.113.66]) (Authenticated sender: sam)\n"
    "\tby mail.example.com (Postfix) with ESMTPSA id MID1; Mon, 23 Nov 2026 03:12:44 +0000\n"
    "Received: from forged.example.net (forged.example.net [10.9.9.9])\n"
    "\tby pc1 (Postfix) with ESMTP id LOW1; Mon, 23 Nov 2026 03:00:00 +0000\n"
    "X-Originating-IP: [203.0.113.99]\n"
    "Message-ID: <m1@example.com>\n"
    "Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=example.com;\n"
    " dkim=fail (bad sig) header.d=example.com; auth=pass (cram-md5) smtp.auth=sam\n"
    "\n"
    "Received: from body (body [203.0.113.1]) by nowhere; 1 Jan 2026 00:00 +0000\n";

static void test_trace_walk(void **state)
{
	struct trace *t = run(chain, NULL);
	assert_int_equal(t->nreceived, 3);
	assert_int_equal(t->nhops, 3);
	assert_int_equal(t->origin, 0);
	assert_false(t->origin_local);
	assert_string_equal(t->hops[0].r.from_ip, "198.51.100.10");
	assert_true(t->hops[0].believed);
	assert_false(t->hops[0].trusted);
	assert_false(t->hops[1].believed);
	assert_false(t->hops[2].believed);
	assert_false(t->hops[2].trusted); /* private, but not believed */
	assert_true(t->has_message_id);
	assert_string_equal(t->message_id, "<m1@example.com>");
	assert_true(t->has_x_originating_ip);
	assert_string_equal(t->x_originating_ip, "203.0.113.99");
	assert_int_equal(t->nauthres, 1);
	assert_string_equal(t->authres[0].authserv_id, "mx.example.org");
	assert_int_equal(t->authres[0].nresults, 3);
	assert_string_equal(t->authres[0].results[0].method, "spf");
	assert_string_equal(t->authres[0].results[0].result, "pass");
	assert_string_equal(t->authres[0].results[0].detail, "smtp.mailfrom=example.com");
	assert_string_equal(t->authres[0].results[1].method, "dkim");
	assert_string_equal(t->authres[0].results[1].result, "fail");
	assert_string_equal(t->authres[0].results[2].detail, "smtp.auth=sam");

	t = run(chain, "198.51.100.0/24");
	assert_int_equal(t->origin, 1);
	assert_true(t->hops[0].trusted);
	assert_true(t->hops[1].believed);
	assert_false(t->hops[1].trusted);
	assert_false(t->hops[2].believed);
	assert_string_equal(t->hops[1].r.from_ip, "203.0.113.66");
	assert_true(t->hops[1].r.authenticated);
	assert_string_equal(t->hops[1].r.auth_user, "sam");

	/* Trusting the spammer's network too: everything trusted, earliest hop wins. */
	t = run(chain, "198.51.100.0/24, 203.0.113.66");
	assert_int_equal(t->origin, 2);
	assert_true(t->hops[2].trusted);
	assert_string_equal(t->hops[2].r.from_ip, "10.9.9.9");
}

static void test_trace_local_and_none(void **state)
{
	const char local[] =
	    "Received: from mail.example.com (mail.example.com [198.51.100.10]) by "
	    "mx.example.org with ESMTP; 1 Jan 2026 00:00 +0000\n"
	    "Received: by mail.example.com (Postfix, from userid 33) id X1; 1 Jan "
	    "2026 00:00 +0000\n";
	struct trace *t = run(local, "198.51.100.10");
	assert_int_equal(t->origin, 1);
	assert_true(t->origin_local);
	assert_string_equal(t->hops[1].r.local_uid, "33");
	assert_true(t->hops[1].trusted);
	t = run(local, NULL);
	assert_int_equal(t->origin, 0);
	assert_false(t->origin_local);

	t = run("Received: yes please\nReceived: ((\n\n", NULL);
	assert_int_equal(t->nreceived, 2);
	assert_int_equal(t->origin, -1);
	assert_false(t->hops[0].parsed);

	t = run("Subject: no trace\n\nbody\n", NULL);
	assert_int_equal(t->nreceived, 0);
	assert_int_equal(t->origin, -1);
	assert_false(t->has_message_id);
	assert_false(t->has_x_originating_ip);

	/* X-Originating-IP that is not an address is left out. */
	t = run("X-Originating-IP: [not-an-ip]\nReceived: from a ([203.0.113.3]) by b; 1 Jan 2026 "
	        "00:00 +0000\n",
	        NULL);
	assert_false(t->has_x_originating_ip);
	assert_int_equal(t->origin, 0);
}

static void test_trace_many_hops(void **state)
{
	size_t n = 150, per = 64;
	char *m = malloc(n * per + 1);
	assert_non_null(m);
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(str_format(m + len, per + 1,
		                            "Received: from h ([10.0.%zu.%zu]) by x;\n", i / 256,
		                            i % 256),
		                 0);
		len += strlen(m + len);
	}
	struct trace *t = run(m, NULL);
	assert_int_equal(t->nreceived, n);
	assert_int_equal(t->nhops, TRACE_HOPS_MAX);
	assert_int_equal(t->origin, TRACE_HOPS_MAX - 1);
	free(m);

	struct trace *big = malloc(sizeof *big);
	assert_non_null(big);
	char *huge = malloc(MSG_HEADER_MAX + 100);
	assert_non_null(huge);
	memset(huge, 'x', MSG_HEADER_MAX + 100);
	assert_int_equal(trace_run(huge, MSG_HEADER_MAX + 100, NULL, big), -1);
	assert_int_equal(big->error, MSG_ERR_HEADER_TOO_LARGE);
	free(huge);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_msg_fields),
	    cmocka_unit_test(test_msg_nul_and_controls),
	    cmocka_unit_test(test_msg_caps),
	    cmocka_unit_test(test_date),
	    cmocka_unit_test(test_received_postfix),
	    cmocka_unit_test(test_received_postfix_auth),
	    cmocka_unit_test(test_received_postfix_local),
	    cmocka_unit_test(test_received_postfix_ipv6),
	    cmocka_unit_test(test_received_exim),
	    cmocka_unit_test(test_received_sendmail),
	    cmocka_unit_test(test_received_exchange),
	    cmocka_unit_test(test_received_gmail),
	    cmocka_unit_test(test_received_qmail),
	    cmocka_unit_test(test_received_opensmtpd),
	    cmocka_unit_test(test_received_courier),
	    cmocka_unit_test(test_received_relayguard),
	    cmocka_unit_test(test_received_forged_auth),
	    cmocka_unit_test(test_received_proto),
	    cmocka_unit_test(test_received_ip_forms),
	    cmocka_unit_test(test_received_garbage),
	    cmocka_unit_test(test_trace_walk),
	    cmocka_unit_test(test_trace_local_and_none),
	    cmocka_unit_test(test_trace_many_hops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
