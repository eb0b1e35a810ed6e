/*
 * tlsrptsend - sends the finished daily TLS-RPT reports (gateway/tlsrpt.h
 * writes them) to the policy domain's rua (RFC 8460 §3, §5.3), with
 * [delivery] tlsrpt_send = yes.
 *
 * A report of day D (STATE_DIR/tls-rpt/D/DOMAIN.json) is due once D is over
 * (UTC) and two minutes more have passed (the writer's last flush). The
 * state directory is looked at when delivery starts and every five minutes.
 * For a due report the _smtp._tls.DOMAIN TXT record is looked up; each
 * mailto: rua gets one message (multipart/report; report-type="tlsrpt", the
 * JSON gzip-compressed as application/tlsrpt+gzip) committed into our own
 * queue (gwalert_queue_text); https: rua are not supported (logged). Then
 * DOMAIN.sent is written beside the report, so it goes out once; a domain
 * without a valid record is marked too. A DNS failure (timeout, SERVFAIL)
 * or a queue error leaves the report for the next look.
 */
#ifndef RG_GATEWAY_TLSRPTSEND_H
#define RG_GATEWAY_TLSRPTSEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLSRPT_RUA_MAX 8
#define TLSRPT_URI_MAX 320

struct tlsrpt_record {
	unsigned nmailto, nhttps;
	char mailto[TLSRPT_RUA_MAX][TLSRPT_URI_MAX]; /* the addresses, percent-decoded */
	char https[TLSRPT_RUA_MAX][TLSRPT_URI_MAX];  /* the whole https: URIs */
};

/* The TXT answer of _smtp._tls.DOMAIN (records joined by " | ", as
 * net/dns.h gives them) strictly by RFC 8460 §3: records not starting with
 * "v=TLSRPTv1" are ignored, exactly one must remain; fields split by ";"
 * (spaces around allowed), exactly one rua= of ","-separated URIs, other
 * fields name=value by the extension grammar; URIs other than mailto: and
 * https: are ignored; a mailto: must be one local@domain (percent-decoded,
 * "?..." dropped). 0 with out filled (at least one rua kept), or -1 with
 * err. Pure. */
int tlsrpt_record_parse(const char *txt, size_t len, struct tlsrpt_record *out, char *err,
                        size_t errlen);

/* Whether the report of day ("YYYY-MM-DD") is due at now_ms: the day is
 * over and two minutes more have passed. false for a malformed day. Pure. */
bool tlsrpt_report_due(const char *day, int64_t now_ms);

/* The report message of RFC 8460 §5.3 with CRLF line ends: Date (now_ms),
 * From, To, Subject "Report Domain: DOMAIN Submitter: SUBMITTER Report-ID:
 * <ID>", TLS-Report-Domain, TLS-Report-Submitter, Message-ID
 * <msgid_local@submitter>, Auto-Submitted, MIME multipart/report;
 * report-type="tlsrpt" with a text/plain part and the json (len octets)
 * gzip-compressed and base64-encoded as application/tlsrpt+gzip named
 * SUBMITTER!DOMAIN!START!END.json.gz (start_s, end_s: the report's
 * date-range in seconds since the epoch). NULL on no memory or header
 * fields with line breaks; the caller frees it. Pure (no I/O, no clock). */
char *tlsrpt_mail_render(const char *json, size_t len, const char *domain, const char *submitter,
                         const char *report_id, int64_t start_s, int64_t end_s, const char *from,
                         const char *to, int64_t now_ms, const char *msgid_local);

struct event_base;
struct dns;
struct queue;
struct tlsrptsend;

/* NULL on no memory. submitter: our host name; from: the sender. */
struct tlsrptsend *tlsrptsend_new(struct dns *dns, struct queue *q, const char *state_dir,
                                  const char *submitter, const char *from);
/* Called often (delivery's tick): looks for due reports at the first call
 * and every five minutes after, one domain at a time. */
void tlsrptsend_tick(struct tlsrptsend *s, int64_t now_ms);
/* A lookup or commit still on its way is cancelled (its report stays unsent). */
void tlsrptsend_free(struct tlsrptsend *s);

#endif
