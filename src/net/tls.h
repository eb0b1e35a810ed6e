/*
 * tls - the server-side OpenSSL context of the SMTP listeners (STARTTLS,
 * RFC 3207, and implicit TLS on 465, RFC 8314).
 *
 * TLS 1.2 and newer only, the library's default cipher list, no
 * compression, no renegotiation. With no certificate configured the gateway
 * makes a self-signed one in memory at start-up (P-256, CN and DNS name =
 * the host name, valid one year) so submission can demand TLS before AUTH
 * out of the box; clients then see an untrusted certificate, which the log
 * says, and an admin configures [gateway] tls_cert and tls_key for real use.
 */
#ifndef RG_NET_TLS_H
#define RG_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ssl_ctx_st SSL_CTX;

/* cert and key: PEM files, or both NULL/"" for a self-signed certificate for
 * hostname. NULL with err on failure. */
SSL_CTX *tls_server_ctx_new(const char *cert, const char *key, const char *hostname, char *err,
                            size_t errlen);
void tls_ctx_free(SSL_CTX *ctx);

#endif
