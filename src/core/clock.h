/*
 * clock - the only place the program asks the system for the time.
 *
 * Times are cached: clock_update() refreshes them once per event-loop tick
 * (libuv's uv_now), so one tick sees one "now". Tests call clock_fake_set()
 * and clock_fake_advance() to step virtual time; nothing sleeps to wait for a
 * timeout. The policy engine never calls this module: it is handed a time.
 */
#ifndef RG_CORE_CLOCK_H
#define RG_CORE_CLOCK_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/attr.h"

/* Milliseconds since the epoch (wall clock) and since an arbitrary start (monotonic). */
int64_t clock_realtime_ms(void);
int64_t clock_monotonic_ms(void);
/* Microseconds on the monotonic clock, read now (not cached; 0 under a fake clock):
 * for latency histograms, never for decisions. */
int64_t clock_elapsed_us(void);
/* Refreshes the cached values from the system (no-op under a fake clock). */
void clock_update(void);
/* Switches to virtual time; both clocks start at the given values. */
void clock_fake_set(int64_t realtime_ms, int64_t monotonic_ms);
void clock_fake_advance(int64_t ms);
void clock_use_system(void);

/* "2026-11-23T09:19:51Z" (with ".123" when ms is not a whole second and
 * with_ms is set). 0, or -1 if out does not fit. */
int clock_format_rfc3339(int64_t ms, char *out, size_t size);
/* RFC 5322 date-time in UTC for mail headers, "Mon, 02 Nov 2026 09:19:51 +0000",
 * or with pad_day false "Mon, 2 Nov 2026 ..." (both are RFC 5322; English names
 * whatever the locale). 0, or -1 if out does not fit. */
int clock_format_rfc5322(int64_t ms, bool pad_day, char *out, size_t size);
/* Parses RFC 3339 ("2026-11-23T09:19:51Z", "...+01:00", fractional seconds) and
 * "2026-11-23 09:19:51" (UTC). 0 or -1. */
int clock_parse_rfc3339(const char *s, int64_t *out_ms) RG_WUR;
/* Days from 1970-01-01 of a proleptic Gregorian date (no time zone, no libc). */
int64_t clock_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
