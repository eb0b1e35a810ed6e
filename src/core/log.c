/*
 * log - logging and the three error tiers; see log.h.
 */
#include "core/log.h"

#include "core/clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

static const char *log_ident = "relayguard";
static bool log_stderr = true;
static bool log_syslog = false;
static enum log_level log_level_cur = LOG_LEVEL_INFO;

static const char *const log_names[] = {"error", "warning", "info", "debug"};

void log_open(const char *ident, bool to_stderr, bool to_syslog, enum log_level level)
{
	log_ident = ident;
	log_stderr = to_stderr;
	log_syslog = to_syslog;
	log_level_cur = level;
	if (to_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void log_set_level(enum log_level level)
{
	log_level_cur = level;
}

enum log_level log_get_level(void)
{
	return log_level_cur;
}

int log_level_parse(const char *s, enum log_level *out)
{
	if (strcmp(s, "error") == 0)
		*out = LOG_LEVEL_ERROR;
	else if (strcmp(s, "warn") == 0 || strcmp(s, "warning") == 0)
		*out = LOG_LEVEL_WARN;
	else if (strcmp(s, "info") == 0)
		*out = LOG_LEVEL_INFO;
	else if (strcmp(s, "debug") == 0)
		*out = LOG_LEVEL_DEBUG;
	else
		return -1;
	return 0;
}

__attribute__((format(printf, 2, 0))) static void log_emit(enum log_level level, const char *fmt,
								 va_list ap)
{
	char line[2048];
	vsnprintf(line, sizeof line, fmt, ap);
	if (log_stderr) {
		char ts[40];
		if (clock_format_rfc3339(clock_realtime_ms(), ts, sizeof ts) != 0)
			ts[0] = '\0';
		fprintf(stderr, "%s %s[%s]: %s\n", ts, log_ident, log_names[level], line);
	}
	if (log_syslog) {
		static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
		syslog(prio[level], "%s: %s", log_names[level], line);
	}
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (level > log_level_cur)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_emit(level, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	exit(2);
}

void panic(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: panic: %s\n", log_ident, line);
	if (log_syslog)
		syslog(LOG_CRIT, "panic: %s", line);
	abort();
}

void *xmalloc(unsigned long n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		fatal("out of memory allocating %lu bytes", n);
	return p;
}

void *xcalloc(unsigned long n, unsigned long size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		fatal("out of memory allocating %lu x %lu bytes", n, size);
	return p;
}

void *xrealloc(void *p, unsigned long n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		fatal("out of memory reallocating %lu bytes", n);
	return q;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		fatal("out of memory copying a string");
	return p;
}
