/*
 * sts - MTA-STS policies for MX delivery (RFC 8461), asynchronous on the
 * event loop: the _mta-sts TXT record (net/dns.h), then, when its id is not
 * the one cached, https://mta-sts.DOMAIN/.well-known/mta-sts.txt over
 * libevent's HTTP client on an OpenSSL bufferevent, the certificate
 * verified against mta-sts.DOMAIN ([delivery] mta_sts_ca_file, else the
 * system store). Policies are cached by id until max_age runs out, in
 * memory and in STATE_DIR/mta-sts/DOMAIN (so a restart keeps them).
 *
 * A domain without a policy, or one we could not fetch and have no
 * unexpired copy of, gets has_policy false: delivery goes on as without
 * MTA-STS (RFC 8461 §5: a failed fetch never blocks mail by itself).
 */
#ifndef RG_GATEWAY_STS_H
#define RG_GATEWAY_STS_H

#include "delivery/mtasts.h"

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct dns;
struct sts;
struct sts_req;

struct sts_result {
	bool has_policy;
	struct mtasts_policy policy;
	char id[MTASTS_ID_MAX];
	char source[16]; /* "fetched", "cache", or "" */
	char why[200];   /* without a policy: why ("no TXT record", a fetch error) */
};

typedef void (*sts_cb)(void *arg, const struct sts_result *r);

/* state_dir: where mta-sts/ is kept; ca_file "" for the system store; port
 * 443 (tests use another); timeout_ms for the fetch. NULL with err. */
struct sts *sts_new(struct event_base *base, struct dns *dns, const char *state_dir,
                    const char *ca_file, unsigned port, uint64_t timeout_ms, char *err,
                    size_t errlen);
void sts_free(struct sts *s);

/* The policy of domain; cb runs once, never from within this call. NULL on
 * no memory (the caller goes on without MTA-STS). */
struct sts_req *sts_lookup(struct sts *s, const char *domain, sts_cb cb, void *arg);
/* The callback will not run; NULL is fine. */
void sts_cancel(struct sts_req *r);

#endif
