/* SPDX-License-Identifier: MIT */
/*
 * io_pagetable: an IO address space (IOAS). Areas cover IOVA ranges, each
 * over a slice of one iopt_pages object; every attached domain mirrors all
 * areas.
 *
 * Lock order: domains_rwsem, then iova_rwsem, then a pages mutex.
 */
#ifndef UIOMMUFD_IOPT_IO_PAGETABLE_H
#define UIOMMUFD_IOPT_IO_PAGETABLE_H

#include <pthread.h>

#include "base/index_store.h"
#include "base/interval_tree.h"
#include "base/page.h"
#include "domains/iommu_domain.h"

struct iopt_pages;

struct io_pagetable {
	pthread_rwlock_t domains_rwsem;
	pthread_rwlock_t iova_rwsem;
	struct rb_root_cached area_itree;
	/* Attached domains, at indices 0 .. next_domain_id - 1. */
	struct index_store domains;
	unsigned int next_domain_id;
	/* VFIO type1: every domain map call is exactly PAGE_SIZE. */
	bool disable_large_pages;
};

/*
 * An IOVA range [node.start, node.last] mapping bytes of @pages: page
 * index pages_node.start (from byte @page_offset of it) through
 * pages_node.last.
 */
struct iopt_area {
	struct interval_tree_node node;
	struct interval_tree_node pages_node;
	struct io_pagetable *iopt;
	struct iopt_pages *pages;
	/*
	 * The domain this area's PFNs are read back from while the area sits
	 * in pages->domains_itree; NULL when the area is not filled.
	 */
	struct iommu_domain *storage_domain;
	unsigned int page_offset;
	int iommu_prot;
	bool prevent_access;
	unsigned int num_accesses;
};

static inline u64 iopt_area_index(const struct iopt_area *area)
{
	return area->pages_node.start;
}

static inline u64 iopt_area_last_index(const struct iopt_area *area)
{
	return area->pages_node.last;
}

static inline u64 iopt_area_iova(const struct iopt_area *area)
{
	return area->node.start;
}

static inline u64 iopt_area_last_iova(const struct iopt_area *area)
{
	return area->node.last;
}

static inline u64 iopt_area_length(const struct iopt_area *area)
{
	return area->node.last - area->node.start + 1;
}

/* The IOVA of the first byte of page @index (the area's own start if the
 * page is its first). */
static inline u64 iopt_area_index_to_iova(const struct iopt_area *area,
					  u64 index)
{
	if (index == iopt_area_index(area))
		return iopt_area_iova(area);
	return iopt_area_iova(area) - area->page_offset +
	       (index - iopt_area_index(area)) * PAGE_SIZE;
}

/* The IOVA of the last byte of page @index inside the area. */
static inline u64 iopt_area_index_to_iova_last(const struct iopt_area *area,
					       u64 index)
{
	if (index == iopt_area_last_index(area))
		return iopt_area_last_iova(area);
	return iopt_area_iova(area) - area->page_offset +
	       (index - iopt_area_index(area) + 1) * PAGE_SIZE - 1;
}

void iopt_init_table(struct io_pagetable *iopt);
void iopt_destroy_table(struct io_pagetable *iopt);

/* Attach a domain: every area is filled into it. All or nothing. */
int iopt_table_add_domain(struct io_pagetable *iopt,
			  struct iommu_domain *domain);
/* Detach a domain; PFNs only it stored move to another tier. No failure. */
void iopt_table_remove_domain(struct io_pagetable *iopt,
			      struct iommu_domain *domain);

#endif
