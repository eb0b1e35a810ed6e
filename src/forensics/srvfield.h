/*
 * srvfield - small span helpers shared by the Windows servers' log parsers
 * (kerlog, melog, exlog): all bounded by the span, nothing allocated.
 */
#ifndef RG_FORENSICS_SRVFIELD_H
#define RG_FORENSICS_SRVFIELD_H

#include "core/addr.h"
#include "forensics/logline.h"

#include <stdbool.h>
#include <stdint.h>

/* s without spaces at either end. */
struct logspan srvfield_trim(struct logspan s);
/* s without one pair of enclosing <...>. */
struct logspan srvfield_unangle(struct logspan s);
/* An IPv4 or IPv6 address (also "[a]" and "a:port" / "[a]:port"). 0 or -1. */
int srvfield_ip(struct logspan s, struct addr *out);
/* Digits as a number (at most 18); 0 when none. */
uint64_t srvfield_u64(struct logspan s);
/* Epoch ms of a civil date and time (UTC); -1 when out of range. */
int64_t srvfield_epoch(int y, int mo, int d, int h, int mi, int sec, int ms);
/* n digits at p as a number; -1 when one is not a digit. */
int srvfield_digits(const char *p, size_t n);
/* Case-insensitive prefix. */
bool srvfield_istarts(struct logspan s, const char *lit);

#endif
