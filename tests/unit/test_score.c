/*
 * Unit tests for src/dnsbl/score: postscreen-style site syntax, weights,
 * filters, catalogue error codes, allow-lists, the TTL cache (virtual time).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/clock.h"
#include "dnsbl/score.h"
#include "net/dns.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

static void test_sites_parse(void **state)
{
	struct score_site s[8];
	char err[256];
	assert_int_equal(score_sites_parse("zen.spamhaus.org*3, bl.spamcop.net*2\n"
	                                   "list.dnswl.org=127.0.[2..15].[0;1]*-5 psbl.surriel.com",
	                                   s, 8, err, sizeof err),
	                 4);
	assert_string_equal(s[0].zone, "zen.spamhaus.org");
	assert_int_equal(s[0].weight, 3);
	assert_false(s[0].has_filter);
	assert_int_equal(s[2].weight, -5);
	assert_true(s[2].has_filter);
	assert_int_equal(s[2].filter[2].n, 1);
	assert_int_equal(s[2].filter[2].lo[0], 2);
	assert_int_equal(s[2].filter[2].hi[0], 15);
	assert_int_equal(s[2].filter[3].n, 2);
	assert_int_equal(s[3].weight, 1);
	struct addr a;
	assert_int_equal(addr_parse("127.0.9.1", 9, &a), 0);
	assert_true(score_site_matches(&s[2], &a));
	assert_int_equal(addr_parse("127.0.9.2", 9, &a), 0);
	assert_false(score_site_matches(&s[2], &a));
	assert_int_equal(addr_parse("127.0.16.0", 10, &a), 0);
	assert_false(score_site_matches(&s[2], &a));
	assert_true(score_site_matches(&s[0], &a));

	static const char *const bad[] = {
	    "zen.spamhaus.org*x",
	    "zen.spamhaus.org=127.0.0*2",
	    "zen.spamhaus.org=127.0.0.[2..]",
	    "zen.spamhaus.org=127.0.0.[5..2]",
	    "=127.0.0.2",
	    "zen.spamhaus.org=127.0.0.256",
	    "bad zone!*2",
	    "zen.spamhaus.org=127.0.0.[2;]",
	    "*.sorbs.net",
	    "zen.spamhaus.org=127.0.0.2.5",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(score_sites_parse(bad[i], s, 8, err, sizeof err), -1);
	assert_int_equal(score_sites_parse("a.test b.test c.test", s, 2, err, sizeof err), -1);
	assert_string_equal(err, "more than 2 DNSBL sites");
}

struct got {
	int calls;
	struct score_result r;
};

static void on_score(void *arg, const struct score_result *res)
{
	struct got *g = arg;
	g->calls++;
	g->r = *res;
}

static void fake(struct dns *d, const char *name, enum dns_status st, const char *a1, uint32_t ttl)
{
	struct dns_result r;
	memset(&r, 0, sizeof r);
	r.status = st;
	r.ttl = ttl;
	if (a1) {
		assert_int_equal(addr_parse(a1, strlen(a1), &r.addrs[0]), 0);
		r.naddrs = 1;
	}
	assert_int_equal(dns_fake_add(d, name, DNS_T_A, &r), 0);
}

static struct score_result run(struct event_base *base, struct scorer *s, const char *ip)
{
	struct addr a;
	assert_int_equal(addr_parse(ip, strlen(ip), &a), 0);
	struct got g = {0};
	assert_int_equal(scorer_score(s, &a, on_score, &g), 0);
	assert_int_equal(g.calls, 0); /* never from within scorer_score */
	event_base_dispatch(base);
	assert_int_equal(g.calls, 1);
	return g.r;
}

static const char catalog_text[] = "[zen.spamhaus.org]\n"
                                   "code = 127.0.0.2 SBL\n"
                                   "code = 127.0.0.10-127.0.0.11 PBL\n"
                                   "error = 127.255.255.254 public resolver\n"
                                   "delist = https://check.example/?q=%IP%\n"
                                   "[list.dnswl.org]\n"
                                   "role = allow\n"
                                   "code = 127.0.0.0-127.0.254.255 allow\n"
                                   "error = 127.0.0.255 over limit\n"
                                   "[*.sorbs.net]\nstatus = dead\nreason = gone\n";

static void test_scoring(void **state)
{
	clock_fake_set(1000000, 1000000);
	struct event_base *base = event_base_new();
	struct dns *d = dns_new_fake(base);
	struct bl_catalog cat;
	char err[256];
	assert_int_equal(bl_catalog_load_string(&cat, catalog_text, "t", err, sizeof err), 0);
	struct score_site sites[8];
	int n = score_sites_parse(
	    "zen.spamhaus.org=127.0.0.[2..9]*3 zen.spamhaus.org=127.0.0.[10;11]*1 "
	    "bl.test*2 list.dnswl.org=127.0.[0..255].[1..3]*-5",
	    sites, 8, err, sizeof err);
	assert_int_equal(n, 4);
	struct score_options opt;
	score_options_default(&opt);
	opt.threshold = 3;
	opt.allowlist = true;
	opt.allowlist_threshold = -1;
	struct scorer *s = scorer_new(base, d, &cat, sites, (size_t)n, &opt, err, sizeof err);
	assert_non_null(s);

	/* 192.0.2.1: SBL (3) -> reject, naming zen with its delist page */
	fake(d, "1.2.0.192.zen.spamhaus.org", DNS_OK, "127.0.0.2", 300);
	struct score_result r = run(base, s, "192.0.2.1");
	assert_int_equal(r.score, 3);
	assert_int_equal(r.decision, SCORE_REJECT);
	assert_int_equal(r.nhits, 1);
	assert_string_equal(r.hits[0].codes, "127.0.0.2");
	assert_string_equal(r.reply,
	                    "550 5.7.1 Service unavailable; client [192.0.2.1] blocked "
	                    "using zen.spamhaus.org; see https://check.example/?q=192.0.2.1");
	assert_int_equal(r.queried, 3);
	/* 192.0.2.2: PBL (1) + bl.test (2) = 3 -> reject naming bl.test (the heavier) */
	fake(d, "2.2.0.192.zen.spamhaus.org", DNS_OK, "127.0.0.10", 300);
	fake(d, "2.2.0.192.bl.test", DNS_OK, "127.0.0.2", 300);
	r = run(base, s, "192.0.2.2");
	assert_int_equal(r.score, 3);
	assert_int_equal(r.decision, SCORE_REJECT);
	assert_non_null(strstr(r.reply, "blocked using bl.test"));
	/* 192.0.2.3: zen answers its error code: never counts, reported */
	fake(d, "3.2.0.192.zen.spamhaus.org", DNS_OK, "127.255.255.254", 300);
	r = run(base, s, "192.0.2.3");
	assert_int_equal(r.score, 0);
	assert_int_equal(r.decision, SCORE_PASS);
	assert_int_equal(r.nerrors, 1);
	assert_string_equal(r.errors[0],
	                    "zen.spamhaus.org: list error 127.255.255.254: public resolver");
	/* 192.0.2.4: on zen SBL but dnswl-listed with trust 2: 3 - 5 = -2 -> allow-listed */
	fake(d, "4.2.0.192.zen.spamhaus.org", DNS_OK, "127.0.0.2", 300);
	fake(d, "4.2.0.192.list.dnswl.org", DNS_OK, "127.0.5.2", 300);
	r = run(base, s, "192.0.2.4");
	assert_int_equal(r.score, -2);
	assert_int_equal(r.decision, SCORE_ALLOWLIST);
	/* dnswl's over-limit answer is an error, not a trust level */
	fake(d, "5.2.0.192.list.dnswl.org", DNS_OK, "127.0.0.255", 300);
	r = run(base, s, "192.0.2.5");
	assert_int_equal(r.score, 0);
	assert_int_equal(r.nerrors, 1);
	/* timeouts count nothing and are not cached */
	fake(d, "6.2.0.192.bl.test", DNS_TIMEOUT, NULL, 0);
	r = run(base, s, "192.0.2.6");
	assert_int_equal(r.score, 0);
	assert_int_equal(r.nerrors, 1);
	unsigned long before = dns_fake_queries(d);
	r = run(base, s, "192.0.2.6");
	assert_int_equal(dns_fake_queries(d) - before, 1); /* only bl.test asked again */
	assert_int_equal(r.cached, 2);

	/* The cache: 192.0.2.1 again costs no query, until its TTL (300 s) passes. */
	before = dns_fake_queries(d);
	r = run(base, s, "192.0.2.1");
	assert_int_equal(dns_fake_queries(d), before);
	assert_int_equal(r.cached, 3);
	assert_int_equal(r.decision, SCORE_REJECT);
	clock_fake_advance(301 * 1000);
	r = run(base, s, "192.0.2.1");
	assert_int_equal(dns_fake_queries(d) - before, 3);
	/* IPv4-mapped clients are scored as IPv4 */
	before = dns_fake_queries(d);
	r = run(base, s, "::ffff:192.0.2.1");
	assert_int_equal(dns_fake_queries(d), before);
	assert_int_equal(r.decision, SCORE_REJECT);

	scorer_free(s);
	/* dead lists are refused */
	n = score_sites_parse("dnsbl.sorbs.net*2", sites, 8, err, sizeof err);
	assert_null(scorer_new(base, d, &cat, sites, (size_t)n, &opt, err, sizeof err));
	assert_string_equal(err, "dnsbl.sorbs.net is a defunct list: gone");
	bl_catalog_free(&cat);
	dns_free(d);
	event_base_free(base);
	clock_use_system();
}

static void test_cache_bound(void **state)
{
	clock_fake_set(0, 0);
	struct event_base *base = event_base_new();
	struct dns *d = dns_new_fake(base);
	struct score_site sites[1];
	char err[128];
	assert_int_equal(score_sites_parse("bl.test", sites, 1, err, sizeof err), 1);
	struct score_options opt;
	score_options_default(&opt);
	opt.cache_max = 16;
	struct scorer *s = scorer_new(base, d, NULL, sites, 1, &opt, err, sizeof err);
	assert_non_null(s);
	char ip[32];
	for (int i = 0; i < 100; i++) {
		snprintf(ip, sizeof ip, "198.51.100.%d", i);
		run(base, s, ip);
		assert_true(scorer_cache_size(s) <= 16);
	}
	assert_int_equal(scorer_cache_size(s), 16);
	scorer_free(s);
	dns_free(d);
	event_base_free(base);
	clock_use_system();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sites_parse),
	    cmocka_unit_test(test_scoring),
	    cmocka_unit_test(test_cache_bound),
	};
	return cmocka_run_group_tests_name("score", tests, NULL, NULL);
}
