/*
 * fuzz_bounce_rules - the bounce rules parser (forensics/brules) on arbitrary
 * text; when it parses, the rules classify a few fixed rejection texts, so the
 * pattern matcher runs on fuzzed patterns too.
 */
#include "forensics/bounce.h"
#include "forensics/brules.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_texts[] = {
    "554 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using zen.spamhaus.org",
    "550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown",
    "421-4.7.0 [2001:db8::1 15] Our system has detected an unusual rate of\n421 4.7.0 mail",
    "",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct brules r;
	char err[256];
	if (brules_load_string(&r, (const char *)data, size, "fuzz", err, sizeof err) != 0)
		return 0;
	for (size_t i = 0; i < sizeof fuzz_texts / sizeof fuzz_texts[0]; i++) {
		struct bounce_result out;
		struct bounce_facts f = {.status = "5.7.1",
		                         .remote_mta = "mx.example.net",
		                         .recipient = "bob@example.net",
		                         .stage = (enum brules_stage)(i % 6)};
		memset(&out, 0, sizeof out);
		bounce_classify_rules(&r, fuzz_texts[i], strlen(fuzz_texts[i]), &f, &out);
	}
	brules_free(&r);
	return 0;
}
