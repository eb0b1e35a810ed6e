/*
 * exlog - Microsoft Exchange transport logs, parsed in place: the message
 * tracking log (MSGTRK*.LOG) and the SMTP Receive protocol log (RECV*.LOG).
 *
 * Both are CSV under a header ("#Software:", "#Version:", "#Log-type:",
 * "#Date:", "#Fields:"); the "#Fields:" line names the columns, which differ
 * between versions (Exchange 2010 has no network-message-id, 2016 adds
 * transport-traffic-type, log-id, schema-version), so columns are found by
 * name. A field with a comma or a quote is quoted, a quote inside doubled;
 * a quoted field is given without its outer quotes (a doubled quote stays
 * doubled: nothing here needs it undone). Times are UTC ISO 8601.
 */
#ifndef RG_FORENSICS_EXLOG_H
#define RG_FORENSICS_EXLOG_H

#include "forensics/logline.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The columns this reader uses. */
enum exlog_field {
	EXF_DATE_TIME = 0,
	/* message tracking */
	EXF_CLIENT_IP,
	EXF_SERVER_IP,
	EXF_SOURCE_CONTEXT,
	EXF_SOURCE,
	EXF_EVENT_ID,
	EXF_INTERNAL_ID,
	EXF_RECIPIENT,
	EXF_RECIPIENT_STATUS,
	EXF_TOTAL_BYTES,
	EXF_RECIPIENT_COUNT,
	EXF_SUBJECT,
	EXF_SENDER,
	EXF_RETURN_PATH,
	EXF_DIRECTIONALITY,
	EXF_ORIGINAL_CLIENT_IP,
	/* SMTP protocol log */
	EXF_SESSION_ID,
	EXF_REMOTE_ENDPOINT,
	EXF_EVENT,
	EXF_DATA,
	EXF_CONTEXT,
	EXF_COUNT
};

#define EXLOG_COLS_MAX 64

/* Splits a CSV line into at most max columns; returns how many. */
size_t exlog_split(const char *p, size_t len, struct logspan *cols, size_t max);
/* The column of each field from the text after "#Fields: " (-1: absent). */
void exlog_fields(struct logspan names, int col[EXF_COUNT]);
/* Epoch ms of "2016-04-05T00:00:02.052Z" (fraction optional). -1 if not one. */
int64_t exlog_time(struct logspan s);

#endif
