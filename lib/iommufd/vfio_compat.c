// SPDX-License-Identifier: MIT
/*
 * VFIO container compatibility on a context: IOMMU_VFIO_IOAS chooses the
 * IOAS the VFIO type1 requests work on.
 *
 * The type1 requests themselves are not built yet: every request below
 * iommufd's command base is unknown (ENOTTY), which is what a kernel built
 * without its VFIO container support answers.
 */
#include <errno.h>

#include "base/err_reason.h"
#include "iommufd/iommufd_private.h"

int iommufd_vfio_ioas(struct iommufd_ucmd *ucmd)
{
	struct iommu_vfio_ioas *cmd = ucmd->cmd;
	struct uiommufd_ctx *ctx = ucmd->ctx;
	struct iommufd_ioas *ioas;

	if (cmd->__reserved)
		return err_reason(-EOPNOTSUPP, "__reserved is not zero");
	switch (cmd->op) {
	case IOMMU_VFIO_IOAS_GET:
		pthread_mutex_lock(&ctx->lock);
		ioas = ctx->vfio_ioas;
		if (ioas)
			cmd->ioas_id = ioas->obj.id;
		pthread_mutex_unlock(&ctx->lock);
		if (!ioas)
			return err_reason(-ENODEV,
					  "no IOAS is set for VFIO compatibility");
		return iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	case IOMMU_VFIO_IOAS_SET:
		ioas = iommufd_get_ioas(ctx, cmd->ioas_id);
		if (IS_ERR(ioas))
			return PTR_ERR(ioas);
		pthread_mutex_lock(&ctx->lock);
		ctx->vfio_ioas = ioas;
		pthread_mutex_unlock(&ctx->lock);
		iommufd_put_object(ctx, &ioas->obj);
		return 0;
	case IOMMU_VFIO_IOAS_CLEAR:
		pthread_mutex_lock(&ctx->lock);
		ctx->vfio_ioas = NULL;
		pthread_mutex_unlock(&ctx->lock);
		return 0;
	default:
		return err_reason(-EOPNOTSUPP, "unknown VFIO_IOAS op %u",
				  cmd->op);
	}
}

int iommufd_vfio_ioctl(struct uiommufd_ctx *ctx, unsigned long cmd, u64 arg)
{
	return err_reason(-ENOTTY, "unknown request %#lx", cmd);
}
