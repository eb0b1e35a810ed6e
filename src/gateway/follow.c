/*
 * follow - live log follow into the policy engine; see follow.h.
 */
#include "gateway/follow.h"

#include "admin/metrics.h"
#include "core/addr.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"
#include "core/tail.h"
#include "forensics/authline.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

struct follow_file {
	struct tail t;
	bool failing; /* the last poll failed (logged once until it works again) */
	bool absent;  /* not there (logged once) */
};

struct follow {
	struct event_base *base;
	struct pol_engine *engine;
	struct follow_options o;
	struct event *timer;
	struct authline al;
	int nfiles;
	struct follow_file files[FOLLOW_FILES_MAX];
	struct metric *m_logins;
};

static void follow_event(struct follow *f, const struct authline_rec *r)
{
	struct pol_event ev;
	struct pol_verdict v;
	pol_event_init(&ev, r->kind == AUTHLINE_FAIL ? POL_EV_AUTH_FAIL : POL_EV_AUTH_OK,
	               clock_realtime_ms());
	if (str_copy(ev.user, sizeof ev.user, r->user) != 0)
		panic("follow_event: authline user names are POL_USER_MAX");
	ev.has_ip = r->has_ip;
	if (r->has_ip)
		ev.ip = r->ip;
	char ip[ADDR_STRLEN] = "";
	if (r->has_ip)
		(void)addr_format(&r->ip, ip, sizeof ip);
	if (f->m_logins)
		metric_add(f->m_logins,
		           (const char *[]){r->source, r->kind == AUTHLINE_FAIL ? "failed" : "ok"},
		           r->kind == AUTHLINE_FAIL ? r->count : 1);
	uint32_t n = r->kind == AUTHLINE_FAIL ? r->count : 1;
	for (uint32_t i = 0; i < n; i++) {
		if (pol_engine_evaluate(f->engine, &ev, &v) != 0) {
			log_error("follow: policy store error on a %s login of %s from %s",
			          authline_kind_name(r->kind), r->user[0] ? r->user : "-",
			          ip[0] ? ip : "-");
			return;
		}
		if (v.block_created) {
			if (f->o.on_block)
				f->o.on_block(f->o.on_block_ctx, &v, ip);
			return; /* the rest of the line's failures meet the block */
		}
	}
	char qu[STR_LOG_VALUE_MAX];
	log_debug("follow: %s %s login user=%s client=%s action=%s rule=%s", r->source,
	          authline_kind_name(r->kind), str_log_value(qu, sizeof qu, r->user),
	          ip[0] ? ip : "-", pol_action_name(v.action), v.rule[0] ? v.rule : "-");
}

static void follow_line(void *ctx, const char *p, size_t len)
{
	struct follow *f = ctx;
	struct authline_rec r;
	if (authline_read(&f->al, p, len, &r) != AUTHLINE_NONE)
		follow_event(f, &r);
}

void follow_poll(struct follow *f)
{
	bool more = false;
	clock_update();
	for (int i = 0; i < f->nfiles; i++) {
		struct follow_file *ff = &f->files[i];
		char err[600];
		long n = tail_poll(&ff->t, FOLLOW_BUDGET, follow_line, f, err, sizeof err);
		if (n < 0) {
			if (!ff->failing)
				log_error("follow: %s (tried again every poll)", err);
			ff->failing = true;
			continue;
		}
		if (ff->failing)
			log_info("follow: %s can be read again", ff->t.path);
		ff->failing = false;
		if (ff->t.fd < 0 && !ff->absent)
			log_warn("follow: %s does not exist (yet): followed once it does",
			         ff->t.path);
		else if (ff->t.fd >= 0 && ff->absent)
			log_info("follow: %s is there now, read from its start", ff->t.path);
		ff->absent = ff->t.fd < 0;
		more = more || (size_t)n >= FOLLOW_BUDGET;
	}
	uint64_t ms = more ? 0 : f->o.poll_ms;
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	if (event_add(f->timer, &tv) != 0)
		log_error("follow: cannot set the poll timer");
}

static void follow_on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	follow_poll(arg);
}

struct follow *follow_new(struct event_base *base, struct pol_engine *engine,
                          const struct follow_options *o, struct metrics *metrics, char *err,
                          size_t errlen)
{
	char list[4096];
	char *paths[FOLLOW_FILES_MAX + 1];
	if (!o->files || str_copy(list, sizeof list, o->files) != 0) {
		str_format_trunc(err, errlen, "[follow] files: too long");
		return NULL;
	}
	int n = str_split(list, ", \t", paths, FOLLOW_FILES_MAX);
	if (n <= 0) {
		str_format_trunc(err, errlen, "[follow] files: %s",
		                 n == 0 ? "no file named" : "more than 16 files");
		return NULL;
	}
	struct follow *f = calloc(1, sizeof *f);
	if (!f) {
		str_format_trunc(err, errlen, "out of memory");
		return NULL;
	}
	f->base = base;
	f->engine = engine;
	f->o = *o;
	f->o.files = NULL;
	if (!f->o.poll_ms)
		f->o.poll_ms = 250;
	authline_init(&f->al);
	for (int i = 0; i < n; i++) {
		char e[600];
		if (paths[i][0] != '/') {
			str_format_trunc(err, errlen, "[follow] files: %s is not an absolute path",
			                 paths[i]);
			follow_free(f);
			return NULL;
		}
		if (tail_open(&f->files[i].t, paths[i], o->max_line, e, sizeof e) != 0) {
			str_format_trunc(err, errlen, "[follow] files: %s", e);
			follow_free(f);
			return NULL;
		}
		f->nfiles = i + 1;
	}
	if (metrics)
		f->m_logins = metrics_register(
		    metrics, METRIC_COUNTER, "relayguard_follow_logins_total",
		    "Logins read from the followed logs ([follow] files), by server and result.",
		    "source,result", NULL, 0);
	f->timer = event_new(base, -1, 0, follow_on_timer, f);
	if (!f->timer) {
		str_format_trunc(err, errlen, "out of memory");
		follow_free(f);
		return NULL;
	}
	follow_poll(f); /* opens the files at their end now: what comes later is new */
	for (int i = 0; i < f->nfiles; i++)
		log_info("follow: following %s", f->files[i].t.path);
	return f;
}

void follow_free(struct follow *f)
{
	if (!f)
		return;
	if (f->timer)
		event_free(f->timer);
	for (int i = 0; i < f->nfiles; i++)
		tail_close(&f->files[i].t);
	authline_free(&f->al);
	free(f);
}
