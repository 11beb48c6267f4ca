// SPDX-License-Identifier: MIT
/*
 * The test-command module, IOMMU_TEST_CMD, as in the kernel's test
 * builds: the command's dispatch and the ops that stand alone (reserved
 * ranges, pin counts, the temporary memory limit, the fuzzers' IOVA
 * encoding). Mock devices are in selftest_device.c, accesses in
 * selftest_access.c, dirty marks in selftest_dirty.c, dma-bufs in
 * selftest_dmabuf.c.
 */
#include <errno.h>
#include <string.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/mem.h"
#include "base/process.h"
#include "base/warn.h"
#include "domains/mock_domain.h"
#include "iommufd/fd_table.h"
#include "iommufd/iommufd_private.h"
#include "iommufd/user_copy.h"
#include "iopt/pfn_batch.h"
#include "iopt/pfn_identity.h"
#include "iopt/pin_count.h"
#include "uiommufd/iommufd_test_uapi.h"
#include "iommufd/selftest.h"

/*
 * Identify up to @n readable pages at @addr, as get_user_pages() would
 * look at them one by one: returns how many were identified, all of them
 * or those before the first that cannot be (whose error goes in *err).
 * So a check can report what is wrong with an earlier page before the
 * EFAULT of a later one, as the kernel's page-at-a-time checks do.
 */
u64 iommufd_test_identify_prefix(u64 addr, u64 n, u64 *pfns, int *err)
{
	pid_t pid = process_user();

	*err = pfn_identify_range_pid(pid, addr, n, pfns,
				      PFN_IDENTIFY_READABLE);
	if (!*err)
		return n;
	for (u64 i = 0; i != n; i++) {
		*err = pfn_identify_range_pid(pid, addr + i * PAGE_SIZE, 1,
					      pfns + i, PFN_IDENTIFY_READABLE);
		if (*err)
			return i;
	}
	return n;
}

/* ---- ADD_RESERVED ---- */

static int test_add_reserved(struct iommufd_ucmd *ucmd, u32 ioas_id, u64 start,
			     u64 length)
{
	struct iommufd_ioas *ioas;
	u64 last;
	int rc;

	rc = iopt_check_iova_range(start, length, &last);
	if (rc)
		return rc;
	ioas = iommufd_get_ioas(ucmd->ctx, ioas_id);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);
	/* No owner: it stays for the life of the IOAS. */
	rc = iopt_reserve_iova(&ioas->iopt, start, last, NULL);
	iommufd_put_object(ucmd->ctx, &ioas->obj);
	return rc;
}

/* ---- MD_CHECK_REFS ---- */

static int test_md_check_refs(u64 uptr, u64 length, u32 refs)
{
	u64 pfns[CHECK_CHUNK_PAGES], counts[CHECK_CHUNK_PAGES];
	u64 end;
	int rc, err;

	if (length % PAGE_SIZE || uptr % PAGE_SIZE ||
	    __builtin_add_overflow(uptr, length, &end))
		return err_reason(-EINVAL,
				  "uptr and length must be page multiples and not wrap");
	while (length) {
		u64 n = min(length / PAGE_SIZE, (u64)CHECK_CHUNK_PAGES);
		u64 got = iommufd_test_identify_prefix(uptr, n, pfns, &err);

		rc = iopt_pin_counts(pfns, got, counts);
		if (rc)
			return rc;
		for (u64 i = 0; i != got; i++)
			if (counts[i] != refs)
				return err_reason(-EIO,
						  "page %#llx is pinned %llu times, not %u",
						  (unsigned long long)(uptr + i * PAGE_SIZE),
						  (unsigned long long)counts[i],
						  refs);
		if (err)
			return err;
		uptr += n * PAGE_SIZE;
		length -= n * PAGE_SIZE;
	}
	return 0;
}

/* ---- the fuzzers' IOVA encoding ---- */

/*
 * MOCK_FLAGS_ACCESS_SYZ: the IOVA is {u32 nth_area, u32 offset}, an
 * offset into the nth area of the access's IOAS (0 if there is none).
 */
u64 iommufd_test_syz_conv_iopt(struct io_pagetable *iopt, u64 iova)
{
	u32 nth = (u32)iova, offset = iova >> 32;
	struct iopt_area *area;
	u64 out = 0;

	pthread_rwlock_rdlock(&iopt->iova_rwsem);
	for (area = iopt_area_iter_first(iopt, 0, U64_MAX); area;
	     area = iopt_area_iter_next(area, 0, U64_MAX)) {
		if (!nth--) {
			out = iopt_area_iova(area) + offset;
			break;
		}
	}
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	return out;
}


void iommufd_test_syz_conv_iova_id(struct uiommufd_ctx *ctx, u32 ioas_id,
				   u64 *iova, u32 *flags)
{
	struct iommufd_ioas *ioas;

	*flags &= ~(u32)MOCK_FLAGS_ACCESS_SYZ;
	/* A wrong ID is left for the command itself to refuse. */
	ioas = iommufd_get_ioas(ctx, ioas_id);
	if (IS_ERR(ioas)) {
		err_reason_clear();
		return;
	}
	*iova = iommufd_test_syz_conv_iopt(&ioas->iopt, *iova);
	iommufd_put_object(ctx, &ioas->obj);
}


/* ---- the command ---- */

int iommufd_test(struct iommufd_ucmd *ucmd)
{
	struct iommu_test_cmd *cmd = ucmd->cmd;

	if (!iommufd_release_has_test_op(iommufd_release(ucmd->ctx), cmd->op)) {
		if (iommufd_release_has_test_op(iommufd_release_newest(),
						cmd->op))
			return err_reason(-EOPNOTSUPP,
					  "no test op %u in Linux %s", cmd->op,
					  iommufd_release(ucmd->ctx)->name);
		return err_reason(-EOPNOTSUPP,
				  "test op %u: not one uiommufd answers (yet), as Linux %s or any release",
				  cmd->op, iommufd_release(ucmd->ctx)->name);
	}
	switch (cmd->op) {
	case IOMMU_TEST_OP_ADD_RESERVED:
		return test_add_reserved(ucmd, cmd->id, cmd->add_reserved.start,
					 cmd->add_reserved.length);
	case IOMMU_TEST_OP_MOCK_DOMAIN:
	case IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS:
		return iommufd_test_mock_domain(ucmd, cmd);
	case IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE:
		return iommufd_test_mock_domain_replace(ucmd, cmd);
	case IOMMU_TEST_OP_MD_CHECK_MAP:
		return iommufd_test_md_check_map(ucmd, cmd);
	case IOMMU_TEST_OP_MD_CHECK_REFS:
		return test_md_check_refs(cmd->check_refs.uptr,
					  cmd->check_refs.length,
					  cmd->check_refs.refs);
	case IOMMU_TEST_OP_MD_CHECK_IOTLB:
		return iommufd_test_md_check_iotlb(ucmd, cmd);
	case IOMMU_TEST_OP_TRIGGER_IOPF:
		return iommufd_test_trigger_iopf(ucmd, cmd);
	case IOMMU_TEST_OP_TRIGGER_VEVENT:
		return iommufd_test_trigger_vevent(ucmd, cmd);
	case IOMMU_TEST_OP_DEV_CHECK_CACHE:
		return iommufd_test_dev_check_cache(ucmd, cmd);
	case IOMMU_TEST_OP_CREATE_ACCESS:
		return iommufd_test_create_access(ucmd, cmd);
	case IOMMU_TEST_OP_ACCESS_REPLACE_IOAS:
		return iommufd_test_access_replace_ioas(ucmd, cmd);
	case IOMMU_TEST_OP_DESTROY_ACCESS_PAGES:
		return iommufd_test_destroy_access_pages(ucmd, cmd);
	case IOMMU_TEST_OP_ACCESS_PAGES:
		return iommufd_test_access_pages(ucmd, cmd);
	case IOMMU_TEST_OP_ACCESS_RW:
		return iommufd_test_access_rw(ucmd, cmd);
	case IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT:
		/* The batch needs room for one run and its carry. */
		if (cmd->memory_limit.limit < 12)
			return err_reason(-EINVAL,
					  "a temporary memory limit below 12 bytes cannot hold a batch");
		iopt_set_temp_memory_limit(cmd->memory_limit.limit);
		return 0;
	case IOMMU_TEST_OP_DIRTY:
		return iommufd_test_dirty(ucmd, cmd);
	case IOMMU_TEST_OP_PASID_ATTACH:
		return iommufd_test_pasid_attach(ucmd, cmd);
	case IOMMU_TEST_OP_PASID_REPLACE:
		return iommufd_test_pasid_replace(ucmd, cmd);
	case IOMMU_TEST_OP_PASID_DETACH:
		return iommufd_test_pasid_detach(ucmd, cmd);
	case IOMMU_TEST_OP_PASID_CHECK_HWPT:
		return iommufd_test_pasid_check_hwpt(ucmd, cmd);
	case IOMMU_TEST_OP_DMABUF_GET:
		return iommufd_test_dmabuf_get(ucmd, cmd);
	case IOMMU_TEST_OP_DMABUF_REVOKE:
		return iommufd_test_dmabuf_revoke(ucmd, cmd);
	default:
		return err_reason(-EOPNOTSUPP, "unknown test op %u", cmd->op);
	}
}
