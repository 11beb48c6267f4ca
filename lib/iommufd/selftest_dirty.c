// SPDX-License-Identifier: MIT
/*
 * The test module's DIRTY op: what a device's DMA writes would do to a
 * dirty-tracking mock domain. Bit i of the caller's bitmap marks dirty the
 * IO page table entry holding iova + i * page_size (a whole huge entry for
 * any byte of it); bits for IOVA nothing maps mark nothing but count, as
 * the kernel ignores the mock's error there.
 */
#include <errno.h>

#include "base/err_reason.h"
#include "base/mem.h"
#include "base/overflow.h"
#include "base/warn.h"
#include "domains/mock_domain.h"
#include "iommufd/selftest.h"
#include "iommufd/user_copy.h"

/* The kernel's bound: a bitmap of at most 16 MiB. */
#define DIRTY_MAX_BITS (16ULL * 1024 * 1024 * 8)

static u64 count_bits(const u64 *bits, u64 nbits)
{
	u64 count = 0, word;

	for (word = 0; word * 64 < nbits; word++) {
		u64 w = bits[word];

		if (nbits - word * 64 < 64)
			w &= ~0ULL >> (64 - (nbits - word * 64));
		count += __builtin_popcountll(w);
	}
	return count;
}

/* The kernel's argument checks, in one: -EINVAL with what is wrong. */
static int dirty_check_args(u64 iova, u64 length, u64 page_size, u64 uptr)
{
	if (!page_size)
		return err_reason(-EINVAL, "DIRTY: page size 0");
	if (!length)
		return err_reason(-EINVAL, "DIRTY: length 0");
	if (iova % page_size || length % page_size)
		return err_reason(-EINVAL,
				  "DIRTY: iova %#llx or length %#llx is not a multiple of the page size %#llx",
				  (unsigned long long)iova,
				  (unsigned long long)length,
				  (unsigned long long)page_size);
	if (!uptr)
		return err_reason(-EINVAL, "DIRTY: no bitmap (uptr 0)");
	return 0;
}

int iommufd_test_dirty(struct iommufd_ucmd *ucmd, struct iommu_test_cmd *cmd)
{
	u64 iova = cmd->dirty.iova, length = cmd->dirty.length;
	u64 page_size = cmd->dirty.page_size, uptr = cmd->dirty.uptr;
	struct iommufd_hwpt_paging *hwpt;
	u64 nbits, last, nr_set, *bits;
	int rc;

	rc = dirty_check_args(iova, length, page_size, uptr);
	if (rc)
		return rc;
	nbits = length / page_size;
	if (nbits > DIRTY_MAX_BITS)
		return err_reason(-EOVERFLOW,
				  "DIRTY: %llu bits, more than the %llu the test module takes",
				  (unsigned long long)nbits, DIRTY_MAX_BITS);
	/* The kernel would go on and mark wrapped, low IOVA. */
	if (check_range_last(iova, length, &last))
		return err_reason(-EOVERFLOW,
				  "DIRTY: iova %#llx + length %#llx wraps past the top",
				  (unsigned long long)iova,
				  (unsigned long long)length);

	hwpt = iommufd_get_hwpt_paging(ucmd->ctx, cmd->id);
	if (IS_ERR(hwpt))
		return PTR_ERR(hwpt);
	if (!is_mock_domain(hwpt->domain)) {
		rc = err_reason(-EINVAL, "DIRTY: HW pagetable %u is not a mock domain",
				cmd->id);
		goto out_put;
	}
	if (!mock_domain_dirty_tracking(hwpt->domain)) {
		rc = err_reason(-EINVAL,
				"DIRTY: dirty tracking is not enabled on HW pagetable %u",
				cmd->id);
		goto out_put;
	}

	bits = mem_calloc(nbits / 64 + !!(nbits % 64), sizeof(u64));
	if (!bits) {
		rc = -ENOMEM;
		goto out_put;
	}
	rc = copy_from_user(bits, uptr, nbits / 8 + !!(nbits % 8),
			    "the DIRTY bitmap");
	if (rc)
		goto out_free;
	/*
	 * The count is the bits set, known before marking: the reply goes
	 * first, so a caller that cannot take it finds nothing marked.
	 */
	cmd->dirty.out_nr_dirty = count_bits(bits, nbits);
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc)
		goto out_free;
	/* Only fails if tracking was turned off since the check above. */
	rc = mock_domain_set_dirty_bitmap(hwpt->domain, iova, page_size, bits,
					  nbits, &nr_set);
	WARN_ON(!rc && nr_set != cmd->dirty.out_nr_dirty);
out_free:
	mem_free(bits);
out_put:
	iommufd_put_object(ucmd->ctx, &hwpt->common.obj);
	return rc;
}
