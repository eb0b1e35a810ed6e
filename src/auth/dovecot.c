/*
 * dovecot - Dovecot authentication protocol client; see dovecot.h.
 */
#include "auth/dovecot.h"

#include "auth/passwd.h"
#include "core/log.h"
#include "core/str.h"

#include <errno.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

int dovecot_unescape(const char *in, size_t len, char *out, size_t outsize)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char ch = in[i];
		if (ch == '\001') {
			if (++i == len)
				return -1; /* an escape with nothing after it */
			switch (in[i]) {
			case '0':
				return -1; /* a NUL inside a C string: refused */
			case '1':
				ch = '\001';
				break;
			case 't':
				ch = '\t';
				break;
			case 'r':
				ch = '\r';
				break;
			case 'n':
			case 'l':
				ch = '\n';
				break;
			default:
				ch = in[i];
				break;
			}
		}
		if (ch == '\0' || o + 1 >= outsize)
			return -1;
		out[o++] = ch;
	}
	if (outsize == 0)
		return -1;
	out[o] = '\0';
	return 0;
}

static int dovecot_number(const char *s, size_t len, unsigned long *out)
{
	uint64_t v;
	if (len == 0 || len > 10 || str_to_u64(s, len, 0, 0xffffffffu, &v) != 0)
		return -1;
	*out = (unsigned long)v;
	return 0;
}

static bool dovecot_field_is(const char *f, size_t n, const char *name)
{
	size_t k = strlen(name);
	return n == k && memcmp(f, name, k) == 0;
}

/* One "name=value" or boolean field of OK or FAIL. */
static int dovecot_reply_field(struct dovecot_reply *r, const char *f, size_t n)
{
	const char *eq = memchr(f, '=', n);
	size_t klen = eq ? (size_t)(eq - f) : n;
	const char *v = eq ? eq + 1 : "";
	size_t vlen = eq ? n - klen - 1 : 0;
	if (dovecot_field_is(f, klen, "user") && eq) {
		if (dovecot_unescape(v, vlen, r->user, sizeof r->user) != 0)
			return -1;
		for (const char *p = r->user; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return -1; /* no name we would log or key on */
		r->has_user = true;
	} else if (r->kind == DOVECOT_R_FAIL && dovecot_field_is(f, klen, "temp") && !eq) {
		r->temp = true;
	} else if (r->kind == DOVECOT_R_FAIL && dovecot_field_is(f, klen, "code") && eq) {
		if (dovecot_unescape(v, vlen, r->code, sizeof r->code) != 0)
			return -1;
		if (strcmp(r->code, "temp_fail") == 0)
			r->temp = true;
		else if (strcmp(r->code, "user_disabled") == 0)
			r->disabled = true;
	} else if (r->kind == DOVECOT_R_FAIL && dovecot_field_is(f, klen, "reason") && eq) {
		char raw[sizeof r->reason];
		/* a reason too long for the log is cut, not refused */
		size_t take = vlen < sizeof raw - 1 ? vlen : sizeof raw - 1;
		if (take && v[take - 1] == '\001')
			take--;
		if (dovecot_unescape(v, take, raw, sizeof raw) != 0)
			raw[0] = '\0';
		str_sanitize(r->reason, sizeof r->reason, raw, strlen(raw));
	}
	return 0; /* unknown fields are ignored (protocol rule) */
}

int dovecot_reply_parse(const char *line, size_t len, struct dovecot_reply *out)
{
	memset(out, 0, sizeof *out);
	if (len > DOVECOT_LINE_MAX)
		return -1;
	const char *end = line + len;
	const char *f = line;
	int idx = 0;
	while (f <= end) {
		const char *tab = memchr(f, '\t', (size_t)(end - f));
		const char *fe = tab ? tab : end;
		size_t n = (size_t)(fe - f);
		if (idx == 0) {
			out->kind = dovecot_field_is(f, n, "VERSION") ? DOVECOT_R_VERSION
			            : dovecot_field_is(f, n, "MECH")  ? DOVECOT_R_MECH
			            : dovecot_field_is(f, n, "DONE")  ? DOVECOT_R_DONE
			            : dovecot_field_is(f, n, "OK")    ? DOVECOT_R_OK
			            : dovecot_field_is(f, n, "FAIL")  ? DOVECOT_R_FAIL
			            : dovecot_field_is(f, n, "CONT")  ? DOVECOT_R_CONT
			                                              : DOVECOT_R_OTHER;
			if (out->kind == DOVECOT_R_OTHER)
				return 0;
		} else if (out->kind == DOVECOT_R_VERSION) {
			if (idx <= 2 &&
			    dovecot_number(f, n, idx == 1 ? &out->major : &out->minor) != 0)
				return -1;
		} else if (out->kind == DOVECOT_R_MECH) {
			if (idx == 1 && dovecot_unescape(f, n, out->mech, sizeof out->mech) != 0)
				return -1;
		} else if (out->kind != DOVECOT_R_DONE) {
			if (idx == 1) {
				if (dovecot_number(f, n, &out->id) != 0)
					return -1;
			} else if (out->kind != DOVECOT_R_CONT && n > 0 &&
			           dovecot_reply_field(out, f, n) != 0) {
				return -1;
			}
		}
		idx++;
		if (!tab)
			break;
		f = tab + 1;
	}
	if ((out->kind == DOVECOT_R_VERSION && idx < 3) ||
	    (out->kind == DOVECOT_R_MECH && idx < 2) ||
	    ((out->kind == DOVECOT_R_OK || out->kind == DOVECOT_R_FAIL ||
	      out->kind == DOVECOT_R_CONT) &&
	     idx < 2))
		return -1;
	return 0;
}

/* ---- the client ---- */

struct dovecot_conn {
	int fd;
	char path[108]; /* sun_path */
	unsigned long next_id;
	size_t len;
	char buf[DOVECOT_LINE_MAX + 1];
};

static __thread struct dovecot_conn *dovecot_tc;

static void dovecot_close(struct dovecot_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->len = 0;
}

void dovecot_thread_end(void)
{
	if (!dovecot_tc)
		return;
	dovecot_close(dovecot_tc);
	free(dovecot_tc);
	dovecot_tc = NULL;
}

/* Waits until fd is ready for events or the deadline timer fires. 0 or -1 (why). */
static int dovecot_wait(int fd, short events, int tfd, char *why, size_t whylen)
{
	struct pollfd p[2] = {{.fd = fd, .events = events}, {.fd = tfd, .events = POLLIN}};
	for (;;) {
		int n = poll(p, 2, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			str_format_trunc(why, whylen, "poll: %s", strerror(errno));
			return -1;
		}
		if (p[1].revents) {
			str_format_trunc(why, whylen, "timed out");
			return -1;
		}
		if (p[0].revents)
			return 0;
	}
}

static int dovecot_send(struct dovecot_conn *c, const char *data, size_t len, int tfd, char *why,
                        size_t whylen)
{
	size_t off = 0;
	while (off < len) {
		ssize_t n = send(c->fd, data + off, len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (dovecot_wait(c->fd, POLLOUT, tfd, why, whylen) != 0)
				return -1;
			continue;
		}
		str_format_trunc(why, whylen, "write: %s",
		                 n < 0 ? strerror(errno) : "nothing written");
		return -1;
	}
	return 0;
}

/* The next line (without LF) in *line, *len; consumed by the next call. */
static int dovecot_line(struct dovecot_conn *c, size_t *consumed, const char **line, size_t *len,
                        int tfd, char *why, size_t whylen)
{
	if (*consumed) {
		memmove(c->buf, c->buf + *consumed, c->len - *consumed);
		c->len -= *consumed;
		*consumed = 0;
	}
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		if (nl) {
			*line = c->buf;
			*len = (size_t)(nl - c->buf);
			*consumed = *len + 1;
			return 0;
		}
		if (c->len >= DOVECOT_LINE_MAX) {
			str_format_trunc(why, whylen, "a line longer than %d bytes",
			                 DOVECOT_LINE_MAX);
			return -1;
		}
		ssize_t n = recv(c->fd, c->buf + c->len, DOVECOT_LINE_MAX - c->len, 0);
		if (n > 0) {
			c->len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (dovecot_wait(c->fd, POLLIN, tfd, why, whylen) != 0)
				return -1;
			continue;
		}
		str_format_trunc(why, whylen, "%s",
		                 n == 0 ? "connection closed by Dovecot" : strerror(errno));
		return -1;
	}
}

/* Connects and reads the server's handshake up to DONE. 0 or -1 (why). */
static int dovecot_connect(struct dovecot_conn *c, const char *path, int tfd, char *why,
                           size_t whylen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (str_copy(sa.sun_path, sizeof sa.sun_path, path) != 0) {
		str_format_trunc(why, whylen, "socket path too long");
		return -1;
	}
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0) {
		str_format_trunc(why, whylen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		str_format_trunc(why, whylen, "connect %s: %s", path, strerror(errno));
		goto fail;
	}
	if (str_copy(c->path, sizeof c->path, path) != 0) {
		str_copy_trunc(why, whylen, "socket path too long");
		goto fail;
	}
	c->len = 0;
	char hello[64];
	/* CPID: the thread's id, unique on the system while the thread lives. */
	if (str_format(hello, sizeof hello, "VERSION\t%d\t2\nCPID\t%ld\n", DOVECOT_VERSION_MAJOR,
	               (long)gettid()) != 0)
		panic("dovecot_connect: hello does not fit");
	if (dovecot_send(c, hello, strlen(hello), tfd, why, whylen) != 0)
		goto fail;
	bool version = false, plain = false;
	size_t consumed = 0;
	for (int lines = 0;; lines++) {
		const char *l;
		size_t n;
		struct dovecot_reply r;
		if (lines > 256) {
			str_format_trunc(why, whylen, "handshake: too many lines");
			goto fail;
		}
		if (dovecot_line(c, &consumed, &l, &n, tfd, why, whylen) != 0)
			goto fail;
		if (dovecot_reply_parse(l, n, &r) != 0) {
			str_format_trunc(why, whylen, "handshake: malformed line");
			goto fail;
		}
		if (r.kind == DOVECOT_R_VERSION) {
			if (r.major != DOVECOT_VERSION_MAJOR) {
				str_format_trunc(why, whylen, "protocol version %lu, not %d",
				                 r.major, DOVECOT_VERSION_MAJOR);
				goto fail;
			}
			version = true;
		} else if (r.kind == DOVECOT_R_MECH && str_ieq(r.mech, "PLAIN")) {
			plain = true;
		} else if (r.kind == DOVECOT_R_DONE) {
			break;
		} else if (r.kind != DOVECOT_R_MECH && r.kind != DOVECOT_R_OTHER) {
			str_format_trunc(why, whylen, "handshake: unexpected reply");
			goto fail;
		}
	}
	memmove(c->buf, c->buf + consumed, c->len - consumed);
	c->len -= consumed;
	if (!version || !plain) {
		str_format_trunc(why, whylen, "%s",
		                 !version ? "handshake without VERSION"
		                          : "Dovecot offers no PLAIN mechanism (auth_mechanisms)");
		goto fail;
	}
	return 0;
fail:
	dovecot_close(c);
	return -1;
}

/* One AUTH on a connected c. *stale: it failed the way a kept connection
 * Dovecot closed meanwhile fails (writing, or EOF before any reply line), so
 * one more try on a new connection is worth it; a timeout never is. */
static enum dovecot_result dovecot_request(struct dovecot_conn *c, const char *service,
                                           const char *resp, const char *rip, const char *user,
                                           char *canon, size_t canonsize, int tfd, bool *stale,
                                           char *why, size_t whylen)
{
	unsigned long id = ++c->next_id;
	if (id == 0 || id > 0xffffffffu)
		id = c->next_id = 1;
	char head[256];
	if (str_format(head, sizeof head,
	               "AUTH\t%lu\tPLAIN\tservice=%s\tsecured\tno-penalty\tnologin%s%s\tresp=", id,
	               service, rip[0] ? "\trip=" : "", rip) != 0) {
		str_copy_trunc(why, whylen, "AUTH request too long (service name)");
		return DOVECOT_TEMP;
	}
	*stale = false;
	if (dovecot_send(c, head, strlen(head), tfd, why, whylen) != 0 ||
	    dovecot_send(c, resp, strlen(resp), tfd, why, whylen) != 0 ||
	    dovecot_send(c, "\n", 1, tfd, why, whylen) != 0) {
		*stale = true;
		return DOVECOT_TEMP;
	}
	size_t consumed = 0;
	int conts = 0;
	for (int lines = 0; lines < 64; lines++) {
		const char *l;
		size_t n;
		struct dovecot_reply r;
		if (dovecot_line(c, &consumed, &l, &n, tfd, why, whylen) != 0) {
			*stale = lines == 0 && strcmp(why, "timed out") != 0;
			return DOVECOT_TEMP;
		}
		if (dovecot_reply_parse(l, n, &r) != 0) {
			str_format_trunc(why, whylen, "malformed reply");
			return DOVECOT_TEMP;
		}
		if ((r.kind != DOVECOT_R_OK && r.kind != DOVECOT_R_FAIL &&
		     r.kind != DOVECOT_R_CONT) ||
		    r.id != id)
			continue; /* not for this request */
		if (r.kind == DOVECOT_R_CONT) {
			/* PLAIN went whole in resp=; a server asking again gets it once more. */
			char cont[64];
			if (str_format(cont, sizeof cont, "CONT\t%lu\t", id) != 0)
				panic("dovecot_request: cont does not fit");
			if (++conts > 1 ||
			    dovecot_send(c, cont, strlen(cont), tfd, why, whylen) != 0 ||
			    dovecot_send(c, resp, strlen(resp), tfd, why, whylen) != 0 ||
			    dovecot_send(c, "\n", 1, tfd, why, whylen) != 0) {
				if (conts > 1)
					str_format_trunc(why, whylen, "a second CONT for PLAIN");
				return DOVECOT_TEMP;
			}
			continue;
		}
		memmove(c->buf, c->buf + consumed, c->len - consumed);
		c->len -= consumed;
		if (r.kind == DOVECOT_R_OK) {
			const char *name = r.has_user && r.user[0] ? r.user : user;
			if (str_copy(canon, canonsize, name) != 0) {
				str_format_trunc(why, whylen, "user name too long");
				return DOVECOT_TEMP;
			}
			return DOVECOT_OK;
		}
		if (r.temp) {
			str_format_trunc(why, whylen, "Dovecot: temporary failure%s%s",
			                 r.reason[0] ? ": " : "", r.reason);
			return DOVECOT_TEMP;
		}
		str_format_trunc(why, whylen, "Dovecot: %s%s%s",
		                 r.disabled ? "account disabled" : "authentication failed",
		                 r.reason[0] ? ": " : "", r.reason);
		return r.disabled ? DOVECOT_DISABLED : DOVECOT_FAIL;
	}
	str_format_trunc(why, whylen, "no reply to the request");
	return DOVECOT_TEMP;
}

enum dovecot_result dovecot_auth_plain(const char *path, const char *service, uint64_t timeout_ms,
                                       const char *user, const char *pw, size_t pwlen,
                                       const char *rip, char *canon, size_t canonsize, char *why,
                                       size_t whylen)
{
	why[0] = '\0';
	size_t ulen = strlen(user);
	if (ulen == 0 || ulen > DOVECOT_NAME_MAX || pwlen > PASSWD_PLAIN_MAX ||
	    memchr(pw, '\0', pwlen)) {
		str_format_trunc(why, whylen, "user name or password not fit for PLAIN");
		return DOVECOT_FAIL;
	}
	if (!dovecot_tc) {
		dovecot_tc = calloc(1, sizeof *dovecot_tc);
		if (!dovecot_tc) {
			str_format_trunc(why, whylen, "out of memory");
			return DOVECOT_TEMP;
		}
		dovecot_tc->fd = -1;
	}
	struct dovecot_conn *c = dovecot_tc;
	/* PLAIN (RFC 4616): authzid NUL authcid NUL passwd, base64. */
	unsigned char msg[DOVECOT_NAME_MAX + PASSWD_PLAIN_MAX + 2];
	char resp[4 * ((sizeof msg + 2) / 3) + 1];
	msg[0] = '\0';
	memcpy(msg + 1, user, ulen);
	msg[1 + ulen] = '\0';
	memcpy(msg + 2 + ulen, pw, pwlen);
	EVP_EncodeBlock((unsigned char *)resp, msg, (int)(2 + ulen + pwlen));
	passwd_wipe(msg, sizeof msg);

	enum dovecot_result res = DOVECOT_TEMP;
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	struct itimerspec its = {.it_value = {.tv_sec = (time_t)(timeout_ms / 1000),
	                                      .tv_nsec = (long)(timeout_ms % 1000) * 1000000L}};
	if (tfd < 0 || timerfd_settime(tfd, 0, &its, NULL) != 0) {
		str_format_trunc(why, whylen, "timerfd: %s", strerror(errno));
		goto out;
	}
	if (c->fd >= 0 && strcmp(c->path, path) != 0)
		dovecot_close(c); /* the socket option changed on a reload */
	for (int attempt = 0; attempt < 2; attempt++) {
		bool fresh = c->fd < 0;
		if (fresh && dovecot_connect(c, path, tfd, why, whylen) != 0)
			break;
		bool stale = false;
		res = dovecot_request(c, service, resp, rip, user, canon, canonsize, tfd, &stale,
		                      why, whylen);
		if (res == DOVECOT_TEMP)
			dovecot_close(c);
		/* A kept connection Dovecot closed meanwhile (a restart): once more. */
		if (!(res == DOVECOT_TEMP && stale && !fresh))
			break;
	}
out:
	if (res == DOVECOT_OK)
		why[0] = '\0'; /* a stale connection's error was retried away */
	passwd_wipe(resp, sizeof resp);
	if (tfd >= 0)
		close(tfd);
	return res;
}
