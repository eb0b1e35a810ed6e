/*
 * relayid - identity by sender behind a trusted relay (docs/deploy-smarthost.md,
 * docs/policy.md "Trusted relays"), shared by the SMTP gateway (smtpd) and the
 * Postfix policy service (policyd), so both decide alike who a message from
 * the organisation's own server is counted as.
 */
#ifndef RG_GATEWAY_RELAYID_H
#define RG_GATEWAY_RELAYID_H

#include "core/addr.h"
#include "gateway/gwconf.h"
#include "policy/engine.h"
#include "smtp/relay.h"

#include <stdbool.h>
#include <stddef.h>

/* Whether a client without an authenticated user is identified by sender: it
 * is in [gateway] trusted_networks, and everyone_trusted (a listener's or the
 * policy service's identify = sender) or it is in [gateway] identify_sender.
 * Nothing else is believed: an untrusted client naming a colleague as sender
 * must not get her blocked. */
bool relayid_by_sender(const struct gw_config *g, const struct addr *ip, bool everyone_trusted);

/* The event of a message identified by sender: the user is who (the envelope
 * sender, or from_header: the identify_header's user, believed as it is) in
 * the engine's canonical form when it is of a local domain, and the client is
 * the trusted relay above it (POL_F_RELAYED). A sender outside the local
 * domains sets POL_F_FOREIGN_SENDER and leaves the user empty: a signal on the
 * relay. The null sender (the server's own notices) counts on the relay alone.
 * e may be NULL (the name is then only lowercased). */
void relayid_event(const struct pol_engine *e, const struct relay_domains *local, const char *who,
                   bool from_header, struct pol_event *ev);

/* [gateway] local_domains (list) as a set; 0, or -1 with err naming source. */
int relayid_domains(const char *list, const char *source, struct relay_domains *out, char *err,
                    size_t errlen);

#endif
