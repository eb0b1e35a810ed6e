/*
 * cli_dkim - "relayguard dkim keygen": a DKIM signing key for [dkim] and the
 * DNS TXT record that publishes it (smtp/dkim.c does the work).
 */
#include "cli/cli.h"

#include "core/buf.h"
#include "core/str.h"
#include "smtp/dkim.h"

#include <stdbool.h>
#include <string.h>

static const char cli_dkim_help[] =
    "usage: relayguard dkim keygen DOMAIN SELECTOR [--type rsa|ed25519] [--bits N]\n"
    "                              [--dir D] [--json]\n"
    "\n"
    "Writes a new DKIM private key (PEM, mode 0600, never over an existing file) to\n"
    "D/DOMAIN.SELECTOR.pem and prints the DNS TXT record that publishes its public\n"
    "key, split into strings of at most 255 characters:\n"
    "  SELECTOR._domainkey.DOMAIN. IN TXT \"v=DKIM1; k=rsa; p=...\"\n"
    "and, on stderr, the [dkim] line for the gateway's configuration.\n"
    "\n"
    "Options:\n"
    "  --type rsa|ed25519  the key type (default rsa; not every receiver checks\n"
    "                      ed25519 (RFC 8463) yet: rsa is the safe choice for DMARC)\n"
    "  --bits N            RSA key size, 1024 to 8192 (default 2048)\n"
    "  --dir D             where the key goes (default: the current directory)\n"
    "  --json              print the key file, record name and value as JSON\n"
    "  --help              this text\n";

/* The TXT value as DNS zone-file strings of at most 255 characters each. */
static int cli_dkim_txt_strings(const char *txt, struct buf *out)
{
	size_t n = strlen(txt);
	for (size_t i = 0; i < n; i += 255) {
		size_t take = n - i < 255 ? n - i : 255;
		if (buf_printf(out, "%s\"%.*s\"", i ? " " : "", (int)take, txt + i) != 0)
			return -1;
	}
	return 0;
}

static int cli_dkim_keygen(int argc, char **argv)
{
	const char *pos[2] = {NULL, NULL}, *dir = ".";
	int npos = 0;
	long long bits = 2048;
	enum dkim_alg alg = DKIM_ALG_RSA_SHA256;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			cli_usage(stdout, cli_dkim_help);
			return CLI_EXIT_OK;
		} else if (strcmp(a, "--json") == 0) {
			json = true;
		} else if (strcmp(a, "--type") == 0 && i + 1 < argc) {
			const char *t = argv[++i];
			if (strcmp(t, "rsa") == 0)
				alg = DKIM_ALG_RSA_SHA256;
			else if (strcmp(t, "ed25519") == 0)
				alg = DKIM_ALG_ED25519_SHA256;
			else {
				cli_error("dkim", "--type: expected rsa or ed25519, not '%s'", t);
				return CLI_EXIT_USAGE;
			}
		} else if (strcmp(a, "--bits") == 0 && i + 1 < argc) {
			if (str_to_ll(argv[++i], 1024, 8192, &bits) != 0) {
				cli_error("dkim", "--bits: expected 1024 to 8192");
				return CLI_EXIT_USAGE;
			}
		} else if (strcmp(a, "--dir") == 0 && i + 1 < argc) {
			dir = argv[++i];
		} else if (a[0] == '-' || npos == 2) {
			cli_error("dkim", "keygen: unexpected '%s' (see --help)", a);
			return CLI_EXIT_USAGE;
		} else {
			pos[npos++] = a;
		}
	}
	if (npos != 2) {
		cli_usage(stderr, cli_dkim_help);
		return CLI_EXIT_USAGE;
	}
	char domain[DKIM_DOMAIN_MAX + 1], path[1024], err[600];
	if (str_copy(domain, sizeof domain, pos[0]) != 0) {
		cli_error("dkim", "'%s' is not a domain name", pos[0]);
		return CLI_EXIT_USAGE;
	}
	str_lower(domain);
	/* the names are checked by loading the key back below; check them first too,
	 * so nothing is written for a bad name */
	for (const char *p = domain; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '.')) {
			cli_error("dkim", "'%s' is not a domain name", pos[0]);
			return CLI_EXIT_USAGE;
		}
	for (const char *p = pos[1]; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.')) {
			cli_error("dkim", "'%s' is not a DKIM selector", pos[1]);
			return CLI_EXIT_USAGE;
		}
	if (str_format(path, sizeof path, "%s/%s.%s.pem", dir, domain, pos[1]) != 0) {
		cli_error("dkim", "--dir: too long");
		return CLI_EXIT_USAGE;
	}
	struct buf txt, rec;
	buf_init(&txt, 4096);
	buf_init(&rec, 8192);
	int rc = CLI_EXIT_USAGE;
	struct dkim_key *k = NULL;
	if (dkim_keygen(alg, (int)bits, path, &txt, err, sizeof err) != 0) {
		cli_error("dkim", "%s", err);
		goto done;
	}
	if (dkim_key_load(&k, domain, pos[1], path, err, sizeof err) != 0) {
		cli_error("dkim", "%s (the key is left in %s)", err, path);
		goto done;
	}
	if (cli_dkim_txt_strings(buf_cstr(&txt), &rec) != 0) {
		cli_error("dkim", "out of memory");
		goto done;
	}
	if (json) {
		char name[400];
		if (str_format(name, sizeof name, "%s._domainkey.%s.", pos[1], domain) != 0) {
			cli_error("dkim", "selector or domain too long");
			goto done;
		}
		json_t *doc =
		    json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s}", "domain", domain, "selector",
		              pos[1], "type", alg == DKIM_ALG_RSA_SHA256 ? "rsa" : "ed25519",
		              "bits", alg == DKIM_ALG_RSA_SHA256 ? (int)bits : 256, "keyfile", path,
		              "txt_name", name, "txt", buf_cstr(&txt));
		if (!doc) {
			cli_error("dkim", "out of memory");
			goto done;
		}
		if (cli_print_json(doc) != 0)
			goto done;
	} else {
		printf("%s._domainkey.%s. IN TXT %s\n", pos[1], domain, buf_cstr(&rec));
		fprintf(stderr,
		        "relayguard: dkim: key written to %s; in the gateway's configuration:\n"
		        "[dkim]\n%s = %s, %s\n",
		        path, domain, pos[1], path);
	}
	rc = CLI_EXIT_OK;
done:
	dkim_key_free(k);
	buf_free(&txt);
	buf_free(&rec);
	return rc;
}

int cli_dkim(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
		return cli_dkim_keygen(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		cli_usage(stdout, cli_dkim_help);
		return CLI_EXIT_OK;
	}
	cli_usage(stderr, cli_dkim_help);
	return CLI_EXIT_USAGE;
}
