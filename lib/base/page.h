/* SPDX-License-Identifier: MIT */
/*
 * The CPU page size. uiommufd is built for 4 KiB pages; PFN sources refuse
 * to work on a machine whose page size differs.
 */
#ifndef UIOMMUFD_BASE_PAGE_H
#define UIOMMUFD_BASE_PAGE_H

#include "base/common.h"

#define PAGE_SHIFT 12
#define PAGE_SIZE (1ULL << PAGE_SHIFT)
#define PAGE_MASK (~(PAGE_SIZE - 1))

/* Page-frame number <-> "physical" byte address, as the kernel's macros. */
#define PFN_PHYS(pfn) ((u64)(pfn) << PAGE_SHIFT)
#define PHYS_PFN(addr) ((u64)(addr) >> PAGE_SHIFT)

#endif
