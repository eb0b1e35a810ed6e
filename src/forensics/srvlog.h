/*
 * srvlog - the logs of the Windows mail servers of the articles (Microsoft
 * Exchange, MailEnable, Kerio Connect), turned into one kind of record that
 * logscan maps onto its events (docs/logscan.md, "The articles' servers").
 *
 * Formats (each parser is its own module, pure and bounded):
 *   exlog.c   Exchange message tracking log and SMTP Receive protocol log
 *             (CSV with a "#Fields:" header; the header is per file)
 *   melog.c   MailEnable SMTP-Activity-YYMMDD.log (tab-separated)
 *   kerlog.c  Kerio Connect security.log and mail.log ("[dd/Mon/yyyy hh:mm:ss] ...")
 *
 * struct srvlog_file keeps which format one file is (Exchange: its columns);
 * struct srvlog what lines need from the lines before them, whichever file
 * they came from: the SMTP sessions whose commands are spread over many lines
 * (MailEnable), and which session authenticated as whom (Exchange's protocol
 * log, for its tracking log). Bounded: at most SRVLOG_SESSIONS sessions of
 * each are remembered, the oldest forgotten first.
 */
#ifndef RG_FORENSICS_SRVLOG_H
#define RG_FORENSICS_SRVLOG_H

#include "core/addr.h"
#include "forensics/logline.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum srvlog_format {
	SRVLOG_NONE = 0,
	SRVLOG_EXCHANGE,
	SRVLOG_MAILENABLE,
	SRVLOG_KERIO,
};

enum srvlog_kind {
	SRVLOG_OTHER = 0, /* a line of the format that says nothing logscan needs */
	SRVLOG_AUTH_OK,   /* user logged in from ip */
	SRVLOG_AUTH_FAIL, /* a failed login from ip (user when the line names it) */
	SRVLOG_RECEIVED,  /* message id accepted: client ip, user, sender, recipients */
	SRVLOG_SENT,      /* a delivery attempt of message id to rcpt */
	SRVLOG_REJECT,    /* the server refused a recipient of ip (relay denied, unknown user) */
};

struct srvlog_rec {
	enum srvlog_kind kind;
	int64_t time_ms;
	struct logspan id;     /* the message (queue ID, message file, internal ID) */
	struct logspan user;   /* empty when none */
	struct logspan sender; /* empty for the null sender */
	struct logspan rcpt;   /* SENT, and RECEIVED: recipients separated by rcpt_sep */
	char rcpt_sep;
	uint32_t nrcpt;
	uint64_t size;
	bool has_ip;
	struct addr ip; /* the client (AUTH_*, RECEIVED); SENT: the server delivered to */
	bool generated; /* RECEIVED: made on the server (no SMTP client): a reply, a DSN */
	bool autoreply; /* RECEIVED: an automatic reply of user */
	bool remote;    /* SENT: to another server (not a local mailbox) */
	bool failed;    /* SENT: deferred or refused */
};

/* The session table of one file (MailEnable, Exchange protocol log). */
#define SRVLOG_SESSIONS 4096
#define SRVLOG_FIELDS 40
struct srvlog_session {
	char key[40];
	int64_t seen_ms;
	bool has_ip;
	struct addr ip;
	char user[128];
	char sender[256];
	uint32_t nrcpt;
	char rcpt[256]; /* the first recipient */
};

/* One file. */
struct srvlog_file {
	enum srvlog_format format; /* NONE until a line says */
	/* Exchange: the column of each field this reader uses (-1: absent) */
	bool ex_protocol; /* SMTP Receive protocol log, not message tracking */
	int ex_col[SRVLOG_FIELDS];
	uint32_t ex_ncols;
};

struct srvlog {
	struct srvlog_session *sess;
	size_t n_sess, next_sess;
	/* Exchange protocol log: the sessions that authenticated, for the tracking
	 * log's source-context (session id) -> user (kept across files) */
	struct srvlog_session *auth;
	size_t n_auth, next_auth;
	char buf[1024]; /* spans of a record may point here (joined session data) */
};

/* 0, or -1 when memory is short. */
int srvlog_init(struct srvlog *v);
void srvlog_free(struct srvlog *v);
/* A new file: its format is found from its lines. */
void srvlog_file_init(struct srvlog_file *f);
/*
 * One line of file f (no newline, no CR). -1: not a line of f's format (or,
 * while f's format is unknown, of none of these); 0: a line of the format, *out filled (kind OTHER
 * when it says nothing logscan needs). Spans point into p or into v->buf, valid
 * until the next call.
 */
int srvlog_line(struct srvlog *v, struct srvlog_file *f, const char *p, size_t len,
                struct srvlog_rec *out);

/* Whether a line may start a file of these formats (cheap: its first bytes). */
bool srvlog_may_start(const char *p, size_t len);

#endif
