/*
 * relaytest - the open-relay probe; see relaytest.h.
 *
 * Battery: reference/reliability.md §4.1 (nmap smtp-open-relay.nse, the exact
 * 16 combinations) and §4.3 R2 (the checks nmap lacks). The socket code is
 * deliberately plain: one connection, non-blocking fd, poll() with a deadline
 * from the clock module for every connect, write and reply.
 */
#include "smtp/relaytest.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const struct relaytest_case relaytest_cases[] = {
    /* nmap smtp-open-relay.nse, in its order. */
    {"null-sender", "<>", "<relaytest@{D}>", "null sender"},
    {"third-party", "<antispam@{F}>", "<relaytest@{D}>", "third-party to third-party"},
    {"forged-local-sender", "<antispam@{S}>", "<relaytest@{D}>", "forged local sender"},
    {"ip-literal-sender", "<antispam@[{I}]>", "<relaytest@{D}>", "IP-literal sender"},
    {"percent-hack-ip", "<antispam@[{I}]>", "<relaytest%{D}@[{I}]>", "percent hack via IP literal"},
    {"percent-hack-host", "<antispam@[{I}]>", "<relaytest%{D}@{S}>", "percent hack via host name"},
    {"quoted-at", "<antispam@[{I}]>", "<\"relaytest@{D}\">", "quoted local part containing @"},
    {"quoted-percent", "<antispam@[{I}]>", "<\"relaytest%{D}\">", "quoted percent"},
    {"double-at-ip", "<antispam@[{I}]>", "<relaytest@{D}@[{I}]>", "double @, IP literal"},
    {"quoted-at-ip", "<antispam@[{I}]>", "<\"relaytest@{D}\"@[{I}]>",
     "quoted local part at IP literal"},
    {"double-at-host", "<antispam@[{I}]>", "<relaytest@{D}@{S}>", "double @, host name"},
    {"source-route-ip", "<antispam@[{I}]>", "<@[{I}]:relaytest@{D}>",
     "source route via IP literal"},
    {"source-route-host", "<antispam@[{I}]>", "<@{S}:relaytest@{D}>", "source route via host name"},
    {"bang-path", "<antispam@[{I}]>", "<{D}!relaytest>", "UUCP bang path"},
    {"bang-path-ip", "<antispam@[{I}]>", "<{D}!relaytest@[{I}]>", "bang path at IP literal"},
    {"bang-path-host", "<antispam@[{I}]>", "<{D}!relaytest@{S}>", "bang path at host name"},
    /* Beyond nmap (reliability.md §4.3 R2). */
    {"quoted-at-host", "<antispam@{F}>", "<\"relaytest@{D}\"@{S}>",
     "quoted local part with @ at host name"},
    {"quoted-bang-host", "<antispam@{F}>", "<\"{D}!relaytest\"@{S}>",
     "quoted bang path at host name"},
    {"quoted-percent-host", "<antispam@{F}>", "<\"relaytest%{D}\"@{S}>",
     "quoted percent hack at host name"},
    {"source-route-multi", "<antispam@{F}>", "<@{S},@[{I}]:relaytest@{D}>",
     "source route with two hops"},
    {"foreign-ipv4-literal", "<antispam@{F}>", "<relaytest@[192.0.2.1]>",
     "IPv4 literal of a foreign host"},
    {"foreign-ipv6-literal", "<antispam@{F}>", "<relaytest@[IPv6:2001:db8::1]>",
     "IPv6 literal of a foreign host"},
    {"trailing-dot", "<antispam@{F}>", "<relaytest@{D}.>", "trailing dot on the domain"},
    {"upper-case", "<antispam@{F}>", "<relaytest@{U}>", "upper-case domain"},
    {"forged-postmaster", "<postmaster@{S}>", "<relaytest@{D}>", "forged postmaster sender"},
    {"localhost-sender", "<antispam@localhost>", "<relaytest@{D}>", "localhost sender"},
    {"percent-bang-host", "<antispam@{F}>", "<{D}!relaytest%{S}@{S}>",
     "bang path and percent hack together"},
};

const struct relaytest_case *relaytest_cases_get(size_t *n)
{
	*n = sizeof relaytest_cases / sizeof relaytest_cases[0];
	return relaytest_cases;
}

/* ---- pure parts --------------------------------------------------------- */

int relaytest_reply_parse(const char *data, size_t len, struct relaytest_reply *out, size_t *used)
{
	memset(out, 0, sizeof *out);
	*used = 0;
	size_t pos = 0;
	int code = 0;
	for (size_t lines = 0;; lines++) {
		if (lines >= RELAYTEST_LINES_MAX)
			return -1;
		size_t avail = len - pos;
		size_t scan = avail < RELAYTEST_LINE_MAX ? avail : RELAYTEST_LINE_MAX;
		const char *nl = memchr(data + pos, '\n', scan);
		if (!nl)
			return avail >= RELAYTEST_LINE_MAX ? -1 : 0;
		size_t llen = (size_t)(nl - (data + pos));
		const char *line = data + pos;
		if (llen > 0 && line[llen - 1] == '\r')
			llen--;
		if (llen < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
		    line[2] < '0' || line[2] > '9')
			return -1;
		int c = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		if (lines == 0)
			code = c;
		else if (c != code)
			return -1;
		char sep = llen > 3 ? line[3] : ' ';
		if (sep != ' ' && sep != '-')
			return -1;
		if (lines == 0) {
			char tmp[RELAYTEST_TEXT_MAX];
			size_t tlen = llen > 4 ? llen - 4 : 0;
			str_sanitize(tmp, sizeof tmp, line + (llen > 4 ? 4 : llen), tlen);
			if (str_format(out->text, sizeof out->text, "%d %s", c, tmp) != 0) {
				/* truncated: keep what fitted */
			}
		}
		pos = (size_t)(nl - data) + 1;
		if (sep == ' ') {
			out->code = code;
			out->lines = lines + 1;
			*used = pos;
			return 1;
		}
	}
}

int relaytest_reply_hostname(const struct relaytest_reply *r, char *out, size_t size)
{
	const char *t = r->text;
	if (strlen(t) < 4 || size == 0)
		return -1;
	t += 4; /* "220 " */
	while (*t == ' ')
		t++;
	size_t n = 0;
	while (n < size - 1 && ((t[n] >= 'a' && t[n] <= 'z') || (t[n] >= 'A' && t[n] <= 'Z') ||
	                        (t[n] >= '0' && t[n] <= '9') || t[n] == '.' || t[n] == '-'))
		n++;
	while (n > 0 && t[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return -1;
	char c0 = t[0];
	if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z') || (c0 >= '0' && c0 <= '9')))
		return -1;
	if (str_copy_n(out, size, t, n) != 0)
		return -1;
	return relaytest_name_ok(out) ? 0 : -1;
}

bool relaytest_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253)
		return false;
	if (s[0] == '[') {
		if (n < 3 || s[n - 1] != ']')
			return false;
		for (size_t i = 1; i + 1 < n; i++) {
			char c = s[i];
			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			      (c >= 'A' && c <= 'F') || c == '.' || c == ':' || c == 'I' ||
			      c == 'P' || c == 'v'))
				return false;
		}
		return true;
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-'))
			return false;
	}
	return true;
}

int relaytest_expand(const char *tmpl, const struct relaytest_vars *v, char *out, size_t size)
{
	if (size == 0)
		return -1;
	size_t o = 0;
	out[0] = '\0';
	for (const char *p = tmpl; *p; p++) {
		const char *ins = NULL;
		bool upper = false;
		char one[2] = {*p, '\0'};
		if (p[0] == '{' && p[1] && p[2] == '}') {
			switch (p[1]) {
			case 'F':
				ins = v->from_domain;
				break;
			case 'D':
				ins = v->to_domain;
				break;
			case 'U':
				ins = v->to_domain;
				upper = true;
				break;
			case 'S':
				ins = v->server_name;
				break;
			case 'I':
				ins = v->ip_literal;
				break;
			default:
				return -1;
			}
			if (!ins)
				return -1;
			p += 2;
		} else {
			ins = one;
		}
		for (const char *q = ins; *q; q++) {
			if (o + 1 >= size)
				return -1;
			char c = *q;
			out[o++] = upper && c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
		}
		out[o] = '\0';
	}
	return 0;
}

int relaytest_target_parse(const char *s, const char *default_port, char *host, size_t hsize,
                           char *port, size_t psize)
{
	size_t n = strlen(s);
	const char *h = s, *p = NULL;
	size_t hlen = n;
	if (n == 0)
		return -1;
	if (s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close || close == s + 1)
			return -1;
		h = s + 1;
		hlen = (size_t)(close - h);
		if (close[1] == ':')
			p = close + 2;
		else if (close[1] != '\0')
			return -1;
	} else {
		const char *colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':') == NULL) {
			hlen = (size_t)(colon - s);
			p = colon + 1;
		}
		/* More than one colon and no brackets: a bare IPv6 address. */
	}
	if (hlen == 0 || str_copy_n(host, hsize, h, hlen) != 0)
		return -1;
	if (memchr(host, '[', hlen) || memchr(host, ']', hlen))
		return -1;
	if (p) {
		uint64_t v;
		if (str_to_u64(p, strlen(p), 1, 65535, &v) != 0)
			return -1;
		return str_copy(port, psize, p);
	}
	return str_copy(port, psize, default_port);
}

/* ---- the session -------------------------------------------------------- */

struct relaytest_conn {
	int fd;
	int timeout_ms;
	struct buf in;
};

static int64_t relaytest_deadline(int timeout_ms)
{
	clock_update();
	return clock_monotonic_ms() + timeout_ms;
}

/* Milliseconds left until deadline, 0 when it has passed. */
static int relaytest_left(int64_t deadline)
{
	clock_update();
	int64_t left = deadline - clock_monotonic_ms();
	if (left <= 0)
		return 0;
	return left > 1000000 ? 1000000 : (int)left;
}

static void relaytest_close(struct relaytest_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	buf_reset(&c->in);
}

static int relaytest_connect(struct relaytest_conn *c, const struct relaytest_options *o,
                             struct relaytest_report *r)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	int gai = getaddrinfo(o->host, o->port, &hints, &res);
	if (gai != 0) {
		str_format_trunc(r->error, sizeof r->error, "cannot resolve %s: %s", o->host,
		                 gai_strerror(gai));
		return -1;
	}
	int err = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		                ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
		if (rc != 0 && errno == EINPROGRESS) {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};
			int64_t dl = relaytest_deadline(o->timeout_ms);
			int left;
			do {
				left = relaytest_left(dl);
				rc = poll(&pfd, 1, left);
			} while (rc < 0 && errno == EINTR);
			if (rc == 0) {
				err = ETIMEDOUT;
				close(fd);
				continue;
			}
			int soerr = 0;
			socklen_t sl = sizeof soerr;
			if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) {
				err = errno;
				close(fd);
				continue;
			}
			if (soerr != 0) {
				err = soerr;
				close(fd);
				continue;
			}
			rc = 0;
		}
		if (rc != 0) {
			err = errno;
			close(fd);
			continue;
		}
		struct addr a;
		if (addr_from_sockaddr(ai->ai_addr, &a) == 0) {
			addr_unmap(&a);
			(void)addr_format(&a, r->peer, sizeof r->peer);
		}
		c->fd = fd;
		buf_reset(&c->in);
		freeaddrinfo(res);
		return 0;
	}
	freeaddrinfo(res);
	str_format_trunc(r->error, sizeof r->error, "cannot connect to %s port %s: %s", o->host,
	                 o->port, strerror(err ? err : ECONNREFUSED));
	return -1;
}

static int relaytest_send(struct relaytest_conn *c, const char *line, char *err, size_t errlen)
{
	char out[RELAYTEST_PATH_MAX + 32];
	if (str_format(out, sizeof out, "%s\r\n", line) != 0) {
		str_format_trunc(err, errlen, "command too long");
		return -1;
	}
	size_t n = strlen(out), off = 0;
	int64_t dl = relaytest_deadline(c->timeout_ms);
	while (off < n) {
		ssize_t w = send(c->fd, out + off, n - off, MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
			int left = relaytest_left(dl);
			if (left == 0 || poll(&pfd, 1, left) == 0) {
				str_format_trunc(err, errlen, "timeout sending to the server");
				return -1;
			}
			continue;
		}
		str_format_trunc(err, errlen, "connection lost while sending: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int relaytest_read(struct relaytest_conn *c, struct relaytest_reply *rep, char *err,
                          size_t errlen)
{
	int64_t dl = relaytest_deadline(c->timeout_ms);
	for (;;) {
		size_t used = 0;
		int rc = relaytest_reply_parse(c->in.data ? c->in.data : "", c->in.len, rep, &used);
		if (rc == 1) {
			buf_consume(&c->in, used);
			return 0;
		}
		if (rc < 0) {
			str_format_trunc(err, errlen, "malformed reply from the server");
			return -1;
		}
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		int left = relaytest_left(dl);
		int prc = left > 0 ? poll(&pfd, 1, left) : 0;
		if (prc < 0 && errno == EINTR)
			continue;
		if (prc <= 0) {
			str_format_trunc(err, errlen, "timeout waiting for the server's reply");
			return -1;
		}
		char tmp[4096];
		ssize_t n = recv(c->fd, tmp, sizeof tmp, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n <= 0) {
			str_format_trunc(err, errlen, "server closed the connection");
			return -1;
		}
		if (buf_append(&c->in, tmp, (size_t)n) != 0) {
			str_format_trunc(err, errlen, "reply too long");
			return -1;
		}
	}
}

/* Sends a command and reads its reply. A 421 counts as a lost connection. */
static int relaytest_command(struct relaytest_conn *c, const char *line,
                             struct relaytest_reply *rep, char *err, size_t errlen)
{
	if (relaytest_send(c, line, err, errlen) != 0 || relaytest_read(c, rep, err, errlen) != 0)
		return -1;
	if (rep->code == 421) {
		str_format_trunc(err, errlen, "server closing the session: %s", rep->text);
		return -1;
	}
	return 0;
}

/* Connects, reads the banner, says EHLO (HELO when EHLO is refused). */
static int relaytest_open(struct relaytest_conn *c, const struct relaytest_options *o,
                          struct relaytest_report *r, bool first)
{
	if (relaytest_connect(c, o, r) != 0)
		return -2;
	struct relaytest_reply rep;
	char err[256];
	if (relaytest_read(c, &rep, err, sizeof err) != 0) {
		str_format_trunc(r->error, sizeof r->error, "no greeting: %s", err);
		goto fail;
	}
	if (first)
		str_copy_trunc(r->banner, sizeof r->banner, rep.text);
	if (rep.code / 100 != 2) {
		str_format_trunc(r->error, sizeof r->error, "server refused the session: %s",
		                 rep.text);
		goto fail;
	}
	char name[RELAYTEST_NAME_MAX];
	if (first && relaytest_reply_hostname(&rep, name, sizeof name) == 0)
		if (str_copy(r->server_name, sizeof r->server_name, name) != 0)
			panic("relaytest_open: r->server_name does not fit");
	char line[RELAYTEST_PATH_MAX];
	if (str_format(line, sizeof line, "EHLO %s", o->helo) != 0)
		panic("relaytest_open: line does not fit");
	if (relaytest_command(c, line, &rep, err, sizeof err) != 0) {
		str_format_trunc(r->error, sizeof r->error, "EHLO failed: %s", err);
		goto fail;
	}
	if (rep.code / 100 != 2) {
		if (str_format(line, sizeof line, "HELO %s", o->helo) != 0)
			panic("relaytest_open: line does not fit");
		if (relaytest_command(c, line, &rep, err, sizeof err) != 0) {
			str_format_trunc(r->error, sizeof r->error, "HELO failed: %s", err);
			goto fail;
		}
		if (rep.code / 100 != 2) {
			str_format_trunc(r->error, sizeof r->error, "HELO refused: %s", rep.text);
			goto fail;
		}
	}
	if (first && r->server_name[0] == '\0' &&
	    relaytest_reply_hostname(&rep, name, sizeof name) == 0)
		if (str_copy(r->server_name, sizeof r->server_name, name) != 0)
			panic("relaytest_open: r->server_name does not fit");
	return 0;
fail:
	relaytest_close(c);
	return -1;
}

/* One test: RSET, MAIL, RCPT if MAIL was accepted. -1 on a lost session. */
static int relaytest_one(struct relaytest_conn *c, struct relaytest_result *t, char *err,
                         size_t errlen)
{
	struct relaytest_reply rep;
	char line[RELAYTEST_PATH_MAX + 16];
	memset(&t->mail_reply, 0, sizeof t->mail_reply);
	memset(&t->rcpt_reply, 0, sizeof t->rcpt_reply);
	t->rcpt_sent = t->relayed = t->ran = false;
	if (relaytest_command(c, "RSET", &rep, err, errlen) != 0)
		return -1;
	if (str_format(line, sizeof line, "MAIL FROM:%s", t->mail_from) != 0 ||
	    relaytest_command(c, line, &t->mail_reply, err, errlen) != 0)
		return -1;
	if (t->mail_reply.code / 100 == 2) {
		t->rcpt_sent = true;
		if (str_format(line, sizeof line, "RCPT TO:%s", t->rcpt_to) != 0 ||
		    relaytest_command(c, line, &t->rcpt_reply, err, errlen) != 0)
			return -1;
		t->relayed = t->rcpt_reply.code / 100 == 2;
	}
	t->ran = true;
	return 0;
}

enum relaytest_status relaytest_run(const struct relaytest_options *o, struct relaytest_report *r)
{
	memset(r, 0, sizeof *r);
	struct relaytest_conn c = {.fd = -1, .timeout_ms = o->timeout_ms};
	buf_init(&c.in, RELAYTEST_INPUT_MAX);
	enum relaytest_status st = RELAYTEST_DONE;
	int rc = relaytest_open(&c, o, r, true);
	if (rc == -2) {
		st = RELAYTEST_CONNECT_FAILED;
		goto out;
	}
	if (rc != 0) {
		st = RELAYTEST_INCOMPLETE;
		goto out;
	}
	if (r->server_name[0] == '\0') {
		/* No usable name from the server: the target name, else its literal. */
		if (relaytest_name_ok(o->host) && !strchr(o->host, ':') &&
		    addr_parse(o->host, strlen(o->host), &(struct addr){0}) != 0) {
			if (str_copy(r->server_name, sizeof r->server_name, o->host) != 0)
				panic("relaytest_run: r->server_name does not fit");
		} else {
			if (str_format(r->server_name, sizeof r->server_name, "[%s%s]",
			               strchr(r->peer, ':') ? "IPv6:" : "", r->peer) != 0)
				panic("relaytest_run: r->server_name does not fit");
		}
	}
	char lit[ADDR_STRLEN + 8];
	if (str_format(lit, sizeof lit, "%s%s", strchr(r->peer, ':') ? "IPv6:" : "", r->peer) != 0)
		panic("relaytest_run: lit does not fit");
	struct relaytest_vars v = {o->from_domain, o->to_domain, r->server_name, lit};

	size_t n;
	const struct relaytest_case *cases = relaytest_cases_get(&n);
	if (n > RELAYTEST_CASES_MAX)
		n = RELAYTEST_CASES_MAX;
	for (size_t i = 0; i < n; i++) {
		struct relaytest_result *t = &r->tests[i];
		t->name = cases[i].name;
		t->trick = cases[i].trick;
		if (relaytest_expand(cases[i].mail_from, &v, t->mail_from, sizeof t->mail_from) !=
		        0 ||
		    relaytest_expand(cases[i].rcpt_to, &v, t->rcpt_to, sizeof t->rcpt_to) != 0) {
			str_format_trunc(r->error, sizeof r->error, "test %s: address too long",
			                 t->name);
			st = RELAYTEST_INCOMPLETE;
			goto out;
		}
	}
	r->ntests = n;
	for (size_t i = 0; i < n; i++) {
		struct relaytest_result *t = &r->tests[i];
		char err[256] = "";
		bool done = false;
		for (int attempt = 0; attempt < 2 && !done; attempt++) {
			if (c.fd < 0 && relaytest_open(&c, o, r, false) != 0)
				break;
			if (relaytest_one(&c, t, err, sizeof err) == 0)
				done = true;
			else
				relaytest_close(&c);
		}
		if (!done) {
			if (err[0])
				str_format_trunc(r->error, sizeof r->error,
				                 "test %s did not complete: %s", t->name, err);
			st = RELAYTEST_INCOMPLETE;
			break;
		}
		r->ran++;
		if (t->relayed)
			r->relayed++;
	}
	if (c.fd >= 0) {
		struct relaytest_reply rep;
		char err[256];
		(void)relaytest_command(&c, "QUIT", &rep, err, sizeof err);
	}
out:
	relaytest_close(&c);
	buf_free(&c.in);
	return st;
}
