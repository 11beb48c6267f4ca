/* SPDX-License-Identifier: MIT */
/*
 * The mock nested domain: the first stage a device's IOMMU would walk on
 * top of its parent's translation. It translates nothing itself; what the
 * test module checks is its IOTLB, MOCK_NESTED_DOMAIN_IOTLB_NUM entries
 * set from the caller's data and cleared by invalidation.
 */
#ifndef UIOMMUFD_DOMAINS_MOCK_NESTED_H
#define UIOMMUFD_DOMAINS_MOCK_NESTED_H

#include "domains/iommu_domain.h"
#include "uiommufd/iommufd_test_uapi.h"

struct mock_nested_domain;

/*
 * A nested domain on @parent with every IOTLB entry @iotlb. NULL when out
 * of memory.
 */
struct mock_nested_domain *mock_nested_alloc(struct iommu_domain *parent,
					     u32 iotlb);
void mock_nested_free(struct mock_nested_domain *nested);
struct iommu_domain *mock_nested_parent(struct mock_nested_domain *nested);

/*
 * One invalidation request: IOTLB entry @iotlb_id, or every entry with
 * IOMMU_TEST_INVALIDATE_FLAG_ALL. -EOPNOTSUPP for unknown @flags, -EINVAL
 * for an id past MOCK_NESTED_DOMAIN_IOTLB_ID_MAX (even with ALL), as the
 * kernel's mock; nothing changes then.
 */
int mock_nested_invalidate(struct mock_nested_domain *nested, u32 flags,
			   u32 iotlb_id);

/* IOTLB entry @id (at most MOCK_NESTED_DOMAIN_IOTLB_ID_MAX). */
u32 mock_nested_iotlb(struct mock_nested_domain *nested, u32 id);

#endif
