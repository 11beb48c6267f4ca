/* SPDX-License-Identifier: MIT */
/*
 * dma-buf pages: an iopt_pages object over a slice of a dma-buf's memory.
 * They have no PFN source and pin nothing (no accounting, no pin counts,
 * npinned stays 0): the exporter keeps the memory while the attachment
 * lives, and its PFNs are read straight from it. Domains are their only
 * tier: accesses cannot pin or copy them (-EINVAL), as in the kernel.
 *
 * The exporter may revoke the memory. Every (area, domain) pair the pages
 * are mapped into is tracked, so a revocation unmaps all of them at once;
 * from then on the pages map nothing anywhere, for good (a new mapping
 * of the dma-buf gets its memory again). Areas and their IOVA stay.
 *
 * Everything here runs with pages->mutex held, but for allocation and
 * release.
 */
#ifndef UIOMMUFD_IOPT_PFN_DMABUF_H
#define UIOMMUFD_IOPT_PFN_DMABUF_H

#include "iopt/dmabuf.h"
#include "iopt/pages.h"
#include "iopt/pfn_batch.h"

struct iopt_pages_dmabuf_track {
	struct iopt_pages_dmabuf_track *next;
	struct iopt_area *area;
	struct iommu_domain *domain;
};

struct iopt_pages_dmabuf {
	struct iopt_dmabuf_attach attach;
	struct iopt_pages *pages;
	struct iopt_dmabuf *dmabuf;	/* a reference */
	u64 first_pfn;			/* the PFN of the pages' page 0 */
	bool revoked;
	struct iopt_pages_dmabuf_track *tracker;
};

static inline bool iopt_dmabuf_revoked(const struct iopt_pages *pages)
{
	return pages->dmabuf && pages->dmabuf->revoked;
}

/*
 * Pages over bytes [start, start + length) of @dmabuf (length > 0, no
 * wrap), attached to it with a reference of their own. ERR_PTR: -EINVAL
 * (past the end of the buffer), -ENOMEM, or the exporter's map error
 * (-ENODEV when revoked).
 */
struct iopt_pages *iopt_alloc_dmabuf_pages(struct iopt_dmabuf *dmabuf,
					   u64 start, u64 length,
					   bool writable);
/* From the last iopt_put_pages(): detach and drop the dma-buf. */
void iopt_pages_dmabuf_release(struct iopt_pages *pages);

/* Add up to last_index - start_index + 1 PFNs to @batch; how many fitted. */
u64 iopt_dmabuf_batch_fill(struct iopt_pages *pages, struct pfn_batch *batch,
			   u64 start_index, u64 last_index);

/* Record that @area is (about to be) mapped into @domain: 0 or -ENOMEM. */
int iopt_dmabuf_track_domain(struct iopt_pages *pages, struct iopt_area *area,
			     struct iommu_domain *domain);
void iopt_dmabuf_untrack_domain(struct iopt_pages *pages,
				struct iopt_area *area,
				struct iommu_domain *domain);
/* The same for every domain of the area's IOAS; all or nothing. */
int iopt_dmabuf_track_all_domains(struct iopt_area *area,
				  struct iopt_pages *pages);
void iopt_dmabuf_untrack_all_domains(struct iopt_area *area,
				     struct iopt_pages *pages);

#endif
