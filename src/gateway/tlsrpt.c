/*
 * tlsrpt - the daily TLS-RPT report per policy domain, built with jansson.
 */
#include "gateway/tlsrpt.h"

#include "core/clock.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/str.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TLSRPT_DOMAINS_MAX 1024
#define TLSRPT_FAILS_MAX 32 /* distinct (result, host, address) per domain and day */
#define TLSRPT_DAY_MS 86400000LL
#define TLSRPT_FLUSH_MS 60000

struct tlsrpt_fail {
	char type[40];
	char host[MTASTS_NAME_MAX];
	char ip[64];
	uint64_t count;
};

struct tlsrpt_dom {
	struct tlsrpt_dom *next;
	char domain[MTASTS_NAME_MAX];
	struct mtasts_policy policy;
	uint64_t ok, failed;
	unsigned nfails;
	struct tlsrpt_fail fails[TLSRPT_FAILS_MAX];
	bool dirty;
};

struct tlsrpt {
	char dir[600];
	char org[256], contact[320];
	int64_t day; /* days since the epoch of the counts held */
	struct tlsrpt_dom *doms;
	unsigned ndoms;
	int64_t last_flush_ms;
};

struct tlsrpt *tlsrpt_new(const char *state_dir, const char *org, const char *contact)
{
	struct tlsrpt *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	if (str_format(t->dir, sizeof t->dir, "%s/tls-rpt", state_dir) != 0) {
		free(t);
		return NULL;
	}
	if (str_copy(t->org, sizeof t->org, org) != 0)
		panic("tlsrpt_new: t->org does not fit");
	if (str_copy(t->contact, sizeof t->contact, contact) != 0)
		panic("tlsrpt_new: t->contact does not fit");
	t->day = -1;
	return t;
}

static void tlsrpt_clear(struct tlsrpt *t)
{
	while (t->doms) {
		struct tlsrpt_dom *d = t->doms;
		t->doms = d->next;
		free(d);
	}
	t->ndoms = 0;
}

void tlsrpt_free(struct tlsrpt *t)
{
	if (!t)
		return;
	(void)tlsrpt_flush(t, clock_realtime_ms(), true);
	tlsrpt_clear(t);
	free(t);
}

static json_t *tlsrpt_policy_strings(const struct mtasts_policy *p)
{
	json_t *a = json_array();
	char line[MTASTS_NAME_MAX + 16];
	json_array_append_new(a, json_string("version: STSv1"));
	if (str_format(line, sizeof line, "mode: %s", mtasts_mode_name(p->mode)) != 0)
		panic("tlsrpt_policy_strings: line does not fit");
	json_array_append_new(a, json_string(line));
	for (unsigned i = 0; i < p->nmx; i++) {
		if (str_format(line, sizeof line, "mx: %s", p->mx[i]) != 0)
			panic("tlsrpt_policy_strings: line does not fit");
		json_array_append_new(a, json_string(line));
	}
	if (str_format(line, sizeof line, "max_age: %u", p->max_age) != 0)
		panic("tlsrpt_policy_strings: line does not fit");
	json_array_append_new(a, json_string(line));
	return a;
}

/* The report of one domain for t->day (RFC 8460 §4.4). */
static int tlsrpt_write(const struct tlsrpt *t, const struct tlsrpt_dom *d)
{
	char start[40], end[40], date[16], id[400], dir[700], path[1000], err[200];
	int64_t day_ms = t->day * TLSRPT_DAY_MS;
	if (clock_format_rfc3339(day_ms, start, sizeof start) != 0 ||
	    clock_format_rfc3339(day_ms + TLSRPT_DAY_MS - 1000, end, sizeof end) != 0)
		return -1;
	if (str_copy_n(date, sizeof date, start, 10) != 0)
		panic("tlsrpt_write: date does not fit");
	if (str_format(id, sizeof id, "%s_%s@%s", date, d->domain, t->org) != 0)
		return -1;
	if (str_format(dir, sizeof dir, "%s/%s", t->dir, date) != 0 ||
	    str_format(path, sizeof path, "%s/%s.json", dir, d->domain) != 0)
		return -1;
	if ((mkdir(t->dir, 0700) != 0 && errno != EEXIST) ||
	    (mkdir(dir, 0700) != 0 && errno != EEXIST)) {
		log_warn("tls-rpt: cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	json_t *mx = json_array();
	for (unsigned i = 0; i < d->policy.nmx; i++)
		json_array_append_new(mx, json_string(d->policy.mx[i]));
	json_t *fails = json_array();
	for (unsigned i = 0; i < d->nfails; i++) {
		const struct tlsrpt_fail *f = &d->fails[i];
		json_t *o =
		    json_pack("{s:s, s:s, s:I}", "result-type", f->type, "receiving-mx-hostname",
		              f->host, "failed-session-count", (json_int_t)f->count);
		if (o && f->ip[0])
			json_object_set_new(o, "receiving-ip", json_string(f->ip));
		if (o)
			json_array_append_new(fails, o);
	}
	json_t *root = json_pack(
	    "{s:s, s:{s:s, s:s}, s:s, s:s, s:[{s:{s:s, s:o, s:s, s:o}, s:{s:I, s:I}, s:o}]}",
	    "organization-name", t->org, "date-range", "start-datetime", start, "end-datetime", end,
	    "contact-info", t->contact, "report-id", id, "policies", "policy", "policy-type", "sts",
	    "policy-string", tlsrpt_policy_strings(&d->policy), "policy-domain", d->domain,
	    "mx-host", mx, "summary", "total-successful-session-count", (json_int_t)d->ok,
	    "total-failure-session-count", (json_int_t)d->failed, "failure-details", fails);
	if (!root)
		return -1;
	char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!text)
		return -1;
	int rc = fsutil_write_atomic(path, text, strlen(text), 0600, err, sizeof err);
	if (rc != 0)
		log_warn("tls-rpt: %s: %s", path, err);
	free(text);
	return rc;
}

int tlsrpt_flush(struct tlsrpt *t, int64_t now_ms, bool force)
{
	if (!force && now_ms - t->last_flush_ms < TLSRPT_FLUSH_MS)
		return 0;
	int rc = 0;
	for (struct tlsrpt_dom *d = t->doms; d; d = d->next)
		if (d->dirty) {
			if (tlsrpt_write(t, d) != 0)
				rc = -1;
			d->dirty = false;
			t->last_flush_ms = now_ms; /* the next write a minute after this one */
		}
	return rc;
}

/* The day's entry of domain (a new day writes and forgets the old one). */
static struct tlsrpt_dom *tlsrpt_dom(struct tlsrpt *t, const char *domain,
                                     const struct mtasts_policy *p, int64_t now_ms)
{
	int64_t day = now_ms / TLSRPT_DAY_MS;
	if (day != t->day) {
		(void)tlsrpt_flush(t, now_ms, true);
		tlsrpt_clear(t);
		t->day = day;
	}
	struct tlsrpt_dom *d;
	for (d = t->doms; d; d = d->next)
		if (strcmp(d->domain, domain) == 0)
			break;
	if (!d) {
		if (t->ndoms >= TLSRPT_DOMAINS_MAX || !(d = calloc(1, sizeof *d)))
			return NULL;
		if (str_copy(d->domain, sizeof d->domain, domain) != 0) {
			free(d);
			return NULL;
		}
		d->next = t->doms;
		t->doms = d;
		t->ndoms++;
	}
	d->policy = *p;
	d->dirty = true;
	return d;
}

void tlsrpt_success(struct tlsrpt *t, const char *domain, const struct mtasts_policy *p,
                    int64_t now_ms)
{
	struct tlsrpt_dom *d = t ? tlsrpt_dom(t, domain, p, now_ms) : NULL;
	if (d)
		d->ok++;
	if (t)
		(void)tlsrpt_flush(t, now_ms, false);
}

void tlsrpt_failure(struct tlsrpt *t, const char *domain, const struct mtasts_policy *p,
                    const char *result_type, const char *mx_host, const char *mx_ip, int64_t now_ms)
{
	struct tlsrpt_dom *d = t ? tlsrpt_dom(t, domain, p, now_ms) : NULL;
	if (!d)
		return;
	d->failed++;
	unsigned i;
	for (i = 0; i < d->nfails; i++)
		if (strcmp(d->fails[i].type, result_type) == 0 &&
		    strcmp(d->fails[i].host, mx_host) == 0 && strcmp(d->fails[i].ip, mx_ip) == 0)
			break;
	if (i == d->nfails && d->nfails < TLSRPT_FAILS_MAX) {
		struct tlsrpt_fail *f = &d->fails[d->nfails++];
		if (str_copy(f->type, sizeof f->type, result_type) != 0)
			panic("tlsrpt_failure: f->type does not fit");
		str_copy_trunc(f->host, sizeof f->host, mx_host);
		if (str_copy(f->ip, sizeof f->ip, mx_ip) != 0)
			panic("tlsrpt_failure: f->ip does not fit");
	}
	if (i < d->nfails)
		d->fails[i].count++;
	(void)tlsrpt_flush(t, now_ms, false);
}
