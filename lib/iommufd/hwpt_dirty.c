// SPDX-License-Identifier: MIT
/*
 * Dirty tracking commands: IOMMU_HWPT_SET_DIRTY_TRACKING and
 * IOMMU_HWPT_GET_DIRTY_BITMAP on a paging HW pagetable.
 *
 * The engine (lib/iopt/dirty.c) fills the bitmap through a sink; here the
 * sink is the caller's memory, reached with the fault-safe user copies.
 * Where the kernel swallows a failure (a bitmap it cannot pin, a range
 * with unmapped holes) and answers 0, the engine answers EFAULT or EINVAL,
 * and only after checking both, before it clears anything.
 */
#include <errno.h>

#include "base/err_reason.h"
#include "base/overflow.h"
#include "base/page.h"
#include "iommufd/iommufd_private.h"
#include "iommufd/user_copy.h"
#include "iopt/dirty.h"

#define BITMAP_WHAT "the dirty bitmap"

/*
 * Every page of the bitmap can be read and written: one byte of each is
 * read and written back unchanged. Page protection is per page, so this
 * is the whole check; the kernel pins the pages for write instead.
 */
static int user_bitmap_check(void *arg, u64 len)
{
	u64 uptr = *(u64 *)arg, last, addr;
	u8 byte;
	int rc;

	if (!len)
		return 0;
	if (check_range_last(uptr, len, &last))
		return err_reason(-EFAULT,
				  "the dirty bitmap at %#llx (%#llx bytes) wraps past the top",
				  (unsigned long long)uptr,
				  (unsigned long long)len);
	for (addr = uptr;; addr = align_down(addr, PAGE_SIZE) + PAGE_SIZE) {
		rc = copy_from_user(&byte, addr, 1, BITMAP_WHAT);
		if (!rc)
			rc = copy_to_user(addr, &byte, 1, BITMAP_WHAT);
		if (rc)
			return rc;
		if (align_down(addr, PAGE_SIZE) == align_down(last, PAGE_SIZE))
			return 0;
	}
}

static int user_bitmap_read(void *arg, u64 offset, void *buf, size_t len)
{
	return copy_from_user(buf, *(u64 *)arg + offset, len, BITMAP_WHAT);
}

static int user_bitmap_write(void *arg, u64 offset, const void *buf,
			     size_t len)
{
	return copy_to_user(*(u64 *)arg + offset, buf, len, BITMAP_WHAT);
}

int iommufd_hwpt_set_dirty_tracking(struct iommufd_ucmd *ucmd)
{
	struct iommu_hwpt_set_dirty_tracking *cmd = ucmd->cmd;
	struct iommufd_hwpt_paging *hwpt;
	int rc;

	/* __reserved is not looked at: the kernel does not check it here. */
	if (cmd->flags & ~IOMMU_HWPT_DIRTY_TRACKING_ENABLE)
		return err_reason(-EOPNOTSUPP,
				  "unknown dirty tracking flags %#x",
				  cmd->flags & ~IOMMU_HWPT_DIRTY_TRACKING_ENABLE);
	hwpt = iommufd_get_hwpt_paging(ucmd->ctx, cmd->hwpt_id);
	if (IS_ERR(hwpt))
		return PTR_ERR(hwpt);
	rc = iopt_set_dirty_tracking(&hwpt->ioas->iopt, hwpt->domain,
				     cmd->flags &
					     IOMMU_HWPT_DIRTY_TRACKING_ENABLE);
	if (rc == -EOPNOTSUPP)
		err_reason(rc,
			   "HW pagetable %u was not allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING",
			   cmd->hwpt_id);
	iommufd_put_object(ucmd->ctx, &hwpt->common.obj);
	return rc;
}

int iommufd_hwpt_get_dirty_bitmap(struct iommufd_ucmd *ucmd)
{
	struct iommu_hwpt_get_dirty_bitmap *cmd = ucmd->cmd;
	struct iommufd_hwpt_paging *hwpt;
	u64 uptr = cmd->data;
	const struct iopt_dirty_sink sink = {
		.check = user_bitmap_check,
		.read = user_bitmap_read,
		.write = user_bitmap_write,
		.arg = &uptr,
	};
	int rc;

	if (cmd->flags & ~IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR)
		return err_reason(-EOPNOTSUPP, "unknown dirty bitmap flags %#x",
				  cmd->flags &
					  ~IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR);
	if (cmd->__reserved)
		return err_reason(-EOPNOTSUPP, "__reserved is %#x, not 0",
				  cmd->__reserved);
	hwpt = iommufd_get_hwpt_paging(ucmd->ctx, cmd->hwpt_id);
	if (IS_ERR(hwpt))
		return PTR_ERR(hwpt);
	rc = iopt_read_and_clear_dirty(
		&hwpt->ioas->iopt, hwpt->domain, cmd->iova, cmd->length,
		cmd->page_size,
		cmd->flags & IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR ?
			IOMMU_DIRTY_NO_CLEAR : 0,
		&sink);
	if (rc == -EOPNOTSUPP)
		err_reason(rc,
			   "HW pagetable %u was not allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING",
			   cmd->hwpt_id);
	iommufd_put_object(ucmd->ctx, &hwpt->common.obj);
	return rc;
}
