/*
 * date - RFC 5322 section 3.3 date-time parsing (with the obsolete forms of
 * section 4.3), as found after the ';' of a Received header or in Date:.
 *
 * Pure: (pointer, length) in, milliseconds since the epoch out. No libc time
 * functions, no locale, no allocation.
 */
#ifndef RG_FORENSICS_DATE_H
#define RG_FORENSICS_DATE_H

#include <stddef.h>
#include <stdint.h>

/* Parses "[Day,] DD Mon YYYY HH:MM[:SS] ZONE [(comment)]". ZONE is +hhmm/-hhmm or an
 * obsolete name (UT, GMT, Z, EST/EDT, CST/CDT, MST/MDT, PST/PDT; other military letters
 * count as -0000, unknown). Two- and three-digit years follow RFC 5322 4.3.
 * 0 with *out_ms set, or -1 when the text is not a date. */
int date_parse_rfc5322(const char *s, size_t len, int64_t *out_ms);

#endif
