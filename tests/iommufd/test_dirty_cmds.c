// SPDX-License-Identifier: MIT
/*
 * Dirty tracking through uiommufd_ioctl(), as a VMM drives /dev/iommu:
 * IOMMU_HWPT_SET_DIRTY_TRACKING, IOMMU_HWPT_GET_DIRTY_BITMAP and the test
 * module's DIRTY op, which plays the device writing.
 *
 * The kernel is the reference for every errno (hw_pagetable.c:
 * iommufd_hwpt_set_dirty_tracking, iommufd_hwpt_get_dirty_bitmap;
 * io_pagetable.c: iommufd_check_iova_range; selftest.c:
 * iommufd_test_dirty), with three differences, each tested: a bitmap the
 * kernel cannot pin, and a range with IOVA no area maps, are EFAULT and
 * EINVAL (the kernel reports success having done part or nothing), both
 * found before anything is cleared; iova 0 with length 0 is EINVAL (the
 * kernel reads all of [0, U64_MAX]); the DIRTY op refuses a range that
 * wraps (EOVERFLOW) where the kernel marks low IOVA.
 *
 * Every failure must leave a reason, the domain's dirty bits and the
 * caller's bitmap as they were; a fail-nth sweep of each command checks
 * exactly that at every failure point.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "base/overflow.h"
#include "domains/mock_domain.h"
#include "harness/rng.h"
#include "iommufd/iommufd_private.h"
#include "iommufd/iommufd_utils.h"

#define IOP MOCK_IO_PAGE_SIZE
#define HUGE MOCK_HUGE_PAGE_SIZE
#define PG TEST_PAGE_SIZE
/* Where the tests map: 1 MiB aligned, inside every aperture. */
#define IOVA (MOCK_APERTURE_START + (4ULL << 20))
#define NO_CLEAR IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR

/* The call fails with @err and the library says why. */
#define ASSERT_FAILS(err, call)                                            \
	do {                                                               \
		errno = 0;                                                 \
		ASSERT_EQ(-1, (call));                                     \
		if (errno != (err))                                        \
			TH_LOG("%s: %m (%s)", #call,                       \
			       uiommufd_last_reason() ?: "no reason");     \
		ASSERT_EQ((err), errno);                                   \
		ASSERT_NONNULL(uiommufd_last_reason());                    \
	} while (0)

/* ---- the commands ---- */

static int set_tracking(struct uiommufd_ctx *ctx, uint32_t hwpt, bool on)
{
	struct iommu_hwpt_set_dirty_tracking cmd = {
		.size = sizeof(cmd),
		.flags = on ? IOMMU_HWPT_DIRTY_TRACKING_ENABLE : 0,
		.hwpt_id = hwpt,
	};

	return uiommufd_ioctl(ctx, IOMMU_HWPT_SET_DIRTY_TRACKING, &cmd);
}

static int get_bitmap(struct uiommufd_ctx *ctx, uint32_t hwpt, uint64_t iova,
		      uint64_t length, uint64_t page_size, uint32_t flags,
		      const void *data)
{
	struct iommu_hwpt_get_dirty_bitmap cmd = {
		.size = sizeof(cmd),
		.hwpt_id = hwpt,
		.flags = flags,
		.iova = iova,
		.length = length,
		.page_size = page_size,
		.data = (uintptr_t)data,
	};

	return uiommufd_ioctl(ctx, IOMMU_HWPT_GET_DIRTY_BITMAP, &cmd);
}

/* Test op DIRTY: mark what @bits says; *nr gets out_nr_dirty. */
static int mark(struct uiommufd_ctx *ctx, uint32_t hwpt, uint64_t iova,
		uint64_t length, uint64_t page_size, const void *bits,
		uint64_t *nr)
{
	struct iommu_test_cmd cmd;
	int rc;

	test_cmd_init(&cmd, IOMMU_TEST_OP_DIRTY, hwpt);
	cmd.dirty.iova = iova;
	cmd.dirty.length = length;
	cmd.dirty.page_size = page_size;
	cmd.dirty.uptr = (uintptr_t)bits;
	cmd.dirty.out_nr_dirty = 0xdead;
	rc = test_cmd(ctx, &cmd);
	if (nr)
		*nr = cmd.dirty.out_nr_dirty;
	return rc;
}

static int dirty_hwpt_alloc(struct uiommufd_ctx *ctx, uint32_t idev,
			    uint32_t ioas, uint32_t flags, uint32_t type,
			    uint32_t *hwpt)
{
	struct iommu_hwpt_selftest data = { .pagetable_type = type };
	struct iommu_hwpt_alloc cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.dev_id = idev,
		.pt_id = ioas,
		.data_type = IOMMU_HWPT_DATA_SELFTEST,
		.data_len = sizeof(data),
		.data_uptr = (uintptr_t)&data,
	};
	int rc = uiommufd_ioctl(ctx, IOMMU_HWPT_ALLOC, &cmd);

	if (!rc)
		*hwpt = cmd.out_hwpt_id;
	return rc;
}

/* ---- a world: an IOAS with memory mapped and a dirty HW pagetable ---- */

struct dworld {
	struct uiommufd_ctx *ctx;
	uint32_t ioas, stdev, auto_hwpt, idev;
	uint32_t hwpt;		/* dirty tracking, a device attached */
	uint32_t stdev2;
	void *map;
	size_t map_len;
	uint8_t *buf;		/* 2 MiB aligned */
	uint64_t len;		/* mapped at IOVA */
};

static void world_build(struct dworld *w, uint64_t len, uint32_t type)
{
	memset(w, 0, sizeof(*w));
	w->len = len;
	w->ctx = uiommufd_ctx_open(0);
	ASSERT_NONNULL(w->ctx);
	w->map_len = len + (2UL << 20);
	w->map = mmap(NULL, w->map_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, w->map);
	w->buf = (uint8_t *)(((uintptr_t)w->map + (2UL << 20) - 1) &
			     ~(uintptr_t)((2UL << 20) - 1));
	ASSERT_EQ(0, ioas_alloc(w->ctx, &w->ioas));
	ASSERT_EQ(0, test_mock_domain(w->ctx, w->ioas, &w->stdev,
				      &w->auto_hwpt, &w->idev));
	ASSERT_EQ(0, dirty_hwpt_alloc(w->ctx, w->idev, w->ioas,
				      IOMMU_HWPT_ALLOC_DIRTY_TRACKING, type,
				      &w->hwpt));
	/* A device on it, as a VMM would have. */
	ASSERT_EQ(0, test_mock_domain(w->ctx, w->hwpt, &w->stdev2, NULL,
				      NULL));
	ASSERT_EQ(0, ioas_map(w->ctx, w->ioas, w->buf, len,
			      &(uint64_t){ IOVA }, MAP_FIXED_RW));
}

static void world_free(struct dworld *w)
{
	if (w->ctx)
		uiommufd_ctx_close(w->ctx);
	if (w->map)
		munmap(w->map, w->map_len);
	w->ctx = NULL;
	w->map = NULL;
}

/*
 * The domain's dirty bits over [IOVA, + len), one per IO page, read
 * through the internals: what a failed command must leave alone.
 */
static uint64_t world_peek(struct dworld *w, uint32_t hwpt, uint64_t *bits)
{
	struct iommufd_hwpt_paging *p = iommufd_get_hwpt_paging(w->ctx, hwpt);
	uint64_t n;

	ASSERT_FALSE(IS_ERR(p));
	n = mock_domain_dirty_peek(p->domain, IOVA, w->len / IOP, bits);
	iommufd_put_object(w->ctx, &p->common.obj);
	return n;
}

static bool world_tracking(struct dworld *w, uint32_t hwpt)
{
	struct iommufd_hwpt_paging *p = iommufd_get_hwpt_paging(w->ctx, hwpt);
	bool on;

	ASSERT_FALSE(IS_ERR(p));
	on = mock_domain_dirty_tracking(p->domain);
	iommufd_put_object(w->ctx, &p->common.obj);
	return on;
}

static uint64_t *bits_alloc(uint64_t nbits)
{
	uint64_t *b = calloc(nbits / 64 + 2, sizeof(uint64_t));

	ASSERT_NONNULL(b);
	return b;
}

static bool bit_at(const void *bits, uint64_t i)
{
	return ((const uint8_t *)bits)[i / 8] >> (i % 8) & 1;
}

/* ---- releases ---- */

TEST(linux_6_2_has_none_of_it)
{
	struct uiommufd_ctx *ctx = ctx_open_as(UIOMMUFD_KERNEL_6_2, false, 0);
	uint64_t bits = 1, nr;
	uint32_t ioas = 0;

	ASSERT_NONNULL(ctx);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_FAILS(ENOTTY, set_tracking(ctx, ioas, true));
	ASSERT_FAILS(ENOTTY, get_bitmap(ctx, ioas, IOVA, PG, PG, 0, &bits));
	/* The 56-byte command of 6.2 does not know op 13. */
	{
		struct iommu_test_cmd_v6_2 cmd = {
			.size = IOMMU_TEST_CMD_V6_2_SIZE,
			.op = IOMMU_TEST_OP_DIRTY,
			.id = ioas,
		};

		ASSERT_FAILS(EOPNOTSUPP,
			     uiommufd_ioctl(ctx, IOMMU_TEST_CMD, &cmd));
	}
	uiommufd_ctx_close(ctx);

	/* And 7.2 does, on the same kind of IOAS: ENOENT for the ID. */
	ctx = ctx_open_as(UIOMMUFD_KERNEL_7_2, false, 0);
	ASSERT_NONNULL(ctx);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_FAILS(ENOENT, set_tracking(ctx, ioas, true));
	ASSERT_FAILS(ENOENT, get_bitmap(ctx, ioas, IOVA, PG, PG, 0, &bits));
	ASSERT_FAILS(ENOENT, mark(ctx, ioas, IOVA, PG, PG, &bits, &nr));
	uiommufd_ctx_close(ctx);
}

/* ---- the fixture ---- */

FIXTURE(dirty)
{
	struct dworld w;
	uint64_t small;		/* the smallest IO page of the hwpt */
};

FIXTURE_VARIANT(dirty)
{
	uint64_t len;
	uint32_t type;
};

FIXTURE_VARIANT_ADD(dirty, mock_128k)
{
	.len = 128 << 10, .type = MOCK_IOMMUPT_DEFAULT,
};

FIXTURE_VARIANT_ADD(dirty, mock_2m)
{
	.len = 2 << 20, .type = MOCK_IOMMUPT_DEFAULT,
};

FIXTURE_VARIANT_ADD(dirty, mock_16m)
{
	.len = 16 << 20, .type = MOCK_IOMMUPT_DEFAULT,
};

FIXTURE_VARIANT_ADD(dirty, huge_4m)
{
	.len = 4 << 20, .type = MOCK_IOMMUPT_HUGE,
};

FIXTURE_SETUP(dirty)
{
	world_build(&self->w, variant->len, variant->type);
	self->small = variant->type == MOCK_IOMMUPT_HUGE ? PG : IOP;
}

FIXTURE_TEARDOWN(dirty)
{
	world_free(&self->w);
}

#define CTX (self->w.ctx)
#define HWPT (self->w.hwpt)
#define LEN (self->w.len)

/*
 * The kernel selftest's round trip: tracking on, every other 4 KiB of
 * the range marked through the test module, read back at 4 KiB (with and
 * without clearing), then clean.
 */
TEST_F(dirty, round_trip)
{
	uint64_t nbits = LEN / PG, *in = bits_alloc(nbits);
	uint64_t *out = bits_alloc(LEN / IOP), nr;	/* world_peek()'s too */

	ASSERT_EQ(0, set_tracking(CTX, HWPT, true));
	ASSERT_TRUE(world_tracking(&self->w, HWPT));
	for (uint64_t i = 0; i < nbits; i += 2)
		in[i / 64] |= 1ULL << (i % 64);
	ASSERT_EQ(0, mark(CTX, HWPT, IOVA, LEN, PG, in, &nr));
	ASSERT_EQ((nbits + 1) / 2, nr);

	for (int pass = 0; pass != 3; pass++) {
		memset(out, 0, (nbits / 64 + 2) * 8);
		ASSERT_EQ(0, get_bitmap(CTX, HWPT, IOVA, LEN, PG,
					pass ? 0 : NO_CLEAR, out));
		for (uint64_t i = 0; i != nbits; i++) {
			bool want = pass < 2 && (variant->type ==
							 MOCK_IOMMUPT_HUGE ||
						 i % 2 == 0);

			if (want != bit_at(out, i))
				TH_LOG("pass %d bit %llu", pass,
				       (unsigned long long)i);
			ASSERT_EQ(want, bit_at(out, i));
		}
		/* Nothing past the bitmap's last byte. */
		ASSERT_EQ(0, ((uint8_t *)out)[nbits / 8 + !!(nbits % 8)]);
	}
	ASSERT_EQ(0, world_peek(&self->w, HWPT, out));
	free(in);
	free(out);
}

/*
 * At every bitmap page size from the smallest IO page to 2 MiB: bit i is
 * set exactly when an IO page in its span is dirty, as the domain itself
 * says (whole entries: the domain tests prove what an entry is).
 */
TEST_F(dirty, every_page_size)
{
	uint64_t *out = bits_alloc(LEN / IOP), *peek = bits_alloc(LEN / IOP);
	uint64_t nr, one = 1;

	ASSERT_EQ(0, set_tracking(CTX, HWPT, true));
	for (uint64_t ps = self->small; ps <= (2ULL << 20); ps *= 2) {
		uint64_t len = align_down(LEN, ps), nbits = len / ps;

		if (!len)
			break;
		/* The range's last smallest page and one in its middle. */
		ASSERT_EQ(0, mark(CTX, HWPT, IOVA + len - self->small,
				  self->small, self->small, &one, &nr));
		ASSERT_EQ(1, nr);
		ASSERT_EQ(0, mark(CTX, HWPT, IOVA + len / 2, self->small,
				  self->small, &one, &nr));
		ASSERT_GE(world_peek(&self->w, HWPT, peek), 2);
		memset(out, 0, (LEN / IOP / 64 + 2) * 8);
		ASSERT_EQ(0, get_bitmap(CTX, HWPT, IOVA, len, ps, 0, out));
		for (uint64_t i = 0; i != nbits; i++) {
			bool want = false;

			for (uint64_t p = i * ps / IOP; p != (i + 1) * ps / IOP;
			     p++)
				want |= peek[p / 64] >> (p % 64) & 1;
			if (want != bit_at(out, i))
				TH_LOG("page size %#llx bit %llu",
				       (unsigned long long)ps,
				       (unsigned long long)i);
			ASSERT_EQ(want, bit_at(out, i));
		}
		ASSERT_TRUE(bit_at(out, nbits - 1));
		ASSERT_TRUE(bit_at(out, nbits / 2));
		ASSERT_EQ(0, world_peek(&self->w, HWPT, peek));
	}
	free(out);
	free(peek);
}

/* Bitmaps at every byte offset, with bits of their own already set. */
TEST_F(dirty, unaligned_bitmaps_are_only_ored)
{
	uint64_t nbits = LEN / self->small, nbytes = nbits / 8 + !!(nbits % 8);
	uint8_t *raw = malloc(nbytes + 64), *bm, want;
	bool huge = variant->type == MOCK_IOMMUPT_HUGE;
	uint64_t one = 1, nr;

	ASSERT_NONNULL(raw);
	ASSERT_EQ(0, set_tracking(CTX, HWPT, true));
	for (unsigned int off = 0; off != 8; off++) {
		bm = raw + 8 + off;
		/* Bit 1 of every byte clear, bit 0 set. */
		memset(raw, 0x55, nbytes + 64);
		ASSERT_EQ(0, mark(CTX, HWPT, IOVA + self->small, self->small,
				  self->small, &one, &nr));
		ASSERT_EQ(0, get_bitmap(CTX, HWPT, IOVA, LEN, self->small, 0,
					bm));
		/* Bit 1 came in (a whole 1 MiB entry's, if huge). */
		for (uint64_t i = 0; i != nbytes + 64; i++) {
			want = 0x55;
			if (raw + i == bm)
				want = 0x57;
			if (huge && raw + i >= bm &&
			    raw + i < bm + HUGE / self->small / 8)
				want = 0xff;
			if (want != raw[i])
				TH_LOG("offset %u byte %llu", off,
				       (unsigned long long)i);
			ASSERT_EQ(want, raw[i]);
		}
	}
	free(raw);
}

TEST_F(dirty, set_tracking_flags_reserved_and_ids)
{
	struct iommu_hwpt_set_dirty_tracking cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_HWPT_DIRTY_TRACKING_ENABLE,
		.hwpt_id = HWPT,
	};
	uint32_t plain;

	cmd.flags = 2;
	ASSERT_FAILS(EOPNOTSUPP,
		     uiommufd_ioctl(CTX, IOMMU_HWPT_SET_DIRTY_TRACKING, &cmd));
	cmd.flags = ~0u;
	ASSERT_FAILS(EOPNOTSUPP,
		     uiommufd_ioctl(CTX, IOMMU_HWPT_SET_DIRTY_TRACKING, &cmd));
	ASSERT_FALSE(world_tracking(&self->w, HWPT));
	/* The kernel does not look at __reserved here; neither do we. */
	cmd.flags = IOMMU_HWPT_DIRTY_TRACKING_ENABLE;
	cmd.__reserved = 0xffffffff;
	ASSERT_EQ(0, uiommufd_ioctl(CTX, IOMMU_HWPT_SET_DIRTY_TRACKING, &cmd));
	ASSERT_TRUE(world_tracking(&self->w, HWPT));
	/* Same state twice: fine either way. */
	ASSERT_EQ(0, set_tracking(CTX, HWPT, true));
	ASSERT_EQ(0, set_tracking(CTX, HWPT, false));
	ASSERT_EQ(0, set_tracking(CTX, HWPT, false));
	ASSERT_FALSE(world_tracking(&self->w, HWPT));

	/* IDs that are no paging HW pagetable. */
	ASSERT_FAILS(ENOENT, set_tracking(CTX, 0, true));
	ASSERT_FAILS(ENOENT, set_tracking(CTX, self->w.ioas, true));
	ASSERT_FAILS(ENOENT, set_tracking(CTX, self->w.idev, true));
	ASSERT_FAILS(ENOENT, set_tracking(CTX, self->w.stdev, true));
	ASSERT_FAILS(ENOENT, set_tracking(CTX, 9999, true));
	/* A paging one made without DIRTY_TRACKING, auto or allocated. */
	ASSERT_FAILS(EOPNOTSUPP, set_tracking(CTX, self->w.auto_hwpt, true));
	ASSERT_EQ(0, dirty_hwpt_alloc(CTX, self->w.idev, self->w.ioas, 0,
				      MOCK_IOMMUPT_DEFAULT, &plain));
	ASSERT_FAILS(EOPNOTSUPP, set_tracking(CTX, plain, true));
	ASSERT_FAILS(EOPNOTSUPP, set_tracking(CTX, plain, false));
	ASSERT_EQ(0, ioctl_destroy(CTX, plain));
}

/* Enabling (again) starts from a clean snapshot; disabling keeps bits. */
TEST_F(dirty, enabling_clears_disabling_keeps)
{
	uint64_t *peek = bits_alloc(LEN / IOP), one = 1, nr;
	uint64_t per = self->small / IOP;

	if (variant->type == MOCK_IOMMUPT_HUGE)
		per = HUGE / IOP;
	ASSERT_EQ(0, set_tracking(CTX, HWPT, true));
	ASSERT_EQ(0, mark(CTX, HWPT, IOVA, self->small, self->small, &one,
			  &nr));
	ASSERT_EQ(per, world_peek(&self->w, HWPT, peek));
	ASSERT_EQ(0, set_tracking(CTX, HWPT, false));
	ASSERT_EQ(per, world_peek(&self->w, HWPT, peek));
	/* The test module's device does not write while tracking is off. */
	ASSERT_FAILS(EINVAL, mark(CTX, HWPT, IOVA, self->small, self->small,
				  &one, &nr));
	ASSERT_EQ(0, set_tracking(CTX, HWPT, true));
	ASSERT_EQ(0, world_peek(&self->w, HWPT, peek));
	ASSERT_EQ(0, mark(CTX, HWPT, IOVA, self->small, self->small, &one,
			  &nr));
	ASSERT_EQ(0, set_tracking(CTX, HWPT, true));
	ASSERT_EQ(0, world_peek(&self->w, HWPT, peek));
	free(peek);
}

TEST_F(dirty, get_flags_reserved_and_ids)
{
	struct iommu_hwpt_get_dirty_bitmap cmd = {
		.size = sizeof(cmd),
		.hwpt_id = HWPT,
		.iova = IOVA,
		.length = LEN,
		.page_size = self->small,
	};
	uint64_t *out = bits_alloc(LEN / IOP), one = 1, nr;
	uint32_t plain;

	cmd.data = (uintptr_t)out;
	ASSERT_EQ(0, set_tracking(CTX, HWPT, true));
	ASSERT_EQ(0, mark(CTX, HWPT, IOVA, self->small, self->small, &one,
			  &nr));
	cmd.flags = 2;
	ASSERT_FAILS(EOPNOTSUPP,
		     uiommufd_ioctl(CTX, IOMMU_HWPT_GET_DIRTY_BITMAP, &cmd));
	cmd.flags = NO_CLEAR | 0x80000000u;
	ASSERT_FAILS(EOPNOTSUPP,
		     uiommufd_ioctl(CTX, IOMMU_HWPT_GET_DIRTY_BITMAP, &cmd));
	cmd.flags = 0;
	cmd.__reserved = 1;
	ASSERT_FAILS(EOPNOTSUPP,
		     uiommufd_ioctl(CTX, IOMMU_HWPT_GET_DIRTY_BITMAP, &cmd));
	cmd.__reserved = 0;
	/* Flags and __reserved come before the ID. */
	cmd.hwpt_id = 0;
	cmd.__reserved = 1;
	ASSERT_FAILS(EOPNOTSUPP,
		     uiommufd_ioctl(CTX, IOMMU_HWPT_GET_DIRTY_BITMAP, &cmd));
	cmd.__reserved = 0;
	ASSERT_FAILS(ENOENT,
		     uiommufd_ioctl(CTX, IOMMU_HWPT_GET_DIRTY_BITMAP, &cmd));
	cmd.hwpt_id = self->w.ioas;
	ASSERT_FAILS(ENOENT,
		     uiommufd_ioctl(CTX, IOMMU_HWPT_GET_DIRTY_BITMAP, &cmd));
	cmd.hwpt_id = self->w.stdev2;
	ASSERT_FAILS(ENOENT,
		     uiommufd_ioctl(CTX, IOMMU_HWPT_GET_DIRTY_BITMAP, &cmd));

	/* No dirty ops: after the range checks, as the kernel orders it. */
	ASSERT_EQ(0, dirty_hwpt_alloc(CTX, self->w.idev, self->w.ioas, 0,
				      MOCK_IOMMUPT_DEFAULT, &plain));
	ASSERT_FAILS(EOPNOTSUPP, get_bitmap(CTX, plain, IOVA, LEN, PG, 0, out));
	ASSERT_FAILS(EOPNOTSUPP, get_bitmap(CTX, self->w.auto_hwpt, IOVA, LEN,
					    PG, 0, out));
	ASSERT_FAILS(EINVAL, get_bitmap(CTX, plain, IOVA, LEN, 0, 0, out));
	ASSERT_FAILS(EOVERFLOW, get_bitmap(CTX, plain, 2, U64_MAX, PG, 0,
					   out));
	ASSERT_EQ(0, ioctl_destroy(CTX, plain));

	/* None of it read or cleared anything. */
	ASSERT_EQ(0, out[0]);
	ASSERT_NE(0, world_peek(&self->w, HWPT, out));
	free(out);
}

TEST_F(dirty, get_range_checks)
{
	uint64_t *out = bits_alloc(max(LEN / IOP, 8192ULL));
	uint64_t *peek = bits_alloc(LEN / IOP);
	uint64_t align = self->small, one = 1, nr, before;

	ASSERT_EQ(0, set_tracking(CTX, HWPT, true));
	ASSERT_EQ(0, mark(CTX, HWPT, IOVA, align, align, &one, &nr));
	before = world_peek(&self->w, HWPT, peek);

	/* iova + length - 1 wraps: EOVERFLOW before everything else. */
	ASSERT_FAILS(EOVERFLOW, get_bitmap(CTX, HWPT, 2, U64_MAX, 0, 0, out));
	ASSERT_FAILS(EOVERFLOW, get_bitmap(CTX, HWPT, U64_MAX - align + 1,
					   2 * align, align, 0, out));
	/* Length 0 wraps too, except at iova 0 (the kernel reads it all). */
	ASSERT_FAILS(EOVERFLOW, get_bitmap(CTX, HWPT, IOVA, 0, align, 0, out));
	ASSERT_FAILS(EINVAL, get_bitmap(CTX, HWPT, 0, 0, align, 0, out));
	/* The IOAS's alignment at both ends. */
	ASSERT_FAILS(EINVAL, get_bitmap(CTX, HWPT, IOVA + 1, align, 1, 0,
					out));
	ASSERT_FAILS(EINVAL, get_bitmap(CTX, HWPT, IOVA + align / 2, align, 1,
					0, out));
	ASSERT_FAILS(EINVAL, get_bitmap(CTX, HWPT, IOVA, align + 1, 1, 0,
					out));
	/* Page size 0, and iova or end not aligned to the page size. */
	ASSERT_FAILS(EINVAL, get_bitmap(CTX, HWPT, IOVA, LEN, 0, 0, out));
	ASSERT_FAILS(EINVAL, get_bitmap(CTX, HWPT, IOVA + align, LEN - align,
					2 * align, 0, out));
	ASSERT_FAILS(EINVAL, get_bitmap(CTX, HWPT, IOVA, 3 * align,
					2 * align, 0, out));
	/* IOVA that nothing maps: before, after and across the area. */
	ASSERT_FAILS(EINVAL, get_bitmap(CTX, HWPT, IOVA - align, align, align,
					0, out));
	ASSERT_FAILS(EINVAL, get_bitmap(CTX, HWPT, IOVA + LEN, align, align, 0,
					out));
	ASSERT_FAILS(EINVAL, get_bitmap(CTX, HWPT, IOVA, LEN + align, align,
					0, out));
	ASSERT_FAILS(EINVAL, get_bitmap(CTX, HWPT, IOVA - align, LEN + align,
					align, 0, out));
	ASSERT_FAILS(EINVAL, get_bitmap(CTX, HWPT, 1ULL << 40, 1ULL << 20,
					align, 0, out));

	ASSERT_EQ(0, out[0]);
	ASSERT_EQ(before, world_peek(&self->w, HWPT, peek));
	/* A byte a bit (page size 1) is fine, and the range's end too. */
	ASSERT_EQ(0, get_bitmap(CTX, HWPT, IOVA, align, 1, NO_CLEAR, out));
	for (uint64_t i = 0; i != align / 64; i++)
		ASSERT_EQ(~0ULL, out[i]);
	ASSERT_EQ(0, out[align / 64]);
	out[0] = 0;
	ASSERT_EQ(0, get_bitmap(CTX, HWPT, IOVA + LEN - align, align, align,
				0, out));
	ASSERT_EQ(0, out[0]);
	free(out);
	free(peek);
}

/* An area boundary, and a hole left by an unmap. */
TEST_F(dirty, across_areas_and_holes)
{
	uint64_t half = LEN / 2, *out = bits_alloc(LEN / IOP), one = 1, nr;
	uint64_t second = IOVA + LEN;

	if (half < HUGE && variant->type == MOCK_IOMMUPT_HUGE)
		SKIP("buffer too small to split");
	/* The second half of the buffer again, right after the first. */
	ASSERT_EQ(0, ioas_map(CTX, self->w.ioas, self->w.buf + half, half,
			      &second, MAP_FIXED_RW));
	ASSERT_EQ(0, set_tracking(CTX, HWPT, true));
	ASSERT_EQ(0, mark(CTX, HWPT, IOVA + LEN - self->small, self->small,
			  self->small, &one, &nr));
	ASSERT_EQ(0, mark(CTX, HWPT, IOVA + LEN, self->small, self->small,
			  &one, &nr));
	ASSERT_EQ(0, get_bitmap(CTX, HWPT, IOVA + LEN - 2 * self->small,
				4 * self->small, self->small, 0, out));
	if (variant->type == MOCK_IOMMUPT_HUGE)
		ASSERT_EQ(0xf, out[0]);
	else
		ASSERT_EQ(0x6, out[0]);
	/* Unmapped: its IOVA is a hole and its dirty bits are gone. */
	ASSERT_EQ(0, mark(CTX, HWPT, IOVA + LEN, self->small, self->small,
			  &one, &nr));
	ASSERT_EQ(0, ioas_unmap(CTX, self->w.ioas, IOVA + LEN, half, NULL));
	ASSERT_FAILS(EINVAL, get_bitmap(CTX, HWPT, IOVA, LEN + half,
					self->small, 0, out));
	ASSERT_EQ(0, ioas_map(CTX, self->w.ioas, self->w.buf + half, half,
			      &second, MAP_FIXED_RW));
	out[0] = 0;
	ASSERT_EQ(0, get_bitmap(CTX, HWPT, IOVA + LEN, half, self->small, 0,
				out));
	ASSERT_EQ(0, out[0]);
	free(out);
}

TEST_F(dirty, bad_bitmaps_change_nothing)
{
	uint64_t nbits = LEN / self->small, nbytes = nbits / 8 + !!(nbits % 8);
	uint64_t *peek = bits_alloc(LEN / IOP), one = 1, nr, before;
	size_t span = align_down(nbytes + 2 * PG - 1, PG) + PG;
	uint8_t *ro, *edge, *gone;

	ASSERT_EQ(0, set_tracking(CTX, HWPT, true));
	ASSERT_EQ(0, mark(CTX, HWPT, IOVA + LEN - self->small, self->small,
			  self->small, &one, &nr));
	before = world_peek(&self->w, HWPT, peek);

	ASSERT_FAILS(EFAULT, get_bitmap(CTX, HWPT, IOVA, LEN, self->small, 0,
					NULL));
	ASSERT_FAILS(EFAULT, get_bitmap(CTX, HWPT, IOVA, LEN, self->small, 0,
					BAD_PTR));
	ASSERT_FAILS(EFAULT, get_bitmap(CTX, HWPT, IOVA, LEN, self->small, 0,
					(void *)(uintptr_t)(U64_MAX - 2)));
	/* Read-only. */
	ro = mmap(NULL, span, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	ASSERT_FAILS(EFAULT, get_bitmap(CTX, HWPT, IOVA, LEN, self->small, 0,
					ro));
	ASSERT_FAILS(EFAULT, get_bitmap(CTX, HWPT, IOVA, LEN, self->small,
					NO_CLEAR, ro + 3));
	/* Writable but for the last byte, which lies on a page not there. */
	edge = mmap(NULL, span, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, edge);
	ASSERT_EQ(0, munmap(edge + span - PG, PG));
	gone = edge + span - PG;
	memset(edge, 0x33, span - PG);
	ASSERT_FAILS(EFAULT, get_bitmap(CTX, HWPT, IOVA, LEN, self->small, 0,
					gone - nbytes + 1));
	/* The last byte before it is fine. */
	for (size_t i = 0; i != span - PG; i++)
		ASSERT_EQ(0x33, edge[i]);
	ASSERT_EQ(before, world_peek(&self->w, HWPT, peek));
	ASSERT_EQ(0, get_bitmap(CTX, HWPT, IOVA, LEN, self->small, 0,
				gone - nbytes));
	if (variant->type == MOCK_IOMMUPT_HUGE)
		ASSERT_EQ(0xff, *(gone - 1));
	else
		ASSERT_EQ(0x33 | 1 << ((nbits - 1) % 8), *(gone - 1));
	ASSERT_EQ(0, world_peek(&self->w, HWPT, peek));

	/* The test op's bitmap is read: unreadable is EFAULT, no marks. */
	ASSERT_FAILS(EFAULT, mark(CTX, HWPT, IOVA, LEN, self->small, BAD_PTR,
				  &nr));
	ASSERT_FAILS(EFAULT, mark(CTX, HWPT, IOVA, LEN, self->small,
				  gone - nbytes + 1, &nr));
	ASSERT_EQ(0, world_peek(&self->w, HWPT, peek));
	/* A read-only one is fine for that. */
	ASSERT_EQ(0, mark(CTX, HWPT, IOVA, LEN, self->small, ro, &nr));
	ASSERT_EQ(0, nr);
	munmap(ro, span);
	munmap(edge, span - PG);
	free(peek);
}

TEST_F(dirty, size_rules)
{
	struct {
		struct iommu_hwpt_get_dirty_bitmap cmd;
		uint64_t tail[2];
	} g;
	struct {
		struct iommu_hwpt_set_dirty_tracking cmd;
		uint64_t tail[2];
	} s;
	uint64_t out[4] = { 0 };

	memset(&s, 0, sizeof(s));
	s.cmd.flags = IOMMU_HWPT_DIRTY_TRACKING_ENABLE;
	s.cmd.hwpt_id = HWPT;
	for (uint32_t size = 0; size < sizeof(s.cmd); size += 4) {
		s.cmd.size = size;
		ASSERT_FAILS(EINVAL,
			     uiommufd_ioctl(CTX, IOMMU_HWPT_SET_DIRTY_TRACKING,
					    &s));
	}
	ASSERT_FALSE(world_tracking(&self->w, HWPT));
	s.cmd.size = sizeof(s);
	s.tail[1] = 1;
	ASSERT_FAILS(E2BIG,
		     uiommufd_ioctl(CTX, IOMMU_HWPT_SET_DIRTY_TRACKING, &s));
	ASSERT_FALSE(world_tracking(&self->w, HWPT));
	s.tail[1] = 0;
	ASSERT_EQ(0, uiommufd_ioctl(CTX, IOMMU_HWPT_SET_DIRTY_TRACKING, &s));
	ASSERT_TRUE(world_tracking(&self->w, HWPT));
	ASSERT_FAILS(EFAULT,
		     uiommufd_ioctl(CTX, IOMMU_HWPT_SET_DIRTY_TRACKING,
				    BAD_PTR));

	memset(&g, 0, sizeof(g));
	g.cmd.hwpt_id = HWPT;
	g.cmd.iova = IOVA;
	g.cmd.length = self->small;
	g.cmd.page_size = self->small;
	g.cmd.data = (uintptr_t)out;
	for (uint32_t size = 0; size < sizeof(g.cmd); size += 4) {
		g.cmd.size = size;
		ASSERT_FAILS(EINVAL,
			     uiommufd_ioctl(CTX, IOMMU_HWPT_GET_DIRTY_BITMAP,
					    &g));
	}
	g.cmd.size = sizeof(g.cmd) + 1;
	g.tail[0] = 0x1;
	ASSERT_FAILS(E2BIG,
		     uiommufd_ioctl(CTX, IOMMU_HWPT_GET_DIRTY_BITMAP, &g));
	g.cmd.size = sizeof(g);
	g.tail[0] = 0;
	ASSERT_EQ(0, uiommufd_ioctl(CTX, IOMMU_HWPT_GET_DIRTY_BITMAP, &g));
	/* Nothing is written back into the command. */
	ASSERT_EQ(sizeof(g), g.cmd.size);
	ASSERT_EQ(IOVA, g.cmd.iova);
	ASSERT_EQ(0, g.tail[0] | g.tail[1]);
}

TEST_F(dirty, test_op_dirty_rules)
{
	uint64_t bits[4] = { ~0ULL, ~0ULL, ~0ULL, ~0ULL }, nr;
	uint64_t *peek = bits_alloc(LEN / IOP), s = self->small;
	struct iommu_test_cmd cmd;

	/* The argument checks, before the ID. */
	ASSERT_FAILS(EINVAL, mark(CTX, 9999, IOVA, s, 0, bits, &nr));
	ASSERT_FAILS(EINVAL, mark(CTX, 9999, IOVA, 0, s, bits, &nr));
	ASSERT_FAILS(EINVAL, mark(CTX, 9999, IOVA + 1, s, s, bits, &nr));
	ASSERT_FAILS(EINVAL, mark(CTX, 9999, IOVA, s + 1, s, bits, &nr));
	ASSERT_FAILS(EINVAL, mark(CTX, 9999, IOVA, s, s, NULL, &nr));
	/* More than 16 MiB of bits. */
	ASSERT_FAILS(EOVERFLOW, mark(CTX, 9999, 0, (128ULL << 20) + 1, 1,
				     bits, &nr));
	ASSERT_FAILS(EOVERFLOW, mark(CTX, 9999, U64_MAX - 2 * s + 1, 4 * s,
				     s, bits, &nr));
	ASSERT_FAILS(ENOENT, mark(CTX, 9999, IOVA, s, s, bits, &nr));
	ASSERT_FAILS(ENOENT, mark(CTX, self->w.ioas, IOVA, s, s, bits, &nr));
	/* Tracking off. */
	ASSERT_FAILS(EINVAL, mark(CTX, HWPT, IOVA, s, s, bits, &nr));
	ASSERT_FAILS(EINVAL, mark(CTX, self->w.auto_hwpt, IOVA, s, s, bits,
				  &nr));
	ASSERT_EQ(0, set_tracking(CTX, HWPT, true));
	/* Exactly 128M bits is allowed; unmapped IOVA counts, marks nothing. */
	{
		uint64_t *big = calloc(1, 16 << 20);

		ASSERT_NONNULL(big);
		big[0] = 0x3;
		big[(2 << 20) - 1] = 1ULL << 63;
		ASSERT_EQ(0, mark(CTX, HWPT, 1ULL << 40, 128ULL << 20, 1, big,
				  &nr));
		ASSERT_EQ(3, nr);
		free(big);
	}
	ASSERT_EQ(0, world_peek(&self->w, HWPT, peek));
	/* 70 bits of which the last 6 are past the area: counted anyway. */
	bits[1] = 0x3f;
	ASSERT_EQ(0, mark(CTX, HWPT, IOVA + LEN - 64 * s, 70 * s, s, bits,
			  &nr));
	ASSERT_EQ(70, nr);
	ASSERT_NE(0, world_peek(&self->w, HWPT, peek));

	/* The reply is written back; the rest of the command is as sent. */
	test_cmd_init(&cmd, IOMMU_TEST_OP_DIRTY, HWPT);
	cmd.dirty.iova = IOVA;
	cmd.dirty.length = 8 * s;
	cmd.dirty.page_size = s;
	cmd.dirty.uptr = (uintptr_t)bits;
	cmd.dirty.flags = 0x77;
	bits[0] = 0x81;
	ASSERT_EQ(0, test_cmd(CTX, &cmd));
	ASSERT_EQ(2, cmd.dirty.out_nr_dirty);
	ASSERT_EQ(0x77, cmd.dirty.flags);
	ASSERT_EQ(IOVA, cmd.dirty.iova);
	free(peek);
}

/* A caller who cannot take the reply finds nothing marked. */
TEST_F(dirty, test_op_dirty_unwritable_reply_marks_nothing)
{
	uint64_t *peek = bits_alloc(LEN / IOP), bits = 0xff;
	struct iommu_test_cmd *cmd;
	uint8_t *page;

	ASSERT_EQ(0, set_tracking(CTX, HWPT, true));
	page = mmap(NULL, PG, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, page);
	cmd = (struct iommu_test_cmd *)page;
	test_cmd_init(cmd, IOMMU_TEST_OP_DIRTY, HWPT);
	cmd->size = sizeof(*cmd);
	cmd->dirty.iova = IOVA;
	cmd->dirty.length = 8 * self->small;
	cmd->dirty.page_size = self->small;
	cmd->dirty.uptr = (uintptr_t)&bits;
	ASSERT_EQ(0, mprotect(page, PG, PROT_READ));
	ASSERT_FAILS(EFAULT, uiommufd_ioctl(CTX, IOMMU_TEST_CMD, cmd));
	ASSERT_EQ(0, world_peek(&self->w, HWPT, peek));
	munmap(page, PG);
	free(peek);
}

/* Readers racing the test module's writes and unmaps of other IOVA. */
struct race {
	struct dworld *w;
	uint64_t small;
	int stop;
	uint64_t rounds;
};

static void *race_marker(void *arg)
{
	struct race *r = arg;
	uint64_t bits = ~0ULL, nr;

	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		if (mark(r->w->ctx, r->w->hwpt, IOVA, 64 * r->small, r->small,
			 &bits, &nr) || nr != 64)
			return (void *)1;
		__atomic_fetch_add(&r->rounds, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *race_mapper(void *arg)
{
	struct race *r = arg;
	uint64_t iova = IOVA + (64ULL << 20);

	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		if (ioas_map(r->w->ctx, r->w->ioas, r->w->buf, r->w->len,
			     &iova, MAP_FIXED_RW) ||
		    ioas_unmap(r->w->ctx, r->w->ioas, iova, r->w->len, NULL))
			return (void *)1;
	}
	return NULL;
}

TEST_F(dirty, reads_race_writes_and_unmaps)
{
	struct race r = { .w = &self->w, .small = self->small };
	uint64_t *out = bits_alloc(LEN / IOP), all = ~0ULL, nr, reads = 0;
	uint64_t want = test_iterations(2000);
	pthread_t marker, mapper;
	void *ret;

	ASSERT_EQ(0, set_tracking(CTX, HWPT, true));
	ASSERT_EQ(0, pthread_create(&marker, NULL, race_marker, &r));
	ASSERT_EQ(0, pthread_create(&mapper, NULL, race_mapper, &r));
	/* Counted, not timed: until both sides did their share. */
	while (reads < want ||
	       __atomic_load_n(&r.rounds, __ATOMIC_RELAXED) < want / 4) {
		memset(out, 0, 16);
		ASSERT_EQ(0, get_bitmap(CTX, HWPT, IOVA, 64 * self->small,
					self->small, reads % 3 ? 0 : NO_CLEAR,
					out));
		/* A whole entry or nothing, never a torn one. */
		if (variant->type == MOCK_IOMMUPT_HUGE)
			ASSERT_TRUE(out[0] == 0 || out[0] == ~0ULL);
		reads++;
		test_progress();
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELAXED);
	ASSERT_EQ(0, pthread_join(marker, &ret));
	ASSERT_NULL(ret);
	ASSERT_EQ(0, pthread_join(mapper, &ret));
	ASSERT_NULL(ret);
	/* Quiet again: what is marked now is read back whole. */
	ASSERT_EQ(0, mark(CTX, HWPT, IOVA, 64 * self->small, self->small,
			  &all, &nr));
	ASSERT_EQ(0, get_bitmap(CTX, HWPT, IOVA, 64 * self->small,
				self->small, 0, out));
	ASSERT_EQ(~0ULL, out[0]);
	free(out);
}

/* ---- fail-nth: every failure leaves the bits and the bitmap alone ---- */

enum fop { F_ENABLE, F_DISABLE, F_GET, F_GET_NO_CLEAR, F_MARK };

static const char *const fop_names[] = { "enable", "disable", "get",
					 "get_no_clear", "mark" };

static int fop_run(struct dworld *w, enum fop op, uint8_t *bm, uint64_t *nr)
{
	uint64_t pattern[2] = { 0x0f0f0f0f0f0f0f0fULL, 0x1 };

	switch (op) {
	case F_ENABLE:
		return set_tracking(w->ctx, w->hwpt, true);
	case F_DISABLE:
		return set_tracking(w->ctx, w->hwpt, false);
	case F_GET:
		return get_bitmap(w->ctx, w->hwpt, IOVA, w->len, PG, 0, bm);
	case F_GET_NO_CLEAR:
		return get_bitmap(w->ctx, w->hwpt, IOVA, w->len, PG, NO_CLEAR,
				  bm);
	case F_MARK:
		return mark(w->ctx, w->hwpt, IOVA + PG, 65 * PG, PG, pattern,
			    nr);
	}
	return -1;
}

/*
 * A world with tracking on, some IOVA dirty and a bitmap with bits set;
 * 16 MiB, so the bitmap (512 bytes at 4 KiB) is more than the read's
 * stack window and its allocation is a failure point.
 */
#define FWORLD_LEN (16ULL << 20)

static void fworld_build(struct dworld *w, uint8_t *bm, size_t bm_len)
{
	uint64_t bits = 0x8000000000000005ULL, nr;

	world_build(w, FWORLD_LEN, MOCK_IOMMUPT_DEFAULT);
	ASSERT_EQ(0, set_tracking(w->ctx, w->hwpt, true));
	ASSERT_EQ(0, mark(w->ctx, w->hwpt, IOVA, 64 * PG, PG, &bits, &nr));
	ASSERT_EQ(0, mark(w->ctx, w->hwpt, IOVA + w->len - 64 * PG, 64 * PG,
			  PG, &bits, &nr));
	memset(bm, 0, bm_len);
	bm[1] = 0x80;
}

static void sweep(enum fop op)
{
	size_t bm_len = FWORLD_LEN / PG / 8 + 1;
	size_t peek_words = FWORLD_LEN / IOP / 64 + 1;
	uint8_t *bm = malloc(bm_len), *ref_bm = malloc(bm_len);
	uint8_t *bm0 = malloc(bm_len);
	uint64_t *peek0 = bits_alloc(peek_words * 64);
	uint64_t *peek = bits_alloc(peek_words * 64);
	uint64_t *ref_peek = bits_alloc(peek_words * 64);
	uint64_t ref_nr = 0, nr;
	unsigned int nth, failed = 0, absorbed = 0;
	bool fired = true, ref_tracking;
	struct dworld w;
	int rc;

	ASSERT_NONNULL(bm);
	ASSERT_NONNULL(ref_bm);
	ASSERT_NONNULL(bm0);

	/* The unfaulted run. */
	fworld_build(&w, bm, bm_len);
	ASSERT_EQ(0, fop_run(&w, op, bm, &ref_nr));
	memcpy(ref_bm, bm, bm_len);
	world_peek(&w, w.hwpt, ref_peek);
	ref_tracking = world_tracking(&w, w.hwpt);
	world_free(&w);

	for (nth = 1; fired; nth++) {
		fworld_build(&w, bm, bm_len);
		world_peek(&w, w.hwpt, peek0);
		memcpy(bm0, bm, bm_len);
		nr = 0;
		uiommufd_fail_nth_set(nth);
		rc = fop_run(&w, op, bm, &nr);
		fired = !uiommufd_fail_nth_get();
		uiommufd_fail_nth_set(0);
		world_peek(&w, w.hwpt, peek);
		if (rc) {
			if (!fired || (errno != ENOMEM && errno != EFAULT))
				TH_LOG("%s nth %u: %m (%s)", fop_names[op],
				       nth, uiommufd_last_reason() ?: "");
			ASSERT_TRUE(fired);
			ASSERT_TRUE(errno == ENOMEM || errno == EFAULT);
			ASSERT_NONNULL(uiommufd_last_reason());
			ASSERT_EQ(0, memcmp(peek0, peek, peek_words * 8));
			ASSERT_EQ(0, memcmp(bm0, bm, bm_len));
			ASSERT_TRUE(world_tracking(&w, w.hwpt));
			failed++;
		} else {
			ASSERT_EQ(0, memcmp(ref_peek, peek, peek_words * 8));
			ASSERT_EQ(0, memcmp(ref_bm, bm, bm_len));
			ASSERT_EQ(ref_nr, nr);
			ASSERT_EQ(ref_tracking, world_tracking(&w, w.hwpt));
			absorbed += fired;
		}
		world_free(&w);
		ASSERT_LT(nth, 10000);
	}
	TH_LOG("%s: %u fault points, %u failed the command, %u absorbed",
	       fop_names[op], nth - 2, failed, absorbed);
	/* The test op allocates its copy of the bits: that must fail it. */
	if (op == F_MARK)
		ASSERT_GT(failed, 0);
	/* A read's window falls back to the stack: never fails for memory. */
	if (op == F_GET || op == F_GET_NO_CLEAR) {
		ASSERT_EQ(0, failed);
		ASSERT_GT(absorbed, 0);
	}
	free(bm);
	free(ref_bm);
	free(bm0);
	free(peek0);
	free(peek);
	free(ref_peek);
}

TEST(fail_nth_set_tracking_enable)
{
	sweep(F_ENABLE);
}

TEST(fail_nth_set_tracking_disable)
{
	sweep(F_DISABLE);
}

TEST(fail_nth_get_dirty_bitmap)
{
	sweep(F_GET);
}

TEST(fail_nth_get_dirty_bitmap_no_clear)
{
	sweep(F_GET_NO_CLEAR);
}

TEST(fail_nth_test_op_dirty)
{
	sweep(F_MARK);
}
