// SPDX-License-Identifier: MIT
#include "base/warn.h"

#include <stdio.h>
#include <stdlib.h>

static unsigned long warnings;

void warn_report(const char *file, int line, const char *cond)
{
	__atomic_fetch_add(&warnings, 1, __ATOMIC_RELAXED);
	fprintf(stderr, "uiommufd: WARNING at %s:%d: %s\n", file, line, cond);
#ifdef UIOMMUFD_DEBUG
	abort();
#endif
}

unsigned long warn_count(void)
{
	return __atomic_load_n(&warnings, __ATOMIC_RELAXED);
}
