/*
 * bounce - is this message a bounce, and did a blocklist cause it?
 *
 * Reads RFC 3464 DSNs and the common plain-text bounces (qmail, Exim,
 * Sendmail transcripts, Exchange/Office 365 NDRs), picks the failed
 * recipient, its status, the remote MTA and the receiver's diagnostic text,
 * and classifies that text with a table of rejection patterns (one row per
 * pattern: see bounce_rules[] in bounce.c) into the blocklists or provider
 * reputation systems it names, with where to get delisted.
 */
#ifndef RG_FORENSICS_BOUNCE_H
#define RG_FORENSICS_BOUNCE_H

#include "core/addr.h"

#include <stdbool.h>
#include <stddef.h>

#define BOUNCE_MAX_LISTS 8
#define BOUNCE_MAX_TEXT 65536 /* bytes of human-readable text kept for matching */

struct bounce_list {
	char id[128];     /* DNSBL zone, or a provider word ("microsoft", "gmail", ...) */
	char name[96];    /* for people: "Spamhaus ZEN" */
	char delist[320]; /* URL or mailto: with the IP filled in; "" when unknown */
};

struct bounce_result {
	bool is_bounce;
	bool blocked;        /* refused for the sending IP's or domain's reputation/listing */
	bool receiver_error; /* the receiver's own DNSBL lookup failed (open resolver, ...) */
	char recipient[256];
	char status[16];
	char remote_mta[256];
	char diagnostic[2048];
	char listed_ip[ADDR_STRLEN]; /* "" when none was named or nothing is blocked */
	char subject[256];
	struct bounce_list lists[BOUNCE_MAX_LISTS];
	size_t nlists;
};

/* Analyses one whole message. 0, or -1 when memory ran out (out then says
 * not a bounce). Hostile input gives a best-effort answer, never a crash. */
int bounce_analyze(const char *msg, size_t len, struct bounce_result *out);

/* Classifies a receiver's rejection text alone: fills blocked, receiver_error,
 * lists and listed_ip of out (other fields untouched). remote_mta (may be
 * NULL or "") lets provider rules match on the receiving host name. */
void bounce_classify(const char *text, size_t len, const char *remote_mta,
                     struct bounce_result *out);

/* The first IP address named in text (bracketed first, then bare IPv4). 0 or -1. */
int bounce_find_ip(const char *text, size_t len, char *out, size_t size);

/* The first RFC 3463 status code (class 2, 4 or 5) in text. 0 or -1. */
int bounce_find_status(const char *text, size_t len, char *out, size_t size);

#endif
