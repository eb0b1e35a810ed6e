/*
 * fuzz_log_postfix - libFuzzer target for the Postfix line parser: the input
 * is a whole syslog line; the header (logline) and the message (pflog) must
 * never crash, never read past the input, and every span must lie inside it.
 */
#include "forensics/logline.h"
#include "forensics/pflog.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_in(const char *p, size_t n, struct logspan s)
{
	if (s.p < p || s.p + s.len > p + n)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *p = malloc(size ? size : 1); /* exact size: ASan sees any overread */
	if (!p)
		return 0;
	if (size)
		memcpy(p, data, size);
	struct logline l;
	struct pflog_rec r;
	memset(&r, 0, sizeof r);
	if (logline_parse(p, size, &l) == 0) {
		fuzz_in(p, size, l.host);
		fuzz_in(p, size, l.tag);
		fuzz_in(p, size, l.msg);
		struct logspan d = logline_daemon(&l);
		fuzz_in(p, size, d);
		if (pflog_parse(d, l.msg, &r) != r.kind)
			abort();
		(void)pflog_kind_name(r.kind);
		const struct logspan spans[] = {r.qid,    r.client, r.sasl_method, r.sasl_user,
		                                r.sender, r.rcpt,   r.orig_rcpt,   r.relay,
		                                r.dsn,    r.text,   r.stage,       r.new_qid};
		for (size_t i = 0; r.kind != PFLOG_OTHER && i < sizeof spans / sizeof spans[0]; i++)
			fuzz_in(p, size, spans[i]);
		struct logyear y;
		logyear_init(&y, 2026, 0);
		(void)logyear_resolve(&y, &l);
	}
	/* the message parser alone, with every daemon */
	static const char *const daemons[] = {"smtpd", "cleanup", "qmgr",
	                                      "smtp",  "pickup",  "bounce"};
	for (size_t i = 0; i < sizeof daemons / sizeof daemons[0]; i++)
		(void)pflog_parse((struct logspan){daemons[i], strlen(daemons[i])},
		                  (struct logspan){p, size}, &r);
	free(p);
	return 0;
}
