/*
 * mailbox - where bounces come from: one message file, an mbox, a Maildir
 * (cur/ and new/), or standard input.
 *
 * Each message is handed to a callback with a source label: the file path for
 * a single file or a Maildir entry, "stdin" for one message on standard
 * input, "mbox:N" for the N-th message (from 1) of an mbox. mbox splitting
 * follows the mboxrd convention: a message starts at a "From " line at the
 * start of the file or after an empty line, and ">From " (any number of '>')
 * loses one '>'.
 */
#ifndef RG_FORENSICS_MAILBOX_H
#define RG_FORENSICS_MAILBOX_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>

#define MAILBOX_MAX_FILE (64u << 20) /* bytes read from one file or stdin */
#define MAILBOX_MAX_MESSAGES 100000  /* messages taken from one mbox or Maildir */

struct mailbox_msg {
	const char *source; /* label, see above */
	const char *path;   /* the file read ("-" for stdin) */
	size_t index;       /* 1-based position in an mbox, 0 otherwise */
	const char *data;
	size_t len;
};

/* Called once per message; non-zero stops the walk and is returned. */
typedef int (*mailbox_msg_cb)(void *ctx, const struct mailbox_msg *m);

struct mailbox_stats {
	size_t messages;
	size_t unreadable; /* Maildir entries that could not be read */
};

/* Reads a whole file ("-" = stdin) into out (max MAILBOX_MAX_FILE).
 * 0, or -1 with a reason in err. */
int mailbox_read_file(const char *path, struct buf *out, char *err, size_t errlen);
/* true when data looks like an mbox (starts with a "From " line). */
bool mailbox_is_mbox(const char *data, size_t len);
/* Splits an mbox; path is reported in each message. 0, the callback's value,
 * or -1 (memory). */
int mailbox_split_mbox(const char *data, size_t len, const char *path, mailbox_msg_cb cb, void *ctx,
                       struct mailbox_stats *st);
/* Reads PATH (file, mbox, Maildir, "-") and calls cb per message.
 * 0 (stats tell how many entries failed), the callback's value, or -1 when PATH
 * itself cannot be read, with a reason in err. */
int mailbox_foreach(const char *path, mailbox_msg_cb cb, void *ctx, struct mailbox_stats *st,
                    char *err, size_t errlen);

#endif
