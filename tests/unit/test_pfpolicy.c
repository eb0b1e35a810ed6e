/*
 * Unit tests for src/smtp/pfpolicy: the Postfix policy delegation protocol.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_request),
	    cmocka_unit_test(test_split_and_pipelined),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_replies),
	};
	return cmocka_run_group_tests_name("pfpolicy", tests, NULL, NULL);
}
