/*
 * relayguard queue - the active, deferred and held mail of the spool, like
 * mailq, postqueue -f and postsuper -d/-h/-H; and relayguard control, any
 * request of the control API by its type. Every change is a request of the
 * control API (admin/ctlapi): made by the running server at once, or with
 * none running by this command through the same dispatch; each is a line in
 * the spool's audit.log. docs/queue.md.
 */
#include "cli/cli.h"

#include "admin/ctlapi.h"
#include "cli/cli_ctl.h"
#include "core/str.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char cli_queue_help[] =
    "usage: relayguard queue [OPTIONS] list\n"
    "       relayguard queue [OPTIONS] flush [ID]\n"
    "       relayguard queue [OPTIONS] delete ID|--all-deferred [--reason TEXT]\n"
    "       relayguard queue [OPTIONS] hold ID [--reason TEXT]\n"
    "       relayguard queue [OPTIONS] release ID [--reason TEXT]\n"
    "\n"
    "  list          every queued message: active (due or being delivered), deferred\n"
    "                (with the last reply of the next hop and the next attempt) and\n"
    "                held (with why), oldest first, like mailq\n"
    "  flush [ID]    retry deferred mail now (one message, or all)\n"
    "  delete ID     remove a message for good; --all-deferred: every deferred one\n"
    "  hold ID       keep a message from delivery until it is released\n"
    "  release ID    deliver a held message now\n"
    "\n"
    "With relayguard serve running, the server does it at once (through\n"
    "state_dir/control.sock); with none running, this command does it on the\n"
    "spool. Every change is recorded with who did it and why in the spool's\n"
    "audit.log.\n"
    "\n"
    "Options:\n"
    "  --config FILE    the gateway configuration (its state_dir and spool_dir)\n"
    "  --spool DIR      the spool directory instead\n"
    "  --reason TEXT    why (kept in the audit record)\n"
    "  --actor NAME     who is acting (default: $SUDO_USER, $USER)\n"
    "  --json           one JSON document\n"
    "  -h, --help       this text\n"
    "\n"
    "Exit status: 0 done, 2 usage, no spool where it looks, no such message,\n"
    "or the change was refused.\n";

struct cli_queue_opts {
	struct cli_admin_opts a;
	bool all_deferred;
};

static void cli_queue_print(const char *state, const json_t *arr)
{
	size_t i;
	const json_t *e;
	json_array_foreach(arr, i, e)
	{
		const char *arrival = json_string_value(json_object_get(e, "arrival"));
		const char *sender = json_string_value(json_object_get(e, "sender"));
		printf("%-18s %-8s %-20s %8lld <%s>\n", json_string_value(json_object_get(e, "id")),
		       state, arrival ? arrival : "-",
		       (long long)json_integer_value(json_object_get(e, "size")),
		       sender && *sender ? sender : "");
		size_t k;
		const json_t *r;
		json_array_foreach(json_object_get(e, "rcpts"), k, r)
		{
			const char *st = json_string_value(json_object_get(r, "status"));
			if (st && strcmp(st, "pending") != 0)
				continue;
			printf("%18s %s\n", "", json_string_value(json_object_get(r, "address")));
			const char *reply = json_string_value(json_object_get(r, "last_reply"));
			if (reply && *reply)
				printf("%18s   (%s)\n", "", reply);
		}
		const char *next = json_string_value(json_object_get(e, "next_attempt"));
		const char *why = json_string_value(json_object_get(e, "reason"));
		if (strcmp(state, "deferred") == 0)
			printf("%18s   next attempt %s, %lld so far\n", "", next ? next : "now",
			       (long long)json_integer_value(json_object_get(e, "attempts")));
		else if (strcmp(state, "held") == 0 && why)
			printf("%18s   held: %s\n", "", why);
	}
}

static int cli_queue_list(const struct cli_queue_opts *o, json_t *reply)
{
	if (o->a.json) {
		ctlapi_strip(reply);
		return cli_print_json(reply) == 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	static const char *const states[] = {"active", "deferred", "held"};
	size_t n[3];
	printf("%-18s %-8s %-20s %8s %s\n", "ID", "STATE", "ARRIVAL", "SIZE", "SENDER");
	for (int i = 0; i < 3; i++) {
		const json_t *arr = json_object_get(reply, states[i]);
		cli_queue_print(states[i], arr);
		n[i] = json_array_size(arr);
	}
	printf("%zu active, %zu deferred, %zu held\n", n[0], n[1], n[2]);
	json_decref(reply);
	return CLI_EXIT_OK;
}

/* What a change did, as text. */
static void cli_queue_said(const char *verb, const char *id, const json_t *reply)
{
	const char *reason = json_string_value(json_object_get(reply, "reason"));
	const char *result = json_string_value(json_object_get(reply, "result"));
	if (json_object_get(reply, "count"))
		printf("%s %lld message%s\n", result ? result : verb,
		       (long long)json_integer_value(json_object_get(reply, "count")),
		       json_integer_value(json_object_get(reply, "count")) == 1 ? "" : "s");
	else
		printf("%s %s%s%s\n", result ? result : verb, id ? id : "",
		       reason && *reason ? ": " : "", reason ? reason : "");
}

static int cli_queue_run(const char *verb, const char *id, const struct cli_queue_opts *o)
{
	bool list = strcmp(verb, "list") == 0;
	json_t *req =
	    ctlapi_request(list ? "queue_list" : verb, cli_ctl_actor(o->a.actor), o->a.reason);
	if (req && id)
		json_object_set_new(req, "id", json_string(id));
	if (req && o->all_deferred)
		json_object_set_new(req, "all_deferred", json_true());
	struct cli_ctl where = {"queue", o->a.config, o->a.state, o->a.spool};
	json_t *reply;
	if (cli_ctl_request(&where, req, CLI_CTL_QUEUE | (list ? CLI_CTL_READ : 0), &reply) != 0)
		return CLI_EXIT_USAGE;
	if (list)
		return cli_queue_list(o, reply);
	if (o->a.json) {
		cli_print_json(cli_ctl_doc(reply));
		return CLI_EXIT_OK;
	}
	cli_queue_said(verb, id, reply);
	json_decref(reply);
	return CLI_EXIT_OK;
}

/* The verbs and whether they take a queue ID (2: optional). */
static const struct {
	const char *name;
	int id;
} cli_queue_verbs[] = {
    {"list", 0}, {"flush", 2}, {"delete", 1}, {"hold", 1}, {"release", 1},
};

static int cli_queue_opts(int argc, char **argv, const char *cmd, const char *help,
                          struct cli_queue_opts *o)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"spool", required_argument, NULL, 's'},
	    {"state", required_argument, NULL, 'S'},
	    {"reason", required_argument, NULL, 'r'},
	    {"actor", required_argument, NULL, 'a'},
	    {"json", no_argument, NULL, 'j'},
	    {"all-deferred", no_argument, NULL, 'A'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (cli_admin_opt(&o->a, ch, optarg))
			continue;
		switch (ch) {
		case 'A':
			o->all_deferred = true;
			break;
		default: /* -h or an option it does not take */
			return cli_opt_help(ch, cmd, help);
		}
	}
	return 0;
}

int cli_queue(int argc, char **argv)
{
	const char *cmd = "queue";
	struct cli_queue_opts o = {0};
	int r = cli_queue_opts(argc, argv, cmd, cli_queue_help, &o);
	if (r != 0)
		return r > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	const char *verb = optind < argc ? argv[optind++] : NULL;
	int takes = -1;
	for (size_t i = 0; verb && i < sizeof cli_queue_verbs / sizeof cli_queue_verbs[0]; i++)
		if (strcmp(cli_queue_verbs[i].name, verb) == 0)
			takes = cli_queue_verbs[i].id;
	if (takes < 0) {
		cli_error(cmd,
		          verb ? "unknown action '%s'; see --help"
		               : "say list, flush, delete, hold or release; see --help%s",
		          verb ? verb : "");
		return CLI_EXIT_USAGE;
	}
	const char *id = optind < argc ? argv[optind++] : NULL;
	bool all = o.all_deferred;
	if (optind < argc || (id && takes == 0) || (all && strcmp(verb, "delete") != 0) ||
	    (takes == 1 && !id && !all) || (all && id)) {
		cli_error(cmd, "%s takes %s; see --help", verb,
		          takes == 0                    ? "no argument"
		          : takes == 2                  ? "at most one queue ID"
		          : strcmp(verb, "delete") == 0 ? "a queue ID or --all-deferred"
		                                        : "a queue ID");
		return CLI_EXIT_USAGE;
	}
	if (o.a.reason && takes == 0) {
		cli_error(cmd, "--reason goes with a change");
		return CLI_EXIT_USAGE;
	}
	return cli_queue_run(verb, id, &o);
}

static const char cli_control_help[] =
    "usage: relayguard control [--config FILE] [--state DIR] [--actor NAME]\n"
    "                          [--reason TEXT] TYPE [NAME=VALUE]...\n"
    "\n"
    "Sends one request of the control API to the running server and prints its\n"
    "answer as JSON (docs/queue.md \"Control API\"). TYPE is one of the table's:\n"
    "ping, block, unblock, limit, hold, release, delete, flush, queue_list,\n"
    "users_reload, reload. NAME=VALUE pairs are the payload (VALUE is a string;\n"
    "true, false and integers are sent as such), for example\n"
    "\n"
    "  relayguard control limit target=user:sam@example.com limit=msg_hour value=5\n"
    "  relayguard control users_reload\n"
    "\n"
    "A limit set so lasts until the server stops or reloads its configuration.\n"
    "With no server running, the requests on the store or spool are made here\n"
    "through the same dispatch; limit and reload need a server.\n"
    "\n"
    "Exit status: 0 the request was done, 2 usage, or refused (the answer's\n"
    "\"code\" and \"error\" say why).\n";

int cli_control(int argc, char **argv)
{
	const char *cmd = "control";
	struct cli_queue_opts o = {0};
	int r = cli_queue_opts(argc, argv, cmd, cli_control_help, &o);
	if (r != 0)
		return r > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	if (optind >= argc) {
		cli_error(cmd, "say which request (ping, block, ..., reload); see --help");
		return CLI_EXIT_USAGE;
	}
	const char *type = argv[optind++];
	json_t *req = ctlapi_request(type, cli_ctl_actor(o.a.actor), o.a.reason);
	for (; req && optind < argc; optind++) {
		const char *eq = strchr(argv[optind], '=');
		char name[64];
		if (!eq || eq == argv[optind] ||
		    str_copy_n(name, sizeof name, argv[optind], (size_t)(eq - argv[optind])) != 0) {
			cli_error(cmd, "expected NAME=VALUE, not '%s'", argv[optind]);
			json_decref(req);
			return CLI_EXIT_USAGE;
		}
		long long v;
		json_t *val = strcmp(eq + 1, "true") == 0    ? json_true()
		              : strcmp(eq + 1, "false") == 0 ? json_false()
		              : str_to_ll(eq + 1, -(1LL << 53), 1LL << 53, &v) == 0
		                  ? json_integer((json_int_t)v)
		                  : json_string(eq + 1);
		json_object_set_new(req, name, val);
	}
	bool queue = strcmp(type, "hold") == 0 || strcmp(type, "release") == 0 ||
	             strcmp(type, "delete") == 0 || strcmp(type, "flush") == 0 ||
	             strcmp(type, "queue_list") == 0;
	bool store = strcmp(type, "block") == 0 || strcmp(type, "unblock") == 0;
	struct cli_ctl where = {cmd, o.a.config, o.a.state, o.a.spool};
	json_t *reply;
	if (cli_ctl_call(&where, req, (queue ? CLI_CTL_QUEUE : 0) | (store ? CLI_CTL_STORE : 0),
	                 &reply) != 0)
		return CLI_EXIT_USAGE;
	bool ok = ctlapi_reply_code(reply) == CTLAPI_OK;
	cli_print_json(reply);
	return ok ? CLI_EXIT_OK : CLI_EXIT_USAGE;
}

static const char cli_reload_help[] =
    "usage: relayguard reload [--config FILE] [--state DIR] [--actor NAME] [--json]\n"
    "\n"
    "Asks the running server to read its configuration again, as SIGHUP does:\n"
    "limits, policy sections, local domains, trusted networks, the TLS\n"
    "certificate and key, the users file, [screen] and its DNSBL catalogue. A\n"
    "file that fails checkconf (or a catalogue that does not load) is refused\n"
    "whole and the running configuration stays; options that need a restart (a\n"
    "listener's address) keep their running values and the server's log names\n"
    "them. Audited. The same as `relayguard control reload`.\n"
    "\n"
    "Exit status: 0 reloaded, 1 refused (the server says why), 2 usage error or\n"
    "no server answers.\n";

int cli_reload(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			cli_usage(stdout, cli_reload_help);
			return CLI_EXIT_OK;
		}
	/* `reload ARGS` is `control ARGS reload`: one path for every request. */
	char **v = calloc((size_t)argc + 2, sizeof *v);
	if (!v) {
		cli_error("reload", "out of memory");
		return CLI_EXIT_USAGE;
	}
	for (int i = 0; i < argc; i++)
		v[i] = argv[i];
	v[argc] = (char *)"reload";
	int rc = cli_control(argc + 1, v);
	free(v);
	return rc;
}
