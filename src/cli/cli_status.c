/*
 * relayguard status - what the gateway is holding and why, on one page:
 * the queue (active, deferred, held, bytes, oldest), the held messages, the
 * blocks in force, and the sending limits in force. The same JSON is served
 * as GET /api/status. Keys: docs/queue.md ("status --json").
 *
 * Reads only: the spool is opened shared and the policy store read-only, so
 * it is safe while `serve` runs.
 */
#include "cli/cli.h"

#include "core/clock.h"
#include "core/str.h"
#include "gateway/gwconf.h"
#include "policy/config.h"
#include "policy/store.h"
#include "queue/queue.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char cli_status_help[] =
    "usage: relayguard status [--json] [--config FILE] [--spool DIR] [--state DIR]\n"
    "\n"
    "What the gateway holds and why: the queue (active, deferred, held, bytes,\n"
    "oldest message), every held message with its reason, every block in force,\n"
    "and the sending limits in force (defaults, then per domain and per user).\n"
    "Safe while `relayguard serve` runs.\n"
    "\n"
    "Options:\n"
    "  --config FILE    the gateway configuration (spool_dir, state_dir, limits;\n"
    "                   default: the embedded defaults)\n"
    "  --spool DIR      the spool directory instead of the config's\n"
    "  --state DIR      the state directory (blocks) instead of the config's\n"
    "  --json           one JSON document (keys in docs/queue.md)\n"
    "  -h, --help       this text\n"
    "\n"
    "Exit status: 0 done, 2 usage, config or store error.\n";

struct cli_status {
	json_t *holds, *blocks;
	bool json;
};

static int cli_status_hold_cb(void *arg, const struct queue_envelope *env)
{
	struct cli_status *s = arg;
	json_array_append_new(s->holds, cli_hold_entry_json(env, false));
	return 0;
}

static int cli_status_block_cb(void *arg, const struct store_block *b)
{
	struct cli_status *s = arg;
	json_array_append_new(s->blocks, cli_block_json(b));
	return 0;
}

/* A limits object: every limit given (all of them for the defaults), null
 * for "no limit". */
static json_t *cli_status_limits(const struct pol_limits *l, bool all)
{
	json_t *o = json_object();
	for (int i = 0; i < POL_LIM_N; i++) {
		if (!all && !(l->set & (1u << i)))
			continue;
		json_object_set_new(o, pol_config_limit_name((enum pol_limit_id)i),
		                    l->max[i] ? json_integer(l->max[i]) : json_null());
	}
	if (all || (l->set & (1u << POL_LIM_N)))
		json_object_set_new(o, "strict", json_boolean(l->strict));
	return o;
}

static json_t *cli_status_limits_doc(const struct pol_config *pc)
{
	json_t *d = json_object(), *u = json_object();
	for (size_t i = 0; i < pc->n_domains; i++)
		json_object_set_new(d, pc->domains[i].name,
		                    cli_status_limits(&pc->domains[i].lim, false));
	for (size_t i = 0; i < pc->n_users; i++)
		json_object_set_new(u, pc->users[i].name,
		                    cli_status_limits(&pc->users[i].lim, false));
	return json_pack("{s:o, s:o, s:o}", "default", cli_status_limits(&pc->limits, true),
	                 "domains", d, "users", u);
}

static json_t *cli_status_time(uint64_t ms)
{
	char t[40];
	if (!ms || clock_format_rfc3339((int64_t)ms, t, sizeof t) < 0)
		return json_null();
	return json_string(t);
}

static void cli_status_print_text(json_t *doc)
{
	json_t *q = json_object_get(doc, "queue");
	const char *oldest = json_string_value(json_object_get(q, "oldest_arrival"));
	printf("queue %s: %" JSON_INTEGER_FORMAT " active (%" JSON_INTEGER_FORMAT
	       " deferred), %" JSON_INTEGER_FORMAT " held, %" JSON_INTEGER_FORMAT " bytes%s%s\n",
	       json_string_value(json_object_get(q, "spool")),
	       json_integer_value(json_object_get(q, "active")),
	       json_integer_value(json_object_get(q, "deferred")),
	       json_integer_value(json_object_get(q, "held")),
	       json_integer_value(json_object_get(q, "bytes")), oldest ? ", oldest " : "",
	       oldest ? oldest : "");
	size_t i;
	json_t *v;
	json_t *holds = json_object_get(doc, "holds");
	printf("\nheld messages: %zu\n", json_array_size(holds));
	json_array_foreach(holds, i, v)
	{
		const char *sender = json_string_value(json_object_get(v, "sender"));
		printf("  %s  %s  <%s>  %s\n", json_string_value(json_object_get(v, "id")),
		       json_string_value(json_object_get(v, "arrival")), sender ? sender : "",
		       json_string_value(json_object_get(v, "reason")));
	}
	json_t *blocks = json_object_get(doc, "blocks");
	printf("\nblocks: %zu\n", json_array_size(blocks));
	json_array_foreach(blocks, i, v)
	{
		printf("  %s  %s  since %s: %s\n",
		       json_string_value(json_object_get(v, "identity")),
		       json_string_value(json_object_get(v, "rule")),
		       json_string_value(json_object_get(v, "created")),
		       json_string_value(json_object_get(v, "reason")));
	}
	json_t *lim = json_object_get(doc, "limits");
	const char *scope;
	json_t *set;
	printf("\nlimits in force (%s):\n", json_string_value(json_object_get(doc, "config")));
	printf("  default:");
	const char *k;
	json_object_foreach(json_object_get(lim, "default"), k, v)
	{
		if (json_is_integer(v))
			printf(" %s=%" JSON_INTEGER_FORMAT, k, json_integer_value(v));
		else if (json_is_true(v))
			printf(" %s", k);
	}
	printf("\n");
	const char *kinds[] = {"domains", "users"};
	for (int n = 0; n < 2; n++)
		json_object_foreach(json_object_get(lim, kinds[n]), scope, set)
		{
			printf("  %s %s:", n == 0 ? "domain" : "user", scope);
			json_object_foreach(set, k, v)
			{
				if (json_is_integer(v))
					printf(" %s=%" JSON_INTEGER_FORMAT, k,
					       json_integer_value(v));
				else if (json_is_null(v))
					printf(" %s=none", k);
			}
			printf("\n");
		}
}

int cli_status(int argc, char **argv)
{
	const char *cmd = "status";
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'}, {"spool", required_argument, NULL, 's'},
	    {"state", required_argument, NULL, 't'},  {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *spool = NULL, *state = NULL;
	bool json = false;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 's':
			spool = optarg;
			break;
		case 't':
			state = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			cli_usage(stdout, cli_status_help);
			return CLI_EXIT_OK;
		default:
			fprintf(stderr, "relayguard status --help shows the options\n");
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		cli_error(cmd, "unexpected argument '%s'", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	char err[512], spool_dir[1024], store_dir[1100];
	struct gw_config *c = malloc(sizeof *c);
	if (!c || gwconf_load(c, config, err, sizeof err) != 0) {
		cli_error(cmd, "%s", c ? err : "out of memory");
		free(c);
		return CLI_EXIT_USAGE;
	}
	int rc = CLI_EXIT_USAGE;
	struct queue *q = NULL;
	struct store *st = NULL;
	struct cli_status s = {.holds = json_array(), .blocks = json_array(), .json = json};
	json_t *doc = NULL;
	if (str_copy(spool_dir, sizeof spool_dir, spool ? spool : c->spool_dir) < 0 ||
	    str_format(store_dir, sizeof store_dir, "%s/policy", state ? state : c->state_dir) <
	        0) {
		cli_error(cmd, "directory name too long");
		goto out;
	}
	if (cli_spool_open(cmd, spool_dir, &q) < 0)
		goto out;
	struct queue_stats qs = {0};
	if (q) {
		queue_stats(q, &qs);
		if (queue_list(q, true, cli_status_hold_cb, &s) < 0)
			cli_error(cmd, "some queue entries could not be read");
	}
	/* A missing store directory is "no blocks" (nothing ever blocked). */
	if (access(store_dir, F_OK) == 0) {
		st = store_lmdb_open(store_dir, 0, err, sizeof err);
		if (!st) {
			cli_error(cmd, "%s", err);
			goto out;
		}
		if (st->block_iter(st, cli_status_block_cb, &s) < 0) {
			cli_error(cmd, "cannot read the blocks");
			goto out;
		}
	}
	doc = json_pack("{s:{s:s, s:I, s:I, s:I, s:I, s:o}, s:O, s:O, s:o, s:s}", "queue", "spool",
	                spool_dir, "active", (json_int_t)qs.active, "deferred",
	                (json_int_t)qs.deferred, "held", (json_int_t)qs.held, "bytes",
	                (json_int_t)qs.bytes, "oldest_arrival",
	                cli_status_time(qs.oldest_arrival_ms), "holds", s.holds, "blocks", s.blocks,
	                "limits", cli_status_limits_doc(&c->policy), "config", c->source);
	if (!doc) {
		cli_error(cmd, "out of memory");
		goto out;
	}
	if (json) {
		cli_print_json(doc);
		doc = NULL;
	} else {
		cli_status_print_text(doc);
	}
	rc = CLI_EXIT_OK;
out:
	json_decref(doc);
	json_decref(s.holds);
	json_decref(s.blocks);
	if (st)
		st->close(st);
	queue_close(q);
	gwconf_free(c);
	free(c);
	return rc;
}
