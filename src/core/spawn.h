/*
 * spawn - run a program and collect what it prints, with a time limit.
 *
 * posix_spawn, never fork (the daemon has threads) and never a shell: argv
 * is the program and its arguments as they are. The program gets /dev/null
 * as stdin, pipes as stdout and stderr, and no other descriptor of ours.
 * Safe on any thread: it reads the monotonic clock directly, not the loop's
 * cached clock.
 */
#ifndef RG_CORE_SPAWN_H
#define RG_CORE_SPAWN_H

#include "core/buf.h"

#include <stddef.h>

#include "core/attr.h"

/* Runs argv[0] (a path, or a name looked up in PATH) with argv (NULL-terminated).
 * out gets its stdout (past out's maximum the rest is read and dropped, and the
 * run fails); errtext (may be NULL) its stderr, cut to its size. 0 when it exited
 * with status 0; else -1 with err: it could not start, it exited with another
 * status (errtext then says why, in its words), it was killed, or it ran past
 * timeout_ms and was killed. */
int spawn_run(char *const argv[], struct buf *out, char *errtext, size_t errtextlen, int timeout_ms,
              char *err, size_t errlen) RG_WUR;

/* Splits a configured command ("/usr/bin/sudo -n /usr/sbin/postsuper") at
 * blanks into argv, in place in cmd: the number of words, or -1 when there are
 * none or more than max - 1 (argv[n] is set to NULL). */
int spawn_split(char *cmd, char **argv, int max);

#endif
