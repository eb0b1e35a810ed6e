/*
 * control - JSON lines over a Unix-domain socket; see control.h.
 */
#include "admin/control.h"

#include "core/clock.h"
#include "core/grow.h"
#include "core/log.h"
#include "core/str.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONTROL_CONNS_MAX 16

struct control {
	struct event_base *base;
	struct evconnlistener *listener;
	char path[108];
	control_handler_fn fn;
	void *ctx;
	struct bufferevent *conns[CONTROL_CONNS_MAX];
	unsigned gen[CONTROL_CONNS_MAX]; /* bumped per connection: old tickets miss */
	bool waiting[CONTROL_CONNS_MAX]; /* its request is answered later */
	int current;                     /* the slot whose request the handler has */
};

static void control_conn_close(struct control *c, struct bufferevent *bev)
{
	for (int i = 0; i < CONTROL_CONNS_MAX; i++)
		if (c->conns[i] == bev)
			c->conns[i] = NULL;
	bufferevent_free(bev);
}

static void control_reply(struct bufferevent *bev, json_t *reply)
{
	char *text = json_dumps(reply, JSON_COMPACT);
	json_decref(reply);
	if (!text || bufferevent_write(bev, text, strlen(text)) != 0 ||
	    bufferevent_write(bev, "\n", 1) != 0)
		log_error("control: cannot queue a reply");
	free(text);
}

static int control_slot(const struct control *c, const struct bufferevent *bev)
{
	for (int i = 0; i < CONTROL_CONNS_MAX; i++)
		if (c->conns[i] == bev)
			return i;
	return -1;
}

uint64_t control_defer(struct control *c)
{
	int i = c->current;
	if (i < 0 || !c->conns[i])
		return 0;
	c->waiting[i] = true;
	bufferevent_disable(c->conns[i], EV_READ); /* one request at a time */
	return ((uint64_t)c->gen[i] << 8) | (uint64_t)(i + 1);
}

static void control_on_read(struct bufferevent *bev, void *arg);

void control_answer(struct control *c, uint64_t ticket, json_t *reply)
{
	int i = (int)(ticket & 0xff) - 1;
	if (i < 0 || i >= CONTROL_CONNS_MAX || !c->conns[i] || !c->waiting[i] ||
	    c->gen[i] != (unsigned)(ticket >> 8)) {
		json_decref(reply); /* the client went away meanwhile */
		return;
	}
	struct bufferevent *bev = c->conns[i];
	c->waiting[i] = false;
	control_reply(bev,
	              reply ? reply : json_pack("{s:b, s:s}", "ok", 0, "error", "internal error"));
	bufferevent_enable(bev, EV_READ);
	control_on_read(bev, c); /* a request that came meanwhile */
}

static void control_on_read(struct bufferevent *bev, void *arg)
{
	struct control *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	int slot = control_slot(c, bev);
	for (;;) {
		if (slot >= 0 && c->waiting[slot])
			return;
		size_t len;
		char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
		if (!line) {
			if (evbuffer_get_length(in) > CONTROL_LINE_MAX) {
				log_warn("control: request longer than %d bytes; closing",
				         CONTROL_LINE_MAX);
				control_conn_close(c, bev);
			}
			return;
		}
		json_error_t e;
		json_t *req = len <= CONTROL_LINE_MAX ? json_loadb(line, len, 0, &e) : NULL;
		free(line);
		json_t *reply;
		if (!json_is_object(req)) {
			reply = json_pack("{s:b, s:s}", "ok", 0, "error",
			                  "expected one JSON object per line");
		} else {
			c->current = slot;
			reply = c->fn(c->ctx, req);
			c->current = -1;
			if (!reply && slot >= 0 && c->waiting[slot]) {
				json_decref(req); /* control_answer() replies */
				return;
			}
			if (slot >= 0 && c->waiting[slot]) { /* taken, then refused (queue full) */
				c->waiting[slot] = false;
				bufferevent_enable(bev, EV_READ);
			}
			if (!reply)
				reply = json_pack("{s:b, s:s}", "ok", 0, "error", "internal error");
		}
		json_decref(req);
		control_reply(bev, reply);
	}
}

static void control_on_event(struct bufferevent *bev, short what, void *arg)
{
	control_conn_close(arg, bev);
}

static void control_on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                              int salen, void *arg)
{
	struct control *c = arg;
	int slot = -1;
	for (int i = 0; i < CONTROL_CONNS_MAX && slot < 0; i++)
		if (!c->conns[i])
			slot = i;
	struct bufferevent *bev =
	    slot < 0 ? NULL : bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		log_warn("control: too many connections; refusing one");
		evutil_closesocket(fd);
		return;
	}
	c->conns[slot] = bev;
	c->gen[slot]++;
	c->waiting[slot] = false;
	struct timeval idle = {30, 0};
	bufferevent_set_timeouts(bev, &idle, NULL);
	bufferevent_setcb(bev, control_on_read, NULL, control_on_event, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static int control_addr(const char *path, struct sockaddr_un *un, char *err, size_t errlen)
{
	memset(un, 0, sizeof *un);
	un->sun_family = AF_UNIX;
	if (str_copy(un->sun_path, sizeof un->sun_path, path) != 0) {
		str_format_trunc(err, errlen, "%s: path too long for a socket", path);
		return -1;
	}
	return 0;
}

struct control *control_new(struct event_base *base, const char *path, control_handler_fn fn,
                            void *ctx, char *err, size_t errlen)
{
	struct sockaddr_un un;
	if (control_addr(path, &un, err, errlen) != 0)
		return NULL;
	struct control *c = calloc(1, sizeof *c);
	if (!c) {
		str_format_trunc(err, errlen, "out of memory");
		return NULL;
	}
	c->base = base;
	c->current = -1;
	c->fn = fn;
	c->ctx = ctx;
	if (str_copy(c->path, sizeof c->path, path) != 0)
		panic("control_new: c->path does not fit");
	unlink(path); /* a stale socket from a previous run */
	mode_t old = umask(0077);
	c->listener = evconnlistener_new_bind(base, control_on_accept, c,
	                                      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
	                                      (struct sockaddr *)&un, (int)sizeof un);
	umask(old);
	if (!c->listener) {
		str_format_trunc(err, errlen, "control socket %s: %s", path, strerror(errno));
		free(c);
		return NULL;
	}
	return c;
}

void control_free(struct control *c)
{
	if (!c)
		return;
	for (int i = 0; i < CONTROL_CONNS_MAX; i++)
		if (c->conns[i])
			bufferevent_free(c->conns[i]);
	evconnlistener_free(c->listener);
	unlink(c->path);
	free(c);
}

/* Waits for fd to be ready for events; 0, or -1 on timeout or error. */
static int control_wait(int fd, short events, int64_t deadline)
{
	for (;;) {
		clock_update();
		int64_t left = deadline - clock_monotonic_ms();
		if (left <= 0)
			return -1;
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

int control_call(const char *path, json_t *req, int timeout_ms, json_t **reply, char *err,
                 size_t errlen)
{
	struct sockaddr_un un;
	*reply = NULL;
	if (control_addr(path, &un, err, errlen) != 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		str_format_trunc(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&un, sizeof un) != 0) {
		int e = errno;
		close(fd);
		if (e == ENOENT || e == ECONNREFUSED)
			return 1;
		str_format_trunc(err, errlen, "%s: %s", path, strerror(e));
		return -1;
	}
	clock_update();
	int64_t deadline = clock_monotonic_ms() + timeout_ms;
	char *text = json_dumps(req, JSON_COMPACT);
	int rc = -1;
	char *buf = NULL;
	size_t got = 0, cap = 0;
	if (!text) {
		str_format_trunc(err, errlen, "out of memory");
		goto out;
	}
	size_t len = strlen(text), off = 0;
	while (off <= len) {
		const char *p = off < len ? text + off : "\n";
		size_t n = off < len ? len - off : 1;
		if (control_wait(fd, POLLOUT, deadline) != 0)
			goto timeout;
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno != EINTR && errno != EAGAIN)
			goto ioerr;
		if (w > 0)
			off += (size_t)w;
	}
	for (;;) {
		char *nl = got ? memchr(buf, '\n', got) : NULL;
		if (nl) {
			json_error_t e;
			*reply = json_loadb(buf, (size_t)(nl - buf), 0, &e);
			if (!json_is_object(*reply)) {
				json_decref(*reply);
				*reply = NULL;
				str_format_trunc(err, errlen, "the server's answer is not JSON: %s",
				                 e.text);
				goto out;
			}
			rc = 0;
			goto out;
		}
		/* 8192, 16384, ... up to CONTROL_REPLY_MAX (itself 8192 times a power of 2) */
		if (got == cap &&
		    grow_array_max(&buf, &cap, got + 8192, 1, CONTROL_REPLY_MAX) != 0) {
			str_format_trunc(err, errlen, "the server's answer is too long");
			goto out;
		}
		if (control_wait(fd, POLLIN, deadline) != 0)
			goto timeout;
		ssize_t r = read(fd, buf + got, cap - got);
		if (r == 0) {
			str_format_trunc(err, errlen, "the server closed the connection");
			goto out;
		}
		if (r < 0 && errno != EINTR && errno != EAGAIN)
			goto ioerr;
		if (r > 0)
			got += (size_t)r;
	}
timeout:
	str_format_trunc(err, errlen, "%s: no answer within %d ms", path, timeout_ms);
	goto out;
ioerr:
	str_format_trunc(err, errlen, "%s: %s", path, strerror(errno));
out:
	free(buf);
	free(text);
	close(fd);
	return rc;
}
