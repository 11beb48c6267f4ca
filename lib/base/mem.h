/* SPDX-License-Identifier: MIT */
/*
 * Every allocation the library makes comes through here: each one asks the
 * fault injector first, and a live count lets tests prove nothing leaked.
 * A failure is returned (NULL, with a reason recorded), never fatal.
 */
#ifndef UIOMMUFD_BASE_MEM_H
#define UIOMMUFD_BASE_MEM_H

#include "base/common.h"

void *mem_alloc(size_t size);
void *mem_zalloc(size_t size);
/* Zeroed array of @n elements; NULL if n * size overflows. */
void *mem_calloc(size_t n, size_t size);
void mem_free(void *ptr);

/* Allocations made through this file and not yet freed, process wide. */
long mem_live_count(void);

#endif
