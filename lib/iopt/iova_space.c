// SPDX-License-Identifier: MIT
/*
 * The IOVA space: reserved ranges (never mappable; a domain reserves what
 * lies outside its aperture), allowed ranges (bounds for automatic
 * allocation), the usable ranges, automatic IOVA allocation and the IOAS
 * alignment.
 */
#include "iopt/iova_space.h"

#include <errno.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/mem.h"
#include "base/overflow.h"
#include "iopt/access.h"

static bool reserved_intersects(struct io_pagetable *iopt, u64 start, u64 last)
{
	return interval_tree_iter_first(&iopt->reserved_itree, start, last);
}

static bool allowed_intersects(struct io_pagetable *iopt, u64 start, u64 last)
{
	return interval_tree_iter_first(&iopt->allowed_itree, start, last);
}

int iopt_reserve_iova_locked(struct io_pagetable *iopt, u64 start, u64 last,
			     void *owner)
{
	struct iopt_reserved *reserved;

	if (iopt_area_iter_first(iopt, start, last))
		return err_reason(-EADDRINUSE,
				  "iova [%#llx, %#llx] is mapped and cannot be reserved",
				  (unsigned long long)start,
				  (unsigned long long)last);
	if (allowed_intersects(iopt, start, last))
		return err_reason(-EADDRINUSE,
				  "iova [%#llx, %#llx] intersects an allowed range",
				  (unsigned long long)start,
				  (unsigned long long)last);
	reserved = mem_zalloc(sizeof(*reserved));
	if (!reserved)
		return -ENOMEM;
	reserved->node.start = start;
	reserved->node.last = last;
	reserved->owner = owner;
	interval_tree_insert(&reserved->node, &iopt->reserved_itree);
	return 0;
}

int iopt_reserve_iova(struct io_pagetable *iopt, u64 start, u64 last,
		      void *owner)
{
	int rc;

	if (start > last)
		return err_reason(-EINVAL, "reserved range [%#llx, %#llx] is empty",
				  (unsigned long long)start,
				  (unsigned long long)last);
	pthread_rwlock_wrlock(&iopt->iova_rwsem);
	rc = iopt_reserve_iova_locked(iopt, start, last, owner);
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	return rc;
}

void iopt_remove_reserved_iova_locked(struct io_pagetable *iopt, void *owner)
{
	struct interval_tree_node *node, *next;

	for (node = interval_tree_iter_first(&iopt->reserved_itree, 0, U64_MAX);
	     node; node = next) {
		struct iopt_reserved *reserved =
			container_of(node, struct iopt_reserved, node);

		next = interval_tree_iter_next(node, 0, U64_MAX);
		if (reserved->owner == owner) {
			interval_tree_remove(node, &iopt->reserved_itree);
			mem_free(reserved);
		}
	}
}

void iopt_remove_reserved_iova(struct io_pagetable *iopt, void *owner)
{
	pthread_rwlock_wrlock(&iopt->iova_rwsem);
	iopt_remove_reserved_iova_locked(iopt, owner);
	pthread_rwlock_unlock(&iopt->iova_rwsem);
}

static void free_allowed(struct rb_root_cached *root)
{
	struct interval_tree_node *node;

	while ((node = interval_tree_iter_first(root, 0, U64_MAX))) {
		interval_tree_remove(node, root);
		mem_free(container_of(node, struct iopt_allowed, node));
	}
}

int iopt_set_allow_iova(struct io_pagetable *iopt,
			const struct iova_range *ranges, size_t nr)
{
	struct rb_root_cached allowed = RB_ROOT_CACHED_INIT;
	int rc = 0;

	/* Build the new set outside the lock; swap it in only if it fits. */
	for (size_t i = 0; i != nr; i++) {
		struct iopt_allowed *elm;

		if (ranges[i].start > ranges[i].last) {
			rc = err_reason(-EINVAL,
					"allowed range %zu [%#llx, %#llx] is empty",
					i, (unsigned long long)ranges[i].start,
					(unsigned long long)ranges[i].last);
			goto out_free;
		}
		elm = mem_zalloc(sizeof(*elm));
		if (!elm) {
			rc = -ENOMEM;
			goto out_free;
		}
		elm->node.start = ranges[i].start;
		elm->node.last = ranges[i].last;
		interval_tree_insert(&elm->node, &allowed);
	}

	pthread_rwlock_wrlock(&iopt->iova_rwsem);
	for (size_t i = 0; i != nr; i++) {
		if (reserved_intersects(iopt, ranges[i].start, ranges[i].last)) {
			rc = err_reason(-EADDRINUSE,
					"allowed range [%#llx, %#llx] intersects a reserved range",
					(unsigned long long)ranges[i].start,
					(unsigned long long)ranges[i].last);
			break;
		}
	}
	if (!rc) {
		struct rb_root_cached old = iopt->allowed_itree;

		iopt->allowed_itree = allowed;
		allowed = old;
	}
	pthread_rwlock_unlock(&iopt->iova_rwsem);
out_free:
	free_allowed(&allowed);
	return rc;
}

static size_t usable_ranges_locked(struct io_pagetable *iopt,
				   struct iova_range *out, size_t cap)
{
	struct interval_tree_span_iter span;
	size_t n = 0;

	interval_tree_for_each_span(&span, &iopt->reserved_itree, 0, U64_MAX) {
		if (!span.is_hole)
			continue;
		if (n < cap)
			out[n] = (struct iova_range){ span.start, span.last };
		n++;
	}
	return n;
}

size_t iopt_usable_ranges(struct io_pagetable *iopt, struct iova_range *out,
			  size_t cap)
{
	size_t n;

	pthread_rwlock_rdlock(&iopt->iova_rwsem);
	n = usable_ranges_locked(iopt, out, cap);
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	return n;
}

struct iova_range *iopt_usable_ranges_copy(struct io_pagetable *iopt,
					   size_t *nr)
{
	struct iova_range *ranges;

	/* One snapshot: counted and copied under the same hold. */
	pthread_rwlock_rdlock(&iopt->iova_rwsem);
	*nr = usable_ranges_locked(iopt, NULL, 0);
	ranges = mem_calloc(max(*nr, (size_t)1), sizeof(*ranges));
	if (ranges)
		usable_ranges_locked(iopt, ranges, *nr);
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	return ranges ? ranges : ERR_PTR(-ENOMEM);
}

u64 iopt_iova_alignment(struct io_pagetable *iopt)
{
	u64 align;

	pthread_rwlock_rdlock(&iopt->iova_rwsem);
	align = iopt->iova_alignment;
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	return align;
}

/*
 * Move *start up to the first IOVA that is @offset past a multiple of
 * @step (offset < step) and check that @length bytes fit before @last.
 * Every step is overflow checked: near U64_MAX a rounded-up start must not
 * wrap to a low IOVA.
 */
static bool fit_in_span(u64 *start, u64 last, u64 length, u64 step,
			u64 offset)
{
	u64 candidate = align_down(*start, step) + offset, end;

	if (candidate < *start &&
	    check_add_overflow(candidate, step, &candidate))
		return false;
	if (candidate > last ||
	    check_add_overflow(candidate, length - 1, &end) || end > last)
		return false;
	*start = candidate;
	return true;
}

int iopt_alloc_iova(struct io_pagetable *iopt, u64 *iova, u64 addr,
		    u64 length)
{
	struct interval_tree_double_span_iter used;
	struct interval_tree_span_iter allowed;
	bool no_allowed = rb_empty_cached(&iopt->allowed_itree);
	u64 align, step, offset;

	/* As the kernel: roundup_pow_of_two() must not overflow. */
	if (!length || length >= U64_MAX / 2)
		return err_reason(-EOVERFLOW,
				  "length %#llx is too large to place automatically",
				  (unsigned long long)length);

	/*
	 * The length's natural alignment, as far as the address keeps it (a
	 * huge page there can then map as one), capped at a huge page, which
	 * also keeps the rounding from overflowing.
	 */
	align = 1ULL << (fls64_index(length) + !is_power_of_2(length));
	if (addr)
		align = min(align, lowest_bit(addr));
	align = min(align, (u64)IOPT_MAX_AUTO_ALIGNMENT);
	if (align < iopt->iova_alignment)
		return err_reason(-EINVAL,
				  "address %#llx with length %#llx cannot meet the IOAS alignment %#llx",
				  (unsigned long long)addr,
				  (unsigned long long)length,
				  (unsigned long long)iopt->iova_alignment);
	/*
	 * Below a CPU page, keep the address's offset in its page (a
	 * multiple of align, as align divides the address): then the IOVA
	 * matches the address modulo any IO page size.
	 */
	step = max(align, PAGE_SIZE);
	offset = align < PAGE_SIZE ? addr % PAGE_SIZE : 0;

	/* Never IOVA 0, and never the top page. */
	interval_tree_for_each_span(&allowed, &iopt->allowed_itree, PAGE_SIZE,
				    U64_MAX - PAGE_SIZE) {
		u64 start = allowed.start, last = allowed.last;

		if (!no_allowed && allowed.is_hole)
			continue;
		interval_tree_for_each_double_span(&used, &iopt->reserved_itree,
						   &iopt->area_itree, start,
						   last) {
			u64 hole = used.start;

			if (used.is_used)
				continue;
			if (!fit_in_span(&hole, used.last, length, step,
					 offset))
				continue;
			*iova = hole;
			return 0;
		}
	}
	return err_reason(-ENOSPC, "no free IOVA range of %#llx bytes",
			  (unsigned long long)length);
}

int iopt_check_iova(struct io_pagetable *iopt, u64 iova, u64 length)
{
	u64 last;

	if (!is_aligned(iova, iopt->iova_alignment))
		return err_reason(-EINVAL,
				  "iova %#llx is not aligned to %#llx, the IOAS alignment",
				  (unsigned long long)iova,
				  (unsigned long long)iopt->iova_alignment);
	if (check_range_last(iova, length, &last))
		return err_reason(-EOVERFLOW,
				  "iova %#llx + length %#llx wraps past the top",
				  (unsigned long long)iova,
				  (unsigned long long)length);
	if (reserved_intersects(iopt, iova, last))
		return err_reason(-EINVAL,
				  "iova [%#llx, %#llx] intersects a reserved range",
				  (unsigned long long)iova,
				  (unsigned long long)last);
	if (iopt_area_iter_first(iopt, iova, last))
		return err_reason(-EEXIST,
				  "iova [%#llx, %#llx] overlaps an existing mapping",
				  (unsigned long long)iova,
				  (unsigned long long)last);
	return 0;
}

int iopt_check_iova_alignment(struct io_pagetable *iopt, u64 align)
{
	struct iopt_area *area;

	for (area = iopt_area_iter_first(iopt, 0, U64_MAX); area;
	     area = iopt_area_iter_next(area, 0, U64_MAX)) {
		if (!is_aligned(iopt_area_iova(area), align) ||
		    !is_aligned(iopt_area_length(area), align) ||
		    !is_aligned(area->page_offset, align))
			return err_reason(-EADDRINUSE,
					  "mapping at iova %#llx is not aligned to %#llx",
					  (unsigned long long)iopt_area_iova(area),
					  (unsigned long long)align);
	}
	return 0;
}

int iopt_calculate_iova_alignment(struct io_pagetable *iopt, u64 extra)
{
	struct iommu_domain *domain;
	struct iopt_access *access;
	u64 align = max(extra, (u64)1), index;
	int rc;

	if (iopt->disable_large_pages)
		align = PAGE_SIZE;
	index_store_for_each(&iopt->domains, index, domain)
		align = max(align, iommu_domain_min_pgsize(domain));
	pthread_mutex_lock(&iopt->access_lock);
	index_store_for_each(&iopt->access_list, index, access)
		align = max(align, access->iova_alignment);
	pthread_mutex_unlock(&iopt->access_lock);

	if (align > iopt->iova_alignment) {
		rc = iopt_check_iova_alignment(iopt, align);
		if (rc)
			return rc;
	}
	iopt->iova_alignment = align;
	return 0;
}
