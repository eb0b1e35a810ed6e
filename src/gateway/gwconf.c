/*
 * gwconf - `serve` configuration: the option table and its loader; see gwconf.h.
 */
#include "gateway/gwconf.h"

#include "core/cfg.h"
#include "core/str.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GC(f) offsetof(struct gw_config, f)
#define GS(f) sizeof(((struct gw_config *)0)->f)
static const struct cfg_option gw_options[] = {
    {"gateway", "hostname", CFG_STRING, "", 0, 0, false, GC(hostname), GS(hostname),
     "name in the greeting and Received headers (default: the system's)"},
    {"gateway", "state_dir", CFG_STRING, "./var", 0, 0, false, GC(state_dir), GS(state_dir),
     "policy state, users, monitor state"},
    {"gateway", "spool_dir", CFG_STRING, "./var/spool", 0, 0, false, GC(spool_dir),
     GS(spool_dir), "the durable queue"},
    {"gateway", "users", CFG_STRING, "./var/users", 0, 0, true, GC(users_file), GS(users_file),
     "account file (relayguard user)"},
    {"gateway", "log_level", CFG_STRING, "info", 0, 0, true, GC(log_level), GS(log_level),
     "error, warn, info or debug"},
    {"gateway", "syslog", CFG_BOOL, "no", 0, 0, false, GC(syslog), 0, "also log to syslog (mail)"},
    {"gateway", "local_domains", CFG_STRING, "", 0, 0, true, GC(local_domains),
     GS(local_domains), "domains we accept mail for"},
    {"gateway", "trusted_networks", CFG_STRING, "127.0.0.0/8 ::1/128", 0, 0, true,
     GC(trusted_networks), GS(trusted_networks), "clients that may relay without AUTH"},
    {"gateway", "tls_cert", CFG_STRING, "", 0, 0, true, GC(tls_cert), GS(tls_cert),
     "PEM certificate chain"},
    {"gateway", "tls_key", CFG_STRING, "", 0, 0, true, GC(tls_key), GS(tls_key), "PEM key"},
    {"gateway", "max_message_size", CFG_SIZE, "10240000", 1024, 1LL << 31, true,
     GC(max_message_size), 0, "Postfix message_size_limit"},
    {"gateway", "max_recipients", CFG_INT, "1000", 1, 100000, true, GC(max_recipients), 0,
     "per message"},
    {"gateway", "max_connections", CFG_INT, "1000", 1, 100000, false, GC(max_connections), 0,
     "SMTP sessions at once"},
    {"gateway", "max_connections_per_client", CFG_INT, "50", 1, 100000, true,
     GC(max_connections_per_client), 0, "sessions from one IP at once"},
    {"gateway", "smtp_timeout", CFG_DURATION, "300s", 1000, 3600000, true, GC(smtp_timeout_ms), 0,
     "idle time per command or data line"},
    {"gateway", "line_length_limit", CFG_INT, "2048", 512, 65536, true, GC(line_length_limit), 0,
     "longest SMTP command line, CRLF included (500 5.5.0 past it)"},
    {"gateway", "soft_error_limit", CFG_INT, "10", 0, 1000, true, GC(soft_error_limit), 0,
     "errors after which every reply waits error_sleep_time"},
    {"gateway", "hard_error_limit", CFG_INT, "20", 1, 1000, true, GC(hard_error_limit), 0,
     "errors after which the session is closed (421)"},
    {"gateway", "junk_command_limit", CFG_INT, "100", 1, 100000, true, GC(junk_command_limit), 0,
     "NOOP, RSET, VRFY, EXPN, HELP per session before 421"},
    {"gateway", "error_sleep_time", CFG_DURATION, "1s", 0, 60000, true, GC(error_sleep_ms), 0,
     "delay per reply above soft_error_limit"},
    {"gateway", "auth_failure_limit", CFG_INT, "3", 1, 100, true, GC(auth_failure_limit), 0,
     "failed AUTH per session before 421"},
    {"gateway", "queue_fsync", CFG_BOOL, "yes", 0, 0, false, GC(queue_fsync), 0,
     "sync queue files before 250 (never turn off outside tests)"},
    {"screen", "dnsbl_sites", CFG_STRING, "", 0, 0, true, GC(screen_dnsbl_sites),
     GS(screen_dnsbl_sites),
     "inbound listeners: weighted DNSBLs, postscreen style (zen.spamhaus.org*3, ...)"},
    {"screen", "dnsbl_threshold", CFG_INT, "1", -1000, 1000, true, GC(screen_dnsbl_threshold), 0,
     "reject a client whose DNSBL score reaches this"},
    {"screen", "dnsbl_allowlist_threshold", CFG_STRING, "", 0, 0, true,
     GC(screen_dnsbl_allowlist), GS(screen_dnsbl_allowlist),
     "a score at or below this is allow-listed (empty: off)"},
    {"screen", "resolver", CFG_STRING, "", 0, 0, false, GC(screen_resolver), GS(screen_resolver),
     "DNS server for DNSBL and SPF lookups, IP[:PORT] (empty: /etc/resolv.conf)"},
    {"screen", "spf", CFG_BOOL, "yes", 0, 0, true, GC(screen_spf), 0,
     "check the envelope sender's SPF on inbound listeners and remember the result"},
    {"screen", "recipients", CFG_STRING, "", 0, 0, true, GC(screen_recipients),
     GS(screen_recipients),
     "file of local users (user@domain, @domain for all); others get 550 5.1.1"},
    {"policyd", "listen", CFG_STRING, "127.0.0.1:10040", 0, 0, false, GC(policyd_listen),
     GS(policyd_listen), "Postfix policy service; empty: off"},
    {"policyd", "count_at", CFG_STRING, "end-of-message", 0, 0, true, GC(policyd_count_at),
     GS(policyd_count_at), "end-of-message or rcpt"},
    {"policyd", "max_connections", CFG_INT, "500", 1, 100000, false, GC(policyd_max_connections),
     0, "Postfix smtpd processes connected at once"},
    {"web", "listen", CFG_STRING, "127.0.0.1:8025", 0, 0, false, GC(web_listen), GS(web_listen),
     "web page and /metrics; empty: off"},
};
#define GW_NOPTS (sizeof gw_options / sizeof gw_options[0])

static const char *const gw_policy_sections[] = {"limits",  "identity",  "signals",
						 "actions", "auth",      "inbound",
						 "autoreply", "notify", "forward"};

const char *gw_role_name(enum gw_role r)
{
	return r == GW_ROLE_SUBMISSION ? "submission" : r == GW_ROLE_RELAY ? "relay" : "inbound";
}

const char *gw_tls_name(enum gw_tls t)
{
	return t == GW_TLS_NONE ? "none" : t == GW_TLS_STARTTLS ? "starttls" : "implicit";
}

static struct gw_listener *gw_listener_get(struct gw_config *c, const char *name, char *err,
					   size_t errlen)
{
	for (int i = 0; i < c->nlisteners; i++)
		if (strcmp(c->listeners[i].name, name) == 0)
			return &c->listeners[i];
	if (c->nlisteners == GW_LISTENERS_MAX) {
		str_format(err, errlen, "more than %d listeners", GW_LISTENERS_MAX);
		return NULL;
	}
	struct gw_listener *l = &c->listeners[c->nlisteners];
	memset(l, 0, sizeof *l);
	if (str_copy(l->name, sizeof l->name, name) != 0 || !*name) {
		str_format(err, errlen, "listener name empty or longer than %zu", sizeof l->name - 1);
		return NULL;
	}
	/* A listener named like a role gets that role by default. */
	l->role = strcmp(name, "relay") == 0 ? GW_ROLE_RELAY
		  : strcmp(name, "inbound") == 0 ? GW_ROLE_INBOUND
						 : GW_ROLE_SUBMISSION;
	l->tls = GW_TLS_STARTTLS;
	l->require_tls_for_auth = true;
	c->nlisteners++;
	return l;
}

static int gw_listener_set(struct gw_listener *l, const char *name, const char *value, char *err,
			   size_t errlen)
{
	if (strcmp(name, "listen") == 0) {
		char tmp[512];
		char *f[GW_ADDRS_MAX + 1];
		if (str_copy(tmp, sizeof tmp, value) != 0) {
			str_format(err, errlen, "listen: too long");
			return -1;
		}
		int n = str_split(tmp, " ,\t", f, GW_ADDRS_MAX);
		if (n <= 0) {
			str_format(err, errlen, "listen: between 1 and %d addresses", GW_ADDRS_MAX);
			return -1;
		}
		for (int i = 0; i < n; i++)
			if (hostport_parse(f[i], 0, &l->addrs[i], err, errlen) != 0)
				return -1;
		l->naddrs = n;
	} else if (strcmp(name, "role") == 0) {
		if (strcmp(value, "submission") == 0)
			l->role = GW_ROLE_SUBMISSION;
		else if (strcmp(value, "relay") == 0)
			l->role = GW_ROLE_RELAY;
		else if (strcmp(value, "inbound") == 0)
			l->role = GW_ROLE_INBOUND;
		else {
			str_format(err, errlen, "role: expected submission, relay or inbound");
			return -1;
		}
	} else if (strcmp(name, "tls") == 0) {
		if (strcmp(value, "none") == 0)
			l->tls = GW_TLS_NONE;
		else if (strcmp(value, "starttls") == 0)
			l->tls = GW_TLS_STARTTLS;
		else if (strcmp(value, "implicit") == 0)
			l->tls = GW_TLS_IMPLICIT;
		else {
			str_format(err, errlen, "tls: expected none, starttls or implicit");
			return -1;
		}
	} else if (strcmp(name, "require_tls_for_auth") == 0) {
		if (str_to_bool(value, &l->require_tls_for_auth) != 0) {
			str_format(err, errlen, "require_tls_for_auth: expected yes or no");
			return -1;
		}
	} else {
		str_format(err, errlen, "unknown option '%s' in a [listener] section", name);
		return -1;
	}
	return 0;
}

static int gw_handler(void *user, const char *section, const char *name, const char *value,
		      char *err, size_t errlen)
{
	struct gw_config *c = user;
	if (strncmp(section, "listener ", 9) == 0) {
		char lname[64];
		str_copy(lname, sizeof lname, section + 9);
		struct gw_listener *l = gw_listener_get(c, str_trim(lname), err, errlen);
		return l ? gw_listener_set(l, name, value, err, errlen) : -1;
	}
	bool policy = strncmp(section, "domain ", 7) == 0 || strncmp(section, "user ", 5) == 0;
	for (size_t i = 0; i < sizeof gw_policy_sections / sizeof gw_policy_sections[0]; i++)
		policy = policy || strcmp(section, gw_policy_sections[i]) == 0;
	if (policy)
		return pol_config_set(&c->policy, section, name, value, err, errlen);
	int rc = cfg_table_set(gw_options, GW_NOPTS, c, section, name, value, err, errlen);
	if (rc == 0) {
		str_format(err, errlen, "unknown option '%s' in [%s]", name, section);
		return -1;
	}
	return rc == 1 ? 0 : -1;
}

/* The embedded defaults: CLI.md's "serve" section. */
static const char gw_defaults[] = "[listener submission]\n"
				  "listen = 127.0.0.1:2587\n"
				  "role = submission\n"
				  "[listener relay]\n"
				  "listen = 127.0.0.1:2525\n"
				  "role = relay\n"
				  "tls = starttls\n";

static int gw_finish(struct gw_config *c, char *err, size_t errlen)
{
	if (!c->hostname[0] && gethostname(c->hostname, sizeof c->hostname - 1) != 0)
		str_copy(c->hostname, sizeof c->hostname, "localhost");
	c->trusted = prefix_set_new();
	if (!c->trusted) {
		str_format(err, errlen, "out of memory");
		return -1;
	}
	char e[200];
	if (prefix_set_add_list(c->trusted, c->trusted_networks, e, sizeof e) != 0) {
		str_format(err, errlen, "%s: [gateway] trusted_networks: %s", c->source, e);
		return -1;
	}
	if (c->policyd_listen[0] &&
	    hostport_parse(c->policyd_listen, 0, &c->policyd_addr, e, sizeof e) != 0) {
		str_format(err, errlen, "%s: [policyd] listen: %s", c->source, e);
		return -1;
	}
	if (strcmp(c->policyd_count_at, "end-of-message") != 0 &&
	    strcmp(c->policyd_count_at, "rcpt") != 0) {
		str_format(err, errlen, "%s: [policyd] count_at: expected end-of-message or rcpt",
			   c->source);
		return -1;
	}
	if (c->web_listen[0] && hostport_parse(c->web_listen, 0, &c->web_addr, e, sizeof e) != 0) {
		str_format(err, errlen, "%s: [web] listen: %s", c->source, e);
		return -1;
	}
	for (int i = 0; i < c->nlisteners; i++) {
		struct gw_listener *l = &c->listeners[i];
		if (l->naddrs == 0) {
			str_format(err, errlen, "%s: [listener %s] has no listen address", c->source,
				   l->name);
			return -1;
		}
	}
	if ((c->tls_cert[0] != 0) != (c->tls_key[0] != 0)) {
		str_format(err, errlen, "%s: [gateway] tls_cert and tls_key go together", c->source);
		return -1;
	}
	return 0;
}

int gwconf_load(struct gw_config *c, const char *path, char *err, size_t errlen)
{
	memset(c, 0, sizeof *c);
	if (cfg_table_defaults(gw_options, GW_NOPTS, c, err, errlen) != 0 ||
	    pol_config_defaults(&c->policy, err, errlen) != 0)
		return -1;
	str_copy(c->source, sizeof c->source, path ? path : "embedded defaults");
	int rc = path ? cfg_parse_file(path, gw_handler, c, err, errlen)
		      : cfg_parse_string(gw_defaults, "embedded defaults", gw_handler, c, err, errlen);
	/* A file that names no listener gets the default ones, like no file at all. */
	if (rc == 0 && path && c->nlisteners == 0)
		rc = cfg_parse_string(gw_defaults, "embedded defaults", gw_handler, c, err, errlen);
	if (rc == 0)
		rc = gw_finish(c, err, errlen);
	if (rc != 0)
		gwconf_free(c);
	return rc;
}

void gwconf_free(struct gw_config *c)
{
	prefix_set_free(c->trusted);
	c->trusted = NULL;
}
