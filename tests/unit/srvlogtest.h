/*
 * srvlogtest - the line feeder of the srvlog unit tests (Exchange,
 * MailEnable): lines go to srvlog_line() as lines of the one file F.
 */
#ifndef RG_TESTS_SRVLOGTEST_H
#define RG_TESTS_SRVLOGTEST_H

#include "forensics/srvlog.h"
#include "logtest.h"

#include <string.h>

/* the file the lines are of */
static struct srvlog_file F;

static inline int feed(struct srvlog *v, const char *s, struct srvlog_rec *r)
{
	return srvlog_line(v, &F, s, strlen(s), r);
}

#endif
