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
 *
 * Also the one client-side context builder: outbound SMTP (STARTTLS to MXs
 * and the relayhost), alert webhooks and the MTA-STS policy fetch all make
 * their SSL_CTX and per-connection SNI / name checks here, so every client
 * speaks the same protocol floor and checks names by the same rules.
 */
#ifndef RG_NET_TLS_H
#define RG_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

/* cert and key: PEM files, or both NULL/"" for a self-signed certificate for
 * hostname. NULL with err on failure. */
SSL_CTX *tls_server_ctx_new(const char *cert, const char *key, const char *hostname, char *err,
                            size_t errlen);
void tls_ctx_free(SSL_CTX *ctx);

struct tls_client_opts {
	/* Sessions verify the peer's chain unless tls_client_ssl_setup says
	 * otherwise; false for opportunistic TLS (delivery's "may"). */
	bool verify;
	/* Trusted CAs (PEM bundle); NULL or "" = the system's default paths. */
	const char *ca_file;
	/* Lowest protocol version (TLS1_2_VERSION etc.); 0 = TLS 1.2. */
	int min_version;
	/* Accept partial wildcards ("mx*.example.com") in the peer's names;
	 * RFC 6125 §7.2 advises against them, only delivery keeps them. */
	bool partial_wildcards;
};

/* A client context per o. NULL with err on failure (a CA file that cannot
 * be read or holds no certificate included). */
SSL_CTX *tls_client_ctx_new(const struct tls_client_opts *o, char *err, size_t errlen);

/* One client session's setup before its handshake: SNI = sni_host (unless
 * NULL or ""); with verify_name, the peer's chain is verified and its
 * certificate must name verify_name (a DNS name, or an IP literal matched
 * against IP addresses); without, the context's verify default stays.
 * -1 when the name cannot be set. */
__attribute__((warn_unused_result)) int tls_client_ssl_setup(SSL *ssl, const char *sni_host,
                                                             const char *verify_name);

#endif
