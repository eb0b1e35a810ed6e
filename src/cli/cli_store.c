/*
 * relayguard store verify - checks the LMDB state store (state_dir/policy)
 * and, with --repair, mends it: counters and blocks environments that no
 * longer open or walk are moved aside and started afresh, blocks that do not
 * decode are deleted, and every block the audit trail says is in force but
 * the store lacks is written back from the trail. Counters are lossy by
 * design; blocks and the trail are synced on every commit (docs/policy.md).
 * Run --repair with the gateway stopped.
 */
#include "cli/cli.h"

#include "core/clock.h"
#include "core/str.h"
#include "gateway/gwconf.h"
#include "policy/store.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char cli_store_help[] =
    "usage: relayguard store verify [--config FILE | --state DIR] [--repair] [--json]\n"
    "\n"
    "Checks the policy state store (LMDB, under state_dir/policy): the counters,\n"
    "the blocks and the audit trail open and every record reads back, and every\n"
    "block the audit trail says is in force is in the store.\n"
    "\n"
    "Options:\n"
    "  --config FILE   the gateway configuration (its state_dir, state_map_size)\n"
    "  --state DIR     the state directory instead (default ./var)\n"
    "  --repair        move broken environments aside (NAME.broken-TIME) and start\n"
    "                  them afresh, delete blocks that do not read back, and rebuild\n"
    "                  missing blocks from the audit trail (stop the gateway first)\n"
    "  --json          one JSON document on stdout\n"
    "\n"
    "Exit: 0 the store is sound (or was repaired), 1 problems found (none\n"
    "left unrepaired with --repair: 0), 2 usage or a store that cannot be read,\n"
    "3 the audit trail itself is unreadable.\n";

int cli_store(int argc, char **argv)
{
	const char *cmd = "store", *config = NULL, *state = NULL;
	bool repair = false, json = false;
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'}, {"state", required_argument, NULL, 's'},
	    {"repair", no_argument, NULL, 'r'},       {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 's':
			state = optarg;
			break;
		case 'r':
			repair = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			cli_usage(stdout, cli_store_help);
			return CLI_EXIT_OK;
		default:
			cli_usage(stderr, cli_store_help);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || strcmp(argv[optind], "verify") != 0) {
		cli_usage(stderr, cli_store_help);
		return CLI_EXIT_USAGE;
	}
	char err[512], dir[600];
	size_t map = 0;
	struct gw_config *c = NULL;
	if (config) {
		c = malloc(sizeof *c);
		if (!c || gwconf_load(c, config, err, sizeof err) != 0) {
			cli_error(cmd, "%s", c ? err : "out of memory");
			free(c);
			return CLI_EXIT_USAGE;
		}
		map = (size_t)c->state_map_size;
	}
	int f = str_format(dir, sizeof dir, "%s/policy",
	                   state ? state
	                   : c   ? c->state_dir
	                         : "./var");
	if (c)
		gwconf_free(c);
	free(c);
	if (f != 0) {
		cli_error(cmd, "state directory name too long");
		return CLI_EXIT_USAGE;
	}
	struct store_lmdb_check k;
	if (store_lmdb_verify(dir, map, repair, clock_realtime_ms(), &k, err, sizeof err) != 0) {
		cli_error(cmd, "%s", err);
		return CLI_EXIT_USAGE;
	}
	bool found = k.bad_blocks || k.bad_audits || k.missing || k.blocks_broken ||
	             k.counters_broken || k.audit_broken;
	bool left = k.audit_broken || (k.blocks_broken && !k.blocks_reset) ||
	            (k.counters_broken && !k.counters_reset) || k.rebuilt < k.missing ||
	            (!repair && k.bad_blocks);
	if (json) {
		cli_print_json(json_pack(
		    "{s:s, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:{s:b, s:b}, s:{s:b, s:b}, "
		    "s:{s:b}, s:s?}",
		    "store", dir, "ok", !found, "repaired", repair && found && !left, "blocks",
		    (json_int_t)k.blocks, "audit_records", (json_int_t)k.audits, "bad_blocks",
		    (json_int_t)k.bad_blocks, "bad_audit_records", (json_int_t)k.bad_audits,
		    "missing_blocks", (json_int_t)k.missing, "rebuilt_blocks",
		    (json_int_t)k.rebuilt, "counters", "broken", k.counters_broken, "reset",
		    k.counters_reset, "blocks_env", "broken", k.blocks_broken, "reset",
		    k.blocks_reset, "audit", "broken", k.audit_broken, "problem",
		    k.problem[0] ? k.problem : NULL));
	} else {
		printf("%s: %lu blocks, %lu audit records\n", dir, k.blocks, k.audits);
		if (k.counters_broken)
			printf("counters: unreadable%s\n",
			       k.counters_reset ? ", moved aside and started afresh" : "");
		if (k.blocks_broken)
			printf("blocks: unreadable%s\n",
			       k.blocks_reset ? ", moved aside and started afresh" : "");
		if (k.bad_blocks)
			printf("blocks that do not read back: %lu%s\n", k.bad_blocks,
			       repair ? " (deleted)" : "");
		if (k.missing)
			printf(
			    "blocks in force by the audit trail but missing: %lu (rebuilt %lu)\n",
			    k.missing, k.rebuilt);
		if (k.bad_audits)
			printf("audit records that do not read back: %lu\n", k.bad_audits);
		if (k.audit_broken)
			printf("audit trail: unreadable, nothing to rebuild from\n");
		if (k.problem[0])
			printf("first problem: %s\n", k.problem);
		printf("%s\n", !found ? "ok" : left ? "problems left" : "repaired");
	}
	if (k.audit_broken)
		return CLI_EXIT_INCOMPLETE;
	return found && (left || !repair) ? CLI_EXIT_FOUND : CLI_EXIT_OK;
}
