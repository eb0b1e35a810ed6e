/*
 * mx - where mail for a domain goes (RFC 5321 §5.1, RFC 7505).
 *
 * mx_order() is pure: MX records in, an ordered list of hosts out. Lower
 * preference first; hosts of equal preference in random order (the caller
 * gives the random source, so tests are repeatable); a lone "." at
 * preference 0 is a null MX: the domain accepts no mail (5.1.10). A null MX
 * next to real ones is ignored (RFC 7505 §3 says it must not be there).
 *
 * mx_resolve() does the lookups on src/net/dns.h: MX, then A and AAAA of
 * every host (in parallel), and turns them into the ordered list of
 * addresses to try, each with its host name:
 *   - no MX records (NODATA): the domain itself is the one host (implicit MX);
 *   - NXDOMAIN of the domain: permanent (5.1.2), and so is a domain whose
 *     every MX host has no address at all (5.4.4);
 *   - SERVFAIL, timeouts, refusals: temporary (4.4.3), also when some hosts
 *     failed that way and none has an address.
 * A relayhost given as "[host]" skips the MX lookup (Postfix semantics).
 */
#ifndef RG_DELIVERY_MX_H
#define RG_DELIVERY_MX_H

#include "core/addr.h"
#include "net/dns.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MX_HOSTS_MAX 10   /* MX hosts we try at most (Postfix smtp_mx_address_limit-ish) */
#define MX_TARGETS_MAX 20 /* addresses we try at most, over all hosts */

struct mx_host {
	uint16_t pref;
	char name[DNS_NAME_MAX];
};

enum mx_status {
	MX_OK,
	MX_NULL, /* null MX: never deliver, bounce (5.1.10) */
	MX_TEMP, /* try later */
	MX_PERM, /* the domain or its hosts do not exist */
};

enum mx_family { MX_FAMILY_ANY_V4_FIRST, MX_FAMILY_ANY_V6_FIRST, MX_FAMILY_V4, MX_FAMILY_V6 };

struct mx_target {
	char host[DNS_NAME_MAX];
	uint16_t pref;
	struct addr addr;
};

struct mx_result {
	enum mx_status status;
	char error[200]; /* "4.4.3 ..." / "5.1.2 ..." for the logs and the DSN */
	int n;
	struct mx_target t[MX_TARGETS_MAX];
};

/* Random numbers for the shuffle; a deterministic one in tests. */
typedef uint32_t (*mx_random_fn)(void *arg);

/* Orders in[0..n) into out (at most MX_HOSTS_MAX). Returns the number of hosts,
 * 0 for none usable, -1 for a null MX. */
int mx_order(const struct dns_mx *in, int n, mx_random_fn rnd, void *rarg, struct mx_host *out);

typedef void (*mx_callback)(void *arg, const struct mx_result *res);

struct mx_query;
struct mx_options {
	enum mx_family family;
	mx_random_fn rnd; /* NULL: random() */
	void *rarg;
};

/* Looks up domain (no_mx: the name is a host, as in "[relay.example]").
 * cb runs exactly once, never from within this call. NULL on no memory.
 * The query can be cancelled with mx_cancel() before cb ran. */
struct mx_query *mx_resolve(struct dns *d, const char *domain, bool no_mx,
                            const struct mx_options *opt, mx_callback cb, void *arg);
void mx_cancel(struct mx_query *q);

const char *mx_status_name(enum mx_status s);

/* RFC 5321 5.1: when one of the hosts is this machine (is_self says so), the
 * hosts of its preference and worse are dropped (they would hand the mail
 * back to us). Pure. Returns how many targets are left; 0 when the best
 * host is this machine: the mail would loop (*self_at then is the index,
 * before the cut, of the first own target, for the log line). */
typedef bool (*mx_self_fn)(void *arg, const struct addr *a);
int mx_cut_self(struct mx_result *r, mx_self_fn is_self, void *arg, int *self_at);

#endif
