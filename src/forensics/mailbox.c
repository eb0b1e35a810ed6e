/*
 * mailbox - single files, mbox (mboxrd), Maildir and stdin; see mailbox.h.
 */
#include "forensics/mailbox.h"

#include "core/grow.h"
#include "core/str.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int mailbox_read_file(const char *path, struct buf *out, char *err, size_t errlen)
{
	int fd;
	bool is_stdin = strcmp(path, "-") == 0;
	char chunk[65536];

	if (is_stdin) {
		fd = STDIN_FILENO;
	} else {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			str_format_trunc(err, errlen, "%s: %s", path, strerror(errno));
			return -1;
		}
	}
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			str_format_trunc(err, errlen, "%s: %s", is_stdin ? "stdin" : path,
			                 strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		if (buf_append(out, chunk, (size_t)n) != 0) {
			str_format_trunc(err, errlen, "%s: larger than %u bytes",
			                 is_stdin ? "stdin" : path, MAILBOX_MAX_FILE);
			goto fail;
		}
	}
	if (!is_stdin)
		close(fd);
	return 0;
fail:
	if (!is_stdin)
		close(fd);
	return -1;
}

bool mailbox_is_mbox(const char *data, size_t len)
{
	return len >= 5 && memcmp(data, "From ", 5) == 0;
}

/* Is the line at p[i] a ">From " line (one or more '>')? */
static bool mailbox_is_quoted_from(const char *p, size_t len, size_t i)
{
	size_t k = i;
	while (k < len && p[k] == '>')
		k++;
	return k > i && len - k >= 5 && memcmp(p + k, "From ", 5) == 0;
}

/* Hands one message [start, end) to cb, unquoting ">From " lines. */
static int mailbox_emit(const char *p, size_t start, size_t end, const char *path, size_t index,
                        mailbox_msg_cb cb, void *ctx)
{
	struct buf m;
	char label[32];
	int rc = 0;

	buf_init(&m, MAILBOX_MAX_FILE);
	/* Skip the "From " postmark line itself. */
	const char *nl = memchr(p + start, '\n', end - start);
	size_t i = nl ? (size_t)(nl - p) + 1 : end;
	while (i < end) {
		const char *e = memchr(p + i, '\n', end - i);
		size_t next = e ? (size_t)(e - p) + 1 : end;
		size_t from = mailbox_is_quoted_from(p, end, i) ? i + 1 : i;
		if (buf_append(&m, p + from, next - from) != 0) {
			rc = -1;
			goto out;
		}
		i = next;
	}
	str_format_trunc(label, sizeof label, "mbox:%zu", index);
	struct mailbox_msg msg = {
	    .source = label, .path = path, .index = index, .data = buf_cstr(&m), .len = m.len};
	rc = cb(ctx, &msg);
out:
	buf_free(&m);
	return rc;
}

int mailbox_split_mbox(const char *data, size_t len, const char *path, mailbox_msg_cb cb, void *ctx,
                       struct mailbox_stats *st)
{
	size_t start = 0, i = 0, index = 0;
	bool prev_blank = true, have = false;

	while (i < len) {
		const char *e = memchr(data + i, '\n', len - i);
		size_t next = e ? (size_t)(e - data) + 1 : len;
		bool from = prev_blank && len - i >= 5 && memcmp(data + i, "From ", 5) == 0;
		if (from) {
			if (have) {
				/* The empty line before "From " separates; it is not the message's.
				 */
				size_t end = i;
				if (end > start && data[end - 1] == '\n')
					end--;
				if (end > start && data[end - 1] == '\r')
					end--;
				if (index >= MAILBOX_MAX_MESSAGES)
					return 0;
				int rc = mailbox_emit(data, start, end, path, ++index, cb, ctx);
				if (st)
					st->messages++;
				if (rc != 0)
					return rc;
			}
			start = i;
			have = true;
		}
		size_t ll = next - i;
		prev_blank = ll == 0 || (ll == 1 && data[i] == '\n') ||
		             (ll == 2 && data[i] == '\r' && data[i + 1] == '\n');
		i = next;
	}
	if (have && index < MAILBOX_MAX_MESSAGES) {
		int rc = mailbox_emit(data, start, len, path, ++index, cb, ctx);
		if (st)
			st->messages++;
		return rc;
	}
	return 0;
}

static int mailbox_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads one Maildir subfolder (cur or new), entries in name order. */
static int mailbox_maildir_sub(const char *dir, const char *sub, mailbox_msg_cb cb, void *ctx,
                               struct mailbox_stats *st)
{
	char path[4096];
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (str_format(path, sizeof path, "%s/%s", dir, sub) != 0)
		return 0;
	DIR *d = opendir(path);
	if (!d)
		return 0; /* a Maildir may lack new/ or cur/ */
	struct dirent *de;
	while ((de = readdir(d)) != NULL && n < MAILBOX_MAX_MESSAGES) {
		if (de->d_name[0] == '.')
			continue;
		if (grow_array(&names, &cap, n + 1, sizeof *names) != 0) {
			rc = -1;
			goto out;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			rc = -1;
			goto out;
		}
		n++;
	}
	if (n)
		qsort(names, n, sizeof *names, mailbox_name_cmp);
	for (size_t i = 0; i < n && rc == 0; i++) {
		char file[4096];
		char err[256];
		struct buf data;
		if (str_format(file, sizeof file, "%s/%s/%s", dir, sub, names[i]) != 0) {
			if (st)
				st->unreadable++;
			continue;
		}
		buf_init(&data, MAILBOX_MAX_FILE);
		if (mailbox_read_file(file, &data, err, sizeof err) != 0) {
			if (st)
				st->unreadable++;
			buf_free(&data);
			continue;
		}
		struct mailbox_msg msg = {.source = file,
		                          .path = file,
		                          .index = 0,
		                          .data = buf_cstr(&data),
		                          .len = data.len};
		if (st)
			st->messages++;
		rc = cb(ctx, &msg);
		buf_free(&data);
	}
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

int mailbox_foreach(const char *path, mailbox_msg_cb cb, void *ctx, struct mailbox_stats *st,
                    char *err, size_t errlen)
{
	struct stat sb;
	bool is_stdin = strcmp(path, "-") == 0;

	if (!is_stdin && stat(path, &sb) != 0) {
		str_format_trunc(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!is_stdin && S_ISDIR(sb.st_mode)) {
		char sub[4096];
		struct stat ss;
		bool cur = str_format(sub, sizeof sub, "%s/cur", path) == 0 &&
		           stat(sub, &ss) == 0 && S_ISDIR(ss.st_mode);
		bool nw = str_format(sub, sizeof sub, "%s/new", path) == 0 && stat(sub, &ss) == 0 &&
		          S_ISDIR(ss.st_mode);
		if (!cur && !nw) {
			str_format_trunc(err, errlen,
			                 "%s: a directory but not a Maildir (no cur/ or new/)",
			                 path);
			return -1;
		}
		int rc = mailbox_maildir_sub(path, "cur", cb, ctx, st);
		if (rc == 0)
			rc = mailbox_maildir_sub(path, "new", cb, ctx, st);
		if (rc == -1)
			str_format_trunc(err, errlen, "%s: out of memory", path);
		return rc;
	}
	if (!is_stdin && !S_ISREG(sb.st_mode)) {
		str_format_trunc(err, errlen, "%s: not a regular file or directory", path);
		return -1;
	}
	struct buf data;
	buf_init(&data, MAILBOX_MAX_FILE);
	if (mailbox_read_file(path, &data, err, errlen) != 0) {
		buf_free(&data);
		return -1;
	}
	int rc;
	if (mailbox_is_mbox(buf_cstr(&data), data.len)) {
		rc = mailbox_split_mbox(buf_cstr(&data), data.len, path, cb, ctx, st);
	} else {
		struct mailbox_msg msg = {.source = is_stdin ? "stdin" : path,
		                          .path = path,
		                          .index = 0,
		                          .data = buf_cstr(&data),
		                          .len = data.len};
		if (st)
			st->messages++;
		rc = cb(ctx, &msg);
	}
	buf_free(&data);
	if (rc == -1)
		str_format_trunc(err, errlen, "%s: out of memory", path);
	return rc;
}
