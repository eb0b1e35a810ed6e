/*
 * dsngen - delivery status notifications we send (RFC 3464 multipart/report,
 * RFC 3461 NOTIFY/RET/ENVID/ORCPT, RFC 3834 Auto-Submitted), and the rule
 * that decides whether one may go out at all (DESIGN.md invariant 4).
 *
 * dsngen_decide(): a DSN goes only to a sender the gateway verified (an
 * authenticated user, or a local-domain sender from a trusted network: the
 * queue envelope's sender_verified). Never to the null sender (a bounce of a
 * bounce), never when NOTIFY=NEVER or NOTIFY lacks FAILURE. Every other
 * failure notice is built and put on hold, not sent, and counted: the
 * gateway never produces backscatter.
 *
 * dsngen_build() is pure: the report in, the message (CRLF lines) out. The
 * third part is the returned message's header (text/rfc822-headers) unless
 * RET=FULL asked for all of it (message/rfc822).
 */
#ifndef RG_DELIVERY_DSNGEN_H
#define RG_DELIVERY_DSNGEN_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DSNGEN_NOTIFY_NEVER 1u /* same bits as the queue's QUEUE_NOTIFY_* */
#define DSNGEN_NOTIFY_SUCCESS 2u
#define DSNGEN_NOTIFY_FAILURE 4u
#define DSNGEN_NOTIFY_DELAY 8u

enum dsngen_decision {
	DSNGEN_NONE, /* nobody to tell (null sender, NOTIFY=NEVER, no FAILURE) */
	DSNGEN_SEND, /* a verified sender: queue it for delivery */
	DSNGEN_HOLD, /* not verified: build it, hold it, count it */
};

/* notify: the recipient's NOTIFY bits (0: not given, which means FAILURE). */
enum dsngen_decision dsngen_decide(bool sender_verified, const char *sender, unsigned notify);
const char *dsngen_decision_name(enum dsngen_decision d);

struct dsngen_rcpt {
	const char *addr;
	const char *orcpt;      /* "rfc822;a@b" or "" */
	const char *action;     /* "failed", "delayed" */
	const char *status;     /* "5.1.1" */
	const char *remote_mta; /* host name, "" when none answered */
	const char *diagnostic; /* the reply, "550 5.1.1 ...", or our own reason */
	uint64_t last_attempt_ms;
};

struct dsngen_msg {
	const char *reporting_mta; /* our host name */
	const char *queue_id;
	const char *envid;  /* "" when none */
	const char *sender; /* who gets it: the original envelope sender */
	uint64_t arrival_ms;
	uint64_t now_ms;
	size_t nrcpt;
	const struct dsngen_rcpt *rcpt;
	const char *original; /* the returned message, or only its header */
	size_t original_len;
	bool full; /* original is the whole message (RET=FULL) */
};

/* 0, or -1 when out's limit was reached. */
int dsngen_build(const struct dsngen_msg *m, struct buf *out);

/* "Mon, 23 Nov 2026 11:30:00 +0000". 0 or -1. */
int dsngen_date(uint64_t ms, char *out, size_t size);
/* Length of the header section of a message (up to and including the empty
 * line), or len when it has none. */
size_t dsngen_header_len(const char *msg, size_t len);

#endif
