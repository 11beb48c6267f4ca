// SPDX-License-Identifier: MIT
/*
 * What a command costs through a shared context (docs/design.md 8.1),
 * against a bare system call and against the same command on a context
 * of this process:
 *
 *  - getppid: one bare system call, the floor;
 *  - local: IOMMU_OPTION GET on a context of this process (function
 *    calls, what a program that never shares a descriptor pays);
 *  - shared: the same command on a context promoted to a broker: a
 *    request and its answer over a socket, the argument read and the
 *    answer written by the broker in this process's memory
 *    (process_vm_readv/writev);
 *  - shared IOAS_MAP + IOAS_UNMAP of one page on a domain: pinning this
 *    process's page from the broker (its maps, then the page itself);
 *  - the same of 16 pages, moved into a file already (every map after the
 *    first), and of 16 fresh pages each time: the move into a file of
 *    the library's (share_memory.c) that a first map pays.
 *
 * The figures of one run are taken interleaved, so a noisy machine hits
 * them alike; each is the median of the runs.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"
#include "uiommufd/iommufd_test_uapi.h"
#include "uiommufd/iommufd_uapi.h"
#include "uiommufd/uiommufd.h"

#define PAGE 4096ul
#define MAP_IOVA (1ull << 24)

struct share_bench {
	struct uiommufd_ctx *local;
	int shared_fd;
	uint32_t ioas, shared_ioas;
	void *page;
	void *moved;
	unsigned int iters;
};

/* MAP then UNMAP of [buf, buf + len) through the shared context. */
static void shared_map_unmap(struct share_bench *b, void *buf, size_t len)
{
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = b->shared_ioas,
		.user_va = (uintptr_t)buf, .length = len, .iova = MAP_IOVA,
	};
	struct iommu_ioas_unmap unmap = {
		.size = sizeof(unmap), .ioas_id = b->shared_ioas,
		.iova = MAP_IOVA, .length = len,
	};

	if (uiommufd_remote_ioctl(b->shared_fd, IOMMU_IOAS_MAP, &map) ||
	    uiommufd_remote_ioctl(b->shared_fd, IOMMU_IOAS_UNMAP, &unmap))
		bench_fail("shared MAP/UNMAP: %s", strerror(errno));
}

static void *fresh_pages(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (p == MAP_FAILED)
		bench_fail("mmap: %s", strerror(errno));
	return p;
}

#define MOVE_PAGES 16

enum { F_SYSCALL, F_LOCAL, F_SHARED, F_SHARED_MAP, F_MAP16, F_MOVE16, F_NR };

static int option_get(struct uiommufd_ctx *ctx, int fd, uint32_t ioas)
{
	struct iommu_option cmd = {
		.size = sizeof(cmd), .option_id = IOMMU_OPTION_HUGE_PAGES,
		.op = IOMMU_OPTION_OP_GET, .object_id = ioas,
	};
	int rc = ctx ? uiommufd_ioctl(ctx, IOMMU_OPTION, &cmd) :
		       uiommufd_remote_ioctl(fd, IOMMU_OPTION, &cmd);

	return rc ? -1 : (int)cmd.val64;
}

static void run(void *arg, double *figs)
{
	struct share_bench *b = arg;
	unsigned int n = b->iters;
	uint64_t t0, sum = 0;

	t0 = bench_now_ns();
	for (unsigned int i = 0; i != n; i++)
		sum += syscall(SYS_getppid) != 0;
	figs[F_SYSCALL] = bench_per_op(t0, n);

	t0 = bench_now_ns();
	for (unsigned int i = 0; i != n; i++)
		sum += option_get(b->local, -1, b->ioas);
	figs[F_LOCAL] = bench_per_op(t0, n);

	t0 = bench_now_ns();
	for (unsigned int i = 0; i != n; i++)
		sum += option_get(NULL, b->shared_fd, b->shared_ioas);
	figs[F_SHARED] = bench_per_op(t0, n);

	t0 = bench_now_ns();
	for (unsigned int i = 0; i != n / 8; i++) {
		struct iommu_ioas_map map = {
			.size = sizeof(map),
			.flags = IOMMU_IOAS_MAP_FIXED_IOVA |
				 IOMMU_IOAS_MAP_READABLE |
				 IOMMU_IOAS_MAP_WRITEABLE,
			.ioas_id = b->shared_ioas,
			.user_va = (uintptr_t)b->page, .length = PAGE,
			.iova = MAP_IOVA,
		};
		struct iommu_ioas_unmap unmap = {
			.size = sizeof(unmap), .ioas_id = b->shared_ioas,
			.iova = MAP_IOVA, .length = PAGE,
		};

		if (uiommufd_remote_ioctl(b->shared_fd, IOMMU_IOAS_MAP, &map) ||
		    uiommufd_remote_ioctl(b->shared_fd, IOMMU_IOAS_UNMAP,
					  &unmap))
			bench_fail("shared MAP/UNMAP: %s", strerror(errno));
		sum += unmap.length == PAGE;
	}
	figs[F_SHARED_MAP] = bench_per_op(t0, n / 8);

	t0 = bench_now_ns();
	for (unsigned int i = 0; i != n / 8; i++)
		shared_map_unmap(b, b->moved, MOVE_PAGES * PAGE);
	figs[F_MAP16] = bench_per_op(t0, n / 8);

	/* Fresh memory each time: the mmap and munmap are in the figure. */
	t0 = bench_now_ns();
	for (unsigned int i = 0; i != n / 8; i++) {
		void *p = fresh_pages(MOVE_PAGES * PAGE);

		shared_map_unmap(b, p, MOVE_PAGES * PAGE);
		munmap(p, MOVE_PAGES * PAGE);
	}
	figs[F_MOVE16] = bench_per_op(t0, n / 8);
	bench_consume(sum);
}

static uint32_t ioas_alloc(struct uiommufd_ctx *ctx, int fd)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	int rc = ctx ? uiommufd_ioctl(ctx, IOMMU_IOAS_ALLOC, &cmd) :
		       uiommufd_remote_ioctl(fd, IOMMU_IOAS_ALLOC, &cmd);

	if (rc)
		bench_fail("IOAS_ALLOC: %s", strerror(errno));
	return cmd.out_ioas_id;
}

int main(int argc, char **argv)
{
	struct share_bench b = { 0 };
	struct iommu_test_cmd md;
	struct uiommufd_ctx *promoted;
	double f[F_NR];
	int sv[2];

	bench_init(argc, argv, "shared contexts: a command through a broker");
	b.iters = bench_quick() ? 400 : 8000;
	b.local = uiommufd_ctx_open(0);
	if (!b.local)
		bench_fail("context: %s", strerror(errno));
	b.ioas = ioas_alloc(b.local, -1);
	b.page = fresh_pages(PAGE);
	b.moved = fresh_pages(MOVE_PAGES * PAGE);

	/* A context promoted as the shim does before a fork. */
	promoted = uiommufd_ctx_open(0);
	if (!promoted ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		bench_fail("promoted context: %s", strerror(errno));
	if (uiommufd_ctx_share(promoted, sv[1]))
		bench_fail("share: %s (%s)", strerror(errno),
			   uiommufd_last_reason());
	uiommufd_ctx_close(promoted);
	b.shared_fd = sv[0];
	b.shared_ioas = ioas_alloc(NULL, b.shared_fd);
	memset(&md, 0, sizeof(md));
	md.size = sizeof(md);
	md.op = IOMMU_TEST_OP_MOCK_DOMAIN;
	md.id = b.shared_ioas;
	if (uiommufd_remote_ioctl(b.shared_fd, IOMMU_TEST_CMD, &md))
		bench_fail("MOCK_DOMAIN: %s", strerror(errno));

	bench_median_multi(run, &b, F_NR, f);
	bench_table_begin("one command", "one bare system call, getppid",
			  "ns/op");
	bench_table_row("floor: getppid", b.iters, f[F_SYSCALL],
			f[F_SYSCALL]);
	bench_table_row("OPTION GET, local context", b.iters, f[F_LOCAL],
			f[F_SYSCALL]);
	bench_table_row("OPTION GET, shared context", b.iters, f[F_SHARED],
			f[F_SYSCALL]);
	bench_table_row("MAP+UNMAP 1 page on a domain, shared", b.iters / 8,
			f[F_SHARED_MAP], f[F_SYSCALL]);
	bench_table_row("MAP+UNMAP 16 pages, moved already", b.iters / 8,
			f[F_MAP16], f[F_SYSCALL]);
	bench_table_row("MAP+UNMAP 16 fresh pages (the move)", b.iters / 8,
			f[F_MOVE16], f[F_SYSCALL]);
	bench_table_end();
	bench_note("a shared command costs %.1f bare system calls, %.0fx a local one",
		   f[F_SHARED] / f[F_SYSCALL], f[F_SHARED] / f[F_LOCAL]);
	bench_note("moving 16 fresh pages into a file adds %.1f us to their first map",
		   (f[F_MOVE16] - f[F_MAP16]) / 1000);
	/* The broker goes with the last copy of the descriptor. */
	close(b.shared_fd);
	uiommufd_ctx_close(b.local);
	munmap(b.page, PAGE);
	munmap(b.moved, MOVE_PAGES * PAGE);
	return 0;
}
