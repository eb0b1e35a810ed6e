/*
 * web - libmicrohttpd inside the libevent loop; see web.h.
 */
#include "admin/web.h"

#include "admin/metrics.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"

#include <errno.h>
#include <event2/event.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

struct web {
	struct event_base *base;
	struct MHD_Daemon *d;
	struct event *io, *timer;
	struct metrics *metrics;
	struct metric *m_requests;
};

static enum MHD_Result web_send(struct MHD_Connection *conn, unsigned status, const char *type,
				const char *body, size_t len)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	enum MHD_Result rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result web_handle(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct web *w = cls;
	const char *path = "other";
	enum MHD_Result rc;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		rc = web_send(conn, 405, "text/plain; charset=utf-8", "method not allowed\n", 19);
	} else if (strcmp(url, "/metrics") == 0) {
		path = "/metrics";
		struct buf b;
		buf_init(&b, 16 << 20);
		if (w->m_requests)
			metric_add(w->m_requests, (const char *[]){path}, 1);
		if (metrics_render(w->metrics, &b) != 0) {
			buf_free(&b);
			return web_send(conn, 500, "text/plain; charset=utf-8", "metrics too large\n",
					18);
		}
		rc = web_send(conn, 200, "text/plain; version=0.0.4; charset=utf-8", buf_cstr(&b),
			      b.len);
		buf_free(&b);
		return rc;
	} else if (strcmp(url, "/healthz") == 0) {
		path = "/healthz";
		rc = web_send(conn, 200, "text/plain; charset=utf-8", "ok\n", 3);
	} else {
		rc = web_send(conn, 404, "text/plain; charset=utf-8", "not found\n", 10);
	}
	if (w->m_requests)
		metric_add(w->m_requests, (const char *[]){path}, 1);
	return rc;
}

static void web_schedule(struct web *w)
{
	MHD_UNSIGNED_LONG_LONG ms;
	if (MHD_get_timeout(w->d, &ms) == MHD_YES) {
		struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
		evtimer_add(w->timer, &tv);
	} else {
		evtimer_del(w->timer);
	}
}

static void web_on_io(evutil_socket_t fd, short what, void *arg)
{
	struct web *w = arg;
	MHD_run(w->d);
	web_schedule(w);
}

struct web *web_new(struct event_base *base, const struct hostport *addr, struct metrics *m,
		    char *err, size_t errlen)
{
	struct web *w = calloc(1, sizeof *w);
	if (!w) {
		str_format(err, errlen, "out of memory");
		return NULL;
	}
	w->base = base;
	w->metrics = m;
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	if (addr->ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	w->d = MHD_start_daemon(flags, 0, NULL, NULL, web_handle, w, MHD_OPTION_SOCK_ADDR,
				(const struct sockaddr *)&addr->ss, MHD_OPTION_CONNECTION_LIMIT,
				(unsigned)256, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)32,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
	if (!w->d) {
		str_format(err, errlen, "web: cannot listen on %s: %s", addr->text, strerror(errno));
		free(w);
		return NULL;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(w->d, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info) {
		str_format(err, errlen, "web: libmicrohttpd gave no epoll descriptor");
		MHD_stop_daemon(w->d);
		free(w);
		return NULL;
	}
	w->io = event_new(base, info->epoll_fd, EV_READ | EV_PERSIST, web_on_io, w);
	w->timer = evtimer_new(base, web_on_io, w);
	if (!w->io || !w->timer || event_add(w->io, NULL) != 0) {
		str_format(err, errlen, "web: cannot watch the listener");
		web_free(w);
		return NULL;
	}
	if (m)
		w->m_requests = metrics_register(m, METRIC_COUNTER, "relayguard_http_requests_total",
						 "HTTP requests answered, by path.", "path", NULL, 0);
	web_schedule(w);
	log_info("web listening on %s (/metrics)", addr->text);
	return w;
}

void web_free(struct web *w)
{
	if (!w)
		return;
	if (w->io)
		event_free(w->io);
	if (w->timer)
		event_free(w->timer);
	MHD_stop_daemon(w->d);
	free(w);
}
