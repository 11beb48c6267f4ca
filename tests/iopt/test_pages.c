// SPDX-License-Identifier: MIT
/*
 * iopt_pages: every tier transition, pinned-exactly-once, accounting, CPU
 * access, and fail-nth sweeps, against mock domains.
 *
 * The test buffer mixes anonymous pages (PFN = address, so contiguous) with
 * memfd pages mapped in scrambled order (file PFNs), so PFN runs have real
 * discontinuities in the middle of areas and accesses, and the batch carry
 * and unmap cut points all get exercised. Small temporary memory limits
 * (16 and 32 bytes: one and two runs per batch) make every path run in
 * many tiny batches.
 */
#include <errno.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err_ptr.h"
#include "base/fault_inject.h"
#include "base/mem.h"
#include "base/overflow.h"
#include "domains/mock_domain.h"
#include "harness/rng.h"
#include "harness/test.h"
#include "iopt/accounting.h"
#include "iopt/pages.h"
#include "iopt/pfn_batch.h"
#include "iopt/pin_count.h"

#define NPAGES 24
#define MAX_DOMAINS 4
#define IOVA_BASE (MOCK_APERTURE_START + 0x100000)

struct env {
	struct io_pagetable iopt;
	struct iommu_domain *domains[MAX_DOMAINS];
	bool attached[MAX_DOMAINS];
	char *buf;
	int memfd;
	struct iopt_pages *pages;
	/*
	 * Holds the memfd's file id, so identify() names its pages the same
	 * before, during and after pinning.
	 */
	struct pfn_source *hold;
	u64 pfns[NPAGES]; /* identity of each page of buf */
};

/*
 * Pages 0-5 anonymous; 6-9 memfd pages 20-23 (a run); 10 memfd page 3;
 * 11 memfd page 1; 12-15 anonymous; 16-17 memfd 7-8; 18-23 anonymous.
 */
static const int scramble[NPAGES] = {
	-1, -1, -1, -1, -1, -1, 20, 21, 22, 23, 3, 1,
	-1, -1, -1, -1, 7, 8, -1, -1, -1, -1, -1, -1,
};

static void env_init(struct env *env, bool writable)
{
	memset(env, 0, sizeof(*env));
	iopt_init_table(&env->iopt);
	env->memfd = memfd_create("test_pages", 0);
	ASSERT_GE(env->memfd, 0);
	ASSERT_EQ(0, ftruncate(env->memfd, 32 * PAGE_SIZE));
	env->buf = mmap(NULL, NPAGES * PAGE_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, env->buf);
	for (int i = 0; i != NPAGES; i++) {
		if (scramble[i] < 0)
			continue;
		ASSERT_NE(MAP_FAILED,
			  mmap(env->buf + i * PAGE_SIZE, PAGE_SIZE,
			       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			       env->memfd, scramble[i] * PAGE_SIZE));
	}
	for (int i = 0; i != NPAGES; i++)
		memset(env->buf + i * PAGE_SIZE, 'a' + i, PAGE_SIZE);
	env->hold = pfn_source_file_create(env->memfd, 0, PAGE_SIZE, false);
	ASSERT_FALSE(IS_ERR(env->hold));
	env->pages = iopt_alloc_user_pages((uintptr_t)env->buf,
					   NPAGES * PAGE_SIZE, writable);
	ASSERT_FALSE(IS_ERR(env->pages));
	env->pages->account_mode = IOPT_PAGES_ACCOUNT_USER;
	ASSERT_EQ(0, env->pages->source->ops->identify(env->pages->source, 0,
						       NPAGES, env->pfns));
	/* The scramble gives the runs the comments above promise. */
	ASSERT_EQ(env->pfns[0] + 5, env->pfns[5]);
	ASSERT_EQ(env->pfns[6] + 3, env->pfns[9]);
	ASSERT_NE(env->pfns[9] + 1, env->pfns[10]);
	for (int i = 0; i != MAX_DOMAINS; i++) {
		env->domains[i] = mock_domain_alloc(0);
		ASSERT_NONNULL(env->domains[i]);
	}
}

static void env_destroy(struct env *env)
{
	for (int i = 0; i != MAX_DOMAINS; i++) {
		if (env->attached[i])
			iopt_table_remove_domain(&env->iopt, env->domains[i]);
		iommu_domain_free(env->domains[i]);
	}
	iopt_destroy_table(&env->iopt);
	if (env->pages)
		iopt_put_pages(env->pages);
	pfn_source_destroy(env->hold);
	munmap(env->buf, NPAGES * PAGE_SIZE);
	close(env->memfd);
}

/* An area of bytes [start_byte, +length) of @pages at @iova. */
static void area_init(struct iopt_area *area, struct env *env,
		      struct iopt_pages *pages, u64 iova, u64 start_byte,
		      u64 length)
{
	memset(area, 0, sizeof(*area));
	area->iopt = &env->iopt;
	area->pages = pages;
	area->page_offset = start_byte % PAGE_SIZE;
	area->pages_node.start = start_byte / PAGE_SIZE;
	area->pages_node.last = (start_byte + length - 1) / PAGE_SIZE;
	area->node.start = iova;
	area->node.last = iova + length - 1;
	area->iommu_prot = IOMMU_READ | IOMMU_WRITE;
}

/* What iopt_map will do: fill the domains, then publish the area. */
static int area_map(struct env *env, struct iopt_area *area)
{
	int rc;

	pthread_rwlock_rdlock(&env->iopt.domains_rwsem);
	rc = iopt_area_fill_domains(area, area->pages);
	if (!rc)
		interval_tree_insert(&area->node, &env->iopt.area_itree);
	pthread_rwlock_unlock(&env->iopt.domains_rwsem);
	return rc;
}

static void area_unmap(struct env *env, struct iopt_area *area)
{
	pthread_rwlock_rdlock(&env->iopt.domains_rwsem);
	interval_tree_remove(&area->node, &env->iopt.area_itree);
	iopt_area_unfill_domains(area, area->pages);
	pthread_rwlock_unlock(&env->iopt.domains_rwsem);
}

static int attach(struct env *env, int i)
{
	int rc = iopt_table_add_domain(&env->iopt, env->domains[i]);

	if (!rc)
		env->attached[i] = true;
	return rc;
}

static void detach(struct env *env, int i)
{
	iopt_table_remove_domain(&env->iopt, env->domains[i]);
	env->attached[i] = false;
}

/* The domain maps every IO page of the area to the right byte, and no
 * contract violation was seen. */
static void check_area_in_domain(struct env *env, struct iopt_area *area,
				 struct iommu_domain *domain)
{
	u64 start_byte = iopt_area_index(area) * PAGE_SIZE + area->page_offset;

	for (u64 iova = iopt_area_iova(area); iova < iopt_area_last_iova(area);
	     iova += MOCK_IO_PAGE_SIZE) {
		u64 byte = start_byte + (iova - iopt_area_iova(area));
		int prot = 0;
		u64 paddr = mock_domain_lookup(domain, iova, &prot);

		ASSERT_EQ(PFN_PHYS(env->pfns[byte / PAGE_SIZE]) +
				  byte % PAGE_SIZE,
			  paddr);
		ASSERT_EQ(area->iommu_prot, prot);
	}
}

static void check_domain_clean(struct iommu_domain *domain, u64 io_pages)
{
	struct mock_domain_stats st;

	mock_domain_get_stats(domain, &st);
	ASSERT_EQ(io_pages, st.io_pages);
	ASSERT_EQ(0, st.unmap_splits_map);
	ASSERT_EQ(0, st.unmap_not_mapped);
	ASSERT_EQ(0, st.map_over_mapped);
}

/* Pin counts of the buffer's pages, as the kernel's page refcounts. */
static void check_pins(struct env *env, const u64 *want)
{
	u64 counts[NPAGES];

	ASSERT_EQ(0, iopt_pin_counts(env->pfns, NPAGES, counts));
	for (int i = 0; i != NPAGES; i++) {
		if (counts[i] != want[i])
			TH_LOG("page %d: %llu pins, want %llu", i,
			       (unsigned long long)counts[i],
			       (unsigned long long)want[i]);
		ASSERT_EQ(want[i], counts[i]);
	}
}

/* Pages [first, last] pinned once, the rest not at all. */
static void check_pinned_range(struct env *env, u64 first, u64 last)
{
	u64 want[NPAGES] = {};

	for (u64 i = first; i <= last && i < NPAGES; i++)
		want[i] = 1;
	check_pins(env, want);
	ASSERT_EQ(first <= last ? last - first + 1 : 0, env->pages->npinned);
	ASSERT_EQ(env->pages->npinned, iopt_account_user_locked(getuid()));
	ASSERT_EQ(env->pages->npinned, iopt_account_pinned());
}

static void check_nothing_pinned(struct env *env)
{
	u64 want[NPAGES] = {};

	check_pins(env, want);
	ASSERT_EQ(0, env->pages->npinned);
	ASSERT_EQ(0, iopt_account_user_locked(getuid()));
	ASSERT_EQ(0, iopt_account_pinned());
	ASSERT_TRUE(index_store_empty(&env->pages->pinned_pfns));
}

FIXTURE(pages)
{
	struct env env;
	struct iopt_area area;
};

FIXTURE_VARIANT(pages)
{
	size_t temp_limit; /* 0: the default 64 KiB */
};

FIXTURE_VARIANT_ADD(pages, default_limit) { .temp_limit = 0 };
FIXTURE_VARIANT_ADD(pages, limit_16) { .temp_limit = 16 };
FIXTURE_VARIANT_ADD(pages, limit_32) { .temp_limit = 32 };

FIXTURE_SETUP(pages)
{
	iopt_set_temp_memory_limit(variant->temp_limit);
	env_init(&self->env, true);
	/* Pages 1..22, from half way into page 1 to half way into 22. */
	area_init(&self->area, &self->env, self->env.pages,
		  IOVA_BASE + MOCK_IO_PAGE_SIZE, PAGE_SIZE + MOCK_IO_PAGE_SIZE,
		  21 * PAGE_SIZE);
}

FIXTURE_TEARDOWN(pages)
{
	env_destroy(&self->env);
}

#define AREA_IO_PAGES (21 * PAGE_SIZE / MOCK_IO_PAGE_SIZE)

TEST_F(pages, domain_only)
{
	ASSERT_EQ(0, attach(&self->env, 0));
	check_nothing_pinned(&self->env); /* nothing mapped yet */
	ASSERT_EQ(0, area_map(&self->env, &self->area));
	check_area_in_domain(&self->env, &self->area, self->env.domains[0]);
	check_domain_clean(self->env.domains[0], AREA_IO_PAGES);
	check_pinned_range(&self->env, 1, 22);
	/* Only domains hold the PFNs: the index store stays empty. */
	ASSERT_TRUE(index_store_empty(&self->env.pages->pinned_pfns));
	area_unmap(&self->env, &self->area);
	check_domain_clean(self->env.domains[0], 0);
	check_nothing_pinned(&self->env);
}

TEST_F(pages, access_only)
{
	u64 out[NPAGES];

	ASSERT_EQ(0, iopt_area_add_access(&self->area, 3, 12, out, 0));
	for (int i = 3; i <= 12; i++)
		ASSERT_EQ(self->env.pfns[i], out[i - 3]);
	check_pinned_range(&self->env, 3, 12);
	/* A second identical request shares the pins. */
	ASSERT_EQ(0, iopt_area_add_access(&self->area, 3, 12, out, 0));
	check_pinned_range(&self->env, 3, 12);
	iopt_area_remove_access(&self->area, 3, 12);
	check_pinned_range(&self->env, 3, 12);
	iopt_area_remove_access(&self->area, 3, 12);
	check_nothing_pinned(&self->env);
	ASSERT_EQ(0, self->area.num_accesses);
}

TEST_F(pages, overlapping_accesses)
{
	u64 out[NPAGES];

	ASSERT_EQ(0, iopt_area_add_access(&self->area, 2, 9, out, 0));
	ASSERT_EQ(0, iopt_area_add_access(&self->area, 6, 15, out, 0));
	ASSERT_EQ(self->env.pfns[6], out[0]);
	check_pinned_range(&self->env, 2, 15);
	iopt_area_remove_access(&self->area, 2, 9);
	check_pinned_range(&self->env, 6, 15);
	iopt_area_remove_access(&self->area, 6, 15);
	check_nothing_pinned(&self->env);
}

TEST_F(pages, access_then_domain_then_release_in_both_orders)
{
	u64 out[NPAGES];

	for (int order = 0; order != 2; order++) {
		ASSERT_EQ(0, iopt_area_add_access(&self->area, 5, 11, out, 0));
		ASSERT_EQ(0, attach(&self->env, 0));
		ASSERT_EQ(0, area_map(&self->env, &self->area));
		check_area_in_domain(&self->env, &self->area,
				     self->env.domains[0]);
		check_pinned_range(&self->env, 1, 22);
		if (order) {
			iopt_area_remove_access(&self->area, 5, 11);
			check_pinned_range(&self->env, 1, 22);
			area_unmap(&self->env, &self->area);
		} else {
			area_unmap(&self->env, &self->area);
			/* The access keeps its pages pinned. */
			check_pinned_range(&self->env, 5, 11);
			iopt_area_remove_access(&self->area, 5, 11);
		}
		check_nothing_pinned(&self->env);
		check_domain_clean(self->env.domains[0], 0);
		detach(&self->env, 0);
	}
}

TEST_F(pages, domain_then_access)
{
	u64 out[NPAGES];

	ASSERT_EQ(0, attach(&self->env, 0));
	ASSERT_EQ(0, area_map(&self->env, &self->area));
	/* Read from the domain tier: no new pin. */
	ASSERT_EQ(0, iopt_area_add_access(&self->area, 1, 22, out, 0));
	for (int i = 1; i <= 22; i++)
		ASSERT_EQ(self->env.pfns[i], out[i - 1]);
	check_pinned_range(&self->env, 1, 22);
	detach(&self->env, 0);
	/* The last domain left; the access still pins everything. */
	check_pinned_range(&self->env, 1, 22);
	check_domain_clean(self->env.domains[0], 0);
	iopt_area_remove_access(&self->area, 1, 22);
	check_nothing_pinned(&self->env);
	area_unmap(&self->env, &self->area);
}

TEST_F(pages, second_domain_filled_from_first)
{
	ASSERT_EQ(0, attach(&self->env, 0));
	ASSERT_EQ(0, area_map(&self->env, &self->area));
	ASSERT_EQ(0, attach(&self->env, 1));
	check_area_in_domain(&self->env, &self->area, self->env.domains[1]);
	check_domain_clean(self->env.domains[1], AREA_IO_PAGES);
	check_pinned_range(&self->env, 1, 22);
	area_unmap(&self->env, &self->area);
	check_domain_clean(self->env.domains[0], 0);
	check_domain_clean(self->env.domains[1], 0);
	check_nothing_pinned(&self->env);
}

/* Three domains detached in each of the six orders. */
TEST_F(pages, detach_in_every_order)
{
	static const int orders[6][3] = {
		{ 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 },
		{ 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 },
	};
	u64 out[NPAGES];

	for (int o = 0; o != 6; o++) {
		bool with_access = o & 1;

		for (int d = 0; d != 3; d++)
			ASSERT_EQ(0, attach(&self->env, d));
		ASSERT_EQ(0, area_map(&self->env, &self->area));
		if (with_access)
			ASSERT_EQ(0, iopt_area_add_access(&self->area, 8, 18,
							  out, 0));
		for (int k = 0; k != 3; k++) {
			detach(&self->env, orders[o][k]);
			check_domain_clean(self->env.domains[orders[o][k]], 0);
			for (int r = k + 1; r != 3; r++) {
				check_area_in_domain(&self->env, &self->area,
						     self->env.domains[orders[o][r]]);
				check_domain_clean(self->env.domains[orders[o][r]],
						   AREA_IO_PAGES);
			}
			/* Pins go only when the last domain goes. */
			if (k != 2)
				check_pinned_range(&self->env, 1, 22);
			else if (with_access)
				check_pinned_range(&self->env, 8, 18);
			else
				check_nothing_pinned(&self->env);
		}
		if (with_access)
			iopt_area_remove_access(&self->area, 8, 18);
		check_nothing_pinned(&self->env);
		area_unmap(&self->env, &self->area);
	}
}

/* An access in the middle of contiguous runs, under several domains. */
TEST_F(pages, runs_cross_tier_boundaries)
{
	u64 out[NPAGES];

	ASSERT_EQ(0, iopt_area_add_access(&self->area, 2, 7, out, 0));
	ASSERT_EQ(0, iopt_area_add_access(&self->area, 10, 10, out, 0));
	ASSERT_EQ(0, iopt_area_add_access(&self->area, 15, 19, out, 0));
	ASSERT_EQ(0, attach(&self->env, 0));
	ASSERT_EQ(0, area_map(&self->env, &self->area));
	ASSERT_EQ(0, attach(&self->env, 1));
	check_area_in_domain(&self->env, &self->area, self->env.domains[1]);
	iopt_area_remove_access(&self->area, 10, 10);
	detach(&self->env, 0);
	check_area_in_domain(&self->env, &self->area, self->env.domains[1]);
	detach(&self->env, 1);
	{
		u64 want[NPAGES] = {};

		for (int i = 2; i <= 7; i++)
			want[i] = 1;
		for (int i = 15; i <= 19; i++)
			want[i] = 1;
		check_pins(&self->env, want);
	}
	check_domain_clean(self->env.domains[0], 0);
	check_domain_clean(self->env.domains[1], 0);
	iopt_area_remove_access(&self->area, 2, 7);
	iopt_area_remove_access(&self->area, 15, 19);
	check_nothing_pinned(&self->env);
	area_unmap(&self->env, &self->area);
}

/*
 * Regression tests for the batch carry (the kernel's defects 2-4). Pages
 * 12-15 are one PFN run, 16 starts another. With an access on page 13,
 * unfilling reads page 12, reads on through 15 to the discontinuity, unmaps
 * 12-15 and unpins 12; 13-15 ride as a carry; 13 is skipped (the access
 * holds it) and 14-15 flow into the next hole, which goes on past them, so
 * more PFNs are appended behind the carry. The carry must be read before
 * the first slot is overwritten (2), counted as a run (3), and unpinned
 * from the right base index (4). The 16- and 32-byte variants hold one
 * and two runs per batch.
 */
static void carry_case(struct env *env, struct iopt_area *area, u64 first,
		       u64 last, bool by_unmap)
{
	u64 out[NPAGES];

	ASSERT_EQ(0, iopt_area_add_access(area, first, last, out, 0));
	ASSERT_EQ(0, attach(env, 0));
	ASSERT_EQ(0, area_map(env, area));
	if (by_unmap) {
		area_unmap(env, area);
		check_pinned_range(env, first, last);
		check_domain_clean(env->domains[0], 0);
		iopt_area_remove_access(area, first, last);
		detach(env, 0);
	} else {
		detach(env, 0);
		check_pinned_range(env, first, last);
		check_domain_clean(env->domains[0], 0);
		iopt_area_remove_access(area, first, last);
		area_unmap(env, area);
	}
	check_nothing_pinned(env);
}

TEST_F(pages, carry_flows_into_next_hole)
{
	carry_case(&self->env, &self->area, 13, 13, false);
	carry_case(&self->env, &self->area, 13, 13, true);
	carry_case(&self->env, &self->area, 13, 14, false);
	carry_case(&self->env, &self->area, 2, 3, true);
}

/* An access on every other page: a carry at every step. */
TEST_F(pages, carry_alternating_accesses)
{
	u64 out[NPAGES];

	for (u64 i = 2; i <= 20; i += 2)
		ASSERT_EQ(0, iopt_area_add_access(&self->area, i, i, out, 0));
	ASSERT_EQ(0, attach(&self->env, 0));
	ASSERT_EQ(0, area_map(&self->env, &self->area));
	ASSERT_EQ(0, attach(&self->env, 1));
	detach(&self->env, 0);
	detach(&self->env, 1);
	{
		u64 want[NPAGES] = {};

		for (u64 i = 2; i <= 20; i += 2)
			want[i] = 1;
		check_pins(&self->env, want);
	}
	check_domain_clean(self->env.domains[0], 0);
	check_domain_clean(self->env.domains[1], 0);
	for (u64 i = 2; i <= 20; i += 2)
		iopt_area_remove_access(&self->area, i, i);
	check_nothing_pinned(&self->env);
	area_unmap(&self->env, &self->area);
}

/* Two areas over overlapping slices of one pages object: one pin each. */
TEST_F(pages, shared_pages_pinned_once)
{
	struct iopt_area second;

	area_init(&second, &self->env, self->env.pages, IOVA_BASE + 0x400000,
		  4 * PAGE_SIZE, 8 * PAGE_SIZE);
	ASSERT_EQ(0, attach(&self->env, 0));
	ASSERT_EQ(0, area_map(&self->env, &self->area));
	ASSERT_EQ(0, area_map(&self->env, &second));
	check_area_in_domain(&self->env, &second, self->env.domains[0]);
	check_pinned_range(&self->env, 1, 22);
	area_unmap(&self->env, &self->area);
	/* Pages 4..11 stay pinned for the second area. */
	check_pinned_range(&self->env, 4, 11);
	check_area_in_domain(&self->env, &second, self->env.domains[0]);
	area_unmap(&self->env, &second);
	check_nothing_pinned(&self->env);
	check_domain_clean(self->env.domains[0], 0);
}

/* Two pages objects over the same memory pin each page twice. */
TEST_F(pages, separate_pages_pin_twice)
{
	struct iopt_pages *other;
	struct iopt_area area2;
	u64 want[NPAGES] = {};

	other = iopt_alloc_user_pages((uintptr_t)self->env.buf,
				      NPAGES * PAGE_SIZE, true);
	ASSERT_FALSE(IS_ERR(other));
	area_init(&area2, &self->env, other, IOVA_BASE + 0x800000, 0,
		  NPAGES * PAGE_SIZE);
	ASSERT_EQ(0, attach(&self->env, 0));
	ASSERT_EQ(0, area_map(&self->env, &self->area));
	ASSERT_EQ(0, area_map(&self->env, &area2));
	for (int i = 0; i != NPAGES; i++)
		want[i] = 1 + (i >= 1 && i <= 22);
	check_pins(&self->env, want);
	area_unmap(&self->env, &area2);
	iopt_put_pages(other);
	check_pinned_range(&self->env, 1, 22);
	area_unmap(&self->env, &self->area);
	check_nothing_pinned(&self->env);
}

TEST_F(pages, rw_through_every_tier)
{
	char data[5 * PAGE_SIZE], expect[5 * PAGE_SIZE];
	u64 out[NPAGES];

	/* Origin only. */
	ASSERT_EQ(0, iopt_pages_rw_access(self->env.pages, 3 * PAGE_SIZE + 7,
					  data, 4 * PAGE_SIZE, 0));
	memcpy(expect, self->env.buf + 3 * PAGE_SIZE + 7, 4 * PAGE_SIZE);
	ASSERT_EQ(0, memcmp(data, expect, 4 * PAGE_SIZE));
	check_nothing_pinned(&self->env);

	/* Index store and domain tiers under the range. */
	ASSERT_EQ(0, iopt_area_add_access(&self->area, 4, 5, out, 0));
	ASSERT_EQ(0, attach(&self->env, 0));
	ASSERT_EQ(0, area_map(&self->env, &self->area));
	for (size_t i = 0; i != sizeof(data); i++)
		data[i] = (char)(i * 7 + 1);
	ASSERT_EQ(0, iopt_pages_rw_access(self->env.pages,
					  3 * PAGE_SIZE + 100, data,
					  sizeof(data) - 200,
					  IOMMUFD_ACCESS_RW_WRITE));
	ASSERT_EQ(0, memcmp(self->env.buf + 3 * PAGE_SIZE + 100, data,
			    sizeof(data) - 200));
	/* The memfd pages saw the writes too (page 10 is memfd page 3). */
	{
		char c;

		ASSERT_EQ(1, pread(self->env.memfd, &c, 1, 3 * PAGE_SIZE));
		ASSERT_EQ(self->env.buf[10 * PAGE_SIZE], c);
	}
	/* Pages 0 and 23 are outside the area: pinned transiently only. */
	ASSERT_EQ(0, iopt_pages_rw_access(self->env.pages, 0, data,
					  NPAGES * PAGE_SIZE > sizeof(data) ?
						  sizeof(data) :
						  NPAGES * PAGE_SIZE,
					  0));
	check_pinned_range(&self->env, 1, 22);
	ASSERT_EQ(-EINVAL, iopt_pages_rw_access(self->env.pages,
						NPAGES * PAGE_SIZE - 1, data, 2,
						0));
	ASSERT_EQ(-EINVAL, iopt_pages_rw_access(self->env.pages, 0, data, 0,
						0));
	ASSERT_EQ(-EINVAL, iopt_pages_rw_access(self->env.pages, U64_MAX, data,
						2, 0));
	iopt_area_remove_access(&self->area, 4, 5);
	area_unmap(&self->env, &self->area);
	check_nothing_pinned(&self->env);
}

/* With large pages disabled, every domain map call is one CPU page. */
TEST_F(pages, disable_large_pages_maps_page_by_page)
{
	struct mock_domain_stats st;
	struct iopt_area whole;

	area_init(&whole, &self->env, self->env.pages, IOVA_BASE, 0,
		  NPAGES * PAGE_SIZE);
	self->env.iopt.disable_large_pages = true;
	ASSERT_EQ(0, attach(&self->env, 0));
	ASSERT_EQ(0, area_map(&self->env, &whole));
	mock_domain_get_stats(self->env.domains[0], &st);
	ASSERT_EQ(NPAGES, st.map_calls);
	check_area_in_domain(&self->env, &whole, self->env.domains[0]);
	area_unmap(&self->env, &whole);
	check_domain_clean(self->env.domains[0], 0);
	check_nothing_pinned(&self->env);
}

/* Without: one map call per contiguous PFN run, at most. */
TEST_F(pages, one_map_call_per_run)
{
	struct mock_domain_stats st;
	struct iopt_area whole;

	area_init(&whole, &self->env, self->env.pages, IOVA_BASE, 0,
		  NPAGES * PAGE_SIZE);
	ASSERT_EQ(0, attach(&self->env, 0));
	ASSERT_EQ(0, area_map(&self->env, &whole));
	mock_domain_get_stats(self->env.domains[0], &st);
	/* Runs: 0-5, 6-9, 10, 11, 12-15, 16-17, 18-23. */
	if (!variant->temp_limit)
		ASSERT_EQ(7, st.map_calls);
	else
		ASSERT_GE(st.map_calls, 7);
	area_unmap(&self->env, &whole);
	check_domain_clean(self->env.domains[0], 0);
}

TEST(read_only_pages)
{
	struct env env;
	struct iopt_area area;
	u64 out[NPAGES];
	char c = 0;

	env_init(&env, false);
	area_init(&area, &env, env.pages, IOVA_BASE, 0, PAGE_SIZE);
	ASSERT_EQ(-EPERM, iopt_area_add_access(&area, 0, 0, out,
					       IOMMUFD_ACCESS_RW_WRITE));
	ASSERT_EQ(-EPERM, iopt_pages_rw_access(env.pages, 0, &c, 1,
					       IOMMUFD_ACCESS_RW_WRITE));
	ASSERT_EQ(0, iopt_area_add_access(&area, 0, 0, out, 0));
	iopt_area_remove_access(&area, 0, 0);
	env_destroy(&env);
}

/* A charge over RLIMIT_MEMLOCK fails and undoes the pin, in both modes. */
TEST(accounting_limits)
{
	static const enum iopt_account_mode modes[] = {
		IOPT_PAGES_ACCOUNT_USER, IOPT_PAGES_ACCOUNT_MM,
	};
	struct rlimit rl = { 10 * PAGE_SIZE, 10 * PAGE_SIZE };
	struct env env;
	struct iopt_area area;
	u64 out[NPAGES];

	ASSERT_EQ(0, setrlimit(RLIMIT_MEMLOCK, &rl));
	for (unsigned int m = 0; m != ARRAY_SIZE(modes); m++) {
		env_init(&env, true);
		env.pages->account_mode = modes[m];
		area_init(&area, &env, env.pages, IOVA_BASE, 0,
			  NPAGES * PAGE_SIZE);
		ASSERT_EQ(0, attach(&env, 0));
		ASSERT_EQ(-ENOMEM, area_map(&env, &area));
		check_domain_clean(env.domains[0], 0);
		ASSERT_EQ(0, env.pages->npinned);
		ASSERT_EQ(0, iopt_account_pinned());
		ASSERT_EQ(-ENOMEM, iopt_area_add_access(&area, 0, 10, out, 0));
		ASSERT_EQ(0, iopt_area_add_access(&area, 0, 9, out, 0));
		ASSERT_EQ(10, iopt_account_pinned());
		if (modes[m] == IOPT_PAGES_ACCOUNT_MM) {
			ASSERT_EQ(10, iopt_account_process_locked());
			ASSERT_EQ(0, iopt_account_user_locked(getuid()));
		} else {
			ASSERT_EQ(0, iopt_account_process_locked());
			ASSERT_EQ(10, iopt_account_user_locked(getuid()));
		}
		/* Exactly at the limit is fine; one page over is not. */
		ASSERT_EQ(-ENOMEM,
			  iopt_area_add_access(&area, 10, 10, out, 0));
		iopt_area_remove_access(&area, 0, 9);
		ASSERT_EQ(0, iopt_account_pinned());
		ASSERT_EQ(0, iopt_account_process_locked());
		ASSERT_EQ(0, iopt_account_user_locked(getuid()));
		env_destroy(&env);
	}
}

TEST(account_none_charges_only_pinned)
{
	struct rlimit rl = { 0, 0 };
	struct env env;
	struct iopt_area area;

	ASSERT_EQ(0, setrlimit(RLIMIT_MEMLOCK, &rl));
	env_init(&env, true);
	env.pages->account_mode = IOPT_PAGES_ACCOUNT_NONE;
	area_init(&area, &env, env.pages, IOVA_BASE, 0, NPAGES * PAGE_SIZE);
	ASSERT_EQ(0, attach(&env, 0));
	ASSERT_EQ(0, area_map(&env, &area));
	ASSERT_EQ(NPAGES, iopt_account_pinned());
	ASSERT_EQ(0, iopt_account_user_locked(getuid()));
	area_unmap(&env, &area);
	ASSERT_EQ(0, iopt_account_pinned());
	env_destroy(&env);
}

/* Pinning on behalf of a process that is gone fails with EFAULT. */
TEST(source_process_gone)
{
	struct env env;
	struct iopt_area area;
	pid_t child;

	child = fork();
	ASSERT_GE(child, 0);
	if (!child)
		_exit(0);
	ASSERT_EQ(child, waitpid(child, NULL, 0));
	env_init(&env, true);
	env.pages->source->pid = child;
	area_init(&area, &env, env.pages, IOVA_BASE, 0, PAGE_SIZE);
	ASSERT_EQ(0, attach(&env, 0));
	ASSERT_EQ(-EFAULT, area_map(&env, &area));
	check_domain_clean(env.domains[0], 0);
	env.pages->source->pid = getpid();
	env_destroy(&env);
}

/* The same memfd page through a user mapping and a file source. */
TEST(file_pages_share_identity)
{
	struct env env;
	struct iopt_pages *file;
	struct iopt_area farea;
	u64 want[NPAGES] = {};
	int prot;

	env_init(&env, true);
	/* memfd pages 20..23 are buf pages 6..9. */
	file = iopt_alloc_file_pages(env.memfd, 20 * PAGE_SIZE, 4 * PAGE_SIZE,
				     true);
	ASSERT_FALSE(IS_ERR(file));
	area_init(&farea, &env, file, IOVA_BASE, 0, 4 * PAGE_SIZE);
	ASSERT_EQ(0, attach(&env, 0));
	ASSERT_EQ(0, area_map(&env, &farea));
	for (int i = 6; i <= 9; i++) {
		ASSERT_EQ(PFN_PHYS(env.pfns[i]),
			  mock_domain_lookup(env.domains[0],
					     IOVA_BASE + (i - 6) * PAGE_SIZE,
					     &prot));
		want[i] = 1;
	}
	check_pins(&env, want);
	area_unmap(&env, &farea);
	iopt_put_pages(file);
	check_nothing_pinned(&env);
	env_destroy(&env);
}

/* ---- fail-nth sweeps -------------------------------------------------- */

struct snapshot {
	u64 io_pages[MAX_DOMAINS];
	u64 domain_sum[MAX_DOMAINS];
	u64 npinned, pinned_vm, user_locked;
	u64 index_store_sum, index_store_count;
	u64 access_nodes, domain_nodes, tree_sum;
	u64 counts[NPAGES];
	long live;
};

static int sum_cb(void *arg, u64 iova, u64 paddr, int prot)
{
	u64 *sum = arg;

	*sum += iova * 31 + paddr * 17 + prot;
	return 0;
}

static void take_snapshot(struct env *env, struct snapshot *s)
{
	struct mock_domain_stats st;
	struct interval_tree_node *node;
	u64 index;
	void *entry;

	memset(s, 0, sizeof(*s));
	for (int i = 0; i != MAX_DOMAINS; i++) {
		mock_domain_get_stats(env->domains[i], &st);
		s->io_pages[i] = st.io_pages;
		ASSERT_EQ(0, st.unmap_splits_map + st.unmap_not_mapped +
				     st.map_over_mapped);
		mock_domain_for_each(env->domains[i], 0, U64_MAX, sum_cb,
				     &s->domain_sum[i]);
	}
	s->npinned = env->pages->npinned;
	s->pinned_vm = iopt_account_pinned();
	s->user_locked = iopt_account_user_locked(getuid());
	index_store_for_each(&env->pages->pinned_pfns, index, entry) {
		s->index_store_sum += index * 13 + index_store_value(entry);
		s->index_store_count++;
	}
	interval_tree_for_each(node, &env->pages->access_itree, 0, U64_MAX) {
		s->access_nodes++;
		s->tree_sum += node->start * 3 + node->last * 5 +
			       container_of(node, struct iopt_pages_access,
					    node)->users;
	}
	interval_tree_for_each(node, &env->pages->domains_itree, 0, U64_MAX) {
		s->domain_nodes++;
		s->tree_sum += node->start * 7 + node->last * 11;
	}
	ASSERT_EQ(0, iopt_pin_counts(env->pfns, NPAGES, s->counts));
	s->live = mem_live_count();
}

static void expect_same(struct env *env, const struct snapshot *before)
{
	struct snapshot now;

	take_snapshot(env, &now);
	ASSERT_EQ(0, memcmp(before, &now, sizeof(now)));
}

enum sweep_op {
	OP_FILL_DOMAINS,	/* map a new area into two domains */
	OP_ATTACH,		/* attach a domain to a mapped area */
	OP_ADD_ACCESS,		/* access over domain-held and origin pages */
	OP_ADD_ACCESS_ORIGIN,	/* access over scrambled origin pages only */
	OP_RW,			/* rw across tiers */
};

/*
 * @big covers pages 0..21, @small pages 0..7; accesses go through @big,
 * which is only mapped for the fill and attach sweeps.
 */
struct sweep {
	struct env env;
	struct iopt_area big, small;
	bool big_mapped, small_mapped, fill_access;
};

static void sweep_prepare(struct sweep *sw, enum sweep_op op)
{
	u64 out[NPAGES];

	area_init(&sw->big, &sw->env, sw->env.pages, IOVA_BASE, 0,
		  22 * PAGE_SIZE);
	area_init(&sw->small, &sw->env, sw->env.pages, IOVA_BASE + 0x400000,
		  0, 8 * PAGE_SIZE);
	switch (op) {
	case OP_FILL_DOMAINS:
		ASSERT_EQ(0, attach(&sw->env, 0));
		ASSERT_EQ(0, attach(&sw->env, 1));
		break;
	case OP_ATTACH:
		ASSERT_EQ(0, attach(&sw->env, 0));
		ASSERT_EQ(0, area_map(&sw->env, &sw->big));
		sw->big_mapped = true;
		break;
	case OP_ADD_ACCESS:
	case OP_ADD_ACCESS_ORIGIN:
	case OP_RW:
		ASSERT_EQ(0, attach(&sw->env, 0));
		ASSERT_EQ(0, area_map(&sw->env, &sw->small));
		sw->small_mapped = true;
		break;
	}
	/* The fill and attach read some PFNs from the index store tier. */
	if (op == OP_FILL_DOMAINS || op == OP_ATTACH) {
		ASSERT_EQ(0, iopt_area_add_access(&sw->big, 9, 12, out, 0));
		sw->fill_access = true;
	}
}

static int sweep_run(struct sweep *sw, enum sweep_op op)
{
	static char data[NPAGES * PAGE_SIZE];
	u64 out[NPAGES];
	int rc = -EINVAL;

	switch (op) {
	case OP_FILL_DOMAINS:
		rc = area_map(&sw->env, &sw->big);
		sw->big_mapped = !rc;
		break;
	case OP_ATTACH:
		rc = attach(&sw->env, 1);
		break;
	case OP_ADD_ACCESS:
		rc = iopt_area_add_access(&sw->big, 2, 20, out, 0);
		if (!rc)
			iopt_area_remove_access(&sw->big, 2, 20);
		break;
	case OP_ADD_ACCESS_ORIGIN:
		/* Pins 8..20 (7 PFN runs) before the first store can fail. */
		rc = iopt_area_add_access(&sw->big, 8, 20, out, 0);
		if (!rc)
			iopt_area_remove_access(&sw->big, 8, 20);
		break;
	case OP_RW:
		rc = iopt_pages_rw_access(sw->env.pages, 5, data,
					  20 * PAGE_SIZE,
					  IOMMUFD_ACCESS_RW_WRITE);
		break;
	}
	return rc;
}

/* Undo everything so env_destroy finds no area and no access. */
static void sweep_cleanup(struct sweep *sw)
{
	if (sw->fill_access)
		iopt_area_remove_access(&sw->big, 9, 12);
	if (sw->big_mapped)
		area_unmap(&sw->env, &sw->big);
	if (sw->small_mapped)
		area_unmap(&sw->env, &sw->small);
}

static void fail_nth_sweep(enum sweep_op op, size_t temp_limit)
{
	unsigned int nth;
	bool fired = true;

	iopt_set_temp_memory_limit(temp_limit);
	for (nth = 1; fired; nth++) {
		struct snapshot before;
		struct sweep sw = {};
		int rc;

		env_init(&sw.env, true);
		sweep_prepare(&sw, op);
		take_snapshot(&sw.env, &before);

		fault_fail_nth_set(nth);
		rc = sweep_run(&sw, op);
		fired = fault_fail_nth_fired();
		fault_fail_nth_set(0);

		if (rc) {
			ASSERT_TRUE(fired);
			expect_same(&sw.env, &before);
		} else if (op == OP_ADD_ACCESS || op == OP_ADD_ACCESS_ORIGIN ||
			   op == OP_RW) {
			/* Transient pins are gone again either way. */
			expect_same(&sw.env, &before);
		}
		sweep_cleanup(&sw);
		check_nothing_pinned(&sw.env);
		env_destroy(&sw.env);
		ASSERT_LT(nth, 10000);
	}
	TH_LOG("op %d, temp limit %zu: %u failure points", op, temp_limit,
	       nth - 2);
}

TEST(fail_nth_fill_domains)
{
	fail_nth_sweep(OP_FILL_DOMAINS, 0);
	fail_nth_sweep(OP_FILL_DOMAINS, 16);
	fail_nth_sweep(OP_FILL_DOMAINS, 32);
	fail_nth_sweep(OP_FILL_DOMAINS, 48);
}

TEST(fail_nth_attach)
{
	fail_nth_sweep(OP_ATTACH, 0);
	fail_nth_sweep(OP_ATTACH, 16);
}

TEST(fail_nth_add_access)
{
	fail_nth_sweep(OP_ADD_ACCESS, 0);
	fail_nth_sweep(OP_ADD_ACCESS, 32);
	fail_nth_sweep(OP_ADD_ACCESS_ORIGIN, 0);
}

TEST(fail_nth_rw)
{
	fail_nth_sweep(OP_RW, 0);
	fail_nth_sweep(OP_RW, 16);
}

/* Removal paths consult fault injection too but never fail. */
TEST(fail_nth_removal_never_fails)
{
	for (unsigned int nth = 1; nth != 40; nth++) {
		struct iopt_area area;
		struct env env;
		u64 out[NPAGES];

		iopt_set_temp_memory_limit(nth % 2 ? 16 : 0);
		env_init(&env, true);
		area_init(&area, &env, env.pages, IOVA_BASE, 0,
			  22 * PAGE_SIZE);
		ASSERT_EQ(0, attach(&env, 0));
		ASSERT_EQ(0, attach(&env, 1));
		ASSERT_EQ(0, area_map(&env, &area));
		ASSERT_EQ(0, iopt_area_add_access(&area, 3, 17, out, 0));
		fault_fail_nth_set(nth);
		detach(&env, 0);
		iopt_area_remove_access(&area, 3, 17);
		area_unmap(&env, &area);
		detach(&env, 1);
		fault_fail_nth_set(0);
		check_nothing_pinned(&env);
		check_domain_clean(env.domains[0], 0);
		check_domain_clean(env.domains[1], 0);
		env_destroy(&env);
	}
}

/* ---- randomized model test -------------------------------------------- */

#define MAX_ACCESSES 8

struct model_access {
	struct iopt_area *area;
	u64 first, last;
};

struct model {
	struct env env;
	struct iopt_area areas[2];
	bool mapped[2];
	struct model_access acc[MAX_ACCESSES];
	unsigned int nr_acc;
	struct rng rng;
};

static void model_check(struct model *m)
{
	u64 want[NPAGES] = {}, npinned = 0;
	bool any_domain = false;

	for (int d = 0; d != MAX_DOMAINS; d++)
		any_domain |= m->env.attached[d];
	for (int a = 0; a != 2; a++) {
		if (!m->mapped[a] || !any_domain)
			continue;
		for (u64 i = iopt_area_index(&m->areas[a]);
		     i <= iopt_area_last_index(&m->areas[a]); i++)
			want[i] = 1;
	}
	for (unsigned int k = 0; k != m->nr_acc; k++)
		for (u64 i = m->acc[k].first; i <= m->acc[k].last; i++)
			want[i] = 1;
	for (int i = 0; i != NPAGES; i++)
		npinned += want[i];
	check_pins(&m->env, want);
	ASSERT_EQ(npinned, m->env.pages->npinned);
	ASSERT_EQ(npinned, iopt_account_user_locked(getuid()));

	for (int d = 0; d != MAX_DOMAINS; d++) {
		u64 io_pages = 0;

		if (m->env.attached[d]) {
			for (int a = 0; a != 2; a++) {
				if (!m->mapped[a])
					continue;
				check_area_in_domain(&m->env, &m->areas[a],
						     m->env.domains[d]);
				io_pages += iopt_area_length(&m->areas[a]) /
					    MOCK_IO_PAGE_SIZE;
			}
		}
		check_domain_clean(m->env.domains[d], io_pages);
	}
}

static void model_step(struct model *m)
{
	struct rng *r = &m->rng;
	int d = rng_below(r, MAX_DOMAINS), a = rng_below(r, 2);
	u64 out[NPAGES];

	switch (rng_below(r, 7)) {
	case 0:
		if (m->env.attached[d])
			detach(&m->env, d);
		else
			ASSERT_EQ(0, attach(&m->env, d));
		break;
	case 1: {
		bool busy = false;

		for (unsigned int k = 0; k != m->nr_acc; k++)
			busy |= m->acc[k].area == &m->areas[a];
		if (m->mapped[a] && !busy) {
			area_unmap(&m->env, &m->areas[a]);
			m->mapped[a] = false;
		} else if (!m->mapped[a]) {
			ASSERT_EQ(0, area_map(&m->env, &m->areas[a]));
			m->mapped[a] = true;
		}
		break;
	}
	case 2:
	case 3:
		if (m->nr_acc != MAX_ACCESSES) {
			struct iopt_area *area = &m->areas[a];
			u64 first = rng_range(r, iopt_area_index(area),
					      iopt_area_last_index(area));
			u64 last = rng_range(r, first,
					     iopt_area_last_index(area));

			ASSERT_EQ(0, iopt_area_add_access(area, first, last,
							  out, 0));
			for (u64 i = first; i <= last; i++)
				ASSERT_EQ(m->env.pfns[i], out[i - first]);
			m->acc[m->nr_acc++] = (struct model_access){
				area, first, last
			};
		}
		break;
	case 4:
		if (m->nr_acc) {
			unsigned int k = rng_below(r, m->nr_acc);

			iopt_area_remove_access(m->acc[k].area, m->acc[k].first,
						m->acc[k].last);
			m->acc[k] = m->acc[--m->nr_acc];
		}
		break;
	case 5: {
		static char data[NPAGES * PAGE_SIZE];
		u64 start = rng_below(r, NPAGES * PAGE_SIZE);
		u64 len = rng_range(r, 1, NPAGES * PAGE_SIZE - start);
		bool write = rng_chance(r, 1, 2);

		for (u64 i = 0; write && i != len; i++)
			data[i] = (char)rng_next(r);
		ASSERT_EQ(0, iopt_pages_rw_access(m->env.pages, start, data,
						  len,
						  write ? IOMMUFD_ACCESS_RW_WRITE :
							  0));
		ASSERT_EQ(0, memcmp(m->env.buf + start, data, len));
		break;
	}
	case 6: {
		static const size_t limits[] = { 16, 32, 48, 100, 0 };

		iopt_set_temp_memory_limit(limits[rng_below(r,
							    ARRAY_SIZE(limits))]);
		break;
	}
	}
}

TEST(random_tier_transitions)
{
	u64 steps = test_iterations(20000);
	struct model *m = calloc(1, sizeof(*m));

	ASSERT_NONNULL(m);
	rng_init(&m->rng, test_seed());
	env_init(&m->env, true);
	/* Two areas over overlapping slices, sub-page at both ends. */
	area_init(&m->areas[0], &m->env, m->env.pages, IOVA_BASE,
		  MOCK_IO_PAGE_SIZE, 15 * PAGE_SIZE);
	area_init(&m->areas[1], &m->env, m->env.pages, IOVA_BASE + 0x200000,
		  6 * PAGE_SIZE, 17 * PAGE_SIZE + MOCK_IO_PAGE_SIZE);
	for (u64 i = 0; i != steps; i++) {
		model_step(m);
		model_check(m);
	}
	while (m->nr_acc) {
		m->nr_acc--;
		iopt_area_remove_access(m->acc[m->nr_acc].area,
					m->acc[m->nr_acc].first,
					m->acc[m->nr_acc].last);
	}
	for (int a = 0; a != 2; a++)
		if (m->mapped[a])
			area_unmap(&m->env, &m->areas[a]);
	check_nothing_pinned(&m->env);
	env_destroy(&m->env);
	free(m);
}
