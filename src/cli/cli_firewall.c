/*
 * cli_firewall - "relayguard firewall": prints the nftables rule set that lets
 * only the mail servers send SMTP out (forensics/firewall.c builds it).
 */
#include "cli/cli.h"

#include "core/buf.h"
#include "core/str.h"
#include "forensics/firewall.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CLI_FIREWALL_OUT_MAX (1024 * 1024)

static const char cli_firewall_help[] =
    "usage: relayguard firewall --mail-servers CIDR,... [--lan CIDR,...] [--ports P,...]\n"
    "                           [--log-prefix P] [--mailserver-log-prefix P]\n"
    "                           [--log-rate N] [--json]\n"
    "\n"
    "Prints an nftables rule set that lets only the mail servers reach TCP ports\n"
    "25, 465 and 587 outside. Everyone else is logged and dropped: an infected\n"
    "desktop that sends spam straight to the Internet gets the organisation onto\n"
    "blocklists without leaving a trace in the mail server's log. New outbound\n"
    "SMTP connections of the mail servers themselves are logged too (and let\n"
    "through), in case a mail server is the hijacked machine.\n"
    "\n"
    "The rules live in their own table, inet " FIREWALL_TABLE ", with a forward\n"
    "hook (this machine is the router between LAN and Internet) and an output\n"
    "hook (processes on this machine). IPv4 and IPv6 are both covered. Traffic TO a\n"
    "mail server (submission from the LAN, inbound MX) and loopback traffic pass.\n"
    "Log lines are rate-limited so a bot cannot flood the log; use the rule\n"
    "counters (nft list table ...) for exact numbers.\n"
    "\n"
    "Options:\n"
    "  --mail-servers CIDR,...  addresses or networks allowed to send SMTP out\n"
    "                           (required; IPv4 and IPv6; commas or spaces)\n"
    "  --lan CIDR,...           in forwarded traffic, hold back only these source\n"
    "                           networks (default: all sources). A family with no\n"
    "                           network listed here stays held back for all sources.\n"
    "                           Processes on this machine are always held back.\n"
    "  --ports P,...            TCP ports (default 25,465,587). Blocking 465 and 587\n"
    "                           also stops LAN users from submitting to outside\n"
    "                           providers; use --ports 25 if they must.\n"
    "  --log-prefix P           prefix of the log line of a blocked attempt\n"
    "                           (default \"" FIREWALL_PREFIX_BLOCK "\")\n"
    "  --mailserver-log-prefix P\n"
    "                           prefix of the log line of a mail server's connection\n"
    "                           (default \"" FIREWALL_PREFIX_MAILSRV "\")\n"
    "                           Prefixes: at most 127 printable ASCII bytes, no\n"
    "                           quotes, backslash or '='; end them with a space.\n"
    "                           logscan recognises the defaults.\n"
    "  --log-rate N             log lines per minute per rule, burst 2N (default 30)\n"
    "  --json                   print the settings and the rule set as JSON\n"
    "  --help                   this text\n"
    "\n"
    "Deploy:\n"
    "  relayguard firewall --mail-servers 192.0.2.10,2001:db8::10 > /etc/relayguard-smtp.nft\n"
    "  nft -c -f /etc/relayguard-smtp.nft     check it\n"
    "  nft -f /etc/relayguard-smtp.nft        load it (loading again replaces it)\n"
    "  nft list table inet " FIREWALL_TABLE "  see it, with counters\n"
    "  nft delete table inet " FIREWALL_TABLE "  remove it\n"
    "To keep it across reboots, include the file from /etc/nftables.conf.\n"
    "\n"
    "Exit status: 0 printed, 2 usage or input error.\n";

static int cli_firewall_json(const struct firewall_spec *s, const struct buf *rules)
{
	/* json_object_set_new takes the value even when it fails, so everything is
	 * owned by doc from the moment it is attached and one decref cleans up. */
	json_t *doc = json_object();
	json_t *mail = json_array(), *lan = json_array(), *ports = json_array();
	if (json_object_set_new(doc, "mail_servers", mail) != 0 ||
	    json_object_set_new(doc, "lan", lan) != 0 ||
	    json_object_set_new(doc, "ports", ports) != 0)
		goto fail;
	for (size_t i = 0; i < s->n_mail; i++) {
		char t[CIDR_STRLEN];
		if (cidr_format(&s->mail[i], t, sizeof t) != 0 ||
		    json_array_append_new(mail, json_string(t)) != 0)
			goto fail;
	}
	for (size_t i = 0; i < s->n_lan; i++) {
		char t[CIDR_STRLEN];
		if (cidr_format(&s->lan[i], t, sizeof t) != 0 ||
		    json_array_append_new(lan, json_string(t)) != 0)
			goto fail;
	}
	for (size_t i = 0; i < s->n_ports; i++)
		if (json_array_append_new(ports, json_integer(s->ports[i])) != 0)
			goto fail;
	if (json_object_set_new(doc, "family", json_string("inet")) != 0 ||
	    json_object_set_new(doc, "table", json_string(FIREWALL_TABLE)) != 0 ||
	    json_object_set_new(doc, "log_prefix", json_string(s->block_prefix)) != 0 ||
	    json_object_set_new(doc, "mailserver_log_prefix", json_string(s->mailsrv_prefix)) !=
	        0 ||
	    json_object_set_new(doc, "log_rate_per_minute", json_integer(s->log_rate)) != 0 ||
	    json_object_set_new(doc, "load", json_string("nft -f FILE")) != 0 ||
	    json_object_set_new(doc, "remove",
	                        json_string("nft delete table inet " FIREWALL_TABLE)) != 0 ||
	    json_object_set_new(doc, "ruleset", json_stringn(rules->data, rules->len)) != 0)
		goto fail;
	return cli_print_json(doc) == 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
fail:
	json_decref(doc);
	cli_error("firewall", "cannot build JSON output");
	return CLI_EXIT_USAGE;
}

/* Value of an option given as "--name value" or "--name=value"; NULL when argv[*i] is not it. */
static const char *cli_firewall_opt(int argc, char **argv, int *i, const char *name, int *missing)
{
	size_t n = strlen(name);
	const char *a = argv[*i];
	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = 1;
		return NULL;
	}
	(*i)++;
	return argv[*i];
}

int cli_firewall(int argc, char **argv)
{
	struct firewall_spec *s = malloc(sizeof *s);
	struct buf out;
	char err[256];
	bool json = false;
	int rc = CLI_EXIT_USAGE;

	buf_init(&out, CLI_FIREWALL_OUT_MAX);
	if (!s) {
		cli_error("firewall", "out of memory");
		return CLI_EXIT_USAGE;
	}
	firewall_spec_init(s);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		int missing = 0;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			cli_usage(stdout, cli_firewall_help);
			rc = CLI_EXIT_OK;
			goto done;
		} else if (strcmp(a, "--json") == 0) {
			json = true;
		} else if ((v = cli_firewall_opt(argc, argv, &i, "--mail-servers", &missing))) {
			if (firewall_spec_add_nets(s, 0, v, err, sizeof err) != 0)
				goto bad;
		} else if ((v = cli_firewall_opt(argc, argv, &i, "--lan", &missing))) {
			if (firewall_spec_add_nets(s, 1, v, err, sizeof err) != 0)
				goto bad;
		} else if ((v = cli_firewall_opt(argc, argv, &i, "--ports", &missing))) {
			if (firewall_spec_set_ports(s, v, err, sizeof err) != 0)
				goto bad;
		} else if ((v = cli_firewall_opt(argc, argv, &i, "--log-prefix", &missing))) {
			if (firewall_spec_set_prefix(s, 0, v, err, sizeof err) != 0)
				goto bad;
		} else if ((v = cli_firewall_opt(argc, argv, &i, "--mailserver-log-prefix",
		                                 &missing))) {
			if (firewall_spec_set_prefix(s, 1, v, err, sizeof err) != 0)
				goto bad;
		} else if ((v = cli_firewall_opt(argc, argv, &i, "--log-rate", &missing))) {
			uint64_t r;
			if (str_to_u64(v, strlen(v), 1, 10000, &r) != 0) {
				str_format_trunc(err, sizeof err,
				                 "--log-rate wants 1..10000 per minute");
				goto bad;
			}
			s->log_rate = (unsigned)r;
		} else if (missing) {
			str_format_trunc(err, sizeof err, "%s needs a value", a);
			goto bad;
		} else {
			char shown[64];
			str_sanitize(shown, sizeof shown, a, strlen(a));
			str_format_trunc(err, sizeof err,
			                 "unknown option or argument: %s (see --help)", shown);
			goto bad;
		}
	}
	if (firewall_render(s, &out, err, sizeof err) != 0)
		goto bad;
	if (json) {
		rc = cli_firewall_json(s, &out);
	} else {
		fwrite(out.data, 1, out.len, stdout);
		rc = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	goto done;
bad:
	cli_error("firewall", "%s", err);
	rc = CLI_EXIT_USAGE;
done:
	buf_free(&out);
	free(s);
	return rc;
}
