/*
 * fuzz_mbox - mbox splitting and >From unquoting on arbitrary bytes.
 */
#include "forensics/mailbox.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_mbox_msg(void *ctx, const struct mailbox_msg *m)
{
	size_t *total = ctx;
	/* Touch every byte so ASan sees any bad bound. */
	for (size_t i = 0; i < m->len; i++)
		*total += (unsigned char)m->data[i];
	*total += strlen(m->source);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t total = 0;
	struct mailbox_stats st = {0, 0};
	(void)mailbox_is_mbox((const char *)data, size);
	(void)mailbox_split_mbox((const char *)data, size, "fuzz", fuzz_mbox_msg, &total, &st);
	return 0;
}
