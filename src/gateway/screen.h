/*
 * screen - the inbound listener's checks of a client, for gateway/smtpd.c:
 * weighted DNSBL scoring at connect (dnsbl/score.h, postscreen style; the
 * reject names the list and comes at MAIL, like postscreen's "enforce"),
 * SPF of the envelope sender (smtp/spf.h; recorded, not enforced), the
 * recipient list (smtp/rcptval.h) at RCPT, and what the INBOUND event
 * remembers (score, lists, SPF result). docs/inbound.md.
 *
 * A struct screen_conn lives as long as its connection, or longer: if the
 * connection goes while a lookup runs, screen_conn_free() only marks it, and
 * the last answer frees it. Callbacks never run after screen_conn_free().
 */
#ifndef RG_GATEWAY_SCREEN_H
#define RG_GATEWAY_SCREEN_H

#include "core/addr.h"
#include "gateway/gwconf.h"
#include "policy/event.h"

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct screen;
struct screen_conn;

/* NULL with err empty when [screen] asks for nothing; NULL with err set on a
 * bad setting or no memory. */
struct screen *screen_new(struct event_base *base, const struct gw_config *c, char *err,
                          size_t errlen);
void screen_free(struct screen *s);
/* A reload put another screen in s's place: s goes on the list *retired and
 * stays while connections that began under it (or their lookups) last, then
 * frees itself from its own event. Nothing when s is NULL. */
void screen_retire(struct screen *s, struct screen **retired);
/* Frees every screen on the list at once (at shutdown). */
void screen_free_retired(struct screen **retired);

/* Starts scoring ip (when DNSBL sites are set). NULL on no memory. */
struct screen_conn *screen_conn_new(struct screen *s, const struct addr *ip);
void screen_conn_free(struct screen_conn *sc);

/* reply: NULL to accept, else the whole SMTP reply. */
typedef void (*screen_cb)(void *arg, const char *reply);
/* MAIL FROM: waits for the DNSBL score; a reject gives the 550 naming the
 * list; else starts the SPF check and accepts. cb runs exactly once,
 * possibly before this returns. */
void screen_conn_mail(struct screen_conn *sc, const char *sender, const char *helo, screen_cb cb,
                      void *arg);
/* RCPT TO: the recipient list, then (when [screen] recipient_callout is set)
 * the cached callout to the internal server for local addresses the list
 * does not know. cb gets NULL to accept, "550 5.1.1 ..." for an unknown user,
 * "451 4.4.3 ..." when the internal server could not say. cb runs exactly
 * once, possibly before this returns. */
void screen_conn_rcpt(struct screen_conn *sc, const char *addr, screen_cb cb, void *arg);
/* End of message: waits for the SPF answer, then cb(arg, NULL). */
void screen_conn_data(struct screen_conn *sc, screen_cb cb, void *arg);
/* What an INBOUND event remembers: score, lists (and the listed flag), SPF. */
void screen_conn_fill(const struct screen_conn *sc, struct pol_event *ev);

#endif
