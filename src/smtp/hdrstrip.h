/*
 * hdrstrip - removes every field of one name from a message's header section
 * as the message streams by in chunks of any size, without I/O: bytes in,
 * the message without those fields out (through the emit callback).
 *
 * A field is its first line "Name:" (the name compared without case, RFC
 * 5322 section 1.2.2; a space before the colon makes it another name, as
 * Postfix's header_checks see it) and every continuation line after it (one
 * starting with a space or a tab). The header section ends at the first empty
 * line; the body passes unchanged. A line that is no field at all passes too.
 * The gateway uses it for [listener] identify_header: the internal server's
 * header with the authenticated user is believed there and never delivered.
 */
#ifndef RG_SMTP_HDRSTRIP_H
#define RG_SMTP_HDRSTRIP_H

#include <stdbool.h>
#include <stddef.h>

#define HDRSTRIP_NAME_MAX 64

/* emit: 0, or -1 to stop (hdrstrip_feed then returns -1). */
typedef int (*hdrstrip_emit_fn)(void *arg, const char *p, size_t n);

struct hdrstrip {
	char name[HDRSTRIP_NAME_MAX];
	size_t name_len;
	bool body; /* past the header section: everything passes */
	bool bol;  /* at the start of a line */
	bool drop; /* the line being read belongs to a removed field */
	size_t npend;
	char pend[HDRSTRIP_NAME_MAX + 2]; /* a line's start, until it is known */
	unsigned removed;                 /* fields removed so far */
};

/* 0, or -1 when name is empty, too long or has a colon or a control byte. */
int hdrstrip_init(struct hdrstrip *s, const char *name);
/* The next n bytes of the message. 0, or -1 when emit stopped. */
int hdrstrip_feed(struct hdrstrip *s, const char *p, size_t n, hdrstrip_emit_fn emit, void *arg);
/* The end of the message: emits what is still pending. 0 or -1. */
int hdrstrip_finish(struct hdrstrip *s, hdrstrip_emit_fn emit, void *arg);

#endif
