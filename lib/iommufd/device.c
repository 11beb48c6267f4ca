// SPDX-License-Identifier: MIT
/*
 * Devices: bound to a context by their owner, then attached to an IOAS
 * (through a compatible auto HW pagetable, found or made) or directly to
 * a paging HW pagetable. Every device is a mock device for now, and every
 * mock domain suits every mock device.
 */
#include <errno.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/mem.h"
#include "base/warn.h"
#include "iommufd/iommufd_private.h"

struct iommufd_device *iommufd_device_bind(struct uiommufd_ctx *ctx,
					   unsigned int flags)
{
	struct iommufd_device *idev;

	if (flags & IOMMUFD_BIND_NO_ID) {
		/* Only its owner reaches it: no ID, not in the table. */
		idev = mem_zalloc(sizeof(*idev));
		if (!idev)
			return ERR_PTR(-ENOMEM);
		idev->obj.type = IOMMUFD_OBJ_DEVICE;
		atomic_init(&idev->obj.users, 1);
		atomic_init(&idev->obj.shortterm, 0);
		idev->ctx = ctx;
		idev->no_id = true;
		return idev;
	}
	idev = iommufd_object_alloc(ctx, idev, obj, IOMMUFD_OBJ_DEVICE);
	if (IS_ERR(idev))
		return idev;
	idev->ctx = ctx;
	/* The owner's reference: IOMMU_DESTROY of the device is EBUSY. */
	iommufd_object_hold_users(&idev->obj);
	iommufd_object_finalize(ctx, &idev->obj);
	return idev;
}

void iommufd_device_destroy(struct iommufd_object *obj)
{
	struct iommufd_device *idev =
		container_of(obj, struct iommufd_device, obj);

	WARN_ON(idev->hwpt);
}

void iommufd_device_unbind(struct iommufd_device *idev)
{
	if (idev->hwpt)
		iommufd_device_detach(idev);
	if (idev->no_id) {
		iommufd_device_destroy(&idev->obj);
		mem_free(idev);
		return;
	}
	iommufd_object_destroy_owned(idev->ctx, &idev->obj);
}

/* With hwpt->ioas->mutex held. */
static int do_attach(struct iommufd_device *idev,
		     struct iommufd_hwpt_paging *hwpt)
{
	if (idev->hwpt)
		return err_reason(-EINVAL, "device %u is already attached",
				  idev->obj.id);
	if (!hwpt->linked)
		return err_reason(-ENOENT, "HW pagetable %u is going away",
				  hwpt->obj.id);
	hwpt->num_devices++;
	iommufd_object_hold_users(&hwpt->obj);
	iommufd_object_hold_users(&idev->obj);
	idev->hwpt = hwpt;
	return 0;
}

static int attach_ioas(struct iommufd_device *idev, struct iommufd_ioas *ioas,
		       unsigned int flags, u32 *pt_id)
{
	struct iommufd_hwpt_paging *hwpt;
	int rc;

	pthread_mutex_lock(&ioas->mutex);
	if (!(flags & IOMMUFD_ATTACH_NEW_HWPT)) {
		/* Any auto domain will do: mock domains are all alike. */
		for (hwpt = ioas->hwpt_list; hwpt; hwpt = hwpt->next) {
			if (!hwpt->auto_domain)
				continue;
			rc = do_attach(idev, hwpt);
			if (!rc)
				*pt_id = hwpt->obj.id;
			goto out_unlock;
		}
	}
	hwpt = iommufd_hwpt_paging_alloc(idev->ctx, ioas,
					 !(flags & IOMMUFD_ATTACH_NEW_HWPT));
	if (IS_ERR(hwpt)) {
		rc = PTR_ERR(hwpt);
		goto out_unlock;
	}
	rc = do_attach(idev, hwpt);
	if (rc) {
		iommufd_hwpt_paging_unlink(hwpt);
		pthread_mutex_unlock(&ioas->mutex);
		iommufd_object_abort_and_destroy(idev->ctx, &hwpt->obj);
		return rc;
	}
	*pt_id = hwpt->obj.id;
	iommufd_object_finalize(idev->ctx, &hwpt->obj);
out_unlock:
	pthread_mutex_unlock(&ioas->mutex);
	return rc;
}

int iommufd_device_attach(struct iommufd_device *idev, u32 *pt_id,
			  unsigned int flags)
{
	struct iommufd_object *pt_obj;
	struct iommufd_hwpt_paging *hwpt;
	int rc;

	pt_obj = iommufd_get_object(idev->ctx, *pt_id,
				    flags & IOMMUFD_ATTACH_IOAS_ONLY ?
					    IOMMUFD_OBJ_IOAS :
					    IOMMUFD_OBJ_ANY);
	if (IS_ERR(pt_obj))
		return PTR_ERR(pt_obj);
	switch (pt_obj->type) {
	case IOMMUFD_OBJ_IOAS:
		rc = attach_ioas(idev,
				 container_of(pt_obj, struct iommufd_ioas, obj),
				 flags, pt_id);
		break;
	case IOMMUFD_OBJ_HWPT_PAGING:
		hwpt = container_of(pt_obj, struct iommufd_hwpt_paging, obj);
		pthread_mutex_lock(&hwpt->ioas->mutex);
		rc = do_attach(idev, hwpt);
		pthread_mutex_unlock(&hwpt->ioas->mutex);
		break;
	default:
		rc = err_reason(-EINVAL,
				"object %u is neither an IOAS nor a HW pagetable",
				*pt_id);
	}
	iommufd_put_object(idev->ctx, pt_obj);
	return rc;
}

void iommufd_device_detach(struct iommufd_device *idev)
{
	struct iommufd_hwpt_paging *hwpt = idev->hwpt;
	struct iommufd_ioas *ioas = hwpt->ioas;
	bool destroy = false;

	pthread_mutex_lock(&ioas->mutex);
	idev->hwpt = NULL;
	hwpt->num_devices--;
	/*
	 * An auto HW pagetable goes with its last device. Unlink it now,
	 * under the mutex, so no attach can find it on the way out; the
	 * last device's reference is dropped by the destroy itself. Any
	 * other device's is dropped under the mutex, so the last one never
	 * sees a detach still in flight.
	 */
	if (hwpt->auto_domain && !hwpt->num_devices) {
		iommufd_hwpt_paging_unlink(hwpt);
		destroy = true;
	} else {
		iommufd_object_drop_users(&hwpt->obj);
	}
	pthread_mutex_unlock(&ioas->mutex);
	iommufd_object_drop_users(&idev->obj);
	if (destroy)
		iommufd_object_destroy_owned(idev->ctx, &hwpt->obj);
}
