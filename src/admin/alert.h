/*
 * alert - tells a person that something changed: a blocklist listing, a
 * blocked account. Two ways out, both fed the same JSON document:
 *   exec     runs a program directly (no shell: the command line is split on
 *            white space), the JSON on its standard input, with a time limit;
 *   webhook  POSTs the JSON to an http:// or https:// URL (certificate and
 *            host name verified), retried with backoff on failure.
 * Each call blocks until done or timed out: alerts are rare, and the callers
 * (monitor rounds, the gateway's alert worker) wait for them on purpose.
 */
#ifndef RG_ADMIN_ALERT_H
#define RG_ADMIN_ALERT_H

#include <stddef.h>

struct alert_exec {
	const char *command;  /* "program arg arg": split on spaces and tabs, no shell */
	int timeout_ms;       /* killed after this; 0: 30000 */
};

struct alert_webhook {
	const char *url;
	int timeout_ms; /* per attempt; 0: 10000 */
	int retries;    /* further attempts after the first; backoff 1 s, 2 s, 4 s ... */
	const char *ca_file; /* NULL: the system's trust store */
};

/* 0 when the program exited 0, -1 otherwise (err says why). */
int alert_run_exec(const struct alert_exec *a, const char *json, char *err, size_t errlen);
/* 0 on a 2xx answer, -1 otherwise (err says why). */
int alert_post_webhook(const struct alert_webhook *w, const char *json, char *err,
		       size_t errlen);
/* Checks a URL's form without sending anything. 0 or -1. */
int alert_webhook_check_url(const char *url, char *err, size_t errlen);

#endif
