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

/* mock_domain_alloc() flags (bit 1 stays unused: tests expect it refused) */
#define MOCK_DOMAIN_HUGE_PAGES (1u << 0) /* also offer MOCK_HUGE_PAGE_SIZE */
/* Dirty tracking ops, as IOMMU_HWPT_ALLOC_DIRTY_TRACKING asks of a driver. */
#define MOCK_DOMAIN_DIRTY_TRACKING (1u << 2)
/*
 * The kernel's MOCK_IOMMUPT_HUGE page table: IO pages of PAGE_SIZE and
 * MOCK_HUGE_PAGE_SIZE, and the aperture of the page table itself
 * ([0, MOCK_IOMMUPT_APERTURE_LAST]) instead of the mock aperture.
 */
#define MOCK_DOMAIN_IOMMUPT_HUGE (1u << 3)
/*
 * That page table's last IOVA: the AMDv1 mock format started at level 2,
 * a 2 KiB granule and 9 bits a level, is 11 + 3 * 9 = 38 bits of IOVA.
 */
#define MOCK_IOMMUPT_APERTURE_LAST ((1ULL << 38) - 1)

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
	/* Dirty tracking: IO pages dirty now, and chunks of dirty bits held. */
	u64 dirty_io_pages;
	u64 dirty_chunks;
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

/*
 * Dirty tracking, for domains made with MOCK_DOMAIN_DIRTY_TRACKING (the
 * others answer -EOPNOTSUPP). The dirty bit belongs to the IO page table
 * entry: marking any byte of a huge entry marks all of it, and reads
 * report and clear entries whole. Unmapping makes IOVA clean.
 */

/*
 * What a device's DMA write does (the kernel's set_dirty): mark the entry
 * holding @iova dirty, whether or not tracking is enabled. 0, -ENOENT
 * (nothing mapped there) or -EOPNOTSUPP.
 */
int mock_domain_set_dirty(struct iommu_domain *domain, u64 iova);

/* Whether dirty tracking is enabled (false for a domain without it). */
bool mock_domain_dirty_tracking(struct iommu_domain *domain);

/*
 * Test op DIRTY: for each bit i < @nbits set in @bits (u64 words), mark
 * the entry holding iova + i * @page_size, under one lock and only while
 * tracking is enabled (-EINVAL otherwise). Unmapped IOVA marks nothing
 * but is counted, as the kernel's test module counts it; *nr_set gets the
 * count. -EOPNOTSUPP, -EINVAL for page size 0, -EOVERFLOW if the last
 * IOVA wraps; nothing changes on an error.
 */
int mock_domain_set_dirty_bitmap(struct iommu_domain *domain, u64 iova,
				 u64 page_size, const u64 *bits, u64 nbits,
				 u64 *nr_set);

/*
 * The dirty bits of the @nr IO pages from @iova (a multiple of
 * MOCK_IO_PAGE_SIZE): bit i of @bits (cleared first, (nr + 63) / 64
 * words) for the IO page at iova + i * MOCK_IO_PAGE_SIZE. Returns how many
 * are dirty; changes nothing. For tests.
 */
u64 mock_domain_dirty_peek(struct iommu_domain *domain, u64 iova, u64 nr,
			   u64 *bits);

#endif
