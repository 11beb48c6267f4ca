// SPDX-License-Identifier: MIT
/*
 * The test module's PASID ops: attach, replace and detach a PASID of a
 * mock device, and check what one is attached to. The rules are the
 * device's (device.c): a PASID shares only PASID-capable HW pagetables,
 * an attached PASID is EBUSY, and the mock driver fails every second
 * attach of IOMMU_TEST_PASID_RESERVED so a replace must unwind.
 */
#include <errno.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "iommufd/iommufd_private.h"
#include "iommufd/selftest.h"

int iommufd_test_pasid_attach(struct iommufd_ucmd *ucmd,
			      struct iommu_test_cmd *cmd)
{
	struct iommufd_device *idev;
	struct iommufd_object *obj;
	int rc;

	idev = iommufd_test_get_stdev(ucmd->ctx, cmd->id, &obj);
	if (IS_ERR(idev))
		return PTR_ERR(idev);
	rc = iommufd_device_attach(idev, cmd->pasid_attach.pasid,
				   &cmd->pasid_attach.pt_id, 0);
	if (!rc) {
		rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
		/* Nobody learnt of it: undone, as the kernel's. */
		if (rc)
			iommufd_device_detach(idev, cmd->pasid_attach.pasid);
	}
	iommufd_put_object(ucmd->ctx, obj);
	return rc;
}

int iommufd_test_pasid_replace(struct iommufd_ucmd *ucmd,
			       struct iommu_test_cmd *cmd)
{
	struct iommufd_device *idev;
	struct iommufd_object *obj;
	int rc;

	idev = iommufd_test_get_stdev(ucmd->ctx, cmd->id, &obj);
	if (IS_ERR(idev))
		return PTR_ERR(idev);
	rc = iommufd_device_replace(idev, cmd->pasid_replace.pasid,
				    &cmd->pasid_replace.pt_id);
	/* The kernel's answer stays moved even if it cannot be written. */
	if (!rc)
		rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	iommufd_put_object(ucmd->ctx, obj);
	return rc;
}

int iommufd_test_pasid_detach(struct iommufd_ucmd *ucmd,
			      struct iommu_test_cmd *cmd)
{
	struct iommufd_device *idev;
	struct iommufd_object *obj;

	idev = iommufd_test_get_stdev(ucmd->ctx, cmd->id, &obj);
	if (IS_ERR(idev))
		return PTR_ERR(idev);
	/* Detaching what is not attached does nothing, as the kernel's. */
	iommufd_device_detach(idev, cmd->pasid_detach.pasid);
	iommufd_put_object(ucmd->ctx, obj);
	return 0;
}

int iommufd_test_pasid_check_hwpt(struct iommufd_ucmd *ucmd,
				  struct iommu_test_cmd *cmd)
{
	u32 pasid = cmd->pasid_check.pasid, hwpt_id = cmd->pasid_check.hwpt_id;
	struct iommufd_hw_pagetable *now;
	struct iommufd_object *obj, *pt_obj;
	struct iommufd_device *idev;
	int rc = 0;

	idev = iommufd_test_get_stdev(ucmd->ctx, cmd->id, &obj);
	if (IS_ERR(idev))
		return PTR_ERR(idev);
	now = iommufd_device_attached(idev, pasid);
	/* hwpt_id 0 asks whether the PASID is detached. */
	if (!hwpt_id) {
		if (now)
			rc = err_reason(-EINVAL,
					"PASID %u is attached to HW pagetable %u",
					pasid, now->obj.id);
		goto out_put;
	}
	pt_obj = iommufd_get_object(ucmd->ctx, hwpt_id, IOMMUFD_OBJ_ANY);
	if (IS_ERR(pt_obj)) {
		rc = PTR_ERR(pt_obj);
		goto out_put;
	}
	if (pt_obj->type != IOMMUFD_OBJ_HWPT_PAGING &&
	    pt_obj->type != IOMMUFD_OBJ_HWPT_NESTED)
		rc = err_reason(-EINVAL, "object %u is not a HW pagetable",
				hwpt_id);
	else if (now != container_of(pt_obj, struct iommufd_hw_pagetable, obj))
		rc = err_reason(-EINVAL,
				"PASID %u is attached to %s, not HW pagetable %u",
				pasid, now ? "another HW pagetable" : "nothing",
				hwpt_id);
	iommufd_put_object(ucmd->ctx, pt_obj);
out_put:
	iommufd_put_object(ucmd->ctx, obj);
	return rc;
}
