/*
 * addr - IPv4/IPv6 addresses, CIDR ranges and one prefix set used everywhere
 * (trusted networks, relay networks, firewall hosts, trace's trusted hops).
 *
 * An IPv4 address is family 4 with its 4 bytes first; IPv6 is family 6 with
 * 16 bytes. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) stays IPv6 unless
 * the caller asks for addr_unmap(): RFC 5782 test points need the mapped form.
 * Printing is canonical: dotted quad, or RFC 5952 compressed lower case.
 */
#ifndef RG_CORE_ADDR_H
#define RG_CORE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/attr.h"

struct sockaddr;

#define ADDR_STRLEN 46 /* INET6_ADDRSTRLEN */
#define CIDR_STRLEN (ADDR_STRLEN + 4)

struct addr {
	uint8_t family; /* 4 or 6 */
	uint8_t bytes[16];
};

struct cidr {
	struct addr addr; /* host bits are zero */
	uint8_t prefix;   /* 0..32 or 0..128 */
};

/* Parses "192.0.2.1", "2001:db8::1", "[2001:db8::1]" (len bytes, no NUL needed). 0 or -1. */
int addr_parse(const char *s, size_t len, struct addr *out) RG_WUR;
/* Parses "192.0.2.0/24", "2001:db8::/32", or a bare address (full-length prefix).
 * Host bits below the prefix are cleared. 0 or -1. */
int cidr_parse(const char *s, size_t len, struct cidr *out) RG_WUR;
int addr_format(const struct addr *a, char *out, size_t size);
int cidr_format(const struct cidr *c, char *out, size_t size);
int addr_from_sockaddr(const struct sockaddr *sa, struct addr *out) RG_WUR;
/* ::ffff:a.b.c.d becomes a.b.c.d; anything else is left as is. */
void addr_unmap(struct addr *a);
bool addr_equal(const struct addr *a, const struct addr *b);
int addr_compare(const struct addr *a, const struct addr *b);
unsigned addr_bits(const struct addr *a); /* 32 or 128 */
bool cidr_contains(const struct cidr *c, const struct addr *a);
/* Number of addresses in the range, saturated at UINT64_MAX. */
uint64_t cidr_size(const struct cidr *c);
/* The i-th address of the range (i < cidr_size). */
void cidr_nth(const struct cidr *c, uint64_t i, struct addr *out);
/* Keeps the first prefix bits of a and clears the rest (an IPv6 /64 identity, say). */
void addr_mask(struct addr *a, unsigned prefix);
/* Loopback, RFC 1918, CGNAT, link-local, ULA: addresses that never identify an Internet host. */
bool addr_is_private(const struct addr *a);

/* A set of prefixes with a value each; lookups return the longest match. */
struct prefix_set;
struct prefix_set *prefix_set_new(void);
void prefix_set_free(struct prefix_set *s);
/* Adds (or replaces the value of) a prefix. 0, or -1 on out of memory. */
int prefix_set_add(struct prefix_set *s, const struct cidr *c, void *value) RG_WUR;
/* true when some prefix contains a; *value and *match (either may be NULL) of the longest. */
bool prefix_set_lookup(const struct prefix_set *s, const struct addr *a, void **value,
		       struct cidr *match);
size_t prefix_set_count(const struct prefix_set *s);
/* Adds every CIDR in a list separated by commas, spaces or tabs. On a bad element
 * returns -1 and names it in err. */
int prefix_set_add_list(struct prefix_set *s, const char *list, char *err, size_t errlen) RG_WUR;

#endif
