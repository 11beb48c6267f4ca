// SPDX-License-Identifier: MIT
/*
 * The VFIO type1 container compatibility layer (lib/iommufd/vfio_compat.c)
 * driven through uiommufd_ioctl() the way a VFIO user drives
 * /dev/vfio/vfio or /dev/iommu: UAPI.md section 7, the compat parts of
 * section 3 (IOMMU_VFIO_IOAS, HUGE_PAGES on the compat IOAS) and
 * PITFALLS.md items 8, 14, 16, 17 and 18. The kernel is the reference for
 * every value and errno.
 *
 * The vfio_compat_mock_domain fixture is the kernel selftests' one: an
 * IOAS with a mock domain, made the compat IOAS with IOMMU_VFIO_IOAS, then
 * VFIO_SET_IOMMU with the variant's type, VFIO_TYPE1_IOMMU (v1: partial
 * unmaps cut areas) or VFIO_TYPE1v2_IOMMU (v2: they are ENOENT). Every
 * teardown closes the context and checks that nothing stays pinned or
 * charged. Plain tests cover contexts without a compat IOAS (opened as
 * /dev/iommu and as /dev/vfio/vfio), IOMMU_VFIO_IOAS itself, accounting,
 * and a thread that uses the compat IOAS while it is switched and
 * destroyed under it.
 */
#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness/rng.h"
#include "iommufd/iommufd_utils.h"
#include "iopt/accounting.h"
#include "uiommufd/vfio_uapi.h"

#define PSZ TEST_PAGE_SIZE
#define P(n) ((uint64_t)(n) * PSZ)
#define BASE MOCK_APERTURE_START
#define HUGE_ALIGN (2UL << 20)
#define MAX_BUFS 8
#define MAX_AFDS 4
/* Large enough for every GET_INFO reply here plus the guard checked. */
#define INFO_BUF 512
#define INFO_FLAGS (VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS)
#define MAP_DMA_RW (VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)

/*
 * As the kernel, a process holding CAP_IPC_LOCK is charged nothing. These
 * tests are a VFIO user without it, so the charging paths run: drop it
 * from the effective set before any test (children inherit that).
 */
__attribute__((constructor)) static void drop_cap_ipc_lock(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};

	if (syscall(SYS_capget, &hdr, data))
		return;
	data[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
	syscall(SYS_capset, &hdr, data);
}
#define UNMAP_MINSZ offsetof(struct vfio_iommu_type1_dma_unmap, data)
/* GET_INFO's argsz covers cap_offset from here on. */
#define INFO_CAP_OFFSET_END                                                \
	(offsetof(struct vfio_iommu_type1_info, cap_offset) + sizeof(uint32_t))

/* ---- VFIO requests ---- */

/* GET_API_VERSION, CHECK_EXTENSION and SET_IOMMU take a value. */
static int vfio_val(struct uiommufd_ctx *ctx, unsigned long request,
		    unsigned long val)
{
	return uiommufd_ioctl(ctx, request, (void *)(uintptr_t)val);
}

static int vfio_map_dma(struct uiommufd_ctx *ctx, const void *vaddr,
			uint64_t iova, uint64_t size, uint32_t flags)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = flags,
		.vaddr = (uintptr_t)vaddr,
		.iova = iova,
		.size = size,
	};

	return uiommufd_ioctl(ctx, VFIO_IOMMU_MAP_DMA, &map);
}

/* *@size_out gets the size written back, whatever the result. */
static int vfio_unmap_dma(struct uiommufd_ctx *ctx, uint64_t iova,
			  uint64_t size, uint32_t flags, uint64_t *size_out)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.flags = flags,
		.iova = iova,
		.size = size,
	};
	int rc = uiommufd_ioctl(ctx, VFIO_IOMMU_UNMAP_DMA, &unmap);

	if (size_out)
		*size_out = unmap.size;
	return rc;
}

static int huge_pages_get(struct uiommufd_ctx *ctx, uint32_t ioas_id,
			  uint64_t *val)
{
	return ioctl_option(ctx, IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_GET,
			    ioas_id, val);
}

/*
 * MOCK_DOMAIN with the Linux 6.2 (56-byte) command, in a context answering
 * as 6.2: a new mock HW pagetable of its own even when the IOAS already
 * has one, so this is how a test attaches a second, distinct domain
 * (Linux 7.2 shares the IOAS's auto HW pagetable, and there is no
 * HWPT_ALLOC here yet).
 */
static int mock_domain_distinct(struct uiommufd_ctx *ctx, uint32_t ioas_id,
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

/* The pin count of the page at @p, or -1 if it is above 7. */
static int page_refs(struct uiommufd_ctx *ctx, const void *p)
{
	for (uint32_t refs = 0; refs != 8; refs++)
		if (!test_check_refs(ctx, p, PSZ, refs))
			return refs;
	return -1;
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
	buf = (uint8_t *)(((uintptr_t)raw + align - 1) &
			  ~(uintptr_t)(align - 1));
	if (buf != raw)
		munmap(raw, buf - raw);
	if (raw + total != buf + len)
		munmap(buf + len, raw + total - (buf + len));
	for (size_t i = 0; i != len; i++)
		buf[i] = (uint8_t)(i * 7 + seed + (i >> 12));
	return buf;
}

/* ---- GET_INFO checking ---- */

struct info_expect {
	uint32_t nr_iovas;
	struct vfio_iova_range ranges[4];
};

static const struct info_expect aperture_only = {
	.nr_iovas = 1,
	.ranges = { { MOCK_APERTURE_START, MOCK_APERTURE_LAST } },
};

/* Two guard patterns; a byte past argsz must keep its guard. */
static uint8_t guard_byte(unsigned int pattern, size_t i)
{
	if (pattern)
		return (uint8_t)(0xa5 ^ (i * 13));
	return (uint8_t)(0x5a + i * 7 + (i >> 8));
}

/* GET_INFO into @buf (INFO_BUF bytes, guard filled) with @argsz. */
static int get_info_guarded(struct uiommufd_ctx *ctx, uint8_t *buf,
			    uint32_t argsz, unsigned int pattern)
{
	for (size_t i = 0; i != INFO_BUF; i++)
		buf[i] = guard_byte(pattern, i);
	memcpy(buf, &argsz, sizeof(argsz));
	return uiommufd_ioctl(ctx, VFIO_IOMMU_GET_INFO, buf);
}

static uint32_t rd32(const uint8_t *buf, size_t off)
{
	uint32_t v;

	memcpy(&v, buf + off, sizeof(v));
	return v;
}

static uint64_t rd64(const uint8_t *buf, size_t off)
{
	uint64_t v;

	memcpy(&v, buf + off, sizeof(v));
	return v;
}

static uint16_t rd16(const uint8_t *buf, size_t off)
{
	uint16_t v;

	memcpy(&v, buf + off, sizeof(v));
	return v;
}

/* Bytes [from, to) of @buf are untouched (guard) or zero: no leak. */
static void check_gap(const uint8_t *buf, size_t from, size_t to,
		      unsigned int pattern)
{
	for (size_t i = from; i < to; i++)
		if (buf[i] && buf[i] != guard_byte(pattern, i))
			test_fail(__FILE__, __LINE__, true,
				  "byte %zu between capabilities is %#x, neither untouched (%#x) nor 0",
				  i, buf[i], guard_byte(pattern, i));
}

/*
 * The capability chain from @cap_offset: well formed inside @argsz, every
 * next offset forward and 8-byte aligned, exactly one IOVA_RANGE (version
 * 1, @exp's ranges) and one DMA_AVAIL (version 1, 12 bytes), nothing
 * else. Returns the end of the last capability.
 */
static size_t check_cap_chain(const uint8_t *buf, uint32_t argsz,
			      uint32_t cap_offset,
			      const struct info_expect *exp,
			      unsigned int pattern)
{
	bool seen_iova = false, seen_dma = false;
	size_t off = cap_offset, end = sizeof(struct vfio_iommu_type1_info);
	unsigned int ncaps = 0;

	ASSERT_GE(off, sizeof(struct vfio_iommu_type1_info));
	while (off) {
		uint16_t id, version;
		uint32_t next;
		size_t size;

		ASSERT_LT(ncaps++, 8);
		ASSERT_EQ(0, off % 8);
		ASSERT_GE(off, end);
		ASSERT_LE(off + sizeof(struct vfio_info_cap_header), argsz);
		/* Padding between capabilities is never written with junk. */
		check_gap(buf, end, off, pattern);
		id = rd16(buf, off);
		version = rd16(buf, off + 2);
		next = rd32(buf, off + 4);
		ASSERT_EQ(1, version);
		switch (id) {
		case VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE: {
			uint32_t nr;

			ASSERT_FALSE(seen_iova);
			seen_iova = true;
			ASSERT_LE(off + 16, argsz);
			nr = rd32(buf, off + 8);
			ASSERT_EQ(exp->nr_iovas, nr);
			ASSERT_EQ(0, rd32(buf, off + 12));
			size = 16 + (size_t)nr * sizeof(struct vfio_iova_range);
			ASSERT_LE(off + size, argsz);
			for (uint32_t i = 0; i != nr; i++) {
				size_t r = off + 16 + i * 16;

				ASSERT_EQ(exp->ranges[i].start, rd64(buf, r));
				ASSERT_EQ(exp->ranges[i].end, rd64(buf, r + 8));
			}
			break;
		}
		case VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL:
			ASSERT_FALSE(seen_dma);
			seen_dma = true;
			size = sizeof(struct vfio_iommu_type1_info_dma_avail);
			ASSERT_EQ(12, size);
			ASSERT_LE(off + size, argsz);
			/* VFIO's default limit; iommufd reports U16_MAX too. */
			ASSERT_EQ(65535, rd32(buf, off + 8));
			break;
		default:
			test_fail(__FILE__, __LINE__, true,
				  "unexpected capability id %u at offset %zu",
				  id, off);
			return 0;
		}
		end = off + size;
		/* Never backwards, never into this capability, inside argsz. */
		if (next) {
			ASSERT_GE(next, end);
			ASSERT_LT(next, argsz);
		}
		off = next;
	}
	ASSERT_TRUE(seen_iova);
	ASSERT_TRUE(seen_dma);
	return end;
}

/*
 * Check one GET_INFO reply for @argsz (UAPI.md section 7, pitfall 16):
 * nothing written at or past argsz; argsz comes back as @full; flags,
 * page sizes, cap_offset and pad; and the chain when cap_offset is set.
 */
static void check_info_reply(const uint8_t *buf, uint32_t argsz,
			     uint32_t full, const struct info_expect *exp,
			     unsigned int pattern)
{
	size_t i;

	for (i = argsz; i != INFO_BUF; i++)
		if (buf[i] != guard_byte(pattern, i))
			test_fail(__FILE__, __LINE__, true,
				  "argsz %u: byte %zu past argsz written (%#x, guard %#x)",
				  argsz, i, buf[i], guard_byte(pattern, i));
	ASSERT_EQ(full, rd32(buf, 0));
	ASSERT_EQ(INFO_FLAGS, rd32(buf, 4));
	ASSERT_NE(0, rd64(buf, 8));
	if (argsz < INFO_CAP_OFFSET_END)
		return;
	if (argsz < full) {
		/* Too short for the whole chain: no chain is announced. */
		ASSERT_EQ(0, rd32(buf, 16));
	} else {
		size_t end;

		ASSERT_EQ(sizeof(struct vfio_iommu_type1_info),
			  rd32(buf, 16));
		end = check_cap_chain(buf, argsz, rd32(buf, 16), exp, pattern);
		/* The size reported is what the chain needs, no more. */
		ASSERT_LE(end, full);
		ASSERT_LT(full - end, 8);
	}
	if (argsz >= sizeof(struct vfio_iommu_type1_info))
		ASSERT_EQ(0, rd32(buf, 20));
}

/* The size the whole reply needs, from a GET_INFO with argsz 24. */
static uint32_t info_full_size(struct uiommufd_ctx *ctx)
{
	uint8_t buf[INFO_BUF];
	uint32_t full;

	ASSERT_EQ(0, get_info_guarded(ctx, buf,
				      sizeof(struct vfio_iommu_type1_info),
				      0));
	full = rd32(buf, 0);
	ASSERT_GT(full, sizeof(struct vfio_iommu_type1_info));
	ASSERT_LE(full + 16, INFO_BUF);
	return full;
}

/*
 * Pitfall 16: for every argsz from 16 to the full size + 16, twice with
 * different guards: nothing past argsz changes, every reply is valid,
 * and every byte within argsz is either untouched in both runs or the
 * same in both (what is written does not depend on what was there).
 */
static void check_info_every_argsz(struct uiommufd_ctx *ctx,
				   const struct info_expect *exp)
{
	uint32_t full = info_full_size(ctx);
	uint8_t a[INFO_BUF], b[INFO_BUF];

	/* 24 (info) + 16 (DMA_AVAIL, aligned) + IOVA_RANGE with its ranges. */
	ASSERT_GE(full, 24 + 12 + 16 + 16 * exp->nr_iovas);
	for (uint32_t argsz = offsetof(struct vfio_iommu_type1_info,
				       cap_offset);
	     argsz <= full + 16; argsz++) {
		ASSERT_EQ(0, get_info_guarded(ctx, a, argsz, 0));
		check_info_reply(a, argsz, full, exp, 0);
		ASSERT_EQ(0, get_info_guarded(ctx, b, argsz, 1));
		check_info_reply(b, argsz, full, exp, 1);
		for (size_t i = 0; i != argsz; i++) {
			bool untouched = a[i] == guard_byte(0, i) &&
					 b[i] == guard_byte(1, i);

			if (!untouched && a[i] != b[i])
				test_fail(__FILE__, __LINE__, true,
					  "argsz %u: byte %zu depends on the buffer's old contents (%#x vs %#x)",
					  argsz, i, a[i], b[i]);
		}
	}
}

/* ---- the ABI of section 7 ---- */

#define OFFSET_SIZE(type, field, off, size)                                \
	do {                                                               \
		ASSERT_EQ(off, offsetof(type, field));                     \
		ASSERT_EQ(size, sizeof(((type *)0)->field));               \
	} while (0)

/* Request numbers, constants and layouts as UAPI.md section 7 lists. */
TEST(uapi_section7)
{
	ASSERT_EQ(0x3b, VFIO_TYPE);
	ASSERT_EQ(100, VFIO_BASE);
	ASSERT_EQ(0x3b64, VFIO_GET_API_VERSION);
	ASSERT_EQ(0x3b65, VFIO_CHECK_EXTENSION);
	ASSERT_EQ(0x3b66, VFIO_SET_IOMMU);
	ASSERT_EQ(0x3b70, VFIO_IOMMU_GET_INFO);
	ASSERT_EQ(0x3b71, VFIO_IOMMU_MAP_DMA);
	ASSERT_EQ(0x3b72, VFIO_IOMMU_UNMAP_DMA);
	ASSERT_EQ(0, VFIO_API_VERSION);
	ASSERT_EQ(1, VFIO_TYPE1_IOMMU);
	ASSERT_EQ(3, VFIO_TYPE1v2_IOMMU);
	ASSERT_EQ(1, VFIO_DMA_MAP_FLAG_READ);
	ASSERT_EQ(2, VFIO_DMA_MAP_FLAG_WRITE);
	ASSERT_EQ(2, VFIO_DMA_UNMAP_FLAG_ALL);
	ASSERT_EQ(1, VFIO_IOMMU_INFO_PGSIZES);
	ASSERT_EQ(2, VFIO_IOMMU_INFO_CAPS);
	ASSERT_EQ(1, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE);
	ASSERT_EQ(3, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL);

	ASSERT_EQ(24, sizeof(struct vfio_iommu_type1_info));
	OFFSET_SIZE(struct vfio_iommu_type1_info, argsz, 0, 4);
	OFFSET_SIZE(struct vfio_iommu_type1_info, flags, 4, 4);
	OFFSET_SIZE(struct vfio_iommu_type1_info, iova_pgsizes, 8, 8);
	OFFSET_SIZE(struct vfio_iommu_type1_info, cap_offset, 16, 4);
	OFFSET_SIZE(struct vfio_iommu_type1_info, pad, 20, 4);
	ASSERT_EQ(32, sizeof(struct vfio_iommu_type1_dma_map));
	OFFSET_SIZE(struct vfio_iommu_type1_dma_map, argsz, 0, 4);
	OFFSET_SIZE(struct vfio_iommu_type1_dma_map, flags, 4, 4);
	OFFSET_SIZE(struct vfio_iommu_type1_dma_map, vaddr, 8, 8);
	OFFSET_SIZE(struct vfio_iommu_type1_dma_map, iova, 16, 8);
	OFFSET_SIZE(struct vfio_iommu_type1_dma_map, size, 24, 8);
	ASSERT_EQ(24, sizeof(struct vfio_iommu_type1_dma_unmap));
	OFFSET_SIZE(struct vfio_iommu_type1_dma_unmap, argsz, 0, 4);
	OFFSET_SIZE(struct vfio_iommu_type1_dma_unmap, flags, 4, 4);
	OFFSET_SIZE(struct vfio_iommu_type1_dma_unmap, iova, 8, 8);
	OFFSET_SIZE(struct vfio_iommu_type1_dma_unmap, size, 16, 8);
	ASSERT_EQ(24, offsetof(struct vfio_iommu_type1_dma_unmap, data));
	ASSERT_EQ(8, sizeof(struct vfio_info_cap_header));
	OFFSET_SIZE(struct vfio_info_cap_header, id, 0, 2);
	OFFSET_SIZE(struct vfio_info_cap_header, version, 2, 2);
	OFFSET_SIZE(struct vfio_info_cap_header, next, 4, 4);
	ASSERT_EQ(16, sizeof(struct vfio_iommu_type1_info_cap_iova_range));
	OFFSET_SIZE(struct vfio_iommu_type1_info_cap_iova_range, nr_iovas, 8,
		    4);
	OFFSET_SIZE(struct vfio_iommu_type1_info_cap_iova_range, reserved, 12,
		    4);
	ASSERT_EQ(16, offsetof(struct vfio_iommu_type1_info_cap_iova_range,
			       iova_ranges));
	ASSERT_EQ(16, sizeof(struct vfio_iova_range));
	OFFSET_SIZE(struct vfio_iova_range, start, 0, 8);
	OFFSET_SIZE(struct vfio_iova_range, end, 8, 8);
	ASSERT_EQ(12, sizeof(struct vfio_iommu_type1_info_dma_avail));
	OFFSET_SIZE(struct vfio_iommu_type1_info_dma_avail, avail, 8, 4);
	/* The VFIO requests are below iommufd's base: the compat handler. */
	ASSERT_LT(_IOC_NR(VFIO_IOMMU_UNMAP_DMA), IOMMUFD_CMD_BASE);
}

/* ---- a context with no compat IOAS ---- */

static const unsigned int ctx_flags[] = { 0, UIOMMUFD_CTX_VFIO };

/*
 * Section 7, "Without a compat IOAS": every request on a fresh context
 * opened with @flags.
 */
static void check_no_compat_ioas(struct uiommufd_ctx *ctx, unsigned int flags)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap), .iova = BASE, .size = PSZ,
	};
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map), .flags = MAP_DMA_RW,
		.vaddr = (uintptr_t)&map, .iova = BASE, .size = PSZ,
	};
	uint8_t info[INFO_BUF];
	uint64_t rlimit_mode = 7;
	uint32_t id = 0;

	ASSERT_EQ(VFIO_API_VERSION, vfio_val(ctx, VFIO_GET_API_VERSION, 0));
	ASSERT_EQ(0, VFIO_API_VERSION);
	ASSERT_EQ(1, vfio_val(ctx, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU));
	ASSERT_ERRNO(ENODEV, vfio_val(ctx, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU));
	ASSERT_NONNULL(uiommufd_last_reason());
	ASSERT_ERRNO(ENODEV, vfio_val(ctx, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
	/* Another type is refused before the compat IOAS is looked for. */
	ASSERT_ERRNO(EINVAL, vfio_val(ctx, VFIO_SET_IOMMU, 0));
	ASSERT_ERRNO(EINVAL, vfio_val(ctx, VFIO_SET_IOMMU,
				      VFIO_SPAPR_TCE_IOMMU));
	ASSERT_ERRNO(EINVAL, vfio_val(ctx, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU));
	ASSERT_ERRNO(EINVAL, vfio_val(ctx, VFIO_SET_IOMMU,
				      VFIO_TYPE1_NESTING_IOMMU));
	ASSERT_ERRNO(EINVAL, vfio_val(ctx, VFIO_SET_IOMMU,
				      1UL << 32 | VFIO_TYPE1_IOMMU));

	/* GET_INFO: argsz below 16 first, then no compat IOAS. */
	ASSERT_ERRNO(EINVAL, get_info_guarded(ctx, info, 1, 0));
	ASSERT_ERRNO(EINVAL, get_info_guarded(ctx, info, 0, 0));
	ASSERT_ERRNO(EINVAL, get_info_guarded(ctx, info, 7, 0));
	ASSERT_ERRNO(ENODEV, get_info_guarded(ctx, info, 24, 0));
	/* A failed GET_INFO wrote nothing. */
	for (size_t i = 4; i != INFO_BUF; i++)
		ASSERT_EQ(guard_byte(0, i), info[i]);
	ASSERT_ERRNO(EFAULT, uiommufd_ioctl(ctx, VFIO_IOMMU_GET_INFO, BAD_PTR));

	/* MAP_DMA: argsz, then flags, then the compat IOAS. */
	map.argsz = 1;
	ASSERT_ERRNO(EINVAL, uiommufd_ioctl(ctx, VFIO_IOMMU_MAP_DMA, &map));
	map.argsz = sizeof(map) - 1;
	ASSERT_ERRNO(EINVAL, uiommufd_ioctl(ctx, VFIO_IOMMU_MAP_DMA, &map));
	map.argsz = sizeof(map);
	map.flags = MAP_DMA_RW | 1u << 31;
	ASSERT_ERRNO(EINVAL, uiommufd_ioctl(ctx, VFIO_IOMMU_MAP_DMA, &map));
	map.flags = MAP_DMA_RW | VFIO_DMA_MAP_FLAG_VADDR;
	ASSERT_ERRNO(EINVAL, uiommufd_ioctl(ctx, VFIO_IOMMU_MAP_DMA, &map));
	map.flags = MAP_DMA_RW;
	ASSERT_ERRNO(ENODEV, uiommufd_ioctl(ctx, VFIO_IOMMU_MAP_DMA, &map));
	ASSERT_ERRNO(EFAULT, uiommufd_ioctl(ctx, VFIO_IOMMU_MAP_DMA, BAD_PTR));

	/* UNMAP_DMA likewise; size is not written on these errors. */
	unmap.argsz = 1;
	ASSERT_ERRNO(EINVAL, uiommufd_ioctl(ctx, VFIO_IOMMU_UNMAP_DMA, &unmap));
	unmap.argsz = UNMAP_MINSZ - 1;
	ASSERT_ERRNO(EINVAL, uiommufd_ioctl(ctx, VFIO_IOMMU_UNMAP_DMA, &unmap));
	unmap.argsz = sizeof(unmap);
	unmap.flags = 1u << 31;
	ASSERT_ERRNO(EINVAL, uiommufd_ioctl(ctx, VFIO_IOMMU_UNMAP_DMA, &unmap));
	unmap.flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
	ASSERT_ERRNO(EINVAL, uiommufd_ioctl(ctx, VFIO_IOMMU_UNMAP_DMA, &unmap));
	unmap.flags = VFIO_DMA_UNMAP_FLAG_VADDR;
	ASSERT_ERRNO(EINVAL, uiommufd_ioctl(ctx, VFIO_IOMMU_UNMAP_DMA, &unmap));
	unmap.flags = 0;
	ASSERT_ERRNO(ENODEV, uiommufd_ioctl(ctx, VFIO_IOMMU_UNMAP_DMA, &unmap));
	ASSERT_EQ(PSZ, unmap.size);
	unmap.flags = VFIO_DMA_UNMAP_FLAG_ALL;
	unmap.iova = unmap.size = 0;
	ASSERT_ERRNO(ENODEV, uiommufd_ioctl(ctx, VFIO_IOMMU_UNMAP_DMA, &unmap));
	ASSERT_ERRNO(EFAULT, uiommufd_ioctl(ctx, VFIO_IOMMU_UNMAP_DMA,
					    BAD_PTR));

	/* A request of the VFIO range that is not a container one. */
	ASSERT_ERRNO(ENOTTY, vfio_val(ctx, _IO(VFIO_TYPE, VFIO_BASE + 17), 0));
	ASSERT_ERRNO(ENODEV, vfio_ioas(ctx, IOMMU_VFIO_IOAS_GET, &id));

	/* /dev/vfio/vfio charges per process: RLIMIT_MODE reads 1. */
	ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_RLIMIT_MODE,
				  IOMMU_OPTION_OP_GET, 0, &rlimit_mode));
	ASSERT_EQ(flags & UIOMMUFD_CTX_VFIO ? 1 : 0, rlimit_mode);
}

/* The same on /dev/iommu and on /dev/vfio/vfio. */
TEST(no_compat_ioas)
{
	for (size_t f = 0; f != sizeof(ctx_flags) / sizeof(ctx_flags[0]); f++) {
		struct uiommufd_ctx *ctx = uiommufd_ctx_open(ctx_flags[f]);

		TH_LOG("context flags %#x", ctx_flags[f]);
		ASSERT_NONNULL(ctx);
		check_no_compat_ioas(ctx, ctx_flags[f]);
		uiommufd_ctx_close(ctx);
	}
}

/* Pitfall 18: CHECK_EXTENSION claims only what works, in every state. */
TEST(check_extension)
{
	static const struct {
		unsigned long ext;
		int want;
	} exts[] = {
		{ VFIO_TYPE1_IOMMU, 1 },
		{ VFIO_TYPE1v2_IOMMU, 1 },
		{ VFIO_UNMAP_ALL, 1 },
		{ VFIO_UPDATE_VADDR, 0 },
		{ VFIO_TYPE1_NESTING_IOMMU, 0 },
		{ VFIO_NOIOMMU_IOMMU, 0 },
		{ VFIO_SPAPR_TCE_IOMMU, 0 },
		{ VFIO_SPAPR_TCE_v2_IOMMU, 0 },
		{ VFIO_EEH, 0 },
		{ 0, 0 },
		{ 11, 0 },
		{ 0xffff, 0 },
		{ 0xffffffffUL, 0 },
		{ 1UL << 32 | VFIO_TYPE1v2_IOMMU, 0 },
	};

	for (size_t f = 0; f != sizeof(ctx_flags) / sizeof(ctx_flags[0]); f++) {
		struct uiommufd_ctx *ctx = uiommufd_ctx_open(ctx_flags[f]);
		uint32_t ioas_id = 0, hwpt_id = 0;

		ASSERT_NONNULL(ctx);
		/* state 0: no compat IOAS; 1: one without a domain;
		 * 2: with a mock domain, type1v2; 3: after CLEAR. */
		for (int state = 0; state != 4; state++) {
			TH_LOG("context flags %#x, state %d", ctx_flags[f],
			       state);
			if (state == 1) {
				ASSERT_EQ(0, ioas_alloc(ctx, &ioas_id));
				ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_SET,
						       &ioas_id));
			} else if (state == 2) {
				ASSERT_EQ(0, test_mock_domain(ctx, ioas_id,
							      NULL, &hwpt_id,
							      NULL));
				ASSERT_EQ(0, vfio_val(ctx, VFIO_SET_IOMMU,
						      VFIO_TYPE1v2_IOMMU));
			} else if (state == 3) {
				ASSERT_EQ(0, vfio_ioas(ctx,
						       IOMMU_VFIO_IOAS_CLEAR,
						       NULL));
			}
			for (size_t i = 0; i != sizeof(exts) / sizeof(exts[0]);
			     i++)
				ASSERT_EQ(exts[i].want,
					  vfio_val(ctx, VFIO_CHECK_EXTENSION,
						   exts[i].ext));
			/* Coherent DMA: only about an IOAS that exists. */
			if (state == 0 || state == 3)
				ASSERT_ERRNO(ENODEV,
					     vfio_val(ctx, VFIO_CHECK_EXTENSION,
						      VFIO_DMA_CC_IOMMU));
			else
				ASSERT_EQ(1, vfio_val(ctx, VFIO_CHECK_EXTENSION,
						      VFIO_DMA_CC_IOMMU));
		}
		uiommufd_ctx_close(ctx);
	}
}

/* Section 3, IOMMU_VFIO_IOAS: GET, SET, CLEAR, and what they pick. */
TEST(vfio_ioas_get_set_clear)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	uint32_t ioas1 = 0, ioas2 = 0, hwpt_id = 0, stdev_id = 0, id = 0;
	uint64_t unmapped = 0;
	uint8_t *buf = aligned_buffer(P(4), PSZ, 3);
	struct iommu_vfio_ioas cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_VFIO_IOAS_GET,
	};

	ASSERT_NONNULL(ctx);
	ASSERT_NONNULL(buf);
	ASSERT_ERRNO(ENODEV, vfio_ioas(ctx, IOMMU_VFIO_IOAS_GET, &id));
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas1));
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas2));
	ASSERT_EQ(0, test_mock_domain(ctx, ioas1, &stdev_id, &hwpt_id, NULL));

	/* Only an IOAS can be the compat IOAS. */
	id = 0;
	ASSERT_ERRNO(ENOENT, vfio_ioas(ctx, IOMMU_VFIO_IOAS_SET, &id));
	id = 9999;
	ASSERT_ERRNO(ENOENT, vfio_ioas(ctx, IOMMU_VFIO_IOAS_SET, &id));
	id = hwpt_id;
	ASSERT_ERRNO(ENOENT, vfio_ioas(ctx, IOMMU_VFIO_IOAS_SET, &id));
	ASSERT_ERRNO(ENODEV, vfio_ioas(ctx, IOMMU_VFIO_IOAS_GET, &id));
	cmd.__reserved = 1;
	ASSERT_ERRNO(EOPNOTSUPP, uiommufd_ioctl(ctx, IOMMU_VFIO_IOAS, &cmd));
	cmd.__reserved = 0;
	cmd.op = 3;
	ASSERT_ERRNO(EOPNOTSUPP, uiommufd_ioctl(ctx, IOMMU_VFIO_IOAS, &cmd));

	id = ioas1;
	ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_SET, &id));
	id = 0;
	ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_GET, &id));
	ASSERT_EQ(ioas1, id);
	ASSERT_EQ(0, vfio_map_dma(ctx, buf, BASE, P(4), MAP_DMA_RW));
	ASSERT_EQ(0, test_check_map(ctx, hwpt_id, BASE, P(4), buf));

	/* Switching the compat IOAS: the VFIO requests follow it. */
	id = ioas2;
	ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_SET, &id));
	id = 0;
	ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_GET, &id));
	ASSERT_EQ(ioas2, id);
	ASSERT_EQ(0, vfio_map_dma(ctx, buf, 0, P(2), MAP_DMA_RW));
	ASSERT_EQ(0, ioas_unmap(ctx, ioas2, 0, P(2), &unmapped));
	ASSERT_EQ(P(2), unmapped);
	/* ioas1 kept its mapping and its domain. */
	ASSERT_EQ(0, test_check_map(ctx, hwpt_id, BASE, P(4), buf));

	ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_CLEAR, NULL));
	ASSERT_ERRNO(ENODEV, vfio_ioas(ctx, IOMMU_VFIO_IOAS_GET, &id));
	ASSERT_ERRNO(ENODEV, vfio_map_dma(ctx, buf, 0, P(2), MAP_DMA_RW));
	ASSERT_ERRNO(ENODEV, vfio_unmap_dma(ctx, 0, 0,
					    VFIO_DMA_UNMAP_FLAG_ALL, NULL));
	/* CLEAR with nothing set is fine. */
	ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_CLEAR, NULL));

	/* Destroying the compat IOAS unsets it. */
	id = ioas2;
	ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_SET, &id));
	ASSERT_EQ(0, ioctl_destroy(ctx, ioas2));
	ASSERT_ERRNO(ENODEV, vfio_ioas(ctx, IOMMU_VFIO_IOAS_GET, &id));
	ASSERT_ERRNO(ENODEV, vfio_map_dma(ctx, buf, 0, P(2), MAP_DMA_RW));
	uiommufd_ctx_close(ctx);
	munmap(buf, P(4));
}

/*
 * SET_IOMMU(type1) turns large pages off, which is refused once a domain
 * holds mappings: the IOAS keeps type1v2 semantics then.
 */
TEST(set_iommu_type1_after_map)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	uint32_t ioas_id = 0, hwpt_id = 0;
	uint8_t *buf = aligned_buffer(P(4), PSZ, 5);
	uint64_t val = 7, unmapped = 7;

	ASSERT_NONNULL(ctx);
	ASSERT_NONNULL(buf);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas_id));
	ASSERT_EQ(0, test_mock_domain(ctx, ioas_id, NULL, &hwpt_id, NULL));
	ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_SET, &ioas_id));
	/* MAP_DMA needs no SET_IOMMU first. */
	ASSERT_EQ(0, vfio_map_dma(ctx, buf, BASE, P(4), MAP_DMA_RW));
	ASSERT_ERRNO(EINVAL, vfio_val(ctx, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU));
	ASSERT_EQ(0, huge_pages_get(ctx, ioas_id, &val));
	ASSERT_EQ(1, val);
	ASSERT_ERRNO(ENOENT, vfio_unmap_dma(ctx, BASE + P(1), P(1), 0,
					    &unmapped));
	ASSERT_EQ(0, unmapped);
	ASSERT_EQ(0, test_check_map(ctx, hwpt_id, BASE, P(4), buf));
	ASSERT_EQ(0, vfio_val(ctx, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));

	/* Once empty, type1 is accepted and shows in HUGE_PAGES. */
	ASSERT_EQ(0, vfio_unmap_dma(ctx, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL,
				    &unmapped));
	ASSERT_EQ(P(4), unmapped);
	ASSERT_EQ(0, vfio_val(ctx, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU));
	ASSERT_EQ(0, huge_pages_get(ctx, ioas_id, &val));
	ASSERT_EQ(0, val);
	uiommufd_ctx_close(ctx);
	munmap(buf, P(4));
}

/*
 * A compat IOAS without a domain: GET_INFO reports the whole IOVA space
 * as one range; MAP_DMA pins nothing (nothing needs the pages yet), and
 * the pages are charged per process when a domain attaches.
 */
TEST(compat_ioas_without_domain)
{
	const struct info_expect everything = {
		.nr_iovas = 1,
		.ranges = { { 0, UINT64_MAX } },
	};
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(UIOMMUFD_CTX_VFIO);
	uint8_t *buf = aligned_buffer(P(8), PSZ, 6);
	uint32_t ioas_id = 0, hwpt_id = 0, full;
	uint64_t unmapped = 0;
	uint8_t info[INFO_BUF];

	ASSERT_NONNULL(ctx);
	ASSERT_NONNULL(buf);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas_id));
	ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_SET, &ioas_id));
	ASSERT_EQ(0, vfio_val(ctx, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
	full = info_full_size(ctx);
	ASSERT_EQ(0, get_info_guarded(ctx, info, full, 0));
	check_info_reply(info, full, full, &everything, 0);

	ASSERT_EQ(0, vfio_map_dma(ctx, buf, BASE, P(8), MAP_DMA_RW));
	ASSERT_EQ(0, test_check_refs(ctx, buf, P(8), 0));
	ASSERT_EQ(0, iopt_account_process_locked());
	ASSERT_EQ(0, test_mock_domain(ctx, ioas_id, NULL, &hwpt_id, NULL));
	ASSERT_EQ(0, test_check_map(ctx, hwpt_id, BASE, P(8), buf));
	ASSERT_EQ(0, test_check_refs(ctx, buf, P(8), 1));
	ASSERT_EQ(8, iopt_account_process_locked());
	/* The domain narrows the range to its aperture. */
	full = info_full_size(ctx);
	ASSERT_EQ(0, get_info_guarded(ctx, info, full, 1));
	check_info_reply(info, full, full, &aperture_only, 1);
	ASSERT_EQ(0, vfio_unmap_dma(ctx, BASE, P(8), 0, &unmapped));
	ASSERT_EQ(P(8), unmapped);
	ASSERT_EQ(0, iopt_account_process_locked());
	ASSERT_EQ(0, test_check_refs(ctx, buf, P(8), 0));
	uiommufd_ctx_close(ctx);
	munmap(buf, P(8));
}

/* Charging on a context opened as /dev/vfio/vfio: every map is per process. */
TEST(accounting_vfio_ctx)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(UIOMMUFD_CTX_VFIO);
	uint32_t ioas_id = 0, hwpt_id = 0;
	uint8_t *buf = aligned_buffer(P(24), PSZ, 9);
	uint64_t iova = BASE + P(64), unmapped = 0;

	ASSERT_NONNULL(ctx);
	ASSERT_NONNULL(buf);
	ASSERT_EQ(0, iopt_account_process_locked());
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas_id));
	ASSERT_EQ(0, test_mock_domain(ctx, ioas_id, NULL, &hwpt_id, NULL));
	ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_SET, &ioas_id));
	ASSERT_EQ(0, vfio_val(ctx, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU));
	ASSERT_EQ(0, vfio_map_dma(ctx, buf, BASE, P(16), MAP_DMA_RW));
	ASSERT_EQ(16, iopt_account_process_locked());
	ASSERT_EQ(16, iopt_account_pinned());
	/* A native map on this context is charged per process too. */
	ASSERT_EQ(0, ioas_map(ctx, ioas_id, buf + P(16), P(8), &iova,
			      MAP_FIXED_RW));
	ASSERT_EQ(24, iopt_account_process_locked());
	ASSERT_EQ(0, vfio_unmap_dma(ctx, BASE + P(4), P(4), 0, &unmapped));
	ASSERT_EQ(P(4), unmapped);
	ASSERT_EQ(20, iopt_account_process_locked());
	/* Closing with mappings left refunds everything. */
	uiommufd_ctx_close(ctx);
	ASSERT_EQ(0, iopt_account_process_locked());
	ASSERT_EQ(0, iopt_account_pinned());
	munmap(buf, P(24));
}

/* ---- the vfio_compat_mock_domain fixture ---- */

FIXTURE(vfio_compat_mock_domain)
{
	struct uiommufd_ctx *ctx;
	uint32_t ioas_id;
	uint32_t stdev_id;
	uint32_t hwpt_id;
	uint32_t idev_id;
	struct {
		void *p;
		size_t len;
	} bufs[MAX_BUFS];
	unsigned int nbufs;
	int afds[MAX_AFDS];
};

FIXTURE_VARIANT(vfio_compat_mock_domain)
{
	unsigned int version;
};

FIXTURE_VARIANT_ADD(vfio_compat_mock_domain, Ver1Fixed)
{
	.version = VFIO_TYPE1_IOMMU,
};

FIXTURE_VARIANT_ADD(vfio_compat_mock_domain, Ver2Fixed)
{
	.version = VFIO_TYPE1v2_IOMMU,
};

FIXTURE_SETUP(vfio_compat_mock_domain)
{
	for (unsigned int i = 0; i != MAX_AFDS; i++)
		self->afds[i] = -1;
	/* A VFIO container: /dev/vfio/vfio, charged per process. */
	self->ctx = uiommufd_ctx_open(UIOMMUFD_CTX_VFIO);
	ASSERT_NONNULL(self->ctx);
	/* The kernel selftests' setup, step by step. */
	ASSERT_EQ(0, ioas_alloc(self->ctx, &self->ioas_id));
	ASSERT_EQ(0, test_mock_domain(self->ctx, self->ioas_id,
				      &self->stdev_id, &self->hwpt_id,
				      &self->idev_id));
	ASSERT_EQ(0, vfio_ioas(self->ctx, IOMMU_VFIO_IOAS_SET,
			       &self->ioas_id));
	ASSERT_EQ(0, vfio_val(self->ctx, VFIO_SET_IOMMU, variant->version));
}

FIXTURE_TEARDOWN(vfio_compat_mock_domain)
{
	struct uiommufd_ctx *ctx;

	for (unsigned int i = 0; i != MAX_AFDS; i++)
		if (self->afds[i] >= 0)
			EXPECT_EQ(0, uiommufd_fd_close(self->afds[i]));
	uiommufd_ctx_close(self->ctx);
	/* Nothing stays pinned or charged once the context is gone. */
	EXPECT_EQ(0, iopt_account_process_locked());
	EXPECT_EQ(0, iopt_account_pinned());
	ctx = uiommufd_ctx_open(0);
	EXPECT_NE(NULL, ctx);
	if (ctx) {
		for (unsigned int i = 0; i != self->nbufs; i++)
			EXPECT_EQ(0, test_check_refs(ctx, self->bufs[i].p,
						     self->bufs[i].len, 0));
		uiommufd_ctx_close(ctx);
	}
	for (unsigned int i = 0; i != self->nbufs; i++)
		munmap(self->bufs[i].p, self->bufs[i].len);
}

#define FX struct _fixture_data_vfio_compat_mock_domain
#define FXV struct _fixture_variant_vfio_compat_mock_domain

/*
 * The fixture's setup again, in a container answering as Linux 6.2, for
 * a test that needs distinct domains (mock_domain_distinct()): its first
 * device has a HW pagetable of its own too.
 */
static void fx_setup_v6_2(FX *self, const FXV *variant)
{
	ASSERT_EQ(0, self->nbufs);
	uiommufd_ctx_close(self->ctx);
	self->ctx = ctx_open_flags_as(UIOMMUFD_CTX_VFIO, UIOMMUFD_KERNEL_6_2,
				      false, 0);
	ASSERT_NONNULL(self->ctx);
	ASSERT_EQ(UIOMMUFD_KERNEL_6_2, ctx_kernel(self->ctx));
	ASSERT_EQ(0, ioas_alloc(self->ctx, &self->ioas_id));
	ASSERT_EQ(0, mock_domain_distinct(self->ctx, self->ioas_id,
					  &self->stdev_id, &self->hwpt_id));
	/* The 6.2 layout has no out_idev_id. */
	self->idev_id = 0;
	ASSERT_EQ(0, vfio_ioas(self->ctx, IOMMU_VFIO_IOAS_SET,
			       &self->ioas_id));
	ASSERT_EQ(0, vfio_val(self->ctx, VFIO_SET_IOMMU, variant->version));
}

static uint8_t *fx_buffer(FX *self, size_t len, unsigned int seed)
{
	uint8_t *buf = aligned_buffer(len, HUGE_ALIGN, seed);

	ASSERT_NONNULL(buf);
	ASSERT_LT(self->nbufs, MAX_BUFS);
	self->bufs[self->nbufs].p = buf;
	self->bufs[self->nbufs].len = len;
	self->nbufs++;
	return buf;
}

static int fx_access(FX *self, int *afd)
{
	int rc = test_create_access(self->ctx, self->ioas_id,
				    MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
				    afd);

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

static bool is_v1(const struct _fixture_variant_vfio_compat_mock_domain *v)
{
	return v->version == VFIO_TYPE1_IOMMU;
}

/* [iova, +len) maps @buf in the fixture's domain, page by page. */
static void check_mapped(FX *self, uint32_t hwpt_id, uint64_t iova,
			 const uint8_t *buf, uint64_t len)
{
	ASSERT_EQ(0, test_check_map(self->ctx, hwpt_id, iova, len, buf));
}

/* No page of [iova, +len) maps @buf any more. */
static void check_unmapped(FX *self, uint32_t hwpt_id, uint64_t iova,
			   const uint8_t *buf, uint64_t len)
{
	for (uint64_t off = 0; off < len; off += MOCK_PAGE_SIZE)
		ASSERT_ERRNO(EINVAL, test_check_map(self->ctx, hwpt_id,
						    iova + off, MOCK_PAGE_SIZE,
						    buf + off));
}

static void check_refs(FX *self, const uint8_t *buf, uint64_t len,
		       uint32_t refs)
{
	ASSERT_EQ(0, test_check_refs(self->ctx, buf, len, refs));
}

/* The typical setup, and the HUGE_PAGES option it leaves (section 3). */
TEST_F(vfio_compat_mock_domain, setup_and_huge_pages)
{
	uint8_t *buf = fx_buffer(self, P(4), 1);
	uint64_t val = 7, unmapped = 0;
	uint32_t id = 0;

	ASSERT_EQ(0, vfio_ioas(self->ctx, IOMMU_VFIO_IOAS_GET, &id));
	ASSERT_EQ(self->ioas_id, id);
	ASSERT_EQ(0, huge_pages_get(self->ctx, self->ioas_id, &val));
	ASSERT_EQ(is_v1(variant) ? 0 : 1, val);
	ASSERT_EQ(0, vfio_val(self->ctx, VFIO_GET_API_VERSION, 0));
	ASSERT_EQ(1, vfio_val(self->ctx, VFIO_CHECK_EXTENSION,
			      VFIO_DMA_CC_IOMMU));
	/* Setting the same type again changes nothing. */
	ASSERT_EQ(0, vfio_val(self->ctx, VFIO_SET_IOMMU, variant->version));
	ASSERT_EQ(0, huge_pages_get(self->ctx, self->ioas_id, &val));
	ASSERT_EQ(is_v1(variant) ? 0 : 1, val);
	ASSERT_ERRNO(EINVAL, vfio_val(self->ctx, VFIO_SET_IOMMU,
				      VFIO_SPAPR_TCE_IOMMU));

	/*
	 * HUGE_PAGES=0 means PAGE_SIZE alignment: a map on a MOCK_PAGE_SIZE
	 * boundary only is refused by type1, accepted by type1v2.
	 */
	if (is_v1(variant)) {
		ASSERT_ERRNO(EINVAL, vfio_map_dma(self->ctx,
						  buf + MOCK_PAGE_SIZE,
						  BASE + MOCK_PAGE_SIZE,
						  PSZ, MAP_DMA_RW));
	} else {
		ASSERT_EQ(0, vfio_map_dma(self->ctx, buf + MOCK_PAGE_SIZE,
					  BASE + MOCK_PAGE_SIZE, PSZ,
					  MAP_DMA_RW));
		check_mapped(self, self->hwpt_id, BASE + MOCK_PAGE_SIZE,
			     buf + MOCK_PAGE_SIZE, PSZ);
		ASSERT_EQ(0, vfio_unmap_dma(self->ctx, BASE + MOCK_PAGE_SIZE,
					    PSZ, 0, &unmapped));
		ASSERT_EQ(PSZ, unmapped);
	}
	/* A page-aligned map works with both. */
	ASSERT_EQ(0, vfio_map_dma(self->ctx, buf, BASE, P(4), MAP_DMA_RW));
	check_mapped(self, self->hwpt_id, BASE, buf, P(4));
}

/* GET_INFO at argsz 16, 24 and the full size (UAPI.md section 7). */
TEST_F(vfio_compat_mock_domain, get_info)
{
	uint8_t buf[INFO_BUF];
	uint32_t full;

	/* 16: up to cap_offset, the pre-capability ABI. */
	ASSERT_EQ(0, get_info_guarded(self->ctx, buf, 16, 0));
	ASSERT_EQ(INFO_FLAGS, rd32(buf, 4));
	ASSERT_NE(0, rd64(buf, 8));
	for (size_t i = 16; i != INFO_BUF; i++)
		ASSERT_EQ(guard_byte(0, i), buf[i]);

	/* 24: no room for capabilities; argsz says what is needed. */
	ASSERT_EQ(0, get_info_guarded(self->ctx, buf, 24, 0));
	ASSERT_EQ(INFO_FLAGS, rd32(buf, 4));
	ASSERT_NE(0, rd64(buf, 8));
	ASSERT_EQ(0, rd32(buf, 16));
	ASSERT_EQ(0, rd32(buf, 20));
	full = rd32(buf, 0);
	ASSERT_GT(full, 24);
	ASSERT_LE(full, INFO_BUF);
	for (size_t i = 24; i != INFO_BUF; i++)
		ASSERT_EQ(guard_byte(0, i), buf[i]);

	/* The full size: the whole chain. */
	ASSERT_EQ(0, get_info_guarded(self->ctx, buf, full, 1));
	check_info_reply(buf, full, full, &aperture_only, 1);
	ASSERT_EQ(24, rd32(buf, 16));

	/* A larger buffer gets the same, and argsz shrinks to the need. */
	ASSERT_EQ(0, get_info_guarded(self->ctx, buf, INFO_BUF - 8, 0));
	check_info_reply(buf, INFO_BUF - 8, full, &aperture_only, 0);

	ASSERT_ERRNO(EFAULT, uiommufd_ioctl(self->ctx, VFIO_IOMMU_GET_INFO,
					    BAD_PTR));
}

/* Pitfall 16 for every argsz, with the aperture as the one range. */
TEST_F(vfio_compat_mock_domain, get_info_every_argsz)
{
	check_info_every_argsz(self->ctx, &aperture_only);
}

/*
 * With a reserved range splitting the aperture the IOVA_RANGE cap has two
 * ranges, the reply grows by one range, and pitfall 16 still holds.
 */
TEST_F(vfio_compat_mock_domain, get_info_reserved_split)
{
	const uint64_t rstart = BASE + 0x100000, rlen = 0x100000;
	const struct info_expect split = {
		.nr_iovas = 2,
		.ranges = {
			{ MOCK_APERTURE_START, rstart - 1 },
			{ rstart + rlen, MOCK_APERTURE_LAST },
		},
	};
	uint32_t full1 = info_full_size(self->ctx), full2;
	uint8_t *mem = fx_buffer(self, P(1), 2);
	uint8_t buf[INFO_BUF];

	ASSERT_EQ(0, test_add_reserved(self->ctx, self->ioas_id, rstart,
				       rlen));
	full2 = info_full_size(self->ctx);
	ASSERT_EQ(full1 + sizeof(struct vfio_iova_range), full2);
	ASSERT_EQ(0, get_info_guarded(self->ctx, buf, full2, 0));
	check_info_reply(buf, full2, full2, &split, 0);
	/* The old full size is now too short for the chain. */
	ASSERT_EQ(0, get_info_guarded(self->ctx, buf, full1, 1));
	check_info_reply(buf, full1, full2, &split, 1);
	ASSERT_EQ(0, rd32(buf, 16));
	check_info_every_argsz(self->ctx, &split);

	/* Maps inside the reserved range are refused, beside it they work. */
	ASSERT_EQ(-1, vfio_map_dma(self->ctx, mem, rstart, P(1), MAP_DMA_RW));
	ASSERT_EQ(0, vfio_map_dma(self->ctx, mem, rstart - P(1), P(1),
				  MAP_DMA_RW));
}

/*
 * Never past argsz, as the memory shows: the struct ends exactly where an
 * inaccessible page starts, for every argsz; a reply that does not fit
 * the accessible memory is EFAULT.
 */
TEST_F(vfio_compat_mock_domain, get_info_guard_page)
{
	uint32_t full = info_full_size(self->ctx);
	uint8_t *map, *end;

	map = mmap(NULL, 2 * PSZ, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, mprotect(map + PSZ, PSZ, PROT_NONE));
	end = map + PSZ;
	for (uint32_t argsz = 16; argsz <= full + 16; argsz++) {
		uint8_t *info = end - argsz;

		memset(map, 0, PSZ);
		memcpy(info, &argsz, sizeof(argsz));
		if (uiommufd_ioctl(self->ctx, VFIO_IOMMU_GET_INFO, info))
			test_fail(__FILE__, __LINE__, true,
				  "argsz %u ending at a PROT_NONE page: errno %d (%s)",
				  argsz, errno,
				  uiommufd_last_reason() ?: "no reason");
		ASSERT_EQ(full, rd32(info, 0));
		ASSERT_EQ(argsz >= full ? 24 : 0,
			  argsz >= 20 ? rd32(info, 16) : 0);
	}
	/* A huge argsz: only what the chain needs is written. */
	{
		uint8_t *info = end - full;
		uint32_t argsz = UINT32_MAX;

		memcpy(info, &argsz, sizeof(argsz));
		ASSERT_EQ(0, uiommufd_ioctl(self->ctx, VFIO_IOMMU_GET_INFO,
					    info));
		ASSERT_EQ(full, rd32(info, 0));
		ASSERT_EQ(24, rd32(info, 16));
	}
	/* argsz claims the full size but only 24 bytes are there. */
	{
		uint8_t *info = end - 24;

		memcpy(info, &full, sizeof(full));
		ASSERT_ERRNO(EFAULT, uiommufd_ioctl(self->ctx,
						    VFIO_IOMMU_GET_INFO, info));
	}
	munmap(map, 2 * PSZ);
}

/*
 * Domains whose page sizes have nothing in common (the DEFAULT mock's
 * half page, the HUGE one's page and 1 MiB): the kernel reports the
 * IOAS's IOVA alignment, the number, not an empty set
 * (iommufd_get_pagesizes()'s max()).
 */
TEST_F(vfio_compat_mock_domain, get_info_pgsizes_disjoint_domains)
{
	struct iommu_hwpt_selftest huge = { .pagetable_type =
						    MOCK_IOMMUPT_HUGE };
	uint64_t align = 0;
	uint8_t info[INFO_BUF];
	uint32_t num = 0, hwpt = 0;

	ASSERT_EQ(0, hwpt_alloc(self->ctx, self->idev_id, self->ioas_id, 0,
				&huge, sizeof(huge), &hwpt));
	if (ioas_iova_ranges(self->ctx, self->ioas_id, NULL, 0, &num, &align))
		ASSERT_EQ(EMSGSIZE, errno);
	EXPECT_EQ(PSZ, align);
	ASSERT_EQ(0, get_info_guarded(self->ctx, info, 24, 0));
	EXPECT_EQ(align, rd64(info, 8));
	ASSERT_EQ(0, ioctl_destroy(self->ctx, hwpt));
	/* The DEFAULT domain alone: its half page stands as PAGE_SIZE. */
	ASSERT_EQ(0, get_info_guarded(self->ctx, info, 24, 0));
	EXPECT_EQ(PSZ, rd64(info, 8));
}

/*
 * VFIO users map and unmap at the granularity of the smallest page size
 * GET_INFO reports (VFIO type1 refuses anything finer). The kernel's
 * iommufd rounds the domains' sizes up to PAGE_SIZE and to the IOAS
 * alignment (iommufd_get_pagesizes()), so that size always works.
 */
TEST_F(vfio_compat_mock_domain, get_info_pgsizes_usable)
{
	uint8_t *buf = fx_buffer(self, P(4), 3);
	uint64_t pgsizes, min_pgsize, unmapped = 0, align = 0;
	uint8_t info[INFO_BUF];
	uint32_t num = 0;

	ASSERT_EQ(0, get_info_guarded(self->ctx, info, 24, 0));
	pgsizes = rd64(info, 8);
	ASSERT_NE(0, pgsizes);
	min_pgsize = pgsizes & -pgsizes;
	TH_LOG("iova_pgsizes %#llx", (unsigned long long)pgsizes);
	EXPECT_EQ(0, min_pgsize % PSZ);
	if (ioas_iova_ranges(self->ctx, self->ioas_id, NULL, 0, &num, &align))
		ASSERT_EQ(EMSGSIZE, errno);
	ASSERT_NE(0, align);
	EXPECT_GE(min_pgsize, align);
	ASSERT_LE(min_pgsize, P(4));
	ASSERT_EQ(0, vfio_map_dma(self->ctx, buf, BASE, min_pgsize,
				  MAP_DMA_RW));
	ASSERT_EQ(0, vfio_unmap_dma(self->ctx, BASE, min_pgsize, 0,
				    &unmapped));
	ASSERT_EQ(min_pgsize, unmapped);
}

/* MAP_DMA then UNMAP_DMA: mapped in the domain, size written back. */
TEST_F(vfio_compat_mock_domain, map_unmap_round_trip)
{
	uint8_t *buf = fx_buffer(self, P(16), 4);
	/* An unmap with 8 bytes of data[] after its header. */
	uint64_t big[4] = { 0 };
	struct vfio_iommu_type1_dma_unmap *unmap = (void *)big;
	uint8_t *hole;
	uint64_t unmapped = 0;

	ASSERT_EQ(0, vfio_map_dma(self->ctx, buf, BASE, P(16), MAP_DMA_RW));
	check_mapped(self, self->hwpt_id, BASE, buf, P(16));
	check_refs(self, buf, P(16), 1);
	/* Any overlap with a mapping is EEXIST. */
	ASSERT_ERRNO(EEXIST, vfio_map_dma(self->ctx, buf, BASE + P(15), P(2),
					  MAP_DMA_RW));
	ASSERT_ERRNO(EEXIST, vfio_map_dma(self->ctx, buf, BASE + P(4), P(1),
					  MAP_DMA_RW));
	ASSERT_EQ(0, vfio_unmap_dma(self->ctx, BASE, P(16), 0, &unmapped));
	ASSERT_EQ(P(16), unmapped);
	check_unmapped(self, self->hwpt_id, BASE, buf, P(16));
	check_refs(self, buf, P(16), 0);

	/* Two maps, one unmap: the sum comes back. */
	ASSERT_EQ(0, vfio_map_dma(self->ctx, buf, BASE, P(8), MAP_DMA_RW));
	ASSERT_EQ(0, vfio_map_dma(self->ctx, buf + P(8), BASE + P(8), P(8),
				  MAP_DMA_RW));
	check_mapped(self, self->hwpt_id, BASE, buf, P(16));
	/* argsz past the header (the data[] of old dirty bitmaps) is fine. */
	unmap->argsz = sizeof(big);
	unmap->iova = BASE;
	unmap->size = P(16);
	ASSERT_EQ(0, uiommufd_ioctl(self->ctx, VFIO_IOMMU_UNMAP_DMA, unmap));
	ASSERT_EQ(P(16), unmap->size);
	check_unmapped(self, self->hwpt_id, BASE, buf, P(16));

	/* Sizes the kernel refuses before pinning anything (pitfall 1). */
	ASSERT_ERRNO(EINVAL, vfio_map_dma(self->ctx, buf, BASE, 0, MAP_DMA_RW));
	ASSERT_ERRNO(EOVERFLOW, vfio_map_dma(self->ctx,
					     (void *)(uintptr_t)-PSZ, BASE,
					     P(2), MAP_DMA_RW));
	check_refs(self, buf, P(16), 0);

	/* Memory that is not there cannot be mapped while a domain pins. */
	hole = mmap(NULL, P(2), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, hole);
	ASSERT_ERRNO(EFAULT, vfio_map_dma(self->ctx, hole, BASE, P(2),
					  MAP_DMA_RW));
	munmap(hole, P(2));
	ASSERT_EQ(0, vfio_unmap_dma(self->ctx, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL,
				    &unmapped));
	ASSERT_EQ(0, unmapped);
}

/*
 * UNMAP_DMA whose result cannot be written back: EFAULT, as the kernel,
 * but the unmap itself happened.
 */
TEST_F(vfio_compat_mock_domain, unmap_write_back_fault)
{
	uint8_t *buf = fx_buffer(self, P(4), 5);
	struct vfio_iommu_type1_dma_unmap *unmap;
	uint8_t *page;

	page = mmap(NULL, PSZ, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, page);
	unmap = (void *)page;
	*unmap = (struct vfio_iommu_type1_dma_unmap){
		.argsz = sizeof(*unmap), .iova = BASE, .size = P(4),
	};
	ASSERT_EQ(0, mprotect(page, PSZ, PROT_READ));
	ASSERT_EQ(0, vfio_map_dma(self->ctx, buf, BASE, P(4), MAP_DMA_RW));
	ASSERT_ERRNO(EFAULT, uiommufd_ioctl(self->ctx, VFIO_IOMMU_UNMAP_DMA,
					    unmap));
	check_unmapped(self, self->hwpt_id, BASE, buf, P(4));
	check_refs(self, buf, P(4), 0);
	ASSERT_EQ(0, vfio_map_dma(self->ctx, buf, BASE, P(4), MAP_DMA_RW));
	munmap(page, PSZ);
}

/* VFIO_DMA_UNMAP_FLAG_ALL: iova and size 0 only; everything, reported. */
TEST_F(vfio_compat_mock_domain, unmap_all)
{
	uint8_t *buf = fx_buffer(self, P(16), 6);
	uint64_t unmapped;

	/* On an empty IOAS: success, 0 bytes. */
	unmapped = 99;
	ASSERT_EQ(0, vfio_unmap_dma(self->ctx, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL,
				    &unmapped));
	ASSERT_EQ(0, unmapped);

	ASSERT_EQ(0, vfio_map_dma(self->ctx, buf, BASE, P(4), MAP_DMA_RW));
	ASSERT_EQ(0, vfio_map_dma(self->ctx, buf + P(4), BASE + P(32), P(4),
				  MAP_DMA_RW));
	ASSERT_EQ(0, vfio_map_dma(self->ctx, buf + P(8),
				  MOCK_APERTURE_LAST + 1 - P(8), P(8),
				  MAP_DMA_RW));
	ASSERT_ERRNO(EINVAL, vfio_unmap_dma(self->ctx, BASE, 0,
					    VFIO_DMA_UNMAP_FLAG_ALL, NULL));
	ASSERT_ERRNO(EINVAL, vfio_unmap_dma(self->ctx, 0, P(4),
					    VFIO_DMA_UNMAP_FLAG_ALL, NULL));
	ASSERT_ERRNO(EINVAL, vfio_unmap_dma(self->ctx, BASE, P(4),
					    VFIO_DMA_UNMAP_FLAG_ALL, NULL));
	/* Those changed nothing. */
	check_mapped(self, self->hwpt_id, BASE, buf, P(4));
	check_mapped(self, self->hwpt_id, BASE + P(32), buf + P(4), P(4));
	check_refs(self, buf, P(16), 1);

	unmapped = 0;
	ASSERT_EQ(0, vfio_unmap_dma(self->ctx, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL,
				    &unmapped));
	ASSERT_EQ(P(16), unmapped);
	check_unmapped(self, self->hwpt_id, BASE, buf, P(4));
	check_unmapped(self, self->hwpt_id, BASE + P(32), buf + P(4), P(4));
	check_unmapped(self, self->hwpt_id, MOCK_APERTURE_LAST + 1 - P(8),
		       buf + P(8), P(8));
	check_refs(self, buf, P(16), 0);
	unmapped = 99;
	ASSERT_EQ(0, vfio_unmap_dma(self->ctx, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL,
				    &unmapped));
	ASSERT_EQ(0, unmapped);
}

/*
 * Pitfall 17: an unmap of a range with nothing mapped succeeds with size
 * 0 for VFIO, where the native IOMMU_IOAS_UNMAP gives ENOENT.
 */
TEST_F(vfio_compat_mock_domain, empty_unmap)
{
	uint8_t *buf = fx_buffer(self, P(8), 7);
	uint64_t unmapped = 99;

	ASSERT_EQ(0, vfio_unmap_dma(self->ctx, BASE, P(4), 0, &unmapped));
	ASSERT_EQ(0, unmapped);
	ASSERT_ERRNO(ENOENT, ioas_unmap(self->ctx, self->ioas_id, BASE, P(4),
					NULL));
	/* Outside the aperture, where nothing can ever be mapped. */
	unmapped = 99;
	ASSERT_EQ(0, vfio_unmap_dma(self->ctx, 0, P(4), 0, &unmapped));
	ASSERT_EQ(0, unmapped);

	/* A hole between two mappings is just as empty. */
	ASSERT_EQ(0, vfio_map_dma(self->ctx, buf, BASE, P(2), MAP_DMA_RW));
	ASSERT_EQ(0, vfio_map_dma(self->ctx, buf + P(2), BASE + P(6), P(2),
				  MAP_DMA_RW));
	unmapped = 99;
	ASSERT_EQ(0, vfio_unmap_dma(self->ctx, BASE + P(2), P(4), 0,
				    &unmapped));
	ASSERT_EQ(0, unmapped);
	ASSERT_ERRNO(ENOENT, ioas_unmap(self->ctx, self->ioas_id, BASE + P(2),
					P(4), NULL));
	check_mapped(self, self->hwpt_id, BASE, buf, P(2));
	check_mapped(self, self->hwpt_id, BASE + P(6), buf + P(2), P(2));

	/* Size 0 and wrapping ranges are still errors, as the kernel. */
	ASSERT_ERRNO(EINVAL, vfio_unmap_dma(self->ctx, BASE + P(3), 0, 0,
					    NULL));
	ASSERT_ERRNO(EOVERFLOW, vfio_unmap_dma(self->ctx, UINT64_MAX - P(1) + 1,
					       P(2), 0, NULL));
	check_mapped(self, self->hwpt_id, BASE, buf, P(2));
	check_mapped(self, self->hwpt_id, BASE + P(6), buf + P(2), P(2));
}

/*
 * Partial unmaps: type1 removes the middle of a mapping and leaves the
 * head and the tail mapped (and unmappable later); type1v2 refuses with
 * ENOENT and changes nothing.
 */
TEST_F(vfio_compat_mock_domain, partial_unmap_middle)
{
	uint8_t *buf = fx_buffer(self, P(16), 8);
	uint64_t unmapped = 99;

	ASSERT_EQ(0, vfio_map_dma(self->ctx, buf, BASE, P(16), MAP_DMA_RW));
	ASSERT_EQ(16, iopt_account_process_locked());

	if (!is_v1(variant)) {
		ASSERT_ERRNO(ENOENT, vfio_unmap_dma(self->ctx, BASE + P(4),
						    P(8), 0, &unmapped));
		ASSERT_EQ(0, unmapped);
		/* Neither end alone either. */
		ASSERT_ERRNO(ENOENT, vfio_unmap_dma(self->ctx, BASE, P(4), 0,
						    &unmapped));
		ASSERT_ERRNO(ENOENT, vfio_unmap_dma(self->ctx, BASE + P(12),
						    P(8), 0, &unmapped));
		check_mapped(self, self->hwpt_id, BASE, buf, P(16));
		check_refs(self, buf, P(16), 1);
		ASSERT_EQ(16, iopt_account_process_locked());
		ASSERT_EQ(0, vfio_unmap_dma(self->ctx, BASE, P(16), 0,
					    &unmapped));
		ASSERT_EQ(P(16), unmapped);
		check_refs(self, buf, P(16), 0);
		return;
	}

	ASSERT_EQ(0, vfio_unmap_dma(self->ctx, BASE + P(4), P(8), 0,
				    &unmapped));
	ASSERT_EQ(P(8), unmapped);
	check_mapped(self, self->hwpt_id, BASE, buf, P(4));
	check_mapped(self, self->hwpt_id, BASE + P(12), buf + P(12), P(4));
	ASSERT_ERRNO(EINVAL, test_check_map(self->ctx, self->hwpt_id,
					    BASE + P(4), P(8), buf + P(4)));
	check_unmapped(self, self->hwpt_id, BASE + P(4), buf + P(4), P(8));
	check_refs(self, buf, P(4), 1);
	check_refs(self, buf + P(4), P(8), 0);
	check_refs(self, buf + P(12), P(4), 1);
	ASSERT_EQ(8, iopt_account_process_locked());
	/* The hole is free IOVA again. */
	ASSERT_EQ(0, vfio_map_dma(self->ctx, buf + P(4), BASE + P(6), P(2),
				  MAP_DMA_RW));
	ASSERT_EQ(0, vfio_unmap_dma(self->ctx, BASE + P(6), P(2), 0,
				    &unmapped));
	ASSERT_EQ(P(2), unmapped);

	/* A range over the hole reports only the bytes really unmapped. */
	ASSERT_EQ(0, vfio_unmap_dma(self->ctx, BASE + P(3), P(10), 0,
				    &unmapped));
	ASSERT_EQ(P(2), unmapped);
	check_mapped(self, self->hwpt_id, BASE, buf, P(3));
	check_mapped(self, self->hwpt_id, BASE + P(13), buf + P(13), P(3));
	check_unmapped(self, self->hwpt_id, BASE + P(3), buf + P(3), P(1));
	check_unmapped(self, self->hwpt_id, BASE + P(12), buf + P(12), P(1));

	/* The head and the tail go separately. */
	ASSERT_EQ(0, vfio_unmap_dma(self->ctx, BASE, P(3), 0, &unmapped));
	ASSERT_EQ(P(3), unmapped);
	ASSERT_EQ(0, vfio_unmap_dma(self->ctx, BASE + P(13), P(3), 0,
				    &unmapped));
	ASSERT_EQ(P(3), unmapped);
	check_refs(self, buf, P(16), 0);
	ASSERT_EQ(0, iopt_account_process_locked());
	ASSERT_EQ(0, vfio_unmap_dma(self->ctx, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL,
				    &unmapped));
	ASSERT_EQ(0, unmapped);
}

/*
 * MAP_DMA with neither READ nor WRITE is accepted, as the 7.2 kernel's
 * compat layer takes it (IOAS_MAP refuses it): a mapping the domain has
 * with no protection, which an access may neither read, write nor pin.
 */
TEST_F(vfio_compat_mock_domain, map_dma_no_protection)
{
	uint8_t *buf = fx_buffer(self, P(4), 12);
	uint64_t unmapped = 0;
	uint8_t rd[8] = { 0x77 };
	int afd = -1;

	ASSERT_ERRNO(EINVAL, vfio_map_dma(self->ctx, buf, BASE, P(4), 1u << 2));
	check_refs(self, buf, P(4), 0);
	ASSERT_EQ(0, vfio_map_dma(self->ctx, buf, BASE, P(4), 0));
	check_mapped(self, self->hwpt_id, BASE, buf, P(4));
	check_refs(self, buf, P(4), 1);
	ASSERT_EQ(0, fx_access(self, &afd));
	ASSERT_ERRNO(EPERM, test_access_rw(self->ctx, afd, BASE + 3, rd,
					   sizeof(rd), 0));
	ASSERT_ERRNO(EPERM, test_access_rw(self->ctx, afd, BASE + 3, rd,
					   sizeof(rd), MOCK_ACCESS_RW_WRITE));
	ASSERT_EQ(0x77, rd[0]);
	ASSERT_ERRNO(EPERM, test_access_pages(self->ctx, afd, BASE, P(1), buf,
					      MOCK_FLAGS_ACCESS_WRITE, NULL));
	ASSERT_ERRNO(EPERM, test_access_pages(self->ctx, afd, BASE, P(1), buf,
					      0, NULL));
	ASSERT_EQ(0, vfio_unmap_dma(self->ctx, BASE, P(4), 0, &unmapped));
	ASSERT_EQ(P(4), unmapped);
	check_unmapped(self, self->hwpt_id, BASE, buf, P(4));
	check_refs(self, buf, P(4), 0);
}

/*
 * A type1 cut must be page aligned (the IOAS alignment without large
 * pages): a half-page cut is EINVAL and changes nothing.
 */
TEST_F(vfio_compat_mock_domain, partial_unmap_unaligned)
{
	uint8_t *buf = fx_buffer(self, P(4), 9);
	uint64_t unmapped = 99;

	ASSERT_EQ(0, vfio_map_dma(self->ctx, buf, BASE, P(4), MAP_DMA_RW));
	errno = 0;
	ASSERT_EQ(-1, vfio_unmap_dma(self->ctx, BASE + P(1), MOCK_PAGE_SIZE, 0,
				     &unmapped));
	ASSERT_EQ(is_v1(variant) ? EINVAL : ENOENT, errno);
	check_mapped(self, self->hwpt_id, BASE, buf, P(4));
	check_refs(self, buf, P(4), 1);
	ASSERT_EQ(0, vfio_unmap_dma(self->ctx, BASE, P(4), 0, &unmapped));
	ASSERT_EQ(P(4), unmapped);
}

/*
 * Pitfall 8: every v1 cut puts both halves into every tree, the domains'
 * included. A 2 MiB mapping (transparent huge pages when available) in
 * two domains is unmapped chunk by chunk in random order; after every
 * step each domain maps exactly the chunks left. Half way a third domain
 * is attached (filled from the split areas) and the first one detached
 * (the storage domain moves). Type1v2 refuses every chunk. Distinct
 * domains need Linux 6.2's MOCK_DOMAIN, so the container answers as 6.2.
 */
TEST_F(vfio_compat_mock_domain, partial_unmap_two_domains)
{
	const unsigned int nchunks = 32;
	const uint64_t chunk = HUGE_ALIGN / nchunks, len = HUGE_ALIGN;
	uint32_t hwpts[3] = { 0 }, dev2 = 0, dev3 = 0;
	unsigned int order[32], ndomains = 2, first = 0;
	bool gone[32] = { false };
	uint64_t unmapped = 0;
	struct rng rng;
	uint8_t *buf;

	/* Three distinct domains: Linux 6.2's MOCK_DOMAIN makes them. */
	fx_setup_v6_2(self, variant);
	hwpts[0] = self->hwpt_id;
	buf = fx_buffer(self, len, 10);
	madvise(buf, len, MADV_HUGEPAGE);
	memset(buf, 0x3c, len);
	ASSERT_EQ(0, mock_domain_distinct(self->ctx, self->ioas_id, &dev2,
					  &hwpts[1]));
	ASSERT_NE(hwpts[0], hwpts[1]);
	ASSERT_EQ(0, vfio_map_dma(self->ctx, buf, BASE, len, MAP_DMA_RW));
	for (unsigned int d = 0; d != 2; d++)
		check_mapped(self, hwpts[d], BASE, buf, len);
	check_refs(self, buf, len, 1);

	rng_init(&rng, test_seed());
	for (unsigned int i = 0; i != nchunks; i++)
		order[i] = i;
	for (unsigned int i = nchunks - 1; i; i--) {
		unsigned int j = rng_below(&rng, i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}

	for (unsigned int step = 0; step != nchunks; step++) {
		uint64_t off = order[step] * chunk;

		if (!is_v1(variant)) {
			unmapped = 99;
			ASSERT_ERRNO(ENOENT, vfio_unmap_dma(self->ctx,
							    BASE + off, chunk,
							    0, &unmapped));
			ASSERT_EQ(0, unmapped);
			if (step % 8 == 0)
				for (unsigned int d = 0; d != 2; d++)
					check_mapped(self, hwpts[d], BASE, buf,
						     len);
			continue;
		}
		ASSERT_EQ(0, vfio_unmap_dma(self->ctx, BASE + off, chunk, 0,
					    &unmapped));
		ASSERT_EQ(chunk, unmapped);
		gone[order[step]] = true;

		if (step == nchunks / 2) {
			/* A new domain is filled from the split areas. */
			ASSERT_EQ(0, mock_domain_distinct(self->ctx,
							  self->ioas_id, &dev3,
							  &hwpts[2]));
			ndomains = 3;
		} else if (step == nchunks / 2 + 4) {
			/* The storage domain goes: storage moves on. */
			ASSERT_EQ(0, ioctl_destroy(self->ctx, self->stdev_id));
			first = 1;
		}
		/* Each domain maps what is left, and nothing else. */
		for (unsigned int c = 0; c != nchunks; c++) {
			for (unsigned int d = first; d != ndomains; d++) {
				if (gone[c])
					check_unmapped(self, hwpts[d],
						       BASE + c * chunk,
						       buf + c * chunk, chunk);
				else
					check_mapped(self, hwpts[d],
						     BASE + c * chunk,
						     buf + c * chunk, chunk);
			}
			check_refs(self, buf + c * chunk, chunk,
				   gone[c] ? 0 : 1);
		}
		ASSERT_EQ((nchunks - step - 1) * (chunk / PSZ),
			  iopt_account_process_locked());
	}
	if (!is_v1(variant)) {
		ASSERT_EQ(0, vfio_unmap_dma(self->ctx, BASE, len, 0,
					    &unmapped));
		ASSERT_EQ(len, unmapped);
	}
	check_refs(self, buf, len, 0);
	ASSERT_EQ(0, iopt_account_process_locked());
	ASSERT_EQ(0, vfio_unmap_dma(self->ctx, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL,
				    &unmapped));
	ASSERT_EQ(0, unmapped);
}

/*
 * Unmapping what a test-module access pins calls the access back, which
 * unpins, and the unmap completes: an exact area, and (type1) a range
 * that also cuts the unpinned neighbours. Type1v2 refuses the latter.
 */
TEST_F(vfio_compat_mock_domain, partial_unmap_under_access_pin)
{
	uint8_t *buf = fx_buffer(self, P(12), 11);
	uint64_t unmapped = 0;
	uint32_t item = 0;
	int afd = -1;

	/* A, B, C: three adjacent mappings of four pages. */
	for (unsigned int i = 0; i != 3; i++)
		ASSERT_EQ(0, vfio_map_dma(self->ctx, buf + P(4 * i),
					  BASE + P(4 * i), P(4), MAP_DMA_RW));
	ASSERT_EQ(0, fx_access(self, &afd));
	ASSERT_EQ(0, test_access_pages(self->ctx, afd, BASE + P(5), P(2),
				       buf + P(5), MOCK_FLAGS_ACCESS_WRITE,
				       &item));

	if (!is_v1(variant)) {
		/* Cuts A and C: refused before anything happens. */
		ASSERT_ERRNO(ENOENT, vfio_unmap_dma(self->ctx, BASE + P(2),
						    P(8), 0, &unmapped));
		ASSERT_EQ(0, unmapped);
		check_mapped(self, self->hwpt_id, BASE, buf, P(12));
		/* The pin is still there: the access was not called. */
		ASSERT_EQ(0, test_destroy_access_pages(self->ctx, afd, item));
		ASSERT_EQ(0, test_access_pages(self->ctx, afd, BASE + P(5),
					       P(2), buf + P(5), 0, &item));
		/* Exactly B: the access is called back and unpins. */
		ASSERT_EQ(0, vfio_unmap_dma(self->ctx, BASE + P(4), P(4), 0,
					    &unmapped));
		ASSERT_EQ(P(4), unmapped);
		ASSERT_ERRNO(ENOENT, test_destroy_access_pages(self->ctx, afd,
							       item));
		check_unmapped(self, self->hwpt_id, BASE + P(4), buf + P(4),
			       P(4));
		check_mapped(self, self->hwpt_id, BASE, buf, P(4));
		check_mapped(self, self->hwpt_id, BASE + P(8), buf + P(8),
			     P(4));
		check_refs(self, buf + P(4), P(4), 0);
		return;
	}

	/* Type1: A's tail, all of B (pinned), C's head. */
	ASSERT_EQ(0, vfio_unmap_dma(self->ctx, BASE + P(2), P(8), 0,
				    &unmapped));
	ASSERT_EQ(P(8), unmapped);
	ASSERT_ERRNO(ENOENT, test_destroy_access_pages(self->ctx, afd, item));
	check_mapped(self, self->hwpt_id, BASE, buf, P(2));
	check_mapped(self, self->hwpt_id, BASE + P(10), buf + P(10), P(2));
	check_unmapped(self, self->hwpt_id, BASE + P(2), buf + P(2), P(8));
	check_refs(self, buf, P(2), 1);
	check_refs(self, buf + P(2), P(8), 0);
	check_refs(self, buf + P(10), P(2), 1);

	/* A pinned piece left by earlier cuts goes the same way. */
	ASSERT_EQ(0, vfio_unmap_dma(self->ctx, BASE + P(1), P(1), 0,
				    &unmapped));
	ASSERT_EQ(P(1), unmapped);
	ASSERT_EQ(0, test_access_pages(self->ctx, afd, BASE, P(1), buf, 0,
				       &item));
	ASSERT_EQ(0, vfio_unmap_dma(self->ctx, BASE, P(1), 0, &unmapped));
	ASSERT_EQ(P(1), unmapped);
	ASSERT_ERRNO(ENOENT, test_destroy_access_pages(self->ctx, afd, item));
	check_unmapped(self, self->hwpt_id, BASE, buf, P(2));
	check_mapped(self, self->hwpt_id, BASE + P(10), buf + P(10), P(2));
}

/*
 * A type1 cut of an area an access pins is refused (EINVAL, as the
 * kernel: pins are not tracked finely enough to split them), whether the
 * pin crosses the cut or not, and leaves everything as it was. Type1v2
 * gives ENOENT for the partial range anyway.
 */
TEST_F(vfio_compat_mock_domain, partial_unmap_cut_refused_by_pin)
{
	const int want = is_v1(variant) ? EINVAL : ENOENT;
	uint8_t *buf = fx_buffer(self, P(16), 12);
	uint64_t unmapped = 99;
	int refs[16], afd = -1;
	uint64_t locked;
	uint32_t item = 0;

	ASSERT_EQ(0, vfio_map_dma(self->ctx, buf, BASE, P(8), MAP_DMA_RW));
	ASSERT_EQ(0, vfio_map_dma(self->ctx, buf + P(8), BASE + P(8), P(8),
				  MAP_DMA_RW));
	ASSERT_EQ(0, fx_access(self, &afd));
	/* Pages 2..5 of the first mapping. */
	ASSERT_EQ(0, test_access_pages(self->ctx, afd, BASE + P(2), P(4),
				       buf + P(2), 0, &item));
	for (unsigned int i = 0; i != 16; i++) {
		refs[i] = page_refs(self->ctx, buf + P(i));
		ASSERT_GE(refs[i], 1);
	}
	locked = iopt_account_process_locked();
	ASSERT_GE(locked, 16);

	/* The pin crosses the cut at page 4. */
	errno = 0;
	ASSERT_EQ(-1, vfio_unmap_dma(self->ctx, BASE + P(4), P(4), 0,
				     &unmapped));
	ASSERT_EQ(want, errno);
	/* The pin is elsewhere in the area being cut (page 7). */
	errno = 0;
	ASSERT_EQ(-1, vfio_unmap_dma(self->ctx, BASE + P(7), P(1), 0,
				     &unmapped));
	ASSERT_EQ(want, errno);
	/* The second cut fails after the first (in the other area) worked. */
	errno = 0;
	ASSERT_EQ(-1, vfio_unmap_dma(self->ctx, BASE + P(4), P(8), 0,
				     &unmapped));
	ASSERT_EQ(want, errno);

	/* Nothing changed: mappings, pins, charges, the access's pin. */
	check_mapped(self, self->hwpt_id, BASE, buf, P(16));
	for (unsigned int i = 0; i != 16; i++)
		ASSERT_EQ(refs[i], page_refs(self->ctx, buf + P(i)));
	ASSERT_EQ(locked, iopt_account_process_locked());
	ASSERT_EQ(0, test_destroy_access_pages(self->ctx, afd, item));

	/* Without the pin the same unmaps behave as usual. */
	if (is_v1(variant)) {
		ASSERT_EQ(0, vfio_unmap_dma(self->ctx, BASE + P(4), P(8), 0,
					    &unmapped));
		ASSERT_EQ(P(8), unmapped);
		check_mapped(self, self->hwpt_id, BASE, buf, P(4));
		check_mapped(self, self->hwpt_id, BASE + P(12), buf + P(12),
			     P(4));
		check_unmapped(self, self->hwpt_id, BASE + P(4), buf + P(4),
			       P(8));
	}
	ASSERT_EQ(0, vfio_unmap_dma(self->ctx, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL,
				    &unmapped));
	ASSERT_EQ(is_v1(variant) ? P(8) : P(16), unmapped);
}

static atomic_uint stubborn_calls;

/* An access that never lets go of its pins. */
static void stubborn_unmap(void *data, uint64_t iova, uint64_t length)
{
	atomic_fetch_add(&stubborn_calls, 1);
}

/*
 * Pitfall 14: when a later area of the range cannot be unmapped, the
 * bytes already unmapped are reported (size), with the kernel's
 * EDEADLOCK for an access that does not unpin; by a range unmap and by
 * unmap-all.
 */
TEST_F(vfio_compat_mock_domain, unmap_reports_partial_progress)
{
	const struct uiommufd_access_ops ops = {
		.flags = UIOMMUFD_ACCESS_NEEDS_PIN_PAGES,
		.unmap = stubborn_unmap,
	};
	uint8_t *buf = fx_buffer(self, P(12), 13);
	struct uiommufd_access *access;
	uint64_t unmapped = 0;

	/* A (free), B (pinned by the stubborn access), C (free, for ALL). */
	ASSERT_EQ(0, vfio_map_dma(self->ctx, buf, BASE, P(4), MAP_DMA_RW));
	ASSERT_EQ(0, vfio_map_dma(self->ctx, buf + P(4), BASE + P(4), P(4),
				  MAP_DMA_RW));
	access = uiommufd_access_create(self->ctx, self->ioas_id, &ops, NULL,
					NULL);
	ASSERT_NONNULL(access);
	ASSERT_EQ(0, uiommufd_access_pin_pages(access, BASE + P(4), P(1),
					       NULL, NULL, 0));

	atomic_store(&stubborn_calls, 0);
	errno = 0;
	ASSERT_EQ(-1, vfio_unmap_dma(self->ctx, BASE, P(8), 0, &unmapped));
	EXPECT_EQ(EDEADLOCK, errno);
	ASSERT_EQ(P(4), unmapped);
	ASSERT_GT(atomic_load(&stubborn_calls), 0);
	check_unmapped(self, self->hwpt_id, BASE, buf, P(4));
	check_mapped(self, self->hwpt_id, BASE + P(4), buf + P(4), P(4));

	/* Unmap-all: A' goes, B stays, A' is reported. */
	ASSERT_EQ(0, vfio_map_dma(self->ctx, buf + P(8), BASE, P(4),
				  MAP_DMA_RW));
	unmapped = 0;
	errno = 0;
	ASSERT_EQ(-1, vfio_unmap_dma(self->ctx, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL,
				     &unmapped));
	EXPECT_EQ(EDEADLOCK, errno);
	ASSERT_EQ(P(4), unmapped);
	check_unmapped(self, self->hwpt_id, BASE, buf + P(8), P(4));
	check_mapped(self, self->hwpt_id, BASE + P(4), buf + P(4), P(4));

	/* Once unpinned, B goes. */
	ASSERT_EQ(0, uiommufd_access_unpin_pages(access, BASE + P(4), P(1)));
	ASSERT_EQ(0, vfio_unmap_dma(self->ctx, BASE + P(4), P(4), 0,
				    &unmapped));
	ASSERT_EQ(P(4), unmapped);
	uiommufd_access_destroy(access);
	check_refs(self, buf, P(12), 0);
}

/* A read-only map cannot be pinned or written for writing by an access. */
TEST_F(vfio_compat_mock_domain, read_only_map)
{
	uint8_t *buf = fx_buffer(self, P(4), 14);
	uint8_t data[64], want[64];
	uint64_t unmapped = 0;
	uint32_t item = 0;
	int afd = -1;

	ASSERT_EQ(0, vfio_map_dma(self->ctx, buf, BASE, P(4),
				  VFIO_DMA_MAP_FLAG_READ));
	check_mapped(self, self->hwpt_id, BASE, buf, P(4));
	ASSERT_EQ(0, fx_access(self, &afd));
	ASSERT_ERRNO(EPERM, test_access_pages(self->ctx, afd, BASE, P(1), buf,
					      MOCK_FLAGS_ACCESS_WRITE, &item));
	memset(data, 0xee, sizeof(data));
	ASSERT_ERRNO(EPERM, test_access_rw(self->ctx, afd, BASE + 100, data,
					   sizeof(data), MOCK_ACCESS_RW_WRITE));
	/* Nothing was written; reading works. */
	memcpy(want, buf + 100, sizeof(want));
	ASSERT_EQ(0, test_access_rw(self->ctx, afd, BASE + 100, data,
				    sizeof(data), 0));
	ASSERT_EQ(0, memcmp(want, data, sizeof(data)));
	ASSERT_EQ(0, test_access_pages(self->ctx, afd, BASE, P(1), buf, 0,
				       &item));
	ASSERT_EQ(0, test_destroy_access_pages(self->ctx, afd, item));

	/* A writable map beside it can be pinned for writing. */
	ASSERT_EQ(0, vfio_map_dma(self->ctx, buf + P(2), BASE + P(8), P(2),
				  MAP_DMA_RW));
	ASSERT_EQ(0, test_access_pages(self->ctx, afd, BASE + P(8), P(1),
				       buf + P(2), MOCK_FLAGS_ACCESS_WRITE,
				       &item));
	ASSERT_EQ(0, vfio_unmap_dma(self->ctx, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL,
				    &unmapped));
	ASSERT_EQ(P(6), unmapped);
}

/*
 * On a VFIO container every map, MAP_DMA or IOAS_MAP, is charged per
 * process (IOPT_PAGES_ACCOUNT_MM), never to the user; every partial unmap
 * refunds exactly its pages.
 */
TEST_F(vfio_compat_mock_domain, accounting)
{
	uint8_t *buf = fx_buffer(self, P(32), 15);
	uint64_t iova = BASE + P(64), unmapped = 0, user0;

	ASSERT_EQ(0, iopt_account_process_locked());
	user0 = iopt_account_user_locked(getuid());
	ASSERT_EQ(0, vfio_map_dma(self->ctx, buf, BASE, P(16), MAP_DMA_RW));
	ASSERT_EQ(16, iopt_account_process_locked());
	ASSERT_EQ(user0, iopt_account_user_locked(getuid()));
	ASSERT_EQ(16, iopt_account_pinned());

	/* A native map on the same container: per process too. */
	ASSERT_EQ(0, ioas_map(self->ctx, self->ioas_id, buf + P(16), P(8),
			      &iova, MAP_FIXED_RW));
	ASSERT_EQ(24, iopt_account_process_locked());
	ASSERT_EQ(user0, iopt_account_user_locked(getuid()));
	ASSERT_EQ(24, iopt_account_pinned());

	/* A failed map charges nothing. */
	ASSERT_ERRNO(EEXIST, vfio_map_dma(self->ctx, buf + P(24), BASE + P(8),
					  P(8), MAP_DMA_RW));
	ASSERT_EQ(24, iopt_account_process_locked());

	if (is_v1(variant)) {
		ASSERT_EQ(0, vfio_unmap_dma(self->ctx, BASE + P(2), P(3), 0,
					    &unmapped));
		ASSERT_EQ(P(3), unmapped);
		ASSERT_EQ(21, iopt_account_process_locked());
	}
	ASSERT_EQ(0, vfio_unmap_dma(self->ctx, BASE, P(16), 0, &unmapped));
	ASSERT_EQ(is_v1(variant) ? P(13) : P(16), unmapped);
	ASSERT_EQ(8, iopt_account_process_locked());
	ASSERT_EQ(8, iopt_account_pinned());

	/* What is left at close is refunded by the teardown's close. */
	ASSERT_EQ(0, vfio_map_dma(self->ctx, buf, BASE, P(4), MAP_DMA_RW));
	ASSERT_EQ(12, iopt_account_process_locked());
}

/* ---- threads ---- */

#define THREAD_CHUNKS 8
#define THREAD_CHUNK P(4)
#define THREAD_SPAN (THREAD_CHUNKS * THREAD_CHUNK)

struct thread_ctl {
	struct uiommufd_ctx *ctx;
	bool v1;
	atomic_bool stop;
	atomic_uint errors;
	atomic_ullong info_calls;
};

struct mapper {
	struct thread_ctl *ctl;
	uint8_t *buf;
	uint64_t iova;
	uint64_t iterations;
	pthread_t thread;
};

static void thread_error(struct thread_ctl *ctl, const char *what, int rc)
{
	if (atomic_fetch_add(&ctl->errors, 1) < 5)
		TH_LOG("thread: %s: rc %d errno %d (%s)", what, rc, errno,
		       uiommufd_last_reason() ?: "no reason");
}

/*
 * Type1: one map of the whole span, unmapped chunk by chunk (each a cut).
 * Type1v2: a map per chunk, one unmap of the whole span.
 */
static void *mapper_thread(void *arg)
{
	struct mapper *m = arg;
	struct thread_ctl *ctl = m->ctl;
	uint64_t unmapped;
	int rc;

	for (uint64_t it = 0; it != m->iterations; it++) {
		if (ctl->v1) {
			rc = vfio_map_dma(ctl->ctx, m->buf, m->iova,
					  THREAD_SPAN, MAP_DMA_RW);
			if (rc) {
				thread_error(ctl, "map span", rc);
				break;
			}
			for (unsigned int c = 0; c != THREAD_CHUNKS; c++) {
				/* From both ends, so both cuts are used. */
				unsigned int n = c % 2 ?
					THREAD_CHUNKS - 1 - c / 2 : c / 2;

				unmapped = 0;
				rc = vfio_unmap_dma(ctl->ctx,
						    m->iova + n * THREAD_CHUNK,
						    THREAD_CHUNK, 0, &unmapped);
				if (rc || unmapped != THREAD_CHUNK)
					thread_error(ctl, "unmap chunk", rc);
			}
		} else {
			for (unsigned int c = 0; c != THREAD_CHUNKS; c++) {
				rc = vfio_map_dma(ctl->ctx,
						  m->buf + c * THREAD_CHUNK,
						  m->iova + c * THREAD_CHUNK,
						  THREAD_CHUNK, MAP_DMA_RW);
				if (rc)
					thread_error(ctl, "map chunk", rc);
			}
			unmapped = 0;
			rc = vfio_unmap_dma(ctl->ctx, m->iova, THREAD_SPAN, 0,
					    &unmapped);
			if (rc || unmapped != THREAD_SPAN)
				thread_error(ctl, "unmap span", rc);
		}
	}
	return NULL;
}

static void *info_thread(void *arg)
{
	struct thread_ctl *ctl = arg;
	uint8_t buf[INFO_BUF];

	while (!atomic_load(&ctl->stop)) {
		uint32_t argsz = 128;
		int rc;

		memset(buf, 0xcc, sizeof(buf));
		memcpy(buf, &argsz, sizeof(argsz));
		rc = uiommufd_ioctl(ctl->ctx, VFIO_IOMMU_GET_INFO, buf);
		if (rc || rd32(buf, 4) != INFO_FLAGS || !rd64(buf, 8) ||
		    rd32(buf, 0) > argsz || rd32(buf, 16) != 24 ||
		    buf[argsz] != 0xcc) {
			thread_error(ctl, "GET_INFO", rc);
			continue;
		}
		/* The chain: DMA_AVAIL and IOVA_RANGE with the aperture. */
		for (uint32_t off = rd32(buf, 16), n = 0; off; n++) {
			if (off % 8 || off + 32 > argsz || n == 2) {
				thread_error(ctl, "GET_INFO chain", 0);
				break;
			}
			uint16_t id = rd16(buf, off);

			if (id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE &&
			    (rd32(buf, off + 8) != 1 ||
			     rd64(buf, off + 16) != MOCK_APERTURE_START ||
			     rd64(buf, off + 24) != MOCK_APERTURE_LAST))
				thread_error(ctl, "GET_INFO ranges", 0);
			if (rd32(buf, off + 4) && rd32(buf, off + 4) <= off) {
				thread_error(ctl, "GET_INFO next", 0);
				break;
			}
			off = rd32(buf, off + 4);
		}
		/* Leave the mappers room where threads are serialised. */
		if (atomic_fetch_add(&ctl->info_calls, 1) % 64 == 63)
			sched_yield();
	}
	return NULL;
}

/*
 * Two threads map and unmap disjoint ranges of the compat IOAS while a
 * third reads GET_INFO: no failure, everything unmapped at the end, no
 * pin or charge left.
 */
TEST_F(vfio_compat_mock_domain, threads_map_unmap_get_info)
{
	struct thread_ctl ctl = { .ctx = self->ctx, .v1 = is_v1(variant) };
	struct mapper m[2];
	pthread_t reader;
	uint64_t unmapped = 99;

	atomic_init(&ctl.stop, false);
	atomic_init(&ctl.errors, 0);
	atomic_init(&ctl.info_calls, 0);
	for (unsigned int i = 0; i != 2; i++) {
		m[i] = (struct mapper){
			.ctl = &ctl,
			.buf = fx_buffer(self, THREAD_SPAN, 20 + i),
			.iova = BASE + i * 0x1000000ULL,
			.iterations = test_iterations(2000),
		};
	}
	ASSERT_EQ(0, pthread_create(&reader, NULL, info_thread, &ctl));
	for (unsigned int i = 0; i != 2; i++)
		ASSERT_EQ(0, pthread_create(&m[i].thread, NULL, mapper_thread,
					    &m[i]));
	for (unsigned int i = 0; i != 2; i++)
		ASSERT_EQ(0, pthread_join(m[i].thread, NULL));
	atomic_store(&ctl.stop, true);
	ASSERT_EQ(0, pthread_join(reader, NULL));

	TH_LOG("%llu GET_INFO calls",
	       (unsigned long long)atomic_load(&ctl.info_calls));
	ASSERT_EQ(0, atomic_load(&ctl.errors));
	ASSERT_GT(atomic_load(&ctl.info_calls), 0);
	ASSERT_EQ(0, vfio_unmap_dma(self->ctx, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL,
				    &unmapped));
	ASSERT_EQ(0, unmapped);
	for (unsigned int i = 0; i != 2; i++) {
		check_refs(self, m[i].buf, THREAD_SPAN, 0);
		check_unmapped(self, self->hwpt_id, m[i].iova, m[i].buf,
			       THREAD_CHUNK);
	}
	ASSERT_EQ(0, iopt_account_process_locked());
	ASSERT_EQ(0, iopt_account_pinned());
}

struct switch_ctl {
	struct uiommufd_ctx *ctx;
	uint8_t *buf;
	atomic_bool stop;
	atomic_uint errors;
	atomic_ullong calls;
};

static void switch_error(struct switch_ctl *ctl, const char *what)
{
	if (atomic_fetch_add(&ctl->errors, 1) < 5)
		TH_LOG("worker: %s: errno %d (%s)", what, errno,
		       uiommufd_last_reason() ?: "no reason");
}

/* VFIO requests on whatever the compat IOAS is at the moment. */
static void *switch_worker(void *arg)
{
	struct switch_ctl *ctl = arg;
	uint8_t info[INFO_BUF];

	while (!atomic_load(&ctl->stop)) {
		uint32_t argsz = sizeof(info);
		uint64_t unmapped;
		int rc;

		rc = vfio_map_dma(ctl->ctx, ctl->buf, BASE, P(4), MAP_DMA_RW);
		if (rc && errno != ENODEV && errno != EEXIST)
			switch_error(ctl, "MAP_DMA");
		rc = vfio_unmap_dma(ctl->ctx, BASE, P(4), 0, &unmapped);
		if (rc ? errno != ENODEV : unmapped != 0 && unmapped != P(4))
			switch_error(ctl, "UNMAP_DMA");
		memcpy(info, &argsz, sizeof(argsz));
		rc = uiommufd_ioctl(ctl->ctx, VFIO_IOMMU_GET_INFO, info);
		if (rc ? errno != ENODEV : rd32(info, 16) != 24)
			switch_error(ctl, "GET_INFO");
		rc = vfio_val(ctl->ctx, VFIO_CHECK_EXTENSION,
			      VFIO_DMA_CC_IOMMU);
		if (rc != 1 && (rc != -1 || errno != ENODEV))
			switch_error(ctl, "CHECK_EXTENSION");
		if (atomic_fetch_add(&ctl->calls, 1) % 16 == 15)
			sched_yield();
	}
	return NULL;
}

/*
 * While a thread issues VFIO requests, the compat IOAS is set, cleared,
 * and destroyed under it, over and over: every request either works on
 * an IOAS or is ENODEV, every destroy succeeds, and nothing is left.
 */
TEST(threads_compat_ioas_switch_destroy)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(UIOMMUFD_CTX_VFIO);
	struct switch_ctl ctl = { .ctx = ctx };
	uint64_t n = test_iterations(500);
	pthread_t worker;

	ASSERT_NONNULL(ctx);
	ctl.buf = aligned_buffer(P(4), PSZ, 30);
	ASSERT_NONNULL(ctl.buf);
	atomic_init(&ctl.stop, false);
	atomic_init(&ctl.errors, 0);
	atomic_init(&ctl.calls, 0);
	ASSERT_EQ(0, pthread_create(&worker, NULL, switch_worker, &ctl));
	for (uint64_t i = 0; i != n; i++) {
		uint32_t ioas_id = 0, id = 0;

		ASSERT_EQ(0, ioas_alloc(ctx, &ioas_id));
		ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_SET, &ioas_id));
		if (i % 2)
			ASSERT_EQ(0, vfio_val(ctx, VFIO_SET_IOMMU,
					      VFIO_TYPE1_IOMMU));
		sched_yield();
		if (i % 3 == 0)
			ASSERT_EQ(0, vfio_ioas(ctx, IOMMU_VFIO_IOAS_CLEAR,
					       NULL));
		/* Only areas, no domain: the IOAS can always go. */
		ASSERT_EQ(0, ioctl_destroy(ctx, ioas_id));
		ASSERT_ERRNO(ENODEV, vfio_ioas(ctx, IOMMU_VFIO_IOAS_GET, &id));
	}
	atomic_store(&ctl.stop, true);
	ASSERT_EQ(0, pthread_join(worker, NULL));
	TH_LOG("%llu worker rounds",
	       (unsigned long long)atomic_load(&ctl.calls));
	ASSERT_EQ(0, atomic_load(&ctl.errors));
	uiommufd_ctx_close(ctx);
	ASSERT_EQ(0, iopt_account_process_locked());
	ASSERT_EQ(0, iopt_account_pinned());
	munmap(ctl.buf, P(4));
}
