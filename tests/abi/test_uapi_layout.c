// SPDX-License-Identifier: MIT
/*
 * The uAPI headers against the ABI tables (shared spec UAPI.md, sections
 * 1-8): every request value, every structure size, every field's offset,
 * size and type, every minimum command size, every flag and enum value,
 * the selftest constants, and the VFIO type1 ABI of the system's
 * <linux/vfio.h> that the compat ioctls follow.
 *
 * Header coexistence is checked by compiling this file: the project's
 * headers and the kernel's <linux/iommufd.h> (when the machine has one;
 * Debian 12's linux-libc-dev 6.1 does not) are each included twice, and
 * lib/domains/mock_domain.h, which defines some of the same MOCK_ names,
 * comes first.
 */
#include <stddef.h>
#include <linux/vfio.h>

/* Internal header first: its MOCK_HUGE_PAGE_SIZE is not #ifndef-guarded. */
#include "domains/mock_domain.h"

#include "uiommufd/iommufd_uapi.h"
#if __has_include(<linux/iommufd.h>)
#include <linux/iommufd.h>
#define SYSTEM_IOMMUFD_H 1
#else
#define SYSTEM_IOMMUFD_H 0
#endif
#include "uiommufd/iommufd_test_uapi.h"
/* ... and everything again, in another order: all must be no-ops. */
#include "uiommufd/iommufd_test_uapi.h"
#if SYSTEM_IOMMUFD_H
#include <linux/iommufd.h>
#endif
#include "uiommufd/iommufd_uapi.h"
#include "domains/mock_domain.h"

#include "harness/test.h"

/* ---------------------------------------------------------------------
 * Compile-time checks: the command structures' sizes and the test
 * command's frame. On a 32-bit ABI the alignment checks are what
 * __aligned_u64 guarantees.
 */
_Static_assert(IOMMUFD_TYPE == 0x3b, "IOMMUFD_TYPE is ';'");
_Static_assert(IOMMU_DESTROY == 0x3b80, "first command");
_Static_assert(IOMMU_HW_QUEUE_ALLOC == 0x3b94, "last command");
_Static_assert(IOMMU_TEST_CMD == 0x3ba0, "test command");
_Static_assert(sizeof(struct iommu_destroy) == 8, "");
_Static_assert(sizeof(struct iommu_ioas_alloc) == 12, "");
_Static_assert(sizeof(struct iommu_ioas_allow_iovas) == 24, "");
_Static_assert(sizeof(struct iommu_ioas_copy) == 40, "");
_Static_assert(sizeof(struct iommu_ioas_iova_ranges) == 32, "");
_Static_assert(sizeof(struct iommu_ioas_map) == 40, "");
_Static_assert(sizeof(struct iommu_ioas_unmap) == 24, "");
_Static_assert(sizeof(struct iommu_option) == 24, "");
_Static_assert(sizeof(struct iommu_vfio_ioas) == 12, "");
_Static_assert(sizeof(struct iommu_hwpt_alloc) == 48, "");
_Static_assert(sizeof(struct iommu_hw_info) == 40, "");
_Static_assert(sizeof(struct iommu_hwpt_set_dirty_tracking) == 16, "");
_Static_assert(sizeof(struct iommu_hwpt_get_dirty_bitmap) == 48, "");
_Static_assert(sizeof(struct iommu_hwpt_invalidate) == 32, "");
_Static_assert(sizeof(struct iommu_fault_alloc) == 16, "");
_Static_assert(sizeof(struct iommu_ioas_map_file) == 40, "");
_Static_assert(sizeof(struct iommu_viommu_alloc) == 40, "");
_Static_assert(sizeof(struct iommu_vdevice_alloc) == 24, "");
_Static_assert(sizeof(struct iommu_ioas_change_process) == 8, "");
_Static_assert(sizeof(struct iommu_veventq_alloc) == 32, "");
_Static_assert(sizeof(struct iommu_hw_queue_alloc) == 40, "");
_Static_assert(sizeof(struct iommu_test_cmd) == 72, "");
_Static_assert(offsetof(struct iommu_test_cmd, add_reserved) == 16, "");
_Static_assert(sizeof(((struct iommu_test_cmd *)0)->dirty) == 48, "");
_Static_assert(offsetof(struct iommu_test_cmd, last) == 64, "");
_Static_assert(sizeof(struct iommu_test_cmd_v6_2) == 56, "");
_Static_assert(offsetof(struct iommu_test_cmd_v6_2, add_reserved) == 16, "");
_Static_assert(sizeof(((struct iommu_test_cmd_v6_2 *)0)->access_pages) == 32,
	       "");
_Static_assert(offsetof(struct iommu_test_cmd_v6_2, last) == 48, "");
_Static_assert(_Alignof(struct iommu_test_cmd) == 8, "");
_Static_assert(_Alignof(struct iommu_test_cmd_v6_2) == 8, "");
_Static_assert(_Alignof(struct iommu_ioas_map) == 8, "");
_Static_assert(_Alignof(struct iommu_ioas_unmap) == 8, "");
_Static_assert(_Alignof(struct iommu_hwpt_pgfault) == 8, "");
_Static_assert(_Alignof(struct iommu_vdevice_alloc) == 8, "");
_Static_assert(MOCK_PAGE_SIZE == 2048, "");

/* ---------------------------------------------------------------------
 * Table machinery. Every row is one assertion; a mismatch names the row
 * and the test goes on so that one run reports every difference.
 */
struct value_row {
	const char *name;
	unsigned long long got;
	unsigned long long want;
};

#define VAL(x, want) { #x, (unsigned long long)(x), (want) }

enum ftype { T_OTHER, T_U8, T_U16, T_U32, T_S32, T_U64 };
static const char *const ftype_name[] = {
	"(other)", "__u8", "__u16", "__u32", "__s32", "__u64",
};

#define TYPE_OF(x)                                                        \
	_Generic((x), __u8: T_U8, __u16: T_U16, __u32: T_U32,               \
		 __s32: T_S32, __u64: T_U64, default: T_OTHER)

struct field_row {
	const char *name;
	size_t off, want_off;
	size_t size, want_size;
	enum ftype type, want_type;
};

#define MEMBER(s, m) (((s *)0)->m)
/* A field of struct @s; @m may be a path such as mock_domain.out_hwpt_id. */
#define FLD(s, m, t, off, sz)                                             \
	{ #s "." #m, offsetof(s, m), (off), sizeof(MEMBER(s, m)), (sz),       \
	  TYPE_OF(MEMBER(s, m)), (t) }
/* An array field: @t is the element type. */
#define ARR(s, m, t, off, sz)                                             \
	{ #s "." #m "[]", offsetof(s, m), (off), sizeof(MEMBER(s, m)), (sz),  \
	  TYPE_OF(MEMBER(s, m)[0]), (t) }
/* A flexible array member: no size; @t is the element type. */
#define FLEX(s, m, t, off)                                                \
	{ #s "." #m "[]", offsetof(s, m), (off), 0, 0,                      \
	  TYPE_OF(MEMBER(s, m)[0]), (t) }
/* A field whose type is not a scalar (union, nested struct): no type. */
#define AGG(s, m, off, sz)                                                \
	{ #s "." #m, offsetof(s, m), (off), sizeof(MEMBER(s, m)), (sz),       \
	  T_OTHER, T_OTHER }

#define offsetofend(s, m) (offsetof(s, m) + sizeof(MEMBER(s, m)))

static unsigned int check_values(const struct value_row *rows, size_t n)
{
	unsigned int bad = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (rows[i].got == rows[i].want)
			continue;
		test_fail(__FILE__, __LINE__, false,
			  "%s = %#llx, expected %#llx", rows[i].name,
			  rows[i].got, rows[i].want);
		bad++;
	}
	TH_LOG("%zu values checked", n);
	return bad;
}

static unsigned int check_fields(const struct field_row *rows, size_t n)
{
	unsigned int bad = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		const struct field_row *r = &rows[i];

		if (r->off != r->want_off || r->size != r->want_size ||
		    r->type != r->want_type) {
			test_fail(__FILE__, __LINE__, false,
				  "%s: offset %zu size %zu %s, expected offset %zu size %zu %s",
				  r->name, r->off, r->size, ftype_name[r->type],
				  r->want_off, r->want_size,
				  ftype_name[r->want_type]);
			bad++;
		}
	}
	TH_LOG("%zu fields checked (offset, size and type each)", n);
	return bad;
}

/* ---------------------------------------------------------------------
 * Section 1 and 2: request encoding and the command table.
 */
TEST(command_numbers_and_requests)
{
	static const struct value_row rows[] = {
		VAL(IOMMUFD_TYPE, 0x3b),
		VAL(IOMMUFD_CMD_BASE, 0x80),
		VAL(IOMMUFD_CMD_DESTROY, 0x80),
		VAL(IOMMUFD_CMD_IOAS_ALLOC, 0x81),
		VAL(IOMMUFD_CMD_IOAS_ALLOW_IOVAS, 0x82),
		VAL(IOMMUFD_CMD_IOAS_COPY, 0x83),
		VAL(IOMMUFD_CMD_IOAS_IOVA_RANGES, 0x84),
		VAL(IOMMUFD_CMD_IOAS_MAP, 0x85),
		VAL(IOMMUFD_CMD_IOAS_UNMAP, 0x86),
		VAL(IOMMUFD_CMD_OPTION, 0x87),
		VAL(IOMMUFD_CMD_VFIO_IOAS, 0x88),
		VAL(IOMMUFD_CMD_HWPT_ALLOC, 0x89),
		VAL(IOMMUFD_CMD_GET_HW_INFO, 0x8a),
		VAL(IOMMUFD_CMD_HWPT_SET_DIRTY_TRACKING, 0x8b),
		VAL(IOMMUFD_CMD_HWPT_GET_DIRTY_BITMAP, 0x8c),
		VAL(IOMMUFD_CMD_HWPT_INVALIDATE, 0x8d),
		VAL(IOMMUFD_CMD_FAULT_QUEUE_ALLOC, 0x8e),
		VAL(IOMMUFD_CMD_IOAS_MAP_FILE, 0x8f),
		VAL(IOMMUFD_CMD_VIOMMU_ALLOC, 0x90),
		VAL(IOMMUFD_CMD_VDEVICE_ALLOC, 0x91),
		VAL(IOMMUFD_CMD_IOAS_CHANGE_PROCESS, 0x92),
		VAL(IOMMUFD_CMD_VEVENTQ_ALLOC, 0x93),
		VAL(IOMMUFD_CMD_HW_QUEUE_ALLOC, 0x94),

		VAL(IOMMU_DESTROY, 0x3b80),
		VAL(IOMMU_IOAS_ALLOC, 0x3b81),
		VAL(IOMMU_IOAS_ALLOW_IOVAS, 0x3b82),
		VAL(IOMMU_IOAS_COPY, 0x3b83),
		VAL(IOMMU_IOAS_IOVA_RANGES, 0x3b84),
		VAL(IOMMU_IOAS_MAP, 0x3b85),
		VAL(IOMMU_IOAS_UNMAP, 0x3b86),
		VAL(IOMMU_OPTION, 0x3b87),
		VAL(IOMMU_VFIO_IOAS, 0x3b88),
		VAL(IOMMU_HWPT_ALLOC, 0x3b89),
		VAL(IOMMU_GET_HW_INFO, 0x3b8a),
		VAL(IOMMU_HWPT_SET_DIRTY_TRACKING, 0x3b8b),
		VAL(IOMMU_HWPT_GET_DIRTY_BITMAP, 0x3b8c),
		VAL(IOMMU_HWPT_INVALIDATE, 0x3b8d),
		VAL(IOMMU_FAULT_QUEUE_ALLOC, 0x3b8e),
		VAL(IOMMU_IOAS_MAP_FILE, 0x3b8f),
		VAL(IOMMU_VIOMMU_ALLOC, 0x3b90),
		VAL(IOMMU_VDEVICE_ALLOC, 0x3b91),
		VAL(IOMMU_IOAS_CHANGE_PROCESS, 0x3b92),
		VAL(IOMMU_VEVENTQ_ALLOC, 0x3b93),
		VAL(IOMMU_HW_QUEUE_ALLOC, 0x3b94),
		VAL(IOMMU_TEST_CMD, 0x3ba0),

		/* _IO(): no direction and no size bits in any request. */
		VAL(_IOC_DIR(IOMMU_DESTROY), _IOC_NONE),
		VAL(_IOC_SIZE(IOMMU_DESTROY), 0),
		VAL(_IOC_TYPE(IOMMU_HW_QUEUE_ALLOC), ';'),
		VAL(_IOC_NR(IOMMU_HW_QUEUE_ALLOC), 0x94),
		VAL(_IOC_DIR(IOMMU_TEST_CMD), _IOC_NONE),
		VAL(_IOC_SIZE(IOMMU_TEST_CMD), 0),
		VAL(_IOC_NR(IOMMU_TEST_CMD), 0x80 + 32),
		VAL(_IO(';', 0x7f), 0x3b7f),
	};

	ASSERT_EQ(0, check_values(rows, ARRAY_SIZE(rows)));
}

/* sizeof and minimum size (end of the last mandatory field) per command. */
TEST(command_struct_sizes)
{
	static const struct value_row rows[] = {
		VAL(sizeof(struct iommu_destroy), 8),
		VAL(offsetofend(struct iommu_destroy, id), 8),
		VAL(sizeof(struct iommu_ioas_alloc), 12),
		VAL(offsetofend(struct iommu_ioas_alloc, out_ioas_id), 12),
		VAL(sizeof(struct iommu_ioas_allow_iovas), 24),
		VAL(offsetofend(struct iommu_ioas_allow_iovas, allowed_iovas),
		    24),
		VAL(sizeof(struct iommu_ioas_copy), 40),
		VAL(offsetofend(struct iommu_ioas_copy, src_iova), 40),
		VAL(sizeof(struct iommu_ioas_iova_ranges), 32),
		VAL(offsetofend(struct iommu_ioas_iova_ranges,
				out_iova_alignment), 32),
		VAL(sizeof(struct iommu_ioas_map), 40),
		VAL(offsetofend(struct iommu_ioas_map, iova), 40),
		VAL(sizeof(struct iommu_ioas_unmap), 24),
		VAL(offsetofend(struct iommu_ioas_unmap, length), 24),
		VAL(sizeof(struct iommu_option), 24),
		VAL(offsetofend(struct iommu_option, val64), 24),
		VAL(sizeof(struct iommu_vfio_ioas), 12),
		VAL(offsetofend(struct iommu_vfio_ioas, __reserved), 12),
		VAL(sizeof(struct iommu_hwpt_alloc), 48),
		VAL(offsetofend(struct iommu_hwpt_alloc, __reserved), 24),
		VAL(sizeof(struct iommu_hw_info), 40),
		VAL(offsetofend(struct iommu_hw_info, __reserved), 32),
		VAL(sizeof(struct iommu_hwpt_set_dirty_tracking), 16),
		VAL(offsetofend(struct iommu_hwpt_set_dirty_tracking,
				__reserved), 16),
		VAL(sizeof(struct iommu_hwpt_get_dirty_bitmap), 48),
		VAL(offsetofend(struct iommu_hwpt_get_dirty_bitmap, data), 48),
		VAL(sizeof(struct iommu_hwpt_invalidate), 32),
		VAL(offsetofend(struct iommu_hwpt_invalidate, __reserved), 32),
		VAL(sizeof(struct iommu_fault_alloc), 16),
		VAL(offsetofend(struct iommu_fault_alloc, out_fault_fd), 16),
		VAL(sizeof(struct iommu_ioas_map_file), 40),
		VAL(offsetofend(struct iommu_ioas_map_file, iova), 40),
		VAL(sizeof(struct iommu_viommu_alloc), 40),
		VAL(offsetofend(struct iommu_viommu_alloc, out_viommu_id), 24),
		VAL(sizeof(struct iommu_vdevice_alloc), 24),
		VAL(offsetofend(struct iommu_vdevice_alloc, virt_id), 24),
		VAL(sizeof(struct iommu_ioas_change_process), 8),
		VAL(offsetofend(struct iommu_ioas_change_process, __reserved),
		    8),
		VAL(sizeof(struct iommu_veventq_alloc), 32),
		VAL(offsetofend(struct iommu_veventq_alloc, out_veventq_fd),
		    28),
		VAL(sizeof(struct iommu_hw_queue_alloc), 40),
		VAL(offsetofend(struct iommu_hw_queue_alloc, length), 40),
		VAL(sizeof(struct iommu_test_cmd), 72),
		VAL(offsetofend(struct iommu_test_cmd, last), 68),
		VAL(sizeof(struct iommu_test_cmd_v6_2), 56),
		VAL(offsetofend(struct iommu_test_cmd_v6_2, last), 52),
		VAL(IOMMU_TEST_CMD_SIZE, 72),
		VAL(IOMMU_TEST_CMD_MIN_SIZE, 68),
		VAL(IOMMU_TEST_CMD_V6_2_SIZE, 56),
		VAL(IOMMU_TEST_CMD_V6_2_MIN_SIZE, 52),
	};

	ASSERT_EQ(0, check_values(rows, ARRAY_SIZE(rows)));
}

/* ---------------------------------------------------------------------
 * Section 3: every field of every command structure.
 */
TEST(command_struct_fields)
{
	static const struct field_row rows[] = {
		FLD(struct iommu_destroy, size, T_U32, 0, 4),
		FLD(struct iommu_destroy, id, T_U32, 4, 4),

		FLD(struct iommu_ioas_alloc, size, T_U32, 0, 4),
		FLD(struct iommu_ioas_alloc, flags, T_U32, 4, 4),
		FLD(struct iommu_ioas_alloc, out_ioas_id, T_U32, 8, 4),

		FLD(struct iommu_ioas_allow_iovas, size, T_U32, 0, 4),
		FLD(struct iommu_ioas_allow_iovas, ioas_id, T_U32, 4, 4),
		FLD(struct iommu_ioas_allow_iovas, num_iovas, T_U32, 8, 4),
		FLD(struct iommu_ioas_allow_iovas, __reserved, T_U32, 12, 4),
		FLD(struct iommu_ioas_allow_iovas, allowed_iovas, T_U64, 16, 8),

		FLD(struct iommu_ioas_copy, size, T_U32, 0, 4),
		FLD(struct iommu_ioas_copy, flags, T_U32, 4, 4),
		FLD(struct iommu_ioas_copy, dst_ioas_id, T_U32, 8, 4),
		FLD(struct iommu_ioas_copy, src_ioas_id, T_U32, 12, 4),
		FLD(struct iommu_ioas_copy, length, T_U64, 16, 8),
		FLD(struct iommu_ioas_copy, dst_iova, T_U64, 24, 8),
		FLD(struct iommu_ioas_copy, src_iova, T_U64, 32, 8),

		FLD(struct iommu_ioas_iova_ranges, size, T_U32, 0, 4),
		FLD(struct iommu_ioas_iova_ranges, ioas_id, T_U32, 4, 4),
		FLD(struct iommu_ioas_iova_ranges, num_iovas, T_U32, 8, 4),
		FLD(struct iommu_ioas_iova_ranges, __reserved, T_U32, 12, 4),
		FLD(struct iommu_ioas_iova_ranges, allowed_iovas, T_U64, 16, 8),
		FLD(struct iommu_ioas_iova_ranges, out_iova_alignment, T_U64,
		    24, 8),

		FLD(struct iommu_ioas_map, size, T_U32, 0, 4),
		FLD(struct iommu_ioas_map, flags, T_U32, 4, 4),
		FLD(struct iommu_ioas_map, ioas_id, T_U32, 8, 4),
		FLD(struct iommu_ioas_map, __reserved, T_U32, 12, 4),
		FLD(struct iommu_ioas_map, user_va, T_U64, 16, 8),
		FLD(struct iommu_ioas_map, length, T_U64, 24, 8),
		FLD(struct iommu_ioas_map, iova, T_U64, 32, 8),

		FLD(struct iommu_ioas_unmap, size, T_U32, 0, 4),
		FLD(struct iommu_ioas_unmap, ioas_id, T_U32, 4, 4),
		FLD(struct iommu_ioas_unmap, iova, T_U64, 8, 8),
		FLD(struct iommu_ioas_unmap, length, T_U64, 16, 8),

		FLD(struct iommu_option, size, T_U32, 0, 4),
		FLD(struct iommu_option, option_id, T_U32, 4, 4),
		FLD(struct iommu_option, op, T_U16, 8, 2),
		FLD(struct iommu_option, __reserved, T_U16, 10, 2),
		FLD(struct iommu_option, object_id, T_U32, 12, 4),
		FLD(struct iommu_option, val64, T_U64, 16, 8),

		FLD(struct iommu_vfio_ioas, size, T_U32, 0, 4),
		FLD(struct iommu_vfio_ioas, ioas_id, T_U32, 4, 4),
		FLD(struct iommu_vfio_ioas, op, T_U16, 8, 2),
		FLD(struct iommu_vfio_ioas, __reserved, T_U16, 10, 2),

		FLD(struct iommu_hwpt_alloc, size, T_U32, 0, 4),
		FLD(struct iommu_hwpt_alloc, flags, T_U32, 4, 4),
		FLD(struct iommu_hwpt_alloc, dev_id, T_U32, 8, 4),
		FLD(struct iommu_hwpt_alloc, pt_id, T_U32, 12, 4),
		FLD(struct iommu_hwpt_alloc, out_hwpt_id, T_U32, 16, 4),
		FLD(struct iommu_hwpt_alloc, __reserved, T_U32, 20, 4),
		FLD(struct iommu_hwpt_alloc, data_type, T_U32, 24, 4),
		FLD(struct iommu_hwpt_alloc, data_len, T_U32, 28, 4),
		FLD(struct iommu_hwpt_alloc, data_uptr, T_U64, 32, 8),
		FLD(struct iommu_hwpt_alloc, fault_id, T_U32, 40, 4),
		FLD(struct iommu_hwpt_alloc, __reserved2, T_U32, 44, 4),

		FLD(struct iommu_hw_info, size, T_U32, 0, 4),
		FLD(struct iommu_hw_info, flags, T_U32, 4, 4),
		FLD(struct iommu_hw_info, dev_id, T_U32, 8, 4),
		FLD(struct iommu_hw_info, data_len, T_U32, 12, 4),
		FLD(struct iommu_hw_info, data_uptr, T_U64, 16, 8),
		FLD(struct iommu_hw_info, in_data_type, T_U32, 24, 4),
		FLD(struct iommu_hw_info, out_data_type, T_U32, 24, 4),
		FLD(struct iommu_hw_info, out_max_pasid_log2, T_U8, 28, 1),
		ARR(struct iommu_hw_info, __reserved, T_U8, 29, 3),
		FLD(struct iommu_hw_info, out_capabilities, T_U64, 32, 8),

		FLD(struct iommu_hwpt_set_dirty_tracking, size, T_U32, 0, 4),
		FLD(struct iommu_hwpt_set_dirty_tracking, flags, T_U32, 4, 4),
		FLD(struct iommu_hwpt_set_dirty_tracking, hwpt_id, T_U32, 8, 4),
		FLD(struct iommu_hwpt_set_dirty_tracking, __reserved, T_U32, 12,
		    4),

		FLD(struct iommu_hwpt_get_dirty_bitmap, size, T_U32, 0, 4),
		FLD(struct iommu_hwpt_get_dirty_bitmap, hwpt_id, T_U32, 4, 4),
		FLD(struct iommu_hwpt_get_dirty_bitmap, flags, T_U32, 8, 4),
		FLD(struct iommu_hwpt_get_dirty_bitmap, __reserved, T_U32, 12,
		    4),
		FLD(struct iommu_hwpt_get_dirty_bitmap, iova, T_U64, 16, 8),
		FLD(struct iommu_hwpt_get_dirty_bitmap, length, T_U64, 24, 8),
		FLD(struct iommu_hwpt_get_dirty_bitmap, page_size, T_U64, 32,
		    8),
		FLD(struct iommu_hwpt_get_dirty_bitmap, data, T_U64, 40, 8),

		FLD(struct iommu_hwpt_invalidate, size, T_U32, 0, 4),
		FLD(struct iommu_hwpt_invalidate, hwpt_id, T_U32, 4, 4),
		FLD(struct iommu_hwpt_invalidate, data_uptr, T_U64, 8, 8),
		FLD(struct iommu_hwpt_invalidate, data_type, T_U32, 16, 4),
		FLD(struct iommu_hwpt_invalidate, entry_len, T_U32, 20, 4),
		FLD(struct iommu_hwpt_invalidate, entry_num, T_U32, 24, 4),
		FLD(struct iommu_hwpt_invalidate, __reserved, T_U32, 28, 4),

		FLD(struct iommu_fault_alloc, size, T_U32, 0, 4),
		FLD(struct iommu_fault_alloc, flags, T_U32, 4, 4),
		FLD(struct iommu_fault_alloc, out_fault_id, T_U32, 8, 4),
		FLD(struct iommu_fault_alloc, out_fault_fd, T_U32, 12, 4),

		FLD(struct iommu_ioas_map_file, size, T_U32, 0, 4),
		FLD(struct iommu_ioas_map_file, flags, T_U32, 4, 4),
		FLD(struct iommu_ioas_map_file, ioas_id, T_U32, 8, 4),
		FLD(struct iommu_ioas_map_file, fd, T_S32, 12, 4),
		FLD(struct iommu_ioas_map_file, start, T_U64, 16, 8),
		FLD(struct iommu_ioas_map_file, length, T_U64, 24, 8),
		FLD(struct iommu_ioas_map_file, iova, T_U64, 32, 8),

		FLD(struct iommu_viommu_alloc, size, T_U32, 0, 4),
		FLD(struct iommu_viommu_alloc, flags, T_U32, 4, 4),
		FLD(struct iommu_viommu_alloc, type, T_U32, 8, 4),
		FLD(struct iommu_viommu_alloc, dev_id, T_U32, 12, 4),
		FLD(struct iommu_viommu_alloc, hwpt_id, T_U32, 16, 4),
		FLD(struct iommu_viommu_alloc, out_viommu_id, T_U32, 20, 4),
		FLD(struct iommu_viommu_alloc, data_len, T_U32, 24, 4),
		FLD(struct iommu_viommu_alloc, __reserved, T_U32, 28, 4),
		FLD(struct iommu_viommu_alloc, data_uptr, T_U64, 32, 8),

		FLD(struct iommu_vdevice_alloc, size, T_U32, 0, 4),
		FLD(struct iommu_vdevice_alloc, viommu_id, T_U32, 4, 4),
		FLD(struct iommu_vdevice_alloc, dev_id, T_U32, 8, 4),
		FLD(struct iommu_vdevice_alloc, out_vdevice_id, T_U32, 12, 4),
		FLD(struct iommu_vdevice_alloc, virt_id, T_U64, 16, 8),

		FLD(struct iommu_ioas_change_process, size, T_U32, 0, 4),
		FLD(struct iommu_ioas_change_process, __reserved, T_U32, 4, 4),

		FLD(struct iommu_veventq_alloc, size, T_U32, 0, 4),
		FLD(struct iommu_veventq_alloc, flags, T_U32, 4, 4),
		FLD(struct iommu_veventq_alloc, viommu_id, T_U32, 8, 4),
		FLD(struct iommu_veventq_alloc, type, T_U32, 12, 4),
		FLD(struct iommu_veventq_alloc, veventq_depth, T_U32, 16, 4),
		FLD(struct iommu_veventq_alloc, out_veventq_id, T_U32, 20, 4),
		FLD(struct iommu_veventq_alloc, out_veventq_fd, T_U32, 24, 4),
		FLD(struct iommu_veventq_alloc, __reserved, T_U32, 28, 4),

		FLD(struct iommu_hw_queue_alloc, size, T_U32, 0, 4),
		FLD(struct iommu_hw_queue_alloc, flags, T_U32, 4, 4),
		FLD(struct iommu_hw_queue_alloc, viommu_id, T_U32, 8, 4),
		FLD(struct iommu_hw_queue_alloc, type, T_U32, 12, 4),
		FLD(struct iommu_hw_queue_alloc, index, T_U32, 16, 4),
		FLD(struct iommu_hw_queue_alloc, out_hw_queue_id, T_U32, 20, 4),
		FLD(struct iommu_hw_queue_alloc, nesting_parent_iova, T_U64, 24,
		    8),
		FLD(struct iommu_hw_queue_alloc, length, T_U64, 32, 8),
	};

	ASSERT_EQ(0, check_fields(rows, ARRAY_SIZE(rows)));
}

/*
 * Structures the commands point to or produce. UAPI.md gives the fields
 * of iommu_iova_range (section 3) and of the vEVENTQ header; the layouts
 * of the fault record, the page response and the vendor structures are
 * the kernel's and are not tabulated there.
 */
TEST(sub_struct_fields)
{
	static const struct field_row rows[] = {
		FLD(struct iommu_iova_range, start, T_U64, 0, 8),
		FLD(struct iommu_iova_range, last, T_U64, 8, 8),
		FLD(struct iommufd_vevent_header, flags, T_U32, 0, 4),
		FLD(struct iommufd_vevent_header, sequence, T_U32, 4, 4),

		FLD(struct iommu_hwpt_pgfault, flags, T_U32, 0, 4),
		FLD(struct iommu_hwpt_pgfault, dev_id, T_U32, 4, 4),
		FLD(struct iommu_hwpt_pgfault, pasid, T_U32, 8, 4),
		FLD(struct iommu_hwpt_pgfault, grpid, T_U32, 12, 4),
		FLD(struct iommu_hwpt_pgfault, perm, T_U32, 16, 4),
		FLD(struct iommu_hwpt_pgfault, __reserved, T_U32, 20, 4),
		FLD(struct iommu_hwpt_pgfault, addr, T_U64, 24, 8),
		FLD(struct iommu_hwpt_pgfault, length, T_U32, 32, 4),
		FLD(struct iommu_hwpt_pgfault, cookie, T_U32, 36, 4),
		FLD(struct iommu_hwpt_page_response, cookie, T_U32, 0, 4),
		FLD(struct iommu_hwpt_page_response, code, T_U32, 4, 4),

		FLD(struct iommu_hwpt_vtd_s1, flags, T_U64, 0, 8),
		FLD(struct iommu_hwpt_vtd_s1, pgtbl_addr, T_U64, 8, 8),
		FLD(struct iommu_hwpt_vtd_s1, addr_width, T_U32, 16, 4),
		FLD(struct iommu_hwpt_vtd_s1, __reserved, T_U32, 20, 4),
		ARR(struct iommu_hwpt_arm_smmuv3, ste, T_U64, 0, 16),
		ARR(struct iommu_hwpt_amd_guest, dte, T_U64, 0, 32),

		FLD(struct iommu_hw_info_vtd, flags, T_U32, 0, 4),
		FLD(struct iommu_hw_info_vtd, __reserved, T_U32, 4, 4),
		FLD(struct iommu_hw_info_vtd, cap_reg, T_U64, 8, 8),
		FLD(struct iommu_hw_info_vtd, ecap_reg, T_U64, 16, 8),
		FLD(struct iommu_hw_info_arm_smmuv3, flags, T_U32, 0, 4),
		FLD(struct iommu_hw_info_arm_smmuv3, __reserved, T_U32, 4, 4),
		ARR(struct iommu_hw_info_arm_smmuv3, idr, T_U32, 8, 24),
		FLD(struct iommu_hw_info_arm_smmuv3, iidr, T_U32, 32, 4),
		FLD(struct iommu_hw_info_arm_smmuv3, aidr, T_U32, 36, 4),
		FLD(struct iommu_hw_info_tegra241_cmdqv, flags, T_U32, 0, 4),
		FLD(struct iommu_hw_info_tegra241_cmdqv, version, T_U8, 4, 1),
		FLD(struct iommu_hw_info_tegra241_cmdqv, log2vcmdqs, T_U8, 5,
		    1),
		FLD(struct iommu_hw_info_tegra241_cmdqv, log2vsids, T_U8, 6, 1),
		FLD(struct iommu_hw_info_tegra241_cmdqv, __reserved, T_U8, 7,
		    1),
		FLD(struct iommu_hw_info_amd, efr, T_U64, 0, 8),
		FLD(struct iommu_hw_info_amd, efr2, T_U64, 8, 8),

		FLD(struct iommu_hwpt_vtd_s1_invalidate, addr, T_U64, 0, 8),
		FLD(struct iommu_hwpt_vtd_s1_invalidate, npages, T_U64, 8, 8),
		FLD(struct iommu_hwpt_vtd_s1_invalidate, flags, T_U32, 16, 4),
		FLD(struct iommu_hwpt_vtd_s1_invalidate, __reserved, T_U32, 20,
		    4),
		ARR(struct iommu_viommu_arm_smmuv3_invalidate, cmd, T_U64, 0,
		    16),
		FLD(struct iommu_viommu_tegra241_cmdqv, out_vintf_mmap_offset,
		    T_U64, 0, 8),
		FLD(struct iommu_viommu_tegra241_cmdqv, out_vintf_mmap_length,
		    T_U64, 8, 8),
		ARR(struct iommu_vevent_arm_smmuv3, evt, T_U64, 0, 32),
		ARR(struct iommu_vevent_tegra241_cmdqv, lvcmdq_err_map, T_U64,
		    0, 16),
	};
	static const struct value_row sizes[] = {
		VAL(sizeof(struct iommu_iova_range), 16),
		VAL(sizeof(struct iommufd_vevent_header), 8),
		VAL(sizeof(struct iommu_hwpt_pgfault), 40),
		VAL(sizeof(struct iommu_hwpt_page_response), 8),
		VAL(sizeof(struct iommu_hwpt_vtd_s1), 24),
		VAL(sizeof(struct iommu_hwpt_arm_smmuv3), 16),
		VAL(sizeof(struct iommu_hwpt_amd_guest), 32),
		VAL(sizeof(struct iommu_hw_info_vtd), 24),
		VAL(sizeof(struct iommu_hw_info_arm_smmuv3), 40),
		VAL(sizeof(struct iommu_hw_info_tegra241_cmdqv), 8),
		VAL(sizeof(struct iommu_hw_info_amd), 16),
		VAL(sizeof(struct iommu_hwpt_vtd_s1_invalidate), 24),
		VAL(sizeof(struct iommu_viommu_arm_smmuv3_invalidate), 16),
		VAL(sizeof(struct iommu_viommu_tegra241_cmdqv), 16),
		VAL(sizeof(struct iommu_vevent_arm_smmuv3), 32),
		VAL(sizeof(struct iommu_vevent_tegra241_cmdqv), 16),
	};

	ASSERT_EQ(0, check_fields(rows, ARRAY_SIZE(rows)) +
			     check_values(sizes, ARRAY_SIZE(sizes)));
}

/* ---------------------------------------------------------------------
 * Section 6: flag and enum values.
 */
TEST(flag_and_enum_values)
{
	static const struct value_row rows[] = {
		VAL(IOMMU_IOAS_MAP_FIXED_IOVA, 0x1),
		VAL(IOMMU_IOAS_MAP_WRITEABLE, 0x2),
		VAL(IOMMU_IOAS_MAP_READABLE, 0x4),
		VAL(IOMMU_OPTION_RLIMIT_MODE, 0x0),
		VAL(IOMMU_OPTION_HUGE_PAGES, 0x1),
		VAL(IOMMU_OPTION_OP_SET, 0x0),
		VAL(IOMMU_OPTION_OP_GET, 0x1),
		VAL(IOMMU_VFIO_IOAS_GET, 0x0),
		VAL(IOMMU_VFIO_IOAS_SET, 0x1),
		VAL(IOMMU_VFIO_IOAS_CLEAR, 0x2),
		VAL(IOMMU_HWPT_ALLOC_NEST_PARENT, 0x1),
		VAL(IOMMU_HWPT_ALLOC_DIRTY_TRACKING, 0x2),
		VAL(IOMMU_HWPT_FAULT_ID_VALID, 0x4),
		VAL(IOMMU_HWPT_ALLOC_PASID, 0x8),
		VAL(IOMMU_VTD_S1_SRE, 0x1),
		VAL(IOMMU_VTD_S1_EAFE, 0x2),
		VAL(IOMMU_VTD_S1_WPE, 0x4),
		VAL(IOMMU_HWPT_DATA_NONE, 0x0),
		VAL(IOMMU_HWPT_DATA_VTD_S1, 0x1),
		VAL(IOMMU_HWPT_DATA_ARM_SMMUV3, 0x2),
		VAL(IOMMU_HWPT_DATA_AMD_GUEST, 0x3),
		VAL(IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17, 0x1),
		VAL(IOMMU_HW_INFO_TYPE_NONE, 0x0),
		VAL(IOMMU_HW_INFO_TYPE_DEFAULT, 0x0),
		VAL(IOMMU_HW_INFO_TYPE_INTEL_VTD, 0x1),
		VAL(IOMMU_HW_INFO_TYPE_ARM_SMMUV3, 0x2),
		VAL(IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV, 0x3),
		VAL(IOMMU_HW_INFO_TYPE_AMD, 0x4),
		VAL(IOMMU_HW_CAP_DIRTY_TRACKING, 0x1),
		VAL(IOMMU_HW_CAP_PCI_PASID_EXEC, 0x2),
		VAL(IOMMU_HW_CAP_PCI_PASID_PRIV, 0x4),
		VAL(IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED, 0x8),
		VAL(IOMMU_HW_INFO_FLAG_INPUT_TYPE, 0x1),
		VAL(IOMMU_HWPT_DIRTY_TRACKING_ENABLE, 0x1),
		VAL(IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR, 0x1),
		VAL(IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, 0x0),
		VAL(IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, 0x1),
		VAL(IOMMU_VTD_INV_FLAGS_LEAF, 0x1),
		VAL(IOMMU_PGFAULT_FLAGS_PASID_VALID, 0x1),
		VAL(IOMMU_PGFAULT_FLAGS_LAST_PAGE, 0x2),
		VAL(IOMMU_PGFAULT_PERM_READ, 0x1),
		VAL(IOMMU_PGFAULT_PERM_WRITE, 0x2),
		VAL(IOMMU_PGFAULT_PERM_EXEC, 0x4),
		VAL(IOMMU_PGFAULT_PERM_PRIV, 0x8),
		VAL(IOMMUFD_PAGE_RESP_SUCCESS, 0x0),
		VAL(IOMMUFD_PAGE_RESP_INVALID, 0x1),
		VAL(IOMMU_VIOMMU_TYPE_DEFAULT, 0x0),
		VAL(IOMMU_VIOMMU_TYPE_ARM_SMMUV3, 0x1),
		VAL(IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV, 0x2),
		VAL(IOMMU_VEVENTQ_FLAG_LOST_EVENTS, 0x1),
		VAL(IOMMU_VEVENTQ_TYPE_DEFAULT, 0x0),
		VAL(IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, 0x1),
		VAL(IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV, 0x2),
		VAL(IOMMU_HW_QUEUE_TYPE_DEFAULT, 0x0),
		VAL(IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV, 0x1),
	};

	ASSERT_EQ(0, check_values(rows, ARRAY_SIZE(rows)));
}

/* ---------------------------------------------------------------------
 * Section 4: IOMMU_TEST_CMD, both layouts, and the op numbers.
 */
TEST(test_cmd_fields)
{
#define TC(m, t, off, sz) FLD(struct iommu_test_cmd, m, t, off, sz)
	static const struct field_row rows[] = {
		TC(size, T_U32, 0, 4),
		TC(op, T_U32, 4, 4),
		TC(id, T_U32, 8, 4),
		TC(__reserved, T_U32, 12, 4),
		TC(last, T_U32, 64, 4),
		TC(add_reserved.start, T_U64, 16, 8),
		TC(add_reserved.length, T_U64, 24, 8),
		TC(mock_domain.out_stdev_id, T_U32, 16, 4),
		TC(mock_domain.out_hwpt_id, T_U32, 20, 4),
		TC(mock_domain.out_idev_id, T_U32, 24, 4),
		TC(check_map.iova, T_U64, 16, 8),
		TC(check_map.length, T_U64, 24, 8),
		TC(check_map.uptr, T_U64, 32, 8),
		TC(check_refs.length, T_U64, 16, 8),
		TC(check_refs.uptr, T_U64, 24, 8),
		TC(check_refs.refs, T_U32, 32, 4),
		TC(create_access.out_access_fd, T_U32, 16, 4),
		TC(create_access.flags, T_U32, 20, 4),
		TC(destroy_access_pages.access_pages_id, T_U32, 16, 4),
		TC(access_pages.flags, T_U32, 16, 4),
		TC(access_pages.out_access_pages_id, T_U32, 20, 4),
		TC(access_pages.iova, T_U64, 24, 8),
		TC(access_pages.length, T_U64, 32, 8),
		TC(access_pages.uptr, T_U64, 40, 8),
		TC(access_rw.iova, T_U64, 16, 8),
		TC(access_rw.length, T_U64, 24, 8),
		TC(access_rw.uptr, T_U64, 32, 8),
		TC(access_rw.flags, T_U32, 40, 4),
		TC(memory_limit.limit, T_U32, 16, 4),
		TC(mock_domain_replace.pt_id, T_U32, 16, 4),
		TC(access_replace_ioas.ioas_id, T_U32, 16, 4),
		TC(mock_domain_flags.out_stdev_id, T_U32, 16, 4),
		TC(mock_domain_flags.out_hwpt_id, T_U32, 20, 4),
		TC(mock_domain_flags.out_idev_id, T_U32, 24, 4),
		TC(mock_domain_flags.dev_flags, T_U32, 28, 4),
		TC(dirty.flags, T_U32, 16, 4),
		TC(dirty.iova, T_U64, 24, 8),
		TC(dirty.length, T_U64, 32, 8),
		TC(dirty.page_size, T_U64, 40, 8),
		TC(dirty.uptr, T_U64, 48, 8),
		TC(dirty.out_nr_dirty, T_U64, 56, 8),
		TC(check_iotlb.id, T_U32, 16, 4),
		TC(check_iotlb.iotlb, T_U32, 20, 4),
		TC(trigger_iopf.dev_id, T_U32, 16, 4),
		TC(trigger_iopf.pasid, T_U32, 20, 4),
		TC(trigger_iopf.grpid, T_U32, 24, 4),
		TC(trigger_iopf.perm, T_U32, 28, 4),
		TC(trigger_iopf.addr, T_U64, 32, 8),
		TC(check_dev_cache.id, T_U32, 16, 4),
		TC(check_dev_cache.cache, T_U32, 20, 4),
		TC(trigger_vevent.dev_id, T_U32, 16, 4),
		TC(pasid_attach.pasid, T_U32, 16, 4),
		TC(pasid_attach.pt_id, T_U32, 20, 4),
		TC(pasid_replace.pasid, T_U32, 16, 4),
		TC(pasid_replace.pt_id, T_U32, 20, 4),
		TC(pasid_detach.pasid, T_U32, 16, 4),
		TC(pasid_check.pasid, T_U32, 16, 4),
		TC(pasid_check.hwpt_id, T_U32, 20, 4),
		TC(dmabuf_get.length, T_U32, 16, 4),
		TC(dmabuf_get.open_flags, T_U32, 20, 4),
		TC(dmabuf_revoke.dmabuf_fd, T_S32, 16, 4),
		TC(dmabuf_revoke.revoked, T_U32, 20, 4),
		/* the union: 48 bytes at 16, sized by dirty */
		AGG(struct iommu_test_cmd, dirty, 16, 48),
	};
#undef TC

	ASSERT_EQ(0, check_fields(rows, ARRAY_SIZE(rows)));
}

TEST(test_cmd_v6_2_fields)
{
#define TC(m, t, off, sz) FLD(struct iommu_test_cmd_v6_2, m, t, off, sz)
	static const struct field_row rows[] = {
		TC(size, T_U32, 0, 4),
		TC(op, T_U32, 4, 4),
		TC(id, T_U32, 8, 4),
		TC(__reserved, T_U32, 12, 4),
		TC(last, T_U32, 48, 4),
		TC(add_reserved.start, T_U64, 16, 8),
		TC(add_reserved.length, T_U64, 24, 8),
		TC(mock_domain.out_device_id, T_U32, 16, 4),
		TC(mock_domain.out_hwpt_id, T_U32, 20, 4),
		TC(check_map.iova, T_U64, 16, 8),
		TC(check_map.length, T_U64, 24, 8),
		TC(check_map.uptr, T_U64, 32, 8),
		TC(check_refs.length, T_U64, 16, 8),
		TC(check_refs.uptr, T_U64, 24, 8),
		TC(check_refs.refs, T_U32, 32, 4),
		TC(create_access.out_access_fd, T_U32, 16, 4),
		TC(create_access.flags, T_U32, 20, 4),
		TC(destroy_access_pages.access_pages_id, T_U32, 16, 4),
		TC(access_pages.flags, T_U32, 16, 4),
		TC(access_pages.out_access_pages_id, T_U32, 20, 4),
		TC(access_pages.iova, T_U64, 24, 8),
		TC(access_pages.length, T_U64, 32, 8),
		TC(access_pages.uptr, T_U64, 40, 8),
		TC(access_rw.iova, T_U64, 16, 8),
		TC(access_rw.length, T_U64, 24, 8),
		TC(access_rw.uptr, T_U64, 32, 8),
		TC(access_rw.flags, T_U32, 40, 4),
		TC(memory_limit.limit, T_U32, 16, 4),
		AGG(struct iommu_test_cmd_v6_2, access_pages, 16, 32),
	};
#undef TC
	/*
	 * "Everything that existed in 6.2 kept its offset": the same member
	 * paths in the two structs are at the same offsets.
	 */
#define SAME(m)                                                           \
	VAL(offsetof(struct iommu_test_cmd_v6_2, m),                        \
	    offsetof(struct iommu_test_cmd, m))
	static const struct value_row same[] = {
		SAME(add_reserved.start), SAME(add_reserved.length),
		SAME(mock_domain.out_hwpt_id), SAME(check_map.iova),
		SAME(check_map.length), SAME(check_map.uptr),
		SAME(check_refs.length), SAME(check_refs.uptr),
		SAME(check_refs.refs), SAME(create_access.out_access_fd),
		SAME(create_access.flags),
		SAME(destroy_access_pages.access_pages_id),
		SAME(access_pages.flags),
		SAME(access_pages.out_access_pages_id),
		SAME(access_pages.iova), SAME(access_pages.length),
		SAME(access_pages.uptr), SAME(access_rw.iova),
		SAME(access_rw.length), SAME(access_rw.uptr),
		SAME(access_rw.flags), SAME(memory_limit.limit),
		VAL(offsetof(struct iommu_test_cmd_v6_2,
			     mock_domain.out_device_id),
		    offsetof(struct iommu_test_cmd, mock_domain.out_stdev_id)),
	};
#undef SAME

	ASSERT_EQ(0, check_fields(rows, ARRAY_SIZE(rows)) +
			     check_values(same, ARRAY_SIZE(same)));
}

TEST(test_ops)
{
	static const struct value_row rows[] = {
		VAL(IOMMU_TEST_OP_ADD_RESERVED, 1),
		VAL(IOMMU_TEST_OP_MOCK_DOMAIN, 2),
		VAL(IOMMU_TEST_OP_MD_CHECK_MAP, 3),
		VAL(IOMMU_TEST_OP_MD_CHECK_REFS, 4),
		VAL(IOMMU_TEST_OP_CREATE_ACCESS, 5),
		VAL(IOMMU_TEST_OP_DESTROY_ACCESS_PAGES, 6),
		VAL(IOMMU_TEST_OP_ACCESS_PAGES, 7),
		VAL(IOMMU_TEST_OP_ACCESS_RW, 8),
		VAL(IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT, 9),
		VAL(IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, 10),
		VAL(IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, 11),
		VAL(IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, 12),
		VAL(IOMMU_TEST_OP_DIRTY, 13),
		VAL(IOMMU_TEST_OP_MD_CHECK_IOTLB, 14),
		VAL(IOMMU_TEST_OP_TRIGGER_IOPF, 15),
		VAL(IOMMU_TEST_OP_DEV_CHECK_CACHE, 16),
		VAL(IOMMU_TEST_OP_TRIGGER_VEVENT, 17),
		VAL(IOMMU_TEST_OP_PASID_ATTACH, 18),
		VAL(IOMMU_TEST_OP_PASID_REPLACE, 19),
		VAL(IOMMU_TEST_OP_PASID_DETACH, 20),
		VAL(IOMMU_TEST_OP_PASID_CHECK_HWPT, 21),
		VAL(IOMMU_TEST_OP_DMABUF_GET, 22),
		VAL(IOMMU_TEST_OP_DMABUF_REVOKE, 23),
	};

	ASSERT_EQ(0, check_values(rows, ARRAY_SIZE(rows)));
}

/* ---------------------------------------------------------------------
 * Section 5 and the selftest data structures of section 6.
 */
TEST(test_constants)
{
	static const struct value_row rows[] = {
		VAL(MOCK_APERTURE_START, 0x1000000),
		VAL(MOCK_APERTURE_LAST, 0x7fffffff),
		VAL(MOCK_PAGE_SIZE, 0x800),
		VAL(MOCK_HUGE_PAGE_SIZE, 0x100000),
		VAL(MOCK_IOMMUPT_DEFAULT, 0x0),
		VAL(MOCK_IOMMUPT_HUGE, 0x1),
		VAL(MOCK_FLAGS_ACCESS_WRITE, 0x1),
		VAL(MOCK_FLAGS_ACCESS_SYZ, 0x10000),
		VAL(MOCK_ACCESS_RW_WRITE, 0x1),
		VAL(MOCK_ACCESS_RW_SLOW_PATH, 0x4),
		VAL(MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES, 0x1),
		VAL(MOCK_FLAGS_DEVICE_NO_DIRTY, 0x1),
		VAL(MOCK_FLAGS_DEVICE_PASID, 0x4),
		VAL(MOCK_NESTED_DOMAIN_IOTLB_ID_MAX, 0x3),
		VAL(MOCK_NESTED_DOMAIN_IOTLB_NUM, 0x4),
		VAL(MOCK_DEV_CACHE_ID_MAX, 0x3),
		VAL(MOCK_DEV_CACHE_NUM, 0x4),
		VAL(IOMMU_TEST_PASID_RESERVED, 0x400),
		VAL(MOCK_PASID_WIDTH, 0x14),
		VAL(IOMMU_HW_INFO_TYPE_SELFTEST, 0xfeedbeef),
		VAL(IOMMU_HW_INFO_SELFTEST_REGVAL, 0xdeadbeef),
		VAL(IOMMU_HWPT_DATA_SELFTEST, 0xdead),
		VAL(IOMMU_TEST_IOTLB_DEFAULT, 0xbadbeef),
		VAL(IOMMU_TEST_DEV_CACHE_DEFAULT, 0xbaddad),
		VAL(IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, 0xdeadbeef),
		VAL(IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID, 0xdadbeef),
		VAL(IOMMU_TEST_INVALIDATE_FLAG_ALL, 0x1),
		VAL(IOMMU_VIOMMU_TYPE_SELFTEST, 0xdeadbeef),
		VAL(IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST, 0xdeadbeef),
		VAL(IOMMU_VEVENTQ_TYPE_SELFTEST, 0xbeefbeef),
		VAL(IOMMU_HW_QUEUE_TYPE_SELFTEST, 0xdeadbeef),
		VAL(IOMMU_TEST_HW_QUEUE_MAX, 2),
		/* the MOCK_IO_PAGE_SIZE of lib/domains agrees */
		VAL(MOCK_IO_PAGE_SIZE, 0x800),
	};
	static const struct field_row fields[] = {
		FLD(struct iommu_test_hw_info, flags, T_U32, 0, 4),
		FLD(struct iommu_test_hw_info, test_reg, T_U32, 4, 4),
		FLD(struct iommu_hwpt_selftest, iotlb, T_U32, 0, 4),
		FLD(struct iommu_hwpt_selftest, pagetable_type, T_U32, 4, 4),
		FLD(struct iommu_hwpt_invalidate_selftest, flags, T_U32, 0, 4),
		FLD(struct iommu_hwpt_invalidate_selftest, iotlb_id, T_U32, 4,
		    4),
		FLD(struct iommu_viommu_selftest, in_data, T_U32, 0, 4),
		FLD(struct iommu_viommu_selftest, out_data, T_U32, 4, 4),
		FLD(struct iommu_viommu_selftest, out_mmap_offset, T_U64, 8, 8),
		FLD(struct iommu_viommu_selftest, out_mmap_length, T_U64, 16,
		    8),
		FLD(struct iommu_viommu_invalidate_selftest, flags, T_U32, 0,
		    4),
		FLD(struct iommu_viommu_invalidate_selftest, vdev_id, T_U32, 4,
		    4),
		FLD(struct iommu_viommu_invalidate_selftest, cache_id, T_U32, 8,
		    4),
		FLD(struct iommu_viommu_event_selftest, virt_id, T_U32, 0, 4),
	};
	static const struct value_row sizes[] = {
		VAL(sizeof(struct iommu_test_hw_info), 8),
		VAL(sizeof(struct iommu_hwpt_selftest), 8),
		VAL(sizeof(struct iommu_hwpt_invalidate_selftest), 8),
		VAL(sizeof(struct iommu_viommu_selftest), 24),
		VAL(sizeof(struct iommu_viommu_invalidate_selftest), 12),
		VAL(sizeof(struct iommu_viommu_event_selftest), 4),
	};

	ASSERT_EQ(0, check_values(rows, ARRAY_SIZE(rows)) +
			     check_fields(fields, ARRAY_SIZE(fields)) +
			     check_values(sizes, ARRAY_SIZE(sizes)));
}

/* ---------------------------------------------------------------------
 * Section 7: the VFIO type1 container ABI, from the system's
 * <linux/vfio.h>. Debian 12's copy (6.1) declares iova_pgsizes as a plain
 * __u64 and has no trailing "pad" word in vfio_iommu_type1_info; on LP64
 * the layout is the same 24 bytes either way.
 */
TEST(vfio_compat_abi)
{
	static const struct value_row rows[] = {
		VAL(VFIO_TYPE, 0x3b),
		VAL(VFIO_BASE, 100),
		VAL(VFIO_GET_API_VERSION, 0x3b64),
		VAL(VFIO_CHECK_EXTENSION, 0x3b65),
		VAL(VFIO_SET_IOMMU, 0x3b66),
		VAL(VFIO_IOMMU_GET_INFO, 0x3b70),
		VAL(VFIO_IOMMU_MAP_DMA, 0x3b71),
		VAL(VFIO_IOMMU_UNMAP_DMA, 0x3b72),
		/* below iommufd's first command: they reach the compat path */
		VAL(_IOC_NR(VFIO_IOMMU_UNMAP_DMA) < IOMMUFD_CMD_BASE, 1),
		VAL(VFIO_API_VERSION, 0),
		VAL(VFIO_TYPE1_IOMMU, 1),
		VAL(VFIO_TYPE1v2_IOMMU, 3),
		VAL(VFIO_DMA_MAP_FLAG_READ, 1),
		VAL(VFIO_DMA_MAP_FLAG_WRITE, 2),
		VAL(VFIO_DMA_UNMAP_FLAG_ALL, 2),
		VAL(VFIO_IOMMU_INFO_PGSIZES, 1),
		VAL(VFIO_IOMMU_INFO_CAPS, 2),
		VAL(VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, 1),
		VAL(VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, 3),
		VAL(sizeof(struct vfio_iommu_type1_info), 24),
		VAL(sizeof(struct vfio_iommu_type1_dma_map), 32),
		VAL(sizeof(struct vfio_iommu_type1_dma_unmap), 24),
		VAL(sizeof(struct vfio_info_cap_header), 8),
		VAL(sizeof(struct vfio_iommu_type1_info_cap_iova_range), 16),
		VAL(sizeof(struct vfio_iova_range), 16),
		VAL(sizeof(struct vfio_iommu_type1_info_dma_avail), 12),
	};
	static const struct field_row fields[] = {
		FLD(struct vfio_iommu_type1_info, argsz, T_U32, 0, 4),
		FLD(struct vfio_iommu_type1_info, flags, T_U32, 4, 4),
		FLD(struct vfio_iommu_type1_info, iova_pgsizes, T_U64, 8, 8),
		FLD(struct vfio_iommu_type1_info, cap_offset, T_U32, 16, 4),
		FLD(struct vfio_iommu_type1_dma_map, argsz, T_U32, 0, 4),
		FLD(struct vfio_iommu_type1_dma_map, flags, T_U32, 4, 4),
		FLD(struct vfio_iommu_type1_dma_map, vaddr, T_U64, 8, 8),
		FLD(struct vfio_iommu_type1_dma_map, iova, T_U64, 16, 8),
		FLD(struct vfio_iommu_type1_dma_map, size, T_U64, 24, 8),
		FLD(struct vfio_iommu_type1_dma_unmap, argsz, T_U32, 0, 4),
		FLD(struct vfio_iommu_type1_dma_unmap, flags, T_U32, 4, 4),
		FLD(struct vfio_iommu_type1_dma_unmap, iova, T_U64, 8, 8),
		FLD(struct vfio_iommu_type1_dma_unmap, size, T_U64, 16, 8),
		FLEX(struct vfio_iommu_type1_dma_unmap, data, T_U8, 24),
		FLD(struct vfio_info_cap_header, id, T_U16, 0, 2),
		FLD(struct vfio_info_cap_header, version, T_U16, 2, 2),
		FLD(struct vfio_info_cap_header, next, T_U32, 4, 4),
		AGG(struct vfio_iommu_type1_info_cap_iova_range, header, 0, 8),
		FLD(struct vfio_iommu_type1_info_cap_iova_range, nr_iovas,
		    T_U32, 8, 4),
		FLD(struct vfio_iommu_type1_info_cap_iova_range, reserved,
		    T_U32, 12, 4),
		FLEX(struct vfio_iommu_type1_info_cap_iova_range, iova_ranges,
		     T_OTHER, 16),
		FLD(struct vfio_iova_range, start, T_U64, 0, 8),
		FLD(struct vfio_iova_range, end, T_U64, 8, 8),
		AGG(struct vfio_iommu_type1_info_dma_avail, header, 0, 8),
		FLD(struct vfio_iommu_type1_info_dma_avail, avail, T_U32, 8, 4),
	};

	ASSERT_EQ(0, check_values(rows, ARRAY_SIZE(rows)) +
			     check_fields(fields, ARRAY_SIZE(fields)));
}

/* ---------------------------------------------------------------------
 * That this file compiled is the coexistence check (see the includes at
 * the top); this records which copy of the definitions is in effect.
 */
TEST(header_coexistence)
{
#ifdef UIOMMUFD_IOMMUFD_UAPI_OWN
	const bool own = true;
#else
	const bool own = false;
#endif

	TH_LOG("<linux/iommufd.h> %s on this machine; definitions from %s",
	       SYSTEM_IOMMUFD_H ? "present" : "absent",
	       own ? "include/uiommufd/iommufd_uapi.h" : "<linux/iommufd.h>");
	/* Included first, the project's header always supplies them. */
	ASSERT_TRUE(own);
	ASSERT_EQ(MOCK_APERTURE_START, 0x1000000ULL);
	ASSERT_EQ(MOCK_APERTURE_LAST, 0x7fffffffULL);
	ASSERT_EQ(MOCK_HUGE_PAGE_SIZE, 512 * MOCK_PAGE_SIZE);
}
