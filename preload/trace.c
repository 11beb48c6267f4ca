// SPDX-License-Identifier: MIT
/*
 * uiommufd-run --trace: every call on a shim descriptor, decoded. One
 * line per call, written with a single write() so threads and processes
 * interleave by line:
 *	IOMMU_IOAS_MAP(3, {size=40 flags=0x7 ioas_id=1 ...}) = 0
 *	IOMMU_DESTROY(3, {size=8 id=9}) = -1 ENOENT (no object with ID 9)
 * The struct is read after the call, so outputs show their new values;
 * fields that are input and output both show IN->OUT when the shim also
 * handed over a copy from before the call (trace_ioctl_enter). Memory is
 * read with process_vm_readv, so a bad pointer cannot crash the trace;
 * what a command points at (nested domain data, hardware info, selftest
 * invalidation entries) is shown where the trace can read it. Reads of
 * fault queues and vEVENTQs show the records that moved; mmap and munmap
 * of the regions of /dev/iommu show as strace would.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "preload/shim.h"
#include "uiommufd/iommufd_test_uapi.h"
#include "uiommufd/iommufd_uapi.h"

static int trace_fd = -1;

void trace_forget(void)
{
	trace_fd = -1;
}

bool trace_enabled(void)
{
	return trace_fd >= 0;
}

/* What contexts answer as, from the environment uiommufd-run set. */
static void trace_host(void)
{
	struct uiommufd_ctx_attr attr = { .size = sizeof(attr) };
	const char *kernel = getenv("UIOMMUFD_KERNEL");
	const char *caps = getenv("UIOMMUFD_CAPS");
	const char *memlock = getenv("UIOMMUFD_MEMLOCK");
	uint32_t version = UIOMMUFD_KERNEL_NEWEST;

	if (kernel && *kernel) {
		if (uiommufd_ctx_attr_parse(&attr, "kernel", kernel)) {
			trace_printf("uiommufd: UIOMMUFD_KERNEL=%s is not a release uiommufd answers as: every command fails\n",
				     kernel);
			return;
		}
		version = attr.kernel;
	}
	trace_printf("uiommufd: Linux %u.%u%s, capabilities %s, memlock %s\n",
		     version >> 16, (version >> 8) & 0xff,
		     kernel && *kernel ? "" : " (the newest)",
		     caps && *caps ? caps : "the program's own",
		     memlock && *memlock ? memlock :
					   "the program's RLIMIT_MEMLOCK");
}

void trace_init(void)
{
	const char *where = getenv("UIOMMUFD_TRACE");

	if (!where || !*where || trace_fd >= 0)
		return;
	if (!strcmp(where, "-"))
		trace_fd = STDERR_FILENO;
	else
		trace_fd = real.open(where,
				     O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
				     0644);
	if (trace_fd >= 0)
		trace_host();
}

void trace_printf(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	real.write(trace_fd, line, n);
}

/* ---- building a line ---- */

struct line {
	char *buf;
	size_t room;
	size_t len;
};

/* Appends; a line that runs out of room keeps what fitted. */
static void __attribute__((format(printf, 2, 3)))
put(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (l->len + 1 >= l->room)
		return;
	va_start(ap, fmt);
	n = vsnprintf(l->buf + l->len, l->room - l->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= l->room - l->len)
		l->len = l->room - 1;
	else
		l->len += n;
}

/* Read the caller's memory without trusting the pointer. */
static size_t peek(const void *uptr, void *buf, size_t len)
{
	struct iovec local = { buf, len };
	struct iovec remote = { (void *)uptr, len };
	ssize_t n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);

	return n < 0 ? 0 : n;
}

/* ---- fields ---- */

struct name {
	unsigned long long value;
	const char *name;
};

enum field_kind {
	FK_NUM,		/* decimal below 10, hex from there */
	FK_DEC,		/* signed decimal: descriptors */
	FK_FLAGS,	/* bit names joined by |, unknown bits in hex */
	FK_ENUM,	/* the value's name, else as FK_NUM */
};

struct field {
	const char *name;
	unsigned short offset;
	unsigned char size;
	unsigned char kind;
	bool inout;	/* shown as IN->OUT when the command changed it */
	const struct name *names;
};

#define offsetofend(type, member)                                           \
	(offsetof(type, member) + sizeof(((type *)0)->member))
#define F(type, member)                                                     \
	{ #member, offsetof(type, member), sizeof(((type *)0)->member) }
#define FN(type, member, kind, names)                                       \
	{ #member, offsetof(type, member), sizeof(((type *)0)->member),     \
	  kind, false, names }
#define FIO(type, member)                                                   \
	{ #member, offsetof(type, member), sizeof(((type *)0)->member),     \
	  FK_NUM, true, NULL }
#define TF(member) F(struct iommu_test_cmd, member)
#define TFN(member, kind, names) FN(struct iommu_test_cmd, member, kind, names)
#define TFIO(member) FIO(struct iommu_test_cmd, member)

static unsigned long long field_value(const unsigned char *cmd,
				      const struct field *f)
{
	unsigned long long v = 0;

	memcpy(&v, cmd + f->offset, f->size);	/* little endian */
	return v;
}

static void put_number(struct line *l, unsigned long long v)
{
	put(l, v < 10 ? "%llu" : "%#llx", v);
}

static void put_value(struct line *l, const struct field *f,
		      unsigned long long v)
{
	const struct name *n;
	const char *sep = "";

	switch (f->kind) {
	case FK_DEC:
		/* Sign-extend from the field's width. */
		if (f->size < sizeof(v) && (v >> (f->size * 8 - 1)) & 1)
			v |= ~0ULL << (f->size * 8);
		put(l, "%lld", (long long)v);
		return;
	case FK_FLAGS:
		if (!v) {
			put(l, "0");
			return;
		}
		for (n = f->names; n && n->name; n++) {
			if ((v & n->value) != n->value)
				continue;
			put(l, "%s%s", sep, n->name);
			sep = "|";
			v &= ~n->value;
		}
		if (v)
			put(l, "%s%#llx", sep, v);
		return;
	case FK_ENUM:
		for (n = f->names; n && n->name; n++) {
			if (n->value == v) {
				put(l, "%s", n->name);
				return;
			}
		}
		break;
	}
	put_number(l, v);
}

/* What the program passed, copied before the call (trace_ioctl_enter). */
struct snapshot {
	unsigned long request;
	const void *arg;
	size_t have;
	unsigned char cmd[128] __attribute__((aligned(8)));
};

static __thread struct snapshot before;

/* One call being decoded: the struct as it is after the call. */
struct call {
	const unsigned char *cmd;
	size_t have;
	const struct snapshot *before;	/* or NULL */
	int rc;
};

/* @f of the struct the program passed, when the trace has it. */
static bool value_before(const struct call *c, const struct field *f,
			 unsigned long long *v)
{
	if (!c->before || f->offset + f->size > c->before->have)
		return false;
	*v = field_value(c->before->cmd, f);
	return true;
}

static void put_field(struct line *l, const struct call *c,
		      const struct field *f)
{
	unsigned long long v = field_value(c->cmd, f), in;

	/* Fields are spaced apart, but not from their opening brace. */
	put(l, "%s%s=", l->buf[l->len - 1] == '{' ? "" : " ", f->name);
	if (f->inout && value_before(c, f, &in) && in != v) {
		put_value(l, f, in);
		put(l, "->");
	}
	put_value(l, f, v);
}

/* The fields that fit in what the caller's size covers, in order. */
static void put_fields(struct line *l, const struct call *c,
		       const struct field *f)
{
	for (; f && f->name; f++) {
		if (f->offset + f->size > c->have)
			break;
		put_field(l, c, f);
	}
}

/* Memory the command points at, as {a=1 b=2}, or {?} if unreadable. */
static void put_pointed(struct line *l, const char *prefix, uint64_t uptr,
			size_t len, const struct field *fields)
{
	unsigned char data[32] __attribute__((aligned(8)));
	struct call d = { .cmd = data };

	if (len > sizeof(data))
		len = sizeof(data);
	d.have = peek((const void *)(uintptr_t)uptr, data, len);
	put(l, "%s{", prefix);
	if (d.have)
		put_fields(l, &d, fields);
	else
		put(l, "?");
	put(l, "}");
}

/* ---- names ---- */

static const struct name hwpt_alloc_flags[] = {
	{ IOMMU_HWPT_ALLOC_NEST_PARENT, "NEST_PARENT" },
	{ IOMMU_HWPT_ALLOC_DIRTY_TRACKING, "DIRTY_TRACKING" },
	{ IOMMU_HWPT_FAULT_ID_VALID, "FAULT_ID_VALID" },
	{ IOMMU_HWPT_ALLOC_PASID, "PASID" },
	{}
};
static const struct name hwpt_data_types[] = {
	{ IOMMU_HWPT_DATA_NONE, "NONE" },
	{ IOMMU_HWPT_DATA_VTD_S1, "VTD_S1" },
	{ IOMMU_HWPT_DATA_ARM_SMMUV3, "ARM_SMMUV3" },
	{ IOMMU_HWPT_DATA_AMD_GUEST, "AMD_GUEST" },
	{ IOMMU_HWPT_DATA_SELFTEST, "SELFTEST" },
	{}
};
static const struct name mock_pagetable_types[] = {
	{ MOCK_IOMMUPT_DEFAULT, "DEFAULT" },
	{ MOCK_IOMMUPT_HUGE, "HUGE" },
	{}
};
static const struct name hw_info_flags[] = {
	{ IOMMU_HW_INFO_FLAG_INPUT_TYPE, "INPUT_TYPE" },
	{}
};
/* Type 0 asks for the default and answers "no data". */
static const struct name hw_info_in_types[] = {
	{ IOMMU_HW_INFO_TYPE_DEFAULT, "DEFAULT" },
	{ IOMMU_HW_INFO_TYPE_INTEL_VTD, "INTEL_VTD" },
	{ IOMMU_HW_INFO_TYPE_ARM_SMMUV3, "ARM_SMMUV3" },
	{ IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV, "TEGRA241_CMDQV" },
	{ IOMMU_HW_INFO_TYPE_AMD, "AMD" },
	{ IOMMU_HW_INFO_TYPE_SELFTEST, "SELFTEST" },
	{}
};
static const struct name hw_info_out_types[] = {
	{ IOMMU_HW_INFO_TYPE_NONE, "NONE" },
	{ IOMMU_HW_INFO_TYPE_INTEL_VTD, "INTEL_VTD" },
	{ IOMMU_HW_INFO_TYPE_ARM_SMMUV3, "ARM_SMMUV3" },
	{ IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV, "TEGRA241_CMDQV" },
	{ IOMMU_HW_INFO_TYPE_AMD, "AMD" },
	{ IOMMU_HW_INFO_TYPE_SELFTEST, "SELFTEST" },
	{}
};
static const struct name hw_capabilities[] = {
	{ IOMMU_HW_CAP_DIRTY_TRACKING, "DIRTY_TRACKING" },
	{ IOMMU_HW_CAP_PCI_PASID_EXEC, "PCI_PASID_EXEC" },
	{ IOMMU_HW_CAP_PCI_PASID_PRIV, "PCI_PASID_PRIV" },
	{ IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED, "PCI_ATS_NOT_SUPPORTED" },
	{}
};
static const struct name dirty_tracking_flags[] = {
	{ IOMMU_HWPT_DIRTY_TRACKING_ENABLE, "ENABLE" },
	{}
};
static const struct name dirty_bitmap_flags[] = {
	{ IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR, "NO_CLEAR" },
	{}
};
static const struct name invalidate_data_types[] = {
	{ IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, "VTD_S1" },
	{ IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, "ARM_SMMUV3" },
	{ IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, "SELFTEST" },
	{ IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID, "SELFTEST_INVALID" },
	{}
};
static const struct name invalidate_selftest_flags[] = {
	{ IOMMU_TEST_INVALIDATE_FLAG_ALL, "ALL" },
	{}
};
static const struct name map_flags[] = {
	{ IOMMU_IOAS_MAP_FIXED_IOVA, "FIXED_IOVA" },
	{ IOMMU_IOAS_MAP_WRITEABLE, "WRITEABLE" },
	{ IOMMU_IOAS_MAP_READABLE, "READABLE" },
	{}
};
static const struct name mock_dev_flags[] = {
	{ MOCK_FLAGS_DEVICE_NO_DIRTY, "NO_DIRTY" },
	{ MOCK_FLAGS_DEVICE_PASID, "PASID" },
	{}
};

/* ---- commands ---- */

struct command {
	unsigned long request;
	const char *name;
	const struct field *fields;
	/* What the struct points at or holds beyond plain fields. */
	void (*extra)(struct line *l, const struct call *c);
};

static const struct field destroy_fields[] = {
	F(struct iommu_destroy, id), {}
};
static const struct field ioas_alloc_fields[] = {
	F(struct iommu_ioas_alloc, flags),
	F(struct iommu_ioas_alloc, out_ioas_id), {}
};
static const struct field allow_iovas_fields[] = {
	F(struct iommu_ioas_allow_iovas, ioas_id),
	F(struct iommu_ioas_allow_iovas, num_iovas),
	F(struct iommu_ioas_allow_iovas, allowed_iovas), {}
};
static const struct field copy_fields[] = {
	F(struct iommu_ioas_copy, flags),
	F(struct iommu_ioas_copy, dst_ioas_id),
	F(struct iommu_ioas_copy, src_ioas_id),
	F(struct iommu_ioas_copy, length),
	F(struct iommu_ioas_copy, dst_iova),
	F(struct iommu_ioas_copy, src_iova), {}
};
static const struct field iova_ranges_fields[] = {
	F(struct iommu_ioas_iova_ranges, ioas_id),
	F(struct iommu_ioas_iova_ranges, num_iovas),
	F(struct iommu_ioas_iova_ranges, allowed_iovas),
	F(struct iommu_ioas_iova_ranges, out_iova_alignment), {}
};
static const struct field map_fields[] = {
	F(struct iommu_ioas_map, flags),
	F(struct iommu_ioas_map, ioas_id),
	F(struct iommu_ioas_map, user_va),
	F(struct iommu_ioas_map, length),
	F(struct iommu_ioas_map, iova), {}
};
static const struct field unmap_fields[] = {
	F(struct iommu_ioas_unmap, ioas_id),
	F(struct iommu_ioas_unmap, iova),
	F(struct iommu_ioas_unmap, length), {}
};
static const struct field option_fields[] = {
	F(struct iommu_option, option_id),
	F(struct iommu_option, op),
	F(struct iommu_option, object_id),
	F(struct iommu_option, val64), {}
};
static const struct field vfio_ioas_fields[] = {
	F(struct iommu_vfio_ioas, ioas_id),
	F(struct iommu_vfio_ioas, op), {}
};

/* Linux 7.2, ABI part 1 */

static const struct field hwpt_alloc_fields[] = {
	FN(struct iommu_hwpt_alloc, flags, FK_FLAGS, hwpt_alloc_flags),
	F(struct iommu_hwpt_alloc, dev_id),
	F(struct iommu_hwpt_alloc, pt_id),
	F(struct iommu_hwpt_alloc, out_hwpt_id),
	FN(struct iommu_hwpt_alloc, data_type, FK_ENUM, hwpt_data_types),
	F(struct iommu_hwpt_alloc, data_len),
	F(struct iommu_hwpt_alloc, data_uptr),
	F(struct iommu_hwpt_alloc, fault_id), {}
};

/* The selftest driver's nested domain data, as far as data_len covers. */
static void hwpt_alloc_extra(struct line *l, const struct call *c)
{
	static const struct field sel[] = {
		F(struct iommu_hwpt_selftest, iotlb),
		FN(struct iommu_hwpt_selftest, pagetable_type, FK_ENUM,
		   mock_pagetable_types), {}
	};
	const struct iommu_hwpt_alloc *cmd = (const void *)c->cmd;

	if (c->have < offsetofend(struct iommu_hwpt_alloc, data_uptr) ||
	    cmd->data_type != IOMMU_HWPT_DATA_SELFTEST || !cmd->data_len)
		return;
	put_pointed(l, " data=", cmd->data_uptr, cmd->data_len, sel);
}

#define HW_INFO_DATA_LEN 2
static const struct field hw_info_fields[] = {
	FN(struct iommu_hw_info, flags, FK_FLAGS, hw_info_flags),
	F(struct iommu_hw_info, dev_id),
	[HW_INFO_DATA_LEN] = FIO(struct iommu_hw_info, data_len),
	F(struct iommu_hw_info, data_uptr), {}
};

/*
 * The type word is in_data_type until the command succeeds, then
 * out_data_type; the output fields follow it, then the selftest driver's
 * data as far as both lengths cover (the rest of the buffer is zeroed).
 */
static void hw_info_extra(struct line *l, const struct call *c)
{
	static const struct field in_type =
		FN(struct iommu_hw_info, in_data_type, FK_ENUM,
		   hw_info_in_types);
	static const struct field out_type =
		FN(struct iommu_hw_info, out_data_type, FK_ENUM,
		   hw_info_out_types);
	static const struct field outs[] = {
		F(struct iommu_hw_info, out_max_pasid_log2),
		FN(struct iommu_hw_info, out_capabilities, FK_FLAGS,
		   hw_capabilities), {}
	};
	static const struct field sel[] = {
		F(struct iommu_test_hw_info, flags),
		F(struct iommu_test_hw_info, test_reg), {}
	};
	const struct iommu_hw_info *cmd = (const void *)c->cmd;
	unsigned long long in, len;

	if (c->have < offsetof(struct iommu_hw_info, out_max_pasid_log2))
		return;
	if (cmd->flags & IOMMU_HW_INFO_FLAG_INPUT_TYPE) {
		if (c->rc < 0) {
			put_field(l, c, &in_type);
		} else if (value_before(c, &in_type, &in)) {
			put(l, " %s=", in_type.name);
			put_value(l, &in_type, in);
		}
	}
	if (c->rc >= 0)
		put_field(l, c, &out_type);
	put_fields(l, c, outs);
	if (c->rc < 0 || cmd->out_data_type != IOMMU_HW_INFO_TYPE_SELFTEST)
		return;
	/* Only min(passed, returned) bytes are the driver's. */
	len = cmd->data_len;
	if (value_before(c, &hw_info_fields[HW_INFO_DATA_LEN], &in) &&
	    in < len)
		len = in;
	if (len)
		put_pointed(l, " data=", cmd->data_uptr, len, sel);
}

static const struct field set_dirty_tracking_fields[] = {
	FN(struct iommu_hwpt_set_dirty_tracking, flags, FK_FLAGS,
	   dirty_tracking_flags),
	F(struct iommu_hwpt_set_dirty_tracking, hwpt_id), {}
};
static const struct field get_dirty_bitmap_fields[] = {
	F(struct iommu_hwpt_get_dirty_bitmap, hwpt_id),
	FN(struct iommu_hwpt_get_dirty_bitmap, flags, FK_FLAGS,
	   dirty_bitmap_flags),
	F(struct iommu_hwpt_get_dirty_bitmap, iova),
	F(struct iommu_hwpt_get_dirty_bitmap, length),
	F(struct iommu_hwpt_get_dirty_bitmap, page_size),
	F(struct iommu_hwpt_get_dirty_bitmap, data), {}
};
#define INVALIDATE_ENTRY_NUM 4
static const struct field invalidate_fields[] = {
	F(struct iommu_hwpt_invalidate, hwpt_id),
	F(struct iommu_hwpt_invalidate, data_uptr),
	FN(struct iommu_hwpt_invalidate, data_type, FK_ENUM,
	   invalidate_data_types),
	F(struct iommu_hwpt_invalidate, entry_len),
	[INVALIDATE_ENTRY_NUM] = FIO(struct iommu_hwpt_invalidate, entry_num),
	{}
};

/* Entries shown of an invalidation; a batch can be long. */
#define TRACE_ENTRIES 4

/*
 * The selftest entries the program passed: entry_num comes back as the
 * number handled, so the count passed is the one copied before the call.
 *
 * A nested HW pagetable's (flags, iotlb_id) and a vIOMMU's (flags,
 * vdev_id, cache_id) share the data_type value, and the library does not
 * tell the shim what hwpt_id names. entry_len does: each driver takes
 * entries at least as long as its struct (longer ones with a zero tail),
 * so fewer than 12 bytes can only be the nested layout; 12 or more is
 * taken for the vIOMMU's.
 */
static void invalidate_extra(struct line *l, const struct call *c)
{
	static const struct field nested[] = {
		FN(struct iommu_hwpt_invalidate_selftest, flags, FK_FLAGS,
		   invalidate_selftest_flags),
		F(struct iommu_hwpt_invalidate_selftest, iotlb_id), {}
	};
	static const struct field viommu[] = {
		FN(struct iommu_viommu_invalidate_selftest, flags, FK_FLAGS,
		   invalidate_selftest_flags),
		F(struct iommu_viommu_invalidate_selftest, vdev_id),
		F(struct iommu_viommu_invalidate_selftest, cache_id), {}
	};
	const struct iommu_hwpt_invalidate *cmd = (const void *)c->cmd;
	const struct field *sel;
	unsigned long long num;

	if (c->have < offsetofend(struct iommu_hwpt_invalidate, entry_num) ||
	    cmd->data_type != IOMMU_HWPT_INVALIDATE_DATA_SELFTEST ||
	    !cmd->entry_len)
		return;
	if (!value_before(c, &invalidate_fields[INVALIDATE_ENTRY_NUM], &num))
		num = cmd->entry_num;
	if (!num)
		return;
	if (cmd->entry_len < sizeof(struct iommu_viommu_invalidate_selftest))
		sel = nested;
	else
		sel = viommu;
	put(l, " entries=[");
	for (unsigned int i = 0; i != num && i != TRACE_ENTRIES; i++)
		put_pointed(l, i ? " " : "",
			    cmd->data_uptr + (uint64_t)i * cmd->entry_len,
			    cmd->entry_len, sel);
	if (num > TRACE_ENTRIES)
		put(l, " +%llu", num - TRACE_ENTRIES);
	put(l, "]");
}

static const struct field fault_alloc_fields[] = {
	F(struct iommu_fault_alloc, flags),
	F(struct iommu_fault_alloc, out_fault_id),
	FN(struct iommu_fault_alloc, out_fault_fd, FK_DEC, NULL), {}
};

static const struct field map_file_fields[] = {
	FN(struct iommu_ioas_map_file, flags, FK_FLAGS, map_flags),
	F(struct iommu_ioas_map_file, ioas_id),
	FN(struct iommu_ioas_map_file, fd, FK_DEC, NULL),
	F(struct iommu_ioas_map_file, start),
	F(struct iommu_ioas_map_file, length),
	FIO(struct iommu_ioas_map_file, iova), {}
};

/* vIOMMUs, vdevices and HW queues */

static const struct name viommu_types[] = {
	{ IOMMU_VIOMMU_TYPE_DEFAULT, "DEFAULT" },
	{ IOMMU_VIOMMU_TYPE_ARM_SMMUV3, "ARM_SMMUV3" },
	{ IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV, "TEGRA241_CMDQV" },
	{ IOMMU_VIOMMU_TYPE_SELFTEST, "SELFTEST" },
	{}
};
static const struct name hw_queue_types[] = {
	{ IOMMU_HW_QUEUE_TYPE_DEFAULT, "DEFAULT" },
	{ IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV, "TEGRA241_CMDQV" },
	{ IOMMU_HW_QUEUE_TYPE_SELFTEST, "SELFTEST" },
	{}
};

static const struct field viommu_alloc_fields[] = {
	F(struct iommu_viommu_alloc, flags),
	FN(struct iommu_viommu_alloc, type, FK_ENUM, viommu_types),
	F(struct iommu_viommu_alloc, dev_id),
	F(struct iommu_viommu_alloc, hwpt_id),
	F(struct iommu_viommu_alloc, out_viommu_id),
	F(struct iommu_viommu_alloc, data_len),
	F(struct iommu_viommu_alloc, data_uptr), {}
};

/* The mock vIOMMU's data after the call: where its pages map. */
static void viommu_alloc_extra(struct line *l, const struct call *c)
{
	static const struct field sel[] = {
		F(struct iommu_viommu_selftest, in_data),
		F(struct iommu_viommu_selftest, out_data),
		F(struct iommu_viommu_selftest, out_mmap_offset),
		F(struct iommu_viommu_selftest, out_mmap_length), {}
	};
	const struct iommu_viommu_alloc *cmd = (const void *)c->cmd;

	if (c->have < offsetofend(struct iommu_viommu_alloc, data_uptr) ||
	    cmd->type != IOMMU_VIOMMU_TYPE_SELFTEST || !cmd->data_len)
		return;
	put_pointed(l, " data=", cmd->data_uptr, cmd->data_len, sel);
}

static const struct field vdevice_alloc_fields[] = {
	F(struct iommu_vdevice_alloc, viommu_id),
	F(struct iommu_vdevice_alloc, dev_id),
	F(struct iommu_vdevice_alloc, out_vdevice_id),
	F(struct iommu_vdevice_alloc, virt_id), {}
};

static const struct field hw_queue_alloc_fields[] = {
	F(struct iommu_hw_queue_alloc, flags),
	F(struct iommu_hw_queue_alloc, viommu_id),
	FN(struct iommu_hw_queue_alloc, type, FK_ENUM, hw_queue_types),
	F(struct iommu_hw_queue_alloc, index),
	F(struct iommu_hw_queue_alloc, out_hw_queue_id),
	F(struct iommu_hw_queue_alloc, nesting_parent_iova),
	F(struct iommu_hw_queue_alloc, length), {}
};

/* vEVENTQs */

static const struct name veventq_types[] = {
	{ IOMMU_VEVENTQ_TYPE_DEFAULT, "DEFAULT" },
	{ IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, "ARM_SMMUV3" },
	{ IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV, "TEGRA241_CMDQV" },
	{ IOMMU_VEVENTQ_TYPE_SELFTEST, "SELFTEST" },
	{}
};

static const struct field veventq_alloc_fields[] = {
	F(struct iommu_veventq_alloc, flags),
	F(struct iommu_veventq_alloc, viommu_id),
	FN(struct iommu_veventq_alloc, type, FK_ENUM, veventq_types),
	F(struct iommu_veventq_alloc, veventq_depth),
	F(struct iommu_veventq_alloc, out_veventq_id),
	FN(struct iommu_veventq_alloc, out_veventq_fd, FK_DEC, NULL), {}
};

static const struct command commands[] = {
	{ IOMMU_DESTROY, "IOMMU_DESTROY", destroy_fields },
	{ IOMMU_IOAS_ALLOC, "IOMMU_IOAS_ALLOC", ioas_alloc_fields },
	{ IOMMU_IOAS_ALLOW_IOVAS, "IOMMU_IOAS_ALLOW_IOVAS",
	  allow_iovas_fields },
	{ IOMMU_IOAS_COPY, "IOMMU_IOAS_COPY", copy_fields },
	{ IOMMU_IOAS_IOVA_RANGES, "IOMMU_IOAS_IOVA_RANGES",
	  iova_ranges_fields },
	{ IOMMU_IOAS_MAP, "IOMMU_IOAS_MAP", map_fields },
	{ IOMMU_IOAS_UNMAP, "IOMMU_IOAS_UNMAP", unmap_fields },
	{ IOMMU_OPTION, "IOMMU_OPTION", option_fields },
	{ IOMMU_VFIO_IOAS, "IOMMU_VFIO_IOAS", vfio_ioas_fields },
	{ IOMMU_HWPT_ALLOC, "IOMMU_HWPT_ALLOC", hwpt_alloc_fields,
	  hwpt_alloc_extra },
	{ IOMMU_GET_HW_INFO, "IOMMU_GET_HW_INFO", hw_info_fields,
	  hw_info_extra },
	{ IOMMU_HWPT_SET_DIRTY_TRACKING, "IOMMU_HWPT_SET_DIRTY_TRACKING",
	  set_dirty_tracking_fields },
	{ IOMMU_HWPT_GET_DIRTY_BITMAP, "IOMMU_HWPT_GET_DIRTY_BITMAP",
	  get_dirty_bitmap_fields },
	{ IOMMU_HWPT_INVALIDATE, "IOMMU_HWPT_INVALIDATE", invalidate_fields,
	  invalidate_extra },
	{ IOMMU_IOAS_MAP_FILE, "IOMMU_IOAS_MAP_FILE", map_file_fields },
	{ IOMMU_FAULT_QUEUE_ALLOC, "IOMMU_FAULT_QUEUE_ALLOC",
	  fault_alloc_fields },
	{ IOMMU_VIOMMU_ALLOC, "IOMMU_VIOMMU_ALLOC", viommu_alloc_fields,
	  viommu_alloc_extra },
	{ IOMMU_VDEVICE_ALLOC, "IOMMU_VDEVICE_ALLOC", vdevice_alloc_fields },
	{ IOMMU_HW_QUEUE_ALLOC, "IOMMU_HW_QUEUE_ALLOC", hw_queue_alloc_fields },
	{ IOMMU_VEVENTQ_ALLOC, "IOMMU_VEVENTQ_ALLOC", veventq_alloc_fields },
	{ IOMMU_TEST_CMD, "IOMMU_TEST_CMD", NULL },
};

/* ---- test command ops ---- */

static const struct field add_reserved_fields[] = {
	TF(add_reserved.start), TF(add_reserved.length), {}
};
static const struct field mock_domain_fields[] = {
	TF(mock_domain.out_stdev_id), TF(mock_domain.out_hwpt_id),
	TF(mock_domain.out_idev_id), {}
};
static const struct field check_map_fields[] = {
	TF(check_map.iova), TF(check_map.length), TF(check_map.uptr), {}
};
static const struct field check_refs_fields[] = {
	TF(check_refs.length), TF(check_refs.uptr), TF(check_refs.refs), {}
};
static const struct field create_access_fields[] = {
	TF(create_access.out_access_fd), TF(create_access.flags), {}
};
static const struct field destroy_access_pages_fields[] = {
	TF(destroy_access_pages.access_pages_id), {}
};
static const struct field access_pages_fields[] = {
	TF(access_pages.flags), TF(access_pages.out_access_pages_id),
	TF(access_pages.iova), TF(access_pages.length),
	TF(access_pages.uptr), {}
};
static const struct field access_rw_fields[] = {
	TF(access_rw.iova), TF(access_rw.length), TF(access_rw.uptr),
	TF(access_rw.flags), {}
};
static const struct field memory_limit_fields[] = {
	TF(memory_limit.limit), {}
};
/* pt_id in, the ID attached (an auto HWPT's for an IOAS) out */
static const struct field mock_domain_replace_fields[] = {
	TFIO(mock_domain_replace.pt_id), {}
};
static const struct field access_replace_ioas_fields[] = {
	TF(access_replace_ioas.ioas_id), {}
};
static const struct field mock_domain_flags_fields[] = {
	TF(mock_domain_flags.out_stdev_id), TF(mock_domain_flags.out_hwpt_id),
	TF(mock_domain_flags.out_idev_id),
	TFN(mock_domain_flags.dev_flags, FK_FLAGS, mock_dev_flags), {}
};
static const struct field dirty_fields[] = {
	TF(dirty.flags), TF(dirty.iova), TF(dirty.length),
	TF(dirty.page_size), TF(dirty.uptr), TF(dirty.out_nr_dirty), {}
};
static const struct field check_iotlb_fields[] = {
	TF(check_iotlb.id), TF(check_iotlb.iotlb), {}
};
static const struct field check_dev_cache_fields[] = {
	TF(check_dev_cache.id), TF(check_dev_cache.cache), {}
};
static const struct name pgfault_perms[] = {
	{ IOMMU_PGFAULT_PERM_READ, "READ" },
	{ IOMMU_PGFAULT_PERM_WRITE, "WRITE" },
	{ IOMMU_PGFAULT_PERM_EXEC, "EXEC" },
	{ IOMMU_PGFAULT_PERM_PRIV, "PRIV" },
	{}
};
static const struct field trigger_iopf_fields[] = {
	TF(trigger_iopf.dev_id), TF(trigger_iopf.pasid),
	TF(trigger_iopf.grpid),
	TFN(trigger_iopf.perm, FK_FLAGS, pgfault_perms),
	TF(trigger_iopf.addr), {}
};
static const struct field trigger_vevent_fields[] = {
	TF(trigger_vevent.dev_id), {}
};
/* pt_id in, the HW pagetable attached out (an auto one's for an IOAS) */
static const struct field pasid_attach_fields[] = {
	TF(pasid_attach.pasid), TFIO(pasid_attach.pt_id), {}
};
static const struct field pasid_replace_fields[] = {
	TF(pasid_replace.pasid), TFIO(pasid_replace.pt_id), {}
};
static const struct field pasid_detach_fields[] = {
	TF(pasid_detach.pasid), {}
};
static const struct field pasid_check_fields[] = {
	TF(pasid_check.pasid), TF(pasid_check.hwpt_id), {}
};
static const struct field dmabuf_get_fields[] = {
	TF(dmabuf_get.length), TF(dmabuf_get.open_flags), {}
};
static const struct field dmabuf_revoke_fields[] = {
	TFN(dmabuf_revoke.dmabuf_fd, FK_DEC, NULL),
	TF(dmabuf_revoke.revoked), {}
};

struct test_op {
	const char *name;
	const struct field *fields;
};

static const struct test_op test_ops[] = {
	[IOMMU_TEST_OP_ADD_RESERVED] = { "ADD_RESERVED", add_reserved_fields },
	[IOMMU_TEST_OP_MOCK_DOMAIN] = { "MOCK_DOMAIN", mock_domain_fields },
	[IOMMU_TEST_OP_MD_CHECK_MAP] = { "MD_CHECK_MAP", check_map_fields },
	[IOMMU_TEST_OP_MD_CHECK_REFS] = { "MD_CHECK_REFS",
					  check_refs_fields },
	[IOMMU_TEST_OP_CREATE_ACCESS] = { "CREATE_ACCESS",
					  create_access_fields },
	[IOMMU_TEST_OP_DESTROY_ACCESS_PAGES] = {
		"DESTROY_ACCESS_PAGES", destroy_access_pages_fields },
	[IOMMU_TEST_OP_ACCESS_PAGES] = { "ACCESS_PAGES", access_pages_fields },
	[IOMMU_TEST_OP_ACCESS_RW] = { "ACCESS_RW", access_rw_fields },
	[IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT] = { "SET_TEMP_MEMORY_LIMIT",
						  memory_limit_fields },
	[IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE] = { "MOCK_DOMAIN_REPLACE",
						mock_domain_replace_fields },
	[IOMMU_TEST_OP_ACCESS_REPLACE_IOAS] = { "ACCESS_REPLACE_IOAS",
						access_replace_ioas_fields },
	[IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS] = { "MOCK_DOMAIN_FLAGS",
					      mock_domain_flags_fields },
	[IOMMU_TEST_OP_DIRTY] = { "DIRTY", dirty_fields },
	[IOMMU_TEST_OP_MD_CHECK_IOTLB] = { "MD_CHECK_IOTLB",
					   check_iotlb_fields },
	[IOMMU_TEST_OP_DEV_CHECK_CACHE] = { "DEV_CHECK_CACHE",
					    check_dev_cache_fields },
	[IOMMU_TEST_OP_TRIGGER_IOPF] = { "TRIGGER_IOPF",
					 trigger_iopf_fields },
	[IOMMU_TEST_OP_TRIGGER_VEVENT] = { "TRIGGER_VEVENT",
					   trigger_vevent_fields },
	[IOMMU_TEST_OP_PASID_ATTACH] = { "PASID_ATTACH", pasid_attach_fields },
	[IOMMU_TEST_OP_PASID_REPLACE] = { "PASID_REPLACE",
					  pasid_replace_fields },
	[IOMMU_TEST_OP_PASID_DETACH] = { "PASID_DETACH", pasid_detach_fields },
	[IOMMU_TEST_OP_PASID_CHECK_HWPT] = { "PASID_CHECK_HWPT",
					     pasid_check_fields },
	[IOMMU_TEST_OP_DMABUF_GET] = { "DMABUF_GET", dmabuf_get_fields },
	[IOMMU_TEST_OP_DMABUF_REVOKE] = { "DMABUF_REVOKE",
					  dmabuf_revoke_fields },
};

/* ---- the call ---- */

static const struct command *find_command(unsigned long request)
{
	for (size_t i = 0; i != sizeof(commands) / sizeof(commands[0]); i++) {
		if (commands[i].request == request)
			return &commands[i];
	}
	return NULL;
}

/* Bytes of the struct that its own size word covers. */
static size_t read_struct(const void *arg, unsigned char *cmd, size_t room,
			  u_int32_t *size)
{
	size_t have = peek(arg, cmd, room);

	if (have < 4)
		return have;
	memcpy(size, cmd, 4);
	return *size < have ? *size : have;
}

void trace_ioctl_enter(unsigned long request, const void *arg)
{
	u_int32_t size;

	before.request = 0;
	if (!find_command(request))
		return;
	before.have = read_struct(arg, before.cmd, sizeof(before.cmd), &size);
	before.request = request;
	before.arg = arg;
}

void trace_ioctl(int fd, unsigned long request, const void *arg, int rc,
		 int err)
{
	const struct command *command = find_command(request);
	const struct field *fields = command ? command->fields : NULL;
	unsigned char cmd[128] __attribute__((aligned(8)));
	char args[768];
	struct line l = { args, sizeof(args) };
	struct call c = { .cmd = cmd, .rc = rc };
	const char *reason;
	u_int32_t size;

	if (before.request == request && before.arg == arg)
		c.before = &before;
	before.request = 0;
	if (!command) {
		trace_printf("ioctl(%d, %#lx, %p) = %d%s%s\n", fd, request, arg,
			     rc, rc < 0 ? " " : "",
			     rc < 0 ? strerrorname_np(err) ?: "?" : "");
		return;
	}
	c.have = read_struct(arg, cmd, sizeof(cmd), &size);
	if (c.have >= 4)
		put(&l, "{size=%u", size);
	else
		put(&l, "{?");
	if (request == IOMMU_TEST_CMD && c.have >= 12) {
		const struct iommu_test_cmd *t = (const void *)cmd;

		if (t->op < sizeof(test_ops) / sizeof(test_ops[0]) &&
		    test_ops[t->op].name) {
			put(&l, " op=%s id=%u", test_ops[t->op].name, t->id);
			fields = test_ops[t->op].fields;
		} else {
			put(&l, " op=%u id=%u", t->op, t->id);
		}
	}
	put_fields(&l, &c, fields);
	if (command->extra)
		command->extra(&l, &c);
	put(&l, "}");

	/* DMABUF_GET answers with a descriptor. */
	if (rc >= 0) {
		trace_printf("%s(%d, %s) = %d\n", command->name, fd, args, rc);
		return;
	}
	reason = uiommufd_last_reason();
	trace_printf("%s(%d, %s) = -1 %s (%s)\n", command->name, fd, args,
		     strerrorname_np(err) ?: "?", reason ? reason : "no reason");
}

/* ---- fault queue descriptors ---- */

static const struct name pgfault_flags[] = {
	{ IOMMU_PGFAULT_FLAGS_PASID_VALID, "PASID_VALID" },
	{ IOMMU_PGFAULT_FLAGS_LAST_PAGE, "LAST_PAGE" },
	{}
};
static const struct field pgfault_fields[] = {
	FN(struct iommu_hwpt_pgfault, flags, FK_FLAGS, pgfault_flags),
	F(struct iommu_hwpt_pgfault, dev_id),
	F(struct iommu_hwpt_pgfault, pasid),
	F(struct iommu_hwpt_pgfault, grpid),
	FN(struct iommu_hwpt_pgfault, perm, FK_FLAGS, pgfault_perms),
	F(struct iommu_hwpt_pgfault, addr),
	F(struct iommu_hwpt_pgfault, length),
	F(struct iommu_hwpt_pgfault, cookie), {}
};
static const struct name page_resp_codes[] = {
	{ IOMMUFD_PAGE_RESP_SUCCESS, "SUCCESS" },
	{ IOMMUFD_PAGE_RESP_INVALID, "INVALID" },
	{}
};
static const struct field page_response_fields[] = {
	F(struct iommu_hwpt_page_response, cookie),
	FN(struct iommu_hwpt_page_response, code, FK_ENUM, page_resp_codes),
	{}
};

void trace_fault_rw(int fd, bool is_read, const void *buf, size_t count,
		    ssize_t rc, int err)
{
	size_t rec = is_read ? sizeof(struct iommu_hwpt_pgfault) :
			       sizeof(struct iommu_hwpt_page_response);
	const struct field *fields = is_read ? pgfault_fields :
					       page_response_fields;
	unsigned char one[sizeof(struct iommu_hwpt_pgfault)]
		__attribute__((aligned(8)));
	char args[768];
	struct line l = { args, sizeof(args) };
	struct call c = { .cmd = one, .rc = 0 };
	const char *reason;
	size_t n;

	/* The records that moved: read ones out, written ones consumed. */
	n = rc > 0 ? (size_t)rc / rec : 0;
	put(&l, "[");
	for (size_t i = 0; i != n && i != TRACE_ENTRIES; i++) {
		c.have = peek((const unsigned char *)buf + i * rec, one, rec);
		put(&l, "%s{", i ? " " : "");
		put_fields(&l, &c, fields);
		put(&l, "}");
	}
	if (n > TRACE_ENTRIES)
		put(&l, " +%zu", n - TRACE_ENTRIES);
	put(&l, "]");
	if (rc >= 0) {
		trace_printf("%s(%d, %s, %zu) = %zd\n",
			     is_read ? "read" : "write", fd, args, count, rc);
		return;
	}
	reason = uiommufd_last_reason();
	trace_printf("%s(%d, %p, %zu) = -1 %s (%s)\n",
		     is_read ? "read" : "write", fd, buf, count,
		     strerrorname_np(err) ?: "?",
		     reason ? reason : "no reason");
}

/* ---- vEVENTQ descriptors ---- */

static const struct name vevent_flags[] = {
	{ IOMMU_VEVENTQ_FLAG_LOST_EVENTS, "LOST_EVENTS" },
	{}
};
static const struct field vevent_header_fields[] = {
	FN(struct iommufd_vevent_header, flags, FK_FLAGS, vevent_flags),
	F(struct iommufd_vevent_header, sequence), {}
};

/* Bytes of an event of @type after its header; 0 when not known. */
static size_t vevent_payload(unsigned int type)
{
	switch (type) {
	case IOMMU_VEVENTQ_TYPE_SELFTEST:
		return sizeof(struct iommu_viommu_event_selftest);
	case IOMMU_VEVENTQ_TYPE_ARM_SMMUV3:
		return sizeof(struct iommu_vevent_arm_smmuv3);
	case IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV:
		return sizeof(struct iommu_vevent_tegra241_cmdqv);
	}
	return 0;
}

static void put_vevent_payload(struct line *l, unsigned int type,
			       const unsigned char *p, size_t len)
{
	uint64_t w;

	if (type == IOMMU_VEVENTQ_TYPE_SELFTEST) {
		static const struct field sel[] = {
			F(struct iommu_viommu_event_selftest, virt_id), {}
		};
		struct call c = { .cmd = p, .have = len };

		put_fields(l, &c, sel);
		return;
	}
	/* The hardware records: little-endian words. */
	put(l, " %s=[", type == IOMMU_VEVENTQ_TYPE_ARM_SMMUV3 ?
				"evt" : "lvcmdq_err_map");
	for (size_t i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		put(l, i ? " %#llx" : "%#llx", (unsigned long long)w);
	}
	put(l, "]");
}

void trace_vevent_read(int fd, unsigned int type, const void *buf,
		       size_t count, ssize_t rc, int err)
{
	unsigned char data[1024] __attribute__((aligned(8)));
	size_t payload = vevent_payload(type), have, at = 0, shown = 0;
	char args[768];
	struct line l = { args, sizeof(args) };
	const char *reason;

	if (rc < 0) {
		reason = uiommufd_last_reason();
		trace_printf("read(%d, %p, %zu) = -1 %s (%s)\n", fd, buf, count,
			     strerrorname_np(err) ?: "?",
			     reason ? reason : "no reason");
		return;
	}
	/*
	 * What was read: each event a header, then its payload, except a
	 * LOST_EVENTS header, which stands alone.
	 */
	have = peek(buf, data, (size_t)rc < sizeof(data) ? (size_t)rc :
							      sizeof(data));
	put(&l, "[");
	while (at + sizeof(struct iommufd_vevent_header) <= have) {
		const struct iommufd_vevent_header *hdr =
			(const void *)(data + at);
		bool lost = hdr->flags & IOMMU_VEVENTQ_FLAG_LOST_EVENTS;
		size_t len = lost ? 0 : payload;
		struct call c = { .cmd = data + at, .have = sizeof(*hdr) };

		/* An event of a type not known here: its length neither. */
		if (!lost && !payload)
			break;
		if (at + sizeof(*hdr) + len > have)
			break;
		if (shown < TRACE_ENTRIES) {
			put(&l, "%s{", shown ? " " : "");
			put_fields(&l, &c, vevent_header_fields);
			if (len)
				put_vevent_payload(&l, type,
						   data + at + sizeof(*hdr),
						   len);
			put(&l, "}");
		}
		shown++;
		at += sizeof(*hdr) + len;
	}
	if (shown > TRACE_ENTRIES)
		put(&l, " +%zu", shown - TRACE_ENTRIES);
	if ((size_t)rc > at)
		put(&l, "%s+%zu bytes", at ? " " : "", (size_t)rc - at);
	put(&l, "]");
	trace_printf("read(%d, %s, %zu) = %zd\n", fd, args, count, rc);
}

/* ---- mmap and munmap of /dev/iommu descriptors ---- */

/*
 * The regions mapped through the shim, as the trace saw them, so that
 * their munmaps (which name no descriptor) are traced and no other. A
 * fixed table: munmap runs for every mapping of the program, malloc's
 * included, and must not allocate. A region that does not fit is not
 * traced at munmap.
 */
#define TRACE_REGIONS 256

static struct {
	uintptr_t start, end;
} regions[TRACE_REGIONS];
static unsigned int nr_regions;	/* under shim_lock() */

static uintptr_t page_end(uintptr_t start, size_t length)
{
	uintptr_t end = start + length, page = sysconf(_SC_PAGESIZE);

	if (end < start)
		return UINTPTR_MAX;
	end = (end + page - 1) & ~(page - 1);
	return end ? end : UINTPTR_MAX;
}

static void region_add(uintptr_t start, uintptr_t end)
{
	if (nr_regions == TRACE_REGIONS)
		return;
	regions[nr_regions].start = start;
	regions[nr_regions].end = end;
	nr_regions++;
}

/*
 * Whether [start, end) touches a traced region; and when @cut, forget
 * that part, as munmap(2) did.
 */
static bool regions_touch(uintptr_t start, uintptr_t end, bool cut)
{
	bool found = false;

	for (unsigned int i = 0; i < nr_regions; i++) {
		uintptr_t rs = regions[i].start, re = regions[i].end;

		if (re <= start || rs >= end)
			continue;
		found = true;
		if (!cut)
			break;
		if (start > rs && end < re) {
			/* The middle: two regions, when there is room. */
			regions[i].end = start;
			region_add(end, re);
		} else if (start > rs) {
			regions[i].end = start;
		} else if (end < re) {
			regions[i].start = end;
		} else {
			regions[i--] = regions[--nr_regions];
		}
	}
	return found;
}

static const struct name prot_names[] = {
	{ PROT_READ, "PROT_READ" },
	{ PROT_WRITE, "PROT_WRITE" },
	{ PROT_EXEC, "PROT_EXEC" },
	{ PROT_GROWSDOWN, "PROT_GROWSDOWN" },
	{ PROT_GROWSUP, "PROT_GROWSUP" },
	{}
};
static const struct name map_types[] = {
	{ MAP_SHARED, "MAP_SHARED" },
	{ MAP_PRIVATE, "MAP_PRIVATE" },
	{ MAP_SHARED_VALIDATE, "MAP_SHARED_VALIDATE" },
	{}
};
static const struct name map_flag_names[] = {
	{ MAP_FIXED, "MAP_FIXED" },
	{ MAP_ANONYMOUS, "MAP_ANONYMOUS" },
	{ MAP_32BIT, "MAP_32BIT" },
	{ MAP_GROWSDOWN, "MAP_GROWSDOWN" },
	{ MAP_DENYWRITE, "MAP_DENYWRITE" },
	{ MAP_EXECUTABLE, "MAP_EXECUTABLE" },
	{ MAP_LOCKED, "MAP_LOCKED" },
	{ MAP_NORESERVE, "MAP_NORESERVE" },
	{ MAP_POPULATE, "MAP_POPULATE" },
	{ MAP_NONBLOCK, "MAP_NONBLOCK" },
	{ MAP_STACK, "MAP_STACK" },
	{ MAP_HUGETLB, "MAP_HUGETLB" },
	{ MAP_SYNC, "MAP_SYNC" },
	{ MAP_FIXED_NOREPLACE, "MAP_FIXED_NOREPLACE" },
	{}
};

/* mmap(2)'s flags: the mapping type by name, then the flag bits. */
static void put_map_flags(struct line *l, int flags)
{
	static const struct field type = { "", 0, 4, FK_ENUM, false,
					   map_types };
	static const struct field bits = { "", 0, 4, FK_FLAGS, false,
					   map_flag_names };
	unsigned int rest = (unsigned int)flags & ~MAP_TYPE;

	put_value(l, &type, (unsigned int)flags & MAP_TYPE);
	if (rest) {
		put(l, "|");
		put_value(l, &bits, rest);
	}
}

void trace_mmap(void *addr, size_t length, int prot, int flags, int fd,
		off_t offset, void *map, int err, const char *reason)
{
	static const struct field prot_field = { "", 0, 4, FK_FLAGS, false,
						 prot_names };
	char args[256];
	struct line l = { args, sizeof(args) };
	sigset_t old;

	if (addr)
		put(&l, "%p, ", addr);
	else
		put(&l, "NULL, ");
	put(&l, "%zu, ", length);
	if (prot)
		put_value(&l, &prot_field, (unsigned int)prot);
	else
		put(&l, "PROT_NONE");
	put(&l, ", ");
	put_map_flags(&l, flags);
	put(&l, ", %d, %#llx", fd, (unsigned long long)offset);

	if (map != MAP_FAILED) {
		uintptr_t start = (uintptr_t)map;

		/* A MAP_FIXED one replaced what was there. */
		shim_lock(&old);
		regions_touch(start, page_end(start, length), true);
		region_add(start, page_end(start, length));
		shim_unlock(&old);
		trace_printf("mmap(%s) = %p\n", args, map);
		return;
	}
	if (!reason)
		reason = uiommufd_last_reason();
	trace_printf("mmap(%s) = -1 %s (%s)\n", args,
		     strerrorname_np(err) ?: "?", reason ? reason : "no reason");
}

void trace_munmap(void *addr, size_t length, int rc, int err)
{
	uintptr_t start = (uintptr_t)addr;
	const char *reason;
	bool ours;
	sigset_t old;

	/*
	 * Looked up after the call: a thread mapping a new region at the
	 * same place meanwhile could have it forgotten (not traced at its
	 * munmap), nothing worse.
	 */
	shim_lock(&old);
	ours = length && regions_touch(start, page_end(start, length), !rc);
	shim_unlock(&old);
	if (!ours)
		return;
	if (!rc) {
		trace_printf("munmap(%p, %zu) = 0\n", addr, length);
		return;
	}
	reason = uiommufd_last_reason();
	trace_printf("munmap(%p, %zu) = -1 %s (%s)\n", addr, length,
		     strerrorname_np(err) ?: "?", reason ? reason : "no reason");
}

static const struct name mremap_flag_names[] = {
	{ MREMAP_MAYMOVE, "MREMAP_MAYMOVE" },
	{ MREMAP_FIXED, "MREMAP_FIXED" },
	{ MREMAP_DONTUNMAP, "MREMAP_DONTUNMAP" },
	{}
};

void trace_mremap(void *old_address, size_t old_size, size_t new_size,
		  int flags, void *new_address, void *map, int err)
{
	static const struct field flag_field = { "", 0, 4, FK_FLAGS, false,
						 mremap_flag_names };
	uintptr_t start = (uintptr_t)old_address;
	char args[160];
	struct line l = { args, sizeof(args) };
	const char *reason;
	bool ours;
	sigset_t old;

	/* What moved is a region at its new place; what shrank, less. */
	shim_lock(&old);
	ours = regions_touch(start, page_end(start, old_size ? old_size : 1),
			     map != MAP_FAILED);
	if (ours && map != MAP_FAILED)
		region_add((uintptr_t)map, page_end((uintptr_t)map, new_size));
	shim_unlock(&old);
	if (!ours)
		return;
	if (flags)
		put_value(&l, &flag_field, (unsigned int)flags);
	else
		put(&l, "0");
	if (flags & MREMAP_FIXED)
		put(&l, ", %p", new_address);
	if (map != MAP_FAILED) {
		trace_printf("mremap(%p, %zu, %zu, %s) = %p\n", old_address,
			     old_size, new_size, args, map);
		return;
	}
	reason = uiommufd_last_reason();
	trace_printf("mremap(%p, %zu, %zu, %s) = -1 %s (%s)\n", old_address,
		     old_size, new_size, args, strerrorname_np(err) ?: "?",
		     reason ? reason : "no reason");
}
