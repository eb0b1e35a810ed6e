/*
 * log - logging and the three error tiers; see log.h.
 */
#include "core/log.h"

#include "core/clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

static const char *log_ident = "relayguard";
static bool log_stderr = true;
static bool log_syslog = false;
static enum log_level log_level_cur = LOG_LEVEL_INFO;
static bool log_journal = false; /* stderr is the journal's stream: <N> prefixes */

static const char *const log_names[] = {"error", "warning", "info", "debug"};

void log_open(const char *ident, bool to_stderr, bool to_syslog, enum log_level level)
{
	log_ident = ident;
	log_stderr = to_stderr;
	log_syslog = to_syslog;
	log_level_cur = level;
	log_journal = to_stderr && log_stderr_is_journal();
	if (to_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

bool log_stderr_is_journal(void)
{
	/* systemd sets JOURNAL_STREAM=DEV:INODE of the stream it connected to
	 * stderr; a child whose stderr was redirected must not take it for the
	 * journal (systemd.exec(5), sd-daemon(3)). */
	const char *js = getenv("JOURNAL_STREAM");
	char *end;
	if (!js || *js < '0' || *js > '9')
		return false;
	unsigned long long dev = strtoull(js, &end, 10);
	if (*end != ':' || end[1] < '0' || end[1] > '9')
		return false;
	unsigned long long ino = strtoull(end + 1, &end, 10);
	if (*end != '\0')
		return false;
	struct stat st;
	if (fstat(2, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
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
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	if (log_stderr && log_journal) {
		/* The journal stamps the time and reads the priority: <N> is what
		 * makes journalctl -p warning work. */
		fprintf(stderr, "<%d>%s[%s]: %s\n", prio[level], log_ident, log_names[level], line);
	} else if (log_stderr) {
		char ts[40];
		if (clock_format_rfc3339(clock_realtime_ms(), ts, sizeof ts) != 0)
			ts[0] = '\0';
		fprintf(stderr, "%s %s[%s]: %s\n", ts, log_ident, log_names[level], line);
	}
	if (log_syslog) {
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
	fprintf(stderr, "%s%s: panic: %s\n", log_journal ? "<2>" : "", log_ident, line);
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
