/*
 * dkim - DKIM signing (RFC 6376) with rsa-sha256 and ed25519-sha256 (RFC 8463),
 * relaxed/relaxed canonicalisation, for mail leaving through the gateway.
 *
 * Keys: dkim_key_load() reads a PEM private key (RSA or Ed25519) for a
 * domain and selector. A keyring maps the From header's domain to its key.
 *
 * Signing streams: dkim_signer_update() takes the message as it is queued
 * (our Received header first, then the client's content, CRLF lines). The
 * header section is kept (up to DKIM_HEADER_MAX) and the body goes through
 * the relaxed body canonicalisation into SHA-256 as it passes, so nothing
 * waits for the body at the end. dkim_signer_finish() hashes the selected
 * header fields, signs, and returns the DKIM-Signature field (CRLF-ended)
 * to put in front of the message.
 *
 * Signed header fields (h=): those RFC 6376 §5.4.1 recommends (From,
 * Reply-To, Subject, Date, To, Cc, Resent-*, In-Reply-To, References,
 * List-*), plus Message-ID and the MIME fields, each as often as it occurs;
 * From, To and Subject once more (oversigned), so a field of those names
 * added later breaks the signature.
 *
 * The canonicalisation functions are exposed for the unit tests and the fuzz
 * target.
 */
#ifndef RG_SMTP_DKIM_H
#define RG_SMTP_DKIM_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DKIM_HEADER_MAX (256 * 1024) /* header section kept for signing */
#define DKIM_DOMAIN_MAX 254
#define DKIM_SELECTOR_MAX 64
#define DKIM_SIG_MAX 8192 /* the DKIM-Signature field we write */
#define DKIM_NAME_MAX 256 /* a header field name we canonicalise */

enum dkim_alg { DKIM_ALG_RSA_SHA256, DKIM_ALG_ED25519_SHA256 };

struct dkim_key;

/* Loads a PEM private key (RSA of 1024 bits or more, or Ed25519). 0, or -1 with err. */
int dkim_key_load(struct dkim_key **out, const char *domain, const char *selector, const char *path,
                  char *err, size_t errlen);
void dkim_key_free(struct dkim_key *k);
enum dkim_alg dkim_key_alg(const struct dkim_key *k);
const char *dkim_key_domain(const struct dkim_key *k);
const char *dkim_alg_name(enum dkim_alg a);

/* The keys of every signing domain. */
struct dkim_keyring {
	struct dkim_key **keys;
	size_t n, cap;
};
int dkim_keyring_add(struct dkim_keyring *r, struct dkim_key *k); /* takes k; 0 or -1 */
/* The key for this domain (case-insensitive), or NULL. */
const struct dkim_key *dkim_keyring_find(const struct dkim_keyring *r, const char *domain,
                                         size_t len);
void dkim_keyring_free(struct dkim_keyring *r);

/* ---- canonicalisation (RFC 6376 §3.4.2, §3.4.4) ---- */

/* Appends the relaxed form of one header field ("name:value\r\n") to out.
 * value is the raw value after the colon, folding included. 0 or -1 (out full). */
int dkim_canon_header(const char *name, size_t name_len, const char *value, size_t value_len,
                      struct buf *out);

/* Relaxed body canonicalisation, streaming. emit receives the canonical
 * bytes in pieces. */
typedef void (*dkim_emit_fn)(void *arg, const char *p, size_t n);
struct dkim_body {
	dkim_emit_fn emit;
	void *arg;
	unsigned long long crlfs; /* line ends not yet emitted (maybe trailing empty lines) */
	bool wsp;                 /* white space seen, not yet emitted */
	bool cr;                  /* a CR seen, not yet known to end a line */
	bool any;                 /* something emitted */
	bool line;                /* the current line has content */
	size_t out_len;
	char out[4096];
};
void dkim_body_init(struct dkim_body *b, dkim_emit_fn emit, void *arg);
void dkim_body_update(struct dkim_body *b, const char *p, size_t n);
void dkim_body_finish(struct dkim_body *b);

/* ---- signing ---- */

struct dkim_signer;
struct dkim_signer *dkim_signer_new(void); /* NULL: out of memory */
/* The message bytes as queued. -1 once the header section is past
 * DKIM_HEADER_MAX (the message is then not signed). */
int dkim_signer_update(struct dkim_signer *s, const char *p, size_t n);
/* The From header's domain (lower case; "" when the section has not exactly
 * one From field with one address). */
void dkim_signer_from_domain(struct dkim_signer *s, char *out, size_t size);
/* Appends the DKIM-Signature field, CRLF-ended, to out. now_s is t=.
 * 0, or -1 with err. */
int dkim_signer_finish(struct dkim_signer *s, const struct dkim_key *k, int64_t now_s,
                       struct buf *out, char *err, size_t errlen);
void dkim_signer_free(struct dkim_signer *s);

/* Convenience for tools and tests: signs a whole message. 0 or -1. */
int dkim_sign_message(const struct dkim_key *k, const char *msg, size_t len, int64_t now_s,
                      struct buf *out, char *err, size_t errlen);

/* ---- keys for DNS ---- */

/* Generates a key: RSA of bits or Ed25519, written as PEM to path (mode 0600,
 * never over an existing file); the DNS TXT value ("v=DKIM1; k=...; p=...")
 * appended to txt. 0, or -1 with err. */
int dkim_keygen(enum dkim_alg alg, int bits, const char *path, struct buf *txt, char *err,
                size_t errlen);
/* The TXT value for a loaded key. 0 or -1. */
int dkim_key_txt(const struct dkim_key *k, struct buf *txt);

#endif
