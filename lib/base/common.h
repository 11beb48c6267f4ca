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

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define container_of(ptr, type, member)                                   \
	((type *)((char *)(ptr) - offsetof(type, member)))

#define min(a, b)                                                         \
	({                                                                \
		__typeof__(a) _min_a = (a);                               \
		__typeof__(b) _min_b = (b);                               \
		_min_a < _min_b ? _min_a : _min_b;                        \
	})

#define max(a, b)                                                         \
	({                                                                \
		__typeof__(a) _max_a = (a);                               \
		__typeof__(b) _max_b = (b);                               \
		_max_a > _max_b ? _max_a : _max_b;                        \
	})

/* Marks a symbol that a public header declares; everything else is hidden. */
#define UIOMMUFD_EXPORT __attribute__((visibility("default")))

#endif
