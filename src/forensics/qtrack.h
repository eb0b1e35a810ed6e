/*
 * qtrack - what logscan remembers about each message between its log lines,
 * keyed by queue ID (Postfix) or message ID (Exim).
 *
 * One open-addressing hash table (linear probing, backward-shift deletion,
 * no tombstones) of fixed-size entries: memory follows the number of live
 * messages, not the size of the log. An entry is deleted when the MTA says
 * the message is gone ("removed", "Completed"). The table grows up to max
 * entries; when full, entries older than QTRACK_STALE_MS (a queue lifetime)
 * are dropped, and if that frees nothing the new message is not tracked
 * (counted in dropped).
 */
#ifndef RG_FORENSICS_QTRACK_H
#define RG_FORENSICS_QTRACK_H

#include "core/addr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QTRACK_ID_MAX 23
#define QTRACK_STALE_MS (6LL * 86400000) /* Postfix's maximal_queue_lifetime is 5 d */

/* flags */
#define QTRACK_IP 0x0001u       /* ip is set */
#define QTRACK_CLIENT 0x0002u   /* came in over SMTP */
#define QTRACK_AUTH 0x0004u     /* the client authenticated (user set) */
#define QTRACK_LOCALNET 0x0008u /* the client is in the local networks */
#define QTRACK_PICKUP 0x0010u   /* submitted on this machine (sendmail, pickup) */
#define QTRACK_BOUNCE 0x0020u   /* a bounce the MTA made; ip/user: whose mail caused it */
#define QTRACK_AUTO 0x0040u     /* Auto-Submitted */
#define QTRACK_NULL 0x0080u     /* null envelope sender */
#define QTRACK_QUEUED 0x0100u   /* the MAIL event was sent */
#define QTRACK_RELAYED 0x0200u  /* counted as relayed without authentication */
#define QTRACK_SCATTER 0x0400u  /* counted as backscatter */

struct qtrack_msg {
	char id[QTRACK_ID_MAX + 1];
	uint8_t id_len; /* 0: free slot */
	uint16_t flags;
	uint32_t user; /* interned user, 0 = none */
	struct addr ip;
	int64_t time_ms;
};

struct qtrack {
	struct qtrack_msg *slots;
	size_t cap; /* power of two */
	size_t n, max;
	size_t peak;
	uint64_t dropped;
};

/* max: the most live messages to keep. 0 or -1 (no memory). */
int qtrack_init(struct qtrack *t, size_t max);
void qtrack_free(struct qtrack *t);
/* The entry of id, or NULL. */
struct qtrack_msg *qtrack_get(struct qtrack *t, const char *id, size_t len);
/* The entry of id, created (zeroed, time_ms = now) when absent; *created says which.
 * NULL when the id is too long or the table is full. Pointers stay valid until the
 * next qtrack_put or qtrack_del. */
struct qtrack_msg *qtrack_put(struct qtrack *t, const char *id, size_t len, int64_t now,
                              bool *created);
void qtrack_del(struct qtrack *t, struct qtrack_msg *m);
/* Drops entries with time_ms before before_ms; returns how many. */
size_t qtrack_expire(struct qtrack *t, int64_t before_ms);

#endif
