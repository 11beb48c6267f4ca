// SPDX-License-Identifier: MIT
/*
 * A /dev/iommu client written only against the kernel's uAPI, for
 * tests/e2e/check-trace.sh: it issues every command Linux 7.2 added in
 * ABI part 1 (and a few 6.2 ones) with known arguments, so that the
 * trace uiommufd-run --trace writes of it can be compared line by line
 * with the lines the checker expects.
 *
 *   trace_client 7.2   a run that works: IOAS, mock devices, HW info,
 *                      nesting, invalidation, replace, dirty tracking,
 *                      MAP_FILE of a memfd and of a dma-buf, PASIDs
 *   trace_client 6.2   the new commands with odd arguments (unknown
 *                      flag bits, short structs, bad pointers), which
 *                      6.2 refuses: only their inputs are decoded
 *
 * What the trace shows that the client learns only when it runs (IDs,
 * addresses, descriptors) it prints on standard output as "NAME value",
 * in decimal; the checker puts them into its expected lines. Exits 0
 * once every call ran, whatever the answers, 1 when it could not set up.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uiommufd/iommufd_test_uapi.h>
#include <uiommufd/iommufd_uapi.h>

#define BASE MOCK_APERTURE_START
#define LEN 0x10000UL
#define MAP_RW (IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE)

static int iommufd;

static void die(const char *what)
{
	fprintf(stderr, "trace_client: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void say(const char *name, long long v)
{
	printf("%s %lld\n", name, v);
}

static void *map(size_t len, const char *name)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	memset(p, 0, len);
	say(name, (uintptr_t)p);
	return p;
}

static void test_cmd(struct iommu_test_cmd *cmd, uint32_t op, uint32_t id)
{
	cmd->size = sizeof(*cmd);
	cmd->op = op;
	cmd->id = id;
	ioctl(iommufd, IOMMU_TEST_CMD, cmd);
}

static uint32_t ioas_alloc(const char *name)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };

	ioctl(iommufd, IOMMU_IOAS_ALLOC, &alloc);
	say(name, alloc.out_ioas_id);
	return alloc.out_ioas_id;
}

static uint32_t hwpt_alloc(uint32_t flags, uint32_t dev_id, uint32_t pt_id,
			   const struct iommu_hwpt_selftest *data,
			   const char *name)
{
	struct iommu_hwpt_alloc alloc = {
		.size = sizeof(alloc),
		.flags = flags,
		.dev_id = dev_id,
		.pt_id = pt_id,
	};

	if (data) {
		alloc.data_type = IOMMU_HWPT_DATA_SELFTEST;
		alloc.data_len = sizeof(*data);
		alloc.data_uptr = (uintptr_t)data;
	}
	ioctl(iommufd, IOMMU_HWPT_ALLOC, &alloc);
	say(name, alloc.out_hwpt_id);
	return alloc.out_hwpt_id;
}

static void hw_info(uint32_t flags, uint32_t dev_id, uint32_t type,
		    void *data, uint32_t len)
{
	struct iommu_hw_info info = {
		.size = sizeof(info),
		.flags = flags,
		.dev_id = dev_id,
		.data_len = len,
		.data_uptr = (uintptr_t)data,
		.in_data_type = type,
	};

	ioctl(iommufd, IOMMU_GET_HW_INFO, &info);
}

static void invalidate(uint32_t hwpt_id, uint32_t type,
		       const struct iommu_hwpt_invalidate_selftest *inv,
		       uint32_t len, uint32_t num)
{
	struct iommu_hwpt_invalidate cmd = {
		.size = sizeof(cmd),
		.hwpt_id = hwpt_id,
		.data_uptr = (uintptr_t)inv,
		.data_type = type,
		.entry_len = len,
		.entry_num = num,
	};

	ioctl(iommufd, IOMMU_HWPT_INVALIDATE, &cmd);
}

static void set_dirty(uint32_t hwpt_id, uint32_t flags)
{
	struct iommu_hwpt_set_dirty_tracking cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.hwpt_id = hwpt_id,
	};

	ioctl(iommufd, IOMMU_HWPT_SET_DIRTY_TRACKING, &cmd);
}

static void get_dirty(uint32_t hwpt_id, uint32_t flags, uint64_t iova,
		      uint64_t length, uint64_t page_size, void *bitmap)
{
	struct iommu_hwpt_get_dirty_bitmap cmd = {
		.size = sizeof(cmd),
		.hwpt_id = hwpt_id,
		.flags = flags,
		.iova = iova,
		.length = length,
		.page_size = page_size,
		.data = (uintptr_t)bitmap,
	};

	ioctl(iommufd, IOMMU_HWPT_GET_DIRTY_BITMAP, &cmd);
}

static uint64_t map_file(uint32_t flags, uint32_t ioas_id, int fd,
			 uint64_t start, uint64_t length, uint64_t iova)
{
	struct iommu_ioas_map_file cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.ioas_id = ioas_id,
		.fd = fd,
		.start = start,
		.length = length,
		.iova = iova,
	};

	ioctl(iommufd, IOMMU_IOAS_MAP_FILE, &cmd);
	return cmd.iova;
}

static int pasid_op(uint32_t op, uint32_t stdev, uint32_t pasid,
		    uint32_t *pt_id)
{
	struct iommu_test_cmd cmd = {};

	/* pasid and pt_id (hwpt_id) sit at the same place for every op */
	cmd.pasid_attach.pasid = pasid;
	cmd.pasid_attach.pt_id = *pt_id;
	cmd.size = sizeof(cmd);
	cmd.op = op;
	cmd.id = stdev;
	if (ioctl(iommufd, IOMMU_TEST_CMD, &cmd))
		return -1;
	*pt_id = cmd.pasid_attach.pt_id;
	return 0;
}

/*
 * A PASID device's RID on a PASID HWPT, a PASID attached, moved and
 * detached, the reserved PASID's refused replace, and PASID 0 (the RID)
 * attached and replaced to the IOAS: pt_id comes back as the auto HWPT.
 */
static void run_pasids(uint32_t ioas)
{
	struct iommu_test_cmd cmd = {};
	uint32_t stdev, idev, pp1, pp2, pt;

	cmd.mock_domain_flags.dev_flags = MOCK_FLAGS_DEVICE_PASID;
	test_cmd(&cmd, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, ioas);
	stdev = cmd.mock_domain_flags.out_stdev_id;
	idev = cmd.mock_domain_flags.out_idev_id;
	say("PSTDEV", stdev);
	say("PIDEV", idev);
	pp1 = hwpt_alloc(IOMMU_HWPT_ALLOC_PASID, idev, ioas, NULL, "PPT1");
	pp2 = hwpt_alloc(IOMMU_HWPT_ALLOC_PASID, idev, ioas, NULL, "PPT2");
	memset(&cmd, 0, sizeof(cmd));
	cmd.mock_domain_replace.pt_id = pp1;
	test_cmd(&cmd, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, stdev);

	pt = pp1;
	pasid_op(IOMMU_TEST_OP_PASID_ATTACH, stdev, 1, &pt);
	pt = ioas;
	pasid_op(IOMMU_TEST_OP_PASID_ATTACH, stdev, 0, &pt);
	pt = pp2;
	pasid_op(IOMMU_TEST_OP_PASID_REPLACE, stdev, 1, &pt);
	pt = pp2;
	pasid_op(IOMMU_TEST_OP_PASID_CHECK_HWPT, stdev, 1, &pt);
	pt = 0;
	pasid_op(IOMMU_TEST_OP_PASID_CHECK_HWPT, stdev, 1, &pt);
	pt = pp1;
	pasid_op(IOMMU_TEST_OP_PASID_ATTACH, stdev, IOMMU_TEST_PASID_RESERVED,
		 &pt);
	pt = pp2;
	pasid_op(IOMMU_TEST_OP_PASID_REPLACE, stdev, IOMMU_TEST_PASID_RESERVED,
		 &pt);
	pt = 0;
	pasid_op(IOMMU_TEST_OP_PASID_DETACH, stdev, IOMMU_TEST_PASID_RESERVED,
		 &pt);
	pasid_op(IOMMU_TEST_OP_PASID_DETACH, stdev, 1, &pt);

	/* no PASID left: the RID may go to the IOAS's auto HWPT */
	pt = ioas;
	pasid_op(IOMMU_TEST_OP_PASID_REPLACE, stdev, 0, &pt);
	say("PAUTO", pt);
	pt = 0;
	pasid_op(IOMMU_TEST_OP_PASID_DETACH, stdev, 0, &pt);
	pt = ioas;
	pasid_op(IOMMU_TEST_OP_PASID_ATTACH, stdev, 0, &pt);
	say("PAUTO2", pt);
}

static void run_7_2(void)
{
	struct iommu_hwpt_selftest nest = { .iotlb = IOMMU_TEST_IOTLB_DEFAULT };
	struct iommu_hwpt_invalidate_selftest *inv;
	struct iommu_test_cmd cmd = {};
	uint32_t ioas, ioas2, idev, stdev, parent, nested, dirty_pt;
	uint64_t *bitmap;
	uint8_t *buf, *info;
	int memfd, dmabuf, access;

	ioas = ioas_alloc("IOAS");
	buf = map(LEN, "BUF");
	{
		struct iommu_ioas_map m = {
			.size = sizeof(m),
			.flags = MAP_RW | IOMMU_IOAS_MAP_FIXED_IOVA,
			.ioas_id = ioas,
			.user_va = (uintptr_t)buf,
			.length = LEN,
			.iova = BASE,
		};

		ioctl(iommufd, IOMMU_IOAS_MAP, &m);
	}
	test_cmd(&cmd, IOMMU_TEST_OP_MOCK_DOMAIN, ioas);
	stdev = cmd.mock_domain.out_stdev_id;
	idev = cmd.mock_domain.out_idev_id;
	say("STDEV", stdev);
	say("HWPT", cmd.mock_domain.out_hwpt_id);
	say("IDEV", idev);

	/* a buffer longer than the data, then a shorter one by type */
	info = map(4096, "INFO");
	hw_info(0, idev, 0, info, 16);
	hw_info(IOMMU_HW_INFO_FLAG_INPUT_TYPE, idev,
		IOMMU_HW_INFO_TYPE_SELFTEST, info, 4);
	hw_info(IOMMU_HW_INFO_FLAG_INPUT_TYPE, idev,
		IOMMU_HW_INFO_TYPE_INTEL_VTD, info, 16);

	parent = hwpt_alloc(IOMMU_HWPT_ALLOC_NEST_PARENT, idev, ioas, NULL,
			    "PARENT");
	say("NEST", (uintptr_t)&nest);
	nested = hwpt_alloc(0, idev, parent, &nest, "NESTED");
	memset(&cmd, 0, sizeof(cmd));
	cmd.check_iotlb.id = 1;
	cmd.check_iotlb.iotlb = IOMMU_TEST_IOTLB_DEFAULT;
	test_cmd(&cmd, IOMMU_TEST_OP_MD_CHECK_IOTLB, nested);

	/* the third entry names an IOTLB entry past the last: two done */
	inv = map(4096, "INV");
	inv[0].iotlb_id = 1;
	inv[1].flags = IOMMU_TEST_INVALIDATE_FLAG_ALL;
	inv[2].iotlb_id = MOCK_NESTED_DOMAIN_IOTLB_ID_MAX + 1;
	invalidate(nested, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, inv,
		   sizeof(*inv), 3);
	/* six good ones: the trace shows four */
	for (unsigned int i = 0; i != 6; i++)
		inv[i] = (struct iommu_hwpt_invalidate_selftest){
			.iotlb_id = i % MOCK_NESTED_DOMAIN_IOTLB_NUM };
	invalidate(nested, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, inv,
		   sizeof(*inv), 6);

	memset(&cmd, 0, sizeof(cmd));
	cmd.check_dev_cache.id = 0;
	cmd.check_dev_cache.cache = IOMMU_TEST_DEV_CACHE_DEFAULT;
	test_cmd(&cmd, IOMMU_TEST_OP_DEV_CHECK_CACHE, idev);

	/* to the nested HWPT and back to the IOAS: an auto HWPT again */
	memset(&cmd, 0, sizeof(cmd));
	cmd.mock_domain_replace.pt_id = nested;
	test_cmd(&cmd, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, stdev);
	memset(&cmd, 0, sizeof(cmd));
	cmd.mock_domain_replace.pt_id = ioas;
	test_cmd(&cmd, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, stdev);
	say("AUTO", cmd.mock_domain_replace.pt_id);

	memset(&cmd, 0, sizeof(cmd));
	cmd.mock_domain_flags.dev_flags = MOCK_FLAGS_DEVICE_NO_DIRTY;
	test_cmd(&cmd, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, ioas);
	say("STDEV2", cmd.mock_domain_flags.out_stdev_id);
	say("HWPT2", cmd.mock_domain_flags.out_hwpt_id);
	say("IDEV2", cmd.mock_domain_flags.out_idev_id);

	ioas2 = ioas_alloc("IOAS2");
	memset(&cmd, 0, sizeof(cmd));
	cmd.create_access.flags = MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES;
	test_cmd(&cmd, IOMMU_TEST_OP_CREATE_ACCESS, ioas);
	access = cmd.create_access.out_access_fd;
	say("ACCESS", access);
	memset(&cmd, 0, sizeof(cmd));
	cmd.access_replace_ioas.ioas_id = ioas2;
	test_cmd(&cmd, IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, access);

	/* dirty tracking: two IOVA pages marked, read twice */
	dirty_pt = hwpt_alloc(IOMMU_HWPT_ALLOC_DIRTY_TRACKING, idev, ioas,
			      NULL, "DIRTYPT");
	set_dirty(dirty_pt, IOMMU_HWPT_DIRTY_TRACKING_ENABLE);
	bitmap = map(4096, "BITMAP");
	bitmap[0] = 0x5;
	memset(&cmd, 0, sizeof(cmd));
	cmd.dirty.iova = BASE;
	cmd.dirty.length = LEN;
	cmd.dirty.page_size = 4096;
	cmd.dirty.uptr = (uintptr_t)bitmap;
	test_cmd(&cmd, IOMMU_TEST_OP_DIRTY, dirty_pt);
	bitmap[0] = 0;
	get_dirty(dirty_pt, IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR, BASE, LEN,
		  4096, bitmap);
	get_dirty(dirty_pt, 0, BASE, LEN, 4096, bitmap);
	set_dirty(dirty_pt, 0);

	memfd = memfd_create("trace_client", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, LEN))
		die("memfd");
	say("MEMFD", memfd);
	say("FILEIOVA", map_file(MAP_RW, ioas, memfd, 0, LEN, 0));
	map_file(IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE, ioas,
		 memfd, 0x1000, 0x2000, BASE + 0x100000);

	memset(&cmd, 0, sizeof(cmd));
	cmd.dmabuf_get.length = 0x2000;
	cmd.dmabuf_get.open_flags = O_CLOEXEC;
	cmd.size = sizeof(cmd);
	cmd.op = IOMMU_TEST_OP_DMABUF_GET;
	dmabuf = ioctl(iommufd, IOMMU_TEST_CMD, &cmd);
	say("DMABUF", dmabuf);
	map_file(IOMMU_IOAS_MAP_FIXED_IOVA | MAP_RW, ioas, dmabuf, 0, 0x2000,
		 BASE + 0x200000);
	memset(&cmd, 0, sizeof(cmd));
	cmd.dmabuf_revoke.dmabuf_fd = dmabuf;
	cmd.dmabuf_revoke.revoked = 1;
	test_cmd(&cmd, IOMMU_TEST_OP_DMABUF_REVOKE, 0);
	map_file(IOMMU_IOAS_MAP_FIXED_IOVA | MAP_RW, ioas, dmabuf, 0, 0x2000,
		 BASE + 0x300000);

	run_pasids(ioas);

	/* the nested HWPT holds its parent */
	{
		struct iommu_destroy d = { .size = sizeof(d), .id = parent };

		ioctl(iommufd, IOMMU_DESTROY, &d);
	}
}

/* What 6.2 did not have, with arguments that exercise the decoding. */
static void run_6_2(void)
{
	struct iommu_hwpt_selftest nest = {
		.iotlb = IOMMU_TEST_IOTLB_DEFAULT,
		.pagetable_type = MOCK_IOMMUPT_HUGE,
	};
	struct iommu_hwpt_invalidate_selftest inv[2] = {
		{ .flags = IOMMU_TEST_INVALIDATE_FLAG_ALL | 2, .iotlb_id = 3 },
		{ .iotlb_id = 2 },
	};
	struct iommu_test_cmd cmd = {};
	uint8_t info[8] = {};

	say("NEST", (uintptr_t)&nest);
	say("INFO", (uintptr_t)info);
	say("INV", (uintptr_t)inv);
	{
		struct iommu_hwpt_alloc alloc = {
			.size = sizeof(alloc),
			.flags = IOMMU_HWPT_ALLOC_NEST_PARENT |
				 IOMMU_HWPT_ALLOC_DIRTY_TRACKING | 0x100,
			.dev_id = 7,
			.pt_id = 12,
			.data_type = IOMMU_HWPT_DATA_SELFTEST,
			.data_len = sizeof(nest),
			.data_uptr = (uintptr_t)&nest,
			.fault_id = 3,
		};

		ioctl(iommufd, IOMMU_HWPT_ALLOC, &alloc);
		/* only iotlb covered by data_len */
		alloc.data_len = 4;
		ioctl(iommufd, IOMMU_HWPT_ALLOC, &alloc);
		/* a pointer that cannot be read */
		alloc.flags = IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID;
		alloc.data_len = sizeof(nest);
		alloc.data_uptr = 16;
		ioctl(iommufd, IOMMU_HWPT_ALLOC, &alloc);
		/* the size callers had before data_type: 24 bytes */
		alloc.size = 24;
		ioctl(iommufd, IOMMU_HWPT_ALLOC, &alloc);
		alloc.size = sizeof(alloc);
		alloc.flags = 0;
		alloc.data_type = IOMMU_HWPT_DATA_VTD_S1;
		ioctl(iommufd, IOMMU_HWPT_ALLOC, &alloc);
	}
	hw_info(IOMMU_HW_INFO_FLAG_INPUT_TYPE | 2, 5, IOMMU_HW_INFO_TYPE_AMD,
		info, 8);
	hw_info(0, 5, 0, NULL, 0);
	set_dirty(9, IOMMU_HWPT_DIRTY_TRACKING_ENABLE);
	set_dirty(10, 0);
	get_dirty(11, IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR, BASE, LEN, 4096,
		  info);
	invalidate(12, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, inv, sizeof(*inv),
		   2);
	invalidate(12, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, inv, sizeof(*inv),
		   2);
	invalidate(12, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, (void *)16,
		   sizeof(*inv), 1);
	map_file(MAP_RW | IOMMU_IOAS_MAP_FIXED_IOVA, 1, 42, 0x1000, LEN,
		 BASE);
	map_file(MAP_RW, 1, -1, 0, LEN, 0);

	cmd.mock_domain_replace.pt_id = 5;
	test_cmd(&cmd, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, 2);
	memset(&cmd, 0, sizeof(cmd));
	cmd.access_replace_ioas.ioas_id = 11;
	test_cmd(&cmd, IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, 4);
	memset(&cmd, 0, sizeof(cmd));
	cmd.mock_domain_flags.dev_flags = MOCK_FLAGS_DEVICE_NO_DIRTY |
					  MOCK_FLAGS_DEVICE_PASID | 2;
	test_cmd(&cmd, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, 1);
	memset(&cmd, 0, sizeof(cmd));
	cmd.dirty.flags = 0;
	cmd.dirty.iova = BASE;
	cmd.dirty.length = LEN;
	cmd.dirty.page_size = 4096;
	cmd.dirty.uptr = (uintptr_t)info;
	test_cmd(&cmd, IOMMU_TEST_OP_DIRTY, 6);
	memset(&cmd, 0, sizeof(cmd));
	cmd.check_iotlb.id = 2;
	cmd.check_iotlb.iotlb = IOMMU_TEST_IOTLB_DEFAULT;
	test_cmd(&cmd, IOMMU_TEST_OP_MD_CHECK_IOTLB, 6);
	memset(&cmd, 0, sizeof(cmd));
	cmd.check_dev_cache.id = 3;
	cmd.check_dev_cache.cache = IOMMU_TEST_DEV_CACHE_DEFAULT;
	test_cmd(&cmd, IOMMU_TEST_OP_DEV_CHECK_CACHE, 3);
	memset(&cmd, 0, sizeof(cmd));
	cmd.dmabuf_get.length = 0x2000;
	cmd.dmabuf_get.open_flags = O_CLOEXEC;
	test_cmd(&cmd, IOMMU_TEST_OP_DMABUF_GET, 0);
	memset(&cmd, 0, sizeof(cmd));
	cmd.dmabuf_revoke.dmabuf_fd = -1;
	cmd.dmabuf_revoke.revoked = 1;
	test_cmd(&cmd, IOMMU_TEST_OP_DMABUF_REVOKE, 0);
	memset(&cmd, 0, sizeof(cmd));
	test_cmd(&cmd, IOMMU_TEST_OP_TRIGGER_IOPF, 0);
	{
		uint32_t pt = 5;

		pasid_op(IOMMU_TEST_OP_PASID_ATTACH, 2, 0x400, &pt);
		pasid_op(IOMMU_TEST_OP_PASID_REPLACE, 2, 0xfffff, &pt);
		pasid_op(IOMMU_TEST_OP_PASID_DETACH, 2, 0, &pt);
		pasid_op(IOMMU_TEST_OP_PASID_CHECK_HWPT, 3, 7, &pt);
	}
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (iommufd < 0)
		die("open /dev/iommu");
	say("FD", iommufd);
	if (!strcmp(mode, "7.2"))
		run_7_2();
	else if (!strcmp(mode, "6.2"))
		run_6_2();
	else
		return fprintf(stderr, "usage: trace_client 7.2|6.2\n"), 1;
	close(iommufd);
	return fflush(stdout) ? 1 : 0;
}
