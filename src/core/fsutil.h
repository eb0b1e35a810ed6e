/*
 * fsutil - file-system helpers that other modules share: atomic replacement
 * of a small file and fsync of a directory.
 *
 * fsutil_write_atomic() follows the queue-commit order of STYLE.md rule 10:
 * a temp file in the same directory (O_EXCL, the final mode), write, fsync,
 * rename over the target, fsync the directory. A reader sees the old file or
 * the new one, never a mix; a crash leaves at most a ".PATH.tmp.*" temp file
 * beside the target, never a half-written target. On failure the temp file
 * is removed and the target is untouched.
 */
#ifndef RG_CORE_FSUTIL_H
#define RG_CORE_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "core/attr.h"

/* Replaces path with len bytes of data, created with mode (e.g. 0600).
 * 0, or -1 with a reason ("PATH: what: strerror") in err. */
int fsutil_write_atomic(const char *path, const void *data, size_t len, mode_t mode, char *err,
                        size_t errlen) RG_WUR;
/* fsyncs the directory that holds path (path itself when it is a directory
 * name ending in '/'), so a rename or create in it is durable. 0 or -1 (errno set). */
int fsutil_fsync_dir(const char *path) RG_WUR;
/* Writes the directory part of path into out ("." when there is none). 0, or -1
 * if it did not fit. */
int fsutil_dirname(const char *path, char *out, size_t size) RG_WUR;

#endif
