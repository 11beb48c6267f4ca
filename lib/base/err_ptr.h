/* SPDX-License-Identifier: MIT */
/*
 * Error-valued pointers, the kernel idiom: a constructor returns either an
 * object or a negative errno folded into the top page of the address space.
 */
#ifndef UIOMMUFD_BASE_ERR_PTR_H
#define UIOMMUFD_BASE_ERR_PTR_H

#include "base/common.h"

#define MAX_ERRNO 4095

static inline void *ERR_PTR(long err)
{
	return (void *)err;
}

static inline long PTR_ERR(const void *ptr)
{
	return (long)ptr;
}

static inline bool IS_ERR(const void *ptr)
{
	return unlikely((uintptr_t)ptr >= (uintptr_t)-MAX_ERRNO);
}

/* An error pointer passed on as another pointer type. */
static inline void *ERR_CAST(const void *ptr)
{
	return (void *)ptr;
}

static inline bool IS_ERR_OR_NULL(const void *ptr)
{
	return !ptr || IS_ERR(ptr);
}

#endif
