/* SPDX-License-Identifier: MIT */
/*
 * Dirty tracking on an io_pagetable: turning a domain's tracking on with a
 * clean start, and reading (and by default clearing) what its IO page
 * table entries say was written, as a bitmap over an IOVA range.
 *
 * The bitmap is the caller's memory, which this layer reaches only
 * through a struct iopt_dirty_sink (the ABI layer copies to and from user
 * memory fault-safely; tests use plain memory). Bit i stands for
 * [iova + i * page_size, + page_size): bit i % 8 of byte i / 8, which is
 * bit i % 64 of u64 word i / 64 on the little-endian machines the ABI
 * runs on. Bits are only ever set, never cleared, and no byte past the
 * last that holds a bit of the range is touched.
 */
#ifndef UIOMMUFD_IOPT_DIRTY_H
#define UIOMMUFD_IOPT_DIRTY_H

#include "iopt/io_pagetable.h"

struct iopt_dirty_sink {
	/*
	 * 0 if bytes [0, len) of the bitmap can be read and written, else
	 * a negative errno with a reason. Leaves their values as they were.
	 * Called once, before anything is cleared.
	 */
	int (*check)(void *arg, u64 len);
	/* Copy bytes [offset, offset + len) of the bitmap in or out. */
	int (*read)(void *arg, u64 offset, void *buf, size_t len);
	int (*write)(void *arg, u64 offset, const void *buf, size_t len);
	void *arg;
};

/*
 * The kernel's checks of a bitmap request, in its order: -EOVERFLOW when
 * iova + length - 1 wraps; -EINVAL for a zero length, an iova or end not
 * aligned to the IOAS's IOVA alignment, a page size of 0, or an iova or
 * end not aligned to the page size (as the kernel tests it: no bit of
 * page_size - 1 set). *last_iova gets the range's last IOVA.
 */
int iopt_check_dirty_range(struct io_pagetable *iopt, u64 iova, u64 length,
			   u64 page_size, u64 *last_iova);

/*
 * Set in the bitmap a bit for every page_size unit of [iova, iova +
 * length) that a dirty IO page table entry of @domain overlaps (an entry
 * reports its whole length, clipped to the range), and make those entries
 * clean unless @flags has IOMMU_DIRTY_NO_CLEAR. Each bit covers
 * 1 << ctz(page_size) bytes, as the kernel's __ffs.
 *
 * Every check comes before anything is cleared, so these failures change
 * nothing: the range checks above; -EOPNOTSUPP for a domain that cannot
 * track; -EINVAL for unknown flags or a range with IOVA no area maps (the
 * kernel silently reads what it can); the sink's check (-EFAULT for a
 * bitmap that cannot be written, which the kernel also swallows). The
 * bitmap is then filled a window at a time (the temporary memory limit's
 * worth), each window read atomically against maps and unmaps; an unmap
 * racing the call leaves its IOVA clean in the later windows. Only a
 * bitmap that stops being writable during the call can fail it after
 * entries were cleared (-EFAULT).
 */
int iopt_read_and_clear_dirty(struct io_pagetable *iopt,
			      struct iommu_domain *domain, u64 iova,
			      u64 length, u64 page_size, unsigned int flags,
			      const struct iopt_dirty_sink *sink);

/*
 * Enable or disable dirty tracking in @domain, attached to @iopt.
 * Enabling, even when it already is, first makes every entry of every
 * area clean, so tracking starts from a clean snapshot (the kernel's
 * order). -EOPNOTSUPP for a domain that cannot track.
 */
int iopt_set_dirty_tracking(struct io_pagetable *iopt,
			    struct iommu_domain *domain, bool enable);

#endif
