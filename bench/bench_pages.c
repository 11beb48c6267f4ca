// SPDX-License-Identifier: MIT
/*
 * iopt_pages: filling 1 GiB of already-populated memory into 1 and into 4
 * mock domains, with 4 KiB pages and with 2 MiB (transparent huge page)
 * backing, against re-populating the same present memory with
 * MADV_POPULATE_WRITE in the same run: the least any pin of user memory can
 * cost here. Also the heap the engine itself keeps per mapped page while
 * only domains hold the PFNs.
 *
 * Note on the two backings: a PFN here is a page's identity (its address
 * for anonymous memory), so both backings give one contiguous PFN run and
 * the same number of domain map calls; what differs is the populate walk.
 */
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "base/err_ptr.h"
#include "bench.h"
#include "domains/mock_domain.h"
#include "iopt/pages.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define MAX_DOMAINS 4

struct fill_case {
	char *buf;
	u64 len;
	unsigned int ndomains;
};

static void area_setup(struct iopt_area *area, struct io_pagetable *iopt,
		       struct iopt_pages *pages, u64 len)
{
	memset(area, 0, sizeof(*area));
	area->iopt = iopt;
	area->pages = pages;
	area->pages_node.start = 0;
	area->pages_node.last = len / PAGE_SIZE - 1;
	area->node.start = MOCK_APERTURE_START;
	area->node.last = MOCK_APERTURE_START + len - 1;
	area->iommu_prot = IOMMU_READ | IOMMU_WRITE;
}

/* Time iopt_area_fill_domains() alone; the rest is set-up and tear-down. */
static double run_fill(void *arg)
{
	struct fill_case *fc = arg;
	struct iommu_domain *domains[MAX_DOMAINS];
	struct io_pagetable iopt;
	struct iopt_pages *pages;
	struct iopt_area area;
	u64 t0, elapsed;
	int rc;

	iopt_init_table(&iopt);
	for (unsigned int i = 0; i != fc->ndomains; i++) {
		domains[i] = mock_domain_alloc(0);
		BENCH_CHECK(domains[i], "mock domain");
		BENCH_CHECK(!iopt_table_add_domain(&iopt, domains[i]), "attach");
	}
	pages = iopt_alloc_user_pages((uintptr_t)fc->buf, fc->len, true);
	BENCH_CHECK(!IS_ERR(pages), "pages");
	pages->account_mode = IOPT_PAGES_ACCOUNT_NONE;
	area_setup(&area, &iopt, pages, fc->len);

	t0 = bench_now_ns();
	rc = iopt_area_fill_domains(&area, pages);
	elapsed = bench_now_ns() - t0;
	BENCH_CHECK(!rc, "fill: %d", rc);
	BENCH_CHECK(pages->npinned == fc->len / PAGE_SIZE, "pinned");
	/* Spot-check a translation in the last domain. */
	BENCH_CHECK(iommu_iova_to_phys(domains[fc->ndomains - 1],
				       MOCK_APERTURE_START + fc->len / 2) ==
			    (uintptr_t)fc->buf + fc->len / 2,
		    "translation");

	iopt_area_unfill_domains(&area, pages);
	iopt_put_pages(pages);
	for (unsigned int i = 0; i != fc->ndomains; i++) {
		iopt_table_remove_domain(&iopt, domains[i]);
		iommu_domain_free(domains[i]);
	}
	iopt_destroy_table(&iopt);
	return (double)elapsed;
}

static double run_populate(void *arg)
{
	struct fill_case *fc = arg;
	u64 t0 = bench_now_ns();

	BENCH_CHECK(!madvise(fc->buf, fc->len, MADV_POPULATE_WRITE),
		    "MADV_POPULATE_WRITE");
	return (double)(bench_now_ns() - t0);
}

static char *alloc_buffer(u64 len, bool huge)
{
	u64 align = huge ? 2ULL << 20 : PAGE_SIZE;
	char *raw = mmap(NULL, len + align, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *buf;

	BENCH_CHECK(raw != MAP_FAILED, "mmap");
	buf = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
	madvise(buf, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	BENCH_CHECK(!madvise(buf, len, MADV_POPULATE_WRITE), "populate");
	return buf;
}

/* AnonHugePages of the whole process, in KiB (0 if unknown). */
static u64 anon_huge_kib(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	unsigned long long kib = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %llu kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static void fill_table(const char *title, char *buf, u64 len)
{
	struct fill_case fc = { .buf = buf, .len = len };
	double populate, fill[MAX_DOMAINS + 1];
	double gib = (double)len / (1ULL << 30);
	double ms = 1e6 * gib;
	char label[64];

	populate = bench_median(run_populate, &fc);
	for (unsigned int n = 1; n <= MAX_DOMAINS; n *= 4) {
		fc.ndomains = n;
		fill[n] = bench_median(run_fill, &fc);
	}
	bench_table_begin(title, "MADV_POPULATE_WRITE of the same present memory",
			  "ms/GiB");
	bench_table_row("re-populate (baseline)", len / PAGE_SIZE,
			populate / ms, populate / ms);
	for (unsigned int n = 1; n <= MAX_DOMAINS; n *= 4) {
		snprintf(label, sizeof(label), "fill into %u domain%s", n,
			 n == 1 ? "" : "s");
		bench_table_row(label, len / PAGE_SIZE, fill[n] / ms,
				populate / ms);
	}
	bench_table_end();
	{
		double extra = (fill[4] - fill[1]) / 3;

		bench_note("each further domain: %.2f ms/GiB = %.2f of the first domain's cost",
			   extra / ms, extra / fill[1]);
		bench_target("each further domain <= 1/3 of the first's cost",
			     extra <= fill[1] / 3);
	}
}

/* Heap the engine keeps per page with one domain holding the PFNs. */
static void memory_table(char *buf, u64 len)
{
	struct iommu_domain *domain, *direct;
	struct io_pagetable iopt;
	struct iopt_pages *pages;
	struct iopt_area area;
	size_t before, engine, mock_only;

	/* The mock's own table, mapped directly with the same run. */
	direct = mock_domain_alloc(0);
	BENCH_CHECK(direct, "mock domain");
	before = mallinfo2().uordblks;
	BENCH_CHECK(!iommu_map(direct, MOCK_APERTURE_START, (uintptr_t)buf, len,
			       IOMMU_READ | IOMMU_WRITE),
		    "direct map");
	mock_only = mallinfo2().uordblks - before;
	iommu_unmap(direct, MOCK_APERTURE_START, len);
	iommu_domain_free(direct);

	iopt_init_table(&iopt);
	domain = mock_domain_alloc(0);
	BENCH_CHECK(domain, "mock domain");
	BENCH_CHECK(!iopt_table_add_domain(&iopt, domain), "attach");
	before = mallinfo2().uordblks;
	pages = iopt_alloc_user_pages((uintptr_t)buf, len, true);
	BENCH_CHECK(!IS_ERR(pages), "pages");
	pages->account_mode = IOPT_PAGES_ACCOUNT_NONE;
	area_setup(&area, &iopt, pages, len);
	BENCH_CHECK(!iopt_area_fill_domains(&area, pages), "fill");
	engine = mallinfo2().uordblks - before;

	bench_table_begin("engine memory with only domains holding PFNs",
			  "the mock domain's own table for the same mapping",
			  "B/page");
	bench_table_row("heap growth: engine + domain", len / PAGE_SIZE,
			(double)engine / (len / PAGE_SIZE),
			(double)mock_only / (len / PAGE_SIZE));
	bench_table_end();
	bench_note("engine alone: %zd bytes for %llu pages (the pages object; nothing per page)",
		   (ssize_t)(engine - mock_only),
		   (unsigned long long)(len / PAGE_SIZE));
	bench_target("0 bytes per page in the engine",
		     (ssize_t)(engine - mock_only) < (ssize_t)(len / PAGE_SIZE));

	iopt_area_unfill_domains(&area, pages);
	iopt_put_pages(pages);
	iopt_table_remove_domain(&iopt, domain);
	iommu_domain_free(domain);
	iopt_destroy_table(&iopt);
}

int main(int argc, char **argv)
{
	u64 len;
	char *small, *huge;
	u64 huge_before;

	bench_init(argc, argv, "iopt_pages fill");
	len = bench_quick() ? 16ULL << 20 : 1ULL << 30;

	small = alloc_buffer(len, false);
	fill_table("fill, 4 KiB pages (THP off for the buffer)", small, len);
	memory_table(small, len);
	munmap(small, len);

	huge_before = anon_huge_kib();
	huge = alloc_buffer(len, true);
	bench_note("2 MiB backing: %llu MiB of the buffer is in transparent huge pages",
		   (unsigned long long)((anon_huge_kib() - huge_before) >> 10));
	fill_table("fill, 2 MiB-backed memory (MADV_HUGEPAGE)", huge, len);
	munmap(huge, len);
	return 0;
}
