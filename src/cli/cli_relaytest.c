/*
 * cli_relaytest - `relayguard relaytest`: try every relay trick against an
 * SMTP server and report each (CLI.md "relaytest and firewall").
 *
 * The probing itself is smtp/relaytest.c; this file parses options and prints
 * the table or the JSON document. Exit: 0 no relay, 1 open relay found,
 * 2 usage or connection error, 3 incomplete (the session failed part way and
 * nothing relayed so far).
 */
#include "cli/cli.h"

#include "core/log.h"
#include "core/str.h"
#include "smtp/relaytest.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char cli_relaytest_help[] =
    "NAME\n"
    "    relayguard relaytest - test an SMTP server for open relaying\n"
    "\n"
    "SYNOPSIS\n"
    "    relayguard relaytest [--json] [--timeout MS] [--helo NAME]\n"
    "                         [--from-domain D] [--to-domain D] HOST[:PORT]\n"
    "\n"
    "DESCRIPTION\n"
    "    Connects to HOST (port 25 unless given; IPv6 as [2001:db8::1]:25), says\n"
    "    EHLO (HELO if EHLO is refused) and runs a battery of relay tests: the 16\n"
    "    MAIL FROM / RCPT TO combinations of nmap's smtp-open-relay script, then\n"
    "    percent hack, bang path, quoted local part and source route variants at\n"
    "    the server's own name, foreign IPv4 and IPv6 address literals, a\n"
    "    trailing-dot and an upper-case domain, and forged local senders. Each\n"
    "    test is RSET, MAIL FROM and, if MAIL is accepted, RCPT TO. A test counts\n"
    "    as RELAYED when RCPT TO gets a 2xx reply for the foreign recipient.\n"
    "    DATA is never sent: no mail is ever delivered by this probe.\n"
    "\n"
    "    The server name used in the tests comes from the 220 greeting, else the\n"
    "    EHLO reply, else HOST. If the server drops the connection or answers 421\n"
    "    during a test, relaytest reconnects once and repeats that test.\n"
    "\n"
    "    Run it from outside the server's trusted networks and without\n"
    "    authentication: that is the view of a spammer. A server that accepts\n"
    "    relaying from your own address may still be correct for you.\n"
    "\n"
    "OPTIONS\n"
    "    --json           print one JSON document (see below) instead of a table\n"
    "    --timeout MS     connect and per-reply timeout in milliseconds\n"
    "                     (default 10000, 100..600000)\n"
    "    --helo NAME      name to send in EHLO/HELO (default: this host's name)\n"
    "    --from-domain D  sender domain for the tests (default example.org)\n"
    "    --to-domain D    foreign recipient domain (default example.com); use a\n"
    "                     domain the server is certainly not responsible for\n"
    "    -h, --help       show this text\n"
    "\n"
    "JSON\n"
    "    {\"target\": \"HOST:PORT\", \"server_name\": \"...\", \"peer\": \"...\",\n"
    "     \"tests\": [{\"name\", \"trick\", \"mail_from\", \"rcpt_to\", \"commands\": [...],\n"
    "                \"mail_reply\", \"rcpt_reply\", \"reply\", \"relayed\": bool}],\n"
    "     \"summary\": {\"tests\": N, \"relayed\": N, \"total\": N, \"complete\": bool},\n"
    "     \"error\": \"...\" (only when incomplete)}\n"
    "\n"
    "EXIT STATUS\n"
    "    0  every test ran and none relayed\n"
    "    1  at least one test relayed: the server is an open relay\n"
    "    2  usage error, or the server could not be resolved or connected to\n"
    "    3  incomplete: the session failed before every test ran, none relayed\n"
    "\n"
    "EXAMPLES\n"
    "    relayguard relaytest mail.example.net\n"
    "    relayguard relaytest --json --to-domain example.com [2001:db8::25]:25\n";

static void cli_relaytest_usage(FILE *out)
{
	cli_usage(out, cli_relaytest_help);
}

/* The reply that decided a test: RCPT's if it was sent, else MAIL's. */
static const struct relaytest_reply *cli_relaytest_reply(const struct relaytest_result *t)
{
	return t->rcpt_sent ? &t->rcpt_reply : &t->mail_reply;
}

static json_t *cli_relaytest_json(const char *target, const struct relaytest_report *r,
                                  enum relaytest_status st)
{
	json_t *doc = json_object();
	json_t *tests = json_array();
	if (!doc || !tests) {
		json_decref(doc);
		json_decref(tests);
		return NULL;
	}
	json_object_set_new(doc, "target", json_string(target));
	json_object_set_new(doc, "server_name", json_string(r->server_name));
	json_object_set_new(doc, "peer", json_string(r->peer));
	json_object_set_new(doc, "banner", json_string(r->banner));
	for (size_t i = 0; i < r->ntests; i++) {
		const struct relaytest_result *t = &r->tests[i];
		if (!t->ran)
			continue;
		json_t *o = json_object();
		json_t *cmds = json_array();
		char line[RELAYTEST_PATH_MAX + 16];
		json_array_append_new(cmds, json_string("RSET"));
		if (str_format(line, sizeof line, "MAIL FROM:%s", t->mail_from) != 0)
			panic("cli_relaytest_json: line does not fit");
		json_array_append_new(cmds, json_string(line));
		if (t->rcpt_sent) {
			if (str_format(line, sizeof line, "RCPT TO:%s", t->rcpt_to) != 0)
				panic("cli_relaytest_json: line does not fit");
			json_array_append_new(cmds, json_string(line));
		}
		json_object_set_new(o, "name", json_string(t->name));
		json_object_set_new(o, "trick", json_string(t->trick));
		json_object_set_new(o, "mail_from", json_string(t->mail_from));
		json_object_set_new(o, "rcpt_to", json_string(t->rcpt_to));
		json_object_set_new(o, "commands", cmds);
		json_object_set_new(o, "mail_reply", json_string(t->mail_reply.text));
		json_object_set_new(o, "rcpt_reply",
		                    t->rcpt_sent ? json_string(t->rcpt_reply.text) : json_null());
		json_object_set_new(o, "reply", json_string(cli_relaytest_reply(t)->text));
		json_object_set_new(o, "relayed", json_boolean(t->relayed));
		json_array_append_new(tests, o);
	}
	json_object_set_new(doc, "tests", tests);
	json_t *sum = json_object();
	json_object_set_new(sum, "tests", json_integer((json_int_t)r->ran));
	json_object_set_new(sum, "relayed", json_integer((json_int_t)r->relayed));
	json_object_set_new(sum, "total", json_integer((json_int_t)r->ntests));
	json_object_set_new(sum, "complete", json_boolean(st == RELAYTEST_DONE));
	json_object_set_new(doc, "summary", sum);
	if (st != RELAYTEST_DONE)
		json_object_set_new(doc, "error", json_string(r->error));
	return doc;
}

static void cli_relaytest_table(const char *target, const struct relaytest_report *r)
{
	printf("relaytest %s (peer %s, server name %s)\n", target, r->peer, r->server_name);
	if (r->banner[0])
		printf("greeting: %s\n", r->banner);
	printf("\n%-3s %-21s %-28s %-44s %-5s %s\n", "#", "TEST", "MAIL FROM", "RCPT TO", "REPLY",
	       "VERDICT");
	for (size_t i = 0; i < r->ntests; i++) {
		const struct relaytest_result *t = &r->tests[i];
		if (!t->ran)
			continue;
		printf("%-3zu %-21s %-28s %-44s %-5d %s\n", i + 1, t->name, t->mail_from,
		       t->rcpt_to, cli_relaytest_reply(t)->code,
		       t->relayed ? "RELAYED" : "refused");
	}
	printf("\n");
	for (size_t i = 0; i < r->ntests; i++) {
		const struct relaytest_result *t = &r->tests[i];
		if (t->ran && t->relayed)
			printf("relayed: %s (%s): %s\n", t->name, t->trick, t->rcpt_reply.text);
	}
	if (r->relayed > 0)
		printf("OPEN RELAY: %zu/%zu tests relayed\n", r->relayed, r->ran);
	else if (r->ran == r->ntests)
		printf("not an open relay: 0/%zu tests relayed\n", r->ran);
	else
		printf("incomplete: %zu/%zu tests ran, none relayed\n", r->ran, r->ntests);
}

int cli_relaytest(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"timeout", required_argument, NULL, 't'},
	    {"helo", required_argument, NULL, 'H'},
	    {"from-domain", required_argument, NULL, 'f'},
	    {"to-domain", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *cmd = "relaytest";
	bool json = false;
	uint64_t timeout = 10000;
	char hostname[256] = "relaytest.example";
	const char *helo = NULL, *from = "example.org", *to = "example.com";
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 't':
			if (str_to_u64(optarg, strlen(optarg), 100, 600000, &timeout) != 0) {
				cli_error(cmd,
				          "--timeout wants milliseconds in 100..600000, not '%s'",
				          optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'H':
			helo = optarg;
			break;
		case 'f':
			from = optarg;
			break;
		case 'd':
			to = optarg;
			break;
		case 'h':
			cli_relaytest_usage(stdout);
			return CLI_EXIT_OK;
		default:
			cli_error(cmd, "unknown option or missing value: %s", argv[optind - 1]);
			cli_relaytest_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		cli_error(cmd, "expected one target HOST[:PORT]");
		cli_relaytest_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (!helo) {
		char h[256];
		if (gethostname(h, sizeof h) == 0 && (h[sizeof h - 1] = '\0', relaytest_name_ok(h)))
			if (str_copy(hostname, sizeof hostname, h) != 0)
				panic("cli_relaytest: hostname does not fit");
		helo = hostname;
	}
	if (!relaytest_name_ok(helo)) {
		cli_error(cmd, "--helo: not a host name or address literal: '%s'", helo);
		return CLI_EXIT_USAGE;
	}
	if (!relaytest_name_ok(from) || from[0] == '[') {
		cli_error(cmd, "--from-domain: not a domain name: '%s'", from);
		return CLI_EXIT_USAGE;
	}
	if (!relaytest_name_ok(to) || to[0] == '[') {
		cli_error(cmd, "--to-domain: not a domain name: '%s'", to);
		return CLI_EXIT_USAGE;
	}
	const char *target = argv[optind];
	char host[256], port[8];
	if (relaytest_target_parse(target, "25", host, sizeof host, port, sizeof port) != 0) {
		cli_error(cmd, "bad target '%s' (want HOST, HOST:PORT or [IPv6]:PORT)", target);
		return CLI_EXIT_USAGE;
	}
	struct relaytest_options o = {
	    .host = host,
	    .port = port,
	    .timeout_ms = (int)timeout,
	    .helo = helo,
	    .from_domain = from,
	    .to_domain = to,
	};
	struct relaytest_report *r = xcalloc(1, sizeof *r);
	enum relaytest_status st = relaytest_run(&o, r);
	int rc;
	if (st == RELAYTEST_CONNECT_FAILED) {
		cli_error(cmd, "%s", r->error);
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	char shown[300];
	if (str_format(shown, sizeof shown, "%s%s%s:%s", strchr(host, ':') ? "[" : "", host,
	               strchr(host, ':') ? "]" : "", port) != 0)
		str_copy_trunc(shown, sizeof shown, target);
	if (json) {
		if (cli_print_json(cli_relaytest_json(shown, r, st)) != 0)
			cli_error(cmd, "cannot write the JSON output");
	} else {
		cli_relaytest_table(shown, r);
	}
	if (st != RELAYTEST_DONE)
		cli_error(cmd, "incomplete: %s", r->error[0] ? r->error : "session failed");
	if (r->relayed > 0)
		rc = CLI_EXIT_FOUND;
	else if (st != RELAYTEST_DONE)
		rc = CLI_EXIT_INCOMPLETE;
	else
		rc = CLI_EXIT_OK;
out:
	free(r);
	return rc;
}
