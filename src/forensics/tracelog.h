/*
 * tracelog - from a traced message to the sessions that carried it, in mail
 * logs (docs/trace.md, "Finding the message in the logs").
 *
 * The message gives the keys: the queue id of every Received hop ("by ...
 * with ESMTPSA id 4Xyz"; ours and the other MTAs') and its Message-ID. The
 * logs read are Postfix's (the syslog lines of smtpd, cleanup, qmgr, pickup
 * and the delivery agents) and relayguard's own (smtpd and delivery lines).
 * A session is one queue id in one log: its client address and name, the
 * account that authenticated, the time, the sender, the recipients and what
 * became of them; then every other message the same account or client address
 * sent within TRACELOG_WINDOW_MS before or after it.
 *
 * The logs are read three times (the caller hands every line of every file to
 * tracelog_line once per pass): 1 finds the queue ids (a Message-ID is logged
 * after the client line), 2 reads their sessions, 3 finds the other messages
 * of the session's account or address. Memory is fixed: no line is kept.
 * Pure: no I/O, no clock.
 */
#ifndef RG_FORENSICS_TRACELOG_H
#define RG_FORENSICS_TRACELOG_H

#include "core/addr.h"
#include "forensics/logline.h"
#include "forensics/trace.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TRACELOG_SESSIONS_MAX 16
#define TRACELOG_RCPTS_MAX 32
#define TRACELOG_RELATED_MAX 100
#define TRACELOG_QID_MAX 32
#define TRACELOG_ADDR_MAX 256
#define TRACELOG_USER_MAX 128
#define TRACELOG_WINDOW_MS (3600LL * 1000)          /* "the hour around it", each side */
#define TRACELOG_QUEUE_MS (6LL * 86400000)          /* a queue id's lines: a queue lifetime */
#define TRACELOG_DATE_SLACK_MS (24LL * 3600 * 1000) /* Received date vs the log's time */
#define TRACELOG_PASSES 3

enum tracelog_source {
	TRACELOG_POSTFIX = 1,
	TRACELOG_RELAYGUARD,
};

/* matched_by */
#define TRACELOG_BY_QUEUE_ID 0x1u
#define TRACELOG_BY_MESSAGE_ID 0x2u

struct tracelog_rcpt {
	char addr[TRACELOG_ADDR_MAX];
	char status[16]; /* "sent", "deferred", "bounced", ... as logged (the last one) */
	char relay[TRACELOG_ADDR_MAX];
};

/* Another message of the same account or client address. */
struct tracelog_related {
	enum tracelog_source source;
	char queue_id[TRACELOG_QID_MAX];
	int64_t time_ms;
	bool has_ip;
	struct addr ip;
	char user[TRACELOG_USER_MAX];
	char sender[TRACELOG_ADDR_MAX]; /* relayguard logs it with the client; "" otherwise */
	bool same_ip, same_user;
};

struct tracelog_session {
	enum tracelog_source source;
	char queue_id[TRACELOG_QID_MAX];
	unsigned matched_by;
	int hop;          /* the Received hop (index into trace.hops) whose id it is, or -1 */
	int64_t match_ms; /* the time of the line that matched (pass 1) */
	unsigned file;    /* where that line is: the caller's file number, 1-based line */
	uint64_t line;
	/* pass 2 */
	bool has_time;
	int64_t time_ms; /* the client line (smtpd) or the first line of the queue id */
	char client_host[TRACELOG_ADDR_MAX];
	bool has_ip;
	struct addr ip;
	bool local; /* submitted on the machine (Postfix pickup) */
	long uid;   /* pickup's uid, -1 if none */
	char auth_user[TRACELOG_USER_MAX];
	char auth_method[32];
	char sender[TRACELOG_ADDR_MAX];
	bool has_sender;
	char message_id[TRACELOG_ADDR_MAX];
	char session_id[TRACELOG_QID_MAX]; /* relayguard's sid */
	uint64_t size, nrcpt;
	size_t nrcpts;
	struct tracelog_rcpt rcpts[TRACELOG_RCPTS_MAX];
	/* pass 3 */
	size_t nrelated, related_total; /* kept, and found (may be more) */
	struct tracelog_related related[TRACELOG_RELATED_MAX];
};

struct tracelog_target {
	char id[RECEIVED_ID_MAX];
	size_t len;
	int hop;
	bool has_date;
	int64_t date_ms;
};

struct tracelog {
	size_t ntargets;
	struct tracelog_target targets[TRACE_HOPS_MAX];
	char message_id[TRACE_RAW_MAX]; /* without <>; "" if the message has none */
	size_t message_id_len;
	size_t nsessions;
	struct tracelog_session sessions[TRACELOG_SESSIONS_MAX];
	uint64_t sessions_dropped; /* matches past TRACELOG_SESSIONS_MAX */
	/* reading */
	int pass;
	unsigned file;
	uint64_t line_no;
	struct logyear year;
	struct logline_memo memo;
	uint64_t lines, mail_lines; /* pass 1: lines read, and those of Postfix or relayguard */
};

/* Takes the keys of the traced message t. tl is large: allocate it.
 * 0, or -1 when t has neither a Received queue id nor a Message-ID. */
int tracelog_init(struct tracelog *tl, const struct trace *t);
/* Starts pass (1..TRACELOG_PASSES). */
void tracelog_pass(struct tracelog *tl, int pass);
/* Starts a file: its number (the caller's, for tracelog_session.file) and its
 * modification time (the year of classic syslog stamps), 0 if unknown. */
void tracelog_file(struct tracelog *tl, unsigned file, int64_t mtime_ms);
/* One line of the current file, without its newline. */
void tracelog_line(struct tracelog *tl, const char *p, size_t len);
const char *tracelog_source_name(enum tracelog_source s);

#endif
