/*
 * cfg - INI parsing with line numbers, and option tables; see cfg.h.
 *
 * inih does the tokenising. It does not tell a handler which line it is on,
 * so we feed it through our own reader that counts lines (inih asks for one
 * line per call) and refuses lines longer than inih's buffer instead of
 * letting inih split them silently.
 */
#include "core/cfg.h"

#include "core/str.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <string.h>

struct cfg_ctx {
	const char *name;
	cfg_handler fn;
	void *user;
	int line;
	int long_line; /* first over-long line, 0 if none */
	int err_line;
	char *err;
	size_t errlen;
	char msg[256];
	/* input */
	FILE *fp;
	const char *text;
	size_t pos;
};

static char *cfg_reader(char *str, int num, void *stream)
{
	struct cfg_ctx *c = stream;
	if (num < 2)
		return NULL;
	size_t got = 0;
	bool nl = false;
	if (c->fp) {
		if (!fgets(str, num, c->fp))
			return NULL;
		got = strlen(str);
		nl = got > 0 && str[got - 1] == '\n';
		if (!nl && !feof(c->fp)) {
			/* Over-long: swallow the rest of the line, remember it. */
			int ch;
			while ((ch = fgetc(c->fp)) != EOF && ch != '\n')
				;
			c->line++;
			if (!c->long_line)
				c->long_line = c->line;
			str[0] = '\0';
			return str;
		}
	} else {
		if (c->text[c->pos] == '\0')
			return NULL;
		const char *start = c->text + c->pos;
		const char *end = strchr(start, '\n');
		size_t len = end ? (size_t)(end - start) + 1 : strlen(start);
		c->pos += len;
		if (len >= (size_t)num) {
			c->line++;
			if (!c->long_line)
				c->long_line = c->line;
			str[0] = '\0';
			return str;
		}
		memcpy(str, start, len);
		str[len] = '\0';
	}
	c->line++;
	return str;
}

static int cfg_ini_handler(void *user, const char *section, const char *name, const char *value)
{
	struct cfg_ctx *c = user;
	if (c->err_line)
		return 1; /* report only the first error */
	c->msg[0] = '\0';
	if (c->fn(c->user, section, name, value, c->msg, sizeof c->msg) != 0) {
		c->err_line = c->line;
		if (c->msg[0] == '\0')
			str_format_trunc(c->msg, sizeof c->msg, "bad value for %s", name);
	}
	return 1;
}

static int cfg_run(struct cfg_ctx *c)
{
	int rc = ini_parse_stream(cfg_reader, c, cfg_ini_handler, c);
	int first = 0;
	const char *what = NULL;
	/* The earliest of: a handler error, an over-long line, a syntax error. */
	if (c->err_line) {
		first = c->err_line;
		what = c->msg;
	}
	if (c->long_line && (!first || c->long_line < first)) {
		first = c->long_line;
		what = "line too long";
	}
	if (rc > 0 && (!first || rc < first)) {
		first = rc;
		what = "syntax error (expected [section], name = value, or a comment)";
	}
	if (rc < 0 && !first) {
		str_format_trunc(c->err, c->errlen, "%s: out of memory", c->name);
		return -1;
	}
	if (!first)
		return 0;
	str_format_trunc(c->err, c->errlen, "%s:%d: %s", c->name, first, what);
	return -1;
}

int cfg_parse_file(const char *path, cfg_handler fn, void *user, char *err, size_t errlen)
{
	struct cfg_ctx c = {.name = path, .fn = fn, .user = user, .err = err, .errlen = errlen};
	c.fp = fopen(path, "re");
	if (!c.fp) {
		str_format_trunc(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	int rc = cfg_run(&c);
	fclose(c.fp);
	return rc;
}

int cfg_parse_string(const char *text, const char *name, cfg_handler fn, void *user, char *err,
		     size_t errlen)
{
	struct cfg_ctx c = {.name = name, .fn = fn, .user = user, .err = err, .errlen = errlen};
	c.text = text;
	return cfg_run(&c);
}

static int cfg_store(const struct cfg_option *o, void *obj, const char *value, char *err,
		     size_t errlen)
{
	char *field = (char *)obj + o->offset;
	bool bounded = !(o->min == 0 && o->max == 0);
	switch (o->type) {
	case CFG_STRING:
		if (str_copy(field, o->size, value) != 0) {
			str_format_trunc(err, errlen, "%s: value longer than %zu characters",
			                 o->name, o->size - 1);
			return -1;
		}
		return 0;
	case CFG_INT: {
		long long v;
		if (str_to_ll(value, bounded ? o->min : INT64_MIN, bounded ? o->max : INT64_MAX,
			      &v) != 0) {
			if (bounded)
				str_format_trunc(err, errlen,
				                 "%s: expected a whole number from %lld to %lld",
				                 o->name, o->min, o->max);
			else
				str_format_trunc(err, errlen, "%s: expected a whole number",
				                 o->name);
			return -1;
		}
		memcpy(field, &v, sizeof v);
		return 0;
	}
	case CFG_BOOL: {
		bool v;
		if (str_to_bool(value, &v) != 0) {
			str_format_trunc(err, errlen, "%s: expected yes or no", o->name);
			return -1;
		}
		memcpy(field, &v, sizeof v);
		return 0;
	}
	case CFG_DURATION: {
		uint64_t v;
		if (str_to_duration_ms(value, 1000, &v) != 0 ||
		    (bounded && (v < (uint64_t)o->min || v > (uint64_t)o->max))) {
			str_format_trunc(err, errlen,
			                 "%s: expected a duration such as 30s, 5m, 2h or 7d%s",
			                 o->name, bounded ? " within the allowed range" : "");
			return -1;
		}
		memcpy(field, &v, sizeof v);
		return 0;
	}
	case CFG_SIZE: {
		uint64_t v;
		if (str_to_size(value, &v) != 0 ||
		    (bounded && (v < (uint64_t)o->min || v > (uint64_t)o->max))) {
			str_format_trunc(err, errlen, "%s: expected a size such as 512k or 10M%s",
			                 o->name, bounded ? " within the allowed range" : "");
			return -1;
		}
		memcpy(field, &v, sizeof v);
		return 0;
	}
	}
	str_format_trunc(err, errlen, "%s: unknown option type", o->name);
	return -1;
}

int cfg_table_defaults(const struct cfg_option *table, size_t n, void *obj, char *err,
		       size_t errlen)
{
	for (size_t i = 0; i < n; i++)
		if (cfg_store(&table[i], obj, table[i].def ? table[i].def : "", err, errlen) != 0)
			return -1;
	return 0;
}

int cfg_table_set(const struct cfg_option *table, size_t n, void *obj, const char *section,
		  const char *name, const char *value, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(table[i].section, section) == 0 && strcmp(table[i].name, name) == 0)
			return cfg_store(&table[i], obj, value, err, errlen) == 0 ? 1 : -1;
	}
	return 0;
}
