/*
 * Unit tests for src/forensics/nflog.c: netfilter LOG lines in the forms
 * syslog, the journal, kern.log and dmesg write them, broken lines, and the
 * per-host SMTP attempt counter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/clock.h"
#include "core/str.h"
#include "forensics/nflog.h"

#include <stdlib.h>
#include <string.h>

static void assert_span(struct nflog_span s, const char *want)
{
	char got[256];
	assert_true(s.len < sizeof got);
	memcpy(got, s.p, s.len);
	got[s.len] = '\0';
	assert_string_equal(got, want);
}

static void assert_addr(const struct addr *a, const char *want)
{
	char got[ADDR_STRLEN];
	assert_int_equal(addr_format(a, got, sizeof got), 0);
	assert_string_equal(got, want);
}

static int parse(const char *s, struct nflog_line *l)
{
	return nflog_parse(s, strlen(s), l);
}

static void test_nflog_classic_forward(void **state)
{
	const char *s = "Mar  3 02:14:07 gw kernel: [991203.114220] SMTP-EGRESS-BLOCK: IN=lan0 "
	                "OUT=wan0 MAC=00:16:3e:aa:bb:cc:00:16:3e:11:22:33:08:00 SRC=10.0.5.57 "
	                "DST=203.0.113.25 LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=40211 DF PROTO=TCP "
	                "SPT=49822 DPT=25 WINDOW=64240 RES=0x00 SYN URGP=0\n";
	struct nflog_line l;
	assert_int_equal(parse(s, &l), NFLOG_OK);
	assert_int_equal(l.time_kind, NFLOG_TIME_SYSLOG);
	assert_int_equal(l.mon, 3);
	assert_int_equal(l.day, 3);
	assert_int_equal(l.hour, 2);
	assert_int_equal(l.min, 14);
	assert_int_equal(l.sec, 7);
	assert_true(l.has_uptime);
	assert_int_equal(l.uptime_us, 991203114220ULL);
	assert_span(l.host, "gw");
	assert_span(l.prefix, "SMTP-EGRESS-BLOCK:");
	assert_span(l.in, "lan0");
	assert_span(l.out, "wan0");
	assert_addr(&l.src, "10.0.5.57");
	assert_addr(&l.dst, "203.0.113.25");
	assert_span(l.proto_name, "TCP");
	assert_int_equal(l.proto, NFLOG_PROTO_TCP);
	assert_true(l.has_ports);
	assert_int_equal(l.spt, 49822);
	assert_int_equal(l.dpt, 25);
	assert_int_equal(l.tcp_flags, NFLOG_TCP_SYN);
	assert_false(l.has_uid);
	assert_true(nflog_is_smtp_attempt(&l));
	int64_t ms;
	assert_int_equal(nflog_time_ms(&l, 2026, &ms), 0);
	assert_int_equal(ms, clock_days_from_civil(2026, 3, 3) * 86400000LL + 8047000LL);
}

static void test_nflog_output_no_mac_uid(void **state)
{
	/* Locally generated (OUTPUT hook): empty IN=, no MAC=; nft "flags skuid". */
	const char *s =
	    "Nov 23 14:02:29 mail kernel: RG-SMTP-BLOCK IN= OUT=eth0 SRC=10.0.0.23 "
	    "DST=203.0.113.9 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=51234 "
	    "DPT=465 WINDOW=64240 RES=0x00 SYN URGP=0 UID=33 GID=33";
	struct nflog_line l;
	assert_int_equal(parse(s, &l), NFLOG_OK);
	assert_int_equal(l.mon, 11);
	assert_int_equal(l.day, 23);
	assert_false(l.has_uptime);
	assert_span(l.prefix, "RG-SMTP-BLOCK");
	assert_true(nflog_prefix_is(&l, "RG-SMTP-BLOCK "));
	assert_false(nflog_prefix_is(&l, "RG-SMTP-MAILSRV "));
	assert_span(l.in, "");
	assert_span(l.out, "eth0");
	assert_int_equal(l.dpt, 465);
	assert_true(l.has_uid);
	assert_int_equal(l.uid, 33);
	assert_true(nflog_is_smtp_attempt(&l));
}

static void test_nflog_rfc3339_pri(void **state)
{
	const char *s =
	    "<5>2016-05-05T23:12:09.649085-05:00 quaff kernel:[27198521.247185] "
	    "Firewall-DENY_INPUT: IN=venet0 OUT= MAC= SRC=188.143.1.2 DST=205.186.3.4 LEN=40 "
	    "TOS=0x00 PREC=0x00 TTL=54 ID=21110 DF PROTO=TCP SPT=43052 DPT=80 WINDOW=0 "
	    "RES=0x00 RST URGP=0";
	struct nflog_line l;
	assert_int_equal(parse(s, &l), NFLOG_OK);
	assert_int_equal(l.time_kind, NFLOG_TIME_RFC3339);
	int64_t want;
	assert_int_equal(clock_parse_rfc3339("2016-05-05T23:12:09.649-05:00", &want), 0);
	assert_int_equal(l.epoch_ms, want);
	int64_t ms;
	assert_int_equal(nflog_time_ms(&l, 1999, &ms), 0);
	assert_int_equal(ms, want);
	assert_span(l.host, "quaff");
	assert_true(l.has_uptime);
	assert_int_equal(l.uptime_us, 27198521247185ULL);
	assert_span(l.prefix, "Firewall-DENY_INPUT:");
	assert_span(l.out, "");
	assert_int_equal(l.dpt, 80);
	assert_int_equal(l.tcp_flags, NFLOG_TCP_RST);
	assert_false(nflog_is_smtp_attempt(&l));
}

static void test_nflog_journal_iso_basic_offset(void **state)
{
	/* journalctl -o short-iso: offset without colon. */
	const char *s =
	    "2026-11-23T14:02:29+0100 gw kernel: RG-SMTP-MAILSRV IN=lan0 OUT=wan0 "
	    "SRC=10.99.1.2 DST=198.51.100.7 LEN=60 PROTO=TCP SPT=40000 DPT=25 SYN URGP=0";
	struct nflog_line l;
	assert_int_equal(parse(s, &l), NFLOG_OK);
	assert_int_equal(l.time_kind, NFLOG_TIME_RFC3339);
	int64_t want;
	assert_int_equal(clock_parse_rfc3339("2026-11-23T13:02:29Z", &want), 0);
	assert_int_equal(l.epoch_ms, want);
	assert_true(nflog_prefix_is(&l, "RG-SMTP-MAILSRV "));
}

static void test_nflog_dmesg_and_bare(void **state)
{
	struct nflog_line l;
	const char *d = "[   12.345678] RG-SMTP-BLOCK IN=eth1 OUT=eth0 SRC=10.99.2.2 "
	                "DST=10.99.9.2 LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=7 DF PROTO=TCP SPT=3333 "
	                "DPT=587 WINDOW=64240 RES=0x00 SYN URGP=0";
	assert_int_equal(parse(d, &l), NFLOG_OK);
	assert_int_equal(l.time_kind, NFLOG_TIME_NONE);
	assert_true(l.has_uptime);
	assert_int_equal(l.uptime_us, 12345678);
	assert_span(l.host, "");
	assert_span(l.prefix, "RG-SMTP-BLOCK");
	assert_int_equal(l.dpt, 587);
	int64_t ms;
	assert_int_equal(nflog_time_ms(&l, 2026, &ms), -1);

	/* No prefix at all, prefix glued to IN= (no trailing space), UFW brackets. */
	assert_int_equal(
	    parse("IN=a OUT=b SRC=1.2.3.4 DST=5.6.7.8 PROTO=UDP SPT=1 DPT=2 LEN=8", &l), NFLOG_OK);
	assert_span(l.prefix, "");
	assert_int_equal(l.proto, NFLOG_PROTO_UDP);
	assert_false(nflog_is_smtp_attempt(&l));
	assert_int_equal(parse("dropIN=a OUT= SRC=1.2.3.4 DST=5.6.7.8 PROTO=TCP SPT=1 DPT=25", &l),
	                 NFLOG_OK);
	assert_span(l.prefix, "drop");
	assert_int_equal(l.tcp_flags, 0);
	assert_true(nflog_is_smtp_attempt(&l));
	assert_int_equal(parse("Jun 11 14:41:00 webserver-01 kernel: [423465.000000] [UFW BLOCK] "
	                       "IN=eth0 OUT= MAC=aa:bb SRC=185.220.101.33 DST=10.0.1.50 LEN=44 "
	                       "PROTO=TCP SPT=44100 DPT=22 WINDOW=1024 RES=0x00 SYN URGP=0",
	                       &l),
	                 NFLOG_OK);
	assert_span(l.prefix, "[UFW BLOCK]");
	assert_int_equal(l.uptime_us, 423465000000ULL);
}

static void test_nflog_ipv6(void **state)
{
	const char *s = "Nov 23 09:00:01 gw kernel: RG-SMTP-BLOCK IN=lan0 OUT=wan0 "
	                "MAC=52:54:00:aa:bb:cc:52:54:00:11:22:33:86:dd "
	                "SRC=2001:0db8:0001:0000:0000:0000:0000:0023 "
	                "DST=2001:0db8:ffff:0000:0000:0000:0000:0009 LEN=80 TC=0 HOPLIMIT=63 "
	                "FLOWLBL=12345 PROTO=TCP SPT=50000 DPT=25 WINDOW=64800 RES=0x00 SYN URGP=0";
	struct nflog_line l;
	assert_int_equal(parse(s, &l), NFLOG_OK);
	assert_int_equal(l.src.family, 6);
	assert_addr(&l.src, "2001:db8:1::23");
	assert_addr(&l.dst, "2001:db8:ffff::9");
	assert_int_equal(l.dpt, 25);
	assert_true(nflog_is_smtp_attempt(&l));

	assert_int_equal(parse("Nov 23 09:00:01 gw kernel: x IN=lan0 OUT=wan0 SRC=fe80::1 "
	                       "DST=ff02::1 LEN=72 TC=0 HOPLIMIT=255 FLOWLBL=0 PROTO=ICMPv6 "
	                       "TYPE=135 CODE=0",
	                       &l),
	                 NFLOG_OK);
	assert_int_equal(l.proto, NFLOG_PROTO_ICMPV6);
	assert_false(l.has_ports);
	assert_false(nflog_is_smtp_attempt(&l));
}

static void test_nflog_icmp_quoted_packet(void **state)
{
	/* The quoted packet after "[" must not overwrite the outer fields. */
	const char *s = "IN=eth0 OUT= SRC=192.0.2.1 DST=10.0.0.2 LEN=88 PROTO=ICMP TYPE=3 CODE=3 "
	                "[SRC=10.0.0.2 DST=192.0.2.1 LEN=60 PROTO=TCP SPT=4000 DPT=25 ] ";
	struct nflog_line l;
	assert_int_equal(parse(s, &l), NFLOG_OK);
	assert_addr(&l.src, "192.0.2.1");
	assert_int_equal(l.proto, NFLOG_PROTO_ICMP);
	assert_false(l.has_ports);
	assert_false(nflog_is_smtp_attempt(&l));
}

static void test_nflog_not_netfilter(void **state)
{
	struct nflog_line l;
	const char *bad[] = {
	    "",
	    "\n",
	    "Apr  6 13:05:01 server postfix/smtpd[20589]: connect from unknown[192.0.2.116]",
	    "IN=eth0",
	    "IN=eth0 OUT=",
	    "IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8",           /* no PROTO */
	    "IN=eth0 OUT= ARP HTYPE=1 PTYPE=0x0800 OPCODE=1", /* not IP */
	    "Mar  3 02:14:07 gw kernel: [12.5] usb 1-1: new device",
	    "[",
	    "<5>",
	    "2026-13-45T99:99:99Z x",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(parse(bad[i], &l), NFLOG_NOT_NETFILTER);
	assert_int_equal(nflog_parse(NULL, 0, &l), NFLOG_NOT_NETFILTER);
	assert_string_equal(nflog_status_str(NFLOG_NOT_NETFILTER), "not a netfilter line");
	assert_string_equal(nflog_status_str(NFLOG_MALFORMED), "malformed netfilter line");
	assert_string_equal(nflog_status_str(NFLOG_OK), "ok");
}

static void test_nflog_malformed(void **state)
{
	struct nflog_line l;
	const char *bad[] = {
	    "IN=a OUT=b SRC=10.0.0.300 DST=1.2.3.4 PROTO=TCP SPT=1 DPT=25",
	    "IN=a OUT=b SRC=10.0.0.1 DST=2001:db8::1 PROTO=TCP SPT=1 DPT=25",
	    "IN=a OUT=b SRC=10.0.0.1 DST=1.2.3.4 PROTO=TCP SPT=1 DPT=65536",
	    "IN=a OUT=b SRC=10.0.0.1 DST=1.2.3.4 PROTO=TCP SPT=-1 DPT=25",
	    "IN=a OUT=b SRC=10.0.0.1 DST=1.2.3.4 PROTO=TCP SPT=1 DPT=",
	    "IN=a OUT=b SRC= DST=1.2.3.4 PROTO=TCP",
	    "IN=a OUT=b SRC=1.1.1.1 DST=1.2.3.4 PROTO=",
	    "IN=a OUT=b SRC=1.1.1.1 DST=1.2.3.4 PROTO=TCP UID=99999999999",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(parse(bad[i], &l), NFLOG_MALFORMED);
}

static void test_nflog_bounds(void **state)
{
	/* Not NUL-terminated: the parser must stop at len. */
	const char s[] = "IN=a OUT=b SRC=10.0.0.1 DST=1.2.3.4 PROTO=TCP SPT=1 DPT=25999";
	struct nflog_line l;
	assert_int_equal(nflog_parse(s, sizeof s - 3, &l), NFLOG_OK);
	assert_int_equal(l.dpt, 259);
	char *big = malloc(NFLOG_LINE_MAX + 2);
	assert_non_null(big);
	memset(big, 'A', NFLOG_LINE_MAX + 1);
	memcpy(big, s, sizeof s - 1);
	assert_int_equal(nflog_parse(big, NFLOG_LINE_MAX + 1, &l), NFLOG_NOT_NETFILTER);
	free(big);
}

static void test_nflog_agg(void **state)
{
	struct nflog_agg a;
	struct nflog_line l;
	assert_int_equal(nflog_agg_init(&a, 2, "RG-SMTP-BLOCK "), 0);
	const char *lines[] = {
	    "RG-SMTP-BLOCK IN=l OUT=w SRC=10.0.0.5 DST=203.0.113.1 PROTO=TCP SPT=1 DPT=25 SYN",
	    "RG-SMTP-BLOCK IN=l OUT=w SRC=10.0.0.5 DST=203.0.113.2 PROTO=TCP SPT=2 DPT=25 SYN",
	    "RG-SMTP-BLOCK IN=l OUT=w SRC=10.0.0.5 DST=203.0.113.1 PROTO=TCP SPT=3 DPT=465 SYN",
	    "RG-SMTP-MAILSRV IN=l OUT=w SRC=10.0.0.9 DST=203.0.113.1 PROTO=TCP SPT=3 DPT=25 SYN",
	    /* not attempts: an ACK, port 80, UDP */
	    "RG-SMTP-BLOCK IN=l OUT=w SRC=10.0.0.5 DST=203.0.113.3 PROTO=TCP SPT=1 DPT=25 ACK",
	    "RG-SMTP-BLOCK IN=l OUT=w SRC=10.0.0.5 DST=203.0.113.3 PROTO=TCP SPT=1 DPT=80 SYN",
	    "RG-SMTP-BLOCK IN=l OUT=w SRC=10.0.0.5 DST=203.0.113.3 PROTO=UDP SPT=1 DPT=25",
	    /* a third host: past max_hosts */
	    "RG-SMTP-BLOCK IN=l OUT=w SRC=10.0.0.7 DST=203.0.113.1 PROTO=TCP SPT=1 DPT=25 SYN",
	};
	int want[] = {1, 1, 1, 1, 0, 0, 0, 1};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		assert_int_equal(parse(lines[i], &l), NFLOG_OK);
		assert_int_equal(nflog_agg_add(&a, &l, (int64_t)(i + 1) * 1000), want[i]);
	}
	assert_int_equal(a.n, 2);
	assert_int_equal(a.hosts_dropped, 1);
	struct addr x;
	assert_int_equal(addr_parse("10.0.0.5", 8, &x), 0);
	const struct nflog_host *h = nflog_agg_find(&a, &x);
	assert_non_null(h);
	assert_int_equal(h->attempts, 3);
	assert_int_equal(h->blocked, 3);
	assert_int_equal(h->n_dst, 2);
	assert_false(h->dst_overflow);
	assert_int_equal(h->first_ms, 1000);
	assert_int_equal(h->last_ms, 3000);
	assert_int_equal(addr_parse("10.0.0.9", 8, &x), 0);
	h = nflog_agg_find(&a, &x);
	assert_non_null(h);
	assert_int_equal(h->attempts, 1);
	assert_int_equal(h->blocked, 0);
	assert_int_equal(addr_parse("10.0.0.7", 8, &x), 0);
	assert_null(nflog_agg_find(&a, &x));
	nflog_agg_free(&a);

	/* Distinct destinations saturate at NFLOG_HOST_DST_MAX. */
	assert_int_equal(nflog_agg_init(&a, 10, NULL), 0);
	for (int i = 0; i < NFLOG_HOST_DST_MAX + 5; i++) {
		char s[160];
		assert_int_equal(
		    str_format(
		        s, sizeof s,
		        "IN=l OUT=w SRC=2001:db8::5 DST=2001:db8:1::%x PROTO=TCP SPT=1 DPT=25 SYN",
		        i + 1),
		    0);
		assert_int_equal(parse(s, &l), NFLOG_OK);
		assert_int_equal(nflog_agg_add(&a, &l, 0), 1);
	}
	assert_int_equal(addr_parse("2001:db8::5", 11, &x), 0);
	h = nflog_agg_find(&a, &x);
	assert_non_null(h);
	assert_int_equal(h->attempts, NFLOG_HOST_DST_MAX + 5);
	assert_int_equal(h->n_dst, NFLOG_HOST_DST_MAX);
	assert_true(h->dst_overflow);
	assert_int_equal(h->first_ms, 0);
	nflog_agg_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nflog_classic_forward),
	    cmocka_unit_test(test_nflog_output_no_mac_uid),
	    cmocka_unit_test(test_nflog_rfc3339_pri),
	    cmocka_unit_test(test_nflog_journal_iso_basic_offset),
	    cmocka_unit_test(test_nflog_dmesg_and_bare),
	    cmocka_unit_test(test_nflog_ipv6),
	    cmocka_unit_test(test_nflog_icmp_quoted_packet),
	    cmocka_unit_test(test_nflog_not_netfilter),
	    cmocka_unit_test(test_nflog_malformed),
	    cmocka_unit_test(test_nflog_bounds),
	    cmocka_unit_test(test_nflog_agg),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
