/*
 * addr - addresses, CIDR ranges and the prefix set; see addr.h.
 *
 * The prefix set is a plain binary trie, one per family: lookups cost at most
 * 32 or 128 steps and the sets we hold (trusted networks, a firewall's mail
 * servers) are small. It keeps no pointers into caller memory.
 */
#include "core/addr.h"

#include "core/str.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int addr_parse(const char *s, size_t len, struct addr *out)
{
	char tmp[ADDR_STRLEN + 2];
	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		s++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof tmp)
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	memset(out, 0, sizeof *out);
	if (memchr(tmp, ':', len)) {
		/* inet_pton accepts a zone-less RFC 4291 text form only; that is what we want. */
		if (inet_pton(AF_INET6, tmp, out->bytes) != 1)
			return -1;
		out->family = 6;
		return 0;
	}
	/* inet_pton(AF_INET) is strict: four decimal parts, no leading zeros games. */
	if (inet_pton(AF_INET, tmp, out->bytes) != 1)
		return -1;
	out->family = 4;
	return 0;
}

unsigned addr_bits(const struct addr *a)
{
	return a->family == 4 ? 32 : 128;
}

void addr_mask(struct addr *a, unsigned prefix)
{
	unsigned bits = addr_bits(a);
	for (unsigned i = 0; i < bits / 8; i++) {
		unsigned lo = i * 8;
		if (lo >= prefix)
			a->bytes[i] = 0;
		else if (prefix < lo + 8)
			a->bytes[i] &= (uint8_t)(0xff << (8 - (prefix - lo)));
	}
}

int cidr_parse(const char *s, size_t len, struct cidr *out)
{
	const char *slash = memchr(s, '/', len);
	size_t alen = slash ? (size_t)(slash - s) : len;
	if (addr_parse(s, alen, &out->addr) != 0)
		return -1;
	unsigned bits = addr_bits(&out->addr);
	if (slash) {
		uint64_t p;
		size_t plen = len - alen - 1;
		if (plen == 0 || plen > 3 || str_to_u64(slash + 1, plen, 0, bits, &p) != 0)
			return -1;
		out->prefix = (uint8_t)p;
	} else {
		out->prefix = (uint8_t)bits;
	}
	addr_mask(&out->addr, out->prefix);
	return 0;
}

int addr_format(const struct addr *a, char *out, size_t size)
{
	if (inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->bytes, out, (socklen_t)size) == NULL)
		return -1;
	return 0;
}

int cidr_format(const struct cidr *c, char *out, size_t size)
{
	char a[ADDR_STRLEN];
	if (addr_format(&c->addr, a, sizeof a) != 0)
		return -1;
	return str_format(out, size, "%s/%u", a, c->prefix);
}

int addr_from_sockaddr(const struct sockaddr *sa, struct addr *out)
{
	memset(out, 0, sizeof *out);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		memcpy(out->bytes, &in->sin_addr, 4);
		out->family = 4;
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		memcpy(out->bytes, &in6->sin6_addr, 16);
		out->family = 6;
		return 0;
	}
	return -1;
}

void addr_unmap(struct addr *a)
{
	static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (a->family == 6 && memcmp(a->bytes, prefix, 12) == 0) {
		memmove(a->bytes, a->bytes + 12, 4);
		memset(a->bytes + 4, 0, 12);
		a->family = 4;
	}
}

bool addr_equal(const struct addr *a, const struct addr *b)
{
	return a->family == b->family && memcmp(a->bytes, b->bytes, addr_bits(a) / 8) == 0;
}

int addr_compare(const struct addr *a, const struct addr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->bytes, b->bytes, addr_bits(a) / 8);
}

static unsigned addr_bit(const struct addr *a, unsigned i)
{
	return (a->bytes[i / 8] >> (7 - i % 8)) & 1;
}

bool cidr_contains(const struct cidr *c, const struct addr *a)
{
	if (c->addr.family != a->family)
		return false;
	unsigned full = c->prefix / 8;
	if (memcmp(c->addr.bytes, a->bytes, full) != 0)
		return false;
	unsigned rest = c->prefix % 8;
	if (rest == 0)
		return true;
	uint8_t m = (uint8_t)(0xff << (8 - rest));
	return (c->addr.bytes[full] & m) == (a->bytes[full] & m);
}

uint64_t cidr_size(const struct cidr *c)
{
	unsigned host = addr_bits(&c->addr) - c->prefix;
	return host >= 64 ? UINT64_MAX : (uint64_t)1 << host;
}

void cidr_nth(const struct cidr *c, uint64_t i, struct addr *out)
{
	*out = c->addr;
	unsigned nbytes = addr_bits(out) / 8;
	/* Add i to the address as a big-endian number, starting at the last byte. */
	unsigned carry = 0;
	for (int b = (int)nbytes - 1; b >= 0 && (i || carry); b--) {
		unsigned v = out->bytes[b] + (unsigned)(i & 0xff) + carry;
		out->bytes[b] = (uint8_t)v;
		carry = v >> 8;
		i >>= 8;
	}
}

bool addr_is_private(const struct addr *a)
{
	static const char *const nets[] = {
	    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
	    "169.254.0.0/16", "0.0.0.0/8", "::1/128", "fc00::/7", "fe80::/10", "::/128",
	};
	struct addr tmp = *a;
	addr_unmap(&tmp);
	for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
		struct cidr c;
		if (cidr_parse(nets[i], strlen(nets[i]), &c) == 0 && cidr_contains(&c, &tmp))
			return true;
	}
	return false;
}

struct prefix_node {
	struct prefix_node *child[2];
	void *value;
	bool set;
};

struct prefix_set {
	struct prefix_node *root[2]; /* [0] IPv4, [1] IPv6 */
	size_t count;
};

struct prefix_set *prefix_set_new(void)
{
	return calloc(1, sizeof(struct prefix_set));
}

static void prefix_node_free(struct prefix_node *n)
{
	if (!n)
		return;
	prefix_node_free(n->child[0]);
	prefix_node_free(n->child[1]);
	free(n);
}

void prefix_set_free(struct prefix_set *s)
{
	if (!s)
		return;
	prefix_node_free(s->root[0]);
	prefix_node_free(s->root[1]);
	free(s);
}

int prefix_set_add(struct prefix_set *s, const struct cidr *c, void *value)
{
	struct prefix_node **np = &s->root[c->addr.family == 6];
	for (unsigned i = 0;; i++) {
		if (!*np) {
			*np = calloc(1, sizeof(struct prefix_node));
			if (!*np)
				return -1;
		}
		if (i == c->prefix)
			break;
		np = &(*np)->child[addr_bit(&c->addr, i)];
	}
	if (!(*np)->set)
		s->count++;
	(*np)->set = true;
	(*np)->value = value;
	return 0;
}

bool prefix_set_lookup(const struct prefix_set *s, const struct addr *a, void **value,
		       struct cidr *match)
{
	const struct prefix_node *n = s->root[a->family == 6];
	const struct prefix_node *best = NULL;
	unsigned best_len = 0;
	unsigned bits = addr_bits(a);
	for (unsigned i = 0; n; i++) {
		if (n->set) {
			best = n;
			best_len = i;
		}
		if (i == bits)
			break;
		n = n->child[addr_bit(a, i)];
	}
	if (!best)
		return false;
	if (value)
		*value = best->value;
	if (match) {
		match->addr = *a;
		match->prefix = (uint8_t)best_len;
		addr_mask(&match->addr, best_len);
	}
	return true;
}

size_t prefix_set_count(const struct prefix_set *s)
{
	return s->count;
}

int prefix_set_add_list(struct prefix_set *s, const char *list, char *err, size_t errlen)
{
	const char *p = list;
	while (*p) {
		p += strspn(p, ", \t");
		size_t n = strcspn(p, ", \t");
		if (n == 0)
			break;
		struct cidr c;
		if (cidr_parse(p, n, &c) != 0) {
			char bad[64];
			str_sanitize(bad, sizeof bad, p, n);
			str_format_trunc(err, errlen, "not an IP address or CIDR range: %s", bad);
			return -1;
		}
		if (prefix_set_add(s, &c, NULL) != 0) {
			str_format_trunc(err, errlen, "out of memory");
			return -1;
		}
		p += n;
	}
	return 0;
}
