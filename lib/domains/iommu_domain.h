/* SPDX-License-Identifier: MIT */
/*
 * The IO page table interface. A domain translates IOVA to "physical"
 * addresses (PFN << PAGE_SHIFT plus an offset) at the granularity of the
 * page sizes it supports. The engine keeps every attached domain mirroring
 * its IO address space; the domain itself knows nothing of the engine.
 *
 * Rules every implementation keeps:
 *  - map is all or nothing: on failure nothing new is mapped;
 *  - unmap of a range that was mapped never fails and never allocates;
 *  - a domain may be used from several threads at once.
 */
#ifndef UIOMMUFD_DOMAINS_IOMMU_DOMAIN_H
#define UIOMMUFD_DOMAINS_IOMMU_DOMAIN_H

#include "base/common.h"

/* Protection bits, the kernel's values. */
#define IOMMU_READ (1 << 0)
#define IOMMU_WRITE (1 << 1)

struct iommu_domain;

/* read_and_clear_dirty() flags, the kernel's value. */
#define IOMMU_DIRTY_NO_CLEAR (1 << 0)

/*
 * Where a domain reports dirty IOVA: a window of a bitmap whose bit i
 * stands for the (1 << pgshift) bytes at iova + (i << pgshift). Records
 * are clipped to [iova, last]; what a record reaches past @last is kept in
 * @carry_last, so that an IO page table entry cleared while one window is
 * read still reaches the next window. @bits NULL records nothing (a read
 * that only clears).
 */
struct iommu_dirty_bitmap {
	u64 iova;
	u64 last;
	unsigned int pgshift;
	u64 *bits;
	u64 records;		/* records that fell inside the window */
	bool carry;		/* records reached past @last ... */
	u64 carry_last;		/* ... up to here */
};

/* Set the bits covering [iova, iova + length - 1]; @length > 0, no wrap. */
void iommu_dirty_bitmap_record(struct iommu_dirty_bitmap *dirty, u64 iova,
			       u64 length);
/* Bit i of the result: bit 2i or bit 2i + 1 of @x (the upper half 0). */
static inline u64 iommu_dirty_fold_pairs(u64 x)
{
	x = (x | x >> 1) & 0x5555555555555555ULL;
	x = (x | x >> 1) & 0x3333333333333333ULL;
	x = (x | x >> 2) & 0x0f0f0f0f0f0f0f0fULL;
	x = (x | x >> 4) & 0x00ff00ff00ff00ffULL;
	x = (x | x >> 8) & 0x0000ffff0000ffffULL;
	return (x | x >> 16) & 0x00000000ffffffffULL;
}

/* The general case of iommu_dirty_bitmap_record_word(). */
void iommu_dirty_bitmap_record_word_slow(struct iommu_dirty_bitmap *dirty,
					 u64 iova, u64 word,
					 unsigned int ushift);

/*
 * The bulk form for a domain that keeps a dirty bit per unit of
 * (1 << ushift) bytes: bit j of @word says whether the unit at
 * iova + (j << ushift) is dirty. @iova is aligned to 64 units and the 64
 * units do not wrap. A word inside a window that starts on a bit's
 * boundary, with bits of at least a unit and 64 units at most, goes in a
 * few shifts and masks here; anything else takes the general path.
 */
static inline void iommu_dirty_bitmap_record_word(struct iommu_dirty_bitmap *dirty,
						  u64 iova, u64 word,
						  unsigned int ushift)
{
	unsigned int k = dirty->pgshift - ushift, off;
	u64 bit;

	if (!word)
		return;
	if (dirty->pgshift < ushift || k >= 6 || iova < dirty->iova ||
	    iova > dirty->last || dirty->last - iova < (64ULL << ushift) - 1 ||
	    (dirty->iova & ((1ULL << dirty->pgshift) - 1)) ||
	    !dirty->bits) {
		iommu_dirty_bitmap_record_word_slow(dirty, iova, word, ushift);
		return;
	}
	dirty->records++;
	if (word == ~0ULL)
		word = ~0ULL >> (64 - (64 >> k));
	else
		for (unsigned int i = 0; i != k; i++)
			word = iommu_dirty_fold_pairs(word);
	bit = (iova - dirty->iova) >> dirty->pgshift;
	off = bit % 64;
	dirty->bits[bit / 64] |= word << off;
	if (off && word >> (64 - off))
		dirty->bits[bit / 64 + 1] |= word >> (64 - off);
}

struct iommu_dirty_ops {
	/* Start or stop the hardware setting dirty bits. 0 or errno. */
	int (*set_dirty_tracking)(struct iommu_domain *domain, bool enable);
	/*
	 * Report every dirty IO page table entry that overlaps
	 * [iova, iova + size) to @dirty, each with its whole length, and make
	 * it clean unless @flags has IOMMU_DIRTY_NO_CLEAR. The core has
	 * checked the range and the flags; never allocates.
	 */
	int (*read_and_clear_dirty)(struct iommu_domain *domain, u64 iova,
				    u64 size, unsigned int flags,
				    struct iommu_dirty_bitmap *dirty);
};

struct iova_range {
	u64 start;
	u64 last;
};

struct iommu_domain_ops {
	/*
	 * Map [iova, iova + size) to [paddr, paddr + size). The core has
	 * checked alignment to the smallest page size, the aperture and
	 * overflow. 0 or a negative errno.
	 */
	int (*map)(struct iommu_domain *domain, u64 iova, u64 paddr, u64 size,
		   int prot);
	/* Unmap [iova, iova + size); returns the bytes that were mapped. */
	u64 (*unmap)(struct iommu_domain *domain, u64 iova, u64 size);
	/* The physical address @iova translates to, or 0 if unmapped. */
	u64 (*iova_to_phys)(struct iommu_domain *domain, u64 iova);
	/*
	 * Optional: the physical address of @iova in *paddr, and how many
	 * bytes from @iova on (at most @max) translate to contiguous
	 * physical addresses; 0 if @iova is unmapped. Reading a mapping back
	 * a run at a time instead of a page at a time.
	 */
	u64 (*iova_to_phys_run)(struct iommu_domain *domain, u64 iova,
				u64 max, u64 *paddr);
	void (*free)(struct iommu_domain *domain);
};

struct iommu_domain {
	const struct iommu_domain_ops *ops;
	/* Every IO page size the domain supports, OR'ed together. */
	u64 pgsize_bitmap;
	/* The IOVA the domain can translate: [aperture_start, aperture_last]. */
	u64 aperture_start;
	u64 aperture_last;
	/* IOVA the device behind this domain must never have mapped. */
	const struct iova_range *reserved;
	unsigned int nr_reserved;
	/* NULL when the domain cannot track dirty IOVA. */
	const struct iommu_dirty_ops *dirty_ops;
};

/* The smallest IO page size: the alignment every map and unmap needs. */
static inline u64 iommu_domain_min_pgsize(const struct iommu_domain *domain)
{
	return domain->pgsize_bitmap & -domain->pgsize_bitmap;
}

/*
 * Checked entry points the engine uses. iommu_map() returns -EINVAL (with
 * a reason) for a zero or misaligned size, iova or paddr, a range that
 * wraps, or one outside the aperture; otherwise what the domain returns.
 */
int iommu_map(struct iommu_domain *domain, u64 iova, u64 paddr, u64 size,
	      int prot);
/* Returns bytes unmapped; 0 for invalid arguments. Never fails otherwise. */
u64 iommu_unmap(struct iommu_domain *domain, u64 iova, u64 size);
u64 iommu_iova_to_phys(struct iommu_domain *domain, u64 iova);
/*
 * The contiguous run from @iova (see iova_to_phys_run): the domain's own
 * answer, or built from iova_to_phys a smallest IO page at a time. @max
 * must be non-zero; 0 means @iova is unmapped.
 */
u64 iommu_iova_to_phys_run(struct iommu_domain *domain, u64 iova, u64 max,
			   u64 *paddr);
void iommu_domain_free(struct iommu_domain *domain);

/*
 * Dirty tracking through the checked core: -EOPNOTSUPP (with a reason) for
 * a domain without dirty ops; read_and_clear also -EINVAL for unknown
 * flags, a zero size or a range that wraps. A NULL @dirty only clears.
 */
int iommu_set_dirty_tracking(struct iommu_domain *domain, bool enable);
int iommu_read_and_clear_dirty(struct iommu_domain *domain, u64 iova,
			       u64 size, unsigned int flags,
			       struct iommu_dirty_bitmap *dirty);

#endif
