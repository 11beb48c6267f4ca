// SPDX-License-Identifier: MIT
/*
 * The checked entry points of the IO page table interface. Everything a
 * domain may assume about its arguments is established here, so each
 * implementation stays a plain translation store and a bad call from the
 * engine is caught (with a reason) before it can corrupt a page table.
 */
#include "domains/iommu_domain.h"

#include <errno.h>

#include "base/err_reason.h"
#include "base/overflow.h"

#define IOMMU_PROT_MASK (IOMMU_READ | IOMMU_WRITE)

/*
 * The checks map and unmap share: a non-empty range aligned to the smallest
 * page size that does not wrap and lies inside the aperture. 0 or -EINVAL
 * with a reason.
 */
static int iommu_check_iova(struct iommu_domain *domain, u64 iova, u64 size)
{
	u64 pgsize = iommu_domain_min_pgsize(domain);
	u64 last;

	if (!pgsize)
		return err_reason(-EINVAL, "domain offers no IO page size");
	if (!size)
		return err_reason(-EINVAL, "zero length at iova %#llx",
				  (unsigned long long)iova);
	if (!is_aligned(iova, pgsize))
		return err_reason(-EINVAL,
				  "iova %#llx is not aligned to the IO page size %#llx",
				  (unsigned long long)iova,
				  (unsigned long long)pgsize);
	if (!is_aligned(size, pgsize))
		return err_reason(-EINVAL,
				  "length %#llx is not a multiple of the IO page size %#llx",
				  (unsigned long long)size,
				  (unsigned long long)pgsize);
	if (check_range_last(iova, size, &last))
		return err_reason(-EINVAL,
				  "iova %#llx + length %#llx wraps past the top",
				  (unsigned long long)iova,
				  (unsigned long long)size);
	if (iova < domain->aperture_start || last > domain->aperture_last)
		return err_reason(-EINVAL,
				  "iova [%#llx, %#llx] is outside the aperture [%#llx, %#llx]",
				  (unsigned long long)iova,
				  (unsigned long long)last,
				  (unsigned long long)domain->aperture_start,
				  (unsigned long long)domain->aperture_last);
	return 0;
}

/* The physical side of a map: aligned, and wrapping would alias low pages. */
static int iommu_check_paddr(struct iommu_domain *domain, u64 paddr, u64 size)
{
	u64 pgsize = iommu_domain_min_pgsize(domain);
	u64 last;

	if (!is_aligned(paddr, pgsize))
		return err_reason(-EINVAL,
				  "paddr %#llx is not aligned to the IO page size %#llx",
				  (unsigned long long)paddr,
				  (unsigned long long)pgsize);
	if (check_range_last(paddr, size, &last))
		return err_reason(-EINVAL,
				  "paddr %#llx + length %#llx wraps past the top",
				  (unsigned long long)paddr,
				  (unsigned long long)size);
	return 0;
}

/*
 * Protection 0 (neither read nor write) is a valid request, as for the
 * kernel's IOMMU core: Linux 6.2's IOAS_COPY could make such areas.
 */
static int iommu_check_prot(int prot)
{
	if (prot & ~IOMMU_PROT_MASK)
		return err_reason(-EINVAL, "unknown protection bits %#x",
				  (unsigned int)(prot & ~IOMMU_PROT_MASK));
	return 0;
}

int iommu_map(struct iommu_domain *domain, u64 iova, u64 paddr, u64 size,
	      int prot)
{
	int rc;

	rc = iommu_check_iova(domain, iova, size);
	if (rc)
		return rc;
	rc = iommu_check_paddr(domain, paddr, size);
	if (rc)
		return rc;
	rc = iommu_check_prot(prot);
	if (rc)
		return rc;
	return domain->ops->map(domain, iova, paddr, size, prot);
}

u64 iommu_unmap(struct iommu_domain *domain, u64 iova, u64 size)
{
	/* Only the reason is recorded: unmap has no error to return. */
	if (iommu_check_iova(domain, iova, size))
		return 0;
	return domain->ops->unmap(domain, iova, size);
}

u64 iommu_iova_to_phys(struct iommu_domain *domain, u64 iova)
{
	return domain->ops->iova_to_phys(domain, iova);
}

u64 iommu_iova_to_phys_run(struct iommu_domain *domain, u64 iova, u64 max,
			   u64 *paddr)
{
	u64 pgsize = iommu_domain_min_pgsize(domain), len, step;

	if (domain->ops->iova_to_phys_run)
		return domain->ops->iova_to_phys_run(domain, iova, max, paddr);
	*paddr = domain->ops->iova_to_phys(domain, iova);
	if (!*paddr)
		return 0;
	/* To the end of @iova's IO page, then whole IO pages. */
	len = min(pgsize - iova % pgsize, max);
	while (len < max) {
		step = min(pgsize, max - len);
		if (domain->ops->iova_to_phys(domain, iova + len) !=
		    *paddr + len)
			break;
		len += step;
	}
	return len;
}

void iommu_domain_free(struct iommu_domain *domain)
{
	if (domain)
		domain->ops->free(domain);
}

/* ---- dirty tracking ---- */

/* Set bits [first, last] of @bits a word at a time. */
static void bits_set_range(u64 *bits, u64 first, u64 last)
{
	u64 word = first / 64, last_word = last / 64;
	u64 head = ~0ULL << (first % 64);
	u64 tail = ~0ULL >> (63 - last % 64);

	if (word == last_word) {
		bits[word] |= head & tail;
		return;
	}
	bits[word++] |= head;
	for (; word != last_word; word++)
		bits[word] = ~0ULL;
	bits[last_word] |= tail;
}

static void carry_to(struct iommu_dirty_bitmap *dirty, u64 last)
{
	if (!dirty->carry || last > dirty->carry_last)
		dirty->carry_last = last;
	dirty->carry = true;
}

/*
 * Domains report only IOVA of entries that overlap the range they were
 * asked about, which lies inside the window, so whatever lies past @last
 * is of the one entry that straddles it: the carry is one range from
 * last + 1 on.
 */
void iommu_dirty_bitmap_record(struct iommu_dirty_bitmap *dirty, u64 iova,
			       u64 length)
{
	u64 last = iova + (length - 1);

	if (last > dirty->last) {
		carry_to(dirty, last);
		if (iova > dirty->last)
			return;
		last = dirty->last;
	}
	if (iova < dirty->iova) {
		if (last < dirty->iova)
			return;
		iova = dirty->iova;
	}
	dirty->records++;
	if (!dirty->bits)
		return;
	bits_set_range(dirty->bits, (iova - dirty->iova) >> dirty->pgshift,
		       (last - dirty->iova) >> dirty->pgshift);
}

/* Each run of set bits of @word as a record of its own. */
static void record_runs(struct iommu_dirty_bitmap *dirty, u64 iova, u64 word,
			unsigned int ushift)
{
	while (word) {
		unsigned int start = __builtin_ctzll(word);
		u64 rest = ~(word >> start);
		unsigned int n = rest ? (unsigned int)__builtin_ctzll(rest) :
					64 - start;

		iommu_dirty_bitmap_record(dirty, iova + ((u64)start << ushift),
					  (u64)n << ushift);
		word &= start + n == 64 ? 0 : ~0ULL << (start + n);
	}
}

/*
 * When the window starts on a bit's boundary (the engine's always do) and
 * ends on a unit's, with pgshift >= ushift no unit straddles a bit or the
 * window's end, and a unit's bit is (unit's offset in the window) >>
 * pgshift: units fold onto bits 2^k at a time (k = pgshift - ushift),
 * aligned, since the word's start and the window's are both multiples of
 * the smaller of 64 units and a bit. Anything else goes run by run.
 */
void iommu_dirty_bitmap_record_word_slow(struct iommu_dirty_bitmap *dirty,
					 u64 iova, u64 word,
					 unsigned int ushift)
{
	unsigned int k, off;
	u64 inside, before, bit;

	if (!word)
		return;
	if (dirty->pgshift < ushift ||
	    (dirty->iova & ((1ULL << dirty->pgshift) - 1)) ||
	    ((dirty->last + 1) & ((1ULL << ushift) - 1))) {
		record_runs(dirty, iova, word, ushift);
		return;
	}
	/* Units past the window: the carry, as record() keeps it. */
	if (dirty->last - iova < (64ULL << ushift) - 1 ||
	    iova > dirty->last) {
		inside = iova > dirty->last ? 0 :
			 (dirty->last - iova + 1) >> ushift;
		if (word >> inside) {
			unsigned int top = 63 - __builtin_clzll(word);

			carry_to(dirty,
				 iova + ((u64)(top + 1) << ushift) - 1);
		}
		word &= ~(~0ULL << inside);
	}
	/* Units before it are dropped. */
	if (iova < dirty->iova) {
		before = (dirty->iova - iova) >> ushift;
		if (before >= 64)
			return;
		word >>= before;
		iova = dirty->iova;
	}
	if (!word)
		return;
	dirty->records++;
	if (!dirty->bits)
		return;
	k = dirty->pgshift - ushift;
	bit = (iova - dirty->iova) >> dirty->pgshift;
	if (k >= 6) {
		dirty->bits[bit / 64] |= 1ULL << (bit % 64);
		return;
	}
	/* All dirty (inside a huge entry, say) folds to all ones. */
	if (word == ~0ULL)
		word = ~0ULL >> (64 - (64 >> k));
	else
		for (unsigned int i = 0; i != k; i++)
			word = iommu_dirty_fold_pairs(word);
	off = bit % 64;
	dirty->bits[bit / 64] |= word << off;
	/* The folded word holds 64 >> k bits; some may reach the next word. */
	if (off && word >> (64 - off))
		dirty->bits[bit / 64 + 1] |= word >> (64 - off);
}

static int iommu_check_dirty_ops(struct iommu_domain *domain)
{
	if (!domain->dirty_ops)
		return err_reason(-EOPNOTSUPP,
				  "the IO page table cannot track dirty IOVA");
	return 0;
}

int iommu_set_dirty_tracking(struct iommu_domain *domain, bool enable)
{
	int rc = iommu_check_dirty_ops(domain);

	if (rc)
		return rc;
	return domain->dirty_ops->set_dirty_tracking(domain, enable);
}

int iommu_read_and_clear_dirty(struct iommu_domain *domain, u64 iova,
			       u64 size, unsigned int flags,
			       struct iommu_dirty_bitmap *dirty)
{
	struct iommu_dirty_bitmap none = { .last = U64_MAX };
	int rc = iommu_check_dirty_ops(domain);
	u64 last;

	if (rc)
		return rc;
	if (flags & ~IOMMU_DIRTY_NO_CLEAR)
		return err_reason(-EINVAL, "unknown dirty read flags %#x",
				  flags & ~IOMMU_DIRTY_NO_CLEAR);
	if (check_range_last(iova, size, &last))
		return err_reason(-EINVAL,
				  "dirty read of iova %#llx length %#llx: empty or wraps",
				  (unsigned long long)iova,
				  (unsigned long long)size);
	return domain->dirty_ops->read_and_clear_dirty(domain, iova, size,
						       flags,
						       dirty ? dirty : &none);
}
