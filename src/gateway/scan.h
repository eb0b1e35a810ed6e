/*
 * scan - the outbound content scan: one message to rspamd over its HTTP
 * protocol (POST /checkv2, the envelope as request headers: From, Rcpt per
 * recipient, IP, User, Helo, Queue-Id), asynchronous on libevent's HTTP
 * client, the JSON reply read with jansson.
 *
 * The caller (smtpd) hands over the content and a callback; the callback
 * runs once, from the event loop, never inside scan_start(): with the
 * action rspamd chose, or with a status saying why there is none (rspamd
 * down, slow past the timeout, a reply we cannot read). Those statuses
 * never stop mail: the caller passes the message and counts the failure
 * (docs/delivery.md "Content scanning").
 */
#ifndef RG_GATEWAY_SCAN_H
#define RG_GATEWAY_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;
struct scan;
struct scan_req;

enum scan_status {
	SCAN_DONE = 0, /* rspamd answered: action, score */
	SCAN_ERROR,    /* could not connect, HTTP error, unreadable reply */
	SCAN_TIMEOUT,  /* no answer within the timeout */
};

/* rspamd's actions (its "action" field). */
enum scan_action {
	SCAN_NO_ACTION = 0,
	SCAN_GREYLIST,
	SCAN_ADD_HEADER,
	SCAN_REWRITE_SUBJECT,
	SCAN_SOFT_REJECT,
	SCAN_REJECT,
};

#define SCAN_TEXT_MAX 200
#define SCAN_SCORE_MAX 1e6 /* |score| and |required_score| in a reply, at most */

struct scan_result {
	enum scan_status status;
	enum scan_action action;
	double score, required_score;
	char message[SCAN_TEXT_MAX]; /* messages.smtp_message; "" when none */
	char subject[SCAN_TEXT_MAX]; /* the new subject of rewrite subject; "" when none */
	char error[SCAN_TEXT_MAX];   /* why, for SCAN_ERROR / SCAN_TIMEOUT */
};

/* The envelope of the message, sent as request headers. */
struct scan_meta {
	const char *queue_id;
	const char *sender; /* "" for the null sender */
	const char *const *rcpt;
	size_t nrcpt;
	const char *ip;   /* "" when not known */
	const char *user; /* "" or NULL when not authenticated */
	const char *helo;
};

typedef void (*scan_cb)(void *arg, const struct scan_result *r);

/* host: a literal address; timeout_ms for the whole exchange. NULL on no memory. */
struct scan *scan_new(struct event_base *base, const char *host, unsigned port,
                      uint64_t timeout_ms);
/* Cancels every request still running (their callbacks do not run). */
void scan_free(struct scan *s);

/* Starts a scan of content (taken: emptied into the request). NULL when it
 * cannot start (no memory): the caller passes the message unscanned. */
struct scan_req *scan_start(struct scan *s, const struct scan_meta *meta, struct evbuffer *content,
                            scan_cb cb, void *arg);
/* The callback will not run; NULL is fine. */
void scan_cancel(struct scan_req *r);

/* Reads rspamd's JSON reply (len bytes, no NUL needed) into out (status
 * SCAN_DONE). 0, or -1 with out->error saying why. */
int scan_parse_reply(const char *p, size_t len, struct scan_result *out);

const char *scan_action_name(enum scan_action a);
/* The metric label of a result: the action's name with '_' for ' ', or
 * "error" / "timeout". */
const char *scan_result_label(const struct scan_result *r);

#endif
