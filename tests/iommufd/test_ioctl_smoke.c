// SPDX-License-Identifier: MIT
/*
 * A first walk through the commands end to end: the basic life of an
 * IOAS with mock domains and an access.
 */
#include "iommufd/iommufd_utils.h"

TEST(smoke_map_domain_access_copy)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	size_t len = 16 * TEST_PAGE_SIZE;
	uint32_t ioas = 0, ioas2 = 0, stdev = 0, hwpt = 0, idev = 0, item = 0;
	struct iommu_iova_range r[4];
	uint64_t iova = 0, iova2 = 0, align = 0, unmapped = 0;
	uint32_t num = 0;
	char *buf = test_buffer(len);
	char rd[64];
	int afd = -1;

	ASSERT_NE(NULL, ctx);
	ASSERT_NE(NULL, buf);
	memset(buf, 0x5a, len);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(1, ioas);
	ASSERT_EQ(0, ioas_iova_ranges(ctx, ioas, r, 4, &num, &align));
	ASSERT_EQ(1, num);
	ASSERT_EQ(0, r[0].start);
	ASSERT_EQ(UINT64_MAX, r[0].last);
	ASSERT_EQ(1, align);

	ASSERT_EQ(0, test_mock_domain(ctx, ioas, &stdev, &hwpt, &idev));
	ASSERT_EQ(0, ioas_iova_ranges(ctx, ioas, r, 4, &num, &align));
	ASSERT_EQ(1, num);
	ASSERT_EQ(MOCK_APERTURE_START, r[0].start);
	ASSERT_EQ(MOCK_APERTURE_LAST, r[0].last);
	ASSERT_EQ(MOCK_PAGE_SIZE, align);

	ASSERT_EQ(0, ioas_map(ctx, ioas, buf, len, &iova, MAP_RW));
	ASSERT_EQ(0, test_check_map(ctx, hwpt, iova, len, buf));
	ASSERT_EQ(0, test_check_refs(ctx, buf, len, 1));
	EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, ioas));
	EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, hwpt));
	EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, idev));

	ASSERT_EQ(0, test_create_access(ctx, ioas,
					MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
					&afd));
	ASSERT_EQ(1, uiommufd_fd_owned(afd));
	ASSERT_EQ(0, test_access_pages(ctx, afd, iova, TEST_PAGE_SIZE, buf, 0,
				       &item));
	ASSERT_EQ(0, test_access_rw(ctx, afd, iova + 100, rd, sizeof(rd), 0));
	ASSERT_EQ(0x5a, rd[10]);
	ASSERT_EQ(0, test_check_refs(ctx, buf, len, 1));

	ASSERT_EQ(0, ioas_alloc(ctx, &ioas2));
	ASSERT_EQ(0, ioas_copy(ctx, ioas2, ioas, iova, len, &iova2, MAP_RW));
	ASSERT_EQ(0, test_check_refs(ctx, buf, len, 1));

	/* Unmapping under the pin calls the access back. */
	ASSERT_EQ(0, ioas_unmap(ctx, ioas, iova, len, &unmapped));
	ASSERT_EQ(len, unmapped);
	EXPECT_ERRNO(ENOENT, test_destroy_access_pages(ctx, afd, item));
	ASSERT_EQ(0, uiommufd_fd_close(afd));
	ASSERT_EQ(0, ioctl_destroy(ctx, stdev));
	EXPECT_ERRNO(ENOENT, ioctl_destroy(ctx, hwpt));
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas));
	uiommufd_ctx_close(ctx);
	ctx = uiommufd_ctx_open(0);
	ASSERT_EQ(0, test_check_refs(ctx, buf, len, 0));
	uiommufd_ctx_close(ctx);
}

TEST(smoke_bad_pointers)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);

	ASSERT_ERRNO(EFAULT, uiommufd_ioctl(ctx, IOMMU_IOAS_ALLOC, BAD_PTR));
	ASSERT_ERRNO(EFAULT, uiommufd_ioctl(ctx, IOMMU_IOAS_ALLOC,
					    (void *)(uintptr_t)-8));
	ASSERT_NE(NULL, uiommufd_last_reason());
	uiommufd_ctx_close(ctx);
}

static void note_unmap(void *data, uint64_t iova, uint64_t length)
{
	(*(int *)data)++;
}

/* Pinned pages come back as identities and as pointers this process can use. */
TEST(smoke_access_api_pin_pointers)
{
	struct uiommufd_access_ops ops = {
		.flags = UIOMMUFD_ACCESS_NEEDS_PIN_PAGES,
		.unmap = note_unmap,
	};
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	size_t len = 4 * TEST_PAGE_SIZE;
	char *buf = test_buffer(len);
	struct uiommufd_access *access;
	uint64_t iova = 0, pfns[4] = {};
	void *pages[4] = {};
	uint32_t ioas = 0, id = 0;
	int calls = 0;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, ioas_map(ctx, ioas, buf, len, &iova, MAP_RW));
	access = uiommufd_access_create(ctx, ioas, &ops, &calls, &id);
	ASSERT_NE(NULL, access);
	ASSERT_NE(0, id);
	ASSERT_EQ(0, uiommufd_access_pin_pages(access, iova + TEST_PAGE_SIZE,
					       2 * TEST_PAGE_SIZE, pfns, pages,
					       UIOMMUFD_ACCESS_RW_WRITE));
	ASSERT_EQ(buf + TEST_PAGE_SIZE, pages[0]);
	ASSERT_EQ(buf + 2 * TEST_PAGE_SIZE, pages[1]);
	ASSERT_EQ(((uintptr_t)buf >> 12) + 1, pfns[0]);
	ASSERT_EQ(0, test_check_refs(ctx, buf + TEST_PAGE_SIZE,
				     2 * TEST_PAGE_SIZE, 1));
	((char *)pages[1])[7] = 0x33;
	ASSERT_EQ(0x33, buf[2 * TEST_PAGE_SIZE + 7]);
	ASSERT_EQ(-EINVAL, uiommufd_access_unpin_pages(access, iova,
						       TEST_PAGE_SIZE));
	ASSERT_EQ(0, uiommufd_access_unpin_pages(access, iova + TEST_PAGE_SIZE,
						 2 * TEST_PAGE_SIZE));
	ASSERT_EQ(0, test_check_refs(ctx, buf, len, 0));
	ASSERT_EQ(0, calls);
	uiommufd_access_destroy(access);
	uiommufd_ctx_close(ctx);
	munmap(buf, len);
}
