/*
 * privdrop - see privdrop.h.
 */
#include "core/privdrop.h"

#include "core/str.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int privdrop_lookup(const char *name, struct privdrop_user *out, char *err, size_t errlen)
{
	char buf[4096];
	struct passwd pw, *res = NULL;
	memset(out, 0, sizeof *out);
	if (str_copy(out->name, sizeof out->name, name) != 0) {
		str_format_trunc(err, errlen, "user name '%s' too long", name);
		return -1;
	}
	int e = getpwnam_r(name, &pw, buf, sizeof buf, &res);
	if (e != 0 && e != ENOENT && e != ESRCH) {
		str_format_trunc(err, errlen, "cannot look up user %s: %s", name, strerror(e));
		return -1;
	}
	if (!res)
		return 0;
	out->uid = pw.pw_uid;
	out->gid = pw.pw_gid;
	return 1;
}

/* nftw has no user pointer: one walk at a time (start-up, one thread). */
static const struct privdrop_user *privdrop_walk_user;
static char privdrop_walk_err[600];

static int privdrop_walk(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	const struct privdrop_user *u = privdrop_walk_user;
	if (st->st_uid == u->uid && st->st_gid == u->gid)
		return 0;
	if (lchown(path, u->uid, u->gid) != 0) {
		str_format_trunc(privdrop_walk_err, sizeof privdrop_walk_err,
		                 "cannot give %s to %s: %s", path, u->name, strerror(errno));
		return 1;
	}
	return 0;
}

int privdrop_chown_tree(const char *dir, const struct privdrop_user *u, char *err, size_t errlen)
{
	privdrop_walk_user = u;
	privdrop_walk_err[0] = '\0';
	int rc = nftw(dir, privdrop_walk, 32, FTW_PHYS | FTW_MOUNT);
	if (rc != 0) {
		if (privdrop_walk_err[0])
			str_copy_trunc(err, errlen, privdrop_walk_err);
		else
			str_format_trunc(err, errlen, "cannot walk %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* Permitted and effective capability sets from /proc/self/status: both must
 * be 0. 0, or -1 when a capability is left or the file cannot be read. */
static int privdrop_no_caps(char *err, size_t errlen)
{
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		return 0; /* no /proc: the uid checks above are what we have */
	char line[256];
	int bad = 0;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "CapPrm:", 7) != 0 && strncmp(line, "CapEff:", 7) != 0)
			continue;
		if (strtoull(line + 7, NULL, 16) != 0)
			bad = 1;
	}
	fclose(f);
	if (bad) {
		str_format_trunc(err, errlen, "capabilities are left after dropping root");
		return -1;
	}
	return 0;
}

int privdrop_to(const struct privdrop_user *u, char *err, size_t errlen)
{
	if (u->uid == 0) {
		str_format_trunc(err, errlen, "user %s is root: nothing to drop to", u->name);
		return -1;
	}
	if (setgroups(1, &u->gid) != 0 || setgid(u->gid) != 0 || setuid(u->uid) != 0) {
		str_format_trunc(err, errlen, "cannot become user %s (uid %u, gid %u): %s", u->name,
		                 (unsigned)u->uid, (unsigned)u->gid, strerror(errno));
		return -1;
	}
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 || ru != u->uid ||
	    eu != u->uid || su != u->uid || rg != u->gid || eg != u->gid || sg != u->gid) {
		str_format_trunc(err, errlen, "user and group ids are not all %s's after setuid",
		                 u->name);
		return -1;
	}
	if (setuid(0) == 0 || seteuid(0) == 0 || (u->gid != 0 && setgid(0) == 0)) {
		str_format_trunc(err, errlen, "root could be taken back after becoming %s",
		                 u->name);
		return -1;
	}
	return privdrop_no_caps(err, errlen);
}
