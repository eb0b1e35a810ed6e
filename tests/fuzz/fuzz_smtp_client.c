/*
 * fuzz_smtp_client - libFuzzer target for the SMTP client state machine
 * (src/smtp/client.c) driven by arbitrary server bytes.
 *
 * The first input byte picks the options (TLS policy, AUTH, pipelining off);
 * the rest is what "the server" says. The driver answers every event the way
 * the delivery worker does: a message on READY (three at most), content on
 * DATA, QUIT at the end. Checks: no crash or leak, progress on every
 * consumed reply, every recipient has a result code 200..599 when a
 * transaction is DONE, the output never holds a bare LF.
 */
#include "smtp/client.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_rcpt[] = {"a@x.test", "b@x.test", "c@x.test"};

static void fuzz_check_out(struct smtpc *c)
{
	const char *o = c->out.data;
	for (size_t i = 0; o && i < c->out.len; i++)
		if (o[i] == '\n' && (i == 0 || o[i - 1] != '\r'))
			abort();
	buf_reset(&c->out);
}

/* Another message while fewer than three went, else QUIT. */
static void fuzz_next(struct smtpc *c, const struct smtpc_msg *m, int *msgs)
{
	if ((*msgs)++ < 3 && smtpc_mail(c, m) == 0)
		return;
	if (c->state == SMTPC_S_READY)
		smtpc_quit(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t sel = data[0];
	struct smtpc_options o = {.helo_name = "gw.test",
	                          .tls = (enum smtpc_tls)(sel % 3),
	                          .auth_user = (sel & 4) ? "user" : NULL,
	                          .auth_pass = "pw",
	                          .auth_plaintext = (sel & 8) != 0,
	                          .no_pipelining = (sel & 16) != 0};
	struct smtpc c;
	if (smtpc_init(&c, &o) != 0)
		return 0;
	struct smtpc_msg m = {.sender = "s@gw.test", .nrcpt = 3, .rcpt = fuzz_rcpt, .size = 12};
	const char *p = (const char *)data + 1;
	size_t left = size - 1;
	int msgs = 0;
	while (left > 0) {
		size_t used = 0;
		enum smtpc_event ev;
		int rc = smtpc_input(&c, p, left, &used, &ev);
		if (rc <= 0)
			break;
		if (used == 0 || used > left)
			abort();
		p += used;
		left -= used;
		switch (ev) {
		case SMTPC_EV_TLS:
			smtpc_tls_done(&c);
			break;
		case SMTPC_EV_READY:
			fuzz_next(&c, &m, &msgs);
			break;
		case SMTPC_EV_DATA:
			if (smtpc_data(&c, ".x\r\n.\n\r.\r", 10) != 0 || smtpc_data_end(&c) != 0)
				abort();
			break;
		case SMTPC_EV_DONE:
			for (size_t i = 0; i < m.nrcpt; i++) {
				int code = smtpc_result(&c, i)->code;
				if (code < 200 || code > 599)
					abort();
			}
			if (smtpc_usable(&c))
				fuzz_next(&c, &m, &msgs);
			break;
		default:
			break;
		}
		fuzz_check_out(&c);
		if (c.state == SMTPC_S_CLOSED)
			break;
	}
	smtpc_free(&c);
	return 0;
}
