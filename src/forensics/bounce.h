/*
 * bounce - is this message a bounce, and did a blocklist cause it?
 *
 * Reads RFC 3464 DSNs and the common plain-text bounces (qmail, Exim,
 * Sendmail transcripts, Exchange/Office 365 NDRs), picks the failed
 * recipient, its status, the remote MTA and the receiver's diagnostic text,
 * and classifies that text with the rules of data/bounce-rules.conf
 * (forensics/brules): the reason class, and for blocks the blocklists or
 * provider reputation systems it names, with where to get delisted.
 */
#ifndef RG_FORENSICS_BOUNCE_H
#define RG_FORENSICS_BOUNCE_H

#include "core/addr.h"
#include "forensics/brules.h"

#include <stdbool.h>
#include <stddef.h>

#define BOUNCE_MAX_LISTS 8
#define BOUNCE_MAX_TEXT 65536 /* bytes of human-readable text kept for matching */
/* A reason decided at or below this priority (status code alone) lets the
 * human-readable text of the bounce have its say. */
#define BOUNCE_WEAK_PRIORITY 20

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
	char reason[32];         /* reason class (docs/bounce.md): "blocked", "user_unknown", ... */
	char reason_detail[160]; /* the rule's words for people; "" when none */
	int reason_priority;     /* of the rule that decided; -1 for "undefined" */
	enum brules_stage stage; /* when the receiver refused, if the bounce says */
	bool forwarded;          /* the fields come from a bounce attached to this message */
};

/* What is known besides the text when classifying it. */
struct bounce_facts {
	const char *status;     /* enhanced status code, or NULL: taken from the text */
	const char *remote_mta; /* may be NULL or "" */
	const char *recipient;  /* may be NULL: its domain can name the provider */
	enum brules_stage stage;
};

/* Analyses one whole message. 0, or -1 when memory ran out (out then says
 * not a bounce). Hostile input gives a best-effort answer, never a crash. */
int bounce_analyze(const char *msg, size_t len, struct bounce_result *out);
/* Same with these rules (NULL: every bounce is "undefined"). */
int bounce_analyze_rules(const struct brules *rules, const char *msg, size_t len,
                         struct bounce_result *out);

/* Classifies a receiver's rejection text alone: fills blocked, receiver_error,
 * lists and listed_ip of out (other fields untouched). remote_mta (may be
 * NULL or "") lets provider rules match on the receiving host name. */
void bounce_classify(const char *text, size_t len, const char *remote_mta,
                     struct bounce_result *out);
/* Classifies with the given rules and facts: fills blocked, receiver_error,
 * lists, listed_ip and reason (facts may be NULL). */
void bounce_classify_rules(const struct brules *rules, const char *text, size_t len,
                           const struct bounce_facts *facts, struct bounce_result *out);

/* The first IP address named in text (bracketed first, then bare IPv4). 0 or -1. */
int bounce_find_ip(const char *text, size_t len, char *out, size_t size);

/* The first RFC 3463 status code (class 2, 4 or 5) in text. 0 or -1. */
int bounce_find_status(const char *text, size_t len, char *out, size_t size);

#endif
