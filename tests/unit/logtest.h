/*
 * logtest - assertions shared by the unit tests of the log parsers
 * (forensics: pflog, eximlog, exlog and the others): a span's bytes, an address's text.
 */
#ifndef RG_TESTS_LOGTEST_H
#define RG_TESTS_LOGTEST_H

#include "core/addr.h"
#include "forensics/logline.h"

#include <string.h>

static inline void assert_span(struct logspan s, const char *want)
{
	assert_int_equal(s.len, strlen(want));
	assert_memory_equal(s.p, want, s.len);
}

static inline void assert_ip(const struct addr *a, const char *want)
{
	char got[ADDR_STRLEN];
	assert_int_equal(addr_format(a, got, sizeof got), 0);
	assert_string_equal(got, want);
}

#endif
