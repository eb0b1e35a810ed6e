/*
 * Unit tests for src/auth/dovecot, src/auth/ldapauth and src/auth/authbe:
 * the Dovecot reply parser and tab-unescaping, the client against a scripted
 * server on a unix socket (handshake, OK with Dovecot's name, FAIL, temp,
 * disabled, CONT, replies for other ids, a missing PLAIN, a silent server
 * and its timeout, a restart between checks), RFC 4515 escaping and the
 * filter template, and the [auth] backends option. The real Dovecot and
 * slapd are in tests/integration/test_auth_backends.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/authbe.h"
#include "auth/dovecot.h"
#include "auth/ldapauth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int parse(const char *line, struct dovecot_reply *r)
{
	return dovecot_reply_parse(line, strlen(line), r);
}

static void test_reply_parse(void **state)
{
	struct dovecot_reply r;
	assert_int_equal(parse("VERSION\t1\t2", &r), 0);
	assert_int_equal(r.kind, DOVECOT_R_VERSION);
	assert_int_equal(r.major, 1);
	assert_int_equal(r.minor, 2);
	assert_int_equal(parse("MECH\tPLAIN\tplaintext", &r), 0);
	assert_int_equal(r.kind, DOVECOT_R_MECH);
	assert_string_equal(r.mech, "PLAIN");
	assert_int_equal(parse("DONE", &r), 0);
	assert_int_equal(r.kind, DOVECOT_R_DONE);
	assert_int_equal(parse("COOKIE\t32798ac8", &r), 0);
	assert_int_equal(r.kind, DOVECOT_R_OTHER);
	assert_int_equal(parse("SOMETHING-NEW\tx", &r), 0);
	assert_int_equal(r.kind, DOVECOT_R_OTHER);

	/* what Dovecot 2.3 sends: its own name (lower-cased), the given one after */
	assert_int_equal(parse("OK\t7\tuser=sam@corp.test\toriginal_user=SAM@corp.test", &r), 0);
	assert_int_equal(r.kind, DOVECOT_R_OK);
	assert_int_equal(r.id, 7);
	assert_true(r.has_user);
	assert_string_equal(r.user, "sam@corp.test");
	assert_int_equal(parse("FAIL\t8\tuser=sam@corp.test", &r), 0);
	assert_int_equal(r.kind, DOVECOT_R_FAIL);
	assert_false(r.temp);
	assert_false(r.disabled);
	assert_int_equal(parse("FAIL\t9\ttemp\treason=passdb\001tdown", &r), 0);
	assert_true(r.temp);
	assert_string_equal(r.reason, "passdb\\x09down"); /* unescaped, then sanitised */
	assert_int_equal(parse("FAIL\t9\tcode=temp_fail", &r), 0);
	assert_true(r.temp);
	assert_int_equal(parse("FAIL\t9\tcode=user_disabled\tuser=x", &r), 0);
	assert_true(r.disabled);
	assert_false(r.temp);
	assert_string_equal(r.code, "user_disabled");
	assert_int_equal(parse("CONT\t3\t", &r), 0);
	assert_int_equal(r.kind, DOVECOT_R_CONT);
	assert_int_equal(r.id, 3);
	/* a user name escaped: \001 1 is \001 itself, refused as a control character */
	assert_int_equal(parse("OK\t1\tuser=a\001tb", &r), -1);
	assert_int_equal(parse("OK\t1\tuser=a\0011b", &r), -1);
	assert_int_equal(parse("OK\t1\tuser=a\001@b", &r), 0);
	assert_string_equal(r.user, "a@b");
	/* malformed */
	assert_int_equal(parse("VERSION\t1", &r), -1);
	assert_int_equal(parse("VERSION\tx\t2", &r), -1);
	assert_int_equal(parse("MECH", &r), -1);
	assert_int_equal(parse("OK", &r), -1);
	assert_int_equal(parse("OK\t", &r), -1);
	assert_int_equal(parse("OK\t-1", &r), -1);
	assert_int_equal(parse("FAIL\t99999999999", &r), -1);
	assert_int_equal(parse("OK\t1\tuser=a\0010b", &r), -1); /* a NUL */
	assert_int_equal(parse("OK\t1\tuser=ab\001", &r), -1);  /* a dangling escape */
	char big[DOVECOT_NAME_MAX + 32];
	memset(big, 'a', sizeof big);
	memcpy(big, "OK\t1\tuser=", 10);
	big[sizeof big - 1] = '\0';
	assert_int_equal(parse(big, &r), -1); /* a name too long */
}

static void test_unescape(void **state)
{
	char out[16];
	assert_int_equal(dovecot_unescape("a\001tb\001nc\001ld", 10, out, sizeof out), 0);
	assert_string_equal(out, "a\tb\nc\nd");
	assert_int_equal(dovecot_unescape("\001r\0011", 4, out, sizeof out), 0);
	assert_string_equal(out, "\r\001");
	assert_int_equal(dovecot_unescape("0123456789abcdef", 16, out, sizeof out), -1);
	assert_int_equal(dovecot_unescape("0123456789abcde", 15, out, sizeof out), 0);
	assert_int_equal(dovecot_unescape("", 0, out, 0), -1);
}

/* ---- a scripted Dovecot ---- */

struct fake {
	char path[108];
	int lfd;
	pthread_t th;
	const char *hello;      /* the server's handshake */
	const char *answer;     /* sent after the AUTH line; %u is replaced by its id */
	const char *after_cont; /* sent after a CONT from the client */
	bool silent;            /* answer nothing to the AUTH */
	int conns;              /* connections to serve */
	char got[2048];         /* the last AUTH line */
	char got_cpid[64];
};

static ssize_t fake_line(int fd, char *buf, size_t size)
{
	size_t n = 0;
	while (n + 1 < size) {
		ssize_t r = read(fd, buf + n, 1);
		if (r <= 0)
			return -1;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return (ssize_t)n;
}

static void fake_send_answer(int fd, const char *tmpl, const char *id)
{
	char out[512];
	size_t o = 0;
	for (const char *p = tmpl; *p && o + 16 < sizeof out; p++) {
		if (p[0] == '%' && p[1] == 'u') {
			o += (size_t)snprintf(out + o, sizeof out - o, "%s", id);
			p++;
		} else {
			out[o++] = *p;
		}
	}
	if (write(fd, out, o) != (ssize_t)o)
		return; /* the client went: its side of the test says so */
}

/* The server thread (no cmocka asserts here: they belong to the test's thread). */
static void *fake_run(void *arg)
{
	struct fake *f = arg;
	for (int i = 0; i < f->conns; i++) {
		int fd = accept(f->lfd, NULL, NULL);
		if (fd < 0)
			return NULL;
		char line[2048];
		/* the client's VERSION and CPID */
		if (fake_line(fd, line, sizeof line) < 0 || fake_line(fd, line, sizeof line) < 0) {
			close(fd);
			continue;
		}
		snprintf(f->got_cpid, sizeof f->got_cpid, "%.60s", line);
		if (write(fd, f->hello, strlen(f->hello)) != (ssize_t)strlen(f->hello)) {
			close(fd);
			continue;
		}
		while (fake_line(fd, line, sizeof line) >= 0) {
			char id[16] = "0";
			const char *t = strchr(line, '\t');
			if (t)
				snprintf(id, sizeof id, "%.*s", (int)strcspn(t + 1, "\t"), t + 1);
			if (strncmp(line, "CONT\t", 5) == 0) {
				fake_send_answer(fd, f->after_cont, id);
				continue;
			}
			snprintf(f->got, sizeof f->got, "%s", line);
			if (!f->silent)
				fake_send_answer(fd, f->answer, id);
			if (f->conns > 1)
				break; /* the server "restarts": the next check must reconnect */
		}
		close(fd);
	}
	return NULL;
}

static void fake_start(struct fake *f)
{
	snprintf(f->path, sizeof f->path, "/tmp/rg-test-dovecot-%d-%p.sock", (int)getpid(),
	         (void *)f);
	unlink(f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", f->path);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(f->lfd, 4), 0);
	if (f->conns == 0)
		f->conns = 1;
	assert_int_equal(pthread_create(&f->th, NULL, fake_run, f), 0);
}

static void fake_stop(struct fake *f)
{
	dovecot_thread_end(); /* the client's kept connection: the server's read ends */
	shutdown(f->lfd, SHUT_RDWR);
	pthread_join(f->th, NULL);
	close(f->lfd);
	unlink(f->path);
}

#define HELLO                                                                                      \
	"VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\nSPID\t1\nCUID\t1\nDONE\n"

static enum dovecot_result check(struct fake *f, const char *user, const char *pw, char *canon,
                                 char *why, uint64_t timeout_ms)
{
	return dovecot_auth_plain(f->path, "smtp", timeout_ms, user, pw, strlen(pw), "192.0.2.7",
	                          canon, 64, why, 256);
}

static void test_client_ok_and_request(void **state)
{
	struct fake f = {.hello = HELLO, .answer = "OK\t%u\tuser=sam@corp.test\n"};
	fake_start(&f);
	char canon[64], why[256];
	assert_int_equal(check(&f, "SAM@Corp.Test", "pw", canon, why, 5000), DOVECOT_OK);
	assert_string_equal(canon, "sam@corp.test");
	/* AUTH id PLAIN service=smtp secured no-penalty nologin rip=... resp=base64("\0user\0pw")
	 */
	assert_string_equal(f.got, "AUTH\t1\tPLAIN\tservice=smtp\tsecured\tno-penalty\tnologin\t"
	                           "rip=192.0.2.7\tresp=AFNBTUBDb3JwLlRlc3QAcHc=");
	assert_true(strncmp(f.got_cpid, "CPID\t", 5) == 0 && f.got_cpid[5] >= '1');
	fake_stop(&f);
}

static void test_client_fail_temp_disabled(void **state)
{
	static const struct {
		const char *answer;
		enum dovecot_result want;
		const char *why;
	} cases[] = {
	    {"FAIL\t%u\tuser=sam\n", DOVECOT_FAIL, "authentication failed"},
	    {"FAIL\t%u\ttemp\treason=ldap down\n", DOVECOT_TEMP, "temporary failure: ldap down"},
	    {"FAIL\t%u\tcode=temp_fail\n", DOVECOT_TEMP, "temporary failure"},
	    {"FAIL\t%u\tcode=user_disabled\n", DOVECOT_DISABLED, "account disabled"},
	    /* replies for other requests are skipped; an OK without user= keeps the login name */
	    {"OK\t999\tuser=mallory\nFAIL\t998\nOK\t%u\n", DOVECOT_OK, ""},
	    {"OK\t%u\tuser=\001tbad\n", DOVECOT_TEMP, "malformed reply"},
	    {"BOGUS\nOK\tnot-a-number\n", DOVECOT_TEMP, "malformed reply"},
	    /* a CONT gets the response again; then the answer */
	    {"CONT\t%u\t\n", DOVECOT_OK, ""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct fake f = {.hello = HELLO,
		                 .answer = cases[i].answer,
		                 .after_cont = "OK\t%u\tuser=contd\n"};
		fake_start(&f);
		char canon[64] = "", why[256];
		enum dovecot_result r = check(&f, "sam", "pw", canon, why, 5000);
		assert_int_equal(r, cases[i].want);
		assert_non_null(strstr(why, cases[i].why));
		if (i == 4)
			assert_string_equal(canon, "sam");
		if (i == 7)
			assert_string_equal(canon, "contd");
		fake_stop(&f);
	}
}

static void test_client_handshake_errors(void **state)
{
	static const struct {
		const char *hello, *why;
	} cases[] = {
	    {"VERSION\t1\t2\nMECH\tLOGIN\nDONE\n", "no PLAIN"},
	    {"VERSION\t2\t0\nMECH\tPLAIN\nDONE\n", "protocol version 2"},
	    {"MECH\tPLAIN\nDONE\n", "without VERSION"},
	    {"VERSION\t1\t2\nOK\t1\nDONE\n", "unexpected"},
	    {"VERSION\t1\nDONE\n", "malformed"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct fake f = {.hello = cases[i].hello, .answer = "OK\t%u\n"};
		fake_start(&f);
		char canon[64], why[256];
		assert_int_equal(check(&f, "sam", "pw", canon, why, 5000), DOVECOT_TEMP);
		assert_non_null(strstr(why, cases[i].why));
		fake_stop(&f);
	}
	char canon[64], why[256];
	struct fake none = {.hello = HELLO};
	snprintf(none.path, sizeof none.path, "/tmp/rg-test-dovecot-none-%d.sock", (int)getpid());
	assert_int_equal(check(&none, "sam", "pw", canon, why, 5000), DOVECOT_TEMP);
	assert_non_null(strstr(why, "connect"));
	/* no NUL in a PLAIN password, and no empty user */
	assert_int_equal(dovecot_auth_plain(none.path, "smtp", 100, "sam", "a\0b", 3, "", canon,
	                                    sizeof canon, why, sizeof why),
	                 DOVECOT_FAIL);
	assert_int_equal(dovecot_auth_plain(none.path, "smtp", 100, "", "pw", 2, "", canon,
	                                    sizeof canon, why, sizeof why),
	                 DOVECOT_FAIL);
}

static void test_client_timeout(void **state)
{
	struct fake f = {.hello = HELLO, .silent = true};
	fake_start(&f);
	char canon[64], why[256];
	assert_int_equal(check(&f, "sam", "pw", canon, why, 200), DOVECOT_TEMP);
	assert_string_equal(why, "timed out");
	fake_stop(&f);
}

/* The connection is kept between checks; a server that closed it meanwhile
 * (a Dovecot restart) costs nothing: the client connects again. */
static void test_client_reconnects(void **state)
{
	struct fake f = {.hello = HELLO, .answer = "OK\t%u\tuser=sam\n", .conns = 2};
	fake_start(&f);
	char canon[64], why[256];
	assert_int_equal(check(&f, "sam", "pw", canon, why, 5000), DOVECOT_OK);
	usleep(50000); /* the server has closed its end */
	assert_int_equal(check(&f, "sam", "pw", canon, why, 5000), DOVECOT_OK);
	assert_string_equal(why, "");
	fake_stop(&f);
}

/* ---- LDAP ---- */

static void test_ldap_escape(void **state)
{
	char out[64];
	/* RFC 4515 section 3's examples and the rest of the specials */
	assert_int_equal(
	    ldapauth_escape("Parens R Us (for all your parenthetical needs)", 46, out, 50),
	    -1); /* 46 characters, two escapes: 50 and the NUL */
	char big[128];
	assert_int_equal(
	    ldapauth_escape("Parens R Us (for all your parenthetical needs)", 46, big, sizeof big),
	    0);
	assert_string_equal(big, "Parens R Us \\28for all your parenthetical needs\\29");
	assert_int_equal(ldapauth_escape("*", 1, out, sizeof out), 0);
	assert_string_equal(out, "\\2a");
	assert_int_equal(ldapauth_escape("C:\\MyFile", 9, out, sizeof out), 0);
	assert_string_equal(out, "C:\\5cMyFile");
	assert_int_equal(ldapauth_escape("a\0b\x01\x7f", 5, out, sizeof out), 0);
	assert_string_equal(out, "a\\00b\\01\\7f");
	assert_int_equal(ldapauth_escape("Lu\xc4\x8di\xc4\x87", 7, out, sizeof out), 0);
	assert_string_equal(out, "Lu\xc4\x8di\xc4\x87"); /* UTF-8 stays */
	assert_int_equal(ldapauth_escape("abc", 3, out, 4), 0);
	assert_int_equal(ldapauth_escape("abc", 3, out, 3), -1);
	assert_int_equal(ldapauth_escape("*", 1, out, 3), -1);
}

static void test_ldap_filter(void **state)
{
	char out[256];
	assert_int_equal(ldapauth_filter("(|(uid=%u)(userPrincipalName=%u)(sAMAccountName=%n))",
	                                 "sam@corp.test", out, sizeof out),
	                 0);
	assert_string_equal(
	    out, "(|(uid=sam@corp.test)(userPrincipalName=sam@corp.test)(sAMAccountName=sam))");
	/* an injection attempt stays a value */
	assert_int_equal(ldapauth_filter("(uid=%u)", "*)(uid=*", out, sizeof out), 0);
	assert_string_equal(out, "(uid=\\2a\\29\\28uid=\\2a)");
	assert_int_equal(
	    ldapauth_filter("(&(uid=%n)(dc=%d)(x=100%%))", "a(b@x.test", out, sizeof out), 0);
	assert_string_equal(out, "(&(uid=a\\28b)(dc=x.test)(x=100%))");
	assert_int_equal(ldapauth_filter("(uid=%n)(d=%d)", "plain", out, sizeof out), 0);
	assert_string_equal(out, "(uid=plain)(d=)");
	assert_int_equal(ldapauth_filter("(uid=%x)", "sam", out, sizeof out), -1);
	assert_int_equal(ldapauth_filter("(uid=%", "sam", out, sizeof out), -1);
	assert_int_equal(ldapauth_filter("(uid=%u)", "sam", out, 8), -1);
}

/* An empty password is an anonymous bind to LDAP: refused before any connection. */
static void test_ldap_empty_password(void **state)
{
	struct ldapauth_conf c = {.uri = "ldap://127.0.0.1:1/",
	                          .ca_file = "",
	                          .base = "dc=x",
	                          .filter = "(uid=%u)",
	                          .bind_dn = "",
	                          .bind_pw = "",
	                          .name_attr = "",
	                          .timeout_ms = 100};
	char canon[64], why[128];
	assert_int_equal(ldapauth_check(&c, "sam", "", 0, canon, sizeof canon, why, sizeof why),
	                 LDAPAUTH_BAD);
	assert_string_equal(why, "empty password");
	/* nothing listens on port 1: no answer, not a wrong password */
	assert_int_equal(ldapauth_check(&c, "sam", "pw", 2, canon, sizeof canon, why, sizeof why),
	                 LDAPAUTH_TEMP);
}

static void test_config(void **state)
{
	struct authbe_config c;
	char err[200];
	memset(&c, 0, sizeof c);
	snprintf(c.backends, sizeof c.backends, "file");
	assert_int_equal(authbe_config_finish(&c, err, sizeof err), 0);
	assert_int_equal(c.n, 1);
	snprintf(c.backends, sizeof c.backends, "ldap, file");
	assert_int_equal(authbe_config_finish(&c, err, sizeof err), -1);
	assert_non_null(strstr(err, "ldap_uri"));
	snprintf(c.ldap_uri, sizeof c.ldap_uri, "ldaps://dc1.corp.test");
	snprintf(c.ldap_base, sizeof c.ldap_base, "dc=corp,dc=test");
	snprintf(c.ldap_filter, sizeof c.ldap_filter, "(sAMAccountName=%%n)");
	assert_int_equal(authbe_config_finish(&c, err, sizeof err), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.order[0], AUTHBE_LDAP);
	assert_int_equal(c.order[1], AUTHBE_FILE);
	snprintf(c.ldap_filter, sizeof c.ldap_filter, "(uid=sam)");
	assert_int_equal(authbe_config_finish(&c, err, sizeof err), -1);
	snprintf(c.ldap_filter, sizeof c.ldap_filter, "(uid=%%u)");
	snprintf(c.backends, sizeof c.backends, "file dovecot");
	assert_int_equal(authbe_config_finish(&c, err, sizeof err), -1);
	assert_non_null(strstr(err, "dovecot_socket"));
	snprintf(c.dovecot_socket, sizeof c.dovecot_socket, "/run/dovecot/auth-client");
	assert_int_equal(authbe_config_finish(&c, err, sizeof err), 0);
	snprintf(c.backends, sizeof c.backends, "file,dovecot,ldap,file");
	assert_int_equal(authbe_config_finish(&c, err, sizeof err), -1);
	snprintf(c.backends, sizeof c.backends, "dovecot,dovecot");
	assert_int_equal(authbe_config_finish(&c, err, sizeof err), -1);
	snprintf(c.backends, sizeof c.backends, " ");
	assert_int_equal(authbe_config_finish(&c, err, sizeof err), -1);
	assert_string_equal(authbe_kind_name(AUTHBE_DOVECOT), "dovecot");
}

/* The chain: a backend that does not know the user passes on; one that
 * cannot answer ends it (the later ones are not asked). */
static void test_chain(void **state)
{
	static struct authbe_request req;
	struct authbe_result res;
	memset(&req, 0, sizeof req);
	char err[200];
	snprintf(req.conf.backends, sizeof req.conf.backends, "ldap, dovecot");
	snprintf(req.conf.ldap_uri, sizeof req.conf.ldap_uri, "ldap://127.0.0.1:1/");
	snprintf(req.conf.ldap_base, sizeof req.conf.ldap_base, "dc=x");
	snprintf(req.conf.ldap_filter, sizeof req.conf.ldap_filter, "(uid=%%u)");
	req.conf.timeout_ms = 200;
	struct fake f = {.hello = HELLO, .answer = "OK\t%u\tuser=sam@corp.test\n"};
	fake_start(&f);
	snprintf(req.conf.dovecot_socket, sizeof req.conf.dovecot_socket, "%s", f.path);
	snprintf(req.conf.dovecot_service, sizeof req.conf.dovecot_service, "smtp");
	assert_int_equal(authbe_config_finish(&req.conf, err, sizeof err), 0);
	snprintf(req.user, sizeof req.user, "Sam");
	snprintf(req.pw, sizeof req.pw, "pw");
	req.pwlen = 2;
	authbe_check(&req, &res); /* LDAP is down: Dovecot is not asked */
	assert_int_equal(res.verdict, USERDB_UNAVAILABLE);
	assert_int_equal(res.backend, AUTHBE_LDAP);
	assert_string_equal(f.got, "");
	snprintf(req.conf.backends, sizeof req.conf.backends, "dovecot, ldap");
	assert_int_equal(authbe_config_finish(&req.conf, err, sizeof err), 0);
	authbe_check(&req, &res);
	assert_int_equal(res.verdict, USERDB_OK);
	assert_int_equal(res.backend, AUTHBE_DOVECOT);
	assert_string_equal(res.name, "sam@corp.test");
	authbe_thread_end();
	fake_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reply_parse),
	    cmocka_unit_test(test_unescape),
	    cmocka_unit_test(test_client_ok_and_request),
	    cmocka_unit_test(test_client_fail_temp_disabled),
	    cmocka_unit_test(test_client_handshake_errors),
	    cmocka_unit_test(test_client_timeout),
	    cmocka_unit_test(test_client_reconnects),
	    cmocka_unit_test(test_ldap_escape),
	    cmocka_unit_test(test_ldap_filter),
	    cmocka_unit_test(test_ldap_empty_password),
	    cmocka_unit_test(test_config),
	    cmocka_unit_test(test_chain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
