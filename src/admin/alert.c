/*
 * alert - exec and webhook delivery; see alert.h.
 */
#include "admin/alert.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"
#include "net/tls.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define ALERT_MAX_ARGS 32

int alert_run_exec(const struct alert_exec *a, const char *json, char *err, size_t errlen)
{
	char cmd[1024];
	char *argv[ALERT_MAX_ARGS + 1];
	if (str_copy(cmd, sizeof cmd, a->command) != 0) {
		str_format_trunc(err, errlen, "exec command too long");
		return -1;
	}
	int argc = str_split(cmd, " \t", argv, ALERT_MAX_ARGS);
	if (argc <= 0) {
		str_format_trunc(err, errlen, "exec command is empty or has more than %d words",
		                 ALERT_MAX_ARGS);
		return -1;
	}
	argv[argc] = NULL;
	int in[2];
	if (pipe2(in, O_CLOEXEC) != 0) {
		str_format_trunc(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	/* posix_spawn, not fork: the gateway has threads. The program gets the
	 * document on stdin, /dev/null as stdout (ours may be a JSON document),
	 * our stderr, and no other descriptor. */
	posix_spawn_file_actions_t fa;
	pid_t pid = -1;
	int e = posix_spawn_file_actions_init(&fa);
	if (e == 0) {
		e = posix_spawn_file_actions_adddup2(&fa, in[0], 0);
		e = e ? e : posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
		e = e ? e : posix_spawn_file_actions_addclosefrom_np(&fa, 3);
		e = e ? e : posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
		posix_spawn_file_actions_destroy(&fa);
	}
	close(in[0]);
	if (e != 0) {
		str_format_trunc(err, errlen, "cannot run %s: %s", argv[0], strerror(e));
		close(in[1]);
		return -1;
	}
	/* Write the document; a program that does not read it is its own business. */
	size_t len = strlen(json), off = 0;
	signal(SIGPIPE, SIG_IGN);
	while (off < len) {
		ssize_t w = write(in[1], json + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(in[1]);
	int timeout = a->timeout_ms > 0 ? a->timeout_ms : 30000;
	int status = 0;
	/* The monotonic clock read directly, not clock_update(): this runs on the
	 * gateway's alert thread too, and the cached clock belongs to the loop. */
	int64_t deadline = (clock_elapsed_us() / 1000) + timeout;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			str_format_trunc(err, errlen, "waitpid: %s", strerror(errno));
			return -1;
		}
		if ((clock_elapsed_us() / 1000) >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			str_format_trunc(err, errlen,
			                 "%s did not finish within %d ms and was killed", argv[0],
			                 timeout);
			return -1;
		}
		poll(NULL, 0, 20);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		str_format_trunc(err, errlen, "%s exited with status %d", argv[0],
		                 WEXITSTATUS(status));
	else
		str_format_trunc(err, errlen, "%s was killed by signal %d", argv[0],
		                 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return -1;
}

struct alert_http {
	struct event_base *base;
	int code;
	bool done;
	char reason[128];
};

static void alert_http_done(struct evhttp_request *req, void *arg)
{
	struct alert_http *h = arg;
	h->done = true;
	if (!req || evhttp_request_get_response_code(req) == 0) {
		str_copy_trunc(h->reason, sizeof h->reason,
		               "no answer (connection refused, reset or timed out)");
		h->code = 0;
	} else {
		h->code = evhttp_request_get_response_code(req);
		const char *line = evhttp_request_get_response_code_line(req);
		str_format_trunc(h->reason, sizeof h->reason, "HTTP %d %s", h->code,
		                 line ? line : "");
	}
	event_base_loopbreak(h->base);
}

int alert_webhook_check_url(const char *url, char *err, size_t errlen)
{
	struct evhttp_uri *u = evhttp_uri_parse(url);
	if (!u) {
		str_format_trunc(err, errlen, "webhook URL '%.100s' cannot be parsed", url);
		return -1;
	}
	const char *scheme = evhttp_uri_get_scheme(u);
	const char *host = evhttp_uri_get_host(u);
	int rc = 0;
	if (!scheme || (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
		str_format_trunc(err, errlen, "webhook URL must start with http:// or https://");
		rc = -1;
	} else if (!host || !*host) {
		str_format_trunc(err, errlen, "webhook URL has no host");
		rc = -1;
	}
	evhttp_uri_free(u);
	return rc;
}

static int alert_post_once(const struct alert_webhook *w, const struct evhttp_uri *u,
			   const char *json, char *err, size_t errlen)
{
	const char *scheme = evhttp_uri_get_scheme(u);
	bool https = strcasecmp(scheme, "https") == 0;
	const char *host = evhttp_uri_get_host(u);
	int port = evhttp_uri_get_port(u);
	if (port < 0)
		port = https ? 443 : 80;
	char path[1024];
	const char *p = evhttp_uri_get_path(u);
	const char *q = evhttp_uri_get_query(u);
	if (str_format(path, sizeof path, "%s%s%s", p && *p ? p : "/", q ? "?" : "", q ? q : "") !=
	    0) {
		str_format_trunc(err, errlen, "webhook URL path too long");
		return -1;
	}
	/* An IPv6 literal comes back without brackets; the Host header needs them. */
	char hosthdr[300];
	if (str_format(hosthdr, sizeof hosthdr, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host,
	               port) != 0) {
		str_copy_trunc(err, errlen, "webhook host name too long");
		return -1;
	}

	int rc = -1;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	struct event_base *base = event_base_new();
	struct bufferevent *bev = NULL;
	struct evhttp_connection *conn = NULL;
	if (!base) {
		str_format_trunc(err, errlen, "cannot create an event loop");
		return -1;
	}
	if (https) {
		const struct tls_client_opts to = {.verify = true, .ca_file = w->ca_file};
		char terr[400];
		ctx = tls_client_ctx_new(&to, terr, sizeof terr);
		if (!ctx) {
			str_format_trunc(err, errlen, "cannot load trusted certificates (%s)",
			                 terr);
			goto done;
		}
		ssl = SSL_new(ctx);
		if (!ssl) {
			str_format_trunc(err, errlen, "cannot create a TLS session");
			goto done;
		}
		if (tls_client_ssl_setup(ssl, host, host) != 0) {
			str_format_trunc(err, errlen, "cannot set the host name to verify");
			goto done;
		}
		bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
						     BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		if (bev)
			ssl = NULL; /* owned by the bufferevent now */
	} else {
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	}
	if (!bev) {
		str_format_trunc(err, errlen, "cannot create a connection");
		goto done;
	}
	conn = evhttp_connection_base_bufferevent_new(base, NULL, bev, host, (unsigned short)port);
	if (!conn) {
		str_format_trunc(err, errlen, "cannot create an HTTP connection");
		goto done;
	}
	int tmo = w->timeout_ms > 0 ? w->timeout_ms : 10000;
	struct timeval tv = {tmo / 1000, (tmo % 1000) * 1000};
	evhttp_connection_set_timeout_tv(conn, &tv);
	evhttp_connection_set_retries(conn, 0);
	struct alert_http h = {.base = base};
	struct evhttp_request *req = evhttp_request_new(alert_http_done, &h);
	if (!req) {
		str_format_trunc(err, errlen, "out of memory");
		goto done;
	}
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
	evhttp_add_header(hdr, "Host", hosthdr);
	evhttp_add_header(hdr, "Content-Type", "application/json");
	evhttp_add_header(hdr, "User-Agent", "relayguard");
	evhttp_add_header(hdr, "Connection", "close");
	evbuffer_add(evhttp_request_get_output_buffer(req), json, strlen(json));
	if (evhttp_make_request(conn, req, EVHTTP_REQ_POST, path) != 0) {
		str_format_trunc(err, errlen, "cannot send the request");
		goto done;
	}
	event_base_dispatch(base);
	if (h.done && h.code >= 200 && h.code < 300) {
		rc = 0;
	} else {
		unsigned long e = https ? ERR_peek_last_error() : 0;
		if (e && h.code == 0) {
			char buf[160];
			ERR_error_string_n(e, buf, sizeof buf);
			str_format_trunc(err, errlen, "TLS failure: %s", buf);
		} else {
			str_format_trunc(err, errlen, "%s", h.done ? h.reason : "no answer");
		}
		ERR_clear_error();
	}
done:
	if (conn)
		evhttp_connection_free(conn);
	else if (bev)
		bufferevent_free(bev);
	if (ssl)
		SSL_free(ssl);
	if (ctx)
		SSL_CTX_free(ctx);
	event_base_free(base);
	return rc;
}

int alert_post_webhook(const struct alert_webhook *w, const char *json, char *err,
		       size_t errlen)
{
	if (alert_webhook_check_url(w->url, err, errlen) != 0)
		return -1;
	struct evhttp_uri *u = evhttp_uri_parse(w->url);
	if (!u) {
		str_format_trunc(err, errlen, "webhook URL cannot be parsed");
		return -1;
	}
	int delay_ms = 1000;
	int rc = -1;
	for (int attempt = 0; attempt <= w->retries; attempt++) {
		if (attempt > 0) {
			log_warn("webhook url=%s attempt=%d failed: %s; retrying in %d ms", w->url,
				 attempt, err, delay_ms);
			poll(NULL, 0, delay_ms);
			delay_ms *= 2;
		}
		rc = alert_post_once(w, u, json, err, errlen);
		if (rc == 0)
			break;
	}
	evhttp_uri_free(u);
	return rc;
}
