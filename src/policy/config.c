/*
 * config - the policy option table and the per-domain / per-user overrides.
 */
#include "policy/config.h"

#include "core/cfg.h"
#include "core/log.h"
#include "core/mailaddr.h"
#include "core/str.h"
#include "policy/canon.h"

#include <stddef.h>
#include <string.h>

#define POL_OPT(sec, nm, ty, def, lo, hi, field, help)                                             \
	{                                                                                          \
		sec, nm, ty, def, lo, hi, true, offsetof(struct pol_config, field),                \
		    sizeof(((struct pol_config *)0)->field), help                                  \
	}
#define POL_LIM(nm, ty, def, idx, help)                                                            \
	{                                                                                          \
		"limits", nm, ty, def, 0, 1000000000000LL, true,                                   \
		    offsetof(struct pol_limits, max[idx]), sizeof(long long), help                 \
	}

#define DAY_MS 86400000LL

static const char *const pol_limit_names[POL_LIM_N] = {
    "msg_minute", "msg_hour",       "msg_day",          "rcpt_hour", "rcpt_day",
    "bytes_hour", "uniq_rcpt_hour", "uniq_domain_hour", "null_hour",
};
const int64_t pol_config_limit_periods[POL_LIM_N] = {
    60000, 3600000, DAY_MS, 3600000, DAY_MS, 3600000, 3600000, 3600000, 3600000,
};

/* The limit rows, applied to struct pol_limits (defaults, domains, users). */
static const struct cfg_option pol_limit_table[] = {
    POL_LIM("msg_minute", CFG_INT, "60", POL_LIM_MSG_MINUTE, "messages per minute"),
    POL_LIM("msg_hour", CFG_INT, "600", POL_LIM_MSG_HOUR, "messages per hour"),
    POL_LIM("msg_day", CFG_INT, "5000", POL_LIM_MSG_DAY, "messages per day"),
    POL_LIM("rcpt_hour", CFG_INT, "1500", POL_LIM_RCPT_HOUR, "recipients per hour"),
    POL_LIM("rcpt_day", CFG_INT, "10000", POL_LIM_RCPT_DAY, "recipients per day"),
    POL_LIM("bytes_hour", CFG_INT, "524288000", POL_LIM_BYTES_HOUR, "bytes per hour"),
    POL_LIM("uniq_rcpt_hour", CFG_INT, "1000", POL_LIM_UNIQ_RCPT_HOUR,
            "distinct recipients per hour"),
    POL_LIM("uniq_domain_hour", CFG_INT, "300", POL_LIM_UNIQ_DOMAIN_HOUR,
            "distinct recipient domains per hour"),
    POL_LIM("null_hour", CFG_INT, "30", POL_LIM_NULL_HOUR,
            "null-sender or auto-submitted messages per hour (backscatter, auto-replies)"),
    {"limits", "strict", CFG_BOOL, "no", 0, 0, true, offsetof(struct pol_limits, strict),
     sizeof(bool), "count attempts (Exim strict) rather than what got through (leaky)"},
};
#define POL_LIMIT_ROWS (sizeof pol_limit_table / sizeof pol_limit_table[0])

static const struct cfg_option pol_table[] = {
    POL_OPT("identity", "ipv6_prefix", CFG_INT, "64", 32, 128, ipv6_prefix,
            "IPv6 clients are one identity per prefix of this length"),
    POL_OPT("identity", "relay_limit_factor", CFG_INT, "20", 1, 1000000, relay_limit_factor,
            "a trusted relay identified by sender: its ip: identity's limits are [limits] "
            "times this (the sum over its senders); it is never blocked automatically"),
    POL_OPT("identity", "relay_foreign_hour", CFG_INT, "20", 0, 1000000000, relay_foreign_hour,
            "messages per hour from senders outside the local domains that a trusted relay "
            "may pass before they are held (0: none held)"),
    POL_OPT("signals", "volume_weight", CFG_INT, "30", 0, 1000, volume_weight,
            "weight of volume against the account's baseline"),
    POL_OPT("signals", "volume_factor", CFG_INT, "4", 1, 1000, volume_factor,
            "hourly rate this many times the baseline hour fires"),
    POL_OPT("signals", "volume_floor_hour", CFG_INT, "50", 1, 1000000, volume_floor_hour,
            "baseline hour never taken below this"),
    POL_OPT("signals", "baseline_time", CFG_DURATION, "7d", 86400000, 365 * DAY_MS, baseline_ms,
            "time constant of the daily-volume baseline"),
    POL_OPT("signals", "active_weight", CFG_INT, "30", 0, 1000, active_weight,
            "weight of sending around the clock"),
    POL_OPT("signals", "active_hours", CFG_INT, "20", 1, 24, active_hours,
            "hours with mail in the last 24 that fire"),
    POL_OPT("signals", "rejected_weight", CFG_INT, "40", 0, 1000, rejected_weight,
            "weight of rejected or unknown recipients"),
    POL_OPT("signals", "rejected_pct", CFG_INT, "30", 1, 100, rejected_pct,
            "share of recipients rejected that fires"),
    POL_OPT("signals", "rejected_min", CFG_INT, "20", 1, 1000000, rejected_min,
            "recipients needed before the share counts"),
    POL_OPT("signals", "rejected_time", CFG_DURATION, "1h", 60000, DAY_MS, rejected_tau_ms,
            "time constant of the recipient counters"),
    POL_OPT("signals", "ips_weight", CFG_INT, "40", 0, 1000, ips_weight,
            "weight of many client IPs per account per day"),
    POL_OPT("signals", "ips_max", CFG_INT, "10", 1, 1000000, ips_max,
            "distinct client IPs per day that fire"),
    POL_OPT("signals", "nets_weight", CFG_INT, "20", 0, 1000, nets_weight,
            "weight of many networks (/16, IPv6 /32) per account per day"),
    POL_OPT("signals", "nets_max", CFG_INT, "5", 1, 1000000, nets_max,
            "distinct networks per day that fire"),
    POL_OPT("signals", "guessed_weight", CFG_INT, "50", 0, 1000, guessed_weight,
            "weight of a login from a new IP after many failures"),
    POL_OPT("signals", "guessed_failures", CFG_INT, "10", 1, 1000000, guessed_failures,
            "failures before the success that make it suspect"),
    POL_OPT("signals", "guessed_time", CFG_DURATION, "24h", 60000, 30 * DAY_MS, guessed_ms,
            "how long such a login weighs"),
    POL_OPT("signals", "role_weight", CFG_INT, "15", 0, 1000, role_weight,
            "added when another signal fires for a role account"),
    {"signals", "role_names", CFG_STRING,
     "test,root,admin,administrator,abuse,sales,info,postmaster,webmaster,office,support,"
     "contact,mail,user,guest,demo,backup,scanner,noreply",
     0, 0, true, offsetof(struct pol_config, role_names),
     sizeof(((struct pol_config *)0)->role_names), "account names bots guess first"},
    POL_OPT("signals", "senders_weight", CFG_INT, "30", 0, 1000, senders_weight,
            "weight of many envelope senders per account per day"),
    POL_OPT("signals", "senders_max", CFG_INT, "5", 1, 1000000, senders_max,
            "distinct envelope senders per day that fire"),
    POL_OPT("signals", "fingerprint_weight", CFG_INT, "30", 0, 1000, fingerprint_weight,
            "weight of one body to many recipients"),
    POL_OPT("signals", "fingerprint_rcpts", CFG_INT, "100", 1, 100000000, fingerprint_rcpts,
            "recipients of one body per day that fire"),
    POL_OPT("signals", "spam_weight", CFG_INT, "60", 0, 1000, spam_weight,
            "weight of content-scanned spam per hour (twice at twice spam_max)"),
    POL_OPT("signals", "spam_score", CFG_INT, "6", -1000, 100000, spam_score,
            "scan score (rspamd points) from which a message counts as spam"),
    POL_OPT("signals", "spam_max", CFG_INT, "10", 1, 1000000, spam_max,
            "spam messages in one hour that fire"),
    POL_OPT("actions", "score_warn", CFG_INT, "30", 1, 100000, score_warn, "score that warns"),
    POL_OPT("actions", "score_hold", CFG_INT, "60", 1, 100000, score_hold,
            "score that holds mail in the hold queue"),
    POL_OPT("actions", "score_block", CFG_INT, "90", 1, 100000, score_block,
            "score that blocks the identity"),
    POL_OPT("actions", "block_time", CFG_DURATION, "1h", 60000, 365 * DAY_MS, block_base_ms,
            "first automatic block; doubles for each repeat"),
    POL_OPT("actions", "block_time_max", CFG_DURATION, "7d", 60000, 365 * DAY_MS, block_max_ms,
            "longest automatic block"),
    POL_OPT("actions", "auto_blocks_max", CFG_INT, "4", 0, 1000, auto_blocks_max,
            "automatic blocks before the next one waits for a person"),
    POL_OPT("auth", "ip_failures", CFG_INT, "15", 1, 1000000, ip_failures,
            "failed logins per ip_period that lock the IP out"),
    POL_OPT("auth", "ip_period", CFG_DURATION, "2h", 60000, 30 * DAY_MS, ip_period_ms,
            "period of ip_failures"),
    POL_OPT("auth", "ip_lockout", CFG_DURATION, "1h", 60000, 30 * DAY_MS, ip_lockout_ms,
            "first IP lockout; doubles for each repeat"),
    POL_OPT("auth", "account_failures", CFG_INT, "30", 1, 1000000, account_failures,
            "failed logins per account_period that lock the account for unknown IPs"),
    POL_OPT("auth", "account_period", CFG_DURATION, "1h", 60000, 30 * DAY_MS, account_period_ms,
            "period of account_failures"),
    POL_OPT("auth", "known_ip_time", CFG_DURATION, "30d", 3600000, 365 * DAY_MS, known_ip_ms,
            "a successful login keeps its IP known this long"),
    POL_OPT("auth", "delay", CFG_DURATION, "2s", 0, 60000, delay_base_ms,
            "delay after the first failure; doubles with each"),
    POL_OPT("auth", "delay_max", CFG_DURATION, "15s", 0, 600000, delay_max_ms, "longest delay"),
    POL_OPT("inbound", "memory_time", CFG_DURATION, "7d", 60000, 365 * DAY_MS, memory_ms,
            "how long an accepted inbound message (Message-ID, sender, client, score, SPF) "
            "is remembered"),
    POL_OPT("autoreply", "enabled", CFG_BOOL, "yes", 0, 0, autoreply_enabled,
            "apply the auto-reply rules (RFC 3834) to outbound automatic replies"),
    POL_OPT("autoreply", "period", CFG_DURATION, "7d", 60000, 365 * DAY_MS, autoreply_period_ms,
            "one automatic reply per account and recipient per period"),
    POL_OPT("autoreply", "hour_max", CFG_INT, "20", 0, 1000000, autoreply_hour_max,
            "automatic replies per account per hour (0: no cap)"),
    {"autoreply", "noreply_names", CFG_STRING,
     "noreply,no-reply,no_reply,donotreply,do-not-reply,do_not_reply,mailer-daemon,"
     "mailerdaemon,postmaster,bounce,bounces",
     0, 0, true, offsetof(struct pol_config, noreply_names),
     sizeof(((struct pol_config *)0)->noreply_names),
     "local parts that are never answered (a * at either end matches any prefix or suffix)"},
    {"autoreply", "list_names", CFG_STRING,
     "owner-*,*-owner,*-request,*-bounces,*-bounce,bounce-*,*-subscribe,*-unsubscribe,"
     "listserv,majordomo,mailman,sympa,lists",
     0, 0, true, offsetof(struct pol_config, list_names),
     sizeof(((struct pol_config *)0)->list_names),
     "local parts of list robots and list addresses, never answered (RFC 3834 section 2)"},
    POL_OPT("notify", "enabled", CFG_BOOL, "yes", 0, 0, notify_enabled,
            "hold notifications (null sender, quota and filter notices) to senders the "
            "inbound memory cannot vouch for"),
    POL_OPT("notify", "vouch_spf_none", CFG_BOOL, "no", 0, 0, notify_vouch_none,
            "a sender whose domain publishes no SPF, seen from a clean client, is vouched for"),
    POL_OPT("forward", "enabled", CFG_BOOL, "yes", 0, 0, forward_enabled,
            "hold forwards of inbound spam (same Message-ID, or the SRS original sender)"),
    POL_OPT("forward", "score", CFG_INT, "1", -100000, 100000, forward_score,
            "DNSBL score of the inbound copy at or above which its forward is held"),
};
#define POL_TABLE_ROWS (sizeof pol_table / sizeof pol_table[0])

const char *pol_config_limit_name(enum pol_limit_id id)
{
	if ((unsigned)id >= POL_LIM_N)
		panic("policy: limit %d", (int)id);
	return pol_limit_names[id];
}

int pol_config_defaults(struct pol_config *c, char *err, size_t errlen)
{
	memset(c, 0, sizeof *c);
	if (cfg_table_defaults(pol_table, POL_TABLE_ROWS, c, err, errlen) != 0)
		return -1;
	if (cfg_table_defaults(pol_limit_table, POL_LIMIT_ROWS, &c->limits, err, errlen) != 0)
		return -1;
	c->limits.set = 0;
	return 0;
}

static struct pol_named_limits *pol_config_named(struct pol_named_limits *arr, size_t *n,
                                                 const char *name, bool create)
{
	for (size_t i = 0; i < *n; i++)
		if (str_ieq(arr[i].name, name))
			return &arr[i];
	if (!create || *n == POL_OVERRIDES_MAX)
		return NULL;
	struct pol_named_limits *e = &arr[(*n)++];
	memset(e, 0, sizeof *e);
	if (str_copy(e->name, sizeof e->name, name) != 0) {
		(*n)--;
		return NULL;
	}
	str_lower(e->name);
	return e;
}

static int pol_config_set_limit(struct pol_limits *lim, const char *name, const char *value,
                                char *err, size_t errlen)
{
	int rc =
	    cfg_table_set(pol_limit_table, POL_LIMIT_ROWS, lim, "limits", name, value, err, errlen);
	if (rc == 0) {
		str_format_trunc(err, errlen, "unknown limit %s", name);
		return -1;
	}
	if (rc < 0)
		return -1;
	for (unsigned i = 0; i < POL_LIMIT_ROWS; i++)
		if (strcmp(pol_limit_table[i].name, name) == 0)
			lim->set |= 1u << i;
	return 0;
}

int pol_config_set(struct pol_config *c, const char *section, const char *name, const char *value,
                   char *err, size_t errlen)
{
	if (strcmp(section, "limits") == 0)
		return pol_config_set_limit(&c->limits, name, value, err, errlen);
	const char *who = NULL;
	struct pol_named_limits *arr = NULL;
	size_t *n = NULL;
	if (strncmp(section, "domain ", 7) == 0) {
		who = section + 7;
		arr = c->domains;
		n = &c->n_domains;
	} else if (strncmp(section, "user ", 5) == 0) {
		who = section + 5;
		arr = c->users;
		n = &c->n_users;
	}
	if (who) {
		while (*who == ' ')
			who++;
		if (*who == '\0' || strlen(who) >= POL_NAME_MAX) {
			str_format_trunc(err, errlen, "bad section name [%s]", section);
			return -1;
		}
		char cn[POL_NAME_MAX]; /* one override per account or domain, however spelt */
		if ((arr == c->users ? canon_user(who, cn, sizeof cn)
		                     : canon_domain(who, strlen(who), cn, sizeof cn)) != 0) {
			str_format_trunc(err, errlen, "bad section name [%s]: not a %s", section,
			                 arr == c->users ? "user name" : "domain");
			return -1;
		}
		struct pol_named_limits *e = pol_config_named(arr, n, cn, true);
		if (!e) {
			str_format_trunc(err, errlen, "more than %d overrides", POL_OVERRIDES_MAX);
			return -1;
		}
		return pol_config_set_limit(&e->lim, name, value, err, errlen);
	}
	int rc = cfg_table_set(pol_table, POL_TABLE_ROWS, c, section, name, value, err, errlen);
	if (rc == 0) {
		str_format_trunc(err, errlen, "unknown option [%s] %s", section, name);
		return -1;
	}
	return rc < 0 ? -1 : 0;
}

static int pol_config_handler(void *user, const char *section, const char *name, const char *value,
                              char *err, size_t errlen)
{
	return pol_config_set(user, section, name, value, err, errlen);
}

static int pol_config_check(struct pol_config *c, char *err, size_t errlen)
{
	if (!(c->score_warn <= c->score_hold && c->score_hold <= c->score_block)) {
		str_copy_trunc(err, errlen, "need score_warn <= score_hold <= score_block");
		return -1;
	}
	return 0;
}

int pol_config_load_string(struct pol_config *c, const char *text, const char *name, char *err,
                           size_t errlen)
{
	if (pol_config_defaults(c, err, errlen) != 0)
		return -1;
	if (cfg_parse_string(text, name, pol_config_handler, c, err, errlen) != 0)
		return -1;
	return pol_config_check(c, err, errlen);
}

int pol_config_load_file(struct pol_config *c, const char *path, char *err, size_t errlen)
{
	if (pol_config_defaults(c, err, errlen) != 0)
		return -1;
	if (cfg_parse_file(path, pol_config_handler, c, err, errlen) != 0)
		return -1;
	return pol_config_check(c, err, errlen);
}

static void pol_config_apply(struct pol_limits *out, const struct pol_limits *o)
{
	for (unsigned i = 0; i < POL_LIM_N; i++)
		if (o->set & (1u << i))
			out->max[i] = o->max[i];
	if (o->set & (1u << POL_LIM_N))
		out->strict = o->strict;
}

void pol_config_limits_for(const struct pol_config *c, const char *user, struct pol_limits *out)
{
	*out = c->limits;
	if (!user || !user[0] || (c->n_domains == 0 && c->n_users == 0))
		return;
	const char *at = mailaddr_at(user);
	if (at) {
		for (size_t i = 0; i < c->n_domains; i++)
			if (str_ieq(c->domains[i].name, at + 1))
				pol_config_apply(out, &c->domains[i].lim);
	}
	for (size_t i = 0; i < c->n_users; i++)
		if (str_ieq(c->users[i].name, user))
			pol_config_apply(out, &c->users[i].lim);
}
