/*
 * gwconf - the configuration of `relayguard serve`: one INI file, every
 * option in one table (gwconf.c), embedded defaults (../shared/CLI.md):
 * submission on 127.0.0.1:2587 (with implicit TLS on 127.0.0.1:2465), relay
 * for loopback on 127.0.0.1:2525, the Postfix policy service on
 * 127.0.0.1:10040, the web page on 127.0.0.1:8025, state and spool under
 * ./var/.
 *
 * Sections: [gateway], [listener NAME] (repeatable), [policyd], [web], [alert], and
 * the policy engine's own sections ([limits], [domain NAME], [user NAME],
 * [identity], [signals], [actions], [auth]; docs/policy.md), which are handed
 * to its loader. A file with any error changes nothing: the caller loads into
 * a fresh struct and keeps the old one on failure.
 */
#ifndef RG_GATEWAY_GWCONF_H
#define RG_GATEWAY_GWCONF_H

#include "auth/authbe.h"
#include "core/addr.h"
#include "core/hostport.h"
#include "policy/config.h"

#include <stdbool.h>
#include <stdint.h>

#define GW_LISTENERS_MAX 8
#define GW_ALERTS_MAX 4
#define GW_DKIM_MAX 32 /* [dkim] signing domains */
#define GW_ADDRS_MAX 4

enum gw_role { GW_ROLE_SUBMISSION, GW_ROLE_RELAY, GW_ROLE_INBOUND };
enum gw_tls { GW_TLS_NONE, GW_TLS_STARTTLS, GW_TLS_IMPLICIT };

/* Whose mail a session without AUTH is counted as (docs/deploy-smarthost.md):
 * the client IP, or, from a trusted network, the envelope sender of a local
 * domain with the client's IP as the trusted relay above it. */
enum gw_identify { GW_IDENTIFY_CLIENT, GW_IDENTIFY_SENDER };

struct gw_listener {
	char name[32];
	char source_address[64]; /* delivery binds to it for mail received here; "" = default */
	enum gw_role role;
	enum gw_tls tls;
	bool require_tls_for_auth;
	enum gw_identify identify;
	/* a header the internal server writes with the authenticated user (with
	 * identify = sender): believed from trusted clients here, then removed */
	char identify_header[64];
	int naddrs;
	struct hostport addrs[GW_ADDRS_MAX];
};

/* Outgoing TLS: none, may (opportunistic), encrypt (no delivery without
 * it), verify (encrypt and check the certificate against the host name). */
enum gw_dtls { GW_DTLS_NONE, GW_DTLS_MAY, GW_DTLS_ENCRYPT, GW_DTLS_VERIFY };
#define GW_TLS_POLICY_MAX 64
#define GW_SOURCE_MAP_MAX 32

/* A next hop as an admin writes it: "[host]:port" (no MX lookup), "host:port"
 * or "host" (MX lookup), "[192.0.2.1]:25" (an address). */
struct gw_nexthop {
	bool set;
	bool no_mx;
	bool literal;
	struct addr addr; /* literal */
	char host[256];
	unsigned port;
	char text[300];
};

struct gw_delivery {
	char relayhost[300];
	char relayhost_auth[512]; /* "user:password" */
	char relayhost_tls[16];
	char tls[16];
	char tls_ca_file[512];
	char local_relay[300];
	long long smtp_port;
	char source_address[64];
	char source_by_sender_domain[2048];
	char resolver[256];
	char address_family[16];
	long long concurrency;
	long long max_connections;
	long long max_active;
	uint64_t connect_timeout_ms;
	uint64_t command_timeout_ms;
	uint64_t idle_timeout_ms;
	uint64_t dead_time_ms;
	uint64_t poll_ms;
	uint64_t min_backoff_ms;
	uint64_t max_backoff_ms;
	uint64_t lifetime_ms;
	bool mta_sts; /* RFC 8461 for MX delivery (gateway/sts.h) */
	char mta_sts_ca_file[512];
	long long mta_sts_port;
	uint64_t mta_sts_timeout_ms;
	bool tlsrpt_send;      /* mail each day's TLS-RPT report to the domain's rua */
	char tlsrpt_from[320]; /* the reports' sender; needed with tlsrpt_send */
	/* parsed */
	struct gw_nexthop relay;
	struct gw_nexthop local;
	enum gw_dtls relayhost_tls_level;
	enum gw_dtls tls_level;
	int ntls;
	struct {
		char domain[256];
		enum gw_dtls level;
	} tls_policy[GW_TLS_POLICY_MAX]; /* [delivery_tls] domain = level */
	int nsource;
	struct {
		char domain[256];
		char addr[64];
	} source_map[GW_SOURCE_MAP_MAX];
};

struct gw_config {
	/* [gateway] */
	char hostname[256];
	char state_dir[512]; /* policy state (LMDB), users file, monitor state */
	char spool_dir[512];
	char users_file[512];
	char log_level[16];
	bool syslog;       /* log == "syslog" once loaded */
	char log_dest[16]; /* "stderr" or "syslog" */
	char user[64];     /* serve drops from root to this user */
	bool user_set;     /* user named in the file (else the default) */
	bool installed;    /* read from the default file (gwconf_default_path) */
	bool reverse_dns;  /* the client's verified name in our Received header */
	char local_domains[2048];
	char trusted_networks[2048];
	char identify_sender[2048]; /* trusted networks identified by sender on every listener */
	char tls_cert[512];
	char tls_key[512];
	uint64_t max_message_size;
	long long max_recipients;
	long long max_connections;
	long long max_connections_per_client;
	uint64_t smtp_timeout_ms;
	long long line_length_limit;
	long long soft_error_limit, hard_error_limit, junk_command_limit;
	uint64_t error_sleep_ms;
	long long auth_failure_limit;
	long long auth_workers; /* password-checking threads (gateway/authpool.h) */
	bool queue_fsync;
	char state_store[16];    /* "lmdb" or "redis" (gwstore.h) */
	uint64_t state_map_size; /* LMDB map size in bytes */
	char redis[128];         /* HOST:PORT or unix:/path */
	char redis_prefix[64];   /* of every key */
	uint64_t redis_timeout_ms;
	/* [listener NAME] */
	int nlisteners;
	struct gw_listener listeners[GW_LISTENERS_MAX];
	/* [policyd] */
	char policyd_listen[128];  /* "" = off */
	char policyd_count_at[16]; /* "instance", "end-of-message" or "rcpt" */
	char policyd_identify[16]; /* "client" or "sender" (every trusted client, relayid.h) */
	long long policyd_max_connections;
	/* who may connect (issue 16): CIDRs, "" = loopback only; a unix socket's
	 * owner, group and mode ("" = as created) */
	char policyd_allow[1024];
	char policyd_socket_owner[64];
	char policyd_socket_group[64];
	char policyd_socket_mode[8];
	char web_trusted_proxy[512]; /* [web] trusted_proxy: CIDRs, "" = none */
	/* policy-only mode (docs/deploy-postfix.md): [gateway] listeners = none opens
	 * no SMTP listener; [policyd] postfix_queue: held mail is Postfix's (admin/pfhold.h) */
	char listeners_opt[16];        /* "" (the configured or default ones) or "none" */
	bool listeners_off;            /* parsed: no SMTP listener at all */
	char policyd_postfix_queue[8]; /* auto (yes with listeners = none), yes, no */
	bool postfix_queue;            /* parsed */
	char policyd_postqueue[512], policyd_postsuper[512], policyd_postfix_config_dir[512];
	uint64_t policyd_postfix_timeout_ms;
	/* [web] */
	char web_listen[128];                     /* "" = off */
	char web_tls_cert[512], web_tls_key[512]; /* "" = plain HTTP, loopback only */
	char web_api_token[256];
	char web_api_token_file[512];
	char web_monitor_state[600];
	uint64_t web_session_idle_ms, web_session_max_ms;
	/* [screen]: the inbound listener's checks (docs/inbound.md) */
	char screen_dnsbl_sites[1024]; /* "" = no DNSBL scoring */
	long long screen_dnsbl_threshold;
	char screen_dnsbl_allowlist[16]; /* "" = off, else the allow-list threshold */
	char screen_resolver[128];       /* "" = /etc/resolv.conf */
	char screen_catalogue[512];      /* catalogue file; "" = the built-in data/dnsbl.conf */
	bool screen_spf;
	char screen_recipients[512]; /* file of local users; "" = no recipient check */
	char screen_callout[128];    /* internal server HOST:PORT for RCPT callouts; "" = off */
	uint64_t screen_callout_positive_ttl_ms;
	uint64_t screen_callout_negative_ttl_ms;
	uint64_t screen_callout_timeout_ms;
	/* [scan]: outbound content scanning with rspamd (gateway/scan.h) */
	char scan_rspamd[128]; /* "" = off */
	uint64_t scan_timeout_ms;
	uint64_t scan_max_size;
	struct hostport scan_addr; /* parsed */
	/* [delivery], [delivery_tls] */
	struct gw_delivery delivery;
	/* [alert]: alerts on blocks the engine creates (gwalert.h) */
	int nalert_execs, nalert_webhooks;
	char alert_execs[GW_ALERTS_MAX][512];
	char alert_webhooks[GW_ALERTS_MAX][512];
	uint64_t alert_exec_timeout_ms;
	uint64_t alert_webhook_timeout_ms;
	long long alert_webhook_retries;
	char alert_webhook_ca[512];
	uint64_t alert_digest_ms;
	/* [alert] mail_to (repeatable, or a comma list): the alert as a message
	 * through the gateway's own queue, from mail_from ("": postmaster@hostname) */
	int nalert_mail_to;
	char alert_mail_to[GW_ALERTS_MAX][320];
	char alert_mail_from[320];
	/* [dkim] DOMAIN = selector, keyfile: outbound mail whose From header is
	 * in DOMAIN is signed with that key (docs/delivery.md) */
	int ndkim;
	struct {
		char domain[256];
		char selector[64];
		char keyfile[512];
	} dkim[GW_DKIM_MAX];
	/* [auth] backends and their options (auth/authbe.h; the rest of [auth]
	 * is the policy engine's) */
	struct authbe_config auth;
	/* parsed */
	struct hostport policyd_addr;
	struct hostport web_addr;
	struct hostport redis_addr;
	struct prefix_set *trusted;         /* owned */
	struct prefix_set *sender_networks; /* owned: [gateway] identify_sender, NULL: none */
	struct prefix_set *policyd_allowed; /* owned: [policyd] allow, or loopback */
	long policyd_uid, policyd_gid;      /* -1: unchanged */
	int policyd_mode;                   /* -1: unchanged */
	struct prefix_set *web_proxies;     /* owned: [web] trusted_proxy, NULL: none */
	struct pol_config policy;
	char source[512]; /* the file, or "embedded defaults" */
	/* [follow]: live log follow (gateway/follow.h) */
	char follow_files[4096]; /* "" = off */
	uint64_t follow_poll_ms;
	long long follow_max_line;
	/* [firewall]: the ban set (gateway/nftban.h) */
	char fw_ban_set[200], fw_ban_set6[200]; /* "FAMILY TABLE SET", "" = none */
	uint64_t fw_ban_timeout_ms;
	char fw_nft[256];
};

/* Loads path (NULL: the embedded defaults). 0, or -1 with "file:line: what" in err. */
int gwconf_load(struct gw_config *c, const char *path, char *err, size_t errlen);
/* `relayguard policyd`: a loaded configuration without SMTP listeners, as with
 * [gateway] listeners = none. */
void gwconf_policy_only(struct gw_config *c);
/* The Postfix hold queue's settings of c ([policyd] postqueue, postsuper,
 * postfix_config_dir, postfix_timeout; the records in state_dir, the audit in
 * the spool's audit.log). 0, or -1 when a name is too long. */
struct pfhold_conf;
int gwconf_pfhold(const struct gw_config *c, struct pfhold_conf *pc);
/* Where an installed relayguard looks for its configuration (the Makefile
 * may set them; docs/daemon.md). */
#ifndef RG_DEFAULT_CONFIG
#define RG_DEFAULT_CONFIG "/etc/relayguard/relayguard.conf"
#endif
#ifndef RG_DEFAULT_STATE_DIR
#define RG_DEFAULT_STATE_DIR "/var/lib/relayguard"
#endif
#ifndef RG_DEFAULT_SPOOL_DIR
#define RG_DEFAULT_SPOOL_DIR "/var/spool/relayguard"
#endif
/* The default configuration file: $RELAYGUARD_CONFIG when set (empty: none,
 * the embedded defaults), else RG_DEFAULT_CONFIG. Read from it, state_dir
 * defaults to RG_DEFAULT_STATE_DIR instead of ./var, and spool_dir, when
 * state_dir is that default, to RG_DEFAULT_SPOOL_DIR (else state_dir/spool
 * as always). */
const char *gwconf_default_path(void);
/* What a command reads: given (its --config) when not NULL, else the default
 * file when it exists, else NULL (the embedded defaults, state in ./var). */
const char *gwconf_path(const char *given);
/* For a reload: every option the running serve cannot change without a
 * restart (the table's non-reloadable ones, the listeners, and the sections
 * copied by delivery, the web server and the policy service at start) gets
 * live's value in fresh, and each that differed is named in restart
 * ("[gateway] state_dir, [listener ...]"; "" when none).
 * fresh can then replace live as a whole. */
void gwconf_reload_merge(const struct gw_config *live, struct gw_config *fresh, char *restart,
                         size_t restartlen);
void gwconf_free(struct gw_config *c);
const char *gw_role_name(enum gw_role r);
const char *gw_tls_name(enum gw_tls t);
const char *gw_dtls_name(enum gw_dtls t);
/* Parses a next hop (see struct gw_nexthop). 0, or -1 with err. */
int gw_nexthop_parse(const char *s, unsigned default_port, struct gw_nexthop *out, char *err,
                     size_t errlen);
/* The outgoing TLS level for a recipient domain ([delivery_tls], else tls). */
enum gw_dtls gw_delivery_tls(const struct gw_delivery *d, const char *domain);
struct dkim_keyring;
/* Loads every [dkim] key into ring (NULL: only checks they load). 0, or -1 with err. */
int gw_dkim_keys(const struct gw_config *c, struct dkim_keyring *ring, char *err, size_t errlen);

#endif
