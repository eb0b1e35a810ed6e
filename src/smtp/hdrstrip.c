/*
 * hdrstrip - the streaming header-field remover; see hdrstrip.h.
 */
#include "smtp/hdrstrip.h"

#include <string.h>
#include <strings.h>

int hdrstrip_init(struct hdrstrip *s, const char *name)
{
	memset(s, 0, sizeof *s);
	size_t n = strlen(name);
	if (n == 0 || n >= sizeof s->name)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] <= 32 || (unsigned char)name[i] >= 127 || name[i] == ':')
			return -1;
	memcpy(s->name, name, n + 1);
	s->name_len = n;
	s->bol = true;
	return 0;
}

static int hdrstrip_out(hdrstrip_emit_fn emit, void *arg, const char *p, size_t n)
{
	return n ? emit(arg, p, n) : 0;
}

/* A line's start is in pend: decide about it once its last byte says enough.
 * 1 decided (pend emitted or dropped), 0 not yet, -1 emit failed. */
static int hdrstrip_decide(struct hdrstrip *s, hdrstrip_emit_fn emit, void *arg)
{
	char last = s->pend[s->npend - 1];
	if (s->npend == 1 && (last == '\r' || last == '\n')) {
		s->body = true; /* the empty line: the header section ends */
		s->drop = false;
	} else if (last == ':') {
		s->drop =
		    s->npend - 1 == s->name_len && strncasecmp(s->pend, s->name, s->name_len) == 0;
		s->removed += s->drop;
	} else if (last == '\n') {
		s->drop = false; /* a line with no colon: no field, kept */
	} else if (s->npend > s->name_len) {
		s->drop = false; /* longer than the name without its colon */
	} else {
		return 0;
	}
	s->bol = last == '\n';
	size_t n = s->npend;
	s->npend = 0;
	if (!s->drop && hdrstrip_out(emit, arg, s->pend, n) != 0)
		return -1;
	return 1;
}

int hdrstrip_feed(struct hdrstrip *s, const char *p, size_t n, hdrstrip_emit_fn emit, void *arg)
{
	size_t i = 0;
	while (i < n && !s->body) {
		if (s->bol) {
			if (s->npend == 0 && (p[i] == ' ' || p[i] == '\t')) {
				s->bol = false; /* a continuation: its field's fate */
				continue;
			}
			s->pend[s->npend++] = p[i++];
			if (hdrstrip_decide(s, emit, arg) < 0)
				return -1;
			continue;
		}
		const char *nl = memchr(p + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - p) + 1 : n;
		if (!s->drop && hdrstrip_out(emit, arg, p + i, end - i) != 0)
			return -1;
		i = end;
		s->bol = nl != NULL;
	}
	return hdrstrip_out(emit, arg, p + i, n - i);
}

int hdrstrip_finish(struct hdrstrip *s, hdrstrip_emit_fn emit, void *arg)
{
	size_t n = s->npend; /* a line's start never decided: no field, kept */
	s->npend = 0;
	return hdrstrip_out(emit, arg, s->pend, n);
}
