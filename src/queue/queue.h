/*
 * queue - the durable spool (DESIGN.md invariant 2): a message is on disk
 * and synced, file and directory, before the SMTP session may say 250; a
 * crash before that leaves nothing half-queued; recovery on open queues every
 * complete entry and removes every partial one. A hold queue keeps messages
 * a person must release or delete (invariant 3).
 *
 * Receiving side (the SMTP server):
 *     m = queue_msg_new(q)            a new entry with its queue ID
 *     queue_msg_write(m, p, n) ...    the content, Received header first
 *     queue_msg_commit(m, env, cb)    durable, then cb(arg, 0, id) from the
 *                                     event loop; cb(arg, -1, ...) on error
 *  or queue_msg_abort(m)              nothing stays on disk
 * Commits of many sessions share one sync (group commit): the caller never
 * blocks, the callback comes when its batch is durable.
 *
 * Delivery side: queue_next_due() hands out entries whose time has come,
 * queue_entry_* read and update an entry's envelope (per-recipient results,
 * next attempt), queue_entry_done() removes it once every recipient is final.
 *
 * Hold queue: an entry committed with env->hold_reason set, or moved there by
 * queue_hold(), is never handed to delivery until queue_release(); delete
 * removes it. Every hold operation names an actor and a reason for the audit.
 *
 * Queue IDs are 16 upper-case hex digits or more (time + sequence), unique
 * per spool, usable as file names, and appear in every log line about the
 * message.
 *
 * How (docs/queue.md): records appended to segment files, one fdatasync per
 * batch of commits; per-entry state files replaced atomically; an audit log
 * of every hold, release, delete and flush.
 */
#ifndef RG_QUEUE_QUEUE_H
#define RG_QUEUE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

#define QUEUE_ID_MAX 32
#define QUEUE_ADDR_MAX 512 /* an address as in the envelope, without <> */
#define QUEUE_REASON_MAX 256
#define QUEUE_RCPT_MAX 1000 /* per message */

enum queue_rcpt_status {
	QUEUE_RCPT_PENDING, /* not yet delivered, or deferred (next attempt later) */
	QUEUE_RCPT_SENT,    /* 2xx from the next hop */
	QUEUE_RCPT_FAILED,  /* 5xx, or the queue lifetime ran out */
};

/* DSN NOTIFY= (RFC 3461) bits; 0: not given. */
enum {
	QUEUE_NOTIFY_NEVER = 1,
	QUEUE_NOTIFY_SUCCESS = 2,
	QUEUE_NOTIFY_FAILURE = 4,
	QUEUE_NOTIFY_DELAY = 8,
};

struct queue_rcpt {
	char addr[QUEUE_ADDR_MAX];
	char orcpt[QUEUE_ADDR_MAX]; /* ORCPT=, "" when not given */
	unsigned notify;            /* QUEUE_NOTIFY_* bits */
	enum queue_rcpt_status status;
	unsigned attempts;
	char last_reply[QUEUE_REASON_MAX]; /* last answer of the next hop, one line */
};

struct queue_envelope {
	char id[QUEUE_ID_MAX];       /* set by the queue */
	uint64_t arrival_ms;         /* set by the queue at commit (its clock) */
	char sender[QUEUE_ADDR_MAX]; /* MAIL FROM, "" for the null sender */
	char client_ip[64];          /* "" when not known (local submission) */
	char client_helo[256];
	char auth_user[256];  /* "" when not authenticated */
	char protocol[16];    /* RFC 3848 name: ESMTPSA, ESMTP, ... */
	char listener[32];    /* the listener's name in the config */
	bool sender_verified; /* authenticated, or a local-domain sender from a
	                         trusted network: DSNs may go to it (invariant 4) */
	char envid[101];      /* DSN ENVID=, "" when not given */
	char ret[8];          /* DSN RET=: "", "FULL" or "HDRS" */
	char body[12];        /* BODY=: "", "7BIT", "8BITMIME", "BINARYMIME" */
	bool smtputf8;
	uint64_t size;                      /* content octets, set by the queue at commit */
	char hold_reason[QUEUE_REASON_MAX]; /* "" = active queue; else held, and why */
	/* delivery state, kept by the delivery side */
	uint64_t next_attempt_ms; /* 0: due now */
	unsigned attempts;
	unsigned nrcpt;
	struct queue_rcpt *rcpt; /* nrcpt of them; owned by whoever filled it */
};

/* opts NULL: the defaults. A caller passing opts sets fsync itself. */
struct queue_opts {
	bool fsync;               /* default true; false only for tests and benches */
	unsigned batch_max;       /* commits per sync at most (0: default 256) */
	uint64_t (*now_ms)(void); /* the clock; NULL: core/clock */
	uint64_t seg_max;         /* start a new segment file past this size (0: 64 MiB) */
	bool shared;              /* a tool beside the server (hold, status): never owns
	                             the spool, never recovers or receives; base must be NULL */
	int (*datasync)(int fd);  /* NULL: fdatasync(); tests make it fail */
};

struct queue;
struct queue_msg;

/* Opens (creating if needed) the spool under dir and recovers it: complete
 * entries are kept, partial ones removed and logged. base is the event loop
 * the commit callbacks run in (NULL: synchronous commits, for tools such as
 * `relayguard hold` that run no loop). 0, or -1 with err. */
int queue_open(struct queue **qp, const char *dir, struct event_base *base,
               const struct queue_opts *opts, char *err, size_t errlen);
void queue_close(struct queue *q);

/* Counts for status and /metrics. */
struct queue_stats {
	uint64_t active, held, deferred; /* deferred: active with attempts > 0 */
	uint64_t bytes;
	uint64_t oldest_arrival_ms; /* 0: empty */
	uint64_t commits, syncs;    /* since open: commits and the syncs they shared */
};
void queue_stats(const struct queue *q, struct queue_stats *out);

/* ---- receiving ---- */

/* NULL on error (logged): the session answers 451 4.3.0. */
struct queue_msg *queue_msg_new(struct queue *q);
const char *queue_msg_id(const struct queue_msg *m);
/* 0, or -1 (disk full, I/O error): the message must then be aborted. */
int queue_msg_write(struct queue_msg *m, const void *p, size_t n);
/* The content written so far: its size, and n bytes of it from off (*got
 * less at the end). 0, or -1 (I/O error, or off past the end). */
uint64_t queue_msg_size(const struct queue_msg *m);
int queue_msg_read(const struct queue_msg *m, uint64_t off, void *p, size_t n, size_t *got);
/* Takes m (do not touch it afterwards). env is copied, recipients included.
 * cb runs exactly once, from the event loop (or before return when base is
 * NULL): status 0 durable with id, -1 not queued (nothing left on disk). */
typedef void (*queue_commit_cb)(void *arg, int status, const char *id);
void queue_msg_commit(struct queue_msg *m, const struct queue_envelope *env, queue_commit_cb cb,
                      void *arg);
void queue_msg_abort(struct queue_msg *m);
/* Puts bytes in front of everything written so far (a DKIM-Signature field
 * computed at the end of DATA, before the commit). 0, or -1 past
 * QUEUE_PREPEND_MAX in all. */
#define QUEUE_PREPEND_MAX 65536
int queue_msg_prepend(struct queue_msg *m, const void *p, size_t n);

/* ---- delivery ---- */

/* The next active entry due at now_ms that is not already handed out; its id
 * in id. 1 found, 0 none. Handed-out entries stay out until
 * queue_entry_put() or queue_entry_done(). */
int queue_next_due(struct queue *q, uint64_t now_ms, char id[QUEUE_ID_MAX]);
/* Loads the envelope (rcpt allocated; free with queue_envelope_free). 0 or -1. */
int queue_entry_load(struct queue *q, const char *id, struct queue_envelope *env);
void queue_envelope_free(struct queue_envelope *env);
/* Opens the content for reading (a plain fd, positioned at 0); -1 on error. */
int queue_entry_open_content(struct queue *q, const char *id);
/* Saves env (statuses, attempts, next attempt) durably and gives the entry
 * back to the scheduler. 0 or -1. */
int queue_entry_put(struct queue *q, const struct queue_envelope *env);
/* Every recipient is final: remove the entry. 0 (also when a person deleted
 * it meanwhile), or -1. */
int queue_entry_done(struct queue *q, const char *id);

/* ---- hold queue and listing (the control API, status, web page) ----
 * Changes (hold, release, delete, flush) are made only by the process that
 * owns the spool; a shared opener may list and load. */

/* Calls fn for every entry (held ones too when held is true, only held ones
 * when only_held), in arrival order; fn returning non-zero stops. */
typedef int (*queue_list_fn)(void *arg, const struct queue_envelope *env);
int queue_list(struct queue *q, bool only_held, queue_list_fn fn, void *arg);
int queue_hold(struct queue *q, const char *id, const char *reason, const char *actor);
int queue_release(struct queue *q, const char *id, const char *reason, const char *actor);
int queue_delete(struct queue *q, const char *id, const char *reason, const char *actor);

/* What the last failed hold, release, delete, load or put was about:
 * "ID: no such entry", "ID: not held", ... ("" when none). */
const char *queue_error(const struct queue *q);

/* Makes deferred entries due now (their next attempt becomes 0, durably),
 * each with an audit record: the one named by id, or every active entry
 * waiting for a later attempt when id is NULL (entries being delivered are
 * left alone). The number flushed, or -1 (queue_error says why). */
int queue_flush(struct queue *q, const char *id, const char *actor);

#endif
