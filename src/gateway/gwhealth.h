/*
 * gwhealth - what /healthz answers for serve: the state store, the spool and
 * the DNS resolver each work or not. The store and the spool are tried when
 * asked (a read of the store, a file made and dropped in the spool: O_TMPFILE,
 * nothing stays); the resolver by a query every few seconds from the loop
 * (gwhealth_tick), which fails only when no answer comes at all (a timeout,
 * no server reachable): NXDOMAIN or SERVFAIL are answers.
 */
#ifndef RG_GATEWAY_GWHEALTH_H
#define RG_GATEWAY_GWHEALTH_H

#include <stddef.h>

struct dns;
struct store;
struct gwhealth;

/* probe_name: what the resolver is asked (an A query), e.g. our hostname.
 * Any of store, spool_dir, dns may be NULL: not checked. NULL on no memory. */
struct gwhealth *gwhealth_new(struct store *store, const char *spool_dir, struct dns *dns,
                              const char *probe_name);
/* The resolver, once there is one (NULL: none). */
void gwhealth_set_dns(struct gwhealth *h, struct dns *dns);
/* From the loop's periodic tick: a resolver query when none is out. */
void gwhealth_tick(struct gwhealth *h);
/* 0: all work; -1: why names each that does not ("spool: ...; dns: ..."). The
 * web's health callback. */
int gwhealth_check(void *h, char *why, size_t whylen);
/* After dns_free (a cancelled query still answers into it). */
void gwhealth_free(struct gwhealth *h);

#endif
