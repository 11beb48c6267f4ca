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
