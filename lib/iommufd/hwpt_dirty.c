// SPDX-License-Identifier: MIT
/* Dirty tracking commands: not built yet. */
#include <errno.h>

#include "base/err_reason.h"
#include "iommufd/iommufd_private.h"

int iommufd_hwpt_set_dirty_tracking(struct iommufd_ucmd *ucmd)
{
	return err_reason(-EOPNOTSUPP, "not built yet");
}

int iommufd_hwpt_get_dirty_bitmap(struct iommufd_ucmd *ucmd)
{
	return err_reason(-EOPNOTSUPP, "not built yet");
}
