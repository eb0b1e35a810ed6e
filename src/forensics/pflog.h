/*
 * pflog - the Postfix log messages logscan uses, parsed in place.
 *
 * Input: the daemon (last part of the syslog tag: "smtpd" of
 * "postfix/submission/smtpd") and the text after "tag[pid]: ". Output: one
 * record naming what the line says. Format strings from the Postfix source
 * (smtpd.c, smtpd_check.c log_whatsup, smtpd_sasl_glue.c, opened.c,
 * log_adhoc.c, qmgr_active.c, pickup.c, bounce_notify_service.c):
 *
 *   smtpd   QID: client=NAME[IP][:PORT][, sasl_method=M, sasl_username=U[, ...]]
 *   smtpd   warning: NAME[IP][:PORT]: SASL M authentication failed: WHY[, sasl_username=U]
 *   smtpd   QID|NOQUEUE: reject: STAGE from NAME[IP]: CODE TEXT; from=<S> to=<R> proto=P helo=<H>
 *           [ sasl_method=M sasl_username=U] (also reject_warning, hold, discard)
 *   cleanup QID: info|warning|hold: header Auto-Submitted: auto-... (header_checks INFO)
 *   pickup  QID: uid=N from=<S>
 *   qmgr    QID: from=<S>, size=N, nrcpt=N (queue active)
 *   qmgr    QID: removed
 *   smtp, lmtp, local, virtual, pipe, error, discard, relay
 *           QID: to=<R>, [orig_to=<O>, ]relay=X, ..., dsn=D.D.D, status=S (TEXT)
 *   bounce  QID: sender non-delivery notification: NEWQID (also delay, success)
 *
 * Queue IDs: short (hex, 6+) and long (base-52 with a 'z') alike; any run of
 * 5..23 letters and digits before ": ". Every other Postfix line is
 * PFLOG_OTHER. Zero-copy: spans point into the caller's text.
 */
#ifndef RG_FORENSICS_PFLOG_H
#define RG_FORENSICS_PFLOG_H

#include "core/addr.h"
#include "forensics/logline.h"

#include <stdbool.h>
#include <stdint.h>

#define PFLOG_QID_MAX 23

enum pflog_kind {
	PFLOG_OTHER = 0,
	PFLOG_CLIENT,    /* qid, client, ip, sasl_user, sasl_method */
	PFLOG_SASL_FAIL, /* ip, sasl_method, sasl_user (Postfix >= 3.9), text = reason */
	PFLOG_REJECT, /* qid (empty for NOQUEUE), stage, ip, code, text, sender, rcpt, sasl_user */
	PFLOG_AUTO_HEADER, /* qid: the message carries Auto-Submitted (not "no") or Precedence
	                      bulk/list/junk */
	PFLOG_PICKUP,      /* qid, uid, sender */
	PFLOG_QUEUED,      /* qid, sender, size, nrcpt */
	PFLOG_DELIVERY,    /* qid, rcpt, orig_rcpt, relay (+ ip), dsn, status, text */
	PFLOG_NOTIFY,      /* qid, new_qid: a bounce (or delay/success notice) created */
	PFLOG_REMOVED,     /* qid */
	PFLOG_EXPIRED,     /* qid, sender: given up and returned to sender */
};

enum pflog_status {
	PFLOG_ST_NONE = 0,
	PFLOG_ST_SENT,
	PFLOG_ST_DEFERRED,
	PFLOG_ST_BOUNCED,
	PFLOG_ST_OTHER, /* expired, undeliverable, deliverable (verify), ... */
};

struct pflog_rec {
	enum pflog_kind kind;
	struct logspan qid;
	struct logspan client; /* the name in front of [ip] */
	bool has_ip;
	struct addr ip;
	struct logspan sasl_method, sasl_user;
	struct logspan sender; /* without <>; empty for the null sender */
	struct logspan rcpt, orig_rcpt;
	struct logspan relay; /* "mx.example.net[192.0.2.1]:25", "local", "none", ... */
	bool has_relay_ip;
	struct addr relay_ip;
	struct logspan dsn, text, stage, new_qid;
	enum pflog_status status;
	unsigned code; /* reject: the SMTP code */
	uint64_t size, nrcpt;
	long uid;
};

/* True for the daemons whose "to=" lines are deliveries. */
bool pflog_is_delivery_daemon(struct logspan daemon);
/* Parses one message; returns the kind, also in out->kind. The other fields of
 * *out are set only when the kind is not PFLOG_OTHER. */
enum pflog_kind pflog_parse(struct logspan daemon, struct logspan msg, struct pflog_rec *out);
const char *pflog_kind_name(enum pflog_kind k);
/* The queue ID that starts msg ("QID: ..."): the offset after its ": ", with *qid
 * set; 0 when msg does not start with one. */
size_t pflog_qid(struct logspan msg, struct logspan *qid);

#endif
