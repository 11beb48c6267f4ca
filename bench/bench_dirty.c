// SPDX-License-Identifier: MIT
/*
 * Dirty tracking: IOMMU_HWPT_GET_DIRTY_BITMAP over 128 MiB and 1 GiB of
 * mapped IOVA with 1% of its 4 KiB pages dirty (and, for the 1 GiB case,
 * none and all of them), read at 4 KiB a bit, through uiommufd_ioctl() as
 * a VMM's migration loop would call it: the dispatcher, the range and
 * hole checks, the bitmap's page probe, the domain's two-level dirty
 * bitmap walked a word at a time, and the copies in and out of the
 * caller's bitmap.
 *
 * Two HW pagetables mirror the same IOAS: the default mock page table
 * (2 KiB entries, so 1% of 4 KiB pages is 2 IO pages each) and the
 * MOCK_IOMMUPT_HUGE one, where the mapping is made of 1 MiB entries and a
 * dirty byte dirties its whole entry (1% of pages dirties most entries).
 *
 * Baseline, measured in the same run and interleaved: one plain pass over
 * a bitmap of the same size (every word read and OR-ed together), the
 * least any reader of that bitmap pays. The read with clearing re-marks
 * the pages between runs, untimed; every read's bitmap is checked against
 * the pages marked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/common.h"
#include "bench.h"
#include "harness/rng.h"
#include "uiommufd/iommufd_test_uapi.h"
#include "uiommufd/iommufd_uapi.h"
#include "uiommufd/uiommufd.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define PG 4096ULL
#define HUGE (1ULL << 20)
#define IOVA 0x10000000ULL	/* 256 MiB: room for 1 GiB in the aperture */
/* Reads per figure per turn, so one figure is not a single clock read. */
#define SLICE 8

struct world {
	struct uiommufd_ctx *ctx;
	u32 ioas, idev, hwpt[2];	/* default, MOCK_IOMMUPT_HUGE */
	char *buf;
	u64 len;
};

struct dcase {
	struct world *w;
	unsigned int pt;	/* 0 default, 1 huge */
	u64 len;		/* of the IOVA read */
	unsigned int per_mille;	/* dirty 4 KiB pages */
	bool clear;
	u64 nwords;
	u64 *marks;		/* which 4 KiB pages are dirty */
	u64 *want;		/* the bitmap they make in this page table */
	u64 *bitmap;		/* the caller's */
	u64 *scan;		/* the baseline's */
};

static void cmd_ok(struct uiommufd_ctx *ctx, unsigned long req, void *cmd,
		   const char *what)
{
	if (uiommufd_ioctl(ctx, req, cmd))
		bench_fail("%s: %m (%s)", what,
			   uiommufd_last_reason() ?: "no reason");
}

static void world_init(struct world *w, u64 len)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct iommu_test_cmd mock;
	struct iommu_ioas_map map = { .size = sizeof(map) };
	char *raw;

	w->len = len;
	w->ctx = uiommufd_ctx_open(0);
	BENCH_CHECK(w->ctx, "context");
	raw = mmap(NULL, len + (2ULL << 20), PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	BENCH_CHECK(raw != MAP_FAILED, "mmap");
	w->buf = (char *)(((uintptr_t)raw + (2ULL << 20) - 1) &
			  ~(uintptr_t)((2ULL << 20) - 1));
	BENCH_CHECK(!madvise(w->buf, len, MADV_POPULATE_WRITE), "populate");
	cmd_ok(w->ctx, IOMMU_IOAS_ALLOC, &alloc, "IOAS_ALLOC");
	w->ioas = alloc.out_ioas_id;
	memset(&mock, 0, sizeof(mock));
	mock.size = sizeof(mock);
	mock.op = IOMMU_TEST_OP_MOCK_DOMAIN;
	mock.id = w->ioas;
	cmd_ok(w->ctx, IOMMU_TEST_CMD, &mock, "MOCK_DOMAIN");
	w->idev = mock.mock_domain.out_idev_id;
	for (unsigned int pt = 0; pt != 2; pt++) {
		struct iommu_hwpt_selftest data = {
			.pagetable_type = pt ? MOCK_IOMMUPT_HUGE :
					       MOCK_IOMMUPT_DEFAULT,
		};
		struct iommu_hwpt_alloc ha = {
			.size = sizeof(ha),
			.flags = IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
			.dev_id = w->idev,
			.pt_id = w->ioas,
			.data_type = IOMMU_HWPT_DATA_SELFTEST,
			.data_len = sizeof(data),
			.data_uptr = (uintptr_t)&data,
		};
		struct iommu_hwpt_set_dirty_tracking on = {
			.size = sizeof(on),
			.flags = IOMMU_HWPT_DIRTY_TRACKING_ENABLE,
		};

		cmd_ok(w->ctx, IOMMU_HWPT_ALLOC, &ha, "HWPT_ALLOC");
		w->hwpt[pt] = ha.out_hwpt_id;
		on.hwpt_id = w->hwpt[pt];
		cmd_ok(w->ctx, IOMMU_HWPT_SET_DIRTY_TRACKING, &on,
		       "SET_DIRTY_TRACKING");
	}
	map.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
		    IOMMU_IOAS_MAP_WRITEABLE;
	map.ioas_id = w->ioas;
	map.user_va = (uintptr_t)w->buf;
	map.length = len;
	map.iova = IOVA;
	cmd_ok(w->ctx, IOMMU_IOAS_MAP, &map, "IOAS_MAP");
}

/* The test module's device writes the pages @dc->marks names. */
static void dirty_pages(struct dcase *dc)
{
	struct iommu_test_cmd cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.size = sizeof(cmd);
	cmd.op = IOMMU_TEST_OP_DIRTY;
	cmd.id = dc->w->hwpt[dc->pt];
	cmd.dirty.iova = IOVA;
	cmd.dirty.length = dc->len;
	cmd.dirty.page_size = PG;
	cmd.dirty.uptr = (uintptr_t)dc->marks;
	cmd_ok(dc->w->ctx, IOMMU_TEST_CMD, &cmd, "DIRTY");
}

static void get_bitmap(struct dcase *dc, bool clear)
{
	struct iommu_hwpt_get_dirty_bitmap cmd = {
		.size = sizeof(cmd),
		.hwpt_id = dc->w->hwpt[dc->pt],
		.flags = clear ? 0 : IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR,
		.iova = IOVA,
		.length = dc->len,
		.page_size = PG,
		.data = (uintptr_t)dc->bitmap,
	};

	cmd_ok(dc->w->ctx, IOMMU_HWPT_GET_DIRTY_BITMAP, &cmd,
	       "GET_DIRTY_BITMAP");
}

static void dcase_init(struct dcase *dc, struct world *w, unsigned int pt,
		       u64 len, unsigned int per_mille, bool clear)
{
	u64 npages = len / PG, per_entry = pt ? HUGE / PG : 1;
	struct rng r;

	memset(dc, 0, sizeof(*dc));
	dc->w = w;
	dc->pt = pt;
	dc->len = len;
	dc->per_mille = per_mille;
	dc->clear = clear;
	dc->nwords = npages / 64;
	dc->marks = bench_alloc(dc->nwords * 8);
	dc->want = bench_alloc(dc->nwords * 8);
	dc->bitmap = bench_alloc(dc->nwords * 8);
	dc->scan = bench_alloc(dc->nwords * 8);
	memset(dc->marks, 0, dc->nwords * 8);
	memset(dc->want, 0, dc->nwords * 8);
	rng_init(&r, 0x5eed ^ len ^ per_mille);
	for (u64 i = 0; i != npages; i++)
		if (rng_below(&r, 1000) < per_mille)
			dc->marks[i / 64] |= 1ULL << (i % 64);
	/* A dirty byte dirties its entry: a 1 MiB one in the huge table. */
	for (u64 i = 0; i != npages; i++) {
		u64 e = i / per_entry * per_entry;

		if (!(dc->marks[i / 64] >> (i % 64) & 1))
			continue;
		for (u64 j = e; j != e + per_entry; j++)
			dc->want[j / 64] |= 1ULL << (j % 64);
	}
	for (u64 i = 0; i != dc->nwords; i++)
		dc->scan[i] = dc->want[i] ^ (i * 0x9e3779b97f4a7c15ULL);
	/* Start clean, then dirty. */
	get_bitmap(dc, true);
	dirty_pages(dc);
}

static void dcase_free(struct dcase *dc)
{
	/* Leave the page tables clean for the next case. */
	get_bitmap(dc, true);
	free(dc->marks);
	free(dc->want);
	free(dc->bitmap);
	free(dc->scan);
}

static void check_bitmap(struct dcase *dc)
{
	for (u64 i = 0; i != dc->nwords; i++)
		if (dc->bitmap[i] != dc->want[i])
			bench_fail("bitmap word %llu: %#llx, want %#llx",
				   (unsigned long long)i,
				   (unsigned long long)dc->bitmap[i],
				   (unsigned long long)dc->want[i]);
}

/* One pass over a bitmap of the same size: the least a reader pays. */
static u64 scan_bitmap(const u64 *words, u64 n)
{
	u64 acc = 0;

	for (u64 i = 0; i != n; i++)
		acc |= words[i] + i;
	return acc;
}

static void run_case(void *arg, double *figs)
{
	struct dcase *dc = arg;
	u64 t0, read = 0, scan = 0;

	for (unsigned int i = 0; i != SLICE; i++) {
		if (dc->clear)
			dirty_pages(dc);
		memset(dc->bitmap, 0, dc->nwords * 8);
		t0 = bench_now_ns();
		get_bitmap(dc, dc->clear);
		read += bench_now_ns() - t0;
		check_bitmap(dc);

		t0 = bench_now_ns();
		bench_consume(scan_bitmap(dc->scan, dc->nwords));
		scan += bench_now_ns() - t0;
	}
	figs[0] = (double)read / SLICE / 1000;
	figs[1] = (double)scan / SLICE / 1000;
}

static void one_case(struct world *w, unsigned int pt, u64 len,
		     unsigned int per_mille, bool clear)
{
	struct dcase dc;
	double med[2];
	char label[80];

	dcase_init(&dc, w, pt, len, per_mille, clear);
	bench_median_multi(run_case, &dc, 2, med);
	snprintf(label, sizeof(label), "%s %llu MiB %u%%%s%s",
		 pt ? "huge" : "2 KiB", (unsigned long long)(len >> 20),
		 per_mille / 10, per_mille % 10 ? ".x" : "",
		 clear ? " clear" : " no-clear");
	bench_table_row(label, len / PG, med[0], med[1]);
	dcase_free(&dc);
}

int main(int argc, char **argv)
{
	struct world w;
	u64 big, sizes[2];

	bench_init(argc, argv, "bench_dirty");
	big = bench_quick() ? 32ULL << 20 : 1ULL << 30;
	sizes[0] = bench_quick() ? 16ULL << 20 : 128ULL << 20;
	sizes[1] = big;
	world_init(&w, big);

	bench_table_begin("IOMMU_HWPT_GET_DIRTY_BITMAP at 4 KiB a bit, 1% of pages dirty",
			  "one plain pass (read and OR) over a bitmap of the same size",
			  "us");
	for (unsigned int s = 0; s != 2; s++)
		for (unsigned int pt = 0; pt != 2; pt++)
			for (int clear = 0; clear != 2; clear++)
				one_case(&w, pt, sizes[s], 10, clear);
	bench_table_end();

	bench_table_begin("the same over all of it, as dirtiness varies",
			  "one plain pass (read and OR) over a bitmap of the same size",
			  "us");
	one_case(&w, 0, big, 0, true);
	one_case(&w, 0, big, 1000, true);
	one_case(&w, 1, big, 1000, true);
	bench_table_end();
	bench_note("N is the bitmap's bits (4 KiB pages of IOVA); 1 GiB is a 32 KiB bitmap");
	uiommufd_ctx_close(w.ctx);
	return 0;
}
