/*
 * Unit tests for src/forensics/firewall.c: input checks and the exact rule
 * set text (nft's own check of it is in tests/integration/test_firewall.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "forensics/firewall.h"

#include <stdlib.h>
#include <string.h>

static void assert_has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; (p = strstr(p, line)) != NULL; p++) {
		bool starts = p == text || p[-1] == '\n' || p[-1] == '\t';
		if (starts && (p[n] == '\n' || p[n] == '\0'))
			return;
	}
	fail_msg("line not found: %s", line);
}

static size_t count(const char *text, const char *needle)
{
	size_t n = 0;
	for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void test_firewall_render_v4_v6(void **state)
{
	struct firewall_spec *s = malloc(sizeof *s);
	assert_non_null(s);
	firewall_spec_init(s);
	char err[200] = "";
	assert_int_equal(firewall_spec_add_nets(s, 0,
	                                        "192.0.2.10, 2001:db8::10,192.0.2.0/28 "
	                                        "198.51.100.7,2001:DB8::10",
	                                        err, sizeof err),
	                 0);
	assert_int_equal(s->n_mail, 5);
	struct buf b;
	buf_init(&b, 64 * 1024);
	assert_int_equal(firewall_render(s, &b, err, sizeof err), 0);
	const char *t = buf_cstr(&b);
	assert_has_line(t, "table inet relayguard_smtp");
	assert_has_line(t, "delete table inet relayguard_smtp");
	assert_has_line(t, "table inet relayguard_smtp {");
	assert_has_line(t, "elements = { 25, 465, 587 }");
	/* 192.0.2.10 lies inside 192.0.2.0/28 and is dropped; the duplicate v6 too. */
	assert_has_line(t, "elements = { 192.0.2.0/28, 198.51.100.7 }");
	assert_has_line(t, "elements = { 2001:db8::10 }");
	assert_has_line(t, "type ipv4_addr");
	assert_has_line(t, "type ipv6_addr");
	assert_int_equal(count(t, "flags interval"), 2);
	assert_has_line(t, "ip daddr @mail4 return");
	assert_has_line(t, "ip6 daddr @mail6 return");
	assert_has_line(t, "ip saddr @mail4 ct state new limit rate 30/minute burst 60 packets log "
	                   "prefix \"RG-SMTP-MAILSRV \" level info");
	assert_has_line(t, "ip saddr @mail4 counter accept");
	assert_has_line(t, "ip6 saddr @mail6 counter accept");
	assert_has_line(t, "ct state new limit rate 30/minute burst 60 packets log prefix "
	                   "\"RG-SMTP-BLOCK \" level warn");
	assert_has_line(t, "counter drop");
	assert_has_line(t, "type filter hook forward priority filter; policy accept;");
	assert_has_line(t, "type filter hook output priority filter; policy accept;");
	assert_has_line(t, "oifname \"lo\" accept");
	assert_int_equal(count(t, "tcp dport @smtp_ports jump smtp_egress"), 2);
	/* No --lan: no LAN sets, no LAN rule. */
	assert_null(strstr(t, "lan4"));
	assert_null(strstr(t, "lan6"));
	assert_null(strstr(t, "smtp_lan"));
	/* The accept for mail servers comes before the drop. */
	assert_true(strstr(t, "@mail4 counter accept") < strstr(t, "counter drop"));
	buf_free(&b);
	free(s);
}

static void test_firewall_render_lan_ports_prefix(void **state)
{
	struct firewall_spec *s = malloc(sizeof *s);
	assert_non_null(s);
	firewall_spec_init(s);
	char err[200] = "";
	assert_int_equal(firewall_spec_add_nets(s, 0, "10.99.1.2", err, sizeof err), 0);
	assert_int_equal(firewall_spec_add_nets(s, 1, "10.99.2.0/24,10.99.1.0/24", err, sizeof err),
	                 0);
	assert_int_equal(firewall_spec_set_ports(s, "25", err, sizeof err), 0);
	assert_int_equal(firewall_spec_set_prefix(s, 0, "LAN SMTP DROP: ", err, sizeof err), 0);
	s->log_rate = 5;
	struct buf b;
	buf_init(&b, 64 * 1024);
	assert_int_equal(firewall_render(s, &b, err, sizeof err), 0);
	const char *t = buf_cstr(&b);
	assert_has_line(t, "elements = { 25 }");
	assert_has_line(t, "elements = { 10.99.1.0/24, 10.99.2.0/24 }");
	assert_has_line(t, "chain smtp_lan {");
	assert_has_line(t, "ip saddr @mail4 goto smtp_egress");
	assert_has_line(t, "ip saddr != @lan4 return");
	assert_has_line(t, "goto smtp_egress");
	assert_has_line(t, "tcp dport @smtp_ports jump smtp_lan");
	assert_int_equal(count(t, "tcp dport @smtp_ports jump smtp_egress"), 1);
	/* No IPv6 LAN listed: IPv6 stays held back for every source. */
	assert_null(strstr(t, "lan6"));
	/* An empty mail6 set is declared without elements. */
	assert_has_line(t, "set mail6 {");
	assert_has_line(t, "ct state new limit rate 5/minute burst 10 packets log prefix "
	                   "\"LAN SMTP DROP: \" level warn");
	buf_free(&b);

	/* Output too small: fails and leaves the buffer as it was. */
	buf_init(&b, 100);
	assert_int_equal(buf_append_str(&b, "keep"), 0);
	assert_int_equal(firewall_render(s, &b, err, sizeof err), -1);
	assert_string_equal(buf_cstr(&b), "keep");
	assert_string_equal(err, "rule set does not fit in 100 bytes");
	buf_free(&b);
	free(s);
}

static void test_firewall_bad_input(void **state)
{
	struct firewall_spec *s = malloc(sizeof *s);
	assert_non_null(s);
	firewall_spec_init(s);
	char err[200];
	struct buf b;
	buf_init(&b, 64 * 1024);

	assert_int_equal(firewall_render(s, &b, err, sizeof err), -1);
	assert_string_equal(err, "no mail servers given (--mail-servers CIDR,...)");
	assert_int_equal(firewall_spec_add_nets(s, 0, "", err, sizeof err), 0);
	assert_int_equal(s->n_mail, 0);
	assert_int_equal(firewall_spec_add_nets(s, 0, "10.0.0.1,10.0.0.300", err, sizeof err), -1);
	assert_string_equal(err, "not an IP address or CIDR range: 10.0.0.300");
	assert_int_equal(firewall_spec_add_nets(s, 0, "10.0.0.0/33", err, sizeof err), -1);
	assert_int_equal(firewall_spec_add_nets(s, 1, "0.0.0.0/0", err, sizeof err), -1);
	assert_string_equal(err, "0.0.0.0/0 covers every address; list networks");
	assert_int_equal(firewall_spec_add_nets(s, 1, "::/0", err, sizeof err), -1);

	assert_int_equal(firewall_spec_set_ports(s, "25,0", err, sizeof err), -1);
	assert_string_equal(err, "not a port number: 0");
	assert_int_equal(firewall_spec_set_ports(s, "25,65536", err, sizeof err), -1);
	assert_int_equal(firewall_spec_set_ports(s, "25,x", err, sizeof err), -1);
	assert_int_equal(firewall_spec_set_ports(s, "25,25", err, sizeof err), -1);
	assert_string_equal(err, "port 25 listed twice");
	assert_int_equal(firewall_spec_set_ports(s, ",", err, sizeof err), -1);
	assert_string_equal(err, "empty port list");
	assert_int_equal(s->n_ports, 3);

	assert_int_equal(firewall_spec_set_prefix(s, 0, "bad\"quote", err, sizeof err), -1);
	assert_string_equal(err, "log prefix may not contain quotes or backslashes");
	assert_int_equal(firewall_spec_set_prefix(s, 0, "bad'quote", err, sizeof err), -1);
	assert_int_equal(firewall_spec_set_prefix(s, 0, "back\\slash", err, sizeof err), -1);
	assert_int_equal(firewall_spec_set_prefix(s, 0, "a=b", err, sizeof err), -1);
	assert_int_equal(firewall_spec_set_prefix(s, 0, "tab\there", err, sizeof err), -1);
	assert_int_equal(firewall_spec_set_prefix(s, 0, "", err, sizeof err), -1);
	assert_string_equal(err, "empty log prefix");
	char longp[FIREWALL_PREFIX_MAX + 2];
	memset(longp, 'x', sizeof longp - 1);
	longp[sizeof longp - 1] = '\0';
	assert_int_equal(firewall_spec_set_prefix(s, 0, longp, err, sizeof err), -1);
	assert_string_equal(err, "log prefix longer than 127 bytes (nftables limit)");
	longp[FIREWALL_PREFIX_MAX] = '\0';
	assert_int_equal(firewall_spec_set_prefix(s, 0, longp, err, sizeof err), 0);
	assert_string_equal(s->block_prefix, longp);

	/* Same prefix for both (ignoring the trailing space): logscan could not tell them apart. */
	assert_int_equal(firewall_spec_add_nets(s, 0, "192.0.2.1", err, sizeof err), 0);
	assert_int_equal(firewall_spec_set_prefix(s, 0, "RG-SMTP-MAILSRV", err, sizeof err), 0);
	assert_int_equal(firewall_render(s, &b, err, sizeof err), -1);
	assert_string_equal(err, "the block and mail server log prefixes must differ");
	assert_int_equal(b.len, 0);
	buf_free(&b);
	free(s);
}

static void test_firewall_too_many(void **state)
{
	struct firewall_spec *s = malloc(sizeof *s);
	assert_non_null(s);
	firewall_spec_init(s);
	char err[200];
	for (int i = 0; i < FIREWALL_MAX_NETS; i++)
		assert_int_equal(firewall_spec_add_nets(s, 0, "10.1.1.1", err, sizeof err), 0);
	assert_int_equal(firewall_spec_add_nets(s, 0, "10.1.1.1", err, sizeof err), -1);
	assert_string_equal(err, "more than 256 networks");
	assert_int_equal(firewall_spec_set_ports(s, "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17",
	                                         err, sizeof err),
	                 -1);
	assert_string_equal(err, "more than 16 ports");
	struct buf b;
	buf_init(&b, 64 * 1024);
	assert_int_equal(firewall_render(s, &b, err, sizeof err), 0);
	/* 256 copies of one address collapse to one element. */
	assert_non_null(strstr(buf_cstr(&b), "elements = { 10.1.1.1 }\n"));
	buf_free(&b);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_firewall_render_v4_v6),
	    cmocka_unit_test(test_firewall_render_lan_ports_prefix),
	    cmocka_unit_test(test_firewall_bad_input),
	    cmocka_unit_test(test_firewall_too_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
