/*
 * Unit tests for src/delivery/: MX ordering and resolution on the fake DNS
 * backend (preferences, shuffles, implicit MX, null MX, fallbacks, temporary
 * and permanent failures), the retry schedule, the DSN decision and message,
 * destination limits, and the log line format read back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "delivery/dest.h"
#include "delivery/dlog.h"
#include "delivery/dsngen.h"
#include "core/str.h"
#include "delivery/mx.h"
#include "delivery/retry.h"
#include "net/dns.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t seq_rand(void *arg)
{
	uint32_t *s = arg;
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static void test_mx_order(void **state)
{
	struct dns_mx in[5] = {{20, "c.example"},
	                       {10, "b.example"},
	                       {10, "a.example"},
	                       {30, "d.example."},
	                       {10, "A.example"}};
	struct mx_host out[MX_HOSTS_MAX];
	uint32_t seed = 1;
	int n = mx_order(in, 5, seq_rand, &seed, out);
	assert_int_equal(n, 4); /* A.example = a.example once */
	assert_int_equal(out[0].pref, 10);
	assert_int_equal(out[1].pref, 10);
	assert_string_equal(out[2].name, "c.example");
	assert_string_equal(out[3].name, "d.example");
	/* equal preferences come in both orders over many shuffles */
	int a_first = 0, b_first = 0;
	for (uint32_t s = 0; s < 64; s++) {
		uint32_t sd = s;
		struct dns_mx two[2] = {{5, "a.example"}, {5, "b.example"}};
		assert_int_equal(mx_order(two, 2, seq_rand, &sd, out), 2);
		if (strcmp(out[0].name, "a.example") == 0)
			a_first++;
		else
			b_first++;
	}
	assert_true(a_first > 5 && b_first > 5);
	/* null MX (RFC 7505), also as "." */
	struct dns_mx nul[1] = {{0, ""}};
	assert_int_equal(mx_order(nul, 1, seq_rand, &seed, out), -1);
	struct dns_mx nul2[1] = {{0, "."}};
	assert_int_equal(mx_order(nul2, 1, seq_rand, &seed, out), -1);
	/* a null MX next to real ones is ignored */
	struct dns_mx mixed[2] = {{0, ""}, {10, "mx.example"}};
	assert_int_equal(mx_order(mixed, 2, seq_rand, &seed, out), 1);
	assert_string_equal(out[0].name, "mx.example");
}

struct mx_fixture {
	struct event_base *base;
	struct dns *dns;
	struct mx_result res;
	int calls;
};

static void mx_cb(void *arg, const struct mx_result *r)
{
	struct mx_fixture *f = arg;
	f->res = *r;
	f->calls++;
}

static void add_mx(struct dns *d, const char *name, int n, const struct dns_mx *mx)
{
	struct dns_result r = {.status = DNS_OK, .type = DNS_T_MX, .nmx = n};
	for (int i = 0; i < n; i++)
		r.mx[i] = mx[i];
	assert_int_equal(dns_fake_add(d, name, DNS_T_MX, &r), 0);
}

static void add_status(struct dns *d, const char *name, enum dns_type t, enum dns_status s)
{
	struct dns_result r = {.status = s, .type = t};
	assert_int_equal(dns_fake_add(d, name, t, &r), 0);
}

static void add_a(struct dns *d, const char *name, enum dns_type t, const char *ip)
{
	struct dns_result r = {.status = DNS_OK, .type = t, .naddrs = 1};
	assert_int_equal(addr_parse(ip, strlen(ip), &r.addrs[0]), 0);
	assert_int_equal(dns_fake_add(d, name, t, &r), 0);
}

static const struct mx_result *resolve(struct mx_fixture *f, const char *domain, bool no_mx,
                                       enum mx_family fam)
{
	uint32_t seed = 7;
	struct mx_options o = {.family = fam, .rnd = seq_rand, .rarg = &seed};
	f->calls = 0;
	assert_non_null(mx_resolve(f->dns, domain, no_mx, &o, mx_cb, f));
	assert_int_equal(f->calls, 0); /* never from within the call */
	event_base_dispatch(f->base);
	assert_int_equal(f->calls, 1);
	return &f->res;
}

static void test_mx_resolve(void **state)
{
	struct mx_fixture f = {0};
	f.base = event_base_new();
	f.dns = dns_new_fake(f.base);
	struct dns_mx mx[3] = {{20, "backup.x.test"}, {10, "mx1.x.test"}, {30, "nowhere.x.test"}};
	add_mx(f.dns, "x.test", 3, mx);
	add_a(f.dns, "mx1.x.test", DNS_T_A, "127.0.0.2");
	add_a(f.dns, "mx1.x.test", DNS_T_AAAA, "::1");
	add_a(f.dns, "backup.x.test", DNS_T_A, "127.0.0.3");
	add_status(f.dns, "backup.x.test", DNS_T_AAAA, DNS_NODATA);
	/* nowhere.x.test: NXDOMAIN for both */
	const struct mx_result *r = resolve(&f, "x.test", false, MX_FAMILY_ANY_V4_FIRST);
	assert_int_equal(r->status, MX_OK);
	assert_int_equal(r->n, 3);
	assert_string_equal(r->t[0].host, "mx1.x.test");
	assert_int_equal(r->t[0].addr.family, 4);
	assert_int_equal(r->t[1].addr.family, 6);
	assert_string_equal(r->t[2].host, "backup.x.test");
	r = resolve(&f, "x.test", false, MX_FAMILY_ANY_V6_FIRST);
	assert_int_equal(r->t[0].addr.family, 6);
	r = resolve(&f, "x.test", false, MX_FAMILY_V4);
	assert_int_equal(r->n, 2);

	/* implicit MX: no MX records, the domain's own address */
	add_status(f.dns, "implicit.test", DNS_T_MX, DNS_NODATA);
	add_a(f.dns, "implicit.test", DNS_T_A, "127.0.0.4");
	r = resolve(&f, "implicit.test", false, MX_FAMILY_ANY_V4_FIRST);
	assert_int_equal(r->status, MX_OK);
	assert_int_equal(r->n, 1);
	assert_string_equal(r->t[0].host, "implicit.test");

	/* null MX */
	struct dns_mx nul[1] = {{0, ""}};
	add_mx(f.dns, "null.test", 1, nul);
	r = resolve(&f, "null.test", false, MX_FAMILY_ANY_V4_FIRST);
	assert_int_equal(r->status, MX_NULL);
	assert_non_null(strstr(r->error, "5.1.10"));

	/* NXDOMAIN: permanent; SERVFAIL: temporary */
	r = resolve(&f, "nonexistent.test", false, MX_FAMILY_ANY_V4_FIRST);
	assert_int_equal(r->status, MX_PERM);
	assert_non_null(strstr(r->error, "5.1.2"));
	add_status(f.dns, "broken.test", DNS_T_MX, DNS_SERVFAIL);
	r = resolve(&f, "broken.test", false, MX_FAMILY_ANY_V4_FIRST);
	assert_int_equal(r->status, MX_TEMP);

	/* every MX host without an address: permanent, unless a lookup failed */
	struct dns_mx gone[1] = {{10, "gone.test"}};
	add_mx(f.dns, "noaddr.test", 1, gone);
	r = resolve(&f, "noaddr.test", false, MX_FAMILY_ANY_V4_FIRST);
	assert_int_equal(r->status, MX_PERM);
	assert_non_null(strstr(r->error, "5.4.4"));
	struct dns_mx flaky[1] = {{10, "flaky.test"}};
	add_mx(f.dns, "flakymx.test", 1, flaky);
	add_status(f.dns, "flaky.test", DNS_T_A, DNS_TIMEOUT);
	r = resolve(&f, "flakymx.test", false, MX_FAMILY_ANY_V4_FIRST);
	assert_int_equal(r->status, MX_TEMP);
	assert_non_null(strstr(r->error, "4.4.3"));

	/* a relayhost in brackets: no MX lookup */
	unsigned long before = dns_fake_queries(f.dns);
	r = resolve(&f, "mx1.x.test", true, MX_FAMILY_ANY_V4_FIRST);
	assert_int_equal(r->status, MX_OK);
	assert_int_equal(r->n, 2);
	assert_int_equal(dns_fake_queries(f.dns) - before, 2);

	/* cancelled: no callback, no leak */
	f.calls = 0;
	struct mx_query *q = mx_resolve(f.dns, "x.test", false, NULL, mx_cb, &f);
	assert_non_null(q);
	mx_cancel(q);
	event_base_dispatch(f.base);
	assert_int_equal(f.calls, 0);
	dns_free(f.dns);
	event_base_free(f.base);
}

static void test_retry(void **state)
{
	struct retry_policy p;
	retry_policy_default(&p);
	assert_int_equal(retry_backoff_ms(&p, 1), 300000);
	assert_int_equal(retry_backoff_ms(&p, 2), 600000);
	assert_int_equal(retry_backoff_ms(&p, 4), 2400000);
	assert_int_equal(retry_backoff_ms(&p, 5), 4000000);
	assert_int_equal(retry_backoff_ms(&p, 500), 4000000);
	assert_int_equal(retry_next_ms(&p, 1, 1000), 301000);
	assert_false(retry_expired(&p, 0, 5ull * 86400 * 1000 - 1));
	assert_true(retry_expired(&p, 0, 5ull * 86400 * 1000));
	struct retry_policy q = {1000, 4000, 10000};
	assert_int_equal(retry_backoff_ms(&q, 3), 4000);
	assert_false(retry_expired(&q, 5000, 1000)); /* clock went back */
}

static void test_dsn_decide(void **state)
{
	assert_int_equal(dsngen_decide(true, "a@b", 0), DSNGEN_SEND);
	assert_int_equal(dsngen_decide(false, "a@b", 0), DSNGEN_HOLD);
	assert_int_equal(dsngen_decide(true, "", 0), DSNGEN_NONE);
	assert_int_equal(dsngen_decide(false, "", 0), DSNGEN_NONE);
	assert_int_equal(dsngen_decide(true, "a@b", DSNGEN_NOTIFY_NEVER), DSNGEN_NONE);
	assert_int_equal(dsngen_decide(true, "a@b", DSNGEN_NOTIFY_SUCCESS), DSNGEN_NONE);
	assert_int_equal(dsngen_decide(true, "a@b", DSNGEN_NOTIFY_FAILURE | DSNGEN_NOTIFY_DELAY),
	                 DSNGEN_SEND);
}

static void test_dsn_build(void **state)
{
	const char orig[] =
	    "Received: from x\r\nSubject: hello\nFrom: a@gw.test\r\n\r\nbody line\r\n";
	struct dsngen_rcpt r[2] = {
	    {"b@x.test", "rfc822;b@x.test", "failed", "5.1.1", "mx1.x.test",
	     "550 5.1.1 <b@x.test>: unknown", 1795000000000ull},
	    {"c@y.test", "", "failed", "5.4.7", "", "delivery time expired\r\nInjected: yes", 0},
	};
	struct dsngen_msg m = {.reporting_mta = "gw.test",
	                       .queue_id = "0123456789ABCDEF",
	                       .envid = "E1",
	                       .sender = "a@gw.test",
	                       .arrival_ms = 1794999000000ull,
	                       .now_ms = 1795000000000ull,
	                       .nrcpt = 2,
	                       .rcpt = r,
	                       .original = orig,
	                       .original_len = strlen(orig)};
	struct buf b;
	buf_init(&b, 1 << 20);
	assert_int_equal(dsngen_build(&m, &b), 0);
	const char *s = buf_cstr(&b);
	assert_non_null(strstr(s, "To: a@gw.test\r\n"));
	assert_non_null(strstr(s, "Auto-Submitted: auto-replied\r\n"));
	assert_non_null(strstr(s, "multipart/report; report-type=delivery-status"));
	assert_non_null(strstr(s, "Reporting-MTA: dns; gw.test\r\n"));
	assert_non_null(strstr(s, "Original-Envelope-Id: E1\r\n"));
	assert_non_null(strstr(s, "Final-Recipient: rfc822; b@x.test\r\n"));
	assert_non_null(strstr(s, "Original-Recipient: rfc822;b@x.test\r\n"));
	assert_non_null(strstr(s, "Status: 5.1.1\r\nRemote-MTA: dns; mx1.x.test\r\n"));
	assert_non_null(strstr(s, "Diagnostic-Code: smtp; 550 5.1.1 <b@x.test>: unknown\r\n"));
	assert_non_null(strstr(s, "Diagnostic-Code: x-relayguard; delivery time expired"));
	assert_non_null(strstr(s, "Date: Wed, 18 Nov 2026 11:06:40 +0000"));
	/* header only, CRLF everywhere, the body not returned, nothing injected */
	assert_non_null(
	    strstr(s, "text/rfc822-headers\r\n\r\nReceived: from x\r\nSubject: hello\r\n"));
	assert_null(strstr(s, "body line"));
	assert_null(strstr(s, "\r\nInjected: yes"));
	for (size_t i = 0; i < b.len; i++)
		if (s[i] == '\n')
			assert_true(i > 0 && s[i - 1] == '\r');
	/* RET=FULL: the whole message */
	buf_reset(&b);
	m.full = true;
	assert_int_equal(dsngen_build(&m, &b), 0);
	assert_non_null(strstr(buf_cstr(&b), "message/rfc822\r\n\r\nReceived"));
	assert_non_null(strstr(buf_cstr(&b), "body line\r\n"));
	/* too small a buffer fails */
	struct buf small;
	buf_init(&small, 100);
	assert_int_equal(dsngen_build(&m, &small), -1);
	buf_free(&small);
	buf_free(&b);
	buf_init(&b, 16);
	buf_free(&b);
	assert_int_equal(dsngen_header_len("a: b\n\nbody", 10), 6);
	assert_int_equal(dsngen_header_len("a: b\r\n", 6), 6);
}

static void test_dest(void **state)
{
	struct dest_table t;
	assert_int_equal(dest_table_init(&t, 2, 3), 0);
	struct dest *a = dest_get(&t, "a.test|");
	struct dest *b = dest_get(&t, "b.test|");
	assert_ptr_equal(dest_get(&t, "a.test|"), a);
	assert_int_equal(dest_count(&t), 2);
	assert_true(dest_may_open(&t, a));
	dest_opened(&t, a);
	dest_opened(&t, a);
	assert_false(dest_may_open(&t, a)); /* per destination */
	assert_true(dest_may_open(&t, b));
	dest_opened(&t, b);
	assert_false(dest_may_open(&t, b)); /* all together */
	dest_closed(&t, a);
	assert_true(dest_may_open(&t, b));
	assert_null(dest_remove(&t, a)); /* still has a connection */
	dest_closed(&t, a);
	dest_mark_dead(a, 1000, 500, "4.4.1 connection refused");
	assert_true(dest_is_dead(a, 1499));
	assert_false(dest_is_dead(a, 1500));
	a->user = &t;
	assert_ptr_equal(dest_remove(&t, a), &t);
	assert_null(dest_find(&t, "a.test|"));
	assert_int_equal(dest_count(&t), 1);
	/* many destinations: each found again, each visited once by dest_next */
	char key[32];
	for (int i = 0; i < 300; i++) {
		(void)snprintf(key, sizeof key, "d%d.test|", i);
		assert_non_null(dest_get(&t, key));
	}
	assert_int_equal(dest_count(&t), 301);
	size_t pos = 0, seen = 0;
	for (struct dest *d; (d = dest_next(&t, &pos));) {
		assert_ptr_equal(dest_find(&t, d->key), d);
		seen++;
	}
	assert_int_equal(seen, 301);
	dest_table_free(&t, NULL);
}

static void test_dlog(void **state)
{
	struct dlog l;
	dlog_begin(&l, "0123ABCD", "rcpt");
	dlog_addr(&l, "rcpt", "b@x.test");
	dlog_addr(&l, "from", "");
	dlog_str(&l, "user", "");
	dlog_str(&l, "reply", "550 5.1.1 \"quoted\" a=b\nforged=line \\");
	dlog_secs(&l, "delay", 1256);
	dlog_u64(&l, "attempt", 3);
	assert_string_equal(l.line,
	                    "delivery id=0123ABCD event=rcpt rcpt=<b@x.test> from=<> user= "
	                    "reply=\"550 5.1.1 \\\"quoted\\\" a=b\\\\x0aforged=line \\\\x5c\" "
	                    "delay=1.25 attempt=3");
	assert_false(l.kv.cut);
	/* read back with the one codec */
	const char *p = l.line, *end = l.line + strlen(l.line);
	struct kv_pair pr;
	char v[DLOG_VALUE_MAX];
	assert_int_equal(kv_next(&p, end, &pr), KV_WORD);
	assert_int_equal(pr.vlen, 8);
	assert_memory_equal(pr.val, "delivery", 8);
	int n = 0;
	bool saw_reply = false, saw_user = false;
	while (kv_next(&p, end, &pr) == KV_PAIR) {
		n++;
		assert_int_equal(kv_unquote(&pr, v, sizeof v), 0);
		if (kv_key_is(&pr, "reply")) {
			saw_reply = true;
			assert_string_equal(v, "550 5.1.1 \"quoted\" a=b\\x0aforged=line \\x5c");
		}
		if (kv_key_is(&pr, "user")) {
			saw_user = true;
			assert_string_equal(v, "");
		}
	}
	assert_int_equal(n, 8);
	assert_true(saw_reply && saw_user);
	const char *bad = "x=\"unterminated";
	p = bad;
	assert_int_equal(kv_next(&p, bad + strlen(bad), &pr), KV_BAD);
	const char *junk = "x=\"a\"b y=1";
	p = junk;
	assert_int_equal(kv_next(&p, junk + strlen(junk), &pr), KV_BAD);
	/* a value that does not fit is cut, and says so */
	char big[3000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	dlog_begin(&l, "1", "x");
	dlog_str(&l, "k", big);
	dlog_str(&l, "k2", big);
	assert_true(l.kv.cut);
	assert_true(strlen(l.line) < DLOG_LINE_MAX);
	/* and the cut line still reads to its end, every value quoted whole */
	p = l.line;
	end = l.line + strlen(l.line);
	int pairs = 0;
	enum kv_tok t;
	assert_int_equal(kv_next(&p, end, &pr), KV_WORD);
	while ((t = kv_next(&p, end, &pr)) == KV_PAIR)
		pairs++;
	assert_int_equal(t, KV_END);
	assert_int_equal(pairs, 4); /* id, event, k, and k2 cut to fit */
}

/* "Self" here: 192.0.2.1 (and nothing else). */
static bool self_is(void *arg, const struct addr *a)
{
	struct addr me;
	(void)arg;
	assert_int_equal(addr_parse("192.0.2.1", 9, &me), 0);
	return addr_equal(&me, a);
}

static void set_target(struct mx_target *t, const char *host, uint16_t pref, const char *ip)
{
	assert_int_equal(str_copy(t->host, sizeof t->host, host), 0);
	t->pref = pref;
	assert_int_equal(addr_parse(ip, strlen(ip), &t->addr), 0);
}

/* RFC 5321 5.1: we are a backup MX: the better hosts stay, we and the worse go;
 * we are the best: nothing is left (a loop); we are not listed: no change. */
static void test_mx_cut_self(void **state)
{
	struct mx_result r = {.status = MX_OK, .n = 4};
	int at;
	set_target(&r.t[0], "a.example", 10, "198.51.100.1");
	set_target(&r.t[1], "b.example", 10, "198.51.100.2");
	set_target(&r.t[2], "me.example", 20, "192.0.2.1");
	set_target(&r.t[3], "c.example", 30, "198.51.100.3");
	assert_int_equal(mx_cut_self(&r, self_is, NULL, &at), 2);
	assert_int_equal(at, 2);
	assert_string_equal(r.t[0].host, "a.example");
	assert_string_equal(r.t[1].host, "b.example");
	assert_int_equal(mx_cut_self(&r, self_is, NULL, &at), 2);
	assert_int_equal(at, -1);
	struct mx_result best = {.status = MX_OK, .n = 2};
	set_target(&best.t[0], "c.example", 30, "198.51.100.3");
	set_target(&best.t[1], "me.example", 5, "192.0.2.1");
	assert_int_equal(mx_cut_self(&best, self_is, NULL, &at), 0);
	assert_int_equal(at, 1);
	assert_string_equal(best.t[0].host, "me.example"); /* for the log line */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mx_order),    cmocka_unit_test(test_mx_resolve),
	    cmocka_unit_test(test_mx_cut_self), cmocka_unit_test(test_retry),
	    cmocka_unit_test(test_dsn_decide),  cmocka_unit_test(test_dsn_build),
	    cmocka_unit_test(test_dest),        cmocka_unit_test(test_dlog),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
