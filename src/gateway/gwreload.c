/*
 * gwreload - see gwreload.h.
 */
#include "gateway/gwreload.h"

#include "core/log.h"
#include "core/str.h"
#include "gateway/smtpd.h"

#include <stdlib.h>
#include <string.h>

int gwreload_apply(const struct gwreload *r, char *restart, size_t restartlen, char *err,
                   size_t errlen)
{
	char later[1024];
	struct gw_config *fresh = malloc(sizeof *fresh);
	if (!fresh) {
		str_format_trunc(err, errlen, "out of memory");
		return -1;
	}
	if (gwconf_load(fresh, r->path, err, errlen) != 0) {
		free(fresh);
		return -1;
	}
	gwconf_reload_merge(r->live, fresh, later, sizeof later);
	struct smtpd_reload *sr = NULL;
	if (r->smtpd && !(sr = smtpd_reload_prepare(r->smtpd, fresh, err, errlen))) {
		gwconf_free(fresh);
		free(fresh);
		return -1;
	}
	/* From here nothing fails: the new values go in as a whole. */
	struct prefix_set *old_trusted = r->live->trusted;
	struct prefix_set *old_sender_networks = r->live->sender_networks;
	/* The policy service and the web page hold these sets and take a new one
	 * only at a restart ([policyd] and [web] are restart-only): the running
	 * ones stay, the fresh file's are dropped. */
	struct prefix_set *allowed = r->live->policyd_allowed, *proxies = r->live->web_proxies;
	struct prefix_set *new_allowed = fresh->policyd_allowed, *new_proxies = fresh->web_proxies;
	*r->live = *fresh;
	r->live->policyd_allowed = allowed;
	r->live->web_proxies = proxies;
	fresh->trusted = NULL;
	fresh->sender_networks = NULL;
	free(fresh);
	if (sr)
		smtpd_reload_commit(r->smtpd, sr);
	prefix_set_free(old_trusted);
	prefix_set_free(old_sender_networks);
	prefix_set_free(new_allowed);
	prefix_set_free(new_proxies);
	enum log_level lvl = LOG_LEVEL_INFO;
	if (log_level_parse(r->live->log_level, &lvl) == 0)
		log_set_level(lvl);
	if (restart)
		str_copy_trunc(restart, restartlen, later);
	return 0;
}
