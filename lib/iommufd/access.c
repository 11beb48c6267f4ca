// SPDX-License-Identifier: MIT
/*
 * The access API for emulated devices: a CPU-side user of an IOAS that
 * pins pages, reads and writes through IOVA, and is told when IOVA it
 * pinned is unmapped. An access is an object of its context (so it has an
 * ID) owned by its creator: IOMMU_DESTROY of it is EBUSY, its IOAS cannot
 * be destroyed under it, and it keeps the context alive.
 */
#include <errno.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/mem.h"
#include "iommufd/iommufd_private.h"

UIOMMUFD_EXPORT struct uiommufd_access *
uiommufd_access_create(struct uiommufd_ctx *ctx, uint32_t ioas_id,
		       const struct uiommufd_access_ops *ops, void *data,
		       uint32_t *out_id)
{
	struct uiommufd_access *access;
	struct iopt_access *iopt_access;
	struct iommufd_ioas *ioas;
	int rc;

	err_reason_clear();
	if (!ops || (ops->flags & ~UIOMMUFD_ACCESS_NEEDS_PIN_PAGES)) {
		rc = err_reason(-EINVAL, "no ops, or unknown ops flags");
		goto out_errno;
	}
	if ((ops->flags & UIOMMUFD_ACCESS_NEEDS_PIN_PAGES) && !ops->unmap) {
		rc = err_reason(-EINVAL,
				"an access that pins pages needs an unmap callback");
		goto out_errno;
	}
	api_enter();
	ioas = iommufd_get_ioas(ctx, ioas_id);
	if (IS_ERR(ioas)) {
		rc = PTR_ERR(ioas);
		goto out_exit;
	}
	access = iommufd_object_alloc(ctx, access, obj, IOMMUFD_OBJ_ACCESS);
	if (IS_ERR(access)) {
		rc = PTR_ERR(access);
		goto out_put;
	}
	access->ops = *ops;
	access->iopt_ops.needs_pin_pages =
		ops->flags & UIOMMUFD_ACCESS_NEEDS_PIN_PAGES;
	access->iopt_ops.unmap = ops->unmap;
	iopt_access = iopt_access_create(&ioas->iopt, &access->iopt_ops, data);
	if (IS_ERR(iopt_access)) {
		rc = PTR_ERR(iopt_access);
		iommufd_object_abort(ctx, &access->obj);
		goto out_put;
	}
	rc = -pthread_rwlock_init(&access->lock, NULL);
	if (rc) {
		iopt_access_destroy(iopt_access);
		iommufd_object_abort(ctx, &access->obj);
		err_reason(rc, "cannot create the access's lock");
		goto out_put;
	}
	access->iopt_access = iopt_access;
	access->iopt_unpin = iopt_access;
	access->ctx = ctx;
	access->ioas = ioas;
	access->data = data;
	iommufd_object_hold_users(&ioas->obj);
	/* The creator's reference, dropped by uiommufd_access_destroy(). */
	iommufd_object_hold_users(&access->obj);
	iommufd_ctx_get(ctx);
	if (out_id)
		*out_id = access->obj.id;
	iommufd_object_finalize(ctx, &access->obj);
	iommufd_put_object(ctx, &ioas->obj);
	api_exit();
	return access;

out_put:
	iommufd_put_object(ctx, &ioas->obj);
out_exit:
	api_exit();
out_errno:
	errno = -rc;
	return NULL;
}

void iommufd_access_destroy_object(struct iommufd_object *obj)
{
	struct uiommufd_access *access =
		container_of(obj, struct uiommufd_access, obj);

	iopt_access_destroy(access->iopt_unpin);
	pthread_rwlock_destroy(&access->lock);
	iommufd_object_drop_users(&access->ioas->obj);
}

/*
 * Move @access to IOAS @ioas_id, as the kernel's iommufd_access_replace:
 * pins stop, the unmap callback is told the whole IOVA space goes (so it
 * unpins everything from the old IOAS), then pins go to the new one. On
 * failure nothing changes.
 */
int iommufd_access_replace(struct uiommufd_access *access, u32 ioas_id)
{
	struct iopt_access *old_ia, *new_ia;
	struct iommufd_ioas *ioas, *old_ioas;
	int rc = 0;

	pthread_rwlock_wrlock(&access->lock);
	/* As the kernel's: mid-move the access is on no IOAS. */
	if (access->moving) {
		pthread_rwlock_unlock(&access->lock);
		return err_reason(-ENOENT,
				  "access %u is being moved to another IOAS",
				  access->obj.id);
	}
	ioas = iommufd_get_ioas(access->ctx, ioas_id);
	if (IS_ERR(ioas)) {
		pthread_rwlock_unlock(&access->lock);
		return PTR_ERR(ioas);
	}
	if (access->ioas == ioas)
		goto out_unlock;
	new_ia = iopt_access_create(&ioas->iopt, &access->iopt_ops,
				    access->data);
	if (IS_ERR(new_ia)) {
		rc = PTR_ERR(new_ia);
		goto out_unlock;
	}
	iommufd_object_hold_users(&ioas->obj);
	old_ia = access->iopt_unpin;
	old_ioas = access->ioas;
	access->iopt_access = NULL;
	access->moving = true;
	pthread_rwlock_unlock(&access->lock);

	/* The callback unpins through iopt_unpin, the old IOAS. */
	if (access->ops.unmap)
		access->ops.unmap(access->data, 0, U64_MAX);
	/*
	 * An unmap of the old IOAS may still be in the callback, which may
	 * unpin (taking the lock for reading): wait for it with no lock
	 * held. None starts after this.
	 */
	iopt_access_quiesce(old_ia);

	pthread_rwlock_wrlock(&access->lock);
	access->iopt_access = new_ia;
	access->iopt_unpin = new_ia;
	access->ioas = ioas;
	access->moving = false;
	pthread_rwlock_unlock(&access->lock);
	/* Unpins that saw old_ia finished before the write lock was ours. */
	iopt_access_destroy(old_ia);
	iommufd_object_drop_users(&old_ioas->obj);
	iommufd_put_object(access->ctx, &ioas->obj);
	return 0;

out_unlock:
	pthread_rwlock_unlock(&access->lock);
	iommufd_put_object(access->ctx, &ioas->obj);
	return rc;
}

UIOMMUFD_EXPORT int uiommufd_access_replace(struct uiommufd_access *access,
					    uint32_t ioas_id)
{
	int rc;

	err_reason_clear();
	if (!access)
		return err_reason(-EINVAL, "no access");
	api_enter();
	rc = iommufd_access_replace(access, ioas_id);
	api_exit();
	return rc;
}

/* The access's current pinning side, read-held: NULL while moving. */
static struct iopt_access *access_lock_pin(struct uiommufd_access *access)
{
	pthread_rwlock_rdlock(&access->lock);
	if (access->iopt_access)
		return access->iopt_access;
	pthread_rwlock_unlock(&access->lock);
	err_reason(-ENOENT, "access %u is being moved to another IOAS",
		   access->obj.id);
	return NULL;
}

UIOMMUFD_EXPORT void uiommufd_access_destroy(struct uiommufd_access *access)
{
	struct uiommufd_ctx *ctx;

	if (!access)
		return;
	api_enter();
	ctx = access->ctx;
	iommufd_object_destroy_owned(ctx, &access->obj);
	iommufd_ctx_put(ctx);
	api_exit();
}

static int check_flags(unsigned int flags)
{
	if (flags & ~UIOMMUFD_ACCESS_RW_WRITE)
		return err_reason(-EINVAL, "unknown access flags %#x",
				  flags & ~UIOMMUFD_ACCESS_RW_WRITE);
	return 0;
}

UIOMMUFD_EXPORT int uiommufd_access_pin_pages(struct uiommufd_access *access,
					      uint64_t iova, uint64_t length,
					      uint64_t *out_pfns,
					      void **out_pages,
					      unsigned int flags)
{
	u64 *pfns = out_pfns;
	struct iopt_access *ia;
	u64 last, npages;
	int rc;

	err_reason_clear();
	rc = check_flags(flags);
	if (rc)
		return rc;
	if (!out_pfns) {
		rc = iopt_check_iova_range(iova, length, &last);
		if (rc)
			return rc;
		/* One per page the range touches in the mapped memory. */
		npages = (length - 1) / PAGE_SIZE + 2;
		pfns = mem_calloc(npages, sizeof(*pfns));
		if (!pfns)
			return -ENOMEM;
	}
	api_enter();
	ia = access_lock_pin(access);
	if (ia) {
		rc = iopt_access_pin_pages(ia, iova, length, pfns, out_pages,
					   flags & UIOMMUFD_ACCESS_RW_WRITE ?
						   IOMMUFD_ACCESS_RW_WRITE :
						   0);
		pthread_rwlock_unlock(&access->lock);
	} else {
		rc = -ENOENT;
	}
	api_exit();
	if (pfns != out_pfns)
		mem_free(pfns);
	return rc;
}

int iommufd_access_unpin_pages(struct uiommufd_access *access, u64 iova,
			       u64 length)
{
	int rc;

	pthread_rwlock_rdlock(&access->lock);
	rc = iopt_access_unpin_pages(access->iopt_unpin, iova, length);
	pthread_rwlock_unlock(&access->lock);
	return rc;
}

UIOMMUFD_EXPORT int uiommufd_access_unpin_pages(struct uiommufd_access *access,
						uint64_t iova, uint64_t length)
{
	int rc;

	err_reason_clear();
	api_enter();
	rc = iommufd_access_unpin_pages(access, iova, length);
	api_exit();
	return rc;
}

int iommufd_access_rw(struct uiommufd_access *access, u64 iova, void *data,
		      u64 length, unsigned int iopt_flags)
{
	struct iopt_access *ia = access_lock_pin(access);
	int rc;

	if (!ia)
		return -ENOENT;
	rc = iopt_access_rw(ia, iova, data, length, iopt_flags);
	pthread_rwlock_unlock(&access->lock);
	return rc;
}

UIOMMUFD_EXPORT int uiommufd_access_rw(struct uiommufd_access *access,
				       uint64_t iova, void *data,
				       uint64_t length, unsigned int flags)
{
	struct iopt_access *ia;
	int rc;

	err_reason_clear();
	rc = check_flags(flags);
	if (rc)
		return rc;
	api_enter();
	ia = access_lock_pin(access);
	if (ia) {
		rc = iopt_access_rw(ia, iova, data, length,
				    flags & UIOMMUFD_ACCESS_RW_WRITE ?
					    IOMMUFD_ACCESS_RW_WRITE : 0);
		pthread_rwlock_unlock(&access->lock);
	} else {
		rc = -ENOENT;
	}
	api_exit();
	return rc;
}
