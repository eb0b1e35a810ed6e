/*
 * gwalert - grouping on the loop, delivery in a child; see gwalert.h.
 */
#include "gateway/gwalert.h"

#include "admin/alert.h"
#include "admin/blockalert.h"
#include "admin/metrics.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct gwalert {
	const struct gw_config *c;
	struct blockalert *ba;
	struct event *tick;
	pid_t children[GWALERT_CHILDREN];
	struct metric *m_alerts;
};

static void gwalert_count(struct gwalert *a, const char *result)
{
	if (a->m_alerts)
		metric_add(a->m_alerts, (const char *[]){result}, 1);
}

/* In the child: every exec and webhook; exit 0 when all took it. */
static void gwalert_deliver(const struct gw_config *c, const char *json)
{
	char err[256];
	int failed = 0;
	/* The child must not hold the parent's sockets (Postfix connections) open. */
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	for (int i = 0; i < c->nalert_execs; i++) {
		struct alert_exec x = {.command = c->alert_execs[i],
		                       .timeout_ms = (int)c->alert_exec_timeout_ms};
		if (alert_run_exec(&x, json, err, sizeof err) != 0) {
			log_error("alert: exec \"%s\" failed: %s", c->alert_execs[i], err);
			failed++;
		}
	}
	for (int i = 0; i < c->nalert_webhooks; i++) {
		struct alert_webhook w = {.url = c->alert_webhooks[i],
		                          .timeout_ms = (int)c->alert_webhook_timeout_ms,
		                          .retries = (int)c->alert_webhook_retries,
		                          .ca_file =
		                              c->alert_webhook_ca[0] ? c->alert_webhook_ca : NULL};
		if (alert_post_webhook(&w, json, err, sizeof err) != 0) {
			log_error("alert: webhook %s failed: %s", c->alert_webhooks[i], err);
			failed++;
		}
	}
	_exit(failed ? 1 : 0);
}

static void gwalert_reap(struct gwalert *a, bool wait)
{
	for (int i = 0; i < GWALERT_CHILDREN; i++) {
		int status;
		if (a->children[i] <= 0)
			continue;
		pid_t r = waitpid(a->children[i], &status, wait ? 0 : WNOHANG);
		if (r == 0)
			continue;
		bool ok = r > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
		if (!ok)
			log_error("alert: a block alert was not delivered everywhere (see above)");
		gwalert_count(a, ok ? "sent" : "failed");
		a->children[i] = 0;
	}
}

/* Hands json (freed here) to a child process. */
static void gwalert_send(struct gwalert *a, char *json)
{
	int slot = -1;
	if (!json)
		return;
	gwalert_reap(a, false);
	for (int i = 0; i < GWALERT_CHILDREN && slot < 0; i++)
		if (a->children[i] <= 0)
			slot = i;
	if (slot < 0) {
		log_error("alert: %d block alerts are still being delivered; dropping one",
		          GWALERT_CHILDREN);
		gwalert_count(a, "dropped");
		free(json);
		return;
	}
	pid_t pid = fork();
	if (pid == 0)
		gwalert_deliver(a->c, json);
	if (pid < 0) {
		log_error("alert: fork: %s", strerror(errno));
		gwalert_count(a, "failed");
	}
	a->children[slot] = pid > 0 ? pid : 0;
	free(json);
}

static void gwalert_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct gwalert *a = arg;
	clock_update();
	gwalert_reap(a, false);
	gwalert_send(a, blockalert_due(a->ba, clock_realtime_ms()));
}

void gwalert_block(struct gwalert *a, const struct pol_verdict *v, const char *client_ip)
{
	if (!a)
		return;
	clock_update();
	char *json = blockalert_add(a->ba, v, client_ip, clock_realtime_ms());
	if (!json)
		log_info("alert: block of %s goes into the next digest (%u waiting)", v->identity,
		         blockalert_pending(a->ba));
	gwalert_send(a, json);
}

struct gwalert *gwalert_new(struct event_base *base, const struct gw_config *c,
                            struct metrics *metrics, char *err, size_t errlen)
{
	if (c->nalert_execs == 0 && c->nalert_webhooks == 0)
		return NULL;
	struct gwalert *a = calloc(1, sizeof *a);
	if (!a)
		goto nomem;
	a->c = c;
	a->ba = blockalert_new((int64_t)c->alert_digest_ms, c->hostname);
	a->tick = event_new(base, -1, EV_PERSIST, gwalert_on_tick, a);
	struct timeval one = {1, 0};
	if (!a->ba || !a->tick || event_add(a->tick, &one) != 0)
		goto nomem;
	if (metrics)
		a->m_alerts = metrics_register(
		    metrics, METRIC_COUNTER, "relayguard_block_alerts_total",
		    "Alerts on blocks, by result (sent, failed, dropped).", "result", NULL, 0);
	log_info("alert: blocks are told to %d program(s) and %d webhook(s); the first at once, "
	         "then one digest every %llu s",
	         c->nalert_execs, c->nalert_webhooks,
	         (unsigned long long)(c->alert_digest_ms / 1000));
	return a;
nomem:
	str_format(err, errlen, "out of memory");
	gwalert_free(a);
	return NULL;
}

void gwalert_free(struct gwalert *a)
{
	if (!a)
		return;
	if (a->ba && blockalert_pending(a->ba)) {
		/* stopping: the digest goes now rather than never */
		clock_update();
		gwalert_send(
		    a, blockalert_due(a->ba, clock_realtime_ms() + (int64_t)a->c->alert_digest_ms));
	}
	gwalert_reap(a, true);
	if (a->tick)
		event_free(a->tick);
	blockalert_free(a->ba);
	free(a);
}
