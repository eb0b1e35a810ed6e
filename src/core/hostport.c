/*
 * hostport - parsing of listen/connect addresses; see hostport.h.
 */
#include "core/hostport.h"

#include "core/addr.h"
#include "core/str.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

int hostport_parse(const char *s, unsigned default_port, struct hostport *out, char *err,
		   size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (strncmp(s, "unix:", 5) == 0) {
		struct sockaddr_un *un = (struct sockaddr_un *)&out->ss;
		const char *path = s + 5;
		if (path[0] != '/' || str_copy(un->sun_path, sizeof un->sun_path, path) != 0) {
			str_format_trunc(err, errlen,
			                 "'%.100s': a Unix socket needs an absolute path shorter "
			                 "than %zu bytes",
			                 s, sizeof un->sun_path);
			return -1;
		}
		un->sun_family = AF_UNIX;
		out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
		str_format_trunc(out->text, sizeof out->text, "unix:%s", path);
		return 0;
	}
	const char *host = s, *port = NULL;
	size_t hlen;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || (end[1] != '\0' && end[1] != ':'))
			goto bad;
		host = s + 1;
		hlen = (size_t)(end - host);
		port = end[1] == ':' ? end + 2 : NULL;
	} else {
		const char *colon = strrchr(s, ':');
		if (colon && strchr(s, ':') != colon)
			goto bad; /* a bare IPv6 address needs brackets to carry a port */
		hlen = colon ? (size_t)(colon - s) : strlen(s);
		port = colon ? colon + 1 : NULL;
	}
	uint64_t p = default_port;
	if (port && str_to_u64(port, strlen(port), 1, 65535, &p) != 0)
		goto bad;
	if (!port && default_port == 0) {
		str_format_trunc(err, errlen, "'%.100s': no port (write HOST:PORT)", s);
		return -1;
	}
	if (hlen == 1 && host[0] == '*') {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out->ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_any;
		in6->sin6_port = htons((uint16_t)p);
		out->len = sizeof *in6;
		out->wildcard = true;
		str_format_trunc(out->text, sizeof out->text, "*:%u", (unsigned)p);
		return 0;
	}
	struct addr a;
	if (addr_parse(host, hlen, &a) != 0)
		goto bad;
	char ip[ADDR_STRLEN];
	addr_format(&a, ip, sizeof ip);
	if (a.family == 4) {
		struct sockaddr_in *in = (struct sockaddr_in *)&out->ss;
		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, a.bytes, 4);
		in->sin_port = htons((uint16_t)p);
		out->len = sizeof *in;
		str_format_trunc(out->text, sizeof out->text, "%s:%u", ip, (unsigned)p);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out->ss;
		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, a.bytes, 16);
		in6->sin6_port = htons((uint16_t)p);
		out->len = sizeof *in6;
		str_format_trunc(out->text, sizeof out->text, "[%s]:%u", ip, (unsigned)p);
	}
	return 0;
bad:
	str_format_trunc(
	    err, errlen,
	    "'%.100s' is not an address: expected IP:PORT, [IPv6]:PORT, *:PORT or unix:/path", s);
	return -1;
}

bool hostport_is_loopback(const struct hostport *hp)
{
	if (hp->wildcard)
		return false;
	if (hp->ss.ss_family == AF_UNIX)
		return true;
	if (hp->ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&hp->ss;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (hp->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&hp->ss;
		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}
