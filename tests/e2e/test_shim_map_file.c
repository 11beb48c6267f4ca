// SPDX-License-Identifier: MIT
/*
 * IOMMU_IOAS_MAP_FILE and the test module's dma-bufs through the shim, as
 * a program outside the library uses them: a memfd mapped and then
 * closed, a dma-buf descriptor the program got as IOMMU_TEST_CMD's result
 * handed back to MAP_FILE (also under another number, dup'd), revoked and
 * given back, and its number, once closed, reused for a file that is no
 * dma-buf. Only the kernel's ABI is used, and only what the kernel would
 * answer is checked.
 */
#include "e2e/e2e_utils.h"

#define LEN (8 * PAGE_SZ)
#define IOVA (MOCK_APERTURE_START + 0x100000)

struct world {
	int fd;
	uint32_t ioas, stdev, hwpt;
};

static void world_open(struct world *w)
{
	w->fd = open_iommu();
	ASSERT_GE(w->fd, 0);
	ASSERT_EQ(0, ioas_alloc(w->fd, &w->ioas));
	ASSERT_EQ(0, mock_domain(w->fd, w->ioas, &w->stdev, &w->hwpt));
}

static int memfd_len(uint64_t len)
{
	int fd = memfd_create("shim_map_file", MFD_CLOEXEC);

	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ftruncate(fd, (off_t)len));
	return fd;
}

TEST(memfd_mapping_outlives_the_descriptor)
{
	struct world w;
	int mfd = memfd_len(LEN);
	char *view = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, mfd,
			  0);

	ASSERT_NE(MAP_FAILED, view);
	memset(view, 0x3c, LEN);
	world_open(&w);
	ASSERT_EQ(0, map_file(w.fd, w.ioas, mfd, PAGE_SZ, 4 * PAGE_SZ, IOVA));
	close(mfd);
	ASSERT_EQ(0, check_map(w.fd, w.hwpt, IOVA, view + PAGE_SZ,
			       4 * PAGE_SZ));
	ASSERT_EQ(0, check_refs(w.fd, view + PAGE_SZ, 4 * PAGE_SZ, 1));
	ASSERT_ERRNO(EBADF, map_file(w.fd, w.ioas, mfd, 0, PAGE_SZ,
				     IOVA + LEN));
	ASSERT_EQ(0, close(w.fd));
	/* The context went with its descriptor, and the pins with it. */
	w.fd = open_iommu();
	ASSERT_GE(w.fd, 0);
	ASSERT_EQ(0, check_refs(w.fd, view, LEN, 0));
	ASSERT_EQ(0, close(w.fd));
	munmap(view, LEN);
}

TEST(dmabuf_from_the_test_command)
{
	struct world w;
	int dfd, dup_fd;

	world_open(&w);
	dfd = dmabuf_get(w.fd, 4 * PAGE_SZ, O_CLOEXEC);
	ASSERT_GT(dfd, 2);
	ASSERT_EQ(FD_CLOEXEC, fcntl(dfd, F_GETFD));
	ASSERT_EQ(0, map_file(w.fd, w.ioas, dfd, 0, 4 * PAGE_SZ, IOVA));
	ASSERT_ERRNO(EINVAL, map_file(w.fd, w.ioas, dfd, PAGE_SZ, 4 * PAGE_SZ,
				      IOVA + LEN));
	/* Another number for it, which the shim follows. */
	dup_fd = dup(dfd);
	ASSERT_GE(dup_fd, 0);
	ASSERT_EQ(0, close(dfd));
	ASSERT_EQ(0, map_file(w.fd, w.ioas, dup_fd, PAGE_SZ, 2 * PAGE_SZ,
			      IOVA + LEN));
	ASSERT_EQ(0, dmabuf_revoke(w.fd, dup_fd, true));
	ASSERT_ERRNO(ENODEV, map_file(w.fd, w.ioas, dup_fd, 0, PAGE_SZ,
				      IOVA + 2 * LEN));
	ASSERT_EQ(0, dmabuf_revoke(w.fd, dup_fd, false));
	ASSERT_EQ(0, map_file(w.fd, w.ioas, dup_fd, 0, PAGE_SZ,
			      IOVA + 2 * LEN));
	ASSERT_EQ(0, close(dup_fd));
	/* Every descriptor closed: the mappings hold it, and unmap. */
	ASSERT_EQ(0, ioas_unmap(w.fd, w.ioas, IOVA, 3 * LEN, NULL));
	ASSERT_ERRNO(EBADF, dmabuf_revoke(w.fd, dup_fd, true));
	ASSERT_ERRNO(EBADF, dmabuf_revoke(w.fd, -1, true));
	ASSERT_ERRNO(EINVAL, dmabuf_revoke(w.fd, w.fd, true));
	ASSERT_EQ(0, close(w.fd));
}

/* A dma-buf's number, closed, is just a number: the next file is a file. */
TEST(closed_dmabuf_number_reused)
{
	struct world w;
	int dfd, mfd;

	world_open(&w);
	dfd = dmabuf_get(w.fd, 2 * PAGE_SZ, O_CLOEXEC);
	ASSERT_GE(dfd, 0);
	ASSERT_EQ(0, map_file(w.fd, w.ioas, dfd, 0, 2 * PAGE_SZ, IOVA));
	ASSERT_EQ(0, close(dfd));
	mfd = memfd_len(2 * PAGE_SZ);
	ASSERT_EQ(dfd, mfd);
	ASSERT_ERRNO(EINVAL, dmabuf_revoke(w.fd, mfd, true));
	ASSERT_EQ(0, map_file(w.fd, w.ioas, mfd, 0, 2 * PAGE_SZ, IOVA + LEN));
	ASSERT_EQ(0, close(mfd));
	/* The dma-buf mapped first is still there, and still unmaps. */
	ASSERT_EQ(0, ioas_unmap(w.fd, w.ioas, IOVA, 2 * PAGE_SZ, NULL));
	ASSERT_EQ(0, close(w.fd));
}

/* The kernel's answers for what MAP_FILE refuses, through the shim. */
TEST(refusals)
{
	struct world w;
	int mfd = memfd_len(LEN), pipefd[2];

	world_open(&w);
	ASSERT_EQ(0, pipe(pipefd));
	ASSERT_ERRNO(EBADF, map_file(w.fd, w.ioas, -1, 0, PAGE_SZ, IOVA));
	ASSERT_ERRNO(EINVAL, map_file(w.fd, w.ioas, pipefd[0], 0, PAGE_SZ,
				      IOVA));
	ASSERT_ERRNO(EINVAL, map_file(w.fd, w.ioas, mfd, 0, LEN + PAGE_SZ,
				      IOVA));
	ASSERT_ERRNO(EOVERFLOW, map_file(w.fd, w.ioas, mfd, -PAGE_SZ,
					 2 * PAGE_SZ, IOVA));
	ASSERT_ERRNO(EINVAL, dmabuf_get(w.fd, 0, O_CLOEXEC));
	ASSERT_ERRNO(EINVAL, dmabuf_get(w.fd, 513 * PAGE_SZ, O_CLOEXEC));
	close(pipefd[0]);
	close(pipefd[1]);
	close(mfd);
	ASSERT_EQ(0, close(w.fd));
}
