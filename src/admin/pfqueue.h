/*
 * pfqueue - Postfix's queue as `postqueue -j` prints it (postqueue(1), Postfix
 * 3.1 and later): one JSON object per line and message,
 *   {"queue_name": "hold", "queue_id": "4F2A51C0A3B", "arrival_time": 1528136456,
 *    "message_size": 1234, "forced_expire": false, "sender": "a@corp.test",
 *    "recipients": [{"address": "b@example.net", "delay_reason": "..."}]}
 * The text comes from another program: every line is checked, a line that is
 * not such an object is counted and skipped, never trusted.
 */
#ifndef RG_ADMIN_PFQUEUE_H
#define RG_ADMIN_PFQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PFQUEUE_ID_MAX 32 /* long queue IDs are 12 to 20 characters */
#define PFQUEUE_ADDR_MAX 320
#define PFQUEUE_RCPTS_MAX 1000 /* recipients kept per message; the count goes on */

struct pfqueue_msg {
	char queue_name[16]; /* maildrop, incoming, active, deferred, hold, corrupt */
	char queue_id[PFQUEUE_ID_MAX];
	int64_t arrival_time; /* seconds since the epoch */
	uint64_t message_size;
	char sender[PFQUEUE_ADDR_MAX]; /* "" for the null sender */
	unsigned nrcpt;                /* all of them */
	unsigned nkept;                /* in rcpt[] */
	char (*rcpt)[PFQUEUE_ADDR_MAX];
};

/* Called per message; a non-zero return stops the parse with that value. */
typedef int (*pfqueue_fn)(void *arg, const struct pfqueue_msg *m);

/* Parses data (len bytes); *bad (may be NULL) gets the number of lines that
 * were not a message. 0, the callback's non-zero value, or -1 out of memory. */
int pfqueue_parse(const char *data, size_t len, pfqueue_fn fn, void *arg, size_t *bad);

/* A Postfix queue ID: 6 to 31 letters and digits (short IDs are upper-case hex,
 * long ones mixed case). Anything else is refused before it reaches argv. */
bool pfqueue_id_ok(const char *id);

#endif
