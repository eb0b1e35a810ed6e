/*
 * cli_logscan - "relayguard logscan" (who abused the server) and "relayguard
 * replay" (what the policy would have done). Both read the same logs the
 * same way (forensics/logread.c, forensics/logscan.c) and differ only in
 * what they print, so they share this file.
 */
#include "cli/cli.h"

#include "core/addr.h"
#include "core/clock.h"
#include "core/grow.h"
#include "core/str.h"
#include "forensics/logread.h"
#include "forensics/logscan.h"
#include "policy/config.h"

#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char cli_logscan_help[] =
    "usage: relayguard logscan [--json]\n"
    "                          [--format auto|postfix|exim|dovecot|netfilter|relayguard|\n"
    "                                    exchange|mailenable|kerio]\n"
    "                          [--since TIME] [--until TIME] [--local-networks CIDR,...]\n"
    "                          [--config FILE] [--year YYYY] [--merge] FILE...\n"
    "\n"
    "Reads mail and firewall logs, replays them through the policy engine with the\n"
    "logs' own timestamps, and names who abused the server, since when, with the\n"
    "evidence and what to do next:\n"
    "\n"
    "  compromised_account  an account that sent like a spammer (volume, around the\n"
    "                       clock, many IPs or networks, rejected recipients, a login\n"
    "                       after many failures): change its password\n"
    "  brute_force          a client IP with many failed logins, and the accounts it\n"
    "                       then logged in to: block it, change those passwords\n"
    "  direct_smtp          a machine that sent SMTP straight to the Internet (netfilter\n"
    "                       log lines, see relayguard firewall): disinfect it\n"
    "  open_relay_abuse     a client outside the local networks whose mail was relayed\n"
    "                       to other domains without authentication: close the relay\n"
    "  backscatter          bounces of accepted mail to (forged) remote senders: reject\n"
    "                       unknown recipients at SMTP time\n"
    "  autoreply_flood      an account whose auto-replies went out by the hundred\n"
    "\n"
    "Logs: Postfix (syslog with classic or RFC 3339 stamps, Postfix's own maillog_file;\n"
    "smtpd, submission/smtpd, cleanup, qmgr, smtp, lmtp, local, virtual, bounce, pickup;\n"
    "short and long queue IDs), Exim main log, Dovecot (syslog or its own file),\n"
    "netfilter LOG lines (kern.log, the journal, dmesg) and relayguard's own delivery\n"
    "log (docs/delivery.md); Microsoft Exchange message tracking and SMTP Receive\n"
    "protocol logs, MailEnable SMTP activity logs, Kerio Connect security.log and\n"
    "mail.log (each such file is one format, found from its first lines). Formats may\n"
    "be mixed in one\n"
    "file and across files; lines that are none of these are counted, never fatal.\n"
    "FILE may be gzip-compressed; '-' reads standard input. Give files oldest first:\n"
    "time never runs backwards in the engine (older lines are taken as of the newest\n"
    "time seen, and counted). docs/logscan.md lists which line becomes which event.\n"
    "\n"
    "Options:\n"
    "  --json               one JSON document on standard output\n"
    "  --format F           read only this format (default auto: every line by itself)\n"
    "  --since TIME         ignore lines before TIME (2026-11-02 or RFC 3339)\n"
    "  --until TIME         ignore lines at or after TIME\n"
    "  --local-networks CIDR,...  the organisation's own networks (default: private,\n"
    "                       loopback and link-local ranges); mail from elsewhere that\n"
    "                       is relayed without authentication is open-relay abuse\n"
    "  --config FILE        policy settings (the [limits], [signals], [actions] and\n"
    "                       [auth] sections: a policy file, or the gateway's own\n"
    "                       configuration; docs/policy.md)\n"
    "  --year YYYY          the year of the first classic syslog stamp (\"Mar  3\n"
    "                       02:14:07\" has none). Default: inferred from each file's\n"
    "                       modification time; December to January adds a year\n"
    "  --merge              read every FILE whole, then all their lines oldest first\n"
    "                       (each file's own order kept): for logs of one server that\n"
    "                       tell one story in several files (Exchange's protocol and\n"
    "                       tracking logs, Kerio's security.log and mail.log), in any\n"
    "                       order. Keeps the files in memory\n"
    "  --help               this text\n"
    "\n"
    "Classic syslog stamps carry no zone and are read as UTC.\n"
    "\n"
    "Exit status: 0 no suspects, 1 suspects named, 2 usage, configuration or input\n"
    "error, 3 some inputs could not be read and no suspect was found.\n";

static const char cli_replay_help[] =
    "usage: relayguard replay [--json] [--config FILE] [--format F] [--since TIME]\n"
    "                         [--until TIME] [--local-networks CIDR,...] [--year YYYY]\n"
    "                         [--merge] FILE...\n"
    "\n"
    "Reads the same logs as relayguard logscan and runs them through the policy\n"
    "engine, then prints every verdict that is not \"allow\", in order: when, where\n"
    "(file:line), the action (warn, defer, hold, block), the identity it applies to,\n"
    "the rule, the score and the reasons, and the event it decided on. Use it to\n"
    "tune limits (--config) before going live: nothing is sent, blocked or stored.\n"
    "\n"
    "Options: as for relayguard logscan (relayguard logscan --help).\n"
    "\n"
    "JSON: {\"verdicts\": [{\"time\", \"source\", \"action\", \"rule\", \"identity\",\n"
    "\"score\", \"reasons\": [...], \"event\": {\"type\", \"user\", \"ip\", \"sender\",\n"
    "\"recipients\", \"size\", \"flags\"}}], \"stats\": {...}}\n"
    "\n"
    "Exit status: 0 every verdict was allow, 1 some were not, 2 usage, configuration\n"
    "or input error, 3 some inputs could not be read and every verdict was allow.\n";

struct cli_scan {
	const char *cmd;
	bool json, replay, merge;
	struct logscan_opts o;
	struct pol_config cfg;
	struct prefix_set *local;
	struct logscan *s;
	uint64_t printed;
	int failed_inputs, inputs;
};

static void cli_scan_time(int64_t ms, char *out, size_t n)
{
	if (ms == 0 || clock_format_rfc3339(ms, out, n) != 0)
		str_copy_trunc(out, n, "-");
}

static json_t *cli_scan_time_json(int64_t ms)
{
	char t[40];
	if (ms == 0)
		return json_null();
	cli_scan_time(ms, t, sizeof t);
	return json_string(t);
}

static json_t *cli_scan_ip_json(const struct addr *a)
{
	char t[ADDR_STRLEN];
	if (addr_format(a, t, sizeof t) != 0)
		return json_null();
	return json_string(t);
}

/* ---- replay output ---- */

static json_t *cli_scan_event_json(const struct pol_event *ev)
{
	json_t *e = json_object(), *r = json_array(), *f = json_array();
	(void)json_object_set_new(e, "type", json_string(pol_event_type_name(ev->type)));
	(void)json_object_set_new(e, "user", ev->user[0] ? json_string(ev->user) : json_null());
	(void)json_object_set_new(e, "ip", ev->has_ip ? cli_scan_ip_json(&ev->ip) : json_null());
	if (ev->type == POL_EV_MAIL || ev->type == POL_EV_RCPT_REJECT)
		(void)json_object_set_new(e, "sender", json_string(ev->sender));
	for (uint32_t i = 0; i < ev->n_rcpt; i++)
		(void)json_array_append_new(r, json_string(ev->rcpt[i]));
	(void)json_object_set_new(e, "recipients", r);
	(void)json_object_set_new(e, "rcpt_count", json_integer(ev->rcpt_count));
	(void)json_object_set_new(e, "size", json_integer((json_int_t)ev->size));
	if (ev->flags & POL_F_NULL_SENDER)
		(void)json_array_append_new(f, json_string("null_sender"));
	if (ev->flags & POL_F_AUTO_SUBMITTED)
		(void)json_array_append_new(f, json_string("auto_submitted"));
	(void)json_object_set_new(e, "flags", f);
	return e;
}

static void cli_scan_verdict(void *ctx, const struct pol_event *ev, const struct pol_verdict *v,
                             const char *source, uint64_t line_no)
{
	struct cli_scan *c = ctx;
	char t[40], ip[ADDR_STRLEN] = "";
	if (!c->replay)
		return;
	cli_scan_time(ev->time_ms, t, sizeof t);
	if (ev->has_ip && addr_format(&ev->ip, ip, sizeof ip) != 0)
		ip[0] = '\0';
	if (c->json) {
		json_t *o = json_object(), *reasons = json_array();
		char src[600];
		str_format_trunc(src, sizeof src, "%s:%llu", source, (unsigned long long)line_no);
		(void)json_object_set_new(o, "time", json_string(t));
		(void)json_object_set_new(o, "source", json_string(src));
		(void)json_object_set_new(o, "action", json_string(pol_action_name(v->action)));
		(void)json_object_set_new(o, "rule", json_string(v->rule));
		(void)json_object_set_new(o, "identity", json_string(v->identity));
		(void)json_object_set_new(o, "score", json_integer(v->score));
		for (uint32_t i = 0; i < v->n_reasons; i++)
			(void)json_array_append_new(reasons, json_string(v->reasons[i]));
		(void)json_object_set_new(o, "reasons", reasons);
		if (v->block_created || v->action == POL_BLOCK)
			(void)json_object_set_new(o, "blocked_until",
			                          cli_scan_time_json(v->block_expires_ms));
		(void)json_object_set_new(o, "event", cli_scan_event_json(ev));
		char *s = json_dumps(o, JSON_COMPACT);
		if (s)
			printf("%s\n  %s", c->printed ? "," : "", s);
		free(s);
		json_decref(o);
	} else {
		printf("%s %s:%llu %s %s rule=%s score=%d", t, source, (unsigned long long)line_no,
		       pol_action_name(v->action), v->identity[0] ? v->identity : "-", v->rule,
		       v->score);
		for (uint32_t i = 0; i < v->n_reasons; i++)
			printf("%s%s", i ? "; " : ": ", v->reasons[i]);
		printf(" | %s", pol_event_type_name(ev->type));
		if (ev->user[0])
			printf(" user=%s", ev->user);
		if (ip[0])
			printf(" ip=%s", ip);
		if (ev->type == POL_EV_MAIL || ev->type == POL_EV_RCPT_REJECT)
			printf(" from=<%s> rcpts=%u", ev->sender, ev->rcpt_count);
		if (ev->type == POL_EV_MAIL && ev->size)
			printf(" size=%llu", (unsigned long long)ev->size);
		for (uint32_t i = 0; i < ev->n_rcpt; i++)
			printf(" rcpt=<%s>", ev->rcpt[i]);
		if (ev->flags & POL_F_AUTO_SUBMITTED)
			printf(" auto_submitted");
		printf("\n");
	}
	c->printed++;
}

/* ---- logscan output ---- */

static json_t *cli_scan_stats_json(const struct logscan_stats *st, double seconds)
{
	json_t *s = json_object(), *f = json_object();
	static const char *const names[] = {"",         "postfix",    "exim",
	                                    "dovecot",  "netfilter",  "relayguard",
	                                    "exchange", "mailenable", "kerio"};
	(void)json_object_set_new(s, "lines", json_integer((json_int_t)st->lines));
	(void)json_object_set_new(s, "parsed", json_integer((json_int_t)st->parsed));
	(void)json_object_set_new(s, "unparsed", json_integer((json_int_t)st->unparsed));
	(void)json_object_set_new(s, "messages", json_integer((json_int_t)st->messages));
	(void)json_object_set_new(s, "seconds", json_real(seconds));
	(void)json_object_set_new(s, "events", json_integer((json_int_t)st->events));
	(void)json_object_set_new(s, "verdicts", json_integer((json_int_t)st->verdicts));
	(void)json_object_set_new(s, "too_long", json_integer((json_int_t)st->too_long));
	(void)json_object_set_new(s, "out_of_order", json_integer((json_int_t)st->out_of_order));
	(void)json_object_set_new(s, "outside_time_range", json_integer((json_int_t)st->outside));
	(void)json_object_set_new(s, "queue_ids_peak",
	                          json_integer((json_int_t)st->queue_ids_peak));
	(void)json_object_set_new(s, "queue_ids_dropped",
	                          json_integer((json_int_t)st->queue_ids_dropped));
	(void)json_object_set_new(s, "first", cli_scan_time_json(st->first_ms));
	(void)json_object_set_new(s, "last", cli_scan_time_json(st->last_ms));
	for (int i = 1; i < LOGSCAN_FORMATS; i++)
		(void)json_object_set_new(f, names[i], json_integer((json_int_t)st->by_format[i]));
	(void)json_object_set_new(s, "by_format", f);
	return s;
}

static json_t *cli_scan_suspect_json(const struct logscan_suspect *x)
{
	json_t *o = json_object(), *ev = json_array(), *ips = json_array();
	(void)json_object_set_new(o, "kind", json_string(logscan_kind_name(x->kind)));
	for (uint32_t i = 0; i < x->n_evidence; i++)
		(void)json_array_append_new(ev, json_string(x->evidence[i]));
	for (uint32_t i = 0; i < x->n_ips; i++)
		(void)json_array_append_new(ips, cli_scan_ip_json(&x->ips[i]));
	json_int_t c1 = (json_int_t)x->count, c2 = (json_int_t)x->count2;
	switch (x->kind) {
	case LOGSCAN_COMPROMISED_ACCOUNT:
		(void)json_object_set_new(o, "account", json_string(x->account));
		(void)json_object_set_new(o, "score", json_real(x->score));
		(void)json_object_set_new(o, "blocked_at", cli_scan_time_json(x->blocked_ms));
		(void)json_object_set_new(o, "messages", json_integer(c1));
		(void)json_object_set_new(o, "refused", json_integer(c2));
		(void)json_object_set_new(o, "login_ips", ips);
		(void)json_object_set_new(o, "login_ips_total",
		                          json_integer((json_int_t)x->n_ips_total));
		ips = NULL;
		break;
	case LOGSCAN_BRUTE_FORCE: {
		json_t *succ = json_array();
		for (uint32_t i = 0; i < x->n_names; i++)
			(void)json_array_append_new(succ, json_string(x->names[i]));
		(void)json_object_set_new(o, "client_ip", cli_scan_ip_json(&x->ip));
		(void)json_object_set_new(o, "failures", json_integer(c1));
		(void)json_object_set_new(o, "accounts_tried", json_integer(c2));
		(void)json_object_set_new(o, "succeeded", succ);
		(void)json_object_set_new(o, "blocked_at", cli_scan_time_json(x->blocked_ms));
		/* the facts of each login, apart from what the policy would have done */
		json_t *logins = json_array();
		for (uint32_t i = 0; i < x->n_logins; i++) {
			const struct logscan_login *g = &x->logins[i];
			json_t *l = json_object();
			(void)json_object_set_new(l, "account", json_string(g->account));
			(void)json_object_set_new(l, "first_success",
			                          cli_scan_time_json(g->first_ms));
			(void)json_object_set_new(l, "failures_before",
			                          json_integer((json_int_t)g->failures_before));
			(void)json_object_set_new(l, "messages_after",
			                          json_integer((json_int_t)g->messages_after));
			(void)json_array_append_new(logins, l);
		}
		(void)json_object_set_new(o, "logins", logins);
		(void)json_object_set_new(o, "logins_more",
		                          json_integer((json_int_t)x->logins_more));
		json_t *pw = json_null();
		if (x->policy_rule[0]) {
			pw = json_object();
			(void)json_object_set_new(pw, "verdict",
			                          json_string(pol_action_name(x->policy_action)));
			(void)json_object_set_new(pw, "rule", json_string(x->policy_rule));
			(void)json_object_set_new(pw, "at", cli_scan_time_json(x->blocked_ms));
		}
		(void)json_object_set_new(o, "policy_would", pw);
		break;
	}
	case LOGSCAN_DIRECT_SMTP:
		(void)json_object_set_new(o, "host", cli_scan_ip_json(&x->ip));
		(void)json_object_set_new(o, "attempts", json_integer(c1));
		(void)json_object_set_new(o, "destinations", json_integer(c2));
		break;
	case LOGSCAN_OPEN_RELAY_ABUSE:
		(void)json_object_set_new(o, "client_ip", cli_scan_ip_json(&x->ip));
		(void)json_object_set_new(o, "messages", json_integer(c1));
		(void)json_object_set_new(o, "recipients", json_integer(c2));
		break;
	case LOGSCAN_BACKSCATTER:
		(void)json_object_set_new(o, "messages", json_integer(c1));
		(void)json_object_set_new(o, "domains", json_integer(c2));
		(void)json_object_set_new(o, "caused_by", ips);
		ips = NULL;
		break;
	case LOGSCAN_AUTOREPLY_FLOOD:
		(void)json_object_set_new(o, "account", json_string(x->account));
		(void)json_object_set_new(o, "messages", json_integer(c1));
		(void)json_object_set_new(o, "deferred", json_integer(c2));
		break;
	}
	json_decref(ips);
	(void)json_object_set_new(o, "first_seen", cli_scan_time_json(x->first_ms));
	(void)json_object_set_new(o, "last_seen", cli_scan_time_json(x->last_ms));
	(void)json_object_set_new(o, "evidence", ev);
	(void)json_object_set_new(o, "todo", json_string(x->todo));
	return o;
}

static const char *cli_scan_title(enum logscan_kind k)
{
	static const char *const t[] = {"COMPROMISED ACCOUNT", "OPEN RELAY ABUSE", "DIRECT SMTP",
	                                "BRUTE FORCE",         "AUTOREPLY FLOOD",  "BACKSCATTER"};
	return (unsigned)k < 6 ? t[k] : "?";
}

static void cli_scan_text(const struct logscan_suspect *sus, size_t n,
                          const struct logscan_stats *st, double seconds, int inputs)
{
	char a[40], b[40], ip[ADDR_STRLEN];
	cli_scan_time(st->first_ms, a, sizeof a);
	cli_scan_time(st->last_ms, b, sizeof b);
	printf("relayguard logscan: %d input%s, %llu lines (%llu not understood), %llu messages,\n"
	       "  %s to %s, %.2f s\n\n",
	       inputs, inputs == 1 ? "" : "s", (unsigned long long)st->lines,
	       (unsigned long long)st->unparsed, (unsigned long long)st->messages, a, b, seconds);
	if (n == 0) {
		printf("No suspects.\n");
		return;
	}
	printf("%zu suspect%s, most urgent first:\n", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		const struct logscan_suspect *x = &sus[i];
		printf("\n%zu. %s ", i + 1, cli_scan_title(x->kind));
		if (x->account[0])
			printf("%s", x->account);
		else if (x->has_ip && addr_format(&x->ip, ip, sizeof ip) == 0)
			printf("%s", ip);
		else
			printf("on this server");
		switch (x->kind) {
		case LOGSCAN_COMPROMISED_ACCOUNT:
			printf(" (score %.2f, %llu messages)", x->score,
			       (unsigned long long)x->count);
			break;
		case LOGSCAN_BRUTE_FORCE:
			printf(" (%llu failures, %llu account%s)", (unsigned long long)x->count,
			       (unsigned long long)x->count2, x->count2 == 1 ? "" : "s");
			break;
		case LOGSCAN_DIRECT_SMTP:
			printf(" (%llu attempts)", (unsigned long long)x->count);
			break;
		default:
			printf(" (%llu messages)", (unsigned long long)x->count);
			break;
		}
		cli_scan_time(x->first_ms, a, sizeof a);
		cli_scan_time(x->last_ms, b, sizeof b);
		printf("\n   since %s, last %s", a, b);
		if (x->blocked_ms) {
			cli_scan_time(x->blocked_ms, a, sizeof a);
			printf("; the policy %s at %s",
			       x->kind == LOGSCAN_BRUTE_FORCE ? "locks it out" : "blocks it", a);
		}
		printf("\n");
		for (uint32_t k = 0; k < x->n_evidence && k < 5; k++)
			printf("   - %s\n", x->evidence[k]);
		printf("   Do: %s\n", x->todo);
	}
}

/* ---- shared driver ---- */

static int cli_scan_line(void *ctx, const char *p, size_t len)
{
	struct cli_scan *c = ctx;
	return logscan_line(c->s, p, len) == 0 ? 0 : -1;
}

static void cli_scan_long(void *ctx)
{
	struct cli_scan *c = ctx;
	logscan_line_too_long(c->s);
}

/* ---- --merge: the inputs read whole, then interleaved by their lines' times ---- */

struct cli_merge_in {
	struct logscan *s;
	char *buf; /* the lines, one after another */
	size_t used, cap;
	size_t *off; /* line i: buf + off[i], off[i + 1] - off[i] bytes */
	int64_t *t;  /* its time: its stamp, else the line before's */
	size_t n, cap_lines, next;
	int64_t last;
	bool nomem;
};

static int cli_merge_line(void *ctx, const char *p, size_t len)
{
	struct cli_merge_in *m = ctx;
	size_t cl = m->cap_lines; /* off and t grow alike from the same capacity */
	if (grow_array(&m->buf, &m->cap, m->used + len, 1) != 0 ||
	    grow_array(&m->off, &cl, m->n + 2, sizeof *m->off) != 0 ||
	    grow_array(&m->t, &m->cap_lines, m->n + 2, sizeof *m->t) != 0) {
		m->nomem = true;
		return -1;
	}
	memcpy(m->buf + m->used, p, len);
	m->off[m->n] = m->used;
	m->used += len;
	m->off[m->n + 1] = m->used;
	int64_t t;
	if (logscan_line_time(m->s, p, len, &t) == 0)
		m->last = t;
	m->t[m->n++] = m->last;
	return 0;
}

static void cli_merge_long(void *ctx)
{
	struct cli_merge_in *m = ctx;
	logscan_line_too_long(m->s);
}

/* Reads every input whole (as logscan_begin's inputs 0, 1, ...), then hands
 * their lines to logscan oldest first: each file's own order kept, the files
 * interleaved by time (a tie goes to the file given first). 0, or -1 when the
 * policy store failed or memory ran out. */
static int cli_scan_merged(struct cli_scan *c, int first, int argc, char **argv)
{
	char err[512];
	size_t k = (size_t)(argc - first), done = 0;
	struct cli_merge_in *in = calloc(k ? k : 1, sizeof *in);
	int rc = 0;
	if (!in) {
		cli_error(c->cmd, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < k; i++) {
		const char *path = argv[first + (int)i];
		struct logread r;
		in[i].s = c->s;
		in[i].last = INT64_MIN;
		c->inputs++;
		clock_update();
		bool opened = logread_open(&r, path, err, sizeof err) == 0;
		/* every input gets its number, readable or not */
		logscan_begin(c->s, strcmp(path, "-") == 0 ? "stdin" : path,
		              opened && r.mtime_ms ? r.mtime_ms : clock_realtime_ms());
		if (!opened) {
			cli_error(c->cmd, "%s", err);
			c->failed_inputs++;
			continue;
		}
		int e = logread_each(&r, cli_merge_line, cli_merge_long, &in[i], err, sizeof err);
		logread_close(&r);
		if (in[i].nomem) {
			cli_error(c->cmd, "%s: out of memory (--merge keeps every input in memory)",
			          path);
			rc = -1;
			goto out;
		}
		if (e == -1) {
			cli_error(c->cmd, "%s: %s", path, err);
			c->failed_inputs++;
		}
	}
	for (size_t i = 0; i < k; i++)
		done += in[i].n == 0;
	while (done < k) {
		size_t best = k;
		for (size_t i = 0; i < k; i++)
			if (in[i].next < in[i].n &&
			    (best == k || in[i].t[in[i].next] < in[best].t[in[best].next]))
				best = i;
		struct cli_merge_in *m = &in[best];
		size_t j = m->next++;
		(void)logscan_select(c->s, best); /* logscan_begin numbered them 0, 1, ... */
		if (logscan_line(c->s, m->buf + m->off[j], m->off[j + 1] - m->off[j]) != 0) {
			cli_error(c->cmd, "%s: the policy store failed", argv[first + (int)best]);
			rc = -1;
			goto out;
		}
		if (m->next == m->n)
			done++;
	}
out:
	for (size_t i = 0; i < k; i++) {
		free(in[i].buf);
		free(in[i].off);
		free(in[i].t);
	}
	free(in);
	return rc;
}

static int cli_scan_opts(struct cli_scan *c, int argc, char **argv, const char *help)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"format", required_argument, NULL, 'f'},
	    {"since", required_argument, NULL, 's'},
	    {"until", required_argument, NULL, 'u'},
	    {"local-networks", required_argument, NULL, 'l'},
	    {"config", required_argument, NULL, 'c'},
	    {"year", required_argument, NULL, 'y'},
	    {"merge", no_argument, NULL, 'm'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char err[512];
	int ch;
	long long year;
	const char *config = NULL;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			c->json = true;
			break;
		case 'f':
			if (logscan_format_parse(optarg, &c->o.format) != 0) {
				cli_error(c->cmd,
				          "--format: '%s' is not auto, postfix, exim, dovecot, "
				          "netfilter, "
				          "relayguard, exchange, mailenable or kerio",
				          optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 's':
		case 'u':
			if (logscan_parse_time(optarg,
			                       ch == 's' ? &c->o.since_ms : &c->o.until_ms) != 0) {
				cli_error(c->cmd, "--%s: '%s' is not a date or RFC 3339 time",
				          ch == 's' ? "since" : "until", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'l':
			if (!c->local && !(c->local = prefix_set_new())) {
				cli_error(c->cmd, "out of memory");
				return CLI_EXIT_USAGE;
			}
			if (prefix_set_add_list(c->local, optarg, err, sizeof err) != 0) {
				cli_error(c->cmd, "--local-networks: %s", err);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'c':
			config = optarg;
			break;
		case 'y':
			if (str_to_ll(optarg, 1970, 9999, &year) != 0) {
				cli_error(c->cmd, "--year: '%s' is not a year", optarg);
				return CLI_EXIT_USAGE;
			}
			c->o.year = (int)year;
			break;
		case 'm':
			c->merge = true;
			break;
		case 'h':
			cli_usage(stdout, help);
			return -1;
		default:
			cli_error(c->cmd, "unknown option '%s' (see --help)", argv[optind - 1]);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		cli_error(c->cmd, "no log file given (use - for standard input; see --help)");
		return CLI_EXIT_USAGE;
	}
	if (config ? cli_load_policy(&c->cfg, config, err, sizeof err)
	           : pol_config_defaults(&c->cfg, err, sizeof err)) {
		cli_error(c->cmd, "%s", err);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

#define CLI_SCAN_HEAP (256u << 20)
#define CLI_SCAN_HUGE (2u << 20)

/*
 * The scan's tables and the policy store's records are tens of megabytes of
 * small allocations read in random order: on 4 KB pages nearly every lookup
 * also misses the TLB (a tenth of the run). Grow the heap once by
 * CLI_SCAN_HEAP and ask for huge pages on that part (transparent huge pages on
 * "madvise", the usual setting). Only address space is taken: pages come as the
 * heap grows into them. A hint: 0 when applied, -1 when not (the scan works
 * the same either way).
 */
static int cli_scan_heap(void)
{
#if defined(__GLIBC__) && defined(MADV_HUGEPAGE)
	(void)mallopt(M_MMAP_THRESHOLD, 32 << 20); /* big tables from the heap too */
	(void)mallopt(M_TRIM_THRESHOLD, 2 * CLI_SCAN_HEAP);
	(void)mallopt(M_TOP_PAD, CLI_SCAN_HEAP);
	char *before = sbrk(0);
	void *p = malloc(1u << 20); /* more than the heap has left: it grows by the pad */
	char *after = sbrk(0);
	(void)mallopt(M_TOP_PAD, 128 << 10); /* glibc's default */
	int rc = -1;
	/* only the part sbrk just added, so nothing but the heap is touched */
	if (p && before != (void *)-1 && after != (void *)-1 && after > before &&
	    (size_t)(after - before) >= CLI_SCAN_HEAP) {
		uintptr_t lo =
		    ((uintptr_t)before + CLI_SCAN_HUGE - 1) & ~(uintptr_t)(CLI_SCAN_HUGE - 1);
		if ((uintptr_t)after > lo &&
		    madvise((void *)lo, (uintptr_t)after - lo, MADV_HUGEPAGE) == 0)
			rc = 0;
	}
	free(p);
	return rc;
#else
	return -1;
#endif
}

static int cli_scan_run(const char *cmd, bool replay, int argc, char **argv, const char *help)
{
	struct cli_scan *c = calloc(1, sizeof *c);
	char err[512];
	int rc = CLI_EXIT_USAGE;
	if (!c) {
		cli_error(cmd, "out of memory");
		return CLI_EXIT_USAGE;
	}
	c->cmd = cmd;
	c->replay = replay;
	int orc = cli_scan_opts(c, argc, argv, help);
	if (orc != 0) {
		rc = orc < 0 ? CLI_EXIT_OK : orc;
		goto done;
	}
	(void)cli_scan_heap(); /* a hint: see there */
	c->o.cfg = &c->cfg;
	c->o.local = c->local;
	c->o.on_verdict = cli_scan_verdict;
	c->o.ctx = c;
	c->s = logscan_new(&c->o, err, sizeof err);
	if (!c->s) {
		cli_error(cmd, "%s", err);
		goto done;
	}
	clock_update();
	int64_t t0 = clock_monotonic_ms();
	if (replay && c->json)
		printf("{\"verdicts\": [");
	if (c->merge && cli_scan_merged(c, optind, argc, argv) != 0)
		goto done;
	for (int i = c->merge ? argc : optind; i < argc; i++) {
		struct logread r;
		c->inputs++;
		if (logread_open(&r, argv[i], err, sizeof err) != 0) {
			cli_error(cmd, "%s", err);
			c->failed_inputs++;
			continue;
		}
		clock_update();
		logscan_begin(c->s, strcmp(argv[i], "-") == 0 ? "stdin" : argv[i],
		              r.mtime_ms ? r.mtime_ms : clock_realtime_ms());
		int e = logread_each(&r, cli_scan_line, cli_scan_long, c, err, sizeof err);
		logread_close(&r);
		if (e == -1) {
			cli_error(cmd, "%s: %s", argv[i], err);
			c->failed_inputs++;
		} else if (e == -2) {
			cli_error(cmd, "%s: the policy store failed", argv[i]);
			goto done;
		}
	}
	const struct logscan_suspect *sus;
	size_t n;
	if (logscan_finish(c->s, &sus, &n) != 0) {
		cli_error(cmd, "out of memory");
		goto done;
	}
	clock_update();
	double seconds = (double)(clock_monotonic_ms() - t0) / 1000.0;
	const struct logscan_stats *st = logscan_stats(c->s);
	bool found = replay ? c->printed > 0 : n > 0;
	if (replay) {
		if (c->json) {
			json_t *s = cli_scan_stats_json(st, seconds);
			char *t = json_dumps(s, JSON_COMPACT);
			printf("%s],\n \"stats\": %s}\n", c->printed ? "\n" : "", t ? t : "{}");
			free(t);
			json_decref(s);
		} else {
			printf("# %llu lines, %llu events, %llu verdicts not allow\n",
			       (unsigned long long)st->lines, (unsigned long long)st->events,
			       (unsigned long long)c->printed);
		}
	} else if (c->json) {
		json_t *doc = json_object(), *arr = json_array();
		for (size_t i = 0; i < n; i++)
			(void)json_array_append_new(arr, cli_scan_suspect_json(&sus[i]));
		(void)json_object_set_new(doc, "suspects", arr);
		(void)json_object_set_new(doc, "stats", cli_scan_stats_json(st, seconds));
		if (cli_print_json(doc) != 0)
			goto done;
	} else {
		cli_scan_text(sus, n, st, seconds, c->inputs);
	}
	if (c->failed_inputs == c->inputs)
		rc = CLI_EXIT_USAGE;
	else if (found)
		rc = CLI_EXIT_FOUND;
	else
		rc = c->failed_inputs ? CLI_EXIT_INCOMPLETE : CLI_EXIT_OK;
done:
	fflush(stdout);
	logscan_free(c->s);
	prefix_set_free(c->local);
	free(c);
	return rc;
}

int cli_logscan(int argc, char **argv)
{
	return cli_scan_run("logscan", false, argc, argv, cli_logscan_help);
}

int cli_replay(int argc, char **argv)
{
	return cli_scan_run("replay", true, argc, argv, cli_replay_help);
}
