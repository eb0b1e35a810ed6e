/*
 * relaytest - an SMTP client that tries every classic relay trick against a
 * server and says which ones it accepted (`relayguard relaytest`).
 *
 * The battery is a data table (relaytest_cases_get): the 16 MAIL FROM / RCPT
 * TO combinations of nmap's smtp-open-relay.nse, then percent/bang/quote/
 * source-route variants at the server's own name, foreign IPv4/IPv6 address
 * literals, a trailing-dot and an upper-case domain and forged local senders.
 * For each: RSET, MAIL FROM, and, when MAIL was accepted, RCPT TO. A test
 * "relayed" when RCPT got a 2xx. DATA is never sent: a probe must not send
 * mail. If the server drops the connection (or says 421) in the middle, the
 * client reconnects once and repeats that test (Postfix disconnects after
 * smtpd_hard_error_limit errors).
 *
 * The reply reader is a pure function over bytes (relaytest_reply_parse) so
 * it can be fuzzed: bounded line length, bounded line count, every line must
 * carry the same code, CRLF or bare LF line ends.
 */
#ifndef RG_SMTP_RELAYTEST_H
#define RG_SMTP_RELAYTEST_H

#include "core/addr.h"

#include <stdbool.h>
#include <stddef.h>

#define RELAYTEST_LINE_MAX 2048   /* RFC 5321 says 512; be generous, but bounded */
#define RELAYTEST_LINES_MAX 100   /* lines in one multiline reply */
#define RELAYTEST_TEXT_MAX 512    /* first line kept for the report (sanitised) */
#define RELAYTEST_INPUT_MAX 65536 /* unparsed input we buffer */
#define RELAYTEST_PATH_MAX 600
#define RELAYTEST_NAME_MAX 256
#define RELAYTEST_CASES_MAX 40

struct relaytest_reply {
	int code;                      /* 200..599, 0 when none */
	size_t lines;                  /* number of lines in the reply */
	char text[RELAYTEST_TEXT_MAX]; /* first line, "250 text", sanitised */
};

/* Parses one reply at the start of data[0..len). 1: complete, *used bytes
 * belong to it; 0: more bytes needed; -1: malformed (not a reply). */
int relaytest_reply_parse(const char *data, size_t len, struct relaytest_reply *out, size_t *used);

/* The host name a 220 banner or EHLO reply starts with (after the code), or
 * -1 when there is none that looks like one. Only [A-Za-z0-9.-] are kept. */
int relaytest_reply_hostname(const struct relaytest_reply *r, char *out, size_t size);

/* One test of the battery. Templates use {F} from-domain, {D} to-domain,
 * {U} to-domain in upper case, {S} server name, {I} address literal content
 * ("192.0.2.1" or "IPv6:2001:db8::1"). */
struct relaytest_case {
	const char *name;
	const char *mail_from;
	const char *rcpt_to;
	const char *trick;
};
const struct relaytest_case *relaytest_cases_get(size_t *n);

struct relaytest_vars {
	const char *from_domain;
	const char *to_domain;
	const char *server_name;
	const char *ip_literal;
};
/* Fills a template. 0, or -1 when out is too small or a placeholder is unknown. */
int relaytest_expand(const char *tmpl, const struct relaytest_vars *v, char *out, size_t size);

/* "host", "host:port", "[v6]:port", "[v6]", "v6" (no port) into host and port
 * (default_port when absent). 0 or -1. */
int relaytest_target_parse(const char *s, const char *default_port, char *host, size_t hsize,
                           char *port, size_t psize);

/* A name that is safe to put on a command line: [A-Za-z0-9.-] (and for
 * literals "[...]" with hex digits, ':' and '.'), 1..253 long. */
bool relaytest_name_ok(const char *s);

struct relaytest_options {
	const char *host;
	const char *port;
	int timeout_ms; /* for connect and for every reply */
	const char *helo;
	const char *from_domain;
	const char *to_domain;
};

struct relaytest_result {
	const char *name;
	const char *trick;
	char mail_from[RELAYTEST_PATH_MAX];
	char rcpt_to[RELAYTEST_PATH_MAX];
	bool ran;       /* completed: MAIL answered and, if accepted, RCPT answered */
	bool rcpt_sent; /* RCPT was sent (MAIL got a 2xx) */
	bool relayed;   /* RCPT got a 2xx */
	struct relaytest_reply mail_reply;
	struct relaytest_reply rcpt_reply;
};

enum relaytest_status {
	RELAYTEST_DONE,           /* every test ran */
	RELAYTEST_CONNECT_FAILED, /* could not resolve or connect: nothing ran */
	RELAYTEST_INCOMPLETE,     /* the session failed part way (or never started) */
};

struct relaytest_report {
	char peer[ADDR_STRLEN];               /* the address we talked to */
	char server_name[RELAYTEST_NAME_MAX]; /* from the banner, EHLO reply or target */
	char banner[RELAYTEST_TEXT_MAX];
	size_t ntests;
	struct relaytest_result tests[RELAYTEST_CASES_MAX];
	size_t ran, relayed;
	char error[512]; /* why it is not DONE */
};

/* Runs the battery. Blocking sockets with poll() timeouts; nothing else. */
enum relaytest_status relaytest_run(const struct relaytest_options *o, struct relaytest_report *r);

#endif
