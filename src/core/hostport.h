/*
 * hostport - listen and connect addresses as an admin writes them:
 * "127.0.0.1:2525", "[::1]:2525", "*:25" (every IPv4 and IPv6 address),
 * "unix:/run/relayguard/policy" (a Unix-domain socket). Literal addresses
 * only: a listener that depends on DNS at start-up is a listener that does not
 * start when DNS is down.
 */
#ifndef RG_CORE_HOSTPORT_H
#define RG_CORE_HOSTPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "core/attr.h"

struct hostport {
	struct sockaddr_storage ss;
	socklen_t len;
	bool wildcard; /* "*:PORT": ss is [::]:PORT, dual-stack */
	char text[128]; /* canonical: "127.0.0.1:2525", "[::1]:2525", "unix:/path" */
};

/* 0, or -1 with err saying what is wrong. default_port is used when none is given
 * (0: a port is required). */
int hostport_parse(const char *s, unsigned default_port, struct hostport *out, char *err,
                   size_t errlen) RG_WUR;
/* Whether hp can be reached only from this machine: 127.0.0.0/8, ::1, ::ffff:127.0.0.0/104,
 * a Unix-domain socket. The wildcard is not. */
bool hostport_is_loopback(const struct hostport *hp);

#endif
