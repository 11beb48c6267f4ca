/* SPDX-License-Identifier: MIT */
/*
 * Overflow-checked arithmetic and alignment. IOVAs run up to U64_MAX, so
 * every "end" computed from a start and a length can wrap; the helpers here
 * return true when the result does not fit, as the kernel's do.
 */
#ifndef UIOMMUFD_BASE_OVERFLOW_H
#define UIOMMUFD_BASE_OVERFLOW_H

#include "base/common.h"

#define check_add_overflow(a, b, d) __builtin_add_overflow(a, b, d)
#define check_sub_overflow(a, b, d) __builtin_sub_overflow(a, b, d)
#define check_mul_overflow(a, b, d) __builtin_mul_overflow(a, b, d)

static inline bool is_power_of_2(u64 v)
{
	return v && !(v & (v - 1));
}

/* @align must be a power of two for all of these. */
static inline bool is_aligned(u64 v, u64 align)
{
	return !(v & (align - 1));
}

static inline u64 align_down(u64 v, u64 align)
{
	return v & ~(align - 1);
}

/* Round @v up to @align; true (and *res untouched) if that passes U64_MAX. */
static inline bool check_align_up_overflow(u64 v, u64 align, u64 *res)
{
	u64 sum;

	if (check_add_overflow(v, align - 1, &sum))
		return true;
	*res = align_down(sum, align);
	return false;
}

/*
 * The inclusive last byte of [start, start + length): true if length is 0 or
 * the range runs past U64_MAX.
 */
static inline bool check_range_last(u64 start, u64 length, u64 *last)
{
	if (!length)
		return true;
	return check_add_overflow(start, length - 1, last);
}

/* Index of the highest set bit, 0-based; @v must be non-zero. */
static inline unsigned int fls64_index(u64 v)
{
	return 63 - __builtin_clzll(v);
}

/* The largest power of two that divides @v (its lowest set bit); 0 for 0. */
static inline u64 lowest_bit(u64 v)
{
	return v & -v;
}

#endif
