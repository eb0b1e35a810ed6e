/*
 * kerlog - Kerio Connect (Kerio MailServer) log lines, parsed in place.
 *
 * Every line starts "[dd/Mon/yyyy hh:mm:ss] " (the server's local time; read
 * as UTC). Read from the two logs under store/logs/:
 *
 *   security.log
 *     Failed SMTP login from 192.0.2.7 with SASL method LOGIN.      (any service)
 *     SMTP: User x@example.com doesn't exist. Attempt from IP address 192.0.2.7.
 *     Administration login into Web Administration from 192.0.2.7 failed: ...
 *     Relay attempt from IP address 192.0.2.7, mail from <S> to <R> rejected
 *     Attempt to deliver to unknown recipient <R>, from <S>, IP address 192.0.2.7
 *   mail.log
 *     Recv: Queue-ID: Q, Service: SMTP, From: <S>, To: <R>, Size: N,
 *           User: U, Sender-Host: IP, SSL: yes
 *     Sent: Queue-ID: Q, Recipient: <R>, Result: delivered|relayed|failed,
 *           Status: 2.0.0[, Remote-Host: IP]
 *
 * A "Failed ... login from NAME" with a host name instead of an address is a
 * failure of no known IP (Kerio writes the name when it has one): it is kept
 * as a failure without an IP.
 */
#ifndef RG_FORENSICS_KERLOG_H
#define RG_FORENSICS_KERLOG_H

#include "forensics/srvlog.h"

/* Epoch ms of "[dd/Mon/yyyy hh:mm:ss]" at p; *used = its length with the space
 * after it. -1 when the line does not start so. */
int kerlog_stamp(const char *p, size_t len, int64_t *ms, size_t *used);
/* One line. -1: not a Kerio line; 0: *out filled (kind OTHER when nothing useful). */
int kerlog_parse(const char *p, size_t len, struct srvlog_rec *out);

#endif
