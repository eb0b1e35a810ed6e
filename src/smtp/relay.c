/*
 * relay - the relay decision; see relay.h and docs/relay.md.
 *
 * Fail closed: every path that is not positively local or positively allowed
 * to relay ends in REJECT. The routing checks look at the dequoted local part
 * (Postfix resolve_dequoted_address=yes), so "user@foreign"@local and
 * "foreign!user"@local are seen for what they are.
 */
#include "smtp/relay.h"

#include "core/log.h"
#include "core/str.h"

#include <string.h>

void relay_domains_init(struct relay_domains *d)
{
	memset(d, 0, sizeof *d);
}

/* Lower-cases name[0..len) into out without one trailing dot. 0, or -1 when
 * empty or too long. */
static int relay_normalise(const char *name, size_t len, char *out, size_t size)
{
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len >= size)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	out[len] = '\0';
	return 0;
}

int relay_domains_add(struct relay_domains *d, const char *name, size_t len)
{
	char tmp[SMTP_ADDRESS_DOMAIN_MAX + 1];
	if (!d || !name || relay_normalise(name, len, tmp, sizeof tmp) != 0)
		return -1;
	/* The same syntax a recipient domain must have: parse it as one. */
	char path[SMTP_ADDRESS_DOMAIN_MAX + 8];
	if (str_format(path, sizeof path, "<a@%s>", tmp) != 0)
		return -1;
	struct smtp_address a;
	if (smtp_address_parse(path, strlen(path), SMTP_ADDRESS_RCPT, SMTP_ADDRESS_OPT_SMTPUTF8,
	                       &a) != SMTP_ADDRESS_OK ||
	    (a.flags & (SMTP_ADDRESS_F_LITERAL | SMTP_ADDRESS_F_TRAILING_DOT)))
		return -1;
	if (relay_domains_contains(d, tmp, strlen(tmp)))
		return 0;
	if (d->count >= RELAY_DOMAINS_MAX)
		return -1;
	if (str_copy(d->names[d->count], sizeof d->names[d->count], tmp) != 0)
		return -1;
	d->count++;
	return 0;
}

bool relay_domains_contains(const struct relay_domains *d, const char *name, size_t len)
{
	char tmp[SMTP_ADDRESS_DOMAIN_MAX + 1];
	if (!d || !name || relay_normalise(name, len, tmp, sizeof tmp) != 0)
		return false;
	for (size_t i = 0; i < d->count && i < RELAY_DOMAINS_MAX; i++)
		if (strcmp(d->names[i], tmp) == 0)
			return true;
	return false;
}

/* The last label is all digits: "1.2.3.4" or "host.123" is no DNS name. */
static bool relay_numeric_domain(const char *dom)
{
	const char *last = strrchr(dom, '.');
	last = last ? last + 1 : dom;
	if (*last == '\0')
		return false;
	for (const char *p = last; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

static void relay_set(struct relay_decision *out, const struct smtp_address *rcpt,
                      enum relay_verdict v, enum relay_reason r)
{
	out->verdict = v;
	out->reason = r;
	if (v != RELAY_REJECT) {
		if (str_copy(out->reply, sizeof out->reply, "250 2.1.5 Ok") != 0)
			panic("relay_set: out->reply does not fit");
		return;
	}
	char raw[SMTP_ADDRESS_PATH_MAX + 1] = "";
	char safe[SMTP_ADDRESS_PATH_MAX + 1];
	if (rcpt)
		(void)smtp_address_format(rcpt, raw, sizeof raw); /* truncation is fine here */
	str_sanitize(safe, sizeof safe, raw, strlen(raw));
	const char *why = "Relay access denied";
	const char *code = "554 5.7.1";
	switch (r) {
	case RELAY_REASON_PERCENT_HACK:
		why = "Relay access denied: sender-specified routing ('%' in local part)";
		break;
	case RELAY_REASON_BANG_PATH:
		why = "Relay access denied: sender-specified routing ('!' in local part)";
		break;
	case RELAY_REASON_QUOTED_ROUTING:
		why = "Relay access denied: sender-specified routing ('@' in quoted local part)";
		break;
	case RELAY_REASON_SOURCE_ROUTE:
		why = "Relay access denied: source route";
		break;
	case RELAY_REASON_FOREIGN_LITERAL:
		why = "Relay access denied: address literal is not ours";
		break;
	case RELAY_REASON_NULL_RECIPIENT:
		code = "501 5.1.3";
		why = "Null recipient address not allowed";
		break;
	case RELAY_REASON_UNQUALIFIED:
		code = "553 5.1.3";
		why = "Recipient address rejected: need fully-qualified address";
		break;
	case RELAY_REASON_EMPTY_DOMAIN:
		code = "553 5.1.2";
		why = "Recipient address rejected: empty domain";
		break;
	case RELAY_REASON_NUMERIC_DOMAIN:
		code = "553 5.1.2";
		why = "Recipient address rejected: numeric domain (use an address literal)";
		break;
	case RELAY_REASON_DENIED:
		break;
	default: /* an accept reason with a reject */
		panic("relay: reject for reason %s", relay_reason_name(r));
	}
	if (str_format(out->reply, sizeof out->reply, "%s <%s>: %s", code, safe, why) != 0)
		str_format_trunc(out->reply, sizeof out->reply, "%s %s", code, why);
}

int relay_decide(const struct relay_policy *policy, const struct relay_client *client,
                 const struct smtp_address *rcpt, struct relay_decision *out)
{
	if (!out)
		return -1;
	memset(out, 0, sizeof *out);
	if (!policy || !client || !rcpt) {
		relay_set(out, NULL, RELAY_REJECT, RELAY_REASON_DENIED);
		return -1;
	}
	bool authed = client->auth_user != NULL && client->auth_user[0] != '\0';
	bool trusted = client->has_ip && policy->trusted_networks &&
	               prefix_set_lookup(policy->trusted_networks, &client->ip, NULL, NULL);
	bool privileged = authed || trusted;

	/* 1. Usable at all. */
	if (rcpt->flags & SMTP_ADDRESS_F_NULL) {
		relay_set(out, rcpt, RELAY_REJECT, RELAY_REASON_NULL_RECIPIENT);
		return 0;
	}
	if (rcpt->flags & SMTP_ADDRESS_F_NO_DOMAIN) {
		/* RFC 5321 §4.1.1.3: <postmaster> must be accepted; never relayed. */
		if (str_ieq(rcpt->local, "postmaster") && !(rcpt->flags & SMTP_ADDRESS_F_QUOTED))
			relay_set(out, rcpt, RELAY_ACCEPT_LOCAL, RELAY_REASON_POSTMASTER);
		else
			relay_set(out, rcpt, RELAY_REJECT, RELAY_REASON_UNQUALIFIED);
		return 0;
	}
	size_t dlen = strnlen(rcpt->domain, sizeof rcpt->domain);
	while (dlen > 0 && rcpt->domain[dlen - 1] == '.')
		dlen--;
	if (dlen == 0 || dlen >= sizeof rcpt->domain) {
		relay_set(out, rcpt, RELAY_REJECT, RELAY_REASON_EMPTY_DOMAIN);
		return 0;
	}
	char dom[SMTP_ADDRESS_DOMAIN_MAX + 1];
	if (relay_normalise(rcpt->domain, dlen, dom, sizeof dom) != 0) {
		relay_set(out, rcpt, RELAY_REJECT, RELAY_REASON_EMPTY_DOMAIN);
		return 0;
	}
	bool literal = (rcpt->flags & SMTP_ADDRESS_F_LITERAL) != 0;
	if (!literal && (dom[0] == '[' || relay_numeric_domain(dom))) {
		relay_set(out, rcpt, RELAY_REJECT, RELAY_REASON_NUMERIC_DOMAIN);
		return 0;
	}

	/* 2. Sender-specified routing from an untrusted client. The local part
	 * is the dequoted content, so quoting hides nothing. */
	if (!privileged) {
		const char *lp = rcpt->local;
		size_t llen = strnlen(lp, sizeof rcpt->local);
		if (rcpt->flags & SMTP_ADDRESS_F_SOURCE_ROUTE) {
			relay_set(out, rcpt, RELAY_REJECT, RELAY_REASON_SOURCE_ROUTE);
			return 0;
		}
		if (memchr(lp, '@', llen)) {
			relay_set(out, rcpt, RELAY_REJECT, RELAY_REASON_QUOTED_ROUTING);
			return 0;
		}
		if (memchr(lp, '%', llen)) {
			relay_set(out, rcpt, RELAY_REJECT, RELAY_REASON_PERCENT_HACK);
			return 0;
		}
		if (memchr(lp, '!', llen)) {
			relay_set(out, rcpt, RELAY_REJECT, RELAY_REASON_BANG_PATH);
			return 0;
		}
	}

	/* 3. Ours. */
	if (literal) {
		if (policy->local_addresses &&
		    (rcpt->literal.family == 4 || rcpt->literal.family == 6) &&
		    prefix_set_lookup(policy->local_addresses, &rcpt->literal, NULL, NULL)) {
			relay_set(out, rcpt, RELAY_ACCEPT_LOCAL, RELAY_REASON_LOCAL_LITERAL);
			return 0;
		}
	} else if (relay_domains_contains(&policy->domains, dom, strlen(dom))) {
		relay_set(out, rcpt, RELAY_ACCEPT_LOCAL, RELAY_REASON_LOCAL_DOMAIN);
		return 0;
	}

	/* 4. Foreign. */
	if (authed)
		relay_set(out, rcpt, RELAY_ACCEPT_RELAY, RELAY_REASON_AUTHENTICATED);
	else if (trusted)
		relay_set(out, rcpt, RELAY_ACCEPT_RELAY, RELAY_REASON_TRUSTED_NETWORK);
	else
		relay_set(out, rcpt, RELAY_REJECT,
		          literal ? RELAY_REASON_FOREIGN_LITERAL : RELAY_REASON_DENIED);
	return 0;
}

const char *relay_verdict_name(enum relay_verdict v)
{
	switch (v) {
	case RELAY_ACCEPT_LOCAL:
		return "accept_local";
	case RELAY_ACCEPT_RELAY:
		return "accept_relay";
	case RELAY_REJECT:
		return "reject";
	}
	panic("relay: verdict %d", (int)v);
}

const char *relay_reason_name(enum relay_reason r)
{
	static const char *const names[] = {
	    "local_domain", "local_literal",   "postmaster",   "authenticated", "trusted_network",
	    "denied",       "foreign_literal", "percent_hack", "bang_path",     "quoted_routing",
	    "source_route", "null_recipient",  "unqualified",  "empty_domain",  "numeric_domain",
	};
	if ((size_t)r >= sizeof names / sizeof names[0])
		panic("relay: reason %d", (int)r);
	return names[r];
}
