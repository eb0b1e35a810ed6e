/*
 * eximlog - Exim main log lines, parsed in place (Exim spec, chapter "Log
 * files"; authenticator failures from smtp_in.c).
 *
 * Input: the text after the "YYYY-MM-DD hh:mm:ss [+zone] [[pid]] " stamp
 * (logline.c strips it, or the syslog header for exim[pid]: lines).
 *
 *   ID <= SENDER [H=NAME (HELO) [IP]:PORT] [I=..] [P=PROTO] [X=..] [A=AUTH:USER]
 *        [U=LOCALUSER] [R=ORIGID] [S=SIZE] [id=MSGID] [T="SUBJECT"] [for RCPT ...]
 *   ID => RCPT [<ORIG>] R=ROUTER T=TRANSPORT [H=HOST [IP]] ...   (also ->, >>, *>)
 *   ID ** RCPT [<ORIG>] [R=..] [T=..]: REASON                       bounced
 *   ID == RCPT [R=..] [T=..] defer (N): REASON                      deferred
 *   ID Completed
 *   AUTHNAME authenticator failed for NAME (HELO) [IP]:PORT [I=..]: 535 ... (set_id=USER)
 *   H=NAME (HELO) [IP]:PORT [I=..] [F=<SENDER>] rejected RCPT <RCPT>: REASON
 *
 * Message IDs: 16 characters (1ajLoq-0001wC-Pk) or, since Exim 4.97, 23
 * (16VDhn-000000001bo-D342). A sender "<>" is the null sender (a bounce; its
 * R= names the message that bounced).
 */
#ifndef RG_FORENSICS_EXIMLOG_H
#define RG_FORENSICS_EXIMLOG_H

#include "core/addr.h"
#include "forensics/logline.h"

#include <stdbool.h>
#include <stdint.h>

enum eximlog_kind {
	EXIMLOG_OTHER = 0,
	EXIMLOG_ARRIVAL,   /* <= */
	EXIMLOG_DELIVERY,  /* => -> >> *> */
	EXIMLOG_BOUNCED,   /* ** */
	EXIMLOG_DEFERRED,  /* == */
	EXIMLOG_COMPLETED, /* Completed */
	EXIMLOG_AUTH_FAIL, /* authenticator failed */
	EXIMLOG_REJECT,    /* rejected RCPT */
};

struct eximlog_rec {
	enum eximlog_kind kind;
	struct logspan id;
	struct logspan sender; /* empty for <> */
	struct logspan rcpt;   /* delivery lines, reject; arrival: the first "for" address */
	struct logspan host;   /* H= name */
	bool has_ip;
	struct addr ip; /* H= address */
	struct logspan proto, auth, user, local_user, router, transport, orig_id, text;
	uint64_t size;
	uint32_t nrcpt; /* arrival: addresses after "for" (0 when not logged) */
};

/* True for an Exim message ID. */
bool eximlog_is_id(struct logspan s);
/* Parses one line's text. Always fills *out; returns its kind. */
enum eximlog_kind eximlog_parse(struct logspan msg, struct eximlog_rec *out);

#endif
