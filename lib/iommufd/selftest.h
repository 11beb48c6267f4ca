/* SPDX-License-Identifier: MIT */
/*
 * The test module's parts (selftest*.c) and what they share. Each op
 * handler takes the command in flight; the dispatch in selftest.c has
 * already checked the op against the context's release.
 */
#ifndef UIOMMUFD_IOMMUFD_SELFTEST_H
#define UIOMMUFD_IOMMUFD_SELFTEST_H

#include "iommufd/iommufd_private.h"
#include "uiommufd/iommufd_test_uapi.h"

/* Checks walk the user range this many pages at a time. */
#define CHECK_CHUNK_PAGES 256
/* The kernel's bound on what ACCESS_PAGES and ACCESS_RW will take. */
#define ACCESS_MAX_LENGTH (16ULL * 1024 * 1024)

/*
 * Identify up to @n readable pages at @addr, as get_user_pages() would
 * look at them one by one: returns how many were identified, all of them
 * or those before the first that cannot be (whose error goes in *err).
 */
u64 iommufd_test_identify_prefix(u64 addr, u64 n, u64 *pfns, int *err);

/* MOCK_FLAGS_ACCESS_SYZ's {u32 nth area, u32 offset} made an IOVA. */
u64 iommufd_test_syz_conv_iopt(struct io_pagetable *iopt, u64 iova);

/* selftest_device.c */
int iommufd_test_mock_domain(struct iommufd_ucmd *ucmd,
			     struct iommu_test_cmd *cmd);
int iommufd_test_mock_domain_replace(struct iommufd_ucmd *ucmd,
				     struct iommu_test_cmd *cmd);
int iommufd_test_md_check_map(struct iommufd_ucmd *ucmd,
			      struct iommu_test_cmd *cmd);
int iommufd_test_md_check_iotlb(struct iommufd_ucmd *ucmd,
				struct iommu_test_cmd *cmd);
int iommufd_test_dev_check_cache(struct iommufd_ucmd *ucmd,
				 struct iommu_test_cmd *cmd);
/*
 * The device of selftest object @id, whose short-term reference goes in
 * *obj (put it when done): ERR_PTR(-ENOENT).
 */
struct iommufd_device *iommufd_test_get_stdev(struct uiommufd_ctx *ctx,
					      u32 id,
					      struct iommufd_object **obj);

/* selftest_pasid.c */
int iommufd_test_pasid_attach(struct iommufd_ucmd *ucmd,
			      struct iommu_test_cmd *cmd);
int iommufd_test_pasid_replace(struct iommufd_ucmd *ucmd,
			       struct iommu_test_cmd *cmd);
int iommufd_test_pasid_detach(struct iommufd_ucmd *ucmd,
			      struct iommu_test_cmd *cmd);
int iommufd_test_pasid_check_hwpt(struct iommufd_ucmd *ucmd,
				  struct iommu_test_cmd *cmd);

/*
 * selftest_events.c: TRIGGER_IOPF raises an IO page fault of a device,
 * TRIGGER_VEVENT an event of its vdevice on the vIOMMU it is attached
 * through.
 */
int iommufd_test_trigger_iopf(struct iommufd_ucmd *ucmd,
			      struct iommu_test_cmd *cmd);
int iommufd_test_trigger_vevent(struct iommufd_ucmd *ucmd,
				struct iommu_test_cmd *cmd);

/* selftest_access.c */
int iommufd_test_create_access(struct iommufd_ucmd *ucmd,
			       struct iommu_test_cmd *cmd);
int iommufd_test_destroy_access_pages(struct iommufd_ucmd *ucmd,
				      struct iommu_test_cmd *cmd);
int iommufd_test_access_pages(struct iommufd_ucmd *ucmd,
			      struct iommu_test_cmd *cmd);
int iommufd_test_access_rw(struct iommufd_ucmd *ucmd,
			   struct iommu_test_cmd *cmd);
int iommufd_test_access_replace_ioas(struct iommufd_ucmd *ucmd,
				     struct iommu_test_cmd *cmd);

/* selftest_dirty.c: DIRTY marks IOVA of a mock domain dirty. */
int iommufd_test_dirty(struct iommufd_ucmd *ucmd, struct iommu_test_cmd *cmd);

/* selftest_dmabuf.c: a dma-buf of test memory, and its revocation. */
int iommufd_test_dmabuf_get(struct iommufd_ucmd *ucmd,
			    struct iommu_test_cmd *cmd);
int iommufd_test_dmabuf_revoke(struct iommufd_ucmd *ucmd,
			       struct iommu_test_cmd *cmd);

#endif
