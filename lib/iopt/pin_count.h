/* SPDX-License-Identifier: MIT */
/*
 * Per-page pin counts, process wide, as the kernel's page pin count: a
 * page's count is the number of pins held on it, one per pages object that
 * holds it pinned (copies, domains and accesses sharing one pages object
 * never add to it).
 *
 * Counts are computed on demand from the live pages objects' tiers, so
 * pinning costs no memory per page. Debug builds separately track every pin
 * and unpin and check the tiers against them after each operation.
 */
#ifndef UIOMMUFD_IOPT_PIN_COUNT_H
#define UIOMMUFD_IOPT_PIN_COUNT_H

#include "base/common.h"

/* counts[i] = pins held on pfns[i]. 0 or -ENOMEM. */
int iopt_pin_counts(const u64 *pfns, u64 n, u64 *counts);

/*
 * The same for the pages of the calling process's memory [uptr, uptr +
 * length): one count per page. -EFAULT if some of it is not mapped.
 */
int iopt_pin_counts_user(u64 uptr, u64 length, u64 *counts);

#endif
