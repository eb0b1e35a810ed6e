/*
 * attr - compiler attributes every layer may use.
 *
 * RG_WUR: the result says whether the call did what was asked (a bounded
 * copy that may truncate, an append that may pass a buffer's maximum), so the
 * caller must look at it. GCC does not let a (void) cast silence it: a caller
 * that decided truncation is fine uses an explicitly named variant
 * (str_copy_trunc() and the like in core/str.h).
 */
#ifndef RG_CORE_ATTR_H
#define RG_CORE_ATTR_H

#define RG_WUR __attribute__((warn_unused_result))

#endif
