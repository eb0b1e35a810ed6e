/*
 * grow - one way to make room in a heap array; see grow.h.
 */
#include "core/grow.h"

#include "core/log.h"

#include <stdlib.h>
#include <string.h>

int grow_realloc(void *pptr, size_t *cap, size_t need, size_t elem_size, size_t max)
{
	if (elem_size == 0)
		panic("grow_realloc: elements of size 0");
	if (need <= *cap)
		return 0;
	if (max > SIZE_MAX / elem_size)
		max = SIZE_MAX / elem_size; /* so that nc * elem_size below fits */
	if (need > max)
		return -1;
	size_t nc = *cap > max / 2 ? max : *cap * 2;
	if (nc < GROW_MIN)
		nc = GROW_MIN < max ? GROW_MIN : max;
	if (nc < need)
		nc = need;
	/* *pptr is some T *: read and written as bytes, not through a void ** */
	void *old, *p;
	memcpy(&old, pptr, sizeof old);
	p = realloc(old, nc * elem_size);
	if (!p)
		return -1;
	memcpy(pptr, &p, sizeof p);
	*cap = nc;
	return 0;
}

void grow_fail(size_t need, size_t elem_size, size_t max)
{
	if (need > max)
		panic("grow: %zu elements asked for, %zu at most", need, max);
	fatal("out of memory growing an array to %zu elements of %zu bytes", need, elem_size);
}
