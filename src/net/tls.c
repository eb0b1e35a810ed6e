/*
 * tls - server SSL_CTX and the self-signed fallback certificate, and the
 * client SSL_CTX and per-session setup; see tls.h.
 */
#include "net/tls.h"

#include "core/log.h"
#include "core/str.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static void tls_error(char *err, size_t errlen, const char *what)
{
	char e[256] = "";
	unsigned long code = ERR_get_error();
	if (code)
		ERR_error_string_n(code, e, sizeof e);
	ERR_clear_error();
	str_format_trunc(err, errlen, "%s%s%s", what, e[0] ? ": " : "", e);
}

/* A P-256 key and a one-year self-signed certificate for hostname. */
static int tls_self_signed(SSL_CTX *ctx, const char *hostname, char *err, size_t errlen)
{
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_EXTENSION *san = NULL;
	int rc = -1;
	if (!pkey || !x)
		goto fail;
	char sanval[300];
	if (str_format(sanval, sizeof sanval, "DNS:%s", hostname) != 0)
		if (str_copy(sanval, sizeof sanval, "DNS:localhost") != 0)
			panic("tls_self_signed: sanval does not fit");
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600);
	X509_set_pubkey(x, pkey);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)hostname, -1,
	                           -1, 0);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
	                           (const unsigned char *)"relayguard self-signed", -1, -1, 0);
	X509_set_issuer_name(x, name);
	san = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, sanval);
	if (!san || !X509_add_ext(x, san, -1))
		goto fail;
	if (!X509_sign(x, pkey, EVP_sha256()) || SSL_CTX_use_certificate(ctx, x) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, pkey) != 1)
		goto fail;
	rc = 0;
fail:
	if (rc != 0)
		tls_error(err, errlen, "cannot make a self-signed certificate");
	X509_EXTENSION_free(san);
	X509_free(x);
	EVP_PKEY_free(pkey);
	return rc;
}

SSL_CTX *tls_server_ctx_new(const char *cert, const char *key, const char *hostname, char *err,
                            size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		tls_error(err, errlen, "cannot create a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	                             SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (cert && cert[0]) {
		if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
			char what[600];
			str_format_trunc(what, sizeof what, "%s: cannot load the certificate",
			                 cert);
			tls_error(err, errlen, what);
			goto fail;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1) {
			char what[600];
			str_format_trunc(what, sizeof what,
			                 "%s: cannot load the key (or it does not match)", key);
			tls_error(err, errlen, what);
			goto fail;
		}
	} else if (tls_self_signed(ctx, hostname && hostname[0] ? hostname : "localhost", err,
	                           errlen) != 0) {
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void tls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

SSL_CTX *tls_client_ctx_new(const struct tls_client_opts *o, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		tls_error(err, errlen, "cannot create a TLS client context");
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, o->min_version ? o->min_version : TLS1_2_VERSION) !=
	    1) {
		tls_error(err, errlen, "unknown minimum TLS version");
		goto fail;
	}
	SSL_CTX_set_verify(ctx, o->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	if (!o->partial_wildcards)
		X509_VERIFY_PARAM_set_hostflags(SSL_CTX_get0_param(ctx),
		                                X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (o->ca_file && o->ca_file[0]) {
		if (SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) != 1) {
			char what[600];
			str_format_trunc(what, sizeof what, "%s: cannot load", o->ca_file);
			tls_error(err, errlen, what);
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		tls_error(err, errlen, "the system store: cannot load");
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int tls_client_ssl_setup(SSL *ssl, const char *sni_host, const char *verify_name)
{
	if (sni_host && sni_host[0] && SSL_set_tlsext_host_name(ssl, sni_host) != 1)
		return -1;
	if (!verify_name)
		return 0;
	SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	/* an IP literal is checked against the certificate's IP addresses */
	return SSL_set1_host(ssl, verify_name) == 1 ? 0 : -1;
}
