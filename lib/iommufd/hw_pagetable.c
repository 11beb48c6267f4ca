// SPDX-License-Identifier: MIT
/*
 * Paging HW pagetables: an IO page table (a domain) kept mirroring one
 * IOAS for as long as the HW pagetable exists.
 */
#include <errno.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/warn.h"
#include "domains/mock_domain.h"
#include "iommufd/iommufd_private.h"

struct iommufd_hwpt_paging *
iommufd_hwpt_paging_alloc(struct uiommufd_ctx *ctx, struct iommufd_ioas *ioas,
			  bool auto_domain)
{
	struct iommufd_hwpt_paging *hwpt, *pos;
	int rc;

	hwpt = iommufd_object_alloc(ctx, hwpt, obj, IOMMUFD_OBJ_HWPT_PAGING);
	if (IS_ERR(hwpt))
		return hwpt;
	hwpt->domain = mock_domain_alloc(0);
	if (!hwpt->domain) {
		rc = -ENOMEM;
		goto out_abort;
	}
	/* Fills every existing area into the domain; all or nothing. */
	rc = iopt_table_add_domain(&ioas->iopt, hwpt->domain);
	if (rc)
		goto out_free_domain;

	/* Pitfall 19: a HW pagetable is on its IOAS's list exactly once. */
	for (pos = ioas->hwpt_list; pos; pos = pos->next)
		WARN_ON(pos == hwpt);
	hwpt->next = ioas->hwpt_list;
	ioas->hwpt_list = hwpt;
	hwpt->ioas = ioas;
	hwpt->linked = true;
	hwpt->auto_domain = auto_domain;
	iommufd_object_hold_users(&ioas->obj);
	return hwpt;

out_free_domain:
	hwpt->domain->ops->free(hwpt->domain);
out_abort:
	iommufd_object_abort(ctx, &hwpt->obj);
	return ERR_PTR(rc);
}

void iommufd_hwpt_paging_unlink(struct iommufd_hwpt_paging *hwpt)
{
	struct iommufd_hwpt_paging **pos;

	if (!hwpt->linked)
		return;
	hwpt->linked = false;
	for (pos = &hwpt->ioas->hwpt_list; *pos; pos = &(*pos)->next) {
		if (*pos == hwpt) {
			*pos = hwpt->next;
			hwpt->next = NULL;
			iopt_table_remove_domain(&hwpt->ioas->iopt,
						 hwpt->domain);
			return;
		}
	}
}

void iommufd_hwpt_paging_destroy(struct iommufd_object *obj)
{
	struct iommufd_hwpt_paging *hwpt =
		container_of(obj, struct iommufd_hwpt_paging, obj);
	struct iommufd_ioas *ioas = hwpt->ioas;

	WARN_ON(hwpt->num_devices);
	pthread_mutex_lock(&ioas->mutex);
	/* An auto HW pagetable was unlinked when its last device left. */
	iommufd_hwpt_paging_unlink(hwpt);
	pthread_mutex_unlock(&ioas->mutex);
	hwpt->domain->ops->free(hwpt->domain);
	iommufd_object_drop_users(&ioas->obj);
}
