/*
 * Unit tests of recipient validation (src/smtp/rcptval.c): the static list
 * and catch-alls, list files, the callout cache and its TTLs in virtual time,
 * and the callout probe against an in-process fake internal server on
 * loopback that knows one user.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/clock.h"
#include "core/str.h"
#include "smtp/rcptval.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_static(void **state)
{
	char err[256], why[128];
	struct rcptval *v =
	    rcptval_new("example.org, Example.NET\nlists.example.org", NULL, err, sizeof err);
	assert_non_null(v);
	assert_int_equal(rcptval_add_list(v,
	                                  "alice@example.org Bob@Example.org # the boss\n"
	                                  "@example.net",
	                                  err, sizeof err),
	                 0);
	assert_int_equal(rcptval_check(v, "alice@example.org", 0, why, sizeof why), RCPTVAL_OK);
	assert_string_equal(why, "static list");
	assert_int_equal(rcptval_check(v, "BOB@example.ORG", 0, why, sizeof why), RCPTVAL_OK);
	assert_int_equal(rcptval_check(v, "carol@example.org", 0, why, sizeof why),
	                 RCPTVAL_UNKNOWN);
	assert_int_equal(rcptval_check(v, "anyone@example.net", 0, why, sizeof why), RCPTVAL_OK);
	assert_string_equal(why, "static list (@example.net)");
	assert_int_equal(rcptval_check(v, "x@elsewhere.example", 0, why, sizeof why),
	                 RCPTVAL_NOT_LOCAL);
	assert_int_equal(rcptval_check(v, "no-at-sign", 0, why, sizeof why), RCPTVAL_NOT_LOCAL);
	/* the boss comment did not become an address */
	assert_int_equal(rcptval_check(v, "the@example.org", 0, why, sizeof why), RCPTVAL_UNKNOWN);
	/* bad entries change nothing and say what was wrong */
	assert_int_equal(rcptval_add_list(v, "dave@other.example", err, sizeof err), -1);
	assert_non_null(strstr(err, "not a local domain"));
	assert_int_equal(rcptval_add_list(v, "noatsign", err, sizeof err), -1);
	/* checked as an SMTP address is (smtp_address_mailbox) */
	assert_int_equal(rcptval_add_list(v, "a..b@example.org", err, sizeof err), -1);
	assert_int_equal(rcptval_add_list(v, ".a@example.org", err, sizeof err), -1);
	assert_int_equal(rcptval_add_list(v, "a(b)@example.org", err, sizeof err), -1);
	char path[] = "/tmp/rg-rcptval-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *text = "# users\nerin@example.org\n\nfrank@example.org, gina@example.org\n"
	                   "bad@@\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(rcptval_add_file(v, path, err, sizeof err), -1);
	assert_non_null(strstr(err, ":5: "));
	assert_int_equal(rcptval_check(v, "gina@example.org", 0, why, sizeof why), RCPTVAL_OK);
	unlink(path);
	assert_int_equal(rcptval_add_file(v, path, err, sizeof err), -1);
	rcptval_free(v);
	assert_null(rcptval_new("", NULL, err, sizeof err));
	assert_null(rcptval_new("bad domain!", NULL, err, sizeof err));
}

static void test_cache(void **state)
{
	char err[256], why[128];
	struct rcptval_options o;
	rcptval_options_default(&o);
	o.callout = true;
	o.cache_max = 100;
	struct rcptval *v = rcptval_new("example.org", &o, err, sizeof err);
	assert_non_null(v);
	int64_t t = 1000000;
	assert_int_equal(rcptval_check(v, "a@example.org", t, why, sizeof why), RCPTVAL_CALLOUT);
	rcptval_cache_put(v, "a@example.org", 250, t);
	rcptval_cache_put(v, "b@example.org", 550, t);
	rcptval_cache_put(v, "c@example.org", 451, t); /* not cached */
	rcptval_cache_put(v, "d@example.org", 0, t);   /* no answer: not cached */
	assert_int_equal(rcptval_cache_size(v), 2);
	assert_int_equal(rcptval_check(v, "A@example.org", t + 1000, why, sizeof why), RCPTVAL_OK);
	assert_string_equal(why, "callout cache: 250, 1 s ago");
	assert_int_equal(rcptval_check(v, "b@example.org", t, why, sizeof why), RCPTVAL_UNKNOWN);
	assert_int_equal(rcptval_check(v, "c@example.org", t, why, sizeof why), RCPTVAL_CALLOUT);
	/* negative answers last 3 h, positive ones 7 d */
	t += 3 * 3600000LL;
	assert_int_equal(rcptval_check(v, "b@example.org", t, why, sizeof why), RCPTVAL_CALLOUT);
	assert_int_equal(rcptval_check(v, "a@example.org", t, why, sizeof why), RCPTVAL_OK);
	t += 7 * 86400000LL;
	assert_int_equal(rcptval_check(v, "a@example.org", t, why, sizeof why), RCPTVAL_CALLOUT);
	/* full: expired entries go first, and the cache never passes its size */
	char a[64];
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(str_format(a, sizeof a, "u%d@example.org", i), 0);
		rcptval_cache_put(v, a, 250, t + i);
		assert_true(rcptval_cache_size(v) <= 100);
	}
	assert_int_equal(rcptval_check(v, "u999@example.org", t + 1000, why, sizeof why),
	                 RCPTVAL_OK);
	rcptval_free(v);
}

/* ---- a fake internal server: knows alice, tempfails tempo ---- */

struct fake_conn {
	struct bufferevent *bev;
	unsigned *sessions;
};

static void fake_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t n;
	while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) != NULL) {
		const char *reply = "250 ok\r\n";
		if (strncmp(line, "EHLO", 4) == 0)
			reply = "250-fake.example\r\n250 PIPELINING\r\n";
		else if (strncmp(line, "RCPT TO:<alice@example.org>", 27) == 0)
			reply = "250 2.1.5 ok\r\n";
		else if (strncmp(line, "RCPT TO:<tempo@", 15) == 0)
			reply = "451 4.3.0 try later\r\n";
		else if (strncmp(line, "RCPT", 4) == 0)
			reply = "550 5.1.1 no such user\r\n";
		else if (strncmp(line, "QUIT", 4) == 0)
			reply = "221 bye\r\n";
		else if (strncmp(line, "DATA", 4) == 0)
			fail(); /* a probe never sends DATA */
		(void)bufferevent_write(bev, reply, strlen(reply));
		free(line);
	}
}

static void fake_event(struct bufferevent *bev, short what, void *arg)
{
	bufferevent_free(bev);
}

static void fake_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                        int salen, void *arg)
{
	unsigned *sessions = arg;
	struct bufferevent *bev =
	    bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
	(*sessions)++;
	bufferevent_setcb(bev, fake_read, NULL, fake_event, NULL);
	(void)bufferevent_enable(bev, EV_READ | EV_WRITE);
	(void)bufferevent_write(bev, "220 fake.example ESMTP\r\n", 24);
}

struct answer {
	int calls;
	enum rcptval_result r;
	int code;
	struct event_base *base;
};

static void on_answer(void *arg, enum rcptval_result r, int code, const char *text)
{
	struct answer *a = arg;
	a->calls++;
	a->r = r;
	a->code = code;
	event_base_loopexit(a->base, NULL);
}

static struct answer probe(struct rcptval *v, struct event_base *base, const char *addr)
{
	struct answer a = {.base = base};
	assert_int_equal(rcptval_callout(v, base, addr, on_answer, &a), 0);
	assert_int_equal(a.calls, 0);
	event_base_dispatch(base);
	assert_int_equal(a.calls, 1);
	return a;
}

static void test_callout(void **state)
{
	struct event_base *base = event_base_new();
	struct sockaddr_in sin = {.sin_family = AF_INET};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	unsigned sessions = 0;
	struct evconnlistener *l =
	    evconnlistener_new_bind(base, fake_accept, &sessions, LEV_OPT_CLOSE_ON_FREE, 16,
	                            (struct sockaddr *)&sin, sizeof sin);
	assert_non_null(l);
	socklen_t sl = sizeof sin;
	assert_int_equal(getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&sin, &sl), 0);
	char port[16], err[256], why[128];
	assert_int_equal(str_format(port, sizeof port, "%u", ntohs(sin.sin_port)), 0);
	struct rcptval_options o;
	rcptval_options_default(&o);
	o.callout = true;
	o.callout_port = port;
	o.timeout_ms = 3000;
	struct rcptval *v = rcptval_new("example.org", &o, err, sizeof err);
	assert_non_null(v);
	struct answer a = probe(v, base, "alice@example.org");
	assert_int_equal(a.r, RCPTVAL_OK);
	assert_int_equal(a.code, 250);
	a = probe(v, base, "nobody@example.org");
	assert_int_equal(a.r, RCPTVAL_UNKNOWN);
	assert_int_equal(a.code, 550);
	a = probe(v, base, "tempo@example.org");
	assert_int_equal(a.r, RCPTVAL_TEMPFAIL);
	assert_int_equal(sessions, 3);
	/* answers are cached: no new session for the next checks */
	int64_t now = clock_monotonic_ms();
	assert_int_equal(rcptval_check(v, "alice@example.org", now, why, sizeof why), RCPTVAL_OK);
	assert_int_equal(rcptval_check(v, "nobody@example.org", now, why, sizeof why),
	                 RCPTVAL_UNKNOWN);
	assert_int_equal(rcptval_check(v, "tempo@example.org", now, why, sizeof why),
	                 RCPTVAL_CALLOUT);
	/* a hostile address never reaches the command line */
	struct answer dummy = {.base = base};
	assert_int_equal(rcptval_callout(v, base, "a>\r\nDATA@example.org", on_answer, &dummy), -1);
	/* nothing listening: a tempfail, not cached */
	evconnlistener_free(l);
	a = probe(v, base, "bob@example.org");
	assert_int_equal(a.r, RCPTVAL_TEMPFAIL);
	assert_int_equal(rcptval_cache_size(v), 2);
	rcptval_free(v);
	event_base_free(base);
}

/* A callout under way when the validator goes (shutdown): answered tempfail,
 * once, and nothing is left behind. */
static void test_free_during_callout(void **state)
{
	struct event_base *base = event_base_new();
	char err[256];
	struct rcptval_options o;
	rcptval_options_default(&o);
	o.callout = true;
	o.callout_port = "9"; /* never dispatched: the connect does not matter */
	struct rcptval *v = rcptval_new("example.org", &o, err, sizeof err);
	assert_non_null(v);
	struct answer a = {.base = base}, b = {.base = base};
	assert_int_equal(rcptval_callout(v, base, "x@example.org", on_answer, &a), 0);
	assert_int_equal(rcptval_callout(v, base, "y@example.org", on_answer, &b), 0);
	rcptval_free(v);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.r, RCPTVAL_TEMPFAIL);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.code, 0);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_static),
	    cmocka_unit_test(test_cache),
	    cmocka_unit_test(test_callout),
	    cmocka_unit_test(test_free_during_callout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
