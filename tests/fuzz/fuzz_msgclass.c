/*
 * fuzz_msgclass - libFuzzer target for the header classifier: every field of
 * an arbitrary header section through msgclass_field(), then into an event and
 * through the inbound-memory rules of the engine (memory store).
 */
#include "forensics/msg.h"
#include "policy/config.h"
#include "policy/engine.h"
#include "policy/msgclass.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pol_config cfg;
	static struct store *st;
	static struct pol_engine *e;
	static int64_t t = POL_EVENT_EPOCH_MS;
	char err[128];
	if (!e) {
		if (pol_config_defaults(&cfg, err, sizeof err) != 0)
			__builtin_trap();
		st = store_mem_new();
		e = pol_engine_new(&cfg, st);
		if (!e)
			__builtin_trap();
	}
	struct msgclass m;
	struct msg_reader r;
	struct msg_field f;
	msgclass_init(&m);
	msg_reader_init(&r, (const char *)data, size);
	while (msg_next(&r, &f) == 1)
		msgclass_field(&m, f.name, f.name_len, f.value, f.value_len);
	if (strnlen(m.message_id, sizeof m.message_id) == sizeof m.message_id ||
	    strnlen(m.from, sizeof m.from) == sizeof m.from)
		__builtin_trap();
	static struct pol_event ev;
	struct pol_verdict v;
	t += 1000;
	pol_event_init(&ev, (size & 1) ? POL_EV_INBOUND : POL_EV_MAIL, t);
	ev.has_ip = true;
	ev.ip.family = 4;
	ev.ip.bytes[0] = 192;
	ev.ip.bytes[3] = (uint8_t)size;
	msgclass_apply(&m, &ev);
	if (m.from[0]) {
		memcpy(ev.sender, m.from, sizeof ev.sender);
		pol_event_add_rcpt(&ev, m.from, POL_DLV_OK);
	}
	(void)pol_engine_evaluate(e, &ev, &v);
	return 0;
}
