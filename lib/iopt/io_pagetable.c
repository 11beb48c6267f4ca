// SPDX-License-Identifier: MIT
/*
 * io_pagetable: IO address spaces. (The table's set-up and tear-down; the
 * map, unmap, copy and domain operations build on iopt_pages.)
 */
#include "iopt/io_pagetable.h"

#include "base/warn.h"

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
