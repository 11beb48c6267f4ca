// SPDX-License-Identifier: MIT
/*
 * The mock nested domain (see mock_nested.h). The IOTLB entries are
 * atomics: an invalidation of all of them may race a check of one, as a
 * real IOTLB's would, and each entry reads whole.
 */
#include "domains/mock_nested.h"

#include <errno.h>
#include <stdatomic.h>

#include "base/err_reason.h"
#include "base/mem.h"

struct mock_nested_domain {
	struct iommu_domain *parent;
	atomic_uint iotlb[MOCK_NESTED_DOMAIN_IOTLB_NUM];
};

_Static_assert(MOCK_NESTED_DOMAIN_IOTLB_ID_MAX + 1 ==
		       MOCK_NESTED_DOMAIN_IOTLB_NUM,
	       "IOTLB ids run 0 to NUM - 1");

struct mock_nested_domain *mock_nested_alloc(struct iommu_domain *parent,
					     u32 iotlb)
{
	struct mock_nested_domain *nested = mem_zalloc(sizeof(*nested));

	if (!nested)
		return NULL;
	nested->parent = parent;
	for (unsigned int i = 0; i != MOCK_NESTED_DOMAIN_IOTLB_NUM; i++)
		atomic_init(&nested->iotlb[i], iotlb);
	return nested;
}

void mock_nested_free(struct mock_nested_domain *nested)
{
	mem_free(nested);
}

struct iommu_domain *mock_nested_parent(struct mock_nested_domain *nested)
{
	return nested->parent;
}

int mock_nested_invalidate(struct mock_nested_domain *nested, u32 flags,
			   u32 iotlb_id)
{
	if (flags & ~IOMMU_TEST_INVALIDATE_FLAG_ALL)
		return err_reason(-EOPNOTSUPP,
				  "unknown invalidation flags %#x",
				  flags & ~IOMMU_TEST_INVALIDATE_FLAG_ALL);
	if (iotlb_id > MOCK_NESTED_DOMAIN_IOTLB_ID_MAX)
		return err_reason(-EINVAL,
				  "IOTLB id %u is past the last, %u", iotlb_id,
				  MOCK_NESTED_DOMAIN_IOTLB_ID_MAX);
	if (!(flags & IOMMU_TEST_INVALIDATE_FLAG_ALL)) {
		atomic_store(&nested->iotlb[iotlb_id], 0);
		return 0;
	}
	for (unsigned int i = 0; i != MOCK_NESTED_DOMAIN_IOTLB_NUM; i++)
		atomic_store(&nested->iotlb[i], 0);
	return 0;
}

u32 mock_nested_iotlb(struct mock_nested_domain *nested, u32 id)
{
	return atomic_load(&nested->iotlb[id]);
}
