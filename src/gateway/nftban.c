/*
 * nftban - an IP locked out for failed logins into an nftables set; see nftban.h.
 */
#include "gateway/nftban.h"

#include "admin/alert.h"
#include "core/addr.h"
#include "core/log.h"
#include "core/str.h"
#include "core/workq.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct nftban_job {
	struct workq_job wq;
	char elem[64]; /* "192.0.2.1" or "2001:db8::/64" */
	bool v6, ran;
	uint64_t timeout_s;
};

struct nftban {
	char nft[256], set4[200], set6[200];
	uint64_t timeout_ms;
	struct workq *wq;
	unsigned left; /* at nftban_free: additions never run */
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

/* On the firewall's thread (fire and forget: the result is only logged). */
static void nftban_run(void *arg, struct workq_job *first, unsigned n)
{
	struct nftban *b = arg;
	(void)n;
	for (struct workq_job *w = first; w; w = w->next) {
		struct nftban_job *j = WORKQ_OWNER(w, struct nftban_job, wq);
		const char *set = j->v6 ? b->set6 : b->set4;
		char cmd[600], err[300];
		struct alert_exec x = {.command = cmd, .timeout_ms = 10000};
		j->ran = true;
		if (nftban_command(b->nft, set, j->elem, j->timeout_s, cmd, sizeof cmd) != 0)
			log_error("firewall: ban %s: command too long", j->elem);
		else if (alert_run_exec(&x, "", err, sizeof err) != 0)
			log_error("firewall: cannot add %s to the set %s: %s", j->elem, set, err);
		else
			log_info("firewall: %s added to the set %s for %llu s", j->elem, set,
			         (unsigned long long)j->timeout_s);
	}
}

static void nftban_drop(void *arg, struct workq_job *w)
{
	struct nftban *b = arg;
	struct nftban_job *j = WORKQ_OWNER(w, struct nftban_job, wq);
	if (!j->ran)
		b->left++; /* only at nftban_free, on the loop's thread */
	free(j);
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
	static const struct workq_ops ops = {.run = nftban_run, .drop = nftban_drop};
	struct workq_conf c = {
	    .name = "firewall thread", .threads = 1, .max_pending = NFTBAN_QUEUE, .batch_max = 1};
	b->wq = workq_new(NULL, &c, &ops, b, err, errlen);
	if (!b->wq) {
		free(b);
		return NULL;
	}
	return b;
}

int nftban_block(struct nftban *b, const struct pol_verdict *v, int64_t now_ms)
{
	if (!b || strcmp(v->rule, "auth_ip_lockout") != 0 || strncmp(v->identity, "ip:", 3) != 0)
		return 0;
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
	bool v6 = a.family == 6;
	if (!(v6 ? b->set6 : b->set4)[0])
		return 0;
	struct nftban_job *j = calloc(1, sizeof *j);
	if (!j) {
		log_error("firewall: out of memory; %s is not added to the ban set", ip);
		return -1;
	}
	j->v6 = v6;
	if (str_copy(j->elem, sizeof j->elem, ip) != 0)
		panic("nftban_block: j->elem does not fit");
	uint64_t t = b->timeout_ms;
	if (v->block_expires_ms > now_ms && (uint64_t)(v->block_expires_ms - now_ms) < t)
		t = (uint64_t)(v->block_expires_ms - now_ms);
	j->timeout_s = (t + 999) / 1000;
	if (workq_submit(b->wq, &j->wq) != 0) {
		log_error("firewall: %u additions to the ban set are waiting; %s is not added",
		          NFTBAN_QUEUE, j->elem);
		free(j);
		return -1;
	}
	return 1;
}

void nftban_free(struct nftban *b)
{
	if (!b)
		return;
	workq_free(b->wq);
	if (b->left)
		log_warn("firewall: stopping: %u addresses were not added to the ban set", b->left);
	free(b);
}
