/*
 * policy_load - load client for Postfix policy services (SMTPD_POLICY_README):
 * N persistent connections, each keeping DEPTH requests in flight
 * (pipelined: a new request goes out for every answer that comes back), for a
 * fixed time; prints the answers per second and how many of each action.
 *
 *   policy_load HOST PORT CONNS DEPTH SECONDS USERS [STATE]
 *
 * Requests are what Postfix's smtpd sends at RCPT (STATE "RCPT", default) or
 * END-OF-MESSAGE, with sasl_username cycling through USERS accounts
 * (user0@bench.test ...) and a client address per account, so a per-account
 * rate limit sees USERS identities. One thread, epoll: it needs a small part
 * of a core for 100,000+ answers a second, so it measures the server.
 *
 * Built by bench/policy.sh (cc -O2 bench/policy_load.c). Not part of relayguard.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define OUT_CAP (1 << 20)
#define IN_CAP (1 << 18)

struct conn {
	int fd;
	char *out;
	size_t out_len, out_off;
	char in[IN_CAP];
	size_t in_len;
	unsigned long next_user;
	int want_out;
};

static unsigned long users = 1000;
static const char *state = "RCPT";
static unsigned long answers, dunno, other;
static unsigned long seq;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void add_request(struct conn *c)
{
	unsigned long u = seq++ % users;
	if (c->out_len + 600 > OUT_CAP)
		return;
	int n = snprintf(c->out + c->out_len, OUT_CAP - c->out_len,
	                 "request=smtpd_access_policy\n"
	                 "protocol_state=%s\n"
	                 "protocol_name=ESMTP\n"
	                 "client_address=10.%lu.%lu.%lu\n"
	                 "client_name=host%lu.bench.test\n"
	                 "helo_name=host%lu.bench.test\n"
	                 "sasl_method=PLAIN\n"
	                 "sasl_username=user%lu@bench.test\n"
	                 "sender=user%lu@bench.test\n"
	                 "recipient=rcpt%lu@example.net\n"
	                 "recipient_count=%s\n"
	                 "queue_id=\n"
	                 "instance=%lx.%lu\n"
	                 "size=%s\n"
	                 "\n",
	                 state, (u >> 16) & 255, (u >> 8) & 255, u & 255, u, u, u, u, seq % 50,
	                 strcmp(state, "RCPT") == 0 ? "0" : "1", seq, u,
	                 strcmp(state, "RCPT") == 0 ? "0" : "4200");
	if (n > 0)
		c->out_len += (size_t)n;
}

static int flush_out(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
		if (w < 0) {
			if (errno == EAGAIN)
				return 1;
			if (errno == EINTR)
				continue;
			return -1;
		}
		c->out_off += (size_t)w;
	}
	c->out_off = c->out_len = 0;
	return 0;
}

/* Counts complete answers in c->in; returns how many. */
static unsigned long take_answers(struct conn *c)
{
	unsigned long n = 0;
	size_t start = 0;
	for (;;) {
		char *end = memmem(c->in + start, c->in_len - start, "\n\n", 2);
		if (!end)
			break;
		const char *a = c->in + start;
		if (strncmp(a, "action=", 7) == 0 && strncasecmp(a + 7, "DUNNO", 5) == 0)
			dunno++;
		else
			other++;
		n++;
		start = (size_t)(end - c->in) + 2;
	}
	memmove(c->in, c->in + start, c->in_len - start);
	c->in_len -= start;
	return n;
}

int main(int argc, char **argv)
{
	if (argc < 7) {
		fprintf(stderr, "usage: policy_load HOST PORT CONNS DEPTH SECONDS USERS [STATE]\n");
		return 2;
	}
	const char *host = argv[1];
	int port = atoi(argv[2]);
	int nconn = atoi(argv[3]), depth = atoi(argv[4]);
	double seconds = atof(argv[5]);
	users = strtoul(argv[6], NULL, 10);
	if (argc > 7)
		state = argv[7];
	if (nconn < 1 || depth < 1 || users < 1 || seconds <= 0) {
		fprintf(stderr, "policy_load: bad arguments\n");
		return 2;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "policy_load: %s: not an IPv4 address\n", host);
		return 2;
	}
	int ep = epoll_create1(0);
	struct conn *conns = calloc((size_t)nconn, sizeof *conns);
	if (ep < 0 || !conns)
		return 1;
	for (int i = 0; i < nconn; i++) {
		struct conn *c = &conns[i];
		c->fd = socket(AF_INET, SOCK_STREAM, 0);
		int one = 1;
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
			perror("policy_load: connect");
			return 1;
		}
		c->out = malloc(OUT_CAP);
		if (!c->out)
			return 1;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	}
	/* fill the pipelines */
	for (int i = 0; i < nconn; i++) {
		for (int k = 0; k < depth; k++)
			add_request(&conns[i]);
		if (flush_out(&conns[i]) < 0) {
			perror("policy_load: write");
			return 1;
		}
	}
	double t0 = now_s(), end = t0 + seconds;
	struct epoll_event evs[256];
	while (now_s() < end) {
		int n = epoll_wait(ep, evs, 256, 100);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (evs[i].events & EPOLLIN) {
				ssize_t r = read(c->fd, c->in + c->in_len, IN_CAP - c->in_len);
				if (r == 0) {
					fprintf(stderr,
					        "policy_load: server closed a connection\n");
					return 1;
				}
				if (r < 0 && errno != EAGAIN && errno != EINTR) {
					perror("policy_load: read");
					return 1;
				}
				if (r > 0) {
					c->in_len += (size_t)r;
					unsigned long got = take_answers(c);
					answers += got;
					for (unsigned long k = 0; k < got; k++)
						add_request(c);
				}
			}
			int fr = flush_out(c);
			if (fr < 0) {
				perror("policy_load: write");
				return 1;
			}
			int want = fr == 1;
			if (want != c->want_out) {
				struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0),
				                         .data.ptr = c};
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				c->want_out = want;
			}
		}
	}
	double dt = now_s() - t0;
	printf("answers %lu in %.2f s: %.0f/s (dunno %lu, other %lu; %d connections, %d in flight "
	       "each)\n",
	       answers, dt, (double)answers / dt, dunno, other, nconn, depth);
	for (int i = 0; i < nconn; i++) {
		close(conns[i].fd);
		free(conns[i].out);
	}
	free(conns);
	close(ep);
	return answers ? 0 : 1;
}
