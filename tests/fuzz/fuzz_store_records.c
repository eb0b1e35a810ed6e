/*
 * fuzz_store_records - libFuzzer target for what the policy layer reads back
 * from its state store. A damaged store file, or a Redis shared with other
 * nodes and people, may hold any bytes under the engine's and inmem's keys:
 * they must be refused or read safely, never crash, never panic().
 *
 * The first byte picks what the rest becomes:
 *   0..5  the record under one key of a small scenario (an identity, an IP's
 *         failed logins, a sender, a message, an auto-reply mark and cap),
 *         its bytes after the 16-byte header overwritten by the input (the
 *         header stays, so the fields behind it are reached); with bit 0x80
 *         the whole value is the input (the header too);
 *   6     a block value (store_value_decode), then the status JSON of it, the
 *         engine's ranges and a check against it;
 *   7     an audit value (store_audit_decode), then the audit listing.
 * After the damage the scenario's readers run: mail of the identity, failed
 * and good logins from the IP, an auto-reply, a notification and a forward
 * about the sender and message, and the identity's counters.
 */
#include "admin/blocks.h"
#include "fuzz_policy.h"
#include "policy/config.h"
#include "policy/engine.h"
#include "policy/event.h"
#include "policy/store.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pol_config fuzz_cfg;
static int fuzz_ready;

static const char *const fuzz_keys[] = {
    "I:user:alice@example.org",
    "A:ip:198.51.100.9",
    "S:probe@forged.example",
    "M:m1@forged.example",
    "R:alice@example.org probe@forged.example",
    "Y:alice@example.org",
};

/* the scenario that writes every record, then the events that read them */
static const char *const fuzz_write[] = {
    "T+0 INBOUND ip=198.51.100.7 from=probe@forged.example rcpt=alice@example.org "
    "msgid=m1@forged.example spf=none",
    "T+5 MAIL ip=192.0.2.10 from=<> hfrom=alice@example.org rcpt=probe@forged.example "
    "msgid=r0@example.org irt=m1@forged.example flags=auto_submitted,auto_reply",
    "T+10 MAIL ip=203.0.113.5 user=alice@example.org from=alice@example.org "
    "rcpt=bob@example.net",
    "T+15 AUTH_FAIL user=carol@example.org ip=198.51.100.9",
};

static const char *const fuzz_read[] = {
    "T+70 MAIL ip=203.0.113.5 user=alice@example.org from=alice@example.org "
    "rcpt=bob@example.net rcpt=carol@example.com",
    "T+75 AUTH_FAIL user=carol@example.org ip=198.51.100.9",
    "T+80 AUTH_OK user=carol@example.org ip=198.51.100.9",
    "T+85 MAIL ip=192.0.2.10 from=<> hfrom=alice@example.org rcpt=probe@forged.example "
    "msgid=r1@example.org irt=m1@forged.example flags=auto_submitted,auto_reply",
    "T+90 MAIL ip=192.0.2.10 from=<> rcpt=probe@forged.example",
    "T+95 MAIL ip=203.0.113.5 user=alice@example.org from=alice@example.org "
    "rcpt=x@example.net msgid=m1@forged.example",
    "T+100 MAIL ip=198.51.100.9 from=probe@forged.example rcpt=alice@example.org",
};

static void fuzz_run(struct pol_engine *e, const char *const *lines, size_t n)
{
	static struct pol_event ev;
	char err[256];
	for (size_t i = 0; i < n; i++) {
		if (pol_event_parse(lines[i], strlen(lines[i]), &ev, err, sizeof err) != 1)
			abort();
		fuzz_policy_evaluate(e, &ev);
	}
}

static void fuzz_record(struct store *st, unsigned sel, const uint8_t *p, size_t n)
{
	static _Alignas(16) unsigned char rec[STORE_REC_MAX];
	const char *key = fuzz_keys[sel & 0x7f];
	size_t len = 0;
	if (sel & 0x80) {
		if (n > STORE_REC_MAX)
			n = STORE_REC_MAX;
		if (st->put(st, key, p, n) != 0)
			abort();
		return;
	}
	if (st->get(st, key, rec, sizeof rec, &len) != 1 || len < 16)
		abort(); /* the scenario wrote it */
	if (n > len - 16)
		n = len - 16;
	memcpy(rec + 16, p, n);
	if (st->put(st, key, rec, len) != 0)
		abort();
}

static void fuzz_block(struct store *st, struct pol_engine *e, const uint8_t *p, size_t n)
{
	static unsigned char val[STORE_VALUE_HDR + sizeof(struct store_block)];
	static struct store_block b, got;
	memset(&b, 0, sizeof b);
	memcpy(&b, p, n < sizeof b ? n : sizeof b);
	store_value_encode(val, 'B', &b, sizeof b);
	(void)store_value_decode(p, n, 'B', &got, sizeof got); /* the raw bytes, header and all */
	if (store_value_decode(val, sizeof val, 'B', &got, sizeof got) != 0)
		return;
	json_decref(blocks_json(&got));
	if (st->block_put(st, &got) != 0)
		return;
	if (pol_engine_reload(e) != 0)
		abort();
	json_decref(blocks_list(st));
	fuzz_run(e, fuzz_read, 1);
	fuzz_run(e, fuzz_read + 6, 1);
}

static void fuzz_audit(struct store *st, const uint8_t *p, size_t n)
{
	static unsigned char val[STORE_VALUE_HDR + sizeof(struct store_audit)];
	static struct store_audit a, got;
	memset(&a, 0, sizeof a);
	memcpy(&a, p, n < sizeof a ? n : sizeof a);
	store_value_encode(val, 'A', &a, sizeof a);
	(void)store_audit_decode(p, n, &got);
	if (store_audit_decode(val, sizeof val, &got) != 0)
		return;
	if (st->audit_append(st, &got) != 0)
		abort();
	json_decref(blocks_audit(st, NULL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	if (!fuzz_ready) {
		if (pol_config_defaults(&fuzz_cfg, err, sizeof err) != 0)
			abort();
		fuzz_cfg.delay_base_ms = 0; /* the delay's doubling never reaches its maximum */
		fuzz_ready = 1;
	}
	if (size < 1)
		return 0;
	unsigned sel = data[0];
	/* an exact-size copy so ASan sees any read past the end */
	size_t n = size - 1;
	uint8_t *p = malloc(n ? n : 1);
	if (!p)
		return 0;
	if (n)
		memcpy(p, data + 1, n);
	struct store *st = store_mem_new();
	struct pol_engine *e = st ? pol_engine_new(&fuzz_cfg, st) : NULL;
	if (e) {
		fuzz_run(e, fuzz_write, sizeof fuzz_write / sizeof fuzz_write[0]);
		if ((sel & 0x7f) < sizeof fuzz_keys / sizeof fuzz_keys[0]) {
			fuzz_record(st, sel, p, n);
			fuzz_run(e, fuzz_read, sizeof fuzz_read / sizeof fuzz_read[0]);
			struct pol_counters pc;
			(void)pol_engine_counters(e, "user:alice@example.org",
			                          POL_EVENT_EPOCH_MS + 120000, &pc);
		} else if (sel == 6) {
			fuzz_block(st, e, p, n);
		} else if (sel == 7) {
			fuzz_audit(st, p, n);
		}
	}
	pol_engine_free(e);
	if (st)
		st->close(st);
	free(p);
	return 0;
}
