/*
 * ldapauth - password check by LDAP simple bind (RFC 4513 5.1.3) through
 * libldap: Active Directory, OpenLDAP, anything that binds.
 *
 * Search, then bind: connect (ldap:// with StartTLS, or ldaps://), bind as
 * bind_dn (or anonymously), search base with the filter in which %u is the
 * login name, %n its local part and %d its domain, each escaped as RFC 4515
 * says; exactly one entry must match; then bind as that entry's DN with the
 * password. The entry's name_attr (uid, userPrincipalName, ...) is the
 * account's name from then on. No entry: the user is unknown to LDAP (the
 * next backend is asked); two or more: a configuration error (temporary).
 *
 * An empty password is refused before any bind: to an LDAP server an empty
 * password is an anonymous bind, which succeeds (RFC 4513 5.1.2).
 * Every operation is bounded by LDAP_OPT_NETWORK_TIMEOUT and LDAP_OPT_TIMEOUT;
 * a server down, slow or answering anything but success or
 * invalidCredentials is a temporary failure, never a wrong password.
 * Blocking: for authpool workers; one connection per check.
 */
#ifndef RG_AUTH_LDAPAUTH_H
#define RG_AUTH_LDAPAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LDAPAUTH_FILTER_MAX 1024

struct ldapauth_conf {
	const char *uri;     /* ldap://host[:port] or ldaps://host[:port], space-separated list */
	bool starttls;       /* ldap://: StartTLS before anything else, required */
	const char *ca_file; /* PEM CAs for the server's certificate ("" : the system's) */
	const char *base;    /* search base */
	const char *filter;  /* with %u, %n, %d, %% */
	const char *bind_dn; /* "" : search anonymously */
	const char *bind_pw;
	const char *name_attr; /* "" : the login name as given */
	uint64_t timeout_ms;
};

enum ldapauth_result {
	LDAPAUTH_OK = 0,
	LDAPAUTH_BAD,     /* the bind was refused: invalid credentials */
	LDAPAUTH_UNKNOWN, /* no entry matched */
	LDAPAUTH_TEMP,    /* no answer, or one that is no verdict on the password */
};

/* Escapes value for an RFC 4515 filter: '*', '(', ')', '\\', NUL and the
 * control characters as \XX. 0, or -1 when out (outsize) is too small. */
int ldapauth_escape(const char *value, size_t len, char *out, size_t outsize);
/* The filter for user: tmpl with %u, %n, %d escaped and %% a '%'. 0, or -1
 * (a '%' before anything else, or too long). */
int ldapauth_filter(const char *tmpl, const char *user, char *out, size_t outsize);

/* Checks user's password. canon gets the account's name on LDAPAUTH_OK, why
 * a reason for the log otherwise. */
enum ldapauth_result ldapauth_check(const struct ldapauth_conf *conf, const char *user,
                                    const char *pw, size_t pwlen, char *canon, size_t canonsize,
                                    char *why, size_t whylen);

#endif
