// SPDX-License-Identifier: MIT
/*
 * What Linux 7.2 added to /dev/iommu in ABI part 1, used the way a VMM
 * would: a program written only against the kernel's uAPI headers (plain
 * open() and ioctl(), nothing of uiommufd), run by tests/e2e/check-hwpt.sh
 * under uiommufd-run. The answers expected are the kernel's
 * (drivers/iommu/iommufd/ and its test module).
 *
 *   hwpt_client 7.2   hardware info, paging and nested HW pagetables,
 *                     IOTLB invalidation, device replace, access replace,
 *                     dirty tracking, MAP_FILE of a memfd and of a
 *                     dma-buf with its revocation, a device's PASIDs,
 *                     destroy order
 *   hwpt_client 6.2   the same commands answer ENOTTY and the new test
 *                     ops EOPNOTSUPP, as Linux 6.2 did
 *
 * Prints one TAP line per check, unnumbered ("ok - ..."); the checker
 * numbers them. Every check prints its line even when what it needs
 * failed earlier, so the count stays fixed. Exits 1 when it could not
 * start at all.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "e2e_client.h"

#define BUF_PAGES 16
#define LEN (BUF_PAGES * PAGE)
#define FILL 0xa5

static uint8_t *buf;

/* ---- the commands only this client uses ---- */

static int nested_alloc(uint32_t dev_id, uint32_t parent, uint32_t *out)
{
	struct iommu_hwpt_selftest data = { .iotlb = IOMMU_TEST_IOTLB_DEFAULT };

	return hwpt_alloc(0, dev_id, parent, IOMMU_HWPT_DATA_SELFTEST, &data,
			  sizeof(data), out);
}

static int check_iotlb(uint32_t hwpt, uint32_t id, uint32_t value)
{
	struct iommu_test_cmd cmd = {};

	cmd.check_iotlb.id = id;
	cmd.check_iotlb.iotlb = value;
	return test_cmd(&cmd, IOMMU_TEST_OP_MD_CHECK_IOTLB, hwpt);
}

/* Whether IOTLB entries 0-3 hold @v0..@v3. */
static bool iotlb_is(uint32_t hwpt, uint32_t v0, uint32_t v1, uint32_t v2,
		     uint32_t v3)
{
	return !check_iotlb(hwpt, 0, v0) && !check_iotlb(hwpt, 1, v1) &&
	       !check_iotlb(hwpt, 2, v2) && !check_iotlb(hwpt, 3, v3);
}

static int set_dirty(uint32_t hwpt, uint32_t flags)
{
	struct iommu_hwpt_set_dirty_tracking cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.hwpt_id = hwpt,
	};

	return ioctl(iommufd, IOMMU_HWPT_SET_DIRTY_TRACKING, &cmd);
}

static int get_dirty(uint32_t hwpt, uint32_t flags, uint64_t iova,
		     uint64_t len, uint64_t page_size, uint64_t *bitmap)
{
	struct iommu_hwpt_get_dirty_bitmap cmd = {
		.size = sizeof(cmd),
		.hwpt_id = hwpt,
		.flags = flags,
		.iova = iova,
		.length = len,
		.page_size = page_size,
		.data = (uintptr_t)bitmap,
	};

	return ioctl(iommufd, IOMMU_HWPT_GET_DIRTY_BITMAP, &cmd);
}

/* Test op DIRTY: mark dirty the PAGE-sized pages in @bits. */
static int mark_dirty(uint32_t hwpt, uint64_t bits, uint64_t *nr)
{
	struct iommu_test_cmd cmd = {};
	uint64_t bitmap = bits;
	int rc;

	cmd.dirty.iova = BASE;
	cmd.dirty.length = LEN;
	cmd.dirty.page_size = PAGE;
	cmd.dirty.uptr = (uintptr_t)&bitmap;
	rc = test_cmd(&cmd, IOMMU_TEST_OP_DIRTY, hwpt);
	*nr = cmd.dirty.out_nr_dirty;
	return rc;
}

static int map_file(uint32_t flags, uint32_t ioas, int fd, uint64_t start,
		    uint64_t len, uint64_t *iova)
{
	struct iommu_ioas_map_file cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.ioas_id = ioas,
		.fd = fd,
		.start = start,
		.length = len,
		.iova = *iova,
	};
	int rc = ioctl(iommufd, IOMMU_IOAS_MAP_FILE, &cmd);

	*iova = cmd.iova;
	return rc;
}

static int access_rw(int access, uint64_t iova, void *data, uint64_t len,
		     uint32_t flags)
{
	struct iommu_test_cmd cmd = {};

	cmd.access_rw.iova = iova;
	cmd.access_rw.length = len;
	cmd.access_rw.uptr = (uintptr_t)data;
	cmd.access_rw.flags = flags;
	return test_cmd(&cmd, IOMMU_TEST_OP_ACCESS_RW, access);
}

static int dmabuf_get(uint32_t len)
{
	struct iommu_test_cmd cmd = {};

	cmd.dmabuf_get.length = len;
	cmd.dmabuf_get.open_flags = O_CLOEXEC;
	return test_cmd(&cmd, IOMMU_TEST_OP_DMABUF_GET, 0);
}

static int dmabuf_revoke(int fd, bool revoked)
{
	struct iommu_test_cmd cmd = {};

	cmd.dmabuf_revoke.dmabuf_fd = fd;
	cmd.dmabuf_revoke.revoked = revoked;
	return test_cmd(&cmd, IOMMU_TEST_OP_DMABUF_REVOKE, 0);
}

static bool all_bytes(const uint8_t *p, size_t len, uint8_t v)
{
	for (size_t i = 0; i != len; i++) {
		if (p[i] != v)
			return false;
	}
	return true;
}

/* ---- Linux 7.2 ---- */

struct state {
	uint32_t ioas, ioas2;
	struct mock_dev dev;		/* on the IOAS, then moved around */
	uint32_t parent, nested, nested2, dirty_pt;
	int access;
};

static int hw_info(uint32_t size, uint32_t flags, uint32_t dev_id,
		   uint32_t in_type, void *data, struct iommu_hw_info *info)
{
	*info = (struct iommu_hw_info){
		.size = size,
		.flags = flags,
		.dev_id = dev_id,
		.data_len = info->data_len,
		.data_uptr = (uintptr_t)data,
		.in_data_type = in_type,
	};
	return ioctl(iommufd, IOMMU_GET_HW_INFO, info);
}

static void hw_info_checks(struct state *s)
{
	uint8_t data[32];
	struct iommu_test_hw_info *got = (void *)data;
	struct iommu_hw_info info;
	struct mock_dev pasid_dev = {}, no_dirty_dev = {}, bad_dev = {};
	uint32_t reg;
	int rc;

	/* exactly the driver's struct */
	memset(data, FILL, sizeof(data));
	info.data_len = sizeof(*got);
	rc = hw_info(sizeof(info), 0, s->dev.idev, 0, data, &info);
	expect(rc, 0, "GET_HW_INFO of the mock device, data_len 8");
	check(!rc && got->test_reg == IOMMU_HW_INFO_SELFTEST_REGVAL,
	      "  test_reg is IOMMU_HW_INFO_SELFTEST_REGVAL");
	check(!rc && got->flags == 0, "  flags 0");
	check(info.data_len == sizeof(*got), "  data_len written back: 8");
	check(info.out_data_type == IOMMU_HW_INFO_TYPE_SELFTEST,
	      "  out_data_type IOMMU_HW_INFO_TYPE_SELFTEST");
	check(info.out_capabilities ==
		      (IOMMU_HW_CAP_DIRTY_TRACKING |
		       IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED),
	      "  out_capabilities DIRTY_TRACKING | PCI_ATS_NOT_SUPPORTED");
	check(info.out_max_pasid_log2 == 0, "  out_max_pasid_log2 0");

	/* shorter: truncated, the rest of the program's memory untouched */
	memset(data, FILL, sizeof(data));
	info.data_len = 4;
	rc = hw_info(sizeof(info), 0, s->dev.idev, 0, data, &info);
	expect(rc, 0, "GET_HW_INFO, data_len 4 (shorter)");
	check(!rc && got->flags == 0 && all_bytes(data + 4, 28, FILL),
	      "  4 bytes written, nothing past them");
	check(info.data_len == sizeof(*got), "  data_len written back: 8");

	/* longer: the data, then zeros to data_len */
	memset(data, FILL, sizeof(data));
	info.data_len = 24;
	rc = hw_info(sizeof(info), 0, s->dev.idev, 0, data, &info);
	expect(rc, 0, "GET_HW_INFO, data_len 24 (longer)");
	memcpy(&reg, data + 4, 4);
	check(!rc && reg == IOMMU_HW_INFO_SELFTEST_REGVAL &&
		      all_bytes(data + 8, 16, 0) &&
		      all_bytes(data + 24, 8, FILL),
	      "  the data, zeros to byte 24, nothing past it");
	check(info.data_len == sizeof(*got), "  data_len written back: 8");

	info.data_len = 0;
	rc = hw_info(sizeof(info), 0, s->dev.idev, 0, NULL, &info);
	expect(rc, 0, "GET_HW_INFO, data_len 0 and no buffer");
	check(info.data_len == sizeof(*got), "  data_len written back: 8");

	memset(data, FILL, sizeof(data));
	info.data_len = sizeof(*got);
	rc = hw_info(sizeof(info), IOMMU_HW_INFO_FLAG_INPUT_TYPE, s->dev.idev,
		     IOMMU_HW_INFO_TYPE_SELFTEST, data, &info);
	expect(rc, 0, "GET_HW_INFO, INPUT_TYPE IOMMU_HW_INFO_TYPE_SELFTEST");
	check(!rc && got->test_reg == IOMMU_HW_INFO_SELFTEST_REGVAL &&
		      info.out_data_type == IOMMU_HW_INFO_TYPE_SELFTEST,
	      "  the selftest data and type");
	info.data_len = sizeof(*got);
	expect(hw_info(sizeof(info), IOMMU_HW_INFO_FLAG_INPUT_TYPE,
		       s->dev.idev, IOMMU_HW_INFO_TYPE_INTEL_VTD, data, &info),
	       EOPNOTSUPP, "GET_HW_INFO, INPUT_TYPE INTEL_VTD");
	/* without INPUT_TYPE the type word is not read */
	info.data_len = sizeof(*got);
	expect(hw_info(sizeof(info), 0, s->dev.idev,
		       IOMMU_HW_INFO_TYPE_INTEL_VTD, data, &info),
	       0, "GET_HW_INFO, a type word without INPUT_TYPE");
	info.data_len = sizeof(*got);
	expect(hw_info(sizeof(info), 1 << 1, s->dev.idev, 0, data, &info),
	       EOPNOTSUPP, "GET_HW_INFO, unknown flag 1 << 1");
	info = (struct iommu_hw_info){
		.size = sizeof(info), .dev_id = s->dev.idev,
		.data_len = sizeof(*got), .data_uptr = (uintptr_t)data,
	};
	info.__reserved[1] = 1;
	expect(ioctl(iommufd, IOMMU_GET_HW_INFO, &info), EOPNOTSUPP,
	       "GET_HW_INFO, __reserved not 0");
	info.data_len = sizeof(*got);
	expect(hw_info(sizeof(info), 0, s->ioas, 0, data, &info), ENOENT,
	       "GET_HW_INFO of an IOAS ID");
	info.data_len = sizeof(*got);
	expect(hw_info(sizeof(info), 0, s->dev.stdev, 0, data, &info),
	       ENOENT, "GET_HW_INFO of the selftest object's ID");
	info.data_len = sizeof(*got);
	expect(hw_info(sizeof(info), 0, s->dev.idev, 0, (void *)8, &info),
	       EFAULT, "GET_HW_INFO to a bad buffer");
	/* a caller from before out_capabilities */
	memset(data, FILL, sizeof(data));
	info.data_len = sizeof(*got);
	rc = hw_info(32, 0, s->dev.idev, 0, data, &info);
	expect(rc, 0, "GET_HW_INFO of 32 bytes");
	check(!rc && got->test_reg == IOMMU_HW_INFO_SELFTEST_REGVAL,
	      "  the selftest data");
	info.data_len = sizeof(*got);
	expect(hw_info(31, 0, s->dev.idev, 0, data, &info), EINVAL,
	       "GET_HW_INFO of 31 bytes");

	/* what the device flags change */
	expect(mock_domain(s->ioas, MOCK_FLAGS_DEVICE_PASID, &pasid_dev), 0,
	       "MOCK_DOMAIN_FLAGS PASID");
	info.data_len = 0;
	rc = hw_info(sizeof(info), 0, pasid_dev.idev, 0, NULL, &info);
	check(!rc && info.out_max_pasid_log2 == MOCK_PASID_WIDTH,
	      "  GET_HW_INFO: out_max_pasid_log2 MOCK_PASID_WIDTH (20)");
	expect(mock_domain(s->ioas, MOCK_FLAGS_DEVICE_NO_DIRTY, &no_dirty_dev),
	       0, "MOCK_DOMAIN_FLAGS NO_DIRTY");
	info.data_len = 0;
	rc = hw_info(sizeof(info), 0, no_dirty_dev.idev, 0, NULL, &info);
	check(!rc && !(info.out_capabilities & IOMMU_HW_CAP_DIRTY_TRACKING),
	      "  GET_HW_INFO: no IOMMU_HW_CAP_DIRTY_TRACKING");
	expect(hwpt_alloc(IOMMU_HWPT_ALLOC_DIRTY_TRACKING, no_dirty_dev.idev,
			  s->ioas, 0, NULL, 0, &reg),
	       EOPNOTSUPP, "  HWPT_ALLOC DIRTY_TRACKING for it");
	expect(mock_domain(s->ioas, 1 << 1, &bad_dev), EINVAL,
	       "MOCK_DOMAIN_FLAGS with unknown flag 1 << 1");
	expect(destroy(pasid_dev.stdev), 0, "destroy the PASID device");
	check(no_dirty_dev.stdev && !destroy(no_dirty_dev.stdev),
	      "destroy the NO_DIRTY device");
}

static void hwpt_alloc_checks(struct state *s)
{
	struct iommu_hwpt_selftest data = { .iotlb = IOMMU_TEST_IOTLB_DEFAULT };
	uint8_t longer[12] = {};
	struct iommu_hwpt_alloc alloc;
	uint32_t plain, id;
	int rc;

	rc = hwpt_alloc(IOMMU_HWPT_ALLOC_NEST_PARENT, s->dev.idev, s->ioas, 0,
			NULL, 0, &s->parent);
	expect(rc, 0, "HWPT_ALLOC NEST_PARENT on the IOAS");
	check(!rc && s->parent && s->parent != s->dev.hwpt,
	      "  a new HWPT ID");
	rc = nested_alloc(s->dev.idev, s->parent, &s->nested);
	expect(rc, 0, "HWPT_ALLOC nested on it, IOMMU_HWPT_DATA_SELFTEST");
	check(!rc && s->nested && s->nested != s->parent, "  a new HWPT ID");
	check(iotlb_is(s->nested, IOMMU_TEST_IOTLB_DEFAULT,
		       IOMMU_TEST_IOTLB_DEFAULT, IOMMU_TEST_IOTLB_DEFAULT,
		       IOMMU_TEST_IOTLB_DEFAULT),
	      "  MD_CHECK_IOTLB: every entry is the iotlb value given");
	expect(check_iotlb(s->nested, 0, 0), EINVAL,
	       "MD_CHECK_IOTLB with the wrong value");
	expect(check_iotlb(s->nested, MOCK_NESTED_DOMAIN_IOTLB_ID_MAX + 1,
			   IOMMU_TEST_IOTLB_DEFAULT),
	       EINVAL, "MD_CHECK_IOTLB of entry 4");
	expect(check_iotlb(s->parent, 0, IOMMU_TEST_IOTLB_DEFAULT), ENOENT,
	       "MD_CHECK_IOTLB of a paging HWPT");
	rc = nested_alloc(s->dev.idev, s->parent, &s->nested2);
	expect(rc, 0, "a second nested HWPT on the same parent");

	/* what is refused, in the kernel's order */
	expect(hwpt_alloc(0, s->dev.idev, s->ioas, IOMMU_HWPT_DATA_NONE,
			  &data, sizeof(data), &id),
	       EINVAL, "HWPT_ALLOC, data_len with IOMMU_HWPT_DATA_NONE");
	expect(hwpt_alloc(0, s->dev.idev, s->parent, IOMMU_HWPT_DATA_SELFTEST,
			  &data, 0, &id),
	       EINVAL, "HWPT_ALLOC, IOMMU_HWPT_DATA_SELFTEST without data_len");
	expect(hwpt_alloc(0, s->ioas, s->ioas, 0, NULL, 0, &id), ENOENT,
	       "HWPT_ALLOC, dev_id an IOAS");
	expect(hwpt_alloc(0, s->dev.idev, 0xfffff, 0, NULL, 0, &id), EINVAL,
	       "HWPT_ALLOC, pt_id no object");
	expect(hwpt_alloc(0, s->dev.idev, s->nested, IOMMU_HWPT_DATA_SELFTEST,
			  &data, sizeof(data), &id),
	       EINVAL, "HWPT_ALLOC, pt_id a nested HWPT");
	expect(hwpt_alloc(1 << 4, s->dev.idev, s->ioas, 0, NULL, 0, &id),
	       EOPNOTSUPP, "HWPT_ALLOC, unknown flag 1 << 4");
	expect(hwpt_alloc(IOMMU_HWPT_ALLOC_NEST_PARENT |
				  IOMMU_HWPT_FAULT_ID_VALID,
			  s->dev.idev, s->ioas, 0, NULL, 0, &id),
	       EOPNOTSUPP, "HWPT_ALLOC, NEST_PARENT with FAULT_ID_VALID");
	expect(hwpt_alloc(IOMMU_HWPT_ALLOC_NEST_PARENT, s->dev.idev,
			  s->parent, IOMMU_HWPT_DATA_SELFTEST, &data,
			  sizeof(data), &id),
	       EOPNOTSUPP, "HWPT_ALLOC nested with NEST_PARENT");
	expect(hwpt_alloc(0, s->dev.idev, s->parent, IOMMU_HWPT_DATA_VTD_S1,
			  &data, sizeof(data), &id),
	       EOPNOTSUPP, "HWPT_ALLOC nested, IOMMU_HWPT_DATA_VTD_S1");
	expect(hwpt_alloc(0, s->dev.idev, s->dev.hwpt,
			  IOMMU_HWPT_DATA_SELFTEST, &data, sizeof(data), &id),
	       EINVAL, "HWPT_ALLOC nested on the device's auto HWPT");
	rc = hwpt_alloc(0, s->dev.idev, s->ioas, 0, NULL, 0, &plain);
	expect(rc, 0, "HWPT_ALLOC paging without NEST_PARENT");
	expect(hwpt_alloc(0, s->dev.idev, plain, IOMMU_HWPT_DATA_SELFTEST,
			  &data, sizeof(data), &id),
	       EINVAL, "HWPT_ALLOC nested on it");
	expect(hwpt_alloc(0, s->dev.idev, s->parent, IOMMU_HWPT_DATA_SELFTEST,
			  &data, 2, &id),
	       EINVAL, "HWPT_ALLOC nested, data_len 2 (short of iotlb)");
	expect(hwpt_alloc(0, s->dev.idev, s->parent, IOMMU_HWPT_DATA_SELFTEST,
			  (void *)8, sizeof(data), &id),
	       EFAULT, "HWPT_ALLOC nested, data at a bad address");
	memcpy(longer, &data, sizeof(data));
	longer[9] = 1;
	expect(hwpt_alloc(0, s->dev.idev, s->parent, IOMMU_HWPT_DATA_SELFTEST,
			  longer, sizeof(longer), &id),
	       E2BIG, "HWPT_ALLOC nested, data_len 12, byte 9 not zero");
	alloc = (struct iommu_hwpt_alloc){
		.size = sizeof(alloc), .dev_id = s->dev.idev,
		.pt_id = s->ioas, .__reserved = 1,
	};
	expect(ioctl(iommufd, IOMMU_HWPT_ALLOC, &alloc), EOPNOTSUPP,
	       "HWPT_ALLOC, __reserved not 0");
	/* a caller from before data_type: 24 bytes */
	alloc = (struct iommu_hwpt_alloc){
		.size = 24, .dev_id = s->dev.idev, .pt_id = s->ioas,
	};
	rc = ioctl(iommufd, IOMMU_HWPT_ALLOC, &alloc);
	expect(rc, 0, "HWPT_ALLOC of 24 bytes");
	check(!rc && alloc.out_hwpt_id && !destroy(alloc.out_hwpt_id),
	      "  its HWPT destroyed");
	alloc.size = 23;
	expect(ioctl(iommufd, IOMMU_HWPT_ALLOC, &alloc), EINVAL,
	       "HWPT_ALLOC of 23 bytes");
	check(plain && !destroy(plain), "destroy the plain paging HWPT");
}

static void invalidate_checks(struct state *s)
{
	struct iommu_hwpt_invalidate_selftest inv[3] = {};
	const uint32_t def = IOMMU_TEST_IOTLB_DEFAULT;
	uint8_t longer[16] = {};
	struct iommu_hwpt_invalidate cmd;
	uint32_t num;
	int rc;

	inv[0].iotlb_id = 1;
	num = 1;
	rc = invalidate(s->nested, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, inv,
			sizeof(inv[0]), &num);
	expect(rc, 0, "HWPT_INVALIDATE, one entry (IOTLB 1)");
	check(num == 1, "  entry_num written back: 1");
	check(iotlb_is(s->nested, def, 0, def, def),
	      "  MD_CHECK_IOTLB: entry 1 cleared, 0, 2 and 3 kept");

	inv[0] = (struct iommu_hwpt_invalidate_selftest){
		.flags = IOMMU_TEST_INVALIDATE_FLAG_ALL, .iotlb_id = 2,
	};
	num = 1;
	rc = invalidate(s->nested, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, inv,
			sizeof(inv[0]), &num);
	expect(rc, 0, "HWPT_INVALIDATE, IOMMU_TEST_INVALIDATE_FLAG_ALL");
	check(iotlb_is(s->nested, 0, 0, 0, 0),
	      "  MD_CHECK_IOTLB: every entry cleared");

	/* the second entry is bad: the first is done, and said so */
	inv[0] = (struct iommu_hwpt_invalidate_selftest){ .iotlb_id = 2 };
	inv[1] = (struct iommu_hwpt_invalidate_selftest){
		.iotlb_id = MOCK_NESTED_DOMAIN_IOTLB_ID_MAX + 1,
	};
	inv[2] = (struct iommu_hwpt_invalidate_selftest){ .iotlb_id = 3 };
	num = 3;
	rc = invalidate(s->nested2, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, inv,
			sizeof(inv[0]), &num);
	expect(rc, EINVAL, "HWPT_INVALIDATE, 3 entries, the second IOTLB 4");
	check(num == 1, "  entry_num written back: 1");
	check(iotlb_is(s->nested2, def, def, 0, def),
	      "  MD_CHECK_IOTLB: only entry 2 cleared");
	inv[1] = (struct iommu_hwpt_invalidate_selftest){ .flags = 1 << 1 };
	num = 3;
	rc = invalidate(s->nested2, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, inv,
			sizeof(inv[0]), &num);
	expect(rc, EOPNOTSUPP, "HWPT_INVALIDATE, the second entry flag 1 << 1");
	check(num == 1, "  entry_num written back: 1");

	num = 1;
	rc = invalidate(s->nested2, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID,
			inv, sizeof(inv[0]), &num);
	expect(rc, EINVAL, "HWPT_INVALIDATE, data type SELFTEST_INVALID");
	check(num == 0, "  entry_num written back: 0");
	num = 1;
	rc = invalidate(s->nested2, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, inv,
			4, &num);
	expect(rc, EINVAL, "HWPT_INVALIDATE, entry_len 4 (short of iotlb_id)");
	check(num == 0, "  entry_num written back: 0");
	num = 1;
	rc = invalidate(s->nested2, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, inv,
			0, &num);
	expect(rc, EINVAL, "HWPT_INVALIDATE, entry_len 0");
	num = 1;
	rc = invalidate(s->nested2, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, NULL,
			sizeof(inv[0]), &num);
	expect(rc, EINVAL, "HWPT_INVALIDATE, no data_uptr");
	num = 1;
	rc = invalidate(s->nested2, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
			(void *)8, sizeof(inv[0]), &num);
	expect(rc, EFAULT, "HWPT_INVALIDATE, entries at a bad address");
	/* a longer entry with a zero tail is taken */
	memset(longer, 0, sizeof(longer));
	longer[4] = 3;	/* iotlb_id 3 */
	num = 1;
	rc = invalidate(s->nested2, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
			longer, sizeof(longer), &num);
	expect(rc, 0, "HWPT_INVALIDATE, entry_len 16, zero tail");
	check(iotlb_is(s->nested2, def, def, 0, 0),
	      "  MD_CHECK_IOTLB: entry 3 cleared too");
	num = 0;
	rc = invalidate(s->nested2, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, NULL,
			0, &num);
	expect(rc, 0, "HWPT_INVALIDATE, no entries");
	num = 1;
	expect(invalidate(s->parent, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, inv,
			  sizeof(inv[0]), &num),
	       EINVAL, "HWPT_INVALIDATE of a paging HWPT");
	num = 1;
	expect(invalidate(s->ioas, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, inv,
			  sizeof(inv[0]), &num),
	       EINVAL, "HWPT_INVALIDATE of an IOAS");
	num = 1;
	expect(invalidate(0xfffff, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, inv,
			  sizeof(inv[0]), &num),
	       ENOENT, "HWPT_INVALIDATE of no object");
	cmd = (struct iommu_hwpt_invalidate){
		.size = sizeof(cmd), .hwpt_id = s->nested2,
		.data_type = IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
		.__reserved = 1,
	};
	expect(ioctl(iommufd, IOMMU_HWPT_INVALIDATE, &cmd), EOPNOTSUPP,
	       "HWPT_INVALIDATE, __reserved not 0");
}

static void replace_checks(struct state *s)
{
	struct mock_dev no_dirty = {};
	uint32_t pt, auto_hwpt = s->dev.hwpt;
	struct iommu_test_cmd cmd = {};
	int rc;

	pt = s->nested;
	rc = replace(s->dev.stdev, &pt);
	expect(rc, 0, "MOCK_DOMAIN_REPLACE: the device to the nested HWPT");
	check(pt == s->nested, "  pt_id stays the nested HWPT's");
	expect(destroy(auto_hwpt), ENOENT,
	       "  its auto HWPT went with its last device");
	pt = s->parent;
	expect(replace(s->dev.stdev, &pt), 0,
	       "MOCK_DOMAIN_REPLACE: to the parent paging HWPT");
	pt = s->ioas;
	rc = replace(s->dev.stdev, &pt);
	expect(rc, 0, "MOCK_DOMAIN_REPLACE: to the IOAS");
	check(pt && pt != s->ioas && pt != s->parent,
	      "  pt_id written back: a new auto HWPT");
	s->dev.hwpt = pt;
	pt = 0xfffff;
	expect(replace(s->dev.stdev, &pt), ENOENT,
	       "MOCK_DOMAIN_REPLACE: to no object");
	pt = s->ioas;
	expect(replace(s->dev.idev, &pt), ENOENT,
	       "MOCK_DOMAIN_REPLACE: id the device ID, not the selftest object");

	/* a device without dirty tracking cannot join a dirty-tracking one */
	expect(mock_domain(s->ioas, MOCK_FLAGS_DEVICE_NO_DIRTY, &no_dirty), 0,
	       "MOCK_DOMAIN_FLAGS NO_DIRTY");
	pt = s->dirty_pt;
	expect(replace(no_dirty.stdev, &pt), EINVAL,
	       "  MOCK_DOMAIN_REPLACE of it to the dirty-tracking HWPT");
	check(no_dirty.stdev && !destroy(no_dirty.stdev), "  destroyed");

	/* an access moves between IOAS */
	cmd.create_access.flags = 0;
	rc = test_cmd(&cmd, IOMMU_TEST_OP_CREATE_ACCESS, s->ioas);
	s->access = rc ? -1 : (int)cmd.create_access.out_access_fd;
	expect(rc, 0, "CREATE_ACCESS on the IOAS");
	memset(&cmd, 0, sizeof(cmd));
	cmd.access_replace_ioas.ioas_id = s->ioas2;
	rc = test_cmd(&cmd, IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, s->access);
	expect(rc, 0, "ACCESS_REPLACE_IOAS to a second IOAS");
	{
		uint8_t got[64];

		memset(got, 0, sizeof(got));
		check(access_rw(s->access, BASE + 0x100000, got, sizeof(got),
				0) == 0 &&
			      all_bytes(got, sizeof(got), 0x3c),
		      "  ACCESS_RW reads the second IOAS's memory");
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.access_replace_ioas.ioas_id = 0xfffff;
	expect(test_cmd(&cmd, IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, s->access),
	       ENOENT, "ACCESS_REPLACE_IOAS to no object");
}

static void dirty_checks(struct state *s)
{
	uint64_t bitmap[2], nr = 0;
	struct iommu_hwpt_get_dirty_bitmap cmd;
	int rc;

	rc = hwpt_alloc(IOMMU_HWPT_ALLOC_DIRTY_TRACKING, s->dev.idev, s->ioas,
			0, NULL, 0, &s->dirty_pt);
	expect(rc, 0, "HWPT_ALLOC DIRTY_TRACKING on the IOAS");
	expect(mark_dirty(s->dirty_pt, 0x5, &nr), EINVAL,
	       "test op DIRTY before tracking is on");
	expect(set_dirty(s->dirty_pt, IOMMU_HWPT_DIRTY_TRACKING_ENABLE), 0,
	       "HWPT_SET_DIRTY_TRACKING ENABLE");
	rc = mark_dirty(s->dirty_pt, 0x5, &nr);
	expect(rc, 0, "test op DIRTY: pages 0 and 2");
	check(nr == 2, "  out_nr_dirty 2");

	memset(bitmap, 0, sizeof(bitmap));
	rc = get_dirty(s->dirty_pt, IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR, BASE,
		       LEN, PAGE, bitmap);
	expect(rc, 0, "HWPT_GET_DIRTY_BITMAP NO_CLEAR");
	check(bitmap[0] == 0x5 && !bitmap[1], "  bits 0 and 2");
	memset(bitmap, 0, sizeof(bitmap));
	rc = get_dirty(s->dirty_pt, 0, BASE, LEN, PAGE, bitmap);
	expect(rc, 0, "HWPT_GET_DIRTY_BITMAP");
	check(bitmap[0] == 0x5, "  bits 0 and 2 still (NO_CLEAR kept them)");
	memset(bitmap, 0, sizeof(bitmap));
	rc = get_dirty(s->dirty_pt, 0, BASE, LEN, PAGE, bitmap);
	check(!rc && !bitmap[0], "HWPT_GET_DIRTY_BITMAP again: none (cleared)");
	expect(get_dirty(s->dirty_pt, 1 << 1, BASE, LEN, PAGE, bitmap),
	       EOPNOTSUPP, "HWPT_GET_DIRTY_BITMAP, unknown flag 1 << 1");
	cmd = (struct iommu_hwpt_get_dirty_bitmap){
		.size = sizeof(cmd), .hwpt_id = s->dirty_pt, .__reserved = 1,
		.iova = BASE, .length = LEN, .page_size = PAGE,
		.data = (uintptr_t)bitmap,
	};
	expect(ioctl(iommufd, IOMMU_HWPT_GET_DIRTY_BITMAP, &cmd), EOPNOTSUPP,
	       "HWPT_GET_DIRTY_BITMAP, __reserved not 0");
	expect(get_dirty(s->dirty_pt, 0, BASE + 1, LEN - PAGE, PAGE, bitmap),
	       EINVAL, "HWPT_GET_DIRTY_BITMAP, iova not aligned");
	expect(get_dirty(s->dirty_pt, 0, BASE, LEN, 0, bitmap), EINVAL,
	       "HWPT_GET_DIRTY_BITMAP, page_size 0");
	expect(get_dirty(s->dirty_pt, 0, BASE, -PAGE, PAGE, bitmap),
	       EOVERFLOW, "HWPT_GET_DIRTY_BITMAP, iova + length past 2^64");
	expect(get_dirty(s->parent, 0, BASE, LEN, PAGE, bitmap), EOPNOTSUPP,
	       "HWPT_GET_DIRTY_BITMAP of a HWPT without dirty tracking");
	expect(get_dirty(s->nested, 0, BASE, LEN, PAGE, bitmap), ENOENT,
	       "HWPT_GET_DIRTY_BITMAP of a nested HWPT");
	expect(set_dirty(s->parent, IOMMU_HWPT_DIRTY_TRACKING_ENABLE),
	       EOPNOTSUPP,
	       "HWPT_SET_DIRTY_TRACKING of a HWPT without dirty tracking");
	expect(set_dirty(s->nested, IOMMU_HWPT_DIRTY_TRACKING_ENABLE), ENOENT,
	       "HWPT_SET_DIRTY_TRACKING of a nested HWPT");
	expect(set_dirty(s->ioas, IOMMU_HWPT_DIRTY_TRACKING_ENABLE), ENOENT,
	       "HWPT_SET_DIRTY_TRACKING of an IOAS");
	expect(set_dirty(s->dirty_pt, 1 << 1), EOPNOTSUPP,
	       "HWPT_SET_DIRTY_TRACKING, unknown flag 1 << 1");

	/* off: no marking; on again: from a clean slate */
	mark_dirty(s->dirty_pt, 0x8, &nr);
	expect(set_dirty(s->dirty_pt, 0), 0, "HWPT_SET_DIRTY_TRACKING off");
	expect(mark_dirty(s->dirty_pt, 0x1, &nr), EINVAL,
	       "  test op DIRTY: refused");
	expect(set_dirty(s->dirty_pt, IOMMU_HWPT_DIRTY_TRACKING_ENABLE), 0,
	       "HWPT_SET_DIRTY_TRACKING ENABLE again");
	memset(bitmap, 0, sizeof(bitmap));
	rc = get_dirty(s->dirty_pt, 0, BASE, LEN, PAGE, bitmap);
	check(!rc && !bitmap[0],
	      "  nothing dirty: what was marked before is cleared");
}

static void map_file_checks(struct state *s)
{
	struct iommu_test_cmd cmd;
	uint8_t page[PAGE], got[PAGE];
	uint64_t iova = 0, fixed, n;
	int memfd;
	int rc;

	memfd = memfd_create("hwpt_client", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, LEN))
		die("memfd");
	for (unsigned int i = 0; i != BUF_PAGES; i++) {
		memset(page, 0x40 + i, sizeof(page));
		if (pwrite(memfd, page, sizeof(page), i * PAGE) != PAGE)
			die("pwrite");
	}

	/* into the access's IOAS, where nothing else is mapped but buf2 */
	rc = map_file(MAP_RW, s->ioas2, memfd, 0, LEN, &iova);
	expect(rc, 0, "IOAS_MAP_FILE of a memfd, 16 pages, IOVA chosen");
	check(!rc && iova && iova % PAGE == 0,
	      "  iova written back, page aligned");
	memset(got, 0, sizeof(got));
	check(!rc && !access_rw(s->access, iova + 3 * PAGE, got, PAGE, 0) &&
		      all_bytes(got, PAGE, 0x43),
	      "  an access reads page 3 of the file there");
	check(ioas_unmap(s->ioas2, iova, LEN, &n) == 0 && n == LEN,
	      "  IOAS_UNMAP takes it out whole");

	/* into the IOAS with the HW pagetables, the access moved back */
	fixed = BASE + 0x200000;
	rc = map_file(MAP_RW | IOMMU_IOAS_MAP_FIXED_IOVA, s->ioas, memfd,
		      2 * PAGE, 4 * PAGE, &fixed);
	expect(rc, 0, "IOAS_MAP_FILE, FIXED_IOVA, pages 2-5 of the file");
	check(fixed == BASE + 0x200000, "  iova stays");
	memset(&cmd, 0, sizeof(cmd));
	cmd.access_replace_ioas.ioas_id = s->ioas;
	expect(test_cmd(&cmd, IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, s->access), 0,
	       "  ACCESS_REPLACE_IOAS back to that IOAS");
	memset(got, 0, sizeof(got));
	check(!rc && !access_rw(s->access, fixed, got, PAGE, 0) &&
		      all_bytes(got, PAGE, 0x42),
	      "  an access reads page 2 of the file at that IOVA");
	memset(page, 0x77, sizeof(page));
	check(!rc && !access_rw(s->access, fixed + PAGE, page, PAGE,
				MOCK_ACCESS_RW_WRITE) &&
		      pread(memfd, got, PAGE, 3 * PAGE) == PAGE &&
		      all_bytes(got, PAGE, 0x77),
	      "  a write through the access lands in the file");

	iova = 0;
	expect(map_file(1 << 3 | MAP_RW, s->ioas, memfd, 0, PAGE, &iova),
	       EOPNOTSUPP, "IOAS_MAP_FILE, unknown flag 1 << 3");
	expect(map_file(0, s->ioas, memfd, 0, PAGE, &iova), EINVAL,
	       "IOAS_MAP_FILE, neither READABLE nor WRITEABLE");
	expect(map_file(MAP_RW, 0xfffff, memfd, 0, PAGE, &iova), ENOENT,
	       "IOAS_MAP_FILE, no such IOAS");
	expect(map_file(MAP_RW, s->ioas, memfd, 0, 0, &iova), EINVAL,
	       "IOAS_MAP_FILE, length 0");
	expect(map_file(MAP_RW, s->ioas, memfd, -PAGE, 2 * PAGE, &iova),
	       EOVERFLOW, "IOAS_MAP_FILE, start + length past 2^64");
	expect(map_file(MAP_RW, s->ioas, -1, 0, PAGE, &iova), EBADF,
	       "IOAS_MAP_FILE, fd -1");
	close(memfd);
}

static void dmabuf_checks(struct state *s)
{
	uint64_t iova, n;
	int dmabuf, rc;

	dmabuf = dmabuf_get(2 * PAGE);
	check(dmabuf >= 0, "DMABUF_GET, 2 pages: a descriptor");
	if (dmabuf < 0)
		printf("# got %s\n", err_name(errno));
	expect(dmabuf_get(0), EINVAL, "DMABUF_GET, length 0");
	expect(dmabuf_get(513 * PAGE), EINVAL, "DMABUF_GET, 513 pages");

	iova = BASE + 0x400000;
	rc = map_file(MAP_RW | IOMMU_IOAS_MAP_FIXED_IOVA, s->ioas, dmabuf, 0,
		      2 * PAGE, &iova);
	expect(rc, 0, "IOAS_MAP_FILE of the dma-buf");
	iova = BASE + 0x500000;
	expect(map_file(MAP_RW | IOMMU_IOAS_MAP_FIXED_IOVA, s->ioas, dmabuf,
			PAGE, 2 * PAGE, &iova),
	       EINVAL, "IOAS_MAP_FILE of the dma-buf past its end");
	expect(dmabuf_revoke(dmabuf, true), 0, "DMABUF_REVOKE");
	iova = BASE + 0x600000;
	expect(map_file(MAP_RW | IOMMU_IOAS_MAP_FIXED_IOVA, s->ioas, dmabuf, 0,
			2 * PAGE, &iova),
	       ENODEV, "  IOAS_MAP_FILE of the revoked dma-buf");
	check(ioas_unmap(s->ioas, BASE + 0x400000, 2 * PAGE, &n) == 0 &&
		      n == 2 * PAGE,
	      "  the mapping made before unmaps");
	expect(dmabuf_revoke(dmabuf, false), 0, "DMABUF_REVOKE, revoked 0");
	iova = BASE + 0x600000;
	rc = map_file(MAP_RW | IOMMU_IOAS_MAP_FIXED_IOVA, s->ioas, dmabuf, 0,
		      2 * PAGE, &iova);
	expect(rc, 0, "  IOAS_MAP_FILE maps it again");
	check(!rc && ioas_unmap(s->ioas, iova, 2 * PAGE, &n) == 0,
	      "  and unmaps");
	expect(dmabuf_revoke(iommufd, true), EINVAL,
	       "DMABUF_REVOKE of a descriptor that is no dma-buf");
	expect(dmabuf_revoke(-1, true), EBADF, "DMABUF_REVOKE of fd -1");
	if (dmabuf >= 0)
		close(dmabuf);
}

/* A PASID test op on @pasid of selftest device @stdev; *pt_id in and out. */
static int pasid_op(uint32_t op, uint32_t stdev, uint32_t pasid,
		    uint32_t *pt_id)
{
	struct iommu_test_cmd cmd = {};
	int rc;

	/* pasid and pt_id (hwpt_id) sit at the same place for every op */
	cmd.pasid_attach.pasid = pasid;
	cmd.pasid_attach.pt_id = *pt_id;
	rc = test_cmd(&cmd, op, stdev);
	*pt_id = cmd.pasid_attach.pt_id;
	return rc;
}

static int pasid_attach(uint32_t stdev, uint32_t pasid, uint32_t pt_id)
{
	return pasid_op(IOMMU_TEST_OP_PASID_ATTACH, stdev, pasid, &pt_id);
}

static int pasid_replace(uint32_t stdev, uint32_t pasid, uint32_t pt_id)
{
	return pasid_op(IOMMU_TEST_OP_PASID_REPLACE, stdev, pasid, &pt_id);
}

static int pasid_detach(uint32_t stdev, uint32_t pasid)
{
	uint32_t none = 0;

	return pasid_op(IOMMU_TEST_OP_PASID_DETACH, stdev, pasid, &none);
}

static int pasid_check(uint32_t stdev, uint32_t pasid, uint32_t hwpt_id)
{
	return pasid_op(IOMMU_TEST_OP_PASID_CHECK_HWPT, stdev, pasid,
			&hwpt_id);
}

/*
 * A PASID device's PASIDs, as a VMM giving a guest's PASIDs their own
 * address spaces would use them: only HWPTs allocated with
 * IOMMU_HWPT_ALLOC_PASID take a PASID, and only while the RID is on one
 * too; the mock driver fails every second attach of PASID 1024.
 */
static void pasid_checks(struct state *s)
{
	const uint32_t last = (1u << MOCK_PASID_WIDTH) - 1;
	uint32_t pp1 = 0, pp2 = 0, np = 0, pt;
	struct mock_dev dev = {}, plain = {};
	struct iommu_hw_info info;

	expect(mock_domain(s->ioas, MOCK_FLAGS_DEVICE_PASID, &dev), 0,
	       "MOCK_DOMAIN_FLAGS PASID: a device with PASIDs");
	check(dev.hwpt == s->dev.hwpt, "  on the IOAS's auto HWPT");
	info.data_len = 0;
	expect(hw_info(sizeof(info), 0, dev.idev, 0, NULL, &info), 0,
	       "GET_HW_INFO of it");
	check(info.out_max_pasid_log2 == MOCK_PASID_WIDTH,
	      "  out_max_pasid_log2 %u", MOCK_PASID_WIDTH);
	expect(hwpt_alloc(IOMMU_HWPT_ALLOC_PASID, dev.idev, s->ioas, 0, NULL,
			  0, &pp1),
	       0, "HWPT_ALLOC with IOMMU_HWPT_ALLOC_PASID");
	expect(hwpt_alloc(IOMMU_HWPT_ALLOC_PASID, dev.idev, s->ioas, 0, NULL,
			  0, &pp2),
	       0, "HWPT_ALLOC with IOMMU_HWPT_ALLOC_PASID, a second one");
	expect(hwpt_alloc(0, dev.idev, s->ioas, 0, NULL, 0, &np), 0,
	       "HWPT_ALLOC without it");

	/* the RID first: an auto HWPT is no PASID HWPT */
	expect(pasid_attach(dev.stdev, 1, pp1), EINVAL,
	       "PASID_ATTACH while the RID is on the auto HWPT");
	pt = pp1;
	expect(replace(dev.stdev, &pt), 0,
	       "MOCK_DOMAIN_REPLACE of the RID to a PASID HWPT");
	pt = pp2;
	expect(pasid_op(IOMMU_TEST_OP_PASID_ATTACH, dev.stdev, 1, &pt), 0,
	       "PASID_ATTACH of PASID 1 to the other");
	check(pt == pp2, "  pt_id is the HWPT's");
	expect(pasid_check(dev.stdev, 1, pp2), 0,
	       "PASID_CHECK_HWPT: it is there");
	expect(pasid_check(dev.stdev, 1, 0), EINVAL,
	       "PASID_CHECK_HWPT with hwpt_id 0: not detached");
	expect(pasid_check(dev.stdev, 2, 0), 0,
	       "PASID_CHECK_HWPT with hwpt_id 0: PASID 2 is detached");
	expect(pasid_check(dev.stdev, 0, pp1), 0,
	       "PASID_CHECK_HWPT of PASID 0: the RID");
	expect(pasid_attach(dev.stdev, 1, pp1), EBUSY,
	       "PASID_ATTACH of PASID 1 again");
	expect(pasid_attach(dev.stdev, 0, pp2), EBUSY,
	       "PASID_ATTACH of PASID 0 (the RID, attached)");
	expect(pasid_attach(dev.stdev, 2, np), EINVAL,
	       "PASID_ATTACH to a HWPT without IOMMU_HWPT_ALLOC_PASID");
	expect(pasid_attach(dev.stdev, 2, s->ioas), EINVAL,
	       "PASID_ATTACH to the IOAS (auto HWPTs are not PASID HWPTs)");
	expect(pasid_attach(dev.stdev, last + 1, pp1), EINVAL,
	       "PASID_ATTACH of PASID 2^20, past the device's");
	expect(pasid_attach(dev.stdev, last, pp1), 0,
	       "PASID_ATTACH of PASID 2^20 - 1");
	expect(pasid_detach(dev.stdev, last), 0, "PASID_DETACH of it");
	expect(pasid_check(dev.stdev, last, 0), 0, "  detached");
	expect(pasid_detach(dev.stdev, last), 0,
	       "PASID_DETACH of a PASID not attached");

	/* while a PASID is attached the RID stays on PASID HWPTs */
	pt = np;
	expect(replace(dev.stdev, &pt), EINVAL,
	       "MOCK_DOMAIN_REPLACE of the RID to a HWPT without PASID");
	pt = s->ioas;
	expect(replace(dev.stdev, &pt), EINVAL,
	       "MOCK_DOMAIN_REPLACE of the RID to the IOAS");
	expect(pasid_check(dev.stdev, 0, pp1), 0, "  the RID stayed");

	expect(pasid_replace(dev.stdev, 3, pp1), EINVAL,
	       "PASID_REPLACE of a PASID not attached");
	expect(pasid_replace(dev.stdev, 1, pp1), 0,
	       "PASID_REPLACE of PASID 1 to the RID's HWPT");
	expect(pasid_replace(dev.stdev, 1, pp1), 0,
	       "PASID_REPLACE to where it is: nothing to do");
	expect(pasid_replace(dev.stdev, 1, np), EINVAL,
	       "PASID_REPLACE to a HWPT without PASID");
	expect(pasid_check(dev.stdev, 1, pp1), 0, "  it stayed");
	expect(destroy(pp1), EBUSY,
	       "IOMMU_DESTROY of a HWPT with a PASID on it");
	expect(destroy(np), 0, "IOMMU_DESTROY of the one it was refused");

	/* the reserved PASID: every second attach fails, replace unwinds */
	expect(pasid_attach(dev.stdev, IOMMU_TEST_PASID_RESERVED, pp2), 0,
	       "PASID_ATTACH of PASID 1024");
	expect(pasid_replace(dev.stdev, IOMMU_TEST_PASID_RESERVED, pp1),
	       ENOMEM, "PASID_REPLACE of PASID 1024: the driver fails it");
	expect(pasid_check(dev.stdev, IOMMU_TEST_PASID_RESERVED, pp2), 0,
	       "  it is where it was");
	expect(pasid_replace(dev.stdev, IOMMU_TEST_PASID_RESERVED, pp1), 0,
	       "PASID_REPLACE of PASID 1024 again: works");
	expect(pasid_detach(dev.stdev, IOMMU_TEST_PASID_RESERVED), 0,
	       "PASID_DETACH of PASID 1024");

	/* a device without PASIDs, even on a PASID HWPT */
	expect(mock_domain(pp2, 0, &plain), 0,
	       "MOCK_DOMAIN of a device without PASIDs onto a PASID HWPT");
	expect(pasid_attach(plain.stdev, 1, pp2), EINVAL,
	       "PASID_ATTACH of its PASID 1");
	expect(pasid_attach(dev.idev, 2, pp2), ENOENT,
	       "PASID_ATTACH with id the device ID, not the selftest object");
	expect(pasid_check(s->ioas, 1, pp1), ENOENT,
	       "PASID_CHECK_HWPT with id an IOAS");
	expect(pasid_check(dev.stdev, 1, s->ioas), EINVAL,
	       "PASID_CHECK_HWPT of an IOAS");
	expect(destroy(plain.stdev), 0, "IOMMU_DESTROY of that device");

	/* PASID 0 is the RID */
	expect(pasid_detach(dev.stdev, 1), 0, "PASID_DETACH of PASID 1");
	pt = s->ioas;
	expect(pasid_op(IOMMU_TEST_OP_PASID_REPLACE, dev.stdev, 0, &pt), 0,
	       "PASID_REPLACE of PASID 0 to the IOAS");
	check(pt == s->dev.hwpt, "  pt_id is the IOAS's auto HWPT");
	expect(pasid_detach(dev.stdev, 0), 0, "PASID_DETACH of PASID 0");
	expect(pasid_check(dev.stdev, 0, 0), 0, "  the RID is detached");
	pt = pp1;
	expect(replace(dev.stdev, &pt), EINVAL,
	       "MOCK_DOMAIN_REPLACE of the detached RID");
	expect(pasid_attach(dev.stdev, 5, pp1), 0,
	       "PASID_ATTACH with the RID detached");

	expect(destroy(dev.stdev), 0,
	       "IOMMU_DESTROY of the device with a PASID attached");
	expect(destroy(pp1), 0, "  its PASID's HWPT is free");
	expect(destroy(pp2), 0, "  and the other");
}

static void destroy_checks(struct state *s)
{
	expect(destroy(s->parent), EBUSY,
	       "IOMMU_DESTROY of the parent under its nested HWPTs");
	expect(destroy(s->ioas), EBUSY, "IOMMU_DESTROY of the IOAS under them");
	expect(destroy(s->nested), 0, "IOMMU_DESTROY of a nested HWPT");
	expect(destroy(s->parent), EBUSY,
	       "IOMMU_DESTROY of the parent under the other");
	expect(destroy(s->nested2), 0, "IOMMU_DESTROY of the other");
	expect(destroy(s->parent), 0, "IOMMU_DESTROY of the parent then");
	expect(destroy(s->dirty_pt), 0,
	       "IOMMU_DESTROY of the dirty-tracking HWPT");
	expect(destroy(s->dev.hwpt), EBUSY,
	       "IOMMU_DESTROY of the device's auto HWPT under it");
	expect(destroy(s->dev.stdev), 0, "IOMMU_DESTROY of the device");
	expect(destroy(s->dev.hwpt), ENOENT, "  its auto HWPT went with it");
	check(s->access >= 0 && !close(s->access), "close the access");
	expect(destroy(s->ioas), 0, "IOMMU_DESTROY of the IOAS");
	expect(destroy(s->ioas2), 0, "IOMMU_DESTROY of the second IOAS");
}

static void run_7_2(void)
{
	struct state s = { .access = -1 };
	uint8_t *buf2;

	buf2 = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf2 == MAP_FAILED)
		die("mmap");
	memset(buf2, 0x3c, LEN);
	if (ioas_alloc(&s.ioas) || ioas_alloc(&s.ioas2) ||
	    ioas_map(s.ioas, buf, LEN, BASE) ||
	    ioas_map(s.ioas2, buf2, LEN, BASE + 0x100000))
		die("IOAS");
	expect(mock_domain(s.ioas, 0, &s.dev), 0, "MOCK_DOMAIN on the IOAS");
	check(s.dev.idev && s.dev.stdev && s.dev.hwpt,
	      "  out_idev_id, out_stdev_id and out_hwpt_id");

	hw_info_checks(&s);
	hwpt_alloc_checks(&s);
	invalidate_checks(&s);
	dirty_checks(&s);
	replace_checks(&s);
	map_file_checks(&s);
	dmabuf_checks(&s);
	pasid_checks(&s);
	destroy_checks(&s);
	munmap(buf2, LEN);
}

/* ---- Linux 6.2: none of it ---- */

static void run_6_2(void)
{
	struct iommu_hwpt_selftest data = { .iotlb = IOMMU_TEST_IOTLB_DEFAULT };
	struct iommu_hwpt_invalidate_selftest inv = { .iotlb_id = 1 };
	struct iommu_test_hw_info hw = {};
	struct iommu_test_cmd cmd = {};
	struct mock_dev dev = {};
	uint32_t ioas, id, num = 1;
	uint64_t bitmap = 0, iova = BASE + 0x100000;
	struct iommu_hw_info info;
	int memfd;

	if (ioas_alloc(&ioas) || ioas_map(ioas, buf, LEN, BASE))
		die("IOAS");
	memfd = memfd_create("hwpt_client", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, LEN))
		die("memfd");
	/* 6.2's device: its selftest object and its own HWPT */
	expect(mock_domain(ioas, 0, &dev), 0, "MOCK_DOMAIN on the IOAS");

	expect(hwpt_alloc(IOMMU_HWPT_ALLOC_NEST_PARENT, dev.stdev, ioas, 0,
			  NULL, 0, &id),
	       ENOTTY, "IOMMU_HWPT_ALLOC");
	expect(hwpt_alloc(0, dev.stdev, dev.hwpt, IOMMU_HWPT_DATA_SELFTEST,
			  &data, sizeof(data), &id),
	       ENOTTY, "IOMMU_HWPT_ALLOC nested");
	info.data_len = sizeof(hw);
	expect(hw_info(sizeof(info), 0, dev.stdev, 0, &hw, &info), ENOTTY,
	       "IOMMU_GET_HW_INFO");
	check(info.data_len == sizeof(hw) && !hw.test_reg,
	      "  nothing written");
	expect(set_dirty(dev.hwpt, IOMMU_HWPT_DIRTY_TRACKING_ENABLE), ENOTTY,
	       "IOMMU_HWPT_SET_DIRTY_TRACKING");
	expect(get_dirty(dev.hwpt, 0, BASE, LEN, PAGE, &bitmap), ENOTTY,
	       "IOMMU_HWPT_GET_DIRTY_BITMAP");
	expect(invalidate(dev.hwpt, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, &inv,
			  sizeof(inv), &num),
	       ENOTTY, "IOMMU_HWPT_INVALIDATE");
	check(num == 1, "  entry_num not written");
	expect(map_file(MAP_RW | IOMMU_IOAS_MAP_FIXED_IOVA, ioas, memfd, 0,
			LEN, &iova),
	       ENOTTY, "IOMMU_IOAS_MAP_FILE");

	cmd.mock_domain_replace.pt_id = ioas;
	expect(test_cmd(&cmd, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, dev.stdev),
	       EOPNOTSUPP, "test op 10 MOCK_DOMAIN_REPLACE");
	memset(&cmd, 0, sizeof(cmd));
	test_cmd(&cmd, IOMMU_TEST_OP_CREATE_ACCESS, ioas);
	id = cmd.create_access.out_access_fd;
	memset(&cmd, 0, sizeof(cmd));
	cmd.access_replace_ioas.ioas_id = ioas;
	expect(test_cmd(&cmd, IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, id),
	       EOPNOTSUPP, "test op 11 ACCESS_REPLACE_IOAS");
	close(id);
	memset(&cmd, 0, sizeof(cmd));
	cmd.mock_domain_flags.dev_flags = MOCK_FLAGS_DEVICE_NO_DIRTY;
	expect(test_cmd(&cmd, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, ioas),
	       EOPNOTSUPP, "test op 12 MOCK_DOMAIN_FLAGS");
	memset(&cmd, 0, sizeof(cmd));
	cmd.dirty.iova = BASE;
	cmd.dirty.length = LEN;
	cmd.dirty.page_size = PAGE;
	cmd.dirty.uptr = (uintptr_t)&bitmap;
	expect(test_cmd(&cmd, IOMMU_TEST_OP_DIRTY, dev.hwpt), EOPNOTSUPP,
	       "test op 13 DIRTY");
	memset(&cmd, 0, sizeof(cmd));
	cmd.check_iotlb.iotlb = IOMMU_TEST_IOTLB_DEFAULT;
	expect(test_cmd(&cmd, IOMMU_TEST_OP_MD_CHECK_IOTLB, dev.hwpt),
	       EOPNOTSUPP, "test op 14 MD_CHECK_IOTLB");
	memset(&cmd, 0, sizeof(cmd));
	cmd.check_dev_cache.cache = IOMMU_TEST_DEV_CACHE_DEFAULT;
	expect(test_cmd(&cmd, IOMMU_TEST_OP_DEV_CHECK_CACHE, dev.stdev),
	       EOPNOTSUPP, "test op 16 DEV_CHECK_CACHE");
	memset(&cmd, 0, sizeof(cmd));
	cmd.dmabuf_get.length = PAGE;
	expect(test_cmd(&cmd, IOMMU_TEST_OP_DMABUF_GET, 0), EOPNOTSUPP,
	       "test op 22 DMABUF_GET");
	memset(&cmd, 0, sizeof(cmd));
	cmd.dmabuf_revoke.dmabuf_fd = memfd;
	cmd.dmabuf_revoke.revoked = 1;
	expect(test_cmd(&cmd, IOMMU_TEST_OP_DMABUF_REVOKE, 0), EOPNOTSUPP,
	       "test op 23 DMABUF_REVOKE");
	expect(pasid_attach(dev.stdev, 1, dev.hwpt), EOPNOTSUPP,
	       "test op 18 PASID_ATTACH");
	expect(pasid_replace(dev.stdev, 1, dev.hwpt), EOPNOTSUPP,
	       "test op 19 PASID_REPLACE");
	expect(pasid_detach(dev.stdev, 0), EOPNOTSUPP,
	       "test op 20 PASID_DETACH");
	expect(pasid_check(dev.stdev, 0, dev.hwpt), EOPNOTSUPP,
	       "test op 21 PASID_CHECK_HWPT");

	/* what 6.2 had still works */
	expect(destroy(dev.stdev), 0, "IOMMU_DESTROY of the device");
	expect(destroy(dev.hwpt), 0, "IOMMU_DESTROY of its HWPT (6.2 kept it)");
	expect(destroy(ioas), 0, "IOMMU_DESTROY of the IOAS");
	close(memfd);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (iommufd < 0)
		die("open /dev/iommu");
	buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		die("mmap");
	memset(buf, FILL, LEN);
	if (!strcmp(mode, "7.2"))
		run_7_2();
	else if (!strcmp(mode, "6.2"))
		run_6_2();
	else
		return fprintf(stderr, "usage: hwpt_client 7.2|6.2\n"), 1;
	close(iommufd);
	return 0;
}
