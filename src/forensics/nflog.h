/*
 * nflog - reads the kernel's netfilter LOG lines (iptables -j LOG, nftables
 * "log") as they reach syslog, the journal, kern.log or dmesg, and counts
 * per source host the outbound SMTP attempts they show.
 *
 * The text format is the kernel's (net/netfilter/nf_log_syslog.c):
 *   PREFIX IN=lan0 OUT=wan0 MAC=.. SRC=10.0.5.57 DST=203.0.113.25 LEN=60 ...
 *   PROTO=TCP SPT=49822 DPT=25 WINDOW=64240 RES=0x00 SYN URGP=0
 * in front of which a syslog daemon may put "<pri>", a classic "Mar  3 02:14:07
 * host kernel:" header or an RFC 3339 one, and printk an uptime "[991203.114220]".
 *
 * Zero-copy: the text fields of struct nflog_line point into the caller's
 * line and are valid as long as it is. Lines longer than NFLOG_LINE_MAX are
 * refused without being read. Nothing here allocates except the aggregator.
 */
#ifndef RG_FORENSICS_NFLOG_H
#define RG_FORENSICS_NFLOG_H

#include "core/addr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NFLOG_LINE_MAX 8192

enum nflog_status {
	NFLOG_OK = 0,
	NFLOG_NOT_NETFILTER = -1, /* no "IN=... OUT=..." with SRC, DST and PROTO */
	NFLOG_MALFORMED = -2,     /* looks like one, but a field is broken (bad SRC, port) */
};

enum nflog_time_kind {
	NFLOG_TIME_NONE = 0,
	NFLOG_TIME_SYSLOG,  /* "Mar  3 02:14:07": no year, no zone (mon..sec set) */
	NFLOG_TIME_RFC3339, /* full date and zone (epoch_ms set) */
};

enum nflog_proto {
	NFLOG_PROTO_OTHER = 0,
	NFLOG_PROTO_TCP,
	NFLOG_PROTO_UDP,
	NFLOG_PROTO_ICMP,
	NFLOG_PROTO_ICMPV6,
};

/* TCP flags as the kernel names them. */
#define NFLOG_TCP_FIN 0x01u
#define NFLOG_TCP_SYN 0x02u
#define NFLOG_TCP_RST 0x04u
#define NFLOG_TCP_PSH 0x08u
#define NFLOG_TCP_ACK 0x10u
#define NFLOG_TCP_URG 0x20u
#define NFLOG_TCP_ECE 0x40u
#define NFLOG_TCP_CWR 0x80u

struct nflog_span {
	const char *p; /* into the parsed line; p is never NULL after a parse */
	size_t len;
};

struct nflog_line {
	enum nflog_time_kind time_kind;
	int64_t epoch_ms;                  /* NFLOG_TIME_RFC3339 */
	unsigned mon, day, hour, min, sec; /* NFLOG_TIME_SYSLOG: mon 1..12 */
	bool has_uptime;
	uint64_t uptime_us;        /* printk "[seconds.micro]" */
	struct nflog_span host;    /* syslog host name, empty if none */
	struct nflog_span prefix;  /* log prefix, surrounding spaces removed; may be empty */
	struct nflog_span in, out; /* interface names; empty when the kernel printed none */
	struct addr src, dst;
	struct nflog_span proto_name; /* "TCP", "UDP", "ICMP", "47", ... */
	enum nflog_proto proto;
	bool has_ports;
	uint16_t spt, dpt;
	unsigned tcp_flags; /* NFLOG_TCP_* */
	bool has_uid;
	uint32_t uid; /* owner of a local socket (nft "flags skuid", --log-uid) */
};

/* Parses one line (without or with its trailing newline). Fills *out and
 * returns NFLOG_OK, or a negative enum nflog_status (out then undefined). */
int nflog_parse(const char *p, size_t len, struct nflog_line *out);
/* "ok", "not a netfilter line", "malformed netfilter line". */
const char *nflog_status_str(int status);
/* Epoch milliseconds of the line: RFC 3339 as is; a classic syslog stamp in the
 * given year, read as UTC. 0, or -1 when the line has no wall-clock time. */
int nflog_time_ms(const struct nflog_line *l, int year, int64_t *out_ms);
/* True when the prefix equals p, ignoring surrounding spaces on both. */
bool nflog_prefix_is(const struct nflog_line *l, const char *p);
/* A new outbound connection attempt to TCP port 25, 465 or 587: PROTO=TCP, DPT
 * one of those, and SYN without ACK (or no flags at all, as with some loggers). */
bool nflog_is_smtp_attempt(const struct nflog_line *l);

/*
 * Aggregation: per source host, the SMTP attempts and distinct destinations,
 * which the log scanner turns into "direct_smtp" suspects. Bounded: at most
 * max_hosts hosts (further hosts are counted in hosts_dropped) and
 * NFLOG_HOST_DST_MAX distinct destinations kept per host (dst_overflow says
 * there were more).
 */
#define NFLOG_HOST_DST_MAX 32

struct nflog_host {
	struct addr src;
	uint64_t attempts;
	uint64_t blocked;          /* lines with the block prefix given to nflog_agg_init */
	int64_t first_ms, last_ms; /* times passed to nflog_agg_add; 0 = unknown */
	size_t n_dst;
	bool dst_overflow;
	struct addr dst[NFLOG_HOST_DST_MAX];
};

struct nflog_agg {
	struct nflog_host *hosts;
	size_t n, cap, max_hosts;
	uint64_t hosts_dropped;   /* attempts of hosts past max_hosts */
	struct prefix_set *index; /* source address -> index + 1 */
	char block_prefix[128];
};

/* block_prefix: the prefix that marks a drop ("RG-SMTP-BLOCK "), or NULL. 0 or -1. */
int nflog_agg_init(struct nflog_agg *a, size_t max_hosts, const char *block_prefix);
void nflog_agg_free(struct nflog_agg *a);
/* Counts the line if it is an SMTP attempt. when_ms: its time, 0 if unknown.
 * 1 counted, 0 not an SMTP attempt, -1 out of memory. */
int nflog_agg_add(struct nflog_agg *a, const struct nflog_line *l, int64_t when_ms);
/* The host record of src, or NULL. */
const struct nflog_host *nflog_agg_find(const struct nflog_agg *a, const struct addr *src);

#endif
