/*
 * dsn - the machine-readable part of a delivery status notification:
 * message/delivery-status (RFC 3464) and message/global-delivery-status
 * (RFC 6533). One per-message block, then per-recipient blocks, each in
 * header syntax with folded lines.
 *
 * Values are copied into fixed fields and truncated at their size; at most
 * DSN_MAX_RCPT recipients are kept.
 */
#ifndef RG_FORENSICS_DSN_H
#define RG_FORENSICS_DSN_H

#include <stddef.h>

#define DSN_MAX_RCPT 16
#define DSN_MAX_BLOCKS 256 /* blocks read before giving up on a hostile body */

struct dsn_recipient {
	char final_recipient[256];    /* address only: "rfc822;" and <> removed */
	char original_recipient[256]; /* same */
	char action[16];       /* lower case: failed, delayed, delivered, relayed, expanded */
	char status[16];       /* "5.7.1" */
	char remote_mta[256];  /* host only: "dns;" removed */
	char diagnostic[2048]; /* unfolded, "smtp;" removed */
};

struct dsn_report {
	char reporting_mta[256];
	char arrival_date[64];
	struct dsn_recipient rcpt[DSN_MAX_RCPT];
	size_t nrcpt;
};

/* Parses a delivery-status body into out (reset first; entries past nrcpt are
 * undefined). 0 when at least one
 * recipient block was read, -1 otherwise (not a DSN, or memory ran out). */
int dsn_parse(const char *p, size_t len, struct dsn_report *out);
/* Copies the value of a typed field ("rfc822; bob@x", "dns; mx", "smtp; 550 ...")
 * without its type label and surrounding space and angle brackets. */
void dsn_strip_type(const char *value, char *dst, size_t size);

#endif
