/*
 * verdict - RFC 5782 query names and answer classification; see verdict.h.
 */
#include "dnsbl/verdict.h"

#include "core/dname.h"
#include "core/str.h"

#include <string.h>

const char *bl_outcome_name(enum bl_outcome o)
{
	switch (o) {
	case BL_CLEAN:
		return "clean";
	case BL_LISTED:
		return "listed";
	case BL_LIST_ERROR:
		return "list_error";
	case BL_BAD_ANSWER:
		return "bad_answer";
	case BL_DNS_ERROR:
		return "dns_error";
	case BL_SELFTEST_FAILED:
		return "selftest_failed";
	}
	return "dns_error";
}

const char *bl_outcome_status(enum bl_outcome o)
{
	if (o == BL_CLEAN)
		return "clean";
	if (o == BL_LISTED)
		return "listed";
	return "error";
}

int bl_qname_ip(const struct addr *a, const char *zone, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	if (a->family == 4)
		return str_format(out, size, "%u.%u.%u.%u.%s", a->bytes[3], a->bytes[2],
		                  a->bytes[1], a->bytes[0], zone);
	/* RFC 5782 2.4: 32 nibbles, least significant first. */
	char nib[64];
	for (int i = 15, o = 0; i >= 0; i--) {
		nib[o++] = hex[a->bytes[i] & 15];
		nib[o++] = '.';
		nib[o++] = hex[a->bytes[i] >> 4];
		nib[o++] = '.';
	}
	return str_format(out, size, "%.64s%s", nib, zone);
}

int bl_domain_normalise(const char *in, char *out, size_t size)
{
	return dname_check(in, strlen(in),
	                   DNAME_ROOT_DOT | DNAME_UNDERSCORE | DNAME_NEED_DOT | DNAME_NEED_LETTER,
	                   out, size) == DNAME_OK
	           ? 0
	           : -1;
}

int bl_qname_domain(const char *domain, const char *zone, char *out, size_t size)
{
	char d[256];
	if (bl_domain_normalise(domain, d, sizeof d) != 0)
		return -1;
	if (strlen(d) + 1 + strlen(zone) > 253)
		return -1;
	return str_format(out, size, "%s.%s", d, zone);
}

static uint32_t bl_code_u32(const struct addr *a)
{
	return (uint32_t)a->bytes[0] << 24 | (uint32_t)a->bytes[1] << 16 |
	       (uint32_t)a->bytes[2] << 8 | a->bytes[3];
}

static const struct bl_code *bl_code_find(const struct bl_code *codes, int n, uint32_t v)
{
	for (int i = 0; i < n; i++)
		if (v >= codes[i].lo && v <= codes[i].hi)
			return &codes[i];
	return NULL;
}

static void bl_add_meaning(struct bl_verdict *v, const char *m)
{
	for (int i = 0; i < v->nmeanings; i++)
		if (strcmp(v->meanings[i], m) == 0)
			return;
	if (v->nmeanings < BL_VERDICT_CODES)
		str_copy_trunc(v->meanings[v->nmeanings++], BL_MEANING_MAX, m);
}

void bl_classify(const struct bl_zone *z, const struct dns_result *res, struct bl_verdict *v)
{
	memset(v, 0, sizeof *v);
	switch (res->status) {
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		v->outcome = BL_CLEAN;
		return;
	case DNS_OK:
		break;
	default:
		v->outcome = BL_DNS_ERROR;
		if (res->status == DNS_ERROR && res->error[0])
			str_copy_trunc(v->error, sizeof v->error, res->error);
		else
			str_copy_trunc(v->error, sizeof v->error, dns_status_name(res->status));
		return;
	}
	for (int i = 0; i < res->naddrs && v->ncodes < BL_VERDICT_CODES; i++)
		v->codes[v->ncodes++] = res->addrs[i];
	char txt[ADDR_STRLEN];
	/* Any answer outside 127/8 poisons the whole answer: it is not from a DNSBL. */
	for (int i = 0; i < v->ncodes; i++) {
		if (v->codes[i].family != 4 || v->codes[i].bytes[0] != 127) {
			v->outcome = BL_BAD_ANSWER;
			addr_format(&v->codes[i], txt, sizeof txt);
			str_format_trunc(
			    v->error, sizeof v->error,
			    "answer %s is outside 127.0.0.0/8: the resolver rewrites answers "
			    "or the list's domain is parked",
			    txt);
			return;
		}
	}
	/* A documented error code anywhere means the list refused this query. */
	for (int i = 0; i < v->ncodes; i++) {
		const struct bl_code *e =
		    bl_code_find(z->errors, z->nerrors, bl_code_u32(&v->codes[i]));
		if (e) {
			v->outcome = BL_LIST_ERROR;
			addr_format(&v->codes[i], txt, sizeof txt);
			str_format_trunc(v->error, sizeof v->error, "list error %s: %s", txt,
			                 e->meaning);
			return;
		}
	}
	bool listed = false;
	for (int i = 0; i < v->ncodes; i++) {
		uint32_t c = bl_code_u32(&v->codes[i]);
		addr_format(&v->codes[i], txt, sizeof txt);
		if (z->bits) {
			bool any = false;
			if ((c & 0xffffff00u) == 0x7f000000u)
				for (int k = 0; k < z->ncodes; k++)
					if (c & z->codes[k].lo & 0xff) {
						bl_add_meaning(v, z->codes[k].meaning);
						any = true;
					}
			if (any) {
				listed = true;
				continue;
			}
		} else {
			const struct bl_code *m = bl_code_find(z->codes, z->ncodes, c);
			if (m) {
				bl_add_meaning(v, m->meaning);
				listed = true;
				continue;
			}
		}
		/* Undocumented code. 127.0.0.1 is the RFC 5782 negative test point and a
		 * common resolver artefact: never a listing unless documented. */
		if (z->strict || c == 0x7f000001u) {
			v->outcome = BL_LIST_ERROR;
			str_format_trunc(v->error, sizeof v->error,
			                 "answer %s is not a listing code of %s", txt, z->zone);
			return;
		}
		char m[BL_MEANING_MAX];
		if (z->ncodes > 0)
			str_format_trunc(m, sizeof m, "undocumented code %s", txt);
		else
			str_format_trunc(m, sizeof m, "listed (%s)", txt);
		bl_add_meaning(v, m);
		listed = true;
	}
	v->outcome = listed ? BL_LISTED : BL_CLEAN;
}
