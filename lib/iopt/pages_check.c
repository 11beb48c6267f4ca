// SPDX-License-Identifier: MIT
/*
 * iopt_pages invariants, checked after every pages operation in debug
 * builds (see pages.h for the tiers they are about).
 */
#include <errno.h>

#include "base/warn.h"
#include "iopt/pages.h"

#ifdef UIOMMUFD_DEBUG
static int count_present(void *arg, u64 index, void *const *slots,
			 unsigned int n)
{
	u64 *count = arg;

	for (unsigned int i = 0; i != n; i++)
		*count += slots[i] != NULL;
	return 0;
}

/* Pinned indices recorded in [first, last]; sparse, never per index. */
static u64 dbg_count_range(struct iopt_pages *pages, u64 first, u64 last)
{
	u64 count = 0;

	index_store_walk_chunks(&pages->dbg_pfns, first, last, count_present,
				&count);
	return count;
}
#endif

/*
 * The tiers agree with the trees and with what was really pinned: every
 * index an access or a filled area covers is pinned once, nothing else is;
 * the index store holds exactly the accessed indices; where a domain holds
 * an accessed index too, both give the same PFN.
 */
void iopt_pages_check(struct iopt_pages *pages)
{
#ifdef UIOMMUFD_DEBUG
	struct interval_tree_double_span_iter span;
	struct interval_tree_span_iter aspan;
	struct interval_tree_node *node;
	u64 held = 0;

	WARN_ON(pages->npinned > pages->npages);
	WARN_ON(pages->last_npinned != pages->npinned);
	if (pages->dmabuf) {
		/* Domains alone hold its PFNs, and pin nothing. */
		WARN_ON(pages->npinned || pages->source);
		WARN_ON(!rb_empty_cached(&pages->access_itree));
		WARN_ON(!index_store_empty(&pages->pinned_pfns));
		return;
	}
	if (!pages->npages)
		return;

	interval_tree_for_each_double_span(&span, &pages->access_itree,
					   &pages->domains_itree, 0,
					   pages->npages - 1) {
		u64 n = span.last - span.start + 1;

		if (span.is_used) {
			WARN_ON(dbg_count_range(pages, span.start, span.last) !=
				n);
			held += n;
		} else {
			WARN_ON(dbg_count_range(pages, span.start, span.last));
		}
	}
	WARN_ON(held != pages->npinned);

	interval_tree_for_each_span(&aspan, &pages->access_itree, 0,
				    pages->npages - 1) {
		u64 index = aspan.start;

		if (aspan.is_hole) {
			WARN_ON(index_store_find(&pages->pinned_pfns, &index,
						 aspan.last));
			continue;
		}
		for (; index <= aspan.last; index++) {
			void *entry = index_store_load(&pages->pinned_pfns,
						       index);
			struct iopt_area *area;
			u64 pfn;

			if (WARN_ON(!index_store_is_value(entry)))
				break;
			WARN_ON(entry != index_store_load(&pages->dbg_pfns,
							  index));
			area = iopt_pages_find_domain_area(pages, index);
			if (!area)
				continue;
			if (WARN_ON(iopt_pages_domain_pfns(pages, index, index,
						      &pfn)))
				break;
			WARN_ON(pfn != index_store_value(entry));
		}
	}
	if (pages->npages != U64_MAX) {
		u64 index = pages->npages;

		WARN_ON(index_store_find(&pages->pinned_pfns, &index,
					 U64_MAX));
	}

	interval_tree_for_each(node, &pages->domains_itree, 0, U64_MAX) {
		struct iopt_area *area =
			container_of(node, struct iopt_area, pages_node);

		/* (area->pages belongs to the IOAS's lock: not read here.) */
		WARN_ON(!area->storage_domain);
		WARN_ON(node->last >= pages->npages);
	}
	interval_tree_for_each(node, &pages->access_itree, 0, U64_MAX) {
		struct iopt_pages_access *access =
			container_of(node, struct iopt_pages_access, node);

		WARN_ON(!access->users || node->last >= pages->npages);
	}
#endif
}
