/*
 * cfg - INI configuration files (parsed by inih) and declarative option tables.
 *
 * Every option lives in one table row: section, name, type, default, bounds,
 * whether a reload may change it, where it is stored and one line of help
 * (Redis standardConfig). Errors come back as "file:line: what" and a file
 * with any error changes nothing: callers load into a fresh object and swap
 * it in only on success.
 */
#ifndef RG_CORE_CFG_H
#define RG_CORE_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/attr.h"

/* Called for every name = value. Returns 0, or -1 after writing why into err
 * (without the file:line prefix, which cfg adds). */
typedef int (*cfg_handler)(void *user, const char *section, const char *name, const char *value,
			   char *err, size_t errlen);

/* 0 on success; -1 with "path:line: what" (or "path: what") in err. */
int cfg_parse_file(const char *path, cfg_handler fn, void *user, char *err, size_t errlen) RG_WUR;
/* The same over text in memory; name is used in messages. */
int cfg_parse_string(const char *text, const char *name, cfg_handler fn, void *user, char *err,
                     size_t errlen) RG_WUR;

enum cfg_type {
	CFG_STRING,   /* char[size] */
	CFG_INT,      /* long long, in [min, max] */
	CFG_BOOL,     /* bool */
	CFG_DURATION, /* uint64_t milliseconds; "30s", "5m", "2h", "7d"; bare numbers are seconds */
	CFG_SIZE,     /* uint64_t bytes; "10M" */
};

struct cfg_option {
	const char *section;
	const char *name;
	enum cfg_type type;
	const char *def; /* default as text, parsed like a file value */
	long long min, max; /* CFG_INT, CFG_DURATION (ms), CFG_SIZE; ignored when min == max == 0 */
	bool reloadable;
	size_t offset; /* offsetof() the field in the options struct */
	size_t size;   /* CFG_STRING: sizeof the char array */
	const char *help;
};

/* Sets every field of obj to its default. 0, or -1 (a bad default: a bug). */
int cfg_table_defaults(const struct cfg_option *table, size_t n, void *obj, char *err,
		       size_t errlen);
/* 1 when the table has section/name and value was stored, 0 when the table has no
 * such option, -1 when the value is bad (err says why). */
int cfg_table_set(const struct cfg_option *table, size_t n, void *obj, const char *section,
		  const char *name, const char *value, char *err, size_t errlen);

#endif
