// SPDX-License-Identifier: MIT
/*
 * The behaviour of the nine Linux 6.2 commands (mostly MAP, UNMAP, COPY,
 * IOVA_RANGES and ALLOW_IOVAS) and of test-module ops 1-9, driven through
 * uiommufd_ioctl() the way Linux's own iommufd selftests drive /dev/iommu
 * (tools/testing/selftests/iommu/iommufd.c: the iommufd_ioas and
 * iommufd_mock_domain fixtures). The kernel is the reference: every
 * expected errno and value below is what the kernel returns.
 *
 * A context answers as one Linux release, and every fixture runs under
 * both, each release with its own test-command layout and MOCK_DOMAIN:
 * under 7.2 (72 bytes) a device goes on the IOAS's auto HW pagetable,
 * shared by every device on the IOAS and gone with the last of them;
 * under 6.2 (56 bytes) each device gets a HW pagetable of its own, a
 * distinct domain, which the caller destroys after the device. Distinct
 * domains on one IOAS are therefore 6.2's (there is no HWPT_ALLOC yet).
 *
 * The ioas fixture runs each test with no domain, one mock domain, one
 * domain under a 16-byte temporary memory limit and two devices: under
 * 7.2 two devices on one auto HW pagetable, under 6.2 two distinct
 * domains (one attached with the 72-byte command, which 6.2 reads as its
 * 56-byte one). The temp_limit fixture maps memory whose PFN runs break
 * often (memfd pages in scrambled order between anonymous ones) under
 * limits of 16, 32 and 65536 bytes. Every teardown closes the context and
 * checks, from a fresh one, that no page of any buffer the test used is
 * pinned.
 */
#include <fcntl.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/mman.h>

#include "iommufd/iommufd_utils.h"

#define PAGE_SZ TEST_PAGE_SIZE
#define BUFFER_SIZE (16 * PAGE_SZ)
#define HUGE_ALIGN (2UL << 20)
#define DEFAULT_TEMP_LIMIT 65536
#define MAX_BUFS 16
#define MAX_AFDS 4
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

/* ---- commands this suite needs that iommufd_utils.h does not have ---- */

/*
 * MOCK_DOMAIN with the Linux 6.2 (56-byte) command, in a context answering
 * as 6.2: the caller gets a new mock HW pagetable of its own even when the
 * IOAS already has one.
 */
static int cmds_mock_domain_v6_2(struct uiommufd_ctx *ctx, uint32_t ioas_id,
				 uint32_t *device_id, uint32_t *hwpt_id)
{
	struct iommu_test_cmd_v6_2 cmd = {
		.size = IOMMU_TEST_CMD_V6_2_SIZE,
		.op = IOMMU_TEST_OP_MOCK_DOMAIN,
		.id = ioas_id,
	};
	int rc = uiommufd_ioctl(ctx, IOMMU_TEST_CMD, &cmd);

	if (rc)
		return rc;
	*device_id = cmd.mock_domain.out_device_id;
	*hwpt_id = cmd.mock_domain.out_hwpt_id;
	return 0;
}

/*
 * A mock device on @ioas_id, with the command of @ctx's release: under 6.2
 * on a HW pagetable of its own, under 7.2 on the IOAS's auto one.
 */
static int cmds_mock_domain(struct uiommufd_ctx *ctx, bool v6_2,
			    uint32_t ioas_id, uint32_t *device_id,
			    uint32_t *hwpt_id)
{
	if (v6_2)
		return cmds_mock_domain_v6_2(ctx, ioas_id, device_id, hwpt_id);
	return test_mock_domain(ctx, ioas_id, device_id, hwpt_id, NULL);
}

/*
 * Destroy device @dev and see its HW pagetable @hwpt go as the release
 * has it: under 6.2 the caller destroys it after the device (EBUSY
 * before); under 7.2 it goes with its last device, so it is gone when
 * @last, else still there and busy.
 */
static void cmds_mock_domain_destroy(struct uiommufd_ctx *ctx, bool v6_2,
				     uint32_t dev, uint32_t hwpt, bool last)
{
	if (v6_2)
		EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, hwpt));
	ASSERT_EQ(0, ioctl_destroy(ctx, dev));
	if (v6_2)
		ASSERT_EQ(0, ioctl_destroy(ctx, hwpt));
	else if (!last)
		EXPECT_ERRNO(EBUSY, ioctl_destroy(ctx, hwpt));
	if (v6_2 || last)
		EXPECT_ERRNO(ENOENT, ioctl_destroy(ctx, hwpt));
}

/* ACCESS_PAGES/ACCESS_RW IOVA in the MOCK_FLAGS_ACCESS_SYZ encoding. */
static uint64_t syz_iova(uint32_t nth_area, uint32_t offset)
{
	return nth_area | (uint64_t)offset << 32;
}

static int cmds_hugepages_option(struct uiommufd_ctx *ctx, uint32_t ioas_id,
				 uint16_t op, uint64_t *val)
{
	return ioctl_option(ctx, IOMMU_OPTION_HUGE_PAGES, op, ioas_id, val);
}

static uint64_t iova_alignment(struct uiommufd_ctx *ctx, uint32_t ioas_id)
{
	uint64_t align = 0;
	uint32_t num = 0;

	if (ioas_iova_ranges(ctx, ioas_id, NULL, 0, &num, &align) &&
	    errno != EMSGSIZE)
		return 0;
	return align;
}

/* @len bytes of anonymous memory aligned to @align, filled with a pattern. */
static void *aligned_buffer(size_t len, size_t align, unsigned int seed)
{
	size_t total = len + align;
	uint8_t *raw, *buf;

	raw = mmap(NULL, total, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	buf = (uint8_t *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
	if (buf != raw)
		munmap(raw, buf - raw);
	if (raw + total != buf + len)
		munmap(buf + len, raw + total - (buf + len));
	for (size_t i = 0; i != len; i++)
		buf[i] = (uint8_t)(i * 7 + seed + (i >> 12));
	return buf;
}

/* ---- the ioas fixture ---- */

FIXTURE(ioas)
{
	struct uiommufd_ctx *ctx;
	bool v6_2;		/* the context answers as Linux 6.2 */
	uint32_t ioas_id;
	unsigned int ndevices;
	unsigned int ndomains;	/* distinct ones: hwpt_ids[0 .. ndomains) */
	uint32_t dev_ids[2];
	uint32_t hwpt_ids[2];
	uint64_t base_iova;
	uint8_t *buffer;
	struct {
		void *p;
		size_t len;
		bool check;
	} bufs[MAX_BUFS];
	unsigned int nbufs;
	int afds[MAX_AFDS];
};

FIXTURE_VARIANT(ioas)
{
	uint32_t kernel;
	unsigned int mock_devices;
	unsigned int memory_limit;
};

FIXTURE_VARIANT_ADD(ioas, no_domain)
{
	.kernel = UIOMMUFD_KERNEL_7_2,
	.mock_devices = 0,
};

FIXTURE_VARIANT_ADD(ioas, mock_domain)
{
	.kernel = UIOMMUFD_KERNEL_7_2,
	.mock_devices = 1,
};

/* Two devices, one domain: the auto HW pagetable is shared. */
FIXTURE_VARIANT_ADD(ioas, two_devices)
{
	.kernel = UIOMMUFD_KERNEL_7_2,
	.mock_devices = 2,
};

FIXTURE_VARIANT_ADD(ioas, mock_domain_limit)
{
	.kernel = UIOMMUFD_KERNEL_7_2,
	.mock_devices = 1,
	.memory_limit = 16,
};

FIXTURE_VARIANT_ADD(ioas, no_domain_v6_2)
{
	.kernel = UIOMMUFD_KERNEL_6_2,
	.mock_devices = 0,
};

FIXTURE_VARIANT_ADD(ioas, mock_domain_v6_2)
{
	.kernel = UIOMMUFD_KERNEL_6_2,
	.mock_devices = 1,
};

/* Two devices, two domains: each HW pagetable its own. */
FIXTURE_VARIANT_ADD(ioas, two_mock_domains_v6_2)
{
	.kernel = UIOMMUFD_KERNEL_6_2,
	.mock_devices = 2,
};

FIXTURE_VARIANT_ADD(ioas, mock_domain_limit_v6_2)
{
	.kernel = UIOMMUFD_KERNEL_6_2,
	.mock_devices = 1,
	.memory_limit = 16,
};

/* Remember @p for the teardown: refs checked (if @check), then unmapped. */
static void fx_track(struct _fixture_data_ioas *self, void *p, size_t len,
		     bool check)
{
	ASSERT_LT(self->nbufs, MAX_BUFS);
	self->bufs[self->nbufs].p = p;
	self->bufs[self->nbufs].len = len;
	self->bufs[self->nbufs].check = check;
	self->nbufs++;
}

static uint8_t *fx_buffer(struct _fixture_data_ioas *self, size_t len,
			  unsigned int seed)
{
	uint8_t *buf = aligned_buffer(len, HUGE_ALIGN, seed);

	ASSERT_NONNULL(buf);
	fx_track(self, buf, len, true);
	return buf;
}

static int fx_access(struct _fixture_data_ioas *self, uint32_t ioas_id,
		     uint32_t flags, int *afd)
{
	int rc = test_create_access(self->ctx, ioas_id, flags, afd);

	if (rc)
		return rc;
	for (unsigned int i = 0; i != MAX_AFDS; i++) {
		if (self->afds[i] < 0) {
			self->afds[i] = *afd;
			return 0;
		}
	}
	test_fail(__FILE__, __LINE__, true, "too many access fds");
	return -1;
}

static void fx_access_close(struct _fixture_data_ioas *self, int afd)
{
	for (unsigned int i = 0; i != MAX_AFDS; i++)
		if (self->afds[i] == afd)
			self->afds[i] = -1;
	ASSERT_EQ(0, uiommufd_fd_close(afd));
}

FIXTURE_SETUP(ioas)
{
	for (unsigned int i = 0; i != MAX_AFDS; i++)
		self->afds[i] = -1;
	self->v6_2 = variant->kernel == UIOMMUFD_KERNEL_6_2;
	self->ctx = ctx_open_as(variant->kernel, false, 0);
	ASSERT_NONNULL(self->ctx);
	ASSERT_EQ(variant->kernel, ctx_kernel(self->ctx));
	ASSERT_EQ(0, test_set_temp_memory_limit(self->ctx,
						variant->memory_limit ?:
							DEFAULT_TEMP_LIMIT));
	ASSERT_EQ(0, ioas_alloc(self->ctx, &self->ioas_id));
	/* 7.2: the newest command; 6.2: its own, then the 72-byte one. */
	if (variant->mock_devices >= 1)
		ASSERT_EQ(0, cmds_mock_domain(self->ctx, self->v6_2,
					      self->ioas_id, &self->dev_ids[0],
					      &self->hwpt_ids[0]));
	if (variant->mock_devices >= 2)
		ASSERT_EQ(0, test_mock_domain(self->ctx, self->ioas_id,
					      &self->dev_ids[1],
					      &self->hwpt_ids[1], NULL));
	self->ndevices = variant->mock_devices;
	self->ndomains = self->v6_2 ? self->ndevices : !!self->ndevices;
	/* Two domains really under 6.2; one shared under 7.2. */
	if (self->ndevices >= 2 && self->v6_2)
		ASSERT_NE(self->hwpt_ids[0], self->hwpt_ids[1]);
	if (self->ndevices >= 2 && !self->v6_2)
		ASSERT_EQ(self->hwpt_ids[0], self->hwpt_ids[1]);
	self->base_iova = MOCK_APERTURE_START;
	self->buffer = fx_buffer(self, BUFFER_SIZE, 1);
}

FIXTURE_TEARDOWN(ioas)
{
	struct uiommufd_ctx *ctx;

	for (unsigned int i = 0; i != MAX_AFDS; i++)
		if (self->afds[i] >= 0)
			EXPECT_EQ(0, uiommufd_fd_close(self->afds[i]));
	uiommufd_ctx_close(self->ctx);

	/* Nothing stays pinned once the context is gone. */
	ctx = uiommufd_ctx_open(0);
	EXPECT_NE(NULL, ctx);
	if (ctx) {
		EXPECT_EQ(0, test_set_temp_memory_limit(ctx,
							DEFAULT_TEMP_LIMIT));
		for (unsigned int i = 0; i != self->nbufs; i++)
			if (self->bufs[i].check)
				EXPECT_EQ(0, test_check_refs(ctx,
							     self->bufs[i].p,
							     self->bufs[i].len,
							     0));
		uiommufd_ctx_close(ctx);
	}
	for (unsigned int i = 0; i != self->nbufs; i++)
		munmap(self->bufs[i].p, self->bufs[i].len);
}

/*
 * Detach the fixture's last device: under 6.2 its domain goes with it
 * (destroyed after it); under 7.2 the shared domain goes with the last
 * device only.
 */
static void fx_detach_device(struct _fixture_data_ioas *self)
{
	unsigned int i;

	ASSERT_LT(0, self->ndevices);
	i = --self->ndevices;
	cmds_mock_domain_destroy(self->ctx, self->v6_2, self->dev_ids[i],
				 self->hwpt_ids[i], !self->ndevices);
	self->ndomains = self->v6_2 ? self->ndevices : !!self->ndevices;
}

/* Detach every device of the fixture: no domain is left. */
static void fx_detach_all(struct _fixture_data_ioas *self)
{
	while (self->ndevices)
		fx_detach_device(self);
	ASSERT_EQ(0, self->ndomains);
}

/*
 * A new device on the fixture's IOAS: under 6.2 a new, distinct domain;
 * under 7.2 the IOAS's auto HW pagetable, new only when the fixture has
 * no device. fx_dev_destroy() detaches it again.
 */
static void fx_dev_attach(struct _fixture_data_ioas *self, uint32_t *dev,
			  uint32_t *hwpt)
{
	ASSERT_EQ(0, cmds_mock_domain(self->ctx, self->v6_2, self->ioas_id,
				      dev, hwpt));
	if (self->v6_2 || !self->ndevices) {
		for (unsigned int i = 0; i != self->ndomains; i++)
			ASSERT_NE(self->hwpt_ids[i], *hwpt);
	} else {
		ASSERT_EQ(self->hwpt_ids[0], *hwpt);
	}
}

/* Whether fx_dev_attach()'s device has a domain of its own. */
static bool fx_dev_own_domain(struct _fixture_data_ioas *self)
{
	return self->v6_2 || !self->ndevices;
}

static void fx_dev_destroy(struct _fixture_data_ioas *self, uint32_t dev,
			   uint32_t hwpt)
{
	cmds_mock_domain_destroy(self->ctx, self->v6_2, dev, hwpt,
				 fx_dev_own_domain(self));
}

/* Every mock domain of the fixture maps [iova, +len) to @buf. */
static void check_mock_iova(struct _fixture_data_ioas *self, const void *buf,
			    uint64_t iova, uint64_t len)
{
	for (unsigned int i = 0; i != self->ndomains; i++)
		ASSERT_EQ(0, test_check_map(self->ctx, self->hwpt_ids[i], iova,
					    len, buf));
}

/* Pins a map makes: one per page while a domain is attached, else none. */
static void check_map_refs(struct _fixture_data_ioas *self, const void *buf,
			   uint64_t len, unsigned int refs_with_domain)
{
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, len,
				     self->ndomains ? refs_with_domain : 0));
}

static int fx_map_fixed(struct _fixture_data_ioas *self, void *buf,
			uint64_t len, uint64_t iova)
{
	return ioas_map(self->ctx, self->ioas_id, buf, len, &iova,
			MAP_FIXED_RW);
}

static int fx_map(struct _fixture_data_ioas *self, void *buf, uint64_t len,
		  uint64_t *iova)
{
	return ioas_map(self->ctx, self->ioas_id, buf, len, iova, MAP_RW);
}

static void fx_unmap(struct _fixture_data_ioas *self, uint64_t iova,
		     uint64_t len)
{
	uint64_t unmapped = 0;

	ASSERT_EQ(0, ioas_unmap(self->ctx, self->ioas_id, iova, len,
				&unmapped));
	ASSERT_EQ(len, unmapped);
}

/*
 * Keep automatic IOVAs inside the mock aperture, so that a domain can be
 * attached later (it reserves everything outside its aperture).
 */
static void fx_allow_aperture(struct _fixture_data_ioas *self)
{
	struct iommu_iova_range range = {
		.start = MOCK_APERTURE_START,
		.last = MOCK_APERTURE_LAST,
	};

	ASSERT_EQ(0, ioas_allow_iovas(self->ctx, self->ioas_id, &range, 1));
}

/* Usable IOVA of the fixture's IOAS before anything is reserved. */
static void usable_span(struct _fixture_data_ioas *self, uint64_t *first,
			uint64_t *last)
{
	*first = self->ndomains ? MOCK_APERTURE_START : 0;
	*last = self->ndomains ? MOCK_APERTURE_LAST : UINT64_MAX;
}

/* ---- MAP and UNMAP ---- */

/* The kernel's "area" test: fixed maps, split and overlap refusals. */
TEST_F(ioas, map_fixed_unmap_area)
{
	uint64_t base = self->base_iova, unmapped = 1;
	uint8_t *buffer = self->buffer;
	int i;

	/* Unmap fails if nothing is mapped. */
	for (i = 0; i != 10; i++)
		EXPECT_ERRNO(ENOENT, ioas_unmap(self->ctx, self->ioas_id,
						base + i * PAGE_SZ, PAGE_SZ,
						NULL));

	/* Ten maps of the same page: each pins it once more. */
	for (i = 0; i != 10; i++)
		ASSERT_EQ(0, fx_map_fixed(self, buffer, PAGE_SZ,
					  base + i * PAGE_SZ));
	for (i = 0; i != 10; i++)
		check_mock_iova(self, buffer, base + i * PAGE_SZ, PAGE_SZ);
	check_map_refs(self, buffer, PAGE_SZ, 10);
	check_map_refs(self, buffer + PAGE_SZ, PAGE_SZ, 0);
	for (i = 0; i != 10; i++)
		fx_unmap(self, base + i * PAGE_SZ, PAGE_SZ);
	ASSERT_EQ(0, test_check_refs(self->ctx, buffer, PAGE_SZ, 0));

	/* Splitting an area fails and leaves it as it was. */
	ASSERT_EQ(0, fx_map_fixed(self, buffer, 2 * PAGE_SZ,
				  base + 16 * PAGE_SZ));
	EXPECT_ERRNO(ENOENT, ioas_unmap(self->ctx, self->ioas_id,
					base + 16 * PAGE_SZ, PAGE_SZ, NULL));
	EXPECT_ERRNO(ENOENT, ioas_unmap(self->ctx, self->ioas_id,
					base + 17 * PAGE_SZ, PAGE_SZ, NULL));
	EXPECT_ERRNO(ENOENT, ioas_unmap(self->ctx, self->ioas_id,
					base + 16 * PAGE_SZ + MOCK_PAGE_SIZE,
					PAGE_SZ, NULL));
	check_mock_iova(self, buffer, base + 16 * PAGE_SZ, 2 * PAGE_SZ);
	check_map_refs(self, buffer, 2 * PAGE_SZ, 1);

	/* Any overlap with the area: EEXIST. */
	EXPECT_ERRNO(EEXIST, fx_map_fixed(self, buffer, 2 * PAGE_SZ,
					  base + 16 * PAGE_SZ));
	EXPECT_ERRNO(EEXIST, fx_map_fixed(self, buffer, PAGE_SZ,
					  base + 16 * PAGE_SZ));
	EXPECT_ERRNO(EEXIST, fx_map_fixed(self, buffer, PAGE_SZ,
					  base + 17 * PAGE_SZ));
	EXPECT_ERRNO(EEXIST, fx_map_fixed(self, buffer, 2 * PAGE_SZ,
					  base + 15 * PAGE_SZ));
	EXPECT_ERRNO(EEXIST, fx_map_fixed(self, buffer, 3 * PAGE_SZ,
					  base + 15 * PAGE_SZ));
	EXPECT_ERRNO(EEXIST, fx_map_fixed(self, buffer, 8 * PAGE_SZ,
					  base + 12 * PAGE_SZ));
	EXPECT_ERRNO(EEXIST, fx_map_fixed(self, buffer, MOCK_PAGE_SIZE,
					  base + 18 * PAGE_SZ -
						  MOCK_PAGE_SIZE));
	EXPECT_ERRNO(EEXIST, fx_map_fixed(self, buffer, MOCK_PAGE_SIZE,
					  base + 16 * PAGE_SZ));
	if (!self->ndomains) {
		/* Without a domain a one-byte overlap is an overlap too. */
		EXPECT_ERRNO(EEXIST, fx_map_fixed(self, buffer, 1,
						  base + 18 * PAGE_SZ - 1));
		EXPECT_ERRNO(EEXIST, fx_map_fixed(self, buffer, 2,
						  base + 16 * PAGE_SZ - 1));
	}
	/* The refused maps pinned nothing. */
	check_map_refs(self, buffer, 2 * PAGE_SZ, 1);
	check_map_refs(self, buffer + 2 * PAGE_SZ, 6 * PAGE_SZ, 0);

	/* Right next to it is fine. */
	ASSERT_EQ(0, fx_map_fixed(self, buffer + 4 * PAGE_SZ, PAGE_SZ,
				  base + 15 * PAGE_SZ));
	ASSERT_EQ(0, fx_map_fixed(self, buffer + 5 * PAGE_SZ, PAGE_SZ,
				  base + 18 * PAGE_SZ));
	check_mock_iova(self, buffer + 4 * PAGE_SZ, base + 15 * PAGE_SZ,
			PAGE_SZ);
	check_mock_iova(self, buffer, base + 16 * PAGE_SZ, 2 * PAGE_SZ);
	check_mock_iova(self, buffer + 5 * PAGE_SZ, base + 18 * PAGE_SZ,
			PAGE_SZ);

	/* Unmap all reports the sum and leaves nothing. */
	ASSERT_EQ(0, ioas_unmap(self->ctx, self->ioas_id, 0, UINT64_MAX,
				&unmapped));
	ASSERT_EQ(4 * PAGE_SZ, unmapped);
	ASSERT_EQ(0, test_check_refs(self->ctx, buffer, BUFFER_SIZE, 0));
	EXPECT_ERRNO(ENOENT, ioas_unmap(self->ctx, self->ioas_id,
					base + 15 * PAGE_SZ, 4 * PAGE_SZ,
					NULL));
	if (self->ndomains)
		EXPECT_ERRNO(EINVAL, test_check_map(self->ctx,
						    self->hwpt_ids[0],
						    base + 16 * PAGE_SZ,
						    PAGE_SZ, buffer));

	/* Unmap all succeeds on an empty IOAS. */
	unmapped = 1;
	ASSERT_EQ(0, ioas_unmap(self->ctx, self->ioas_id, 0, UINT64_MAX,
				&unmapped));
	ASSERT_EQ(0, unmapped);
}

TEST_F(ioas, unmap_fully_contained_areas)
{
	uint64_t base = self->base_iova + 4 * PAGE_SZ, unmapped = 0;
	int i;

	for (i = 0; i != 4; i++)
		ASSERT_EQ(0, fx_map_fixed(self, self->buffer, 8 * PAGE_SZ,
					  base + i * 16 * PAGE_SZ));

	/* Ranges that cover part of an area (and nothing else) change nothing. */
	EXPECT_ERRNO(ENOENT, ioas_unmap(self->ctx, self->ioas_id,
					base - 4 * PAGE_SZ, 8 * PAGE_SZ,
					NULL));
	EXPECT_ERRNO(ENOENT, ioas_unmap(self->ctx, self->ioas_id,
					base + 3 * 16 * PAGE_SZ +
						8 * PAGE_SZ - 4 * PAGE_SZ,
					8 * PAGE_SZ, NULL));
	EXPECT_ERRNO(ENOENT, ioas_unmap(self->ctx, self->ioas_id,
					base + PAGE_SZ, 6 * PAGE_SZ, NULL));
	/* Only the gap between two areas: nothing there. */
	EXPECT_ERRNO(ENOENT, ioas_unmap(self->ctx, self->ioas_id,
					base + 8 * PAGE_SZ, 8 * PAGE_SZ,
					NULL));
	for (i = 0; i != 4; i++)
		check_mock_iova(self, self->buffer, base + i * 16 * PAGE_SZ,
				8 * PAGE_SZ);
	check_map_refs(self, self->buffer, 8 * PAGE_SZ, 4);

	/* Whole areas with gaps between them and around them. */
	ASSERT_EQ(0, ioas_unmap(self->ctx, self->ioas_id, base - 4 * PAGE_SZ,
				3 * 16 * PAGE_SZ + 8 * PAGE_SZ + 4 * PAGE_SZ,
				&unmapped));
	ASSERT_EQ(32 * PAGE_SZ, unmapped);
	ASSERT_EQ(0, test_check_refs(self->ctx, self->buffer, BUFFER_SIZE,
				     0));
	EXPECT_ERRNO(ENOENT, ioas_unmap(self->ctx, self->ioas_id, 0,
					UINT64_MAX - 1, NULL));
	/* Zero length, and a range that wraps. */
	EXPECT_ERRNO(EINVAL, ioas_unmap(self->ctx, self->ioas_id, base, 0,
					NULL));
	EXPECT_ERRNO(EOVERFLOW, ioas_unmap(self->ctx, self->ioas_id,
					   UINT64_MAX - PAGE_SZ + 1,
					   2 * PAGE_SZ, NULL));

	/*
	 * One area whole and the next one in part: ENOENT. The kernel has
	 * unmapped the whole one by then; refusing first is as good. The
	 * area cut in part is never touched.
	 */
	ASSERT_EQ(0, fx_map_fixed(self, self->buffer, 8 * PAGE_SZ, base));
	ASSERT_EQ(0, fx_map_fixed(self, self->buffer, 8 * PAGE_SZ,
				  base + 16 * PAGE_SZ));
	EXPECT_ERRNO(ENOENT, ioas_unmap(self->ctx, self->ioas_id, base,
					20 * PAGE_SZ, NULL));
	ASSERT_EQ(0, ioas_unmap(self->ctx, self->ioas_id, 0, UINT64_MAX,
				&unmapped));
	EXPECT_TRUE(unmapped == 8 * PAGE_SZ || unmapped == 16 * PAGE_SZ);
	ASSERT_EQ(0, test_check_refs(self->ctx, self->buffer, BUFFER_SIZE,
				     0));
}

/* The kernel's "area_auto_iova", plus the never-0 and range rules. */
TEST_F(ioas, map_auto_iova)
{
	uint64_t reserved_start = MOCK_APERTURE_START,
		 reserved_len = 100 * PAGE_SZ;
	uint64_t first, last, iovas[10];
	struct iommu_iova_range range;
	int i;

	usable_span(self, &first, &last);

	/* Simple 4k pages: never IOVA 0, never the same IOVA twice. */
	for (i = 0; i != 10; i++) {
		ASSERT_EQ(0, fx_map(self, self->buffer, PAGE_SZ, &iovas[i]));
		ASSERT_NE(0, iovas[i]);
		ASSERT_LE(first, iovas[i]);
		ASSERT_GE(last, iovas[i] + PAGE_SZ - 1);
		for (int j = 0; j != i; j++)
			ASSERT_NE(iovas[j], iovas[i]);
		check_mock_iova(self, self->buffer, iovas[i], PAGE_SZ);
	}
	check_map_refs(self, self->buffer, PAGE_SZ, 10);
	for (i = 0; i != 10; i++)
		fx_unmap(self, iovas[i], PAGE_SZ);

	/* Aligned to the lowest set bit of the length. */
	for (i = 0; i != 10; i++) {
		size_t length = PAGE_SZ * (i + 1);

		if (self->ndomains)
			ASSERT_EQ(0, fx_map(self, self->buffer, length,
					    &iovas[i]));
		else
			/* Nothing is pinned: the memory need not exist. */
			ASSERT_EQ(0, fx_map(self, (void *)(1UL << 31), length,
					    &iovas[i]));
		EXPECT_EQ(0, iovas[i] % (1UL << (ffs(length) - 1)));
		ASSERT_NE(0, iovas[i]);
		ASSERT_LE(first, iovas[i]);
		ASSERT_GE(last, iovas[i] + length - 1);
	}
	for (i = 0; i != 10; i++)
		fx_unmap(self, iovas[i], PAGE_SZ * (i + 1));

	/* Avoids reserved ranges (one below, one inside the aperture). */
	ASSERT_EQ(0, test_add_reserved(self->ctx, self->ioas_id, 4 * PAGE_SZ,
				       100 * PAGE_SZ));
	ASSERT_EQ(0, test_add_reserved(self->ctx, self->ioas_id,
				       reserved_start, reserved_len));
	for (i = 0; i != 10; i++) {
		size_t length = PAGE_SZ * (i + 1);

		ASSERT_EQ(0, fx_map(self, self->buffer, length, &iovas[i]));
		EXPECT_EQ(0, iovas[i] % (1UL << (ffs(length) - 1)));
		EXPECT_FALSE(iovas[i] + length > 4 * PAGE_SZ &&
			     iovas[i] < 104 * PAGE_SZ);
		EXPECT_FALSE(iovas[i] + length > reserved_start &&
			     iovas[i] < reserved_start + reserved_len);
		ASSERT_LE(first, iovas[i]);
		ASSERT_GE(last, iovas[i] + length - 1);
		check_mock_iova(self, self->buffer, iovas[i], length);
	}
	for (i = 0; i != 10; i++)
		fx_unmap(self, iovas[i], PAGE_SZ * (i + 1));

	/* An allowed range that intersects a reserved one. */
	range.start = PAGE_SZ;
	range.last = PAGE_SZ * 600;
	EXPECT_ERRNO(EADDRINUSE,
		     ioas_allow_iovas(self->ctx, self->ioas_id, &range, 1));

	/* Allocation comes from the allowed range. */
	if (self->ndomains) {
		range.start = MOCK_APERTURE_START + 200 * PAGE_SZ;
		range.last = MOCK_APERTURE_START + PAGE_SZ * 600 - 1;
	} else {
		range.start = PAGE_SZ * 200;
		range.last = PAGE_SZ * 600 - 1;
	}
	ASSERT_EQ(0, ioas_allow_iovas(self->ctx, self->ioas_id, &range, 1));
	for (i = 0; i != 10; i++) {
		size_t length = PAGE_SZ * (i + 1);

		ASSERT_EQ(0, fx_map(self, self->buffer, length, &iovas[i]));
		EXPECT_EQ(0, iovas[i] % (1UL << (ffs(length) - 1)));
		EXPECT_LE(range.start, iovas[i]);
		EXPECT_GE(range.last, iovas[i] + length - 1);
	}
	for (i = 0; i != 10; i++)
		fx_unmap(self, iovas[i], PAGE_SZ * (i + 1));
}

/* No free IOVA of the size asked for: ENOSPC. */
TEST_F(ioas, map_everything_reserved)
{
	struct iommu_iova_range r[2] = {};
	uint64_t iova = 0, align = 0;
	uint32_t num = 5;

	ASSERT_EQ(0, test_add_reserved(self->ctx, self->ioas_id, 0,
				       UINT64_MAX));
	EXPECT_ERRNO(ENOSPC, fx_map(self, self->buffer, PAGE_SZ, &iova));
	EXPECT_ERRNO(ENOSPC, fx_map(self, self->buffer, MOCK_PAGE_SIZE,
				    &iova));
	/* A fixed map on reserved IOVA is refused as well. */
	EXPECT_ERRNO(EINVAL, fx_map_fixed(self, self->buffer, PAGE_SZ,
					  self->base_iova));
	ASSERT_EQ(0, test_check_refs(self->ctx, self->buffer, BUFFER_SIZE,
				     0));

	/* Only the top byte is left (a domain reserves it too). */
	ASSERT_EQ(0, ioas_iova_ranges(self->ctx, self->ioas_id, r, 2, &num,
				      &align));
	if (self->ndomains) {
		ASSERT_EQ(0, num);
	} else {
		ASSERT_EQ(1, num);
		ASSERT_EQ(UINT64_MAX, r[0].start);
		ASSERT_EQ(UINT64_MAX, r[0].last);
		/* Auto allocation never uses the top page. */
		EXPECT_ERRNO(ENOSPC, fx_map(self, self->buffer, 1, &iova));
		ASSERT_EQ(0, test_add_reserved(self->ctx, self->ioas_id,
					       UINT64_MAX, 1));
		ASSERT_EQ(0, ioas_iova_ranges(self->ctx, self->ioas_id, r, 2,
					      &num, &align));
		ASSERT_EQ(0, num);
	}
	EXPECT_ERRNO(ENOSPC, fx_map(self, self->buffer, PAGE_SZ, &iova));
}

/*
 * The IOAS alignment governs length, iova and the memory's page offset: a
 * mock domain needs MOCK_PAGE_SIZE, no domain needs nothing.
 */
TEST_F(ioas, map_length_alignment)
{
	static const uint64_t lengths[] = { 1, 7, MOCK_PAGE_SIZE - 1,
					    PAGE_SZ - 1, PAGE_SZ + 1, 12345 };
	uint8_t *buf = self->buffer;
	uint64_t iova;

	if (self->ndomains) {
		EXPECT_EQ(MOCK_PAGE_SIZE, iova_alignment(self->ctx,
							 self->ioas_id));
		for (unsigned int i = 0; i != ARRAY_SIZE(lengths); i++) {
			EXPECT_ERRNO(EINVAL, fx_map(self, buf, lengths[i],
						    &iova));
			EXPECT_ERRNO(EINVAL,
				     fx_map_fixed(self, buf, lengths[i],
						  self->base_iova));
		}
		/* IOVA or user offset off the IO page. */
		EXPECT_ERRNO(EINVAL, fx_map_fixed(self, buf, MOCK_PAGE_SIZE,
						  self->base_iova + 1));
		EXPECT_ERRNO(EINVAL, fx_map_fixed(self, buf + 1,
						  MOCK_PAGE_SIZE,
						  self->base_iova));
		EXPECT_ERRNO(EINVAL, fx_map(self, buf + 512, MOCK_PAGE_SIZE,
					    &iova));
		ASSERT_EQ(0, test_check_refs(self->ctx, buf, BUFFER_SIZE, 0));

		/* One IO page, at an IO-page offset in the CPU page. */
		iova = 0;
		ASSERT_EQ(0, fx_map(self, buf + MOCK_PAGE_SIZE,
				    MOCK_PAGE_SIZE, &iova));
		EXPECT_EQ(0, iova % MOCK_PAGE_SIZE);
		check_mock_iova(self, buf + MOCK_PAGE_SIZE, iova,
				MOCK_PAGE_SIZE);
		check_map_refs(self, buf, PAGE_SZ, 1);
		fx_unmap(self, iova, MOCK_PAGE_SIZE);
		return;
	}

	EXPECT_EQ(1, iova_alignment(self->ctx, self->ioas_id));
	for (unsigned int i = 0; i != ARRAY_SIZE(lengths); i++) {
		uint64_t fixed = self->base_iova + 3 + i * 4 * PAGE_SZ;

		iova = 0;
		ASSERT_EQ(0, fx_map(self, buf + 3 * i + 1, lengths[i], &iova));
		ASSERT_NE(0, iova);
		ASSERT_EQ(0, fx_map_fixed(self, buf + 3 * i + 1, lengths[i],
					  fixed));
		/* Nothing pinned without a domain. */
		ASSERT_EQ(0, test_check_refs(self->ctx, buf, BUFFER_SIZE, 0));
		fx_unmap(self, iova, lengths[i]);
		fx_unmap(self, fixed, lengths[i]);
	}
}

/* The kernel's "huge_pages" rules: HUGE_PAGES=0 means PAGE_SIZE alignment. */
TEST_F(ioas, map_huge_pages_off)
{
	uint8_t *buf = self->buffer;
	uint64_t val = 5, iova = 0;

	ASSERT_EQ(0, cmds_hugepages_option(self->ctx, self->ioas_id,
					   IOMMU_OPTION_OP_GET, &val));
	ASSERT_EQ(1, val);

	if (!self->ndomains) {
		/* A mapping that is not page aligned blocks it. */
		ASSERT_EQ(0, fx_map_fixed(self, buf + MOCK_PAGE_SIZE,
					  MOCK_PAGE_SIZE, self->base_iova));
		val = 0;
		EXPECT_ERRNO(EADDRINUSE,
			     cmds_hugepages_option(self->ctx, self->ioas_id,
						   IOMMU_OPTION_OP_SET, &val));
		ASSERT_EQ(0, cmds_hugepages_option(self->ctx, self->ioas_id,
						   IOMMU_OPTION_OP_GET, &val));
		ASSERT_EQ(1, val);
		EXPECT_EQ(1, iova_alignment(self->ctx, self->ioas_id));
		fx_unmap(self, self->base_iova, MOCK_PAGE_SIZE);
	} else {
		/* Domains holding mappings block it. */
		ASSERT_EQ(0, fx_map_fixed(self, buf, PAGE_SZ,
					  self->base_iova));
		val = 0;
		EXPECT_ERRNO(EINVAL,
			     cmds_hugepages_option(self->ctx, self->ioas_id,
						   IOMMU_OPTION_OP_SET, &val));
		fx_unmap(self, self->base_iova, PAGE_SZ);
	}

	val = 0;
	ASSERT_EQ(0, cmds_hugepages_option(self->ctx, self->ioas_id,
					   IOMMU_OPTION_OP_SET, &val));
	val = 1;
	ASSERT_EQ(0, cmds_hugepages_option(self->ctx, self->ioas_id,
					   IOMMU_OPTION_OP_GET, &val));
	ASSERT_EQ(0, val);
	EXPECT_EQ(PAGE_SZ, iova_alignment(self->ctx, self->ioas_id));

	/* Only MOCK_PAGE_SIZE aligned: iova, user_va or length. */
	EXPECT_ERRNO(EINVAL, fx_map_fixed(self, buf, PAGE_SZ,
					  self->base_iova + MOCK_PAGE_SIZE));
	EXPECT_ERRNO(EINVAL, fx_map_fixed(self, buf + MOCK_PAGE_SIZE, PAGE_SZ,
					  self->base_iova));
	EXPECT_ERRNO(EINVAL, fx_map_fixed(self, buf, MOCK_PAGE_SIZE,
					  self->base_iova));
	EXPECT_ERRNO(EINVAL, fx_map(self, buf + MOCK_PAGE_SIZE, PAGE_SZ,
				    &iova));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, BUFFER_SIZE, 0));

	/* Page aligned works. */
	ASSERT_EQ(0, fx_map_fixed(self, buf, 2 * PAGE_SZ, self->base_iova));
	check_mock_iova(self, buf, self->base_iova, 2 * PAGE_SZ);
	check_map_refs(self, buf, 2 * PAGE_SZ, 1);
	/* With domains and a mapping, 1 is still fine. */
	val = 1;
	ASSERT_EQ(0, cmds_hugepages_option(self->ctx, self->ioas_id,
					   IOMMU_OPTION_OP_SET, &val));
	EXPECT_EQ(self->ndomains ? MOCK_PAGE_SIZE : 1,
		  iova_alignment(self->ctx, self->ioas_id));
	ASSERT_EQ(0, fx_map_fixed(self, buf + MOCK_PAGE_SIZE, MOCK_PAGE_SIZE,
				  self->base_iova + 4 * PAGE_SZ +
					  MOCK_PAGE_SIZE));
	check_mock_iova(self, buf + MOCK_PAGE_SIZE,
			self->base_iova + 4 * PAGE_SZ + MOCK_PAGE_SIZE,
			MOCK_PAGE_SIZE);
	fx_unmap(self, self->base_iova, 2 * PAGE_SZ);
}

/* Memory that is not there: EFAULT as soon as a domain needs the pages. */
TEST_F(ioas, map_user_hole)
{
	size_t len = 8 * PAGE_SZ;
	uint8_t *buf = aligned_buffer(len, PAGE_SZ, 3);
	uint64_t iova = 0;

	ASSERT_NONNULL(buf);
	fx_allow_aperture(self);
	/* The first half stays mapped; its refs are checked at teardown. */
	fx_track(self, buf, len / 2, true);
	ASSERT_EQ(0, munmap(buf + len / 2, len / 2));

	if (self->ndomains) {
		/* EFAULT half way through. */
		EXPECT_ERRNO(EFAULT, fx_map(self, buf, len, &iova));
		EXPECT_ERRNO(EFAULT, fx_map_fixed(self, buf, len,
						  self->base_iova));
		/* EFAULT on the first page. */
		EXPECT_ERRNO(EFAULT, fx_map(self, buf + len / 2, len / 2,
					    &iova));
		EXPECT_ERRNO(EFAULT, fx_map(self, buf + len / 2 - PAGE_SZ,
					    2 * PAGE_SZ, &iova));
		/* What was pinned before the hole was let go. */
		ASSERT_EQ(0, test_check_refs(self->ctx, buf, len / 2, 0));
		/* Nothing was mapped either. */
		EXPECT_ERRNO(ENOENT, ioas_unmap(self->ctx, self->ioas_id, 0,
						UINT64_MAX - 1, NULL));
		ASSERT_EQ(0, fx_map(self, buf, len / 2, &iova));
		check_mock_iova(self, buf, iova, len / 2);
		check_map_refs(self, buf, len / 2, 1);
		fx_unmap(self, iova, len / 2);
		return;
	}

	/* Without a domain nothing is pinned at map time: it maps. */
	ASSERT_EQ(0, fx_map(self, buf, len, &iova));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, len / 2, 0));
	/* Attaching a domain must pin it all now: EFAULT, nothing kept. */
	{
		uint32_t dev = 0, hwpt = 0;

		EXPECT_ERRNO(EFAULT, cmds_mock_domain(self->ctx, self->v6_2,
						      self->ioas_id, &dev,
						      &hwpt));
		ASSERT_EQ(0, test_check_refs(self->ctx, buf, len / 2, 0));
	}
	fx_unmap(self, iova, len);
}

/* Pinned exactly once per map, however many domains. */
TEST_F(ioas, map_pins_once)
{
	uint8_t *buf = self->buffer;
	uint64_t iova = 0, iova2 = 0;

	ASSERT_EQ(0, test_check_refs(self->ctx, buf, BUFFER_SIZE, 0));
	ASSERT_EQ(0, fx_map(self, buf, BUFFER_SIZE, &iova));
	check_mock_iova(self, buf, iova, BUFFER_SIZE);
	check_map_refs(self, buf, BUFFER_SIZE, 1);

	/* A second, overlapping map of the memory pins it again. */
	ASSERT_EQ(0, fx_map(self, buf + 4 * PAGE_SZ, 4 * PAGE_SZ, &iova2));
	check_mock_iova(self, buf + 4 * PAGE_SZ, iova2, 4 * PAGE_SZ);
	check_map_refs(self, buf, 4 * PAGE_SZ, 1);
	check_map_refs(self, buf + 4 * PAGE_SZ, 4 * PAGE_SZ, 2);
	check_map_refs(self, buf + 8 * PAGE_SZ, 8 * PAGE_SZ, 1);
	fx_unmap(self, iova2, 4 * PAGE_SZ);
	check_map_refs(self, buf, BUFFER_SIZE, 1);
	fx_unmap(self, iova, BUFFER_SIZE);
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, BUFFER_SIZE, 0));
}

/*
 * Read-only memory mapped WRITEABLE: the kernel's pin with FOLL_WRITE
 * fails with EFAULT, which happens at map time only with a domain.
 */
TEST_F(ioas, map_readonly_memory)
{
	size_t len = 4 * PAGE_SZ;
	uint8_t *ro = mmap(NULL, len, PROT_READ,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	uint64_t iova = 0;

	ASSERT_NE(MAP_FAILED, ro);
	fx_track(self, ro, len, true);

	if (self->ndomains) {
		EXPECT_ERRNO(EFAULT, fx_map(self, ro, len, &iova));
		EXPECT_ERRNO(EFAULT, fx_map_fixed(self, ro, len,
						  self->base_iova));
		ASSERT_EQ(0, test_check_refs(self->ctx, ro, len, 0));
	} else {
		ASSERT_EQ(0, fx_map(self, ro, len, &iova));
		fx_unmap(self, iova, len);
	}

	/* Mapped for reading only it is fine. */
	ASSERT_EQ(0, ioas_map(self->ctx, self->ioas_id, ro, len, &iova,
			      IOMMU_IOAS_MAP_READABLE));
	check_mock_iova(self, ro, iova, len);
	check_map_refs(self, ro, len, 1);
	fx_unmap(self, iova, len);
}

/* Pitfall 1: user_va + length wrapping is refused before any pin. */
TEST_F(ioas, map_user_va_wraps)
{
	uint8_t *buf = self->buffer;
	uint64_t wrap_len = -(uint64_t)(uintptr_t)buf + 2 * PAGE_SZ;
	uint64_t iova = 0;

	EXPECT_ERRNO(EOVERFLOW, fx_map(self, buf, wrap_len, &iova));
	EXPECT_ERRNO(EOVERFLOW, fx_map_fixed(self, buf, wrap_len,
					     self->base_iova));
	EXPECT_ERRNO(EOVERFLOW,
		     fx_map(self, (void *)(uintptr_t)(UINT64_MAX - PAGE_SZ + 1),
			    2 * PAGE_SZ, &iova));
	/* IOVA + length wrapping. */
	EXPECT_ERRNO(EOVERFLOW, fx_map_fixed(self, buf, 2 * PAGE_SZ,
					     UINT64_MAX - PAGE_SZ + 1));
	EXPECT_ERRNO(EOVERFLOW, fx_map(self, buf, UINT64_MAX, &iova));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, BUFFER_SIZE, 0));
	EXPECT_ERRNO(ENOENT, ioas_unmap(self->ctx, self->ioas_id, 0,
					UINT64_MAX - 1, NULL));
}

/*
 * Pitfalls 11 and 12: a huge user alignment is capped, and rounding up
 * near UINT64_MAX must not wrap onto low IOVA.
 */
TEST_F(ioas, map_auto_iova_extremes)
{
	uint64_t top = 0 - 32 * PAGE_SZ, iova = 0, len;
	struct iommu_iova_range range = {
		.start = top,
		.last = UINT64_MAX - PAGE_SZ,
	};
	void *far = (void *)(1ULL << 46);

	if (self->ndomains) {
		/* The aperture reserves the top of the space. */
		EXPECT_ERRNO(EADDRINUSE, ioas_allow_iovas(self->ctx,
							  self->ioas_id,
							  &range, 1));
		return;
	}

	/* A 2^46-aligned address with a huge length: capped alignment. */
	ASSERT_EQ(0, fx_map(self, far, 1ULL << 40, &iova));
	ASSERT_NE(0, iova);
	ASSERT_EQ(0, iova % PAGE_SZ);
	ASSERT_GE(UINT64_MAX - (1ULL << 40) + 1, iova);
	fx_unmap(self, iova, 1ULL << 40);
	EXPECT_ERRNO(EOVERFLOW, fx_map(self, far, UINT64_MAX / 2 + 1, &iova));

	/* Only the 31 pages below the top page are allowed. */
	ASSERT_EQ(0, ioas_allow_iovas(self->ctx, self->ioas_id, &range, 1));
	ASSERT_EQ(0, fx_map_fixed(self, far, 16 * PAGE_SZ, top));
	/* 16 pages aligned to 16 pages would end on the top byte. */
	EXPECT_ERRNO(ENOSPC, fx_map(self, far, 16 * PAGE_SZ, &iova));
	/* Rounding the free IOVA up to these alignments wraps past 0. */
	EXPECT_ERRNO(ENOSPC, fx_map(self, far, 64 * PAGE_SZ, &iova));
	EXPECT_ERRNO(ENOSPC, fx_map(self, far, HUGE_ALIGN, &iova));
	EXPECT_ERRNO(ENOSPC, fx_map(self, far, 1ULL << 40, &iova));
	for (len = 8 * PAGE_SZ; len >= PAGE_SZ; len /= 2) {
		iova = 0;
		ASSERT_EQ(0, fx_map(self, far, len, &iova));
		ASSERT_EQ(0 - 2 * len, iova);
	}
	EXPECT_ERRNO(ENOSPC, fx_map(self, far, PAGE_SZ, &iova));
	EXPECT_ERRNO(ENOSPC, fx_map(self, far, 1, &iova));
	ASSERT_EQ(0, ioas_unmap(self->ctx, self->ioas_id, 0, UINT64_MAX,
				&len));
	ASSERT_EQ(31 * PAGE_SZ, len);
}

/*
 * The kernel's iopt_alloc_iova() refuses length >= ULONG_MAX / 2 with
 * EOVERFLOW before rounding it up to a power of two.
 */
TEST_F(ioas, map_auto_iova_length_limit)
{
	void *far = (void *)(1ULL << 46);
	uint64_t iova = 0;
	int rc;

	EXPECT_ERRNO(EOVERFLOW, fx_map(self, far, UINT64_MAX / 2 + 1, &iova));
	if (self->ndomains) {
		/* The length alignment is checked first. */
		EXPECT_ERRNO(EINVAL, fx_map(self, far, UINT64_MAX / 2, &iova));
		/* Below the limit: it does not fit the aperture. */
		EXPECT_ERRNO(ENOSPC, fx_map(self, far,
					    UINT64_MAX / 2 + 1 - MOCK_PAGE_SIZE,
					    &iova));
		return;
	}
	errno = 0;
	rc = fx_map(self, far, UINT64_MAX / 2, &iova);
	EXPECT_EQ(-1, rc);
	EXPECT_EQ(EOVERFLOW, errno);
	if (!rc)
		fx_unmap(self, iova, UINT64_MAX / 2);
	/* Fixed IOVA has no such limit (no domain: nothing is pinned). */
	ASSERT_EQ(0, fx_map_fixed(self, far, UINT64_MAX / 2, PAGE_SZ));
	fx_unmap(self, PAGE_SZ, UINT64_MAX / 2);
}

/* A domain can be attached only if every area keeps its alignment. */
TEST_F(ioas, mock_domain_needs_aligned_areas)
{
	uint32_t dev = 0, hwpt = 0;
	uint64_t iova = 0;

	if (self->ndomains) {
		/* A domain makes the IOAS refuse such areas in the first place. */
		EXPECT_ERRNO(EINVAL, fx_map(self, self->buffer + 1, PAGE_SZ,
					    &iova));
		return;
	}
	ASSERT_EQ(0, fx_map(self, self->buffer + 1, PAGE_SZ, &iova));
	EXPECT_ERRNO(EADDRINUSE, cmds_mock_domain(self->ctx, self->v6_2,
						  self->ioas_id, &dev, &hwpt));
	/* 72 bytes too (under 6.2 it is read as the 56-byte command). */
	EXPECT_ERRNO(EADDRINUSE, test_mock_domain(self->ctx, self->ioas_id,
						  NULL, NULL, NULL));
	EXPECT_EQ(1, iova_alignment(self->ctx, self->ioas_id));
	ASSERT_EQ(0, test_check_refs(self->ctx, self->buffer, BUFFER_SIZE,
				     0));
	fx_unmap(self, iova, PAGE_SZ);

	/* An area outside the aperture blocks it as well. */
	ASSERT_EQ(0, fx_map_fixed(self, self->buffer, PAGE_SZ,
				  MOCK_APERTURE_START - PAGE_SZ));
	EXPECT_ERRNO(EADDRINUSE, cmds_mock_domain(self->ctx, self->v6_2,
						  self->ioas_id, &dev, &hwpt));
	fx_unmap(self, MOCK_APERTURE_START - PAGE_SZ, PAGE_SZ);
	ASSERT_EQ(0, fx_map_fixed(self, self->buffer, PAGE_SZ,
				  MOCK_APERTURE_LAST + 1));
	EXPECT_ERRNO(EADDRINUSE, cmds_mock_domain(self->ctx, self->v6_2,
						  self->ioas_id, &dev, &hwpt));
	fx_unmap(self, MOCK_APERTURE_LAST + 1, PAGE_SZ);

	ASSERT_EQ(0, fx_map_fixed(self, self->buffer, PAGE_SZ,
				  MOCK_APERTURE_START));
	ASSERT_EQ(0, cmds_mock_domain(self->ctx, self->v6_2, self->ioas_id,
				      &dev, &hwpt));
	EXPECT_EQ(MOCK_PAGE_SIZE, iova_alignment(self->ctx, self->ioas_id));
	ASSERT_EQ(0, test_check_map(self->ctx, hwpt, MOCK_APERTURE_START,
				    PAGE_SZ, self->buffer));
	ASSERT_EQ(0, test_check_refs(self->ctx, self->buffer, PAGE_SZ, 1));
}

/* ---- MOCK_DOMAIN and MD_CHECK_MAP ---- */

/*
 * A domain attached to an IOAS with areas gets every area, also areas at
 * sub-page offsets; MD_CHECK_MAP notices memory that is not the mapping's.
 */
TEST_F(ioas, mock_domain_fills_areas)
{
	uint8_t *buf = self->buffer, *buf2 = fx_buffer(self, 8 * PAGE_SZ, 9);
	struct {
		uint8_t *p;
		uint64_t len;
		uint64_t iova;
	} areas[] = {
		{ buf + MOCK_PAGE_SIZE, MOCK_PAGE_SIZE },
		{ buf + PAGE_SZ + MOCK_PAGE_SIZE, PAGE_SZ },
		{ buf + 3 * PAGE_SZ + MOCK_PAGE_SIZE, 3 * PAGE_SZ },
		{ buf + 8 * PAGE_SZ, 5 * MOCK_PAGE_SIZE },
		{ buf2 + MOCK_PAGE_SIZE, 3 * PAGE_SZ },
	};
	uint32_t dev = 0, hwpt = 0;
	unsigned int i;

	fx_allow_aperture(self);
	for (i = 0; i != ARRAY_SIZE(areas); i++) {
		ASSERT_EQ(0, fx_map(self, areas[i].p, areas[i].len,
				    &areas[i].iova));
		/* The IOVA keeps the offset in the CPU page. */
		ASSERT_EQ((uintptr_t)areas[i].p % PAGE_SZ,
			  areas[i].iova % PAGE_SZ);
	}
	/* A new domain (7.2 with a device: the fixture's, shared). */
	fx_dev_attach(self, &dev, &hwpt);
	for (i = 0; i != ARRAY_SIZE(areas); i++) {
		ASSERT_EQ(0, test_check_map(self->ctx, hwpt, areas[i].iova,
					    areas[i].len, areas[i].p));
		check_mock_iova(self, areas[i].p, areas[i].iova, areas[i].len);
	}
	/* Every page any area touches is pinned exactly once. */
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, 7 * PAGE_SZ, 1));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf + 7 * PAGE_SZ, PAGE_SZ,
				     0));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf + 8 * PAGE_SZ,
				     3 * PAGE_SZ, 1));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf + 11 * PAGE_SZ,
				     5 * PAGE_SZ, 0));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf2, 4 * PAGE_SZ, 1));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf2 + 4 * PAGE_SZ,
				     4 * PAGE_SZ, 0));

	/* Checks against other memory fail. */
	EXPECT_ERRNO(EINVAL, test_check_map(self->ctx, hwpt, areas[4].iova,
					    areas[4].len, buf + MOCK_PAGE_SIZE));
	EXPECT_ERRNO(EINVAL, test_check_map(self->ctx, hwpt, areas[1].iova,
					    areas[1].len, areas[0].p));
	EXPECT_ERRNO(EINVAL, test_check_map(self->ctx, hwpt, areas[2].iova,
					    areas[2].len,
					    areas[2].p + MOCK_PAGE_SIZE));
	/* Misaligned or wrapping arguments. */
	EXPECT_ERRNO(EINVAL, test_check_map(self->ctx, hwpt, areas[2].iova + 1,
					    MOCK_PAGE_SIZE, areas[2].p));
	EXPECT_ERRNO(EINVAL, test_check_map(self->ctx, hwpt, areas[2].iova,
					    MOCK_PAGE_SIZE + 1, areas[2].p));
	EXPECT_ERRNO(EINVAL, test_check_map(self->ctx, hwpt, areas[2].iova,
					    MOCK_PAGE_SIZE, areas[2].p + 1));
	EXPECT_ERRNO(EINVAL, test_check_map(self->ctx, hwpt, areas[2].iova,
					    UINT64_MAX - MOCK_PAGE_SIZE + 1,
					    areas[2].p));
	/* Pin counts that are not the real ones, misaligned ranges. */
	EXPECT_ERRNO(EIO, test_check_refs(self->ctx, buf, PAGE_SZ, 0));
	EXPECT_ERRNO(EIO, test_check_refs(self->ctx, buf, PAGE_SZ, 2));
	EXPECT_ERRNO(EIO, test_check_refs(self->ctx, buf + 6 * PAGE_SZ,
					  2 * PAGE_SZ, 1));
	EXPECT_ERRNO(EINVAL, test_check_refs(self->ctx, buf + MOCK_PAGE_SIZE,
					     PAGE_SZ, 1));
	EXPECT_ERRNO(EINVAL, test_check_refs(self->ctx, buf,
					     MOCK_PAGE_SIZE, 1));
	/* Past the end of the area. */
	EXPECT_ERRNO(EINVAL, test_check_map(self->ctx, hwpt, areas[3].iova,
					    areas[3].len + MOCK_PAGE_SIZE,
					    areas[3].p));

	/* Detaching the new device leaves the others, and their pins. */
	fx_dev_destroy(self, dev, hwpt);
	if (fx_dev_own_domain(self))
		EXPECT_ERRNO(ENOENT, test_check_map(self->ctx, hwpt,
						    areas[0].iova,
						    areas[0].len, areas[0].p));
	for (i = 0; i != ARRAY_SIZE(areas); i++)
		check_mock_iova(self, areas[i].p, areas[i].iova, areas[i].len);
	check_map_refs(self, buf2, 4 * PAGE_SZ, 1);
	check_map_refs(self, buf + 3 * PAGE_SZ, 4 * PAGE_SZ, 1);

	/* Detach the fixture's devices too: the pins go with the last. */
	if (self->ndevices >= 2) {
		fx_detach_device(self);
		check_mock_iova(self, areas[4].p, areas[4].iova,
				areas[4].len);
		check_map_refs(self, buf2, 4 * PAGE_SZ, 1);
	}
	fx_detach_all(self);
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, BUFFER_SIZE, 0));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf2, 8 * PAGE_SZ, 0));
	for (i = 0; i != ARRAY_SIZE(areas); i++)
		fx_unmap(self, areas[i].iova, areas[i].len);
}

/*
 * The kernel's "all_aligns" and "all_aligns_copy": every start and end
 * at IO-page granularity inside 8 pages; each map alone, then with a
 * domain attached and detached while the area exists.
 */
TEST_F(ioas, all_aligns)
{
	size_t buf_size = 8 * PAGE_SZ;
	uint8_t *buf = fx_buffer(self, buf_size, 5);
	unsigned int start, end;

	fx_allow_aperture(self);
	for (start = 0; start < buf_size; start += MOCK_PAGE_SIZE) {
		for (end = start + MOCK_PAGE_SIZE; end <= buf_size;
		     end += MOCK_PAGE_SIZE) {
			size_t length = end - start;
			size_t pg_first = start / PAGE_SZ * PAGE_SZ;
			size_t pg_len = (end + PAGE_SZ - 1) / PAGE_SZ * PAGE_SZ -
					pg_first;
			uint32_t dev = 0, hwpt = 0;
			uint64_t iova = 0;

			ASSERT_EQ(0, fx_map(self, buf + start, length, &iova));
			check_mock_iova(self, buf + start, iova, length);
			check_map_refs(self, buf + pg_first, pg_len, 1);

			/* Add and destroy a domain while the area exists. */
			fx_dev_attach(self, &dev, &hwpt);
			ASSERT_EQ(0, test_check_map(self->ctx, hwpt, iova,
						    length, buf + start));
			ASSERT_EQ(0, test_check_refs(self->ctx,
						     buf + pg_first, pg_len,
						     1));
			fx_dev_destroy(self, dev, hwpt);
			check_mock_iova(self, buf + start, iova, length);
			check_map_refs(self, buf + pg_first, pg_len, 1);

			fx_unmap(self, iova, length);
			ASSERT_EQ(0, test_check_refs(self->ctx, buf + pg_first,
						     pg_len, 0));
		}
	}
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, buf_size, 0));
}

/* ---- COPY ---- */

/* The kernel's "copy_area", and more. */
TEST_F(ioas, copy_area)
{
	uint64_t base = self->base_iova, dst_iova, iova2 = 0;
	uint8_t *buf = self->buffer;
	uint32_t ioas2 = 0;

	ASSERT_EQ(0, fx_map_fixed(self, buf, PAGE_SZ, base));

	/* Copy inside one IOAS, fixed and automatic. */
	dst_iova = base + PAGE_SZ;
	ASSERT_EQ(0, ioas_copy(self->ctx, self->ioas_id, self->ioas_id, base,
			       PAGE_SZ, &dst_iova,
			       IOMMU_IOAS_MAP_FIXED_IOVA |
				       IOMMU_IOAS_MAP_WRITEABLE));
	ASSERT_EQ(base + PAGE_SZ, dst_iova);
	check_mock_iova(self, buf, base + PAGE_SZ, PAGE_SZ);
	dst_iova = 0;
	ASSERT_EQ(0, ioas_copy(self->ctx, self->ioas_id, self->ioas_id, base,
			       PAGE_SZ, &dst_iova, MAP_RW));
	ASSERT_NE(0, dst_iova);
	ASSERT_NE(base, dst_iova);
	ASSERT_NE(base + PAGE_SZ, dst_iova);
	check_mock_iova(self, buf, dst_iova, PAGE_SZ);
	/* Copies share the pin of the source. */
	check_map_refs(self, buf, PAGE_SZ, 1);
	/* Onto an existing area: EEXIST. */
	EXPECT_ERRNO(EEXIST, ioas_copy(self->ctx, self->ioas_id,
				       self->ioas_id, base, PAGE_SZ, &base,
				       MAP_FIXED_RW));

	/* Copy between IOASes, fixed at 0 and automatic. */
	ASSERT_EQ(0, ioas_alloc(self->ctx, &ioas2));
	iova2 = 0;
	ASSERT_EQ(0, ioas_copy(self->ctx, ioas2, self->ioas_id, base, PAGE_SZ,
			       &iova2,
			       IOMMU_IOAS_MAP_FIXED_IOVA |
				       IOMMU_IOAS_MAP_WRITEABLE));
	iova2 = 0;
	ASSERT_EQ(0, ioas_copy(self->ctx, ioas2, self->ioas_id, base, PAGE_SZ,
			       &iova2, MAP_RW));
	ASSERT_NE(0, iova2);
	check_map_refs(self, buf, PAGE_SZ, 1);

	/* Unmapping the source leaves the copies mapped and pinned. */
	fx_unmap(self, base, PAGE_SZ);
	check_mock_iova(self, buf, base + PAGE_SZ, PAGE_SZ);
	check_map_refs(self, buf, PAGE_SZ, 1);
	ASSERT_EQ(0, ioas_unmap(self->ctx, ioas2, 0, PAGE_SZ, NULL));
	ASSERT_EQ(0, ioas_unmap(self->ctx, ioas2, iova2, PAGE_SZ, NULL));
	ASSERT_EQ(0, ioctl_destroy(self->ctx, ioas2));
	fx_unmap(self, base + PAGE_SZ, PAGE_SZ);
	check_map_refs(self, buf, PAGE_SZ, 1);
	fx_unmap(self, dst_iova, PAGE_SZ);
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, PAGE_SZ, 0));
}

/* COPY needs its whole source mapped; areas back to back are fine. */
TEST_F(ioas, copy_source_coverage)
{
	uint64_t base = self->base_iova + 16 * PAGE_SZ, iova = 0;
	uint8_t *buf = self->buffer;
	uint32_t ioas2 = 0;

	ASSERT_EQ(0, ioas_alloc(self->ctx, &ioas2));
	/* [base, +4P) and [base+4P, +4P) adjacent; [base+12P, +4P) apart. */
	ASSERT_EQ(0, fx_map_fixed(self, buf, 4 * PAGE_SZ, base));
	ASSERT_EQ(0, fx_map_fixed(self, buf + 4 * PAGE_SZ, 4 * PAGE_SZ,
				  base + 4 * PAGE_SZ));
	ASSERT_EQ(0, fx_map_fixed(self, buf + 12 * PAGE_SZ, 4 * PAGE_SZ,
				  base + 12 * PAGE_SZ));

	/* Starting before the first byte. */
	EXPECT_ERRNO(ENOENT, ioas_copy(self->ctx, ioas2, self->ioas_id,
				       base - MOCK_PAGE_SIZE, 2 * PAGE_SZ,
				       &iova, MAP_RW));
	/* Running past the last byte. */
	EXPECT_ERRNO(ENOENT, ioas_copy(self->ctx, ioas2, self->ioas_id,
				       base + 14 * PAGE_SZ, 2 * PAGE_SZ + 1,
				       &iova, MAP_RW));
	EXPECT_ERRNO(ENOENT, ioas_copy(self->ctx, ioas2, self->ioas_id,
				       base + 15 * PAGE_SZ, 2 * PAGE_SZ,
				       &iova, MAP_RW));
	/* Across the hole between areas. */
	EXPECT_ERRNO(ENOENT, ioas_copy(self->ctx, ioas2, self->ioas_id,
				       base + 6 * PAGE_SZ, 8 * PAGE_SZ,
				       &iova, MAP_RW));
	/* Nothing there at all. */
	EXPECT_ERRNO(ENOENT, ioas_copy(self->ctx, ioas2, self->ioas_id,
				       base + 9 * PAGE_SZ, PAGE_SZ, &iova,
				       MAP_RW));
	EXPECT_ERRNO(ENOENT, ioas_unmap(self->ctx, ioas2, 0, UINT64_MAX - 1,
					NULL));
	check_map_refs(self, buf, 8 * PAGE_SZ, 1);
	check_map_refs(self, buf + 8 * PAGE_SZ, 4 * PAGE_SZ, 0);

	/* Across the two adjacent areas, starting and ending inside them. */
	iova = 0;
	ASSERT_EQ(0, ioas_copy(self->ctx, self->ioas_id, self->ioas_id,
			       base + 2 * PAGE_SZ, 4 * PAGE_SZ, &iova,
			       MAP_RW));
	check_mock_iova(self, buf + 2 * PAGE_SZ, iova, 4 * PAGE_SZ);
	check_map_refs(self, buf, 8 * PAGE_SZ, 1);
	fx_unmap(self, iova, 4 * PAGE_SZ);
	iova = 0;
	ASSERT_EQ(0, ioas_copy(self->ctx, ioas2, self->ioas_id,
			       base + 2 * PAGE_SZ + MOCK_PAGE_SIZE,
			       4 * PAGE_SZ, &iova, MAP_RW));
	/* The copy keeps the offset in the CPU page. */
	ASSERT_EQ(MOCK_PAGE_SIZE, iova % PAGE_SZ);
	ASSERT_EQ(0, ioctl_destroy(self->ctx, ioas2));
	ASSERT_EQ(0, ioas_unmap(self->ctx, self->ioas_id, 0, UINT64_MAX,
				&iova));
	ASSERT_EQ(12 * PAGE_SZ, iova);
}

/* The kernel's "copy_sweep": every source offset in 511-byte steps. */
TEST_F(ioas, copy_sweep)
{
	uint64_t last_iova, iova, dst_iova;
	uint32_t dst_ioas = 0;
	unsigned int copied = 0, refused = 0;

	ASSERT_EQ(0, ioas_alloc(self->ctx, &dst_ioas));
	if (self->ndomains)
		last_iova = MOCK_APERTURE_START + BUFFER_SIZE - 1;
	else
		last_iova = MOCK_APERTURE_START + BUFFER_SIZE - 2;
	ASSERT_EQ(0, fx_map_fixed(self, self->buffer,
				  last_iova - MOCK_APERTURE_START + 1,
				  MOCK_APERTURE_START));

	for (iova = MOCK_APERTURE_START - PAGE_SZ; iova <= last_iova;
	     iova += 511) {
		dst_iova = MOCK_APERTURE_START;
		if (iova < MOCK_APERTURE_START ||
		    iova + MOCK_PAGE_SIZE - 1 > last_iova) {
			EXPECT_ERRNO(ENOENT,
				     ioas_copy(self->ctx, dst_ioas,
					       self->ioas_id, iova,
					       MOCK_PAGE_SIZE, &dst_iova,
					       IOMMU_IOAS_MAP_FIXED_IOVA |
						       IOMMU_IOAS_MAP_WRITEABLE));
			refused++;
		} else {
			ASSERT_EQ(0, ioas_copy(self->ctx, dst_ioas,
					       self->ioas_id, iova,
					       MOCK_PAGE_SIZE, &dst_iova,
					       IOMMU_IOAS_MAP_FIXED_IOVA |
						       IOMMU_IOAS_MAP_WRITEABLE));
			ASSERT_EQ(0, ioas_unmap(self->ctx, dst_ioas, dst_iova,
						MOCK_PAGE_SIZE, NULL));
			copied++;
		}
	}
	ASSERT_NE(0, copied);
	ASSERT_NE(0, refused);
	ASSERT_EQ(0, ioctl_destroy(self->ctx, dst_ioas));
}

/*
 * The kernel's "user_copy": pages an access pinned in an IOAS without
 * domains, copied into one with domains, are the same pages.
 */
static void user_copy(struct _fixture_data_ioas *self, uint8_t *buf,
		      size_t len)
{
	uint64_t src_iova = 0, dst_iova = MOCK_APERTURE_START;
	uint32_t src_ioas = 0, item = 0, dev = 0, hwpt = 0;
	int afd = -1;

	ASSERT_EQ(0, ioas_alloc(self->ctx, &src_ioas));
	ASSERT_EQ(0, ioas_map(self->ctx, src_ioas, buf, len, &src_iova,
			      MAP_RW));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, len, 0));
	ASSERT_EQ(0, fx_access(self, src_ioas,
			       MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
			       &afd));
	ASSERT_EQ(0, test_access_pages(self->ctx, afd, src_iova, len, buf, 0,
				       &item));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, len, 1));

	ASSERT_EQ(0, ioas_copy(self->ctx, self->ioas_id, src_ioas, src_iova,
			       len, &dst_iova,
			       IOMMU_IOAS_MAP_FIXED_IOVA |
				       IOMMU_IOAS_MAP_WRITEABLE));
	check_mock_iova(self, buf, MOCK_APERTURE_START, len);
	/* One pages object: still one pin, whoever holds it. */
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, len, 1));
	/* A domain attached now gets the same pages. */
	fx_dev_attach(self, &dev, &hwpt);
	ASSERT_EQ(0, test_check_map(self->ctx, hwpt, MOCK_APERTURE_START, len,
				    buf));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, len, 1));

	ASSERT_EQ(0, test_destroy_access_pages(self->ctx, afd, item));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, len, 1));
	fx_access_close(self, afd);
	ASSERT_EQ(0, ioctl_destroy(self->ctx, src_ioas));
	ASSERT_EQ(0, test_check_map(self->ctx, hwpt, MOCK_APERTURE_START, len,
				    buf));
	fx_dev_destroy(self, dev, hwpt);
	check_mock_iova(self, buf, MOCK_APERTURE_START, len);
	check_map_refs(self, buf, len, 1);
	fx_unmap(self, MOCK_APERTURE_START, len);
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, len, 0));
}

TEST_F(ioas, copy_access_pinned_pages)
{
	user_copy(self, self->buffer, BUFFER_SIZE);
}

TEST_F(ioas, copy_access_pinned_memfd)
{
	int mfd = memfd_create("ioas_cmds", 0);
	uint8_t *buf;

	ASSERT_LE(0, mfd);
	ASSERT_EQ(0, ftruncate(mfd, BUFFER_SIZE));
	buf = mmap(NULL, BUFFER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd,
		   0);
	close(mfd);
	ASSERT_NE(MAP_FAILED, buf);
	fx_track(self, buf, BUFFER_SIZE, true);
	memset(buf, 0x3c, BUFFER_SIZE);
	user_copy(self, buf, BUFFER_SIZE);
}

/*
 * Neither READABLE nor WRITEABLE. MAP refuses it under every release
 * (EINVAL, after unknown flags and U64_MAX values, before the IOAS
 * lookup); COPY refuses it in the same place under 7.2, while 6.2 made
 * the copy with no protection: the domains map it, an access may neither
 * read nor write it nor pin it, and a copy of it may have protection
 * again.
 */
TEST_F(ioas, map_copy_protection)
{
	uint64_t base = self->base_iova, iova = base + 4 * PAGE_SZ, dst;
	uint8_t *buf = self->buffer, tmp[16];
	int afd = -1;

	ASSERT_EQ(0, fx_map_fixed(self, buf, 2 * PAGE_SZ, base));
	if (!self->v6_2) {
		EXPECT_ERRNO(EINVAL, ioas_map(self->ctx, self->ioas_id, buf,
					      PAGE_SZ, &iova, 0));
		EXPECT_ERRNO(EINVAL, ioas_map(self->ctx, self->ioas_id, buf,
					      PAGE_SZ, &iova,
					      IOMMU_IOAS_MAP_FIXED_IOVA));
		EXPECT_ERRNO(EINVAL, ioas_map(self->ctx, 54321, buf, PAGE_SZ,
					      &iova,
					      IOMMU_IOAS_MAP_FIXED_IOVA));
	} else {
		/* 6.2 maps with no protection: an area no access may use. */
		uint64_t auto_iova = 0;

		EXPECT_ERRNO(ENOENT, ioas_map(self->ctx, 54321, buf, PAGE_SZ,
					      &iova,
					      IOMMU_IOAS_MAP_FIXED_IOVA));
		ASSERT_EQ(0, ioas_map(self->ctx, self->ioas_id, buf, PAGE_SZ,
				      &iova, IOMMU_IOAS_MAP_FIXED_IOVA));
		check_mock_iova(self, buf, iova, PAGE_SZ);
		ASSERT_EQ(0, ioas_map(self->ctx, self->ioas_id, buf, PAGE_SZ,
				      &auto_iova, 0));
		ASSERT_EQ(0, ioas_unmap(self->ctx, self->ioas_id, auto_iova,
					PAGE_SZ, NULL));
		ASSERT_EQ(0, ioas_unmap(self->ctx, self->ioas_id, iova,
					PAGE_SZ, NULL));
	}
	EXPECT_ERRNO(EOVERFLOW, ioas_map(self->ctx, 54321, buf, UINT64_MAX,
					 &iova, 0));
	EXPECT_ERRNO(EOPNOTSUPP, ioas_map(self->ctx, 54321, buf, UINT64_MAX,
					  &iova, 1u << 3));
	EXPECT_ERRNO(ENOENT, ioas_unmap(self->ctx, self->ioas_id, iova,
					PAGE_SZ, NULL));

	dst = base + 8 * PAGE_SZ;
	EXPECT_ERRNO(EOPNOTSUPP, ioas_copy(self->ctx, 54321, 54321, base,
					   UINT64_MAX, &dst, 1u << 3));
	EXPECT_ERRNO(EOVERFLOW, ioas_copy(self->ctx, 54321, 54321, base,
					  UINT64_MAX, &dst, 0));
	if (!self->v6_2) {
		EXPECT_ERRNO(EINVAL, ioas_copy(self->ctx, self->ioas_id,
					       self->ioas_id, base, PAGE_SZ,
					       &dst,
					       IOMMU_IOAS_MAP_FIXED_IOVA));
		EXPECT_ERRNO(EINVAL, ioas_copy(self->ctx, self->ioas_id,
					       self->ioas_id, base, PAGE_SZ,
					       &dst, 0));
		EXPECT_ERRNO(EINVAL, ioas_copy(self->ctx, 54321, 54321, base,
					       PAGE_SZ, &dst,
					       IOMMU_IOAS_MAP_FIXED_IOVA));
		EXPECT_ERRNO(ENOENT, ioas_unmap(self->ctx, self->ioas_id, dst,
						PAGE_SZ, NULL));
		check_map_refs(self, buf, 2 * PAGE_SZ, 1);
		return;
	}
	EXPECT_ERRNO(ENOENT, ioas_copy(self->ctx, 54321, 54321, base, PAGE_SZ,
				       &dst, IOMMU_IOAS_MAP_FIXED_IOVA));
	ASSERT_EQ(0, ioas_copy(self->ctx, self->ioas_id, self->ioas_id, base,
			       PAGE_SZ, &dst, IOMMU_IOAS_MAP_FIXED_IOVA));
	ASSERT_EQ(base + 8 * PAGE_SZ, dst);
	check_mock_iova(self, buf, dst, PAGE_SZ);
	check_map_refs(self, buf, 2 * PAGE_SZ, 1);
	ASSERT_EQ(0, fx_access(self, self->ioas_id,
			       MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
			       &afd));
	EXPECT_ERRNO(EPERM, test_access_rw(self->ctx, afd, dst + 5, tmp,
					   sizeof(tmp), 0));
	EXPECT_ERRNO(EPERM, test_access_rw(self->ctx, afd, dst + 5, tmp,
					   sizeof(tmp), MOCK_ACCESS_RW_WRITE));
	EXPECT_ERRNO(EPERM, test_access_pages(self->ctx, afd, dst, PAGE_SZ,
					      buf, MOCK_FLAGS_ACCESS_WRITE,
					      NULL));
	EXPECT_ERRNO(EPERM, test_access_pages(self->ctx, afd, dst, PAGE_SZ,
					      buf, 0, NULL));
	EXPECT_ERRNO(ENOENT, test_destroy_access_pages(self->ctx, afd, 0));
	/* The source area is readable. */
	ASSERT_EQ(0, test_access_rw(self->ctx, afd, base + 5, tmp,
				    sizeof(tmp), 0));
	ASSERT_EQ(0, memcmp(buf + 5, tmp, sizeof(tmp)));
	/* A copy of the copy, readable and writable again. */
	iova = base + 12 * PAGE_SZ;
	ASSERT_EQ(0, ioas_copy(self->ctx, self->ioas_id, self->ioas_id, dst,
			       PAGE_SZ, &iova, MAP_FIXED_RW));
	memset(tmp, 0, sizeof(tmp));
	ASSERT_EQ(0, test_access_rw(self->ctx, afd, iova + 5, tmp,
				    sizeof(tmp), 0));
	ASSERT_EQ(0, memcmp(buf + 5, tmp, sizeof(tmp)));
	check_mock_iova(self, buf, iova, PAGE_SZ);
	fx_access_close(self, afd);
	fx_unmap(self, iova, PAGE_SZ);
	fx_unmap(self, dst, PAGE_SZ);
	check_map_refs(self, buf, 2 * PAGE_SZ, 1);
}

/* A read-only area can only be copied read-only. */
TEST_F(ioas, copy_readonly_area)
{
	uint64_t iova = 0, dst = 0;

	ASSERT_EQ(0, ioas_map(self->ctx, self->ioas_id, self->buffer,
			      PAGE_SZ, &iova, IOMMU_IOAS_MAP_READABLE));
	EXPECT_ERRNO(EPERM, ioas_copy(self->ctx, self->ioas_id, self->ioas_id,
				      iova, PAGE_SZ, &dst, MAP_RW));
	ASSERT_EQ(0, ioas_copy(self->ctx, self->ioas_id, self->ioas_id, iova,
			       PAGE_SZ, &dst, IOMMU_IOAS_MAP_READABLE));
	check_mock_iova(self, self->buffer, dst, PAGE_SZ);
	check_map_refs(self, self->buffer, PAGE_SZ, 1);
}

/* ---- IOVA_RANGES, ALLOW_IOVAS, ADD_RESERVED ---- */

/* The kernel's "iova_ranges", with the exact values. */
TEST_F(ioas, iova_ranges)
{
	struct iommu_iova_range r[4];
	uint64_t align = 0;
	uint32_t num = 0;

	ASSERT_EQ(0, ioas_iova_ranges(self->ctx, self->ioas_id, r, 4, &num,
				      &align));
	ASSERT_EQ(1, num);
	if (!self->ndomains) {
		EXPECT_EQ(0, r[0].start);
		EXPECT_EQ(SIZE_MAX, r[0].last);
		EXPECT_EQ(1, align);
	} else {
		EXPECT_EQ(MOCK_APERTURE_START, r[0].start);
		EXPECT_EQ(MOCK_APERTURE_LAST, r[0].last);
		EXPECT_EQ(MOCK_PAGE_SIZE, align);
	}

	/* Capacity 0: EMSGSIZE with the real count, nothing written. */
	memset(r, 0, sizeof(r));
	num = 0;
	EXPECT_ERRNO(EMSGSIZE, ioas_iova_ranges(self->ctx, self->ioas_id, r,
						0, &num, &align));
	EXPECT_EQ(1, num);
	EXPECT_EQ(0, r[0].start);
	EXPECT_EQ(0, r[0].last);

	/* A reserved page splits the space (outside any aperture). */
	ASSERT_EQ(0, test_add_reserved(self->ctx, self->ioas_id, PAGE_SZ,
				       PAGE_SZ));
	ASSERT_EQ(0, ioas_iova_ranges(self->ctx, self->ioas_id, r, 4, &num,
				      &align));
	if (!self->ndomains) {
		ASSERT_EQ(2, num);
		EXPECT_EQ(0, r[0].start);
		EXPECT_EQ(PAGE_SZ - 1, r[0].last);
		EXPECT_EQ(PAGE_SZ * 2, r[1].start);
		EXPECT_EQ(SIZE_MAX, r[1].last);
	} else {
		ASSERT_EQ(1, num);
		EXPECT_EQ(MOCK_APERTURE_START, r[0].start);
		EXPECT_EQ(MOCK_APERTURE_LAST, r[0].last);
	}

	/* Capacity 1 with 2 ranges: first filled, second untouched. */
	memset(r, 0, sizeof(r));
	num = 0;
	if (!self->ndomains) {
		EXPECT_ERRNO(EMSGSIZE, ioas_iova_ranges(self->ctx,
							self->ioas_id, r, 1,
							&num, &align));
		EXPECT_EQ(2, num);
		EXPECT_EQ(0, r[0].start);
		EXPECT_EQ(PAGE_SZ - 1, r[0].last);
	} else {
		ASSERT_EQ(0, ioas_iova_ranges(self->ctx, self->ioas_id, r, 1,
					      &num, &align));
		EXPECT_EQ(1, num);
		EXPECT_EQ(MOCK_APERTURE_START, r[0].start);
		EXPECT_EQ(MOCK_APERTURE_LAST, r[0].last);
	}
	EXPECT_EQ(0, r[1].start);
	EXPECT_EQ(0, r[1].last);
}

/* IOVA_RANGES follows domains coming and going, and accesses. */
TEST_F(ioas, iova_ranges_follow_domains)
{
	struct iommu_iova_range r[2];
	uint32_t dev = 0, hwpt = 0, num = 0;
	uint64_t align = 0;
	int afd = -1;

	fx_dev_attach(self, &dev, &hwpt);
	ASSERT_EQ(0, ioas_iova_ranges(self->ctx, self->ioas_id, r, 2, &num,
				      &align));
	ASSERT_EQ(1, num);
	EXPECT_EQ(MOCK_APERTURE_START, r[0].start);
	EXPECT_EQ(MOCK_APERTURE_LAST, r[0].last);
	EXPECT_EQ(MOCK_PAGE_SIZE, align);
	/* A reserved range inside the aperture splits it. */
	ASSERT_EQ(0, test_add_reserved(self->ctx, self->ioas_id,
				       MOCK_APERTURE_START + PAGE_SZ,
				       PAGE_SZ));
	ASSERT_EQ(0, ioas_iova_ranges(self->ctx, self->ioas_id, r, 2, &num,
				      &align));
	ASSERT_EQ(2, num);
	EXPECT_EQ(MOCK_APERTURE_START, r[0].start);
	EXPECT_EQ(MOCK_APERTURE_START + PAGE_SZ - 1, r[0].last);
	EXPECT_EQ(MOCK_APERTURE_START + 2 * PAGE_SZ, r[1].start);
	EXPECT_EQ(MOCK_APERTURE_LAST, r[1].last);

	/* The fixture's domains and this one go: the aperture goes too. */
	fx_dev_destroy(self, dev, hwpt);
	fx_detach_all(self);
	ASSERT_EQ(0, ioas_iova_ranges(self->ctx, self->ioas_id, r, 2, &num,
				      &align));
	ASSERT_EQ(2, num);
	EXPECT_EQ(0, r[0].start);
	EXPECT_EQ(MOCK_APERTURE_START + PAGE_SZ - 1, r[0].last);
	EXPECT_EQ(MOCK_APERTURE_START + 2 * PAGE_SZ, r[1].start);
	EXPECT_EQ(UINT64_MAX, r[1].last);
	EXPECT_EQ(1, align);

	/* An access that pins pages needs CPU pages. */
	ASSERT_EQ(0, fx_access(self, self->ioas_id,
			       MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
			       &afd));
	EXPECT_EQ(PAGE_SZ, iova_alignment(self->ctx, self->ioas_id));
	fx_access_close(self, afd);
	EXPECT_EQ(1, iova_alignment(self->ctx, self->ioas_id));
	ASSERT_EQ(0, fx_access(self, self->ioas_id, 0, &afd));
	EXPECT_EQ(1, iova_alignment(self->ctx, self->ioas_id));
	fx_access_close(self, afd);
}

/* The kernel's "area_allowed", and clearing. */
TEST_F(ioas, allow_iovas)
{
	struct iommu_iova_range ranges[2] = {};
	uint64_t iova = 0, first, last;
	int i;

	usable_span(self, &first, &last);

	/* Each range at least two bytes, none overlapping another. */
	ranges[0].start = ranges[0].last = self->base_iova + 100 * PAGE_SZ;
	EXPECT_ERRNO(EINVAL, ioas_allow_iovas(self->ctx, self->ioas_id,
					      ranges, 1));
	ranges[0].last = ranges[0].start - 1;
	EXPECT_ERRNO(EINVAL, ioas_allow_iovas(self->ctx, self->ioas_id,
					      ranges, 1));
	ranges[0].last = self->base_iova + 108 * PAGE_SZ - 1;
	ranges[1].start = self->base_iova + 104 * PAGE_SZ;
	ranges[1].last = self->base_iova + 116 * PAGE_SZ - 1;
	EXPECT_ERRNO(EINVAL, ioas_allow_iovas(self->ctx, self->ioas_id,
					      ranges, 2));
	/* None of those took effect. */
	ASSERT_EQ(0, fx_map(self, self->buffer, PAGE_SZ, &iova));
	EXPECT_EQ(self->ndomains ? MOCK_APERTURE_START : PAGE_SZ, iova);
	fx_unmap(self, iova, PAGE_SZ);

	/* Reserved intersects an allowed range. */
	ranges[0].start = self->base_iova + 100 * PAGE_SZ;
	ranges[0].last = self->base_iova + PAGE_SZ * 700;
	ASSERT_EQ(0, ioas_allow_iovas(self->ctx, self->ioas_id, ranges, 1));
	EXPECT_ERRNO(EADDRINUSE, test_add_reserved(self->ctx, self->ioas_id,
						   ranges[0].start + PAGE_SZ,
						   PAGE_SZ));
	EXPECT_ERRNO(EADDRINUSE, test_add_reserved(self->ctx, self->ioas_id,
						   ranges[0].last, 2));
	/* Allowed ranges restrict automatic IOVAs only, not fixed ones. */
	ASSERT_EQ(0, fx_map_fixed(self, self->buffer, PAGE_SZ,
				  self->base_iova + 800 * PAGE_SZ));
	for (i = 0; i != 8; i++) {
		size_t length = PAGE_SZ * (i + 1);

		ASSERT_EQ(0, fx_map(self, self->buffer, length, &iova));
		EXPECT_LE(ranges[0].start, iova);
		EXPECT_GE(ranges[0].last, iova + length - 1);
	}
	ASSERT_EQ(0, ioas_unmap(self->ctx, self->ioas_id, 0, UINT64_MAX,
				&iova));
	ASSERT_EQ(37 * PAGE_SZ, iova);

	/* num_iovas 0 clears it. */
	ASSERT_EQ(0, ioas_allow_iovas(self->ctx, self->ioas_id, NULL, 0));
	iova = 0;
	ASSERT_EQ(0, fx_map(self, self->buffer, PAGE_SZ, &iova));
	EXPECT_LT(iova, ranges[0].start);
	if (!self->ndomains)
		EXPECT_EQ(PAGE_SZ, iova);
	else
		EXPECT_EQ(MOCK_APERTURE_START, iova);
	fx_unmap(self, iova, PAGE_SZ);

	/* Allowed intersects a reserved range. */
	ASSERT_EQ(0, test_add_reserved(self->ctx, self->ioas_id,
				       self->base_iova + 200 * PAGE_SZ,
				       PAGE_SZ));
	EXPECT_ERRNO(EADDRINUSE, ioas_allow_iovas(self->ctx, self->ioas_id,
						  ranges, 1));
	/* A refused set leaves the old one (none): auto maps go anywhere. */
	iova = 0;
	ASSERT_EQ(0, fx_map(self, self->buffer, PAGE_SZ, &iova));
	EXPECT_LT(iova, ranges[0].start);
	fx_unmap(self, iova, PAGE_SZ);

	/* Two allowed ranges, too small for a large map: ENOSPC. */
	ranges[0].start = self->base_iova + 4 * PAGE_SZ;
	ranges[0].last = self->base_iova + 8 * PAGE_SZ - 1;
	ranges[1].start = self->base_iova + 16 * PAGE_SZ;
	ranges[1].last = self->base_iova + 24 * PAGE_SZ - 1;
	ASSERT_EQ(0, ioas_allow_iovas(self->ctx, self->ioas_id, ranges, 2));
	EXPECT_ERRNO(ENOSPC, fx_map(self, self->buffer, 16 * PAGE_SZ, &iova));
	ASSERT_EQ(0, fx_map(self, self->buffer, 8 * PAGE_SZ, &iova));
	EXPECT_EQ(ranges[1].start, iova);
	ASSERT_EQ(0, fx_map(self, self->buffer, 4 * PAGE_SZ, &iova));
	EXPECT_EQ(ranges[0].start, iova);
	EXPECT_ERRNO(ENOSPC, fx_map(self, self->buffer, PAGE_SZ, &iova));
	/* With a domain, outside the aperture is reserved. */
	if (self->ndomains) {
		ranges[0].start = 0;
		ranges[0].last = PAGE_SZ * 2;
		EXPECT_ERRNO(EADDRINUSE, ioas_allow_iovas(self->ctx,
							  self->ioas_id,
							  ranges, 1));
	}
}

TEST_F(ioas, add_reserved)
{
	uint64_t base = self->base_iova + 16 * PAGE_SZ, first, last, iova;
	struct iommu_iova_range r[4];
	uint32_t num = 0;
	int i;

	usable_span(self, &first, &last);
	EXPECT_ERRNO(EINVAL, test_add_reserved(self->ctx, self->ioas_id,
					       base, 0));
	EXPECT_ERRNO(EOVERFLOW, test_add_reserved(self->ctx, self->ioas_id,
						  UINT64_MAX - PAGE_SZ + 1,
						  2 * PAGE_SZ));
	EXPECT_ERRNO(EOVERFLOW, test_add_reserved(self->ctx, self->ioas_id,
						  2, UINT64_MAX));
	EXPECT_ERRNO(ENOENT, test_add_reserved(self->ctx, 0, base, PAGE_SZ));

	/* Over an area: EADDRINUSE; next to it: fine. */
	ASSERT_EQ(0, fx_map_fixed(self, self->buffer, 2 * PAGE_SZ, base));
	EXPECT_ERRNO(EADDRINUSE, test_add_reserved(self->ctx, self->ioas_id,
						   base, PAGE_SZ));
	EXPECT_ERRNO(EADDRINUSE, test_add_reserved(self->ctx, self->ioas_id,
						   base + 2 * PAGE_SZ - 1, 1));
	EXPECT_ERRNO(EADDRINUSE, test_add_reserved(self->ctx, self->ioas_id,
						   base - PAGE_SZ,
						   4 * PAGE_SZ));
	ASSERT_EQ(0, test_add_reserved(self->ctx, self->ioas_id,
				       base + 2 * PAGE_SZ, PAGE_SZ));
	ASSERT_EQ(0, test_add_reserved(self->ctx, self->ioas_id,
				       base - PAGE_SZ, PAGE_SZ));
	check_mock_iova(self, self->buffer, base, 2 * PAGE_SZ);
	/* Reserved ranges may overlap each other. */
	ASSERT_EQ(0, test_add_reserved(self->ctx, self->ioas_id,
				       base + 2 * PAGE_SZ, 8 * PAGE_SZ));

	/* Unusable for fixed maps... */
	EXPECT_ERRNO(EINVAL, fx_map_fixed(self, self->buffer, PAGE_SZ,
					  base + 4 * PAGE_SZ));
	EXPECT_ERRNO(EINVAL, fx_map_fixed(self, self->buffer, 2 * PAGE_SZ,
					  base + 9 * PAGE_SZ));
	EXPECT_ERRNO(EINVAL, fx_map_fixed(self, self->buffer, MOCK_PAGE_SIZE,
					  base + 10 * PAGE_SZ -
						  MOCK_PAGE_SIZE));
	ASSERT_EQ(0, fx_map_fixed(self, self->buffer, PAGE_SZ,
				  base + 10 * PAGE_SZ));
	check_map_refs(self, self->buffer, PAGE_SZ, 2);

	/* ...invisible in IOVA_RANGES... */
	ASSERT_EQ(0, ioas_iova_ranges(self->ctx, self->ioas_id, r, 4, &num,
				      NULL));
	ASSERT_EQ(3, num);
	EXPECT_EQ(first, r[0].start);
	EXPECT_EQ(base - PAGE_SZ - 1, r[0].last);
	EXPECT_EQ(base, r[1].start);
	EXPECT_EQ(base + 2 * PAGE_SZ - 1, r[1].last);
	EXPECT_EQ(base + 10 * PAGE_SZ, r[2].start);
	EXPECT_EQ(last, r[2].last);

	/* ...and for automatic IOVAs. */
	ASSERT_EQ(0, test_add_reserved(self->ctx, self->ioas_id, first,
				       base - PAGE_SZ - first));
	for (i = 0; i != 4; i++) {
		iova = 0;
		ASSERT_EQ(0, fx_map(self, self->buffer, PAGE_SZ, &iova));
		EXPECT_LE(base + 11 * PAGE_SZ, iova);
	}
}

/* ---- accesses ---- */

/* The kernel's "access_pin" (every length) and "access_domain_destory". */
TEST_F(ioas, access_pin)
{
	uint8_t *buf = self->buffer;
	uint32_t item = 0, item2 = 0;
	unsigned int npages;
	int afd = -1;

	/* Pinning works in CPU pages: an area of half a page is in the way. */
	ASSERT_EQ(0, fx_map_fixed(self, buf + MOCK_PAGE_SIZE, MOCK_PAGE_SIZE,
				  self->base_iova + MOCK_PAGE_SIZE));
	EXPECT_ERRNO(EADDRINUSE,
		     fx_access(self, self->ioas_id,
			       MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES, &afd));
	/* An access that does not pin has no such need. */
	ASSERT_EQ(0, fx_access(self, self->ioas_id, 0, &afd));
	fx_access_close(self, afd);
	fx_unmap(self, self->base_iova + MOCK_PAGE_SIZE, MOCK_PAGE_SIZE);

	ASSERT_EQ(0, fx_access(self, self->ioas_id,
			       MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
			       &afd));
	/* And while it exists, half-page maps are refused. */
	EXPECT_ERRNO(EINVAL, fx_map_fixed(self, buf, MOCK_PAGE_SIZE,
					  self->base_iova));
	EXPECT_ERRNO(ENOENT, test_destroy_access_pages(self->ctx, afd, 0));
	EXPECT_ERRNO(ENOENT, test_destroy_access_pages(self->ctx, afd, 1234));

	for (npages = 1; npages < BUFFER_SIZE / PAGE_SZ; npages++) {
		uint64_t len = npages * PAGE_SZ;
		uint32_t dev = 0, hwpt = 0;

		/* Single pin and unpin. */
		ASSERT_EQ(0, fx_map_fixed(self, buf, BUFFER_SIZE,
					  MOCK_APERTURE_START));
		ASSERT_EQ(0, test_access_pages(self->ctx, afd,
					       MOCK_APERTURE_START, len, buf,
					       0, &item));
		ASSERT_EQ(0, test_check_refs(self->ctx, buf, len, 1));
		ASSERT_EQ(0, test_destroy_access_pages(self->ctx, afd, item));
		EXPECT_ERRNO(ENOENT, test_destroy_access_pages(self->ctx, afd,
							       item));
		check_map_refs(self, buf, len, 1);

		/* Two pins of the same range. */
		ASSERT_EQ(0, test_access_pages(self->ctx, afd,
					       MOCK_APERTURE_START, len, buf,
					       MOCK_FLAGS_ACCESS_WRITE,
					       &item));
		ASSERT_EQ(0, test_access_pages(self->ctx, afd,
					       MOCK_APERTURE_START, len, buf,
					       0, &item2));
		ASSERT_NE(item, item2);
		ASSERT_EQ(0, test_check_refs(self->ctx, buf, len, 1));
		ASSERT_EQ(0, test_destroy_access_pages(self->ctx, afd, item2));
		ASSERT_EQ(0, test_check_refs(self->ctx, buf, len, 1));
		ASSERT_EQ(0, test_destroy_access_pages(self->ctx, afd, item));
		check_map_refs(self, buf, len, 1);

		/* Add and remove a domain under the pin: refs stay 1. */
		ASSERT_EQ(0, test_access_pages(self->ctx, afd,
					       MOCK_APERTURE_START, len, buf,
					       0, &item));
		fx_dev_attach(self, &dev, &hwpt);
		ASSERT_EQ(0, test_check_map(self->ctx, hwpt,
					    MOCK_APERTURE_START, BUFFER_SIZE,
					    buf));
		ASSERT_EQ(0, test_check_refs(self->ctx, buf, BUFFER_SIZE, 1));
		fx_dev_destroy(self, dev, hwpt);
		ASSERT_EQ(0, test_check_refs(self->ctx, buf, len, 1));
		check_map_refs(self, buf + len, BUFFER_SIZE - len, 1);
		ASSERT_EQ(0, test_destroy_access_pages(self->ctx, afd, item));
		check_map_refs(self, buf, BUFFER_SIZE, 1);

		fx_unmap(self, MOCK_APERTURE_START, BUFFER_SIZE);
		ASSERT_EQ(0, test_check_refs(self->ctx, buf, BUFFER_SIZE, 0));
	}
	fx_access_close(self, afd);
}

/* Pins keep the pages when the last domain goes, and let go after. */
TEST_F(ioas, access_pin_survives_domains)
{
	uint8_t *buf = self->buffer;
	uint32_t item = 0;
	int afd = -1;

	ASSERT_EQ(0, fx_map_fixed(self, buf, BUFFER_SIZE, self->base_iova));
	ASSERT_EQ(0, fx_access(self, self->ioas_id,
			       MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
			       &afd));
	ASSERT_EQ(0, test_access_pages(self->ctx, afd,
				       self->base_iova + 2 * PAGE_SZ,
				       4 * PAGE_SZ, buf + 2 * PAGE_SZ, 0,
				       &item));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf + 2 * PAGE_SZ,
				     4 * PAGE_SZ, 1));
	if (self->ndevices >= 2) {
		fx_detach_device(self);
		check_mock_iova(self, buf, self->base_iova, BUFFER_SIZE);
		ASSERT_EQ(0, test_check_refs(self->ctx, buf, BUFFER_SIZE, 1));
	}
	fx_detach_all(self);
	/* Only what the access pins stays pinned. */
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, 2 * PAGE_SZ, 0));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf + 2 * PAGE_SZ,
				     4 * PAGE_SZ, 1));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf + 6 * PAGE_SZ,
				     BUFFER_SIZE - 6 * PAGE_SZ, 0));
	ASSERT_EQ(0, test_destroy_access_pages(self->ctx, afd, item));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, BUFFER_SIZE, 0));
	fx_access_close(self, afd);
}

/* The kernel's "access_pin_unmap": unmap calls the access back. */
TEST_F(ioas, access_pin_unmap)
{
	uint8_t *buf = self->buffer;
	uint32_t item = 0, item2 = 0;
	uint64_t unmapped = 0;
	int afd = -1;

	ASSERT_EQ(0, fx_access(self, self->ioas_id,
			       MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
			       &afd));
	ASSERT_EQ(0, fx_map_fixed(self, buf, BUFFER_SIZE,
				  MOCK_APERTURE_START));
	ASSERT_EQ(0, test_access_pages(self->ctx, afd, MOCK_APERTURE_START,
				       BUFFER_SIZE, buf, 0, &item));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, BUFFER_SIZE, 1));

	/* Trigger the unmap op. */
	ASSERT_EQ(0, ioas_unmap(self->ctx, self->ioas_id, MOCK_APERTURE_START,
				BUFFER_SIZE, &unmapped));
	ASSERT_EQ(BUFFER_SIZE, unmapped);
	/* The callback removed the item, and the pages are free. */
	EXPECT_ERRNO(ENOENT, test_destroy_access_pages(self->ctx, afd, item));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, BUFFER_SIZE, 0));

	/* Unmap-all does it too, for every pin in range. */
	ASSERT_EQ(0, fx_map_fixed(self, buf, 4 * PAGE_SZ,
				  MOCK_APERTURE_START));
	ASSERT_EQ(0, fx_map_fixed(self, buf + 8 * PAGE_SZ, 4 * PAGE_SZ,
				  MOCK_APERTURE_START + 8 * PAGE_SZ));
	ASSERT_EQ(0, test_access_pages(self->ctx, afd, MOCK_APERTURE_START,
				       PAGE_SZ, buf, 0, &item));
	ASSERT_EQ(0, test_access_pages(self->ctx, afd,
				       MOCK_APERTURE_START + 9 * PAGE_SZ,
				       2 * PAGE_SZ, buf + 9 * PAGE_SZ, 0,
				       &item2));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf + 9 * PAGE_SZ,
				     2 * PAGE_SZ, 1));
	ASSERT_EQ(0, ioas_unmap(self->ctx, self->ioas_id, 0, UINT64_MAX,
				&unmapped));
	ASSERT_EQ(8 * PAGE_SZ, unmapped);
	EXPECT_ERRNO(ENOENT, test_destroy_access_pages(self->ctx, afd, item));
	EXPECT_ERRNO(ENOENT, test_destroy_access_pages(self->ctx, afd,
						       item2));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, BUFFER_SIZE, 0));
	fx_access_close(self, afd);
}

/* An access without NEEDS_PIN_PAGES cannot pin, but can read and write. */
TEST_F(ioas, access_no_pin_pages)
{
	uint8_t tmp[64];
	uint64_t iova = 0;
	int afd = -1;

	ASSERT_EQ(0, fx_map(self, self->buffer, BUFFER_SIZE, &iova));
	EXPECT_ERRNO(EOPNOTSUPP, fx_access(self, self->ioas_id, 2, &afd));
	EXPECT_ERRNO(EOPNOTSUPP, fx_access(self, self->ioas_id,
					   MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES |
						   (1u << 31),
					   &afd));
	EXPECT_ERRNO(ENOENT, fx_access(self, 0, 0, &afd));
	if (self->ndomains)
		EXPECT_ERRNO(ENOENT, fx_access(self, self->hwpt_ids[0], 0,
					       &afd));
	ASSERT_EQ(0, fx_access(self, self->ioas_id, 0, &afd));
	EXPECT_ERRNO(EOPNOTSUPP, test_access_pages(self->ctx, afd, iova,
						   PAGE_SZ, self->buffer, 0,
						   NULL));
	/* Unknown flags; more than 16 MiB. */
	EXPECT_ERRNO(EOPNOTSUPP, test_access_rw(self->ctx, afd, iova, tmp,
						sizeof(tmp), 2));
	EXPECT_ERRNO(EOPNOTSUPP, test_access_rw(self->ctx, afd, iova, tmp,
						sizeof(tmp), 1u << 8));
	EXPECT_ERRNO(ENOMEM, test_access_rw(self->ctx, afd, iova, tmp,
					    16 * 1024 * 1024 + 1, 0));
	ASSERT_EQ(0, test_access_rw(self->ctx, afd, iova + 100, tmp,
				    sizeof(tmp), 0));
	ASSERT_EQ(0, memcmp(tmp, self->buffer + 100, sizeof(tmp)));
	memset(tmp, 0xa5, sizeof(tmp));
	ASSERT_EQ(0, test_access_rw(self->ctx, afd, iova + 200, tmp,
				    sizeof(tmp), MOCK_ACCESS_RW_WRITE));
	ASSERT_EQ(0, memcmp(tmp, self->buffer + 200, sizeof(tmp)));
	check_map_refs(self, self->buffer, BUFFER_SIZE, 1);
	/* Reading and writing pins nothing. */
	if (!self->ndomains)
		ASSERT_EQ(0, test_check_refs(self->ctx, self->buffer,
					     BUFFER_SIZE, 0));
	fx_access_close(self, afd);
}

/* The kernel's check_access_rw(). */
static void check_access_rw(struct _fixture_data_ioas *self, int afd,
			    uint8_t *buffer, uint64_t iova,
			    unsigned int def_flags)
{
	unsigned int steps = test_iterations(100);
	uint16_t tmp[32];
	uint16_t *buffer16 = (uint16_t *)buffer;
	uint8_t *tmp2;
	uint64_t cur, len;
	unsigned int i;

	srand(test_seed());
	for (i = 0; i != BUFFER_SIZE / sizeof(*buffer16); i++)
		buffer16[i] = rand();

	for (cur = iova + PAGE_SZ - steps / 2;
	     cur < iova + PAGE_SZ + (steps + 1) / 2; cur++) {
		for (len = 1; len < sizeof(tmp); len++) {
			ASSERT_EQ(0, test_access_rw(self->ctx, afd, cur, tmp,
						    len, def_flags));
			ASSERT_EQ(0, memcmp(buffer + (cur - iova), tmp, len));

			for (i = 0; i != ARRAY_SIZE(tmp); i++)
				tmp[i] = rand();
			ASSERT_EQ(0, test_access_rw(self->ctx, afd, cur, tmp,
						    len,
						    def_flags |
							    MOCK_ACCESS_RW_WRITE));
			ASSERT_EQ(0, memcmp(buffer + (cur - iova), tmp, len));
		}
	}

	/* The whole area at once. */
	tmp2 = malloc(BUFFER_SIZE);
	ASSERT_NONNULL(tmp2);
	ASSERT_EQ(0, test_access_rw(self->ctx, afd, iova, tmp2, BUFFER_SIZE,
				    def_flags));
	i = memcmp(buffer, tmp2, BUFFER_SIZE);
	free(tmp2);
	ASSERT_EQ(0, i);
	/* Past its end: ENOENT. */
	ASSERT_ERRNO(ENOENT, test_access_rw(self->ctx, afd, iova, tmp,
					    BUFFER_SIZE + 1, def_flags));
	ASSERT_ERRNO(ENOENT, test_access_rw(self->ctx, afd,
					    iova + BUFFER_SIZE - 1, tmp, 2,
					    def_flags | MOCK_ACCESS_RW_WRITE));
	ASSERT_ERRNO(ENOENT, test_access_rw(self->ctx, afd, iova - 1, tmp, 2,
					    def_flags));
}

TEST_F(ioas, access_rw)
{
	uint64_t iova = 0;
	int afd = -1;

	ASSERT_EQ(0, fx_access(self, self->ioas_id, 0, &afd));
	ASSERT_EQ(0, fx_map(self, self->buffer, BUFFER_SIZE, &iova));
	check_access_rw(self, afd, self->buffer, iova, 0);
	check_access_rw(self, afd, self->buffer, iova,
			MOCK_ACCESS_RW_SLOW_PATH);
	/* Writes through the access land where the domains map. */
	check_mock_iova(self, self->buffer, iova, BUFFER_SIZE);
	check_map_refs(self, self->buffer, BUFFER_SIZE, 1);
	fx_unmap(self, iova, BUFFER_SIZE);
	fx_access_close(self, afd);
}

/* The kernel's "access_rw_unaligned": the area starts off a CPU page. */
TEST_F(ioas, access_rw_unaligned)
{
	uint64_t iova = self->base_iova + MOCK_PAGE_SIZE;
	int afd = -1;

	ASSERT_EQ(0, fx_access(self, self->ioas_id, 0, &afd));
	ASSERT_EQ(0, fx_map_fixed(self, self->buffer, BUFFER_SIZE, iova));
	check_access_rw(self, afd, self->buffer, iova, 0);
	check_access_rw(self, afd, self->buffer, iova,
			MOCK_ACCESS_RW_SLOW_PATH);
	fx_unmap(self, iova, BUFFER_SIZE);
	fx_access_close(self, afd);
}

/* One read or write across two adjacent areas of different memory. */
TEST_F(ioas, access_rw_two_areas)
{
	uint8_t *buf2 = fx_buffer(self, 4 * PAGE_SZ, 77);
	uint64_t a = self->base_iova + MOCK_PAGE_SIZE;
	uint64_t b = a + 2 * PAGE_SZ + MOCK_PAGE_SIZE;
	uint8_t tmp[4 * PAGE_SZ], want[4 * PAGE_SZ];
	unsigned int flags[] = { 0, MOCK_ACCESS_RW_SLOW_PATH };
	int afd = -1;

	/* [a, b) is the buffer from an IO-page offset, [b, ...) buf2. */
	ASSERT_EQ(0, fx_map_fixed(self, self->buffer + MOCK_PAGE_SIZE,
				  b - a, a));
	ASSERT_EQ(0, fx_map_fixed(self, buf2, 4 * PAGE_SZ, b));
	ASSERT_EQ(0, fx_access(self, self->ioas_id, 0, &afd));

	for (unsigned int f = 0; f != ARRAY_SIZE(flags); f++) {
		uint64_t start = b - 3000, len = 6000;

		memcpy(want, self->buffer + MOCK_PAGE_SIZE + (start - a),
		       b - start);
		memcpy(want + (b - start), buf2, len - (b - start));
		memset(tmp, 0, sizeof(tmp));
		ASSERT_EQ(0, test_access_rw(self->ctx, afd, start, tmp, len,
					    flags[f]));
		ASSERT_EQ(0, memcmp(want, tmp, len));

		/* One byte either side of the seam. */
		ASSERT_EQ(0, test_access_rw(self->ctx, afd, b - 1, tmp, 1,
					    flags[f]));
		ASSERT_EQ(self->buffer[MOCK_PAGE_SIZE + b - 1 - a], tmp[0]);
		ASSERT_EQ(0, test_access_rw(self->ctx, afd, b, tmp, 1,
					    flags[f]));
		ASSERT_EQ(buf2[0], tmp[0]);

		/* Write across the seam, then read it back. */
		for (unsigned int i = 0; i != len; i++)
			tmp[i] = (uint8_t)(i * 13 + f);
		ASSERT_EQ(0, test_access_rw(self->ctx, afd, start, tmp, len,
					    flags[f] | MOCK_ACCESS_RW_WRITE));
		ASSERT_EQ(0, memcmp(self->buffer + MOCK_PAGE_SIZE +
					    (start - a),
				    tmp, b - start));
		ASSERT_EQ(0, memcmp(buf2, tmp + (b - start),
				    len - (b - start)));
	}
	check_mock_iova(self, self->buffer + MOCK_PAGE_SIZE, a, b - a);
	check_mock_iova(self, buf2, b, 4 * PAGE_SZ);

	/* With a gap between the areas: ENOENT. */
	fx_unmap(self, b, 4 * PAGE_SZ);
	ASSERT_EQ(0, fx_map_fixed(self, buf2, 4 * PAGE_SZ, b + PAGE_SZ));
	memset(tmp, 0xee, sizeof(tmp));
	EXPECT_ERRNO(ENOENT, test_access_rw(self->ctx, afd, b - 16, tmp,
					    PAGE_SZ + 32,
					    MOCK_ACCESS_RW_WRITE));
	EXPECT_ERRNO(ENOENT, test_access_rw(self->ctx, afd, b - 16, tmp,
					    PAGE_SZ + 32, 0));
	fx_access_close(self, afd);
}

/* MOCK_FLAGS_ACCESS_SYZ: iova = nth_area | offset << 32. */
TEST_F(ioas, access_syz_encoding)
{
	uint8_t *buf2 = fx_buffer(self, 4 * PAGE_SZ, 21);
	uint64_t copy = 0;
	uint8_t tmp[32];
	uint32_t item = 0;
	int afd = -1;

	/* Area 0 at base, area 1 above it. */
	ASSERT_EQ(0, fx_map_fixed(self, self->buffer, 4 * PAGE_SZ,
				  self->base_iova));
	ASSERT_EQ(0, fx_map_fixed(self, buf2, 4 * PAGE_SZ,
				  self->base_iova + 8 * PAGE_SZ));
	ASSERT_EQ(0, fx_access(self, self->ioas_id,
			       MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
			       &afd));

	if (self->v6_2) {
		/* The flag came after 6.2: unknown there, nothing done. */
		memset(tmp, 0x5c, sizeof(tmp));
		EXPECT_ERRNO(EOPNOTSUPP,
			     test_access_rw(self->ctx, afd, syz_iova(0, 3), tmp,
					    sizeof(tmp),
					    MOCK_FLAGS_ACCESS_SYZ |
						    MOCK_ACCESS_RW_WRITE));
		EXPECT_ERRNO(EOPNOTSUPP,
			     test_access_rw(self->ctx, afd, syz_iova(0, 3), tmp,
					    sizeof(tmp),
					    MOCK_FLAGS_ACCESS_SYZ));
		ASSERT_EQ(0x5c, tmp[0]);
		ASSERT_NE(0, memcmp(self->buffer + 3, tmp, sizeof(tmp)));
		EXPECT_ERRNO(EOPNOTSUPP,
			     test_access_pages(self->ctx, afd,
					       syz_iova(1, PAGE_SZ),
					       2 * PAGE_SZ, buf2 + PAGE_SZ,
					       MOCK_FLAGS_ACCESS_SYZ, &item));
		EXPECT_ERRNO(ENOENT,
			     test_destroy_access_pages(self->ctx, afd, 0));
		check_map_refs(self, self->buffer, 4 * PAGE_SZ, 1);
		check_map_refs(self, buf2, 4 * PAGE_SZ, 1);
		/* IOAS_COPY did not take it either. */
		EXPECT_ERRNO(EOPNOTSUPP,
			     ioas_copy(self->ctx, self->ioas_id, self->ioas_id,
				       syz_iova(1, 0), PAGE_SZ, NULL,
				       MAP_RW | MOCK_FLAGS_ACCESS_SYZ));
		fx_access_close(self, afd);
		return;
	}

	ASSERT_EQ(0, test_access_rw(self->ctx, afd,
				    syz_iova(1, PAGE_SZ + 5), tmp,
				    sizeof(tmp), MOCK_FLAGS_ACCESS_SYZ));
	ASSERT_EQ(0, memcmp(buf2 + PAGE_SZ + 5, tmp, sizeof(tmp)));
	ASSERT_EQ(0, test_access_rw(self->ctx, afd, syz_iova(0, 3), tmp,
				    sizeof(tmp), MOCK_FLAGS_ACCESS_SYZ));
	ASSERT_EQ(0, memcmp(self->buffer + 3, tmp, sizeof(tmp)));
	memset(tmp, 0x5c, sizeof(tmp));
	ASSERT_EQ(0, test_access_rw(self->ctx, afd, syz_iova(1, 100), tmp,
				    sizeof(tmp),
				    MOCK_FLAGS_ACCESS_SYZ |
					    MOCK_ACCESS_RW_WRITE));
	ASSERT_EQ(0, memcmp(buf2 + 100, tmp, sizeof(tmp)));
	/* No third area: IOVA 0, which is not mapped. */
	EXPECT_ERRNO(ENOENT, test_access_rw(self->ctx, afd, syz_iova(2, 0),
					    tmp, sizeof(tmp),
					    MOCK_FLAGS_ACCESS_SYZ));
	/* IOAS_COPY's src_iova too, in the source IOAS's areas. */
	copy = self->base_iova + 12 * PAGE_SZ;
	ASSERT_EQ(0, ioas_copy(self->ctx, self->ioas_id, self->ioas_id,
			       syz_iova(1, PAGE_SZ), PAGE_SZ, &copy,
			       MAP_FIXED_RW | MOCK_FLAGS_ACCESS_SYZ));
	check_mock_iova(self, buf2 + PAGE_SZ, copy, PAGE_SZ);
	ASSERT_EQ(0, test_access_rw(self->ctx, afd, copy + 7, tmp,
				    sizeof(tmp), 0));
	ASSERT_EQ(0, memcmp(buf2 + PAGE_SZ + 7, tmp, sizeof(tmp)));
	fx_unmap(self, copy, PAGE_SZ);
	/* No third area: source IOVA 0, not mapped. */
	EXPECT_ERRNO(ENOENT, ioas_copy(self->ctx, self->ioas_id,
				       self->ioas_id, syz_iova(2, 0), PAGE_SZ,
				       &copy,
				       MAP_FIXED_RW | MOCK_FLAGS_ACCESS_SYZ));

	ASSERT_EQ(0, test_access_pages(self->ctx, afd, syz_iova(1, PAGE_SZ),
				       2 * PAGE_SZ, buf2 + PAGE_SZ,
				       MOCK_FLAGS_ACCESS_SYZ, &item));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf2 + PAGE_SZ, 2 * PAGE_SZ,
				     1));
	check_map_refs(self, buf2, PAGE_SZ, 1);
	/* Its IOVA really is area 1 + PAGE_SZ: unmapping area 1 drops it. */
	fx_unmap(self, self->base_iova + 8 * PAGE_SZ, 4 * PAGE_SZ);
	EXPECT_ERRNO(ENOENT, test_destroy_access_pages(self->ctx, afd, item));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf2, 4 * PAGE_SZ, 0));
	EXPECT_ERRNO(ENOENT, test_access_pages(self->ctx, afd, syz_iova(1, 0),
					       PAGE_SZ, NULL,
					       MOCK_FLAGS_ACCESS_SYZ, NULL));
	ASSERT_EQ(0, test_access_pages(self->ctx, afd, syz_iova(0, 0),
				       PAGE_SZ, self->buffer,
				       MOCK_FLAGS_ACCESS_SYZ, &item));
	ASSERT_EQ(0, test_destroy_access_pages(self->ctx, afd, item));
	fx_access_close(self, afd);
}

/* ACCESS_PAGES checks the pinned pages against uptr. */
TEST_F(ioas, access_pages_checks_uptr)
{
	uint8_t *buf = self->buffer;
	uint64_t iova = 0;
	int afd = -1;

	ASSERT_EQ(0, fx_map(self, buf, 8 * PAGE_SZ, &iova));
	ASSERT_EQ(0, fx_access(self, self->ioas_id,
			       MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
			       &afd));
	/*
	 * Other memory than the mapping's: the kernel's
	 * iommufd_test_check_pages() says EBADE; nothing stays pinned.
	 */
	EXPECT_ERRNO(EBADE, test_access_pages(self->ctx, afd, iova,
					      2 * PAGE_SZ, buf + PAGE_SZ, 0,
					      NULL));
	check_map_refs(self, buf, 8 * PAGE_SZ, 1);
	EXPECT_ERRNO(EBADE, test_access_pages(self->ctx, afd,
					      iova + 4 * PAGE_SZ, PAGE_SZ,
					      buf + 3 * PAGE_SZ, 0, NULL));
	check_map_refs(self, buf, 8 * PAGE_SZ, 1);
	/* Not page aligned in the mapped memory: EINVAL. */
	EXPECT_ERRNO(EINVAL, test_access_pages(self->ctx, afd, iova + 8,
					       PAGE_SZ, NULL, 0, NULL));
	/* Not mapped: ENOENT. */
	EXPECT_ERRNO(ENOENT, test_access_pages(self->ctx, afd,
					       iova + 7 * PAGE_SZ,
					       2 * PAGE_SZ, NULL, 0, NULL));
	check_map_refs(self, buf, 8 * PAGE_SZ, 1);
	/* Unknown flags; more than 16 MiB. */
	EXPECT_ERRNO(EOPNOTSUPP, test_access_pages(self->ctx, afd, iova,
						   PAGE_SZ, buf, 2, NULL));
	EXPECT_ERRNO(EOPNOTSUPP, test_access_pages(self->ctx, afd, iova,
						   PAGE_SZ, buf,
						   MOCK_ACCESS_RW_SLOW_PATH,
						   NULL));
	EXPECT_ERRNO(ENOMEM, test_access_pages(self->ctx, afd, iova,
					       16 * 1024 * 1024 + PAGE_SZ, NULL,
					       0, NULL));
	check_map_refs(self, buf, 8 * PAGE_SZ, 1);
	fx_access_close(self, afd);
}

/* Write access to an area mapped without WRITEABLE: EPERM. */
TEST_F(ioas, access_write_readonly_area)
{
	uint8_t tmp[16] = { 1, 2, 3 };
	uint64_t iova = 0;
	uint32_t item = 0;
	int afd = -1;

	ASSERT_EQ(0, ioas_map(self->ctx, self->ioas_id, self->buffer,
			      4 * PAGE_SZ, &iova, IOMMU_IOAS_MAP_READABLE));
	ASSERT_EQ(0, fx_access(self, self->ioas_id,
			       MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
			       &afd));
	EXPECT_ERRNO(EPERM, test_access_pages(self->ctx, afd, iova, PAGE_SZ,
					      self->buffer,
					      MOCK_FLAGS_ACCESS_WRITE, NULL));
	check_map_refs(self, self->buffer, 4 * PAGE_SZ, 1);
	ASSERT_EQ(0, test_access_pages(self->ctx, afd, iova, PAGE_SZ,
				       self->buffer, 0, &item));
	ASSERT_EQ(0, test_check_refs(self->ctx, self->buffer, PAGE_SZ, 1));
	EXPECT_ERRNO(EPERM, test_access_rw(self->ctx, afd, iova + 10, tmp,
					   sizeof(tmp), MOCK_ACCESS_RW_WRITE));
	EXPECT_NE(0, memcmp(self->buffer + 10, tmp, sizeof(tmp)));
	ASSERT_EQ(0, test_access_rw(self->ctx, afd, iova + 10, tmp,
				    sizeof(tmp), 0));
	ASSERT_EQ(0, memcmp(self->buffer + 10, tmp, sizeof(tmp)));
	ASSERT_EQ(0, test_destroy_access_pages(self->ctx, afd, item));
	fx_access_close(self, afd);
}

/* ---- DESTROY, IOAS_ALLOC, OPTION, VFIO_IOAS, MOCK_DOMAIN targets ---- */

/* The kernel's "ioas_destroy", "ioas_area_destroy" and "..._auto_destroy". */
TEST_F(ioas, destroy_ioas)
{
	uint32_t ioas2 = 0, ioas3 = 0;
	int afd = -1;

	EXPECT_ERRNO(ENOENT, ioctl_destroy(self->ctx, 0));
	EXPECT_ERRNO(ENOENT, ioctl_destroy(self->ctx, 12345));
	ASSERT_EQ(0, fx_map_fixed(self, self->buffer, PAGE_SZ,
				  self->base_iova));
	if (self->ndomains) {
		/* Not while a device's HW pagetable uses it. */
		EXPECT_ERRNO(EBUSY, ioctl_destroy(self->ctx, self->ioas_id));
		EXPECT_ERRNO(EBUSY, ioctl_destroy(self->ctx,
						  self->hwpt_ids[0]));
		check_mock_iova(self, self->buffer, self->base_iova, PAGE_SZ);
	} else {
		ASSERT_EQ(0, ioctl_destroy(self->ctx, self->ioas_id));
		EXPECT_ERRNO(ENOENT, ioctl_destroy(self->ctx, self->ioas_id));
		EXPECT_ERRNO(ENOENT, ioas_map(self->ctx, self->ioas_id,
					      self->buffer, PAGE_SZ, NULL,
					      MAP_RW));
	}

	/* Many areas go with their IOAS, pins included. */
	ASSERT_EQ(0, ioas_alloc(self->ctx, &ioas2));
	ASSERT_EQ(0, ioas_alloc(self->ctx, &ioas3));
	/* IDs are never 0; a destroyed IOAS's ID may be reused. */
	ASSERT_NE(0, ioas2);
	ASSERT_NE(0, ioas3);
	ASSERT_NE(ioas2, ioas3);
	for (int i = 0; i != 10; i++) {
		uint64_t iova = MOCK_APERTURE_START + i * PAGE_SZ;

		ASSERT_EQ(0, ioas_map(self->ctx, ioas2, self->buffer + i *
				      PAGE_SZ, PAGE_SZ, &iova, MAP_FIXED_RW));
	}
	ASSERT_EQ(0, fx_access(self, ioas2,
			       MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES, &afd));
	ASSERT_EQ(0, test_access_pages(self->ctx, afd,
				       MOCK_APERTURE_START + PAGE_SZ,
				       2 * PAGE_SZ, self->buffer + PAGE_SZ, 0,
				       NULL));
	ASSERT_EQ(0, test_check_refs(self->ctx, self->buffer + PAGE_SZ,
				     2 * PAGE_SZ, 1));
	/* Not while an access uses it. */
	EXPECT_ERRNO(EBUSY, ioctl_destroy(self->ctx, ioas2));
	fx_access_close(self, afd);
	ASSERT_EQ(0, test_check_refs(self->ctx, self->buffer + PAGE_SZ,
				     2 * PAGE_SZ, 0));
	ASSERT_EQ(0, ioctl_destroy(self->ctx, ioas2));
	EXPECT_ERRNO(ENOENT, ioctl_destroy(self->ctx, ioas2));
	ASSERT_EQ(0, ioctl_destroy(self->ctx, ioas3));
	check_map_refs(self, self->buffer, PAGE_SZ, 1);
	ASSERT_EQ(0, test_check_refs(self->ctx, self->buffer + PAGE_SZ,
				     9 * PAGE_SZ, 0));
}

TEST(ioas_alloc_rules)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd), .flags = 1 };
	uint32_t ids[8];

	ASSERT_NONNULL(ctx);
	cmd.out_ioas_id = 77;
	EXPECT_ERRNO(EOPNOTSUPP, uiommufd_ioctl(ctx, IOMMU_IOAS_ALLOC, &cmd));
	EXPECT_EQ(77, cmd.out_ioas_id);
	cmd.flags = 1u << 31;
	EXPECT_ERRNO(EOPNOTSUPP, uiommufd_ioctl(ctx, IOMMU_IOAS_ALLOC, &cmd));
	for (unsigned int i = 0; i != ARRAY_SIZE(ids); i++) {
		ASSERT_EQ(0, ioas_alloc(ctx, &ids[i]));
		ASSERT_NE(0, ids[i]);
		for (unsigned int j = 0; j != i; j++)
			ASSERT_NE(ids[j], ids[i]);
	}
	uiommufd_ctx_close(ctx);
}

/* capable(CAP_SYS_RESOURCE), asked independently of the library. */
static bool have_cap_sys_resource(void)
{
	char line[256];
	bool cap = false;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long eff;

		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			cap = eff & (1ULL << 24);
	}
	fclose(f);
	return cap;
}

/*
 * The kernel's RLIMIT_MODE and HUGE_PAGES option tests, on @ctx, whose
 * callers hold CAP_SYS_RESOURCE or not as @cap_sys_resource says.
 */
static void option_rlimit_mode_on(struct uiommufd_ctx *ctx,
				  bool cap_sys_resource)
{
	uint64_t val = 3;
	uint32_t ioas = 0;

	ASSERT_NONNULL(ctx);
	ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_RLIMIT_MODE,
				  IOMMU_OPTION_OP_GET, 0, &val));
	ASSERT_EQ(0, val);
	val = 1;
	if (!cap_sys_resource) {
		/* This requires CAP_SYS_RESOURCE. */
		EXPECT_ERRNO(EPERM, ioctl_option(ctx, IOMMU_OPTION_RLIMIT_MODE,
						 IOMMU_OPTION_OP_SET, 0,
						 &val));
	} else {
		ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_RLIMIT_MODE,
					  IOMMU_OPTION_OP_SET, 0, &val));
		val = 2;
		EXPECT_ERRNO(EINVAL, ioctl_option(ctx,
						  IOMMU_OPTION_RLIMIT_MODE,
						  IOMMU_OPTION_OP_SET, 0,
						  &val));
		ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_RLIMIT_MODE,
					  IOMMU_OPTION_OP_GET, 0, &val));
		ASSERT_EQ(1, val);
		val = 0;
		ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_RLIMIT_MODE,
					  IOMMU_OPTION_OP_SET, 0, &val));
		ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_RLIMIT_MODE,
					  IOMMU_OPTION_OP_GET, 0, &val));
		ASSERT_EQ(0, val);
		/* Not once the context has objects. */
		ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
		val = 1;
		EXPECT_ERRNO(EBUSY, ioctl_option(ctx,
						 IOMMU_OPTION_RLIMIT_MODE,
						 IOMMU_OPTION_OP_SET, 0,
						 &val));
	}
	/* HUGE_PAGES is per IOAS: object 0 is no IOAS. */
	EXPECT_ERRNO(ENOENT, ioctl_option(ctx, IOMMU_OPTION_HUGE_PAGES,
					  IOMMU_OPTION_OP_GET, 0, &val));
	val = 1;
	EXPECT_ERRNO(ENOENT, ioctl_option(ctx, IOMMU_OPTION_HUGE_PAGES,
					  IOMMU_OPTION_OP_SET, 0, &val));
	uiommufd_ctx_close(ctx);
}

/* Capabilities not given are the process's own. */
TEST(option_rlimit_mode)
{
	option_rlimit_mode_on(uiommufd_ctx_open(0), have_cap_sys_resource());
}

/* A context whose callers hold exactly CAP_SYS_RESOURCE, under each release. */
TEST(option_rlimit_mode_privileged)
{
	option_rlimit_mode_on(ctx_open_as(UIOMMUFD_KERNEL_7_2, true,
					  CAP_BIT(CAP_SYS_RESOURCE)),
			      true);
	option_rlimit_mode_on(ctx_open_as(UIOMMUFD_KERNEL_6_2, true,
					  CAP_BIT(CAP_SYS_RESOURCE)),
			      true);
}

/* One whose callers hold every capability but CAP_SYS_RESOURCE. */
TEST(option_rlimit_mode_unprivileged)
{
	const uint64_t caps = ~CAP_BIT(CAP_SYS_RESOURCE);

	option_rlimit_mode_on(ctx_open_as(UIOMMUFD_KERNEL_7_2, true, caps),
			      false);
	option_rlimit_mode_on(ctx_open_as(UIOMMUFD_KERNEL_6_2, true, caps),
			      false);
}

TEST_F(ioas, option_huge_pages)
{
	uint64_t val = 3;

	ASSERT_EQ(0, cmds_hugepages_option(self->ctx, self->ioas_id,
					   IOMMU_OPTION_OP_GET, &val));
	ASSERT_EQ(1, val);
	val = 0;
	ASSERT_EQ(0, cmds_hugepages_option(self->ctx, self->ioas_id,
					   IOMMU_OPTION_OP_SET, &val));
	val = 3;
	ASSERT_EQ(0, cmds_hugepages_option(self->ctx, self->ioas_id,
					   IOMMU_OPTION_OP_GET, &val));
	ASSERT_EQ(0, val);
	val = 2;
	EXPECT_ERRNO(EINVAL, cmds_hugepages_option(self->ctx, self->ioas_id,
						   IOMMU_OPTION_OP_SET, &val));
	val = 3;
	ASSERT_EQ(0, cmds_hugepages_option(self->ctx, self->ioas_id,
					   IOMMU_OPTION_OP_GET, &val));
	ASSERT_EQ(0, val);
	val = 1;
	ASSERT_EQ(0, cmds_hugepages_option(self->ctx, self->ioas_id,
					   IOMMU_OPTION_OP_SET, &val));
	val = 3;
	ASSERT_EQ(0, cmds_hugepages_option(self->ctx, self->ioas_id,
					   IOMMU_OPTION_OP_GET, &val));
	ASSERT_EQ(1, val);
	/* A HW pagetable is not an IOAS. */
	if (self->ndomains)
		EXPECT_ERRNO(ENOENT, cmds_hugepages_option(self->ctx,
							   self->hwpt_ids[0],
							   IOMMU_OPTION_OP_GET,
							   &val));
}

#define CMDS_VFIO_SET_IOMMU 0x3b66
#define CMDS_VFIO_TYPE1_IOMMU 1
#define CMDS_VFIO_TYPE1v2_IOMMU 3

/* HUGE_PAGES of the VFIO-compat IOAS follows VFIO_SET_IOMMU's type. */
TEST(option_huge_pages_vfio_compat)
{
	static const unsigned long types[] = { CMDS_VFIO_TYPE1_IOMMU,
					       CMDS_VFIO_TYPE1v2_IOMMU };

	for (unsigned int i = 0; i != ARRAY_SIZE(types); i++) {
		struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
		uint32_t ioas = 0;
		uint64_t val = 3;

		ASSERT_NONNULL(ctx);
		ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
		ASSERT_EQ(0, test_mock_domain(ctx, ioas, NULL, NULL, NULL));
		ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_SET, &ioas));
		EXPECT_EQ(0, uiommufd_ioctl(ctx, CMDS_VFIO_SET_IOMMU,
					    (void *)types[i]));
		ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_HUGE_PAGES,
					  IOMMU_OPTION_OP_GET, ioas, &val));
		EXPECT_EQ(types[i] == CMDS_VFIO_TYPE1v2_IOMMU, val);
		uiommufd_ctx_close(ctx);
	}
}

TEST(vfio_ioas_rules)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	uint32_t ioas = 0, ioas2 = 0, got = 0, hwpt = 0;

	ASSERT_NONNULL(ctx);
	EXPECT_ERRNO(ENODEV, vfio_ioas(ctx, IOMMU_VFIO_IOAS_GET, &got));
	got = 99;
	EXPECT_ERRNO(ENOENT, vfio_ioas(ctx, IOMMU_VFIO_IOAS_SET, &got));
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas2));
	ASSERT_EQ(0, test_mock_domain(ctx, ioas, NULL, &hwpt, NULL));
	/* A HW pagetable is not an IOAS. */
	EXPECT_ERRNO(ENOENT, vfio_ioas(ctx, IOMMU_VFIO_IOAS_SET, &hwpt));
	EXPECT_ERRNO(ENODEV, vfio_ioas(ctx, IOMMU_VFIO_IOAS_GET, &got));
	ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_SET, &ioas2));
	got = 0;
	ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_GET, &got));
	ASSERT_EQ(ioas2, got);
	ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_SET, &ioas));
	ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_GET, &got));
	ASSERT_EQ(ioas, got);
	ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_CLEAR, NULL));
	EXPECT_ERRNO(ENODEV, vfio_ioas(ctx, IOMMU_VFIO_IOAS_GET, &got));
	uiommufd_ctx_close(ctx);
}

/*
 * MOCK_DOMAIN under 7.2 takes an IOAS or a HW pagetable; under 6.2 an IOAS
 * only (it looked the ID up as one). No object at all: ENOENT.
 */
TEST_F(ioas, mock_domain_targets)
{
	uint32_t stdev = 0, hwpt = 0, idev = 0, dev = 0, hwpt2 = 0;
	uint32_t stdev2 = 0, hwpt3 = 0;

	EXPECT_ERRNO(ENOENT, test_mock_domain(self->ctx, 0, NULL, NULL, NULL));
	EXPECT_ERRNO(ENOENT, test_mock_domain(self->ctx, 54321, NULL, NULL,
					      NULL));
	ASSERT_EQ(0, fx_map_fixed(self, self->buffer, BUFFER_SIZE,
				  self->base_iova));
	if (self->v6_2) {
		struct iommu_test_cmd cmd;

		test_cmd_init(&cmd, IOMMU_TEST_OP_MOCK_DOMAIN, self->ioas_id);
		cmd.mock_domain.out_idev_id = 0x5555;
		EXPECT_ERRNO(ENOENT, cmds_mock_domain_v6_2(self->ctx, 0, &dev,
							   &hwpt2));
		/* 72 bytes: out_idev_id is not 6.2's, it stays. */
		ASSERT_EQ(0, test_cmd(self->ctx, &cmd));
		stdev = cmd.mock_domain.out_stdev_id;
		hwpt = cmd.mock_domain.out_hwpt_id;
		ASSERT_EQ(0x5555, cmd.mock_domain.out_idev_id);
		ASSERT_NE(0, stdev);
		ASSERT_NE(stdev, hwpt);
		/* A HW pagetable of its own, whatever the IOAS has. */
		for (unsigned int i = 0; i != self->ndomains; i++)
			ASSERT_NE(self->hwpt_ids[i], hwpt);
		ASSERT_EQ(0, test_check_map(self->ctx, hwpt, self->base_iova,
					    BUFFER_SIZE, self->buffer));
		/* No object but an IOAS will do, in either size. */
		EXPECT_ERRNO(ENOENT, test_mock_domain(self->ctx, stdev, NULL,
						      NULL, NULL));
		EXPECT_ERRNO(ENOENT, test_mock_domain(self->ctx, hwpt, NULL,
						      NULL, NULL));
		EXPECT_ERRNO(ENOENT, cmds_mock_domain_v6_2(self->ctx, hwpt,
							   &dev, &hwpt2));
		/* The 56-byte command: another HW pagetable of its own. */
		ASSERT_EQ(0, cmds_mock_domain_v6_2(self->ctx, self->ioas_id,
						   &dev, &hwpt2));
		ASSERT_NE(hwpt, hwpt2);
		ASSERT_EQ(0, test_check_map(self->ctx, hwpt2, self->base_iova,
					    BUFFER_SIZE, self->buffer));
		ASSERT_EQ(0, test_check_refs(self->ctx, self->buffer,
					     BUFFER_SIZE, 1));
		/* Each HW pagetable outlives its device, the caller's. */
		EXPECT_ERRNO(EBUSY, ioctl_destroy(self->ctx, hwpt));
		ASSERT_EQ(0, ioctl_destroy(self->ctx, stdev));
		ASSERT_EQ(0, test_check_map(self->ctx, hwpt, self->base_iova,
					    BUFFER_SIZE, self->buffer));
		ASSERT_EQ(0, ioctl_destroy(self->ctx, hwpt));
		EXPECT_ERRNO(EBUSY, ioctl_destroy(self->ctx, hwpt2));
		ASSERT_EQ(0, ioctl_destroy(self->ctx, dev));
		ASSERT_EQ(0, ioctl_destroy(self->ctx, hwpt2));
		check_mock_iova(self, self->buffer, self->base_iova,
				BUFFER_SIZE);
		check_map_refs(self, self->buffer, BUFFER_SIZE, 1);
		return;
	}
	ASSERT_EQ(0, test_mock_domain(self->ctx, self->ioas_id, &stdev,
				      &hwpt, &idev));
	ASSERT_NE(0, stdev);
	ASSERT_NE(0, idev);
	ASSERT_NE(stdev, idev);
	/* With the newest layout, the auto HW pagetable is shared. */
	if (self->ndomains)
		ASSERT_EQ(self->hwpt_ids[0], hwpt);
	ASSERT_EQ(0, test_check_map(self->ctx, hwpt, self->base_iova,
				    BUFFER_SIZE, self->buffer));
	/*
	 * An object that is neither: the kernel's attach finds it and
	 * refuses its type with EINVAL.
	 */
	EXPECT_ERRNO(EINVAL, test_mock_domain(self->ctx, idev, NULL, NULL,
					      NULL));
	EXPECT_ERRNO(EINVAL, test_mock_domain(self->ctx, stdev, NULL, NULL,
					      NULL));
	/* The 56-byte command is below 7.2's minimum: nothing made. */
	EXPECT_ERRNO(EINVAL, cmds_mock_domain_v6_2(self->ctx, self->ioas_id,
						   &dev, &hwpt2));
	/* Attaching to a HW pagetable directly. */
	ASSERT_EQ(0, test_mock_domain(self->ctx, hwpt, &stdev2, &hwpt3,
				      NULL));
	ASSERT_EQ(hwpt, hwpt3);
	ASSERT_EQ(0, test_check_map(self->ctx, hwpt, self->base_iova,
				    BUFFER_SIZE, self->buffer));
	ASSERT_EQ(0, test_check_refs(self->ctx, self->buffer, BUFFER_SIZE, 1));
	/* Auto: it goes with the last of its devices. */
	ASSERT_EQ(0, ioctl_destroy(self->ctx, stdev));
	EXPECT_ERRNO(EBUSY, ioctl_destroy(self->ctx, hwpt));
	ASSERT_EQ(0, test_check_map(self->ctx, hwpt, self->base_iova,
				    BUFFER_SIZE, self->buffer));
	ASSERT_EQ(0, ioctl_destroy(self->ctx, stdev2));
	if (self->ndomains)
		EXPECT_ERRNO(EBUSY, ioctl_destroy(self->ctx, hwpt));
	else
		EXPECT_ERRNO(ENOENT, ioctl_destroy(self->ctx, hwpt));
	check_mock_iova(self, self->buffer, self->base_iova, BUFFER_SIZE);
	check_map_refs(self, self->buffer, BUFFER_SIZE, 1);
}

/* ---- the temporary memory limit over memory that breaks PFN runs ---- */

#define SCRAMBLED_PAGES 48

#define RUNS_PAGES 24

FIXTURE(temp_limit)
{
	struct uiommufd_ctx *ctx;
	bool v6_2;
	uint8_t *buf;
	size_t len;
	uint8_t *runs;
	int afd;
};

FIXTURE_VARIANT(temp_limit)
{
	uint32_t kernel;
	unsigned int limit;
};

FIXTURE_VARIANT_ADD(temp_limit, limit16)
{
	.kernel = UIOMMUFD_KERNEL_7_2,
	.limit = 16,
};

FIXTURE_VARIANT_ADD(temp_limit, limit32)
{
	.kernel = UIOMMUFD_KERNEL_7_2,
	.limit = 32,
};

FIXTURE_VARIANT_ADD(temp_limit, limit_default)
{
	.kernel = UIOMMUFD_KERNEL_7_2,
	.limit = DEFAULT_TEMP_LIMIT,
};

/* Under 6.2 devices have distinct domains: a storage domain that moves. */
FIXTURE_VARIANT_ADD(temp_limit, limit16_v6_2)
{
	.kernel = UIOMMUFD_KERNEL_6_2,
	.limit = 16,
};

FIXTURE_VARIANT_ADD(temp_limit, limit32_v6_2)
{
	.kernel = UIOMMUFD_KERNEL_6_2,
	.limit = 32,
};

FIXTURE_VARIANT_ADD(temp_limit, limit_default_v6_2)
{
	.kernel = UIOMMUFD_KERNEL_6_2,
	.limit = DEFAULT_TEMP_LIMIT,
};

/*
 * SCRAMBLED_PAGES pages: every fourth anonymous, the rest pages of a
 * MAP_SHARED memfd in a scrambled order (a file page is named by its
 * offset, so almost every page starts a new PFN run).
 */
static uint8_t *scrambled_buffer(size_t *len)
{
	unsigned int nfile = SCRAMBLED_PAGES - SCRAMBLED_PAGES / 4, k = 0;
	size_t total = SCRAMBLED_PAGES * PAGE_SZ;
	uint8_t *buf;
	int mfd;

	buf = mmap(NULL, total, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (buf == MAP_FAILED)
		return NULL;
	mfd = memfd_create("ioas_cmds_scrambled", 0);
	if (mfd < 0 || ftruncate(mfd, nfile * PAGE_SZ))
		goto err;
	for (unsigned int i = 0; i != SCRAMBLED_PAGES; i++) {
		/* 5 is prime to 36: a permutation of the file pages. */
		unsigned int fpage = (k * 5 + 7) % nfile;

		if (i % 4 == 0)
			continue;
		k++;
		if (mmap(buf + i * PAGE_SZ, PAGE_SZ, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, mfd,
			 fpage * PAGE_SZ) == MAP_FAILED)
			goto err;
	}
	close(mfd);
	for (size_t i = 0; i != total; i++)
		buf[i] = (uint8_t)(i * 31 + (i >> 11));
	*len = total;
	return buf;
err:
	if (mfd >= 0)
		close(mfd);
	munmap(buf, total);
	return NULL;
}

/*
 * RUNS_PAGES pages in five PFN runs of 7, 5, 4, 4 and 4 pages: anonymous,
 * memfd pages 0-4, anonymous, memfd pages 10-13, anonymous.
 */
static uint8_t *runs_buffer(void)
{
	size_t total = RUNS_PAGES * PAGE_SZ;
	uint8_t *buf;
	int mfd;

	buf = mmap(NULL, total, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (buf == MAP_FAILED)
		return NULL;
	mfd = memfd_create("ioas_cmds_runs", 0);
	if (mfd < 0 || ftruncate(mfd, 16 * PAGE_SZ) ||
	    mmap(buf + 7 * PAGE_SZ, 5 * PAGE_SZ, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, mfd, 0) == MAP_FAILED ||
	    mmap(buf + 16 * PAGE_SZ, 4 * PAGE_SZ, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, mfd, 10 * PAGE_SZ) == MAP_FAILED) {
		if (mfd >= 0)
			close(mfd);
		munmap(buf, total);
		return NULL;
	}
	close(mfd);
	for (size_t i = 0; i != total; i++)
		buf[i] = (uint8_t)(i * 3 + (i >> 12));
	return buf;
}

FIXTURE_SETUP(temp_limit)
{
	self->afd = -1;
	self->v6_2 = variant->kernel == UIOMMUFD_KERNEL_6_2;
	self->ctx = ctx_open_as(variant->kernel, false, 0);
	ASSERT_NONNULL(self->ctx);
	self->buf = scrambled_buffer(&self->len);
	ASSERT_NONNULL(self->buf);
	self->runs = runs_buffer();
	ASSERT_NONNULL(self->runs);
	ASSERT_EQ(0, test_set_temp_memory_limit(self->ctx, variant->limit));
}

FIXTURE_TEARDOWN(temp_limit)
{
	struct uiommufd_ctx *ctx;

	if (self->afd >= 0)
		EXPECT_EQ(0, uiommufd_fd_close(self->afd));
	uiommufd_ctx_close(self->ctx);
	ctx = uiommufd_ctx_open(0);
	EXPECT_NE(NULL, ctx);
	if (ctx) {
		EXPECT_EQ(0, test_set_temp_memory_limit(ctx,
							DEFAULT_TEMP_LIMIT));
		if (self->buf)
			EXPECT_EQ(0, test_check_refs(ctx, self->buf, self->len,
						     0));
		if (self->runs)
			EXPECT_EQ(0, test_check_refs(ctx, self->runs,
						     RUNS_PAGES * PAGE_SZ, 0));
		uiommufd_ctx_close(ctx);
	}
	if (self->buf)
		munmap(self->buf, self->len);
	if (self->runs)
		munmap(self->runs, RUNS_PAGES * PAGE_SZ);
}

/* Each page of @buf is pinned once inside [first, first + n), else never. */
static void check_refs_window(struct uiommufd_ctx *ctx, const uint8_t *buf,
			      unsigned int npages, unsigned int first,
			      unsigned int n)
{
	if (first)
		ASSERT_EQ(0, test_check_refs(ctx, buf, first * PAGE_SZ, 0));
	if (n)
		ASSERT_EQ(0, test_check_refs(ctx, buf + first * PAGE_SZ,
					     n * PAGE_SZ, 1));
	if (first + n != npages)
		ASSERT_EQ(0, test_check_refs(ctx, buf + (first + n) * PAGE_SZ,
					     (npages - first - n) * PAGE_SZ,
					     0));
}

/*
 * The last domain leaves while an access holds a window of the pages: the
 * domain's unmap runs on past the window to the next PFN discontinuity
 * (pitfalls 2-4: the carry over the held pages must be unpinned exactly
 * once, from the right base).
 */
TEST_F(temp_limit, domain_detach_around_access_pins)
{
	static const unsigned int lens[] = { 1, 2, 3, 5, 9 };
	uint8_t *buf = self->runs;
	uint64_t iova = MOCK_APERTURE_START;
	uint32_t ioas = 0, dev = 0, hwpt = 0, item = 0;

	ASSERT_EQ(0, ioas_alloc(self->ctx, &ioas));
	ASSERT_EQ(0, ioas_map(self->ctx, ioas, buf, RUNS_PAGES * PAGE_SZ,
			      &iova, MAP_FIXED_RW));
	ASSERT_EQ(0, test_create_access(self->ctx, ioas,
					MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
					&self->afd));
	for (unsigned int first = 0; first != RUNS_PAGES; first++) {
		for (unsigned int l = 0; l != ARRAY_SIZE(lens); l++) {
			unsigned int n = lens[l];

			if (first + n > RUNS_PAGES)
				continue;
			ASSERT_EQ(0, test_access_pages(self->ctx, self->afd,
						       iova + first * PAGE_SZ,
						       n * PAGE_SZ,
						       buf + first * PAGE_SZ,
						       0, &item));
			ASSERT_EQ(0, cmds_mock_domain(self->ctx, self->v6_2,
						      ioas, &dev, &hwpt));
			ASSERT_EQ(0, test_check_map(self->ctx, hwpt, iova,
						    RUNS_PAGES * PAGE_SZ,
						    buf));
			ASSERT_EQ(0, test_check_refs(self->ctx, buf,
						     RUNS_PAGES * PAGE_SZ,
						     1));
			cmds_mock_domain_destroy(self->ctx, self->v6_2, dev,
						 hwpt, true);
			check_refs_window(self->ctx, buf, RUNS_PAGES, first,
					  n);
			ASSERT_EQ(0, test_destroy_access_pages(self->ctx,
							       self->afd,
							       item));
			check_refs_window(self->ctx, buf, RUNS_PAGES, 0, 0);
		}
	}
	ASSERT_EQ(0, uiommufd_fd_close(self->afd));
	self->afd = -1;
	ASSERT_EQ(0, test_set_temp_memory_limit(self->ctx, DEFAULT_TEMP_LIMIT));
}

/*
 * An area unmapped while a copy of a window of it (same pages) stays:
 * the window stays pinned by the copy's domain mapping, the rest goes.
 */
TEST_F(temp_limit, unmap_around_copied_window)
{
	static const unsigned int lens[] = { 1, 4, 6 };
	uint8_t *buf = self->runs;
	uint32_t ioas = 0, stdev = 0, hwpt = 0, dev2 = 0, hwpt2 = 0;

	ASSERT_EQ(0, ioas_alloc(self->ctx, &ioas));
	/* Two domains under 6.2, one shared under 7.2. */
	ASSERT_EQ(0, test_mock_domain(self->ctx, ioas, &stdev, &hwpt, NULL));
	ASSERT_EQ(0, cmds_mock_domain(self->ctx, self->v6_2, ioas, &dev2,
				      &hwpt2));
	if (self->v6_2)
		ASSERT_NE(hwpt, hwpt2);
	else
		ASSERT_EQ(hwpt, hwpt2);
	for (unsigned int first = 0; first != RUNS_PAGES; first++) {
		for (unsigned int l = 0; l != ARRAY_SIZE(lens); l++) {
			uint64_t iova = MOCK_APERTURE_START, copy = 0;
			unsigned int n = lens[l];

			if (first + n > RUNS_PAGES)
				continue;
			ASSERT_EQ(0, ioas_map(self->ctx, ioas, buf,
					      RUNS_PAGES * PAGE_SZ, &iova,
					      MAP_FIXED_RW));
			ASSERT_EQ(0, ioas_copy(self->ctx, ioas, ioas,
					       iova + first * PAGE_SZ,
					       n * PAGE_SZ, &copy, MAP_RW));
			ASSERT_EQ(0, test_check_refs(self->ctx, buf,
						     RUNS_PAGES * PAGE_SZ,
						     1));
			ASSERT_EQ(0, ioas_unmap(self->ctx, ioas, iova,
						RUNS_PAGES * PAGE_SZ, NULL));
			check_refs_window(self->ctx, buf, RUNS_PAGES, first,
					  n);
			ASSERT_EQ(0, test_check_map(self->ctx, hwpt, copy,
						    n * PAGE_SZ,
						    buf + first * PAGE_SZ));
			ASSERT_EQ(0, test_check_map(self->ctx, hwpt2, copy,
						    n * PAGE_SZ,
						    buf + first * PAGE_SZ));
			ASSERT_EQ(0, ioas_unmap(self->ctx, ioas, copy,
						n * PAGE_SZ, NULL));
			check_refs_window(self->ctx, buf, RUNS_PAGES, 0, 0);
		}
	}
	ASSERT_EQ(0, test_set_temp_memory_limit(self->ctx, DEFAULT_TEMP_LIMIT));
}

/* Maps, domain fills and unmaps over the scrambled buffer. */
TEST_F(temp_limit, map_domains)
{
	uint32_t ioas = 0, stdev = 0, hwpt = 0, dev2 = 0, hwpt2 = 0, dev3 = 0,
		 hwpt3 = 0;
	uint8_t *buf = self->buf;
	uint64_t iova = 0, sub_iova;
	size_t start, end;

	ASSERT_EQ(0, ioas_alloc(self->ctx, &ioas));
	/* Two domains under 6.2, one shared under 7.2. */
	ASSERT_EQ(0, test_mock_domain(self->ctx, ioas, &stdev, &hwpt, NULL));
	ASSERT_EQ(0, cmds_mock_domain(self->ctx, self->v6_2, ioas, &dev2,
				      &hwpt2));
	if (self->v6_2)
		ASSERT_NE(hwpt, hwpt2);
	else
		ASSERT_EQ(hwpt, hwpt2);
	ASSERT_EQ(0, ioas_map(self->ctx, ioas, buf, self->len, &iova,
			      MAP_RW));
	ASSERT_EQ(0, test_check_map(self->ctx, hwpt, iova, self->len, buf));
	ASSERT_EQ(0, test_check_map(self->ctx, hwpt2, iova, self->len, buf));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, self->len, 1));
	/* The memory is not the same as its neighbour's. */
	EXPECT_ERRNO(EINVAL, test_check_map(self->ctx, hwpt, iova, PAGE_SZ * 2,
					    buf + PAGE_SZ));

	/* Sub-ranges at IO-page granularity, mapped a second time. */
	for (start = 0; start < self->len; start += 3 * MOCK_PAGE_SIZE) {
		for (end = start + MOCK_PAGE_SIZE; end <= self->len;
		     end += 7 * MOCK_PAGE_SIZE) {
			size_t pg_first = start / PAGE_SZ * PAGE_SZ;
			size_t pg_len = (end + PAGE_SZ - 1) / PAGE_SZ *
						PAGE_SZ - pg_first;

			sub_iova = 0;
			ASSERT_EQ(0, ioas_map(self->ctx, ioas, buf + start,
					      end - start, &sub_iova,
					      MAP_RW));
			ASSERT_EQ(0, test_check_map(self->ctx, hwpt2, sub_iova,
						    end - start,
						    buf + start));
			ASSERT_EQ(0, test_check_refs(self->ctx,
						     buf + pg_first, pg_len,
						     2));
			ASSERT_EQ(0, ioas_unmap(self->ctx, ioas, sub_iova,
						end - start, NULL));
		}
	}
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, self->len, 1));

	/* A device attached now (6.2: a new domain) gets the same pages. */
	ASSERT_EQ(0, cmds_mock_domain(self->ctx, self->v6_2, ioas, &dev3,
				      &hwpt3));
	ASSERT_EQ(0, test_check_map(self->ctx, hwpt3, iova, self->len, buf));
	/* The first (storage) domain goes; the others still map it all. */
	cmds_mock_domain_destroy(self->ctx, self->v6_2, stdev, hwpt, false);
	ASSERT_EQ(0, test_check_map(self->ctx, hwpt2, iova, self->len, buf));
	ASSERT_EQ(0, test_check_map(self->ctx, hwpt3, iova, self->len, buf));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, self->len, 1));
	cmds_mock_domain_destroy(self->ctx, self->v6_2, dev2, hwpt2, false);
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, self->len, 1));
	cmds_mock_domain_destroy(self->ctx, self->v6_2, dev3, hwpt3, true);
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, self->len, 0));
	ASSERT_EQ(0, ioas_unmap(self->ctx, ioas, iova, self->len, NULL));
	ASSERT_EQ(0, test_set_temp_memory_limit(self->ctx, DEFAULT_TEMP_LIMIT));
}

/* Copies and access pins over the scrambled buffer. */
TEST_F(temp_limit, copy_and_access)
{
	uint32_t src = 0, dst = 0, stdev = 0, hwpt = 0, items[3] = {};
	uint8_t *buf = self->buf, tmp[3 * PAGE_SZ];
	uint64_t src_iova = 0, dst_iova = 0;

	ASSERT_EQ(0, ioas_alloc(self->ctx, &src));
	ASSERT_EQ(0, ioas_alloc(self->ctx, &dst));
	ASSERT_EQ(0, test_mock_domain(self->ctx, dst, &stdev, &hwpt, NULL));
	ASSERT_EQ(0, ioas_map(self->ctx, src, buf, self->len, &src_iova,
			      MAP_RW));
	ASSERT_EQ(0, test_create_access(self->ctx, src,
					MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
					&self->afd));

	/* Pins of odd shapes, each checked against the memory. */
	ASSERT_EQ(0, test_access_pages(self->ctx, self->afd, src_iova,
				       self->len, buf, 0, &items[0]));
	ASSERT_EQ(0, test_access_pages(self->ctx, self->afd,
				       src_iova + 5 * PAGE_SZ, 7 * PAGE_SZ,
				       buf + 5 * PAGE_SZ,
				       MOCK_FLAGS_ACCESS_WRITE, &items[1]));
	ASSERT_EQ(0, test_access_pages(self->ctx, self->afd,
				       src_iova + 13 * PAGE_SZ, 1,
				       buf + 13 * PAGE_SZ, 0, &items[2]));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, self->len, 1));

	/* Copy the pinned pages into the IOAS with a domain. */
	ASSERT_EQ(0, ioas_copy(self->ctx, dst, src, src_iova, self->len,
			       &dst_iova, MAP_RW));
	ASSERT_EQ(0, test_check_map(self->ctx, hwpt, dst_iova, self->len,
				    buf));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, self->len, 1));
	/* A piece of it again, from an IO-page offset. */
	dst_iova = 0;
	ASSERT_EQ(0, ioas_copy(self->ctx, dst, src,
			       src_iova + 3 * PAGE_SZ + MOCK_PAGE_SIZE,
			       20 * PAGE_SZ, &dst_iova, MAP_RW));
	ASSERT_EQ(0, test_check_map(self->ctx, hwpt, dst_iova, 20 * PAGE_SZ,
				    buf + 3 * PAGE_SZ + MOCK_PAGE_SIZE));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, self->len, 1));

	/* Read through the access across many PFN runs. */
	ASSERT_EQ(0, test_access_rw(self->ctx, self->afd, src_iova + 1000,
				    tmp, sizeof(tmp), 0));
	ASSERT_EQ(0, memcmp(buf + 1000, tmp, sizeof(tmp)));
	ASSERT_EQ(0, test_access_rw(self->ctx, self->afd, src_iova + 1000,
				    tmp, sizeof(tmp),
				    MOCK_ACCESS_RW_SLOW_PATH));
	ASSERT_EQ(0, memcmp(buf + 1000, tmp, sizeof(tmp)));

	for (unsigned int i = 0; i != 3; i++)
		ASSERT_EQ(0, test_destroy_access_pages(self->ctx, self->afd,
						       items[i]));
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, self->len, 1));
	ASSERT_EQ(0, uiommufd_fd_close(self->afd));
	self->afd = -1;
	ASSERT_EQ(0, ioctl_destroy(self->ctx, src));
	ASSERT_EQ(0, test_check_map(self->ctx, hwpt, dst_iova, 20 * PAGE_SZ,
				    buf + 3 * PAGE_SZ + MOCK_PAGE_SIZE));
	cmds_mock_domain_destroy(self->ctx, self->v6_2, stdev, hwpt, true);
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, self->len, 0));
	ASSERT_EQ(0, test_set_temp_memory_limit(self->ctx, DEFAULT_TEMP_LIMIT));
}

/* The newest kernel needs room for one batch entry. */
TEST(temp_memory_limit_minimum)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);

	ASSERT_NONNULL(ctx);
	EXPECT_ERRNO(EINVAL, test_set_temp_memory_limit(ctx, 0));
	EXPECT_ERRNO(EINVAL, test_set_temp_memory_limit(ctx, 11));
	EXPECT_EQ(0, test_set_temp_memory_limit(ctx, 12));
	EXPECT_EQ(0, test_set_temp_memory_limit(ctx, DEFAULT_TEMP_LIMIT));
	uiommufd_ctx_close(ctx);
}
