/*
 * fdlimit - the descriptors a daemon needs against RLIMIT_NOFILE: the soft
 * limit is raised to what is needed (up to the hard limit; root may raise the
 * hard limit too), and a need that cannot fit is an error at start rather
 * than EMFILE under load.
 */
#ifndef RG_CORE_FDLIMIT_H
#define RG_CORE_FDLIMIT_H

#include <stddef.h>

/* Makes the soft limit at least need. 0 (*now: the soft limit in force), or
 * -1 when need does not fit (err says the limit and what to change). */
int fdlimit_raise(unsigned long long need, unsigned long long *now, char *err, size_t errlen);

#endif
