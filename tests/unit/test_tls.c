/*
 * Unit tests for src/net/tls: the client context builder (verification on
 * and off, the CA file or its errors, the protocol floor, wildcard rules)
 * and the per-session setup (SNI, the name or IP literal to verify), with
 * in-memory handshakes against the server context's self-signed
 * certificate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "net/tls.h"

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The server's self-signed certificate for name, written as a CA file. */
static SSL_CTX *server_for(const char *name, char *ca_path, size_t len)
{
	char err[300];
	SSL_CTX *srv = tls_server_ctx_new(NULL, NULL, name, err, sizeof err);
	assert_non_null(srv);
	snprintf(ca_path, len, "/tmp/test_tls_ca_%ld.pem", (long)getpid());
	FILE *f = fopen(ca_path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, SSL_CTX_get0_certificate(srv)), 1);
	assert_int_equal(fclose(f), 0);
	return srv;
}

/* A handshake over a BIO pair; returns the client's verify result, or -1
 * when the handshake failed. */
static long handshake(SSL_CTX *srv, SSL *cli)
{
	SSL *s = SSL_new(srv);
	assert_non_null(s);
	BIO *bc, *bs;
	assert_int_equal(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
	SSL_set_bio(cli, bc, bc);
	SSL_set_bio(s, bs, bs);
	SSL_set_connect_state(cli);
	SSL_set_accept_state(s);
	int cdone = 0, sdone = 0, failed = 0;
	for (int i = 0; i < 100 && !(cdone && sdone) && !failed; i++) {
		if (!cdone) {
			int r = SSL_do_handshake(cli);
			if (r == 1)
				cdone = 1;
			else if (SSL_get_error(cli, r) != SSL_ERROR_WANT_READ)
				failed = 1;
		}
		if (!sdone && !failed) {
			int r = SSL_do_handshake(s);
			if (r == 1)
				sdone = 1;
			else if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ)
				sdone = 1; /* the client's alert ends it */
		}
	}
	long vr = failed || !cdone ? -1 : SSL_get_verify_result(cli);
	if (failed && SSL_get_verify_result(cli) != X509_V_OK)
		vr = SSL_get_verify_result(cli);
	SSL_free(s);
	return vr;
}

static void test_ctx_verify_and_not(void **state)
{
	char err[300] = "";
	struct tls_client_opts o = {.verify = true};
	SSL_CTX *c = tls_client_ctx_new(&o, err, sizeof err);
	assert_non_null(c);
	assert_int_equal(SSL_CTX_get_verify_mode(c), SSL_VERIFY_PEER);
	assert_int_equal(SSL_CTX_get_min_proto_version(c), TLS1_2_VERSION);
	assert_int_equal(X509_VERIFY_PARAM_get_hostflags(SSL_CTX_get0_param(c)) &
	                     X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
	                 X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	tls_ctx_free(c);

	o = (struct tls_client_opts){
	    .verify = false, .min_version = TLS1_3_VERSION, .partial_wildcards = true};
	c = tls_client_ctx_new(&o, err, sizeof err);
	assert_non_null(c);
	assert_int_equal(SSL_CTX_get_verify_mode(c), SSL_VERIFY_NONE);
	assert_int_equal(SSL_CTX_get_min_proto_version(c), TLS1_3_VERSION);
	assert_int_equal(X509_VERIFY_PARAM_get_hostflags(SSL_CTX_get0_param(c)) &
	                     X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
	                 0);
	tls_ctx_free(c);
}

static void test_bad_ca_file(void **state)
{
	char err[300] = "";
	struct tls_client_opts o = {.verify = true, .ca_file = "/nonexistent/ca.pem"};
	assert_null(tls_client_ctx_new(&o, err, sizeof err));
	assert_non_null(strstr(err, "/nonexistent/ca.pem: cannot load"));

	char path[64];
	snprintf(path, sizeof path, "/tmp/test_tls_junk_%ld.pem", (long)getpid());
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("not a certificate\n", f);
	assert_int_equal(fclose(f), 0);
	err[0] = '\0';
	o.ca_file = path;
	assert_null(tls_client_ctx_new(&o, err, sizeof err));
	assert_non_null(strstr(err, "cannot load"));
	unlink(path);
}

static void test_ssl_setup(void **state)
{
	char err[300];
	struct tls_client_opts o = {.verify = false};
	SSL_CTX *c = tls_client_ctx_new(&o, err, sizeof err);
	assert_non_null(c);

	SSL *s = SSL_new(c);
	assert_int_equal(tls_client_ssl_setup(s, "mx.example.org", NULL), 0);
	assert_string_equal(SSL_get_servername(s, TLSEXT_NAMETYPE_host_name), "mx.example.org");
	assert_int_equal(SSL_get_verify_mode(s), SSL_VERIFY_NONE);
	assert_null(X509_VERIFY_PARAM_get0_host(SSL_get0_param(s), 0));
	SSL_free(s);

	s = SSL_new(c);
	assert_int_equal(tls_client_ssl_setup(s, "mx.example.org", "mx.example.org"), 0);
	assert_int_equal(SSL_get_verify_mode(s), SSL_VERIFY_PEER);
	assert_string_equal(X509_VERIFY_PARAM_get0_host(SSL_get0_param(s), 0), "mx.example.org");
	SSL_free(s);

	/* an IP literal is an IP address to verify, not a DNS name */
	s = SSL_new(c);
	assert_int_equal(tls_client_ssl_setup(s, NULL, "192.0.2.1"), 0);
	assert_null(SSL_get_servername(s, TLSEXT_NAMETYPE_host_name));
	char *ip = X509_VERIFY_PARAM_get1_ip_asc(SSL_get0_param(s));
	assert_non_null(ip);
	assert_string_equal(ip, "192.0.2.1");
	OPENSSL_free(ip);
	SSL_free(s);
	tls_ctx_free(c);
}

static void test_handshakes(void **state)
{
	char ca[64], err[300];
	SSL_CTX *srv = server_for("mx.test", ca, sizeof ca);
	struct tls_client_opts o = {.verify = true, .ca_file = ca};
	SSL_CTX *c = tls_client_ctx_new(&o, err, sizeof err);
	assert_non_null(c);

	SSL *s = SSL_new(c); /* the right name */
	assert_int_equal(tls_client_ssl_setup(s, "mx.test", "mx.test"), 0);
	assert_int_equal(handshake(srv, s), X509_V_OK);
	SSL_free(s);

	s = SSL_new(c); /* another name: refused */
	assert_int_equal(tls_client_ssl_setup(s, "other.test", "other.test"), 0);
	assert_int_equal(handshake(srv, s), X509_V_ERR_HOSTNAME_MISMATCH);
	SSL_free(s);
	tls_ctx_free(c);

	/* without the CA, a verifying context refuses the chain ... */
	o = (struct tls_client_opts){.verify = true, .ca_file = NULL};
	c = tls_client_ctx_new(&o, err, sizeof err);
	assert_non_null(c);
	s = SSL_new(c);
	assert_int_equal(tls_client_ssl_setup(s, "mx.test", "mx.test"), 0);
	long vr = handshake(srv, s);
	assert_true(vr != X509_V_OK);
	SSL_free(s);
	tls_ctx_free(c);

	/* ... and an opportunistic one completes (delivery's "may") */
	o = (struct tls_client_opts){.verify = false};
	c = tls_client_ctx_new(&o, err, sizeof err);
	assert_non_null(c);
	s = SSL_new(c);
	assert_int_equal(tls_client_ssl_setup(s, "mx.test", NULL), 0);
	vr = handshake(srv, s);
	assert_true(vr >= 0);
	SSL_free(s);
	tls_ctx_free(c);
	tls_ctx_free(srv);
	unlink(ca);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ctx_verify_and_not),
	    cmocka_unit_test(test_bad_ca_file),
	    cmocka_unit_test(test_ssl_setup),
	    cmocka_unit_test(test_handshakes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
