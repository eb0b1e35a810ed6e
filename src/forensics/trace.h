/*
 * trace - where a message really came from: the Received chain of a message,
 * walked top-down against a set of trusted networks (CLI.md "trace").
 *
 * The first hop whose client is outside the trusted networks is the origin;
 * hops below it were written by that untrusted client or by whoever it got
 * the message from, so they are not believed (they may be forged). Private
 * ranges and loopback are always trusted. If every hop is trusted the origin
 * is the client of the earliest hop (or a local submission, if that is what
 * the earliest hop records). Pure: no I/O, no clock; see docs/trace.md.
 */
#ifndef RG_FORENSICS_TRACE_H
#define RG_FORENSICS_TRACE_H

#include "core/addr.h"
#include "forensics/msg.h"
#include "forensics/received.h"

#include <stdbool.h>
#include <stddef.h>

#define TRACE_HOPS_MAX 100      /* Received headers kept; more are counted, not kept */
#define TRACE_RAW_MAX 1024      /* bytes of each unfolded Received value kept */
#define TRACE_AUTHRES_MAX 8     /* Authentication-Results headers kept */
#define TRACE_AUTHRES_RESULTS 8 /* method results kept per header */

struct trace_hop {
	bool parsed;   /* received_parse() recognised it */
	bool believed; /* at or above the origin: written by a trusted host */
	bool trusted;  /* believed, and the client is in a trusted network */
	struct received r;
	char raw[TRACE_RAW_MAX]; /* the unfolded value (truncated) */
};

struct trace_authres_result {
	char method[32];  /* "spf", "dkim", "dmarc", "auth", ... */
	char result[32];  /* "pass", "fail", "none", ... */
	char detail[256]; /* property=value pairs as written: "smtp.auth=sam" */
};

struct trace_authres {
	char authserv_id[RECEIVED_HOST_MAX];
	size_t nresults;
	struct trace_authres_result results[TRACE_AUTHRES_RESULTS];
};

struct trace {
	size_t nreceived; /* Received headers in the message (may exceed nhops) */
	size_t nhops;
	struct trace_hop hops[TRACE_HOPS_MAX]; /* hops[0] is the top (newest) */
	int origin;                            /* index into hops, -1 if none */
	bool origin_local; /* the origin is a local submission (no client address) */
	bool has_message_id;
	char message_id[RECEIVED_HOST_MAX + RECEIVED_USER_MAX];
	bool has_x_originating_ip;
	char x_originating_ip[ADDR_STRLEN];
	size_t nauthres;
	struct trace_authres authres[TRACE_AUTHRES_MAX];
	unsigned malformed_lines; /* header lines that were not fields */
	enum msg_error error;     /* why trace_run() failed */
};

/* true if a is private/loopback or inside trusted (which may be NULL). */
bool trace_ip_trusted(const struct addr *a, const struct prefix_set *trusted);
/* Reads the header section of msg and fills out (which is large: allocate it).
 * 0, or -1 when the header section broke a cap (out->error says which) or memory
 * ran out. A message without Received headers is not an error here: nreceived is 0. */
int trace_run(const char *msg, size_t len, const struct prefix_set *trusted, struct trace *out);
/* Parses one Authentication-Results value (RFC 8601). 0, or -1 if it has no authserv-id. */
int trace_authres_parse(const char *v, size_t len, struct trace_authres *out);

#endif
