/*
 * tlsrpt - TLS-RPT (RFC 8460): our TLS results per policy domain, counted
 * as MX delivery runs under an MTA-STS policy, and written as the daily
 * report of RFC 8460 §4 (JSON) to STATE_DIR/tls-rpt/YYYY-MM-DD/DOMAIN.json
 * (rewritten when a minute has passed since the last write, at a change of
 * day, and at shutdown). gateway/tlsrptsend.h sends the finished reports
 * to the domain's rua.
 */
#ifndef RG_GATEWAY_TLSRPT_H
#define RG_GATEWAY_TLSRPT_H

#include "delivery/mtasts.h"

#include <stdint.h>

struct tlsrpt;

/* org: our organisation's name in the report (the host name); contact:
 * "postmaster@HOST". NULL on no memory. */
struct tlsrpt *tlsrpt_new(const char *state_dir, const char *org, const char *contact);
/* Writes what is pending, then frees. */
void tlsrpt_free(struct tlsrpt *t);

/* A TLS session to an MX of domain under policy p was set up. */
void tlsrpt_success(struct tlsrpt *t, const char *domain, const struct mtasts_policy *p,
                    int64_t now_ms);
/* One failed session: result_type of RFC 8460 §4.3 ("validation-failure",
 * "certificate-host-mismatch", ...), the MX host and its address ("" when
 * none). */
void tlsrpt_failure(struct tlsrpt *t, const char *domain, const struct mtasts_policy *p,
                    const char *result_type, const char *mx_host, const char *mx_ip,
                    int64_t now_ms);
/* Writes the reports that changed when force or a minute passed. 0 or -1. */
int tlsrpt_flush(struct tlsrpt *t, int64_t now_ms, bool force);

#endif
