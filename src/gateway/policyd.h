/*
 * policyd - the Postfix policy delegation service (SMTPD_POLICY_README) on
 * the same engine as the gateway: Postfix's smtpd asks, over persistent
 * connections, before it accepts a recipient or a message; we answer DUNNO,
 * DEFER, REJECT, HOLD or WARN with the engine's reasons.
 *
 * What is counted where (gwconf [policyd] count_at):
 *   instance (default)        a message is counted once, at the first request
 *                             of its `instance` (RCPT or END-OF-MESSAGE,
 *                             whichever comes first; at RCPT with the size
 *                             the client declared); each RCPT request adds
 *                             one recipient; END-OF-MESSAGE adds the size (what
 *                             the declared one was short), and the recipients
 *                             no RCPT request told (recipient_count). So a Postfix that delegates
 *                             at RCPT only (smtpd_recipient_restrictions), at
 *                             end of data only (smtpd_end_of_data_restrictions)
 *                             or at both counts the same and nothing twice.
 *                             Other states (and requests without `instance`
 *                             other than END-OF-MESSAGE) only enforce blocks.
 *                             A refused request (DEFER, REJECT) counts nothing
 *                             for its instance: the next one tries again.
 *   end-of-message            the former default: RCPT and earlier states only
 *                             enforce blocks; END-OF-MESSAGE counts one message
 *                             with its recipient count and size.
 *   rcpt                      every RCPT request counts as one message to one
 *                             recipient (what postfwd's rate() counts).
 */
#ifndef RG_GATEWAY_POLICYD_H
#define RG_GATEWAY_POLICYD_H

#include "core/hostport.h"
#include "gateway/gwconf.h"
#include "policy/engine.h"
#include "smtp/pfpolicy.h"

#include <stdbool.h>

struct event_base;
struct metrics;
struct policyd;

/* Called when a decision created a block (v->block_created); client_ip is ""
 * when Postfix sent none. */
typedef void (*policyd_block_fn)(void *ctx, const struct pol_verdict *v, const char *client_ip);

struct policyd_options {
	bool count_at_rcpt; /* count_at = rcpt */
	bool count_at_eom;  /* count_at = end-of-message; neither: instance */
	/* the instance table: most messages tracked at once (0: 16384), and how long
	 * one is kept after its last request (0: 1 h) */
	size_t instances_max;
	int64_t instance_ttl_ms;
	unsigned max_connections;
	int idle_timeout_s; /* 0: 600 */
	/* Told of every decision (counted: it counted a message), for the admin page's
	 * per-account history; NULL: nobody listens. */
	void (*observe)(void *arg, const struct pol_event *ev, const struct pol_verdict *v,
			bool counted);
	void *observe_arg;
	policyd_block_fn on_block; /* may be NULL */
	void *on_block_ctx;
	/* Held mail is Postfix's (admin/pfhold.h): told of every HOLD answer (held),
	 * and of every other request that carries a queue ID and an instance, so a
	 * HOLD given before Postfix had a queue ID (the first RCPT) learns it. NULL: off. */
	void (*on_hold)(void *arg, const struct pfp_request *r, const struct pol_verdict *v,
	                bool held);
	void *on_hold_arg;
	/* Identity by sender behind a trusted relay (relayid.h): a request without
	 * sasl_username from conf's trusted_networks is counted per envelope sender
	 * of conf's local_domains when identify_sender ([policyd] identify = sender)
	 * or the client is in conf's identify_sender; a block on it is answered
	 * HOLD. conf is the running configuration, read at each request (a reload
	 * changes it in place); NULL: every request is keyed by its client. */
	const struct gw_config *conf;
	bool identify_sender;
	/* TCP clients outside it are refused at accept (NULL: loopback only). */
	const struct prefix_set *allow;
	/* unix socket: chown/chmod after bind; -1 leaves it as created */
	long socket_uid, socket_gid;
	int socket_mode;
	/* replies queued for a client past this stop reading its requests until
	 * half of them are sent (0: 64 KiB) */
	size_t output_highwater;
};

/* Listens on addr. NULL with err on failure (address in use, ...). metrics may be NULL. */
struct policyd *policyd_new(struct event_base *base, const struct hostport *addr,
			    struct pol_engine *engine, const struct policyd_options *opt,
			    struct metrics *metrics, char *err, size_t errlen);
void policyd_free(struct policyd *p);
unsigned policyd_connections(const struct policyd *p);

#endif
