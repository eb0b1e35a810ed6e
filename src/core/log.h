/*
 * log - one line per event, to stderr and/or syslog.
 *
 * Three tiers, never mixed (Postfix msg_warn/msg_fatal/msg_panic):
 *   log_*()  something happened; the program goes on.
 *   fatal()  the environment is broken (cannot open the spool, out of memory):
 *            exit(2) after logging why.
 *   panic()  a bug: an invariant does not hold. abort() so there is a core.
 * Nothing a remote peer sends may lead to fatal() or panic().
 *
 * Lines are "key=value" after a free-text start; the caller puts its queue or
 * session id first.
 */
#ifndef RG_CORE_LOG_H
#define RG_CORE_LOG_H

#include <stdbool.h>

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* ident: program name for syslog and stderr prefix. Defaults: stderr on, syslog off,
 * level info. When stderr is systemd's journal stream (JOURNAL_STREAM names its
 * device and inode), stderr lines start "<N>" (the syslog priority: 3 error,
 * 4 warning, 6 info, 7 debug) instead of a time stamp. */
void log_open(const char *ident, bool to_stderr, bool to_syslog, enum log_level level);
/* JOURNAL_STREAM is set and names what fd 2 is now. */
bool log_stderr_is_journal(void);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warn", "info", "debug". 0 or -1. */
int log_level_parse(const char *s, enum log_level *out);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

__attribute__((noreturn, format(printf, 1, 2))) void fatal(const char *fmt, ...);
__attribute__((noreturn, format(printf, 1, 2))) void panic(const char *fmt, ...);

/* Allocation that cannot fail: out of memory is fatal(). */
void *xmalloc(unsigned long n);
void *xcalloc(unsigned long n, unsigned long size);
void *xrealloc(void *p, unsigned long n);
char *xstrdup(const char *s);

#endif
