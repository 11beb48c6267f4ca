// SPDX-License-Identifier: MIT
/*
 * The memory a shared context maps (docs/design.md 8.1, "Memory"): before
 * IOAS_MAP or VFIO_IOMMU_MAP_DMA through a context shared between
 * processes (promoted to a broker at the program's first fork() after its
 * open), the caller's private memory of the range moves into a memfd
 * mapped back in place, which the broker keeps. The kernel's page
 * references are the model: pages pinned when their process exits stay
 * readable and writable, pages not pinned then cannot be pinned any more
 * (EFAULT), as in the kernel selftest's fork_gone and fork_present; a
 * fork() child has private copies of pinned pages. The program's memory
 * still behaves (munmap, mprotect), a thread writing to it while it moves
 * loses no write, and memory no shared context maps, or a stack, stays.
 * Parent and child take turns through pipes; every wait is judged by
 * progress, never by the clock.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "e2e/e2e_share.h"

#define IOVA MOCK_APERTURE_START
#define MOVED_PATH "/memfd:uiommufd-memory (deleted)"
#define VFIO_RW (VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)
#define PIN_ACCESS MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES

/* ---- patterns ---- */

/* Byte @i of pattern @seed: every page and every seed differ. */
static char pattern_byte(unsigned int seed, size_t i)
{
	return (char)(seed * 37 + i + i / PAGE_SZ * 11);
}

static void fill(char *buf, size_t len, unsigned int seed)
{
	for (size_t i = 0; i != len; i++)
		buf[i] = pattern_byte(seed, i);
}

static bool has_pattern(const char *buf, size_t len, unsigned int seed)
{
	for (size_t i = 0; i != len; i++)
		if (buf[i] != pattern_byte(seed, i))
			return false;
	return true;
}

/* BUF_LEN of fresh private anonymous memory holding pattern @seed. */
static char *pattern_buffer(unsigned int seed)
{
	char *buf = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (buf == MAP_FAILED)
		return NULL;
	fill(buf, BUF_LEN, seed);
	return buf;
}

/*
 * Through access @afd, BUF_LEN at @iova: 0 when it holds pattern @seed,
 * 1 when other bytes, -1 when the read failed.
 */
static int access_holds(int fd, int afd, uint64_t iova, unsigned int seed)
{
	static char got[BUF_LEN];

	memset(got, 0, sizeof(got));
	if (access_rw(fd, afd, iova, got, BUF_LEN, 0))
		return -1;
	return has_pattern(got, BUF_LEN, seed) ? 0 : 1;
}

/* Write pattern @seed through access @afd, BUF_LEN at IOVA. */
static int access_fill(int fd, int afd, unsigned int seed)
{
	static char data[BUF_LEN];

	fill(data, BUF_LEN, seed);
	return access_rw(fd, afd, IOVA, data, BUF_LEN, MOCK_ACCESS_RW_WRITE);
}

/* ---- what /proc/self/maps says ---- */

/*
 * The VMA holding @addr: its permissions ("rw-p") into @perms and its
 * path ("" for anonymous memory) into @path. 0, or -1 if there is none.
 */
static int vma_of(const void *addr, char perms[8], char *path, size_t len)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	int rc = -1;

	if (!f)
		return -1;
	while (rc && fgets(line, sizeof(line), f)) {
		unsigned long start, end;
		int at = 0;

		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &start, &end,
			   perms, &at) < 3 || !at)
			continue;
		if ((uintptr_t)addr < start || (uintptr_t)addr >= end)
			continue;
		snprintf(path, len, "%s", line + at);
		path[strcspn(path, "\n")] = 0;
		rc = 0;
	}
	fclose(f);
	return rc;
}

/* Whether @addr is private anonymous memory, as the program made it. */
static bool is_private_anon(const void *addr)
{
	char perms[8], path[256];

	return !vma_of(addr, perms, path, sizeof(path)) && perms[3] == 'p' &&
	       !path[0];
}

/* Whether @addr was moved: a shared mapping of the library's memfd. */
static bool is_moved(const void *addr, const char *want_perms)
{
	char perms[8], path[256];

	if (vma_of(addr, perms, path, sizeof(path)))
		return false;
	if (strcmp(perms, want_perms) || strcmp(path, MOVED_PATH)) {
		dprintf(1, "# %p: %s %s\n", addr, perms, path);
		return false;
	}
	return true;
}

/* Share every context of the process: a fork whose child goes at once. */
static void promote(void)
{
	pid_t pid = fork_child();

	ASSERT_LE(0, pid);
	if (!pid)
		_exit(0);
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
}

/* ---- fork_gone and fork_present ---- */

/* An IOAS (with a mock domain if @domain) in a fresh context. */
static int ioas_world(uint32_t *ioas, bool domain, uint32_t *stdev,
		      uint32_t *hwpt)
{
	int fd = open_iommu();

	if (fd < 0 || ioas_alloc(fd, ioas) ||
	    (domain && mock_domain(fd, *ioas, stdev, hwpt)))
		return -1;
	return fd;
}

/* The child maps fresh memory of its own at IOVA, then goes. */
static void gone_child(int fd, uint32_t ioas)
{
	char *buf = pattern_buffer(1);
	uint64_t iova = IOVA;

	CHILD_CHECK(buf);
	CHILD_CHECK(!ioas_map(fd, ioas, buf, BUF_LEN, &iova, MAP_FIXED_RW));
	/* Moved: the child's view of it is the file now, same bytes. */
	CHILD_CHECK(is_moved(buf, "rw-s"));
	CHILD_CHECK(has_pattern(buf, BUF_LEN, 1));
	_exit(0);
}

static void fork_gone_test(bool domain)
{
	uint32_t ioas = 0, stdev = 0, hwpt = 0, stdev2 = 0, hwpt2 = 0;
	pid_t pid, broker = 0;
	uint64_t len = 0;
	int fd, afd = -1;

	become_subreaper();
	fd = ioas_world(&ioas, domain, &stdev, &hwpt);
	ASSERT_GE(fd, 0);
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid)
		gone_child(fd, ioas);
	ASSERT_LE(1, find_brokers(&broker, 1, NULL, 0));
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	ASSERT_EQ(0, create_access(fd, ioas, PIN_ACCESS, &afd));
	if (!domain) {
		/* Nothing pinned them in the child's life: they are gone. */
		ASSERT_ERRNO(EFAULT, mock_domain(fd, ioas, &stdev2, &hwpt2));
		ASSERT_ERRNO(EFAULT, access_pages(fd, afd, IOVA, BUF_LEN, NULL,
						  0, NULL));
		ASSERT_EQ(0, ioas_unmap(fd, ioas, IOVA, BUF_LEN, &len));
		ASSERT_EQ(BUF_LEN, len);
		/* Nothing left to pin: a domain attaches. */
		ASSERT_EQ(0, mock_domain(fd, ioas, &stdev2, &hwpt2));
	} else {
		/* Pinned in the fork: copied from one domain to another. */
		ASSERT_EQ(0, mock_domain(fd, ioas, &stdev2, &hwpt2));
		ASSERT_EQ(0, access_holds(fd, afd, IOVA, 1));
		ASSERT_EQ(0, access_fill(fd, afd, 2));
		ASSERT_EQ(0, access_holds(fd, afd, IOVA, 2));
		/* The second domain alone holds them. */
		ASSERT_EQ(0, destroy(fd, stdev));
		ASSERT_EQ(0, access_holds(fd, afd, IOVA, 2));
		/* Unpinned by all: no way to pin them again. */
		ASSERT_EQ(0, destroy(fd, stdev2));
		ASSERT_ERRNO(EFAULT, mock_domain(fd, ioas, &stdev, &hwpt));
		ASSERT_EQ(0, ioas_unmap(fd, ioas, IOVA, BUF_LEN, &len));
		ASSERT_EQ(BUF_LEN, len);
	}
	ASSERT_ERRNO(ENOENT, ioas_unmap(fd, ioas, IOVA, BUF_LEN, &len));
	ASSERT_EQ(0, close(afd));
	/* Everything goes with the last descriptor: the broker too. */
	ASSERT_TRUE(child_running(broker));
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(0, broker_exit(broker));
	ASSERT_EQ(0, list_brokers(NULL, 0, NULL, 0));
}

TEST(fork_gone_with_a_domain)
{
	fork_gone_test(true);
}

TEST(fork_gone_without_a_domain)
{
	fork_gone_test(false);
}

/*
 * The child maps and stays: the device reads what it wrote, and what the
 * device writes, the child reads in its own buffer (the same pages); the
 * pages a domain or an access pinned stay after the child is gone, until
 * nothing pins them.
 */
static void present_child(int fd, uint32_t ioas, struct turns *t)
{
	char *buf = pattern_buffer(1);
	uint64_t iova = IOVA;
	struct msg m;

	CHILD_CHECK(buf);
	CHILD_CHECK(!ioas_map(fd, ioas, buf, BUF_LEN, &iova, MAP_FIXED_RW));
	CHILD_SEND(t, 0, 0, 0);
	/* The parent writes pattern 2 through an access. */
	CHILD_RECV(t, &m);
	CHILD_CHECK(has_pattern(buf, BUF_LEN, 2));
	fill(buf, BUF_LEN, 3);
	CHILD_SEND(t, 0, 0, 0);
	CHILD_RECV(t, &m);	/* the parent read pattern 3 */
	_exit(0);
}

static void fork_present_test(bool domain)
{
	uint32_t ioas = 0, stdev = 0, hwpt = 0, stdev2 = 0, hwpt2 = 0, item = 0;
	uint64_t len = 0;
	struct turns t;
	int fd, afd = -1;
	struct msg m;
	pid_t pid;

	fd = ioas_world(&ioas, domain, &stdev, &hwpt);
	ASSERT_GE(fd, 0);
	pid = turns_fork(&t);
	if (!pid)
		present_child(fd, ioas, &t);
	PARENT_RECV(&t, &m);
	/* The child lives: its pages can be pinned. */
	ASSERT_EQ(0, mock_domain(fd, ioas, &stdev2, &hwpt2));
	ASSERT_EQ(0, create_access(fd, ioas, PIN_ACCESS, &afd));
	ASSERT_EQ(0, access_holds(fd, afd, IOVA, 1));
	ASSERT_EQ(0, access_fill(fd, afd, 2));
	PARENT_SEND(&t, 0, 0, 0);
	PARENT_RECV(&t, &m);
	/* The child's write, as the device sees it. */
	ASSERT_EQ(0, access_holds(fd, afd, IOVA, 3));
	PARENT_SEND(&t, 0, 0, 0);
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	/* Pinned by the domains: the pages outlive the child. */
	ASSERT_EQ(0, access_holds(fd, afd, IOVA, 3));
	ASSERT_EQ(0, access_fill(fd, afd, 4));
	ASSERT_EQ(0, access_holds(fd, afd, IOVA, 4));
	/* The access's pins hold them as well, without any domain. */
	ASSERT_EQ(0, access_pages(fd, afd, IOVA, BUF_LEN, NULL, 0, &item));
	if (domain)
		ASSERT_EQ(0, destroy(fd, stdev));
	ASSERT_EQ(0, destroy(fd, stdev2));
	ASSERT_EQ(0, access_holds(fd, afd, IOVA, 4));
	ASSERT_EQ(0, mock_domain(fd, ioas, &stdev2, &hwpt2));
	ASSERT_EQ(0, destroy_access_pages(fd, afd, item));
	ASSERT_EQ(0, destroy(fd, stdev2));
	/* Pinned by nothing: gone for good. */
	ASSERT_ERRNO(EFAULT, mock_domain(fd, ioas, &stdev2, &hwpt2));
	ASSERT_EQ(0, ioas_unmap(fd, ioas, IOVA, BUF_LEN, &len));
	ASSERT_EQ(BUF_LEN, len);
	ASSERT_EQ(0, close(afd));
	ASSERT_EQ(0, close(fd));
}

TEST(fork_present_with_a_domain)
{
	fork_present_test(true);
}

TEST(fork_present_without_a_domain)
{
	fork_present_test(false);
}

/* ---- fork after the move ---- */

/* Where the child of fork_child_gets_private_copies maps its copy. */
#define CHILD_IOVA (IOVA + 2 * BUF_LEN)

/*
 * The parent's moved, pinned memory is the parent's: a child forked after
 * the move writes to copies of its own (as the kernel copies pinned
 * pages at fork), which the domain does not hold, and does not see the
 * parent's later writes. Its copy, mapped, is other pages than the
 * parent's at the same address.
 */
static void private_child(int fd, uint32_t ioas, uint32_t hwpt, char *buf,
			  struct turns *t)
{
	uint64_t iova = CHILD_IOVA;
	struct msg m;

	CHILD_CHECK(is_private_anon(buf));
	CHILD_CHECK(has_pattern(buf, BUF_LEN, 1));
	fill(buf, BUF_LEN, 2);
	errno = 0;
	CHILD_CHECK(check_map(fd, hwpt, IOVA, buf, BUF_LEN) == -1 &&
		    errno == EINVAL);
	CHILD_CHECK(!ioas_map(fd, ioas, buf, BUF_LEN, &iova, MAP_FIXED_RW));
	CHILD_CHECK(is_moved(buf, "rw-s"));
	CHILD_CHECK(!check_map(fd, hwpt, CHILD_IOVA, buf, BUF_LEN));
	CHILD_SEND(t, 0, 0, 0);
	CHILD_RECV(t, &m);	/* the parent wrote pattern 3 to its buffer */
	CHILD_CHECK(has_pattern(buf, BUF_LEN, 2));
	_exit(0);
}

TEST(fork_child_gets_private_copies)
{
	uint32_t ioas = 0, stdev = 0, hwpt = 0;
	uint64_t iova = IOVA, len = 0;
	struct turns t;
	int fd, afd = -1;
	struct msg m;
	char *buf;
	pid_t pid;

	fd = ioas_world(&ioas, true, &stdev, &hwpt);
	ASSERT_GE(fd, 0);
	promote();
	buf = pattern_buffer(1);
	ASSERT_NONNULL(buf);
	ASSERT_EQ(0, ioas_map(fd, ioas, buf, BUF_LEN, &iova, MAP_FIXED_RW));
	ASSERT_TRUE(is_moved(buf, "rw-s"));
	ASSERT_EQ(0, check_map(fd, hwpt, IOVA, buf, BUF_LEN));
	ASSERT_EQ(0, create_access(fd, ioas, 0, &afd));
	pid = turns_fork(&t);
	if (!pid)
		private_child(fd, ioas, hwpt, buf, &t);
	PARENT_RECV(&t, &m);
	/* The child's writes reached neither the parent nor the device. */
	ASSERT_TRUE(has_pattern(buf, BUF_LEN, 1));
	ASSERT_TRUE(is_moved(buf, "rw-s"));
	ASSERT_EQ(0, access_holds(fd, afd, IOVA, 1));
	ASSERT_EQ(0, check_map(fd, hwpt, IOVA, buf, BUF_LEN));
	/* Its own mapping has its own pages. */
	ASSERT_EQ(0, access_holds(fd, afd, CHILD_IOVA, 2));
	ASSERT_ERRNO(EINVAL, check_map(fd, hwpt, CHILD_IOVA, buf, BUF_LEN));
	/* The parent's writes reach the device, not the child. */
	fill(buf, BUF_LEN, 3);
	ASSERT_EQ(0, access_holds(fd, afd, IOVA, 3));
	ASSERT_EQ(0, access_holds(fd, afd, CHILD_IOVA, 2));
	PARENT_SEND(&t, 0, 0, 0);
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	ASSERT_EQ(0, access_holds(fd, afd, IOVA, 3));
	ASSERT_EQ(0, access_holds(fd, afd, CHILD_IOVA, 2));
	ASSERT_EQ(0, ioas_unmap(fd, ioas, 0, UINT64_MAX, &len));
	ASSERT_EQ(2 * BUF_LEN, len);
	ASSERT_EQ(0, close(afd));
	ASSERT_EQ(0, close(fd));
}

/* ---- the program's view of moved memory ---- */

/*
 * Moved memory is a shared memfd mapping in /proc/self/maps, with the
 * program's bytes and protection; mprotect and munmap work on it, and a
 * domain's pins keep the pages after the program unmapped them, as in
 * the kernel.
 */
TEST(moved_memory_behaves)
{
	uint32_t ioas = 0, stdev = 0, hwpt = 0;
	uint64_t iova = IOVA, ro_iova = 0, len = 0;
	int fd, afd = -1;
	char *buf, *ro;

	fd = ioas_world(&ioas, true, &stdev, &hwpt);
	ASSERT_GE(fd, 0);
	promote();
	buf = pattern_buffer(1);
	ASSERT_NONNULL(buf);
	ASSERT_TRUE(is_private_anon(buf));
	ASSERT_EQ(0, ioas_map(fd, ioas, buf, BUF_LEN, &iova, MAP_FIXED_RW));
	ASSERT_TRUE(is_moved(buf, "rw-s"));
	ASSERT_TRUE(is_moved(buf + BUF_LEN - 1, "rw-s"));
	ASSERT_TRUE(has_pattern(buf, BUF_LEN, 1));
	ASSERT_EQ(0, check_map(fd, hwpt, IOVA, buf, BUF_LEN));
	ASSERT_EQ(0, create_access(fd, ioas, 0, &afd));
	/* The device's writes are the program's memory, and back. */
	ASSERT_EQ(0, access_fill(fd, afd, 2));
	ASSERT_TRUE(has_pattern(buf, BUF_LEN, 2));
	fill(buf, BUF_LEN, 3);
	ASSERT_EQ(0, access_holds(fd, afd, IOVA, 3));
	ASSERT_EQ(0, mprotect(buf, BUF_LEN, PROT_READ));
	ASSERT_TRUE(is_moved(buf, "r--s"));
	ASSERT_TRUE(has_pattern(buf, BUF_LEN, 3));
	ASSERT_EQ(0, access_fill(fd, afd, 4));
	ASSERT_TRUE(has_pattern(buf, BUF_LEN, 4));
	/* Gone from the program; pinned, so the device still has them. */
	ASSERT_EQ(0, munmap(buf, BUF_LEN));
	ASSERT_EQ(0, access_holds(fd, afd, IOVA, 4));
	ASSERT_EQ(0, access_fill(fd, afd, 5));
	ASSERT_EQ(0, access_holds(fd, afd, IOVA, 5));
	ASSERT_EQ(0, ioas_unmap(fd, ioas, IOVA, BUF_LEN, &len));
	ASSERT_EQ(BUF_LEN, len);
	/* Read-only memory mapped readable moves read-only. */
	ro = pattern_buffer(6);
	ASSERT_NONNULL(ro);
	ASSERT_EQ(0, mprotect(ro, BUF_LEN, PROT_READ));
	ASSERT_EQ(0, ioas_map(fd, ioas, ro, BUF_LEN, &ro_iova,
			      IOMMU_IOAS_MAP_READABLE));
	ASSERT_TRUE(is_moved(ro, "r--s"));
	ASSERT_TRUE(has_pattern(ro, BUF_LEN, 6));
	ASSERT_EQ(0, check_map(fd, hwpt, ro_iova, ro, BUF_LEN));
	ASSERT_EQ(0, ioas_unmap(fd, ioas, ro_iova, BUF_LEN, &len));
	ASSERT_EQ(BUF_LEN, len);
	ASSERT_EQ(0, munmap(ro, BUF_LEN));
	ASSERT_EQ(0, close(afd));
	ASSERT_EQ(0, close(fd));
}

/*
 * A mapping made before the context was shared stays in the program's
 * memory (limit of this step, design.md 8.1: moving it would change the
 * identity of the pages its domain holds). Mapped again through the
 * shared context, the memory moves: the pages the first mapping's domain
 * pinned must stay the program's pages (nothing moves a pinned page in
 * the kernel), and both mappings show the program's writes.
 */
TEST(mapping_made_before_the_fork)
{
	uint32_t ioas = 0, stdev = 0, hwpt = 0;
	uint64_t iova = IOVA, iova2 = IOVA + BUF_LEN, len = 0;
	int fd, afd = -1;
	char *buf;

	fd = ioas_world(&ioas, true, &stdev, &hwpt);
	ASSERT_GE(fd, 0);
	buf = pattern_buffer(1);
	ASSERT_NONNULL(buf);
	ASSERT_EQ(0, ioas_map(fd, ioas, buf, BUF_LEN, &iova, MAP_FIXED_RW));
	promote();
	ASSERT_TRUE(is_private_anon(buf));
	ASSERT_EQ(0, check_map(fd, hwpt, IOVA, buf, BUF_LEN));
	ASSERT_EQ(0, create_access(fd, ioas, 0, &afd));
	ASSERT_EQ(0, access_holds(fd, afd, IOVA, 1));
	fill(buf, BUF_LEN, 2);
	ASSERT_EQ(0, access_holds(fd, afd, IOVA, 2));
	ASSERT_EQ(0, ioas_map(fd, ioas, buf, BUF_LEN, &iova2, MAP_FIXED_RW));
	ASSERT_EQ(0, check_map(fd, hwpt, iova2, buf, BUF_LEN));
	EXPECT_EQ(0, check_map(fd, hwpt, IOVA, buf, BUF_LEN));
	fill(buf, BUF_LEN, 3);
	ASSERT_EQ(0, access_holds(fd, afd, IOVA, 3));
	ASSERT_EQ(0, access_holds(fd, afd, iova2, 3));
	ASSERT_EQ(0, ioas_unmap(fd, ioas, 0, UINT64_MAX, &len));
	ASSERT_EQ(2 * BUF_LEN, len);
	ASSERT_EQ(0, close(afd));
	ASSERT_EQ(0, close(fd));
}

/* ---- what is not moved ---- */

/*
 * A context never shared (no fork since its open, in a process that
 * never forked: the harness forked this one before it ran) maps the
 * program's memory as it is.
 */
TEST(unshared_context_moves_nothing)
{
	uint32_t ioas = 0, stdev = 0, hwpt = 0;
	uint64_t iova = IOVA, len = 0;
	char *buf;
	int fd;

	fd = ioas_world(&ioas, true, &stdev, &hwpt);
	ASSERT_GE(fd, 0);
	buf = pattern_buffer(1);
	ASSERT_NONNULL(buf);
	ASSERT_EQ(0, ioas_map(fd, ioas, buf, BUF_LEN, &iova, MAP_FIXED_RW));
	ASSERT_TRUE(is_private_anon(buf));
	ASSERT_EQ(0, check_map(fd, hwpt, IOVA, buf, BUF_LEN));
	ASSERT_EQ(0, check_refs(fd, buf, BUF_LEN, 1));
	ASSERT_EQ(0, ioas_unmap(fd, ioas, IOVA, BUF_LEN, &len));
	ASSERT_EQ(BUF_LEN, len);
	ASSERT_TRUE(is_private_anon(buf));
	ASSERT_EQ(0, close(fd));
}

/*
 * Beside a shared context: a context opened after the fork is not
 * shared, and moves nothing; pages it maps are not moved for the shared
 * one either (they may be pinned under the identity of their address,
 * and the kernel does not migrate a pinned page); once they are not, the
 * shared one moves exactly the pages it maps, not their neighbours, and
 * not what a failed map names. EXPECT: each of these is reported.
 */
TEST(only_what_a_shared_context_maps_moves)
{
	uint32_t ioas = 0, stdev = 0, hwpt = 0, ioas2 = 0, st2 = 0, hw2 = 0;
	uint64_t iova = IOVA, iova2 = IOVA, len = 0;
	int fd, fd2;
	char *big;

	fd = ioas_world(&ioas, true, &stdev, &hwpt);
	ASSERT_GE(fd, 0);
	promote();
	fd2 = ioas_world(&ioas2, true, &st2, &hw2);
	ASSERT_GE(fd2, 0);
	big = mmap(NULL, 3 * BUF_LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, big);
	fill(big, 3 * BUF_LEN, 1);
	ASSERT_EQ(0, ioas_map(fd2, ioas2, big, 3 * BUF_LEN, &iova2,
			      MAP_FIXED_RW));
	ASSERT_TRUE(is_private_anon(big + BUF_LEN));
	ASSERT_EQ(0, check_map(fd2, hw2, IOVA, big, 3 * BUF_LEN));
	/* The middle third, in the shared context. */
	ASSERT_EQ(0, ioas_map(fd, ioas, big + BUF_LEN, BUF_LEN, &iova,
			      MAP_FIXED_RW));
	ASSERT_TRUE(is_private_anon(big + BUF_LEN - 1));
	ASSERT_TRUE(is_private_anon(big + BUF_LEN));
	ASSERT_TRUE(is_private_anon(big + 2 * BUF_LEN - 1));
	ASSERT_TRUE(is_private_anon(big + 2 * BUF_LEN));
	ASSERT_TRUE(has_pattern(big, 3 * BUF_LEN, 1));
	ASSERT_EQ(0, check_map(fd, hwpt, IOVA, big + BUF_LEN, BUF_LEN));
	EXPECT_EQ(0, check_map(fd2, hw2, IOVA, big, 3 * BUF_LEN));
	ASSERT_EQ(0, ioas_unmap(fd, ioas, IOVA, BUF_LEN, &len));
	ASSERT_EQ(BUF_LEN, len);
	ASSERT_EQ(0, ioas_unmap(fd2, ioas2, IOVA, 3 * BUF_LEN, &len));
	ASSERT_EQ(3 * BUF_LEN, len);
	/* Nothing else maps it now: the shared map moves its pages only. */
	iova = IOVA;
	ASSERT_EQ(0, ioas_map(fd, ioas, big + BUF_LEN, BUF_LEN, &iova,
			      MAP_FIXED_RW));
	ASSERT_TRUE(is_private_anon(big + BUF_LEN - 1));
	ASSERT_TRUE(is_moved(big + BUF_LEN, "rw-s"));
	ASSERT_TRUE(is_moved(big + 2 * BUF_LEN - 1, "rw-s"));
	ASSERT_TRUE(has_pattern(big, 3 * BUF_LEN, 1));
	ASSERT_EQ(0, check_map(fd, hwpt, IOVA, big + BUF_LEN, BUF_LEN));
	/* A map that fails maps nothing, and moves nothing. */
	ASSERT_ERRNO(EEXIST, ioas_map(fd, ioas, big + 2 * BUF_LEN, BUF_LEN,
				      &iova, MAP_FIXED_RW));
	EXPECT_TRUE(is_private_anon(big + 2 * BUF_LEN));
	ASSERT_EQ(0, munmap(big, 3 * BUF_LEN));
	ASSERT_EQ(0, close(fd2));
	ASSERT_EQ(0, close(fd));
}

/*
 * A stack is never moved (a thread faulting on its own stack could not
 * wait for the move): a page of this thread's stack, below the frames
 * that map it, is reached where it is, and stays the stack.
 */
TEST(stack_is_not_moved)
{
	uint32_t ioas = 0, stdev = 0, hwpt = 0;
	uint64_t iova = IOVA, len = 0;
	char stack[4 * PAGE_SZ], perms[8], was[64], path[64], *page;
	int fd;

	fd = ioas_world(&ioas, true, &stdev, &hwpt);
	ASSERT_GE(fd, 0);
	promote();
	page = (char *)(((uintptr_t)stack + PAGE_SZ - 1) & ~(PAGE_SZ - 1));
	memset(page, 0x5a, PAGE_SZ);
	/* Its VMA ("[stack]"; nameless under valgrind) stays as it was. */
	ASSERT_EQ(0, vma_of(page, perms, was, sizeof(was)));
	ASSERT_STREQ("rw-p", perms);
	ASSERT_EQ(0, ioas_map(fd, ioas, page, PAGE_SZ, &iova, MAP_FIXED_RW));
	ASSERT_EQ(0, vma_of(page, perms, path, sizeof(path)));
	ASSERT_STREQ("rw-p", perms);
	ASSERT_STREQ(was, path);
	ASSERT_EQ(0, check_map(fd, hwpt, IOVA, page, PAGE_SZ));
	ASSERT_EQ(0, ioas_unmap(fd, ioas, IOVA, PAGE_SZ, &len));
	ASSERT_EQ(PAGE_SZ, len);
	ASSERT_EQ(0, close(fd));
}

/* ---- a thread writing while the memory moves ---- */

#define WRITER_PAGES 64
#define WRITER_WORDS (WRITER_PAGES * PAGE_SZ / sizeof(uint64_t))

/*
 * Writes 1, 2, 3, ... to the words of @buf in turn, round and round,
 * with a copy in @shadow (memory no context maps): before each write, the
 * word must still hold what the thread last wrote there, or a write was
 * lost (made to the old memory while it was being moved).
 */
struct writer {
	pthread_t thread;
	volatile uint64_t *buf;
	uint64_t *shadow;
	atomic_bool stop;
	atomic_ulong rounds, lost;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	for (uint64_t v = 1; !atomic_load_explicit(&w->stop,
						   memory_order_relaxed); v++) {
		size_t i = v % WRITER_WORDS;

		if (w->buf[i] != w->shadow[i])
			atomic_fetch_add(&w->lost, 1);
		w->buf[i] = v;
		w->shadow[i] = v;
		if (!i)
			atomic_fetch_add(&w->rounds, 1);
	}
	return NULL;
}

/* Until the writer has gone round @n more times (it works: CPU time). */
static void writer_wait(struct writer *w, unsigned long n)
{
	unsigned long until = atomic_load(&w->rounds) + n;

	while (atomic_load(&w->rounds) < until)
		sched_yield();
}

TEST(write_while_the_memory_moves)
{
	const size_t len = WRITER_PAGES * PAGE_SZ;
	uint32_t ioas = 0, stdev = 0, hwpt = 0;
	struct writer w = {};
	uint64_t *seen;
	int fd, afd = -1;

#if defined(__SANITIZE_THREAD__)
	/*
	 * A writer waits for the move inside its SIGSEGV handler; TSan's
	 * runtime can be inside a lock of its own at that fault (reporting
	 * the write), and then everything waits. The other builds run it.
	 */
	SKIP("a writer waiting in the move's fault handler can deadlock TSan's runtime");
#endif
	fd = ioas_world(&ioas, true, &stdev, &hwpt);
	ASSERT_GE(fd, 0);
	promote();
	ASSERT_EQ(0, create_access(fd, ioas, 0, &afd));
	w.shadow = malloc(len);
	seen = malloc(len);
	ASSERT_NONNULL(w.shadow);
	ASSERT_NONNULL(seen);
	for (unsigned int round = 0; round != test_iterations(30); round++) {
		uint64_t iova = IOVA, unmapped = 0;
		void *buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		ASSERT_NE(MAP_FAILED, buf);
		memset(w.shadow, 0, len);
		w.buf = buf;
		atomic_store(&w.stop, false);
		ASSERT_EQ(0, pthread_create(&w.thread, NULL, writer_main, &w));
		writer_wait(&w, 1);
		ASSERT_EQ(0, ioas_map(fd, ioas, buf, len, &iova,
				      MAP_FIXED_RW));
		/* Every word is checked once more, on the file. */
		writer_wait(&w, 2);
		atomic_store(&w.stop, true);
		ASSERT_EQ(0, pthread_join(w.thread, NULL));
		ASSERT_TRUE(is_moved(buf, "rw-s"));
		ASSERT_EQ(0, atomic_load(&w.lost));
		ASSERT_EQ(0, memcmp(buf, w.shadow, len));
		/* And the device sees the last of them. */
		memset(seen, 0, len);
		ASSERT_EQ(0, access_rw(fd, afd, IOVA, seen, len, 0));
		ASSERT_EQ(0, memcmp(seen, w.shadow, len));
		ASSERT_EQ(0, ioas_unmap(fd, ioas, IOVA, len, &unmapped));
		ASSERT_EQ(len, unmapped);
		ASSERT_EQ(0, munmap(buf, len));
		test_progress();
	}
	free(seen);
	free(w.shadow);
	ASSERT_EQ(0, close(afd));
	ASSERT_EQ(0, close(fd));
}

/* ---- VFIO type1 on /dev/vfio/vfio ---- */

/* VFIO_IOMMU_UNMAP_DMA: the size unmapped, or -1. */
static int64_t vfio_unmap_dma(int fd, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap), .iova = iova, .size = size,
	};

	if (ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &unmap))
		return -1;
	return unmap.size;
}

/*
 * VFIO_IOMMU_MAP_DMA through a shared context moves the memory as
 * IOAS_MAP does: a child maps and exits; the domain keeps its pages, the
 * device reads them, and VFIO_IOMMU_UNMAP_DMA takes the whole mapping.
 */
TEST(vfio_map_dma_by_a_child_that_exits)
{
	uint32_t ioas = 0, stdev = 0, hwpt = 0, id;
	int fd, afd = -1;
	pid_t pid;

	fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		SKIP("the shim provides no /dev/vfio/vfio");
	ASSERT_GE(fd, 0);
	/* The compat IOAS with a mock device, as a group attach makes it. */
	ASSERT_EQ(0, ioas_alloc(fd, &ioas));
	ASSERT_EQ(0, mock_domain(fd, ioas, &stdev, &hwpt));
	id = ioas;
	ASSERT_EQ(0, vfio_ioas(fd, IOMMU_VFIO_IOAS_SET, &id));
	ASSERT_EQ(0, ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid) {
		char *buf = pattern_buffer(1);
		struct vfio_iommu_type1_dma_map map = {
			.argsz = sizeof(map), .flags = VFIO_RW,
			.vaddr = (uintptr_t)buf, .iova = IOVA, .size = BUF_LEN,
		};

		CHILD_CHECK(buf);
		CHILD_CHECK(!ioctl(fd, VFIO_IOMMU_MAP_DMA, &map));
		CHILD_CHECK(is_moved(buf, "rw-s"));
		CHILD_CHECK(has_pattern(buf, BUF_LEN, 1));
		_exit(0);
	}
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	ASSERT_EQ(0, create_access(fd, ioas, 0, &afd));
	ASSERT_EQ(0, access_holds(fd, afd, IOVA, 1));
	ASSERT_EQ(0, access_fill(fd, afd, 2));
	ASSERT_EQ(0, access_holds(fd, afd, IOVA, 2));
	ASSERT_EQ(0, close(afd));
	ASSERT_EQ(BUF_LEN, vfio_unmap_dma(fd, IOVA, BUF_LEN));
	ASSERT_EQ(0, vfio_unmap_dma(fd, IOVA, BUF_LEN));
	ASSERT_EQ(0, close(fd));
}
