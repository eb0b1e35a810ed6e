/*
 * nftban - the firewall half of brute-force protection ([firewall] ban_set):
 * an IP the engine locks out for failed logins (rule auth_ip_lockout, from the
 * gateway's AUTH or from the live log follower) is added to an nftables set
 * with a timeout, so its packets stop at the firewall: what fail2ban does,
 * decided by the same engine as everything else. docs/firewall.md.
 *
 * Each addition runs `NFT add element FAMILY TABLE SET { IP timeout Ns }`
 * (posix_spawn, no shell: admin/alert's exec) on a thread of its own, so the
 * event loop never waits for nft; the result is logged. At most
 * NFTBAN_QUEUE additions wait; past that one is dropped and logged.
 * Only auth_ip_lockout blocks go to the set: an IP blocked for what its mail
 * did may be the organisation's own server, and must keep reaching us.
 */
#ifndef RG_GATEWAY_NFTBAN_H
#define RG_GATEWAY_NFTBAN_H

#include "policy/engine.h"

#include <stddef.h>
#include <stdint.h>

#define NFTBAN_QUEUE 256

struct nftban_options {
	const char *nft;     /* the nft command (words, no shell): "nft", "sudo -n nft" */
	const char *set4;    /* "FAMILY TABLE SET" for IPv4 addresses; "" = none */
	const char *set6;    /* the same for IPv6 (an interval set: the engine blocks a /64) */
	uint64_t timeout_ms; /* the longest an element stays (a block that ends sooner: its end) */
};

struct nftban;

/* Checks the set names ("inet relayguard_ban banned4": a family and two names)
 * and starts the thread. NULL with err on bad options or no memory. */
struct nftban *nftban_new(const struct nftban_options *o, char *err, size_t errlen);
/* Whether "FAMILY TABLE SET" is well formed. 0 or -1 with err. */
int nftban_check_set(const char *set, char *err, size_t errlen);
/* A block the engine created: queued for the set when it is an auth_ip_lockout
 * of an "ip:" identity. 1 queued, 0 not for the set, -1 the queue was full. */
int nftban_block(struct nftban *b, const struct pol_verdict *v, int64_t now_ms);
/* The nft command line for one element (for the tests). 0 or -1 (too long). */
int nftban_command(const char *nft, const char *set, const char *elem, uint64_t timeout_s,
                   char *out, size_t size);
/* Stops the thread (waiting for the addition running, dropping the queued). */
void nftban_free(struct nftban *b);

#endif
