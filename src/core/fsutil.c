/*
 * fsutil - atomic file replacement and directory fsync; see fsutil.h.
 */
#include "core/fsutil.h"

#include "core/str.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

int fsutil_dirname(const char *path, char *out, size_t size)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return str_copy(out, size, ".");
	if (slash == path)
		return str_copy(out, size, "/");
	return str_copy_n(out, size, path, (size_t)(slash - path));
}

int fsutil_fsync_dir(const char *path)
{
	char dir[PATH_MAX];
	size_t len = strlen(path);
	if (len > 0 && path[len - 1] == '/') {
		if (str_copy(dir, sizeof dir, path) < 0) {
			errno = ENAMETOOLONG;
			return -1;
		}
	} else if (fsutil_dirname(path, dir, sizeof dir) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/* "DIR/.BASE.tmp.XXXXXXXX" with a random suffix, beside the target. */
static int fsutil_temp_name(const char *path, char *out, size_t size)
{
	char dir[PATH_MAX];
	if (fsutil_dirname(path, dir, sizeof dir) < 0)
		return -1;
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	unsigned char rnd[6];
	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		return -1;
	return str_format(out, size, "%s/.%s.tmp.%02x%02x%02x%02x%02x%02x", dir, base, rnd[0],
	                  rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
}

static int fsutil_write_all(int fd, const unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fsutil_write_atomic(const char *path, const void *data, size_t len, mode_t mode, char *err,
                        size_t errlen)
{
	char tmp[PATH_MAX];
	const char *what = "temp file name";
	int fd = -1;
	int tries = 0;

	if (!path || !*path || path[strlen(path) - 1] == '/') {
		errno = EINVAL;
		goto fail;
	}
	for (;;) {
		if (fsutil_temp_name(path, tmp, sizeof tmp) < 0) {
			errno = ENAMETOOLONG;
			goto fail;
		}
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
		if (fd >= 0)
			break;
		if (errno != EEXIST || ++tries >= 5) {
			what = "create temp file";
			goto fail;
		}
	}
	/* The umask may have narrowed the mode; the caller asked for exactly this one. */
	what = "chmod";
	if (fchmod(fd, mode) < 0)
		goto fail_unlink;
	what = "write";
	if (fsutil_write_all(fd, data, len) < 0)
		goto fail_unlink;
	what = "fsync";
	if (fsync(fd) < 0)
		goto fail_unlink;
	what = "close";
	int rc = close(fd);
	fd = -1;
	if (rc < 0)
		goto fail_unlink;
	what = "rename";
	if (rename(tmp, path) < 0)
		goto fail_unlink;
	what = "fsync directory";
	if (fsutil_fsync_dir(path) < 0)
		goto fail; /* the new file is in place; only its durability is in doubt */
	return 0;

fail_unlink : {
	int saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
}
fail:
	if (err && errlen)
		str_format_trunc(err, errlen, "%s: %s: %s", path ? path : "(null)", what,
		                 strerror(errno));
	return -1;
}
