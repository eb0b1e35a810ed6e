/*
 * cli_trace - "relayguard trace": where a message really came from.
 *
 * Reads one message (a file or standard input), walks its Received chain with
 * forensics/trace and prints the origin and the hops, as text or as the JSON
 * of CLI.md. Exit codes: 0 the origin was found; 2 usage or input error
 * (unreadable file, header section past a cap, no Received header at all);
 * 3 there are Received headers but none names a client address.
 *
 * With --log FILE..., forensics/tracelog finds the message in Postfix's and
 * relayguard's logs and the output gains the sessions that carried it (text
 * section, JSON "sessions"); the exit codes stay those above.
 */
#include "cli/cli.h"

#include "core/addr.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"
#include "forensics/logread.h"
#include "forensics/trace.h"
#include "forensics/tracelog.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The header section is capped at MSG_HEADER_MAX; the body is never needed. */
#define CLI_TRACE_READ_MAX (2 * MSG_HEADER_MAX)

static const char cli_trace_help[] =
    "usage: relayguard trace [--json] [--trusted CIDR[,CIDR...]] [--log LOG...] FILE|-\n"
    "\n"
    "Finds where a message really came from by walking its Received header\n"
    "fields from the top (the newest, written by the last server) down.\n"
    "\n"
    "The origin is the client of the first hop whose client address is not in a\n"
    "trusted network. Private ranges and loopback are always trusted; --trusted\n"
    "adds your own servers (and the relays you believe). Hops below the origin\n"
    "were written by an untrusted host and are shown as not believed: they may\n"
    "be forged. If every hop is trusted, the origin is the client of the\n"
    "earliest hop. For the origin hop the output says whether the client had\n"
    "authenticated (SMTP AUTH) and as whom, when the header records it; the\n"
    "hop's queue id joins the message to the receiving server's log.\n"
    "\n"
    "Arguments:\n"
    "  FILE                  a message (RFC 5322, CRLF or LF, mbox \"From \" line\n"
    "                        allowed); - reads standard input\n"
    "\n"
    "Options:\n"
    "  --json                print one JSON document (see CLI.md, \"trace\")\n"
    "  --trusted CIDR,...    trust these networks too (IPv4 or IPv6, bare\n"
    "                        addresses allowed); may be given more than once\n"
    "  --log LOG...          find the message in these mail logs (Postfix syslog\n"
    "                        or maillog_file, relayguard's own; plain or gzip) by\n"
    "                        the queue ids of its Received fields and its\n"
    "                        Message-ID, and print each session that carried it:\n"
    "                        client, account, time, sender, recipients, and what\n"
    "                        else that account or address sent within an hour.\n"
    "                        Repeatable; more LOGs may follow before FILE\n"
    "  -h, --help            show this help\n"
    "\n"
    "Exit status:\n"
    "  0  the origin was found\n"
    "  2  usage or input error: unreadable file, header section too large,\n"
    "     no Received header field at all\n"
    "  3  there are Received header fields but none names a client address\n"
    "\n"
    "Examples:\n"
    "  relayguard trace spam.eml\n"
    "  relayguard trace --log /var/log/mail.log /var/log/mail.log.1 spam.eml\n"
    "  relayguard trace --trusted 198.51.100.0/24,2001:db8:1::/48 --json - < spam.eml\n";

/* Builds the JSON; any failure (out of memory) is remembered in *err. */
static void cli_trace_set(json_t *o, const char *key, json_t *v, bool *err)
{
	if (!v || json_object_set_new(o, key, v) < 0)
		*err = true;
}

/* Appends v to the array a. */
static void cli_trace_set_item(json_t *a, json_t *v, bool *err)
{
	if (!v || json_array_append_new(a, v) < 0)
		*err = true;
}

/* A string, or null when empty; bytes that are not UTF-8 are escaped. */
static json_t *cli_trace_str(const char *s)
{
	if (!s || !*s)
		return json_null();
	json_t *j = json_string(s);
	if (j)
		return j;
	char clean[2048];
	str_sanitize(clean, sizeof clean, s, strlen(s));
	return json_string(clean);
}

static json_t *cli_trace_date(const struct received *r)
{
	char out[40];
	if (!r->has_date || clock_format_rfc3339(r->date_ms, out, sizeof out) < 0)
		return json_null();
	return json_string(out);
}

static json_t *cli_trace_hop(const struct trace_hop *h, bool *err)
{
	json_t *o = json_object();
	if (!o) {
		*err = true;
		return NULL;
	}
	const struct received *r = &h->r;
	cli_trace_set(o, "from_host", cli_trace_str(r->from_host), err);
	cli_trace_set(o, "from_rdns", cli_trace_str(r->from_rdns), err);
	cli_trace_set(o, "from_ip", cli_trace_str(r->has_ip ? r->from_ip : ""), err);
	cli_trace_set(o, "by_host", cli_trace_str(r->by_host), err);
	cli_trace_set(o, "with", cli_trace_str(r->with), err);
	cli_trace_set(o, "id", cli_trace_str(r->id), err);
	cli_trace_set(o, "for", cli_trace_str(r->for_addr), err);
	cli_trace_set(o, "date", cli_trace_date(r), err);
	cli_trace_set(o, "date_raw", cli_trace_str(r->date_raw), err);
	cli_trace_set(o, "authenticated", json_boolean(r->authenticated), err);
	cli_trace_set(o, "auth_user", cli_trace_str(r->auth_user), err);
	cli_trace_set(o, "local", json_boolean(r->local), err);
	cli_trace_set(o, "trusted", json_boolean(h->trusted), err);
	cli_trace_set(o, "believed", json_boolean(h->believed), err);
	cli_trace_set(o, "parsed", json_boolean(h->parsed), err);
	cli_trace_set(o, "raw", cli_trace_str(h->raw), err);
	return o;
}

static json_t *cli_trace_authres(const struct trace *t, bool *err)
{
	json_t *a = json_array();
	if (!a) {
		*err = true;
		return NULL;
	}
	for (size_t i = 0; i < t->nauthres; i++) {
		const struct trace_authres *ar = &t->authres[i];
		json_t *o = json_object(), *res = json_array();
		if (!o || !res || json_array_append_new(a, o) < 0) {
			json_decref(res);
			*err = true;
			continue;
		}
		cli_trace_set(o, "authserv_id", cli_trace_str(ar->authserv_id), err);
		cli_trace_set(o, "results", res, err);
		for (size_t k = 0; k < ar->nresults; k++) {
			json_t *m = json_object();
			if (!m || json_array_append_new(res, m) < 0) {
				*err = true;
				continue;
			}
			cli_trace_set(m, "method", cli_trace_str(ar->results[k].method), err);
			cli_trace_set(m, "result", cli_trace_str(ar->results[k].result), err);
			cli_trace_set(m, "detail", cli_trace_str(ar->results[k].detail), err);
		}
	}
	return a;
}

static const char *cli_trace_origin_host(const struct trace *t)
{
	if (t->origin < 0)
		return "";
	const struct received *r = &t->hops[t->origin].r;
	if (t->origin_local)
		return r->by_host;
	return r->from_rdns[0] ? r->from_rdns : r->from_host;
}

/* The log files of --log, and what tracelog found in them. */
struct cli_trace_logs {
	const char **paths;
	size_t n;
	struct tracelog *tl; /* NULL without --log */
};

static json_t *cli_trace_ms(bool has, int64_t ms)
{
	char out[40];
	if (!has || clock_format_rfc3339(ms, out, sizeof out) < 0)
		return json_null();
	return json_string(out);
}

static json_t *cli_trace_ip(bool has, const struct addr *a)
{
	char ip[ADDR_STRLEN];
	if (!has || addr_format(a, ip, sizeof ip) != 0)
		return json_null();
	return json_string(ip);
}

static json_t *cli_trace_related(const struct tracelog_session *s, bool *err)
{
	json_t *a = json_array();
	if (!a) {
		*err = true;
		return NULL;
	}
	for (size_t i = 0; i < s->nrelated; i++) {
		const struct tracelog_related *r = &s->related[i];
		json_t *o = json_object();
		if (!o || json_array_append_new(a, o) < 0) {
			*err = true;
			continue;
		}
		cli_trace_set(o, "source", json_string(tracelog_source_name(r->source)), err);
		cli_trace_set(o, "queue_id", cli_trace_str(r->queue_id), err);
		cli_trace_set(o, "time", cli_trace_ms(true, r->time_ms), err);
		cli_trace_set(o, "client_ip", cli_trace_ip(r->has_ip, &r->ip), err);
		cli_trace_set(o, "auth_user", cli_trace_str(r->user), err);
		cli_trace_set(o, "sender", cli_trace_str(r->sender), err);
		cli_trace_set(o, "same_ip", json_boolean(r->same_ip), err);
		cli_trace_set(o, "same_user", json_boolean(r->same_user), err);
	}
	return a;
}

static json_t *cli_trace_session(const struct cli_trace_logs *lg, const struct tracelog_session *s,
                                 bool *err)
{
	json_t *o = json_object(), *by = json_array(), *rc = json_array();
	if (!o || !by || !rc) {
		json_decref(o);
		json_decref(by);
		json_decref(rc);
		*err = true;
		return NULL;
	}
	cli_trace_set(o, "source", json_string(tracelog_source_name(s->source)), err);
	cli_trace_set(o, "queue_id", cli_trace_str(s->queue_id), err);
	if (s->matched_by & TRACELOG_BY_QUEUE_ID)
		cli_trace_set_item(by, json_string("queue_id"), err);
	if (s->matched_by & TRACELOG_BY_MESSAGE_ID)
		cli_trace_set_item(by, json_string("message_id"), err);
	cli_trace_set(o, "matched_by", by, err);
	cli_trace_set(o, "hop", s->hop >= 0 ? json_integer(s->hop) : json_null(), err);
	cli_trace_set(o, "log", cli_trace_str(s->file < lg->n ? lg->paths[s->file] : ""), err);
	cli_trace_set(o, "line", json_integer((json_int_t)s->line), err);
	cli_trace_set(o, "time", cli_trace_ms(s->has_time, s->time_ms), err);
	cli_trace_set(o, "client_ip", cli_trace_ip(s->has_ip, &s->ip), err);
	cli_trace_set(o, "client_host", cli_trace_str(s->client_host), err);
	cli_trace_set(o, "local", json_boolean(s->local), err);
	cli_trace_set(o, "uid", s->uid >= 0 ? json_integer(s->uid) : json_null(), err);
	cli_trace_set(o, "authenticated", json_boolean(s->auth_user[0] != '\0'), err);
	cli_trace_set(o, "auth_user", cli_trace_str(s->auth_user), err);
	cli_trace_set(o, "auth_method", cli_trace_str(s->auth_method), err);
	cli_trace_set(o, "sender", s->has_sender ? json_string(s->sender) : json_null(), err);
	cli_trace_set(o, "message_id", cli_trace_str(s->message_id), err);
	cli_trace_set(o, "session_id", cli_trace_str(s->session_id), err);
	cli_trace_set(o, "size", s->size ? json_integer((json_int_t)s->size) : json_null(), err);
	cli_trace_set(o, "nrcpt", s->nrcpt ? json_integer((json_int_t)s->nrcpt) : json_null(), err);
	for (size_t i = 0; i < s->nrcpts; i++) {
		json_t *r = json_object();
		if (!r || json_array_append_new(rc, r) < 0) {
			*err = true;
			continue;
		}
		cli_trace_set(r, "address", cli_trace_str(s->rcpts[i].addr), err);
		cli_trace_set(r, "status", cli_trace_str(s->rcpts[i].status), err);
		cli_trace_set(r, "relay", cli_trace_str(s->rcpts[i].relay), err);
	}
	cli_trace_set(o, "recipients", rc, err);
	cli_trace_set(o, "related", cli_trace_related(s, err), err);
	cli_trace_set(o, "related_count", json_integer((json_int_t)s->related_total), err);
	return o;
}

/* The "sessions" array and the "logs" summary of --log. */
static void cli_trace_json_logs(json_t *doc, const struct cli_trace_logs *lg, bool *err)
{
	const struct tracelog *tl = lg->tl;
	json_t *a = json_array(), *files = json_array(), *sum = json_object();
	cli_trace_set(doc, "sessions", a, err);
	cli_trace_set(doc, "logs", sum, err);
	if (!a || !files || !sum) {
		json_decref(files);
		return;
	}
	for (size_t i = 0; i < tl->nsessions; i++)
		cli_trace_set_item(a, cli_trace_session(lg, &tl->sessions[i], err), err);
	for (size_t i = 0; i < lg->n; i++)
		cli_trace_set_item(files, cli_trace_str(lg->paths[i]), err);
	cli_trace_set(sum, "files", files, err);
	cli_trace_set(sum, "lines", json_integer((json_int_t)tl->lines), err);
	cli_trace_set(sum, "mail_lines", json_integer((json_int_t)tl->mail_lines), err);
	cli_trace_set(sum, "sessions_dropped", json_integer((json_int_t)tl->sessions_dropped), err);
}

static int cli_trace_json(const struct trace *t, const struct cli_trace_logs *lg)
{
	bool err = false;
	json_t *doc = json_object(), *hops = json_array();
	if (!doc || !hops) {
		json_decref(doc);
		json_decref(hops);
		return -1;
	}
	const struct received *o = t->origin >= 0 ? &t->hops[t->origin].r : NULL;
	cli_trace_set(doc, "origin_ip", cli_trace_str(o && o->has_ip ? o->from_ip : ""), &err);
	cli_trace_set(doc, "origin_host", cli_trace_str(cli_trace_origin_host(t)), &err);
	cli_trace_set(doc, "origin_hop", t->origin >= 0 ? json_integer(t->origin) : json_null(),
	              &err);
	cli_trace_set(doc, "origin_local", json_boolean(t->origin_local), &err);
	cli_trace_set(doc, "origin_uid", cli_trace_str(o && t->origin_local ? o->local_uid : ""),
	              &err);
	cli_trace_set(doc, "authenticated", json_boolean(o && o->authenticated), &err);
	cli_trace_set(doc, "auth_user", cli_trace_str(o ? o->auth_user : ""), &err);
	cli_trace_set(doc, "hops", hops, &err);
	for (size_t i = 0; i < t->nhops; i++) {
		json_t *h = cli_trace_hop(&t->hops[i], &err);
		if (h && json_array_append_new(hops, h) < 0)
			err = true;
	}
	cli_trace_set(doc, "received_count", json_integer((json_int_t)t->nreceived), &err);
	cli_trace_set(doc, "message_id", cli_trace_str(t->has_message_id ? t->message_id : ""),
	              &err);
	cli_trace_set(doc, "x_originating_ip",
	              cli_trace_str(t->has_x_originating_ip ? t->x_originating_ip : ""), &err);
	cli_trace_set(doc, "authentication_results", cli_trace_authres(t, &err), &err);
	if (lg->tl)
		cli_trace_json_logs(doc, lg, &err);
	if (err) {
		json_decref(doc);
		return -1;
	}
	return cli_print_json(doc);
}

static const char *cli_trace_or(const char *s, const char *dflt)
{
	return s && *s ? s : dflt;
}

static void cli_trace_text(const struct trace *t)
{
	const struct received *o = t->origin >= 0 ? &t->hops[t->origin].r : NULL;
	if (!o) {
		printf("origin:            unknown (no hop names a client address)\n");
	} else if (t->origin_local) {
		printf("origin:            local submission on %s", cli_trace_or(o->by_host, "?"));
		if (o->local_uid[0])
			printf(" by uid %s", o->local_uid);
		printf(" (hop %d)\n", t->origin + 1);
	} else {
		printf("origin:            %s (rdns %s, helo %s) (hop %d)\n", o->from_ip,
		       cli_trace_or(o->from_rdns, "-"), cli_trace_or(o->from_host, "-"),
		       t->origin + 1);
	}
	if (o) {
		if (o->authenticated)
			printf("authenticated:     yes, as %s\n",
			       cli_trace_or(o->auth_user, "(not recorded)"));
		else
			printf("authenticated:     no\n");
		printf("received by:       %s, id %s\n", cli_trace_or(o->by_host, "-"),
		       cli_trace_or(o->id, "-"));
	}
	printf("message-id:        %s\n", t->has_message_id ? t->message_id : "-");
	printf("x-originating-ip:  %s\n", t->has_x_originating_ip ? t->x_originating_ip : "-");
	for (size_t i = 0; i < t->nauthres; i++) {
		const struct trace_authres *ar = &t->authres[i];
		printf("auth-results:      %s:", ar->authserv_id);
		for (size_t k = 0; k < ar->nresults; k++)
			printf(" %s=%s", ar->results[k].method, ar->results[k].result);
		printf("\n");
	}
	printf("\nhops (newest first; * origin, ! not believed):\n");
	printf("  %-4s %-39s %-30s %-30s %-10s %-7s %s\n", "#", "from_ip", "from (rdns/helo)", "by",
	       "with", "auth", "date");
	for (size_t i = 0; i < t->nhops; i++) {
		const struct trace_hop *h = &t->hops[i];
		const struct received *r = &h->r;
		char date[40] = "-";
		if (r->has_date && clock_format_rfc3339(r->date_ms, date, sizeof date) < 0)
			date[0] = '\0';
		char mark = (int)i == t->origin ? '*' : (!h->believed ? '!' : ' ');
		if (!h->parsed) {
			printf("  %c%-3zu (unparsed) %.60s\n", mark, i + 1, h->raw);
			continue;
		}
		printf("  %c%-3zu %-39s %-30.30s %-30.30s %-10.10s %-7s %s%s\n", mark, i + 1,
		       r->has_ip ? r->from_ip : (r->local ? "(local)" : "-"),
		       cli_trace_or(r->from_rdns, cli_trace_or(r->from_host, "-")),
		       cli_trace_or(r->by_host, "-"), cli_trace_or(r->with, "-"),
		       r->authenticated ? (r->auth_user[0] ? r->auth_user : "yes") : "no", date,
		       h->trusted ? " trusted" : "");
	}
	if (t->nreceived > t->nhops)
		printf("  ... %zu more Received fields not shown\n", t->nreceived - t->nhops);
}

static void cli_trace_text_time(bool has, int64_t ms, char *out, size_t size)
{
	if (!has || clock_format_rfc3339(ms, out, size) < 0)
		str_copy_trunc(out, size, "-");
}

static void cli_trace_text_session(const struct cli_trace_logs *lg,
                                   const struct tracelog_session *s)
{
	char when[40], ip[ADDR_STRLEN] = "-";
	cli_trace_text_time(s->has_time, s->time_ms, when, sizeof when);
	if (s->has_ip && addr_format(&s->ip, ip, sizeof ip) != 0)
		if (str_copy(ip, sizeof ip, "-") != 0)
			panic("cli_trace_text_session: ip does not fit");
	printf("  %s queue id %s (matched by %s%s%s", tracelog_source_name(s->source), s->queue_id,
	       s->matched_by & TRACELOG_BY_QUEUE_ID ? "queue id" : "",
	       s->matched_by == (TRACELOG_BY_QUEUE_ID | TRACELOG_BY_MESSAGE_ID) ? " and " : "",
	       s->matched_by & TRACELOG_BY_MESSAGE_ID ? "message-id" : "");
	if (s->hop >= 0)
		printf(", hop %d", s->hop + 1);
	printf("; %s line %llu)\n", s->file < lg->n ? lg->paths[s->file] : "?",
	       (unsigned long long)s->line);
	printf("    time:           %s\n", when);
	if (s->local)
		printf("    client:         local submission (pickup), uid %ld\n", s->uid);
	else
		printf("    client:         %s [%s]\n", cli_trace_or(s->client_host, "-"), ip);
	if (s->auth_user[0])
		printf("    authenticated:  yes, as %s%s%s%s\n", s->auth_user,
		       s->auth_method[0] ? " (" : "", s->auth_method, s->auth_method[0] ? ")" : "");
	else
		printf("    authenticated:  no\n");
	if (s->has_sender)
		printf("    sender:         <%s>\n", s->sender);
	if (s->session_id[0])
		printf("    session:        sid=%s\n", s->session_id);
	if (s->message_id[0])
		printf("    message-id:     %s\n", s->message_id);
	for (size_t i = 0; i < s->nrcpts; i++)
		printf("    %s <%s> %s%s%s\n", i == 0 ? "recipients:    " : "               ",
		       s->rcpts[i].addr, cli_trace_or(s->rcpts[i].status, "?"),
		       s->rcpts[i].relay[0] ? " relay=" : "", s->rcpts[i].relay);
	printf("    same account or address within an hour: %zu message%s\n", s->related_total,
	       s->related_total == 1 ? "" : "s");
	for (size_t i = 0; i < s->nrelated; i++) {
		const struct tracelog_related *r = &s->related[i];
		char rip[ADDR_STRLEN] = "-";
		cli_trace_text_time(true, r->time_ms, when, sizeof when);
		if (r->has_ip && addr_format(&r->ip, rip, sizeof rip) != 0)
			if (str_copy(rip, sizeof rip, "-") != 0)
				panic("cli_trace_text_session: rip does not fit");
		printf("      %s %-10s %-20s %-39s %-20s %s%s%s\n", when,
		       tracelog_source_name(r->source), r->queue_id, rip,
		       cli_trace_or(r->user, "-"), r->same_ip ? "same address" : "",
		       r->same_ip && r->same_user ? ", " : "", r->same_user ? "same account" : "");
	}
	if (s->nrelated < s->related_total)
		printf("      ... %zu more\n", s->related_total - s->nrelated);
}

static void cli_trace_text_logs(const struct cli_trace_logs *lg)
{
	const struct tracelog *tl = lg->tl;
	printf("\nsessions in the logs (%zu file%s, %llu lines, %llu of Postfix or relayguard):\n",
	       lg->n, lg->n == 1 ? "" : "s", (unsigned long long)tl->lines,
	       (unsigned long long)tl->mail_lines);
	if (tl->nsessions == 0)
		printf(
		    "  none: no queue id of the Received fields nor the Message-ID is in them\n");
	for (size_t i = 0; i < tl->nsessions; i++)
		cli_trace_text_session(lg, &tl->sessions[i]);
	if (tl->sessions_dropped)
		printf("  ... %llu more matches not shown\n",
		       (unsigned long long)tl->sessions_dropped);
}

static int cli_trace_log_line(void *ctx, const char *p, size_t len)
{
	tracelog_line(ctx, p, len);
	return 0;
}

/* Reads every log TRACELOG_PASSES times into lg->tl. 0, or -1 (said). */
static int cli_trace_read_logs(const struct cli_trace_logs *lg)
{
	for (int pass = 1; pass <= TRACELOG_PASSES; pass++) {
		tracelog_pass(lg->tl, pass);
		for (size_t i = 0; i < lg->n; i++) {
			struct logread r;
			char err[256];
			if (logread_open(&r, lg->paths[i], err, sizeof err) != 0) {
				cli_error("trace", "--log %s: %s", lg->paths[i], err);
				return -1;
			}
			tracelog_file(lg->tl, (unsigned)i, r.mtime_ms);
			int e = logread_each(&r, cli_trace_log_line, NULL, lg->tl, err, sizeof err);
			logread_close(&r);
			if (e != 0) {
				cli_error("trace", "--log %s: %s", lg->paths[i], err);
				return -1;
			}
		}
	}
	return 0;
}

/* Reads the file (or stdin for "-") into in, at most CLI_TRACE_READ_MAX bytes. */
static int cli_trace_read(const char *path, struct buf *in)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f) {
		cli_error("trace", "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	char chunk[65536];
	int status = 0;
	while (in->len < CLI_TRACE_READ_MAX) {
		size_t want = CLI_TRACE_READ_MAX - in->len;
		size_t n = fread(chunk, 1, want < sizeof chunk ? want : sizeof chunk, f);
		if (n > 0 && buf_append(in, chunk, n) < 0) {
			cli_error("trace", "%s: out of memory", path);
			status = -1;
			break;
		}
		if (n == 0) {
			if (ferror(f)) {
				cli_error("trace", "cannot read %s: %s", path, strerror(errno));
				status = -1;
			}
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	return status;
}

int cli_trace(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"trusted", required_argument, NULL, 't'},
	    {"log", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool json = false;
	int c, rc = CLI_EXIT_USAGE;
	struct trace *t = NULL;
	struct buf in;
	struct prefix_set *trusted = prefix_set_new();
	struct cli_trace_logs lg = {.paths = calloc((size_t)argc + 1, sizeof(char *))};

	buf_init(&in, CLI_TRACE_READ_MAX);
	if (!trusted || !lg.paths) {
		cli_error("trace", "out of memory");
		goto done;
	}
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 't': {
			char err[128];
			if (prefix_set_add_list(trusted, optarg, err, sizeof err) < 0) {
				cli_error("trace", "--trusted: %s", err);
				goto done;
			}
			break;
		}
		case 'l':
			lg.paths[lg.n++] = optarg;
			break;
		case 'h':
			cli_usage(stdout, cli_trace_help);
			rc = CLI_EXIT_OK;
			goto done;
		case ':':
			cli_error("trace", "option '%s' needs an argument", argv[optind - 1]);
			goto done;
		default:
			if (optopt)
				cli_error("trace", "bad option '-%c' (see relayguard trace --help)",
				          optopt);
			else
				cli_error("trace", "bad option '%s' (see relayguard trace --help)",
				          argv[optind - 1]);
			goto done;
		}
	}
	/* "--log A B C msg": the words before the message are logs too. */
	while (lg.n > 0 && argc - optind > 1)
		lg.paths[lg.n++] = argv[optind++];
	if (argc - optind != 1) {
		cli_error("trace", "expected one FILE, or - for standard input (see --help)");
		goto done;
	}
	const char *path = argv[optind];
	for (size_t i = 0; i < lg.n; i++)
		if (strcmp(lg.paths[i], "-") == 0) {
			cli_error("trace", "--log: a log is read three times; give a file, not -");
			goto done;
		}
	if (cli_trace_read(path, &in) < 0)
		goto done;
	if (in.len == 0) {
		cli_error("trace", "%s: empty input", path);
		goto done;
	}
	t = calloc(1, sizeof *t);
	if (!t) {
		cli_error("trace", "out of memory");
		goto done;
	}
	if (trace_run(in.data, in.len, trusted, t) < 0) {
		cli_error("trace", "%s: %s", path,
		          t->error != MSG_ERR_NONE ? msg_error_str(t->error) : "out of memory");
		goto done;
	}
	if (t->nreceived == 0) {
		cli_error("trace", "%s: no Received header field (is this a mail message?)", path);
		goto done;
	}
	if (lg.n > 0) {
		lg.tl = malloc(sizeof *lg.tl);
		if (!lg.tl) {
			cli_error("trace", "out of memory");
			goto done;
		}
		if (tracelog_init(lg.tl, t) == 0 && cli_trace_read_logs(&lg) < 0)
			goto done;
	}
	if (json) {
		if (cli_trace_json(t, &lg) < 0) {
			cli_error("trace", "cannot print the JSON output");
			goto done;
		}
	} else {
		cli_trace_text(t);
		if (lg.tl)
			cli_trace_text_logs(&lg);
	}
	if (t->origin < 0) {
		cli_error("trace", "%s: no Received header field names a client address", path);
		rc = CLI_EXIT_INCOMPLETE;
	} else {
		rc = CLI_EXIT_OK;
	}
done:
	free(lg.tl);
	free(lg.paths);
	free(t);
	buf_free(&in);
	prefix_set_free(trusted);
	return rc;
}
