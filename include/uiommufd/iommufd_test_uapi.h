/* SPDX-License-Identifier: MIT */
/*
 * The iommufd selftest interface: IOMMU_TEST_CMD on /dev/iommu, which the
 * kernel offers only when built with CONFIG_IOMMUFD_TEST and uiommufd
 * always offers. Written for uiommufd from the project's ABI tables; the
 * values and layouts are the kernel's (drivers/iommu/iommufd/iommufd_test.h,
 * newest), so the kernel's selftests build against this header.
 *
 * Coexisting with other definitions of the same names:
 *
 *  - The kernel's iommufd_test.h is guarded by _UAPI_IOMMUFD_TEST_H. The
 *    part of this header that it also defines is skipped when that guard
 *    is already defined, and this header defines the guard, so the two
 *    can be included together in either order. What only uiommufd has
 *    (struct iommu_test_cmd_v6_2, the size macros) is always defined.
 *  - The library's mock domain (lib/domains/mock_domain.h) takes its
 *    constants from this header, so there is one definition of each.
 *  - Kernel selftest sources define MOCK_PAGE_SIZE themselves; the guard
 *    makes the ordering "theirs first" work.
 */
#ifndef UIOMMUFD_IOMMUFD_TEST_UAPI_H
#define UIOMMUFD_IOMMUFD_TEST_UAPI_H

#include <linux/ioctl.h>
#include <linux/types.h>

#include "iommufd_uapi.h"

/*
 * The mock domain: IOVA aperture [16 MiB, 2 GiB - 1], IO page of 2 KiB
 * (half a 4 KiB CPU page, so sub-page paths run), huge IO page of 512 IO
 * pages in the MOCK_IOMMUPT_HUGE format.
 */
#ifndef MOCK_APERTURE_START
#define MOCK_APERTURE_START 0x1000000ULL
#endif
#ifndef MOCK_APERTURE_LAST
#define MOCK_APERTURE_LAST 0x7fffffffULL
#endif
#ifndef MOCK_PAGE_SIZE
#define MOCK_PAGE_SIZE 0x800ULL
#endif
#ifndef MOCK_HUGE_PAGE_SIZE
#define MOCK_HUGE_PAGE_SIZE (512 * MOCK_PAGE_SIZE)
#endif

#ifndef _UAPI_IOMMUFD_TEST_H
#define _UAPI_IOMMUFD_TEST_H

/* IOMMU_TEST_CMD operations (struct iommu_test_cmd.op); 0 is not an op. */
enum {
	IOMMU_TEST_OP_ADD_RESERVED = 1,
	IOMMU_TEST_OP_MOCK_DOMAIN = 2,
	IOMMU_TEST_OP_MD_CHECK_MAP = 3,
	IOMMU_TEST_OP_MD_CHECK_REFS = 4,
	IOMMU_TEST_OP_CREATE_ACCESS = 5,
	IOMMU_TEST_OP_DESTROY_ACCESS_PAGES = 6,
	IOMMU_TEST_OP_ACCESS_PAGES = 7,
	IOMMU_TEST_OP_ACCESS_RW = 8,
	IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT = 9,
	/* Linux 6.2 ends here. */
	IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE = 10,
	IOMMU_TEST_OP_ACCESS_REPLACE_IOAS = 11,
	IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS = 12,
	IOMMU_TEST_OP_DIRTY = 13,
	IOMMU_TEST_OP_MD_CHECK_IOTLB = 14,
	IOMMU_TEST_OP_TRIGGER_IOPF = 15,
	IOMMU_TEST_OP_DEV_CHECK_CACHE = 16,
	IOMMU_TEST_OP_TRIGGER_VEVENT = 17,
	IOMMU_TEST_OP_PASID_ATTACH = 18,
	IOMMU_TEST_OP_PASID_REPLACE = 19,
	IOMMU_TEST_OP_PASID_DETACH = 20,
	IOMMU_TEST_OP_PASID_CHECK_HWPT = 21,
	IOMMU_TEST_OP_DMABUF_GET = 22,
	IOMMU_TEST_OP_DMABUF_REVOKE = 23,
};

/* iommu_hwpt_selftest.pagetable_type */
enum {
	MOCK_IOMMUPT_DEFAULT = 0,
	MOCK_IOMMUPT_HUGE = 1,
};

/* access_pages.flags; MOCK_FLAGS_ACCESS_SYZ is also valid in access_rw */
enum {
	MOCK_FLAGS_ACCESS_WRITE = 1 << 0,
	MOCK_FLAGS_ACCESS_SYZ = 1 << 16,
};

/* access_rw.flags */
enum {
	MOCK_ACCESS_RW_WRITE = 1 << 0,
	MOCK_ACCESS_RW_SLOW_PATH = 1 << 2,
};

/* create_access.flags */
enum {
	MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES = 1 << 0,
};

/* mock_domain_flags.dev_flags (bit 1 was HUGE_IOVA before Linux 7.2) */
enum {
	MOCK_FLAGS_DEVICE_NO_DIRTY = 1 << 0,
	MOCK_FLAGS_DEVICE_PASID = 1 << 2,
};

/* Entries of the mock IOTLB (check_iotlb.id) and device cache. */
enum {
	MOCK_NESTED_DOMAIN_IOTLB_ID_MAX = 3,
	MOCK_NESTED_DOMAIN_IOTLB_NUM = 4,
};

enum {
	MOCK_DEV_CACHE_ID_MAX = 3,
	MOCK_DEV_CACHE_NUM = 4,
};

/* The mock driver fails PASID_REPLACE to this PASID with ENOMEM. */
#define IOMMU_TEST_PASID_RESERVED 1024
/* out_max_pasid_log2 of a device made with MOCK_FLAGS_DEVICE_PASID */
#define MOCK_PASID_WIDTH 20

/*
 * struct iommu_test_cmd, newest layout (72 bytes): a 16-byte header, one
 * union member per op at offset 16 (48 bytes), then @last. @id is the
 * object the op works on (see each op); @__reserved stays 0.
 */
struct iommu_test_cmd {
	__u32 size;
	__u32 op;
	__u32 id;
	__u32 __reserved;
	union {
		/* ADD_RESERVED: reserve [start, +length) in IOAS @id */
		struct {
			__aligned_u64 start;
			__aligned_u64 length;
		} add_reserved;
		/* MOCK_DOMAIN: attach a new mock device to IOAS/HWPT @id */
		struct {
			__u32 out_stdev_id;
			__u32 out_hwpt_id;
			__u32 out_idev_id;
		} mock_domain;
		/* MOCK_DOMAIN_FLAGS: as MOCK_DOMAIN, MOCK_FLAGS_DEVICE_* */
		struct {
			__u32 out_stdev_id;
			__u32 out_hwpt_id;
			__u32 out_idev_id;
			__u32 dev_flags;
		} mock_domain_flags;
		/* MOCK_DOMAIN_REPLACE: attach stdev @id to @pt_id (in/out) */
		struct {
			__u32 pt_id;
		} mock_domain_replace;
		/* MD_CHECK_MAP: HWPT @id maps [iova, +length) to @uptr */
		struct {
			__aligned_u64 iova;
			__aligned_u64 length;
			__aligned_u64 uptr;
		} check_map;
		/* MD_CHECK_REFS: [uptr, +length) pages pinned @refs times */
		struct {
			__aligned_u64 length;
			__aligned_u64 uptr;
			__u32 refs;
		} check_refs;
		/* CREATE_ACCESS: access on IOAS @id, returned as an fd */
		struct {
			__u32 out_access_fd;
			__u32 flags;
		} create_access;
		/* DESTROY_ACCESS_PAGES: unpin an ACCESS_PAGES item of fd @id */
		struct {
			__u32 access_pages_id;
		} destroy_access_pages;
		/* ACCESS_PAGES: pin [iova, +length) through access fd @id */
		struct {
			__u32 flags;
			__u32 out_access_pages_id;
			__aligned_u64 iova;
			__aligned_u64 length;
			__aligned_u64 uptr;
		} access_pages;
		/* ACCESS_RW: copy IOVA <-> @uptr through access fd @id */
		struct {
			__aligned_u64 iova;
			__aligned_u64 length;
			__aligned_u64 uptr;
			__u32 flags;
		} access_rw;
		/* SET_TEMP_MEMORY_LIMIT: bytes for temporary batch memory */
		struct {
			__u32 limit;
		} memory_limit;
		/* ACCESS_REPLACE_IOAS: move access fd @id to @ioas_id */
		struct {
			__u32 ioas_id;
		} access_replace_ioas;
		/* DIRTY: mark dirty the bits set in the bitmap at @uptr */
		struct {
			__u32 flags;
			__aligned_u64 iova;
			__aligned_u64 length;
			__aligned_u64 page_size;
			__aligned_u64 uptr;
			__aligned_u64 out_nr_dirty;
		} dirty;
		/* MD_CHECK_IOTLB: mock IOTLB entry @id of nested HWPT @id */
		struct {
			__u32 id;
			__u32 iotlb;
		} check_iotlb;
		/* TRIGGER_IOPF: inject an I/O page fault for idev @dev_id */
		struct {
			__u32 dev_id;
			__u32 pasid;
			__u32 grpid;
			__u32 perm;
			__u64 addr;
		} trigger_iopf;
		/* DEV_CHECK_CACHE: mock device cache entry of idev @id */
		struct {
			__u32 id;
			__u32 cache;
		} check_dev_cache;
		/* TRIGGER_VEVENT: raise a vIOMMU event for idev @dev_id */
		struct {
			__u32 dev_id;
		} trigger_vevent;
		/* PASID_ATTACH: attach @pasid of stdev @id to @pt_id */
		struct {
			__u32 pasid;
			__u32 pt_id;
		} pasid_attach;
		/* PASID_REPLACE: replace the domain of @pasid by @pt_id */
		struct {
			__u32 pasid;
			__u32 pt_id;
		} pasid_replace;
		/* PASID_DETACH */
		struct {
			__u32 pasid;
		} pasid_detach;
		/* PASID_CHECK_HWPT: @pasid is attached to @hwpt_id (0: none) */
		struct {
			__u32 pasid;
			__u32 hwpt_id;
		} pasid_check;
		/* DMABUF_GET: new dma-buf, its fd is the ioctl's result */
		struct {
			__u32 length;
			__u32 open_flags;
		} dmabuf_get;
		/* DMABUF_REVOKE: set or clear the revoked state of a dma-buf */
		struct {
			__s32 dmabuf_fd;
			__u32 revoked;
		} dmabuf_revoke;
	};
	__u32 last;
};
#define IOMMU_TEST_CMD _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 32)

/* Hardware info of the mock device (IOMMU_GET_HW_INFO). */
#define IOMMU_HW_INFO_TYPE_SELFTEST 0xfeedbeef
#define IOMMU_HW_INFO_SELFTEST_REGVAL 0xdeadbeef

struct iommu_test_hw_info {
	__u32 flags;
	__u32 test_reg;
};

/* IOMMU_HWPT_ALLOC data_type of a mock nested domain. */
#define IOMMU_HWPT_DATA_SELFTEST 0xdead
#define IOMMU_TEST_IOTLB_DEFAULT 0xbadbeef
#define IOMMU_TEST_DEV_CACHE_DEFAULT 0xbaddad

/* @iotlb: initial value of every IOTLB entry; MOCK_IOMMUPT_* format. */
struct iommu_hwpt_selftest {
	__u32 iotlb;
	__u32 pagetable_type;
};

/* IOMMU_HWPT_INVALIDATE entries of a mock nested domain. */
#define IOMMU_HWPT_INVALIDATE_DATA_SELFTEST 0xdeadbeef
#define IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID 0xdadbeef

/* Invalidate-entry flag: every IOTLB / cache id, not just @iotlb_id. */
#define IOMMU_TEST_INVALIDATE_FLAG_ALL (1 << 0)

struct iommu_hwpt_invalidate_selftest {
	__u32 flags;
	__u32 iotlb_id;
};

/* The mock vIOMMU: @out_data echoes @in_data; an mmap()able region. */
#define IOMMU_VIOMMU_TYPE_SELFTEST 0xdeadbeef

struct iommu_viommu_selftest {
	__u32 in_data;
	__u32 out_data;
	__aligned_u64 out_mmap_offset;
	__aligned_u64 out_mmap_length;
};

/* vIOMMU invalidation of mock device cache entry @cache_id of @vdev_id. */
#define IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST 0xdeadbeef

struct iommu_viommu_invalidate_selftest {
	__u32 flags;
	__u32 vdev_id;
	__u32 cache_id;
};

/* Payload of a mock vEVENTQ record: the vdevice's virtual id. */
#define IOMMU_VEVENTQ_TYPE_SELFTEST 0xbeefbeef

struct iommu_viommu_event_selftest {
	__u32 virt_id;
};

#define IOMMU_HW_QUEUE_TYPE_SELFTEST 0xdeadbeef
/* HW queue indexes 0 .. IOMMU_TEST_HW_QUEUE_MAX - 1 */
#define IOMMU_TEST_HW_QUEUE_MAX 2

#endif /* _UAPI_IOMMUFD_TEST_H */

/*
 * uiommufd only: struct iommu_test_cmd as Linux 6.2 defined it (56 bytes,
 * union of 32 bytes at 16, @last at 48), which 6.2-era callers still
 * send. The nine 6.2 ops have the same numbers and, apart from the
 * MOCK_DOMAIN output words, the same union layout as today's struct.
 */
struct iommu_test_cmd_v6_2 {
	__u32 size;
	__u32 op;
	__u32 id;
	__u32 __reserved;
	union {
		struct {
			__aligned_u64 start;
			__aligned_u64 length;
		} add_reserved;
		/* out_device_id names the selftest object (today: stdev) */
		struct {
			__u32 out_device_id;
			__u32 out_hwpt_id;
		} mock_domain;
		struct {
			__aligned_u64 iova;
			__aligned_u64 length;
			__aligned_u64 uptr;
		} check_map;
		struct {
			__aligned_u64 length;
			__aligned_u64 uptr;
			__u32 refs;
		} check_refs;
		struct {
			__u32 out_access_fd;
			__u32 flags;
		} create_access;
		struct {
			__u32 access_pages_id;
		} destroy_access_pages;
		struct {
			__u32 flags;
			__u32 out_access_pages_id;
			__aligned_u64 iova;
			__aligned_u64 length;
			__aligned_u64 uptr;
		} access_pages;
		struct {
			__aligned_u64 iova;
			__aligned_u64 length;
			__aligned_u64 uptr;
			__u32 flags;
		} access_rw;
		struct {
			__u32 limit;
		} memory_limit;
	};
	__u32 last;
};

/*
 * Sizes of the two layouts and their minimum sizes (end of @last): Linux
 * 6.2 took 56 bytes from 52, today's kernels take 72 from 68.
 */
#define IOMMU_TEST_CMD_SIZE 72
#define IOMMU_TEST_CMD_MIN_SIZE 68
#define IOMMU_TEST_CMD_V6_2_SIZE 56
#define IOMMU_TEST_CMD_V6_2_MIN_SIZE 52

#endif /* UIOMMUFD_IOMMUFD_TEST_UAPI_H */
