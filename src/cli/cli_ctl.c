/*
 * cli_ctl - the CLI side of the control API (admin/ctlapi): a change is a
 * request to the running `relayguard serve` on state_dir/control.sock; when
 * no server runs there, the command opens the state itself and dispatches
 * the request through the same table the server uses. A server that holds
 * the state (state_dir/serve.lock, the spool's owner.lock) but does not
 * answer is an error: nothing else may write while it runs.
 */
#include "cli/cli_ctl.h"

#include "admin/control.h"
#include "admin/ctlapi.h"
#include "admin/pfhold.h"
#include "core/str.h"
#include "gateway/gwconf.h"
#include "gateway/gwstore.h"
#include "policy/engine.h"
#include "policy/store.h"
#include "queue/queue.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_state_lock(const char *state_dir, bool wait, char *err, size_t errlen)
{
	char p[600];
	if (str_format(p, sizeof p, "%s/serve.lock", state_dir) != 0) {
		str_format_trunc(err, errlen, "%s: state directory name too long", state_dir);
		return -1;
	}
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		str_format_trunc(err, errlen, "%s: %s", p, strerror(errno));
		return -1;
	}
	for (int tries = 0; flock(fd, LOCK_EX | LOCK_NB) != 0; tries++) {
		if ((errno != EWOULDBLOCK && errno != EINTR) || !wait || tries >= 100) {
			str_format_trunc(err, errlen,
			                 errno == EWOULDBLOCK
			                     ? "%s: a relayguard serve holds the state in %s"
			                     : "%s: lock: %s",
			                 p, errno == EWOULDBLOCK ? state_dir : strerror(errno));
			close(fd);
			return -1;
		}
		usleep(50000);
	}
	return fd;
}

int cli_ctl_where(const struct cli_ctl *o, struct cli_ctl_where *w)
{
	char err[512];
	memset(w, 0, sizeof *w);
	struct gw_config *c = calloc(1, sizeof *c);
	if (!c || gwconf_load(c, cli_config_path(o->config), err, sizeof err) != 0) {
		cli_error(o->cmd, "%s", c ? err : "out of memory");
		free(c);
		return -1;
	}
	w->c = c;
	bool ok = str_copy(w->state, sizeof w->state, o->state ? o->state : c->state_dir) == 0;
	/* --state DIR alone: its spool is DIR/spool, as with state_dir = DIR */
	if (o->spool)
		ok = ok && str_copy(w->spool, sizeof w->spool, o->spool) == 0;
	else if (o->state && !o->config)
		ok = ok && str_format(w->spool, sizeof w->spool, "%s/spool", o->state) == 0;
	else
		ok = ok && str_copy(w->spool, sizeof w->spool, c->spool_dir) == 0;
	if (!ok) {
		cli_error(o->cmd, "state or spool directory name too long");
		cli_ctl_where_free(w);
		return -1;
	}
	w->redis = !o->state && strcmp(c->state_store, "redis") == 0;
	return 0;
}

void cli_ctl_where_free(struct cli_ctl_where *w)
{
	if (w->c)
		gwconf_free(w->c);
	free(w->c);
	w->c = NULL;
}

int cli_ctl_no_state(const char *cmd, const char *what, const char *dir)
{
	cli_error(cmd,
	          "no %s in %s (no relayguard serve ran with it); give --config with the "
	          "server's configuration",
	          what, dir);
	return CLI_EXIT_USAGE;
}

/* No server answers: the request on the state opened here. */
static int cli_ctl_offline(const struct cli_ctl *o, const struct cli_ctl_where *w, unsigned needs,
                           json_t *req, json_t **reply)
{
	char err[512], dir[600];
	struct ctlapi_state s = {0};
	struct queue *q = NULL;
	int lock = -1, rc = -1;
	bool store = needs & CLI_CTL_STORE, spool = needs & CLI_CTL_QUEUE;
	/* A state directory named on the command line or in the configuration is
	 * made for a first block; the default one (./var) is not. */
	if (store && !w->redis && access(w->state, F_OK) != 0 &&
	    (!(o->state || o->config) || mkdir(w->state, 0750) != 0))
		return cli_ctl_no_state(o->cmd, "state", w->state), -1;
	if (spool && access(w->spool, F_OK) != 0)
		return cli_ctl_no_state(o->cmd, "spool", w->spool), -1;
	if (access(w->state, F_OK) == 0 &&
	    (lock = cli_state_lock(w->state, false, err, sizeof err)) < 0) {
		cli_error(o->cmd, "%s, but its control socket does not answer", err);
		return -1;
	}
	if (store) {
		if (w->redis)
			s.store = gwstore_open(w->c, NULL, true, err, sizeof err);
		else if (str_format(dir, sizeof dir, "%s/policy", w->state) != 0)
			str_copy_trunc(err, sizeof err, "state directory name too long");
		else if (access(dir, F_OK) != 0 && mkdir(dir, 0750) != 0)
			str_format_trunc(err, sizeof err, "%s: %s", dir, strerror(errno));
		else
			s.store = store_lmdb_open(dir, 0, err, sizeof err);
		if (!s.store) {
			cli_error(o->cmd, "%s", err);
			goto out;
		}
		s.engine = pol_engine_new(&w->c->policy, s.store);
		if (!s.engine) {
			cli_error(o->cmd, "out of memory");
			goto out;
		}
	}
	if (spool) {
		struct queue_opts qo = {.fsync = true, .shared = (needs & CLI_CTL_READ) != 0};
		if (queue_open(&q, w->spool, NULL, &qo, err, sizeof err) != 0) {
			cli_error(o->cmd, "%s%s", err,
			          strstr(err, "in use")
			              ? " (a relayguard serve whose control socket "
			                "does not answer?)"
			              : "");
			goto out;
		}
		s.queue = q;
	}
	if (w->c && w->c->postfix_queue) { /* policy-only mode: Postfix's hold queue */
		struct pfhold_conf pc;
		if (gwconf_pfhold(w->c, &pc) != 0 ||
		    !(s.pfhold = pfhold_open(&pc, err, sizeof err))) {
			cli_error(o->cmd, "postfix holds: %s", err);
			goto out;
		}
	}
	*reply = ctlapi_dispatch(&s, req);
	rc = 0;
out:
	pfhold_free(s.pfhold);
	if (q)
		queue_close(q);
	pol_engine_free(s.engine);
	if (s.store)
		s.store->close(s.store);
	if (lock >= 0)
		close(lock);
	return rc;
}

int cli_ctl_call(const struct cli_ctl *o, json_t *req, unsigned needs, json_t **reply)
{
	struct cli_ctl_where w;
	char path[600], err[512];
	*reply = NULL;
	if (!req) {
		cli_error(o->cmd, "out of memory");
		return -1;
	}
	if (cli_ctl_where(o, &w) != 0) {
		json_decref(req);
		return -1;
	}
	int rc = -1;
	if (str_format(path, sizeof path, "%s/control.sock", w.state) != 0) {
		cli_error(o->cmd, "state directory name too long");
		goto out;
	}
	int r = control_call(path, req, 30000, reply, err, sizeof err);
	if (r < 0)
		cli_error(o->cmd, "the running server: %s", err);
	else if (r == 0)
		rc = 0;
	else
		rc = cli_ctl_offline(o, &w, needs, req, reply);
out:
	json_decref(req);
	cli_ctl_where_free(&w);
	return rc;
}

int cli_ctl_request(const struct cli_ctl *o, json_t *req, unsigned needs, json_t **reply)
{
	if (cli_ctl_call(o, req, needs, reply) != 0)
		return -1;
	if (ctlapi_reply_code(*reply) == CTLAPI_OK)
		return 0;
	const char *e = json_string_value(json_object_get(*reply, "error"));
	cli_error(o->cmd, "%s", e ? e : "refused");
	json_decref(*reply);
	*reply = NULL;
	return -1;
}

json_t *cli_ctl_doc(json_t *reply)
{
	json_t *via = json_incref(json_object_get(reply, "via"));
	ctlapi_strip(reply);
	if (via)
		(void)json_object_set_new(reply, "via", via);
	return reply;
}

const char *cli_ctl_actor(const char *actor)
{
	if (actor && *actor)
		return actor;
	actor = getenv("SUDO_USER");
	if (!actor || !*actor)
		actor = getenv("USER");
	return actor && *actor ? actor : "admin";
}
