/*
 * version - the version of this build: `git describe --always --dirty` of the
 * checkout it was built from, the VERSION file of a tarball or package build,
 * or "unknown" (the Makefile bakes it into build/MODE/gen/rg_version.h).
 */
#ifndef RG_CORE_VERSION_H
#define RG_CORE_VERSION_H

/* A static string, never NULL nor empty. */
const char *rg_version(void);

#endif
