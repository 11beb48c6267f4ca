// SPDX-License-Identifier: MIT
/*
 * A fail-nth sweep over every command, close and destroy included.
 *
 * For N = 1, 2, ... a fresh context is built in a rich state (areas over
 * two buffers, mock devices, a test-module access and an access API user
 * holding pins, a second IOAS sharing pages), the
 * Nth failure point from the command on is armed, and the command runs;
 * the sweep stops at the first N whose fault never fires. A command that
 * fails must leave everything as it was, as a snapshot taken through the
 * internals sees it; one that succeeds must leave exactly what the
 * unfaulted run left and return the same results. Destroy, detach, unmap,
 * unpin and close never fail. Every context is then closed and must leave
 * no allocation, pin, charge or descriptor behind.
 *
 * A context answers as one Linux release, and the world is built as that
 * release's callers build it: under 7.2 (the 72-byte test command) the
 * devices on an IOAS share its auto HW pagetable; under 6.2 (the 56-byte
 * command, or 72 bytes with a zero tail) each device has a HW pagetable of
 * its own, so ioas1 has two distinct domains. Most sweeps run under both.
 *
 * The commands and test ops Linux added after 6.2 (HW pagetables paging
 * and nested, their invalidation, GET_HW_INFO, devices with flags,
 * replacing a device's HW pagetable or an access's IOAS) run under 7.2
 * only, in worlds that may also hold a NEST_PARENT HW pagetable with a
 * nested one on it and a device made with flags; the snapshot sees
 * every nested HW pagetable (its parent, its IOTLB) and every device's
 * mock state (flags, cache, what it is attached to). The PASID test ops
 * run in a world where that device's RID and a PASID of it are on PASID
 * HW pagetables; the snapshot sees each device's PASID table and
 * whether its mock driver fails the next attach of the reserved PASID.
 */
#include <fcntl.h>
#include <stdarg.h>

#include "base/fault_inject.h"
#include "base/mem.h"
#include "domains/mock_domain.h"
#include "domains/mock_nested.h"
#include "iommufd/fd_table.h"
#include "iommufd/iommufd_private.h"
#include "iommufd/iommufd_utils.h"
#include "iopt/accounting.h"
#include "iopt/pfn_batch.h"
#include "iopt/pin_count.h"

#define P(n) ((u64)(n) * TEST_PAGE_SIZE)
#define A_PAGES 64
#define B_PAGES 32
/* ioas1's areas start here, ioas2's copy there. */
#define IOVA1 MOCK_APERTURE_START
#define IOVA2 0x2000000ULL
#define RESV1 0x48000000ULL
#define RESV_LEN 0x100000ULL
/* Descriptors checked for leaks: 0 .. NFDS - 1. */
#define NFDS 256
#define MAX_NTH 20000
#define TEMP_LIMIT_DEFAULT 65536

static u8 *buf_a, *buf_b;

/* ---- the world: one context in a rich state ---- */

/*
 * Mock devices: under 7.2 on the IOAS's auto HW pagetable (W_DOM2 shares
 * W_DOM1's), under 6.2 each on a HW pagetable of its own.
 */
enum {
	W_DOM1 = 1 << 0,	/* ioas1: mock device */
	W_DOM2 = 1 << 1,	/* ioas1: a second mock device */
	W_ACCESS = 1 << 2,	/* ioas1: test-module access with two items */
	W_PUBACC = 1 << 3,	/* ioas1: access API user holding a pin */
	W_IOAS2 = 1 << 4,	/* ioas2: a copy of ioas1's start, two maps */
	W_IOAS2_DOM = 1 << 5,	/* ioas2: mock device */
	W_RICH = 0x3f,
	W_NODOM = W_ACCESS | W_PUBACC | W_IOAS2,
	/* 7.2 only, with W_DOM1: */
	W_HWPT = 1 << 6,	/* ioas1: NEST_PARENT HWPT, nested on it */
	W_FLAGS_DEV = 1 << 7,	/* ioas1: NO_DIRTY|PASID device */
	W_RICH72 = W_RICH | W_HWPT | W_FLAGS_DEV,
	/* 7.2 only, with W_HWPT and W_FLAGS_DEV: */
	W_PASID = 1 << 8,	/* PASID HWPTs: W_FLAGS_DEV's RID and PASID 7 */
	W_RICH_PASID = W_RICH72 | W_PASID,
};

/* The PASID W_PASID attaches; the mock driver's reserved one. */
#define W_PASID_ID 7
#define RESERVED_PASID IOMMU_TEST_PASID_RESERVED

/* An access API user: its pins, unpinned by its unmap callback. */
struct pubacc {
	struct uiommufd_access *access;
	u32 id;
	unsigned int npins, unmap_calls, unpin_errors;
	struct {
		u64 iova, length;
	} pins[8];
};

struct world {
	uint32_t kernel;		/* the release ctx answers as */
	bool v6_2;
	struct uiommufd_ctx *ctx;
	u32 ioas1, ioas2;
	u32 stdev1, hwpt1, idev1;	/* W_DOM1; 6.2 reports no idev */
	u32 stdev2, hwpt2;		/* W_DOM2; 7.2: hwpt2 is hwpt1 */
	u32 stdev3, hwpt3;		/* W_IOAS2_DOM */
	u32 hwpt_p, hwpt_n;		/* W_HWPT: the parent, the nested */
	u32 stdev4, idev4;		/* W_FLAGS_DEV */
	u32 hwpt_pp1, hwpt_pp2;		/* W_PASID: paging, PASID */
	u32 hwpt_pn;			/* W_PASID: nested on hwpt_p, PASID */
	u64 iova_b;			/* where ioas1 got buf_b[0, 8) */
	u64 iova2_b;			/* where ioas2 got buf_b[8, 24) */
	int afd;
	u32 items[2];
	struct pubacc pa;
	/* What the command under test made; released at teardown. */
	struct uiommufd_ctx *ctx2;
	int new_fd;
	struct pubacc pa2;
	/* The command's results, compared with the unfaulted run's. */
	u64 out[8];
	u8 data[P(4)];
	long live_base;
};

static void fill_bufs(void)
{
	for (u64 i = 0; i != P(A_PAGES); i++)
		buf_a[i] = (u8)(i * 7 + i / 4093);
	for (u64 i = 0; i != P(B_PAGES); i++)
		buf_b[i] = (u8)(i * 13 + 1);
}

static void bufs_init(void)
{
	if (buf_a)
		return;
	buf_a = test_buffer(P(A_PAGES));
	buf_b = test_buffer(P(B_PAGES));
	ASSERT_NONNULL(buf_a);
	ASSERT_NONNULL(buf_b);
}

/* The 56-byte command of Linux 6.2: the HW pagetable is the caller's. */
static int test_mock_domain_v6_2(struct uiommufd_ctx *ctx, u32 pt_id,
				 u32 *stdev_id, u32 *hwpt_id)
{
	struct iommu_test_cmd_v6_2 cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN,
		.id = pt_id,
	};
	int rc = uiommufd_ioctl(ctx, IOMMU_TEST_CMD, &cmd);

	if (!rc) {
		*stdev_id = cmd.mock_domain.out_device_id;
		*hwpt_id = cmd.mock_domain.out_hwpt_id;
	}
	return rc;
}

static void pubacc_unmap(void *data, uint64_t iova, uint64_t length)
{
	struct pubacc *pa = data;
	u64 last = iova + length - 1;

	pa->unmap_calls++;
	for (unsigned int i = 0; i < pa->npins;) {
		if (pa->pins[i].iova > last ||
		    pa->pins[i].iova + pa->pins[i].length - 1 < iova) {
			i++;
			continue;
		}
		if (uiommufd_access_unpin_pages(pa->access, pa->pins[i].iova,
						pa->pins[i].length))
			pa->unpin_errors++;
		pa->pins[i] = pa->pins[--pa->npins];
	}
}

static const struct uiommufd_access_ops pubacc_ops = {
	.flags = UIOMMUFD_ACCESS_NEEDS_PIN_PAGES,
	.unmap = pubacc_unmap,
};

/* 0 or -errno, as the access API returns. */
static int pubacc_create(struct world *w, struct pubacc *pa)
{
	memset(pa, 0, sizeof(*pa));
	pa->access = uiommufd_access_create(w->ctx, w->ioas1, &pubacc_ops, pa,
					    &pa->id);
	return pa->access ? 0 : -errno;
}

static int pubacc_pin(struct pubacc *pa, u64 iova, u64 length, u64 *pfns,
		      void **pages, unsigned int flags)
{
	int rc;

	ASSERT_LT(pa->npins, ARRAY_SIZE(pa->pins));
	rc = uiommufd_access_pin_pages(pa->access, iova, length, pfns, pages,
				       flags);
	if (!rc) {
		pa->pins[pa->npins].iova = iova;
		pa->pins[pa->npins].length = length;
		pa->npins++;
	}
	return rc;
}

static void map_fixed(struct world *w, u32 ioas, void *buf, u64 npages,
		      u64 iova, u32 flags)
{
	ASSERT_EQ(0, ioas_map(w->ctx, ioas, buf, P(npages), &iova,
			      flags | IOMMU_IOAS_MAP_FIXED_IOVA));
}

/*
 * ioas1: reserved [RESV1, +1 MiB), two allowed ranges, and areas
 *	a0 buf_a[0, 16)  at IOVA1          RW, test item 0 pins pages 2-5
 *	a1 buf_a[16, 24) at IOVA1 + P(16)  RW, test item 1 pins pages 16-17
 *	a2 buf_a[24, 32) at IOVA1 + P(24)  read only
 *	a3 buf_a[32, 40) at IOVA1 + P(32)  RW
 *	a4 buf_a[40, 48) at IOVA1 + P(40)  RW, the API user pins 42-43
 *	a5 buf_b[0, 8)   automatic IOVA    RW (past a4: no hole before)
 * ioas2: the first allowed range only, a copy of a0 and a1 at IOVA2,
 * buf_b[8, 24) automatic and buf_a[48, 56) at IOVA2 + 1 MiB.
 */
static void world_build(struct world *w, unsigned int flags,
			uint32_t kernel)
{
	static const struct iommu_iova_range allowed[] = {
		{ .start = 0x1000000, .last = 0x3fffffff },
		{ .start = 0x50000000, .last = 0x5fffffff },
	};
	u64 iova;

	memset(w, 0, sizeof(*w));
	w->afd = -1;
	w->new_fd = -1;
	w->live_base = mem_live_count();
	fill_bufs();
	w->kernel = kernel;
	w->v6_2 = kernel == UIOMMUFD_KERNEL_6_2;
	w->ctx = ctx_open_as(kernel, false, 0);
	ASSERT_NONNULL(w->ctx);
	ASSERT_EQ(0, ioas_alloc(w->ctx, &w->ioas1));
	/* 6.2: the 56-byte command, then the 72-byte one read as it. */
	if ((flags & W_DOM1) && w->v6_2)
		ASSERT_EQ(0, test_mock_domain_v6_2(w->ctx, w->ioas1, &w->stdev1,
						   &w->hwpt1));
	else if (flags & W_DOM1)
		ASSERT_EQ(0, test_mock_domain(w->ctx, w->ioas1, &w->stdev1,
					      &w->hwpt1, &w->idev1));
	if (flags & W_DOM2)
		ASSERT_EQ(0, test_mock_domain(w->ctx, w->ioas1, &w->stdev2,
					      &w->hwpt2, NULL));
	/* Two domains under 6.2, one under 7.2. */
	if ((flags & W_DOM1) && (flags & W_DOM2)) {
		if (w->v6_2)
			ASSERT_NE(w->hwpt1, w->hwpt2);
		else
			ASSERT_EQ(w->hwpt1, w->hwpt2);
	}
	ASSERT_EQ(0, test_add_reserved(w->ctx, w->ioas1, RESV1, RESV_LEN));
	ASSERT_EQ(0, ioas_allow_iovas(w->ctx, w->ioas1, allowed, 2));
	map_fixed(w, w->ioas1, buf_a, 16, IOVA1, MAP_RW);
	map_fixed(w, w->ioas1, buf_a + P(16), 8, IOVA1 + P(16), MAP_RW);
	map_fixed(w, w->ioas1, buf_a + P(24), 8, IOVA1 + P(24),
		  IOMMU_IOAS_MAP_READABLE);
	map_fixed(w, w->ioas1, buf_a + P(32), 8, IOVA1 + P(32), MAP_RW);
	map_fixed(w, w->ioas1, buf_a + P(40), 8, IOVA1 + P(40), MAP_RW);
	ASSERT_EQ(0, ioas_map(w->ctx, w->ioas1, buf_b, P(8), &w->iova_b,
			      MAP_RW));
	if (flags & W_ACCESS) {
		ASSERT_EQ(0, test_create_access(
				     w->ctx, w->ioas1,
				     MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
				     &w->afd));
		ASSERT_EQ(0, test_access_pages(w->ctx, w->afd, IOVA1 + P(2),
					       P(4), buf_a + P(2),
					       MOCK_FLAGS_ACCESS_WRITE,
					       &w->items[0]));
		ASSERT_EQ(0, test_access_pages(w->ctx, w->afd, IOVA1 + P(16),
					       P(2), buf_a + P(16), 0,
					       &w->items[1]));
	}
	if (flags & W_PUBACC) {
		ASSERT_EQ(0, pubacc_create(w, &w->pa));
		ASSERT_EQ(0, pubacc_pin(&w->pa, IOVA1 + P(42), P(2), NULL,
					NULL, UIOMMUFD_ACCESS_RW_WRITE));
	}
	if (flags & W_IOAS2) {
		ASSERT_EQ(0, ioas_alloc(w->ctx, &w->ioas2));
		/* Inside the mock aperture, so a domain can come later. */
		ASSERT_EQ(0, ioas_allow_iovas(w->ctx, w->ioas2, allowed, 1));
		iova = IOVA2;
		ASSERT_EQ(0, ioas_copy(w->ctx, w->ioas2, w->ioas1, IOVA1, P(24),
				       &iova, MAP_FIXED_RW));
		ASSERT_EQ(0, ioas_map(w->ctx, w->ioas2, buf_b + P(8), P(16),
				      &w->iova2_b, MAP_RW));
		map_fixed(w, w->ioas2, buf_a + P(48), 8, IOVA2 + 0x100000,
			  MAP_RW);
	}
	if ((flags & W_IOAS2_DOM) && w->v6_2)
		ASSERT_EQ(0, test_mock_domain_v6_2(w->ctx, w->ioas2, &w->stdev3,
						   &w->hwpt3));
	else if (flags & W_IOAS2_DOM)
		ASSERT_EQ(0, test_mock_domain(w->ctx, w->ioas2, &w->stdev3,
					      &w->hwpt3, NULL));
	if (flags & (W_HWPT | W_FLAGS_DEV)) {
		ASSERT_FALSE(w->v6_2);
		ASSERT_TRUE(flags & W_DOM1);
	}
	/* Made last: the parent is filled with every area of ioas1. */
	if (flags & W_HWPT) {
		ASSERT_EQ(0, hwpt_alloc(w->ctx, w->idev1, w->ioas1,
					IOMMU_HWPT_ALLOC_NEST_PARENT, NULL, 0,
					&w->hwpt_p));
		ASSERT_EQ(0, hwpt_alloc_nested(w->ctx, w->idev1, w->hwpt_p,
					       IOMMU_TEST_IOTLB_DEFAULT,
					       &w->hwpt_n));
	}
	if (flags & W_FLAGS_DEV)
		ASSERT_EQ(0, test_mock_domain_flags(
				     w->ctx, w->ioas1,
				     MOCK_FLAGS_DEVICE_NO_DIRTY |
					     MOCK_FLAGS_DEVICE_PASID,
				     &w->stdev4, NULL, &w->idev4));
	/*
	 * PASID HW pagetables, two paging on ioas1 and a nested one on the
	 * parent; the PASID device's RID moves to the first (hwpt1 stays
	 * with the other devices), and PASID 7 joins it.
	 */
	if (flags & W_PASID) {
		struct iommu_hwpt_selftest data = {
			.iotlb = IOMMU_TEST_IOTLB_DEFAULT,
		};
		u32 pt;

		ASSERT_TRUE((flags & W_HWPT) && (flags & W_FLAGS_DEV));
		ASSERT_EQ(0, hwpt_alloc(w->ctx, w->idev4, w->ioas1,
					IOMMU_HWPT_ALLOC_PASID, NULL, 0,
					&w->hwpt_pp1));
		ASSERT_EQ(0, hwpt_alloc(w->ctx, w->idev4, w->ioas1,
					IOMMU_HWPT_ALLOC_PASID, NULL, 0,
					&w->hwpt_pp2));
		ASSERT_EQ(0, hwpt_alloc(w->ctx, w->idev4, w->hwpt_p,
					IOMMU_HWPT_ALLOC_PASID, &data,
					sizeof(data), &w->hwpt_pn));
		pt = w->hwpt_pp1;
		ASSERT_EQ(0, test_mock_domain_replace(w->ctx, w->stdev4, &pt));
		pt = w->hwpt_pp1;
		ASSERT_EQ(0, test_pasid_attach(w->ctx, w->stdev4, W_PASID_ID,
					       &pt));
	}
}

static void pin_counts(u8 *buf, u64 npages, u64 *counts)
{
	ASSERT_EQ(0, iopt_pin_counts_user((uintptr_t)buf, P(npages), counts));
}

static void count_pages(struct iopt_pages *pages, void *arg)
{
	(*(u64 *)arg)++;
}

static u64 live_pages(void)
{
	u64 n = 0;

	iopt_pages_for_each_live(count_pages, &n);
	return n;
}

/* Nothing of any context is left: no pin, charge, pages, fd, allocation. */
static void expect_all_released(long live_base)
{
	u64 counts[A_PAGES];

	pin_counts(buf_a, A_PAGES, counts);
	for (int i = 0; i != A_PAGES; i++)
		ASSERT_EQ(0, counts[i]);
	pin_counts(buf_b, B_PAGES, counts);
	for (int i = 0; i != B_PAGES; i++)
		ASSERT_EQ(0, counts[i]);
	ASSERT_EQ(0, iopt_account_pinned());
	ASSERT_EQ(0, iopt_account_user_locked(getuid()));
	ASSERT_EQ(0, iopt_account_process_locked());
	ASSERT_EQ(0, live_pages());
	for (int fd = 0; fd != NFDS; fd++)
		ASSERT_FALSE(uiommufd_fd_owned(fd));
	ASSERT_EQ(live_base, mem_live_count());
}

/* Close everything; nothing here may fail, whatever fault is armed. */
static void world_release(struct world *w)
{
	if (w->new_fd >= 0)
		ASSERT_EQ(0, uiommufd_fd_close(w->new_fd));
	uiommufd_access_destroy(w->pa2.access);
	if (w->afd >= 0)
		ASSERT_EQ(0, uiommufd_fd_close(w->afd));
	uiommufd_access_destroy(w->pa.access);
	ASSERT_EQ(0, w->pa.unpin_errors);
	ASSERT_EQ(0, w->pa2.unpin_errors);
	uiommufd_ctx_close(w->ctx2);
	uiommufd_ctx_close(w->ctx);
	w->ctx2 = NULL;
	w->ctx = NULL;
}

static void world_teardown(struct world *w)
{
	world_release(w);
	expect_all_released(w->live_base);
}

/* ---- snapshots ---- */

struct snap_ent {
	char tag[56];
	u64 val;
};

struct snap {
	struct snap_ent *ent;
	size_t n, cap;
	/* pages objects by first sight, so IDs do not depend on addresses */
	struct iopt_pages *pages[64];
	unsigned int npages;
	struct uiommufd_ctx *ctx;
	struct world *w;
	u64 cur_id;
	const char *cur_what;
};

static void __attribute__((format(printf, 3, 4)))
snap_add(struct snap *s, u64 val, const char *fmt, ...)
{
	va_list ap;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 512;
		s->ent = realloc(s->ent, s->cap * sizeof(*s->ent));
		ASSERT_NONNULL(s->ent);
	}
	va_start(ap, fmt);
	vsnprintf(s->ent[s->n].tag, sizeof(s->ent[s->n].tag), fmt, ap);
	va_end(ap);
	s->ent[s->n++].val = val;
}

static void snap_free(struct snap *s)
{
	free(s->ent);
	memset(s, 0, sizeof(*s));
}

/* Runs of equal values in @v[0, n): "@what @start+@len" = value. */
static void snap_runs(struct snap *s, const char *what, const u64 *v, u64 n)
{
	for (u64 i = 0, start = 0; i != n; i++)
		if (i + 1 == n || v[i + 1] != v[i]) {
			snap_add(s, v[i], "%s %llu+%llu", what,
				 (unsigned long long)start,
				 (unsigned long long)(i - start + 1));
			start = i + 1;
		}
}

static u64 hash_bytes(const u8 *p, u64 len)
{
	u64 h = 1469598103934665603ULL;

	for (u64 i = 0; i != len; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

struct obj_walk {
	struct snap *s;
	void (*fn)(struct snap *s, u64 id, void *entry);
};

static int obj_walk_chunk(void *arg, u64 index, void *const *slots,
			  unsigned int n)
{
	struct obj_walk *ow = arg;

	for (unsigned int i = 0; i != n; i++)
		if (slots[i])
			ow->fn(ow->s, index + i, slots[i]);
	return 0;
}

/* Every slot of @store, reserved ones (INDEX_STORE_RESERVED) included. */
static void walk_slots(struct snap *s, const struct index_store *store,
		       void (*fn)(struct snap *s, u64 id, void *entry))
{
	struct obj_walk ow = { .s = s, .fn = fn };

	index_store_walk_chunks(store, 0, U64_MAX, obj_walk_chunk, &ow);
}

/* The ID of the HW pagetable owning @domain: 0 for NULL, ~0 if none. */
static u64 domain_id(struct snap *s, struct iommu_domain *domain)
{
	struct iommufd_object *obj;
	u64 id;

	if (!domain)
		return 0;
	index_store_for_each(&s->ctx->objects, id, obj) {
		if (obj->type == IOMMUFD_OBJ_HWPT_PAGING &&
		    container_of(obj, struct iommufd_hwpt_paging, common.obj)->domain ==
			    domain)
			return id;
	}
	return U64_MAX;
}

static u64 access_id(struct snap *s, struct iopt_access *iopt_access)
{
	struct iommufd_object *obj;
	u64 id;

	index_store_for_each(&s->ctx->objects, id, obj) {
		if (obj->type == IOMMUFD_OBJ_ACCESS &&
		    container_of(obj, struct uiommufd_access, obj)
				    ->iopt_access == iopt_access)
			return id;
	}
	return U64_MAX;
}

static int count_entry(void *arg, u64 index, void *const *slots,
		       unsigned int n)
{
	u64 *h = arg;

	for (unsigned int i = 0; i != n; i++) {
		if (!slots[i])
			continue;
		h[0]++;
		h[1] = h[1] * 31 + (index + i) * 7 + (uintptr_t)slots[i];
	}
	return 0;
}

static void snap_pages(struct snap *s, struct iopt_pages *pages,
		       unsigned int n)
{
	struct interval_tree_node *node;
	u64 h[2] = { 0, 0 };

	snap_add(s, pages->refcount, "pages %u refcount", n);
	snap_add(s, pages->npages, "pages %u npages", n);
	snap_add(s, pages->source_addr, "pages %u source_addr", n);
	snap_add(s, pages->npinned, "pages %u npinned", n);
	snap_add(s, pages->last_npinned, "pages %u last_npinned", n);
	snap_add(s, pages->writable, "pages %u writable", n);
	snap_add(s, pages->account_mode, "pages %u account_mode", n);
	snap_add(s, pages->memlock_limit, "pages %u memlock_limit", n);
	index_store_walk_chunks(&pages->pinned_pfns, 0, U64_MAX, count_entry,
				h);
	snap_add(s, h[0], "pages %u pinned_pfns", n);
	snap_add(s, h[1], "pages %u pinned_pfns hash", n);
	interval_tree_for_each(node, &pages->access_itree, 0, U64_MAX) {
		snap_add(s, node->last, "pages %u access %llu last", n,
			 (unsigned long long)node->start);
		snap_add(s, container_of(node, struct iopt_pages_access, node)
				    ->users,
			 "pages %u access %llu users", n,
			 (unsigned long long)node->start);
	}
	interval_tree_for_each(node, &pages->domains_itree, 0, U64_MAX)
		snap_add(s,
			 iopt_area_iova(container_of(node, struct iopt_area,
						     pages_node)),
			 "pages %u filled %llu-%llu iova", n,
			 (unsigned long long)node->start,
			 (unsigned long long)node->last);
}

static unsigned int pages_num(struct snap *s, struct iopt_pages *pages)
{
	unsigned int i;

	for (i = 0; i != s->npages; i++)
		if (s->pages[i] == pages)
			return i + 1;
	ASSERT_LT(s->npages, ARRAY_SIZE(s->pages));
	s->pages[s->npages++] = pages;
	snap_pages(s, pages, i + 1);
	return i + 1;
}

struct range_ent {
	u64 start, last, owner;
};

static int cmp_range(const void *a, const void *b)
{
	const struct range_ent *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->last != y->last)
		return x->last < y->last ? -1 : 1;
	return x->owner < y->owner ? -1 : x->owner > y->owner;
}

/* A slot of an IOAS's access list; a reserved one was never published. */
static void snap_access_slot(struct snap *s, u64 index, void *entry)
{
	struct iopt_access *access = entry;

	if (entry == INDEX_STORE_RESERVED) {
		snap_add(s, 1, "ioas %llu access slot %llu reserved",
			 (unsigned long long)s->cur_id,
			 (unsigned long long)index);
		return;
	}
	snap_add(s, access_id(s, access), "ioas %llu access slot %llu",
		 (unsigned long long)s->cur_id, (unsigned long long)index);
	ASSERT_EQ(index, access->list_id);
}

static void snap_iopt(struct snap *s, struct io_pagetable *iopt, u64 id)
{
	struct range_ent ranges[32];
	struct interval_tree_node *node;
	struct iopt_area *area;
	unsigned int n = 0;
	void *entry;
	u64 index;

	for (area = iopt_area_iter_first(iopt, 0, U64_MAX); area;
	     area = iopt_area_iter_next(area, 0, U64_MAX)) {
		unsigned long long iova = iopt_area_iova(area);

		ASSERT_EQ(iopt, area->iopt);
		snap_add(s, iopt_area_last_iova(area), "ioas %llu area %#llx last",
			 (unsigned long long)id, iova);
		snap_add(s, area->iommu_prot, "ioas %llu area %#llx prot",
			 (unsigned long long)id, iova);
		snap_add(s, area->page_offset, "ioas %llu area %#llx offset",
			 (unsigned long long)id, iova);
		snap_add(s, iopt_area_index(area), "ioas %llu area %#llx index",
			 (unsigned long long)id, iova);
		snap_add(s, iopt_area_last_index(area),
			 "ioas %llu area %#llx last_index",
			 (unsigned long long)id, iova);
		snap_add(s, area->pages ? pages_num(s, area->pages) : 0,
			 "ioas %llu area %#llx pages", (unsigned long long)id,
			 iova);
		snap_add(s, domain_id(s, area->storage_domain),
			 "ioas %llu area %#llx storage", (unsigned long long)id,
			 iova);
		snap_add(s, area->prevent_access,
			 "ioas %llu area %#llx prevent_access",
			 (unsigned long long)id, iova);
		snap_add(s, area->num_accesses,
			 "ioas %llu area %#llx num_accesses",
			 (unsigned long long)id, iova);
	}
	interval_tree_for_each(node, &iopt->reserved_itree, 0, U64_MAX) {
		struct iopt_reserved *resv =
			container_of(node, struct iopt_reserved, node);

		ASSERT_LT(n, ARRAY_SIZE(ranges));
		ranges[n].start = node->start;
		ranges[n].last = node->last;
		ranges[n].owner = resv->owner ? domain_id(s, resv->owner) : 0;
		n++;
	}
	qsort(ranges, n, sizeof(ranges[0]), cmp_range);
	for (unsigned int i = 0; i != n; i++) {
		snap_add(s, ranges[i].last, "ioas %llu reserved %#llx last",
			 (unsigned long long)id,
			 (unsigned long long)ranges[i].start);
		snap_add(s, ranges[i].owner, "ioas %llu reserved %#llx owner",
			 (unsigned long long)id,
			 (unsigned long long)ranges[i].start);
	}
	interval_tree_for_each(node, &iopt->allowed_itree, 0, U64_MAX)
		snap_add(s, node->last, "ioas %llu allowed %#llx last",
			 (unsigned long long)id,
			 (unsigned long long)node->start);
	snap_add(s, iopt->iova_alignment, "ioas %llu iova_alignment",
		 (unsigned long long)id);
	snap_add(s, iopt->memlock_limit, "ioas %llu memlock_limit",
		 (unsigned long long)id);
	snap_add(s, iopt->disable_large_pages, "ioas %llu disable_large_pages",
		 (unsigned long long)id);
	snap_add(s, iopt->next_domain_id, "ioas %llu domains",
		 (unsigned long long)id);
	n = 0;
	index_store_for_each(&iopt->domains, index, entry) {
		snap_add(s, domain_id(s, entry), "ioas %llu domain %llu",
			 (unsigned long long)id, (unsigned long long)index);
		n++;
	}
	ASSERT_EQ(iopt->next_domain_id, n);
	s->cur_id = id;
	walk_slots(s, &iopt->access_list, snap_access_slot);
}

/*
 * Mirrors of private structs (selftest.c's selftest device and access,
 * access.c's pin), each checked against what it must point at before its
 * contents are trusted.
 */
struct mirror_stdev {
	struct iommufd_object obj;
	struct iommufd_device *idev;
};

struct mirror_item {
	struct mirror_item *next;
	u64 iova;
	u64 length;
	u32 id;
};

struct mirror_staccess {
	struct iommufd_file file;
	struct uiommufd_access *access;
	bool needs_pin;
	pthread_mutex_t lock;
	struct mirror_item *items;
	u32 next_id;
};

struct mirror_pin {
	struct interval_tree_node node;
	u64 count;
};

struct map_run {
	struct snap *s;
	u64 id, iova, paddr, len;
	int prot;
};

static void map_run_flush(struct map_run *r)
{
	if (!r->len)
		return;
	snap_add(r->s, r->paddr, "hwpt %llu map %#llx paddr",
		 (unsigned long long)r->id, (unsigned long long)r->iova);
	snap_add(r->s, r->len, "hwpt %llu map %#llx len",
		 (unsigned long long)r->id, (unsigned long long)r->iova);
	snap_add(r->s, r->prot, "hwpt %llu map %#llx prot",
		 (unsigned long long)r->id, (unsigned long long)r->iova);
	r->len = 0;
}

static int map_run_cb(void *arg, u64 iova, u64 paddr, int prot)
{
	struct map_run *r = arg;

	if (r->len && iova == r->iova + r->len &&
	    paddr == r->paddr + r->len && prot == r->prot) {
		r->len += MOCK_PAGE_SIZE;
		return 0;
	}
	map_run_flush(r);
	r->iova = iova;
	r->paddr = paddr;
	r->prot = prot;
	r->len = MOCK_PAGE_SIZE;
	return 0;
}

static void snap_hwpt(struct snap *s, struct iommufd_hwpt_paging *hwpt,
		      u64 id)
{
	struct map_run run = { .s = s, .id = id };
	struct mock_domain_stats st;

	snap_add(s, hwpt->ioas->obj.id, "hwpt %llu ioas",
		 (unsigned long long)id);
	snap_add(s, hwpt->auto_domain, "hwpt %llu auto", (unsigned long long)id);
	snap_add(s, hwpt->nest_parent, "hwpt %llu nest_parent",
		 (unsigned long long)id);
	snap_add(s, hwpt->dirty_tracking, "hwpt %llu dirty_tracking",
		 (unsigned long long)id);
	snap_add(s, hwpt->common.pasid_compat, "hwpt %llu pasid_compat",
		 (unsigned long long)id);
	snap_add(s, hwpt->linked, "hwpt %llu linked", (unsigned long long)id);
	snap_add(s, atomic_load(&hwpt->common.num_devices), "hwpt %llu devices",
		 (unsigned long long)id);
	ASSERT_TRUE(is_mock_domain(hwpt->domain));
	mock_domain_get_stats(hwpt->domain, &st);
	/* The engine's contract with the domain, after every command. */
	ASSERT_EQ(0, st.unmap_splits_map);
	ASSERT_EQ(0, st.unmap_not_mapped);
	ASSERT_EQ(0, st.map_over_mapped);
	snap_add(s, st.io_pages, "hwpt %llu io_pages", (unsigned long long)id);
	mock_domain_for_each(hwpt->domain, 0, U64_MAX, map_run_cb, &run);
	map_run_flush(&run);
}

static void snap_staccess(struct snap *s, struct uiommufd_access *access,
			  u64 id)
{
	struct mirror_staccess *st = access->data;
	struct mirror_item *item;

	ASSERT_EQ(access, st->access);
	ASSERT_STREQ("iommufd-selftest-access", st->file.ops->name);
	snap_add(s, st->file.fd, "access %llu fd", (unsigned long long)id);
	snap_add(s, uiommufd_fd_owned(st->file.fd), "access %llu fd owned",
		 (unsigned long long)id);
	snap_add(s, atomic_load(&st->file.refs), "access %llu fd refs",
		 (unsigned long long)id);
	snap_add(s, st->needs_pin, "access %llu needs_pin",
		 (unsigned long long)id);
	snap_add(s, st->next_id, "access %llu next item",
		 (unsigned long long)id);
	for (item = st->items; item; item = item->next) {
		snap_add(s, item->iova, "access %llu item %u iova",
			 (unsigned long long)id, item->id);
		snap_add(s, item->length, "access %llu item %u length",
			 (unsigned long long)id, item->id);
	}
}

static void snap_access(struct snap *s, struct uiommufd_access *access,
			u64 id)
{
	struct iopt_access *ia = access->iopt_access;
	struct interval_tree_node *node;

	ASSERT_EQ(s->ctx, access->ctx);
	snap_add(s, access->ioas->obj.id, "access %llu ioas",
		 (unsigned long long)id);
	snap_add(s, access->ops.flags, "access %llu flags",
		 (unsigned long long)id);
	ASSERT_EQ(&access->ioas->iopt, ia->iopt);
	snap_add(s, ia->iova_alignment, "access %llu iova_alignment",
		 (unsigned long long)id);
	snap_add(s, ia->list_id, "access %llu list_id",
		 (unsigned long long)id);
	snap_add(s, ia->notifying, "access %llu notifying",
		 (unsigned long long)id);
	snap_add(s, ia->dying, "access %llu dying", (unsigned long long)id);
	interval_tree_for_each(node, &ia->pins, 0, U64_MAX) {
		snap_add(s, node->last, "access %llu pin %#llx last",
			 (unsigned long long)id,
			 (unsigned long long)node->start);
		snap_add(s, container_of(node, struct mirror_pin, node)->count,
			 "access %llu pin %#llx count", (unsigned long long)id,
			 (unsigned long long)node->start);
	}
	if (access->data == &s->w->pa)
		snap_add(s, 1, "access %llu is the API user",
			 (unsigned long long)id);
	else if (access->data == &s->w->pa2)
		snap_add(s, 2, "access %llu is the API user",
			 (unsigned long long)id);
	else
		snap_staccess(s, access, id);
}

/* A nested HW pagetable: its parent and its mock IOTLB. */
static void snap_nested(struct snap *s, struct iommufd_hwpt_nested *hwpt,
			u64 id)
{
	struct iommufd_hwpt_paging *parent = hwpt->parent;

	ASSERT_EQ(IOMMUFD_OBJ_HWPT_PAGING, parent->common.obj.type);
	ASSERT_EQ(parent->domain, mock_nested_parent(hwpt->domain));
	snap_add(s, parent->common.obj.id, "nested %llu parent",
		 (unsigned long long)id);
	snap_add(s, atomic_load(&hwpt->common.num_devices),
		 "nested %llu devices", (unsigned long long)id);
	snap_add(s, hwpt->common.pasid_compat, "nested %llu pasid_compat",
		 (unsigned long long)id);
	for (unsigned int i = 0; i != MOCK_NESTED_DOMAIN_IOTLB_NUM; i++)
		snap_add(s, mock_nested_iotlb(hwpt->domain, i),
			 "nested %llu iotlb %u", (unsigned long long)id, i);
}

/* An entry of a device's PASID table: the HW pagetable it is on. */
static void snap_pasid_slot(struct snap *s, u64 pasid, void *entry)
{
	struct iommufd_hw_pagetable *hwpt = entry;

	/* Nothing reserves a slot there: a PASID is attached or absent. */
	ASSERT_NE(INDEX_STORE_RESERVED, entry);
	ASSERT_NE(0, pasid);
	snap_add(s, hwpt->obj.id, "%s %llu pasid %llu", s->cur_what,
		 (unsigned long long)s->cur_id, (unsigned long long)pasid);
}

/*
 * A device: what its RID and its PASIDs are attached to and its mock
 * state (flags, cache, the reserved PASID's next attach failing), as
 * @what @id (a device in the table, or under 6.2 the selftest object of
 * a device with no ID of its own).
 */
static void snap_device(struct snap *s, struct iommufd_device *idev,
			const char *what, u64 id)
{
	ASSERT_EQ(s->ctx, idev->ctx);
	snap_add(s, idev->hwpt ? idev->hwpt->obj.id : 0, "%s %llu hwpt", what,
		 (unsigned long long)id);
	snap_add(s, idev->hwpt ? idev->hwpt->obj.type : 0,
		 "%s %llu hwpt type", what, (unsigned long long)id);
	snap_add(s, idev->mock.flags, "%s %llu mock flags", what,
		 (unsigned long long)id);
	for (unsigned int i = 0; i != MOCK_DEV_CACHE_NUM; i++)
		snap_add(s, atomic_load(&idev->mock.cache[i]),
			 "%s %llu mock cache %u", what,
			 (unsigned long long)id, i);
	snap_add(s, idev->mock.reserved_armed, "%s %llu mock reserved_armed",
		 what, (unsigned long long)id);
	snap_add(s, idev->vdev ? idev->vdev->obj.id : 0, "%s %llu vdev", what,
		 (unsigned long long)id);
	snap_add(s, idev->destroying, "%s %llu destroying", what,
		 (unsigned long long)id);
	s->cur_id = id;
	s->cur_what = what;
	walk_slots(s, &idev->pasids, snap_pasid_slot);
}

static void snap_viommu(struct snap *s, struct iommufd_viommu *v, u64 id)
{
	struct iommufd_vdevice *vdev;
	u64 virt_id = 0;

	snap_add(s, v->hwpt->common.obj.id, "viommu %llu hwpt",
		 (unsigned long long)id);
	snap_add(s, v->has_mmap, "viommu %llu has_mmap",
		 (unsigned long long)id);
	snap_add(s, v->has_mmap ? v->mmap_offset : 0, "viommu %llu offset",
		 (unsigned long long)id);
	for (int i = 0; i != IOMMU_TEST_HW_QUEUE_MAX; i++)
		snap_add(s, v->hw_queue[i] ? v->hw_queue[i]->obj.id : 0,
			 "viommu %llu queue %d", (unsigned long long)id, i);
	index_store_for_each(&v->vdevs, virt_id, vdev)
		snap_add(s, vdev->obj.id, "viommu %llu vdev %#llx",
			 (unsigned long long)id, (unsigned long long)virt_id);
}

static void snap_obj(struct snap *s, u64 id, void *entry)
{
	struct iommufd_object *obj = entry;
	struct iommufd_hwpt_paging *hwpt;
	struct iommufd_device *idev;
	struct mirror_stdev *stdev;
	struct iommufd_ioas *ioas;
	unsigned int i = 0;

	if (entry == INDEX_STORE_RESERVED) {
		snap_add(s, 1, "obj %llu reserved", (unsigned long long)id);
		return;
	}
	ASSERT_EQ(id, obj->id);
	snap_add(s, obj->type, "obj %llu type", (unsigned long long)id);
	snap_add(s, atomic_load(&obj->users), "obj %llu users",
		 (unsigned long long)id);
	snap_add(s, atomic_load(&obj->shortterm), "obj %llu shortterm",
		 (unsigned long long)id);
	switch (obj->type) {
	case IOMMUFD_OBJ_IOAS:
		ioas = container_of(obj, struct iommufd_ioas, obj);
		snap_iopt(s, &ioas->iopt, id);
		for (hwpt = ioas->hwpt_list; hwpt; hwpt = hwpt->next)
			snap_add(s, hwpt->common.obj.id, "ioas %llu hwpt_list %u",
				 (unsigned long long)id, i++);
		break;
	case IOMMUFD_OBJ_HWPT_PAGING:
		snap_hwpt(s,
			  container_of(obj, struct iommufd_hwpt_paging, common.obj),
			  id);
		break;
	case IOMMUFD_OBJ_HWPT_NESTED:
		snap_nested(s,
			    container_of(obj, struct iommufd_hwpt_nested,
					 common.obj),
			    id);
		break;
	case IOMMUFD_OBJ_DEVICE:
		idev = container_of(obj, struct iommufd_device, obj);
		ASSERT_FALSE(idev->no_id);
		snap_device(s, idev, "device", id);
		break;
	case IOMMUFD_OBJ_ACCESS:
		snap_access(s, container_of(obj, struct uiommufd_access, obj),
			    id);
		break;
	case IOMMUFD_OBJ_SELFTEST:
		stdev = container_of(obj, struct mirror_stdev, obj);
		ASSERT_EQ(IOMMUFD_OBJ_DEVICE, stdev->idev->obj.type);
		snap_add(s, stdev->idev->obj.id, "stdev %llu device",
			 (unsigned long long)id);
		/* 6.2's device is not in the table: seen from here. */
		if (stdev->idev->no_id)
			snap_device(s, stdev->idev, "stdev", id);
		break;
	case IOMMUFD_OBJ_VIOMMU:
		snap_viommu(s, container_of(obj, struct iommufd_viommu, obj),
			    id);
		break;
	case IOMMUFD_OBJ_VDEVICE: {
		struct iommufd_vdevice *vdev =
			container_of(obj, struct iommufd_vdevice, obj);

		snap_add(s, vdev->viommu->obj.id, "vdev %llu viommu",
			 (unsigned long long)id);
		snap_add(s, vdev->idev->obj.id, "vdev %llu idev",
			 (unsigned long long)id);
		snap_add(s, vdev->virt_id, "vdev %llu virt_id",
			 (unsigned long long)id);
		break;
	}
	case IOMMUFD_OBJ_HW_QUEUE: {
		struct iommufd_hw_queue *q =
			container_of(obj, struct iommufd_hw_queue, obj);

		snap_add(s, q->viommu->obj.id, "queue %llu viommu",
			 (unsigned long long)id);
		snap_add(s, q->index, "queue %llu index",
			 (unsigned long long)id);
		snap_add(s, q->prev ? q->prev->obj.id : 0, "queue %llu prev",
			 (unsigned long long)id);
		snap_add(s, q->base_addr, "queue %llu base",
			 (unsigned long long)id);
		snap_add(s, q->length, "queue %llu length",
			 (unsigned long long)id);
		break;
	}
	default:
		ASSERT_EQ(0, obj->type);
	}
}

static void snap_ctx(struct snap *s, struct uiommufd_ctx *ctx)
{
	s->ctx = ctx;
	snap_add(s, atomic_load(&ctx->refs), "ctx refs");
	snap_add(s, ctx->vfio_compat, "ctx vfio_compat");
	/* What it answers as: fixed at open, no command changes it. */
	snap_add(s, ctx->host.release->version, "ctx host release");
	snap_add(s, ctx->host.caps_given, "ctx host caps_given");
	snap_add(s, ctx->host.caps, "ctx host caps");
	snap_add(s, ctx->host.memlock_given, "ctx host memlock_given");
	snap_add(s, ctx->host.memlock, "ctx host memlock");
	snap_add(s, atomic_load(&ctx->destroy_waiters), "ctx destroy_waiters");
	snap_add(s, ctx->vfio_ioas ? ctx->vfio_ioas->obj.id : 0,
		 "ctx vfio_ioas");
	snap_add(s, ctx->account_mode, "ctx account_mode");
	walk_slots(s, &ctx->objects, snap_obj);
	{
		void *region;
		u64 pgoff = 0;

		index_store_for_each(&ctx->mmaps, pgoff, region)
			snap_add(s, 1, "ctx mmap region at page %llu",
				 (unsigned long long)pgoff);
	}
}

static void snap_pubacc(struct snap *s, const struct pubacc *pa,
			const char *name)
{
	snap_add(s, pa->access != NULL, "%s exists", name);
	snap_add(s, pa->unmap_calls, "%s unmap calls", name);
	snap_add(s, pa->unpin_errors, "%s unpin errors", name);
	snap_add(s, pa->npins, "%s pins", name);
	for (unsigned int i = 0; i != pa->npins; i++)
		snap_add(s, pa->pins[i].length, "%s pin %#llx", name,
			 (unsigned long long)pa->pins[i].iova);
}

static void snap_take(struct world *w, struct snap *s)
{
	u64 counts[A_PAGES], open_fds[NFDS / 64] = {}, owned[NFDS / 64] = {};

	s->n = 0;
	s->npages = 0;
	s->w = w;
	if (w->ctx)
		snap_ctx(s, w->ctx);
	if (w->ctx2) {
		snap_add(s, atomic_load(&w->ctx2->refs), "ctx2 refs");
		snap_add(s, index_store_empty(&w->ctx2->objects),
			 "ctx2 empty");
	}
	snap_pubacc(s, &w->pa, "API user");
	snap_pubacc(s, &w->pa2, "new API user");
	snap_add(s, w->afd, "access fd");
	snap_add(s, w->new_fd, "new fd");
	pin_counts(buf_a, A_PAGES, counts);
	snap_runs(s, "buf_a pins", counts, A_PAGES);
	pin_counts(buf_b, B_PAGES, counts);
	snap_runs(s, "buf_b pins", counts, B_PAGES);
	snap_add(s, hash_bytes(buf_a, P(A_PAGES)), "buf_a data");
	snap_add(s, hash_bytes(buf_b, P(B_PAGES)), "buf_b data");
	snap_add(s, iopt_account_pinned(), "pinned_vm");
	snap_add(s, iopt_account_user_locked(getuid()), "user locked_vm");
	snap_add(s, iopt_account_process_locked(), "process locked_vm");
	snap_add(s, live_pages(), "live pages objects");
	snap_add(s, iopt_temp_memory_limit(), "temp memory limit");
	for (int fd = 0; fd != NFDS; fd++) {
		if (fcntl(fd, F_GETFD) != -1)
			open_fds[fd / 64] |= 1ULL << (fd % 64);
		if (uiommufd_fd_owned(fd))
			owned[fd / 64] |= 1ULL << (fd % 64);
	}
	for (int i = 0; i != NFDS / 64; i++) {
		snap_add(s, open_fds[i], "open fds %d+", i * 64);
		snap_add(s, owned[i], "owned fds %d+", i * 64);
	}
	snap_add(s, mem_live_count(), "live allocations");
}

static void log_ent(const char *what, unsigned int nth, const char *how,
		    const struct snap_ent *e, bool quiet)
{
	if (!quiet)
		TH_LOG("%s, nth %u: %s %s = %#llx", what, nth, how, e->tag,
	       (unsigned long long)e->val);
}

/* Where @tag comes next in @s from @from on (a short look ahead), or -1. */
static long snap_find(const struct snap *s, size_t from, const char *tag)
{
	for (size_t k = from; k < s->n && k < from + 256; k++)
		if (!strcmp(s->ent[k].tag, tag))
			return k;
	return -1;
}

/* The number of entries that differ, logged unless @quiet (to a point). */
static unsigned int snap_cmp(const struct snap *want, const struct snap *seen,
			     const char *what, unsigned int nth, bool quiet)
{
	unsigned int diffs = 0;
	size_t i = 0, j = 0;

	while ((i < want->n || j < seen->n) && diffs < 16) {
		const struct snap_ent *a = i < want->n ? &want->ent[i] : NULL;
		const struct snap_ent *b = j < seen->n ? &seen->ent[j] : NULL;
		long k;

		if (a && b && !strcmp(a->tag, b->tag)) {
			if (a->val != b->val) {
				if (!quiet)
					TH_LOG("%s, nth %u: %s = %#llx, now %#llx",
					       what, nth, a->tag,
					       (unsigned long long)a->val,
					       (unsigned long long)b->val);
				diffs++;
			}
			i++;
			j++;
			continue;
		}
		diffs++;
		if (a && (k = snap_find(seen, j, a->tag)) >= 0) {
			while (j < (size_t)k && diffs < 16) {
				log_ent(what, nth, "new:", &seen->ent[j++],
					quiet);
				diffs++;
			}
			j = k;
		} else if (a) {
			log_ent(what, nth, "gone:", a, quiet);
			i++;
		} else {
			log_ent(what, nth, "new:", b, quiet);
			j++;
		}
	}
	return diffs;
}

static unsigned int snap_diff(const struct snap *want, const struct snap *seen,
			      const char *what, unsigned int nth)
{
	return snap_cmp(want, seen, what, nth, false);
}

/* ---- the sweep ---- */

enum op_kind {
	MAY_FAIL,	/* fails changing nothing, or succeeds */
	NEVER_FAILS,	/* destroy, detach, unmap, unpin, close */
};

struct op {
	const char *name;
	uint32_t kernel;	/* the release the world's context answers as */
	unsigned int world;
	enum op_kind kind;
	/* It allocates: some N must fail it. */
	bool allocates;
	/* It changes nothing; any other command changes the snapshot. */
	bool read_only;
	void (*prepare)(struct world *w);
	int (*run)(struct world *w);
	/* After each success: the results are right. */
	void (*check)(struct world *w);
	void (*cleanup)(struct world *w);
};

/* Static, so a failed assertion leaves nothing for a leak checker. */
static struct world sweep_worlds[2];
static struct snap before, after, ref_after;

static void sweep(const struct op *op)
{
	struct world *ref = &sweep_worlds[0], *w = &sweep_worlds[1];
	unsigned int nth, diffs, failed = 0, absorbed = 0, close_fired = 0;
	bool fired = true;
	char reason[200];
	int rc;

	bufs_init();

	/* The unfaulted result, which every faulted success must equal. */
	world_build(ref, op->world, op->kernel);
	if (op->prepare)
		op->prepare(ref);
	snap_take(ref, &before);
	rc = op->run(ref);
	if (rc)
		TH_LOG("%s without a fault: %d (%s)", op->name, rc,
		       uiommufd_last_reason() ?: "no reason");
	ASSERT_EQ(0, rc);
	if (op->check)
		op->check(ref);
	snap_take(ref, &ref_after);
	/* The snapshot sees what the command does (and that it is all). */
	if (op->read_only)
		ASSERT_EQ(0, snap_diff(&before, &ref_after, op->name, 0));
	else
		ASSERT_NE(0, snap_cmp(&before, &ref_after, op->name, 0, true));
	if (op->cleanup)
		op->cleanup(ref);
	world_teardown(ref);

	for (nth = 1; fired; nth++) {
		world_build(w, op->world, op->kernel);
		if (op->prepare)
			op->prepare(w);
		snap_take(w, &before);

		uiommufd_fail_nth_set(nth);
		rc = op->run(w);
		snprintf(reason, sizeof(reason), "%s",
			 uiommufd_last_reason() ?: "");
		fired = !uiommufd_fail_nth_get();
		ASSERT_EQ(fired, fault_fail_nth_fired());
		uiommufd_fail_nth_set(0);

		snap_take(w, &after);
		if (rc) {
			if (op->kind == NEVER_FAILS || !fired || !reason[0] ||
			    (rc != -ENOMEM && rc != -EFAULT))
				TH_LOG("%s, nth %u: failed with %d (%s), the fault %s",
				       op->name, nth, rc,
				       reason[0] ? reason : "no reason",
				       fired ? "fired" : "did not fire");
			ASSERT_EQ(MAY_FAIL, op->kind);
			ASSERT_TRUE(fired);
			ASSERT_TRUE(reason[0]);
			ASSERT_TRUE(rc == -ENOMEM || rc == -EFAULT);
			/* Everything exactly as before. */
			diffs = snap_diff(&before, &after, op->name, nth);
			if (diffs)
				TH_LOG("%s, nth %u: failed with %d (%s) and changed the state",
				       op->name, nth, rc, reason);
			ASSERT_EQ(0, diffs);
			failed++;
		} else {
			absorbed += fired;
			if (op->check)
				op->check(w);
			/* Exactly what the unfaulted command left. */
			ASSERT_EQ(0, snap_diff(&ref_after, &after, op->name,
					       nth));
			ASSERT_EQ(0, memcmp(ref->out, w->out, sizeof(w->out)));
			ASSERT_EQ(0, memcmp(ref->data, w->data,
					    sizeof(w->data)));
		}
		if (op->cleanup)
			op->cleanup(w);
		/* Closing whatever is left: the fault changes nothing. */
		uiommufd_fail_nth_set(nth);
		world_release(w);
		close_fired += !uiommufd_fail_nth_get();
		uiommufd_fail_nth_set(0);
		expect_all_released(w->live_base);
		ASSERT_LT(nth, MAX_NTH);
	}
	TH_LOG("%s: %u fault points, %u failed it, %u absorbed, %u in closes",
	       op->name, nth - 2, failed, absorbed, close_fired);
	if (op->allocates)
		ASSERT_GT(failed, 0);
	snap_free(&before);
	snap_free(&after);
	snap_free(&ref_after);
}

#define SWEEP_AS(tname, _kernel, ...)                                      \
	TEST(fail_nth_##tname)                                              \
	{                                                                   \
		static const struct op op = { .name = #tname,               \
					      .kernel = _kernel,            \
					      __VA_ARGS__ };                \
		sweep(&op);                                                 \
	}

/* fail_nth_NAME under 7.2, fail_nth_NAME_v6_2 under 6.2, or both. */
#define SWEEP(tname, ...) SWEEP_AS(tname, UIOMMUFD_KERNEL_7_2, __VA_ARGS__)
#define SWEEP_V6_2(tname, ...)                                             \
	SWEEP_AS(tname##_v6_2, UIOMMUFD_KERNEL_6_2, __VA_ARGS__)
#define SWEEP_BOTH(tname, ...)                                             \
	SWEEP(tname, __VA_ARGS__)                                           \
	SWEEP_V6_2(tname, __VA_ARGS__)

/* An ioctl helper's -1/errno as 0 or -errno. */
static int rc_of(int rc)
{
	return rc ? -errno : 0;
}

/* The mirrors of private structs read what the library really holds. */
TEST(fail_nth_snapshot_mirrors)
{
	struct world *w = &sweep_worlds[0];
	struct mirror_staccess *st = NULL;
	struct mirror_stdev *stdev;
	struct interval_tree_node *node;
	struct iommufd_object *obj;
	unsigned int npins = 0;
	u64 id;

	bufs_init();
	world_build(w, W_RICH, UIOMMUFD_KERNEL_7_2);
	ASSERT_EQ(UIOMMUFD_KERNEL_7_2, w->ctx->host.release->version);
	ASSERT_FALSE(w->ctx->host.caps_given);
	ASSERT_FALSE(w->ctx->host.memlock_given);
	index_store_for_each(&w->ctx->objects, id, obj) {
		struct uiommufd_access *access =
			container_of(obj, struct uiommufd_access, obj);

		if (obj->type != IOMMUFD_OBJ_ACCESS || access->data == &w->pa)
			continue;
		ASSERT_NULL(st);
		st = access->data;
		ASSERT_EQ(access, st->access);
		interval_tree_for_each(node, &access->iopt_access->pins, 0,
				       U64_MAX) {
			ASSERT_EQ(1, container_of(node, struct mirror_pin, node)
					     ->count);
			npins++;
		}
	}
	ASSERT_NONNULL(st);
	ASSERT_EQ(2, npins);
	ASSERT_EQ(w->afd, st->file.fd);
	ASSERT_TRUE(st->needs_pin);
	ASSERT_EQ(2, st->next_id);
	ASSERT_NONNULL(st->items);
	ASSERT_EQ(w->items[1], st->items->id);
	ASSERT_EQ(IOVA1 + P(16), st->items->iova);
	ASSERT_EQ(P(2), st->items->length);
	ASSERT_NONNULL(st->items->next);
	ASSERT_EQ(w->items[0], st->items->next->id);
	ASSERT_EQ(IOVA1 + P(2), st->items->next->iova);
	ASSERT_EQ(P(4), st->items->next->length);
	ASSERT_NULL(st->items->next->next);

	obj = index_store_load(&w->ctx->objects, w->stdev1);
	ASSERT_NONNULL(obj);
	ASSERT_EQ(IOMMUFD_OBJ_SELFTEST, obj->type);
	stdev = container_of(obj, struct mirror_stdev, obj);
	ASSERT_EQ(w->idev1, stdev->idev->obj.id);
	world_teardown(w);

	/* Under 6.2 the device's idev is not reported: its HW pagetable. */
	world_build(w, W_DOM1 | W_DOM2, UIOMMUFD_KERNEL_6_2);
	ASSERT_EQ(UIOMMUFD_KERNEL_6_2, w->ctx->host.release->version);
	ASSERT_EQ(0, w->idev1);
	obj = index_store_load(&w->ctx->objects, w->stdev1);
	ASSERT_NONNULL(obj);
	ASSERT_EQ(IOMMUFD_OBJ_SELFTEST, obj->type);
	stdev = container_of(obj, struct mirror_stdev, obj);
	ASSERT_EQ(IOMMUFD_OBJ_DEVICE, stdev->idev->obj.type);
	ASSERT_NONNULL(stdev->idev->hwpt);
	ASSERT_EQ(w->hwpt1, stdev->idev->hwpt->obj.id);
	ASSERT_FALSE(to_hwpt_paging(stdev->idev->hwpt)->auto_domain);
	world_teardown(w);
}

/* ---- IOMMU_DESTROY ---- */

static int run_destroy_ioas2(struct world *w)
{
	return rc_of(ioctl_destroy(w->ctx, w->ioas2));
}

static int run_destroy_stdev1(struct world *w)
{
	return rc_of(ioctl_destroy(w->ctx, w->stdev1));
}

/* A v6.2 caller: the device, then the HW pagetable it made. */
static int run_destroy_v6_2(struct world *w)
{
	int rc = rc_of(ioctl_destroy(w->ctx, w->stdev2));

	return rc ? rc : rc_of(ioctl_destroy(w->ctx, w->hwpt2));
}

/* 7.2: the auto HW pagetable went with its last device. */
static void check_hwpt1_gone(struct world *w)
{
	EXPECT_ERRNO(ENOENT, ioctl_destroy(w->ctx, w->hwpt1));
	EXPECT_ERRNO(ENOENT, ioctl_destroy(w->ctx, w->idev1));
}

/* It stays: another device uses it (7.2), or it is the caller's (6.2). */
static void check_hwpt1_stays(struct world *w)
{
	ASSERT_EQ(0, test_check_map(w->ctx, w->hwpt1, IOVA1, P(24), buf_a));
	if (w->idev1)
		EXPECT_ERRNO(ENOENT, ioctl_destroy(w->ctx, w->idev1));
}

SWEEP_BOTH(destroy_ioas_with_areas, .world = W_RICH & ~W_IOAS2_DOM,
	   .kind = NEVER_FAILS, .run = run_destroy_ioas2)
SWEEP(destroy_stdev_auto_hwpt, .world = W_RICH & ~W_DOM2,
      .kind = NEVER_FAILS, .run = run_destroy_stdev1,
      .check = check_hwpt1_gone)
SWEEP(destroy_stdev_shared_hwpt, .world = W_RICH, .kind = NEVER_FAILS,
      .run = run_destroy_stdev1, .check = check_hwpt1_stays)
SWEEP(destroy_stdev_last_domain, .world = W_DOM1 | W_NODOM,
      .kind = NEVER_FAILS, .run = run_destroy_stdev1,
      .check = check_hwpt1_gone)
SWEEP_V6_2(destroy_stdev_hwpt_stays, .world = W_RICH, .kind = NEVER_FAILS,
	   .run = run_destroy_stdev1, .check = check_hwpt1_stays)
SWEEP_V6_2(destroy_hwpt_after_device, .world = W_RICH, .kind = NEVER_FAILS,
	   .run = run_destroy_v6_2)

/* ---- IOAS commands ---- */

static int run_ioas_alloc(struct world *w)
{
	u32 id = 0;
	int rc = rc_of(ioas_alloc(w->ctx, &id));

	w->out[0] = id;
	return rc;
}

SWEEP_BOTH(ioas_alloc, .world = W_RICH, .allocates = true,
	   .run = run_ioas_alloc)

static int run_allow_iovas(struct world *w)
{
	static const struct iommu_iova_range ranges[] = {
		{ .start = 0x1000000, .last = 0x1fffffff },
		{ .start = 0x30000000, .last = 0x3fffffff },
		{ .start = 0x50000000, .last = 0x57ffffff },
	};

	return rc_of(ioas_allow_iovas(w->ctx, w->ioas1, ranges, 3));
}

SWEEP_BOTH(allow_iovas, .world = W_RICH, .allocates = true,
	   .run = run_allow_iovas)

static int run_copy(struct world *w, u32 flags)
{
	u64 iova = IOVA2 + 0x200000;
	int rc = rc_of(ioas_copy(w->ctx, w->ioas2, w->ioas1, IOVA1, P(24),
				 &iova, flags));

	w->out[0] = iova;
	return rc;
}

static int run_copy_fixed(struct world *w)
{
	return run_copy(w, MAP_FIXED_RW);
}

static int run_copy_auto(struct world *w)
{
	return run_copy(w, MAP_RW);
}

static void check_copy(struct world *w)
{
	ASSERT_EQ(0, test_check_map(w->ctx, w->hwpt3, w->out[0], P(24),
				    buf_a));
}

SWEEP_BOTH(copy_fixed_into_domain, .world = W_RICH, .allocates = true,
	   .run = run_copy_fixed, .check = check_copy)
SWEEP_BOTH(copy_auto_into_domain, .world = W_RICH, .allocates = true,
	   .run = run_copy_auto, .check = check_copy)
SWEEP_BOTH(copy_no_domain, .world = W_NODOM, .allocates = true,
	   .run = run_copy_auto)

static int run_iova_ranges(struct world *w)
{
	struct iommu_iova_range ranges[8] = {};
	uint32_t num = 0;
	uint64_t align = 0;
	int rc = rc_of(ioas_iova_ranges(w->ctx, w->ioas1, ranges, 8, &num,
					&align));

	w->out[0] = num;
	w->out[1] = align;
	memcpy(w->data, ranges, sizeof(ranges));
	return rc;
}

static void check_iova_ranges(struct world *w)
{
	/* The allowed ranges less RESV1 (outside them anyway). */
	ASSERT_EQ(2, w->out[0]);
	ASSERT_EQ(PAGE_SIZE, w->out[1]);
}

SWEEP_BOTH(iova_ranges, .world = W_RICH, .allocates = true,
	   .read_only = true, .run = run_iova_ranges,
	   .check = check_iova_ranges)

static int run_map(struct world *w, u32 flags)
{
	u64 iova = IOVA1 + 0x200000;
	int rc = rc_of(ioas_map(w->ctx, w->ioas1, buf_b + P(24), P(8), &iova,
				flags));

	w->out[0] = iova;
	return rc;
}

static int run_map_fixed(struct world *w)
{
	return run_map(w, MAP_FIXED_RW);
}

static int run_map_auto(struct world *w)
{
	return run_map(w, MAP_RW);
}

static void check_map_1(struct world *w)
{
	ASSERT_EQ(0, test_check_map(w->ctx, w->hwpt1, w->out[0], P(8),
				    buf_b + P(24)));
}

/* Both devices' HW pagetables: two domains under 6.2, one under 7.2. */
static void check_map_2(struct world *w)
{
	check_map_1(w);
	ASSERT_EQ(0, test_check_map(w->ctx, w->hwpt2, w->out[0], P(8),
				    buf_b + P(24)));
}

static void set_temp_limit_16(struct world *w)
{
	ASSERT_EQ(0, test_set_temp_memory_limit(w->ctx, 16));
}

static void restore_temp_limit(struct world *w)
{
	ASSERT_EQ(0, test_set_temp_memory_limit(w->ctx, TEMP_LIMIT_DEFAULT));
}

SWEEP_BOTH(map_fixed_no_domain, .world = W_NODOM, .allocates = true,
	   .run = run_map_fixed)
SWEEP_BOTH(map_auto_no_domain, .world = W_NODOM, .allocates = true,
	   .run = run_map_auto)
SWEEP_BOTH(map_fixed_one_domain, .world = W_DOM1 | W_NODOM,
	   .allocates = true, .run = run_map_fixed, .check = check_map_1)
SWEEP_BOTH(map_auto_one_domain, .world = W_DOM1 | W_NODOM,
	   .allocates = true, .run = run_map_auto, .check = check_map_1)
/* 7.2: two devices on one domain; 6.2: two domains. */
SWEEP(map_fixed_two_devices, .world = W_RICH, .allocates = true,
      .run = run_map_fixed, .check = check_map_2)
SWEEP(map_auto_two_devices, .world = W_RICH, .allocates = true,
      .run = run_map_auto, .check = check_map_2)
SWEEP_V6_2(map_fixed_two_domains, .world = W_RICH, .allocates = true,
	   .run = run_map_fixed, .check = check_map_2)
SWEEP_V6_2(map_auto_two_domains, .world = W_RICH, .allocates = true,
	   .run = run_map_auto, .check = check_map_2)
SWEEP_BOTH(map_fixed_temp_limit_16, .world = W_RICH, .allocates = true,
	   .prepare = set_temp_limit_16, .run = run_map_fixed,
	   .check = check_map_2, .cleanup = restore_temp_limit)
SWEEP_BOTH(map_auto_temp_limit_16, .world = W_RICH, .allocates = true,
	   .prepare = set_temp_limit_16, .run = run_map_auto,
	   .check = check_map_2, .cleanup = restore_temp_limit)

static int run_unmap(struct world *w, u64 iova, u64 length)
{
	uint64_t unmapped = 0;
	int rc = rc_of(ioas_unmap(w->ctx, w->ioas1, iova, length, &unmapped));

	w->out[0] = unmapped;
	return rc;
}

/* a2 and a3: no pin, no callback. */
static int run_unmap_partial(struct world *w)
{
	return run_unmap(w, IOVA1 + P(24), P(16));
}

static void check_unmap_partial(struct world *w)
{
	ASSERT_EQ(P(16), w->out[0]);
	ASSERT_EQ(0, w->pa.unmap_calls);
}

/* a0 and a1, both under test-module pins: the callback drops them. */
static int run_unmap_pinned(struct world *w)
{
	return run_unmap(w, IOVA1, P(24));
}

static void check_items_gone(struct world *w)
{
	EXPECT_ERRNO(ENOENT, test_destroy_access_pages(w->ctx, w->afd,
						       w->items[0]));
	EXPECT_ERRNO(ENOENT, test_destroy_access_pages(w->ctx, w->afd,
						       w->items[1]));
}

static void check_unmap_pinned(struct world *w)
{
	ASSERT_EQ(P(24), w->out[0]);
	check_items_gone(w);
}

static int run_unmap_all(struct world *w)
{
	return run_unmap(w, 0, U64_MAX);
}

static void check_unmap_all(struct world *w)
{
	ASSERT_EQ(P(48) + P(8), w->out[0]);
	ASSERT_EQ(0, w->pa.npins);
	ASSERT_NE(0, w->pa.unmap_calls);
	check_items_gone(w);
}

SWEEP_BOTH(unmap_partial, .world = W_RICH, .kind = NEVER_FAILS,
	   .run = run_unmap_partial, .check = check_unmap_partial)
SWEEP_BOTH(unmap_pinned, .world = W_RICH, .kind = NEVER_FAILS,
	   .run = run_unmap_pinned, .check = check_unmap_pinned)
SWEEP_BOTH(unmap_all, .world = W_RICH, .kind = NEVER_FAILS,
	   .run = run_unmap_all, .check = check_unmap_all)

static int set_huge_pages(struct world *w, u64 val)
{
	return rc_of(ioctl_option(w->ctx, IOMMU_OPTION_HUGE_PAGES,
				  IOMMU_OPTION_OP_SET, w->ioas2, &val));
}

static int run_huge_pages_0(struct world *w)
{
	return set_huge_pages(w, 0);
}

static int run_huge_pages_1(struct world *w)
{
	return set_huge_pages(w, 1);
}

static void prepare_huge_pages_0(struct world *w)
{
	ASSERT_EQ(0, set_huge_pages(w, 0));
}

SWEEP_BOTH(option_huge_pages_0, .world = W_RICH & ~W_IOAS2_DOM,
	   .run = run_huge_pages_0)
SWEEP_BOTH(option_huge_pages_1, .world = W_RICH & ~W_IOAS2_DOM,
	   .prepare = prepare_huge_pages_0, .run = run_huge_pages_1)

static int run_vfio_set(struct world *w)
{
	u32 id = w->ioas2;

	return rc_of(vfio_ioas(w->ctx, IOMMU_VFIO_IOAS_SET, &id));
}

static void prepare_vfio_set(struct world *w)
{
	ASSERT_EQ(0, run_vfio_set(w));
}

static int run_vfio_get(struct world *w)
{
	u32 id = 0;
	int rc = rc_of(vfio_ioas(w->ctx, IOMMU_VFIO_IOAS_GET, &id));

	w->out[0] = id;
	return rc;
}

static int run_vfio_clear(struct world *w)
{
	return rc_of(vfio_ioas(w->ctx, IOMMU_VFIO_IOAS_CLEAR, NULL));
}

SWEEP_BOTH(vfio_ioas_set, .world = W_RICH, .run = run_vfio_set)
SWEEP_BOTH(vfio_ioas_get, .world = W_RICH, .read_only = true,
	   .prepare = prepare_vfio_set, .run = run_vfio_get)
SWEEP_BOTH(vfio_ioas_clear, .world = W_RICH, .prepare = prepare_vfio_set,
	   .run = run_vfio_clear)

/* ---- IOMMU_TEST_CMD ---- */

static int run_add_reserved(struct world *w)
{
	return rc_of(test_add_reserved(w->ctx, w->ioas1, 0x68000000, RESV_LEN));
}

SWEEP_BOTH(test_add_reserved, .world = W_RICH, .allocates = true,
	   .run = run_add_reserved)

static int mock_domain_on(struct world *w, u32 pt_id)
{
	u32 stdev = 0, hwpt = 0, idev = 0;
	int rc = rc_of(test_mock_domain(w->ctx, pt_id, &stdev, &hwpt, &idev));

	w->out[0] = stdev;
	w->out[1] = hwpt;
	w->out[2] = idev;
	return rc;
}

/*
 * The 72-byte command on ioas1: under 7.2 it shares the auto HW
 * pagetable; under 6.2 it is the 56-byte one, a HW pagetable of its own.
 */
static int run_mock_domain_shared(struct world *w)
{
	return mock_domain_on(w, w->ioas1);
}

static void check_mock_domain_shared(struct world *w)
{
	ASSERT_EQ(w->hwpt1, w->out[1]);
}

/* The first domain of ioas2 (auto under 7.2): every area is filled in. */
static int run_mock_domain_ioas2(struct world *w)
{
	return mock_domain_on(w, w->ioas2);
}

static void check_mock_domain_ioas2(struct world *w)
{
	ASSERT_EQ(0, test_check_map(w->ctx, w->out[1], IOVA2, P(24), buf_a));
}

/* ioas1's first domain, under pins of both accesses. */
static int run_mock_domain_first(struct world *w)
{
	return mock_domain_on(w, w->ioas1);
}

static void check_mock_domain_first(struct world *w)
{
	ASSERT_EQ(0, test_check_map(w->ctx, w->out[1], IOVA1, P(24), buf_a));
	ASSERT_EQ(0, test_check_refs(w->ctx, buf_a, P(24), 1));
}

/* Straight onto a HW pagetable by ID (7.2; 6.2 took an IOAS only). */
static int run_mock_domain_on_hwpt(struct world *w)
{
	return mock_domain_on(w, w->hwpt2);
}

static int run_mock_domain_v6_2(struct world *w)
{
	u32 stdev = 0, hwpt = 0;
	int rc = rc_of(test_mock_domain_v6_2(w->ctx, w->ioas1, &stdev, &hwpt));

	w->out[0] = stdev;
	w->out[1] = hwpt;
	return rc;
}

static void check_mock_domain_v6_2(struct world *w)
{
	ASSERT_NE(w->hwpt1, w->out[1]);
	ASSERT_NE(w->hwpt2, w->out[1]);
	ASSERT_EQ(0, test_check_map(w->ctx, w->out[1], IOVA1, P(24), buf_a));
	/* The 6.2 layout has no out_idev_id: nothing came back there. */
	ASSERT_EQ(0, w->out[2]);
}

SWEEP(test_mock_domain_shared, .world = W_RICH, .allocates = true,
      .run = run_mock_domain_shared, .check = check_mock_domain_shared)
SWEEP(test_mock_domain_new_auto, .world = W_RICH & ~W_IOAS2_DOM,
      .allocates = true, .run = run_mock_domain_ioas2,
      .check = check_mock_domain_ioas2)
SWEEP_V6_2(test_mock_domain_new_hwpt, .world = W_RICH & ~W_IOAS2_DOM,
	   .allocates = true, .run = run_mock_domain_ioas2,
	   .check = check_mock_domain_ioas2)
SWEEP_BOTH(test_mock_domain_first, .world = W_NODOM, .allocates = true,
	   .run = run_mock_domain_first, .check = check_mock_domain_first)
SWEEP_BOTH(test_mock_domain_first_temp_limit_16, .world = W_NODOM,
	   .allocates = true, .prepare = set_temp_limit_16,
	   .run = run_mock_domain_first, .check = check_mock_domain_first,
	   .cleanup = restore_temp_limit)
SWEEP(test_mock_domain_on_hwpt, .world = W_RICH, .allocates = true,
      .run = run_mock_domain_on_hwpt)
/* 6.2: the 56-byte command, and the 72-byte one read as it. */
SWEEP_V6_2(test_mock_domain, .world = W_RICH, .allocates = true,
	   .run = run_mock_domain_v6_2, .check = check_mock_domain_v6_2)
SWEEP_V6_2(test_mock_domain_newest_size, .world = W_RICH, .allocates = true,
	   .run = run_mock_domain_shared, .check = check_mock_domain_v6_2)

static int run_check_map(struct world *w)
{
	return rc_of(test_check_map(w->ctx, w->hwpt2, IOVA1, P(24), buf_a));
}

static int run_check_refs(struct world *w)
{
	return rc_of(test_check_refs(w->ctx, buf_a, P(56), 1));
}

SWEEP_BOTH(test_md_check_map, .world = W_RICH, .read_only = true,
	   .run = run_check_map)
SWEEP_BOTH(test_md_check_refs, .world = W_RICH, .allocates = true,
	   .read_only = true, .run = run_check_refs)

static int run_create_access(struct world *w, u32 flags)
{
	int fd = -1;
	int rc = rc_of(test_create_access(w->ctx, w->ioas1, flags, &fd));

	if (!rc)
		w->new_fd = fd;
	w->out[0] = fd;
	return rc;
}

static int run_create_access_pin(struct world *w)
{
	return run_create_access(w, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES);
}

static int run_create_access_no_pin(struct world *w)
{
	return run_create_access(w, 0);
}

static void check_create_access(struct world *w)
{
	ASSERT_EQ(1, uiommufd_fd_owned(w->new_fd));
}

SWEEP_BOTH(test_create_access, .world = W_RICH, .allocates = true,
	   .run = run_create_access_pin, .check = check_create_access)
SWEEP_BOTH(test_create_access_no_pin, .world = W_RICH, .allocates = true,
	   .run = run_create_access_no_pin, .check = check_create_access)

static int run_destroy_access_pages(struct world *w)
{
	return rc_of(test_destroy_access_pages(w->ctx, w->afd, w->items[0]));
}

SWEEP_BOTH(test_destroy_access_pages, .world = W_RICH, .kind = NEVER_FAILS,
	   .run = run_destroy_access_pages)
SWEEP_BOTH(test_destroy_access_pages_no_domain, .world = W_NODOM,
	   .kind = NEVER_FAILS, .run = run_destroy_access_pages)

/* Across a0 and a1, which item 0 and item 1 partly pin already. */
static int run_access_pages(struct world *w)
{
	u32 item = 0;
	int rc = rc_of(test_access_pages(w->ctx, w->afd, IOVA1 + P(12), P(8),
					 buf_a + P(12),
					 MOCK_FLAGS_ACCESS_WRITE, &item));

	w->out[0] = item;
	return rc;
}

SWEEP_BOTH(test_access_pages, .world = W_RICH, .allocates = true,
	   .run = run_access_pages)
SWEEP_BOTH(test_access_pages_no_domain, .world = W_NODOM, .allocates = true,
	   .run = run_access_pages)

#define RW_IOVA (IOVA1 + P(14) + 100)
#define RW_LEN P(3)

static int run_access_rw(struct world *w, u32 flags)
{
	return rc_of(test_access_rw(w->ctx, w->afd, RW_IOVA, w->data, RW_LEN,
				    flags));
}

static int run_access_read(struct world *w)
{
	return run_access_rw(w, 0);
}

static int run_access_read_slow(struct world *w)
{
	return run_access_rw(w, MOCK_ACCESS_RW_SLOW_PATH);
}

static void check_read(struct world *w)
{
	ASSERT_EQ(0, memcmp(w->data, buf_a + P(14) + 100, RW_LEN));
}

static void prepare_write(struct world *w)
{
	for (u64 i = 0; i != sizeof(w->data); i++)
		w->data[i] = (u8)(i * 3 + 0x11);
}

static int run_access_write(struct world *w)
{
	return run_access_rw(w, MOCK_ACCESS_RW_WRITE);
}

static void check_write(struct world *w)
{
	ASSERT_EQ(0, memcmp(w->data, buf_a + P(14) + 100, RW_LEN));
}

SWEEP_BOTH(test_access_rw_read, .world = W_RICH, .allocates = true,
	   .read_only = true, .run = run_access_read, .check = check_read)
SWEEP_BOTH(test_access_rw_read_slow_no_domain, .world = W_NODOM,
	   .allocates = true, .read_only = true, .run = run_access_read_slow,
	   .check = check_read)
SWEEP_BOTH(test_access_rw_write, .world = W_RICH, .allocates = true,
	   .prepare = prepare_write, .run = run_access_write,
	   .check = check_write)
SWEEP_BOTH(test_access_rw_write_no_domain, .world = W_NODOM,
	   .allocates = true, .prepare = prepare_write,
	   .run = run_access_write, .check = check_write)

/* ---- the access API ---- */

static int run_api_create(struct world *w)
{
	int rc = pubacc_create(w, &w->pa2);

	w->out[0] = w->pa2.id;
	return rc;
}

SWEEP_BOTH(access_api_create, .world = W_RICH, .allocates = true,
	   .run = run_api_create)

/* a3, pinned for writing; the PFNs and page addresses come back. */
static int run_api_pin(struct world *w)
{
	return pubacc_pin(&w->pa, IOVA1 + P(32), P(4), (u64 *)w->data,
			  (void **)(w->data + 64), UIOMMUFD_ACCESS_RW_WRITE);
}

static void check_api_pin(struct world *w)
{
	const u64 *pfns = (const u64 *)w->data;
	void *const *pages = (void *const *)(w->data + 64);

	for (int i = 0; i != 4; i++) {
		ASSERT_EQ(((uintptr_t)buf_a + P(32 + i)) / PAGE_SIZE, pfns[i]);
		ASSERT_EQ(buf_a + P(32 + i), pages[i]);
	}
	ASSERT_EQ(0, test_check_refs(w->ctx, buf_a + P(32), P(4), 1));
}

SWEEP_BOTH(access_api_pin, .world = W_RICH, .allocates = true,
	   .run = run_api_pin, .check = check_api_pin)
SWEEP_BOTH(access_api_pin_no_domain, .world = W_NODOM, .allocates = true,
	   .run = run_api_pin, .check = check_api_pin)

/* Across a3 and a4, not page aligned. */
static int run_api_read(struct world *w)
{
	return uiommufd_access_rw(w->pa.access, IOVA1 + P(38) + 7, w->data,
				  P(3), 0);
}

static void check_api_read(struct world *w)
{
	ASSERT_EQ(0, memcmp(w->data, buf_a + P(38) + 7, P(3)));
}

static int run_api_write(struct world *w)
{
	return uiommufd_access_rw(w->pa.access, IOVA1 + P(38) + 7, w->data,
				  P(3), UIOMMUFD_ACCESS_RW_WRITE);
}

static void check_api_write(struct world *w)
{
	ASSERT_EQ(0, memcmp(w->data, buf_a + P(38) + 7, P(3)));
}

SWEEP_BOTH(access_api_read, .world = W_RICH, .allocates = true,
	   .read_only = true, .run = run_api_read, .check = check_api_read)
SWEEP_BOTH(access_api_read_no_domain, .world = W_NODOM, .allocates = true,
	   .read_only = true, .run = run_api_read, .check = check_api_read)
SWEEP_BOTH(access_api_write, .world = W_RICH, .allocates = true,
	   .prepare = prepare_write, .run = run_api_write,
	   .check = check_api_write)
SWEEP_BOTH(access_api_write_no_domain, .world = W_NODOM, .allocates = true,
	   .prepare = prepare_write, .run = run_api_write,
	   .check = check_api_write)

static int run_api_destroy(struct world *w)
{
	uiommufd_access_destroy(w->pa.access);
	w->pa.access = NULL;
	w->pa.npins = 0;
	return 0;
}

SWEEP_BOTH(access_api_destroy, .world = W_RICH, .kind = NEVER_FAILS,
	   .run = run_api_destroy)
SWEEP_BOTH(access_api_destroy_no_domain, .world = W_NODOM,
	   .kind = NEVER_FAILS, .run = run_api_destroy)

/* ---- contexts and descriptors ---- */

/* Another context, answering as the world's does. */
static int run_ctx_open(struct world *w)
{
	w->ctx2 = ctx_open_as(w->kernel, false, 0);
	return w->ctx2 ? 0 : -errno;
}

SWEEP_BOTH(ctx_open, .world = W_RICH, .allocates = true,
	   .run = run_ctx_open)

/* The context goes first; the accesses keep it alive until they go. */
static int run_close_ctx_first(struct world *w)
{
	uiommufd_ctx_close(w->ctx);
	w->ctx = NULL;
	ASSERT_EQ(0, uiommufd_fd_close(w->afd));
	w->afd = -1;
	uiommufd_access_destroy(w->pa.access);
	w->pa.access = NULL;
	w->pa.npins = 0;
	return 0;
}

static int run_close_accesses_first(struct world *w)
{
	uiommufd_access_destroy(w->pa.access);
	w->pa.access = NULL;
	w->pa.npins = 0;
	ASSERT_EQ(0, uiommufd_fd_close(w->afd));
	w->afd = -1;
	uiommufd_ctx_close(w->ctx);
	w->ctx = NULL;
	return 0;
}

static void check_closed(struct world *w)
{
	expect_all_released(w->live_base);
}

static int run_fd_close(struct world *w)
{
	int rc = uiommufd_fd_close(w->afd);

	w->afd = -1;
	return rc ? -errno : 0;
}

SWEEP_BOTH(ctx_close_first, .world = W_RICH, .kind = NEVER_FAILS,
	   .run = run_close_ctx_first, .check = check_closed)
SWEEP_BOTH(ctx_close_last, .world = W_RICH, .kind = NEVER_FAILS,
	   .run = run_close_accesses_first, .check = check_closed)
SWEEP_BOTH(ctx_close_no_domain, .world = W_NODOM, .kind = NEVER_FAILS,
	   .run = run_close_ctx_first, .check = check_closed)
SWEEP_BOTH(fd_close_access, .world = W_RICH, .kind = NEVER_FAILS,
	   .run = run_fd_close)
SWEEP_BOTH(fd_close_access_no_domain, .world = W_NODOM,
	   .kind = NEVER_FAILS, .run = run_fd_close)

/* ---- Linux 7.2: HW pagetables, devices with flags, replace ---- */

/* The snapshot sees what the 7.2 commands change, and only that. */
TEST(fail_nth_snapshot_sees_7_2_state)
{
	struct iommu_hwpt_invalidate_selftest inv = { .iotlb_id = 1 };
	struct world *w = &sweep_worlds[0];
	struct snap a = {}, b = {};
	u32 num = 1, pt;

	bufs_init();
	world_build(w, W_RICH72, UIOMMUFD_KERNEL_7_2);
	snap_take(w, &a);
	ASSERT_EQ(0, hwpt_invalidate(w->ctx, w->hwpt_n,
				     IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, &inv,
				     sizeof(inv), &num));
	snap_take(w, &b);
	/* One IOTLB entry of the nested HW pagetable. */
	if (snap_cmp(&a, &b, "invalidate", 0, true) != 1)
		snap_cmp(&a, &b, "invalidate", 0, false);
	ASSERT_EQ(1, snap_cmp(&a, &b, "invalidate", 0, true));
	pt = w->hwpt_n;
	ASSERT_EQ(0, test_mock_domain_replace(w->ctx, w->stdev4, &pt));
	snap_take(w, &a);
	/*
	 * The device's HW pagetable and its type; the nested one's and the
	 * shared auto one's device counts and users.
	 */
	if (snap_cmp(&b, &a, "replace", 0, true) != 6)
		snap_cmp(&b, &a, "replace", 0, false);
	ASSERT_EQ(6, snap_cmp(&b, &a, "replace", 0, true));
	snap_free(&a);
	snap_free(&b);
	world_teardown(w);
}

/* HWPT_ALLOC of a paging HW pagetable on ioas1, every area filled in. */
static int hwpt_alloc_on_ioas1(struct world *w, u32 flags,
			       const struct iommu_hwpt_selftest *data)
{
	u32 id = 0;
	int rc = rc_of(hwpt_alloc(w->ctx, w->idev1, w->ioas1, flags, data,
				  data ? sizeof(*data) : 0, &id));

	w->out[0] = id;
	return rc;
}

static int run_hwpt_alloc_paging(struct world *w)
{
	return hwpt_alloc_on_ioas1(w, 0, NULL);
}

static int run_hwpt_alloc_nest_parent(struct world *w)
{
	return hwpt_alloc_on_ioas1(w, IOMMU_HWPT_ALLOC_NEST_PARENT, NULL);
}

static int run_hwpt_alloc_dirty(struct world *w)
{
	return hwpt_alloc_on_ioas1(w, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, NULL);
}

static int run_hwpt_alloc_pasid(struct world *w)
{
	return hwpt_alloc_on_ioas1(w, IOMMU_HWPT_ALLOC_PASID, NULL);
}

static int run_hwpt_alloc_all_flags(struct world *w)
{
	return hwpt_alloc_on_ioas1(w, IOMMU_HWPT_ALLOC_NEST_PARENT |
					      IOMMU_HWPT_ALLOC_DIRTY_TRACKING |
					      IOMMU_HWPT_ALLOC_PASID,
				   NULL);
}

static int run_hwpt_alloc_data(struct world *w)
{
	static const struct iommu_hwpt_selftest data = {
		.iotlb = 1,
		.pagetable_type = MOCK_IOMMUPT_DEFAULT,
	};

	return hwpt_alloc_on_ioas1(w, IOMMU_HWPT_ALLOC_NEST_PARENT, &data);
}

static int run_hwpt_alloc_huge(struct world *w)
{
	static const struct iommu_hwpt_selftest data = {
		.pagetable_type = MOCK_IOMMUPT_HUGE,
	};

	return hwpt_alloc_on_ioas1(w, 0, &data);
}

/* It mirrors ioas1: a0 and a1, and buf_b where a5 went. */
static void check_hwpt_alloc(struct world *w)
{
	ASSERT_NE(0, w->out[0]);
	ASSERT_EQ(0, test_check_map(w->ctx, w->out[0], IOVA1, P(48), buf_a));
	ASSERT_EQ(0, test_check_map(w->ctx, w->out[0], w->iova_b, P(8),
				    buf_b));
}

SWEEP(hwpt_alloc_paging, .world = W_RICH, .allocates = true,
      .run = run_hwpt_alloc_paging, .check = check_hwpt_alloc)
SWEEP(hwpt_alloc_nest_parent, .world = W_RICH72, .allocates = true,
      .run = run_hwpt_alloc_nest_parent, .check = check_hwpt_alloc)
SWEEP(hwpt_alloc_dirty_tracking, .world = W_RICH, .allocates = true,
      .run = run_hwpt_alloc_dirty, .check = check_hwpt_alloc)
SWEEP(hwpt_alloc_pasid, .world = W_RICH, .allocates = true,
      .run = run_hwpt_alloc_pasid, .check = check_hwpt_alloc)
SWEEP(hwpt_alloc_all_flags, .world = W_RICH72, .allocates = true,
      .run = run_hwpt_alloc_all_flags, .check = check_hwpt_alloc)
SWEEP(hwpt_alloc_with_data, .world = W_RICH, .allocates = true,
      .run = run_hwpt_alloc_data, .check = check_hwpt_alloc)
SWEEP(hwpt_alloc_huge, .world = W_RICH, .allocates = true,
      .run = run_hwpt_alloc_huge, .check = check_hwpt_alloc)
SWEEP(hwpt_alloc_paging_temp_limit_16, .world = W_RICH72, .allocates = true,
      .prepare = set_temp_limit_16, .run = run_hwpt_alloc_paging,
      .check = check_hwpt_alloc, .cleanup = restore_temp_limit)

#define IOTLB_SWEEP 0x1234abcd

static int run_hwpt_alloc_nested(struct world *w)
{
	u32 id = 0;
	int rc = rc_of(hwpt_alloc_nested(w->ctx, w->idev1, w->hwpt_p,
					 IOTLB_SWEEP, &id));

	w->out[0] = id;
	return rc;
}

static void check_hwpt_alloc_nested(struct world *w)
{
	for (u32 i = 0; i != MOCK_NESTED_DOMAIN_IOTLB_NUM; i++)
		ASSERT_EQ(0, test_check_iotlb(w->ctx, w->out[0], i,
					      IOTLB_SWEEP));
	EXPECT_ERRNO(EBUSY, ioctl_destroy(w->ctx, w->hwpt_p));
}

/* A nested one for the NO_DIRTY device, with PASID. */
static int run_hwpt_alloc_nested_pasid(struct world *w)
{
	struct iommu_hwpt_selftest data = { .iotlb = IOTLB_SWEEP };
	u32 id = 0;
	int rc = rc_of(hwpt_alloc(w->ctx, w->idev4, w->hwpt_p,
				  IOMMU_HWPT_ALLOC_PASID, &data, sizeof(data),
				  &id));

	w->out[0] = id;
	return rc;
}

SWEEP(hwpt_alloc_nested, .world = W_RICH72, .allocates = true,
      .run = run_hwpt_alloc_nested, .check = check_hwpt_alloc_nested)
SWEEP(hwpt_alloc_nested_pasid, .world = W_RICH72, .allocates = true,
      .run = run_hwpt_alloc_nested_pasid, .check = check_hwpt_alloc_nested)

/* Entries 1 and 3, then everything: the IOTLB ends all zero. */
static int run_hwpt_invalidate(struct world *w)
{
	const struct iommu_hwpt_invalidate_selftest inv[] = {
		{ .iotlb_id = 1 },
		{ .iotlb_id = 3 },
		{ .flags = IOMMU_TEST_INVALIDATE_FLAG_ALL },
	};
	u32 num = ARRAY_SIZE(inv);
	int rc = rc_of(hwpt_invalidate(w->ctx, w->hwpt_n,
				       IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
				       inv, sizeof(inv[0]), &num));

	w->out[0] = num;
	return rc;
}

static int run_hwpt_invalidate_one(struct world *w)
{
	const struct iommu_hwpt_invalidate_selftest inv = { .iotlb_id = 2 };
	u32 num = 1;
	int rc = rc_of(hwpt_invalidate(w->ctx, w->hwpt_n,
				       IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
				       &inv, sizeof(inv), &num));

	w->out[0] = num;
	return rc;
}

static void check_hwpt_invalidate(struct world *w)
{
	ASSERT_EQ(3, w->out[0]);
	for (u32 i = 0; i != MOCK_NESTED_DOMAIN_IOTLB_NUM; i++)
		ASSERT_EQ(0, test_check_iotlb(w->ctx, w->hwpt_n, i, 0));
}

static void check_hwpt_invalidate_one(struct world *w)
{
	ASSERT_EQ(1, w->out[0]);
	ASSERT_EQ(0, test_check_iotlb(w->ctx, w->hwpt_n, 2, 0));
	ASSERT_EQ(0, test_check_iotlb(w->ctx, w->hwpt_n, 1,
				      IOMMU_TEST_IOTLB_DEFAULT));
}

SWEEP(hwpt_invalidate, .world = W_RICH72, .run = run_hwpt_invalidate,
      .check = check_hwpt_invalidate)
SWEEP(hwpt_invalidate_one, .world = W_RICH72, .run = run_hwpt_invalidate_one,
      .check = check_hwpt_invalidate_one)

/* The NO_DIRTY|PASID device's info, into a buffer longer than it. */
static int run_get_hw_info(struct world *w)
{
	struct iommu_hw_info info;
	int rc;

	memset(w->data, 0xff, 64);
	rc = rc_of(get_hw_info(w->ctx, w->idev4, w->data, 64, &info));
	w->out[0] = info.data_len;
	w->out[1] = info.out_data_type;
	w->out[2] = info.out_capabilities;
	w->out[3] = info.out_max_pasid_log2;
	return rc;
}

static void check_get_hw_info(struct world *w)
{
	const struct iommu_test_hw_info *info = (const void *)w->data;

	ASSERT_EQ(sizeof(*info), w->out[0]);
	ASSERT_EQ(IOMMU_HW_INFO_TYPE_SELFTEST, w->out[1]);
	ASSERT_EQ(IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED, w->out[2]);
	ASSERT_EQ(MOCK_PASID_WIDTH, w->out[3]);
	ASSERT_EQ(IOMMU_HW_INFO_SELFTEST_REGVAL, info->test_reg);
	for (unsigned int i = sizeof(*info); i != 64; i++)
		ASSERT_EQ(0, w->data[i]);
}

SWEEP(get_hw_info, .world = W_RICH72, .read_only = true,
      .run = run_get_hw_info, .check = check_get_hw_info)

static int mock_domain_flags_on(struct world *w, u32 pt_id, u32 dev_flags)
{
	u32 stdev = 0, hwpt = 0, idev = 0;
	int rc = rc_of(test_mock_domain_flags(w->ctx, pt_id, dev_flags, &stdev,
					      &hwpt, &idev));

	w->out[0] = stdev;
	w->out[1] = hwpt;
	w->out[2] = idev;
	return rc;
}

/* Onto ioas1's auto HW pagetable, which a NO_DIRTY device may share. */
static int run_mock_domain_flags_shared(struct world *w)
{
	return mock_domain_flags_on(w, w->ioas1,
				    MOCK_FLAGS_DEVICE_NO_DIRTY |
					    MOCK_FLAGS_DEVICE_PASID);
}

static void check_mock_domain_flags_shared(struct world *w)
{
	ASSERT_EQ(w->hwpt1, w->out[1]);
	for (u32 i = 0; i != MOCK_DEV_CACHE_NUM; i++)
		ASSERT_EQ(0,
			  test_check_dev_cache(w->ctx, w->out[2], i,
					       IOMMU_TEST_DEV_CACHE_DEFAULT));
}

/* ioas2's first domain: a new auto HW pagetable, every area filled. */
static int run_mock_domain_flags_new(struct world *w)
{
	return mock_domain_flags_on(w, w->ioas2, MOCK_FLAGS_DEVICE_PASID);
}

static void check_mock_domain_flags_new(struct world *w)
{
	ASSERT_EQ(0, test_check_map(w->ctx, w->out[1], IOVA2, P(24), buf_a));
}

/* Onto the nested HW pagetable, which a NO_DIRTY device may use. */
static int run_mock_domain_flags_nested(struct world *w)
{
	return mock_domain_flags_on(w, w->hwpt_n, MOCK_FLAGS_DEVICE_NO_DIRTY);
}

static void check_mock_domain_flags_nested(struct world *w)
{
	ASSERT_EQ(w->hwpt_n, w->out[1]);
}

SWEEP(test_mock_domain_flags_shared, .world = W_RICH, .allocates = true,
      .run = run_mock_domain_flags_shared,
      .check = check_mock_domain_flags_shared)
SWEEP(test_mock_domain_flags_new_auto, .world = W_RICH & ~W_IOAS2_DOM,
      .allocates = true, .run = run_mock_domain_flags_new,
      .check = check_mock_domain_flags_new)
SWEEP(test_mock_domain_flags_nested, .world = W_RICH72, .allocates = true,
      .run = run_mock_domain_flags_nested,
      .check = check_mock_domain_flags_nested)

static int replace_stdev1(struct world *w, u32 pt_id)
{
	u32 pt = pt_id;
	int rc = rc_of(test_mock_domain_replace(w->ctx, w->stdev1, &pt));

	w->out[0] = pt;
	return rc;
}

/* ioas2 has no domain: a new auto HW pagetable, filled; hwpt1 stays. */
static int run_replace_to_ioas_new(struct world *w)
{
	return replace_stdev1(w, w->ioas2);
}

static void check_replace_to_ioas2(struct world *w)
{
	ASSERT_EQ(0, test_check_map(w->ctx, w->out[0], IOVA2, P(24), buf_a));
	ASSERT_EQ(0, test_check_map(w->ctx, w->out[0], w->iova2_b, P(16),
				    buf_b + P(8)));
}

static void check_replace_hwpt1_stays(struct world *w)
{
	check_replace_to_ioas2(w);
	ASSERT_EQ(0, test_check_map(w->ctx, w->hwpt1, IOVA1, P(24), buf_a));
}

static void check_replace_hwpt1_gone(struct world *w)
{
	check_replace_to_ioas2(w);
	EXPECT_ERRNO(ENOENT, test_check_map(w->ctx, w->hwpt1, IOVA1, P(1),
					    buf_a));
}

/* Onto ioas2's existing auto HW pagetable (W_IOAS2_DOM's). */
static void check_replace_to_hwpt3(struct world *w)
{
	ASSERT_EQ(w->hwpt3, w->out[0]);
	check_replace_hwpt1_stays(w);
}

static int run_replace_to_hwpt_p(struct world *w)
{
	return replace_stdev1(w, w->hwpt_p);
}

static int run_replace_to_hwpt_n(struct world *w)
{
	return replace_stdev1(w, w->hwpt_n);
}

static void check_replace_to_hwpt_p(struct world *w)
{
	ASSERT_EQ(w->hwpt_p, w->out[0]);
}

static void check_replace_to_hwpt_n(struct world *w)
{
	ASSERT_EQ(w->hwpt_n, w->out[0]);
	EXPECT_ERRNO(EBUSY, ioctl_destroy(w->ctx, w->hwpt_n));
}

/* From the nested one back to ioas1's auto HW pagetable. */
static void prepare_on_hwpt_n(struct world *w)
{
	ASSERT_EQ(0, run_replace_to_hwpt_n(w));
}

static int run_replace_to_ioas1(struct world *w)
{
	return replace_stdev1(w, w->ioas1);
}

static void check_replace_to_ioas1(struct world *w)
{
	/* hwpt1 is still there (W_DOM2): it is the one picked. */
	ASSERT_EQ(w->hwpt1, w->out[0]);
}

/* The only device of hwpt1 leaves it: it goes with the replace. */
SWEEP(test_mock_domain_replace_last_device, .world = W_DOM1 | W_NODOM,
      .allocates = true, .run = run_replace_to_ioas_new,
      .check = check_replace_hwpt1_gone)
SWEEP(test_mock_domain_replace_to_new_auto, .world = W_RICH & ~W_IOAS2_DOM,
      .allocates = true, .run = run_replace_to_ioas_new,
      .check = check_replace_hwpt1_stays)
SWEEP(test_mock_domain_replace_to_shared_auto, .world = W_RICH,
      .run = run_replace_to_ioas_new, .check = check_replace_to_hwpt3)
SWEEP(test_mock_domain_replace_to_hwpt, .world = W_RICH72,
      .run = run_replace_to_hwpt_p, .check = check_replace_to_hwpt_p)
SWEEP(test_mock_domain_replace_to_nested, .world = W_RICH72,
      .run = run_replace_to_hwpt_n, .check = check_replace_to_hwpt_n)
SWEEP(test_mock_domain_replace_nested_to_ioas, .world = W_RICH72,
      .prepare = prepare_on_hwpt_n, .run = run_replace_to_ioas1,
      .check = check_replace_to_ioas1)
SWEEP(test_mock_domain_replace_to_new_auto_temp_limit_16,
      .world = W_RICH72 & ~W_IOAS2_DOM, .allocates = true,
      .prepare = set_temp_limit_16, .run = run_replace_to_ioas_new,
      .check = check_replace_hwpt1_stays, .cleanup = restore_temp_limit)

/*
 * The test-module access (two items pinned in ioas1) to ioas2: the items
 * go through the callback, then it reads ioas2.
 */
static int run_access_replace_ioas(struct world *w)
{
	return rc_of(test_access_replace_ioas(w->ctx, w->afd, w->ioas2));
}

static void check_access_replace_ioas(struct world *w)
{
	check_items_gone(w);
	/* ioas2's copy of a0 at IOVA2. */
	ASSERT_EQ(0, test_access_rw(w->ctx, w->afd, IOVA2 + P(3) + 5, w->data,
				    P(2), 0));
	ASSERT_EQ(0, memcmp(w->data, buf_a + P(3) + 5, P(2)));
	EXPECT_ERRNO(EBUSY, ioctl_destroy(w->ctx, w->ioas2));
}

SWEEP(test_access_replace_ioas, .world = W_RICH, .allocates = true,
      .run = run_access_replace_ioas, .check = check_access_replace_ioas)
SWEEP(test_access_replace_ioas_no_domain, .world = W_NODOM,
      .allocates = true, .run = run_access_replace_ioas,
      .check = check_access_replace_ioas)

/* The access API user (a pin in ioas1) to ioas2 through the public call. */
static int run_api_replace(struct world *w)
{
	return uiommufd_access_replace(w->pa.access, w->ioas2);
}

static void check_api_replace(struct world *w)
{
	ASSERT_EQ(0, w->pa.npins);
	ASSERT_EQ(1, w->pa.unmap_calls);
	ASSERT_EQ(0, w->pa.unpin_errors);
	/* Reads go to ioas2's copy of a0 now. */
	ASSERT_EQ(0, uiommufd_access_rw(w->pa.access, IOVA2 + P(1) + 9,
					w->data, P(2), 0));
	ASSERT_EQ(0, memcmp(w->data, buf_a + P(1) + 9, P(2)));
}

SWEEP(access_api_replace, .world = W_RICH72, .allocates = true,
      .run = run_api_replace, .check = check_api_replace)

/* ---- Linux 7.2: PASIDs ---- */

/* The snapshot sees a device's PASID table and its reserved PASID. */
TEST(fail_nth_snapshot_sees_pasids)
{
	struct world *w = &sweep_worlds[0];
	struct snap a = {}, b = {};
	u32 pt;

	bufs_init();
	world_build(w, W_RICH_PASID, UIOMMUFD_KERNEL_7_2);
	snap_take(w, &a);
	pt = w->hwpt_pp2;
	ASSERT_EQ(0, test_pasid_attach(w->ctx, w->stdev4, RESERVED_PASID,
				       &pt));
	snap_take(w, &b);
	/*
	 * A new entry of the table (counted as two: it is new, and where
	 * it was nothing was) and the table's node for it (live
	 * allocations), the mock driver armed, the HW pagetable's device
	 * count and users, the device's users.
	 */
	if (snap_cmp(&a, &b, "attach", 0, true) != 7)
		snap_cmp(&a, &b, "attach", 0, false);
	ASSERT_EQ(7, snap_cmp(&a, &b, "attach", 0, true));
	pt = w->hwpt_pn;
	ASSERT_EQ(0, test_pasid_replace(w->ctx, w->stdev4, W_PASID_ID, &pt));
	snap_take(w, &a);
	/* The entry, both HW pagetables' device counts and users. */
	if (snap_cmp(&b, &a, "replace", 0, true) != 5)
		snap_cmp(&b, &a, "replace", 0, false);
	ASSERT_EQ(5, snap_cmp(&b, &a, "replace", 0, true));
	snap_free(&a);
	snap_free(&b);
	world_teardown(w);
}

static int pasid_attach_to(struct world *w, u32 pasid, u32 pt_id)
{
	u32 pt = pt_id;
	int rc = rc_of(test_pasid_attach(w->ctx, w->stdev4, pasid, &pt));

	w->out[0] = pt;
	return rc;
}

static int pasid_replace_to(struct world *w, u32 pasid, u32 pt_id)
{
	u32 pt = pt_id;
	int rc = rc_of(test_pasid_replace(w->ctx, w->stdev4, pasid, &pt));

	w->out[0] = pt;
	return rc;
}

/* Where the PASID of the run is (w->out[1]), and that out[0] says so. */
static void check_pasid_on(struct world *w)
{
	ASSERT_EQ(0, test_pasid_check(w->ctx, w->stdev4, w->out[1],
				      w->out[0]));
}

static int run_pasid_attach(struct world *w)
{
	w->out[1] = 9;
	return pasid_attach_to(w, 9, w->hwpt_pp2);
}

/* Far from the PASID attached: the table grows a new branch. */
static int run_pasid_attach_far(struct world *w)
{
	w->out[1] = (1u << MOCK_PASID_WIDTH) - 1;
	return pasid_attach_to(w, w->out[1], w->hwpt_pp2);
}

static int run_pasid_attach_nested(struct world *w)
{
	w->out[1] = 9;
	return pasid_attach_to(w, 9, w->hwpt_pn);
}

/* Into an empty table: W_PASID's PASID detached first. */
static void prepare_no_pasid(struct world *w)
{
	ASSERT_EQ(0, test_pasid_detach(w->ctx, w->stdev4, W_PASID_ID));
}

static int run_pasid_attach_first(struct world *w)
{
	w->out[1] = W_PASID_ID;
	return pasid_attach_to(w, W_PASID_ID, w->hwpt_pp2);
}

/* The reserved PASID's attach arms the mock driver. */
static int run_pasid_attach_reserved(struct world *w)
{
	w->out[1] = RESERVED_PASID;
	return pasid_attach_to(w, RESERVED_PASID, w->hwpt_pp2);
}

/*
 * The RID by PASID 0, detached with no PASID left, to ioas2 (without a
 * domain): a new auto HW pagetable, filled.
 */
static void prepare_rid_detached(struct world *w)
{
	prepare_no_pasid(w);
	ASSERT_EQ(0, test_pasid_detach(w->ctx, w->stdev4, 0));
}

static int run_pasid_attach_rid_new_auto(struct world *w)
{
	w->out[1] = 0;
	return pasid_attach_to(w, 0, w->ioas2);
}

static void check_rid_new_auto(struct world *w)
{
	check_pasid_on(w);
	ASSERT_EQ(0, test_check_map(w->ctx, w->out[0], IOVA2, P(24), buf_a));
}

SWEEP(test_pasid_attach, .world = W_RICH_PASID, .run = run_pasid_attach,
      .check = check_pasid_on)
SWEEP(test_pasid_attach_far, .world = W_RICH_PASID, .allocates = true,
      .run = run_pasid_attach_far, .check = check_pasid_on)
SWEEP(test_pasid_attach_nested, .world = W_RICH_PASID,
      .run = run_pasid_attach_nested, .check = check_pasid_on)
SWEEP(test_pasid_attach_first, .world = W_RICH_PASID, .allocates = true,
      .prepare = prepare_no_pasid, .run = run_pasid_attach_first,
      .check = check_pasid_on)
SWEEP(test_pasid_attach_reserved, .world = W_RICH_PASID,
      .run = run_pasid_attach_reserved, .check = check_pasid_on)
SWEEP(test_pasid_attach_rid_new_auto, .world = W_RICH_PASID & ~W_IOAS2_DOM,
      .allocates = true, .prepare = prepare_rid_detached,
      .run = run_pasid_attach_rid_new_auto, .check = check_rid_new_auto)

static int run_pasid_replace(struct world *w)
{
	w->out[1] = W_PASID_ID;
	return pasid_replace_to(w, W_PASID_ID, w->hwpt_pp2);
}

static int run_pasid_replace_nested(struct world *w)
{
	w->out[1] = W_PASID_ID;
	return pasid_replace_to(w, W_PASID_ID, w->hwpt_pn);
}

/* The RID, by PASID 0, to the other paging PASID HW pagetable. */
static int run_pasid_replace_rid(struct world *w)
{
	w->out[1] = 0;
	return pasid_replace_to(w, 0, w->hwpt_pp2);
}

/*
 * The reserved PASID on pp1 whose replace the mock driver refused: the
 * next one works, and arms it again.
 */
static void prepare_reserved_refused(struct world *w)
{
	u32 pt = w->hwpt_pp1;

	ASSERT_EQ(0, test_pasid_attach(w->ctx, w->stdev4, RESERVED_PASID,
				       &pt));
	pt = w->hwpt_pp2;
	ASSERT_EQ(-1, test_pasid_replace(w->ctx, w->stdev4, RESERVED_PASID,
					 &pt));
	ASSERT_EQ(ENOMEM, errno);
}

static int run_pasid_replace_reserved(struct world *w)
{
	w->out[1] = RESERVED_PASID;
	return pasid_replace_to(w, RESERVED_PASID, w->hwpt_pp2);
}

/* PASID 0 to ioas2 with no PASID attached: a new auto HW pagetable. */
static int run_pasid_replace_rid_new_auto(struct world *w)
{
	w->out[1] = 0;
	return pasid_replace_to(w, 0, w->ioas2);
}

SWEEP(test_pasid_replace, .world = W_RICH_PASID, .run = run_pasid_replace,
      .check = check_pasid_on)
SWEEP(test_pasid_replace_nested, .world = W_RICH_PASID,
      .run = run_pasid_replace_nested, .check = check_pasid_on)
SWEEP(test_pasid_replace_rid, .world = W_RICH_PASID,
      .run = run_pasid_replace_rid, .check = check_pasid_on)
SWEEP(test_pasid_replace_reserved, .world = W_RICH_PASID,
      .prepare = prepare_reserved_refused,
      .run = run_pasid_replace_reserved, .check = check_pasid_on)
SWEEP(test_pasid_replace_rid_new_auto, .world = W_RICH_PASID & ~W_IOAS2_DOM,
      .allocates = true, .prepare = prepare_no_pasid,
      .run = run_pasid_replace_rid_new_auto, .check = check_rid_new_auto)

static int run_pasid_detach(struct world *w)
{
	w->out[1] = W_PASID_ID;
	return rc_of(test_pasid_detach(w->ctx, w->stdev4, W_PASID_ID));
}

static void check_pasid_detached(struct world *w)
{
	ASSERT_EQ(0, test_pasid_check(w->ctx, w->stdev4, w->out[1], 0));
}

static void prepare_reserved_on_pn(struct world *w)
{
	u32 pt = w->hwpt_pn;

	ASSERT_EQ(0, test_pasid_attach(w->ctx, w->stdev4, RESERVED_PASID,
				       &pt));
}

/* The detach resets the mock driver (the snapshot sees it). */
static int run_pasid_detach_reserved(struct world *w)
{
	w->out[1] = RESERVED_PASID;
	return rc_of(test_pasid_detach(w->ctx, w->stdev4, RESERVED_PASID));
}

/* PASID 0: the RID, from pp1, which stays (PASID 7 is on it). */
static int run_pasid_detach_rid(struct world *w)
{
	w->out[1] = 0;
	return rc_of(test_pasid_detach(w->ctx, w->stdev4, 0));
}

/* The selftest object goes with its RID and two PASIDs attached. */
static int run_destroy_stdev_with_pasids(struct world *w)
{
	return rc_of(ioctl_destroy(w->ctx, w->stdev4));
}

/* The users count of object @id: checks must not change the world. */
static unsigned int obj_users(struct world *w, u32 id)
{
	struct iommufd_object *obj = index_store_load(&w->ctx->objects, id);

	ASSERT_NONNULL(obj);
	ASSERT_NE(INDEX_STORE_RESERVED, (void *)obj);
	return atomic_load(&obj->users);
}

/* Nothing holds the PASID HW pagetables any more. */
static void check_pasid_hwpts_free(struct world *w)
{
	EXPECT_ERRNO(ENOENT, test_pasid_check(w->ctx, w->stdev4, 0, 0));
	ASSERT_EQ(1, obj_users(w, w->hwpt_pn));
	ASSERT_EQ(1, obj_users(w, w->hwpt_pp1));
	ASSERT_EQ(1, obj_users(w, w->hwpt_pp2));
}

SWEEP(test_pasid_detach, .world = W_RICH_PASID, .kind = NEVER_FAILS,
      .run = run_pasid_detach, .check = check_pasid_detached)
SWEEP(test_pasid_detach_reserved, .world = W_RICH_PASID,
      .kind = NEVER_FAILS, .prepare = prepare_reserved_on_pn,
      .run = run_pasid_detach_reserved, .check = check_pasid_detached)
SWEEP(test_pasid_detach_rid, .world = W_RICH_PASID, .kind = NEVER_FAILS,
      .run = run_pasid_detach_rid, .check = check_pasid_detached)
SWEEP(destroy_stdev_with_pasids, .world = W_RICH_PASID, .kind = NEVER_FAILS,
      .prepare = prepare_reserved_on_pn,
      .run = run_destroy_stdev_with_pasids, .check = check_pasid_hwpts_free)

static int run_pasid_check(struct world *w)
{
	return rc_of(test_pasid_check(w->ctx, w->stdev4, W_PASID_ID,
				      w->hwpt_pp1));
}

SWEEP(test_pasid_check_hwpt, .world = W_RICH_PASID, .read_only = true,
      .run = run_pasid_check)

/* ---- vIOMMUs, vdevices, HW queues (W_RICH72: hwpt_p, idev1, idev4) ---- */

static int viommu_on_hwpt_p(struct world *w, u32 *id, u64 *offset)
{
	struct iommu_viommu_selftest data = { .in_data = 0x77 };
	struct iommu_viommu_alloc cmd = {
		.size = sizeof(cmd),
		.type = IOMMU_VIOMMU_TYPE_SELFTEST,
		.dev_id = w->idev1,
		.hwpt_id = w->hwpt_p,
		.data_len = sizeof(data),
		.data_uptr = (uintptr_t)&data,
	};
	int rc = uiommufd_ioctl(w->ctx, IOMMU_VIOMMU_ALLOC, &cmd);

	*id = cmd.out_viommu_id;
	if (offset)
		*offset = data.out_mmap_offset;
	return rc;
}

static int run_viommu_alloc(struct world *w)
{
	u32 id = 0;
	u64 offset = 0;
	int rc = rc_of(viommu_on_hwpt_p(w, &id, &offset));

	w->out[0] = id;
	w->out[1] = offset;
	return rc;
}

/* Its pages map, with in_data first. */
static void check_viommu_alloc(struct world *w)
{
	uint32_t *map = uiommufd_ctx_mmap(w->ctx, NULL, P(2), PROT_READ,
					  MAP_SHARED, w->out[1]);

	ASSERT_NE(MAP_FAILED, map);
	EXPECT_EQ(0x77u, map[0]);
	ASSERT_EQ(0, uiommufd_munmap(map, P(2)));
}

SWEEP(viommu_alloc, .world = W_RICH72, .allocates = true,
      .run = run_viommu_alloc, .check = check_viommu_alloc)

/* A vIOMMU (out[7]) and a vdevice of idev1 on it (out[6]). */
static void prepare_viommu(struct world *w)
{
	u32 id = 0;

	ASSERT_EQ(0, viommu_on_hwpt_p(w, &id, NULL));
	w->out[7] = id;
}

static void prepare_viommu_vdev(struct world *w)
{
	struct iommu_vdevice_alloc cmd = { .size = sizeof(cmd) };

	prepare_viommu(w);
	cmd.viommu_id = w->out[7];
	cmd.dev_id = w->idev1;
	cmd.virt_id = 0x10;
	ASSERT_EQ(0, uiommufd_ioctl(w->ctx, IOMMU_VDEVICE_ALLOC, &cmd));
	w->out[6] = cmd.out_vdevice_id;
}

static int run_vdevice_alloc(struct world *w)
{
	struct iommu_vdevice_alloc cmd = {
		.size = sizeof(cmd),
		.viommu_id = w->out[7],
		.dev_id = w->idev4,
		.virt_id = 0x20,
	};
	int rc = rc_of(uiommufd_ioctl(w->ctx, IOMMU_VDEVICE_ALLOC, &cmd));

	w->out[0] = cmd.out_vdevice_id;
	return rc;
}

SWEEP(vdevice_alloc, .world = W_RICH72, .allocates = true,
      .prepare = prepare_viommu_vdev, .run = run_vdevice_alloc)

static int run_viommu_invalidate(struct world *w)
{
	const struct iommu_viommu_invalidate_selftest inv[2] = {
		{ .vdev_id = 0x10, .cache_id = 1 },
		{ .flags = IOMMU_TEST_INVALIDATE_FLAG_ALL, .vdev_id = 0x10 },
	};
	uint32_t num = 2;
	int rc = rc_of(hwpt_invalidate(w->ctx, w->out[7],
				       IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
				       inv, sizeof(inv[0]), &num));

	w->out[0] = num;
	return rc;
}

SWEEP(viommu_invalidate, .world = W_RICH72, .allocates = true,
      .prepare = prepare_viommu_vdev, .run = run_viommu_invalidate)

static int run_hwpt_alloc_on_viommu(struct world *w)
{
	struct iommu_hwpt_selftest data = { .iotlb = 3 };
	u32 id = 0;
	int rc = rc_of(hwpt_alloc(w->ctx, w->idev1, w->out[7], 0, &data,
				  sizeof(data), &id));

	w->out[0] = id;
	return rc;
}

SWEEP(hwpt_alloc_on_viommu, .world = W_RICH72, .allocates = true,
      .prepare = prepare_viommu, .run = run_hwpt_alloc_on_viommu)

static int run_hw_queue_alloc(struct world *w)
{
	struct iommu_hw_queue_alloc cmd = {
		.size = sizeof(cmd),
		.viommu_id = w->out[7],
		.type = IOMMU_HW_QUEUE_TYPE_SELFTEST,
		.index = 0,
		.nesting_parent_iova = IOVA1 + P(8) + 0x80,
		.length = P(2),
	};
	int rc = rc_of(uiommufd_ioctl(w->ctx, IOMMU_HW_QUEUE_ALLOC, &cmd));

	w->out[0] = cmd.out_hw_queue_id;
	return rc;
}

/* The queue's pages are locked in ioas1. */
static void check_hw_queue(struct world *w)
{
	EXPECT_ERRNO(EBUSY, ioas_unmap(w->ctx, w->ioas1, IOVA1, P(16), NULL));
}

SWEEP(hw_queue_alloc, .world = W_RICH72, .allocates = true,
      .prepare = prepare_viommu, .run = run_hw_queue_alloc,
      .check = check_hw_queue)

/* The device goes first: its vdevice's ID becomes a tombstone. */
static int run_destroy_stdev_with_vdev(struct world *w)
{
	return rc_of(ioctl_destroy(w->ctx, w->stdev1));
}

/* New IDs pass over the tombstone; they are given back after. */
static void check_vdev_tombstone(struct world *w)
{
	u32 ids[32], n = 0;

	EXPECT_ERRNO(ENOENT, ioctl_destroy(w->ctx, w->out[6]));
	do {
		ASSERT_EQ(0, ioas_alloc(w->ctx, &ids[n]));
		ASSERT_NE(w->out[6], ids[n]);
	} while (ids[n++] < w->out[6] && n != 32);
	ASSERT_GT(ids[n - 1], w->out[6]);
	while (n)
		ASSERT_EQ(0, ioctl_destroy(w->ctx, ids[--n]));
}

SWEEP(destroy_stdev_with_vdevice, .world = W_RICH72 & ~W_DOM2,
      .kind = NEVER_FAILS, .prepare = prepare_viommu_vdev,
      .run = run_destroy_stdev_with_vdev, .check = check_vdev_tombstone)
