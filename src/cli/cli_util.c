/*
 * cli_util - helpers shared by the subcommands; see cli.h.
 */
#include "cli/cli.h"

#include <stdarg.h>

void cli_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "relayguard: %s: ", cmd);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int cli_print_json(json_t *doc)
{
	if (!doc)
		return -1;
	int rc = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(doc);
	return rc == 0 ? 0 : -1;
}

void cli_usage(FILE *out, const char *text)
{
	fputs(text, out);
}
