// SPDX-License-Identifier: MIT
/*
 * A user's locked pages counted across processes, as the kernel counts
 * them: every process uiommufd-run starts (the program, its children,
 * their brokers) charges one count per user (base/user_locked.c), so a
 * memlock limit holds for pins spread over several processes, each with
 * contexts of its own, and a process that dies (SIGKILL included) takes
 * its pages out of the count.
 *
 * The contexts here are opened after the fork, one per process, so none
 * is shared: only the count is. Accounting per user needs a caller
 * without CAP_IPC_LOCK (UIOMMUFD_CAPS=none); the limit is RLIMIT_MEMLOCK.
 */
#include <sys/resource.h>

#include "e2e/e2e_share.h"

#define NPAGES 16
#define LEN (NPAGES * PAGE_SZ)

/* A context of this process, with a domain: pins what it maps. */
static int pinning_context(uint32_t *ioas)
{
	int fd = open_iommu();

	if (fd < 0 || ioas_alloc(fd, ioas) ||
	    mock_domain(fd, *ioas, NULL, NULL))
		return -1;
	return fd;
}

static int map_pinned(int fd, uint32_t ioas, char *buf)
{
	uint64_t iova = MOCK_APERTURE_START;

	return ioas_map(fd, ioas, buf, LEN, &iova, MAP_FIXED_RW);
}

static void set_limit(unsigned long pages)
{
	struct rlimit rl = { pages * PAGE_SZ, pages * PAGE_SZ };

	ASSERT_EQ(0, setrlimit(RLIMIT_MEMLOCK, &rl));
}

/* A child pins NPAGES in a context of its own, then waits for its turn. */
static pid_t pinning_child(struct turns *t)
{
	uint32_t ioas = 0;
	struct msg m;
	char *buf;
	pid_t pid;
	int fd;

	pid = turns_fork(t);
	if (pid)
		return pid;
	buf = e2e_buffer(LEN);
	fd = pinning_context(&ioas);
	CHILD_CHECK(fd >= 0 && buf && !map_pinned(fd, ioas, buf));
	CHILD_SEND(t, 0, 0, 0);
	CHILD_RECV(t, &m);
	_exit(0);
}

/*
 * Per user, under a limit of @pages: a child holding its pins, waiting
 * for its turn (the pid returned), and a context of ours, *@fd with the
 * IOAS *@ioas.
 */
static pid_t child_pinned(unsigned long pages, struct turns *t, int *fd,
			  uint32_t *ioas)
{
	struct msg m;
	pid_t pid;

	ASSERT_EQ(0, setenv("UIOMMUFD_CAPS", "none", 1));
	ASSERT_EQ(0, unsetenv("UIOMMUFD_MEMLOCK"));
	set_limit(pages);
	pid = pinning_child(t);
	PARENT_RECV(t, &m);
	*fd = pinning_context(ioas);
	ASSERT_GE(*fd, 0);
	return pid;
}

static void limit_across_processes(bool kill_child)
{
	uint32_t ioas = 0;
	struct turns t;
	char *buf;
	pid_t pid;
	int fd;

	/* Room for one process's pins, and a half. */
	pid = child_pinned(NPAGES + NPAGES / 2, &t, &fd, &ioas);
	buf = e2e_buffer(LEN);
	ASSERT_NONNULL(buf);
	/* The child's pages count: ours would put the user over. */
	ASSERT_ERRNO(ENOMEM, map_pinned(fd, ioas, buf));
	if (kill_child) {
		ASSERT_EQ(0, kill(pid, SIGKILL));
		ASSERT_EQ(-SIGKILL, wait_child(pid, WAIT_STALL_S));
	} else {
		PARENT_SEND(&t, 0, 0, 0);
		ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	}
	/* Gone with the child, however it went. */
	ASSERT_EQ(0, map_pinned(fd, ioas, buf));
	ASSERT_EQ(0, close(fd));
}

TEST(limit_counts_every_process_of_the_user)
{
	limit_across_processes(false);
}

TEST(a_killed_process_takes_its_pages_out)
{
	limit_across_processes(true);
}

/* Within the limit, pins of several processes add up and fit. */
TEST(pins_of_two_processes_fit_together)
{
	uint32_t ioas = 0;
	struct turns t;
	char *buf;
	pid_t pid;
	int fd;

	pid = child_pinned(2 * NPAGES, &t, &fd, &ioas);
	buf = e2e_buffer(LEN);
	ASSERT_NONNULL(buf);
	ASSERT_EQ(0, map_pinned(fd, ioas, buf));
	PARENT_SEND(&t, 0, 0, 0);
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	ASSERT_EQ(0, close(fd));
}
