/*
 * cli_bounce - "relayguard bounce": which blocklist bounced our mail.
 *
 * Reads message files, mboxes, Maildirs or stdin, analyses every message with
 * forensics/bounce, and reports per list how many bounces named it, which of
 * our IPs it named, and where to get delisted. JSON contract: shared/CLI.md,
 * section "bounce".
 */
#include "cli/cli.h"

#include "core/addr.h"
#include "core/str.h"
#include "forensics/bounce.h"
#include "forensics/mailbox.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CLI_BOUNCE_MAX_SUMMARY 256
#define CLI_BOUNCE_MAX_IPS 64

static const char cli_bounce_help[] =
    "usage: relayguard bounce [--json] PATH...\n"
    "       relayguard bounce --rules FILE [--json] PATH...\n"
    "\n"
    "Reads returned mail (bounces, DSNs, NDRs) and tells which blocklist or\n"
    "provider refused our mail, which of our IPs it named, and where to get it\n"
    "delisted.\n"
    "\n"
    "PATH is one message file, an mbox (a file starting with a \"From \" line),\n"
    "a Maildir (a directory with cur/ and new/), or - for standard input.\n"
    "Any number of PATHs may be given; their messages are summarised together.\n"
    "\n"
    "Each message is read as an RFC 3464 delivery status notification when it\n"
    "has one, else as a plain-text bounce (Postfix, Exim, qmail, Sendmail,\n"
    "Exchange). The receiver's rejection text, status code, session stage and\n"
    "host are matched against the bounce rules (built in; see docs/bounce.md):\n"
    "every bounce gets a reason (blocked, user_unknown, mailbox_full,\n"
    "spam_detected, ...), and a block names the list or provider (Spamhaus,\n"
    "SpamCop, Barracuda, UCEPROTECT, Microsoft, Gmail, Yahoo, Apple, AT&T,\n"
    "Comcast, Proofpoint, Mimecast, Cloudmark, Orange, GMX, WEB.DE, Mail.ru,\n"
    "Yandex, and any \"blocked using ZONE\" text). A receiver whose own DNSBL\n"
    "lookups fail (\"Error: open resolver\") is reported as a receiver error,\n"
    "not a listing.\n"
    "\n"
    "Options:\n"
    "  --json        print one JSON document on stdout (see CLI.md, \"bounce\")\n"
    "  --rules FILE  classify with these rules instead of the built-in ones\n"
    "                (format: docs/bounce.md; the built-in file is\n"
    "                data/bounce-rules.conf in the source)\n"
    "  -h, --help    print this help and exit\n"
    "\n"
    "Output: a summary per list (bounces, our listed IPs, where to delist),\n"
    "then one line per message: source, verdict, lists, recipient, status.\n"
    "Sources are the file path, \"mbox:N\" for the N-th message of an mbox,\n"
    "or \"stdin\".\n"
    "\n"
    "Exit status:\n"
    "  0  no bounce caused by a blocklist was found\n"
    "  1  at least one bounce was caused by a blocklist or provider block\n"
    "  2  usage error, or no PATH could be read\n"
    "  3  some PATHs or messages could not be read and nothing was found\n"
    "\n"
    "Examples:\n"
    "  relayguard bounce ~/Maildir/.Bounces\n"
    "  relayguard bounce --json /var/mail/postmaster | jq '.summary'\n"
    "  relayguard bounce - < returned.eml\n";

struct cli_bounce_entry {
	char id[128];
	char name[96];
	char delist[320];
	size_t count;
	char ips[CLI_BOUNCE_MAX_IPS][ADDR_STRLEN];
	size_t nips;
};

struct cli_bounce_ctx {
	json_t *messages;
	struct cli_bounce_entry *summary;
	size_t nsummary;
	size_t total, bounces, blocked, receiver_errors, failed;
	bool out_of_memory;
	const struct brules *rules;
	json_t *reasons; /* reason class -> count of bounces */
};

static json_t *cli_bounce_str_or_null(const char *s)
{
	return s && s[0] ? json_string(s) : json_null();
}

static void cli_bounce_tally(struct cli_bounce_ctx *c, const struct bounce_result *r)
{
	for (size_t i = 0; i < r->nlists; i++) {
		const struct bounce_list *l = &r->lists[i];
		struct cli_bounce_entry *e = NULL;
		for (size_t k = 0; k < c->nsummary; k++)
			if (strcmp(c->summary[k].id, l->id) == 0)
				e = &c->summary[k];
		if (!e) {
			if (c->nsummary >= CLI_BOUNCE_MAX_SUMMARY)
				continue;
			e = &c->summary[c->nsummary++];
			memset(e, 0, sizeof *e);
			if (str_copy(e->id, sizeof e->id, l->id) != 0 ||
			    str_copy(e->name, sizeof e->name, l->name) != 0) {
				/* same field sizes as bounce_list: cannot truncate */
			}
		}
		if (!e->delist[0] && str_copy(e->delist, sizeof e->delist, l->delist) != 0)
			e->delist[0] = '\0';
		e->count++;
		if (!r->listed_ip[0])
			continue;
		bool seen = false;
		for (size_t k = 0; k < e->nips; k++)
			if (strcmp(e->ips[k], r->listed_ip) == 0)
				seen = true;
		if (!seen && e->nips < CLI_BOUNCE_MAX_IPS &&
		    str_copy(e->ips[e->nips], sizeof e->ips[e->nips], r->listed_ip) == 0)
			e->nips++;
	}
}

static json_t *cli_bounce_message_json(const struct mailbox_msg *m, const struct bounce_result *r)
{
	json_t *o = json_object();
	json_t *lists = json_array();
	if (!o || !lists) {
		json_decref(o);
		json_decref(lists);
		return NULL;
	}
	for (size_t i = 0; i < r->nlists; i++)
		json_array_append_new(lists, json_pack("{s:s, s:s, s:o}", "id", r->lists[i].id,
		                                       "name", r->lists[i].name, "delist",
		                                       cli_bounce_str_or_null(r->lists[i].delist)));
	json_object_set_new(o, "source", json_string(m->source));
	json_object_set_new(o, "path", json_string(m->path));
	if (m->index)
		json_object_set_new(o, "index", json_integer((json_int_t)m->index));
	json_object_set_new(o, "is_bounce", json_boolean(r->is_bounce));
	json_object_set_new(o, "blocked", json_boolean(r->blocked));
	json_object_set_new(o, "receiver_error", json_boolean(r->receiver_error));
	json_object_set_new(o, "recipient", cli_bounce_str_or_null(r->recipient));
	json_object_set_new(o, "status", cli_bounce_str_or_null(r->status));
	json_object_set_new(o, "remote_mta", cli_bounce_str_or_null(r->remote_mta));
	json_object_set_new(o, "diagnostic", cli_bounce_str_or_null(r->diagnostic));
	json_object_set_new(o, "listed_ip", cli_bounce_str_or_null(r->listed_ip));
	json_object_set_new(o, "subject", cli_bounce_str_or_null(r->subject));
	json_object_set_new(o, "lists", lists);
	json_object_set_new(o, "reason", r->is_bounce ? json_string(r->reason) : json_null());
	json_object_set_new(o, "reason_detail",
	                    r->is_bounce ? cli_bounce_str_or_null(r->reason_detail) : json_null());
	json_object_set_new(o, "stage", cli_bounce_str_or_null(brules_stage_name(r->stage)));
	json_object_set_new(o, "forwarded", json_boolean(r->forwarded));
	return o;
}

static int cli_bounce_on_message(void *ctx, const struct mailbox_msg *m)
{
	struct cli_bounce_ctx *c = ctx;
	struct bounce_result *r = calloc(1, sizeof *r);
	json_t *o;

	if (!r) {
		c->out_of_memory = true;
		return -1;
	}
	c->total++;
	if (bounce_analyze_rules(c->rules, m->data, m->len, r) != 0) {
		c->failed++;
		cli_error("bounce", "%s: cannot analyse (out of memory)", m->source);
		o = cli_bounce_message_json(m, r);
		if (o)
			json_object_set_new(o, "error", json_string("out of memory"));
	} else {
		c->bounces += r->is_bounce;
		c->blocked += r->blocked;
		c->receiver_errors += r->receiver_error;
		cli_bounce_tally(c, r);
		if (r->is_bounce) {
			json_t *n = json_object_get(c->reasons, r->reason);
			json_int_t v = n ? json_integer_value(n) : 0;
			if (json_object_set_new(c->reasons, r->reason, json_integer(v + 1)) != 0)
				c->out_of_memory = true;
		}
		o = cli_bounce_message_json(m, r);
	}
	free(r);
	if (!o || json_array_append_new(c->messages, o) != 0) {
		c->out_of_memory = true;
		return -1;
	}
	return 0;
}

static json_t *cli_bounce_summary_json(const struct cli_bounce_ctx *c)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < c->nsummary; i++) {
		const struct cli_bounce_entry *e = &c->summary[i];
		json_t *ips = json_array();
		for (size_t k = 0; ips && k < e->nips; k++)
			json_array_append_new(ips, json_string(e->ips[k]));
		json_array_append_new(a, json_pack("{s:s, s:s, s:I, s:o, s:o}", "id", e->id, "name",
		                                   e->name, "count", (json_int_t)e->count,
		                                   "listed_ips", ips ? ips : json_array(), "delist",
		                                   cli_bounce_str_or_null(e->delist)));
	}
	return a;
}

/* Summary first (what to do), then one line per message (the evidence). */
static void cli_bounce_print_human(const struct cli_bounce_ctx *c)
{
	printf("%zu message%s, %zu bounce%s, %zu refused by a blocklist or provider block",
	       c->total, c->total == 1 ? "" : "s", c->bounces, c->bounces == 1 ? "" : "s",
	       c->blocked);
	if (c->receiver_errors)
		printf(", %zu receiver DNSBL error%s", c->receiver_errors,
		       c->receiver_errors == 1 ? "" : "s");
	printf(".\n");
	if (json_object_size(c->reasons)) {
		const char *k;
		json_t *v;
		bool first = true;
		printf("Reasons:");
		json_object_foreach(c->reasons, k, v)
		{
			printf("%s %s %lld", first ? "" : ",", k, (long long)json_integer_value(v));
			first = false;
		}
		printf("\n");
	}
	if (c->nsummary) {
		printf("\nBlocklists that refused our mail:\n");
		for (size_t i = 0; i < c->nsummary; i++) {
			const struct cli_bounce_entry *e = &c->summary[i];
			printf("  %-28s %4zu bounce%s  %s\n", e->id, e->count,
			       e->count == 1 ? " " : "s", e->name);
			if (e->nips) {
				printf("      our IPs:");
				for (size_t k = 0; k < e->nips; k++)
					printf(" %s", e->ips[k]);
				printf("\n");
			}
			printf("      delist: %s\n",
			       e->delist[0] ? e->delist
			                    : "(unknown: ask the receiver's postmaster)");
		}
	}
	if (c->receiver_errors)
		printf("\nA receiver's own DNSBL lookups failed (open resolver or over quota):\n"
		       "that is their misconfiguration, not a listing; tell their postmaster.\n");
	size_t n = json_array_size(c->messages);
	if (!n)
		return;
	printf("\nMessages:\n");
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_array_get(c->messages, i);
		const char *src = json_string_value(json_object_get(o, "source"));
		const char *verdict;
		if (json_is_true(json_object_get(o, "blocked")))
			verdict = "BLOCKED";
		else if (json_is_true(json_object_get(o, "receiver_error")))
			verdict = "RCV-ERROR";
		else if (json_is_true(json_object_get(o, "is_bounce")))
			verdict = "bounce";
		else
			verdict = "no-bounce";
		printf("  %s  %s", src ? src : "?", verdict);
		json_t *lists = json_object_get(o, "lists");
		for (size_t k = 0; k < json_array_size(lists); k++)
			printf("%s%s", k ? "," : "  ",
			       json_string_value(json_object_get(json_array_get(lists, k), "id")));
		const char *keys[] = {"recipient", "status", "listed_ip"};
		for (size_t k = 0; k < 3; k++) {
			const char *v = json_string_value(json_object_get(o, keys[k]));
			if (v)
				printf("  %s", v);
		}
		const char *reason = json_string_value(json_object_get(o, "reason"));
		if (reason && strcmp(reason, "blocked") != 0)
			printf("  (%s)", reason);
		const char *d = json_string_value(json_object_get(o, "diagnostic"));
		if (d && !json_is_true(json_object_get(o, "blocked"))) {
			char shortd[72];
			str_sanitize(shortd, sizeof shortd, d, strlen(d));
			printf("  \"%s\"", shortd);
		}
		printf("\n");
	}
}

int cli_bounce(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"rules", required_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool json = false;
	const char *rules_path = NULL;
	struct brules loaded;
	bool have_loaded = false;
	int ch;
	struct cli_bounce_ctx c;
	int rc;

	optind = 0; /* GNU: full reset, so tests may call us more than once */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+jhr:", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = true;
			break;
		case 'r':
			rules_path = optarg;
			break;
		case 'h':
			cli_usage(stdout, cli_bounce_help);
			return CLI_EXIT_OK;
		default:
			if (optopt)
				cli_error("bounce", "unknown option '-%c'", optopt);
			else
				cli_error("bounce", "unknown option '%s'", argv[optind - 1]);
			cli_usage(stderr, cli_bounce_help);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		cli_error("bounce", "no PATH given (a message file, mbox, Maildir or -)");
		cli_usage(stderr, cli_bounce_help);
		return CLI_EXIT_USAGE;
	}
	memset(&c, 0, sizeof c);
	if (rules_path) {
		char err[512];
		if (brules_load_file(&loaded, rules_path, err, sizeof err) != 0) {
			cli_error("bounce", "%s", err);
			return CLI_EXIT_USAGE;
		}
		have_loaded = true;
		c.rules = &loaded;
	} else if (!(c.rules = brules_builtin())) {
		cli_error("bounce", "the built-in bounce rules do not parse (a build error)");
		return CLI_EXIT_USAGE;
	}
	c.messages = json_array();
	c.reasons = json_object();
	c.summary = calloc(CLI_BOUNCE_MAX_SUMMARY, sizeof *c.summary);
	if (!c.messages || !c.summary || !c.reasons) {
		cli_error("bounce", "out of memory");
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	size_t bad_paths = 0, paths = 0;
	size_t unreadable_entries = 0;
	for (int i = optind; i < argc; i++) {
		char err[512];
		struct mailbox_stats st = {0, 0};
		paths++;
		int r = mailbox_foreach(argv[i], cli_bounce_on_message, &c, &st, err, sizeof err);
		if (c.out_of_memory) {
			cli_error("bounce", "out of memory");
			rc = CLI_EXIT_USAGE;
			goto out;
		}
		if (r != 0) {
			cli_error("bounce", "%s", err);
			bad_paths++;
			continue;
		}
		if (st.unreadable) {
			cli_error("bounce", "%s: %zu message file%s could not be read", argv[i],
			          st.unreadable, st.unreadable == 1 ? "" : "s");
			unreadable_entries += st.unreadable;
		}
	}
	if (bad_paths == paths) {
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	if (json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "messages", json_incref(c.messages));
		json_object_set_new(doc, "summary", cli_bounce_summary_json(&c));
		json_object_set_new(doc, "reasons", json_incref(c.reasons));
		if (cli_print_json(doc) != 0) {
			cli_error("bounce", "cannot write the JSON output");
			rc = CLI_EXIT_USAGE;
			goto out;
		}
	} else {
		cli_bounce_print_human(&c);
	}
	if (c.blocked)
		rc = CLI_EXIT_FOUND;
	else if (bad_paths || unreadable_entries || c.failed)
		rc = CLI_EXIT_INCOMPLETE;
	else
		rc = CLI_EXIT_OK;
out:
	json_decref(c.messages);
	json_decref(c.reasons);
	free(c.summary);
	if (have_loaded)
		brules_free(&loaded);
	return rc;
}
