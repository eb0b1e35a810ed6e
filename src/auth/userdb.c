/*
 * userdb - the account store; see userdb.h and docs/users.md.
 */
#include "auth/userdb.h"

#include "core/dname.h"
#include "core/fsutil.h"
#include "core/hash.h"
#include "core/htab.h"
#include "core/log.h"
#include "core/mailaddr.h"
#include "core/str.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int userdb_init(struct userdb *db, const char *path)
{
	memset(db, 0, sizeof *db);
	return str_copy(db->path, sizeof db->path, path ? path : USERDB_DEFAULT_PATH);
}

void userdb_free(struct userdb *db)
{
	if (db->users)
		passwd_wipe(db->users, db->cap * sizeof *db->users);
	free(db->users);
	htab_free(&db->index);
	db->users = NULL;
	db->index_of = NULL;
	db->count = db->cap = 0;
}

/* --- names ----------------------------------------------------------------- */

static bool userdb_is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static int userdb_fail(char *err, size_t errlen, const char *what)
{
	str_copy_trunc(err, errlen, what);
	return -1;
}

int userdb_name_normalize(const char *name, size_t len, char *out, size_t outsize, char *err,
                          size_t errlen)
{
	if (len == 0)
		return userdb_fail(err, errlen, "user name is empty");
	if (len > USERDB_NAME_MAX)
		return userdb_fail(err, errlen, "user name is longer than 320 characters");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f)
			return userdb_fail(err, errlen, "user name contains control characters");
		if (c == ':')
			return userdb_fail(err, errlen, "user name contains ':'");
		if (c >= 0x80)
			return userdb_fail(err, errlen, "user name is not ASCII");
	}
	const char *at = mailaddr_at_n(name, len);
	size_t llen = at ? (size_t)(at - name) : len;
	if (llen == 0)
		return userdb_fail(err, errlen, "user name has an empty local part");
	if (llen > USERDB_LOCAL_MAX)
		return userdb_fail(err, errlen,
		                   "user name local part is longer than 64 characters");
	if (name[0] == '.' || name[llen - 1] == '.')
		return userdb_fail(err, errlen, "user name local part starts or ends with '.'");
	for (size_t i = 0; i < llen; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '.') {
			if (name[i + 1] == '.')
				return userdb_fail(err, errlen, "user name local part has '..'");
			continue;
		}
		if (!userdb_is_atext(c))
			return userdb_fail(err, errlen,
			                   "user name local part has a character RFC 5321 does not "
			                   "allow unquoted");
	}
	if (name[0] == '#')
		return userdb_fail(err, errlen, "user name starts with '#'");
	if (at) {
		const char *dom = at + 1;
		size_t dlen = len - llen - 1;
		if (dlen == 0)
			return userdb_fail(err, errlen, "user name has an empty domain");
		enum dname_err de = dname_check(dom, dlen, 0, NULL, 0);
		if (de != DNAME_OK) {
			char why[96];
			str_format_trunc(why, sizeof why, "user name domain: %s",
			                 dname_strerror(de));
			return userdb_fail(err, errlen, why);
		}
	}
	if (str_copy_n(out, outsize, name, len) < 0)
		return userdb_fail(err, errlen, "user name too long");
	if (at)
		str_lower(out + llen + 1);
	return 0;
}

/* --- flags ----------------------------------------------------------------- */

static const struct {
	const char *name;
	unsigned flag;
} userdb_flag_names[] = {
    {"admin", USERDB_FLAG_ADMIN},
    {"disabled", USERDB_FLAG_DISABLED},
};

int userdb_flags_format(unsigned flags, char *out, size_t size)
{
	if (size == 0)
		return -1;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof userdb_flag_names / sizeof userdb_flag_names[0]; i++) {
		if (!(flags & userdb_flag_names[i].flag))
			continue;
		if ((out[0] && str_append(out, size, ",") < 0) ||
		    str_append(out, size, userdb_flag_names[i].name) < 0)
			return -1;
	}
	return 0;
}

int userdb_flags_parse(const char *s, size_t len, unsigned *out, char *err, size_t errlen)
{
	unsigned flags = 0;
	size_t i = 0;
	while (i < len) {
		size_t j = i;
		while (j < len && s[j] != ',')
			j++;
		bool known = false;
		for (size_t k = 0; k < sizeof userdb_flag_names / sizeof userdb_flag_names[0];
		     k++) {
			if (strlen(userdb_flag_names[k].name) == j - i &&
			    memcmp(userdb_flag_names[k].name, s + i, j - i) == 0) {
				flags |= userdb_flag_names[k].flag;
				known = true;
			}
		}
		if (!known) {
			char shown[64];
			str_sanitize(shown, sizeof shown, s + i, j - i);
			str_format_trunc(err, errlen, "unknown flag '%s' (known: admin, disabled)",
			                 shown);
			return -1;
		}
		i = j + 1;
	}
	*out = flags;
	return 0;
}

/* --- index ----------------------------------------------------------------- */

static uint64_t userdb_hash(const char *name)
{
	return hash_fnv1a64_str_lower(name);
}

static bool userdb_name_eq(const void *item, const void *key)
{
	return str_ieq(((const struct userdb_entry *)item)->name, key);
}

static void userdb_index_add(struct userdb *db, struct userdb_entry *e)
{
	if (htab_insert(&db->index, userdb_hash(e->name), e) != 0)
		fatal("userdb: index: out of memory");
}

static void userdb_reindex(struct userdb *db)
{
	htab_free(&db->index);
	if (htab_reserve(&db->index, db->count) != 0)
		fatal("userdb: index: out of memory");
	for (size_t i = 0; i < db->count; i++)
		userdb_index_add(db, &db->users[i]);
	db->index_of = db->users;
}

/* Indexes the last account pushed; all of them when the array moved. */
static void userdb_index_last(struct userdb *db)
{
	if (db->index_of != db->users)
		userdb_reindex(db);
	else
		userdb_index_add(db, &db->users[db->count - 1]);
}

struct userdb_entry *userdb_find(const struct userdb *db, const char *name)
{
	if (!name)
		return NULL;
	return htab_find(&db->index, userdb_hash(name), userdb_name_eq, name);
}

static int userdb_check_hash(const char *hash, size_t len, char *err, size_t errlen)
{
	if (len == 0)
		return userdb_fail(err, errlen, "empty password hash");
	if (len >= PASSWD_HASH_MAX)
		return userdb_fail(err, errlen, "password hash too long");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)hash[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("$=,+/.-", c)) ||
		    c == 0)
			return userdb_fail(err, errlen, "password hash has characters no hash has");
	}
	char tmp[PASSWD_HASH_MAX];
	if (str_copy_n(tmp, sizeof tmp, hash, len) != 0)
		panic("userdb_check_hash: len < PASSWD_HASH_MAX was checked above");
	struct passwd_cost c;
	if (strcmp(passwd_algorithm(tmp), "unknown") == 0)
		return userdb_fail(err, errlen,
		                   "password hash is not Argon2 (expected $argon2id$...)");
	if (passwd_cost_of_hash(tmp, &c) < 0)
		return userdb_fail(err, errlen, "password hash has no readable parameters");
	return 0;
}

static void userdb_push(struct userdb *db, const struct userdb_entry *e)
{
	if (db->count == db->cap) {
		size_t ncap = db->cap ? db->cap * 2 : 16;
		struct userdb_entry *n = xcalloc(ncap, sizeof *n);
		if (db->count)
			memcpy(n, db->users, db->count * sizeof *n);
		if (db->users)
			passwd_wipe(db->users, db->cap * sizeof *db->users);
		free(db->users);
		db->users = n;
		db->cap = ncap;
	}
	db->users[db->count++] = *e;
}

int userdb_add(struct userdb *db, const char *name, const char *hash, unsigned flags, char *err,
               size_t errlen)
{
	struct userdb_entry e;
	memset(&e, 0, sizeof e);
	if (userdb_name_normalize(name, strlen(name), e.name, sizeof e.name, err, errlen) < 0)
		return -1;
	if (userdb_check_hash(hash, strlen(hash), err, errlen) < 0)
		return -1;
	if (userdb_find(db, e.name)) {
		str_format_trunc(err, errlen, "user %s already exists", e.name);
		return -1;
	}
	if (str_copy(e.hash, sizeof e.hash, hash) != 0)
		panic("userdb_add: e.hash does not fit");
	e.flags = flags;
	userdb_push(db, &e);
	userdb_index_last(db);
	return 0;
}

int userdb_remove(struct userdb *db, const char *name)
{
	struct userdb_entry *e = userdb_find(db, name);
	if (!e)
		return -1;
	size_t i = (size_t)(e - db->users);
	memmove(&db->users[i], &db->users[i + 1], (db->count - i - 1) * sizeof *db->users);
	db->count--;
	passwd_wipe(&db->users[db->count], sizeof *db->users);
	userdb_reindex(db);
	return 0;
}

/* --- parse and format ------------------------------------------------------ */

static int userdb_parse_line(struct userdb *db, const char *line, size_t len,
                             struct userdb_entry *e, char *err, size_t errlen)
{
	for (size_t i = 0; i < len; i++) {
		if (line[i] == '\r')
			return userdb_fail(err, errlen, "carriage return (DOS line ending?)");
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			return userdb_fail(err, errlen, "control character");
	}
	const char *c1 = memchr(line, ':', len);
	if (!c1)
		return userdb_fail(err, errlen, "expected user:hash[:flags]");
	size_t nlen = (size_t)(c1 - line);
	const char *hash = c1 + 1;
	size_t rest = len - nlen - 1;
	const char *c2 = memchr(hash, ':', rest);
	size_t hlen = c2 ? (size_t)(c2 - hash) : rest;
	memset(e, 0, sizeof *e);
	if (userdb_name_normalize(line, nlen, e->name, sizeof e->name, err, errlen) < 0)
		return -1;
	if (userdb_check_hash(hash, hlen, err, errlen) < 0)
		return -1;
	if (str_copy_n(e->hash, sizeof e->hash, hash, hlen) != 0)
		panic("userdb_parse_line: e->hash does not fit");
	if (c2 && userdb_flags_parse(c2 + 1, rest - hlen - 1, &e->flags, err, errlen) < 0)
		return -1;
	if (userdb_find(db, e->name)) {
		str_format_trunc(err, errlen, "user %s appears twice", e->name);
		return -1;
	}
	return 0;
}

int userdb_parse(struct userdb *db, const char *data, size_t len, const char *fname, char *err,
                 size_t errlen)
{
	struct userdb tmp;
	char why[256];
	if (userdb_init(&tmp, db->path) < 0)
		return userdb_fail(err, errlen, "path too long");
	userdb_reindex(&tmp);
	size_t pos = 0;
	unsigned long lineno = 0;
	while (pos < len) {
		lineno++;
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t llen = nl ? (size_t)(nl - (data + pos)) : len - pos;
		const char *line = data + pos;
		pos += llen + (nl ? 1 : 0);
		if (llen > USERDB_LINE_MAX) {
			str_format_trunc(why, sizeof why, "line longer than %d bytes",
			                 USERDB_LINE_MAX);
			goto fail;
		}
		if (llen > 0 && line[0] == '#' && memchr(line, '\0', llen)) {
			str_copy_trunc(why, sizeof why, "NUL byte in a comment");
			goto fail;
		}
		if (llen == 0 || line[0] == '#')
			continue;
		struct userdb_entry e;
		if (userdb_parse_line(&tmp, line, llen, &e, why, sizeof why) < 0)
			goto fail;
		userdb_push(&tmp, &e);
		userdb_index_last(&tmp);
		passwd_wipe(&e, sizeof e);
	}
	tmp.file_mode = db->file_mode;
	userdb_free(db);
	*db = tmp;
	return 0;
fail:
	str_format_trunc(err, errlen, "%s:%lu: %s", fname ? fname : db->path, lineno, why);
	userdb_free(&tmp);
	return -1;
}

int userdb_format(const struct userdb *db, struct buf *out)
{
	if (buf_append_str(out, "# relayguard users: user:argon2id-hash[:flags]; edit with "
	                        "'relayguard user' (see docs/users.md)\n") < 0)
		return -1;
	for (size_t i = 0; i < db->count; i++) {
		const struct userdb_entry *e = &db->users[i];
		char flags[64];
		if (userdb_flags_format(e->flags, flags, sizeof flags) < 0)
			return -1;
		if (buf_printf(out, "%s:%s%s%s\n", e->name, e->hash, flags[0] ? ":" : "", flags) <
		    0)
			return -1;
	}
	return 0;
}

/* --- files ----------------------------------------------------------------- */

int userdb_load(struct userdb *db, char *err, size_t errlen)
{
	int fd = open(db->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT) {
			struct userdb empty;
			if (userdb_init(&empty, db->path) < 0)
				return userdb_fail(err, errlen, "path too long");
			userdb_free(db);
			*db = empty;
			return 0;
		}
		str_format_trunc(err, errlen, "%s: %s", db->path, strerror(errno));
		return -1;
	}
	struct stat st;
	char *data = NULL;
	size_t got = 0;
	int rc = -1;
	if (fstat(fd, &st) < 0) {
		str_format_trunc(err, errlen, "%s: %s", db->path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		str_format_trunc(err, errlen, "%s: not a regular file", db->path);
		goto out;
	}
	if ((uint64_t)st.st_size > USERDB_FILE_MAX) {
		str_format_trunc(err, errlen, "%s: larger than %u bytes", db->path,
		                 USERDB_FILE_MAX);
		goto out;
	}
	data = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			str_format_trunc(err, errlen, "%s: %s", db->path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	rc = userdb_parse(db, data, got, db->path, err, errlen);
	if (rc == 0)
		db->file_mode = (unsigned)(st.st_mode & 07777);
out:
	if (data) {
		passwd_wipe(data, (size_t)st.st_size + 1);
		free(data);
	}
	close(fd);
	return rc;
}

static int userdb_mkdir_parent(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	if (fsutil_dirname(path, dir, sizeof dir) < 0)
		return userdb_fail(err, errlen, "path too long");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		str_format_trunc(err, errlen, "%s: mkdir: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

int userdb_save(const struct userdb *db, char *err, size_t errlen)
{
	struct buf b;
	buf_init(&b, USERDB_FILE_MAX);
	int rc = -1;
	if (userdb_format(db, &b) < 0) {
		(void)userdb_fail(err, errlen, "user file would be too large");
		goto out;
	}
	if (userdb_mkdir_parent(db->path, err, errlen) < 0)
		goto out;
	rc = fsutil_write_atomic(db->path, b.data ? b.data : "", b.len, 0600, err, errlen);
out:
	if (b.data)
		passwd_wipe(b.data, b.len);
	buf_free(&b);
	return rc;
}

int userdb_lock(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	if (userdb_mkdir_parent(path, err, errlen) < 0)
		return -1;
	if (fsutil_dirname(path, dir, sizeof dir) < 0)
		return userdb_fail(err, errlen, "path too long");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		str_format_trunc(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		str_format_trunc(err, errlen, "%s: lock: %s", dir, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

void userdb_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

/* --- verification ---------------------------------------------------------- */

int userdb_dummy_cost(const struct userdb *db, struct passwd_cost *cost)
{
	char err[128];
	(void)db; /* not the first account's cost: whoever wrote that line chose it */
	return passwd_cost_from_env(cost, err, sizeof err);
}

int userdb_prepare(const struct userdb *db)
{
	struct passwd_cost cost;
	if (userdb_dummy_cost(db, &cost) < 0)
		return -1;
	return passwd_dummy_prepare(&cost);
}

int userdb_lookup(const struct userdb *db, const char *user, struct userdb_cred *out)
{
	memset(out, 0, sizeof *out);
	const struct userdb_entry *e = user ? userdb_find(db, user) : NULL;
	if (e) {
		out->known = true;
		out->flags = e->flags;
		return str_copy(out->hash, sizeof out->hash, e->hash);
	}
	/* Same work as for a real account: a dummy hash of the same cost. */
	return userdb_dummy_cost(db, &out->dummy_cost);
}

bool userdb_cred_usable(const struct userdb_cred *cr, size_t pwlen)
{
	if (!cr->known)
		return pwlen <= PASSWD_PLAIN_MAX;
	return passwd_verify_check(cr->hash, pwlen) == 0;
}

enum userdb_verdict userdb_check(const struct userdb_cred *cr, const char *pw, size_t pwlen)
{
	if (!cr->known)
		return passwd_verify_dummy(&cr->dummy_cost, pw, pwlen) == PASSWD_ERROR
		           ? USERDB_ERROR
		           : USERDB_UNKNOWN;
	switch (passwd_verify(cr->hash, pw, pwlen)) {
	case PASSWD_OK:
		return (cr->flags & USERDB_FLAG_DISABLED) ? USERDB_DISABLED : USERDB_OK;
	case PASSWD_MISMATCH:
		return USERDB_BAD;
	default:
		return USERDB_ERROR;
	}
}

enum userdb_verdict userdb_verify(const struct userdb *db, const char *user, const char *pw,
                                  size_t pwlen)
{
	struct userdb_cred cr;
	if (userdb_lookup(db, user, &cr) != 0)
		return USERDB_ERROR;
	return userdb_check(&cr, pw, pwlen);
}

const char *userdb_verdict_name(enum userdb_verdict v)
{
	switch (v) {
	case USERDB_OK:
		return "ok";
	case USERDB_BAD:
		return "bad password";
	case USERDB_UNKNOWN:
		return "unknown user";
	case USERDB_DISABLED:
		return "disabled";
	case USERDB_UNAVAILABLE:
		return "backend unavailable";
	case USERDB_ERROR:
		break;
	}
	return "error";
}
