/*
 * follow - live log follow ([follow] files): serve tails the mail server's
 * logs (core/tail: rotation and truncation safe, from their end at start)
 * and gives every failed and successful login they report (forensics/
 * authline: Postfix, Dovecot, Exim) to the policy engine as it happens, the
 * same AUTH_FAIL / AUTH_OK events the gateway's own AUTH makes. So brute force
 * against the organisation's Postfix or Dovecot, which never tell a policy
 * service about failed logins, locks the attacking IP out (rule
 * auth_ip_lockout): its next policy request is refused, and with [firewall]
 * ban_set it goes into an nftables set (gateway/nftban). The engine's rules
 * apply unchanged: the lockout is per IP; an account's own lockout holds only
 * for IPs it never logged in from, so its owner keeps her address.
 *
 * A libevent timer polls the files (every poll_interval, sooner while a file
 * has a backlog); each poll reads at most FOLLOW_BUDGET bytes per file, so the
 * loop is never held long by a large log or a slow disk. Events carry the
 * time they are read (the live clock), not the line's stamp.
 */
#ifndef RG_GATEWAY_FOLLOW_H
#define RG_GATEWAY_FOLLOW_H

#include "gateway/policyd.h"
#include "policy/engine.h"

#include <stddef.h>
#include <stdint.h>

#define FOLLOW_FILES_MAX 16
#define FOLLOW_BUDGET (256u << 10)

struct event_base;
struct metrics;
struct follow;

struct follow_options {
	const char *files;         /* comma or space separated paths */
	uint64_t poll_ms;          /* 0: 250 */
	size_t max_line;           /* 0: TAIL_LINE_MAX_DEFAULT */
	policyd_block_fn on_block; /* a block the engine created; may be NULL */
	void *on_block_ctx;
};

/* NULL with err on bad options (no file, too many, a path too long) or no
 * memory. metrics may be NULL. */
struct follow *follow_new(struct event_base *base, struct pol_engine *engine,
                          const struct follow_options *o, struct metrics *metrics, char *err,
                          size_t errlen);
/* Polls every file once now (the timer does this by itself). */
void follow_poll(struct follow *f);
void follow_free(struct follow *f);

#endif
