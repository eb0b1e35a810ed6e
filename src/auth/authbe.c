/*
 * authbe - the chain of password backends; see authbe.h.
 */
#include "auth/authbe.h"

#include "auth/dovecot.h"
#include "auth/ldapauth.h"
#include "core/log.h"
#include "core/str.h"

#include <string.h>

static const char *const authbe_names[AUTHBE_MAX] = {"file", "dovecot", "ldap"};

const char *authbe_kind_name(enum authbe_kind k)
{
	return (unsigned)k < AUTHBE_MAX ? authbe_names[k] : "?";
}

bool authbe_uses(const struct authbe_config *c, enum authbe_kind k)
{
	for (int i = 0; i < c->n; i++)
		if (c->order[i] == k)
			return true;
	return false;
}

int authbe_config_finish(struct authbe_config *c, char *err, size_t errlen)
{
	char tmp[sizeof c->backends];
	char *f[AUTHBE_MAX + 1];
	if (str_copy(tmp, sizeof tmp, c->backends) != 0)
		panic("authbe_config_finish: tmp does not fit");
	int n = str_split(tmp, " ,\t", f, AUTHBE_MAX);
	if (n <= 0) {
		str_format_trunc(err, errlen,
		                 "backends: one to three of file, dovecot, ldap, each once");
		return -1;
	}
	c->n = 0;
	for (int i = 0; i < n; i++) {
		int k = -1;
		for (int j = 0; j < AUTHBE_MAX; j++)
			if (strcmp(f[i], authbe_names[j]) == 0)
				k = j;
		if (k < 0 || authbe_uses(c, (enum authbe_kind)k)) {
			str_format_trunc(err, errlen,
			                 "backends: '%s' %s (expected file, dovecot, ldap)", f[i],
			                 k < 0 ? "is unknown" : "comes twice");
			return -1;
		}
		c->order[c->n++] = (enum authbe_kind)k;
	}
	if (authbe_uses(c, AUTHBE_DOVECOT) && !c->dovecot_socket[0]) {
		str_format_trunc(err, errlen, "backends has dovecot: set dovecot_socket");
		return -1;
	}
	if (authbe_uses(c, AUTHBE_LDAP)) {
		if (!c->ldap_uri[0] || !c->ldap_base[0] || !c->ldap_filter[0]) {
			str_format_trunc(
			    err, errlen,
			    "backends has ldap: set ldap_uri, ldap_base and ldap_filter");
			return -1;
		}
		if (strncmp(c->ldap_uri, "ldap://", 7) != 0 &&
		    strncmp(c->ldap_uri, "ldaps://", 8) != 0) {
			str_format_trunc(err, errlen,
			                 "ldap_uri: expected ldap://HOST or ldaps://HOST");
			return -1;
		}
		char probe[LDAPAUTH_FILTER_MAX];
		if (ldapauth_filter(c->ldap_filter, "user@example.org", probe, sizeof probe) != 0 ||
		    !strstr(c->ldap_filter, "%")) {
			str_format_trunc(
			    err, errlen,
			    "ldap_filter: needs %%u (or %%n, %%d) and only those and %%%%");
			return -1;
		}
	}
	return 0;
}

/* A name a backend gave is the identity only if it is one: printable, no
 * space, not empty; otherwise the login name stays. */
static void authbe_set_name(struct authbe_result *out, const char *given, const char *fallback)
{
	bool ok = given[0] != '\0';
	for (const char *p = given; ok && *p; p++)
		ok = (unsigned char)*p > 0x20 && *p != 0x7f;
	if (!ok || str_copy(out->name, sizeof out->name, given) != 0)
		if (str_copy(out->name, sizeof out->name, fallback) != 0)
			panic("authbe_set_name: the login name is at most USERDB_NAME_MAX");
}

static enum userdb_verdict authbe_dovecot(const struct authbe_request *req,
                                          struct authbe_result *out)
{
	char canon[DOVECOT_NAME_MAX + 1];
	const struct authbe_config *c = &req->conf;
	switch (dovecot_auth_plain(c->dovecot_socket, c->dovecot_service, c->timeout_ms, req->user,
	                           req->pw, req->pwlen, req->rip, canon, sizeof canon, out->why,
	                           sizeof out->why)) {
	case DOVECOT_OK:
		authbe_set_name(out, canon, req->user);
		return USERDB_OK;
	case DOVECOT_FAIL:
		return USERDB_BAD; /* final: Dovecot does not say "no such user" */
	case DOVECOT_DISABLED:
		return USERDB_DISABLED;
	default:
		return USERDB_UNAVAILABLE;
	}
}

static enum userdb_verdict authbe_ldap(const struct authbe_request *req, struct authbe_result *out)
{
	const struct authbe_config *c = &req->conf;
	struct ldapauth_conf lc = {
	    .uri = c->ldap_uri,
	    .starttls = c->ldap_starttls,
	    .ca_file = c->ldap_ca_file,
	    .base = c->ldap_base,
	    .filter = c->ldap_filter,
	    .bind_dn = c->ldap_bind_dn,
	    .bind_pw = c->ldap_bind_password,
	    .name_attr = c->ldap_name_attr,
	    .timeout_ms = c->timeout_ms,
	};
	char canon[USERDB_NAME_MAX + 1];
	switch (ldapauth_check(&lc, req->user, req->pw, req->pwlen, canon, sizeof canon, out->why,
	                       sizeof out->why)) {
	case LDAPAUTH_OK:
		authbe_set_name(out, canon, req->user);
		return USERDB_OK;
	case LDAPAUTH_BAD:
		return USERDB_BAD;
	case LDAPAUTH_UNKNOWN:
		return USERDB_UNKNOWN;
	default:
		return USERDB_UNAVAILABLE;
	}
}

void authbe_check(const struct authbe_request *req, struct authbe_result *out)
{
	memset(out, 0, sizeof *out);
	out->verdict = USERDB_UNKNOWN;
	for (int i = 0; i < req->conf.n; i++) {
		enum authbe_kind k = req->conf.order[i];
		enum userdb_verdict v;
		out->backend = k;
		out->why[0] = '\0';
		if (k == AUTHBE_FILE) {
			v = userdb_check(&req->cr, req->pw, req->pwlen);
			if (v == USERDB_OK)
				authbe_set_name(out, req->file_name, req->user);
		} else if (k == AUTHBE_DOVECOT) {
			v = authbe_dovecot(req, out);
		} else {
			v = authbe_ldap(req, out);
		}
		out->verdict = v;
		if (v != USERDB_UNKNOWN)
			return;
	}
}

void authbe_thread_end(void)
{
	dovecot_thread_end();
}
