/*
 * Scenario tests for src/gateway/deliver.c: the real queue in a temporary
 * spool, the fake DNS backend, and scripted SMTP servers on 127.0.0.x in the
 * same event loop that accept, defer, reject, drop the connection or stall.
 * Virtual time (core/clock) steps over backoffs and the queue lifetime, so
 * nothing waits minutes; only the short connect/command timeouts are real.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/clock.h"
#include "core/log.h"
#include "gateway/deliver.h"
#include "gateway/gwconf.h"
#include "net/dns.h"
#include "queue/queue.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum srv_mode {
	SRV_ACCEPT,
	SRV_DEFER_RCPT, /* 451 at RCPT */
	SRV_REJECT_BAD, /* 550 5.1.1 for recipients starting with "bad", 250 otherwise */
	SRV_DROP_DATA,  /* close the connection in the middle of the data */
	SRV_STALL,      /* never greet */
	SRV_GREET_421,  /* 421 at once */
};

struct srv {
	struct evconnlistener *l;
	enum srv_mode mode;
	int connections;
	int messages;
	int rcpts_ok;
	char last_from[256];
	char last_data[8192];
};

struct sconn {
	struct srv *s;
	bool in_data;
	int ok_rcpts;
	char data[8192];
	size_t dlen;
};

static void srv_reply(struct bufferevent *bev, const char *r)
{
	bufferevent_write(bev, r, strlen(r));
}

static void srv_close(struct bufferevent *bev, struct sconn *sc)
{
	bufferevent_free(bev);
	free(sc);
}

static void srv_read(struct bufferevent *bev, void *arg)
{
	struct sconn *sc = arg;
	struct srv *s = sc->s;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t n;
	while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF_STRICT)) != NULL) {
		if (sc->in_data) {
			if (strcmp(line, ".") == 0) {
				sc->in_data = false;
				s->messages++;
				s->rcpts_ok += sc->ok_rcpts;
				sc->ok_rcpts = 0;
				memcpy(s->last_data, sc->data, sc->dlen);
				s->last_data[sc->dlen] = '\0';
				srv_reply(bev, "250 2.0.0 Ok: queued\r\n");
			} else {
				if (s->mode == SRV_DROP_DATA) {
					free(line);
					srv_close(bev, sc);
					return;
				}
				const char *l = line[0] == '.' ? line + 1 : line;
				size_t ll = strlen(l);
				if (sc->dlen + ll + 2 < sizeof sc->data) {
					memcpy(sc->data + sc->dlen, l, ll);
					memcpy(sc->data + sc->dlen + ll, "\r\n", 2);
					sc->dlen += ll + 2;
				}
			}
		} else if (strncasecmp(line, "EHLO", 4) == 0) {
			srv_reply(bev, "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250 "
			               "ENHANCEDSTATUSCODES\r\n");
		} else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
			snprintf(s->last_from, sizeof s->last_from, "%s", line + 10);
			sc->ok_rcpts = 0;
			sc->dlen = 0;
			srv_reply(bev, "250 2.1.0 Ok\r\n");
		} else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
			if (s->mode == SRV_DEFER_RCPT)
				srv_reply(bev, "451 4.2.0 try again later\r\n");
			else if (s->mode == SRV_REJECT_BAD && strncmp(line + 8, "<bad", 4) == 0)
				srv_reply(bev, "550 5.1.1 <bad>: Recipient address rejected: User "
				               "unknown\r\n");
			else {
				sc->ok_rcpts++;
				srv_reply(bev, "250 2.1.5 Ok\r\n");
			}
		} else if (strcasecmp(line, "DATA") == 0) {
			if (sc->ok_rcpts == 0) {
				srv_reply(bev, "554 5.5.1 no valid recipients\r\n");
			} else {
				sc->in_data = true;
				srv_reply(bev, "354 go ahead\r\n");
			}
		} else if (strcasecmp(line, "RSET") == 0) {
			sc->ok_rcpts = 0;
			srv_reply(bev, "250 2.0.0 Ok\r\n");
		} else if (strcasecmp(line, "QUIT") == 0) {
			free(line);
			srv_reply(bev, "221 2.0.0 Bye\r\n");
			bufferevent_flush(bev, EV_WRITE, BEV_FLUSH);
			srv_close(bev, sc);
			return;
		} else {
			srv_reply(bev, "502 5.5.2 what?\r\n");
		}
		free(line);
	}
}

static void srv_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		srv_close(bev, arg);
}

static void srv_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                       void *arg)
{
	struct srv *s = arg;
	s->connections++;
	struct bufferevent *bev =
	    bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
	struct sconn *sc = calloc(1, sizeof *sc);
	sc->s = s;
	bufferevent_setcb(bev, srv_read, NULL, srv_event, sc);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	if (s->mode == SRV_STALL)
		return;
	srv_reply(bev, s->mode == SRV_GREET_421 ? "421 4.3.2 busy\r\n" : "220 mx.test ESMTP\r\n");
}

/* ---- fixture ---- */

#define T0 1795000000000LL

struct fix {
	struct event_base *base;
	char dir[64];
	struct queue *q;
	struct dns *dns;
	struct gw_config *c;
	struct deliver *d;
	unsigned port;
	struct srv srv[4]; /* 127.0.0.2 .. 127.0.0.5 */
	int committed;
};

static int srv_listen(struct fix *f, int i, unsigned *port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)*port)};
	char ip[16];
	snprintf(ip, sizeof ip, "127.0.0.%d", i + 2);
	inet_pton(AF_INET, ip, &sin.sin_addr);
	f->srv[i].l = evconnlistener_new_bind(f->base, srv_accept, &f->srv[i],
	                                      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	                                      (struct sockaddr *)&sin, sizeof sin);
	if (!f->srv[i].l)
		return -1;
	if (*port == 0) {
		struct sockaddr_in got;
		socklen_t gl = sizeof got;
		getsockname(evconnlistener_get_fd(f->srv[i].l), (struct sockaddr *)&got, &gl);
		*port = ntohs(got.sin_port);
	}
	return 0;
}

static void add_mx(struct dns *d, const char *dom, int n, const struct dns_mx *mx)
{
	struct dns_result r = {.status = DNS_OK, .nmx = n};
	for (int i = 0; i < n; i++)
		r.mx[i] = mx[i];
	dns_fake_add(d, dom, DNS_T_MX, &r);
}

static void add_a(struct dns *d, const char *name, const char *ip)
{
	struct dns_result r = {.status = DNS_OK, .naddrs = 1};
	assert_int_equal(addr_parse(ip, strlen(ip), &r.addrs[0]), 0);
	dns_fake_add(d, name, DNS_T_A, &r);
	struct dns_result nd = {.status = DNS_NODATA};
	dns_fake_add(d, name, DNS_T_AAAA, &nd);
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof *f);
	clock_fake_set(T0, 1000);
	log_set_level(getenv("RG_TEST_VERBOSE") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
	f->base = event_base_new();
	snprintf(f->dir, sizeof f->dir, "/tmp/rg-deliver-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	char err[256];
	struct queue_opts qo = {.fsync = false};
	if (queue_open(&f->q, f->dir, f->base, &qo, err, sizeof err) != 0) {
		fprintf(stderr, "queue_open: %s\n", err);
		return -1;
	}
	f->dns = dns_new_fake(f->base);
	/* servers on 127.0.0.2..5, one port */
	for (int tries = 0; tries < 20; tries++) {
		unsigned port = 0;
		bool ok = srv_listen(f, 0, &port) == 0;
		for (int i = 1; ok && i < 4; i++)
			ok = srv_listen(f, i, &port) == 0;
		if (ok) {
			f->port = port;
			break;
		}
		for (int i = 0; i < 4; i++)
			if (f->srv[i].l) {
				evconnlistener_free(f->srv[i].l);
				f->srv[i].l = NULL;
			}
	}
	if (!f->port)
		return -1;
	/* x.test: mx1 (127.0.0.2) then mx2 (127.0.0.3); y.test: 127.0.0.4;
	 * gw.test (our senders, where DSNs go): 127.0.0.5 */
	struct dns_mx xm[2] = {{20, "mx2.x.test"}, {10, "mx1.x.test"}};
	add_mx(f->dns, "x.test", 2, xm);
	add_a(f->dns, "mx1.x.test", "127.0.0.2");
	add_a(f->dns, "mx2.x.test", "127.0.0.3");
	struct dns_result nd = {.status = DNS_NODATA};
	dns_fake_add(f->dns, "y.test", DNS_T_MX, &nd); /* implicit MX */
	add_a(f->dns, "y.test", "127.0.0.4");
	struct dns_mx gm[1] = {{10, "mx.gw.test"}};
	add_mx(f->dns, "gw.test", 1, gm);
	add_a(f->dns, "mx.gw.test", "127.0.0.5");
	struct dns_mx nul[1] = {{0, ""}};
	add_mx(f->dns, "null.test", 1, nul);
	f->c = calloc(1, sizeof *f->c);
	if (gwconf_load(f->c, NULL, err, sizeof err) != 0)
		return -1;
	snprintf(f->c->hostname, sizeof f->c->hostname, "gw.test");
	struct gw_delivery *o = &f->c->delivery;
	o->smtp_port = f->port;
	o->poll_ms = 1;
	o->connect_timeout_ms = 500;
	o->command_timeout_ms = 500;
	o->idle_timeout_ms = 50;
	o->dead_time_ms = 0;
	o->tls_level = GW_DTLS_NONE;
	*state = f;
	return 0;
}

static void fix_start(struct fix *f)
{
	char err[256];
	f->d = deliver_new(f->base, f->q, f->dns, NULL, NULL, f->c, err, sizeof err);
	assert_non_null(f->d);
}

static int teardown(void **state)
{
	struct fix *f = *state;
	deliver_free(f->d);
	for (int i = 0; i < 4; i++)
		if (f->srv[i].l)
			evconnlistener_free(f->srv[i].l);
	dns_free(f->dns);
	queue_close(f->q);
	/* let closed connections go */
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	event_base_free(f->base);
	gwconf_free(f->c);
	free(f->c);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	clock_use_system();
	return 0;
}

static void on_commit(void *arg, int status, const char *id)
{
	struct fix *f = arg;
	assert_int_equal(status, 0);
	f->committed++;
}

static void enqueue(struct fix *f, const char *sender, bool verified, int n, const char **rcpts)
{
	struct queue_msg *m = queue_msg_new(f->q);
	assert_non_null(m);
	const char body[] =
	    "Received: from client\r\nSubject: test\r\n\r\nline\r\n.leading dot\r\n";
	assert_int_equal(queue_msg_write(m, body, strlen(body)), 0);
	struct queue_envelope e = {0};
	snprintf(e.sender, sizeof e.sender, "%s", sender);
	snprintf(e.auth_user, sizeof e.auth_user, "%s", verified ? "sam" : "");
	snprintf(e.client_ip, sizeof e.client_ip, "192.0.2.7");
	snprintf(e.listener, sizeof e.listener, "submission");
	e.sender_verified = verified;
	struct queue_rcpt r[8] = {0};
	for (int i = 0; i < n; i++)
		snprintf(r[i].addr, sizeof r[i].addr, "%s", rcpts[i]);
	e.nrcpt = (unsigned)n;
	e.rcpt = r;
	int before = f->committed;
	queue_msg_commit(m, &e, on_commit, f);
	while (f->committed == before)
		event_base_loop(f->base, EVLOOP_ONCE);
}

/* Runs the loop until the queue has `active` entries and `held` held ones,
 * with nothing being delivered, or about 3 s passed. */
static void run_until(struct fix *f, uint64_t active, uint64_t held, uint64_t deferred)
{
	for (int i = 0; i < 3000; i++) {
		struct timeval tv = {0, 1000};
		event_base_loopexit(f->base, &tv);
		event_base_dispatch(f->base);
		struct queue_stats st;
		queue_stats(f->q, &st);
		struct deliver_stats ds;
		deliver_stats(f->d, &ds);
		if (st.active == active && st.held == held && st.deferred == deferred &&
		    ds.active_messages == 0)
			return;
	}
	struct queue_stats st;
	queue_stats(f->q, &st);
	fail_msg("queue: active %llu held %llu deferred %llu, wanted %llu %llu %llu",
	         (unsigned long long)st.active, (unsigned long long)st.held,
	         (unsigned long long)st.deferred, (unsigned long long)active,
	         (unsigned long long)held, (unsigned long long)deferred);
}

/* ---- scenarios ---- */

static void test_accept_two_destinations(void **state)
{
	struct fix *f = *state;
	fix_start(f);
	const char *r[3] = {"a@x.test", "b@x.test", "c@y.test"};
	enqueue(f, "sam@gw.test", true, 3, r);
	run_until(f, 0, 0, 0);
	assert_int_equal(f->srv[0].messages, 1); /* mx1 of x.test, both recipients */
	assert_int_equal(f->srv[0].rcpts_ok, 2);
	assert_int_equal(f->srv[2].messages, 1); /* y.test, implicit MX */
	assert_int_equal(f->srv[1].messages, 0);
	assert_int_equal(strncmp(f->srv[0].last_from, "<sam@gw.test> SIZE=", 19), 0);
	assert_non_null(strstr(f->srv[0].last_data, "\r\n.leading dot\r\n"));
	struct deliver_stats ds;
	deliver_stats(f->d, &ds);
	assert_int_equal(ds.sent, 3);
}

static void test_reuse_and_concurrency(void **state)
{
	struct fix *f = *state;
	f->c->delivery.concurrency = 1;
	fix_start(f);
	const char *r[1] = {"a@x.test"};
	for (int i = 0; i < 5; i++)
		enqueue(f, "sam@gw.test", true, 1, r);
	run_until(f, 0, 0, 0);
	assert_int_equal(f->srv[0].messages, 5);
	assert_int_equal(f->srv[0].connections, 1); /* one connection, reused */
	struct deliver_stats ds;
	deliver_stats(f->d, &ds);
	assert_int_equal(ds.reused, 4);
}

static void test_global_connection_limit(void **state)
{
	struct fix *f = *state;
	f->c->delivery.max_connections = 1; /* one connection for all destinations */
	fix_start(f);
	const char *r1[1] = {"a@x.test"}, *r2[1] = {"b@y.test"};
	enqueue(f, "sam@gw.test", true, 1, r1);
	enqueue(f, "sam@gw.test", true, 1, r2);
	enqueue(f, "sam@gw.test", true, 1, r1);
	run_until(f, 0, 0, 0);
	assert_int_equal(f->srv[0].messages, 2);
	assert_int_equal(f->srv[2].messages, 1);
}

static void test_reject_dsn_verified(void **state)
{
	struct fix *f = *state;
	f->srv[0].mode = SRV_REJECT_BAD;
	fix_start(f);
	const char *r[2] = {"bad@x.test", "good@x.test"};
	enqueue(f, "sam@gw.test", true, 2, r);
	run_until(f, 0, 0, 0);
	assert_int_equal(f->srv[0].rcpts_ok, 1);
	/* the DSN went to the sender's domain, from <> */
	assert_int_equal(f->srv[3].messages, 1);
	assert_int_equal(strncmp(f->srv[3].last_from, "<> SIZE=", 8), 0);
	assert_non_null(strstr(f->srv[3].last_data, "Status: 5.1.1"));
	assert_non_null(strstr(f->srv[3].last_data, "Final-Recipient: rfc822; bad@x.test"));
	assert_null(strstr(f->srv[3].last_data, "good@x.test\r\nAction"));
	struct deliver_stats ds;
	deliver_stats(f->d, &ds);
	assert_int_equal(ds.bounced, 1);
	assert_int_equal(ds.dsn_sent, 1);
}

static void test_reject_unverified_held(void **state)
{
	struct fix *f = *state;
	f->srv[0].mode = SRV_REJECT_BAD;
	fix_start(f);
	const char *r[1] = {"bad@x.test"};
	enqueue(f, "forged@gw.test", false, 1, r);
	run_until(f, 0, 1, 0); /* the DSN is held, nothing sent */
	assert_int_equal(f->srv[3].messages, 0);
	/* and to the null sender nothing at all */
	enqueue(f, "", true, 1, r);
	run_until(f, 0, 1, 0);
	struct deliver_stats ds;
	deliver_stats(f->d, &ds);
	assert_int_equal(ds.dsn_held, 1);
	assert_int_equal(ds.dsn_none, 1);
}

static void test_defer_then_retry(void **state)
{
	struct fix *f = *state;
	f->srv[0].mode = SRV_DEFER_RCPT;
	fix_start(f);
	const char *r[1] = {"a@x.test"};
	enqueue(f, "sam@gw.test", true, 1, r);
	run_until(f, 1, 0, 1);
	assert_int_equal(f->srv[0].messages, 0);
	/* not before the backoff */
	clock_fake_advance(299 * 1000);
	run_until(f, 1, 0, 1);
	assert_int_equal(f->srv[0].connections, 1);
	f->srv[0].mode = SRV_ACCEPT;
	clock_fake_advance(2 * 1000);
	run_until(f, 0, 0, 0);
	assert_int_equal(f->srv[0].messages, 1);
	assert_true(f->srv[0].connections >= 1); /* the idle one may be reused */
}

static void test_expiry(void **state)
{
	struct fix *f = *state;
	f->srv[0].mode = SRV_DEFER_RCPT;
	fix_start(f);
	const char *r[1] = {"a@x.test"};
	enqueue(f, "sam@gw.test", true, 1, r);
	run_until(f, 1, 0, 1);
	clock_fake_advance(5LL * 86400 * 1000);
	run_until(f, 0, 0, 0);
	struct deliver_stats ds;
	deliver_stats(f->d, &ds);
	assert_int_equal(ds.expired, 1);
	assert_int_equal(f->srv[3].messages, 1);
	assert_non_null(strstr(f->srv[3].last_data, "Status: 4.4.7"));
	assert_non_null(strstr(f->srv[3].last_data, "try again later"));
}

static void test_mx_fallback(void **state)
{
	struct fix *f = *state;
	/* mx1 greets with 421: next MX; then mx1 gone (refused): next MX */
	f->srv[0].mode = SRV_GREET_421;
	fix_start(f);
	const char *r[1] = {"a@x.test"};
	enqueue(f, "sam@gw.test", true, 1, r);
	run_until(f, 0, 0, 0);
	assert_int_equal(f->srv[1].messages, 1);
	evconnlistener_free(f->srv[0].l);
	f->srv[0].l = NULL;
	enqueue(f, "sam@gw.test", true, 1, r);
	run_until(f, 0, 0, 0);
	assert_int_equal(f->srv[1].messages, 2);
}

static void test_stall_and_drop(void **state)
{
	struct fix *f = *state;
	f->srv[0].mode = SRV_STALL;     /* times out (500 ms), mx2 takes it */
	f->srv[1].mode = SRV_DROP_DATA; /* ... and drops the connection: deferred */
	fix_start(f);
	const char *r[1] = {"a@x.test"};
	enqueue(f, "sam@gw.test", true, 1, r);
	run_until(f, 1, 0, 1);
	assert_int_equal(f->srv[0].connections, 1);
	assert_int_equal(f->srv[1].connections, 1);
	assert_int_equal(f->srv[1].messages, 0);
}

static void test_null_mx_and_nxdomain(void **state)
{
	struct fix *f = *state;
	fix_start(f);
	const char *r[2] = {"a@null.test", "b@nonexistent.test"};
	enqueue(f, "sam@gw.test", true, 2, r);
	run_until(f, 0, 0, 0);
	assert_int_equal(f->srv[3].messages, 1);
	assert_non_null(strstr(f->srv[3].last_data, "Status: 5.1.10"));
	assert_non_null(strstr(f->srv[3].last_data, "Status: 5.1.2"));
}

/* A recipient domain longer than a destination's name is not routed to a
 * host named by its first 255 bytes: it bounces as too long. */
static void test_domain_too_long(void **state)
{
	struct fix *f = *state;
	fix_start(f);
	char addr[400] = "a@";
	for (int i = 0; i < 5; i++) {
		size_t n = strlen(addr);
		memset(addr + n, 'd', 60);
		memcpy(addr + n + 60, ".", 2);
	}
	assert_int_equal(str_append(addr, sizeof addr, "test"), 0);
	const char *r[1] = {addr};
	enqueue(f, "sam@gw.test", true, 1, r);
	run_until(f, 0, 0, 0);
	assert_int_equal(f->srv[3].messages, 1);
	assert_non_null(strstr(f->srv[3].last_data, "Status: 5.1.2"));
	assert_non_null(strstr(f->srv[3].last_data, "domain is too long"));
	struct deliver_stats ds;
	deliver_stats(f->d, &ds);
	assert_int_equal(ds.bounced, 1);
}

static void test_relayhost(void **state)
{
	struct fix *f = *state;
	char err[200];
	char hop[64];
	snprintf(hop, sizeof hop, "[127.0.0.4]:%u", f->port);
	assert_int_equal(gw_nexthop_parse(hop, 25, &f->c->delivery.relay, err, sizeof err), 0);
	fix_start(f);
	const char *r[2] = {"a@x.test", "b@elsewhere.test"};
	enqueue(f, "sam@gw.test", true, 2, r);
	run_until(f, 0, 0, 0);
	assert_int_equal(f->srv[2].messages, 1);
	assert_int_equal(f->srv[2].rcpts_ok, 2);
	assert_int_equal(f->srv[0].messages, 0);
}

static void test_nexthop_parse(void **state)
{
	struct gw_nexthop h;
	char err[200];
	assert_int_equal(gw_nexthop_parse("[mail.example]:587", 25, &h, err, sizeof err), 0);
	assert_true(h.no_mx);
	assert_false(h.literal);
	assert_int_equal(h.port, 587);
	assert_string_equal(h.text, "[mail.example]:587");
	assert_int_equal(gw_nexthop_parse("example.com", 25, &h, err, sizeof err), 0);
	assert_false(h.no_mx);
	assert_int_equal(h.port, 25);
	assert_int_equal(gw_nexthop_parse("[::1]:2525", 25, &h, err, sizeof err), 0);
	assert_true(h.literal);
	assert_int_equal(h.addr.family, 6);
	assert_int_equal(gw_nexthop_parse("[x", 25, &h, err, sizeof err), -1);
	assert_int_equal(gw_nexthop_parse("a:b:c", 25, &h, err, sizeof err), -1);
	assert_int_equal(gw_nexthop_parse("host:99999", 25, &h, err, sizeof err), -1);
}

/* Loads text as a configuration file; 0 or -1 with err. */
static int load_text(struct gw_config *c, const char *text, char *err, size_t errlen)
{
	char path[] = "/tmp/rg-gwconf-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return -2;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		return -2;
	}
	close(fd);
	int rc = gwconf_load(c, path, err, errlen);
	unlink(path);
	return rc;
}

static void test_delivery_config(void **state)
{
	struct gw_config *c = calloc(1, sizeof *c);
	char err[300];
	assert_int_equal(
	    load_text(c,
	              "[gateway]\nstate_dir = /tmp/x\n"
	              "[delivery]\nrelayhost = [smarthost.example]:587\n"
	              "relayhost_auth = user:pass word\nrelayhost_tls = verify\n"
	              "tls = encrypt\nsource_by_sender_domain = a.test=192.0.2.1, "
	              "b.test=2001:db8::1\nqueue_lifetime = 2d\nminimal_backoff = 1m\n"
	              "[delivery_tls]\nBank.Example = verify\nold.example = none\n"
	              "[listener relay]\nlisten = 127.0.0.1:2525\nsource_address = 192.0.2.9\n",
	              err, sizeof err),
	    0);
	const struct gw_delivery *d = &c->delivery;
	assert_true(d->relay.set && d->relay.no_mx);
	assert_int_equal(d->relay.port, 587);
	assert_int_equal(d->relayhost_tls_level, GW_DTLS_VERIFY);
	assert_int_equal(d->tls_level, GW_DTLS_ENCRYPT);
	assert_int_equal(gw_delivery_tls(d, "bank.example"), GW_DTLS_VERIFY);
	assert_int_equal(gw_delivery_tls(d, "old.example"), GW_DTLS_NONE);
	assert_int_equal(gw_delivery_tls(d, "other.example"), GW_DTLS_ENCRYPT);
	assert_int_equal(d->nsource, 2);
	assert_string_equal(d->source_map[1].addr, "2001:db8::1");
	assert_int_equal(d->lifetime_ms, 2 * 86400000ull);
	assert_int_equal(d->min_backoff_ms, 60000);
	assert_string_equal(c->spool_dir, "/tmp/x/spool");
	assert_string_equal(c->listeners[0].source_address, "192.0.2.9");
	gwconf_free(c);
	static const char *const bad[] = {
	    "[delivery]\nrelayhost = [x\n",
	    "[delivery]\ntls = sometimes\n",
	    "[delivery]\nrelayhost_auth = nocolon\n",
	    /* credentials only to a verified relayhost (issue 16 item 6) */
	    "[delivery]\nrelayhost = [smarthost.example]:587\nrelayhost_auth = u:p\n",
	    "[delivery]\nrelayhost = [smarthost.example]:587\nrelayhost_auth = u:p\n"
	    "relayhost_tls = encrypt\n",
	    "[delivery]\nsource_address = not-an-ip\n",
	    "[delivery]\nsource_by_sender_domain = a.test\n",
	    "[delivery]\naddress_family = ipv5\n",
	    "[delivery]\ndestination_concurrency = 0\n",
	    "[delivery_tls]\nx.test = maybe\n",
	    "[listener relay]\nlisten = 127.0.0.1:2525\nsource_address = x\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		assert_int_equal(load_text(c, bad[i], err, sizeof err), -1);
		assert_true(err[0] != '\0');
	}
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_accept_two_destinations, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reuse_and_concurrency, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_global_connection_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reject_dsn_verified, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reject_unverified_held, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_defer_then_retry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mx_fallback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stall_and_drop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_null_mx_and_nxdomain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_domain_too_long, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_relayhost, setup, teardown),
	    cmocka_unit_test(test_nexthop_parse),
	    cmocka_unit_test(test_delivery_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
