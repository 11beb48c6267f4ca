// SPDX-License-Identifier: MIT
/*
 * Descriptors under the shim: dup, dup2, dup3 and fcntl(F_DUPFD*) make
 * numbers that reach the same context, which lives until the last of
 * them closes; a dup onto a context's number closes that context; close,
 * close_range and closefrom release what they close (and only that); the
 * test module's access descriptors follow the same rules and hold their
 * context open on their own. A number closed where the shim cannot see
 * it (fclose of an fdopen'd descriptor) and then handed out again must
 * be the new file; so must a number of the library's own that the
 * program closed and reused.
 *
 * A context's life is watched from outside it: pages a context maps
 * through a mock domain stay pinned exactly while it lives, and pin
 * counts are per page and process-wide, so MD_CHECK_REFS on a second
 * /dev/iommu descriptor sees them.
 */
#include <dirent.h>
#include <linux/close_range.h>
#include <sys/uio.h>

#include "e2e/e2e_utils.h"

#define BUF_LEN (8 * PAGE_SZ)

struct ctx {
	int fd;
	uint32_t ioas, stdev, hwpt;
	char *buf;
	uint64_t iova;
};

/* A context mapping a fresh buffer: pinned if @domain (a mock device). */
static void ctx_make(struct ctx *c, bool domain)
{
	c->fd = open_iommu();
	ASSERT_GE(c->fd, 0);
	ASSERT_EQ(0, ioas_alloc(c->fd, &c->ioas));
	if (domain)
		ASSERT_EQ(0, mock_domain(c->fd, c->ioas, &c->stdev, &c->hwpt));
	c->buf = e2e_buffer(BUF_LEN);
	ASSERT_NONNULL(c->buf);
	c->iova = MOCK_APERTURE_START;
	ASSERT_EQ(0, ioas_map(c->fd, c->ioas, c->buf, BUF_LEN, &c->iova,
			      MAP_FIXED_RW));
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

/* ---- dup and friends ---- */

TEST(dup_shares_the_context)
{
	uint32_t x = 0, y = 0;
	struct ctx a;
	int c, d;

	ctx_make(&a, true);
	c = open_iommu();
	ASSERT_GE(c, 0);
	ASSERT_EQ(1, pins(c, a.buf, BUF_LEN));
	d = dup(a.fd);
	ASSERT_GE(d, 0);
	ASSERT_NE(a.fd, d);
	/* dup clears close-on-exec on the copy. */
	ASSERT_EQ(0, fcntl(d, F_GETFD));
	/* Made through one number, found through the other. */
	ASSERT_EQ(0, ioas_alloc(d, &x));
	ASSERT_EQ(0, destroy(a.fd, x));
	ASSERT_EQ(0, ioas_alloc(a.fd, &y));
	ASSERT_EQ(x, y);
	ASSERT_EQ(0, destroy(d, y));
	ASSERT_EQ(0, check_map(d, a.hwpt, a.iova, a.buf, BUF_LEN));
	/* The context lives until its last descriptor goes. */
	ASSERT_EQ(0, close(a.fd));
	ASSERT_EQ(1, pins(c, a.buf, BUF_LEN));
	ASSERT_EQ(0, check_map(d, a.hwpt, a.iova, a.buf, BUF_LEN));
	ASSERT_ERRNO(EBUSY, destroy(d, a.ioas));
	ASSERT_EQ(0, close(d));
	ASSERT_EQ(0, pins(c, a.buf, BUF_LEN));
	ASSERT_EQ(0, close(c));
}

TEST(dup2_onto_a_free_number)
{
	struct ctx a;
	int c, n;

	ctx_make(&a, true);
	c = open_iommu();
	n = free_number(200);
	ASSERT_EQ(n, dup2(a.fd, n));
	ASSERT_EQ(0, fcntl(n, F_GETFD));
	ASSERT_EQ(0, close(a.fd));
	ASSERT_EQ(0, check_map(n, a.hwpt, a.iova, a.buf, BUF_LEN));
	ASSERT_EQ(1, pins(c, a.buf, BUF_LEN));
	ASSERT_EQ(0, close(n));
	ASSERT_EQ(0, pins(c, a.buf, BUF_LEN));
	ASSERT_ERRNO(EBADF, ioctl(n, IOMMU_IOAS_ALLOC, &(uint32_t[3]){ 12 }));
	ASSERT_EQ(0, close(c));
}

TEST(dup2_onto_another_context_closes_it)
{
	uint32_t extra = 0;
	struct ctx a, b;
	int c;

	ctx_make(&a, true);
	ctx_make(&b, true);
	/* IDs only b has. */
	for (int i = 0; i != 3; i++)
		ASSERT_EQ(0, ioas_alloc(b.fd, &extra));
	c = open_iommu();
	ASSERT_EQ(1, pins(c, a.buf, BUF_LEN));
	ASSERT_EQ(1, pins(c, b.buf, BUF_LEN));

	ASSERT_EQ(b.fd, dup2(a.fd, b.fd));
	/* b's context is gone, with everything in it. */
	ASSERT_EQ(0, pins(c, b.buf, BUF_LEN));
	ASSERT_EQ(1, pins(c, a.buf, BUF_LEN));
	/* The number now reaches a's context, where b's IDs mean nothing. */
	ASSERT_ERRNO(ENOENT, destroy(b.fd, extra));
	ASSERT_EQ(0, check_map(b.fd, a.hwpt, a.iova, a.buf, BUF_LEN));
	ASSERT_EQ(0, close(a.fd));
	ASSERT_EQ(1, pins(c, a.buf, BUF_LEN));
	ASSERT_EQ(0, close(b.fd));
	ASSERT_EQ(0, pins(c, a.buf, BUF_LEN));
	ASSERT_EQ(0, close(c));
}

TEST(dup2_onto_a_context_with_another_descriptor)
{
	uint32_t extra = 0;
	struct ctx a, b;
	int c, b2;

	ctx_make(&a, true);
	ctx_make(&b, true);
	ASSERT_EQ(0, ioas_alloc(b.fd, &extra));
	c = open_iommu();
	b2 = dup(b.fd);
	ASSERT_GE(b2, 0);
	ASSERT_EQ(b.fd, dup2(a.fd, b.fd));
	/* b2 still holds b's context. */
	ASSERT_EQ(1, pins(c, b.buf, BUF_LEN));
	ASSERT_EQ(0, check_map(b2, b.hwpt, b.iova, b.buf, BUF_LEN));
	ASSERT_EQ(0, destroy(b2, extra));
	ASSERT_EQ(0, close(b2));
	ASSERT_EQ(0, pins(c, b.buf, BUF_LEN));
	ASSERT_EQ(1, pins(c, a.buf, BUF_LEN));
	ASSERT_EQ(0, close(a.fd));
	ASSERT_EQ(0, close(b.fd));
	ASSERT_EQ(0, pins(c, a.buf, BUF_LEN));
	ASSERT_EQ(0, close(c));
}

TEST(dup2_of_another_file_onto_a_context)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	int c, pipefd[2];
	struct ctx b;
	char byte = 0;

	ctx_make(&b, true);
	c = open_iommu();
	ASSERT_EQ(0, pipe(pipefd));
	ASSERT_EQ(b.fd, dup2(pipefd[0], b.fd));
	ASSERT_EQ(0, pins(c, b.buf, BUF_LEN));
	/* The number is the pipe now, in every call. */
	ASSERT_ERRNO(ENOTTY, ioctl(b.fd, IOMMU_IOAS_ALLOC, &cmd));
	ASSERT_EQ(1, write(pipefd[1], "x", 1));
	ASSERT_EQ(1, read(b.fd, &byte, 1));
	ASSERT_EQ('x', byte);
	close(pipefd[0]);
	close(pipefd[1]);
	ASSERT_EQ(0, close(b.fd));
	ASSERT_EQ(0, close(c));
}

TEST(dup2_and_dup3_onto_themselves)
{
	struct ctx a;
	int c;

	ctx_make(&a, true);
	c = open_iommu();
	ASSERT_EQ(a.fd, dup2(a.fd, a.fd));
	ASSERT_ERRNO(EINVAL, dup3(a.fd, a.fd, 0));
	ASSERT_EQ(1, pins(c, a.buf, BUF_LEN));
	ASSERT_EQ(0, check_map(a.fd, a.hwpt, a.iova, a.buf, BUF_LEN));
	ASSERT_ERRNO(EBADF, dup2(a.fd, -1));
	ASSERT_ERRNO(EBADF, dup(-1));
	ASSERT_EQ(0, check_map(a.fd, a.hwpt, a.iova, a.buf, BUF_LEN));
	ASSERT_EQ(0, close(a.fd));
	ASSERT_EQ(0, pins(c, a.buf, BUF_LEN));
	ASSERT_EQ(0, close(c));
}

TEST(dup3_with_cloexec)
{
	struct ctx a, b;
	int c, n;

	ctx_make(&a, true);
	ctx_make(&b, true);
	c = open_iommu();
	n = free_number(300);
	ASSERT_EQ(n, dup3(a.fd, n, O_CLOEXEC));
	ASSERT_EQ(FD_CLOEXEC, fcntl(n, F_GETFD));
	ASSERT_EQ(0, check_map(n, a.hwpt, a.iova, a.buf, BUF_LEN));
	/* Onto another context: that one closes. */
	ASSERT_EQ(b.fd, dup3(a.fd, b.fd, 0));
	ASSERT_EQ(0, fcntl(b.fd, F_GETFD));
	ASSERT_EQ(0, pins(c, b.buf, BUF_LEN));
	ASSERT_ERRNO(EINVAL, dup3(a.fd, n, 0x1234));
	ASSERT_EQ(0, check_map(n, a.hwpt, a.iova, a.buf, BUF_LEN));
	ASSERT_EQ(0, close(a.fd));
	ASSERT_EQ(0, close(b.fd));
	ASSERT_EQ(1, pins(c, a.buf, BUF_LEN));
	ASSERT_EQ(0, close(n));
	ASSERT_EQ(0, pins(c, a.buf, BUF_LEN));
	ASSERT_EQ(0, close(c));
}

TEST(fcntl_dupfd)
{
	struct ctx a;
	int c, n, m, k;

	ctx_make(&a, true);
	c = open_iommu();
	n = fcntl(a.fd, F_DUPFD, 400);
	ASSERT_LE(400, n);
	ASSERT_EQ(0, fcntl(n, F_GETFD));
	m = fcntl(a.fd, F_DUPFD_CLOEXEC, 400);
	ASSERT_LE(400, m);
	ASSERT_NE(n, m);
	ASSERT_EQ(FD_CLOEXEC, fcntl(m, F_GETFD));
	k = fcntl64(m, F_DUPFD, 500);
	ASSERT_LE(500, k);
	ASSERT_EQ(0, close(a.fd));
	ASSERT_EQ(0, close(n));
	ASSERT_EQ(0, check_map(m, a.hwpt, a.iova, a.buf, BUF_LEN));
	ASSERT_EQ(0, close(m));
	ASSERT_EQ(1, pins(c, a.buf, BUF_LEN));
	ASSERT_EQ(0, check_map(k, a.hwpt, a.iova, a.buf, BUF_LEN));
	ASSERT_EQ(0, close(k));
	ASSERT_EQ(0, pins(c, a.buf, BUF_LEN));
	/* Other fcntl commands pass through. */
	ASSERT_ERRNO(EBADF, fcntl(k, F_DUPFD, 0));
	ASSERT_EQ(O_RDWR, fcntl(c, F_GETFL) & O_ACCMODE);
	ASSERT_EQ(0, close(c));
}

/* ---- close ---- */

TEST(close_then_the_number_is_another_file)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	struct ctx a;
	int n, null_fd;

	ctx_make(&a, true);
	n = a.fd;
	ASSERT_EQ(0, close(n));
	ASSERT_ERRNO(EBADF, close(n));
	ASSERT_ERRNO(EBADF, ioctl(n, IOMMU_IOAS_ALLOC, &cmd));
	/* The lowest free number comes back for the next open. */
	null_fd = open("/dev/null", O_RDWR);
	ASSERT_EQ(n, null_fd);
	ASSERT_ERRNO(ENOTTY, ioctl(null_fd, IOMMU_IOAS_ALLOC, &cmd));
	ASSERT_EQ(0, close(null_fd));
	/* Then /dev/iommu again: a fresh context. */
	ASSERT_EQ(n, open_iommu());
	ASSERT_EQ(0, ioas_alloc(n, &cmd.out_ioas_id));
	ASSERT_EQ(1, cmd.out_ioas_id);
	ASSERT_EQ(0, pins(n, a.buf, BUF_LEN));
	ASSERT_EQ(0, close(n));
}

/*
 * glibc closes a FILE's descriptor with an internal call the shim cannot
 * see. The kernel then closes the context; the number's next file must
 * be that file, not the dead context.
 */
TEST(closed_behind_the_shims_back)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	struct ctx a;
	FILE *f;
	int c, n, null_fd;

	c = open_iommu();
	ctx_make(&a, true);
	n = a.fd;
	f = fdopen(n, "r+");
	ASSERT_NONNULL(f);
	ASSERT_EQ(0, fclose(f));
	ASSERT_FALSE(fd_is_open(n));
	null_fd = open("/dev/null", O_RDWR);
	ASSERT_EQ(n, null_fd);
	EXPECT_ERRNO(ENOTTY, ioctl(null_fd, IOMMU_IOAS_ALLOC, &cmd));
	EXPECT_EQ(0, pins(c, a.buf, BUF_LEN));
	ASSERT_EQ(0, close(null_fd));
	ASSERT_EQ(0, close(c));
}

/* ---- access descriptors ---- */

/* A context without a domain: only the access pins. */
static void access_make(struct ctx *a, int *afd, uint32_t *item)
{
	ctx_make(a, false);
	strcpy(a->buf, "seen through the access");
	ASSERT_EQ(0, create_access(a->fd, a->ioas,
				   MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
				   afd));
	ASSERT_EQ(0, access_pages(a->fd, *afd, a->iova, BUF_LEN, a->buf, 0,
				  item));
	ASSERT_EQ(1, pins(a->fd, a->buf, BUF_LEN));
}

static int rw_works(int fd, int afd, const struct ctx *a)
{
	char text[32] = {};

	if (access_rw(fd, afd, a->iova, text, sizeof(text), 0))
		return -1;
	return strcmp(text, "seen through the access") ? -1 : 0;
}

TEST(access_dup_works_and_outlives_the_original)
{
	uint32_t item = 0;
	int afd = -1, a2;
	struct ctx a;

	access_make(&a, &afd, &item);
	a2 = dup(afd);
	ASSERT_GE(a2, 0);
	ASSERT_EQ(0, rw_works(a.fd, a2, &a));
	ASSERT_EQ(0, rw_works(a.fd, afd, &a));
	/* Closing the original leaves the access to the copy. */
	ASSERT_EQ(0, close(afd));
	ASSERT_ERRNO(EBADFD, access_rw(a.fd, afd, a.iova, &item, 4, 0));
	if (rw_works(a.fd, a2, &a))
		TH_LOG("ACCESS_RW through the copy: %s", strerror(errno));
	EXPECT_EQ(0, rw_works(a.fd, a2, &a));
	EXPECT_EQ(1, pins(a.fd, a.buf, BUF_LEN));
	EXPECT_ERRNO(EBUSY, destroy(a.fd, a.ioas));
	EXPECT_EQ(0, destroy_access_pages(a.fd, a2, item));
	ASSERT_EQ(0, rw_works(a.fd, a2, &a));
	/* Closing both destroys it: no pins, and the IOAS is free. */
	ASSERT_EQ(0, close(a2));
	ASSERT_EQ(0, pins(a.fd, a.buf, BUF_LEN));
	ASSERT_EQ(0, destroy(a.fd, a.ioas));
	ASSERT_ERRNO(EBADFD, access_rw(a.fd, a2, a.iova, &item, 4, 0));
	ASSERT_EQ(0, close(a.fd));
}

TEST(access_dup_closed_first)
{
	uint32_t item = 0;
	int afd = -1, a2, a3, n;
	struct ctx a;

	access_make(&a, &afd, &item);
	a2 = fcntl(afd, F_DUPFD_CLOEXEC, 600);
	ASSERT_LE(600, a2);
	n = free_number(700);
	a3 = dup2(afd, n);
	ASSERT_EQ(n, a3);
	ASSERT_EQ(0, rw_works(a.fd, a2, &a));
	ASSERT_EQ(0, rw_works(a.fd, a3, &a));
	ASSERT_EQ(0, close(a2));
	ASSERT_EQ(0, close(a3));
	ASSERT_EQ(0, rw_works(a.fd, afd, &a));
	ASSERT_EQ(1, pins(a.fd, a.buf, BUF_LEN));
	ASSERT_EQ(0, close(afd));
	ASSERT_EQ(0, pins(a.fd, a.buf, BUF_LEN));
	ASSERT_EQ(0, destroy(a.fd, a.ioas));
	ASSERT_EQ(0, close(a.fd));
}

TEST(dup2_onto_an_access_releases_it)
{
	uint32_t item = 0, ioas = 0;
	int afd = -1;
	struct ctx a;

	access_make(&a, &afd, &item);
	ASSERT_EQ(afd, dup2(a.fd, afd));
	ASSERT_EQ(0, pins(a.fd, a.buf, BUF_LEN));
	ASSERT_EQ(0, destroy(a.fd, a.ioas));
	/* The access's number is the context now. */
	ASSERT_EQ(0, ioas_alloc(afd, &ioas));
	ASSERT_EQ(0, destroy(a.fd, ioas));
	ASSERT_ERRNO(EBADFD, access_rw(a.fd, afd, a.iova, &item, 4, 0));
	ASSERT_EQ(0, close(afd));
	ASSERT_EQ(0, close(a.fd));
}

/* An access holds its context: closing /dev/iommu first is fine. */
TEST(access_keeps_its_context_open)
{
	uint32_t item = 0, stdev = 0, hwpt = 0;
	int afd = -1, c;
	struct ctx a;

	access_make(&a, &afd, &item);
	/* A domain too: its pins go only with the context. */
	ASSERT_EQ(0, mock_domain(a.fd, a.ioas, &stdev, &hwpt));
	ASSERT_EQ(0, destroy_access_pages(a.fd, afd, item));
	ASSERT_EQ(1, pins(a.fd, a.buf, BUF_LEN));
	c = open_iommu();
	ASSERT_GE(c, 0);
	ASSERT_EQ(0, close(a.fd));
	/* Access ops name the access by its descriptor, from any context. */
	ASSERT_EQ(1, pins(c, a.buf, BUF_LEN));
	ASSERT_EQ(0, rw_works(c, afd, &a));
	ASSERT_EQ(0, access_pages(c, afd, a.iova, PAGE_SZ, a.buf, 0, &item));
	ASSERT_EQ(0, close(afd));
	ASSERT_EQ(0, pins(c, a.buf, BUF_LEN));
	ASSERT_EQ(0, close(c));
}

/* ---- close_range and closefrom ---- */

struct span {
	int c;			/* the observer, below the span */
	struct ctx a, b;
	int a_dup, afd, pipefd[2];
	uint32_t item;
	int lo, hi;
};

static void span_make(struct span *s)
{
	s->c = open_iommu();
	ASSERT_GE(s->c, 0);
	ctx_make(&s->a, true);
	s->a_dup = dup(s->a.fd);
	ASSERT_GE(s->a_dup, 0);
	access_make(&s->b, &s->afd, &s->item);
	ASSERT_EQ(0, pipe(s->pipefd));
	s->lo = s->a.fd;
	s->hi = s->pipefd[1];
	ASSERT_LT(s->c, s->lo);
	ASSERT_EQ(1, pins(s->c, s->a.buf, BUF_LEN));
	ASSERT_EQ(1, pins(s->c, s->b.buf, BUF_LEN));
}

static void span_check_closed(struct span *s)
{
	int fds[] = { s->a.fd, s->a_dup, s->b.fd, s->afd, s->pipefd[0],
		      s->pipefd[1] };

	for (unsigned int i = 0; i != sizeof(fds) / sizeof(fds[0]); i++)
		ASSERT_FALSE(fd_is_open(fds[i]));
	/* Before anything reopens the lowest numbers. */
	ASSERT_ERRNO(EBADF, destroy(s->a.fd, s->a.ioas));
	ASSERT_ERRNO(EBADFD, access_rw(s->c, s->afd, s->b.iova, &s->item, 4,
				       0));
	ASSERT_EQ(0, pins(s->c, s->a.buf, BUF_LEN));
	ASSERT_EQ(0, pins(s->c, s->b.buf, BUF_LEN));
	ASSERT_EQ(0, close(s->c));
}

TEST(close_range_closes_contexts_and_accesses)
{
	struct span s;

	span_make(&s);
	ASSERT_EQ(0, close_range(s.lo, s.hi, 0));
	span_check_closed(&s);
}

TEST(close_range_to_the_end)
{
	struct ctx d;
	struct span s;

	span_make(&s);
	ASSERT_EQ(0, close_range(s.lo, ~0U, 0));
	span_check_closed(&s);
	/* The library's own descriptors may have gone too: it copes. */
	ctx_make(&d, true);
	ASSERT_EQ(0, check_map(d.fd, d.hwpt, d.iova, d.buf, BUF_LEN));
	ASSERT_EQ(1, pins(d.fd, d.buf, BUF_LEN));
	ASSERT_EQ(0, close(d.fd));
}

TEST(closefrom_closes_contexts_and_accesses)
{
	struct span s;

	span_make(&s);
	closefrom(s.lo);
	span_check_closed(&s);
}

TEST(close_range_cloexec_closes_nothing)
{
	struct span s;
	int fds[6];

	span_make(&s);
	memcpy(fds, (int[]){ s.a.fd, s.a_dup, s.b.fd, s.afd, s.pipefd[0],
			     s.pipefd[1] }, sizeof(fds));
	ASSERT_EQ(0, close_range(s.lo, s.hi, CLOSE_RANGE_CLOEXEC));
	for (unsigned int i = 0; i != 6; i++)
		ASSERT_EQ(FD_CLOEXEC, fcntl(fds[i], F_GETFD));
	ASSERT_EQ(1, pins(s.c, s.a.buf, BUF_LEN));
	ASSERT_EQ(1, pins(s.c, s.b.buf, BUF_LEN));
	ASSERT_EQ(0, check_map(s.a_dup, s.a.hwpt, s.a.iova, s.a.buf, BUF_LEN));
	ASSERT_EQ(0, rw_works(s.b.fd, s.afd, &s.b));
	ASSERT_EQ(0, close_range(s.lo, s.hi, 0));
	span_check_closed(&s);
}

/*
 * The library keeps a descriptor of /proc/self/maps for itself. A
 * program may close it (closefrom before exec does) and the number may
 * then name /dev/iommu: the library must notice and carry on.
 */
TEST(library_descriptor_closed_and_reused)
{
	char link[128], want[64];
	int n = -1, d;
	struct ctx a;
	DIR *dir;
	struct dirent *de;

	ctx_make(&a, true);
	snprintf(want, sizeof(want), "/proc/%d/maps", (int)getpid());
	dir = opendir("/proc/self/fd");
	ASSERT_NONNULL(dir);
	while ((de = readdir(dir))) {
		ssize_t len;

		len = readlinkat(dirfd(dir), de->d_name, link,
				 sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = 0;
		if (!strcmp(link, want))
			n = atoi(de->d_name);
	}
	closedir(dir);
	if (n < 0)
		SKIP("the library keeps no /proc/self/maps descriptor here");
	ASSERT_EQ(0, close(n));
	d = open_iommu();
	ASSERT_GE(d, 0);
	if (d != n) {
		ASSERT_EQ(n, dup2(d, n));
		ASSERT_EQ(0, close(d));
	}
	/* Pins look the pages up again; the number is a context now. */
	ASSERT_EQ(0, ioas_unmap(a.fd, a.ioas, a.iova, BUF_LEN, NULL));
	ASSERT_EQ(0, pins(a.fd, a.buf, BUF_LEN));
	ASSERT_EQ(0, ioas_map(a.fd, a.ioas, a.buf, BUF_LEN, &a.iova,
			      MAP_FIXED_RW));
	ASSERT_EQ(0, check_map(a.fd, a.hwpt, a.iova, a.buf, BUF_LEN));
	ASSERT_EQ(1, pins(a.fd, a.buf, BUF_LEN));
	ASSERT_EQ(0, ioas_alloc(n, &a.ioas));
	ASSERT_EQ(1, a.ioas);
	ASSERT_EQ(0, close(n));
	ASSERT_EQ(0, close(a.fd));
}

/*
 * A context has no read or write: EINVAL, as the kernel's file, whether
 * it is this process's (a memfd under the shim) or shared (a socket,
 * which would block a read).
 */
static void no_read_or_write(int fd)
{
	struct iovec iov;
	char byte = 0;

	iov.iov_base = &byte;
	iov.iov_len = 1;
	ASSERT_ERRNO(EINVAL, read(fd, &byte, 1));
	ASSERT_ERRNO(EINVAL, write(fd, &byte, 1));
	ASSERT_ERRNO(EINVAL, pread(fd, &byte, 1, 0));
	ASSERT_ERRNO(EINVAL, pwrite(fd, &byte, 1, 0));
	ASSERT_ERRNO(EINVAL, readv(fd, &iov, 1));
	ASSERT_ERRNO(EINVAL, writev(fd, &iov, 1));
}

TEST(context_has_no_read_or_write)
{
	uint32_t ioas = 0;
	int fd = open_iommu(), status;
	pid_t pid;

	ASSERT_GE(fd, 0);
	no_read_or_write(fd);
	/* Shared with a child, and used: the same. */
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(ioas_alloc(fd, &ioas) ? 1 : 0);
	status = wait_child(pid, WAIT_STALL_S);
	ASSERT_EQ(0, status);
	no_read_or_write(fd);
	ASSERT_EQ(0, ioas_alloc(fd, &ioas));
	ASSERT_EQ(0, close(fd));
}
