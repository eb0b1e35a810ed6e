/*
 * pfhold - held mail when relayguard is only Postfix's policy service
 * (docs/deploy-postfix.md): a HOLD answer makes Postfix put the message in
 * its own hold queue, so that is where `relayguard hold` and the web page
 * look and act, through Postfix's own tools: `postqueue -j` to read the
 * queue, `postsuper -H ID` to release, `postsuper -d ID` to delete.
 *
 * Only the messages the policy held are ours: every HOLD answer is recorded
 * (the Postfix queue ID with the instance, sender, recipients, identity and
 * time) in a small store, state_dir/postfix-holds.json, written by the
 * server alone (DESIGN.md invariant 8). At the first RCPT of a message
 * Postfix has no queue ID yet (smtpd_delay_open_until_valid_rcpt): such a
 * record gets it from a later request of the same instance, or, failing
 * that, is matched to the held message by sender, recipients and time.
 *
 * Releases and deletes are audit records in the spool's audit.log, as the
 * gateway's own. The programs run with core/spawn (posix_spawn, no shell,
 * with a time limit); the record store has a lock, so the server runs them
 * on a worker thread while its loop goes on recording.
 */
#ifndef RG_ADMIN_PFHOLD_H
#define RG_ADMIN_PFHOLD_H

#include "admin/pfqueue.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PFHOLD_RCPTS 8  /* recipients kept per record, for matching */
#define PFHOLD_MAX 4096 /* records kept; the oldest go first */

struct pfhold_conf {
	char postqueue[512]; /* command, with arguments before postqueue's own */
	char postsuper[512];
	char config_dir[512]; /* "" or Postfix's -c */
	int timeout_ms;
	char store_path[1024]; /* the records */
	char audit_path[1024]; /* the audit log ("": none) */
};

/* What one HOLD answer (or a later request of its instance) says. */
struct pfhold_rec {
	char queue_id[PFQUEUE_ID_MAX]; /* "" when Postfix had none yet */
	char instance[64];
	char sender[PFQUEUE_ADDR_MAX];
	unsigned nrcpt;
	char rcpt[PFHOLD_RCPTS][PFQUEUE_ADDR_MAX];
	char user[256]; /* sasl_username */
	char client_ip[64];
	char identity[256];
	char rule[48];
	char reason[256];
	int64_t time_ms;
};

struct pfhold;

/* Reads the records at conf->store_path (none there: none held). NULL with err. */
struct pfhold *pfhold_open(const struct pfhold_conf *conf, char *err, size_t errlen);
void pfhold_free(struct pfhold *p);

/* A HOLD answer (held) is recorded, merged with the record of its instance; a
 * request that was not held but carries a queue ID gives it to the record of
 * its instance that had none. Errors are logged: Postfix holds the mail anyway. */
void pfhold_note(struct pfhold *p, const struct pfhold_rec *r, bool held);
size_t pfhold_count(struct pfhold *p);

/* {"holds": [...], "queue": "postfix"} with the messages in Postfix's hold queue
 * that the policy held (holds.h's fields with "id" the Postfix queue ID, plus
 * "identity", "rule", "instance"); records of messages no longer held are
 * dropped. NULL with err when postqueue fails. */
json_t *pfhold_list(struct pfhold *p, int64_t now_ms, char *err, size_t errlen);

enum pfhold_result {
	PFHOLD_DONE,
	PFHOLD_NOT_OURS, /* no HOLD of the policy has this queue ID */
	PFHOLD_NOT_HELD, /* ours, but no longer in the hold queue */
	PFHOLD_BAD_ID,
	PFHOLD_FAILED, /* postqueue or postsuper failed: err says why */
};

/* release (postsuper -H) or delete (postsuper -d) one held message of the policy's. */
enum pfhold_result pfhold_change(struct pfhold *p, bool release, const char *id, const char *actor,
                                 const char *reason, int64_t now_ms, char *err, size_t errlen);

#endif
