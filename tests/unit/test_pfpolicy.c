/*
 * Unit tests for src/smtp/pfpolicy: the Postfix policy delegation protocol.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/str.h"
#include "smtp/pfpolicy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char req_rcpt[] = "request=smtpd_access_policy\n"
                               "protocol_state=RCPT\n"
                               "protocol_name=ESMTP\n"
                               "client_address=2001:DB8::25\n"
                               "client_name=mail.example.com\n"
                               "reverse_client_name=mail.example.com\n"
                               "helo_name=mail.example.com\n"
                               "sender=sam@example.com\n"
                               "recipient=bob@example.net\n"
                               "recipient_count=0\n"
                               "queue_id=\n"
                               "instance=123.456.7\n"
                               "size=12345\n"
                               "sasl_method=plain\n"
                               "sasl_username=sam\n"
                               "ccert_subject=\n"
                               "policy_context=x=y\n"
                               "some_future_attribute=whatever\n"
                               "\n";

static void test_full_request(void **state)
{
	struct pfp_parser p;
	pfp_parser_init(&p);
	size_t used;
	assert_int_equal(pfp_parser_feed(&p, req_rcpt, strlen(req_rcpt), &used), PFP_REQUEST);
	assert_int_equal(used, strlen(req_rcpt));
	assert_int_equal(p.req.state, PFP_STATE_RCPT);
	assert_string_equal(p.req.sasl_username, "sam");
	assert_string_equal(p.req.sender, "sam@example.com");
	assert_string_equal(p.req.recipient, "bob@example.net");
	assert_true(p.req.has_client_address);
	char a[ADDR_STRLEN];
	addr_format(&p.req.client_address, a, sizeof a);
	assert_string_equal(a, "2001:db8::25");
	assert_int_equal(p.req.size, 12345);
	assert_int_equal(p.req.attrs, 18);
}

/* Every split of the input gives the same request, and two pipelined requests come
 * out one after the other. */
static void test_split_and_pipelined(void **state)
{
	char two[2 * sizeof req_rcpt];
	size_t n = strlen(req_rcpt);
	memcpy(two, req_rcpt, n);
	memcpy(two + n, req_rcpt, n);
	two[2 * n] = '\0';
	size_t total = 2 * n;
	for (size_t step = 1; step <= 64; step++) {
		struct pfp_parser p;
		pfp_parser_init(&p);
		int got = 0;
		size_t off = 0;
		while (off < total) {
			size_t len = total - off < step ? total - off : step;
			size_t used;
			enum pfp_status st = pfp_parser_feed(&p, two + off, len, &used);
			assert_int_not_equal(st, PFP_ERROR);
			off += used;
			if (st == PFP_REQUEST) {
				assert_string_equal(p.req.sasl_username, "sam");
				got++;
				pfp_parser_init(&p);
			}
		}
		assert_int_equal(got, 2);
	}
}

static enum pfp_status feed_all(const char *s, struct pfp_parser *p)
{
	size_t used;
	pfp_parser_init(p);
	return pfp_parser_feed(p, s, strlen(s), &used);
}

static void test_errors(void **state)
{
	struct pfp_parser p;
	assert_int_equal(feed_all("\n", &p), PFP_ERROR);
	assert_string_equal(p.error, "empty request");
	assert_int_equal(feed_all("protocol_state=RCPT\n\n", &p), PFP_ERROR);
	assert_string_equal(p.error, "not a smtpd_access_policy request");
	assert_int_equal(feed_all("request=smtpd_access_policy\ngarbage\n\n", &p), PFP_ERROR);
	assert_string_equal(p.error, "attribute line without name=value");
	assert_int_equal(feed_all("request=smtpd_access_policy\nBad Name=1\n\n", &p), PFP_ERROR);
	assert_int_equal(feed_all("request=smtpd_access_policy\nsize=-1\n\n", &p), PFP_ERROR);
	assert_int_equal(
	    feed_all("request=smtpd_access_policy\nrecipient_count=99999999999\n\n", &p),
	    PFP_ERROR);
	/* a bad client address is not an error, just no address */
	assert_int_equal(feed_all("request=smtpd_access_policy\nclient_address=unknown\n\n", &p),
	                 PFP_REQUEST);
	assert_false(p.req.has_client_address);
	/* CRLF is tolerated */
	assert_int_equal(feed_all("request=smtpd_access_policy\r\nprotocol_state=MAIL\r\n\r\n", &p),
	                 PFP_REQUEST);
	assert_int_equal(p.req.state, PFP_STATE_MAIL);
	/* an over-long line */
	char *big = malloc(PFP_LINE_MAX + 100);
	memset(big, 'a', PFP_LINE_MAX + 50);
	memcpy(big, "sender=", 7);
	memcpy(big + PFP_LINE_MAX + 50, "\n\n", 3);
	assert_int_equal(feed_all(big, &p), PFP_ERROR);
	assert_string_equal(p.error, "attribute line too long");
	free(big);
	/* too many attributes */
	char many[PFP_ATTRS_MAX * 8 + 64];
	size_t o = 0;
	o += (size_t)snprintf(many + o, sizeof many - o, "request=smtpd_access_policy\n");
	for (int i = 0; i < PFP_ATTRS_MAX + 1; i++)
		o += (size_t)snprintf(many + o, sizeof many - o, "x=%d\n", i % 10);
	snprintf(many + o, sizeof many - o, "\n");
	assert_int_equal(feed_all(many, &p), PFP_ERROR);
	assert_string_equal(p.error, "too many attributes");
	/* after an error the parser stays failed */
	size_t used;
	assert_int_equal(pfp_parser_feed(&p, "request=smtpd_access_policy\n\n", 29, &used),
	                 PFP_ERROR);
}

static void test_replies(void **state)
{
	struct buf b;
	buf_init(&b, 4096);
	assert_int_equal(pfp_format_reply(&b, PFP_DUNNO, NULL), 0);
	assert_string_equal(buf_cstr(&b), "action=DUNNO\n\n");
	buf_reset(&b);
	assert_int_equal(pfp_format_reply(&b, PFP_REJECT, "account sam is blocked\r\naction=OK"),
	                 0);
	assert_string_equal(buf_cstr(&b), "action=REJECT account sam is blocked  action=OK\n\n");
	buf_reset(&b);
	assert_int_equal(pfp_format_reply(&b, PFP_DEFER, "rate limit"), 0);
	assert_string_equal(buf_cstr(&b), "action=DEFER rate limit\n\n");
	buf_reset(&b);
	assert_int_equal(pfp_format_reply(&b, PFP_HOLD, "suspected compromise"), 0);
	assert_string_equal(buf_cstr(&b), "action=HOLD suspected compromise\n\n");
	buf_reset(&b);
	assert_int_equal(pfp_format_reply(&b, PFP_PREPEND, "X-Relayguard: score=0.4"), 0);
	assert_string_equal(buf_cstr(&b), "action=PREPEND X-Relayguard: score=0.4\n\n");
	buf_reset(&b);
	assert_int_equal(pfp_format_reply(&b, PFP_PREPEND, ""), 0);
	assert_string_equal(buf_cstr(&b), "action=DUNNO\n\n");
	buf_free(&b);
	buf_init(&b, 8);
	assert_int_equal(pfp_format_reply(&b, PFP_REJECT, "too long for this buffer"), -1);
	buf_free(&b);
}

/* The instance table: one entry per message, found again by its id; entries
 * idle for the ttl are forgotten; full, the least recently seen makes room. */
static void test_instances(void **state)
{
	(void)state;
	struct pfp_instances *t = pfp_instances_new(3, 1000);
	assert_non_null(t);
	bool created;
	struct pfp_instance *a = pfp_instances_get(t, "1f2e.5a1.9c.0", 0, &created);
	assert_non_null(a);
	assert_true(created);
	assert_false(a->msg_counted);
	assert_int_equal(a->rcpts, 0);
	a->msg_counted = true;
	a->rcpts = 3;
	/* count once: the same id is the same entry, with what it counted */
	struct pfp_instance *again = pfp_instances_get(t, "1f2e.5a1.9c.0", 10, &created);
	assert_ptr_equal(again, a);
	assert_false(created);
	assert_true(again->msg_counted);
	assert_int_equal(again->rcpts, 3);
	assert_int_equal(pfp_instances_count(t), 1);
	/* no id, or one too long, is not tracked */
	assert_null(pfp_instances_get(t, "", 10, &created));
	char lng[PFP_INSTANCE_MAX + 8];
	memset(lng, 'x', sizeof lng - 1);
	lng[sizeof lng - 1] = '\0';
	assert_null(pfp_instances_get(t, lng, 10, &created));
	/* bounded: a fourth message pushes out the least recently seen (b) */
	struct pfp_instance *b = pfp_instances_get(t, "b", 20, &created);
	b->rcpts = 7;
	assert_non_null(pfp_instances_get(t, "c", 30, &created));
	assert_non_null(pfp_instances_get(t, "1f2e.5a1.9c.0", 40, &created)); /* a seen again */
	assert_false(created);
	assert_non_null(pfp_instances_get(t, "d", 50, &created));
	assert_true(created);
	assert_int_equal(pfp_instances_count(t), 3);
	assert_int_equal(pfp_instances_evicted(t), 1);
	struct pfp_instance *b2 = pfp_instances_get(t, "b", 60, &created);
	assert_true(created); /* b was the one that went */
	assert_int_equal(b2->rcpts, 0);
	assert_int_equal(pfp_instances_evicted(t), 2); /* c made room for it */
	a = pfp_instances_get(t, "1f2e.5a1.9c.0", 70, &created);
	assert_false(created);
	assert_int_equal(a->rcpts, 3);
	/* expiry by time: 1000 ms after its last request an entry is gone, not evicted */
	a = pfp_instances_get(t, "1f2e.5a1.9c.0", 1069, &created);
	assert_false(created);
	assert_non_null(pfp_instances_get(t, "e", 2069, &created));
	assert_true(created);
	assert_int_equal(pfp_instances_count(t), 1);
	assert_int_equal(pfp_instances_evicted(t), 2);
	a = pfp_instances_get(t, "1f2e.5a1.9c.0", 2070, &created);
	assert_true(created);
	assert_int_equal(a->rcpts, 0);
	pfp_instances_free(t);

	/* many: the table holds at most its size and finds each held id */
	t = pfp_instances_new(1000, 3600000);
	assert_non_null(t);
	char id[32];
	for (int i = 0; i < 5000; i++) {
		assert_int_equal(str_format(id, sizeof id, "%x.%x.0", 4000 + i % 7, i), 0);
		struct pfp_instance *x = pfp_instances_get(t, id, i, &created);
		assert_non_null(x);
		assert_true(created);
		x->rcpts = (uint32_t)i;
		assert_true(pfp_instances_count(t) <= 1000);
	}
	for (int i = 4000; i < 5000; i++) {
		assert_int_equal(str_format(id, sizeof id, "%x.%x.0", 4000 + i % 7, i), 0);
		struct pfp_instance *x = pfp_instances_get(t, id, 5000, &created);
		assert_false(created);
		assert_int_equal(x->rcpts, (uint32_t)i);
	}
	assert_int_equal(pfp_instances_evicted(t), 4000);
	pfp_instances_free(t);
	assert_null(pfp_instances_new(0, 1000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_request), cmocka_unit_test(test_split_and_pipelined),
	    cmocka_unit_test(test_errors),       cmocka_unit_test(test_replies),
	    cmocka_unit_test(test_instances),
	};
	return cmocka_run_group_tests_name("pfpolicy", tests, NULL, NULL);
}
