/*
 * cli_ctl - how a command changes the state: through the control API of the
 * running server, or, with none running, through the same dispatch on the
 * state it opens itself (cli_ctl.c).
 */
#ifndef RG_CLI_CLI_CTL_H
#define RG_CLI_CLI_CTL_H

#include "cli/cli.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct gw_config;

/* Where a command looks: --config, else the embedded defaults; --state and
 * --spool override the configuration's directories. */
struct cli_ctl {
	const char *cmd; /* for messages */
	const char *config, *state, *spool;
};

struct cli_ctl_where {
	char state[512];
	char spool[1024];
	bool redis; /* the configuration's shared state (not with --state) */
	struct gw_config *c;
};

/* 0, or -1 after saying why. Free with cli_ctl_where_free. */
int cli_ctl_where(const struct cli_ctl *o, struct cli_ctl_where *w);
void cli_ctl_where_free(struct cli_ctl_where *w);

enum {
	CLI_CTL_STORE = 1, /* the request needs the state store */
	CLI_CTL_QUEUE = 2, /* the spool */
	CLI_CTL_READ = 4,  /* and only reads it */
};

/* Sends req (taken) to the server on the state directory's control socket;
 * with no server there, opens what needs names and dispatches it here. 0 with
 * *reply (the caller frees it; ok or an error of the API), or -1 after saying
 * why (no state where it looks, a server that does not answer): exit 2. */
int cli_ctl_call(const struct cli_ctl *o, json_t *req, unsigned needs, json_t **reply);

/* cli_ctl_call, and a refused request is an error too: 0 with *reply done, or
 * -1 after saying why (exit 2). */
int cli_ctl_request(const struct cli_ctl *o, json_t *req, unsigned needs, json_t **reply);
/* The answer (taken) as a command's --json document: what was done, and
 * "via": "server" when the running server did it. */
json_t *cli_ctl_doc(json_t *reply);
/* "no WHAT in DIR ..." on stderr; CLI_EXIT_USAGE. */
int cli_ctl_no_state(const char *cmd, const char *what, const char *dir);
/* --actor, else $SUDO_USER, $USER, "admin". */
const char *cli_ctl_actor(const char *actor);

/* state_dir/serve.lock, held by a running server: the fd, or -1 with err when
 * another process holds it (with wait: after trying for 5 s). */
int cli_state_lock(const char *state_dir, bool wait, char *err, size_t errlen);

#endif
