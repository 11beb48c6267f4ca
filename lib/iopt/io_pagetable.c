// SPDX-License-Identifier: MIT
/*
 * io_pagetable: IO address spaces. (The table's set-up and tear-down; the
 * map, unmap, copy and domain operations build on iopt_pages.)
 */
#include "iopt/io_pagetable.h"

#include <errno.h>

#include "base/warn.h"
#include "iopt/pages.h"

#define for_each_area(iopt, area)                                         \
	for (struct interval_tree_node *_n = interval_tree_iter_first(      \
		     &(iopt)->area_itree, 0, U64_MAX);                      \
	     _n && ((area) = container_of(_n, struct iopt_area, node));     \
	     _n = interval_tree_iter_next(_n, 0, U64_MAX))

void iopt_init_table(struct io_pagetable *iopt)
{
	pthread_rwlock_init(&iopt->domains_rwsem, NULL);
	pthread_rwlock_init(&iopt->iova_rwsem, NULL);
	iopt->area_itree = RB_ROOT_CACHED_INIT;
	index_store_init(&iopt->domains);
	iopt->next_domain_id = 0;
	iopt->disable_large_pages = false;
}

void iopt_destroy_table(struct io_pagetable *iopt)
{
	WARN_ON(!rb_empty_cached(&iopt->area_itree));
	WARN_ON(!index_store_empty(&iopt->domains));
	index_store_destroy(&iopt->domains);
	pthread_rwlock_destroy(&iopt->domains_rwsem);
	pthread_rwlock_destroy(&iopt->iova_rwsem);
}

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
		rc = iopt_area_fill_domain(area, domain);
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
		} else {
			iopt_area_unmap_domain(area, domain);
		}
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
			pthread_mutex_unlock(&pages->mutex);
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
#ifdef UIOMMUFD_DEBUG
		iopt_pages_check(pages);
#endif
		pthread_mutex_unlock(&pages->mutex);
	}
}

int iopt_table_add_domain(struct io_pagetable *iopt,
			  struct iommu_domain *domain)
{
	unsigned int id;
	int rc;

	pthread_rwlock_wrlock(&iopt->domains_rwsem);
	pthread_rwlock_wrlock(&iopt->iova_rwsem);
	id = iopt->next_domain_id;
	/* Claim the slot first so nothing can fail after the fill. */
	rc = index_store_store(&iopt->domains, id, INDEX_STORE_RESERVED);
	if (rc)
		goto out_unlock;
	rc = iopt_fill_domain(iopt, domain);
	if (rc) {
		index_store_erase(&iopt->domains, id);
		goto out_unlock;
	}
	WARN_ON(index_store_store(&iopt->domains, id, domain));
	iopt->next_domain_id++;
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
out_unlock:
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	pthread_rwlock_unlock(&iopt->domains_rwsem);
}
