/*
 * Unit tests for src/smtp/relay.c: every relay trick refused for untrusted
 * clients, every accept path, exact reasons and replies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/addr.h"
#include "smtp/address.h"
#include "smtp/relay.h"

#include <stdlib.h>
#include <string.h>

struct fixture {
	struct relay_policy policy;
	struct prefix_set *trusted;
	struct prefix_set *ours;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	if (!f)
		return -1;
	relay_domains_init(&f->policy.domains);
	if (relay_domains_add(&f->policy.domains, "local.example", 13) != 0 ||
	    relay_domains_add(&f->policy.domains, "Other.Example.", 14) != 0)
		return -1;
	f->trusted = prefix_set_new();
	f->ours = prefix_set_new();
	char err[64];
	if (prefix_set_add_list(f->trusted, "10.0.0.0/8, 2001:db8:1::/48", err, sizeof err) != 0 ||
	    prefix_set_add_list(f->ours, "192.0.2.25, 2001:db8:25::25", err, sizeof err) != 0)
		return -1;
	f->policy.trusted_networks = f->trusted;
	f->policy.local_addresses = f->ours;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	prefix_set_free(f->trusted);
	prefix_set_free(f->ours);
	free(f);
	return 0;
}

/* Clients */
enum who { STRANGER, AUTHED, TRUSTED, NO_IP };

static void client_of(enum who w, struct relay_client *c)
{
	memset(c, 0, sizeof *c);
	const char *ip = w == TRUSTED ? "10.1.2.3" : "203.0.113.9";
	if (w != NO_IP) {
		c->has_ip = true;
		assert_int_equal(addr_parse(ip, strlen(ip), &c->ip), 0);
	}
	if (w == AUTHED)
		c->auth_user = "sam";
}

static struct relay_decision decide(void **state, enum who w, const char *path)
{
	struct fixture *f = *state;
	struct smtp_address a;
	assert_int_equal(smtp_address_parse(path, strlen(path), SMTP_ADDRESS_RCPT,
	                                    SMTP_ADDRESS_OPT_SMTPUTF8, &a),
	                 SMTP_ADDRESS_OK);
	struct relay_client c;
	client_of(w, &c);
	struct relay_decision d;
	assert_int_equal(relay_decide(&f->policy, &c, &a, &d), 0);
	return d;
}

#define EXPECT(st_, who_, path_, verdict_, reason_)                                                \
	do {                                                                                       \
		struct relay_decision d_ = decide(st_, who_, path_);                               \
		assert_string_equal(relay_verdict_name(d_.verdict), relay_verdict_name(verdict_)); \
		assert_string_equal(relay_reason_name(d_.reason), relay_reason_name(reason_));     \
	} while (0)

static void test_domains_set(void **state)
{
	struct fixture *f = *state;
	struct relay_domains *d = &f->policy.domains;
	assert_int_equal(d->count, 2);
	assert_string_equal(d->names[1], "other.example");
	assert_true(relay_domains_contains(d, "LOCAL.example.", 14));
	assert_true(relay_domains_contains(d, "other.example", 13));
	assert_false(relay_domains_contains(d, "local.example..", 15));
	assert_false(relay_domains_contains(d, "sub.local.example", 17));
	assert_false(relay_domains_contains(d, "local.example.evil", 18));
	assert_false(relay_domains_contains(d, "ocal.example", 12));
	assert_false(relay_domains_contains(d, "", 0));
	assert_int_equal(relay_domains_add(d, "local.example", 13), 0); /* no duplicate */
	assert_int_equal(d->count, 2);
	assert_int_equal(relay_domains_add(d, "bad domain", 10), -1);
	assert_int_equal(relay_domains_add(d, "[192.0.2.1]", 11), -1);
	assert_int_equal(relay_domains_add(d, "", 0), -1);
	assert_int_equal(relay_domains_add(d, ".", 1), -1);
	assert_int_equal(relay_domains_add(NULL, "x", 1), -1);
	struct relay_domains full;
	relay_domains_init(&full);
	char name[32];
	for (int i = 0; i < RELAY_DOMAINS_MAX; i++) {
		int n = 0;
		name[n++] = 'd';
		name[n++] = (char)('a' + i / 26);
		name[n++] = (char)('a' + i % 26);
		name[n] = '\0';
		assert_int_equal(relay_domains_add(&full, name, (size_t)n), 0);
	}
	assert_int_equal(relay_domains_add(&full, "one-more", 8), -1);
}

static void test_accept_local(void **state)
{
	EXPECT(state, STRANGER, "<user@local.example>", RELAY_ACCEPT_LOCAL,
	       RELAY_REASON_LOCAL_DOMAIN);
	EXPECT(state, STRANGER, "<user@LOCAL.Example.>", RELAY_ACCEPT_LOCAL,
	       RELAY_REASON_LOCAL_DOMAIN);
	EXPECT(state, STRANGER, "<user@other.example>", RELAY_ACCEPT_LOCAL,
	       RELAY_REASON_LOCAL_DOMAIN);
	EXPECT(state, STRANGER, "<\"john doe\"@local.example>", RELAY_ACCEPT_LOCAL,
	       RELAY_REASON_LOCAL_DOMAIN);
	EXPECT(state, STRANGER, "<user@[192.0.2.25]>", RELAY_ACCEPT_LOCAL,
	       RELAY_REASON_LOCAL_LITERAL);
	EXPECT(state, STRANGER, "<user@[IPv6:2001:db8:25::25]>", RELAY_ACCEPT_LOCAL,
	       RELAY_REASON_LOCAL_LITERAL);
	EXPECT(state, STRANGER, "<postmaster>", RELAY_ACCEPT_LOCAL, RELAY_REASON_POSTMASTER);
	EXPECT(state, NO_IP, "<user@local.example>", RELAY_ACCEPT_LOCAL, RELAY_REASON_LOCAL_DOMAIN);
	EXPECT(state, AUTHED, "<user@local.example>", RELAY_ACCEPT_LOCAL,
	       RELAY_REASON_LOCAL_DOMAIN);
	struct relay_decision d = decide(state, STRANGER, "<user@local.example>");
	assert_string_equal(d.reply, "250 2.1.5 Ok");
}

static void test_accept_relay(void **state)
{
	EXPECT(state, AUTHED, "<user@foreign.example>", RELAY_ACCEPT_RELAY,
	       RELAY_REASON_AUTHENTICATED);
	EXPECT(state, TRUSTED, "<user@foreign.example>", RELAY_ACCEPT_RELAY,
	       RELAY_REASON_TRUSTED_NETWORK);
	EXPECT(state, AUTHED, "<user@[198.51.100.1]>", RELAY_ACCEPT_RELAY,
	       RELAY_REASON_AUTHENTICATED);
	/* trusted clients may use routing (allow_untrusted_routing is about others) */
	EXPECT(state, TRUSTED, "<user%foreign.example@local.example>", RELAY_ACCEPT_LOCAL,
	       RELAY_REASON_LOCAL_DOMAIN);
	EXPECT(state, AUTHED, "<@hop.example:user@foreign.example>", RELAY_ACCEPT_RELAY,
	       RELAY_REASON_AUTHENTICATED);
	/* IPv6 trusted network */
	struct fixture *f = *state;
	struct smtp_address a;
	assert_int_equal(smtp_address_parse("<u@far.example>", 15, SMTP_ADDRESS_RCPT, 0, &a), 0);
	struct relay_client c = {.has_ip = true};
	assert_int_equal(addr_parse("2001:db8:1::9", 13, &c.ip), 0);
	struct relay_decision d;
	assert_int_equal(relay_decide(&f->policy, &c, &a, &d), 0);
	assert_int_equal(d.verdict, RELAY_ACCEPT_RELAY);
	assert_int_equal(d.reason, RELAY_REASON_TRUSTED_NETWORK);
	/* an empty user name is not an authentication */
	c.auth_user = "";
	assert_int_equal(addr_parse("203.0.113.1", 11, &c.ip), 0);
	assert_int_equal(relay_decide(&f->policy, &c, &a, &d), 0);
	assert_int_equal(d.verdict, RELAY_REJECT);
}

static void test_reject_foreign(void **state)
{
	struct relay_decision d = decide(state, STRANGER, "<relaytest@foreign.example>");
	assert_int_equal(d.verdict, RELAY_REJECT);
	assert_int_equal(d.reason, RELAY_REASON_DENIED);
	assert_string_equal(d.reply, "554 5.7.1 <relaytest@foreign.example>: Relay access denied");
	EXPECT(state, NO_IP, "<relaytest@foreign.example>", RELAY_REJECT, RELAY_REASON_DENIED);
	/* case and trailing-dot games do not make a foreign domain local */
	EXPECT(state, STRANGER, "<u@FOREIGN.EXAMPLE.>", RELAY_REJECT, RELAY_REASON_DENIED);
	EXPECT(state, STRANGER, "<u@local.example.evil>", RELAY_REJECT, RELAY_REASON_DENIED);
	EXPECT(state, STRANGER, "<u@sub.local.example>", RELAY_REJECT, RELAY_REASON_DENIED);
	EXPECT(state, STRANGER, "<u@xlocal.example>", RELAY_REJECT, RELAY_REASON_DENIED);
}

static void test_reject_tricks(void **state)
{
	/* percent hack, at a local domain and elsewhere */
	EXPECT(state, STRANGER, "<user%foreign.example@local.example>", RELAY_REJECT,
	       RELAY_REASON_PERCENT_HACK);
	EXPECT(state, STRANGER, "<user%foreign.example@[192.0.2.25]>", RELAY_REJECT,
	       RELAY_REASON_PERCENT_HACK);
	EXPECT(state, STRANGER, "<user%local.example@local.example>", RELAY_REJECT,
	       RELAY_REASON_PERCENT_HACK);
	/* bang path */
	EXPECT(state, STRANGER, "<foreign.example!user@local.example>", RELAY_REJECT,
	       RELAY_REASON_BANG_PATH);
	EXPECT(state, STRANGER, "<foreign.example!user@[192.0.2.25]>", RELAY_REJECT,
	       RELAY_REASON_BANG_PATH);
	/* quoted local part hiding routing */
	EXPECT(state, STRANGER, "<\"user@foreign.example\"@local.example>", RELAY_REJECT,
	       RELAY_REASON_QUOTED_ROUTING);
	EXPECT(state, STRANGER, "<\"user%foreign.example\"@local.example>", RELAY_REJECT,
	       RELAY_REASON_PERCENT_HACK);
	EXPECT(state, STRANGER, "<\"foreign.example!user\"@local.example>", RELAY_REJECT,
	       RELAY_REASON_BANG_PATH);
	EXPECT(state, STRANGER, "<\"user\\@foreign.example\"@local.example>", RELAY_REJECT,
	       RELAY_REASON_QUOTED_ROUTING);
	/* source routes, both directions */
	EXPECT(state, STRANGER, "<@local.example:user@foreign.example>", RELAY_REJECT,
	       RELAY_REASON_SOURCE_ROUTE);
	EXPECT(state, STRANGER, "<@foreign.example:user@local.example>", RELAY_REJECT,
	       RELAY_REASON_SOURCE_ROUTE);
	EXPECT(state, STRANGER, "<@[192.0.2.25],@local.example:user@foreign.example>", RELAY_REJECT,
	       RELAY_REASON_SOURCE_ROUTE);
	/* IP literal of a foreign host */
	EXPECT(state, STRANGER, "<user@[198.51.100.1]>", RELAY_REJECT,
	       RELAY_REASON_FOREIGN_LITERAL);
	EXPECT(state, STRANGER, "<user@[IPv6:2001:db8::1]>", RELAY_REJECT,
	       RELAY_REASON_FOREIGN_LITERAL);
	/* numeric domain without brackets, for everyone */
	EXPECT(state, STRANGER, "<user@192.0.2.25>", RELAY_REJECT, RELAY_REASON_NUMERIC_DOMAIN);
	EXPECT(state, AUTHED, "<user@198.51.100.1>", RELAY_REJECT, RELAY_REASON_NUMERIC_DOMAIN);
	EXPECT(state, TRUSTED, "<user@host.123>", RELAY_REJECT, RELAY_REASON_NUMERIC_DOMAIN);

	struct relay_decision d =
	    decide(state, STRANGER, "<\"relaytest@foreign.example\"@local.example>");
	assert_string_equal(d.reply, "554 5.7.1 <\"relaytest@foreign.example\"@local.example>: "
	                             "Relay access denied: sender-specified routing ('@' in "
	                             "quoted local part)");
	d = decide(state, STRANGER, "<relaytest%foreign.example@local.example>");
	assert_string_equal(d.reply, "554 5.7.1 <relaytest%foreign.example@local.example>: Relay "
	                             "access denied: sender-specified routing ('%' in local part)");
	d = decide(state, STRANGER, "<@local.example:relaytest@foreign.example>");
	assert_string_equal(d.reply, "554 5.7.1 <relaytest@foreign.example>: Relay access "
	                             "denied: source route");
	d = decide(state, STRANGER, "<user@[198.51.100.1]>");
	assert_string_equal(d.reply, "554 5.7.1 <user@[198.51.100.1]>: Relay access denied: "
	                             "address literal is not ours");
}

static void test_reject_unusable(void **state)
{
	struct fixture *f = *state;
	struct relay_client c;
	client_of(AUTHED, &c);
	struct relay_decision d;
	struct smtp_address a;
	/* hand-built structs: the decision must not trust the parser alone */
	memset(&a, 0, sizeof a);
	a.flags = SMTP_ADDRESS_F_NULL;
	assert_int_equal(relay_decide(&f->policy, &c, &a, &d), 0);
	assert_int_equal(d.reason, RELAY_REASON_NULL_RECIPIENT);
	assert_string_equal(d.reply, "501 5.1.3 <>: Null recipient address not allowed");
	memset(&a, 0, sizeof a);
	memcpy(a.local, "user", 5);
	memcpy(a.local_raw, "user", 5);
	assert_int_equal(relay_decide(&f->policy, &c, &a, &d), 0);
	assert_int_equal(d.reason, RELAY_REASON_EMPTY_DOMAIN);
	memcpy(a.domain, "...", 4);
	assert_int_equal(relay_decide(&f->policy, &c, &a, &d), 0);
	assert_int_equal(d.reason, RELAY_REASON_EMPTY_DOMAIN);
	memcpy(a.domain, "local.example..", 16);
	client_of(STRANGER, &c);
	assert_int_equal(relay_decide(&f->policy, &c, &a, &d), 0);
	assert_int_equal(d.verdict, RELAY_ACCEPT_LOCAL);
	memset(&a, 0, sizeof a);
	a.flags = SMTP_ADDRESS_F_NO_DOMAIN;
	memcpy(a.local, "relaytest", 10);
	assert_int_equal(relay_decide(&f->policy, &c, &a, &d), 0);
	assert_int_equal(d.reason, RELAY_REASON_UNQUALIFIED);
	/* routing characters in a hand-built unquoted local part */
	memset(&a, 0, sizeof a);
	memcpy(a.local, "u@foreign.example", 18);
	memcpy(a.domain, "local.example", 14);
	assert_int_equal(relay_decide(&f->policy, &c, &a, &d), 0);
	assert_int_equal(d.reason, RELAY_REASON_QUOTED_ROUTING);
	/* a literal flag without a valid address is not ours */
	memset(&a, 0, sizeof a);
	a.flags = SMTP_ADDRESS_F_LITERAL;
	memcpy(a.local, "u", 2);
	memcpy(a.domain, "[x]", 4);
	assert_int_equal(relay_decide(&f->policy, &c, &a, &d), 0);
	assert_int_equal(d.reason, RELAY_REASON_FOREIGN_LITERAL);
	/* NULL arguments fail closed */
	assert_int_equal(relay_decide(NULL, &c, &a, &d), -1);
	assert_int_equal(d.verdict, RELAY_REJECT);
	assert_int_equal(relay_decide(&f->policy, NULL, &a, &d), -1);
	assert_int_equal(d.verdict, RELAY_REJECT);
	assert_int_equal(relay_decide(&f->policy, &c, NULL, &d), -1);
	assert_int_equal(d.verdict, RELAY_REJECT);
	assert_int_equal(relay_decide(&f->policy, &c, &a, NULL), -1);
}

static void test_no_trusted_sets(void **state)
{
	struct relay_policy p;
	memset(&p, 0, sizeof p);
	relay_domains_init(&p.domains);
	assert_int_equal(relay_domains_add(&p.domains, "local.example", 13), 0);
	struct relay_client c;
	client_of(TRUSTED, &c);
	struct smtp_address a;
	assert_int_equal(smtp_address_parse("<u@[192.0.2.25]>", 16, SMTP_ADDRESS_RCPT, 0, &a), 0);
	struct relay_decision d;
	assert_int_equal(relay_decide(&p, &c, &a, &d), 0);
	assert_int_equal(d.reason, RELAY_REASON_FOREIGN_LITERAL);
	assert_int_equal(smtp_address_parse("<u@far.example>", 15, SMTP_ADDRESS_RCPT, 0, &a), 0);
	assert_int_equal(relay_decide(&p, &c, &a, &d), 0);
	assert_int_equal(d.reason, RELAY_REASON_DENIED);
	for (int r = 0; r <= RELAY_REASON_NUMERIC_DOMAIN; r++)
		assert_string_not_equal(relay_reason_name((enum relay_reason)r), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_domains_set, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_accept_local, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_accept_relay, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reject_foreign, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reject_tricks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reject_unusable, setup, teardown),
	    cmocka_unit_test(test_no_trusted_sets),
	};
	return cmocka_run_group_tests_name("relay", tests, NULL, NULL);
}
