/* SPDX-License-Identifier: MIT */
/*
 * The /dev/iommu ioctl ABI (Linux iommufd uAPI, up to Linux 7.2), written
 * for uiommufd from the project's ABI tables (docs: shared spec UAPI.md).
 *
 * Every request number, structure layout, flag and enum value here is the
 * kernel's, byte for byte: a program built against the kernel's own
 * <linux/iommufd.h> runs unchanged against uiommufd, and a program built
 * against this header runs unchanged against a kernel.
 *
 * Coexisting with the kernel's header
 * -----------------------------------
 * The kernel's header is guarded by _UAPI_IOMMUFD_H in the kernel source
 * tree (include/uapi/linux/iommufd.h); "make headers_install" strips the
 * "_UAPI" prefix from uapi include guards, so the copy installed under
 * /usr/include (and the copies vendored by QEMU and others) is guarded by
 * _IOMMUFD_H. This header tests and defines both names, so:
 *
 *  - this header first, then <linux/iommufd.h>: the kernel's header sees
 *    its guard already defined and adds nothing;
 *  - <linux/iommufd.h> first, then this header: this header adds nothing
 *    and the kernel's definitions are used;
 *  - either one twice: the usual include guard.
 *
 * Both copies carry the same ABI, so every name that both define has the
 * same value whichever copy wins. The only difference an ordering can make
 * is that an installed kernel header older than 7.2 lacks the newer
 * commands; a program that needs them and also includes an older system
 * header must include this one first. UIOMMUFD_IOMMUFD_UAPI_OWN is defined
 * to 1 when the definitions in effect are this file's.
 *
 * Deliberately not done: including <linux/iommufd.h> via __has_include
 * instead of defining things here. What a program could use would then
 * depend on the version of the installed kernel headers (Debian 12 has
 * none, 6.x distributions have a subset of the commands), and a build of
 * uiommufd would silently change with the build machine.
 *
 * All structures are naturally aligned and every 64-bit member is
 * __aligned_u64, so the layouts are identical on 32- and 64-bit ABIs.
 * Object IDs are __u32, never 0. Every command argument starts with
 * "__u32 size": the byte size of the structure as the caller knows it.
 */
#if !defined(_IOMMUFD_H) && !defined(_UAPI_IOMMUFD_H)
#define _IOMMUFD_H
#define _UAPI_IOMMUFD_H
#define UIOMMUFD_IOMMUFD_UAPI_OWN 1

#include <linux/ioctl.h>
#include <linux/types.h>

#ifndef __aligned_u64
#define __aligned_u64 __u64 __attribute__((aligned(8)))
#endif
#ifndef __aligned_le64
#define __aligned_le64 __le64 __attribute__((aligned(8)))
#endif

/*
 * Requests are _IO(IOMMUFD_TYPE, nr): no direction and no size bits, so the
 * request value is 0x3b00 | nr. The size travels inside the structure.
 */
#define IOMMUFD_TYPE (';')

enum {
	IOMMUFD_CMD_BASE = 0x80,
	IOMMUFD_CMD_DESTROY = IOMMUFD_CMD_BASE,
	IOMMUFD_CMD_IOAS_ALLOC = 0x81,
	IOMMUFD_CMD_IOAS_ALLOW_IOVAS = 0x82,
	IOMMUFD_CMD_IOAS_COPY = 0x83,
	IOMMUFD_CMD_IOAS_IOVA_RANGES = 0x84,
	IOMMUFD_CMD_IOAS_MAP = 0x85,
	IOMMUFD_CMD_IOAS_UNMAP = 0x86,
	IOMMUFD_CMD_OPTION = 0x87,
	IOMMUFD_CMD_VFIO_IOAS = 0x88,
	IOMMUFD_CMD_HWPT_ALLOC = 0x89,
	IOMMUFD_CMD_GET_HW_INFO = 0x8a,
	IOMMUFD_CMD_HWPT_SET_DIRTY_TRACKING = 0x8b,
	IOMMUFD_CMD_HWPT_GET_DIRTY_BITMAP = 0x8c,
	IOMMUFD_CMD_HWPT_INVALIDATE = 0x8d,
	IOMMUFD_CMD_FAULT_QUEUE_ALLOC = 0x8e,
	IOMMUFD_CMD_IOAS_MAP_FILE = 0x8f,
	IOMMUFD_CMD_VIOMMU_ALLOC = 0x90,
	IOMMUFD_CMD_VDEVICE_ALLOC = 0x91,
	IOMMUFD_CMD_IOAS_CHANGE_PROCESS = 0x92,
	IOMMUFD_CMD_VEVENTQ_ALLOC = 0x93,
	IOMMUFD_CMD_HW_QUEUE_ALLOC = 0x94,
};

/*
 * IOMMU_DESTROY: destroy the object @id, whatever its type (IOAS, HWPT,
 * device, fault queue, vIOMMU, vdevice, vEVENTQ, HW queue, ...).
 */
struct iommu_destroy {
	__u32 size;
	__u32 id;
};
#define IOMMU_DESTROY _IO(IOMMUFD_TYPE, IOMMUFD_CMD_DESTROY)

/*
 * IOMMU_IOAS_ALLOC: create an empty IO address space. @flags must be 0;
 * the new IOAS id is returned in @out_ioas_id.
 */
struct iommu_ioas_alloc {
	__u32 size;
	__u32 flags;
	__u32 out_ioas_id;
};
#define IOMMU_IOAS_ALLOC _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_ALLOC)

/* An inclusive IOVA range [start, last]. */
struct iommu_iova_range {
	__aligned_u64 start;
	__aligned_u64 last;
};

/*
 * IOMMU_IOAS_IOVA_RANGES: report the IOVA ranges of @ioas_id that can be
 * mapped. In: @num_iovas entries of struct iommu_iova_range available at
 * @allowed_iovas. Out: @num_iovas is the number of ranges (EMSGSIZE when
 * the array was too small; the entries that fit are still written) and
 * @out_iova_alignment the alignment every IOVA and length must have.
 */
struct iommu_ioas_iova_ranges {
	__u32 size;
	__u32 ioas_id;
	__u32 num_iovas;
	__u32 __reserved;
	__aligned_u64 allowed_iovas;
	__aligned_u64 out_iova_alignment;
};
#define IOMMU_IOAS_IOVA_RANGES _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_IOVA_RANGES)

/*
 * IOMMU_IOAS_ALLOW_IOVAS: restrict the IOVAs the kernel may choose by
 * itself for @ioas_id to the @num_iovas struct iommu_iova_range entries at
 * @allowed_iovas. num_iovas = 0 lifts the restriction.
 */
struct iommu_ioas_allow_iovas {
	__u32 size;
	__u32 ioas_id;
	__u32 num_iovas;
	__u32 __reserved;
	__aligned_u64 allowed_iovas;
};
#define IOMMU_IOAS_ALLOW_IOVAS _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_ALLOW_IOVAS)

/*
 * Flags of IOMMU_IOAS_MAP, IOMMU_IOAS_MAP_FILE and IOMMU_IOAS_COPY.
 * FIXED_IOVA: @iova is an input; otherwise the kernel picks it.
 * WRITEABLE / READABLE: the permissions of the DMA.
 */
enum iommufd_ioas_map_flags {
	IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0,
	IOMMU_IOAS_MAP_WRITEABLE = 1 << 1,
	IOMMU_IOAS_MAP_READABLE = 1 << 2,
};

/*
 * IOMMU_IOAS_MAP: map the process memory [@user_va, @user_va + @length)
 * into @ioas_id at @iova (an output unless FIXED_IOVA is set).
 */
struct iommu_ioas_map {
	__u32 size;
	__u32 flags;
	__u32 ioas_id;
	__u32 __reserved;
	__aligned_u64 user_va;
	__aligned_u64 length;
	__aligned_u64 iova;
};
#define IOMMU_IOAS_MAP _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_MAP)

/*
 * IOMMU_IOAS_MAP_FILE: as IOMMU_IOAS_MAP, but the memory is the byte range
 * [@start, @start + @length) of the file @fd (memfd, dma-buf).
 */
struct iommu_ioas_map_file {
	__u32 size;
	__u32 flags;
	__u32 ioas_id;
	__s32 fd;
	__aligned_u64 start;
	__aligned_u64 length;
	__aligned_u64 iova;
};
#define IOMMU_IOAS_MAP_FILE _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_MAP_FILE)

/*
 * IOMMU_IOAS_COPY: map into @dst_ioas_id, at @dst_iova, the pages that are
 * mapped in @src_ioas_id at [@src_iova, @src_iova + @length). @flags are
 * the map flags; without FIXED_IOVA @dst_iova is an output.
 */
struct iommu_ioas_copy {
	__u32 size;
	__u32 flags;
	__u32 dst_ioas_id;
	__u32 src_ioas_id;
	__aligned_u64 length;
	__aligned_u64 dst_iova;
	__aligned_u64 src_iova;
};
#define IOMMU_IOAS_COPY _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_COPY)

/*
 * IOMMU_IOAS_UNMAP: unmap every mapping that lies entirely inside
 * [@iova, @iova + @length); @length returns the number of bytes unmapped.
 */
struct iommu_ioas_unmap {
	__u32 size;
	__u32 ioas_id;
	__aligned_u64 iova;
	__aligned_u64 length;
};
#define IOMMU_IOAS_UNMAP _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_UNMAP)

/*
 * Option ids of IOMMU_OPTION. RLIMIT_MODE is global (object_id 0): 0 =
 * pinned pages are charged per user, 1 = per process (needs privilege).
 * HUGE_PAGES is per IOAS (object_id = IOAS id): 1 = large pages may be
 * used (the default), 0 = every mapping is split to PAGE_SIZE.
 */
enum iommufd_option {
	IOMMU_OPTION_RLIMIT_MODE = 0,
	IOMMU_OPTION_HUGE_PAGES = 1,
};

enum iommufd_option_ops {
	IOMMU_OPTION_OP_SET = 0,
	IOMMU_OPTION_OP_GET = 1,
};

/* IOMMU_OPTION: set or get (@op) option @option_id of @object_id. */
struct iommu_option {
	__u32 size;
	__u32 option_id;
	__u16 op;
	__u16 __reserved;
	__u32 object_id;
	__aligned_u64 val64;
};
#define IOMMU_OPTION _IO(IOMMUFD_TYPE, IOMMUFD_CMD_OPTION)

enum iommufd_vfio_ioas_op {
	IOMMU_VFIO_IOAS_GET = 0,
	IOMMU_VFIO_IOAS_SET = 1,
	IOMMU_VFIO_IOAS_CLEAR = 2,
};

/*
 * IOMMU_VFIO_IOAS: get, set or clear (@op) the IOAS that the VFIO type1
 * container ioctls on this file operate on.
 */
struct iommu_vfio_ioas {
	__u32 size;
	__u32 ioas_id;
	__u16 op;
	__u16 __reserved;
};
#define IOMMU_VFIO_IOAS _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VFIO_IOAS)

/*
 * Flags of IOMMU_HWPT_ALLOC.
 * NEST_PARENT: the HWPT may be the parent of nested HWPTs / vIOMMUs.
 * DIRTY_TRACKING: the domain must be able to track dirty IOVAs.
 * FAULT_ID_VALID: @fault_id names a fault queue for I/O page faults.
 * PASID: the domain may be attached to PASIDs.
 */
enum iommufd_hwpt_alloc_flags {
	IOMMU_HWPT_ALLOC_NEST_PARENT = 1 << 0,
	IOMMU_HWPT_ALLOC_DIRTY_TRACKING = 1 << 1,
	IOMMU_HWPT_FAULT_ID_VALID = 1 << 2,
	IOMMU_HWPT_ALLOC_PASID = 1 << 3,
};

/* Flags of struct iommu_hwpt_vtd_s1. */
enum iommu_hwpt_vtd_s1_flags {
	IOMMU_VTD_S1_SRE = 1 << 0,
	IOMMU_VTD_S1_EAFE = 1 << 1,
	IOMMU_VTD_S1_WPE = 1 << 2,
};

/*
 * Intel VT-d stage-1 page table (IOMMU_HWPT_DATA_VTD_S1): guest page table
 * root @pgtbl_addr, input address width @addr_width.
 */
struct iommu_hwpt_vtd_s1 {
	__aligned_u64 flags;
	__aligned_u64 pgtbl_addr;
	__u32 addr_width;
	__u32 __reserved;
};

/* ARM SMMUv3 nested STE (IOMMU_HWPT_DATA_ARM_SMMUV3), little endian. */
struct iommu_hwpt_arm_smmuv3 {
	__aligned_le64 ste[2];
};

/* AMD guest device table entry (IOMMU_HWPT_DATA_AMD_GUEST). */
struct iommu_hwpt_amd_guest {
	__aligned_u64 dte[4];
};

/* Type of the driver data of IOMMU_HWPT_ALLOC (@data_type). */
enum iommu_hwpt_data_type {
	IOMMU_HWPT_DATA_NONE = 0,
	IOMMU_HWPT_DATA_VTD_S1 = 1,
	IOMMU_HWPT_DATA_ARM_SMMUV3 = 2,
	IOMMU_HWPT_DATA_AMD_GUEST = 3,
};

/*
 * IOMMU_HWPT_ALLOC: allocate a HW page table for device @dev_id on @pt_id.
 * @pt_id an IOAS gives a paging domain; a nesting-parent HWPT or a vIOMMU
 * gives a nested domain described by @data_type, @data_len and @data_uptr.
 * The new HWPT id is returned in @out_hwpt_id. Callers older than the
 * @data_type member send 24 bytes.
 */
struct iommu_hwpt_alloc {
	__u32 size;
	__u32 flags;
	__u32 dev_id;
	__u32 pt_id;
	__u32 out_hwpt_id;
	__u32 __reserved;
	__u32 data_type;
	__u32 data_len;
	__aligned_u64 data_uptr;
	__u32 fault_id;
	__u32 __reserved2;
};
#define IOMMU_HWPT_ALLOC _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_ALLOC)

/* Flags of struct iommu_hw_info_vtd. */
enum iommu_hw_info_vtd_flags {
	IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17 = 1 << 0,
};

/* Intel VT-d hardware info: raw capability registers. */
struct iommu_hw_info_vtd {
	__u32 flags;
	__u32 __reserved;
	__aligned_u64 cap_reg;
	__aligned_u64 ecap_reg;
};

/* ARM SMMUv3 hardware info: raw ID registers. */
struct iommu_hw_info_arm_smmuv3 {
	__u32 flags;
	__u32 __reserved;
	__u32 idr[6];
	__u32 iidr;
	__u32 aidr;
};

/* NVIDIA Tegra241 CMDQV hardware info. */
struct iommu_hw_info_tegra241_cmdqv {
	__u32 flags;
	__u8 version;
	__u8 log2vcmdqs;
	__u8 log2vsids;
	__u8 __reserved;
};

/* AMD IOMMU hardware info: extended feature registers. */
struct iommu_hw_info_amd {
	__aligned_u64 efr;
	__aligned_u64 efr2;
};

/* Type of the data returned by IOMMU_GET_HW_INFO. */
enum iommu_hw_info_type {
	IOMMU_HW_INFO_TYPE_NONE = 0,
	IOMMU_HW_INFO_TYPE_DEFAULT = 0,
	IOMMU_HW_INFO_TYPE_INTEL_VTD = 1,
	IOMMU_HW_INFO_TYPE_ARM_SMMUV3 = 2,
	IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV = 3,
	IOMMU_HW_INFO_TYPE_AMD = 4,
};

/* Bits of iommu_hw_info.out_capabilities. */
enum iommufd_hw_capabilities {
	IOMMU_HW_CAP_DIRTY_TRACKING = 1 << 0,
	IOMMU_HW_CAP_PCI_PASID_EXEC = 1 << 1,
	IOMMU_HW_CAP_PCI_PASID_PRIV = 1 << 2,
	IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED = 1 << 3,
};

/* Flags of IOMMU_GET_HW_INFO. INPUT_TYPE: @in_data_type is valid. */
enum iommufd_hw_info_flags {
	IOMMU_HW_INFO_FLAG_INPUT_TYPE = 1 << 0,
};

/*
 * IOMMU_GET_HW_INFO: copy the IOMMU hardware info of @dev_id to the
 * @data_len bytes at @data_uptr (a longer buffer gets its tail zeroed;
 * @data_len returns the length written). Out: @out_data_type, the PASID
 * width @out_max_pasid_log2 and the IOMMU_HW_CAP_* bits. Callers older
 * than @out_capabilities send 32 bytes.
 */
struct iommu_hw_info {
	__u32 size;
	__u32 flags;
	__u32 dev_id;
	__u32 data_len;
	__aligned_u64 data_uptr;
	union {
		__u32 in_data_type;
		__u32 out_data_type;
	};
	__u8 out_max_pasid_log2;
	__u8 __reserved[3];
	__aligned_u64 out_capabilities;
};
#define IOMMU_GET_HW_INFO _IO(IOMMUFD_TYPE, IOMMUFD_CMD_GET_HW_INFO)

enum iommufd_hwpt_set_dirty_tracking_flags {
	IOMMU_HWPT_DIRTY_TRACKING_ENABLE = 1 << 0,
};

/* IOMMU_HWPT_SET_DIRTY_TRACKING: start (flag ENABLE) or stop tracking. */
struct iommu_hwpt_set_dirty_tracking {
	__u32 size;
	__u32 flags;
	__u32 hwpt_id;
	__u32 __reserved;
};
#define IOMMU_HWPT_SET_DIRTY_TRACKING \
	_IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_SET_DIRTY_TRACKING)

/* NO_CLEAR: report the dirty bits without clearing them. */
enum iommufd_hwpt_get_dirty_bitmap_flags {
	IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR = 1 << 0,
};

/*
 * IOMMU_HWPT_GET_DIRTY_BITMAP: write one bit per @page_size unit of
 * [@iova, @iova + @length) of @hwpt_id to the bitmap at @data.
 */
struct iommu_hwpt_get_dirty_bitmap {
	__u32 size;
	__u32 hwpt_id;
	__u32 flags;
	__u32 __reserved;
	__aligned_u64 iova;
	__aligned_u64 length;
	__aligned_u64 page_size;
	__aligned_u64 data;
};
#define IOMMU_HWPT_GET_DIRTY_BITMAP \
	_IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_GET_DIRTY_BITMAP)

/* Type of the entries of IOMMU_HWPT_INVALIDATE (@data_type). */
enum iommu_hwpt_invalidate_data_type {
	IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 = 0,
	IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 = 1,
};

/* Flags of struct iommu_hwpt_vtd_s1_invalidate. */
enum iommu_hwpt_vtd_s1_invalidate_flags {
	IOMMU_VTD_INV_FLAGS_LEAF = 1 << 0,
};

/* Intel VT-d stage-1 invalidation of @npages pages from @addr. */
struct iommu_hwpt_vtd_s1_invalidate {
	__aligned_u64 addr;
	__aligned_u64 npages;
	__u32 flags;
	__u32 __reserved;
};

/* ARM SMMUv3 invalidation command, little endian. */
struct iommu_viommu_arm_smmuv3_invalidate {
	__aligned_le64 cmd[2];
};

/*
 * IOMMU_HWPT_INVALIDATE: hand @entry_num entries of @entry_len bytes each,
 * of type @data_type, at @data_uptr to the nested HWPT or vIOMMU @hwpt_id.
 * @entry_num returns the number of entries handled.
 */
struct iommu_hwpt_invalidate {
	__u32 size;
	__u32 hwpt_id;
	__aligned_u64 data_uptr;
	__u32 data_type;
	__u32 entry_len;
	__u32 entry_num;
	__u32 __reserved;
};
#define IOMMU_HWPT_INVALIDATE _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_INVALIDATE)

/* Flags of struct iommu_hwpt_pgfault. */
enum iommu_hwpt_pgfault_flags {
	IOMMU_PGFAULT_FLAGS_PASID_VALID = 1 << 0,
	IOMMU_PGFAULT_FLAGS_LAST_PAGE = 1 << 1,
};

/* Access that faulted (iommu_hwpt_pgfault.perm). */
enum iommu_hwpt_pgfault_perm {
	IOMMU_PGFAULT_PERM_READ = 1 << 0,
	IOMMU_PGFAULT_PERM_WRITE = 1 << 1,
	IOMMU_PGFAULT_PERM_EXEC = 1 << 2,
	IOMMU_PGFAULT_PERM_PRIV = 1 << 3,
};

/*
 * One I/O page fault, as read() from a fault queue fd: device @dev_id,
 * @pasid (if PASID_VALID), page request group @grpid, @perm, faulting
 * @addr and @length; @cookie identifies the fault in the response.
 */
struct iommu_hwpt_pgfault {
	__u32 flags;
	__u32 dev_id;
	__u32 pasid;
	__u32 grpid;
	__u32 perm;
	__u32 __reserved;
	__aligned_u64 addr;
	__u32 length;
	__u32 cookie;
};

enum iommufd_page_response_code {
	IOMMUFD_PAGE_RESP_SUCCESS = 0,
	IOMMUFD_PAGE_RESP_INVALID = 1,
};

/* The answer to a fault, as write() to a fault queue fd. */
struct iommu_hwpt_page_response {
	__u32 cookie;
	__u32 code;
};

/*
 * IOMMU_FAULT_QUEUE_ALLOC: create a fault queue; returns its object id
 * and a file descriptor delivering struct iommu_hwpt_pgfault records.
 */
struct iommu_fault_alloc {
	__u32 size;
	__u32 flags;
	__u32 out_fault_id;
	__u32 out_fault_fd;
};
#define IOMMU_FAULT_QUEUE_ALLOC _IO(IOMMUFD_TYPE, IOMMUFD_CMD_FAULT_QUEUE_ALLOC)

enum iommu_viommu_type {
	IOMMU_VIOMMU_TYPE_DEFAULT = 0,
	IOMMU_VIOMMU_TYPE_ARM_SMMUV3 = 1,
	IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV = 2,
};

/* Tegra241 CMDQV vIOMMU data: where to mmap() the VINTF page. */
struct iommu_viommu_tegra241_cmdqv {
	__aligned_u64 out_vintf_mmap_offset;
	__aligned_u64 out_vintf_mmap_length;
};

/*
 * IOMMU_VIOMMU_ALLOC: create a vIOMMU of @type for @dev_id on the
 * nesting-parent HWPT @hwpt_id, with optional driver data at @data_uptr.
 * Callers older than @data_len send 24 bytes.
 */
struct iommu_viommu_alloc {
	__u32 size;
	__u32 flags;
	__u32 type;
	__u32 dev_id;
	__u32 hwpt_id;
	__u32 out_viommu_id;
	__u32 data_len;
	__u32 __reserved;
	__aligned_u64 data_uptr;
};
#define IOMMU_VIOMMU_ALLOC _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VIOMMU_ALLOC)

/* IOMMU_VDEVICE_ALLOC: give @dev_id the virtual id @virt_id in a vIOMMU. */
struct iommu_vdevice_alloc {
	__u32 size;
	__u32 viommu_id;
	__u32 dev_id;
	__u32 out_vdevice_id;
	__aligned_u64 virt_id;
};
#define IOMMU_VDEVICE_ALLOC _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VDEVICE_ALLOC)

/*
 * IOMMU_IOAS_CHANGE_PROCESS: charge the pinned pages of every file-backed
 * mapping of this file to the calling process from now on.
 */
struct iommu_ioas_change_process {
	__u32 size;
	__u32 __reserved;
};
#define IOMMU_IOAS_CHANGE_PROCESS \
	_IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_CHANGE_PROCESS)

/* LOST_EVENTS: events were dropped before this record (queue was full). */
enum iommu_veventq_flag {
	IOMMU_VEVENTQ_FLAG_LOST_EVENTS = 1U << 0,
};

/* Header of every record read() from a vEVENTQ fd, then the payload. */
struct iommufd_vevent_header {
	__u32 flags;
	__u32 sequence;
};

enum iommu_veventq_type {
	IOMMU_VEVENTQ_TYPE_DEFAULT = 0,
	IOMMU_VEVENTQ_TYPE_ARM_SMMUV3 = 1,
	IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV = 2,
};

/* ARM SMMUv3 event record, little endian. */
struct iommu_vevent_arm_smmuv3 {
	__aligned_le64 evt[4];
};

/* Tegra241 CMDQV event: bitmap of the LVCMDQs in error, little endian. */
struct iommu_vevent_tegra241_cmdqv {
	__aligned_le64 lvcmdq_err_map[2];
};

/*
 * IOMMU_VEVENTQ_ALLOC: create an event queue of @type and @veventq_depth
 * records on vIOMMU @viommu_id; returns its id and a readable fd. Callers
 * older than the final __reserved word send 28 bytes.
 */
struct iommu_veventq_alloc {
	__u32 size;
	__u32 flags;
	__u32 viommu_id;
	__u32 type;
	__u32 veventq_depth;
	__u32 out_veventq_id;
	__u32 out_veventq_fd;
	__u32 __reserved;
};
#define IOMMU_VEVENTQ_ALLOC _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VEVENTQ_ALLOC)

enum iommu_hw_queue_type {
	IOMMU_HW_QUEUE_TYPE_DEFAULT = 0,
	IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV = 1,
};

/*
 * IOMMU_HW_QUEUE_ALLOC: create HW queue @index of @type on vIOMMU
 * @viommu_id, backed by [@nesting_parent_iova, + @length) of the parent.
 */
struct iommu_hw_queue_alloc {
	__u32 size;
	__u32 flags;
	__u32 viommu_id;
	__u32 type;
	__u32 index;
	__u32 out_hw_queue_id;
	__aligned_u64 nesting_parent_iova;
	__aligned_u64 length;
};
#define IOMMU_HW_QUEUE_ALLOC _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HW_QUEUE_ALLOC)

#endif /* !_IOMMUFD_H && !_UAPI_IOMMUFD_H */
