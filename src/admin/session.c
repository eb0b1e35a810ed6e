/*
 * session - admin logins and their CSRF tokens; see session.h.
 */
#include "admin/session.h"

#include "core/log.h"
#include "core/str.h"

#include <sodium.h>
#include <string.h>

void session_init(struct sessions *ss, int64_t idle_ms, int64_t max_ms)
{
	memset(ss, 0, sizeof *ss);
	ss->idle_ms = idle_ms;
	ss->max_ms = max_ms;
}

void session_token(char *out)
{
	unsigned char raw[SESSION_TOKEN_LEN / 2];
	randombytes_buf(raw, sizeof raw);
	sodium_bin2hex(out, SESSION_TOKEN_LEN + 1, raw, sizeof raw);
	sodium_memzero(raw, sizeof raw);
}

bool session_token_eq(const char *a, const char *b)
{
	if (!a || !b)
		return false;
	size_t la = strlen(a), lb = strlen(b);
	if (la != lb || la == 0)
		return false;
	return sodium_memcmp(a, b, la) == 0;
}

static bool session_live(const struct sessions *ss, const struct session *s, int64_t now_ms)
{
	return s->used && now_ms - s->last_ms < ss->idle_ms && now_ms - s->created_ms < ss->max_ms;
}

const struct session *session_create(struct sessions *ss, const char *user, int64_t now_ms)
{
	struct session *slot = &ss->s[0];
	for (size_t i = 0; i < SESSION_MAX; i++) {
		struct session *s = &ss->s[i];
		if (!session_live(ss, s, now_ms)) {
			slot = s;
			break;
		}
		if (s->last_ms < slot->last_ms)
			slot = s;
	}
	memset(slot, 0, sizeof *slot);
	slot->used = true;
	session_token(slot->id);
	session_token(slot->csrf);
	if (str_copy(slot->user, sizeof slot->user, user) != 0)
		panic("session_create: slot->user does not fit");
	slot->created_ms = slot->last_ms = now_ms;
	return slot;
}

const struct session *session_find(struct sessions *ss, const char *id, int64_t now_ms)
{
	if (!id || strlen(id) != SESSION_TOKEN_LEN)
		return NULL;
	struct session *found = NULL;
	for (size_t i = 0; i < SESSION_MAX; i++) {
		struct session *s = &ss->s[i];
		/* look at every slot: the time taken says nothing about which one matched */
		if (s->used && session_token_eq(s->id, id))
			found = s;
	}
	if (!found)
		return NULL;
	if (!session_live(ss, found, now_ms)) {
		memset(found, 0, sizeof *found);
		return NULL;
	}
	found->last_ms = now_ms;
	return found;
}

void session_end(struct sessions *ss, const char *id)
{
	for (size_t i = 0; i < SESSION_MAX; i++)
		if (ss->s[i].used && session_token_eq(ss->s[i].id, id))
			memset(&ss->s[i], 0, sizeof ss->s[i]);
}

bool session_csrf_ok(const struct session *s, const char *token)
{
	return s && session_token_eq(s->csrf, token);
}
