/*
 * cli_user - "relayguard user": the accounts that may authenticate.
 *
 *   user add [--admin] [--file PATH] [--password-stdin] [--min-length N] USER
 *   user passwd [--file PATH] [--password-stdin] [--min-length N] USER
 *   user del [--file PATH] USER
 *   user disable|enable [--file PATH] USER
 *   user list [--file PATH] [--json]
 *   user check [--file PATH] [--password-stdin] USER
 *
 * Passwords are hashed with Argon2id (auth/passwd) after the strength policy
 * (auth/strength) accepts them; there is deliberately no way to bypass the
 * policy. The file (auth/userdb) is rewritten atomically under a lock, so two
 * admins at once lose nothing. Plain text is wiped after use and never printed.
 */
#include "cli/cli.h"

#include "auth/passwd.h"
#include "auth/strength.h"
#include "auth/userdb.h"
#include "core/log.h"
#include "core/str.h"
#include "gateway/gwconf.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define CLI_USER "user"

static const char cli_user_help[] =
    "usage: relayguard user ACTION [OPTIONS] [USER]\n"
    "\n"
    "Manages the accounts that may authenticate to the gateway (SMTP AUTH).\n"
    "Passwords are stored as Argon2id hashes and must pass the strength policy\n"
    "(docs/users.md): at least 10 characters, not the user name, not a common\n"
    "password, not a sequence. There is no option to store a weak password.\n"
    "\n"
    "Actions:\n"
    "  add USER       create an account (asks for the password twice)\n"
    "  passwd USER    set a new password\n"
    "  del USER       remove an account\n"
    "  disable USER   refuse logins without removing the account\n"
    "  enable USER    allow logins again\n"
    "  list           names, flags and hash algorithm (never the hashes)\n"
    "  check USER     verify a password: exit 0 if it matches, 1 if not\n"
    "\n"
    "Options:\n"
    "  --file PATH        user file (default: the one --config names, else\n"
    "                     $RELAYGUARD_USERS, else the installed configuration's,\n"
    "                     else ./var/users)\n"
    "  --config FILE      the gateway configuration whose [gateway] users file to use\n"
    "  --password-stdin   read the password as one line from standard input\n"
    "  --admin            (add) the account is an administrator\n"
    "  --min-length N     (add, passwd) raise the minimum length above 10\n"
    "  --cost LEVEL       Argon2id cost: min, interactive, default, moderate,\n"
    "                     sensitive or t=N,m=SIZE (default $RELAYGUARD_ARGON2,\n"
    "                     else 'default': t=3, m=128 MiB)\n"
    "  --json             (list) print JSON\n"
    "  --help             this text\n"
    "\n"
    "USER is a login name or local@domain. Exit: 0 done, 1 check did not match,\n"
    "2 usage error, weak password or bad file.\n";

struct cli_user_opts {
	const char *action;
	const char *file;
	const char *user;
	const char *cost_name;
	bool password_stdin;
	bool admin;
	bool json;
	size_t min_length;
	char conf_users[512]; /* the users file a gateway configuration names */
};

/* The users file of a gateway configuration into o. 0 or -1 (said). */
static int cli_user_from_config(struct cli_user_opts *o, const char *config)
{
	char err[512];
	struct gw_config *c = malloc(sizeof *c);
	if (!c || gwconf_load(c, config, err, sizeof err) != 0) {
		cli_error(CLI_USER, "%s", c ? err : "out of memory");
		free(c);
		return -1;
	}
	int rc = str_copy(o->conf_users, sizeof o->conf_users, c->users_file);
	gwconf_free(c);
	free(c);
	if (rc != 0) {
		cli_error(CLI_USER, "users file name too long");
		return -1;
	}
	o->file = o->conf_users;
	return 0;
}

static int cli_user_parse(int argc, char **argv, struct cli_user_opts *o)
{
	memset(o, 0, sizeof *o);
	o->action = argv[1];
	o->min_length = STRENGTH_MIN_LENGTH_DEFAULT;
	const char *env = getenv("RELAYGUARD_USERS");
	o->file = env && *env ? env : USERDB_DEFAULT_PATH;
	const char *config = NULL;
	bool file_given = false;
	bool only_args = false;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (!only_args && a[0] == '-' && a[1] != '\0') {
			if (strcmp(a, "--") == 0) {
				only_args = true;
			} else if (strcmp(a, "--password-stdin") == 0) {
				o->password_stdin = true;
			} else if (strcmp(a, "--admin") == 0) {
				o->admin = true;
			} else if (strcmp(a, "--json") == 0) {
				o->json = true;
			} else if (strcmp(a, "--file") == 0 || strcmp(a, "--min-length") == 0 ||
			           strcmp(a, "--cost") == 0 || strcmp(a, "--config") == 0) {
				if (i + 1 >= argc) {
					cli_error(CLI_USER, "%s needs a value", a);
					return -1;
				}
				const char *v = argv[++i];
				if (strcmp(a, "--file") == 0) {
					o->file = v;
					file_given = true;
				} else if (strcmp(a, "--config") == 0) {
					config = v;
				} else if (strcmp(a, "--cost") == 0) {
					o->cost_name = v;
				} else {
					uint64_t n;
					if (str_to_u64(v, strlen(v), 0, STRENGTH_MIN_LENGTH_MAX,
					               &n) < 0 ||
					    n < STRENGTH_MIN_LENGTH_DEFAULT) {
						cli_error(
						    CLI_USER,
						    "--min-length must be a number from %d to %d "
						    "(it can only raise the minimum)",
						    STRENGTH_MIN_LENGTH_DEFAULT,
						    STRENGTH_MIN_LENGTH_MAX);
						return -1;
					}
					o->min_length = (size_t)n;
				}
			} else {
				cli_error(CLI_USER,
				          "unknown option %s (see relayguard user --help)", a);
				return -1;
			}
			continue;
		}
		if (o->user) {
			cli_error(CLI_USER, "only one USER may be given (extra argument '%s')", a);
			return -1;
		}
		o->user = a;
	}
	/* --file, else --config's users file, else $RELAYGUARD_USERS, else the
	 * installed configuration's, else ./var/users. */
	if (!file_given && !(env && *env && !config))
		config = cli_config_path(config);
	if (!file_given && config && cli_user_from_config(o, config) != 0)
		return -1;
	if (!*o->file) {
		cli_error(CLI_USER, "empty --file");
		return -1;
	}
	return 0;
}

/* One line from stdin into out (without the line end). 0, or -1 with a reason. */
static int cli_user_read_line(char *out, size_t size, size_t *len, const char **why)
{
	size_t n = 0;
	int c;
	bool any = false;
	while ((c = fgetc(stdin)) != EOF) {
		any = true;
		if (c == '\n')
			break;
		if (n + 1 >= size) {
			*why = "password is longer than 1024 bytes";
			/* drain the rest of the line so nothing else reads it */
			while ((c = fgetc(stdin)) != EOF && c != '\n')
				;
			return -1;
		}
		out[n++] = (char)c;
	}
	if (!any) {
		*why = "no password on standard input";
		return -1;
	}
	if (n > 0 && out[n - 1] == '\r')
		n--;
	out[n] = '\0';
	*len = n;
	return 0;
}

/* Reads a password from the terminal with echo off. */
static int cli_user_read_tty(const char *prompt, char *out, size_t size, size_t *len,
                             const char **why)
{
	struct termios old, quiet;
	if (tcgetattr(STDIN_FILENO, &old) < 0) {
		*why = "cannot read the terminal settings";
		return -1;
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	fputs(prompt, stderr);
	fflush(stderr);
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) < 0) {
		*why = "cannot turn terminal echo off";
		return -1;
	}
	int rc = cli_user_read_line(out, size, len, why);
	(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	return rc;
}

/* The password: one line of stdin with --password-stdin, else from the terminal
 * (twice when confirm). out holds PASSWD_PLAIN_MAX + 2 bytes. */
static int cli_user_get_password(const struct cli_user_opts *o, bool confirm, char *out,
                                 size_t size, size_t *len)
{
	const char *why = NULL;
	if (o->password_stdin) {
		if (cli_user_read_line(out, size, len, &why) == 0)
			return 0;
		cli_error(CLI_USER, "%s", why);
		return -1;
	}
	if (!isatty(STDIN_FILENO)) {
		cli_error(CLI_USER, "standard input is not a terminal: use --password-stdin");
		return -1;
	}
	if (cli_user_read_tty("Password: ", out, size, len, &why) < 0) {
		cli_error(CLI_USER, "%s", why);
		return -1;
	}
	if (!confirm)
		return 0;
	char again[PASSWD_PLAIN_MAX + 2];
	size_t alen = 0;
	int rc = 0;
	if (cli_user_read_tty("Again: ", again, sizeof again, &alen, &why) < 0) {
		cli_error(CLI_USER, "%s", why);
		rc = -1;
	} else if (!passwd_equal(out, *len, again, alen)) {
		cli_error(CLI_USER, "the two passwords differ; nothing changed");
		rc = -1;
	}
	passwd_wipe(again, sizeof again);
	return rc;
}

static int cli_user_load(struct userdb *db, const char *file)
{
	char err[512];
	if (userdb_init(db, file) < 0) {
		cli_error(CLI_USER, "%s: path too long", file);
		return -1;
	}
	if (userdb_load(db, err, sizeof err) < 0) {
		cli_error(CLI_USER, "%s", err);
		userdb_free(db);
		return -1;
	}
	if (db->file_mode & 077)
		cli_error(CLI_USER,
		          "warning: %s is readable or writable by others (mode %04o); the next "
		          "change rewrites it with mode 0600",
		          file, db->file_mode);
	return 0;
}

static int cli_user_cost(const struct cli_user_opts *o, struct passwd_cost *cost)
{
	char err[256];
	int rc = o->cost_name ? passwd_cost_parse(o->cost_name, cost, err, sizeof err)
	                      : passwd_cost_from_env(cost, err, sizeof err);
	if (rc < 0)
		cli_error(CLI_USER, "%s", err);
	return rc;
}

static int cli_user_need_user(const struct cli_user_opts *o, char *norm, size_t size)
{
	char err[256];
	if (!o->user) {
		cli_error(CLI_USER, "%s needs a USER (see relayguard user --help)", o->action);
		return -1;
	}
	if (userdb_name_normalize(o->user, strlen(o->user), norm, size, err, sizeof err) < 0) {
		cli_error(CLI_USER, "%s", err);
		return -1;
	}
	return 0;
}

/* Reads, checks and hashes a new password for user. 0, or an exit code. */
static int cli_user_new_hash(const struct cli_user_opts *o, const char *user, const char *old_hash,
                             char *hash, size_t hashsize)
{
	struct passwd_cost cost;
	char pw[PASSWD_PLAIN_MAX + 2];
	char why[256];
	char err[512];
	size_t len = 0;
	int rc = CLI_EXIT_USAGE;

	if (cli_user_cost(o, &cost) < 0 || passwd_init() < 0)
		return CLI_EXIT_USAGE;
	if (strength_common_load_default(NULL, 0, err, sizeof err) < 0) {
		cli_error(CLI_USER, "%s", err);
		return CLI_EXIT_USAGE;
	}
	if (cli_user_get_password(o, true, pw, sizeof pw, &len) < 0)
		goto out;
	struct strength_policy pol;
	strength_policy_init(&pol);
	pol.min_length = o->min_length;
	if (strength_check(&pol, user, pw, len, why, sizeof why) < 0) {
		cli_error(CLI_USER, "%s", why);
		goto out;
	}
	if (old_hash && passwd_verify(old_hash, pw, len) == PASSWD_OK) {
		cli_error(CLI_USER, "password is the same as the current one");
		goto out;
	}
	if (passwd_hash(&cost, pw, len, hash, hashsize) < 0) {
		cli_error(CLI_USER, "hashing failed (out of memory for the Argon2 cost?)");
		goto out;
	}
	rc = CLI_EXIT_OK;
out:
	passwd_wipe(pw, sizeof pw);
	return rc;
}

enum cli_user_change {
	CLI_USER_ADD,
	CLI_USER_PASSWD,
	CLI_USER_DEL,
	CLI_USER_DISABLE,
	CLI_USER_ENABLE
};

/* Locks, reloads, applies one change, saves. 0 or an exit code. */
static int cli_user_commit(const char *file, enum cli_user_change what, const char *user,
                           const char *hash, unsigned flags)
{
	char err[512];
	struct userdb db;
	int rc = CLI_EXIT_USAGE;
	int lock = userdb_lock(file, err, sizeof err);
	if (lock < 0) {
		cli_error(CLI_USER, "%s", err);
		return CLI_EXIT_USAGE;
	}
	if (cli_user_load(&db, file) < 0) {
		userdb_unlock(lock);
		return CLI_EXIT_USAGE;
	}
	struct userdb_entry *e = userdb_find(&db, user);
	if (what == CLI_USER_ADD) {
		if (userdb_add(&db, user, hash, flags, err, sizeof err) < 0) {
			cli_error(CLI_USER, "%s", err);
			goto out;
		}
	} else if (!e) {
		cli_error(CLI_USER, "no user %s in %s", user, file);
		goto out;
	} else if (what == CLI_USER_PASSWD) {
		if (str_copy(e->hash, sizeof e->hash, hash) < 0)
			goto out;
	} else if (what == CLI_USER_DEL) {
		if (userdb_remove(&db, user) < 0)
			goto out;
	} else if (what == CLI_USER_DISABLE) {
		e->flags |= USERDB_FLAG_DISABLED;
	} else {
		e->flags &= ~(unsigned)USERDB_FLAG_DISABLED;
	}
	if (userdb_save(&db, err, sizeof err) < 0) {
		cli_error(CLI_USER, "%s", err);
		goto out;
	}
	rc = CLI_EXIT_OK;
out:
	userdb_free(&db);
	userdb_unlock(lock);
	return rc;
}

static int cli_user_add_or_passwd(const struct cli_user_opts *o, bool add)
{
	char user[USERDB_NAME_MAX + 1];
	char hash[PASSWD_HASH_MAX];
	char old[PASSWD_HASH_MAX] = "";
	struct userdb db;
	if (cli_user_need_user(o, user, sizeof user) < 0)
		return CLI_EXIT_USAGE;
	/* Fail fast, before asking for a password; checked again under the lock. */
	if (cli_user_load(&db, o->file) < 0)
		return CLI_EXIT_USAGE;
	const struct userdb_entry *e = userdb_find(&db, user);
	if (e && !add)
		if (str_copy(old, sizeof old, e->hash) != 0)
			panic("cli_user_add_or_passwd: old does not fit");
	userdb_free(&db);
	if (add && e) {
		cli_error(CLI_USER, "user %s already exists in %s", user, o->file);
		return CLI_EXIT_USAGE;
	}
	if (!add && !e) {
		cli_error(CLI_USER, "no user %s in %s", user, o->file);
		return CLI_EXIT_USAGE;
	}
	int rc = cli_user_new_hash(o, user, add ? NULL : old, hash, sizeof hash);
	if (rc == CLI_EXIT_OK)
		rc = cli_user_commit(o->file, add ? CLI_USER_ADD : CLI_USER_PASSWD, user, hash,
		                     o->admin ? USERDB_FLAG_ADMIN : 0);
	if (rc == CLI_EXIT_OK)
		printf("%s %s\n", add ? "added" : "password changed for", user);
	passwd_wipe(hash, sizeof hash);
	passwd_wipe(old, sizeof old);
	return rc;
}

static int cli_user_change(const struct cli_user_opts *o, enum cli_user_change what,
                           const char *done)
{
	char user[USERDB_NAME_MAX + 1];
	if (cli_user_need_user(o, user, sizeof user) < 0)
		return CLI_EXIT_USAGE;
	int rc = cli_user_commit(o->file, what, user, NULL, 0);
	if (rc == CLI_EXIT_OK)
		printf("%s %s\n", done, user);
	return rc;
}

static int cli_user_list(const struct cli_user_opts *o)
{
	struct userdb db;
	struct passwd_cost cost;
	if (o->user) {
		cli_error(CLI_USER, "list takes no USER");
		return CLI_EXIT_USAGE;
	}
	if (cli_user_cost(o, &cost) < 0 || passwd_init() < 0)
		return CLI_EXIT_USAGE;
	if (cli_user_load(&db, o->file) < 0)
		return CLI_EXIT_USAGE;
	int rc = CLI_EXIT_OK;
	if (o->json) {
		json_t *users = json_array();
		for (size_t i = 0; i < db.count; i++) {
			const struct userdb_entry *e = &db.users[i];
			json_t *flags = json_array();
			if (e->flags & USERDB_FLAG_ADMIN)
				json_array_append_new(flags, json_string("admin"));
			if (e->flags & USERDB_FLAG_DISABLED)
				json_array_append_new(flags, json_string("disabled"));
			json_array_append_new(
			    users,
			    json_pack("{s:s, s:o, s:b, s:b, s:s, s:b}", "name", e->name, "flags",
			              flags, "admin", (e->flags & USERDB_FLAG_ADMIN) != 0,
			              "disabled", (e->flags & USERDB_FLAG_DISABLED) != 0,
			              "algorithm", passwd_algorithm(e->hash), "needs_rehash",
			              passwd_needs_rehash(e->hash, &cost)));
		}
		json_t *doc = json_pack("{s:s, s:I, s:o}", "file", o->file, "count",
		                        (json_int_t)db.count, "users", users);
		if (cli_print_json(doc) < 0)
			rc = CLI_EXIT_USAGE;
	} else {
		printf("%-40s %-16s %s\n", "USER", "FLAGS", "HASH");
		for (size_t i = 0; i < db.count; i++) {
			const struct userdb_entry *e = &db.users[i];
			char flags[64];
			if (userdb_flags_format(e->flags, flags, sizeof flags) < 0)
				flags[0] = '\0';
			printf("%-40s %-16s %s%s\n", e->name, flags[0] ? flags : "-",
			       passwd_algorithm(e->hash),
			       passwd_needs_rehash(e->hash, &cost) ? " (rehash on next passwd)"
			                                           : "");
		}
	}
	userdb_free(&db);
	return rc;
}

static int cli_user_check(const struct cli_user_opts *o)
{
	char user[USERDB_NAME_MAX + 1];
	char pw[PASSWD_PLAIN_MAX + 2];
	size_t len = 0;
	struct userdb db;
	if (cli_user_need_user(o, user, sizeof user) < 0 || passwd_init() < 0)
		return CLI_EXIT_USAGE;
	if (cli_user_load(&db, o->file) < 0)
		return CLI_EXIT_USAGE;
	int rc = CLI_EXIT_USAGE;
	if (cli_user_get_password(o, false, pw, sizeof pw, &len) == 0) {
		enum userdb_verdict v = userdb_verify(&db, user, pw, len);
		if (v == USERDB_OK) {
			printf("ok %s\n", user);
			rc = CLI_EXIT_OK;
		} else if (v == USERDB_ERROR) {
			cli_error(CLI_USER, "%s: stored hash unusable", user);
		} else {
			cli_error(CLI_USER, "%s: %s", user, userdb_verdict_name(v));
			rc = CLI_EXIT_FOUND;
		}
	}
	passwd_wipe(pw, sizeof pw);
	userdb_free(&db);
	return rc;
}

int cli_user(int argc, char **argv)
{
	struct cli_user_opts o;
	if (argc < 2) {
		cli_usage(stderr, cli_user_help);
		return CLI_EXIT_USAGE;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0 ||
		    (i == 1 && strcmp(argv[i], "help") == 0)) {
			cli_usage(stdout, cli_user_help);
			return CLI_EXIT_OK;
		}
	}
	if (cli_user_parse(argc, argv, &o) < 0)
		return CLI_EXIT_USAGE;
	int rc;
	if (strcmp(o.action, "add") == 0)
		rc = cli_user_add_or_passwd(&o, true);
	else if (strcmp(o.action, "passwd") == 0)
		rc = cli_user_add_or_passwd(&o, false);
	else if (strcmp(o.action, "del") == 0)
		rc = cli_user_change(&o, CLI_USER_DEL, "deleted");
	else if (strcmp(o.action, "disable") == 0)
		rc = cli_user_change(&o, CLI_USER_DISABLE, "disabled");
	else if (strcmp(o.action, "enable") == 0)
		rc = cli_user_change(&o, CLI_USER_ENABLE, "enabled");
	else if (strcmp(o.action, "list") == 0)
		rc = cli_user_list(&o);
	else if (strcmp(o.action, "check") == 0)
		rc = cli_user_check(&o);
	else {
		cli_error(CLI_USER,
		          "unknown action '%s' (add, passwd, del, disable, enable, list, "
		          "check)",
		          o.action);
		rc = CLI_EXIT_USAGE;
	}
	strength_common_free();
	return rc;
}
