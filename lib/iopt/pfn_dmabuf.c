// SPDX-License-Identifier: MIT
/*
 * dma-buf pages (see pfn_dmabuf.h): attaching to the dma-buf, reading its
 * PFNs, and the revocation that unmaps every tracked (area, domain) pair.
 */
#include "iopt/pfn_dmabuf.h"

#include <errno.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/mem.h"
#include "base/overflow.h"
#include "base/warn.h"

static struct iopt_pages_dmabuf *
to_pages_dmabuf(struct iopt_dmabuf_attach *attach)
{
	return container_of(attach, struct iopt_pages_dmabuf, attach);
}

/*
 * The exporter took the memory away (its lock held): unmap it from every
 * domain that has it, under the pages mutex so no fill or unfill is half
 * way. Nothing maps it again: a fill of revoked pages maps nothing.
 */
static void pages_dmabuf_invalidate(struct iopt_dmabuf_attach *attach)
{
	struct iopt_pages_dmabuf *pd = to_pages_dmabuf(attach);
	struct iopt_pages_dmabuf_track *track;

	pthread_mutex_lock(&pd->pages->mutex);
	if (!pd->revoked) {
		for (track = pd->tracker; track; track = track->next)
			iopt_area_unmap_domain(track->area, track->domain);
		pd->revoked = true;
	}
	pthread_mutex_unlock(&pd->pages->mutex);
}

struct iopt_pages *iopt_alloc_dmabuf_pages(struct iopt_dmabuf *dmabuf,
					   u64 start, u64 length,
					   bool writable)
{
	u64 start_byte = start % PAGE_SIZE, last, pfn;
	struct iopt_pages_dmabuf *pd;
	struct iopt_pages *pages;
	int rc;

	if (WARN_ON(check_range_last(start, length, &last)))
		return ERR_PTR(-EINVAL);
	if (last >= dmabuf->size)
		return ERR_PTR(err_reason(-EINVAL,
					  "bytes [%#llx, %#llx] run past the dma-buf's %#llx",
					  (unsigned long long)start,
					  (unsigned long long)last,
					  (unsigned long long)dmabuf->size));
	pd = mem_zalloc(sizeof(*pd));
	if (!pd)
		return ERR_PTR(-ENOMEM);
	pages = iopt_pages_alloc(NULL, PHYS_PFN(last) - PHYS_PFN(start) + 1,
				 writable);
	if (IS_ERR(pages)) {
		mem_free(pd);
		return pages;
	}
	/* Nothing is pinned, so nothing is charged. */
	pages->account_mode = IOPT_PAGES_ACCOUNT_NONE;
	pages->type = IOPT_ADDRESS_DMABUF;
	pages->source_addr = start - start_byte;

	pthread_mutex_lock(&dmabuf->lock);
	rc = dmabuf->ops->map(dmabuf, &pfn);
	if (rc) {
		pthread_mutex_unlock(&dmabuf->lock);
		iopt_put_pages(pages);
		mem_free(pd);
		return ERR_PTR(rc);
	}
	pd->attach.invalidate = pages_dmabuf_invalidate;
	pd->pages = pages;
	pd->dmabuf = dmabuf;
	pd->first_pfn = pfn + PHYS_PFN(start);
	iopt_dmabuf_attach_locked(dmabuf, &pd->attach);
	pthread_mutex_unlock(&dmabuf->lock);
	iopt_dmabuf_get(dmabuf);
	/* Pin counting may already look at the pages (under the mutex). */
	pthread_mutex_lock(&pages->mutex);
	pages->dmabuf = pd;
	pthread_mutex_unlock(&pages->mutex);
	return pages;
}

void iopt_pages_dmabuf_release(struct iopt_pages *pages)
{
	struct iopt_pages_dmabuf *pd = pages->dmabuf;
	struct iopt_dmabuf *dmabuf = pd->dmabuf;

	/* Every area went, and untracked itself on the way out. */
	WARN_ON(pd->tracker);
	pthread_mutex_lock(&dmabuf->lock);
	iopt_dmabuf_detach_locked(dmabuf, &pd->attach);
	pthread_mutex_unlock(&dmabuf->lock);
	iopt_dmabuf_put(dmabuf);
	pages->dmabuf = NULL;
	mem_free(pd);
}

u64 iopt_dmabuf_batch_fill(struct iopt_pages *pages, struct pfn_batch *batch,
			   u64 start_index, u64 last_index)
{
	/* Only reached for memory still there: fills skip revoked pages. */
	WARN_ON(pages->dmabuf->revoked);
	return batch_add_run(batch, pages->dmabuf->first_pfn + start_index,
			     last_index - start_index + 1);
}

int iopt_dmabuf_track_domain(struct iopt_pages *pages, struct iopt_area *area,
			     struct iommu_domain *domain)
{
	struct iopt_pages_dmabuf *pd = pages->dmabuf;
	struct iopt_pages_dmabuf_track *track;

	for (track = pd->tracker; track; track = track->next)
		if (WARN_ON(track->area == area && track->domain == domain))
			return -EINVAL;
	track = mem_zalloc(sizeof(*track));
	if (!track)
		return -ENOMEM;
	track->area = area;
	track->domain = domain;
	track->next = pd->tracker;
	pd->tracker = track;
	return 0;
}

void iopt_dmabuf_untrack_domain(struct iopt_pages *pages,
				struct iopt_area *area,
				struct iommu_domain *domain)
{
	struct iopt_pages_dmabuf_track **pos, *track;

	for (pos = &pages->dmabuf->tracker; (track = *pos);
	     pos = &track->next) {
		if (track->area == area && track->domain == domain) {
			*pos = track->next;
			mem_free(track);
			return;
		}
	}
	WARN_ON(true);
}

int iopt_dmabuf_track_all_domains(struct iopt_area *area,
				  struct iopt_pages *pages)
{
	struct iommu_domain *domain;
	u64 index;
	int rc;

	index_store_for_each(&area->iopt->domains, index, domain) {
		rc = iopt_dmabuf_track_domain(pages, area, domain);
		if (rc) {
			iopt_dmabuf_untrack_all_domains(area, pages);
			return rc;
		}
	}
	return 0;
}

void iopt_dmabuf_untrack_all_domains(struct iopt_area *area,
				     struct iopt_pages *pages)
{
	struct iopt_pages_dmabuf_track **pos, *track;

	pos = &pages->dmabuf->tracker;
	while ((track = *pos)) {
		if (track->area != area) {
			pos = &track->next;
			continue;
		}
		*pos = track->next;
		mem_free(track);
	}
}
