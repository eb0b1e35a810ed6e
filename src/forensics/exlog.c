/*
 * exlog - Exchange transport log CSV (see exlog.h).
 */
#include "forensics/exlog.h"

#include "forensics/srvfield.h"

#include <string.h>

size_t exlog_split(const char *p, size_t len, struct logspan *cols, size_t max)
{
	size_t n = 0, i = 0;
	while (n < max) {
		if (i < len && p[i] == '"') {
			size_t b = ++i;
			while (i < len) {
				if (p[i] == '"') {
					if (i + 1 < len && p[i + 1] == '"') {
						i += 2;
						continue;
					}
					break;
				}
				i++;
			}
			cols[n++] = (struct logspan){p + b, i - b};
			if (i < len)
				i++; /* the closing quote */
			while (i < len && p[i] != ',')
				i++; /* anything after it, up to the comma */
		} else {
			size_t b = i;
			while (i < len && p[i] != ',')
				i++;
			cols[n++] = (struct logspan){p + b, i - b};
		}
		if (i >= len)
			break;
		i++; /* the comma */
	}
	return n;
}

void exlog_fields(struct logspan names, int col[EXF_COUNT])
{
	static const char *const want[EXF_COUNT] = {
	    "date-time",
	    "client-ip",
	    "server-ip",
	    "source-context",
	    "source",
	    "event-id",
	    "internal-message-id",
	    "recipient-address",
	    "recipient-status",
	    "total-bytes",
	    "recipient-count",
	    "message-subject",
	    "sender-address",
	    "return-path",
	    "directionality",
	    "original-client-ip",
	    "session-id",
	    "remote-endpoint",
	    "event",
	    "data",
	    "context",
	};
	struct logspan c[EXLOG_COLS_MAX];
	size_t n = exlog_split(names.p, names.len, c, EXLOG_COLS_MAX);
	for (int f = 0; f < EXF_COUNT; f++) {
		col[f] = -1;
		for (size_t i = 0; i < n; i++)
			if (logspan_eq(srvfield_trim(c[i]), want[f]) ||
			    (srvfield_trim(c[i]).len == strlen(want[f]) &&
			     srvfield_istarts(srvfield_trim(c[i]), want[f]))) {
				col[f] = (int)i;
				break;
			}
	}
}

int64_t exlog_time(struct logspan s)
{
	/* yyyy-mm-ddThh:mm:ss[.fff]Z */
	const char *p = s.p;
	if (s.len < 19 || p[4] != '-' || p[7] != '-' || p[10] != 'T' || p[13] != ':' ||
	    p[16] != ':')
		return -1;
	int y = srvfield_digits(p, 4), mo = srvfield_digits(p + 5, 2),
	    d = srvfield_digits(p + 8, 2), h = srvfield_digits(p + 11, 2),
	    mi = srvfield_digits(p + 14, 2), sec = srvfield_digits(p + 17, 2), ms = 0;
	if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || sec < 0)
		return -1;
	if (s.len >= 23 && p[19] == '.') {
		ms = srvfield_digits(p + 20, 3);
		if (ms < 0)
			return -1;
	}
	return srvfield_epoch(y, mo, d, h, mi, sec, ms);
}
