// SPDX-License-Identifier: MIT
/*
 * Dirty tracking in the domain layer: the bitmap window every domain
 * records into (clipping, carry), the core's checks, and the mock
 * domain's dirty bits: marking, reading with and without clearing, whole
 * IO page table entries (huge ones included), unmap making IOVA clean,
 * maps that fail leaving no dirty state, tracking on and off, the test
 * module's bitmap marking, and a randomized run against a per-IO-page
 * model that knows every entry from the map calls it made.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/err_reason.h"
#include "base/fault_inject.h"
#include "base/mem.h"
#include "base/overflow.h"
#include "domains/iommu_domain.h"
#include "domains/mock_domain.h"
#include "harness/rng.h"
#include "harness/test.h"

#define IOP MOCK_IO_PAGE_SIZE
#define HUGE MOCK_HUGE_PAGE_SIZE
#define HUGE_IOPS (HUGE / IOP)
#define RW (IOMMU_READ | IOMMU_WRITE)
/* Physical addresses the tests map: 1 MiB aligned. */
#define PA 0x40000000ULL

static struct mock_domain_stats stats_of(struct iommu_domain *domain)
{
	struct mock_domain_stats stats;

	mock_domain_get_stats(domain, &stats);
	return stats;
}

/* Dirty IO pages in [iova, iova + len), through the peek. */
static u64 ndirty(struct iommu_domain *d, u64 iova, u64 len)
{
	u64 nr = len / IOP;
	u64 *bits = calloc(nr / 64 + 1, sizeof(u64));
	u64 count;

	ASSERT_NONNULL(bits);
	count = mock_domain_dirty_peek(d, iova, nr, bits);
	free(bits);
	return count;
}

static bool is_dirty(struct iommu_domain *d, u64 iova)
{
	u64 bit;

	return mock_domain_dirty_peek(d, align_down(iova, IOP), 1, &bit);
}

static bool test_bit64(const u64 *bits, u64 i)
{
	return bits[i / 64] >> (i % 64) & 1;
}

/*
 * Read [iova, iova + size) through the core at 1 << pgshift bytes a bit
 * into @bits (@nwords words, cleared first); the window is the range.
 */
static int rd(struct iommu_domain *d, u64 iova, u64 size,
	      unsigned int pgshift, unsigned int flags, u64 *bits,
	      size_t nwords, struct iommu_dirty_bitmap *out)
{
	struct iommu_dirty_bitmap b = {
		.iova = iova,
		.last = iova + size - 1,
		.pgshift = pgshift,
		.bits = bits,
	};
	int rc;

	memset(bits, 0, nwords * sizeof(u64));
	rc = iommu_read_and_clear_dirty(d, iova, size, flags, &b);
	if (out)
		*out = b;
	return rc;
}

/* ---- the bitmap window ---- */

TEST(record_clips_to_the_window_and_carries_past_it)
{
	u64 bits[4] = { 0 };
	struct iommu_dirty_bitmap b = {
		.iova = 0x10000, .last = 0x1ffff, .pgshift = 12, .bits = bits,
	};

	/* Starts before the window: only the part inside. */
	iommu_dirty_bitmap_record(&b, 0xf000, 0x3000);
	ASSERT_EQ(0x3, bits[0]);
	ASSERT_FALSE(b.carry);
	/* Reaches past it: the last bit, and the carry. */
	iommu_dirty_bitmap_record(&b, 0x1f000, 0x2000);
	ASSERT_EQ(0x8003, bits[0]);
	ASSERT_TRUE(b.carry);
	ASSERT_EQ(0x20fff, b.carry_last);
	/* A longer one moves the carry on, a shorter one does not. */
	iommu_dirty_bitmap_record(&b, 0x1e000, 0x5000);
	ASSERT_EQ(0x22fff, b.carry_last);
	iommu_dirty_bitmap_record(&b, 0x1f800, 0x1000);
	ASSERT_EQ(0x22fff, b.carry_last);
	ASSERT_EQ(0xc003, bits[0]);
	/* Wholly before: nothing. Wholly past: the straddling entry's. */
	iommu_dirty_bitmap_record(&b, 0x0, 0x1000);
	ASSERT_EQ(0x22fff, b.carry_last);
	iommu_dirty_bitmap_record(&b, 0x20000, 0x10000);
	ASSERT_EQ(0x2ffff, b.carry_last);
	ASSERT_EQ(0xc003, bits[0]);
	ASSERT_EQ(0, bits[1]);
	ASSERT_EQ(4, b.records);
	/* A byte inside a bit's page sets the bit. */
	iommu_dirty_bitmap_record(&b, 0x14fff, 1);
	ASSERT_EQ(0xc013, bits[0]);
	/* Bits are only set: what was there stays. */
	bits[0] |= 0x100;
	iommu_dirty_bitmap_record(&b, 0x10000, 0x1000);
	ASSERT_EQ(0xc113, bits[0]);
}

TEST(record_sets_whole_words_and_odd_edges)
{
	u64 bits[5];
	struct iommu_dirty_bitmap b = {
		.iova = 0, .last = 320 * 8 - 1, .pgshift = 3, .bits = bits,
	};

	for (u64 first = 0; first < 320; first += 7) {
		for (u64 n = 1; first + n <= 320; n += 13) {
			memset(bits, 0, sizeof(bits));
			iommu_dirty_bitmap_record(&b, first * 8, n * 8);
			for (u64 i = 0; i != 320; i++)
				ASSERT_EQ(i >= first && i < first + n,
					  test_bit64(bits, i));
		}
	}
	/* pgshift 0: a bit a byte; 21: a bit per 2 MiB. */
	memset(bits, 0, sizeof(bits));
	b = (struct iommu_dirty_bitmap){ .iova = 5, .last = 5 + 99,
					 .pgshift = 0, .bits = bits };
	iommu_dirty_bitmap_record(&b, 0, 8);
	ASSERT_EQ(0x7, bits[0]);
	memset(bits, 0, sizeof(bits));
	b = (struct iommu_dirty_bitmap){ .iova = 0, .last = (8ULL << 21) - 1,
					 .pgshift = 21, .bits = bits };
	iommu_dirty_bitmap_record(&b, (3ULL << 21) - IOP, 2 * IOP);
	ASSERT_EQ(0xc, bits[0]);
	/* No bits: counts and carries only. */
	b = (struct iommu_dirty_bitmap){ .iova = 0, .last = 0xfff,
					 .pgshift = 12 };
	iommu_dirty_bitmap_record(&b, 0x800, 0x1000);
	ASSERT_EQ(1, b.records);
	ASSERT_TRUE(b.carry);
	ASSERT_EQ(0x17ff, b.carry_last);
}

/*
 * The word form against the run form, bit for bit: every bit size, word
 * position and window edge, aligned or not, including the carry.
 */
TEST(record_word_matches_record)
{
	struct rng r;

	rng_init(&r, test_seed());
	for (u64 iter = 0; iter != test_iterations(200000); iter++) {
		unsigned int ushift = 11, pgshift = rng_below(&r, 24);
		u64 bits_a[40] = { 0 }, bits_b[40] = { 0 }, word, iova;
		struct iommu_dirty_bitmap a, b;
		u64 base = 0x40000000ULL, wiova, wlast, nbits;

		/* A window: on a bit boundary, or (sometimes) anywhere. */
		wiova = base + (rng_below(&r, 256) << 11);
		if (rng_chance(&r, 3, 4))
			wiova = align_down(wiova, 1ULL << pgshift);
		else
			wiova += rng_below(&r, 1 << 11);
		nbits = 1 + rng_below(&r, 40 * 64);
		wlast = wiova + (nbits << pgshift) - 1;
		if (rng_chance(&r, 1, 4))
			wlast = wiova + rng_below(&r, nbits << pgshift);
		nbits = ((wlast - wiova) >> pgshift) + 1;
		if (nbits > 40 * 64)
			continue;
		a = (struct iommu_dirty_bitmap){ .iova = wiova, .last = wlast,
						 .pgshift = pgshift,
						 .bits = bits_a };
		b = a;
		b.bits = bits_b;
		/* A word of 64 IO pages near the window, or inside it. */
		iova = align_down(wiova, 64ULL << ushift) +
		       ((rng_below(&r, 48) - 8) << (6 + ushift));
		word = rng_next(&r);
		if (rng_chance(&r, 1, 3))
			word &= rng_next(&r) & rng_next(&r);
		if (rng_chance(&r, 1, 8))
			word = ~0ULL;
		iommu_dirty_bitmap_record_word(&a, iova, word, ushift);
		for (unsigned int j = 0; j != 64; j++)
			if (word >> j & 1)
				iommu_dirty_bitmap_record(
					&b, iova + ((u64)j << ushift),
					1ULL << ushift);
		for (unsigned int w = 0; w != 40; w++) {
			if (bits_a[w] != bits_b[w])
				TH_LOG("window %#llx..%#llx bit %u word %#llx at %#llx",
				       (unsigned long long)wiova,
				       (unsigned long long)wlast, pgshift,
				       (unsigned long long)word,
				       (unsigned long long)iova);
			ASSERT_EQ(bits_b[w], bits_a[w]);
		}
		ASSERT_EQ(b.carry, a.carry);
		if (b.carry)
			ASSERT_EQ(b.carry_last, a.carry_last);
		ASSERT_EQ(!!b.records, !!a.records);
	}
}

/* ---- the core ---- */

TEST(core_refuses_domains_without_dirty_ops)
{
	struct iommu_domain *d = mock_domain_alloc(0);
	u64 bits[1], nr = 7;

	ASSERT_NONNULL(d);
	ASSERT_NULL(d->dirty_ops);
	ASSERT_EQ(0, iommu_map(d, MOCK_APERTURE_START, PA, 4 * IOP, RW));
	err_reason_clear();
	ASSERT_EQ(-EOPNOTSUPP, iommu_set_dirty_tracking(d, true));
	ASSERT_NONNULL(err_reason_get());
	err_reason_clear();
	ASSERT_EQ(-EOPNOTSUPP, rd(d, MOCK_APERTURE_START, IOP, 11, 0, bits, 1,
				  NULL));
	ASSERT_NONNULL(err_reason_get());
	err_reason_clear();
	ASSERT_EQ(-EOPNOTSUPP, mock_domain_set_dirty(d, MOCK_APERTURE_START));
	ASSERT_NONNULL(err_reason_get());
	bits[0] = 1;
	ASSERT_EQ(-EOPNOTSUPP,
		  mock_domain_set_dirty_bitmap(d, MOCK_APERTURE_START, IOP,
					       bits, 1, &nr));
	ASSERT_EQ(7, nr);
	ASSERT_FALSE(mock_domain_dirty_tracking(d));
	ASSERT_EQ(0, ndirty(d, MOCK_APERTURE_START, 4 * IOP));
	ASSERT_EQ(0, stats_of(d).dirty_chunks);
	iommu_domain_free(d);
}

TEST(core_checks_read_arguments)
{
	struct iommu_domain *d = mock_domain_alloc(MOCK_DOMAIN_DIRTY_TRACKING);
	u64 bits[1];

	ASSERT_NONNULL(d);
	ASSERT_EQ(0, iommu_map(d, MOCK_APERTURE_START, PA, 4 * IOP, RW));
	ASSERT_EQ(0, mock_domain_set_dirty(d, MOCK_APERTURE_START));
	err_reason_clear();
	ASSERT_EQ(-EINVAL, rd(d, MOCK_APERTURE_START, IOP, 11, 2, bits, 1,
			      NULL));
	ASSERT_NONNULL(err_reason_get());
	err_reason_clear();
	ASSERT_EQ(-EINVAL, rd(d, MOCK_APERTURE_START, 0, 11, 0, bits, 1,
			      NULL));
	ASSERT_NONNULL(err_reason_get());
	ASSERT_EQ(-EINVAL, iommu_read_and_clear_dirty(d, U64_MAX - IOP + 1,
						      2 * IOP, 0, NULL));
	/* Nothing was read or cleared by the refusals. */
	ASSERT_EQ(1, ndirty(d, MOCK_APERTURE_START, 4 * IOP));
	/* A NULL bitmap clears without recording. */
	ASSERT_EQ(0, iommu_read_and_clear_dirty(d, MOCK_APERTURE_START, IOP,
						0, NULL));
	ASSERT_EQ(0, ndirty(d, MOCK_APERTURE_START, 4 * IOP));
	iommu_domain_free(d);
}

TEST(alloc_flags_and_geometry)
{
	struct iommu_domain *d;
	long live = mem_live_count();

	/* Bit 1 stays unknown, like every bit past the ones defined. */
	ASSERT_NULL(mock_domain_alloc(1u << 1));
	ASSERT_NULL(mock_domain_alloc(1u << 4));
	ASSERT_NULL(mock_domain_alloc(~0u));

	d = mock_domain_alloc(MOCK_DOMAIN_DIRTY_TRACKING);
	ASSERT_NONNULL(d);
	ASSERT_NONNULL(d->dirty_ops);
	ASSERT_EQ(IOP, d->pgsize_bitmap);
	ASSERT_EQ(MOCK_APERTURE_START, d->aperture_start);
	ASSERT_EQ(MOCK_APERTURE_LAST, d->aperture_last);
	iommu_domain_free(d);

	/* The IOMMUPT_HUGE page table's own geometry, dirty or not. */
	for (int dirty = 0; dirty != 2; dirty++) {
		d = mock_domain_alloc(MOCK_DOMAIN_IOMMUPT_HUGE |
				      (dirty ? MOCK_DOMAIN_DIRTY_TRACKING : 0));
		ASSERT_NONNULL(d);
		ASSERT_EQ(dirty, d->dirty_ops != NULL);
		ASSERT_EQ(PAGE_SIZE | HUGE, d->pgsize_bitmap);
		ASSERT_EQ(0, d->aperture_start);
		ASSERT_EQ((1ULL << 38) - 1, d->aperture_last);
		ASSERT_EQ(MOCK_IOMMUPT_APERTURE_LAST, d->aperture_last);
		ASSERT_EQ(0, iommu_map(d, 0, PA, PAGE_SIZE, RW));
		ASSERT_EQ(PA + 5, iommu_iova_to_phys(d, 5));
		ASSERT_EQ(-EINVAL, iommu_map(d, PAGE_SIZE, PA, IOP, RW));
		ASSERT_EQ(-EINVAL, iommu_map(d, PAGE_SIZE + IOP, PA,
					     PAGE_SIZE, RW));
		ASSERT_EQ(0, iommu_map(d, (1ULL << 38) - PAGE_SIZE, PA,
				       PAGE_SIZE, RW));
		ASSERT_EQ(-EINVAL, iommu_map(d, 1ULL << 38, PA, PAGE_SIZE,
					     RW));
		ASSERT_EQ(PAGE_SIZE, iommu_unmap(d, 0, PAGE_SIZE));
		ASSERT_EQ(PAGE_SIZE, iommu_unmap(d, (1ULL << 38) - PAGE_SIZE,
						 PAGE_SIZE));
		ASSERT_EQ(0, stats_of(d).dirty_chunks);
		iommu_domain_free(d);
	}

	/* Out of memory at every point: nothing left behind. */
	for (unsigned int nth = 1;; nth++) {
		fault_fail_nth_set(nth);
		d = mock_domain_alloc(MOCK_DOMAIN_DIRTY_TRACKING |
				      MOCK_DOMAIN_IOMMUPT_HUGE);
		if (!fault_fail_nth_fired()) {
			fault_fail_nth_set(0);
			ASSERT_NONNULL(d);
			iommu_domain_free(d);
			break;
		}
		fault_fail_nth_set(0);
		ASSERT_NULL(d);
		ASSERT_EQ(live, mem_live_count());
	}
	ASSERT_EQ(live, mem_live_count());
}

/* ---- the mock, in each of its shapes ---- */

FIXTURE(dirty)
{
	struct iommu_domain *d;
	u64 base;	/* a 2 MiB aligned IOVA inside the aperture */
	u64 entry;	/* a small entry */
	bool huge;	/* 1 MiB entries too */
};

FIXTURE_VARIANT(dirty)
{
	unsigned int flags;
	u64 base;
};

FIXTURE_VARIANT_ADD(dirty, small)
{
	.flags = MOCK_DOMAIN_DIRTY_TRACKING,
	.base = MOCK_APERTURE_START + (2ULL << 20),
};

FIXTURE_VARIANT_ADD(dirty, huge_pages)
{
	.flags = MOCK_DOMAIN_DIRTY_TRACKING | MOCK_DOMAIN_HUGE_PAGES,
	.base = MOCK_APERTURE_START + (2ULL << 20),
};

FIXTURE_VARIANT_ADD(dirty, iommupt_huge)
{
	.flags = MOCK_DOMAIN_DIRTY_TRACKING | MOCK_DOMAIN_IOMMUPT_HUGE,
	.base = 0x3f00000000ULL,
};

FIXTURE_SETUP(dirty)
{
	self->d = mock_domain_alloc(variant->flags);
	ASSERT_NONNULL(self->d);
	self->base = variant->base;
	self->entry = iommu_domain_min_pgsize(self->d);
	self->huge = self->d->pgsize_bitmap & HUGE;
}

FIXTURE_TEARDOWN(dirty)
{
	struct mock_domain_stats st = stats_of(self->d);

	/* Every test leaves the domain sound. */
	EXPECT_EQ(0, st.unmap_not_mapped);
	EXPECT_EQ(0, st.map_over_mapped);
	iommu_domain_free(self->d);
}

TEST_F(dirty, mark_read_clear)
{
	struct iommu_domain *d = self->d;
	u64 e = self->entry, base = self->base, bits[2];
	unsigned int shift = __builtin_ctzll(e);

	ASSERT_EQ(0, iommu_map(d, base, PA, 128 * e, RW));
	ASSERT_FALSE(mock_domain_dirty_tracking(d));
	/* Any byte of an entry marks it, tracking on or off. */
	ASSERT_EQ(0, mock_domain_set_dirty(d, base + 5 * e + e - 1));
	ASSERT_EQ(0, mock_domain_set_dirty(d, base + 127 * e));
	ASSERT_EQ(2 * e / IOP, stats_of(d).dirty_io_pages);
	ASSERT_EQ(e / IOP, ndirty(d, base + 5 * e, e));

	for (int i = 0; i != 2; i++) {
		ASSERT_EQ(0, rd(d, base, 128 * e, shift, IOMMU_DIRTY_NO_CLEAR,
				bits, 2, NULL));
		ASSERT_EQ(1ULL << 5, bits[0]);
		ASSERT_EQ(1ULL << 63, bits[1]);
	}
	ASSERT_EQ(2 * e / IOP, stats_of(d).dirty_io_pages);
	ASSERT_EQ(0, rd(d, base, 128 * e, shift, 0, bits, 2, NULL));
	ASSERT_EQ(1ULL << 5, bits[0]);
	ASSERT_EQ(1ULL << 63, bits[1]);
	ASSERT_EQ(0, stats_of(d).dirty_io_pages);
	ASSERT_EQ(0, rd(d, base, 128 * e, shift, 0, bits, 2, NULL));
	ASSERT_EQ(0, bits[0] | bits[1]);

	/* A bit of 2 MiB holds everything; one of a byte, every byte. */
	ASSERT_EQ(0, mock_domain_set_dirty(d, base + 7 * e));
	ASSERT_EQ(0, rd(d, base, 128 * e, 21, IOMMU_DIRTY_NO_CLEAR, bits, 1,
			NULL));
	ASSERT_EQ(1, bits[0]);
	ASSERT_EQ(0, rd(d, base + 7 * e, 64, 0, 0, bits, 1, NULL));
	ASSERT_EQ(~0ULL, bits[0]);
	/* Cleared whole although only 64 bytes were asked for. */
	ASSERT_EQ(0, stats_of(d).dirty_io_pages);
	ASSERT_EQ(128 * e, iommu_unmap(d, base, 128 * e));
}

TEST_F(dirty, unmapped_iova_marks_nothing)
{
	struct iommu_domain *d = self->d;
	u64 bits[1] = { 0xf }, nr = 0;

	ASSERT_EQ(0, iommu_map(d, self->base + self->entry, PA, self->entry,
			       RW));
	err_reason_clear();
	ASSERT_EQ(-ENOENT, mock_domain_set_dirty(d, self->base));
	ASSERT_NONNULL(err_reason_get());
	ASSERT_EQ(0, stats_of(d).dirty_io_pages);
	/* The bitmap form counts them all and marks the one mapped. */
	ASSERT_EQ(0, iommu_set_dirty_tracking(d, true));
	ASSERT_EQ(0, mock_domain_set_dirty_bitmap(d, self->base, self->entry,
						  bits, 4, &nr));
	ASSERT_EQ(4, nr);
	ASSERT_EQ(self->entry / IOP, stats_of(d).dirty_io_pages);
	ASSERT_TRUE(is_dirty(d, self->base + self->entry));
	ASSERT_FALSE(is_dirty(d, self->base));
	ASSERT_EQ(self->entry,
		  iommu_unmap(d, self->base + self->entry, self->entry));
}

TEST_F(dirty, huge_entries_are_marked_read_and_cleared_whole)
{
	struct iommu_domain *d = self->d;
	u64 e = self->entry, base = self->base, bits[8];
	/* 8 KiB before a 1 MiB block to 8 KiB past the next one. */
	u64 iova = base + HUGE - 0x2000, len = 2 * HUGE + 0x4000;
	u64 blk = base + HUGE, want = self->huge ? HUGE_IOPS : e / IOP;

	ASSERT_EQ(0, iommu_map(d, iova, PA + HUGE - 0x2000, len, RW));
	ASSERT_EQ(0, mock_domain_set_dirty(d, blk + 0x12345));
	ASSERT_EQ(want, stats_of(d).dirty_io_pages);
	ASSERT_EQ(want, ndirty(d, blk, HUGE));
	if (self->huge) {
		ASSERT_TRUE(is_dirty(d, blk));
		ASSERT_TRUE(is_dirty(d, blk + HUGE - 1));
		ASSERT_FALSE(is_dirty(d, blk - 1));
		ASSERT_FALSE(is_dirty(d, blk + HUGE));
	}
	/* The head and the tail are small entries either way. */
	ASSERT_EQ(0, mock_domain_set_dirty(d, iova));
	ASSERT_EQ(0, mock_domain_set_dirty(d, iova + len - 1));
	ASSERT_EQ(want + 2 * e / IOP, stats_of(d).dirty_io_pages);

	/*
	 * Two 4 KiB bits in the middle of the block: both set (the entry is
	 * reported whole, clipped to the range), and the whole entry is
	 * clean after, as the kernel clears a dirty PTE it reports.
	 */
	ASSERT_EQ(0, rd(d, blk + 0x12000, 0x2000, 12, 0, bits, 1, NULL));
	ASSERT_EQ(self->huge ? 0x3 : 0x1, bits[0]);
	ASSERT_EQ(2 * e / IOP, stats_of(d).dirty_io_pages);
	ASSERT_EQ(0, ndirty(d, blk, HUGE));

	/* The second block, read across its start at 64 KiB a bit. */
	ASSERT_EQ(0, mock_domain_set_dirty(d, blk + HUGE + HUGE / 2));
	ASSERT_EQ(0, rd(d, blk + HUGE - 0x20000, 0x40000, 16,
			IOMMU_DIRTY_NO_CLEAR, bits, 1, NULL));
	ASSERT_EQ(self->huge ? 0xc : 0, bits[0]);
	ASSERT_EQ(0, rd(d, iova, len, 20, 0, bits, 1, NULL));
	/* The head's bit (0), the second block's (1, 2), the tail's (2). */
	ASSERT_EQ(0x7, bits[0]);
	ASSERT_EQ(0, stats_of(d).dirty_io_pages);
	ASSERT_EQ(len, iommu_unmap(d, iova, len));

	/* Frames aligned differently from the IOVA: small entries only. */
	ASSERT_EQ(0, iommu_map(d, base, PA + 0x1000, 2 * HUGE, RW));
	ASSERT_EQ(0, mock_domain_set_dirty(d, base + 0x1000));
	ASSERT_EQ(e / IOP, stats_of(d).dirty_io_pages);
	ASSERT_EQ(2 * HUGE, iommu_unmap(d, base, 2 * HUGE));
	/* A map that covers a block but for its last 4 KiB: small too. */
	ASSERT_EQ(0, iommu_map(d, base, PA, HUGE - 0x1000, RW));
	ASSERT_EQ(0, mock_domain_set_dirty(d, base));
	ASSERT_EQ(e / IOP, stats_of(d).dirty_io_pages);
	ASSERT_EQ(HUGE - 0x1000, iommu_unmap(d, base, HUGE - 0x1000));
	ASSERT_EQ(0, stats_of(d).dirty_io_pages);
	ASSERT_EQ(0, stats_of(d).dirty_chunks);
}

TEST_F(dirty, a_window_carries_what_an_entry_reaches_past_it)
{
	struct iommu_domain *d = self->d;
	u64 blk = self->base + HUGE, bits[1];
	struct iommu_dirty_bitmap b;

	ASSERT_EQ(0, iommu_map(d, blk, PA, HUGE, RW));
	ASSERT_EQ(0, mock_domain_set_dirty(d, blk + HUGE / 2));
	/* A window over the block's first 64 KiB. */
	ASSERT_EQ(0, rd(d, blk, 0x10000, 12, 0, bits, 1, &b));
	if (self->huge) {
		ASSERT_EQ(0xffff, bits[0]);
		ASSERT_TRUE(b.carry);
		ASSERT_EQ(blk + HUGE - 1, b.carry_last);
		ASSERT_EQ(0, ndirty(d, blk, HUGE));
	} else {
		ASSERT_EQ(0, bits[0]);
		ASSERT_FALSE(b.carry);
		ASSERT_EQ(self->entry / IOP, ndirty(d, blk, HUGE));
	}
	ASSERT_EQ(HUGE, iommu_unmap(d, blk, HUGE));
}

TEST_F(dirty, unmap_makes_iova_clean_and_frees_chunks)
{
	struct iommu_domain *d = self->d;
	u64 base = self->base, e = self->entry, all[4] = { ~0ULL, ~0ULL, ~0ULL,
							   ~0ULL };
	u64 nr;

	/* 24 MiB: chunks of 8 MiB, partly shared by the two ranges. */
	ASSERT_EQ(0, iommu_map(d, base, PA, 12ULL << 20, RW));
	ASSERT_EQ(0, iommu_map(d, base + (12ULL << 20), PA, 12ULL << 20, RW));
	ASSERT_EQ(3 + !is_aligned(base, 8ULL << 20),
		  stats_of(d).dirty_chunks);
	ASSERT_EQ(0, iommu_set_dirty_tracking(d, true));
	/* Every 96 KiB from base - 3 * 96 KiB (unmapped: counted only). */
	ASSERT_EQ(0, mock_domain_set_dirty_bitmap(d, base - 3 * 0x18000,
						  0x18000, all, 256, &nr));
	ASSERT_EQ(256, nr);
	nr = stats_of(d).dirty_io_pages;
	ASSERT_EQ(nr, ndirty(d, base, 24ULL << 20));
	ASSERT_GT(nr, 0);

	u64 second = ndirty(d, base + (12ULL << 20), 12ULL << 20);

	ASSERT_EQ(12ULL << 20, iommu_unmap(d, base + (12ULL << 20),
					   12ULL << 20));
	ASSERT_EQ(nr - second, stats_of(d).dirty_io_pages);
	ASSERT_EQ(0, ndirty(d, base + (12ULL << 20), 12ULL << 20));
	/* Mapped again: clean. */
	ASSERT_EQ(0, iommu_map(d, base + (12ULL << 20), PA, 12ULL << 20, RW));
	ASSERT_EQ(0, ndirty(d, base + (12ULL << 20), 12ULL << 20));
	ASSERT_EQ(nr - second, stats_of(d).dirty_io_pages);
	ASSERT_EQ(12ULL << 20, iommu_unmap(d, base + (12ULL << 20),
					   12ULL << 20));
	/* A small piece out of the middle (of a huge entry, if any). */
	ASSERT_EQ(0, mock_domain_set_dirty(d, base + 0x18000 * 5));
	ASSERT_EQ(e, iommu_unmap(d, base + 0x18000 * 5, e));
	ASSERT_FALSE(is_dirty(d, base + 0x18000 * 5));
	ASSERT_EQ(0x18000 * 5, iommu_unmap(d, base, 0x18000 * 5));
	ASSERT_EQ((12ULL << 20) - 0x18000 * 5 - e,
		  iommu_unmap(d, base + 0x18000 * 5 + e,
			      (12ULL << 20) - 0x18000 * 5 - e));
	ASSERT_EQ(0, stats_of(d).dirty_io_pages);
	ASSERT_EQ(0, stats_of(d).dirty_chunks);
}

TEST_F(dirty, unmap_cutting_a_huge_entry_leaves_small_ones)
{
	struct iommu_domain *d = self->d;
	u64 blk = self->base + HUGE, e = self->entry;
	u64 whole = self->huge ? HUGE_IOPS : e / IOP;

	ASSERT_EQ(0, iommu_map(d, blk, PA, HUGE, RW));
	ASSERT_EQ(0, mock_domain_set_dirty(d, blk + e));
	ASSERT_EQ(whole, stats_of(d).dirty_io_pages);
	/* Cut one small entry off each end: the rest stays dirty. */
	ASSERT_EQ(e, iommu_unmap(d, blk, e));
	ASSERT_EQ(e, iommu_unmap(d, blk + HUGE - e, e));
	ASSERT_EQ(self->huge ? HUGE_IOPS - 2 * e / IOP : e / IOP,
		  stats_of(d).dirty_io_pages);
	ASSERT_TRUE(is_dirty(d, blk + e));
	ASSERT_EQ(self->huge, is_dirty(d, blk + HUGE - e - 1));
	ASSERT_EQ(0, iommu_read_and_clear_dirty(d, blk + e, HUGE - 2 * e, 0,
						NULL));
	ASSERT_EQ(0, stats_of(d).dirty_io_pages);
	/* Now each piece is an entry of its own, in every shape. */
	ASSERT_EQ(0, mock_domain_set_dirty(d, blk + HUGE / 2));
	ASSERT_EQ(e / IOP, stats_of(d).dirty_io_pages);
	ASSERT_EQ(e / IOP, ndirty(d, blk + HUGE / 2, e));
	ASSERT_EQ(HUGE - 2 * e, iommu_unmap(d, blk + e, HUGE - 2 * e));
	ASSERT_EQ(0, stats_of(d).dirty_chunks);
}

TEST_F(dirty, map_failure_leaves_no_dirty_state)
{
	struct iommu_domain *d = self->d;
	u64 base = self->base, len = 20ULL << 20;
	struct mock_domain_stats before;
	unsigned int nth, failed = 0;
	long live;

	/* A dirty neighbour in the chunk the new map shares. */
	ASSERT_EQ(0, iommu_map(d, base, PA, 0x10000, RW));
	ASSERT_EQ(0, mock_domain_set_dirty(d, base + 0x8000));
	before = stats_of(d);
	live = mem_live_count();
	for (nth = 1;; nth++) {
		int rc;

		fault_fail_nth_set(nth);
		rc = iommu_map(d, base + 0x10000, PA + 0x10000, len, RW);
		if (!fault_fail_nth_fired()) {
			fault_fail_nth_set(0);
			ASSERT_EQ(0, rc);
			break;
		}
		fault_fail_nth_set(0);
		ASSERT_EQ(-ENOMEM, rc);
		failed++;
		ASSERT_EQ(before.io_pages, stats_of(d).io_pages);
		ASSERT_EQ(before.dirty_chunks, stats_of(d).dirty_chunks);
		ASSERT_EQ(before.dirty_io_pages, stats_of(d).dirty_io_pages);
		ASSERT_EQ(live, mem_live_count());
		ASSERT_TRUE(is_dirty(d, base + 0x8000));
		ASSERT_EQ(0, iommu_iova_to_phys(d, base + 0x10000));
	}
	/* The first point, and one per chunk at least. */
	ASSERT_GE(failed, 3);
	ASSERT_EQ(0, ndirty(d, base + 0x10000, len));
	ASSERT_EQ(0, mock_domain_set_dirty(d, base + 0x10000 + len - 1));
	ASSERT_EQ(self->entry / IOP + before.dirty_io_pages,
		  stats_of(d).dirty_io_pages);

	/* The mock's own failure counter: it fires before anything is made. */
	mock_domain_fail_nth_map(d, 1);
	before = stats_of(d);
	ASSERT_EQ(-ENOMEM, iommu_map(d, base + 0x10000 + len, PA, len, RW));
	ASSERT_EQ(before.dirty_chunks, stats_of(d).dirty_chunks);
	ASSERT_EQ(before.io_pages, stats_of(d).io_pages);
	ASSERT_EQ(len + 0x10000, iommu_unmap(d, base, len + 0x10000));
	ASSERT_EQ(0, stats_of(d).dirty_chunks);
}

TEST_F(dirty, tracking_on_and_off)
{
	struct iommu_domain *d = self->d;
	u64 e = self->entry, bits[1] = { 0x5 }, nr = 99, out[1];

	ASSERT_EQ(0, iommu_map(d, self->base, PA, 8 * e, RW));
	ASSERT_FALSE(mock_domain_dirty_tracking(d));
	/* The test module's marks need tracking on. */
	err_reason_clear();
	ASSERT_EQ(-EINVAL, mock_domain_set_dirty_bitmap(d, self->base, e,
							bits, 3, &nr));
	ASSERT_NONNULL(err_reason_get());
	ASSERT_EQ(99, nr);
	ASSERT_EQ(0, stats_of(d).dirty_io_pages);
	ASSERT_EQ(0, iommu_set_dirty_tracking(d, true));
	ASSERT_TRUE(mock_domain_dirty_tracking(d));
	ASSERT_EQ(0, iommu_set_dirty_tracking(d, true));
	ASSERT_TRUE(mock_domain_dirty_tracking(d));
	ASSERT_EQ(0, mock_domain_set_dirty_bitmap(d, self->base, e, bits, 3,
						  &nr));
	ASSERT_EQ(2, nr);
	ASSERT_EQ(0, iommu_set_dirty_tracking(d, false));
	ASSERT_FALSE(mock_domain_dirty_tracking(d));
	ASSERT_EQ(0, iommu_set_dirty_tracking(d, false));
	/* Off keeps the bits; reads still see them. */
	ASSERT_EQ(0, rd(d, self->base, 8 * e, __builtin_ctzll(e), 0, out, 1,
			NULL));
	ASSERT_EQ(0x5, out[0]);
	ASSERT_EQ(8 * e, iommu_unmap(d, self->base, 8 * e));
}

TEST_F(dirty, bitmap_marks_count_every_set_bit)
{
	struct iommu_domain *d = self->d;
	u64 e = self->entry, base = self->base, nr;
	u64 bits[2] = { 0x8000000000000001ULL, 0xffULL | (0xfULL << 60) };

	ASSERT_EQ(0, iommu_map(d, base, PA, 128 * e, RW));
	ASSERT_EQ(0, iommu_set_dirty_tracking(d, true));
	/* 70 bits: the bits of word 1 past bit 5 are not looked at. */
	ASSERT_EQ(0, mock_domain_set_dirty_bitmap(d, base, e, bits, 70, &nr));
	ASSERT_EQ(2 + 6, nr);
	ASSERT_EQ(8 * e / IOP, stats_of(d).dirty_io_pages);
	ASSERT_TRUE(is_dirty(d, base));
	ASSERT_TRUE(is_dirty(d, base + 63 * e));
	ASSERT_TRUE(is_dirty(d, base + 69 * e));
	ASSERT_FALSE(is_dirty(d, base + 70 * e));
	ASSERT_EQ(0, iommu_read_and_clear_dirty(d, base, 128 * e, 0, NULL));

	/* Twice the entry a bit: only the entry holding each bit's IOVA. */
	ASSERT_EQ(0, mock_domain_set_dirty_bitmap(d, base, 2 * e, bits, 1,
						  &nr));
	ASSERT_EQ(1, nr);
	ASSERT_TRUE(is_dirty(d, base));
	ASSERT_FALSE(is_dirty(d, base + e));

	ASSERT_EQ(0, mock_domain_set_dirty_bitmap(d, base, e, bits, 0, &nr));
	ASSERT_EQ(0, nr);
	nr = 5;
	ASSERT_EQ(-EINVAL, mock_domain_set_dirty_bitmap(d, base, 0, bits, 1,
							&nr));
	ASSERT_EQ(-EOVERFLOW,
		  mock_domain_set_dirty_bitmap(d, U64_MAX - 2 * e + 1, e,
					       bits, 3, &nr));
	ASSERT_EQ(-EOVERFLOW, mock_domain_set_dirty_bitmap(d, 0, U64_MAX, bits,
							   3, &nr));
	ASSERT_EQ(5, nr);
	ASSERT_EQ(e / IOP, stats_of(d).dirty_io_pages);
	ASSERT_EQ(128 * e, iommu_unmap(d, base, 128 * e));
}

/* ---- a randomized run against a model ---- */

#define M_PAGES ((48ULL << 20) / IOP)	/* 48 MiB of IOVA */
/* Bits a read may ask for, and the scratch bitmap's words. */
#define M_READ_BITS (1ULL << 16)
#define M_SCRATCH_WORDS (max(M_PAGES, M_READ_BITS) / 64 + 2)
#define M_MAX_MAPS 256

struct dmodel {
	struct iommu_domain *d;
	struct rng rng;
	u64 base;
	u64 entry;		/* small entry, bytes */
	bool huge;
	bool tracking;
	/* Per IO page: its entry [first, last] (page indices), -1 unmapped */
	s64 *ent_first, *ent_last;
	u8 *dirty;
	struct {
		u64 first, last;	/* IO pages of a live map call */
	} maps[M_MAX_MAPS];
	unsigned int nmaps;
	u64 *scratch;		/* M_SCRATCH_WORDS */
	/* What the run got to see, so it cannot pass by seeing nothing. */
	u64 huge_entries, reads_with_bits, carries, cut_entries;
};

static u64 m_iova(const struct dmodel *m, u64 page)
{
	return m->base + page * IOP;
}

static void m_set_entry(struct dmodel *m, u64 first, u64 last)
{
	for (u64 p = first; p <= last; p++) {
		m->ent_first[p] = first;
		m->ent_last[p] = last;
	}
}

static void m_map(struct dmodel *m)
{
	u64 epages = m->entry / IOP, first, npages, pfn0, last;
	u64 paddr;
	bool any_mapped = false;
	int rc;

	if (m->nmaps == M_MAX_MAPS)
		return;
	first = rng_below(&m->rng, M_PAGES / epages) * epages;
	/* Often at a huge boundary, so whole blocks get mapped. */
	if (rng_chance(&m->rng, 1, 3))
		first = align_down(first, HUGE_IOPS) +
			(HUGE_IOPS - m->base / IOP % HUGE_IOPS) % HUGE_IOPS;
	npages = (1 + rng_below(&m->rng, rng_chance(&m->rng, 1, 2) ?
						 3 * HUGE_IOPS / epages :
						 64)) *
		 epages;
	npages = min(npages, M_PAGES - first);
	last = first + npages - 1;
	/* Half the time frames aligned like the IOVA, so huge entries form. */
	paddr = PA + rng_below(&m->rng, 1024) * HUGE;
	if (rng_chance(&m->rng, 1, 2))
		paddr += m_iova(m, first) % HUGE;
	else
		paddr += rng_below(&m->rng, HUGE / m->entry) * m->entry;
	for (u64 p = first; p <= last; p++)
		any_mapped |= m->ent_first[p] >= 0;
	rc = iommu_map(m->d, m_iova(m, first), paddr, npages * IOP, RW);
	if (any_mapped) {
		ASSERT_EQ(-EEXIST, rc);
		return;
	}
	ASSERT_EQ(0, rc);
	m->maps[m->nmaps].first = first;
	m->maps[m->nmaps++].last = last;
	pfn0 = paddr / IOP;
	for (u64 p = first; p <= last; p += epages)
		m_set_entry(m, p, p + epages - 1);
	if (!m->huge || (m_iova(m, first) - paddr) % HUGE)
		return;
	for (u64 p = first; p <= last; p++) {
		u64 iova = m_iova(m, p);

		if (iova % HUGE || p + HUGE_IOPS - 1 > last)
			continue;
		ASSERT_EQ(0, (pfn0 + (p - first)) % HUGE_IOPS);
		m_set_entry(m, p, p + HUGE_IOPS - 1);
		m->huge_entries++;
	}
}

/* Unmap a whole map call, or a piece of one (entry aligned). */
static void m_unmap(struct dmodel *m)
{
	u64 epages = m->entry / IOP, first, last;
	unsigned int i;

	if (!m->nmaps)
		return;
	i = rng_below(&m->rng, m->nmaps);
	first = m->maps[i].first;
	last = m->maps[i].last;
	if (rng_chance(&m->rng, 1, 3) && last - first + 1 > epages) {
		/* A piece off one end; the call stays, shorter. */
		u64 n = (1 + rng_below(&m->rng, (last - first + 1) / epages -
							1)) *
			epages;

		if (rng_chance(&m->rng, 1, 2)) {
			m->maps[i].first = first + n;
			last = first + n - 1;
		} else {
			m->maps[i].last = last - n;
			first = last - n + 1;
		}
	} else {
		m->maps[i] = m->maps[--m->nmaps];
	}
	ASSERT_EQ((last - first + 1) * IOP,
		  iommu_unmap(m->d, m_iova(m, first),
			      (last - first + 1) * IOP));
	/* Entries cut in two leave small entries behind. */
	m->cut_entries += m->ent_first[first] < (s64)first ||
			  m->ent_last[last] > (s64)last;
	if (m->ent_first[first] < (s64)first) {
		for (u64 p = m->ent_first[first]; p < first; p += epages)
			m_set_entry(m, p, p + epages - 1);
	}
	if (m->ent_last[last] > (s64)last) {
		for (u64 p = last + 1; p <= (u64)m->ent_last[last]; p += epages)
			m_set_entry(m, p, p + epages - 1);
	}
	for (u64 p = first; p <= last; p++) {
		m->ent_first[p] = m->ent_last[p] = -1;
		m->dirty[p] = 0;
	}
}

static void m_mark_entry(struct dmodel *m, u64 page)
{
	if (m->ent_first[page] < 0)
		return;
	for (s64 p = m->ent_first[page]; p <= m->ent_last[page]; p++)
		m->dirty[p] = 1;
}

static void m_mark(struct dmodel *m)
{
	u64 page = rng_below(&m->rng, M_PAGES);
	u64 iova = m_iova(m, page) + rng_below(&m->rng, IOP);
	int rc = mock_domain_set_dirty(m->d, iova);

	ASSERT_EQ(m->ent_first[page] >= 0 ? 0 : -ENOENT, rc);
	m_mark_entry(m, page);
}

static void m_mark_bitmap(struct dmodel *m)
{
	u64 page_size = IOP << rng_below(&m->rng, 6);
	u64 nbits = 1 + rng_below(&m->rng, 200), bits[4], nr = 0, want = 0;
	u64 first = rng_below(&m->rng, M_PAGES);
	int rc;

	for (unsigned int i = 0; i != 4; i++)
		bits[i] = rng_chance(&m->rng, 1, 2) ? rng_next(&m->rng) :
			  rng_next(&m->rng) & rng_next(&m->rng);
	if (m->nmaps && rng_chance(&m->rng, 2, 3))
		first = m->maps[rng_below(&m->rng, m->nmaps)].first;
	rc = mock_domain_set_dirty_bitmap(m->d, m_iova(m, first), page_size,
					  bits, nbits, &nr);
	if (!m->tracking) {
		ASSERT_EQ(-EINVAL, rc);
		return;
	}
	ASSERT_EQ(0, rc);
	for (u64 i = 0; i != nbits; i++) {
		u64 page = first + i * (page_size / IOP);

		if (!test_bit64(bits, i))
			continue;
		want++;
		if (page < M_PAGES)
			m_mark_entry(m, page);
	}
	ASSERT_EQ(want, nr);
}

static void m_read(struct dmodel *m)
{
	unsigned int pgshift = rng_below(&m->rng, 22), flags;
	u64 first = rng_below(&m->rng, M_PAGES), iova, last, size, nbits;
	u64 *bits = m->scratch, carry_last = 0, maxbits;
	struct iommu_dirty_bitmap b;
	bool carry = false;

	/* Mostly where something is mapped, sometimes a few pages only. */
	if (m->nmaps && rng_chance(&m->rng, 2, 3)) {
		unsigned int i = rng_below(&m->rng, m->nmaps);

		first = rng_range(&m->rng, m->maps[i].first, m->maps[i].last);
	}
	/* At most M_READ_BITS bits, whatever the bit size. */
	maxbits = M_READ_BITS;
	size = 1 + rng_below(&m->rng, min((M_PAGES - first) * IOP,
					  maxbits << pgshift));
	if (rng_chance(&m->rng, 1, 2))
		size = min(size, 1 + rng_below(&m->rng, 64 * IOP));
	iova = m_iova(m, first) + rng_below(&m->rng, IOP);
	if (rng_chance(&m->rng, 1, 2)) {
		/* An aligned one, as the engine asks, still in the bits. */
		iova = m_iova(m, first);
		size = align_down(size, IOP) + IOP;
		if (size > maxbits << pgshift)
			size -= IOP;
	}
	last = min(iova + size - 1, m_iova(m, M_PAGES) - 1);
	size = last - iova + 1;
	flags = rng_chance(&m->rng, 1, 2) ? IOMMU_DIRTY_NO_CLEAR : 0;
	nbits = ((last - iova) >> pgshift) + 1;
	ASSERT_EQ(0, rd(m->d, iova, size, pgshift, flags, bits,
			nbits / 64 + 1, &b));

	/* Expected: every dirty page's bytes in range, clipped. */
	u64 fp = (iova - m->base) / IOP, lp = (last - m->base) / IOP;
	u64 *want = calloc(nbits / 64 + 1, sizeof(u64));

	ASSERT_NONNULL(want);
	for (u64 p = fp; p <= lp; p++) {
		u64 s, t;

		if (!m->dirty[p])
			continue;
		s = max(m_iova(m, p), iova);
		t = min(m_iova(m, p) + IOP - 1, last);
		for (u64 bit = (s - iova) >> pgshift;
		     bit <= (t - iova) >> pgshift; bit++)
			want[bit / 64] |= 1ULL << (bit % 64);
		if (m_iova(m, m->ent_last[p]) + IOP - 1 > last) {
			carry = true;
			carry_last = m_iova(m, m->ent_last[p]) + IOP - 1;
		}
	}
	for (u64 w = 0; w <= nbits / 64; w++) {
		if (want[w] != bits[w])
			TH_LOG("read [%#llx, %#llx] bit %u, word %llu",
			       (unsigned long long)iova,
			       (unsigned long long)last, pgshift,
			       (unsigned long long)w);
		ASSERT_EQ(want[w], bits[w]);
	}
	m->reads_with_bits += b.records != 0;
	m->carries += carry;
	free(want);
	ASSERT_EQ(carry, b.carry);
	if (carry)
		ASSERT_EQ(carry_last, b.carry_last);
	if (flags & IOMMU_DIRTY_NO_CLEAR)
		return;
	/* Every entry the range touches is clean now. */
	for (u64 p = fp; p <= lp; p++) {
		if (m->ent_first[p] < 0)
			continue;
		for (s64 q = m->ent_first[p]; q <= m->ent_last[p]; q++)
			m->dirty[q] = 0;
	}
}

static void m_check(struct dmodel *m)
{
	struct mock_domain_stats st = stats_of(m->d);
	u64 count = 0, chunks = 0, mapped_pages = 0;

	mock_domain_dirty_peek(m->d, m->base, M_PAGES, m->scratch);
	for (u64 p = 0; p != M_PAGES; p++) {
		if (m->dirty[p] != test_bit64(m->scratch, p))
			TH_LOG("IO page %#llx", (unsigned long long)m_iova(m, p));
		ASSERT_EQ(m->dirty[p], test_bit64(m->scratch, p));
		count += m->dirty[p];
		mapped_pages += m->ent_first[p] >= 0;
	}
	ASSERT_EQ(count, st.dirty_io_pages);
	ASSERT_EQ(mapped_pages, st.io_pages);
	/* A chunk of 4096 IO pages exactly while one of them is mapped. */
	for (u64 c = m->base / IOP / 4096;
	     c <= (m->base / IOP + M_PAGES - 1) / 4096; c++) {
		for (u64 i = 0; i != 4096; i++) {
			u64 p = c * 4096 + i - m->base / IOP;

			if (p < M_PAGES && m->ent_first[p] >= 0) {
				chunks++;
				break;
			}
		}
	}
	ASSERT_EQ(chunks, st.dirty_chunks);
	ASSERT_EQ(0, st.unmap_not_mapped);
}

static void dirty_model_run(unsigned int flags, u64 base, u64 steps)
{
	struct dmodel m = { 0 };

	m.d = mock_domain_alloc(flags);
	ASSERT_NONNULL(m.d);
	rng_init(&m.rng, test_seed());
	m.base = base;
	m.entry = iommu_domain_min_pgsize(m.d);
	m.huge = m.d->pgsize_bitmap & HUGE;
	m.ent_first = malloc(M_PAGES * sizeof(s64));
	m.ent_last = malloc(M_PAGES * sizeof(s64));
	m.dirty = calloc(M_PAGES, 1);
	m.scratch = calloc(M_SCRATCH_WORDS, sizeof(u64));
	ASSERT_NONNULL(m.ent_first);
	ASSERT_NONNULL(m.ent_last);
	ASSERT_NONNULL(m.dirty);
	ASSERT_NONNULL(m.scratch);
	memset(m.ent_first, 0xff, M_PAGES * sizeof(s64));
	memset(m.ent_last, 0xff, M_PAGES * sizeof(s64));

	for (u64 step = 0; step != steps; step++) {
		unsigned int op = rng_below(&m.rng, 100);

		if (op < 20)
			m_map(&m);
		else if (op < 30)
			m_unmap(&m);
		else if (op < 50)
			m_mark(&m);
		else if (op < 70)
			m_mark_bitmap(&m);
		else if (op < 73) {
			m.tracking = !m.tracking;
			ASSERT_EQ(0, iommu_set_dirty_tracking(m.d, m.tracking));
		} else {
			m_read(&m);
		}
		if (step % 8 == 0 || step + 1 == steps)
			m_check(&m);
		test_progress();
	}
	while (m.nmaps)
		m_unmap(&m);
	m_check(&m);
	ASSERT_EQ(0, stats_of(m.d).dirty_chunks);
	TH_LOG("%llu huge entries, %llu cut, %llu reads with bits, %llu carries",
	       (unsigned long long)m.huge_entries,
	       (unsigned long long)m.cut_entries,
	       (unsigned long long)m.reads_with_bits,
	       (unsigned long long)m.carries);
	ASSERT_GT(m.reads_with_bits, steps / 200);
	ASSERT_GT(m.carries, 0);
	/* Cuts are rarer; unmap_cutting_a_huge_entry covers them for sure. */
	if (m.huge)
		ASSERT_GT(m.huge_entries, 0);
	iommu_domain_free(m.d);
	free(m.ent_first);
	free(m.ent_last);
	free(m.dirty);
	free(m.scratch);
}

TEST(random_against_model_small_entries)
{
	dirty_model_run(MOCK_DOMAIN_DIRTY_TRACKING, MOCK_APERTURE_START + 0x100000,
			test_iterations(20000));
}

TEST(random_against_model_huge_pages)
{
	dirty_model_run(MOCK_DOMAIN_DIRTY_TRACKING | MOCK_DOMAIN_HUGE_PAGES,
			MOCK_APERTURE_START, test_iterations(20000));
}

TEST(random_against_model_iommupt_huge)
{
	dirty_model_run(MOCK_DOMAIN_DIRTY_TRACKING | MOCK_DOMAIN_IOMMUPT_HUGE,
			0, test_iterations(20000));
}
