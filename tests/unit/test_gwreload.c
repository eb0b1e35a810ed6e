/*
 * Unit tests for gateway/gwconf's reload merge and gateway/gwreload: what a
 * reload may change comes from the new file, what needs a restart keeps its
 * running value and is named, and a file that does not load changes nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/str.h"
#include "gateway/gwconf.h"
#include "gateway/gwreload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char conf_path[64];

static void write_conf(const char *text)
{
	FILE *f = fopen(conf_path, "we");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
	assert_int_equal(str_copy(conf_path, sizeof conf_path, "/tmp/rg-test-reload-XXXXXX"), 0);
	int fd = mkstemp(conf_path);
	assert_true(fd >= 0);
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	unlink(conf_path);
	return 0;
}

#define BASE                                                                                       \
	"[gateway]\nstate_dir = /tmp/rg-a\nmax_recipients = 5\nlocal_domains = a.test\n"           \
	"trusted_networks = 10.0.0.0/8\n[listener relay]\nlisten = 127.0.0.1:2525\n"               \
	"role = relay\n[limits]\nmsg_hour = 100\n"

static void test_merge_keeps_what_needs_a_restart(void **state)
{
	static struct gw_config live, fresh;
	char err[512], restart[1024];
	write_conf(BASE);
	assert_int_equal(gwconf_load(&live, conf_path, err, sizeof err), 0);
	/* the same file: nothing to restart */
	assert_int_equal(gwconf_load(&fresh, conf_path, err, sizeof err), 0);
	gwconf_reload_merge(&live, &fresh, restart, sizeof restart);
	assert_string_equal(restart, "");
	gwconf_free(&fresh);
	write_conf("[gateway]\nstate_dir = /tmp/rg-b\nmax_recipients = 2\nlocal_domains = b.test\n"
	           "trusted_networks = 10.0.0.0/8\nmax_connections = 7\n[listener relay]\n"
	           "listen = 127.0.0.1:2526\nrole = relay\n[limits]\nmsg_hour = 3\n"
	           "[delivery]\nrelayhost = [192.0.2.1]:25\n");
	assert_int_equal(gwconf_load(&fresh, conf_path, err, sizeof err), 0);
	gwconf_reload_merge(&live, &fresh, restart, sizeof restart);
	assert_string_equal(restart, "[gateway] state_dir, [gateway] max_connections, [delivery] "
	                             "relayhost, [listener ...] (addresses, roles, tls)");
	/* kept */
	assert_string_equal(fresh.state_dir, "/tmp/rg-a");
	assert_string_equal(fresh.spool_dir, "/tmp/rg-a/spool");
	assert_string_equal(fresh.users_file, "/tmp/rg-a/users"); /* not moved with state_dir */
	assert_int_equal(fresh.max_connections, live.max_connections);
	assert_string_equal(fresh.listeners[0].addrs[0].text, "127.0.0.1:2525");
	assert_false(fresh.delivery.relay.set);
	/* taken */
	assert_int_equal(fresh.max_recipients, 2);
	assert_string_equal(fresh.local_domains, "b.test");
	assert_int_equal(fresh.policy.limits.max[POL_LIM_MSG_HOUR], 3);
	gwconf_free(&fresh);
	gwconf_free(&live);
}

/* [screen] is read again (the smtpd builds a new screen from it); only its
 * resolver waits for a restart. */
static void test_merge_takes_the_screen(void **state)
{
	static struct gw_config live, fresh;
	char err[512], restart[1024];
	write_conf(BASE "[screen]\ndnsbl_sites = bl.test*1\nresolver = 127.0.0.1:53\n");
	assert_int_equal(gwconf_load(&live, conf_path, err, sizeof err), 0);
	write_conf(BASE "[screen]\ndnsbl_sites = bl.test*2\ndnsbl_threshold = 2\n"
	                "catalogue = /tmp/rg-cat.conf\nresolver = 127.0.0.2:53\n");
	assert_int_equal(gwconf_load(&fresh, conf_path, err, sizeof err), 0);
	gwconf_reload_merge(&live, &fresh, restart, sizeof restart);
	assert_string_equal(restart, "[screen] resolver");
	assert_string_equal(fresh.screen_dnsbl_sites, "bl.test*2");
	assert_int_equal(fresh.screen_dnsbl_threshold, 2);
	assert_string_equal(fresh.screen_catalogue, "/tmp/rg-cat.conf");
	assert_string_equal(fresh.screen_resolver, "127.0.0.1:53");
	gwconf_free(&fresh);
	gwconf_free(&live);
}

static void test_apply_refuses_a_broken_file(void **state)
{
	static struct gw_config live;
	char err[512], restart[1024];
	write_conf(BASE);
	assert_int_equal(gwconf_load(&live, conf_path, err, sizeof err), 0);
	struct gwreload r = {.path = conf_path, .live = &live, .smtpd = NULL};
	write_conf(BASE "[gateway]\nmax_recipients = many\n");
	assert_int_equal(gwreload_apply(&r, restart, sizeof restart, err, sizeof err), -1);
	assert_non_null(strstr(err, "max_recipients"));
	assert_int_equal(live.max_recipients, 5);
	write_conf("[gateway]\nstate_dir = /tmp/rg-a\nmax_recipients = 9\nlocal_domains = a.test\n"
	           "trusted_networks = 192.0.2.0/24\n[listener relay]\nlisten = 127.0.0.1:2525\n"
	           "role = relay\n[limits]\nmsg_hour = 100\n");
	assert_int_equal(gwreload_apply(&r, restart, sizeof restart, err, sizeof err), 0);
	assert_string_equal(restart, "");
	assert_int_equal(live.max_recipients, 9);
	assert_string_equal(live.trusted_networks, "192.0.2.0/24");
	assert_non_null(live.trusted);
	gwconf_free(&live);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_merge_keeps_what_needs_a_restart),
	    cmocka_unit_test(test_merge_takes_the_screen),
	    cmocka_unit_test(test_apply_refuses_a_broken_file),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
