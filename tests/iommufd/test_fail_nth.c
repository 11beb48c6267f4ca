// SPDX-License-Identifier: MIT
/*
 * A fail-nth sweep over every command, close and destroy included.
 *
 * For N = 1, 2, ... a fresh context is built in a rich state (areas over
 * two buffers, mock domains of both command layouts, a test-module access
 * and an access API user holding pins, a second IOAS sharing pages), the
 * Nth failure point from the command on is armed, and the command runs;
 * the sweep stops at the first N whose fault never fires. A command that
 * fails must leave everything as it was, as a snapshot taken through the
 * internals sees it; one that succeeds must leave exactly what the
 * unfaulted run left and return the same results. Destroy, detach, unmap,
 * unpin and close never fail. Every context is then closed and must leave
 * no allocation, pin, charge or descriptor behind.
 */
#include <fcntl.h>
#include <stdarg.h>

#include "base/fault_inject.h"
#include "base/mem.h"
#include "domains/mock_domain.h"
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

enum {
	W_DOM1 = 1 << 0,	/* ioas1: mock device, auto HW pagetable */
	W_DOM2 = 1 << 1,	/* ioas1: v6.2 mock device, own HW pagetable */
	W_ACCESS = 1 << 2,	/* ioas1: test-module access with two items */
	W_PUBACC = 1 << 3,	/* ioas1: access API user holding a pin */
	W_IOAS2 = 1 << 4,	/* ioas2: a copy of ioas1's start, two maps */
	W_IOAS2_DOM = 1 << 5,	/* ioas2: mock device, auto HW pagetable */
	W_RICH = 0x3f,
	W_NODOM = W_ACCESS | W_PUBACC | W_IOAS2,
};

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
	struct uiommufd_ctx *ctx;
	u32 ioas1, ioas2;
	u32 stdev1, hwpt1, idev1;	/* W_DOM1 */
	u32 stdev2, hwpt2;		/* W_DOM2 */
	u32 stdev3, hwpt3;		/* W_IOAS2_DOM */
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
		      unsigned int flags)
{
	int rc = uiommufd_access_pin_pages(pa->access, iova, length, pfns,
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
 *	a0 buf_a[0, 16)  at IOVA1	    RW, test item 0 pins pages 2-5
 *	a1 buf_a[16, 24) at IOVA1 + P(16)  RW, test item 1 pins pages 16-17
 *	a2 buf_a[24, 32) at IOVA1 + P(24)  read only
 *	a3 buf_a[32, 40) at IOVA1 + P(40)  RW
 *	a4 buf_a[40, 48) at IOVA1 + P(48)  RW, the API user pins 50-51
 *	a5 buf_b[0, 8)   automatic IOVA    RW
 * ioas2: a copy of a0 and a1 at IOVA2, buf_b[8, 24) automatic and
 * buf_a[48, 56) at IOVA2 + 1 MiB.
 */
static void world_build(struct world *w, unsigned int flags)
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
	w->ctx = uiommufd_ctx_open(0);
	ASSERT_NONNULL(w->ctx);
	ASSERT_EQ(0, ioas_alloc(w->ctx, &w->ioas1));
	if (flags & W_DOM1)
		ASSERT_EQ(0, test_mock_domain(w->ctx, w->ioas1, &w->stdev1,
					      &w->hwpt1, &w->idev1));
	if (flags & W_DOM2)
		ASSERT_EQ(0, test_mock_domain_v6_2(w->ctx, w->ioas1, &w->stdev2,
						   &w->hwpt2));
	ASSERT_EQ(0, test_add_reserved(w->ctx, w->ioas1, RESV1, RESV_LEN));
	ASSERT_EQ(0, ioas_allow_iovas(w->ctx, w->ioas1, allowed, 2));
	map_fixed(w, w->ioas1, buf_a, 16, IOVA1, MAP_RW);
	map_fixed(w, w->ioas1, buf_a + P(16), 8, IOVA1 + P(16), MAP_RW);
	map_fixed(w, w->ioas1, buf_a + P(24), 8, IOVA1 + P(24),
		  IOMMU_IOAS_MAP_READABLE);
	map_fixed(w, w->ioas1, buf_a + P(32), 8, IOVA1 + P(40), MAP_RW);
	map_fixed(w, w->ioas1, buf_a + P(40), 8, IOVA1 + P(48), MAP_RW);
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
		ASSERT_EQ(0, pubacc_pin(&w->pa, IOVA1 + P(50), P(2), NULL,
					UIOMMUFD_ACCESS_RW_WRITE));
	}
	if (flags & W_IOAS2) {
		ASSERT_EQ(0, ioas_alloc(w->ctx, &w->ioas2));
		iova = IOVA2;
		ASSERT_EQ(0, ioas_copy(w->ctx, w->ioas2, w->ioas1, IOVA1, P(24),
				       &iova, MAP_FIXED_RW));
		ASSERT_EQ(0, ioas_map(w->ctx, w->ioas2, buf_b + P(8), P(16),
				      &w->iova2_b, MAP_RW));
		map_fixed(w, w->ioas2, buf_a + P(48), 8, IOVA2 + 0x100000,
			  MAP_RW);
	}
	if (flags & W_IOAS2_DOM)
		ASSERT_EQ(0, test_mock_domain(w->ctx, w->ioas2, &w->stdev3,
					      &w->hwpt3, NULL));
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
	ASSERT_EQ(0, test_check_refs(NULL, buf_a, P(A_PAGES), 0) && 0);
	ASSERT_EQ(0, iopt_account_pinned());
	ASSERT_EQ(0, iopt_account_user_locked(getuid()));
	ASSERT_EQ(0, iopt_account_process_locked());
	ASSERT_EQ(0, live_pages());
	for (int fd = 0; fd != NFDS; fd++)
		ASSERT_FALSE(uiommufd_fd_owned(fd));
	ASSERT_EQ(live_base, mem_live_count());
}

static void world_teardown(struct world *w)
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
		    container_of(obj, struct iommufd_hwpt_paging, obj)->domain ==
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
	index_store_for_each(&iopt->access_list, index, entry) {
		struct iopt_access *access = entry;

		snap_add(s, access_id(s, access), "ioas %llu access slot %llu",
			 (unsigned long long)id, (unsigned long long)index);
		ASSERT_EQ(index, access->list_id);
	}
	/* An access slot reserved and never published or freed. */
	n = 0;
	walk_slots(s, &iopt->access_list, NULL) ;
}
