/*
 * relayguard block | unblock - blocks are objects with reasons (DESIGN.md):
 * list them, show one with its evidence and history, add one by hand, lift
 * one. Lifting resumes sending and resets that identity's counters and score,
 * so the same old evidence does not block it again at once. Every change is
 * an audit record.
 *
 * add, remove and unblock are requests of the control API (admin/ctlapi): to
 * a running `serve` through state_dir/control.sock, so its engine makes the
 * change and it takes effect at once; with no server running, through the
 * same dispatch on the store opened here. Reading opens the state store
 * directly: LMDB under state_dir/policy (safe across processes), or with
 * [gateway] state_store = redis the shared Redis, which must answer. A
 * directory with no state is an error (exit 2), never "no blocks".
 */
#include "cli/cli.h"

#include "admin/blocks.h"
#include "admin/ctlapi.h"
#include "cli/cli_ctl.h"
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
    "       relayguard resume [OPTIONS] sender ADDRESS [--reason TEXT]\n"
    "       relayguard resume [OPTIONS] relay IP [--reason TEXT]\n"
    "       relayguard resume [OPTIONS] range CIDR [--reason TEXT]\n"
    "\n"
    "Lists, shows, adds and lifts blocks. A block holds an identity's mail; it\n"
    "never drops it. Lifting a block (remove, unblock) resumes sending and resets\n"
    "the identity's counters and score; do it once the password is changed or the\n"
    "machine is cleaned.\n"
    "\n"
    "With a relayguard serve running on the same state directory, add, remove\n"
    "and unblock are requests to it through its control socket\n"
    "(state_dir/control.sock) and take effect at once; otherwise they change the\n"
    "state store here, the same way.\n"
    "\n"
    "resume is unblock for one kind of identity, as behind the organisation's own\n"
    "mail server (docs/deploy-smarthost.md): sender unblocks one mailbox, relay\n"
    "re-authorises the trusted IP relay (the server itself), range lifts a range\n"
    "exclusion. Each also releases the mail the policy held for exactly that\n"
    "identity; mail held for any other stays held.\n"
    "\n"
    "IDENTITY is an account (sam@example.com, or user:NAME), an IP address\n"
    "(192.0.2.7; IPv6 addresses stand for their /64), a range (198.51.100.0/24),\n"
    "or a sender domain (domain:example.com). Accounts and domains are taken in\n"
    "their canonical form: any case, IDN in U- or A-labels, a trailing dot or not\n"
    "name the same identity (SAM@Corp.Example. is user:sam@corp.example).\n"
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
    "Exit status: 0 done, 1 show: no such block, 2 usage or store error, or no\n"
    "state store where it looks (never \"no blocks\").\n";

struct cli_block_opts {
	struct cli_admin_opts a;
	uint64_t expires_ms;
	bool verb_list; /* list rather than audit */
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

/* The state store for reading (LMDB under state_dir/policy is safe beside a
 * running server; Redis with state_store = redis). NULL after saying why. */
static struct store *cli_block_store(const char *cmd, const struct cli_ctl_where *w)
{
	char err[512], dir[600];
	if (w->redis) {
		struct store *st = gwstore_open(w->c, NULL, true, err, sizeof err);
		if (!st)
			cli_error(cmd, "%s", err);
		return st;
	}
	if (str_format(dir, sizeof dir, "%s/policy", w->state) != 0) {
		cli_error(cmd, "state directory name too long");
		return NULL;
	}
	if (access(dir, F_OK) != 0) {
		(void)cli_ctl_no_state(cmd, "state store", dir);
		return NULL;
	}
	struct store *st = store_lmdb_open(dir, 0, err, sizeof err);
	if (!st)
		cli_error(cmd, "%s", err);
	return st;
}

struct cli_block_ctx {
	const char *cmd, *arg;
	const struct cli_block_opts *o;
	struct store *st;
	struct pol_engine *e;
	const char *norm; /* the canonical identity of arg */
};

static int cli_block_list(struct cli_block_ctx *x)
{
	bool list = x->o->verb_list;
	json_t *doc = list ? blocks_list(x->st) : blocks_audit(x->st, NULL);
	if (!doc) {
		cli_error(x->cmd, "cannot read the %s", list ? "blocks" : "audit trail");
		return CLI_EXIT_USAGE;
	}
	if (x->o->a.json) {
		cli_print_json(list ? doc : json_pack("{s:o}", "audit", doc));
		return CLI_EXIT_OK;
	}
	if (list) {
		json_t *arr = json_object_get(doc, "blocks");
		printf("%-40s %-22s %-20s %-20s %s\n", "IDENTITY", "RULE", "SINCE", "EXPIRES",
		       "REASON");
		size_t i;
		json_t *b;
		json_array_foreach(arr, i, b) cli_block_print(b);
		size_t n = json_array_size(arr);
		printf("%zu block%s\n", n, n == 1 ? "" : "s");
	} else {
		cli_block_print_audit(doc, true);
	}
	json_decref(doc);
	return CLI_EXIT_OK;
}

static int cli_block_show(struct cli_block_ctx *x)
{
	struct store_block b;
	int got = x->st->block_get(x->st, x->norm, &b);
	json_t *hist = got < 0 ? NULL : blocks_audit(x->st, x->norm);
	if (!hist) {
		cli_error(x->cmd, "cannot read the store");
		return CLI_EXIT_USAGE;
	}
	int rc = got ? CLI_EXIT_OK : CLI_EXIT_FOUND;
	if (x->o->a.json) {
		json_t *doc = got ? blocks_json(&b) : json_pack("{s:s}", "identity", x->norm);
		json_object_set_new(doc, "blocked", json_boolean(got == 1));
		json_object_set_new(doc, "history", hist);
		cli_print_json(doc);
		return rc;
	}
	if (!got) {
		printf("no block for %s\nhistory:\n", x->norm);
		cli_block_print_audit(hist, false);
		json_decref(hist);
		return rc;
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
	printf("to resume sending once fixed: relayguard unblock %s --reason \"...\"\n", x->arg);
	return rc;
}

/* add, remove, unblock: a request of the control API (cli_ctl). */
static int cli_block_change(const char *cmd, const char *verb, const char *arg,
                            const struct cli_block_opts *o)
{
	bool add = strcmp(verb, "add") == 0;
	const char *kind = strcmp(cmd, "resume") == 0 ? verb : NULL;
	json_t *req = ctlapi_request(add    ? "block"
	                             : kind ? "resume"
	                                    : "unblock",
	                             cli_ctl_actor(o->a.actor), o->a.reason);
	if (req) {
		json_object_set_new(req, "identity", json_string(arg));
		if (kind)
			json_object_set_new(req, "kind", json_string(kind));
		if (add && o->expires_ms)
			json_object_set_new(req, "expires_in_ms",
			                    json_integer((json_int_t)o->expires_ms));
	}
	struct cli_ctl where = {cmd, o->a.config, o->a.state, NULL};
	json_t *reply;
	if (cli_ctl_request(&where, req, CLI_CTL_STORE | (kind ? CLI_CTL_QUEUE : 0), &reply) != 0)
		return CLI_EXIT_USAGE;
	const char *norm = json_string_value(json_object_get(reply, "identity"));
	const char *result = json_string_value(json_object_get(reply, "result"));
	if (!norm || !result) {
		json_decref(reply);
		cli_error(cmd, "the answer names no identity");
		return CLI_EXIT_USAGE;
	}
	if (o->a.json) {
		cli_print_json(cli_ctl_doc(json_incref(reply)));
	} else if (kind) {
		json_int_t n = json_integer_value(json_object_get(reply, "released"));
		printf("%s %s: %s; %lld held message%s released\n", kind, norm,
		       strcmp(result, "resumed") == 0 ? "sending resumes, its counters were reset"
		                                      : "was not blocked, its counters were reset",
		       (long long)n, n == 1 ? "" : "s");
	} else if (add) {
		printf("blocked %s%s%s\n", norm, o->a.reason ? ": " : "",
		       o->a.reason ? o->a.reason : "");
	} else if (strcmp(result, "unblocked") == 0) {
		printf("unblocked %s: sending resumes; its counters and score were reset\n", norm);
	} else {
		printf("%s was not blocked; its counters and score were reset\n", norm);
	}
	json_decref(reply);
	return CLI_EXIT_OK;
}

/* The verbs: reading ones open the store (safe beside a server), the others are
 * requests of the control API. */
static const struct cli_block_verb {
	const char *name;
	bool needs_arg, change, list;
	int (*read)(struct cli_block_ctx *x);
	bool resume; /* a kind of `relayguard resume`, and only that */
} cli_block_verbs[] = {
    {"list", false, false, true, cli_block_list, false},
    {"audit", false, false, false, cli_block_list, false},
    {"show", true, false, false, cli_block_show, false},
    {"add", true, true, false, NULL, false},
    {"remove", true, true, false, NULL, false},
    {"unblock", true, true, false, NULL, false},
    {"sender", true, true, false, NULL, true},
    {"relay", true, true, false, NULL, true},
    {"range", true, true, false, NULL, true},
};

static const struct cli_block_verb *cli_block_verb(const char *name)
{
	for (size_t i = 0; i < sizeof cli_block_verbs / sizeof cli_block_verbs[0]; i++)
		if (strcmp(cli_block_verbs[i].name, name) == 0)
			return &cli_block_verbs[i];
	return NULL;
}

static int cli_block_run(const char *cmd, const struct cli_block_verb *v, const char *arg,
                         struct cli_block_opts *o)
{
	if (v->change)
		return cli_block_change(cmd, v->name, arg, o);
	o->verb_list = v->list;
	struct cli_ctl where = {cmd, o->a.config, o->a.state, NULL};
	struct cli_ctl_where w;
	if (cli_ctl_where(&where, &w) != 0)
		return CLI_EXIT_USAGE;
	struct cli_block_ctx x = {.cmd = cmd, .arg = arg, .o = o};
	char norm[POL_IDENT_MAX], ident[POL_IDENT_MAX];
	int rc = CLI_EXIT_USAGE;
	x.st = cli_block_store(cmd, &w);
	x.e = x.st ? pol_engine_new(&w.c->policy, x.st) : NULL;
	if (x.st && !x.e)
		cli_error(cmd, "out of memory");
	else if (x.e && arg &&
	         (blocks_identity(arg, ident, sizeof ident) != 0 ||
	          pol_engine_normalize(x.e, ident, norm, sizeof norm) != 0))
		cli_error(cmd,
		          "'%s' is not an identity: give an account, an IP, a CIDR range or "
		          "domain:NAME",
		          arg);
	else if (x.e) {
		x.norm = norm;
		rc = v->read(&x);
	}
	pol_engine_free(x.e);
	if (x.st)
		x.st->close(x.st);
	cli_ctl_where_free(&w);
	return rc;
}

static int cli_block_main(int argc, char **argv, const char *cmd)
{
	bool unblock = strcmp(cmd, "unblock") == 0, resume = strcmp(cmd, "resume") == 0;
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'}, {"state", required_argument, NULL, 'S'},
	    {"reason", required_argument, NULL, 'r'}, {"expires", required_argument, NULL, 'e'},
	    {"actor", required_argument, NULL, 'a'},  {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	struct cli_block_opts o = {0};
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (cli_admin_opt(&o.a, ch, optarg))
			continue;
		switch (ch) {
		case 'e':
			if (str_to_duration_ms(optarg, 1000, &o.expires_ms) != 0 || !o.expires_ms) {
				cli_error(cmd,
				          "--expires: expected a duration such as 30m, 12h or 7d");
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
		cli_error(cmd, resume ? "say sender, relay or range; see --help"
		                      : "say list, show, add, remove or audit; see --help");
		return CLI_EXIT_USAGE;
	}
	const struct cli_block_verb *v = cli_block_verb(verb);
	if (!v || (!unblock && strcmp(verb, "unblock") == 0) || v->resume != resume) {
		cli_error(cmd, "unknown action '%s'; see --help", verb);
		return CLI_EXIT_USAGE;
	}
	const char *arg = NULL;
	if (v->needs_arg) {
		if (optind >= argc) {
			cli_error(cmd, "%s needs an identity (account, IP, range or domain:NAME)",
			          verb);
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
	return cli_block_run(cmd, v, arg, &o);
}

int cli_block(int argc, char **argv)
{
	return cli_block_main(argc, argv, "block");
}

int cli_unblock(int argc, char **argv)
{
	return cli_block_main(argc, argv, "unblock");
}

int cli_resume(int argc, char **argv)
{
	return cli_block_main(argc, argv, "resume");
}
