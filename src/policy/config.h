/*
 * config - the policy engine's settings, from one declarative table
 * (core/cfg.h rows: section, name, type, default, bounds, help).
 *
 * Sections of the INI file:
 *   [limits]            rate limits applied to every identity by default
 *   [domain NAME]       limits for every user of that domain (any subset)
 *   [user NAME]         limits for one user (any subset)
 *   [identity] [signals] [actions] [auth]   engine-wide settings
 *   [inbound] [autoreply] [notify] [forward]  inbound memory and the outbound
 *                       rules that read it (docs/policy.md "Inbound memory")
 * A user's limit is the [user] value, else its [domain] value, else [limits].
 * docs/policy.md lists every option with its default.
 */
#ifndef RG_POLICY_CONFIG_H
#define RG_POLICY_CONFIG_H

#include "core/log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pol_limit_id {
	POL_LIM_MSG_MINUTE = 0,
	POL_LIM_MSG_HOUR,
	POL_LIM_MSG_DAY,
	POL_LIM_RCPT_HOUR,
	POL_LIM_RCPT_DAY,
	POL_LIM_BYTES_HOUR,
	POL_LIM_UNIQ_RCPT_HOUR,
	POL_LIM_UNIQ_DOMAIN_HOUR,
	POL_LIM_NULL_HOUR, /* null-sender or auto-submitted messages */
	POL_LIM_N
};

struct pol_limits {
	long long max[POL_LIM_N]; /* 0 = no limit */
	bool strict;              /* Exim strict (count attempts) instead of leaky */
	uint32_t set;             /* bit per field given in this section (bit POL_LIM_N: strict) */
};

#define POL_NAME_MAX 128
#define POL_OVERRIDES_MAX 256

struct pol_named_limits {
	char name[POL_NAME_MAX];
	struct pol_limits lim;
};

struct pol_config {
	struct pol_limits limits;
	/* [identity] */
	long long ipv6_prefix;
	long long relay_limit_factor; /* a trusted relay's limits: [limits] times this */
	long long relay_foreign_hour; /* its senders outside the local domains per hour */
	/* [signals] */
	long long volume_weight, volume_factor, volume_floor_hour;
	uint64_t baseline_ms; /* time constant of the daily-volume baseline */
	long long active_weight, active_hours;
	long long rejected_weight, rejected_pct, rejected_min;
	uint64_t rejected_tau_ms;
	long long ips_weight, ips_max, nets_weight, nets_max;
	long long guessed_weight, guessed_failures;
	uint64_t guessed_ms;
	long long role_weight;
	char role_names[512];
	long long senders_weight, senders_max;
	long long fingerprint_weight, fingerprint_rcpts;
	long long spam_weight, spam_score, spam_max; /* content scan (rspamd) */
	/* [actions] */
	long long score_warn, score_hold, score_block;
	uint64_t block_base_ms, block_max_ms;
	long long auto_blocks_max;
	/* [auth] */
	long long ip_failures;
	uint64_t ip_period_ms, ip_lockout_ms;
	long long account_failures;
	uint64_t account_period_ms, known_ip_ms;
	uint64_t delay_base_ms, delay_max_ms;
	/* [inbound] */
	uint64_t memory_ms; /* how long an accepted inbound message is remembered */
	/* [autoreply] */
	bool autoreply_enabled;
	uint64_t autoreply_period_ms; /* one reply per account and recipient per period */
	long long autoreply_hour_max; /* replies per account per hour, 0 = no cap */
	char noreply_names[512];      /* local parts never answered */
	char list_names[512];         /* list-robot local parts (a * at either end) */
	/* [notify] */
	bool notify_enabled;
	bool notify_vouch_none; /* SPF none from a clean client vouches too */
	/* [forward] */
	bool forward_enabled;
	long long forward_score; /* DNSBL score of the inbound copy that holds a forward */
	/* overrides */
	size_t n_domains, n_users;
	struct pol_named_limits domains[POL_OVERRIDES_MAX];
	struct pol_named_limits users[POL_OVERRIDES_MAX];
};

/* Every option at its default. 0, or -1 (a bug in the table). */
int pol_config_defaults(struct pol_config *c, char *err, size_t errlen);
/* One name = value in a section. 0, or -1 with err saying why. */
int pol_config_set(struct pol_config *c, const char *section, const char *name, const char *value,
                   char *err, size_t errlen);
/* Defaults, then the INI text or file. 0, or -1 with "name:line: what". */
int pol_config_load_string(struct pol_config *c, const char *text, const char *name, char *err,
                           size_t errlen);
int pol_config_load_file(struct pol_config *c, const char *path, char *err, size_t errlen);
/* The limits that apply to a user ("" for an identity without one). */
void pol_config_limits_for(const struct pol_config *c, const char *user, struct pol_limits *out);
const char *pol_config_limit_name(enum pol_limit_id id);
/* The window of each limit (inline: the engine asks for every limit of every
 * message). */
extern const int64_t pol_config_limit_periods[POL_LIM_N];
static inline int64_t pol_config_limit_period_ms(enum pol_limit_id id)
{
	if ((unsigned)id >= POL_LIM_N)
		panic("policy: limit %d", (int)id);
	return pol_config_limit_periods[id];
}

#endif
