/* SPDX-License-Identifier: MIT */
/*
 * Accesses: CPU-side users of an IO address space, such as an emulated
 * device. An access pins pages by IOVA (they then live in the pinned
 * store), reads and writes through IOVA, and is told when IOVA it pinned
 * is being unmapped: its unmap callback must unpin what it pinned there
 * before returning. The unmap waits for that.
 */
#ifndef UIOMMUFD_IOPT_ACCESS_H
#define UIOMMUFD_IOPT_ACCESS_H

#include "iopt/io_pagetable.h"

struct iopt_access_ops {
	/* Pins pages: then IOVA must be PAGE_SIZE aligned in this IOAS. */
	bool needs_pin_pages;
	/*
	 * [iova, iova + length) is being unmapped: unpin every pin of this
	 * access that intersects it, before returning. Called with no engine
	 * lock held, so it may call iopt_access_unpin_pages(). Required for
	 * an access that pins.
	 */
	void (*unmap)(void *data, u64 iova, u64 length);
	/*
	 * Instead of an unmap callback: its pins lock their areas, so an
	 * unmap of them is EBUSY until they are unpinned (the kernel's
	 * internal accesses, as a HW queue's).
	 */
	bool locks_areas;
};

struct iopt_access {
	struct io_pagetable *iopt;
	const struct iopt_access_ops *ops;
	void *data;
	u64 iova_alignment;
	u64 list_id;
	/* Guarded by iopt->access_lock: notifications running, going away. */
	unsigned int notifying;
	bool dying;
	/* What this access has pinned (struct iopt_access_pin). */
	pthread_mutex_t pins_lock;
	struct rb_root_cached pins;
};

/* ERR_PTR: -ENOMEM, -EADDRINUSE (existing maps break its alignment). */
struct iopt_access *iopt_access_create(struct io_pagetable *iopt,
				       const struct iopt_access_ops *ops,
				       void *data);
/* Unpins whatever the access still holds, then frees it. Cannot fail. */
/*
 * No unmap notification of @access starts any more, and those in flight
 * have returned. Pins and unpins still work. Idempotent; destroy does it.
 */
void iopt_access_quiesce(struct iopt_access *access);
void iopt_access_destroy(struct iopt_access *access);

/*
 * Pin [iova, iova + length), which must be mapped, start on a page of the
 * mapped memory and (but at its very end) end on one; with
 * IOMMUFD_ACCESS_RW_WRITE every area must be writable. @out_pfns gets one
 * PFN per page and, when not NULL, @out_ptrs where this process's CPU
 * reaches each page (NULL for memory of another process). -EINVAL
 * (alignment, an unmap in progress, no unmap callback), -ENOENT (not all
 * mapped), -EPERM, -EFAULT, -ENOMEM.
 */
int iopt_access_pin_pages(struct iopt_access *access, u64 iova, u64 length,
			  u64 *out_pfns, void **out_ptrs, unsigned int flags);
/* Undo one pin of exactly [iova, iova + length): -EINVAL if there is none. */
int iopt_access_unpin_pages(struct iopt_access *access, u64 iova, u64 length);

/*
 * Copy between @data and [iova, iova + length), into the IOVA with
 * IOMMUFD_ACCESS_RW_WRITE. -ENOENT (not all mapped), -EPERM (protection),
 * -EINVAL (zero length, wrap, an unmap in progress), -EFAULT, -ENOMEM.
 * A write that fails wrote nothing: over more than one page it pins every
 * page before it copies a byte.
 */
int iopt_access_rw(struct iopt_access *access, u64 iova, void *data,
		   u64 length, unsigned int flags);

/*
 * Tell every access of @iopt that [iova, iova + length) is going away.
 * Called with no iopt lock held.
 */
void iopt_access_notify_unmap(struct io_pagetable *iopt, u64 iova,
			      u64 length);

#endif
