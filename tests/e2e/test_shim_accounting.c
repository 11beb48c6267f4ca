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

#include "e2e/e2e_utils.h"

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

/* A child pins NPAGES in a context of its own, then waits for a byte. */
static pid_t pinning_child(int ready[2], int go[2])
{
	pid_t pid = fork_child();

	if (pid)
		return pid;
	close(ready[0]);
	close(go[1]);
	{
		uint32_t ioas = 0;
		char *buf = e2e_buffer(LEN), byte = 0;
		int fd = pinning_context(&ioas);

		if (fd < 0 || !buf || map_pinned(fd, ioas, buf)) {
			dprintf(1, "# child: cannot pin (errno %d)\n", errno);
			_exit(1);
		}
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		if (read(go[0], &byte, 1) < 0)
			_exit(1);
		_exit(0);
	}
}

static void limit_across_processes(bool kill_child)
{
	int ready[2], go[2], fd;
	uint32_t ioas = 0;
	char *buf, byte;
	pid_t pid;

	ASSERT_EQ(0, setenv("UIOMMUFD_CAPS", "none", 1));
	ASSERT_EQ(0, unsetenv("UIOMMUFD_MEMLOCK"));
	/* Room for one process's pins, and a half. */
	set_limit(NPAGES + NPAGES / 2);
	ASSERT_EQ(0, pipe2(ready, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(go, O_CLOEXEC));
	pid = pinning_child(ready, go);
	ASSERT_LT(0, pid);
	close(ready[1]);
	close(go[0]);
	ASSERT_EQ(1, read(ready[0], &byte, 1));

	buf = e2e_buffer(LEN);
	ASSERT_NONNULL(buf);
	fd = pinning_context(&ioas);
	ASSERT_GE(fd, 0);
	/* The child's pages count: ours would put the user over. */
	ASSERT_ERRNO(ENOMEM, map_pinned(fd, ioas, buf));
	if (kill_child) {
		ASSERT_EQ(0, kill(pid, SIGKILL));
		ASSERT_EQ(-SIGKILL, wait_child(pid, WAIT_STALL_S));
	} else {
		ASSERT_EQ(1, write(go[1], "g", 1));
		ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	}
	/* Gone with the child, however it went. */
	ASSERT_EQ(0, map_pinned(fd, ioas, buf));
	ASSERT_EQ(0, close(fd));
	close(ready[0]);
	close(go[1]);
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
	int ready[2], go[2], fd;
	uint32_t ioas = 0;
	char *buf, byte;
	pid_t pid;

	ASSERT_EQ(0, setenv("UIOMMUFD_CAPS", "none", 1));
	ASSERT_EQ(0, unsetenv("UIOMMUFD_MEMLOCK"));
	set_limit(2 * NPAGES);
	ASSERT_EQ(0, pipe2(ready, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(go, O_CLOEXEC));
	pid = pinning_child(ready, go);
	ASSERT_LT(0, pid);
	close(ready[1]);
	close(go[0]);
	ASSERT_EQ(1, read(ready[0], &byte, 1));
	buf = e2e_buffer(LEN);
	ASSERT_NONNULL(buf);
	fd = pinning_context(&ioas);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, map_pinned(fd, ioas, buf));
	ASSERT_EQ(1, write(go[1], "g", 1));
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	ASSERT_EQ(0, close(fd));
	close(ready[0]);
	close(go[1]);
}
