/*
 * fuzz_received - libFuzzer target for the Received value parser and the
 * RFC 5322 date parser it calls. Any input must parse or be refused without
 * a crash, a sanitizer report, or a field left without its NUL.
 */
#include "forensics/date.h"
#include "forensics/received.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct received r;
	int64_t ms;
	(void)received_parse((const char *)data, size, &r);
	/* Every field stays a bounded C string. */
	if (memchr(r.from_host, '\0', sizeof r.from_host) == NULL ||
	    memchr(r.from_rdns, '\0', sizeof r.from_rdns) == NULL ||
	    memchr(r.by_host, '\0', sizeof r.by_host) == NULL ||
	    memchr(r.with, '\0', sizeof r.with) == NULL ||
	    memchr(r.id, '\0', sizeof r.id) == NULL ||
	    memchr(r.for_addr, '\0', sizeof r.for_addr) == NULL ||
	    memchr(r.auth_user, '\0', sizeof r.auth_user) == NULL ||
	    memchr(r.date_raw, '\0', sizeof r.date_raw) == NULL)
		__builtin_trap();
	if (r.has_ip && memchr(r.from_ip, '\0', sizeof r.from_ip) == NULL)
		__builtin_trap();
	(void)received_proto_is_auth((const char *)data, size);
	(void)date_parse_rfc5322((const char *)data, size, &ms);
	return 0;
}
