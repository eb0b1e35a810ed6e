/*
 * relayguard hold - the hold queue (DESIGN.md invariant 3): mail a block or
 * a rule held is kept until a person releases it (it is then delivered) or
 * deletes it, and every such decision is an audit record (actor, reason,
 * time) in the spool's audit.log.
 *
 * Safe while `serve` runs: release, delete and add are requests of the
 * control API, made by the running server (state_dir/control.sock) and in
 * force at once, or, with no server, by this command through the same
 * dispatch on the spool it opens. list and show open the spool shared (read
 * only). docs/queue.md has the details.
 */
#include "cli/cli.h"

#include "admin/ctlapi.h"
#include "admin/holds.h"
#include "cli/cli_ctl.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"
#include "gateway/gwconf.h"
#include "queue/qenv.h"
#include "queue/queue.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char cli_hold_help[] =
    "usage: relayguard hold [OPTIONS] list\n"
    "       relayguard hold [OPTIONS] show ID\n"
    "       relayguard hold [OPTIONS] release ID [--reason TEXT]\n"
    "       relayguard hold [OPTIONS] delete ID [--reason TEXT]\n"
    "       relayguard hold [OPTIONS] add ID [--reason TEXT]\n"
    "\n"
    "The hold queue: messages the gateway keeps instead of delivering, because a\n"
    "block or a rule held them (a hijacked account's mail, a notification to a\n"
    "sender nobody verified). Nothing held is ever dropped: a person releases it\n"
    "(it is delivered at once) or deletes it, and either is recorded with who did\n"
    "it and why in the spool's audit.log.\n"
    "\n"
    "  list        the held messages, oldest first\n"
    "  show ID     one queued message (held or not): envelope, recipients, state\n"
    "  release ID  deliver it\n"
    "  delete ID   remove it for good\n"
    "  add ID      hold a queued message that is not held yet\n"
    "\n"
    "Works while `relayguard serve` runs: the server makes the change at once\n"
    "(through state_dir/control.sock; give --config so it is found).\n"
    "\n"
    "Beside Postfix as its policy service only ([policyd] postfix_queue, on by\n"
    "default with [gateway] listeners = none or relayguard policyd), held mail\n"
    "is in Postfix's hold queue: list and show give the messages the policy\n"
    "held there (postqueue -j), and release and delete of their Postfix queue\n"
    "IDs run postsuper -H and postsuper -d. docs/deploy-postfix.md.\n"
    "\n"
    "Options:\n"
    "  --spool DIR      the spool directory\n"
    "  --config FILE    the gateway configuration, for its spool_dir\n"
    "                   (default without either: ./var/spool)\n"
    "  --reason TEXT    why (kept in the audit record)\n"
    "  --actor NAME     who is acting (default: $SUDO_USER, $USER)\n"
    "  --json           one JSON document\n"
    "  -h, --help       this text\n"
    "\n"
    "Exit status: 0 done, 1 show: no such message, 2 usage, no spool where it\n"
    "looks, spool error, or no such message to release, delete or hold.\n";

/* The spool for reading, shared (safe beside a running server). 0 with *q, or
 * -1 after saying why; a spool that is not there is an error, never "nothing
 * held". */
static int cli_spool_open(const char *cmd, const struct cli_ctl_where *w, struct queue **q)
{
	char err[512];
	struct queue_opts o = {.fsync = true, .shared = true};
	*q = NULL;
	if (access(w->spool, F_OK) != 0)
		return cli_ctl_no_state(cmd, "spool", w->spool), -1;
	if (queue_open(q, w->spool, NULL, &o, err, sizeof err) < 0) {
		cli_error(cmd, "%s", err);
		return -1;
	}
	return 0;
}

/* A queue entry as JSON (docs/queue.md): the short form is the web page's
 * /api/holds entry (admin/holds); full adds the client, the state and
 * per-recipient results. */
static json_t *cli_hold_entry_json(const struct queue_envelope *env, bool full)
{
	if (!full)
		return holds_json(env);
	json_t *o = holds_json_full(env);
	if (o)
		json_object_set(o, "recipients", json_object_get(o, "rcpts"));
	return o;
}

struct cli_hold_list {
	json_t *arr;
	bool json;
	size_t n;
};

static int cli_hold_list_cb(void *arg, const struct queue_envelope *env)
{
	struct cli_hold_list *l = arg;
	l->n++;
	if (l->json) {
		json_array_append_new(l->arr, cli_hold_entry_json(env, false));
		return 0;
	}
	char t[40] = "-", s[80];
	(void)clock_format_rfc3339((int64_t)env->arrival_ms, t, sizeof t);
	str_sanitize(s, sizeof s, env->sender[0] ? env->sender : "<>",
	             strlen(env->sender[0] ? env->sender : "<>"));
	printf("%-18s %-20s %8" PRIu64 " %-32s %5u  %s\n", env->id, t, env->size, s, env->nrcpt,
	       env->hold_reason);
	return 0;
}

struct cli_hold_show {
	const char *id;
	struct queue_envelope env;
	bool found;
};

static void cli_hold_show_text(const struct queue_envelope *env)
{
	char t[40] = "-", n[40] = "now";
	(void)clock_format_rfc3339((int64_t)env->arrival_ms, t, sizeof t);
	if (env->next_attempt_ms)
		(void)clock_format_rfc3339((int64_t)env->next_attempt_ms, n, sizeof n);
	printf("%s%s\n", env->id, env->hold_reason[0] ? " (held)" : "");
	printf("  arrival:   %s\n  size:      %" PRIu64 "\n  sender:    <%s>%s\n", t, env->size,
	       env->sender, env->sender_verified ? " (verified)" : "");
	printf("  client:    %s%s%s\n", env->client_ip[0] ? env->client_ip : "local",
	       env->client_helo[0] ? " helo=" : "", env->client_helo);
	if (env->auth_user[0])
		printf("  auth:      %s\n", env->auth_user);
	printf("  protocol:  %s%s%s\n", env->protocol, env->listener[0] ? " listener=" : "",
	       env->listener);
	if (env->hold_reason[0])
		printf("  held:      %s\n", env->hold_reason);
	else
		printf("  attempts:  %u, next %s\n", env->attempts, n);
	for (unsigned i = 0; i < env->nrcpt; i++)
		printf("  rcpt:      <%s> %s%s%s\n", env->rcpt[i].addr,
		       qenv_status_name(env->rcpt[i].status),
		       env->rcpt[i].last_reply[0] ? ": " : "", env->rcpt[i].last_reply);
}

static int cli_hold_change(const char *verb, const char *id, const struct cli_admin_opts *o)
{
	const char *cmd = "hold";
	const char *type = strcmp(verb, "add") == 0 ? "hold" : verb;
	json_t *req = ctlapi_request(type, cli_ctl_actor(o->actor), o->reason ? o->reason : "");
	if (req)
		json_object_set_new(req, "id", json_string(id));
	struct cli_ctl where = {cmd, o->config, NULL, o->spool};
	json_t *reply;
	if (cli_ctl_request(&where, req, CLI_CTL_QUEUE, &reply) != 0)
		return CLI_EXIT_USAGE;
	const char *done = json_string_value(json_object_get(reply, "result"));
	const char *reason = json_string_value(json_object_get(reply, "reason"));
	if (o->json) {
		cli_print_json(cli_ctl_doc(reply));
		return CLI_EXIT_OK;
	}
	printf("%s %s%s%s\n", done ? done : type, id, reason && *reason ? ": " : "",
	       reason ? reason : "");
	json_decref(reply);
	return CLI_EXIT_OK;
}

static void cli_hold_postfix_row(json_t *h)
{
	char s[80];
	const char *sender = json_string_value(json_object_get(h, "sender"));
	const char *arrival = json_string_value(json_object_get(h, "arrival"));
	sender = sender && *sender ? sender : "<>";
	str_sanitize(s, sizeof s, sender, strlen(sender));
	printf("%-18s %-20s %8" JSON_INTEGER_FORMAT " %-32s %5" JSON_INTEGER_FORMAT "  %s\n",
	       json_string_value(json_object_get(h, "id")), arrival ? arrival : "-",
	       json_integer_value(json_object_get(h, "size")), s,
	       json_integer_value(json_object_get(h, "rcpt_count")),
	       json_string_value(json_object_get(h, "reason")));
}

static void cli_hold_postfix_show(json_t *h)
{
	const char *keys[] = {"arrival",  "size", "sender", "client_ip", "auth_user",
	                      "identity", "rule", "reason", "instance",  "policy_time"};
	printf("%s (held in Postfix's hold queue)\n", json_string_value(json_object_get(h, "id")));
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		json_t *v = json_object_get(h, keys[i]);
		char *t = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY);
		printf("  %-12s %s\n", keys[i],
		       t                   ? t
		       : json_is_string(v) ? json_string_value(v)
		                           : "-");
		free(t);
	}
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(h, "recipients"), i, r)
	    printf("  %-12s <%s>\n", "rcpt", json_string_value(r));
}

/* Policy-only mode ([policyd] postfix_queue): list and show read Postfix's hold
 * queue through the server (admin/pfhold), the messages the policy held. */
static int cli_hold_postfix(const char *verb, const char *id, const struct cli_admin_opts *o)
{
	const char *cmd = "hold";
	json_t *req = ctlapi_request("postfix_holds", cli_ctl_actor(o->actor), NULL);
	struct cli_ctl where = {cmd, o->config, NULL, o->spool};
	json_t *reply;
	if (cli_ctl_request(&where, req, 0, &reply) != 0)
		return CLI_EXIT_USAGE;
	json_t *holds = json_object_get(reply, "holds");
	if (strcmp(verb, "list") == 0) {
		if (o->json) {
			cli_print_json(cli_ctl_doc(reply));
			return CLI_EXIT_OK;
		}
		printf("%-18s %-20s %8s %-32s %5s  %s\n", "ID", "ARRIVAL", "SIZE", "SENDER",
		       "RCPTS", "REASON");
		size_t i;
		json_t *h;
		json_array_foreach(holds, i, h) cli_hold_postfix_row(h);
		printf("%zu held message%s in Postfix's hold queue\n", json_array_size(holds),
		       json_array_size(holds) == 1 ? "" : "s");
		json_decref(reply);
		return CLI_EXIT_OK;
	}
	json_t *found = NULL, *h;
	size_t i;
	json_array_foreach(holds, i, h)
	{
		if (!found && strcmp(json_string_value(json_object_get(h, "id")), id) == 0)
			found = json_incref(h);
	}
	json_decref(reply);
	if (!found) {
		if (o->json)
			cli_print_json(json_pack("{s:s, s:b}", "id", id, "found", 0));
		else
			cli_error(cmd,
			          "%s: no message the policy held is in Postfix's hold queue "
			          "with this ID",
			          id);
		return CLI_EXIT_FOUND;
	}
	if (o->json) {
		json_object_set_new(found, "found", json_true());
		cli_print_json(found);
	} else {
		cli_hold_postfix_show(found);
		json_decref(found);
	}
	return CLI_EXIT_OK;
}

/* Whether the running server keeps held mail in Postfix's hold queue (started
 * as relayguard policyd, which the configuration file does not say). */
static bool cli_hold_server_postfix(const struct cli_admin_opts *o)
{
	struct cli_ctl where = {"hold", o->config, NULL, o->spool};
	json_t *reply = NULL;
	bool pf = cli_ctl_call(&where, ctlapi_request("ping", NULL, NULL), 0, &reply) == 0 &&
	          json_is_true(json_object_get(reply, "postfix_queue"));
	json_decref(reply);
	return pf;
}

static int cli_hold_run(const char *verb, const char *id, const struct cli_admin_opts *o)
{
	const char *cmd = "hold";
	if (strcmp(verb, "list") != 0 && strcmp(verb, "show") != 0)
		return cli_hold_change(verb, id, o);
	struct cli_ctl where = {cmd, o->config, NULL, o->spool};
	struct cli_ctl_where w;
	struct queue *q = NULL;
	if (cli_ctl_where(&where, &w) != 0)
		return CLI_EXIT_USAGE;
	if ((w.c->postfix_queue || cli_hold_server_postfix(o)) &&
	    (strcmp(verb, "list") == 0 || !holds_id_ok(id))) {
		cli_ctl_where_free(&w);
		return cli_hold_postfix(verb, id, o);
	}
	int rc = CLI_EXIT_USAGE;
	if (cli_spool_open(cmd, &w, &q) < 0)
		goto out;
	if (strcmp(verb, "list") == 0) {
		struct cli_hold_list l = {.arr = json_array(), .json = o->json};
		if (!o->json)
			printf("%-18s %-20s %8s %-32s %5s  %s\n", "ID", "ARRIVAL", "SIZE", "SENDER",
			       "RCPTS", "REASON");
		if (queue_list(q, true, cli_hold_list_cb, &l) < 0)
			cli_error(cmd, "some entries could not be read (see the log above)");
		if (o->json) {
			cli_print_json(json_pack("{s:o, s:s}", "holds", l.arr, "spool", w.spool));
		} else {
			json_decref(l.arr);
			printf("%zu held message%s\n", l.n, l.n == 1 ? "" : "s");
		}
		rc = CLI_EXIT_OK;
		goto out;
	}
	struct queue_envelope env;
	if (queue_entry_load(q, id, &env) < 0) {
		if (o->json)
			cli_print_json(json_pack("{s:s, s:b}", "id", id, "found", 0));
		else
			cli_error(cmd, "%s: no such message in %s", id, w.spool);
		rc = CLI_EXIT_FOUND;
		goto out;
	}
	if (o->json) {
		json_t *doc = cli_hold_entry_json(&env, true);
		json_object_set_new(doc, "found", json_true());
		cli_print_json(doc);
	} else {
		cli_hold_show_text(&env);
	}
	queue_envelope_free(&env);
	rc = CLI_EXIT_OK;
out:
	queue_close(q);
	cli_ctl_where_free(&w);
	return rc;
}

int cli_hold(int argc, char **argv)
{
	const char *cmd = "hold";
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"spool", required_argument, NULL, 's'},
	    {"reason", required_argument, NULL, 'r'},
	    {"actor", required_argument, NULL, 'a'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_admin_opts o = {0};
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (cli_admin_opt(&o, ch, optarg))
			continue;
		switch (ch) {
		case 'h':
			cli_usage(stdout, cli_hold_help);
			return CLI_EXIT_OK;
		default:
			fprintf(stderr, "relayguard hold --help shows the options\n");
			return CLI_EXIT_USAGE;
		}
	}
	const char *verb = optind < argc ? argv[optind++] : NULL;
	if (!verb) {
		cli_error(cmd, "say list, show, release, delete or add; see --help");
		return CLI_EXIT_USAGE;
	}
	bool needs_id = strcmp(verb, "show") == 0 || strcmp(verb, "release") == 0 ||
	                strcmp(verb, "delete") == 0 || strcmp(verb, "add") == 0;
	if (!needs_id && strcmp(verb, "list") != 0) {
		cli_error(cmd, "unknown action '%s'; see --help", verb);
		return CLI_EXIT_USAGE;
	}
	const char *id = NULL;
	if (needs_id) {
		if (optind >= argc) {
			cli_error(cmd, "%s needs a queue ID (see relayguard hold list)", verb);
			return CLI_EXIT_USAGE;
		}
		id = argv[optind++];
	}
	if (optind < argc) {
		cli_error(cmd, "unexpected argument '%s'", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	if (o.reason && (strcmp(verb, "list") == 0 || strcmp(verb, "show") == 0)) {
		cli_error(cmd, "--reason goes with release, delete or add");
		return CLI_EXIT_USAGE;
	}
	return cli_hold_run(verb, id, &o);
}
