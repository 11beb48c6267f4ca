// SPDX-License-Identifier: MIT
/*
 * Dirty tracking on an io_pagetable: iopt_set_dirty_tracking() and
 * iopt_read_and_clear_dirty() with its bitmap writer.
 *
 * A randomized differential run keeps a per-IO-page model of every
 * attached dirty-capable domain: random maps (some placed so huge entries
 * can form) and unmaps of user memory, random marks as a device's writes
 * would make them, reads with and without clearing at bitmap page sizes
 * from the IO page to 2 MiB, over area boundaries and over holes, into
 * bitmaps at odd byte offsets with random bits already set and guard bytes
 * around them, through windows from a few bytes to the default. After each
 * step the model and the domains must agree on every bit, and each read on
 * every bit of the bitmap. The model learns an entry's extent when it marks
 * it, and checks that a huge one really is a whole, aligned, contiguously
 * mapped block of one area.
 *
 * Named tests cover the range checks, refusals that change nothing (holes,
 * an unwritable bitmap, a domain that cannot track), the carry of a huge
 * entry across windows, and a bitmap that fails part way.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/err_reason.h"
#include "base/overflow.h"
#include "domains/mock_domain.h"
#include "harness/rng.h"
#include "harness/test.h"
#include "iopt/dirty.h"
#include "iopt/io_pagetable.h"
#include "iopt/pages.h"
#include "iopt/pfn_batch.h"

#define IOP MOCK_IO_PAGE_SIZE
#define HUGE MOCK_HUGE_PAGE_SIZE
#define RW (IOMMU_READ | IOMMU_WRITE)
#define BUF_SIZE (16ULL << 20)
/* The IOVA the tests use: 64 MiB from 32 MiB, inside every aperture. */
#define WIN_BASE (32ULL << 20)
#define WIN_SIZE (64ULL << 20)
#define WIN_PAGES (WIN_SIZE / IOP)
#define MAX_DOMS 2
#define MAX_AREAS 96
#define GUARD 16

/* The call fails with exactly @err and says why. */
#define ASSERT_FAILS(err, call)                                            \
	do {                                                               \
		int _rc;                                                   \
		err_reason_clear();                                        \
		_rc = (call);                                              \
		if (_rc != (int)(err))                                     \
			TH_LOG("%s: %d (%s)", #call, _rc,                  \
			       err_reason_get() ?: "no reason");           \
		ASSERT_EQ((int)(err), _rc);                                \
		ASSERT_NONNULL(err_reason_get());                          \
	} while (0)

/* ---- a bitmap in plain memory, with failures on demand ---- */

struct mem_sink {
	u8 *bytes;		/* the bitmap: GUARD bytes in */
	u64 len;		/* bytes the bitmap has */
	u64 checked;		/* what check() was asked for */
	int fail_check;
	unsigned int fail_read_at;	/* 1-based call that fails, 0 none */
	unsigned int fail_write_at;
	unsigned int reads, writes;
};

static int sink_check(void *arg, u64 len)
{
	struct mem_sink *s = arg;

	s->checked = len;
	if (s->fail_check)
		return err_reason(-EFAULT, "test sink: check refused");
	if (len > s->len)
		return err_reason(-EFAULT, "test sink: %llu bytes asked, %llu there",
				  (unsigned long long)len,
				  (unsigned long long)s->len);
	return 0;
}

static int sink_read(void *arg, u64 offset, void *buf, size_t len)
{
	struct mem_sink *s = arg;

	ASSERT_LE(offset + len, s->len);
	ASSERT_GT(len, 0);
	if (++s->reads == s->fail_read_at)
		return err_reason(-EFAULT, "test sink: read %u refused",
				  s->reads);
	memcpy(buf, s->bytes + offset, len);
	return 0;
}

static int sink_write(void *arg, u64 offset, const void *buf, size_t len)
{
	struct mem_sink *s = arg;

	ASSERT_LE(offset + len, s->len);
	if (++s->writes == s->fail_write_at)
		return err_reason(-EFAULT, "test sink: write %u refused",
				  s->writes);
	memcpy(s->bytes + offset, buf, len);
	return 0;
}

static struct iopt_dirty_sink sink_of(struct mem_sink *s)
{
	return (struct iopt_dirty_sink){
		.check = sink_check,
		.read = sink_read,
		.write = sink_write,
		.arg = s,
	};
}

static bool bit_of(const u8 *bytes, u64 i)
{
	return bytes[i / 8] >> (i % 8) & 1;
}

/* ---- the world: an IOAS over a user buffer, dirty domains on it ---- */

struct env {
	struct io_pagetable iopt;
	struct iommu_domain *doms[MAX_DOMS];
	unsigned int ndoms;
	void *map;
	size_t map_len;
	u8 *buf;		/* BUF_SIZE, 2 MiB aligned */
};

static void env_init(struct env *e, const unsigned int *flags,
		     unsigned int ndoms)
{
	memset(e, 0, sizeof(*e));
	iopt_init_table(&e->iopt);
	e->map_len = BUF_SIZE + (2ULL << 20);
	e->map = mmap(NULL, e->map_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, e->map);
	e->buf = (u8 *)(((uintptr_t)e->map + (2ULL << 20) - 1) &
			~(uintptr_t)((2ULL << 20) - 1));
	for (unsigned int i = 0; i != ndoms; i++) {
		e->doms[i] = mock_domain_alloc(flags[i]);
		ASSERT_NONNULL(e->doms[i]);
		ASSERT_EQ(0, iopt_table_add_domain(&e->iopt, e->doms[i]));
	}
	e->ndoms = ndoms;
}

static void env_destroy(struct env *e)
{
	u64 unmapped;

	ASSERT_EQ(0, iopt_unmap_all(&e->iopt, &unmapped));
	for (unsigned int i = 0; i != e->ndoms; i++) {
		struct mock_domain_stats st;

		mock_domain_get_stats(e->doms[i], &st);
		ASSERT_EQ(0, st.dirty_io_pages);
		ASSERT_EQ(0, st.dirty_chunks);
		iopt_table_remove_domain(&e->iopt, e->doms[i]);
		iommu_domain_free(e->doms[i]);
	}
	iopt_destroy_table(&e->iopt);
	munmap(e->map, e->map_len);
	iopt_set_temp_memory_limit(0);
}

static int map_at(struct env *e, u64 iova, u64 off, u64 len)
{
	return iopt_map_user_pages(&e->iopt, &iova, (uintptr_t)e->buf + off,
				   len, RW, 0, IOPT_PAGES_ACCOUNT_NONE);
}

static u64 dom_dirty(struct iommu_domain *d)
{
	struct mock_domain_stats st;

	mock_domain_get_stats(d, &st);
	return st.dirty_io_pages;
}

/* A read into @s, made @len bytes (+ guards) with @fill in every byte. */
static void sink_init(struct mem_sink *s, u64 len, u8 fill)
{
	memset(s, 0, sizeof(*s));
	s->len = len;
	s->bytes = malloc(len + 2 * GUARD);
	ASSERT_NONNULL(s->bytes);
	memset(s->bytes, fill, len + 2 * GUARD);
	s->bytes += GUARD;
}

static void sink_free(struct mem_sink *s)
{
	free(s->bytes - GUARD);
}

static int rd(struct env *e, unsigned int d, u64 iova, u64 len,
	      u64 page_size, unsigned int flags, struct mem_sink *s)
{
	struct iopt_dirty_sink sink = sink_of(s);

	return iopt_read_and_clear_dirty(&e->iopt, e->doms[d], iova, len,
					 page_size, flags, &sink);
}

/* ---- named tests ---- */

TEST(range_checks_in_the_kernels_order)
{
	static const unsigned int flags[] = { MOCK_DOMAIN_DIRTY_TRACKING };
	struct env e;
	u64 last;

	env_init(&e, flags, 1);
	ASSERT_EQ(IOP, iopt_iova_alignment(&e.iopt));
	ASSERT_EQ(0, iopt_check_dirty_range(&e.iopt, WIN_BASE, IOP, IOP,
					    &last));
	ASSERT_EQ(WIN_BASE + IOP - 1, last);
	/* iova + length - 1 wraps: before anything else. */
	ASSERT_FAILS(-EOVERFLOW, iopt_check_dirty_range(&e.iopt, 2, U64_MAX,
							0, &last));
	ASSERT_FAILS(-EOVERFLOW, iopt_check_dirty_range(&e.iopt, IOP, 0, 0,
							&last));
	ASSERT_FAILS(-EINVAL, iopt_check_dirty_range(&e.iopt, 0, 0, IOP,
						     &last));
	/* The IOAS's alignment, then page size 0, then the page size's. */
	ASSERT_FAILS(-EINVAL, iopt_check_dirty_range(&e.iopt, WIN_BASE + 1,
						     IOP, 0, &last));
	ASSERT_FAILS(-EINVAL, iopt_check_dirty_range(&e.iopt, WIN_BASE,
						     IOP + 1, 0, &last));
	ASSERT_FAILS(-EINVAL, iopt_check_dirty_range(&e.iopt, WIN_BASE, IOP,
						     0, &last));
	ASSERT_FAILS(-EINVAL, iopt_check_dirty_range(&e.iopt, WIN_BASE + IOP,
						     IOP, 2 * IOP, &last));
	ASSERT_FAILS(-EINVAL, iopt_check_dirty_range(&e.iopt, WIN_BASE,
						     3 * IOP, 2 * IOP, &last));
	/* The kernel's mask test: page size 3 * IOP needs bit 11 clear. */
	ASSERT_EQ(0, iopt_check_dirty_range(&e.iopt, WIN_BASE, 4 * IOP,
					    3 * IOP, &last));
	ASSERT_FAILS(-EINVAL, iopt_check_dirty_range(&e.iopt, WIN_BASE + IOP,
						     IOP, 3 * IOP, &last));
	/* A range to the very top is fine as far as these checks go. */
	ASSERT_EQ(0, iopt_check_dirty_range(&e.iopt, U64_MAX - IOP + 1, IOP,
					    IOP, &last));
	ASSERT_EQ(U64_MAX, last);
	env_destroy(&e);
}

TEST(refusals_change_nothing)
{
	static const unsigned int flags[] = { MOCK_DOMAIN_DIRTY_TRACKING };
	struct iommu_domain *plain = mock_domain_alloc(0);
	struct mem_sink s;
	struct env e;

	ASSERT_NONNULL(plain);
	env_init(&e, flags, 1);
	ASSERT_EQ(0, iopt_table_add_domain(&e.iopt, plain));
	e.doms[e.ndoms++] = plain;	/* env_destroy() detaches and frees it */
	ASSERT_EQ(0, map_at(&e, WIN_BASE, 0, 0x10000));
	ASSERT_EQ(0, map_at(&e, WIN_BASE + 0x20000, 0x20000, 0x10000));
	ASSERT_EQ(0, mock_domain_set_dirty(e.doms[0], WIN_BASE + 0x800));
	ASSERT_EQ(0, mock_domain_set_dirty(e.doms[0], WIN_BASE + 0x20000));
	sink_init(&s, 64, 0xa5);

	/* A hole between the two areas. */
	ASSERT_FAILS(-EINVAL, rd(&e, 0, WIN_BASE, 0x30000, IOP, 0, &s));
	ASSERT_FAILS(-EINVAL, rd(&e, 0, WIN_BASE + 0x10000, IOP, IOP, 0, &s));
	ASSERT_FAILS(-EINVAL, rd(&e, 0, WIN_BASE - IOP, 2 * IOP, IOP, 0, &s));
	/* A bitmap that cannot be written. */
	s.fail_check = 1;
	ASSERT_FAILS(-EFAULT, rd(&e, 0, WIN_BASE, 0x10000, IOP, 0, &s));
	ASSERT_EQ(32 / 8, s.checked);
	s.fail_check = 0;
	/* Unknown flags (the ABI refuses them before the engine). */
	ASSERT_FAILS(-EINVAL, rd(&e, 0, WIN_BASE, 0x10000, IOP, 2, &s));
	/* A domain that cannot track, after the range checks. */
	ASSERT_FAILS(-EOPNOTSUPP, rd(&e, 1, WIN_BASE, 0x10000, IOP, 0, &s));
	ASSERT_FAILS(-EINVAL, rd(&e, 1, WIN_BASE, 0x10000, 0, 0, &s));
	ASSERT_FAILS(-EOPNOTSUPP,
		     iopt_set_dirty_tracking(&e.iopt, plain, true));

	ASSERT_EQ(0, s.reads + s.writes);
	for (int i = -GUARD; i != 64 + GUARD; i++)
		ASSERT_EQ(0xa5, s.bytes[i]);
	ASSERT_EQ(2, dom_dirty(e.doms[0]));

	/* And the reads that work: only the two bits are added. */
	memset(s.bytes, 0, 64);
	ASSERT_EQ(0, rd(&e, 0, WIN_BASE, 0x10000, IOP, 0, &s));
	ASSERT_EQ(0x2, s.bytes[0]);
	ASSERT_EQ(0, rd(&e, 0, WIN_BASE + 0x20000, 0x10000, IOP, 0, &s));
	ASSERT_EQ(0x3, s.bytes[0]);
	for (int i = 1; i != 64; i++)
		ASSERT_EQ(0, s.bytes[i]);
	ASSERT_EQ(0, dom_dirty(e.doms[0]));
	sink_free(&s);
	env_destroy(&e);
}

TEST(enabling_tracking_starts_clean)
{
	static const unsigned int flags[] = { MOCK_DOMAIN_DIRTY_TRACKING,
					      MOCK_DOMAIN_DIRTY_TRACKING };
	struct env e;

	env_init(&e, flags, 2);
	ASSERT_EQ(0, map_at(&e, WIN_BASE, 0, 0x40000));
	ASSERT_EQ(0, map_at(&e, WIN_BASE + 0x100000, 0, 0x40000));
	for (unsigned int d = 0; d != 2; d++) {
		ASSERT_EQ(0, mock_domain_set_dirty(e.doms[d], WIN_BASE));
		ASSERT_EQ(0, mock_domain_set_dirty(e.doms[d],
						   WIN_BASE + 0x13ffff));
	}
	ASSERT_EQ(0, iopt_set_dirty_tracking(&e.iopt, e.doms[0], true));
	ASSERT_TRUE(mock_domain_dirty_tracking(e.doms[0]));
	ASSERT_EQ(0, dom_dirty(e.doms[0]));
	/* The other domain's state is its own. */
	ASSERT_EQ(2, dom_dirty(e.doms[1]));
	ASSERT_FALSE(mock_domain_dirty_tracking(e.doms[1]));
	/* Enabling again clears again, as the kernel does; disabling not. */
	ASSERT_EQ(0, mock_domain_set_dirty(e.doms[0], WIN_BASE));
	ASSERT_EQ(0, iopt_set_dirty_tracking(&e.iopt, e.doms[0], false));
	ASSERT_EQ(1, dom_dirty(e.doms[0]));
	ASSERT_EQ(0, iopt_set_dirty_tracking(&e.iopt, e.doms[0], true));
	ASSERT_EQ(0, mock_domain_set_dirty(e.doms[0], WIN_BASE));
	ASSERT_EQ(1, dom_dirty(e.doms[0]));
	ASSERT_EQ(0, iopt_set_dirty_tracking(&e.iopt, e.doms[0], true));
	ASSERT_EQ(0, dom_dirty(e.doms[0]));
	ASSERT_TRUE(mock_domain_dirty_tracking(e.doms[0]));
	ASSERT_EQ(0, mock_domain_set_dirty(e.doms[1], WIN_BASE + 0x800));
	ASSERT_EQ(0, iopt_set_dirty_tracking(&e.iopt, e.doms[1], false));
	ASSERT_EQ(3, dom_dirty(e.doms[1]));
	ASSERT_EQ(0, iopt_set_dirty_tracking(&e.iopt, e.doms[1], true));
	ASSERT_EQ(0, dom_dirty(e.doms[1]));
	env_destroy(&e);
}

/*
 * A huge entry read through windows of 128 bits at 4 KiB a bit: it spans
 * three windows, is cleared while the first is read, and still sets
 * every one of its 256 bits.
 */
TEST(a_huge_entry_reaches_across_windows)
{
	static const unsigned int flags[] = {
		MOCK_DOMAIN_DIRTY_TRACKING | MOCK_DOMAIN_IOMMUPT_HUGE,
	};
	u64 blk = WIN_BASE + HUGE;
	struct mem_sink s;
	struct env e;

	env_init(&e, flags, 1);
	/* IOVA and memory alike 1 MiB aligned: huge entries. */
	ASSERT_EQ(0, map_at(&e, WIN_BASE, 0, 4 * HUGE));
	ASSERT_EQ(0, mock_domain_set_dirty(e.doms[0], blk + 0x1234));
	ASSERT_EQ(HUGE / IOP, dom_dirty(e.doms[0]));
	iopt_set_temp_memory_limit(16);
	for (int pass = 0; pass != 2; pass++) {
		sink_init(&s, (128 + 256 + 128) / 8, 0);
		ASSERT_EQ(0, rd(&e, 0, blk - 0x80000, 2 * HUGE, PAGE_SIZE,
				pass ? 0 : IOMMU_DIRTY_NO_CLEAR, &s));
		ASSERT_EQ(512 / 8, s.checked);
		for (u64 i = 0; i != 512; i++)
			ASSERT_EQ(i >= 128 && i < 384, bit_of(s.bytes, i));
		ASSERT_EQ(4, s.reads);
		sink_free(&s);
	}
	ASSERT_EQ(0, dom_dirty(e.doms[0]));
	env_destroy(&e);
}

TEST(a_bitmap_failing_part_way_keeps_what_it_did_not_reach)
{
	static const unsigned int flags[] = { MOCK_DOMAIN_DIRTY_TRACKING };
	struct mem_sink s;
	struct env e;

	env_init(&e, flags, 1);
	ASSERT_EQ(0, map_at(&e, WIN_BASE, 0, 0x100000));
	/* Every 16th IO page: 32 of 512. */
	for (u64 i = 0; i != 512; i += 16)
		ASSERT_EQ(0, mock_domain_set_dirty(e.doms[0],
						   WIN_BASE + i * IOP));
	iopt_set_temp_memory_limit(16);	/* 128 bits a window */
	sink_init(&s, 64, 0);
	s.fail_read_at = 3;
	ASSERT_FAILS(-EFAULT, rd(&e, 0, WIN_BASE, 0x100000, IOP, 0, &s));
	/* Windows 0 and 1 went through; 2 and 3 are untouched. */
	ASSERT_EQ(16, dom_dirty(e.doms[0]));
	for (u64 i = 0; i != 512; i++)
		ASSERT_EQ(i < 256 && i % 16 == 0, bit_of(s.bytes, i));
	/* The rest comes out on the next read. */
	s.fail_read_at = 0;
	ASSERT_EQ(0, rd(&e, 0, WIN_BASE, 0x100000, IOP, 0, &s));
	for (u64 i = 0; i != 512; i++)
		ASSERT_EQ(i % 16 == 0, bit_of(s.bytes, i));
	ASSERT_EQ(0, dom_dirty(e.doms[0]));
	/* A clean window is read but not written back. */
	s.reads = s.writes = 0;
	ASSERT_EQ(0, mock_domain_set_dirty(e.doms[0], WIN_BASE));
	ASSERT_EQ(0, rd(&e, 0, WIN_BASE, 0x100000, IOP, 0, &s));
	ASSERT_EQ(4, s.reads);
	ASSERT_EQ(1, s.writes);
	sink_free(&s);
	env_destroy(&e);
}

TEST(bits_are_only_ever_set_and_no_byte_past_the_bitmap_moves)
{
	static const unsigned int flags[] = { MOCK_DOMAIN_DIRTY_TRACKING };
	struct mem_sink s;
	struct env e;

	env_init(&e, flags, 1);
	ASSERT_EQ(0, map_at(&e, WIN_BASE, 0, 0x10000));
	ASSERT_EQ(0, mock_domain_set_dirty(e.doms[0], WIN_BASE + 0x2000));
	/* 13 bits: two bytes, the second with 5 bits of the range. */
	sink_init(&s, 2, 0xff);
	s.bytes[0] = 0x01;
	s.bytes[1] = 0xe0;
	ASSERT_EQ(0, rd(&e, 0, WIN_BASE, 13 * 0x800, 0x800, 0, &s));
	ASSERT_EQ(2, s.checked);
	ASSERT_EQ(0x11, s.bytes[0]);
	ASSERT_EQ(0xe0, s.bytes[1]);
	for (int i = 0; i != GUARD; i++) {
		ASSERT_EQ(0xff, s.bytes[-1 - i]);
		ASSERT_EQ(0xff, s.bytes[2 + i]);
	}
	sink_free(&s);
	env_destroy(&e);
}

/* ---- the randomized model ---- */

struct m_area {
	u64 iova, len, off;	/* off: into the user buffer */
};

struct m_dom {
	s64 *ent_first, *ent_last;	/* per IO page of the window, -1 */
	u8 *dirty;
};

struct model {
	struct env e;
	struct rng rng;
	u64 align;
	struct m_area areas[MAX_AREAS];
	unsigned int nareas;
	struct m_dom dom[MAX_DOMS];
	u64 *peek;
	u64 huge_entries, reads, bits_seen, holes, windows, reads_ok;
	u64 huge_reads;
};

static u64 pg(u64 iova)
{
	return (iova - WIN_BASE) / IOP;
}

static u64 iova_of(u64 page)
{
	return WIN_BASE + page * IOP;
}

static int m_area_at(const struct model *m, u64 iova)
{
	for (unsigned int i = 0; i != m->nareas; i++)
		if (iova >= m->areas[i].iova &&
		    iova - m->areas[i].iova < m->areas[i].len)
			return i;
	return -1;
}

static bool m_overlaps(const struct model *m, u64 iova, u64 len)
{
	for (unsigned int i = 0; i != m->nareas; i++)
		if (iova < m->areas[i].iova + m->areas[i].len &&
		    m->areas[i].iova < iova + len)
			return true;
	return false;
}

static void m_map(struct model *m)
{
	u64 len, iova, off;
	int rc;

	if (m->nareas == MAX_AREAS)
		return;
	len = (1 + rng_below(&m->rng, rng_chance(&m->rng, 1, 2) ?
						 3 * HUGE / m->align :
						 64)) *
	      m->align;
	len = min(len, BUF_SIZE / 2);
	off = rng_below(&m->rng, (BUF_SIZE - len) / m->align + 1) * m->align;
	iova = WIN_BASE + rng_below(&m->rng, (WIN_SIZE - len) / m->align + 1) *
				  m->align;
	/* Often IOVA and memory alike in their 1 MiB: huge entries. */
	if (rng_chance(&m->rng, 1, 2)) {
		iova = align_down(iova, HUGE) + off % HUGE;
		if (iova + len > WIN_BASE + WIN_SIZE)
			iova -= HUGE;
	}
	rc = map_at(&m->e, iova, off, len);
	if (m_overlaps(m, iova, len)) {
		ASSERT_EQ(-EEXIST, rc);
		return;
	}
	ASSERT_EQ(0, rc);
	m->areas[m->nareas++] = (struct m_area){ iova, len, off };
}

static void m_forget(struct model *m, u64 iova, u64 len)
{
	for (unsigned int d = 0; d != m->e.ndoms; d++)
		for (u64 p = pg(iova); p != pg(iova + len); p++) {
			m->dom[d].ent_first[p] = m->dom[d].ent_last[p] = -1;
			m->dom[d].dirty[p] = 0;
		}
}

static void m_unmap(struct model *m)
{
	unsigned int i, j;
	u64 unmapped, iova, len;

	if (!m->nareas)
		return;
	i = rng_below(&m->rng, m->nareas);
	iova = m->areas[i].iova;
	len = m->areas[i].len;
	/* Sometimes with the area right after it, in one call. */
	j = m->nareas;
	for (unsigned int k = 0; k != m->nareas; k++)
		if (m->areas[k].iova == iova + len)
			j = k;
	if (j != m->nareas && rng_chance(&m->rng, 1, 2)) {
		len += m->areas[j].len;
		m_forget(m, m->areas[j].iova, m->areas[j].len);
		m->areas[j] = m->areas[--m->nareas];
		if (i == m->nareas)
			i = j;
	}
	ASSERT_EQ(0, iopt_unmap_iova(&m->e.iopt, iova, len, &unmapped));
	ASSERT_EQ(len, unmapped);
	m_forget(m, m->areas[i].iova, m->areas[i].len);
	m->areas[i] = m->areas[--m->nareas];
}

/* A huge entry must be a whole aligned block, one area, contiguous. */
static void m_check_huge(struct model *m, struct iommu_domain *d, u64 first)
{
	int a = m_area_at(m, first);
	u64 paddr;

	ASSERT_EQ(0, first % HUGE);
	ASSERT_GE(a, 0);
	ASSERT_LE(first + HUGE, m->areas[a].iova + m->areas[a].len);
	ASSERT_EQ(HUGE, iommu_iova_to_phys_run(d, first, HUGE, &paddr));
	ASSERT_EQ(0, paddr % HUGE);
	m->huge_entries++;
}

static void m_mark(struct model *m)
{
	/* The last domain (huge entries, if any) more often. */
	unsigned int d = rng_chance(&m->rng, 2, 3) ? m->e.ndoms - 1 :
		rng_below(&m->rng, m->e.ndoms);
	struct iommu_domain *dom = m->e.doms[d];
	struct m_dom *md = &m->dom[d];
	u64 iova, p, blk, before[HUGE / IOP / 64], after[HUGE / IOP / 64];
	s64 first = -1, last = -1;
	int rc;

	if (m->nareas && rng_chance(&m->rng, 7, 8)) {
		struct m_area *a = &m->areas[rng_below(&m->rng, m->nareas)];

		iova = a->iova + rng_below(&m->rng, a->len);
	} else {
		iova = WIN_BASE + rng_below(&m->rng, WIN_SIZE);
	}
	p = pg(iova);
	blk = align_down(iova, HUGE);
	mock_domain_dirty_peek(dom, blk, HUGE / IOP, before);
	rc = mock_domain_set_dirty(dom, iova);
	mock_domain_dirty_peek(dom, blk, HUGE / IOP, after);
	if (m_area_at(m, iova) < 0) {
		ASSERT_EQ(-ENOENT, rc);
		ASSERT_EQ(0, memcmp(before, after, sizeof(before)));
		return;
	}
	ASSERT_EQ(0, rc);
	if (md->dirty[p]) {
		ASSERT_EQ(0, memcmp(before, after, sizeof(before)));
		return;
	}
	/* Learn the entry: the IO pages that just became dirty. */
	for (u64 i = 0; i != HUGE / IOP; i++) {
		bool was = before[i / 64] >> (i % 64) & 1;
		bool is = after[i / 64] >> (i % 64) & 1;

		ASSERT_TRUE(!was || is);
		if (was == is)
			continue;
		if (first < 0)
			first = pg(blk) + i;
		ASSERT_EQ(last < 0 ? (s64)(pg(blk) + i) : last + 1,
			  (s64)(pg(blk) + i));
		last = pg(blk) + i;
	}
	ASSERT_LE(first, (s64)p);
	ASSERT_GE(last, (s64)p);
	if (last - first + 1 == HUGE / IOP) {
		m_check_huge(m, dom, iova_of(first));
	} else {
		u64 n = iommu_domain_min_pgsize(dom) / IOP;

		ASSERT_EQ(n, last - first + 1);
		ASSERT_EQ(0, first % n);
	}
	for (s64 q = first; q <= last; q++) {
		md->ent_first[q] = first;
		md->ent_last[q] = last;
		md->dirty[q] = 1;
	}
}

/*
 * A range to read: mostly covered by areas back to back (one area, or a
 * run of adjacent ones), sometimes anywhere. Its page size is a power of
 * two from the IO page to 2 MiB, and it is aligned as the read requires.
 */
static void m_pick_range(struct model *m, u64 *iova, u64 *len,
			 u64 *page_size)
{
	u64 first, end, a, lo, hi;

	*page_size = IOP << rng_below(&m->rng, 11);
	if (m->nareas && rng_chance(&m->rng, 7, 8)) {
		struct m_area *ar = &m->areas[rng_below(&m->rng, m->nareas)];
		int next;

		/* [first, end): one area or a run of adjacent ones. */
		first = ar->iova;
		end = ar->iova + ar->len;
		while ((next = m_area_at(m, end)) >= 0 &&
		       rng_chance(&m->rng, 2, 3))
			end += m->areas[next].len;
		/* The page size shrinks until an aligned range fits. */
		for (;;) {
			a = max(*page_size, m->align);
			lo = align_down(first + a - 1, a);
			hi = align_down(end, a);
			if (lo < hi || a == m->align)
				break;
			*page_size /= 2;
		}
		*iova = lo + rng_below(&m->rng, (hi - lo) / a) * a;
		*len = (1 + rng_below(&m->rng, (hi - *iova) / a)) * a;
		return;
	}
	/* Anywhere: mostly over holes. */
	a = max(*page_size, m->align);
	first = align_down(WIN_BASE + rng_below(&m->rng, WIN_SIZE), a);
	*iova = max(first, (u64)WIN_BASE);
	*len = min((1 + rng_below(&m->rng, 4 * HUGE / a)) * a,
		   WIN_BASE + WIN_SIZE - *iova);
}

/*
 * A dirty huge entry of the last domain, read with clearing through small
 * windows that cut it: what the carry is for. False if there is none.
 */
static bool m_pick_huge(struct model *m, unsigned int *d, u64 *iova,
			u64 *len, u64 *page_size)
{
	struct m_dom *md = &m->dom[m->e.ndoms - 1];
	u64 start = rng_below(&m->rng, WIN_PAGES);

	for (u64 i = 0; i != WIN_PAGES; i++) {
		u64 p = (start + i) % WIN_PAGES;

		if (!md->dirty[p] ||
		    md->ent_last[p] - md->ent_first[p] + 1 != HUGE / IOP)
			continue;
		*d = m->e.ndoms - 1;
		*page_size = PAGE_SIZE << rng_below(&m->rng, 3);
		/* From inside the entry or before it, to inside or past. */
		*iova = iova_of(md->ent_first[p]) +
			(rng_below(&m->rng, 5) - 2) * (HUGE / 4);
		*len = HUGE / 4 * (1 + rng_below(&m->rng, 6));
		return true;
	}
	return false;
}

static void m_read(struct model *m)
{
	static const size_t limits[] = { 0, 16, 24, 40, 64, 200, 4096 };
	unsigned int d = rng_below(&m->rng, m->e.ndoms);
	struct m_dom *md;
	u64 iova, len, page_size, nbits, nbytes, shift;
	unsigned int flags = rng_chance(&m->rng, 1, 3) ? IOMMU_DIRTY_NO_CLEAR :
							 0;
	unsigned int offset = 1 + rng_below(&m->rng, 7);
	size_t limit = limits[rng_below(&m->rng, ARRAY_SIZE(limits))];
	bool covered = true;
	struct mem_sink s;
	u8 *want, *before;
	int rc;

	if (rng_chance(&m->rng, 1, 5) &&
	    m_pick_huge(m, &d, &iova, &len, &page_size)) {
		flags = 0;
		limit = 16 + 8 * rng_below(&m->rng, 3);
		m->huge_reads++;
	} else {
		m_pick_range(m, &iova, &len, &page_size);
	}
	md = &m->dom[d];
	shift = __builtin_ctzll(page_size);
	nbits = len >> shift;
	nbytes = nbits / 8 + !!(nbits % 8);
	for (u64 x = iova; x < iova + len;) {
		int a = m_area_at(m, x);

		if (a < 0) {
			covered = false;
			break;
		}
		x = m->areas[a].iova + m->areas[a].len;
	}
	iopt_set_temp_memory_limit(limit);

	/* The bitmap at an odd offset, random bits already in it. */
	sink_init(&s, nbytes + offset, 0);
	for (u64 i = 0; i != nbytes + offset; i++)
		s.bytes[i] = rng_next(&m->rng);
	s.bytes += offset;
	s.len = nbytes;
	before = malloc(nbytes + 2 * GUARD);
	want = malloc(nbytes);
	ASSERT_NONNULL(before);
	ASSERT_NONNULL(want);
	memcpy(before, s.bytes - GUARD, nbytes + 2 * GUARD);
	memcpy(want, s.bytes, nbytes);

	rc = rd(&m->e, d, iova, len, page_size, flags, &s);
	m->reads++;
	if (!covered) {
		ASSERT_EQ(-EINVAL, rc);
		ASSERT_EQ(0, s.reads + s.writes);
		ASSERT_EQ(0, memcmp(before, s.bytes - GUARD,
				    nbytes + 2 * GUARD));
		m->holes++;
		goto out;
	}
	ASSERT_EQ(0, rc);
	ASSERT_EQ(nbytes, s.checked);
	m->windows += s.reads;
	m->reads_ok++;
	for (u64 p = pg(iova); p != pg(iova + len); p++) {
		u64 bit;

		if (!md->dirty[p])
			continue;
		/* IO pages never straddle a bit: both are powers of two. */
		bit = (iova_of(p) - iova) >> shift;
		want[bit / 8] |= 1 << (bit % 8);
		m->bits_seen++;
	}
	for (u64 i = 0; i != nbytes; i++) {
		if (want[i] != s.bytes[i])
			TH_LOG("read %#llx + %#llx at %#llx: byte %llu",
			       (unsigned long long)iova,
			       (unsigned long long)len,
			       (unsigned long long)page_size,
			       (unsigned long long)i);
		ASSERT_EQ(want[i], s.bytes[i]);
	}
	/* Nothing before or after the bitmap moved. */
	ASSERT_EQ(0, memcmp(before, s.bytes - GUARD, GUARD));
	ASSERT_EQ(0, memcmp(before + GUARD + nbytes, s.bytes + nbytes,
			    GUARD));
	if (flags & IOMMU_DIRTY_NO_CLEAR)
		goto out;
	/* Every entry the range touches is clean, whole. */
	for (u64 p = pg(iova); p != pg(iova + len); p++) {
		if (!md->dirty[p])
			continue;
		for (s64 q = md->ent_first[p]; q <= md->ent_last[p]; q++)
			md->dirty[q] = 0;
	}
out:
	s.bytes -= offset;
	sink_free(&s);
	free(before);
	free(want);
}

static void m_tracking(struct model *m)
{
	unsigned int d = rng_below(&m->rng, m->e.ndoms);
	bool enable = rng_chance(&m->rng, 1, 2);

	ASSERT_EQ(0, iopt_set_dirty_tracking(&m->e.iopt, m->e.doms[d],
					     enable));
	if (enable)
		memset(m->dom[d].dirty, 0, WIN_PAGES);
}

static void m_check(struct model *m)
{
	for (unsigned int d = 0; d != m->e.ndoms; d++) {
		u64 count = 0;

		mock_domain_dirty_peek(m->e.doms[d], WIN_BASE, WIN_PAGES,
				       m->peek);
		for (u64 p = 0; p != WIN_PAGES; p++) {
			bool is = m->peek[p / 64] >> (p % 64) & 1;

			if (is != m->dom[d].dirty[p])
				TH_LOG("domain %u, iova %#llx", d,
				       (unsigned long long)iova_of(p));
			ASSERT_EQ(m->dom[d].dirty[p], is);
			count += is;
		}
		ASSERT_EQ(count, dom_dirty(m->e.doms[d]));
	}
}

static void model_run(const unsigned int *flags, unsigned int ndoms,
		      u64 steps)
{
	struct model *m = calloc(1, sizeof(*m));

	ASSERT_NONNULL(m);
	env_init(&m->e, flags, ndoms);
	rng_init(&m->rng, test_seed());
	m->align = iopt_iova_alignment(&m->e.iopt);
	m->peek = calloc(WIN_PAGES / 64, sizeof(u64));
	ASSERT_NONNULL(m->peek);
	for (unsigned int d = 0; d != ndoms; d++) {
		m->dom[d].ent_first = malloc(WIN_PAGES * sizeof(s64));
		m->dom[d].ent_last = malloc(WIN_PAGES * sizeof(s64));
		m->dom[d].dirty = calloc(WIN_PAGES, 1);
		ASSERT_NONNULL(m->dom[d].ent_first);
		ASSERT_NONNULL(m->dom[d].ent_last);
		ASSERT_NONNULL(m->dom[d].dirty);
		memset(m->dom[d].ent_first, 0xff, WIN_PAGES * sizeof(s64));
		memset(m->dom[d].ent_last, 0xff, WIN_PAGES * sizeof(s64));
	}
	for (u64 step = 0; step != steps; step++) {
		unsigned int op = rng_below(&m->rng, 100);

		if (op < 14)
			m_map(m);
		else if (op < 22)
			m_unmap(m);
		else if (op < 55)
			m_mark(m);
		else if (op < 60)
			for (int i = 0; i != 16; i++)
				m_mark(m);
		else if (op < 63)
			m_tracking(m);
		else
			m_read(m);
		if (step % 4 == 0 || step + 1 == steps)
			m_check(m);
		test_progress();
	}
	TH_LOG("%llu reads (%llu over holes, %llu windows), %llu dirty IO pages read, %llu huge entries",
	       (unsigned long long)m->reads, (unsigned long long)m->holes,
	       (unsigned long long)m->windows,
	       (unsigned long long)m->bits_seen,
	       (unsigned long long)m->huge_entries);
	ASSERT_GT(m->bits_seen, steps / 10);
	ASSERT_GT(m->holes, 0);
	ASSERT_GT(m->windows, m->reads_ok);
	if (ndoms > 1) {
		ASSERT_GT(m->huge_entries, 0);
		ASSERT_GT(m->huge_reads, 0);
	}
	while (m->nareas)
		m_unmap(m);
	m_check(m);
	for (unsigned int d = 0; d != ndoms; d++) {
		free(m->dom[d].ent_first);
		free(m->dom[d].ent_last);
		free(m->dom[d].dirty);
	}
	free(m->peek);
	env_destroy(&m->e);
	free(m);
}

/* One domain of 2 KiB IO pages: areas and reads at 2 KiB granules. */
TEST(random_against_model_one_domain)
{
	static const unsigned int flags[] = { MOCK_DOMAIN_DIRTY_TRACKING };

	model_run(flags, 1, test_iterations(6000));
}

/* With a huge-page domain beside it: 4 KiB granules, 1 MiB entries. */
TEST(random_against_model_two_domains)
{
	static const unsigned int flags[] = {
		MOCK_DOMAIN_DIRTY_TRACKING,
		MOCK_DOMAIN_DIRTY_TRACKING | MOCK_DOMAIN_IOMMUPT_HUGE,
	};

	model_run(flags, 2, test_iterations(6000));
}
