/*
 * firewall - builds the nftables rule set that keeps desktops off port 25.
 *
 * A machine that talks SMTP straight to the Internet, bypassing the mail
 * server, is the usual way an organisation lands on a blocklist: the infected
 * desktop leaves no trace in the mail log. The rule set lets only the mail
 * servers reach TCP 25/465/587 outside, logs and drops everyone else, and logs
 * (accepts) new connections of the mail servers themselves in case one of
 * them is the compromised machine. Log prefixes are the ones nflog.c and the
 * log scanner look for.
 *
 * Pure: a spec in, text into a struct buf out. No sockets, no nft calls.
 */
#ifndef RG_FORENSICS_FIREWALL_H
#define RG_FORENSICS_FIREWALL_H

#include "core/addr.h"
#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

#define FIREWALL_TABLE "relayguard_smtp"
#define FIREWALL_PREFIX_BLOCK "RG-SMTP-BLOCK "
#define FIREWALL_PREFIX_MAILSRV "RG-SMTP-MAILSRV "
/* The kernel's NF_LOG_PREFIXLEN is 128 including the NUL. */
#define FIREWALL_PREFIX_MAX 127
#define FIREWALL_MAX_NETS 256
#define FIREWALL_MAX_PORTS 16
#define FIREWALL_LOG_RATE_DEFAULT 30 /* log lines per minute per rule */

struct firewall_spec {
	struct cidr mail[FIREWALL_MAX_NETS]; /* mail servers: may send SMTP out */
	size_t n_mail;
	struct cidr lan[FIREWALL_MAX_NETS]; /* sources the rule applies to; none = all */
	size_t n_lan;
	uint16_t ports[FIREWALL_MAX_PORTS];
	size_t n_ports;
	char block_prefix[FIREWALL_PREFIX_MAX + 1];
	char mailsrv_prefix[FIREWALL_PREFIX_MAX + 1];
	unsigned log_rate; /* per minute; burst is twice that */
};

/* Defaults: no networks, ports 25,465,587, the two RG-SMTP-* prefixes, 30/minute. */
void firewall_spec_init(struct firewall_spec *s);
/* Appends the CIDRs of a list separated by commas, spaces or tabs to the mail
 * server (lan == 0) or LAN (lan == 1) networks. A /0 is refused: it would
 * name the whole Internet. 0, or -1 with the reason in err. */
int firewall_spec_add_nets(struct firewall_spec *s, int lan, const char *list, char *err,
                           size_t errlen);
/* Replaces the port list ("25,465,587"); each 1..65535, no duplicates. 0 or -1. */
int firewall_spec_set_ports(struct firewall_spec *s, const char *list, char *err, size_t errlen);
/* Checks that a log prefix can be written inside nft double quotes and read
 * back by nflog.c: 1..127 printable ASCII bytes, no quotes, backslash or '='
 * (the log line is key=value). 0 or -1. */
int firewall_prefix_check(const char *prefix, char *err, size_t errlen);
/* Sets one of the two prefixes after firewall_prefix_check. 0 or -1. */
int firewall_spec_set_prefix(struct firewall_spec *s, int mailsrv, const char *prefix, char *err,
                             size_t errlen);
/* Whole-spec checks: at least one mail server, at least one port, distinct prefixes. */
int firewall_spec_validate(const struct firewall_spec *s, char *err, size_t errlen);
/* Appends the rule set (an nft -f script) to out. Validates first.
 * 0, or -1 (err names why: invalid spec, or out too small). */
int firewall_render(const struct firewall_spec *s, struct buf *out, char *err, size_t errlen);

#endif
