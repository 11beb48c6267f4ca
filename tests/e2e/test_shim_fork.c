// SPDX-License-Identifier: MIT
/*
 * fork and exec under the shim, with contexts shared between processes
 * (docs/design.md 8 and 8.1). Before the program's fork the shim promotes
 * every /dev/iommu context of the process, used or not, to a broker
 * process (nobody's child, named uiommufd-brkr) that serves it from then
 * on to every holder of its descriptor: parent and child work on one
 * context, as on the kernel's one iommufd file, with one ID sequence, and
 * the context goes when the last copy of the descriptor anywhere is
 * closed. Commands run with the calling process as the user: its command
 * structs, buffers and the memory IOAS_MAP maps are read in the caller's
 * memory, and MD_CHECK_MAP/MD_CHECK_REFS look at the caller's pages.
 *
 * Limits of this step, asserted as the current behaviour where they
 * matter (each marked "limit of this step"):
 * - a context holding descriptors or mappings of its own (an access from
 *   CREATE_ACCESS, ...), or any context of a process holding a library
 *   descriptor, is not promoted: the child gets its own copy, whose
 *   mappings still name the parent's memory;
 * - in a shared context the commands that make or take a descriptor are
 *   EOPNOTSUPP, mmap() of the descriptor ENODEV;
 * - a page's identity is its address in its own process: pin counts of
 *   an address both processes map add up (the tests avoid those);
 * - memory of a process that has exited cannot be reached (not tested);
 * - a descriptor kept open across exec is not a context in the new image;
 * - each shared context has a broker of its own, which counts its own
 *   context's pins and charges only.
 *
 * Where the kernel's behaviour is not a limit of this step, the tests
 * assert the kernel's.
 *
 * Parent and child take turns through pipes; every wait is judged by
 * progress (wait_child(), test_wait_child()), never by the clock. The
 * exec'd image is this program again, told what to check by the
 * environment; it reports through its exit status.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "e2e/e2e_share.h"

#define EXEC_ENV "UIOMMUFD_E2E_EXEC_CHILD"

/* Whether [@addr, @addr + @len) is mapped at all in this process. */
static bool is_mapped(const void *addr, size_t len)
{
	unsigned char vec[64];

	return mincore((void *)addr, len, vec) == 0 || errno != ENOMEM;
}

TEST(shim_is_active)
{
	uint32_t ioas = 0;
	int fd;

	fd = open("/dev/iommu", O_RDWR);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ioas_alloc(fd, &ioas));
	ASSERT_EQ(1, ioas);
	ASSERT_EQ(0, close(fd));
}

/* ---- fork: parent and child share the context ---- */

/*
 * The child: the parent's objects are there, and what it does, the
 * parent sees. It leaves its own IOAS and its own mapping in place.
 */
static void shared_child(struct ctx *c, struct turns *t, uint32_t victim)
{
	uint32_t ioas = 0, stdev = 0, hwpt = 0, id = 0;
	uint64_t iova = 0, iova2 = 0, len = 0;
	char *buf;
	int fd;

	/*
	 * The parent's mapping, as the child sees its memory: the same
	 * pages (a page's identity is its address, and the child's memory
	 * at c->buf is the parent's at the fork).
	 */
	CHILD_CHECK(!check_map(c->fd, c->hwpt, c->iova, c->buf, BUF_LEN));
	CHILD_CHECK(destroy(c->fd, c->ioas) == -1 && errno == EBUSY);
	/* One ID sequence: the next free ID after the parent's. */
	CHILD_CHECK(!ioas_alloc(c->fd, &id) && id == victim + 1);
	/* A parent's object goes for the parent too. */
	CHILD_CHECK(!destroy(c->fd, victim));
	/* Memory the child made after the fork, into the parent's IOAS. */
	buf = e2e_buffer(BUF_LEN);
	CHILD_CHECK(buf);
	CHILD_CHECK(!ioas_map(c->fd, c->ioas, buf, BUF_LEN, &iova, MAP_RW));
	CHILD_CHECK(!check_map(c->fd, c->hwpt, iova, buf, BUF_LEN));
	CHILD_CHECK(!check_refs(c->fd, buf, BUF_LEN, 1));
	/* A context the child opens is its own: IDs from 1, its objects. */
	fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	CHILD_CHECK(fd >= 0);
	CHILD_CHECK(!ioas_alloc(fd, &ioas) && ioas == 1);
	CHILD_CHECK(!mock_domain(fd, ioas, &stdev, &hwpt));
	CHILD_CHECK(!ioas_map(fd, ioas, buf, BUF_LEN, &iova2, MAP_RW));
	CHILD_CHECK(!check_map(fd, hwpt, iova2, buf, BUF_LEN));
	CHILD_CHECK(destroy(fd, id) == -1 && errno == ENOENT);
	CHILD_CHECK(!ioas_unmap(fd, ioas, iova2, BUF_LEN, &len) &&
		    len == BUF_LEN);
	CHILD_CHECK(!close(fd));
	/* The shared context still has what the child made. */
	CHILD_CHECK(!check_map(c->fd, c->hwpt, iova, buf, BUF_LEN));
	CHILD_SEND(t, id, (uintptr_t)buf, iova);
	_exit(0);
}

TEST(fork_parent_and_child_share_one_context)
{
	uint32_t victim = 0, id = 0;
	uint64_t len = 0;
	struct turns t;
	struct msg m;
	struct ctx c;
	pid_t pid;

	ctx_make(&c, 0);
	/* The lowest free ID: the one ctx_make freed. */
	ASSERT_EQ(0, ioas_alloc(c.fd, &victim));
	ASSERT_EQ(c.next_id, victim);
	pid = turns_fork(&t);
	if (!pid)
		shared_child(&c, &t, victim);
	PARENT_RECV(&t, &m);
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	/* The child's destroy reached the parent. */
	ASSERT_ERRNO(ENOENT, destroy(c.fd, victim));
	/* One sequence: the hole the child left, not the child's ID. */
	ASSERT_EQ(victim + 1, m.a);
	ASSERT_EQ(0, ioas_alloc(c.fd, &id));
	ASSERT_EQ(victim, id);
	ASSERT_EQ(0, destroy(c.fd, id));
	/* The child's IOAS is the parent's to destroy. */
	ASSERT_EQ(0, destroy(c.fd, (uint32_t)m.a));
	ASSERT_ERRNO(ENOENT, destroy(c.fd, (uint32_t)m.a));
	/*
	 * The child's area stays in the parent's IOAS after the child is
	 * gone, at an address the parent does not map; unmapping it gives
	 * its length back.
	 */
	if (is_mapped((void *)(uintptr_t)m.b, BUF_LEN))
		TH_LOG("the parent maps the child's buffer's address too");
	ASSERT_EQ(0, ioas_unmap(c.fd, c.ioas, m.c, BUF_LEN, &len));
	ASSERT_EQ(BUF_LEN, len);
	ASSERT_ERRNO(ENOENT, ioas_unmap(c.fd, c.ioas, m.c, BUF_LEN, &len));
	/* The parent's own mapping is as it was. */
	ASSERT_EQ(0, check_map(c.fd, c.hwpt, c.iova, c.buf, BUF_LEN));
	ASSERT_EQ(0, check_refs(c.fd, c.buf, BUF_LEN, 1));
	ASSERT_ERRNO(EBUSY, destroy(c.fd, c.ioas));
	ASSERT_EQ(0, destroy(c.fd, c.stdev));
	ASSERT_EQ(0, check_refs(c.fd, c.buf, BUF_LEN, 0));
	ASSERT_EQ(0, destroy(c.fd, c.ioas));
	ASSERT_EQ(0, close(c.fd));
}

/*
 * Parent and child take turns on one context: each maps, unmaps and
 * destroys what the other made, and the IDs come from one sequence.
 */
static void turns_child_main(struct turns *t, int fd, uint32_t base,
			     uint32_t hwpt)
{
	uint64_t iova = 0, len = 0;
	uint32_t a, b;
	struct msg m;
	char *buf;

	buf = e2e_buffer(BUF_LEN);
	CHILD_CHECK(buf);
	/* 1: the parent made IOAS a. */
	CHILD_RECV(t, &m);
	a = m.a;
	CHILD_CHECK(!ioas_alloc(fd, &b) && b == a + 1);
	CHILD_CHECK(!ioas_map(fd, a, buf, BUF_LEN, &iova, MAP_RW));
	CHILD_SEND(t, b, iova, 0);
	/* 3: the parent took the child's area out of a, mapped its own. */
	CHILD_RECV(t, &m);
	CHILD_CHECK(m.a == a + 2);
	CHILD_CHECK(ioas_unmap(fd, a, iova, BUF_LEN, &len) == -1 &&
		    errno == ENOENT);
	/*
	 * The parent's memory is not the child's memory at that address:
	 * the parent's pages moved into a file when it mapped them, after
	 * the fork, and the child's copy stayed its own (as the kernel's
	 * child and parent have their own pages after the fork).
	 */
	errno = 0;
	CHILD_CHECK(check_map(fd, hwpt, m.b, (void *)(uintptr_t)m.c,
			      BUF_LEN) == -1 && errno == EINVAL);
	CHILD_CHECK(!ioas_unmap(fd, base, m.b, BUF_LEN, &len) &&
		    len == BUF_LEN);
	CHILD_CHECK(!destroy(fd, a));
	CHILD_CHECK(!destroy(fd, (uint32_t)m.a));
	CHILD_SEND(t, 0, 0, 0);
	/* 5: the parent destroyed b and allocated again. */
	CHILD_RECV(t, &m);
	CHILD_CHECK(m.a == a);
	CHILD_CHECK(destroy(fd, b) == -1 && errno == ENOENT);
	CHILD_CHECK(!destroy(fd, a));
	CHILD_CHECK(!ioas_alloc(fd, &b) && b == a);
	CHILD_CHECK(!ioas_map(fd, b, buf, BUF_LEN, &iova, MAP_RW));
	CHILD_CHECK(!ioas_unmap(fd, b, 0, UINT64_MAX, &len) &&
		    len == BUF_LEN);
	CHILD_SEND(t, b, 0, 0);
	_exit(0);
}

TEST(fork_parent_and_child_take_turns)
{
	uint32_t a = 0, b = 0, id = 0, base = 0, stdev = 0, hwpt = 0;
	uint64_t iova = 0, len = 0;
	struct turns t;
	struct msg m;
	char *buf;
	pid_t pid;
	int fd;

	fd = open_iommu();
	ASSERT_GE(fd, 0);
	buf = e2e_buffer(BUF_LEN);
	ASSERT_NONNULL(buf);
	/* A domain the child checks the parent's mapping through. */
	ASSERT_EQ(0, ioas_alloc(fd, &base));
	ASSERT_EQ(0, mock_domain(fd, base, &stdev, &hwpt));
	pid = turns_fork(&t);
	if (!pid)
		turns_child_main(&t, fd, base, hwpt);
	/* 0 */
	ASSERT_EQ(0, ioas_alloc(fd, &a));
	PARENT_SEND(&t, a, 0, 0);
	/* 2: the child made b and mapped its memory into a. */
	PARENT_RECV(&t, &m);
	b = m.a;
	ASSERT_EQ(a + 1, b);
	ASSERT_EQ(0, ioas_alloc(fd, &id));
	ASSERT_EQ(a + 2, id);
	ASSERT_EQ(0, ioas_unmap(fd, a, m.b, BUF_LEN, &len));
	ASSERT_EQ(BUF_LEN, len);
	/* The parent's memory, behind the domain and in the child's b. */
	ASSERT_EQ(0, ioas_map(fd, base, buf, BUF_LEN, &iova, MAP_RW));
	ASSERT_EQ(0, check_map(fd, hwpt, iova, buf, BUF_LEN));
	ASSERT_EQ(0, check_refs(fd, buf, BUF_LEN, 1));
	ASSERT_EQ(0, ioas_map(fd, b, buf, BUF_LEN, NULL, MAP_RW));
	PARENT_SEND(&t, id, iova, (uintptr_t)buf);
	/* 4: the child unmapped base's area, destroyed a and id. */
	PARENT_RECV(&t, &m);
	ASSERT_ERRNO(ENOENT, destroy(fd, a));
	ASSERT_ERRNO(ENOENT, destroy(fd, id));
	ASSERT_ERRNO(ENOENT, ioas_unmap(fd, base, iova, BUF_LEN, &len));
	/* The child's unmap unpinned the parent's pages. */
	ASSERT_EQ(0, check_refs(fd, buf, BUF_LEN, 0));
	ASSERT_EQ(0, destroy(fd, b));
	ASSERT_EQ(0, ioas_alloc(fd, &id));
	ASSERT_EQ(a, id);
	PARENT_SEND(&t, id, 0, 0);
	/* 6: the child destroyed that one and made a again. */
	PARENT_RECV(&t, &m);
	ASSERT_EQ(a, m.a);
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	ASSERT_EQ(0, destroy(fd, a));
	ASSERT_ERRNO(ENOENT, destroy(fd, a));
	ASSERT_EQ(0, destroy(fd, stdev));
	ASSERT_EQ(0, destroy(fd, base));
	ASSERT_EQ(0, close(fd));
}

/* A context opened and never used before the fork is one context too. */
TEST(fork_shares_a_context_never_used)
{
	int fd, cloexec_fd, d;
	uint32_t id = 0;
	pid_t pid;

	fd = open("/dev/iommu", O_RDWR);
	ASSERT_GE(fd, 0);
	cloexec_fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	ASSERT_GE(cloexec_fd, 0);
	d = dup(cloexec_fd);
	ASSERT_GE(d, 0);
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid) {
		CHILD_CHECK(!ioas_alloc(fd, &id) && id == 1);
		CHILD_CHECK(!ioas_alloc(cloexec_fd, &id) && id == 1);
		/* dup'd before the fork: the same context. */
		CHILD_CHECK(!ioas_alloc(d, &id) && id == 2);
		_exit(0);
	}
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	/* The numbers and their close-on-exec flags are as they were. */
	ASSERT_EQ(0, fcntl(fd, F_GETFD));
	ASSERT_EQ(FD_CLOEXEC, fcntl(cloexec_fd, F_GETFD));
	ASSERT_EQ(0, fcntl(d, F_GETFD));
	ASSERT_EQ(0, ioas_alloc(fd, &id));
	ASSERT_EQ(2, id);
	ASSERT_EQ(0, ioas_alloc(d, &id));
	ASSERT_EQ(3, id);
	ASSERT_EQ(0, ioas_alloc(cloexec_fd, &id));
	ASSERT_EQ(4, id);
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(0, close(d));
	ASSERT_EQ(0, destroy(cloexec_fd, 1));
	ASSERT_EQ(0, close(cloexec_fd));
}

/*
 * In a shared context, what makes or takes a descriptor or a mapping is
 * refused with EOPNOTSUPP (limit of this step; the reason shows in
 * --trace only), in the parent and in the child alike; the rest works.
 */
static int refused_commands(int fd, uint32_t ioas)
{
	struct iommu_fault_alloc fa = { .size = sizeof(fa) };
	struct iommu_veventq_alloc va = { .size = sizeof(va),
					  .veventq_depth = 2 };
	int bad = 0;
	void *p;

#define REFUSED(call)                                                      \
	do {                                                               \
		errno = 0;                                                 \
		if ((call) != -1 || errno != EOPNOTSUPP) {                 \
			dprintf(1, "# %d: %s: not EOPNOTSUPP (errno %d)\n", \
				(int)getpid(), #call, errno);              \
			bad++;                                             \
		}                                                          \
	} while (0)
	REFUSED(ioctl(fd, IOMMU_FAULT_QUEUE_ALLOC, &fa));
	REFUSED(ioctl(fd, IOMMU_VEVENTQ_ALLOC, &va));
#undef REFUSED
	errno = 0;
	p = mmap(NULL, PAGE_SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p != MAP_FAILED || errno != ENODEV) {
		dprintf(1, "# %d: mmap: not ENODEV (errno %d)\n",
			(int)getpid(), errno);
		bad++;
	}
	return bad;
}

TEST(fork_shared_context_refuses_descriptor_commands)
{
	uint32_t ioas = 0, id = 0;
	pid_t pid;
	int fd;

	fd = open_iommu();
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ioas_alloc(fd, &ioas));
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid) {
		CHILD_CHECK(refused_commands(fd, ioas) == 0);
		CHILD_CHECK(!ioas_alloc(fd, &id) && id == ioas + 1);
		_exit(0);
	}
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	ASSERT_EQ(0, refused_commands(fd, ioas));
	/* Nothing was made by the refused commands; the rest works. */
	ASSERT_EQ(0, ioas_alloc(fd, &id));
	ASSERT_EQ(ioas + 2, id);
	ASSERT_EQ(0, close(fd));
}

/*
 * IOAS_MAP_FILE in a shared context: the file goes to the broker with the
 * command. A child maps a memfd and exits; the domain holds the file's
 * pages, the very pages the parent maps of the file (the broker holds
 * the file), and a bad descriptor number is EBADF, as the kernel's
 * fget().
 */
TEST(fork_shared_context_maps_a_file)
{
	uint32_t ioas = 0, stdev = 0, hwpt = 0;
	const uint64_t iova = MOCK_APERTURE_START;
	int fd, memfd;
	char *view;
	pid_t pid;

	fd = open_iommu();
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ioas_alloc(fd, &ioas));
	ASSERT_EQ(0, mock_domain(fd, ioas, &stdev, &hwpt));
	memfd = memfd_create("e2e-file", MFD_CLOEXEC);
	ASSERT_GE(memfd, 0);
	ASSERT_EQ(0, ftruncate(memfd, BUF_LEN));
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid) {
		CHILD_CHECK(pwrite(memfd, "the child's file", 17, PAGE_SZ) ==
			    17);
		CHILD_CHECK(!map_file(fd, ioas, memfd, 0, BUF_LEN, iova));
		/* After a command: the channel's number is taken by then. */
		errno = 0;
		CHILD_CHECK(map_file(fd, ioas, free_number(3), 0, BUF_LEN,
				     iova) == -1 &&
			    errno == EBADF);
		_exit(0);
	}
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	view = mmap(NULL, BUF_LEN, PROT_READ, MAP_SHARED, memfd, 0);
	ASSERT_NE(MAP_FAILED, view);
	ASSERT_STREQ("the child's file", view + PAGE_SZ);
	/* The domain holds the file's pages, which the parent maps too. */
	ASSERT_EQ(0, check_map(fd, hwpt, iova, view, BUF_LEN));
	ASSERT_EQ(0, ioas_unmap(fd, ioas, iova, BUF_LEN, NULL));
	ASSERT_EQ(0, munmap(view, BUF_LEN));
	ASSERT_EQ(0, close(memfd));
	ASSERT_EQ(0, close(fd));
}

/* ---- contexts not shared: limits of this step ---- */

/*
 * A context holding an access (a descriptor of its own) is not promoted
 * (limit of this step): the child works on its own copy, whose area
 * still names the parent's memory, as the kernel's area names the
 * parent's mm: the child's access reads the parent's bytes, not the
 * child's copy-on-write copy of them, whether or not a domain holds the
 * pages pinned.
 */
static void parent_memory_child(struct ctx *c, int afd)
{
	char text[32] = {};

	strcpy(c->buf, "the child's data");
	CHILD_CHECK(!access_rw(c->fd, afd, c->iova, text, sizeof(text), 0));
	if (strcmp(text, "the parent's data"))
		dprintf(1, "# the child's access read \"%s\"\n", text);
	CHILD_CHECK(!strcmp(text, "the parent's data"));
	CHILD_CHECK(!close(afd));
	_exit(0);
}

static void parent_memory_test(bool domain)
{
	struct ctx c;
	pid_t pid;
	int afd = -1;

	ctx_make(&c, O_CLOEXEC);
	if (!domain)
		ASSERT_EQ(0, destroy(c.fd, c.stdev));
	ASSERT_EQ(0, create_access(c.fd, c.ioas, 0, &afd));
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid)
		parent_memory_child(&c, afd);
	/* The parent stays alive meanwhile, its memory unchanged. */
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	ASSERT_STREQ("the parent's data", c.buf);
	ASSERT_EQ(0, check_refs(c.fd, c.buf, BUF_LEN, domain));
	ASSERT_EQ(0, close(afd));
	ASSERT_EQ(0, close(c.fd));
}

TEST(fork_child_access_reads_the_parents_memory)
{
	parent_memory_test(false);
}

TEST(fork_child_access_reads_the_parents_pinned_memory)
{
	parent_memory_test(true);
}

/*
 * While the process holds an access, none of its contexts is promoted
 * (limit of this step): the child's objects stay the child's. Once the
 * access is closed, the next fork shares both.
 */
TEST(fork_context_with_an_access_is_not_shared)
{
	uint32_t id = 0, id2 = 0, next = 0;
	int afd = -1, fd2;
	struct ctx c;
	pid_t pid;

	ctx_make(&c, O_CLOEXEC);
	fd2 = open_iommu();
	ASSERT_GE(fd2, 0);
	ASSERT_EQ(0, create_access(c.fd, c.ioas, 0, &afd));
	for (unsigned int round = 0; round != 2; round++) {
		/* The ID the next IOAS gets (the access took one). */
		ASSERT_EQ(0, ioas_alloc(c.fd, &next));
		ASSERT_EQ(0, destroy(c.fd, next));
		pid = fork_child();
		ASSERT_LE(0, pid);
		if (!pid) {
			CHILD_CHECK(!ioas_alloc(c.fd, &id) && id == next);
			CHILD_CHECK(!ioas_alloc(fd2, &id2) && id2 == 1);
			_exit(0);
		}
		ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
		ASSERT_EQ(0, ioas_alloc(c.fd, &id));
		ASSERT_EQ(0, ioas_alloc(fd2, &id2));
		if (!round) {
			/* Copies: the parent gets the same IDs again. */
			ASSERT_EQ(next, id);
			ASSERT_EQ(1, id2);
			ASSERT_EQ(0, destroy(c.fd, id));
			ASSERT_EQ(0, destroy(fd2, id2));
			/* Without it, the next fork shares both. */
			ASSERT_EQ(0, close(afd));
		} else {
			/* Shared: the child's IOASes took the first IDs. */
			ASSERT_EQ(next + 1, id);
			ASSERT_EQ(2, id2);
			ASSERT_EQ(0, destroy(c.fd, next));
			ASSERT_EQ(0, destroy(fd2, 1));
		}
	}
	ASSERT_EQ(0, close(fd2));
	ASSERT_EQ(0, close(c.fd));
}

/* ---- brokers come and go with the descriptors ---- */

/*
 * A broker per shared context, named uiommufd-brkr, in a session of its
 * own; it exits when the last copy of its context's descriptor anywhere
 * is closed, and not before. Each context here is shared by a fork of
 * its own, so that the broker that appears is known to be its.
 */
TEST(fork_leaves_no_broker_running)
{
	pid_t known[3], broker_a = 0, broker_b = 0, found[2], pid;
	pid_t sid = 0, ppid = 0;
	uint32_t id = 0;
	int fd_a, fd_b, d;
	char comm[32];

	become_subreaper();
	fd_a = open_iommu();
	ASSERT_GE(fd_a, 0);
	ASSERT_EQ(0, ioas_alloc(fd_a, &id));
	d = dup(fd_a);
	ASSERT_GE(d, 0);
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid) {
		CHILD_CHECK(!ioas_alloc(d, &id) && id == 2);
		_exit(0);
	}
	known[0] = pid;
	ASSERT_EQ(1, find_brokers(found, 1, known, 1));
	broker_a = found[0];
	known[1] = broker_a;
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	/* Never used before its fork: shared all the same. */
	fd_b = open_iommu();
	ASSERT_GE(fd_b, 0);
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid) {
		CHILD_CHECK(!ioas_alloc(fd_b, &id) && id == 1);
		/* A was shared already: no new broker for it. */
		CHILD_CHECK(!ioas_alloc(fd_a, &id) && id == 3);
		_exit(0);
	}
	known[2] = pid;
	ASSERT_EQ(1, find_brokers(found, 1, known, 3));
	broker_b = found[0];
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	/* In a session of its own, out of the program's signals' way. */
	ASSERT_TRUE(proc_stat(broker_a, comm, sizeof(comm), &ppid, &sid));
	ASSERT_EQ(broker_a, sid);
	ASSERT_NE(getsid(0), sid);
	/* Both children gone: the parent's descriptors keep them. */
	ASSERT_TRUE(child_running(broker_a));
	ASSERT_TRUE(child_running(broker_b));
	ASSERT_EQ(0, close(fd_a));
	ASSERT_EQ(0, ioas_alloc(d, &id));
	ASSERT_EQ(4, id);
	ASSERT_TRUE(child_running(broker_a));
	/* The last copy of A's: its broker goes, B's stays. */
	ASSERT_EQ(0, close(d));
	ASSERT_EQ(0, broker_exit(broker_a));
	ASSERT_TRUE(child_running(broker_b));
	ASSERT_EQ(0, ioas_alloc(fd_b, &id));
	ASSERT_EQ(2, id);
	ASSERT_EQ(0, close(fd_b));
	ASSERT_EQ(0, broker_exit(broker_b));
	ASSERT_EQ(0, list_brokers(found, 2, NULL, 0));
}

/*
 * After the promotion the descriptor is an ordinary one to dup, dup2 and
 * close_range: every copy reaches the one context, and the broker goes
 * with the last copy, however it was closed.
 */
TEST(fork_shared_descriptor_dups_and_closes)
{
	int fd, d, d2, high;
	pid_t pid, broker = 0;
	uint32_t id = 0;

	become_subreaper();
	fd = open_iommu();
	ASSERT_GE(fd, 0);
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(0);
	ASSERT_EQ(1, find_brokers(&broker, 1, &pid, 1));
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	d = dup(fd);
	ASSERT_GE(d, 0);
	ASSERT_EQ(0, ioas_alloc(d, &id));
	ASSERT_EQ(1, id);
	high = fcntl(fd, F_DUPFD_CLOEXEC, 100);
	ASSERT_LE(100, high);
	ASSERT_EQ(FD_CLOEXEC, fcntl(high, F_GETFD));
	ASSERT_EQ(0, ioas_alloc(high, &id));
	ASSERT_EQ(2, id);
	/* dup2 of another file over one copy closes that copy only. */
	d2 = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(d2, 0);
	ASSERT_EQ(d, dup2(d2, d));
	ASSERT_EQ(0, close(d2));
	ASSERT_EQ(0, ioas_alloc(fd, &id));
	ASSERT_EQ(3, id);
	ASSERT_EQ(0, close(fd));
	ASSERT_TRUE(child_running(broker));
	ASSERT_EQ(0, destroy(high, 1));
	/* close_range takes the last copy. */
	ASSERT_EQ(0, close_range(high, high, 0));
	ASSERT_EQ(0, broker_exit(broker));
	ASSERT_EQ(0, close(d));
}

/*
 * Threads using a shared context while another thread dups and closes
 * copies of its descriptor: closing one copy must not take the context
 * (or the way to it) from under the other copies' commands.
 */
struct dup_user {
	pthread_t thread;
	int fd;
	bool dup_close;
	unsigned long errors, first_errno;
};

static void *dup_user_thread(void *arg)
{
	struct dup_user *u = arg;

	for (unsigned int i = 0; i != test_iterations(2000); i++) {
		int fd = u->dup_close ? dup(u->fd) : u->fd;
		uint32_t id = 0;

		if (fd < 0 || ioas_alloc(fd, &id) || destroy(fd, id) ||
		    (u->dup_close && close(fd))) {
			if (!u->errors++)
				u->first_errno = errno;
		}
		if (!(i % 64))
			test_progress();
	}
	return NULL;
}

/* In a child of the test: a thread stuck for good must not hang it. */
static void dup_users_main(void)
{
	struct dup_user u[3] = {};
	unsigned long errors = 0;
	pid_t pid;
	int fd;

	fd = open_iommu();
	CHILD_CHECK(fd >= 0);
	pid = fork_child();
	CHILD_CHECK(pid >= 0);
	if (!pid)
		_exit(0);
	CHILD_CHECK(!wait_child(pid, WAIT_STALL_S));
	for (unsigned int i = 0; i != 3; i++) {
		u[i].fd = fd;
		u[i].dup_close = i == 2;
		CHILD_CHECK(!pthread_create(&u[i].thread, NULL,
					    dup_user_thread, &u[i]));
	}
	for (unsigned int i = 0; i != 3; i++)
		CHILD_CHECK(!pthread_join(u[i].thread, NULL));
	for (unsigned int i = 0; i != 3; i++) {
		if (u[i].errors)
			dprintf(1, "# thread %u: %lu errors, errno %lu first\n",
				i, u[i].errors, u[i].first_errno);
		errors += u[i].errors;
	}
	CHILD_CHECK(!errors);
	CHILD_CHECK(!close(fd));
	_exit(0);
}

TEST(fork_shared_descriptor_closed_while_threads_use_it)
{
	int status = 0, rc;
	pid_t pid;

	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid)
		dup_users_main();
	/* The threads report progress: 10 s without any is a hang. */
	rc = test_wait_child(pid, &status, 10, TEST_WAIT_PROGRESS_ONLY);
	if (rc == TEST_WAIT_HUNG)
		TH_LOG("the threads made no progress for 10 s: hung, killed");
	ASSERT_EQ(0, rc);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
}

/*
 * The parent closes its descriptor while the child keeps using the
 * context (the parent's mapping included: the parent lives on); the
 * context and its broker go when the child closes its copy, while the
 * child still lives.
 */
static void last_close_child(struct ctx *c, struct turns *t)
{
	uint64_t iova = 0, len = 0;
	uint32_t id = 0;
	struct msg m;
	char *buf;

	buf = e2e_buffer(BUF_LEN);
	CHILD_CHECK(buf);
	CHILD_RECV(t, &m);	/* the parent closed its descriptor */
	CHILD_CHECK(!check_map(c->fd, c->hwpt, c->iova, c->buf, BUF_LEN));
	CHILD_CHECK(!ioas_alloc(c->fd, &id) && id == c->next_id);
	CHILD_CHECK(!ioas_map(c->fd, c->ioas, buf, BUF_LEN, &iova, MAP_RW));
	CHILD_CHECK(!check_map(c->fd, c->hwpt, iova, buf, BUF_LEN));
	CHILD_CHECK(!ioas_unmap(c->fd, c->ioas, iova, BUF_LEN, &len) &&
		    len == BUF_LEN);
	CHILD_CHECK(!destroy(c->fd, c->stdev));
	CHILD_CHECK(!check_refs(c->fd, c->buf, BUF_LEN, 0));
	CHILD_SEND(t, 0, 0, 0);
	CHILD_RECV(t, &m);	/* the broker still runs */
	CHILD_CHECK(!close(c->fd));
	CHILD_SEND(t, 0, 0, 0);
	CHILD_RECV(t, &m);	/* the broker is gone */
	_exit(0);
}

TEST(fork_context_goes_with_the_last_descriptor_anywhere)
{
	pid_t pid, broker = 0;
	struct turns t;
	struct msg m;
	struct ctx c;

	become_subreaper();
	ctx_make(&c, O_CLOEXEC);
	pid = turns_fork(&t);
	if (!pid)
		last_close_child(&c, &t);
	ASSERT_EQ(1, find_brokers(&broker, 1, &pid, 1));
	ASSERT_EQ(0, close(c.fd));
	PARENT_SEND(&t, 0, 0, 0);
	PARENT_RECV(&t, &m);
	ASSERT_TRUE(child_running(broker));
	PARENT_SEND(&t, 0, 0, 0);
	PARENT_RECV(&t, &m);
	/* The child lives on, descriptor closed: the broker goes. */
	ASSERT_TRUE(child_running(pid));
	ASSERT_EQ(0, broker_exit(broker));
	PARENT_SEND(&t, 0, 0, 0);
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	/* The parent's memory is no longer pinned by anything. */
	c.fd = open_iommu();
	ASSERT_GE(c.fd, 0);
	ASSERT_EQ(0, check_refs(c.fd, c.buf, BUF_LEN, 0));
	ASSERT_EQ(0, close(c.fd));
}

/*
 * Pins are counted per page, whatever context holds them, as the
 * kernel's page pin count: two contexts mapping one buffer through a
 * domain each pin its pages twice. Once a fork has shared them, each is
 * served by a broker of its own, which counts its own context's pins
 * only (a limit of this step: a page's pins across brokers are not
 * summed); a domain that goes takes its pin along, and a broker counts
 * no pin of the contexts it does not serve.
 */
TEST(fork_pin_counts_per_broker)
{
	struct ctx a, b;
	pid_t pid;

	ctx_make(&a, O_CLOEXEC);
	ctx_make(&b, O_CLOEXEC);
	ASSERT_EQ(0, ioas_unmap(b.fd, b.ioas, b.iova, BUF_LEN, NULL));
	ASSERT_EQ(0, ioas_map(b.fd, b.ioas, a.buf, BUF_LEN, &b.iova,
			      MAP_FIXED_RW));
	ASSERT_EQ(0, check_refs(a.fd, a.buf, BUF_LEN, 2));
	ASSERT_EQ(0, check_refs(b.fd, a.buf, BUF_LEN, 2));
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(0);
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	ASSERT_EQ(0, check_map(a.fd, a.hwpt, a.iova, a.buf, BUF_LEN));
	ASSERT_EQ(0, check_map(b.fd, b.hwpt, b.iova, a.buf, BUF_LEN));
	/* Each broker: its own context's domain (the kernel: 2). */
	EXPECT_EQ(0, check_refs(a.fd, a.buf, BUF_LEN, 1));
	EXPECT_EQ(0, check_refs(b.fd, a.buf, BUF_LEN, 1));
	/* b's domain goes: b's broker counts none, a's still its one. */
	ASSERT_EQ(0, destroy(b.fd, b.stdev));
	EXPECT_EQ(0, check_refs(a.fd, a.buf, BUF_LEN, 1));
	EXPECT_EQ(0, check_refs(b.fd, a.buf, BUF_LEN, 0));
	ASSERT_EQ(0, destroy(a.fd, a.stdev));
	EXPECT_EQ(0, check_refs(a.fd, a.buf, BUF_LEN, 0));
	EXPECT_EQ(0, check_refs(b.fd, a.buf, BUF_LEN, 0));
	ASSERT_EQ(0, close(a.fd));
	ASSERT_EQ(0, close(b.fd));
}

/*
 * Pinned pages charge RLIMIT_MEMLOCK per user, as the kernel's
 * user->locked_vm: once a shared context's pages are unpinned (its
 * domain destroyed), a context the process opens afterwards may pin as
 * many again. Contexts opened with a limit of 8 pages, without
 * CAP_IPC_LOCK (the settings uiommufd-run passes through the
 * environment, read at a context's first command).
 */
TEST(fork_leaves_no_stale_memlock_charge)
{
	uint32_t ioas = 0, stdev = 0, hwpt = 0;
	uint64_t iova = 0;
	struct ctx a;
	pid_t pid;
	int fd;

	ASSERT_EQ(0, setenv("UIOMMUFD_MEMLOCK", "32K", 1));
	ASSERT_EQ(0, setenv("UIOMMUFD_CAPS", "none", 1));
	ctx_make(&a, O_CLOEXEC);	/* 8 pages pinned by its domain */
	/* The limit is in force: not a page more, in any context. */
	fd = open_iommu();
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ioas_alloc(fd, &ioas));
	ASSERT_EQ(0, mock_domain(fd, ioas, &stdev, &hwpt));
	ASSERT_ERRNO(ENOMEM, ioas_map(fd, ioas, a.buf + BUF_LEN - PAGE_SZ,
				      PAGE_SZ, &iova, MAP_RW));
	ASSERT_EQ(0, close(fd));
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(0);
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	ASSERT_EQ(0, destroy(a.fd, a.stdev));
	ASSERT_EQ(0, check_refs(a.fd, a.buf, BUF_LEN, 0));
	fd = open_iommu();
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ioas_alloc(fd, &ioas));
	ASSERT_EQ(0, mock_domain(fd, ioas, &stdev, &hwpt));
	EXPECT_EQ(0, ioas_map(fd, ioas, a.buf, BUF_LEN, &iova, MAP_RW));
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(0, close(a.fd));
}

/*
 * Two contexts each pin 8 pages, the limit 16: after a fork shares them
 * (a broker each) and one context's pages are unpinned, the other may
 * pin 8 more, as in the kernel, where only live pins charge the user.
 */
TEST(fork_shared_contexts_charge_only_live_pins)
{
	uint64_t iova = 0;
	struct ctx a, b;
	char *more;
	pid_t pid;

	ASSERT_EQ(0, setenv("UIOMMUFD_MEMLOCK", "64K", 1));
	ASSERT_EQ(0, setenv("UIOMMUFD_CAPS", "none", 1));
	more = e2e_buffer(BUF_LEN);
	ASSERT_NONNULL(more);
	ctx_make(&a, O_CLOEXEC);
	ctx_make(&b, O_CLOEXEC);
	/* The limit is in force. */
	ASSERT_ERRNO(ENOMEM, ioas_map(a.fd, a.ioas, more, PAGE_SZ, &iova,
				      MAP_RW));
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(0);
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	ASSERT_EQ(0, destroy(b.fd, b.stdev));
	ASSERT_EQ(0, check_refs(b.fd, b.buf, BUF_LEN, 0));
	iova = 0;
	EXPECT_EQ(0, ioas_map(a.fd, a.ioas, more, BUF_LEN, &iova, MAP_RW));
	ASSERT_EQ(0, close(a.fd));
	ASSERT_EQ(0, close(b.fd));
}

/* ---- fork while other threads are inside the shim ---- */

struct looper {
	pthread_t thread;
	int fd;
	uint32_t ioas, hwpt;
	char *buf;
	bool reopen;
	unsigned long rounds, errors;
};

static atomic_bool stop;

/* Long map/unmap calls on a context with a domain, or open/dup/close. */
static void *looper_thread(void *arg)
{
	struct looper *l = arg;

	while (!atomic_load(&stop)) {
		uint64_t iova = 0, len = 0;
		uint32_t id = 0;

		if (l->reopen) {
			/* A fork may share it between open and close. */
			int fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
			int d = dup(fd);

			if (fd < 0 || d < 0 || ioas_alloc(d, &id) || id != 1 ||
			    close(fd) || close(d))
				l->errors++;
		} else if (ioas_map(l->fd, l->ioas, l->buf, 64 * PAGE_SZ,
				    &iova, MAP_RW) ||
			   check_map(l->fd, l->hwpt, iova, l->buf,
				     64 * PAGE_SZ) ||
			   ioas_unmap(l->fd, l->ioas, iova, 64 * PAGE_SZ,
				      &len) ||
			   len != 64 * PAGE_SZ) {
			l->errors++;
		}
		l->rounds++;
		test_progress();
		/* valgrind runs one thread at a time: let the forker in. */
		sched_yield();
	}
	return NULL;
}

/*
 * The child of a busy parent: the shim and the library must work, on a
 * context of its own and on the loopers' shared contexts, beside the
 * parent's loopers (which the child must not disturb: it works on its
 * own IOAS, and on its own IOVAs in the loopers').
 */
static void busy_fork_child(struct looper *l, unsigned int n)
{
	uint32_t ioas = 0, stdev = 0, hwpt = 0, id = 0;
	uint64_t iova = 0, len = 0;
	int fd;

	fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	CHILD_CHECK(fd >= 0);
	CHILD_CHECK(!ioas_alloc(fd, &ioas) && ioas == 1);
	CHILD_CHECK(!mock_domain(fd, ioas, &stdev, &hwpt));
	CHILD_CHECK(!ioas_map(fd, ioas, l[0].buf, PAGE_SZ, &iova, MAP_RW));
	CHILD_CHECK(!check_map(fd, hwpt, iova, l[0].buf, PAGE_SZ));
	CHILD_CHECK(!close(fd));
	/* The loopers' contexts, shared with the parent. */
	for (unsigned int i = 0; i != n; i++) {
		if (l[i].reopen)
			continue;
		CHILD_CHECK(!ioas_alloc(l[i].fd, &id));
		CHILD_CHECK(!ioas_map(l[i].fd, id, l[i].buf, 64 * PAGE_SZ,
				      &iova, MAP_RW));
		CHILD_CHECK(!destroy(l[i].fd, id));
		/* Beside the looper, on its IOAS and its domain. */
		CHILD_CHECK(!ioas_map(l[i].fd, l[i].ioas, l[i].buf, PAGE_SZ,
				      &iova, MAP_RW));
		CHILD_CHECK(!check_map(l[i].fd, l[i].hwpt, iova, l[i].buf,
				       PAGE_SZ));
		CHILD_CHECK(!ioas_unmap(l[i].fd, l[i].ioas, iova, PAGE_SZ,
					&len) && len == PAGE_SZ);
		CHILD_CHECK(!close(l[i].fd));
	}
	/*
	 * Done. What the parent's other threads held at the fork (a shim
	 * file being opened, say) is unreachable here; leave by exec, so a
	 * leak checker does not count it against the child.
	 */
	execl("/bin/true", "true", (char *)NULL);
	_exit(0);
}

/*
 * GCC 12's AddressSanitizer does not make its allocator safe across a
 * fork of a process whose other threads allocate: the child (here, a
 * broker forked while other threads run commands) may wait for ever on
 * an allocator lock held by a thread it does not have. glibc's malloc
 * is safe; so these runs are left to the other builds.
 */
#if defined(__SANITIZE_ADDRESS__)
#define SKIP_UNDER_ASAN()                                                  \
	SKIP("a fork while other threads allocate is not safe under GCC 12's ASan allocator")
#else
#define SKIP_UNDER_ASAN() do { } while (0)
#endif

TEST(fork_while_threads_are_in_ioctls)
{
	unsigned int forks = test_iterations(40);
	struct looper l[3] = {};
	uint32_t stdev = 0;
	int rc = 0;

	SKIP_UNDER_ASAN();

	for (unsigned int i = 0; i != 3; i++) {
		l[i].reopen = i == 2;
		l[i].buf = e2e_buffer(64 * PAGE_SZ);
		ASSERT_NONNULL(l[i].buf);
		if (l[i].reopen)
			continue;
		l[i].fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
		ASSERT_GE(l[i].fd, 0);
		ASSERT_EQ(0, ioas_alloc(l[i].fd, &l[i].ioas));
		ASSERT_EQ(0, mock_domain(l[i].fd, l[i].ioas, &stdev,
					 &l[i].hwpt));
	}
	atomic_store(&stop, false);
	for (unsigned int i = 0; i != 3; i++)
		ASSERT_EQ(0, pthread_create(&l[i].thread, NULL, looper_thread,
					    &l[i]));
	for (unsigned int i = 0; i != forks && !rc; i++) {
		pid_t pid = fork_child();

		if (pid < 0) {
			rc = -errno;
			break;
		}
		if (!pid)
			busy_fork_child(l, 3);
		rc = wait_child(pid, WAIT_STALL_S);
		if (rc)
			TH_LOG("fork %u: child status %d (%d: hung, killed)", i,
			       rc, WAIT_HUNG);
	}
	/* Stop the loopers before judging: nothing may exit under them. */
	atomic_store(&stop, true);
	for (unsigned int i = 0; i != 3; i++)
		ASSERT_EQ(0, pthread_join(l[i].thread, NULL));
	ASSERT_EQ(0, rc);
	for (unsigned int i = 0; i != 3; i++) {
		ASSERT_EQ(0, l[i].errors);
		ASSERT_LT(0, l[i].rounds);
	}
	/* Every child is gone: nothing it mapped stayed. */
	for (unsigned int i = 0; i != 2; i++) {
		uint64_t len = 1;

		ASSERT_EQ(0, check_refs(l[i].fd, l[i].buf, 64 * PAGE_SZ, 0));
		ASSERT_EQ(0, ioas_unmap(l[i].fd, l[i].ioas, 0, UINT64_MAX,
					&len));
		ASSERT_EQ(0, len);
		ASSERT_EQ(0, close(l[i].fd));
	}
}

/* fork from a thread other than the main one, while main is in ioctls. */
static void *forking_thread(void *arg)
{
	struct looper *l = arg;
	pid_t pid;

	pid = fork_child();
	if (!pid)
		busy_fork_child(l, 1);
	return (void *)(intptr_t)wait_child(pid, WAIT_STALL_S);
}

TEST(fork_from_another_thread)
{
	struct looper l = {};
	uint32_t stdev = 0;
	pthread_t t;
	void *rc;

	SKIP_UNDER_ASAN();

	l.buf = e2e_buffer(64 * PAGE_SZ);
	ASSERT_NONNULL(l.buf);
	l.fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	ASSERT_GE(l.fd, 0);
	ASSERT_EQ(0, ioas_alloc(l.fd, &l.ioas));
	ASSERT_EQ(0, mock_domain(l.fd, l.ioas, &stdev, &l.hwpt));
	for (unsigned int i = 0; i != test_iterations(10); i++) {
		ASSERT_EQ(0, pthread_create(&t, NULL, forking_thread, &l));
		for (unsigned int j = 0; j != 20; j++) {
			uint64_t iova = 0, len = 0;

			ASSERT_EQ(0, ioas_map(l.fd, l.ioas, l.buf,
					      64 * PAGE_SZ, &iova, MAP_RW));
			ASSERT_EQ(0, check_map(l.fd, l.hwpt, iova, l.buf,
					       64 * PAGE_SZ));
			ASSERT_EQ(0, ioas_unmap(l.fd, l.ioas, iova,
						64 * PAGE_SZ, &len));
			ASSERT_EQ(64 * PAGE_SZ, len);
		}
		ASSERT_EQ(0, pthread_join(t, &rc));
		ASSERT_EQ(0, (intptr_t)rc);
	}
	ASSERT_EQ(0, check_refs(l.fd, l.buf, 64 * PAGE_SZ, 0));
	ASSERT_EQ(0, close(l.fd));
}

/*
 * Two threads fork at once (a barrier lines them up), each right after
 * opening and using a context of its own, so both forks promote a
 * context at the same time. Run in a child of the test judged by
 * test_progress() alone: a deadlock here may spin (the library's fork
 * waits for other threads to leave it, yielding in a loop), which CPU
 * time would take for progress.
 */
static pthread_barrier_t twin_barrier;

static void *twin_forker(void *arg)
{
	unsigned long *failures = arg;

	for (unsigned int i = 0; i != test_iterations(50); i++) {
		uint32_t id = 0;
		int fd = open_iommu();
		pid_t pid;

		if (fd < 0 || ioas_alloc(fd, &id) || id != 1)
			(*failures)++;
		/* Failed or not, keep in step with the other thread. */
		pthread_barrier_wait(&twin_barrier);
		pid = fork_child();
		if (!pid) {
			CHILD_CHECK(!ioas_alloc(fd, &id) && id == 2);
			_exit(0);
		}
		if (pid < 0 || wait_child(pid, WAIT_STALL_S) ||
		    ioas_alloc(fd, &id) || id != 3 || close(fd))
			(*failures)++;
		test_progress();
	}
	return NULL;
}

TEST(forks_from_two_threads_at_once)
{
	int status = 0;
	pid_t pid;

	SKIP_UNDER_ASAN();

	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid) {
		unsigned long failures[2] = {};
		pthread_t t[2];

		CHILD_CHECK(!pthread_barrier_init(&twin_barrier, NULL, 2));
		for (unsigned int i = 0; i != 2; i++)
			CHILD_CHECK(!pthread_create(&t[i], NULL, twin_forker,
						    &failures[i]));
		for (unsigned int i = 0; i != 2; i++)
			CHILD_CHECK(!pthread_join(t[i], NULL));
		if (failures[0] || failures[1])
			dprintf(1, "# failures: %lu, %lu\n", failures[0],
				failures[1]);
		CHILD_CHECK(!failures[0] && !failures[1]);
		_exit(0);
	}
	status = test_wait_child(pid, &status, WAIT_STALL_S,
				 TEST_WAIT_PROGRESS_ONLY) ? -1 : status;
	if (status == -1)
		TH_LOG("the forking threads made no progress (hung, killed)");
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
}

/* ---- exec ---- */

static char self_exe[4096];

/*
 * Runs before main in the exec'd image when EXEC_ENV is set: "FD" is an
 * iommufd descriptor the old image left open (shared with its parent),
 * "FD,CLOEXEC_FD" also one it opened with O_CLOEXEC.
 */
__attribute__((constructor)) static void exec_child_main(void)
{
	const char *env = getenv(EXEC_ENV);
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	int fd, cloexec_fd = -1, nfd;
	uint32_t ioas = 0;
	struct stat st;
	char *comma;

	if (!env)
		return;
	fd = atoi(env);
	comma = strchr(env, ',');
	if (comma)
		cloexec_fd = atoi(comma + 1);
	/* The descriptor came through exec, as any other would. */
	CHILD_CHECK(fcntl(fd, F_GETFD) == 0);
	/*
	 * The new image takes it up at its first command: the same context
	 * as the parent's, one ID sequence (the parent's next_id is made
	 * here).
	 */
	CHILD_CHECK(!fstat(fd, &st) && S_ISSOCK(st.st_mode));
	CHILD_CHECK(ioctl(fd, IOMMU_IOAS_ALLOC, &cmd) == 0);
	if (cloexec_fd >= 0)
		CHILD_CHECK(fcntl(cloexec_fd, F_GETFD) == -1 && errno == EBADF);
	/* The shim is in, with nothing from before: a fresh context. */
	nfd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	CHILD_CHECK(nfd >= 0);
	CHILD_CHECK(!ioas_alloc(nfd, &ioas) && ioas == 1);
	CHILD_CHECK(!close(nfd));
	/* Nor is any fault armed. */
	nfd = failnth_open(e2e_gettid());
	CHILD_CHECK(nfd >= 0);
	CHILD_CHECK(failnth_read(nfd) == 0);
	CHILD_CHECK(!close(nfd));
	_exit(0);
}

__attribute__((constructor)) static void find_self(void)
{
	ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);

	if (n > 0)
		self_exe[n] = 0;
}

TEST(exec_true_with_an_iommufd_open)
{
	uint32_t id = 0;
	struct ctx c;
	pid_t pid;

	ctx_make(&c, 0);
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	ASSERT_EQ(0, check_map(c.fd, c.hwpt, c.iova, c.buf, BUF_LEN));
	ASSERT_EQ(0, check_refs(c.fd, c.buf, BUF_LEN, 1));
	ASSERT_EQ(0, ioas_alloc(c.fd, &id));
	ASSERT_EQ(c.next_id, id);
	ASSERT_EQ(0, close(c.fd));
}

/*
 * The exec'd image keeps the shared descriptor open and works on the one
 * context (its IOAS takes the next ID of the sequence); the context stays
 * the parent's to use after that image ended.
 */
enum exec_form { FORM_EXECL, FORM_EXECLE, FORM_EXECLP };

static void exec_fresh_shim(enum exec_form form)
{
	int cloexec_fd, fail_fd;
	uint32_t id = 0;
	char env[64];
	struct ctx c;
	pid_t pid;

	ASSERT_NE(0, self_exe[0]);
	ctx_make(&c, 0);
	cloexec_fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	ASSERT_GE(cloexec_fd, 0);
	ASSERT_EQ(0, fcntl(c.fd, F_GETFD));
	snprintf(env, sizeof(env), "%d,%d", c.fd, cloexec_fd);
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid) {
		/* Armed before the exec: the new image must not inherit it. */
		fail_fd = failnth_open(e2e_gettid());
		if (fail_fd < 0 || failnth_arm(fail_fd, 3))
			_exit(126);
		setenv(EXEC_ENV, env, 1);
		/* The list forms, which the shim rebuilds as arrays. */
		if (form == FORM_EXECLE)
			execle(self_exe, self_exe, (char *)NULL, environ);
		else if (form == FORM_EXECLP)
			execlp(self_exe, self_exe, (char *)NULL);
		else
			execl(self_exe, self_exe, (char *)NULL);
		_exit(127);
	}
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	/* The parent's context is untouched. */
	ASSERT_EQ(0, check_map(c.fd, c.hwpt, c.iova, c.buf, BUF_LEN));
	ASSERT_EQ(0, check_refs(c.fd, c.buf, BUF_LEN, 1));
	ASSERT_EQ(0, ioas_alloc(c.fd, &id));
	ASSERT_EQ(c.next_id + 1, id);
	ASSERT_EQ(0, ioas_alloc(cloexec_fd, &id));
	ASSERT_EQ(1, id);
	ASSERT_EQ(0, close(cloexec_fd));
	ASSERT_EQ(0, close(c.fd));
}

TEST(exec_gets_a_fresh_shim)
{
	exec_fresh_shim(FORM_EXECL);
}

TEST(execle_gets_a_fresh_shim)
{
	exec_fresh_shim(FORM_EXECLE);
}

TEST(execlp_gets_a_fresh_shim)
{
	exec_fresh_shim(FORM_EXECLP);
}
