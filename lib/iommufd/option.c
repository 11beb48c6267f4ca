// SPDX-License-Identifier: MIT
/*
 * IOMMU_OPTION: the context-wide RLIMIT_MODE and the per-IOAS HUGE_PAGES.
 */
#include <errno.h>
#include <linux/capability.h>

#include "base/err_reason.h"
#include "iommufd/iommufd_private.h"
#include "iommufd/user_copy.h"

static int option_rlimit_mode(struct iommu_option *cmd,
			      struct uiommufd_ctx *ctx)
{
	int rc = 0;

	if (cmd->object_id)
		return err_reason(-EOPNOTSUPP,
				  "RLIMIT_MODE is global: object_id must be 0");
	if (cmd->op == IOMMU_OPTION_OP_GET) {
		cmd->val64 = ctx->account_mode == IOPT_PAGES_ACCOUNT_MM;
		return 0;
	}
	if (cmd->op != IOMMU_OPTION_OP_SET)
		return err_reason(-EOPNOTSUPP, "unknown option op %u", cmd->op);
	if (!iommufd_capable(ctx, CAP_SYS_RESOURCE))
		return err_reason(-EPERM,
				  "setting RLIMIT_MODE needs CAP_SYS_RESOURCE");
	pthread_mutex_lock(&ctx->lock);
	/* Pages already charged one way cannot be moved to the other. */
	if (!index_store_empty(&ctx->objects))
		rc = err_reason(-EBUSY,
				"RLIMIT_MODE can only change while the context has no objects");
	else if (cmd->val64 == 0)
		ctx->account_mode = IOPT_PAGES_ACCOUNT_USER;
	else if (cmd->val64 == 1)
		ctx->account_mode = IOPT_PAGES_ACCOUNT_MM;
	else
		rc = err_reason(-EINVAL, "RLIMIT_MODE is 0 or 1, not %llu",
				(unsigned long long)cmd->val64);
	pthread_mutex_unlock(&ctx->lock);
	return rc;
}

int iommufd_option(struct iommufd_ucmd *ucmd)
{
	struct iommu_option *cmd = ucmd->cmd;
	int rc;

	if (cmd->__reserved)
		return err_reason(-EOPNOTSUPP, "__reserved is not zero");
	switch (cmd->option_id) {
	case IOMMU_OPTION_RLIMIT_MODE:
		rc = option_rlimit_mode(cmd, ucmd->ctx);
		break;
	case IOMMU_OPTION_HUGE_PAGES:
		rc = iommufd_ioas_option(ucmd);
		break;
	default:
		return err_reason(-EOPNOTSUPP, "unknown option %u",
				  cmd->option_id);
	}
	if (rc)
		return rc;
	/* Only the value goes back, as the kernel writes it. */
	return copy_to_user(ucmd->ubuffer + offsetof(struct iommu_option, val64),
			    &cmd->val64, sizeof(cmd->val64), "val64");
}
