/*
 * privdrop - giving up root once the privileged work is done (Postfix's
 * set_ugid, OpenSMTPD's privsep start): the listeners are bound and the TLS
 * keys read as root, the state and spool handed to the service user, then
 * setgroups/setgid/setuid to that user, and a check that root cannot come
 * back (setuid(0) must fail; permitted and effective capabilities are empty).
 */
#ifndef RG_CORE_PRIVDROP_H
#define RG_CORE_PRIVDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/attr.h"

struct privdrop_user {
	char name[64];
	uid_t uid;
	gid_t gid;
};

/* The account name: 1 found, 0 no such user, -1 error (err says why). */
int privdrop_lookup(const char *name, struct privdrop_user *out, char *err, size_t errlen);
/* Hands dir and everything under it (not following symbolic links) to u,
 * changing only what another user owns. 0 or -1 (err says which path). */
int privdrop_chown_tree(const char *dir, const struct privdrop_user *u, char *err,
                        size_t errlen) RG_WUR;
/* setgroups(1, gid), setgid, setuid; then checks that every uid and gid is
 * u's, that setuid(0) fails and that no capability is left. 0 or -1. */
int privdrop_to(const struct privdrop_user *u, char *err, size_t errlen);

#endif
