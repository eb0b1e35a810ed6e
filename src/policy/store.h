/*
 * store - the policy engine's state store: an interface, two backends.
 *
 * Three kinds of state:
 *   records  opaque byte strings (at most STORE_REC_MAX) under a string key:
 *            the engine's counters per identity. update() is the
 *            check-and-commit: the backend hands the current bytes to a
 *            callback and stores what it leaves only when it says commit,
 *            as one atomic step (a mutex in memory, a write transaction in
 *            LMDB, a Lua compare-and-set in Redis), so two sessions of one
 *            identity can never both slip under a limit, on one node or on
 *            several sharing Redis.
 *   blocks   struct store_block under its identity ("user:a@b", "ip:192.0.2.1",
 *            "cidr:192.0.2.0/24", "domain:example.org"); list by iteration.
 *   audit    an append-only list of struct store_audit.
 *   expiring records  records put with put_exp(): the same keys and bytes as
 *            above, plus a time after which expire() deletes them (the
 *            inbound memory, auto-reply marks). The time is the caller's
 *            (the engine's event time), never the store's clock, so a replay
 *            sweeps the same records. get() and update() still return an
 *            expiring record until it is swept: readers compare the time
 *            themselves. A key is expiring or not for its whole life; put()
 *            and update() on an expiring key keep its expiry.
 *            put_exp and expire are optional: a backend may leave them NULL
 *            (the engine then uses put() and skips the sweep), or map them
 *            to its own expiry: Redis sets a TTL (SET ... PX) counted from
 *            the newest time expire() was given, its expire() only records
 *            that time and returns 0, and put() and update() use KEEPTTL.
 *
 * Backends: store_mem.c (hash table, thread-safe, gone at exit),
 * store_lmdb.c (one LMDB environment, survives restarts) and store_redis.c
 * (several gateway nodes share one Redis). Every function
 * returns 0 / 1 / -1 as documented: -1 is a backend failure the caller sees.
 */
#ifndef RG_POLICY_STORE_H
#define RG_POLICY_STORE_H

#include "policy/event.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_REC_MAX 8192
#define STORE_KEY_MAX 300
#define STORE_EVIDENCE_MAX 6

enum store_block_kind {
	STORE_BLOCK_USER = 0,
	STORE_BLOCK_IP,
	STORE_BLOCK_CIDR,
	STORE_BLOCK_DOMAIN,
};

struct store_block {
	char identity[POL_IDENT_MAX]; /* "user:..." etc., the key */
	enum store_block_kind kind;
	char rule[48];             /* which rule made it, "manual" for a person */
	char reason[POL_TEXT_MAX]; /* one line for a person */
	uint32_t n_evidence;
	char evidence[STORE_EVIDENCE_MAX][POL_TEXT_MAX];
	int64_t created_ms;
	int64_t expires_ms; /* 0 = until a person lifts it */
	uint32_t offences;  /* blocks of this identity before this one */
};

struct store_audit {
	int64_t time_ms;
	char actor[POL_ACTOR_MAX]; /* "engine" or the person */
	char action[16];           /* block, unblock, expire */
	char identity[POL_IDENT_MAX];
	char reason[POL_TEXT_MAX];
	/* A block's rule, expiry and offences, so the trail can rebuild the
	 * blocks (store verify). Records written before these fields were added
	 * decode with them zero (STORE_AUDIT_V1_SIZE). */
	char rule[48];
	int64_t expires_ms;
	uint32_t offences;
};
#define STORE_AUDIT_V1_SIZE offsetof(struct store_audit, rule)

/* update() callback: rec holds *len bytes of the current record (0 when there
 * is none) in a buffer of cap bytes (the memory backend may pass the stored
 * bytes themselves). Returns STORE_COMMIT after leaving the new record in
 * rec and *len (at most cap), STORE_KEEP to change nothing (rec must then be left
 * as it was), or -1 on an error (nothing changes). The callback may run more
 * than once for one update() (Redis: another node wrote the record in between,
 * so it is read and decided again): it must set every output in ctx afresh
 * from rec each time; only the last run's outputs count. */
#define STORE_KEEP 0
#define STORE_COMMIT 1
typedef int (*store_update_fn)(void *ctx, unsigned char *rec, size_t *len, size_t cap);
typedef int (*store_block_fn)(void *ctx, const struct store_block *b);
typedef int (*store_audit_fn)(void *ctx, const struct store_audit *a);

struct store {
	/* 1 found (copied into out, *len set; -1 if it did not fit), 0 absent, -1 error */
	int (*get)(struct store *s, const char *key, void *out, size_t cap, size_t *len);
	int (*put)(struct store *s, const char *key, const void *rec, size_t len);
	/* 1 deleted, 0 absent, -1 error */
	int (*del)(struct store *s, const char *key);
	/* Deletes every record whose key starts with prefix. Count, or -1. */
	long (*del_prefix)(struct store *s, const char *prefix);
	/* STORE_COMMIT or STORE_KEEP as the callback said, or -1. */
	int (*update)(struct store *s, const char *key, store_update_fn fn, void *ctx);
	/* put() with an expiry time in ms (optional, may be NULL). 0 or -1. */
	int (*put_exp)(struct store *s, const char *key, const void *rec, size_t len,
	               int64_t expires_ms);
	/* Deletes every expiring record whose time is <= now_ms (optional, may be
	 * NULL). Count, or -1. A backend may stop after STORE_EXPIRE_BATCH
	 * records (the caller sweeps again soon when it returns that many). */
	long (*expire)(struct store *s, int64_t now_ms);
	/* update() that also gives the record (on commit) the expiry expires_ms,
	 * as put_exp() does: the engine's per-identity records live as long as
	 * their longest window (optional, may be NULL: store_update_exp() then
	 * uses update() and the record never expires). A backend may keep a
	 * later expiry than asked (never an earlier one) to save index writes. */
	int (*update_exp)(struct store *s, const char *key, store_update_fn fn, void *ctx,
	                  int64_t expires_ms);
	/* How full the store is: bytes in use and the most it can hold (optional,
	 * may be NULL: no limit known). 0 or -1. */
	int (*usage)(struct store *s, uint64_t *used, uint64_t *cap);

	int (*block_put)(struct store *s, const struct store_block *b);
	int (*block_get)(struct store *s, const char *identity, struct store_block *out);
	int (*block_del)(struct store *s, const char *identity);
	/* Calls fn for each block (order unspecified); stops when fn returns
	 * non-zero and returns that value; 0 after all, -1 on error. fn must not
	 * change the store. */
	int (*block_iter)(struct store *s, store_block_fn fn, void *ctx);
	size_t (*block_count)(struct store *s);

	int (*audit_append)(struct store *s, const struct store_audit *a);
	/* Oldest first; like block_iter. */
	int (*audit_iter)(struct store *s, store_audit_fn fn, void *ctx);

	void (*close)(struct store *s);
	const char *name;
};

struct store *store_mem_new(void);
/* A memory store of at most max_records records (0: no limit): a new record
 * past it fails (-1, a store error), so a hostile input cannot grow it
 * without bound; records already there are still updated. */
struct store *store_mem_new_capped(size_t max_records);
/* Records in a memory store (not blocks). */
size_t store_mem_count(struct store *s);
/* Opens (creating) the LMDB store in directory path: the counters in path
 * itself (not synced), the blocks in path/blocks and the audit trail in
 * path/audit (each commit synced). NULL with err set. */
struct store *store_lmdb_open(const char *path, size_t map_bytes, char *err, size_t errlen);
/* True when s is an LMDB store whose blocks and audit trail are synced on
 * every commit (their environments have no NOSYNC, MAPASYNC or NOMETASYNC). */
bool store_lmdb_durable(struct store *s);

/* What store_lmdb_verify found (and, with repair, did). */
struct store_lmdb_check {
	unsigned long blocks, audits;         /* records read */
	unsigned long bad_blocks;             /* blocks that do not decode (repair: deleted) */
	unsigned long bad_audits;             /* audit records that do not decode */
	unsigned long missing;                /* blocks the audit trail says are in force, absent */
	unsigned long rebuilt;                /* of those, written back from the trail (repair) */
	bool blocks_broken, blocks_reset;     /* environment unreadable; recreated */
	bool counters_broken, counters_reset; /* likewise (counters are lossy) */
	bool audit_broken;                    /* the trail itself: nothing to rebuild from */
	char problem[300];                    /* the first problem, for a person */
};
/* Checks the store in path (the gateway stopped for repair): every
 * environment opens and every record walks and decodes, and every block the
 * audit trail says is in force exists. With repair: unreadable counters and
 * blocks environments are moved aside (NAME.broken-SECONDS, of now_ms) and recreated,
 * undecodable blocks deleted and missing blocks rebuilt from the trail (rule,
 * reason, expiry and offences; the evidence is not in the trail). 0 when
 * checked (out says what), -1 when it could not check at all (err). */
int store_lmdb_verify(const char *path, size_t map_bytes, bool repair, int64_t now_ms,
                      struct store_lmdb_check *out, char *err, size_t errlen);

struct store_redis_options {
	const char *host;        /* NULL: 127.0.0.1 */
	int port;                /* 0: 6379 */
	const char *unix_path;   /* instead of host and port when set */
	const char *prefix;      /* of every key; NULL: "relayguard:" */
	int timeout_ms;          /* connect and per command; 0: 500 */
	bool require_connection; /* fail at open when Redis does not answer */
};
/* A store on Redis. Without require_connection it opens even when Redis is down
 * and connects on the next call. NULL with err set. */
struct store *store_redis_open(const struct store_redis_options *o, char *err, size_t errlen);
/* False after a call failed to reach Redis (refused, reset, timed out), until a
 * later call reconnects; a Redis error reply leaves it true. */
bool store_redis_up(struct store *s);
/* Reconnects when needed and sends PING: 0, or -1 with err (may be NULL). */
int store_redis_ping(struct store *s, char *err, size_t errlen);

/* s->put_exp(), or s->put() on a store without expiry (put_exp NULL): the
 * record then lives until deleted, and a reader still checks the expiry the
 * record itself carries. */
int store_put_exp(struct store *s, const char *key, const void *rec, size_t len,
                  int64_t expires_ms);
/* s->update_exp(), or s->update() on a store without it. */
int store_update_exp(struct store *s, const char *key, store_update_fn fn, void *ctx,
                     int64_t expires_ms);
/* Per mille of the store in use (0..1000), or -1 when the store knows no
 * limit or cannot tell. */
int store_usage_permille(struct store *s);

/* Most records one expire() call deletes (the sweep is incremental). */
#define STORE_EXPIRE_BATCH 4096

/* The value format of blocks and audit records in the persistent backends: an
 * 8-byte header ('R' 'G', type byte, format version, 32-bit payload size) then
 * the struct. encode writes size + 8 bytes; decode is 0, or -1 when the header
 * or size do not match (a foreign value, skipped). */
#define STORE_VALUE_HDR 8
void store_value_encode(unsigned char *out, char type, const void *payload, uint32_t size);
int store_value_decode(const void *data, size_t len, char type, void *payload, uint32_t size);

/* An audit value (either size); 0 or -1 like store_value_decode. */
int store_audit_decode(const void *data, size_t len, struct store_audit *out);

/* Identity kind from its prefix ("user:", "ip:", "cidr:", "domain:"). 0 or -1. */
int store_block_kind_of(const char *identity, enum store_block_kind *out);
const char *store_block_kind_name(enum store_block_kind k);

#endif
