/*
 * ldapauth - LDAP simple bind through libldap; see ldapauth.h.
 */
#include "auth/ldapauth.h"

#include "core/mailaddr.h"
#include "core/str.h"

#include <ldap.h>
#include <string.h>
#include <sys/time.h>

int ldapauth_escape(const char *value, size_t len, char *out, size_t outsize)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)value[i];
		bool esc =
		    ch == '*' || ch == '(' || ch == ')' || ch == '\\' || ch < 0x20 || ch == 0x7f;
		size_t need = esc ? 3 : 1;
		if (o + need >= outsize)
			return -1;
		if (esc) {
			out[o++] = '\\';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		} else {
			out[o++] = (char)ch;
		}
	}
	if (outsize == 0)
		return -1;
	out[o] = '\0';
	return 0;
}

int ldapauth_filter(const char *tmpl, const char *user, char *out, size_t outsize)
{
	const char *at = mailaddr_at(user);
	size_t ulen = strlen(user);
	size_t llen = at ? (size_t)(at - user) : ulen;
	const char *dom = at ? at + 1 : "";
	size_t o = 0;
	if (outsize == 0)
		return -1;
	out[0] = '\0';
	for (const char *p = tmpl; *p; p++) {
		if (*p != '%') {
			if (o + 1 >= outsize)
				return -1;
			out[o++] = *p;
			out[o] = '\0';
			continue;
		}
		p++;
		const char *v;
		size_t vlen;
		if (*p == 'u') {
			v = user, vlen = ulen;
		} else if (*p == 'n') {
			v = user, vlen = llen;
		} else if (*p == 'd') {
			v = dom, vlen = strlen(dom);
		} else if (*p == '%') {
			v = "%", vlen = 1;
			if (o + 1 >= outsize)
				return -1;
			out[o++] = '%';
			out[o] = '\0';
			continue;
		} else {
			return -1;
		}
		if (ldapauth_escape(v, vlen, out + o, outsize - o) != 0)
			return -1;
		o += strlen(out + o);
	}
	return 0;
}

/* A libldap result code as the verdict it gives: only invalidCredentials
 * says the password is wrong; everything else is no answer. */
static enum ldapauth_result ldapauth_bind_result(int rc)
{
	return rc == LDAP_SUCCESS               ? LDAPAUTH_OK
	       : rc == LDAP_INVALID_CREDENTIALS ? LDAPAUTH_BAD
	                                        : LDAPAUTH_TEMP;
}

static int ldapauth_bind(LDAP *ld, const char *dn, const char *pw, size_t pwlen)
{
	struct berval cred = {.bv_len = pwlen, .bv_val = (char *)pw};
	return ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
}

/* A handle for conf with every option set; NULL with why. */
static LDAP *ldapauth_open(const struct ldapauth_conf *conf, char *why, size_t whylen)
{
	LDAP *ld = NULL;
	int rc = ldap_initialize(&ld, conf->uri);
	if (rc != LDAP_SUCCESS || !ld) {
		str_format_trunc(why, whylen, "ldap_uri %s: %s", conf->uri, ldap_err2string(rc));
		return NULL;
	}
	int v3 = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND, zero = 0;
	struct timeval tv = {.tv_sec = (time_t)(conf->timeout_ms / 1000),
	                     .tv_usec = (suseconds_t)(conf->timeout_ms % 1000) * 1000};
	if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand) != LDAP_OPT_SUCCESS ||
	    (conf->ca_file[0] &&
	     ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, conf->ca_file) != LDAP_OPT_SUCCESS) ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero) != LDAP_OPT_SUCCESS) {
		str_format_trunc(why, whylen, "cannot set the LDAP options (TLS: ldap_ca_file %s)",
		                 conf->ca_file[0] ? conf->ca_file : "(system)");
		ldap_unbind_ext_s(ld, NULL, NULL);
		return NULL;
	}
	if (conf->starttls && strncmp(conf->uri, "ldap://", 7) == 0) { /* ldaps: TLS already */
		rc = ldap_start_tls_s(ld, NULL, NULL);
		if (rc != LDAP_SUCCESS) {
			str_format_trunc(why, whylen, "StartTLS: %s", ldap_err2string(rc));
			ldap_unbind_ext_s(ld, NULL, NULL);
			return NULL;
		}
	}
	return ld;
}

enum ldapauth_result ldapauth_check(const struct ldapauth_conf *conf, const char *user,
                                    const char *pw, size_t pwlen, char *canon, size_t canonsize,
                                    char *why, size_t whylen)
{
	why[0] = '\0';
	if (pwlen == 0 || !user[0]) {
		/* An empty password would be an unauthenticated bind: it succeeds. */
		str_format_trunc(why, whylen, "empty %s", pwlen == 0 ? "password" : "user name");
		return LDAPAUTH_BAD;
	}
	char filter[LDAPAUTH_FILTER_MAX];
	if (ldapauth_filter(conf->filter, user, filter, sizeof filter) != 0) {
		str_format_trunc(why, whylen, "ldap_filter too long for this user name");
		return LDAPAUTH_BAD;
	}
	LDAP *ld = ldapauth_open(conf, why, whylen);
	if (!ld)
		return LDAPAUTH_TEMP;
	enum ldapauth_result res = LDAPAUTH_TEMP;
	LDAPMessage *msg = NULL;
	char *dn = NULL;
	struct berval **vals = NULL;
	int rc;
	if (conf->bind_dn[0]) {
		rc = ldapauth_bind(ld, conf->bind_dn, conf->bind_pw, strlen(conf->bind_pw));
		if (rc != LDAP_SUCCESS) {
			/* our own account refused is no verdict on the user's password */
			str_format_trunc(why, whylen, "bind as ldap_bind_dn: %s",
			                 ldap_err2string(rc));
			goto out;
		}
	}
	char *attrs[] = {conf->name_attr[0] ? (char *)conf->name_attr : (char *)LDAP_NO_ATTRS,
	                 NULL};
	struct timeval tv = {.tv_sec = (time_t)(conf->timeout_ms / 1000),
	                     .tv_usec = (suseconds_t)(conf->timeout_ms % 1000) * 1000};
	rc = ldap_search_ext_s(ld, conf->base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL, NULL,
	                       &tv, 2, &msg);
	int n = msg ? ldap_count_entries(ld, msg) : 0;
	if (rc == LDAP_SIZELIMIT_EXCEEDED || n > 1) {
		str_format_trunc(why, whylen, "ldap_filter matches more than one entry");
		goto out;
	}
	if (rc != LDAP_SUCCESS) {
		str_format_trunc(why, whylen, "search: %s", ldap_err2string(rc));
		goto out;
	}
	if (n == 0) {
		str_format_trunc(why, whylen, "no LDAP entry matches");
		res = LDAPAUTH_UNKNOWN;
		goto out;
	}
	LDAPMessage *e = ldap_first_entry(ld, msg);
	dn = e ? ldap_get_dn(ld, e) : NULL;
	if (!dn || !dn[0]) {
		str_format_trunc(why, whylen, "entry without a DN");
		goto out;
	}
	const char *name = user;
	char namebuf[512];
	if (conf->name_attr[0]) {
		vals = ldap_get_values_len(ld, e, conf->name_attr);
		if (vals && vals[0] && vals[0]->bv_len > 0 &&
		    str_copy_n(namebuf, sizeof namebuf, vals[0]->bv_val, vals[0]->bv_len) == 0 &&
		    strlen(namebuf) == vals[0]->bv_len)
			name = namebuf;
	}
	rc = ldapauth_bind(ld, dn, pw, pwlen);
	res = ldapauth_bind_result(rc);
	if (res == LDAPAUTH_OK) {
		if (str_copy(canon, canonsize, name) != 0) {
			str_format_trunc(why, whylen, "account name too long");
			res = LDAPAUTH_TEMP;
		}
	} else {
		str_format_trunc(why, whylen, "bind as the user's DN: %s", ldap_err2string(rc));
	}
out:
	if (vals)
		ldap_value_free_len(vals);
	if (dn)
		ldap_memfree(dn);
	if (msg)
		ldap_msgfree(msg);
	ldap_unbind_ext_s(ld, NULL, NULL);
	return res;
}
