// SPDX-License-Identifier: MIT
/* The test module's dma-bufs: not built yet. */
#include <errno.h>

#include "base/err_reason.h"
#include "iommufd/selftest.h"

int iommufd_test_dmabuf_get(struct iommufd_ucmd *ucmd,
			    struct iommu_test_cmd *cmd)
{
	return err_reason(-EOPNOTSUPP, "test op DMABUF_GET: not built yet");
}

int iommufd_test_dmabuf_revoke(struct iommufd_ucmd *ucmd,
			       struct iommu_test_cmd *cmd)
{
	return err_reason(-EOPNOTSUPP, "test op DMABUF_REVOKE: not built yet");
}
