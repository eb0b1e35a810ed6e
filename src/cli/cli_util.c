/*
 * cli_util - helpers shared by the subcommands; see cli.h.
 */
#include "cli/cli.h"

#include "core/str.h"
#include "gateway/gwconf.h"
#include "policy/config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

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

const char *cli_config_path(const char *given)
{
	return gwconf_path(given);
}

int cli_need_state(const char *cmd, const char *dir, const char *config)
{
	if (access(dir, F_OK) == 0)
		return 0;
	if (config && !*config)
		cli_error(cmd, "no state in %s: give the --config that serve runs with", dir);
	else
		cli_error(cmd,
		          "no state in %s (configuration: %s): give the --config that serve runs "
		          "with (docs/daemon.md)",
		          dir, config ? config : "embedded defaults, state in ./var");
	return -1;
}

int cli_load_policy(struct pol_config *out, const char *config, char *err, size_t errlen)
{
	char perr[512], gerr[512];
	if (pol_config_load_file(out, config, perr, sizeof perr) == 0)
		return 0;
	struct gw_config *c = malloc(sizeof *c);
	if (!c) {
		str_format_trunc(err, errlen, "out of memory");
		return -1;
	}
	int rc = gwconf_load(c, config, gerr, sizeof gerr);
	if (rc == 0) {
		*out = c->policy;
		gwconf_free(c);
	} else {
		str_format_trunc(err, errlen, "%s (read as a gateway configuration: %s)", perr,
		                 gerr);
	}
	free(c);
	return rc;
}

bool cli_admin_opt(struct cli_admin_opts *o, int ch, const char *arg)
{
	switch (ch) {
	case 'c':
		o->config = arg;
		return true;
	case 'S':
		o->state = arg;
		return true;
	case 's':
		o->spool = arg;
		return true;
	case 'r':
		o->reason = arg;
		return true;
	case 'a':
		o->actor = arg;
		return true;
	case 'j':
		o->json = true;
		return true;
	default:
		return false;
	}
}

int cli_opt_help(int ch, const char *cmd, const char *help)
{
	if (ch == 'h') {
		cli_usage(stdout, help);
		return 1;
	}
	fprintf(stderr, "relayguard %s --help shows the options\n", cmd);
	return -1;
}
