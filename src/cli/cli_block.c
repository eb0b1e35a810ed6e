/*
 * relayguard block | unblock - blocks are objects with reasons (DESIGN.md):
 * list them, show one with its evidence and history, add one by hand, lift
 * one. Lifting resumes sending and resets that identity's counters and score,
 * so the same old evidence does not block it again at once. Every change is
 * an audit record.
 *
 * add, remove and unblock go through the control socket of a running `serve`
 * (state_dir/control.sock) when there is one, so the change is made by its
 * engine and takes effect at once. Otherwise, and for reading, these commands
 * open the state store directly: LMDB under state_dir/policy (safe across
 * processes), or with [gateway] state_store = redis the shared Redis, which
 * must answer. A running `serve` re-reads range blocks every two seconds, so
 * a direct change takes effect while it runs, on every node.
 */
#include "cli/cli.h"

#include "admin/blocks.h"
#include "admin/control.h"
#include "core/addr.h"
#include "core/clock.h"
#include "core/str.h"
#include "gateway/gwconf.h"
#include "gateway/gwstore.h"
#include "policy/engine.h"
#include "policy/store.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char cli_block_help[] =
    "usage: relayguard block [OPTIONS] list\n"
    "       relayguard block [OPTIONS] show IDENTITY\n"
    "       relayguard block [OPTIONS] add IDENTITY [--reason TEXT] [--expires DURATION]\n"
    "       relayguard block [OPTIONS] remove IDENTITY [--reason TEXT]\n"
    "       relayguard block [OPTIONS] audit\n"
    "       relayguard unblock [OPTIONS] IDENTITY [--reason TEXT]\n"
    "\n"
    "Lists, shows, adds and lifts blocks. A block holds an identity's mail; it\n"
    "never drops it. Lifting a block (remove, unblock) resumes sending and resets\n"
    "the identity's counters and score; do it once the password is changed or the\n"
    "machine is cleaned.\n"
    "\n"
    "With a relayguard serve running on the same state directory, add, remove\n"
    "and unblock go through its control socket (state_dir/control.sock) and take\n"
    "effect at once; otherwise they change the state store directly.\n"
    "\n"
    "IDENTITY is an account (sam@example.com, or user:NAME), an IP address\n"
    "(192.0.2.7; IPv6 addresses stand for their /64), a range (198.51.100.0/24),\n"
    "or a sender domain (domain:example.com).\n"
    "\n"
    "Options:\n"
    "  --config FILE      the gateway configuration: its state_dir, or its Redis\n"
    "                     with state_store = redis\n"
    "  --state DIR        the state directory instead (default ./var)\n"
    "  --reason TEXT      why (kept in the block and the audit trail)\n"
    "  --expires DURATION add: lift by itself after this long (30m, 12h, 7d;\n"
    "                     default: until a person lifts it)\n"
    "  --actor NAME       who is acting (default: $SUDO_USER, $USER)\n"
    "  --json             one JSON document\n"
    "  -h, --help         this text\n"
    "\n"
    "Exit status: 0 done, 1 show: no such block, 2 usage or store error.\n";

struct cli_block_opts {
	const char *config;
	const char *state;
	const char *reason;
	const char *actor;
	uint64_t expires_ms;
	bool json;
};

/* One line of `block list`, from the shared JSON form (admin/blocks). */
static void cli_block_print(const json_t *b)
{
	const json_t *exp = json_object_get(b, "expires");
	printf("%-40s %-22s %-20s %-20s %s\n", json_string_value(json_object_get(b, "identity")),
	       json_string_value(json_object_get(b, "rule")),
	       json_string_value(json_object_get(b, "created")),
	       json_is_string(exp) ? json_string_value(exp) : "until lifted",
	       json_string_value(json_object_get(b, "reason")));
}

/* The audit records as text; with identity, without that column. */
static void cli_block_print_audit(const json_t *arr, bool with_identity)
{
	size_t i;
	const json_t *a;
	json_array_foreach(arr, i, a)
	{
		const char *t = json_string_value(json_object_get(a, "time"));
		const char *action = json_string_value(json_object_get(a, "action"));
		const char *actor = json_string_value(json_object_get(a, "actor"));
		const char *reason = json_string_value(json_object_get(a, "reason"));
		if (with_identity)
			printf("%s  %-8s %-16s %-40s %s\n", t, action, actor,
			       json_string_value(json_object_get(a, "identity")), reason);
		else
			printf("  %s  %-8s by %s: %s\n", t, action, actor, reason);
	}
}

/* add, remove, unblock through a running server's control socket. 0 done (*rc
 * set), 1 no server runs there (use the store directly). */
static int cli_block_control(const char *cmd, const char *verb, const char *arg,
			     const struct cli_block_opts *o, const char *state, const char *actor,
			     int *rc)
{
	char path[600], ident[POL_IDENT_MAX], err[300];
	if (str_format(path, sizeof path, "%s/control.sock", state) != 0 ||
	    blocks_identity(arg, ident, sizeof ident) != 0)
		return 1; /* the direct path says what is wrong */
	bool add = strcmp(verb, "add") == 0;
	json_t *req = json_pack("{s:s, s:s, s:s, s:s?, s:I}", "cmd", add ? "block" : "unblock",
				"identity", ident, "actor", actor, "reason", o->reason,
				"expires_in_ms", (json_int_t)(add ? o->expires_ms : 0));
	json_t *reply = NULL;
	int r = req ? control_call(path, req, 10000, &reply, err, sizeof err) : -1;
	json_decref(req);
	if (r == 1)
		return 1;
	*rc = CLI_EXIT_USAGE;
	if (r < 0) {
		cli_error(cmd, "the running server: %s", req ? err : "out of memory");
		return 0;
	}
	const char *norm = json_string_value(json_object_get(reply, "identity"));
	const char *result = json_string_value(json_object_get(reply, "result"));
	if (!json_is_true(json_object_get(reply, "ok")) || !norm || !result) {
		const char *e = json_string_value(json_object_get(reply, "error"));
		cli_error(cmd, "the running server: %s", e ? e : "refused");
		json_decref(reply);
		return 0;
	}
	if (o->json)
		cli_print_json(json_pack(
		    "{s:s, s:s, s:s}", "identity", norm, "result",
		    strcmp(result, "not_blocked") == 0 ? "not blocked; counters reset" : result,
		    "via", "server"));
	else if (add)
		printf("blocked %s%s%s\n", norm, o->reason ? ": " : "", o->reason ? o->reason : "");
	else if (strcmp(result, "unblocked") == 0)
		printf("unblocked %s: sending resumes; its counters and score were reset\n", norm);
	else
		printf("%s was not blocked; its counters and score were reset\n", norm);
	json_decref(reply);
	*rc = CLI_EXIT_OK;
	return 0;
}

static const char *cli_block_actor(const struct cli_block_opts *o)
{
	const char *actor = o->actor ? o->actor : getenv("SUDO_USER");
	if (!actor || !*actor)
		actor = getenv("USER");
	if (!actor || !*actor)
		actor = "admin";
	return actor;
}

static int cli_block_run(const char *cmd, const char *verb, const char *arg,
			 const struct cli_block_opts *o)
{
	char err[512], dir[600], state[512];
	if (str_copy(state, sizeof state, o->state ? o->state : "./var") != 0) {
		cli_error(cmd, "state directory name too long");
		return CLI_EXIT_USAGE;
	}
	struct gw_config *c = NULL;
	const char *config = o->state ? o->config : cli_config_path(o->config);
	if (config) {
		c = malloc(sizeof *c);
		if (!c || gwconf_load(c, config, err, sizeof err) != 0) {
			cli_error(cmd, "%s", c ? err : "out of memory");
			free(c);
			return CLI_EXIT_USAGE;
		}
		if (!o->state)
			str_copy(state, sizeof state, c->state_dir); /* same size */
	}
	/* A running server does changes itself (range blocks apply at once). */
	bool change = strcmp(verb, "add") == 0 || strcmp(verb, "remove") == 0 ||
		      strcmp(verb, "unblock") == 0;
	int crc;
	if (change && cli_block_control(cmd, verb, arg, o, state, cli_block_actor(o), &crc) == 0) {
		if (c)
			gwconf_free(c);
		free(c);
		return crc;
	}
	/* Shared state: straight to Redis, and an error when it does not answer (an
	 * unblock made in one node's local state would not reach the others). */
	struct store *st = NULL;
	if (c && !o->state && strcmp(c->state_store, "redis") == 0) {
		st = gwstore_open(c, NULL, true, err, sizeof err);
		if (!st) {
			cli_error(cmd, "%s", err);
			gwconf_free(c);
			free(c);
			return CLI_EXIT_USAGE;
		}
	}
	str_format(dir, sizeof dir, "%s/policy", state);
	struct pol_config *pc = malloc(sizeof *pc);
	if (!pc || (c ? (memcpy(pc, &c->policy, sizeof *pc), 0)
		      : pol_config_defaults(pc, err, sizeof err)) != 0) {
		cli_error(cmd, "%s", pc ? err : "out of memory");
		free(pc);
		if (st)
			st->close(st);
		if (c)
			gwconf_free(c);
		free(c);
		return CLI_EXIT_USAGE;
	}
	if (c)
		gwconf_free(c);
	free(c);
	int rc = CLI_EXIT_USAGE;
	struct pol_engine *e = NULL;
	/* Reading makes no new store: a missing directory is the wrong place
	 * (another --config), not "no blocks". */
	bool reading = strcmp(verb, "list") == 0 || strcmp(verb, "show") == 0 ||
		       strcmp(verb, "audit") == 0;
	if (!st && reading && cli_need_state(cmd, dir, config) != 0)
		goto out;
	if (!st && !reading) {
		char parent[600];
		str_copy(parent, sizeof parent, state);
		mkdir(parent, 0750);
		mkdir(dir, 0750);
	}
	if (!st)
		st = store_lmdb_open(dir, 0, err, sizeof err);
	if (!st) {
		cli_error(cmd, "%s", err);
		goto out;
	}
	e = pol_engine_new(pc, st);
	if (!e) {
		cli_error(cmd, "out of memory");
		goto out;
	}
	clock_update();
	int64_t now = clock_realtime_ms();
	const char *actor = cli_block_actor(o);
	char ident[POL_IDENT_MAX], norm[POL_IDENT_MAX];
	if (arg && (blocks_identity(arg, ident, sizeof ident) != 0 ||
		    pol_engine_normalize(e, ident, norm, sizeof norm) != 0)) {
		cli_error(cmd,
			  "'%s' is not an identity: give an account, an IP, a CIDR range or "
			  "domain:NAME",
			  arg);
		goto out;
	}
	if (strcmp(verb, "list") == 0 || strcmp(verb, "audit") == 0) {
		bool list = strcmp(verb, "list") == 0;
		json_t *doc = list ? blocks_list(st) : blocks_audit(st, NULL);
		if (!doc) {
			cli_error(cmd, "cannot read the %s", list ? "blocks" : "audit trail");
			goto out;
		}
		if (o->json) {
			cli_print_json(list ? doc : json_pack("{s:o}", "audit", doc));
		} else if (list) {
			json_t *arr = json_object_get(doc, "blocks");
			printf("%-40s %-22s %-20s %-20s %s\n", "IDENTITY", "RULE", "SINCE", "EXPIRES",
			       "REASON");
			size_t i;
			json_t *b;
			json_array_foreach(arr, i, b) cli_block_print(b);
			size_t n = json_array_size(arr);
			printf("%zu block%s\n", n, n == 1 ? "" : "s");
			json_decref(doc);
		} else {
			cli_block_print_audit(doc, true);
			json_decref(doc);
		}
		rc = CLI_EXIT_OK;
	} else if (strcmp(verb, "show") == 0) {
		struct store_block b;
		int got = st->block_get(st, norm, &b);
		json_t *hist = got < 0 ? NULL : blocks_audit(st, norm);
		if (!hist) {
			cli_error(cmd, "cannot read the store");
			goto out;
		}
		rc = got ? CLI_EXIT_OK : CLI_EXIT_FOUND;
		if (o->json) {
			json_t *doc = got ? blocks_json(&b) : json_pack("{s:s}", "identity", norm);
			json_object_set_new(doc, "blocked", json_boolean(got == 1));
			json_object_set_new(doc, "history", hist);
			cli_print_json(doc);
			goto out;
		}
		if (!got) {
			printf("no block for %s\nhistory:\n", norm);
			cli_block_print_audit(hist, false);
			json_decref(hist);
			goto out;
		}
		char created[40], expires[40] = "until a person lifts it";
		clock_format_rfc3339(b.created_ms, created, sizeof created);
		if (b.expires_ms)
			clock_format_rfc3339(b.expires_ms, expires, sizeof expires);
		printf("%s is blocked\n  since:    %s\n  expires:  %s\n  rule:     %s\n  reason:   "
		       "%s\n  earlier blocks: %u\n",
		       b.identity, created, expires, b.rule, b.reason, b.offences);
		for (uint32_t i = 0; i < b.n_evidence && i < STORE_EVIDENCE_MAX; i++)
			printf("  evidence: %s\n", b.evidence[i]);
		printf("history:\n");
		cli_block_print_audit(hist, false);
		json_decref(hist);
		printf("to resume sending once fixed: relayguard unblock %s --reason \"...\"\n",
		       arg);
	} else if (strcmp(verb, "add") == 0) {
		int64_t exp = o->expires_ms ? now + (int64_t)o->expires_ms : 0;
		if (pol_engine_block(e, ident, actor, o->reason, now, exp) != 0) {
			cli_error(cmd, "cannot write the block");
			goto out;
		}
		if (o->json)
			cli_print_json(json_pack("{s:s, s:s}", "identity", norm, "result", "blocked"));
		else
			printf("blocked %s%s%s\n", norm, o->reason ? ": " : "", o->reason ? o->reason : "");
		rc = CLI_EXIT_OK;
	} else { /* remove, unblock */
		enum blocks_unblock_result r =
		    blocks_unblock(e, arg, actor, o->reason, now, norm, sizeof norm);
		if (r < 0) {
			cli_error(cmd, "cannot lift the block");
			goto out;
		}
		if (o->json)
			cli_print_json(blocks_unblock_json(norm, r));
		else if (r == BLOCKS_LIFTED)
			printf("unblocked %s: sending resumes; its counters and score were reset\n",
			       norm);
		else
			printf("%s was not blocked; its counters and score were reset\n", norm);
		rc = CLI_EXIT_OK;
	}
out:
	pol_engine_free(e);
	if (st)
		st->close(st);
	free(pc);
	return rc;
}

static int cli_block_main(int argc, char **argv, bool unblock)
{
	const char *cmd = unblock ? "unblock" : "block";
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'}, {"state", required_argument, NULL, 's'},
	    {"reason", required_argument, NULL, 'r'}, {"expires", required_argument, NULL, 'e'},
	    {"actor", required_argument, NULL, 'a'},  {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0},
	};
	struct cli_block_opts o = {0};
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o.config = optarg;
			break;
		case 's':
			o.state = optarg;
			break;
		case 'r':
			o.reason = optarg;
			break;
		case 'a':
			o.actor = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 'e':
			if (str_to_duration_ms(optarg, 1000, &o.expires_ms) != 0 || !o.expires_ms) {
				cli_error(cmd, "--expires: expected a duration such as 30m, 12h or 7d");
				return CLI_EXIT_USAGE;
			}
			break;
		case 'h':
			cli_usage(stdout, cli_block_help);
			return CLI_EXIT_OK;
		default:
			fprintf(stderr, "relayguard %s --help shows the options\n", cmd);
			return CLI_EXIT_USAGE;
		}
	}
	const char *verb = unblock ? "unblock" : (optind < argc ? argv[optind++] : NULL);
	if (!verb) {
		cli_error(cmd, "say list, show, add, remove or audit; see --help");
		return CLI_EXIT_USAGE;
	}
	bool needs_arg = unblock || strcmp(verb, "show") == 0 || strcmp(verb, "add") == 0 ||
			 strcmp(verb, "remove") == 0;
	if (!needs_arg && strcmp(verb, "list") != 0 && strcmp(verb, "audit") != 0) {
		cli_error(cmd, "unknown action '%s'; see --help", verb);
		return CLI_EXIT_USAGE;
	}
	const char *arg = NULL;
	if (needs_arg) {
		if (optind >= argc) {
			cli_error(cmd, "%s needs an identity (account, IP, range or domain:NAME)", verb);
			return CLI_EXIT_USAGE;
		}
		arg = argv[optind++];
	}
	if (optind < argc) {
		cli_error(cmd, "unexpected argument '%s'", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	if (o.expires_ms && strcmp(verb, "add") != 0) {
		cli_error(cmd, "--expires goes with add");
		return CLI_EXIT_USAGE;
	}
	return cli_block_run(cmd, verb, arg, &o);
}

int cli_block(int argc, char **argv)
{
	return cli_block_main(argc, argv, false);
}

int cli_unblock(int argc, char **argv)
{
	return cli_block_main(argc, argv, true);
}
