// SPDX-License-Identifier: MIT
/*
 * io_pagetable: IO address spaces. Mapping creates areas over iopt_pages,
 * unmapping removes whole areas, copying maps the pages behind a mapped
 * range again, and every attached domain mirrors all of it.
 *
 * A new area is inserted with a NULL pages pointer first, which takes its
 * IOVA so iova_rwsem can be dropped while the (slow) domain fill runs; the
 * pointer is set, under iova_rwsem, once the area is complete. The same
 * NULL marks an area being torn down. Such areas are invisible to users:
 * unmap and copy step over them, attach never meets one (domains_rwsem).
 */
#include "iopt/io_pagetable.h"

#include <errno.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/mem.h"
#include "base/overflow.h"
#include "base/warn.h"
#include "iopt/access.h"
#include "iopt/iova_space.h"
#include "iopt/dmabuf.h"
#include "iopt/pages.h"
#include "iopt/pfn_dmabuf.h"

/* One slice of a pages object to become an area. */
struct iopt_pages_elm {
	struct iopt_pages *pages;
	struct iopt_area *area;
	u64 start_byte;
	u64 length;
};

struct iopt_pages_list {
	struct iopt_pages_elm *elms;
	size_t nr, cap;
};

void iopt_init_table(struct io_pagetable *iopt)
{
	pthread_rwlockattr_t attr;

	/*
	 * Like the kernel's rw_semaphore, new readers queue behind a waiting
	 * writer, so a stream of pins cannot starve map and unmap. Such
	 * locks are not recursive: no path takes a read side twice.
	 */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
				      PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&iopt->domains_rwsem, &attr);
	pthread_rwlock_init(&iopt->iova_rwsem, &attr);
	pthread_rwlockattr_destroy(&attr);
	iopt->area_itree = RB_ROOT_CACHED_INIT;
	iopt->allowed_itree = RB_ROOT_CACHED_INIT;
	iopt->reserved_itree = RB_ROOT_CACHED_INIT;
	index_store_init(&iopt->domains);
	iopt->next_domain_id = 0;
	iopt->iova_alignment = 1;
	iopt->disable_large_pages = false;
	iopt->memlock_limit = IOPT_MEMLOCK_RLIMIT;
	pthread_mutex_init(&iopt->access_lock, NULL);
	pthread_cond_init(&iopt->access_cond, NULL);
	index_store_init(&iopt->access_list);
}

void iopt_destroy_table(struct io_pagetable *iopt)
{
	struct interval_tree_node *node;

	/* Reservations and allowed ranges are the table's own. */
	while ((node = interval_tree_iter_first(&iopt->reserved_itree, 0,
						U64_MAX))) {
		interval_tree_remove(node, &iopt->reserved_itree);
		mem_free(container_of(node, struct iopt_reserved, node));
	}
	WARN_ON(iopt_set_allow_iova(iopt, NULL, 0));
	WARN_ON(!rb_empty_cached(&iopt->area_itree));
	WARN_ON(!index_store_empty(&iopt->domains));
	WARN_ON(!index_store_empty(&iopt->access_list));
	index_store_destroy(&iopt->domains);
	index_store_destroy(&iopt->access_list);
	pthread_cond_destroy(&iopt->access_cond);
	pthread_mutex_destroy(&iopt->access_lock);
	pthread_rwlock_destroy(&iopt->domains_rwsem);
	pthread_rwlock_destroy(&iopt->iova_rwsem);
}

/* ---- walking contiguous areas --------------------------------------------- */

struct iopt_area *iopt_area_contig_init(struct iopt_area_contig_iter *iter,
					struct io_pagetable *iopt, u64 iova,
					u64 last_iova)
{
	iter->cur_iova = iova;
	iter->last_iova = last_iova;
	iter->area = iopt_area_iter_first(iopt, iova, iova);
	if (iter->area && !iter->area->pages)
		iter->area = NULL;
	return iter->area;
}

struct iopt_area *iopt_area_contig_next(struct iopt_area_contig_iter *iter)
{
	u64 last_iova;

	if (!iter->area)
		return NULL;
	last_iova = iopt_area_last_iova(iter->area);
	if (iter->last_iova <= last_iova)
		return NULL;

	iter->cur_iova = last_iova + 1;
	iter->area = iopt_area_iter_next(iter->area, iter->cur_iova,
					 iter->last_iova);
	if (!iter->area)
		return NULL;
	/* A gap, or an area not (or no longer) mapped, ends the walk. */
	if (iter->cur_iova != iopt_area_iova(iter->area) ||
	    !iter->area->pages) {
		iter->area = NULL;
		return NULL;
	}
	return iter->area;
}

/* ---- mapping --------------------------------------------------------------- */

static int pages_list_add(struct iopt_pages_list *list,
			  struct iopt_pages *pages, u64 start_byte, u64 length)
{
	if (list->nr == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 4;
		struct iopt_pages_elm *elms;

		elms = mem_calloc(cap, sizeof(*elms));
		if (!elms)
			return -ENOMEM;
		for (size_t i = 0; i != list->nr; i++)
			elms[i] = list->elms[i];
		mem_free(list->elms);
		list->elms = elms;
		list->cap = cap;
	}
	list->elms[list->nr++] = (struct iopt_pages_elm){
		.pages = pages, .start_byte = start_byte, .length = length,
	};
	return 0;
}

/* Take the area back out of the IOVA tree (if in) and free it. */
static void iopt_abort_area(struct iopt_area *area)
{
	if (area->iopt) {
		pthread_rwlock_wrlock(&area->iopt->iova_rwsem);
		interval_tree_remove(&area->node, &area->iopt->area_itree);
		pthread_rwlock_unlock(&area->iopt->iova_rwsem);
	}
	mem_free(area);
}

/* Whatever the list still owns (areas not published, page references). */
static void pages_list_free(struct iopt_pages_list *list)
{
	for (size_t i = 0; i != list->nr; i++) {
		if (list->elms[i].area)
			iopt_abort_area(list->elms[i].area);
		if (list->elms[i].pages)
			iopt_put_pages(list->elms[i].pages);
	}
	mem_free(list->elms);
	list->elms = NULL;
	list->nr = list->cap = 0;
}

/*
 * Put an area for bytes [start_byte, start_byte + length) of @pages at
 * @iova into the IOVA tree, not yet published (area->pages stays NULL).
 */
static int iopt_insert_area(struct io_pagetable *iopt, struct iopt_area *area,
			    struct iopt_pages *pages, u64 iova, u64 start_byte,
			    u64 length, int iommu_prot)
{
	u64 last_byte;

	if ((iommu_prot & IOMMU_WRITE) && !pages->writable)
		return err_reason(-EPERM,
				  "a writable mapping of memory mapped read-only");
	area->iommu_prot = iommu_prot;
	area->page_offset = start_byte % PAGE_SIZE;
	/* Every area keeps the alignment, copied pieces included. */
	if (!is_aligned(iova, iopt->iova_alignment) ||
	    !is_aligned(length, iopt->iova_alignment))
		return err_reason(-EINVAL,
				  "a piece [%#llx, +%#llx) is not aligned to %#llx, the IOAS alignment",
				  (unsigned long long)iova,
				  (unsigned long long)length,
				  (unsigned long long)iopt->iova_alignment);
	if (!is_aligned(area->page_offset, iopt->iova_alignment))
		return err_reason(-EINVAL,
				  "the memory's offset %#x in its page is not aligned to %#llx, the IOAS alignment",
				  area->page_offset,
				  (unsigned long long)iopt->iova_alignment);
	area->node.start = iova;
	if (check_range_last(iova, length, &area->node.last) ||
	    check_range_last(start_byte, length, &last_byte))
		return err_reason(-EOVERFLOW, "mapping wraps past the top");
	area->pages_node.start = start_byte / PAGE_SIZE;
	area->pages_node.last = last_byte / PAGE_SIZE;
	if (WARN_ON(area->pages_node.last >= pages->npages))
		return -EOVERFLOW;
	area->iopt = iopt;
	interval_tree_insert(&area->node, &iopt->area_itree);
	return 0;
}

static int iopt_alloc_area_pages(struct io_pagetable *iopt,
				 struct iopt_pages_list *list, u64 length,
				 u64 *dst_iova, int iommu_prot,
				 unsigned int flags)
{
	u64 iova;
	int rc = 0;

	for (size_t i = 0; i != list->nr; i++) {
		list->elms[i].area = mem_zalloc(sizeof(struct iopt_area));
		if (!list->elms[i].area)
			return -ENOMEM;
	}

	pthread_rwlock_wrlock(&iopt->iova_rwsem);
	if (!length || !is_aligned(length, iopt->iova_alignment)) {
		rc = err_reason(-EINVAL,
				"length %#llx is not a non-zero multiple of %#llx, the IOAS alignment",
				(unsigned long long)length,
				(unsigned long long)iopt->iova_alignment);
		goto out_unlock;
	}
	if (flags & IOPT_ALLOC_IOVA) {
		/* The first slice's origin address guides the alignment. */
		struct iopt_pages_elm *first = &list->elms[0];

		rc = iopt_alloc_iova(iopt, dst_iova,
				     first->pages->source_addr +
					     first->start_byte,
				     length);
	} else {
		rc = iopt_check_iova(iopt, *dst_iova, length);
	}
	if (rc)
		goto out_unlock;

	iova = *dst_iova;
	for (size_t i = 0; i != list->nr; i++) {
		struct iopt_pages_elm *elm = &list->elms[i];

		rc = iopt_insert_area(iopt, elm->area, elm->pages, iova,
				      elm->start_byte, elm->length, iommu_prot);
		if (rc)
			goto out_unlock;
		iova += elm->length;
	}
out_unlock:
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	return rc;
}

static int iopt_fill_domains_list(struct iopt_pages_list *list)
{
	size_t i;
	int rc;

	for (i = 0; i != list->nr; i++) {
		rc = iopt_area_fill_domains(list->elms[i].area,
					    list->elms[i].pages);
		if (rc)
			goto err_undo;
	}
	return 0;

err_undo:
	while (i--)
		iopt_area_unfill_domains(list->elms[i].area,
					 list->elms[i].pages);
	return rc;
}

/*
 * Map the slices of @list back to back from *dst_iova; on success the
 * areas and page references move from the list into the table.
 */
static int iopt_map_pages(struct io_pagetable *iopt,
			  struct iopt_pages_list *list, u64 length,
			  u64 *dst_iova, int iommu_prot, unsigned int flags)
{
	int rc;

	/* Neither read nor write is the caller's to refuse (6.2 allowed it). */
	if (iommu_prot & ~(IOMMU_READ | IOMMU_WRITE))
		return err_reason(-EINVAL, "unknown protection bits %#x",
				  iommu_prot & ~(IOMMU_READ | IOMMU_WRITE));
	rc = iopt_alloc_area_pages(iopt, list, length, dst_iova, iommu_prot,
				   flags);
	if (rc)
		return rc;

	/* Held across fill and publish, so an attach sees all or none. */
	pthread_rwlock_rdlock(&iopt->domains_rwsem);
	rc = iopt_fill_domains_list(list);
	if (!rc) {
		pthread_rwlock_wrlock(&iopt->iova_rwsem);
		for (size_t i = 0; i != list->nr; i++) {
			list->elms[i].area->pages = list->elms[i].pages;
			list->elms[i].pages = NULL;
			list->elms[i].area = NULL;
		}
		pthread_rwlock_unlock(&iopt->iova_rwsem);
	}
	pthread_rwlock_unlock(&iopt->domains_rwsem);
	return rc;
}

/* @pages maps @length bytes from byte @first_offset of its page 0. */
static int iopt_map_new_pages(struct io_pagetable *iopt, u64 *iova,
			      struct iopt_pages *pages, u64 first_offset,
			      u64 length, int iommu_prot, unsigned int flags,
			      int account_mode)
{
	struct iopt_pages_list list = {};
	int rc;

	if (IS_ERR(pages))
		return PTR_ERR(pages);
	/* dma-buf pages pin nothing and keep their mode, NONE. */
	if (!pages->dmabuf)
		pages->account_mode = account_mode;
	pages->memlock_limit = iopt->memlock_limit;
	rc = pages_list_add(&list, pages, first_offset, length);
	if (rc) {
		iopt_put_pages(pages);
		return rc;
	}
	rc = iopt_map_pages(iopt, &list, length, iova, iommu_prot, flags);
	pages_list_free(&list);
	return rc;
}

int iopt_map_user_pages(struct io_pagetable *iopt, u64 *iova, u64 uptr,
			u64 length, int iommu_prot, unsigned int flags,
			int account_mode)
{
	return iopt_map_new_pages(iopt, iova,
				  iopt_alloc_user_pages(uptr, length,
							iommu_prot & IOMMU_WRITE),
				  uptr % PAGE_SIZE, length, iommu_prot, flags,
				  account_mode);
}

/*
 * As the kernel: the range is checked first, then @fd is looked up as a
 * dma-buf, and anything else is taken as a file.
 */
int iopt_map_file_pages(struct io_pagetable *iopt, u64 *iova, int fd,
			u64 start, u64 length, int iommu_prot,
			unsigned int flags, int account_mode)
{
	bool writable = iommu_prot & IOMMU_WRITE;
	struct err_reason_saved saved;
	struct iopt_dmabuf *dmabuf;
	struct iopt_pages *pages;
	u64 last;

	if (!length)
		return err_reason(-EINVAL, "zero length at file offset %#llx",
				  (unsigned long long)start);
	if (check_range_last(start, length, &last))
		return err_reason(-EOVERFLOW,
				  "file offset %#llx + length %#llx wraps past the top",
				  (unsigned long long)start,
				  (unsigned long long)length);
	err_reason_save(&saved);
	dmabuf = iopt_dmabuf_get_fd(fd);
	if (!IS_ERR(dmabuf)) {
		pages = iopt_alloc_dmabuf_pages(dmabuf, start, length, writable);
		iopt_dmabuf_put(dmabuf);
	} else if (PTR_ERR(dmabuf) == -EINVAL) {
		/* Not a dma-buf is no failure: a file, then. */
		err_reason_restore(&saved);
		pages = iopt_alloc_file_pages(fd, start, length, writable);
	} else {
		return PTR_ERR(dmabuf);
	}
	return iopt_map_new_pages(iopt, iova, pages, start % PAGE_SIZE, length,
				  iommu_prot, flags, account_mode);
}

/* References to the pages behind a fully mapped [iova, iova + length). */
static int iopt_get_pages_list(struct io_pagetable *iopt, u64 iova, u64 length,
			       struct iopt_pages_list *list)
{
	struct iopt_area_contig_iter iter;
	struct iopt_area *area;
	u64 last_iova;
	int rc = 0;

	if (check_range_last(iova, length, &last_iova))
		return err_reason(length ? -EOVERFLOW : -EINVAL,
				  "bad source range iova %#llx length %#llx",
				  (unsigned long long)iova,
				  (unsigned long long)length);

	pthread_rwlock_rdlock(&iopt->iova_rwsem);
	iopt_for_each_contig_area(&iter, area, iopt, iova, last_iova) {
		u64 last = min(last_iova, iopt_area_last_iova(area));

		if (area->prevent_access) {
			rc = err_reason(-EBUSY, "iova %#llx is being unmapped",
					(unsigned long long)iter.cur_iova);
			break;
		}
		rc = pages_list_add(list, area->pages,
				    iopt_area_start_byte(area, iter.cur_iova),
				    last - iter.cur_iova + 1);
		if (rc)
			break;
		iopt_get_pages(area->pages);
	}
	if (!rc && !iopt_area_contig_done(&iter))
		rc = err_reason(-ENOENT,
				"source iova [%#llx, %#llx] is not entirely mapped",
				(unsigned long long)iova,
				(unsigned long long)last_iova);
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	if (rc)
		pages_list_free(list);
	return rc;
}

int iopt_copy_iova(struct io_pagetable *dst, u64 *dst_iova,
		   struct io_pagetable *src, u64 src_iova, u64 length,
		   int iommu_prot, unsigned int flags)
{
	struct iopt_pages_list list = {};
	int rc;

	rc = iopt_get_pages_list(src, src_iova, length, &list);
	if (rc)
		return rc;
	rc = iopt_map_pages(dst, &list, length, dst_iova, iommu_prot, flags);
	pages_list_free(&list);
	return rc;
}

/* ---- unmapping -------------------------------------------------------------- */

/*
 * A range that covers only part of an area fails before anything changes:
 * only the areas holding its first and last IOVA can stick out.
 */
static bool splits_an_area(struct io_pagetable *iopt, u64 start, u64 last)
{
	struct iopt_area *area;

	area = iopt_area_iter_first(iopt, start, start);
	if (area && area->pages && iopt_area_iova(area) < start)
		return true;
	area = iopt_area_iter_first(iopt, last, last);
	return area && area->pages && iopt_area_last_iova(area) > last;
}

static int iopt_unmap_iova_range(struct io_pagetable *iopt, u64 start,
				 u64 last, u64 *unmapped)
{
	u64 unmapped_bytes = 0, marked_iova = 0;
	unsigned int tries = 0;
	struct iopt_area *area;
	bool marked = false;
	int rc = -ENOENT;

again:
	/* domains_rwsem keeps attach and detach out while areas go. */
	pthread_rwlock_rdlock(&iopt->domains_rwsem);
	pthread_rwlock_wrlock(&iopt->iova_rwsem);
	if (splits_an_area(iopt, start, last)) {
		rc = err_reason(-ENOENT,
				"iova [%#llx, %#llx] covers only part of a mapping",
				(unsigned long long)start,
				(unsigned long long)last);
		goto out_unlock;
	}
	while ((area = iopt_area_iter_first(iopt, start, last))) {
		u64 area_first = iopt_area_iova(area);
		u64 area_last = iopt_area_last_iova(area);
		struct iopt_pages *pages;

		if (!area->pages) {
			/*
			 * Being mapped or unmapped by another thread: for
			 * this unmap it is not there. Step over it.
			 */
			if (area_last >= last)
				break;
			start = area_last + 1;
			continue;
		}
		/* Pinned by an object that has not been destroyed yet. */
		if (atomic_load(&area->num_locks)) {
			rc = err_reason(-EBUSY,
					"iova %#llx is pinned by an object (a HW queue) until it is destroyed",
					(unsigned long long)area_first);
			goto out_unlock;
		}
		if (area_first < start || area_last > last) {
			rc = err_reason(-ENOENT,
					"iova [%#llx, %#llx] covers only part of a mapping",
					(unsigned long long)start,
					(unsigned long long)last);
			goto out_unlock;
		}
		if (area->num_accesses) {
			if (tries == IOPT_UNMAP_ACCESS_TRIES) {
				/* Asked that often, still pinned: give up. */
				rc = err_reason(-EDEADLOCK,
						"an access did not unpin iova %#llx after %u requests",
						(unsigned long long)area_first,
						tries);
				goto out_unlock;
			}
			/*
			 * Accesses pin it: ask them to unpin with no lock
			 * held, then look everything up again (the area may be
			 * gone by then).
			 */
			start = area_first;
			area->prevent_access = true;
			marked = true;
			marked_iova = area_first;
			pthread_rwlock_unlock(&iopt->iova_rwsem);
			pthread_rwlock_unlock(&iopt->domains_rwsem);
			iopt_access_notify_unmap(iopt, area_first,
						 area_last - area_first + 1);
			tries++;
			goto again;
		}

		pages = area->pages;
		area->pages = NULL;
		if (marked && area_first == marked_iova)
			marked = false;
		pthread_rwlock_unlock(&iopt->iova_rwsem);

		iopt_area_unfill_domains(area, pages);
		iopt_abort_area(area);
		iopt_put_pages(pages);
		unmapped_bytes += area_last - area_first + 1;
		/* The budget is per area. */
		tries = 0;

		pthread_rwlock_wrlock(&iopt->iova_rwsem);
	}
	if (unmapped_bytes)
		rc = 0;
	else
		rc = err_reason(-ENOENT, "nothing is mapped in [%#llx, %#llx]",
				(unsigned long long)start,
				(unsigned long long)last);
out_unlock:
	if (marked) {
		/* Failing after asking accesses to let go: lift the mark. */
		area = iopt_area_iter_first(iopt, marked_iova, marked_iova);
		if (area && iopt_area_iova(area) == marked_iova)
			area->prevent_access = false;
	}
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	pthread_rwlock_unlock(&iopt->domains_rwsem);
	/* What is gone is reported even when a later step failed. */
	if (unmapped)
		*unmapped = unmapped_bytes;
	return rc;
}

int iopt_check_iova_range(u64 iova, u64 length, u64 *last_iova)
{
	if (!length)
		return err_reason(-EINVAL, "zero length at iova %#llx",
				  (unsigned long long)iova);
	if (check_range_last(iova, length, last_iova))
		return err_reason(-EOVERFLOW,
				  "iova %#llx + length %#llx wraps past the top",
				  (unsigned long long)iova,
				  (unsigned long long)length);
	return 0;
}

int iopt_unmap_iova(struct io_pagetable *iopt, u64 iova, u64 length,
		    u64 *unmapped)
{
	u64 last = 0;
	int rc;

	if (unmapped)
		*unmapped = 0;
	rc = iopt_check_iova_range(iova, length, &last);
	if (rc)
		return rc;
	return iopt_unmap_iova_range(iopt, iova, last, unmapped);
}

int iopt_unmap_all(struct io_pagetable *iopt, u64 *unmapped)
{
	struct err_reason_saved saved;
	int rc;

	err_reason_save(&saved);
	rc = iopt_unmap_iova_range(iopt, 0, U64_MAX, unmapped);
	/* Nothing to unmap is success here, and no reason to report. */
	if (rc == -ENOENT) {
		err_reason_restore(&saved);
		return 0;
	}
	return rc;
}

/* ---- domains ----------------------------------------------------------------- */

/*
 * Every published area. One still being mapped (pages NULL) is filled
 * into every domain by its own map, under domains_rwsem; one being
 * unmapped is out of the domains already.
 */
#define for_each_area(iopt, area)                                         \
	for (area = iopt_area_iter_first(iopt, 0, U64_MAX); area;          \
	     area = iopt_area_iter_next(area, 0, U64_MAX))                 \
		if (!area->pages) {} else

/*
 * Fill every area into a new domain. The first domain becomes each area's
 * storage domain and puts it in its pages' domains_itree. All or nothing.
 */
static int iopt_fill_domain(struct io_pagetable *iopt,
			    struct iommu_domain *domain)
{
	struct iopt_area *area, *failed = NULL;
	int rc = 0;

	for_each_area(iopt, area) {
		struct iopt_pages *pages = area->pages;

		pthread_mutex_lock(&pages->mutex);
		/* Tracked first, so a revocation meanwhile unmaps it too. */
		rc = pages->dmabuf ?
			     iopt_dmabuf_track_domain(pages, area, domain) : 0;
		if (!rc) {
			rc = iopt_area_fill_domain(area, domain);
			if (rc && pages->dmabuf)
				iopt_dmabuf_untrack_domain(pages, area, domain);
		}
		if (rc) {
			pthread_mutex_unlock(&pages->mutex);
			failed = area;
			break;
		}
		if (!area->storage_domain) {
			area->storage_domain = domain;
			interval_tree_insert(&area->pages_node,
					     &pages->domains_itree);
		}
#ifdef UIOMMUFD_DEBUG
		iopt_pages_check(pages);
#endif
		pthread_mutex_unlock(&pages->mutex);
	}
	if (!failed)
		return 0;

	for_each_area(iopt, area) {
		struct iopt_pages *pages = area->pages;

		if (area == failed)
			break;
		pthread_mutex_lock(&pages->mutex);
		if (!iopt->next_domain_id) {
			/* It was the only domain: the PFNs go back. */
			interval_tree_remove(&area->pages_node,
					     &pages->domains_itree);
			area->storage_domain = NULL;
			iopt_area_unfill_domain(area, pages, domain);
		} else if (!iopt_dmabuf_revoked(pages)) {
			iopt_area_unmap_domain(area, domain);
		}
		if (pages->dmabuf)
			iopt_dmabuf_untrack_domain(pages, area, domain);
		pthread_mutex_unlock(&pages->mutex);
	}
	return rc;
}

/*
 * Take every area out of a domain being removed. With other domains left,
 * areas stored in this one switch to another (they all hold the same
 * PFNs) and the domain is only unmapped; with none left, the PFNs no access
 * holds are unpinned. Cannot fail.
 */
static void iopt_unfill_domain(struct io_pagetable *iopt,
			       struct iommu_domain *domain)
{
	struct iopt_area *area;

	if (iopt->next_domain_id) {
		struct iommu_domain *storage = index_store_load(&iopt->domains,
								0);

		for_each_area(iopt, area) {
			struct iopt_pages *pages = area->pages;

			pthread_mutex_lock(&pages->mutex);
			WARN_ON(!area->storage_domain);
			if (area->storage_domain == domain)
				area->storage_domain = storage;
			/* Under the mutex: a revocation may unmap it. */
			if (pages->dmabuf) {
				if (!pages->dmabuf->revoked)
					iopt_area_unmap_domain(area, domain);
				iopt_dmabuf_untrack_domain(pages, area, domain);
			}
			pthread_mutex_unlock(&pages->mutex);
			if (!pages->dmabuf)
				iopt_area_unmap_domain(area, domain);
		}
		return;
	}

	for_each_area(iopt, area) {
		struct iopt_pages *pages = area->pages;

		pthread_mutex_lock(&pages->mutex);
		interval_tree_remove(&area->pages_node, &pages->domains_itree);
		WARN_ON(area->storage_domain != domain);
		area->storage_domain = NULL;
		iopt_area_unfill_domain(area, pages, domain);
		if (pages->dmabuf)
			iopt_dmabuf_untrack_domain(pages, area, domain);
#ifdef UIOMMUFD_DEBUG
		iopt_pages_check(pages);
#endif
		pthread_mutex_unlock(&pages->mutex);
	}
}

/* What the domain cannot translate, and its reserved regions, are reserved. */
static int iopt_reserve_domain_iova(struct io_pagetable *iopt,
				    struct iommu_domain *domain)
{
	int rc;

	if (domain->aperture_start) {
		rc = iopt_reserve_iova_locked(iopt, 0,
					      domain->aperture_start - 1,
					      domain);
		if (rc)
			return rc;
	}
	if (domain->aperture_last != U64_MAX) {
		rc = iopt_reserve_iova_locked(iopt, domain->aperture_last + 1,
					      U64_MAX, domain);
		if (rc)
			return rc;
	}
	for (unsigned int i = 0; i != domain->nr_reserved; i++) {
		rc = iopt_reserve_iova_locked(iopt, domain->reserved[i].start,
					      domain->reserved[i].last, domain);
		if (rc)
			return rc;
	}
	return 0;
}

int iopt_table_add_domain(struct io_pagetable *iopt,
			  struct iommu_domain *domain)
{
	u64 pgsize = iommu_domain_min_pgsize(domain), new_align, index;
	struct iommu_domain *iter;
	unsigned int id;
	int rc;

	pthread_rwlock_wrlock(&iopt->domains_rwsem);
	pthread_rwlock_wrlock(&iopt->iova_rwsem);
	index_store_for_each(&iopt->domains, index, iter) {
		if (iter == domain) {
			rc = err_reason(-EEXIST,
					"the domain is already attached");
			goto out_unlock;
		}
	}
	/* The engine maps CPU pages, so IO pages may not be larger. */
	if (!pgsize || pgsize > PAGE_SIZE) {
		rc = err_reason(-EINVAL,
				"the domain's smallest IO page %#llx is larger than a CPU page",
				(unsigned long long)pgsize);
		goto out_unlock;
	}
	new_align = max(pgsize, iopt->iova_alignment);
	if (new_align != iopt->iova_alignment) {
		rc = iopt_check_iova_alignment(iopt, new_align);
		if (rc)
			goto out_unlock;
	}
	rc = iopt_reserve_domain_iova(iopt, domain);
	if (rc)
		goto out_reserved;
	/* Claim the slot first so nothing can fail after the fill. */
	id = iopt->next_domain_id;
	rc = index_store_store(&iopt->domains, id, INDEX_STORE_RESERVED);
	if (rc)
		goto out_reserved;
	rc = iopt_fill_domain(iopt, domain);
	if (rc) {
		index_store_erase(&iopt->domains, id);
		goto out_reserved;
	}
	iopt->iova_alignment = new_align;
	WARN_ON(index_store_store(&iopt->domains, id, domain));
	iopt->next_domain_id++;
	goto out_unlock;

out_reserved:
	iopt_remove_reserved_iova_locked(iopt, domain);
out_unlock:
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	pthread_rwlock_unlock(&iopt->domains_rwsem);
	return rc;
}

void iopt_table_remove_domain(struct io_pagetable *iopt,
			      struct iommu_domain *domain)
{
	struct iommu_domain *last;
	unsigned int index;

	pthread_rwlock_wrlock(&iopt->domains_rwsem);
	pthread_rwlock_wrlock(&iopt->iova_rwsem);
	for (index = 0; index != iopt->next_domain_id; index++)
		if (index_store_load(&iopt->domains, index) == domain)
			break;
	if (WARN_ON(index == iopt->next_domain_id))
		goto out_unlock;

	/* Keep the domains dense: the last one moves into the hole. */
	iopt->next_domain_id--;
	last = index_store_erase(&iopt->domains, iopt->next_domain_id);
	if (index != iopt->next_domain_id)
		WARN_ON(index_store_store(&iopt->domains, index, last));
	iopt_unfill_domain(iopt, domain);
	iopt_remove_reserved_iova_locked(iopt, domain);
	/* Only goes down: cannot fail. */
	WARN_ON(iopt_calculate_iova_alignment(iopt, 0));
out_unlock:
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	pthread_rwlock_unlock(&iopt->domains_rwsem);
}

/* ---- VFIO type1: cutting areas and page-by-page maps -------------------- */

/* Split @area so that @iova is its left half's last byte. iova_rwsem held. */
static int iopt_area_split(struct iopt_area *area, u64 iova)
{
	struct io_pagetable *iopt = area->iopt;
	struct iopt_pages *pages = area->pages;
	u64 start_iova = iopt_area_iova(area);
	u64 last_iova = iopt_area_last_iova(area);
	u64 new_start = iova + 1;
	struct iopt_area *lhs, *rhs;
	int rc;

	if (iova == last_iova)
		return 0;
	if (!pages || area->prevent_access)
		return err_reason(-EBUSY, "the mapping at %#llx is busy",
				  (unsigned long long)start_iova);
	/* As the kernel, which would have to split the tracking too. */
	if (pages->dmabuf)
		return err_reason(-EOPNOTSUPP,
				  "cannot cut the mapping at %#llx: it maps a dma-buf",
				  (unsigned long long)start_iova);
	if (!is_aligned(new_start, iopt->iova_alignment) ||
	    !is_aligned(iopt_area_start_byte(area, new_start),
			iopt->iova_alignment))
		return err_reason(-EINVAL,
				  "cannot cut the mapping at %#llx: not aligned to %#llx",
				  (unsigned long long)new_start,
				  (unsigned long long)iopt->iova_alignment);

	lhs = mem_zalloc(sizeof(*lhs));
	rhs = mem_zalloc(sizeof(*rhs));
	if (!lhs || !rhs) {
		rc = -ENOMEM;
		goto err_free;
	}

	pthread_mutex_lock(&pages->mutex);
	/* Accesses are per range; there is no tracking to split them with. */
	if (area->num_accesses) {
		rc = err_reason(-EINVAL,
				"cannot cut the mapping at %#llx: an access pins it",
				(unsigned long long)start_iova);
		goto err_unlock;
	}
	/* A domain may hold a large page across the cut. */
	if (area->storage_domain && !iopt->disable_large_pages) {
		rc = err_reason(-EINVAL,
				"cannot cut the mapping at %#llx: large pages are enabled",
				(unsigned long long)start_iova);
		goto err_unlock;
	}

	interval_tree_remove(&area->node, &iopt->area_itree);
	rc = iopt_insert_area(iopt, lhs, pages, start_iova,
			      iopt_area_start_byte(area, start_iova),
			      new_start - start_iova, area->iommu_prot);
	if (WARN_ON(rc))
		goto err_insert;
	rc = iopt_insert_area(iopt, rhs, pages, new_start,
			      iopt_area_start_byte(area, new_start),
			      last_iova - new_start + 1, area->iommu_prot);
	if (WARN_ON(rc))
		goto err_remove_lhs;

	/* Both halves go into every tree the original was in. */
	if (area->storage_domain) {
		interval_tree_remove(&area->pages_node, &pages->domains_itree);
		interval_tree_insert(&lhs->pages_node, &pages->domains_itree);
		interval_tree_insert(&rhs->pages_node, &pages->domains_itree);
	}
	lhs->storage_domain = rhs->storage_domain = area->storage_domain;
	lhs->pages = rhs->pages = pages;
	/* The original's reference passes to lhs; rhs takes one more. */
	iopt_get_pages(pages);
	mem_free(area);
#ifdef UIOMMUFD_DEBUG
	iopt_pages_check(pages);
#endif
	pthread_mutex_unlock(&pages->mutex);
	return 0;

err_remove_lhs:
	interval_tree_remove(&lhs->node, &iopt->area_itree);
err_insert:
	interval_tree_insert(&area->node, &iopt->area_itree);
err_unlock:
	pthread_mutex_unlock(&pages->mutex);
err_free:
	mem_free(lhs);
	mem_free(rhs);
	return rc;
}

int iopt_cut_iova(struct io_pagetable *iopt, const u64 *iovas, size_t n)
{
	int rc = 0;

	pthread_rwlock_wrlock(&iopt->iova_rwsem);
	for (size_t i = 0; i != n && !rc; i++) {
		struct iopt_area *area = iopt_area_iter_first(iopt, iovas[i],
							      iovas[i]);

		if (area)
			rc = iopt_area_split(area, iovas[i]);
	}
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	return rc;
}

void iopt_enable_large_pages(struct io_pagetable *iopt)
{
	pthread_rwlock_wrlock(&iopt->domains_rwsem);
	pthread_rwlock_wrlock(&iopt->iova_rwsem);
	iopt->disable_large_pages = false;
	/* The alignment can only go down. */
	WARN_ON(iopt_calculate_iova_alignment(iopt, 0));
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	pthread_rwlock_unlock(&iopt->domains_rwsem);
}

int iopt_disable_large_pages(struct io_pagetable *iopt)
{
	int rc = 0;

	pthread_rwlock_wrlock(&iopt->domains_rwsem);
	pthread_rwlock_wrlock(&iopt->iova_rwsem);
	if (iopt->disable_large_pages)
		goto out_unlock;
	/* Domains may already hold large pages. */
	if (!index_store_empty(&iopt->domains) &&
	    !rb_empty_cached(&iopt->area_itree)) {
		rc = err_reason(-EINVAL,
				"large pages cannot be disabled once domains hold mappings");
		goto out_unlock;
	}
	iopt->disable_large_pages = true;
	rc = iopt_calculate_iova_alignment(iopt, 0);
	if (rc)
		iopt->disable_large_pages = false;
out_unlock:
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	pthread_rwlock_unlock(&iopt->domains_rwsem);
	return rc;
}
