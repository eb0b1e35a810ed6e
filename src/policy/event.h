/*
 * event - the facts the policy engine decides on, and their text form.
 *
 * An event is one thing that happened, with the time in ms the caller gives
 * (the engine never asks a clock): a login or failed login, one submitted
 * message, one rejected RCPT, delivery results, or an administrator's block
 * or unblock. Every field has a fixed bound; longer input is cut, never
 * overrun, and a message with more recipients than POL_RCPT_MAX keeps the
 * first ones and the true count.
 *
 * Text form (golden tests, replay, the fuzz target), one event per line:
 *
 *     T+SECONDS TYPE key=value ...
 *
 * TYPE: AUTH_OK AUTH_FAIL MAIL RCPT_REJECT DELIVERY BLOCK UNBLOCK INBOUND. Keys:
 * user=, ip=, from= (envelope sender; from=<> is the null sender), rcpt=
 * (repeatable), rcpts=N (count, default the number of rcpt=), size=,
 * fp=HEX (body fingerprint), flags=auto_submitted,null_sender,auto_reply,
 * notify,list,bulk,spam,listed,inbound,relayed,foreign_sender (see POL_F_*), msgid= (Message-ID, no
 * <>), irt= (In-Reply-To), hfrom= (the From header's address), score=N (DNSBL score, may be
 * negative), lists=a,b (the DNSBLs that listed the client),
 * spf=pass|fail|softfail|neutral|none|temperror|permerror, scan=SCORE (the
 * content scanner's score of a MAIL, e.g. scan=12.5; absent = not scanned),
 * result=ok|deferred|bounced|unknown_user (DELIVERY: applies to the rcpt=
 * given before it on the line that have none yet, and to later ones),
 * ident=, actor=, reason=, expires=SECONDS (BLOCK/UNBLOCK), parts=msg,rcpts,size
 * (MAIL told in parts, POL_PART_*), rcpts_before=N. A value may be
 * "double quoted" to hold spaces. Blank lines and lines starting with #
 * are skipped. T+ counts from POL_EVENT_EPOCH_MS.
 */
#ifndef RG_POLICY_EVENT_H
#define RG_POLICY_EVENT_H

#include "core/addr.h"
#include "core/str.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POL_USER_MAX (STR_USER_MAX + 1)
#define POL_MAILADDR_MAX 256
#define POL_RCPT_MAX 8
#define POL_IDENT_MAX 280
#define POL_ACTOR_MAX 64
#define POL_TEXT_MAX 200
#define POL_MSGID_MAX 200

/* 2026-11-02T00:00:00Z, a Monday: T+0 of the text form. */
#define POL_EVENT_EPOCH_MS 1793577600000LL

enum pol_event_type {
	POL_EV_AUTH_OK = 0,
	POL_EV_AUTH_FAIL,
	POL_EV_MAIL,
	POL_EV_RCPT_REJECT,
	POL_EV_DELIVERY,
	POL_EV_BLOCK,   /* manual block of ident */
	POL_EV_UNBLOCK, /* manual unblock of ident */
	POL_EV_INBOUND, /* a message accepted on the inbound listener: remembered */
};

/* SPF result of the envelope sender (RFC 7208 section 2.6); UNKNOWN = not checked. */
enum pol_spf {
	POL_SPF_UNKNOWN = 0,
	POL_SPF_NONE,
	POL_SPF_NEUTRAL,
	POL_SPF_PASS,
	POL_SPF_FAIL,
	POL_SPF_SOFTFAIL,
	POL_SPF_TEMPERROR,
	POL_SPF_PERMERROR,
};

enum pol_delivery {
	POL_DLV_OK = 0,
	POL_DLV_DEFERRED,
	POL_DLV_BOUNCED,
	POL_DLV_UNKNOWN_USER,
};

#define POL_F_AUTO_SUBMITTED 0x1u
#define POL_F_NULL_SENDER 0x2u
#define POL_F_AUTO_REPLY 0x4u /* an automatic reply (RFC 3834, vacation markers) */
#define POL_F_NOTIFY 0x8u     /* a machine notice: quota, filter, delivery report */
#define POL_F_LIST 0x10u      /* a mailing-list message (List-Id, List-Unsubscribe, ...) */
#define POL_F_BULK 0x20u      /* Precedence: bulk / junk / list */
#define POL_F_SPAM 0x40u      /* a content filter said spam (X-Spam-Flag: YES) */
#define POL_F_LISTED 0x80u    /* the client was on a DNSBL that counts */
#define POL_F_INBOUND 0x100u  /* MAIL received on the inbound listener: not outbound mail */
/* MAIL relayed by a trusted relay identified by sender (docs/policy.md "Trusted
 * relays"): user is the envelope sender of a local domain, and the message is
 * counted on the relay's ip: identity too, with its relay limits. */
#define POL_F_RELAYED 0x200u
#define POL_F_FOREIGN_SENDER 0x400u /* with RELAYED: the sender is outside the local domains */

/* What of a MAIL event is counted (pol_event.parts; 0 = all of it, the
 * gateway's one event per message). A Postfix policy request tells a message
 * in parts (gateway/policyd.c): the message with its first recipient at its
 * first request, each further recipient at its RCPT request, the size at
 * END-OF-MESSAGE. */
#define POL_PART_MSG 0x1u   /* the message itself: message limits, volume, IPs, senders */
#define POL_PART_RCPTS 0x2u /* rcpt_count recipients (and rcpt[]): recipient limits */
#define POL_PART_SIZE 0x4u  /* size: bytes_hour */
#define POL_PART_ALL (POL_PART_MSG | POL_PART_RCPTS | POL_PART_SIZE)

struct pol_event {
	enum pol_event_type type;
	int64_t time_ms;
	char user[POL_USER_MAX]; /* "" when not authenticated */
	bool has_ip;
	struct addr ip;
	char sender[POL_MAILADDR_MAX]; /* envelope sender; "" for the null sender */
	uint32_t rcpt_count;           /* true number of recipients */
	uint32_t n_rcpt;               /* held in rcpt[], <= POL_RCPT_MAX */
	char rcpt[POL_RCPT_MAX][POL_MAILADDR_MAX];
	enum pol_delivery result[POL_RCPT_MAX]; /* DELIVERY */
	uint64_t size;
	uint64_t fingerprint; /* of the body; 0 = unknown */
	uint32_t flags;
	/* BLOCK / UNBLOCK */
	char ident[POL_IDENT_MAX];
	char actor[POL_ACTOR_MAX];
	char reason[POL_TEXT_MAX];
	int64_t expires_s; /* BLOCK: seconds from now, 0 = until a person lifts it */
	/* MAIL and INBOUND: the message */
	char message_id[POL_MSGID_MAX];  /* without <>, "" when none */
	char in_reply_to[POL_MSGID_MAX]; /* the first In-Reply-To id, without <> */
	char hfrom[POL_MAILADDR_MAX];    /* the From header's address */
	/* INBOUND: what the listener found */
	int dnsbl_score;
	char lists[POL_TEXT_MAX]; /* DNSBLs that listed the client, comma separated */
	enum pol_spf spf;
	/* MAIL: the content scan (rspamd), when there was one */
	bool scanned;
	int32_t scan_score; /* hundredths of a point: rspamd's 6.5 is 650 */
	/* MAIL told in parts: which parts this event counts (POL_PART_*, 0 = all),
	 * and the recipients of the same message counted by its earlier parts */
	uint32_t parts;
	uint32_t rcpts_before;
};

void pol_event_init(struct pol_event *ev, enum pol_event_type type, int64_t time_ms);
/* Adds a recipient (cut to fit; past POL_RCPT_MAX only counted). */
void pol_event_add_rcpt(struct pol_event *ev, const char *addr, enum pol_delivery result);
const char *pol_event_type_name(enum pol_event_type t);
const char *pol_spf_name(enum pol_spf r);
/* "pass", "fail", ... to the result. 0 or -1. */
int pol_spf_parse(const char *s, size_t len, enum pol_spf *out);

/* Parses one line of the text form (len bytes, no NUL needed).
 * 1 = an event in *ev, 0 = blank or comment, -1 = bad line (err says why). */
int pol_event_parse(const char *line, size_t len, struct pol_event *ev, char *err, size_t errlen);

#endif
