/*
 * relayguard check - which DNS blocklists list these IPs, ranges or domains.
 *
 * Contract: ../shared/CLI.md "check". Queries go out in parallel (a paced
 * window up to --concurrency) through c-ares; each zone is self-tested first
 * (RFC 5782 test points), so a list that refuses our resolver or lists the
 * world is reported as an error, never as "clean" or "listed".
 */
#include "cli/cli.h"
#include "cli/dnsbl_opts.h"

#include "core/clock.h"
#include "core/str.h"
#include "dnsbl/checker.h"

#include <event2/event.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char cli_check_help[] =
    "usage: relayguard check [OPTIONS] TARGET...\n"
    "\n"
    "Asks DNS blocklists whether they list each TARGET: an IPv4 or IPv6 address,\n"
    "a CIDR range (every address in it, e.g. 203.0.113.0/24 - a whole /24 can be\n"
    "listed because of two bad neighbours), or a domain name (checked on the\n"
    "domain lists only). All queries are in flight at once.\n"
    "\n"
    "Each list is first asked for its RFC 5782 test points (127.0.0.2 must be\n"
    "listed, 127.0.0.1 must not). A list that fails, answers with its own error\n"
    "code (Spamhaus 127.255.255.254: \"query via public resolver\"), answers\n"
    "outside 127.0.0.0/8, times out or fails is reported as an error: never as\n"
    "clean, never as listed.\n"
    "\n"
    "Options:\n"
    "  --json               print one JSON document (see CLI.md)\n"
    "  --resolver HOST[:PORT]\n"
    "                       send queries to this DNS server (default: the servers\n"
    "                       in /etc/resolv.conf); IPv6 as [2001:db8::53]:53\n"
    "  --zone ZONE          check this zone instead of the catalogue's defaults;\n"
    "                       repeatable. A zone in the catalogue keeps its meanings;\n"
    "                       any other zone counts any 127.0.0.0/8 answer but\n"
    "                       127.0.0.1 as listed. Defunct lists are refused.\n"
    "  --zones FILE         use this catalogue instead of the built-in one\n"
    "                       (format: docs/catalogue.md)\n"
    "  --list-zones         print the catalogue (zone, kind, status) and exit\n"
    "  --timeout MS         wait this long for each attempt (default 2000); an\n"
    "                       unanswered query is resent sooner, after the\n"
    "                       measured round trip\n"
    "  --tries N            attempts per query (default 2)\n"
    "  --concurrency N      queries in flight at most (default 128; the window\n"
    "                       starts at 64 and follows the answers)\n"
    "  --max-range N        refuse ranges of more than N addresses (default 4096)\n"
    "  --no-selftest        skip the RFC 5782 test-point probes\n"
    "  --no-txt             do not fetch the TXT reason of listings\n"
    "  -v, --verbose        also print clean results\n"
    "  -h, --help           this text\n"
    "\n"
    "Exit status: 0 nothing listed, 1 listed somewhere, 2 usage or input error,\n"
    "3 some lookups failed and nothing was listed.\n"
    "\n"
    "Examples:\n"
    "  relayguard check 203.0.113.5\n"
    "  relayguard check --json 203.0.113.0/24 2001:db8::25 example.com\n"
    "  relayguard check --resolver 127.0.0.1:5353 --zone bl.example.test 192.0.2.1\n";

static json_t *cli_check_json(const struct dnsbl_sel *sel, const struct chk_targets *t,
			      const struct chk_result *res, size_t n, const struct chk_stats *st,
			      double seconds, struct dnsbl_counts *cnt)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		const struct chk_result *r = &res[i];
		json_array_append_new(arr, dnsbl_result_json(sel, t, r));
	}
	json_t *doc = json_object();
	json_object_set_new(doc, "results", arr);
	json_t *sum = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "targets",
				(json_int_t)t->n, "zones", (json_int_t)sel->nzones, "listed",
				(json_int_t)cnt->listed, "errors", (json_int_t)cnt->errors, "clean",
				(json_int_t)cnt->clean, "allowlisted", (json_int_t)cnt->allowlisted,
				"queries", (json_int_t)st->queries, "skipped",
				(json_int_t)st->skipped, "seconds", seconds);
	json_object_set_new(doc, "summary", sum);
	return doc;
}

static void cli_check_human(const struct dnsbl_sel *sel, const struct chk_targets *t,
			    const struct chk_result *res, size_t n, const struct chk_stats *st,
			    double seconds, const struct dnsbl_counts *cnt, bool verbose)
{
	for (size_t i = 0; i < n; i++) {
		const struct chk_result *r = &res[i];
		const struct bl_zone *z = &sel->zones[r->zone];
		bool allow = z->role == BL_ROLE_ALLOW;
		if (r->v.outcome == BL_CLEAN && !verbose)
			continue;
		const char *tag = r->v.outcome == BL_LISTED ? (allow ? "ALLOWED" : "LISTED")
			       : r->v.outcome == BL_CLEAN  ? "clean"
							   : "ERROR";
		printf("%-8s %-40s %-30s", tag, t->v[r->target].name, z->zone);
		if (r->v.outcome == BL_LISTED) {
			char code[ADDR_STRLEN];
			for (int k = 0; k < r->v.ncodes; k++) {
				addr_format(&r->v.codes[k], code, sizeof code);
				printf(" %s", code);
			}
			for (int k = 0; k < r->v.nmeanings; k++)
				printf("%s %s", k ? ";" : "", r->v.meanings[k]);
			printf("\n");
			if (r->txt[0])
				printf("%-8s reason: %s\n", "", r->txt);
			char url[256];
			bl_zone_delist(z, t->v[r->target].name, url, sizeof url);
			if (url[0] && !allow)
				printf("%-8s delist: %s\n", "", url);
		} else if (r->v.outcome == BL_DNS_ERROR) {
			printf(" DNS error: %s\n", r->v.error);
		} else if (r->v.outcome != BL_CLEAN) {
			printf(" %s\n", r->v.error);
		} else {
			printf("\n");
		}
	}
	printf("%s%zu target%s x %zu zone%s: %lu listed, %lu error%s, %lu clean", n ? "\n" : "",
	       t->n, t->n == 1 ? "" : "s", sel->nzones, sel->nzones == 1 ? "" : "s", cnt->listed,
	       cnt->errors, cnt->errors == 1 ? "" : "s", cnt->clean);
	if (cnt->allowlisted)
		printf(", %lu allow-listed", cnt->allowlisted);
	printf(" (%lu queries in %.2f s)\n", st->queries, seconds);
}

int cli_check(int argc, char **argv)
{
	enum { OPT_JSON = 256, OPT_LIST, OPT_NOSELF, OPT_NOTXT };
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, OPT_JSON},
	    {"resolver", required_argument, NULL, 'r'},
	    {"zone", required_argument, NULL, 'z'},
	    {"zones", required_argument, NULL, 'Z'},
	    {"list-zones", no_argument, NULL, OPT_LIST},
	    {"timeout", required_argument, NULL, 't'},
	    {"tries", required_argument, NULL, 'T'},
	    {"concurrency", required_argument, NULL, 'c'},
	    {"max-range", required_argument, NULL, 'm'},
	    {"no-selftest", no_argument, NULL, OPT_NOSELF},
	    {"no-txt", no_argument, NULL, OPT_NOTXT},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct dnsbl_opts o;
	dnsbl_opts_init(&o);
	bool json = false, list = false, verbose = false;
	int rc = CLI_EXIT_USAGE;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_JSON:
			json = true;
			break;
		case OPT_LIST:
			list = true;
			break;
		case OPT_NOSELF:
			o.chk.no_selftest = true;
			break;
		case OPT_NOTXT:
			o.chk.no_txt = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			cli_usage(stdout, cli_check_help);
			dnsbl_opts_free(&o);
			return CLI_EXIT_OK;
		case '?':
			fprintf(stderr, "relayguard check --help shows the options\n");
			goto out;
		default:
			if (dnsbl_opts_set(&o, "check", ch, optarg) != 0)
				goto out;
		}
	}
	struct dnsbl_sel sel;
	if (dnsbl_select(&o, "check", &sel) != 0)
		goto out;
	if (list) {
		dnsbl_print_catalog(&sel.catalog, json);
		dnsbl_sel_free(&sel);
		rc = CLI_EXIT_OK;
		goto out;
	}
	if (optind >= argc) {
		cli_error("check", "no target given (an IP, a CIDR range or a domain); see --help");
		dnsbl_sel_free(&sel);
		goto out;
	}
	struct chk_targets targets = {0};
	char err[256];
	for (int i = optind; i < argc; i++) {
		if (chk_targets_add(&targets, argv[i], o.max_range, err, sizeof err) != 0) {
			cli_error("check", "%s", err);
			chk_targets_free(&targets);
			dnsbl_sel_free(&sel);
			goto out;
		}
	}
	struct chk_result *res = NULL;
	size_t nres = 0;
	struct chk_stats st;
	clock_update();
	int64_t t0 = clock_monotonic_ms();
	if (dnsbl_run(&o, "check", &sel, &targets, &res, &nres, &st) != 0) {
		chk_targets_free(&targets);
		dnsbl_sel_free(&sel);
		goto out;
	}
	clock_update();
	double seconds = (double)(clock_monotonic_ms() - t0) / 1000.0;
	struct dnsbl_counts cnt;
	dnsbl_count(&sel, res, nres, &cnt);
	if (json)
		cli_print_json(cli_check_json(&sel, &targets, res, nres, &st, seconds, &cnt));
	else
		cli_check_human(&sel, &targets, res, nres, &st, seconds, &cnt, verbose);
	rc = cnt.listed ? CLI_EXIT_FOUND : cnt.errors ? CLI_EXIT_INCOMPLETE : CLI_EXIT_OK;
	free(res);
	chk_targets_free(&targets);
	dnsbl_sel_free(&sel);
out:
	dnsbl_opts_free(&o);
	return rc;
}
