/*
 * spawn - posix_spawn with captured output and a time limit; see spawn.h.
 */
#include "core/spawn.h"

#include "core/clock.h"
#include "core/str.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int spawn_split(char *cmd, char **argv, int max)
{
	int n = str_split(cmd, " \t", argv, max - 1);
	if (n <= 0)
		return -1;
	argv[n] = NULL;
	return n;
}

static int spawn_start(char *const argv[], int out[2], int errp[2], pid_t *pid, char *err,
                       size_t errlen)
{
	if (pipe2(out, O_CLOEXEC) != 0) {
		str_format_trunc(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	if (pipe2(errp, O_CLOEXEC) != 0) {
		str_format_trunc(err, errlen, "pipe: %s", strerror(errno));
		close(out[0]);
		close(out[1]);
		return -1;
	}
	posix_spawn_file_actions_t fa;
	int e = posix_spawn_file_actions_init(&fa);
	if (e == 0) {
		e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
		e = e ? e : posix_spawn_file_actions_adddup2(&fa, out[1], 1);
		e = e ? e : posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
		e = e ? e : posix_spawn_file_actions_addclosefrom_np(&fa, 3);
		e = e ? e : posix_spawnp(pid, argv[0], &fa, NULL, argv, environ);
		posix_spawn_file_actions_destroy(&fa);
	}
	close(out[1]);
	close(errp[1]);
	if (e != 0) {
		str_format_trunc(err, errlen, "cannot run %s: %s", argv[0], strerror(e));
		close(out[0]);
		close(errp[0]);
		return -1;
	}
	return 0;
}

/* Reads both pipes until both are closed or the deadline passes: 0, 1 when
 * the time ran out. */
static int spawn_collect(int out, int errfd, struct buf *b, bool *overflow, char *errtext,
                         size_t errtextlen, int64_t deadline_ms)
{
	size_t elen = 0;
	struct pollfd p[2] = {{.fd = out, .events = POLLIN}, {.fd = errfd, .events = POLLIN}};
	while (p[0].fd >= 0 || p[1].fd >= 0) {
		int64_t left = deadline_ms - clock_elapsed_us() / 1000;
		if (left <= 0)
			return 1;
		int n = poll(p, 2, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return 1;
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			char chunk[4096];
			ssize_t r = read(p[i].fd, chunk, sizeof chunk);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				p[i].fd = -1;
				continue;
			}
			if (i == 0 && !*overflow && buf_append(b, chunk, (size_t)r) != 0)
				*overflow = true;
			if (i == 1 && errtext && elen + 1 < errtextlen) {
				size_t k = (size_t)r < errtextlen - 1 - elen
				               ? (size_t)r
				               : errtextlen - 1 - elen;
				memcpy(errtext + elen, chunk, k);
				elen += k;
				errtext[elen] = '\0';
			}
		}
	}
	return 0;
}

int spawn_run(char *const argv[], struct buf *out, char *errtext, size_t errtextlen, int timeout_ms,
              char *err, size_t errlen)
{
	int o[2], e[2];
	pid_t pid;
	if (errtext && errtextlen)
		errtext[0] = '\0';
	if (spawn_start(argv, o, e, &pid, err, errlen) != 0)
		return -1;
	bool overflow = false;
	int64_t deadline = clock_elapsed_us() / 1000 + (timeout_ms > 0 ? timeout_ms : 10000);
	int late = spawn_collect(o[0], e[0], out, &overflow, errtext, errtextlen, deadline);
	close(o[0]);
	close(e[0]);
	int status = 0;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			str_format_trunc(err, errlen, "waitpid: %s", strerror(errno));
			return -1;
		}
		if (clock_elapsed_us() / 1000 >= deadline) { /* r == 0: still running */
			kill(pid, SIGKILL);
			(void)waitpid(pid, &status, 0);
			str_format_trunc(err, errlen,
			                 "%s did not finish within %d ms and was killed", argv[0],
			                 timeout_ms);
			return -1;
		}
		(void)poll(NULL, 0, 10);
	}
	if (late) {
		str_format_trunc(err, errlen, "%s did not finish within %d ms", argv[0],
		                 timeout_ms);
		return -1;
	}
	for (size_t n = errtext ? strlen(errtext) : 0;
	     n > 0 && (errtext[n - 1] == '\n' || errtext[n - 1] == '\r' || errtext[n - 1] == ' ');)
		errtext[--n] = '\0';
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !overflow)
		return 0;
	if (overflow)
		str_format_trunc(err, errlen, "%s printed more than %zu bytes", argv[0], out->max);
	else if (WIFEXITED(status))
		str_format_trunc(err, errlen, "%s exited with status %d%s%s", argv[0],
		                 WEXITSTATUS(status), errtext && errtext[0] ? ": " : "",
		                 errtext ? errtext : "");
	else
		str_format_trunc(err, errlen, "%s was killed by signal %d", argv[0],
		                 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return -1;
}
