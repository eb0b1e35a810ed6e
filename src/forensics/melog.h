/*
 * melog - MailEnable SMTP activity log lines (SMTP-Activity-YYMMDD.log),
 * parsed in place. Tab-separated (MailEnable KB ME020170):
 *
 *   A date and time "MM/DD/YY hh:mm:ss" (the server's local time; read as UTC)
 *   B SMTP-IN (a client talking to MailEnable) or SMTP-OU (MailEnable delivering)
 *   C the message file name (ID.MAI), shared with the other logs
 *   D the local socket   E the remote IP   F the SMTP command
 *   G the command's text  H the reply      I, J bytes sent and received
 *   K the authenticated account (once the client gave one)
 *
 * One line is one command and its reply; logscan joins a session's lines by
 * their message file name (srvlog.c).
 */
#ifndef RG_FORENSICS_MELOG_H
#define RG_FORENSICS_MELOG_H

#include "core/addr.h"
#include "forensics/logline.h"

#include <stdbool.h>
#include <stdint.h>

struct melog_line {
	int64_t time_ms;
	bool inbound; /* SMTP-IN */
	struct logspan id, cmd, arg, reply, account;
	bool has_ip;
	struct addr ip;
};

/* 0 with *out filled, -1 when the line is not of this log. */
int melog_parse(const char *p, size_t len, struct melog_line *out);
/* The address in "MAIL FROM:<a> SIZE=1" or "RCPT TO: <a>" (empty for <>). */
struct logspan melog_addr(struct logspan arg);

#endif
