/*
 * acceptpause - see acceptpause.h.
 */
#include "net/acceptpause.h"

#include "core/log.h"
#include "core/str.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct acceptpause {
	char name[32];
	int pause_ms;
	struct event *resume;
	int n;
	struct evconnlistener *lev[ACCEPTPAUSE_LISTENERS_MAX];
	uint64_t pauses;
};

static void acceptpause_enable(struct acceptpause *p, int on)
{
	for (int i = 0; i < p->n; i++) {
		if (on)
			evconnlistener_enable(p->lev[i]);
		else
			evconnlistener_disable(p->lev[i]);
	}
}

static void acceptpause_on_resume(evutil_socket_t fd, short what, void *arg)
{
	acceptpause_enable(arg, 1);
}

void acceptpause_error(struct acceptpause *p)
{
	int e = EVUTIL_SOCKET_ERROR();
	if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM) {
		log_warn("%s: accept: %s", p->name, strerror(e));
		return;
	}
	acceptpause_enable(p, 0);
	struct timeval tv = {p->pause_ms / 1000, (p->pause_ms % 1000) * 1000};
	if (evtimer_add(p->resume, &tv) != 0)
		acceptpause_enable(p, 1); /* no timer: better busy than deaf */
	if (p->pauses++ % 100 == 0)
		log_warn("%s: accept: %s: not accepting for %d ms (pause %llu; raise "
		         "LimitNOFILE or lower the connection limits)",
		         p->name, strerror(e), p->pause_ms, (unsigned long long)p->pauses);
}

struct acceptpause *acceptpause_new(struct event_base *base, const char *name, int pause_ms)
{
	struct acceptpause *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	str_copy_trunc(p->name, sizeof p->name, name);
	p->pause_ms = pause_ms;
	p->resume = evtimer_new(base, acceptpause_on_resume, p);
	if (!p->resume) {
		free(p);
		return NULL;
	}
	return p;
}

int acceptpause_add(struct acceptpause *p, struct evconnlistener *lev)
{
	if (p->n == ACCEPTPAUSE_LISTENERS_MAX)
		return -1;
	p->lev[p->n++] = lev;
	return 0;
}

void acceptpause_free(struct acceptpause *p)
{
	if (!p)
		return;
	event_free(p->resume);
	free(p);
}
