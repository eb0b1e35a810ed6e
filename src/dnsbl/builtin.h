/*
 * builtin - the DNSBL catalogue compiled into the binary from data/dnsbl.conf.
 */
#ifndef RG_DNSBL_BUILTIN_H
#define RG_DNSBL_BUILTIN_H

/* The text of data/dnsbl.conf as it was at build time, NUL-terminated. */
const char *bl_builtin_catalog(void);

#endif
