/*
 * relayguard serve - the long-running gateway process, and checkconf.
 *
 * One process, one libevent loop: the SMTP listeners (gateway/smtpd), the
 * Postfix policy service and the web endpoint (/metrics), all on the same
 * policy engine and state store (LMDB under state_dir/policy). While it runs
 * it is the only writer of the store and the spool (state_dir/serve.lock):
 * every change comes as a request of the control API (admin/ctlapi) on
 * state_dir/control.sock or from the web page, nothing is polled.
 */
#include "cli/cli.h"
#include "cli/cli_ctl.h"

#include "admin/control.h"
#include "admin/ctlapi.h"
#include "admin/ctlasync.h"
#include "admin/pfhold.h"
#include "admin/metrics.h"
#include "admin/series.h"
#include "admin/web.h"
#include "core/addr.h"
#include "core/clock.h"
#include "core/fdlimit.h"
#include "core/log.h"
#include "core/privdrop.h"
#include "core/str.h"
#include "dnsbl/catalog.h"
#include "gateway/deliver.h"
#include "gateway/follow.h"
#include "gateway/gwalert.h"
#include "gateway/gwconf.h"
#include "gateway/gwhealth.h"
#include "gateway/gwreload.h"
#include "gateway/gwstore.h"
#include "gateway/nftban.h"
#include "gateway/policyd.h"
#include "gateway/smtpd.h"
#include "policy/engine.h"
#include "policy/store.h"
#include "net/dns.h"
#include "queue/queue.h"

#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Descriptors beyond the connection limits: spool files, the store, the
 * resolver, the web page and its clients, alert pipes. */
#define CLI_SERVE_FD_SPARE 256

static const char cli_serve_help[] =
    "usage: relayguard serve [--config FILE] [--foreground]\n"
    "\n"
    "Runs the gateway: the SMTP listeners, the durable queue and its hold queue\n"
    "(spool_dir), the Postfix policy service (check_policy_service) on the\n"
    "policy engine, and the web listener: the admin page and /api/ (login with\n"
    "an admin account of the user store; see docs/web.md) and /metrics for\n"
    "Prometheus. With no --config it uses the embedded defaults:\n"
    "\n"
    "  submission  127.0.0.1:2587  AUTH PLAIN/LOGIN required, only after STARTTLS\n"
    "  submissions 127.0.0.1:2465  the same with implicit TLS\n"
    "  relay       127.0.0.1:2525  relays for trusted_networks (loopback),\n"
    "                              local_domains for everybody else\n"
    "  policy      127.0.0.1:10040, web 127.0.0.1:8025, state under ./var/\n"
    "\n"
    "Accounts come from the users file (relayguard user add NAME), re-read when\n"
    "it changes. Without tls_cert/tls_key a self-signed certificate is made at\n"
    "start. A message is answered 250 only once it is durable in the queue.\n"
    "Every SMTP log line starts \"smtpd queue_id=ID sid=SESSION client=IP\".\n"
    "docs/smtp.md lists the commands, limits and replies.\n"
    "\n"
    "It stays in the foreground (run it under systemd or another supervisor);\n"
    "--foreground is accepted for that. SIGTERM or SIGINT stops it cleanly;\n"
    "SIGHUP reads the configuration again (a file that does not load changes\n"
    "nothing; what needs a restart is named in the log). Started as root it\n"
    "binds its listeners, reads its keys, then runs as [gateway] user\n"
    "(default relayguard, when that user exists). Without --config it reads\n"
    "/etc/relayguard/relayguard.conf when it exists (state /var/lib/relayguard,\n"
    "spool /var/spool/relayguard), else the embedded defaults. docs/daemon.md.\n"
    "\n"
    "State: [gateway] state_store = lmdb keeps counters and blocks in\n"
    "state_dir/policy; state_store = redis shares them between gateway nodes\n"
    "through Redis (redis, redis_prefix), falling back to the local LMDB state,\n"
    "with an error in the log and relayguard_state_store_fallback 1 on /metrics,\n"
    "while Redis does not answer. Blocks the engine creates are told through\n"
    "[alert] exec and webhook, and as mail to [alert] mail_to through the\n"
    "gateway's own queue (from mail_from, default postmaster@hostname): the\n"
    "first at once, then one digest per block_digest.\n"
    "\n"
    "While it runs, serve is the only writer of the state store and the spool\n"
    "(state_dir/serve.lock): relayguard block, unblock, hold, queue and control\n"
    "send their changes to it through state_dir/control.sock (the control API,\n"
    "docs/queue.md), and the web page's buttons take the same path. docs/policy.md\n"
    "has the details.\n"
    "\n"
    "  --config FILE   configuration (see relayguard checkconf --help)\n"
    "  -h, --help      this text\n";

static const char cli_policyd_help[] =
    "usage: relayguard policyd [--config FILE] [--foreground]\n"
    "\n"
    "Runs relayguard beside an existing Postfix, as its policy service only:\n"
    "`relayguard serve` with [gateway] listeners = none. No SMTP listener is\n"
    "opened (the [listener] sections and the default ones are ignored); the\n"
    "policy service ([policyd] listen), the web page ([web] listen), the control\n"
    "socket and the state run as with serve.\n"
    "\n"
    "Mail the policy answers HOLD is in Postfix's hold queue: every HOLD is\n"
    "recorded with its Postfix queue ID (state_dir/postfix-holds.json), and\n"
    "relayguard hold list, release and delete act on those messages through\n"
    "postqueue -j and postsuper -H / -d ([policyd] postqueue, postsuper,\n"
    "postfix_config_dir, postfix_timeout). docs/deploy-postfix.md has the\n"
    "main.cf settings.\n"
    "\n"
    "  --config FILE   configuration (see relayguard checkconf --help)\n"
    "  -h, --help      this text\n";

static const char cli_checkconf_help[] =
    "usage: relayguard checkconf [--config FILE]\n"
    "\n"
    "Reads the gateway configuration and prints \"configuration OK\" and what it\n"
    "would run, or the first error as FILE:LINE: what (exit status 2).\n"
    "\n"
    "Sections: [gateway] hostname, state_dir, spool_dir, users, user, log (stderr|\n"
    "syslog), log_level, syslog (= log = syslog),\n"
    "local_domains, trusted_networks, tls_cert, tls_key, max_message_size,\n"
    "max_recipients, max_connections, max_connections_per_client, smtp_timeout,\n"
    "line_length_limit, soft_error_limit, hard_error_limit, junk_command_limit,\n"
    "error_sleep_time, auth_failure_limit, auth_workers, queue_fsync, state_store\n"
    "(lmdb|redis), redis (HOST:PORT or unix:/path), redis_prefix, redis_timeout;\n"
    "[listener NAME] listen, role (submission|relay|inbound), tls\n"
    "(none|starttls|implicit), require_tls_for_auth; [gateway] listeners = none\n"
    "(no SMTP listener: policy service only, docs/deploy-postfix.md); [policyd]\n"
    "listen, count_at (end-of-message|rcpt), max_connections, postfix_queue\n"
    "(auto|yes|no), postqueue, postsuper, postfix_config_dir, postfix_timeout;\n"
    "[web] listen, tls_cert, tls_key,\n"
    "api_token, api_token_file, monitor_state, session_idle, session_max (a\n"
    "listen address beyond loopback needs tls_cert and tls_key); [alert] exec,\n"
    "webhook (each repeatable: alerts on blocks), mail_to (repeatable or a comma\n"
    "list: alert mail through the queue), mail_from, exec_timeout,\n"
    "webhook_timeout, webhook_retries, webhook_ca, block_digest; [delivery] relayhost,\n"
    "relayhost_auth, relayhost_tls, tls (none|may|encrypt|verify), tls_ca_file,\n"
    "local_relay, smtp_port, source_address, source_by_sender_domain, resolver,\n"
    "address_family, destination_concurrency, max_connections, max_active,\n"
    "connect_timeout, command_timeout, idle_timeout, dead_time, poll_interval,\n"
    "minimal_backoff, maximal_backoff, queue_lifetime, mta_sts, mta_sts_ca_file,\n"
    "mta_sts_port, mta_sts_timeout (MTA-STS); [delivery_tls] DOMAIN =\n"
    "none|may|encrypt|verify (docs/delivery.md); [screen] dnsbl_sites,\n"
    "dnsbl_threshold, dnsbl_allowlist_threshold, catalogue, resolver, spf,\n"
    "recipients (docs/inbound.md); [scan] rspamd, timeout, max_size (docs/delivery.md);\n"
    "and the policy engine's [limits], [domain NAME],\n"
    "[user NAME], [identity], [signals], [actions], [auth], [inbound],\n"
    "[autoreply], [notify], [forward] (docs/policy.md); [follow] files,\n"
    "poll_interval, max_line (docs/follow.md); [firewall] ban_set, ban_set6,\n"
    "ban_timeout, nft (docs/firewall.md).\n";

static int cli_conf_args(int argc, char **argv, const char *cmd, const char *help,
                         const char **path)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"foreground", no_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:fh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			*path = optarg;
			break;
		case 'f':
			break;
		default: /* -h or an option it does not take */
			return cli_opt_help(ch, cmd, help);
		}
	}
	if (optind < argc) {
		cli_error(cmd, "unexpected argument '%s'", argv[optind]);
		return -1;
	}
	return 0;
}

int cli_checkconf(int argc, char **argv)
{
	const char *path = NULL;
	int rc = cli_conf_args(argc, argv, "checkconf", cli_checkconf_help, &path);
	if (rc != 0)
		return rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	path = cli_config_path(path);
	struct gw_config *c = malloc(sizeof *c);
	char err[512];
	if (!c || gwconf_load(c, path, err, sizeof err) != 0) {
		cli_error("checkconf", "%s", c ? err : "out of memory");
		free(c);
		return CLI_EXIT_USAGE;
	}
	if (c->screen_catalogue[0]) { /* serve (and a reload) refuses what does not load */
		struct bl_catalog cat;
		if (bl_catalog_load_file(&cat, c->screen_catalogue, err, sizeof err) != 0) {
			cli_error("checkconf", "[screen] catalogue: %s", err);
			gwconf_free(c);
			free(c);
			return CLI_EXIT_USAGE;
		}
		bl_catalog_free(&cat);
	}
	printf("configuration OK (%s)\n", c->source);
	printf("  hostname %s, state %s, spool %s\n", c->hostname, c->state_dir, c->spool_dir);
	for (int i = 0; i < c->nlisteners; i++) {
		const struct gw_listener *l = &c->listeners[i];
		printf("  listener %s: role %s, tls %s, on", l->name, gw_role_name(l->role),
		       gw_tls_name(l->tls));
		for (int k = 0; k < l->naddrs; k++)
			printf(" %s", l->addrs[k].text);
		if (l->identify == GW_IDENTIFY_SENDER)
			printf("; identified by sender%s%s", l->identify_header[0] ? " or " : "",
			       l->identify_header);
		printf("\n");
	}
	if (c->identify_sender[0])
		printf("  identified by sender on every listener and the policy service: %s\n",
		       c->identify_sender);
	if (strcmp(c->state_store, "redis") == 0)
		printf("  state store: redis at %s, key prefix %s (local fallback in %s/policy)\n",
		       c->redis_addr.text, c->redis_prefix, c->state_dir);
	else
		printf("  state store: lmdb in %s/policy\n", c->state_dir);
	if (c->listeners_off)
		printf("  SMTP listeners: none (policy service only)\n");
	printf("  policy service: %s%s\n", c->policyd_listen[0] ? c->policyd_addr.text : "off",
	       c->policyd_listen[0] && strcmp(c->policyd_identify, "sender") == 0
	           ? "; trusted clients without sasl_username identified by sender"
	           : "");
	if (c->postfix_queue)
		printf("  held mail: Postfix's hold queue (%s -j, %s -H/-d%s%s)\n",
		       c->policyd_postqueue, c->policyd_postsuper,
		       c->policyd_postfix_config_dir[0] ? ", -c " : "",
		       c->policyd_postfix_config_dir);
	printf("  web: %s\n", c->web_listen[0] ? c->web_addr.text : "off");
	printf("  delivery: %s%s, tls %s\n", c->delivery.relay.set ? "relayhost " : "MX lookups",
	       c->delivery.relay.set ? c->delivery.relay.text : "",
	       gw_dtls_name(c->delivery.tls_level));
	if (c->nalert_execs || c->nalert_webhooks || c->nalert_mail_to)
		printf(
		    "  alerts on blocks: %d program(s), %d webhook(s), %d mail address(es); digest "
		    "every %llu s\n",
		    c->nalert_execs, c->nalert_webhooks, c->nalert_mail_to,
		    (unsigned long long)(c->alert_digest_ms / 1000));
	else
		printf("  alerts on blocks: off\n");
	printf("  log follow: %s\n", c->follow_files[0] ? c->follow_files : "off");
	if (c->fw_ban_set[0] || c->fw_ban_set6[0])
		printf("  ban set: %s%s%s, at most %llu s\n", c->fw_ban_set,
		       c->fw_ban_set[0] && c->fw_ban_set6[0] ? " and " : "", c->fw_ban_set6,
		       (unsigned long long)(c->fw_ban_timeout_ms / 1000));
	gwconf_free(c);
	free(c);
	return CLI_EXIT_OK;
}

static void cli_serve_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct event_base *base = arg;
	log_info("serve: signal %d, stopping", (int)sig);
	event_base_loopexit(base, NULL);
}

/* The whole configuration again (gateway/gwreload.h), for SIGHUP and the
 * control API's reload request alike: applied, with what still needs a
 * restart named in the log, or refused whole. 0, or -1 with err. */
static int cli_serve_reload_config(const struct gwreload *r, char *err, size_t errlen)
{
	char restart[1024];
	if (gwreload_apply(r, restart, sizeof restart, err, errlen) != 0) {
		log_error("serve: reload refused, the running configuration stays: %s", err);
		return -1;
	}
	if (restart[0])
		log_warn("serve: reload: these keep their running values until a restart: %s",
		         restart);
	log_info("serve: reload done (configuration: %s)", r->live->source);
	return 0;
}

/* SIGHUP: the configuration again (gateway/gwreload.h). */
static void cli_serve_on_hup(evutil_socket_t sig, short what, void *arg)
{
	const struct gwreload *r = arg;
	char err[600];
	clock_update();
	if (!r->smtpd) {
		log_warn("serve: SIGHUP while starting: ignored");
		return;
	}
	log_info("serve: SIGHUP, reading the configuration again (%s)", r->live->source);
	(void)cli_serve_reload_config(r, err, sizeof err);
}

/* Every two seconds: the state store's use (a gauge, and a log line and an
 * alert at 80%); with state_store = redis also the range blocks other nodes
 * add, re-read into our engine's cache (our own changes apply at once; with
 * LMDB the control API is the only writer and nothing is re-read). */
struct cli_serve_tick {
	struct pol_engine *engine; /* only with state_store = redis */
	/* state store use: a gauge, and a log line and an alert at 80% */
	struct store *store;
	struct gwalert *alerts;
	struct metric *m_usage;
	bool usage_alerted;
	struct gwhealth *health;
};

#define CLI_SERVE_STORE_ALERT 800 /* per mille */
#define CLI_SERVE_STORE_REARM 700

static void cli_serve_store_usage(struct cli_serve_tick *t)
{
	int pm = t->store ? store_usage_permille(t->store) : -1;
	if (pm < 0)
		return;
	if (t->m_usage)
		metric_set(t->m_usage, NULL, pm / 1000.0);
	if (pm >= CLI_SERVE_STORE_ALERT && !t->usage_alerted) {
		t->usage_alerted = true;
		log_error("serve: the state store is %d.%d%% full (alert at %d%%); when it is full "
		          "AUTH is refused with 454 and other decisions are not counted: raise "
		          "[gateway] state_map_size",
		          pm / 10, pm % 10, CLI_SERVE_STORE_ALERT / 10);
		gwalert_store_usage(t->alerts, t->store->name, pm, CLI_SERVE_STORE_ALERT);
	} else if (pm < CLI_SERVE_STORE_REARM && t->usage_alerted) {
		t->usage_alerted = false;
		log_info("serve: the state store is %d.%d%% full again", pm / 10, pm % 10);
	}
}

static void cli_serve_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct cli_serve_tick *t = arg;
	clock_update();
	if (t->engine && pol_engine_reload(t->engine) != 0)
		log_error("serve: cannot re-read range blocks from the shared state store");
	cli_serve_store_usage(t);
	gwhealth_tick(t->health);
}

/* Every policy decision, for the admin page's per-account history. */
static void cli_serve_observe(void *arg, const struct pol_event *ev, const struct pol_verdict *v,
                              bool counted)
{
	char ip[ADDR_STRLEN] = "";
	if (ev->has_ip)
		addr_format(&ev->ip, ip, sizeof ip);
	(void)series_record(arg, ev->time_ms, v->identity, ip,
	                    counted && ev->type == POL_EV_MAIL ? 1 : 0, pol_action_name(v->action),
	                    v->rule, v->n_reasons ? v->reasons[0] : "");
}

/* What a block the engine creates reaches: the alerts and [firewall] ban_set. */
struct cli_serve_blocked {
	struct gwalert *alerts;
	struct nftban *ban;
};

static void cli_serve_on_block(void *ctx, const struct pol_verdict *v, const char *client_ip)
{
	struct cli_serve_blocked *b = ctx;
	log_warn("serve: %s is blocked (rule %s, score %d): %s", v->identity, v->rule, v->score,
	         v->n_reasons ? v->reasons[0] : "");
	gwalert_block(b->alerts, v, client_ip);
	(void)nftban_block(b->ban, v, clock_realtime_ms());
}

/* What the control API's hooks reach in the running server. */
struct cli_serve_ctl {
	struct ctlapi_state api;
	struct smtpd *smtpd;
	struct web *web;
	struct deliver *deliver;
	const struct gwreload *reload; /* SIGHUP's reload, for the reload request */
	/* policy-only mode: held mail is Postfix's (admin/pfhold), and the requests
	 * that run Postfix's programs go to a worker (admin/ctlasync) */
	struct pfhold *pfhold;
	struct ctlasync *async;
	struct control *ctl;
	struct ctlapi_state worker_api, web_api;
};

/* The reload requests: users_reload re-reads the users files of the SMTP
 * listeners and the web page; reload the whole configuration, as SIGHUP does
 * (gateway/gwreload.h). 0, or -1 with err (what ran before stays in force). */
static int cli_serve_on_reload(void *arg, bool users_only, char *err, size_t errlen)
{
	struct cli_serve_ctl *s = arg;
	if (users_only || !s->reload || !s->reload->smtpd) {
		if (s->smtpd && smtpd_users_reload(s->smtpd, err, errlen) != 0)
			return -1;
	} else if (cli_serve_reload_config(s->reload, err, errlen) != 0) {
		return -1;
	}
	web_users_reload(s->web);
	return 0;
}

static void cli_serve_wake(void *arg)
{
	struct cli_serve_ctl *s = arg;
	deliver_wake(s->deliver);
}

static bool cli_serve_degraded(struct store *st)
{
	return gwstore_fallback(st);
}

/* The worker's one queue serves the control socket and the web page: a
 * ticket with this bit is the web's (web_ctl_defer: below 2^62), one without
 * it the control socket's (control_defer: a generation and a slot). */
#define CLI_SERVE_WEB_TICKET (UINT64_C(1) << 63)

/* A request that waits for Postfix's programs: to the worker, answered on the
 * control connection it came on. */
static int cli_serve_defer(void *arg, json_t *req)
{
	struct cli_serve_ctl *s = arg;
	uint64_t ticket = s->ctl ? control_defer(s->ctl) : 0;
	return ticket && ctlasync_submit(s->async, req, ticket) == 0 ? 0 : -1;
}

/* The same from the web page: answered on the HTTP connection, which waits
 * suspended meanwhile. */
static int cli_serve_web_defer(void *arg, json_t *req)
{
	struct cli_serve_ctl *s = arg;
	uint64_t ticket = s->web ? web_ctl_defer(s->web) : 0;
	if (!ticket)
		return -1;
	return ctlasync_submit(s->async, req, ticket | CLI_SERVE_WEB_TICKET);
}

static void cli_serve_async_answer(void *arg, uint64_t ticket, json_t *reply)
{
	struct cli_serve_ctl *s = arg;
	if (ticket & CLI_SERVE_WEB_TICKET)
		web_ctl_answer(s->web, ticket & ~CLI_SERVE_WEB_TICKET, reply);
	else
		control_answer(s->ctl, ticket, reply);
}

/* Every policy request that holds mail or names a queue ID, for Postfix's hold queue. */
static void cli_serve_on_hold(void *arg, const struct pfp_request *r, const struct pol_verdict *v,
                              bool held)
{
	struct pfhold_rec h;
	memset(&h, 0, sizeof h);
	/* a cut queue ID, sender or identity would match the wrong held message */
	if (str_copy(h.queue_id, sizeof h.queue_id, r->queue_id) != 0 ||
	    str_copy(h.instance, sizeof h.instance, r->instance) != 0 ||
	    str_copy(h.sender, sizeof h.sender, r->sender) != 0 ||
	    str_copy(h.user, sizeof h.user, r->sasl_username) != 0 ||
	    str_copy(h.identity, sizeof h.identity, v->identity) != 0 ||
	    str_copy(h.rule, sizeof h.rule, v->rule) != 0) {
		char q[STR_LOG_VALUE_MAX];
		log_warn("policyd: hold not listed: instance=%s has a field too long to keep",
		         str_log_value(q, sizeof q, r->instance));
		return;
	}
	if (r->recipient[0] && str_copy(h.rcpt[0], sizeof h.rcpt[0], r->recipient) == 0)
		h.nrcpt = 1;
	if (r->has_client_address)
		addr_format(&r->client_address, h.client_ip, sizeof h.client_ip);
	str_copy_trunc(h.reason, sizeof h.reason, v->n_reasons ? v->reasons[0] : "");
	h.time_ms = clock_realtime_ms();
	pfhold_note(arg, &h, held);
}

/* [policyd] postfix_queue: the record store and the worker. 0, or -1 with err. */
static int cli_serve_pfhold(struct cli_serve_ctl *sc, const struct gw_config *c,
                            struct event_base *base, char *err, size_t errlen)
{
	struct pfhold_conf pc;
	if (gwconf_pfhold(c, &pc) != 0) {
		str_format_trunc(err, errlen, "[policyd] postfix commands or state_dir too long");
		return -1;
	}
	sc->pfhold = pfhold_open(&pc, err, errlen);
	if (!sc->pfhold)
		return -1;
	sc->worker_api =
	    (struct ctlapi_state){.pfhold = sc->pfhold, .via = "server", .on_worker = true};
	sc->async = ctlasync_new(base, &sc->worker_api, cli_serve_async_answer, sc, err, errlen);
	if (!sc->async)
		return -1;
	sc->api.pfhold = sc->pfhold;
	sc->api.defer = cli_serve_defer;
	sc->api.defer_arg = sc;
	log_info("serve: held mail is Postfix's: %zu held message(s) on record "
	         "(%s), read with %s, released with %s",
	         pfhold_count(sc->pfhold), pc.store_path, pc.postqueue, pc.postsuper);
	return 0;
}

/* The control socket: every request through the one table (admin/ctlapi). */
static json_t *cli_serve_on_control(void *ctx, json_t *req)
{
	struct cli_serve_ctl *s = ctx;
	return ctlapi_dispatch(&s->api, req);
}

/* Root: hand the state and spool to [gateway] user and become it (the
 * listeners are bound and the TLS keys read by now). Not root: nothing to do.
 * The default user missing (a build run from the source tree, `make run`):
 * stay root and say so; a user named in the file missing: refuse. */
static int cli_serve_drop_root(const struct gw_config *c, char *err, size_t errlen)
{
	if (geteuid() != 0) {
		if (c->user_set)
			log_info("serve: not started as root: running as uid %u, [gateway] user %s "
			         "not used",
			         (unsigned)geteuid(), c->user);
		return 0;
	}
	if (strcmp(c->user, "root") == 0) {
		log_warn("serve: running as root ([gateway] user = root)");
		return 0;
	}
	struct privdrop_user u;
	int found = privdrop_lookup(c->user, &u, err, errlen);
	if (found < 0)
		return -1;
	if (!found && c->user_set) {
		str_format_trunc(err, errlen,
		                 "[gateway] user %s does not exist: create it (the package does: "
		                 "useradd --system %s) or set user = root",
		                 c->user, c->user);
		return -1;
	}
	if (!found) {
		log_warn("serve: running as root: there is no user %s to drop to (the package "
		         "creates it; or name one with [gateway] user, or user = root)",
		         c->user);
		return 0;
	}
	if (privdrop_chown_tree(c->state_dir, &u, err, errlen) != 0 ||
	    privdrop_chown_tree(c->spool_dir, &u, err, errlen) != 0)
		return -1;
	if (privdrop_to(&u, err, errlen) != 0)
		return -1;
	const char *dirs[] = {c->state_dir, c->spool_dir};
	for (int i = 0; i < 2; i++)
		if (access(dirs[i], R_OK | W_OK | X_OK) != 0) {
			str_format_trunc(
			    err, errlen,
			    "user %s cannot use %s (%s): a directory above it is closed to "
			    "it",
			    u.name, dirs[i], strerror(errno));
			return -1;
		}
	log_info("serve: running as user %s (uid %u, gid %u), state and spool are its own", u.name,
	         (unsigned)u.uid, (unsigned)u.gid);
	return 0;
}

static int cli_serve_main(int argc, char **argv, bool policy_only)
{
	const char *path = NULL;
	int rc = cli_conf_args(argc, argv, policy_only ? "policyd" : "serve",
	                       policy_only ? cli_policyd_help : cli_serve_help, &path);
	if (rc != 0)
		return rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	path = cli_config_path(path);
	char err[512];
	struct gw_config *c = malloc(sizeof *c);
	if (!c || gwconf_load(c, path, err, sizeof err) != 0) {
		cli_error(policy_only ? "policyd" : "serve", "%s", c ? err : "out of memory");
		free(c);
		return CLI_EXIT_USAGE;
	}
	int ignored = policy_only && !c->listeners_off ? c->nlisteners : 0;
	if (policy_only)
		gwconf_policy_only(c);
	enum log_level lvl = LOG_LEVEL_INFO;
	log_level_parse(c->log_level, &lvl);
	/* One destination, never both ([gateway] log): under systemd with
	 * syslog the journal would get every line twice. */
	log_open("relayguard", !c->syslog, c->syslog, lvl);

	/* Every connection it may hold at once, plus files, the store, the
	 * resolver, the web page: EMFILE under load is worse than no start. */
	unsigned long long fd_need = (unsigned long long)c->max_connections +
	                             (unsigned long long)c->policyd_max_connections +
	                             (unsigned long long)c->delivery.max_connections +
	                             CLI_SERVE_FD_SPARE;
	unsigned long long fd_now = 0;
	if (fdlimit_raise(fd_need, &fd_now, err, sizeof err) != 0) {
		cli_error(
		    "serve",
		    "%s ([gateway] max_connections %lld + [policyd] max_connections %lld "
		    "+ [delivery] max_connections %lld + %d spare): lower them, or raise the limit "
		    "(LimitNOFILE= in the unit, ulimit -Hn)",
		    err, c->max_connections, c->policyd_max_connections,
		    c->delivery.max_connections, CLI_SERVE_FD_SPARE);
		gwconf_free(c);
		free(c);
		return CLI_EXIT_USAGE;
	}
	log_info("serve: up to %llu file descriptors (%llu needed for the configured connection "
	         "limits)",
	         fd_now, fd_need);
	rc = CLI_EXIT_USAGE;
	struct store *store = NULL;
	struct pol_engine *engine = NULL;
	struct event_base *base = NULL;
	struct metrics *metrics = NULL;
	struct policyd *pd = NULL;
	struct smtpd *smtpd = NULL;
	struct queue *queue = NULL;
	struct web *web = NULL;
	struct series *series = NULL;
	struct cli_serve_ctl sc = {0};
	int state_lock = -1;
	char token[256] = "";
	struct dns *dns = NULL;
	struct deliver *deliver = NULL;
	struct gwalert *alerts = NULL;
	struct control *ctl = NULL;
	struct event *sig_int = NULL, *sig_term = NULL, *sig_hup = NULL, *tick = NULL;
	struct gwreload reload = {.path = path, .live = c};
	struct cli_serve_tick tk = {0};
	struct cli_serve_blocked blocked = {0};
	struct follow *follow = NULL;
	metrics = metrics_new();
	if (!metrics) {
		cli_error("serve", "out of memory");
		goto out;
	}
	/* The one writer of the state while we run: commands that find this lock
	 * taken go through the control socket. */
	if ((mkdir(c->state_dir, 0750) != 0 && errno != EEXIST) ||
	    (state_lock = cli_state_lock(c->state_dir, true, err, sizeof err)) < 0) {
		cli_error("serve", "%s", state_lock < 0 && err[0] ? err : strerror(errno));
		goto out;
	}
	store = gwstore_open(c, metrics, false, err, sizeof err);
	if (!store) {
		cli_error("serve", "%s", err);
		goto out;
	}
	engine = pol_engine_new(&c->policy, store);
	base = event_base_new();
	series = series_new();
	if (!engine || !base || !series) {
		cli_error("serve", "out of memory");
		goto out;
	}
	/* Signals first: a SIGTERM during start-up still stops us cleanly. */
	sig_int = evsignal_new(base, SIGINT, cli_serve_on_signal, base);
	sig_term = evsignal_new(base, SIGTERM, cli_serve_on_signal, base);
	sig_hup = evsignal_new(base, SIGHUP, cli_serve_on_hup, &reload);
	if (!sig_int || !sig_term || !sig_hup || event_add(sig_int, NULL) != 0 ||
	    event_add(sig_term, NULL) != 0 || event_add(sig_hup, NULL) != 0) {
		cli_error("serve", "cannot set up signal handling");
		goto out;
	}
	if (strcmp(c->state_store, "redis") == 0)
		tk.engine = engine;
	struct timeval two = {2, 0};
	tick = event_new(base, -1, EV_PERSIST, cli_serve_on_tick, &tk);
	if (!tick || event_add(tick, &two) != 0) {
		cli_error("serve", "out of memory");
		goto out;
	}
	if (mkdir(c->spool_dir, 0750) != 0 && errno != EEXIST) {
		cli_error("serve", "cannot create %s: %s", c->spool_dir, strerror(errno));
		goto out;
	}
	struct queue_opts qo = {.fsync = c->queue_fsync};
	if (queue_open(&queue, c->spool_dir, base, &qo, err, sizeof err) != 0) {
		cli_error("serve", "spool %s: %s", c->spool_dir, err);
		goto out;
	}
	tk.health = gwhealth_new(store, c->spool_dir, NULL, c->hostname);
	if (!tk.health) {
		cli_error("serve", "out of memory");
		goto out;
	}
	err[0] = '\0';
	alerts = gwalert_new(base, c, metrics, queue, err, sizeof err);
	if (!alerts && err[0]) {
		cli_error("serve", "%s", err);
		goto out;
	}
	blocked.alerts = alerts;
	if (c->fw_ban_set[0] || c->fw_ban_set6[0]) {
		struct nftban_options bo = {.nft = c->fw_nft,
		                            .set4 = c->fw_ban_set,
		                            .set6 = c->fw_ban_set6,
		                            .timeout_ms = c->fw_ban_timeout_ms};
		if (!(blocked.ban = nftban_new(&bo, err, sizeof err))) {
			cli_error("serve", "%s", err);
			goto out;
		}
	}
	/* The control API: its hooks reach the parts made below, which are all
	 * there before the loop runs a request. */
	sc.api = (struct ctlapi_state){.engine = engine,
	                               .store = store,
	                               .policy = &c->policy,
	                               .queue = queue,
	                               .store_degraded = cli_serve_degraded,
	                               .wake_delivery = cli_serve_wake,
	                               .wake_arg = &sc,
	                               .reload = cli_serve_on_reload,
	                               .reload_arg = &sc,
	                               .via = "server"};
	char ctl_path[600] = "";
	if (str_format(ctl_path, sizeof ctl_path, "%s/control.sock", c->state_dir) != 0 ||
	    !(ctl = control_new(base, ctl_path, cli_serve_on_control, &sc, err, sizeof err))) {
		cli_error("serve", "control socket: %s", ctl_path[0] ? err : "state_dir too long");
		goto out;
	}
	sc.ctl = ctl;
	if (c->postfix_queue && cli_serve_pfhold(&sc, c, base, err, sizeof err) != 0) {
		cli_error("serve", "postfix holds: %s", err);
		goto out;
	}
	/* the web page's Postfix requests go to the same worker, and their HTTP
	 * connections wait for the answer while the loop goes on */
	sc.web_api = sc.api;
	if (sc.api.defer)
		sc.web_api.defer = cli_serve_web_defer;
	if (c->policyd_listen[0]) {
		struct policyd_options po = {
		    .count_at_rcpt = strcmp(c->policyd_count_at, "rcpt") == 0,
		    .count_at_eom = strcmp(c->policyd_count_at, "end-of-message") == 0,
		    .max_connections = (unsigned)c->policyd_max_connections,
		    .observe = cli_serve_observe,
		    .observe_arg = series,
		    .on_block = cli_serve_on_block,
		    .on_block_ctx = &blocked,
		    .allow = c->policyd_allowed,
		    .conf = c,
		    .identify_sender = strcmp(c->policyd_identify, "sender") == 0,
		    .socket_uid = c->policyd_uid,
		    .socket_gid = c->policyd_gid,
		    .socket_mode = c->policyd_mode,
		    .on_hold = sc.pfhold ? cli_serve_on_hold : NULL,
		    .on_hold_arg = sc.pfhold,
		};
		pd = policyd_new(base, &c->policyd_addr, engine, &po, metrics, err, sizeof err);
		if (!pd) {
			cli_error("serve", "%s", err);
			goto out;
		}
	}
	if (c->web_listen[0]) {
		if (c->web_api_token_file[0] &&
		    web_read_token_file(c->web_api_token_file, token, sizeof token, err,
		                        sizeof err) != 0) {
			cli_error("serve", "%s", err);
			goto out;
		}
		struct web_options wo = {
		    .addr = &c->web_addr,
		    .tls_cert = c->web_tls_cert,
		    .tls_key = c->web_tls_key,
		    .api_token = token[0] ? token : c->web_api_token,
		    .users_file = c->users_file,
		    .monitor_state = c->web_monitor_state,
		    .session_idle_ms = (int64_t)c->web_session_idle_ms,
		    .session_max_ms = (int64_t)c->web_session_max_ms,
		    .trusted = c->trusted,
		    .trusted_proxy = c->web_proxies,
		};
		struct web_context wc = {
		    .metrics = metrics,
		    .engine = engine,
		    .store = store,
		    .policy = &c->policy,
		    .series = series,
		    .queue = queue,
		    .health = gwhealth_check,
		    .health_arg = tk.health,
		    .ctl = &sc.web_api,
		};
		web = web_new(base, &wo, &wc, err, sizeof err);
		if (!web) {
			cli_error("serve", "%s", err);
			goto out;
		}
	}
	tk.store = store;
	tk.alerts = alerts;
	tk.m_usage = metrics_register(metrics, METRIC_GAUGE, "relayguard_state_store_usage_ratio",
	                              "Share of the state store's map in use (alert at 0.8).", NULL,
	                              NULL, 0);
	cli_serve_store_usage(&tk);
	if (!c->queue_fsync)
		log_warn("serve: queue_fsync = no: a crash may lose mail answered 250");
	struct dns_options dopt = {.servers =
	                               c->delivery.resolver[0] ? c->delivery.resolver : NULL};
	dns = dns_new(base, &dopt, err, sizeof err);
	if (!dns) {
		cli_error("serve", "resolver: %s", err);
		goto out;
	}
	gwhealth_set_dns(tk.health, dns);
	deliver = deliver_new(base, queue, dns, engine, metrics, c, err, sizeof err);
	if (!deliver) {
		cli_error("serve", "delivery: %s", err);
		goto out;
	}
	struct smtpd_deps deps = {.engine = engine,
	                          .queue = queue,
	                          .metrics = metrics,
	                          .dns = dns,
	                          .on_block = cli_serve_on_block,
	                          .on_block_ctx = &blocked};
	smtpd = smtpd_new(base, c, &deps, err, sizeof err);
	if (!smtpd) {
		cli_error("serve", "%s", err);
		goto out;
	}
	reload.smtpd = smtpd;
	sc.smtpd = smtpd;
	sc.reload = &reload;
	sc.web = web;
	sc.deliver = deliver;
	if (cli_serve_drop_root(c, err, sizeof err) != 0) {
		cli_error("serve", "%s", err);
		goto out;
	}
	if (c->follow_files[0]) { /* after the drop: the logs are read as the service user */
		struct follow_options fo = {.files = c->follow_files,
		                            .poll_ms = c->follow_poll_ms,
		                            .max_line = (size_t)c->follow_max_line,
		                            .on_block = cli_serve_on_block,
		                            .on_block_ctx = &blocked};
		if (!(follow = follow_new(base, engine, &fo, metrics, err, sizeof err))) {
			cli_error("serve", "%s", err);
			goto out;
		}
	}
	if (strcmp(c->state_store, "redis") == 0)
		log_info("serve: started (configuration: %s, state: shared in Redis at %s, prefix "
		         "%s; local state in %s/policy)",
		         c->source, c->redis_addr.text, c->redis_prefix, c->state_dir);
	else
		log_info("serve: started (configuration: %s, state: %s/policy)", c->source,
		         c->state_dir);
	if (ignored)
		log_info("serve: relayguard policyd: %d SMTP listener(s) (configured or default) "
		         "of %s not opened",
		         ignored, c->source);
	if (c->listeners_off)
		log_info("serve: policy service only: no SMTP listener ([gateway] listeners = none"
		         "%s); held mail %s",
		         policy_only ? ", relayguard policyd" : "",
		         c->postfix_queue ? "is in Postfix's hold queue" : "stays in Postfix");
	event_base_dispatch(base);
	log_info("serve: stopped");
	rc = CLI_EXIT_OK;
out:
	if (sig_int)
		event_free(sig_int);
	if (sig_term)
		event_free(sig_term);
	if (sig_hup)
		event_free(sig_hup);
	if (tick)
		event_free(tick);
	follow_free(follow);
	smtpd_free(smtpd);
	deliver_free(deliver);
	if (dns)
		dns_free(dns);
	ctlasync_free(sc.async); /* before the control socket and the web it answers on */
	control_free(ctl);
	policyd_free(pd);
	pfhold_free(sc.pfhold);
	gwalert_free(alerts);
	nftban_free(blocked.ban);
	web_free(web);
	gwhealth_free(tk.health); /* after the resolver and the web: both call into it */
	series_free(series);
	if (queue)
		queue_close(queue);
	if (base)
		event_base_free(base);
	metrics_free(metrics);
	pol_engine_free(engine);
	if (store)
		store->close(store);
	if (state_lock >= 0)
		close(state_lock);
	gwconf_free(c);
	free(c);
	return rc;
}

int cli_serve(int argc, char **argv)
{
	return cli_serve_main(argc, argv, false);
}

int cli_policyd(int argc, char **argv)
{
	return cli_serve_main(argc, argv, true);
}
