/*
 * relayguard score - the inbound listener's DNSBL decision for client IPs,
 * without a listener: weighted sites, threshold and allow-list threshold with
 * Postfix postscreen's semantics (postscreen_dnsbl_sites, _threshold,
 * _allowlist_threshold), through src/dnsbl/score.c, the code the inbound
 * listener uses. For tuning weights before going live, and for comparing
 * decisions with postscreen on the same IPs (tests/integration/test_score.py).
 */
#include "cli/cli.h"
#include "cli/dnsbl_opts.h"

#include "core/addr.h"
#include "core/str.h"
#include "dnsbl/score.h"
#include "net/dns.h"

#include <event2/event.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char cli_score_help[] =
    "usage: relayguard score [OPTIONS] --sites SITES IP...\n"
    "\n"
    "Decides for each client IP what the inbound listener would: asks every\n"
    "DNSBL in SITES at once, adds the weight of each list whose answer counts,\n"
    "and rejects at the threshold, naming the list that weighed most - the\n"
    "semantics of Postfix postscreen's postscreen_dnsbl_sites. Unlike\n"
    "postscreen, a list's own error codes (Spamhaus 127.255.255.252-255, \"query\n"
    "via public resolver\") and answers outside 127.0.0.0/8 never count, and are\n"
    "reported as errors.\n"
    "\n"
    "SITES is a list separated by commas or spaces of ZONE[=FILTER][*WEIGHT]:\n"
    "  zen.spamhaus.org*3                any listing weighs 3\n"
    "  zen.spamhaus.org=127.0.0.[2..11]*3  only these answers count\n"
    "  list.dnswl.org=127.0.[0..255].[1..3]*-5  an allow-list: negative weight\n"
    "\n"
    "Options:\n"
    "  --sites SITES        the weighted lists (required)\n"
    "  --threshold N        reject when the score is N or more (default 1)\n"
    "  --allowlist-threshold N\n"
    "                       a score of N or less is allow-listed (default: off)\n"
    "  --json               print one JSON document\n"
    "  --resolver HOST[:PORT]\n"
    "                       send queries to this DNS server (default: the servers\n"
    "                       in /etc/resolv.conf); IPv6 as [2001:db8::53]:53\n"
    "  --zones FILE         the catalogue that gives lists their meanings and\n"
    "                       error codes (default: the built-in one)\n"
    "  --timeout MS         wait this long for each attempt (default 2000)\n"
    "  --tries N            attempts per query (default 2)\n"
    "  -h, --help           this text\n"
    "\n"
    "Output: one line per IP, \"IP reject|pass|allowlist score=N\" and the lists\n"
    "that counted; with --json {\"results\": [{\"client\", \"score\",\n"
    "\"decision\", \"hits\": [{\"zone\", \"weight\", \"codes\"}], \"errors\",\n"
    "\"reply\"}], \"summary\": {\"clients\", \"rejected\", \"passed\",\n"
    "\"allowlisted\", \"errors\"}}.\n"
    "\n"
    "Exit status: 0 nothing rejected, 1 some IP rejected, 2 usage or input error,\n"
    "3 some lookups failed and nothing was rejected.\n"
    "\n"
    "Examples:\n"
    "  relayguard score --sites 'zen.spamhaus.org*3, bl.spamcop.net*2, list.dnswl.org*-5' \\\n"
    "      --threshold 3 203.0.113.5 198.51.100.7\n";

struct cli_score_run {
	size_t pending;
	struct score_result *res;
	struct event_base *base;
};

struct cli_score_slot {
	struct cli_score_run *run;
	size_t i;
};

static void cli_score_done(void *arg, const struct score_result *r)
{
	struct cli_score_slot *s = arg;
	s->run->res[s->i] = *r;
	if (--s->run->pending == 0)
		event_base_loopexit(s->run->base, NULL);
}

static json_t *cli_score_json(const struct score_result *r)
{
	char ip[ADDR_STRLEN];
	addr_format(&r->client, ip, sizeof ip);
	json_t *hits = json_array(), *errs = json_array();
	for (int k = 0; k < r->nhits; k++)
		json_array_append_new(hits, json_pack("{s:s, s:i, s:s}", "zone", r->hits[k].zone,
		                                      "weight", r->hits[k].weight, "codes",
		                                      r->hits[k].codes));
	for (int k = 0; k < r->nerrors; k++)
		json_array_append_new(errs, json_string(r->errors[k]));
	json_t *o =
	    json_pack("{s:s, s:i, s:s, s:o, s:o}", "client", ip, "score", r->score, "decision",
	              score_decision_name(r->decision), "hits", hits, "errors", errs);
	json_object_set_new(o, "reply",
	                    r->decision == SCORE_REJECT ? json_string(r->reply) : json_null());
	return o;
}

static void cli_score_human(const struct score_result *r)
{
	char ip[ADDR_STRLEN];
	addr_format(&r->client, ip, sizeof ip);
	printf("%-40s %-9s score=%d", ip, score_decision_name(r->decision), r->score);
	for (int k = 0; k < r->nhits; k++)
		printf(" %s(%+d)", r->hits[k].zone, r->hits[k].weight);
	printf("\n");
	for (int k = 0; k < r->nerrors; k++)
		printf("%-40s error: %s\n", "", r->errors[k]);
	if (r->decision == SCORE_REJECT)
		printf("%-40s %s\n", "", r->reply);
}

int cli_score(int argc, char **argv)
{
	enum { OPT_JSON = 256, OPT_SITES, OPT_THRESHOLD, OPT_ALLOW };
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, OPT_JSON},
	    {"sites", required_argument, NULL, OPT_SITES},
	    {"threshold", required_argument, NULL, OPT_THRESHOLD},
	    {"allowlist-threshold", required_argument, NULL, OPT_ALLOW},
	    {"resolver", required_argument, NULL, 'r'},
	    {"zones", required_argument, NULL, 'Z'},
	    {"timeout", required_argument, NULL, 't'},
	    {"tries", required_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct dnsbl_opts o;
	struct score_options sopt;
	static struct score_site sites[SCORE_MAX_SITES];
	int nsites = -1;
	bool json = false;
	int rc = CLI_EXIT_USAGE, ch;
	long long v;
	char err[256];
	dnsbl_opts_init(&o);
	score_options_default(&sopt);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_JSON:
			json = true;
			break;
		case OPT_SITES:
			nsites = score_sites_parse(optarg, sites, SCORE_MAX_SITES, err, sizeof err);
			if (nsites <= 0) {
				cli_error("score", "--sites: %s",
				          nsites < 0 ? err : "no site given");
				goto out;
			}
			break;
		case OPT_THRESHOLD:
		case OPT_ALLOW:
			if (str_to_ll(optarg, -1000, 1000, &v) != 0) {
				cli_error("score", "%s: expected a number from -1000 to 1000",
				          ch == OPT_THRESHOLD ? "--threshold"
				                              : "--allowlist-threshold");
				goto out;
			}
			if (ch == OPT_THRESHOLD) {
				sopt.threshold = (int)v;
			} else {
				sopt.allowlist = true;
				sopt.allowlist_threshold = (int)v;
			}
			break;
		case 'h':
			cli_usage(stdout, cli_score_help);
			rc = CLI_EXIT_OK;
			goto out;
		case '?':
			fprintf(stderr, "relayguard score --help shows the options\n");
			goto out;
		default:
			if (dnsbl_opts_set(&o, "score", ch, optarg) != 0)
				goto out;
		}
	}
	if (nsites < 0) {
		cli_error("score", "--sites is required; see --help");
		goto out;
	}
	if (optind >= argc) {
		cli_error("score", "no client IP given; see --help");
		goto out;
	}
	size_t n = (size_t)(argc - optind);
	struct addr *ips = calloc(n, sizeof *ips);
	struct score_result *res = calloc(n, sizeof *res);
	struct cli_score_slot *slots = calloc(n, sizeof *slots);
	struct event_base *base = NULL;
	struct dns *dns = NULL;
	struct scorer *sc = NULL;
	struct dnsbl_sel sel;
	bool have_sel = false;
	if (!ips || !res || !slots) {
		cli_error("score", "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		const char *a = argv[optind + (int)i];
		if (addr_parse(a, strlen(a), &ips[i]) != 0) {
			cli_error("score", "not an IP address: %.80s", a);
			goto done;
		}
		addr_unmap(&ips[i]);
	}
	/* the catalogue only (for meanings and error codes): no zone selection */
	if (dnsbl_select(&o, "score", &sel) != 0)
		goto done;
	have_sel = true;
	base = event_base_new();
	struct dns_options dopt = {.servers = o.resolver[0] ? o.resolver : NULL,
	                           .timeout_ms = o.timeout_ms,
	                           .tries = o.tries};
	if (!base || !(dns = dns_new(base, &dopt, err, sizeof err))) {
		cli_error("score", "resolver: %s", base ? err : "out of memory");
		goto done;
	}
	sc = scorer_new(base, dns, &sel.catalog, sites, (size_t)nsites, &sopt, err, sizeof err);
	if (!sc) {
		cli_error("score", "%s", err);
		goto done;
	}
	struct cli_score_run run = {.pending = n, .res = res, .base = base};
	for (size_t i = 0; i < n; i++) {
		slots[i] = (struct cli_score_slot){&run, i};
		if (scorer_score(sc, &ips[i], cli_score_done, &slots[i]) != 0) {
			cli_error("score", "out of memory");
			goto done;
		}
	}
	event_base_dispatch(base);
	unsigned long rejected = 0, passed = 0, allowed = 0, errors = 0;
	for (size_t i = 0; i < n; i++) {
		rejected += res[i].decision == SCORE_REJECT;
		passed += res[i].decision == SCORE_PASS;
		allowed += res[i].decision == SCORE_ALLOWLIST;
		errors += res[i].nerrors > 0;
	}
	if (json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, cli_score_json(&res[i]));
		cli_print_json(json_pack(
		    "{s:o, s:{s:I, s:I, s:I, s:I, s:I}}", "results", arr, "summary", "clients",
		    (json_int_t)n, "rejected", (json_int_t)rejected, "passed", (json_int_t)passed,
		    "allowlisted", (json_int_t)allowed, "errors", (json_int_t)errors));
	} else {
		for (size_t i = 0; i < n; i++)
			cli_score_human(&res[i]);
	}
	rc = rejected ? CLI_EXIT_FOUND : errors ? CLI_EXIT_INCOMPLETE : CLI_EXIT_OK;
done:
	if (dns)
		dns_free(dns); /* first: it cancels queries into the scorer */
	scorer_free(sc);
	if (base)
		event_base_free(base);
	if (have_sel)
		dnsbl_sel_free(&sel);
	free(ips);
	free(res);
	free(slots);
out:
	dnsbl_opts_free(&o);
	return rc;
}
