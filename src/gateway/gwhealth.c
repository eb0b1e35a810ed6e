/*
 * gwhealth - see gwhealth.h.
 */
#include "gateway/gwhealth.h"

#include "core/str.h"
#include "net/dns.h"
#include "policy/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GWHEALTH_DNS_FAILS 2 /* probes without an answer in a row before it counts */

struct gwhealth {
	struct store *store;
	char spool[512];
	struct dns *dns;
	char probe[256];
	bool pending;
	int dns_fails;
	char dns_why[80];
};

struct gwhealth *gwhealth_new(struct store *store, const char *spool_dir, struct dns *dns,
                              const char *probe_name)
{
	struct gwhealth *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	h->store = store;
	h->dns = dns;
	if ((spool_dir && str_copy(h->spool, sizeof h->spool, spool_dir) != 0) ||
	    str_copy(h->probe, sizeof h->probe,
	             probe_name && *probe_name ? probe_name : "localhost") != 0) {
		free(h);
		return NULL;
	}
	return h;
}

static void gwhealth_on_dns(void *arg, const struct dns_result *res)
{
	struct gwhealth *h = arg;
	h->pending = false;
	if (res->status == DNS_CANCELLED)
		return;
	if (res->status == DNS_TIMEOUT || res->status == DNS_ERROR) {
		h->dns_fails++;
		str_format_trunc(h->dns_why, sizeof h->dns_why, "no answer (%s%s%s)",
		                 dns_status_name(res->status), res->error[0] ? ": " : "",
		                 res->error);
	} else {
		h->dns_fails = 0;
	}
}

void gwhealth_set_dns(struct gwhealth *h, struct dns *dns)
{
	if (h)
		h->dns = dns;
}

void gwhealth_tick(struct gwhealth *h)
{
	if (!h || !h->dns || h->pending)
		return;
	h->pending = dns_query(h->dns, h->probe, DNS_T_A, gwhealth_on_dns, h) == 0;
}

static void gwhealth_add(char *why, size_t whylen, const char *what, const char *detail)
{
	size_t n = strlen(why);
	if (n + 1 < whylen)
		str_format_trunc(why + n, whylen - n, "%s%s: %s", n ? "; " : "", what, detail);
}

int gwhealth_check(void *arg, char *why, size_t whylen)
{
	struct gwhealth *h = arg;
	why[0] = '\0';
	if (h->store) {
		char buf[64];
		size_t len = 0;
		/* a value there larger than buf (nothing of ours: another program,
		 * a person, a damaged value) is an answer too: -1 with len past buf */
		if (h->store->get(h->store, "healthz", buf, sizeof buf, &len) < 0 &&
		    len <= sizeof buf)
			gwhealth_add(why, whylen, "store", "cannot be read");
	}
	if (h->spool[0]) {
		int fd = open(h->spool, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
		if (fd < 0 && errno == EOPNOTSUPP && access(h->spool, W_OK | X_OK) == 0)
			fd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* no O_TMPFILE here */
		if (fd < 0) {
			char d[200];
			str_format_trunc(d, sizeof d, "%s is not writable (%s)", h->spool,
			                 strerror(errno));
			gwhealth_add(why, whylen, "spool", d);
		} else {
			close(fd);
		}
	}
	if (h->dns && h->dns_fails >= GWHEALTH_DNS_FAILS)
		gwhealth_add(why, whylen, "dns", h->dns_why);
	return why[0] ? -1 : 0;
}

void gwhealth_free(struct gwhealth *h)
{
	free(h);
}
