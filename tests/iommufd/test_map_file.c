// SPDX-License-Identifier: MIT
/*
 * IOMMU_IOAS_MAP_FILE and the test module's dma-bufs (DMABUF_GET,
 * DMABUF_REVOKE), driven through uiommufd_ioctl() as a program drives
 * /dev/iommu. The kernel is the reference (drivers/iommu/iommufd/ioas.c,
 * io_pagetable.c, pages.c, selftest.c, and Linux's own selftests'
 * dmabuf_simple and dmabuf_revoke): the order of the checks and their
 * errnos, the files it maps (memfd, shmem and hugetlbfs, whole pages),
 * mappings that outlive the descriptor, pinned-page accounting for files
 * and none for dma-bufs, revocation unmapping every domain while the IOAS
 * keeps its areas. Where uiommufd answers earlier or otherwise than the
 * kernel, the test says so. Every failure must come with a reason.
 *
 * The suite ends with fail-nth sweeps: for every N the command either
 * does exactly what it does unfaulted or fails leaving the context, its
 * domains, the accounting, the dma-bufs and the allocations as they were.
 */
#include <fcntl.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/fault_inject.h"
#include "base/mem.h"
#include "domains/mock_domain.h"
#include "iommufd/fd_table.h"
#include "iommufd/iommufd_private.h"
#include "iommufd/iommufd_utils.h"
#include "iopt/accounting.h"
#include "iopt/dmabuf.h"
#include "iopt/pfn_identity.h"

#define PG TEST_PAGE_SIZE
#define P(n) ((uint64_t)(n) * PG)
#define NPAGES 16
#define IOVA (MOCK_APERTURE_START + 0x200000)
#define MAP_R IOMMU_IOAS_MAP_READABLE
#define MAP_W IOMMU_IOAS_MAP_WRITEABLE
#define MAP_FIX IOMMU_IOAS_MAP_FIXED_IOVA
#define NFDS 256

/* Fails with @err, and says why. */
#define ASSERT_FAIL(err, call)                                             \
	do {                                                               \
		ASSERT_ERRNO(err, call);                                   \
		if (!uiommufd_last_reason())                               \
			TH_LOG("%s: no reason", #call);                    \
		ASSERT_NONNULL(uiommufd_last_reason());                    \
	} while (0)

#define ASSERT_DONE(call)                                                  \
	do {                                                               \
		int _rc = (call);                                          \
		if (_rc)                                                   \
			TH_LOG("%s: %s (%s)", #call, strerror(errno),      \
			       uiommufd_last_reason() ?: "no reason");     \
		ASSERT_EQ(0, _rc);                                         \
	} while (0)

/* ---- commands ------------------------------------------------------------ */

static int map_file(struct uiommufd_ctx *ctx, uint32_t ioas_id, int fd,
		    uint64_t start, uint64_t length, uint64_t *iova,
		    uint32_t flags)
{
	struct iommu_ioas_map_file cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.ioas_id = ioas_id,
		.fd = fd,
		.start = start,
		.length = length,
		.iova = iova ? *iova : 0,
	};
	int rc = uiommufd_ioctl(ctx, IOMMU_IOAS_MAP_FILE, &cmd);

	if (!rc && iova)
		*iova = cmd.iova;
	return rc;
}

static int map_file_at(struct uiommufd_ctx *ctx, uint32_t ioas_id, int fd,
		       uint64_t start, uint64_t length, uint64_t iova)
{
	return map_file(ctx, ioas_id, fd, start, length, &iova,
			MAP_R | MAP_W | MAP_FIX);
}

/* The new descriptor, or -1 with errno. */
static int dmabuf_get(struct uiommufd_ctx *ctx, uint32_t length,
		      uint32_t open_flags)
{
	struct iommu_test_cmd cmd;

	test_cmd_init(&cmd, IOMMU_TEST_OP_DMABUF_GET, 0);
	cmd.dmabuf_get.length = length;
	cmd.dmabuf_get.open_flags = open_flags;
	return test_cmd(ctx, &cmd);
}

static int dmabuf_revoke(struct uiommufd_ctx *ctx, int fd, uint32_t revoked)
{
	struct iommu_test_cmd cmd;

	test_cmd_init(&cmd, IOMMU_TEST_OP_DMABUF_REVOKE, 0);
	cmd.dmabuf_revoke.dmabuf_fd = fd;
	cmd.dmabuf_revoke.revoked = revoked;
	return test_cmd(ctx, &cmd);
}

static int mf_hwpt_alloc(struct uiommufd_ctx *ctx, uint32_t dev_id,
			 uint32_t pt_id, uint32_t *hwpt_id)
{
	struct iommu_hwpt_alloc cmd;
	int rc;

	memset(&cmd, 0, sizeof(cmd));
	cmd.size = sizeof(cmd);
	cmd.dev_id = dev_id;
	cmd.pt_id = pt_id;
	rc = uiommufd_ioctl(ctx, IOMMU_HWPT_ALLOC, &cmd);
	if (!rc)
		*hwpt_id = cmd.out_hwpt_id;
	return rc;
}

/* ---- memory ------------------------------------------------------------ */

static uint8_t pat(uint64_t off)
{
	return (uint8_t)(off * 3 + off / PG * 29 + 7);
}

/* A memfd of @size bytes holding pat(). */
static int memfd_pat(uint64_t size)
{
	int fd = memfd_create("map_file", MFD_CLOEXEC);
	uint8_t *p;

	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ftruncate(fd, (off_t)size));
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	for (uint64_t i = 0; i != size; i++)
		p[i] = pat(i);
	munmap(p, size);
	return fd;
}

static void *map_shared(int fd, uint64_t size, int prot)
{
	void *p = mmap(NULL, size, prot, MAP_SHARED, fd, 0);

	ASSERT_NE(MAP_FAILED, p);
	return p;
}

/* ---- internals, for what no command shows ---------------------------- */

static struct iommufd_ioas *ioas_of(struct uiommufd_ctx *ctx, uint32_t id)
{
	struct iommufd_object *obj = index_store_load(&ctx->objects, id);

	ASSERT_NONNULL(obj);
	ASSERT_EQ(IOMMUFD_OBJ_IOAS, obj->type);
	return container_of(obj, struct iommufd_ioas, obj);
}

static struct iommu_domain *domain_of(struct uiommufd_ctx *ctx, uint32_t id)
{
	struct iommufd_object *obj = index_store_load(&ctx->objects, id);

	ASSERT_NONNULL(obj);
	ASSERT_EQ(IOMMUFD_OBJ_HWPT_PAGING, obj->type);
	return container_of(obj, struct iommufd_hwpt_paging, common.obj)
		->domain;
}

static uint64_t domain_pages(struct iommu_domain *domain)
{
	struct mock_domain_stats st;

	mock_domain_get_stats(domain, &st);
	ASSERT_EQ(0, st.unmap_splits_map);
	ASSERT_EQ(0, st.unmap_not_mapped);
	ASSERT_EQ(0, st.map_over_mapped);
	return st.io_pages;
}

static uint64_t nareas(struct uiommufd_ctx *ctx, uint32_t ioas_id)
{
	struct io_pagetable *iopt = &ioas_of(ctx, ioas_id)->iopt;
	struct iopt_area *area;
	uint64_t n = 0;

	for (area = iopt_area_iter_first(iopt, 0, U64_MAX); area;
	     area = iopt_area_iter_next(area, 0, U64_MAX))
		n++;
	return n;
}

/* ---- a context with an IOAS, zero or one mock device -------------------- */

FIXTURE(mf)
{
	struct uiommufd_ctx *ctx;
	uint32_t ioas_id, stdev_id, hwpt_id;
	int mfd;		/* NPAGES of pat() */
	uint8_t *user;		/* the user's own shared mapping of it */
	long live;
	unsigned int dmabufs;
};

FIXTURE_VARIANT(mf)
{
	bool domain;
	uint32_t temp_limit;
};

FIXTURE_VARIANT_ADD(mf, no_domain)
{
	.domain = false,
};

FIXTURE_VARIANT_ADD(mf, mock_domain)
{
	.domain = true,
};

FIXTURE_VARIANT_ADD(mf, mock_domain_limit)
{
	.domain = true,
	.temp_limit = 16,
};

FIXTURE_SETUP(mf)
{
	self->live = mem_live_count();
	self->dmabufs = iopt_dmabufs_live();
	self->ctx = uiommufd_ctx_open(0);
	ASSERT_NONNULL(self->ctx);
	ASSERT_EQ(0, ioas_alloc(self->ctx, &self->ioas_id));
	if (variant->domain)
		ASSERT_EQ(0, test_mock_domain(self->ctx, self->ioas_id,
					      &self->stdev_id, &self->hwpt_id,
					      NULL));
	if (variant->temp_limit)
		ASSERT_EQ(0, test_set_temp_memory_limit(self->ctx,
							 variant->temp_limit));
	self->mfd = memfd_pat(P(NPAGES));
	self->user = map_shared(self->mfd, P(NPAGES), PROT_READ | PROT_WRITE);
}

FIXTURE_TEARDOWN(mf)
{
	struct uiommufd_ctx *check;

	if (self->ctx) {
		ASSERT_EQ(0, test_set_temp_memory_limit(self->ctx, 65536));
		uiommufd_ctx_close(self->ctx);
	}
	/* Nothing of the file stays pinned, no dma-buf stays alive. */
	check = uiommufd_ctx_open(0);
	ASSERT_NONNULL(check);
	ASSERT_DONE(test_check_refs(check, self->user, P(NPAGES), 0));
	uiommufd_ctx_close(check);
	ASSERT_EQ(self->dmabufs, iopt_dmabufs_live());
	ASSERT_EQ(0, iopt_account_pinned());
	munmap(self->user, P(NPAGES));
	close(self->mfd);
}

/* ---- the checks before any file is looked at ---------------------------- */

TEST_F(mf, order_of_checks)
{
	struct uiommufd_ctx *ctx = self->ctx;
	uint64_t iova = IOVA;

	/* Flags first: an unknown bit beats every other error. */
	ASSERT_FAIL(EOPNOTSUPP, map_file(ctx, 0xffff, -1, 0, 0, &iova,
					 1u << 3 | MAP_R));
	ASSERT_FAIL(EOPNOTSUPP, map_file(ctx, self->ioas_id, self->mfd, 0,
					 P(1), &iova, 1u << 31 | MAP_R));
	/* Then U64_MAX for the IOVA or the length (not the start). */
	ASSERT_FAIL(EOVERFLOW, map_file(ctx, 0xffff, -1, 0, U64_MAX, &iova,
					0));
	iova = U64_MAX;
	ASSERT_FAIL(EOVERFLOW, map_file(ctx, 0xffff, -1, 0, P(1), &iova,
					MAP_FIX));
	iova = IOVA;
	/* Then the protection: MAP_FILE always needs one. */
	ASSERT_FAIL(EINVAL, map_file(ctx, 0xffff, -1, U64_MAX, P(1), &iova,
				     0));
	ASSERT_FAIL(EINVAL, map_file(ctx, self->ioas_id, self->mfd, 0, P(1),
				     &iova, MAP_FIX));
	/* Then the IOAS: no such object, or one of another type. */
	ASSERT_FAIL(ENOENT, map_file(ctx, 0xffff, -1, 0, 0, &iova, MAP_R));
	if (variant->domain)
		ASSERT_FAIL(ENOENT, map_file(ctx, self->hwpt_id, self->mfd, 0,
					     P(1), &iova, MAP_R));
	/* Then the range, before the descriptor. */
	ASSERT_FAIL(EINVAL, map_file(ctx, self->ioas_id, -1, 0, 0, &iova,
				     MAP_R));
	ASSERT_FAIL(EOVERFLOW, map_file(ctx, self->ioas_id, -1, -P(1), P(2),
					&iova, MAP_R));
	ASSERT_FAIL(EOVERFLOW, map_file(ctx, self->ioas_id, -1, U64_MAX, 2,
					&iova, MAP_R));
	ASSERT_FAIL(EBADF, map_file(ctx, self->ioas_id, -1, 0, P(1), &iova,
				    MAP_R));
	ASSERT_EQ(0, nareas(ctx, self->ioas_id));
}

/* The extensible-struct rules, as every command has them. */
TEST_F(mf, size_rules)
{
	uint8_t *page = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct iommu_ioas_map_file *cmd = (void *)page;
	const uint32_t sizes[] = { 0, 4, 8, 39 };

	ASSERT_NE(MAP_FAILED, page);
	for (size_t i = 0; i != sizeof(sizes) / sizeof(sizes[0]); i++) {
		memset(page, 0, 2 * PG);
		cmd->size = sizes[i];
		cmd->flags = MAP_R;
		cmd->ioas_id = self->ioas_id;
		cmd->fd = self->mfd;
		cmd->length = P(1);
		ASSERT_FAIL(EINVAL, uiommufd_ioctl(self->ctx,
						   IOMMU_IOAS_MAP_FILE, cmd));
	}
	/* Longer: zeros past the struct are fine, anything else is E2BIG. */
	memset(page, 0, 2 * PG);
	cmd->size = 48;
	cmd->flags = MAP_R;
	cmd->ioas_id = self->ioas_id;
	cmd->fd = self->mfd;
	cmd->length = P(1);
	page[47] = 1;
	ASSERT_FAIL(E2BIG, uiommufd_ioctl(self->ctx, IOMMU_IOAS_MAP_FILE, cmd));
	page[47] = 0;
	memset(page + 48, 0xcc, 8);
	ASSERT_DONE(uiommufd_ioctl(self->ctx, IOMMU_IOAS_MAP_FILE, cmd));
	/* Written back up to the struct the kernel knows, no further. */
	ASSERT_NE(0, cmd->iova);
	for (int i = 40; i != 48; i++)
		ASSERT_EQ(0, page[i]);
	for (int i = 48; i != 56; i++)
		ASSERT_EQ(0xcc, page[i]);
	memset(page + 40, 0, 2 * PG - 40);
	cmd->size = 2 * PG;
	cmd->iova = 0;
	ASSERT_DONE(uiommufd_ioctl(self->ctx, IOMMU_IOAS_MAP_FILE, cmd));
	/* Unreadable: EFAULT. */
	ASSERT_FAIL(EFAULT, uiommufd_ioctl(self->ctx, IOMMU_IOAS_MAP_FILE,
					   BAD_PTR));
	ASSERT_EQ(2, nareas(self->ctx, self->ioas_id));
	munmap(page, 2 * PG);
}

/* A result that cannot be written back leaves nothing mapped. */
TEST_F(mf, unwritable_result_maps_nothing)
{
	struct iommu_ioas_map_file *cmd;
	uint8_t *page = mmap(NULL, PG, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, page);
	cmd = (void *)page;
	cmd->size = sizeof(*cmd);
	cmd->flags = MAP_R | MAP_W;
	cmd->ioas_id = self->ioas_id;
	cmd->fd = self->mfd;
	cmd->length = P(4);
	ASSERT_EQ(0, mprotect(page, PG, PROT_READ));
	ASSERT_FAIL(EFAULT,
		    uiommufd_ioctl(self->ctx, IOMMU_IOAS_MAP_FILE, cmd));
	ASSERT_EQ(0, nareas(self->ctx, self->ioas_id));
	ASSERT_DONE(test_check_refs(self->ctx, self->user, P(NPAGES), 0));
	munmap(page, PG);
}

/* ---- which descriptors, which files -------------------------------------- */

TEST_F(mf, descriptors_not_files_of_shmem)
{
	struct uiommufd_ctx *ctx = self->ctx;
	int pipefd[2], opath, dirfd, devnull, diskfd, afd = -1, closed;
	char path[128];
	struct statfs sfs;

	closed = memfd_pat(P(1));
	close(closed);
	ASSERT_FAIL(EBADF, map_file_at(ctx, self->ioas_id, closed, 0, P(1),
				       IOVA));
	ASSERT_FAIL(EBADF, map_file_at(ctx, self->ioas_id, 1 << 20, 0, P(1),
				       IOVA));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", self->mfd);
	opath = open(path, O_PATH | O_CLOEXEC);
	ASSERT_GE(opath, 0);
	ASSERT_FAIL(EBADF, map_file_at(ctx, self->ioas_id, opath, 0, P(1),
				       IOVA));
	/* The kernel pins only memfd, shmem and hugetlbfs files (EINVAL). */
	ASSERT_EQ(0, pipe2(pipefd, O_CLOEXEC));
	ASSERT_FAIL(EINVAL, map_file_at(ctx, self->ioas_id, pipefd[0], 0, P(1),
					IOVA));
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	ASSERT_GE(devnull, 0);
	ASSERT_FAIL(EINVAL, map_file_at(ctx, self->ioas_id, devnull, 0, P(1),
					IOVA));
	dirfd = open("/dev/shm", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd >= 0)
		ASSERT_FAIL(EINVAL, map_file(ctx, self->ioas_id, dirfd, 0, P(1),
					     NULL, MAP_R));
	/* An access's descriptor is no file to map either. */
	ASSERT_DONE(test_create_access(ctx, self->ioas_id, 0, &afd));
	ASSERT_FAIL(EINVAL, map_file_at(ctx, self->ioas_id, afd, 0, P(1),
					IOVA));
	/* A disk file system's file, where one is at hand. */
	snprintf(path, sizeof(path), "%s/map_file-XXXXXX",
		 getenv("TMPDIR") ?: "/tmp");
	diskfd = mkstemp(path);
	if (diskfd >= 0) {
		unlink(path);
		ASSERT_EQ(0, ftruncate(diskfd, P(4)));
		ASSERT_EQ(0, fstatfs(diskfd, &sfs));
		if ((unsigned long)sfs.f_type != 0x01021994)
			ASSERT_FAIL(EINVAL, map_file_at(ctx, self->ioas_id,
							diskfd, 0, P(1), IOVA));
		close(diskfd);
	}
	/* A tmpfs file is shmem: mapped. */
	snprintf(path, sizeof(path), "/dev/shm/map_file-XXXXXX");
	diskfd = mkstemp(path);
	if (diskfd >= 0) {
		unlink(path);
		ASSERT_EQ(0, ftruncate(diskfd, P(4)));
		ASSERT_DONE(map_file_at(ctx, self->ioas_id, diskfd, 0, P(4),
					IOVA + P(64)));
		close(diskfd);
	}
	ASSERT_EQ(diskfd >= 0 ? 1 : 0, nareas(ctx, self->ioas_id));
	ASSERT_EQ(0, uiommufd_fd_close(afd));
	if (dirfd >= 0)
		close(dirfd);
	close(devnull);
	close(pipefd[0]);
	close(pipefd[1]);
	close(opath);
}

/*
 * The file must hold every page the range touches, whole: the kernel's
 * memfd_pin_folios() refuses a range whose last page the file covers only
 * in part. The kernel finds out at its first pin (at the map when a domain
 * is attached, else later); uiommufd at the map, always.
 */
TEST_F(mf, range_against_the_file)
{
	struct uiommufd_ctx *ctx = self->ctx;
	int odd = memfd_pat(P(2) + 100);
	uint64_t iova;

	ASSERT_FAIL(EINVAL, map_file_at(ctx, self->ioas_id, self->mfd, 0,
					P(NPAGES) + 1, IOVA));
	ASSERT_FAIL(EINVAL, map_file_at(ctx, self->ioas_id, self->mfd,
					P(NPAGES), P(1), IOVA));
	ASSERT_FAIL(EINVAL, map_file_at(ctx, self->ioas_id, self->mfd,
					P(NPAGES) - P(1) / 2, P(1), IOVA));
	ASSERT_FAIL(EINVAL, map_file_at(ctx, self->ioas_id, odd, P(2), 64,
					IOVA));
	ASSERT_FAIL(EINVAL, map_file_at(ctx, self->ioas_id, odd, P(1),
					P(1) + 2048, IOVA));
	ASSERT_EQ(0, nareas(ctx, self->ioas_id));
	/* Up to the last byte, and from an offset inside a page. */
	ASSERT_DONE(map_file_at(ctx, self->ioas_id, self->mfd, 0, P(NPAGES),
				IOVA));
	ASSERT_DONE(map_file_at(ctx, self->ioas_id, odd, 2048, P(2) - 2048,
				IOVA + P(NPAGES) + 2048));
	if (variant->domain) {
		ASSERT_DONE(test_check_map(ctx, self->hwpt_id, IOVA, P(NPAGES),
					   self->user));
		/* The domain's smallest page is the IOAS's alignment. */
		iova = IOVA + P(64);
		ASSERT_FAIL(EINVAL, map_file(ctx, self->ioas_id, self->mfd, 0,
					     P(1) - 1, &iova, MAP_R | MAP_FIX));
		iova = IOVA + P(64) + 1;
		ASSERT_FAIL(EINVAL, map_file(ctx, self->ioas_id, self->mfd, 0,
					     P(1), &iova, MAP_R | MAP_FIX));
	}
	/* Where it is taken: EEXIST; at a reserved IOVA: EINVAL. */
	ASSERT_FAIL(EEXIST, map_file_at(ctx, self->ioas_id, self->mfd, 0,
					P(1), IOVA + P(3)));
	ASSERT_DONE(test_add_reserved(ctx, self->ioas_id, IOVA + P(128),
				      P(4)));
	ASSERT_FAIL(EINVAL, map_file_at(ctx, self->ioas_id, self->mfd, 0,
					P(1), IOVA + P(129)));
	ASSERT_EQ(2, nareas(ctx, self->ioas_id));
	close(odd);
}

/* Automatic IOVAs align to the length, as for IOAS_MAP. */
TEST_F(mf, automatic_iova)
{
	uint64_t iova[3];

	for (int i = 0; i != 3; i++) {
		iova[i] = 0;
		ASSERT_DONE(map_file(self->ctx, self->ioas_id, self->mfd,
				     P(4 * i), P(4), &iova[i], MAP_R | MAP_W));
		ASSERT_NE(0, iova[i]);
		ASSERT_EQ(0, iova[i] % P(4));
		if (variant->domain)
			ASSERT_DONE(test_check_map(self->ctx, self->hwpt_id,
						   iova[i], P(4),
						   self->user + P(4 * i)));
	}
	ASSERT_NE(iova[0], iova[1]);
	ASSERT_NE(iova[1], iova[2]);
	for (int i = 0; i != 3; i++)
		ASSERT_DONE(ioas_unmap(self->ctx, self->ioas_id, iova[i], P(4),
				       NULL));
}

/*
 * Protection against the descriptor's mode. The kernel checks none: it
 * maps a memfd opened read-only WRITEABLE, and one opened write-only at
 * all. uiommufd cannot write through a read-only open file (nor map a
 * write-only one) and refuses both with EPERM.
 */
TEST_F(mf, protection_and_open_mode)
{
	int ro, wo;
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", self->mfd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	wo = open(path, O_WRONLY | O_CLOEXEC);
	ASSERT_GE(ro, 0);
	ASSERT_GE(wo, 0);
	ASSERT_FAIL(EPERM, map_file(self->ctx, self->ioas_id, ro, 0, P(2),
				    NULL, MAP_R | MAP_W));
	ASSERT_FAIL(EPERM, map_file(self->ctx, self->ioas_id, wo, 0, P(2),
				    NULL, MAP_R));
	ASSERT_EQ(0, nareas(self->ctx, self->ioas_id));
	ASSERT_DONE(map_file_at(self->ctx, self->ioas_id, self->mfd, 0, P(2),
				IOVA));
	{
		uint64_t iova = IOVA + P(4);

		ASSERT_DONE(map_file(self->ctx, self->ioas_id, ro, P(2), P(2),
				     &iova, MAP_R | MAP_FIX));
	}
	if (variant->domain)
		ASSERT_DONE(test_check_map(self->ctx, self->hwpt_id,
					   IOVA + P(4), P(2),
					   self->user + P(2)));
	close(ro);
	close(wo);
}

/*
 * The source keeps the file: closing the descriptor and unmapping the
 * user's view change nothing; domains and accesses still reach the file.
 */
TEST_F(mf, survives_close)
{
	struct uiommufd_ctx *ctx = self->ctx;
	int fd = memfd_pat(P(8)), afd = -1;
	uint8_t *view = map_shared(fd, P(8), PROT_READ | PROT_WRITE);
	uint8_t buf[64];

	ASSERT_DONE(map_file_at(ctx, self->ioas_id, fd, P(2), P(4), IOVA));
	close(fd);
	if (variant->domain)
		ASSERT_DONE(test_check_map(ctx, self->hwpt_id, IOVA, P(4),
					   view + P(2)));
	munmap(view, P(8));
	ASSERT_DONE(test_create_access(ctx, self->ioas_id, 0, &afd));
	ASSERT_DONE(test_access_rw(ctx, afd, IOVA + P(1) - 8, buf, 16, 0));
	for (int i = 0; i != 16; i++)
		ASSERT_EQ(pat(P(3) - 8 + i), buf[i]);
	memset(buf, 0x5a, sizeof(buf));
	ASSERT_DONE(test_access_rw(ctx, afd, IOVA + P(3) - 32, buf, 64,
				   MOCK_ACCESS_RW_WRITE));
	memset(buf, 0, sizeof(buf));
	ASSERT_DONE(test_access_rw(ctx, afd, IOVA + P(3) - 32, buf, 64,
				   MOCK_ACCESS_RW_SLOW_PATH));
	for (int i = 0; i != 64; i++)
		ASSERT_EQ(0x5a, buf[i]);
	ASSERT_EQ(0, uiommufd_fd_close(afd));
	ASSERT_DONE(ioas_unmap(ctx, self->ioas_id, IOVA, P(4), NULL));
}

/* Accesses read and write the file itself; pins land on its pages. */
TEST_F(mf, access_reads_and_pins_the_file)
{
	struct uiommufd_ctx *ctx = self->ctx;
	uint8_t buf[PG];
	uint32_t item = 0;
	int afd = -1;

	ASSERT_DONE(map_file_at(ctx, self->ioas_id, self->mfd, P(4), P(8),
				IOVA));
	ASSERT_DONE(test_create_access(
		ctx, self->ioas_id, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
		&afd));
	ASSERT_DONE(test_access_rw(ctx, afd, IOVA + P(1), buf, PG, 0));
	for (uint64_t i = 0; i != PG; i++)
		ASSERT_EQ(pat(P(5) + i), buf[i]);
	memset(buf, 0xa5, PG);
	ASSERT_DONE(test_access_rw(ctx, afd, IOVA + P(2), buf, PG,
				   MOCK_ACCESS_RW_WRITE));
	ASSERT_EQ(0xa5, self->user[P(6)]);
	ASSERT_EQ(0xa5, self->user[P(7) - 1]);
	/* A pin holds the same pages the user sees. */
	ASSERT_DONE(test_access_pages(ctx, afd, IOVA, P(2), self->user + P(4),
				      MOCK_FLAGS_ACCESS_WRITE, &item));
	ASSERT_DONE(test_check_refs(ctx, self->user + P(4), P(2), 1));
	ASSERT_DONE(test_destroy_access_pages(ctx, afd, item));
	ASSERT_DONE(test_check_refs(ctx, self->user + P(4), P(2),
				    variant->domain ? 1 : 0));
	ASSERT_EQ(0, uiommufd_fd_close(afd));
}

/* One pin per pages object: the file mapping and a user mapping of it. */
TEST_F(mf, pins_and_accounting)
{
	struct uiommufd_ctx *ctx = ctx_open_as(0, true, 0);
	uint32_t ioas_id = 0, stdev, hwpt;
	uint64_t iova = IOVA + P(32), base = iopt_account_user_locked(getuid());

	ASSERT_NONNULL(ctx);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas_id));
	if (variant->domain)
		ASSERT_EQ(0, test_mock_domain(ctx, ioas_id, &stdev, &hwpt,
					      NULL));
	ASSERT_DONE(map_file_at(ctx, ioas_id, self->mfd, 0, P(8), IOVA));
	ASSERT_DONE(ioas_map(ctx, ioas_id, self->user + P(4), P(4), &iova,
			     MAP_R | MAP_W | MAP_FIX));
	if (variant->domain) {
		/* Pages 4-7 are pinned by both, once each. */
		ASSERT_DONE(test_check_refs(ctx, self->user, P(4), 1));
		ASSERT_DONE(test_check_refs(ctx, self->user + P(4), P(4), 2));
		ASSERT_EQ(base + 12, iopt_account_user_locked(getuid()));
	} else {
		ASSERT_DONE(test_check_refs(ctx, self->user, P(8), 0));
		ASSERT_EQ(base, iopt_account_user_locked(getuid()));
	}
	ASSERT_DONE(ioas_unmap(ctx, ioas_id, IOVA, P(8), NULL));
	ASSERT_DONE(test_check_refs(ctx, self->user, P(4), 0));
	uiommufd_ctx_close(ctx);
	ASSERT_EQ(base, iopt_account_user_locked(getuid()));
}

/*
 * Pinned memory is charged against the memlock limit like any other. Its
 * own context, with a domain so the pages are pinned at map time.
 */
TEST(memlock_limit)
{
	struct uiommufd_ctx_attr attr = {
		.size = sizeof(attr),
		.set = UIOMMUFD_ATTR_CAPS | UIOMMUFD_ATTR_MEMLOCK,
		.caps = 0,
		.memlock = P(4),
	};
	uint32_t ioas_id = 0, stdev, hwpt;
	int mfd = memfd_pat(P(NPAGES));
	struct uiommufd_ctx *ctx;
	int dfd;

	ASSERT_GE(mfd, 0);
	ctx = uiommufd_ctx_open_attr(&attr);
	ASSERT_NONNULL(ctx);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas_id));
	ASSERT_EQ(0, test_mock_domain(ctx, ioas_id, &stdev, &hwpt, NULL));
	ASSERT_FAIL(ENOMEM, map_file_at(ctx, ioas_id, mfd, 0, P(8),
					IOVA));
	ASSERT_EQ(0, nareas(ctx, ioas_id));
	ASSERT_DONE(map_file_at(ctx, ioas_id, mfd, 0, P(4), IOVA));
	/* A dma-buf pins nothing: no charge, no limit. */
	dfd = dmabuf_get(ctx, P(16), O_CLOEXEC);
	ASSERT_GE(dfd, 0);
	ASSERT_DONE(map_file_at(ctx, ioas_id, dfd, 0, P(16), IOVA + P(16)));
	ASSERT_EQ(0, uiommufd_fd_close(dfd));
	uiommufd_ctx_close(ctx);
	close(mfd);
}

/* ---- dma-bufs ---------------------------------------------------------- */

TEST_F(mf, dmabuf_get)
{
	struct uiommufd_ctx *ctx = self->ctx;
	struct stat st;
	int fd, fd2;

	/* The length rounds up to pages: 1 to 512 of them. */
	ASSERT_FAIL(EINVAL, dmabuf_get(ctx, 0, O_CLOEXEC));
	ASSERT_FAIL(EINVAL, dmabuf_get(ctx, P(512) + 1, O_CLOEXEC));
	ASSERT_FAIL(EINVAL, dmabuf_get(ctx, UINT32_MAX, O_CLOEXEC));
	ASSERT_EQ(self->dmabufs, iopt_dmabufs_live());
	fd = dmabuf_get(ctx, 1, O_CLOEXEC);
	ASSERT_GT(fd, 2);
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(P(1), st.st_size);
	ASSERT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD));
	ASSERT_TRUE(uiommufd_fd_owned(fd));
	ASSERT_EQ(self->dmabufs + 1, iopt_dmabufs_live());
	/* Without O_CLOEXEC, not close-on-exec; other bits are not refused. */
	fd2 = dmabuf_get(ctx, P(512), O_RDWR | O_NONBLOCK | 0x40000000);
	ASSERT_GT(fd2, 2);
	ASSERT_NE(fd, fd2);
	ASSERT_EQ(0, fcntl(fd2, F_GETFD));
	ASSERT_TRUE(fcntl(fd2, F_GETFL) & O_NONBLOCK);
	ASSERT_EQ(0, fstat(fd2, &st));
	ASSERT_EQ(P(512), st.st_size);
	ASSERT_EQ(0, uiommufd_fd_close(fd));
	ASSERT_EQ(0, uiommufd_fd_close(fd2));
	ASSERT_FALSE(uiommufd_fd_owned(fd));
	ASSERT_EQ(self->dmabufs, iopt_dmabufs_live());
}

/* Linux's dmabuf_simple: range checks against the buffer's size. */
TEST_F(mf, dmabuf_simple)
{
	struct uiommufd_ctx *ctx = self->ctx;
	uint64_t size = P(4), iova = 0;
	uint8_t *view;
	int dfd;

	dfd = dmabuf_get(ctx, size, O_CLOEXEC);
	ASSERT_GE(dfd, 0);
	ASSERT_FAIL(EINVAL, map_file(ctx, self->ioas_id, dfd, 0, 0, &iova,
				     MAP_R | MAP_W));
	ASSERT_FAIL(EINVAL, map_file(ctx, self->ioas_id, dfd, size, size,
				     &iova, MAP_R | MAP_W));
	ASSERT_FAIL(EINVAL, map_file(ctx, self->ioas_id, dfd, 0, size + 1,
				     &iova, MAP_R | MAP_W));
	ASSERT_EQ(0, nareas(ctx, self->ioas_id));
	iova = 0;
	ASSERT_DONE(map_file(ctx, self->ioas_id, dfd, 0, size, &iova,
			     MAP_R | MAP_W));
	ASSERT_NE(0, iova);
	/* Zeroed memory; uiommufd's (not the kernel's) can be looked at. */
	view = map_shared(dfd, size, PROT_READ);
	for (uint64_t i = 0; i != size; i++)
		ASSERT_EQ(0, view[i]);
	if (variant->domain)
		ASSERT_DONE(test_check_map(ctx, self->hwpt_id, iova, size,
					   view));
	/* A slice from inside a page. */
	iova = IOVA + 2048;
	ASSERT_DONE(map_file(ctx, self->ioas_id, dfd, P(1) + 2048,
			     P(2) - 2048, &iova, MAP_R | MAP_FIX));
	if (variant->domain)
		ASSERT_DONE(test_check_map(ctx, self->hwpt_id, IOVA + 2048,
					   P(2) - 2048, view + P(1) + 2048));
	/* Nothing pinned, nothing charged. */
	ASSERT_EQ(0, iopt_account_pinned());
	munmap(view, size);
	ASSERT_EQ(0, uiommufd_fd_close(dfd));
}

/*
 * Linux's dmabuf_revoke, and what it implies: the revocation unmaps the
 * buffer from every domain, the areas stay; a domain attached meanwhile
 * gets nothing; a revoked buffer does not map (ENODEV); given back it maps
 * again, in new areas only.
 */
TEST_F(mf, dmabuf_revoke)
{
	struct uiommufd_ctx *ctx = self->ctx;
	uint64_t size = P(4), iova = 0, iova2 = 0;
	uint32_t hwpt2 = 0, idev = 0, stdev, hwpt;
	uint8_t *view;
	int dfd;

	dfd = dmabuf_get(ctx, size, O_CLOEXEC);
	ASSERT_GE(dfd, 0);
	view = map_shared(dfd, size, PROT_READ);
	ASSERT_DONE(map_file(ctx, self->ioas_id, dfd, 0, size, &iova,
			     MAP_R | MAP_W));
	if (variant->domain)
		ASSERT_DONE(test_check_map(ctx, self->hwpt_id, iova, size,
					   view));
	ASSERT_DONE(dmabuf_revoke(ctx, dfd, 1));
	ASSERT_EQ(1, nareas(ctx, self->ioas_id));
	if (variant->domain) {
		ASSERT_FAIL(EINVAL, test_check_map(ctx, self->hwpt_id, iova,
						   MOCK_PAGE_SIZE, view));
		ASSERT_EQ(0, domain_pages(domain_of(ctx, self->hwpt_id)));
		/* A second domain on the IOAS maps nothing of it. */
		ASSERT_DONE(test_mock_domain(ctx, self->ioas_id, &stdev, &hwpt,
					     &idev));
		if (mf_hwpt_alloc(ctx, idev, self->ioas_id, &hwpt2) == 0)
			ASSERT_EQ(0, domain_pages(domain_of(ctx, hwpt2)));
		else
			TH_LOG("HWPT_ALLOC: %s, not checked", strerror(errno));
	}
	ASSERT_FAIL(ENODEV, map_file(ctx, self->ioas_id, dfd, 0, size, &iova2,
				     MAP_R | MAP_W));
	ASSERT_EQ(1, nareas(ctx, self->ioas_id));

	ASSERT_DONE(dmabuf_revoke(ctx, dfd, 0));
	ASSERT_DONE(map_file(ctx, self->ioas_id, dfd, 0, size, &iova2,
			     MAP_R | MAP_W));
	if (variant->domain) {
		ASSERT_DONE(test_check_map(ctx, self->hwpt_id, iova2, size,
					   view));
		if (hwpt2)
			ASSERT_DONE(test_check_map(ctx, hwpt2, iova2, size,
						   view));
		ASSERT_FAIL(EINVAL, test_check_map(ctx, self->hwpt_id, iova,
						   MOCK_PAGE_SIZE, view));
	}
	/* Restore the IOVA back. */
	ASSERT_DONE(ioas_unmap(ctx, self->ioas_id, iova, size, NULL));
	ASSERT_DONE(map_file_at(ctx, self->ioas_id, dfd, 0, size, iova));
	if (variant->domain)
		ASSERT_DONE(test_check_map(ctx, self->hwpt_id, iova, size,
					   view));
	if (hwpt2)
		ASSERT_DONE(ioctl_destroy(ctx, hwpt2));
	munmap(view, size);
	ASSERT_EQ(0, uiommufd_fd_close(dfd));
}

/*
 * The exporter tells importers of any change, and they take it as a
 * revocation: revoked = 0 on a live mapping unmaps it too, as in the
 * kernel; a copy into another IOAS goes the same way.
 */
TEST_F(mf, dmabuf_revoke_zero_revokes_mappings)
{
	struct uiommufd_ctx *ctx = self->ctx;
	uint32_t ioas2 = 0, stdev2, hwpt2 = 0;
	uint64_t iova = IOVA, iova2 = IOVA;
	int dfd;

	dfd = dmabuf_get(ctx, P(2), O_CLOEXEC);
	ASSERT_GE(dfd, 0);
	ASSERT_DONE(map_file_at(ctx, self->ioas_id, dfd, 0, P(2), iova));
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas2));
	ASSERT_EQ(0, test_mock_domain(ctx, ioas2, &stdev2, &hwpt2, NULL));
	ASSERT_DONE(ioas_copy(ctx, ioas2, self->ioas_id, iova, P(2), &iova2,
			      MAP_R | MAP_W | MAP_FIX));
	ASSERT_EQ(P(2) / MOCK_PAGE_SIZE, domain_pages(domain_of(ctx, hwpt2)));
	ASSERT_DONE(dmabuf_revoke(ctx, dfd, 0));
	ASSERT_EQ(0, domain_pages(domain_of(ctx, hwpt2)));
	if (variant->domain)
		ASSERT_EQ(0, domain_pages(domain_of(ctx, self->hwpt_id)));
	/* Not revoked at the exporter: a new mapping maps. */
	ASSERT_DONE(map_file_at(ctx, self->ioas_id, dfd, 0, P(2), IOVA + P(8)));
	ASSERT_EQ(0, uiommufd_fd_close(dfd));
}

/* A dma-buf of another exporter, which gives its memory to no importer. */
struct foreign {
	struct iopt_dmabuf dmabuf;
	int fd;
};

static int foreign_map(struct iopt_dmabuf *dmabuf, u64 *pfn)
{
	return err_reason(-EOPNOTSUPP, "not a dma-buf iommufd can take");
}

static void foreign_release(struct iopt_dmabuf *dmabuf)
{
	struct foreign *f = container_of(dmabuf, struct foreign, dmabuf);

	close(f->fd);
	free(f);
}

static const struct iopt_dmabuf_ops foreign_ops = {
	.map = foreign_map,
	.release = foreign_release,
};

TEST_F(mf, dmabuf_revoke_errors)
{
	struct uiommufd_ctx *ctx = self->ctx;
	struct foreign *foreign = calloc(1, sizeof(*foreign));
	int closed, afd = -1, ffd;

	/* dma_buf_get(): EBADF for no file, EINVAL for a file not a dma-buf. */
	ASSERT_FAIL(EBADF, dmabuf_revoke(ctx, -1, 1));
	closed = dmabuf_get(ctx, P(1), O_CLOEXEC);
	ASSERT_GE(closed, 0);
	ASSERT_EQ(0, uiommufd_fd_close(closed));
	ASSERT_FAIL(EBADF, dmabuf_revoke(ctx, closed, 1));
	ASSERT_FAIL(EINVAL, dmabuf_revoke(ctx, self->mfd, 1));
	ASSERT_FAIL(EINVAL, dmabuf_revoke(ctx, 0, 1));
	ASSERT_DONE(test_create_access(ctx, self->ioas_id, 0, &afd));
	ASSERT_FAIL(EINVAL, dmabuf_revoke(ctx, afd, 1));
	ASSERT_EQ(0, uiommufd_fd_close(afd));
	/*
	 * A dma-buf another exporter made: the test module cannot revoke
	 * it, and MAP_FILE gets what its exporter answers (the kernel's
	 * EOPNOTSUPP for a dma-buf neither the test module's nor VFIO's).
	 */
	ASSERT_NONNULL(foreign);
	foreign->fd = memfd_create("foreign", MFD_CLOEXEC);
	ASSERT_GE(foreign->fd, 0);
	iopt_dmabuf_init(&foreign->dmabuf, &foreign_ops, P(4));
	ASSERT_EQ(0, iopt_dmabuf_export(&foreign->dmabuf, foreign->fd));
	ffd = foreign->fd;
	ASSERT_FAIL(EOPNOTSUPP, dmabuf_revoke(ctx, ffd, 1));
	ASSERT_FAIL(EOPNOTSUPP, map_file_at(ctx, self->ioas_id, ffd, 0, P(1),
					    IOVA));
	ASSERT_FAIL(EINVAL, map_file_at(ctx, self->ioas_id, ffd, 0, P(5),
					IOVA));
	ASSERT_EQ(0, nareas(ctx, self->ioas_id));
	iopt_dmabuf_put(&foreign->dmabuf);
}

/* The buffer lives while a mapping holds it, every descriptor closed. */
TEST_F(mf, dmabuf_outlives_its_descriptor)
{
	struct uiommufd_ctx *ctx = self->ctx;
	int dfd, dup_fd;

	dfd = dmabuf_get(ctx, P(4), O_CLOEXEC);
	ASSERT_GE(dfd, 0);
	/* Any descriptor of the file names it. */
	dup_fd = fcntl(dfd, F_DUPFD_CLOEXEC, 100);
	ASSERT_GE(dup_fd, 100);
	ASSERT_DONE(map_file_at(ctx, self->ioas_id, dup_fd, 0, P(4), IOVA));
	ASSERT_DONE(dmabuf_revoke(ctx, dup_fd, 0));
	ASSERT_DONE(map_file_at(ctx, self->ioas_id, dfd, 0, P(4), IOVA + P(8)));
	close(dup_fd);
	ASSERT_EQ(0, uiommufd_fd_close(dfd));
	ASSERT_EQ(self->dmabufs + 1, iopt_dmabufs_live());
	if (variant->domain)
		ASSERT_EQ(P(4) / MOCK_PAGE_SIZE,
			  domain_pages(domain_of(ctx, self->hwpt_id)));
	ASSERT_DONE(ioas_unmap(ctx, self->ioas_id, IOVA + P(8), P(4), NULL));
	ASSERT_EQ(self->dmabufs + 1, iopt_dmabufs_live());
	ASSERT_DONE(ioas_unmap(ctx, self->ioas_id, IOVA, P(4), NULL));
	ASSERT_EQ(self->dmabufs, iopt_dmabufs_live());

	/* Closed behind the library's back, with a mapping: context close. */
	dfd = dmabuf_get(ctx, P(4), O_CLOEXEC);
	ASSERT_GE(dfd, 0);
	ASSERT_DONE(map_file_at(ctx, self->ioas_id, dfd, 0, P(4), IOVA));
	close(dfd);
	uiommufd_ctx_close(ctx);
	self->ctx = NULL;
	ASSERT_EQ(self->dmabufs, iopt_dmabufs_live());
}

/* Accesses cannot pin or copy a dma-buf (EINVAL, after protection). */
TEST_F(mf, dmabuf_no_access)
{
	struct uiommufd_ctx *ctx = self->ctx;
	uint8_t buf[16] = { 0 };
	uint32_t item;
	int dfd, afd = -1;

	dfd = dmabuf_get(ctx, P(2), O_CLOEXEC);
	ASSERT_GE(dfd, 0);
	ASSERT_DONE(map_file_at(ctx, self->ioas_id, dfd, 0, P(2), IOVA));
	ASSERT_DONE(test_create_access(
		ctx, self->ioas_id, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
		&afd));
	ASSERT_FAIL(EINVAL, test_access_pages(ctx, afd, IOVA, P(1), self->user,
					      0, &item));
	ASSERT_FAIL(EINVAL, test_access_rw(ctx, afd, IOVA + 8, buf, 8, 0));
	ASSERT_FAIL(EINVAL, test_access_rw(ctx, afd, IOVA + 8, buf, 8,
					   MOCK_ACCESS_RW_WRITE));
	ASSERT_FAIL(EINVAL, test_access_rw(ctx, afd, IOVA + P(1) - 8, buf, 16,
					   MOCK_ACCESS_RW_WRITE));
	/* Unmap with the access there: nothing of it was pinned. */
	ASSERT_DONE(ioas_unmap(ctx, self->ioas_id, IOVA, P(2), NULL));
	ASSERT_EQ(0, uiommufd_fd_close(afd));
	ASSERT_EQ(0, uiommufd_fd_close(dfd));
}

/* ---- what Linux 6.2 did not have --------------------------------------- */

TEST(not_in_6_2)
{
	struct uiommufd_ctx *ctx = ctx_open_as(UIOMMUFD_KERNEL_6_2, false, 0);
	struct iommu_test_cmd_v6_2 cmd;
	uint32_t ioas_id = 0;
	int mfd = memfd_pat(P(1));

	ASSERT_NONNULL(ctx);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas_id));
	ASSERT_FAIL(ENOTTY, map_file_at(ctx, ioas_id, mfd, 0, P(1), IOVA));
	for (uint32_t op = IOMMU_TEST_OP_DMABUF_GET;
	     op <= IOMMU_TEST_OP_DMABUF_REVOKE; op++) {
		memset(&cmd, 0, sizeof(cmd));
		cmd.size = IOMMU_TEST_CMD_V6_2_SIZE;
		cmd.op = op;
		ASSERT_FAIL(EOPNOTSUPP,
			    uiommufd_ioctl(ctx, IOMMU_TEST_CMD, &cmd));
	}
	uiommufd_ctx_close(ctx);
	close(mfd);
}

/* ---- fail-nth sweeps --------------------------------------------------- */

struct world {
	struct uiommufd_ctx *ctx;
	uint32_t ioas, stdev, hwpt, ioas2;
	int mfd, dfd, new_fd;
	uint64_t out;
	long live;
};

struct snap {
	uint64_t v[512];
	unsigned int n;
};

static void snap_put(struct snap *s, uint64_t v)
{
	ASSERT_LT(s->n, 512);
	s->v[s->n++] = v;
}

static int snap_map_cb(void *arg, uint64_t iova, uint64_t paddr, int prot)
{
	uint64_t *h = arg;

	h[0]++;
	h[1] = h[1] * 1099511628211ULL + (iova ^ (paddr << 1) ^ prot);
	return 0;
}

static void snap_iopt(struct snap *s, struct io_pagetable *iopt)
{
	struct iopt_area *area;

	for (area = iopt_area_iter_first(iopt, 0, U64_MAX); area;
	     area = iopt_area_iter_next(area, 0, U64_MAX)) {
		snap_put(s, iopt_area_iova(area));
		snap_put(s, iopt_area_last_iova(area));
		snap_put(s, area->iommu_prot);
		snap_put(s, area->page_offset);
		snap_put(s, area->pages ? area->pages->npinned : ~0ULL);
		snap_put(s, area->pages ? area->pages->refcount : ~0ULL);
		snap_put(s, area->storage_domain != NULL);
	}
	snap_put(s, iopt->iova_alignment);
	snap_put(s, iopt->next_domain_id);
}

static void snap_take(struct world *w, struct snap *s)
{
	struct iommufd_object *obj;
	uint64_t id, h[2];

	s->n = 0;
	index_store_for_each(&w->ctx->objects, id, obj) {
		snap_put(s, id);
		snap_put(s, obj->type);
		snap_put(s, atomic_load(&obj->users));
		if (obj->type == IOMMUFD_OBJ_IOAS)
			snap_iopt(s, &container_of(obj, struct iommufd_ioas,
						   obj)->iopt);
		if (obj->type == IOMMUFD_OBJ_HWPT_PAGING) {
			struct iommu_domain *d = container_of(
				obj, struct iommufd_hwpt_paging, common.obj)
				->domain;

			h[0] = h[1] = 0;
			snap_put(s, domain_pages(d));
			mock_domain_for_each(d, 0, U64_MAX, snap_map_cb, h);
			snap_put(s, h[0]);
			snap_put(s, h[1]);
		}
	}
	snap_put(s, iopt_account_pinned());
	snap_put(s, iopt_account_user_locked(getuid()));
	snap_put(s, iopt_account_process_locked());
	snap_put(s, iopt_dmabufs_live());
	snap_put(s, pfn_file_ids_live());
	for (int fd = 0; fd != NFDS; fd++)
		snap_put(s, (fcntl(fd, F_GETFD) != -1) |
				    uiommufd_fd_owned(fd) << 1);
	snap_put(s, mem_live_count());
}

/* Whether @a and @b agree; the first difference is logged if @loud. */
static bool snap_same(const struct snap *a, const struct snap *b,
		      const char *what, unsigned int nth, bool loud)
{
	if (a->n != b->n) {
		if (loud)
			TH_LOG("%s, nth %u: %u values, then %u", what, nth,
			       a->n, b->n);
		return false;
	}
	for (unsigned int i = 0; i != a->n; i++) {
		if (a->v[i] != b->v[i]) {
			if (loud)
				TH_LOG("%s, nth %u: value %u was %#llx, now %#llx",
				       what, nth, i,
				       (unsigned long long)a->v[i],
				       (unsigned long long)b->v[i]);
			return false;
		}
	}
	return true;
}

/*
 * The world: an IOAS with a mock device, a memfd area and a dma-buf area,
 * a second IOAS without a domain; the memfd and the dma-buf open.
 */
static void world_build(struct world *w, bool domain)
{
	memset(w, 0, sizeof(*w));
	w->new_fd = -1;
	w->live = mem_live_count();
	w->ctx = ctx_open_as(0, true, 0);
	ASSERT_NONNULL(w->ctx);
	ASSERT_EQ(0, ioas_alloc(w->ctx, &w->ioas));
	ASSERT_EQ(0, ioas_alloc(w->ctx, &w->ioas2));
	if (domain)
		ASSERT_EQ(0, test_mock_domain(w->ctx, w->ioas, &w->stdev,
					      &w->hwpt, NULL));
	w->mfd = memfd_pat(P(NPAGES));
	w->dfd = dmabuf_get(w->ctx, P(8), O_CLOEXEC);
	ASSERT_GE(w->dfd, 0);
	ASSERT_DONE(map_file_at(w->ctx, w->ioas, w->mfd, 0, P(4), IOVA));
	ASSERT_DONE(map_file_at(w->ctx, w->ioas, w->dfd, 0, P(4),
				IOVA + P(16)));
}

static void world_release(struct world *w)
{
	if (w->new_fd >= 0)
		ASSERT_EQ(0, uiommufd_fd_close(w->new_fd));
	ASSERT_EQ(0, uiommufd_fd_close(w->dfd));
	uiommufd_ctx_close(w->ctx);
	close(w->mfd);
	ASSERT_EQ(0, iopt_dmabufs_live());
	ASSERT_EQ(0, iopt_account_pinned());
	ASSERT_EQ(0, iopt_account_user_locked(getuid()));
	ASSERT_EQ(0, pfn_file_ids_live());
	ASSERT_EQ(w->live, mem_live_count());
}

struct sweep_op {
	const char *name;
	bool domain;
	bool never_fails;
	int (*run)(struct world *w);
};

static int run_map_memfd(struct world *w)
{
	uint64_t iova = 0;
	int rc = map_file(w->ctx, w->ioas, w->mfd, P(5) + 2048, P(6),
			  &iova, MAP_R | MAP_W);

	w->out = iova;
	return rc ? -errno : 0;
}

static int run_map_dmabuf(struct world *w)
{
	return map_file_at(w->ctx, w->ioas, w->dfd, P(2), P(6),
			   IOVA + P(32)) ? -errno : 0;
}

static int run_dmabuf_get(struct world *w)
{
	w->new_fd = dmabuf_get(w->ctx, P(3), O_CLOEXEC);
	return w->new_fd < 0 ? -errno : 0;
}

static int run_attach(struct world *w)
{
	uint32_t stdev, hwpt;

	return test_mock_domain(w->ctx, w->ioas, &stdev, &hwpt, NULL) ? -errno :
									 0;
}

static int run_copy(struct world *w)
{
	uint64_t iova = IOVA;

	return ioas_copy(w->ctx, w->ioas2, w->ioas, IOVA + P(16), P(4), &iova,
			 MAP_R | MAP_FIX) ? -errno : 0;
}

static int run_revoke(struct world *w)
{
	return dmabuf_revoke(w->ctx, w->dfd, 1) ? -errno : 0;
}

static int run_unmap_all(struct world *w)
{
	return ioas_unmap(w->ctx, w->ioas, 0, U64_MAX, NULL) ? -errno : 0;
}

static struct world sweep_world;
static struct snap before, after, ref_after;

static void sweep(const struct sweep_op *op)
{
	struct world *w = &sweep_world;
	unsigned int nth, failed = 0;
	uint64_t ref_out;
	bool fired = true;
	int rc;

	world_build(w, op->domain);
	snap_take(w, &before);
	ASSERT_EQ(0, op->run(w));
	ref_out = w->out;
	snap_take(w, &ref_after);
	ASSERT_FALSE(snap_same(&before, &ref_after, op->name, 0, false));
	world_release(w);

	for (nth = 1; fired; nth++) {
		world_build(w, op->domain);
		snap_take(w, &before);
		uiommufd_fail_nth_set(nth);
		rc = op->run(w);
		fired = !uiommufd_fail_nth_get();
		uiommufd_fail_nth_set(0);
		snap_take(w, &after);
		if (rc) {
			if (!uiommufd_last_reason())
				TH_LOG("%s, nth %u: %d, no reason", op->name,
				       nth, rc);
			ASSERT_FALSE(op->never_fails);
			ASSERT_TRUE(fired);
			ASSERT_NONNULL(uiommufd_last_reason());
			ASSERT_TRUE(rc == -ENOMEM || rc == -EFAULT);
			ASSERT_TRUE(snap_same(&before, &after, op->name, nth,
					      true));
			failed++;
		} else {
			ASSERT_TRUE(snap_same(&ref_after, &after, op->name,
					      nth, true));
			ASSERT_EQ(ref_out, w->out);
		}
		world_release(w);
		ASSERT_LT(nth, 5000);
	}
	TH_LOG("%s: %u fault points, %u failed it", op->name, nth - 2, failed);
	if (!op->never_fails)
		ASSERT_GT(failed, 0);
}

#define SWEEP(tname, ...)                                                  \
	TEST(fail_nth_##tname)                                              \
	{                                                                   \
		static const struct sweep_op op = { .name = #tname,         \
						    __VA_ARGS__ };          \
		sweep(&op);                                                 \
	}

SWEEP(map_memfd, .domain = true, .run = run_map_memfd)
SWEEP(map_memfd_no_domain, .domain = false, .run = run_map_memfd)
SWEEP(map_dmabuf, .domain = true, .run = run_map_dmabuf)
SWEEP(dmabuf_get, .domain = true, .run = run_dmabuf_get)
SWEEP(attach_over_file_and_dmabuf, .domain = false, .run = run_attach)
SWEEP(copy_dmabuf, .domain = false, .run = run_copy)
SWEEP(revoke, .domain = true, .never_fails = true, .run = run_revoke)
SWEEP(unmap_all, .domain = true, .never_fails = true, .run = run_unmap_all)
