/*
 * control: the JSON-lines server in a libevent loop, the blocking client in
 * a child process (so the loop can answer it). A request reaches the handler
 * and the reply comes back; garbage gets an error line; no socket is "no
 * server" (1), not an error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "admin/control.h"
#include "core/str.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int calls;

static json_t *handler(void *ctx, json_t *req)
{
	calls++;
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	if (cmd && strcmp(cmd, "echo") == 0)
		return json_pack("{s:b, s:O}", "ok", 1, "said", json_object_get(req, "text"));
	return NULL; /* the server answers "internal error" */
}

/* In the child: 0 when every answer is as expected. */
static int client(const char *path)
{
	char err[256];
	json_t *reply;
	json_t *req = json_pack("{s:s, s:s}", "cmd", "echo", "text", "h\xc3\xa9llo");
	if (control_call(path, req, 5000, &reply, err, sizeof err) != 0)
		return 1;
	json_decref(req);
	if (strcmp(json_string_value(json_object_get(reply, "said")), "h\xc3\xa9llo") != 0)
		return 2;
	json_decref(reply);
	req = json_pack("{s:s}", "cmd", "other");
	if (control_call(path, req, 5000, &reply, err, sizeof err) != 0)
		return 3;
	json_decref(req);
	if (!json_is_false(json_object_get(reply, "ok")) ||
	    strcmp(json_string_value(json_object_get(reply, "error")), "internal error") != 0)
		return 4;
	json_decref(reply);
	return 0;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	pid_t *pid = arg;
	int status;
	if (waitpid(*pid, &status, WNOHANG) == *pid) {
		*pid = WIFEXITED(status) ? -WEXITSTATUS(status) : -100;
	}
}

static void test_request_and_reply(void **state)
{
	char dir[] = "/tmp/rg-control-XXXXXX", path[128], err[256];
	assert_non_null(mkdtemp(dir));
	assert_int_equal(str_format(path, sizeof path, "%s/control.sock", dir), 0);
	json_t *reply = NULL;
	json_t *ping = json_pack("{s:s}", "cmd", "ping");
	assert_int_equal(control_call(path, ping, 1000, &reply, err, sizeof err), 1);

	struct event_base *base = event_base_new();
	struct control *c = control_new(base, path, handler, NULL, err, sizeof err);
	assert_non_null(c);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(client(path));
	struct timeval ms20 = {0, 20000};
	struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, &pid);
	event_add(tick, &ms20);
	int64_t loops = 0;
	while (pid > 0 && loops++ < 2000) {
		event_base_loopexit(base, &ms20);
		event_base_dispatch(base);
	}
	assert_int_equal(pid, 0); /* the child's exit status, negated */
	assert_int_equal(calls, 2);
	event_free(tick);
	control_free(c);
	event_base_free(base);
	assert_int_equal(access(path, F_OK), -1); /* removed */
	json_decref(ping);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_and_reply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
