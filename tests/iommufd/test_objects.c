// SPDX-License-Identifier: MIT
/*
 * The object layer of a context: object IDs, IOMMU_DESTROY ordering (EBUSY
 * while anything depends on an object), context close with everything
 * still live, the public access API, devices and HW pagetables of both
 * test-command generations (each in a context answering as its release:
 * Linux 6.2 for the 56-byte command, the newest for the 72-byte one),
 * VFIO_IOAS, IOMMU_OPTION, destroy races (pitfalls 5 and 20) and failed
 * responses (pitfalls 21, 22 and 25).
 *
 * Pin counts are per page and process wide: MD_CHECK_REFS on a fresh
 * context proves that a closed context let go of every page.
 */
#include <dirent.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "base/capability.h"
#include "iommufd/iommufd_utils.h"

#define BUF_PAGES 16
#define BUF_LEN (BUF_PAGES * TEST_PAGE_SIZE)
#define MAX_THREADS 8
#define NEEDS_PIN MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES
/*
 * Thread tests run for a scaled time but always do at least this much
 * (under valgrind one thread runs at a time and starts slowly).
 */
#define MIN_ROUNDS 50

_Static_assert(sizeof(struct iommu_test_cmd_v6_2) == IOMMU_TEST_CMD_V6_2_SIZE,
	       "the 6.2 test command is 56 bytes");
_Static_assert(sizeof(struct iommu_test_cmd) == IOMMU_TEST_CMD_SIZE,
	       "the newest test command is 72 bytes");

/* ---- helpers local to this suite ---- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* MOCK_DOMAIN with the 56-byte Linux 6.2 command (a 6.2 context only). */
static int mock_domain_v6_2(struct uiommufd_ctx *ctx, uint32_t pt_id,
			    uint32_t *dev_id, uint32_t *hwpt_id)
{
	struct iommu_test_cmd_v6_2 cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN,
		.id = pt_id,
	};
	int rc = uiommufd_ioctl(ctx, IOMMU_TEST_CMD, &cmd);

	if (rc)
		return rc;
	if (dev_id)
		*dev_id = cmd.mock_domain.out_device_id;
	if (hwpt_id)
		*hwpt_id = cmd.mock_domain.out_hwpt_id;
	return 0;
}

/*
 * A copy of @len bytes of @src in a read-only page: the library can read
 * the command but not write its answer back. Free with ro_free().
 */
static void *ro_copy(const void *src, size_t len)
{
	void *p = mmap(NULL, TEST_PAGE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memcpy(p, src, len);
	if (mprotect(p, TEST_PAGE_SIZE, PROT_READ)) {
		munmap(p, TEST_PAGE_SIZE);
		return NULL;
	}
	return p;
}

static void ro_free(void *p)
{
	if (p)
		munmap(p, TEST_PAGE_SIZE);
}

/* Descriptors open in this process, or -1. */
static int count_open_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!dir)
		return -1;
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	/* Not the one opendir() used. */
	return n - 1;
}

/* Whether any descriptor below 1024 is still held by the library. */
static int any_fd_owned(void)
{
	for (int fd = 0; fd != 1024; fd++)
		if (uiommufd_fd_owned(fd))
			return fd;
	return -1;
}

/* Pin counts of @buf read back through a new, empty context. */
static int fresh_check_refs(const void *buf, size_t len, uint32_t refs)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	int rc, err;

	if (!ctx)
		return -1;
	rc = test_check_refs(ctx, buf, len, refs);
	err = errno;
	uiommufd_ctx_close(ctx);
	errno = err;
	return rc;
}

/* An IOAS with @buf mapped at the start of the mock aperture. */
static int ioas_with_area(struct uiommufd_ctx *ctx, void *buf, size_t len,
			  uint32_t *ioas_id)
{
	uint64_t iova = MOCK_APERTURE_START;

	if (ioas_alloc(ctx, ioas_id))
		return -1;
	return ioas_map(ctx, *ioas_id, buf, len, &iova, MAP_FIXED_RW);
}

/*
 * The first ID in [1, @max] that names anything, or 0. Destroys what it
 * can on the way: only for the end of a test.
 */
static uint32_t leftover_id(struct uiommufd_ctx *ctx, uint32_t max)
{
	for (uint32_t id = 1; id <= max; id++)
		if (ioctl_destroy(ctx, id) != -1 || errno != ENOENT)
			return id;
	return 0;
}

/* ---- 1. IDs ---- */

TEST(ids_start_at_one_and_reuse_lowest_free)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	uint32_t id[5], again = 0;

	ASSERT_NE(NULL, ctx);
	for (unsigned int i = 0; i != 5; i++) {
		ASSERT_EQ(0, ioas_alloc(ctx, &id[i]));
		ASSERT_EQ(i + 1, id[i]);
	}
	ASSERT_EQ(0, ioctl_destroy(ctx, 2));
	ASSERT_EQ(0, ioctl_destroy(ctx, 4));
	EXPECT_ERRNO(ENOENT, ioctl_destroy(ctx, 2));
	ASSERT_EQ(0, ioas_alloc(ctx, &again));
	ASSERT_EQ(2, again);
	ASSERT_EQ(0, ioas_alloc(ctx, &again));
	ASSERT_EQ(4, again);
	ASSERT_EQ(0, ioas_alloc(ctx, &again));
	ASSERT_EQ(6, again);
	/* ID 0 never names anything. */
	EXPECT_ERRNO(ENOENT, ioctl_destroy(ctx, 0));
	EXPECT_ERRNO(ENOENT, ioctl_destroy(ctx, 7));
	EXPECT_ERRNO(ENOENT, ioctl_destroy(ctx, UINT32_MAX));
	uiommufd_ctx_close(ctx);
}

TEST(ids_are_per_context)
{
	struct uiommufd_ctx *a = uiommufd_ctx_open(0);
	struct uiommufd_ctx *b = uiommufd_ctx_open(0);
	uint32_t ia = 0, ib = 0, ia2 = 0;

	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	ASSERT_EQ(0, ioas_alloc(a, &ia));
	ASSERT_EQ(0, ioas_alloc(b, &ib));
	ASSERT_EQ(1, ia);
	ASSERT_EQ(1, ib);
	ASSERT_EQ(0, ioas_alloc(a, &ia2));
	ASSERT_EQ(2, ia2);
	/* b has no ID 2; destroying b's 1 leaves a's 1 alone. */
	EXPECT_ERRNO(ENOENT, ioctl_destroy(b, 2));
	ASSERT_EQ(0, ioctl_destroy(b, 1));
	ASSERT_EQ(0, ioctl_option(a, IOMMU_OPTION_HUGE_PAGES,
				  IOMMU_OPTION_OP_GET, 1, NULL));
	EXPECT_ERRNO(ENOENT, ioctl_option(b, IOMMU_OPTION_HUGE_PAGES,
					  IOMMU_OPTION_OP_GET, 1, NULL));
	uiommufd_ctx_close(b);
	ASSERT_EQ(0, ioctl_destroy(a, 1));
	ASSERT_EQ(0, ioctl_destroy(a, 2));
	uiommufd_ctx_close(a);
}

TEST(ids_failed_alloc_takes_no_id)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	struct iommu_ioas_alloc *ro;
	uint32_t id = 0;

	ASSERT_NE(NULL, ctx);
	ASSERT_EQ(0, ioas_alloc(ctx, &id));
	ASSERT_EQ(1, id);
	ro = ro_copy(&cmd, sizeof(cmd));
	ASSERT_NE(NULL, ro);
	for (int i = 0; i != 3; i++)
		EXPECT_ERRNO(EFAULT, uiommufd_ioctl(ctx, IOMMU_IOAS_ALLOC, ro));
	ro_free(ro);
	/* Nothing was published under 2, and 2 is still the next ID. */
	EXPECT_ERRNO(ENOENT, ioctl_destroy(ctx, 2));
	ASSERT_EQ(0, ioas_alloc(ctx, &id));
	ASSERT_EQ(2, id);
	/* The harness proves the failed IOASes were freed. */
	uiommufd_ctx_close(ctx);
}

/* ---- 2. destroy ordering ---- */

TEST(destroy_ioas_busy_with_device_newest)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	uint32_t ioas = 0, stdev = 0, hwpt = 0, idev = 0;
	char *buf = test_buffer(BUF_LEN);

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ioas_with_area(ctx, buf, BUF_LEN, &ioas));
	ASSERT_EQ(0, test_mock_domain(ctx, ioas, &stdev, &hwpt, &idev));
	ASSERT_NE(0, stdev);
	ASSERT_NE(0, hwpt);
	ASSERT_NE(0, idev);
	ASSERT_NE(stdev, hwpt);
	ASSERT_NE(stdev, idev);
	ASSERT_NE(hwpt, idev);
	ASSERT_NE(ioas, hwpt);

	EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, ioas));
	EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, hwpt));
	/* The idev is the stdev's: never destroyable on its own. */
	EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, idev));
	EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, idev));
	/* A refused destroy changes nothing. */
	ASSERT_EQ(0, test_check_map(ctx, hwpt, MOCK_APERTURE_START, BUF_LEN,
				    buf));
	ASSERT_EQ(0, test_check_refs(ctx, buf, BUF_LEN, 1));

	ASSERT_EQ(0, ioctl_destroy(ctx, stdev));
	EXPECT_ERRNO(ENOENT, ioctl_destroy(ctx, stdev));
	EXPECT_ERRNO(ENOENT, ioctl_destroy(ctx, idev));
	EXPECT_ERRNO(ENOENT, ioctl_destroy(ctx, hwpt));
	EXPECT_ERRNO(ENOENT, test_check_map(ctx, hwpt, MOCK_APERTURE_START,
					    BUF_LEN, buf));
	ASSERT_EQ(0, test_check_refs(ctx, buf, BUF_LEN, 0));
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas));
	uiommufd_ctx_close(ctx);
	munmap(buf, BUF_LEN);
}

TEST(destroy_two_devices_share_auto_hwpt)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	uint32_t ioas = 0, stdev1 = 0, hwpt1 = 0, idev1 = 0, stdev2 = 0,
		 hwpt2 = 0, idev2 = 0;
	char *buf = test_buffer(BUF_LEN);

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ioas_with_area(ctx, buf, BUF_LEN, &ioas));
	ASSERT_EQ(0, test_mock_domain(ctx, ioas, &stdev1, &hwpt1, &idev1));
	ASSERT_EQ(0, test_mock_domain(ctx, ioas, &stdev2, &hwpt2, &idev2));
	ASSERT_EQ(hwpt1, hwpt2);
	ASSERT_NE(stdev1, stdev2);
	ASSERT_NE(idev1, idev2);
	/* One domain, so one pin per page. */
	ASSERT_EQ(0, test_check_refs(ctx, buf, BUF_LEN, 1));

	ASSERT_EQ(0, ioctl_destroy(ctx, stdev1));
	EXPECT_ERRNO(ENOENT, ioctl_destroy(ctx, idev1));
	/* The second device still holds the shared HW pagetable. */
	EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, hwpt1));
	EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, ioas));
	ASSERT_EQ(0, test_check_map(ctx, hwpt1, MOCK_APERTURE_START, BUF_LEN,
				    buf));
	ASSERT_EQ(0, ioctl_destroy(ctx, stdev2));
	EXPECT_ERRNO(ENOENT, ioctl_destroy(ctx, hwpt1));
	ASSERT_EQ(0, test_check_refs(ctx, buf, BUF_LEN, 0));
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas));
	uiommufd_ctx_close(ctx);
	munmap(buf, BUF_LEN);
}

TEST(destroy_mock_domain_on_hwpt_id)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	uint32_t ioas = 0, stdev1 = 0, hwpt1 = 0, stdev2 = 0, hwpt2 = 0,
		 idev2 = 0;
	char *buf = test_buffer(BUF_LEN);

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ioas_with_area(ctx, buf, BUF_LEN, &ioas));
	ASSERT_EQ(0, test_mock_domain(ctx, ioas, &stdev1, &hwpt1, NULL));
	/* Attaching to the HW pagetable's own ID reuses it. */
	ASSERT_EQ(0, test_mock_domain(ctx, hwpt1, &stdev2, &hwpt2, &idev2));
	ASSERT_EQ(hwpt1, hwpt2);
	ASSERT_EQ(0, ioctl_destroy(ctx, stdev1));
	EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, hwpt1));
	ASSERT_EQ(0, test_check_map(ctx, hwpt1, MOCK_APERTURE_START, BUF_LEN,
				    buf));
	ASSERT_EQ(0, ioctl_destroy(ctx, stdev2));
	EXPECT_ERRNO(ENOENT, ioctl_destroy(ctx, hwpt1));
	/* Neither an IOAS nor a HW pagetable: ID 0 and a gone ID. */
	EXPECT_ERRNO(ENOENT, test_mock_domain(ctx, 0, NULL, NULL, NULL));
	EXPECT_ERRNO(ENOENT, test_mock_domain(ctx, hwpt1, NULL, NULL, NULL));
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas));
	uiommufd_ctx_close(ctx);
	ASSERT_EQ(0, fresh_check_refs(buf, BUF_LEN, 0));
	munmap(buf, BUF_LEN);
}

TEST(destroy_v6_2_layout_hwpt_outlives_device)
{
	struct uiommufd_ctx *ctx = ctx_open_as(UIOMMUFD_KERNEL_6_2, false, 0);
	uint32_t ioas = 0, dev = 0, hwpt = 0, dev2 = 0, hwpt2 = 0;
	char *buf = test_buffer(BUF_LEN);

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ioas_with_area(ctx, buf, BUF_LEN, &ioas));
	ASSERT_EQ(0, mock_domain_v6_2(ctx, ioas, &dev, &hwpt));
	ASSERT_NE(0, dev);
	ASSERT_NE(0, hwpt);
	ASSERT_NE(dev, hwpt);
	ASSERT_EQ(0, test_check_map(ctx, hwpt, MOCK_APERTURE_START, BUF_LEN,
				    buf));
	/* Each 6.2 MOCK_DOMAIN gets a HW pagetable of its own. */
	ASSERT_EQ(0, mock_domain_v6_2(ctx, ioas, &dev2, &hwpt2));
	ASSERT_NE(hwpt, hwpt2);

	EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, ioas));
	EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, hwpt));
	/* As Linux 6.2's tests: device first, then its HW pagetable. */
	ASSERT_EQ(0, ioctl_destroy(ctx, dev));
	/* The HW pagetable stays, and so the IOAS stays busy. */
	EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, ioas));
	ASSERT_EQ(0, test_check_map(ctx, hwpt, MOCK_APERTURE_START, BUF_LEN,
				    buf));
	ASSERT_EQ(0, ioctl_destroy(ctx, hwpt));
	EXPECT_ERRNO(ENOENT, ioctl_destroy(ctx, hwpt));
	EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, ioas));
	ASSERT_EQ(0, ioctl_destroy(ctx, dev2));
	EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, ioas));
	ASSERT_EQ(0, ioctl_destroy(ctx, hwpt2));
	ASSERT_EQ(0, test_check_refs(ctx, buf, BUF_LEN, 0));
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas));
	uiommufd_ctx_close(ctx);
	munmap(buf, BUF_LEN);
}

/*
 * Linux 6.2's MOCK_DOMAIN looked its ID up as an IOAS: a HW pagetable's ID
 * is ENOENT, in either command size (72 bytes with a zero tail is the
 * 56-byte command), and creates nothing. An IOAS attach never picks an
 * existing HW pagetable, each of which stays after its last device.
 */
TEST(destroy_v6_2_hwpt_not_shared_by_id)
{
	struct uiommufd_ctx *ctx = ctx_open_as(UIOMMUFD_KERNEL_6_2, false, 0);
	uint32_t ioas = 0, dev = 0, hwpt = 0, stdev3 = 0, hwpt3 = 0,
		 idev3 = 0xdead;
	char *buf = test_buffer(BUF_LEN);

	ASSERT_NE(NULL, ctx);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ioas_with_area(ctx, buf, BUF_LEN, &ioas));
	ASSERT_EQ(0, mock_domain_v6_2(ctx, ioas, &dev, &hwpt));
	EXPECT_ERRNO(ENOENT, mock_domain_v6_2(ctx, hwpt, NULL, NULL));
	EXPECT_ERRNO(ENOENT, test_mock_domain(ctx, hwpt, NULL, NULL, NULL));
	/* Nothing was made: the next ID is the one after hwpt's. */
	EXPECT_ERRNO(ENOENT, ioctl_destroy(ctx, hwpt + 1));
	/* The 72-byte command; out_idev_id is not 6.2's, so not written. */
	{
		struct iommu_test_cmd cmd;

		test_cmd_init(&cmd, IOMMU_TEST_OP_MOCK_DOMAIN, ioas);
		cmd.mock_domain.out_idev_id = idev3;
		ASSERT_EQ(0, test_cmd(ctx, &cmd));
		stdev3 = cmd.mock_domain.out_stdev_id;
		hwpt3 = cmd.mock_domain.out_hwpt_id;
		ASSERT_EQ(0xdead, cmd.mock_domain.out_idev_id);
	}
	ASSERT_EQ(hwpt + 1, stdev3);
	ASSERT_NE(hwpt, hwpt3);
	ASSERT_NE(0, hwpt3);
	ASSERT_EQ(0, ioctl_destroy(ctx, dev));
	/* Not auto: it stays after its last device. */
	ASSERT_EQ(0, test_check_map(ctx, hwpt, MOCK_APERTURE_START, BUF_LEN,
				    buf));
	ASSERT_EQ(0, ioctl_destroy(ctx, stdev3));
	ASSERT_EQ(0, test_check_map(ctx, hwpt3, MOCK_APERTURE_START, BUF_LEN,
				    buf));
	EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, ioas));
	ASSERT_EQ(0, ioctl_destroy(ctx, hwpt3));
	EXPECT_ERRNO(ENOENT, ioctl_destroy(ctx, hwpt3));
	EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, ioas));
	ASSERT_EQ(0, ioctl_destroy(ctx, hwpt));
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas));
	uiommufd_ctx_close(ctx);
	ASSERT_EQ(0, fresh_check_refs(buf, BUF_LEN, 0));
	munmap(buf, BUF_LEN);
}

TEST(destroy_ioas_with_areas_only)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	char *buf = test_buffer(BUF_LEN);
	uint64_t iova = 0;
	uint32_t ioas = 0, ioas2 = 0;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, ioas_map(ctx, ioas, buf, BUF_LEN, &iova, MAP_RW));
	ASSERT_EQ(0, ioas_map(ctx, ioas, buf + 100, 1000, NULL, MAP_RW));
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas2));
	ASSERT_EQ(0, ioas_copy(ctx, ioas2, ioas, iova, BUF_LEN, NULL, MAP_RW));
	/* No domain and no access: nothing is pinned. */
	ASSERT_EQ(0, test_check_refs(ctx, buf, BUF_LEN, 0));
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas));
	EXPECT_ERRNO(ENOENT, ioas_unmap(ctx, ioas, 0, UINT64_MAX, NULL));
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas2));
	ASSERT_EQ(0, test_check_refs(ctx, buf, BUF_LEN, 0));
	uiommufd_ctx_close(ctx);
	munmap(buf, BUF_LEN);
}

TEST(destroy_ioas_busy_with_access_fd)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	char *buf = test_buffer(BUF_LEN);
	uint64_t iova = 0;
	uint32_t ioas = 0, item = 0;
	int afd = -1;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, ioas_map(ctx, ioas, buf, BUF_LEN, &iova, MAP_RW));
	ASSERT_EQ(0, test_create_access(ctx, ioas, NEEDS_PIN, &afd));
	ASSERT_TRUE(uiommufd_fd_owned(afd));
	EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, ioas));
	ASSERT_EQ(0, test_access_pages(ctx, afd, iova, 2 * TEST_PAGE_SIZE, buf,
				       0, &item));
	ASSERT_EQ(0, test_check_refs(ctx, buf, 2 * TEST_PAGE_SIZE, 1));
	EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, ioas));
	ASSERT_EQ(0, uiommufd_fd_close(afd));
	ASSERT_FALSE(uiommufd_fd_owned(afd));
	ASSERT_EQ(0, test_check_refs(ctx, buf, BUF_LEN, 0));
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas));
	uiommufd_ctx_close(ctx);
	munmap(buf, BUF_LEN);
}

static void noop_unmap(void *data, uint64_t iova, uint64_t length)
{
}

TEST(destroy_ioas_busy_with_public_access)
{
	const struct uiommufd_access_ops ops = {
		.flags = UIOMMUFD_ACCESS_NEEDS_PIN_PAGES,
		.unmap = noop_unmap,
	};
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	struct uiommufd_access *access;
	uint32_t ioas = 0, ioas2 = 0, access_id = 0;

	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	access = uiommufd_access_create(ctx, ioas, &ops, NULL, &access_id);
	ASSERT_NE(NULL, access);
	ASSERT_NE(0, access_id);
	ASSERT_NE(ioas, access_id);
	EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, ioas));
	/* The access is its creator's: IOMMU_DESTROY cannot take it. */
	EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, access_id));
	EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, access_id));
	/* Its ID is taken: the next object gets another. */
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas2));
	ASSERT_NE(access_id, ioas2);
	uiommufd_access_destroy(access);
	EXPECT_ERRNO(ENOENT, ioctl_destroy(ctx, access_id));
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas));
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas2));
	uiommufd_ctx_close(ctx);
}

/* ---- 3. context close with everything live ---- */

struct pub_access {
	struct uiommufd_access *access;
	uint64_t iova, length;
	bool pinned;
	unsigned int calls;
	int unpin_rc;
};

static void pub_unmap(void *data, uint64_t iova, uint64_t length)
{
	struct pub_access *pa = data;

	pa->calls++;
	if (pa->pinned && iova <= pa->iova + pa->length - 1 &&
	    pa->iova <= iova + length - 1) {
		pa->pinned = false;
		pa->unpin_rc = uiommufd_access_unpin_pages(pa->access, pa->iova,
							   pa->length);
	}
}

FIXTURE(close_shape)
{
	struct uiommufd_ctx *ctx;
	char *buf;
	int afd[4];
	struct pub_access pub[2];
};

FIXTURE_VARIANT(close_shape)
{
	uint32_t kernel;		/* the context's release (0: newest) */
	unsigned int nr_ioas;
	unsigned int nr_devices;	/* newest layout (72 bytes), per IOAS */
	unsigned int nr_v6_2;		/* 6.2 layout, per IOAS: 6.2 only */
	bool copy;			/* copy IOAS 0 into every other */
	unsigned int nr_access_fds;	/* on IOAS 0, each pinning */
	unsigned int nr_public;		/* on the last IOAS, pinning */
	bool accesses_after_ctx;	/* close the accesses after the ctx */
};

FIXTURE_VARIANT_ADD(close_shape, areas_only)
{
	.nr_ioas = 1,
};

FIXTURE_VARIANT_ADD(close_shape, several_ioas)
{
	.nr_ioas = 4,
};

FIXTURE_VARIANT_ADD(close_shape, several_devices)
{
	.nr_ioas = 2, .nr_devices = 3,
};

FIXTURE_VARIANT_ADD(close_shape, v6_2_hwpts)
{
	.kernel = UIOMMUFD_KERNEL_6_2, .nr_ioas = 2, .nr_v6_2 = 2,
};

/* Under 6.2 the 72-byte command too gives each device its own. */
FIXTURE_VARIANT_ADD(close_shape, v6_2_several_devices)
{
	.kernel = UIOMMUFD_KERNEL_6_2, .nr_ioas = 2, .nr_devices = 2,
	.nr_v6_2 = 1,
};

FIXTURE_VARIANT_ADD(close_shape, copies)
{
	.nr_ioas = 3, .nr_devices = 1, .copy = true,
};

FIXTURE_VARIANT_ADD(close_shape, access_fds_closed_first)
{
	.nr_ioas = 2, .nr_devices = 1, .nr_access_fds = 2,
};

FIXTURE_VARIANT_ADD(close_shape, access_fds_outlive_ctx)
{
	.nr_ioas = 2, .nr_devices = 2, .copy = true,
	.nr_access_fds = 3, .accesses_after_ctx = true,
};

FIXTURE_VARIANT_ADD(close_shape, access_fds_outlive_ctx_v6_2)
{
	.kernel = UIOMMUFD_KERNEL_6_2, .nr_ioas = 2, .nr_devices = 1,
	.nr_v6_2 = 1, .copy = true, .nr_access_fds = 3,
	.accesses_after_ctx = true,
};

FIXTURE_VARIANT_ADD(close_shape, public_access_outlives_ctx)
{
	.nr_ioas = 2, .nr_devices = 2, .copy = true, .nr_public = 2,
	.accesses_after_ctx = true,
};

FIXTURE_VARIANT_ADD(close_shape, everything)
{
	.nr_ioas = 3, .nr_devices = 3, .copy = true,
	.nr_access_fds = 2, .nr_public = 2, .accesses_after_ctx = true,
};

FIXTURE_VARIANT_ADD(close_shape, everything_v6_2)
{
	.kernel = UIOMMUFD_KERNEL_6_2, .nr_ioas = 3, .nr_devices = 2,
	.nr_v6_2 = 1, .copy = true, .nr_access_fds = 2, .nr_public = 2,
	.accesses_after_ctx = true,
};

FIXTURE_SETUP(close_shape)
{
	/* One release per context, as one kernel answers a process. */
	self->ctx = ctx_open_as(variant->kernel, false, 0);
	ASSERT_NE(NULL, self->ctx);
	self->buf = test_buffer(BUF_LEN);
	ASSERT_NE(NULL, self->buf);
	memset(self->buf, 0xa5, BUF_LEN);
	for (unsigned int i = 0; i != 4; i++)
		self->afd[i] = -1;
}

FIXTURE_TEARDOWN(close_shape)
{
	/* Only an aborted body leaves anything here. */
	for (unsigned int i = 0; i != 4; i++)
		if (self->afd[i] >= 0)
			uiommufd_fd_close(self->afd[i]);
	for (unsigned int i = 0; i != 2; i++)
		uiommufd_access_destroy(self->pub[i].access);
	uiommufd_ctx_close(self->ctx);
	if (self->buf)
		munmap(self->buf, BUF_LEN);
}

TEST_F(close_shape, nothing_left)
{
	const struct uiommufd_access_ops ops = {
		.flags = UIOMMUFD_ACCESS_NEEDS_PIN_PAGES,
		.unmap = pub_unmap,
	};
	struct uiommufd_ctx *ctx = self->ctx, *ctx2;
	uint32_t ioas[4], last = 0, id = 0;
	uint64_t iova[4];
	char rd[32];

	ASSERT_LE(variant->nr_ioas, 4);
	/* The 56-byte command is 6.2's (below 7.2's minimum). */
	ASSERT_TRUE(!variant->nr_v6_2 ||
		    variant->kernel == UIOMMUFD_KERNEL_6_2);
	for (unsigned int i = 0; i != variant->nr_ioas; i++) {
		ASSERT_EQ(0, ioas_alloc(ctx, &ioas[i]));
		iova[i] = MOCK_APERTURE_START;
		ASSERT_EQ(0, ioas_map(ctx, ioas[i], self->buf, BUF_LEN,
				      &iova[i], MAP_FIXED_RW));
		for (unsigned int d = 0; d != variant->nr_devices; d++)
			ASSERT_EQ(0, test_mock_domain(ctx, ioas[i], NULL,
						      NULL, NULL));
		for (unsigned int d = 0; d != variant->nr_v6_2; d++)
			ASSERT_EQ(0, mock_domain_v6_2(ctx, ioas[i], NULL,
						      NULL));
	}
	last = ioas[variant->nr_ioas - 1];
	if (variant->copy) {
		for (unsigned int i = 1; i < variant->nr_ioas; i++) {
			uint64_t dst = 0;

			/* Lands past the IOAS's own map of the buffer. */
			ASSERT_EQ(0, ioas_copy(ctx, ioas[i], ioas[0], iova[0],
					       BUF_LEN, &dst, MAP_RW));
			ASSERT_NE(iova[i], dst);
		}
	}
	for (unsigned int a = 0; a != variant->nr_access_fds; a++) {
		ASSERT_EQ(0, test_create_access(ctx, ioas[0], NEEDS_PIN,
						&self->afd[a]));
		ASSERT_EQ(0, test_access_pages(ctx, self->afd[a],
					       iova[0] + a * TEST_PAGE_SIZE,
					       TEST_PAGE_SIZE,
					       self->buf + a * TEST_PAGE_SIZE,
					       MOCK_FLAGS_ACCESS_WRITE, NULL));
	}
	for (unsigned int a = 0; a != variant->nr_public; a++) {
		struct pub_access *pa = &self->pub[a];

		pa->access = uiommufd_access_create(ctx, last, &ops, pa, NULL);
		ASSERT_NE(NULL, pa->access);
		pa->iova = iova[variant->nr_ioas - 1] +
			   (a + 4) * TEST_PAGE_SIZE;
		pa->length = 2 * TEST_PAGE_SIZE;
		ASSERT_EQ(0, uiommufd_access_pin_pages(pa->access, pa->iova,
						       pa->length, NULL, NULL,
						       0));
		pa->pinned = true;
	}
	/* Some page is pinned: the check for 0 everywhere fails. */
	if (variant->nr_access_fds || variant->nr_public ||
	    variant->nr_devices || variant->nr_v6_2)
		ASSERT_ERRNO(EIO, test_check_refs(ctx, self->buf, BUF_LEN, 0));

	if (!variant->accesses_after_ctx) {
		for (unsigned int a = 0; a != 4; a++) {
			if (self->afd[a] < 0)
				continue;
			ASSERT_EQ(0, uiommufd_fd_close(self->afd[a]));
			self->afd[a] = -1;
		}
		for (unsigned int a = 0; a != 2; a++) {
			uiommufd_access_destroy(self->pub[a].access);
			self->pub[a].access = NULL;
		}
	}
	uiommufd_ctx_close(ctx);
	self->ctx = NULL;

	/* The accesses kept the context, its IOAS and their pins alive. */
	ctx2 = ctx_open_as(variant->kernel, false, 0);
	ASSERT_NE(NULL, ctx2);
	for (unsigned int a = 0; a != 4; a++) {
		if (self->afd[a] < 0)
			continue;
		memset(rd, 0, sizeof(rd));
		ASSERT_EQ(0, test_access_rw(ctx2, self->afd[a], iova[0] + 8,
					    rd, sizeof(rd), 0));
		ASSERT_EQ((char)0xa5, rd[0]);
		/* Still pinned (by the access, maybe by domains too). */
		ASSERT_ERRNO(EIO, test_check_refs(ctx2, self->buf +
							  a * TEST_PAGE_SIZE,
						  TEST_PAGE_SIZE, 0));
		ASSERT_EQ(0, uiommufd_fd_close(self->afd[a]));
		self->afd[a] = -1;
	}
	for (unsigned int a = 0; a != 2; a++) {
		struct pub_access *pa = &self->pub[a];

		if (!pa->access)
			continue;
		memset(rd, 0, sizeof(rd));
		ASSERT_EQ(0, uiommufd_access_rw(pa->access, pa->iova, rd,
						sizeof(rd), 0));
		ASSERT_EQ((char)0xa5, rd[5]);
		uiommufd_access_destroy(pa->access);
		pa->access = NULL;
	}
	uiommufd_ctx_close(ctx2);

	ASSERT_EQ(0, fresh_check_refs(self->buf, BUF_LEN, 0));
	/* A new context starts over at ID 1. */
	ctx2 = uiommufd_ctx_open(0);
	ASSERT_EQ(0, ioas_alloc(ctx2, &id));
	ASSERT_EQ(1, id);
	uiommufd_ctx_close(ctx2);
}

TEST(close_access_fd_keeps_ctx_alive)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0), *ctx2;
	char *buf = test_buffer(BUF_LEN);
	uint64_t iova = 0;
	uint32_t ioas = 0, item = 0;
	char wr[16] = "through the fd", rd[16] = "";
	int afd = -1;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, ioas_map(ctx, ioas, buf, BUF_LEN, &iova, MAP_RW));
	ASSERT_EQ(0, test_create_access(ctx, ioas, NEEDS_PIN, &afd));
	ASSERT_EQ(0, test_access_pages(ctx, afd, iova, 3 * TEST_PAGE_SIZE, buf,
				       0, &item));
	uiommufd_ctx_close(ctx);

	/* The access, its IOAS and the area are all still there. */
	ctx2 = uiommufd_ctx_open(0);
	ASSERT_TRUE(uiommufd_fd_owned(afd));
	ASSERT_EQ(0, test_check_refs(ctx2, buf, 3 * TEST_PAGE_SIZE, 1));
	ASSERT_EQ(0, test_access_rw(ctx2, afd, iova + 4000, wr, sizeof(wr),
				    MOCK_ACCESS_RW_WRITE));
	ASSERT_EQ(0, memcmp(buf + 4000, wr, sizeof(wr)));
	ASSERT_EQ(0, test_access_rw(ctx2, afd, iova + 4000, rd, sizeof(rd),
				    0));
	ASSERT_EQ(0, memcmp(rd, wr, sizeof(wr)));
	ASSERT_EQ(0, test_destroy_access_pages(ctx2, afd, item));
	ASSERT_EQ(0, test_check_refs(ctx2, buf, BUF_LEN, 0));
	ASSERT_EQ(0, test_access_pages(ctx2, afd, iova, TEST_PAGE_SIZE, buf, 0,
				       NULL));
	ASSERT_EQ(0, uiommufd_fd_close(afd));
	ASSERT_FALSE(uiommufd_fd_owned(afd));
	EXPECT_ERRNO(EBADFD, test_access_rw(ctx2, afd, iova, rd, 1, 0));
	ASSERT_EQ(0, test_check_refs(ctx2, buf, BUF_LEN, 0));
	uiommufd_ctx_close(ctx2);
	munmap(buf, BUF_LEN);
}

TEST(close_access_fd_then_ctx)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	char *buf = test_buffer(BUF_LEN);
	uint64_t iova = 0;
	uint32_t ioas = 0;
	int afd = -1, afd2 = -1;

	ASSERT_NE(NULL, buf);
	iova = MOCK_APERTURE_START;
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, ioas_map(ctx, ioas, buf, BUF_LEN, &iova, MAP_FIXED_RW));
	ASSERT_EQ(0, test_mock_domain(ctx, ioas, NULL, NULL, NULL));
	ASSERT_EQ(0, test_create_access(ctx, ioas, NEEDS_PIN, &afd));
	ASSERT_EQ(0, test_create_access(ctx, ioas, 0, &afd2));
	ASSERT_NE(afd, afd2);
	ASSERT_EQ(0, test_access_pages(ctx, afd, iova, BUF_LEN, buf, 0, NULL));
	ASSERT_EQ(0, uiommufd_fd_close(afd));
	ASSERT_EQ(0, uiommufd_fd_close(afd2));
	/* The domain still pins them once. */
	ASSERT_EQ(0, test_check_refs(ctx, buf, BUF_LEN, 1));
	EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, ioas));
	uiommufd_ctx_close(ctx);
	ASSERT_EQ(0, fresh_check_refs(buf, BUF_LEN, 0));
	munmap(buf, BUF_LEN);
}

TEST(close_plain_closed_access_fd_next_command)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	char *buf = test_buffer(BUF_LEN);
	uint64_t iova = 0;
	uint32_t ioas = 0;
	char rd[8];
	int afd = -1;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, ioas_map(ctx, ioas, buf, BUF_LEN, &iova, MAP_RW));
	ASSERT_EQ(0, test_create_access(ctx, ioas, NEEDS_PIN, &afd));
	ASSERT_EQ(0, test_access_pages(ctx, afd, iova, 4 * TEST_PAGE_SIZE, buf,
				       0, NULL));
	ASSERT_EQ(0, close(afd));
	/* Naming it notices the close, and releases the access. */
	EXPECT_ERRNO(EBADFD, test_access_rw(ctx, afd, iova, rd, sizeof(rd), 0));
	ASSERT_FALSE(uiommufd_fd_owned(afd));
	ASSERT_EQ(0, test_check_refs(ctx, buf, BUF_LEN, 0));
	EXPECT_ERRNO(EBADFD, test_access_pages(ctx, afd, iova, TEST_PAGE_SIZE,
					       buf, 0, NULL));
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas));
	uiommufd_ctx_close(ctx);
	munmap(buf, BUF_LEN);
}

TEST(close_plain_closed_access_fd_ctx_close)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	char *buf = test_buffer(BUF_LEN);
	uint64_t iova = 0;
	uint32_t ioas = 0;
	int afd = -1;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, ioas_map(ctx, ioas, buf, BUF_LEN, &iova, MAP_RW));
	ASSERT_EQ(0, test_create_access(ctx, ioas, NEEDS_PIN, &afd));
	ASSERT_EQ(0, test_access_pages(ctx, afd, iova, 4 * TEST_PAGE_SIZE, buf,
				       0, NULL));
	ASSERT_EQ(0, close(afd));
	/*
	 * Nothing names the descriptor again: closing the context must
	 * notice it was closed, drop the pins and free everything (the
	 * harness checks the allocations).
	 */
	uiommufd_ctx_close(ctx);
	EXPECT_FALSE(uiommufd_fd_owned(afd));
	EXPECT_EQ(0, fresh_check_refs(buf, 4 * TEST_PAGE_SIZE, 0));
	munmap(buf, BUF_LEN);
}

/* As above, with the number taken by an unrelated file meanwhile. */
TEST(close_plain_closed_access_fd_number_taken)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	char *buf = test_buffer(BUF_LEN);
	uint64_t iova = 0;
	uint32_t ioas = 0;
	int afd = -1, other;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, ioas_map(ctx, ioas, buf, BUF_LEN, &iova, MAP_RW));
	ASSERT_EQ(0, test_create_access(ctx, ioas, NEEDS_PIN, &afd));
	ASSERT_EQ(0, test_access_pages(ctx, afd, iova, 4 * TEST_PAGE_SIZE, buf,
				       0, NULL));
	ASSERT_EQ(0, close(afd));
	other = dup(STDERR_FILENO);
	ASSERT_LE(0, other);
	if (other != afd)
		TH_LOG("descriptor %d was not reused (got %d)", afd, other);
	uiommufd_ctx_close(ctx);
	EXPECT_FALSE(uiommufd_fd_owned(afd));
	EXPECT_EQ(0, fresh_check_refs(buf, BUF_LEN, 0));
	/* The library left the unrelated descriptor alone. */
	EXPECT_EQ(0, close(other));
	munmap(buf, BUF_LEN);
}

/* A new access gets the closed one's number: the old one is let go. */
TEST(close_plain_closed_access_fd_number_reused)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	char *buf = test_buffer(BUF_LEN);
	uint64_t iova = 0;
	uint32_t ioas = 0, item = 0;
	char rd[8];
	int afd = -1, afd2 = -1;

	ASSERT_NE(NULL, buf);
	memset(buf, 0x77, BUF_LEN);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, ioas_map(ctx, ioas, buf, BUF_LEN, &iova, MAP_RW));
	ASSERT_EQ(0, test_create_access(ctx, ioas, NEEDS_PIN, &afd));
	ASSERT_EQ(0, test_access_pages(ctx, afd, iova, 4 * TEST_PAGE_SIZE, buf,
				       0, NULL));
	ASSERT_EQ(0, close(afd));
	ASSERT_EQ(0, test_create_access(ctx, ioas, NEEDS_PIN, &afd2));
	if (afd2 != afd)
		TH_LOG("descriptor %d was not reused (got %d)", afd, afd2);
	/* Only the new access's pin is left. */
	ASSERT_EQ(0, test_access_pages(ctx, afd2, iova + 8 * TEST_PAGE_SIZE,
				       TEST_PAGE_SIZE,
				       buf + 8 * TEST_PAGE_SIZE, 0, &item));
	if (afd2 == afd)
		ASSERT_EQ(0, test_check_refs(ctx, buf, 4 * TEST_PAGE_SIZE, 0));
	ASSERT_EQ(0, test_check_refs(ctx, buf + 8 * TEST_PAGE_SIZE,
				     TEST_PAGE_SIZE, 1));
	ASSERT_EQ(0, test_access_rw(ctx, afd2, iova, rd, sizeof(rd), 0));
	ASSERT_EQ(0x77, rd[0]);
	ASSERT_EQ(0, test_destroy_access_pages(ctx, afd2, item));
	ASSERT_EQ(0, uiommufd_fd_close(afd2));
	ASSERT_EQ(0, test_check_refs(ctx, buf, BUF_LEN, 0));
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas));
	uiommufd_ctx_close(ctx);
	munmap(buf, BUF_LEN);
}

/* ---- 4. the public access API ---- */

TEST(access_create_errors)
{
	const struct uiommufd_access_ops no_cb = {
		.flags = UIOMMUFD_ACCESS_NEEDS_PIN_PAGES,
	};
	const struct uiommufd_access_ops rw_only = { .flags = 0 };
	const struct uiommufd_access_ops pin = {
		.flags = UIOMMUFD_ACCESS_NEEDS_PIN_PAGES,
		.unmap = noop_unmap,
	};
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	struct uiommufd_access *access;
	uint32_t ioas = 0, stdev = 0, id = 0;

	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, test_mock_domain(ctx, ioas, &stdev, NULL, NULL));
	errno = 0;
	ASSERT_NULL(uiommufd_access_create(ctx, ioas, &no_cb, NULL, &id));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_NE(NULL, uiommufd_last_reason());
	errno = 0;
	ASSERT_NULL(uiommufd_access_create(ctx, 99, &pin, NULL, &id));
	ASSERT_EQ(ENOENT, errno);
	errno = 0;
	ASSERT_NULL(uiommufd_access_create(ctx, 0, &pin, NULL, &id));
	ASSERT_EQ(ENOENT, errno);
	/* An ID of something that is not an IOAS. */
	errno = 0;
	ASSERT_NULL(uiommufd_access_create(ctx, stdev, &pin, NULL, &id));
	ASSERT_EQ(ENOENT, errno);
	ASSERT_EQ(0, id);
	/* No ID was used up by the failures. */
	ASSERT_EQ(0, ioctl_destroy(ctx, stdev));
	access = uiommufd_access_create(ctx, ioas, &rw_only, NULL, &id);
	ASSERT_NE(NULL, access);
	ASSERT_EQ(2, id);
	uiommufd_access_destroy(access);
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas));
	uiommufd_ctx_close(ctx);
}

TEST(access_pin_rw_unpin)
{
	const struct uiommufd_access_ops ops = {
		.flags = UIOMMUFD_ACCESS_NEEDS_PIN_PAGES,
		.unmap = pub_unmap,
	};
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	char *buf = test_buffer(BUF_LEN);
	struct pub_access pa = {};
	uint64_t pfns[4] = {}, pfns2[4] = {}, iova = 0, edge;
	void *pages[4] = {};
	char wr[100], rd[100];
	uint32_t ioas = 0;

	ASSERT_NE(NULL, buf);
	memset(buf, 0, BUF_LEN);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, ioas_map(ctx, ioas, buf, BUF_LEN, &iova, MAP_RW));
	pa.access = uiommufd_access_create(ctx, ioas, &ops, &pa, NULL);
	ASSERT_NE(NULL, pa.access);

	ASSERT_EQ(0, uiommufd_access_pin_pages(pa.access, iova + TEST_PAGE_SIZE,
					       4 * TEST_PAGE_SIZE, pfns, pages,
					       UIOMMUFD_ACCESS_RW_WRITE));
	for (unsigned int i = 0; i != 4; i++) {
		ASSERT_NE(0, pfns[i]);
		for (unsigned int j = 0; j != i; j++)
			ASSERT_NE(pfns[j], pfns[i]);
		/* Our own memory: writable through out_pages. */
		ASSERT_NE(NULL, pages[i]);
		((char *)pages[i])[7] = (char)(0x60 + i);
		ASSERT_EQ((char)(0x60 + i),
			  buf[(1 + i) * TEST_PAGE_SIZE + 7]);
	}
	ASSERT_EQ(0, test_check_refs(ctx, buf + TEST_PAGE_SIZE,
				     4 * TEST_PAGE_SIZE, 1));
	ASSERT_EQ(0, test_check_refs(ctx, buf, TEST_PAGE_SIZE, 0));
	ASSERT_EQ(0, test_check_refs(ctx, buf + 5 * TEST_PAGE_SIZE,
				     BUF_LEN - 5 * TEST_PAGE_SIZE, 0));
	/* A second pin of the same pages names the same pages. */
	ASSERT_EQ(0, uiommufd_access_pin_pages(pa.access, iova + TEST_PAGE_SIZE,
					       4 * TEST_PAGE_SIZE, pfns2, NULL,
					       0));
	ASSERT_EQ(0, memcmp(pfns, pfns2, sizeof(pfns)));
	ASSERT_EQ(0, uiommufd_access_unpin_pages(pa.access,
						 iova + TEST_PAGE_SIZE,
						 4 * TEST_PAGE_SIZE));

	/* rw round trip across a page boundary, seen in the memory. */
	for (unsigned int i = 0; i != sizeof(wr); i++)
		wr[i] = (char)(i * 7 + 1);
	edge = iova + 2 * TEST_PAGE_SIZE - 50;
	ASSERT_EQ(0, uiommufd_access_rw(pa.access, edge, wr, sizeof(wr),
					UIOMMUFD_ACCESS_RW_WRITE));
	ASSERT_EQ(0, memcmp(buf + 2 * TEST_PAGE_SIZE - 50, wr, sizeof(wr)));
	buf[2 * TEST_PAGE_SIZE] = 0x42;
	ASSERT_EQ(0, uiommufd_access_rw(pa.access, edge, rd, sizeof(rd), 0));
	ASSERT_EQ(0x42, rd[50]);
	ASSERT_EQ(0, memcmp(rd, wr, 50));
	/* Outside every mapping. */
	ASSERT_EQ(-ENOENT, uiommufd_access_rw(pa.access, iova + BUF_LEN, rd,
					      sizeof(rd), 0));

	/* Unpin of what was never pinned, or of a different range. */
	ASSERT_EQ(-EINVAL, uiommufd_access_unpin_pages(pa.access, iova,
						       TEST_PAGE_SIZE));
	ASSERT_EQ(-EINVAL, uiommufd_access_unpin_pages(pa.access,
						       iova + TEST_PAGE_SIZE,
						       2 * TEST_PAGE_SIZE));
	ASSERT_EQ(0, uiommufd_access_unpin_pages(pa.access,
						 iova + TEST_PAGE_SIZE,
						 4 * TEST_PAGE_SIZE));
	ASSERT_EQ(-EINVAL, uiommufd_access_unpin_pages(pa.access,
						       iova + TEST_PAGE_SIZE,
						       4 * TEST_PAGE_SIZE));
	ASSERT_EQ(0, test_check_refs(ctx, buf, BUF_LEN, 0));
	/* Pinning what is not mapped. */
	ASSERT_EQ(-ENOENT, uiommufd_access_pin_pages(pa.access, iova + BUF_LEN,
						     TEST_PAGE_SIZE, NULL,
						     NULL, 0));
	ASSERT_EQ(0, pa.calls);
	uiommufd_access_destroy(pa.access);
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas));
	uiommufd_ctx_close(ctx);
	munmap(buf, BUF_LEN);
}

TEST(access_unmap_calls_back)
{
	const struct uiommufd_access_ops ops = {
		.flags = UIOMMUFD_ACCESS_NEEDS_PIN_PAGES,
		.unmap = pub_unmap,
	};
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	char *buf = test_buffer(BUF_LEN);
	struct pub_access pa = {};
	uint64_t iova = MOCK_APERTURE_START, unmapped = 0;
	uint32_t ioas = 0;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, ioas_map(ctx, ioas, buf, BUF_LEN / 2, &iova,
			      MAP_FIXED_RW));
	iova = MOCK_APERTURE_START + BUF_LEN;
	ASSERT_EQ(0, ioas_map(ctx, ioas, buf + BUF_LEN / 2, BUF_LEN / 2, &iova,
			      MAP_FIXED_RW));
	ASSERT_EQ(0, test_mock_domain(ctx, ioas, NULL, NULL, NULL));
	pa.access = uiommufd_access_create(ctx, ioas, &ops, &pa, NULL);
	ASSERT_NE(NULL, pa.access);
	pa.iova = MOCK_APERTURE_START + BUF_LEN + TEST_PAGE_SIZE;
	pa.length = 2 * TEST_PAGE_SIZE;
	ASSERT_EQ(0, uiommufd_access_pin_pages(pa.access, pa.iova, pa.length,
					       NULL, NULL, 0));
	pa.pinned = true;

	/* The other area: nothing of ours to unpin there. */
	ASSERT_EQ(0, ioas_unmap(ctx, ioas, MOCK_APERTURE_START, BUF_LEN / 2,
				&unmapped));
	ASSERT_EQ(BUF_LEN / 2, unmapped);
	ASSERT_TRUE(pa.pinned);
	ASSERT_EQ(0, uiommufd_access_rw(pa.access, pa.iova, &unmapped, 1, 0));

	/* The pinned one: the callback runs and unpins before unmap ends. */
	ASSERT_EQ(0, ioas_unmap(ctx, ioas, MOCK_APERTURE_START + BUF_LEN,
				BUF_LEN / 2, &unmapped));
	ASSERT_EQ(BUF_LEN / 2, unmapped);
	ASSERT_FALSE(pa.pinned);
	ASSERT_EQ(0, pa.unpin_rc);
	ASSERT_LE(1, pa.calls);
	ASSERT_EQ(0, test_check_refs(ctx, buf, BUF_LEN, 0));
	ASSERT_EQ(-ENOENT, uiommufd_access_pin_pages(pa.access, pa.iova,
						     pa.length, NULL, NULL, 0));
	uiommufd_access_destroy(pa.access);
	uiommufd_ctx_close(ctx);
	munmap(buf, BUF_LEN);
}

/* The callback sees the range being unmapped. */
struct range_cb {
	struct uiommufd_access *access;
	uint64_t pin_iova, pin_len;
	uint64_t seen_iova, seen_len;
	unsigned int calls;
	int unpin_rc;
};

static void range_unmap(void *data, uint64_t iova, uint64_t length)
{
	struct range_cb *cb = data;

	if (cb->calls++)
		return;
	cb->seen_iova = iova;
	cb->seen_len = length;
	cb->unpin_rc = uiommufd_access_unpin_pages(cb->access, cb->pin_iova,
						   cb->pin_len);
}

TEST(access_unmap_callback_range)
{
	const struct uiommufd_access_ops ops = {
		.flags = UIOMMUFD_ACCESS_NEEDS_PIN_PAGES,
		.unmap = range_unmap,
	};
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	char *buf = test_buffer(BUF_LEN);
	struct range_cb cb = { .unpin_rc = 1 };
	uint64_t iova = 0, unmapped = 0;
	uint32_t ioas = 0;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, ioas_map(ctx, ioas, buf, BUF_LEN, &iova, MAP_RW));
	cb.access = uiommufd_access_create(ctx, ioas, &ops, &cb, NULL);
	ASSERT_NE(NULL, cb.access);
	cb.pin_iova = iova + 3 * TEST_PAGE_SIZE;
	cb.pin_len = 5 * TEST_PAGE_SIZE;
	ASSERT_EQ(0, uiommufd_access_pin_pages(cb.access, cb.pin_iova,
					       cb.pin_len, NULL, NULL, 0));
	ASSERT_EQ(0, test_check_refs(ctx, buf + 3 * TEST_PAGE_SIZE,
				     5 * TEST_PAGE_SIZE, 1));
	/* A range that would cut the area fails and calls nobody. */
	EXPECT_ERRNO(ENOENT, ioas_unmap(ctx, ioas, iova, TEST_PAGE_SIZE, NULL));
	ASSERT_EQ(0, cb.calls);
	ASSERT_EQ(0, test_check_refs(ctx, buf + 3 * TEST_PAGE_SIZE,
				     5 * TEST_PAGE_SIZE, 1));
	ASSERT_EQ(0, ioas_unmap(ctx, ioas, 0, UINT64_MAX, &unmapped));
	ASSERT_EQ(BUF_LEN, unmapped);
	ASSERT_LE(1, cb.calls);
	ASSERT_EQ(0, cb.unpin_rc);
	/* The range covers the pin and lies inside what was unmapped. */
	ASSERT_LE(cb.seen_iova, cb.pin_iova);
	ASSERT_LE(cb.pin_iova + cb.pin_len, cb.seen_iova + cb.seen_len);
	ASSERT_LE(iova, cb.seen_iova);
	ASSERT_LE(cb.seen_iova + cb.seen_len, iova + BUF_LEN);
	ASSERT_EQ(0, test_check_refs(ctx, buf, BUF_LEN, 0));
	uiommufd_access_destroy(cb.access);
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas));
	uiommufd_ctx_close(ctx);
	munmap(buf, BUF_LEN);
}

TEST(access_destroy_releases_pins)
{
	const struct uiommufd_access_ops ops = {
		.flags = UIOMMUFD_ACCESS_NEEDS_PIN_PAGES,
		.unmap = noop_unmap,
	};
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	char *buf = test_buffer(BUF_LEN);
	struct uiommufd_access *access;
	uint64_t iova = 0;
	uint32_t ioas = 0;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, ioas_map(ctx, ioas, buf, BUF_LEN, &iova, MAP_RW));
	access = uiommufd_access_create(ctx, ioas, &ops, NULL, NULL);
	ASSERT_NE(NULL, access);
	ASSERT_EQ(0, uiommufd_access_pin_pages(access, iova, BUF_LEN, NULL,
					       NULL, 0));
	ASSERT_EQ(0, uiommufd_access_pin_pages(access, iova, TEST_PAGE_SIZE,
					       NULL, NULL, 0));
	ASSERT_EQ(0, uiommufd_access_pin_pages(access, iova + TEST_PAGE_SIZE,
					       TEST_PAGE_SIZE, NULL, NULL,
					       UIOMMUFD_ACCESS_RW_WRITE));
	ASSERT_EQ(0, test_check_refs(ctx, buf + 2 * TEST_PAGE_SIZE,
				     BUF_LEN - 2 * TEST_PAGE_SIZE, 1));
	EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, ioas));
	uiommufd_access_destroy(access);
	ASSERT_EQ(0, test_check_refs(ctx, buf, BUF_LEN, 0));
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas));
	uiommufd_ctx_close(ctx);
	munmap(buf, BUF_LEN);
}

/*
 * A public access outlives its context's close, with two devices on the
 * IOAS: under the newest release they share an auto HW pagetable, under
 * 6.2 each has its own (one made by the 56-byte command).
 */
static void access_after_ctx_close(uint32_t kernel)
{
	const struct uiommufd_access_ops ops = {
		.flags = UIOMMUFD_ACCESS_NEEDS_PIN_PAGES,
		.unmap = noop_unmap,
	};
	struct uiommufd_ctx *ctx = ctx_open_as(kernel, false, 0);
	char *buf = test_buffer(BUF_LEN);
	struct uiommufd_access *access;
	uint64_t iova = MOCK_APERTURE_START;
	char wr[8] = "1234567", rd[8] = "";
	uint32_t ioas = 0, hwpt1 = 0, hwpt2 = 0;

	ASSERT_NE(NULL, ctx);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, ioas_map(ctx, ioas, buf, BUF_LEN, &iova, MAP_FIXED_RW));
	ASSERT_EQ(0, test_mock_domain(ctx, ioas, NULL, &hwpt1, NULL));
	if (kernel == UIOMMUFD_KERNEL_6_2) {
		ASSERT_EQ(0, mock_domain_v6_2(ctx, ioas, NULL, &hwpt2));
		ASSERT_NE(hwpt1, hwpt2);
	} else {
		ASSERT_EQ(0, test_mock_domain(ctx, ioas, NULL, &hwpt2, NULL));
		ASSERT_EQ(hwpt1, hwpt2);
	}
	access = uiommufd_access_create(ctx, ioas, &ops, NULL, NULL);
	ASSERT_NE(NULL, access);
	ASSERT_EQ(0, uiommufd_access_pin_pages(access, iova, 2 * TEST_PAGE_SIZE,
					       NULL, NULL, 0));
	uiommufd_ctx_close(ctx);

	/* Still usable: the access holds the context. */
	ASSERT_EQ(0, uiommufd_access_rw(access, iova + 3, wr, sizeof(wr),
					UIOMMUFD_ACCESS_RW_WRITE));
	ASSERT_EQ(0, memcmp(buf + 3, wr, sizeof(wr)));
	ASSERT_EQ(0, uiommufd_access_rw(access, iova + 3, rd, sizeof(rd), 0));
	ASSERT_EQ(0, memcmp(rd, wr, sizeof(wr)));
	ASSERT_ERRNO(EIO, fresh_check_refs(buf, BUF_LEN, 0));
	ASSERT_EQ(0, uiommufd_access_pin_pages(access, iova + BUF_LEN -
					       TEST_PAGE_SIZE, TEST_PAGE_SIZE,
					       NULL, NULL, 0));
	uiommufd_access_destroy(access);
	ASSERT_EQ(0, fresh_check_refs(buf, BUF_LEN, 0));
	munmap(buf, BUF_LEN);
}

TEST(access_destroy_after_ctx_close)
{
	access_after_ctx_close(UIOMMUFD_KERNEL_7_2);
}

TEST(access_destroy_after_ctx_close_v6_2)
{
	access_after_ctx_close(UIOMMUFD_KERNEL_6_2);
}

/* ---- 5. devices and HW pagetables over existing areas ---- */

TEST(device_attach_detach_keeps_areas)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	char *buf = test_buffer(BUF_LEN);
	struct iommu_iova_range r[2];
	uint64_t iova = MOCK_APERTURE_START, iova2, align = 0, unmapped = 0;
	uint32_t ioas = 0, stdev = 0, hwpt = 0, num = 0;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, ioas_map(ctx, ioas, buf, BUF_LEN / 2, &iova,
			      MAP_FIXED_RW));
	iova2 = MOCK_APERTURE_START + 4 * BUF_LEN;
	ASSERT_EQ(0, ioas_map(ctx, ioas, buf + BUF_LEN / 2, BUF_LEN / 2, &iova2,
			      MAP_FIXED_RW));
	ASSERT_EQ(0, test_check_refs(ctx, buf, BUF_LEN, 0));

	ASSERT_EQ(0, test_mock_domain(ctx, ioas, &stdev, &hwpt, NULL));
	ASSERT_EQ(0, test_check_map(ctx, hwpt, iova, BUF_LEN / 2, buf));
	ASSERT_EQ(0, test_check_map(ctx, hwpt, iova2, BUF_LEN / 2,
				    buf + BUF_LEN / 2));
	/* The wrong memory does not pass. */
	EXPECT_ERRNO(EINVAL, test_check_map(ctx, hwpt, iova, BUF_LEN / 2,
					    buf + BUF_LEN / 2));
	ASSERT_EQ(0, test_check_refs(ctx, buf, BUF_LEN, 1));
	ASSERT_EQ(0, ioas_iova_ranges(ctx, ioas, r, 2, &num, &align));
	ASSERT_EQ(1, num);
	ASSERT_EQ(MOCK_APERTURE_START, r[0].start);
	ASSERT_EQ(MOCK_APERTURE_LAST, r[0].last);
	ASSERT_EQ(MOCK_PAGE_SIZE, align);

	ASSERT_EQ(0, ioctl_destroy(ctx, stdev));
	ASSERT_EQ(0, test_check_refs(ctx, buf, BUF_LEN, 0));
	ASSERT_EQ(0, ioas_iova_ranges(ctx, ioas, r, 2, &num, &align));
	ASSERT_EQ(1, num);
	ASSERT_EQ(0, r[0].start);
	ASSERT_EQ(UINT64_MAX, r[0].last);
	ASSERT_EQ(1, align);
	/* Both areas are still mapped: they cannot be mapped over... */
	EXPECT_ERRNO(EEXIST, ioas_map(ctx, ioas, buf, TEST_PAGE_SIZE, &iova,
				      MAP_FIXED_RW));
	/* ... a byte-sized map works again, and so does unmap. */
	ASSERT_EQ(0, ioas_map(ctx, ioas, buf + 1, 3, NULL, MAP_RW));
	ASSERT_EQ(0, ioas_unmap(ctx, ioas, iova2, BUF_LEN / 2, &unmapped));
	ASSERT_EQ(BUF_LEN / 2, unmapped);
	ASSERT_EQ(0, ioas_unmap(ctx, ioas, iova, BUF_LEN / 2, &unmapped));
	ASSERT_EQ(BUF_LEN / 2, unmapped);
	/* Reattaching maps what is there now. */
	ASSERT_EQ(0, ioas_unmap(ctx, ioas, 0, UINT64_MAX, &unmapped));
	ASSERT_EQ(3, unmapped);
	ASSERT_EQ(0, ioas_map(ctx, ioas, buf, BUF_LEN, &iova, MAP_FIXED_RW));
	ASSERT_EQ(0, test_mock_domain(ctx, ioas, &stdev, &hwpt, NULL));
	ASSERT_EQ(0, test_check_map(ctx, hwpt, iova, BUF_LEN, buf));
	ASSERT_EQ(0, ioctl_destroy(ctx, stdev));
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas));
	uiommufd_ctx_close(ctx);
	ASSERT_EQ(0, fresh_check_refs(buf, BUF_LEN, 0));
	munmap(buf, BUF_LEN);
}

/* ---- 6. VFIO_IOAS ---- */

TEST(vfio_ioas_get_set_clear)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	uint32_t ioas = 0, ioas2 = 0, stdev = 0, id = 0;

	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas2));
	ASSERT_EQ(0, test_mock_domain(ctx, ioas2, &stdev, NULL, NULL));
	EXPECT_ERRNO(ENODEV, vfio_ioas(ctx, IOMMU_VFIO_IOAS_GET, &id));
	id = 99;
	EXPECT_ERRNO(ENOENT, vfio_ioas(ctx, IOMMU_VFIO_IOAS_SET, &id));
	id = stdev;
	EXPECT_ERRNO(ENOENT, vfio_ioas(ctx, IOMMU_VFIO_IOAS_SET, &id));
	EXPECT_ERRNO(ENODEV, vfio_ioas(ctx, IOMMU_VFIO_IOAS_GET, &id));
	id = ioas;
	ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_SET, &id));
	id = 0;
	ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_GET, &id));
	ASSERT_EQ(ioas, id);
	id = ioas2;
	ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_SET, &id));
	id = 0;
	ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_GET, &id));
	ASSERT_EQ(ioas2, id);
	/* A failed SET keeps the old one. */
	id = 77;
	EXPECT_ERRNO(ENOENT, vfio_ioas(ctx, IOMMU_VFIO_IOAS_SET, &id));
	ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_GET, &id));
	ASSERT_EQ(ioas2, id);
	ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_CLEAR, NULL));
	EXPECT_ERRNO(ENODEV, vfio_ioas(ctx, IOMMU_VFIO_IOAS_GET, &id));
	ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_CLEAR, NULL));
	/* Being the compat IOAS holds nothing: the device still does. */
	id = ioas2;
	ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_SET, &id));
	EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, ioas2));
	ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_GET, &id));
	ASSERT_EQ(ioas2, id);
	uiommufd_ctx_close(ctx);
}

TEST(vfio_ioas_destroy_clears)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	uint32_t ioas = 0, ioas2 = 0, id = 0;

	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas2));
	id = ioas2;
	ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_SET, &id));
	/* Destroying another IOAS leaves it set. */
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas));
	ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_GET, &id));
	ASSERT_EQ(ioas2, id);
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas2));
	EXPECT_ERRNO(ENODEV, vfio_ioas(ctx, IOMMU_VFIO_IOAS_GET, &id));
	/* A new IOAS under the same ID is not the compat IOAS. */
	ASSERT_EQ(0, ioas_alloc(ctx, &id));
	ASSERT_EQ(1, id);
	ASSERT_EQ(0, ioas_alloc(ctx, &id));
	ASSERT_EQ(ioas2, id);
	EXPECT_ERRNO(ENODEV, vfio_ioas(ctx, IOMMU_VFIO_IOAS_GET, &id));
	uiommufd_ctx_close(ctx);
}

/* ---- 7. IOMMU_OPTION ---- */

/*
 * RLIMIT_MODE SET needs CAP_SYS_RESOURCE, as in the kernel: without it
 * every SET is EPERM and changes nothing. The contexts say what their
 * callers hold, so both sides run whatever this process holds.
 */
TEST(option_rlimit_mode_unprivileged)
{
	struct uiommufd_ctx *ctx;
	uint64_t val = 1;

	ctx = ctx_open_as(0, true, CAP_SET_ALL & ~CAP_BIT(CAP_SYS_RESOURCE));
	ASSERT_NE(NULL, ctx);
	EXPECT_ERRNO(EPERM, ioctl_option(ctx, IOMMU_OPTION_RLIMIT_MODE,
					 IOMMU_OPTION_OP_SET, 0, &val));
	val = 2;
	EXPECT_ERRNO(EPERM, ioctl_option(ctx, IOMMU_OPTION_RLIMIT_MODE,
					 IOMMU_OPTION_OP_SET, 0, &val));
	val = 99;
	ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_RLIMIT_MODE,
				  IOMMU_OPTION_OP_GET, 0, &val));
	ASSERT_EQ(0, val);
	uiommufd_ctx_close(ctx);
}

TEST(option_rlimit_mode)
{
	struct uiommufd_ctx *ctx;
	uint64_t val = 99;
	uint32_t ioas = 0;

	ctx = ctx_open_as(0, true, CAP_BIT(CAP_SYS_RESOURCE));
	ASSERT_NE(NULL, ctx);
	ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_RLIMIT_MODE,
				  IOMMU_OPTION_OP_GET, 0, &val));
	ASSERT_EQ(0, val);
	val = 1;
	ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_RLIMIT_MODE,
				  IOMMU_OPTION_OP_SET, 0, &val));
	val = 99;
	ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_RLIMIT_MODE,
				  IOMMU_OPTION_OP_GET, 0, &val));
	ASSERT_EQ(1, val);
	val = 2;
	EXPECT_ERRNO(EINVAL, ioctl_option(ctx, IOMMU_OPTION_RLIMIT_MODE,
					  IOMMU_OPTION_OP_SET, 0, &val));
	ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_RLIMIT_MODE,
				  IOMMU_OPTION_OP_GET, 0, &val));
	ASSERT_EQ(1, val);
	val = 0;
	ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_RLIMIT_MODE,
				  IOMMU_OPTION_OP_SET, 0, &val));
	ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_RLIMIT_MODE,
				  IOMMU_OPTION_OP_GET, 0, &val));
	ASSERT_EQ(0, val);

	/* Objects pin the mode, as in the kernel. */
	val = 1;
	ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_RLIMIT_MODE,
				  IOMMU_OPTION_OP_SET, 0, &val));
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	val = 0;
	EXPECT_ERRNO(EBUSY, ioctl_option(ctx, IOMMU_OPTION_RLIMIT_MODE,
					 IOMMU_OPTION_OP_SET, 0, &val));
	ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_RLIMIT_MODE,
				  IOMMU_OPTION_OP_GET, 0, &val));
	ASSERT_EQ(1, val);
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas));
	val = 0;
	ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_RLIMIT_MODE,
				  IOMMU_OPTION_OP_SET, 0, &val));
	uiommufd_ctx_close(ctx);
}

TEST(option_rlimit_mode_per_context)
{
	struct uiommufd_ctx *a, *b;
	uint64_t val = 1;

	a = ctx_open_as(0, true, CAP_BIT(CAP_SYS_RESOURCE));
	b = ctx_open_as(0, true, CAP_BIT(CAP_SYS_RESOURCE));
	ASSERT_EQ(0, ioctl_option(a, IOMMU_OPTION_RLIMIT_MODE,
				  IOMMU_OPTION_OP_SET, 0, &val));
	val = 99;
	ASSERT_EQ(0, ioctl_option(b, IOMMU_OPTION_RLIMIT_MODE,
				  IOMMU_OPTION_OP_GET, 0, &val));
	ASSERT_EQ(0, val);
	uiommufd_ctx_close(a);
	uiommufd_ctx_close(b);
}

TEST(option_huge_pages)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	uint64_t val = 0;
	uint32_t ioas = 0;

	EXPECT_ERRNO(ENOENT, ioctl_option(ctx, IOMMU_OPTION_HUGE_PAGES,
					  IOMMU_OPTION_OP_GET, 0, &val));
	EXPECT_ERRNO(ENOENT, ioctl_option(ctx, IOMMU_OPTION_HUGE_PAGES,
					  IOMMU_OPTION_OP_SET, 0, &val));
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_HUGE_PAGES,
				  IOMMU_OPTION_OP_GET, ioas, &val));
	ASSERT_EQ(1, val);
	val = 0;
	ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_HUGE_PAGES,
				  IOMMU_OPTION_OP_SET, ioas, &val));
	val = 99;
	ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_HUGE_PAGES,
				  IOMMU_OPTION_OP_GET, ioas, &val));
	ASSERT_EQ(0, val);
	val = 2;
	EXPECT_ERRNO(EINVAL, ioctl_option(ctx, IOMMU_OPTION_HUGE_PAGES,
					  IOMMU_OPTION_OP_SET, ioas, &val));
	val = 1;
	ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_HUGE_PAGES,
				  IOMMU_OPTION_OP_SET, ioas, &val));
	ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_HUGE_PAGES,
				  IOMMU_OPTION_OP_GET, ioas, &val));
	ASSERT_EQ(1, val);
	/* Not an IOAS. */
	EXPECT_ERRNO(ENOENT, ioctl_option(ctx, IOMMU_OPTION_HUGE_PAGES,
					  IOMMU_OPTION_OP_GET, ioas + 1, &val));
	uiommufd_ctx_close(ctx);
}

TEST(option_huge_pages_with_domain_and_areas)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	char *buf = test_buffer(BUF_LEN);
	uint64_t val = 0, iova = MOCK_APERTURE_START;
	uint32_t ioas = 0, stdev = 0;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, test_mock_domain(ctx, ioas, &stdev, NULL, NULL));
	/* A domain but no area yet: allowed. */
	ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_HUGE_PAGES,
				  IOMMU_OPTION_OP_SET, ioas, &val));
	val = 1;
	ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_HUGE_PAGES,
				  IOMMU_OPTION_OP_SET, ioas, &val));
	ASSERT_EQ(0, ioas_map(ctx, ioas, buf, BUF_LEN, &iova, MAP_FIXED_RW));
	val = 0;
	EXPECT_ERRNO(EINVAL, ioctl_option(ctx, IOMMU_OPTION_HUGE_PAGES,
					  IOMMU_OPTION_OP_SET, ioas, &val));
	ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_HUGE_PAGES,
				  IOMMU_OPTION_OP_GET, ioas, &val));
	ASSERT_EQ(1, val);
	ASSERT_EQ(0, ioctl_destroy(ctx, stdev));
	/* Areas but no domain: allowed again. */
	val = 0;
	ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_HUGE_PAGES,
				  IOMMU_OPTION_OP_SET, ioas, &val));
	ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_HUGE_PAGES,
				  IOMMU_OPTION_OP_GET, ioas, &val));
	ASSERT_EQ(0, val);
	uiommufd_ctx_close(ctx);
	munmap(buf, BUF_LEN);
}

TEST(option_huge_pages_unaligned_area)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	char *buf = test_buffer(BUF_LEN);
	uint64_t val = 0, iova = 0, unmapped = 0;
	uint32_t ioas = 0;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, ioas_map(ctx, ioas, buf, 2048, &iova, MAP_RW));
	EXPECT_ERRNO(EADDRINUSE, ioctl_option(ctx, IOMMU_OPTION_HUGE_PAGES,
					      IOMMU_OPTION_OP_SET, ioas, &val));
	ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_HUGE_PAGES,
				  IOMMU_OPTION_OP_GET, ioas, &val));
	ASSERT_EQ(1, val);
	ASSERT_EQ(0, ioas_unmap(ctx, ioas, iova, 2048, &unmapped));
	ASSERT_EQ(2048, unmapped);
	val = 0;
	ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_HUGE_PAGES,
				  IOMMU_OPTION_OP_SET, ioas, &val));
	/* Now PAGE_SIZE is the IOAS alignment. */
	EXPECT_ERRNO(EINVAL, ioas_map(ctx, ioas, buf, 2048, NULL, MAP_RW));
	uiommufd_ctx_close(ctx);
	munmap(buf, BUF_LEN);
}

/* ---- 8. threads ---- */

enum race_kind {
	RACE_IOAS,		/* IOAS with an area */
	RACE_STDEV,		/* newest-layout device */
	RACE_V6_2_HWPT,		/* 6.2 HW pagetable, device gone */
	RACE_KINDS,
};

struct destroy_race {
	/* The round's context: set before the start barrier. */
	struct uiommufd_ctx *ctx;
	pthread_barrier_t start, done;
	atomic_uint id;
	atomic_bool stop;
	atomic_uint ok, enoent, ebusy, other;
};

static void *destroy_race_fn(void *arg)
{
	struct destroy_race *r = arg;

	for (;;) {
		pthread_barrier_wait(&r->start);
		if (atomic_load(&r->stop))
			return NULL;
		if (!ioctl_destroy(r->ctx, atomic_load(&r->id)))
			atomic_fetch_add(&r->ok, 1);
		else if (errno == ENOENT)
			atomic_fetch_add(&r->enoent, 1);
		else if (errno == EBUSY)
			atomic_fetch_add(&r->ebusy, 1);
		else
			atomic_fetch_add(&r->other, 1);
		pthread_barrier_wait(&r->done);
	}
}

/*
 * Several threads destroy one object at once: exactly one succeeds. The
 * 6.2 HW pagetable lives in a context answering as 6.2, the rest in one
 * answering as the newest release.
 */
TEST(threads_destroy_same_object)
{
	const unsigned int nthreads = 4;
	struct destroy_race r = {};
	pthread_t t[MAX_THREADS];
	char *buf = test_buffer(BUF_LEN);
	uint64_t rounds = test_iterations(300);
	uint32_t ioas = 0, ioas62 = 0, id = 0, dev = 0, hwpt = 0, idev = 0;
	struct uiommufd_ctx *ctx, *ctx62;

	ASSERT_NE(NULL, buf);
	ctx = uiommufd_ctx_open(0);
	ASSERT_NE(NULL, ctx);
	ctx62 = ctx_open_as(UIOMMUFD_KERNEL_6_2, false, 0);
	ASSERT_NE(NULL, ctx62);
	ASSERT_EQ(0, ioas_with_area(ctx, buf, BUF_LEN, &ioas));
	ASSERT_EQ(0, ioas_with_area(ctx62, buf, BUF_LEN, &ioas62));
	ASSERT_EQ(0, pthread_barrier_init(&r.start, NULL, nthreads + 1));
	ASSERT_EQ(0, pthread_barrier_init(&r.done, NULL, nthreads + 1));
	r.ctx = ctx;
	for (unsigned int i = 0; i != nthreads; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, destroy_race_fn, &r));

	for (uint64_t round = 0; round != rounds; round++) {
		enum race_kind kind = round % RACE_KINDS;
		unsigned int ok_before = atomic_load(&r.ok);

		idev = hwpt = 0;
		r.ctx = ctx;
		switch (kind) {
		case RACE_IOAS:
			ASSERT_EQ(0, ioas_with_area(ctx, buf, BUF_LEN, &id));
			break;
		case RACE_STDEV:
			ASSERT_EQ(0, test_mock_domain(ctx, ioas, &id, &hwpt,
						      &idev));
			break;
		case RACE_V6_2_HWPT:
			r.ctx = ctx62;
			ASSERT_EQ(0, mock_domain_v6_2(ctx62, ioas62, &dev,
						      &id));
			ASSERT_EQ(0, ioctl_destroy(ctx62, dev));
			break;
		default:
			break;
		}
		atomic_store(&r.id, id);
		pthread_barrier_wait(&r.start);
		pthread_barrier_wait(&r.done);
		ASSERT_EQ(ok_before + 1, atomic_load(&r.ok));
		ASSERT_EQ(0, atomic_load(&r.other));
		EXPECT_ERRNO(ENOENT, ioctl_destroy(r.ctx, id));
		if (idev)
			EXPECT_ERRNO(ENOENT, ioctl_destroy(r.ctx, idev));
		if (hwpt)
			EXPECT_ERRNO(ENOENT, ioctl_destroy(r.ctx, hwpt));
	}
	atomic_store(&r.stop, true);
	pthread_barrier_wait(&r.start);
	for (unsigned int i = 0; i != nthreads; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&r.start);
	pthread_barrier_destroy(&r.done);
	ASSERT_EQ(rounds, atomic_load(&r.ok));
	ASSERT_EQ(rounds * (nthreads - 1),
		  atomic_load(&r.enoent) + atomic_load(&r.ebusy));
	ASSERT_EQ(0, test_check_refs(ctx, buf, BUF_LEN, 0));
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas));
	ASSERT_EQ(0, ioctl_destroy(ctx62, ioas62));
	uiommufd_ctx_close(ctx);
	uiommufd_ctx_close(ctx62);
	ASSERT_EQ(0, fresh_check_refs(buf, BUF_LEN, 0));
	munmap(buf, BUF_LEN);
}

struct use_race {
	struct uiommufd_ctx *ctx;
	uint32_t ioas;
	char *buf;
	atomic_bool stop, destroying, destroyed;
	atomic_uint ops_ok, late_enoent, bad;
	atomic_int bad_errno, bad_line;
};

/* Destroys refused with EBUSY before the race gives up on winning. */
#define USE_RACE_TRIES 1000000

#define use_race_bad(u, err) _use_race_bad(u, err, __LINE__)
static void _use_race_bad(struct use_race *u, int err, int line)
{
	atomic_fetch_add(&u->bad, 1);
	atomic_store(&u->bad_errno, err);
	atomic_store(&u->bad_line, line);
}

/* Check a result: -1/ENOENT is fine at any time, success only before. */
#define use_race_check(u, was, rc) _use_race_check(u, was, rc, __LINE__)
static void _use_race_check(struct use_race *u, bool was_destroyed, int rc,
			    int line)
{
	if (!rc) {
		if (was_destroyed)
			_use_race_bad(u, 0, line);
		else
			atomic_fetch_add(&u->ops_ok, 1);
	} else if (errno != ENOENT) {
		_use_race_bad(u, errno, line);
		if (uiommufd_last_reason())
			TH_LOG("line %d: %s", line, uiommufd_last_reason());
	} else if (was_destroyed) {
		atomic_fetch_add(&u->late_enoent, 1);
	}
}

static void *use_race_map_fn(void *arg)
{
	struct use_race *u = arg;

	while (!atomic_load(&u->stop)) {
		bool was = atomic_load(&u->destroyed);
		uint64_t iova = 0;
		int rc;

		rc = ioas_map(u->ctx, u->ioas, u->buf, TEST_PAGE_SIZE, &iova,
			      MAP_RW);
		use_race_check(u, was, rc);
		if (rc)
			continue;
		was = atomic_load(&u->destroyed);
		use_race_check(u, was, ioas_unmap(u->ctx, u->ioas, iova,
						  TEST_PAGE_SIZE, NULL));
	}
	return NULL;
}

static void *use_race_ranges_fn(void *arg)
{
	struct use_race *u = arg;
	struct iommu_iova_range r[4];

	while (!atomic_load(&u->stop)) {
		bool was = atomic_load(&u->destroyed);
		int rc = ioas_iova_ranges(u->ctx, u->ioas, r, 4, NULL, NULL);

		use_race_check(u, was, rc);
	}
	return NULL;
}

static void *use_race_attach_fn(void *arg)
{
	struct use_race *u = arg;

	while (!atomic_load(&u->stop)) {
		bool was = atomic_load(&u->destroyed);
		uint32_t stdev = 0;
		int rc = test_mock_domain(u->ctx, u->ioas, &stdev, NULL, NULL);

		/*
		 * Once the IOAS is gone its ID is free, and this very
		 * command may give it to its own idev: then the ID names a
		 * device, which is EINVAL (as in the kernel).
		 */
		if (rc && errno == EINVAL && atomic_load(&u->destroying)) {
			atomic_fetch_add(&u->late_enoent, 1);
			continue;
		}
		use_race_check(u, was, rc);
		if (rc)
			continue;
		/* Our own device: always ours to destroy. */
		if (ioctl_destroy(u->ctx, stdev))
			use_race_bad(u, errno);
	}
	return NULL;
}

static void use_race_run(bool with_attach)
{
	const struct iommu_iova_range aperture = {
		.start = MOCK_APERTURE_START, .last = MOCK_APERTURE_LAST,
	};
	struct use_race u = {};
	pthread_t t[3];
	unsigned int n = 0, busy = 0;
	uint64_t start, end;
	char *buf = test_buffer(BUF_LEN);
	int rc = -1;

	ASSERT_NE(NULL, buf);
	u.ctx = uiommufd_ctx_open(0);
	u.buf = buf;
	ASSERT_EQ(0, ioas_with_area(u.ctx, buf, BUF_LEN, &u.ioas));
	/* Automatic IOVAs inside the mock aperture, so attach never fails. */
	ASSERT_EQ(0, ioas_allow_iovas(u.ctx, u.ioas, &aperture, 1));
	start = now_ms();
	end = start + test_iterations(400);
	ASSERT_EQ(0, pthread_create(&t[n++], NULL, use_race_map_fn, &u));
	ASSERT_EQ(0, pthread_create(&t[n++], NULL, use_race_ranges_fn, &u));
	if (with_attach)
		ASSERT_EQ(0, pthread_create(&t[n++], NULL, use_race_attach_fn,
					    &u));
	/* Let the commands get going. */
	while ((now_ms() < start + (end - start) / 3 ||
		atomic_load(&u.ops_ok) < MIN_ROUNDS) &&
	       !atomic_load(&u.bad))
		usleep(1000);
	atomic_store(&u.destroying, true);
	/*
	 * It wins between two commands, mostly within tens of thousands of
	 * tries; they are counted, not timed, so a slow machine races too.
	 */
	while ((rc = ioctl_destroy(u.ctx, u.ioas))) {
		ASSERT_EQ(EBUSY, errno);
		if (++busy == test_iterations(USE_RACE_TRIES))
			break;
	}
	if (!rc) {
		atomic_store(&u.destroyed, true);
		/* Let the commands meet it gone. */
		while ((now_ms() < end ||
			atomic_load(&u.late_enoent) < MIN_ROUNDS) &&
		       !atomic_load(&u.bad))
			usleep(1000);
	}
	atomic_store(&u.stop, true);
	for (unsigned int i = 0; i != n; i++)
		pthread_join(t[i], NULL);
	if (rc) {
		/* Whatever held it is gone now. */
		ASSERT_EQ(0, ioctl_destroy(u.ctx, u.ioas));
	}
	TH_LOG("%u ops before, %u ENOENT after, %u EBUSY",
	       atomic_load(&u.ops_ok), atomic_load(&u.late_enoent), busy);
	EXPECT_EQ(0, atomic_load(&u.bad));
	EXPECT_EQ(0, atomic_load(&u.bad_line));
	EXPECT_EQ(0, atomic_load(&u.bad_errno));
	ASSERT_LT(0, atomic_load(&u.ops_ok));
	/* Commands after the destroy see it gone. */
	EXPECT_ERRNO(ENOENT, ioas_map(u.ctx, u.ioas, buf, TEST_PAGE_SIZE, NULL,
				      MAP_RW));
	EXPECT_ERRNO(ENOENT, ioctl_destroy(u.ctx, u.ioas));
	uiommufd_ctx_close(u.ctx);
	ASSERT_EQ(0, fresh_check_refs(buf, BUF_LEN, 0));
	munmap(buf, BUF_LEN);
}

TEST(threads_destroy_ioas_in_use)
{
	use_race_run(false);
}

TEST(threads_destroy_ioas_in_use_with_attach)
{
	use_race_run(true);
}

struct attach_race {
	struct uiommufd_ctx *ctx;
	uint32_t ioas;
	char *buf;
	atomic_bool stop;
	atomic_uint rounds, bad;
	atomic_int bad_errno, bad_line;
};

#define ATTACH_BAD(a, err)                                                 \
	do {                                                               \
		atomic_fetch_add(&(a)->bad, 1);                            \
		atomic_store(&(a)->bad_errno, (err));                      \
		atomic_store(&(a)->bad_line, __LINE__);                    \
	} while (0)

static void *attach_race_fn(void *arg)
{
	struct attach_race *a = arg;

	while (!atomic_load(&a->stop)) {
		uint32_t stdev = 0, hwpt = 0, idev = 0;

		if (test_mock_domain(a->ctx, a->ioas, &stdev, &hwpt, &idev)) {
			ATTACH_BAD(a, errno);
			continue;
		}
		/* Our device holds the shared HW pagetable. */
		if (test_check_map(a->ctx, hwpt, MOCK_APERTURE_START, BUF_LEN,
				   a->buf))
			ATTACH_BAD(a, errno);
		if (!ioctl_destroy(a->ctx, idev) || errno != EBUSY)
			ATTACH_BAD(a, errno);
		if (ioctl_destroy(a->ctx, stdev))
			ATTACH_BAD(a, errno);
		atomic_fetch_add(&a->rounds, 1);
	}
	return NULL;
}

TEST(threads_attach_detach_auto_hwpt)
{
	const unsigned int nthreads = 3;
	struct attach_race a = {};
	pthread_t t[MAX_THREADS];
	char *buf = test_buffer(BUF_LEN);
	uint64_t end;
	uint32_t id = 0;

	ASSERT_NE(NULL, buf);
	a.ctx = uiommufd_ctx_open(0);
	a.buf = buf;
	ASSERT_EQ(0, ioas_with_area(a.ctx, buf, BUF_LEN, &a.ioas));
	end = now_ms() + test_iterations(400);
	for (unsigned int i = 0; i != nthreads; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, attach_race_fn, &a));
	while ((now_ms() < end || atomic_load(&a.rounds) < MIN_ROUNDS) &&
	       !atomic_load(&a.bad))
		usleep(1000);
	atomic_store(&a.stop, true);
	for (unsigned int i = 0; i != nthreads; i++)
		pthread_join(t[i], NULL);
	TH_LOG("%u attach/detach rounds", atomic_load(&a.rounds));
	EXPECT_EQ(0, atomic_load(&a.bad_line));
	EXPECT_EQ(0, atomic_load(&a.bad_errno));
	ASSERT_EQ(0, atomic_load(&a.bad));
	ASSERT_LT(0, atomic_load(&a.rounds));
	/* Every auto HW pagetable went with its last device. */
	ASSERT_EQ(0, test_check_refs(a.ctx, buf, BUF_LEN, 0));
	ASSERT_EQ(0, ioctl_destroy(a.ctx, a.ioas));
	/* And no ID is left over: the table is empty. */
	ASSERT_EQ(0, leftover_id(a.ctx, 64));
	ASSERT_EQ(0, ioas_alloc(a.ctx, &id));
	ASSERT_EQ(1, id);
	uiommufd_ctx_close(a.ctx);
	ASSERT_EQ(0, fresh_check_refs(buf, BUF_LEN, 0));
	munmap(buf, BUF_LEN);
}

/*
 * Lock-step rounds: every thread attaches a device to the same IOAS (they
 * share one auto HW pagetable), then all of them detach at once, so the
 * last detach meets the others' still in progress.
 */
struct detach_step {
	struct attach_race *a;
	pthread_barrier_t start, attached;
	atomic_bool stop;
};

static void *detach_step_fn(void *arg)
{
	struct detach_step *d = arg;
	struct attach_race *a = d->a;

	for (;;) {
		uint32_t stdev = 0, hwpt = 0;
		int rc;

		pthread_barrier_wait(&d->start);
		if (atomic_load(&d->stop))
			return NULL;
		rc = test_mock_domain(a->ctx, a->ioas, &stdev, &hwpt, NULL);
		if (rc)
			ATTACH_BAD(a, errno);
		pthread_barrier_wait(&d->attached);
		if (rc)
			continue;
		if (test_check_map(a->ctx, hwpt, MOCK_APERTURE_START, BUF_LEN,
				   a->buf))
			ATTACH_BAD(a, errno);
		if (ioctl_destroy(a->ctx, stdev))
			ATTACH_BAD(a, errno);
		atomic_fetch_add(&a->rounds, 1);
	}
}

TEST(threads_detach_shared_auto_hwpt)
{
	const unsigned int nthreads = 3;
	struct attach_race a = {};
	struct detach_step d = { .a = &a };
	pthread_t t[MAX_THREADS];
	char *buf = test_buffer(BUF_LEN);
	uint64_t end;
	uint32_t id = 0;

	ASSERT_NE(NULL, buf);
	a.ctx = uiommufd_ctx_open(0);
	a.buf = buf;
	ASSERT_EQ(0, ioas_with_area(a.ctx, buf, BUF_LEN, &a.ioas));
	ASSERT_EQ(0, pthread_barrier_init(&d.start, NULL, nthreads + 1));
	ASSERT_EQ(0, pthread_barrier_init(&d.attached, NULL, nthreads + 1));
	for (unsigned int i = 0; i != nthreads; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, detach_step_fn, &d));
	end = now_ms() + test_iterations(400);
	while ((now_ms() < end || atomic_load(&a.rounds) < MIN_ROUNDS) &&
	       !atomic_load(&a.bad)) {
		pthread_barrier_wait(&d.start);
		pthread_barrier_wait(&d.attached);
	}
	atomic_store(&d.stop, true);
	pthread_barrier_wait(&d.start);
	for (unsigned int i = 0; i != nthreads; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&d.start);
	pthread_barrier_destroy(&d.attached);
	TH_LOG("%u devices attached and detached", atomic_load(&a.rounds));
	EXPECT_EQ(0, atomic_load(&a.bad_line));
	EXPECT_EQ(0, atomic_load(&a.bad_errno));
	ASSERT_EQ(0, atomic_load(&a.bad));
	ASSERT_LT(0, atomic_load(&a.rounds));
	ASSERT_EQ(0, test_check_refs(a.ctx, buf, BUF_LEN, 0));
	ASSERT_EQ(0, ioctl_destroy(a.ctx, a.ioas));
	ASSERT_EQ(0, leftover_id(a.ctx, 64));
	ASSERT_EQ(0, ioas_alloc(a.ctx, &id));
	ASSERT_EQ(1, id);
	uiommufd_ctx_close(a.ctx);
	ASSERT_EQ(0, fresh_check_refs(buf, BUF_LEN, 0));
	munmap(buf, BUF_LEN);
}

/*
 * IOMMU_DESTROY of an object its owner is letting go of right now: the
 * auto HW pagetable as its last device leaves, the idev as its stdev
 * goes, a public access as it is destroyed. The owner's release must
 * stay the only one: the outsider gets EBUSY or ENOENT (pitfall 5).
 */
enum owned_kind { OWNED_HWPT, OWNED_IDEV, OWNED_ACCESS };

struct owned_race {
	struct uiommufd_ctx *ctx;
	uint32_t ioas;
	enum owned_kind kind;
	uint64_t end_ms;
	atomic_bool done;
	atomic_uint target;
	atomic_uint rounds, destroys, stolen, other;
	atomic_int other_errno;
};

static void owned_race_owner(struct owned_race *o)
{
	const struct uiommufd_access_ops ops = { .flags = 0 };

	while (now_ms() < o->end_ms ||
	       atomic_load(&o->rounds) < MIN_ROUNDS) {
		struct uiommufd_access *access;
		uint32_t stdev = 0, hwpt = 0, idev = 0, id = 0;

		switch (o->kind) {
		case OWNED_HWPT:
		case OWNED_IDEV:
			if (test_mock_domain(o->ctx, o->ioas, &stdev, &hwpt,
					     &idev)) {
				atomic_fetch_add(&o->other, 1);
				atomic_store(&o->other_errno, errno);
				return;
			}
			atomic_store(&o->target,
				     o->kind == OWNED_HWPT ? hwpt : idev);
			if (ioctl_destroy(o->ctx, stdev)) {
				atomic_fetch_add(&o->other, 1);
				atomic_store(&o->other_errno, errno);
			}
			break;
		case OWNED_ACCESS:
			access = uiommufd_access_create(o->ctx, o->ioas, &ops,
							NULL, &id);
			if (!access) {
				atomic_fetch_add(&o->other, 1);
				atomic_store(&o->other_errno, errno);
				return;
			}
			atomic_store(&o->target, id);
			uiommufd_access_destroy(access);
			break;
		}
		atomic_fetch_add(&o->rounds, 1);
	}
}

static void *owned_race_owner_fn(void *arg)
{
	struct owned_race *o = arg;

	owned_race_owner(o);
	atomic_store(&o->done, true);
	return NULL;
}

static void *owned_race_thief_fn(void *arg)
{
	struct owned_race *o = arg;

	while (!atomic_load(&o->done)) {
		uint32_t id = atomic_load(&o->target);

		if (!id)
			continue;
		atomic_fetch_add(&o->destroys, 1);
		if (!ioctl_destroy(o->ctx, id)) {
			atomic_fetch_add(&o->stolen, 1);
			/* Do not make it worse: stop here. */
			return NULL;
		}
		if (errno != EBUSY && errno != ENOENT) {
			atomic_fetch_add(&o->other, 1);
			atomic_store(&o->other_errno, errno);
		}
	}
	return NULL;
}

static void owned_race_run(enum owned_kind kind)
{
	struct owned_race o = { .kind = kind };
	pthread_t owner, thief;
	uint32_t id = 0;

	o.ctx = uiommufd_ctx_open(0);
	ASSERT_EQ(0, ioas_alloc(o.ctx, &o.ioas));
	o.end_ms = now_ms() + test_iterations(400);
	ASSERT_EQ(0, pthread_create(&owner, NULL, owned_race_owner_fn, &o));
	ASSERT_EQ(0, pthread_create(&thief, NULL, owned_race_thief_fn, &o));
	pthread_join(owner, NULL);
	pthread_join(thief, NULL);
	TH_LOG("%u rounds, %u destroy attempts", atomic_load(&o.rounds),
	       atomic_load(&o.destroys));
	EXPECT_EQ(0, atomic_load(&o.other_errno));
	ASSERT_EQ(0, atomic_load(&o.stolen));
	ASSERT_EQ(0, atomic_load(&o.other));
	ASSERT_LT(0, atomic_load(&o.rounds));
	ASSERT_EQ(0, ioctl_destroy(o.ctx, o.ioas));
	ASSERT_EQ(0, leftover_id(o.ctx, 64));
	ASSERT_EQ(0, ioas_alloc(o.ctx, &id));
	ASSERT_EQ(1, id);
	uiommufd_ctx_close(o.ctx);
}

TEST(threads_destroy_auto_hwpt_while_detaching)
{
	owned_race_run(OWNED_HWPT);
}

TEST(threads_destroy_idev_while_unbinding)
{
	owned_race_run(OWNED_IDEV);
}

TEST(threads_destroy_access_while_destroying)
{
	owned_race_run(OWNED_ACCESS);
}

/* ---- 9. failed responses (pitfalls 21, 22) ---- */

TEST(fail_create_access_readonly)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	char *buf = test_buffer(BUF_LEN);
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_CREATE_ACCESS,
		.create_access = {
			.flags = NEEDS_PIN,
		},
	};
	struct iommu_test_cmd *ro;
	uint64_t iova = 0;
	uint32_t ioas = 0, id = 0;
	int fds, afd = -1;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, ioas_map(ctx, ioas, buf, BUF_LEN, &iova, MAP_RW));
	ASSERT_EQ(-1, any_fd_owned());
	fds = count_open_fds();
	ASSERT_LT(0, fds);
	cmd.id = ioas;
	ro = ro_copy(&cmd, sizeof(cmd));
	ASSERT_NE(NULL, ro);
	for (int i = 0; i != 3; i++)
		EXPECT_ERRNO(EFAULT, uiommufd_ioctl(ctx, IOMMU_TEST_CMD, ro));
	ro_free(ro);
	ASSERT_EQ(-1, any_fd_owned());
	ASSERT_EQ(fds, count_open_fds());
	ASSERT_EQ(0, test_check_refs(ctx, buf, BUF_LEN, 0));
	/* No access holds the IOAS, and its ID slot was given back. */
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas));
	ASSERT_EQ(0, ioas_alloc(ctx, &id));
	ASSERT_EQ(1, id);
	ASSERT_EQ(0, ioas_alloc(ctx, &id));
	ASSERT_EQ(2, id);
	/* A good one still works afterwards. */
	ASSERT_EQ(0, test_create_access(ctx, 1, 0, &afd));
	ASSERT_TRUE(uiommufd_fd_owned(afd));
	ASSERT_EQ(0, uiommufd_fd_close(afd));
	uiommufd_ctx_close(ctx);
	munmap(buf, BUF_LEN);
}

FIXTURE(fail_mock_domain)
{
	struct uiommufd_ctx *ctx;
	char *buf;
};

/*
 * MOCK_DOMAIN whose answer cannot be written back (pitfall 21): EFAULT,
 * and nothing of the attach remains. Each release with its own command
 * size; a command the release refuses before it runs (the 56-byte one
 * under 7.2, below its minimum; under 6.2 an ID that is not an IOAS)
 * fails as the kernel would, first, and creates nothing either.
 */
FIXTURE_VARIANT(fail_mock_domain)
{
	uint32_t kernel;
	uint32_t size;	/* of the command */
	bool share;	/* a device is already attached */
	bool on_hwpt;	/* attach to a HW pagetable by ID */
	int err;	/* what the read-only command gets */
};

FIXTURE_VARIANT_ADD(fail_mock_domain, newest)
{
	.kernel = UIOMMUFD_KERNEL_7_2, .size = IOMMU_TEST_CMD_SIZE,
	.err = EFAULT,
};

FIXTURE_VARIANT_ADD(fail_mock_domain, newest_shared)
{
	.kernel = UIOMMUFD_KERNEL_7_2, .size = IOMMU_TEST_CMD_SIZE,
	.share = true, .err = EFAULT,
};

/* 7.2: the only HW pagetables are auto ones, with a device on them. */
FIXTURE_VARIANT_ADD(fail_mock_domain, newest_on_hwpt_id)
{
	.kernel = UIOMMUFD_KERNEL_7_2, .size = IOMMU_TEST_CMD_SIZE,
	.share = true, .on_hwpt = true, .err = EFAULT,
};

/* The size is checked before the command is read at all. */
FIXTURE_VARIANT_ADD(fail_mock_domain, newest_v6_2_size)
{
	.kernel = UIOMMUFD_KERNEL_7_2, .size = IOMMU_TEST_CMD_V6_2_SIZE,
	.err = EINVAL,
};

FIXTURE_VARIANT_ADD(fail_mock_domain, v6_2)
{
	.kernel = UIOMMUFD_KERNEL_6_2, .size = IOMMU_TEST_CMD_V6_2_SIZE,
	.err = EFAULT,
};

FIXTURE_VARIANT_ADD(fail_mock_domain, v6_2_shared)
{
	.kernel = UIOMMUFD_KERNEL_6_2, .size = IOMMU_TEST_CMD_V6_2_SIZE,
	.share = true, .err = EFAULT,
};

/* 6.2 looked the ID up as an IOAS: a HW pagetable's is ENOENT. */
FIXTURE_VARIANT_ADD(fail_mock_domain, v6_2_on_hwpt_id)
{
	.kernel = UIOMMUFD_KERNEL_6_2, .size = IOMMU_TEST_CMD_V6_2_SIZE,
	.on_hwpt = true, .err = ENOENT,
};

/* 72 bytes with a zero tail is the 56-byte command under 6.2. */
FIXTURE_VARIANT_ADD(fail_mock_domain, v6_2_newest_size)
{
	.kernel = UIOMMUFD_KERNEL_6_2, .size = IOMMU_TEST_CMD_SIZE,
	.err = EFAULT,
};

FIXTURE_VARIANT_ADD(fail_mock_domain, v6_2_newest_size_shared)
{
	.kernel = UIOMMUFD_KERNEL_6_2, .size = IOMMU_TEST_CMD_SIZE,
	.share = true, .err = EFAULT,
};

FIXTURE_SETUP(fail_mock_domain)
{
	self->ctx = ctx_open_as(variant->kernel, false, 0);
	ASSERT_NE(NULL, self->ctx);
	self->buf = test_buffer(BUF_LEN);
	ASSERT_NE(NULL, self->buf);
}

FIXTURE_TEARDOWN(fail_mock_domain)
{
	uiommufd_ctx_close(self->ctx);
	munmap(self->buf, BUF_LEN);
}

TEST_F(fail_mock_domain, readonly_response)
{
	struct uiommufd_ctx *ctx = self->ctx;
	bool v6_2 = variant->kernel == UIOMMUFD_KERNEL_6_2;
	uint32_t ioas = 0, stdev = 0, hwpt = 0, idev = 0, id = 0;
	struct iommu_test_cmd cmd;
	void *ro;

	/* Zeroed whole: 6.2 wants zeros past 56 in the 72-byte command. */
	test_cmd_init(&cmd, IOMMU_TEST_OP_MOCK_DOMAIN, 0);
	cmd.size = variant->size;
	ASSERT_EQ(0, ioas_with_area(ctx, self->buf, BUF_LEN, &ioas));
	if (variant->share) {
		/* Under 6.2 a HW pagetable of its own, the caller's. */
		if (v6_2) {
			ASSERT_EQ(0, mock_domain_v6_2(ctx, ioas, &stdev,
						      &hwpt));
			/*
			 * 6.2's selftest object is the device: no ID of
			 * its own, so the HW pagetable's comes next.
			 */
			ASSERT_EQ(stdev + 1, hwpt);
		} else {
			ASSERT_EQ(0, test_mock_domain(ctx, ioas, &stdev, &hwpt,
						      &idev));
		}
	}
	cmd.id = ioas;
	if (variant->on_hwpt && !variant->share) {
		uint32_t dev = 0;

		/* A HW pagetable of the caller's own, with no device left. */
		ASSERT_TRUE(v6_2);
		ASSERT_EQ(0, mock_domain_v6_2(ctx, ioas, &dev, &hwpt));
		ASSERT_EQ(0, ioctl_destroy(ctx, dev));
	}
	if (variant->on_hwpt)
		cmd.id = hwpt;
	ro = ro_copy(&cmd, cmd.size);
	ASSERT_NE(NULL, ro);
	for (int i = 0; i != 3; i++)
		EXPECT_ERRNO(variant->err,
			     uiommufd_ioctl(ctx, IOMMU_TEST_CMD, ro));
	ro_free(ro);
	/* Nothing of the failed attaches remains: no ID in use past ours. */
	for (id = 1; id != 16; id++) {
		if (id == ioas || id == stdev || id == hwpt || id == idev)
			continue;
		EXPECT_ERRNO(ENOENT, ioctl_destroy(ctx, id));
	}
	if (variant->on_hwpt && !variant->share) {
		/* A failed command leaves the caller's HW pagetable alone. */
		ASSERT_EQ(0, test_check_map(ctx, hwpt, MOCK_APERTURE_START,
					    BUF_LEN, self->buf));
		EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, ioas));
		ASSERT_EQ(0, ioctl_destroy(ctx, hwpt));
	}
	if (variant->share) {
		/* The shared HW pagetable is as it was. */
		ASSERT_EQ(0, test_check_map(ctx, hwpt, MOCK_APERTURE_START,
					    BUF_LEN, self->buf));
		ASSERT_EQ(0, test_check_refs(ctx, self->buf, BUF_LEN, 1));
		EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, ioas));
		ASSERT_EQ(0, ioctl_destroy(ctx, stdev));
		if (v6_2) {
			/* The caller's: it outlives the device. */
			EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, ioas));
			ASSERT_EQ(0, ioctl_destroy(ctx, hwpt));
		}
		EXPECT_ERRNO(ENOENT, ioctl_destroy(ctx, hwpt));
	}
	ASSERT_EQ(0, test_check_refs(ctx, self->buf, BUF_LEN, 0));
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas));
	ASSERT_EQ(0, ioas_alloc(ctx, &id));
	ASSERT_EQ(1, id);
	ASSERT_EQ(0, ioas_alloc(ctx, &id));
	ASSERT_EQ(2, id);
}

/* ---- 10. IOMMU_DESTROY of an access's ID (pitfall 25) ---- */

TEST(destroy_access_fd_object_id)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	char *buf = test_buffer(BUF_LEN);
	uint64_t iova = 0;
	uint32_t ioas = 0, item = 0, busy = 0;
	char rd[16];
	int afd = -1;

	ASSERT_NE(NULL, buf);
	memset(buf, 0x3c, BUF_LEN);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, ioas_map(ctx, ioas, buf, BUF_LEN, &iova, MAP_RW));
	ASSERT_EQ(0, test_create_access(ctx, ioas, NEEDS_PIN, &afd));
	ASSERT_EQ(0, test_access_pages(ctx, afd, iova, TEST_PAGE_SIZE, buf, 0,
				       &item));
	/* Whatever ID the access got, IOMMU_DESTROY cannot take it. */
	for (uint32_t id = 1; id != 32; id++) {
		errno = 0;
		ASSERT_EQ(-1, ioctl_destroy(ctx, id));
		if (errno == EBUSY)
			busy++;
		else
			ASSERT_EQ(ENOENT, errno);
	}
	/* The IOAS and the access. */
	ASSERT_EQ(2, busy);
	ASSERT_EQ(0, test_access_rw(ctx, afd, iova + 10, rd, sizeof(rd), 0));
	ASSERT_EQ(0x3c, rd[0]);
	ASSERT_EQ(0, test_check_refs(ctx, buf, TEST_PAGE_SIZE, 1));
	ASSERT_EQ(0, test_destroy_access_pages(ctx, afd, item));
	ASSERT_EQ(0, test_access_pages(ctx, afd, iova, 2 * TEST_PAGE_SIZE, buf,
				       0, &item));
	ASSERT_EQ(0, uiommufd_fd_close(afd));
	ASSERT_EQ(0, test_check_refs(ctx, buf, BUF_LEN, 0));
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas));
	uiommufd_ctx_close(ctx);
	munmap(buf, BUF_LEN);
}

TEST(destroy_public_access_id_then_use)
{
	const struct uiommufd_access_ops ops = {
		.flags = UIOMMUFD_ACCESS_NEEDS_PIN_PAGES,
		.unmap = noop_unmap,
	};
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	char *buf = test_buffer(BUF_LEN);
	struct uiommufd_access *access;
	uint64_t iova = 0, pfn = 0;
	uint32_t ioas = 0, id = 0;
	char rd[4];

	ASSERT_NE(NULL, buf);
	memset(buf, 0x11, BUF_LEN);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, ioas_map(ctx, ioas, buf, BUF_LEN, &iova, MAP_RW));
	access = uiommufd_access_create(ctx, ioas, &ops, NULL, &id);
	ASSERT_NE(NULL, access);
	ASSERT_EQ(0, uiommufd_access_pin_pages(access, iova, TEST_PAGE_SIZE,
					       &pfn, NULL, 0));
	for (int i = 0; i != 5; i++)
		EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, id));
	ASSERT_EQ(0, uiommufd_access_rw(access, iova + 1, rd, sizeof(rd), 0));
	ASSERT_EQ(0x11, rd[3]);
	ASSERT_EQ(0, uiommufd_access_unpin_pages(access, iova, TEST_PAGE_SIZE));
	ASSERT_EQ(0, test_check_refs(ctx, buf, BUF_LEN, 0));
	uiommufd_access_destroy(access);
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas));
	uiommufd_ctx_close(ctx);
	munmap(buf, BUF_LEN);
}
