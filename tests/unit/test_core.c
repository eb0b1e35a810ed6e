/*
 * Unit tests for src/core: buf, str, addr and the prefix set, cfg, clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/addr.h"
#include "core/buf.h"
#include "core/cfg.h"
#include "core/clock.h"
#include "core/dname.h"
#include "core/str.h"

#include <string.h>

static void test_buf_bounded(void **state)
{
	struct buf b;
	buf_init(&b, 8);
	assert_int_equal(buf_append_str(&b, "abcd"), 0);
	assert_int_equal(buf_append_str(&b, "efgh"), 0);
	assert_int_equal(buf_append_char(&b, 'x'), -1);
	assert_int_equal(b.len, 8);
	assert_string_equal(buf_cstr(&b), "abcdefgh");
	buf_consume(&b, 3);
	assert_string_equal(buf_cstr(&b), "defgh");
	assert_int_equal(buf_printf(&b, "%d", 123), 0);
	assert_int_equal(buf_printf(&b, "%d", 1), -1);
	assert_string_equal(buf_cstr(&b), "defgh123");
	buf_free(&b);
	buf_init(&b, 100);
	assert_string_equal(buf_cstr(&b), "");
	buf_free(&b);
}

/* Issue 16 item 7: consuming a line moves a read offset, it does not copy the
 * rest of the buffer (pipelined short commands were quadratic); the rest
 * moves back once, on buf_compact() or when an append needs the room. */
static void test_buf_consume_is_an_offset(void **state)
{
	struct buf b;
	buf_init(&b, 64);
	assert_int_equal(buf_append_str(&b, "NOOP\r\nRSET\r\nQUIT\r\n"), 0);
	const char *base = b.data;
	buf_consume(&b, 6);
	assert_ptr_equal(b.data, base + 6); /* nothing moved */
	assert_string_equal(buf_cstr(&b), "RSET\r\nQUIT\r\n");
	buf_consume(&b, 6);
	assert_ptr_equal(b.data, base + 12);
	assert_string_equal(buf_cstr(&b), "QUIT\r\n");
	buf_compact(&b);
	assert_ptr_equal(b.data, base);
	assert_string_equal(buf_cstr(&b), "QUIT\r\n");
	/* the room consumed is reused: fill to max after consuming */
	buf_consume(&b, 2);
	assert_int_equal(
	    buf_append(&b, "0123456789012345678901234567890123456789012345678901234567", 58), 0);
	assert_int_equal(b.len, 62);
	assert_int_equal(memcmp(b.data, "IT\r\n0123", 8), 0);
	assert_int_equal(buf_append_str(&b, "xyz"), -1); /* max is still 64 */
	/* a model check: random appends and consumes against a flat copy */
	char model[256];
	size_t mlen = 0;
	buf_reset(&b);
	unsigned seed = 7;
	for (int i = 0; i < 5000; i++) {
		seed = seed * 1103515245u + 12345u;
		size_t n = (seed >> 16) % 20;
		if ((seed >> 8) & 1) {
			char tmp[20];
			for (size_t k = 0; k < n; k++)
				tmp[k] = (char)('a' + (i + k) % 26);
			int rc = buf_append(&b, tmp, n);
			if (mlen + n <= 64) {
				assert_int_equal(rc, 0);
				memcpy(model + mlen, tmp, n);
				mlen += n;
			} else {
				assert_int_equal(rc, -1);
			}
		} else {
			buf_consume(&b, n);
			size_t c = n < mlen ? n : mlen;
			memmove(model, model + c, mlen - c);
			mlen -= c;
		}
		assert_int_equal(b.len, mlen);
		if (mlen)
			assert_memory_equal(b.data, model, mlen);
		assert_int_equal(buf_cstr(&b)[mlen], '\0');
	}
	buf_free(&b);
}

/* Issue 16 item 9: the one quoting of every value from outside in a log line. */
static void test_str_log_value(void **state)
{
	char q[64];
	assert_string_equal(str_log_value(q, sizeof q, "sam@example.com"), "sam@example.com");
	assert_string_equal(str_log_value(q, sizeof q, ""), "");
	assert_string_equal(str_log_value(q, sizeof q, NULL), "");
	assert_string_equal(str_log_value(q, sizeof q, "x user=ceo"), "\"x user=ceo\"");
	assert_string_equal(str_log_value(q, sizeof q, "a\r\nb"), "\"a\\\\x0d\\\\x0ab\"");
	assert_string_equal(str_log_value(q, sizeof q, "say \"hi\""), "\"say \\\"hi\\\"\"");
	assert_null(strchr(str_log_value(q, sizeof q, "a\nb"), '\n'));
	/* truncated, the quotes still balanced */
	char small[8];
	assert_string_equal(str_log_value(small, sizeof small, "a b c d e f"), "\"a b c\"");
	assert_string_equal(str_log_value(small, sizeof small, "abcdefghij"), "abcdefg");
}

static void test_str_numbers(void **state)
{
	uint64_t v;
	assert_int_equal(str_to_u64("123", 3, 0, 1000, &v), 0);
	assert_int_equal(v, 123);
	assert_int_equal(str_to_u64("123x", 4, 0, 1000, &v), -1);
	assert_int_equal(str_to_u64("", 0, 0, 1000, &v), -1);
	assert_int_equal(str_to_u64("1001", 4, 0, 1000, &v), -1);
	assert_int_equal(str_to_u64("99999999999999999999999", 23, 0, UINT64_MAX, &v), -1);
	long long ll;
	assert_int_equal(str_to_ll("-5", -10, 10, &ll), 0);
	assert_int_equal(ll, -5);
	assert_int_equal(str_to_ll("--5", -10, 10, &ll), -1);
	assert_int_equal(str_to_duration_ms("5m", 1000, &v), 0);
	assert_int_equal(v, 300000);
	assert_int_equal(str_to_duration_ms("250ms", 1000, &v), 0);
	assert_int_equal(v, 250);
	assert_int_equal(str_to_duration_ms("10", 1000, &v), 0);
	assert_int_equal(v, 10000);
	assert_int_equal(str_to_duration_ms("10y", 1000, &v), -1);
	assert_int_equal(str_to_size("10M", &v), 0);
	assert_int_equal(v, 10 * 1024 * 1024);
	bool b;
	assert_int_equal(str_to_bool("Yes", &b), 0);
	assert_true(b);
	assert_int_equal(str_to_bool("maybe", &b), -1);
}

static void test_str_copy_split(void **state)
{
	char d[5];
	assert_int_equal(str_copy(d, sizeof d, "abcd"), 0);
	assert_int_equal(str_copy(d, sizeof d, "abcdef"), -1);
	assert_string_equal(d, "abcd");
	char s[] = " a, b,,c ";
	char *f[4];
	assert_int_equal(str_split(s, ", ", f, 4), 3);
	assert_string_equal(f[2], "c");
	char s2[] = "a b c";
	assert_int_equal(str_split(s2, " ", f, 2), -1);
	char out[32];
	str_sanitize(out, sizeof out, "a\r\nb", 4);
	assert_string_equal(out, "a\\x0d\\x0ab");
}

/* The _trunc variants keep what fits, NUL-terminated, and never write past
 * size; the checked ones say -1 for the same input. */
static void test_str_trunc_variants(void **state)
{
	char d[5] = "xxxx";
	str_copy_trunc(d, sizeof d, "abcdef");
	assert_string_equal(d, "abcd");
	str_copy_trunc(d, sizeof d, "ab");
	assert_string_equal(d, "ab");
	str_copy_n_trunc(d, sizeof d, "0123456789", 7);
	assert_string_equal(d, "0123");
	str_copy_n_trunc(d, sizeof d, "xy\0z", 2); /* src need not be NUL-terminated at len */
	assert_string_equal(d, "xy");
	str_append_trunc(d, sizeof d, "zzz");
	assert_string_equal(d, "xyzz");
	str_append_trunc(d, sizeof d, "q"); /* full: unchanged */
	assert_string_equal(d, "xyzz");
	assert_int_equal(str_append(d, sizeof d, "q"), -1);
	str_format_trunc(d, sizeof d, "%d-%s", 12, "345");
	assert_string_equal(d, "12-3");
	assert_int_equal(str_format(d, sizeof d, "%d-%s", 12, "345"), -1);
	str_format_trunc(d, sizeof d, "%d", 7);
	assert_string_equal(d, "7");
	/* size 0 writes nothing at all */
	char canary[2] = "k";
	str_copy_trunc(canary, 0, "abc");
	str_copy_n_trunc(canary, 0, "abc", 3);
	str_format_trunc(canary, 0, "%s", "abc");
	assert_string_equal(canary, "k");
	/* and room for exactly the string is enough */
	char e[4];
	str_format_trunc(e, sizeof e, "%s", "abc");
	assert_string_equal(e, "abc");
	assert_int_equal(str_format(e, sizeof e, "%s", "abc"), 0);
}

static void test_addr_parse_format(void **state)
{
	struct addr a;
	char out[ADDR_STRLEN];
	assert_int_equal(addr_parse("192.0.2.1", 9, &a), 0);
	assert_int_equal(a.family, 4);
	assert_int_equal(addr_format(&a, out, sizeof out), 0);
	assert_string_equal(out, "192.0.2.1");
	assert_int_equal(addr_parse("2001:DB8:0:0::1", 15, &a), 0);
	assert_int_equal(addr_format(&a, out, sizeof out), 0);
	assert_string_equal(out, "2001:db8::1");
	assert_int_equal(addr_parse("[::1]", 5, &a), 0);
	assert_int_equal(addr_parse("192.0.2", 7, &a), -1);
	assert_int_equal(addr_parse("192.0.2.256", 11, &a), -1);
	assert_int_equal(addr_parse("1.2.3.4 ", 8, &a), -1);
	assert_int_equal(addr_parse("", 0, &a), -1);
	assert_int_equal(addr_parse("::ffff:127.0.0.2", 16, &a), 0);
	assert_int_equal(a.family, 6);
	addr_unmap(&a);
	assert_int_equal(a.family, 4);
	assert_int_equal(addr_format(&a, out, sizeof out), 0);
	assert_string_equal(out, "127.0.0.2");
}

static void test_cidr(void **state)
{
	struct cidr c;
	struct addr a;
	char out[CIDR_STRLEN];
	assert_int_equal(cidr_parse("203.0.113.77/24", 15, &c), 0);
	assert_int_equal(cidr_format(&c, out, sizeof out), 0);
	assert_string_equal(out, "203.0.113.0/24");
	assert_int_equal(cidr_size(&c), 256);
	cidr_nth(&c, 255, &a);
	assert_int_equal(addr_format(&a, out, sizeof out), 0);
	assert_string_equal(out, "203.0.113.255");
	assert_true(cidr_contains(&c, &a));
	assert_int_equal(addr_parse("203.0.114.0", 11, &a), 0);
	assert_false(cidr_contains(&c, &a));
	assert_int_equal(cidr_parse("10.0.0.0/33", 11, &c), -1);
	assert_int_equal(cidr_parse("10.0.0.0/", 9, &c), -1);
	assert_int_equal(cidr_parse("2001:db8::/127", 14, &c), 0);
	assert_int_equal(cidr_size(&c), 2);
	cidr_nth(&c, 1, &a);
	assert_int_equal(addr_format(&a, out, sizeof out), 0);
	assert_string_equal(out, "2001:db8::1");
	assert_int_equal(cidr_parse("1.2.3.4", 7, &c), 0);
	assert_int_equal(c.prefix, 32);
	assert_int_equal(addr_parse("10.1.2.3", 8, &a), 0);
	assert_true(addr_is_private(&a));
	assert_int_equal(addr_parse("8.8.8.8", 7, &a), 0);
	assert_false(addr_is_private(&a));
}

static void test_prefix_set(void **state)
{
	struct prefix_set *s = prefix_set_new();
	char err[128];
	assert_non_null(s);
	assert_int_equal(
	    prefix_set_add_list(s, "10.0.0.0/8, 10.1.0.0/16 2001:db8::/32", err, sizeof err), 0);
	assert_int_equal(prefix_set_count(s), 3);
	struct addr a;
	struct cidr m;
	assert_int_equal(addr_parse("10.1.2.3", 8, &a), 0);
	assert_true(prefix_set_lookup(s, &a, NULL, &m));
	assert_int_equal(m.prefix, 16);
	assert_int_equal(addr_parse("10.2.2.3", 8, &a), 0);
	assert_true(prefix_set_lookup(s, &a, NULL, &m));
	assert_int_equal(m.prefix, 8);
	assert_int_equal(addr_parse("11.0.0.1", 8, &a), 0);
	assert_false(prefix_set_lookup(s, &a, NULL, NULL));
	assert_int_equal(addr_parse("2001:db8:1::5", 13, &a), 0);
	assert_true(prefix_set_lookup(s, &a, NULL, NULL));
	assert_int_equal(addr_parse("2001:db9::5", 11, &a), 0);
	assert_false(prefix_set_lookup(s, &a, NULL, NULL));
	assert_int_equal(prefix_set_add_list(s, "10.0.0.0/8,bogus", err, sizeof err), -1);
	assert_string_equal(err, "not an IP address or CIDR range: bogus");
	struct cidr all;
	assert_int_equal(cidr_parse("0.0.0.0/0", 9, &all), 0);
	assert_int_equal(prefix_set_add(s, &all, NULL), 0);
	assert_int_equal(addr_parse("11.0.0.1", 8, &a), 0);
	assert_true(prefix_set_lookup(s, &a, NULL, &m));
	assert_int_equal(m.prefix, 0);
	prefix_set_free(s);
}

struct test_opts {
	char name[16];
	long long n;
	bool flag;
	uint64_t wait;
	uint64_t size;
};

static const struct cfg_option test_table[] = {
    {"main", "name", CFG_STRING, "x", 0, 0, false, offsetof(struct test_opts, name), 16, ""},
    {"main", "n", CFG_INT, "5", 1, 10, false, offsetof(struct test_opts, n), 0, ""},
    {"main", "flag", CFG_BOOL, "no", 0, 0, false, offsetof(struct test_opts, flag), 0, ""},
    {"main", "wait", CFG_DURATION, "30s", 0, 0, false, offsetof(struct test_opts, wait), 0, ""},
    {"main", "size", CFG_SIZE, "1M", 0, 0, false, offsetof(struct test_opts, size), 0, ""},
};

static int test_cfg_handler(void *user, const char *section, const char *name, const char *value,
                            char *err, size_t errlen)
{
	int rc = cfg_table_set(test_table, 5, user, section, name, value, err, errlen);
	if (rc == 0) {
		assert_int_equal(
		    str_format(err, errlen, "unknown option %s in [%s]", name, section), 0);
		return -1;
	}
	return rc == 1 ? 0 : -1;
}

static void test_cfg(void **state)
{
	struct test_opts o;
	char err[256];
	assert_int_equal(cfg_table_defaults(test_table, 5, &o, err, sizeof err), 0);
	assert_string_equal(o.name, "x");
	assert_int_equal(o.n, 5);
	assert_int_equal(o.wait, 30000);
	assert_int_equal(cfg_parse_string("[main]\nname = hello ; comment\nn = 7\nflag = yes\n"
	                                  "wait = 2m\n",
	                                  "t.conf", test_cfg_handler, &o, err, sizeof err),
	                 0);
	assert_string_equal(o.name, "hello");
	assert_int_equal(o.n, 7);
	assert_true(o.flag);
	assert_int_equal(o.wait, 120000);
	assert_int_equal(
	    cfg_parse_string("[main]\n\nn = 70\n", "t.conf", test_cfg_handler, &o, err, sizeof err),
	    -1);
	assert_string_equal(err, "t.conf:3: n: expected a whole number from 1 to 10");
	assert_int_equal(cfg_parse_string("[main]\nbogus line\n", "t.conf", test_cfg_handler, &o,
	                                  err, sizeof err),
	                 -1);
	assert_string_equal(
	    err, "t.conf:2: syntax error (expected [section], name = value, or a comment)");
	assert_int_equal(cfg_parse_string("[main]\nother = 1\n", "t.conf", test_cfg_handler, &o,
	                                  err, sizeof err),
	                 -1);
	assert_string_equal(err, "t.conf:2: unknown option other in [main]");
	char longline[600];
	memset(longline, 'a', sizeof longline);
	memcpy(longline, "name = ", 7);
	longline[sizeof longline - 1] = '\0';
	char text[700];
	assert_int_equal(str_format(text, sizeof text, "[main]\n%s\nn = 2\n", longline), 0);
	assert_int_equal(cfg_parse_string(text, "t.conf", test_cfg_handler, &o, err, sizeof err),
	                 -1);
	assert_string_equal(err, "t.conf:2: line too long");
	assert_int_equal(
	    cfg_parse_file("/nonexistent/x.conf", test_cfg_handler, &o, err, sizeof err), -1);
	assert_string_equal(err, "/nonexistent/x.conf: No such file or directory");
}

static void test_clock(void **state)
{
	char out[40];
	int64_t ms;
	clock_fake_set(0, 0);
	assert_int_equal(clock_format_rfc3339(0, out, sizeof out), 0);
	assert_string_equal(out, "1970-01-01T00:00:00Z");
	assert_int_equal(clock_parse_rfc3339("2026-11-23T09:19:51Z", &ms), 0);
	assert_int_equal(clock_format_rfc3339(ms, out, sizeof out), 0);
	assert_string_equal(out, "2026-11-23T09:19:51Z");
	assert_int_equal(clock_parse_rfc3339("2026-11-23T10:19:51.5+01:00", &ms), 0);
	assert_int_equal(clock_format_rfc3339(ms, out, sizeof out), 0);
	assert_string_equal(out, "2026-11-23T09:19:51.500Z");
	/* RFC 5322 for mail headers: what strftime "%a, %d %b %Y %H:%M:%S +0000"
	 * gives in the C locale (a zero-padded day) */
	assert_int_equal(clock_format_rfc5322(ms, true, out, sizeof out), 0);
	assert_string_equal(out, "Mon, 23 Nov 2026 09:19:51 +0000");
	assert_int_equal(clock_parse_rfc3339("2026-11-02T00:00:00Z", &ms), 0);
	assert_int_equal(clock_format_rfc5322(ms, true, out, sizeof out), 0);
	assert_string_equal(out, "Mon, 02 Nov 2026 00:00:00 +0000");
	assert_int_equal(clock_format_rfc5322(ms, false, out, sizeof out), 0);
	assert_string_equal(out, "Mon, 2 Nov 2026 00:00:00 +0000");
	assert_int_equal(clock_format_rfc5322(0, true, out, sizeof out), 0);
	assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 +0000");
	assert_int_equal(clock_format_rfc5322(0, true, out, 8), -1);
	/* before the epoch: the second below, the rest above it; a time near
	 * INT64_MIN (a damaged store record) formats, where ms - 999 overflowed */
	assert_int_equal(clock_format_rfc3339(-1, out, sizeof out), 0);
	assert_string_equal(out, "1969-12-31T23:59:59.999Z");
	assert_int_equal(clock_format_rfc3339(-1000, out, sizeof out), 0);
	assert_string_equal(out, "1969-12-31T23:59:59Z");
	assert_int_equal(clock_format_rfc3339(INT64_MIN, out, sizeof out), 0);
	assert_int_equal(clock_format_rfc5322(INT64_MIN, true, out, sizeof out), 0);
	assert_int_equal(clock_parse_rfc3339("2026-13-23T09:19:51Z", &ms), -1);
	assert_int_equal(clock_parse_rfc3339("2026-11-23T09:19:51Zjunk", &ms), -1);
	clock_fake_set(1000, 5);
	clock_fake_advance(500);
	assert_int_equal(clock_realtime_ms(), 1500);
	assert_int_equal(clock_monotonic_ms(), 505);
	clock_update();
	assert_int_equal(clock_realtime_ms(), 1500);
	clock_use_system();
	assert_true(clock_realtime_ms() > 1700000000000LL);
}

/* The one DNS name check: what every module's old validator disagreed on. */
static void test_dname(void **state)
{
	(void)state;
	char out[DNAME_MAX + 1];
	assert_int_equal(dname_check("Mail.Example.COM", 16, 0, out, sizeof out), DNAME_OK);
	assert_string_equal(out, "mail.example.com");
	assert_int_equal(dname_check("a..b", 4, 0, NULL, 0), DNAME_E_LABEL); /* rcptval took it */
	assert_int_equal(dname_check(".a", 2, 0, NULL, 0), DNAME_E_LABEL);
	assert_int_equal(dname_check("-a.b", 4, 0, NULL, 0), DNAME_E_HYPHEN);
	assert_int_equal(dname_check("a.b-", 4, 0, NULL, 0),
	                 DNAME_E_HYPHEN); /* the last label too */
	assert_int_equal(dname_check("a.b-", 4, DNAME_EDGE_HYPHEN, NULL, 0), DNAME_OK);
	assert_int_equal(dname_check("_mta-sts.x.test", 15, 0, NULL, 0), DNAME_E_CHAR);
	assert_int_equal(dname_check("_mta-sts.x.test", 15, DNAME_UNDERSCORE, NULL, 0), DNAME_OK);
	assert_int_equal(dname_check("x.test.", 7, 0, NULL, 0), DNAME_E_LABEL);
	assert_int_equal(dname_check("x.test.", 7, DNAME_ROOT_DOT, out, sizeof out), DNAME_OK);
	assert_string_equal(out, "x.test");
	assert_int_equal(dname_check("x.test..", 8, DNAME_ROOT_DOT, out, sizeof out),
	                 DNAME_E_LABEL);
	assert_string_equal(out, "");
	assert_int_equal(dname_check(".", 1, DNAME_ROOT_DOT, NULL, 0), DNAME_E_EMPTY);
	assert_int_equal(dname_check("*.zone.test", 11, DNAME_WILDCARD, NULL, 0), DNAME_OK);
	assert_int_equal(dname_check("a.*.test", 8, DNAME_WILDCARD, NULL, 0), DNAME_E_CHAR);
	assert_int_equal(dname_check("localhost", 9, DNAME_NEED_DOT, NULL, 0), DNAME_E_DOT);
	assert_int_equal(dname_check("192.0.2.1", 9, DNAME_NEED_LETTER, NULL, 0), DNAME_E_LETTER);
	assert_int_equal(dname_check("b\xc3\xbc"
	                             "cher.test",
	                             12, 0, NULL, 0),
	                 DNAME_E_CHAR);
	assert_int_equal(dname_check("B\xc3\xbc"
	                             "cher.Test",
	                             12, DNAME_UTF8, out, sizeof out),
	                 DNAME_OK);
	assert_string_equal(out, "b\xc3\xbc"
	                         "cher.test");
	char big[300];
	memset(big, 'a', 64);
	memcpy(big + 64, ".test", 5);
	assert_int_equal(dname_check(big, 69, 0, NULL, 0), DNAME_E_LABEL_LONG);
	for (size_t i = 0; i < 254; i++)
		big[i] = i % 2 ? '.' : 'a';
	assert_int_equal(dname_check(big, 253, 0, NULL, 0), DNAME_OK);
	big[253] = 'a';
	assert_int_equal(dname_check(big, 254, 0, NULL, 0), DNAME_E_LONG);
	assert_int_equal(dname_check("x.test", 6, 0, out, 6), DNAME_E_LONG); /* no room for NUL */
	assert_true(strlen(dname_strerror(DNAME_E_HYPHEN)) > 0);
}

/* The fast check agrees with dname_check on every name it accepts, and
 * accepts exactly the names dname_check leaves as they are. */
static void test_dname_canonical(void **state)
{
	(void)state;
	assert_int_equal(dname_canonical_len("mail.example.com", 100), 16);
	assert_int_equal(dname_canonical_len("mail.example.com@x", 16), 16); /* max ends it */
	assert_int_equal(dname_canonical_len("Mail.example.com", 100), 0);
	assert_int_equal(dname_canonical_len("a..b", 100), 0);
	assert_int_equal(dname_canonical_len(".a", 100), 0);
	assert_int_equal(dname_canonical_len("a.", 100), 0);
	assert_int_equal(dname_canonical_len("", 100), 0);
	assert_int_equal(dname_canonical_len("a@b.test", 100), 0);
	assert_int_equal(dname_canonical_len("_dmarc.x-.test", 100), 14);
	const char alphabet[] = "ab-_.A\xc3@0";
	char name[300], out[DNAME_MAX + 1];
	unsigned seed = 7;
	for (int n = 0; n < 20000; n++) {
		size_t len = (seed = seed * 1103515245u + 12345u) % 80;
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			name[i] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
		}
		if (n % 97 == 0) { /* long labels and names */
			len = (seed >> 8) % 290;
			for (size_t i = 0; i < len; i++)
				name[i] = (i % 64 == 63) ? '.' : 'a';
		}
		name[len] = '\0';
		size_t fast = dname_canonical_len(name, len);
		enum dname_err e = dname_check(name, len, DNAME_UNDERSCORE | DNAME_EDGE_HYPHEN, out,
		                               sizeof out);
		bool same = e == DNAME_OK && strcmp(out, name) == 0;
		assert_int_equal(fast, same ? len : 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dname_canonical),
	    cmocka_unit_test(test_buf_bounded),
	    cmocka_unit_test(test_buf_consume_is_an_offset),
	    cmocka_unit_test(test_str_log_value),
	    cmocka_unit_test(test_dname),
	    cmocka_unit_test(test_str_numbers),
	    cmocka_unit_test(test_str_copy_split),
	    cmocka_unit_test(test_str_trunc_variants),
	    cmocka_unit_test(test_addr_parse_format),
	    cmocka_unit_test(test_cidr),
	    cmocka_unit_test(test_prefix_set),
	    cmocka_unit_test(test_cfg),
	    cmocka_unit_test(test_clock),
	};
	return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
