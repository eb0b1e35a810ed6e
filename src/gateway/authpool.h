/*
 * authpool - password checks (Argon2id, a few hundred ms each) on a few
 * worker threads, so the event loop that owns the SMTP sessions never waits
 * for one.
 *
 * The loop thread looks the account up (userdb_lookup: the store is only
 * read there) and submits a job holding copies of the credentials and the
 * password; a worker runs authbe_check() on them (the users file's Argon2, or
 * the Dovecot or LDAP exchange: auth/authbe.h) and puts the job on a done
 * list; a pipe wakes an event on the loop, which calls the job's callback
 * there. Nothing but the callback runs on the loop for a job, and nothing but
 * authbe_check() on a worker.
 *
 * Cancellation: authpool_cancel() (on the loop, e.g. when the connection the
 * job is for goes away) guarantees the callback is never called; a job not
 * yet started is dropped at once, a running one is discarded when it ends.
 * The queue is bounded: authpool_submit() refuses (NULL) rather than wait.
 * authpool_free() stops the workers after their current check and joins them;
 * the callbacks of jobs left are not called.
 */
#ifndef RG_GATEWAY_AUTHPOOL_H
#define RG_GATEWAY_AUTHPOOL_H

#include "auth/authbe.h"

#include <stddef.h>

struct event_base;
struct authpool;
struct authpool_job;

#define AUTHPOOL_WORKERS_MAX 64

/* On the loop thread; the job (and r) is gone once this returns. */
typedef void (*authpool_done_fn)(void *arg, const struct authbe_result *r);

/* workers threads (1..AUTHPOOL_WORKERS_MAX), at most queue_max jobs submitted
 * and not yet finished (>= 1). NULL with err on failure. */
struct authpool *authpool_new(struct event_base *base, unsigned workers, unsigned queue_max,
                              char *err, size_t errlen);
void authpool_free(struct authpool *p);

/* Queues authbe_check(req) (the request, password included, is copied, and
 * wiped when the job ends). done(arg, result) is called later on the loop,
 * unless the job is cancelled first; done NULL: nobody is called (a check run
 * for its side effect: the first unknown-user check makes the dummy hash).
 * NULL when the queue is full, pwlen is over PASSWD_PLAIN_MAX or memory ran
 * out: nothing was queued. */
struct authpool_job *authpool_submit(struct authpool *p, const struct authbe_request *req,
                                     authpool_done_fn done, void *arg);
/* done will not be called for j. Only before done was called for it. */
void authpool_cancel(struct authpool *p, struct authpool_job *j);

/* Jobs submitted and not yet finished (queued or running, cancelled or not). */
unsigned authpool_pending(struct authpool *p);

#endif
