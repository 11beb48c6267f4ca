/* SPDX-License-Identifier: MIT */
/*
 * Fault injection: one decision point that every allocation and every chosen
 * failure point asks. Each thread has a fail-nth counter, as the kernel's
 * /proc/<pid>/task/<tid>/fail-nth: arming it with N makes the Nth call on
 * that thread fail, after which it disarms.
 */
#ifndef UIOMMUFD_BASE_FAULT_INJECT_H
#define UIOMMUFD_BASE_FAULT_INJECT_H

#include "base/common.h"

/* True when this call must fail. Always false while nothing is armed. */
bool fault_should_fail(void);

/* Arm: the @nth call from now fails (1 = the next call). 0 disarms. */
void fault_fail_nth_set(unsigned int nth);

/*
 * The kernel's read-back: calls left before the fault fires, so 0 once it
 * has fired (or when nothing was armed).
 */
unsigned int fault_fail_nth_get(void);

/* True if the fault armed by the last fault_fail_nth_set() has fired. */
bool fault_fail_nth_fired(void);

#endif
