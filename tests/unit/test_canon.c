/*
 * Canonical identities (policy/canon.h): the forms themselves, the engine
 * keying every spelling as one identity (blocks, counters, limit overrides),
 * and stores with blocks under an old spelling moved on open (rekey.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/addr.h"
#include "core/str.h"
#include "policy/canon.h"
#include "policy/config.h"
#include "policy/engine.h"
#include "policy/event.h"
#include "policy/rekey.h"
#include "policy/store.h"
#include "redis_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 (POL_EVENT_EPOCH_MS + 9 * 3600 * 1000LL)

static void dom_ok(const char *in, const char *want)
{
	char out[300];
	assert_int_equal(canon_domain(in, strlen(in), out, sizeof out), 0);
	assert_string_equal(out, want);
}

static void dom_bad(const char *in)
{
	char out[300];
	out[0] = 'x';
	assert_int_equal(canon_domain(in, strlen(in), out, sizeof out), -1);
	assert_string_equal(out, "");
}

static void test_domain(void **state)
{
	(void)state;
	dom_ok("Example.COM", "example.com");
	dom_ok("evil.TEST.", "evil.test"); /* the root's dot, removed as the SMTP parser does */
	dom_ok("localhost", "localhost");
	dom_ok("b\xc3\xbc"
	       "cher.example",
	       "xn--bcher-kva.example"); /* bücher */
	dom_ok("B\xc3\x9c"
	       "CHER.Example.",
	       "xn--bcher-kva.example");                             /* BÜCHER. */
	dom_ok("XN--BCHER-KVA.example", "xn--bcher-kva.example");    /* an A-label */
	dom_ok("\xe4\xbe\x8b\xe3\x81\x88.test", "xn--r8jz45g.test"); /* 例え.test */
	dom_ok("[192.0.2.1]", "[192.0.2.1]");
	dom_ok("[IPv6:2001:DB8::1]", "[ipv6:2001:db8::1]");
	dom_ok("_dmarc.example", "_dmarc.example");

	dom_bad("");
	dom_bad(".");
	dom_bad("evil.test..");
	dom_bad(".evil.test");
	dom_bad("evil..test");
	dom_bad("evil test");
	dom_bad("a@b.test");
	dom_bad("a:b");
	dom_bad("evil.test\r");
	dom_bad("[192.0.2.1");
	dom_bad("[IPv\xd4:2001:db8::1]"); /* a literal is ASCII */
	dom_bad("a[b.test");
	dom_bad("\xc2\xad[");     /* a soft hyphen is mapped away: "[" is left, no domain */
	dom_bad("\xff\xfe.test"); /* not UTF-8 */
	dom_bad("\xcc\x81"
	        "a.test"); /* a label starting with a combining mark */
	char lab[80], name[300];
	memset(lab, 'a', 64);
	lab[64] = '\0';
	assert_int_equal(str_format(name, sizeof name, "%s.test", lab), 0);
	dom_bad(name); /* a 64-octet label */
	lab[63] = '\0';
	assert_int_equal(str_format(name, sizeof name, "%s.%s.%s.%s", lab, lab, lab, lab),
	                 0); /* 255 */
	dom_bad(name);
	name[250] = '\0'; /* 250 octets, labels of 63: fine */
	char out[300];
	assert_int_equal(canon_domain(name, strlen(name), out, sizeof out), 0);
	/* never past the output's size */
	assert_int_equal(canon_domain("example.com", 11, out, 5), -1);
	assert_int_equal(canon_domain("b\xc3\xbc"
	                              "cher.example",
	                              13, out, 8),
	                 -1);
}

static void user_ok(const char *in, const char *want)
{
	char out[300];
	assert_int_equal(canon_user(in, out, sizeof out), 0);
	assert_string_equal(out, want);
}

static void user_bad(const char *in)
{
	char out[300];
	assert_int_equal(canon_user(in, out, sizeof out), -1);
	assert_string_equal(out, "");
}

static void test_user(void **state)
{
	(void)state;
	user_ok("SaM@Corp.TEST", "sam@corp.test");
	user_ok("sam@corp.test.", "sam@corp.test");
	user_ok("Sam", "sam");
	user_ok("J\xc3\xb6rg@B\xc3\xbc"
	        "cher.example",
	        "j\xc3\xb6rg@xn--bcher-kva.example");
	user_ok("\"A@B\"@Example.org", "\"a@b\"@example.org"); /* the last @ splits */
	user_bad("");
	user_bad("@corp.test");
	user_bad("sam@");
	user_bad("sam@corp..test");
	user_bad("sa\nm@corp.test");
	user_bad("sam@\xff.test");
	char key[300];
	canon_user_key("Sam@\xff.Test", key, sizeof key); /* no canonical form: folded */
	assert_string_equal(key, "sam@\xff.test");
	canon_domain_key("EVIL.test.", key, sizeof key);
	assert_string_equal(key, "evil.test");
}

/* Names already in canonical form take a fast path (canon.c); every answer
 * must be the one of the full path, which the same name with upper case
 * letters takes: the lower and upper case spellings of random names give
 * the same result and the same form. */
static void canon_upper(const char *in, char *out)
{
	size_t i = 0;
	for (; in[i]; i++)
		out[i] = in[i] >= 'a' && in[i] <= 'z' ? (char)(in[i] - 'a' + 'A') : in[i];
	out[i] = '\0';
}

static void same_both_ways(const char *lower)
{
	char up[600], a[300], b[300];
	canon_upper(lower, up);
	int ra = canon_user(lower, a, sizeof a), rb = canon_user(up, b, sizeof b);
	assert_int_equal(ra, rb);
	assert_string_equal(a, b);
	if (ra == 0 && !strchr(lower, '\xc3') && lower[strlen(lower) - 1] != '.')
		assert_string_equal(a, lower); /* canonical already: itself */
	ra = canon_domain(lower, strlen(lower), a, sizeof a);
	rb = canon_domain(up, strlen(up), b, sizeof b);
	assert_int_equal(ra, rb);
	assert_string_equal(a, b);
}

static void test_fast_path_same_answer(void **state)
{
	(void)state;
	static const char *const edge[] = {"a",
	                                   "a.b",
	                                   "a..b",
	                                   ".a",
	                                   "a.",
	                                   "a-",
	                                   "-a",
	                                   "_a.b_",
	                                   "a@b",
	                                   "a@b.",
	                                   "a@.b",
	                                   "a@b..c",
	                                   "a@",
	                                   "@b",
	                                   "a b@c.d",
	                                   "a\x7f@b.c",
	                                   "a@b@c.d",
	                                   "\xc3\xbc@b.c",
	                                   "a@b\xc3\xbc.c",
	                                   "a@[1.2.3.4]",
	                                   "a+tag@b.c",
	                                   "a@b+c.d",
	                                   "a@*.b",
	                                   "a@b\tc"};
	for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++)
		same_both_ways(edge[i]);
	/* labels of 63 and 64 octets, names of 253 and 254 */
	char n[600];
	memset(n, 'x', 63);
	n[63] = '\0';
	same_both_ways(n);
	memset(n, 'x', 64);
	n[64] = '\0';
	same_both_ways(n);
	for (size_t len = 250; len <= 256; len++) {
		for (size_t i = 0; i < len; i++)
			n[i] = i % 50 == 49 ? '.' : 'y';
		n[len] = '\0';
		same_both_ways(n);
		n[0] = 'u';
		n[1] = '@';
		same_both_ways(n);
	}
	static const char *const piece[] = {"a",    "z",        "0",    "9",       ".",
	                                    "-",    "_",        "@",    "+",       " ",
	                                    "\x01", "\xc3\xbc", "mail", "example", "xn--"};
	uint32_t r = 12345;
	for (int k = 0; k < 20000; k++) {
		size_t len = 0;
		int parts = 1 + (int)(r % 12);
		for (int p = 0; p < parts; p++) {
			r = r * 1103515245u + 12345u;
			const char *s = piece[(r >> 16) % (sizeof piece / sizeof piece[0])];
			size_t sl = strlen(s);
			memcpy(n + len, s, sl);
			len += sl;
		}
		n[len] = '\0';
		same_both_ways(n);
	}
}

static void test_identity(void **state)
{
	(void)state;
	char out[POL_IDENT_MAX];
	assert_int_equal(canon_identity("user:SAM@Corp.Test.", out, sizeof out), 0);
	assert_string_equal(out, "user:sam@corp.test");
	assert_int_equal(canon_identity("domain:EVIL.test", out, sizeof out), 0);
	assert_string_equal(out, "domain:evil.test");
	assert_int_equal(canon_identity("domain:B\xc3\xbc"
	                                "cher.example",
	                                out, sizeof out),
	                 0);
	assert_string_equal(out, "domain:xn--bcher-kva.example");
	assert_int_equal(canon_identity("ip:192.0.2.1", out, sizeof out), 0);
	assert_string_equal(out, "ip:192.0.2.1");
	assert_int_equal(canon_identity("domain:", out, sizeof out), -1);
	assert_int_equal(canon_identity("user:@x", out, sizeof out), -1);
	assert_int_equal(canon_identity("domain:a..b", out, sizeof out), -1);
	assert_int_equal(canon_identity("user:sam@corp.test", out, 8), -1);
}

/* ---- the engine: one identity for every spelling ---- */

struct fx {
	struct pol_config cfg;
	struct store *st;
	struct pol_engine *e;
};

static struct fx *fx_new(void)
{
	char err[256];
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	assert_int_equal(pol_config_defaults(&f->cfg, err, sizeof err), 0);
	f->st = store_mem_new();
	assert_non_null(f->st);
	f->e = pol_engine_new(&f->cfg, f->st);
	assert_non_null(f->e);
	return f;
}

static void fx_free(struct fx *f)
{
	pol_engine_free(f->e);
	f->st->close(f->st);
	free(f);
}

static struct pol_verdict mail(struct fx *f, int64_t t, const char *user, const char *from,
                               unsigned seed)
{
	static struct pol_event ev;
	struct pol_verdict v;
	char a[64];
	pol_event_init(&ev, POL_EV_MAIL, t);
	assert_int_equal(str_copy(ev.user, sizeof ev.user, user), 0);
	assert_int_equal(addr_parse("192.0.2.10", 10, &ev.ip), 0);
	ev.has_ip = true;
	assert_int_equal(str_copy(ev.sender, sizeof ev.sender, from), 0);
	assert_int_equal(str_format(a, sizeof a, "friend%u@example.net", seed % 7), 0);
	pol_event_add_rcpt(&ev, a, POL_DLV_OK);
	ev.size = 3000;
	ev.fingerprint = 0x1000 + seed;
	assert_int_equal(pol_engine_evaluate(f->e, &ev, &v), 0);
	return v;
}

static void test_engine_blocks_any_spelling(void **state)
{
	(void)state;
	struct fx *f = fx_new();
	assert_int_equal(pol_engine_block(f->e, "user:sam@corp.test", "t", "x", T0, 0), 0);
	assert_int_equal(pol_engine_block(f->e, "domain:EVIL.test.", "t", "x", T0, 0), 0);
	assert_int_equal(f->st->block_count(f->st), 2);
	struct store_block b;
	assert_int_equal(f->st->block_get(f->st, "domain:evil.test", &b), 1);

	struct pol_verdict v = mail(f, T0 + 1000, "SaM@Corp.TEST", "sam@corp.test", 1);
	assert_int_equal(v.action, POL_BLOCK);
	assert_string_equal(v.identity, "user:sam@corp.test");
	v = mail(f, T0 + 2000, "", "x@EVIL.test", 2);
	assert_int_equal(v.action, POL_BLOCK);
	v = mail(f, T0 + 3000, "bob@corp.test", "x@evil.TEST.", 3);
	assert_int_equal(v.action, POL_BLOCK);
	v = mail(f, T0 + 4000, "bob@corp.test", "x@sub.evil.test", 4);
	assert_int_equal(v.action, POL_ALLOW); /* a block names its domain, not its children */

	/* the blocks-only check (a Postfix RCPT request) the same */
	struct pol_event ev;
	pol_event_init(&ev, POL_EV_MAIL, T0 + 5000);
	assert_int_equal(str_copy(ev.sender, sizeof ev.sender, "Someone@Evil.Test"), 0);
	assert_int_equal(pol_engine_check_blocks(f->e, &ev, &v), 0);
	assert_int_equal(v.action, POL_BLOCK);

	/* unblock under another spelling lifts the one block */
	assert_int_equal(pol_engine_unblock(f->e, "user:SAM@CORP.test", "t", "ok", T0 + 6000), 0);
	assert_int_equal(pol_engine_unblock(f->e, "domain:Evil.Test", "t", "ok", T0 + 6000), 0);
	assert_int_equal(f->st->block_count(f->st), 0);
	v = mail(f, T0 + 7000, "sAM@corp.test", "x@EVIL.test", 5);
	assert_int_equal(v.action, POL_ALLOW);
	fx_free(f);
}

/* Messages until the first refusal, the account spelt by spell(i). */
static unsigned spray(const char *(*spell)(unsigned), struct pol_verdict *last)
{
	struct fx *f = fx_new();
	char err[200];
	assert_int_equal(pol_config_set(&f->cfg, "limits", "msg_hour", "30", err, sizeof err), 0);
	unsigned n = 0;
	for (unsigned i = 1; i <= 200; i++) {
		*last = mail(f, T0 + i * 2000LL, spell(i), "sam@corp.test", i);
		assert_string_equal(last->identity, "user:sam@corp.test");
		if (last->action >= POL_DEFER) {
			n = i;
			break;
		}
	}
	fx_free(f);
	return n;
}

static const char *spell_same(unsigned i)
{
	(void)i;
	return "sam@corp.test";
}

static const char *spell_random(unsigned i)
{
	static char s[32];
	const char *base = "sam@corp.test";
	unsigned x = i * 2654435761u;
	size_t n = strlen(base);
	for (size_t k = 0; k < n; k++) {
		char c = base[k];
		s[k] = (x >> (k % 32)) & 1 && c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
	}
	s[n] = '\0';
	return s;
}

static void test_spray_random_case_is_one_account(void **state)
{
	(void)state;
	struct pol_verdict a, b;
	unsigned same = spray(spell_same, &a);
	unsigned random = spray(spell_random, &b);
	assert_true(same > 0);
	assert_int_equal(random, same);
	assert_string_equal(a.rule, b.rule);
}

static void test_limit_override_any_spelling(void **state)
{
	(void)state;
	struct fx *f = fx_new();
	char err[200];
	assert_int_equal(
	    pol_config_set(&f->cfg, "user SAM@Corp.Test.", "msg_hour", "3", err, sizeof err), 0);
	assert_int_equal(f->cfg.n_users, 1);
	assert_string_equal(f->cfg.users[0].name, "sam@corp.test");
	/* the same override again under another spelling: still one */
	assert_int_equal(
	    pol_config_set(&f->cfg, "user sam@CORP.test", "msg_day", "50", err, sizeof err), 0);
	assert_int_equal(f->cfg.n_users, 1);
	assert_int_equal(pol_config_set(&f->cfg, "user sam@a..b", "msg_day", "5", err, sizeof err),
	                 -1);
	unsigned n = 0;
	for (unsigned i = 1; i <= 10 && !n; i++)
		if (mail(f, T0 + i * 1000LL, i % 2 ? "Sam@corp.TEST" : "sam@Corp.test",
		         "sam@corp.test", i)
		        .action >= POL_DEFER)
			n = i;
	assert_int_equal(n, 4);
	fx_free(f);
}

/* ---- stores written before identities were canonical ---- */

static void put_block(struct store *st, const char *id, int64_t expires, uint32_t offences)
{
	struct store_block b;
	memset(&b, 0, sizeof b);
	assert_int_equal(str_copy(b.identity, sizeof b.identity, id), 0);
	assert_int_equal(store_block_kind_of(id, &b.kind), 0);
	assert_int_equal(str_copy(b.rule, sizeof b.rule, "compromise"), 0);
	assert_int_equal(str_copy(b.reason, sizeof b.reason, "old block"), 0);
	b.created_ms = T0 - 3600000;
	b.expires_ms = expires;
	b.offences = offences;
	assert_int_equal(st->block_put(st, &b), 0);
}

static int count_audit(void *ctx, const struct store_audit *a)
{
	(void)a;
	(*(unsigned *)ctx)++;
	return 0;
}

static void check_rekeyed(struct store *st)
{
	struct store_block b;
	assert_int_equal(st->block_count(st), 3);
	assert_int_equal(st->block_get(st, "user:SAM@Corp.TEST", &b), 0);
	assert_int_equal(st->block_get(st, "domain:EVIL.test", &b), 0);
	assert_int_equal(st->block_get(st, "user:sam@corp.test", &b), 1);
	assert_int_equal(b.expires_ms, 0); /* until lifted beats an expiry */
	assert_int_equal(b.offences, 4);
	assert_int_equal(st->block_get(st, "domain:evil.test", &b), 1);
	assert_int_equal(st->block_get(st, "ip:192.0.2.99", &b), 1);
}

static void rekey_store(struct store *st)
{
	char err[256];
	struct pol_config cfg;
	assert_int_equal(pol_config_defaults(&cfg, err, sizeof err), 0);
	put_block(st, "user:SAM@Corp.TEST", 0, 1);
	put_block(st, "user:sam@corp.test", T0 + 3600000, 4); /* both spellings blocked */
	put_block(st, "domain:EVIL.test", 0, 0);
	put_block(st, "ip:192.0.2.99", 0, 0);
	struct pol_engine *e = pol_engine_new(&cfg, st);
	assert_non_null(e);
	check_rekeyed(st);
	unsigned audits = 0;
	assert_int_equal(st->audit_iter(st, count_audit, &audits), 0);
	assert_int_equal(audits, 4); /* unblock + block of each old spelling */
	struct pol_event ev;
	struct pol_verdict v;
	pol_event_init(&ev, POL_EV_MAIL, T0);
	assert_int_equal(str_copy(ev.user, sizeof ev.user, "Sam@corp.test"), 0);
	assert_int_equal(str_copy(ev.sender, sizeof ev.sender, "sam@corp.test"), 0);
	assert_int_equal(pol_engine_evaluate(e, &ev, &v), 0);
	assert_int_equal(v.action, POL_BLOCK);
	pol_engine_free(e);
	/* a second open finds nothing to do */
	assert_int_equal(rekey_blocks(st), 0);
}

static void test_rekey_mem(void **state)
{
	(void)state;
	struct store *st = store_mem_new();
	assert_non_null(st);
	rekey_store(st);
	st->close(st);
}

static void test_rekey_lmdb(void **state)
{
	(void)state;
	char dir[64], err[256], cmd[128];
	assert_int_equal(str_copy(dir, sizeof dir, "/tmp/rg-canon-XXXXXX"), 0);
	assert_non_null(mkdtemp(dir));
	struct store *st = store_lmdb_open(dir, 16 << 20, err, sizeof err);
	assert_non_null(st);
	rekey_store(st);
	st->close(st);
	/* the moves are durable, and the audit trail rebuilds the same blocks */
	st = store_lmdb_open(dir, 16 << 20, err, sizeof err);
	assert_non_null(st);
	check_rekeyed(st);
	st->close(st);
	struct store_lmdb_check c;
	assert_int_equal(store_lmdb_verify(dir, 16 << 20, false, T0, &c, err, sizeof err), 0);
	assert_int_equal(c.missing, 0);
	assert_int_equal(c.bad_blocks, 0);
	assert_int_equal(str_format(cmd, sizeof cmd, "rm -rf %s", dir), 0);
	assert_int_equal(system(cmd), 0);
}

static void test_rekey_redis(void **state)
{
	(void)state;
	char err[256];
	int port = redis_server_start();
	assert_true(port > 0); /* redis-server is in scripts/bootstrap's CHECK_PKGS */
	struct store_redis_options o = {
	    .port = port, .prefix = "canon:", .require_connection = true};
	struct store *st = store_redis_open(&o, err, sizeof err);
	assert_non_null(st);
	rekey_store(st);
	st->close(st);
	/* what another node opening the same Redis then reads */
	st = store_redis_open(&o, err, sizeof err);
	assert_non_null(st);
	check_rekeyed(st);
	st->close(st);
	redis_server_stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_domain),
	    cmocka_unit_test(test_user),
	    cmocka_unit_test(test_fast_path_same_answer),
	    cmocka_unit_test(test_identity),
	    cmocka_unit_test(test_engine_blocks_any_spelling),
	    cmocka_unit_test(test_spray_random_case_is_one_account),
	    cmocka_unit_test(test_limit_override_any_spelling),
	    cmocka_unit_test(test_rekey_mem),
	    cmocka_unit_test(test_rekey_lmdb),
	    cmocka_unit_test(test_rekey_redis),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
