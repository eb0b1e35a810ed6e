/*
 * relayguard serve - the long-running gateway process, and checkconf.
 *
 * One process, one libevent loop: the SMTP listeners (gateway/smtpd), the
 * Postfix policy service and the web endpoint (/metrics), all on the same
 * policy engine and state store (LMDB under state_dir/policy, shared with the
 * block/unblock commands, which may change it while we run).
 */
#include "cli/cli.h"

#include "admin/control.h"
#include "admin/metrics.h"
#include "admin/series.h"
#include "admin/web.h"
#include "core/addr.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"
#include "gateway/deliver.h"
#include "gateway/gwalert.h"
#include "gateway/gwconf.h"
#include "gateway/gwstore.h"
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
    "--foreground is accepted for that. SIGTERM or SIGINT stops it cleanly.\n"
    "\n"
    "State: [gateway] state_store = lmdb keeps counters and blocks in\n"
    "state_dir/policy; state_store = redis shares them between gateway nodes\n"
    "through Redis (redis, redis_prefix), falling back to the local LMDB state,\n"
    "with an error in the log and relayguard_state_store_fallback 1 on /metrics,\n"
    "while Redis does not answer. Blocks the engine creates are told through\n"
    "[alert] exec and webhook, and as mail to [alert] mail_to through the\n"
    "gateway's own queue (from mail_from, default postmaster@hostname): the\n"
    "first at once, then one digest per block_digest. relayguard block and unblock talk to a running server through\n"
    "state_dir/control.sock. docs/policy.md has the details.\n"
    "\n"
    "  --config FILE   configuration (see relayguard checkconf --help)\n"
    "  -h, --help      this text\n";

static const char cli_checkconf_help[] =
    "usage: relayguard checkconf [--config FILE]\n"
    "\n"
    "Reads the gateway configuration and prints \"configuration OK\" and what it\n"
    "would run, or the first error as FILE:LINE: what (exit status 2).\n"
    "\n"
    "Sections: [gateway] hostname, state_dir, spool_dir, users, log_level, syslog,\n"
    "local_domains, trusted_networks, tls_cert, tls_key, max_message_size,\n"
    "max_recipients, max_connections, max_connections_per_client, smtp_timeout,\n"
    "line_length_limit, soft_error_limit, hard_error_limit, junk_command_limit,\n"
    "error_sleep_time, auth_failure_limit, auth_workers, queue_fsync, state_store\n"
    "(lmdb|redis), redis (HOST:PORT or unix:/path), redis_prefix, redis_timeout;\n"
    "[listener NAME] listen, role (submission|relay|inbound), tls\n"
    "(none|starttls|implicit), require_tls_for_auth; [policyd] listen, count_at\n"
    "(end-of-message|rcpt), max_connections; [web] listen, tls_cert, tls_key,\n"
    "api_token, api_token_file, monitor_state, session_idle, session_max (a\n"
    "listen address beyond loopback needs tls_cert and tls_key); [alert] exec,\n"
    "webhook (each repeatable: alerts on blocks), mail_to (repeatable or a comma\n"
    "list: alert mail through the queue), mail_from, exec_timeout,\n"
    "webhook_timeout, webhook_retries, webhook_ca, block_digest; [delivery] relayhost,\n"
    "relayhost_auth, relayhost_tls, tls (none|may|encrypt|verify), tls_ca_file,\n"
    "local_relay, smtp_port, source_address, source_by_sender_domain, resolver,\n"
    "address_family, destination_concurrency, max_connections, max_active,\n"
    "connect_timeout, command_timeout, idle_timeout, dead_time, poll_interval,\n"
    "minimal_backoff, maximal_backoff, queue_lifetime; [delivery_tls] DOMAIN =\n"
    "none|may|encrypt|verify (docs/delivery.md); [screen] dnsbl_sites,\n"
    "dnsbl_threshold, dnsbl_allowlist_threshold, resolver, spf, recipients\n"
    "(docs/inbound.md); and the policy engine's [limits], [domain NAME],\n"
    "[user NAME], [identity], [signals], [actions], [auth], [inbound],\n"
    "[autoreply], [notify], [forward] (docs/policy.md).\n";

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
		case 'h':
			cli_usage(stdout, help);
			return 1;
		default:
			fprintf(stderr, "relayguard %s --help shows the options\n", cmd);
			return -1;
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
	struct gw_config *c = malloc(sizeof *c);
	char err[512];
	if (!c || gwconf_load(c, path, err, sizeof err) != 0) {
		cli_error("checkconf", "%s", c ? err : "out of memory");
		free(c);
		return CLI_EXIT_USAGE;
	}
	printf("configuration OK (%s)\n", c->source);
	printf("  hostname %s, state %s, spool %s\n", c->hostname, c->state_dir, c->spool_dir);
	for (int i = 0; i < c->nlisteners; i++) {
		const struct gw_listener *l = &c->listeners[i];
		printf("  listener %s: role %s, tls %s, on", l->name, gw_role_name(l->role),
		       gw_tls_name(l->tls));
		for (int k = 0; k < l->naddrs; k++)
			printf(" %s", l->addrs[k].text);
		printf("\n");
	}
	if (strcmp(c->state_store, "redis") == 0)
		printf("  state store: redis at %s, key prefix %s (local fallback in %s/policy)\n",
		       c->redis_addr.text, c->redis_prefix, c->state_dir);
	else
		printf("  state store: lmdb in %s/policy\n", c->state_dir);
	printf("  policy service: %s\n", c->policyd_listen[0] ? c->policyd_addr.text : "off");
	printf("  web: %s\n", c->web_listen[0] ? c->web_addr.text : "off");
	printf("  delivery: %s%s, tls %s\n", c->delivery.relay.set ? "relayhost " : "MX lookups",
	       c->delivery.relay.set ? c->delivery.relay.text : "",
	       gw_dtls_name(c->delivery.tls_level));
	if (c->nalert_execs || c->nalert_webhooks || c->nalert_mail_to)
		printf("  alerts on blocks: %d program(s), %d webhook(s), %d mail address(es); digest "
		       "every %llu s\n",
		       c->nalert_execs, c->nalert_webhooks, c->nalert_mail_to,
		       (unsigned long long)(c->alert_digest_ms / 1000));
	else
		printf("  alerts on blocks: off\n");
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

struct cli_serve_tick {
	struct pol_engine *engine;
	struct queue *queue;
};

static void cli_serve_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct cli_serve_tick *t = arg;
	/* Blocks added or lifted by `relayguard block|unblock` in another process:
	 * ranges are cached by the engine, so re-read them. Holds released or
	 * deleted by `relayguard hold`: the queue follows its audit log. */
	clock_update();
	if (pol_engine_reload(t->engine) != 0)
		log_error("serve: cannot re-read blocks from the state store");
	if (t->queue && queue_rescan(t->queue) < 0)
		log_error("serve: cannot rescan the spool");
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

static void cli_serve_on_block(void *ctx, const struct pol_verdict *v, const char *client_ip)
{
	log_warn("serve: %s is blocked (rule %s, score %d): %s", v->identity, v->rule, v->score,
		 v->n_reasons ? v->reasons[0] : "");
	gwalert_block(ctx, v, client_ip);
}

struct cli_serve_ctl {
	struct pol_engine *engine;
	struct store *store;
};

static json_t *cli_serve_ctl_error(const char *what)
{
	return json_pack("{s:b, s:s}", "ok", 0, "error", what);
}

/* The control socket's commands: block and unblock through the running
 * engine (range blocks take effect at once), ping. */
static json_t *cli_serve_on_control(void *ctx, json_t *req)
{
	struct cli_serve_ctl *s = ctx;
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	if (!cmd)
		return cli_serve_ctl_error("no cmd");
	if (strcmp(cmd, "ping") == 0)
		return json_pack("{s:b, s:i, s:s, s:b}", "ok", 1, "pid", (int)getpid(), "store",
				 s->store->name, "fallback", gwstore_fallback(s->store));
	bool block = strcmp(cmd, "block") == 0;
	if (!block && strcmp(cmd, "unblock") != 0)
		return cli_serve_ctl_error("unknown cmd (block, unblock, ping)");
	const char *ident = json_string_value(json_object_get(req, "identity"));
	const char *actor = json_string_value(json_object_get(req, "actor"));
	const char *reason = json_string_value(json_object_get(req, "reason"));
	json_int_t expires_in = json_integer_value(json_object_get(req, "expires_in_ms"));
	char norm[POL_IDENT_MAX];
	if (!ident || pol_engine_normalize(s->engine, ident, norm, sizeof norm) != 0)
		return cli_serve_ctl_error("not an identity");
	if (gwstore_fallback(s->store))
		return cli_serve_ctl_error("Redis does not answer: a block or unblock must reach "
					   "every node; try again when it is back");
	if (!actor || !*actor)
		actor = "admin";
	clock_update();
	int64_t now = clock_realtime_ms();
	int rc;
	if (block)
		rc = pol_engine_block(s->engine, norm, actor, reason, now,
				      expires_in > 0 ? now + (int64_t)expires_in : 0);
	else
		rc = pol_engine_unblock(s->engine, norm, actor, reason, now);
	if (rc < 0)
		return cli_serve_ctl_error(block ? "cannot write the block" : "cannot lift the block");
	log_info("control: %s %s %s: %s", actor, block ? "blocked" : "unblocked", norm,
		 reason ? reason : "(no reason given)");
	return json_pack("{s:b, s:s, s:s}", "ok", 1, "identity", norm, "result",
			 block ? "blocked" : rc == 0 ? "unblocked" : "not_blocked");
}

int cli_serve(int argc, char **argv)
{
	const char *path = NULL;
	int rc = cli_conf_args(argc, argv, "serve", cli_serve_help, &path);
	if (rc != 0)
		return rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	char err[512];
	struct gw_config *c = malloc(sizeof *c);
	if (!c || gwconf_load(c, path, err, sizeof err) != 0) {
		cli_error("serve", "%s", c ? err : "out of memory");
		free(c);
		return CLI_EXIT_USAGE;
	}
	enum log_level lvl = LOG_LEVEL_INFO;
	log_level_parse(c->log_level, &lvl);
	log_open("relayguard", true, c->syslog, lvl);

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
	struct cli_serve_tick tk = {0};
	char token[256] = "";
	struct dns *dns = NULL;
	struct deliver *deliver = NULL;
	struct gwalert *alerts = NULL;
	struct control *ctl = NULL;
	struct event *sig_int = NULL, *sig_term = NULL, *tick = NULL;
	metrics = metrics_new();
	if (!metrics) {
		cli_error("serve", "out of memory");
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
	tk.engine = engine;
	tick = event_new(base, -1, EV_PERSIST, cli_serve_on_tick, &tk);
	struct timeval two = {2, 0};
	if (!sig_int || !sig_term || !tick || event_add(sig_int, NULL) != 0 ||
	    event_add(sig_term, NULL) != 0 || event_add(tick, &two) != 0) {
		cli_error("serve", "cannot set up signal handling");
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
	err[0] = '\0';
	alerts = gwalert_new(base, c, metrics, queue, err, sizeof err);
	if (!alerts && err[0]) {
		cli_error("serve", "%s", err);
		goto out;
	}
	if (c->policyd_listen[0]) {
		struct policyd_options po = {
		    .count_at_rcpt = strcmp(c->policyd_count_at, "rcpt") == 0,
		    .max_connections = (unsigned)c->policyd_max_connections,
		    .observe = cli_serve_observe,
		    .observe_arg = series,
		    .on_block = cli_serve_on_block,
		    .on_block_ctx = alerts,
		    .allow = c->policyd_allowed,
		    .socket_uid = c->policyd_uid,
		    .socket_gid = c->policyd_gid,
		    .socket_mode = c->policyd_mode,
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
		};
		web = web_new(base, &wo, &wc, err, sizeof err);
		if (!web) {
			cli_error("serve", "%s", err);
			goto out;
		}
	}
	struct cli_serve_ctl ctl_ctx = {engine, store};
	char ctl_path[600];
	if (str_format(ctl_path, sizeof ctl_path, "%s/control.sock", c->state_dir) != 0 ||
	    !(ctl = control_new(base, ctl_path, cli_serve_on_control, &ctl_ctx, err, sizeof err)))
		log_warn("serve: no control socket (%s); block and unblock will use the state store "
			 "directly",
			 ctl_path[0] ? err : "state_dir too long");
	tk.queue = queue;
	if (!c->queue_fsync)
		log_warn("serve: queue_fsync = no: a crash may lose mail answered 250");
	struct dns_options dopt = {.servers =
	                               c->delivery.resolver[0] ? c->delivery.resolver : NULL};
	dns = dns_new(base, &dopt, err, sizeof err);
	if (!dns) {
		cli_error("serve", "resolver: %s", err);
		goto out;
	}
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
				  .on_block_ctx = alerts};
	smtpd = smtpd_new(base, c, &deps, err, sizeof err);
	if (!smtpd) {
		cli_error("serve", "%s", err);
		goto out;
	}
	if (strcmp(c->state_store, "redis") == 0)
		log_info("serve: started (configuration: %s, state: shared in Redis at %s, prefix "
			 "%s; local state in %s/policy)",
			 c->source, c->redis_addr.text, c->redis_prefix, c->state_dir);
	else
		log_info("serve: started (configuration: %s, state: %s/policy)", c->source,
			 c->state_dir);
	event_base_dispatch(base);
	log_info("serve: stopped");
	rc = CLI_EXIT_OK;
out:
	if (sig_int)
		event_free(sig_int);
	if (sig_term)
		event_free(sig_term);
	if (tick)
		event_free(tick);
	smtpd_free(smtpd);
	deliver_free(deliver);
	if (dns)
		dns_free(dns);
	control_free(ctl);
	policyd_free(pd);
	gwalert_free(alerts);
	web_free(web);
	series_free(series);
	if (queue)
		queue_close(queue);
	if (base)
		event_base_free(base);
	metrics_free(metrics);
	pol_engine_free(engine);
	if (store)
		store->close(store);
	gwconf_free(c);
	free(c);
	return rc;
}
