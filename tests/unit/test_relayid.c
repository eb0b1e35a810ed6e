/*
 * Tests for gateway/relayid: identity by sender behind a trusted relay, the
 * one rule of the SMTP gateway and the Postfix policy service.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/addr.h"
#include "gateway/gwconf.h"
#include "gateway/relayid.h"
#include "policy/config.h"
#include "policy/engine.h"
#include "policy/event.h"
#include "policy/store.h"
#include "enginetest.h"

#include <stdlib.h>
#include <string.h>

static struct addr ip(const char *s)
{
	struct addr a;
	assert_int_equal(addr_parse(s, strlen(s), &a), 0);
	return a;
}

static struct prefix_set *set(const char *list)
{
	char err[128];
	struct prefix_set *p = prefix_set_new();
	assert_non_null(p);
	assert_int_equal(prefix_set_add_list(p, list, err, sizeof err), 0);
	return p;
}

static void test_by_sender(void **state)
{
	(void)state;
	struct gw_config *g = calloc(1, sizeof *g);
	assert_non_null(g);
	struct addr a = ip("10.0.0.5"), b = ip("10.0.0.9"), out = ip("192.0.2.1");
	/* no trusted networks: nobody, whatever the switch says */
	assert_false(relayid_by_sender(g, &a, true));
	g->trusted = set("10.0.0.0/24");
	assert_true(relayid_by_sender(g, &a, true));
	assert_false(relayid_by_sender(g, &a, false));  /* per-network form unset */
	assert_false(relayid_by_sender(g, &out, true)); /* untrusted is never believed */
	g->sender_networks = set("10.0.0.5/32, 192.0.2.0/24");
	assert_true(relayid_by_sender(g, &a, false));
	assert_false(relayid_by_sender(g, &b, false));
	assert_false(relayid_by_sender(g, &out, false)); /* in identify_sender, not trusted */
	assert_false(relayid_by_sender(NULL, &a, true));
	assert_false(relayid_by_sender(g, NULL, true));
	prefix_set_free(g->trusted);
	prefix_set_free(g->sender_networks);
	free(g);
}

static void test_domains(void **state)
{
	(void)state;
	struct relay_domains d;
	char err[256];
	assert_int_equal(relayid_domains("Corp.Test, other.test.", "x.conf", &d, err, sizeof err),
	                 0);
	assert_int_equal(d.count, 2);
	assert_true(relay_domains_contains(&d, "corp.test", 9));
	assert_true(relay_domains_contains(&d, "OTHER.TEST", 10));
	assert_int_equal(relayid_domains("", "x.conf", &d, err, sizeof err), 0);
	assert_int_equal(d.count, 0);
	assert_int_equal(relayid_domains("corp.test, a..b", "x.conf", &d, err, sizeof err), -1);
	assert_non_null(strstr(err, "x.conf: [gateway] local_domains: 'a..b'"));
}

static void test_event(void **state)
{
	(void)state;
	char err[256];
	struct relay_domains d;
	assert_int_equal(relayid_domains("corp.test", "x", &d, err, sizeof err), 0);
	struct pol_config *cfg;
	struct store *st;
	struct pol_engine *e = enginetest_new(&cfg, &st);
	struct pol_event ev;

	/* a local sender: its own identity, canonical, below the relay */
	pol_event_init(&ev, POL_EV_MAIL, 0);
	relayid_event(e, &d, "Sam@CORP.Test", false, &ev);
	assert_string_equal(ev.user, "sam@corp.test");
	assert_true(ev.flags & POL_F_RELAYED);
	assert_false(ev.flags & POL_F_FOREIGN_SENDER);

	/* without an engine: lowercased */
	pol_event_init(&ev, POL_EV_MAIL, 0);
	relayid_event(NULL, &d, "Ann@corp.test", false, &ev);
	assert_string_equal(ev.user, "ann@corp.test");

	/* a foreign sender: no user, a signal on the relay */
	pol_event_init(&ev, POL_EV_MAIL, 0);
	relayid_event(e, &d, "x@elsewhere.example", false, &ev);
	assert_string_equal(ev.user, "");
	assert_true(ev.flags & POL_F_RELAYED);
	assert_true(ev.flags & POL_F_FOREIGN_SENDER);

	/* no domain, or no local domains at all: foreign too */
	pol_event_init(&ev, POL_EV_MAIL, 0);
	relayid_event(e, &d, "postmaster", false, &ev);
	assert_true(ev.flags & POL_F_FOREIGN_SENDER);
	pol_event_init(&ev, POL_EV_MAIL, 0);
	relayid_event(e, NULL, "sam@corp.test", false, &ev);
	assert_true(ev.flags & POL_F_FOREIGN_SENDER);

	/* a header's user is believed as it is */
	pol_event_init(&ev, POL_EV_MAIL, 0);
	relayid_event(e, &d, "bob@elsewhere.example", true, &ev);
	assert_string_equal(ev.user, "bob@elsewhere.example");
	assert_false(ev.flags & POL_F_FOREIGN_SENDER);

	/* the null sender: the relay alone */
	pol_event_init(&ev, POL_EV_MAIL, 0);
	relayid_event(e, &d, "", false, &ev);
	assert_string_equal(ev.user, "");
	assert_true(ev.flags & POL_F_RELAYED);
	assert_false(ev.flags & POL_F_FOREIGN_SENDER);

	enginetest_free(e, cfg, st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_by_sender),
	    cmocka_unit_test(test_domains),
	    cmocka_unit_test(test_event),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
