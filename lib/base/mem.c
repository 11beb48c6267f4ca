// SPDX-License-Identifier: MIT
#include "base/mem.h"

#include <errno.h>
#include <stdlib.h>

#include "base/err_reason.h"
#include "base/fault_inject.h"
#include "base/overflow.h"

static long live_allocations;

static void *mem_get(size_t size, bool zero)
{
	void *ptr;

	if (fault_should_fail()) {
		err_reason(-ENOMEM, "injected allocation failure (%zu bytes)",
			   size);
		return NULL;
	}
	ptr = zero ? calloc(1, size) : malloc(size);
	if (!ptr) {
		err_reason(-ENOMEM, "out of memory allocating %zu bytes", size);
		return NULL;
	}
	__atomic_fetch_add(&live_allocations, 1, __ATOMIC_RELAXED);
	return ptr;
}

void *mem_alloc(size_t size)
{
	return mem_get(size, false);
}

void *mem_zalloc(size_t size)
{
	return mem_get(size, true);
}

void *mem_calloc(size_t n, size_t size)
{
	size_t bytes;

	if (check_mul_overflow(n, size, &bytes)) {
		err_reason(-ENOMEM, "array of %zu x %zu bytes overflows", n,
			   size);
		return NULL;
	}
	return mem_get(bytes, true);
}

void mem_free(void *ptr)
{
	if (!ptr)
		return;
	__atomic_fetch_sub(&live_allocations, 1, __ATOMIC_RELAXED);
	free(ptr);
}

long mem_live_count(void)
{
	return __atomic_load_n(&live_allocations, __ATOMIC_RELAXED);
}
