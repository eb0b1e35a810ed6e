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
/* The configuration a subcommand reads: its --config (given, may be NULL),
 * else the installed one when it exists, else NULL: the embedded defaults
 * (gwconf_path). */
const char *cli_config_path(const char *given);
/* 0 when dir (state or spool a reading command looks at) exists; else says
 * so, naming the configuration (NULL: the embedded defaults; "": none
 * named), and returns -1: the caller exits 2 rather than report an empty
 * world. */
int cli_need_state(const char *cmd, const char *dir, const char *config);
struct pol_config;
/* The policy sections of config: a policy-only file, or a gateway file (its
 * [limits], [user NAME], ... sections). 0, or -1 with err. */
int cli_load_policy(struct pol_config *out, const char *config, char *err, size_t errlen);

/* The options the admin commands (block, hold, queue) share: where the
 * server's state is and who acts, why, and JSON out. In each command's
 * getopt_long table: --config 'c', --state 'S', --spool 's', --reason 'r',
 * --actor 'a', --json 'j'. */
struct cli_admin_opts {
	const char *config, *state, *spool, *reason, *actor;
	bool json;
};
/* Takes option ch with its argument into o: true; false when ch is none of
 * those, for the command's own switch. */
bool cli_admin_opt(struct cli_admin_opts *o, int ch, const char *arg);
/* The end of an option switch: for 'h' the help text on stdout and 1 (exit
 * 0), for any other option where to look on stderr and -1 (a usage error). */
int cli_opt_help(int ch, const char *cmd, const char *help);

/* Subcommands: argv[0] is the subcommand name. Each is listed in main.c's table. */
int cli_block(int argc, char **argv);
int cli_check(int argc, char **argv);
int cli_checkconf(int argc, char **argv);
int cli_firewall(int argc, char **argv);
int cli_hold(int argc, char **argv);
int cli_monitor(int argc, char **argv);
int cli_relaytest(int argc, char **argv);
int cli_score(int argc, char **argv);
int cli_serve(int argc, char **argv);
int cli_policyd(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_trace(int argc, char **argv);
int cli_unblock(int argc, char **argv);
int cli_resume(int argc, char **argv);
int cli_user(int argc, char **argv);
int cli_bounce(int argc, char **argv);
int cli_logscan(int argc, char **argv);
int cli_replay(int argc, char **argv);
int cli_store(int argc, char **argv);
int cli_dkim(int argc, char **argv);
/* the control API (cli_queue.c) */
int cli_queue(int argc, char **argv);
int cli_control(int argc, char **argv);
int cli_reload(int argc, char **argv);

#endif
