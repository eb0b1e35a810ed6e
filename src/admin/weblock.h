/*
 * weblock - web-login lockouts, an object of their own (issue 16 item 5).
 *
 * Web logins used to feed the policy engine with the client IP, so fifteen
 * bad logins through the recommended SSH tunnel or reverse proxy blocked
 * ip:127.0.0.1 for SMTP too, and one guesser behind an office NAT locked out
 * everyone behind it. Now the engine hears only the account; the address's
 * failures are counted here and refuse web logins only. Loopback and trusted
 * networks are never locked out (the caller does not ask), their accounts
 * still are (by the engine). A bounded table: when full, the entry seen
 * longest ago gives way. The failure delay doubles per failure of the
 * address, as SMTP AUTH's does. Pure: times come in.
 */
#ifndef RG_ADMIN_WEBLOCK_H
#define RG_ADMIN_WEBLOCK_H

#include "core/addr.h"

#include <stdbool.h>
#include <stdint.h>

#define WEBLOCK_SLOTS 1024

struct weblock_entry {
	bool used;
	struct addr ip;
	uint32_t failures; /* in the current period */
	int64_t first_ms;  /* of the period */
	int64_t last_ms;
	int64_t until_ms; /* locked out until then; 0: not */
};

struct weblock {
	uint32_t max_failures; /* the failure that passes it locks the address out */
	int64_t period_ms, lockout_ms;
	uint64_t delay_ms, delay_max_ms;
	struct weblock_entry e[WEBLOCK_SLOTS];
};

void weblock_init(struct weblock *l, uint32_t max_failures, int64_t period_ms, int64_t lockout_ms,
                  uint64_t delay_ms, uint64_t delay_max_ms);
/* true while ip is locked out of web logins. */
bool weblock_locked(const struct weblock *l, const struct addr *ip, int64_t now_ms);
/* Counts a failed login of ip; *delay_ms is how long to wait before answering.
 * true when this failure locked the address out. lock: false counts for the
 * delay only (loopback, trusted networks). */
bool weblock_fail(struct weblock *l, const struct addr *ip, int64_t now_ms, bool lock,
                  uint32_t *delay_ms);
/* A successful login forgets the address's failures. */
void weblock_success(struct weblock *l, const struct addr *ip);

#endif
