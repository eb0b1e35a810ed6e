/*
 * qenv - the envelope of a queued message as text (docs/queue.md).
 *
 * One "key value" per line, the first line "rgq-envelope 1" (the format
 * version), the last "end". Values are escaped: printable ASCII other than
 * the backslash stays as it is, every other byte is written \xHH, so a value
 * can never carry a line break into the file (the newline-injection bugs of
 * Exim CVE-2020-28021 and OpenSMTPD CVE-2020-8794). Recipients are "rcpt
 * ADDR" lines, each followed by its own "r.*" lines.
 *
 * The parser trusts nothing: unknown keys, repeated keys, bad escapes, NUL
 * bytes, values too long for their field, numbers out of range, more than
 * QUEUE_RCPT_MAX recipients, anything after "end" or a missing "end" are
 * errors; on error the envelope is left empty and err says what and where.
 */
#ifndef RG_QUEUE_QENV_H
#define RG_QUEUE_QENV_H

#include "core/buf.h"
#include "queue/queue.h"

#include <stddef.h>

#define QENV_VERSION 1
/* Largest envelope text the parser accepts (every field at its maximum, in
 * hex escapes, for QUEUE_RCPT_MAX recipients fits). */
#define QENV_TEXT_MAX (8u * 1024 * 1024)

/* Appends env as text to out. 0, or -1 when out is full. */
int qenv_format(const struct queue_envelope *env, struct buf *out) RG_WUR;
/* Parses n bytes at p into env (recipients allocated: free with qenv_free).
 * 0, or -1 with "line N: what" in err and env emptied. */
int qenv_parse(const char *p, size_t n, struct queue_envelope *env, char *err,
               size_t errlen) RG_WUR;
void qenv_free(struct queue_envelope *env);
/* Deep copy (recipients allocated). */
void qenv_copy(struct queue_envelope *dst, const struct queue_envelope *src);
const char *qenv_status_name(enum queue_rcpt_status s);

#endif
