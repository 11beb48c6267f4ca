// SPDX-License-Identifier: MIT
#include "base/fault_inject.h"

#include "uiommufd/uiommufd.h"

/* Per thread, like the kernel's task->fail_nth. */
static __thread unsigned int fail_nth;
static __thread bool fail_nth_fired;

bool fault_should_fail(void)
{
	if (likely(!fail_nth))
		return false;
	if (--fail_nth)
		return false;
	fail_nth_fired = true;
	return true;
}

void fault_fail_nth_set(unsigned int nth)
{
	fail_nth = nth;
	fail_nth_fired = false;
}

unsigned int fault_fail_nth_get(void)
{
	return fail_nth;
}

bool fault_fail_nth_fired(void)
{
	return fail_nth_fired;
}

UIOMMUFD_EXPORT void uiommufd_fail_nth_set(unsigned int nth)
{
	fault_fail_nth_set(nth);
}

UIOMMUFD_EXPORT unsigned int uiommufd_fail_nth_get(void)
{
	return fault_fail_nth_get();
}
