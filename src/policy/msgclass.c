/*
 * msgclass - header fields to policy flags (msgclass.h).
 */
#include "policy/msgclass.h"

#include "core/log.h"
#include "core/str.h"

#include <string.h>

void msgclass_init(struct msgclass *m)
{
	memset(m, 0, sizeof *m);
}

static bool msgclass_is(const char *name, size_t nlen, const char *want)
{
	return str_ieq_n(name, nlen, want);
}

/* The value without folding whitespace at either end and, when cut is set,
 * without parameters after ';' or a comment from '('. */
static void msgclass_trim(const char **v, size_t *len, bool cut)
{
	const char *p = *v, *e = p + *len;
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	if (cut) {
		const char *semi = memchr(p, ';', (size_t)(e - p));
		if (semi)
			e = semi;
		const char *paren = memchr(p, '(', (size_t)(e - p));
		if (paren)
			e = paren;
	}
	while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		e--;
	*v = p;
	*len = (size_t)(e - p);
}

/* The first <...> of v into out (without the brackets), else the first word. */
static void msgclass_id(const char *v, size_t len, char *out, size_t size)
{
	const char *lt = memchr(v, '<', len);
	if (lt) {
		const char *gt = memchr(lt, '>', len - (size_t)(lt - v));
		if (gt && gt > lt + 1) {
			str_sanitize(out, size, lt + 1, (size_t)(gt - lt - 1));
			return;
		}
	}
	msgclass_trim(&v, &len, false);
	size_t n = 0;
	while (n < len && v[n] != ' ' && v[n] != '\t' && v[n] != '\r' && v[n] != '\n')
		n++;
	if (n)
		str_sanitize(out, size, v, n);
}

/* The address of a From field: inside <>, else the word with an @. */
static void msgclass_from(const char *v, size_t len, char *out, size_t size)
{
	const char *lt = memchr(v, '<', len);
	if (lt) {
		const char *gt = memchr(lt, '>', len - (size_t)(lt - v));
		if (gt && memchr(lt, '@', (size_t)(gt - lt))) {
			str_sanitize(out, size, lt + 1, (size_t)(gt - lt - 1));
			str_lower(out);
			return;
		}
	}
	const char *at = memchr(v, '@', len);
	if (!at)
		return;
	const char *s = at, *e = at;
	while (s > v && s[-1] != ' ' && s[-1] != '\t' && s[-1] != '"' && s[-1] != ',' &&
	       s[-1] != '\n')
		s--;
	while (e < v + len && *e != ' ' && *e != '\t' && *e != ',' && *e != '\r' && *e != '\n' &&
	       *e != '(')
		e++;
	str_sanitize(out, size, s, (size_t)(e - s));
	str_lower(out);
}

static bool msgclass_vacation_subject(const char *v, size_t len)
{
	static const char *const prefixes[] = {
	    "out of office",
	    "out of the office",
	    "automatic reply",
	    "auto:",
	    "autoreply",
	    "auto-reply",
	    "auto reply",
	    "vacation",
	    "abwesenheit",
	    "automatische antwort",
	    "réponse automatique",
	    "absence",
	    "respuesta automática",
	};
	msgclass_trim(&v, &len, false);
	for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
		if (str_iprefix(v, len, prefixes[i]))
			return true;
	return false;
}

void msgclass_field(struct msgclass *m, const char *name, size_t nlen, const char *value,
                    size_t vlen)
{
	const char *v = value;
	size_t len = vlen;
	if (msgclass_is(name, nlen, "Auto-Submitted")) {
		msgclass_trim(&v, &len, true);
		if (len == 0 || str_ieq_n(v, len, "no"))
			return;
		m->flags |= POL_F_AUTO_SUBMITTED;
		if (str_ieq_n(v, len, "auto-replied"))
			m->flags |= POL_F_AUTO_REPLY;
		else
			m->flags |= POL_F_NOTIFY; /* auto-generated, auto-notified, extensions */
	} else if (msgclass_is(name, nlen, "X-Autoreply") ||
	           msgclass_is(name, nlen, "X-Autorespond") ||
	           msgclass_is(name, nlen, "X-Autoresponder") ||
	           msgclass_is(name, nlen, "X-Vacation") ||
	           msgclass_is(name, nlen, "X-AutoReply-From")) {
		msgclass_trim(&v, &len, true);
		if (!str_ieq_n(v, len, "no"))
			m->flags |= POL_F_AUTO_REPLY;
	} else if (msgclass_is(name, nlen, "Precedence")) {
		msgclass_trim(&v, &len, true);
		if (str_ieq_n(v, len, "auto_reply"))
			m->flags |= POL_F_AUTO_REPLY;
		else if (str_ieq_n(v, len, "bulk") || str_ieq_n(v, len, "junk"))
			m->flags |= POL_F_BULK;
		else if (str_ieq_n(v, len, "list"))
			m->flags |= POL_F_LIST;
	} else if (msgclass_is(name, nlen, "List-Id") ||
	           msgclass_is(name, nlen, "List-Unsubscribe") ||
	           msgclass_is(name, nlen, "List-Post") ||
	           msgclass_is(name, nlen, "Mailing-List")) {
		m->flags |= POL_F_LIST;
	} else if (msgclass_is(name, nlen, "X-Spam-Flag") || msgclass_is(name, nlen, "X-Spam")) {
		msgclass_trim(&v, &len, true);
		if (str_ieq_n(v, len, "yes") || str_ieq_n(v, len, "true"))
			m->flags |= POL_F_SPAM;
	} else if (msgclass_is(name, nlen, "X-Spam-Status")) {
		msgclass_trim(&v, &len, false);
		if (str_iprefix(v, len, "yes"))
			m->flags |= POL_F_SPAM;
	} else if (msgclass_is(name, nlen, "Content-Type")) {
		msgclass_trim(&v, &len, false);
		if (str_iprefix(v, len, "multipart/report"))
			m->flags |= POL_F_NOTIFY;
	} else if (msgclass_is(name, nlen, "Subject")) {
		if (msgclass_vacation_subject(v, len))
			m->flags |= POL_F_AUTO_REPLY;
	} else if (msgclass_is(name, nlen, "Message-ID")) {
		if (!m->message_id[0])
			msgclass_id(v, len, m->message_id, sizeof m->message_id);
	} else if (msgclass_is(name, nlen, "In-Reply-To")) {
		if (!m->in_reply_to[0])
			msgclass_id(v, len, m->in_reply_to, sizeof m->in_reply_to);
	} else if (msgclass_is(name, nlen, "From")) {
		if (!m->from[0])
			msgclass_from(v, len, m->from, sizeof m->from);
	}
}

void msgclass_apply(const struct msgclass *m, struct pol_event *ev)
{
	ev->flags |= m->flags;
	/* the same sizes: POL_MSGID_MAX, POL_MAILADDR_MAX */
	if (str_copy(ev->message_id, sizeof ev->message_id, m->message_id) != 0 ||
	    str_copy(ev->in_reply_to, sizeof ev->in_reply_to, m->in_reply_to) != 0 ||
	    str_copy(ev->hfrom, sizeof ev->hfrom, m->from) != 0)
		panic("msgclass_apply: a field larger than the event's");
}
