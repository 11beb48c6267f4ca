/* SPDX-License-Identifier: MIT */
/*
 * Types and small helpers every layer uses. Kernel-flavoured names so the
 * engine reads like the design it follows.
 */
#ifndef UIOMMUFD_BASE_COMMON_H
#define UIOMMUFD_BASE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;

#define U64_MAX UINT64_MAX
#define U32_MAX UINT32_MAX

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define container_of(ptr, type, member)                                   \
	((type *)((char *)(ptr) - offsetof(type, member)))

#define __PASTE2(a, b) a##b
#define __PASTE(a, b) __PASTE2(a, b)
#define __UNIQUE(prefix) __PASTE(prefix, __COUNTER__)

/* Each argument evaluated once; unique names so min(max(..)) nests. */
#define __cmp_once(op, a, b, ua, ub)                                      \
	({                                                                \
		__typeof__(a) ua = (a);                                   \
		__typeof__(b) ub = (b);                                   \
		ua op ub ? ua : ub;                                       \
	})

#define min(a, b) __cmp_once(<, a, b, __UNIQUE(_min_a), __UNIQUE(_min_b))
#define max(a, b) __cmp_once(>, a, b, __UNIQUE(_max_a), __UNIQUE(_max_b))

/* Marks a symbol that a public header declares; everything else is hidden. */
#define UIOMMUFD_EXPORT __attribute__((visibility("default")))

#endif
