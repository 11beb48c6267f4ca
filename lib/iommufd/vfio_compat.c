// SPDX-License-Identifier: MIT
/*
 * VFIO type1 container compatibility: the VFIO container requests, on
 * /dev/iommu or /dev/vfio/vfio, work on the context's compat IOAS, which
 * IOMMU_VFIO_IOAS chooses.
 *
 * Type1 (v1) may unmap part of an earlier mapping; v2 may not. Type1 is
 * emulated by turning large pages off, so every domain map call is one
 * page and any area can be cut where an unmap begins and ends.
 */
#include <errno.h>

#include "base/err_reason.h"
#include "base/mem.h"
#include "iommufd/iommufd_private.h"
#include "iommufd/user_copy.h"
#include "uiommufd/vfio_uapi.h"

#define ALIGN_UP8(x) (((x) + 7) & ~(size_t)7)

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

/* The compat IOAS with a short-term reference, or -ENODEV. */
static struct iommufd_ioas *get_compat_ioas(struct uiommufd_ctx *ctx)
{
	struct iommufd_ioas *ioas;

	pthread_mutex_lock(&ctx->lock);
	ioas = ctx->vfio_ioas;
	if (ioas)
		atomic_fetch_add(&ioas->obj.shortterm, 1);
	pthread_mutex_unlock(&ctx->lock);
	if (!ioas)
		return ERR_PTR(err_reason(-ENODEV,
					  "no IOAS is set for VFIO compatibility (IOMMU_VFIO_IOAS)"));
	return ioas;
}

/* Pitfall 18: claim only what this layer really does. */
static int vfio_check_extension(struct uiommufd_ctx *ctx, unsigned long type)
{
	switch (type) {
	case VFIO_TYPE1_IOMMU:
	case VFIO_TYPE1v2_IOMMU:
	case VFIO_UNMAP_ALL:
		return 1;
	case VFIO_DMA_CC_IOMMU: {
		struct iommufd_ioas *ioas = get_compat_ioas(ctx);

		if (IS_ERR(ioas))
			return PTR_ERR(ioas);
		/* Every mock domain is coherent with the CPU. */
		iommufd_put_object(ctx, &ioas->obj);
		return 1;
	}
	default:
		/* No no-IOMMU mode, nesting, SPAPR, EEH or vaddr updates. */
		return 0;
	}
}

static int vfio_set_iommu(struct uiommufd_ctx *ctx, unsigned long type)
{
	struct iommufd_ioas *ioas;
	int rc = 0;

	if (type != VFIO_TYPE1_IOMMU && type != VFIO_TYPE1v2_IOMMU)
		return err_reason(-EINVAL, "IOMMU type %lu is not type1 or type1v2",
				  type);
	ioas = get_compat_ioas(ctx);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);
	/* v1 unmaps inside mappings: every IO page table entry a page. */
	if (type == VFIO_TYPE1_IOMMU)
		rc = iopt_disable_large_pages(&ioas->iopt);
	iommufd_put_object(ctx, &ioas->obj);
	return rc;
}

/*
 * The page sizes every domain of the IOAS offers, as the kernel reports
 * them to VFIO: sizes below PAGE_SIZE stand as PAGE_SIZE, and the whole
 * is at least (as a number) the IOAS's IOVA alignment, which is what an
 * empty intersection reports.
 */
static u64 vfio_pagesizes(struct iommufd_ioas *ioas)
{
	struct iommufd_hwpt_paging *hwpt;
	u64 pgsizes = U64_MAX;

	pthread_mutex_lock(&ioas->mutex);
	for (hwpt = ioas->hwpt_list; hwpt; hwpt = hwpt->next)
		pgsizes &= hwpt->domain->pgsize_bitmap;
	pthread_mutex_unlock(&ioas->mutex);
	if (pgsizes & (PAGE_SIZE - 1)) {
		pgsizes &= ~(u64)(PAGE_SIZE - 1);
		pgsizes |= PAGE_SIZE;
	}
	return max(pgsizes, iopt_iova_alignment(&ioas->iopt));
}

/*
 * The capability chain after the info struct: DMA_AVAIL, then the IOVA
 * ranges. Each capability starts 8-byte aligned; bytes are written only
 * where a whole capability fits inside argsz (pitfall 16), and only
 * initialised ones.
 */
static int vfio_get_info(struct uiommufd_ctx *ctx, u64 arg)
{
	const size_t minsz = offsetof(struct vfio_iommu_type1_info, cap_offset);
	struct vfio_iommu_type1_info_cap_iova_range cap_iovas = {
		.header = { .id = VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
			    .version = 1 },
	};
	struct vfio_iommu_type1_info_dma_avail cap_dma = {
		.header = { .id = VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL,
			    .version = 1 },
		/* No limit here; the value VFIO reports by default. */
		.avail = 65535,
	};
	struct vfio_iommu_type1_info info = {};
	struct iova_range *ranges = NULL;
	struct iommufd_ioas *ioas;
	size_t copy_len, nr, dma_off, iova_off, iova_size, total;
	u32 argsz;
	int rc;

	rc = copy_from_user(&info, arg, minsz, "vfio_iommu_type1_info");
	if (rc)
		return rc;
	if (info.argsz < minsz)
		return err_reason(-EINVAL, "argsz %u is below %zu", info.argsz,
				  minsz);
	argsz = info.argsz;
	copy_len = min((size_t)argsz, sizeof(info));
	ioas = get_compat_ioas(ctx);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);

	/* Snapshot the ranges: no lock is held across the copies out. */
	ranges = iopt_usable_ranges_copy(&ioas->iopt, &nr);
	if (IS_ERR(ranges)) {
		rc = PTR_ERR(ranges);
		goto out_put;
	}
	cap_iovas.nr_iovas = nr;

	info.flags = VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS;
	info.iova_pgsizes = vfio_pagesizes(ioas);
	dma_off = sizeof(info);
	iova_off = dma_off + ALIGN_UP8(sizeof(cap_dma));
	iova_size = sizeof(cap_iovas) + nr * sizeof(struct vfio_iova_range);
	total = iova_off + ALIGN_UP8(iova_size);

	if (argsz >= dma_off + sizeof(cap_dma)) {
		if (argsz >= iova_off + iova_size)
			cap_dma.header.next = iova_off;
		rc = copy_to_user(arg + dma_off, &cap_dma, sizeof(cap_dma),
				  "the DMA_AVAIL capability");
		if (rc)
			goto out_free;
	}
	if (argsz >= iova_off + iova_size) {
		rc = copy_to_user(arg + iova_off, &cap_iovas, sizeof(cap_iovas),
				  "the IOVA_RANGE capability");
		for (size_t i = 0; !rc && i != nr; i++) {
			struct vfio_iova_range r = { ranges[i].start,
						     ranges[i].last };

			rc = copy_to_user(arg + iova_off + sizeof(cap_iovas) +
						  i * sizeof(r),
					  &r, sizeof(r), "an IOVA range");
		}
		if (rc)
			goto out_free;
	}
	/* A short buffer gets the size it needs for every capability. */
	if (argsz >= total)
		info.cap_offset = sizeof(info);
	info.argsz = total;
	rc = copy_to_user(arg, &info, copy_len, "vfio_iommu_type1_info");
out_free:
	mem_free(ranges);
out_put:
	iommufd_put_object(ctx, &ioas->obj);
	return rc;
}

static int vfio_map_dma(struct uiommufd_ctx *ctx, u64 arg)
{
	const u32 supported = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
	struct vfio_iommu_type1_dma_map map;
	struct iommufd_ioas *ioas;
	int prot = 0, rc;
	u64 iova;

	rc = copy_from_user(&map, arg, sizeof(map), "vfio_iommu_type1_dma_map");
	if (rc)
		return rc;
	if (map.argsz < sizeof(map) || (map.flags & ~supported))
		return err_reason(-EINVAL, "argsz %u below %zu or unknown flags %#x",
				  map.argsz, sizeof(map), map.flags & ~supported);
	if (map.flags & VFIO_DMA_MAP_FLAG_READ)
		prot |= IOMMU_READ;
	if (map.flags & VFIO_DMA_MAP_FLAG_WRITE)
		prot |= IOMMU_WRITE;
	ioas = get_compat_ioas(ctx);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);
	/* Charged as the context says: per process for /dev/vfio/vfio. */
	iova = map.iova;
	rc = iopt_map_user_pages(&ioas->iopt, &iova, map.vaddr, map.size, prot,
				 0, iommufd_ctx_account_mode(ctx));
	iommufd_put_object(ctx, &ioas->obj);
	return rc;
}

/* Whether any area touches [iova, iova + size). */
static bool vfio_range_mapped(struct io_pagetable *iopt, u64 iova, u64 size)
{
	u64 last;
	bool mapped;

	if (iopt_check_iova_range(iova, size, &last))
		return true;
	pthread_rwlock_rdlock(&iopt->iova_rwsem);
	mapped = iopt_area_iter_first(iopt, iova, last);
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	return mapped;
}

static int vfio_unmap_dma(struct uiommufd_ctx *ctx, u64 arg)
{
	const size_t minsz = offsetof(struct vfio_iommu_type1_dma_unmap, data);
	struct vfio_iommu_type1_dma_unmap unmap;
	struct err_reason_saved saved;
	struct iommufd_ioas *ioas;
	u64 unmapped = 0;
	int rc;

	rc = copy_from_user(&unmap, arg, minsz, "vfio_iommu_type1_dma_unmap");
	if (rc)
		return rc;
	/* No dirty bitmap (obsolete) and no vaddr updates. */
	if (unmap.argsz < minsz || (unmap.flags & ~VFIO_DMA_UNMAP_FLAG_ALL))
		return err_reason(-EINVAL, "argsz %u below %zu or unknown flags %#x",
				  unmap.argsz, minsz,
				  unmap.flags & ~VFIO_DMA_UNMAP_FLAG_ALL);
	ioas = get_compat_ioas(ctx);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);

	if (unmap.flags & VFIO_DMA_UNMAP_FLAG_ALL) {
		if (unmap.iova || unmap.size) {
			rc = err_reason(-EINVAL,
					"VFIO_DMA_UNMAP_FLAG_ALL takes iova and size 0");
			goto out_put;
		}
		rc = iopt_unmap_all(&ioas->iopt, &unmapped);
	} else {
		bool v1;

		/* Read under the lock SET_IOMMU writes it under. */
		pthread_rwlock_rdlock(&ioas->iopt.iova_rwsem);
		v1 = ioas->iopt.disable_large_pages;
		pthread_rwlock_unlock(&ioas->iopt.iova_rwsem);
		if (v1) {
			/* v1: cut where the range ends and before it begins. */
			u64 iovas[] = { unmap.iova + unmap.size - 1,
					unmap.iova - 1 };

			rc = iopt_cut_iova(&ioas->iopt, iovas,
					   unmap.iova ? 2 : 1);
			if (rc)
				goto out_put;
		}
		rc = iopt_unmap_iova(&ioas->iopt, unmap.iova, unmap.size,
				     &unmapped);
		/* Pitfall 17: an empty range is no error for VFIO. */
		err_reason_save(&saved);
		if (rc == -ENOENT && !unmapped &&
		    !vfio_range_mapped(&ioas->iopt, unmap.iova, unmap.size))
			rc = 0;
		else
			err_reason_restore(&saved);
	}
	/* Pitfall 14: the bytes unmapped go back even after a failure. */
	unmap.size = unmapped;
	if (copy_to_user(arg, &unmap, minsz, "vfio_iommu_type1_dma_unmap"))
		rc = -EFAULT;
out_put:
	iommufd_put_object(ctx, &ioas->obj);
	return rc;
}

int iommufd_vfio_ioctl(struct uiommufd_ctx *ctx, unsigned long cmd, u64 arg)
{
	switch (cmd) {
	case VFIO_GET_API_VERSION:
		return VFIO_API_VERSION;
	case VFIO_CHECK_EXTENSION:
		return vfio_check_extension(ctx, arg);
	case VFIO_SET_IOMMU:
		return vfio_set_iommu(ctx, arg);
	case VFIO_IOMMU_GET_INFO:
		return vfio_get_info(ctx, arg);
	case VFIO_IOMMU_MAP_DMA:
		return vfio_map_dma(ctx, arg);
	case VFIO_IOMMU_UNMAP_DMA:
		return vfio_unmap_dma(ctx, arg);
	default:
		return err_reason(-ENOTTY, "unknown request %#lx", cmd);
	}
}
