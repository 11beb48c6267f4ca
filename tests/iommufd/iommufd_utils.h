/* SPDX-License-Identifier: MIT */
/*
 * Helpers for tests that drive a context through uiommufd_ioctl(), the
 * way a program drives /dev/iommu: each wraps one command and returns 0
 * or -1 with errno, so tests read
 *	ASSERT_EQ(0, ioas_alloc(ctx, &ioas_id));
 *	EXPECT_ERRNO(ENOENT, ioas_unmap(ctx, ioas_id, iova, len, NULL));
 */
#ifndef UIOMMUFD_TESTS_IOMMUFD_UTILS_H
#define UIOMMUFD_TESTS_IOMMUFD_UTILS_H

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness/test.h"
#include "uiommufd/iommufd_test_uapi.h"
#include "uiommufd/iommufd_uapi.h"
#include "uiommufd/uiommufd.h"

#define TEST_PAGE_SIZE 4096UL

/* ASSERT that @call fails with @err (and records a reason). */
#define ASSERT_ERRNO(err, call)                                            \
	do {                                                               \
		errno = 0;                                                 \
		ASSERT_EQ(-1, (call));                                     \
		ASSERT_EQ((err), errno);                                   \
	} while (0)
#define EXPECT_ERRNO(err, call)                                            \
	do {                                                               \
		errno = 0;                                                 \
		EXPECT_EQ(-1, (call));                                     \
		EXPECT_EQ((err), errno);                                   \
	} while (0)

/*
 * A context opened with @flags (UIOMMUFD_CTX_VFIO) answering as @kernel
 * (0: the default) with @caps held when @set_caps.
 */
static inline struct uiommufd_ctx *ctx_open_flags_as(unsigned int flags,
						     uint32_t kernel,
						     bool set_caps,
						     uint64_t caps)
{
	struct uiommufd_ctx_attr attr = { .size = sizeof(attr),
					  .flags = flags };

	if (kernel) {
		attr.set |= UIOMMUFD_ATTR_KERNEL;
		attr.kernel = kernel;
	}
	if (set_caps) {
		attr.set |= UIOMMUFD_ATTR_CAPS;
		attr.caps = caps;
	}
	return uiommufd_ctx_open_attr(&attr);
}

/* A context answering as @kernel (0: the default) with @caps held. */
static inline struct uiommufd_ctx *ctx_open_as(uint32_t kernel, bool set_caps,
					       uint64_t caps)
{
	return ctx_open_flags_as(0, kernel, set_caps, caps);
}

#define CAP_BIT(cap) (1ull << (cap))

/* The release a context answers as (UIOMMUFD_KERNEL_*), 0 on error. */
static inline uint32_t ctx_kernel(struct uiommufd_ctx *ctx)
{
	struct uiommufd_ctx_attr attr = { .size = sizeof(attr) };

	if (uiommufd_ctx_get_attr(ctx, &attr))
		return 0;
	return attr.kernel;
}

static inline int ioctl_destroy(struct uiommufd_ctx *ctx, uint32_t id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	return uiommufd_ioctl(ctx, IOMMU_DESTROY, &cmd);
}

static inline int ioas_alloc(struct uiommufd_ctx *ctx, uint32_t *ioas_id)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	int rc = uiommufd_ioctl(ctx, IOMMU_IOAS_ALLOC, &cmd);

	if (!rc && ioas_id)
		*ioas_id = cmd.out_ioas_id;
	return rc;
}

/* Map with the kernel picking the IOVA unless @flags has FIXED_IOVA. */
static inline int ioas_map(struct uiommufd_ctx *ctx, uint32_t ioas_id,
			   void *buf, uint64_t length, uint64_t *iova,
			   uint32_t flags)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.ioas_id = ioas_id,
		.user_va = (uintptr_t)buf,
		.length = length,
		.iova = iova ? *iova : 0,
	};
	int rc = uiommufd_ioctl(ctx, IOMMU_IOAS_MAP, &cmd);

	if (!rc && iova)
		*iova = cmd.iova;
	return rc;
}

#define MAP_RW (IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE)
#define MAP_FIXED_RW (MAP_RW | IOMMU_IOAS_MAP_FIXED_IOVA)

static inline int ioas_unmap(struct uiommufd_ctx *ctx, uint32_t ioas_id,
			     uint64_t iova, uint64_t length,
			     uint64_t *unmapped)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.iova = iova,
		.length = length,
	};
	int rc = uiommufd_ioctl(ctx, IOMMU_IOAS_UNMAP, &cmd);

	if (!rc && unmapped)
		*unmapped = cmd.length;
	return rc;
}

static inline int ioas_copy(struct uiommufd_ctx *ctx, uint32_t dst_ioas_id,
			    uint32_t src_ioas_id, uint64_t src_iova,
			    uint64_t length, uint64_t *dst_iova,
			    uint32_t flags)
{
	struct iommu_ioas_copy cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.dst_ioas_id = dst_ioas_id,
		.src_ioas_id = src_ioas_id,
		.length = length,
		.dst_iova = dst_iova ? *dst_iova : 0,
		.src_iova = src_iova,
	};
	int rc = uiommufd_ioctl(ctx, IOMMU_IOAS_COPY, &cmd);

	if (!rc && dst_iova)
		*dst_iova = cmd.dst_iova;
	return rc;
}

/* Up to @cap ranges into @ranges; *num gets the real count. */
static inline int ioas_iova_ranges(struct uiommufd_ctx *ctx, uint32_t ioas_id,
				   struct iommu_iova_range *ranges,
				   uint32_t cap, uint32_t *num,
				   uint64_t *alignment)
{
	struct iommu_ioas_iova_ranges cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.num_iovas = cap,
		.allowed_iovas = (uintptr_t)ranges,
	};
	int rc = uiommufd_ioctl(ctx, IOMMU_IOAS_IOVA_RANGES, &cmd);

	if (num)
		*num = cmd.num_iovas;
	if (alignment)
		*alignment = cmd.out_iova_alignment;
	return rc;
}

static inline int ioas_allow_iovas(struct uiommufd_ctx *ctx, uint32_t ioas_id,
				   const struct iommu_iova_range *ranges,
				   uint32_t num)
{
	struct iommu_ioas_allow_iovas cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.num_iovas = num,
		.allowed_iovas = (uintptr_t)ranges,
	};

	return uiommufd_ioctl(ctx, IOMMU_IOAS_ALLOW_IOVAS, &cmd);
}

static inline int ioctl_option(struct uiommufd_ctx *ctx, uint32_t option_id,
			       uint16_t op, uint32_t object_id, uint64_t *val)
{
	struct iommu_option cmd = {
		.size = sizeof(cmd),
		.option_id = option_id,
		.op = op,
		.object_id = object_id,
		.val64 = val ? *val : 0,
	};
	int rc = uiommufd_ioctl(ctx, IOMMU_OPTION, &cmd);

	if (!rc && val)
		*val = cmd.val64;
	return rc;
}

static inline int vfio_ioas(struct uiommufd_ctx *ctx, uint16_t op,
			    uint32_t *ioas_id)
{
	struct iommu_vfio_ioas cmd = {
		.size = sizeof(cmd),
		.op = op,
		.ioas_id = ioas_id ? *ioas_id : 0,
	};
	int rc = uiommufd_ioctl(ctx, IOMMU_VFIO_IOAS, &cmd);

	if (!rc && ioas_id)
		*ioas_id = cmd.ioas_id;
	return rc;
}

/* ---- IOMMU_TEST_CMD ---- */

static inline int test_cmd(struct uiommufd_ctx *ctx, struct iommu_test_cmd *cmd)
{
	cmd->size = sizeof(*cmd);
	return uiommufd_ioctl(ctx, IOMMU_TEST_CMD, cmd);
}

/*
 * A test command zeroed whole: an initializer naming one union member
 * leaves the union's other bytes undefined (clang keeps what the stack
 * held), and under Linux 6.2 the bytes of the 72-byte struct past 56 must
 * be zero.
 */
static inline void test_cmd_init(struct iommu_test_cmd *cmd, uint32_t op,
				 uint32_t id)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->op = op;
	cmd->id = id;
}

static inline int test_add_reserved(struct uiommufd_ctx *ctx, uint32_t ioas_id,
				    uint64_t start, uint64_t length)
{
	struct iommu_test_cmd cmd;

	test_cmd_init(&cmd, IOMMU_TEST_OP_ADD_RESERVED, ioas_id);
	cmd.add_reserved.start = start;
	cmd.add_reserved.length = length;
	return test_cmd(ctx, &cmd);
}

/*
 * The 72-byte command: any of the out pointers may be NULL. Under Linux
 * 6.2 it is read as the 56-byte one: *idev_id gets 0 (not written).
 */
static inline int test_mock_domain(struct uiommufd_ctx *ctx, uint32_t pt_id,
				   uint32_t *stdev_id, uint32_t *hwpt_id,
				   uint32_t *idev_id)
{
	struct iommu_test_cmd cmd;
	int rc;

	test_cmd_init(&cmd, IOMMU_TEST_OP_MOCK_DOMAIN, pt_id);
	rc = test_cmd(ctx, &cmd);
	if (rc)
		return rc;
	if (stdev_id)
		*stdev_id = cmd.mock_domain.out_stdev_id;
	if (hwpt_id)
		*hwpt_id = cmd.mock_domain.out_hwpt_id;
	if (idev_id)
		*idev_id = cmd.mock_domain.out_idev_id;
	return 0;
}

static inline int test_check_map(struct uiommufd_ctx *ctx, uint32_t hwpt_id,
				 uint64_t iova, uint64_t length,
				 const void *uptr)
{
	struct iommu_test_cmd cmd;

	test_cmd_init(&cmd, IOMMU_TEST_OP_MD_CHECK_MAP, hwpt_id);
	cmd.check_map.iova = iova;
	cmd.check_map.length = length;
	cmd.check_map.uptr = (uintptr_t)uptr;
	return test_cmd(ctx, &cmd);
}

static inline int test_check_refs(struct uiommufd_ctx *ctx, const void *uptr,
				  uint64_t length, uint32_t refs)
{
	struct iommu_test_cmd cmd;

	test_cmd_init(&cmd, IOMMU_TEST_OP_MD_CHECK_REFS, 0);
	cmd.check_refs.length = length;
	cmd.check_refs.uptr = (uintptr_t)uptr;
	cmd.check_refs.refs = refs;
	return test_cmd(ctx, &cmd);
}

static inline int test_create_access(struct uiommufd_ctx *ctx,
				     uint32_t ioas_id, uint32_t flags,
				     int *access_fd)
{
	struct iommu_test_cmd cmd;
	int rc;

	test_cmd_init(&cmd, IOMMU_TEST_OP_CREATE_ACCESS, ioas_id);
	cmd.create_access.flags = flags;
	rc = test_cmd(ctx, &cmd);
	if (!rc)
		*access_fd = cmd.create_access.out_access_fd;
	return rc;
}

static inline int test_access_pages(struct uiommufd_ctx *ctx, int access_fd,
				    uint64_t iova, uint64_t length,
				    const void *uptr, uint32_t flags,
				    uint32_t *item_id)
{
	struct iommu_test_cmd cmd;
	int rc;

	test_cmd_init(&cmd, IOMMU_TEST_OP_ACCESS_PAGES, access_fd);
	cmd.access_pages.flags = flags;
	cmd.access_pages.iova = iova;
	cmd.access_pages.length = length;
	cmd.access_pages.uptr = (uintptr_t)uptr;
	rc = test_cmd(ctx, &cmd);
	if (!rc && item_id)
		*item_id = cmd.access_pages.out_access_pages_id;
	return rc;
}

static inline int test_destroy_access_pages(struct uiommufd_ctx *ctx,
					    int access_fd, uint32_t item_id)
{
	struct iommu_test_cmd cmd;

	test_cmd_init(&cmd, IOMMU_TEST_OP_DESTROY_ACCESS_PAGES, access_fd);
	cmd.destroy_access_pages.access_pages_id = item_id;
	return test_cmd(ctx, &cmd);
}

static inline int test_access_rw(struct uiommufd_ctx *ctx, int access_fd,
				 uint64_t iova, void *buf, uint64_t length,
				 uint32_t flags)
{
	struct iommu_test_cmd cmd;

	test_cmd_init(&cmd, IOMMU_TEST_OP_ACCESS_RW, access_fd);
	cmd.access_rw.iova = iova;
	cmd.access_rw.length = length;
	cmd.access_rw.uptr = (uintptr_t)buf;
	cmd.access_rw.flags = flags;
	return test_cmd(ctx, &cmd);
}

static inline int test_set_temp_memory_limit(struct uiommufd_ctx *ctx,
					     uint32_t limit)
{
	struct iommu_test_cmd cmd;

	test_cmd_init(&cmd, IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT, 0);
	cmd.memory_limit.limit = limit;
	return test_cmd(ctx, &cmd);
}

/* Anonymous read-write memory, populated; NULL on failure. */
/* ---- Linux 7.2: HW pagetables, devices, replace ---- */

/* MOCK_DOMAIN_FLAGS: as test_mock_domain() for a device with @dev_flags. */
static inline int test_mock_domain_flags(struct uiommufd_ctx *ctx,
					 uint32_t pt_id, uint32_t dev_flags,
					 uint32_t *stdev_id, uint32_t *hwpt_id,
					 uint32_t *idev_id)
{
	struct iommu_test_cmd cmd;
	int rc;

	test_cmd_init(&cmd, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, pt_id);
	cmd.mock_domain_flags.dev_flags = dev_flags;
	rc = test_cmd(ctx, &cmd);
	if (rc)
		return rc;
	if (stdev_id)
		*stdev_id = cmd.mock_domain_flags.out_stdev_id;
	if (hwpt_id)
		*hwpt_id = cmd.mock_domain_flags.out_hwpt_id;
	if (idev_id)
		*idev_id = cmd.mock_domain_flags.out_idev_id;
	return 0;
}

/* MOCK_DOMAIN_REPLACE: *pt_id in, the HW pagetable attached out. */
static inline int test_mock_domain_replace(struct uiommufd_ctx *ctx,
					   uint32_t stdev_id, uint32_t *pt_id)
{
	struct iommu_test_cmd cmd;
	int rc;

	test_cmd_init(&cmd, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, stdev_id);
	cmd.mock_domain_replace.pt_id = *pt_id;
	rc = test_cmd(ctx, &cmd);
	if (!rc)
		*pt_id = cmd.mock_domain_replace.pt_id;
	return rc;
}

static inline int test_access_replace_ioas(struct uiommufd_ctx *ctx,
					   int access_fd, uint32_t ioas_id)
{
	struct iommu_test_cmd cmd;

	test_cmd_init(&cmd, IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, access_fd);
	cmd.access_replace_ioas.ioas_id = ioas_id;
	return test_cmd(ctx, &cmd);
}

static inline int test_check_iotlb(struct uiommufd_ctx *ctx, uint32_t hwpt_id,
				   uint32_t iotlb_id, uint32_t iotlb)
{
	struct iommu_test_cmd cmd;

	test_cmd_init(&cmd, IOMMU_TEST_OP_MD_CHECK_IOTLB, hwpt_id);
	cmd.check_iotlb.id = iotlb_id;
	cmd.check_iotlb.iotlb = iotlb;
	return test_cmd(ctx, &cmd);
}

static inline int test_check_dev_cache(struct uiommufd_ctx *ctx,
				       uint32_t idev_id, uint32_t cache_id,
				       uint32_t cache)
{
	struct iommu_test_cmd cmd;

	test_cmd_init(&cmd, IOMMU_TEST_OP_DEV_CHECK_CACHE, idev_id);
	cmd.check_dev_cache.id = cache_id;
	cmd.check_dev_cache.cache = cache;
	return test_cmd(ctx, &cmd);
}

/*
 * IOMMU_HWPT_ALLOC of @dev_id on @pt_id with @flags and, when @data is
 * not NULL, @data_len bytes of IOMMU_HWPT_DATA_SELFTEST.
 */
static inline int hwpt_alloc(struct uiommufd_ctx *ctx, uint32_t dev_id,
			     uint32_t pt_id, uint32_t flags, const void *data,
			     uint32_t data_len, uint32_t *out_hwpt_id)
{
	struct iommu_hwpt_alloc cmd;
	int rc;

	memset(&cmd, 0, sizeof(cmd));
	cmd.size = sizeof(cmd);
	cmd.flags = flags;
	cmd.dev_id = dev_id;
	cmd.pt_id = pt_id;
	if (data) {
		cmd.data_type = IOMMU_HWPT_DATA_SELFTEST;
		cmd.data_len = data_len;
		cmd.data_uptr = (uintptr_t)data;
	}
	rc = uiommufd_ioctl(ctx, IOMMU_HWPT_ALLOC, &cmd);
	if (!rc && out_hwpt_id)
		*out_hwpt_id = cmd.out_hwpt_id;
	return rc;
}

/* A nested HW pagetable on @parent_id with every IOTLB entry @iotlb. */
static inline int hwpt_alloc_nested(struct uiommufd_ctx *ctx, uint32_t dev_id,
				    uint32_t parent_id, uint32_t iotlb,
				    uint32_t *out_hwpt_id)
{
	struct iommu_hwpt_selftest data = { .iotlb = iotlb };

	return hwpt_alloc(ctx, dev_id, parent_id, 0, &data, sizeof(data),
			  out_hwpt_id);
}

/*
 * IOMMU_HWPT_INVALIDATE of @hwpt_id with *entry_num entries of @entry_len
 * bytes at @entries; *entry_num comes back as the number handled.
 */
static inline int hwpt_invalidate(struct uiommufd_ctx *ctx, uint32_t hwpt_id,
				  uint32_t data_type, const void *entries,
				  uint32_t entry_len, uint32_t *entry_num)
{
	struct iommu_hwpt_invalidate cmd;
	int rc;

	memset(&cmd, 0, sizeof(cmd));
	cmd.size = sizeof(cmd);
	cmd.hwpt_id = hwpt_id;
	cmd.data_type = data_type;
	cmd.data_uptr = (uintptr_t)entries;
	cmd.entry_len = entry_len;
	cmd.entry_num = *entry_num;
	rc = uiommufd_ioctl(ctx, IOMMU_HWPT_INVALIDATE, &cmd);
	*entry_num = cmd.entry_num;
	return rc;
}

/* IOMMU_GET_HW_INFO of @dev_id into @data (@data_len bytes). */
static inline int get_hw_info(struct uiommufd_ctx *ctx, uint32_t dev_id,
			      void *data, uint32_t data_len,
			      struct iommu_hw_info *out)
{
	struct iommu_hw_info cmd;
	int rc;

	memset(&cmd, 0, sizeof(cmd));
	cmd.size = sizeof(cmd);
	cmd.dev_id = dev_id;
	cmd.data_len = data_len;
	cmd.data_uptr = (uintptr_t)data;
	rc = uiommufd_ioctl(ctx, IOMMU_GET_HW_INFO, &cmd);
	if (out)
		*out = cmd;
	return rc;
}

/* ---- Linux 7.2: vIOMMUs and vdevices ---- */

/* IOMMU_VIOMMU_ALLOC of the selftest type, zeroed but for the arguments. */
static inline void viommu_init(struct iommu_viommu_alloc *cmd, uint32_t dev_id,
			       uint32_t hwpt_id, const void *data,
			       uint32_t data_len)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->size = sizeof(*cmd);
	cmd->type = IOMMU_VIOMMU_TYPE_SELFTEST;
	cmd->dev_id = dev_id;
	cmd->hwpt_id = hwpt_id;
	cmd->data_len = data_len;
	cmd->data_uptr = (uintptr_t)data;
}

/* A selftest vIOMMU of @dev_id on nesting parent @hwpt_id (@data or NULL). */
static inline int viommu_alloc(struct uiommufd_ctx *ctx, uint32_t dev_id,
			       uint32_t hwpt_id,
			       struct iommu_viommu_selftest *data,
			       uint32_t *out)
{
	struct iommu_viommu_alloc cmd;
	int rc;

	viommu_init(&cmd, dev_id, hwpt_id, data, data ? sizeof(*data) : 0);
	rc = uiommufd_ioctl(ctx, IOMMU_VIOMMU_ALLOC, &cmd);
	if (!rc && out)
		*out = cmd.out_viommu_id;
	return rc;
}

static inline int vdevice_alloc(struct uiommufd_ctx *ctx, uint32_t viommu_id,
				uint32_t dev_id, uint64_t virt_id,
				uint32_t *out)
{
	struct iommu_vdevice_alloc cmd = {
		.size = sizeof(cmd),
		.viommu_id = viommu_id,
		.dev_id = dev_id,
		.virt_id = virt_id,
	};
	int rc = uiommufd_ioctl(ctx, IOMMU_VDEVICE_ALLOC, &cmd);

	if (!rc && out)
		*out = cmd.out_vdevice_id;
	return rc;
}

/* ---- Linux 7.2: PASIDs of a mock device (selftest object @stdev_id) ---- */

/*
 * PASID_ATTACH and PASID_REPLACE: *pt_id in, and out whatever the
 * command left there (the HW pagetable attached after a success, the
 * value passed after a failure).
 */
static inline int test_pasid_attach(struct uiommufd_ctx *ctx,
				    uint32_t stdev_id, uint32_t pasid,
				    uint32_t *pt_id)
{
	struct iommu_test_cmd cmd;
	int rc;

	test_cmd_init(&cmd, IOMMU_TEST_OP_PASID_ATTACH, stdev_id);
	cmd.pasid_attach.pasid = pasid;
	cmd.pasid_attach.pt_id = *pt_id;
	rc = test_cmd(ctx, &cmd);
	*pt_id = cmd.pasid_attach.pt_id;
	return rc;
}

static inline int test_pasid_replace(struct uiommufd_ctx *ctx,
				     uint32_t stdev_id, uint32_t pasid,
				     uint32_t *pt_id)
{
	struct iommu_test_cmd cmd;
	int rc;

	test_cmd_init(&cmd, IOMMU_TEST_OP_PASID_REPLACE, stdev_id);
	cmd.pasid_replace.pasid = pasid;
	cmd.pasid_replace.pt_id = *pt_id;
	rc = test_cmd(ctx, &cmd);
	*pt_id = cmd.pasid_replace.pt_id;
	return rc;
}

static inline int test_pasid_detach(struct uiommufd_ctx *ctx,
				    uint32_t stdev_id, uint32_t pasid)
{
	struct iommu_test_cmd cmd;

	test_cmd_init(&cmd, IOMMU_TEST_OP_PASID_DETACH, stdev_id);
	cmd.pasid_detach.pasid = pasid;
	return test_cmd(ctx, &cmd);
}

/* 0 when @pasid is attached to @hwpt_id (0: when it is detached). */
static inline int test_pasid_check(struct uiommufd_ctx *ctx,
				   uint32_t stdev_id, uint32_t pasid,
				   uint32_t hwpt_id)
{
	struct iommu_test_cmd cmd;

	test_cmd_init(&cmd, IOMMU_TEST_OP_PASID_CHECK_HWPT, stdev_id);
	cmd.pasid_check.pasid = pasid;
	cmd.pasid_check.hwpt_id = hwpt_id;
	return test_cmd(ctx, &cmd);
}

static inline void *test_buffer(size_t length)
{
	void *buf = mmap(NULL, length, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	return buf == MAP_FAILED ? NULL : buf;
}

/* An address that is never mapped: EFAULT bait. */
#define BAD_PTR ((void *)(uintptr_t)0x10)

/* ---- failures and their reasons ---- */

/*
 * Whether the last failing call on this thread recorded a reason that
 * contains @what ("" for any).
 */
static inline bool reason_has(const char *what)
{
	const char *why = uiommufd_last_reason();

	return why && why[0] && strstr(why, what);
}

static inline bool has_reason(void)
{
	return reason_has("");
}

/*
 * The ID the next object of @ctx gets (IDs are the lowest free): an IOAS
 * is made to see it and destroyed again. 0 if that failed. A failed
 * command that left an object behind, even one never published, moves it.
 */
static inline uint32_t hwt_next_id(struct uiommufd_ctx *ctx)
{
	uint32_t id = 0;

	if (ioas_alloc(ctx, &id))
		return 0;
	if (ioctl_destroy(ctx, id))
		return 0;
	return id;
}

/*
 * @call fails with @err and says why (uiommufd_last_reason(), read before
 * any other call into the library); the reason is logged on a mismatch.
 */
#define _HWT_FAILS(err, call, fatal)                                       \
	do {                                                               \
		int _rc, _errno;                                           \
		bool _why;                                                 \
		errno = 0;                                                 \
		_rc = (call);                                              \
		_errno = errno;                                            \
		_why = has_reason();                                   \
		if (_rc != -1 || _errno != (err))                          \
			TH_LOG("%s: rc %d errno %d (%s), want errno %d",   \
			       #call, _rc, _errno,                         \
			       _why ? uiommufd_last_reason() : "no reason", \
			       (err));                                     \
		_TEST_CMP(-1, _rc, ==, fatal);                             \
		_TEST_CMP((err), _errno, ==, fatal);                       \
		_TEST_BOOL(_why, true, fatal);                             \
	} while (0)
#define ASSERT_FAILS_WHY(err, call) _HWT_FAILS(err, call, true)
#define EXPECT_FAILS_WHY(err, call) _HWT_FAILS(err, call, false)

#endif
