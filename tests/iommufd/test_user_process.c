// SPDX-License-Identifier: MIT
/*
 * Commands run for another process (process_user_set()), as a process
 * serving a context for several will run them: the command structs, the
 * buffers they point at and the memory IOAS_MAP maps are that process's,
 * reached through the kernel (process_vm_readv/writev, /proc/<pid>/maps),
 * never this process's memory at the same address.
 *
 * The other process is a forked child. A shared mailbox mapped before the
 * fork holds the command structs, at one address in both; the child's
 * own memory sits where this process has nothing mapped, so a stray look
 * at this process's memory fails instead of passing by luck.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/process.h"
#include "iommufd/iommufd_utils.h"

#define PG TEST_PAGE_SIZE
#define NPAGES 4
#define IOVA MOCK_APERTURE_START

/* What parent and child share: the commands and a page of data. */
struct mailbox {
	struct iommu_ioas_alloc alloc;
	struct iommu_ioas_map map;
	struct iommu_test_cmd test;
	struct iommu_destroy destroy;
	uint8_t data[PG] __attribute__((aligned(PG)));
};

struct child {
	pid_t pid;
	int go;			/* the parent writes a byte: check, then exit */
	uint8_t *mem;		/* the child's private pages, none here */
	uint8_t *mine;		/* a page here, none in the child */
};

/*
 * The child: private pages at @mem with a pattern, nothing at @mine,
 * then wait.
 */
static void child_run(uint8_t *mem, uint8_t *mine, int ready, int go)
{
	char byte;

	if (munmap(mine, PG))
		_exit(9);
	if (mmap(mem, NPAGES * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != mem)
		_exit(10);
	for (unsigned int i = 0; i != NPAGES * PG; i++)
		mem[i] = (uint8_t)(i * 7 + 1);
	if (write(ready, "r", 1) != 1)
		_exit(11);
	if (read(go, &byte, 1) != 1)
		_exit(12);
	/* The parent wrote 0xa5 over the second page through an access. */
	for (unsigned int i = 0; i != PG; i++)
		if (mem[PG + i] != 0xa5)
			_exit(13);
	_exit(0);
}

/* A child with its pages where this process has nothing mapped. */
static int child_start(struct child *c)
{
	int ready[2], go[2];
	char byte;

	c->mem = mmap(NULL, NPAGES * PG, PROT_NONE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	c->mine = mmap(NULL, PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c->mem == MAP_FAILED || c->mine == MAP_FAILED || pipe(ready) ||
	    pipe(go))
		return -1;
	c->pid = fork();
	if (c->pid < 0)
		return -1;
	if (!c->pid)
		child_run(c->mem, c->mine, ready[1], go[0]);
	munmap(c->mem, NPAGES * PG);
	close(ready[1]);
	close(go[0]);
	c->go = go[1];
	if (read(ready[0], &byte, 1) != 1)
		return -1;
	close(ready[0]);
	return 0;
}

/* Let the child check what it should and end: its exit status. */
static int child_finish(struct child *c)
{
	int status;

	if (write(c->go, "g", 1) != 1)
		return -1;
	close(c->go);
	if (waitpid(c->pid, &status, 0) != c->pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static struct mailbox *mailbox_new(void)
{
	struct mailbox *mb = mmap(NULL, sizeof(*mb), PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return mb == MAP_FAILED ? NULL : mb;
}

static void test_init(struct mailbox *mb, uint32_t op, uint32_t id)
{
	test_cmd_init(&mb->test, op, id);
	mb->test.size = sizeof(mb->test);
}

TEST(commands_of_another_process)
{
	struct mailbox *mb = mailbox_new();
	struct uiommufd_ctx *ctx;
	struct child c;
	uint32_t ioas;
	uint8_t *mine;
	int afd;

	ASSERT_NONNULL(mb);
	ASSERT_EQ(0, child_start(&c));
	ctx = uiommufd_ctx_open(0);
	ASSERT_NONNULL(ctx);
	ASSERT_EQ(0, process_user_set(c.pid));
	EXPECT_EQ(c.pid, process_user());

	/* The command struct is read from, and answered into, the child. */
	mb->alloc = (struct iommu_ioas_alloc){ .size = sizeof(mb->alloc) };
	ASSERT_EQ(0, uiommufd_ioctl(ctx, IOMMU_IOAS_ALLOC, &mb->alloc));
	ioas = mb->alloc.out_ioas_id;
	EXPECT_NE(0u, ioas);
	/* One mapped only here is nothing there: EFAULT. */
	mine = c.mine;
	memcpy(mine, &mb->alloc, sizeof(mb->alloc));
	EXPECT_FAILS_WHY(EFAULT, uiommufd_ioctl(ctx, IOMMU_IOAS_ALLOC, mine));

	/* The child's pages, mapped and pinned by a domain. */
	mb->map = (struct iommu_ioas_map){
		.size = sizeof(mb->map), .flags = MAP_FIXED_RW,
		.ioas_id = ioas, .user_va = (uintptr_t)c.mem,
		.length = NPAGES * PG, .iova = IOVA,
	};
	ASSERT_EQ(0, uiommufd_ioctl(ctx, IOMMU_IOAS_MAP, &mb->map));
	test_init(mb, IOMMU_TEST_OP_MOCK_DOMAIN, ioas);
	ASSERT_EQ(0, uiommufd_ioctl(ctx, IOMMU_TEST_CMD, &mb->test));
	test_init(mb, IOMMU_TEST_OP_MD_CHECK_REFS, 0);
	mb->test.check_refs.uptr = (uintptr_t)c.mem;
	mb->test.check_refs.length = NPAGES * PG;
	mb->test.check_refs.refs = 1;
	EXPECT_EQ(0, uiommufd_ioctl(ctx, IOMMU_TEST_CMD, &mb->test));

	/* An access reads the child's bytes into the child's buffer... */
	test_init(mb, IOMMU_TEST_OP_CREATE_ACCESS, ioas);
	ASSERT_EQ(0, uiommufd_ioctl(ctx, IOMMU_TEST_CMD, &mb->test));
	afd = mb->test.create_access.out_access_fd;
	test_init(mb, IOMMU_TEST_OP_ACCESS_RW, afd);
	mb->test.access_rw.iova = IOVA;
	mb->test.access_rw.length = PG;
	mb->test.access_rw.uptr = (uintptr_t)mb->data;
	ASSERT_EQ(0, uiommufd_ioctl(ctx, IOMMU_TEST_CMD, &mb->test));
	for (unsigned int i = 0; i != PG; i++)
		if (mb->data[i] != (uint8_t)(i * 7 + 1))
			ASSERT_EQ((uint8_t)(i * 7 + 1), mb->data[i]);
	/* ...and writes the child's second page (the child checks it). */
	memset(mb->data, 0xa5, PG);
	test_init(mb, IOMMU_TEST_OP_ACCESS_RW, afd);
	mb->test.access_rw.iova = IOVA + PG;
	mb->test.access_rw.length = PG;
	mb->test.access_rw.uptr = (uintptr_t)mb->data;
	mb->test.access_rw.flags = MOCK_ACCESS_RW_WRITE;
	ASSERT_EQ(0, uiommufd_ioctl(ctx, IOMMU_TEST_CMD, &mb->test));
	test_init(mb, IOMMU_TEST_OP_ACCESS_RW, afd);
	mb->test.access_rw.iova = IOVA + PG;
	mb->test.access_rw.length = PG;
	mb->test.access_rw.uptr = (uintptr_t)mine;
	EXPECT_FAILS_WHY(EFAULT, uiommufd_ioctl(ctx, IOMMU_TEST_CMD, &mb->test));

	EXPECT_EQ(c.pid, process_user_set(0));
	EXPECT_EQ(process_self(), process_user());
	EXPECT_EQ(0, uiommufd_fd_close(afd));
	uiommufd_ctx_close(ctx);
	EXPECT_EQ(0, child_finish(&c));
	munmap(c.mine, PG);
	munmap(mb, sizeof(*mb));
}

/* A user that has gone: its memory is nowhere, every copy EFAULT. */
TEST(user_gone)
{
	struct mailbox *mb = mailbox_new();
	struct uiommufd_ctx *ctx;
	struct child c;

	ASSERT_NONNULL(mb);
	ASSERT_EQ(0, child_start(&c));
	memset(mb->data, 0xa5, PG);
	ASSERT_EQ(13, child_finish(&c));	/* nobody wrote its page */
	munmap(c.mine, PG);
	ctx = uiommufd_ctx_open(0);
	ASSERT_NONNULL(ctx);
	process_user_set(c.pid);
	mb->alloc = (struct iommu_ioas_alloc){ .size = sizeof(mb->alloc) };
	EXPECT_FAILS_WHY(EFAULT,
			 uiommufd_ioctl(ctx, IOMMU_IOAS_ALLOC, &mb->alloc));
	process_user_set(0);
	/* This process again: the same struct works. */
	EXPECT_EQ(0, uiommufd_ioctl(ctx, IOMMU_IOAS_ALLOC, &mb->alloc));
	uiommufd_ctx_close(ctx);
	munmap(mb, sizeof(*mb));
}

/* Setting this process is the same as none; each thread has its own. */
static void *other_thread(void *arg)
{
	*(pid_t *)arg = process_user();
	return NULL;
}

TEST(per_thread)
{
	pthread_t t;
	pid_t seen = 0;

	EXPECT_EQ(0, process_user_set(process_self()));
	EXPECT_EQ(0, process_user_set(1));
	EXPECT_EQ(1, process_user());
	ASSERT_EQ(0, pthread_create(&t, NULL, other_thread, &seen));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(process_self(), seen);
	EXPECT_EQ(1, process_user_set(0));
}
