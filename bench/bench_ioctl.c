// SPDX-License-Identifier: MIT
/*
 * The command layer: what a command costs on top of the engine work it
 * does, next to what a kernel ioctl pays before doing anything at all.
 *
 * A program that talks to the kernel's /dev/iommu pays at least one system
 * call per command; uiommufd runs the command in the caller's process, so
 * the question is whether dispatch (size rules, copies in and out, the
 * object lookup) stays below that floor. Measured in the same run,
 * interleaved, on one context:
 *
 *  1. The dispatcher pair: uiommufd_ioctl(IOMMU_IOAS_MAP) of one 4 KiB page
 *     of a populated anonymous buffer, read/write, at a fixed IOVA, then
 *     uiommufd_ioctl(IOMMU_IOAS_UNMAP) of it, on an IOAS with one mock
 *     domain attached (IOMMU_TEST_OP_MOCK_DOMAIN).
 *  2. The engine pair: the same two calls made directly on the same IOAS
 *     (iopt_map_user_pages + iopt_unmap_iova on its io_pagetable, with the
 *     account mode the dispatcher uses): the work the command exists for.
 *  3. The floor: one bare system call, syscall(SYS_getppid) (libc cannot
 *     cache it), over the same number of iterations. Target: the whole
 *     dispatcher pair costs less than two of them, the two ioctls a
 *     kernel iommufd user pays for the same pair before any work.
 *  4. The fixed cost per command, without engine work: IOMMU_OPTION GET
 *     HUGE_PAGES on the IOAS (dispatch, IOAS lookup, response copy),
 *     IOMMU_VFIO_IOAS GET on a context with a compat IOAS (dispatch, the
 *     context lock, response copy) and on one without (ENODEV: the
 *     failure path, a formatted reason included), and for reference the
 *     IOAS lookup alone (iommufd_get_ioas + iommufd_put_object).
 *  5. For information: one madvise(MADV_POPULATE_WRITE) of the page, the
 *     system call every map makes to pin its (already present) page: a
 *     lower bound for the engine pair as built.
 *
 * The figures take turns in short slices, so drift on a shared machine
 * hits them alike. The buffer is kept in 4 KiB pages (MADV_NOHUGEPAGE) and
 * made present once; every map pins its page again, as a real
 * IOMMU_IOAS_MAP does.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/err_ptr.h"
#include "bench.h"
#include "iommufd/iommufd_private.h"
#include "iopt/accounting.h"
#include "iopt/io_pagetable.h"
#include "uiommufd/iommufd_test_uapi.h"
#include "uiommufd/iommufd_uapi.h"
#include "uiommufd/uiommufd.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define PAIR_SYSCALLS 2.0	/* target: a pair below two bare syscalls */
#define BUF_PAGES 16		/* the page mapped is in the middle */
#define SLICE 100		/* calls per figure per turn */
#define MAP_IOVA (MOCK_APERTURE_START + 0x100000)
#define MAP_FLAGS                                                          \
	(IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |              \
	 IOMMU_IOAS_MAP_WRITEABLE)

struct ioctl_bench {
	struct uiommufd_ctx *ctx;	/* the IOAS with its mock domain */
	u32 ioas_id;
	u32 hwpt_id;
	struct iommufd_ioas *ioas;	/* held for the engine pair */
	enum iopt_account_mode mode;	/* what the dispatcher uses */

	struct uiommufd_ctx *vfio_ctx;	/* a compat IOAS is set on it */
	u32 vfio_ioas_id;
	struct uiommufd_ctx *bare_ctx;	/* no compat IOAS: GET is ENODEV */

	char *buf;
	u64 uptr;			/* the page mapped */
	u64 iters;			/* a multiple of SLICE */
	pid_t ppid;
};

/* ---- small wrappers over the public API ---------------------------------- */

static int ioas_alloc(struct uiommufd_ctx *ctx, u32 *ioas_id)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	int rc = uiommufd_ioctl(ctx, IOMMU_IOAS_ALLOC, &cmd);

	if (!rc)
		*ioas_id = cmd.out_ioas_id;
	return rc;
}

static int mock_domain(struct uiommufd_ctx *ctx, u32 ioas_id, u32 *hwpt_id)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN,
		.id = ioas_id,
	};
	int rc = uiommufd_ioctl(ctx, IOMMU_TEST_CMD, &cmd);

	if (!rc)
		*hwpt_id = cmd.mock_domain.out_hwpt_id;
	return rc;
}

static int check_map(struct uiommufd_ctx *ctx, u32 hwpt_id, u64 iova,
		     u64 length, u64 uptr)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MD_CHECK_MAP,
		.id = hwpt_id,
		.check_map = { .iova = iova, .length = length, .uptr = uptr },
	};

	return uiommufd_ioctl(ctx, IOMMU_TEST_CMD, &cmd);
}

static inline int ioas_map(struct uiommufd_ctx *ctx, u32 ioas_id, u64 uptr,
			   u64 length, u64 iova)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = MAP_FLAGS,
		.ioas_id = ioas_id,
		.user_va = uptr,
		.length = length,
		.iova = iova,
	};

	return uiommufd_ioctl(ctx, IOMMU_IOAS_MAP, &cmd);
}

static inline int ioas_unmap(struct uiommufd_ctx *ctx, u32 ioas_id, u64 iova,
			     u64 length, u64 *unmapped)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.iova = iova,
		.length = length,
	};
	int rc = uiommufd_ioctl(ctx, IOMMU_IOAS_UNMAP, &cmd);

	*unmapped = cmd.length;
	return rc;
}

static inline int option_huge_pages_get(struct uiommufd_ctx *ctx,
					u32 ioas_id, u64 *val)
{
	struct iommu_option cmd = {
		.size = sizeof(cmd),
		.option_id = IOMMU_OPTION_HUGE_PAGES,
		.op = IOMMU_OPTION_OP_GET,
		.object_id = ioas_id,
	};
	int rc = uiommufd_ioctl(ctx, IOMMU_OPTION, &cmd);

	*val = cmd.val64;
	return rc;
}

static inline int vfio_ioas(struct uiommufd_ctx *ctx, u16 op, u32 *ioas_id)
{
	struct iommu_vfio_ioas cmd = {
		.size = sizeof(cmd),
		.ioas_id = *ioas_id,
		.op = op,
	};
	int rc = uiommufd_ioctl(ctx, IOMMU_VFIO_IOAS, &cmd);

	*ioas_id = cmd.ioas_id;
	return rc;
}

/* ---- setup ------------------------------------------------------------- */

static void setup(struct ioctl_bench *b)
{
	u64 len = BUF_PAGES * PAGE_SIZE, iova = MAP_IOVA, unmapped;

	memset(b, 0, sizeof(*b));
	b->iters = bench_quick() ? 2000 : 20000;
	b->ppid = getppid();

	b->buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	BENCH_CHECK(b->buf != MAP_FAILED, "mmap");
	madvise(b->buf, len, MADV_NOHUGEPAGE);
	BENCH_CHECK(!madvise(b->buf, len, MADV_POPULATE_WRITE),
		    "MADV_POPULATE_WRITE");
	b->uptr = (uintptr_t)b->buf + BUF_PAGES / 2 * PAGE_SIZE;

	b->ctx = uiommufd_ctx_open(0);
	BENCH_CHECK(b->ctx, "context: %s", strerror(errno));
	BENCH_CHECK(!ioas_alloc(b->ctx, &b->ioas_id), "IOAS: %s",
		    uiommufd_last_reason());
	BENCH_CHECK(!mock_domain(b->ctx, b->ioas_id, &b->hwpt_id),
		    "mock domain: %s", uiommufd_last_reason());

	/* The engine pair works on the same IOAS, through its io_pagetable. */
	b->ioas = iommufd_get_ioas(b->ctx, b->ioas_id);
	BENCH_CHECK(!IS_ERR(b->ioas), "IOAS lookup");
	/* What ctx_account_mode() gives a context in its default mode. */
	b->mode = iommufd_ctx_account_mode(b->ctx);

	/* Both map the page where the domain sees it, and unmap it whole. */
	BENCH_CHECK(!ioas_map(b->ctx, b->ioas_id, b->uptr, PAGE_SIZE,
			      MAP_IOVA),
		    "map: %s", uiommufd_last_reason());
	BENCH_CHECK(!check_map(b->ctx, b->hwpt_id, MAP_IOVA, PAGE_SIZE,
			       b->uptr),
		    "the domain does not map the page: %s",
		    uiommufd_last_reason());
	BENCH_CHECK(!ioas_unmap(b->ctx, b->ioas_id, MAP_IOVA, PAGE_SIZE,
				&unmapped) && unmapped == PAGE_SIZE,
		    "unmap: %s", uiommufd_last_reason());
	BENCH_CHECK(!iopt_map_user_pages(&b->ioas->iopt, &iova, b->uptr,
					 PAGE_SIZE, IOMMU_READ | IOMMU_WRITE,
					 0, b->mode) &&
			    iova == MAP_IOVA,
		    "engine map");
	BENCH_CHECK(!check_map(b->ctx, b->hwpt_id, MAP_IOVA, PAGE_SIZE,
			       b->uptr),
		    "the domain does not map the engine's page: %s",
		    uiommufd_last_reason());
	BENCH_CHECK(!iopt_unmap_iova(&b->ioas->iopt, MAP_IOVA, PAGE_SIZE,
				     &unmapped) && unmapped == PAGE_SIZE,
		    "engine unmap");

	b->vfio_ctx = uiommufd_ctx_open(0);
	BENCH_CHECK(b->vfio_ctx, "context: %s", strerror(errno));
	BENCH_CHECK(!ioas_alloc(b->vfio_ctx, &b->vfio_ioas_id), "IOAS: %s",
		    uiommufd_last_reason());
	BENCH_CHECK(!vfio_ioas(b->vfio_ctx, IOMMU_VFIO_IOAS_SET,
			       &b->vfio_ioas_id),
		    "VFIO_IOAS SET: %s", uiommufd_last_reason());
	b->bare_ctx = uiommufd_ctx_open(0);
	BENCH_CHECK(b->bare_ctx, "context: %s", strerror(errno));
}

static void teardown(struct ioctl_bench *b)
{
	iommufd_put_object(b->ctx, &b->ioas->obj);
	uiommufd_ctx_close(b->bare_ctx);
	uiommufd_ctx_close(b->vfio_ctx);
	uiommufd_ctx_close(b->ctx);
	munmap(b->buf, BUF_PAGES * PAGE_SIZE);
}

/* ---- the runs ---------------------------------------------------------- */

enum {
	F_SYSCALL,	/* syscall(SYS_getppid) */
	F_DISPATCH,	/* IOAS_MAP + IOAS_UNMAP through uiommufd_ioctl */
	F_ENGINE,	/* iopt_map_user_pages + iopt_unmap_iova */
	F_OPTION,	/* IOMMU_OPTION GET HUGE_PAGES */
	F_VFIO_GET,	/* IOMMU_VFIO_IOAS GET, a compat IOAS set */
	F_VFIO_NODEV,	/* IOMMU_VFIO_IOAS GET, none set: ENODEV */
	F_LOOKUP,	/* iommufd_get_ioas + iommufd_put_object */
	F_POPULATE,	/* madvise(MADV_POPULATE_WRITE) of the page */
	NR_FIGS,
};

/*
 * Each step makes @n calls (or pairs) and checks what they returned; the
 * checks are a compare and an add, the same for every figure.
 */
static void step_syscall(struct ioctl_bench *b, u64 n)
{
	u64 sum = 0;

	for (u64 i = 0; i != n; i++)
		sum += syscall(SYS_getppid);
	BENCH_CHECK(sum == n * (u64)b->ppid, "getppid");
}

static void step_dispatch(struct ioctl_bench *b, u64 n)
{
	u64 unmapped;
	int rc;

	for (u64 i = 0; i != n; i++) {
		rc = ioas_map(b->ctx, b->ioas_id, b->uptr, PAGE_SIZE,
			      MAP_IOVA);
		rc |= ioas_unmap(b->ctx, b->ioas_id, MAP_IOVA, PAGE_SIZE,
				 &unmapped);
		if (unlikely(rc || unmapped != PAGE_SIZE))
			bench_fail("dispatcher pair: %s",
				   uiommufd_last_reason());
	}
}

static void step_engine(struct ioctl_bench *b, u64 n)
{
	struct io_pagetable *iopt = &b->ioas->iopt;
	u64 unmapped;
	int rc;

	for (u64 i = 0; i != n; i++) {
		u64 iova = MAP_IOVA;

		rc = iopt_map_user_pages(iopt, &iova, b->uptr, PAGE_SIZE,
					 IOMMU_READ | IOMMU_WRITE, 0,
					 b->mode);
		rc |= iopt_unmap_iova(iopt, MAP_IOVA, PAGE_SIZE, &unmapped);
		if (unlikely(rc || unmapped != PAGE_SIZE))
			bench_fail("engine pair: %d", rc);
	}
}

static void step_option(struct ioctl_bench *b, u64 n)
{
	u64 sum = 0, val;
	int rc;

	for (u64 i = 0; i != n; i++) {
		rc = option_huge_pages_get(b->ctx, b->ioas_id, &val);
		sum += rc ? 0 : val;
	}
	BENCH_CHECK(sum == n, "OPTION GET HUGE_PAGES");
}

static void step_vfio_get(struct ioctl_bench *b, u64 n)
{
	u64 sum = 0;
	int rc;

	for (u64 i = 0; i != n; i++) {
		u32 id = 0;

		rc = vfio_ioas(b->vfio_ctx, IOMMU_VFIO_IOAS_GET, &id);
		sum += rc ? 0 : id;
	}
	BENCH_CHECK(sum == n * b->vfio_ioas_id, "VFIO_IOAS GET (set)");
}

static void step_vfio_nodev(struct ioctl_bench *b, u64 n)
{
	u64 sum = 0;

	for (u64 i = 0; i != n; i++) {
		u32 id = 0;

		sum += vfio_ioas(b->bare_ctx, IOMMU_VFIO_IOAS_GET, &id) == -1 &&
		       errno == ENODEV;
	}
	BENCH_CHECK(sum == n, "VFIO_IOAS GET (none set) is not ENODEV");
}

static void step_lookup(struct ioctl_bench *b, u64 n)
{
	u64 sum = 0;

	for (u64 i = 0; i != n; i++) {
		struct iommufd_ioas *ioas = iommufd_get_ioas(b->ctx,
							     b->ioas_id);

		sum += ioas == b->ioas;
		iommufd_put_object(b->ctx, &ioas->obj);
	}
	BENCH_CHECK(sum == n, "IOAS lookup");
}

/* What every pin of a present page costs at least here: one madvise. */
static void step_populate(struct ioctl_bench *b, u64 n)
{
	u64 sum = 0;

	for (u64 i = 0; i != n; i++)
		sum += !madvise((void *)(uintptr_t)b->uptr, PAGE_SIZE,
				MADV_POPULATE_WRITE);
	BENCH_CHECK(sum == n, "MADV_POPULATE_WRITE");
}

static void (*const steps[NR_FIGS])(struct ioctl_bench *b, u64 n) = {
	[F_SYSCALL] = step_syscall,	[F_DISPATCH] = step_dispatch,
	[F_ENGINE] = step_engine,	[F_OPTION] = step_option,
	[F_VFIO_GET] = step_vfio_get,	[F_VFIO_NODEV] = step_vfio_nodev,
	[F_LOOKUP] = step_lookup,	[F_POPULATE] = step_populate,
};

/*
 * figs: ns per call (syscall, single commands) or per pair, by F_*. The
 * figures take turns in slices of SLICE calls, so a neighbour's compile
 * job or a frequency change hits all of them alike.
 */
static void run(void *arg, double *figs)
{
	struct ioctl_bench *b = arg;
	u64 ns[NR_FIGS] = { 0 }, t0;

	for (u64 done = 0; done != b->iters; done += SLICE) {
		for (unsigned int f = 0; f != NR_FIGS; f++) {
			t0 = bench_now_ns();
			steps[f](b, SLICE);
			ns[f] += bench_now_ns() - t0;
		}
	}
	for (unsigned int f = 0; f != NR_FIGS; f++)
		figs[f] = (double)ns[f] / (double)b->iters;
}

int main(int argc, char **argv)
{
	struct ioctl_bench b;
	double f[NR_FIGS], floor2, overhead;
	char label[96];

	bench_init(argc, argv, "ioctl");
	setup(&b);
	bench_median_multi(run, &b, NR_FIGS, f);
	floor2 = PAIR_SYSCALLS * f[F_SYSCALL];
	overhead = f[F_DISPATCH] - f[F_ENGINE];

	bench_table_begin("IOAS_MAP + IOAS_UNMAP of one 4 KiB page, one mock domain attached",
			  "the same two engine calls made directly (iopt_map_user_pages + iopt_unmap_iova)",
			  "ns/pair");
	bench_table_row("engine pair", b.iters, f[F_ENGINE], f[F_ENGINE]);
	bench_table_row("dispatcher pair (uiommufd_ioctl x 2)", b.iters,
			f[F_DISPATCH], f[F_ENGINE]);
	bench_table_end();

	bench_table_begin("the same pairs against the system-call floor",
			  "two bare system calls, 2 x syscall(SYS_getppid), same run",
			  "ns/pair");
	bench_table_row("floor: 2 x getppid", b.iters, floor2, floor2);
	bench_table_row("engine pair", b.iters, f[F_ENGINE], floor2);
	bench_table_row("dispatcher pair", b.iters, f[F_DISPATCH], floor2);
	bench_table_row("info: 1 x madvise(POPULATE_WRITE)", b.iters,
			f[F_POPULATE], floor2);
	bench_table_end();

	bench_table_begin("fixed cost per command, no engine work",
			  "one bare system call, syscall(SYS_getppid), same run",
			  "ns/op");
	bench_table_row("floor: getppid", b.iters, f[F_SYSCALL],
			f[F_SYSCALL]);
	bench_table_row("iommufd_get_ioas + put (no dispatch)", b.iters,
			f[F_LOOKUP], f[F_SYSCALL]);
	bench_table_row("VFIO_IOAS GET (compat IOAS set)", b.iters,
			f[F_VFIO_GET], f[F_SYSCALL]);
	bench_table_row("OPTION GET HUGE_PAGES (IOAS lookup)", b.iters,
			f[F_OPTION], f[F_SYSCALL]);
	bench_table_row("VFIO_IOAS GET -> ENODEV (reason)", b.iters,
			f[F_VFIO_NODEV], f[F_SYSCALL]);
	bench_table_row("MAP/UNMAP: (dispatcher - engine) / 2", b.iters,
			overhead / 2, f[F_SYSCALL]);
	bench_table_end();

	bench_note("dispatcher pair / engine pair %.2fx; dispatcher pair / (2 x getppid) %.2fx; getppid %.1f ns",
		   f[F_DISPATCH] / f[F_ENGINE], f[F_DISPATCH] / floor2,
		   f[F_SYSCALL]);
	bench_note("dispatch adds %.1f ns per pair over the engine, %.2f getppid per command; the engine pair alone is %.2f getppid",
		   overhead, overhead / 2 / f[F_SYSCALL],
		   f[F_ENGINE] / f[F_SYSCALL]);
	bench_note("account mode %s (as the dispatcher's default)",
		   b.mode == IOPT_PAGES_ACCOUNT_NONE ? "NONE (CAP_IPC_LOCK)" :
						       "USER");
	snprintf(label, sizeof(label),
		 "dispatcher pair < %.0f bare system calls", PAIR_SYSCALLS);
	bench_target(label, f[F_DISPATCH] < floor2);

	teardown(&b);
	return 0;
}
