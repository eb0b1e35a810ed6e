/*
 * dnsbl_opts - options and output shared by check and monitor; see dnsbl_opts.h.
 */
#include "cli/dnsbl_opts.h"

#include "cli/cli.h"
#include "core/addr.h"
#include "core/grow.h"
#include "core/str.h"
#include "dnsbl/builtin.h"
#include "net/dns.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

void dnsbl_opts_init(struct dnsbl_opts *o)
{
	memset(o, 0, sizeof *o);
	o->timeout_ms = 2000;
	o->tries = 2;
	o->max_range = 4096;
	o->chk.concurrency = CHK_DEFAULT_CONCURRENCY;
}

void dnsbl_opts_free(struct dnsbl_opts *o)
{
	for (size_t i = 0; i < o->nzone; i++)
		free(o->zone[i]);
	free(o->zone);
	o->zone = NULL;
	o->nzone = o->zone_cap = 0;
}

/* "127.0.0.1", "127.0.0.1:5353", "::1", "[::1]:5353" -> c-ares' "ip:port" form. */
static int dnsbl_parse_resolver(const char *arg, char *out, size_t size)
{
	const char *host = arg;
	size_t hlen = strlen(arg);
	const char *port = NULL;
	if (arg[0] == '[') {
		const char *end = strchr(arg, ']');
		if (!end)
			return -1;
		host = arg + 1;
		hlen = (size_t)(end - host);
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0')
			return -1;
	} else {
		const char *colon = strchr(arg, ':');
		if (colon && strchr(colon + 1, ':') == NULL) {
			hlen = (size_t)(colon - arg);
			port = colon + 1;
		}
	}
	struct addr a;
	uint64_t p = 53;
	if (addr_parse(host, hlen, &a) != 0)
		return -1;
	if (port && str_to_u64(port, strlen(port), 1, 65535, &p) != 0)
		return -1;
	char ip[ADDR_STRLEN];
	addr_format(&a, ip, sizeof ip);
	if (a.family == 6)
		return str_format(out, size, "[%s]:%u", ip, (unsigned)p);
	return str_format(out, size, "%s:%u", ip, (unsigned)p);
}

int dnsbl_opts_set_err(struct dnsbl_opts *o, int opt, const char *arg, char *err, size_t errlen)
{
	long long v;
	switch (opt) {
	case 'r':
		if (dnsbl_parse_resolver(arg, o->resolver, sizeof o->resolver) != 0) {
			str_format_trunc(err, errlen,
			                 "bad resolver '%.80s': expected IP[:PORT] or [IPv6]:PORT",
			                 arg);
			return -1;
		}
		return 0;
	case 'z': {
		char z[BL_ZONE_MAX];
		if (bl_zone_normalise(arg, z, sizeof z) != 0 || z[0] == '*') {
			str_format_trunc(err, errlen, "bad zone name '%.80s'", arg);
			return -1;
		}
		char *s = strdup(z);
		if (!s || grow_array(&o->zone, &o->zone_cap, o->nzone + 1, sizeof *o->zone) != 0) {
			free(s);
			str_format_trunc(err, errlen, "out of memory");
			return -1;
		}
		o->zone[o->nzone++] = s;
		return 0;
	}
	case 'Z':
		if (str_copy(o->zones_file, sizeof o->zones_file, arg) != 0) {
			str_format_trunc(err, errlen, "catalogue path too long");
			return -1;
		}
		return 0;
	case 't':
		if (str_to_ll(arg, 10, 60000, &v) != 0) {
			str_format_trunc(err, errlen,
			                 "timeout: expected milliseconds from 10 to 60000");
			return -1;
		}
		o->timeout_ms = (int)v;
		return 0;
	case 'T':
		if (str_to_ll(arg, 1, 10, &v) != 0) {
			str_format_trunc(err, errlen, "tries: expected a number from 1 to 10");
			return -1;
		}
		o->tries = (int)v;
		return 0;
	case 'c':
		if (str_to_ll(arg, 1, 10000, &v) != 0) {
			str_format_trunc(err, errlen,
			                 "concurrency: expected a number from 1 to 10000");
			return -1;
		}
		o->chk.concurrency = (unsigned)v;
		return 0;
	case 'm':
		if (str_to_ll(arg, 1, 1 << 24, &v) != 0) {
			str_format_trunc(err, errlen,
			                 "max-range: expected a number from 1 to 16777216");
			return -1;
		}
		o->max_range = (uint64_t)v;
		return 0;
	default:
		str_format_trunc(err, errlen, "unknown option");
		return -1;
	}
}

int dnsbl_opts_set(struct dnsbl_opts *o, const char *cmd, int opt, const char *arg)
{
	char err[256];
	if (dnsbl_opts_set_err(o, opt, arg, err, sizeof err) != 0) {
		cli_error(cmd, "%s", err);
		return -1;
	}
	return 0;
}

static int dnsbl_add_zone(struct dnsbl_sel *sel, const struct bl_zone *z)
{
	for (size_t i = 0; i < sel->nzones; i++)
		if (strcmp(sel->zones[i].zone, z->zone) == 0)
			return 0;
	if (grow_array(&sel->zones, &sel->zones_cap, sel->nzones + 1, sizeof *sel->zones) != 0)
		return -1;
	sel->zones[sel->nzones++] = *z;
	return 0;
}

int dnsbl_select(const struct dnsbl_opts *o, const char *cmd, struct dnsbl_sel *sel)
{
	char err[512];
	memset(sel, 0, sizeof *sel);
	int rc = o->zones_file[0]
		     ? bl_catalog_load_file(&sel->catalog, o->zones_file, err, sizeof err)
		     : bl_catalog_load_string(&sel->catalog, bl_builtin_catalog(),
					      "built-in catalogue", err, sizeof err);
	if (rc != 0) {
		cli_error(cmd, "%s", err);
		return -1;
	}
	if (o->nzone == 0) {
		for (size_t i = 0; i < sel->catalog.nzones; i++) {
			const struct bl_zone *z = &sel->catalog.zones[i];
			if (z->is_default && z->status == BL_STATUS_ACTIVE && z->zone[0] != '*' &&
			    dnsbl_add_zone(sel, z) != 0)
				goto oom;
		}
		if (sel->nzones == 0) {
			cli_error(cmd, "the catalogue has no active default zones; name one with --zone");
			dnsbl_sel_free(sel);
			return -1;
		}
		return 0;
	}
	for (size_t i = 0; i < o->nzone; i++) {
		const struct bl_zone *z = bl_catalog_find(&sel->catalog, o->zone[i]);
		struct bl_zone adhoc;
		if (z && z->status == BL_STATUS_DEAD) {
			cli_error(cmd, "%s is a defunct list (%s): %s. It is not queried.", o->zone[i],
				  z->name[0] ? z->name : z->zone,
				  z->reason[0] ? z->reason : "no longer operated");
			dnsbl_sel_free(sel);
			return -1;
		}
		if (z && z->status != BL_STATUS_ACTIVE)
			fprintf(stderr, "relayguard: %s: warning: %s is %s: %s\n", cmd, z->zone,
				bl_status_name(z->status), z->reason);
		if (!z) {
			if (bl_zone_adhoc(&adhoc, o->zone[i]) != 0) {
				cli_error(cmd, "bad zone name '%s'", o->zone[i]);
				dnsbl_sel_free(sel);
				return -1;
			}
			z = &adhoc;
		}
		if (dnsbl_add_zone(sel, z) != 0)
			goto oom;
	}
	return 0;
oom:
	cli_error(cmd, "out of memory");
	dnsbl_sel_free(sel);
	return -1;
}

void dnsbl_sel_free(struct dnsbl_sel *sel)
{
	bl_catalog_free(&sel->catalog);
	free(sel->zones);
	sel->zones = NULL;
	sel->nzones = sel->zones_cap = 0;
}

static const char *dnsbl_type_name(const struct bl_zone *z)
{
	if (z->type == BL_TYPE_DOMAIN)
		return "domain";
	return z->ipv6 ? "ip4+ip6" : "ip4";
}

void dnsbl_print_catalog(const struct bl_catalog *c, bool json)
{
	if (json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < c->nzones; i++) {
			const struct bl_zone *z = &c->zones[i];
			json_array_append_new(
			    arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s}", "zone", z->zone,
					   "name", z->name, "type", dnsbl_type_name(z), "role",
					   z->role == BL_ROLE_ALLOW ? "allow" : "block", "status",
					   bl_status_name(z->status), "default", z->is_default,
					   "reason", z->reason, "delist", z->delist));
		}
		json_t *doc = json_object();
		json_object_set_new(doc, "zones", arr);
		cli_print_json(doc);
		return;
	}
	printf("%-36s %-8s %-6s %-10s %-7s %s\n", "ZONE", "TYPE", "ROLE", "STATUS", "DEFAULT",
	       "NAME");
	for (size_t i = 0; i < c->nzones; i++) {
		const struct bl_zone *z = &c->zones[i];
		printf("%-36s %-8s %-6s %-10s %-7s %s\n", z->zone,
		       z->status == BL_STATUS_DEAD ? "-" : dnsbl_type_name(z),
		       z->role == BL_ROLE_ALLOW ? "allow" : "block", bl_status_name(z->status),
		       z->is_default ? "yes" : "no", z->name);
	}
}

int dnsbl_run(const struct dnsbl_opts *o, const char *cmd, const struct dnsbl_sel *sel,
	      const struct chk_targets *targets, struct chk_result **res, size_t *nres,
	      struct chk_stats *st)
{
	struct event_base *base = event_base_new();
	if (!base) {
		cli_error(cmd, "cannot create an event loop");
		return -1;
	}
	char err[256];
	struct dns_options dopt = {.servers = o->resolver[0] ? o->resolver : NULL,
				   .timeout_ms = o->timeout_ms,
				   .tries = o->tries};
	struct dns *dns = dns_new(base, &dopt, err, sizeof err);
	if (!dns) {
		cli_error(cmd, "%s", err);
		event_base_free(base);
		return -1;
	}
	int rc = chk_run(base, dns, sel->zones, sel->nzones, targets, &o->chk, res, nres, st);
	dns_free(dns);
	event_base_free(base);
	if (rc != 0)
		cli_error(cmd, "out of memory");
	return rc;
}

void dnsbl_count(const struct dnsbl_sel *sel, const struct chk_result *res, size_t n,
		 struct dnsbl_counts *c)
{
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < n; i++) {
		bool allow = sel->zones[res[i].zone].role == BL_ROLE_ALLOW;
		if (res[i].v.outcome == BL_LISTED) {
			if (allow)
				c->allowlisted++;
			else
				c->listed++;
		} else if (res[i].v.outcome == BL_CLEAN) {
			c->clean++;
		} else {
			c->errors++;
		}
	}
}

json_t *dnsbl_result_json(const struct dnsbl_sel *sel, const struct chk_targets *t,
			  const struct chk_result *r)
{
	const struct bl_zone *z = &sel->zones[r->zone];
	const char *target = t->v[r->target].name;
	json_t *o = json_object();
	json_object_set_new(o, "target", json_string(target));
	json_object_set_new(o, "zone", json_string(z->zone));
	json_object_set_new(o, "name", json_string(z->name));
	json_object_set_new(o, "status", json_string(bl_outcome_status(r->v.outcome)));
	json_object_set_new(o, "outcome", json_string(bl_outcome_name(r->v.outcome)));
	json_object_set_new(o, "role", json_string(z->role == BL_ROLE_ALLOW ? "allow" : "block"));
	json_t *codes = json_array(), *meaning = json_array();
	if (r->v.outcome == BL_LISTED || r->v.outcome == BL_LIST_ERROR ||
	    r->v.outcome == BL_BAD_ANSWER) {
		char code[ADDR_STRLEN];
		for (int k = 0; k < r->v.ncodes; k++) {
			addr_format(&r->v.codes[k], code, sizeof code);
			json_array_append_new(codes, json_string(code));
		}
	}
	if (r->v.outcome == BL_LISTED)
		for (int k = 0; k < r->v.nmeanings; k++)
			json_array_append_new(meaning, json_string(r->v.meanings[k]));
	json_object_set_new(o, "codes", codes);
	json_object_set_new(o, "meaning", meaning);
	json_object_set_new(o, "txt", r->txt[0] ? json_string(r->txt) : json_null());
	char url[256];
	bl_zone_delist(z, target, url, sizeof url);
	json_object_set_new(o, "delist",
			    url[0] && r->v.outcome == BL_LISTED ? json_string(url) : json_null());
	json_object_set_new(o, "error",
			    r->v.outcome == BL_CLEAN || r->v.outcome == BL_LISTED
				? json_null()
				: json_string(r->v.error));
	return o;
}
