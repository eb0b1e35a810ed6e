/*
 * relayguard monitor - check on a schedule, alert when a listing changes.
 *
 * Contract: ../shared/CLI.md "monitor". Each round runs the same checker as
 * `check` over the configured targets, compares the listings with the state
 * kept on disk and, only when something changed (newly listed, delisted),
 * sends one grouped alert: a flood of listings is one message, not hundreds.
 * An error (timeout, a list refusing us) is not a change: the previous state
 * stands until a real answer comes. The first round has no previous state, so
 * every listing it finds is reported as new.
 */
#include "cli/cli.h"
#include "cli/dnsbl_opts.h"

#include "admin/alert.h"
#include "core/cfg.h"
#include "core/clock.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/str.h"

#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MONITOR_MAX_ALERTS 8

static const char cli_monitor_help[] =
    "usage: relayguard monitor [--config FILE] [--once] [--json]\n"
    "\n"
    "Checks the configured IPs, ranges and domains against DNS blocklists every\n"
    "interval, keeps the last state on disk, and when a listing changes (newly\n"
    "listed, delisted) runs the configured alerts once for the whole round:\n"
    "programs get the change as JSON on standard input, webhooks get it POSTed.\n"
    "Lookups that fail are not changes; the last known state stands.\n"
    "\n"
    "Options:\n"
    "  --config FILE   configuration (default ./relayguard-monitor.conf)\n"
    "  --once          run one round and exit with check's exit status\n"
    "  --json          with --once: print the round's results and changes as JSON\n"
    "  -h, --help      this text\n"
    "\n"
    "Configuration (INI):\n"
    "  [monitor]\n"
    "  targets  = 203.0.113.5 203.0.113.0/24 2001:db8::25 example.com   (required)\n"
    "  zones    = zen.spamhaus.org bl.spamcop.net   (default: the catalogue's defaults)\n"
    "  catalogue = FILE           (default: the built-in catalogue)\n"
    "  resolver = 127.0.0.1:53    (default: /etc/resolv.conf)\n"
    "  interval = 1h              (between rounds; 10s to 7d)\n"
    "  timeout = 2000             (ms per attempt)   tries = 2   concurrency = 128\n"
    "  max_range = 4096           (largest range, in addresses)\n"
    "  state = ./var/monitor-state.json\n"
    "  [alert]\n"
    "  exec = /usr/local/bin/notify-admin --blocklist   (repeatable; no shell)\n"
    "  exec_timeout = 30s\n"
    "  webhook = https://hooks.example.com/relayguard    (repeatable)\n"
    "  webhook_timeout = 10s      webhook_retries = 3     webhook_ca = FILE\n"
    "\n"
    "Alert document: {\"event\": \"dnsbl_change\", \"time\": ..., \"changes\": [{\"change\":\n"
    "\"listed\"|\"delisted\", \"target\", \"zone\", \"name\", \"codes\", \"meaning\", \"txt\",\n"
    "\"delist\", \"since\"}], \"listed_now\": N}\n"
    "\n"
    "Exit status (--once): 0 nothing listed, 1 listed somewhere, 2 configuration\n"
    "error, 3 some lookups failed and nothing was listed.\n";

struct monitor_conf {
	char targets[4096];
	char zones[2048];
	char catalogue[512];
	char resolver[128];
	uint64_t interval_ms;
	long long timeout_ms;
	long long tries;
	long long concurrency;
	long long max_range;
	char state[512];
	uint64_t exec_timeout_ms;
	uint64_t webhook_timeout_ms;
	long long webhook_retries;
	char webhook_ca[512];
	char *execs[MONITOR_MAX_ALERTS];
	int nexecs;
	char *webhooks[MONITOR_MAX_ALERTS];
	int nwebhooks;
};

#define MC(f) offsetof(struct monitor_conf, f)
static const struct cfg_option monitor_options[] = {
    {"monitor", "targets", CFG_STRING, "", 0, 0, true, MC(targets),
     sizeof(((struct monitor_conf *)0)->targets), "IPs, ranges, domains"},
    {"monitor", "zones", CFG_STRING, "", 0, 0, true, MC(zones),
     sizeof(((struct monitor_conf *)0)->zones), "zones to query"},
    {"monitor", "catalogue", CFG_STRING, "", 0, 0, true, MC(catalogue),
     sizeof(((struct monitor_conf *)0)->catalogue), "catalogue file"},
    {"monitor", "resolver", CFG_STRING, "", 0, 0, true, MC(resolver),
     sizeof(((struct monitor_conf *)0)->resolver), "DNS server"},
    {"monitor", "interval", CFG_DURATION, "1h", 10000, 7 * 86400000LL, true, MC(interval_ms), 0,
     "time between rounds"},
    {"monitor", "timeout", CFG_INT, "2000", 10, 60000, true, MC(timeout_ms), 0, "ms per attempt"},
    {"monitor", "tries", CFG_INT, "2", 1, 10, true, MC(tries), 0, "attempts per query"},
    {"monitor", "concurrency", CFG_INT, "128", 1, 10000, true, MC(concurrency), 0,
     "queries in flight"},
    {"monitor", "max_range", CFG_INT, "4096", 1, 1 << 24, true, MC(max_range), 0, "largest range"},
    {"monitor", "state", CFG_STRING, "./var/monitor-state.json", 0, 0, false, MC(state),
     sizeof(((struct monitor_conf *)0)->state), "state file"},
    {"alert", "exec_timeout", CFG_DURATION, "30s", 100, 3600000, true, MC(exec_timeout_ms), 0,
     "alert program time limit"},
    {"alert", "webhook_timeout", CFG_DURATION, "10s", 100, 600000, true, MC(webhook_timeout_ms), 0,
     "per attempt"},
    {"alert", "webhook_retries", CFG_INT, "3", 0, 10, true, MC(webhook_retries), 0,
     "further attempts"},
    {"alert", "webhook_ca", CFG_STRING, "", 0, 0, true, MC(webhook_ca),
     sizeof(((struct monitor_conf *)0)->webhook_ca), "trusted CAs"},
};
#define MONITOR_NOPTS (sizeof monitor_options / sizeof monitor_options[0])

static void monitor_conf_free(struct monitor_conf *c)
{
	for (int i = 0; i < c->nexecs; i++)
		free(c->execs[i]);
	for (int i = 0; i < c->nwebhooks; i++)
		free(c->webhooks[i]);
	c->nexecs = c->nwebhooks = 0;
}

static int monitor_conf_handler(void *user, const char *section, const char *name,
                                const char *value, char *err, size_t errlen)
{
	struct monitor_conf *c = user;
	if (strcmp(section, "alert") == 0 &&
	    (strcmp(name, "exec") == 0 || strcmp(name, "webhook") == 0)) {
		bool ex = name[0] == 'e';
		int *n = ex ? &c->nexecs : &c->nwebhooks;
		if (*n == MONITOR_MAX_ALERTS) {
			str_format_trunc(err, errlen, "more than %d %s alerts", MONITOR_MAX_ALERTS,
			                 name);
			return -1;
		}
		if (!ex && alert_webhook_check_url(value, err, errlen) != 0)
			return -1;
		if (ex && *value == '\0') {
			str_format_trunc(err, errlen, "exec: empty command");
			return -1;
		}
		char *v = strdup(value);
		if (!v) {
			str_format_trunc(err, errlen, "out of memory");
			return -1;
		}
		(ex ? c->execs : c->webhooks)[(*n)++] = v;
		return 0;
	}
	int rc =
	    cfg_table_set(monitor_options, MONITOR_NOPTS, c, section, name, value, err, errlen);
	if (rc == 0) {
		str_format_trunc(err, errlen, "unknown option '%s' in [%s]", name, section);
		return -1;
	}
	return rc == 1 ? 0 : -1;
}

/* Config values become the same options `check` takes, so the two cannot drift. */
static int monitor_to_opts(const struct monitor_conf *c, const char *path, struct dnsbl_opts *o,
                           struct chk_targets *t, char *err, size_t errlen)
{
	char num[32];
	dnsbl_opts_init(o);
	memset(t, 0, sizeof *t);
	if (c->resolver[0] && dnsbl_opts_set_err(o, 'r', c->resolver, err, errlen) != 0)
		goto fail;
	if (c->catalogue[0] && dnsbl_opts_set_err(o, 'Z', c->catalogue, err, errlen) != 0)
		goto fail;
	if (str_format(num, sizeof num, "%lld", c->timeout_ms) != 0)
		panic("monitor_to_opts: num does not fit");
	if (dnsbl_opts_set_err(o, 't', num, err, errlen) != 0)
		goto fail;
	if (str_format(num, sizeof num, "%lld", c->tries) != 0)
		panic("monitor_to_opts: num does not fit");
	if (dnsbl_opts_set_err(o, 'T', num, err, errlen) != 0)
		goto fail;
	if (str_format(num, sizeof num, "%lld", c->concurrency) != 0)
		panic("monitor_to_opts: num does not fit");
	if (dnsbl_opts_set_err(o, 'c', num, err, errlen) != 0)
		goto fail;
	if (str_format(num, sizeof num, "%lld", c->max_range) != 0)
		panic("monitor_to_opts: num does not fit");
	if (dnsbl_opts_set_err(o, 'm', num, err, errlen) != 0)
		goto fail;
	char list[4096];
	char *f[512];
	if (str_copy(list, sizeof list, c->zones) != 0) {
		str_format_trunc(err, errlen, "%s: [monitor] zones: too long", path);
		goto fail;
	}
	int n = str_split(list, " ,\t", f, 512);
	for (int i = 0; i < n; i++)
		if (dnsbl_opts_set_err(o, 'z', f[i], err, errlen) != 0)
			goto fail;
	if (str_copy(list, sizeof list, c->targets) != 0) {
		str_format_trunc(err, errlen, "%s: [monitor] targets: too long", path);
		goto fail;
	}
	n = str_split(list, " ,\t", f, 512);
	if (n <= 0) {
		str_format_trunc(err, errlen, "%s: [monitor] targets: no targets configured", path);
		goto fail;
	}
	for (int i = 0; i < n; i++)
		if (chk_targets_add(t, f[i], o->max_range, err, errlen) != 0)
			goto fail;
	return 0;
fail:
	dnsbl_opts_free(o);
	chk_targets_free(t);
	return -1;
}

/* ---- state on disk: the listings of the last round ---- */

static json_t *monitor_state_load(const char *path, char *err, size_t errlen)
{
	json_error_t je;
	json_t *s = json_load_file(path, 0, &je);
	if (!s) {
		if (access(path, F_OK) != 0 && errno == ENOENT)
			return json_object(); /* first round */
		str_format_trunc(err, errlen, "%s:%d: state file unreadable: %s", path, je.line,
		                 je.text);
		return NULL;
	}
	json_t *l = json_object_get(s, "listings");
	if (!json_is_object(l)) {
		json_decref(s);
		str_format_trunc(err, errlen, "%s: state file has no \"listings\" object", path);
		return NULL;
	}
	json_incref(l);
	json_decref(s);
	return l;
}

/* The state is replaced atomically (core/fsutil): a crash leaves either the old
 * state or the new one, never half of either. */
static int monitor_state_save(const char *path, json_t *listings, char *err, size_t errlen)
{
	char dir[600];
	if (fsutil_dirname(path, dir, sizeof dir) != 0) {
		str_format_trunc(err, errlen, "state path too long");
		return -1;
	}
	if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
		str_format_trunc(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	json_t *doc = json_object();
	char ts[40];
	clock_format_rfc3339(clock_realtime_ms(), ts, sizeof ts);
	json_object_set_new(doc, "version", json_integer(1));
	json_object_set_new(doc, "updated", json_string(ts));
	json_object_set(doc, "listings", listings);
	char *text = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS);
	json_decref(doc);
	if (!text) {
		str_format_trunc(err, errlen, "out of memory");
		return -1;
	}
	int rc = fsutil_write_atomic(path, text, strlen(text), 0640, err, errlen);
	free(text);
	return rc;
}

/* ---- one round ---- */

struct monitor_round {
	json_t *results; /* check's JSON results */
	json_t *changes;
	struct dnsbl_counts cnt;
};

static int monitor_round(const struct monitor_conf *c, const struct dnsbl_opts *o,
                         const struct dnsbl_sel *sel, const struct chk_targets *t,
                         struct monitor_round *out, char *err, size_t errlen)
{
	struct chk_result *res = NULL;
	size_t n = 0;
	struct chk_stats st;
	memset(out, 0, sizeof *out);
	json_t *prev = monitor_state_load(c->state, err, errlen);
	if (!prev)
		return -1;
	if (dnsbl_run(o, "monitor", sel, t, &res, &n, &st) != 0) {
		json_decref(prev);
		str_format_trunc(err, errlen, "the lookups could not run");
		return -1;
	}
	clock_update();
	char now[40];
	clock_format_rfc3339(clock_realtime_ms(), now, sizeof now);
	dnsbl_count(sel, res, n, &out->cnt);
	out->results = json_array();
	out->changes = json_array();
	json_t *next = json_object();
	for (size_t i = 0; i < n; i++) {
		const struct chk_result *r = &res[i];
		const struct bl_zone *z = &sel->zones[r->zone];
		char key[600];
		if (str_format(key, sizeof key, "%s %s", t->v[r->target].name, z->zone) != 0)
			panic("monitor_round: key does not fit");
		json_t *rj = dnsbl_result_json(sel, t, r);
		json_array_append(out->results, rj);
		json_t *was = json_object_get(prev, key);
		bool listed = r->v.outcome == BL_LISTED && z->role == BL_ROLE_BLOCK;
		if (listed) {
			json_t *since = was ? json_object_get(was, "since") : NULL;
			json_t *entry =
			    json_pack("{s:s, s:O, s:O}", "since",
			              json_is_string(since) ? json_string_value(since) : now,
			              "codes", json_object_get(rj, "codes"), "meaning",
			              json_object_get(rj, "meaning"));
			json_object_set_new(next, key, entry);
			if (!was) {
				json_t *ch = json_deep_copy(rj);
				json_object_set_new(ch, "change", json_string("listed"));
				json_object_set_new(ch, "since", json_string(now));
				json_array_append_new(out->changes, ch);
			}
		} else if (was && r->v.outcome == BL_CLEAN) {
			json_t *ch = json_deep_copy(rj);
			json_object_set_new(ch, "change", json_string("delisted"));
			json_object_set(ch, "since", json_object_get(was, "since"));
			json_array_append_new(out->changes, ch);
		} else if (was) {
			/* An error is not news: keep the listing until a real answer. */
			json_object_set(next, key, was);
		}
		json_decref(rj);
	}
	free(res);
	json_decref(prev);
	int rc = monitor_state_save(c->state, next, err, errlen);
	json_decref(next);
	return rc;
}

static int monitor_alert(const struct monitor_conf *c, const struct monitor_round *r)
{
	if (json_array_size(r->changes) == 0)
		return 0;
	char now[40];
	clock_format_rfc3339(clock_realtime_ms(), now, sizeof now);
	json_t *doc = json_pack("{s:s, s:s, s:O, s:I}", "event", "dnsbl_change", "time", now,
	                        "changes", r->changes, "listed_now", (json_int_t)r->cnt.listed);
	char *text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (!text)
		return -1;
	int failures = 0;
	char err[256];
	size_t i;
	json_t *ch;
	json_array_foreach(r->changes, i, ch)
	{
		log_info("monitor change=%s target=%s zone=%s",
		         json_string_value(json_object_get(ch, "change")),
		         json_string_value(json_object_get(ch, "target")),
		         json_string_value(json_object_get(ch, "zone")));
	}
	for (int k = 0; k < c->nexecs; k++) {
		struct alert_exec a = {.command = c->execs[k],
		                       .timeout_ms = (int)c->exec_timeout_ms};
		if (alert_run_exec(&a, text, err, sizeof err) != 0) {
			log_error("monitor alert exec=\"%s\" failed: %s", c->execs[k], err);
			failures++;
		}
	}
	for (int k = 0; k < c->nwebhooks; k++) {
		struct alert_webhook w = {.url = c->webhooks[k],
		                          .timeout_ms = (int)c->webhook_timeout_ms,
		                          .retries = (int)c->webhook_retries,
		                          .ca_file = c->webhook_ca[0] ? c->webhook_ca : NULL};
		if (alert_post_webhook(&w, text, err, sizeof err) != 0) {
			log_error("monitor alert webhook=%s failed: %s", c->webhooks[k], err);
			failures++;
		}
	}
	free(text);
	return failures ? -1 : 0;
}

static void monitor_round_free(struct monitor_round *r)
{
	json_decref(r->results);
	json_decref(r->changes);
}

static volatile sig_atomic_t monitor_stop;

static void monitor_on_signal(int sig)
{
	monitor_stop = 1;
}

int cli_monitor(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"once", no_argument, NULL, 'o'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = "./relayguard-monitor.conf";
	bool once = false, json = false;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'o':
			once = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			cli_usage(stdout, cli_monitor_help);
			return CLI_EXIT_OK;
		default:
			fprintf(stderr, "relayguard monitor --help shows the options\n");
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		cli_error("monitor", "unexpected argument '%s'", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	struct monitor_conf conf;
	memset(&conf, 0, sizeof conf);
	char err[768];
	if (cfg_table_defaults(monitor_options, MONITOR_NOPTS, &conf, err, sizeof err) != 0)
		panic("monitor: bad built-in default: %s", err);
	if (cfg_parse_file(path, monitor_conf_handler, &conf, err, sizeof err) != 0) {
		cli_error("monitor", "%s", err);
		monitor_conf_free(&conf);
		return CLI_EXIT_USAGE;
	}
	struct dnsbl_opts o;
	struct chk_targets t;
	if (monitor_to_opts(&conf, path, &o, &t, err, sizeof err) != 0) {
		cli_error("monitor", "%s", err);
		monitor_conf_free(&conf);
		return CLI_EXIT_USAGE;
	}
	struct dnsbl_sel sel;
	if (dnsbl_select(&o, "monitor", &sel) != 0) {
		dnsbl_opts_free(&o);
		chk_targets_free(&t);
		monitor_conf_free(&conf);
		return CLI_EXIT_USAGE;
	}
	int rc = CLI_EXIT_OK;
	if (!once) {
		log_set_level(LOG_LEVEL_INFO);
		signal(SIGINT, monitor_on_signal);
		signal(SIGTERM, monitor_on_signal);
		log_info("monitor started: %zu targets, %zu zones, every %llu s, state %s", t.n,
		         sel.nzones, (unsigned long long)(conf.interval_ms / 1000), conf.state);
	}
	while (!monitor_stop) {
		struct monitor_round r;
		if (monitor_round(&conf, &o, &sel, &t, &r, err, sizeof err) != 0) {
			cli_error("monitor", "%s", err);
			rc = once ? CLI_EXIT_USAGE : rc;
		} else {
			int arc = monitor_alert(&conf, &r);
			if (once && json) {
				json_t *doc = json_object();
				json_object_set(doc, "results", r.results);
				json_object_set(doc, "changes", r.changes);
				json_object_set_new(
				    doc, "summary",
				    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "targets",
				              (json_int_t)t.n, "zones", (json_int_t)sel.nzones,
				              "listed", (json_int_t)r.cnt.listed, "errors",
				              (json_int_t)r.cnt.errors, "clean",
				              (json_int_t)r.cnt.clean, "changes",
				              (json_int_t)json_array_size(r.changes), "alerts_ok",
				              arc == 0));
				cli_print_json(doc);
			} else if (once) {
				printf("%zu targets x %zu zones: %lu listed, %lu errors, %zu "
				       "changes\n",
				       t.n, sel.nzones, r.cnt.listed, r.cnt.errors,
				       json_array_size(r.changes));
				size_t i;
				json_t *c;
				json_array_foreach(r.changes, i, c)
				{
					printf("%-9s %-40s %s\n",
					       json_string_value(json_object_get(c, "change")),
					       json_string_value(json_object_get(c, "target")),
					       json_string_value(json_object_get(c, "zone")));
				}
			} else {
				log_info("monitor round: %lu listed, %lu errors, %zu changes",
				         r.cnt.listed, r.cnt.errors, json_array_size(r.changes));
			}
			if (arc != 0 && once)
				cli_error("monitor", "an alert could not be delivered (see above)");
			rc = r.cnt.listed   ? CLI_EXIT_FOUND
			     : r.cnt.errors ? CLI_EXIT_INCOMPLETE
			                    : CLI_EXIT_OK;
			monitor_round_free(&r);
		}
		if (once)
			break;
		/* Sleep until the next round, waking every second to notice a signal. */
		clock_update();
		int64_t next = clock_monotonic_ms() + (int64_t)conf.interval_ms;
		while (!monitor_stop) {
			clock_update();
			int64_t left = next - clock_monotonic_ms();
			if (left <= 0)
				break;
			struct timespec ts = {left > 1000 ? 1 : 0,
			                      (left > 1000 ? 0 : left) * 1000000};
			nanosleep(&ts, NULL);
		}
	}
	if (!once)
		log_info("monitor stopped");
	dnsbl_sel_free(&sel);
	dnsbl_opts_free(&o);
	chk_targets_free(&t);
	monitor_conf_free(&conf);
	return rc;
}
