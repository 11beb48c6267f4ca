// SPDX-License-Identifier: MIT
/*
 * The test module's mock devices: MOCK_DOMAIN and MOCK_DOMAIN_FLAGS make
 * one (a selftest object owning a bound, attached device),
 * MOCK_DOMAIN_REPLACE moves it, and the checks read what its HW
 * pagetables and caches hold.
 */
#include <errno.h>
#include <string.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/mem.h"
#include "base/warn.h"
#include "domains/mock_domain.h"
#include "domains/mock_nested.h"
#include "iommufd/iommufd_private.h"
#include "iommufd/user_copy.h"
#include "iopt/pfn_identity.h"
#include "uiommufd/iommufd_test_uapi.h"
#include "iommufd/selftest.h"

/* ---- MOCK_DOMAIN: the selftest device object ---- */

struct selftest_device {
	struct iommufd_object obj;
	struct iommufd_device *idev;
};

void iommufd_selftest_destroy(struct iommufd_object *obj)
{
	struct selftest_device *stdev =
		container_of(obj, struct selftest_device, obj);

	iommufd_device_unbind(stdev->idev);
}

int iommufd_test_mock_domain(struct iommufd_ucmd *ucmd,
			     struct iommu_test_cmd *cmd)
{
	const struct iommufd_release *release = iommufd_release(ucmd->ctx);
	struct selftest_device *stdev;
	struct iommufd_device *idev;
	unsigned int flags = 0;
	u32 pt_id = cmd->id;
	u32 dev_flags = 0;
	int rc;

	if (cmd->op == IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS)
		dev_flags = cmd->mock_domain_flags.dev_flags;
	stdev = iommufd_object_alloc(ucmd->ctx, stdev, obj,
				     IOMMUFD_OBJ_SELFTEST);
	if (IS_ERR(stdev))
		return PTR_ERR(stdev);
	/* The kernel's mock device creation refuses unknown flags so. */
	if (dev_flags & ~iommufd_release_flags(release,
					       IOMMUFD_FLAGS_TEST_MOCK_DEVICE)) {
		rc = err_reason(-EINVAL, "unknown mock device flags %#x",
				dev_flags &
					~iommufd_release_flags(release,
							       IOMMUFD_FLAGS_TEST_MOCK_DEVICE));
		goto out_abort;
	}
	/* 6.2's selftest object was the device: no ID of its own. */
	idev = iommufd_device_bind(ucmd->ctx,
				   iommufd_release_new(release,
						       IOMMUFD_NEW_MOCK_DOMAIN_AUTO_HWPT) ?
					   0 : IOMMUFD_BIND_NO_ID,
				   dev_flags);
	if (IS_ERR(idev)) {
		rc = PTR_ERR(idev);
		goto out_abort;
	}
	/*
	 * Under Linux 6.2 the device gets a HW pagetable of its own, which
	 * the caller destroys after the device; later releases share an
	 * auto one that goes with its last device.
	 */
	if (!iommufd_release_new(release, IOMMUFD_NEW_MOCK_DOMAIN_AUTO_HWPT))
		flags |= IOMMUFD_ATTACH_NEW_HWPT;
	if (!iommufd_release_new(release, IOMMUFD_NEW_MOCK_DOMAIN_ON_HWPT))
		flags |= IOMMUFD_ATTACH_IOAS_ONLY;
	rc = iommufd_device_attach(idev, IOMMU_NO_PASID, &pt_id, flags);
	if (rc == -ENOENT && (flags & IOMMUFD_ATTACH_IOAS_ONLY))
		err_reason(rc, "no IOAS with ID %u (Linux %s's MOCK_DOMAIN takes an IOAS, not a HW pagetable)",
			   cmd->id, release->name);
	if (rc)
		goto out_unbind;
	stdev->idev = idev;
	cmd->mock_domain.out_stdev_id = stdev->obj.id;
	cmd->mock_domain.out_hwpt_id = pt_id;
	/* 6.2's layout had no out_idev_id: the caller's bytes stay. */
	if (!(flags & IOMMUFD_ATTACH_NEW_HWPT))
		cmd->mock_domain.out_idev_id = idev->obj.id;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc) {
		iommufd_object_abort_and_destroy(ucmd->ctx, &stdev->obj);
		/*
		 * Nobody learnt the ID of its own HW pagetable: it goes too,
		 * unless another command found it meanwhile.
		 */
		if ((flags & IOMMUFD_ATTACH_NEW_HWPT) && pt_id != cmd->id)
			iommufd_object_destroy_user(ucmd->ctx, pt_id,
						    IOMMUFD_OBJ_HWPT_PAGING);
		return rc;
	}
	iommufd_object_finalize(ucmd->ctx, &stdev->obj);
	return 0;

out_unbind:
	iommufd_device_unbind(idev);
out_abort:
	iommufd_object_abort(ucmd->ctx, &stdev->obj);
	return rc;
}

struct iommufd_device *iommufd_test_get_stdev(struct uiommufd_ctx *ctx,
					      u32 id,
					      struct iommufd_object **obj)
{
	/* The selftest object: its destroy cannot race what we do. */
	*obj = iommufd_get_object(ctx, id, IOMMUFD_OBJ_SELFTEST);
	if (IS_ERR(*obj))
		return ERR_CAST(*obj);
	return container_of(*obj, struct selftest_device, obj)->idev;
}

/* ---- MOCK_DOMAIN_REPLACE ---- */

int iommufd_test_mock_domain_replace(struct iommufd_ucmd *ucmd,
				     struct iommu_test_cmd *cmd)
{
	u32 pt_id = cmd->mock_domain_replace.pt_id;
	struct iommufd_device *idev;
	struct iommufd_object *obj;
	int rc;

	idev = iommufd_test_get_stdev(ucmd->ctx, cmd->id, &obj);
	if (IS_ERR(idev))
		return PTR_ERR(idev);
	rc = iommufd_device_replace(idev, IOMMU_NO_PASID, &pt_id);
	if (!rc) {
		cmd->mock_domain_replace.pt_id = pt_id;
		rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	}
	iommufd_put_object(ucmd->ctx, obj);
	return rc;
}

/* ---- MD_CHECK_IOTLB and DEV_CHECK_CACHE ---- */

int iommufd_test_md_check_iotlb(struct iommufd_ucmd *ucmd,
				struct iommu_test_cmd *cmd)
{
	u32 id = cmd->check_iotlb.id, want = cmd->check_iotlb.iotlb;
	struct iommufd_hwpt_nested *hwpt;
	struct iommufd_object *obj;
	int rc = 0;
	u32 got;

	obj = iommufd_get_object(ucmd->ctx, cmd->id, IOMMUFD_OBJ_HWPT_NESTED);
	if (IS_ERR(obj))
		return PTR_ERR(obj);
	hwpt = container_of(obj, struct iommufd_hwpt_nested, common.obj);
	if (id > MOCK_NESTED_DOMAIN_IOTLB_ID_MAX)
		rc = err_reason(-EINVAL, "IOTLB id %u is past the last, %u", id,
				MOCK_NESTED_DOMAIN_IOTLB_ID_MAX);
	else if ((got = mock_nested_iotlb(hwpt->domain, id)) != want)
		rc = err_reason(-EINVAL, "IOTLB entry %u holds %#x, not %#x",
				id, got, want);
	iommufd_put_object(ucmd->ctx, obj);
	return rc;
}

int iommufd_test_dev_check_cache(struct iommufd_ucmd *ucmd,
				 struct iommu_test_cmd *cmd)
{
	u32 id = cmd->check_dev_cache.id, want = cmd->check_dev_cache.cache;
	struct iommufd_device *idev;
	int rc = 0;
	u32 got;

	idev = iommufd_get_device(ucmd->ctx, cmd->id);
	if (IS_ERR(idev))
		return PTR_ERR(idev);
	if (id > MOCK_DEV_CACHE_ID_MAX)
		rc = err_reason(-EINVAL, "cache id %u is past the last, %u", id,
				MOCK_DEV_CACHE_ID_MAX);
	else if ((got = atomic_load(&idev->mock.cache[id])) != want)
		rc = err_reason(-EINVAL, "cache entry %u holds %#x, not %#x",
				id, got, want);
	iommufd_put_object(ucmd->ctx, &idev->obj);
	return rc;
}

/* ---- MD_CHECK_MAP ---- */

static int test_md_check_map(struct iommufd_ucmd *ucmd, u32 hwpt_id, u64 iova,
			     u64 length, u64 uptr)
{
	struct iommufd_hwpt_paging *hwpt;
	struct iommufd_object *obj;
	u64 pfns[CHECK_CHUNK_PAGES];
	u64 end, step;
	int rc = 0;

	/* 6.2 checked against the mock IO page before the lookup. */
	if (!iommufd_release_new(iommufd_release(ucmd->ctx),
				 IOMMUFD_NEW_CHECK_MAP_LOOKUP_FIRST) &&
	    (iova % MOCK_PAGE_SIZE || length % MOCK_PAGE_SIZE ||
	     uptr % MOCK_PAGE_SIZE || __builtin_add_overflow(uptr, length, &end)))
		return err_reason(-EINVAL,
				  "iova, length and uptr must be multiples of %#llx and not wrap",
				  (unsigned long long)MOCK_PAGE_SIZE);
	obj = iommufd_get_object(ucmd->ctx, hwpt_id, IOMMUFD_OBJ_HWPT_PAGING);
	if (IS_ERR(obj))
		return PTR_ERR(obj);
	hwpt = container_of(obj, struct iommufd_hwpt_paging, common.obj);
	if (!is_mock_domain(hwpt->domain)) {
		rc = err_reason(-EINVAL, "HW pagetable %u is not a mock domain",
				hwpt_id);
		goto out_put;
	}
	/* The step is the domain's smallest IO page (4 KiB in a huge one). */
	step = iommu_domain_min_pgsize(hwpt->domain);
	if (iova % step || length % step || uptr % step ||
	    __builtin_add_overflow(uptr, length, &end)) {
		rc = err_reason(-EINVAL,
				"iova, length and uptr must be multiples of %#llx, HW pagetable %u's IO page, and not wrap",
				(unsigned long long)step, hwpt_id);
		goto out_put;
	}
	while (length) {
		u64 page = uptr & PAGE_MASK;
		u64 npages = min((u64)CHECK_CHUNK_PAGES,
				 (uptr + length - 1) / PAGE_SIZE -
					 uptr / PAGE_SIZE + 1);
		u64 got_pages = iommufd_test_identify_prefix(page, npages, pfns, &rc);
		u64 chunk_end = page + got_pages * PAGE_SIZE;

		for (; length && uptr < chunk_end;
		     iova += step, uptr += step, length -= step) {
			u64 pfn = pfns[(uptr - page) / PAGE_SIZE];
			u64 want = PFN_PHYS(pfn) + uptr % PAGE_SIZE;
			u64 got = mock_domain_lookup(hwpt->domain, iova, NULL);

			if (got != want) {
				rc = err_reason(-EINVAL,
						"iova %#llx maps %#llx, not the memory at %#llx",
						(unsigned long long)iova,
						(unsigned long long)got,
						(unsigned long long)uptr);
				goto out_put;
			}
		}
		if (rc)
			goto out_put;
	}
out_put:
	iommufd_put_object(ucmd->ctx, obj);
	return rc;
}

int iommufd_test_md_check_map(struct iommufd_ucmd *ucmd,
			      struct iommu_test_cmd *cmd)
{
	return test_md_check_map(ucmd, cmd->id, cmd->check_map.iova,
				 cmd->check_map.length, cmd->check_map.uptr);
}
