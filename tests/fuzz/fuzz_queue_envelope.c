/*
 * fuzz_queue_envelope - the spool's readers on arbitrary bytes: the
 * envelope text parser (qenv_parse) and the segment record reader
 * (qseg_read, over the same bytes as a segment file in a memfd).
 *
 * Invariants checked: a failed parse leaves the envelope empty; an accepted
 * envelope formats back to text that parses again to the same envelope and
 * formats to the same text; a record that verifies lies inside the file.
 */
#include "core/buf.h"
#include "core/log.h"
#include "queue/qenv.h"
#include "queue/qseg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_envelope(const uint8_t *data, size_t size)
{
	struct queue_envelope env, again;
	char err[256];
	if (qenv_parse((const char *)data, size, &env, err, sizeof err) < 0) {
		if (env.rcpt || env.nrcpt || env.id[0])
			panic("failed parse left data behind");
		return;
	}
	struct buf a, b;
	buf_init(&a, QENV_TEXT_MAX * 2);
	buf_init(&b, QENV_TEXT_MAX * 2);
	if (qenv_format(&env, &a) < 0)
		panic("qenv_format failed on a parsed envelope");
	if (qenv_parse(a.data, a.len, &again, err, sizeof err) < 0)
		panic("formatted envelope does not parse: %s", err);
	if (qenv_format(&again, &b) < 0 || a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
		panic("envelope does not round-trip");
	if (again.nrcpt != env.nrcpt || strcmp(again.id, env.id) != 0 ||
	    strcmp(again.sender, env.sender) != 0 ||
	    strcmp(again.hold_reason, env.hold_reason) != 0)
		panic("envelope fields differ after a round trip");
	qenv_free(&env);
	qenv_free(&again);
	buf_free(&a);
	buf_free(&b);
}

static void fuzz_segment(const uint8_t *data, size_t size)
{
	int fd = memfd_create("seg", 0);
	if (fd < 0)
		return;
	if (size && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return;
	}
	uint64_t off = 0;
	struct buf env;
	buf_init(&env, QSEG_ENV_MAX);
	while (off < size) {
		struct qseg_rec r;
		char id[40], err[128];
		buf_reset(&env);
		if (qseg_read(fd, off, size, &r, id, sizeof id, &env, err, sizeof err) < 0)
			break;
		if (qseg_rec_len(&r) > size - off || env.len != r.env_len)
			panic("record outside the file");
		off += qseg_rec_len(&r);
	}
	buf_free(&env);
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_envelope(data, size);
	fuzz_segment(data, size);
	return 0;
}
