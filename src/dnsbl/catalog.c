/*
 * catalog - DNSBL catalogue loading and lookup; see catalog.h and
 * docs/catalogue.md.
 */
#include "dnsbl/catalog.h"

#include "core/dname.h"
#include "core/addr.h"
#include "core/cfg.h"
#include "core/grow.h"
#include "core/str.h"

#include <stdlib.h>
#include <string.h>

struct bl_load {
	struct bl_catalog cat;
	size_t cap;
	struct bl_zone *cur;
};

const char *bl_status_name(enum bl_status s)
{
	switch (s) {
	case BL_STATUS_ACTIVE:
		return "active";
	case BL_STATUS_NEEDS_KEY:
		return "needs-key";
	case BL_STATUS_PAID:
		return "paid";
	case BL_STATUS_DEAD:
		return "dead";
	}
	return "?";
}

int bl_zone_normalise(const char *in, char *out, size_t size)
{
	size_t len = strlen(in);
	/* room for the reversed IPv6 nibbles and the label in front */
	if (len >= BL_ZONE_MAX - 80)
		return -1;
	return dname_check(in, len,
	                   DNAME_ROOT_DOT | DNAME_UNDERSCORE | DNAME_WILDCARD | DNAME_EDGE_HYPHEN,
	                   out, size) == DNAME_OK
	           ? 0
	           : -1;
}

/* "127.0.0.2" or "127.0.0.4-127.0.0.7", then the meaning. */
static int bl_code_parse(const char *value, bool bits, struct bl_code *code, char *err,
                         size_t errlen)
{
	size_t n = strcspn(value, " \t");
	const char *dash = memchr(value, '-', n);
	struct addr lo, hi;
	if (addr_parse(value, dash ? (size_t)(dash - value) : n, &lo) != 0 || lo.family != 4 ||
	    (dash &&
	     (addr_parse(dash + 1, n - (size_t)(dash - value) - 1, &hi) != 0 || hi.family != 4))) {
		str_format_trunc(err, errlen,
		                 "expected an IPv4 answer code or range, then its meaning");
		return -1;
	}
	if (!dash)
		hi = lo;
	code->lo = (uint32_t)lo.bytes[0] << 24 | (uint32_t)lo.bytes[1] << 16 |
	           (uint32_t)lo.bytes[2] << 8 | lo.bytes[3];
	code->hi = (uint32_t)hi.bytes[0] << 24 | (uint32_t)hi.bytes[1] << 16 |
	           (uint32_t)hi.bytes[2] << 8 | hi.bytes[3];
	if (code->hi < code->lo || (code->lo >> 24) != 127 || (code->hi >> 24) != 127) {
		str_format_trunc(err, errlen, "answer codes must lie in 127.0.0.0/8, low to high");
		return -1;
	}
	if (bits && (code->lo != code->hi || (code->lo & 0xffffff00u) != 0x7f000000u ||
	             (code->lo & 0xff) == 0 || (code->lo & (code->lo - 1) & 0xff) != 0)) {
		str_format_trunc(err, errlen,
		                 "with bits = yes, a code is 127.0.0.N with N a power of two");
		return -1;
	}
	const char *m = value + n;
	m += strspn(m, " \t");
	if (*m == '\0') {
		str_format_trunc(err, errlen, "answer code without a meaning");
		return -1;
	}
	if (str_copy(code->meaning, sizeof code->meaning, m) != 0) {
		str_format_trunc(err, errlen, "meaning longer than %d characters",
		                 BL_MEANING_MAX - 1);
		return -1;
	}
	return 0;
}

static int bl_load_handler(void *user, const char *section, const char *name, const char *value,
                           char *err, size_t errlen)
{
	struct bl_load *l = user;
	if (*section == '\0') {
		str_format_trunc(err, errlen, "'%s' outside a [zone] section", name);
		return -1;
	}
	char zone[BL_ZONE_MAX];
	if (bl_zone_normalise(section, zone, sizeof zone) != 0) {
		str_format_trunc(err, errlen, "[%s] is not a DNS zone name", section);
		return -1;
	}
	if (!l->cur || strcmp(l->cur->zone, zone) != 0) {
		for (size_t i = 0; i < l->cat.nzones; i++)
			if (strcmp(l->cat.zones[i].zone, zone) == 0) {
				str_format_trunc(err, errlen, "zone %s appears twice", zone);
				return -1;
			}
		if (grow_array(&l->cat.zones, &l->cap, l->cat.nzones + 1, sizeof *l->cat.zones) !=
		    0) {
			str_format_trunc(err, errlen, "out of memory");
			return -1;
		}
		l->cur = &l->cat.zones[l->cat.nzones++];
		memset(l->cur, 0, sizeof *l->cur);
		memcpy(l->cur->zone, zone, strlen(zone) + 1);
		l->cur->catalogued = true;
		l->cur->selftest = BL_SELFTEST_FULL;
		l->cur->selftest6 = BL_SELFTEST_NEGATIVE;
		if (zone[0] == '*')
			l->cur->status = BL_STATUS_DEAD;
	}
	struct bl_zone *z = l->cur;
	bool b;
	if (strcmp(name, "name") == 0) {
		if (str_copy(z->name, sizeof z->name, value) != 0)
			goto toolong;
	} else if (strcmp(name, "type") == 0) {
		if (strcmp(value, "ip") == 0)
			z->type = BL_TYPE_IP;
		else if (strcmp(value, "domain") == 0)
			z->type = BL_TYPE_DOMAIN;
		else
			goto badval;
	} else if (strcmp(name, "role") == 0) {
		if (strcmp(value, "block") == 0)
			z->role = BL_ROLE_BLOCK;
		else if (strcmp(value, "allow") == 0)
			z->role = BL_ROLE_ALLOW;
		else
			goto badval;
	} else if (strcmp(name, "status") == 0) {
		if (strcmp(value, "active") == 0)
			z->status = BL_STATUS_ACTIVE;
		else if (strcmp(value, "needs-key") == 0)
			z->status = BL_STATUS_NEEDS_KEY;
		else if (strcmp(value, "paid") == 0)
			z->status = BL_STATUS_PAID;
		else if (strcmp(value, "dead") == 0)
			z->status = BL_STATUS_DEAD;
		else
			goto badval;
	} else if (strcmp(name, "selftest") == 0 || strcmp(name, "selftest6") == 0) {
		enum bl_selftest *st = name[8] == '6' ? &z->selftest6 : &z->selftest;
		if (strcmp(value, "full") == 0)
			*st = BL_SELFTEST_FULL;
		else if (strcmp(value, "negative") == 0)
			*st = BL_SELFTEST_NEGATIVE;
		else if (strcmp(value, "none") == 0)
			*st = BL_SELFTEST_NONE;
		else
			goto badval;
	} else if (strcmp(name, "ipv6") == 0 || strcmp(name, "default") == 0 ||
	           strcmp(name, "bits") == 0 || strcmp(name, "strict") == 0) {
		if (str_to_bool(value, &b) != 0)
			goto badval;
		if (name[0] == 'i')
			z->ipv6 = b;
		else if (name[0] == 'd')
			z->is_default = b;
		else if (name[0] == 'b')
			z->bits = b;
		else
			z->strict = b;
	} else if (strcmp(name, "reason") == 0) {
		if (str_copy(z->reason, sizeof z->reason, value) != 0)
			goto toolong;
	} else if (strcmp(name, "delist") == 0) {
		if (str_copy(z->delist, sizeof z->delist, value) != 0)
			goto toolong;
	} else if (strcmp(name, "code") == 0) {
		if (z->ncodes == BL_MAX_CODES) {
			str_format_trunc(err, errlen, "more than %d codes in one zone",
			                 BL_MAX_CODES);
			return -1;
		}
		if (bl_code_parse(value, z->bits, &z->codes[z->ncodes], err, errlen) != 0)
			return -1;
		z->ncodes++;
	} else if (strcmp(name, "error") == 0) {
		if (z->nerrors == BL_MAX_ERRORS) {
			str_format_trunc(err, errlen, "more than %d error codes in one zone",
			                 BL_MAX_ERRORS);
			return -1;
		}
		if (bl_code_parse(value, false, &z->errors[z->nerrors], err, errlen) != 0)
			return -1;
		z->nerrors++;
	} else if (strcmp(name, "note") == 0) {
		/* free text for people reading the file */
	} else {
		str_format_trunc(err, errlen, "unknown key '%s'", name);
		return -1;
	}
	return 0;
badval:
	str_format_trunc(err, errlen, "bad value for %s: '%s'", name, value);
	return -1;
toolong:
	str_format_trunc(err, errlen, "value of %s is too long", name);
	return -1;
}

static int bl_load_finish(struct bl_load *l, struct bl_catalog *c, int rc)
{
	if (rc != 0) {
		free(l->cat.zones);
		return -1;
	}
	*c = l->cat;
	return 0;
}

int bl_catalog_load_file(struct bl_catalog *c, const char *path, char *err, size_t errlen)
{
	struct bl_load l;
	memset(&l, 0, sizeof l);
	return bl_load_finish(&l, c, cfg_parse_file(path, bl_load_handler, &l, err, errlen));
}

int bl_catalog_load_string(struct bl_catalog *c, const char *text, const char *name, char *err,
                           size_t errlen)
{
	struct bl_load l;
	memset(&l, 0, sizeof l);
	return bl_load_finish(&l, c,
	                      cfg_parse_string(text, name, bl_load_handler, &l, err, errlen));
}

void bl_catalog_free(struct bl_catalog *c)
{
	free(c->zones);
	c->zones = NULL;
	c->nzones = 0;
}

const struct bl_zone *bl_catalog_find(const struct bl_catalog *c, const char *zone)
{
	char z[BL_ZONE_MAX];
	if (bl_zone_normalise(zone, z, sizeof z) != 0)
		return NULL;
	size_t zl = strlen(z);
	for (size_t i = 0; i < c->nzones; i++) {
		const struct bl_zone *e = &c->zones[i];
		if (strcmp(e->zone, z) == 0)
			return e;
		if (e->zone[0] == '*') {
			/* "*.sorbs.net" matches "sorbs.net" and anything below it */
			const char *suffix = e->zone + 2;
			size_t sl = strlen(suffix);
			if (strcmp(z, suffix) == 0 ||
			    (zl > sl && z[zl - sl - 1] == '.' && strcmp(z + zl - sl, suffix) == 0))
				return e;
		}
	}
	return NULL;
}

int bl_zone_adhoc(struct bl_zone *z, const char *zone)
{
	memset(z, 0, sizeof *z);
	if (bl_zone_normalise(zone, z->zone, sizeof z->zone) != 0 || z->zone[0] == '*')
		return -1;
	memcpy(z->name, z->zone, strnlen(z->zone, sizeof z->name - 1));
	z->type = BL_TYPE_ANY;
	z->role = BL_ROLE_BLOCK;
	z->status = BL_STATUS_ACTIVE;
	z->selftest = BL_SELFTEST_FULL;
	z->selftest6 = BL_SELFTEST_FULL;
	z->ipv6 = true;
	return 0;
}

void bl_zone_delist(const struct bl_zone *z, const char *target, char *out, size_t size)
{
	out[0] = '\0';
	const char *p = z->delist;
	size_t o = 0;
	while (*p && o + 1 < size) {
		const char *tok = NULL;
		size_t toklen = 0;
		if (strncmp(p, "%IP%", 4) == 0)
			toklen = 4;
		else if (strncmp(p, "%TARGET%", 8) == 0)
			toklen = 8;
		if (toklen) {
			tok = target;
			size_t tl = strlen(tok);
			if (o + tl >= size)
				break;
			memcpy(out + o, tok, tl);
			o += tl;
			p += toklen;
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
}
