/*
 * Unit tests of the inbound-memory helpers (SRS decoding, local-part lists)
 * and of the header classifier that feeds the auto-reply, notification and
 * forwarding rules. The rules themselves are in the golden files
 * (tests/data/policy/autoreply, notify, forward).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/str.h"
#include "forensics/msg.h"
#include "policy/config.h"
#include "policy/engine.h"
#include "policy/event.h"
#include "policy/inmem.h"
#include "policy/store.h"
#include "policy/msgclass.h"
#include "policy/rechdr.h"
#include "enginetest.h"

#include <stdlib.h>
#include <string.h>

static void test_srs(void **state)
{
	char out[POL_MAILADDR_MAX];
	assert_int_equal(
	    inmem_srs_original("SRS0=HHH=TT=example.com=John.Doe@fwd.example", out, sizeof out), 0);
	assert_string_equal(out, "john.doe@example.com");
	assert_int_equal(
	    inmem_srs_original("srs0+ab12=Q4=example.net=a=b@fwd.example", out, sizeof out), 0);
	assert_string_equal(out, "a=b@example.net"); /* the local part may hold '=' */
	assert_int_equal(
	    inmem_srs_original("SRS1=X1=first.example==HHH=TT=orig.example=bob@second.example", out,
	                       sizeof out),
	    0);
	assert_string_equal(out, "bob@orig.example");
	const char *bad[] = {"bob@example.com",
	                     "SRS0=HHH=TT=example.com@fwd",
	                     "SRS0=HHH@fwd",
	                     "SRS0==TT==x@fwd",
	                     "SRS1=X=first.example=HHH@fwd",
	                     "SRS2=a=b=c=d@e",
	                     "SRS0=HHH=TT=example.com=@fwd",
	                     ""};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(str_copy(out, sizeof out, "untouched"), 0);
		assert_int_equal(inmem_srs_original(bad[i], out, sizeof out), -1);
		assert_string_equal(out, "untouched");
	}
	char tiny[8];
	assert_int_equal(inmem_srs_original("SRS0=H=T=example.com=bob@f", tiny, sizeof tiny), -1);
}

static void test_local_matches(void **state)
{
	const char *names = "noreply, mailer-daemon,owner-*,*-request,*bounce*";
	assert_true(inmem_local_matches("NoReply@shop.example", names));
	assert_true(inmem_local_matches("mailer-daemon@mx", names));
	assert_true(inmem_local_matches("owner-list@lists.example", names));
	assert_true(inmem_local_matches("debian-user-request@lists.debian.org", names));
	assert_true(inmem_local_matches("x-bounces-12@lists.example", names));
	assert_false(inmem_local_matches("noreply2@shop.example", names));
	assert_false(
	    inmem_local_matches("alice@noreply.example", names)); /* the domain does not count */
	assert_false(inmem_local_matches("owner@x", names));
	assert_false(inmem_local_matches("", names));
	assert_false(inmem_local_matches("a@b", ""));
	assert_false(inmem_local_matches("a@b", "*,**"));
}

static uint32_t classify(const char *hdr, struct msgclass *m)
{
	struct msg_reader r;
	struct msg_field f;
	msgclass_init(m);
	msg_reader_init(&r, hdr, strlen(hdr));
	while (msg_next(&r, &f) == 1)
		msgclass_field(m, f.name, f.name_len, f.value, f.value_len);
	return m->flags;
}

static void test_msgclass(void **state)
{
	struct msgclass m;
	assert_int_equal(classify("Auto-Submitted: auto-replied (vacation)\r\n\r\n", &m),
	                 POL_F_AUTO_SUBMITTED | POL_F_AUTO_REPLY);
	assert_int_equal(classify("Auto-Submitted: no\r\nSubject: hello\r\n\r\n", &m), 0);
	assert_int_equal(classify("Auto-Submitted: auto-generated; type=quota\r\n\r\n", &m),
	                 POL_F_AUTO_SUBMITTED | POL_F_NOTIFY);
	assert_int_equal(classify("X-Autoreply: yes\n\n", &m), POL_F_AUTO_REPLY);
	assert_int_equal(classify("Precedence: auto_reply\n\n", &m), POL_F_AUTO_REPLY);
	assert_int_equal(classify("Precedence: bulk\n\n", &m), POL_F_BULK);
	assert_int_equal(classify("Precedence: list\nList-Id: <a.b>\n\n", &m), POL_F_LIST);
	assert_int_equal(classify("Subject: Out of Office: back Monday\n\n", &m), POL_F_AUTO_REPLY);
	assert_int_equal(classify("Subject: Automatic reply: your order\n\n", &m),
	                 POL_F_AUTO_REPLY);
	assert_int_equal(classify("Subject: Re: out of office party\n\n", &m), 0);
	assert_int_equal(classify("X-Spam-Flag: YES\n\n", &m), POL_F_SPAM);
	assert_int_equal(classify("X-Spam-Status: No, score=1.2\n\n", &m), 0);
	assert_int_equal(classify("X-Spam-Status: Yes, score=9.1\n\n", &m), POL_F_SPAM);
	assert_int_equal(classify("Content-Type: multipart/report; report-type=delivery-status;\n"
	                          "\tboundary=x\n\n",
	                          &m),
	                 POL_F_NOTIFY);
	classify("From: \"Alice, A.\" <Alice@Example.ORG>\nMessage-ID: <abc@x.example>\n"
	         "In-Reply-To: <p1@y.example> <p0@y.example>\n\n",
	         &m);
	assert_string_equal(m.from, "alice@example.org");
	assert_string_equal(m.message_id, "abc@x.example");
	assert_string_equal(m.in_reply_to, "p1@y.example");
	classify("From: bob@example.net (Bob)\n\n", &m);
	assert_string_equal(m.from, "bob@example.net");
	classify("From: undisclosed\nMessage-ID: no-brackets@x\n\n", &m);
	assert_string_equal(m.from, "");
	assert_string_equal(m.message_id, "no-brackets@x");
	struct pol_event ev;
	pol_event_init(&ev, POL_EV_MAIL, 0);
	classify("Auto-Submitted: auto-replied\nMessage-ID: <r1@e>\nFrom: a@e\n\n", &m);
	msgclass_apply(&m, &ev);
	assert_true(ev.flags & POL_F_AUTO_REPLY);
	assert_string_equal(ev.message_id, "r1@e");
	assert_string_equal(ev.hfrom, "a@e");
}

static void damaged_eval(struct pol_engine *e, const char *line, struct pol_verdict *v)
{
	static struct pol_event ev;
	char err[256];
	assert_int_equal(pol_event_parse(line, strlen(line), &ev, err, sizeof err), 1);
	assert_int_equal(pol_engine_evaluate(e, &ev, v), 0);
}

struct damaged_fx {
	struct pol_config *cfg;
	struct store *st;
	struct pol_engine *e;
};

static void damaged_fx_new(struct damaged_fx *f)
{
	f->e = enginetest_new(&f->cfg, &f->st);
}

static void damaged_fx_free(struct damaged_fx *f)
{
	enginetest_free(f->e, f->cfg, f->st);
}

/* A sender record in the store whose last message has an spf out of range (a
 * damaged file, a Redis shared with others) is no record: the old code read it
 * and panicked in pol_spf_name() answering a notification to that sender. */
static void test_damaged_sender_record(void **state)
{
	struct damaged_fx f;
	damaged_fx_new(&f);
	struct pol_engine *e = f.e;
	struct store *st = f.st;
	struct pol_verdict v;
	damaged_eval(e,
	             "T+0 INBOUND ip=198.51.100.31 from=frank@nospf.example rcpt=full@example.org "
	             "msgid=g1@nospf.example spf=none",
	             &v);
	static unsigned char rec[65536];
	size_t len = 0;
	const char *key = "S:frank@nospf.example";
	assert_int_equal(st->get(st, key, rec, sizeof rec, &len), 1);
	/* the record's last message: ... uint32 spf; char sender[] */
	unsigned char *at = memmem(rec, len, "frank@nospf.example", 19);
	assert_non_null(at);
	assert_true(at - rec >= 4);
	uint32_t bad = 99;
	memcpy(at - 4, &bad, 4);
	assert_int_equal(st->put(st, key, rec, len), 0);
	damaged_eval(e, "T+310 MAIL ip=192.0.2.10 from=<> rcpt=frank@nospf.example", &v);
	assert_int_equal(v.action, POL_HOLD);
	assert_string_equal(v.rule, "notify_unverified");
	damaged_fx_free(&f);
}

/* Overwrites len bytes at the first place pattern (plen bytes) is found in the
 * record under key, plus off, with bad: a damaged store file or a Redis shared
 * with others holds what it holds. */
static void damage_at(struct store *st, const char *key, const void *pattern, size_t plen,
                      ptrdiff_t off, const void *bad, size_t len)
{
	static _Alignas(16) unsigned char rec[STORE_REC_MAX];
	size_t n = 0;
	assert_int_equal(st->get(st, key, rec, sizeof rec, &n), 1);
	unsigned char *at = memmem(rec, n, pattern, plen);
	assert_non_null(at);
	at += off;
	assert_true(at >= rec && at + len <= rec + n);
	memcpy(at, bad, len);
	assert_int_equal(st->put(st, key, rec, n), 0);
}

#define AR_PROBE                                                                                   \
	"ip=198.51.100.7 from=probe@forged.example rcpt=alice@example.org "                        \
	"msgid=probe0@forged.example"
#define AR_REPLY                                                                                   \
	"MAIL ip=192.0.2.10 from=<> hfrom=alice@example.org flags=auto_submitted,auto_reply"

/* A message record whose has_ip is neither 0 nor 1 is no record: the old code
 * loaded it as a bool (undefined, a failure under UBSan) saying why the probe
 * was forged. The sender's own record still answers. */
static void test_damaged_message_record(void **state)
{
	(void)state;
	struct damaged_fx f;
	damaged_fx_new(&f);
	struct pol_verdict v;
	damaged_eval(f.e, "T+0 INBOUND " AR_PROBE " spf=fail", &v);
	/* struct inmem_msg: ... bool has_ip; struct addr ip { family, bytes } */
	static const unsigned char ip[] = {4, 198, 51, 100, 7};
	unsigned char two = 2;
	damage_at(f.st, "M:probe0@forged.example", ip, sizeof ip, -1, &two, 1);
	damaged_eval(f.e,
	             "T+5 " AR_REPLY " rcpt=probe@forged.example msgid=r0@example.org "
	             "irt=probe0@forged.example",
	             &v);
	assert_int_equal(v.action, POL_HOLD);
	assert_string_equal(v.rule, "autoreply_forged");
	bool said = false;
	for (uint32_t i = 0; i < v.n_reasons; i++)
		said |= strstr(v.reasons[i], "forged: SPF fail from 198.51.100.7") != NULL;
	assert_true(said);
	damaged_fx_free(&f);
}

/* An auto-reply mark sent before the epoch, or a reply cap whose time is, is
 * no record (a fresh one is written): the old code subtracted the time from
 * the event's (signed overflow, a failure under UBSan). */
static void test_damaged_reply_records(void **state)
{
	(void)state;
	struct damaged_fx f;
	damaged_fx_new(&f);
	struct pol_verdict v;
	damaged_eval(f.e, "T+0 INBOUND " AR_PROBE " spf=none", &v);
	damaged_eval(f.e, "T+5 " AR_REPLY " rcpt=probe@forged.example msgid=r0@example.org", &v);
	assert_true(v.action <= POL_WARN);
	int64_t sent = POL_EVENT_EPOCH_MS + 5000, bad = INT64_MIN + 1;
	/* struct inmem_mark: header, sent_ms, expires_ms */
	damage_at(f.st, "R:alice@example.org probe@forged.example", &sent, sizeof sent, 0, &bad,
	          sizeof bad);
	damaged_eval(f.e, "T+65 " AR_REPLY " rcpt=probe@forged.example msgid=r1@example.org", &v);
	assert_true(v.action <= POL_WARN); /* no mark: this reply is the first */
	/* and now it is marked again */
	damaged_eval(f.e, "T+125 " AR_REPLY " rcpt=probe@forged.example msgid=r2@example.org", &v);
	assert_string_equal(v.rule, "autoreply_repeat");

	/* struct inmem_cap: header, EWMA { rate, last_ms }: last_ms is the time of the
	 * last reply (T+65: the one at T+125 was held before the cap) */
	int64_t last = POL_EVENT_EPOCH_MS + 65000;
	damage_at(f.st, "Y:alice@example.org", &last, sizeof last, 0, &bad, sizeof bad);
	damaged_eval(f.e, "T+185 " AR_REPLY " rcpt=someone@other.example msgid=r3@example.org", &v);
	assert_true(v.action <= POL_WARN);
	damaged_fx_free(&f);
}

/* The one record header: read as ours only when type, layout version and
 * size all match and the value is exactly that long. */
static void test_rechdr(void **state)
{
	(void)state;
	struct {
		struct rechdr hdr;
		uint64_t payload;
	} r;
	memset(&r, 0, sizeof r);
	rechdr_set(&r.hdr, "PTST", 3, sizeof r);
	assert_true(rechdr_ok(&r, sizeof r, "PTST", 3, sizeof r));
	assert_false(rechdr_ok(&r, sizeof r, "PXXX", 3, sizeof r));     /* another type */
	assert_false(rechdr_ok(&r, sizeof r, "PTST", 4, sizeof r));     /* another layout */
	assert_false(rechdr_ok(&r, sizeof r - 1, "PTST", 3, sizeof r)); /* cut value */
	assert_false(rechdr_ok(&r, 4, "PTST", 3, 4));                   /* shorter than a header */
	r.hdr.size = 8;
	assert_false(rechdr_ok(&r, sizeof r, "PTST", 3, sizeof r)); /* the header disagrees */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_damaged_sender_record),
	    cmocka_unit_test(test_damaged_message_record),
	    cmocka_unit_test(test_damaged_reply_records),
	    cmocka_unit_test(test_rechdr),
	    cmocka_unit_test(test_srs),
	    cmocka_unit_test(test_local_matches),
	    cmocka_unit_test(test_msgclass),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
