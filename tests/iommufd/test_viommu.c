// SPDX-License-Identifier: MIT
/*
 * vIOMMUs, vdevices and HW queues of the Linux 7.2 ABI, driven through
 * uiommufd_ioctl() as a program drives /dev/iommu: IOMMU_VIOMMU_ALLOC of
 * the selftest type with its data and the pages mmap() of the context
 * reaches, nested HW pagetables on a vIOMMU, IOMMU_VDEVICE_ALLOC (and the
 * tombstone a vdevice leaves when its device goes first),
 * IOMMU_HWPT_INVALIDATE of a vIOMMU (the mock device caches), and
 * IOMMU_HW_QUEUE_ALLOC (index order, pinning, destroy order).
 *
 * The kernel is the reference for every errno: drivers/iommu/iommufd/
 * viommu.c, hw_pagetable.c (the vIOMMU branches), device.c
 * (iommufd_device_remove_vdev), main.c (iommufd_fops_mmap), driver.c
 * (_iommufd_alloc_mmap) and the mock vIOMMU in selftest.c. Every refused
 * command must leave a reason and nothing behind.
 */
#include <pthread.h>
#include <stddef.h>
#include <sys/mman.h>

#include "iommufd/iommufd_utils.h"

#define PG TEST_PAGE_SIZE
#define BUF_PAGES 16
#define BUF_LEN (BUF_PAGES * PG)
#define IOVA MOCK_APERTURE_START
#define REGION_LEN (2 * PG)
#define CACHE_DEF IOMMU_TEST_DEV_CACHE_DEFAULT
#define ALL IOMMU_TEST_INVALIDATE_FLAG_ALL
#define VINV IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST
#define VTYPE IOMMU_VIOMMU_TYPE_SELFTEST
#define QTYPE IOMMU_HW_QUEUE_TYPE_SELFTEST

/* ---- the three commands (vIOMMU and vdevice: iommufd_utils.h) ---- */

static int viommu_cmd(struct uiommufd_ctx *ctx, void *cmd)
{
	return uiommufd_ioctl(ctx, IOMMU_VIOMMU_ALLOC, cmd);
}

static void queue_init(struct iommu_hw_queue_alloc *cmd, uint32_t viommu_id,
		       uint32_t index, uint64_t iova, uint64_t length)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->size = sizeof(*cmd);
	cmd->viommu_id = viommu_id;
	cmd->type = QTYPE;
	cmd->index = index;
	cmd->nesting_parent_iova = iova;
	cmd->length = length;
}

static int queue_cmd(struct uiommufd_ctx *ctx, void *cmd)
{
	return uiommufd_ioctl(ctx, IOMMU_HW_QUEUE_ALLOC, cmd);
}

static int queue_alloc(struct uiommufd_ctx *ctx, uint32_t viommu_id,
		       uint32_t index, uint64_t iova, uint64_t length,
		       uint32_t *out)
{
	struct iommu_hw_queue_alloc cmd;
	int rc;

	queue_init(&cmd, viommu_id, index, iova, length);
	rc = queue_cmd(ctx, &cmd);
	if (!rc && out)
		*out = cmd.out_hw_queue_id;
	return rc;
}

struct vinv {
	uint32_t flags;
	uint32_t vdev_id;
	uint32_t cache_id;
};

static int vinvalidate(struct uiommufd_ctx *ctx, uint32_t id,
		       const void *entries, uint32_t entry_len, uint32_t *num)
{
	return hwpt_invalidate(ctx, id, VINV, entries, entry_len, num);
}

/* The four cache entries of device @idev are @v0..@v3. */
static void cache_expect(struct uiommufd_ctx *ctx, uint32_t idev, uint32_t v0,
			 uint32_t v1, uint32_t v2, uint32_t v3)
{
	const uint32_t want[MOCK_DEV_CACHE_NUM] = { v0, v1, v2, v3 };

	for (uint32_t i = 0; i != MOCK_DEV_CACHE_NUM; i++) {
		int rc = test_check_dev_cache(ctx, idev, i, want[i]);

		if (rc)
			TH_LOG("cache entry %u of device %u is not %#x: %s", i,
			       idev, want[i], uiommufd_last_reason());
		EXPECT_EQ(0, rc);
	}
}

/* A page the library can read but not write. Free with munmap(p, PG). */
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

/* ---- the fixture: an IOAS with a mapping, a device, a nesting parent ---- */

FIXTURE(viommu)
{
	struct uiommufd_ctx *ctx;
	uint8_t *buf;
	uint32_t ioas;
	uint32_t stdev, auto_hwpt, idev;
	uint32_t parent;
};

FIXTURE_SETUP(viommu)
{
	uint64_t iova = IOVA;

	self->buf = test_buffer(BUF_LEN);
	ASSERT_NONNULL(self->buf);
	self->ctx = ctx_open_as(UIOMMUFD_KERNEL_7_2, false, 0);
	ASSERT_NONNULL(self->ctx);
	ASSERT_EQ(0, ioas_alloc(self->ctx, &self->ioas));
	ASSERT_EQ(0, ioas_map(self->ctx, self->ioas, self->buf, BUF_LEN,
			      &iova, MAP_FIXED_RW));
	ASSERT_EQ(0, test_mock_domain(self->ctx, self->ioas, &self->stdev,
				      &self->auto_hwpt, &self->idev));
	ASSERT_EQ(0, hwpt_alloc(self->ctx, self->idev, self->ioas,
				IOMMU_HWPT_ALLOC_NEST_PARENT, NULL, 0,
				&self->parent));
}

FIXTURE_TEARDOWN(viommu)
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
}

#define CTX (self->ctx)

static uint32_t new_viommu(struct _fixture_data_viommu *self, uint32_t in_data)
{
	struct iommu_viommu_selftest data = { .in_data = in_data };
	uint32_t id = 0;

	ASSERT_EQ(0, viommu_alloc(CTX, self->idev, self->parent, &data, &id));
	ASSERT_NE(0, id);
	return id;
}

/* Another device on the fixture's IOAS: its idev (*stdev its owner). */
static uint32_t new_device(struct _fixture_data_viommu *self, uint32_t *stdev)
{
	uint32_t idev = 0;

	ASSERT_EQ(0, test_mock_domain(CTX, self->ioas, stdev, NULL, &idev));
	ASSERT_NE(0, idev);
	return idev;
}

/* ==== IOMMU_VIOMMU_ALLOC ==== */

/*
 * The mock loops in_data back in out_data and in the first word of its
 * two pages, which mmap() of the context reaches at out_mmap_offset,
 * the first region from the second page on. A vIOMMU holds its parent.
 */
TEST_F(viommu, alloc_basic_and_region)
{
	struct iommu_viommu_selftest data = { .in_data = 0xcafe1234 };
	uint32_t id = 0;
	uint32_t *map;

	ASSERT_EQ(0, viommu_alloc(CTX, self->idev, self->parent, &data, &id));
	EXPECT_EQ(0xcafe1234u, data.out_data);
	EXPECT_EQ(REGION_LEN, data.out_mmap_length);
	EXPECT_EQ(PG, data.out_mmap_offset);

	map = uiommufd_ctx_mmap(CTX, NULL, data.out_mmap_length,
				PROT_READ | PROT_WRITE, MAP_SHARED,
				data.out_mmap_offset);
	ASSERT_NE(MAP_FAILED, map);
	EXPECT_EQ(0xcafe1234u, map[0]);
	EXPECT_EQ(0u, map[1]);
	EXPECT_EQ(0u, map[REGION_LEN / 4 - 1]);
	map[REGION_LEN / 4 - 1] = 7;

	/* Mapped: the vIOMMU cannot go; it holds its parent. */
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, id));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->parent));
	EXPECT_EQ(0, uiommufd_munmap(map, data.out_mmap_length));
	EXPECT_EQ(0, ioctl_destroy(CTX, id));
	EXPECT_EQ(0, ioctl_destroy(CTX, self->parent));
}

/* No data: a vIOMMU without a region. */
TEST_F(viommu, alloc_without_data)
{
	uint32_t id = 0;

	ASSERT_EQ(0, viommu_alloc(CTX, self->idev, self->parent, NULL, &id));
	EXPECT_EQ(MAP_FAILED, uiommufd_ctx_mmap(CTX, NULL, REGION_LEN,
						PROT_READ, MAP_SHARED, PG));
	EXPECT_EQ(ENXIO, errno);
	EXPECT_EQ(0, ioctl_destroy(CTX, id));
}

/* Flags and type: EOPNOTSUPP, flags before anything is looked up. */
TEST_F(viommu, alloc_flags_and_type)
{
	struct iommu_viommu_alloc cmd;
	uint32_t next = hwt_next_id(CTX);

	viommu_init(&cmd, 999, self->parent, NULL, 0);
	cmd.flags = 1;
	EXPECT_FAILS_WHY(EOPNOTSUPP, viommu_cmd(CTX, &cmd));
	viommu_init(&cmd, self->idev, self->parent, NULL, 0);
	cmd.flags = 1u << 31;
	EXPECT_FAILS_WHY(EOPNOTSUPP, viommu_cmd(CTX, &cmd));
	viommu_init(&cmd, 999, self->parent, NULL, 0);
	cmd.type = IOMMU_VIOMMU_TYPE_DEFAULT;
	EXPECT_FAILS_WHY(EOPNOTSUPP, viommu_cmd(CTX, &cmd));
	/* Another driver's type: the device is looked up first. */
	cmd.type = IOMMU_VIOMMU_TYPE_ARM_SMMUV3;
	EXPECT_FAILS_WHY(ENOENT, viommu_cmd(CTX, &cmd));
	cmd.dev_id = self->idev;
	EXPECT_FAILS_WHY(EOPNOTSUPP, viommu_cmd(CTX, &cmd));
	cmd.type = VTYPE + 1;
	EXPECT_FAILS_WHY(EOPNOTSUPP, viommu_cmd(CTX, &cmd));
	/* Not looked at, as the kernel. */
	viommu_init(&cmd, self->idev, self->parent, NULL, 0);
	cmd.__reserved = 5;
	ASSERT_EQ(0, viommu_cmd(CTX, &cmd));
	EXPECT_EQ(next, cmd.out_viommu_id);
	EXPECT_EQ(0, ioctl_destroy(CTX, cmd.out_viommu_id));
	EXPECT_EQ(next, hwt_next_id(CTX));
}

/* dev_id must be a device, hwpt_id a paging HW pagetable made NEST_PARENT. */
TEST_F(viommu, alloc_wrong_ids)
{
	struct iommu_hwpt_selftest nd = { .iotlb = 1 };
	uint32_t plain = 0, nested = 0, next;

	ASSERT_EQ(0, hwpt_alloc(CTX, self->idev, self->ioas, 0, NULL, 0,
				&plain));
	ASSERT_EQ(0, hwpt_alloc(CTX, self->idev, self->parent, 0, &nd,
				sizeof(nd), &nested));
	next = hwt_next_id(CTX);
	EXPECT_FAILS_WHY(ENOENT, viommu_alloc(CTX, 0, self->parent, NULL,
					      NULL));
	EXPECT_FAILS_WHY(ENOENT, viommu_alloc(CTX, self->ioas, self->parent,
					      NULL, NULL));
	EXPECT_FAILS_WHY(ENOENT, viommu_alloc(CTX, self->stdev, self->parent,
					      NULL, NULL));
	EXPECT_FAILS_WHY(ENOENT, viommu_alloc(CTX, self->idev, 0, NULL, NULL));
	EXPECT_FAILS_WHY(ENOENT, viommu_alloc(CTX, self->idev, self->ioas,
					      NULL, NULL));
	EXPECT_FAILS_WHY(ENOENT, viommu_alloc(CTX, self->idev, nested, NULL,
					      NULL));
	EXPECT_FAILS_WHY(ENOENT, viommu_alloc(CTX, self->idev, self->idev,
					      NULL, NULL));
	EXPECT_FAILS_WHY(EINVAL, viommu_alloc(CTX, self->idev, plain, NULL,
					      NULL));
	EXPECT_FAILS_WHY(EINVAL, viommu_alloc(CTX, self->idev,
					      self->auto_hwpt, NULL, NULL));
	EXPECT_EQ(next, hwt_next_id(CTX));
}

/*
 * The data: at least through out_data, copied with the extensible-struct
 * rules; a longer struct is zeroed past ours on the way back.
 */
TEST_F(viommu, alloc_data_len)
{
	struct iommu_viommu_alloc cmd;
	uint8_t raw[64];
	struct iommu_viommu_selftest *d = (void *)raw;
	uint32_t next = hwt_next_id(CTX);

	memset(raw, 0, sizeof(raw));
	d->in_data = 0x11;
	viommu_init(&cmd, self->idev, self->parent, raw, 4);
	EXPECT_FAILS_WHY(EINVAL, viommu_cmd(CTX, &cmd));
	viommu_init(&cmd, self->idev, self->parent, raw, 7);
	EXPECT_FAILS_WHY(EINVAL, viommu_cmd(CTX, &cmd));
	viommu_init(&cmd, self->idev, self->parent, NULL, 8);
	EXPECT_FAILS_WHY(EFAULT, viommu_cmd(CTX, &cmd));
	viommu_init(&cmd, self->idev, self->parent, BAD_PTR, sizeof(*d));
	EXPECT_FAILS_WHY(EFAULT, viommu_cmd(CTX, &cmd));
	/* Bytes past the struct must be zero. */
	raw[40] = 1;
	viommu_init(&cmd, self->idev, self->parent, raw, sizeof(raw));
	EXPECT_FAILS_WHY(E2BIG, viommu_cmd(CTX, &cmd));
	EXPECT_EQ(next, hwt_next_id(CTX));

	/* Only out_data: the rest of the struct is not written. */
	memset(raw, 0xee, sizeof(raw));
	d->in_data = 0x22;
	viommu_init(&cmd, self->idev, self->parent, raw, 8);
	ASSERT_EQ(0, viommu_cmd(CTX, &cmd));
	EXPECT_EQ(0x22u, d->out_data);
	EXPECT_EQ(0xeeu, raw[8]);
	EXPECT_EQ(0, ioctl_destroy(CTX, cmd.out_viommu_id));

	/* Longer and zero past ours: accepted, and comes back zeroed. */
	memset(raw, 0, sizeof(raw));
	d->in_data = 0x33;
	viommu_init(&cmd, self->idev, self->parent, raw, sizeof(raw));
	ASSERT_EQ(0, viommu_cmd(CTX, &cmd));
	EXPECT_EQ(0x33u, d->out_data);
	EXPECT_EQ(REGION_LEN, d->out_mmap_length);
	for (size_t i = sizeof(*d); i != sizeof(raw); i++)
		EXPECT_EQ(0, raw[i]);
	EXPECT_EQ(0, ioctl_destroy(CTX, cmd.out_viommu_id));
	EXPECT_EQ(next, hwt_next_id(CTX));
}

/* The struct's size: from out_viommu_id on; the rest is data. */
TEST_F(viommu, alloc_size_rules)
{
	struct iommu_viommu_alloc cmd;
	uint8_t raw[sizeof(cmd) + 8];
	uint32_t next = hwt_next_id(CTX);

	viommu_init(&cmd, self->idev, self->parent, NULL, 0);
	cmd.size = offsetof(struct iommu_viommu_alloc, out_viommu_id);
	EXPECT_FAILS_WHY(EINVAL, viommu_cmd(CTX, &cmd));
	cmd.size = 0;
	EXPECT_FAILS_WHY(EINVAL, viommu_cmd(CTX, &cmd));

	memset(raw, 0, sizeof(raw));
	viommu_init(&cmd, self->idev, self->parent, NULL, 0);
	cmd.size = sizeof(raw);
	memcpy(raw, &cmd, sizeof(cmd));
	raw[sizeof(raw) - 1] = 1;
	EXPECT_FAILS_WHY(E2BIG, viommu_cmd(CTX, raw));
	EXPECT_FAILS_WHY(EFAULT, viommu_cmd(CTX, BAD_PTR));
	EXPECT_EQ(next, hwt_next_id(CTX));

	/* Through out_viommu_id: data_len reads as 0. */
	viommu_init(&cmd, self->idev, self->parent, (void *)1, 99);
	cmd.size = offsetof(struct iommu_viommu_alloc, data_len);
	ASSERT_EQ(0, viommu_cmd(CTX, &cmd));
	EXPECT_EQ(next, cmd.out_viommu_id);
	EXPECT_EQ(0, ioctl_destroy(CTX, next));
}

/*
 * A reply that cannot be written: EFAULT and nothing left, the region
 * given back (the next vIOMMU's is at the same offset).
 */
TEST_F(viommu, alloc_answer_unwritable)
{
	struct iommu_viommu_selftest data = { .in_data = 5 };
	struct iommu_viommu_alloc cmd, *ro;
	uint32_t next = hwt_next_id(CTX);

	viommu_init(&cmd, self->idev, self->parent, &data, sizeof(data));
	ro = ro_copy(&cmd, sizeof(cmd));
	ASSERT_NONNULL(ro);
	EXPECT_FAILS_WHY(EFAULT, viommu_cmd(CTX, ro));
	munmap(ro, PG);
	EXPECT_EQ(next, hwt_next_id(CTX));
	/* The data itself read-only: EFAULT too. */
	ro = ro_copy(&data, sizeof(data));
	ASSERT_NONNULL(ro);
	viommu_init(&cmd, self->idev, self->parent, ro, sizeof(data));
	EXPECT_FAILS_WHY(EFAULT, viommu_cmd(CTX, &cmd));
	munmap(ro, PG);
	EXPECT_EQ(next, hwt_next_id(CTX));
	EXPECT_EQ(MAP_FAILED, uiommufd_ctx_mmap(CTX, NULL, REGION_LEN,
						PROT_READ, MAP_SHARED, PG));

	memset(&data, 0, sizeof(data));
	ASSERT_EQ(0, viommu_alloc(CTX, self->idev, self->parent, &data, NULL));
	EXPECT_EQ(PG, data.out_mmap_offset);
}

/* Under 6.2 the three commands are ENOTTY. */
TEST(v6_2_has_none_of_it)
{
	struct uiommufd_ctx *ctx = ctx_open_as(UIOMMUFD_KERNEL_6_2, false, 0);
	uint32_t ioas = 0, stdev = 0, hwpt = 0;

	ASSERT_NONNULL(ctx);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, test_mock_domain(ctx, ioas, &stdev, &hwpt, NULL));
	EXPECT_FAILS_WHY(ENOTTY, viommu_alloc(ctx, stdev, hwpt, NULL, NULL));
	EXPECT_FAILS_WHY(ENOTTY, vdevice_alloc(ctx, 1, stdev, 0, NULL));
	EXPECT_FAILS_WHY(ENOTTY, queue_alloc(ctx, 1, 0, IOVA, PG, NULL));
	/* The file had no mmap at all. */
	errno = 0;
	EXPECT_EQ(MAP_FAILED, uiommufd_ctx_mmap(ctx, NULL, REGION_LEN,
						PROT_READ, MAP_SHARED, PG));
	EXPECT_EQ(ENODEV, errno);
	uiommufd_ctx_close(ctx);
}

/* ==== mmap() of the context ==== */

/*
 * The kernel's rules: shared, not executable, exactly a region from its
 * start (length rounded up to pages); ENXIO for anything else.
 */
TEST_F(viommu, mmap_rules)
{
	struct iommu_viommu_selftest data = { .in_data = 9 };
	uint32_t id = 0;
	uint32_t *map;

	ASSERT_EQ(0, viommu_alloc(CTX, self->idev, self->parent, &data, &id));
#define MMAP_FAILS(err, _len, _prot, _fl, _off)                            \
	do {                                                               \
		errno = 0;                                                 \
		EXPECT_EQ(MAP_FAILED, uiommufd_ctx_mmap(CTX, NULL, _len,   \
							_prot, _fl, _off)); \
		EXPECT_EQ(err, errno);                                     \
		EXPECT_TRUE(has_reason());                             \
	} while (0)
	MMAP_FAILS(EINVAL, REGION_LEN, PROT_READ, MAP_PRIVATE, PG);
	MMAP_FAILS(EPERM, REGION_LEN, PROT_READ | PROT_EXEC, MAP_SHARED, PG);
	MMAP_FAILS(ENXIO, REGION_LEN, PROT_READ, MAP_SHARED, 0);
	MMAP_FAILS(ENXIO, PG, PROT_READ, MAP_SHARED, 2 * PG);
	MMAP_FAILS(ENXIO, REGION_LEN, PROT_READ, MAP_SHARED, 3 * PG);
	MMAP_FAILS(ENXIO, PG, PROT_READ, MAP_SHARED, PG);
	MMAP_FAILS(ENXIO, 3 * PG, PROT_READ, MAP_SHARED, PG);
	MMAP_FAILS(EINVAL, REGION_LEN, PROT_READ, MAP_SHARED, PG + 1);
	MMAP_FAILS(EINVAL, 0, PROT_READ, MAP_SHARED, PG);
	MMAP_FAILS(EOVERFLOW, REGION_LEN, PROT_READ, MAP_SHARED, -(off_t)PG);
	/* None of those holds the vIOMMU. */
	EXPECT_EQ(MAP_FAILED, uiommufd_ctx_mmap(NULL, NULL, REGION_LEN,
						PROT_READ, MAP_SHARED, PG));
	EXPECT_EQ(EBADF, errno);

	/* A length short of the last page rounds up to the region. */
	map = uiommufd_ctx_mmap(CTX, NULL, REGION_LEN - 1, PROT_READ,
				MAP_SHARED_VALIDATE, PG);
	ASSERT_NE(MAP_FAILED, map);
	EXPECT_EQ(9u, map[0]);
	EXPECT_EQ(0, uiommufd_munmap(map, REGION_LEN));
	EXPECT_EQ(0, ioctl_destroy(CTX, id));
	/* Gone with its vIOMMU. */
	MMAP_FAILS(ENXIO, REGION_LEN, PROT_READ, MAP_SHARED, PG);
#undef MMAP_FAILS
}

/*
 * Regions take the lowest free offsets; two mappings of one region share
 * its memory; each part of a mapping holds the vIOMMU until unmapped.
 */
TEST_F(viommu, mmap_regions_and_mappings)
{
	struct iommu_viommu_selftest d1 = { .in_data = 1 };
	struct iommu_viommu_selftest d2 = { .in_data = 2 };
	struct iommu_viommu_selftest d3 = { .in_data = 3 };
	uint32_t v1 = 0, v2 = 0, v3 = 0;
	uint32_t *a, *b;

	ASSERT_EQ(0, viommu_alloc(CTX, self->idev, self->parent, &d1, &v1));
	ASSERT_EQ(0, viommu_alloc(CTX, self->idev, self->parent, &d2, &v2));
	EXPECT_EQ(PG, d1.out_mmap_offset);
	EXPECT_EQ(PG + REGION_LEN, d2.out_mmap_offset);
	EXPECT_EQ(0, ioctl_destroy(CTX, v1));
	ASSERT_EQ(0, viommu_alloc(CTX, self->idev, self->parent, &d3, &v3));
	EXPECT_EQ(PG, d3.out_mmap_offset);

	a = uiommufd_ctx_mmap(CTX, NULL, REGION_LEN, PROT_READ | PROT_WRITE,
			      MAP_SHARED, d2.out_mmap_offset);
	b = uiommufd_ctx_mmap(CTX, NULL, REGION_LEN, PROT_READ, MAP_SHARED,
			      d2.out_mmap_offset);
	ASSERT_NE(MAP_FAILED, a);
	ASSERT_NE(MAP_FAILED, b);
	EXPECT_EQ(2u, b[0]);
	a[1] = 0x77;
	EXPECT_EQ(0x77u, b[1]);

	/* Half of one mapping, then the other half, then the second. */
	EXPECT_EQ(0, uiommufd_munmap(a, PG));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, v2));
	EXPECT_EQ(0, uiommufd_munmap((uint8_t *)a + PG, PG));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, v2));
	/* The middle of a mapping splits it: both ends still hold. */
	a = uiommufd_ctx_mmap(CTX, NULL, REGION_LEN + PG, PROT_READ,
			      MAP_SHARED, d2.out_mmap_offset);
	EXPECT_EQ(MAP_FAILED, a);
	EXPECT_EQ(0, uiommufd_munmap(b, REGION_LEN));
	EXPECT_EQ(0, ioctl_destroy(CTX, v2));
	/* Plain memory: munmap(2). */
	a = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, a);
	EXPECT_EQ(0, uiommufd_munmap(a, PG));
	EXPECT_EQ(-1, uiommufd_munmap((uint8_t *)a + 1, PG));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, ioctl_destroy(CTX, v3));
}

/*
 * mremap() of a mapping, as of the kernel's VM_PFNMAP | VM_DONTEXPAND
 * VMA: it moves (whole or in part) and shrinks, holding the vIOMMU from
 * its new place; it never grows (EFAULT), nor spans two mappings, nor
 * takes MREMAP_DONTUNMAP (EINVAL). Moving onto another mapping with
 * MREMAP_FIXED unmaps that one.
 */
TEST_F(viommu, mremap_follows_mappings)
{
	struct iommu_viommu_selftest data = { .in_data = 0x6e6f };
	uint8_t *a, *b, *c, *hole;
	uint32_t v = 0;

	ASSERT_EQ(0, viommu_alloc(CTX, self->idev, self->parent, &data, &v));
	a = uiommufd_ctx_mmap(CTX, NULL, REGION_LEN, PROT_READ | PROT_WRITE,
			      MAP_SHARED, data.out_mmap_offset);
	ASSERT_NE(MAP_FAILED, a);
	/* Never grows, in place or moving. */
	EXPECT_EQ(MAP_FAILED, uiommufd_mremap(a, REGION_LEN, REGION_LEN + PG,
					      0, NULL));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_TRUE(has_reason());
	EXPECT_EQ(MAP_FAILED, uiommufd_mremap(a, REGION_LEN, REGION_LEN + PG,
					      MREMAP_MAYMOVE, NULL));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(MAP_FAILED, uiommufd_mremap(a, 0, PG, MREMAP_MAYMOVE, NULL));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(MAP_FAILED, uiommufd_mremap(a, REGION_LEN, REGION_LEN,
					      MREMAP_MAYMOVE | MREMAP_DONTUNMAP,
					      NULL));
	EXPECT_EQ(EINVAL, errno);

	/* Moved whole: the bytes come along, the vIOMMU stays held. */
	hole = mmap(NULL, 4 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		    0);
	ASSERT_NE(MAP_FAILED, hole);
	b = uiommufd_mremap(a, REGION_LEN, REGION_LEN,
			    MREMAP_MAYMOVE | MREMAP_FIXED, hole);
	ASSERT_EQ(hole, b);
	EXPECT_EQ(0x6e6fu, *(uint32_t *)b);
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, v));
	/* The old place is nothing now: unmapping it lets go of nothing. */
	EXPECT_EQ(0, uiommufd_munmap(a, REGION_LEN));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, v));

	/* Shrunk in place: the tail went. Then the rest moves on. */
	ASSERT_EQ(b, uiommufd_mremap(b, REGION_LEN, PG, 0, NULL));
	c = uiommufd_mremap(b, PG, PG, MREMAP_MAYMOVE | MREMAP_FIXED,
			    hole + 2 * PG);
	ASSERT_EQ(hole + 2 * PG, c);
	EXPECT_EQ(0x6e6fu, *(uint32_t *)c);
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, v));

	/* The second page of a fresh mapping moved onto the first: FIXED
	   over it unmaps it, the moved page alone holds. */
	a = uiommufd_ctx_mmap(CTX, NULL, REGION_LEN, PROT_READ, MAP_SHARED,
			      data.out_mmap_offset);
	ASSERT_NE(MAP_FAILED, a);
	ASSERT_EQ(c, uiommufd_mremap(a + PG, PG, PG,
				     MREMAP_MAYMOVE | MREMAP_FIXED, c));
	EXPECT_EQ(0, uiommufd_munmap(c, PG));
	EXPECT_EQ(0, uiommufd_munmap(a, PG));
	/* Across two mappings side by side (in the hole): EFAULT. */
	a = uiommufd_ctx_mmap(CTX, hole, REGION_LEN, PROT_READ,
			      MAP_SHARED | MAP_FIXED, data.out_mmap_offset);
	b = uiommufd_ctx_mmap(CTX, hole + REGION_LEN, REGION_LEN, PROT_READ,
			      MAP_SHARED | MAP_FIXED, data.out_mmap_offset);
	ASSERT_EQ(hole, a);
	ASSERT_EQ(hole + REGION_LEN, b);
	EXPECT_EQ(MAP_FAILED, uiommufd_mremap(a + PG, 2 * PG, 2 * PG,
					      MREMAP_MAYMOVE, NULL));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(0x6e6fu, *(uint32_t *)b);
	EXPECT_EQ(0, uiommufd_munmap(hole, 2 * REGION_LEN));
	EXPECT_EQ(0, ioctl_destroy(CTX, v));
	/* Plain memory: mremap(2). */
	a = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, a);
	c = uiommufd_mremap(a, PG, 2 * PG, MREMAP_MAYMOVE, NULL);
	ASSERT_NE(MAP_FAILED, c);
	munmap(c, 2 * PG);
}

/*
 * A mapping keeps the context (as a VMA keeps the kernel's file): it can
 * be read after the close, and unmapping it lets everything go.
 */
TEST_F(viommu, mmap_outlives_the_close)
{
	struct iommu_viommu_selftest data = { .in_data = 0x5150 };
	uint32_t *map;

	ASSERT_EQ(0, viommu_alloc(CTX, self->idev, self->parent, &data, NULL));
	map = uiommufd_ctx_mmap(CTX, NULL, REGION_LEN, PROT_READ, MAP_SHARED,
				data.out_mmap_offset);
	ASSERT_NE(MAP_FAILED, map);
	/* The middle page of a three-page cut is not a thing here: split. */
	uiommufd_ctx_close(CTX);
	CTX = ctx_open_as(UIOMMUFD_KERNEL_7_2, false, 0);
	ASSERT_NONNULL(CTX);
	EXPECT_EQ(0x5150u, map[0]);
	/* The old context still pins its pages. */
	EXPECT_FAILS_WHY(EIO, test_check_refs(CTX, self->buf, PG, 0));
	EXPECT_EQ(0, uiommufd_munmap(map, REGION_LEN));
	EXPECT_EQ(0, test_check_refs(CTX, self->buf, BUF_LEN, 0));
}

/* ==== nested HW pagetables on a vIOMMU ==== */

/*
 * HWPT_ALLOC with a vIOMMU as pt_id: a nested HW pagetable on the
 * vIOMMU's parent that holds the vIOMMU, for the vIOMMU's vdevices.
 */
TEST_F(viommu, nested_on_viommu)
{
	struct iommu_hwpt_selftest nd = { .iotlb = 0x1234 };
	uint32_t v = new_viommu(self, 0), nested = 0, vdev = 0, pt;

	ASSERT_EQ(0, hwpt_alloc(CTX, self->idev, v, 0, &nd, sizeof(nd),
				&nested));
	EXPECT_EQ(0, test_check_iotlb(CTX, nested, 3, 0x1234));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, v));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->parent));

	/* Attaching needs a vdevice of the device on that vIOMMU. */
	pt = nested;
	EXPECT_FAILS_WHY(ENOENT, test_mock_domain_replace(CTX, self->stdev,
							  &pt));
	ASSERT_EQ(0, vdevice_alloc(CTX, v, self->idev, 0x99, &vdev));
	pt = nested;
	ASSERT_EQ(0, test_mock_domain_replace(CTX, self->stdev, &pt));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, nested));
	pt = self->ioas;
	ASSERT_EQ(0, test_mock_domain_replace(CTX, self->stdev, &pt));

	EXPECT_EQ(0, ioctl_destroy(CTX, nested));
	EXPECT_EQ(0, ioctl_destroy(CTX, vdev));
	EXPECT_EQ(0, ioctl_destroy(CTX, v));
	EXPECT_EQ(0, ioctl_destroy(CTX, self->parent));
}

/* The vIOMMU branch's checks: flags, data, and the mock's data type. */
TEST_F(viommu, nested_on_viommu_rules)
{
	struct iommu_hwpt_selftest nd = { .iotlb = 1 };
	struct iommu_hwpt_alloc cmd;
	uint32_t v = new_viommu(self, 0), next = hwt_next_id(CTX);

#define ALLOC_FAILS(err, _fl, _ty, _da, _len)                              \
	do {                                                               \
		memset(&cmd, 0, sizeof(cmd));                              \
		cmd.size = sizeof(cmd);                                    \
		cmd.flags = (_fl);                                         \
		cmd.dev_id = self->idev;                                   \
		cmd.pt_id = v;                                             \
		cmd.data_type = (_ty);                                     \
		cmd.data_len = (_len);                                     \
		cmd.data_uptr = (uintptr_t)(_da);                          \
		EXPECT_FAILS_WHY(err, uiommufd_ioctl(CTX, IOMMU_HWPT_ALLOC, \
						     &cmd));               \
	} while (0)
	ALLOC_FAILS(EOPNOTSUPP, IOMMU_HWPT_ALLOC_NEST_PARENT,
		    IOMMU_HWPT_DATA_SELFTEST, &nd, sizeof(nd));
	ALLOC_FAILS(EOPNOTSUPP, IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
		    IOMMU_HWPT_DATA_SELFTEST, &nd, sizeof(nd));
	ALLOC_FAILS(EOPNOTSUPP, 0, IOMMU_HWPT_DATA_NONE, NULL, 0);
	ALLOC_FAILS(EOPNOTSUPP, 0, IOMMU_HWPT_DATA_VTD_S1, &nd, sizeof(nd));
	ALLOC_FAILS(EINVAL, 0, IOMMU_HWPT_DATA_SELFTEST, &nd, 2);
	ALLOC_FAILS(EFAULT, 0, IOMMU_HWPT_DATA_SELFTEST, BAD_PTR, sizeof(nd));
#undef ALLOC_FAILS
	/* The device is looked up before the vIOMMU. */
	EXPECT_FAILS_WHY(ENOENT, hwpt_alloc(CTX, 999, v, 0, &nd, sizeof(nd),
					    NULL));
	EXPECT_FAILS_WHY(ENOENT, hwpt_alloc(CTX, v, v, 0, &nd, sizeof(nd),
					    NULL));
	EXPECT_EQ(next, hwt_next_id(CTX));
	/* PASID is fine. */
	ASSERT_EQ(0, hwpt_alloc(CTX, self->idev, v, IOMMU_HWPT_ALLOC_PASID,
				&nd, sizeof(nd), NULL));
}

/* ==== IOMMU_VDEVICE_ALLOC ==== */

/*
 * One vdevice per device and one per virt_id in a vIOMMU (EEXIST); a
 * vdevice holds its vIOMMU; any 64-bit virt_id.
 */
TEST_F(viommu, vdevice_one_per_device_and_virt_id)
{
	uint32_t v = new_viommu(self, 0), v2 = new_viommu(self, 0);
	uint32_t stdev2 = 0, idev2 = new_device(self, &stdev2);
	uint32_t vd = 0, vd2 = 0, next;

	ASSERT_EQ(0, vdevice_alloc(CTX, v, self->idev, 0x10, &vd));
	next = hwt_next_id(CTX);
	EXPECT_FAILS_WHY(EEXIST, vdevice_alloc(CTX, v, self->idev, 0x11,
					       NULL));
	EXPECT_FAILS_WHY(EEXIST, vdevice_alloc(CTX, v2, self->idev, 0x10,
					       NULL));
	EXPECT_FAILS_WHY(EEXIST, vdevice_alloc(CTX, v, idev2, 0x10, NULL));
	EXPECT_EQ(next, hwt_next_id(CTX));
	/* The same virt_id on another vIOMMU is another name space. */
	ASSERT_EQ(0, vdevice_alloc(CTX, v2, idev2, 0x10, &vd2));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, v));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, v2));
	EXPECT_EQ(0, ioctl_destroy(CTX, vd));
	EXPECT_EQ(0, ioctl_destroy(CTX, v));
	EXPECT_EQ(0, ioctl_destroy(CTX, vd2));
	/* Free again: any virt_id, the largest too. */
	ASSERT_EQ(0, vdevice_alloc(CTX, v2, self->idev, UINT64_MAX, &vd));
	ASSERT_EQ(0, vdevice_alloc(CTX, v2, idev2, 0, &vd2));
	EXPECT_EQ(0, ioctl_destroy(CTX, vd));
	EXPECT_EQ(0, ioctl_destroy(CTX, vd2));
	EXPECT_EQ(0, ioctl_destroy(CTX, v2));
}

TEST_F(viommu, vdevice_wrong_ids_and_size)
{
	struct iommu_vdevice_alloc cmd = { .size = sizeof(cmd) }, *ro;
	uint32_t v = new_viommu(self, 0), next = hwt_next_id(CTX);
	uint8_t raw[sizeof(cmd) + 8];

	EXPECT_FAILS_WHY(ENOENT, vdevice_alloc(CTX, 0, self->idev, 1, NULL));
	EXPECT_FAILS_WHY(ENOENT, vdevice_alloc(CTX, self->parent, self->idev,
					       1, NULL));
	EXPECT_FAILS_WHY(ENOENT, vdevice_alloc(CTX, self->idev, self->idev, 1,
					       NULL));
	EXPECT_FAILS_WHY(ENOENT, vdevice_alloc(CTX, v, v, 1, NULL));
	EXPECT_FAILS_WHY(ENOENT, vdevice_alloc(CTX, v, self->stdev, 1, NULL));
	EXPECT_FAILS_WHY(ENOENT, vdevice_alloc(CTX, v, 0, 1, NULL));

	cmd.viommu_id = v;
	cmd.dev_id = self->idev;
	cmd.size = offsetof(struct iommu_vdevice_alloc, virt_id);
	EXPECT_FAILS_WHY(EINVAL, uiommufd_ioctl(CTX, IOMMU_VDEVICE_ALLOC, &cmd));
	memset(raw, 0, sizeof(raw));
	cmd.size = sizeof(raw);
	memcpy(raw, &cmd, sizeof(cmd));
	raw[sizeof(raw) - 2] = 1;
	EXPECT_FAILS_WHY(E2BIG, uiommufd_ioctl(CTX, IOMMU_VDEVICE_ALLOC, raw));
	EXPECT_FAILS_WHY(EFAULT, uiommufd_ioctl(CTX, IOMMU_VDEVICE_ALLOC,
						BAD_PTR));
	/* An answer that cannot be written: nothing left, the device free. */
	cmd.size = sizeof(cmd);
	ro = ro_copy(&cmd, sizeof(cmd));
	ASSERT_NONNULL(ro);
	EXPECT_FAILS_WHY(EFAULT, uiommufd_ioctl(CTX, IOMMU_VDEVICE_ALLOC, ro));
	munmap(ro, PG);
	EXPECT_EQ(next, hwt_next_id(CTX));
	/* A longer struct, zero past ours, is fine. */
	memset(raw, 0, sizeof(raw));
	cmd.size = sizeof(raw);
	memcpy(raw, &cmd, sizeof(cmd));
	ASSERT_EQ(0, uiommufd_ioctl(CTX, IOMMU_VDEVICE_ALLOC, raw));
	memcpy(&cmd, raw, sizeof(cmd));
	EXPECT_EQ(next, cmd.out_vdevice_id);
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, v));
}

/*
 * A device that goes first destroys its vdevice and leaves its ID a
 * tombstone: never found again, never given to another object; the
 * vIOMMU is free to go and its invalidations no longer find the virt_id.
 */
TEST_F(viommu, vdevice_tombstone)
{
	uint32_t v = new_viommu(self, 0);
	uint32_t stdev2 = 0, idev2 = new_device(self, &stdev2);
	uint32_t vd = 0, other = 0, num = 1;
	struct vinv e = { ALL, 0x42, 0 };

	ASSERT_EQ(0, vdevice_alloc(CTX, v, idev2, 0x42, &vd));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, idev2));
	EXPECT_EQ(0, ioctl_destroy(CTX, stdev2));
	EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(CTX, vd));
	EXPECT_FAILS_WHY(EINVAL, vinvalidate(CTX, v, &e, sizeof(e), &num));
	EXPECT_EQ(0u, num);
	/* The tombstone's ID stays taken: new IDs pass over it. */
	{
		uint32_t ids[8], n = 0;

		do {
			ASSERT_EQ(0, ioas_alloc(CTX, &ids[n]));
			EXPECT_NE(vd, ids[n]);
		} while (ids[n++] < vd && n != 8);
		EXPECT_GT(ids[n - 1], vd);
		while (n)
			EXPECT_EQ(0, ioctl_destroy(CTX, ids[--n]));
	}
	/* The virt_id is free again; the vIOMMU too. */
	ASSERT_EQ(0, vdevice_alloc(CTX, v, self->idev, 0x42, &other));
	EXPECT_NE(vd, other);
	EXPECT_EQ(0, ioctl_destroy(CTX, other));
	EXPECT_EQ(0, ioctl_destroy(CTX, v));
}

/* A context closed with vdevices, tombstones and queues lets go of all. */
TEST_F(viommu, close_with_everything)
{
	uint32_t v = new_viommu(self, 0);
	uint32_t stdev2 = 0, idev2 = new_device(self, &stdev2);
	struct iommu_hwpt_selftest nd = { .iotlb = 1 };

	ASSERT_EQ(0, vdevice_alloc(CTX, v, idev2, 1, NULL));
	ASSERT_EQ(0, vdevice_alloc(CTX, v, self->idev, 2, NULL));
	EXPECT_EQ(0, ioctl_destroy(CTX, stdev2));
	ASSERT_EQ(0, hwpt_alloc(CTX, self->idev, v, 0, &nd, sizeof(nd), NULL));
	ASSERT_EQ(0, queue_alloc(CTX, v, 0, IOVA, PG, NULL));
	ASSERT_EQ(0, queue_alloc(CTX, v, 1, IOVA + PG, 2 * PG, NULL));
	EXPECT_EQ(0, test_check_refs(CTX, self->buf, 3 * PG, 1));
	/* The teardown closes the context and checks every page is free. */
}

/* ==== IOMMU_HWPT_INVALIDATE on a vIOMMU ==== */

FIXTURE(vinv)
{
	struct uiommufd_ctx *ctx;
	uint32_t ioas, parent, viommu;
	uint32_t stdev[2], idev[2], vdev[2];
};

FIXTURE_SETUP(vinv)
{
	struct iommu_viommu_selftest data = { 0 };

	self->ctx = ctx_open_as(UIOMMUFD_KERNEL_7_2, false, 0);
	ASSERT_NONNULL(self->ctx);
	ASSERT_EQ(0, ioas_alloc(self->ctx, &self->ioas));
	for (int i = 0; i != 2; i++)
		ASSERT_EQ(0, test_mock_domain(self->ctx, self->ioas,
					      &self->stdev[i], NULL,
					      &self->idev[i]));
	ASSERT_EQ(0, hwpt_alloc(self->ctx, self->idev[0], self->ioas,
				IOMMU_HWPT_ALLOC_NEST_PARENT, NULL, 0,
				&self->parent));
	ASSERT_EQ(0, viommu_alloc(self->ctx, self->idev[0], self->parent,
				  &data, &self->viommu));
	ASSERT_EQ(0, vdevice_alloc(self->ctx, self->viommu, self->idev[0],
				   0x10, &self->vdev[0]));
	ASSERT_EQ(0, vdevice_alloc(self->ctx, self->viommu, self->idev[1],
				   0x20, &self->vdev[1]));
}

FIXTURE_TEARDOWN(vinv)
{
	uiommufd_ctx_close(self->ctx);
}

/* One entry, then ALL (cache_id ignored), each on its vdevice only. */
TEST_F(vinv, entries_clear_the_device_caches)
{
	struct vinv e[2] = { { 0, 0x10, 1 }, { ALL, 0x20, 3 } };
	uint32_t num = 1;

	cache_expect(CTX, self->idev[0], CACHE_DEF, CACHE_DEF, CACHE_DEF,
		     CACHE_DEF);
	ASSERT_EQ(0, vinvalidate(CTX, self->viommu, e, sizeof(e[0]), &num));
	EXPECT_EQ(1u, num);
	cache_expect(CTX, self->idev[0], CACHE_DEF, 0, CACHE_DEF, CACHE_DEF);
	cache_expect(CTX, self->idev[1], CACHE_DEF, CACHE_DEF, CACHE_DEF,
		     CACHE_DEF);
	num = 1;
	ASSERT_EQ(0, vinvalidate(CTX, self->viommu, &e[1], sizeof(e[0]),
				 &num));
	EXPECT_EQ(1u, num);
	cache_expect(CTX, self->idev[1], 0, 0, 0, 0);
	cache_expect(CTX, self->idev[0], CACHE_DEF, 0, CACHE_DEF, CACHE_DEF);
	e[1].vdev_id = 0x10;
	num = 2;
	ASSERT_EQ(0, vinvalidate(CTX, self->viommu, e, sizeof(e[0]), &num));
	EXPECT_EQ(2u, num);
	cache_expect(CTX, self->idev[0], 0, 0, 0, 0);
}

/* A bad entry stops the array there: entry_num says how far it got. */
TEST_F(vinv, entry_failures_report_entries_done)
{
	struct vinv e[4] = {
		{ 0, 0x10, 0 }, { 0, 0x20, 2 }, { 0, 0x10, 3 }, { 0, 0x20, 1 },
	};
	uint32_t num;

	e[2].flags = 2;
	num = 4;
	EXPECT_FAILS_WHY(EOPNOTSUPP, vinvalidate(CTX, self->viommu, e,
						 sizeof(e[0]), &num));
	EXPECT_EQ(2u, num);
	cache_expect(CTX, self->idev[0], 0, CACHE_DEF, CACHE_DEF, CACHE_DEF);
	cache_expect(CTX, self->idev[1], CACHE_DEF, CACHE_DEF, 0, CACHE_DEF);

	e[2].flags = 0;
	e[2].cache_id = MOCK_DEV_CACHE_ID_MAX + 1;
	num = 4;
	EXPECT_FAILS_WHY(EINVAL, vinvalidate(CTX, self->viommu, e,
					     sizeof(e[0]), &num));
	EXPECT_EQ(2u, num);
	/* ALL does not excuse a cache_id out of range, as the kernel. */
	e[2].flags = ALL;
	num = 4;
	EXPECT_FAILS_WHY(EINVAL, vinvalidate(CTX, self->viommu, e,
					     sizeof(e[0]), &num));
	EXPECT_EQ(2u, num);
	e[2].flags = 0;
	e[2].cache_id = 3;
	e[2].vdev_id = 0x30;
	num = 4;
	EXPECT_FAILS_WHY(EINVAL, vinvalidate(CTX, self->viommu, e,
					     sizeof(e[0]), &num));
	EXPECT_EQ(2u, num);
	cache_expect(CTX, self->idev[0], 0, CACHE_DEF, CACHE_DEF, CACHE_DEF);
	e[2].vdev_id = 0x10;
	num = 4;
	ASSERT_EQ(0, vinvalidate(CTX, self->viommu, e, sizeof(e[0]), &num));
	EXPECT_EQ(4u, num);
	cache_expect(CTX, self->idev[0], 0, CACHE_DEF, CACHE_DEF, 0);
	cache_expect(CTX, self->idev[1], CACHE_DEF, 0, 0, CACHE_DEF);
}

/*
 * The whole array is read before any entry acts: a bad pointer or a
 * nonzero tail anywhere is none done, nothing cleared.
 */
TEST_F(vinv, array_read_whole_first)
{
	uint8_t *two = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct vinv *e;
	uint8_t wide[2][16];
	uint32_t num;

	ASSERT_NE(MAP_FAILED, two);
	ASSERT_EQ(0, mprotect(two + PG, PG, PROT_NONE));
	e = (struct vinv *)(two + PG - 2 * sizeof(*e));
	e[0] = (struct vinv){ ALL, 0x10, 0 };
	e[1] = (struct vinv){ ALL, 0x20, 0 };
	num = 3;
	EXPECT_FAILS_WHY(EFAULT, vinvalidate(CTX, self->viommu, e,
					     sizeof(*e), &num));
	EXPECT_EQ(0u, num);
	cache_expect(CTX, self->idev[0], CACHE_DEF, CACHE_DEF, CACHE_DEF,
		     CACHE_DEF);
	munmap(two, 2 * PG);

	/* Longer entries: zero past ours, or E2BIG for the whole call. */
	memset(wide, 0, sizeof(wide));
	memcpy(wide[0], &(struct vinv){ 0, 0x10, 2 }, sizeof(struct vinv));
	memcpy(wide[1], &(struct vinv){ 0, 0x20, 2 }, sizeof(struct vinv));
	wide[1][15] = 1;
	num = 2;
	EXPECT_FAILS_WHY(E2BIG, vinvalidate(CTX, self->viommu, wide, 16,
					    &num));
	EXPECT_EQ(0u, num);
	cache_expect(CTX, self->idev[0], CACHE_DEF, CACHE_DEF, CACHE_DEF,
		     CACHE_DEF);
	wide[1][15] = 0;
	num = 2;
	ASSERT_EQ(0, vinvalidate(CTX, self->viommu, wide, 16, &num));
	EXPECT_EQ(2u, num);
	cache_expect(CTX, self->idev[1], CACHE_DEF, CACHE_DEF, 0, CACHE_DEF);
	/* Shorter entries read as zero past their end: cache_id 0. */
	memcpy(wide[0], &(struct vinv){ 0, 0x20, 3 }, sizeof(struct vinv));
	num = 1;
	ASSERT_EQ(0, vinvalidate(CTX, self->viommu, wide, 8, &num));
	EXPECT_EQ(1u, num);
	cache_expect(CTX, self->idev[1], 0, CACHE_DEF, 0, CACHE_DEF);
}

/* The data type; no entries checks only that; the object must fit. */
TEST_F(vinv, data_type_and_objects)
{
	struct vinv e = { ALL, 0x10, 0 };
	struct iommu_hwpt_selftest nd = { .iotlb = 1 };
	uint32_t num = 1, nested = 0;

	EXPECT_FAILS_WHY(EINVAL, hwpt_invalidate(
					 CTX, self->viommu,
					 IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
					 &e, sizeof(e), &num));
	EXPECT_EQ(0u, num);
	num = 1;
	EXPECT_FAILS_WHY(EINVAL, hwpt_invalidate(
					 CTX, self->viommu,
					 IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
					 &e, sizeof(e), &num));
	EXPECT_EQ(0u, num);
	num = 0;
	EXPECT_EQ(0, vinvalidate(CTX, self->viommu, NULL, 0, &num));
	EXPECT_FAILS_WHY(EINVAL, hwpt_invalidate(
					 CTX, self->viommu,
					 IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
					 NULL, 0, &num));
	num = 1;
	EXPECT_FAILS_WHY(EINVAL, vinvalidate(CTX, self->ioas, &e, sizeof(e),
					     &num));
	num = 1;
	EXPECT_FAILS_WHY(EINVAL, vinvalidate(CTX, self->parent, &e, sizeof(e),
					     &num));
	num = 1;
	EXPECT_FAILS_WHY(EINVAL, vinvalidate(CTX, self->vdev[0], &e, sizeof(e),
					     &num));
	num = 1;
	EXPECT_FAILS_WHY(ENOENT, vinvalidate(CTX, 999, &e, sizeof(e), &num));
	EXPECT_EQ(0u, num);
	/*
	 * A nested one on the vIOMMU reads the same bytes (the two selftest
	 * types share a value) as its own entries: flags ALL, iotlb_id 0
	 * (in range; ignored). Its IOTLB is cleared, no device cache.
	 */
	ASSERT_EQ(0, hwpt_alloc(CTX, self->idev[0], self->viommu, 0, &nd,
				sizeof(nd), &nested));
	e.vdev_id = 0;
	num = 1;
	EXPECT_EQ(0, vinvalidate(CTX, nested, &e, sizeof(e), &num));
	EXPECT_EQ(1u, num);
	EXPECT_EQ(0, test_check_iotlb(CTX, nested, 2, 0));
	cache_expect(CTX, self->idev[0], CACHE_DEF, CACHE_DEF, CACHE_DEF,
		     CACHE_DEF);
}

/* ==== IOMMU_HW_QUEUE_ALLOC ==== */

/*
 * Index 0 first, each on the one below (EIO without it, EEXIST when
 * taken, EINVAL past the last); the one below cannot go first (EBUSY).
 * Each queue pins its pages, locked in the IOAS: unmapping them is
 * EBUSY until it goes. (The parent's domain already pins every mapped
 * page, and a page is pinned once however many hold it: MD_CHECK_REFS
 * reads 1 throughout, never 2.)
 */
TEST_F(viommu, hw_queue_order_and_pinning)
{
	uint32_t v = new_viommu(self, 0), q0 = 0, q1 = 0, next;
	uint64_t unmapped = 0;

	next = hwt_next_id(CTX);
	EXPECT_FAILS_WHY(EIO, queue_alloc(CTX, v, 1, IOVA, PG, NULL));
	EXPECT_FAILS_WHY(EINVAL, queue_alloc(CTX, v, IOMMU_TEST_HW_QUEUE_MAX,
					     IOVA, PG, NULL));
	EXPECT_EQ(next, hwt_next_id(CTX));
	EXPECT_EQ(0, test_check_refs(CTX, self->buf, BUF_LEN, 1));

	ASSERT_EQ(0, queue_alloc(CTX, v, 0, IOVA, PG, &q0));
	EXPECT_EQ(0, test_check_refs(CTX, self->buf, BUF_LEN, 1));
	next = hwt_next_id(CTX);
	EXPECT_FAILS_WHY(EEXIST, queue_alloc(CTX, v, 0, IOVA + PG, PG, NULL));
	EXPECT_EQ(next, hwt_next_id(CTX));
	/* From inside a page: the pages it touches, pinned. */
	ASSERT_EQ(0, queue_alloc(CTX, v, 1, IOVA + 2 * PG + 0x10, PG, &q1));
	EXPECT_EQ(0, test_check_refs(CTX, self->buf, BUF_LEN, 1));

	EXPECT_FAILS_WHY(EBUSY, ioas_unmap(CTX, self->ioas, IOVA, BUF_LEN,
					   &unmapped));
	EXPECT_FAILS_WHY(EBUSY, ioas_unmap(CTX, self->ioas, 0, UINT64_MAX,
					   &unmapped));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, q0));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, v));
	EXPECT_EQ(0, ioctl_destroy(CTX, q1));
	/* q0 still locks the first page; q1's are free. */
	EXPECT_FAILS_WHY(EBUSY, ioas_unmap(CTX, self->ioas, IOVA, BUF_LEN,
					   &unmapped));
	EXPECT_EQ(0, ioctl_destroy(CTX, q0));
	EXPECT_EQ(0, ioctl_destroy(CTX, v));
	EXPECT_EQ(0, ioas_unmap(CTX, self->ioas, IOVA, BUF_LEN, &unmapped));
	EXPECT_EQ(BUF_LEN, unmapped);
	EXPECT_EQ(0, test_check_refs(CTX, self->buf, BUF_LEN, 0));
}

/* Flags, type, length, overflow; then the vIOMMU. */
TEST_F(viommu, hw_queue_arguments)
{
	struct iommu_hw_queue_alloc cmd, *ro;
	uint32_t v = new_viommu(self, 0), next = hwt_next_id(CTX);
	uint8_t raw[sizeof(cmd) + 8];

	queue_init(&cmd, 999, 0, IOVA, PG);
	cmd.flags = 1;
	EXPECT_FAILS_WHY(EOPNOTSUPP, queue_cmd(CTX, &cmd));
	queue_init(&cmd, 999, 0, IOVA, PG);
	cmd.type = IOMMU_HW_QUEUE_TYPE_DEFAULT;
	EXPECT_FAILS_WHY(EOPNOTSUPP, queue_cmd(CTX, &cmd));
	queue_init(&cmd, 999, 0, IOVA, 0);
	EXPECT_FAILS_WHY(EINVAL, queue_cmd(CTX, &cmd));
	queue_init(&cmd, 999, 0, UINT64_MAX - PG + 2, PG);
	EXPECT_FAILS_WHY(EOVERFLOW, queue_cmd(CTX, &cmd));
	queue_init(&cmd, 999, 0, IOVA, PG);
	EXPECT_FAILS_WHY(ENOENT, queue_cmd(CTX, &cmd));
	queue_init(&cmd, self->parent, 0, IOVA, PG);
	EXPECT_FAILS_WHY(ENOENT, queue_cmd(CTX, &cmd));
	queue_init(&cmd, v, 0, IOVA, PG);
	cmd.type = IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV;
	EXPECT_FAILS_WHY(EOPNOTSUPP, queue_cmd(CTX, &cmd));
	/* The last byte of the IOVA space: fine for the core, unmapped. */
	queue_init(&cmd, v, 0, UINT64_MAX - PG + 1, PG);
	EXPECT_FAILS_WHY(ENOENT, queue_cmd(CTX, &cmd));
	/* Whole pages of it pass the end of the space. */
	queue_init(&cmd, v, 0, 0, UINT64_MAX - 0x10);
	EXPECT_FAILS_WHY(ERANGE, queue_cmd(CTX, &cmd));
	queue_init(&cmd, v, 0, 0x10, UINT64_MAX - 0xf);
	EXPECT_FAILS_WHY(ERANGE, queue_cmd(CTX, &cmd));
	queue_init(&cmd, v, 0, IOVA + BUF_LEN - PG, 2 * PG);
	EXPECT_FAILS_WHY(ENOENT, queue_cmd(CTX, &cmd));

	queue_init(&cmd, v, 0, IOVA, PG);
	cmd.size = offsetof(struct iommu_hw_queue_alloc, length);
	EXPECT_FAILS_WHY(EINVAL, queue_cmd(CTX, &cmd));
	memset(raw, 0, sizeof(raw));
	cmd.size = sizeof(raw);
	memcpy(raw, &cmd, sizeof(cmd));
	raw[sizeof(raw) - 1] = 1;
	EXPECT_FAILS_WHY(E2BIG, queue_cmd(CTX, raw));
	EXPECT_FAILS_WHY(EFAULT, queue_cmd(CTX, BAD_PTR));
	cmd.size = sizeof(cmd);
	ro = ro_copy(&cmd, sizeof(cmd));
	ASSERT_NONNULL(ro);
	EXPECT_FAILS_WHY(EFAULT, queue_cmd(CTX, ro));
	munmap(ro, PG);
	EXPECT_EQ(next, hwt_next_id(CTX));
	/* Nothing locked: the mapping can go (and come back). */
	{
		uint64_t unmapped = 0, iova = IOVA;

		ASSERT_EQ(0, ioas_unmap(CTX, self->ioas, IOVA, BUF_LEN,
					&unmapped));
		ASSERT_EQ(0, ioas_map(CTX, self->ioas, self->buf, BUF_LEN,
				      &iova, MAP_FIXED_RW));
	}
	/* Nothing kept the index: 0 is free. */
	ASSERT_EQ(0, queue_cmd(CTX, &cmd));
	EXPECT_EQ(next, cmd.out_hw_queue_id);
}

/*
 * The memory must be readable in the IOAS and one physically contiguous
 * run (EFAULT for pages that are not).
 */
TEST_F(viommu, hw_queue_memory)
{
	uint8_t *a = test_buffer(PG), *b = test_buffer(3 * PG);
	uint64_t iova_w = IOVA + 0x400000, iova_a = IOVA + 0x800000;
	uint64_t iova_b = iova_a + PG;
	uint32_t v = new_viommu(self, 0), next;

	ASSERT_NONNULL(a);
	ASSERT_NONNULL(b);
	ASSERT_EQ(0, ioas_map(CTX, self->ioas, b, PG, &iova_w,
			      IOMMU_IOAS_MAP_WRITEABLE |
				      IOMMU_IOAS_MAP_FIXED_IOVA));
	/* Two pages adjacent in IOVA whose memory is not. */
	ASSERT_EQ(0, ioas_map(CTX, self->ioas, a, PG, &iova_a, MAP_FIXED_RW));
	ASSERT_EQ(0, ioas_map(CTX, self->ioas, b + 2 * PG, PG, &iova_b,
			      MAP_FIXED_RW));
	next = hwt_next_id(CTX);
	EXPECT_FAILS_WHY(EPERM, queue_alloc(CTX, v, 0, iova_w, PG, NULL));
	EXPECT_FAILS_WHY(EFAULT, queue_alloc(CTX, v, 0, iova_a, 2 * PG, NULL));
	EXPECT_EQ(next, hwt_next_id(CTX));
	/* Nothing left locked. */
	EXPECT_EQ(0, ioas_unmap(CTX, self->ioas, iova_w, PG, NULL));
	/* Each page alone is a run. */
	EXPECT_EQ(0, queue_alloc(CTX, v, 0, iova_b, PG, NULL));
	EXPECT_EQ(0, test_check_refs(CTX, b + 2 * PG, PG, 1));
	EXPECT_EQ(0, test_check_refs(CTX, b + PG, PG, 0));
	EXPECT_EQ(0, ioas_unmap(CTX, self->ioas, iova_a, PG, NULL));
	EXPECT_FAILS_WHY(EBUSY, ioas_unmap(CTX, self->ioas, iova_b, PG, NULL));
	uiommufd_ctx_close(CTX);
	CTX = ctx_open_as(UIOMMUFD_KERNEL_7_2, false, 0);
	EXPECT_EQ(0, test_check_refs(CTX, b, 3 * PG, 0));
	munmap(a, PG);
	munmap(b, 3 * PG);
}


/* ==== races ==== */

struct race {
	struct uiommufd_ctx *ctx;
	uint32_t id;
	int rc, err;
	pthread_barrier_t *go;
};

static void *race_destroy(void *arg)
{
	struct race *r = arg;

	pthread_barrier_wait(r->go);
	r->rc = ioctl_destroy(r->ctx, r->id);
	r->err = r->rc ? errno : 0;
	return NULL;
}

static void *race_invalidate(void *arg)
{
	struct race *r = arg;
	struct vinv e = { ALL, 0x42, 0 };
	uint32_t num;

	pthread_barrier_wait(r->go);
	for (int i = 0; i != 200; i++) {
		num = 1;
		/* The vdevice may be there or not: never anything else. */
		if (vinvalidate(r->ctx, r->id, &e, sizeof(e), &num) &&
		    errno != EINVAL)
			r->err = errno;
	}
	return NULL;
}

/*
 * A device going while its vdevice is destroyed by ID and invalidated:
 * the device always goes, the vdevice's destroy wins (0) or finds it
 * gone (ENOENT), and the vIOMMU is free after every round.
 */
TEST_F(viommu, race_device_and_vdevice_destroy)
{
	uint32_t v = new_viommu(self, 0);
	pthread_barrier_t go;

	ASSERT_EQ(0, pthread_barrier_init(&go, NULL, 3));
	for (int round = 0; round != 50; round++) {
		struct race dev = { .ctx = CTX, .go = &go };
		struct race vd = { .ctx = CTX, .go = &go };
		struct race inv = { .ctx = CTX, .go = &go, .id = v };
		pthread_t t[3];
		uint32_t idev;

		idev = new_device(self, &dev.id);
		ASSERT_EQ(0, vdevice_alloc(CTX, v, idev, 0x42, &vd.id));
		ASSERT_EQ(0, pthread_create(&t[0], NULL, race_destroy, &dev));
		ASSERT_EQ(0, pthread_create(&t[1], NULL, race_destroy, &vd));
		ASSERT_EQ(0, pthread_create(&t[2], NULL, race_invalidate,
					    &inv));
		for (int i = 0; i != 3; i++)
			pthread_join(t[i], NULL);
		EXPECT_EQ(0, dev.rc);
		EXPECT_TRUE(vd.rc == 0 || vd.err == ENOENT);
		EXPECT_EQ(0, inv.err);
		EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(CTX, vd.id));
	}
	pthread_barrier_destroy(&go);
	EXPECT_EQ(0, ioctl_destroy(CTX, v));
}
