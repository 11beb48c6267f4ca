// SPDX-License-Identifier: MIT
/*
 * Dirty tracking on an io_pagetable (see dirty.h).
 *
 * Reading goes a window of the bitmap at a time. A window's bytes are read
 * from the caller first, the domain ORs its bits straight into that copy
 * (iommu_dirty_bitmap_record() only sets bits), and the copy goes back: a
 * bitmap byte is only ever written with the bits it had plus new ones.
 * The window is read from the domain under iova_rwsem, but the caller's
 * memory is never touched with an engine lock held (a fault there may
 * need a thread that maps or unmaps). Entries reach across windows
 * through the bitmap's carry: an entry cleared while one window is read
 * still sets its bits in the next.
 */
#include "iopt/dirty.h"

#include <errno.h>
#include <string.h>

#include "base/err_reason.h"
#include "base/mem.h"
#include "base/overflow.h"
#include "iopt/pfn_batch.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "the dirty bitmap's u64 words are read a byte at a time");

/* A window on the stack when the temporary memory says no. */
#define DIRTY_BACKUP_WORDS 32

int iopt_check_dirty_range(struct io_pagetable *iopt, u64 iova, u64 length,
			   u64 page_size, u64 *last_iova)
{
	u64 align = iopt_iova_alignment(iopt);
	u64 last;

	/* length - 1 as the kernel computes it, so length 0 wraps too. */
	if (check_add_overflow(iova, length - 1, &last))
		return err_reason(-EOVERFLOW,
				  "iova %#llx + length %#llx wraps past the top",
				  (unsigned long long)iova,
				  (unsigned long long)length);
	/* The kernel would read all of [0, U64_MAX] for iova 0 length 0. */
	if (!length)
		return err_reason(-EINVAL, "zero length at iova %#llx",
				  (unsigned long long)iova);
	if ((iova & (align - 1)) || ((last + 1) & (align - 1)))
		return err_reason(-EINVAL,
				  "iova %#llx and length %#llx are not aligned to %#llx, the IOAS's IOVA alignment",
				  (unsigned long long)iova,
				  (unsigned long long)length,
				  (unsigned long long)align);
	if (!page_size)
		return err_reason(-EINVAL, "page size 0");
	if ((iova & (page_size - 1)) || ((last + 1) & (page_size - 1)))
		return err_reason(-EINVAL,
				  "iova %#llx and length %#llx are not aligned to the page size %#llx",
				  (unsigned long long)iova,
				  (unsigned long long)length,
				  (unsigned long long)page_size);
	*last_iova = last;
	return 0;
}

/* Whether areas cover [iova, last] back to back: 0 or -EINVAL. */
static int iopt_dirty_check_mapped(struct io_pagetable *iopt, u64 iova,
				   u64 last)
{
	struct iopt_area_contig_iter iter;
	struct iopt_area *area;
	bool covered;
	u64 hole;

	pthread_rwlock_rdlock(&iopt->iova_rwsem);
	iopt_for_each_contig_area(&iter, area, iopt, iova, last)
		;
	covered = iopt_area_contig_done(&iter);
	hole = iter.cur_iova;
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	if (!covered)
		return err_reason(-EINVAL,
				  "iova [%#llx, %#llx] is not all mapped: nothing at %#llx",
				  (unsigned long long)iova,
				  (unsigned long long)last,
				  (unsigned long long)hole);
	return 0;
}

/*
 * Read one window from @domain: every area in it, clipped to it. Areas
 * being built or torn down (no pages) are not mapped yet or any more.
 */
static int iopt_dirty_read_window(struct io_pagetable *iopt,
				  struct iommu_domain *domain,
				  unsigned int flags,
				  struct iommu_dirty_bitmap *dirty)
{
	struct iopt_area *area;
	u64 first, last;
	int rc = 0;

	pthread_rwlock_rdlock(&iopt->iova_rwsem);
	for (area = iopt_area_iter_first(iopt, dirty->iova, dirty->last); area;
	     area = iopt_area_iter_next(area, dirty->iova, dirty->last)) {
		if (!area->pages)
			continue;
		first = max(dirty->iova, iopt_area_iova(area));
		last = min(dirty->last, iopt_area_last_iova(area));
		rc = iommu_read_and_clear_dirty(domain, first, last - first + 1,
						flags, dirty);
		if (rc)
			break;
	}
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	return rc;
}

/*
 * Bits [first_bit, first_bit + nbits) of the request: from the caller's
 * bitmap into @buf, the domain's bits on top, back to the caller. The
 * write is skipped when the domain had nothing for the window.
 */
static int iopt_dirty_window(struct io_pagetable *iopt,
			     struct iommu_domain *domain, unsigned int flags,
			     const struct iopt_dirty_sink *sink,
			     struct iommu_dirty_bitmap *dirty, u64 base,
			     u64 first_bit, u64 nbits)
{
	u64 nbytes = nbits / 8 + !!(nbits % 8);
	u64 offset = first_bit / 8;
	bool carry = dirty->carry;
	int rc;

	/* Whole words, so the bits past the last byte start clear. */
	dirty->bits[(nbytes - 1) / 8] = 0;
	rc = sink->read(sink->arg, offset, dirty->bits, nbytes);
	if (rc)
		return rc;
	dirty->iova = base + (first_bit << dirty->pgshift);
	dirty->last = dirty->iova + ((nbits << dirty->pgshift) - 1);
	dirty->records = 0;
	dirty->carry = false;
	/* What an entry of the last window reaches into this one. */
	if (carry)
		iommu_dirty_bitmap_record(dirty, dirty->iova,
					  dirty->carry_last - dirty->iova + 1);
	rc = iopt_dirty_read_window(iopt, domain, flags, dirty);
	if (rc)
		return rc;
	if (!dirty->records)
		return 0;
	return sink->write(sink->arg, offset, dirty->bits, nbytes);
}

int iopt_read_and_clear_dirty(struct io_pagetable *iopt,
			      struct iommu_domain *domain, u64 iova,
			      u64 length, u64 page_size, unsigned int flags,
			      const struct iopt_dirty_sink *sink)
{
	u64 backup[DIRTY_BACKUP_WORDS], last, nbits, nbytes, wbits;
	struct iommu_dirty_bitmap dirty = { 0 };
	size_t size;
	int rc;

	rc = iopt_check_dirty_range(iopt, iova, length, page_size, &last);
	if (rc)
		return rc;
	if (!domain->dirty_ops)
		return err_reason(-EOPNOTSUPP,
				  "the IO page table cannot track dirty IOVA");
	if (flags & ~IOMMU_DIRTY_NO_CLEAR)
		return err_reason(-EINVAL, "unknown dirty read flags %#x",
				  flags & ~IOMMU_DIRTY_NO_CLEAR);
	dirty.pgshift = __builtin_ctzll(page_size);
	/* Exact: iova and last + 1 are multiples of 1 << pgshift. */
	nbits = length >> dirty.pgshift;
	/* No rounding up that could wrap (pitfall 24). */
	nbytes = nbits / 8 + !!(nbits % 8);

	rc = iopt_dirty_check_mapped(iopt, iova, last);
	if (rc)
		return rc;
	rc = sink->check(sink->arg, nbytes);
	if (rc)
		return rc;

	/*
	 * A window of whole words, no larger than the temporary memory
	 * limit allows (tests make it tiny); the backup means this cannot
	 * fail.
	 */
	size = nbytes > SIZE_MAX - 7 ? SIZE_MAX : align_down(nbytes + 7, 8);
	size = min(size, max(iopt_temp_memory_limit(), sizeof(u64)));
	dirty.bits = iopt_temp_alloc(&size, backup, sizeof(backup));
	wbits = align_down(size, sizeof(u64)) * 8;

	for (u64 bit = 0;; bit += wbits) {
		u64 n = min(wbits, nbits - bit);

		rc = iopt_dirty_window(iopt, domain, flags, sink, &dirty, iova,
				       bit, n);
		/* Stops before bit + wbits could wrap. */
		if (rc || n == nbits - bit)
			break;
	}
	if (dirty.bits != backup)
		mem_free(dirty.bits);
	return rc;
}

int iopt_set_dirty_tracking(struct io_pagetable *iopt,
			    struct iommu_domain *domain, bool enable)
{
	struct iopt_area *area;
	int rc = 0;

	if (!domain->dirty_ops)
		return err_reason(-EOPNOTSUPP,
				  "the IO page table cannot track dirty IOVA");
	pthread_rwlock_rdlock(&iopt->iova_rwsem);
	if (enable) {
		for (area = iopt_area_iter_first(iopt, 0, U64_MAX); area;
		     area = iopt_area_iter_next(area, 0, U64_MAX)) {
			if (!area->pages)
				continue;
			rc = iommu_read_and_clear_dirty(domain,
							iopt_area_iova(area),
							iopt_area_length(area),
							0, NULL);
			if (rc)
				goto out_unlock;
		}
	}
	rc = iommu_set_dirty_tracking(domain, enable);
out_unlock:
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	return rc;
}
