// SPDX-License-Identifier: MIT
/*
 * HW pagetables of the Linux 7.2 ABI, driven through uiommufd_ioctl() as
 * a program drives /dev/iommu: IOMMU_HWPT_ALLOC (paging on an IOAS,
 * nested on a NEST_PARENT paging one), IOMMU_HWPT_INVALIDATE of a nested
 * one's mock IOTLB, IOMMU_GET_HW_INFO of a mock device, and what the
 * object graph makes of them (who holds whom, what destroy refuses).
 *
 * The kernel is the reference for every errno and every byte written
 * back: drivers/iommu/iommufd/hw_pagetable.c (iommufd_hwpt_alloc,
 * iommufd_hwpt_paging_alloc, iommufd_hwpt_nested_alloc,
 * iommufd_hwpt_invalidate), device.c (iommufd_get_hw_info) and the test
 * driver in selftest.c (mock_domain_alloc_paging_flags,
 * mock_domain_alloc_nested, mock_domain_cache_invalidate_user,
 * mock_domain_hw_info, mock_domain_capable). Where its order of checks
 * decides which errno a command with two faults gets, a test has both.
 *
 * Every refused command must leave a reason and nothing behind: the ID
 * the next object gets (IDs are the lowest free) shows an object made
 * and not undone.
 */
#include <sys/mman.h>

#include "iommufd/iommufd_utils.h"

#define PG TEST_PAGE_SIZE
#define BUF_PAGES 16
#define BUF_LEN (BUF_PAGES * PG)
#define IOVA MOCK_APERTURE_START
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

#define NEST IOMMU_HWPT_ALLOC_NEST_PARENT
#define DIRTY IOMMU_HWPT_ALLOC_DIRTY_TRACKING
#define FAULT IOMMU_HWPT_FAULT_ID_VALID
#define PASID IOMMU_HWPT_ALLOC_PASID
#define KNOWN_FLAGS (NEST | DIRTY | FAULT | PASID)
#define IOTLB_X 0x5a5a1234u
#define INV_TWIN IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID

/* ---- helpers local to this suite ---- */

static void alloc_init(struct iommu_hwpt_alloc *cmd, uint32_t dev_id,
		       uint32_t pt_id, uint32_t flags)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->size = sizeof(*cmd);
	cmd->flags = flags;
	cmd->dev_id = dev_id;
	cmd->pt_id = pt_id;
}

/* @len bytes of @data_type data at @data. */
static void alloc_data(struct iommu_hwpt_alloc *cmd, uint32_t data_type,
		       const void *data, uint32_t len)
{
	cmd->data_type = data_type;
	cmd->data_len = len;
	cmd->data_uptr = (uintptr_t)data;
}

static int alloc_cmd(struct uiommufd_ctx *ctx, void *cmd)
{
	return uiommufd_ioctl(ctx, IOMMU_HWPT_ALLOC, cmd);
}

/*
 * Two pages, the second inaccessible: edge_ptr(g, n) has exactly @n
 * readable and writable bytes before the hole.
 */
static uint8_t *guard_pages(void)
{
	uint8_t *p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (mprotect(p + PG, PG, PROT_NONE)) {
		munmap(p, 2 * PG);
		return NULL;
	}
	memset(p, 0, PG);
	return p;
}

static void *edge_ptr(uint8_t *guard, size_t n)
{
	return guard + PG - n;
}

/*
 * A copy of @len bytes of @src in a page the library can read but not
 * write: a command whose answer cannot be written back. Free with
 * munmap(p, PG).
 */
static void *ro_copy(const void *src, size_t len)
{
	void *p = mmap(NULL, PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memcpy(p, src, len);
	if (mprotect(p, PG, PROT_READ)) {
		munmap(p, PG);
		return NULL;
	}
	return p;
}

static void iotlb_expect(struct uiommufd_ctx *ctx, uint32_t nested,
			 uint32_t v0, uint32_t v1, uint32_t v2, uint32_t v3)
{
	const uint32_t want[MOCK_NESTED_DOMAIN_IOTLB_NUM] = { v0, v1, v2, v3 };

	for (uint32_t i = 0; i != MOCK_NESTED_DOMAIN_IOTLB_NUM; i++) {
		int rc = test_check_iotlb(ctx, nested, i, want[i]);

		if (rc)
			TH_LOG("IOTLB entry %u of %u is not %#x: %s", i,
			       nested, want[i], uiommufd_last_reason());
		EXPECT_EQ(0, rc);
	}
}

static void iotlb_expect_all(struct uiommufd_ctx *ctx, uint32_t nested,
			     uint32_t v)
{
	iotlb_expect(ctx, nested, v, v, v, v);
}

/* ---- the fixture: one IOAS with a mapping, one device on it ---- */

FIXTURE(hwpt)
{
	struct uiommufd_ctx *ctx;
	uint8_t *buf;
	uint8_t *guard;
	uint32_t ioas;
	uint32_t stdev, auto_hwpt, idev;
};

FIXTURE_SETUP(hwpt)
{
	uint64_t iova = IOVA;

	self->buf = test_buffer(BUF_LEN);
	ASSERT_NONNULL(self->buf);
	for (size_t i = 0; i != BUF_LEN; i++)
		self->buf[i] = (uint8_t)(i * 31 + 7);
	self->guard = guard_pages();
	ASSERT_NONNULL(self->guard);
	self->ctx = ctx_open_as(UIOMMUFD_KERNEL_7_2, false, 0);
	ASSERT_NONNULL(self->ctx);
	ASSERT_EQ(0, ioas_alloc(self->ctx, &self->ioas));
	ASSERT_EQ(0, ioas_map(self->ctx, self->ioas, self->buf, BUF_LEN,
			      &iova, MAP_FIXED_RW));
	ASSERT_EQ(0, test_mock_domain(self->ctx, self->ioas, &self->stdev,
				      &self->auto_hwpt, &self->idev));
	ASSERT_NE(0, self->idev);
}

FIXTURE_TEARDOWN(hwpt)
{
	struct uiommufd_ctx *ctx;

	uiommufd_ctx_close(self->ctx);
	/* Whatever the test left, closing let go of every page. */
	ctx = uiommufd_ctx_open(0);
	EXPECT_NE(NULL, ctx);
	if (ctx) {
		EXPECT_EQ(0, test_check_refs(ctx, self->buf, BUF_LEN, 0));
		uiommufd_ctx_close(ctx);
	}
	munmap(self->buf, BUF_LEN);
	munmap(self->guard, 2 * PG);
}

#define CTX (self->ctx)

/* A paging HW pagetable of the fixture's device on its IOAS. */
static uint32_t paging(struct _fixture_data_hwpt *self, uint32_t flags)
{
	uint32_t id = 0;
	int rc = hwpt_alloc(CTX, self->idev, self->ioas, flags, NULL, 0, &id);

	if (rc)
		TH_LOG("HWPT_ALLOC flags %#x: errno %d (%s)", flags, errno,
		       uiommufd_last_reason());
	ASSERT_EQ(0, rc);
	ASSERT_NE(0, id);
	return id;
}

/* A nested one on @parent with every IOTLB entry @iotlb. */
static uint32_t nested(struct _fixture_data_hwpt *self, uint32_t parent,
		       uint32_t iotlb)
{
	uint32_t id = 0;

	ASSERT_EQ(0, hwpt_alloc_nested(CTX, self->idev, parent, iotlb, &id));
	ASSERT_NE(0, id);
	return id;
}

/* A device with MOCK_FLAGS_DEVICE_* @dev_flags on @pt_id: its idev. */
static uint32_t flags_device(struct _fixture_data_hwpt *self, uint32_t pt_id,
			     uint32_t dev_flags, uint32_t *stdev)
{
	uint32_t idev = 0;

	ASSERT_EQ(0, test_mock_domain_flags(CTX, pt_id, dev_flags, stdev, NULL,
					    &idev));
	ASSERT_NE(0, idev);
	return idev;
}

/* ==== IOMMU_HWPT_ALLOC: paging ==== */

/*
 * A paging HW pagetable mirrors its IOAS from birth: what was mapped is
 * filled in, what is mapped and unmapped later follows. Each page is
 * pinned once however many domains map it. Not an auto one: it is not
 * the device's, and it stays until destroyed.
 */
TEST_F(hwpt, paging_mirrors_its_ioas)
{
	uint8_t *buf2 = test_buffer(4 * PG);
	uint64_t iova2 = IOVA + 0x100000, unmapped = 0;
	uint32_t hwpt = paging(self, 0);

	ASSERT_NONNULL(buf2);
	EXPECT_NE(self->auto_hwpt, hwpt);
	EXPECT_NE(self->ioas, hwpt);
	ASSERT_EQ(0, test_check_map(CTX, hwpt, IOVA, BUF_LEN, self->buf));
	ASSERT_EQ(0, test_check_refs(CTX, self->buf, BUF_LEN, 1));
	/* Mapped after: both domains get it. */
	ASSERT_EQ(0, ioas_map(CTX, self->ioas, buf2, 4 * PG, &iova2,
			      MAP_FIXED_RW));
	ASSERT_EQ(0, test_check_map(CTX, hwpt, iova2, 4 * PG, buf2));
	ASSERT_EQ(0, test_check_map(CTX, self->auto_hwpt, iova2, 4 * PG,
				    buf2));
	ASSERT_EQ(0, test_check_refs(CTX, buf2, 4 * PG, 1));
	/* Unmapped: gone from both, unpinned. */
	ASSERT_EQ(0, ioas_unmap(CTX, self->ioas, iova2, 4 * PG, &unmapped));
	ASSERT_EQ(4 * PG, unmapped);
	EXPECT_FAILS_WHY(EINVAL, test_check_map(CTX, hwpt, iova2, PG, buf2));
	ASSERT_EQ(0, test_check_refs(CTX, buf2, 4 * PG, 0));

	/* The IOAS is held by it; the device is not on it. */
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->ioas));
	ASSERT_EQ(0, ioctl_destroy(CTX, hwpt));
	EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(CTX, hwpt));
	EXPECT_FAILS_WHY(ENOENT, test_check_map(CTX, hwpt, IOVA, PG,
						self->buf));
	ASSERT_EQ(0, test_check_map(CTX, self->auto_hwpt, IOVA, BUF_LEN,
				    self->buf));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->stdev));
	ASSERT_EQ(0, test_check_refs(CTX, self->buf, BUF_LEN, 0));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->ioas));
	munmap(buf2, 4 * PG);
}

/*
 * Sizes: below the end of __reserved (24) EINVAL; 24 is enough, and only
 * those 24 bytes come back; longer with a zero tail is fine, a non-zero
 * or unreadable tail E2BIG or EFAULT. None of the refusals makes anything.
 */
TEST_F(hwpt, alloc_size_rules)
{
	const uint32_t short_sizes[] = { 0, 4, 8, 16, 20, 23 };
	uint8_t raw[PG] __attribute__((aligned(8)));
	struct iommu_hwpt_alloc *cmd = (void *)raw;
	uint32_t next = hwt_next_id(CTX), got;
	void *edge;

	ASSERT_NE(0, next);
	for (unsigned int i = 0; i != ARRAY_SIZE(short_sizes); i++) {
		alloc_init(cmd, self->idev, self->ioas, 0);
		cmd->size = short_sizes[i];
		cmd->out_hwpt_id = 0xdeadbeef;
		EXPECT_FAILS_WHY(EINVAL, alloc_cmd(CTX, cmd));
		EXPECT_EQ(0xdeadbeef, cmd->out_hwpt_id);
	}
	EXPECT_EQ(next, hwt_next_id(CTX));

	/* 24 bytes: the rest is not read (nonsense there) nor written. */
	memset(raw, 0xa5, sizeof(raw));
	alloc_init(cmd, self->idev, self->ioas, 0);
	cmd->size = 24;
	memset(raw + 24, 0xa5, 64);
	ASSERT_EQ(0, alloc_cmd(CTX, cmd));
	got = cmd->out_hwpt_id;
	EXPECT_EQ(next, got);
	for (unsigned int i = 24; i != 88; i++)
		EXPECT_EQ(0xa5, raw[i]);
	ASSERT_EQ(0, test_check_map(CTX, got, IOVA, BUF_LEN, self->buf));
	ASSERT_EQ(0, ioctl_destroy(CTX, got));

	/* Longer, with a zero tail up to a whole page: fine. */
	memset(raw, 0, sizeof(raw));
	alloc_init(cmd, self->idev, self->ioas, 0);
	cmd->size = sizeof(raw);
	ASSERT_EQ(0, alloc_cmd(CTX, cmd));
	EXPECT_EQ(next, cmd->out_hwpt_id);
	ASSERT_EQ(0, ioctl_destroy(CTX, cmd->out_hwpt_id));

	/* A non-zero byte anywhere past the struct: E2BIG. */
	for (unsigned int at = sizeof(*cmd); at < sizeof(raw); at += 997) {
		memset(raw, 0, sizeof(raw));
		alloc_init(cmd, self->idev, self->ioas, 0);
		cmd->size = sizeof(raw);
		raw[at] = 1;
		EXPECT_FAILS_WHY(E2BIG, alloc_cmd(CTX, cmd));
		EXPECT_EQ(0, cmd->out_hwpt_id);
	}
	memset(raw, 0, sizeof(raw));
	alloc_init(cmd, self->idev, self->ioas, 0);
	cmd->size = sizeof(raw);
	raw[sizeof(raw) - 1] = 0x80;
	EXPECT_FAILS_WHY(E2BIG, alloc_cmd(CTX, cmd));

	/* A tail running into unmapped memory: EFAULT. */
	edge = edge_ptr(self->guard, sizeof(*cmd));
	alloc_init(edge, self->idev, self->ioas, 0);
	((struct iommu_hwpt_alloc *)edge)->size = sizeof(*cmd) + 8;
	EXPECT_FAILS_WHY(EFAULT, alloc_cmd(CTX, edge));
	/* The command itself unreadable. */
	EXPECT_FAILS_WHY(EFAULT, alloc_cmd(CTX, BAD_PTR));
	EXPECT_EQ(next, hwt_next_id(CTX));
}

/*
 * Every combination of the four flags on a paging HW pagetable. The
 * kernel refuses FAULT_ID_VALID with NEST_PARENT (EOPNOTSUPP) before it
 * allocates anything, and FAULT_ID_VALID alone only when it looks the
 * fault queue up: no fault queue exists, so ENOENT. An unknown bit with
 * any of them is EOPNOTSUPP.
 */
TEST_F(hwpt, alloc_flags_every_combination)
{
	const uint32_t unknown[] = { 1u << 4, 1u << 5, 1u << 16, 1u << 31 };
	uint32_t next = hwt_next_id(CTX);

	for (uint32_t f = 0; f <= KNOWN_FLAGS; f++) {
		struct iommu_hwpt_alloc cmd;

		if (f & ~KNOWN_FLAGS)
			continue;
		alloc_init(&cmd, self->idev, self->ioas, f);
		if ((f & FAULT) && (f & NEST)) {
			EXPECT_FAILS_WHY(EOPNOTSUPP, alloc_cmd(CTX, &cmd));
			EXPECT_EQ(0, cmd.out_hwpt_id);
		} else if (f & FAULT) {
			EXPECT_FAILS_WHY(ENOENT, alloc_cmd(CTX, &cmd));
			EXPECT_EQ(0, cmd.out_hwpt_id);
		} else {
			int rc = alloc_cmd(CTX, &cmd);

			if (rc)
				TH_LOG("flags %#x: errno %d (%s)", f, errno,
				       uiommufd_last_reason());
			EXPECT_EQ(0, rc);
			if (rc)
				continue;
			EXPECT_EQ(next, cmd.out_hwpt_id);
			EXPECT_EQ(0, test_check_map(CTX, cmd.out_hwpt_id, IOVA,
						    BUF_LEN, self->buf));
			EXPECT_EQ(0, ioctl_destroy(CTX, cmd.out_hwpt_id));
		}
		for (unsigned int i = 0; i != ARRAY_SIZE(unknown); i++) {
			alloc_init(&cmd, self->idev, self->ioas,
				   f | unknown[i]);
			EXPECT_FAILS_WHY(EOPNOTSUPP, alloc_cmd(CTX, &cmd));
			EXPECT_EQ(0, cmd.out_hwpt_id);
		}
		EXPECT_EQ(next, hwt_next_id(CTX));
	}
	/* Only the auto one is left holding the IOAS. */
	ASSERT_EQ(0, ioctl_destroy(CTX, self->stdev));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->ioas));
}

/*
 * A device whose IOMMU cannot track dirty IOVA: DIRTY_TRACKING is
 * EOPNOTSUPP, and that check comes before the FAULT_ID_VALID with
 * NEST_PARENT one and before the fault lookup. Every other flag works.
 */
TEST_F(hwpt, alloc_dirty_tracking_needs_a_capable_device)
{
	const uint32_t refused[] = { DIRTY, DIRTY | NEST, DIRTY | PASID,
				     DIRTY | FAULT, DIRTY | FAULT | NEST };
	const uint32_t fine[] = { 0, NEST, PASID, NEST | PASID };
	uint32_t stdev = 0, nd = flags_device(self, self->ioas,
					      MOCK_FLAGS_DEVICE_NO_DIRTY,
					      &stdev);
	uint32_t next = hwt_next_id(CTX), id = 0;

	for (unsigned int i = 0; i != ARRAY_SIZE(refused); i++)
		EXPECT_FAILS_WHY(EOPNOTSUPP, hwpt_alloc(CTX, nd, self->ioas,
							refused[i], NULL, 0,
							&id));
	EXPECT_EQ(next, hwt_next_id(CTX));
	for (unsigned int i = 0; i != ARRAY_SIZE(fine); i++) {
		ASSERT_EQ(0, hwpt_alloc(CTX, nd, self->ioas, fine[i], NULL, 0,
					&id));
		EXPECT_EQ(0, ioctl_destroy(CTX, id));
	}
	/* The capable device may, on the same IOAS. */
	id = paging(self, DIRTY);
	EXPECT_EQ(0, ioctl_destroy(CTX, id));
	EXPECT_EQ(0, ioctl_destroy(CTX, stdev));
}

/*
 * FAULT_ID_VALID names a fault queue; there is none, whatever fault_id
 * holds (0, an IOAS, a HW pagetable, nothing). Without the flag fault_id
 * is not looked at.
 */
TEST_F(hwpt, alloc_fault_id)
{
	const uint32_t ids[] = { 0, self->ioas, self->auto_hwpt, self->idev,
				 self->stdev, 9999, UINT32_MAX };
	struct iommu_hwpt_alloc cmd;
	uint32_t next = hwt_next_id(CTX);

	for (unsigned int i = 0; i != ARRAY_SIZE(ids); i++) {
		alloc_init(&cmd, self->idev, self->ioas, FAULT);
		cmd.fault_id = ids[i];
		EXPECT_FAILS_WHY(ENOENT, alloc_cmd(CTX, &cmd));
		EXPECT_EQ(0, cmd.out_hwpt_id);
		EXPECT_EQ(next, hwt_next_id(CTX));
	}
	alloc_init(&cmd, self->idev, self->ioas, 0);
	cmd.fault_id = 0xfeedf00d;
	ASSERT_EQ(0, alloc_cmd(CTX, &cmd));
	EXPECT_EQ(next, cmd.out_hwpt_id);
	EXPECT_EQ(0, ioctl_destroy(CTX, cmd.out_hwpt_id));
	/*
	 * The fault lookup comes after the domain was made and filled: its
	 * undoing left no domain on the IOAS (one pin per page, and the
	 * IOAS goes once the device has).
	 */
	EXPECT_EQ(0, test_check_refs(CTX, self->buf, BUF_LEN, 1));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->stdev));
	EXPECT_EQ(0, test_check_refs(CTX, self->buf, BUF_LEN, 0));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->ioas));
}

/*
 * __reserved: EOPNOTSUPP, the first check of all (before the data rules
 * and the device). __reserved2 is documented "must be 0" but the kernel
 * never looks at it: a value there is accepted.
 */
TEST_F(hwpt, alloc_reserved_fields)
{
	const uint32_t vals[] = { 1, 0x100, 0x80000000u, UINT32_MAX };
	struct iommu_hwpt_alloc cmd;
	uint32_t next = hwt_next_id(CTX);

	for (unsigned int i = 0; i != ARRAY_SIZE(vals); i++) {
		alloc_init(&cmd, self->idev, self->ioas, 0);
		cmd.__reserved = vals[i];
		EXPECT_FAILS_WHY(EOPNOTSUPP, alloc_cmd(CTX, &cmd));
		/* Before the data rules (NONE with a length is EINVAL)... */
		alloc_init(&cmd, self->idev, self->ioas, 0);
		cmd.__reserved = vals[i];
		alloc_data(&cmd, IOMMU_HWPT_DATA_NONE, self->buf, 8);
		EXPECT_FAILS_WHY(EOPNOTSUPP, alloc_cmd(CTX, &cmd));
		/* ... and before the device (ENOENT). */
		alloc_init(&cmd, 0, 0, 0);
		cmd.__reserved = vals[i];
		EXPECT_FAILS_WHY(EOPNOTSUPP, alloc_cmd(CTX, &cmd));
	}
	EXPECT_EQ(next, hwt_next_id(CTX));

	alloc_init(&cmd, self->idev, self->ioas, 0);
	cmd.__reserved2 = UINT32_MAX;
	ASSERT_EQ(0, alloc_cmd(CTX, &cmd));
	EXPECT_EQ(next, cmd.out_hwpt_id);
	EXPECT_EQ(0, ioctl_destroy(CTX, cmd.out_hwpt_id));
}

/*
 * data_type and data_len go together: NONE with a length, or a type
 * without one, is EINVAL before the device is looked up. A type the
 * mock driver does not know is its EOPNOTSUPP. With NONE and no length
 * the pointer is not looked at.
 */
TEST_F(hwpt, alloc_data_type_and_len)
{
	const uint32_t types[] = { IOMMU_HWPT_DATA_VTD_S1,
				   IOMMU_HWPT_DATA_ARM_SMMUV3,
				   IOMMU_HWPT_DATA_AMD_GUEST, 0x1234,
				   IOMMU_HWPT_DATA_SELFTEST + 1, UINT32_MAX };
	struct iommu_hwpt_selftest data = { .iotlb = IOTLB_X };
	struct iommu_hwpt_alloc cmd;
	uint32_t next = hwt_next_id(CTX);

	alloc_init(&cmd, self->idev, self->ioas, 0);
	alloc_data(&cmd, IOMMU_HWPT_DATA_NONE, &data, sizeof(data));
	EXPECT_FAILS_WHY(EINVAL, alloc_cmd(CTX, &cmd));
	alloc_init(&cmd, 0, 0, 0);
	alloc_data(&cmd, IOMMU_HWPT_DATA_NONE, &data, sizeof(data));
	EXPECT_FAILS_WHY(EINVAL, alloc_cmd(CTX, &cmd));
	alloc_init(&cmd, self->idev, self->ioas, 0);
	alloc_data(&cmd, IOMMU_HWPT_DATA_SELFTEST, &data, 0);
	EXPECT_FAILS_WHY(EINVAL, alloc_cmd(CTX, &cmd));
	alloc_init(&cmd, self->idev, self->ioas, 0);
	alloc_data(&cmd, IOMMU_HWPT_DATA_SELFTEST, NULL, 0);
	EXPECT_FAILS_WHY(EINVAL, alloc_cmd(CTX, &cmd));
	alloc_init(&cmd, UINT32_MAX, UINT32_MAX, 0);
	alloc_data(&cmd, IOMMU_HWPT_DATA_SELFTEST, NULL, 0);
	EXPECT_FAILS_WHY(EINVAL, alloc_cmd(CTX, &cmd));
	for (unsigned int i = 0; i != ARRAY_SIZE(types); i++) {
		alloc_init(&cmd, self->idev, self->ioas, 0);
		alloc_data(&cmd, types[i], &data, sizeof(data));
		EXPECT_FAILS_WHY(EOPNOTSUPP, alloc_cmd(CTX, &cmd));
	}
	EXPECT_EQ(next, hwt_next_id(CTX));

	/* NONE without a length: the pointer is ignored, bad or not. */
	alloc_init(&cmd, self->idev, self->ioas, 0);
	alloc_data(&cmd, IOMMU_HWPT_DATA_NONE, BAD_PTR, 0);
	ASSERT_EQ(0, alloc_cmd(CTX, &cmd));
	EXPECT_EQ(next, cmd.out_hwpt_id);
	EXPECT_EQ(0, ioctl_destroy(CTX, cmd.out_hwpt_id));
}

/*
 * Selftest data of a paging HW pagetable, read as the kernel's
 * iommu_copy_struct_from_user: at least up to iotlb (4 bytes), longer
 * only with a zero tail, every byte readable.
 */
TEST_F(hwpt, alloc_paging_data)
{
	uint8_t data[2 * PG] __attribute__((aligned(8)));
	struct iommu_hwpt_selftest *cfg = (void *)data;
	struct iommu_hwpt_alloc cmd;
	uint32_t next = hwt_next_id(CTX);
	const uint32_t ok_lens[] = { 4, 6, 8, 9, 16, 64, sizeof(data) };

	memset(data, 0, sizeof(data));
	cfg->iotlb = IOTLB_X;
	for (uint32_t len = 1; len != 4; len++) {
		alloc_init(&cmd, self->idev, self->ioas, 0);
		alloc_data(&cmd, IOMMU_HWPT_DATA_SELFTEST, data, len);
		EXPECT_FAILS_WHY(EINVAL, alloc_cmd(CTX, &cmd));
	}
	for (unsigned int i = 0; i != ARRAY_SIZE(ok_lens); i++) {
		alloc_init(&cmd, self->idev, self->ioas, 0);
		alloc_data(&cmd, IOMMU_HWPT_DATA_SELFTEST, data, ok_lens[i]);
		ASSERT_EQ(0, alloc_cmd(CTX, &cmd));
		EXPECT_EQ(next, cmd.out_hwpt_id);
		EXPECT_EQ(0, test_check_map(CTX, cmd.out_hwpt_id, IOVA,
					    BUF_LEN, self->buf));
		EXPECT_EQ(0, ioctl_destroy(CTX, cmd.out_hwpt_id));
	}
	/* A non-zero byte past the struct. */
	for (unsigned int at = sizeof(*cfg); at < sizeof(data); at += 509) {
		data[at] = 0x40;
		alloc_init(&cmd, self->idev, self->ioas, 0);
		alloc_data(&cmd, IOMMU_HWPT_DATA_SELFTEST, data, sizeof(data));
		EXPECT_FAILS_WHY(E2BIG, alloc_cmd(CTX, &cmd));
		data[at] = 0;
	}
	/* Unreadable: all of it, past iotlb, in the tail. */
	alloc_init(&cmd, self->idev, self->ioas, 0);
	alloc_data(&cmd, IOMMU_HWPT_DATA_SELFTEST, BAD_PTR, 8);
	EXPECT_FAILS_WHY(EFAULT, alloc_cmd(CTX, &cmd));
	alloc_init(&cmd, self->idev, self->ioas, 0);
	alloc_data(&cmd, IOMMU_HWPT_DATA_SELFTEST, edge_ptr(self->guard, 4),
		   8);
	EXPECT_FAILS_WHY(EFAULT, alloc_cmd(CTX, &cmd));
	alloc_init(&cmd, self->idev, self->ioas, 0);
	alloc_data(&cmd, IOMMU_HWPT_DATA_SELFTEST, edge_ptr(self->guard, 8),
		   16);
	EXPECT_FAILS_WHY(EFAULT, alloc_cmd(CTX, &cmd));
	EXPECT_EQ(next, hwt_next_id(CTX));
	/* Exactly the readable bytes: fine. */
	memset(edge_ptr(self->guard, 4), 0, 4);
	alloc_init(&cmd, self->idev, self->ioas, 0);
	alloc_data(&cmd, IOMMU_HWPT_DATA_SELFTEST, edge_ptr(self->guard, 4),
		   4);
	ASSERT_EQ(0, alloc_cmd(CTX, &cmd));
	EXPECT_EQ(0, ioctl_destroy(CTX, cmd.out_hwpt_id));
}

/* pagetable_type: DEFAULT and HUGE are the mock's; anything else is not. */
TEST_F(hwpt, alloc_paging_pagetable_type)
{
	const uint32_t bad[] = { MOCK_IOMMUPT_HUGE + 1, 7, 0x100,
				 UINT32_MAX };
	struct iommu_hwpt_selftest cfg = { .iotlb = 0 };
	uint32_t next = hwt_next_id(CTX), id = 0;

	cfg.pagetable_type = MOCK_IOMMUPT_DEFAULT;
	ASSERT_EQ(0, hwpt_alloc(CTX, self->idev, self->ioas, 0, &cfg,
				sizeof(cfg), &id));
	EXPECT_EQ(0, test_check_map(CTX, id, IOVA, BUF_LEN, self->buf));
	EXPECT_EQ(0, ioctl_destroy(CTX, id));

	cfg.pagetable_type = MOCK_IOMMUPT_HUGE;
	ASSERT_EQ(0, hwpt_alloc(CTX, self->idev, self->ioas, 0, &cfg,
				sizeof(cfg), &id));
	EXPECT_EQ(next, id);
	EXPECT_EQ(0, test_check_map(CTX, id, IOVA, BUF_LEN, self->buf));
	/*
	 * MD_CHECK_MAP steps by the domain's smallest page: the HUGE page
	 * table's is PAGE_SIZE (the kernel's pgsize_bitmap there is
	 * MOCK_HUGE_PAGE_SIZE | PAGE_SIZE), so half a CPU page is EINVAL;
	 * the DEFAULT one's is MOCK_PAGE_SIZE.
	 */
	EXPECT_FAILS_WHY(EINVAL, test_check_map(CTX, id, IOVA + MOCK_PAGE_SIZE,
						MOCK_PAGE_SIZE,
						self->buf + MOCK_PAGE_SIZE));
	EXPECT_FAILS_WHY(EINVAL, test_check_map(CTX, id, IOVA,
						PG + MOCK_PAGE_SIZE,
						self->buf));
	EXPECT_EQ(0, test_check_map(CTX, id, IOVA + PG, PG, self->buf + PG));
	EXPECT_EQ(0, test_check_map(CTX, self->auto_hwpt,
				    IOVA + MOCK_PAGE_SIZE, MOCK_PAGE_SIZE,
				    self->buf + MOCK_PAGE_SIZE));
	EXPECT_EQ(0, ioctl_destroy(CTX, id));
	/* With the other flags too. */
	ASSERT_EQ(0, hwpt_alloc(CTX, self->idev, self->ioas, NEST | PASID,
				&cfg, sizeof(cfg), &id));
	EXPECT_EQ(0, ioctl_destroy(CTX, id));

	for (unsigned int i = 0; i != ARRAY_SIZE(bad); i++) {
		cfg.pagetable_type = bad[i];
		EXPECT_FAILS_WHY(EOPNOTSUPP,
				 hwpt_alloc(CTX, self->idev, self->ioas, 0,
					    &cfg, sizeof(cfg), &id));
		EXPECT_FAILS_WHY(EOPNOTSUPP,
				 hwpt_alloc(CTX, self->idev, self->ioas, NEST,
					    &cfg, sizeof(cfg), &id));
	}
	EXPECT_EQ(next, hwt_next_id(CTX));
}

/*
 * The domain's aperture: a mock DEFAULT page table covers the mock
 * aperture only, so an IOAS with an area or an allowed range past it
 * cannot have one (EADDRINUSE, as the kernel's iopt_reserve_iova); the
 * HUGE one covers its whole page table and takes them.
 */
TEST_F(hwpt, alloc_paging_aperture)
{
	struct iommu_hwpt_selftest huge = { .pagetable_type =
						    MOCK_IOMMUPT_HUGE };
	const struct iommu_iova_range high = { 1ull << 32,
					       (1ull << 33) - 1 };
	uint64_t iova = 1ull << 32;
	uint32_t far = 0, allowed = 0, next, id = 0, st = 0;

	ASSERT_EQ(0, ioas_alloc(CTX, &far));
	ASSERT_EQ(0, ioas_map(CTX, far, self->buf, BUF_LEN, &iova,
			      MAP_FIXED_RW));
	ASSERT_EQ(0, ioas_alloc(CTX, &allowed));
	ASSERT_EQ(0, ioas_allow_iovas(CTX, allowed, &high, 1));
	next = hwt_next_id(CTX);
	EXPECT_FAILS_WHY(EADDRINUSE, hwpt_alloc(CTX, self->idev, far, 0, NULL,
						0, &id));
	EXPECT_FAILS_WHY(EADDRINUSE, hwpt_alloc(CTX, self->idev, allowed, 0,
						NULL, 0, &id));
	EXPECT_FAILS_WHY(EADDRINUSE, test_mock_domain(CTX, far, NULL, NULL,
						      NULL));
	EXPECT_EQ(next, hwt_next_id(CTX));

	ASSERT_EQ(0, hwpt_alloc(CTX, self->idev, far, 0, &huge, sizeof(huge),
				&id));
	ASSERT_EQ(0, test_check_map(CTX, id, 1ull << 32, BUF_LEN, self->buf));
	ASSERT_EQ(0, test_mock_domain(CTX, id, &st, NULL, NULL));
	ASSERT_EQ(0, ioctl_destroy(CTX, st));
	ASSERT_EQ(0, ioctl_destroy(CTX, id));
	ASSERT_EQ(0, hwpt_alloc(CTX, self->idev, allowed, 0, &huge,
				sizeof(huge), &id));
	ASSERT_EQ(0, ioctl_destroy(CTX, id));
}

/*
 * A command whose answer cannot be written back (EFAULT) is undone: no
 * HW pagetable stays, on the IOAS or in the table.
 */
TEST_F(hwpt, alloc_answer_unwritable)
{
	struct iommu_hwpt_selftest data = { .iotlb = 5 };
	uint32_t parent = paging(self, NEST), next = hwt_next_id(CTX);
	struct iommu_hwpt_alloc cmd;
	void *ro;

	alloc_init(&cmd, self->idev, self->ioas, NEST);
	ro = ro_copy(&cmd, sizeof(cmd));
	ASSERT_NONNULL(ro);
	EXPECT_FAILS_WHY(EFAULT, alloc_cmd(CTX, ro));
	munmap(ro, PG);
	alloc_init(&cmd, self->idev, parent, 0);
	alloc_data(&cmd, IOMMU_HWPT_DATA_SELFTEST, &data, sizeof(data));
	ro = ro_copy(&cmd, sizeof(cmd));
	ASSERT_NONNULL(ro);
	EXPECT_FAILS_WHY(EFAULT, alloc_cmd(CTX, ro));
	munmap(ro, PG);
	EXPECT_EQ(next, hwt_next_id(CTX));
	/* The parent is free again: no nested one holds it. */
	ASSERT_EQ(0, ioctl_destroy(CTX, parent));
	/* No domain stayed on the IOAS: with the device it all goes. */
	ASSERT_EQ(0, ioctl_destroy(CTX, self->stdev));
	ASSERT_EQ(0, test_check_refs(CTX, self->buf, BUF_LEN, 0));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->ioas));
}

/* dev_id must name a device: anything else is ENOENT, checked first. */
TEST_F(hwpt, alloc_wrong_dev_id)
{
	const struct uiommufd_access_ops ops = { 0 };
	struct uiommufd_access *access;
	uint32_t access_id = 0, hw = paging(self, NEST), next;
	uint32_t nest_id = nested(self, hw, 0);

	access = uiommufd_access_create(CTX, self->ioas, &ops, NULL,
					&access_id);
	ASSERT_NONNULL(access);
	{
		const uint32_t ids[] = { 0, self->ioas, self->stdev,
					 self->auto_hwpt, hw, nest_id,
					 access_id, 4096, UINT32_MAX };

		next = hwt_next_id(CTX);
		for (unsigned int i = 0; i != ARRAY_SIZE(ids); i++) {
			EXPECT_FAILS_WHY(ENOENT, hwpt_alloc(CTX, ids[i],
							    self->ioas, 0,
							    NULL, 0, NULL));
			/* Before the parent: a bad pt_id too. */
			EXPECT_FAILS_WHY(ENOENT, hwpt_alloc(CTX, ids[i], 0, 0,
							    NULL, 0, NULL));
			EXPECT_FAILS_WHY(ENOENT,
					 hwpt_alloc_nested(CTX, ids[i], hw, 0,
							   NULL));
		}
		EXPECT_EQ(next, hwt_next_id(CTX));
	}
	uiommufd_access_destroy(access);
}

/*
 * pt_id must name an IOAS or a paging HW pagetable: a missing one is
 * EINVAL (the kernel answers so, not ENOENT), as is any other object.
 */
TEST_F(hwpt, alloc_wrong_pt_id)
{
	const struct uiommufd_access_ops ops = { 0 };
	struct uiommufd_access *access;
	uint32_t access_id = 0, next;

	access = uiommufd_access_create(CTX, self->ioas, &ops, NULL,
					&access_id);
	ASSERT_NONNULL(access);
	{
		const uint32_t ids[] = { 0, self->idev, self->stdev,
					 access_id, 4096, UINT32_MAX };

		next = hwt_next_id(CTX);
		for (unsigned int i = 0; i != ARRAY_SIZE(ids); i++) {
			EXPECT_FAILS_WHY(EINVAL, hwpt_alloc(CTX, self->idev,
							    ids[i], 0, NULL,
							    0, NULL));
			EXPECT_FAILS_WHY(EINVAL,
					 hwpt_alloc_nested(CTX, self->idev,
							   ids[i], 0, NULL));
		}
		EXPECT_EQ(next, hwt_next_id(CTX));
	}
	uiommufd_access_destroy(access);
}

/* ==== IOMMU_HWPT_ALLOC: nested ==== */

/*
 * A nested HW pagetable: its IOTLB starts as the data says, it maps
 * nothing of its own (MD_CHECK_MAP does not take it), and it holds its
 * parent until it goes.
 */
TEST_F(hwpt, nested_basic)
{
	uint32_t parent = paging(self, NEST), n1, n2;

	n1 = nested(self, parent, IOTLB_X);
	n2 = nested(self, parent, IOMMU_TEST_IOTLB_DEFAULT);
	EXPECT_NE(n1, n2);
	EXPECT_NE(parent, n1);
	iotlb_expect_all(CTX, n1, IOTLB_X);
	iotlb_expect_all(CTX, n2, IOMMU_TEST_IOTLB_DEFAULT);
	/* The check itself: a wrong value, an entry past the last. */
	EXPECT_FAILS_WHY(EINVAL, test_check_iotlb(CTX, n1, 0, IOTLB_X + 1));
	EXPECT_FAILS_WHY(EINVAL, test_check_iotlb(
					 CTX, n1, MOCK_NESTED_DOMAIN_IOTLB_NUM,
					 IOTLB_X));
	EXPECT_FAILS_WHY(EINVAL,
			 test_check_iotlb(CTX, n1, UINT32_MAX, IOTLB_X));
	/* Not a nested one: ENOENT. */
	EXPECT_FAILS_WHY(ENOENT, test_check_iotlb(CTX, parent, 0, 0));
	EXPECT_FAILS_WHY(ENOENT, test_check_iotlb(CTX, self->auto_hwpt, 0, 0));
	EXPECT_FAILS_WHY(ENOENT, test_check_iotlb(CTX, self->ioas, 0, 0));
	EXPECT_FAILS_WHY(ENOENT, test_check_map(CTX, n1, IOVA, PG,
						self->buf));
	/* The parent mirrors the IOAS all along. */
	EXPECT_EQ(0, test_check_map(CTX, parent, IOVA, BUF_LEN, self->buf));

	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, parent));
	ASSERT_EQ(0, ioctl_destroy(CTX, n1));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, parent));
	EXPECT_FAILS_WHY(ENOENT, test_check_iotlb(CTX, n1, 0, IOTLB_X));
	ASSERT_EQ(0, ioctl_destroy(CTX, n2));
	ASSERT_EQ(0, ioctl_destroy(CTX, parent));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->stdev));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->ioas));
}

/*
 * The parent must be a paging HW pagetable allocated with NEST_PARENT:
 * an auto one or any other paging one is EINVAL, a nested one (a nested
 * of a nested) EINVAL.
 */
TEST_F(hwpt, nested_parent_rules)
{
	uint32_t plain = paging(self, 0), dirty = paging(self, DIRTY);
	uint32_t pasid = paging(self, PASID);
	uint32_t parent = paging(self, NEST), n = nested(self, parent, 0);
	uint32_t next = hwt_next_id(CTX), id;
	const uint32_t bad[] = { self->auto_hwpt, plain, dirty, pasid, n };

	for (unsigned int i = 0; i != ARRAY_SIZE(bad); i++)
		EXPECT_FAILS_WHY(EINVAL, hwpt_alloc_nested(CTX, self->idev,
							   bad[i], 0, NULL));
	EXPECT_EQ(next, hwt_next_id(CTX));
	/* NEST_PARENT with the other flags is a parent. */
	id = paging(self, NEST | DIRTY);
	EXPECT_EQ(0, ioctl_destroy(CTX, nested(self, id, 1)));
	EXPECT_EQ(0, ioctl_destroy(CTX, id));
	id = paging(self, NEST | PASID | DIRTY);
	EXPECT_EQ(0, ioctl_destroy(CTX, nested(self, id, 1)));
	EXPECT_EQ(0, ioctl_destroy(CTX, id));
}

/*
 * A nested HW pagetable takes FAULT_ID_VALID (ENOENT: no fault queue)
 * and PASID; anything else is EOPNOTSUPP, checked before the parent.
 */
TEST_F(hwpt, nested_flags)
{
	struct iommu_hwpt_selftest data = { .iotlb = 3 };
	uint32_t parent = paging(self, NEST), plain = paging(self, 0);
	uint32_t next = hwt_next_id(CTX), id = 0;
	const uint32_t refused[] = { NEST, DIRTY, NEST | PASID, 1u << 4,
				     1u << 31, FAULT | NEST };

	for (unsigned int i = 0; i != ARRAY_SIZE(refused); i++) {
		EXPECT_FAILS_WHY(EOPNOTSUPP,
				 hwpt_alloc(CTX, self->idev, parent,
					    refused[i], &data, sizeof(data),
					    &id));
		/* Not a parent: the flags are refused first. */
		EXPECT_FAILS_WHY(EOPNOTSUPP,
				 hwpt_alloc(CTX, self->idev, plain, refused[i],
					    &data, sizeof(data), &id));
	}
	EXPECT_FAILS_WHY(ENOENT, hwpt_alloc(CTX, self->idev, parent, FAULT,
					    &data, sizeof(data), &id));
	EXPECT_FAILS_WHY(ENOENT, hwpt_alloc(CTX, self->idev, parent,
					    FAULT | PASID, &data, sizeof(data),
					    &id));
	/* The parent is checked before the fault queue is looked up. */
	EXPECT_FAILS_WHY(EINVAL, hwpt_alloc(CTX, self->idev, plain, FAULT,
					    &data, sizeof(data), &id));
	EXPECT_EQ(next, hwt_next_id(CTX));

	ASSERT_EQ(0, hwpt_alloc(CTX, self->idev, parent, PASID, &data,
				sizeof(data), &id));
	EXPECT_EQ(next, id);
	iotlb_expect_all(CTX, id, 3);
	EXPECT_EQ(0, ioctl_destroy(CTX, id));
}

/*
 * Nested data: the kernel wants some (data_len 0 with NONE is
 * EOPNOTSUPP, checked before the parent), of the selftest type
 * (EOPNOTSUPP, checked after the parent), long enough for iotlb, with a
 * zero tail, readable. pagetable_type means nothing to a nested one.
 */
TEST_F(hwpt, nested_data)
{
	uint8_t data[64] __attribute__((aligned(8)));
	struct iommu_hwpt_selftest *cfg = (void *)data;
	uint32_t parent = paging(self, NEST), plain = paging(self, 0);
	uint32_t next = hwt_next_id(CTX), id = 0;
	struct iommu_hwpt_alloc cmd;

	memset(data, 0, sizeof(data));
	cfg->iotlb = IOTLB_X;
	/* No data at all: EOPNOTSUPP, on a parent or not. */
	alloc_init(&cmd, self->idev, parent, 0);
	EXPECT_FAILS_WHY(EOPNOTSUPP, alloc_cmd(CTX, &cmd));
	alloc_init(&cmd, self->idev, plain, 0);
	EXPECT_FAILS_WHY(EOPNOTSUPP, alloc_cmd(CTX, &cmd));
	/* A type without a length, a length without a type: EINVAL. */
	alloc_init(&cmd, self->idev, parent, 0);
	alloc_data(&cmd, IOMMU_HWPT_DATA_SELFTEST, data, 0);
	EXPECT_FAILS_WHY(EINVAL, alloc_cmd(CTX, &cmd));
	alloc_init(&cmd, self->idev, parent, 0);
	alloc_data(&cmd, IOMMU_HWPT_DATA_NONE, data, 8);
	EXPECT_FAILS_WHY(EINVAL, alloc_cmd(CTX, &cmd));
	/* Another type: the driver's EOPNOTSUPP, after the parent check. */
	alloc_init(&cmd, self->idev, parent, 0);
	alloc_data(&cmd, IOMMU_HWPT_DATA_VTD_S1, data, 8);
	EXPECT_FAILS_WHY(EOPNOTSUPP, alloc_cmd(CTX, &cmd));
	alloc_init(&cmd, self->idev, plain, 0);
	alloc_data(&cmd, IOMMU_HWPT_DATA_VTD_S1, data, 8);
	EXPECT_FAILS_WHY(EINVAL, alloc_cmd(CTX, &cmd));
	/* Too short, a non-zero tail, unreadable. */
	for (uint32_t len = 1; len != 4; len++)
		EXPECT_FAILS_WHY(EINVAL, hwpt_alloc(CTX, self->idev, parent, 0,
						    data, len, &id));
	data[40] = 1;
	EXPECT_FAILS_WHY(E2BIG, hwpt_alloc(CTX, self->idev, parent, 0, data,
					   sizeof(data), &id));
	data[40] = 0;
	EXPECT_FAILS_WHY(EFAULT, hwpt_alloc(CTX, self->idev, parent, 0,
					    BAD_PTR, 8, &id));
	EXPECT_FAILS_WHY(EFAULT, hwpt_alloc(CTX, self->idev, parent, 0,
					    edge_ptr(self->guard, 4), 8, &id));
	EXPECT_EQ(next, hwt_next_id(CTX));

	/* iotlb alone; a zero tail; a pagetable_type no paging one takes. */
	ASSERT_EQ(0, hwpt_alloc(CTX, self->idev, parent, 0, data, 4, &id));
	iotlb_expect_all(CTX, id, IOTLB_X);
	EXPECT_EQ(0, ioctl_destroy(CTX, id));
	ASSERT_EQ(0, hwpt_alloc(CTX, self->idev, parent, 0, data,
				sizeof(data), &id));
	iotlb_expect_all(CTX, id, IOTLB_X);
	EXPECT_EQ(0, ioctl_destroy(CTX, id));
	cfg->pagetable_type = 0x77;
	ASSERT_EQ(0, hwpt_alloc(CTX, self->idev, parent, 0, data, 8, &id));
	iotlb_expect_all(CTX, id, IOTLB_X);
	EXPECT_EQ(0, ioctl_destroy(CTX, id));
}

/*
 * A device that cannot track dirty IOVA may allocate a nested HW
 * pagetable on a dirty tracking parent and attach to it (a nested domain
 * has no dirty tracking of its own), but not attach to the parent.
 */
TEST_F(hwpt, nested_for_a_no_dirty_device)
{
	uint32_t parent = paging(self, NEST | DIRTY), n = 0, st = 0, hw = 0;
	uint32_t nd_stdev = 0, nd, next;

	nd = flags_device(self, self->ioas, MOCK_FLAGS_DEVICE_NO_DIRTY,
			  &nd_stdev);
	ASSERT_EQ(0, hwpt_alloc_nested(CTX, nd, parent, 9, &n));
	iotlb_expect_all(CTX, n, 9);
	ASSERT_EQ(0, test_mock_domain_flags(CTX, n, MOCK_FLAGS_DEVICE_NO_DIRTY,
					    &st, &hw, NULL));
	EXPECT_EQ(n, hw);
	next = hwt_next_id(CTX);
	EXPECT_FAILS_WHY(EINVAL,
			 test_mock_domain_flags(CTX, parent,
						MOCK_FLAGS_DEVICE_NO_DIRTY,
						NULL, NULL, NULL));
	EXPECT_EQ(next, hwt_next_id(CTX));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, n));
	ASSERT_EQ(0, ioctl_destroy(CTX, st));
	ASSERT_EQ(0, ioctl_destroy(CTX, n));
	ASSERT_EQ(0, ioctl_destroy(CTX, parent));
	ASSERT_EQ(0, ioctl_destroy(CTX, nd_stdev));
}

/* ==== the object graph ==== */

/*
 * A device attached to a HW pagetable by ID holds it; the HW pagetable
 * is the caller's (not an auto one), so it stays when the device goes.
 * MOCK_DOMAIN on the IOAS never picks it: a device there shares the
 * IOAS's auto HW pagetable.
 */
TEST_F(hwpt, graph_device_holds_its_hwpt)
{
	uint32_t hw = paging(self, NEST), n = nested(self, hw, 0);
	uint32_t st1 = 0, out1 = 0, st2 = 0, out2 = 0, st3 = 0, out3 = 0;

	ASSERT_EQ(0, test_mock_domain(CTX, hw, &st1, &out1, NULL));
	EXPECT_EQ(hw, out1);
	ASSERT_EQ(0, test_mock_domain(CTX, n, &st2, &out2, NULL));
	EXPECT_EQ(n, out2);
	ASSERT_EQ(0, test_mock_domain(CTX, self->ioas, &st3, &out3, NULL));
	EXPECT_EQ(self->auto_hwpt, out3);

	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, n));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, hw));
	ASSERT_EQ(0, ioctl_destroy(CTX, st2));
	/* n is free, hw still held by n and st1. */
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, hw));
	ASSERT_EQ(0, ioctl_destroy(CTX, n));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, hw));
	ASSERT_EQ(0, ioctl_destroy(CTX, st1));
	/* Not an auto one: it outlived its last device. */
	ASSERT_EQ(0, test_check_map(CTX, hw, IOVA, BUF_LEN, self->buf));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->ioas));
	ASSERT_EQ(0, ioctl_destroy(CTX, hw));
	/* The auto one goes with its last device. */
	ASSERT_EQ(0, ioctl_destroy(CTX, self->stdev));
	ASSERT_EQ(0, test_check_map(CTX, self->auto_hwpt, IOVA, BUF_LEN,
				    self->buf));
	ASSERT_EQ(0, ioctl_destroy(CTX, st3));
	EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(CTX, self->auto_hwpt));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->ioas));
}

/*
 * The IOAS cannot go under a paging HW pagetable even with no device on
 * anything; nor a parent under a nested one; each in turn frees the
 * next.
 */
TEST_F(hwpt, graph_destroy_order)
{
	uint32_t hw = paging(self, NEST), n = nested(self, hw, 0);

	/* The only device goes, and its auto HW pagetable with it. */
	ASSERT_EQ(0, ioctl_destroy(CTX, self->stdev));
	EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(CTX, self->auto_hwpt));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->ioas));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, hw));
	/* The device went with its selftest object. */
	EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(CTX, self->idev));
	ASSERT_EQ(0, ioctl_destroy(CTX, n));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->ioas));
	/* The last domain holds the pages; with it they go. */
	ASSERT_EQ(0, test_check_refs(CTX, self->buf, BUF_LEN, 1));
	ASSERT_EQ(0, ioctl_destroy(CTX, hw));
	ASSERT_EQ(0, test_check_refs(CTX, self->buf, BUF_LEN, 0));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->ioas));
}

/* A device bound and still attached: its idev refuses destroy (EBUSY). */
TEST_F(hwpt, graph_idev_busy_while_bound)
{
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->idev));
	/* Still usable afterwards. */
	ASSERT_EQ(0, ioctl_destroy(CTX, paging(self, 0)));
}

/* ==== IOMMU_HWPT_INVALIDATE ==== */

struct inv {
	uint32_t flags;
	uint32_t iotlb_id;
};

static int invalidate(struct uiommufd_ctx *ctx, uint32_t hwpt, const void *e,
		      uint32_t len, uint32_t *num)
{
	return hwpt_invalidate(ctx, hwpt, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
			       e, len, num);
}

#define D IOMMU_TEST_IOTLB_DEFAULT

/* One entry at a time, then all of them at once. */
TEST_F(hwpt, invalidate_entries)
{
	uint32_t parent = paging(self, NEST), n = nested(self, parent, D);
	uint32_t other = nested(self, parent, D), num;
	struct inv e[3] = { { 0, 1 }, { 0, 3 }, { 0, 1 } };

	num = 1;
	ASSERT_EQ(0, invalidate(CTX, n, e, sizeof(e[0]), &num));
	EXPECT_EQ(1, num);
	iotlb_expect(CTX, n, D, 0, D, D);
	/* Repeats are fine: all three handled. */
	num = 3;
	ASSERT_EQ(0, invalidate(CTX, n, e, sizeof(e[0]), &num));
	EXPECT_EQ(3, num);
	iotlb_expect(CTX, n, D, 0, D, 0);
	/* Another nested HW pagetable on the same parent is untouched. */
	iotlb_expect_all(CTX, other, D);

	/* ALL ignores iotlb_id (if it is a valid one). */
	e[0].flags = IOMMU_TEST_INVALIDATE_FLAG_ALL;
	e[0].iotlb_id = 2;
	num = 1;
	ASSERT_EQ(0, invalidate(CTX, other, e, sizeof(e[0]), &num));
	EXPECT_EQ(1, num);
	iotlb_expect_all(CTX, other, 0);
	iotlb_expect(CTX, n, D, 0, D, 0);
	/* ALL with an id past the last: the id is checked first. */
	e[0].iotlb_id = MOCK_NESTED_DOMAIN_IOTLB_NUM;
	num = 1;
	EXPECT_FAILS_WHY(EINVAL, invalidate(CTX, n, e, sizeof(e[0]), &num));
	EXPECT_EQ(0, num);
	iotlb_expect(CTX, n, D, 0, D, 0);
}

/*
 * entry_num 0 asks only whether the type is supported: the pointer and
 * entry_len are not looked at, but the type is, and so is the object.
 */
TEST_F(hwpt, invalidate_zero_entries)
{
	uint32_t parent = paging(self, NEST), n = nested(self, parent, D);
	uint32_t num;

	num = 0;
	ASSERT_EQ(0, invalidate(CTX, n, NULL, 0, &num));
	EXPECT_EQ(0, num);
	num = 0;
	ASSERT_EQ(0, invalidate(CTX, n, BAD_PTR, 0, &num));
	EXPECT_EQ(0, num);
	num = 0;
	ASSERT_EQ(0, invalidate(CTX, n, BAD_PTR, PG + 1, &num));
	EXPECT_EQ(0, num);
	num = 0;
	EXPECT_FAILS_WHY(EINVAL, hwpt_invalidate(CTX, n, INV_TWIN, NULL, 0,
						 &num));
	EXPECT_EQ(0, num);
	num = 0;
	EXPECT_FAILS_WHY(EINVAL, invalidate(CTX, parent, NULL, 0, &num));
	num = 0;
	EXPECT_FAILS_WHY(EINVAL, invalidate(CTX, self->ioas, NULL, 0, &num));
	num = 0;
	EXPECT_FAILS_WHY(ENOENT, invalidate(CTX, 4096, NULL, 0, &num));
	EXPECT_EQ(0, num);
	iotlb_expect_all(CTX, n, D);
}

/*
 * The bounds: entries need a pointer and an entry_len from 1 to a page,
 * and there may be at most 1 << 19 of them; all EINVAL before the object
 * is looked up, with entry_num written back as 0.
 */
TEST_F(hwpt, invalidate_bounds)
{
	uint32_t parent = paging(self, NEST), n = nested(self, parent, D);
	uint8_t *page = test_buffer(2 * PG);
	struct inv e = { 0, 0 };
	uint32_t num;

	ASSERT_NONNULL(page);
	memset(page, 0, 2 * PG);
	num = 1;
	EXPECT_FAILS_WHY(EINVAL, invalidate(CTX, n, NULL, sizeof(e), &num));
	EXPECT_EQ(0, num);
	num = 1;
	EXPECT_FAILS_WHY(EINVAL, invalidate(CTX, n, &e, 0, &num));
	EXPECT_EQ(0, num);
	num = 1;
	EXPECT_FAILS_WHY(EINVAL, invalidate(CTX, n, page, PG + 1, &num));
	EXPECT_EQ(0, num);
	num = 1;
	EXPECT_FAILS_WHY(EINVAL, invalidate(CTX, n, page, UINT32_MAX, &num));
	num = (1u << 19) + 1;
	EXPECT_FAILS_WHY(EINVAL, invalidate(CTX, n, page, sizeof(e), &num));
	EXPECT_EQ(0, num);
	num = UINT32_MAX;
	EXPECT_FAILS_WHY(EINVAL, invalidate(CTX, n, page, sizeof(e), &num));
	EXPECT_EQ(0, num);
	/* Before the object: on an ID that names nothing, still EINVAL. */
	num = 1;
	EXPECT_FAILS_WHY(EINVAL, invalidate(CTX, 4096, &e, 0, &num));
	iotlb_expect_all(CTX, n, D);

	/* A page-long entry with a zero tail is fine. */
	((struct inv *)page)->iotlb_id = 2;
	num = 1;
	ASSERT_EQ(0, invalidate(CTX, n, page, PG, &num));
	EXPECT_EQ(1, num);
	iotlb_expect(CTX, n, D, D, 0, D);
	/*
	 * 1 << 19 entries pass the bound: the first one's unknown flag is
	 * what stops them, with none handled.
	 */
	((struct inv *)page)->flags = 1u << 1;
	num = 1u << 19;
	EXPECT_FAILS_WHY(EOPNOTSUPP, invalidate(CTX, n, page, sizeof(e),
						&num));
	EXPECT_EQ(0, num);
	munmap(page, 2 * PG);
}

/* Shorter than the selftest entry: EINVAL at entry 0. */
TEST_F(hwpt, invalidate_entry_len_short)
{
	uint32_t parent = paging(self, NEST), n = nested(self, parent, D);
	struct inv e[4] = { { 0, 0 }, { 0, 1 }, { 0, 2 }, { 0, 3 } };
	uint32_t num;

	for (uint32_t len = 1; len != sizeof(e[0]); len++) {
		num = 2;
		EXPECT_FAILS_WHY(EINVAL, invalidate(CTX, n, e, len, &num));
		EXPECT_EQ(0, num);
	}
	iotlb_expect_all(CTX, n, D);
}

/*
 * Entries longer than the selftest entry: each tail must be zero; the
 * first entry with a non-zero tail stops the call (E2BIG) and entry_num
 * says how many came before it, which took effect.
 */
TEST_F(hwpt, invalidate_entry_len_long)
{
	uint32_t parent = paging(self, NEST), n = nested(self, parent, D);
	struct {
		struct inv e;
		uint8_t tail[8];
	} e[4];
	uint32_t num;

	memset(e, 0, sizeof(e));
	for (uint32_t i = 0; i != 4; i++)
		e[i].e.iotlb_id = i;
	num = 2;
	ASSERT_EQ(0, invalidate(CTX, n, e, sizeof(e[0]), &num));
	EXPECT_EQ(2, num);
	iotlb_expect(CTX, n, 0, 0, D, D);

	/* Entry 3's tail is not zero: entry 2 is done, 3 is not. */
	e[3].tail[7] = 1;
	num = 4;
	EXPECT_FAILS_WHY(E2BIG, invalidate(CTX, n, e, sizeof(e[0]), &num));
	EXPECT_EQ(3, num);
	iotlb_expect(CTX, n, 0, 0, 0, D);
	/* At entry 0: nothing handled. */
	e[0].tail[0] = 0x80;
	num = 4;
	EXPECT_FAILS_WHY(E2BIG, invalidate(CTX, n, e, sizeof(e[0]), &num));
	EXPECT_EQ(0, num);
	iotlb_expect(CTX, n, 0, 0, 0, D);
}

/* Only IOMMU_HWPT_INVALIDATE_DATA_SELFTEST: its INVALID twin is EINVAL. */
TEST_F(hwpt, invalidate_data_type)
{
	const uint32_t types[] = { IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID,
				   IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, 1, 0xdead,
				   UINT32_MAX };
	uint32_t parent = paging(self, NEST), n = nested(self, parent, D);
	struct inv e = { 0, 0 };
	uint32_t num;

	for (unsigned int i = 0; i != ARRAY_SIZE(types); i++) {
		num = 1;
		EXPECT_FAILS_WHY(EINVAL, hwpt_invalidate(CTX, n, types[i], &e,
							 sizeof(e), &num));
		EXPECT_EQ(0, num);
	}
	iotlb_expect_all(CTX, n, D);
}

/*
 * An entry the library cannot read: EFAULT at that index, the ones
 * before it handled.
 */
TEST_F(hwpt, invalidate_bad_pointer_mid_array)
{
	uint32_t parent = paging(self, NEST), n = nested(self, parent, D);
	struct inv *e = edge_ptr(self->guard, 3 * sizeof(struct inv));
	uint32_t num;

	for (uint32_t i = 0; i != 3; i++) {
		e[i].flags = 0;
		e[i].iotlb_id = i;
	}
	num = 5;
	EXPECT_FAILS_WHY(EFAULT, invalidate(CTX, n, e, sizeof(*e), &num));
	EXPECT_EQ(3, num);
	iotlb_expect(CTX, n, 0, 0, 0, D);
	/* Half an entry readable. */
	e = edge_ptr(self->guard, sizeof(struct inv) + 4);
	e[0].flags = 0;
	e[0].iotlb_id = 3;
	num = 2;
	EXPECT_FAILS_WHY(EFAULT, invalidate(CTX, n, e, sizeof(*e), &num));
	EXPECT_EQ(1, num);
	iotlb_expect_all(CTX, n, 0);
	/* None readable. */
	num = 1;
	EXPECT_FAILS_WHY(EFAULT, invalidate(CTX, n, BAD_PTR, sizeof(*e), &num));
	EXPECT_EQ(0, num);
}

/* Unknown entry flags: EOPNOTSUPP at that entry. */
TEST_F(hwpt, invalidate_entry_flags)
{
	const uint32_t bad[] = { 1u << 1, 1u << 2, 1u << 31,
				 IOMMU_TEST_INVALIDATE_FLAG_ALL | (1u << 8) };
	uint32_t parent = paging(self, NEST), n = nested(self, parent, D);
	struct inv e[3] = { { 0, 0 }, { 0, 1 }, { 0, 2 } };
	uint32_t num;

	for (unsigned int i = 0; i != ARRAY_SIZE(bad); i++) {
		e[2].flags = bad[i];
		num = 3;
		EXPECT_FAILS_WHY(EOPNOTSUPP,
				 invalidate(CTX, n, e, sizeof(e[0]), &num));
		EXPECT_EQ(2, num);
		iotlb_expect(CTX, n, 0, 0, D, D);
	}
	/* Flags are checked before the id. */
	e[0].flags = 1u << 1;
	e[0].iotlb_id = 99;
	num = 1;
	EXPECT_FAILS_WHY(EOPNOTSUPP, invalidate(CTX, n, e, sizeof(e[0]), &num));
	EXPECT_EQ(0, num);
}

/* iotlb_id past MOCK_NESTED_DOMAIN_IOTLB_ID_MAX: EINVAL at that entry. */
TEST_F(hwpt, invalidate_iotlb_id_range)
{
	const uint32_t bad[] = { MOCK_NESTED_DOMAIN_IOTLB_ID_MAX + 1, 100,
				 UINT32_MAX };
	uint32_t parent = paging(self, NEST), n = nested(self, parent, D);
	struct inv e[2] = { { 0, MOCK_NESTED_DOMAIN_IOTLB_ID_MAX }, { 0, 0 } };
	uint32_t num;

	for (unsigned int i = 0; i != ARRAY_SIZE(bad); i++) {
		e[1].iotlb_id = bad[i];
		num = 2;
		EXPECT_FAILS_WHY(EINVAL,
				 invalidate(CTX, n, e, sizeof(e[0]), &num));
		EXPECT_EQ(1, num);
		iotlb_expect(CTX, n, D, D, D, 0);
	}
}

/* Not a nested HW pagetable: EINVAL; no object: ENOENT. */
TEST_F(hwpt, invalidate_wrong_object)
{
	uint32_t parent = paging(self, NEST), n = nested(self, parent, D);
	uint32_t plain = paging(self, 0);
	const uint32_t not_nested[] = { parent, plain, self->auto_hwpt,
					self->ioas, self->idev, self->stdev };
	struct inv e = { 0, 0 };
	uint32_t num;

	for (unsigned int i = 0; i != ARRAY_SIZE(not_nested); i++) {
		num = 1;
		EXPECT_FAILS_WHY(EINVAL,
				 invalidate(CTX, not_nested[i], &e, sizeof(e),
					    &num));
		EXPECT_EQ(0, num);
	}
	num = 1;
	EXPECT_FAILS_WHY(ENOENT, invalidate(CTX, 0, &e, sizeof(e), &num));
	EXPECT_EQ(0, num);
	num = 1;
	EXPECT_FAILS_WHY(ENOENT, invalidate(CTX, 4096, &e, sizeof(e), &num));
	EXPECT_EQ(0, num);
	iotlb_expect_all(CTX, n, D);
}

/*
 * __reserved: EOPNOTSUPP before anything else (even the bounds), with
 * entry_num written back as 0. The size rules of every command apply;
 * a refused size writes nothing back.
 */
TEST_F(hwpt, invalidate_reserved_and_size)
{
	uint32_t parent = paging(self, NEST), n = nested(self, parent, D);
	uint8_t raw[64] __attribute__((aligned(8)));
	struct iommu_hwpt_invalidate *cmd = (void *)raw;
	struct inv e = { 0, 1 };

	memset(raw, 0, sizeof(raw));
	cmd->size = sizeof(*cmd);
	cmd->hwpt_id = n;
	cmd->data_uptr = (uintptr_t)&e;
	cmd->data_type = IOMMU_HWPT_INVALIDATE_DATA_SELFTEST;
	cmd->entry_len = sizeof(e);
	cmd->entry_num = 1;
	cmd->__reserved = 1;
	EXPECT_FAILS_WHY(EOPNOTSUPP,
			 uiommufd_ioctl(CTX, IOMMU_HWPT_INVALIDATE, cmd));
	EXPECT_EQ(0, cmd->entry_num);
	cmd->entry_num = 1;
	cmd->entry_len = 0;
	EXPECT_FAILS_WHY(EOPNOTSUPP,
			 uiommufd_ioctl(CTX, IOMMU_HWPT_INVALIDATE, cmd));
	EXPECT_EQ(0, cmd->entry_num);
	iotlb_expect_all(CTX, n, D);

	/* Below the end of __reserved: EINVAL, nothing written. */
	cmd->__reserved = 0;
	cmd->entry_len = sizeof(e);
	cmd->entry_num = 1;
	cmd->size = sizeof(*cmd) - 1;
	EXPECT_FAILS_WHY(EINVAL,
			 uiommufd_ioctl(CTX, IOMMU_HWPT_INVALIDATE, cmd));
	EXPECT_EQ(1, cmd->entry_num);
	/* Longer with a non-zero tail: E2BIG, nothing written. */
	cmd->size = sizeof(raw);
	raw[sizeof(raw) - 1] = 1;
	EXPECT_FAILS_WHY(E2BIG,
			 uiommufd_ioctl(CTX, IOMMU_HWPT_INVALIDATE, cmd));
	EXPECT_EQ(1, cmd->entry_num);
	iotlb_expect_all(CTX, n, D);
	/* With a zero tail: done. */
	raw[sizeof(raw) - 1] = 0;
	ASSERT_EQ(0, uiommufd_ioctl(CTX, IOMMU_HWPT_INVALIDATE, cmd));
	EXPECT_EQ(1, cmd->entry_num);
	iotlb_expect(CTX, n, D, 0, D, D);
}

/*
 * The answer cannot be written back: the kernel has done the work (and
 * says EFAULT); the entries were handled.
 */
TEST_F(hwpt, invalidate_answer_unwritable)
{
	uint32_t parent = paging(self, NEST), n = nested(self, parent, D);
	struct inv e[2] = { { 0, 0 }, { 0, 2 } };
	struct iommu_hwpt_invalidate cmd = {
		.size = sizeof(cmd),
		.hwpt_id = n,
		.data_uptr = (uintptr_t)e,
		.data_type = IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
		.entry_len = sizeof(e[0]),
		.entry_num = 2,
	};
	void *ro = ro_copy(&cmd, sizeof(cmd));

	ASSERT_NONNULL(ro);
	EXPECT_FAILS_WHY(EFAULT,
			 uiommufd_ioctl(CTX, IOMMU_HWPT_INVALIDATE, ro));
	munmap(ro, PG);
	iotlb_expect(CTX, n, 0, D, 0, D);
}

#undef D

/* ==== IOMMU_GET_HW_INFO ==== */

static int hw_info_cmd(struct uiommufd_ctx *ctx, struct iommu_hw_info *cmd)
{
	return uiommufd_ioctl(ctx, IOMMU_GET_HW_INFO, cmd);
}

static void hw_info_init(struct iommu_hw_info *cmd, uint32_t dev_id,
			 void *data, uint32_t len)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->size = sizeof(*cmd);
	cmd->dev_id = dev_id;
	cmd->data_len = len;
	cmd->data_uptr = (uintptr_t)data;
}

/*
 * data_len: 0 is allowed (nothing copied), shorter truncates, longer is
 * zeroed past what the IOMMU has; nothing past data_len is touched; and
 * data_len comes back as the 8 bytes the mock IOMMU has.
 */
TEST_F(hwpt, hw_info_data_len)
{
	const uint32_t lens[] = { 0, 1, 4, 6, 8, 9, 16, 64, 200 };
	uint8_t data[256];
	struct iommu_hw_info cmd;

	for (unsigned int i = 0; i != ARRAY_SIZE(lens); i++) {
		uint32_t len = lens[i];
		struct iommu_test_hw_info want = {
			.flags = 0,
			.test_reg = IOMMU_HW_INFO_SELFTEST_REGVAL,
		};
		uint8_t expect[sizeof(data)];

		memset(data, 0xff, sizeof(data));
		memset(expect, 0xff, sizeof(expect));
		memset(expect, 0, len);
		memcpy(expect, &want, len < sizeof(want) ? len : sizeof(want));
		hw_info_init(&cmd, self->idev, data, len);
		ASSERT_EQ(0, hw_info_cmd(CTX, &cmd));
		EXPECT_EQ(sizeof(struct iommu_test_hw_info), cmd.data_len);
		EXPECT_EQ(IOMMU_HW_INFO_TYPE_SELFTEST, cmd.out_data_type);
		EXPECT_EQ(0, memcmp(expect, data, sizeof(data)));
	}
	/* No buffer at all with data_len 0. */
	hw_info_init(&cmd, self->idev, NULL, 0);
	ASSERT_EQ(0, hw_info_cmd(CTX, &cmd));
	EXPECT_EQ(8, cmd.data_len);
	hw_info_init(&cmd, self->idev, BAD_PTR, 0);
	ASSERT_EQ(0, hw_info_cmd(CTX, &cmd));
	EXPECT_EQ(8, cmd.data_len);
	/* The buffer exactly readable. */
	hw_info_init(&cmd, self->idev, edge_ptr(self->guard, 8), 8);
	ASSERT_EQ(0, hw_info_cmd(CTX, &cmd));
	EXPECT_EQ(IOMMU_HW_INFO_SELFTEST_REGVAL,
		  ((struct iommu_test_hw_info *)edge_ptr(self->guard, 8))
			  ->test_reg);
}

/*
 * The capabilities and PASID width, written over whatever the caller
 * had there: dirty tracking unless the device is NO_DIRTY; ATS never
 * (a mock device is no PCI device: the kernel reports
 * PCI_ATS_NOT_SUPPORTED whenever the IOMMU does not say ATS works);
 * PASID width 20 for a PASID device, else 0.
 */
TEST_F(hwpt, hw_info_capabilities)
{
	static const struct {
		uint32_t dev_flags;
		uint64_t caps;
		uint8_t pasid;
	} devs[] = {
		{ 0, IOMMU_HW_CAP_DIRTY_TRACKING |
			     IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED, 0 },
		{ MOCK_FLAGS_DEVICE_NO_DIRTY,
		  IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED, 0 },
		{ MOCK_FLAGS_DEVICE_PASID,
		  IOMMU_HW_CAP_DIRTY_TRACKING |
			  IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED,
		  MOCK_PASID_WIDTH },
		{ MOCK_FLAGS_DEVICE_NO_DIRTY | MOCK_FLAGS_DEVICE_PASID,
		  IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED, MOCK_PASID_WIDTH },
	};
	struct iommu_hw_info cmd;

	for (unsigned int i = 0; i != ARRAY_SIZE(devs); i++) {
		uint32_t stdev = 0;
		uint32_t idev = flags_device(self, self->ioas,
					     devs[i].dev_flags, &stdev);

		hw_info_init(&cmd, idev, NULL, 0);
		cmd.out_capabilities = ~0ull;
		ASSERT_EQ(0, hw_info_cmd(CTX, &cmd));
		EXPECT_EQ(devs[i].caps, cmd.out_capabilities);
		EXPECT_EQ(devs[i].pasid, cmd.out_max_pasid_log2);
		EXPECT_EQ(IOMMU_HW_INFO_TYPE_SELFTEST, cmd.out_data_type);
		EXPECT_EQ(0, ioctl_destroy(CTX, stdev));
	}
	/* The fixture's device, made by plain MOCK_DOMAIN. */
	hw_info_init(&cmd, self->idev, NULL, 0);
	cmd.out_capabilities = IOMMU_HW_CAP_PCI_PASID_EXEC;
	ASSERT_EQ(0, hw_info_cmd(CTX, &cmd));
	EXPECT_EQ(IOMMU_HW_CAP_DIRTY_TRACKING |
			  IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED,
		  cmd.out_capabilities);
	EXPECT_EQ(0, cmd.out_max_pasid_log2);
}

/*
 * IOMMU_HW_INFO_FLAG_INPUT_TYPE: DEFAULT and SELFTEST are the mock's,
 * anything else EOPNOTSUPP (after the device is looked up). Without the
 * flag the field is ignored whatever it holds.
 */
TEST_F(hwpt, hw_info_input_type)
{
	const uint32_t bad[] = { IOMMU_HW_INFO_TYPE_INTEL_VTD,
				 IOMMU_HW_INFO_TYPE_ARM_SMMUV3,
				 IOMMU_HW_INFO_TYPE_AMD,
				 IOMMU_HW_INFO_TYPE_SELFTEST + 1, UINT32_MAX };
	struct iommu_test_hw_info data;
	struct iommu_hw_info cmd;

	hw_info_init(&cmd, self->idev, &data, sizeof(data));
	cmd.flags = IOMMU_HW_INFO_FLAG_INPUT_TYPE;
	cmd.in_data_type = IOMMU_HW_INFO_TYPE_DEFAULT;
	ASSERT_EQ(0, hw_info_cmd(CTX, &cmd));
	EXPECT_EQ(IOMMU_HW_INFO_TYPE_SELFTEST, cmd.out_data_type);
	hw_info_init(&cmd, self->idev, &data, sizeof(data));
	cmd.flags = IOMMU_HW_INFO_FLAG_INPUT_TYPE;
	cmd.in_data_type = IOMMU_HW_INFO_TYPE_SELFTEST;
	ASSERT_EQ(0, hw_info_cmd(CTX, &cmd));
	EXPECT_EQ(IOMMU_HW_INFO_TYPE_SELFTEST, cmd.out_data_type);
	EXPECT_EQ(IOMMU_HW_INFO_SELFTEST_REGVAL, data.test_reg);

	for (unsigned int i = 0; i != ARRAY_SIZE(bad); i++) {
		memset(&data, 0xee, sizeof(data));
		hw_info_init(&cmd, self->idev, &data, sizeof(data));
		cmd.flags = IOMMU_HW_INFO_FLAG_INPUT_TYPE;
		cmd.in_data_type = bad[i];
		EXPECT_FAILS_WHY(EOPNOTSUPP, hw_info_cmd(CTX, &cmd));
		/* Nothing written: neither the data nor the command. */
		EXPECT_EQ(bad[i], cmd.in_data_type);
		EXPECT_EQ(sizeof(data), cmd.data_len);
		EXPECT_EQ(0xeeeeeeee, data.test_reg);
		/* The device is looked up first. */
		cmd.dev_id = self->stdev;
		EXPECT_FAILS_WHY(ENOENT, hw_info_cmd(CTX, &cmd));

		/* Without the flag: ignored. */
		hw_info_init(&cmd, self->idev, &data, sizeof(data));
		cmd.in_data_type = bad[i];
		ASSERT_EQ(0, hw_info_cmd(CTX, &cmd));
		EXPECT_EQ(IOMMU_HW_INFO_TYPE_SELFTEST, cmd.out_data_type);
		EXPECT_EQ(IOMMU_HW_INFO_SELFTEST_REGVAL, data.test_reg);
	}
}

/* Unknown flags and __reserved bytes: EOPNOTSUPP, before the device. */
TEST_F(hwpt, hw_info_flags_and_reserved)
{
	const uint32_t flags[] = { 1u << 1, 1u << 2, 1u << 31,
				   IOMMU_HW_INFO_FLAG_INPUT_TYPE | (1u << 4) };
	struct iommu_hw_info cmd;

	for (unsigned int i = 0; i != ARRAY_SIZE(flags); i++) {
		hw_info_init(&cmd, self->idev, NULL, 0);
		cmd.flags = flags[i];
		EXPECT_FAILS_WHY(EOPNOTSUPP, hw_info_cmd(CTX, &cmd));
		EXPECT_EQ(0, cmd.data_len);
		hw_info_init(&cmd, 0, NULL, 0);
		cmd.flags = flags[i];
		EXPECT_FAILS_WHY(EOPNOTSUPP, hw_info_cmd(CTX, &cmd));
	}
	for (unsigned int i = 0; i != 3; i++) {
		hw_info_init(&cmd, self->idev, NULL, 0);
		cmd.__reserved[i] = 1;
		EXPECT_FAILS_WHY(EOPNOTSUPP, hw_info_cmd(CTX, &cmd));
		hw_info_init(&cmd, 0, NULL, 0);
		cmd.__reserved[i] = 0x80;
		EXPECT_FAILS_WHY(EOPNOTSUPP, hw_info_cmd(CTX, &cmd));
	}
}

/*
 * A buffer the library cannot write: EFAULT, whether the copy or the
 * zeroing past it faults, and the command is not written back.
 */
TEST_F(hwpt, hw_info_bad_buffer)
{
	struct iommu_hw_info cmd;

	hw_info_init(&cmd, self->idev, BAD_PTR, 8);
	EXPECT_FAILS_WHY(EFAULT, hw_info_cmd(CTX, &cmd));
	EXPECT_EQ(8, cmd.data_len);
	EXPECT_EQ(0, cmd.out_data_type);
	hw_info_init(&cmd, self->idev, NULL, 1);
	EXPECT_FAILS_WHY(EFAULT, hw_info_cmd(CTX, &cmd));
	EXPECT_EQ(1, cmd.data_len);
	hw_info_init(&cmd, self->idev, edge_ptr(self->guard, 4), 8);
	EXPECT_FAILS_WHY(EFAULT, hw_info_cmd(CTX, &cmd));
	hw_info_init(&cmd, self->idev, edge_ptr(self->guard, 8), 16);
	EXPECT_FAILS_WHY(EFAULT, hw_info_cmd(CTX, &cmd));
	EXPECT_EQ(16, cmd.data_len);
	hw_info_init(&cmd, self->idev, edge_ptr(self->guard, 64), 65);
	EXPECT_FAILS_WHY(EFAULT, hw_info_cmd(CTX, &cmd));
	/* A wrong device is found out first. */
	hw_info_init(&cmd, self->stdev, BAD_PTR, 8);
	EXPECT_FAILS_WHY(ENOENT, hw_info_cmd(CTX, &cmd));
}

/* dev_id must name a device: ENOENT for anything else. */
TEST_F(hwpt, hw_info_wrong_dev_id)
{
	uint32_t parent = paging(self, NEST), n = nested(self, parent, 0);
	const uint32_t ids[] = { 0, self->stdev, self->auto_hwpt, self->ioas,
				 parent, n, 4096, UINT32_MAX };
	struct iommu_hw_info cmd;

	for (unsigned int i = 0; i != ARRAY_SIZE(ids); i++) {
		hw_info_init(&cmd, ids[i], NULL, 0);
		EXPECT_FAILS_WHY(ENOENT, hw_info_cmd(CTX, &cmd));
		EXPECT_EQ(0, cmd.out_capabilities);
	}
}

/*
 * Sizes: the end of __reserved (32) is the minimum; there
 * out_capabilities is past the caller's struct and not written.
 */
TEST_F(hwpt, hw_info_size_rules)
{
	uint8_t raw[64] __attribute__((aligned(8)));
	struct iommu_hw_info *cmd = (void *)raw;

	memset(raw, 0x5c, sizeof(raw));
	hw_info_init(cmd, self->idev, NULL, 0);
	cmd->size = 32;
	cmd->out_capabilities = 0x5c5c;
	memset(raw + 40, 0x5c, sizeof(raw) - 40);
	ASSERT_EQ(0, hw_info_cmd(CTX, cmd));
	EXPECT_EQ(IOMMU_HW_INFO_TYPE_SELFTEST, cmd->out_data_type);
	EXPECT_EQ(8, cmd->data_len);
	EXPECT_EQ(0x5c5c, cmd->out_capabilities);

	hw_info_init(cmd, self->idev, NULL, 0);
	cmd->size = 31;
	EXPECT_FAILS_WHY(EINVAL, hw_info_cmd(CTX, cmd));
	EXPECT_EQ(0, cmd->data_len);

	memset(raw, 0, sizeof(raw));
	hw_info_init(cmd, self->idev, NULL, 0);
	cmd->size = sizeof(raw);
	ASSERT_EQ(0, hw_info_cmd(CTX, cmd));
	EXPECT_NE(0, cmd->out_capabilities);
	hw_info_init(cmd, self->idev, NULL, 0);
	cmd->size = sizeof(raw);
	raw[sizeof(raw) - 3] = 1;
	EXPECT_FAILS_WHY(E2BIG, hw_info_cmd(CTX, cmd));
}

/* ==== Linux 6.2 had none of it ==== */

/*
 * Under a 6.2 context the three commands are ENOTTY and the five test
 * ops EOPNOTSUPP, with valid arguments, and nothing is made or moved.
 */
TEST(v6_2_has_none_of_it)
{
	struct uiommufd_ctx *ctx = ctx_open_as(UIOMMUFD_KERNEL_6_2, false, 0);
	struct iommu_hwpt_selftest data = { .iotlb = 1 };
	struct inv e = { 0, 0 };
	struct iommu_hw_info info;
	uint32_t ioas = 0, ioas2 = 0, stdev = 0, hwpt = 0, next, num = 1;
	int afd = -1;

	ASSERT_NONNULL(ctx);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas2));
	ASSERT_EQ(0, test_mock_domain(ctx, ioas, &stdev, &hwpt, NULL));
	ASSERT_EQ(0, test_create_access(ctx, ioas, 0, &afd));
	next = hwt_next_id(ctx);

	EXPECT_FAILS_WHY(ENOTTY, hwpt_alloc(ctx, stdev, ioas, 0, NULL, 0,
					    NULL));
	EXPECT_FAILS_WHY(ENOTTY, hwpt_alloc(ctx, stdev, hwpt, 0, &data,
					    sizeof(data), NULL));
	EXPECT_FAILS_WHY(ENOTTY, hwpt_invalidate(
					 ctx, hwpt,
					 IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
					 &e, sizeof(e), &num));
	EXPECT_FAILS_WHY(ENOTTY, get_hw_info(ctx, stdev, NULL, 0, &info));

	EXPECT_FAILS_WHY(EOPNOTSUPP, test_mock_domain_flags(ctx, ioas, 0, NULL,
							    NULL, NULL));
	EXPECT_FAILS_WHY(EOPNOTSUPP,
			 test_mock_domain_replace(ctx, stdev, &ioas2));
	EXPECT_FAILS_WHY(EOPNOTSUPP, test_access_replace_ioas(ctx, afd, ioas2));
	EXPECT_FAILS_WHY(EOPNOTSUPP, test_check_iotlb(ctx, hwpt, 0, 0));
	EXPECT_FAILS_WHY(EOPNOTSUPP, test_check_dev_cache(
					     ctx, stdev, 0,
					     IOMMU_TEST_DEV_CACHE_DEFAULT));
	EXPECT_EQ(next, hwt_next_id(ctx));
	/* Nothing moved: the device on its own HW pagetable, the access. */
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(ctx, hwpt));
	EXPECT_EQ(0, ioctl_destroy(ctx, ioas2));
	EXPECT_EQ(0, ioctl_destroy(ctx, stdev));
	EXPECT_EQ(0, ioctl_destroy(ctx, hwpt));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(ctx, ioas));
	EXPECT_EQ(0, uiommufd_fd_close(afd));
	EXPECT_EQ(0, ioctl_destroy(ctx, ioas));
	uiommufd_ctx_close(ctx);
}
