/*
 * grow - one way to make room in a heap array.
 *
 * An array here is a pointer, a count the caller keeps and a capacity (a
 * size_t) the helper keeps. Before v[n++] = x the caller asks for n + 1:
 *
 *     if (grow_array(&a->v, &a->cap, a->n + 1, sizeof *a->v) != 0)
 *             return -1;
 *     a->v[a->n++] = x;
 *
 * When need is more than the capacity the array is reallocated to
 * max(need, 2 * capacity, GROW_MIN) elements (doubling: n appends cost O(n)
 * copies), never more than max elements for the _max variants. The check for
 * room is inline; only a full array calls out of line, so a hot loop pays one
 * comparison, as it did with its own "n == cap" test.
 *
 * On failure (need above max, need * elem_size beyond a size_t, out of memory)
 * the pointer and the capacity are as they were: the caller's elements and its
 * count stay valid. Two parallel arrays (indexed alike) each grow from a copy
 * of the one capacity, which is stored only when both grew; the new capacity
 * depends on (capacity, need, max) only, so both copies come out equal.
 *
 * grow_xarray*() are for callers that treat out of memory as fatal() (as
 * core/log.h's xrealloc does); asking past max there is a bug: panic().
 */
#ifndef RG_CORE_GROW_H
#define RG_CORE_GROW_H

#include "core/attr.h"

#include <stddef.h>
#include <stdint.h>

#define GROW_MIN 8 /* elements of a first allocation, unless need or max say otherwise */

/* The out-of-line part of the functions below: *(T **)pptr to hold need
 * elements (no more than max). 0 or -1, see above. */
int grow_realloc(void *pptr, size_t *cap, size_t need, size_t elem_size, size_t max) RG_WUR;
/* fatal() when out of memory or past a size_t, panic() when need > max. */
__attribute__((noreturn)) void grow_fail(size_t need, size_t elem_size, size_t max);

/* pptr is the address of the array's pointer (T **); 0, or -1 with nothing changed. */
RG_WUR static inline int grow_array(void *pptr, size_t *cap, size_t need, size_t elem_size)
{
	return need <= *cap ? 0 : grow_realloc(pptr, cap, need, elem_size, SIZE_MAX);
}

/* The same, never past max elements: need > max is -1. */
RG_WUR static inline int grow_array_max(void *pptr, size_t *cap, size_t need, size_t elem_size,
                                        size_t max)
{
	return need <= *cap ? 0 : grow_realloc(pptr, cap, need, elem_size, max);
}

static inline void grow_xarray(void *pptr, size_t *cap, size_t need, size_t elem_size)
{
	if (need > *cap && grow_realloc(pptr, cap, need, elem_size, SIZE_MAX) != 0)
		grow_fail(need, elem_size, SIZE_MAX);
}

static inline void grow_xarray_max(void *pptr, size_t *cap, size_t need, size_t elem_size,
                                   size_t max)
{
	if (need > *cap && grow_realloc(pptr, cap, need, elem_size, max) != 0)
		grow_fail(need, elem_size, max);
}

#endif
