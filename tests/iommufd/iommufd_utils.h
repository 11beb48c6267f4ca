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
static inline void *test_buffer(size_t length)
{
	void *buf = mmap(NULL, length, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	return buf == MAP_FAILED ? NULL : buf;
}

/* An address that is never mapped: EFAULT bait. */
#define BAD_PTR ((void *)(uintptr_t)0x10)

#endif
