/*
 * cli_trace - "relayguard trace": where a message really came from.
 *
 * Reads one message (a file or standard input), walks its Received chain with
 * forensics/trace and prints the origin and the hops, as text or as the JSON
 * of CLI.md. Exit codes: 0 the origin was found; 2 usage or input error
 * (unreadable file, header section past a cap, no Received header at all);
 * 3 there are Received headers but none names a client address.
 */
#include "cli/cli.h"

#include "core/addr.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/str.h"
#include "forensics/trace.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The header section is capped at MSG_HEADER_MAX; the body is never needed. */
#define CLI_TRACE_READ_MAX (2 * MSG_HEADER_MAX)

static const char cli_trace_help[] =
    "usage: relayguard trace [--json] [--trusted CIDR[,CIDR...]] FILE|-\n"
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
    "  relayguard trace --trusted 198.51.100.0/24,2001:db8:1::/48 --json - < spam.eml\n";

/* Builds the JSON; any failure (out of memory) is remembered in *err. */
static void cli_trace_set(json_t *o, const char *key, json_t *v, bool *err)
{
	if (!v || json_object_set_new(o, key, v) < 0)
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

static int cli_trace_json(const struct trace *t)
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
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool json = false;
	int c, rc = CLI_EXIT_USAGE;
	struct trace *t = NULL;
	struct buf in;
	struct prefix_set *trusted = prefix_set_new();

	buf_init(&in, CLI_TRACE_READ_MAX);
	if (!trusted) {
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
	if (argc - optind != 1) {
		cli_error("trace", "expected one FILE, or - for standard input (see --help)");
		goto done;
	}
	const char *path = argv[optind];
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
	if (json) {
		if (cli_trace_json(t) < 0) {
			cli_error("trace", "cannot print the JSON output");
			goto done;
		}
	} else {
		cli_trace_text(t);
	}
	if (t->origin < 0) {
		cli_error("trace", "%s: no Received header field names a client address", path);
		rc = CLI_EXIT_INCOMPLETE;
	} else {
		rc = CLI_EXIT_OK;
	}
done:
	free(t);
	buf_free(&in);
	prefix_set_free(trusted);
	return rc;
}
