// SPDX-License-Identifier: MIT
/*
 * Moving things between IO address spaces without a moment detached:
 * MOCK_DOMAIN_REPLACE (a device between IOASes and HW pagetables, paging
 * and nested), MOCK_DOMAIN_FLAGS and DEV_CHECK_CACHE (what the mock
 * device is), ACCESS_REPLACE_IOAS and uiommufd_access_replace() (an
 * access between IOASes, its pins dropped through its unmap callback),
 * and both under threads.
 *
 * The kernel is the reference: iommufd_device_change_pt,
 * iommufd_device_do_replace and iommufd_device_auto_get_domain in
 * drivers/iommu/iommufd/device.c (an auto HW pagetable goes with its last
 * device; a replace to the HW pagetable already attached changes nothing;
 * a replace to an IOAS never picks a HW pagetable the caller allocated),
 * iommufd_access_change_ioas there, and the test driver's
 * mock_domain_nop_attach (a device without dirty tracking cannot attach
 * to a dirty tracking domain: EINVAL), mock_dev_create (unknown device
 * flags: EINVAL) and iommufd_test_dev_check_cache in selftest.c.
 *
 * Why a test cannot replace a device that is not attached: the test
 * module's device exists only attached. MOCK_DOMAIN attaches it before
 * the selftest object is published (a failed attach unbinds it and
 * leaves no object), it stays attached until the selftest object is
 * destroyed, and MOCK_DOMAIN_REPLACE holds the selftest object, not the
 * device, so a destroy waits for the replace and a replace after the
 * destroy finds no object (ENOENT). The kernel's replace refuses a
 * detached device with EINVAL; no ABI call reaches that.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "iommufd/iommufd_utils.h"

#define PG TEST_PAGE_SIZE
#define BUF_PAGES 16
#define BUF_LEN (BUF_PAGES * PG)
#define IOVA1 MOCK_APERTURE_START
#define IOVA2 (MOCK_APERTURE_START + 0x400000)
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif
#define NEEDS_PIN MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES
#define CACHE_DEFAULT IOMMU_TEST_DEV_CACHE_DEFAULT
#define NEST_PARENT IOMMU_HWPT_ALLOC_NEST_PARENT

/* ---- the fixture: two IOASes with a mapping each, a device on one ---- */

FIXTURE(rep)
{
	struct uiommufd_ctx *ctx;
	uint8_t *buf1, *buf2;
	uint32_t ioas1, ioas2;
	uint32_t stdev, auto1, idev;
	int afd;
};

static void fill(uint8_t *buf, size_t len, unsigned int seed)
{
	for (size_t i = 0; i != len; i++)
		buf[i] = (uint8_t)(i * 13 + seed + (i >> 12));
}

FIXTURE_SETUP(rep)
{
	uint64_t iova;

	self->afd = -1;
	self->buf1 = test_buffer(BUF_LEN);
	self->buf2 = test_buffer(BUF_LEN);
	ASSERT_NONNULL(self->buf1);
	ASSERT_NONNULL(self->buf2);
	fill(self->buf1, BUF_LEN, 1);
	fill(self->buf2, BUF_LEN, 77);
	self->ctx = ctx_open_as(UIOMMUFD_KERNEL_7_2, false, 0);
	ASSERT_NONNULL(self->ctx);
	ASSERT_EQ(0, ioas_alloc(self->ctx, &self->ioas1));
	ASSERT_EQ(0, ioas_alloc(self->ctx, &self->ioas2));
	iova = IOVA1;
	ASSERT_EQ(0, ioas_map(self->ctx, self->ioas1, self->buf1, BUF_LEN,
			      &iova, MAP_FIXED_RW));
	iova = IOVA2;
	ASSERT_EQ(0, ioas_map(self->ctx, self->ioas2, self->buf2, BUF_LEN,
			      &iova, MAP_FIXED_RW));
	ASSERT_EQ(0, test_mock_domain(self->ctx, self->ioas1, &self->stdev,
				      &self->auto1, &self->idev));
}

FIXTURE_TEARDOWN(rep)
{
	struct uiommufd_ctx *ctx;

	if (self->afd >= 0)
		EXPECT_EQ(0, uiommufd_fd_close(self->afd));
	uiommufd_ctx_close(self->ctx);
	ctx = uiommufd_ctx_open(0);
	EXPECT_NE(NULL, ctx);
	if (ctx) {
		EXPECT_EQ(0, test_check_refs(ctx, self->buf1, BUF_LEN, 0));
		EXPECT_EQ(0, test_check_refs(ctx, self->buf2, BUF_LEN, 0));
		uiommufd_ctx_close(ctx);
	}
	munmap(self->buf1, BUF_LEN);
	munmap(self->buf2, BUF_LEN);
}

#define CTX (self->ctx)

static uint32_t hwpt_on(struct _fixture_data_rep *self, uint32_t pt_id,
			uint32_t flags)
{
	uint32_t id = 0;
	int rc = hwpt_alloc(CTX, self->idev, pt_id, flags, NULL, 0, &id);

	if (rc)
		TH_LOG("HWPT_ALLOC on %u flags %#x: errno %d (%s)", pt_id,
		       flags, errno, uiommufd_last_reason());
	ASSERT_EQ(0, rc);
	return id;
}

static uint32_t nested_on(struct _fixture_data_rep *self, uint32_t parent)
{
	uint32_t id = 0;

	ASSERT_EQ(0, hwpt_alloc_nested(CTX, self->idev, parent,
				       IOMMU_TEST_IOTLB_DEFAULT, &id));
	return id;
}

/* Replace the fixture's device onto @pt_id: the HW pagetable it got. */
static uint32_t move_to(struct _fixture_data_rep *self, uint32_t stdev,
			uint32_t pt_id)
{
	uint32_t id = pt_id;
	int rc = test_mock_domain_replace(CTX, stdev, &id);

	if (rc)
		TH_LOG("replace %u onto %u: errno %d (%s)", stdev, pt_id,
		       errno, uiommufd_last_reason());
	ASSERT_EQ(0, rc);
	ASSERT_NE(0, id);
	return id;
}

/* ==== MOCK_DOMAIN_REPLACE ==== */

/*
 * IOAS -> paging -> nested -> another IOAS -> back: each step answers
 * with the HW pagetable attached, maps what its IOAS maps, and lets the
 * one before go (an auto one goes with it).
 */
TEST_F(rep, replace_chain)
{
	uint32_t parent = hwpt_on(self, self->ioas1, NEST_PARENT);
	uint32_t n = nested_on(self, parent), auto2, auto1b;

	ASSERT_EQ(parent, move_to(self, self->stdev, parent));
	/* The auto one had only this device. */
	EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(CTX, self->auto1));
	EXPECT_FAILS_WHY(ENOENT, test_check_map(CTX, self->auto1, IOVA1, PG,
						self->buf1));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, parent));
	ASSERT_EQ(0, test_check_map(CTX, parent, IOVA1, BUF_LEN, self->buf1));

	ASSERT_EQ(n, move_to(self, self->stdev, n));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, n));
	/* Held by n now, not by the device. */
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, parent));

	auto2 = move_to(self, self->stdev, self->ioas2);
	EXPECT_NE(parent, auto2);
	EXPECT_NE(n, auto2);
	EXPECT_NE(self->ioas2, auto2);
	ASSERT_EQ(0, test_check_map(CTX, auto2, IOVA2, BUF_LEN, self->buf2));
	/* ioas1's mapping is not in it. */
	EXPECT_FAILS_WHY(EINVAL, test_check_map(CTX, auto2, IOVA1, PG,
						self->buf1));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->ioas2));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, auto2));

	/* Back to ioas1: a new auto one there, auto2 gone. */
	auto1b = move_to(self, self->stdev, self->ioas1);
	EXPECT_NE(parent, auto1b);
	EXPECT_NE(auto2, auto1b);
	ASSERT_EQ(0, test_check_map(CTX, auto1b, IOVA1, BUF_LEN, self->buf1));
	EXPECT_FAILS_WHY(ENOENT, test_check_map(CTX, auto2, IOVA2, PG,
						self->buf2));
	/* Nothing holds what the device left: destroy in any order. */
	ASSERT_EQ(0, ioctl_destroy(CTX, self->ioas2));
	ASSERT_EQ(0, ioctl_destroy(CTX, n));
	ASSERT_EQ(0, ioctl_destroy(CTX, parent));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->ioas1));
	ASSERT_EQ(0, test_check_refs(CTX, self->buf1, BUF_LEN, 1));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->stdev));
	EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(CTX, auto1b));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->ioas1));
	ASSERT_EQ(0, test_check_refs(CTX, self->buf1, BUF_LEN, 0));
	ASSERT_EQ(0, test_check_refs(CTX, self->buf2, BUF_LEN, 0));
}

/*
 * To the HW pagetable already attached: nothing changes and its ID
 * comes back; to the IOAS whose auto HW pagetable it is on: that one.
 */
TEST_F(rep, replace_same_is_a_no_op)
{
	uint32_t hw = hwpt_on(self, self->ioas1, 0), next;

	for (int i = 0; i != 3; i++) {
		EXPECT_EQ(self->auto1, move_to(self, self->stdev, self->auto1));
		EXPECT_EQ(self->auto1, move_to(self, self->stdev, self->ioas1));
	}
	/* Replacing made no object: the next ID is after hw's. */
	next = hwt_next_id(CTX);
	EXPECT_EQ(hw + 1, next);
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->auto1));
	ASSERT_EQ(0, test_check_map(CTX, self->auto1, IOVA1, BUF_LEN,
				    self->buf1));
	for (int i = 0; i != 3; i++)
		EXPECT_EQ(hw, move_to(self, self->stdev, hw));
	/* auto1 went, and with it only its ID. */
	EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(CTX, self->auto1));
	EXPECT_EQ(self->auto1, hwt_next_id(CTX));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->stdev));
	ASSERT_EQ(0, ioctl_destroy(CTX, hw));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->ioas1));
}

/* A replace to an IOAS never picks a HW pagetable the caller made. */
TEST_F(rep, replace_to_ioas_makes_an_auto_one)
{
	uint32_t hw = hwpt_on(self, self->ioas1, 0), got;

	ASSERT_EQ(hw, move_to(self, self->stdev, hw));
	got = move_to(self, self->stdev, self->ioas1);
	EXPECT_NE(hw, got);
	EXPECT_NE(self->ioas1, got);
	ASSERT_EQ(0, test_check_map(CTX, got, IOVA1, BUF_LEN, self->buf1));
	/* hw is free; got is the device's and goes with it. */
	ASSERT_EQ(0, ioctl_destroy(CTX, hw));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, got));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->stdev));
	EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(CTX, got));
}

/*
 * An auto HW pagetable shared by two devices stays while one is left on
 * it, and goes with the last; both end on one auto HW pagetable of the
 * other IOAS.
 */
TEST_F(rep, replace_shared_auto_hwpt)
{
	uint32_t st2 = 0, hw2 = 0, a, b;

	ASSERT_EQ(0, test_mock_domain(CTX, self->ioas1, &st2, &hw2, NULL));
	ASSERT_EQ(self->auto1, hw2);
	a = move_to(self, self->stdev, self->ioas2);
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->auto1));
	ASSERT_EQ(0, test_check_map(CTX, self->auto1, IOVA1, BUF_LEN,
				    self->buf1));
	b = move_to(self, st2, self->ioas2);
	EXPECT_EQ(a, b);
	EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(CTX, self->auto1));
	ASSERT_EQ(0, test_check_refs(CTX, self->buf1, BUF_LEN, 0));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->ioas1));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->stdev));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->ioas2));
	ASSERT_EQ(0, ioctl_destroy(CTX, st2));
	EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(CTX, a));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->ioas2));
}

/*
 * The users of the HW pagetable left are released: two devices on a
 * paging HW pagetable leave it one after the other, and then it and its
 * IOAS go.
 */
TEST_F(rep, replace_releases_the_old_hwpt)
{
	uint32_t hw = hwpt_on(self, self->ioas1, 0), st2 = 0;

	ASSERT_EQ(0, test_mock_domain(CTX, hw, &st2, NULL, NULL));
	ASSERT_EQ(hw, move_to(self, self->stdev, hw));
	EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(CTX, self->auto1));
	move_to(self, self->stdev, self->ioas2);
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, hw));
	move_to(self, st2, self->ioas2);
	ASSERT_EQ(0, ioctl_destroy(CTX, hw));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->ioas1));
	ASSERT_EQ(0, test_check_refs(CTX, self->buf1, BUF_LEN, 0));
}

/* After a replace the new IOAS's maps and unmaps reach the device's. */
TEST_F(rep, replace_follows_the_new_ioas)
{
	uint8_t *buf3 = test_buffer(4 * PG);
	uint64_t iova = IOVA2 + BUF_LEN, unmapped = 0;
	uint32_t a;

	ASSERT_NONNULL(buf3);
	a = move_to(self, self->stdev, self->ioas2);
	ASSERT_EQ(0, ioas_map(CTX, self->ioas2, buf3, 4 * PG, &iova,
			      MAP_FIXED_RW));
	ASSERT_EQ(0, test_check_map(CTX, a, iova, 4 * PG, buf3));
	/* ioas1 is no longer its business. */
	ASSERT_EQ(0, ioas_unmap(CTX, self->ioas1, 0, UINT64_MAX, &unmapped));
	EXPECT_EQ(BUF_LEN, unmapped);
	ASSERT_EQ(0, test_check_map(CTX, a, IOVA2, BUF_LEN, self->buf2));
	ASSERT_EQ(0, ioas_unmap(CTX, self->ioas2, iova, 4 * PG, &unmapped));
	EXPECT_FAILS_WHY(EINVAL, test_check_map(CTX, a, iova, PG, buf3));
	ASSERT_EQ(0, test_check_refs(CTX, buf3, 4 * PG, 0));
	munmap(buf3, 4 * PG);
}

/*
 * A device without dirty tracking onto a dirty tracking HW pagetable:
 * the mock driver refuses the attach (EINVAL) and the device stays where
 * it was, the target not held. A nested one on a dirty tracking parent
 * takes it.
 */
TEST_F(rep, replace_no_dirty_onto_dirty)
{
	uint32_t dirty = hwpt_on(self, self->ioas2,
				 IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
	uint32_t parent = hwpt_on(self, self->ioas2,
				  IOMMU_HWPT_ALLOC_NEST_PARENT |
					  IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
	uint32_t n = nested_on(self, parent), nd = 0, nd_hw = 0, next, pt;
	struct iommu_test_cmd cmd;

	ASSERT_EQ(0, test_mock_domain_flags(CTX, self->ioas1,
					    MOCK_FLAGS_DEVICE_NO_DIRTY, &nd,
					    &nd_hw, NULL));
	/* Auto HW pagetables track no dirty IOVA: it shares the first. */
	ASSERT_EQ(self->auto1, nd_hw);
	next = hwt_next_id(CTX);
	for (int i = 0; i != 2; i++) {
		const uint32_t targets[] = { dirty, parent };

		test_cmd_init(&cmd, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, nd);
		cmd.mock_domain_replace.pt_id = targets[i];
		EXPECT_FAILS_WHY(EINVAL, test_cmd(CTX, &cmd));
		EXPECT_EQ(targets[i], cmd.mock_domain_replace.pt_id);
	}
	EXPECT_EQ(next, hwt_next_id(CTX));
	/* Still on auto1: it stays after the other device leaves. */
	ASSERT_EQ(0, ioctl_destroy(CTX, self->stdev));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->auto1));
	ASSERT_EQ(0, test_check_map(CTX, self->auto1, IOVA1, BUF_LEN,
				    self->buf1));
	/* The refused target holds no reference of it. */
	ASSERT_EQ(0, ioctl_destroy(CTX, dirty));

	pt = n;
	ASSERT_EQ(0, test_mock_domain_replace(CTX, nd, &pt));
	EXPECT_EQ(n, pt);
	EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(CTX, self->auto1));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, n));
	ASSERT_EQ(0, ioctl_destroy(CTX, nd));
	ASSERT_EQ(0, ioctl_destroy(CTX, n));
	ASSERT_EQ(0, ioctl_destroy(CTX, parent));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->ioas2));
}

/*
 * Targets that are not there or not a HW pagetable or IOAS: ENOENT and
 * EINVAL, with the device where it was and pt_id not written.
 */
TEST_F(rep, replace_bad_target)
{
	const struct uiommufd_access_ops ops = { 0 };
	struct uiommufd_access *access;
	uint32_t access_id = 0;
	struct iommu_test_cmd cmd;

	access = uiommufd_access_create(CTX, self->ioas2, &ops, NULL,
					&access_id);
	ASSERT_NONNULL(access);
	{
		const struct {
			uint32_t id;
			int err;
		} bad[] = {
			{ 0, ENOENT },	   { 4096, ENOENT },
			{ UINT32_MAX, ENOENT }, { self->idev, EINVAL },
			{ self->stdev, EINVAL }, { access_id, EINVAL },
		};

		for (unsigned int i = 0; i != ARRAY_SIZE(bad); i++) {
			test_cmd_init(&cmd, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
				      self->stdev);
			cmd.mock_domain_replace.pt_id = bad[i].id;
			EXPECT_FAILS_WHY(bad[i].err, test_cmd(CTX, &cmd));
			EXPECT_EQ(bad[i].id, cmd.mock_domain_replace.pt_id);
		}
	}
	/*
	 * An IOAS whose area lies past the mock aperture cannot have a
	 * mock domain: the new auto HW pagetable fails (EADDRINUSE, as the
	 * kernel's iopt_reserve_iova), and that is all that happens.
	 */
	{
		uint64_t iova = 1ull << 32;
		uint32_t far = 0, next;

		ASSERT_EQ(0, ioas_alloc(CTX, &far));
		ASSERT_EQ(0, ioas_map(CTX, far, self->buf2, PG, &iova,
				      MAP_FIXED_RW));
		next = hwt_next_id(CTX);
		test_cmd_init(&cmd, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
			      self->stdev);
		cmd.mock_domain_replace.pt_id = far;
		EXPECT_FAILS_WHY(EADDRINUSE, test_cmd(CTX, &cmd));
		EXPECT_EQ(far, cmd.mock_domain_replace.pt_id);
		EXPECT_EQ(next, hwt_next_id(CTX));
		ASSERT_EQ(0, ioctl_destroy(CTX, far));
	}
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->auto1));
	ASSERT_EQ(0, test_check_map(CTX, self->auto1, IOVA1, BUF_LEN,
				    self->buf1));
	uiommufd_access_destroy(access);
	ASSERT_EQ(0, ioctl_destroy(CTX, self->stdev));
	EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(CTX, self->auto1));
}

/*
 * The command's id must be a selftest device object: anything else,
 * the device's own idev included, is ENOENT. Once the selftest object
 * is gone so is its device, which therefore never is seen detached.
 */
TEST_F(rep, replace_needs_a_selftest_device)
{
	const uint32_t bad[] = { 0, self->ioas1, self->idev, self->auto1,
				 4096 };
	uint32_t pt;

	for (unsigned int i = 0; i != ARRAY_SIZE(bad); i++) {
		pt = self->ioas2;
		EXPECT_FAILS_WHY(ENOENT, test_mock_domain_replace(CTX, bad[i],
								  &pt));
		EXPECT_EQ(self->ioas2, pt);
	}
	ASSERT_EQ(0, ioctl_destroy(CTX, self->stdev));
	pt = self->ioas2;
	EXPECT_FAILS_WHY(ENOENT, test_mock_domain_replace(CTX, self->stdev,
							  &pt));
	/* Nothing was attached to ioas2 by it. */
	ASSERT_EQ(0, ioctl_destroy(CTX, self->ioas2));
}

/*
 * The answer cannot be written back: as the kernel, the device has
 * moved all the same (EFAULT says only that pt_id did not come back).
 * A MOCK_DOMAIN_FLAGS whose answer cannot be written is undone.
 */
TEST_F(rep, replace_answer_unwritable)
{
	struct iommu_test_cmd cmd, *ro;
	uint32_t next;

	test_cmd_init(&cmd, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, self->stdev);
	cmd.size = sizeof(cmd);
	cmd.mock_domain_replace.pt_id = self->ioas2;
	ro = mmap(NULL, PG, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, (void *)ro);
	memcpy(ro, &cmd, sizeof(cmd));
	ASSERT_EQ(0, mprotect(ro, PG, PROT_READ));
	EXPECT_FAILS_WHY(EFAULT, uiommufd_ioctl(CTX, IOMMU_TEST_CMD, ro));
	EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(CTX, self->auto1));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->ioas2));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->ioas1));

	ASSERT_EQ(0, mprotect(ro, PG, PROT_READ | PROT_WRITE));
	test_cmd_init(ro, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, self->ioas2);
	ro->size = sizeof(*ro);
	ro->mock_domain_flags.dev_flags = MOCK_FLAGS_DEVICE_PASID;
	ASSERT_EQ(0, mprotect(ro, PG, PROT_READ));
	next = hwt_next_id(CTX);
	EXPECT_FAILS_WHY(EFAULT, uiommufd_ioctl(CTX, IOMMU_TEST_CMD, ro));
	EXPECT_EQ(next, hwt_next_id(CTX));
	munmap(ro, PG);
	ASSERT_EQ(0, ioctl_destroy(CTX, self->stdev));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->ioas2));
}

/* ==== MOCK_DOMAIN_FLAGS and DEV_CHECK_CACHE ==== */

/*
 * The kernel's mock device takes NO_DIRTY and PASID; any other bit is
 * EINVAL from mock_dev_create, before the attach, leaving nothing.
 */
TEST_F(rep, mock_domain_flags)
{
	const uint32_t good[] = { 0, MOCK_FLAGS_DEVICE_NO_DIRTY,
				  MOCK_FLAGS_DEVICE_PASID,
				  MOCK_FLAGS_DEVICE_NO_DIRTY |
					  MOCK_FLAGS_DEVICE_PASID };
	const uint32_t bad[] = { 1u << 1, 1u << 3, 1u << 31,
				 MOCK_FLAGS_DEVICE_PASID | (1u << 1),
				 UINT32_MAX };
	uint32_t next = hwt_next_id(CTX);

	for (unsigned int i = 0; i != ARRAY_SIZE(bad); i++) {
		EXPECT_FAILS_WHY(EINVAL, test_mock_domain_flags(
						 CTX, self->ioas1, bad[i], NULL,
						 NULL, NULL));
		/* Before the target is looked at. */
		EXPECT_FAILS_WHY(EINVAL, test_mock_domain_flags(
						 CTX, 4096, bad[i], NULL, NULL,
						 NULL));
	}
	EXPECT_EQ(next, hwt_next_id(CTX));
	for (unsigned int i = 0; i != ARRAY_SIZE(good); i++) {
		uint32_t st = 0, hw = 0, idev = 0;
		struct iommu_hw_info info;

		ASSERT_EQ(0, test_mock_domain_flags(CTX, self->ioas1, good[i],
						    &st, &hw, &idev));
		EXPECT_EQ(self->auto1, hw);
		EXPECT_NE(0, st);
		EXPECT_NE(0, idev);
		EXPECT_NE(st, idev);
		ASSERT_EQ(0, get_hw_info(CTX, idev, NULL, 0, &info));
		EXPECT_EQ(!(good[i] & MOCK_FLAGS_DEVICE_NO_DIRTY),
			  !!(info.out_capabilities &
			     IOMMU_HW_CAP_DIRTY_TRACKING));
		EXPECT_EQ(good[i] & MOCK_FLAGS_DEVICE_PASID ?
				  MOCK_PASID_WIDTH :
				  0,
			  info.out_max_pasid_log2);
		ASSERT_EQ(0, ioctl_destroy(CTX, st));
	}
	/* With a missing target: the attach's ENOENT, nothing left. */
	EXPECT_FAILS_WHY(ENOENT, test_mock_domain_flags(
					 CTX, 4096, MOCK_FLAGS_DEVICE_PASID,
					 NULL, NULL, NULL));
	EXPECT_EQ(next, hwt_next_id(CTX));
}

/*
 * A new mock device's cache entries all hold the default; the check
 * refuses a wrong value and an entry past the last (EINVAL), and wants a
 * device (ENOENT). Moving the device does not touch its cache.
 */
TEST_F(rep, dev_check_cache)
{
	uint32_t st = 0, nd = 0, parent, n;
	const uint32_t not_dev[] = { 0, self->stdev, self->auto1, self->ioas1,
				     4096 };

	ASSERT_EQ(0, test_mock_domain_flags(CTX, self->ioas2,
					    MOCK_FLAGS_DEVICE_NO_DIRTY, &st,
					    NULL, &nd));
	for (uint32_t i = 0; i != MOCK_DEV_CACHE_NUM; i++) {
		EXPECT_EQ(0, test_check_dev_cache(CTX, self->idev, i,
						  CACHE_DEFAULT));
		EXPECT_EQ(0, test_check_dev_cache(CTX, nd, i,
						  CACHE_DEFAULT));
		EXPECT_FAILS_WHY(EINVAL, test_check_dev_cache(
						 CTX, self->idev, i,
						 CACHE_DEFAULT ^ 1));
		EXPECT_FAILS_WHY(EINVAL,
				 test_check_dev_cache(CTX, self->idev, i, 0));
	}
	EXPECT_FAILS_WHY(EINVAL, test_check_dev_cache(
					 CTX, self->idev, MOCK_DEV_CACHE_NUM,
					 CACHE_DEFAULT));
	EXPECT_FAILS_WHY(EINVAL, test_check_dev_cache(
					 CTX, self->idev, UINT32_MAX,
					 CACHE_DEFAULT));
	for (unsigned int i = 0; i != ARRAY_SIZE(not_dev); i++)
		EXPECT_FAILS_WHY(ENOENT, test_check_dev_cache(
						 CTX, not_dev[i], 0,
						 CACHE_DEFAULT));
	parent = hwpt_on(self, self->ioas1, NEST_PARENT);
	n = nested_on(self, parent);
	move_to(self, self->stdev, n);
	move_to(self, st, self->ioas1);
	for (uint32_t i = 0; i != MOCK_DEV_CACHE_NUM; i++) {
		EXPECT_EQ(0, test_check_dev_cache(CTX, self->idev, i,
						  CACHE_DEFAULT));
		EXPECT_EQ(0, test_check_dev_cache(CTX, nd, i,
						  CACHE_DEFAULT));
	}
	/* Gone with its selftest object. */
	ASSERT_EQ(0, ioctl_destroy(CTX, st));
	EXPECT_FAILS_WHY(ENOENT, test_check_dev_cache(
					 CTX, nd, 0,
					 CACHE_DEFAULT));
}

/* ==== ACCESS_REPLACE_IOAS ==== */

/*
 * Two IOASes with no domain, so an access's pins are the only ones on
 * their pages: a and b map buf1 and buf2 at IOVA1 and IOVA2.
 */
static void nodomain_ioases(struct _fixture_data_rep *self, uint32_t *a,
			    uint32_t *b)
{
	uint64_t iova;

	ASSERT_EQ(0, ioas_alloc(CTX, a));
	ASSERT_EQ(0, ioas_alloc(CTX, b));
	iova = IOVA1;
	ASSERT_EQ(0, ioas_map(CTX, *a, self->buf1, BUF_LEN, &iova,
			      MAP_FIXED_RW));
	iova = IOVA2;
	ASSERT_EQ(0, ioas_map(CTX, *b, self->buf2, BUF_LEN, &iova,
			      MAP_FIXED_RW));
	/* The fixture's domain on ioas1 pins buf1 too: take it away. */
	ASSERT_EQ(0, ioctl_destroy(CTX, self->stdev));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->ioas1));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->ioas2));
	ASSERT_EQ(0, test_check_refs(CTX, self->buf1, BUF_LEN, 0));
}

/*
 * The move drops every pin through the unmap callback (the items go,
 * the pages are unpinned), then the access pins and reads the new IOAS.
 * The old IOAS can go; the new one is held.
 */
TEST_F(rep, access_replace_moves_pins)
{
	uint32_t a = 0, b = 0, item1 = 0, item2 = 0, item3 = 0;
	uint8_t data[PG];

	nodomain_ioases(self, &a, &b);
	ASSERT_EQ(0, test_create_access(CTX, a, NEEDS_PIN, &self->afd));
	ASSERT_EQ(0, test_access_pages(CTX, self->afd, IOVA1 + 2 * PG, 2 * PG,
				       self->buf1 + 2 * PG,
				       MOCK_FLAGS_ACCESS_WRITE, &item1));
	ASSERT_EQ(0, test_access_pages(CTX, self->afd, IOVA1 + 9 * PG, PG,
				       self->buf1 + 9 * PG, 0, &item2));
	ASSERT_EQ(0, test_check_refs(CTX, self->buf1 + 2 * PG, 2 * PG, 1));
	ASSERT_EQ(0, test_check_refs(CTX, self->buf1 + 9 * PG, PG, 1));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, a));

	ASSERT_EQ(0, test_access_replace_ioas(CTX, self->afd, b));
	ASSERT_EQ(0, test_check_refs(CTX, self->buf1, BUF_LEN, 0));
	EXPECT_FAILS_WHY(ENOENT, test_destroy_access_pages(CTX, self->afd,
							   item1));
	EXPECT_FAILS_WHY(ENOENT, test_destroy_access_pages(CTX, self->afd,
							   item2));
	/* Pins and reads go to b now. */
	ASSERT_EQ(0, test_access_pages(CTX, self->afd, IOVA2 + 4 * PG, PG,
				       self->buf2 + 4 * PG, 0, &item3));
	ASSERT_EQ(0, test_check_refs(CTX, self->buf2 + 4 * PG, PG, 1));
	ASSERT_EQ(0, test_access_rw(CTX, self->afd, IOVA2 + 5 * PG + 17, data,
				    100, 0));
	EXPECT_EQ(0, memcmp(data, self->buf2 + 5 * PG + 17, 100));
	/* What only a maps is not in b. */
	EXPECT_FAILS_WHY(ENOENT, test_access_rw(CTX, self->afd, IOVA1, data,
						100, 0));
	EXPECT_FAILS_WHY(ENOENT, test_access_pages(CTX, self->afd, IOVA1, PG,
						   self->buf1, 0, NULL));
	/* a is free; b is held by the access. */
	ASSERT_EQ(0, ioctl_destroy(CTX, a));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, b));
	/* Unmapping b calls the access back: the new item goes. */
	ASSERT_EQ(0, ioas_unmap(CTX, b, IOVA2, BUF_LEN, NULL));
	EXPECT_FAILS_WHY(ENOENT, test_destroy_access_pages(CTX, self->afd,
							   item3));
	ASSERT_EQ(0, test_check_refs(CTX, self->buf2, BUF_LEN, 0));
	ASSERT_EQ(0, uiommufd_fd_close(self->afd));
	self->afd = -1;
	ASSERT_EQ(0, ioctl_destroy(CTX, b));
}

/*
 * To the IOAS it is on: nothing happens (the pins stay). To nothing, or
 * to an object that is no IOAS: ENOENT, and the access is unchanged. A
 * descriptor that is no test access: EBADFD.
 */
TEST_F(rep, access_replace_same_and_missing)
{
	uint32_t a = 0, b = 0, item = 0, hw = 0;
	const uint32_t bad[] = { 0, 4096, UINT32_MAX };
	uint8_t data[64];

	nodomain_ioases(self, &a, &b);
	ASSERT_EQ(0, test_mock_domain(CTX, b, NULL, &hw, NULL));
	ASSERT_EQ(0, test_create_access(CTX, a, NEEDS_PIN, &self->afd));
	ASSERT_EQ(0, test_access_pages(CTX, self->afd, IOVA1, 3 * PG,
				       self->buf1, 0, &item));
	ASSERT_EQ(0, test_access_replace_ioas(CTX, self->afd, a));
	ASSERT_EQ(0, test_check_refs(CTX, self->buf1, 3 * PG, 1));
	for (unsigned int i = 0; i != ARRAY_SIZE(bad); i++)
		EXPECT_FAILS_WHY(ENOENT, test_access_replace_ioas(
						 CTX, self->afd, bad[i]));
	EXPECT_FAILS_WHY(ENOENT, test_access_replace_ioas(CTX, self->afd, hw));
	ASSERT_EQ(0, test_check_refs(CTX, self->buf1, 3 * PG, 1));
	ASSERT_EQ(0, test_access_rw(CTX, self->afd, IOVA1 + 7, data,
				    sizeof(data), 0));
	EXPECT_EQ(0, memcmp(data, self->buf1 + 7, sizeof(data)));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, a));
	/* Not an access descriptor. */
	EXPECT_FAILS_WHY(EBADFD, test_access_replace_ioas(CTX, 0, b));
	EXPECT_FAILS_WHY(EBADFD, test_access_replace_ioas(CTX, 1000, b));
	/* The item is still there to destroy. */
	ASSERT_EQ(0, test_destroy_access_pages(CTX, self->afd, item));
	ASSERT_EQ(0, test_check_refs(CTX, self->buf1, BUF_LEN, 0));
}

/* An access that does not pin moves too, and reads the new IOAS. */
TEST_F(rep, access_replace_without_pins)
{
	uint32_t a = 0, b = 0;
	uint8_t data[3 * PG];

	nodomain_ioases(self, &a, &b);
	ASSERT_EQ(0, test_create_access(CTX, a, 0, &self->afd));
	ASSERT_EQ(0, test_access_rw(CTX, self->afd, IOVA1 + PG - 5, data,
				    sizeof(data), 0));
	EXPECT_EQ(0, memcmp(data, self->buf1 + PG - 5, sizeof(data)));
	ASSERT_EQ(0, test_access_replace_ioas(CTX, self->afd, b));
	ASSERT_EQ(0, test_access_rw(CTX, self->afd, IOVA2 + PG - 5, data,
				    sizeof(data), 0));
	EXPECT_EQ(0, memcmp(data, self->buf2 + PG - 5, sizeof(data)));
	/* Writes land in b's memory. */
	memset(data, 0x3c, 64);
	ASSERT_EQ(0, test_access_rw(CTX, self->afd, IOVA2 + 3 * PG, data, 64,
				    MOCK_ACCESS_RW_WRITE));
	for (int i = 0; i != 64; i++)
		EXPECT_EQ(0x3c, self->buf2[3 * PG + i]);
	ASSERT_EQ(0, ioctl_destroy(CTX, a));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, b));
}

/* ---- uiommufd_access_replace() ---- */

struct counting {
	struct uiommufd_access *access;
	pthread_mutex_t lock;
	unsigned int calls, unpin_errors;
	uint64_t last_iova, last_length;
	unsigned int npins;
	struct {
		uint64_t iova, length;
	} pins[64];
};

/* The unmap callback: count the call, unpin what it covers. */
static void counting_unmap(void *data, uint64_t iova, uint64_t length)
{
	struct counting *c = data;
	uint64_t last = iova + length - 1;

	pthread_mutex_lock(&c->lock);
	c->calls++;
	c->last_iova = iova;
	c->last_length = length;
	for (unsigned int i = 0; i < c->npins;) {
		if (c->pins[i].iova > last ||
		    c->pins[i].iova + c->pins[i].length - 1 < iova) {
			i++;
			continue;
		}
		if (uiommufd_access_unpin_pages(c->access, c->pins[i].iova,
						c->pins[i].length))
			c->unpin_errors++;
		c->pins[i] = c->pins[--c->npins];
	}
	pthread_mutex_unlock(&c->lock);
}

static const struct uiommufd_access_ops counting_ops = {
	.flags = UIOMMUFD_ACCESS_NEEDS_PIN_PAGES,
	.unmap = counting_unmap,
};

/* Pin and remember, under the lock the callback takes: 0 or -errno. */
static int counting_pin(struct counting *c, uint64_t iova, uint64_t length)
{
	int rc;

	pthread_mutex_lock(&c->lock);
	if (c->npins == ARRAY_SIZE(c->pins)) {
		pthread_mutex_unlock(&c->lock);
		return -ENOSPC;
	}
	rc = uiommufd_access_pin_pages(c->access, iova, length, NULL, NULL,
				       0);
	if (!rc) {
		c->pins[c->npins].iova = iova;
		c->pins[c->npins].length = length;
		c->npins++;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* Undo every pin still remembered. */
static void counting_unpin_all(struct counting *c)
{
	pthread_mutex_lock(&c->lock);
	while (c->npins) {
		c->npins--;
		if (uiommufd_access_unpin_pages(c->access,
						c->pins[c->npins].iova,
						c->pins[c->npins].length))
			c->unpin_errors++;
	}
	pthread_mutex_unlock(&c->lock);
}

/*
 * Through the public API: the callback is called once per move, for the
 * whole IOVA space, even with nothing pinned; a move to where the access
 * is calls nothing; a failed move calls nothing and changes nothing.
 */
TEST_F(rep, access_api_replace)
{
	struct counting c = { .lock = PTHREAD_MUTEX_INITIALIZER };
	uint32_t a = 0, b = 0, id = 0;
	uint8_t data[128];

	nodomain_ioases(self, &a, &b);
	c.access = uiommufd_access_create(CTX, a, &counting_ops, &c, &id);
	ASSERT_NONNULL(c.access);
	ASSERT_EQ(0, counting_pin(&c, IOVA1, 2 * PG));
	ASSERT_EQ(0, counting_pin(&c, IOVA1 + 8 * PG, PG));
	ASSERT_EQ(0, test_check_refs(CTX, self->buf1, 2 * PG, 1));

	ASSERT_EQ(0, uiommufd_access_replace(c.access, b));
	EXPECT_EQ(1, c.calls);
	EXPECT_EQ(0, c.last_iova);
	EXPECT_EQ(UINT64_MAX, c.last_length);
	EXPECT_EQ(0, c.npins);
	EXPECT_EQ(0, c.unpin_errors);
	ASSERT_EQ(0, test_check_refs(CTX, self->buf1, BUF_LEN, 0));
	/* Pins and copies go to b. */
	EXPECT_EQ(-ENOENT, counting_pin(&c, IOVA1, PG));
	ASSERT_EQ(0, counting_pin(&c, IOVA2 + PG, PG));
	ASSERT_EQ(0, test_check_refs(CTX, self->buf2 + PG, PG, 1));
	ASSERT_EQ(0, uiommufd_access_rw(c.access, IOVA2 + 99, data,
					sizeof(data), 0));
	EXPECT_EQ(0, memcmp(data, self->buf2 + 99, sizeof(data)));

	/* Where it is: no call, pins stay. */
	ASSERT_EQ(0, uiommufd_access_replace(c.access, b));
	EXPECT_EQ(1, c.calls);
	EXPECT_EQ(1, c.npins);
	/* Nowhere: -ENOENT with a reason, no call, nothing changed. */
	EXPECT_EQ(-ENOENT, uiommufd_access_replace(c.access, 4096));
	EXPECT_TRUE(has_reason());
	EXPECT_EQ(-ENOENT, uiommufd_access_replace(c.access, id));
	EXPECT_EQ(-EINVAL, uiommufd_access_replace(NULL, a));
	EXPECT_EQ(1, c.calls);
	ASSERT_EQ(0, test_check_refs(CTX, self->buf2 + PG, PG, 1));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, b));
	ASSERT_EQ(0, ioctl_destroy(CTX, a));

	/* An unmap in b reaches it; and back to a new IOAS, pins or not. */
	ASSERT_EQ(0, ioas_unmap(CTX, b, IOVA2, BUF_LEN, NULL));
	EXPECT_EQ(2, c.calls);
	EXPECT_EQ(IOVA2, c.last_iova);
	EXPECT_EQ(BUF_LEN, c.last_length);
	EXPECT_EQ(0, c.npins);
	ASSERT_EQ(0, ioas_alloc(CTX, &a));
	ASSERT_EQ(0, uiommufd_access_replace(c.access, a));
	EXPECT_EQ(3, c.calls);
	EXPECT_EQ(0, c.unpin_errors);
	ASSERT_EQ(0, ioctl_destroy(CTX, b));
	uiommufd_access_destroy(c.access);
	ASSERT_EQ(0, ioctl_destroy(CTX, a));
	ASSERT_EQ(0, test_check_refs(CTX, self->buf2, BUF_LEN, 0));
}

/*
 * While a move is under way (its unmap callback runs) the access has no
 * IOAS: pins, copies and another move all fail with ENOENT, as the
 * kernel's iommufd_access_pin_pages, iommufd_access_rw and
 * iommufd_access_replace answer an access whose ioas is NULL.
 */
struct midmove {
	struct uiommufd_access *access;
	uint32_t other;
	unsigned int calls;
	int replace_rc, pin_rc, rw_rc;
};

static void midmove_unmap(void *data, uint64_t iova, uint64_t length)
{
	struct midmove *m = data;
	uint8_t byte;

	(void)iova;
	(void)length;
	if (m->calls++)
		return;
	m->replace_rc = uiommufd_access_replace(m->access, m->other);
	m->pin_rc = uiommufd_access_pin_pages(m->access, IOVA1, PG, NULL,
					      NULL, 0);
	m->rw_rc = uiommufd_access_rw(m->access, IOVA1, &byte, 1, 0);
}

TEST_F(rep, access_api_calls_during_a_move)
{
	const struct uiommufd_access_ops ops = {
		.flags = UIOMMUFD_ACCESS_NEEDS_PIN_PAGES,
		.unmap = midmove_unmap,
	};
	struct midmove m = { .replace_rc = 1, .pin_rc = 1, .rw_rc = 1 };
	uint32_t a = 0, b = 0;
	uint8_t byte = 0;

	nodomain_ioases(self, &a, &b);
	m.other = a;
	m.access = uiommufd_access_create(CTX, a, &ops, &m, NULL);
	ASSERT_NONNULL(m.access);
	ASSERT_EQ(0, uiommufd_access_replace(m.access, b));
	EXPECT_EQ(1, m.calls);
	EXPECT_EQ(-ENOENT, m.replace_rc);
	EXPECT_EQ(-ENOENT, m.pin_rc);
	EXPECT_EQ(-ENOENT, m.rw_rc);
	/* The move itself completed: the access is on b. */
	ASSERT_EQ(0, uiommufd_access_rw(m.access, IOVA2 + 1, &byte, 1, 0));
	EXPECT_EQ(self->buf2[1], byte);
	ASSERT_EQ(0, ioctl_destroy(CTX, a));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, b));
	uiommufd_access_destroy(m.access);
	ASSERT_EQ(0, ioctl_destroy(CTX, b));
	ASSERT_EQ(0, test_check_refs(CTX, self->buf1, BUF_LEN, 0));
}

/* An access without an unmap callback moves without one. */
TEST_F(rep, access_api_replace_no_callback)
{
	const struct uiommufd_access_ops ops = { 0 };
	struct uiommufd_access *access;
	uint32_t a = 0, b = 0;
	uint8_t data[32];

	nodomain_ioases(self, &a, &b);
	access = uiommufd_access_create(CTX, a, &ops, NULL, NULL);
	ASSERT_NONNULL(access);
	ASSERT_EQ(0, uiommufd_access_replace(access, b));
	ASSERT_EQ(0, uiommufd_access_rw(access, IOVA2 + 3, data, sizeof(data),
					0));
	EXPECT_EQ(0, memcmp(data, self->buf2 + 3, sizeof(data)));
	ASSERT_EQ(0, ioctl_destroy(CTX, a));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, b));
	uiommufd_access_destroy(access);
	ASSERT_EQ(0, ioctl_destroy(CTX, b));
}

/* ==== threads ==== */

#define NREPLACERS 3

struct race {
	struct uiommufd_ctx *ctx;
	uint8_t *buf1;
	uint32_t stdev, idev, ioas1, ioas2, ioas3;
	uint32_t p1, p2, n;
	uint64_t rounds;
	atomic_uint errors;
	pthread_barrier_t start;
	char first[200];
	pthread_mutex_t first_lock;
};

struct racer {
	struct race *r;
	unsigned int tid;
	uint64_t done;
};

static void race_error(struct race *r, const char *what, int err)
{
	if (atomic_fetch_add(&r->errors, 1))
		return;
	pthread_mutex_lock(&r->first_lock);
	snprintf(r->first, sizeof(r->first), "%s: errno %d (%s)", what, err,
		 uiommufd_last_reason() ?: "no reason");
	pthread_mutex_unlock(&r->first_lock);
}

/* Moves the one device around everything there is to move it to. */
static void *replacer(void *arg)
{
	struct racer *me = arg;
	struct race *r = me->r;
	const uint32_t targets[] = { r->p1, r->p2, r->n, r->ioas2, r->ioas1 };

	pthread_barrier_wait(&r->start);
	for (uint64_t i = 0; i != r->rounds; i++) {
		uint32_t want = targets[(i * (me->tid + 1) + 2 * me->tid) %
					ARRAY_SIZE(targets)];
		uint32_t pt = want;

		if (test_mock_domain_replace(r->ctx, r->stdev, &pt))
			race_error(r, "replace", errno);
		else if (want != r->ioas1 && want != r->ioas2 && pt != want)
			race_error(r, "replace answered another", 0);
		me->done++;
		test_progress();
	}
	return NULL;
}

/* Reads what must stay true whatever the device is on. */
static void *checker(void *arg)
{
	struct racer *me = arg;
	struct race *r = me->r;
	struct iommu_hw_info info;

	pthread_barrier_wait(&r->start);
	for (uint64_t i = 0; i != r->rounds; i++) {
		if (test_check_map(r->ctx, i & 1 ? r->p1 : r->p2, IOVA1,
				   BUF_LEN, r->buf1))
			race_error(r, "check_map", errno);
		if (test_check_iotlb(r->ctx, r->n, i & 3,
				     IOMMU_TEST_IOTLB_DEFAULT))
			race_error(r, "check_iotlb", errno);
		if (get_hw_info(r->ctx, r->idev, NULL, 0, &info))
			race_error(r, "hw_info", errno);
		me->done++;
		test_progress();
	}
	return NULL;
}

/*
 * Makes and destroys other objects: HW pagetables on a third IOAS, and
 * devices coming and going on ioas2's auto HW pagetable and on p1, which
 * the moving device shares at times.
 */
static void *churner(void *arg)
{
	struct racer *me = arg;
	struct race *r = me->r;

	pthread_barrier_wait(&r->start);
	for (uint64_t i = 0; i != r->rounds; i++) {
		uint32_t hw = 0, n = 0, st = 0;

		if (hwpt_alloc(r->ctx, r->idev, r->ioas3,
			       IOMMU_HWPT_ALLOC_NEST_PARENT, NULL, 0, &hw)) {
			race_error(r, "hwpt_alloc", errno);
		} else {
			if (hwpt_alloc_nested(r->ctx, r->idev, hw, 0, &n))
				race_error(r, "nested", errno);
			else if (ioctl_destroy(r->ctx, n))
				race_error(r, "destroy nested", errno);
			if (ioctl_destroy(r->ctx, hw))
				race_error(r, "destroy hwpt", errno);
		}
		if (test_mock_domain(r->ctx, i & 1 ? r->ioas2 : r->p1, &st,
				     NULL, NULL))
			race_error(r, "mock_domain", errno);
		else if (ioctl_destroy(r->ctx, st))
			race_error(r, "destroy stdev", errno);
		me->done++;
		test_progress();
	}
	return NULL;
}

/* 1 when destroying @id is refused with EBUSY, 0 when it went. */
static int busy(struct uiommufd_ctx *ctx, uint32_t id, unsigned int *bad)
{
	if (!ioctl_destroy(ctx, id))
		return 0;
	if (errno != EBUSY)
		(*bad)++;
	return 1;
}

/*
 * Several threads move one device between two paging HW pagetables, a
 * nested one and two IOASes' auto ones while others read through them
 * and make and destroy other objects. Nothing fails, and at the end the
 * device is on exactly one of them and every other lets go.
 */
TEST_F(rep, replace_threads)
{
	struct race r = { .ctx = CTX, .buf1 = self->buf1,
			  .first_lock = PTHREAD_MUTEX_INITIALIZER };
	struct racer racers[NREPLACERS + 2];
	pthread_t th[NREPLACERS + 2];
	unsigned int attached = 0, bad = 0, on_ioas2;
	bool n_gone;

	r.stdev = self->stdev;
	r.idev = self->idev;
	r.ioas1 = self->ioas1;
	r.ioas2 = self->ioas2;
	ASSERT_EQ(0, ioas_alloc(CTX, &r.ioas3));
	r.p1 = hwpt_on(self, self->ioas1, IOMMU_HWPT_ALLOC_NEST_PARENT);
	r.p2 = hwpt_on(self, self->ioas1, 0);
	r.n = nested_on(self, r.p1);
	r.rounds = test_iterations(1500);
	ASSERT_EQ(0, pthread_barrier_init(&r.start, NULL, NREPLACERS + 2));
	for (unsigned int i = 0; i != NREPLACERS + 2; i++) {
		racers[i].r = &r;
		racers[i].tid = i;
		racers[i].done = 0;
		ASSERT_EQ(0, pthread_create(&th[i], NULL,
					    i < NREPLACERS ? replacer :
					    i == NREPLACERS ? checker :
							      churner,
					    &racers[i]));
	}
	for (unsigned int i = 0; i != NREPLACERS + 2; i++) {
		ASSERT_EQ(0, pthread_join(th[i], NULL));
		EXPECT_EQ(r.rounds, racers[i].done);
	}
	pthread_barrier_destroy(&r.start);
	if (atomic_load(&r.errors))
		TH_LOG("%u errors, the first: %s", atomic_load(&r.errors),
		       r.first);
	ASSERT_EQ(0, atomic_load(&r.errors));

	/*
	 * Exactly one of them holds the device; each of the others goes
	 * when destroyed. With ioas2's auto one, ioas1 has no domain left.
	 */
	attached += busy(CTX, r.n, &bad);
	n_gone = !attached;
	attached += busy(CTX, r.p2, &bad);
	on_ioas2 = busy(CTX, self->ioas2, &bad);
	attached += on_ioas2;
	if (n_gone)
		attached += busy(CTX, r.p1, &bad);
	/* On an auto one of ioas1: p1 and p2 no longer hold ioas1. */
	if (n_gone && attached == 0)
		attached += busy(CTX, self->ioas1, &bad);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(1, attached);
	ASSERT_EQ(0, test_check_refs(CTX, self->buf1, BUF_LEN, !on_ioas2));
	ASSERT_EQ(0, test_check_refs(CTX, self->buf2, BUF_LEN, on_ioas2));

	/* The device goes; then everything does. */
	ASSERT_EQ(0, ioctl_destroy(CTX, self->stdev));
	if (!n_gone)
		ASSERT_EQ(0, ioctl_destroy(CTX, r.n));
	ioctl_destroy(CTX, r.p1);
	ioctl_destroy(CTX, r.p2);
	ioctl_destroy(CTX, self->ioas2);
	EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(CTX, r.p1));
	EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(CTX, r.p2));
	EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(CTX, self->ioas2));
	ASSERT_EQ(0, ioctl_destroy(CTX, r.ioas3));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->ioas1));
	ASSERT_EQ(0, test_check_refs(CTX, self->buf1, BUF_LEN, 0));
	/* Nothing else is left: the next ID is the lowest. */
	EXPECT_EQ(1, hwt_next_id(CTX));
}

/* ---- an access moving while it pins and reads (pitfall 10) ---- */

struct arace {
	struct counting c;
	struct uiommufd_ctx *ctx;
	uint8_t *buf;
	uint32_t a, b;
	uint64_t rounds;
	atomic_uint errors;
	pthread_barrier_t start;
	atomic_bool moved;
	atomic_ulong moves, pins, reads;
	char first[160];
};

static void arace_error(struct arace *r, const char *what, int rc)
{
	if (!atomic_fetch_add(&r->errors, 1))
		snprintf(r->first, sizeof(r->first), "%s: %d", what, rc);
}

static void *amover(void *arg)
{
	struct arace *r = arg;

	pthread_barrier_wait(&r->start);
	for (uint64_t i = 0; i != r->rounds; i++) {
		int rc = uiommufd_access_replace(r->c.access,
						 i & 1 ? r->a : r->b);

		if (rc)
			arace_error(r, "replace", rc);
		atomic_fetch_add(&r->moves, 1);
		test_progress();
	}
	atomic_store(&r->moved, true);
	return NULL;
}

/*
 * Pins (0, or -ENOENT while a move is under way) and drops its pins, as
 * long as the moves go on; once they are over a pin must work.
 */
static void *apinner(void *arg)
{
	struct arace *r = arg;
	bool last = false;
	int rc;

	pthread_barrier_wait(&r->start);
	for (uint64_t i = 0; !last; i++) {
		last = atomic_load(&r->moved);
		if (i % 8 == 7)
			counting_unpin_all(&r->c);
		rc = counting_pin(&r->c, IOVA1 + (i % BUF_PAGES) * PG, PG);
		if (rc && (last || (rc != -ENOENT && rc != -ENOSPC)))
			arace_error(r, "pin", rc);
		if (!rc)
			atomic_fetch_add(&r->pins, 1);
		test_progress();
	}
	return NULL;
}

/*
 * Reads through IOVA: the right bytes, or -ENOENT mid-move; once the
 * moves are over a read must work.
 */
static void *areader(void *arg)
{
	struct arace *r = arg;
	uint8_t data[256];

	bool last = false;

	pthread_barrier_wait(&r->start);
	for (uint64_t i = 0; !last; i++) {
		uint64_t off = (i * 577) % (BUF_LEN - sizeof(data));
		int rc;

		last = atomic_load(&r->moved);
		rc = uiommufd_access_rw(r->c.access, IOVA1 + off, data,
					sizeof(data), 0);
		if (rc && (last || rc != -ENOENT))
			arace_error(r, "read", rc);
		if (!rc) {
			atomic_fetch_add(&r->reads, 1);
			if (memcmp(data, r->buf + off, sizeof(data)))
				arace_error(r, "read the wrong bytes", 0);
		}
		test_progress();
	}
	return NULL;
}

/*
 * One thread moves an access between two IOASes mapping the same memory
 * at the same IOVA while others pin and read through it: every pin is
 * either refused mid-move or dropped by the move's callback or its
 * owner; none is lost (the pages end unpinned), none unpinned twice.
 */
TEST_F(rep, access_replace_threads)
{
	struct arace r = { .c.lock = PTHREAD_MUTEX_INITIALIZER, .ctx = CTX,
			   .buf = self->buf1 };
	pthread_t th[3];
	uint64_t iova = IOVA1;

	ASSERT_EQ(0, ioctl_destroy(CTX, self->stdev));
	r.a = self->ioas1;
	ASSERT_EQ(0, ioas_alloc(CTX, &r.b));
	ASSERT_EQ(0, ioas_map(CTX, r.b, self->buf1, BUF_LEN, &iova,
			      MAP_FIXED_RW));
	r.c.access = uiommufd_access_create(CTX, r.a, &counting_ops, &r.c,
					    NULL);
	ASSERT_NONNULL(r.c.access);
	r.rounds = test_iterations(3000);
	ASSERT_EQ(0, pthread_barrier_init(&r.start, NULL, 3));
	ASSERT_EQ(0, pthread_create(&th[0], NULL, amover, &r));
	ASSERT_EQ(0, pthread_create(&th[1], NULL, apinner, &r));
	ASSERT_EQ(0, pthread_create(&th[2], NULL, areader, &r));
	for (int i = 0; i != 3; i++)
		ASSERT_EQ(0, pthread_join(th[i], NULL));
	pthread_barrier_destroy(&r.start);
	if (atomic_load(&r.errors))
		TH_LOG("%u errors, the first: %s", atomic_load(&r.errors),
		       r.first);
	EXPECT_EQ(0, atomic_load(&r.errors));
	EXPECT_EQ(r.rounds, atomic_load(&r.moves));
	TH_LOG("%lu pins and %lu reads got through",
	       (unsigned long)atomic_load(&r.pins),
	       (unsigned long)atomic_load(&r.reads));
	EXPECT_LT(0, atomic_load(&r.pins));
	EXPECT_LT(0, atomic_load(&r.reads));
	EXPECT_EQ(0, r.c.unpin_errors);
	/*
	 * Every pin still remembered is one of the IOAS the access is on
	 * (an unpin of any other fails), and the only ones its pages have.
	 */
	EXPECT_LT(0, r.c.npins);
	counting_unpin_all(&r.c);
	EXPECT_EQ(0, r.c.unpin_errors);
	ASSERT_EQ(0, test_check_refs(CTX, self->buf1, BUF_LEN, 0));
	uiommufd_access_destroy(r.c.access);
	ASSERT_EQ(0, ioctl_destroy(CTX, r.a));
	ASSERT_EQ(0, ioctl_destroy(CTX, r.b));
}
