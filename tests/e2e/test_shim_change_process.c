// SPDX-License-Identifier: MIT
/*
 * IOMMU_IOAS_CHANGE_PROCESS under the shim, between a parent and its
 * forked child sharing one context through a broker (docs/design.md 8.1),
 * as the kernel's live-update handover: one process maps files with
 * IOAS_MAP_FILE, another takes the charges of every pinned page over and
 * the mappings live on after the first has gone.
 *
 *  - the handover: the child maps a memfd, the parent takes it over, the
 *    child exits; the domain still holds the file's pages, which the
 *    parent maps too, and unmapping gives the length back;
 *  - a mapping of a process's own memory (IOAS_MAP), the child's or the
 *    parent's, makes the command EINVAL, the mappings untouched;
 *  - the charges, seen through the limits each process has
 *    (RLIMIT_MEMLOCK, read by the broker for the process it charges):
 *    per process (IOMMU_OPTION RLIMIT_MODE 1, which needs
 *    CAP_SYS_RESOURCE, given through UIOMMUFD_CAPS) the caller's limit
 *    must hold its own pages and the moved ones, all or nothing, and
 *    after the move the moved pages count against the caller's further
 *    maps and no longer against the child's; per user (RLIMIT_MODE 0)
 *    the caller is charged before the child is refunded, so the user's
 *    count must fit the caller's limit twice for a moment, as in the
 *    kernel.
 *
 * Settings (UIOMMUFD_CAPS; UIOMMUFD_MEMLOCK left unset so that each
 * process's own RLIMIT_MEMLOCK is the limit) are read at a context's
 * first command. Parent and child take turns through pipes; every wait
 * is judged by progress (wait_child(), the harness' stall detection),
 * never by the clock.
 */
#include <sys/resource.h>

#include "e2e/e2e_share.h"

#define FILE_PAGES 64
#define FILE_LEN (FILE_PAGES * PAGE_SZ)
#define N 8			/* the pages the child maps */
#define IOVA MOCK_APERTURE_START
#define IOVA2 (MOCK_APERTURE_START + FILE_LEN)
#define IOVA3 (MOCK_APERTURE_START + 2 * FILE_LEN)
#define P(n) ((uint64_t)(n) * PAGE_SZ)

/* ---- commands and memory ---- */

static int change_process(int fd, uint32_t reserved)
{
	struct iommu_ioas_change_process cmd = {
		.size = sizeof(cmd),
		.__reserved = reserved,
	};

	return ioctl(fd, IOMMU_IOAS_CHANGE_PROCESS, &cmd);
}

static uint8_t pat(uint64_t off)
{
	return (uint8_t)(off * 7 + off / PAGE_SZ * 13 + 1);
}

/* A memfd of FILE_LEN bytes of pat(), and this process's view of it. */
static int memfd_pat(uint8_t **view)
{
	int fd = memfd_create("e2e-change-process", MFD_CLOEXEC);

	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ftruncate(fd, FILE_LEN));
	*view = mmap(NULL, FILE_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		     0);
	ASSERT_NE(MAP_FAILED, *view);
	for (uint64_t i = 0; i != FILE_LEN; i++)
		(*view)[i] = pat(i);
	return fd;
}

/* This process's RLIMIT_MEMLOCK soft limit: @npages pages. 0 or -1. */
static int memlock_set(uint64_t npages)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_MEMLOCK, &rl))
		return -1;
	rl.rlim_cur = P(npages);
	return setrlimit(RLIMIT_MEMLOCK, &rl);
}

/* Skip unless this process may set its soft limit up to @npages pages. */
static void memlock_needs(uint64_t npages)
{
	struct rlimit rl;

	ASSERT_EQ(0, getrlimit(RLIMIT_MEMLOCK, &rl));
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < P(npages))
		SKIP("RLIMIT_MEMLOCK's hard limit (%llu bytes) is below %llu pages",
		     (unsigned long long)rl.rlim_max,
		     (unsigned long long)npages);
}

/* A context with an IOAS and a mock domain: every map pins. */
struct world {
	int fd;
	uint32_t ioas, stdev, hwpt;
	int mfd;
	uint8_t *view;
};

static void world_make(struct world *w, int rlimit_mode)
{
	uint64_t val = rlimit_mode;

	w->fd = open_iommu();
	ASSERT_GE(w->fd, 0);
	if (rlimit_mode) {
		/* Before any object, as the kernel wants it. */
		errno = 0;
		if (option(w->fd, IOMMU_OPTION_RLIMIT_MODE,
			   IOMMU_OPTION_OP_SET, 0, &val))
			SKIP("IOMMU_OPTION RLIMIT_MODE 1: errno %d (UIOMMUFD_CAPS=%s): per-process accounting unavailable",
			     errno, getenv("UIOMMUFD_CAPS") ?: "(unset)");
		val = 0;
		ASSERT_EQ(0, option(w->fd, IOMMU_OPTION_RLIMIT_MODE,
				    IOMMU_OPTION_OP_GET, 0, &val));
		ASSERT_EQ(1, val);
	}
	ASSERT_EQ(0, ioas_alloc(w->fd, &w->ioas));
	ASSERT_EQ(0, mock_domain(w->fd, w->ioas, &w->stdev, &w->hwpt));
	w->mfd = memfd_pat(&w->view);
}

static void world_end(struct world *w)
{
	ASSERT_EQ(0, munmap(w->view, FILE_LEN));
	ASSERT_EQ(0, close(w->mfd));
	ASSERT_EQ(0, close(w->fd));
}

TEST(shim_is_active)
{
	int fd = open_iommu();

	ASSERT_GE(fd, 0);
	/* An empty context: nothing to move. */
	ASSERT_EQ(0, change_process(fd, 0));
	ASSERT_ERRNO(EOPNOTSUPP, change_process(fd, 1));
	ASSERT_EQ(0, close(fd));
}

/* ---- the handover ---- */

/*
 * The child maps the file (which the parent made before the fork) and
 * waits; the parent takes its charges over; the child exits. The domain
 * still holds the very pages the parent maps of the file.
 */
static void handover_child(struct world *w, struct turns *t)
{
	struct msg m;

	CHILD_CHECK(!map_file(w->fd, w->ioas, w->mfd, P(4), P(N), IOVA));
	CHILD_CHECK(!check_map(w->fd, w->hwpt, IOVA, w->view + P(4), P(N)));
	/* The mapper itself: nothing to move. */
	CHILD_CHECK(!change_process(w->fd, 0));
	CHILD_SEND(t, IOVA, 0, 0);
	/* The parent took it over; the mapping is as it was. */
	CHILD_RECV(t, &m);
	CHILD_CHECK(!check_map(w->fd, w->hwpt, IOVA, w->view + P(4), P(N)));
	_exit(0);
}

TEST(handover_of_file_mappings)
{
	uint64_t len = 0;
	struct world w;
	struct turns t;
	struct msg m;
	pid_t pid;

	/* Charged to someone: per user, not exempt by CAP_IPC_LOCK. */
	ASSERT_EQ(0, setenv("UIOMMUFD_CAPS", "none", 1));
	world_make(&w, 0);
	pid = turns_fork(&t);
	if (!pid)
		handover_child(&w, &t);
	PARENT_RECV(&t, &m);
	ASSERT_EQ(IOVA, m.a);
	ASSERT_ERRNO(EOPNOTSUPP, change_process(w.fd, 1));
	ASSERT_EQ(0, change_process(w.fd, 0));
	ASSERT_EQ(0, check_map(w.fd, w.hwpt, IOVA, w.view + P(4), P(N)));
	PARENT_SEND(&t, 0, 0, 0);
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));

	/* The child is gone; its mapping is the parent's now. */
	ASSERT_EQ(0, check_map(w.fd, w.hwpt, IOVA, w.view + P(4), P(N)));
	ASSERT_EQ(0, change_process(w.fd, 0));
	/* Written through the parent's view, seen behind the domain. */
	memset(w.view + P(5), 0x5a, PAGE_SZ);
	ASSERT_EQ(0, check_map(w.fd, w.hwpt, IOVA, w.view + P(4), P(N)));
	ASSERT_EQ(0, ioas_unmap(w.fd, w.ioas, IOVA, P(N), &len));
	ASSERT_EQ(P(N), len);
	ASSERT_ERRNO(ENOENT, ioas_unmap(w.fd, w.ioas, IOVA, P(N), &len));
	world_end(&w);
}

/*
 * After the handover the parent goes on as the context's user: with the
 * child gone, it maps more of the file, and takes nothing over (its own
 * mappings are its own).
 */
TEST(parent_maps_after_the_handover)
{
	struct world w;
	struct turns t;
	struct msg m;
	pid_t pid;

	ASSERT_EQ(0, setenv("UIOMMUFD_CAPS", "none", 1));
	world_make(&w, 0);
	pid = turns_fork(&t);
	if (!pid)
		handover_child(&w, &t);
	PARENT_RECV(&t, &m);
	ASSERT_EQ(0, change_process(w.fd, 0));
	PARENT_SEND(&t, 0, 0, 0);
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	ASSERT_EQ(0, map_file(w.fd, w.ioas, w.mfd, P(32), P(N), IOVA2));
	ASSERT_EQ(0, check_map(w.fd, w.hwpt, IOVA2, w.view + P(32), P(N)));
	ASSERT_EQ(0, check_map(w.fd, w.hwpt, IOVA, w.view + P(4), P(N)));
	ASSERT_EQ(0, change_process(w.fd, 0));
	ASSERT_EQ(0, ioas_unmap(w.fd, w.ioas, 0, UINT64_MAX, NULL));
	world_end(&w);
}

/* ---- only files ---- */

/*
 * The child maps a file and its own anonymous memory; the parent's
 * CHANGE_PROCESS is EINVAL and changes nothing (the child checks its
 * mapping). Once the child has unmapped its memory, it succeeds; a
 * mapping of the parent's own memory makes it EINVAL again.
 */
static void user_memory_child(struct world *w, struct turns *t)
{
	uint64_t iova = IOVA2, len = 0;
	struct msg m;
	char *buf;

	buf = e2e_buffer(P(4));
	CHILD_CHECK(buf);
	CHILD_CHECK(!map_file(w->fd, w->ioas, w->mfd, 0, P(N), IOVA));
	CHILD_CHECK(!ioas_map(w->fd, w->ioas, buf, P(4), &iova,
			      MAP_FIXED_RW));
	CHILD_CHECK(!check_refs(w->fd, buf, P(4), 1));
	CHILD_SEND(t, iova, 0, 0);
	/* The parent was refused: the child's memory is mapped still. */
	CHILD_RECV(t, &m);
	CHILD_CHECK(!check_map(w->fd, w->hwpt, IOVA2, buf, P(4)));
	CHILD_CHECK(!check_refs(w->fd, buf, P(4), 1));
	CHILD_CHECK(change_process(w->fd, 0) == -1 && errno == EINVAL);
	CHILD_CHECK(!ioas_unmap(w->fd, w->ioas, IOVA2, P(4), &len) &&
		    len == P(4));
	CHILD_CHECK(!check_refs(w->fd, buf, P(4), 0));
	CHILD_SEND(t, 0, 0, 0);
	CHILD_RECV(t, &m);
	_exit(0);
}

TEST(refuses_user_memory)
{
	uint64_t iova = IOVA3;
	struct world w;
	struct turns t;
	struct msg m;
	char *buf;
	pid_t pid;

	ASSERT_EQ(0, setenv("UIOMMUFD_CAPS", "none", 1));
	world_make(&w, 0);
	pid = turns_fork(&t);
	if (!pid)
		user_memory_child(&w, &t);
	PARENT_RECV(&t, &m);
	ASSERT_EQ(IOVA2, m.a);
	ASSERT_ERRNO(EINVAL, change_process(w.fd, 0));
	/* The file mapping is as it was. */
	ASSERT_EQ(0, check_map(w.fd, w.hwpt, IOVA, w.view, P(N)));
	PARENT_SEND(&t, 0, 0, 0);
	/* The child unmapped its memory: only the file is left. */
	PARENT_RECV(&t, &m);
	ASSERT_EQ(0, change_process(w.fd, 0));
	/* The parent's own memory: EINVAL as well. */
	buf = e2e_buffer(P(2));
	ASSERT_NONNULL(buf);
	ASSERT_EQ(0, ioas_map(w.fd, w.ioas, buf, P(2), &iova, MAP_FIXED_RW));
	ASSERT_ERRNO(EINVAL, change_process(w.fd, 0));
	ASSERT_EQ(0, check_map(w.fd, w.hwpt, IOVA3, buf, P(2)));
	ASSERT_EQ(0, check_map(w.fd, w.hwpt, IOVA, w.view, P(N)));
	ASSERT_EQ(0, ioas_unmap(w.fd, w.ioas, IOVA3, P(2), NULL));
	ASSERT_EQ(0, change_process(w.fd, 0));
	PARENT_SEND(&t, 0, 0, 0);
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	ASSERT_EQ(0, check_map(w.fd, w.hwpt, IOVA, w.view, P(N)));
	ASSERT_EQ(0, ioas_unmap(w.fd, w.ioas, IOVA, P(N), NULL));
	ASSERT_EQ(0, munmap(buf, P(2)));
	world_end(&w);
}

/* ---- the charges, through the limits ---- */

/*
 * Per process (RLIMIT_MODE 1). The child's limit is N pages: N + 1 do
 * not map, N do. The parent's limit one short of N: CHANGE_PROCESS is
 * ENOMEM and the child's mapping is intact; at N + 2 a map of 4 of its
 * own still fits (the child's N are the child's), and CHANGE_PROCESS
 * succeeds. Then the moved pages count against the parent: 4 more do not
 * fit, 2 do, and the child, charged nothing now, maps N again.
 */
static void per_process_child(struct world *w, struct turns *t)
{
	struct msg m;

	CHILD_CHECK(!memlock_set(N));
	CHILD_CHECK(map_file(w->fd, w->ioas, w->mfd, 0, P(N + 1), IOVA) ==
		    -1 && errno == ENOMEM);
	CHILD_CHECK(!map_file(w->fd, w->ioas, w->mfd, 0, P(N), IOVA));
	CHILD_CHECK(map_file(w->fd, w->ioas, w->mfd, P(N), P(1),
			     IOVA + P(N)) == -1 && errno == ENOMEM);
	CHILD_SEND(t, 0, 0, 0);
	/* The parent took the N pages over: the child's limit is free. */
	CHILD_RECV(t, &m);
	CHILD_CHECK(!map_file(w->fd, w->ioas, w->mfd, P(16), P(N), IOVA2));
	CHILD_CHECK(map_file(w->fd, w->ioas, w->mfd, P(32), P(1), IOVA2 +
			     P(N)) == -1 && errno == ENOMEM);
	CHILD_CHECK(!check_map(w->fd, w->hwpt, IOVA2, w->view + P(16), P(N)));
	CHILD_SEND(t, 0, 0, 0);
	CHILD_RECV(t, &m);
	_exit(0);
}

TEST(limits_per_process)
{
	uint64_t len = 0;
	struct world w;
	struct turns t;
	struct msg m;
	pid_t pid;

	memlock_needs(4 * N);
	/*
	 * Not given, a context holds what its opener holds in effect: root
	 * here, CAP_IPC_LOCK included, which exempts it from every charge.
	 * So given: not exempt, and allowed RLIMIT_MODE 1.
	 */
	ASSERT_EQ(0, setenv("UIOMMUFD_CAPS", "sys_resource", 1));
	ASSERT_EQ(0, unsetenv("UIOMMUFD_MEMLOCK"));
	world_make(&w, 1);
	pid = turns_fork(&t);
	if (!pid)
		per_process_child(&w, &t);
	PARENT_RECV(&t, &m);

	/* One short: nothing moves, the child's mapping is intact. */
	ASSERT_EQ(0, memlock_set(N - 1));
	ASSERT_ERRNO(ENOMEM, change_process(w.fd, 0));
	ASSERT_EQ(0, check_map(w.fd, w.hwpt, IOVA, w.view, P(N)));
	ASSERT_ERRNO(ENOMEM, change_process(w.fd, 0));

	ASSERT_EQ(0, memlock_set(N + 2));
	/* Before the move the child's pages are not the parent's. */
	ASSERT_EQ(0, map_file(w.fd, w.ioas, w.mfd, P(40), P(4), IOVA3));
	ASSERT_EQ(0, ioas_unmap(w.fd, w.ioas, IOVA3, P(4), &len));
	ASSERT_EQ(P(4), len);
	ASSERT_EQ(0, change_process(w.fd, 0));
	ASSERT_EQ(0, check_map(w.fd, w.hwpt, IOVA, w.view, P(N)));
	/* Now they are: N + 4 is over N + 2, N + 2 fits, N + 3 not. */
	ASSERT_ERRNO(ENOMEM, map_file(w.fd, w.ioas, w.mfd, P(40), P(4),
				      IOVA3));
	ASSERT_EQ(0, map_file(w.fd, w.ioas, w.mfd, P(40), P(2), IOVA3));
	ASSERT_ERRNO(ENOMEM, map_file(w.fd, w.ioas, w.mfd, P(44), P(1),
				      IOVA3 + P(4)));
	PARENT_SEND(&t, 0, 0, 0);

	/* The child mapped N again under its own limit. */
	PARENT_RECV(&t, &m);
	/* Taking those too needs 2N + 2. */
	ASSERT_ERRNO(ENOMEM, change_process(w.fd, 0));
	ASSERT_EQ(0, memlock_set(2 * N + 2));
	ASSERT_EQ(0, change_process(w.fd, 0));
	ASSERT_ERRNO(ENOMEM, map_file(w.fd, w.ioas, w.mfd, P(44), P(1),
				      IOVA3 + P(4)));
	PARENT_SEND(&t, 0, 0, 0);
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));

	/* Every mapping lives on; unmapping frees the parent's limit. */
	ASSERT_EQ(0, check_map(w.fd, w.hwpt, IOVA, w.view, P(N)));
	ASSERT_EQ(0, check_map(w.fd, w.hwpt, IOVA2, w.view + P(16), P(N)));
	ASSERT_EQ(0, check_map(w.fd, w.hwpt, IOVA3, w.view + P(40), P(2)));
	ASSERT_EQ(0, ioas_unmap(w.fd, w.ioas, IOVA, P(N), &len));
	ASSERT_EQ(P(N), len);
	ASSERT_EQ(0, ioas_unmap(w.fd, w.ioas, IOVA2, P(N), &len));
	ASSERT_EQ(P(N), len);
	ASSERT_EQ(0, map_file(w.fd, w.ioas, w.mfd, P(44), P(2 * N),
			      IOVA3 + P(4)));
	world_end(&w);
}

/*
 * Per user (RLIMIT_MODE 0), one user: the child's N pages fit its limit
 * of N. The kernel charges the caller before it refunds the child, so
 * the user's count is 2N for a moment, against the parent's limit:
 * 2N - 1 is ENOMEM, nothing changed (the parent may map N - 1 pages of
 * its own, not N); 2N succeeds. The user's count is N again after: the
 * parent may map N more, not N + 1.
 */
static void per_user_child(struct world *w, struct turns *t)
{
	struct msg m;

	CHILD_CHECK(!memlock_set(N));
	CHILD_CHECK(!map_file(w->fd, w->ioas, w->mfd, 0, P(N), IOVA));
	CHILD_CHECK(map_file(w->fd, w->ioas, w->mfd, P(N), P(1),
			     IOVA + P(N)) == -1 && errno == ENOMEM);
	CHILD_SEND(t, 0, 0, 0);
	CHILD_RECV(t, &m);
	_exit(0);
}

TEST(limits_per_user)
{
	struct world w;
	struct turns t;
	struct msg m;
	pid_t pid;

	memlock_needs(4 * N);
	ASSERT_EQ(0, setenv("UIOMMUFD_CAPS", "none", 1));
	ASSERT_EQ(0, unsetenv("UIOMMUFD_MEMLOCK"));
	world_make(&w, 0);
	pid = turns_fork(&t);
	if (!pid)
		per_user_child(&w, &t);
	PARENT_RECV(&t, &m);

	ASSERT_EQ(0, memlock_set(2 * N - 1));
	ASSERT_ERRNO(ENOMEM, change_process(w.fd, 0));
	ASSERT_EQ(0, check_map(w.fd, w.hwpt, IOVA, w.view, P(N)));
	/* Nothing changed: the user's count is N, N - 1 more fit, not N. */
	ASSERT_ERRNO(ENOMEM, map_file(w.fd, w.ioas, w.mfd, P(40), P(N),
				      IOVA3));
	ASSERT_EQ(0, map_file(w.fd, w.ioas, w.mfd, P(40), P(N - 1), IOVA3));
	ASSERT_EQ(0, ioas_unmap(w.fd, w.ioas, IOVA3, P(N - 1), NULL));
	ASSERT_EQ(0, memlock_set(2 * N));
	ASSERT_EQ(0, change_process(w.fd, 0));
	ASSERT_EQ(0, check_map(w.fd, w.hwpt, IOVA, w.view, P(N)));
	/* N charged, to the parent: N more fit, N + 1 not. */
	ASSERT_ERRNO(ENOMEM, map_file(w.fd, w.ioas, w.mfd, P(40), P(N + 1),
				      IOVA3));
	ASSERT_EQ(0, map_file(w.fd, w.ioas, w.mfd, P(40), P(N), IOVA3));
	ASSERT_EQ(0, check_map(w.fd, w.hwpt, IOVA3, w.view + P(40), P(N)));
	PARENT_SEND(&t, 0, 0, 0);
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));

	ASSERT_EQ(0, check_map(w.fd, w.hwpt, IOVA, w.view, P(N)));
	ASSERT_EQ(0, ioas_unmap(w.fd, w.ioas, IOVA, P(N), NULL));
	ASSERT_EQ(0, ioas_unmap(w.fd, w.ioas, IOVA3, P(N), NULL));
	world_end(&w);
}
