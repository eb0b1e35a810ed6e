/*
 * cli - shared pieces of the subcommands (one file per subcommand in src/cli/).
 *
 * Contract (../shared/CLI.md): every subcommand has --help; --json prints one
 * JSON document on stdout; errors go to stderr as "relayguard: CMD: what";
 * exit codes are the four below.
 */
#ifndef RG_CLI_CLI_H
#define RG_CLI_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum cli_exit {
	CLI_EXIT_OK = 0,         /* success, nothing found */
	CLI_EXIT_FOUND = 1,      /* something found: listed, suspect, open relay */
	CLI_EXIT_USAGE = 2,      /* usage, config or input error */
	CLI_EXIT_INCOMPLETE = 3, /* some lookups or inputs failed and nothing was found */
};

__attribute__((format(printf, 2, 3))) void cli_error(const char *cmd, const char *fmt, ...);
/* Prints doc on stdout followed by a newline, and releases it. 0 or -1. */
int cli_print_json(json_t *doc);
/* Prints text as the --help of a subcommand. */
void cli_usage(FILE *out, const char *text);

/* Subcommands: argv[0] is the subcommand name. Each is listed in main.c's table. */
int cli_block(int argc, char **argv);
int cli_check(int argc, char **argv);
int cli_checkconf(int argc, char **argv);
int cli_firewall(int argc, char **argv);
int cli_monitor(int argc, char **argv);
int cli_relaytest(int argc, char **argv);
int cli_serve(int argc, char **argv);
int cli_trace(int argc, char **argv);
int cli_unblock(int argc, char **argv);
int cli_user(int argc, char **argv);
int cli_bounce(int argc, char **argv);
int cli_hold(int argc, char **argv);
int cli_status(int argc, char **argv);

/* The spool directory: spool if given, else the config's spool_dir, else
 * ./var/spool. 0, or -1 after printing why. (cli_hold.c) */
int cli_spool_dir(const char *cmd, const char *config, const char *spool, char *out, size_t size);
struct queue;
struct queue_envelope;
/* Opens the spool shared (safe beside `serve`); *q stays NULL when there is
 * no spool yet. 0, or -1 after printing why. */
int cli_spool_open(const char *cmd, const char *dir, struct queue **q);
/* A queue entry as JSON (docs/queue.md); full adds the client, the state
 * and per-recipient results. */
json_t *cli_hold_entry_json(const struct queue_envelope *env, bool full);
struct store_block;
/* A block as JSON, as `relayguard block list --json` prints it. (cli_block.c) */
json_t *cli_block_json(const struct store_block *b);

#endif
