/*
 * redis_server.h - a throw-away redis-server for unit tests: on a free
 * loopback port, no persistence, killed at the end. Header-only: included by
 * the tests that need it (tests/unit/test_policy_store.c, test_policy.c).
 *
 * redis_server_start() returns the port, 0 when redis-server is not installed
 * (the caller skips with a message), -1 when it would not start.
 */
#ifndef RG_TEST_REDIS_SERVER_H
#define RG_TEST_REDIS_SERVER_H

#include "core/str.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t redis_server_pid;

static const char *redis_server_path(void)
{
	static const char *const paths[] = {"/usr/bin/redis-server", "/usr/local/bin/redis-server",
	                                    "/usr/sbin/redis-server"};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

static int redis_server_free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
	socklen_t len = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		close(fd);
		return -1;
	}
	close(fd);
	return ntohs(sa.sin_port);
}

/* On port p (0: a free one). */
static int redis_server_start_on(int p)
{
	const char *bin = redis_server_path();
	char port[16];
	if (!bin)
		return 0;
	if (p == 0)
		p = redis_server_free_port();
	if (p <= 0)
		return -1;
	assert_int_equal(str_format(port, sizeof port, "%d", p), 0);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execl(bin, bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly",
		      "no", "--daemonize", "no", (char *)NULL);
		_exit(127);
	}
	redis_server_pid = pid;
	for (int i = 0; i < 200; i++) {
		struct timeval tv = {1, 0};
		redisContext *c = redisConnectWithTimeout("127.0.0.1", p, tv);
		if (c && !c->err) {
			redisReply *r = redisCommand(c, "PING");
			int ok = r && r->type == REDIS_REPLY_STATUS;
			freeReplyObject(r);
			redisFree(c);
			if (ok)
				return p;
		} else if (c) {
			redisFree(c);
		}
		usleep(25000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	redis_server_pid = 0;
	return -1;
}

static int redis_server_start(void)
{
	return redis_server_start_on(0);
}

static void redis_server_stop(void)
{
	if (redis_server_pid > 0) {
		kill(redis_server_pid, SIGTERM);
		waitpid(redis_server_pid, NULL, 0);
	}
	redis_server_pid = 0;
}

#endif
