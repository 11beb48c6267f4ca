// SPDX-License-Identifier: MIT
/*
 * The checked IO page table entry points and the mock domain: argument
 * checking, translations, the START/LAST bookkeeping that proves the engine
 * unmaps whole map calls, all-or-nothing maps under fault injection, a
 * differential run against a per-IO-page model, and parallel use.
 */
#include <errno.h>
#include <pthread.h>

#include "base/err_reason.h"
#include "base/fault_inject.h"
#include "base/mem.h"
#include "domains/iommu_domain.h"
#include "domains/mock_domain.h"
#include "harness/rng.h"
#include "harness/test.h"

#define IOP MOCK_IO_PAGE_SIZE
#define HUGE MOCK_HUGE_PAGE_SIZE
#define AP_START MOCK_APERTURE_START
#define AP_LAST MOCK_APERTURE_LAST
#define RW (IOMMU_READ | IOMMU_WRITE)

#define ASSERT_STATS_EQ(want, got)                                        \
	do {                                                                \
		ASSERT_EQ((want).io_pages, (got).io_pages);                 \
		ASSERT_EQ((want).map_calls, (got).map_calls);               \
		ASSERT_EQ((want).unmap_calls, (got).unmap_calls);           \
		ASSERT_EQ((want).huge_maps, (got).huge_maps);               \
		ASSERT_EQ((want).unmap_splits_map, (got).unmap_splits_map); \
		ASSERT_EQ((want).unmap_not_mapped, (got).unmap_not_mapped); \
		ASSERT_EQ((want).map_over_mapped, (got).map_over_mapped);   \
	} while (0)

/* ASSERT_EQ naming the table case @i when it fails; each side runs once. */
#define ASSERT_EQ_CASE(i, e, s)                                           \
	do {                                                                \
		__typeof__(e) _case_e = (e);                                \
		__typeof__(s) _case_s = (s);                                \
		if (_case_e != _case_s)                                     \
			TH_LOG("in case %u", (unsigned int)(i));            \
		ASSERT_EQ(_case_e, _case_s);                                \
	} while (0)

static struct mock_domain_stats stats_of(struct iommu_domain *domain)
{
	struct mock_domain_stats stats;

	mock_domain_get_stats(domain, &stats);
	return stats;
}

/* Translations as mock_domain_for_each() reports them (libc memory). */
struct xlate {
	u64 iova;
	u64 paddr;
	int prot;
};

struct xlate_list {
	struct xlate *v;
	size_t nr;
	size_t cap;
};

static int collect_cb(void *arg, u64 iova, u64 paddr, int prot)
{
	struct xlate_list *l = arg;

	if (l->nr == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (!l->v)
			return -ENOMEM;
	}
	l->v[l->nr++] = (struct xlate){ iova, paddr, prot };
	return 0;
}

static void collect(struct iommu_domain *domain, struct xlate_list *l)
{
	l->v = NULL;
	l->nr = l->cap = 0;
	ASSERT_EQ(0, mock_domain_for_each(domain, 0, U64_MAX, collect_cb, l));
}

static void assert_same_xlates(const struct xlate_list *a,
			       const struct xlate_list *b)
{
	ASSERT_EQ(a->nr, b->nr);
	for (size_t i = 0; i != a->nr; i++) {
		ASSERT_EQ(a->v[i].iova, b->v[i].iova);
		ASSERT_EQ(a->v[i].paddr, b->v[i].paddr);
		ASSERT_EQ(a->v[i].prot, b->v[i].prot);
	}
}

static int count_cb(void *arg, u64 iova, u64 paddr, int prot)
{
	(*(u64 *)arg)++;
	return 0;
}

static u64 count_mapped(struct iommu_domain *domain, u64 first, u64 last)
{
	u64 n = 0;

	ASSERT_EQ(0, mock_domain_for_each(domain, first, last, count_cb, &n));
	return n;
}

/* Every IO page of [iova, iova + size) translates to paddr onward. */
static void assert_mapped(struct iommu_domain *domain, u64 iova, u64 paddr,
			  u64 size, int prot)
{
	for (u64 off = 0; off < size; off += IOP) {
		int got = -1;

		ASSERT_EQ(paddr + off, iommu_iova_to_phys(domain, iova + off));
		ASSERT_EQ(paddr + off + IOP - 1,
			  iommu_iova_to_phys(domain, iova + off + IOP - 1));
		ASSERT_EQ(paddr + off + 7,
			  mock_domain_lookup(domain, iova + off + 7, &got));
		ASSERT_EQ(prot, got);
	}
}

static void assert_unmapped(struct iommu_domain *domain, u64 iova, u64 size)
{
	ASSERT_EQ(0, count_mapped(domain, iova, iova + size - 1));
	for (u64 off = 0; off < size; off += IOP) {
		int prot = -1;

		ASSERT_EQ(0, iommu_iova_to_phys(domain, iova + off));
		ASSERT_EQ(0, mock_domain_lookup(domain, iova + off + 1, &prot));
		ASSERT_EQ(0, prot);
	}
}

FIXTURE(mock)
{
	struct iommu_domain *domain;
};

FIXTURE_VARIANT(mock)
{
	unsigned int flags;
};

FIXTURE_VARIANT_ADD(mock, plain)
{
	.flags = 0,
};

FIXTURE_VARIANT_ADD(mock, huge)
{
	.flags = MOCK_DOMAIN_HUGE_PAGES,
};

FIXTURE_SETUP(mock)
{
	self->domain = mock_domain_alloc(variant->flags);
	ASSERT_NONNULL(self->domain);
}

FIXTURE_TEARDOWN(mock)
{
	iommu_domain_free(self->domain);
}

TEST_F(mock, shape)
{
	struct iommu_domain *domain = self->domain;
	struct mock_domain_stats zero = {};

	ASSERT_TRUE(is_mock_domain(domain));
	ASSERT_EQ(AP_START, domain->aperture_start);
	ASSERT_EQ(AP_LAST, domain->aperture_last);
	ASSERT_NULL(domain->reserved);
	ASSERT_EQ(0, domain->nr_reserved);
	ASSERT_EQ(2048, IOP);
	ASSERT_EQ(IOP, iommu_domain_min_pgsize(domain));
	if (variant->flags & MOCK_DOMAIN_HUGE_PAGES)
		ASSERT_EQ(IOP | HUGE, domain->pgsize_bitmap);
	else
		ASSERT_EQ(IOP, domain->pgsize_bitmap);
	ASSERT_STATS_EQ(zero, stats_of(domain));
	ASSERT_EQ(0, count_mapped(domain, 0, U64_MAX));
}

TEST(alloc_rejects_unknown_flags_and_survives_no_memory)
{
	struct iommu_domain *domain;
	long live = mem_live_count();

	err_reason_clear();
	ASSERT_NULL(mock_domain_alloc(1u << 1));
	ASSERT_NONNULL(err_reason_get());
	ASSERT_NULL(mock_domain_alloc(~0u));

	err_reason_clear();
	fault_fail_nth_set(1);
	domain = mock_domain_alloc(0);
	ASSERT_TRUE(fault_fail_nth_fired());
	ASSERT_NULL(domain);
	ASSERT_NONNULL(err_reason_get());
	ASSERT_EQ(live, mem_live_count());

	ASSERT_FALSE(is_mock_domain(NULL));
	iommu_domain_free(NULL);
}

TEST_F(mock, map_unmap_translate)
{
	struct iommu_domain *domain = self->domain;
	u64 iova = AP_START + 8 * IOP, paddr = 0x123456800ULL;
	struct mock_domain_stats want = {};

	ASSERT_EQ(0, iommu_map(domain, iova, paddr, 3 * IOP, RW));
	want.map_calls = 1;
	want.io_pages = 3;
	ASSERT_STATS_EQ(want, stats_of(domain));

	/* Sub-IO-page offsets carry through, page by page. */
	ASSERT_EQ(paddr, iommu_iova_to_phys(domain, iova));
	ASSERT_EQ(paddr + 1, iommu_iova_to_phys(domain, iova + 1));
	ASSERT_EQ(paddr + IOP - 1, iommu_iova_to_phys(domain, iova + IOP - 1));
	ASSERT_EQ(paddr + IOP, iommu_iova_to_phys(domain, iova + IOP));
	ASSERT_EQ(paddr + 2 * IOP + 0x7ff,
		  iommu_iova_to_phys(domain, iova + 2 * IOP + 0x7ff));
	assert_mapped(domain, iova, paddr, 3 * IOP, RW);
	/* The neighbours stay unmapped. */
	ASSERT_EQ(0, iommu_iova_to_phys(domain, iova - 1));
	ASSERT_EQ(0, iommu_iova_to_phys(domain, iova + 3 * IOP));
	ASSERT_EQ(3, count_mapped(domain, 0, U64_MAX));
	/* Outside the aperture nothing translates (and nothing breaks). */
	ASSERT_EQ(0, iommu_iova_to_phys(domain, 0));
	ASSERT_EQ(0, iommu_iova_to_phys(domain, U64_MAX));

	ASSERT_EQ(3 * IOP, iommu_unmap(domain, iova, 3 * IOP));
	want.unmap_calls = 1;
	want.io_pages = 0;
	ASSERT_STATS_EQ(want, stats_of(domain));
	assert_unmapped(domain, iova, 3 * IOP);

	/* The same IOVA maps again once unmapped. */
	ASSERT_EQ(0, iommu_map(domain, iova, 0, IOP, IOMMU_READ));
	ASSERT_EQ(7, iommu_iova_to_phys(domain, iova + 7));
	ASSERT_EQ(IOP, iommu_unmap(domain, iova, IOP));
}

TEST_F(mock, prot_is_recorded)
{
	struct iommu_domain *domain = self->domain;
	/* 0 too: Linux 6.2's IOAS_COPY could ask for neither. */
	static const int prots[] = { IOMMU_READ, IOMMU_WRITE, RW, 0 };
	int prot;

	for (unsigned int i = 0; i != ARRAY_SIZE(prots); i++)
		ASSERT_EQ(0, iommu_map(domain, AP_START + i * 4 * IOP,
				       (u64)i * 4 * IOP, 4 * IOP, prots[i]));
	for (unsigned int i = 0; i != ARRAY_SIZE(prots); i++) {
		assert_mapped(domain, AP_START + i * 4 * IOP,
			      (u64)i * 4 * IOP, 4 * IOP, prots[i]);
		/* A NULL @prot is allowed. */
		ASSERT_EQ((u64)i * 4 * IOP + 3,
			  mock_domain_lookup(domain, AP_START + i * 4 * IOP + 3,
					     NULL));
	}
	prot = -1;
	ASSERT_EQ(0, mock_domain_lookup(domain, AP_START + 16 * IOP, &prot));
	ASSERT_EQ(0, prot);
	ASSERT_EQ(16 * IOP, iommu_unmap(domain, AP_START, 16 * IOP));
}

/* The IO page is half a CPU page: 2048 alignment is enough, 4096 is not. */
TEST_F(mock, half_cpu_page_alignment)
{
	struct iommu_domain *domain = self->domain;
	u64 iova = AP_START + IOP;

	ASSERT_EQ(0, iommu_map(domain, iova, 0x800, IOP, IOMMU_WRITE));
	ASSERT_EQ(0x800 + 100, iommu_iova_to_phys(domain, iova + 100));
	ASSERT_EQ(0, iommu_iova_to_phys(domain, AP_START));
	ASSERT_EQ(0, iommu_iova_to_phys(domain, iova + IOP));
	/* An odd number of IO pages at an odd IO page. */
	ASSERT_EQ(0, iommu_map(domain, iova + 2 * IOP, 0x1800, 3 * IOP, RW));
	assert_mapped(domain, iova + 2 * IOP, 0x1800, 3 * IOP, RW);
	ASSERT_EQ(IOP, iommu_unmap(domain, iova, IOP));
	ASSERT_EQ(3 * IOP, iommu_unmap(domain, iova + 2 * IOP, 3 * IOP));
	ASSERT_EQ(0, count_mapped(domain, 0, U64_MAX));
}

TEST_F(mock, aperture_edges)
{
	struct iommu_domain *domain = self->domain;
	u64 top = AP_LAST + 1 - IOP;

	/* First and last valid IO page. */
	ASSERT_EQ(0, iommu_map(domain, AP_START, 0x10000, IOP, RW));
	ASSERT_EQ(0, iommu_map(domain, top, 0x20000, IOP, RW));
	ASSERT_EQ(0x10000 + 5, iommu_iova_to_phys(domain, AP_START + 5));
	ASSERT_EQ(0x20000 + IOP - 1, iommu_iova_to_phys(domain, AP_LAST));

	/* One IO page outside each side, alone or straddling the edge. */
	ASSERT_EQ(-EINVAL, iommu_map(domain, AP_START - IOP, 0, IOP, RW));
	ASSERT_EQ(-EINVAL, iommu_map(domain, AP_START - IOP, 0, 2 * IOP, RW));
	ASSERT_EQ(-EINVAL, iommu_map(domain, AP_LAST + 1, 0, IOP, RW));
	ASSERT_EQ(-EINVAL, iommu_map(domain, top, 0, 2 * IOP, RW));
	ASSERT_EQ(0, iommu_unmap(domain, AP_START - IOP, 2 * IOP));
	ASSERT_EQ(0, iommu_unmap(domain, top, 2 * IOP));
	ASSERT_EQ(0, iommu_unmap(domain, AP_LAST + 1, IOP));
	ASSERT_EQ(0, iommu_iova_to_phys(domain, AP_START - IOP));
	ASSERT_EQ(0, iommu_iova_to_phys(domain, AP_LAST + 1));
	ASSERT_EQ(2, stats_of(domain).io_pages);
	ASSERT_EQ(0, stats_of(domain).unmap_calls);

	ASSERT_EQ(IOP, iommu_unmap(domain, AP_START, IOP));
	ASSERT_EQ(IOP, iommu_unmap(domain, top, IOP));

	/* The whole aperture is one valid range. */
	ASSERT_EQ(0, iommu_map(domain, AP_START, 0, AP_LAST - AP_START + 1,
			       IOMMU_READ));
	ASSERT_EQ((AP_LAST - AP_START + 1) / IOP, stats_of(domain).io_pages);
	ASSERT_EQ(top - AP_START, iommu_iova_to_phys(domain, top));
	ASSERT_EQ(AP_LAST - AP_START + 1,
		  iommu_unmap(domain, AP_START, AP_LAST - AP_START + 1));
	ASSERT_EQ(0, stats_of(domain).io_pages);
	ASSERT_EQ(0, stats_of(domain).unmap_splits_map);
}

TEST_F(mock, overflow_near_u64_max)
{
	struct iommu_domain *domain = self->domain;
	u64 top_page = U64_MAX - IOP + 1;
	u64 pfn_max = U64_MAX / IOP * IOP;

	/* The length wraps back to an IOVA inside the aperture. */
	err_reason_clear();
	ASSERT_EQ(-EINVAL, iommu_map(domain, AP_START, 0, top_page, RW));
	ASSERT_NONNULL(err_reason_get());
	ASSERT_NONNULL(strstr(err_reason_get(), "wraps"));
	ASSERT_EQ(-EINVAL, iommu_map(domain, top_page, 0, 2 * IOP, RW));
	ASSERT_EQ(-EINVAL, iommu_map(domain, top_page, 0, IOP, RW));
	ASSERT_EQ(0, iommu_unmap(domain, AP_START, top_page));
	ASSERT_EQ(0, iommu_unmap(domain, top_page, 2 * IOP));

	/* The physical side must not wrap either. */
	ASSERT_EQ(-EINVAL, iommu_map(domain, AP_START, pfn_max, 2 * IOP, RW));
	ASSERT_EQ(0, count_mapped(domain, 0, U64_MAX));

	/* But the very last physical IO page is a valid target. */
	ASSERT_EQ(0, iommu_map(domain, AP_START, pfn_max - IOP, 2 * IOP, RW));
	ASSERT_EQ(U64_MAX, iommu_iova_to_phys(domain, AP_START + 2 * IOP - 1));
	ASSERT_EQ(pfn_max - IOP, iommu_iova_to_phys(domain, AP_START));
	assert_mapped(domain, AP_START, pfn_max - IOP, 2 * IOP, RW);
	ASSERT_EQ(2 * IOP, iommu_unmap(domain, AP_START, 2 * IOP));
	ASSERT_EQ(0, stats_of(domain).io_pages);
}

struct bad_map {
	u64 iova;
	u64 paddr;
	u64 size;
	int prot;
};

static const struct bad_map bad_maps[] = {
	{ AP_START, 0, 0, RW },				/* zero length */
	{ AP_START + 1, 0, IOP, RW },			/* iova */
	{ AP_START + IOP / 2, 0, IOP, RW },
	{ AP_START + IOP + 8, 0, IOP, RW },
	{ AP_START, 1, IOP, RW },			/* paddr */
	{ AP_START, IOP / 2, IOP, RW },
	{ AP_START, 3 * IOP + 16, IOP, RW },
	{ AP_START, 0, 1, RW },				/* size */
	{ AP_START, 0, IOP - 1, RW },
	{ AP_START, 0, IOP + 1, RW },
	{ AP_START, 0, IOP + IOP / 2, RW },
	{ AP_START, 0, 0 - IOP, RW },			/* wraps */
	{ 0 - IOP, 0, 2 * IOP, RW },
	{ AP_START, 0 - IOP, 2 * IOP, RW },
	{ 0, 0, IOP, RW },				/* aperture */
	{ AP_START - IOP, 0, IOP, RW },
	{ AP_START - IOP, 0, 2 * IOP, RW },
	{ AP_LAST + 1, 0, IOP, RW },
	{ AP_LAST + 1 - IOP, 0, 2 * IOP, RW },
	{ AP_START, 0, AP_LAST - AP_START + 1 + IOP, RW },
	{ 0 - IOP, 0, IOP, RW },
	{ AP_START, 0, IOP, 1 << 2 },			/* prot */
	{ AP_START, 0, IOP, RW | 1 << 2 },
	{ AP_START, 0, IOP, IOMMU_READ | 1 << 30 },
	{ AP_START, 0, IOP, -1 },
};

TEST_F(mock, map_einval)
{
	struct iommu_domain *domain = self->domain;
	struct mock_domain_stats zero = {};

	/* Nothing invalid may reach the domain: not even its fail counter. */
	mock_domain_fail_nth_map(domain, 1);
	for (unsigned int i = 0; i != ARRAY_SIZE(bad_maps); i++) {
		const struct bad_map *b = &bad_maps[i];

		err_reason_clear();
		ASSERT_EQ_CASE(i, -EINVAL, iommu_map(domain, b->iova, b->paddr,
						     b->size, b->prot));
		ASSERT_EQ_CASE(i, true, err_reason_get() != NULL);
	}
	ASSERT_STATS_EQ(zero, stats_of(domain));
	ASSERT_EQ(0, count_mapped(domain, 0, U64_MAX));
	/* The reason names the first thing wrong. */
	err_reason_clear();
	ASSERT_EQ(-EINVAL, iommu_map(domain, AP_START, 0, 0, RW));
	ASSERT_NONNULL(err_reason_get());
	ASSERT_NONNULL(strstr(err_reason_get(), "zero length"));
	ASSERT_EQ(-ENOMEM, iommu_map(domain, AP_START, 0, IOP, RW));
	ASSERT_EQ(0, iommu_map(domain, AP_START, 0, IOP, RW));
	ASSERT_EQ(IOP, iommu_unmap(domain, AP_START, IOP));
}

TEST_F(mock, unmap_einval)
{
	struct iommu_domain *domain = self->domain;
	u64 top = AP_LAST + 1 - 4 * IOP;
	struct mock_domain_stats before;
	struct xlate_list a, b;

	ASSERT_EQ(0, iommu_map(domain, AP_START, 0, 4 * IOP, RW));
	ASSERT_EQ(0, iommu_map(domain, top, 0x100000, 4 * IOP, RW));
	before = stats_of(domain);
	collect(domain, &a);
	for (unsigned int i = 0; i != ARRAY_SIZE(bad_maps); i++) {
		const struct bad_map *m = &bad_maps[i];

		if (!m->prot || m->prot & ~RW || m->paddr)
			continue; /* not something unmap checks */
		err_reason_clear();
		ASSERT_EQ_CASE(i, 0, iommu_unmap(domain, m->iova, m->size));
		ASSERT_EQ_CASE(i, true, err_reason_get() != NULL);
	}
	/* Ranges that cover mapped IO pages but are themselves invalid. */
	ASSERT_EQ(0, iommu_unmap(domain, AP_START - IOP, 2 * IOP));
	ASSERT_EQ(0, iommu_unmap(domain, AP_START + 1, IOP));
	ASSERT_EQ(0, iommu_unmap(domain, AP_START, IOP + 1));
	ASSERT_EQ(0, iommu_unmap(domain, top, 5 * IOP));
	ASSERT_EQ(0, iommu_unmap(domain, AP_START, 0 - IOP));
	ASSERT_STATS_EQ(before, stats_of(domain));
	collect(domain, &b);
	assert_same_xlates(&a, &b);
	free(a.v);
	free(b.v);
	ASSERT_EQ(4 * IOP, iommu_unmap(domain, AP_START, 4 * IOP));
	ASSERT_EQ(4 * IOP, iommu_unmap(domain, top, 4 * IOP));
}

/* Unmapping exactly what was mapped, in one call or several at once. */
TEST_F(mock, unmap_whole_maps_is_clean)
{
	struct iommu_domain *domain = self->domain;
	u64 iova = AP_START + 64 * IOP;
	struct mock_domain_stats s;

	ASSERT_EQ(0, iommu_map(domain, iova, 0, IOP, RW));
	ASSERT_EQ(IOP, iommu_unmap(domain, iova, IOP));

	/* Three adjacent calls of 1, 2 and 3 IO pages, unmapped at once. */
	ASSERT_EQ(0, iommu_map(domain, iova, 0x100000, IOP, RW));
	ASSERT_EQ(0, iommu_map(domain, iova + IOP, 0x900000, 2 * IOP, RW));
	ASSERT_EQ(0, iommu_map(domain, iova + 3 * IOP, 0x40000, 3 * IOP, RW));
	ASSERT_EQ(6, stats_of(domain).io_pages);
	ASSERT_EQ(6 * IOP, iommu_unmap(domain, iova, 6 * IOP));

	/* Again, unmapped as the first call, then the other two together. */
	ASSERT_EQ(0, iommu_map(domain, iova, 0x100000, IOP, RW));
	ASSERT_EQ(0, iommu_map(domain, iova + IOP, 0x900000, 2 * IOP, RW));
	ASSERT_EQ(0, iommu_map(domain, iova + 3 * IOP, 0x40000, 3 * IOP, RW));
	ASSERT_EQ(IOP, iommu_unmap(domain, iova, IOP));
	ASSERT_EQ(5 * IOP, iommu_unmap(domain, iova + IOP, 5 * IOP));

	s = stats_of(domain);
	ASSERT_EQ(0, s.io_pages);
	ASSERT_EQ(7, s.map_calls);
	ASSERT_EQ(4, s.unmap_calls);
	ASSERT_EQ(0, s.unmap_splits_map);
	ASSERT_EQ(0, s.unmap_not_mapped);
	ASSERT_EQ(0, s.map_over_mapped);
}

struct split_case {
	u64 first;	/* IO pages relative to the 8-page map */
	u64 nr;
	u64 splits;	/* plain domain; huge domains never count */
	u64 not_mapped;
};

/* One map call of IO pages [2, 9]; unmaps of parts of it. */
static const struct split_case split_cases[] = {
	{ 2, 8, 0, 0 },		/* exact */
	{ 0, 12, 0, 4 },	/* superset: unmapped edges are not splits */
	{ 2, 4, 1, 0 },		/* ends inside */
	{ 6, 4, 1, 0 },		/* begins inside */
	{ 4, 2, 1, 0 },		/* both inside: one bad unmap */
	{ 2, 1, 1, 0 },		/* first page only */
	{ 9, 1, 1, 0 },		/* last page only */
	{ 0, 3, 1, 2 },		/* unmapped head, ends inside */
	{ 9, 3, 1, 2 },		/* begins on the last page, unmapped tail */
	{ 5, 7, 1, 2 },		/* begins inside, unmapped tail */
	{ 2, 10, 0, 2 },	/* begins on START, unmapped tail */
	{ 0, 10, 0, 2 },	/* unmapped head, ends on LAST */
};

TEST_F(mock, unmap_part_of_a_map)
{
	struct iommu_domain *domain = self->domain;
	bool huge = variant->flags & MOCK_DOMAIN_HUGE_PAGES;
	u64 base = AP_START + HUGE;

	for (unsigned int i = 0; i != ARRAY_SIZE(split_cases); i++) {
		const struct split_case *c = &split_cases[i];
		u64 iova = base + c->first * IOP, mapped = 0;
		struct mock_domain_stats before, after;

		ASSERT_EQ(0, iommu_map(domain, base + 2 * IOP, 0x5000000,
				       8 * IOP, RW));
		before = stats_of(domain);
		for (u64 p = c->first; p != c->first + c->nr; p++)
			mapped += p >= 2 && p <= 9;
		ASSERT_EQ_CASE(i, mapped * IOP,
			       iommu_unmap(domain, iova, c->nr * IOP));
		after = stats_of(domain);
		after.unmap_splits_map -= before.unmap_splits_map;
		after.unmap_not_mapped -= before.unmap_not_mapped;
		ASSERT_EQ_CASE(i, huge ? 0 : c->splits, after.unmap_splits_map);
		ASSERT_EQ_CASE(i, c->not_mapped, after.unmap_not_mapped);
		ASSERT_EQ_CASE(i, before.io_pages - mapped, after.io_pages);
		ASSERT_EQ_CASE(i, before.unmap_calls + 1, after.unmap_calls);
		ASSERT_EQ_CASE(i, 0, count_mapped(domain, iova,
						  iova + c->nr * IOP - 1));
		ASSERT_EQ_CASE(i, 8 - mapped, count_mapped(domain, 0, U64_MAX));
		/* Clean up whatever is left (the leftovers split again). */
		iommu_unmap(domain, base, 16 * IOP);
		ASSERT_EQ(0, stats_of(domain).io_pages);
	}
}

/* A remnant of a split map keeps its (now misplaced) lack of tags. */
TEST(remnant_of_split_map_still_splits)
{
	struct iommu_domain *domain = mock_domain_alloc(0);
	u64 iova = AP_START + 100 * IOP;

	ASSERT_NONNULL(domain);
	ASSERT_EQ(0, iommu_map(domain, iova, 0, 4 * IOP, RW));
	ASSERT_EQ(2 * IOP, iommu_unmap(domain, iova, 2 * IOP));
	ASSERT_EQ(1, stats_of(domain).unmap_splits_map);
	ASSERT_EQ(2 * IOP, iommu_unmap(domain, iova + 2 * IOP, 2 * IOP));
	ASSERT_EQ(2, stats_of(domain).unmap_splits_map);
	ASSERT_EQ(0, stats_of(domain).unmap_not_mapped);
	iommu_domain_free(domain);
}

TEST_F(mock, unmap_not_mapped_counts_io_pages)
{
	struct iommu_domain *domain = self->domain;
	struct mock_domain_stats s;

	ASSERT_EQ(0, iommu_unmap(domain, AP_START, 5 * IOP));
	s = stats_of(domain);
	ASSERT_EQ(5, s.unmap_not_mapped);
	ASSERT_EQ(1, s.unmap_calls);
	ASSERT_EQ(0, s.unmap_splits_map);

	/* Holes between two maps: only the holes count. */
	ASSERT_EQ(0, iommu_map(domain, AP_START + IOP, 0, IOP, RW));
	ASSERT_EQ(0, iommu_map(domain, AP_START + 4 * IOP, 0, 2 * IOP, RW));
	ASSERT_EQ(3 * IOP, iommu_unmap(domain, AP_START, 8 * IOP));
	s = stats_of(domain);
	ASSERT_EQ(5 + 5, s.unmap_not_mapped);
	ASSERT_EQ(0, s.unmap_splits_map);
	ASSERT_EQ(0, s.io_pages);
	ASSERT_EQ(2, s.unmap_calls);
}

TEST_F(mock, map_over_mapped_changes_nothing)
{
	struct iommu_domain *domain = self->domain;
	u64 base = AP_START + 64 * IOP;
	/* [first, nr) in IO pages over a map of pages [2, 4] */
	static const u64 over[][2] = {
		{ 0, 3 }, { 4, 3 }, { 3, 1 }, { 0, 10 }, { 2, 3 }, { 1, 2 },
	};
	struct mock_domain_stats before, after;
	struct xlate_list a, b;

	ASSERT_EQ(0, iommu_map(domain, base + 2 * IOP, 0x700000, 3 * IOP,
			       IOMMU_READ));
	before = stats_of(domain);
	collect(domain, &a);
	for (unsigned int i = 0; i != ARRAY_SIZE(over); i++) {
		err_reason_clear();
		ASSERT_EQ(-EEXIST, iommu_map(domain, base + over[i][0] * IOP,
					     0x900000, over[i][1] * IOP, RW));
		ASSERT_NONNULL(err_reason_get());
	}
	after = stats_of(domain);
	before.map_over_mapped += ARRAY_SIZE(over);
	ASSERT_STATS_EQ(before, after);
	collect(domain, &b);
	assert_same_xlates(&a, &b);
	free(a.v);
	free(b.v);
	assert_unmapped(domain, base, 2 * IOP);
	assert_unmapped(domain, base + 5 * IOP, 5 * IOP);
	assert_mapped(domain, base + 2 * IOP, 0x700000, 3 * IOP, IOMMU_READ);

	/* The original map is still whole: its exact unmap is clean. */
	ASSERT_EQ(3 * IOP, iommu_unmap(domain, base + 2 * IOP, 3 * IOP));
	ASSERT_EQ(0, stats_of(domain).unmap_splits_map);
}

TEST_F(mock, huge_maps_need_huge_alignment)
{
	struct iommu_domain *domain = self->domain;
	u64 huge = variant->flags & MOCK_DOMAIN_HUGE_PAGES ? 1 : 0;
	u64 iova = AP_START + 4 * HUGE;

	/* iova, paddr and size all multiples of the huge page. */
	ASSERT_EQ(0, iommu_map(domain, iova, 8 * HUGE, HUGE, RW));
	ASSERT_EQ(huge, stats_of(domain).huge_maps);
	ASSERT_EQ(0, iommu_map(domain, iova + HUGE, 16 * HUGE, 2 * HUGE, RW));
	ASSERT_EQ(2 * huge, stats_of(domain).huge_maps);
	/* Still stored per IO page. */
	ASSERT_EQ(3 * HUGE / IOP, stats_of(domain).io_pages);
	assert_mapped(domain, iova + HUGE, 16 * HUGE, 2 * HUGE, RW);

	/* Any one of the three off the huge alignment: not huge. */
	ASSERT_EQ(0, iommu_map(domain, iova + 4 * HUGE, 8 * HUGE + IOP, HUGE,
			       RW));
	ASSERT_EQ(0, iommu_map(domain, iova + 6 * HUGE + IOP, 8 * HUGE, HUGE,
			       RW));
	ASSERT_EQ(0, iommu_map(domain, iova + 8 * HUGE, 8 * HUGE, HUGE + IOP,
			       RW));
	ASSERT_EQ(0, iommu_map(domain, iova + 10 * HUGE, 8 * HUGE, HUGE / 2,
			       RW));
	ASSERT_EQ(2 * huge, stats_of(domain).huge_maps);
	ASSERT_EQ(6, stats_of(domain).map_calls);

	/* A failed huge map is not counted. */
	ASSERT_EQ(-EEXIST, iommu_map(domain, iova, 8 * HUGE, HUGE, RW));
	ASSERT_EQ(2 * huge, stats_of(domain).huge_maps);

	iommu_unmap(domain, iova, 12 * HUGE);
	ASSERT_EQ(0, stats_of(domain).io_pages);
	ASSERT_EQ(0, count_mapped(domain, 0, U64_MAX));
}

TEST(fail_nth_map_fails_exactly_the_nth)
{
	struct iommu_domain *domain = mock_domain_alloc(0);
	struct mock_domain_stats s;
	long live;

	ASSERT_NONNULL(domain);
	mock_domain_fail_nth_map(domain, 3);
	ASSERT_EQ(0, iommu_map(domain, AP_START, 0, IOP, RW));
	ASSERT_EQ(0, iommu_map(domain, AP_START + IOP, 0, IOP, RW));
	live = mem_live_count();
	err_reason_clear();
	ASSERT_EQ(-ENOMEM, iommu_map(domain, AP_START + 2 * IOP, 0, IOP, RW));
	ASSERT_NONNULL(err_reason_get());
	ASSERT_EQ(live, mem_live_count());
	ASSERT_EQ(0, iommu_iova_to_phys(domain, AP_START + 2 * IOP));
	s = stats_of(domain);
	ASSERT_EQ(2, s.map_calls);
	ASSERT_EQ(2, s.io_pages);
	/* Disarmed once it fired. */
	for (u64 i = 2; i != 10; i++)
		ASSERT_EQ(0, iommu_map(domain, AP_START + i * IOP, 0, IOP, RW));

	/* 0 disarms before it fires. */
	mock_domain_fail_nth_map(domain, 1);
	mock_domain_fail_nth_map(domain, 0);
	ASSERT_EQ(0, iommu_map(domain, AP_START + 10 * IOP, 0, IOP, RW));

	/* Even a map over mapped IOVA is a call that counts down. */
	mock_domain_fail_nth_map(domain, 2);
	ASSERT_EQ(-EEXIST, iommu_map(domain, AP_START, 0, IOP, RW));
	ASSERT_EQ(-ENOMEM, iommu_map(domain, AP_START, 0, IOP, RW));
	ASSERT_EQ(1, stats_of(domain).map_over_mapped);

	/* The domain's counter comes first; the thread's is not consumed. */
	mock_domain_fail_nth_map(domain, 1);
	fault_fail_nth_set(1);
	ASSERT_EQ(-ENOMEM, iommu_map(domain, AP_START + 11 * IOP, 0, IOP, RW));
	ASSERT_FALSE(fault_fail_nth_fired());
	ASSERT_EQ(1, fault_fail_nth_get());
	/* Then the map call is itself a failure point of the thread's. */
	ASSERT_EQ(-ENOMEM, iommu_map(domain, AP_START + 11 * IOP, 0, IOP, RW));
	ASSERT_TRUE(fault_fail_nth_fired());
	ASSERT_EQ(0, iommu_map(domain, AP_START + 11 * IOP, 0, IOP, RW));

	ASSERT_EQ(12, stats_of(domain).io_pages);
	ASSERT_EQ(12, stats_of(domain).map_calls);
	ASSERT_EQ(12 * IOP, iommu_unmap(domain, AP_START, 12 * IOP));
	ASSERT_EQ(0, stats_of(domain).unmap_splits_map);
	iommu_domain_free(domain);
}

/*
 * Fail every failure point of one big map in turn: each failure must leave
 * translations, stats and the allocation count exactly as they were.
 */
static void fault_sweep(u64 pre_iova, u64 pre_size, u64 iova, u64 size)
{
	struct iommu_domain *domain = mock_domain_alloc(0);
	struct mock_domain_stats before, want;
	u64 paddr = 0x40000000000ULL;
	struct xlate_list a, b;
	unsigned int n;
	long live;
	int rc;

	ASSERT_NONNULL(domain);
	if (pre_size)
		ASSERT_EQ(0, iommu_map(domain, pre_iova, 0x800, pre_size,
				       IOMMU_READ));
	before = stats_of(domain);
	live = mem_live_count();
	collect(domain, &a);
	for (n = 1;; n++) {
		bool fired;

		err_reason_clear();
		fault_fail_nth_set(n);
		rc = iommu_map(domain, iova, paddr, size, RW);
		fired = fault_fail_nth_fired();
		fault_fail_nth_set(0);
		if (!fired)
			break;
		ASSERT_EQ(-ENOMEM, rc);
		ASSERT_NONNULL(err_reason_get());
		ASSERT_STATS_EQ(before, stats_of(domain));
		ASSERT_EQ(live, mem_live_count());
		collect(domain, &b);
		assert_same_xlates(&a, &b);
		free(b.v);
	}
	ASSERT_EQ(0, rc);
	/* Every leaf of the new range was a failure point. */
	ASSERT_GT(n, size / IOP / 64);
	want = before;
	want.map_calls++;
	want.io_pages += size / IOP;
	ASSERT_STATS_EQ(want, stats_of(domain));
	assert_mapped(domain, iova, paddr, size, RW);

	/* Unmapping gives every node back: the store's shape is canonical. */
	ASSERT_EQ(size, iommu_unmap(domain, iova, size));
	ASSERT_EQ(live, mem_live_count());
	collect(domain, &b);
	assert_same_xlates(&a, &b);
	free(a.v);
	free(b.v);
	ASSERT_EQ(0, stats_of(domain).unmap_splits_map);
	iommu_domain_free(domain);
}

TEST(fault_sweep_large_map_into_empty_domain)
{
	fault_sweep(0, 0, AP_START + 3 * IOP, 20000 * IOP);
}

/* Shares a leaf with a mapping and grows the store's root upward. */
TEST(fault_sweep_large_map_next_to_mapped)
{
	u64 size = 20000 * IOP;

	fault_sweep(AP_START, 10 * IOP, AP_LAST + 1 - size - 5 * IOP, size);
	fault_sweep(AP_START, 10 * IOP, AP_START + 10 * IOP, size);
}

TEST_F(mock, for_each_order_range_and_stop)
{
	struct iommu_domain *domain = self->domain;
	/* Mapped out of IOVA order on purpose. */
	static const u64 maps[][2] = { { 300, 2 }, { 5, 3 }, { 64, 1 },
				       { 100, 70 }, { 8, 1 } };
	struct xlate_list l;
	u64 total = 0;

	for (unsigned int i = 0; i != ARRAY_SIZE(maps); i++) {
		ASSERT_EQ(0, iommu_map(domain, AP_START + maps[i][0] * IOP,
				       (1000 + maps[i][0]) * IOP,
				       maps[i][1] * IOP,
				       i & 1 ? IOMMU_READ : RW));
		total += maps[i][1];
	}
	collect(domain, &l);
	ASSERT_EQ(total, l.nr);
	ASSERT_EQ(total, stats_of(domain).io_pages);
	for (size_t i = 0; i != l.nr; i++) {
		u64 page = (l.v[i].iova - AP_START) / IOP;

		ASSERT_EQ(AP_START + page * IOP, l.v[i].iova);
		ASSERT_EQ((1000 + page) * IOP, l.v[i].paddr);
		if (i)
			ASSERT_LT(l.v[i - 1].iova, l.v[i].iova);
	}
	free(l.v);

	/* Bounds are inclusive and a partial IO page counts. */
	ASSERT_EQ(3, count_mapped(domain, AP_START + 5 * IOP,
				  AP_START + 7 * IOP));
	ASSERT_EQ(2, count_mapped(domain, AP_START + 6 * IOP + 100,
				  AP_START + 7 * IOP + 1));
	ASSERT_EQ(3, count_mapped(domain, AP_START + 7 * IOP + 2047,
				  AP_START + 64 * IOP));
	ASSERT_EQ(0, count_mapped(domain, AP_START + 9 * IOP,
				  AP_START + 63 * IOP + 2047));
	ASSERT_EQ(0, count_mapped(domain, AP_START + 64 * IOP, AP_START));
	ASSERT_EQ(1, count_mapped(domain, AP_START + 301 * IOP, U64_MAX));
	ASSERT_EQ(total, iommu_unmap(domain, AP_START, 302 * IOP) / IOP);
}

struct stop_at {
	struct iommu_domain *domain;
	unsigned int calls;
	unsigned int stop;
};

/* Calls back into the domain: for_each must not hold its lock here. */
static int stop_cb(void *arg, u64 iova, u64 paddr, int prot)
{
	struct stop_at *s = arg;
	int got;

	if (mock_domain_lookup(s->domain, iova, &got) != paddr || got != prot)
		return -EIO;
	if (++s->calls == s->stop)
		return 42;
	return 0;
}

TEST_F(mock, for_each_stops_early_and_may_reenter)
{
	struct iommu_domain *domain = self->domain;
	struct stop_at s = { .domain = domain, .stop = 5 };

	ASSERT_EQ(0, iommu_map(domain, AP_START, 0, 10 * IOP, RW));
	ASSERT_EQ(42, mock_domain_for_each(domain, 0, U64_MAX, stop_cb, &s));
	ASSERT_EQ(5, s.calls);
	s.calls = 0;
	s.stop = 100;
	ASSERT_EQ(0, mock_domain_for_each(domain, 0, U64_MAX, stop_cb, &s));
	ASSERT_EQ(10, s.calls);
	ASSERT_EQ(10 * IOP, iommu_unmap(domain, AP_START, 10 * IOP));
}

TEST(free_drops_live_translations)
{
	struct iommu_domain *domain = mock_domain_alloc(MOCK_DOMAIN_HUGE_PAGES);
	long live = mem_live_count();

	ASSERT_NONNULL(domain);
	ASSERT_EQ(0, iommu_map(domain, AP_START, 0, 5000 * IOP, RW));
	ASSERT_EQ(0, iommu_map(domain, AP_LAST + 1 - HUGE, 0, HUGE, RW));
	ASSERT_GT(mem_live_count(), live);
	/* The harness fails the test if any node outlives the domain. */
	iommu_domain_free(domain);
}

/* The core against a domain of its own shape, recording what it is asked. */
struct fake_domain {
	struct iommu_domain domain;
	unsigned int maps, unmaps, frees;
	u64 iova, paddr, size;
	int prot;
};

static struct fake_domain *to_fake(struct iommu_domain *domain)
{
	return container_of(domain, struct fake_domain, domain);
}

static int fake_map(struct iommu_domain *domain, u64 iova, u64 paddr,
		    u64 size, int prot)
{
	struct fake_domain *f = to_fake(domain);

	f->maps++;
	f->iova = iova;
	f->paddr = paddr;
	f->size = size;
	f->prot = prot;
	return -EIO;
}

static u64 fake_unmap(struct iommu_domain *domain, u64 iova, u64 size)
{
	struct fake_domain *f = to_fake(domain);

	f->unmaps++;
	f->iova = iova;
	f->size = size;
	return size - 4096;
}

static u64 fake_iova_to_phys(struct iommu_domain *domain, u64 iova)
{
	return ~iova;
}

static void fake_free(struct iommu_domain *domain)
{
	to_fake(domain)->frees++;
}

static const struct iommu_domain_ops fake_ops = {
	.map = fake_map,
	.unmap = fake_unmap,
	.iova_to_phys = fake_iova_to_phys,
	.free = fake_free,
};

TEST(core_checks_with_the_domains_own_geometry)
{
	struct fake_domain f = {
		.domain = {
			.ops = &fake_ops,
			/* 4 KiB and 2 MiB pages over all of u64 */
			.pgsize_bitmap = 0x1000 | 0x200000,
			.aperture_start = 0,
			.aperture_last = U64_MAX,
		},
	};
	struct iommu_domain *d = &f.domain;

	ASSERT_FALSE(is_mock_domain(d));
	/* The last page of the address space is in this aperture. */
	ASSERT_EQ(-EIO, iommu_map(d, U64_MAX - 0xfff, 0x3000, 0x1000,
				  IOMMU_WRITE));
	ASSERT_EQ(1, f.maps);
	ASSERT_EQ(U64_MAX - 0xfff, f.iova);
	ASSERT_EQ(0x3000, f.paddr);
	ASSERT_EQ(0x1000, f.size);
	ASSERT_EQ(IOMMU_WRITE, f.prot);
	ASSERT_EQ(-EIO, iommu_map(d, 0, 0, 0x1000, IOMMU_READ));
	ASSERT_EQ(2, f.maps);

	/* The smallest page size, not the mock's, decides alignment. */
	ASSERT_EQ(-EINVAL, iommu_map(d, 0x800, 0, 0x1000, RW));
	ASSERT_EQ(-EINVAL, iommu_map(d, 0, 0x800, 0x1000, RW));
	ASSERT_EQ(-EINVAL, iommu_map(d, 0, 0, 0x800, RW));
	/* Wrapping, with no aperture to catch it. */
	ASSERT_EQ(-EINVAL, iommu_map(d, U64_MAX - 0xfff, 0, 0x2000, RW));
	ASSERT_EQ(-EINVAL, iommu_map(d, 0x2000, 0, 0 - 0x1000, RW));
	ASSERT_EQ(2, f.maps);

	ASSERT_EQ(0x1000, iommu_unmap(d, 0x2000, 0x2000));
	ASSERT_EQ(1, f.unmaps);
	ASSERT_EQ(0x2000, f.iova);
	ASSERT_EQ(0x2000, f.size);
	ASSERT_EQ(0, iommu_unmap(d, U64_MAX - 0xfff, 0x2000));
	ASSERT_EQ(0, iommu_unmap(d, 0x800, 0x1000));
	ASSERT_EQ(1, f.unmaps);

	ASSERT_EQ(~0x1234ULL, iommu_iova_to_phys(d, 0x1234));
	iommu_domain_free(d);
	ASSERT_EQ(1, f.frees);

	/* A narrower aperture is honoured on both sides. */
	f.domain.aperture_start = 0x10000;
	f.domain.aperture_last = 0x1ffff;
	ASSERT_EQ(-EINVAL, iommu_map(d, 0xf000, 0, 0x1000, RW));
	ASSERT_EQ(-EINVAL, iommu_map(d, 0x1f000, 0, 0x2000, RW));
	ASSERT_EQ(-EIO, iommu_map(d, 0x10000, 0, 0x10000, RW));
	ASSERT_EQ(3, f.maps);
}

/*
 * Differential test: a window of IO pages modelled one entry each, with the
 * tags and counters the mock must agree with after every operation.
 */
#define WIN_PAGES 4096u
#define WIN_BASE (AP_START + 2 * HUGE)

struct model_page {
	u64 paddr;
	int prot; /* 0: unmapped */
	bool start, last;
};

struct model {
	struct model_page page[WIN_PAGES];
	struct mock_domain_stats stats;
	unsigned int fail_nth_map;
	bool huge;
};

static void model_check_all(struct iommu_domain *domain, struct model *m)
{
	struct xlate_list l;
	size_t j = 0;

	collect(domain, &l);
	ASSERT_EQ(m->stats.io_pages, l.nr);
	for (u64 p = 0; p != WIN_PAGES; p++) {
		if (!m->page[p].prot)
			continue;
		ASSERT_LT(j, l.nr);
		ASSERT_EQ(WIN_BASE + p * IOP, l.v[j].iova);
		ASSERT_EQ(m->page[p].paddr, l.v[j].paddr);
		ASSERT_EQ(m->page[p].prot, l.v[j].prot);
		j++;
	}
	ASSERT_EQ(l.nr, j);
	free(l.v);
}

static void model_map(struct iommu_domain *domain, struct model *m,
		      struct rng *r)
{
	u64 first, nr, pfn, paddr;
	bool busy = false, mock_fires, fired;
	int prot = 1 + rng_below(r, 3), rc;
	unsigned int kind = rng_below(r, 16);

	if (kind == 0) {
		/* Huge-aligned, or nearly. */
		first = rng_below(r, WIN_PAGES / 512) * 512;
		nr = 512 * (1 + rng_below(r, 2));
		pfn = rng_below(r, 1ULL << 40) * 512;
		if (rng_chance(r, 1, 4))
			first += 1;
		if (rng_chance(r, 1, 4))
			pfn += 1;
	} else if (kind == 1) {
		first = rng_below(r, WIN_PAGES);
		nr = 1 + rng_below(r, 600);
		/* The very top of the physical space. */
		pfn = (U64_MAX / IOP) - rng_below(r, 4) - nr + 1;
	} else {
		first = rng_below(r, WIN_PAGES);
		nr = 1 + rng_below(r, 32);
		pfn = rng_below(r, 1ULL << 52);
	}
	nr = min(nr, WIN_PAGES - first);
	paddr = pfn * IOP;
	for (u64 p = first; p != first + nr; p++)
		busy |= m->page[p].prot != 0;

	if (rng_chance(r, 1, 64)) {
		m->fail_nth_map = 1 + rng_below(r, 3);
		mock_domain_fail_nth_map(domain, m->fail_nth_map);
	}
	mock_fires = m->fail_nth_map && !--m->fail_nth_map;
	if (rng_chance(r, 1, 8))
		fault_fail_nth_set(1 + rng_below(r, 4));
	rc = iommu_map(domain, WIN_BASE + first * IOP, paddr, nr * IOP, prot);
	fired = fault_fail_nth_fired();
	fault_fail_nth_set(0);

	if (mock_fires) {
		ASSERT_EQ(-ENOMEM, rc);
		ASSERT_FALSE(fired);
		return;
	}
	if (fired) {
		ASSERT_EQ(-ENOMEM, rc);
		return;
	}
	if (busy) {
		ASSERT_EQ(-EEXIST, rc);
		m->stats.map_over_mapped++;
		return;
	}
	ASSERT_EQ(0, rc);
	for (u64 i = 0; i != nr; i++) {
		struct model_page *pg = &m->page[first + i];

		pg->paddr = paddr + i * IOP;
		pg->prot = prot;
		pg->start = i == 0;
		pg->last = i == nr - 1;
	}
	m->stats.map_calls++;
	m->stats.io_pages += nr;
	if (m->huge && !((WIN_BASE + first * IOP) % HUGE) && !(paddr % HUGE) &&
	    !(nr * IOP % HUGE))
		m->stats.huge_maps++;
}

static void model_unmap_range(struct iommu_domain *domain, struct model *m,
			      u64 first, u64 nr)
{
	u64 last = first + nr - 1, mapped = 0;

	if (!m->huge &&
	    ((m->page[first].prot && !m->page[first].start) ||
	     (m->page[last].prot && !m->page[last].last)))
		m->stats.unmap_splits_map++;
	for (u64 p = first; p <= last; p++) {
		if (m->page[p].prot)
			mapped++;
		m->page[p] = (struct model_page){};
	}
	ASSERT_EQ(mapped * IOP,
		  iommu_unmap(domain, WIN_BASE + first * IOP, nr * IOP));
	m->stats.unmap_not_mapped += nr - mapped;
	m->stats.io_pages -= mapped;
	m->stats.unmap_calls++;
}

/* The last page of the remains of the map call that holds page @p. */
static u64 model_call_last(struct model *m, u64 p)
{
	while (!m->page[p].last && p + 1 < WIN_PAGES && m->page[p + 1].prot &&
	       !m->page[p + 1].start)
		p++;
	return p;
}

static void model_unmap(struct iommu_domain *domain, struct model *m,
			struct rng *r)
{
	u64 first = rng_below(r, WIN_PAGES), last;

	if (rng_chance(r, 1, 2) && m->page[first].prot) {
		/*
		 * What is left of the map call holding @first, often with the
		 * calls right after it: whole calls unless one was split.
		 */
		while (first && !m->page[first].start &&
		       m->page[first - 1].prot)
			first--;
		last = model_call_last(m, first);
		while (rng_chance(r, 1, 3) && last + 1 < WIN_PAGES &&
		       m->page[last + 1].start)
			last = model_call_last(m, last + 1);
		model_unmap_range(domain, m, first, last - first + 1);
		return;
	}
	if (rng_chance(r, 1, 200)) {
		model_unmap_range(domain, m, 0, WIN_PAGES);
		return;
	}
	model_unmap_range(domain, m, first,
			  min((u64)1 + rng_below(r, 64), WIN_PAGES - first));
}

static void model_lookup(struct iommu_domain *domain, struct model *m,
			 struct rng *r)
{
	s64 p = (s64)rng_below(r, WIN_PAGES + 16) - 8;
	u64 off = rng_below(r, IOP), iova = WIN_BASE + p * IOP + off;
	u64 want = 0;
	int want_prot = 0, prot = -1;

	if (p >= 0 && p < WIN_PAGES && m->page[p].prot) {
		want = m->page[p].paddr + off;
		want_prot = m->page[p].prot;
	}
	ASSERT_EQ(want, iommu_iova_to_phys(domain, iova));
	ASSERT_EQ(want, mock_domain_lookup(domain, iova, &prot));
	ASSERT_EQ(want_prot, prot);
}

static void differential(unsigned int flags)
{
	struct iommu_domain *domain = mock_domain_alloc(flags);
	struct model *m = calloc(1, sizeof(*m));
	u64 ops = test_iterations(200000);
	struct rng r;

	ASSERT_NONNULL(domain);
	ASSERT_NONNULL(m);
	m->huge = flags & MOCK_DOMAIN_HUGE_PAGES;
	rng_init(&r, test_seed() ^ flags);
	for (u64 i = 0; i != ops; i++) {
		unsigned int op = rng_below(&r, 10);

		if (op < 4)
			model_map(domain, m, &r);
		else if (op < 7)
			model_unmap(domain, m, &r);
		else
			model_lookup(domain, m, &r);
		ASSERT_STATS_EQ(m->stats, stats_of(domain));
		if (!(i % 4096))
			model_check_all(domain, m);
	}
	model_check_all(domain, m);
	TH_LOG("%llu ops: %llu maps, %llu unmaps, %llu huge, %llu splits, "
	       "%llu over", (unsigned long long)ops,
	       (unsigned long long)m->stats.map_calls,
	       (unsigned long long)m->stats.unmap_calls,
	       (unsigned long long)m->stats.huge_maps,
	       (unsigned long long)m->stats.unmap_splits_map,
	       (unsigned long long)m->stats.map_over_mapped);
	/* Each kind of event happened, or the test proved little. */
	ASSERT_GT(m->stats.map_calls, ops / 20);
	ASSERT_GT(m->stats.map_over_mapped, 0);
	ASSERT_GT(m->stats.unmap_not_mapped, 0);
	if (m->huge)
		ASSERT_GT(m->stats.huge_maps, 0);
	else
		ASSERT_GT(m->stats.unmap_splits_map, 0);
	iommu_domain_free(domain);
	free(m);
}

TEST(differential_plain)
{
	differential(0);
}

TEST(differential_huge)
{
	differential(MOCK_DOMAIN_HUGE_PAGES);
}

/*
 * Four threads map and unmap their own chunks of one domain. The chunks
 * interleave so every index store leaf holds some of each thread's.
 */
#define NR_THREADS 4
#define CHUNK_PAGES 16u
#define NR_CHUNKS 32u
#define CONC_BASE (AP_START + HUGE)

struct worker {
	struct iommu_domain *domain;
	unsigned int id;
	u64 seed;
	u64 iters;
	u64 paddr[NR_CHUNKS]; /* 0: chunk unmapped */
	u64 maps, unmaps, errors;
};

static u64 chunk_iova(unsigned int id, unsigned int chunk)
{
	return CONC_BASE + ((u64)chunk * NR_THREADS + id) * CHUNK_PAGES * IOP;
}

static bool worker_check_own(struct worker *w)
{
	u64 n = 0, want = 0;

	for (unsigned int c = 0; c != NR_CHUNKS; c++) {
		u64 got = 0;

		if (mock_domain_for_each(w->domain, chunk_iova(w->id, c),
					 chunk_iova(w->id, c) +
						 CHUNK_PAGES * IOP - 1,
					 count_cb, &got))
			return false;
		n += got;
		want += w->paddr[c] ? CHUNK_PAGES : 0;
	}
	return n == want;
}

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	struct rng r;

	rng_init(&r, w->seed);
	for (u64 i = 0; i != w->iters; i++) {
		unsigned int c = rng_below(&r, NR_CHUNKS);
		u64 iova = chunk_iova(w->id, c);
		u64 off = rng_below(&r, CHUNK_PAGES * IOP);
		struct mock_domain_stats s;

		if (w->paddr[c]) {
			if (iommu_iova_to_phys(w->domain, iova + off) !=
			    w->paddr[c] + off)
				w->errors++;
			if (iommu_unmap(w->domain, iova, CHUNK_PAGES * IOP) !=
			    CHUNK_PAGES * IOP)
				w->errors++;
			w->paddr[c] = 0;
			w->unmaps++;
		} else {
			u64 paddr = (1 + rng_below(&r, 1ULL << 40)) * IOP;

			if (iommu_map(w->domain, iova, paddr,
				      CHUNK_PAGES * IOP, RW))
				w->errors++;
			w->paddr[c] = paddr;
			w->maps++;
		}
		if (!(i % 64)) {
			mock_domain_get_stats(w->domain, &s);
			if (s.unmap_splits_map || s.unmap_not_mapped ||
			    s.map_over_mapped)
				w->errors++;
			if (!worker_check_own(w))
				w->errors++;
		}
	}
	return NULL;
}

TEST(concurrent_disjoint_ranges)
{
	struct iommu_domain *domain = mock_domain_alloc(0);
	struct worker w[NR_THREADS] = {};
	pthread_t threads[NR_THREADS];
	struct mock_domain_stats want = {};
	u64 seed = test_seed();

	ASSERT_NONNULL(domain);
	for (unsigned int t = 0; t != NR_THREADS; t++) {
		w[t].domain = domain;
		w[t].id = t;
		w[t].seed = seed + t;
		w[t].iters = test_iterations(20000);
		ASSERT_EQ(0, pthread_create(&threads[t], NULL, worker_fn,
					    &w[t]));
	}
	for (unsigned int t = 0; t != NR_THREADS; t++)
		ASSERT_EQ(0, pthread_join(threads[t], NULL));

	for (unsigned int t = 0; t != NR_THREADS; t++) {
		ASSERT_EQ(0, w[t].errors);
		ASSERT_EQ(w[t].iters, w[t].maps + w[t].unmaps);
		want.map_calls += w[t].maps;
		want.unmap_calls += w[t].unmaps;
		for (unsigned int c = 0; c != NR_CHUNKS; c++) {
			if (!w[t].paddr[c]) {
				assert_unmapped(domain, chunk_iova(t, c),
						CHUNK_PAGES * IOP);
				continue;
			}
			want.io_pages += CHUNK_PAGES;
			assert_mapped(domain, chunk_iova(t, c), w[t].paddr[c],
				      CHUNK_PAGES * IOP, RW);
		}
	}
	ASSERT_STATS_EQ(want, stats_of(domain));
	ASSERT_EQ(want.io_pages, count_mapped(domain, 0, U64_MAX));
	iommu_domain_free(domain);
}

/* ---- reading a mapping back a contiguous run at a time ---- */

#define RUN_WINDOW_PAGES 96

/* The run from @iova by asking iova_to_phys an IO page at a time. */
static u64 reference_run(struct iommu_domain *d, u64 iova, u64 max,
			 u64 *paddr)
{
	u64 len;

	*paddr = iommu_iova_to_phys(d, iova);
	if (!*paddr)
		return 0;
	len = MOCK_IO_PAGE_SIZE - iova % MOCK_IO_PAGE_SIZE;
	while (len < max && iommu_iova_to_phys(d, iova + len) == *paddr + len)
		len += MOCK_IO_PAGE_SIZE;
	return min(len, max);
}

static void check_runs(struct iommu_domain *d, struct rng *r, u64 base)
{
	for (int q = 0; q != 200; q++) {
		u64 iova = base + rng_below(r, RUN_WINDOW_PAGES *
						       MOCK_IO_PAGE_SIZE);
		u64 max = 1 + rng_below(r, 40 * MOCK_IO_PAGE_SIZE);
		u64 want_pa = 0, got_pa = 0, want, got;

		want = reference_run(d, iova, max, &want_pa);
		got = iommu_iova_to_phys_run(d, iova, max, &got_pa);
		ASSERT_EQ(want, got);
		if (want)
			ASSERT_EQ(want_pa, got_pa);
	}
}

/*
 * Map calls whose frames sometimes continue the previous call's (runs
 * cross map calls) and sometimes jump, with holes; then compare runs
 * from random IOVAs (sub-IO-page offsets included) with the reference,
 * through the mock's own op and through the core's generic fallback.
 */
TEST(iova_to_phys_run_matches_page_by_page)
{
	struct iommu_domain *d = mock_domain_alloc(0);
	struct iommu_domain_ops plain;
	const struct iommu_domain_ops *own;
	u64 base = MOCK_APERTURE_START, page = 0, frame = 0x100;
	struct rng r;

	ASSERT_NONNULL(d);
	rng_init(&r, test_seed());
	while (page < RUN_WINDOW_PAGES) {
		u64 n = 1 + rng_below(&r, 6);

		n = min(n, (u64)RUN_WINDOW_PAGES - page);
		if (rng_chance(&r, 1, 5)) {
			page += n; /* a hole */
			continue;
		}
		if (rng_chance(&r, 1, 2))
			frame += rng_below(&r, 3) + 1; /* a jump */
		ASSERT_EQ(0, iommu_map(d, base + page * MOCK_IO_PAGE_SIZE,
				       frame * MOCK_IO_PAGE_SIZE,
				       n * MOCK_IO_PAGE_SIZE,
				       rng_chance(&r, 1, 2) ? IOMMU_READ :
							      IOMMU_WRITE));
		page += n;
		frame += n;
	}
	check_runs(d, &r, base);

	own = d->ops;
	plain = *own;
	plain.iova_to_phys_run = NULL;
	d->ops = &plain;
	check_runs(d, &r, base);
	d->ops = own;

	/* Unmapped IOVA: no run. */
	{
		u64 pa = 7;

		ASSERT_EQ(0, iommu_iova_to_phys_run(d, MOCK_APERTURE_LAST - 1,
						    100, &pa));
	}
	iommu_domain_free(d);
}
