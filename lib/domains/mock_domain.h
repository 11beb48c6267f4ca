/* SPDX-License-Identifier: MIT */
/*
 * The mock IO page table: translations kept in an index store, an IO page
 * of half a CPU page so every sub-page path runs, and enough bookkeeping for
 * tests to prove the engine's maps and unmaps pair up exactly.
 */
#ifndef UIOMMUFD_DOMAINS_MOCK_DOMAIN_H
#define UIOMMUFD_DOMAINS_MOCK_DOMAIN_H

#include "base/page.h"
#include "domains/iommu_domain.h"

/* The selftest ABI's constants: one definition, in the public header. */
#include "uiommufd/iommufd_test_uapi.h"

/* The IO page is half a CPU page, so every sub-page path runs. */
#define MOCK_IO_PAGE_SIZE MOCK_PAGE_SIZE
_Static_assert(MOCK_PAGE_SIZE == PAGE_SIZE / 2,
	       "the mock IO page is half a CPU page");
_Static_assert(MOCK_HUGE_PAGE_SIZE == 512 * MOCK_PAGE_SIZE,
	       "the mock huge page is 512 IO pages");

/* mock_domain_alloc() flags */
#define MOCK_DOMAIN_HUGE_PAGES (1u << 0) /* also offer MOCK_HUGE_PAGE_SIZE */

struct mock_domain_stats {
	u64 io_pages;		/* IO pages mapped now */
	u64 map_calls;		/* successful map calls */
	u64 unmap_calls;
	u64 huge_maps;		/* map calls that used a huge IO page */
	/*
	 * Violations of the engine's contract, each a bug: an unmap whose
	 * first IO page is not the first of some map call or whose last is not
	 * the last of one; an unmap of IOVA that is not mapped; a map over
	 * IOVA that is already mapped. unmap_splits_map counts unmap calls and
	 * is not kept for domains with huge pages (an unmap may then end
	 * between page sizes); unmap_not_mapped counts IO pages, in every
	 * domain; map_over_mapped counts map calls (they fail with -EEXIST).
	 */
	u64 unmap_splits_map;
	u64 unmap_not_mapped;
	u64 map_over_mapped;
};

/* NULL (with a reason) when out of memory or @flags has unknown bits. */
struct iommu_domain *mock_domain_alloc(unsigned int flags);
bool is_mock_domain(const struct iommu_domain *domain);

/* Make the @nth map call from now fail with -ENOMEM (0 disarms). */
void mock_domain_fail_nth_map(struct iommu_domain *domain, unsigned int nth);

void mock_domain_get_stats(struct iommu_domain *domain,
			   struct mock_domain_stats *stats);

/*
 * What IO page @iova holds: the physical address @iova translates to (the
 * IO page's plus @iova's offset in it, as iova_to_phys; 0 if unmapped) and
 * the protection it was mapped with (0 if unmapped; @prot may be NULL). For
 * check_map style tests.
 */
u64 mock_domain_lookup(struct iommu_domain *domain, u64 iova, int *prot);

/*
 * Call @fn for every mapped IO page in [first, last], in IOVA order, with
 * its physical address and protection; stops early if @fn returns non-zero
 * and returns that value.
 */
int mock_domain_for_each(struct iommu_domain *domain, u64 first, u64 last,
			 int (*fn)(void *arg, u64 iova, u64 paddr, int prot),
			 void *arg);

#endif
