/*
 * The hold queue through the web, in one process: a real spool (queue/) with
 * held messages, the web on an ephemeral loopback port inside a libevent
 * loop, and a client thread speaking HTTP to it: /api/holds lists them,
 * POST /api/holds/ID/release and /delete act on them (audited with the
 * actor), the Holds page and one message's page show them to a logged-in
 * admin, its Release and Delete buttons need the CSRF token and a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "admin/metrics.h"
#include "admin/series.h"
#include "admin/web.h"
#include "auth/passwd.h"
#include "auth/userdb.h"
#include "core/clock.h"
#include "core/hostport.h"
#include "core/str.h"
#include "policy/engine.h"
#include "queue/queue.h"
#include "enginetest.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TOKEN "unit-test-token-0123456789"

static char tmpdir[64];
static unsigned port;
static atomic_int client_done;
static char ids[2][QUEUE_ID_MAX];
static int failures;
static char failure_text[4096];

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			failures++;                                                                \
			snprintf(failure_text + strlen(failure_text),                              \
			         sizeof failure_text - strlen(failure_text), "line %d: %s\n",      \
			         __LINE__, #cond);                                                 \
		}                                                                                  \
	} while (0)

/* One HTTP/1.0 exchange; the whole response (headers and body) into out. */
static int http(const char *method, const char *path, const char *headers, const char *body,
                char *out, size_t size)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
		return -1;
	char req[8192];
	int n = snprintf(
	    req, sizeof req, "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n%sContent-Length: %zu\r\n\r\n%s",
	    method, path, headers ? headers : "", body ? strlen(body) : 0, body ? body : "");
	if (write(fd, req, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	size_t got = 0;
	ssize_t r;
	while (got + 1 < size && (r = read(fd, out + got, size - 1 - got)) > 0)
		got += (size_t)r;
	out[got] = '\0';
	close(fd);
	/* "HTTP/1.1 200 OK": three digits after the first space */
	const char *sp = strchr(out, ' ');
	if (strncmp(out, "HTTP/1.", 7) != 0 || !sp || strspn(sp + 1, "0123456789") < 3)
		return -1;
	return (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
}

/* The value of cookie name from the Set-Cookie headers of resp. */
static void cookie_of(const char *resp, const char *name, char *out, size_t size)
{
	char key[64];
	snprintf(key, sizeof key, "Set-Cookie: %s=", name);
	const char *p = strstr(resp, key);
	out[0] = '\0';
	if (p) {
		p += strlen(key);
		size_t n = strcspn(p, ";\r\n");
		snprintf(out, size, "%.*s", (int)n, p);
	}
}

static void csrf_of(const char *page, char *out, size_t size)
{
	const char *p = strstr(page, "name=\"csrf\" value=\"");
	out[0] = '\0';
	if (p)
		snprintf(out, size, "%.64s", p + strlen("name=\"csrf\" value=\""));
}

static void *client(void *arg)
{
	static char resp[1 << 20];
	char hdr[512], body[512], login_cookie[80], session[80], csrf[80], path[128];
	const char *bearer = "Authorization: Bearer " TOKEN "\r\n";
	/* the API: both held messages listed, nothing without the token */
	CHECK(http("GET", "/api/holds", NULL, NULL, resp, sizeof resp) == 401);
	CHECK(strstr(resp, ids[0]) == NULL);
	CHECK(http("GET", "/api/holds", bearer, NULL, resp, sizeof resp) == 200);
	CHECK(strstr(resp, ids[0]) && strstr(resp, ids[1]));
	CHECK(strstr(resp, "\"reason\":\"compromise score 60\""));
	CHECK(strstr(resp, "\"auth_user\":\"alice\""));
	snprintf(path, sizeof path, "/api/holds/%s/release", ids[0]);
	CHECK(http("POST", path, NULL, "{}", resp, sizeof resp) == 401);
	CHECK(http("POST", path, bearer, "{\"reason\": \"checked by hand\"}", resp, sizeof resp) ==
	      200);
	CHECK(strstr(resp, "\"result\":\"released\""));
	CHECK(http("POST", path, bearer, "", resp, sizeof resp) == 409); /* not held any more */
	CHECK(http("POST", "/api/holds/xyz/release", bearer, "", resp, sizeof resp) == 404);
	CHECK(http("GET", "/api/holds", bearer, NULL, resp, sizeof resp) == 200);
	CHECK(strstr(resp, ids[0]) == NULL && strstr(resp, ids[1]));
	CHECK(http("GET", "/api/status", bearer, NULL, resp, sizeof resp) == 200);
	CHECK(strstr(resp, "\"holds\":{\"count\":1,\"by_reason\":{\"manual\":1}}"));
	/* the page: log in */
	CHECK(http("GET", "/login", NULL, NULL, resp, sizeof resp) == 200);
	cookie_of(resp, "rg_login", login_cookie, sizeof login_cookie);
	csrf_of(resp, csrf, sizeof csrf);
	snprintf(hdr, sizeof hdr, "Cookie: rg_login=%s\r\n", login_cookie);
	snprintf(body, sizeof body, "csrf=%s&user=boss&password=Unit-Test-Pw-39%%21", csrf);
	CHECK(http("POST", "/login", hdr, body, resp, sizeof resp) == 303);
	cookie_of(resp, "rg_session", session, sizeof session);
	CHECK(strlen(session) == 64);
	snprintf(hdr, sizeof hdr, "Cookie: rg_session=%s\r\n", session);
	CHECK(http("GET", "/holds", hdr, NULL, resp, sizeof resp) == 200);
	CHECK(strstr(resp, ids[1]) && !strstr(resp, ids[0]));
	CHECK(strstr(resp, "bob@example.net"));
	csrf_of(resp, csrf, sizeof csrf);
	snprintf(path, sizeof path, "/hold?id=%s", ids[1]);
	CHECK(http("GET", path, hdr, NULL, resp, sizeof resp) == 200);
	CHECK(strstr(resp, "Subject: buy &lt;now&gt;"));
	CHECK(strstr(resp, "<script>") == NULL);
	CHECK(http("GET", "/account?id=alice", hdr, NULL, resp, sizeof resp) == 200);
	CHECK(strstr(resp, ids[1]));
	/* delete: needs the token and a reason */
	snprintf(path, sizeof path, "/holds/%s/delete", ids[1]);
	CHECK(http("POST", path, hdr, "reason=spam", resp, sizeof resp) == 403);
	snprintf(body, sizeof body, "csrf=%s&reason=", csrf);
	CHECK(http("POST", path, hdr, body, resp, sizeof resp) == 400);
	snprintf(body, sizeof body, "csrf=%s&reason=spam+from+a+hijacked+account", csrf);
	CHECK(http("POST", path, hdr, body, resp, sizeof resp) == 303);
	CHECK(strstr(resp, "Location: /holds?done=Deleted"));
	CHECK(http("GET", "/holds", hdr, NULL, resp, sizeof resp) == 200);
	CHECK(strstr(resp, "no-holds"));
	atomic_store(&client_done, 1);
	return NULL;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	if (atomic_load(&client_done))
		event_base_loopbreak(arg);
}

static void on_commit(void *arg, int status, const char *id)
{
	if (status == 0)
		assert_int_equal(str_copy(arg, QUEUE_ID_MAX, id), 0);
}

static void hold_one(struct queue *q, char *id, const char *content)
{
	struct queue_rcpt rc = {0};
	struct queue_envelope env;
	memset(&env, 0, sizeof env);
	assert_int_equal(str_copy(env.sender, sizeof env.sender, "alice@corp.test"), 0);
	assert_int_equal(str_copy(env.client_ip, sizeof env.client_ip, "192.0.2.7"), 0);
	assert_int_equal(str_copy(env.auth_user, sizeof env.auth_user, "alice"), 0);
	assert_int_equal(str_copy(env.protocol, sizeof env.protocol, "ESMTPSA"), 0);
	assert_int_equal(str_copy(env.hold_reason, sizeof env.hold_reason, "compromise score 60"),
	                 0);
	assert_int_equal(str_copy(rc.addr, sizeof rc.addr, "bob@example.net"), 0);
	env.nrcpt = 1;
	env.rcpt = &rc;
	struct queue_msg *m = queue_msg_new(q);
	assert_non_null(m);
	assert_int_equal(queue_msg_write(m, content, strlen(content)), 0);
	queue_msg_commit(m, &env, on_commit, id);
	assert_true(id[0] != '\0');
}

static void test_holds_through_the_web(void **state)
{
	assert_int_equal(str_copy(tmpdir, sizeof tmpdir, "/tmp/rg-web-holds-XXXXXX"), 0);
	assert_non_null(mkdtemp(tmpdir));
	char spool[128], users[128], err[256];
	snprintf(spool, sizeof spool, "%s/spool", tmpdir);
	snprintf(users, sizeof users, "%s/users", tmpdir);
	/* an admin account */
	struct passwd_cost cost;
	assert_int_equal(passwd_init(), 0);
	assert_int_equal(passwd_cost_parse("min", &cost, err, sizeof err), 0);
	char hash[PASSWD_HASH_MAX];
	assert_int_equal(passwd_hash(&cost, "Unit-Test-Pw-39!", 16, hash, sizeof hash), 0);
	struct userdb db;
	assert_int_equal(userdb_init(&db, users), 0);
	assert_int_equal(userdb_add(&db, "boss", hash, USERDB_FLAG_ADMIN, err, sizeof err), 0);
	assert_int_equal(userdb_save(&db, err, sizeof err), 0);
	userdb_free(&db);
	/* two held messages, written by a process with no loop */
	struct queue_opts qo = {.fsync = false};
	struct queue *q;
	assert_int_equal(queue_open(&q, spool, NULL, &qo, err, sizeof err), 0);
	hold_one(q, ids[0], "Subject: hello\r\n\r\nhi\r\n");
	hold_one(q, ids[1], "Subject: buy <now>\r\n\r\n<script>alert(1)</script>\r\n");
	queue_close(q);
	/* the server side */
	struct event_base *base = event_base_new();
	assert_int_equal(queue_open(&q, spool, base, &qo, err, sizeof err), 0);
	struct pol_config *pc;
	struct store *st;
	struct pol_engine *e = enginetest_new(&pc, &st);
	struct metrics *m = metrics_new();
	struct series *se = series_new();
	struct hostport hp; /* 127.0.0.1, port 0: the kernel picks one */
	memset(&hp, 0, sizeof hp);
	struct sockaddr_in *sin = (struct sockaddr_in *)&hp.ss;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	hp.len = sizeof *sin;
	assert_int_equal(str_copy(hp.text, sizeof hp.text, "127.0.0.1:0"), 0);
	struct web_options wo = {
	    .addr = &hp, .api_token = TOKEN, .users_file = users, .monitor_state = "/nonexistent"};
	struct web_context wc = {
	    .metrics = m, .engine = e, .store = st, .policy = pc, .series = se, .queue = q};
	struct web *w = web_new(base, &wo, &wc, err, sizeof err);
	assert_non_null(w);
	port = web_port(w);
	assert_true(port > 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, client, NULL), 0);
	struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, base);
	struct timeval tv = {0, 20000};
	event_add(tick, &tv);
	struct timeval limit = {30, 0};
	event_base_loopexit(base, &limit);
	event_base_dispatch(base);
	pthread_join(th, NULL);
	if (failures)
		fail_msg("%s", failure_text);
	assert_int_equal(atomic_load(&client_done), 1);
	event_free(tick);
	web_free(w);
	queue_close(q);
	series_free(se);
	metrics_free(m);
	enginetest_free(e, pc, st);
	event_base_free(base);
	/* the spool's audit log names the actors */
	char audit[160], line[2048], all[8192] = "";
	snprintf(audit, sizeof audit, "%s/audit.log", spool);
	FILE *f = fopen(audit, "r");
	assert_non_null(f);
	while (fgets(line, sizeof line, f))
		assert_int_equal(str_append(all, sizeof all, line), 0);
	fclose(f);
	assert_non_null(strstr(all, "web:api-token"));
	assert_non_null(strstr(all, "web:boss"));
	assert_non_null(strstr(all, "spam from a hijacked account"));
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_holds_through_the_web),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
