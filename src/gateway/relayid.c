/*
 * relayid - see relayid.h.
 */
#include "gateway/relayid.h"

#include "core/log.h"
#include "core/mailaddr.h"
#include "core/str.h"

#include <string.h>

bool relayid_by_sender(const struct gw_config *g, const struct addr *ip, bool everyone_trusted)
{
	if (!g || !ip || !g->trusted || !prefix_set_lookup(g->trusted, ip, NULL, NULL))
		return false;
	return everyone_trusted ||
	       (g->sender_networks && prefix_set_lookup(g->sender_networks, ip, NULL, NULL));
}

void relayid_event(const struct pol_engine *e, const struct relay_domains *local, const char *who,
                   bool from_header, struct pol_event *ev)
{
	ev->flags |= POL_F_RELAYED;
	if (!who || !who[0])
		return;
	const char *at = mailaddr_at(who);
	if (!from_header &&
	    (!at || !local || !relay_domains_contains(local, at + 1, strlen(at + 1)))) {
		ev->flags |= POL_F_FOREIGN_SENDER;
		return;
	}
	char in[POL_IDENT_MAX], norm[POL_IDENT_MAX];
	if (str_format(in, sizeof in, "user:%s", who) != 0)
		return;
	if (!e || pol_engine_normalize(e, in, norm, sizeof norm) != 0) {
		str_lower(in);
		if (str_copy(norm, sizeof norm, in) != 0)
			panic("relayid_event: norm is as large as in");
	}
	if (str_copy(ev->user, sizeof ev->user, norm + 5) != 0)
		return;
}

int relayid_domains(const char *list, const char *source, struct relay_domains *out, char *err,
                    size_t errlen)
{
	relay_domains_init(out);
	char tmp[sizeof((struct gw_config *)0)->local_domains];
	char *f[RELAY_DOMAINS_MAX + 1];
	if (str_copy(tmp, sizeof tmp, list ? list : "") != 0) {
		str_format_trunc(err, errlen, "%s: [gateway] local_domains: too long", source);
		return -1;
	}
	int n = str_split(tmp, " ,\t", f, RELAY_DOMAINS_MAX);
	if (n < 0) {
		str_format_trunc(err, errlen, "%s: [gateway] local_domains: more than %d domains",
		                 source, RELAY_DOMAINS_MAX);
		return -1;
	}
	for (int i = 0; i < n; i++)
		if (relay_domains_add(out, f[i], strlen(f[i])) != 0) {
			str_format_trunc(err, errlen,
			                 "%s: [gateway] local_domains: '%s' is not a domain",
			                 source, f[i]);
			return -1;
		}
	return 0;
}
