/*
 * version - see version.h.
 */
#include "core/version.h"

#include "rg_version.h"

#ifndef RG_VERSION
#define RG_VERSION "unknown"
#endif

const char *rg_version(void)
{
	return RG_VERSION[0] ? RG_VERSION : "unknown";
}
