/*
 * msgclass - what a message's header fields say about it, for the policy
 * engine's event flags (policy/event.h POL_F_*), its Message-ID,
 * In-Reply-To and From address.
 *
 *   auto_reply      Auto-Submitted: auto-replied (RFC 3834), X-Autoreply,
 *                   X-Autorespond, X-Vacation, Precedence: auto_reply, and
 *                   the usual vacation subjects ("Out of Office", "Automatic
 *                   reply:", "Auto:", "Autoreply", "Abwesenheit", ...)
 *   auto_submitted  Auto-Submitted other than "no"
 *   notify          Auto-Submitted: auto-generated / auto-notified, a
 *                   multipart/report (DSN, MDN)
 *   list            List-Id, List-Unsubscribe, List-Post, Mailing-List,
 *                   Precedence: list
 *   bulk            Precedence: bulk or junk
 *   spam            X-Spam-Flag: YES, X-Spam-Status: Yes, X-Spam: yes
 *
 * Fed one field at a time (name, raw value, as forensics/msg.h yields them);
 * values are untrusted and read within their length only.
 */
#ifndef RG_POLICY_MSGCLASS_H
#define RG_POLICY_MSGCLASS_H

#include "policy/event.h"

#include <stddef.h>
#include <stdint.h>

struct msgclass {
	uint32_t flags;                  /* POL_F_* */
	char message_id[POL_MSGID_MAX];  /* without <>, "" when none */
	char in_reply_to[POL_MSGID_MAX]; /* the first id, without <> */
	char from[POL_MAILADDR_MAX];     /* the From address, lower case */
};

void msgclass_init(struct msgclass *m);
void msgclass_field(struct msgclass *m, const char *name, size_t nlen, const char *value,
                    size_t vlen);
/* Copies flags, ids and From into a MAIL or INBOUND event. */
void msgclass_apply(const struct msgclass *m, struct pol_event *ev);

#endif
