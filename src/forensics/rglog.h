/*
 * rglog - relayguard's own delivery log lines, parsed in place.
 *
 * The format is docs/delivery.md's ("Log lines"): after the log prefix
 * ("relayguard[info]: " on stderr, "relayguard[pid]: info: " in syslog),
 *
 *   delivery id=QID event=rcpt rcpt=<ADDR> from=<SENDER> user=USER client=IP
 *     relay=HOST[IP]:PORT tls=V attempt=N delay=S status=sent|deferred|bounced|expired
 *     dsn=X.Y.Z reply="..."
 *   delivery id=QID event=done|deferred from=<SENDER> size=N nrcpt=N sent=N ... attempt=N
 *   delivery id=QID event=dsn dsn_id=NEWID to=<SENDER> status=queued|held|error
 *
 * Values may be "double quoted" with \" inside; other lines (event=host,
 * event=dns, anything not "delivery") are RGLOG_OTHER. Zero-copy.
 */
#ifndef RG_FORENSICS_RGLOG_H
#define RG_FORENSICS_RGLOG_H

#include "core/addr.h"
#include "forensics/logline.h"

#include <stdbool.h>
#include <stdint.h>

enum rglog_kind {
	RGLOG_OTHER = 0,
	RGLOG_RCPT,    /* one recipient's attempt */
	RGLOG_MESSAGE, /* event=done or event=deferred: the message's attempt */
	RGLOG_DSN,     /* a delivery status notification made (or held) */
};

struct rglog_rec {
	enum rglog_kind kind;
	bool done; /* RGLOG_MESSAGE: event=done (the entry is removed) */
	struct logspan id, rcpt, from, user, status, dsn, reply, relay, dsn_id, to;
	bool has_client, has_relay_ip;
	struct addr client, relay_ip;
	uint64_t attempt, size, nrcpt;
};

enum rglog_kind rglog_parse(struct logspan msg, struct rglog_rec *out);

/*
 * The SMTP server's lines (docs/smtp.md, "Log lines"), after the same prefix:
 *
 *   smtpd queue_id=QID|NOQUEUE sid=SESSION client=IP|- EVENT key=value ...
 *
 * EVENT is a bare word ("connect", "queued", "disconnect") or the first pair
 * ("auth=ok mech=PLAIN user=sam"). Only the keys trace needs are kept.
 */
struct rglog_smtpd {
	struct logspan qid;   /* empty for NOQUEUE */
	struct logspan sid;   /* the SMTP session */
	struct logspan event; /* "queued", "connect", ... or the first key ("auth") */
	struct logspan value; /* the first pair's value ("ok" of auth=ok), else empty */
	struct logspan from, user, mech, proto;
	bool has_client;
	struct addr client;
	uint64_t nrcpt, size;
};

/* 0 with *out set for an smtpd line, -1 for any other line. */
int rglog_parse_smtpd(struct logspan msg, struct rglog_smtpd *out);

#endif
