/* SPDX-License-Identifier: MIT */
/*
 * WARN_ON(cond): a broken internal invariant. Debug builds (UIOMMUFD_DEBUG)
 * report it and abort, so tests cannot miss it; release builds count it and
 * carry on. Like the kernel's, it evaluates to the condition.
 */
#ifndef UIOMMUFD_BASE_WARN_H
#define UIOMMUFD_BASE_WARN_H

#include "base/common.h"

void warn_report(const char *file, int line, const char *cond);
/* Warnings seen so far in this process (release builds). */
unsigned long warn_count(void);

#define WARN_ON(cond)                                                     \
	({                                                                \
		bool _warn_cond = !!(cond);                               \
		if (unlikely(_warn_cond))                                 \
			warn_report(__FILE__, __LINE__, #cond);           \
		_warn_cond;                                               \
	})

#endif
