// SPDX-License-Identifier: MIT
/*
 * HW pagetables: what devices attach to. A paging one is an IO page table
 * (a domain) kept mirroring one IOAS for as long as it exists; a nested
 * one is a first stage on a paging parent allocated with NEST_PARENT,
 * whose caches the caller invalidates (IOMMU_HWPT_INVALIDATE).
 *
 * Every domain is a mock domain, as every device is a mock device: the
 * checks a real driver would make on the device are those the kernel's
 * test driver makes.
 */
#include <errno.h>
#include <stdio.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/warn.h"
#include "domains/mock_domain.h"
#include "domains/mock_nested.h"
#include "iommufd/iommufd_private.h"
#include "iommufd/user_copy.h"

/* The kernel's bound on one invalidation call. */
#define HWPT_INVALIDATE_ENTRY_NUM_MAX (1u << 19)

/* ---- paging ---- */

/* The mock domain for @flags and the selftest data's pagetable type. */
static struct iommu_domain *
paging_domain_alloc(u32 flags, const struct iommu_hwpt_selftest *user_cfg)
{
	unsigned int mock_flags = 0;
	struct iommu_domain *domain;

	switch (user_cfg ? user_cfg->pagetable_type : MOCK_IOMMUPT_DEFAULT) {
	case MOCK_IOMMUPT_DEFAULT:
		break;
	case MOCK_IOMMUPT_HUGE:
		mock_flags |= MOCK_DOMAIN_IOMMUPT_HUGE;
		break;
	default:
		return ERR_PTR(err_reason(-EOPNOTSUPP,
					  "unknown mock pagetable type %u",
					  user_cfg->pagetable_type));
	}
	if (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING)
		mock_flags |= MOCK_DOMAIN_DIRTY_TRACKING;
	domain = mock_domain_alloc(mock_flags);
	if (!domain)
		return ERR_PTR(-ENOMEM);
	return domain;
}

/* The core's checks of a paging allocation, before the driver's. */
static int paging_check(struct uiommufd_ctx *ctx, struct iommufd_device *idev,
			u32 flags)
{
	int rc = iommufd_check_flags(ctx, flags, IOMMUFD_FLAGS_HWPT_ALLOC);

	if (rc)
		return rc;
	if ((flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) &&
	    !iommufd_device_dirty_capable(idev))
		return err_reason(-EOPNOTSUPP,
				  "device %u cannot track dirty IOVA (MOCK_FLAGS_DEVICE_NO_DIRTY)",
				  idev->obj.id);
	if ((flags & IOMMU_HWPT_FAULT_ID_VALID) &&
	    (flags & IOMMU_HWPT_ALLOC_NEST_PARENT))
		return err_reason(-EOPNOTSUPP,
				  "a nesting parent cannot take IO page faults");
	return 0;
}

struct iommufd_hwpt_paging *
iommufd_hwpt_paging_alloc(struct uiommufd_ctx *ctx, struct iommufd_ioas *ioas,
			  struct iommufd_device *idev, u32 flags,
			  const struct iommu_hwpt_selftest *user_cfg)
{
	struct iommufd_hwpt_paging *hwpt, *pos;
	struct iommu_domain *domain;
	int rc;

	rc = paging_check(ctx, idev, flags);
	if (rc)
		return ERR_PTR(rc);

	hwpt = iommufd_object_alloc(ctx, hwpt, common.obj,
				    IOMMUFD_OBJ_HWPT_PAGING);
	if (IS_ERR(hwpt))
		return hwpt;
	domain = paging_domain_alloc(flags, user_cfg);
	if (IS_ERR(domain)) {
		rc = PTR_ERR(domain);
		goto out_abort;
	}
	hwpt->domain = domain;
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
	hwpt->nest_parent = flags & IOMMU_HWPT_ALLOC_NEST_PARENT;
	hwpt->dirty_tracking = flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING;
	hwpt->common.pasid_compat = flags & IOMMU_HWPT_ALLOC_PASID;
	iommufd_object_hold_users(&ioas->obj);
	return hwpt;

out_free_domain:
	hwpt->domain->ops->free(hwpt->domain);
out_abort:
	iommufd_object_abort(ctx, &hwpt->common.obj);
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
		container_of(obj, struct iommufd_hwpt_paging, common.obj);
	struct iommufd_ioas *ioas = hwpt->ioas;

	WARN_ON(atomic_load(&hwpt->common.num_devices));
	/*
	 * An auto HW pagetable was unlinked when its last device left, an
	 * aborted one by its allocator (which may still hold the mutex).
	 * Once unlinked it stays so: only the destroyer could relink.
	 */
	if (hwpt->linked) {
		pthread_mutex_lock(&ioas->mutex);
		iommufd_hwpt_paging_unlink(hwpt);
		pthread_mutex_unlock(&ioas->mutex);
	}
	hwpt->domain->ops->free(hwpt->domain);
	if (hwpt->common.fault)
		iommufd_object_drop_users(iommufd_fault_obj(hwpt->common.fault));
	iommufd_object_drop_users(&ioas->obj);
}

/* ---- nested ---- */

/* The checks of a nested allocation on @parent, in the kernel's order. */
static int nested_check(struct iommufd_hwpt_paging *parent,
			const struct iommu_hwpt_alloc *cmd)
{
	if (cmd->flags & ~(IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID))
		return err_reason(-EOPNOTSUPP,
				  "a nested HW pagetable takes only FAULT_ID_VALID and PASID (flags %#x)",
				  cmd->flags);
	if (!cmd->data_len)
		return err_reason(-EOPNOTSUPP,
				  "a nested HW pagetable needs data (data_len 0)");
	if (parent->auto_domain || !parent->nest_parent)
		return err_reason(-EINVAL,
				  "HW pagetable %u was not allocated with NEST_PARENT",
				  parent->common.obj.id);
	if (cmd->data_type != IOMMU_HWPT_DATA_SELFTEST)
		return err_reason(-EOPNOTSUPP,
				  "the mock IOMMU nests only IOMMU_HWPT_DATA_SELFTEST, not data type %u",
				  cmd->data_type);
	return 0;
}

/* On @parent, or on @viommu (whose parent it is) when not NULL. */
static struct iommufd_hwpt_nested *
hwpt_nested_alloc(struct uiommufd_ctx *ctx, struct iommufd_hwpt_paging *parent,
		  struct iommufd_viommu *viommu, u32 flags,
		  const struct iommu_hwpt_selftest *user_cfg)
{
	struct iommufd_hwpt_nested *hwpt;

	hwpt = iommufd_object_alloc(ctx, hwpt, common.obj,
				    IOMMUFD_OBJ_HWPT_NESTED);
	if (IS_ERR(hwpt))
		return hwpt;
	hwpt->domain = mock_nested_alloc(parent->domain, user_cfg->iotlb);
	if (!hwpt->domain) {
		iommufd_object_abort(ctx, &hwpt->common.obj);
		return ERR_PTR(-ENOMEM);
	}
	hwpt->parent = parent;
	hwpt->viommu = viommu;
	hwpt->common.pasid_compat = flags & IOMMU_HWPT_ALLOC_PASID;
	/* The vIOMMU holds the parent: the nested one holds the vIOMMU. */
	iommufd_object_hold_users(viommu ? &viommu->obj :
					   &parent->common.obj);
	return hwpt;
}

void iommufd_hwpt_nested_destroy(struct iommufd_object *obj)
{
	struct iommufd_hwpt_nested *hwpt =
		container_of(obj, struct iommufd_hwpt_nested, common.obj);

	WARN_ON(atomic_load(&hwpt->common.num_devices));
	mock_nested_free(hwpt->domain);
	if (hwpt->common.fault)
		iommufd_object_drop_users(iommufd_fault_obj(hwpt->common.fault));
	iommufd_object_drop_users(hwpt->viommu ? &hwpt->viommu->obj :
						 &hwpt->parent->common.obj);
}

/* ---- IOMMU_HWPT_ALLOC ---- */

/*
 * The driver data of @cmd as the kernel's iommu_copy_struct_from_user():
 * the type must be the selftest's and the length cover iotlb.
 */
static int copy_selftest_data(const struct iommu_hwpt_alloc *cmd,
			      struct iommu_hwpt_selftest *cfg)
{
	/* An unknown type is the driver's to refuse, as not supported. */
	if (cmd->data_type != IOMMU_HWPT_DATA_SELFTEST)
		return err_reason(-EOPNOTSUPP,
				  "the mock IOMMU takes only IOMMU_HWPT_DATA_SELFTEST, not data type %u",
				  cmd->data_type);
	if (cmd->data_len < sizeof(cfg->iotlb))
		return err_reason(-EINVAL,
				  "data_len %u is shorter than struct iommu_hwpt_selftest's iotlb",
				  cmd->data_len);
	return copy_struct_from_user(cfg, sizeof(*cfg), cmd->data_uptr,
				     cmd->data_len,
				     "struct iommu_hwpt_selftest");
}

/* A paging HW pagetable on @ioas: the checks in the kernel's order. */
static struct iommufd_hw_pagetable *
hwpt_alloc_paging(struct iommufd_ucmd *ucmd, struct iommu_hwpt_alloc *cmd,
		  struct iommufd_device *idev, struct iommufd_ioas *ioas)
{
	struct iommu_hwpt_selftest cfg = { 0 };
	struct iommufd_hwpt_paging *hwpt;
	int rc;

	/* The core's flag checks, then the driver's look at the data. */
	rc = paging_check(ucmd->ctx, idev, cmd->flags);
	if (!rc && cmd->data_len)
		rc = copy_selftest_data(cmd, &cfg);
	if (rc)
		return ERR_PTR(rc);
	hwpt = iommufd_hwpt_paging_alloc(ucmd->ctx, ioas, idev, cmd->flags,
					 cmd->data_len ? &cfg : NULL);
	if (IS_ERR(hwpt))
		return ERR_CAST(hwpt);
	return &hwpt->common;
}

static struct iommufd_hw_pagetable *
hwpt_alloc_nested(struct iommufd_ucmd *ucmd, struct iommu_hwpt_alloc *cmd,
		  struct iommufd_hwpt_paging *parent)
{
	struct iommu_hwpt_selftest cfg = { 0 };
	struct iommufd_hwpt_nested *hwpt;
	int rc;

	rc = nested_check(parent, cmd);
	if (!rc)
		rc = copy_selftest_data(cmd, &cfg);
	if (rc)
		return ERR_PTR(rc);
	hwpt = hwpt_nested_alloc(ucmd->ctx, parent, NULL, cmd->flags, &cfg);
	if (IS_ERR(hwpt))
		return ERR_CAST(hwpt);
	return &hwpt->common;
}

/* A nested HW pagetable on @viommu for @idev: the kernel's checks. */
static struct iommufd_hw_pagetable *
hwpt_alloc_viommu(struct iommufd_ucmd *ucmd, struct iommu_hwpt_alloc *cmd,
		  struct iommufd_device *idev, struct iommufd_viommu *viommu)
{
	struct iommu_hwpt_selftest cfg = { 0 };
	struct iommufd_hwpt_nested *hwpt;
	int rc;

	if (viommu->iommu_dev != iommufd_device_iommu_dev(idev))
		return ERR_PTR(err_reason(-EINVAL,
					  "device %u is not behind vIOMMU %u's IOMMU",
					  idev->obj.id, viommu->obj.id));
	if (cmd->flags & ~(IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID))
		return ERR_PTR(err_reason(-EOPNOTSUPP,
					  "a nested HW pagetable takes only FAULT_ID_VALID and PASID (flags %#x)",
					  cmd->flags));
	if (!cmd->data_len)
		return ERR_PTR(err_reason(-EOPNOTSUPP,
					  "a nested HW pagetable needs data (data_len 0)"));
	rc = copy_selftest_data(cmd, &cfg);
	if (rc)
		return ERR_PTR(rc);
	hwpt = hwpt_nested_alloc(ucmd->ctx, viommu->hwpt, viommu, cmd->flags,
				 &cfg);
	if (IS_ERR(hwpt))
		return ERR_CAST(hwpt);
	return &hwpt->common;
}

int iommufd_hwpt_alloc(struct iommufd_ucmd *ucmd)
{
	struct iommu_hwpt_alloc *cmd = ucmd->cmd;
	struct iommufd_hw_pagetable *hwpt;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_object *pt_obj;
	struct iommufd_device *idev;
	int rc;

	if (cmd->__reserved)
		return err_reason(-EOPNOTSUPP, "__reserved must be 0");
	if ((cmd->data_type == IOMMU_HWPT_DATA_NONE && cmd->data_len) ||
	    (cmd->data_type != IOMMU_HWPT_DATA_NONE && !cmd->data_len))
		return err_reason(-EINVAL,
				  "data type %u with data_len %u: data needs a type and a type needs data",
				  cmd->data_type, cmd->data_len);

	idev = iommufd_get_device(ucmd->ctx, cmd->dev_id);
	if (IS_ERR(idev))
		return PTR_ERR(idev);
	pt_obj = iommufd_get_object(ucmd->ctx, cmd->pt_id, IOMMUFD_OBJ_ANY);
	if (IS_ERR(pt_obj)) {
		/* The kernel answers EINVAL for a missing parent. */
		rc = err_reason(-EINVAL, "no IOAS or HW pagetable with ID %u",
				cmd->pt_id);
		goto out_put_idev;
	}

	switch (pt_obj->type) {
	case IOMMUFD_OBJ_IOAS:
		ioas = container_of(pt_obj, struct iommufd_ioas, obj);
		/* Held until the new HW pagetable is finalized or gone. */
		pthread_mutex_lock(&ioas->mutex);
		hwpt = hwpt_alloc_paging(ucmd, cmd, idev, ioas);
		break;
	case IOMMUFD_OBJ_HWPT_PAGING:
		hwpt = hwpt_alloc_nested(ucmd, cmd,
					 container_of(pt_obj,
						      struct iommufd_hwpt_paging,
						      common.obj));
		break;
	case IOMMUFD_OBJ_VIOMMU:
		hwpt = hwpt_alloc_viommu(ucmd, cmd, idev,
					 container_of(pt_obj,
						      struct iommufd_viommu,
						      obj));
		break;
	default:
		hwpt = ERR_PTR(err_reason(-EINVAL,
					  "object %u is not an IOAS, a paging HW pagetable or a vIOMMU",
					  cmd->pt_id));
	}
	if (IS_ERR(hwpt)) {
		rc = PTR_ERR(hwpt);
		goto out_unlock;
	}

	if (cmd->flags & IOMMU_HWPT_FAULT_ID_VALID) {
		struct iommufd_fault *fault;

		fault = iommufd_get_fault(ucmd->ctx, cmd->fault_id);
		if (IS_ERR(fault)) {
			rc = PTR_ERR(fault);
			goto out_hwpt;
		}
		/* Held until the HW pagetable goes: its destroy is EBUSY. */
		hwpt->fault = fault;
		iommufd_object_hold_users(iommufd_fault_obj(fault));
		iommufd_put_object(ucmd->ctx, iommufd_fault_obj(fault));
	}

	cmd->out_hwpt_id = hwpt->obj.id;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc)
		goto out_hwpt;
	iommufd_object_finalize(ucmd->ctx, &hwpt->obj);
	goto out_unlock;

out_hwpt:
	if (ioas)
		iommufd_hwpt_paging_unlink(to_hwpt_paging(hwpt));
	iommufd_object_abort_and_destroy(ucmd->ctx, &hwpt->obj);
out_unlock:
	if (ioas)
		pthread_mutex_unlock(&ioas->mutex);
	iommufd_put_object(ucmd->ctx, pt_obj);
out_put_idev:
	iommufd_put_object(ucmd->ctx, &idev->obj);
	return rc;
}

/* ---- IOMMU_HWPT_INVALIDATE ---- */

int iommufd_copy_invalidate_entry(const struct iommu_hwpt_invalidate *cmd,
				  u32 i, u32 type, void *dst, size_t size,
				  size_t min_size)
{
	if (cmd->data_type != type)
		return err_reason(-EINVAL,
				  "invalidation data type %#x is not the mock's %#x",
				  cmd->data_type, type);
	if (cmd->entry_len < min_size)
		return err_reason(-EINVAL,
				  "entry_len %u is shorter than the %zu bytes the entry needs",
				  cmd->entry_len, min_size);
	/* entry_len * i cannot overflow: both are bounded above. */
	return copy_struct_from_user(dst, size,
				     cmd->data_uptr + (u64)cmd->entry_len * i,
				     cmd->entry_len,
				     "an invalidation entry");
}

/* Entries handled go in *done; stops at the first that fails. */
static int invalidate_nested(struct iommufd_hwpt_nested *hwpt,
			     const struct iommu_hwpt_invalidate *cmd, u32 *done)
{
	struct iommu_hwpt_invalidate_selftest inv;
	int rc = 0;

	if (cmd->data_type != IOMMU_HWPT_INVALIDATE_DATA_SELFTEST)
		return err_reason(-EINVAL,
				  "invalidation data type %#x is not the mock IOMMU's",
				  cmd->data_type);
	for (*done = 0; *done != cmd->entry_num; (*done)++) {
		rc = iommufd_copy_invalidate_entry(cmd, *done,
						   IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
						   &inv, sizeof(inv),
						   sizeof(inv));
		if (!rc)
			rc = mock_nested_invalidate(hwpt->domain, inv.flags,
						    inv.iotlb_id);
		if (rc) {
			char why[128];

			snprintf(why, sizeof(why), "%s",
				 err_reason_get() ? err_reason_get() : "failed");
			return err_reason(rc, "invalidation entry %u: %s",
					  *done, why);
		}
	}
	return 0;
}

int iommufd_hwpt_invalidate(struct iommufd_ucmd *ucmd)
{
	struct iommu_hwpt_invalidate *cmd = ucmd->cmd;
	struct iommufd_object *pt_obj;
	u32 done = 0;
	int rc;

	if (cmd->__reserved) {
		rc = err_reason(-EOPNOTSUPP, "__reserved must be 0");
		goto out;
	}
	/* Bounded, so one call cannot hold the CPU for long. */
	if (cmd->entry_num &&
	    (!cmd->data_uptr || !cmd->entry_len || cmd->entry_len > PAGE_SIZE ||
	     cmd->entry_num > HWPT_INVALIDATE_ENTRY_NUM_MAX)) {
		rc = err_reason(-EINVAL,
				"entries need a pointer, entry_len from 1 to %lu and at most %u of them",
				(unsigned long)PAGE_SIZE,
				HWPT_INVALIDATE_ENTRY_NUM_MAX);
		goto out;
	}
	pt_obj = iommufd_get_object(ucmd->ctx, cmd->hwpt_id, IOMMUFD_OBJ_ANY);
	if (IS_ERR(pt_obj)) {
		rc = PTR_ERR(pt_obj);
		goto out;
	}
	if (pt_obj->type == IOMMUFD_OBJ_HWPT_NESTED)
		rc = invalidate_nested(container_of(pt_obj,
						    struct iommufd_hwpt_nested,
						    common.obj),
				       cmd, &done);
	else if (pt_obj->type == IOMMUFD_OBJ_VIOMMU)
		rc = iommufd_viommu_invalidate(container_of(pt_obj,
							    struct iommufd_viommu,
							    obj),
					       cmd, &done);
	else
		rc = err_reason(-EINVAL,
				"object %u is neither a nested HW pagetable nor a vIOMMU",
				cmd->hwpt_id);
	iommufd_put_object(ucmd->ctx, pt_obj);
out:
	/* The entries handled, whatever happened. */
	cmd->entry_num = done;
	if (iommufd_ucmd_respond(ucmd, sizeof(*cmd)))
		return -EFAULT;
	return rc;
}
