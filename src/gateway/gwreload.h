/*
 * gwreload - a running serve re-reads its configuration (SIGHUP, and the
 * control socket's reload request): limits and the policy sections ([limits],
 * [domain NAME], [user NAME], ...), local domains, trusted networks, the TLS
 * certificate and key, the users file, log_level, [alert] settings, [screen]
 * (DNSBL sites, weights, thresholds, its catalogue file read again). A file
 * that does not load (what checkconf would refuse, or a catalogue file that
 * does not parse) changes nothing; what only a restart can change (listener
 * addresses, state_dir, spool_dir, user, [screen] resolver, the delivery, web
 * and policy service sections) keeps its running value and is named in the
 * log. Connections stay open: sessions that began
 * before go on with the limits they began with.
 */
#ifndef RG_GATEWAY_GWRELOAD_H
#define RG_GATEWAY_GWRELOAD_H

#include "gateway/gwconf.h"

#include <stddef.h>

struct smtpd;

struct gwreload {
	const char *path;       /* serve's --config; NULL: the embedded defaults */
	struct gw_config *live; /* the running configuration, changed in place */
	struct smtpd *smtpd;    /* may be NULL */
};

/* 0: the new configuration runs (restart, when not NULL, gets what still needs
 * a restart, "" when nothing); -1: refused, nothing changed, err says why. */
int gwreload_apply(const struct gwreload *r, char *restart, size_t restartlen, char *err,
                   size_t errlen);

#endif
