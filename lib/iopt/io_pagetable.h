/* SPDX-License-Identifier: MIT */
/*
 * io_pagetable: an IO address space (IOAS). Areas cover IOVA ranges, each
 * over a slice of one iopt_pages object; every attached domain mirrors all
 * areas; reserved ranges can never be mapped; allowed ranges, when set,
 * bound where automatic IOVA allocation may place areas.
 *
 * Lock order: domains_rwsem, then iova_rwsem, then a pages mutex; the
 * access_lock nests inside iova_rwsem and is never held across a call into
 * an access. Areas whose 'pages' is NULL are being built or torn down:
 * their IOVA is taken, but they are not mapped as far as users can tell.
 */
#ifndef UIOMMUFD_IOPT_IO_PAGETABLE_H
#define UIOMMUFD_IOPT_IO_PAGETABLE_H

#include <pthread.h>
#include <stdatomic.h>

#include "base/index_store.h"
#include "base/interval_tree.h"
#include "base/page.h"
#include "domains/iommu_domain.h"

struct iopt_pages;

struct io_pagetable {
	pthread_rwlock_t domains_rwsem;
	pthread_rwlock_t iova_rwsem;
	struct rb_root_cached area_itree;
	struct rb_root_cached allowed_itree;	/* struct iopt_allowed */
	struct rb_root_cached reserved_itree;	/* struct iopt_reserved */
	/* Attached domains, at indices 0 .. next_domain_id - 1. */
	struct index_store domains;
	unsigned int next_domain_id;
	/* Every IOVA, length and sub-page offset is a multiple of this. */
	u64 iova_alignment;
	/* VFIO type1: every domain map call is exactly PAGE_SIZE. */
	bool disable_large_pages;
	/* What pages mapped here charge against (IOPT_MEMLOCK_RLIMIT). */
	u64 memlock_limit;
	/* Registered accesses (struct iopt_access) by id. */
	pthread_mutex_t access_lock;
	pthread_cond_t access_cond;
	struct index_store access_list;
};

struct iopt_allowed {
	struct interval_tree_node node;
};

struct iopt_reserved {
	struct interval_tree_node node;
	void *owner;
};

/* iopt_map_*() flags */
#define IOPT_ALLOC_IOVA (1u << 0)

/* Unmap waits this many rounds for accesses to unpin, then gives up. */
#define IOPT_UNMAP_ACCESS_TRIES 100

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
	/* Pins of accesses that lock it: unmapping it is EBUSY meanwhile. */
	atomic_uint num_locks;
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

/* The byte of the area's pages that @iova maps. */
static inline u64 iopt_area_start_byte(const struct iopt_area *area, u64 iova)
{
	return (iova - iopt_area_iova(area)) + area->page_offset +
	       iopt_area_index(area) * PAGE_SIZE;
}

static inline u64 iopt_area_iova_to_index(const struct iopt_area *area,
					  u64 iova)
{
	return iopt_area_start_byte(area, iova) / PAGE_SIZE;
}

static inline struct iopt_area *iopt_area_iter_first(struct io_pagetable *iopt,
						     u64 start, u64 last)
{
	struct interval_tree_node *node =
		interval_tree_iter_first(&iopt->area_itree, start, last);

	return node ? container_of(node, struct iopt_area, node) : NULL;
}

static inline struct iopt_area *iopt_area_iter_next(struct iopt_area *area,
						    u64 start, u64 last)
{
	struct interval_tree_node *node =
		interval_tree_iter_next(&area->node, start, last);

	return node ? container_of(node, struct iopt_area, node) : NULL;
}

/*
 * Walk the areas that cover [iova, last_iova] back to back, from the one
 * holding @iova. Stops at a gap or an area not (or no longer) mapped;
 * iopt_area_contig_done() then says whether the whole range was covered.
 */
struct iopt_area_contig_iter {
	u64 cur_iova;
	u64 last_iova;
	struct iopt_area *area;
};

struct iopt_area *iopt_area_contig_init(struct iopt_area_contig_iter *iter,
					struct io_pagetable *iopt, u64 iova,
					u64 last_iova);
struct iopt_area *iopt_area_contig_next(struct iopt_area_contig_iter *iter);

static inline bool iopt_area_contig_done(const struct iopt_area_contig_iter *iter)
{
	return iter->area && iter->last_iova <= iopt_area_last_iova(iter->area);
}

#define iopt_for_each_contig_area(iter, area, iopt, iova, last_iova)     \
	for (area = iopt_area_contig_init(iter, iopt, iova, last_iova);    \
	     area; area = iopt_area_contig_next(iter))

void iopt_init_table(struct io_pagetable *iopt);
/* The table must be empty of areas, domains and accesses. */
void iopt_destroy_table(struct io_pagetable *iopt);

/*
 * Map process memory [uptr, uptr + length) (or a file range) with
 * IOMMU_READ/IOMMU_WRITE @iommu_prot. With IOPT_ALLOC_IOVA the engine
 * picks *iova, else *iova is where to map. Pages are pinned now only if a
 * domain is attached. 0, or -EINVAL (alignment, prot, overlap with a
 * reserved range), -EEXIST (overlap with an area), -ENOSPC (no room),
 * -EPERM (writable map of read-only pages), -EOVERFLOW, -EFAULT, -ENOMEM.
 */
int iopt_map_user_pages(struct io_pagetable *iopt, u64 *iova, u64 uptr,
			u64 length, int iommu_prot, unsigned int flags,
			int account_mode);
int iopt_map_file_pages(struct io_pagetable *iopt, u64 *iova, int fd,
			u64 start, u64 length, int iommu_prot,
			unsigned int flags, int account_mode);

/*
 * Map into @dst the pages behind [src_iova, src_iova + length) of @src
 * (which may be @dst), sharing them: nothing is pinned again. -ENOENT if
 * the source range is not entirely mapped.
 */
int iopt_copy_iova(struct io_pagetable *dst, u64 *dst_iova,
		   struct io_pagetable *src, u64 src_iova, u64 length,
		   int iommu_prot, unsigned int flags);

/*
 * Unmap every area inside [iova, iova + length): whole areas only. -ENOENT
 * when nothing is mapped there or the range covers only part of an area
 * (then nothing changes). *unmapped gets the bytes unmapped, also when a
 * later step fails (-EDEADLOCK: an access did not unpin).
 */
int iopt_unmap_iova(struct io_pagetable *iopt, u64 iova, u64 length,
		    u64 *unmapped);
/*
 * The inclusive last IOVA of [iova, iova + length): -EINVAL for a zero
 * length, -EOVERFLOW when it wraps past U64_MAX (each with a reason).
 */
int iopt_check_iova_range(u64 iova, u64 length, u64 *last_iova);

/* Everything; succeeds on an empty table. */
int iopt_unmap_all(struct io_pagetable *iopt, u64 *unmapped);

/* Attach a domain: every area is filled into it. All or nothing. */
int iopt_table_add_domain(struct io_pagetable *iopt,
			  struct iommu_domain *domain);
/* Detach a domain; PFNs only it stored move to another tier. No failure. */
void iopt_table_remove_domain(struct io_pagetable *iopt,
			      struct iommu_domain *domain);

/*
 * Split areas so that each IOVA in @iovas ends one (VFIO type1 partial
 * unmap). -EBUSY or -EINVAL when an area cannot be cut (an access on it,
 * a domain that may hold large pages, misalignment).
 */
int iopt_cut_iova(struct io_pagetable *iopt, const u64 *iovas, size_t n);
void iopt_enable_large_pages(struct io_pagetable *iopt);
/* -EINVAL once domains hold mappings; may raise the alignment. */
int iopt_disable_large_pages(struct io_pagetable *iopt);

/* ---- IOVA space policy (iova_space.c) ---- */

/*
 * Reserve [start, last] for @owner: it can never be mapped. -EADDRINUSE if
 * an area or an allowed range intersects it.
 */
int iopt_reserve_iova(struct io_pagetable *iopt, u64 start, u64 last,
		      void *owner);
void iopt_remove_reserved_iova(struct io_pagetable *iopt, void *owner);
/*
 * Replace the allowed ranges with @ranges (none: no restriction). All or
 * nothing; -EADDRINUSE if one intersects a reserved range, -EINVAL for a
 * range with start > last.
 */
int iopt_set_allow_iova(struct io_pagetable *iopt,
			const struct iova_range *ranges, size_t nr);
/*
 * The usable IOVA ranges (the holes between reserved ranges, which include
 * what lies outside any attached domain's aperture): fills up to @cap
 * entries of @out and returns how many there are.
 */
size_t iopt_usable_ranges(struct io_pagetable *iopt, struct iova_range *out,
			  size_t cap);
/*
 * All the usable ranges at one moment, in a new array (at least one
 * entry; free it with mem_free()), their number in *nr; ERR_PTR(-ENOMEM).
 */
struct iova_range *iopt_usable_ranges_copy(struct io_pagetable *iopt,
					   size_t *nr);
u64 iopt_iova_alignment(struct io_pagetable *iopt);

/* Attach a domain: every area is filled into it. All or nothing. */
int iopt_table_add_domain(struct io_pagetable *iopt,
			  struct iommu_domain *domain);
/* Detach a domain; PFNs only it stored move to another tier. No failure. */
void iopt_table_remove_domain(struct io_pagetable *iopt,
			      struct iommu_domain *domain);

#endif
