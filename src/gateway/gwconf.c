/*
 * gwconf - `serve` configuration: the option table and its loader; see gwconf.h.
 */
#include "gateway/gwconf.h"

#include "admin/alert.h"
#include "admin/pfhold.h"
#include "core/cfg.h"
#include "core/log.h"
#include "core/str.h"
#include "gateway/follow.h"
#include "gateway/nftban.h"
#include "queue/queue.h"
#include "smtp/address.h"
#include "smtp/dkim.h"

#include <grp.h>
#include <pwd.h>
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
    {"gateway", "spool_dir", CFG_STRING, "", 0, 0, false, GC(spool_dir), GS(spool_dir),
     "the durable queue (default: state_dir/spool)"},
    {"gateway", "users", CFG_STRING, "", 0, 0, true, GC(users_file), GS(users_file),
     "account file, relayguard user (default: state_dir/users)"},
    {"gateway", "log_level", CFG_STRING, "info", 0, 0, true, GC(log_level), GS(log_level),
     "error, warn, info or debug"},
    {"gateway", "syslog", CFG_BOOL, "no", 0, 0, false, GC(syslog), 0,
     "yes: the same as log = syslog (older name)"},
    {"gateway", "log", CFG_STRING, "", 0, 0, false, GC(log_dest), GS(log_dest),
     "where log lines go: stderr (with <N> priorities under systemd) or syslog (mail); "
     "never both; default stderr"},
    {"gateway", "user", CFG_STRING, "relayguard", 0, 0, false, GC(user), GS(user),
     "serve started as root drops to this user once its listeners are bound and keys "
     "read; root: stay root (docs/daemon.md)"},
    {"gateway", "reverse_dns", CFG_BOOL, "no", 0, 0, false, GC(reverse_dns), 0,
     "look up each client's name (PTR, confirmed by its A/AAAA; [delivery] resolver) for "
     "the Received header"},
    {"gateway", "local_domains", CFG_STRING, "", 0, 0, true, GC(local_domains), GS(local_domains),
     "domains we accept mail for"},
    {"gateway", "trusted_networks", CFG_STRING, "127.0.0.0/8 ::1/128", 0, 0, true,
     GC(trusted_networks), GS(trusted_networks), "clients that may relay without AUTH"},
    {"gateway", "identify_sender", CFG_STRING, "", 0, 0, true, GC(identify_sender),
     GS(identify_sender),
     "trusted networks (the organisation's mail servers) whose mail is counted per envelope "
     "sender on every listener, as with [listener] identify = sender"},
    {"gateway", "tls_cert", CFG_STRING, "", 0, 0, true, GC(tls_cert), GS(tls_cert),
     "PEM certificate chain"},
    {"gateway", "tls_key", CFG_STRING, "", 0, 0, true, GC(tls_key), GS(tls_key), "PEM key"},
    {"gateway", "max_message_size", CFG_SIZE, "10240000", 1024, 1LL << 31, true,
     GC(max_message_size), 0, "Postfix message_size_limit"},
    {"gateway", "max_recipients", CFG_INT, "1000", 1, QUEUE_RCPT_MAX, true, GC(max_recipients), 0,
     "per message (at most what the queue takes)"},
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
    {"gateway", "auth_workers", CFG_INT, "2", 1, 64, false, GC(auth_workers), 0,
     "threads that check AUTH passwords (Argon2id) off the event loop; each check in "
     "progress holds its hash's memory cost (128 MiB at the default)"},
    {"gateway", "queue_fsync", CFG_BOOL, "yes", 0, 0, false, GC(queue_fsync), 0,
     "sync queue files before 250 (never turn off outside tests)"},
    {"screen", "dnsbl_sites", CFG_STRING, "", 0, 0, true, GC(screen_dnsbl_sites),
     GS(screen_dnsbl_sites),
     "inbound listeners: weighted DNSBLs, postscreen style (zen.spamhaus.org*3, ...)"},
    {"screen", "dnsbl_threshold", CFG_INT, "1", -1000, 1000, true, GC(screen_dnsbl_threshold), 0,
     "reject a client whose DNSBL score reaches this"},
    {"screen", "dnsbl_allowlist_threshold", CFG_STRING, "", 0, 0, true, GC(screen_dnsbl_allowlist),
     GS(screen_dnsbl_allowlist), "a score at or below this is allow-listed (empty: off)"},
    {"screen", "catalogue", CFG_STRING, "", 0, 0, true, GC(screen_catalogue), GS(screen_catalogue),
     "catalogue file (docs/catalogue.md) for dnsbl_sites' zones (default: the built-in one)"},
    {"screen", "resolver", CFG_STRING, "", 0, 0, false, GC(screen_resolver), GS(screen_resolver),
     "DNS server for DNSBL and SPF lookups, IP[:PORT] (empty: /etc/resolv.conf)"},
    {"screen", "spf", CFG_BOOL, "yes", 0, 0, true, GC(screen_spf), 0,
     "check the envelope sender's SPF on inbound listeners and remember the result"},
    {"screen", "recipients", CFG_STRING, "", 0, 0, true, GC(screen_recipients),
     GS(screen_recipients),
     "file of local users (user@domain, @domain for all); others get 550 5.1.1"},
    {"screen", "recipient_callout", CFG_STRING, "", 0, 0, true, GC(screen_callout),
     GS(screen_callout),
     "internal mail server HOST:PORT asked at RCPT (MAIL FROM:<>, RCPT TO) for local "
     "recipients the list does not know: 5xx gives 550 5.1.1, no answer 451"},
    {"screen", "recipient_callout_positive_ttl", CFG_DURATION, "7d", 1000, 90 * 86400000LL, true,
     GC(screen_callout_positive_ttl_ms), 0, "how long a 250 from the callout is remembered"},
    {"screen", "recipient_callout_negative_ttl", CFG_DURATION, "3h", 1000, 90 * 86400000LL, true,
     GC(screen_callout_negative_ttl_ms), 0, "how long a 5xx from the callout is remembered"},
    {"screen", "recipient_callout_timeout", CFG_DURATION, "10s", 100, 300000, true,
     GC(screen_callout_timeout_ms), 0, "the whole callout probe; past it the client gets 451"},
    {"scan", "rspamd", CFG_STRING, "", 0, 0, false, GC(scan_rspamd), GS(scan_rspamd),
     "rspamd's normal worker HOST:PORT: scan submission and relay mail; empty: off"},
    {"scan", "timeout", CFG_DURATION, "5s", 100, 600000, false, GC(scan_timeout_ms), 0,
     "the whole scan; past it the message passes unscanned"},
    {"scan", "max_size", CFG_SIZE, "20M", 1024, 1024LL * 1024 * 1024, false, GC(scan_max_size), 0,
     "larger messages pass unscanned"},
    {"gateway", "state_store", CFG_STRING, "lmdb", 0, 0, false, GC(state_store), GS(state_store),
     "lmdb (this node) or redis (nodes share counters and blocks)"},
    {"gateway", "state_map_size", CFG_SIZE, "1073741824", 256 << 10, 1LL << 40, false,
     GC(state_map_size), 0, "most the LMDB state store may hold (AUTH fails closed when full)"},
    {"gateway", "redis", CFG_STRING, "127.0.0.1:6379", 0, 0, false, GC(redis), GS(redis),
     "Redis for state_store = redis: HOST:PORT or unix:/path"},
    {"gateway", "redis_prefix", CFG_STRING, "relayguard:", 0, 0, false, GC(redis_prefix),
     GS(redis_prefix), "prefix of every key in Redis (one per group of nodes)"},
    {"gateway", "redis_timeout", CFG_DURATION, "500ms", 10, 60000, false, GC(redis_timeout_ms), 0,
     "connect and per-command time limit; then the node falls back to local state"},
    {"policyd", "listen", CFG_STRING, "127.0.0.1:10040", 0, 0, false, GC(policyd_listen),
     GS(policyd_listen), "Postfix policy service; empty: off"},
    {"policyd", "count_at", CFG_STRING, "instance", 0, 0, true, GC(policyd_count_at),
     GS(policyd_count_at),
     "instance (each message once, RCPT or end of data), end-of-message or rcpt"},
    {"policyd", "identify", CFG_STRING, "client", 0, 0, false, GC(policyd_identify),
     GS(policyd_identify),
     "client, or sender: requests without sasl_username from trusted_networks are counted "
     "per envelope sender of a local domain, as [gateway] identify_sender"},
    {"policyd", "max_connections", CFG_INT, "500", 1, 100000, false, GC(policyd_max_connections), 0,
     "Postfix smtpd processes connected at once"},
    {"policyd", "allow", CFG_STRING, "", 0, 0, false, GC(policyd_allow), GS(policyd_allow),
     "CIDRs whose clients may connect (empty: loopback only; required for a non-loopback "
     "listen)"},
    {"web", "trusted_proxy", CFG_STRING, "", 0, 0, false, GC(web_trusted_proxy),
     GS(web_trusted_proxy),
     "CIDRs of reverse proxies whose X-Forwarded-For names the web client (empty: none)"},
    {"gateway", "listeners", CFG_STRING, "", 0, 0, false, GC(listeners_opt), GS(listeners_opt),
     "none: no SMTP listener at all, only the policy service, the web page and the state "
     "(docs/deploy-postfix.md); empty: the [listener] sections, or the default ones"},
    {"policyd", "postfix_queue", CFG_STRING, "auto", 0, 0, false, GC(policyd_postfix_queue),
     GS(policyd_postfix_queue),
     "yes: mail the policy holds is in Postfix's hold queue, and relayguard hold acts on it "
     "there (postqueue, postsuper); auto: yes with [gateway] listeners = none"},
    {"policyd", "postqueue", CFG_STRING, "/usr/sbin/postqueue", 0, 0, false, GC(policyd_postqueue),
     GS(policyd_postqueue), "Postfix's postqueue, with arguments to put before its own (no shell)"},
    {"policyd", "postsuper", CFG_STRING, "/usr/sbin/postsuper", 0, 0, false, GC(policyd_postsuper),
     GS(policyd_postsuper),
     "Postfix's postsuper, with arguments before its own (it needs root: e.g. "
     "/usr/bin/sudo -n /usr/sbin/postsuper)"},
    {"policyd", "postfix_config_dir", CFG_STRING, "", 0, 0, false, GC(policyd_postfix_config_dir),
     GS(policyd_postfix_config_dir),
     "Postfix's configuration directory, given as -c (empty: Postfix's default)"},
    {"policyd", "postfix_timeout", CFG_DURATION, "10s", 100, 600000, false,
     GC(policyd_postfix_timeout_ms), 0, "time limit of one postqueue or postsuper run"},
    {"policyd", "socket_owner", CFG_STRING, "", 0, 0, false, GC(policyd_socket_owner),
     GS(policyd_socket_owner), "unix socket: its owner (user name)"},
    {"policyd", "socket_group", CFG_STRING, "", 0, 0, false, GC(policyd_socket_group),
     GS(policyd_socket_group), "unix socket: its group (Postfix: postfix)"},
    {"policyd", "socket_mode", CFG_STRING, "", 0, 0, false, GC(policyd_socket_mode),
     GS(policyd_socket_mode), "unix socket: its mode, octal (0660)"},
#define GA(f) offsetof(struct gw_config, auth.f)
#define GAS(f) sizeof(((struct gw_config *)0)->auth.f)
    {"auth", "backends", CFG_STRING, "file", 0, 0, true, GA(backends), GAS(backends),
     "where SMTP AUTH passwords are checked, in order: file (the users file), dovecot, ldap; "
     "the first that knows the user decides (docs/users.md)"},
    {"auth", "backend_timeout", CFG_DURATION, "10s", 100, 120000, true, GA(timeout_ms), 0,
     "a Dovecot check, or each LDAP operation; past it AUTH gets 454 4.7.0 (never 535)"},
    {"auth", "dovecot_socket", CFG_STRING, "", 0, 0, true, GA(dovecot_socket), GAS(dovecot_socket),
     "Dovecot's auth-client socket, as /run/dovecot/auth-client"},
    {"auth", "dovecot_service", CFG_STRING, "smtp", 0, 0, true, GA(dovecot_service),
     GAS(dovecot_service), "the service name Dovecot's passdb sees (%s in its config)"},
    {"auth", "ldap_uri", CFG_STRING, "", 0, 0, true, GA(ldap_uri), GAS(ldap_uri),
     "ldap://HOST[:PORT] or ldaps://HOST[:PORT] (several, space-separated: tried in turn)"},
    {"auth", "ldap_starttls", CFG_BOOL, "yes", 0, 0, true, GA(ldap_starttls), 0,
     "ldap:// URIs: StartTLS first, required (no: the password crosses the network in "
     "clear)"},
    {"auth", "ldap_ca_file", CFG_STRING, "", 0, 0, true, GA(ldap_ca_file), GAS(ldap_ca_file),
     "PEM CAs that signed the LDAP server's certificate (empty: the system's)"},
    {"auth", "ldap_base", CFG_STRING, "", 0, 0, true, GA(ldap_base), GAS(ldap_base),
     "where the users are searched (subtree), as dc=corp,dc=example"},
    {"auth", "ldap_filter", CFG_STRING, "(|(uid=%u)(userPrincipalName=%u)(sAMAccountName=%u))", 0,
     0, true, GA(ldap_filter), GAS(ldap_filter),
     "the user's entry: %u the login name, %n its local part, %d its domain (RFC 4515 "
     "escaped); exactly one entry must match"},
    {"auth", "ldap_bind_dn", CFG_STRING, "", 0, 0, true, GA(ldap_bind_dn), GAS(ldap_bind_dn),
     "the account the search binds as (empty: anonymous)"},
    {"auth", "ldap_bind_password", CFG_STRING, "", 0, 0, true, GA(ldap_bind_password),
     GAS(ldap_bind_password), "its password"},
    {"auth", "ldap_name_attr", CFG_STRING, "", 0, 0, true, GA(ldap_name_attr), GAS(ldap_name_attr),
     "the entry's attribute whose value is the account's identity (uid, userPrincipalName; "
     "empty: the login name)"},
#define GD(f) offsetof(struct gw_config, delivery.f)
#define GDS(f) sizeof(((struct gw_config *)0)->delivery.f)
    {"delivery", "relayhost", CFG_STRING, "", 0, 0, true, GD(relayhost), GDS(relayhost),
     "send everything to this host: [host]:port, host:port (MX lookup); empty: MX"},
    {"delivery", "relayhost_auth", CFG_STRING, "", 0, 0, true, GD(relayhost_auth),
     GDS(relayhost_auth), "user:password for AUTH PLAIN (needs relayhost_tls = verify)"},
    {"delivery", "relayhost_tls", CFG_STRING, "may", 0, 0, true, GD(relayhost_tls),
     GDS(relayhost_tls), "none, may, encrypt or verify"},
    {"delivery", "tls", CFG_STRING, "may", 0, 0, true, GD(tls), GDS(tls),
     "outgoing STARTTLS to MX hosts: none, may, encrypt or verify"},
    {"delivery", "tls_ca_file", CFG_STRING, "", 0, 0, true, GD(tls_ca_file), GDS(tls_ca_file),
     "CA certificates for verify (default: the system's)"},
    {"delivery", "local_relay", CFG_STRING, "", 0, 0, true, GD(local_relay), GDS(local_relay),
     "where mail for local_domains goes (the internal server); empty: MX"},
    {"delivery", "smtp_port", CFG_INT, "25", 1, 65535, true, GD(smtp_port), 0, "port of MX hosts"},
    {"delivery", "source_address", CFG_STRING, "", 0, 0, true, GD(source_address),
     GDS(source_address), "bind outgoing connections to this address"},
    {"delivery", "source_by_sender_domain", CFG_STRING, "", 0, 0, true, GD(source_by_sender_domain),
     GDS(source_by_sender_domain),
     "domain=address pairs: mail from that sender domain leaves from that address"},
    {"delivery", "resolver", CFG_STRING, "", 0, 0, false, GD(resolver), GDS(resolver),
     "DNS servers for MX lookups, host:port,...; empty: /etc/resolv.conf"},
    {"delivery", "address_family", CFG_STRING, "ipv4-first", 0, 0, true, GD(address_family),
     GDS(address_family), "ipv4-first, ipv6-first, ipv4 or ipv6"},
    {"delivery", "destination_concurrency", CFG_INT, "20", 1, 1000, true, GD(concurrency), 0,
     "connections to one destination at once"},
    {"delivery", "max_connections", CFG_INT, "100", 1, 10000, true, GD(max_connections), 0,
     "outgoing connections at once"},
    {"delivery", "max_active", CFG_INT, "10000", 1, 1000000, true, GD(max_active), 0,
     "messages being delivered at once"},
    {"delivery", "connect_timeout", CFG_DURATION, "30s", 100, 3600000, true, GD(connect_timeout_ms),
     0, "TCP connect"},
    {"delivery", "command_timeout", CFG_DURATION, "300s", 100, 3600000, true,
     GD(command_timeout_ms), 0, "waiting for any reply (RFC 5321 4.5.3.2)"},
    {"delivery", "idle_timeout", CFG_DURATION, "2s", 0, 3600000, true, GD(idle_timeout_ms), 0,
     "an open connection waits this long for the next message"},
    {"delivery", "dead_time", CFG_DURATION, "30s", 0, 3600000, true, GD(dead_time_ms), 0,
     "after every host failed, defer mail for that destination this long"},
    {"delivery", "poll_interval", CFG_DURATION, "20ms", 1, 60000, true, GD(poll_ms), 0,
     "how often the queue is asked for due messages"},
    {"delivery", "minimal_backoff", CFG_DURATION, "300s", 1, 86400000, true, GD(min_backoff_ms), 0,
     "first retry after a deferral"},
    {"delivery", "maximal_backoff", CFG_DURATION, "4000s", 1, 86400000, true, GD(max_backoff_ms), 0,
     "longest gap between retries"},
    {"delivery", "queue_lifetime", CFG_DURATION, "5d", 1, 365LL * 86400000, true, GD(lifetime_ms),
     0, "then undeliverable mail is returned (4.4.7)"},
    {"delivery", "mta_sts", CFG_BOOL, "yes", 0, 0, false, GD(mta_sts), 0,
     "apply the recipient domain's MTA-STS policy (RFC 8461) to MX delivery"},
    {"delivery", "mta_sts_ca_file", CFG_STRING, "", 0, 0, false, GD(mta_sts_ca_file),
     GDS(mta_sts_ca_file), "CAs for the policy's HTTPS server (empty: the system store)"},
    {"delivery", "mta_sts_port", CFG_INT, "443", 1, 65535, false, GD(mta_sts_port), 0,
     "port of the policy's HTTPS server (443; another only for tests)"},
    {"delivery", "mta_sts_timeout", CFG_DURATION, "30s", 100, 600000, false, GD(mta_sts_timeout_ms),
     0, "policy fetch time limit"},
    {"delivery", "tlsrpt_send", CFG_BOOL, "no", 0, 0, false, GD(tlsrpt_send), 0,
     "mail each day's TLS-RPT report (RFC 8460) to the policy domain's mailto: rua"},
    {"delivery", "tlsrpt_from", CFG_STRING, "", 0, 0, false, GD(tlsrpt_from), GDS(tlsrpt_from),
     "sender of the TLS-RPT reports (needed with tlsrpt_send = yes)"},
    {"web", "listen", CFG_STRING, "127.0.0.1:8025", 0, 0, false, GC(web_listen), GS(web_listen),
     "web page and /metrics; empty: off"},
    {"web", "tls_cert", CFG_STRING, "", 0, 0, false, GC(web_tls_cert), GS(web_tls_cert),
     "PEM certificate chain for HTTPS; needed to listen beyond loopback"},
    {"web", "tls_key", CFG_STRING, "", 0, 0, false, GC(web_tls_key), GS(web_tls_key),
     "PEM key for HTTPS"},
    {"web", "api_token", CFG_STRING, "", 0, 0, true, GC(web_api_token), GS(web_api_token),
     "Authorization: Bearer token for /api/ (at least 16 characters); empty: none"},
    {"web", "api_token_file", CFG_STRING, "", 0, 0, true, GC(web_api_token_file),
     GS(web_api_token_file), "file whose first line is the bearer token"},
    {"web", "monitor_state", CFG_STRING, "", 0, 0, true, GC(web_monitor_state),
     GS(web_monitor_state),
     "relayguard monitor's state file (default state_dir/monitor-state.json)"},
    {"web", "session_idle", CFG_DURATION, "30m", 60000, 86400000, true, GC(web_session_idle_ms), 0,
     "a login ends after this long without a request"},
    {"web", "session_max", CFG_DURATION, "12h", 60000, 7 * 86400000LL, true, GC(web_session_max_ms),
     0, "and this long after it began"},
    {"alert", "exec_timeout", CFG_DURATION, "30s", 100, 3600000, true, GC(alert_exec_timeout_ms), 0,
     "alert program time limit"},
    {"alert", "webhook_timeout", CFG_DURATION, "10s", 100, 600000, true,
     GC(alert_webhook_timeout_ms), 0, "per attempt"},
    {"alert", "webhook_retries", CFG_INT, "3", 0, 10, true, GC(alert_webhook_retries), 0,
     "further attempts"},
    {"alert", "webhook_ca", CFG_STRING, "", 0, 0, true, GC(alert_webhook_ca), GS(alert_webhook_ca),
     "trusted CAs (PEM file); empty: the system's"},
    {"alert", "block_digest", CFG_DURATION, "60s", 1000, 86400000, true, GC(alert_digest_ms), 0,
     "the first block is told at once, later ones in one digest per this interval"},
    {"alert", "mail_from", CFG_STRING, "", 0, 0, true, GC(alert_mail_from), GS(alert_mail_from),
     "sender of alert mail; empty: postmaster@hostname"},
    /* [follow] and [firewall] (docs/follow.md, docs/firewall.md) */
    {"follow", "files", CFG_STRING, "", 0, 0, false, GC(follow_files), GS(follow_files),
     "mail logs to follow for failed and successful logins (comma list of absolute paths); "
     "empty: off"},
    {"follow", "poll_interval", CFG_DURATION, "250ms", 10, 60000, false, GC(follow_poll_ms), 0,
     "how often the followed logs are read"},
    {"follow", "max_line", CFG_INT, "8192", 256, 1048576, false, GC(follow_max_line), 0,
     "longer log lines are skipped"},
    {"firewall", "ban_set", CFG_STRING, "", 0, 0, false, GC(fw_ban_set), GS(fw_ban_set),
     "nftables set (FAMILY TABLE SET) that IPv4 addresses locked out for failed logins go "
     "into; empty: none"},
    {"firewall", "ban_set6", CFG_STRING, "", 0, 0, false, GC(fw_ban_set6), GS(fw_ban_set6),
     "the same for IPv6 prefixes (an interval set); empty: none"},
    {"firewall", "ban_timeout", CFG_DURATION, "1h", 1000, 30 * 86400000LL, false,
     GC(fw_ban_timeout_ms), 0, "longest time an address stays in the set (a shorter lockout: "
     "its end)"},
    {"firewall", "nft", CFG_STRING, "nft", 0, 0, false, GC(fw_nft), GS(fw_nft),
     "the nft command, run without a shell (for example: sudo -n /usr/sbin/nft)"},
};
#define GW_NOPTS (sizeof gw_options / sizeof gw_options[0])

static const char *const gw_policy_sections[] = {"limits",  "identity",  "signals",
                                                 "actions", "auth",      "inbound",
                                                 "autoreply", "notify", "forward"};

const char *gw_role_name(enum gw_role r)
{
	switch (r) {
	case GW_ROLE_SUBMISSION:
		return "submission";
	case GW_ROLE_RELAY:
		return "relay";
	case GW_ROLE_INBOUND:
		return "inbound";
	}
	panic("gwconf: role %d", (int)r);
}

const char *gw_tls_name(enum gw_tls t)
{
	switch (t) {
	case GW_TLS_NONE:
		return "none";
	case GW_TLS_STARTTLS:
		return "starttls";
	case GW_TLS_IMPLICIT:
		return "implicit";
	}
	panic("gwconf: tls %d", (int)t);
}

static struct gw_listener *gw_listener_get(struct gw_config *c, const char *name, char *err,
                                           size_t errlen)
{
	for (int i = 0; i < c->nlisteners; i++)
		if (strcmp(c->listeners[i].name, name) == 0)
			return &c->listeners[i];
	if (c->nlisteners == GW_LISTENERS_MAX) {
		str_format_trunc(err, errlen, "more than %d listeners", GW_LISTENERS_MAX);
		return NULL;
	}
	struct gw_listener *l = &c->listeners[c->nlisteners];
	memset(l, 0, sizeof *l);
	if (str_copy(l->name, sizeof l->name, name) != 0 || !*name) {
		str_format_trunc(err, errlen, "listener name empty or longer than %zu",
		                 sizeof l->name - 1);
		return NULL;
	}
	/* A listener named like a role gets that role by default. */
	l->role = strcmp(name, "relay") == 0     ? GW_ROLE_RELAY
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
			str_format_trunc(err, errlen, "listen: too long");
			return -1;
		}
		int n = str_split(tmp, " ,\t", f, GW_ADDRS_MAX);
		if (n <= 0) {
			str_format_trunc(err, errlen, "listen: between 1 and %d addresses",
			                 GW_ADDRS_MAX);
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
			str_format_trunc(err, errlen,
			                 "role: expected submission, relay or inbound");
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
			str_format_trunc(err, errlen, "tls: expected none, starttls or implicit");
			return -1;
		}
	} else if (strcmp(name, "source_address") == 0) {
		struct addr a;
		if (addr_parse(value, strlen(value), &a) != 0 ||
		    str_copy(l->source_address, sizeof l->source_address, value) != 0) {
			str_format_trunc(err, errlen, "source_address: expected an IP address");
			return -1;
		}
	} else if (strcmp(name, "identify") == 0) {
		if (strcmp(value, "client") == 0)
			l->identify = GW_IDENTIFY_CLIENT;
		else if (strcmp(value, "sender") == 0)
			l->identify = GW_IDENTIFY_SENDER;
		else {
			str_format_trunc(err, errlen, "identify: expected client or sender");
			return -1;
		}
	} else if (strcmp(name, "identify_header") == 0) {
		size_t n = strlen(value);
		bool ok = n > 0 && n < sizeof l->identify_header;
		for (size_t i = 0; ok && i < n; i++) /* RFC 5322 ftext, as a name is written */
			ok = value[i] > 32 && value[i] < 127 && value[i] != ':';
		if (!ok || str_copy(l->identify_header, sizeof l->identify_header, value) != 0) {
			str_format_trunc(err, errlen,
			                 "identify_header: expected a header field name");
			return -1;
		}
	} else if (strcmp(name, "require_tls_for_auth") == 0) {
		if (str_to_bool(value, &l->require_tls_for_auth) != 0) {
			str_format_trunc(err, errlen, "require_tls_for_auth: expected yes or no");
			return -1;
		}
	} else {
		str_format_trunc(err, errlen, "unknown option '%s' in a [listener] section", name);
		return -1;
	}
	return 0;
}

const char *gw_dtls_name(enum gw_dtls t)
{
	static const char *const names[] = {"none", "may", "encrypt", "verify"};
	if ((size_t)t >= sizeof names / sizeof names[0])
		panic("gwconf: delivery tls %d", (int)t);
	return names[t];
}

static int gw_dtls_parse(const char *s, enum gw_dtls *out)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, gw_dtls_name((enum gw_dtls)i)) == 0) {
			*out = (enum gw_dtls)i;
			return 0;
		}
	return -1;
}

static int gw_delivery_tls_set(struct gw_delivery *d, const char *name, const char *value,
                               char *err, size_t errlen)
{
	if (d->ntls == GW_TLS_POLICY_MAX) {
		str_format_trunc(err, errlen, "more than %d domains in [delivery_tls]",
		                 GW_TLS_POLICY_MAX);
		return -1;
	}
	if (gw_dtls_parse(value, &d->tls_policy[d->ntls].level) != 0) {
		str_format_trunc(err, errlen, "%s: expected none, may, encrypt or verify", name);
		return -1;
	}
	if (str_copy(d->tls_policy[d->ntls].domain, sizeof d->tls_policy[0].domain, name) != 0) {
		str_format_trunc(err, errlen, "domain name too long");
		return -1;
	}
	str_lower(d->tls_policy[d->ntls].domain);
	d->ntls++;
	return 0;
}

enum gw_dtls gw_delivery_tls(const struct gw_delivery *d, const char *domain)
{
	for (int i = 0; i < d->ntls; i++)
		if (str_ieq(d->tls_policy[i].domain, domain))
			return d->tls_policy[i].level;
	return d->tls_level;
}

int gw_nexthop_parse(const char *s, unsigned default_port, struct gw_nexthop *out, char *err,
                     size_t errlen)
{
	memset(out, 0, sizeof *out);
	out->port = default_port;
	const char *host = s, *port = NULL;
	size_t hlen;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close) {
			str_format_trunc(err, errlen, "'%s': missing ']'", s);
			return -1;
		}
		out->no_mx = true;
		host = s + 1;
		hlen = (size_t)(close - host);
		if (close[1] == ':')
			port = close + 2;
		else if (close[1]) {
			str_format_trunc(err, errlen, "'%s': junk after ']'", s);
			return -1;
		}
	} else {
		const char *colon = strrchr(s, ':');
		if (colon && strchr(s, ':') != colon) {
			str_format_trunc(err, errlen, "'%s': an IPv6 address goes in brackets", s);
			return -1;
		}
		hlen = colon ? (size_t)(colon - s) : strlen(s);
		port = colon ? colon + 1 : NULL;
	}
	if (hlen == 0 || str_copy_n(out->host, sizeof out->host, host, hlen) != 0) {
		str_format_trunc(err, errlen, "'%s': no host, or too long", s);
		return -1;
	}
	if (port) {
		long long p;
		if (str_to_ll(port, 1, 65535, &p) != 0) {
			str_format_trunc(err, errlen, "'%s': bad port", s);
			return -1;
		}
		out->port = (unsigned)p;
	}
	if (out->no_mx && addr_parse(out->host, strlen(out->host), &out->addr) == 0)
		out->literal = true;
	out->set = true;
	str_format_trunc(out->text, sizeof out->text, "%s%s%s:%u", out->no_mx ? "[" : "", out->host,
	                 out->no_mx ? "]" : "", out->port);
	return 0;
}

/* [policyd] allow and the unix socket's owner, group and mode (issue 16: the
 * policy service decides blocks for any account, so only Postfix may talk to it). */
static int gw_policyd_finish(struct gw_config *c, char *err, size_t errlen)
{
	char e[200];
	bool is_unix = c->policyd_listen[0] && c->policyd_addr.ss.ss_family == AF_UNIX;
	c->policyd_uid = c->policyd_gid = -1;
	c->policyd_mode = -1;
	c->policyd_allowed = prefix_set_new();
	if (!c->policyd_allowed) {
		str_format_trunc(err, errlen, "out of memory");
		return -1;
	}
	if (prefix_set_add_list(c->policyd_allowed,
	                        c->policyd_allow[0] ? c->policyd_allow : "127.0.0.0/8, ::1", e,
	                        sizeof e) != 0) {
		str_format_trunc(err, errlen, "%s: [policyd] allow: %s", c->source, e);
		return -1;
	}
	if (c->policyd_listen[0] && !is_unix && !c->policyd_allow[0] &&
	    !hostport_is_loopback(&c->policyd_addr)) {
		str_format_trunc(
		    err, errlen,
		    "%s: [policyd] listen %s is not a loopback address: set [policyd] allow to "
		    "the Postfix hosts' addresses (anyone who reaches the policy service can "
		    "block any account)",
		    c->source, c->policyd_listen);
		return -1;
	}
	if (!is_unix && (c->policyd_socket_owner[0] || c->policyd_socket_group[0] ||
	                 c->policyd_socket_mode[0])) {
		str_format_trunc(
		    err, errlen,
		    "%s: [policyd] socket_owner, socket_group and socket_mode need listen = "
		    "unix:/path",
		    c->source);
		return -1;
	}
	if (c->policyd_socket_owner[0]) {
		const struct passwd *pw = getpwnam(c->policyd_socket_owner);
		if (!pw) {
			str_format_trunc(err, errlen, "%s: [policyd] socket_owner: no user %s",
			                 c->source, c->policyd_socket_owner);
			return -1;
		}
		c->policyd_uid = (long)pw->pw_uid;
	}
	if (c->policyd_socket_group[0]) {
		const struct group *gr = getgrnam(c->policyd_socket_group);
		if (!gr) {
			str_format_trunc(err, errlen, "%s: [policyd] socket_group: no group %s",
			                 c->source, c->policyd_socket_group);
			return -1;
		}
		c->policyd_gid = (long)gr->gr_gid;
	}
	if (c->policyd_socket_mode[0]) {
		unsigned mode = 0;
		const char *m = c->policyd_socket_mode;
		size_t n = strlen(m);
		for (size_t i = 0; i < n; i++) {
			if (m[i] < '0' || m[i] > '7' || n > 4) {
				str_format_trunc(
				    err, errlen,
				    "%s: [policyd] socket_mode: expected octal, as 0660",
				    c->source);
				return -1;
			}
			mode = mode * 8 + (unsigned)(m[i] - '0');
		}
		if (mode > 0777) {
			str_format_trunc(err, errlen, "%s: [policyd] socket_mode: at most 0777",
			                 c->source);
			return -1;
		}
		c->policyd_mode = (int)mode;
	}
	return 0;
}

static int gw_delivery_finish(struct gw_config *c, char *err, size_t errlen)
{
	struct gw_delivery *d = &c->delivery;
	char e[200];
	if (d->relayhost[0] && gw_nexthop_parse(d->relayhost, 25, &d->relay, e, sizeof e) != 0) {
		str_format_trunc(err, errlen, "%s: [delivery] relayhost: %s", c->source, e);
		return -1;
	}
	if (d->local_relay[0] &&
	    gw_nexthop_parse(d->local_relay, 25, &d->local, e, sizeof e) != 0) {
		str_format_trunc(err, errlen, "%s: [delivery] local_relay: %s", c->source, e);
		return -1;
	}
	if (gw_dtls_parse(d->tls, &d->tls_level) != 0 ||
	    gw_dtls_parse(d->relayhost_tls, &d->relayhost_tls_level) != 0) {
		str_format_trunc(err, errlen,
		                 "%s: [delivery] tls, relayhost_tls: none, may, encrypt or verify",
		                 c->source);
		return -1;
	}
	if (d->relayhost_auth[0] && !strchr(d->relayhost_auth, ':')) {
		str_format_trunc(err, errlen,
		                 "%s: [delivery] relayhost_auth: expected user:password",
		                 c->source);
		return -1;
	}
	if (d->relayhost_auth[0] && d->relayhost_tls_level != GW_DTLS_VERIFY) {
		/* Below verify, STARTTLS authenticates nobody: anyone on the path can
		 * present a certificate and collect the password of AUTH PLAIN. */
		str_format_trunc(
		    err, errlen,
		    "%s: [delivery] relayhost_auth needs relayhost_tls = verify (the password "
		    "must go only to a relayhost whose certificate is checked; set "
		    "tls_ca_file for a private CA)",
		    c->source);
		return -1;
	}
	static const char *const fams[] = {"ipv4-first", "ipv6-first", "ipv4", "ipv6"};
	bool fam_ok = false;
	for (size_t i = 0; i < 4; i++)
		fam_ok = fam_ok || strcmp(d->address_family, fams[i]) == 0;
	if (!fam_ok) {
		str_format_trunc(
		    err, errlen,
		    "%s: [delivery] address_family: ipv4-first, ipv6-first, ipv4 or ipv6",
		    c->source);
		return -1;
	}
	struct addr a;
	if (d->source_address[0] &&
	    addr_parse(d->source_address, strlen(d->source_address), &a) != 0) {
		str_format_trunc(err, errlen, "%s: [delivery] source_address: not an IP address",
		                 c->source);
		return -1;
	}
	char tmp[sizeof d->source_by_sender_domain];
	char *f[GW_SOURCE_MAP_MAX + 1];
	if (str_copy(tmp, sizeof tmp, d->source_by_sender_domain) != 0)
		panic("gw_delivery_finish: tmp does not fit");
	int n = str_split(tmp, " ,\t", f, GW_SOURCE_MAP_MAX);
	if (n < 0) {
		str_format_trunc(err, errlen,
		                 "%s: [delivery] source_by_sender_domain: more than %d", c->source,
		                 GW_SOURCE_MAP_MAX);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char *eq = strchr(f[i], '=');
		if (!eq || eq == f[i] || addr_parse(eq + 1, strlen(eq + 1), &a) != 0 ||
		    str_copy_n(d->source_map[i].domain, sizeof d->source_map[i].domain, f[i],
		               (size_t)(eq - f[i])) != 0 ||
		    str_copy(d->source_map[i].addr, sizeof d->source_map[i].addr, eq + 1) != 0) {
			str_format_trunc(
			    err, errlen,
			    "%s: [delivery] source_by_sender_domain: '%s' is not domain=address",
			    c->source, f[i]);
			return -1;
		}
		str_lower(d->source_map[i].domain);
	}
	d->nsource = n;
	return 0;
}

/* [alert] exec = COMMAND, webhook = URL: repeatable. */
static int gw_alert_add(struct gw_config *c, bool exec, const char *value, char *err,
			size_t errlen)
{
	int *n = exec ? &c->nalert_execs : &c->nalert_webhooks;
	if (*n == GW_ALERTS_MAX) {
		str_format_trunc(err, errlen, "more than %d alert %ss", GW_ALERTS_MAX,
		                 exec ? "exec" : "webhook");
		return -1;
	}
	char *slot = exec ? c->alert_execs[*n] : c->alert_webhooks[*n];
	if (!exec && alert_webhook_check_url(value, err, errlen) != 0)
		return -1;
	if (*value == '\0' || str_copy(slot, sizeof c->alert_execs[0], value) != 0) {
		str_format_trunc(err, errlen, "%s: empty or longer than %zu",
		                 exec ? "exec" : "webhook", sizeof c->alert_execs[0] - 1);
		return -1;
	}
	(*n)++;
	return 0;
}

/* A bare address (local@domain) fit for an envelope and a header. */
static int gw_alert_addr_check(const char *a, char *err, size_t errlen)
{
	struct smtp_address m;
	/* A quoted local part is a valid address, but not one to write bare in a
	 * header. */
	if (smtp_address_mailbox(a, strlen(a), 0, &m) != SMTP_ADDRESS_OK ||
	    (m.flags & SMTP_ADDRESS_F_QUOTED)) {
		str_format_trunc(err, errlen, "\"%s\": not an address (local@domain)", a);
		return -1;
	}
	return 0;
}

/* [alert] mail_to = ADDRESS[, ADDRESS...]: repeatable. */
static int gw_alert_mail_to(struct gw_config *c, const char *value, char *err, size_t errlen)
{
	char list[2048];
	if (str_copy(list, sizeof list, value) != 0) {
		str_format_trunc(err, errlen, "mail_to: longer than %zu", sizeof list - 1);
		return -1;
	}
	char *save = NULL;
	int added = 0;
	for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		t = str_trim(t);
		if (*t == '\0')
			continue;
		if (c->nalert_mail_to == GW_ALERTS_MAX) {
			str_format_trunc(err, errlen, "more than %d alert mail_to addresses",
			                 GW_ALERTS_MAX);
			return -1;
		}
		if (gw_alert_addr_check(t, err, errlen) != 0)
			return -1;
		if (str_copy(c->alert_mail_to[c->nalert_mail_to], sizeof c->alert_mail_to[0], t) != 0) {
			str_format_trunc(err, errlen, "mail_to: address too long");
			return -1;
		}
		c->nalert_mail_to++;
		added++;
	}
	if (!added) {
		str_format_trunc(err, errlen, "mail_to: no address");
		return -1;
	}
	return 0;
}

/* [dkim] DOMAIN = selector, keyfile: the key is read and checked at the end. */
static int gw_dkim_add(struct gw_config *c, const char *domain, const char *value, char *err,
                       size_t errlen)
{
	if (c->ndkim == GW_DKIM_MAX) {
		str_format_trunc(err, errlen, "[dkim]: more than %d signing domains", GW_DKIM_MAX);
		return -1;
	}
	for (int i = 0; i < c->ndkim; i++)
		if (str_ieq(c->dkim[i].domain, domain)) {
			str_format_trunc(err, errlen, "[dkim] %s: a second key for the domain",
			                 domain);
			return -1;
		}
	char v[700];
	char *f[3];
	if (str_copy(v, sizeof v, value) != 0 || str_split(v, ",", f, 3) != 2) {
		str_format_trunc(err, errlen, "[dkim] %s: expected 'selector, keyfile'", domain);
		return -1;
	}
	char *sel = str_trim(f[0]), *file = str_trim(f[1]);
	if (!*sel || !*file ||
	    str_copy(c->dkim[c->ndkim].domain, sizeof c->dkim[0].domain, domain) ||
	    str_copy(c->dkim[c->ndkim].selector, sizeof c->dkim[0].selector, sel) ||
	    str_copy(c->dkim[c->ndkim].keyfile, sizeof c->dkim[0].keyfile, file)) {
		str_format_trunc(err, errlen,
		                 "[dkim] %s: expected 'selector, keyfile' (too long or empty)",
		                 domain);
		return -1;
	}
	str_lower(c->dkim[c->ndkim].domain);
	c->ndkim++;
	return 0;
}

/* Every [dkim] key loads into ring (NULL: only checked). 0, or -1 with err. */
int gw_dkim_keys(const struct gw_config *c, struct dkim_keyring *ring, char *err, size_t errlen)
{
	for (int i = 0; i < c->ndkim; i++) {
		struct dkim_key *k;
		char e[600];
		if (dkim_key_load(&k, c->dkim[i].domain, c->dkim[i].selector, c->dkim[i].keyfile, e,
		                  sizeof e) != 0) {
			str_format_trunc(err, errlen, "%s: [dkim] %s: %s", c->source,
			                 c->dkim[i].domain, e);
			return -1;
		}
		if (!ring)
			dkim_key_free(k);
		else if (dkim_keyring_add(ring, k) != 0) {
			str_format_trunc(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

static int gw_handler(void *user, const char *section, const char *name, const char *value,
                      char *err, size_t errlen)
{
	struct gw_config *c = user;
	if (strcmp(section, "dkim") == 0)
		return gw_dkim_add(c, name, value, err, errlen);
	if (strncmp(section, "listener ", 9) == 0) {
		char lname[64];
		if (str_copy(lname, sizeof lname, section + 9) != 0) {
			str_copy_trunc(err, errlen, "a [listener NAME] section name is too long");
			return -1;
		}
		struct gw_listener *l = gw_listener_get(c, str_trim(lname), err, errlen);
		return l ? gw_listener_set(l, name, value, err, errlen) : -1;
	}
	if (strcmp(section, "delivery_tls") == 0)
		return gw_delivery_tls_set(&c->delivery, name, value, err, errlen);
	if (strcmp(section, "alert") == 0 && (strcmp(name, "exec") == 0 || strcmp(name, "webhook") == 0))
		return gw_alert_add(c, name[0] == 'e', value, err, errlen);
	if (strcmp(section, "alert") == 0 && strcmp(name, "mail_to") == 0)
		return gw_alert_mail_to(c, value, err, errlen);
	if (strcmp(section, "gateway") == 0 && strcmp(name, "user") == 0)
		c->user_set = true;
	bool policy = strncmp(section, "domain ", 7) == 0 || strncmp(section, "user ", 5) == 0;
	for (size_t i = 0; i < sizeof gw_policy_sections / sizeof gw_policy_sections[0]; i++)
		policy = policy || strcmp(section, gw_policy_sections[i]) == 0;
	if (strcmp(section, "auth") == 0) {
		/* [auth] is shared: the backends here, the brute-force limits the engine's */
		int arc = cfg_table_set(gw_options, GW_NOPTS, c, section, name, value, err, errlen);
		if (arc != 0)
			return arc == 1 ? 0 : -1;
	}
	if (policy)
		return pol_config_set(&c->policy, section, name, value, err, errlen);
	int rc = cfg_table_set(gw_options, GW_NOPTS, c, section, name, value, err, errlen);
	if (rc == 0) {
		str_format_trunc(err, errlen, "unknown option '%s' in [%s]", name, section);
		return -1;
	}
	return rc == 1 ? 0 : -1;
}

/* [gateway] listeners = none: no SMTP listener, and a [listener] section
 * beside it is a contradiction, refused. [policyd] postfix_queue auto follows it. */
static int gw_listeners_off(struct gw_config *c, char *err, size_t errlen)
{
	if (c->listeners_opt[0] && strcmp(c->listeners_opt, "none") != 0) {
		str_format_trunc(err, errlen,
		                 "%s: [gateway] listeners: expected none (or leave it out for the "
		                 "[listener] sections)",
		                 c->source);
		return -1;
	}
	c->listeners_off = c->listeners_opt[0] != '\0';
	if (c->listeners_off && c->nlisteners > 0) {
		str_format_trunc(err, errlen,
		                 "%s: [gateway] listeners = none, but [listener %s] is configured: "
		                 "remove one of them",
		                 c->source, c->listeners[0].name);
		return -1;
	}
	const char *pq = c->policyd_postfix_queue;
	if (strcmp(pq, "auto") != 0 && strcmp(pq, "yes") != 0 && strcmp(pq, "no") != 0) {
		str_format_trunc(err, errlen,
		                 "%s: [policyd] postfix_queue: expected auto, yes or no",
		                 c->source);
		return -1;
	}
	c->postfix_queue = strcmp(pq, "yes") == 0 || (strcmp(pq, "auto") == 0 && c->listeners_off);
	return 0;
}

int gwconf_pfhold(const struct gw_config *c, struct pfhold_conf *pc)
{
	memset(pc, 0, sizeof *pc);
	pc->timeout_ms = (int)c->policyd_postfix_timeout_ms;
	if (str_copy(pc->postqueue, sizeof pc->postqueue, c->policyd_postqueue) != 0 ||
	    str_copy(pc->postsuper, sizeof pc->postsuper, c->policyd_postsuper) != 0 ||
	    str_copy(pc->config_dir, sizeof pc->config_dir, c->policyd_postfix_config_dir) != 0 ||
	    str_format(pc->store_path, sizeof pc->store_path, "%s/postfix-holds.json",
	               c->state_dir) != 0 ||
	    str_format(pc->audit_path, sizeof pc->audit_path, "%s/audit.log", c->spool_dir) != 0)
		return -1;
	return 0;
}

void gwconf_policy_only(struct gw_config *c)
{
	c->nlisteners = 0;
	c->listeners_off = true;
	if (strcmp(c->policyd_postfix_queue, "auto") == 0)
		c->postfix_queue = true;
}

/* The embedded defaults: CLI.md's "serve" section. */
static const char gw_defaults[] = "[listener submission]\n"
				  "listen = 127.0.0.1:2587\n"
				  "role = submission\n"
				  "[listener submissions]\n"
				  "listen = 127.0.0.1:2465\n"
				  "role = submission\n"
				  "tls = implicit\n"
				  "[listener relay]\n"
				  "listen = 127.0.0.1:2525\n"
				  "role = relay\n"
				  "tls = starttls\n";

/* [follow] files: absolute paths, at most FOLLOW_FILES_MAX; [firewall] ban_set
 * and ban_set6: FAMILY TABLE SET (gateway/follow.h, gateway/nftban.h). */
static int gw_firewall_finish(const struct gw_config *c, char *err, size_t errlen)
{
	char e[200], list[sizeof c->follow_files];
	char *paths[FOLLOW_FILES_MAX];
	if (str_copy(list, sizeof list, c->follow_files) != 0)
		panic("gw_firewall_finish: list does not fit");
	int n = str_split(list, ", \t", paths, FOLLOW_FILES_MAX);
	if (n < 0) {
		str_format_trunc(err, errlen, "%s: [follow] files: more than %d files", c->source,
		                 FOLLOW_FILES_MAX);
		return -1;
	}
	for (int i = 0; i < n; i++)
		if (paths[i][0] != '/') {
			str_format_trunc(err, errlen,
			                 "%s: [follow] files: %s is not an absolute path",
			                 c->source, paths[i]);
			return -1;
		}
	if (c->fw_ban_set[0] && nftban_check_set(c->fw_ban_set, e, sizeof e) != 0) {
		str_format_trunc(err, errlen, "%s: [firewall] ban_set: %s", c->source, e);
		return -1;
	}
	if (c->fw_ban_set6[0] && nftban_check_set(c->fw_ban_set6, e, sizeof e) != 0) {
		str_format_trunc(err, errlen, "%s: [firewall] ban_set6: %s", c->source, e);
		return -1;
	}
	return 0;
}

static int gw_finish(struct gw_config *c, char *err, size_t errlen)
{
	/* The spool and the users file live under state_dir unless placed
	 * elsewhere: one directory per gateway; installed, in the FHS places. */
	if (!c->spool_dir[0] && c->installed && strcmp(c->state_dir, RG_DEFAULT_STATE_DIR) == 0)
		if (str_copy(c->spool_dir, sizeof c->spool_dir, RG_DEFAULT_SPOOL_DIR) != 0)
			panic("gw_finish: c->spool_dir does not fit");
	if ((!c->spool_dir[0] &&
	     str_format(c->spool_dir, sizeof c->spool_dir, "%s/spool", c->state_dir) != 0) ||
	    (!c->users_file[0] &&
	     str_format(c->users_file, sizeof c->users_file, "%s/users", c->state_dir) != 0)) {
		str_format_trunc(err, errlen, "%s: [gateway] state_dir: too long", c->source);
		return -1;
	}
	if (!c->log_dest[0])
		if (str_copy(c->log_dest, sizeof c->log_dest, c->syslog ? "syslog" : "stderr") != 0)
			panic("gw_finish: c->log_dest does not fit");
	if (strcmp(c->log_dest, "stderr") != 0 && strcmp(c->log_dest, "syslog") != 0) {
		str_format_trunc(err, errlen, "%s: [gateway] log: expected stderr or syslog",
		                 c->source);
		return -1;
	}
	if (c->syslog && strcmp(c->log_dest, "syslog") != 0) {
		str_format_trunc(
		    err, errlen,
		    "%s: [gateway] syslog = yes and log = %s disagree: lines go to one place; "
		    "keep log only",
		    c->source, c->log_dest);
		return -1;
	}
	c->syslog = strcmp(c->log_dest, "syslog") == 0;
	if (!c->user[0]) {
		str_format_trunc(err, errlen, "%s: [gateway] user: empty (root keeps root)",
		                 c->source);
		return -1;
	}
	if (!c->hostname[0] && gethostname(c->hostname, sizeof c->hostname - 1) != 0)
		if (str_copy(c->hostname, sizeof c->hostname, "localhost") != 0)
			panic("gw_finish: c->hostname does not fit");
	if (!c->alert_mail_from[0] &&
	    str_format(c->alert_mail_from, sizeof c->alert_mail_from, "postmaster@%s", c->hostname) !=
	        0) {
		str_format_trunc(err, errlen,
		                 "%s: [gateway] hostname too long for [alert] mail_from",
		                 c->source);
		return -1;
	}
	char me[200];
	if (gw_alert_addr_check(c->alert_mail_from, me, sizeof me) != 0) {
		str_format_trunc(err, errlen, "%s: [alert] mail_from: %s", c->source, me);
		return -1;
	}
	if (c->delivery.tlsrpt_send && !c->delivery.tlsrpt_from[0]) {
		str_format_trunc(
		    err, errlen,
		    "%s: [delivery] tlsrpt_send = yes needs tlsrpt_from (the reports' sender)",
		    c->source);
		return -1;
	}
	if (c->delivery.tlsrpt_from[0] &&
	    gw_alert_addr_check(c->delivery.tlsrpt_from, me, sizeof me) != 0) {
		str_format_trunc(err, errlen, "%s: [delivery] tlsrpt_from: %s", c->source, me);
		return -1;
	}
	if (gw_dkim_keys(c, NULL, err, errlen) != 0)
		return -1;
	c->trusted = prefix_set_new();
	if (!c->trusted) {
		str_format_trunc(err, errlen, "out of memory");
		return -1;
	}
	char e[200];
	if (prefix_set_add_list(c->trusted, c->trusted_networks, e, sizeof e) != 0) {
		str_format_trunc(err, errlen, "%s: [gateway] trusted_networks: %s", c->source, e);
		return -1;
	}
	if (c->identify_sender[0]) {
		c->sender_networks = prefix_set_new();
		if (!c->sender_networks ||
		    prefix_set_add_list(c->sender_networks, c->identify_sender, e, sizeof e) != 0) {
			str_format_trunc(err, errlen, "%s: [gateway] identify_sender: %s",
			                 c->source, c->sender_networks ? e : "out of memory");
			return -1;
		}
	}
	if (c->policyd_listen[0] &&
	    hostport_parse(c->policyd_listen, 0, &c->policyd_addr, e, sizeof e) != 0) {
		str_format_trunc(err, errlen, "%s: [policyd] listen: %s", c->source, e);
		return -1;
	}
	if (gw_policyd_finish(c, err, errlen) != 0)
		return -1;
	if (c->web_trusted_proxy[0]) {
		c->web_proxies = prefix_set_new();
		if (!c->web_proxies ||
		    prefix_set_add_list(c->web_proxies, c->web_trusted_proxy, e, sizeof e) != 0) {
			str_format_trunc(err, errlen, "%s: [web] trusted_proxy: %s", c->source,
			                 c->web_proxies ? e : "out of memory");
			return -1;
		}
	}
	if (strcmp(c->policyd_count_at, "instance") != 0 &&
	    strcmp(c->policyd_count_at, "end-of-message") != 0 &&
	    strcmp(c->policyd_count_at, "rcpt") != 0) {
		str_format_trunc(
		    err, errlen,
		    "%s: [policyd] count_at: expected instance, end-of-message or rcpt", c->source);
		return -1;
	}
	if (strcmp(c->policyd_identify, "client") != 0 &&
	    strcmp(c->policyd_identify, "sender") != 0) {
		str_format_trunc(err, errlen, "%s: [policyd] identify: expected client or sender",
		                 c->source);
		return -1;
	}
	if (strcmp(c->state_store, "lmdb") != 0 && strcmp(c->state_store, "redis") != 0) {
		str_format_trunc(err, errlen, "%s: [gateway] state_store: expected lmdb or redis",
		                 c->source);
		return -1;
	}
	if (hostport_parse(c->redis, 6379, &c->redis_addr, e, sizeof e) != 0 ||
	    c->redis_addr.wildcard) {
		str_format_trunc(err, errlen, "%s: [gateway] redis: %s", c->source,
		                 c->redis_addr.wildcard ? "a wildcard is no address to connect to"
		                                        : e);
		return -1;
	}
	if (c->scan_rspamd[0] &&
	    (hostport_parse(c->scan_rspamd, 11333, &c->scan_addr, e, sizeof e) != 0 ||
	     c->scan_addr.wildcard || c->scan_addr.ss.ss_family == AF_UNIX)) {
		str_format_trunc(err, errlen, "%s: [scan] rspamd: %s", c->source,
		                 c->scan_addr.wildcard || c->scan_addr.ss.ss_family == AF_UNIX
		                     ? "expected HOST:PORT with a literal address"
		                     : e);
		return -1;
	}
	if (c->web_listen[0] && hostport_parse(c->web_listen, 0, &c->web_addr, e, sizeof e) != 0) {
		str_format_trunc(err, errlen, "%s: [web] listen: %s", c->source, e);
		return -1;
	}
	if ((c->web_tls_cert[0] != 0) != (c->web_tls_key[0] != 0)) {
		str_format_trunc(err, errlen, "%s: [web] tls_cert and tls_key go together",
		                 c->source);
		return -1;
	}
	if (c->web_listen[0] && !c->web_tls_cert[0] && !hostport_is_loopback(&c->web_addr)) {
		str_format_trunc(
		    err, errlen,
		    "%s: [web] listen %s is not a loopback address: set [web] tls_cert and "
		    "tls_key (passwords and session cookies must not cross the network in "
		    "clear)",
		    c->source, c->web_listen);
		return -1;
	}
	if (!c->web_monitor_state[0] &&
	    str_format(c->web_monitor_state, sizeof c->web_monitor_state,
		       "%s/monitor-state.json", c->state_dir) != 0) {
		str_format_trunc(err, errlen, "%s: [gateway] state_dir too long", c->source);
		return -1;
	}
	for (int i = 0; i < c->nlisteners; i++) {
		struct gw_listener *l = &c->listeners[i];
		if (l->naddrs == 0) {
			str_format_trunc(err, errlen, "%s: [listener %s] has no listen address",
			                 c->source, l->name);
			return -1;
		}
	}
	if (gw_delivery_finish(c, err, errlen) != 0)
		return -1;
	if (authbe_config_finish(&c->auth, me, sizeof me) != 0) {
		str_format_trunc(err, errlen, "%s: [auth] %s", c->source, me);
		return -1;
	}
	if ((c->tls_cert[0] != 0) != (c->tls_key[0] != 0)) {
		str_format_trunc(err, errlen, "%s: [gateway] tls_cert and tls_key go together",
		                 c->source);
		return -1;
	}
	if (gw_firewall_finish(c, err, errlen) != 0)
		return -1;
	return 0;
}

const char *gwconf_default_path(void)
{
	const char *env = getenv("RELAYGUARD_CONFIG");
	return env ? env : RG_DEFAULT_CONFIG;
}

const char *gwconf_path(const char *given)
{
	if (given)
		return given;
	const char *def = gwconf_default_path();
	return def[0] && access(def, F_OK) == 0 ? def : NULL;
}

int gwconf_load(struct gw_config *c, const char *path, char *err, size_t errlen)
{
	memset(c, 0, sizeof *c);
	if (cfg_table_defaults(gw_options, GW_NOPTS, c, err, errlen) != 0 ||
	    pol_config_defaults(&c->policy, err, errlen) != 0)
		return -1;
	/* The installed configuration: state and spool where a package puts
	 * them (the file may still name others). */
	const char *def = gwconf_default_path();
	if (path && def[0] && strcmp(path, def) == 0) {
		c->installed = true;
		if (str_copy(c->state_dir, sizeof c->state_dir, RG_DEFAULT_STATE_DIR) != 0)
			panic("gwconf_load: c->state_dir does not fit");
	}
	str_copy_trunc(c->source, sizeof c->source, path ? path : "embedded defaults");
	int rc =
	    path ? cfg_parse_file(path, gw_handler, c, err, errlen)
	         : cfg_parse_string(gw_defaults, "embedded defaults", gw_handler, c, err, errlen);
	/* A file that names no listener gets the default ones, like no file at all;
	 * listeners = none gets none (policy-only mode). */
	if (rc == 0)
		rc = gw_listeners_off(c, err, errlen);
	if (rc == 0 && path && c->nlisteners == 0 && !c->listeners_off)
		rc = cfg_parse_string(gw_defaults, "embedded defaults", gw_handler, c, err, errlen);
	if (rc == 0)
		rc = gw_finish(c, err, errlen);
	if (rc != 0)
		gwconf_free(c);
	return rc;
}

/* Options a running serve keeps until restart although the table lets a
 * reload read them: their sections are copied by the parts that use them
 * (delivery, the web server, the policy service) when those start. */
static bool gw_runtime_reloadable(const struct cfg_option *o)
{
	static const char *const fixed[] = {"delivery", "web", "policyd"};
	if (!o->reloadable)
		return false;
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		if (strcmp(o->section, fixed[i]) == 0)
			return false;
	return true;
}

static size_t gw_option_size(const struct cfg_option *o)
{
	switch (o->type) {
	case CFG_STRING:
		return o->size;
	case CFG_INT:
		return sizeof(long long);
	case CFG_BOOL:
		return sizeof(bool);
	default:
		return sizeof(uint64_t);
	}
}

static void gw_restart_note(char *out, size_t outlen, const char *what)
{
	size_t n = strlen(out);
	if (n + 1 < outlen)
		str_format_trunc(out + n, outlen - n, "%s%s", n ? ", " : "", what);
}

/* path is from_dir + leaf (a default): make it to_dir + leaf. */
static void gw_rebase(char *path, size_t size, const char *from_dir, const char *to_dir,
                      const char *leaf)
{
	char was[600], moved[600];
	if (str_format(was, sizeof was, "%s%s", from_dir, leaf) != 0 || strcmp(path, was) != 0)
		return;
	/* a move too long for the field leaves the path as it was, never cut */
	if (str_format(moved, sizeof moved, "%s%s", to_dir, leaf) != 0 || strlen(moved) >= size)
		return;
	if (str_copy(path, size, moved) != 0)
		panic("gw_rebase: the length was checked");
}

static bool gw_alerts_on(const struct gw_config *c)
{
	return c->nalert_execs || c->nalert_webhooks || c->nalert_mail_to;
}

void gwconf_reload_merge(const struct gw_config *live, struct gw_config *fresh, char *restart,
                         size_t restartlen)
{
	restart[0] = '\0';
	/* What defaults to a place under state_dir follows the state_dir that
	 * stays (a new one is named below): the users file must not move to a
	 * directory the running server does not use. */
	if (strcmp(live->state_dir, fresh->state_dir) != 0) {
		gw_rebase(fresh->spool_dir, sizeof fresh->spool_dir, fresh->state_dir,
		          live->state_dir, "/spool");
		gw_rebase(fresh->users_file, sizeof fresh->users_file, fresh->state_dir,
		          live->state_dir, "/users");
		gw_rebase(fresh->web_monitor_state, sizeof fresh->web_monitor_state,
		          fresh->state_dir, live->state_dir, "/monitor-state.json");
	}
	char name[96];
	for (size_t i = 0; i < GW_NOPTS; i++) {
		const struct cfg_option *o = &gw_options[i];
		if (gw_runtime_reloadable(o))
			continue;
		const char *a = (const char *)live + o->offset;
		char *b = (char *)fresh + o->offset;
		size_t n = gw_option_size(o);
		bool same = o->type == CFG_STRING ? strcmp(a, b) == 0 : memcmp(a, b, n) == 0;
		if (!same) {
			str_format_trunc(name, sizeof name, "[%s] %s", o->section, o->name);
			gw_restart_note(restart, restartlen, name);
			memcpy(b, a, n);
		}
	}
	if (live->nlisteners != fresh->nlisteners ||
	    memcmp(live->listeners, fresh->listeners, sizeof live->listeners) != 0) {
		gw_restart_note(restart, restartlen, "[listener ...] (addresses, roles, tls)");
		fresh->nlisteners = live->nlisteners;
		memcpy(fresh->listeners, live->listeners, sizeof fresh->listeners);
	}
	if (live->delivery.ntls != fresh->delivery.ntls ||
	    memcmp(live->delivery.tls_policy, fresh->delivery.tls_policy,
	           sizeof live->delivery.tls_policy) != 0)
		gw_restart_note(restart, restartlen, "[delivery_tls]");
	fresh->delivery = live->delivery; /* with what its options parse into */
	if (gw_alerts_on(live) != gw_alerts_on(fresh)) {
		gw_restart_note(restart, restartlen, "[alert] exec, webhook, mail_to (on or off)");
		fresh->nalert_execs = live->nalert_execs;
		fresh->nalert_webhooks = live->nalert_webhooks;
		fresh->nalert_mail_to = live->nalert_mail_to;
		memcpy(fresh->alert_execs, live->alert_execs, sizeof fresh->alert_execs);
		memcpy(fresh->alert_webhooks, live->alert_webhooks, sizeof fresh->alert_webhooks);
		memcpy(fresh->alert_mail_to, live->alert_mail_to, sizeof fresh->alert_mail_to);
	}
	fresh->policyd_addr = live->policyd_addr;
	fresh->web_addr = live->web_addr;
	fresh->redis_addr = live->redis_addr;
	fresh->user_set = live->user_set;
}

void gwconf_free(struct gw_config *c)
{
	prefix_set_free(c->trusted);
	c->trusted = NULL;
	prefix_set_free(c->sender_networks);
	c->sender_networks = NULL;
	prefix_set_free(c->policyd_allowed);
	c->policyd_allowed = NULL;
	prefix_set_free(c->web_proxies);
	c->web_proxies = NULL;
}
