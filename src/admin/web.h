/*
 * web - the HTTP side of `relayguard serve` (libmicrohttpd), run inside the
 * gateway's libevent loop: MHD in epoll mode without threads, its one epoll
 * descriptor watched by libevent, so handlers see the same state as the SMTP
 * and policy code with no locks.
 *
 *   GET /metrics   Prometheus text format, no login (bind it wisely)
 *   GET /healthz   "ok"
 * The admin page and /api/ (login, CSRF, bearer tokens) come with the admin
 * issue; until then every other path is 404.
 */
#ifndef RG_ADMIN_WEB_H
#define RG_ADMIN_WEB_H

#include "core/hostport.h"

#include <stddef.h>

struct event_base;
struct metrics;
struct web;

struct web *web_new(struct event_base *base, const struct hostport *addr, struct metrics *m,
		    char *err, size_t errlen);
void web_free(struct web *w);

#endif
