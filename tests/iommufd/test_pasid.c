// SPDX-License-Identifier: MIT
/*
 * PASIDs of a mock device, through the test ops of the Linux 7.2 ABI:
 * PASID_ATTACH, PASID_REPLACE, PASID_DETACH and PASID_CHECK_HWPT.
 *
 * The kernel is the reference: iommufd_hwpt_pasid_compat,
 * iommufd_hw_pagetable_attach, iommufd_device_do_replace,
 * iommufd_device_auto_get_domain, iommufd_device_change_pt and
 * iommufd_hw_pagetable_detach in drivers/iommu/iommufd/device.c, and in
 * selftest.c mock_domain_set_dev_pasid_nop (every second attach of PASID
 * 1024 fails with ENOMEM, a detach resets it) and the four ops
 * (iommufd_test_pasid_attach, _replace, _detach, _check_hwpt with
 * iommufd_get_hwpt). The rules they make:
 *  - a PASID attaches only to a HW pagetable allocated with
 *    IOMMU_HWPT_ALLOC_PASID, and only while the RID is detached or on
 *    one too; the RID may leave for one without the flag only when no
 *    PASID is attached. An auto HW pagetable never has the flag, so an
 *    IOAS is no target for a PASID (EINVAL);
 *  - the iommu core refuses a PASID at or past the device's PASID count
 *    (none without MOCK_FLAGS_DEVICE_PASID, 2^20 with it): EINVAL;
 *  - PASID 0 is the RID (IOMMU_NO_PASID): attaching it while the RID is
 *    attached is EBUSY, replacing it moves the RID and detaching it
 *    leaves the device detached;
 *  - an attached PASID is EBUSY to attach again, anywhere; replacing one
 *    not attached is EINVAL; replacing onto the HW pagetable it is on
 *    changes nothing (the driver is not called); detaching one not
 *    attached does nothing.
 * Every refused command must leave a reason and nothing behind: the next
 * object ID (IDs are the lowest free) and the users counts show that.
 * Where a count is not visible through the ABI (the kernel shows a
 * users count only as an EBUSY destroy) the test reads it from the
 * object itself.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "iommufd/iommufd_private.h"
#include "iommufd/iommufd_utils.h"

#define PG TEST_PAGE_SIZE
#define BUF_PAGES 16
#define BUF_LEN (BUF_PAGES * PG)
#define IOVA MOCK_APERTURE_START
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

#define RID 0u
#define RESERVED IOMMU_TEST_PASID_RESERVED
#define NPASIDS (1u << MOCK_PASID_WIDTH)
#define PASID_FLAG IOMMU_HWPT_ALLOC_PASID
#define NEST IOMMU_HWPT_ALLOC_NEST_PARENT

/*
 * The fixture: an IOAS with a mapping, a PASID device whose RID is on
 * pp1, and HW pagetables of every kind with and without the PASID flag:
 *	pp1, pp2	paging, PASID
 *	np		paging
 *	parent		paging, NEST_PARENT
 *	npn, nn		nested on parent, PASID and not
 * The device's first HW pagetable (an auto one) went when the RID left
 * it for pp1: its ID is the next one.
 */
FIXTURE(pas)
{
	struct uiommufd_ctx *ctx;
	uint8_t *buf;
	uint32_t ioas;
	uint32_t stdev, idev;
	uint32_t pp1, pp2, np, parent, npn, nn;
	uint32_t next;
};

/* The users count of object @id (0: no such object). */
static unsigned int users_of(struct uiommufd_ctx *ctx, uint32_t id)
{
	struct iommufd_object *obj = index_store_load(&ctx->objects, id);

	if (!obj || obj == INDEX_STORE_RESERVED)
		return 0;
	return atomic_load(&obj->users);
}

static uint32_t new_hwpt(struct uiommufd_ctx *ctx, uint32_t idev,
			 uint32_t pt_id, uint32_t flags, bool nested)
{
	struct iommu_hwpt_selftest data = { .iotlb = IOMMU_TEST_IOTLB_DEFAULT };
	uint32_t id = 0;
	int rc = hwpt_alloc(ctx, idev, pt_id, flags, nested ? &data : NULL,
			    nested ? sizeof(data) : 0, &id);

	if (rc)
		TH_LOG("HWPT_ALLOC on %u flags %#x: errno %d (%s)", pt_id,
		       flags, errno, uiommufd_last_reason());
	ASSERT_EQ(0, rc);
	ASSERT_NE(0, id);
	return id;
}

FIXTURE_SETUP(pas)
{
	uint64_t iova = IOVA;
	uint32_t first = 0, pt;

	self->buf = test_buffer(BUF_LEN);
	ASSERT_NONNULL(self->buf);
	for (size_t i = 0; i != BUF_LEN; i++)
		self->buf[i] = (uint8_t)(i * 11 + 3);
	self->ctx = ctx_open_as(UIOMMUFD_KERNEL_7_2, false, 0);
	ASSERT_NONNULL(self->ctx);
	ASSERT_EQ(0, ioas_alloc(self->ctx, &self->ioas));
	ASSERT_EQ(0, ioas_map(self->ctx, self->ioas, self->buf, BUF_LEN,
			      &iova, MAP_FIXED_RW));
	ASSERT_EQ(0, test_mock_domain_flags(self->ctx, self->ioas,
					    MOCK_FLAGS_DEVICE_PASID,
					    &self->stdev, &first, &self->idev));
	self->pp1 = new_hwpt(self->ctx, self->idev, self->ioas, PASID_FLAG,
			     false);
	self->pp2 = new_hwpt(self->ctx, self->idev, self->ioas, PASID_FLAG,
			     false);
	self->np = new_hwpt(self->ctx, self->idev, self->ioas, 0, false);
	self->parent = new_hwpt(self->ctx, self->idev, self->ioas, NEST,
				false);
	self->npn = new_hwpt(self->ctx, self->idev, self->parent, PASID_FLAG,
			     true);
	self->nn = new_hwpt(self->ctx, self->idev, self->parent, 0, true);
	pt = self->pp1;
	ASSERT_EQ(0, test_mock_domain_replace(self->ctx, self->stdev, &pt));
	ASSERT_EQ(self->pp1, pt);
	self->next = hwt_next_id(self->ctx);
	ASSERT_EQ(first, self->next);
}

FIXTURE_TEARDOWN(pas)
{
	struct uiommufd_ctx *ctx;

	uiommufd_ctx_close(self->ctx);
	ctx = uiommufd_ctx_open(0);
	EXPECT_NE(NULL, ctx);
	if (ctx) {
		EXPECT_EQ(0, test_check_refs(ctx, self->buf, BUF_LEN, 0));
		uiommufd_ctx_close(ctx);
	}
	munmap(self->buf, BUF_LEN);
}

#define CTX (self->ctx)

/* @pasid of @stdev is attached to @hwpt (0: detached). */
static void on(struct _fixture_data_pas *self, uint32_t stdev, uint32_t pasid,
	       uint32_t hwpt)
{
	int rc = test_pasid_check(CTX, stdev, pasid, hwpt);

	if (rc)
		TH_LOG("PASID %u of %u is not on %u: %s", pasid, stdev, hwpt,
		       uiommufd_last_reason());
	ASSERT_EQ(0, rc);
}

static void attach_ok(struct _fixture_data_pas *self, uint32_t stdev,
		      uint32_t pasid, uint32_t pt_id)
{
	uint32_t pt = pt_id;
	int rc = test_pasid_attach(CTX, stdev, pasid, &pt);

	if (rc)
		TH_LOG("PASID_ATTACH %u of %u to %u: errno %d (%s)", pasid,
		       stdev, pt_id, errno, uiommufd_last_reason());
	ASSERT_EQ(0, rc);
	ASSERT_EQ(pt_id, pt);
	on(self, stdev, pasid, pt_id);
}

static void replace_ok(struct _fixture_data_pas *self, uint32_t stdev,
		       uint32_t pasid, uint32_t pt_id)
{
	uint32_t pt = pt_id;
	int rc = test_pasid_replace(CTX, stdev, pasid, &pt);

	if (rc)
		TH_LOG("PASID_REPLACE %u of %u to %u: errno %d (%s)", pasid,
		       stdev, pt_id, errno, uiommufd_last_reason());
	ASSERT_EQ(0, rc);
	ASSERT_EQ(pt_id, pt);
	on(self, stdev, pasid, pt_id);
}

/* The RID of the fixture's device to @pt_id by MOCK_DOMAIN_REPLACE. */
static uint32_t rid_to(struct _fixture_data_pas *self, uint32_t pt_id)
{
	uint32_t pt = pt_id;
	int rc = test_mock_domain_replace(CTX, self->stdev, &pt);

	if (rc)
		TH_LOG("RID to %u: errno %d (%s)", pt_id, errno,
		       uiommufd_last_reason());
	ASSERT_EQ(0, rc);
	on(self, self->stdev, RID, pt);
	return pt;
}

/* Attach and replace of @pasid to @pt_id both fail with @err. */
static void attach_fails(struct _fixture_data_pas *self, int err,
			 uint32_t pasid, uint32_t pt_id)
{
	uint32_t pt = pt_id;

	EXPECT_FAILS_WHY(err, test_pasid_attach(CTX, self->stdev, pasid, &pt));
	EXPECT_EQ(pt_id, pt);
}

static void replace_fails(struct _fixture_data_pas *self, int err,
			  uint32_t pasid, uint32_t pt_id)
{
	uint32_t pt = pt_id;

	EXPECT_FAILS_WHY(err, test_pasid_replace(CTX, self->stdev, pasid,
						 &pt));
	EXPECT_EQ(pt_id, pt);
}

/* ==== attach, check, detach ==== */

/*
 * A PASID attaches to a PASID HW pagetable, which it holds (a users
 * reference, as the device is held by it); the check sees it there and
 * nowhere else; a detach lets both go, and a second detach, or one of a
 * PASID never attached, does nothing.
 */
TEST_F(pas, attach_check_detach)
{
	unsigned int u2 = users_of(CTX, self->pp2);
	unsigned int ud = users_of(CTX, self->idev);

	attach_ok(self, self->stdev, 1, self->pp2);
	EXPECT_EQ(u2 + 1, users_of(CTX, self->pp2));
	EXPECT_EQ(ud + 1, users_of(CTX, self->idev));
	EXPECT_FAILS_WHY(EINVAL, test_pasid_check(CTX, self->stdev, 1,
						  self->pp1));
	EXPECT_FAILS_WHY(EINVAL, test_pasid_check(CTX, self->stdev, 1,
						  self->npn));
	/* hwpt_id 0 asks "detached?" */
	EXPECT_FAILS_WHY(EINVAL, test_pasid_check(CTX, self->stdev, 1, 0));
	on(self, self->stdev, 2, 0);
	EXPECT_FAILS_WHY(EINVAL, test_pasid_check(CTX, self->stdev, 2,
						  self->pp2));
	/* The RID is where it was. */
	on(self, self->stdev, RID, self->pp1);
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->pp2));
	ASSERT_EQ(0, test_check_map(CTX, self->pp2, IOVA, BUF_LEN, self->buf));
	EXPECT_EQ(self->next, hwt_next_id(CTX));

	ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev, 1));
	on(self, self->stdev, 1, 0);
	EXPECT_FAILS_WHY(EINVAL, test_pasid_check(CTX, self->stdev, 1,
						  self->pp2));
	EXPECT_EQ(u2, users_of(CTX, self->pp2));
	EXPECT_EQ(ud, users_of(CTX, self->idev));
	/* Again, and one never attached: nothing happens. */
	ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev, 1));
	ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev, 2));
	ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev, NPASIDS - 1));
	EXPECT_EQ(u2, users_of(CTX, self->pp2));
	EXPECT_EQ(ud, users_of(CTX, self->idev));
	on(self, self->stdev, RID, self->pp1);
	ASSERT_EQ(0, ioctl_destroy(CTX, self->pp2));
	/* Attached again after all that. */
	attach_ok(self, self->stdev, 1, self->npn);
	ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev, 1));
}

/*
 * An IOAS is no target: its auto HW pagetables are not PASID capable,
 * and a new one made for the attach is refused too (and undone: no ID,
 * no domain on the IOAS). As the kernel's immediate attach, that comes
 * before the domain is filled, so an IOAS no mock domain can map is
 * EINVAL too (EBUSY for a PASID attached); a replace fills the new
 * domain first (EADDRINUSE).
 */
TEST_F(pas, attach_to_ioas)
{
	uint32_t st2 = 0, auto2 = 0, ioas2 = 0, far = 0, next;
	unsigned int ua;
	uint64_t iova = IOVA;

	/* With an auto HW pagetable there (a plain device's). */
	ASSERT_EQ(0, test_mock_domain(CTX, self->ioas, &st2, &auto2, NULL));
	ua = users_of(CTX, auto2);
	next = hwt_next_id(CTX);
	attach_fails(self, EINVAL, 1, self->ioas);
	attach_fails(self, EINVAL, RESERVED, self->ioas);
	attach_fails(self, EINVAL, NPASIDS - 1, self->ioas);
	EXPECT_EQ(next, hwt_next_id(CTX));
	EXPECT_EQ(ua, users_of(CTX, auto2));
	on(self, self->stdev, 1, 0);
	/* The auto HW pagetable by its ID: the same. */
	attach_fails(self, EINVAL, 1, auto2);
	ASSERT_EQ(0, ioctl_destroy(CTX, st2));
	EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(CTX, auto2));

	/* An IOAS with no HW pagetable at all. */
	ASSERT_EQ(0, ioas_alloc(CTX, &ioas2));
	ASSERT_EQ(0, ioas_map(CTX, ioas2, self->buf, BUF_LEN, &iova,
			      MAP_FIXED_RW));
	next = hwt_next_id(CTX);
	attach_fails(self, EINVAL, 1, ioas2);
	EXPECT_EQ(next, hwt_next_id(CTX));
	/* Attached elsewhere, the replace is refused the same way. */
	attach_ok(self, self->stdev, 1, self->pp2);
	replace_fails(self, EINVAL, 1, ioas2);
	replace_fails(self, EINVAL, 1, self->ioas);
	EXPECT_EQ(next, hwt_next_id(CTX));
	on(self, self->stdev, 1, self->pp2);
	/* Nothing holds ioas2. */
	ASSERT_EQ(0, ioctl_destroy(CTX, ioas2));

	/* An IOAS a mock domain cannot map. */
	iova = 1ull << 32;
	ASSERT_EQ(0, ioas_alloc(CTX, &far));
	ASSERT_EQ(0, ioas_map(CTX, far, self->buf, PG, &iova, MAP_FIXED_RW));
	next = hwt_next_id(CTX);
	attach_fails(self, EINVAL, 2, far);
	attach_fails(self, EBUSY, 1, far);
	attach_fails(self, EBUSY, RID, far);
	replace_fails(self, EADDRINUSE, 1, far);
	EXPECT_EQ(next, hwt_next_id(CTX));
	ASSERT_EQ(0, ioctl_destroy(CTX, far));
	on(self, self->stdev, 1, self->pp2);
	on(self, self->stdev, 2, 0);
	ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev, 1));
}

/*
 * HW pagetables without the PASID flag, paging (plain or NEST_PARENT)
 * or nested, refuse a PASID; the PASID stays detached and they are not
 * held.
 */
TEST_F(pas, attach_to_non_pasid_hwpt)
{
	const uint32_t targets[] = { self->np, self->parent, self->nn };
	unsigned int users[ARRAY_SIZE(targets)];
	unsigned int ud = users_of(CTX, self->idev);

	for (unsigned int i = 0; i != ARRAY_SIZE(targets); i++)
		users[i] = users_of(CTX, targets[i]);
	for (unsigned int i = 0; i != ARRAY_SIZE(targets); i++) {
		attach_fails(self, EINVAL, 1, targets[i]);
		attach_fails(self, EINVAL, RESERVED, targets[i]);
		on(self, self->stdev, 1, 0);
	}
	for (unsigned int i = 0; i != ARRAY_SIZE(targets); i++)
		EXPECT_EQ(users[i], users_of(CTX, targets[i]));
	EXPECT_EQ(ud, users_of(CTX, self->idev));
	EXPECT_EQ(self->next, hwt_next_id(CTX));
	/* The refused ones were not held: gone at once. */
	ASSERT_EQ(0, ioctl_destroy(CTX, self->np));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->nn));
	/* The one with the flag on the same parent takes it. */
	attach_ok(self, self->stdev, 1, self->npn);
}

/*
 * A RID and its PASIDs agree: a PASID attaches only while the RID is on
 * a PASID HW pagetable (paging or nested) or detached.
 */
TEST_F(pas, rid_must_allow_pasids)
{
	const uint32_t pasid_targets[] = { self->pp2, self->npn };
	uint32_t auto1, next;

	rid_to(self, self->np);
	for (unsigned int i = 0; i != ARRAY_SIZE(pasid_targets); i++)
		attach_fails(self, EINVAL, 1, pasid_targets[i]);
	rid_to(self, self->nn);
	for (unsigned int i = 0; i != ARRAY_SIZE(pasid_targets); i++)
		attach_fails(self, EINVAL, 1, pasid_targets[i]);
	auto1 = rid_to(self, self->ioas);
	EXPECT_EQ(self->next, auto1);
	next = hwt_next_id(CTX);
	for (unsigned int i = 0; i != ARRAY_SIZE(pasid_targets); i++)
		attach_fails(self, EINVAL, 1, pasid_targets[i]);
	on(self, self->stdev, 1, 0);
	EXPECT_EQ(next, hwt_next_id(CTX));

	/* A nested one with the flag will do; the auto one goes. */
	rid_to(self, self->npn);
	EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(CTX, auto1));
	attach_ok(self, self->stdev, 1, self->pp2);
	attach_ok(self, self->stdev, 2, self->npn);
	ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev, 1));
	ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev, 2));

	/* No RID at all: no rule. */
	ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev, RID));
	on(self, self->stdev, RID, 0);
	attach_ok(self, self->stdev, 1, self->pp2);
	/* Then the RID comes back only to a PASID HW pagetable. */
	attach_fails(self, EINVAL, RID, self->np);
	attach_fails(self, EINVAL, RID, self->nn);
	attach_fails(self, EINVAL, RID, self->ioas);
	EXPECT_EQ(auto1, hwt_next_id(CTX));
	on(self, self->stdev, RID, 0);
	attach_ok(self, self->stdev, RID, self->pp1);
	ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev, 1));
}

/*
 * With a PASID attached the RID cannot move to a HW pagetable without
 * the flag (auto ones included: a replace to an IOAS is EINVAL and makes
 * nothing), whether by MOCK_DOMAIN_REPLACE or PASID_REPLACE of PASID 0;
 * it stays where it was. Once the PASID goes, it can.
 */
TEST_F(pas, rid_replace_blocked_by_pasids)
{
	const uint32_t refused[] = { self->np, self->parent, self->nn,
				     self->ioas };
	unsigned int u1 = users_of(CTX, self->pp1);
	struct iommu_test_cmd cmd;
	uint32_t pt;

	attach_ok(self, self->stdev, 1, self->pp2);
	for (unsigned int i = 0; i != ARRAY_SIZE(refused); i++) {
		test_cmd_init(&cmd, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
			      self->stdev);
		cmd.mock_domain_replace.pt_id = refused[i];
		EXPECT_FAILS_WHY(EINVAL, test_cmd(CTX, &cmd));
		EXPECT_EQ(refused[i], cmd.mock_domain_replace.pt_id);
		replace_fails(self, EINVAL, RID, refused[i]);
		on(self, self->stdev, RID, self->pp1);
	}
	EXPECT_EQ(self->next, hwt_next_id(CTX));
	EXPECT_EQ(u1, users_of(CTX, self->pp1));
	on(self, self->stdev, 1, self->pp2);

	/* PASID HW pagetables are fine, the PASID's own included. */
	rid_to(self, self->pp2);
	replace_ok(self, self->stdev, RID, self->npn);
	rid_to(self, self->pp1);
	EXPECT_EQ(u1, users_of(CTX, self->pp1));

	ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev, 1));
	rid_to(self, self->np);
	pt = self->ioas;
	ASSERT_EQ(0, test_pasid_replace(CTX, self->stdev, RID, &pt));
	EXPECT_EQ(self->next, pt);
	on(self, self->stdev, RID, pt);
	/* And no PASID can join it there. */
	attach_fails(self, EINVAL, 1, self->pp2);
}

/*
 * A device made without MOCK_FLAGS_DEVICE_PASID has no PASIDs: the iommu
 * core refuses every one (EINVAL), whatever the HW pagetable, though its
 * RID may use a PASID HW pagetable. Replace of one is EINVAL (none is
 * attached), detach does nothing, and the check sees none.
 */
TEST_F(pas, device_without_pasid)
{
	const uint32_t dev_flags[] = { 0, MOCK_FLAGS_DEVICE_NO_DIRTY };
	const uint32_t pasids[] = { 1, 2, RESERVED, NPASIDS - 1 };

	for (unsigned int f = 0; f != ARRAY_SIZE(dev_flags); f++) {
		uint32_t st = 0, hw = 0, idev = 0, pt, next;
		struct iommu_hw_info info;

		ASSERT_EQ(0, test_mock_domain_flags(CTX, self->pp1,
						    dev_flags[f], &st, &hw,
						    &idev));
		next = hwt_next_id(CTX);
		EXPECT_EQ(self->pp1, hw);
		ASSERT_EQ(0, get_hw_info(CTX, idev, NULL, 0, &info));
		EXPECT_EQ(0, info.out_max_pasid_log2);
		for (unsigned int i = 0; i != ARRAY_SIZE(pasids); i++) {
			const uint32_t targets[] = { self->pp1, self->pp2,
						     self->npn };

			for (unsigned int t = 0; t != ARRAY_SIZE(targets);
			     t++) {
				pt = targets[t];
				EXPECT_FAILS_WHY(EINVAL, test_pasid_attach(
								 CTX, st,
								 pasids[i],
								 &pt));
				EXPECT_EQ(targets[t], pt);
				EXPECT_FAILS_WHY(EINVAL, test_pasid_replace(
								 CTX, st,
								 pasids[i],
								 &pt));
			}
			ASSERT_EQ(0, test_pasid_detach(CTX, st, pasids[i]));
			on(self, st, pasids[i], 0);
		}
		/* Its RID: on pp1, and movable through PASID 0. */
		on(self, st, RID, self->pp1);
		pt = self->pp2;
		ASSERT_EQ(0, test_pasid_replace(CTX, st, RID, &pt));
		on(self, st, RID, self->pp2);
		EXPECT_EQ(next, hwt_next_id(CTX));
		EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->pp2));
		ASSERT_EQ(0, ioctl_destroy(CTX, st));
	}
}

/*
 * The PASID device has 2^20 PASIDs: the last one attaches, the next
 * ones are past it (EINVAL), and the check and detach of one past it
 * find nothing.
 */
TEST_F(pas, pasid_width)
{
	const uint32_t past[] = { NPASIDS, NPASIDS + 1, 1u << 31,
				  UINT32_MAX };
	struct iommu_hw_info info;

	ASSERT_EQ(0, get_hw_info(CTX, self->idev, NULL, 0, &info));
	EXPECT_EQ(MOCK_PASID_WIDTH, info.out_max_pasid_log2);
	attach_ok(self, self->stdev, NPASIDS - 1, self->pp2);
	replace_ok(self, self->stdev, NPASIDS - 1, self->npn);
	for (unsigned int i = 0; i != ARRAY_SIZE(past); i++) {
		attach_fails(self, EINVAL, past[i], self->pp2);
		attach_fails(self, EINVAL, past[i], self->npn);
		replace_fails(self, EINVAL, past[i], self->pp2);
		on(self, self->stdev, past[i], 0);
		EXPECT_FAILS_WHY(EINVAL, test_pasid_check(CTX, self->stdev,
							  past[i],
							  self->pp2));
		ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev, past[i]));
	}
	EXPECT_EQ(self->next, hwt_next_id(CTX));
	on(self, self->stdev, NPASIDS - 1, self->npn);
	ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev, NPASIDS - 1));
	on(self, self->stdev, NPASIDS - 1, 0);
}

/*
 * PASID 0 is the RID (IOMMU_NO_PASID): attaching it while the RID is
 * attached is EBUSY, replacing it moves the RID (an IOAS gives an auto
 * HW pagetable, whose ID comes back), and detaching it leaves the device
 * detached, which MOCK_DOMAIN_REPLACE then refuses (EINVAL, as the
 * kernel's replace of a device not attached) until PASID 0 attaches
 * again.
 */
TEST_F(pas, pasid_zero_is_the_rid)
{
	unsigned int u1 = users_of(CTX, self->pp1);
	unsigned int ud = users_of(CTX, self->idev);
	uint32_t pt, auto1, auto2;

	attach_fails(self, EBUSY, RID, self->pp1);
	attach_fails(self, EBUSY, RID, self->pp2);
	attach_fails(self, EBUSY, RID, self->ioas);
	EXPECT_EQ(self->next, hwt_next_id(CTX));
	on(self, self->stdev, RID, self->pp1);

	pt = self->ioas;
	ASSERT_EQ(0, test_pasid_replace(CTX, self->stdev, RID, &pt));
	auto1 = pt;
	EXPECT_EQ(self->next, auto1);
	on(self, self->stdev, RID, auto1);
	ASSERT_EQ(0, test_check_map(CTX, auto1, IOVA, BUF_LEN, self->buf));
	EXPECT_EQ(u1 - 1, users_of(CTX, self->pp1));
	replace_ok(self, self->stdev, RID, self->pp1);
	EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(CTX, auto1));
	EXPECT_EQ(u1, users_of(CTX, self->pp1));
	EXPECT_EQ(ud, users_of(CTX, self->idev));

	/* Detached: nothing holds pp1 or the device for it. */
	ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev, RID));
	on(self, self->stdev, RID, 0);
	EXPECT_EQ(u1 - 1, users_of(CTX, self->pp1));
	EXPECT_EQ(ud - 1, users_of(CTX, self->idev));
	pt = self->pp2;
	EXPECT_FAILS_WHY(EINVAL, test_mock_domain_replace(CTX, self->stdev,
							  &pt));
	EXPECT_EQ(self->pp2, pt);
	replace_fails(self, EINVAL, RID, self->pp2);
	replace_fails(self, EINVAL, RID, self->ioas);
	EXPECT_EQ(self->next, hwt_next_id(CTX));
	ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev, RID));

	/* Back through PASID_ATTACH of PASID 0 to the IOAS. */
	pt = self->ioas;
	ASSERT_EQ(0, test_pasid_attach(CTX, self->stdev, RID, &pt));
	auto2 = pt;
	EXPECT_EQ(self->next, auto2);
	on(self, self->stdev, RID, auto2);
	EXPECT_EQ(ud, users_of(CTX, self->idev));
	/* An auto HW pagetable goes with the RID's detach. */
	ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev, RID));
	EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(CTX, auto2));
	EXPECT_EQ(self->next, hwt_next_id(CTX));
	/* A device with nothing attached is destroyed as any. */
	ASSERT_EQ(0, ioctl_destroy(CTX, self->stdev));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->pp1));
}

/*
 * An attached PASID is EBUSY to attach again: to where it is, to
 * anywhere else, even where it could never go (that state is looked at
 * first). A target that is not there is ENOENT before that, one that is
 * no IOAS or HW pagetable EINVAL.
 */
TEST_F(pas, attach_twice_is_ebusy)
{
	const uint32_t again[] = { self->pp2, self->pp1, self->npn,
				   self->np, self->nn, self->ioas };
	const struct {
		uint32_t id;
		int err;
	} bad[] = {
		{ 0, ENOENT },		{ 4096, ENOENT },
		{ UINT32_MAX, ENOENT }, { self->idev, EINVAL },
		{ self->stdev, EINVAL },
	};
	unsigned int u2, ud;

	attach_ok(self, self->stdev, 1, self->pp2);
	u2 = users_of(CTX, self->pp2);
	ud = users_of(CTX, self->idev);
	for (unsigned int i = 0; i != ARRAY_SIZE(again); i++)
		attach_fails(self, EBUSY, 1, again[i]);
	for (unsigned int i = 0; i != ARRAY_SIZE(bad); i++)
		attach_fails(self, bad[i].err, 1, bad[i].id);
	EXPECT_EQ(self->next, hwt_next_id(CTX));
	EXPECT_EQ(u2, users_of(CTX, self->pp2));
	EXPECT_EQ(ud, users_of(CTX, self->idev));
	on(self, self->stdev, 1, self->pp2);
	ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev, 1));
	/* Free again: the same attach works. */
	attach_ok(self, self->stdev, 1, self->pp1);
}

/*
 * Replace of a PASID that is not attached is EINVAL wherever it goes
 * (an IOAS included: the auto HW pagetable made for it is undone);
 * targets that are not there are ENOENT first.
 */
TEST_F(pas, replace_unattached_is_einval)
{
	const uint32_t targets[] = { self->pp1, self->pp2, self->npn,
				     self->np, self->nn, self->ioas,
				     self->idev, self->stdev };
	const uint32_t missing[] = { 0, 4096, UINT32_MAX };

	for (unsigned int i = 0; i != ARRAY_SIZE(targets); i++) {
		replace_fails(self, EINVAL, 3, targets[i]);
		replace_fails(self, EINVAL, RESERVED, targets[i]);
	}
	for (unsigned int i = 0; i != ARRAY_SIZE(missing); i++)
		replace_fails(self, ENOENT, 3, missing[i]);
	EXPECT_EQ(self->next, hwt_next_id(CTX));
	on(self, self->stdev, 3, 0);
	/* One attached and detached again is as unattached. */
	attach_ok(self, self->stdev, 3, self->pp1);
	ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev, 3));
	replace_fails(self, EINVAL, 3, self->pp2);
	EXPECT_EQ(1, users_of(CTX, self->pp2));
}

/*
 * A PASID moves between PASID HW pagetables, paging and nested (on a
 * parent without the flag), the users reference moving with it; to where
 * it is nothing happens; where it cannot go it is refused and stays.
 */
TEST_F(pas, replace_between_pasid_hwpts)
{
	const uint32_t chain[] = { self->pp2, self->npn, self->pp1, self->npn,
				   self->pp2, self->pp1 };
	const uint32_t refused[] = { self->np, self->parent, self->nn,
				     self->ioas };
	unsigned int base[3], ud;
	const uint32_t ids[3] = { self->pp1, self->pp2, self->npn };
	uint32_t cur = self->pp1;

	for (unsigned int i = 0; i != 3; i++)
		base[i] = users_of(CTX, ids[i]);
	attach_ok(self, self->stdev, 7, cur);
	ud = users_of(CTX, self->idev);
	for (unsigned int i = 0; i != ARRAY_SIZE(chain); i++) {
		replace_ok(self, self->stdev, 7, chain[i]);
		cur = chain[i];
		for (unsigned int k = 0; k != 3; k++)
			EXPECT_EQ(base[k] + (ids[k] == cur),
				  users_of(CTX, ids[k]));
		EXPECT_EQ(ud, users_of(CTX, self->idev));
		/* To the same one: nothing. */
		replace_ok(self, self->stdev, 7, cur);
		replace_ok(self, self->stdev, 7, cur);
		EXPECT_EQ(base[2] + (cur == self->npn),
			  users_of(CTX, self->npn));
		for (unsigned int k = 0; k != ARRAY_SIZE(refused); k++) {
			replace_fails(self, EINVAL, 7, refused[k]);
			on(self, self->stdev, 7, cur);
		}
	}
	EXPECT_EQ(self->next, hwt_next_id(CTX));
	/* Destroy order: the one it is on is held, the others are not. */
	replace_ok(self, self->stdev, 7, self->npn);
	ASSERT_EQ(0, ioctl_destroy(CTX, self->pp2));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->npn));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->nn));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->parent));
	ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev, 7));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->npn));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->parent));
	EXPECT_EQ(ud - 1, users_of(CTX, self->idev));
}

/* ==== the reserved PASID ==== */

/*
 * The mock driver fails every second attach of PASID 1024 to a domain:
 * an attach arms it, the next replace fails (ENOMEM) and disarms it, so
 * the one after works and arms it again. A replace onto the HW pagetable
 * already attached never reaches the driver; other PASIDs do not touch
 * it; a detach resets it; each device has its own.
 */
TEST_F(pas, reserved_pasid_fails_every_second_attach)
{
	unsigned int u1 = users_of(CTX, self->pp1);
	unsigned int u2 = users_of(CTX, self->pp2);
	unsigned int ud = users_of(CTX, self->idev);
	uint32_t st2 = 0;

	attach_ok(self, self->stdev, RESERVED, self->pp1);
	replace_ok(self, self->stdev, RESERVED, self->pp1);
	replace_fails(self, ENOMEM, RESERVED, self->pp2);
	on(self, self->stdev, RESERVED, self->pp1);
	replace_ok(self, self->stdev, RESERVED, self->pp2);
	replace_fails(self, ENOMEM, RESERVED, self->pp1);
	on(self, self->stdev, RESERVED, self->pp2);
	replace_ok(self, self->stdev, RESERVED, self->pp1);
	EXPECT_EQ(u1 + 1, users_of(CTX, self->pp1));
	EXPECT_EQ(u2, users_of(CTX, self->pp2));
	EXPECT_EQ(ud + 1, users_of(CTX, self->idev));

	/* Armed; other PASIDs come and go, and it stays armed. */
	attach_ok(self, self->stdev, 5, self->pp2);
	replace_ok(self, self->stdev, 5, self->npn);
	replace_ok(self, self->stdev, 5, self->pp1);
	ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev, 5));
	attach_ok(self, self->stdev, RESERVED + 1, self->pp2);
	ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev, RESERVED + 1));
	replace_fails(self, ENOMEM, RESERVED, self->npn);
	on(self, self->stdev, RESERVED, self->pp1);
	replace_ok(self, self->stdev, RESERVED, self->npn);

	/*
	 * Armed by that replace; the detach resets it, so an attach works
	 * (had it stayed armed, it would fail).
	 */
	ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev, RESERVED));
	attach_ok(self, self->stdev, RESERVED, self->pp2);
	replace_fails(self, ENOMEM, RESERVED, self->pp1);

	/*
	 * Per device: the fixture's is disarmed now; arming another's
	 * leaves it so.
	 */
	ASSERT_EQ(0, test_mock_domain_flags(CTX, self->pp1,
					    MOCK_FLAGS_DEVICE_PASID, &st2, NULL,
					    NULL));
	attach_ok(self, st2, RESERVED, self->pp1);
	replace_ok(self, self->stdev, RESERVED, self->pp1);
	{
		uint32_t pt = self->pp2;

		EXPECT_FAILS_WHY(ENOMEM, test_pasid_replace(CTX, st2, RESERVED,
							    &pt));
		EXPECT_EQ(self->pp2, pt);
	}
	on(self, st2, RESERVED, self->pp1);
	/* The device goes with its PASID attached. */
	ASSERT_EQ(0, ioctl_destroy(CTX, st2));
	ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev, RESERVED));
	EXPECT_EQ(u1, users_of(CTX, self->pp1));
	EXPECT_EQ(u2, users_of(CTX, self->pp2));
	EXPECT_EQ(ud, users_of(CTX, self->idev));
	EXPECT_EQ(self->next, hwt_next_id(CTX));
}

/*
 * A replace the driver refuses unwinds to exactly where it was: the
 * PASID on the old HW pagetable, which alone is held (its users count
 * as before the replace), the new one not held (destroyed at once), no
 * object made, the device's count unchanged.
 */
TEST_F(pas, reserved_pasid_replace_unwinds)
{
	uint32_t pa = new_hwpt(CTX, self->idev, self->ioas, PASID_FLAG, false);
	uint32_t pb = new_hwpt(CTX, self->idev, self->parent, PASID_FLAG, true);
	unsigned int ua, ub, up, ud;
	uint32_t next = hwt_next_id(CTX);

	attach_ok(self, self->stdev, RESERVED, pa);
	ua = users_of(CTX, pa);
	ub = users_of(CTX, pb);
	up = users_of(CTX, self->parent);
	ud = users_of(CTX, self->idev);
	EXPECT_EQ(2, ua);
	EXPECT_EQ(1, ub);

	replace_fails(self, ENOMEM, RESERVED, pb);
	on(self, self->stdev, RESERVED, pa);
	EXPECT_FAILS_WHY(EINVAL, test_pasid_check(CTX, self->stdev, RESERVED,
						  pb));
	EXPECT_FAILS_WHY(EINVAL, test_pasid_check(CTX, self->stdev, RESERVED,
						  0));
	EXPECT_EQ(ua, users_of(CTX, pa));
	EXPECT_EQ(ub, users_of(CTX, pb));
	EXPECT_EQ(up, users_of(CTX, self->parent));
	EXPECT_EQ(ud, users_of(CTX, self->idev));
	EXPECT_EQ(next, hwt_next_id(CTX));
	on(self, self->stdev, RID, self->pp1);

	/* Destroy order: pb is free, pa is held. */
	ASSERT_EQ(0, ioctl_destroy(CTX, pb));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, pa));
	EXPECT_EQ(up - 1, users_of(CTX, self->parent));
	/* Disarmed by the failure: it moves on, and pa is let go. */
	replace_ok(self, self->stdev, RESERVED, self->pp2);
	EXPECT_EQ(1, users_of(CTX, pa));
	ASSERT_EQ(0, ioctl_destroy(CTX, pa));
	EXPECT_EQ(ud, users_of(CTX, self->idev));
}

/* ==== IDs ==== */

/*
 * PASID_CHECK_HWPT: a hwpt_id that is no object is ENOENT, one that is
 * no HW pagetable EINVAL (as the kernel's iommufd_get_hwpt); 0 asks for
 * a detached PASID. For attached and detached PASIDs alike.
 */
TEST_F(pas, check_hwpt_ids)
{
	const struct {
		uint32_t id;
		int err;
	} bad[] = {
		{ 4096, ENOENT },	{ UINT32_MAX, ENOENT },
		{ self->ioas, EINVAL }, { self->idev, EINVAL },
		{ self->stdev, EINVAL },
	};
	const uint32_t pasids[] = { 1, 2, RID };

	attach_ok(self, self->stdev, 1, self->npn);
	for (unsigned int p = 0; p != ARRAY_SIZE(pasids); p++)
		for (unsigned int i = 0; i != ARRAY_SIZE(bad); i++)
			EXPECT_FAILS_WHY(bad[i].err,
					 test_pasid_check(CTX, self->stdev,
							  pasids[p],
							  bad[i].id));
	EXPECT_FAILS_WHY(EINVAL, test_pasid_check(CTX, self->stdev, 1, 0));
	EXPECT_FAILS_WHY(EINVAL, test_pasid_check(CTX, self->stdev, 1,
						  self->parent));
	EXPECT_FAILS_WHY(EINVAL, test_pasid_check(CTX, self->stdev, RID, 0));
	on(self, self->stdev, 2, 0);
	on(self, self->stdev, 1, self->npn);
	on(self, self->stdev, RID, self->pp1);
}

/*
 * Every op wants a selftest device object: 0, the device's own ID, an
 * IOAS, a HW pagetable, an access or nothing is ENOENT, before anything
 * else is looked at; nothing changes, pt_id is not written. Once the
 * selftest object is destroyed its ID is nothing too.
 */
TEST_F(pas, ops_need_a_selftest_device)
{
	const struct uiommufd_access_ops ops = { 0 };
	struct uiommufd_access *access;
	uint32_t access_id = 0, next;

	access = uiommufd_access_create(CTX, self->ioas, &ops, NULL,
					&access_id);
	ASSERT_NONNULL(access);
	next = hwt_next_id(CTX);
	{
		const uint32_t bad[] = { 0,	     self->idev, self->ioas,
					 self->pp1,  self->npn,	 access_id,
					 4096,	     UINT32_MAX };

		for (unsigned int i = 0; i != ARRAY_SIZE(bad); i++) {
			uint32_t pt = self->pp2;

			EXPECT_FAILS_WHY(ENOENT, test_pasid_attach(CTX, bad[i],
								   1, &pt));
			EXPECT_EQ(self->pp2, pt);
			EXPECT_FAILS_WHY(ENOENT, test_pasid_replace(
							 CTX, bad[i], 1, &pt));
			EXPECT_EQ(self->pp2, pt);
			EXPECT_FAILS_WHY(ENOENT,
					 test_pasid_detach(CTX, bad[i], 1));
			EXPECT_FAILS_WHY(ENOENT, test_pasid_detach(CTX, bad[i],
								   RID));
			EXPECT_FAILS_WHY(ENOENT,
					 test_pasid_check(CTX, bad[i], 1, 0));
			EXPECT_FAILS_WHY(ENOENT, test_pasid_check(
							 CTX, bad[i], RID,
							 self->pp1));
		}
	}
	EXPECT_EQ(next, hwt_next_id(CTX));
	EXPECT_EQ(1, users_of(CTX, self->pp2));
	on(self, self->stdev, RID, self->pp1);
	uiommufd_access_destroy(access);

	attach_ok(self, self->stdev, 1, self->pp2);
	ASSERT_EQ(0, ioctl_destroy(CTX, self->stdev));
	{
		uint32_t pt = self->pp2;

		EXPECT_FAILS_WHY(ENOENT, test_pasid_attach(CTX, self->stdev, 2,
							   &pt));
		EXPECT_FAILS_WHY(ENOENT, test_pasid_replace(CTX, self->stdev,
							    1, &pt));
		EXPECT_FAILS_WHY(ENOENT,
				 test_pasid_detach(CTX, self->stdev, 1));
		EXPECT_FAILS_WHY(ENOENT,
				 test_pasid_check(CTX, self->stdev, 1, 0));
	}
}

/* ==== destroy order ==== */

/*
 * A HW pagetable with PASIDs attached is EBUSY until the last one goes;
 * the device cannot be destroyed by its ID (its owner holds it);
 * destroying the selftest object detaches every PASID and the RID and
 * releases their HW pagetables, after which everything goes.
 */
TEST_F(pas, destroy_order)
{
	attach_ok(self, self->stdev, 1, self->pp2);
	attach_ok(self, self->stdev, 2, self->npn);
	attach_ok(self, self->stdev, 3, self->pp2);
	attach_ok(self, self->stdev, 4, self->pp1);
	EXPECT_EQ(3, users_of(CTX, self->pp2));
	EXPECT_EQ(2, users_of(CTX, self->npn));
	/* The table, the owner, the RID and four PASIDs. */
	EXPECT_EQ(7, users_of(CTX, self->idev));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->pp2));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->npn));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->idev));
	ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev, 1));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->pp2));
	ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev, 3));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->pp2));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->ioas));

	ASSERT_EQ(0, ioctl_destroy(CTX, self->stdev));
	EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(CTX, self->idev));
	EXPECT_EQ(1, users_of(CTX, self->npn));
	EXPECT_EQ(1, users_of(CTX, self->pp1));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->npn));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->nn));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->parent));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->pp1));
	/* The last domain of the IOAS pins its pages until it goes. */
	ASSERT_EQ(0, test_check_refs(CTX, self->buf, BUF_LEN, 1));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->np));
	ASSERT_EQ(0, test_check_refs(CTX, self->buf, BUF_LEN, 0));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->ioas));
	EXPECT_EQ(1, hwt_next_id(CTX));
}

/* ==== many PASIDs ==== */

#define MANY 512

/* MANY distinct PASIDs over the whole range, the last one included. */
static uint32_t many_pasid(unsigned int i)
{
	return i + 1 == MANY ? NPASIDS - 1 : 1 + i * 2039;
}

/*
 * Hundreds of PASIDs on two HW pagetables: each counted once, each seen
 * where it is; half move, some go; the device's destroy takes the rest.
 */
TEST_F(pas, many_pasids)
{
	unsigned int u1 = users_of(CTX, self->pp1), u2, un;
	unsigned int on1 = 0, onn = 0;

	u2 = users_of(CTX, self->pp2);
	un = users_of(CTX, self->npn);
	for (unsigned int i = 0; i != MANY; i++) {
		uint32_t pt = i & 1 ? self->npn : self->pp2;

		ASSERT_EQ(0, test_pasid_attach(CTX, self->stdev,
					       many_pasid(i), &pt));
		test_progress();
	}
	EXPECT_EQ(u2 + MANY / 2, users_of(CTX, self->pp2));
	EXPECT_EQ(un + MANY / 2, users_of(CTX, self->npn));
	for (unsigned int i = 0; i != MANY; i++)
		ASSERT_EQ(0, test_pasid_check(CTX, self->stdev, many_pasid(i),
					      i & 1 ? self->npn : self->pp2));
	/* The even ones move to pp1; every third one goes. */
	for (unsigned int i = 0; i != MANY; i += 2) {
		uint32_t pt = self->pp1;

		ASSERT_EQ(0, test_pasid_replace(CTX, self->stdev,
						many_pasid(i), &pt));
	}
	for (unsigned int i = 0; i < MANY; i += 3)
		ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev,
					       many_pasid(i)));
	for (unsigned int i = 0; i != MANY; i++) {
		uint32_t want = i % 3 == 0 ? 0 :
				i & 1	   ? self->npn :
					     self->pp1;

		ASSERT_EQ(0, test_pasid_check(CTX, self->stdev, many_pasid(i),
					      want));
		on1 += want == self->pp1;
		onn += want == self->npn;
	}
	EXPECT_EQ(u1 + on1, users_of(CTX, self->pp1));
	EXPECT_EQ(un + onn, users_of(CTX, self->npn));
	EXPECT_EQ(u2, users_of(CTX, self->pp2));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->pp2));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->npn));
	EXPECT_EQ(self->next, hwt_next_id(CTX));

	ASSERT_EQ(0, ioctl_destroy(CTX, self->stdev));
	EXPECT_EQ(1, users_of(CTX, self->pp1));
	EXPECT_EQ(1, users_of(CTX, self->npn));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->npn));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->pp1));
}

/* ==== answers that cannot be written back ==== */

/* @op on a read-only copy of the command: the ioctl's result. */
static int ro_cmd(struct uiommufd_ctx *ctx, uint32_t op, uint32_t stdev,
		  uint32_t pasid, uint32_t pt_id)
{
	struct iommu_test_cmd *ro;
	int rc, err;

	ro = mmap(NULL, PG, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ro == MAP_FAILED)
		return -2;
	test_cmd_init(ro, op, stdev);
	ro->size = sizeof(*ro);
	/* pasid and pt_id (hwpt_id) at the same place for every op. */
	ro->pasid_attach.pasid = pasid;
	ro->pasid_attach.pt_id = pt_id;
	if (mprotect(ro, PG, PROT_READ)) {
		munmap(ro, PG);
		return -2;
	}
	rc = uiommufd_ioctl(ctx, IOMMU_TEST_CMD, ro);
	err = errno;
	munmap(ro, PG);
	errno = err;
	return rc;
}

/*
 * As the kernel's ops: an attach whose answer cannot be written back is
 * undone (EFAULT, the PASID detached, which also resets the reserved
 * PASID); a replace stays done (EFAULT says only that pt_id did not come
 * back); detach and check write nothing back, so a read-only command
 * works.
 */
TEST_F(pas, answers_unwritable)
{
	unsigned int u2 = users_of(CTX, self->pp2);
	unsigned int ud = users_of(CTX, self->idev);

	EXPECT_FAILS_WHY(EFAULT, ro_cmd(CTX, IOMMU_TEST_OP_PASID_ATTACH,
					self->stdev, 1, self->pp2));
	on(self, self->stdev, 1, 0);
	EXPECT_EQ(u2, users_of(CTX, self->pp2));
	EXPECT_EQ(ud, users_of(CTX, self->idev));
	EXPECT_EQ(self->next, hwt_next_id(CTX));

	/* The undoing detach reset the reserved PASID: this attach works. */
	EXPECT_FAILS_WHY(EFAULT, ro_cmd(CTX, IOMMU_TEST_OP_PASID_ATTACH,
					self->stdev, RESERVED, self->pp2));
	on(self, self->stdev, RESERVED, 0);
	attach_ok(self, self->stdev, RESERVED, self->pp2);
	ASSERT_EQ(0, test_pasid_detach(CTX, self->stdev, RESERVED));

	attach_ok(self, self->stdev, 1, self->pp2);
	EXPECT_FAILS_WHY(EFAULT, ro_cmd(CTX, IOMMU_TEST_OP_PASID_REPLACE,
					self->stdev, 1, self->npn));
	on(self, self->stdev, 1, self->npn);
	EXPECT_EQ(u2, users_of(CTX, self->pp2));
	EXPECT_EQ(0, ro_cmd(CTX, IOMMU_TEST_OP_PASID_CHECK_HWPT, self->stdev, 1,
			    self->npn));
	EXPECT_EQ(0, ro_cmd(CTX, IOMMU_TEST_OP_PASID_DETACH, self->stdev, 1,
			    0));
	on(self, self->stdev, 1, 0);
	EXPECT_EQ(ud, users_of(CTX, self->idev));
}

/* ==== Linux 6.2 ==== */

/*
 * Linux 6.2 had no PASID ops: each is EOPNOTSUPP, with any IDs, in the
 * 72-byte command and in 6.2's own 56-byte one, and changes nothing.
 */
TEST(pasid_ops_under_6_2)
{
	const uint32_t ops[] = { IOMMU_TEST_OP_PASID_ATTACH,
				 IOMMU_TEST_OP_PASID_REPLACE,
				 IOMMU_TEST_OP_PASID_DETACH,
				 IOMMU_TEST_OP_PASID_CHECK_HWPT };
	struct uiommufd_ctx *ctx = ctx_open_as(UIOMMUFD_KERNEL_6_2, false, 0);
	uint32_t ioas = 0, stdev = 0, hwpt = 0, next;
	uint8_t *buf = test_buffer(BUF_LEN);
	uint64_t iova = IOVA;

	ASSERT_NONNULL(ctx);
	ASSERT_NONNULL(buf);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, ioas_map(ctx, ioas, buf, BUF_LEN, &iova, MAP_FIXED_RW));
	ASSERT_EQ(0, test_mock_domain(ctx, ioas, &stdev, &hwpt, NULL));
	next = hwt_next_id(ctx);
	for (unsigned int i = 0; i != ARRAY_SIZE(ops); i++) {
		const uint32_t ids[] = { stdev, 0, hwpt, 4096 };

		for (unsigned int k = 0; k != ARRAY_SIZE(ids); k++) {
			struct iommu_test_cmd cmd;
			struct iommu_test_cmd_v6_2 old;

			test_cmd_init(&cmd, ops[i], ids[k]);
			cmd.pasid_attach.pasid = 1;
			cmd.pasid_attach.pt_id = hwpt;
			EXPECT_FAILS_WHY(EOPNOTSUPP, test_cmd(ctx, &cmd));
			EXPECT_EQ(hwpt, cmd.pasid_attach.pt_id);
			memset(&old, 0, sizeof(old));
			old.size = sizeof(old);
			old.op = ops[i];
			old.id = ids[k];
			EXPECT_FAILS_WHY(EOPNOTSUPP,
					 uiommufd_ioctl(ctx, IOMMU_TEST_CMD,
							&old));
		}
	}
	EXPECT_EQ(next, hwt_next_id(ctx));
	/* What 6.2 had still works, in 6.2's order. */
	ASSERT_EQ(0, test_check_map(ctx, hwpt, IOVA, BUF_LEN, buf));
	ASSERT_EQ(0, ioctl_destroy(ctx, stdev));
	ASSERT_EQ(0, ioctl_destroy(ctx, hwpt));
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas));
	uiommufd_ctx_close(ctx);
	munmap(buf, BUF_LEN);
}

/* ==== threads ==== */

#define NWORKERS 3
#define WORKER_PASIDS 8
/* Attached by the test before the threads start, and through them. */
#define HELD_PASID 5

struct prace {
	struct uiommufd_ctx *ctx;
	uint32_t stdev, idev, ioas;
	uint32_t pp1, pp2, npn, np, nn;
	uint64_t rounds;
	atomic_uint errors;
	pthread_barrier_t start;
	pthread_mutex_t first_lock;
	char first[200];
};

struct pracer {
	struct prace *r;
	unsigned int tid;
	uint64_t done;
};

static void prace_error(struct prace *r, const char *what, unsigned int n,
			int err)
{
	if (atomic_fetch_add(&r->errors, 1))
		return;
	pthread_mutex_lock(&r->first_lock);
	snprintf(r->first, sizeof(r->first), "%s (%u): errno %d (%s)", what, n,
		 err, uiommufd_last_reason() ?: "no reason");
	pthread_mutex_unlock(&r->first_lock);
}

/* @call must give @want (0 or an errno). */
#define PR_EXPECT(r, want, what, n, call)                                   \
	do {                                                                \
		int _rc = (call), _err = _rc ? errno : 0;                   \
		if (_err != (want) || (_rc && _rc != -1))                   \
			prace_error(r, what, n, _rc ? _err : -1);           \
	} while (0)

/*
 * A PASID of its own, each round: attach, check, attach again (EBUSY),
 * replace, replace onto the same, a refused target, detach, check. The
 * first worker also runs the reserved PASID's cycle.
 */
static void *pasid_worker(void *arg)
{
	struct pracer *me = arg;
	struct prace *r = me->r;

	pthread_barrier_wait(&r->start);
	for (uint64_t i = 0; i != r->rounds; i++) {
		uint32_t p = 100 + me->tid * WORKER_PASIDS + i % WORKER_PASIDS;
		uint32_t a = i & 1 ? r->pp1 : r->npn;
		uint32_t b = i & 2 ? r->pp2 : r->npn;
		uint32_t pt;

		if (b == a)
			b = r->pp2;
		pt = a;
		PR_EXPECT(r, 0, "attach", p,
			  test_pasid_attach(r->ctx, r->stdev, p, &pt));
		PR_EXPECT(r, 0, "check", p,
			  test_pasid_check(r->ctx, r->stdev, p, a));
		pt = b;
		PR_EXPECT(r, EBUSY, "attach again", p,
			  test_pasid_attach(r->ctx, r->stdev, p, &pt));
		PR_EXPECT(r, 0, "replace", p,
			  test_pasid_replace(r->ctx, r->stdev, p, &pt));
		PR_EXPECT(r, 0, "replace same", p,
			  test_pasid_replace(r->ctx, r->stdev, p, &pt));
		PR_EXPECT(r, 0, "check", p,
			  test_pasid_check(r->ctx, r->stdev, p, b));
		pt = i & 1 ? r->np : r->nn;
		PR_EXPECT(r, EINVAL, "replace refused", p,
			  test_pasid_replace(r->ctx, r->stdev, p, &pt));
		PR_EXPECT(r, 0, "detach", p,
			  test_pasid_detach(r->ctx, r->stdev, p));
		PR_EXPECT(r, 0, "detached", p,
			  test_pasid_check(r->ctx, r->stdev, p, 0));
		if (!me->tid) {
			pt = r->pp2;
			PR_EXPECT(r, 0, "reserved attach", RESERVED,
				  test_pasid_attach(r->ctx, r->stdev, RESERVED,
						    &pt));
			pt = r->npn;
			PR_EXPECT(r, ENOMEM, "reserved replace", RESERVED,
				  test_pasid_replace(r->ctx, r->stdev, RESERVED,
						     &pt));
			PR_EXPECT(r, 0, "reserved stays", RESERVED,
				  test_pasid_check(r->ctx, r->stdev, RESERVED,
						   r->pp2));
			PR_EXPECT(r, 0, "reserved replace again", RESERVED,
				  test_pasid_replace(r->ctx, r->stdev, RESERVED,
						     &pt));
			PR_EXPECT(r, 0, "reserved detach", RESERVED,
				  test_pasid_detach(r->ctx, r->stdev,
						    RESERVED));
		}
		me->done++;
		test_progress();
	}
	return NULL;
}

/*
 * Moves the RID among the PASID HW pagetables, by both ops; a target
 * without the flag is always refused, since HELD_PASID stays attached.
 */
static void *rid_mover(void *arg)
{
	struct pracer *me = arg;
	struct prace *r = me->r;
	const uint32_t targets[] = { r->pp2, r->npn, r->pp1 };

	pthread_barrier_wait(&r->start);
	for (uint64_t i = 0; i != r->rounds; i++) {
		uint32_t want = targets[i % ARRAY_SIZE(targets)], pt = want;

		if (i & 1)
			PR_EXPECT(r, 0, "RID replace", (unsigned int)i,
				  test_mock_domain_replace(r->ctx, r->stdev,
							   &pt));
		else
			PR_EXPECT(r, 0, "PASID 0 replace", (unsigned int)i,
				  test_pasid_replace(r->ctx, r->stdev, RID,
						     &pt));
		pt = i & 2 ? r->np : r->ioas;
		PR_EXPECT(r, EINVAL, "RID to no PASID HWPT", pt,
			  test_mock_domain_replace(r->ctx, r->stdev, &pt));
		PR_EXPECT(r, EBUSY, "PASID 0 attach", (unsigned int)i,
			  test_pasid_attach(r->ctx, r->stdev, RID, &pt));
		me->done++;
		test_progress();
	}
	return NULL;
}

/*
 * A PASID HW pagetable of its own each round, with a PASID on it: held
 * while attached, free once detached.
 */
static void *churner(void *arg)
{
	struct pracer *me = arg;
	struct prace *r = me->r;

	pthread_barrier_wait(&r->start);
	for (uint64_t i = 0; i != r->rounds; i++) {
		uint32_t hw = 0, pt;

		if (hwpt_alloc(r->ctx, r->idev, r->ioas, PASID_FLAG, NULL, 0,
			       &hw)) {
			prace_error(r, "hwpt_alloc", 0, errno);
			continue;
		}
		pt = hw;
		PR_EXPECT(r, 0, "churn attach", 900,
			  test_pasid_attach(r->ctx, r->stdev, 900, &pt));
		PR_EXPECT(r, EBUSY, "churn destroy held", hw,
			  ioctl_destroy(r->ctx, hw));
		PR_EXPECT(r, 0, "churn check", 900,
			  test_pasid_check(r->ctx, r->stdev, 900, hw));
		PR_EXPECT(r, 0, "churn detach", 900,
			  test_pasid_detach(r->ctx, r->stdev, 900));
		PR_EXPECT(r, 0, "churn destroy", hw, ioctl_destroy(r->ctx, hw));
		me->done++;
		test_progress();
	}
	return NULL;
}

/*
 * Workers attach, replace and detach their own PASIDs of one device
 * while another thread moves its RID and a third makes, uses and
 * destroys HW pagetables: every answer is the one the rules give
 * whatever the others do, and at the end the counts are exact.
 */
TEST_F(pas, threads)
{
	struct prace r = { .ctx = CTX,
			   .stdev = self->stdev,
			   .idev = self->idev,
			   .ioas = self->ioas,
			   .pp1 = self->pp1,
			   .pp2 = self->pp2,
			   .npn = self->npn,
			   .np = self->np,
			   .nn = self->nn,
			   .first_lock = PTHREAD_MUTEX_INITIALIZER };
	struct pracer racers[NWORKERS + 2];
	pthread_t th[NWORKERS + 2];
	const uint32_t ids[] = { self->pp1, self->pp2, self->npn };
	unsigned int base[ARRAY_SIZE(ids)], ud, rid_on = 0;

	/* Less the RID's reference: it ends wherever the mover left it. */
	for (unsigned int k = 0; k != ARRAY_SIZE(ids); k++)
		base[k] = users_of(CTX, ids[k]) - (ids[k] == self->pp1);
	attach_ok(self, self->stdev, HELD_PASID, self->pp2);
	ud = users_of(CTX, self->idev);
	r.rounds = test_iterations(5000);
	ASSERT_EQ(0, pthread_barrier_init(&r.start, NULL, NWORKERS + 2));
	for (unsigned int i = 0; i != NWORKERS + 2; i++) {
		racers[i].r = &r;
		racers[i].tid = i;
		racers[i].done = 0;
		ASSERT_EQ(0, pthread_create(&th[i], NULL,
					    i < NWORKERS ? pasid_worker :
					    i == NWORKERS ? rid_mover :
							    churner,
					    &racers[i]));
	}
	for (unsigned int i = 0; i != NWORKERS + 2; i++) {
		ASSERT_EQ(0, pthread_join(th[i], NULL));
		EXPECT_EQ(r.rounds, racers[i].done);
	}
	pthread_barrier_destroy(&r.start);
	TH_LOG("%llu rounds in each of %u threads",
	       (unsigned long long)r.rounds, NWORKERS + 2);
	if (atomic_load(&r.errors))
		TH_LOG("%u errors, the first: %s", atomic_load(&r.errors),
		       r.first);
	ASSERT_EQ(0, atomic_load(&r.errors));

	/* Every worker's PASID is detached; the held one is where it was. */
	for (uint32_t p = 100; p != 100 + NWORKERS * WORKER_PASIDS; p++)
		on(self, self->stdev, p, 0);
	on(self, self->stdev, 900, 0);
	on(self, self->stdev, RESERVED, 0);
	on(self, self->stdev, HELD_PASID, self->pp2);
	/* The RID is on exactly one of them; the counts are exact. */
	for (unsigned int k = 0; k != ARRAY_SIZE(ids); k++) {
		bool here = !test_pasid_check(CTX, self->stdev, RID, ids[k]);

		rid_on += here;
		EXPECT_EQ(base[k] + here + (ids[k] == self->pp2),
			  users_of(CTX, ids[k]));
	}
	EXPECT_EQ(1, rid_on);
	EXPECT_EQ(ud, users_of(CTX, self->idev));
	EXPECT_EQ(self->next, hwt_next_id(CTX));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->stdev));
	for (unsigned int k = 0; k != ARRAY_SIZE(ids); k++)
		EXPECT_EQ(1, users_of(CTX, ids[k]));
}
