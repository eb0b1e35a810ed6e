/*
 * fuzz_tracelog - trace --log's reading of mail logs: the input is a log
 * (lines split at newlines), read in the three passes for a fixed message
 * whose Received queue id and Message-ID the lines may name; each line is
 * also given to rglog_parse_smtpd. Any input must give an answer, never a
 * crash, and the sessions stay within their caps.
 */
#include "forensics/rglog.h"
#include "forensics/trace.h"
#include "forensics/tracelog.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_msg[] =
    "Received: from c (c [192.0.2.1]) by mx.test (Postfix) with ESMTPSA id 4Xq1Zk2bcDz9sT;\n"
    " Sun, 6 Dec 2026 07:00:01 +0000\n"
    "Received: from d (d [192.0.2.2]) by gw.test (relayguard) with ESMTPA id 01A24A3692560000;\n"
    " Sun, 6 Dec 2026 07:00:00 +0000\n"
    "Message-ID: <a1@client.test>\n\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct trace t;
	static struct tracelog tl;
	const char *p = (const char *)data;
	if (trace_run(fuzz_msg, sizeof fuzz_msg - 1, NULL, &t) != 0 || tracelog_init(&tl, &t) != 0)
		__builtin_trap();
	for (int pass = 1; pass <= TRACELOG_PASSES; pass++) {
		tracelog_pass(&tl, pass);
		tracelog_file(&tl, 0, pass == 2 ? 0 : 1798675200000LL);
		size_t i = 0;
		while (i < size) {
			const char *nl = memchr(p + i, '\n', size - i);
			size_t e = nl ? (size_t)(nl - p) : size;
			tracelog_line(&tl, p + i, e - i);
			if (pass == 1) {
				struct rglog_smtpd r;
				(void)rglog_parse_smtpd((struct logspan){p + i, e - i}, &r);
			}
			i = e + 1;
		}
	}
	if (tl.nsessions > TRACELOG_SESSIONS_MAX)
		__builtin_trap();
	for (size_t k = 0; k < tl.nsessions; k++)
		if (tl.sessions[k].nrelated > TRACELOG_RELATED_MAX ||
		    tl.sessions[k].nrcpts > TRACELOG_RCPTS_MAX ||
		    tl.sessions[k].nrelated > tl.sessions[k].related_total)
			__builtin_trap();
	return 0;
}
