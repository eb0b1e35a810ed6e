/*
 * Unit tests for src/dnsbl (catalogue, query names, classification, checker)
 * and src/net/dns's fake backend and answer parser. No network: the checker
 * runs against the fake resolver.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/str.h"
#include "dnsbl/builtin.h"
#include "dnsbl/catalog.h"
#include "dnsbl/checker.h"
#include "dnsbl/verdict.h"
#include "net/dns.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

static const char test_catalog[] = "[zen.spamhaus.org]\n"
				   "name = Spamhaus ZEN\n"
				   "type = ip\n"
				   "ipv6 = yes\n"
				   "default = yes\n"
				   "code = 127.0.0.2 SBL\n"
				   "code = 127.0.0.4-127.0.0.7 XBL\n"
				   "code = 127.0.0.10 PBL\n"
				   "error = 127.255.255.254 public resolver\n"
				   "delist = https://check.example/?q=%IP%\n"
				   "[multi.uribl.com]\n"
				   "type = domain\n"
				   "bits = yes\n"
				   "code = 127.0.0.2 black\n"
				   "code = 127.0.0.4 grey\n"
				   "error = 127.0.0.1 refused\n"
				   "[strict.example]\n"
				   "strict = yes\n"
				   "code = 127.0.0.36 dyna\n"
				   "[*.sorbs.net]\n"
				   "status = dead\n"
				   "reason = gone\n";

static void test_catalog_load(void **state)
{
	struct bl_catalog c;
	char err[256];
	assert_int_equal(bl_catalog_load_string(&c, test_catalog, "t", err, sizeof err), 0);
	assert_int_equal(c.nzones, 4);
	const struct bl_zone *z = bl_catalog_find(&c, "ZEN.Spamhaus.org.");
	assert_non_null(z);
	assert_string_equal(z->name, "Spamhaus ZEN");
	assert_int_equal(z->ncodes, 3);
	assert_int_equal(z->codes[1].lo, 0x7f000004);
	assert_int_equal(z->codes[1].hi, 0x7f000007);
	assert_true(z->ipv6);
	assert_true(z->is_default);
	z = bl_catalog_find(&c, "dnsbl.sorbs.net");
	assert_non_null(z);
	assert_int_equal(z->status, BL_STATUS_DEAD);
	assert_non_null(bl_catalog_find(&c, "sorbs.net"));
	assert_null(bl_catalog_find(&c, "notsorbs.net"));
	assert_null(bl_catalog_find(&c, "bl.spamcop.net"));
	char url[128];
	bl_zone_delist(bl_catalog_find(&c, "zen.spamhaus.org"), "192.0.2.1", url, sizeof url);
	assert_string_equal(url, "https://check.example/?q=192.0.2.1");
	bl_catalog_free(&c);
}

static void test_catalog_errors(void **state)
{
	struct bl_catalog c;
	char err[256];
	assert_int_equal(bl_catalog_load_string(&c, "[a.test]\ncode = 10.0.0.2 x\n", "t", err,
						sizeof err),
			 -1);
	assert_string_equal(err, "t:2: answer codes must lie in 127.0.0.0/8, low to high");
	assert_int_equal(bl_catalog_load_string(&c, "[a.test]\ntype = ipx\n", "t", err, sizeof err),
			 -1);
	assert_string_equal(err, "t:2: bad value for type: 'ipx'");
	assert_int_equal(bl_catalog_load_string(&c, "[a.test]\n[a.test]\nname = x\n", "t", err,
						sizeof err),
			 0);
	bl_catalog_free(&c);
	assert_int_equal(bl_catalog_load_string(&c, "[a.test]\nname = x\n[b.test]\nname = y\n"
						    "[a.test]\nname = z\n",
						"t", err, sizeof err),
			 -1);
	assert_string_equal(err, "t:6: zone a.test appears twice");
	assert_int_equal(bl_catalog_load_string(&c, "name = x\n", "t", err, sizeof err), -1);
	assert_string_equal(err, "t:1: 'name' outside a [zone] section");
	assert_int_equal(bl_catalog_load_string(&c, "[bad zone]\nname = x\n", "t", err, sizeof err),
			 -1);
	assert_string_equal(err, "t:2: [bad zone] is not a DNS zone name");
	assert_int_equal(
	    bl_catalog_load_string(&c, "[a.test]\nbits = yes\ncode = 127.0.0.3 x\n", "t", err, sizeof err),
	    -1);
	assert_int_equal(bl_catalog_load_string(&c, "[a.test]\ncode = 127.0.0.3\n", "t", err, sizeof err),
			 -1);
	assert_string_equal(err, "t:2: answer code without a meaning");
	assert_int_equal(bl_catalog_load_string(&c, "[a.test]\nfoo = 1\n", "t", err, sizeof err), -1);
	assert_string_equal(err, "t:2: unknown key 'foo'");
}

static void test_builtin_catalog(void **state)
{
	struct bl_catalog c;
	char err[256];
	assert_int_equal(bl_catalog_load_string(&c, bl_builtin_catalog(), "builtin", err, sizeof err),
			 0);
	size_t defaults = 0;
	for (size_t i = 0; i < c.nzones; i++)
		if (c.zones[i].is_default && c.zones[i].status == BL_STATUS_ACTIVE)
			defaults++;
	assert_true(defaults >= 10);
	const struct bl_zone *z = bl_catalog_find(&c, "zen.spamhaus.org");
	assert_non_null(z);
	assert_true(z->nerrors >= 3);
	z = bl_catalog_find(&c, "dnsbl.sorbs.net");
	assert_non_null(z);
	assert_int_equal(z->status, BL_STATUS_DEAD);
	z = bl_catalog_find(&c, "combined.njabl.org");
	assert_non_null(z);
	assert_int_equal(z->status, BL_STATUS_DEAD);
	z = bl_catalog_find(&c, "ix.dnsbl.manitu.net");
	assert_non_null(z);
	assert_int_equal(z->status, BL_STATUS_DEAD);
	bl_catalog_free(&c);
}

static void test_qnames(void **state)
{
	struct addr a;
	char q[300];
	assert_int_equal(addr_parse("192.0.2.99", 10, &a), 0);
	assert_int_equal(bl_qname_ip(&a, "zen.example", q, sizeof q), 0);
	assert_string_equal(q, "99.2.0.192.zen.example");
	assert_int_equal(addr_parse("2001:db8::1", 11, &a), 0);
	assert_int_equal(bl_qname_ip(&a, "z", q, sizeof q), 0);
	assert_string_equal(q, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.z");
	assert_int_equal(addr_parse("::ffff:127.0.0.2", 16, &a), 0);
	assert_int_equal(bl_qname_ip(&a, "z", q, sizeof q), 0);
	assert_string_equal(q, "2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.z");
	assert_int_equal(bl_qname_domain("Spam.Example.", "dbl.test", q, sizeof q), 0);
	assert_string_equal(q, "spam.example.dbl.test");
	assert_int_equal(bl_qname_domain("-bad.example", "dbl.test", q, sizeof q), -1);
	assert_int_equal(bl_qname_domain("a..b", "dbl.test", q, sizeof q), -1);
	assert_int_equal(bl_qname_domain("nodot", "dbl.test", q, sizeof q), -1);
	assert_int_equal(bl_qname_domain("a b.example", "dbl.test", q, sizeof q), -1);
	assert_int_equal(bl_qname_ip(&a, "z", q, 20), -1);
}

static void answer(struct dns_result *r, enum dns_status st, const char *a1, const char *a2)
{
	memset(r, 0, sizeof *r);
	r->status = st;
	r->type = DNS_T_A;
	if (a1)
		assert_int_equal(addr_parse(a1, strlen(a1), &r->addrs[r->naddrs++]), 0);
	if (a2)
		assert_int_equal(addr_parse(a2, strlen(a2), &r->addrs[r->naddrs++]), 0);
}

static void test_classify(void **state)
{
	struct bl_catalog c;
	char err[256];
	assert_int_equal(bl_catalog_load_string(&c, test_catalog, "t", err, sizeof err), 0);
	const struct bl_zone *zen = bl_catalog_find(&c, "zen.spamhaus.org");
	const struct bl_zone *uribl = bl_catalog_find(&c, "multi.uribl.com");
	const struct bl_zone *strict = bl_catalog_find(&c, "strict.example");
	struct bl_zone adhoc;
	assert_int_equal(bl_zone_adhoc(&adhoc, "Bl.Test."), 0);
	assert_string_equal(adhoc.zone, "bl.test");
	struct dns_result r;
	struct bl_verdict v;

	answer(&r, DNS_NXDOMAIN, NULL, NULL);
	bl_classify(zen, &r, &v);
	assert_int_equal(v.outcome, BL_CLEAN);
	answer(&r, DNS_OK, "127.0.0.2", "127.0.0.10");
	bl_classify(zen, &r, &v);
	assert_int_equal(v.outcome, BL_LISTED);
	assert_int_equal(v.nmeanings, 2);
	assert_string_equal(v.meanings[0], "SBL");
	assert_string_equal(v.meanings[1], "PBL");
	answer(&r, DNS_OK, "127.255.255.254", NULL);
	bl_classify(zen, &r, &v);
	assert_int_equal(v.outcome, BL_LIST_ERROR);
	assert_string_equal(v.error, "list error 127.255.255.254: public resolver");
	/* an error code beside a listing code: the query was refused, nothing is known */
	answer(&r, DNS_OK, "127.0.0.2", "127.255.255.254");
	bl_classify(zen, &r, &v);
	assert_int_equal(v.outcome, BL_LIST_ERROR);
	answer(&r, DNS_OK, "198.51.100.1", NULL);
	bl_classify(zen, &r, &v);
	assert_int_equal(v.outcome, BL_BAD_ANSWER);
	answer(&r, DNS_OK, "127.0.0.2", "10.0.0.1");
	bl_classify(zen, &r, &v);
	assert_int_equal(v.outcome, BL_BAD_ANSWER);
	answer(&r, DNS_TIMEOUT, NULL, NULL);
	bl_classify(zen, &r, &v);
	assert_int_equal(v.outcome, BL_DNS_ERROR);
	assert_string_equal(v.error, "timeout");
	answer(&r, DNS_SERVFAIL, NULL, NULL);
	bl_classify(zen, &r, &v);
	assert_int_equal(v.outcome, BL_DNS_ERROR);
	answer(&r, DNS_REFUSED, NULL, NULL);
	bl_classify(zen, &r, &v);
	assert_int_equal(v.outcome, BL_DNS_ERROR);
	/* undocumented code on a non-strict list: a listing, said to be undocumented */
	answer(&r, DNS_OK, "127.0.0.77", NULL);
	bl_classify(zen, &r, &v);
	assert_int_equal(v.outcome, BL_LISTED);
	assert_string_equal(v.meanings[0], "undocumented code 127.0.0.77");
	/* 127.0.0.1 is never a listing unless documented */
	answer(&r, DNS_OK, "127.0.0.1", NULL);
	bl_classify(zen, &r, &v);
	assert_int_equal(v.outcome, BL_LIST_ERROR);
	bl_classify(&adhoc, &r, &v);
	assert_int_equal(v.outcome, BL_LIST_ERROR);
	answer(&r, DNS_OK, "127.0.0.3", NULL);
	bl_classify(&adhoc, &r, &v);
	assert_int_equal(v.outcome, BL_LISTED);
	/* strict: other codes are errors */
	answer(&r, DNS_OK, "127.0.0.2", NULL);
	bl_classify(strict, &r, &v);
	assert_int_equal(v.outcome, BL_LIST_ERROR);
	answer(&r, DNS_OK, "127.0.0.36", NULL);
	bl_classify(strict, &r, &v);
	assert_int_equal(v.outcome, BL_LISTED);
	/* bitmask list */
	answer(&r, DNS_OK, "127.0.0.6", NULL);
	bl_classify(uribl, &r, &v);
	assert_int_equal(v.outcome, BL_LISTED);
	assert_int_equal(v.nmeanings, 2);
	assert_string_equal(v.meanings[0], "black");
	assert_string_equal(v.meanings[1], "grey");
	answer(&r, DNS_OK, "127.0.0.1", NULL);
	bl_classify(uribl, &r, &v);
	assert_int_equal(v.outcome, BL_LIST_ERROR);
	assert_string_equal(v.error, "list error 127.0.0.1: refused");
	bl_catalog_free(&c);
}

/* ---- checker against the fake resolver ---- */

static void fake(struct dns *d, const char *name, enum dns_status st, const char *a1)
{
	struct dns_result r;
	answer(&r, st, a1, NULL);
	assert_int_equal(dns_fake_add(d, name, DNS_T_A, &r), 0);
}

static const struct chk_result *find(const struct chk_result *res, size_t n,
				     const struct chk_targets *t, const struct bl_zone *zones,
				     const char *target, const char *zone)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t->v[res[i].target].name, target) == 0 &&
		    strcmp(zones[res[i].zone].zone, zone) == 0)
			return &res[i];
	return NULL;
}

static void test_checker(void **state)
{
	struct event_base *base = event_base_new();
	struct dns *d = dns_new_fake(base);
	struct bl_zone zones[4];
	assert_int_equal(bl_zone_adhoc(&zones[0], "good.test"), 0);
	assert_int_equal(bl_zone_adhoc(&zones[1], "wild.test"), 0);
	assert_int_equal(bl_zone_adhoc(&zones[2], "empty.test"), 0);
	assert_int_equal(bl_zone_adhoc(&zones[3], "down.test"), 0);
	/* good.test: proper test points, lists 192.0.2.5 */
	fake(d, "2.0.0.127.good.test", DNS_OK, "127.0.0.2");
	fake(d, "5.2.0.192.good.test", DNS_OK, "127.0.0.2");
	struct dns_result txt;
	memset(&txt, 0, sizeof txt);
	txt.status = DNS_OK;
	assert_int_equal(str_copy(txt.txt, sizeof txt.txt, "see http://good.test/192.0.2.5"), 0);
	assert_int_equal(dns_fake_add(d, "5.2.0.192.good.test", DNS_T_TXT, &txt), 0);
	/* wild.test lists everything, 127.0.0.1 too */
	fake(d, "2.0.0.127.wild.test", DNS_OK, "127.0.0.2");
	fake(d, "1.0.0.127.wild.test", DNS_OK, "127.0.0.2");
	/* empty.test has no test point: a refusing or empty list */
	/* down.test: everything times out */
	fake(d, "2.0.0.127.down.test", DNS_TIMEOUT, NULL);
	fake(d, "1.0.0.127.down.test", DNS_TIMEOUT, NULL);
	fake(d, "5.2.0.192.down.test", DNS_TIMEOUT, NULL);
	fake(d, "6.2.0.192.down.test", DNS_TIMEOUT, NULL);

	struct chk_targets t = {0};
	char err[256];
	assert_int_equal(chk_targets_add(&t, "192.0.2.4/31", 4096, err, sizeof err), 0);
	assert_int_equal(t.n, 2);
	assert_int_equal(chk_targets_add(&t, "192.0.2.0/20", 1024, err, sizeof err), -1);
	assert_int_equal(chk_targets_add(&t, "not a target", 1024, err, sizeof err), -1);
	struct chk_options opt = {.concurrency = 3};
	struct chk_result *res;
	size_t n;
	struct chk_stats st;
	assert_int_equal(chk_run(base, d, zones, 4, &t, &opt, &res, &n, &st), 0);
	assert_int_equal(n, 8);
	const struct chk_result *r = find(res, n, &t, zones, "192.0.2.5", "good.test");
	assert_int_equal(r->v.outcome, BL_LISTED);
	assert_string_equal(r->txt, "see http://good.test/192.0.2.5");
	r = find(res, n, &t, zones, "192.0.2.4", "good.test");
	assert_int_equal(r->v.outcome, BL_CLEAN);
	r = find(res, n, &t, zones, "192.0.2.4", "wild.test");
	assert_int_equal(r->v.outcome, BL_SELFTEST_FAILED);
	r = find(res, n, &t, zones, "192.0.2.5", "empty.test");
	assert_int_equal(r->v.outcome, BL_SELFTEST_FAILED);
	r = find(res, n, &t, zones, "192.0.2.5", "down.test");
	assert_int_equal(r->v.outcome, BL_DNS_ERROR);
	/* 4 zones x 2 self-tests, 2 targets on good/down only (wild and empty failed), 1 TXT */
	assert_int_equal(st.queries, 8 + 4 + 1);
	assert_int_equal(dns_fake_queries(d), st.queries);
	free(res);

	/* Without self-tests every pair is asked. */
	opt.no_selftest = true;
	opt.no_txt = true;
	assert_int_equal(chk_run(base, d, zones, 4, &t, &opt, &res, &n, &st), 0);
	assert_int_equal(st.queries, 8);
	r = find(res, n, &t, zones, "192.0.2.4", "wild.test");
	assert_int_equal(r->v.outcome, BL_CLEAN);
	free(res);
	chk_targets_free(&t);
	dns_free(d);
	event_base_free(base);
}

static void test_checker_kinds(void **state)
{
	struct event_base *base = event_base_new();
	struct dns *d = dns_new_fake(base);
	struct bl_catalog c;
	char err[256];
	assert_int_equal(bl_catalog_load_string(&c, "[ip4.test]\ntype = ip\nselftest = none\n"
						    "[dom.test]\ntype = domain\nselftest = none\n",
						"t", err, sizeof err),
			 0);
	struct chk_targets t = {0};
	assert_int_equal(chk_targets_add(&t, "192.0.2.1", 10, err, sizeof err), 0);
	assert_int_equal(chk_targets_add(&t, "2001:db8::1", 10, err, sizeof err), 0);
	assert_int_equal(chk_targets_add(&t, "Example.COM", 10, err, sizeof err), 0);
	assert_string_equal(t.v[2].name, "example.com");
	fake(d, "example.com.dom.test", DNS_OK, "127.0.0.2");
	struct chk_options opt = {0};
	struct chk_result *res;
	size_t n;
	struct chk_stats st;
	assert_int_equal(chk_run(base, d, c.zones, c.nzones, &t, &opt, &res, &n, &st), 0);
	/* 192.0.2.1 on ip4.test, example.com on dom.test; the IPv6 address is skipped on an
	 * IPv4-only list and on the domain list. */
	assert_int_equal(n, 2);
	assert_int_equal(st.skipped, 4);
	assert_int_equal(res[1].v.outcome, BL_LISTED);
	free(res);
	chk_targets_free(&t);
	bl_catalog_free(&c);
	dns_free(d);
	event_base_free(base);
}

/* dns_parse must survive arbitrary packets; a few hand-made ones here, the fuzz target
 * does the rest. */
static void test_dns_parse(void **state)
{
	/* header: id, flags (response, NOERROR), 1 question, 1 answer */
	static const unsigned char pkt[] = {
	    0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
	    /* question: 2.0.0.127.t */
	    1, '2', 1, '0', 1, '0', 3, '1', '2', '7', 1, 't', 0, 0, 1, 0, 1,
	    /* answer: pointer to the name, A, IN, ttl 300, 4 bytes 127.0.0.2 */
	    0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 127, 0, 0, 2};
	struct dns_result r;
	dns_parse(DNS_T_A, 0, pkt, sizeof pkt, &r);
	assert_int_equal(r.status, DNS_OK);
	assert_int_equal(r.naddrs, 1);
	assert_int_equal(r.addrs[0].bytes[3], 2);
	assert_int_equal(r.ttl, 300);
	dns_parse(DNS_T_A, 0, pkt, 20, &r);
	assert_int_equal(r.status, DNS_BADRESP);
	dns_parse(DNS_T_TXT, 0, pkt, sizeof pkt, &r);
	assert_int_not_equal(r.status, DNS_OK);
	dns_parse(DNS_T_MX, 0, pkt, sizeof pkt, &r);
	assert_int_not_equal(r.status, DNS_OK);
	dns_parse(DNS_T_A, 0, NULL, 0, &r);
	assert_int_equal(r.status, DNS_BADRESP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_catalog_load), cmocka_unit_test(test_catalog_errors),
	    cmocka_unit_test(test_builtin_catalog), cmocka_unit_test(test_qnames),
	    cmocka_unit_test(test_classify),      cmocka_unit_test(test_checker),
	    cmocka_unit_test(test_checker_kinds), cmocka_unit_test(test_dns_parse),
	};
	return cmocka_run_group_tests_name("dnsbl", tests, NULL, NULL);
}
