/*
 * relayguard - keeps an organisation's mail server off DNS blocklists.
 *
 * One binary with subcommands, like git. This file only dispatches; each
 * subcommand lives in its own src/cli/cli_NAME.c.
 */
#include "cli/cli.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/version.h"

#include <signal.h>
#include <string.h>

static int cli_version(int argc, char **argv);

struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct cli_command cli_commands[] = {
    {"check", cli_check, "which DNS blocklists list these IPs, ranges or domains"},
    {"score", cli_score, "the inbound listener's weighted DNSBL decision for client IPs"},
    {"monitor", cli_monitor, "check on a schedule and alert when a listing changes"},
    {"trace", cli_trace, "find where a message really came from (Received headers)"},
    {"bounce", cli_bounce, "which blocklist bounced our mail (bounces, mbox, Maildir)"},
    {"logscan", cli_logscan, "who abused the server: suspects from mail and firewall logs"},
    {"replay", cli_replay, "what the policy would have decided on these logs"},
    {"firewall", cli_firewall, "print an nftables rule set: only mail servers send SMTP out"},
    {"relaytest", cli_relaytest, "try every relay trick against an SMTP server"},
    {"serve", cli_serve, "run the gateway: Postfix policy service, admin web page, /metrics"},
    {"checkconf", cli_checkconf, "check the gateway configuration"},
    {"status", cli_status, "queue, holds, blocks and limits in force (as GET /api/status)"},
    {"block", cli_block, "list, show, add and lift blocks (held senders)"},
    {"unblock", cli_unblock, "resume sending: lift a block and reset its counters"},
    {"resume", cli_resume, "unblock a sender, re-authorise a trusted relay or lift a range"},
    {"hold", cli_hold, "list, show, release and delete held messages"},
    {"user", cli_user, "add, change, remove and list accounts (argon2id, strength policy)"},
    {"store", cli_store, "check and repair the policy state store (blocks, audit trail)"},
    {"dkim", cli_dkim, "make a DKIM signing key and its DNS TXT record"},
    /* the control API (cli_queue.c) */
    {"queue", cli_queue, "list, flush, delete, hold and release queued mail (like mailq)"},
    {"control", cli_control, "send one control API request to the running server"},
    {"reload", cli_reload, "make the running server read its configuration again (as SIGHUP)"},
    {"version", cli_version, "print the version"},
};

static int cli_version(int argc, char **argv)
{
	printf("relayguard %s\n", rg_version());
	return CLI_EXIT_OK;
}

static void main_usage(FILE *out)
{
	fprintf(out, "usage: relayguard COMMAND [OPTIONS] [ARGS]\n\n"
		     "Keeps a mail server off DNS blocklists and gets it off them fast.\n\n"
		     "Commands:\n");
	for (size_t i = 0; i < sizeof cli_commands / sizeof cli_commands[0]; i++)
		fprintf(out, "  %-10s %s\n", cli_commands[i].name, cli_commands[i].summary);
	fprintf(out, "\nrelayguard COMMAND --help shows the options of one command.\n"
		     "relayguard --version prints the version.\n");
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	log_open("relayguard", true, false, LOG_LEVEL_WARN);
	clock_update();
	if (argc < 2) {
		main_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		main_usage(stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(cmd, "--version") == 0)
		return cli_version(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof cli_commands / sizeof cli_commands[0]; i++)
		if (strcmp(cmd, cli_commands[i].name) == 0)
			return cli_commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "relayguard: unknown command '%s'\n\n", cmd);
	main_usage(stderr);
	return CLI_EXIT_USAGE;
}
