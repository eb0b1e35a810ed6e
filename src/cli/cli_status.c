/*
 * relayguard status - queue, holds, blocks and the limits in force: the same
 * document as GET /api/status (admin/status), read from the state store and
 * the spool on disk, so it works whether or not `serve` runs.
 */
#include "cli/cli.h"

#include "admin/status.h"
#include "core/clock.h"
#include "core/str.h"
#include "gateway/gwconf.h"
#include "policy/store.h"
#include "queue/queue.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char cli_status_help[] =
    "usage: relayguard status [--config FILE] [--json]\n"
    "\n"
    "Prints what the gateway holds right now: blocks in force (by kind and by\n"
    "rule), the queue (active, deferred, held, oldest), the held messages by the\n"
    "rule that held them, and the rate limits and\n"
    "login limits in force. The same document as GET /api/status on the admin\n"
    "web page. Reads the state store and the spool directly: `serve` need not run.\n"
    "\n"
    "  --config FILE   the gateway configuration (default: embedded defaults,\n"
    "                  state under ./var)\n"
    "  --json          one JSON document: {\"time\", \"blocks\": {\"active\", \"by_kind\",\n"
    "                  \"by_rule\"}, \"queue\", \"holds\": {\"count\", \"by_reason\":\n"
    "                  {RULE: N}}, \"limits\", \"overrides\", \"auth\"}; RULE is the\n"
    "                  policy rule of the hold (autoreply_repeat, forward_spam, ...),\n"
    "                  dsn_unverified or manual\n"
    "  -h, --help      this text\n"
    "\n"
    "Exit status: 0, or 2 when the configuration or the store cannot be read.\n";

int cli_status(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL;
	bool json = false;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:jh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
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
		cli_error("status", "unexpected argument '%s'", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	char err[512], dir[600];
	config = cli_config_path(config);
	struct gw_config *c = malloc(sizeof *c);
	if (!c || gwconf_load(c, config, err, sizeof err) != 0) {
		cli_error("status", "%s", c ? err : "out of memory");
		free(c);
		return CLI_EXIT_USAGE;
	}
	int rc = CLI_EXIT_USAGE;
	struct store *st = NULL;
	struct queue *q = NULL;
	if (str_format(dir, sizeof dir, "%s/policy", c->state_dir) != 0) {
		cli_error("status", "state_dir too long: %s", c->state_dir);
		goto out;
	}
	if (cli_need_state("status", dir, config) != 0)
		goto out;
	st = store_lmdb_open(dir, 0, err, sizeof err);
	if (!st) {
		cli_error("status", "%s", err);
		goto out;
	}
	struct queue_stats qs, *qp = NULL;
	if (access(c->spool_dir, F_OK) == 0) {
		struct queue_opts qo = {.fsync = true, .shared = true}; /* beside serve */
		if (queue_open(&q, c->spool_dir, NULL, &qo, err, sizeof err) != 0) {
			cli_error("status", "%s", err);
			goto out;
		}
		queue_stats(q, &qs);
		qp = &qs;
	}
	clock_update();
	json_t *doc = status_json(st, &c->policy, qp, clock_realtime_ms());
	if (!doc) {
		cli_error("status", "cannot read the state store");
		goto out;
	}
	if (q && status_add_holds(doc, q) != 0) {
		json_decref(doc);
		cli_error("status", "cannot list the held messages: %s", queue_error(q));
		goto out;
	}
	rc = CLI_EXIT_OK;
	if (json) {
		cli_print_json(doc);
		goto out;
	}
	json_t *b = json_object_get(doc, "blocks");
	printf("blocks:  %lld in force",
	       (long long)json_integer_value(json_object_get(b, "active")));
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(b, "by_rule"), k, v)
	    printf(", %lld %s", (long long)json_integer_value(v), k);
	printf("\n");
	if (qp)
		printf("queue:   %llu active (%llu deferred), %llu held, %llu bytes\n",
		       (unsigned long long)qs.active, (unsigned long long)qs.deferred,
		       (unsigned long long)qs.held, (unsigned long long)qs.bytes);
	else
		printf("queue:   none (no spool at %s)\n", c->spool_dir);
	if (qp && qs.held) {
		printf("holds:   %llu", (unsigned long long)qs.held);
		const char *sep = " (";
		json_object_foreach(json_object_get(json_object_get(doc, "holds"), "by_reason"), k,
		                    v)
		{
			printf("%s%lld %s", sep, (long long)json_integer_value(v), k);
			sep = ", ";
		}
		printf("%s\n", sep[0] == ',' ? ")" : "");
	}
	printf("limits: ");
	json_object_foreach(json_object_get(doc, "limits"), k, v)
	{
		if (json_is_integer(v))
			printf(" %s=%lld", k, (long long)json_integer_value(v));
	}
	printf("\n");
	json_decref(doc);
out:
	if (q)
		queue_close(q);
	if (st)
		st->close(st);
	gwconf_free(c);
	free(c);
	return rc;
}
