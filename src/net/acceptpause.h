/*
 * acceptpause - what a set of listeners does when accept fails for lack of
 * descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM): the pending
 * connection stays in the kernel's backlog, so a level-triggered listener
 * would wake the loop again at once and spin. Instead every listener of the
 * set is turned off for a short pause while open connections end and give
 * descriptors back (Postfix's master does the same), then on again. Other
 * accept errors are logged.
 */
#ifndef RG_NET_ACCEPTPAUSE_H
#define RG_NET_ACCEPTPAUSE_H

struct event_base;
struct evconnlistener;
struct acceptpause;

#define ACCEPTPAUSE_LISTENERS_MAX 64

/* name: for the log ("smtpd", "policyd"). NULL on no memory. */
struct acceptpause *acceptpause_new(struct event_base *base, const char *name, int pause_ms);
/* lev is one of the set. 0, or -1 when the set is full. */
int acceptpause_add(struct acceptpause *p, struct evconnlistener *lev);
/* From the owner's evconnlistener error callback (its argument is the
 * owner's, so the owner passes its set): pauses the set, or logs. */
void acceptpause_error(struct acceptpause *p);
/* Before the listeners are freed. */
void acceptpause_free(struct acceptpause *p);

#endif
