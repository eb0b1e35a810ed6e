/*
 * dsngen - building delivery status notifications; see dsngen.h.
 */
#include "delivery/dsngen.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"

#include <string.h>

enum dsngen_decision dsngen_decide(bool sender_verified, const char *sender, unsigned notify)
{
	if (!sender || !sender[0])
		return DSNGEN_NONE;
	if (notify & DSNGEN_NOTIFY_NEVER)
		return DSNGEN_NONE;
	if (notify && !(notify & DSNGEN_NOTIFY_FAILURE))
		return DSNGEN_NONE;
	return sender_verified ? DSNGEN_SEND : DSNGEN_HOLD;
}

const char *dsngen_decision_name(enum dsngen_decision d)
{
	switch (d) {
	case DSNGEN_NONE:
		return "none";
	case DSNGEN_SEND:
		return "send";
	case DSNGEN_HOLD:
		return "hold";
	}
	panic("dsngen: decision %d", (int)d);
}

int dsngen_date(uint64_t ms, char *out, size_t size)
{
	return clock_format_rfc5322((int64_t)ms, false, out, size);
}

size_t dsngen_header_len(const char *msg, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (msg[i] != '\n')
			continue;
		if (i + 1 < len && msg[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && msg[i + 1] == '\r' && msg[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

/* A header field value from outside (address, reply text): printable ASCII only. */
static int dsngen_field(struct buf *out, const char *name, const char *value)
{
	char clean[1024];
	str_sanitize(clean, sizeof clean, value ? value : "", value ? strlen(value) : 0);
	return buf_printf(out, "%s: %s\r\n", name, clean);
}

/* The original, with every line ending in CRLF. */
static int dsngen_copy(struct buf *out, const char *p, size_t n)
{
	size_t s = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\n')
			continue;
		size_t e = i > s && p[i - 1] == '\r' ? i - 1 : i;
		if (buf_append(out, p + s, e - s) != 0 || buf_append(out, "\r\n", 2) != 0)
			return -1;
		s = i + 1;
	}
	if (s < n && (buf_append(out, p + s, n - s) != 0 || buf_append(out, "\r\n", 2) != 0))
		return -1;
	return 0;
}

int dsngen_build(const struct dsngen_msg *m, struct buf *out)
{
	char date[64], arrival[64], boundary[96];
	if (dsngen_date(m->now_ms, date, sizeof date) != 0 ||
	    dsngen_date(m->arrival_ms, arrival, sizeof arrival) != 0 ||
	    str_format(boundary, sizeof boundary, "%s.%llu/%s", m->queue_id,
	               (unsigned long long)m->now_ms, m->reporting_mta) != 0)
		return -1;
	bool delayed_only = true;
	for (size_t i = 0; i < m->nrcpt; i++)
		delayed_only = delayed_only && strcmp(m->rcpt[i].action, "delayed") == 0;
	int rc = 0;
	rc |=
	    buf_printf(out, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", m->reporting_mta);
	rc |= dsngen_field(out, "To", m->sender);
	rc |= buf_printf(out, "Subject: %s\r\n",
	                 delayed_only ? "Delayed Mail (still being retried)"
	                              : "Undelivered Mail Returned to Sender");
	rc |= buf_printf(out, "Date: %s\r\n", date);
	rc |= buf_printf(out, "Message-ID: <%s.%llu.dsn@%s>\r\n", m->queue_id,
	                 (unsigned long long)m->now_ms, m->reporting_mta);
	rc |= buf_printf(out,
	                 "Auto-Submitted: auto-replied\r\n"
	                 "MIME-Version: 1.0\r\n"
	                 "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	                 "\tboundary=\"%s\"\r\n"
	                 "\r\n"
	                 "This is a MIME-encapsulated message.\r\n\r\n",
	                 boundary);
	/* 1: for people */
	rc |= buf_printf(out,
	                 "--%s\r\nContent-Description: Notification\r\n"
	                 "Content-Type: text/plain; charset=us-ascii\r\n\r\n",
	                 boundary);
	rc |= buf_printf(out, "This is the mail system at host %s.\r\n\r\n", m->reporting_mta);
	if (delayed_only)
		rc |= buf_append_str(out, "Your message could not be delivered yet. It will be "
		                          "tried again; you need not send it again.\r\n\r\n");
	else
		rc |= buf_append_str(out, "Your message could not be delivered to one or more "
		                          "recipients. It is attached below.\r\n\r\n");
	for (size_t i = 0; i < m->nrcpt; i++) {
		char a[600], d[600];
		const struct dsngen_rcpt *r = &m->rcpt[i];
		str_sanitize(a, sizeof a, r->addr, strlen(r->addr));
		str_sanitize(d, sizeof d, r->diagnostic, strlen(r->diagnostic));
		rc |= buf_printf(out, "<%s>: %s%s%s\r\n", a, r->remote_mta[0] ? "host " : "",
		                 r->remote_mta, r->remote_mta[0] ? " said: " : "");
		rc |= buf_printf(out, "    %s\r\n\r\n", d);
	}
	/* 2: for machines */
	rc |= buf_printf(out,
	                 "--%s\r\nContent-Description: Delivery report\r\n"
	                 "Content-Type: message/delivery-status\r\n\r\n",
	                 boundary);
	rc |= buf_printf(out, "Reporting-MTA: dns; %s\r\n", m->reporting_mta);
	rc |= dsngen_field(out, "X-Relayguard-Queue-ID", m->queue_id);
	if (m->envid && m->envid[0])
		rc |= dsngen_field(out, "Original-Envelope-Id", m->envid);
	rc |= buf_printf(out, "Arrival-Date: %s\r\n", arrival);
	for (size_t i = 0; i < m->nrcpt; i++) {
		const struct dsngen_rcpt *r = &m->rcpt[i];
		char v[700], when[64];
		rc |= buf_append_str(out, "\r\n");
		if (str_format(v, sizeof v, "rfc822; %s", r->addr) != 0)
			rc = -1;
		rc |= dsngen_field(out, "Final-Recipient", v);
		if (r->orcpt && r->orcpt[0]) {
			/* ORCPT is "addr-type;xtext" already */
			rc |= dsngen_field(out, "Original-Recipient", r->orcpt);
		}
		rc |= dsngen_field(out, "Action", r->action);
		rc |= dsngen_field(out, "Status", r->status);
		if (r->remote_mta[0]) {
			if (str_format(v, sizeof v, "dns; %s", r->remote_mta) != 0)
				rc = -1;
			rc |= dsngen_field(out, "Remote-MTA", v);
		}
		/* an SMTP reply starts with a digit; our own reasons are not SMTP */
		str_format_trunc(
		    v, sizeof v, "%s; %s",
		    r->diagnostic[0] >= '2' && r->diagnostic[0] <= '5' ? "smtp" : "x-relayguard",
		    r->diagnostic);
		rc |= dsngen_field(out, "Diagnostic-Code", v);
		if (r->last_attempt_ms && dsngen_date(r->last_attempt_ms, when, sizeof when) == 0)
			rc |= buf_printf(out, "Last-Attempt-Date: %s\r\n", when);
	}
	/* 3: the message, or its header */
	rc |= buf_printf(out, "\r\n--%s\r\nContent-Description: %s\r\nContent-Type: %s\r\n\r\n",
	                 boundary, m->full ? "Undelivered Message" : "Undelivered Message Headers",
	                 m->full ? "message/rfc822" : "text/rfc822-headers");
	size_t n = m->full ? m->original_len : dsngen_header_len(m->original, m->original_len);
	rc |= dsngen_copy(out, m->original, n);
	rc |= buf_printf(out, "\r\n--%s--\r\n", boundary);
	return rc ? -1 : 0;
}
