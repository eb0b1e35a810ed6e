/*
 * pfpolicy - the Postfix policy delegation protocol (SMTPD_POLICY_README):
 * the request parser and the reply formatter. No I/O.
 *
 * Postfix sends "name=value" lines ending with an empty line and keeps the
 * connection open for the next request. Values may contain '='; unknown
 * attributes are ignored (Postfix adds new ones over time); a repeated known
 * attribute keeps the last value. The parser is streaming: bytes may arrive
 * split anywhere. Everything is bounded: a line, the number of attributes and
 * the whole request; past a bound the request is an error and the caller
 * closes the connection (Postfix then applies its default action).
 */
#ifndef RG_SMTP_PFPOLICY_H
#define RG_SMTP_PFPOLICY_H

#include "core/addr.h"
#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PFP_LINE_MAX 4096
#define PFP_ATTRS_MAX 128
#define PFP_REQUEST_MAX 65536
#define PFP_NAME_MAX 256
#define PFP_ADDR_MAX 512

enum pfp_state {
	PFP_STATE_UNKNOWN,
	PFP_STATE_CONNECT,
	PFP_STATE_EHLO,
	PFP_STATE_HELO,
	PFP_STATE_MAIL,
	PFP_STATE_RCPT,
	PFP_STATE_DATA,
	PFP_STATE_END_OF_MESSAGE,
	PFP_STATE_VRFY,
	PFP_STATE_ETRN,
};

struct pfp_request {
	char request[32];     /* "smtpd_access_policy" */
	enum pfp_state state; /* protocol_state */
	char protocol_state[32];
	char protocol_name[16]; /* SMTP, ESMTP */
	char helo_name[PFP_NAME_MAX];
	char queue_id[64];
	char sender[PFP_ADDR_MAX];
	char recipient[PFP_ADDR_MAX];
	uint64_t recipient_count;
	bool has_client_address;
	struct addr client_address;
	char client_name[PFP_NAME_MAX];
	char reverse_client_name[PFP_NAME_MAX];
	char instance[64];
	char sasl_method[32];
	char sasl_username[PFP_NAME_MAX];
	char sasl_sender[PFP_ADDR_MAX];
	uint64_t size;
	char encryption_protocol[32];
	char encryption_cipher[96];
	char server_address[ADDR_STRLEN];
	unsigned attrs; /* attributes seen, known or not */
};

struct pfp_parser {
	struct pfp_request req;
	char line[PFP_LINE_MAX + 1];
	size_t linelen;
	bool overlong; /* the current line passed PFP_LINE_MAX: the request fails at its end */
	size_t bytes;  /* of the current request */
	char error[128];
	bool failed;
};

enum pfp_status {
	PFP_MORE,    /* everything given was consumed; no complete request yet */
	PFP_REQUEST, /* parser->req holds a complete request; feed the rest again */
	PFP_ERROR,   /* parser->error says why; close the connection */
};

void pfp_parser_init(struct pfp_parser *p);
/* Consumes bytes up to and including the end of one request. *used tells how many;
 * after PFP_REQUEST call again with the remainder. After PFP_ERROR the parser must be
 * re-initialised (the connection is closed anyway). */
enum pfp_status pfp_parser_feed(struct pfp_parser *p, const char *data, size_t len, size_t *used);
const char *pfp_state_name(enum pfp_state s);

enum pfp_action {
	PFP_DUNNO,   /* no opinion */
	PFP_OK,      /* accept (rarely right for a gateway: skips later restrictions) */
	PFP_DEFER,   /* 450 4.7.1 with text */
	PFP_REJECT,  /* 554 5.7.1 with text */
	PFP_HOLD,    /* accept into Postfix's hold queue, with text */
	PFP_WARN,    /* log a warning, accept */
	PFP_PREPEND, /* add a header: text is "Name: value" */
};

/* Appends "action=...\n\n" to out. Text is cleaned of CR, LF and control
 * characters and cut to a sane length. 0, or -1 if out is full. */
int pfp_format_reply(struct buf *out, enum pfp_action action, const char *text);
const char *pfp_action_name(enum pfp_action a);

/*
 * pfp_instances - what was counted of each message whose requests are still
 * coming. Postfix sends `instance` with every request (one value per message
 * per smtpd: pid, time and a sequence number), so RCPT requests and the
 * END-OF-MESSAGE request of one message can be told apart from another's.
 * Bounded: entries not seen for ttl_ms are forgotten, and when max entries
 * are in use the least recently seen one makes room. Time is the caller's.
 */
#define PFP_INSTANCE_MAX 64

struct pfp_instance {
	char id[PFP_INSTANCE_MAX];
	int64_t first_ms, last_ms;
	uint64_t bytes;   /* size counted (declared at RCPT, or END-OF-MESSAGE's) */
	uint32_t rcpts;   /* recipients counted (RCPT requests accepted) */
	bool msg_counted; /* the message itself was counted */
	bool eom_counted; /* END-OF-MESSAGE was counted */
	/* the table's own: the id's hash, links (indices) */
	uint64_t hash;
	uint32_t free_next, prev, next;
};

struct pfp_instances;

/* max entries (>= 1), forgotten after ttl_ms without a request. NULL on no memory. */
struct pfp_instances *pfp_instances_new(size_t max, int64_t ttl_ms);
void pfp_instances_free(struct pfp_instances *t);
/* The entry of id at now_ms, made fresh (*created true, counters zero) when
 * absent; it becomes the most recently seen. Expired entries go first, then,
 * when full, the least recently seen. NULL when id is "" or longer than
 * PFP_INSTANCE_MAX - 1 (such a request cannot be tracked). */
struct pfp_instance *pfp_instances_get(struct pfp_instances *t, const char *id, int64_t now_ms,
                                       bool *created);
/* Entries held now. */
size_t pfp_instances_count(const struct pfp_instances *t);
/* Entries dropped so far because the table was full (not by age). */
uint64_t pfp_instances_evicted(const struct pfp_instances *t);

#endif
