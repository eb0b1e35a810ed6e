/*
 * Unit tests of the SPF module (src/smtp/spf.c): the record parser, macro
 * expansion (RFC 7208 section 7.4 examples), and evaluation over the fake DNS
 * backend. Every evaluation scenario is also run through libspf2 (Debian
 * libspf2-dev) with its static-zone DNS backend holding the same records:
 * both must give the same result. libspf2 is linked into this test only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/str.h"
#include "net/dns.h"
#include "smtp/spf.h"

#include <arpa/nameser.h>
#include <event2/event.h>
#include <netdb.h>
#include <string.h>

#include <spf2/spf.h>
#include <spf2/spf_dns_zone.h>

static void test_parse(void **state)
{
	struct spf_record r;
	char err[128];
	const char *good = "v=spf1 +ip4:192.0.2.0/24 ip6:2001:db8::/32 a a:mail.example.com/28 "
	                   "mx/24//64 -ptr ~include:_spf.example.net ?exists:%{i}.x.example "
	                   "redirect=other.example exp=explain.example unknown=ignored -all";
	assert_int_equal(spf_record_parse(good, strlen(good), &r, err, sizeof err), 0);
	assert_int_equal(r.nterms, 9);
	assert_int_equal(r.terms[0].mech, SPF_M_IP4);
	assert_int_equal(r.terms[0].net.prefix, 24);
	assert_int_equal(r.terms[3].mech, SPF_M_A);
	assert_string_equal(r.terms[3].spec, "mail.example.com");
	assert_int_equal(r.terms[3].cidr4, 28);
	assert_int_equal(r.terms[4].cidr4, 24);
	assert_int_equal(r.terms[4].cidr6, 64);
	assert_int_equal(r.terms[5].qualifier, POL_SPF_FAIL);
	assert_int_equal(r.terms[6].qualifier, POL_SPF_SOFTFAIL);
	assert_int_equal(r.terms[7].qualifier, POL_SPF_NEUTRAL);
	assert_true(r.has_redirect);
	assert_string_equal(r.redirect, "other.example");
	assert_int_equal(r.terms[8].mech, SPF_M_ALL);
	const char *bad[] = {
	    "v=spf1 ip4:300.1.1.1",
	    "v=spf1 ip4:192.0.2.0/33",
	    "v=spf1 ip4:2001:db8::1",
	    "v=spf1 a/0a",
	    "v=spf1 include",
	    "v=spf1 foo:bar",
	    "v=spf1 all:x",
	    "v=spf1 redirect=a redirect=b",
	    "v=spf1 mx//129",
	    "v=spf1 ip6:::1/",
	    "v=spf2 -all",
	    "v=spf1 a/024",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(spf_record_parse(bad[i], strlen(bad[i]), &r, err, sizeof err), -1);
	assert_true(spf_is_record("v=spf1", 6));
	assert_true(spf_is_record("V=SPF1 -all", 11));
	assert_false(spf_is_record("v=spf10 -all", 12));
	char many[2048] = "v=spf1";
	for (int i = 0; i < SPF_TERMS_MAX + 1; i++)
		assert_int_equal(str_append(many, sizeof many, " a"), 0);
	assert_int_equal(spf_record_parse(many, strlen(many), &r, err, sizeof err), -1);
}

/* RFC 7208 section 7.4. */
static void test_macros(void **state)
{
	struct spf_macro_ctx m = {.sender = "strong-bad@email.example.com",
	                          .domain = "email.example.com",
	                          .helo = "mx.example.org"};
	assert_int_equal(addr_parse("192.0.2.3", 9, &m.ip), 0);
	struct {
		const char *in, *out;
	} cases[] = {
	    {"%{s}", "strong-bad@email.example.com"},
	    {"%{o}", "email.example.com"},
	    {"%{d}", "email.example.com"},
	    {"%{d4}", "email.example.com"},
	    {"%{d3}", "email.example.com"},
	    {"%{d2}", "example.com"},
	    {"%{d1}", "com"},
	    {"%{dr}", "com.example.email"},
	    {"%{d2r}", "example.email"},
	    {"%{l}", "strong-bad"},
	    {"%{l-}", "strong.bad"},
	    {"%{lr}", "strong-bad"},
	    {"%{lr-}", "bad.strong"},
	    {"%{l1r-}", "strong"},
	    {"%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"},
	    {"%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"},
	    {"%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
	    {"%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"},
	    {"%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"},
	    {"%{h}.x", "mx.example.org.x"},
	    {"a%%b", "a%b"},
	};
	char out[300];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (spf_macro_expand(cases[i].in, &m, out, sizeof out) != 0)
			print_error("macro %s failed\n", cases[i].in);
		assert_int_equal(spf_macro_expand(cases[i].in, &m, out, sizeof out), 0);
		assert_string_equal(out, cases[i].out);
	}
	assert_int_equal(addr_parse("2001:db8::cb01", 14, &m.ip), 0);
	assert_int_equal(spf_macro_expand("%{ir}.%{v}._spf.%{d2}", &m, out, sizeof out), 0);
	assert_string_equal(out, "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0."
	                         "2.ip6._spf.example.com");
	const char *bad[] = {"%{x}", "%{d0}", "%{", "%a", "%{d2r+x}", "%{c}", "a b"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(spf_macro_expand(bad[i], &m, out, sizeof out), -1);
	/* longer than 253: labels dropped on the left */
	char longspec[600] = "";
	for (int i = 0; i < 30; i++)
		assert_int_equal(str_append(longspec, sizeof longspec, "abcdefghi."), 0);
	assert_int_equal(str_append(longspec, sizeof longspec, "%{d}"), 0);
	assert_int_equal(spf_macro_expand(longspec, &m, out, sizeof out), 0);
	assert_true(strlen(out) <= 253);
	assert_true(strlen(out) > 240);
}

/* ---- evaluation, against libspf2 ---- */

struct rr {
	const char *name;
	int type; /* ns_t_txt, ns_t_a, ns_t_aaaa, ns_t_mx; 0 = SERVFAIL for TXT */
	const char *data;
};

/* One world of DNS records shared by every case. */
static const struct rr world[] = {
    {"ip.example", ns_t_txt, "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"},
    {"soft.example", ns_t_txt, "v=spf1 ip4:192.0.2.1 ~all"},
    {"neutral.example", ns_t_txt, "v=spf1 ?all"},
    {"inc.example", ns_t_txt, "v=spf1 include:inner.example -all"},
    {"inner.example", ns_t_txt, "v=spf1 ip4:198.51.100.0/24 ~all"},
    {"a.example", ns_t_txt, "v=spf1 a/24 -all"},
    {"a.example", ns_t_a, "192.0.2.10"},
    {"mx.example", ns_t_txt, "v=spf1 mx -all"},
    {"mx.example", ns_t_mx, "mail.mx.example"},
    {"mail.mx.example", ns_t_a, "203.0.113.25"},
    {"redir.example", ns_t_txt, "v=spf1 redirect=inc.example"},
    {"two.example", ns_t_txt, "v=spf1 -all"},
    {"two.example", ns_t_txt, "v=spf1 +all"},
    {"syntax.example", ns_t_txt, "v=spf1 ip4:300.1.1.1 -all"},
    {"noinc.example", ns_t_txt, "v=spf1 include:nothing.example -all"},
    {"exists.example", ns_t_txt, "v=spf1 exists:%{i}.allow.exists.example -all"},
    {"192.0.2.77.allow.exists.example", ns_t_a, "127.0.0.2"},
    {"other.example", ns_t_txt, "google-site-verification=abc"},
    {"other.example", ns_t_txt, "v=spf10 -all"},
    {"l1.example", ns_t_txt, "v=spf1 include:l2.example include:l3.example -all"},
    {"l2.example", ns_t_txt, "v=spf1 a:h1.example a:h2.example a:h3.example a:h4.example ?all"},
    {"l3.example", ns_t_txt,
     "v=spf1 a:h5.example a:h6.example a:h7.example a:h8.example a:h9.example ?all"},
    {"h1.example", ns_t_a, "10.0.0.1"},
    {"h2.example", ns_t_a, "10.0.0.2"},
    {"h3.example", ns_t_a, "10.0.0.3"},
    {"h4.example", ns_t_a, "10.0.0.4"},
    {"h5.example", ns_t_a, "10.0.0.5"},
    {"h6.example", ns_t_a, "10.0.0.6"},
    {"h7.example", ns_t_a, "10.0.0.7"},
    {"h8.example", ns_t_a, "10.0.0.8"},
    {"h9.example", ns_t_a, "10.0.0.9"},
    {"ok9.example", ns_t_txt, "v=spf1 include:l2.example include:l3.example +all"},
    {"tempfail.example", 0, NULL},
};

struct spf_case {
	const char *ip, *sender;
	enum pol_spf want;
	const char *libspf2_differs; /* why libspf2 answers otherwise, when it does */
};

static const struct spf_case cases[] = {
    {"192.0.2.5", "a@ip.example", POL_SPF_PASS, NULL},
    {"198.51.100.1", "a@ip.example", POL_SPF_FAIL, NULL},
    {"2001:db8::25", "a@ip.example", POL_SPF_PASS, NULL},
    {"2001:db9::25", "a@ip.example", POL_SPF_FAIL, NULL},
    {"192.0.2.1", "a@soft.example", POL_SPF_PASS, NULL},
    {"192.0.2.2", "a@soft.example", POL_SPF_SOFTFAIL, NULL},
    {"192.0.2.2", "a@neutral.example", POL_SPF_NEUTRAL, NULL},
    {"198.51.100.9", "a@inc.example", POL_SPF_PASS, NULL},
    {"203.0.113.1", "a@inc.example", POL_SPF_FAIL, NULL},
    {"192.0.2.99", "a@a.example", POL_SPF_PASS, NULL},
    {"192.0.3.99", "a@a.example", POL_SPF_FAIL, NULL},
    {"203.0.113.25", "a@mx.example", POL_SPF_PASS, NULL},
    {"203.0.113.26", "a@mx.example", POL_SPF_FAIL, NULL},
    {"198.51.100.9", "a@redir.example", POL_SPF_PASS, NULL},
    {"203.0.113.1", "a@redir.example", POL_SPF_FAIL, NULL},
    {"192.0.2.1", "a@nospf.example", POL_SPF_NONE, NULL},
    {"192.0.2.1", "a@other.example", POL_SPF_NONE, NULL},
    {"192.0.2.1", "a@two.example", POL_SPF_PERMERROR, NULL},
    {"192.0.2.1", "a@syntax.example", POL_SPF_PERMERROR, NULL},
    {"192.0.2.1", "a@noinc.example", POL_SPF_PERMERROR, NULL},
    {"192.0.2.77", "a@exists.example", POL_SPF_PASS, NULL},
    {"192.0.2.78", "a@exists.example", POL_SPF_FAIL, NULL},
    {"10.0.0.9", "a@l1.example", POL_SPF_PERMERROR,
     "libspf2 counts the 10-lookup limit per record, RFC 7208 4.6.4 over the whole check"},
    {"10.0.0.1", "a@l1.example", POL_SPF_PASS, NULL}, /* matched before the limit */
    {"192.0.2.1", "a@tempfail.example", POL_SPF_TEMPERROR,
     "libspf2's zone backend turns TRY_AGAIN into no record; RFC 7208 4.4 says temperror"},
    {"192.0.2.1", "a@IP.Example", POL_SPF_PASS, NULL},
};

struct got {
	int calls;
	struct spf_answer a;
};

static void on_spf(void *arg, const struct spf_answer *a)
{
	struct got *g = arg;
	g->calls++;
	g->a = *a;
}

static void fake_add(struct dns *d, const struct rr *r)
{
	struct dns_result res;
	memset(&res, 0, sizeof res);
	res.status = DNS_OK;
	res.ttl = 300;
	enum dns_type t = DNS_T_TXT;
	if (r->type == 0) {
		res.status = DNS_SERVFAIL;
	} else if (r->type == ns_t_txt) {
		/* a second record of a name is joined with " | " as net/dns.h does */
		for (size_t i = 0; i < sizeof world / sizeof world[0]; i++) {
			if (strcmp(world[i].name, r->name) != 0 || world[i].type != ns_t_txt)
				continue;
			if (res.txt[0])
				assert_int_equal(str_append(res.txt, sizeof res.txt, " | "), 0);
			assert_int_equal(str_append(res.txt, sizeof res.txt, world[i].data), 0);
		}
	} else if (r->type == ns_t_mx) {
		t = DNS_T_MX;
		res.nmx = 1;
		res.mx[0].pref = 10;
		assert_int_equal(str_copy(res.mx[0].host, sizeof res.mx[0].host, r->data), 0);
	} else {
		t = r->type == ns_t_a ? DNS_T_A : DNS_T_AAAA;
		assert_int_equal(addr_parse(r->data, strlen(r->data), &res.addrs[0]), 0);
		res.naddrs = 1;
	}
	assert_int_equal(dns_fake_add(d, r->name, t, &res), 0);
}

static enum pol_spf from_libspf2(SPF_result_t r)
{
	switch (r) {
	case SPF_RESULT_PASS:
		return POL_SPF_PASS;
	case SPF_RESULT_FAIL:
		return POL_SPF_FAIL;
	case SPF_RESULT_SOFTFAIL:
		return POL_SPF_SOFTFAIL;
	case SPF_RESULT_NEUTRAL:
		return POL_SPF_NEUTRAL;
	case SPF_RESULT_NONE:
		return POL_SPF_NONE;
	case SPF_RESULT_TEMPERROR:
		return POL_SPF_TEMPERROR;
	case SPF_RESULT_PERMERROR:
		return POL_SPF_PERMERROR;
	default:
		return POL_SPF_UNKNOWN;
	}
}

static enum pol_spf libspf2_check(SPF_server_t *srv, const char *ip, const char *sender)
{
	SPF_request_t *req = SPF_request_new(srv);
	SPF_response_t *resp = NULL;
	assert_non_null(req);
	if (strchr(ip, ':'))
		assert_int_equal(SPF_request_set_ipv6_str(req, ip), SPF_E_SUCCESS);
	else
		assert_int_equal(SPF_request_set_ipv4_str(req, ip), SPF_E_SUCCESS);
	assert_int_equal(SPF_request_set_helo_dom(req, "helo.example"), SPF_E_SUCCESS);
	assert_int_equal(SPF_request_set_env_from(req, sender), 0);
	SPF_errcode_t err = SPF_request_query_mailfrom(req, &resp);
	enum pol_spf r = resp ? from_libspf2(SPF_response_result(resp)) : POL_SPF_UNKNOWN;
	/* a record libspf2 cannot compile comes back as an error code with no result:
	 * that is its permerror (spfquery prints it so) */
	if (r == POL_SPF_UNKNOWN && err != SPF_E_SUCCESS)
		r = POL_SPF_PERMERROR;
	SPF_response_free(resp);
	SPF_request_free(req);
	return r;
}

static void test_evaluate(void **state)
{
	struct event_base *base = event_base_new();
	struct dns *d = dns_new_fake(base);
	SPF_dns_server_t *zone = SPF_dns_zone_new(NULL, "test", 0);
	assert_non_null(zone);
	for (size_t i = 0; i < sizeof world / sizeof world[0]; i++) {
		fake_add(d, &world[i]);
		if (world[i].type == 0)
			assert_int_equal(
			    SPF_dns_zone_add_str(zone, world[i].name, ns_t_txt, TRY_AGAIN, NULL),
			    SPF_E_SUCCESS);
		else
			assert_int_equal(SPF_dns_zone_add_str(zone, world[i].name,
			                                      (ns_type)world[i].type, NETDB_SUCCESS,
			                                      world[i].data),
			                 SPF_E_SUCCESS);
	}
	SPF_server_t *srv = SPF_server_new_dns(zone, 0);
	assert_non_null(srv);
	unsigned agree = 0;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct addr ip;
		assert_int_equal(addr_parse(cases[i].ip, strlen(cases[i].ip), &ip), 0);
		struct got g = {0};
		struct spf_check *c =
		    spf_check_start(base, d, &ip, cases[i].sender, "helo.example", on_spf, &g);
		assert_non_null(c);
		assert_int_equal(g.calls, 0);
		event_base_dispatch(base);
		assert_int_equal(g.calls, 1);
		enum pol_spf peer = libspf2_check(srv, cases[i].ip, cases[i].sender);
		bool differs = cases[i].libspf2_differs != NULL;
		if (g.a.result != cases[i].want || (peer != cases[i].want) != differs)
			print_error("case %zu %s %s: want %s, got %s (%s), libspf2 %s\n", i,
			            cases[i].ip, cases[i].sender, pol_spf_name(cases[i].want),
			            pol_spf_name(g.a.result), g.a.reason, pol_spf_name(peer));
		assert_int_equal(g.a.result, cases[i].want);
		assert_true((peer != cases[i].want) == differs);
		if (peer == g.a.result)
			agree++;
	}
	print_message("spf: %zu cases, libspf2 agrees on %u (the others are documented)\n",
	              sizeof cases / sizeof cases[0], agree);
	SPF_server_free(srv);
	SPF_dns_free(zone); /* not the server's: it was handed in */
	dns_free(d);
	event_base_free(base);
}

static void test_no_domain_and_cancel(void **state)
{
	struct event_base *base = event_base_new();
	struct dns *d = dns_new_fake(base);
	struct addr ip;
	assert_int_equal(addr_parse("192.0.2.1", 9, &ip), 0);
	struct got g = {0};
	/* the null sender with a HELO that is no domain: none, from the loop */
	assert_non_null(spf_check_start(base, d, &ip, "", "[192.0.2.1]", on_spf, &g));
	assert_int_equal(g.calls, 0);
	event_base_dispatch(base);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.a.result, POL_SPF_NONE);
	/* cancelled before the answer: no callback, nothing leaks (ASan) */
	struct dns_result r;
	memset(&r, 0, sizeof r);
	r.status = DNS_OK;
	assert_int_equal(str_copy(r.txt, sizeof r.txt, "v=spf1 -all"), 0);
	assert_int_equal(dns_fake_add(d, "x.example", DNS_T_TXT, &r), 0);
	struct got g2 = {0};
	struct spf_check *c = spf_check_start(base, d, &ip, "a@x.example", "h", on_spf, &g2);
	spf_check_cancel(c);
	event_base_dispatch(base);
	assert_int_equal(g2.calls, 0);
	c = spf_check_start(base, d, &ip, "", "", on_spf, &g2); /* decided without DNS */
	spf_check_cancel(c);
	event_base_dispatch(base);
	assert_int_equal(g2.calls, 0);
	dns_free(d);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_macros),
	    cmocka_unit_test(test_evaluate),
	    cmocka_unit_test(test_no_domain_and_cancel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
