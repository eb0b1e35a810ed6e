/*
 * inmem - the inbound memory and the outbound rules that read it.
 *
 * For every message accepted on the inbound listener (event INBOUND) the
 * engine keeps, for [inbound] memory_time, what it knew at the door: the
 * Message-ID, the envelope sender, the client IP, its DNSBL score and lists,
 * the SPF result and what the headers said (list, bulk, auto-submitted,
 * spam). Two expiring store records hold it:
 *
 *   "M:<message-id>"  struct inmem_msg, one per message
 *   "S:<sender>"      struct inmem_sender, per envelope sender: the last
 *                     message and when a clean, SPF-verified one was last seen
 *
 * Outbound MAIL events are then checked against it (all pure, time from the
 * event; docs/policy.md "Inbound memory" has the rules):
 *
 *   auto-replies (RFC 3834)  never to null, no-reply or list addresses, never
 *                    to a sender the memory says was forged (SPF fail, listed
 *                    client) or to list, bulk, auto-submitted or spam mail;
 *                    at most once per account and recipient per period
 *                    ("R:<account> <rcpt>" expiring marks) and within an
 *                    hourly cap per account ("Y:<account>"). Else hold.
 *   notifications    null sender, quota and filter notices: held unless the
 *                    memory vouches for every recipient (a clean inbound
 *                    message from it with SPF pass within memory_time).
 *   forwards         a message whose Message-ID is an inbound one that was
 *                    spam or came from a listed client, or whose SRS envelope
 *                    decodes to a sender whose last inbound message was: hold.
 */
#ifndef RG_POLICY_INMEM_H
#define RG_POLICY_INMEM_H

#include "policy/config.h"
#include "policy/engine.h"
#include "policy/event.h"
#include "policy/store.h"

#include <stddef.h>

/* Remembers an INBOUND event; v gets rule "inbound" and what was recorded.
 * 0, or -1 on a store error. */
int inmem_record(struct store *st, const struct pol_config *c, const struct pol_event *ev,
                 struct pol_verdict *v);

/* The auto-reply, notification and forwarding rules for a MAIL event whose
 * verdict so far is v (only called while it is allow or warn); escalates v
 * to hold with the rule and reasons. 0, or -1 on a store error. */
int inmem_check(struct store *st, const struct pol_config *c, const struct pol_event *ev,
                struct pol_verdict *v);

/* The original sender of an SRS address (SRS0=HHH=TT=domain=local@fwd,
 * SRS1=HHH=fwd==HHH=TT=domain=local@fwd2), lower case. 0, or -1 when addr is
 * not SRS (out untouched). */
int inmem_srs_original(const char *addr, char *out, size_t size);

/* Does the local part of addr match a comma-separated list of names, each
 * maybe with a * at its start or end? Case-insensitive. */
bool inmem_local_matches(const char *addr, const char *names);

#endif
