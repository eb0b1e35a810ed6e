/*
 * Fuzz target: DNS answer handling. The first byte picks the record type; the
 * rest is the packet as a server could send it. Parsed results of A queries
 * then go through the DNSBL classification of a catalogued and an ad hoc zone.
 */
#include "dnsbl/catalog.h"
#include "dnsbl/verdict.h"
#include "net/dns.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum dns_type types[] = {DNS_T_A, DNS_T_AAAA, DNS_T_TXT, DNS_T_MX, DNS_T_PTR};
	if (size < 1 || size > 65536)
		return 0;
	enum dns_type type = types[data[0] % 5];
	struct dns_result r;
	dns_parse(type, 0, data + 1, (int)(size - 1), &r);
	if (r.naddrs < 0 || r.naddrs > DNS_MAX_ADDRS || r.nmx < 0 || r.nmx > DNS_MAX_MX)
		__builtin_trap();
	if (memchr(r.txt, 0, sizeof r.txt) == NULL || memchr(r.ptr, 0, sizeof r.ptr) == NULL)
		__builtin_trap();
	if (type == DNS_T_A || type == DNS_T_AAAA) {
		struct bl_zone z;
		struct bl_verdict v;
		bl_zone_adhoc(&z, "bl.example");
		bl_classify(&z, &r, &v);
		z.strict = true;
		z.ncodes = 1;
		z.codes[0].lo = 0x7f000002;
		z.codes[0].hi = 0x7f000002;
		z.nerrors = 1;
		z.errors[0].lo = 0x7ffffffc;
		z.errors[0].hi = 0x7fffffff;
		bl_classify(&z, &r, &v);
		z.bits = true;
		bl_classify(&z, &r, &v);
	}
	return 0;
}
