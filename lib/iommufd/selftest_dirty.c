// SPDX-License-Identifier: MIT
/* The test module's DIRTY op: not built yet. */
#include <errno.h>

#include "base/err_reason.h"
#include "iommufd/selftest.h"

int iommufd_test_dirty(struct iommufd_ucmd *ucmd, struct iommu_test_cmd *cmd)
{
	return err_reason(-EOPNOTSUPP, "test op DIRTY: not built yet");
}
