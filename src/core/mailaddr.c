/*
 * mailaddr - split a mailbox at the '@' between local part and domain
 * (mailaddr.h says which '@' that is and why).
 */
#include "core/mailaddr.h"

#include <string.h>

/* Past the closing quote of a quoted string starting at s[0] == '"', or NULL
 * when it is not closed (a backslash quotes the next byte, RFC 5321 §4.1.2
 * quoted-pairSMTP). */
static const char *mailaddr_quote_end(const char *s, size_t len)
{
	for (size_t i = 1; i < len; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return s + i + 1;
	}
	return NULL;
}

const char *mailaddr_at_n(const char *s, size_t len)
{
	if (!s)
		return NULL;
	const char *from = s;
	if (len > 0 && s[0] == '"') {
		/* An unclosed quote is not a quoted string: the last '@' as for any other. */
		const char *end = mailaddr_quote_end(s, len);
		if (end)
			from = end;
	}
	return memrchr(from, '@', len - (size_t)(from - s));
}

const char *mailaddr_at(const char *s)
{
	return s ? mailaddr_at_n(s, strlen(s)) : NULL;
}

void mailaddr_split(const char *s, size_t len, struct mailaddr *out)
{
	const char *at = mailaddr_at_n(s, len);
	out->local = s ? s : "";
	out->has_at = at != NULL;
	if (at) {
		out->local_len = (size_t)(at - s);
		out->domain = at + 1;
		out->domain_len = len - out->local_len - 1;
	} else {
		out->local_len = s ? len : 0;
		out->domain = "";
		out->domain_len = 0;
	}
}

const char *mailaddr_domain(const char *s)
{
	const char *at = mailaddr_at(s);
	return at ? at + 1 : "";
}

size_t mailaddr_local_len(const char *s)
{
	if (!s)
		return 0;
	size_t len = strlen(s);
	const char *at = mailaddr_at_n(s, len);
	return at ? (size_t)(at - s) : len;
}
