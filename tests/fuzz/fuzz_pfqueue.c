/*
 * fuzz_pfqueue - libFuzzer target for the `postqueue -j` parser (admin/pfqueue):
 * any output of another program parses without overrun, and every message it
 * hands over has a queue ID that is safe as an argument, a queue name, and no
 * more recipients kept than room for.
 */
#include "admin/pfqueue.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_pfqueue_cb(void *arg, const struct pfqueue_msg *m)
{
	size_t *n = arg;
	if (!pfqueue_id_ok(m->queue_id) || !m->queue_name[0] ||
	    strlen(m->queue_name) >= sizeof m->queue_name ||
	    strlen(m->sender) >= sizeof m->sender || m->nkept > PFQUEUE_RCPTS_MAX ||
	    m->nkept > m->nrcpt)
		abort();
	for (unsigned i = 0; i < m->nkept; i++)
		if (strlen(m->rcpt[i]) >= PFQUEUE_ADDR_MAX)
			abort();
	(*n)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = 0, bad = 0;
	if (pfqueue_parse((const char *)data, size, fuzz_pfqueue_cb, &n, &bad) != 0)
		abort();
	size_t lines = 0;
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	if (n + bad > lines + 1)
		abort();
	return 0;
}
