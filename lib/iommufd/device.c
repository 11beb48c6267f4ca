// SPDX-License-Identifier: MIT
/*
 * Devices: bound to a context by their owner, then attached to an IOAS
 * (through a compatible auto HW pagetable, found or made) or directly to
 * a HW pagetable, paging or nested, and moved between them by replace.
 * Every device is a mock device, alone in its group, and a HW pagetable
 * suits it unless the mock driver's attach would refuse (a device that
 * cannot track dirty IOVA on a dirty tracking domain).
 *
 * Lock order: idev->lock, then an IOAS's mutex. A device holds a users
 * reference on its HW pagetable and is counted in its num_devices; an
 * auto HW pagetable goes when the count drops to 0.
 */
#include <errno.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/mem.h"
#include "base/warn.h"
#include "iommufd/iommufd_private.h"
#include "iommufd/user_copy.h"

static int device_init(struct iommufd_device *idev, struct uiommufd_ctx *ctx,
		       u32 dev_flags)
{
	int rc = -pthread_mutex_init(&idev->lock, NULL);

	if (rc)
		return err_reason(rc, "cannot create the device's lock");
	idev->ctx = ctx;
	index_store_init(&idev->pasids);
	idev->mock.flags = dev_flags;
	for (unsigned int i = 0; i != MOCK_DEV_CACHE_NUM; i++)
		atomic_init(&idev->mock.cache[i], IOMMU_TEST_DEV_CACHE_DEFAULT);
	return 0;
}

struct iommufd_device *iommufd_device_bind(struct uiommufd_ctx *ctx,
					   unsigned int flags, u32 dev_flags)
{
	struct iommufd_device *idev;
	int rc;

	if (flags & IOMMUFD_BIND_NO_ID) {
		/* Only its owner reaches it: no ID, not in the table. */
		idev = mem_zalloc(sizeof(*idev));
		if (!idev)
			return ERR_PTR(-ENOMEM);
		rc = device_init(idev, ctx, dev_flags);
		if (rc) {
			mem_free(idev);
			return ERR_PTR(rc);
		}
		idev->obj.type = IOMMUFD_OBJ_DEVICE;
		atomic_init(&idev->obj.users, 1);
		atomic_init(&idev->obj.shortterm, 0);
		idev->no_id = true;
		return idev;
	}
	idev = iommufd_object_alloc(ctx, idev, obj, IOMMUFD_OBJ_DEVICE);
	if (IS_ERR(idev))
		return idev;
	rc = device_init(idev, ctx, dev_flags);
	if (rc) {
		iommufd_object_abort(ctx, &idev->obj);
		return ERR_PTR(rc);
	}
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
	WARN_ON(!index_store_empty(&idev->pasids));
	index_store_destroy(&idev->pasids);
	pthread_mutex_destroy(&idev->lock);
}

void iommufd_device_unbind(struct iommufd_device *idev)
{
	/* Its vdevice goes first, leaving a tombstone, as the kernel's. */
	iommufd_device_remove_vdev(idev);
	iommufd_device_detach_all(idev);
	if (idev->no_id) {
		iommufd_device_destroy(&idev->obj);
		mem_free(idev);
		return;
	}
	iommufd_object_destroy_owned(idev->ctx, &idev->obj);
}

/* The HW pagetable @pasid (0: the RID) is attached to; idev->lock held. */
static struct iommufd_hw_pagetable *attached(struct iommufd_device *idev,
					     u32 pasid)
{
	if (pasid == IOMMU_NO_PASID)
		return idev->hwpt;
	return index_store_load(&idev->pasids, pasid);
}

/*
 * What the core and the mock driver check before attaching @pasid of
 * @idev to @hwpt (in the kernel's order, after the attachment state):
 * EINVAL, as incompatible, which the auto search takes as "try the next".
 */
static int check_compatible(struct iommufd_device *idev,
			    struct iommufd_hw_pagetable *hwpt, u32 pasid)
{
	struct iommufd_hwpt_paging *paging = to_hwpt_paging(hwpt);
	u64 first_pasid = 1;

	/* A RID and its PASIDs agree on sharing: both PASID capable. */
	if (pasid == IOMMU_NO_PASID) {
		if (!hwpt->pasid_compat &&
		    index_store_find(&idev->pasids, &first_pasid, U32_MAX))
			return err_reason(-EINVAL,
					  "device %u has PASIDs attached: HW pagetable %u was not allocated with IOMMU_HWPT_ALLOC_PASID",
					  idev->obj.id, hwpt->obj.id);
	} else {
		if (!hwpt->pasid_compat)
			return err_reason(-EINVAL,
					  "HW pagetable %u was not allocated with IOMMU_HWPT_ALLOC_PASID",
					  hwpt->obj.id);
		if (idev->hwpt && !idev->hwpt->pasid_compat)
			return err_reason(-EINVAL,
					  "device %u's RID is on HW pagetable %u, which does not allow PASIDs",
					  idev->obj.id, idev->hwpt->obj.id);
		if (pasid >= iommufd_device_max_pasids(idev))
			return err_reason(-EINVAL,
					  "PASID %u is past device %u's %u PASIDs",
					  pasid, idev->obj.id,
					  iommufd_device_max_pasids(idev));
	}
	/* The mock driver's own refusals. */
	if (pasid == IOMMU_NO_PASID && paging && paging->dirty_tracking &&
	    !iommufd_device_dirty_capable(idev))
		return err_reason(-EINVAL,
				  "device %u cannot track dirty IOVA, which HW pagetable %u does",
				  idev->obj.id, hwpt->obj.id);
	/* A vIOMMU's nested domain is for its vdevices only. */
	if (pasid == IOMMU_NO_PASID && !paging &&
	    to_hwpt_nested(hwpt)->viommu &&
	    (!idev->vdev || idev->vdev->viommu != to_hwpt_nested(hwpt)->viommu))
		return err_reason(-ENOENT,
				  "device %u has no vdevice on vIOMMU %u, which HW pagetable %u is on",
				  idev->obj.id,
				  to_hwpt_nested(hwpt)->viommu->obj.id,
				  hwpt->obj.id);
	return 0;
}

/*
 * The mock driver fails every second attach of the reserved PASID to a
 * domain (a detach resets it), so that a replace must unwind: true when
 * this one fails. It disarms then, as the kernel's mock does.
 */
static bool reserved_pasid_fails(struct iommufd_device *idev, u32 pasid)
{
	if (pasid != IOMMU_TEST_PASID_RESERVED || !idev->mock.reserved_armed)
		return false;
	idev->mock.reserved_armed = false;
	return true;
}

/* The attachment's state, checked first as the kernel's attach array. */
static int check_attach_state(struct iommufd_device *idev, u32 pasid,
			      struct iommufd_hw_pagetable *old, bool replace)
{
	if (!replace && old)
		return err_reason(-EBUSY,
				  "device %u (PASID %u) is already attached",
				  idev->obj.id, pasid);
	if (replace && !old)
		return err_reason(-EINVAL,
				  "device %u (PASID %u) is not attached",
				  idev->obj.id, pasid);
	return 0;
}

/*
 * What an attach to a new auto HW pagetable (not PASID capable, no dirty
 * tracking) would refuse: the kernel attaches such a one before filling
 * its domain, so these come before anything the fill can fail with.
 */
static int check_new_auto(struct iommufd_device *idev, u32 pasid,
			  struct iommufd_hw_pagetable *old)
{
	u64 first_pasid = 1;
	int rc = check_attach_state(idev, pasid, old, false);

	if (rc)
		return rc;
	if (pasid != IOMMU_NO_PASID)
		return err_reason(-EINVAL,
				  "PASID %u: an automatic HW pagetable does not allow PASIDs",
				  pasid);
	if (index_store_find(&idev->pasids, &first_pasid, U32_MAX))
		return err_reason(-EINVAL,
				  "device %u has PASIDs attached: an automatic HW pagetable does not allow them",
				  idev->obj.id);
	return 0;
}

/*
 * Count @pasid of @idev in @hwpt and take its users reference, after every
 * check: 1 when @hwpt is @old (nothing to do), 0, or an errno. A paging
 * HW pagetable must be linked: called with its IOAS's mutex held.
 */
static int hwpt_add_device(struct iommufd_device *idev, u32 pasid,
			   struct iommufd_hw_pagetable *hwpt,
			   struct iommufd_hw_pagetable *old, bool replace)
{
	struct iommufd_hwpt_paging *paging = to_hwpt_paging(hwpt);
	int rc;

	rc = check_attach_state(idev, pasid, old, replace);
	if (rc)
		return rc;
	if (hwpt == old)
		return 1;
	if (paging && !paging->linked)
		return err_reason(-ENOENT, "HW pagetable %u is going away",
				  hwpt->obj.id);
	rc = check_compatible(idev, hwpt, pasid);
	if (rc)
		return rc;
	if (reserved_pasid_fails(idev, pasid))
		return err_reason(-ENOMEM,
				  "the mock driver fails this attach of PASID %u (every second one)",
				  pasid);
	atomic_fetch_add(&hwpt->num_devices, 1);
	iommufd_object_hold_users(&hwpt->obj);
	return 0;
}

/*
 * Undo hwpt_add_device(): an auto HW pagetable goes with its last device.
 * Called with no lock held.
 */
static void hwpt_remove_device(struct uiommufd_ctx *ctx,
			       struct iommufd_hw_pagetable *hwpt)
{
	struct iommufd_hwpt_paging *paging = to_hwpt_paging(hwpt);
	bool destroy = false;

	if (!paging) {
		atomic_fetch_sub(&hwpt->num_devices, 1);
		iommufd_object_drop_users(&hwpt->obj);
		return;
	}
	pthread_mutex_lock(&paging->ioas->mutex);
	/*
	 * Unlink the last device's auto HW pagetable under the mutex, so no
	 * attach finds it on the way out; that device's reference is
	 * dropped by the destroy itself. Any other device's is dropped under
	 * the mutex, so the last one never sees a removal still in flight.
	 */
	if (atomic_fetch_sub(&hwpt->num_devices, 1) == 1 &&
	    paging->auto_domain) {
		iommufd_hwpt_paging_unlink(paging);
		destroy = true;
	} else {
		iommufd_object_drop_users(&hwpt->obj);
	}
	pthread_mutex_unlock(&paging->ioas->mutex);
	if (destroy)
		iommufd_object_destroy_owned(ctx, &hwpt->obj);
}

/*
 * Add @pasid of @idev to an auto HW pagetable of @ioas: the first
 * compatible one, or a new one (of its own under IOMMUFD_ATTACH_NEW_HWPT).
 * It goes in *out and its ID in *pt_id; 1 when it is @old.
 */
static int add_to_ioas(struct iommufd_device *idev, u32 pasid,
		       struct iommufd_ioas *ioas, unsigned int flags,
		       struct iommufd_hw_pagetable *old, bool replace,
		       u32 *pt_id, struct iommufd_hw_pagetable **out)
{
	struct iommufd_hwpt_paging *hwpt;
	int rc;

	pthread_mutex_lock(&ioas->mutex);
	if (!(flags & IOMMUFD_ATTACH_NEW_HWPT)) {
		for (hwpt = ioas->hwpt_list; hwpt; hwpt = hwpt->next) {
			if (!hwpt->auto_domain)
				continue;
			rc = hwpt_add_device(idev, pasid, &hwpt->common, old,
					     replace);
			/* EINVAL: incompatible, try the next. */
			if (rc == -EINVAL)
				continue;
			if (rc >= 0) {
				*pt_id = hwpt->common.obj.id;
				*out = &hwpt->common;
			}
			goto out_unlock;
		}
	}
	/* A replace fills the new domain first, as the kernel's. */
	if (!replace) {
		rc = check_new_auto(idev, pasid, old);
		if (rc)
			goto out_unlock;
	}
	hwpt = iommufd_hwpt_paging_alloc(idev->ctx, ioas, idev, 0, NULL);
	if (IS_ERR(hwpt)) {
		rc = PTR_ERR(hwpt);
		goto out_unlock;
	}
	hwpt->auto_domain = !(flags & IOMMUFD_ATTACH_NEW_HWPT);
	rc = hwpt_add_device(idev, pasid, &hwpt->common, old, replace);
	if (rc) {
		iommufd_hwpt_paging_unlink(hwpt);
		pthread_mutex_unlock(&ioas->mutex);
		iommufd_object_abort_and_destroy(idev->ctx, &hwpt->common.obj);
		return rc;
	}
	*pt_id = hwpt->common.obj.id;
	*out = &hwpt->common;
	iommufd_object_finalize(idev->ctx, &hwpt->common.obj);
out_unlock:
	pthread_mutex_unlock(&ioas->mutex);
	return rc;
}

/*
 * The mock driver's attach of the RID: on a nested HW pagetable of a
 * vIOMMU it notes the vIOMMU and the device's virt_id there (check_
 * compatible() made sure the vdevice exists), which TRIGGER_VEVENT
 * reports; anything else forgets them. As the kernel's mock, a move
 * within the same vIOMMU keeps the virt_id noted first.
 */
static void mock_attach_note_viommu(struct iommufd_device *idev,
				    struct iommufd_hw_pagetable *hwpt)
{
	struct iommufd_viommu *viommu = NULL;
	u64 vdev_id = 0;

	if (hwpt && hwpt->obj.type == IOMMUFD_OBJ_HWPT_NESTED) {
		viommu = to_hwpt_nested(hwpt)->viommu;
		if (viommu && !WARN_ON(!idev->vdev))
			vdev_id = idev->vdev->virt_id;
	}
	if (viommu != idev->mock.viommu) {
		idev->mock.viommu = viommu;
		idev->mock.vdev_id = vdev_id;
	}
}

/* Point @pasid at @hwpt (NULL: detached). Cannot fail for a RID. */
static int set_attached(struct iommufd_device *idev, u32 pasid,
			struct iommufd_hw_pagetable *hwpt)
{
	if (pasid == IOMMU_NO_PASID) {
		idev->hwpt = hwpt;
		mock_attach_note_viommu(idev, hwpt);
		return 0;
	}
	if (!hwpt) {
		index_store_erase(&idev->pasids, pasid);
		return 0;
	}
	return index_store_store(&idev->pasids, pasid, hwpt);
}

/*
 * Attach (@replace false) or move (@replace true) @pasid of @idev to
 * *pt_id. The new HW pagetable is fully set up and counted before the
 * device points at it, and the old one loses the device only after: no
 * moment detached. On failure nothing changed.
 */
static int change_pt(struct iommufd_device *idev, u32 pasid, u32 *pt_id,
		     unsigned int flags, bool replace)
{
	struct iommufd_hw_pagetable *old, *hwpt = NULL;
	struct iommufd_hwpt_paging *paging;
	struct iommufd_object *pt_obj;
	bool armed;
	int rc;

	pt_obj = iommufd_get_object(idev->ctx, *pt_id,
				    flags & IOMMUFD_ATTACH_IOAS_ONLY ?
					    IOMMUFD_OBJ_IOAS :
					    IOMMUFD_OBJ_ANY);
	if (IS_ERR(pt_obj))
		return PTR_ERR(pt_obj);
	pthread_mutex_lock(&idev->lock);
	old = attached(idev, pasid);
	armed = idev->mock.reserved_armed;
	switch (pt_obj->type) {
	case IOMMUFD_OBJ_IOAS:
		rc = add_to_ioas(idev, pasid,
				 container_of(pt_obj, struct iommufd_ioas, obj),
				 flags, old, replace, pt_id, &hwpt);
		break;
	case IOMMUFD_OBJ_HWPT_PAGING:
		paging = container_of(pt_obj, struct iommufd_hwpt_paging,
				      common.obj);
		pthread_mutex_lock(&paging->ioas->mutex);
		rc = hwpt_add_device(idev, pasid, &paging->common, old,
				     replace);
		pthread_mutex_unlock(&paging->ioas->mutex);
		hwpt = &paging->common;
		break;
	case IOMMUFD_OBJ_HWPT_NESTED:
		hwpt = container_of(pt_obj, struct iommufd_hw_pagetable, obj);
		rc = hwpt_add_device(idev, pasid, hwpt, old, replace);
		break;
	default:
		rc = err_reason(-EINVAL,
				"object %u is neither an IOAS nor a HW pagetable",
				*pt_id);
	}
	iommufd_put_object(idev->ctx, pt_obj);
	if (rc)
		goto out_unlock;
	rc = set_attached(idev, pasid, hwpt);
	if (rc) {
		/* Only a new PASID's entry can fail; the driver's state too. */
		idev->mock.reserved_armed = armed;
		pthread_mutex_unlock(&idev->lock);
		hwpt_remove_device(idev->ctx, hwpt);
		return rc;
	}
	/* The mock driver remembers an attach of the reserved PASID. */
	if (pasid == IOMMU_TEST_PASID_RESERVED)
		idev->mock.reserved_armed = true;
	/* The old attachment's faults die with it, before new ones come. */
	iommufd_fault_auto_response(old, idev, pasid);
	pthread_mutex_unlock(&idev->lock);
	/* The device was counted in both; the old one may go now. */
	if (old) {
		hwpt_remove_device(idev->ctx, old);
	} else {
		/* Pairs with detach: a device attached cannot be destroyed. */
		iommufd_object_hold_users(&idev->obj);
	}
	return 0;

out_unlock:
	pthread_mutex_unlock(&idev->lock);
	/* 1: already there, nothing to do. */
	return rc > 0 ? 0 : rc;
}

int iommufd_device_attach(struct iommufd_device *idev, u32 pasid, u32 *pt_id,
			  unsigned int flags)
{
	return change_pt(idev, pasid, pt_id, flags, false);
}

int iommufd_device_replace(struct iommufd_device *idev, u32 pasid,
			   u32 *pt_id)
{
	return change_pt(idev, pasid, pt_id, 0, true);
}

void iommufd_device_detach(struct iommufd_device *idev, u32 pasid)
{
	struct iommufd_hw_pagetable *hwpt;

	pthread_mutex_lock(&idev->lock);
	hwpt = attached(idev, pasid);
	WARN_ON(set_attached(idev, pasid, NULL));
	/* Detaching the reserved PASID blocks it, which resets the mock. */
	if (hwpt && pasid == IOMMU_TEST_PASID_RESERVED)
		idev->mock.reserved_armed = false;
	iommufd_fault_auto_response(hwpt, idev, pasid);
	pthread_mutex_unlock(&idev->lock);
	if (!hwpt)
		return;
	hwpt_remove_device(idev->ctx, hwpt);
	iommufd_object_drop_users(&idev->obj);
}

struct iommufd_hw_pagetable *
iommufd_device_attached(struct iommufd_device *idev, u32 pasid)
{
	struct iommufd_hw_pagetable *hwpt;

	pthread_mutex_lock(&idev->lock);
	hwpt = attached(idev, pasid);
	pthread_mutex_unlock(&idev->lock);
	return hwpt;
}

void iommufd_device_detach_all(struct iommufd_device *idev)
{
	void *entry;
	u64 pasid;

	for (;;) {
		pasid = 1;
		pthread_mutex_lock(&idev->lock);
		entry = index_store_find(&idev->pasids, &pasid, U32_MAX);
		pthread_mutex_unlock(&idev->lock);
		if (!entry)
			break;
		iommufd_device_detach(idev, pasid);
	}
	iommufd_device_detach(idev, IOMMU_NO_PASID);
}

/* ---- IOMMU_GET_HW_INFO ---- */

int iommufd_get_hw_info(struct iommufd_ucmd *ucmd)
{
	struct iommu_hw_info *cmd = ucmd->cmd;
	struct iommu_test_hw_info info = {
		.test_reg = IOMMU_HW_INFO_SELFTEST_REGVAL,
	};
	struct iommufd_device *idev;
	u32 copy_len;
	int rc;

	if (cmd->flags & ~IOMMU_HW_INFO_FLAG_INPUT_TYPE)
		return err_reason(-EOPNOTSUPP, "unknown flags %#x",
				  cmd->flags & ~IOMMU_HW_INFO_FLAG_INPUT_TYPE);
	if (cmd->__reserved[0] || cmd->__reserved[1] || cmd->__reserved[2])
		return err_reason(-EOPNOTSUPP, "__reserved must be 0");
	/* Without INPUT_TYPE the field is an output only. */
	if (!(cmd->flags & IOMMU_HW_INFO_FLAG_INPUT_TYPE))
		cmd->in_data_type = IOMMU_HW_INFO_TYPE_DEFAULT;

	idev = iommufd_get_device(ucmd->ctx, cmd->dev_id);
	if (IS_ERR(idev))
		return PTR_ERR(idev);
	if (cmd->in_data_type != IOMMU_HW_INFO_TYPE_DEFAULT &&
	    cmd->in_data_type != IOMMU_HW_INFO_TYPE_SELFTEST) {
		rc = err_reason(-EOPNOTSUPP,
				"the mock IOMMU reports only IOMMU_HW_INFO_TYPE_SELFTEST, not type %#x",
				cmd->in_data_type);
		goto out_put;
	}
	cmd->out_data_type = IOMMU_HW_INFO_TYPE_SELFTEST;

	/* Truncated to the caller's buffer; a longer one zeroed past it. */
	copy_len = min(cmd->data_len, (u32)sizeof(info));
	rc = copy_to_user(cmd->data_uptr, &info, copy_len, "the hw info data");
	if (!rc && copy_len < cmd->data_len)
		rc = clear_user(cmd->data_uptr + copy_len,
				cmd->data_len - copy_len, "the hw info data");
	if (rc)
		goto out_put;
	/* The length the IOMMU has, which may exceed the caller's. */
	cmd->data_len = sizeof(info);

	/* A mock device is no PCI device: no ATS, no PASID controls. */
	cmd->out_capabilities = IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED;
	if (iommufd_device_dirty_capable(idev))
		cmd->out_capabilities |= IOMMU_HW_CAP_DIRTY_TRACKING;
	cmd->out_max_pasid_log2 = 0;
	if (iommufd_device_max_pasids(idev))
		cmd->out_max_pasid_log2 = MOCK_PASID_WIDTH;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
out_put:
	iommufd_put_object(ucmd->ctx, &idev->obj);
	return rc;
}
