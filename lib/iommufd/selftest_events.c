// SPDX-License-Identifier: MIT
/*
 * What the test module makes a mock device raise, as its IOMMU would
 * report it: TRIGGER_IOPF, an IO page fault delivered to the fault queue
 * of whatever the device (or the PASID) is attached to; TRIGGER_VEVENT,
 * an event naming the device's virt_id on the vEVENTQ of the vIOMMU its
 * RID is attached through (a nested HW pagetable on that vIOMMU).
 */
#include <errno.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "iommufd/iommufd_private.h"
#include "iommufd/selftest.h"

/*
 * The attachment a fault of @pasid reaches, as the core's fault handler
 * lookup: the PASID's own, else (the mock IOMMU keeps user PASID tables)
 * the RID's when it is nested. Its PASID goes in *handle_pasid. With
 * idev->lock held; NULL when nothing there takes faults.
 */
static struct iommufd_hw_pagetable *
fault_handler(struct iommufd_device *idev, u32 pasid, u32 *handle_pasid)
{
	struct iommufd_hw_pagetable *hwpt = NULL;

	*handle_pasid = IOMMU_NO_PASID;
	if (pasid != IOMMU_NO_PASID) {
		hwpt = index_store_load(&idev->pasids, pasid);
		if (hwpt) {
			*handle_pasid = pasid;
		} else if (idev->hwpt &&
			   idev->hwpt->obj.type == IOMMUFD_OBJ_HWPT_NESTED) {
			hwpt = idev->hwpt;
		}
	} else {
		hwpt = idev->hwpt;
	}
	if (!hwpt || !hwpt->fault)
		return NULL;
	return hwpt;
}

int iommufd_test_trigger_iopf(struct iommufd_ucmd *ucmd,
			      struct iommu_test_cmd *cmd)
{
	struct iommu_hwpt_pgfault rec = {
		.flags = IOMMU_PGFAULT_FLAGS_LAST_PAGE,
		.pasid = cmd->trigger_iopf.pasid,
		.grpid = cmd->trigger_iopf.grpid,
		.perm = cmd->trigger_iopf.perm,
		.addr = cmd->trigger_iopf.addr,
	};
	struct iommufd_hw_pagetable *hwpt;
	struct iommufd_device *idev;
	u32 handle_pasid;
	int rc = 0;

	idev = iommufd_get_device(ucmd->ctx, cmd->trigger_iopf.dev_id);
	if (IS_ERR(idev))
		return PTR_ERR(idev);
	if (rec.pasid != IOMMU_NO_PASID)
		rec.flags |= IOMMU_PGFAULT_FLAGS_PASID_VALID;
	rec.dev_id = idev->obj.id;

	/* Held so the attachment cannot go while its fault is queued. */
	pthread_mutex_lock(&idev->lock);
	hwpt = fault_handler(idev, rec.pasid, &handle_pasid);
	/*
	 * Without a fault queue the IOMMU answers the device itself, and the
	 * kernel's op still succeeds.
	 */
	if (hwpt)
		rc = iommufd_fault_raise(hwpt, idev, handle_pasid, &rec);
	pthread_mutex_unlock(&idev->lock);
	iommufd_put_object(ucmd->ctx, &idev->obj);
	return rc;
}

int iommufd_test_trigger_vevent(struct iommufd_ucmd *ucmd,
				struct iommu_test_cmd *cmd)
{
	struct iommu_viommu_event_selftest event = {};
	struct iommufd_device *idev;
	int rc;

	idev = iommufd_get_device(ucmd->ctx, cmd->trigger_vevent.dev_id);
	if (IS_ERR(idev))
		return PTR_ERR(idev);
	/* Held so the attachment, and the vIOMMU it holds, stay. */
	pthread_mutex_lock(&idev->lock);
	if (!idev->mock.viommu || !idev->mock.vdev_id) {
		rc = err_reason(-ENOENT,
				"device %u is not attached to a nested HW pagetable of a vIOMMU with a nonzero virt_id",
				cmd->trigger_vevent.dev_id);
	} else {
		/* The mock reports the low half of the virtual ID. */
		event.virt_id = (u32)idev->mock.vdev_id;
		rc = iommufd_viommu_report_event(idev->mock.viommu,
						 IOMMU_VEVENTQ_TYPE_SELFTEST,
						 &event, sizeof(event));
	}
	pthread_mutex_unlock(&idev->lock);
	iommufd_put_object(ucmd->ctx, &idev->obj);
	return rc;
}
