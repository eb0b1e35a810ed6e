/*
 * tail - follows a growing log file line by line, as `tail -F` does, for the
 * live log follower ([follow] files, gateway/follow.c).
 *
 * Rotation safe: when the name comes to point at another file (logrotate's
 * rename and create, inode or device changed) the old file is read to its end
 * first, then the new one from its start. Truncation safe: a file shorter
 * than what was read (copytruncate) is read again from 0. A file that does
 * not exist yet is opened when it appears, from its start.
 *
 * On the first open the file is read from its end (no history replayed;
 * a line being written at that moment is skipped up to its newline). Lines
 * are given without their newline; an unfinished last line waits in a buffer
 * until its newline comes (or its file is rotated away). A line longer than
 * the limit is dropped and counted. Each poll reads at most a given number of
 * bytes, so a large backlog never holds the caller long.
 *
 * Plain blocking reads of a regular file (no threads, no event library): the
 * caller decides when to poll.
 */
#ifndef RG_CORE_TAIL_H
#define RG_CORE_TAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TAIL_LINE_MAX_DEFAULT 8192

struct tail_stats {
	uint64_t lines, bytes, too_long, rotations, truncations, opens;
};

struct tail {
	char path[512];
	int fd; /* -1: not open (the file does not exist yet) */
	dev_t dev;
	ino_t ino;
	off_t off;       /* read up to here */
	bool started;    /* opened once (later opens read from the start) */
	bool skipping;   /* dropping bytes up to the next newline */
	char *line;      /* the unfinished line */
	size_t len, max; /* its length, and the line limit */
	struct tail_stats st;
};

/* A complete line (no newline, no NUL; a CR before the newline is kept). */
typedef void (*tail_line_fn)(void *ctx, const char *p, size_t len);

/* Starts following path (which need not exist yet). max_line 0: the default.
 * 0, or -1 (the path is too long, or no memory) with err set. */
int tail_open(struct tail *t, const char *path, size_t max_line, char *err, size_t errlen);
/* Reads what was added since the last poll, at most budget bytes (at least
 * one), and gives each complete line to fn. The bytes read (0: nothing new;
 * budget: there may be more), or -1 on an error (err set; the file is opened
 * again on the next poll). */
long tail_poll(struct tail *t, size_t budget, tail_line_fn fn, void *ctx, char *err, size_t errlen);
void tail_close(struct tail *t);

#endif
