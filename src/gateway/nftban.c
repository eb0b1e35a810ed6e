/*
 * nftban - an IP locked out for failed logins into an nftables set; see nftban.h.
 */
#include "gateway/nftban.h"

#include "admin/alert.h"
#include "core/addr.h"
#include "core/log.h"
#include "core/str.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct nftban_job {
	char elem[64]; /* "192.0.2.1" or "2001:db8::/64" */
	bool v6;
	uint64_t timeout_s;
};

struct nftban {
	char nft[256], set4[200], set6[200];
	uint64_t timeout_ms;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	struct nftban_job q[NFTBAN_QUEUE];
	unsigned head, n;
};

static bool nftban_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

int nftban_check_set(const char *set, char *err, size_t errlen)
{
	static const char *const families[] = {"ip", "ip6", "inet", "bridge", "netdev"};
	char copy[200];
	char *w[4];
	if (str_copy(copy, sizeof copy, set) != 0) {
		str_format_trunc(err, errlen, "too long");
		return -1;
	}
	int n = str_split(copy, " \t", w, 4);
	if (n != 3) {
		str_format_trunc(err, errlen,
		                 "expected FAMILY TABLE SET, as \"inet relayguard_ban banned4\"");
		return -1;
	}
	bool fam = false;
	for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
		fam = fam || strcmp(w[0], families[i]) == 0;
	if (!fam || !nftban_name_ok(w[1], strlen(w[1])) || !nftban_name_ok(w[2], strlen(w[2]))) {
		str_format_trunc(
		    err, errlen,
		    "expected a family (ip, ip6, inet, bridge, netdev) and two names of "
		    "letters, digits, _ - .");
		return -1;
	}
	return 0;
}

int nftban_command(const char *nft, const char *set, const char *elem, uint64_t timeout_s,
                   char *out, size_t size)
{
	return str_format(out, size, "%s add element %s { %s timeout %llus }", nft, set, elem,
	                  (unsigned long long)timeout_s);
}

static void *nftban_run(void *arg)
{
	struct nftban *b = arg;
	pthread_mutex_lock(&b->mu);
	for (;;) {
		while (!b->stop && b->n == 0)
			pthread_cond_wait(&b->cv, &b->mu);
		if (b->stop)
			break;
		struct nftban_job j = b->q[b->head];
		b->head = (b->head + 1) % NFTBAN_QUEUE;
		b->n--;
		pthread_mutex_unlock(&b->mu);
		const char *set = j.v6 ? b->set6 : b->set4;
		char cmd[600], err[300];
		struct alert_exec x = {.command = cmd, .timeout_ms = 10000};
		if (nftban_command(b->nft, set, j.elem, j.timeout_s, cmd, sizeof cmd) != 0)
			log_error("firewall: ban %s: command too long", j.elem);
		else if (alert_run_exec(&x, "", err, sizeof err) != 0)
			log_error("firewall: cannot add %s to the set %s: %s", j.elem, set, err);
		else
			log_info("firewall: %s added to the set %s for %llu s", j.elem, set,
			         (unsigned long long)j.timeout_s);
		pthread_mutex_lock(&b->mu);
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

struct nftban *nftban_new(const struct nftban_options *o, char *err, size_t errlen)
{
	char e[200];
	const char *sets[2] = {o->set4, o->set6};
	for (int i = 0; i < 2; i++)
		if (sets[i] && sets[i][0] && nftban_check_set(sets[i], e, sizeof e) != 0) {
			str_format_trunc(err, errlen, "[firewall] %s: %s",
			                 i ? "ban_set6" : "ban_set", e);
			return NULL;
		}
	struct nftban *b = calloc(1, sizeof *b);
	if (!b) {
		str_format_trunc(err, errlen, "out of memory");
		return NULL;
	}
	if (str_copy(b->nft, sizeof b->nft, o->nft && o->nft[0] ? o->nft : "nft") != 0 ||
	    str_copy(b->set4, sizeof b->set4, o->set4 ? o->set4 : "") != 0 ||
	    str_copy(b->set6, sizeof b->set6, o->set6 ? o->set6 : "") != 0) {
		str_format_trunc(err, errlen, "[firewall] nft or a set name is too long");
		free(b);
		return NULL;
	}
	b->timeout_ms = o->timeout_ms ? o->timeout_ms : 3600000;
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	int rc = pthread_create(&b->thread, NULL, nftban_run, b);
	if (rc != 0) {
		str_format_trunc(err, errlen, "cannot start the firewall thread: %s", strerror(rc));
		pthread_cond_destroy(&b->cv);
		pthread_mutex_destroy(&b->mu);
		free(b);
		return NULL;
	}
	return b;
}

int nftban_block(struct nftban *b, const struct pol_verdict *v, int64_t now_ms)
{
	if (!b || strcmp(v->rule, "auth_ip_lockout") != 0 || strncmp(v->identity, "ip:", 3) != 0)
		return 0;
	struct nftban_job j = {0};
	const char *ip = v->identity + 3;
	char host[64];
	struct addr a;
	if (str_copy(host, sizeof host, ip) != 0)
		return 0;
	char *slash = strchr(host, '/');
	if (slash)
		*slash = '\0';
	if (addr_parse(host, strlen(host), &a) != 0)
		return 0;
	j.v6 = a.family == 6;
	if (!(j.v6 ? b->set6 : b->set4)[0])
		return 0;
	if (str_copy(j.elem, sizeof j.elem, ip) != 0)
		panic("nftban_block: j.elem does not fit");
	uint64_t t = b->timeout_ms;
	if (v->block_expires_ms > now_ms && (uint64_t)(v->block_expires_ms - now_ms) < t)
		t = (uint64_t)(v->block_expires_ms - now_ms);
	j.timeout_s = (t + 999) / 1000;
	pthread_mutex_lock(&b->mu);
	bool full = b->n == NFTBAN_QUEUE;
	if (!full) {
		b->q[(b->head + b->n) % NFTBAN_QUEUE] = j;
		b->n++;
		pthread_cond_signal(&b->cv);
	}
	pthread_mutex_unlock(&b->mu);
	if (full) {
		log_error("firewall: %u additions to the ban set are waiting; %s is not added",
		          NFTBAN_QUEUE, j.elem);
		return -1;
	}
	return 1;
}

void nftban_free(struct nftban *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->mu);
	b->stop = true;
	unsigned left = b->n;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
	pthread_join(b->thread, NULL);
	if (left)
		log_warn("firewall: stopping: %u addresses were not added to the ban set", left);
	pthread_cond_destroy(&b->cv);
	pthread_mutex_destroy(&b->mu);
	free(b);
}
