// SPDX-License-Identifier: MIT
/*
 * Accesses: pin, unpin, read and write by IOVA, and unmap notification.
 *
 * Each access records what it pinned, so an unpin must name a real pin and
 * destroying an access that still holds pins releases them instead of
 * leaking them. An area being unmapped has prevent_access set: new pins
 * and copies through it fail until the unmap is over.
 */
#include "iopt/access.h"

#include <errno.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/mem.h"
#include "base/overflow.h"
#include "base/warn.h"
#include "iopt/iova_space.h"
#include "iopt/pages.h"

struct iopt_access_pin {
	struct interval_tree_node node;	/* the pinned IOVA range */
	u64 count;
};

struct iopt_access *iopt_access_create(struct io_pagetable *iopt,
				       const struct iopt_access_ops *ops,
				       void *data)
{
	struct iopt_access *access;
	u64 id;
	int rc;

	access = mem_zalloc(sizeof(*access));
	if (!access)
		return ERR_PTR(-ENOMEM);
	access->iopt = iopt;
	access->ops = ops;
	access->data = data;
	access->iova_alignment = ops->needs_pin_pages ? PAGE_SIZE : 1;
	access->pins = RB_ROOT_CACHED_INIT;
	pthread_mutex_init(&access->pins_lock, NULL);

	pthread_rwlock_wrlock(&iopt->domains_rwsem);
	pthread_rwlock_wrlock(&iopt->iova_rwsem);
	/* Hold the slot unpublished until nothing can fail any more. */
	pthread_mutex_lock(&iopt->access_lock);
	rc = index_store_alloc(&iopt->access_list, &id, 0, 0xffff,
			       INDEX_STORE_RESERVED);
	pthread_mutex_unlock(&iopt->access_lock);
	if (rc)
		goto out_unlock;
	rc = iopt_calculate_iova_alignment(iopt, access->iova_alignment);
	pthread_mutex_lock(&iopt->access_lock);
	if (rc)
		index_store_erase(&iopt->access_list, id);
	else
		WARN_ON(index_store_store(&iopt->access_list, id, access));
	pthread_mutex_unlock(&iopt->access_lock);
	access->list_id = id;
out_unlock:
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	pthread_rwlock_unlock(&iopt->domains_rwsem);
	if (rc) {
		pthread_mutex_destroy(&access->pins_lock);
		mem_free(access);
		return ERR_PTR(rc);
	}
	return access;
}

/*
 * Undo the area-level pins of [iova, last_iova], and their locks if
 * @locked; iova_rwsem held.
 */
static void access_remove_range(struct io_pagetable *iopt, u64 iova,
				u64 last_iova, bool locked)
{
	struct iopt_area_contig_iter iter;
	struct iopt_area *area;

	iopt_for_each_contig_area(&iter, area, iopt, iova, last_iova) {
		u64 last = min(last_iova, iopt_area_last_iova(area));

		if (locked)
			WARN_ON(!atomic_fetch_sub(&area->num_locks, 1));
		iopt_area_remove_access(area,
					iopt_area_iova_to_index(area,
								iter.cur_iova),
					iopt_area_iova_to_index(area, last));
	}
	WARN_ON(!iopt_area_contig_done(&iter));
}

void iopt_access_quiesce(struct iopt_access *access)
{
	struct io_pagetable *iopt = access->iopt;

	pthread_mutex_lock(&iopt->access_lock);
	access->dying = true;
	while (access->notifying)
		pthread_cond_wait(&iopt->access_cond, &iopt->access_lock);
	pthread_mutex_unlock(&iopt->access_lock);
}

void iopt_access_destroy(struct iopt_access *access)
{
	struct io_pagetable *iopt = access->iopt;
	struct interval_tree_node *node;

	iopt_access_quiesce(access);

	/* Pins left behind are released, not leaked. */
	pthread_rwlock_rdlock(&iopt->iova_rwsem);
	while ((node = interval_tree_iter_first(&access->pins, 0, U64_MAX))) {
		struct iopt_access_pin *pin =
			container_of(node, struct iopt_access_pin, node);

		while (pin->count--)
			access_remove_range(iopt, node->start, node->last,
					    access->ops->locks_areas);
		interval_tree_remove(node, &access->pins);
		mem_free(pin);
	}
	pthread_rwlock_unlock(&iopt->iova_rwsem);

	pthread_rwlock_wrlock(&iopt->domains_rwsem);
	pthread_rwlock_wrlock(&iopt->iova_rwsem);
	pthread_mutex_lock(&iopt->access_lock);
	index_store_erase(&iopt->access_list, access->list_id);
	/* Unmaps waiting for this access's pins to go can carry on. */
	pthread_cond_broadcast(&iopt->access_cond);
	pthread_mutex_unlock(&iopt->access_lock);
	/* The alignment can only go down: this cannot fail. */
	WARN_ON(iopt_calculate_iova_alignment(iopt, 0));
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	pthread_rwlock_unlock(&iopt->domains_rwsem);
	pthread_mutex_destroy(&access->pins_lock);
	mem_free(access);
}

/*
 * A pin works in whole pages of the mapped memory: each area's piece
 * starts on a page, and every piece but the last ends on one.
 */
static bool pin_piece_aligned(struct iopt_area *area, u64 cur, u64 last,
			      bool final)
{
	if (iopt_area_start_byte(area, cur) % PAGE_SIZE)
		return false;
	return final || (iopt_area_start_byte(area, last) + 1) % PAGE_SIZE == 0;
}

/* Record a pin that now exists, using @spare if it is a new range. */
static void access_record_pin(struct iopt_access *access, u64 iova,
			      u64 last_iova, struct iopt_access_pin *spare)
{
	struct interval_tree_node *node;

	pthread_mutex_lock(&access->pins_lock);
	interval_tree_for_each(node, &access->pins, iova, last_iova) {
		if (node->start == iova && node->last == last_iova) {
			container_of(node, struct iopt_access_pin, node)->count++;
			pthread_mutex_unlock(&access->pins_lock);
			mem_free(spare);
			return;
		}
	}
	spare->node.start = iova;
	spare->node.last = last_iova;
	spare->count = 1;
	interval_tree_insert(&spare->node, &access->pins);
	pthread_mutex_unlock(&access->pins_lock);
}

/* Drop one record of exactly [iova, last_iova]; false if there is none. */
static bool access_drop_pin(struct iopt_access *access, u64 iova,
			    u64 last_iova)
{
	struct interval_tree_node *node;
	bool found = false;

	pthread_mutex_lock(&access->pins_lock);
	interval_tree_for_each(node, &access->pins, iova, last_iova) {
		struct iopt_access_pin *pin =
			container_of(node, struct iopt_access_pin, node);

		if (node->start != iova || node->last != last_iova)
			continue;
		found = true;
		if (!--pin->count) {
			interval_tree_remove(node, &access->pins);
			mem_free(pin);
		}
		break;
	}
	pthread_mutex_unlock(&access->pins_lock);
	return found;
}

int iopt_access_pin_pages(struct iopt_access *access, u64 iova, u64 length,
			  u64 *out_pfns, void **out_ptrs, unsigned int flags)
{
	struct io_pagetable *iopt = access->iopt;
	struct iopt_area_contig_iter iter;
	struct iopt_access_pin *spare;
	struct iopt_area *area;
	u64 last_iova = 0;
	int rc;

	rc = iopt_check_iova_range(iova, length, &last_iova);
	if (rc)
		return rc;
	if (!access->ops->unmap && !access->ops->locks_areas)
		return err_reason(-EINVAL,
				  "an access without an unmap callback cannot pin pages");
	/*
	 * The record is published only once the pins exist (an unmap
	 * callback may act on it at once), so allocate it now: after the
	 * pins nothing may fail.
	 */
	spare = mem_zalloc(sizeof(*spare));
	if (!spare)
		return -ENOMEM;

	pthread_rwlock_rdlock(&iopt->iova_rwsem);
	iopt_for_each_contig_area(&iter, area, iopt, iova, last_iova) {
		u64 last = min(last_iova, iopt_area_last_iova(area));
		u64 index = iopt_area_iova_to_index(area, iter.cur_iova);
		u64 last_index = iopt_area_iova_to_index(area, last);

		if (area->prevent_access) {
			rc = err_reason(-EINVAL,
					"iova %#llx is being unmapped",
					(unsigned long long)iter.cur_iova);
			goto err_remove;
		}
		if (!pin_piece_aligned(area, iter.cur_iova, last,
				       last == last_iova)) {
			rc = err_reason(-EINVAL,
					"pin of iova %#llx does not cover whole pages of the mapped memory",
					(unsigned long long)iter.cur_iova);
			goto err_remove;
		}
		/* As the kernel: a read pin needs a readable mapping. */
		if (!(area->iommu_prot & (flags & IOMMUFD_ACCESS_RW_WRITE ?
						  IOMMU_WRITE :
						  IOMMU_READ))) {
			rc = err_reason(-EPERM, "iova %#llx is not mapped %s",
					(unsigned long long)iter.cur_iova,
					flags & IOMMUFD_ACCESS_RW_WRITE ?
						"writable" :
						"readable");
			goto err_remove;
		}
		rc = iopt_area_add_access(area, index, last_index, out_pfns,
					  flags);
		if (rc)
			goto err_remove;
		if (access->ops->locks_areas)
			atomic_fetch_add(&area->num_locks, 1);
		out_pfns += last_index - index + 1;
		if (out_ptrs) {
			struct pfn_source *src = area->pages->source;

			for (u64 i = index; i <= last_index; i++)
				*out_ptrs++ = src->ops->page_ptr(src, i);
		}
	}
	if (!iopt_area_contig_done(&iter)) {
		rc = err_reason(-ENOENT,
				"iova [%#llx, %#llx] is not entirely mapped",
				(unsigned long long)iova,
				(unsigned long long)last_iova);
		goto err_remove;
	}
	access_record_pin(access, iova, last_iova, spare);
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	return 0;

err_remove:
	if (iova < iter.cur_iova)
		access_remove_range(iopt, iova, iter.cur_iova - 1,
				    access->ops->locks_areas);
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	mem_free(spare);
	return rc;
}

int iopt_access_unpin_pages(struct iopt_access *access, u64 iova, u64 length)
{
	struct io_pagetable *iopt = access->iopt;
	u64 last_iova = 0;
	int rc;

	rc = iopt_check_iova_range(iova, length, &last_iova);
	if (rc)
		return rc;
	if (!access_drop_pin(access, iova, last_iova))
		return err_reason(-EINVAL,
				  "iova [%#llx, %#llx] is not pinned by this access",
				  (unsigned long long)iova,
				  (unsigned long long)last_iova);
	/* Held across the whole walk: an unmap cannot free areas under it. */
	pthread_rwlock_rdlock(&iopt->iova_rwsem);
	access_remove_range(iopt, iova, last_iova, access->ops->locks_areas);
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	return 0;
}

/*
 * Everything about [iova, last_iova] that can be checked before a byte
 * moves: mapped throughout, not being unmapped, mapped with @need. Counts
 * the pages the range touches, area by area. iova_rwsem held.
 */
static int rw_check(struct io_pagetable *iopt, u64 iova, u64 last_iova,
		    int need, u64 *npages, unsigned int *pieces)
{
	struct iopt_area_contig_iter iter;
	struct iopt_area *area;

	*npages = 0;
	*pieces = 0;
	iopt_for_each_contig_area(&iter, area, iopt, iova, last_iova) {
		u64 last = min(last_iova, iopt_area_last_iova(area));

		if (area->prevent_access)
			return err_reason(-EINVAL,
					  "iova %#llx is being unmapped",
					  (unsigned long long)iter.cur_iova);
		if (!(area->iommu_prot & need))
			return err_reason(-EPERM, "iova %#llx is not mapped %s",
					  (unsigned long long)iter.cur_iova,
					  need == IOMMU_WRITE ? "writable" :
								"readable");
		*npages += iopt_area_iova_to_index(area, last) -
			   iopt_area_iova_to_index(area, iter.cur_iova) + 1;
		(*pieces)++;
	}
	if (!iopt_area_contig_done(&iter))
		return err_reason(-ENOENT,
				  "iova [%#llx, %#llx] is not entirely mapped",
				  (unsigned long long)iova,
				  (unsigned long long)last_iova);
	return 0;
}

/*
 * A write over several pages is all or nothing: every page is pinned
 * first (the only step that can fail), then the bytes are copied, which
 * cannot fail, then the pins go. iova_rwsem held.
 */
static int rw_write_pinned(struct io_pagetable *iopt, u64 iova, u64 last_iova,
			   const char *data, u64 npages)
{
	struct iopt_area_contig_iter iter;
	struct iopt_area *area;
	u64 *pfns;
	int rc = 0;

	pfns = mem_calloc(npages, sizeof(*pfns));
	if (!pfns)
		return -ENOMEM;
	iopt_for_each_contig_area(&iter, area, iopt, iova, last_iova) {
		u64 last = min(last_iova, iopt_area_last_iova(area));

		rc = iopt_area_add_access(area,
					  iopt_area_iova_to_index(area,
								  iter.cur_iova),
					  iopt_area_iova_to_index(area, last),
					  pfns, IOMMUFD_ACCESS_RW_WRITE);
		if (rc) {
			if (iova < iter.cur_iova)
				access_remove_range(iopt, iova,
						    iter.cur_iova - 1, false);
			goto out_free;
		}
	}
	iopt_for_each_contig_area(&iter, area, iopt, iova, last_iova) {
		struct pfn_source *src = area->pages->source;
		u64 last = min(last_iova, iopt_area_last_iova(area));
		u64 byte = iopt_area_start_byte(area, iter.cur_iova);
		u64 bytes = last - iter.cur_iova + 1;

		while (bytes) {
			u64 n = min(bytes, PAGE_SIZE - byte % PAGE_SIZE);

			src->ops->rw(src, byte / PAGE_SIZE, byte % PAGE_SIZE,
				     (void *)data, n, true);
			data += n;
			byte += n;
			bytes -= n;
		}
	}
	access_remove_range(iopt, iova, last_iova, false);
out_free:
	mem_free(pfns);
	return rc;
}

int iopt_access_rw(struct iopt_access *access, u64 iova, void *data,
		   u64 length, unsigned int flags)
{
	struct io_pagetable *iopt = access->iopt;
	bool write = flags & IOMMUFD_ACCESS_RW_WRITE;
	struct iopt_area_contig_iter iter;
	struct iopt_area *area;
	unsigned int pieces;
	u64 last_iova = 0, npages;
	int rc;

	rc = iopt_check_iova_range(iova, length, &last_iova);
	if (rc)
		return rc;

	pthread_rwlock_rdlock(&iopt->iova_rwsem);
	rc = rw_check(iopt, iova, last_iova, write ? IOMMU_WRITE : IOMMU_READ,
		      &npages, &pieces);
	if (rc)
		goto out_unlock;
	/* One page cannot be half written; more can, unless pinned first. */
	if (write && (pieces > 1 || npages > 1)) {
		rc = rw_write_pinned(iopt, iova, last_iova, data, npages);
		goto out_unlock;
	}
	iopt_for_each_contig_area(&iter, area, iopt, iova, last_iova) {
		u64 last = min(last_iova, iopt_area_last_iova(area));
		u64 bytes = last - iter.cur_iova + 1;

		rc = iopt_pages_rw_access(area->pages,
					  iopt_area_start_byte(area,
							       iter.cur_iova),
					  data, bytes, flags);
		if (rc)
			goto out_unlock;
		data = (char *)data + bytes;
	}
out_unlock:
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	return rc;
}

void iopt_access_notify_unmap(struct io_pagetable *iopt, u64 iova,
			      u64 length)
{
	struct iopt_access *access;
	u64 index = 0;

	pthread_mutex_lock(&iopt->access_lock);
	access = index_store_find(&iopt->access_list, &index, U64_MAX);
	while (access) {
		if (access->dying) {
			/*
			 * Its pins go with it, soon: wait until it is gone
			 * rather than spend the unmap's retries on it.
			 */
			pthread_cond_wait(&iopt->access_cond,
					  &iopt->access_lock);
			access = index_store_find(&iopt->access_list, &index,
						  U64_MAX);
			continue;
		}
		if (access->ops->unmap) {
			/* Keeps the access alive while the lock is dropped. */
			access->notifying++;
			pthread_mutex_unlock(&iopt->access_lock);
			access->ops->unmap(access->data, iova, length);
			pthread_mutex_lock(&iopt->access_lock);
			if (!--access->notifying && access->dying)
				pthread_cond_broadcast(&iopt->access_cond);
		}
		access = index_store_find_after(&iopt->access_list, &index,
						U64_MAX);
	}
	pthread_mutex_unlock(&iopt->access_lock);
}
