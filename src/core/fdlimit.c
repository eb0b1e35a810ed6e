/*
 * fdlimit - see fdlimit.h.
 */
#include "core/fdlimit.h"

#include "core/str.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

int fdlimit_raise(unsigned long long need, unsigned long long *now, char *err, size_t errlen)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		str_format_trunc(err, errlen, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return -1;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		struct rlimit want = rl;
		want.rlim_cur = need;
		if (want.rlim_max != RLIM_INFINITY && want.rlim_max < need)
			want.rlim_max = need; /* root (CAP_SYS_RESOURCE) may */
		if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
			if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
				str_format_trunc(err, errlen,
				                 "needs %llu file descriptors but the hard limit "
				                 "(RLIMIT_NOFILE) is %llu",
				                 need, (unsigned long long)rl.rlim_max);
				return -1;
			}
			str_format_trunc(err, errlen, "cannot raise RLIMIT_NOFILE to %llu: %s",
			                 need, strerror(errno));
			return -1;
		}
		rl = want;
	}
	*now = rl.rlim_cur == RLIM_INFINITY ? ~0ULL : (unsigned long long)rl.rlim_cur;
	return 0;
}
